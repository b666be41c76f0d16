#include "client_util.h"
#include "service.h"

#include <string.h>

#include "fault.h"

/* The consumer against kinesalite, with the producer on the same loop. */

static uv_loop_t loop;

/* What on_record saw. */
typedef struct {
  size_t n;                /* records expected */
  const char* prefix;
  uint32_t* seen;          /* deliveries per record index */
  char (*seq)[64];         /* the producer's sequence number per record */
  char (*shard)[32];       /* the producer's shard per record */
  size_t delivered;
  size_t duplicates;
  size_t foreign;          /* records not from this run */
  /* Per-shard order: the last sequence number seen on each of 8 shards. */
  char last_seq[8][140];
  int order_violations;
  int manual;              /* keep records for a later ack */
  const kinesis_consumer_record_t* held[4096];
  size_t nheld;
  int closed;
  size_t stop_after;       /* close the consumer after this many */
  kinesis_consumer_t* consumer;
} sink_t;

static sink_t sink;
static size_t produced;


static void wake(void) {
  uv_stop(&loop);
}


static int shard_index(const char* shard_id) {
  size_t len = strlen(shard_id);
  return shard_id[len - 1] - '0';
}


/* Sequence numbers compare as numbers: by length, then digits. */
static int seq_cmp(const char* a, const char* b) {
  size_t la = strlen(a);
  size_t lb = strlen(b);
  if (la != lb)
    return la < lb ? -1 : 1;
  return strcmp(a, b);
}


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  sink.closed++;
  wake();
}


static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  size_t plen = strlen(sink.prefix);
  size_t idx;
  int si;
  char text[64];
  (void) arg;

  ASSERT_NOT_NULL(r->sequence_number);
  ASSERT_NOT_NULL(r->shard_id);
  ASSERT_NOT_NULL(r->partition_key);
  sink.delivered++;
  si = shard_index(r->shard_id);
  ASSERT(si >= 0 && si < 8);
  /* Within a shard, sequence numbers never go back (equal inside one
   * aggregate). */
  if (sink.last_seq[si][0] != '\0' &&
      seq_cmp(r->sequence_number, sink.last_seq[si]) < 0)
    sink.order_violations++;
  snprintf(sink.last_seq[si], sizeof(sink.last_seq[si]), "%s",
           r->sequence_number);
  snprintf(text, sizeof(text), "%.*s", (int) r->len, (const char*) r->data);
  if (strncmp(text, sink.prefix, plen) != 0 || text[plen] != '-') {
    sink.foreign++;
  } else {
    idx = (size_t) strtoull(text + plen + 1, NULL, 10);
    ASSERT_LT(idx, sink.n);
    if (sink.seen[idx]++ > 0)
      sink.duplicates++;
    if (sink.seq != NULL && sink.seq[idx][0] != '\0') {
      ASSERT_STR_EQ(sink.seq[idx], r->sequence_number);
      ASSERT_STR_EQ(sink.shard[idx], r->shard_id);
    }
  }
  if (sink.manual) {
    ASSERT_LT(sink.nheld, 4096);
    sink.held[sink.nheld++] = r;
  }
  if (sink.stop_after > 0 && sink.delivered == sink.stop_after)
    ASSERT_OK(kinesis_consumer_close(c, on_closed, NULL));
  wake();
}


static void sink_init(size_t n, const char* prefix) {
  free(sink.seen);
  free(sink.seq);
  free(sink.shard);
  memset(&sink, 0, sizeof(sink));
  sink.n = n;
  sink.prefix = prefix;
  sink.seen = calloc(n, sizeof(*sink.seen));
  sink.seq = calloc(n, sizeof(*sink.seq));
  sink.shard = calloc(n, sizeof(*sink.shard));
  ASSERT(sink.seen && sink.seq && sink.shard);
}


static size_t sink_distinct(void) {
  size_t i;
  size_t n = 0;
  for (i = 0; i < sink.n; i++)
    n += sink.seen[i] > 0;
  return n;
}


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, test_endpoint());
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* ---- Producing ---- */

static size_t next_put;
static int producer_closed;


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  size_t idx = (size_t) (uintptr_t) arg;
  (void) p;
  ASSERT_OK(status);
  snprintf(sink.seq[idx], sizeof(sink.seq[idx]), "%s", res->sequence_number);
  snprintf(sink.shard[idx], sizeof(sink.shard[idx]), "%s", res->shard_id);
  produced++;
  wake();
}


