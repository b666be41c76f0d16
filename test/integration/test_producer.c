#include "client_util.h"
#include "service.h"

#include <string.h>

#include <jansson.h>

#include "aggregation.h"
#include "fault.h"

/* The producer against kinesalite, and against the fault server in front of
 * it. Every record's callback is counted: it must run exactly once. */

static uv_loop_t loop;

typedef struct {
  int calls;
  int status;
  uint32_t attempts;
  uint32_t sub;
  int aggregated;
  char shard_id[64];
  char seq[140];
  char error_code[64];
  char error_message[256];
} rec_result_t;

typedef struct {
  rec_result_t* results;
  size_t n;
  size_t done;
  size_t ok;
  size_t failed;
  int drains;
  int flushed;
  int closed;
  int close_status;   /* what the close's callback got */
  size_t next;        /* next record to put, for the backpressure loop */
  const char* prefix;
  size_t nkeys;
} run_t;

static run_t run;


/* Producer callbacks can run in the loop's timer phase; without this a
 * UV_RUN_ONCE that ran them would go on to block in its poll phase. */
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
  r->attempts = res->attempts;
  r->sub = res->sub_sequence_number;
  r->aggregated = res->aggregated;
  if (status == 0) {
    ASSERT_NOT_NULL(res->shard_id);
    ASSERT_NOT_NULL(res->sequence_number);
    snprintf(r->shard_id, sizeof(r->shard_id), "%s", res->shard_id);
    snprintf(r->seq, sizeof(r->seq), "%s", res->sequence_number);
    run.ok++;
  } else {
    ASSERT_NOT_NULL(res->error_message);
    snprintf(r->error_code, sizeof(r->error_code), "%s",
             res->error_code ? res->error_code : "");
    snprintf(r->error_message, sizeof(r->error_message), "%s",
             res->error_message);
    run.failed++;
  }
  run.done++;
  wake();
}


static void record_data(size_t i, char* buf, size_t size) {
  snprintf(buf, size, "%s-%zu", run.prefix, i);
}


static void record_key(size_t i, char* buf, size_t size) {
  snprintf(buf, size, "key-%zu", i % run.nkeys);
}


/* Puts records until all are in or the buffer is full. */
static void put_more(kinesis_producer_t* p) {
  while (run.next < run.n) {
    char data[64];
    char key[32];
    kinesis_record_t rec;
    int r;
    record_data(run.next, data, sizeof(data));
    record_key(run.next, key, sizeof(key));
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = key;
    r = kinesis_producer_put(p, &rec, on_put, &run.results[run.next]);
    if (r == KINESIS_EQUEUEFULL)
      return;
    ASSERT_OK(r);
    run.next++;
  }
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  run.drains++;
  put_more(p);
}


static void on_flushed(kinesis_producer_t* p, int status, void* arg) {
  (void) p;
  (void) arg;
  ASSERT_OK(status);
  /* Every record put before the flush is settled by now. */
  ASSERT_EQ(run.next, run.done);
  run.flushed++;
  wake();
}


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  run.close_status = status;
  ASSERT_EQ(run.next, run.done);
  run.closed++;
  wake();
}


static void run_init(size_t n, const char* prefix, size_t nkeys) {
  memset(&run, 0, sizeof(run));
  run.results = calloc(n, sizeof(*run.results));
  ASSERT_NOT_NULL(run.results);
  run.n = n;
  run.prefix = prefix;
  run.nkeys = nkeys;
}


/* Everything in the stream, read with GetRecords from TRIM_HORIZON. */
typedef struct {
  char** data;        /* data as text */
  char** seq;
  char** shard;
  char** pk;
  size_t n;
  size_t cap;
  int deaggregate;
} readback_t;


static void rb_add(readback_t* rb, const uint8_t* data, size_t len,
                   const char* seq, const char* shard, const char* pk,
                   size_t pk_len) {
  if (rb->n == rb->cap) {
    rb->cap = rb->cap ? rb->cap * 2 : 1024;
    rb->data = realloc(rb->data, rb->cap * sizeof(char*));
    rb->seq = realloc(rb->seq, rb->cap * sizeof(char*));
    rb->shard = realloc(rb->shard, rb->cap * sizeof(char*));
    rb->pk = realloc(rb->pk, rb->cap * sizeof(char*));
    ASSERT(rb->data && rb->seq && rb->shard && rb->pk);
  }
  rb->data[rb->n] = strndup((const char*) data, len);
  rb->seq[rb->n] = strdup(seq);
  rb->shard[rb->n] = strdup(shard);
  rb->pk[rb->n] = strndup(pk, pk_len);
  rb->n++;
}


