#include "client_util.h"

#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fault.h"

/* Fault campaigns (issue 7): long runs of the producer and the consumer
 * through the faults of test/servers.js, each asserting that nothing is
 * lost, printing what it counted ("# ..." lines), and ending by itself in
 * bounded time.
 *
 *   producer_chaos        the producer through the fault server's seeded
 *                         chaos (throttling, 5xx, partial failures,
 *                         responses cut after the write, 2 s stalls)
 *   outage_produce        kinesalite down for 3 s while the producer runs
 *   outage_outlasts_ttl   kinesalite down for longer than the record TTL
 *   outage_consume        kinesalite down for 3 s while a consumer reads
 *
 * Every record carries unique data, "<prefix>-<index>", so that it can be
 * found in the stream, which is read back directly from kinesalite
 * (KINESIS_TEST_ENDPOINT) with GetRecords over every shard. Duplicates are
 * allowed (a request answered after the write and retried writes twice);
 * a record acknowledged and not in the stream is a failure. */

static uv_loop_t loop;
static const char* endpoint;   /* kinesalite */
static const char* fault;      /* the fault server */


static void setup(void) {
  endpoint = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  setvbuf(stdout, NULL, _IOLBF, 0);
}

typedef struct {
  int calls;
  int status;
  uint32_t attempts;
} rec_t;

typedef struct {
  rec_t* recs;
  size_t n;
  size_t next;
  size_t done;
  size_t ok;
  size_t failed;
  size_t first;       /* records [first, limit) are put by put_more() */
  size_t limit;
  char prefix[48];
  int closed;
  /* after_flush: what the requests did. */
  size_t requests;
  size_t requests_failed;
  size_t requests_retrying;
} campaign_t;

static campaign_t cp;


static void wake(void) {
  uv_stop(&loop);
}


static uint64_t now_ms(void) {
  return uv_hrtime() / 1000000;
}


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* res, void* arg) {
  rec_t* r = arg;
  (void) p;
  ASSERT_NOT_NULL(res);
  r->calls++;
  ASSERT_EQ(1, r->calls);
  r->status = status;
  r->attempts = res->attempts;
  if (status == 0) {
    ASSERT_NOT_NULL(res->sequence_number);
    cp.ok++;
  } else {
    cp.failed++;
  }
  cp.done++;
  wake();
}


static void put_more(kinesis_producer_t* p) {
  while (cp.next < cp.limit) {
    char data[80];
    char key[32];
    kinesis_record_t rec;
    int r;
    snprintf(data, sizeof(data), "%s-%zu", cp.prefix, cp.next);
    snprintf(key, sizeof(key), "k%zu", cp.next % 97);
    memset(&rec, 0, sizeof(rec));
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = key;
    r = kinesis_producer_put(p, &rec, on_put, &cp.recs[cp.next]);
    if (r == KINESIS_EQUEUEFULL)
      return;
    ASSERT_OK(r);
    cp.next++;
  }
}


static void on_drain(kinesis_producer_t* p, void* arg) {
  (void) arg;
  put_more(p);
}


static void on_after_flush(kinesis_producer_t* p,
                           const kinesis_flush_info_t* info, void* arg) {
  (void) p;
  (void) arg;
  cp.requests++;
  if (info->status != 0)
    cp.requests_failed++;
  if (info->retrying > 0)
    cp.requests_retrying++;
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  cp.closed++;
  wake();
}


static void campaign_init(size_t n, const char* name) {
  memset(&cp, 0, sizeof(cp));
  cp.recs = calloc(n, sizeof(*cp.recs));
  ASSERT_NOT_NULL(cp.recs);
  cp.n = n;
  cp.limit = n;
  snprintf(cp.prefix, sizeof(cp.prefix), "%s%ld", name, (long) getpid());
}


static kinesis_client_t* new_client(const char* ep) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, ep);
  o.connect_timeout_ms = 2000;
  o.request_timeout_ms = 10000;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* Runs the loop until `*count` reaches `target`; fails after `limit_ms`. */
