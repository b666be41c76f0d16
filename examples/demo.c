/*
 * demo: a producer and a consumer together on one loop, against one stream.
 *
 *   demo ENDPOINT STREAM [RECORDS] [--stats]
 *
 * Creates STREAM with 2 shards at ENDPOINT (kinesalite, for example) and
 * waits until it is ACTIVE, starts a consumer on it, then puts RECORDS
 * records (default 20000) through a producer, pausing while the producer's
 * buffer is full (KINESIS_EQUEUEFULL) until its on_drain callback. Every
 * second a progress line goes to stderr. Once every record was consumed it
 * prints a summary on stdout, deletes the stream and closes everything.
 * The consumer's readiness (every shard it leases is being read) is
 * reported as it changes. With --stats, the summary is followed by the
 * client's, the producer's and the consumer's statistics in the Prometheus
 * text format.
 *
 * Ctrl-C stops early: the records already buffered are still delivered
 * (within their TTL), the stream is deleted, and the exit status is 1.
 *
 * Region and credentials come from the standard chain (AWS_REGION,
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, ...). Exit status: 0 only when
 * every record was acknowledged by Kinesis and consumed, and everything
 * closed; 1 otherwise; 2 on a usage error.
 */

#include <kinesis.h>

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_DEFAULT_RECORDS 20000
#define DEMO_MAX_RECORDS 10000000UL
#define DEMO_SHARDS 2
/* Each record is this many bytes: "record N " and padding. */
#define DEMO_RECORD_SIZE 100
#define DEMO_PROGRESS_MS 1000
/* Once every put has settled, give up when nothing new was consumed for
 * this long: a record that failed, or was lost, never comes. */
#define DEMO_STALL_MS 15000
/* A shard with nothing new is asked again after this long. */
#define DEMO_SLEEP_NO_RECORDS_MS 200

typedef struct {
  uv_loop_t loop;
  uv_timer_t progress;
  uv_signal_t sigint;
  int handles_open;
  kinesis_client_t* client;
  kinesis_producer_t* producer;
  kinesis_consumer_t* consumer;
  const char* stream;
  uint32_t records;
  int print_stats;         /* --stats */

  uint32_t next;           /* the next record to put */
  int paused;              /* the producer's buffer is full */
  uint64_t pauses;         /* times it was */
  uint64_t acked;
  uint64_t failed;
  uint64_t settled;        /* put callbacks run */
  uint64_t retries;
  uint64_t consumed;       /* distinct records consumed */
  uint64_t duplicates;
  uint64_t foreign;        /* records that are not the demo's */
  uint8_t* seen;           /* per record: consumed yet */
  uint64_t* put_at;        /* per record: when it was put, in ms */
  int64_t max_lag_ms;      /* MillisBehindLatest, the largest seen */
  uint64_t max_latency_ms; /* put to on_record, the longest */

  uint64_t started;        /* ms, when producing started */
  uint64_t last_ack;
  uint64_t last_consumed;
  uint64_t ended;
  uint64_t last_news;      /* ms, the last put callback or new record */

  int stream_created;      /* ours to delete */
  int stopping;
  int closing;             /* producer and consumer closes pending */
  int exit_code;
} demo_t;


static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000;
}


static double seconds_between(uint64_t from, uint64_t to) {
  double s = (double) (to > from ? to - from : 0) / 1000.0;
  return s > 0.001 ? s : 0.001;
}


static void report(const char* what, int status, const kinesis_result_t* res) {
  if (res != NULL && res->error_code != NULL)
    fprintf(stderr, "demo: %s: %s: %s\n", what, res->error_code,
            res->error_message != NULL ? res->error_message : "");
  else if (res != NULL && res->error_message != NULL)
    fprintf(stderr, "demo: %s: %s: %s\n", what, kinesis_strerror(status),
            res->error_message);
  else
    fprintf(stderr, "demo: %s: %s\n", what, kinesis_strerror(status));
}


static void on_log(kinesis_log_level_t level, const char* message, void* arg) {
  (void) level;
  (void) arg;
  fprintf(stderr, "demo: %s\n", message);
}


/* ---- Shutting down: producer and consumer, the stream, the client ---- */

static void on_client_closed(void* data, int status, void* arg) {
  demo_t* d = arg;
  (void) data;
  (void) status;
  d->client = NULL;
}


