#include "client_util.h"
#include "service.h"

#include <string.h>

#include "efo.h"
#include "kinesis/testing.h"

/*
 * The consumer reading through enhanced fan-out (efo_consumer_name): every
 * case runs against the library's fake service, which speaks SubscribeToShard
 * as AWS does (initial-response, ChildShards at a shard's end), and against
 * kinesis-mock, which does not (no initial-response, a closed shard's
 * subscription never ends).
 */

static uv_loop_t loop;

/* The service of the case running: its name and endpoint. */
static const char* service;
static const char* endpoint;

/* What on_record saw of the records "<prefix>-<index>". */
typedef struct {
  const char* prefix;
  size_t n;
  uint32_t* seen;
  size_t delivered;
  size_t duplicates;
  size_t foreign;
  /* The last index seen per partition key "k<0..7>": put order is index
   * order, so a key's indexes only grow. */
  long last[8];
  int order_violations;
} sink_t;


static void sink_init(sink_t* s, const char* prefix, size_t n) {
  size_t i;
  memset(s, 0, sizeof(*s));
  s->prefix = prefix;
  s->n = n;
  s->seen = calloc(n, sizeof(*s->seen));
  ASSERT_NOT_NULL(s->seen);
  for (i = 0; i < 8; i++)
    s->last[i] = -1;
}


static size_t sink_distinct(const sink_t* s) {
  size_t i;
  size_t d = 0;
  for (i = 0; i < s->n; i++)
    d += s->seen[i] > 0;
  return d;
}


static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  sink_t* s = arg;
  char text[64];
  size_t plen = strlen(s->prefix);
  size_t idx;
  int key;
  (void) c;
  snprintf(text, sizeof(text), "%.*s", (int) r->len, (const char*) r->data);
  s->delivered++;
  if (strncmp(text, s->prefix, plen) != 0 || text[plen] != '-') {
    s->foreign++;
    return;
  }
  idx = (size_t) strtoull(text + plen + 1, NULL, 10);
  ASSERT_LT(idx, s->n);
  if (s->seen[idx]++ > 0)
    s->duplicates++;
  ASSERT_NOT_NULL(r->partition_key);
  key = r->partition_key[1] - '0';
  ASSERT(key >= 0 && key < 8);
  if ((long) idx < s->last[key] && s->seen[idx] == 1)
    s->order_violations++;
  if ((long) idx > s->last[key])
    s->last[key] = (long) idx;
}


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, endpoint);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* ---- Producing ---- */

static int put_done;
static int put_failed;


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* r, void* arg) {
  (void) p;
  (void) r;
  (void) arg;
  put_done++;
  put_failed += status != 0;
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  put_done = -1;
}


/* Puts records first..last-1 as "<prefix>-<i>" with keys k0..k7, and waits
 * until every one has landed. */
static void produce(kinesis_client_t* c, const char* stream,
                    const char* prefix, size_t first, size_t last,
                    int aggregate) {
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  size_t i;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.aggregate = aggregate;
  o.buffer_time_ms = 50;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_done = 0;
  put_failed = 0;
  for (i = first; i < last; i++) {
    char data[64];
    char key[4];
    kinesis_record_t rec;
    snprintf(data, sizeof(data), "%s-%zu", prefix, i);
    snprintf(key, sizeof(key), "k%zu", i % 8);
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = key;
    ASSERT_OK(kinesis_producer_put(p, &rec, on_put, NULL));
  }
  TEST_WAIT_UNTIL(&loop, put_done == (int) (last - first), 20000, (void) 0);
  ASSERT_EQ(0, put_failed);
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, NULL));
  TEST_WAIT_UNTIL(&loop, put_done == -1, 10000, (void) 0);
}


/* ---- The consumer ---- */

static int consumer_closed;


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  consumer_closed++;
}


