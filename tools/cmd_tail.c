/*
 * The kinesis command's tail. It reads with the consumer and a memory or
 * Redis checkpointer, and writes the records to stdout in blocks: each
 * answer's records are formatted into one buffer (tail_t.out, cli.h)
 * and written with one write() before the loop waits again, so a pipe sees
 * every record at once without paying a system call per record.
 */

#include "cli.h"

#include "encoding.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* tail: a shard whose last GetRecords brought nothing is asked again after
 * this long (the consumer's default is 2000), so a new record shows within
 * about a second. */
#define TAIL_SLEEP_NO_RECORDS_MS 1000
/* tail: records fetched and not yet printed at most (the consumer's
 * max_queue_size; its default is 1000). A GetRecords asks for a share of
 * it, so at 1000 each call on 4 shards brought 250 records, and the calls'
 * own cost (HTTP, signing, parsing) was most of the command's CPU: 3 us a
 * 100-byte record, against 1.3 us at 10000 (2500 a call). */
#define TAIL_MAX_QUEUE_SIZE 10000
/* tail: the output block is written out as soon as it holds this much,
 * and in any case before the loop waits for more (on_tail_flush). */
#define TAIL_FLUSH_BYTES (64 * 1024)
/* tail: the lease owner prefix without --app. */
#define TAIL_DEFAULT_APP "kinesis-tail"


/* ---- tail ---- */

/* Epoch seconds as ISO 8601 UTC with milliseconds, the form --from
 * at-timestamp: takes: 2026-11-26T05:00:00.123Z, 24 characters, written to
 * `out` (at least 25 bytes) with a NUL. The date and time of the second
 * come from `clock` when it holds that second. Returns the length, or 0
 * when the time is absent (0) or cannot be written. */
static size_t iso8601_ms(double seconds, tail_clock_t* clock, char* out) {
  int64_t ms;
  int64_t secs;
  int frac;

  if (!(seconds > 0) || !isfinite(seconds) || seconds > 253402300799.0)
    return 0;
  /* Rounded to the millisecond; seconds is positive here. */
  ms = (int64_t) (seconds * 1000.0 + 0.5);
  secs = ms / 1000;
  if (secs != clock->secs) {
    time_t t = (time_t) secs;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(clock->text, sizeof(clock->text), "%Y-%m-%dT%H:%M:%S",
                 &tm) != 19) {
      clock->secs = -1;
      return 0;
    }
    clock->secs = secs;
  }
  memcpy(out, clock->text, 19);
  frac = (int) (ms % 1000);
  out[19] = '.';
  out[20] = (char) ('0' + frac / 100);
  out[21] = (char) ('0' + frac / 10 % 10);
  out[22] = (char) ('0' + frac % 10);
  out[23] = 'Z';
  out[24] = '\0';
  return 24;
}


/* Writes a literal without its NUL; returns the end. */
#define PUT_LITERAL(o, lit) \
  (memcpy((o), (lit), sizeof(lit) - 1), (o) + sizeof(lit) - 1)