static void close_client(demo_t* d) {
  int r = kinesis_client_close(d->client, on_client_closed, d);
  if (r != 0) {
    fprintf(stderr, "demo: closing the client failed: %s\n",
            kinesis_strerror(r));
    d->exit_code = 1;
  }
}


static void on_stream_deleted(kinesis_client_t* client, int status,
                              const kinesis_result_t* res, void* arg) {
  demo_t* d = arg;

  (void) client;
  if (status != 0) {
    report("DeleteStream", status, res);
    d->exit_code = 1;
  } else {
    fprintf(stderr, "demo: deleted stream %s\n", d->stream);
  }
  close_client(d);
}


/* The producer and the consumer are closed: delete the stream if we made
 * it, then close the client (which refuses while they are open). */
static void children_closed(demo_t* d) {
  int r;

  if (--d->closing > 0)
    return;
  if (d->stream_created) {
    r = kinesis_client_delete_stream(d->client, d->stream, on_stream_deleted,
                                     d);
    if (r == 0)
      return;
    report("DeleteStream", r, NULL);
    d->exit_code = 1;
  }
  close_client(d);
}


/* `data` is the producer's user slot: the demo set it to `d`. */
static void on_producer_closed(void* data, int status, void* arg) {
  demo_t* d = data;

  (void) status; /* each record's callback told its own failure */
  (void) arg;
  d->producer = NULL;
  children_closed(d);
}


static void on_consumer_closed(void* data, int status, void* arg) {
  demo_t* d = arg;

  (void) data;
  /* Nothing is lost: the next reader re-reads from the last checkpoint. */
  if (status != 0)
    fprintf(stderr, "demo: the consumer's final checkpoints: %s\n",
            kinesis_strerror(status));
  d->consumer = NULL;
  children_closed(d);
}


/* Stops everything; `exit_code` 1 makes the run fail. Safe to call from
 * any callback, more than once. The producer's close waits for the
 * callbacks of records still buffered (each within its TTL). */
static void shutdown_demo(demo_t* d, int exit_code) {
  if (exit_code != 0)
    d->exit_code = exit_code;
  if (d->stopping)
    return;
  d->stopping = 1;
  if (d->handles_open) {
    d->handles_open = 0;
    uv_close((uv_handle_t*) &d->progress, NULL);
    uv_close((uv_handle_t*) &d->sigint, NULL);
  }
  /* One extra count, so that neither close callback finishes the
   * shutdown before both closes were asked for. */
  d->closing = 1;
  if (d->producer != NULL &&
      kinesis_producer_close(d->producer, on_producer_closed, d) == 0)
    d->closing++;
  if (d->consumer != NULL &&
      kinesis_consumer_close(d->consumer, on_consumer_closed, d) == 0)
    d->closing++;
  children_closed(d);
}


/* ---- Progress and the summary ---- */

static void stats(demo_t* d, uint64_t* pq, uint64_t* cq, int64_t* lag) {
  kinesis_producer_stats_t ps;
  kinesis_consumer_stats_t cs;
  size_t i;

  *pq = 0;
  *cq = 0;
  *lag = -1;
  if (d->producer != NULL && kinesis_producer_stats(d->producer, &ps) == 0)
    *pq = ps.queue_depth;
  if (d->consumer != NULL && kinesis_consumer_stats(d->consumer, &cs) == 0) {
    *cq = cs.queue_depth;
    for (i = 0; i < cs.nshards; i++)
      if (cs.shards[i].millis_behind_latest > *lag)
        *lag = cs.shards[i].millis_behind_latest;
  }
  if (*lag > d->max_lag_ms)
    d->max_lag_ms = *lag;
}


static void print_summary(demo_t* d) {
  double secs = seconds_between(d->started, d->ended);
  uint64_t missing = d->records - d->consumed;

  if (missing == 0)
    printf("demo: %" PRIu32 " records produced and consumed in %.1f s\n",
           d->records, secs);
  else
    printf("demo: stopped after %.1f s, %" PRIu32 " of %" PRIu32
           " records put\n", secs, d->next, d->records);
  printf("demo: produced %.0f records/s (%" PRIu64 " acknowledged, %" PRIu64
         " failed, %" PRIu64 " retries; paused %" PRIu64 " times on a full "
         "buffer)\n",
         (double) d->acked / seconds_between(d->started, d->last_ack),
         d->acked, d->failed, d->retries, d->pauses);
  printf("demo: consumed %.0f records/s (%" PRIu64 " records, %" PRIu64
         " duplicates, %" PRIu64 " not consumed)\n",
         (double) d->consumed / seconds_between(d->started, d->last_consumed),
         d->consumed, d->duplicates, missing);
  printf("demo: max lag %" PRId64 " ms behind the shard's tip "
         "(MillisBehindLatest); max put-to-consume latency %" PRIu64
         " ms, time in the producer's buffer included\n",
         d->max_lag_ms > 0 ? d->max_lag_ms : 0, d->max_latency_ms);
  fflush(stdout);
}