static void run_until(const size_t* count, size_t target, uint64_t limit_ms,
                      const char* what) {
  uint64_t deadline = now_ms() + limit_ms;
  while (*count < target) {
    if (now_ms() > deadline) {
      fprintf(stderr, "%s: only %zu of %zu after %" PRIu64 " ms\n", what,
              *count, target, limit_ms);
      ASSERT(0 && "campaign did not finish in time");
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
}


static void close_producer(kinesis_producer_t* p) {
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, NULL));
  while (!cp.closed)
    uv_run(&loop, UV_RUN_ONCE);
}


/* ---- Reading the stream back, directly from kinesalite ---- */

typedef struct {
  char shard[32];
  char seq[64];
  size_t idx;            /* the record's index, or SIZE_MAX when foreign */
} stored_t;

typedef struct {
  stored_t* items;
  size_t n;
  size_t cap;
  uint32_t* seen;        /* copies in the stream per record index */
  size_t nseen;
  const char* prefix;
} readback_t;


static size_t index_of(const char* prefix, const uint8_t* data, size_t len) {
  size_t plen = strlen(prefix);
  char buf[32];
  size_t k;
  if (len <= plen + 1 || len - plen - 1 >= sizeof(buf) ||
      memcmp(data, prefix, plen) != 0 || data[plen] != '-')
    return SIZE_MAX;
  for (k = plen + 1; k < len; k++)
    if (data[k] < '0' || data[k] > '9')
      return SIZE_MAX;
  memcpy(buf, data + plen + 1, len - plen - 1);
  buf[len - plen - 1] = '\0';
  return (size_t) strtoull(buf, NULL, 10);
}


static void on_stored(const char* shard, const kinesis_fetched_record_t* f,
                      void* arg) {
  readback_t* rb = arg;
  stored_t* s;
  if (rb->n == rb->cap) {
    rb->cap = rb->cap ? rb->cap * 2 : 4096;
    rb->items = realloc(rb->items, rb->cap * sizeof(*rb->items));
    ASSERT_NOT_NULL(rb->items);
  }
  s = &rb->items[rb->n++];
  snprintf(s->shard, sizeof(s->shard), "%s", shard);
  snprintf(s->seq, sizeof(s->seq), "%s", f->sequence_number);
  s->idx = index_of(rb->prefix, f->data, f->len);
  if (s->idx != SIZE_MAX) {
    ASSERT_LT(s->idx, rb->nseen);
    rb->seen[s->idx]++;
  }
}


/* Reads every shard of `stream` from TRIM_HORIZON through `c`. */
static void read_stream(kinesis_client_t* c, const char* stream,
                        const char* prefix, size_t n, readback_t* rb) {
  memset(rb, 0, sizeof(*rb));
  rb->seen = calloc(n, sizeof(*rb->seen));
  ASSERT_NOT_NULL(rb->seen);
  rb->nseen = n;
  rb->prefix = prefix;
  read_whole_stream(&loop, c, stream, on_stored, rb);
}


static void readback_free(readback_t* rb) {
  free(rb->items);
  free(rb->seen);
}


/* The no-loss check of a producer campaign, over records [from, to):
 * every callback ran once, and every record acknowledged is in the stream.
 * Returns the duplicates (extra copies in the stream). */
typedef struct {
  size_t ok;
  size_t failed;
  size_t failed_yet_stored;  /* failed, but the write had happened */
  size_t duplicates;         /* extra copies of records in the stream */
  size_t duplicated;         /* records with more than one copy */
  size_t lost;               /* acknowledged, not in the stream */
} tally_t;


static tally_t tally(const readback_t* rb, size_t from, size_t to) {
  tally_t t;
  size_t i;
  memset(&t, 0, sizeof(t));
  for (i = from; i < to; i++) {
    ASSERT_EQ(1, cp.recs[i].calls);
    if (cp.recs[i].status == 0) {
      t.ok++;
      if (rb->seen[i] == 0) {
        t.lost++;
        if (t.lost <= 10)
          fprintf(stderr, "LOST: %s-%zu was acknowledged (after %u "
                  "attempts) and is not in the stream\n", cp.prefix, i,
                  cp.recs[i].attempts);
      }
    } else {
      t.failed++;
      if (rb->seen[i] > 0)
        t.failed_yet_stored++;
    }
    if (rb->seen[i] > 1) {
      t.duplicated++;
      t.duplicates += rb->seen[i] - 1;
    }
  }
  return t;
}