static void put_more(kinesis_producer_t* p) {
  while (next_put < sink.n) {
    char data[64];
    char key[32];
    kinesis_record_t rec;
    int r;
    snprintf(data, sizeof(data), "%s-%zu", sink.prefix, next_put);
    snprintf(key, sizeof(key), "k%zu", next_put % 997);
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = key;
    r = kinesis_producer_put(p, &rec, on_put, (void*) (uintptr_t) next_put);
    if (r == KINESIS_EQUEUEFULL)
      return;
    ASSERT_OK(r);
    next_put++;
  }
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  put_more(p);
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  producer_closed = 1;
  wake();
}


static kinesis_producer_t* start_producer(kinesis_client_t* c,
                                          const char* stream, int aggregate) {
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 20;
  o.put_rate_limit_per_shard = 0;
  o.put_bandwidth_limit_per_shard = 0;
  o.aggregate = aggregate;
  o.on_drain = on_drain;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  next_put = 0;
  produced = 0;
  producer_closed = 0;
  put_more(p);
  return p;
}


static void close_producer(kinesis_producer_t* p) {
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, NULL));
  while (!producer_closed)
    uv_run(&loop, UV_RUN_ONCE);
}


static void consumer_options(kinesis_consumer_options_t* o, const char* stream) {
  kinesis_consumer_options_init(o);
  o->stream = stream;
  o->on_record = on_record;
  o->sleep_time_no_records_ms = 100;
  o->shard_fetch_rate = 50;
  o->checkpoint_interval_ms = 100;
  o->shard_discovery_ms = 1000;
}


static void close_consumer(kinesis_consumer_t* k) {
  ASSERT_OK(kinesis_consumer_close(k, on_closed, NULL));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_consumer_close(k, on_closed, NULL));
  while (!sink.closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(1, sink.closed);
}


/* ---- Tests ---- */

static void test_round_trip_on_one_loop(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  kinesis_consumer_stats_t st;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("cround"));
  create_active_stream(&loop, c, stream, 4);
  sink_init(100000, "rt");
  consumer_options(&o, stream);
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_consumer_start(k));
  p = start_producer(c, stream, 0);
  while (sink_distinct() < sink.n || produced < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.foreign);
  ASSERT_EQ(0, sink.order_violations);
  ASSERT_EQ(sink.n, sink.delivered);
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  ASSERT_EQ(sink.n, st.records_delivered);
  ASSERT_EQ(sink.n, st.records_acked);
  ASSERT_EQ(4, st.nshards);
  close_consumer(k);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void on_cp_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (*(int*) arg)++;
  wake();
}


static void test_restart_resumes(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  kinesis_checkpointer_t* cp;
  char stream[128];
  int cp_closed = 0;
  size_t first;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("crestart"));
  create_active_stream(&loop, c, stream, 2);
  sink_init(4000, "rs");
  p = start_producer(c, stream, 0);
  while (produced < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);

  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  consumer_options(&o, stream);
  o.checkpointer = cp;
  o.owner = "first";
  o.record_limit = 100;
  sink.stop_after = 1500;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  while (!sink.closed)
    uv_run(&loop, UV_RUN_ONCE);
  first = sink.delivered;
  ASSERT_EQ(1500, first);

  /* Another consumer on the same checkpointer picks up where it stopped:
   * every record, and with automatic acks and a final checkpoint at close,
   * none twice. */
  sink.closed = 0;
  sink.stop_after = 0;
  o.owner = "second";
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  while (sink_distinct() < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(sink.n, sink.delivered);
  close_consumer(k);
  kinesis_checkpointer_close(cp, on_cp_closed, &cp_closed);
  while (!cp_closed)
    uv_run(&loop, UV_RUN_ONCE);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_backpressure_manual_ack(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  kinesis_consumer_stats_t st;
  char stream[128];
  uint64_t calls;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("cback"));
  create_active_stream(&loop, c, stream, 2);
  sink_init(5000, "bp");
  p = start_producer(c, stream, 0);
  while (produced < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);

  consumer_options(&o, stream);
  o.manual_ack = 1;
  o.max_queue_size = 300;
  o.max_unacked = 200;
  sink.manual = 1;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  /* Nothing is acknowledged: delivery stops at max_unacked, the queue fills
   * to max_queue_size, and fetching stops. */
  while (sink.delivered < 200)
    uv_run(&loop, UV_RUN_ONCE);
  /* Let it settle for a while: nothing more may arrive. */
  run_loop_for(&loop, 500);
  ASSERT_EQ(200, sink.delivered);
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  ASSERT_EQ(200, st.unacked);
  ASSERT_LE(st.queue_depth, 300);
  ASSERT_GT(st.queue_depth, 0);
  calls = st.get_records_calls;
  run_loop_for(&loop, 500);
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  /* Paused: no GetRecords while the queue is full. */
  ASSERT_EQ(calls, st.get_records_calls);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_ack(k, NULL));

  /* Acknowledge as they come: everything arrives. */
  while (sink_distinct() < sink.n) {
    for (i = 0; i < sink.nheld; i++)
      ASSERT_OK(kinesis_consumer_ack(k, sink.held[i]));
    sink.nheld = 0;
    uv_run(&loop, UV_RUN_ONCE);
  }
  for (i = 0; i < sink.nheld; i++)
    ASSERT_OK(kinesis_consumer_ack(k, sink.held[i]));
  sink.nheld = 0;
  ASSERT_EQ(0, sink.duplicates);
  close_consumer(k);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_aggregated_records(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("cagg"));
  create_active_stream(&loop, c, stream, 2);
  sink_init(20000, "ag");
  consumer_options(&o, stream);
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_OK(kinesis_consumer_start(k));
  p = start_producer(c, stream, 1);
  while (sink_distinct() < sink.n || produced < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);
  ASSERT_EQ(0, sink.duplicates);
  ASSERT_EQ(0, sink.order_violations);
  close_consumer(k);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static int stopped;