/* --stats: everything the library counted, as a Prometheus server would
 * scrape it. */
static void print_stats(demo_t* d) {
  kinesis_client_stats_t cs;
  kinesis_producer_stats_t ps;
  kinesis_consumer_stats_t ks;
  kinesis_stats_t st;
  char labels[300];
  char* text;
  int n;

  memset(&st, 0, sizeof(st));
  if (kinesis_client_stats(d->client, &cs) == 0)
    st.client = &cs;
  if (d->producer != NULL && kinesis_producer_stats(d->producer, &ps) == 0)
    st.producer = &ps;
  if (d->consumer != NULL && kinesis_consumer_stats(d->consumer, &ks) == 0)
    st.consumer = &ks;
  /* The stream name is the demo's own, made of safe characters. */
  snprintf(labels, sizeof(labels), "stream=\"%s\"", d->stream);
  st.labels = labels;
  n = kinesis_stats_format_prometheus(&st, NULL, 0);
  if (n < 0 || (text = malloc((size_t) n + 1)) == NULL) {
    fprintf(stderr, "demo: cannot render the statistics: %s\n",
            kinesis_strerror(n < 0 ? n : KINESIS_ENOMEM));
    return;
  }
  kinesis_stats_format_prometheus(&st, text, (size_t) n + 1);
  fputs(text, stdout);
  fflush(stdout);
  free(text);
}


/* Every record was put, acknowledged or failed, and consumed. */
static void maybe_done(demo_t* d) {
  if (d->stopping || d->settled < d->records || d->consumed < d->records)
    return;
  d->ended = now_ms();
  print_summary(d);
  if (d->print_stats)
    print_stats(d);
  shutdown_demo(d, d->failed == 0 ? 0 : 1);
}


static void on_progress(uv_timer_t* t) {
  demo_t* d = t->data;
  uint64_t now = now_ms();
  uint64_t pq;
  uint64_t cq;
  int64_t lag;

  stats(d, &pq, &cq, &lag);
  fprintf(stderr,
          "demo: %4.1f s: produced %" PRIu32 ", acked %" PRIu64
          ", consumed %" PRIu64 ", lag %" PRId64 " ms, queued %" PRIu64
          " to put, %" PRIu64 " to consume\n",
          seconds_between(d->started, now), d->next, d->acked, d->consumed,
          lag, pq, cq);
  if (d->settled == d->records && now - d->last_news > DEMO_STALL_MS) {
    fprintf(stderr, "demo: nothing new for %d s; %" PRIu64
            " records were never consumed\n", DEMO_STALL_MS / 1000,
            d->records - d->consumed);
    d->ended = now;
    print_summary(d);
    shutdown_demo(d, 1);
  }
}


static void on_sigint(uv_signal_t* h, int signum) {
  demo_t* d = h->data;

  (void) signum;
  fprintf(stderr, "demo: interrupted\n");
  d->ended = now_ms();
  print_summary(d);
  shutdown_demo(d, 1);
}


/* ---- Producing ---- */

static void produce(demo_t* d);


static void on_put(kinesis_producer_t* producer, int status,
                   const kinesis_put_result_t* res, void* arg) {
  demo_t* d = kinesis_producer_get_data(producer);
  uint32_t i = (uint32_t) (uintptr_t) arg;
  kinesis_producer_stats_t st;

  /* Retries happen before a record settles: the last callback has the
   * final count (the close's callback has no producer to ask). */
  if (kinesis_producer_stats(producer, &st) == 0)
    d->retries = st.records_retried;
  d->settled++;
  d->last_news = now_ms();
  if (status == 0) {
    d->acked++;
    d->last_ack = d->last_news;
  } else {
    /* The first few failures are worth seeing; the count says the rest. */
    if (++d->failed <= 5)
      fprintf(stderr, "demo: record %" PRIu32 " failed: %s%s%s\n", i,
              res->error_code != NULL ? res->error_code
                                      : kinesis_strerror(status),
              res->error_message != NULL ? ": " : "",
              res->error_message != NULL ? res->error_message : "");
  }
  maybe_done(d);
}