static void on_stored(const char* shard, const kinesis_fetched_record_t* f,
                      void* arg) {
  readback_t* rb = arg;
  kn_deagg_record_t* users = NULL;
  size_t nusers = 0;
  size_t k;
  if (rb->deaggregate && kn_deagg(f->data, f->len, &users, &nusers) == 1) {
    for (k = 0; k < nusers; k++)
      rb_add(rb, users[k].data, users[k].len, f->sequence_number, shard,
             users[k].partition_key, users[k].partition_key_len);
    free(users);
    return;
  }
  rb_add(rb, f->data, f->len, f->sequence_number, shard, f->partition_key,
         strlen(f->partition_key));
}


static void read_stream(kinesis_client_t* c, const char* stream,
                        readback_t* rb) {
  read_whole_stream(&loop, c, stream, on_stored, rb);
}


static void readback_free(readback_t* rb) {
  size_t i;
  for (i = 0; i < rb->n; i++) {
    free(rb->data[i]);
    free(rb->seq[i]);
    free(rb->shard[i]);
    free(rb->pk[i]);
  }
  free(rb->data);
  free(rb->seq);
  free(rb->shard);
  free(rb->pk);
}


/* Each record that succeeded is in the stream at least once, and (unless
 * duplicates are allowed) exactly once where its callback said: same shard,
 * same sequence number, and its own partition key. */
static void verify_readback(readback_t* rb, int allow_duplicates) {
  size_t i;
  size_t* seen = calloc(run.n, sizeof(size_t));
  size_t plen = strlen(run.prefix);
  ASSERT_NOT_NULL(seen);
  for (i = 0; i < rb->n; i++) {
    const char* d = rb->data[i];
    size_t idx;
    char key[32];
    if (strncmp(d, run.prefix, plen) != 0 || d[plen] != '-')
      continue;
    idx = (size_t) strtoull(d + plen + 1, NULL, 10);
    ASSERT_LT(idx, run.n);
    seen[idx]++;
    record_key(idx, key, sizeof(key));
    ASSERT_STR_EQ(key, rb->pk[i]);
    if (seen[idx] == 1 && !allow_duplicates) {
      ASSERT_STR_EQ(run.results[idx].shard_id, rb->shard[i]);
      ASSERT_STR_EQ(run.results[idx].seq, rb->seq[i]);
    }
  }
  for (i = 0; i < run.n; i++) {
    if (run.results[i].status != 0)
      continue;
    ASSERT_GE(seen[i], 1);
    if (!allow_duplicates)
      ASSERT_EQ(1, seen[i]);
  }
  free(seen);
}


/* The library's log lines, INFO and up, as one text, line after line. */
static char logged[65536];
static size_t logged_len;


static void on_log(kinesis_log_level_t level, const char* message, void* arg) {
  int n;
  (void) arg;
  n = snprintf(logged + logged_len, sizeof(logged) - logged_len, "%s %s\n",
               level == KINESIS_LOG_WARN ? "WARN" : level == KINESIS_LOG_INFO
                                                        ? "INFO"
                                                        : "OTHER",
               message);
  if (n > 0 && (size_t) n < sizeof(logged) - logged_len)
    logged_len += (size_t) n;
}


/* Whether a logged line holds `text`; logs what was logged when not. */
static int was_logged(const char* text) {
  if (strstr(logged, text) != NULL)
    return 1;
  fprintf(stderr, "not logged: %s\nlogged:\n%s", text, logged);
  return 0;
}


/* How many times `text` appears in the log. */
static size_t logged_count(const char* text) {
  size_t n = 0;
  const char* at = logged;
  while ((at = strstr(at, text)) != NULL) {
    n++;
    at += strlen(text);
  }
  return n;
}


static kinesis_client_t* new_client(const char* endpoint) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, endpoint);
  o.log = on_log;
  o.log_level = KINESIS_LOG_INFO;
  logged[0] = '\0';
  logged_len = 0;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static void close_producer(kinesis_producer_t* p) {
  ASSERT_OK(kinesis_producer_close(p, on_closed, NULL));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_producer_close(p, on_closed, NULL));
  while (!run.closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(1, run.closed);
  /* No record failed during the close. */
  ASSERT_OK(run.close_status);
}