static void print_failures(size_t from, size_t to) {
  /* The errors the failed records got, by name. */
  struct {
    int status;
    size_t count;
  } by[16];
  size_t nby = 0;
  size_t i;
  size_t k;
  for (i = from; i < to; i++) {
    if (cp.recs[i].status == 0)
      continue;
    for (k = 0; k < nby; k++)
      if (by[k].status == cp.recs[i].status)
        break;
    if (k == nby) {
      if (nby == 16)
        continue;
      by[nby].status = cp.recs[i].status;
      by[nby].count = 0;
      nby++;
    }
    by[k].count++;
  }
  for (k = 0; k < nby; k++)
    printf("#   failed with %s: %zu\n", kinesis_err_name(by[k].status),
           by[k].count);
}


/* ---- 1. The producer through seeded chaos ---- */

static long json_count(json_t* counts, const char* key) {
  return (long) json_integer_value(json_object_get(counts, key));
}


static void test_producer_chaos(void) {
  const size_t n = 5000;
  const char* seed_env = getenv("KINESIS_CAMPAIGN_SEED");
  unsigned long seed = seed_env != NULL ? strtoul(seed_env, NULL, 10)
                                        : 20261126UL;
  kinesis_client_t* direct;
  kinesis_client_t* via_fault;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  readback_t rb;
  tally_t t;
  char stream[128];
  char config[512];
  char* text;
  json_t* stats;
  json_t* counts;
  json_t* dropped;
  uint32_t* dropped_copies;
  size_t explained = 0;
  size_t unexplained = 0;
  uint64_t start;
  uint64_t elapsed;
  size_t i;

  setup();
  ASSERT_OK(uv_loop_init(&loop));
  direct = new_client(endpoint);
  via_fault = new_client(fault);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("chaos"));
  create_active_stream(&loop, direct, stream, 2);
  campaign_init(n, "chaos");

  ASSERT_OK(kn_fault_reset(fault));
  snprintf(config, sizeof(config),
           "{\"seed\": %lu, \"target\": \"PutRecords\", \"throttle\": 0.3, "
           "\"error_5xx\": 0.1, \"partial\": 0.1, \"drop_after_write\": "
           "0.05, \"stall\": 0.05, \"stall_ms\": 2000}", seed);
  ASSERT_OK(kn_fault_chaos(fault, config));

  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 20;
  o.batch_size = 25;            /* many requests, so every fault shows */
  o.put_rate_limit_per_shard = 0;
  o.put_bandwidth_limit_per_shard = 0;
  o.max_attempts = 40;
  o.retry_base_ms = 20;
  o.retry_cap_ms = 1000;
  o.record_ttl_ms = 25000;      /* the run ends within it, whatever happens */
  o.on_drain = on_drain;
  o.after_flush = on_after_flush;
  start = now_ms();
  ASSERT_OK(kinesis_producer_new(via_fault, &o, &p));
  put_more(p);
  run_until(&cp.done, n, 60000, "chaos campaign");
  elapsed = now_ms() - start;
  ASSERT_OK(kinesis_producer_stats(p, &st));
  close_producer(p);

  text = kn_fault_chaos_stats(fault);
  ASSERT_NOT_NULL(text);
  stats = json_loads(text, 0, NULL);
  free(text);
  ASSERT_NOT_NULL(stats);
  ASSERT_OK(kn_fault_chaos_off(fault));
  counts = json_object_get(stats, "counts");
  dropped = json_object_get(stats, "dropped_data");
  ASSERT(json_is_object(counts));
  ASSERT(json_is_array(dropped));

  read_stream(direct, stream, cp.prefix, n, &rb);
  t = tally(&rb, 0, n);

  /* Every duplicate must come from a request whose answer was cut after
   * kinesalite had stored it: nothing else writes without an answer. */
  dropped_copies = calloc(n, sizeof(*dropped_copies));
  ASSERT_NOT_NULL(dropped_copies);
  for (i = 0; i < json_array_size(dropped); i++) {
    const char* d = json_string_value(json_array_get(dropped, i));
    size_t idx = d != NULL ? index_of(cp.prefix, (const uint8_t*) d,
                                      strlen(d))
                           : SIZE_MAX;
    if (idx != SIZE_MAX && idx < n)
      dropped_copies[idx]++;
  }
  for (i = 0; i < n; i++) {
    size_t extra = rb.seen[i] > 1 ? rb.seen[i] - 1 : 0;
    size_t by_drop = extra < dropped_copies[i] ? extra : dropped_copies[i];
    explained += by_drop;
    unexplained += extra - by_drop;
  }

  printf("# producer_chaos: seed %lu, %zu records, %" PRIu64 " ms\n", seed,
         n, elapsed);
  printf("#   fault server: %ld PutRecords: %ld proxied, %ld throttled, "
         "%ld 5xx, %ld partial (%ld entries failed), %ld cut after the "
         "write (%ld records stored), %ld stalled\n",
         json_count(counts, "requests"), json_count(counts, "proxy"),
         json_count(counts, "throttle"), json_count(counts, "error_5xx"),
         json_count(counts, "partial"),
         json_count(counts, "partial_records_failed"),
         json_count(counts, "drop_after_write"),
         json_count(counts, "drop_records_stored"),
         json_count(counts, "stall"));
  printf("#   producer: %zu puts, %zu callbacks, %zu acknowledged, %zu "
         "failed; %" PRIu64 " requests (%" PRIu64 " failed whole), %zu "
         "answers with records to retry, %" PRIu64 " record retries, "
         "%" PRIu64 " throttled in answers\n",
         cp.next, cp.done, t.ok, t.failed, st.requests, st.request_failures,
         cp.requests_retrying, st.records_retried, st.records_throttled);
  printf("#   retried requests: %ld sent again whole by the client (the "
         "fault server saw %ld for the producer's %" PRIu64 ")\n",
         json_count(counts, "requests") - (long) st.requests,
         json_count(counts, "requests"), st.requests);
  print_failures(0, n);
  printf("#   stream: %zu copies of this run's records; %zu duplicates of "
         "%zu records (%zu from answers cut after the write, %zu "
         "unexplained); %zu failed records stored anyway; %zu lost\n",
         rb.n, t.duplicates, t.duplicated, explained, unexplained,
         t.failed_yet_stored, t.lost);

  ASSERT_EQ(n, cp.next);
  ASSERT_EQ(n, cp.done);
  ASSERT_EQ(0, t.lost);
  ASSERT_EQ(0, unexplained);
  /* The campaign did exercise every fault, and most records got through. */
  ASSERT_GT(json_count(counts, "throttle"), 0);
  ASSERT_GT(json_count(counts, "error_5xx"), 0);
  ASSERT_GT(json_count(counts, "partial"), 0);
  ASSERT_GT(json_count(counts, "drop_after_write"), 0);
  ASSERT_GT(json_count(counts, "stall"), 0);
  ASSERT_GE(t.ok, n * 9 / 10);

  free(dropped_copies);
  json_decref(stats);
  readback_free(&rb);
  close_client(&loop, via_fault);
  close_client(&loop, direct);
  free(cp.recs);
  kn_test_loop_close(&loop);
}