/* Puts records until all are put or the buffer is full; on_drain goes
 * on. */
static void produce(demo_t* d) {
  char data[DEMO_RECORD_SIZE];
  char key[32];
  kinesis_record_t rec;
  int n;
  int r;

  while (!d->paused && !d->stopping && d->next < d->records) {
    uint32_t i = d->next;
    n = snprintf(data, sizeof(data), "record %" PRIu32 " ", i);
    memset(data + n, 'x', sizeof(data) - (size_t) n);
    snprintf(key, sizeof(key), "key-%" PRIu32, i);
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = sizeof(data);
    rec.partition_key = key;
    d->put_at[i] = now_ms();
    r = kinesis_producer_put(d->producer, &rec, on_put,
                             (void*) (uintptr_t) i);
    if (r == KINESIS_EQUEUEFULL) {
      d->paused = 1;
      d->pauses++;
      return;
    }
    d->next++;
    if (r != 0) {
      /* Refused: its callback will not run. */
      fprintf(stderr, "demo: record %" PRIu32 " refused: %s\n", i,
              kinesis_strerror(r));
      d->failed++;
      d->settled++;
    }
  }
}


static void on_drain(kinesis_producer_t* producer, void* arg) {
  demo_t* d = arg;

  (void) producer;
  if (!d->paused)
    return;
  d->paused = 0;
  produce(d);
}


/* ---- Consuming ---- */

static void on_record(kinesis_consumer_t* consumer,
                      const kinesis_consumer_record_t* rec, void* arg) {
  demo_t* d = arg;
  char num[16];
  size_t n = 0;
  unsigned long i;
  char* end;
  uint64_t now = now_ms();

  (void) consumer;
  /* "record N ": copy N out, since the data is not NUL-terminated. */
  if (rec->len > 7 && memcmp(rec->data, "record ", 7) == 0)
    while (n < sizeof(num) - 1 && 7 + n < rec->len && rec->data[7 + n] != ' ')
      num[n] = (char) rec->data[7 + n], n++;
  num[n] = '\0';
  i = strtoul(num, &end, 10);
  if (n == 0 || *end != '\0' || i >= d->records) {
    d->foreign++;
    return;
  }
  if (rec->millis_behind_latest > d->max_lag_ms)
    d->max_lag_ms = rec->millis_behind_latest;
  if (d->seen[i]) {
    /* At-least-once: a record may come twice (after a restart, a lost
     * lease, a retried put); it counts once. */
    d->duplicates++;
    return;
  }
  d->seen[i] = 1;
  d->consumed++;
  d->last_consumed = now;
  d->last_news = now;
  if (now - d->put_at[i] > d->max_latency_ms)
    d->max_latency_ms = now - d->put_at[i];
  maybe_done(d);
}


/* ---- Starting ---- */

/* What a health check would look at: whether every shard the consumer
 * leases is being read. */
static void on_ready(kinesis_consumer_t* consumer, int ready, void* arg) {
  demo_t* d = arg;
  (void) consumer;
  fprintf(stderr, "demo: %4.1f s: consumer %s\n",
          seconds_between(d->started, now_ms()),
          ready ? "ready: every shard it leases is being read"
                : "not ready");
}


static void start(demo_t* d) {
  kinesis_consumer_options_t co;
  kinesis_producer_options_t po;
  int r;

  kinesis_consumer_options_init(&co);
  co.stream = d->stream;
  co.on_record = on_record;
  co.on_record_data = d;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  co.sleep_time_no_records_ms = DEMO_SLEEP_NO_RECORDS_MS;
  co.on_ready = on_ready;
  co.on_ready_data = d;
  r = kinesis_consumer_new(d->client, &co, &d->consumer);
  if (r == 0)
    r = kinesis_consumer_start(d->consumer);
  if (r != 0) {
    report("starting the consumer", r, NULL);
    shutdown_demo(d, 1);
    return;
  }

  kinesis_producer_options_init(&po);
  po.stream = d->stream;
  po.buffer_time_ms = 100;
  po.on_drain = on_drain;
  po.on_drain_data = d;
  r = kinesis_producer_new(d->client, &po, &d->producer);
  if (r != 0) {
    report("starting the producer", r, NULL);
    shutdown_demo(d, 1);
    return;
  }
  kinesis_producer_set_data(d->producer, d);

  uv_timer_init(&d->loop, &d->progress);
  uv_signal_init(&d->loop, &d->sigint);
  d->progress.data = d;
  d->sigint.data = d;
  d->handles_open = 1;
  uv_timer_start(&d->progress, on_progress, DEMO_PROGRESS_MS,
                 DEMO_PROGRESS_MS);
  uv_signal_start(&d->sigint, on_sigint, SIGINT);

  fprintf(stderr, "demo: producing %" PRIu32 " records of %d bytes, "
          "consuming them as they land\n", d->records, DEMO_RECORD_SIZE);
  d->started = now_ms();
  d->last_news = d->started;
  produce(d);
}


