#include "client_util.h"
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aggregation.h"
#include "fault.h"
#include "shardmap.h"

/* The producer's issue 15 points against kinesalite and the fault server:
 * aggregates re-routed after a split, ordered mode under throttling and
 * partial failures, no TTL against a slow service, the stall timeout, the
 * possible duplicates counted, the stream's record size limit, the byte
 * rate limit measured, and a split during a plain put. Every record's
 * callback is counted: it must run exactly once. */

static uv_loop_t loop;

typedef struct {
  int calls;
  int status;
  char shard_id[64];
  char seq[140];
  char error_message[256];
} rec_result_t;

typedef struct {
  rec_result_t* results;
  size_t n;           /* records to put */
  size_t next;        /* the next one to put */
  size_t done;
  size_t ok;
  size_t failed;
  size_t nkeys;
  const char* prefix;
  size_t data_len;    /* 0: just "<prefix>-<i>" */
  int closed;
} run_t;

static run_t run;


/* Callbacks can run in the timer phase: stop the loop so that a waiting
 * UV_RUN_ONCE returns and its condition is looked at. */
static void wake(void) {
  uv_stop(&loop);
}


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  rec_result_t* r = arg;
  (void) p;
  ASSERT_NOT_NULL(res);
  r->calls++;
  ASSERT_EQ(1, r->calls);
  r->status = status;
  if (status == 0) {
    ASSERT_NOT_NULL(res->shard_id);
    ASSERT_NOT_NULL(res->sequence_number);
    snprintf(r->shard_id, sizeof(r->shard_id), "%s", res->shard_id);
    snprintf(r->seq, sizeof(r->seq), "%s", res->sequence_number);
    run.ok++;
  } else {
    ASSERT_NOT_NULL(res->error_message);
    snprintf(r->error_message, sizeof(r->error_message), "%s",
             res->error_message);
    run.failed++;
  }
  run.done++;
  wake();
}


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  ASSERT_EQ(run.next, run.done);
  run.closed++;
  wake();
}


static void run_init(size_t n, const char* prefix, size_t nkeys) {
  free(run.results);
  memset(&run, 0, sizeof(run));
  run.results = calloc(n, sizeof(*run.results));
  ASSERT_NOT_NULL(run.results);
  run.n = n;
  run.prefix = prefix;
  run.nkeys = nkeys;
}


static void run_free(void) {
  free(run.results);
  memset(&run, 0, sizeof(run));
}


static void record_key(size_t i, char* buf, size_t size) {
  snprintf(buf, size, "key-%zu", i % run.nkeys);
}


/* Puts records [run.next, upto): each one's data starts "<prefix>-<i>."
 * and is padded to run.data_len. */
static void put_upto(kinesis_producer_t* p, size_t upto) {
  static char data[16 * 1024];
  ASSERT_LE(run.data_len, sizeof(data));
  while (run.next < upto) {
    char key[32];
    kinesis_record_t rec;
    int n = snprintf(data, sizeof(data), "%s-%zu.", run.prefix, run.next);
    size_t len = (size_t) n;
    if (run.data_len > len) {
      memset(data + len, 'x', run.data_len - len);
      len = run.data_len;
    }
    record_key(run.next, key, sizeof(key));
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = len;
    rec.partition_key = key;
    ASSERT_OK(kinesis_producer_put(p, &rec, on_put, &run.results[run.next]));
    run.next++;
  }
}


static void wait_done(size_t n, uint64_t ms) {
  TEST_WAIT_UNTIL(&loop, run.done >= n, ms,
                  fprintf(stderr, "%zu of %zu settled\n", run.done, n));
}


static void close_producer(kinesis_producer_t* p) {
  run.closed = 0;
  ASSERT_OK(kinesis_producer_close(p, on_closed, NULL));
  TEST_WAIT_UNTIL(&loop, run.closed == 1, 60000, (void) 0);
}


static kinesis_client_t* new_client(const char* endpoint) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, endpoint);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* ---- Reading the stream back, as a KCL reader does ---- */

typedef struct {
  char id[64];
  kn_hash_key_t start;
  kn_hash_key_t end;
} shard_range_t;