/* ---- 2. kinesalite stopped and restarted ---- */

/* Asserts that a client of KINESIS_TEST_ENDPOINT gets connection refused
 * now. */
static void assert_refused(void) {
  kn_test_http_req_t req;
  int r;
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = endpoint;
  req.body = "{}";
  req.timeout_ms = 2000;
  r = kn_test_http_request(&req, NULL, NULL);
  ASSERT_EQ(CURLE_COULDNT_CONNECT, r);
}


typedef struct {
  uv_timer_t timer;
  unsigned down_ms;
  int fired;
  uint64_t at_ms;
} outage_t;


static void on_outage_timer(uv_timer_t* t) {
  outage_t* o = t->data;
  ASSERT_OK(kn_fault_kinesalite_down(fault, o->down_ms));
  assert_refused();
  o->fired = 1;
  o->at_ms = now_ms();
}


static void outage_schedule(outage_t* o, uint64_t after_ms,
                            unsigned down_ms) {
  memset(o, 0, sizeof(*o));
  o->down_ms = down_ms;
  ASSERT_OK(uv_timer_init(&loop, &o->timer));
  o->timer.data = o;
  ASSERT_OK(uv_timer_start(&o->timer, on_outage_timer, after_ms, 0));
}


static void outage_close(outage_t* o) {
  uv_close((uv_handle_t*) &o->timer, NULL);
}


