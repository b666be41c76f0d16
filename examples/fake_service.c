/*
 * fake_service: testing an application against the fake Kinesis service,
 * in C, on the application's own loop.
 *
 *   fake_service [RECORDS]
 *
 * The "application" here is a producer and a consumer of one stream; the
 * test around them starts a kinesis_serve_t on the loop, points the client
 * at its URL, creates a 2-shard stream, puts RECORDS records (default 1000)
 * and checks that the consumer sees each of them exactly once. Nothing
 * outside the process is needed: no kinesalite, no network, no AWS account.
 * Then it closes everything, and the loop closes with nothing left on it.
 *
 * Exit status: 0 when every record came back once and everything closed;
 * 1 otherwise; 2 on a usage error. (See docs/testing.md.)
 */

#include <kinesis.h>
#include <kinesis/testing.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM "orders"
#define MAX_RECORDS 100000
/* Give up when the test has not finished after this long. */
#define DEADLINE_MS 60000

typedef struct {
  uv_loop_t loop;
  uv_timer_t deadline;
  kinesis_serve_t* serve;
  kinesis_client_t* client;
  kinesis_producer_t* producer;
  kinesis_consumer_t* consumer;
  unsigned records;
  unsigned acked;
  unsigned consumed;
  unsigned duplicates;
  unsigned char* seen;
  int closing; /* producer and consumer closes pending */
  int finished;
  int failed;
} test_t;


static void finish(test_t* t);


/* Reports a failure; the test then ends, closing what it made. */
static void fail(test_t* t, const char* what, int status) {
  fprintf(stderr, "fake_service: %s: %s\n", what, kinesis_strerror(status));
  t->failed = 1;
  if (t->client != NULL)
    finish(t);
}


/* ---- The end: producer and consumer, then the client, then the service */

static void on_serve_closed(void* data, int status, void* arg) {
  test_t* t = data;
  (void) arg;
  if (status != 0)
    fail(t, "closing the service", status);
  t->serve = NULL;
  uv_close((uv_handle_t*) &t->deadline, NULL);
}


static void on_client_closed(void* data, int status, void* arg) {
  test_t* t = arg;
  int r;
  (void) data;
  t->client = NULL;
  if (status != 0)
    fail(t, "closing the client", status);
  r = kinesis_serve_close(t->serve, on_serve_closed, NULL);
  if (r != 0)
    fail(t, "closing the service", r);
}


static void close_client(test_t* t) {
  int r = kinesis_client_close(t->client, on_client_closed, t);
  if (r != 0)
    fail(t, "closing the client", r);
}


static void on_child_closed(void* data, int status, void* arg) {
  test_t* t = data;
  (void) arg;
  if (status != 0)
    fail(t, "closing the producer or consumer", status);
  if (--t->closing == 0)
    close_client(t);
}


/* Done, or given up: whatever was made is closed, in order. */
static void finish(test_t* t) {
  if (t->closing > 0 || t->finished)
    return;
  t->finished = 1;
  uv_timer_stop(&t->deadline);
  if (t->producer != NULL)
    t->closing++;
  if (t->consumer != NULL)
    t->closing++;
  if (t->closing == 0) {
    close_client(t);
    return;
  }
  if (t->producer != NULL)
    kinesis_producer_close(t->producer, on_child_closed, NULL);
  if (t->consumer != NULL)
    kinesis_consumer_close(t->consumer, on_child_closed, NULL);
  t->producer = NULL;
  t->consumer = NULL;
}


static void on_deadline(uv_timer_t* timer) {
  test_t* t = timer->data;
  fprintf(stderr, "fake_service: %u of %u records came back in %d ms\n",
          t->consumed, t->records, DEADLINE_MS);
  t->failed = 1;
  finish(t);
}


/* ---- The application: what the test is about ---- */

static void on_record(kinesis_consumer_t* consumer,
                      const kinesis_consumer_record_t* record, void* arg) {
  test_t* t = arg;
  unsigned n;
  (void) consumer;
  if (sscanf((const char*) record->data, "order %u", &n) != 1 ||
      n >= t->records) {
    fprintf(stderr, "fake_service: a record that was never put\n");
    t->failed = 1;
    return;
  }
  if (t->seen[n]) {
    t->duplicates++;
    return;
  }
  t->seen[n] = 1;
  if (++t->consumed == t->records)
    finish(t);
}


static void on_put(kinesis_producer_t* producer, int status,
                   const kinesis_put_result_t* result, void* arg) {
  test_t* t = arg;
  (void) producer;
  (void) result;
  if (status != 0)
    fail(t, "put", status);
  else
    t->acked++;
}