typedef struct {
  shard_range_t shards[16];
  size_t nshards;
  size_t* seen;          /* per record index: copies a reader gets */
  size_t* order;         /* record indexes in the order read, per shard */
  size_t norder;
  size_t dropped;        /* aggregates dropped by the KCL's rule */
  size_t plain;          /* records read that were not aggregates */
  size_t aggregates;
  int check_results;     /* each copy is where the callback said */
  /* The shard being read and the record read before, to see that records
   * of one shard come in order. */
  char last_shard[64];
} reader_t;


static void on_listed(kinesis_client_t* c, int status,
                      const kinesis_result_t* res, void* arg) {
  reader_t* rd = arg;
  size_t i;
  (void) c;
  ASSERT_OK(status);
  ASSERT_LE(res->nshards, 16);
  for (i = 0; i < res->nshards; i++) {
    shard_range_t* s = &rd->shards[i];
    snprintf(s->id, sizeof(s->id), "%s", res->shards[i].shard_id);
    ASSERT_OK(kn_hash_key_parse(res->shards[i].starting_hash_key, &s->start));
    ASSERT_OK(kn_hash_key_parse(res->shards[i].ending_hash_key, &s->end));
  }
  rd->nshards = res->nshards;
  wake();
}


static const shard_range_t* reader_shard(const reader_t* rd,
                                         const char* id) {
  size_t i;
  for (i = 0; i < rd->nshards; i++)
    if (strcmp(rd->shards[i].id, id) == 0)
      return &rd->shards[i];
  fprintf(stderr, "shard %s was not listed\n", id);
  abort();
}


/* A user record read from `shard` at `seq`: counted, and checked against
 * what its callback said. */
static void reader_take(reader_t* rd, const uint8_t* data, size_t len,
                        const char* shard, const char* seq) {
  size_t plen = strlen(run.prefix);
  size_t idx;
  char* end;
  char buf[64];

  if (len <= plen || memcmp(data, run.prefix, plen) != 0 ||
      data[plen] != '-')
    return;
  memcpy(buf, data + plen + 1, len - plen - 1 < 63 ? len - plen - 1 : 63);
  buf[len - plen - 1 < 63 ? len - plen - 1 : 63] = '\0';
  idx = (size_t) strtoull(buf, &end, 10);
  ASSERT_EQ('.', *end);
  ASSERT_LT(idx, run.n);
  rd->seen[idx]++;
  rd->order[rd->norder++] = idx;
  if (rd->check_results && rd->seen[idx] == 1) {
    ASSERT_STR_EQ(run.results[idx].shard_id, shard);
    ASSERT_STR_EQ(run.results[idx].seq, seq);
  }
}


static void on_read(const char* shard, const kinesis_fetched_record_t* f,
                    void* arg) {
  reader_t* rd = arg;
  kn_deagg_record_t* users = NULL;
  size_t n = 0;
  size_t k;
  int r = kn_deagg(f->data, f->len, &users, &n);

  ASSERT(r == 0 || r == 1);
  if (r == 0) {
    rd->plain++;
    reader_take(rd, f->data, f->len, shard, f->sequence_number);
    return;
  }
  rd->aggregates++;
  {
    const shard_range_t* s = reader_shard(rd, shard);
    /* The KCL's rule: one user record outside the shard's range and the
     * whole aggregate is dropped. */
    if (!kn_deagg_in_range(users, n, &s->start, &s->end)) {
      rd->dropped++;
      free(users);
      return;
    }
  }
  for (k = 0; k < n; k++)
    reader_take(rd, users[k].data, users[k].len, shard, f->sequence_number);
  free(users);
}


/* Lists the shards and reads every record of `stream`; with
 * `check_results`, the first copy of each record a reader keeps is where
 * its callback said it landed. */
static void reader_read(reader_t* rd, kinesis_client_t* c,
                        const char* stream, int check_results) {
  memset(rd, 0, sizeof(*rd));
  rd->seen = calloc(run.n, sizeof(size_t));
  rd->order = calloc(run.n * 4 + 16, sizeof(size_t));
  ASSERT(rd->seen != NULL && rd->order != NULL);
  rd->check_results = check_results;
  ASSERT_OK(kinesis_client_list_shards(c, stream, on_listed, rd));
  TEST_WAIT_UNTIL(&loop, rd->nshards > 0, 10000, (void) 0);
  read_whole_stream(&loop, c, stream, on_read, rd);
}