static kinesis_consumer_t* efo_consumer(kinesis_client_t* c,
                                        const char* stream, const char* name,
                                        int reg, sink_t* sink,
                                        kinesis_checkpointer_t* cp) {
  kinesis_consumer_options_t o;
  kinesis_consumer_t* k;
  kinesis_consumer_options_init(&o);
  o.stream = stream;
  o.on_record = on_record;
  o.on_record_data = sink;
  o.efo_consumer_name = name;
  o.efo_register = reg;
  o.checkpointer = cp;
  o.checkpoint_interval_ms = 200;
  o.heartbeat_interval_ms = 500;
  o.shard_discovery_ms = 1000;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  return k;
}


static kinesis_consumer_stats_t stats_of(kinesis_consumer_t* k) {
  kinesis_consumer_stats_t st;
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  return st;
}


static void close_consumer(kinesis_consumer_t* k) {
  int before = consumer_closed;
  ASSERT_OK(kinesis_consumer_close(k, on_consumer_closed, NULL));
  TEST_WAIT_UNTIL(&loop, consumer_closed == before + 1, 15000, (void) 0);
}


/* The stream's consumers are deregistered with it. */
static void delete_stream(kinesis_client_t* c, const char* stream) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_delete_stream(c, stream, capture_cb, &cap));
  capture_wait(&loop, &cap);
}


static void finish(kinesis_client_t* c) {
  close_client(&loop, c);
  ASSERT_EQ(0, uv_loop_close(&loop));
}


/* ---- Cases ---- */

/* A case's start: a loop, a client of the service under test, and a new
 * stream of `shards` shards named after `prefix`, into `stream`. */
static kinesis_client_t* case_start(const char* prefix, uint32_t shards,
                                    char* stream, size_t size) {
  kinesis_client_t* c;
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, size, "%s", test_stream_name(prefix));
  create_active_stream(&loop, c, stream, shards);
  return c;
}


/* A case's end: its stream deleted, the sink freed, the client and the
 * loop closed. */
static void case_end(kinesis_client_t* c, const char* stream, sink_t* sink) {
  delete_stream(c, stream);
  free(sink->seen);
  finish(c);
}


/* Plain or aggregated records, put before and while the consumer reads,
 * each arrive once, in order per key, through subscriptions alone. */
static void round_trip(int aggregate) {
  kinesis_client_t* c;
  kinesis_consumer_t* k;
  kinesis_consumer_stats_t st;
  sink_t sink;
  char stream[128];

  c = case_start("efo-rt", 2, stream, sizeof(stream));
  sink_init(&sink, "rt", 400);
  produce(c, stream, "rt", 0, 200, aggregate);
  k = efo_consumer(c, stream, "efo-rt", 1, &sink, NULL);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) >= 200, 30000,
                  fprintf(stderr, "%s: %zu of 200\n", service,
                          sink_distinct(&sink)));
  /* Records put while subscribed are pushed. */
  produce(c, stream, "rt", 200, 400, aggregate);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 400, 30000,
                  fprintf(stderr, "%s: %zu of 400\n", service,
                          sink_distinct(&sink)));
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.foreign);
  ASSERT_EQ(0, sink.order_violations);
  st = stats_of(k);
  ASSERT_EQ(0, st.get_records_calls);
  ASSERT_GE(st.subscriptions, 2);
  ASSERT_GE(st.subscription_events, 2);
  /* The lag comes from the events: caught up, each shard is not behind by
   * more than a moment. */
  ASSERT_EQ(2, st.nshards);
  {
    size_t i;
    for (i = 0; i < st.nshards; i++) {
      ASSERT_STR_EQ("fetching", st.shards[i].state);
      ASSERT_GE(st.shards[i].millis_behind_latest, 0);
      ASSERT_LT(st.shards[i].millis_behind_latest, 5000);
    }
  }
  ASSERT_EQ(1, kinesis_consumer_ready(k));
  close_consumer(k);
  case_end(c, stream, &sink);
}