static void on_stream_active(kinesis_client_t* client, int status,
                             const kinesis_result_t* res, void* arg) {
  demo_t* d = arg;

  (void) client;
  if (status != 0) {
    report("waiting for the stream", status, res);
    shutdown_demo(d, 1);
    return;
  }
  fprintf(stderr, "demo: stream %s is ACTIVE\n", d->stream);
  start(d);
}


static void on_stream_created(kinesis_client_t* client, int status,
                              const kinesis_result_t* res, void* arg) {
  demo_t* d = arg;
  int r;

  if (status != 0) {
    report("CreateStream", status, res);
    shutdown_demo(d, 1);
    return;
  }
  d->stream_created = 1;
  fprintf(stderr, "demo: created stream %s (%d shards)\n", d->stream,
          DEMO_SHARDS);
  r = kinesis_client_wait_for_active(client, d->stream, 0, 0,
                                     on_stream_active, d);
  if (r != 0) {
    report("waiting for the stream", r, NULL);
    shutdown_demo(d, 1);
  }
}


int main(int argc, char** argv) {
  static demo_t d;
  kinesis_client_options_t opts;
  unsigned long n = DEMO_DEFAULT_RECORDS;
  char* end;
  int r;

  if (argc > 3 && strcmp(argv[argc - 1], "--stats") == 0) {
    d.print_stats = 1;
    argc--;
  }
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: demo ENDPOINT STREAM [RECORDS] [--stats]\n");
    return 2;
  }
  if (argc == 4) {
    n = strtoul(argv[3], &end, 10);
    if (argv[3][0] < '0' || argv[3][0] > '9' || *end != '\0' || n == 0 ||
        n > DEMO_MAX_RECORDS) {
      fprintf(stderr, "demo: RECORDS must be a number from 1 to %lu\n",
              DEMO_MAX_RECORDS);
      return 2;
    }
  }
  d.stream = argv[2];
  d.records = (uint32_t) n;
  d.seen = calloc(n, sizeof(*d.seen));
  d.put_at = calloc(n, sizeof(*d.put_at));
  if (d.seen == NULL || d.put_at == NULL) {
    fprintf(stderr, "demo: out of memory\n");
    return 1;
  }
  d.max_lag_ms = -1;

  r = uv_loop_init(&d.loop);
  if (r != 0) {
    fprintf(stderr, "demo: uv_loop_init: %s\n", uv_strerror(r));
    return 1;
  }
  kinesis_client_options_init(&opts);
  opts.endpoint_url = argv[1];
  opts.log = on_log;
  r = kinesis_client_new(&d.loop, &opts, &d.client);
  if (r != 0) {
    fprintf(stderr, "demo: cannot create the client for %s: %s\n", argv[1],
            kinesis_strerror(r));
    return 1;
  }
  r = kinesis_client_create_stream(d.client, d.stream, DEMO_SHARDS,
                                   on_stream_created, &d);
  if (r != 0) {
    report("CreateStream", r, NULL);
    shutdown_demo(&d, 1);
  }

  uv_run(&d.loop, UV_RUN_DEFAULT);
  free(d.seen);
  free(d.put_at);
  if (d.client != NULL || d.producer != NULL || d.consumer != NULL) {
    fprintf(stderr, "demo: the loop stopped before everything closed\n");
    d.exit_code = 1;
  }
  r = uv_loop_close(&d.loop);
  if (r != 0) {
    fprintf(stderr, "demo: uv_loop_close: %s\n", uv_strerror(r));
    d.exit_code = 1;
  }
  if (d.consumed != d.records)
    d.exit_code = 1;
  return d.exit_code;
}