static void reader_free(reader_t* rd) {
  free(rd->seen);
  free(rd->order);
}


/* A reader got every record that succeeded exactly once. */
static void expect_each_once(const reader_t* rd) {
  size_t i;
  for (i = 0; i < run.n; i++) {
    if (run.results[i].status != 0)
      continue;
    if (rd->seen[i] != 1)
      fprintf(stderr, "record %zu read %zu times\n", i, rd->seen[i]);
    ASSERT_EQ(1, rd->seen[i]);
  }
}


/* ---- A split in the middle of a put ---- */

static void split_in_half(const char* ep, kinesis_client_t* c,
                          const char* stream) {
  char body[512];
  long status = 0;
  capture_t cap;

  snprintf(body, sizeof(body),
           "{\"StreamName\":\"%s\",\"ShardToSplit\":"
           "\"shardId-000000000000\",\"NewStartingHashKey\":"
           "\"170141183460469231731687303715884105728\"}",
           stream);
  ASSERT_OK(kn_test_kinesis_call(ep, "SplitShard", body, NULL, &status));
  ASSERT_EQ(200, status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 20, 10000, capture_cb,
                                           &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
}


/* Records go out slowly (a few requests a second), the shard is split when
 * a third have landed, and the rest follow. The producer lists the shards
 * only when an answer surprises it. */
static void split_during_put(int aggregate) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  reader_t rd;
  char stream[128];
  size_t i;
  size_t on_children = 0;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s",
           test_stream_name(aggregate ? "mosplita" : "mosplitp"));
  create_active_stream(&loop, c, stream, 1);
  run_init(aggregate ? 1500 : 600, aggregate ? "sa" : "sp", 97);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 10;
  o.aggregate = aggregate;
  o.shard_refresh_ms = 600000;
  /* Small aggregates of about 25 records, 10 a second (after a burst of
   * 10); plain records 100 a second (after 100). Either takes about 5 s. */
  o.max_record_size = 512;
  o.put_rate_limit_per_shard = aggregate ? 10 : 100;
  o.batch_size = aggregate ? 2 : 10;
  o.record_ttl_ms = 0;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_upto(p, run.n);
  wait_done(run.n / 3, 30000);
  ASSERT_LT(run.done, run.n);
  split_in_half(ep, c, stream);
  wait_done(run.n, 60000);
  ASSERT_EQ(run.n, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(2, st.shards);
  for (i = 0; i < run.n; i++)
    if (strcmp(run.results[i].shard_id, "shardId-000000000000") != 0)
      on_children++;
  ASSERT_GT(on_children, 0);
  printf("%s: %zu records, %zu on the children, %llu re-routed, %llu "
         "requests\n", aggregate ? "aggregated" : "plain", run.n, on_children,
         (unsigned long long) st.records_rerouted,
         (unsigned long long) st.requests);
  if (aggregate)
    /* The first aggregates after the split mix keys of both children. */
    ASSERT_GT(st.records_rerouted, 0);
  else
    ASSERT_EQ(0, st.records_rerouted);
  close_producer(p);

  reader_read(&rd, c, stream, 1);
  expect_each_once(&rd);
  if (aggregate) {
    /* Every aggregate dropped was put again: its records were counted. */
    ASSERT_GT(rd.aggregates, 0);
    printf("aggregated: %zu aggregates read, %zu dropped by the KCL's rule\n",
           rd.aggregates, rd.dropped);
    ASSERT_GT(rd.dropped, 0);
  } else {
    ASSERT_EQ(0, rd.aggregates);
    ASSERT_EQ(run.n, rd.plain);
  }
  reader_free(&rd);
  run_free();
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_split_during_aggregated_put(void) {
  split_during_put(1);
}


static void test_split_during_plain_put(void) {
  split_during_put(0);
}


/* ---- Ordered mode ---- */

/* Records read that came after a later record of their key: 0 when each
 * key's records are in put order. */
static size_t out_of_order(const reader_t* rd) {
  size_t* last = calloc(run.nkeys, sizeof(size_t));
  size_t bad = 0;
  size_t i;

  ASSERT_NOT_NULL(last);
  for (i = 0; i < run.nkeys; i++)
    last[i] = SIZE_MAX;
  for (i = 0; i < rd->norder; i++) {
    size_t idx = rd->order[i];
    size_t key = idx % run.nkeys;
    if (last[key] != SIZE_MAX && last[key] > idx)
      bad++;
    last[key] = idx;
  }
  free(last);
  return bad;
}


/* Puts 800 records over 12 keys to a 2-shard stream through seeded chaos:
 * whole requests throttled, 5xx answers (sent without writing anything),
 * and answers with some entries failed while the others are written.
 * Returns the records read out of their key's order. */
static size_t put_through_chaos(int ordered) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  reader_t rd;
  char stream[128];
  char* stats;
  const char* failed_inside;
  unsigned long entries_failed = 0;
  size_t bad;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s",
           test_stream_name(ordered ? "moorder" : "mounorder"));
  create_active_stream(&loop, c, stream, 2);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_chaos(fault,
                           "{\"seed\":15,\"target\":\"PutRecords\","
                           "\"throttle\":0.15,\"error_5xx\":0.1,"
                           "\"partial\":0.4,\"partial_record_rate\":0.3}"));
  run_init(800, "o", 12);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 5;
  o.batch_size = 40;
  o.ordered = ordered;
  o.max_attempts = 0;
  o.retry_base_ms = 5;
  o.retry_cap_ms = 40;
  o.record_ttl_ms = 0;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_upto(p, run.n);
  wait_done(run.n, 100000);
  ASSERT_EQ(run.n, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  stats = kn_fault_chaos_stats(fault);
  ASSERT_NOT_NULL(stats);
  printf("%s: %zu records, %llu requests, %llu retried, %llu throttled; "
         "chaos %s\n", ordered ? "ordered" : "default", run.n,
         (unsigned long long) st.requests,
         (unsigned long long) st.records_retried,
         (unsigned long long) st.records_throttled, stats);
  /* The faults happened: records were failed inside answers, as the fault
   * server counted them. (The producer's own count of throttled records
   * depends on how the records fell into requests, which is timing: in the
   * default mode's few large requests it was once 17 under ASan.) */
  failed_inside = strstr(stats, "\"partial_records_failed\":");
  ASSERT_NOT_NULL(failed_inside);
  ASSERT_EQ(1, sscanf(failed_inside, "\"partial_records_failed\":%lu",
                      &entries_failed));
  free(stats);
  ASSERT_GT(entries_failed, 20);
  ASSERT_GT(st.records_throttled, 0);
  ASSERT_GE(st.records_retried, entries_failed);
  ASSERT_OK(kn_fault_chaos_off(fault));
  close_producer(p);

  /* 5xx answers write nothing, so there are no duplicates. */
  reader_read(&rd, c, stream, 1);
  expect_each_once(&rd);
  bad = out_of_order(&rd);
  printf("%s: %zu records read after a later record of their key\n",
         ordered ? "ordered" : "default", bad);
  reader_free(&rd);
  run_free();
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  return bad;
}