static void test_round_trip_plain(void) {
  round_trip(0);
}


static void test_round_trip_aggregated(void) {
  round_trip(1);
}


/* Without efo_register a missing consumer is an error said plainly: the
 * consumer is not ready, reads nothing, and says why in its stats. */
static void test_missing_consumer(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* k;
  kinesis_consumer_stats_t st;
  sink_t sink;
  char stream[128];

  c = case_start("efo-miss", 1, stream, sizeof(stream));
  sink_init(&sink, "ms", 10);
  produce(c, stream, "ms", 0, 10, 0);
  k = efo_consumer(c, stream, "nobody-registered-me", 0, &sink, NULL);
  TEST_WAIT_UNTIL(&loop, stats_of(k).last_error != 0, 10000, (void) 0);
  st = stats_of(k);
  ASSERT_EQ(KINESIS_ENOTFOUND, st.last_error);
  ASSERT_NOT_NULL(strstr(st.last_error_message, "nobody-registered-me"));
  run_loop_for(&loop, 1000);
  ASSERT_EQ(0, sink.delivered);
  ASSERT_EQ(0, stats_of(k).subscriptions);
  ASSERT_EQ(0, kinesis_consumer_ready(k));
  close_consumer(k);
  case_end(c, stream, &sink);
}


/* A split while subscribed: the parent is read to its end first (AWS's
 * ChildShards from the fake service; kinesis-mock's endless empty events,
 * ended once the listing shows the shard closed), then the children from
 * their start, so every record arrives once and in order per key. */
static void test_reshard(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* k;
  sink_t sink;
  capture_t cap;
  char stream[128];

  c = case_start("efo-split", 1, stream, sizeof(stream));
  sink_init(&sink, "sp", 300);
  k = efo_consumer(c, stream, "efo-split", 1, &sink, NULL);
  produce(c, stream, "sp", 0, 100, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 100, 30000,
                  fprintf(stderr, "%s: %zu of 100\n", service,
                          sink_distinct(&sink)));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_split_shard(c, stream, "shardId-000000000000",
                                       NULL, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 200, 30000, capture_cb,
                                           &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  produce(c, stream, "sp", 100, 300, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 300, 45000,
                  fprintf(stderr, "%s: %zu of 300\n", service,
                          sink_distinct(&sink)));
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.order_violations);
  close_consumer(k);
  case_end(c, stream, &sink);
}


/* Two applications, each with its own registered consumer and store, both
 * get every record. */
static void test_two_consumers(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* a;
  kinesis_consumer_t* b;
  sink_t sa;
  sink_t sb;
  char stream[128];

  c = case_start("efo-two", 2, stream, sizeof(stream));
  sink_init(&sa, "tw", 200);
  sink_init(&sb, "tw", 200);
  a = efo_consumer(c, stream, "efo-app-a", 1, &sa, NULL);
  b = efo_consumer(c, stream, "efo-app-b", 1, &sb, NULL);
  produce(c, stream, "tw", 0, 200, 0);
  TEST_WAIT_UNTIL(&loop,
                  sink_distinct(&sa) == 200 && sink_distinct(&sb) == 200,
                  30000,
                  fprintf(stderr, "%s: a %zu, b %zu of 200\n", service,
                          sink_distinct(&sa), sink_distinct(&sb)));
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sa.duplicates);
  ASSERT_EQ(0, sb.duplicates);
  close_consumer(a);
  close_consumer(b);
  free(sb.seen);
  case_end(c, stream, &sa);
}


/* A consumer that closes checkpoints what it read; the next one, on the
 * same store, goes on from there and reads nothing twice. */
