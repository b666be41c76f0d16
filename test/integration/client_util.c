#include "client_util.h"

#include <unistd.h>


void capture_cb(kinesis_client_t* c, int status, const kinesis_result_t* r,
                void* arg) {
  capture_t* cap = arg;
  size_t i;
  (void) c;
  ASSERT_NOT_NULL(r);
  cap->calls++;
  cap->done = 1;
  cap->status = status;
  cap->http_status = r->http_status;
  cap->attempts = r->attempts;
  cap->unsure_retries = r->unsure_retries;
  snprintf(cap->error_code, sizeof(cap->error_code), "%s",
           r->error_code ? r->error_code : "");
  snprintf(cap->error_message, sizeof(cap->error_message), "%s",
           r->error_message ? r->error_message : "");
  snprintf(cap->request_id, sizeof(cap->request_id), "%s",
           r->request_id ? r->request_id : "");
  if (r->summary != NULL) {
    snprintf(cap->stream_status, sizeof(cap->stream_status), "%s",
             r->summary->stream_status);
    cap->open_shards = r->summary->open_shard_count;
  }
  cap->nshards = r->nshards;
  for (i = 0; i < r->nshards && i < 16; i++)
    snprintf(cap->shard_ids[i], sizeof(cap->shard_ids[i]), "%s",
             r->shards[i].shard_id);
  snprintf(cap->iterator, sizeof(cap->iterator), "%s",
           r->shard_iterator ? r->shard_iterator : "");
  snprintf(cap->next_iterator, sizeof(cap->next_iterator), "%s",
           r->next_shard_iterator ? r->next_shard_iterator : "");
  cap->nrecords = r->nrecords;
  for (i = 0; i < r->nrecords && i < 64; i++) {
    snprintf(cap->records[i], sizeof(cap->records[i]), "%.*s",
             (int) r->records[i].len, (const char*) r->records[i].data);
    snprintf(cap->sequence_numbers[i], sizeof(cap->sequence_numbers[i]), "%s",
             r->records[i].sequence_number);
  }
  cap->nput = r->nput_entries;
  cap->failed = r->failed_record_count;
}


void capture_wait(uv_loop_t* loop, capture_t* cap) {
  while (!cap->done)
    ASSERT(uv_run(loop, UV_RUN_ONCE) != 0 || cap->done);
}


void test_client_options(kinesis_client_options_t* o, const char* endpoint) {
  kinesis_client_options_init(o);
  o->endpoint_url = endpoint;
  o->region = "us-east-1";
  o->access_key_id = "AKIDTEST";
  o->secret_access_key = "test-secret-key";
  o->retry_base_ms = 10;
  o->retry_cap_ms = 50;
}


void create_active_stream(uv_loop_t* loop, kinesis_client_t* c,
                          const char* name, uint32_t shards) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, name, shards, capture_cb, &cap));
  capture_wait(loop, &cap);
  ASSERT_OK(cap.status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, name, 20, 10000, capture_cb,
                                           &cap));
  capture_wait(loop, &cap);
  ASSERT_OK(cap.status);
}


const char* test_stream_name(const char* prefix) {
  static char name[128];
  static int n;
  snprintf(name, sizeof(name), "%s-%ld-%d", prefix, (long) getpid(), ++n);
  return name;
}


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (*(int*) arg)++;
}


void close_client(uv_loop_t* loop, kinesis_client_t* c) {
  int closed = 0;
  ASSERT_OK(kinesis_client_close(c, on_closed, &closed));
  ASSERT_EQ(0, closed);  /* never synchronous */
  ASSERT_EQ(KINESIS_EALREADY, kinesis_client_close(c, on_closed, &closed));
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
  ASSERT_EQ(1, closed);
}


static int run_for_state; /* 0 armed, 1 fired, 2 closed */


static void on_run_for_timer(uv_timer_t* t) {
  run_for_state = 1;
  /* Callbacks may run in the timer phase: let uv_run(ONCE) return. */
  uv_stop(t->loop);
}


static void on_run_for_closed(uv_handle_t* h) {
  (void) h;
  run_for_state = 2;
}


void run_loop_for(uv_loop_t* loop, uint64_t ms) {
  uv_timer_t t;
  run_for_state = 0;
  ASSERT_OK(uv_timer_init(loop, &t));
  ASSERT_OK(uv_timer_start(&t, on_run_for_timer, ms, 0));
  while (run_for_state == 0)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t*) &t, on_run_for_closed);
  while (run_for_state != 2)
    uv_run(loop, UV_RUN_NOWAIT);
}