/* Waits until the fault server says kinesalite listens again. */
static void wait_kinesalite_up(uint64_t limit_ms) {
  uint64_t deadline = now_ms() + limit_ms;
  char url[256];
  snprintf(url, sizeof(url), "%s/__control/kinesalite", fault);
  for (;;) {
    char* resp = NULL;
    long status = 0;
    int up;
    ASSERT_OK(kn_test_http("GET", url, NULL, &resp, &status));
    ASSERT_EQ(200, status);
    up = resp != NULL && strstr(resp, "\"up\":true") != NULL;
    free(resp);
    if (up)
      return;
    ASSERT(now_ms() < deadline);
    /* The loop keeps running meanwhile, and its clock with it: a record put
     * after a blocking wait would otherwise get its TTL from a stale
     * uv_now() (libuv caches the time per loop iteration). */
    run_loop_for(&loop, 50);
  }
}


static void producer_options(kinesis_producer_options_t* o,
                             const char* stream) {
  kinesis_producer_options_init(o);
  o->stream = stream;
  o->buffer_time_ms = 20;
  o->batch_size = 100;
  o->put_bandwidth_limit_per_shard = 0;
  /* Attempts are not what ends a record here, its TTL is: each request
   * during the outage spends the client's attempts too. */
  o->max_attempts = 100000;
  o->retry_base_ms = 50;
  o->retry_cap_ms = 500;
  o->on_drain = on_drain;
  o->after_flush = on_after_flush;
}


/* (a) Down for 3 s in the middle of a 6 s production: the producer retries,
 * and every record lands within its 20 s TTL. */
static void test_outage_produce(void) {
  const size_t n = 3000;
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_stats_t st;
  readback_t rb;
  outage_t out;
  tally_t t;
  char stream[128];
  uint64_t start;
  uint64_t elapsed;

  setup();
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(endpoint);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("odown"));
  create_active_stream(&loop, c, stream, 2);
  campaign_init(n, "odown");
  producer_options(&o, stream);
  o.put_rate_limit_per_shard = 250;  /* 2 shards: about 6 s for 3000 */
  o.record_ttl_ms = 20000;
  start = now_ms();
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  put_more(p);
  outage_schedule(&out, 2000, 3000);
  run_until(&cp.done, n, 60000, "outage during produce");
  elapsed = now_ms() - start;
  ASSERT_EQ(1, out.fired);
  outage_close(&out);
  ASSERT_OK(kinesis_producer_stats(p, &st));
  close_producer(p);
  wait_kinesalite_up(10000);

  read_stream(c, stream, cp.prefix, n, &rb);
  t = tally(&rb, 0, n);
  printf("# outage_produce: %zu records, kinesalite down 3000 ms from "
         "%" PRIu64 " ms, all settled after %" PRIu64 " ms\n", n,
         out.at_ms - start, elapsed);
  printf("#   %zu acknowledged, %zu failed, %" PRIu64 " requests (%" PRIu64
         " failed whole), %" PRIu64 " record retries; stream: %zu copies, "
         "%zu duplicates (requests cut by the outage after the write), "
         "%zu lost\n", t.ok, t.failed, st.requests, st.request_failures,
         st.records_retried, rb.n, t.duplicates, t.lost);
  print_failures(0, n);
  ASSERT_EQ(n, cp.done);
  ASSERT_EQ(0, t.lost);
  ASSERT_EQ(n, t.ok);   /* the TTL (20 s) outlasts the outage (3 s) */
  ASSERT_GT(st.request_failures + st.records_retried, 0);
  readback_free(&rb);
  close_client(&loop, c);
  free(cp.recs);
  kn_test_loop_close(&loop);
}


/* (a') Down for 5 s, records with a 2 s TTL: those put before land, those
 * put during the outage fail with KINESIS_ETIMEDOUT (and are not in the
 * stream), those put after land. */
