#include "client_util.h"
#include "service.h"

#include <string.h>

/*
 * Checkpoints the service refuses (issue 14, point 3), against kinesalite and
 * a real redis-server (test/with-servers.sh and test/with-redis.sh): a
 * stream is read and checkpointed in Redis, deleted and created again under
 * the same name, and read again by the same application. GetShardIterator
 * refuses the old checkpoint (InvalidArgumentException), and each choice of
 * `invalid_checkpoint` is checked for what it must do: FAIL stops the shard
 * without a retry loop and keeps its lease, TRIM_HORIZON reads exactly the
 * new records and checkpoints the last, LATEST reads only what comes after.
 *
 * kinesalite refuses an old stream's sequence number only when the two
 * creations fall in different seconds, so each case waits 1.1 s between
 * them.
 *
 * Consumer callbacks may run in the loop's idle or timer phase, so each
 * calls uv_stop() and the tests wait with WAIT_UNTIL(), which bounds the
 * wait.
 */

static uv_loop_t loop;
static const char* endpoint;
static const char* redis_url;

#define SHARD0 "shardId-000000000000"


static void wake(void) {
  uv_stop(&loop);
}


/* ---- Running the loop ---- */

/* Runs the loop until `cond` holds; fails after `ms` milliseconds. */
#define WAIT_UNTIL(cond, ms) TEST_WAIT_UNTIL(&loop, cond, ms, (void) 0)


/* ---- What a consumer saw ---- */

typedef struct {
  size_t delivered;
  char data[32][32];          /* the first records' data, as text */
  char last_seq[140];         /* the last record's sequence number */
  /* on_checkpoint_error */
  int errors;
  int error_status;
  char error_shard[64];
  char error_seq[140];
  uint32_t error_sub;
  char error_message[512];
  kinesis_consumer_t* consumer;
  int close_in_callback;      /* close the consumer from on_checkpoint_error */
  int closed;
} seen_t;


static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  seen_t* s = arg;
  (void) c;
  if (s->delivered < 32)
    snprintf(s->data[s->delivered], sizeof(s->data[0]), "%.*s", (int) r->len,
             (const char*) r->data);
  snprintf(s->last_seq, sizeof(s->last_seq), "%s", r->sequence_number);
  s->delivered++;
  wake();
}


static void on_consumer_closed(void* data, int status, void* arg) {
  seen_t* s = arg;
  (void) data;
  ASSERT_OK(status);
  s->closed++;
  wake();
}


static void on_checkpoint_error(kinesis_consumer_t* c,
                                const kinesis_checkpoint_error_t* e,
                                void* arg) {
  seen_t* s = arg;
  ASSERT(c == s->consumer);
  ASSERT_NOT_NULL(e->shard_id);
  ASSERT_NOT_NULL(e->sequence_number);
  ASSERT_NOT_NULL(e->message);
  s->errors++;
  s->error_status = e->status;
  s->error_sub = e->sub_sequence_number;
  snprintf(s->error_shard, sizeof(s->error_shard), "%s", e->shard_id);
  snprintf(s->error_seq, sizeof(s->error_seq), "%s", e->sequence_number);
  snprintf(s->error_message, sizeof(s->error_message), "%s", e->message);
  if (s->close_in_callback) {
    ASSERT_OK(kinesis_consumer_close(c, on_consumer_closed, s));
    ASSERT_EQ(0, s->closed);  /* never synchronous */
  }
  wake();
}


/* ---- Streams, records and checkpoints ---- */

