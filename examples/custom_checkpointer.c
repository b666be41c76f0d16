/* A consumer with a checkpointer of our own: examples/file_checkpointer.c,
 * which keeps the checkpoints in a file, so that a run carries on where the
 * last one stopped. The store is a template for yours (a database table, a
 * key-value store): the consumer sees only its kinesis_checkpointer_t.
 *
 * Usage: custom_checkpointer STREAM FILE [ENDPOINT] [--exit-after N]
 *   Prints each record as SHARD<TAB>SEQUENCE<TAB>DATA and acknowledges it
 *   once printed. SIGINT, SIGTERM or the Nth record (--exit-after) closes
 *   the consumer, which writes the final checkpoints into FILE. One process
 *   at a time may use FILE.
 * Region and credentials come from the environment (AWS_REGION, ...). */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kinesis.h>

#include "file_checkpointer.h"

static kinesis_client_t* client;
static kinesis_checkpointer_t* checkpointer;
static kinesis_consumer_t* consumer;
static uv_signal_t sigint;
static uv_signal_t sigterm;
static unsigned long exit_after; /* 0: run until a signal */
static unsigned long printed;
static const char* why = "interrupted";
static int stopping;
static int failed;


static void on_checkpointer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (void) arg;
  kinesis_client_close(client, NULL, NULL);
  uv_close((uv_handle_t*) &sigint, NULL);
  uv_close((uv_handle_t*) &sigterm, NULL);
}


/* The consumer has written its last checkpoints, through our store, and
 * released its leases: the store can go. */
static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  fprintf(stderr, "custom_checkpointer: %lu records (%s)\n", printed, why);
  if (status != 0)
    fprintf(stderr, "custom_checkpointer: final checkpoints: %s\n",
            kinesis_strerror(status));
  kinesis_checkpointer_close(checkpointer, on_checkpointer_closed, NULL);
}


static void stop(const char* reason) {
  if (stopping)
    return;
  stopping = 1;
  why = reason;
  kinesis_consumer_close(consumer, on_consumer_closed, NULL);
}


static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* rec, void* arg) {
  (void) arg;
  if (stopping)
    return; /* not printed, so not acknowledged: the next run reads it */
  printf("%s\t%s\t", rec->shard_id, rec->sequence_number);
  fwrite(rec->data, 1, rec->len, stdout);
  putchar('\n');
  if (fflush(stdout) != 0) {
    perror("custom_checkpointer: stdout");
    failed = 1;
    stop("stdout failed");
    return;
  }
  /* Printed: the next checkpoint may cover it. */
  kinesis_consumer_ack(c, rec);
  if (++printed == exit_after)
    stop("--exit-after reached");
}


static void on_signal(uv_signal_t* h, int signum) {
  (void) h;
  stop(signum == SIGINT ? "interrupted" : "terminated");
}


int main(int argc, char** argv) {
  uv_loop_t* loop = uv_default_loop();
  kinesis_client_options_t co;
  kinesis_consumer_options_t opts;
  const char* args[3] = {NULL, NULL, NULL};
  int nargs = 0;
  int i;
  int r;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc)
      exit_after = strtoul(argv[++i], NULL, 10);
    else if (nargs < 3)
      args[nargs++] = argv[i];
  }
  if (args[1] == NULL) {
    fprintf(stderr,
            "usage: custom_checkpointer STREAM FILE [ENDPOINT] "
            "[--exit-after N]\n");
    return 2;
  }

  kinesis_client_options_init(&co);
  co.endpoint_url = args[2];
  r = kinesis_client_new(loop, &co, &client);
  if (r != 0) {
    fprintf(stderr, "custom_checkpointer: client: %s\n", kinesis_strerror(r));
    return 1;
  }
  /* Our store, with its default session timeout (10 s). */
  r = file_checkpointer_new(loop, args[1], 0, &checkpointer);
  if (r != 0) {
    fprintf(stderr, "custom_checkpointer: %s: %s\n", args[1],
            kinesis_strerror(r));
    return 1;
  }

  kinesis_consumer_options_init(&opts);
  opts.stream = args[0];
  opts.on_record = on_record;
  opts.checkpointer = checkpointer; /* must outlive the consumer */
  opts.manual_ack = 1;
  r = kinesis_consumer_new(client, &opts, &consumer);
  if (r == 0)
    r = kinesis_consumer_start(consumer);
  if (r != 0) {
    fprintf(stderr, "custom_checkpointer: consumer: %s\n", kinesis_strerror(r));
    return 1;
  }

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