static void test_checkpoint_restart(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* k;
  kinesis_checkpointer_t* cp;
  sink_t sink;
  char stream[128];

  c = case_start("efo-ck", 2, stream, sizeof(stream));
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  sink_init(&sink, "ck", 200);
  produce(c, stream, "ck", 0, 100, 0);
  k = efo_consumer(c, stream, "efo-ck", 1, &sink, cp);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 100, 30000, (void) 0);
  close_consumer(k);
  produce(c, stream, "ck", 100, 200, 0);
  k = efo_consumer(c, stream, "efo-ck", 1, &sink, cp);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 200, 30000,
                  fprintf(stderr, "%s: %zu of 200\n", service,
                          sink_distinct(&sink)));
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  close_consumer(k);
  {
    int before = consumer_closed;
    ASSERT_OK(kinesis_checkpointer_close(cp, on_consumer_closed, NULL));
    TEST_WAIT_UNTIL(&loop, consumer_closed == before + 1, 5000, (void) 0);
  }
  case_end(c, stream, &sink);
}


/* A full queue holds the subscription back (curl's pause): while the
 * application has paused delivery, no further event is taken, and once it
 * resumes every record arrives, once. */
static void test_backpressure(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  kinesis_consumer_stats_t st;
  sink_t sink;
  char stream[128];
  uint64_t events;

  c = case_start("efo-bp", 1, stream, sizeof(stream));
  sink_init(&sink, "bp", 200);
  kinesis_consumer_options_init(&o);
  o.stream = stream;
  o.on_record = on_record;
  o.on_record_data = &sink;
  o.efo_consumer_name = "efo-bp";
  o.efo_register = 1;
  o.max_queue_size = 10;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  ASSERT_OK(kinesis_consumer_pause(k));
  TEST_WAIT_UNTIL(&loop, stats_of(k).subscription_events >= 1, 20000,
                  (void) 0);
  produce(c, stream, "bp", 0, 100, 0);
  TEST_WAIT_UNTIL(&loop, stats_of(k).queue_depth >= 10, 10000, (void) 0);
  run_loop_for(&loop, 300);
  events = stats_of(k).subscription_events;
  produce(c, stream, "bp", 100, 200, 0);
  /* Both services send an event at least every second. */
  run_loop_for(&loop, 2500);
  st = stats_of(k);
  ASSERT_EQ(events, st.subscription_events);
  /* Past the limit by one event at most: the one that filled the queue. */
  ASSERT_LE(st.queue_depth, 100);
  ASSERT_EQ(0, sink.delivered);
  ASSERT_OK(kinesis_consumer_resume(k));
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 200, 30000,
                  fprintf(stderr, "%s: %zu of 200\n", service,
                          sink_distinct(&sink)));
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.order_violations);
  close_consumer(k);
  case_end(c, stream, &sink);
}


/* Bad options are refused at once. */
static void test_options(void) {
  kinesis_client_t* c;
  kinesis_consumer_t* k = NULL;
  kinesis_consumer_options_t o;
  sink_t sink;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  kinesis_consumer_options_init(&o);
  o.stream = "s";
  o.on_record = on_record;
  o.on_record_data = &sink;
  o.efo_consumer_name = "bad name";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.efo_consumer_name = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  /* An ARN names a consumer that exists: there is nothing to register. */
  o.efo_consumer_name =
      "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/x:1";
  o.efo_register = 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.efo_register = 0;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  close_consumer(k);
  finish(c);
}


/* ---- The fake service on this loop, whose clock a case moves ---- */

static kinesis_serve_t* serve;


static kinesis_client_t* serve_start(void) {
  kinesis_serve_options_t so;
  ASSERT_OK(uv_loop_init(&loop));
  kinesis_serve_options_init(&so);
  so.limits_off = KINESIS_SERVE_LIMITS_ALL;
  ASSERT_OK(kinesis_serve_new(&loop, &so, &serve));
  endpoint = kinesis_serve_url(serve);
  service = "the fake service on the test's loop";
  return new_client();
}


