/*
 * The kinesis command's put: stdin, line by line, into the producer. It
 * parses JSON lines itself (put_line.c) and, when the producer refuses a
 * record, says why with kinesis_record_validate(), the producer's own
 * check, so that each reason given is the one the library applied.
 */

#include "cli.h"

#include "put_line.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* put: stdin is read this much at a time; the buffer grows for long lines
 * up to the longest line a record can come from. */
#define PUT_READ_SIZE (64 * 1024)
/* A JSON line may write each data byte as a 6-byte \u00XX escape, and
 * carries the keys and the JSON around them. */
#define PUT_JSON_LINE_FACTOR 6
#define PUT_JSON_LINE_EXTRA (64 * 1024)
/* put: bytes buffered in the producer at most, which bounds the memory a
 * large input holds: room for the largest record a stream takes (10 MiB)
 * and some more. */
#define PUT_MAX_QUEUE_BYTES (11 * 1024 * 1024)
/* put: the progress line is redrawn this often when stderr is a terminal. */
#define PUT_PROGRESS_MS 200
/* put: a read that found non-blocking stdin empty is tried again after. */
#define PUT_READ_RETRY_MS 20


/* ---- put ---- */


static void put_pump(cli_t* cli);


/* xorshift64*: fast, and random enough to spread keys over the shards. */
static uint64_t put_random(put_t* p) {
  uint64_t x = p->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  p->rng = x;
  return x * UINT64_C(0x2545F4914F6CDD1D);
}


/* 16 hex digits: the hash of a random key is uniform over the shards. */
static void put_random_key(put_t* p, char key[17]) {
  static const char hex[] = "0123456789abcdef";
  uint64_t x = put_random(p);
  int i;

  for (i = 0; i < 16; i++) {
    key[i] = hex[x & 0xf];
    x >>= 4;
  }
  key[16] = '\0';
}


/* A line that did not become a record: reported, counted, and the others
 * go on. */
static void put_refused(cli_t* cli, uint64_t line, const char* reason) {
  cli->put.lines++;
  cli->put.failed++;
  err_line("%s: line %" PRIu64 ": %s", cli->cmd->name, line, reason);
}


/* The largest record put takes: --max-record-size is not an option, so
 * the producer's limit is the stream's (at most 10 MiB), found when it
 * starts. */
#define PUT_MAX_RECORD (10u * 1024 * 1024)
/* A record over the stream's limit, refused at put or failed once the
 * producer learnt the limit (it takes up to PUT_MAX_RECORD until then). */
#define PUT_TOO_LARGE_FOR_STREAM                                              \
  "record too large for the stream (data and partition key over its "         \
  "MaxRecordSizeInKiB)"


static void put_too_large_reason(const cli_t* cli, char* buf, size_t size) {
  (void) cli;
  snprintf(buf, size, "record too large (data and partition key over %u "
           "bytes)", PUT_MAX_RECORD);
}


static void put_too_large(cli_t* cli, uint64_t line) {
  char reason[128];

  put_too_large_reason(cli, reason, sizeof(reason));
  put_refused(cli, line, reason);
}


/* Why kinesis_producer_put() refused `rec` with `r`. The producer checks
 * with kinesis_record_validate() what any stream would refuse; asked about
 * the record's keys alone, it says which one was bad. */
static void put_refusal(const cli_t* cli, const kinesis_record_t* rec, int r,
                        char* buf, size_t size) {
  size_t pk_len = strlen(rec->partition_key);
  kinesis_record_t pk_only;
  kinesis_record_t keys;
  int pk_ok;
  int keys_ok;

  memset(&pk_only, 0, sizeof(pk_only));
  pk_only.partition_key = rec->partition_key;
  keys = pk_only;
  keys.explicit_hash_key = rec->explicit_hash_key;
  pk_ok = kinesis_record_validate(&pk_only) == 0;
  keys_ok = pk_ok && kinesis_record_validate(&keys) == 0;
  if (r != KINESIS_EINVAL) {
    snprintf(buf, size, "%s", kinesis_strerror(r));
  } else if (!pk_ok) {
    snprintf(buf, size, "bad partition key (1 to 256 characters of UTF-8 "
             "needed)");
  } else if (!keys_ok) {
    snprintf(buf, size, "bad explicit hash key (a decimal from 0 to "
             "2^128-1 needed)");
  } else if (rec->len + pk_len > PUT_MAX_RECORD) {
    put_too_large_reason(cli, buf, size);
  } else if (rec->len + pk_len > 1024 * 1024) {
    snprintf(buf, size, "%s", PUT_TOO_LARGE_FOR_STREAM);
  } else {
    snprintf(buf, size, "%s", kinesis_strerror(r));
  }
}