static void put_records(kinesis_client_t* client, const char* stream,
                        const char* prefix, size_t n) {
  kinesis_record_t e[16];
  char data[16][32];
  capture_t cap;
  size_t i;
  ASSERT(n <= 16);
  memset(e, 0, sizeof(e));
  for (i = 0; i < n; i++) {
    snprintf(data[i], sizeof(data[i]), "%s-%zu", prefix, i);
    e[i].data = data[i];
    e[i].len = strlen(data[i]);
    e[i].partition_key = "k";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(client, stream, e, n, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(0, cap.failed);
  ASSERT_EQ(n, cap.nput);
}


/* Deletes the stream and waits until the service no longer knows it. */
static void delete_stream(kinesis_client_t* client, const char* stream) {
  capture_t cap;
  int i;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_delete_stream(client, stream, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  for (i = 0; i < 200; i++) {
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_describe_stream_summary(client, stream,
                                                     capture_cb, &cap));
    capture_wait(&loop, &cap);
    if (cap.status == KINESIS_ENOTFOUND)
      return;
    ASSERT_OK(cap.status);
    run_loop_for(&loop, 50);
  }
  ASSERT(!"the stream was not deleted within 10 s");
}


typedef struct {
  int done;
  int status;
  char seq[140];
} got_t;


static void on_got(int status, const kinesis_checkpoint_t* ckpt, void* arg) {
  got_t* g = arg;
  g->done = 1;
  g->status = status;
  snprintf(g->seq, sizeof(g->seq), "%s",
           status == 0 && ckpt->sequence_number != NULL
               ? ckpt->sequence_number
               : "");
  wake();
}


/* The shard's checkpoint as Redis holds it ("" when none). */
static void stored_checkpoint(kinesis_checkpointer_t* cp, const char* stream,
                              char* out, size_t size) {
  got_t g;
  memset(&g, 0, sizeof(g));
  ASSERT_OK(cp->ops->get(cp->self, stream, SHARD0, on_got, &g));
  WAIT_UNTIL(g.done, 5000);
  ASSERT_OK(g.status);
  snprintf(out, size, "%s", g.seq);
}


static void on_cp_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (*(int*) arg)++;
  wake();
}


/* ---- One consumer ---- */

static kinesis_consumer_t* consumer_start(kinesis_client_t* client,
                                          kinesis_checkpointer_t* cp,
                                          const char* stream,
                                          kinesis_invalid_checkpoint_t choice,
                                          seen_t* seen) {
  kinesis_consumer_options_t o;
  kinesis_consumer_t* c;
  kinesis_consumer_options_init(&o);
  ASSERT_EQ(KINESIS_INVALID_CHECKPOINT_FAIL, o.invalid_checkpoint);
  o.stream = stream;
  o.on_record = on_record;
  o.on_record_data = seen;
  o.checkpointer = cp;
  o.invalid_checkpoint = choice;
  o.on_checkpoint_error = on_checkpoint_error;
  o.on_checkpoint_error_data = seen;
  o.sleep_time_no_records_ms = 200;
  o.heartbeat_interval_ms = 500;
  ASSERT_OK(kinesis_consumer_new(client, &o, &c));
  seen->consumer = c;
  ASSERT_OK(kinesis_consumer_start(c));
  return c;
}


static void consumer_close(kinesis_consumer_t* c, seen_t* seen) {
  ASSERT_OK(kinesis_consumer_close(c, on_consumer_closed, seen));
  WAIT_UNTIL(seen->closed == 1, 10000);
}


static kinesis_consumer_stats_t stats_of(kinesis_consumer_t* c) {
  kinesis_consumer_stats_t st;
  ASSERT_OK(kinesis_consumer_stats(c, &st));
  return st;
}


/* ---- The scenario ---- */

typedef struct {
  kinesis_client_t* client;
  kinesis_checkpointer_t* cp;
  char stream[128];
  char old_checkpoint[140];
} world_t;


/* A 1-shard stream with 10 records, read and checkpointed by `app`, then
 * deleted and created again under its name (1.1 s after the first
 * creation, so kinesalite tells the two apart), with 5 new records. */
static void world_setup(world_t* w, const char* app) {
  kinesis_client_options_t co;
  kinesis_checkpointer_redis_options_t ro;
  kinesis_consumer_t* c;
  seen_t seen;
  char stored[140];
  uint64_t created;
  uint64_t elapsed_ms;
  size_t i;

  memset(w, 0, sizeof(*w));
  test_client_options(&co, endpoint);
  ASSERT_OK(kinesis_client_new(&loop, &co, &w->client));
  kinesis_checkpointer_redis_options_init(&ro);
  ro.url = redis_url;
  ro.app_name = app;
  ASSERT_OK(kinesis_checkpointer_redis_new(w->client, &ro, &w->cp));
  snprintf(w->stream, sizeof(w->stream), "%s", test_stream_name("ckpt"));

  created = uv_hrtime();
  create_active_stream(&loop, w->client, w->stream, 1);
  put_records(w->client, w->stream, "old", 10);
  memset(&seen, 0, sizeof(seen));
  c = consumer_start(w->client, w->cp, w->stream,
                     KINESIS_INVALID_CHECKPOINT_FAIL, &seen);
  WAIT_UNTIL(seen.delivered == 10, 20000);
  for (i = 0; i < 10; i++) {
    char want[32];
    snprintf(want, sizeof(want), "old-%zu", i);
    ASSERT_STR_EQ(want, seen.data[i]);
  }
  consumer_close(c, &seen);
  ASSERT_EQ(0, seen.errors);
  stored_checkpoint(w->cp, w->stream, stored, sizeof(stored));
  ASSERT_STR_EQ(seen.last_seq, stored);
  snprintf(w->old_checkpoint, sizeof(w->old_checkpoint), "%s", stored);

  delete_stream(w->client, w->stream);
  elapsed_ms = (uv_hrtime() - created) / 1000000;
  if (elapsed_ms < 1100)
    run_loop_for(&loop, 1100 - elapsed_ms);
  create_active_stream(&loop, w->client, w->stream, 1);
  put_records(w->client, w->stream, "new", 5);
}


static void world_teardown(world_t* w) {
  int closed = 0;
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_delete_stream(w->client, w->stream, capture_cb,
                                         &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  kinesis_checkpointer_close(w->cp, on_cp_closed, &closed);
  WAIT_UNTIL(closed == 1, 5000);
  close_client(&loop, w->client);
  kn_test_loop_close(&loop);
}


/* The refusal as on_checkpoint_error saw it, once. */
static void check_refusal(const world_t* w, const seen_t* seen) {
  ASSERT_EQ(1, seen->errors);
  ASSERT_EQ(KINESIS_EINVALIDARG, seen->error_status);
  ASSERT_STR_EQ(SHARD0, seen->error_shard);
  ASSERT_STR_EQ(w->old_checkpoint, seen->error_seq);
  ASSERT_EQ(0, seen->error_sub);
  ASSERT(seen->error_message[0] != '\0');
}


static void setup_env(void) {
  endpoint = test_endpoint();
  redis_url = kn_test_require_env("KINESIS_TEST_REDIS_URL");
  ASSERT_OK(uv_loop_init(&loop));
}


/* FAIL: the shard is not read and not retried, its lease kept; the
 * consumer is not ready; the stale checkpoint stays in the store. Another
 * consumer of the application that closes itself from the callback shows
 * the callback may close. */
static void test_fail(void) {
  world_t w;
  seen_t seen;
  seen_t again;
  kinesis_consumer_t* c;
  kinesis_consumer_stats_t st;
  uint64_t calls;
  char stored[140];

  setup_env();
  world_setup(&w, "ckpt-fail");
  memset(&seen, 0, sizeof(seen));
  c = consumer_start(w.client, w.cp, w.stream,
                     KINESIS_INVALID_CHECKPOINT_FAIL, &seen);
  WAIT_UNTIL(seen.errors == 1, 20000);
  check_refusal(&w, &seen);
  st = stats_of(c);
  ASSERT_EQ(1, st.invalid_checkpoints);
  ASSERT_EQ(0, st.ready);
  ASSERT_EQ(0, kinesis_consumer_ready(c));
  ASSERT_EQ(1, st.leases_held);
  ASSERT_EQ(1, st.nshards);
  ASSERT_STR_EQ("failed", st.shards[0].state);
  calls = st.get_records_calls;

  /* No retry loop: nothing more is asked or delivered; heartbeats (every
   * 500 ms) keep the lease. */
  run_loop_for(&loop, 2000);
  st = stats_of(c);
  ASSERT_EQ(calls, st.get_records_calls);
  ASSERT_EQ(0, seen.delivered);
  ASSERT_EQ(1, seen.errors);
  ASSERT_EQ(1, st.invalid_checkpoints);
  ASSERT_EQ(0, st.ready);
  ASSERT_EQ(1, st.leases_held);
  ASSERT_EQ(0, st.leases_lost);
  ASSERT_EQ(0, st.checkpoints);
  consumer_close(c, &seen);
  stored_checkpoint(w.cp, w.stream, stored, sizeof(stored));
  ASSERT_STR_EQ(w.old_checkpoint, stored);

  /* The lease was released at close: the next consumer claims the shard,
   * is refused the same checkpoint, and closes itself from the callback. */
  memset(&again, 0, sizeof(again));
  again.close_in_callback = 1;
  (void) consumer_start(w.client, w.cp, w.stream,
                        KINESIS_INVALID_CHECKPOINT_FAIL, &again);
  WAIT_UNTIL(again.closed == 1, 20000);
  check_refusal(&w, &again);
  ASSERT_EQ(0, again.delivered);
  stored_checkpoint(w.cp, w.stream, stored, sizeof(stored));
  ASSERT_STR_EQ(w.old_checkpoint, stored);
  world_teardown(&w);
}


/* TRIM_HORIZON: exactly the 5 new records, and the checkpoint moves to the
 * last of them. */
static void test_trim_horizon(void) {
  world_t w;
  seen_t seen;
  kinesis_consumer_t* c;
  kinesis_consumer_stats_t st;
  char stored[140];
  size_t i;

  setup_env();
  world_setup(&w, "ckpt-trim");
  memset(&seen, 0, sizeof(seen));
  c = consumer_start(w.client, w.cp, w.stream,
                     KINESIS_INVALID_CHECKPOINT_TRIM_HORIZON, &seen);
  WAIT_UNTIL(seen.delivered == 5, 20000);
  check_refusal(&w, &seen);
  for (i = 0; i < 5; i++) {
    char want[32];
    snprintf(want, sizeof(want), "new-%zu", i);
    ASSERT_STR_EQ(want, seen.data[i]);
  }
  /* Nothing else comes, and the shard is read. */
  run_loop_for(&loop, 1000);
  ASSERT_EQ(5, seen.delivered);
  ASSERT_EQ(1, seen.errors);
  st = stats_of(c);
  ASSERT_EQ(1, st.invalid_checkpoints);
  ASSERT_EQ(1, st.ready);
  ASSERT_STR_EQ("fetching", st.shards[0].state);
  consumer_close(c, &seen);
  stored_checkpoint(w.cp, w.stream, stored, sizeof(stored));
  ASSERT_STR_EQ(seen.last_seq, stored);
  ASSERT(strcmp(stored, w.old_checkpoint) != 0);
  world_teardown(&w);
}


/* LATEST: none of the 5 records put before; the 3 put once the shard is
 * read, and only they. */
static void test_latest(void) {
  world_t w;
  seen_t seen;
  kinesis_consumer_t* c;
  kinesis_consumer_stats_t st;
  char stored[140];
  size_t i;

  setup_env();
  world_setup(&w, "ckpt-latest");
  memset(&seen, 0, sizeof(seen));
  c = consumer_start(w.client, w.cp, w.stream,
                     KINESIS_INVALID_CHECKPOINT_LATEST, &seen);
  WAIT_UNTIL(seen.errors == 1 && kinesis_consumer_ready(c), 20000);
  check_refusal(&w, &seen);
  /* Ready: a GetRecords from the LATEST iterator succeeded. */
  run_loop_for(&loop, 500);
  ASSERT_EQ(0, seen.delivered);
  put_records(w.client, w.stream, "late", 3);
  WAIT_UNTIL(seen.delivered == 3, 20000);
  for (i = 0; i < 3; i++) {
    char want[32];
    snprintf(want, sizeof(want), "late-%zu", i);
    ASSERT_STR_EQ(want, seen.data[i]);
  }
  run_loop_for(&loop, 1000);
  ASSERT_EQ(3, seen.delivered);
  ASSERT_EQ(1, seen.errors);
  st = stats_of(c);
  ASSERT_EQ(1, st.invalid_checkpoints);
  consumer_close(c, &seen);
  stored_checkpoint(w.cp, w.stream, stored, sizeof(stored));
  ASSERT_STR_EQ(seen.last_seq, stored);
  world_teardown(&w);
}


/* An invalid_checkpoint out of range is refused by kinesis_consumer_new. */
static void test_option_range(void) {
  kinesis_client_options_t co;
  kinesis_client_t* client;
  kinesis_consumer_options_t o;
  kinesis_consumer_t* c = NULL;
  seen_t seen;

  setup_env();
  test_client_options(&co, endpoint);
  ASSERT_OK(kinesis_client_new(&loop, &co, &client));
  kinesis_consumer_options_init(&o);
  o.stream = "s";
  o.on_record = on_record;
  o.on_record_data = &seen;
  o.invalid_checkpoint = (kinesis_invalid_checkpoint_t) 3;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(client, &o, &c));
  o.invalid_checkpoint = (kinesis_invalid_checkpoint_t) -1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(client, &o, &c));
  ASSERT_NULL(c);
  o.invalid_checkpoint = KINESIS_INVALID_CHECKPOINT_LATEST;
  ASSERT_OK(kinesis_consumer_new(client, &o, &c));
  memset(&seen, 0, sizeof(seen));
  consumer_close(c, &seen);
  close_client(&loop, client);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_option_range), KN_TEST(test_fail),
             KN_TEST(test_trim_horizon), KN_TEST(test_latest))