static void test_outage_outlasts_ttl(void) {
  const size_t per = 500;
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  readback_t rb;
  tally_t before;
  tally_t during;
  tally_t after;
  char stream[128];
  uint64_t down_at;
  uint64_t settled_ms;
  size_t i;

  setup();
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(endpoint);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("ottl"));
  create_active_stream(&loop, c, stream, 2);
  campaign_init(3 * per, "ottl");
  producer_options(&o, stream);
  o.put_rate_limit_per_shard = 0;
  o.record_ttl_ms = 2000;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));

  cp.limit = per;
  put_more(p);
  run_until(&cp.done, per, 30000, "before the outage");

  ASSERT_OK(kn_fault_kinesalite_down(fault, 5000));
  down_at = now_ms();
  assert_refused();
  cp.limit = 2 * per;
  put_more(p);
  run_until(&cp.done, 2 * per, 30000, "during the outage");
  settled_ms = now_ms() - down_at;
  /* All of them settled while kinesalite was still down. */
  ASSERT_LT(settled_ms, 5000);
  assert_refused();
  for (i = per; i < 2 * per; i++)
    ASSERT_EQ(KINESIS_ETIMEDOUT, cp.recs[i].status);

  wait_kinesalite_up(15000);
  cp.limit = 3 * per;
  put_more(p);
  run_until(&cp.done, 3 * per, 30000, "after the outage");
  close_producer(p);

  read_stream(c, stream, cp.prefix, 3 * per, &rb);
  before = tally(&rb, 0, per);
  during = tally(&rb, per, 2 * per);
  after = tally(&rb, 2 * per, 3 * per);
  printf("# outage_outlasts_ttl: TTL 2000 ms, kinesalite down 5000 ms\n");
  printf("#   before: %zu acknowledged, %zu failed, %zu lost\n", before.ok,
         before.failed, before.lost);
  printf("#   during: %zu acknowledged, %zu failed with KINESIS_ETIMEDOUT "
         "(all settled %" PRIu64 " ms into the outage), %zu in the stream "
         "anyway\n", during.ok, during.failed, settled_ms,
         during.failed_yet_stored);
  printf("#   after: %zu acknowledged, %zu failed, %zu lost; duplicates "
         "%zu\n", after.ok, after.failed, after.lost,
         before.duplicates + after.duplicates);
  print_failures(2 * per, 3 * per);
  ASSERT_EQ(per, before.ok);
  ASSERT_EQ(per, during.failed);
  ASSERT_EQ(0, during.failed_yet_stored);
  ASSERT_EQ(per, after.ok);
  ASSERT_EQ(0, before.lost + after.lost);
  readback_free(&rb);
  close_client(&loop, c);
  free(cp.recs);
  kn_test_loop_close(&loop);
}


/* (b) A consumer reading while the producer writes; kinesalite down for 3 s
 * in the middle. After it, every record in the stream has been delivered,
 * in order within its shard. */
typedef struct {
  char key[96];          /* "shard|sequence number" */
} delivered_t;

static struct {
  delivered_t* items;
  size_t n;
  size_t cap;
  uint32_t* seen;        /* deliveries per record index */
  size_t unique;
  size_t redelivered;
  size_t rewinds;        /* a shard's sequence number went back */
  char last_seq[8][64];
  int closed;
} cons;


static int seq_cmp(const char* a, const char* b) {
  size_t la = strlen(a);
  size_t lb = strlen(b);
  if (la != lb)
    return la < lb ? -1 : 1;
  return strcmp(a, b);
}


static void on_record(kinesis_consumer_t* c,
                      const kinesis_consumer_record_t* r, void* arg) {
  size_t idx = index_of(cp.prefix, r->data, r->len);
  size_t si = (size_t) (r->shard_id[strlen(r->shard_id) - 1] - '0');
  (void) c;
  (void) arg;
  ASSERT_LT(si, 8);
  if (cons.last_seq[si][0] != '\0' &&
      seq_cmp(r->sequence_number, cons.last_seq[si]) <= 0)
    cons.rewinds++;
  snprintf(cons.last_seq[si], sizeof(cons.last_seq[si]), "%s",
           r->sequence_number);
  if (cons.n == cons.cap) {
    cons.cap = cons.cap ? cons.cap * 2 : 4096;
    cons.items = realloc(cons.items, cons.cap * sizeof(*cons.items));
    ASSERT_NOT_NULL(cons.items);
  }
  snprintf(cons.items[cons.n++].key, sizeof(cons.items[0].key), "%s|%s",
           r->shard_id, r->sequence_number);
  if (idx == SIZE_MAX)
    return;
  ASSERT_LT(idx, cp.n);
  if (cons.seen[idx]++ == 0)
    cons.unique++;
  else
    cons.redelivered++;
  wake();
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  cons.closed++;
  wake();
}