static void on_record_put(kinesis_producer_t* producer, int status,
                          const kinesis_put_result_t* res, void* arg) {
  cli_t* cli = kinesis_producer_get_data(producer);
  uint64_t line = (uint64_t) (uintptr_t) arg;
  const char* what;
  const char* msg;

  if (status == 0) {
    cli->put.acked++;
    return;
  }
  cli->put.failed++;
  /* Over the stream's limit, found once the producer knew it: the same
   * words as a line refused at put. */
  if (status == KINESIS_EINVAL) {
    err_line("%s: line %" PRIu64 ": %s", cli->cmd->name, line,
             PUT_TOO_LARGE_FOR_STREAM);
    return;
  }
  what = res->error_code;
  /* "connection timed out" would mislead: the record's TTL passed. */
  if (status == KINESIS_ETIMEDOUT && (what == NULL || what[0] == '\0'))
    what = "timed out";
  describe_failure(status, what, res->error_message, &what, &msg);
  if (msg != NULL)
    err_line("%s: line %" PRIu64 ": %s: %s", cli->cmd->name, line, what,
             msg);
  else
    err_line("%s: line %" PRIu64 ": %s", cli->cmd->name, line, what);
}


/* Puts the line [s, s + n), its newline removed. Returns KINESIS_EQUEUEFULL
 * when the line must be tried again after on_drain, else 0: the line was
 * queued, or refused and reported. */
static int put_line(cli_t* cli, const char* s, size_t n) {
  put_t* p = &cli->put;
  kinesis_record_t rec;
  put_line_t json;
  char key[17];
  char reason[160];
  int r;

  if (n > 0 && s[n - 1] == '\r')
    n--;
  memset(&rec, 0, sizeof(rec));
  if (cli->format == PUT_FORMAT_JSON) {
    r = put_line_parse(s, n, &json);
    if (r != 0) {
      put_refused(cli, p->line, json.error);
      put_line_clear(&json);
      return 0;
    }
    rec.data = json.data;
    rec.len = json.len;
    rec.partition_key = json.partition_key;
    rec.explicit_hash_key = json.explicit_hash_key;
  } else {
    rec.data = s;
    rec.len = n;
  }
  if (rec.partition_key == NULL)
    rec.partition_key = cli->partition_key;
  if (rec.partition_key == NULL) {
    put_random_key(p, key);
    rec.partition_key = key;
  }
  r = kinesis_producer_put(p->producer, &rec, on_record_put,
                           (void*) (uintptr_t) p->line);
  if (r == 0) {
    p->lines++;
  } else if (r != KINESIS_EQUEUEFULL) {
    put_refusal(cli, &rec, r, reason, sizeof(reason));
    put_refused(cli, p->line, reason);
  }
  if (cli->format == PUT_FORMAT_JSON)
    put_line_clear(&json);
  return r == KINESIS_EQUEUEFULL ? r : 0;
}


static void put_close_timers(put_t* p) {
  if (!p->timers_open)
    return;
  p->timers_open = 0;
  uv_close((uv_handle_t*) &p->progress, NULL);
  uv_close((uv_handle_t*) &p->read_retry, NULL);
}


static double put_seconds(const put_t* p) {
  double secs = (double) (uv_hrtime() - p->started) / 1e9;
  return secs > 1e-3 ? secs : 1e-3;
}


static void on_producer_closed(void* data, int status, void* arg) {
  cli_t* cli = arg;
  put_t* p = &cli->put;
  int ok;

  (void) data;
  (void) status;
  p->producer = NULL;
  put_close_timers(p);
  err_line("%s: %" PRIu64 " record%s, %" PRIu64 " bytes, %" PRIu64
           " failed, %" PRIu64 " %s, %" PRIu64 " possible duplicate%s, "
           "%.0f records/s",
           cli->cmd->name, p->acked, p->acked == 1 ? "" : "s", p->bytes,
           p->failed, p->retries, p->retries == 1 ? "retry" : "retries",
           p->duplicates, p->duplicates == 1 ? "" : "s",
           (double) p->acked / put_seconds(p));
  /* Every record's callback has run: each line is acknowledged or failed. */
  ok = !p->read_failed && p->failed == 0 && p->acked == p->lines;
  finish(cli, ok ? CLI_EXIT_OK : CLI_EXIT_FAIL);
}


