/*
 * The fake service's faults (kinesis_serve_faults_t), against the library's
 * own client on one loop: throttling and 5xx until they are cleared at run
 * time, partial failures of PutRecords (repeatable by their seed) and what
 * the stream then holds, connections dropped after the request was applied
 * (stored all the same) and before (nothing stored), latency, the admin
 * request LibkinesisServe.SetFaults over a plain TCP connection, closing
 * with a delayed answer pending, and the errors of the calls.
 *
 * SIGPIPE is deliberately left to its default here: a dropped connection
 * must not raise it in the process (serve_http.c's drop_request).
 */

#include "client_util.h"

#include "kinesis/testing.h"
#include "serve_admin.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


typedef struct {
  uv_loop_t loop;
  kinesis_serve_t* serve;
  kinesis_client_t* client;
} ft_t;


static void on_serve_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  (*(int*) arg)++;
}


/* A service with `faults` (may be NULL) and a client of `attempts`
 * attempts per call, with a stream `name` of one shard, made before any
 * fault can touch it when `faults` is NULL. */
static void ft_start(ft_t* t, const kinesis_serve_faults_t* faults,
                     uint32_t attempts, const char* name) {
  kinesis_serve_options_t so;
  kinesis_client_options_t o;

  ASSERT_OK(uv_loop_init(&t->loop));
  kinesis_serve_options_init(&so);
  so.faults = faults;
  ASSERT_OK(kinesis_serve_new(&t->loop, &so, &t->serve));
  test_client_options(&o, kinesis_serve_url(t->serve));
  o.max_attempts = attempts;
  o.retry_base_ms = 1;
  o.retry_cap_ms = 5;
  ASSERT_OK(kinesis_client_new(&t->loop, &o, &t->client));
  if (name != NULL)
    create_active_stream(&t->loop, t->client, name, 1);
}


static void ft_end(ft_t* t) {
  int closed = 0;

  close_client(&t->loop, t->client);
  ASSERT_OK(kinesis_serve_close(t->serve, on_serve_closed, &closed));
  kn_test_loop_close(&t->loop);
  ASSERT_EQ(1, closed);
}


/* ---- PutRecords, with each entry's outcome ---- */

typedef struct {
  int done;
  int status;
  uint32_t attempts;
  long http_status;
  char error_code[128];
  size_t n;
  uint32_t failed;
  char codes[64][64]; /* each entry's ErrorCode, "" when stored */
  double done_at;     /* uv_now() when it completed */
  uv_loop_t* loop;
} put_t;


static void on_put(kinesis_client_t* c, int status, const kinesis_result_t* r,
                   void* arg) {
  put_t* p = arg;
  size_t i;

  p->done = 1;
  p->status = status;
  p->attempts = r->attempts;
  p->http_status = r->http_status;
  snprintf(p->error_code, sizeof(p->error_code), "%s",
           r->error_code != NULL ? r->error_code : "");
  p->n = r->nput_entries;
  p->failed = r->failed_record_count;
  for (i = 0; i < r->nput_entries && i < 64; i++) {
    const kinesis_put_entry_result_t* e = &r->put_entries[i];
    snprintf(p->codes[i], sizeof(p->codes[i]), "%s",
             e->error_code != NULL ? e->error_code : "");
    if (e->error_code == NULL) {
      ASSERT_NOT_NULL(e->sequence_number);
      ASSERT_NOT_NULL(e->shard_id);
    } else {
      ASSERT_NULL(e->sequence_number);
      ASSERT_NOT_NULL(e->error_message);
    }
  }
  (void) c;
  p->done_at = (double) uv_now(p->loop);
}


static char texts[64][16];

/* PutRecords of records "r0".."r<n-1>" into `stream`. */
static void put_n(ft_t* t, const char* stream, size_t n, put_t* p) {
  kinesis_record_t recs[64];
  size_t i;

  ASSERT_LE(n, 64);
  for (i = 0; i < n; i++) {
    snprintf(texts[i], sizeof(texts[i]), "r%zu", i);
    memset(&recs[i], 0, sizeof(recs[i]));
    recs[i].data = texts[i];
    recs[i].len = strlen(texts[i]);
    recs[i].partition_key = "pk";
  }
  memset(p, 0, sizeof(*p));
  p->loop = &t->loop;
  ASSERT_OK(kinesis_client_put_records(t->client, stream, recs, n, on_put, p));
  TEST_WAIT_UNTIL(&t->loop, p->done, 20000, (void) 0);
}