static int delivered_cmp(const void* a, const void* b) {
  return strcmp(((const delivered_t*) a)->key, ((const delivered_t*) b)->key);
}


static void test_outage_consume(void) {
  const size_t n = 3000;
  kinesis_client_t* c;
  kinesis_producer_options_t po;
  kinesis_producer_t* p;
  kinesis_consumer_options_t co;
  kinesis_consumer_t* consumer;
  kinesis_consumer_stats_t cst;
  readback_t rb;
  outage_t out;
  tally_t t;
  char stream[128];
  size_t missing = 0;
  size_t i;
  uint64_t start;
  uint64_t done_ms;

  setup();
  ASSERT_OK(uv_loop_init(&loop));
  c = new_client(endpoint);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("ocons"));
  create_active_stream(&loop, c, stream, 2);
  campaign_init(n, "ocons");
  memset(&cons, 0, sizeof(cons));
  cons.seen = calloc(n, sizeof(*cons.seen));
  ASSERT_NOT_NULL(cons.seen);

  kinesis_consumer_options_init(&co);
  co.stream = stream;
  co.on_record = on_record;
  co.record_limit = 100;
  co.sleep_time_no_records_ms = 200;
  co.checkpoint_interval_ms = 500;
  ASSERT_OK(kinesis_consumer_new(c, &co, &consumer));
  ASSERT_OK(kinesis_consumer_start(consumer));

  producer_options(&po, stream);
  po.put_rate_limit_per_shard = 250;
  po.record_ttl_ms = 30000;
  start = now_ms();
  ASSERT_OK(kinesis_producer_new(c, &po, &p));
  put_more(p);
  outage_schedule(&out, 2000, 3000);
  run_until(&cp.done, n, 60000, "producer across the outage");
  ASSERT_EQ(1, out.fired);
  outage_close(&out);
  /* Every acknowledged record, delivered. */
  run_until(&cons.unique, cp.ok, 60000, "consumer across the outage");
  done_ms = now_ms() - start;
  /* A little longer, for duplicates the producer wrote to show up too. */
  run_loop_for(&loop, 1500);
  ASSERT_OK(kinesis_consumer_stats(consumer, &cst));
  ASSERT_OK(kinesis_consumer_close(consumer, on_consumer_closed, NULL));
  while (!cons.closed)
    uv_run(&loop, UV_RUN_ONCE);
  close_producer(p);

  read_stream(c, stream, cp.prefix, n, &rb);
  t = tally(&rb, 0, n);
  qsort(cons.items, cons.n, sizeof(*cons.items), delivered_cmp);
  for (i = 0; i < rb.n; i++) {
    delivered_t key;
    snprintf(key.key, sizeof(key.key), "%s|%s", rb.items[i].shard,
             rb.items[i].seq);
    if (bsearch(&key, cons.items, cons.n, sizeof(*cons.items),
                delivered_cmp) == NULL) {
      if (++missing <= 10)
        fprintf(stderr, "GAP: %s was not delivered\n", key.key);
    }
  }
  printf("# outage_consume: %zu records produced at 500/s, kinesalite down "
         "3000 ms from %" PRIu64 " ms; every record delivered after %"
         PRIu64 " ms\n", n, out.at_ms - start, done_ms);
  printf("#   producer: %zu acknowledged, %zu failed, %zu duplicates "
         "written, %zu lost\n", t.ok, t.failed, t.duplicates, t.lost);
  printf("#   consumer: %zu deliveries, %zu records, %zu delivered again, "
         "%zu times a shard went back, %" PRIu64 " GetRecords calls, "
         "%" PRIu64 " checkpoints; %zu of the %zu stream entries never "
         "delivered\n", cons.n, cons.unique, cons.redelivered, cons.rewinds,
         cst.get_records_calls, cst.checkpoints, missing, rb.n);
  ASSERT_EQ(0, t.lost);
  ASSERT_EQ(0, missing);

  readback_free(&rb);
  free(cons.items);
  free(cons.seen);
  close_client(&loop, c);
  free(cp.recs);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_producer_chaos), KN_TEST(test_outage_produce),
             KN_TEST(test_outage_outlasts_ttl), KN_TEST(test_outage_consume))