/* Writes `v` in decimal; returns the end. */
static char* put_uint32(char* o, uint32_t v) {
  char digits[10];
  size_t n = 0;

  do {
    digits[n++] = (char) ('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0)
    *o++ = digits[--n];
  return o;
}


/* Makes room in `b` for `extra` more bytes. Returns 0 or KINESIS_ENOMEM.
 * It doubles, so that a block of many small lines grows a few times. */
static int tail_out_reserve(tail_out_t* b, size_t extra) {
  size_t cap;
  char* data;

  if (b->cap - b->len >= extra)
    return 0;
  if (extra > SIZE_MAX / 2 - b->len)
    return KINESIS_ENOMEM;
  cap = b->cap > 0 ? b->cap : 4096;
  while (cap - b->len < extra)
    cap *= 2;
  data = realloc(b->data, cap);
  if (data == NULL)
    return KINESIS_ENOMEM;
  b->data = data;
  b->cap = cap;
  return 0;
}


/* Appends the --format json line of `rec` to `b`: the members in the
 * order docs/cli.md gives, data_b64 in standard base64 with padding.
 * Returns 0, or KINESIS_ENOMEM with `b` as it was. */
static int tail_json_line(tail_out_t* b, tail_clock_t* clock,
                          const kinesis_consumer_record_t* rec) {
  char when[32];
  size_t when_len =
      iso8601_ms(rec->approximate_arrival_timestamp, clock, when);
  size_t b64_len = b64_encoded_len(rec->len);
  size_t max = json_string_max(rec->shard_id) +
               json_string_max(rec->sequence_number) +
               json_string_max(rec->partition_key) + b64_len + 160;
  char* o;
  int r;

  if (b64_len == SIZE_MAX || max < b64_len)
    return KINESIS_ENOMEM;
  r = tail_out_reserve(b, max);
  if (r != 0)
    return r;
  o = b->data + b->len;
  o = PUT_LITERAL(o, "{\"shard_id\":");
  o = put_json_string(o, rec->shard_id);
  o = PUT_LITERAL(o, ",\"sequence_number\":");
  o = put_json_string(o, rec->sequence_number);
  o = PUT_LITERAL(o, ",\"sub_sequence_number\":");
  o = put_uint32(o, rec->sub_sequence_number);
  o = PUT_LITERAL(o, ",\"partition_key\":");
  o = put_json_string(o, rec->partition_key);
  o = PUT_LITERAL(o, ",\"approximate_arrival\":");
  if (when_len > 0) {
    *o++ = '"';
    memcpy(o, when, when_len);
    o += when_len;
    *o++ = '"';
  } else {
    o = PUT_LITERAL(o, "null");
  }
  o = PUT_LITERAL(o, ",\"data_b64\":\"");
  /* Encodes in place, within the room reserved above. */
  if (rec->len > 0)
    o = b64_encode(rec->data, rec->len, o);
  o = PUT_LITERAL(o, "\"}\n");
  b->len = (size_t) (o - b->data);
  return 0;
}


/* Appends the --format raw line of `rec` to `b`: its data and a newline.
 * Returns 0, or KINESIS_ENOMEM with `b` as it was. */
static int tail_raw_line(tail_out_t* b, const kinesis_consumer_record_t* rec) {
  int r = tail_out_reserve(b, rec->len + 1);

  if (r != 0)
    return r;
  if (rec->len > 0)
    memcpy(b->data + b->len, rec->data, rec->len);
  b->len += rec->len;
  b->data[b->len++] = '\n';
  return 0;
}


/* Writes `len` bytes to stdout, blocking until they are all written, the
 * way stdio would: a short write goes on with the rest, a signal's EINTR
 * writes again, and a non-blocking stdout (a pipe or terminal shared with
 * a process that set O_NONBLOCK) is waited for with poll(). `*done` is
 * what was written. Returns 0, or -1 with errno set. A reader that went
 * away raises SIGPIPE, which ends the command as it ends cat; where
 * SIGPIPE is ignored, the EPIPE is returned. */
static int write_stdout(const uint8_t* data, size_t len, size_t* done) {
  *done = 0;
  while (*done < len) {
    ssize_t n = write(STDOUT_FILENO, data + *done, len - *done);
    if (n > 0) {
      *done += (size_t) n;
      continue;
    }
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      struct pollfd pfd;
      pfd.fd = STDOUT_FILENO;
      pfd.events = POLLOUT;
      pfd.revents = 0;
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
        return -1;
      continue;
    }
    return -1;
  }
  return 0;
}


static void on_tail_idle(uv_timer_t* timer);


/* Writes the block out, acknowledges each record whose line was written
 * whole (only those are checkpointed: a reader that shares the checkpoint
 * reads the others again), and empties the block. Returns 0, or -1 with
 * errno set when stdout could not be written. */
static int tail_flush(cli_t* cli) {
  tail_t* t = &cli->tail;
  size_t done = 0;
  size_t i;
  int r;
  int err;

  if (t->nheld == 0)
    return 0;
  r = write_stdout((const uint8_t*) t->out.data, t->out.len, &done);
  err = errno;
  for (i = 0; i < t->nheld && t->held[i].end <= done; i++)
    kinesis_consumer_ack(t->consumer, t->held[i].rec);
  t->printed += i;
  t->nheld = 0;
  t->out.len = 0;
  uv_prepare_stop(&t->flusher);
  if (i > 0 && t->idle_s > 0 && !t->stopping)
    uv_timer_start(&t->idle, on_tail_idle, (uint64_t) t->idle_s * 1000, 0);
  errno = err;
  return r;
}


/* stdout failed: one line, and the run will fail. */
static void tail_write_failed(cli_t* cli, int err) {
  err_line("%s: cannot write to stdout: %s", cli->cmd->name, strerror(err));
  cli->stdout_failed = 1;
}


/* Puts `rec` in the block, to be written and acknowledged with it.
 * Returns 0, or KINESIS_ENOMEM. */
static int tail_take(cli_t* cli, const kinesis_consumer_record_t* rec) {
  tail_t* t = &cli->tail;
  int r;

  if (t->nheld == t->held_cap) {
    size_t cap = t->held_cap > 0 ? t->held_cap * 2 : 256;
    tail_held_t* h = realloc(t->held, cap * sizeof(*h));
    if (h == NULL)
      return KINESIS_ENOMEM;
    t->held = h;
    t->held_cap = cap;
  }
  if (t->format == TAIL_FORMAT_JSON)
    r = tail_json_line(&t->out, &t->clock, rec);
  else
    r = tail_raw_line(&t->out, rec);
  if (r != 0)
    return r;
  t->held[t->nheld].rec = rec;
  t->held[t->nheld].end = t->out.len;
  t->nheld++;
  t->taken++;
  return 0;
}


static void on_tail_checkpointer_closed(void* data, int status, void* arg) {
  cli_t* cli = arg;

  (void) data;
  (void) status;
  cli->tail.checkpointer = NULL;
  finish(cli, cli->tail.exit_code);
}


/* Closing a uv_signal_t gives the signal its default action back; the
 * run is stopping by then, and what is left (closing the checkpointer and
 * the client) cancels rather than waits, so a signal that comes late must
 * not turn a clean stop into death by signal: it is ignored. */
static void tail_close_handles(tail_t* t) {
  if (!t->handles_open)
    return;
  t->handles_open = 0;
  uv_close((uv_handle_t*) &t->idle, NULL);
  uv_close((uv_handle_t*) &t->flusher, NULL);
  uv_close((uv_handle_t*) &t->sigint, NULL);
  uv_close((uv_handle_t*) &t->sigterm, NULL);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
}


static void tail_close_checkpointer(cli_t* cli) {
  tail_t* t = &cli->tail;
  if (t->checkpointer != NULL)
    kinesis_checkpointer_close(t->checkpointer, on_tail_checkpointer_closed,
                               cli);
  else
    finish(cli, t->exit_code);
}


static void on_tail_deregistered(kinesis_client_t* client, int status,
                                 const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  (void) client;
  if (status != 0) {
    report_failure(cli, status, res);
    cli->tail.exit_code = CLI_EXIT_FAIL;
  }
  tail_close_checkpointer(cli);
}


/* The consumer is closed (or was never made): the summary, then, with
 * --efo-deregister, the stream consumer goes, then the checkpointer and the
 * client. */
static void tail_finish(cli_t* cli) {
  tail_t* t = &cli->tail;
  int arn;
  int r;

  tail_close_handles(t);
  if (t->why != NULL)
    err_line("%s: %" PRIu64 " record%s (%s)", cli->cmd->name, t->printed,
             t->printed == 1 ? "" : "s", t->why);
  if (t->efo_deregister && t->started_efo) {
    arn = strncmp(t->efo, "arn:", 4) == 0;
    r = kinesis_client_deregister_stream_consumer(
        cli->client, arn ? NULL : cli->stream, arn ? NULL : t->efo,
        arn ? t->efo : NULL, on_tail_deregistered, cli);
    if (r == 0)
      return;
    err_line("%s: cannot deregister %s: %s", cli->cmd->name, t->efo,
             kinesis_strerror(r));
    t->exit_code = CLI_EXIT_FAIL;
  }
  tail_close_checkpointer(cli);
}


static void on_tail_consumer_closed(void* data, int status, void* arg) {
  cli_t* cli = arg;

  (void) data;
  (void) status;
  cli->tail.consumer = NULL;
  tail_finish(cli);
}


/* Ends the run: the block is written out, the consumer writes its last
 * checkpoints (what was printed) and releases its leases, then the
 * checkpointer and the client close. `why` is for the summary line; NULL
 * after a reported failure. Signals that come meanwhile are caught and
 * ignored: timeout(1), for one, sends its signal to the command and to the
 * command's process group. */
static void tail_stop(cli_t* cli, int exit_code, const char* why) {
  tail_t* t = &cli->tail;
  int r;

  if (t->stopping)
    return;
  if (tail_flush(cli) != 0) {
    tail_write_failed(cli, errno);
    exit_code = CLI_EXIT_FAIL;
    why = NULL;
  }
  t->stopping = 1;
  t->exit_code = exit_code;
  t->why = why;
  if (t->handles_open)
    uv_timer_stop(&t->idle);
  /* Before the close, which gives the leases up: the shards as they were
   * read. */
  if (cli->stats)
    stats_print(cli);
  if (t->consumer == NULL) {
    tail_finish(cli);
    return;
  }
  r = kinesis_consumer_close(t->consumer, on_tail_consumer_closed, cli);
  if (r != 0) {
    /* Only a second close fails, and tail_stop() runs once. */
    err_line("internal error: closing the consumer failed: %s",
             kinesis_strerror(r));
    t->exit_code = CLI_EXIT_FAIL;
    tail_close_handles(t);
  }
}


/* Each turn of the loop, before it waits: what the turn's answers
 * brought goes out in one write. Started only while the block holds
 * records. */
static void on_tail_flush(uv_prepare_t* handle) {
  cli_t* cli = handle->data;

  if (tail_flush(cli) != 0) {
    tail_write_failed(cli, errno);
    tail_stop(cli, CLI_EXIT_FAIL, NULL);
  }
}


/* Records are acknowledged by hand (tail_flush()), once written, so that
 * only printed records are checkpointed. */
static void on_tail_record(kinesis_consumer_t* consumer,
                           const kinesis_consumer_record_t* rec, void* arg) {
  cli_t* cli = arg;
  tail_t* t = &cli->tail;
  int r;

  (void) consumer;
  if (t->stopping)
    return;
  r = tail_take(cli, rec);
  if (r != 0) {
    err_line("%s: cannot write to stdout: %s", cli->cmd->name,
             kinesis_strerror(r));
    cli->stdout_failed = 1;
    tail_stop(cli, CLI_EXIT_FAIL, NULL);
    return;
  }
  if (t->count > 0 && t->taken >= t->count) {
    tail_stop(cli, CLI_EXIT_OK, "--count reached");
    return;
  }
  if (t->out.len >= TAIL_FLUSH_BYTES) {
    if (tail_flush(cli) != 0) {
      tail_write_failed(cli, errno);
      tail_stop(cli, CLI_EXIT_FAIL, NULL);
    }
    return;
  }
  uv_prepare_start(&t->flusher, on_tail_flush);
}


/* --idle-exit: no record for that long. A stream read to the end is a
 * success; a stream none of whose shards could be read at all (every
 * GetRecords and GetShardIterator failed, or the shards could never be
 * listed) is not, though it brought no record either: the last reason goes
 * to stderr, without -v, and the exit status is 1. */
static void on_tail_idle(uv_timer_t* timer) {
  cli_t* cli = timer->data;
  tail_t* t = &cli->tail;
  kinesis_consumer_stats_t st;

  if (t->consumer != NULL && kinesis_consumer_stats(t->consumer, &st) == 0 &&
      st.get_records_ok == 0 && st.last_error != 0) {
    err_line("%s: no shard could be read in %lu s: %s", cli->cmd->name,
             t->idle_s,
             st.last_error_message != NULL ? st.last_error_message
                                           : kinesis_strerror(st.last_error));
    tail_stop(cli, CLI_EXIT_FAIL, NULL);
    return;
  }
  snprintf(t->idle_why, sizeof(t->idle_why), "no record for %lu s",
           t->idle_s);
  tail_stop(cli, CLI_EXIT_OK, t->idle_why);
}


static void on_tail_signal(uv_signal_t* handle, int signum) {
  cli_t* cli = handle->data;

  tail_stop(cli, CLI_EXIT_OK, signum == SIGINT ? "interrupted" : "terminated");
}


/* The service refused a shard's checkpoint. With --invalid-checkpoint
 * fail the run ends: one line, exit 1, the consumer closed gracefully (its
 * leases released). Otherwise the consumer has said so (a warning) and
 * reads the shard from the new start. */
static void on_tail_checkpoint_error(kinesis_consumer_t* consumer,
                                     const kinesis_checkpoint_error_t* e,
                                     void* arg) {
  cli_t* cli = arg;
  tail_t* t = &cli->tail;

  (void) consumer;
  if (t->invalid_checkpoint != KINESIS_INVALID_CHECKPOINT_FAIL || t->stopping)
    return;
  err_line("%s: shard %s: the service refused its checkpoint %s: %s "
           "(--invalid-checkpoint trim-horizon or latest reads it from a "
           "new start)", cli->cmd->name, e->shard_id, e->sequence_number,
           e->message[0] != '\0' ? e->message : kinesis_strerror(e->status));
  tail_stop(cli, CLI_EXIT_FAIL, NULL);
}


/* The lease owner: the application name, then this host and process. */
static void tail_owner(tail_t* t) {
  char host[128];
  size_t size = sizeof(host);

  if (uv_os_gethostname(host, &size) != 0)
    snprintf(host, sizeof(host), "localhost");
  snprintf(t->owner, sizeof(t->owner), "%s-%s-%ld",
           t->app != NULL ? t->app : TAIL_DEFAULT_APP, host,
           (long) uv_os_getpid());
}


/* A call failed after tail_begin(): one line, then the run ends. */
static void tail_failed(cli_t* cli, int r) {
  report_call_error(cli, r);
  tail_stop(cli, CLI_EXIT_FAIL, NULL);
}


/* Starts the consumer; the other options keep the consumer's defaults. */
static void tail_start(cli_t* cli) {
  tail_t* t = &cli->tail;
  kinesis_consumer_options_t co;
  int r;

  if (t->redis_url != NULL) {
    kinesis_checkpointer_redis_options_t ro;
    kinesis_checkpointer_redis_options_init(&ro);
    ro.url = t->redis_url;
    ro.app_name = t->app != NULL ? t->app : TAIL_DEFAULT_APP;
    if (t->session_s > 0)
      ro.session_timeout_ms = (uint32_t) (t->session_s * 1000);
    r = kinesis_checkpointer_redis_new(cli->client, &ro, &t->checkpointer);
  } else {
    kinesis_checkpointer_memory_options_t mo;
    kinesis_checkpointer_memory_options_init(&mo);
    if (t->session_s > 0)
      mo.session_timeout_ms = (uint32_t) (t->session_s * 1000);
    r = kinesis_checkpointer_memory_new(cli->client, &mo, &t->checkpointer);
  }
  if (r != 0 && t->redis_url != NULL &&
      (r == KINESIS_EUNSUPPORTED || r == KINESIS_EINVAL)) {
    /* The URL is not shown: it may carry a password. */
    if (r == KINESIS_EUNSUPPORTED)
      err_line("%s: --checkpoint redis://: this build has no Redis support "
               "(hiredis was not found)", cli->cmd->name);
    else
      err_line("%s: --checkpoint: not a Redis URL "
               "(redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])",
               cli->cmd->name);
    tail_stop(cli, CLI_EXIT_FAIL, NULL);
    return;
  }
  if (r != 0) {
    tail_failed(cli, r);
    return;
  }
  tail_owner(t);
  kinesis_consumer_options_init(&co);
  /* Heartbeats a third of the session apart: a lease survives two lost
   * ones. */
  if (t->checkpointer->session_timeout_ms >= 3)
    co.heartbeat_interval_ms = t->checkpointer->session_timeout_ms / 3;
  co.stream = cli->stream;
  co.on_record = on_tail_record;
  co.on_record_data = cli;
  co.manual_ack = 1;
  co.iterator_type = t->from;
  co.timestamp = t->timestamp;
  co.checkpointer = t->checkpointer;
  co.owner = t->owner;
  co.sleep_time_no_records_ms = TAIL_SLEEP_NO_RECORDS_MS;
  co.max_queue_size = TAIL_MAX_QUEUE_SIZE;
  co.invalid_checkpoint = t->invalid_checkpoint;
  co.on_checkpoint_error = on_tail_checkpoint_error;
  co.on_checkpoint_error_data = cli;
  co.efo_consumer_name = t->efo;
  co.efo_register = t->efo != NULL && strncmp(t->efo, "arn:", 4) != 0;
  r = kinesis_consumer_new(cli->client, &co, &t->consumer);
  if (r == 0)
    r = kinesis_consumer_start(t->consumer);
  /* From here the consumer may register the stream consumer. */
  t->started_efo = r == 0 && t->efo != NULL;
  if (r != 0) {
    tail_failed(cli, r);
    return;
  }
  if (t->idle_s > 0)
    uv_timer_start(&t->idle, on_tail_idle, (uint64_t) t->idle_s * 1000, 0);
}


/* ListShards first, as put does: a stream that does not exist, or
 * credentials that do not work, fail at once with one line, rather than
 * as the consumer's warnings, again and again. */
static void on_tail_shards_listed(kinesis_client_t* client, int status,
                                  const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;

  (void) client;
  /* Stopped by a signal meanwhile: the client's close canceled this. */
  if (cli->tail.stopping)
    return;
  /* A stream that is not ACTIVE yet: the consumer lists it again. */
  if (status != 0 && status != KINESIS_EINUSE) {
    report_failure(cli, status, res);
    tail_stop(cli, CLI_EXIT_FAIL, NULL);
    return;
  }
  tail_start(cli);
}


/* Lists the shards, and catches SIGINT and SIGTERM from now on. */
int tail_begin(cli_t* cli) {
  tail_t* t = &cli->tail;
  int r;

  r = kinesis_client_list_shards(cli->client, cli->stream,
                                 on_tail_shards_listed, cli);
  if (r != 0)
    return r;
  uv_timer_init(&cli->loop, &t->idle);
  uv_prepare_init(&cli->loop, &t->flusher);
  uv_signal_init(&cli->loop, &t->sigint);
  uv_signal_init(&cli->loop, &t->sigterm);
  t->idle.data = cli;
  t->flusher.data = cli;
  t->clock.secs = -1;
  t->sigint.data = cli;
  t->sigterm.data = cli;
  t->handles_open = 1;
  uv_signal_start(&t->sigint, on_tail_signal, SIGINT);
  uv_signal_start(&t->sigterm, on_tail_signal, SIGTERM);
  return 0;
}