static void serve_finish(kinesis_client_t* c) {
  int before = consumer_closed;
  close_client(&loop, c);
  ASSERT_OK(kinesis_serve_close(serve, on_consumer_closed, NULL));
  TEST_WAIT_UNTIL(&loop, consumer_closed == before + 1, 5000, (void) 0);
  ASSERT_EQ(0, uv_loop_close(&loop));
}


/* A subscription ends after 5 minutes; the next starts after the last
 * continuation, with no record missed or read twice. */
static void test_renewal(void) {
  kinesis_client_t* c = serve_start();
  kinesis_consumer_t* k;
  sink_t sink;

  create_active_stream(&loop, c, "renew", 1);
  sink_init(&sink, "rn", 100);
  k = efo_consumer(c, "renew", "efo-renew", 1, &sink, NULL);
  produce(c, "renew", "rn", 0, 50, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 50, 20000, (void) 0);
  ASSERT_EQ(1, stats_of(k).subscriptions);
  ASSERT_OK(kinesis_serve_advance_clock(serve, 5 * 60 * 1000 + 1000));
  TEST_WAIT_UNTIL(&loop, stats_of(k).subscriptions == 2, 10000, (void) 0);
  produce(c, "renew", "rn", 50, 100, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 100, 20000, (void) 0);
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.order_violations);
  close_consumer(k);
  free(sink.seen);
  serve_finish(c);
}


/* A subscription of the same consumer to the shard is still open (a
 * subscriber that died, say): ResourceInUseException, and the consumer
 * tries again 5 s later, and gets in once the other has gone. */
static int other_ended;
static int other_status;


static int other_event(void* arg, kn_parsed_t* ev) {
  (void) arg;
  (void) ev;
  return 0;
}


static void other_end(void* arg, int status, const char* message) {
  (void) arg;
  (void) message;
  other_ended++;
  other_status = status;
}


static void on_described_arn(kinesis_client_t* c, int status,
                             const kinesis_result_t* r, void* arg) {
  char* arn = arg;
  (void) c;
  ASSERT_OK(status);
  ASSERT_NOT_NULL(r->consumers);
  snprintf(arn, 512, "%s", r->consumers[0].consumer_arn);
}


static void test_in_use(void) {
  kinesis_client_t* c = serve_start();
  kinesis_consumer_t* k;
  kinesis_iterator_request_t start;
  kn_efo_handlers_t h;
  kn_efo_sub_t* other;
  capture_t cap;
  sink_t sink;
  char arn[512] = "";
  uint64_t t0;
  int tries;

  create_active_stream(&loop, c, "inuse", 1);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_register_stream_consumer(c, "inuse", "efo-inuse",
                                                    capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_OK(kinesis_client_describe_stream_consumer(
      c, "inuse", "efo-inuse", NULL, on_described_arn, arn));
  TEST_WAIT_UNTIL(&loop, arn[0] != '\0', 5000, (void) 0);
  memset(&start, 0, sizeof(start));
  start.shard_id = "shardId-000000000000";
  start.type = KINESIS_ITERATOR_TRIM_HORIZON;
  memset(&h, 0, sizeof(h));
  h.on_event = other_event;
  h.on_end = other_end;
  /* The service may take a moment to call the consumer ACTIVE: until
   * then the subscription is refused, and tried again. */
  for (tries = 0; tries < 20; tries++) {
    other_ended = 0;
    ASSERT_OK(kn_efo_subscribe(c, arn, &start, &h, &other));
    run_loop_for(&loop, 500);
    if (other_ended == 0)
      break;
  }
  ASSERT_EQ(0, other_ended);
  sink_init(&sink, "iu", 20);
  produce(c, "inuse", "iu", 0, 20, 0);
  k = efo_consumer(c, "inuse", "efo-inuse", 0, &sink, NULL);
  TEST_WAIT_UNTIL(&loop, stats_of(k).subscriptions >= 1, 10000, (void) 0);
  run_loop_for(&loop, 1000);
  ASSERT_EQ(0, sink.delivered);
  t0 = uv_now(&loop);
  kn_efo_sub_cancel(other);
  TEST_WAIT_UNTIL(&loop, other_ended == 1, 5000, (void) 0);
  ASSERT_EQ(KINESIS_ECANCELED, other_status);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 20, 15000, (void) 0);
  /* It waited its 5 s from the refusal, no more than a few beyond. */
  ASSERT_LT(uv_now(&loop) - t0, 8000);
  ASSERT_GE(stats_of(k).subscriptions, 2);
  ASSERT_EQ(0, sink.duplicates);
  close_consumer(k);
  free(sink.seen);
  serve_finish(c);
}