/* What a stream holds, as text. */
typedef struct {
  size_t n;
  char data[128][16];
} held_t;


static void on_held(const char* shard, const kinesis_fetched_record_t* r,
                    void* arg) {
  held_t* h = arg;
  (void) shard;
  ASSERT_LT(h->n, 128);
  snprintf(h->data[h->n++], sizeof(h->data[0]), "%.*s", (int) r->len,
           (const char*) r->data);
}


static void read_held(ft_t* t, const char* stream, held_t* h) {
  memset(h, 0, sizeof(*h));
  read_whole_stream(&t->loop, t->client, stream, on_held, h);
}


static void faults_init(kinesis_serve_faults_t* f) {
  kinesis_serve_faults_init(f);
  ASSERT_EQ(sizeof(*f), f->size);
  ASSERT(f->throttle == 0 && f->error_5xx == 0 && f->partial == 0 &&
         f->drop_before == 0 && f->drop_after == 0);
  ASSERT_EQ(0, f->latency_ms);
  ASSERT_EQ(0, f->seed);
}


/* ---- The tests ---- */

static void test_throttle_then_cleared(void) {
  kinesis_serve_faults_t f;
  capture_t cap;
  put_t p;
  held_t h;
  ft_t t;

  ft_start(&t, NULL, 3, "throttled");
  faults_init(&f);
  f.throttle = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));

  put_n(&t, "throttled", 2, &p);
  ASSERT_EQ(KINESIS_ETHROUGHPUT, p.status);
  ASSERT_EQ(400, p.http_status);
  ASSERT_STR_EQ("ProvisionedThroughputExceededException", p.error_code);
  ASSERT_EQ(3, p.attempts);

  /* The control plane is not throttled. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(t.client, "throttled", capture_cb,
                                       &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);

  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  put_n(&t, "throttled", 2, &p);
  ASSERT_OK(p.status);
  ASSERT_EQ(1, p.attempts);
  ASSERT_EQ(0, p.failed);
  read_held(&t, "throttled", &h);
  ASSERT_EQ(2, h.n); /* only the second put's */
  ft_end(&t);
}