static void test_hundred_thousand_records(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  readback_t rb;
  char stream[128];
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("p100k"));
  create_active_stream(&loop, c, stream, 4);
  run_init(100000, "r", 1000);

  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 50;
  /* kinesalite enforces no shard limits; at 1000 records/s per shard this
   * would take 25 s. The limiter has its own test below. */
  o.put_rate_limit_per_shard = 0;
  o.put_bandwidth_limit_per_shard = 0;
  o.on_drain = on_drain;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  /* The client will not close under a producer. */
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, NULL, NULL));
  put_more(p);
  /* The queue holds 10000: the rest goes in from on_drain. */
  ASSERT_EQ(10000, run.next);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(10000, st.queue_depth);
  while (run.done < run.n)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || run.done == run.n);
  ASSERT_GT(run.drains, 5);
  ASSERT_EQ(run.n, run.ok);
  for (i = 0; i < run.n; i++) {
    ASSERT_EQ(1, run.results[i].calls);
    ASSERT_OK(run.results[i].status);
    ASSERT_GE(run.results[i].attempts, 1);
  }
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(run.n, st.records_put);
  ASSERT_EQ(0, st.records_failed);
  ASSERT_EQ(0, st.queue_depth);
  ASSERT_EQ(4, st.shards);
  ASSERT_GE(st.requests, run.n / 500);
  ASSERT(st.batch_fill > 0 && st.batch_fill <= 1.0);
  close_producer(p);

  memset(&rb, 0, sizeof(rb));
  read_stream(c, stream, &rb);
  ASSERT_EQ(run.n, rb.n);
  verify_readback(&rb, 0);
  readback_free(&rb);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