/* Every record's callback has run: the producer's counters are final, and
 * are read here, since the close's callback has no producer left. */
static void on_put_flushed(kinesis_producer_t* producer, int status,
                           void* arg) {
  cli_t* cli = arg;
  put_t* p = &cli->put;
  kinesis_producer_stats_t st;
  int r;

  (void) status;
  if (kinesis_producer_stats(producer, &st) == 0) {
    p->retries = st.records_retried;
    p->duplicates = st.records_maybe_duplicated;
    p->bytes = st.bytes_put;
  }
  if (cli->stats)
    stats_print(cli);
  r = kinesis_producer_close(producer, on_producer_closed, cli);
  if (r != 0)
    err_line("internal error: closing the producer failed: %s",
             kinesis_strerror(r));
}


/* At the end of the input: the producer sends what it holds, and closes
 * once every record's callback has run. */
static void put_close(cli_t* cli) {
  int r;

  cli->put.closing = 1;
  r = kinesis_producer_flush(cli->put.producer, on_put_flushed, cli);
  if (r != 0)
    err_line("internal error: flushing the producer failed: %s",
             kinesis_strerror(r));
}


static void on_progress(uv_timer_t* t) {
  cli_t* cli = t->data;
  put_t* p = &cli->put;
  char line[160];
  int n;

  n = snprintf(line, sizeof(line),
               "kinesis: %s: %" PRIu64 " read, %" PRIu64 " acked, %" PRIu64
               " failed, %.0f records/s",
               cli->cmd->name, p->lines, p->acked, p->failed,
               (double) p->acked / put_seconds(p));
  if (n < 0)
    return;
  /* Spaces erase what is left of a longer line before. */
  if (n < progress_cols)
    n = progress_cols;
  fprintf(stderr, "\r%-*s", n, line);
  progress_cols = n;
}


/* stdin cannot be read any further: what was read is put, the rest of an
 * unfinished line is dropped, and the run fails. */
static void put_read_failed(cli_t* cli, int err) {
  put_t* p = &cli->put;

  err_line("%s: cannot read stdin: %s", cli->cmd->name, uv_strerror(err));
  p->read_failed = 1;
  p->eof = 1;
  p->len = p->pos;
  p->scan = 0;
}


static void on_read_retry(uv_timer_t* t) {
  cli_t* cli = t->data;
  cli->put.reading = 0;
  put_pump(cli);
}


static void on_stdin_read(uv_fs_t* req) {
  cli_t* cli = req->data;
  put_t* p = &cli->put;
  ssize_t n = req->result;

  uv_fs_req_cleanup(req);
  if (n == UV_EAGAIN || n == UV_EINTR) {
    /* Non-blocking stdin (a terminal or pipe shared with a process that
     * set O_NONBLOCK) with nothing to read yet. `reading` stays set. */
    uv_timer_start(&p->read_retry, on_read_retry, PUT_READ_RETRY_MS, 0);
    return;
  }
  p->reading = 0;
  if (n < 0)
    put_read_failed(cli, (int) n);
  else if (n == 0)
    p->eof = 1;
  else
    p->len += (size_t) n;
  put_pump(cli);
}


/* Keeps only the unfinished line, at the front of the buffer, makes room
 * and starts reading after it. uv_fs_read() reads regular files, pipes and
 * terminals alike, in the thread pool. */
static void put_read(cli_t* cli) {
  put_t* p = &cli->put;
  uv_buf_t b;
  int r;

  if (p->pos > 0) {
    memmove(p->buf, p->buf + p->pos, p->len - p->pos);
    p->len -= p->pos;
    p->pos = 0;
  }
  /* A full buffer holds less than max_line + 1 bytes here: past that, the
   * line was refused as too long and dropped. */
  if (p->len == p->cap) {
    size_t cap = p->cap * 2 < p->max_line + 1 ? p->cap * 2 : p->max_line + 1;
    char* nb = realloc(p->buf, cap);
    if (nb == NULL) {
      put_read_failed(cli, UV_ENOMEM);
      return;
    }
    p->buf = nb;
    p->cap = cap;
  }
  b = uv_buf_init(p->buf + p->len, (unsigned int) (p->cap - p->len));
  r = uv_fs_read(&cli->loop, &p->read_req, 0, &b, 1, -1, on_stdin_read);
  if (r != 0) {
    put_read_failed(cli, r);
    return;
  }
  p->reading = 1;
}