static void test_error_5xx_then_cleared(void) {
  kinesis_serve_faults_t f;
  capture_t cap;
  put_t p;
  ft_t t;

  ft_start(&t, NULL, 2, "failing");
  faults_init(&f);
  f.error_5xx = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  put_n(&t, "failing", 1, &p);
  ASSERT_EQ(KINESIS_ESERVICE, p.status);
  ASSERT(p.http_status == 500 || p.http_status == 503);
  ASSERT(strcmp(p.error_code, "InternalFailure") == 0 ||
         strcmp(p.error_code, "ServiceUnavailable") == 0);
  ASSERT_EQ(2, p.attempts);
  /* Every operation, the control plane's too. */
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(t.client, capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_EQ(KINESIS_ESERVICE, cap.status);

  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  put_n(&t, "failing", 1, &p);
  ASSERT_OK(p.status);
  ft_end(&t);
}


/* Partial failures, set by the options: some entries fail, the result
 * lists them, and the stream holds exactly the others, in order. The same
 * seed set again gives the same failures. */
static void test_partial(void) {
  kinesis_serve_faults_t f;
  put_t p;
  put_t again;
  held_t h;
  ft_t t;
  size_t i;
  size_t k;
  uint32_t failed = 0;

  faults_init(&f);
  f.partial = 0.5;
  f.seed = 42;
  ft_start(&t, &f, 1, "partial");
  put_n(&t, "partial", 40, &p);
  ASSERT_OK(p.status);
  ASSERT_EQ(40, p.n);
  ASSERT_GT(p.failed, 0);
  ASSERT_LT(p.failed, 40);
  for (i = 0; i < 40; i++) {
    if (p.codes[i][0] == '\0')
      continue;
    failed++;
    ASSERT(strcmp(p.codes[i], "ProvisionedThroughputExceededException") ==
               0 ||
           strcmp(p.codes[i], "InternalFailure") == 0);
  }
  ASSERT_EQ(p.failed, failed);

  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  read_held(&t, "partial", &h);
  ASSERT_EQ(40 - p.failed, h.n);
  for (i = 0, k = 0; i < 40; i++) {
    char want[16];
    if (p.codes[i][0] != '\0')
      continue;
    snprintf(want, sizeof(want), "r%zu", i);
    ASSERT_STR_EQ(want, h.data[k]);
    k++;
  }

  /* The same seed again: the same entries fail, with the same codes. */
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  put_n(&t, "partial", 40, &again);
  ASSERT_OK(again.status);
  ASSERT_EQ(p.failed, again.failed);
  for (i = 0; i < 40; i++)
    ASSERT_STR_EQ(p.codes[i], again.codes[i]);
  ft_end(&t);
}


/* drop_after: the client sees a lost connection, the record is stored
 * (at least once: the HTTP layer may send again on a fresh connection). */
static void test_drop_after(void) {
  kinesis_serve_faults_t f;
  put_t p;
  held_t h;
  ft_t t;
  size_t i;

  ft_start(&t, NULL, 1, "dropped-after");
  faults_init(&f);
  f.drop_after = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  put_n(&t, "dropped-after", 1, &p);
  ASSERT_NE(0, p.status);
  ASSERT_EQ(0, p.http_status);
  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  read_held(&t, "dropped-after", &h);
  ASSERT_GE(h.n, 1);
  ASSERT_LE(h.n, 2);
  for (i = 0; i < h.n; i++)
    ASSERT_STR_EQ("r0", h.data[i]);
  ft_end(&t);
}


/* drop_before: a lost connection, and nothing stored. */
static void test_drop_before(void) {
  kinesis_serve_faults_t f;
  put_t p;
  held_t h;
  ft_t t;

  ft_start(&t, NULL, 2, "dropped-before");
  faults_init(&f);
  f.drop_before = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  put_n(&t, "dropped-before", 3, &p);
  ASSERT_NE(0, p.status);
  ASSERT_EQ(0, p.http_status);
  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  read_held(&t, "dropped-before", &h);
  ASSERT_EQ(0, h.n);
  /* The service goes on answering. */
  put_n(&t, "dropped-before", 1, &p);
  ASSERT_OK(p.status);
  ft_end(&t);
}


/* Every answer comes latency_ms later, on the loop; the connection is
 * kept alive. Only a lower bound is asserted. */
static void test_latency(void) {
  kinesis_serve_faults_t f;
  put_t p;
  held_t h;
  ft_t t;
  double start;

  ft_start(&t, NULL, 1, "slow");
  faults_init(&f);
  f.latency_ms = 200;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  uv_update_time(&t.loop);
  start = (double) uv_now(&t.loop);
  put_n(&t, "slow", 1, &p);
  ASSERT_OK(p.status);
  ASSERT_GE(p.done_at - start, 200);
  /* A second one on the same connection. */
  uv_update_time(&t.loop);
  start = (double) uv_now(&t.loop);
  put_n(&t, "slow", 1, &p);
  ASSERT_OK(p.status);
  ASSERT_GE(p.done_at - start, 200);
  /* With a drop: dropped once the latency has passed. */
  f.drop_before = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  uv_update_time(&t.loop);
  start = (double) uv_now(&t.loop);
  put_n(&t, "slow", 1, &p);
  ASSERT_NE(0, p.status);
  ASSERT_GE(p.done_at - start, 200);
  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));
  read_held(&t, "slow", &h);
  ASSERT_EQ(2, h.n);
  ft_end(&t);
}


/* ---- The admin request ---- */

/* SetFaults with `body`; its status, and its body in `out`. */
static int admin(ft_t* t, const char* body, char* out, size_t size) {
  return serve_admin(&t->loop, t->serve, "SetFaults", body, out, size);
}


static void test_admin_request(void) {
  char body[1024];
  put_t p;
  ft_t t;

  ft_start(&t, NULL, 1, "admin");
  ASSERT_EQ(200, admin(&t, "{\"throttle\": 1, \"seed\": 7, "
                           "\"latency_ms\": 0, \"partial\": 0.25}",
                       body, sizeof(body)));
  ASSERT_STR_EQ("{}", body);
  put_n(&t, "admin", 1, &p);
  ASSERT_EQ(KINESIS_ETHROUGHPUT, p.status);

  /* Refused: nothing changes. */
  ASSERT_EQ(400, admin(&t, "{\"throttle\": 1.5}", body, sizeof(body)));
  ASSERT(strstr(body, "ValidationException") != NULL);
  ASSERT_EQ(400, admin(&t, "{\"drop_after\": -0.1}", body, sizeof(body)));
  ASSERT(strstr(body, "ValidationException") != NULL);
  ASSERT_EQ(400, admin(&t, "{\"latency_ms\": 4294967296}", body,
                       sizeof(body)));
  ASSERT(strstr(body, "ValidationException") != NULL);
  ASSERT_EQ(400, admin(&t, "{\"throtle\": 0}", body, sizeof(body)));
  ASSERT(strstr(body, "ValidationException") != NULL);
  ASSERT_EQ(400, admin(&t, "{\"error_5xx\": \"1\"}", body, sizeof(body)));
  ASSERT(strstr(body, "SerializationException") != NULL);
  ASSERT_EQ(400, admin(&t, "{\"seed\": 1.5}", body, sizeof(body)));
  ASSERT(strstr(body, "SerializationException") != NULL);
  ASSERT_EQ(400, admin(&t, "[1]", body, sizeof(body)));
  ASSERT(strstr(body, "SerializationException") != NULL);
  put_n(&t, "admin", 1, &p);
  ASSERT_EQ(KINESIS_ETHROUGHPUT, p.status);

  /* {} clears them. */
  ASSERT_EQ(200, admin(&t, "{}", body, sizeof(body)));
  put_n(&t, "admin", 1, &p);
  ASSERT_OK(p.status);
  ft_end(&t);
}