static void start_application(test_t* t) {
  kinesis_producer_options_t po;
  kinesis_consumer_options_t co;
  char data[32];
  kinesis_record_t rec;
  unsigned i;
  int r;

  kinesis_consumer_options_init(&co);
  co.stream = STREAM;
  co.on_record = on_record;
  co.on_record_data = t;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  co.sleep_time_no_records_ms = 50;
  if ((r = kinesis_consumer_new(t->client, &co, &t->consumer)) != 0 ||
      (r = kinesis_consumer_start(t->consumer)) != 0) {
    fail(t, "consumer", r);
    return;
  }
  kinesis_consumer_set_data(t->consumer, t);

  kinesis_producer_options_init(&po);
  po.stream = STREAM;
  po.max_queue_size = t->records;
  if ((r = kinesis_producer_new(t->client, &po, &t->producer)) != 0) {
    fail(t, "producer", r);
    return;
  }
  kinesis_producer_set_data(t->producer, t);
  memset(&rec, 0, sizeof(rec));
  rec.data = data;
  rec.partition_key = data;
  for (i = 0; i < t->records; i++) {
    rec.len = (size_t) snprintf(data, sizeof(data), "order %u", i) + 1;
    if ((r = kinesis_producer_put(t->producer, &rec, on_put, t)) != 0) {
      fail(t, "put", r);
      return;
    }
  }
}


/* ---- The test's set-up: a service, a client, a stream ---- */

static void on_active(kinesis_client_t* client, int status,
                      const kinesis_result_t* result, void* arg) {
  test_t* t = arg;
  (void) client;
  (void) result;
  if (status != 0) {
    fail(t, "waiting for the stream", status);
    return;
  }
  start_application(t);
}


static void on_created(kinesis_client_t* client, int status,
                       const kinesis_result_t* result, void* arg) {
  test_t* t = arg;
  int r;
  (void) result;
  if (status != 0) {
    fail(t, "CreateStream", status);
    return;
  }
  r = kinesis_client_wait_for_active(client, STREAM, 20, 0, on_active, t);
  if (r != 0)
    fail(t, "waiting for the stream", r);
}


int main(int argc, char** argv) {
  kinesis_client_options_t o;
  test_t t;
  int r;

  memset(&t, 0, sizeof(t));
  t.records = 1000;
  if (argc > 2 || (argc == 2 && (sscanf(argv[1], "%u", &t.records) != 1 ||
                                  t.records == 0 ||
                                  t.records > MAX_RECORDS))) {
    fprintf(stderr, "usage: fake_service [RECORDS (1..%d)]\n", MAX_RECORDS);
    return 2;
  }
  /* A connection the client drops while the service writes must not kill
   * the test (docs/testing.md). */
  signal(SIGPIPE, SIG_IGN);
  t.seen = calloc(t.records, 1);
  if (t.seen == NULL || uv_loop_init(&t.loop) != 0)
    return 1;
  uv_timer_init(&t.loop, &t.deadline);
  t.deadline.data = &t;
  uv_timer_start(&t.deadline, on_deadline, DEADLINE_MS, 0);

  /* The service, on this loop, on a free port of 127.0.0.1. */
  r = kinesis_serve_new(&t.loop, NULL, &t.serve);
  if (r != 0) {
    fail(&t, "kinesis_serve_new", r);
    uv_close((uv_handle_t*) &t.deadline, NULL);
    uv_run(&t.loop, UV_RUN_DEFAULT);
    uv_loop_close(&t.loop);
    free(t.seen);
    return 1;
  }
  kinesis_serve_set_data(t.serve, &t);
  /* The client, pointed at it. Any keys do: it checks no signature. */
  kinesis_client_options_init(&o);
  o.endpoint_url = kinesis_serve_url(t.serve);
  o.region = "us-east-1";
  o.access_key_id = "AKIDEXAMPLE";
  o.secret_access_key = "secret";
  r = kinesis_client_new(&t.loop, &o, &t.client);
  if (r != 0) {
    fail(&t, "kinesis_client_new", r);
    kinesis_serve_close(t.serve, on_serve_closed, NULL);
  } else {
    r = kinesis_client_create_stream(t.client, STREAM, 2, on_created, &t);
    if (r != 0)
      fail(&t, "CreateStream", r);
  }

  uv_run(&t.loop, UV_RUN_DEFAULT);
  r = uv_loop_close(&t.loop);
  if (r != 0)
    fail(&t, "uv_loop_close", r);
  if (t.acked != t.records || t.consumed != t.records || t.duplicates > 0)
    t.failed = 1;
  printf("fake_service: %u records put, %u acked, %u consumed, %u "
         "duplicates: %s\n",
         t.records, t.acked, t.consumed, t.duplicates,
         t.failed ? "FAIL" : "ok");
  free(t.seen);
  return t.failed ? 1 : 0;
}