typedef struct {
  stream_record_fn fn;
  void* arg;
  const char* shard;
  char iterator[600];
  int done;
  int empty_reads;
} shard_reader_t;


static void on_shard_records(kinesis_client_t* c, int status,
                             const kinesis_result_t* res, void* arg) {
  shard_reader_t* rd = arg;
  size_t i;
  ASSERT_OK(status);
  for (i = 0; i < res->nrecords; i++)
    rd->fn(rd->shard, &res->records[i], rd->arg);
  if (res->nrecords == 0)
    rd->empty_reads++;
  if (res->next_shard_iterator == NULL || rd->empty_reads >= 2) {
    rd->done = 1;
    return;
  }
  snprintf(rd->iterator, sizeof(rd->iterator), "%s", res->next_shard_iterator);
  ASSERT_OK(kinesis_client_get_records(c, rd->iterator, 10000,
                                       on_shard_records, rd));
}


void read_whole_stream(uv_loop_t* loop, kinesis_client_t* c,
                       const char* stream, stream_record_fn fn, void* arg) {
  capture_t cap;
  size_t nshards;
  char shard_ids[16][64];
  size_t i;

  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, stream, capture_cb, &cap));
  capture_wait(loop, &cap);
  ASSERT_OK(cap.status);
  nshards = cap.nshards;
  memcpy(shard_ids, cap.shard_ids, sizeof(shard_ids));
  for (i = 0; i < nshards; i++) {
    kinesis_iterator_request_t it;
    shard_reader_t rd;
    memset(&it, 0, sizeof(it));
    it.stream = stream;
    it.shard_id = shard_ids[i];
    it.type = KINESIS_ITERATOR_TRIM_HORIZON;
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_shard_iterator(c, &it, capture_cb, &cap));
    capture_wait(loop, &cap);
    ASSERT_OK(cap.status);
    memset(&rd, 0, sizeof(rd));
    rd.fn = fn;
    rd.arg = arg;
    rd.shard = shard_ids[i];
    snprintf(rd.iterator, sizeof(rd.iterator), "%s", cap.iterator);
    ASSERT_OK(kinesis_client_get_records(c, rd.iterator, 10000,
                                         on_shard_records, &rd));
    while (!rd.done)
      uv_run(loop, UV_RUN_ONCE);
  }
}


static void on_test_deadline(uv_timer_t* t) {
  test_deadline_t* d = t->data;
  d->fired = 1;
  uv_stop(d->loop);
}


static void on_test_deadline_closed(uv_handle_t* h) {
  test_deadline_t* d = h->data;
  d->closed = 1;
}


void test_deadline_start(test_deadline_t* d, uv_loop_t* loop, uint64_t ms) {
  memset(d, 0, sizeof(*d));
  d->loop = loop;
  ASSERT_OK(uv_timer_init(loop, &d->timer));
  d->timer.data = d;
  ASSERT_OK(uv_timer_start(&d->timer, on_test_deadline, ms, 0));
}


void test_deadline_end(test_deadline_t* d) {
  uv_close((uv_handle_t*) &d->timer, on_test_deadline_closed);
  while (!d->closed)
    uv_run(d->loop, UV_RUN_NOWAIT);
}


void service_answer_cb(kinesis_client_t* c, int status,
                       const kinesis_result_t* res, void* arg) {
  service_answer_t* a = arg;
  (void) c;
  a->done++;
  a->status = status;
  snprintf(a->code, sizeof(a->code), "%s",
           res->error_code != NULL ? res->error_code : "");
  if (status == 0)
    snprintf(a->body, sizeof(a->body), "%s", kn_client_result_body(res, NULL));
}


void service_call_wait(uv_loop_t* loop, kinesis_client_t* c,
                       kn_service_target_t* t, const char* action,
                       const char* body, service_answer_t* a) {
  memset(a, 0, sizeof(*a));
  ASSERT_OK(kn_client_service_call(c, t, action, body, strlen(body),
                                   service_answer_cb, a, NULL));
  ASSERT_EQ(0, a->done);  /* never inside the call */
  TEST_WAIT_UNTIL(loop, a->done == 1, 10000, (void) 0);
}