/* Each key's records, in the order each shard holds them, are in put
 * order. */
static void test_ordered_with_faults(void) {
  ASSERT_EQ(0, put_through_chaos(1));
}


/* The same faults in the default mode put records out of order, as its
 * documentation says: the check above can see disorder. */
static void test_default_mode_reorders(void) {
  ASSERT_GT(put_through_chaos(0), 0);
}


/* ---- A slow service, a stalled one, and possible duplicates ---- */

static kinesis_producer_t* slow_producer(kinesis_client_t* c,
                                         const char* stream,
                                         uint32_t stall_ms) {
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 5;
  o.batch_size = 20;
  o.max_in_flight = 1;
  o.retry_base_ms = 10;
  o.retry_cap_ms = 100;
  o.record_ttl_ms = 0;
  o.max_attempts = 0;
  o.stall_timeout_ms = stall_ms;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  return p;
}


/* Every PutRecords waits 250 ms: 300 records in 15 requests take about
 * 4 s, twice the stall timeout, and with no TTL every one lands. */
static void test_slow_service_no_ttl(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  reader_t rd;
  char stream[128];
  uint64_t start;
  double elapsed;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("moslow"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault,
                            "{\"target\":\"PutRecords\",\"delay_ms\":250,"
                            "\"proxy\":true,\"times\":1000}"));
  run_init(300, "slow", 10);
  p = slow_producer(c, stream, 2000);
  uv_update_time(&loop);
  start = uv_now(&loop);
  put_upto(p, run.n);
  wait_done(run.n, 60000);
  elapsed = (double) (uv_now(&loop) - start) / 1000.0;
  printf("slow service: %zu records in %.1f s\n", run.n, elapsed);
  ASSERT_EQ(run.n, run.ok);
  ASSERT(elapsed > 3.0);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(0, st.records_failed);
  ASSERT_EQ(0, st.records_maybe_duplicated);
  close_producer(p);
  ASSERT_OK(kn_fault_reset(fault));
  reader_read(&rd, c, stream, 1);
  expect_each_once(&rd);
  reader_free(&rd);
  run_free();
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* The service stops answering for good: after stall_timeout_ms without an
 * acknowledgement every record fails with KINESIS_ETIMEDOUT, once. A record
 * put afterwards gets a stall timeout of its own, and lands once the
 * service is back. */