/* Closing the service while an answer waits out its latency: it is
 * answered at once, and the loop closes with nothing left. */
static void test_close_with_delayed_answer(void) {
  kinesis_serve_faults_t f;
  capture_t cap;
  ft_t t;
  int closed = 0;

  faults_init(&f);
  f.latency_ms = 60000;
  ft_start(&t, &f, 1, NULL);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(t.client, capture_cb, &cap));
  run_loop_for(&t.loop, 100);
  ASSERT_EQ(0, cap.done);
  ASSERT_OK(kinesis_serve_close(t.serve, on_serve_closed, &closed));
  TEST_WAIT_UNTIL(&t.loop, closed && cap.done, 10000, (void) 0);
  ASSERT_OK(cap.status);
  close_client(&t.loop, t.client);
  kn_test_loop_close(&t.loop);
}


/* The same with a drop pending behind the latency. */
static void test_close_with_delayed_drop(void) {
  kinesis_serve_faults_t f;
  capture_t cap;
  ft_t t;
  int closed = 0;

  faults_init(&f);
  f.latency_ms = 60000;
  f.drop_before = 1.0;
  ft_start(&t, &f, 1, NULL);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(t.client, capture_cb, &cap));
  run_loop_for(&t.loop, 100);
  ASSERT_EQ(0, cap.done);
  ASSERT_OK(kinesis_serve_close(t.serve, on_serve_closed, &closed));
  TEST_WAIT_UNTIL(&t.loop, closed && cap.done, 10000, (void) 0);
  ASSERT_NE(0, cap.status);
  close_client(&t.loop, t.client);
  kn_test_loop_close(&t.loop);
}


static void test_errors(void) {
  kinesis_serve_options_t so;
  kinesis_serve_faults_t f;
  kinesis_serve_t* serve = NULL;
  uv_loop_t loop;
  int closed = 0;

  ASSERT_OK(uv_loop_init(&loop));
  kinesis_serve_faults_init(NULL); /* nothing */
  faults_init(&f);
  kinesis_serve_options_init(&so);
  ASSERT_NULL(so.faults);

  /* Refused by the options: nothing is made. */
  f.partial = 1.01;
  so.faults = &f;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &so, &serve));
  ASSERT_NULL(serve);
  so.faults = NULL;
  ASSERT_OK(kinesis_serve_new(&loop, &so, &serve));

  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_set_faults(NULL, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_set_faults(serve, &f));
  faults_init(&f);
  f.throttle = -0.5;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_set_faults(serve, &f));
  faults_init(&f);
  f.drop_after = NAN;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_set_faults(serve, &f));
  faults_init(&f);
  f.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_set_faults(serve, &f));
  faults_init(&f);
  f.error_5xx = 1;
  f.drop_before = 0;
  ASSERT_OK(kinesis_serve_set_faults(serve, &f));
  ASSERT_OK(kinesis_serve_set_faults(serve, NULL));

  ASSERT_OK(kinesis_serve_close(serve, on_serve_closed, &closed));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_serve_set_faults(serve, NULL));
  kn_test_loop_close(&loop);
  ASSERT_EQ(1, closed);
}


KN_TEST_MAIN(KN_TEST(test_throttle_then_cleared),
             KN_TEST(test_error_5xx_then_cleared), KN_TEST(test_partial),
             KN_TEST(test_drop_after), KN_TEST(test_drop_before),
             KN_TEST(test_latency), KN_TEST(test_admin_request),
             KN_TEST(test_close_with_delayed_answer),
             KN_TEST(test_close_with_delayed_drop), KN_TEST(test_errors))