/* Puts every whole line in the buffer, then reads more; stops while the
 * producer's buffer is full (on_drain resumes), while a read is in flight
 * (its callback resumes), and at the end of the input. So memory stays
 * bounded: the producer's buffer and one line at most. */
static void put_pump(cli_t* cli) {
  put_t* p = &cli->put;

  while (!p->paused && !p->reading && !p->closing) {
    char* start = p->buf + p->pos;
    char* nl = memchr(start + p->scan, '\n', p->len - p->pos - p->scan);

    if (nl != NULL) {
      size_t n = (size_t) (nl - start);
      if (!p->skipping && put_line(cli, start, n) != 0) {
        p->paused = 1;
        return;
      }
      p->skipping = 0;
      p->pos += n + 1;
      p->scan = 0;
      p->line++;
      continue;
    }
    p->scan = p->len - p->pos;
    if (!p->skipping && p->scan > p->max_line) {
      put_too_large(cli, p->line);
      p->skipping = 1;
    }
    if (p->skipping)
      p->len = p->pos = p->scan = 0;
    if (p->eof) {
      /* A last line without a newline is a line too. */
      if (p->len > p->pos) {
        if (put_line(cli, start, p->len - p->pos) != 0) {
          p->paused = 1;
          return;
        }
        p->line++;
      }
      p->len = p->pos = p->scan = 0;
      put_close(cli);
      return;
    }
    put_read(cli);
  }
}


static void on_put_drain(kinesis_producer_t* producer, void* arg) {
  cli_t* cli = arg;

  (void) producer;
  if (!cli->put.paused)
    return;
  cli->put.paused = 0;
  put_pump(cli);
}


static int put_start(cli_t* cli) {
  put_t* p = &cli->put;
  size_t max = cli->popts.max_record_size > 0 ? cli->popts.max_record_size
                                               : PUT_MAX_RECORD;
  int r;

  /* Longer lines cannot be records: a data line holds the data and a
   * trailing "\r"; a JSON line the data, escaped, and the keys. */
  if (cli->format == PUT_FORMAT_JSON)
    p->max_line = PUT_JSON_LINE_FACTOR * max + PUT_JSON_LINE_EXTRA;
  else
    p->max_line = max + 1;
  p->cap = PUT_READ_SIZE < p->max_line + 1 ? PUT_READ_SIZE : p->max_line + 1;
  p->buf = malloc(p->cap);
  if (p->buf == NULL)
    return KINESIS_ENOMEM;

  cli->popts.stream = cli->stream;
  if (cli->popts.max_queue_bytes > PUT_MAX_QUEUE_BYTES)
    cli->popts.max_queue_bytes = PUT_MAX_QUEUE_BYTES;
  cli->popts.on_drain = on_put_drain;
  cli->popts.on_drain_data = cli;
  r = kinesis_producer_new(cli->client, &cli->popts, &p->producer);
  if (r != 0)
    return r;
  kinesis_producer_set_data(p->producer, cli);

  uv_timer_init(&cli->loop, &p->progress);
  uv_timer_init(&cli->loop, &p->read_retry);
  p->progress.data = cli;
  p->read_retry.data = cli;
  p->timers_open = 1;
  p->read_req.data = cli;
  p->line = 1;
  p->started = uv_hrtime();
  p->rng = (p->started ^ ((uint64_t) uv_os_getpid() << 32)) | 1;
  if (uv_guess_handle(2) == UV_TTY)
    uv_timer_start(&p->progress, on_progress, PUT_PROGRESS_MS,
                   PUT_PROGRESS_MS);
  if (cli->stdin_closed)
    put_read_failed(cli, UV_EBADF);
  put_pump(cli);
  return 0;
}


/* ListShards first: a stream that does not exist, or credentials that do
 * not work, fail at once rather than after each record's TTL. */
void on_put_shards_listed(kinesis_client_t* client, int status,
                                 const kinesis_result_t* res, void* arg) {
  cli_t* cli = arg;
  int r;

  (void) client;
  /* A stream that is not ACTIVE yet: the producer waits for it, within
   * the records' TTL. */
  if (status != 0 && status != KINESIS_EINUSE) {
    report_failure(cli, status, res);
    finish(cli, CLI_EXIT_FAIL);
    return;
  }
  r = put_start(cli);
  if (r != 0)
    call_failed(cli, r);
}