static void test_stall_fails_records(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  char stream[128];
  uint64_t start;
  uint64_t elapsed;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mostall"));
  create_active_stream(&loop, c, stream, 2);
  ASSERT_OK(kn_fault_reset(fault));
  run_init(201, "stall", 10);
  p = slow_producer(c, stream, 2000);
  /* One record lands: the producer has its map and its record size. */
  put_upto(p, 1);
  wait_done(1, 10000);
  ASSERT_EQ(1, run.ok);

  ASSERT_OK(kn_fault_kinesalite_down(fault, 120000));
  uv_update_time(&loop);
  start = uv_now(&loop);
  put_upto(p, 200);
  wait_done(200, 20000);
  uv_update_time(&loop);
  elapsed = uv_now(&loop) - start;
  printf("stall: 199 records failed after %llu ms\n",
         (unsigned long long) elapsed);
  ASSERT_GE(elapsed, 1900);
  ASSERT_LE(elapsed, 6000);
  ASSERT_EQ(1, run.ok);
  for (i = 1; i < 200; i++) {
    ASSERT_EQ(KINESIS_ETIMEDOUT, run.results[i].status);
    ASSERT(strstr(run.results[i].error_message, "stall_timeout_ms") != NULL);
  }
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(199, st.records_failed);

  /* The next record waits, its own stall timeout not passed, and lands. */
  put_upto(p, 201);
  run_loop_for(&loop, 200);
  ASSERT_EQ(200, run.done);
  ASSERT_OK(kn_fault_kinesalite_up(fault));
  wait_done(201, 20000);
  ASSERT_EQ(0, run.results[200].status);
  close_producer(p);
  ASSERT_OK(kn_fault_reset(fault));
  run_free();
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A request whose answer is cut after kinesalite stored its records is
 * sent again: those records are in the stream twice, and counted. */
static void test_duplicates_counted(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  reader_t rd;
  char stream[128];
  size_t i;
  size_t twice = 0;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("modup"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault,
                            "{\"target\":\"PutRecords\","
                            "\"drop_after_write\":true}"));
  run_init(20, "dup", 5);
  p = slow_producer(c, stream, 10000);
  put_upto(p, run.n);
  wait_done(run.n, 20000);
  ASSERT_EQ(run.n, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  close_producer(p);
  reader_read(&rd, c, stream, 0);
  for (i = 0; i < run.n; i++) {
    ASSERT_GE(rd.seen[i], 1);
    if (rd.seen[i] > 1)
      twice += rd.seen[i] - 1;
  }
  printf("duplicates: %zu copies too many, %llu counted\n", twice,
         (unsigned long long) st.records_maybe_duplicated);
  ASSERT_GT(twice, 0);
  ASSERT_GE(st.records_maybe_duplicated, twice);
  /* No more than the records of the one request sent again. */
  ASSERT_LE(st.records_maybe_duplicated, 20);
  reader_free(&rd);
  ASSERT_OK(kn_fault_reset(fault));
  run_free();
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The stream's record size limit ---- */

static int big_status;
static int big_calls;
static char big_message[256];


static void on_big(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  (void) p;
  (void) arg;
  big_calls++;
  big_status = status;
  snprintf(big_message, sizeof(big_message), "%s",
           res->error_message != NULL ? res->error_message : "");
  wake();
}


static int put_bytes(kinesis_producer_t* p, const void* data, size_t len) {
  kinesis_record_t rec;
  memset(&rec, 0, sizeof(rec));
  rec.data = data;
  rec.len = len;
  rec.partition_key = "k";
  return kinesis_producer_put(p, &rec, on_big, NULL);
}


/* kinesalite does not say MaxRecordSizeInKiB: the limit is 1 MiB, data
 * and partition key. A larger record put before the producer knows is
 * taken, then fails; after, put refuses it. */
static void test_record_size_default(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  char stream[128];
  uint8_t* data = calloc(10u * 1024 * 1024 + 1, 1);

  ASSERT_NOT_NULL(data);
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mosize"));
  create_active_stream(&loop, c, stream, 1);
  kinesis_producer_options_init(&o);
  ASSERT_EQ(0, o.max_record_size);
  o.stream = stream;
  o.buffer_time_ms = 5;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  big_calls = 0;
  ASSERT_EQ(KINESIS_EINVAL, put_bytes(p, data, 10u * 1024 * 1024));
  ASSERT_OK(put_bytes(p, data, 1024 * 1024));
  TEST_WAIT_UNTIL(&loop, big_calls == 1, 10000, (void) 0);
  ASSERT_EQ(KINESIS_EINVAL, big_status);
  ASSERT(strstr(big_message, "MaxRecordSizeInKiB") != NULL);
  /* Known now: put refuses at once, and takes the largest record. */
  ASSERT_EQ(KINESIS_EINVAL, put_bytes(p, data, 1024 * 1024));
  ASSERT_OK(put_bytes(p, data, 1024 * 1024 - 1));
  TEST_WAIT_UNTIL(&loop, big_calls == 2, 10000, (void) 0);
  ASSERT_OK(big_status);
  run.next = run.done = 0;
  close_producer(p);
  free(data);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A stream that says MaxRecordSizeInKiB 10240 (through the fault server,
 * kinesalite cannot): a 6 MiB record goes out, alone in its request, over
 * max_batch_bytes. kinesalite would refuse it, so the fault server answers
 * that request. */
static void test_record_size_from_stream(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  char stream[128];
  char script[2048];
  json_t* log;
  json_t* v;
  size_t i;
  size_t big_bodies = 0;
  uint8_t* data = malloc(10u * 1024 * 1024 + 1);

  ASSERT_NOT_NULL(data);
  memset(data, 'z', 10u * 1024 * 1024 + 1);
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mosize10"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  snprintf(script, sizeof(script),
           "[{\"target\":\"DescribeStreamSummary\",\"status\":200,\"body\":"
           "{\"StreamDescriptionSummary\":{\"StreamName\":\"%s\","
           "\"StreamARN\":\"arn:aws:kinesis:us-east-1:000000000000:stream/"
           "%s\",\"StreamStatus\":\"ACTIVE\",\"RetentionPeriodHours\":24,"
           "\"StreamCreationTimestamp\":1700000000,\"EnhancedMonitoring\":"
           "[],\"OpenShardCount\":1,\"MaxRecordSizeInKiB\":10240}}},"
           "{\"target\":\"PutRecords\",\"status\":200,\"body\":"
           "{\"FailedRecordCount\":0,\"Records\":[{\"ShardId\":"
           "\"shardId-000000000000\",\"SequenceNumber\":"
           "\"49000000000000000000000000000000000000000000000000000001\"}]}}]",
           stream, stream);
  ASSERT_OK(kn_fault_script(fault, script));
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 5;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  big_calls = 0;
  ASSERT_EQ(KINESIS_EINVAL, put_bytes(p, data, 10u * 1024 * 1024));
  ASSERT_OK(put_bytes(p, data, 6u * 1024 * 1024));
  TEST_WAIT_UNTIL(&loop, big_calls == 1, 20000, (void) 0);
  if (big_status != 0)
    fprintf(stderr, "6 MiB record: %s\n", big_message);
  ASSERT_OK(big_status);
  /* The limit is the stream's: 10 MiB, data and partition key. */
  ASSERT_EQ(KINESIS_EINVAL, put_bytes(p, data, 10u * 1024 * 1024));
  run.next = run.done = 0;
  close_producer(p);

  log = kn_fault_log_json(fault);
  ASSERT_NOT_NULL(log);
  json_array_foreach(log, i, v) {
    const char* t = json_string_value(json_object_get(v, "target"));
    const char* body = json_string_value(json_object_get(v, "body"));
    if (t != NULL && strcmp(t, "PutRecords") == 0 && body != NULL &&
        strlen(body) > 8u * 1024 * 1024)
      big_bodies++;
  }
  json_decref(log);
  ASSERT_EQ(1, big_bodies);
  ASSERT_OK(kn_fault_reset(fault));
  free(data);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The byte rate limit, measured ---- */

static uint64_t rate_start;
static uint64_t rate_bytes;
static double rate_worst;


/* After each answer: the bytes sent so far against what the bucket lets
 * through by now (its burst, then 1 MiB a second). */
static void on_rate_flush(kinesis_producer_t* p,
                          const kinesis_flush_info_t* info, void* arg) {
  double secs = (double) (uv_now(&loop) - rate_start) / 1000.0;
  double allowed = (1024.0 * 1024 + 256) + 1024.0 * 1024 * secs;
  (void) p;
  (void) arg;
  rate_bytes += info->bytes;
  if ((double) rate_bytes / allowed > rate_worst)
    rate_worst = (double) rate_bytes / allowed;
}


/* 320 records of 10 KiB (3.2 MiB) to one shard, the record rate limit
 * off: the byte limit (1 MiB/s after a burst of 1 MiB) holds it to about
 * 2.2 s, and the stats show that rate. */
static void test_byte_rate_limit(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  char stream[128];
  double elapsed;
  double rate;
  uint64_t expected = 0;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("mobytes"));
  create_active_stream(&loop, c, stream, 1);
  run_init(320, "b", 20);
  run.data_len = 10 * 1024;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 10;
  o.put_rate_limit_per_shard = 0;
  o.after_flush = on_rate_flush;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  /* The producer knows its map and record size before the clock starts. */
  put_upto(p, 1);
  wait_done(1, 10000);
  uv_update_time(&loop);
  rate_start = uv_now(&loop);
  rate_bytes = 0;
  rate_worst = 0;
  put_upto(p, run.n);
  wait_done(run.n, 30000);
  elapsed = (double) (uv_now(&loop) - rate_start) / 1000.0;
  ASSERT_EQ(run.n, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  /* bytes_put counts data and partition keys of the records that landed. */
  for (i = 0; i < run.n; i++) {
    char key[32];
    record_key(i, key, sizeof(key));
    expected += 10 * 1024 + strlen(key);
  }
  ASSERT_EQ(expected, st.bytes_put);
  rate = (double) (st.bytes_put - (10 * 1024 + 5)) / elapsed;
  printf("byte rate: %.2f MiB in %.2f s, %.0f KiB/s overall; the most "
         "sent against what the limit allows: %.2f\n",
         (double) st.bytes_put / 1048576, elapsed, rate / 1024, rate_worst);
  /* 3.2 MiB less a burst of 1 MiB (what the first record left) at 1 MiB/s
   * take 2 s at least, and the limit does not slow it much more. */
  ASSERT(elapsed >= 1.9);
  ASSERT(elapsed <= 4.5);
  /* Both clocks are the loop's milliseconds: a rounding, no more. */
  ASSERT(rate_worst <= 1.001);
  close_producer(p);
  run_free();
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_split_during_aggregated_put),
             KN_TEST(test_split_during_plain_put),
             KN_TEST(test_ordered_with_faults),
             KN_TEST(test_default_mode_reorders),
             KN_TEST(test_slow_service_no_ttl),
             KN_TEST(test_stall_fails_records),
             KN_TEST(test_duplicates_counted),
             KN_TEST(test_record_size_default),
             KN_TEST(test_record_size_from_stream),
             KN_TEST(test_byte_rate_limit))