/* The stream consumer is deregistered under a reader with efo_register:
 * its subscription ends (ResourceNotFoundException), the reader registers
 * it again and goes on after the last continuation. */
static void test_reregister(void) {
  kinesis_client_t* c = serve_start();
  kinesis_consumer_t* k;
  capture_t cap;
  sink_t sink;

  create_active_stream(&loop, c, "rereg", 1);
  sink_init(&sink, "rr", 60);
  k = efo_consumer(c, "rereg", "efo-rereg", 1, &sink, NULL);
  produce(c, "rereg", "rr", 0, 30, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 30, 20000, (void) 0);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_deregister_stream_consumer(
      c, "rereg", "efo-rereg", NULL, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  /* Past DELETING: the consumer is gone. */
  ASSERT_OK(kinesis_serve_advance_clock(serve, 60 * 1000));
  TEST_WAIT_UNTIL(&loop, stats_of(k).subscriptions >= 2, 20000, (void) 0);
  produce(c, "rereg", "rr", 30, 60, 0);
  TEST_WAIT_UNTIL(&loop, sink_distinct(&sink) == 60, 20000, (void) 0);
  run_loop_for(&loop, 300);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(1, kinesis_consumer_ready(k));
  /* Registered again, by the reader. */
  {
    char arn[512] = "";
    ASSERT_OK(kinesis_client_describe_stream_consumer(
        c, "rereg", "efo-rereg", NULL, on_described_arn, arn));
    TEST_WAIT_UNTIL(&loop, arn[0] != '\0', 5000, (void) 0);
  }
  close_consumer(k);
  free(sink.seen);
  serve_finish(c);
}


/* Each case against the fake service, then kinesis-mock. */
static void on_each_service(void (*fn)(void)) {
  const char* mock = getenv("KINESIS_TEST_MOCK_ENDPOINT");
  service = "the fake service";
  endpoint = test_endpoint();
  fn();
  if (mock == NULL) {
    ASSERT(getenv("CI") == NULL || strcmp(getenv("CI"), "true") != 0);
    fprintf(stderr, "(kinesis-mock not running: its half was not run)\n");
    return;
  }
  service = "kinesis-mock";
  endpoint = mock;
  fn();
}


static void test_plain(void) { on_each_service(test_round_trip_plain); }
static void test_aggregated(void) { on_each_service(test_round_trip_aggregated); }
static void test_missing(void) { on_each_service(test_missing_consumer); }
static void test_split(void) { on_each_service(test_reshard); }
static void test_two(void) { on_each_service(test_two_consumers); }
static void test_restart(void) { on_each_service(test_checkpoint_restart); }
static void test_pause(void) { on_each_service(test_backpressure); }
static void test_bad_options(void) {
  service = "the fake service";
  endpoint = test_endpoint();
  test_options();
}


KN_TEST_MAIN({"plain", test_plain}, {"aggregated", test_aggregated},
             {"missing", test_missing}, {"split", test_split},
             {"two", test_two}, {"restart", test_restart},
             {"pause", test_pause}, {"bad_options", test_bad_options},
             {"renewal", test_renewal}, {"in_use", test_in_use},
             {"reregister", test_reregister})
