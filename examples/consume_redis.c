/* One consumer of an application that runs as several processes: each
 * process runs this program with the same APP, and they share the stream's
 * shards through the Redis checkpointer (leases, checkpoints, and a count
 * of live consumers so that each takes a fair share). Start and stop them
 * in any order; they rebalance on their own.
 *
 * Usage: consume_redis STREAM REDIS_URL APP [ENDPOINT] [--session-timeout S]
 *   Each record is printed as SHARD<TAB>SEQUENCE<TAB>DATA on stdout, and
 *   acknowledged once it is written, so checkpoints cover only what was
 *   printed. SIGINT or SIGTERM closes the consumer gracefully: it
 *   checkpoints what was printed and releases its leases, so the others
 *   take its shards over at once, from where it stopped. --session-timeout
 *   (default 10) is how long a crashed process's shards wait for another.
 * Region and credentials come from the environment (AWS_REGION, ...). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kinesis.h>

/* Records printed and not yet acknowledged at most (the consumer's
 * max_unacked): they wait for the next flush of stdout. */
#define HELD_MAX 1000

static uv_loop_t* loop;
static kinesis_client_t* client;
static kinesis_checkpointer_t* checkpointer;
static kinesis_consumer_t* consumer;
static uv_signal_t sigint;
static uv_signal_t sigterm;
static uv_check_t flusher;
static const kinesis_consumer_record_t* held[HELD_MAX];
static size_t nheld;
static unsigned long printed; /* written out and acknowledged */
static int stopping;
static int failed;


static void stop(void);


/* Flushes stdout, then acknowledges what it held: a record is checkpointed
 * only once it is out of this process. */
static void flush_and_ack(void) {
  size_t i;
  if (nheld == 0)
    return;
  if (fflush(stdout) != 0) {
    /* Not acknowledged: whoever reads these shards next prints them. */
    perror("consume_redis: stdout");
    nheld = 0;
    failed = 1;
    stop();
    return;
  }
  for (i = 0; i < nheld; i++)
    kinesis_consumer_ack(consumer, held[i]);
  printed += nheld;
  nheld = 0;
}


static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  (void) c;
  (void) arg;
  if (stopping)
    return; /* left unacknowledged: the next owner of the shard reads it */
  printf("%s\t%s\t", rec->shard_id, rec->sequence_number);
  fwrite(rec->data, 1, rec->len, stdout);
  putchar('\n');
  /* With manual ack the record stays valid until acknowledged. */
  held[nheld++] = rec;
  if (nheld == HELD_MAX)
    flush_and_ack();
}


/* Records arrive in batches from an idle handle; a check handle runs after
 * them in the same loop iteration, so stdout is flushed once a batch. */
static void on_check(uv_check_t* h) {
  (void) h;
  flush_and_ack();
}


static void on_log(kinesis_log_level_t level, const char* msg, void* arg) {
  (void) level;
  (void) arg;
  fprintf(stderr, "consume_redis: %s\n", msg);
}


static void on_checkpointer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status; /* 0: operations cut short were answered ECANCELED */
  (void) arg;
  kinesis_client_close(client, NULL, NULL);
  uv_close((uv_handle_t*) &sigint, NULL);
  uv_close((uv_handle_t*) &sigterm, NULL);
  uv_close((uv_handle_t*) &flusher, NULL);
}


/* The checkpoints are written and the leases released: the other
 * processes claim them at their next heartbeat. */
static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  fprintf(stderr, "consume_redis: %lu records\n", printed);
  /* Nothing is lost: the next reader re-reads from the last checkpoint. */
  if (status != 0)
    fprintf(stderr, "consume_redis: final checkpoints: %s\n",
            kinesis_strerror(status));
  kinesis_checkpointer_close(checkpointer, on_checkpointer_closed, NULL);
}


static void stop(void) {
  if (stopping)
    return;
  flush_and_ack(); /* what was printed counts as done: checkpoint it */
  stopping = 1;
  kinesis_consumer_close(consumer, on_consumer_closed, NULL);
}


static void on_signal(uv_signal_t* h, int signum) {
  (void) h;
  (void) signum;
  stop();
}


int main(int argc, char** argv) {
  kinesis_client_options_t co;
  kinesis_checkpointer_redis_options_t ro;
  kinesis_consumer_options_t opts;
  const char* args[4] = {NULL, NULL, NULL, NULL};
  long session_s = 10;
  int nargs = 0;
  int i;
  int r;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--session-timeout") == 0 && i + 1 < argc)
      session_s = strtol(argv[++i], NULL, 10);
    else if (nargs < 4)
      args[nargs++] = argv[i];
  }
  if (args[2] == NULL || session_s < 1 || session_s > 3600) {
    fprintf(stderr,
            "usage: consume_redis STREAM REDIS_URL APP [ENDPOINT] "
            "[--session-timeout S]\n");
    return 2;
  }
  loop = uv_default_loop();

  kinesis_client_options_init(&co);
  co.endpoint_url = args[3];
  co.log = on_log; /* "leased shard ...", "handed shard ... over" */
  co.log_level = KINESIS_LOG_INFO;
  r = kinesis_client_new(loop, &co, &client);
  if (r != 0) {
    fprintf(stderr, "consume_redis: client: %s\n", kinesis_strerror(r));
    return 1;
  }

  /* Processes with the same app_name share the stream; the session
   * timeout is how long a crashed one's leases hold. */
  kinesis_checkpointer_redis_options_init(&ro);
  ro.url = args[1];
  ro.app_name = args[2];
  ro.session_timeout_ms = (uint32_t) session_s * 1000;
  r = kinesis_checkpointer_redis_new(client, &ro, &checkpointer);
  if (r != 0) {
    fprintf(stderr, "consume_redis: checkpointer: %s\n", kinesis_strerror(r));
    return 1;
  }

  kinesis_consumer_options_init(&opts);
  opts.stream = args[0];
  opts.on_record = on_record;
  opts.checkpointer = checkpointer;
  opts.manual_ack = 1;
  opts.max_unacked = HELD_MAX;
  /* Three heartbeats a session: a lease survives one lost heartbeat. */
  opts.heartbeat_interval_ms = checkpointer->session_timeout_ms / 3;
  r = kinesis_consumer_new(client, &opts, &consumer);
  if (r == 0)
    r = kinesis_consumer_start(consumer);
  if (r != 0) {
    fprintf(stderr, "consume_redis: consumer: %s\n", kinesis_strerror(r));
    return 1;
  }
  /* The lease owner name ("<host>-<pid>-<random>"), for whoever looks at
   * the leases in Redis. */
  fprintf(stderr, "consume_redis: %s reading %s for %s\n",
          kinesis_consumer_owner(consumer), args[0], args[2]);

  uv_check_init(loop, &flusher);
  uv_check_start(&flusher, on_check);
  uv_signal_init(loop, &sigint);
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_init(loop, &sigterm);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  /* A reader that goes away (| head) makes the flush fail, and the
   * consumer close cleanly, instead of SIGPIPE killing the process. */
  signal(SIGPIPE, SIG_IGN);

  uv_run(loop, UV_RUN_DEFAULT);
  r = uv_loop_close(loop);
  return r == 0 && !failed ? 0 : 1;
}