static void on_stopped(kinesis_consumer_t* k, int status, void* arg) {
  (void) k;
  (void) arg;
  ASSERT_OK(status);
  stopped++;
  wake();
}


static int claim_status;


static void on_claim(int status, const kinesis_checkpoint_t* ckpt, void* arg) {
  (void) arg;
  ASSERT_NOT_NULL(ckpt);
  /* The stopped consumer checkpointed what it had delivered. */
  ASSERT_NOT_NULL(ckpt->sequence_number);
  claim_status = status;
  wake();
}


static void on_release(int status, void* arg) {
  (void) arg;
  claim_status = status;
  wake();
}


static void test_stop_and_start_again(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_consumer_options_t o;
  kinesis_consumer_stats_t st;
  kinesis_checkpointer_t* cp;
  char stream[128];
  int cp_closed = 0;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("cstop"));
  create_active_stream(&loop, c, stream, 2);
  sink_init(3000, "st");
  p = start_producer(c, stream, 0);
  while (produced < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);

  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  consumer_options(&o, stream);
  o.checkpointer = cp;
  o.record_limit = 200;
  o.owner = "stopper";
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_stop(k, on_stopped, NULL));
  ASSERT_OK(kinesis_consumer_start(k));
  while (sink.delivered < 1000)
    uv_run(&loop, UV_RUN_ONCE);
  stopped = 0;
  ASSERT_OK(kinesis_consumer_stop(k, on_stopped, NULL));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_consumer_stop(k, on_stopped, NULL));
  ASSERT_EQ(0, stopped);
  while (!stopped)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  for (i = 0; i < st.nshards; i++)
    ASSERT_STR_EQ("new", st.shards[i].state);

  /* The leases are free: another owner can take them at once. */
  for (i = 0; i < 2; i++) {
    char shard[32];
    claim_status = 1;
    snprintf(shard, sizeof(shard), "shardId-00000000000%zu", i);
    ASSERT_OK(cp->ops->claim(cp->self, stream, shard, "visitor", on_claim,
                             NULL));
    while (claim_status == 1)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_OK(claim_status);
    claim_status = 1;
    ASSERT_OK(cp->ops->release(cp->self, stream, shard, "visitor", on_release,
                               NULL));
    while (claim_status == 1)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_OK(claim_status);
  }

  /* Started again, it carries on from its checkpoints. */
  ASSERT_OK(kinesis_consumer_start(k));
  while (sink_distinct() < sink.n)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(0, sink.duplicates);
  close_consumer(k);
  kinesis_checkpointer_close(cp, on_cp_closed, &cp_closed);
  while (!cp_closed)
    uv_run(&loop, UV_RUN_ONCE);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_bad_options(void) {
  kinesis_client_t* c;
  kinesis_consumer_options_t o;
  kinesis_consumer_t* k;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  kinesis_consumer_options_init(&o);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.stream = "s";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k)); /* on_record */
  o.on_record = on_record;
  o.record_limit = 10001;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.record_limit = 100;
  o.shard_fetch_rate = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.shard_fetch_rate = 5;
  o.iterator_type = KINESIS_ITERATOR_AT_TIMESTAMP;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k)); /* no time */
  o.iterator_type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.iterator_type = KINESIS_ITERATOR_LATEST;
  o.max_queue_size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.max_queue_size = 10;
  o.stream = "not a stream";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &o, &k));
  o.stream = "s";
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, NULL, NULL));
  close_consumer(k);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_close(NULL, NULL, NULL));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_bad_options), KN_TEST(test_stop_and_start_again), KN_TEST(test_backpressure_manual_ack),
             KN_TEST(test_restart_resumes), KN_TEST(test_aggregated_records),
             KN_TEST(test_round_trip_on_one_loop))