static void test_bad_records(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  kinesis_record_t rec;
  rec_result_t res;
  char key[300];
  static char big[1024 * 1024 + 1];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  run_init(1, "bad", 1);
  kinesis_producer_options_init(&o);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, &o, &p)); /* no stream */
  o.stream = "bad name";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, &o, &p));
  o.stream = "s";
  o.batch_size = 501;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, &o, &p));
  o.batch_size = 500;
  o.max_record_size = 11 * 1024 * 1024;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, &o, &p));
  o.max_record_size = 1024 * 1024;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));

  memset(&res, 0, sizeof(res));
  memset(&rec, 0, sizeof(rec));
  rec.data = "x";
  rec.len = 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.partition_key = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  memset(key, 'k', 257);
  key[257] = '\0';
  rec.partition_key = key;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.partition_key = "\xc3\x28";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.partition_key = "k";
  rec.explicit_hash_key = "340282366920938463463374607431768211456";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.explicit_hash_key = "12x";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.explicit_hash_key = NULL;
  /* Data plus key over the largest record size. */
  rec.data = big;
  rec.len = 1024 * 1024;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.len = 1024 * 1024 + 1;
  rec.partition_key = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.data = NULL;
  rec.len = 3;
  rec.partition_key = "k";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, on_put, &res));
  rec.data = "x";
  rec.len = 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_put(p, &rec, NULL, &res));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_flush(p, NULL, NULL));

  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(0, st.queue_depth);
  ASSERT_EQ(0, st.queue_bytes);
  ASSERT_OK(kinesis_producer_close(p, on_closed, NULL));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_producer_put(p, &rec, on_put, &res));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_producer_flush(p, on_flushed, NULL));
  while (!run.closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(0, res.calls);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


static void test_queue_full_then_drain(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pfull"));
  create_active_stream(&loop, c, stream, 1);
  run_init(40, "q", 3);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.max_queue_size = 10;
  o.buffer_time_ms = 20;
  o.on_drain = on_drain;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_more(p);
  ASSERT_EQ(10, run.next);
  ASSERT_EQ(0, run.drains); /* never synchronous */
  while (run.done < run.n)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(run.n, run.ok);
  ASSERT_GE(run.drains, 3);
  /* A flush with nothing buffered still answers, later. */
  ASSERT_OK(kinesis_producer_flush(p, on_flushed, NULL));
  ASSERT_EQ(0, run.flushed);
  while (!run.flushed)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


/* Small records are kept in blocks, and the memory the blocks hold counts
 * against max_queue_bytes: with 4 MiB and 20-byte records, the queue is
 * full long before their own bytes (2 MiB) or max_queue_size are reached. */
static size_t mem_calls;
static int mem_ok;


static void on_mem_put(kinesis_producer_t* p, int status,
                       const kinesis_put_result_t* res, void* arg) {
  uint8_t* seen = arg;
  (void) p;
  (void) res;
  ASSERT_EQ(0, (*seen)++);
  if (status == 0)
    mem_ok++;
  mem_calls++;
}


static void test_queue_memory_bounded(void) {
  const char* ep = test_endpoint();
  enum { N = 100000 };
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  uint8_t* seen = calloc(N, 1);
  size_t put = 0;
  char stream[128];
  int r = 0;

  ASSERT_NOT_NULL(seen);
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pmem"));
  create_active_stream(&loop, c, stream, 1);
  memset(&run, 0, sizeof(run));
  mem_calls = 0;
  mem_ok = 0;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.max_queue_size = N;
  o.max_queue_bytes = 4u * 1024 * 1024;
  o.put_rate_limit_per_shard = 0;
  o.put_bandwidth_limit_per_shard = 0;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  while (put < N) {
    char data[16];
    kinesis_record_t rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(data, sizeof(data), "m-%09zu", put);
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = "0123456789";
    r = kinesis_producer_put(p, &rec, on_mem_put, &seen[put]);
    if (r != 0)
      break;
    put++;
  }
  ASSERT_EQ(KINESIS_EQUEUEFULL, r);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(put, st.queue_depth);
  ASSERT_EQ(put * 21, st.queue_bytes);
  /* Far below what the byte count alone allows (about 190,000 records)
   * and below max_queue_size, and more than a few blocks' worth. */
  ASSERT_LT(put, (size_t) N / 2);
  ASSERT_GT(put, (size_t) 10000);
  close_producer(p);
  ASSERT_EQ(put, mem_calls);
  ASSERT_EQ((int) put, mem_ok);
  close_client(&loop, c);
  free(seen);
  kn_test_loop_close(&loop);
}


static uint64_t rate_start;
static int rate_violations;


static void on_rate_flush(kinesis_producer_t* p,
                          const kinesis_flush_info_t* info, void* arg) {
  kinesis_producer_stats_t st;
  double elapsed = (double) (uv_now(&loop) - rate_start) / 1000.0;
  (void) info;
  (void) arg;
  ASSERT_OK(kinesis_producer_stats(p, &st));
  /* At most the burst (1000) plus 1000 a second since the start. */
  if ((double) st.entries_sent > 1000.0 + 1000.0 * elapsed + 1.0)
    rate_violations++;
}


static void test_rate_limit_holds(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  char stream[128];
  double elapsed;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("prate"));
  create_active_stream(&loop, c, stream, 1);
  run_init(3500, "rate", 50);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 10;
  o.after_flush = on_rate_flush;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  uv_update_time(&loop);
  rate_start = uv_now(&loop);
  rate_violations = 0;
  put_more(p);
  ASSERT_EQ(run.n, run.next);
  while (run.done < run.n)
    uv_run(&loop, UV_RUN_ONCE);
  elapsed = (double) (uv_now(&loop) - rate_start) / 1000.0;
  ASSERT_EQ(run.n, run.ok);
  ASSERT_EQ(0, rate_violations);
  /* 3500 records at 1000/s after a burst of 1000 take at least 2.5 s. */
  ASSERT(elapsed >= 2.4);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  printf("rate limit: %zu records to one shard in %.2f s (limit 1000/s, "
         "burst 1000), %llu requests\n", run.n, elapsed,
         (unsigned long long) st.requests);
  /* Held back, the shard sends a share at a time (100 records, what 100 ms
   * refill), not each record as its token comes: 2 requests for the
   * burst, then about 25. */
  ASSERT_LE(st.requests, 40);
  /* Put to callback: every record landed within the last minute, and the
   * last ones waited for the limit, over 2 s. */
  ASSERT_EQ(run.n, st.recent_records);
  ASSERT(st.latency_max_ms >= 2000);
  ASSERT(st.latency_p50_ms > 0);
  ASSERT(st.latency_p50_ms <= st.latency_p99_ms);
  ASSERT(st.latency_p99_ms <= st.latency_max_ms);
  close_producer(p);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


static void test_aggregation_roundtrip(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  readback_t rb;
  char stream[128];
  size_t i;
  size_t aggregated = 0;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pagg"));
  create_active_stream(&loop, c, stream, 2);
  run_init(5000, "agg", 97);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.aggregate = 1;
  o.buffer_time_ms = 50;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_more(p);
  ASSERT_EQ(run.n, run.next);
  while (run.done < run.n)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(run.n, run.ok);
  for (i = 0; i < run.n; i++)
    aggregated += run.results[i].aggregated;
  ASSERT_GT(aggregated, run.n / 2);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  /* Far fewer Kinesis records than user records. */
  ASSERT_LT(st.entries_sent * 10, st.user_records_sent);
  close_producer(p);

  memset(&rb, 0, sizeof(rb));
  rb.deaggregate = 1;
  read_stream(c, stream, &rb);
  ASSERT_EQ(run.n, rb.n);
  verify_readback(&rb, 0);
  readback_free(&rb);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


/* Explicit hash keys route records, whatever their partition key: every
 * record here has the same partition key, and each lands on the shard whose
 * range holds its hash key, sent plain and aggregated. A new stream's four
 * shards split the key space evenly (kinesalite as AWS). */
static void test_explicit_hash_keys(void) {
  static const char* const keys[][2] = {
      {"0", "85070591730234615865843651857942052863"},
      {"85070591730234615865843651857942052864",
       "170141183460469231731687303715884105727"},
      {"170141183460469231731687303715884105728",
       "255211775190703847597530955573826158591"},
      {"255211775190703847597530955573826158592",
       "340282366920938463463374607431768211455"},
  };
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  char stream[128];
  int aggregate;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pehk"));
  create_active_stream(&loop, c, stream, 4);
  for (aggregate = 0; aggregate <= 1; aggregate++) {
    kinesis_producer_options_t o;
    kinesis_producer_t* p;
    size_t i;
    run_init(40, "ehk", 1);
    kinesis_producer_options_init(&o);
    o.stream = stream;
    o.aggregate = aggregate;
    o.buffer_time_ms = 20;
    ASSERT_OK(kinesis_producer_new(c, &o, &p));
    for (i = 0; i < run.n; i++) {
      kinesis_record_t rec;
      char data[32];
      memset(&rec, 0, sizeof(rec));
      snprintf(data, sizeof(data), "ehk-%zu", i);
      rec.data = data;
      rec.len = strlen(data);
      rec.partition_key = "one key for all";
      rec.explicit_hash_key = keys[i % 4][(i / 4) % 2];
      ASSERT_OK(kinesis_producer_put(p, &rec, on_put, &run.results[i]));
      run.next++;
    }
    while (run.done < run.n)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_EQ(run.n, run.ok);
    for (i = 0; i < run.n; i++) {
      char want[64];
      snprintf(want, sizeof(want), "shardId-%012zu", i % 4);
      ASSERT_STR_EQ(want, run.results[i].shard_id);
    }
    if (aggregate) {
      size_t packed = 0;
      for (i = 0; i < run.n; i++)
        packed += run.results[i].aggregated;
      ASSERT_GT(packed, 0);
    }
    close_producer(p);
    free(run.results);
  }
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- Against the fault server ---- */

static const char* fault;


static kinesis_producer_t* fault_producer(kinesis_client_t* c,
                                          const char* stream,
                                          uint32_t ttl_ms) {
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 10;
  o.batch_size = 10;
  o.retry_base_ms = 10;
  o.retry_cap_ms = 50;
  o.record_ttl_ms = ttl_ms;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  return p;
}


static void put_all_and_wait(kinesis_producer_t* p) {
  put_more(p);
  ASSERT_EQ(run.n, run.next);
  while (run.done < run.n)
    uv_run(&loop, UV_RUN_ONCE);
}


static size_t log_count(const char* action) {
  json_t* log = kn_fault_log_json(fault);
  json_t* v;
  size_t i;
  size_t n = 0;
  ASSERT_NOT_NULL(log);
  json_array_foreach(log, i, v) {
    json_t* a = json_object_get(v, "action");
    json_t* t = json_object_get(v, "target");
    if (strcmp(json_string_value(t), "PutRecords") == 0 &&
        strcmp(json_string_value(a), action) == 0)
      n++;
  }
  json_decref(log);
  return n;
}


static void test_faults_partial_and_whole(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  readback_t rb;
  char stream[128];
  size_t i;
  size_t retried = 0;

  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pfault"));
  create_active_stream(&loop, c, stream, 2);
  ASSERT_OK(kn_fault_reset(fault));
  /* Partial failures inside 200 answers, whole requests throttled and
   * failing with 5xx, and a connection dropped mid-answer. */
  ASSERT_OK(kn_fault_script(
      fault,
      "[{\"put_records_fail\":[0,2,5],\"times\":4},"
      "{\"target\":\"PutRecords\",\"status\":400,\"body\":{\"__type\":"
      "\"ProvisionedThroughputExceededException\",\"message\":\"slow\"}},"
      "{\"target\":\"PutRecords\",\"status\":503,\"body\":\"\"},"
      "{\"put_records_fail\":\"all\",\"error_code\":\"InternalFailure\","
      "\"error_message\":\"Internal service failure.\"},"
      "{\"target\":\"PutRecords\",\"status\":500,\"body\":{\"__type\":"
      "\"InternalFailure\"}}]"));
  run_init(200, "f", 13);
  p = fault_producer(c, stream, 30000);
  put_all_and_wait(p);
  ASSERT_EQ(run.n, run.ok);
  for (i = 0; i < run.n; i++)
    if (run.results[i].attempts > 1)
      retried++;
  ASSERT_GE(retried, 12);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_GE(st.records_retried, 12);
  ASSERT_GE(st.records_throttled, 12);
  ASSERT_EQ(0, st.records_failed);
  ASSERT_EQ(5, log_count("put_records_fail"));
  ASSERT_EQ(3, log_count("status"));
  close_producer(p);

  /* What the callbacks reported is what is in the stream, once each. */
  memset(&rb, 0, sizeof(rb));
  read_stream(c, stream, &rb);
  ASSERT_EQ(run.n, rb.n);
  verify_readback(&rb, 0);
  readback_free(&rb);
  free(run.results);

  /* Dropped connections: a retry may duplicate a record, never lose one. */
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault,
                            "[{\"target\":\"PutRecords\",\"drop_mid_response\":"
                            "true,\"times\":2},{\"target\":\"PutRecords\","
                            "\"drop\":true}]"));
  run_init(50, "d", 7);
  p = fault_producer(c, stream, 30000);
  put_all_and_wait(p);
  ASSERT_EQ(run.n, run.ok);
  close_producer(p);
  memset(&rb, 0, sizeof(rb));
  read_stream(c, stream, &rb);
  verify_readback(&rb, 1);
  readback_free(&rb);
  free(run.results);
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_fault_non_retriable_record(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  char stream[128];
  size_t i;

  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pnonret"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  /* kinesis-mock answers an oversized record like this. */
  ASSERT_OK(kn_fault_script(fault,
                            "{\"put_records_fail\":[1],\"error_code\":"
                            "\"InvalidArgumentException\",\"error_message\":"
                            "\"Record too large\"}"));
  run_init(3, "n", 3);
  p = fault_producer(c, stream, 30000);
  put_all_and_wait(p);
  ASSERT_EQ(2, run.ok);
  ASSERT_EQ(1, run.failed);
  ASSERT_EQ(KINESIS_EINVALIDARG, run.results[1].status);
  ASSERT_STR_EQ("InvalidArgumentException", run.results[1].error_code);
  ASSERT_STR_EQ("Record too large", run.results[1].error_message);
  ASSERT_EQ(1, run.results[1].attempts);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(1, run.results[i].calls);
  /* One line for the answer, with the service's words. */
  ASSERT(was_logged("INFO producer: 1 open shard in "));
  ASSERT(was_logged("WARN producer: 1 record failed: "
                    "InvalidArgumentException: Record too large\n"));
  close_producer(p);
  free(run.results);

  /* Retries are bounded: always throttled, each record fails after
   * max_attempts with the service's words. */
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"put_records_fail\":\"all\","
                                   "\"times\":1000}"));
  {
    kinesis_producer_options_t o;
    kinesis_producer_options_init(&o);
    o.stream = stream;
    o.buffer_time_ms = 5;
    o.max_attempts = 3;
    o.retry_base_ms = 5;
    o.retry_cap_ms = 20;
    run_init(5, "t", 5);
    ASSERT_OK(kinesis_producer_new(c, &o, &p));
    put_all_and_wait(p);
    ASSERT_EQ(5, run.failed);
    for (i = 0; i < 5; i++) {
      ASSERT_EQ(KINESIS_ETHROUGHPUT, run.results[i].status);
      ASSERT_EQ(3, run.results[i].attempts);
      ASSERT_STR_EQ("ProvisionedThroughputExceededException",
                    run.results[i].error_code);
    }
    ASSERT(was_logged(" to send again: "
                      "ProvisionedThroughputExceededException\n"));
    ASSERT(was_logged("failed: ProvisionedThroughputExceededException: "));
    close_producer(p);
    free(run.results);
  }
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A stream that does not exist: the records wait for a shard map that
 * never comes, and fail at their TTL with the listing's error; the log
 * says so once a listing and once for all of them, not once a record. */
static void test_no_such_stream(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  run_init(3, "gone", 3);
  kinesis_producer_options_init(&o);
  o.stream = test_stream_name("pnosuch");
  o.record_ttl_ms = 1500;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_all_and_wait(p);
  ASSERT_EQ(3, run.failed);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(KINESIS_ETIMEDOUT, run.results[i].status);
    ASSERT_EQ(0, strncmp(run.results[i].error_message,
                         "no shard map: ListShards failed: "
                         "ResourceNotFoundException", 58));
  }
  /* One WARN for the listings that failed alike, with the service's
   * words; each try only in the debug log. */
  ASSERT_EQ(1, logged_count("WARN producer: ListShards on "));
  ASSERT(was_logged(" failed: stream or shard not found "
                    "(ResourceNotFoundException: "));
  {
    kinesis_producer_stats_t st;
    ASSERT_OK(kinesis_producer_stats(p, &st));
    ASSERT_GE(st.list_failures, 3);
  }
  ASSERT(was_logged("WARN producer: 3 records still buffered when "
                    "record_ttl_ms (1500 ms) passed: no shard map: "));
  close_producer(p);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


/* ListShards answered with a 200 whose body is not JSON, four times: the
 * records wait for a map, and the log says why at once, at WARN, once for
 * the four; the stats count them; the listing that works at last is
 * reported, and the records land. */
static void test_listing_fails_loudly(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  char stream[128];
  char want[256];

  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("plistfail"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"target\":\"ListShards\","
                                   "\"status\":200,\"body\":\"this is not "
                                   "JSON\",\"times\":4}"));
  logged[0] = '\0';
  logged_len = 0;
  run_init(3, "l", 3);
  p = fault_producer(c, stream, 30000);
  put_all_and_wait(p);
  ASSERT_EQ(3, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(4, st.list_failures);
  snprintf(want, sizeof(want),
           "WARN producer: ListShards on %s failed: malformed service "
           "response (", stream);
  ASSERT(was_logged(want));
  ASSERT_EQ(1, logged_count("WARN producer: ListShards on "));
  snprintf(want, sizeof(want),
           "INFO producer: ListShards on %s: recovered after 4 failures\n",
           stream);
  ASSERT(was_logged(want));
  close_producer(p);
  free(run.results);
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* PutRecords failed whole with a 500, six times, through a client that
 * tries each request twice: the producer sees three failed requests and
 * sends the record again. The log says why once, at WARN, and once at
 * INFO when a request goes through; the record lands. One record: with
 * more, each waits its own random backoff after a failure and they go
 * again in requests of their own, which share the six 500s in an order
 * the loop's timing decides. */
static void test_put_failures_reported(void) {
  kinesis_client_options_t co;
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  char stream[128];
  char want[256];

  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(uv_loop_init(&loop));
  test_client_options(&co, fault);
  co.log = on_log;
  co.log_level = KINESIS_LOG_INFO;
  co.max_attempts = 2;
  ASSERT_OK(kinesis_client_new(&loop, &co, &c));
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pputfail"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"target\":\"PutRecords\","
                                   "\"status\":500,\"times\":6,\"body\":"
                                   "{\"__type\":\"InternalFailure\","
                                   "\"message\":\"boom\"}}"));
  logged[0] = '\0';
  logged_len = 0;
  run_init(1, "u", 1);
  p = fault_producer(c, stream, 30000);
  put_all_and_wait(p);
  ASSERT_EQ(1, run.ok);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  ASSERT_EQ(3, st.request_failures);
  snprintf(want, sizeof(want),
           "WARN producer: PutRecords to %s failed: service-side failure "
           "(5xx) (InternalFailure: boom); retrying\n", stream);
  ASSERT(was_logged(want));
  ASSERT_EQ(1, logged_count("WARN producer: PutRecords to "));
  snprintf(want, sizeof(want),
           "INFO producer: PutRecords to %s: recovered after 3 failures\n",
           stream);
  ASSERT(was_logged(want));
  close_producer(p);
  free(run.results);
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_fault_server_never_answers(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  char stream[128];
  size_t i;
  uint64_t start;

  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("psilent"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"target\":\"PutRecords\",\"delay_ms\":"
                                   "60000,\"proxy\":true,\"times\":100}"));
  run_init(20, "s", 4);
  p = fault_producer(c, stream, 1000);
  uv_update_time(&loop);
  start = uv_now(&loop);
  put_all_and_wait(p);
  /* The TTL ended them, not the 30 s request timeout. */
  ASSERT_LT(uv_now(&loop) - start, 10000);
  ASSERT_EQ(run.n, run.failed);
  for (i = 0; i < run.n; i++)
    ASSERT_EQ(KINESIS_ETIMEDOUT, run.results[i].status);
  close_producer(p);
  free(run.results);

  /* Close with requests in flight still finishes, within the TTL. */
  run_init(20, "s2", 4);
  p = fault_producer(c, stream, 1000);
  put_more(p);
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_OK(kinesis_producer_close(p, on_closed, NULL));
  while (!run.closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(run.n, run.done);
  for (i = 0; i < run.n; i++)
    ASSERT_EQ(1, run.results[i].calls);
  /* The records failed during the close: it says so with their error. */
  ASSERT_EQ(KINESIS_ETIMEDOUT, run.close_status);
  free(run.results);
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_close_and_flush_in_flight(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("pclose"));
  create_active_stream(&loop, c, stream, 2);
  run_init(1200, "cl", 50);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 60000; /* only flush and close send anything */
  o.put_rate_limit_per_shard = 0;
  o.batch_size = 500;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_more(p);
  ASSERT_EQ(1200, run.next);
  ASSERT_OK(kinesis_producer_flush(p, on_flushed, NULL));
  while (!run.flushed)
    uv_run(&loop, UV_RUN_ONCE);
  /* The flush waited for every record put before it. */
  ASSERT_EQ(1200, run.done);
  /* More records, then close at once: close sends and settles them all. */
  run.results = realloc(run.results, 2000 * sizeof(*run.results));
  memset(run.results + 1200, 0, 800 * sizeof(*run.results));
  run.n = 2000;
  put_more(p);
  ASSERT_EQ(2000, run.next);
  ASSERT_OK(kinesis_producer_close(p, on_closed, NULL));
  while (!run.closed)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_OK(run.close_status);
  ASSERT_EQ(2000, run.ok);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


static int other_closed;


static void on_other_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  other_closed++;
  uv_stop(&loop);
}


static void test_follows_resharding(void) {
  const char* ep = test_endpoint();
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* stale;
  kinesis_producer_t* polling;
  kinesis_producer_stats_t st;
  capture_t cap;
  char stream[128];
  char body[512];
  long status = 0;
  size_t i;
  int waited;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(ep);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("preshard"));
  create_active_stream(&loop, c, stream, 1);
  run_init(300, "rs", 40);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 10;
  /* One producer only lists again when answers surprise it, the other
   * lists every 300 ms. */
  o.shard_refresh_ms = 600000;
  ASSERT_OK(kinesis_producer_new(c, &o, &stale));
  o.shard_refresh_ms = 300;
  ASSERT_OK(kinesis_producer_new(c, &o, &polling));
  run.n = 100;
  put_all_and_wait(stale);
  for (i = 0; i < 100; i++)
    ASSERT_STR_EQ("shardId-000000000000", run.results[i].shard_id);
  ASSERT_OK(kinesis_producer_stats(stale, &st));
  ASSERT_EQ(1, st.shards);

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

  /* The periodic listing finds the children by itself. */
  for (waited = 0; waited < 3000; waited += 100) {
    ASSERT_OK(kinesis_producer_stats(polling, &st));
    if (st.shards == 2)
      break;
    run_loop_for(&loop, 100);
  }
  ASSERT_EQ(2, st.shards);

  /* The stale producer still predicts the closed parent; the answers name
   * the children, so it lists again and follows. */
  run.n = 200;
  put_all_and_wait(stale);
  for (i = 100; i < 200; i++)
    ASSERT(strcmp(run.results[i].shard_id, "shardId-000000000001") == 0 ||
           strcmp(run.results[i].shard_id, "shardId-000000000002") == 0);
  for (waited = 0; waited < 3000; waited += 100) {
    ASSERT_OK(kinesis_producer_stats(stale, &st));
    if (st.shards == 2)
      break;
    run_loop_for(&loop, 100);
  }
  ASSERT_EQ(2, st.shards);
  run.n = 300;
  put_all_and_wait(stale);
  ASSERT_EQ(300, run.ok);
  /* Each map change is logged, and why the stale one listed again. */
  ASSERT(was_logged("INFO producer: 1 open shard in "));
  ASSERT(was_logged("INFO producer: 2 open shards in "));
  ASSERT(was_logged("INFO producer: a record landed in a shard the map did "
                    "not predict, or found none; listing the shards again"));

  other_closed = 0;
  ASSERT_OK(kinesis_producer_close(polling, on_other_closed, NULL));
  while (!other_closed)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(stale);
  close_client(&loop, c);
  free(run.results);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_follows_resharding), KN_TEST(test_bad_records), KN_TEST(test_queue_full_then_drain),
             KN_TEST(test_queue_memory_bounded),
             KN_TEST(test_close_and_flush_in_flight),
             KN_TEST(test_faults_partial_and_whole),
             KN_TEST(test_fault_non_retriable_record),
             KN_TEST(test_fault_server_never_answers),
             KN_TEST(test_aggregation_roundtrip),
             KN_TEST(test_explicit_hash_keys),
             KN_TEST(test_rate_limit_holds), KN_TEST(test_no_such_stream),
             KN_TEST(test_listing_fails_loudly),
             KN_TEST(test_put_failures_reported),
             KN_TEST(test_hundred_thousand_records))
