/*
 * Scheduled reshards of the fake service (kinesis_serve_schedule_reshard(),
 * kinesis/testing.h) as the library's client sees them: ListShards before
 * and after the service's clock passes a schedule's time; cancelling;
 * the admin request LibkinesisServe.ScheduleReshard over a plain TCP
 * connection, unsigned and unfaulted on a service that checks signatures
 * and fails every Kinesis call; the errors of the calls; and the library's
 * producer and consumer (a memory checkpointer) on a stream resharded up
 * and down under them, every record read back, none lost.
 */

#include "client_util.h"

#include "kinesis/testing.h"
#include "serve_admin.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
  uv_loop_t loop;
  kinesis_serve_t* serve;
  kinesis_client_t* client;
} rt_t;


static void on_serve_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  (*(int*) arg)++;
}


static void rt_start_with(rt_t* t, const kinesis_serve_options_t* so) {
  kinesis_client_options_t o;

  ASSERT_OK(uv_loop_init(&t->loop));
  ASSERT_OK(kinesis_serve_new(&t->loop, so, &t->serve));
  test_client_options(&o, kinesis_serve_url(t->serve));
  ASSERT_OK(kinesis_client_new(&t->loop, &o, &t->client));
}


static void rt_end(rt_t* t) {
  int closed = 0;

  close_client(&t->loop, t->client);
  ASSERT_OK(kinesis_serve_close(t->serve, on_serve_closed, &closed));
  /* Closing: nothing more is scheduled. */
  ASSERT_EQ(KINESIS_ECLOSING,
            kinesis_serve_schedule_reshard(t->serve, "s", 0, 2, 0));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_serve_cancel_reshards(t->serve, NULL));
  kn_test_loop_close(&t->loop);
  ASSERT_EQ(1, closed);
}


/* ListShards: every shard, closed ones too. */
static size_t shard_count(rt_t* t, const char* stream) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(t->client, stream, capture_cb, &cap));
  capture_wait(&t->loop, &cap);
  ASSERT_OK(cap.status);
  return cap.nshards;
}


static uint32_t open_shards(rt_t* t, const char* stream) {
  capture_t cap;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_describe_stream_summary(t->client, stream,
                                                   capture_cb, &cap));
  capture_wait(&t->loop, &cap);
  ASSERT_OK(cap.status);
  return cap.open_shards;
}


static void test_schedule_and_list(void) {
  rt_t t;

  rt_start_with(&t, NULL);
  create_active_stream(&t.loop, t.client, "sched", 2);
  /* An hour on: nothing happens until the clock is moved there. */
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "sched", 3600 * 1000, 4,
                                           0));
  ASSERT_EQ(2, shard_count(&t, "sched"));
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 3600 * 1000 - 60 * 1000));
  ASSERT_EQ(2, shard_count(&t, "sched"));
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 60 * 1000));
  /* Two parents closed, four children. */
  ASSERT_EQ(6, shard_count(&t, "sched"));
  ASSERT_EQ(4, open_shards(&t, "sched"));

  /* Cancelled, by stream and all at once: nothing more happens. */
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "sched", 1000, 2, 0));
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "other", 1000, 2, 0));
  ASSERT_OK(kinesis_serve_cancel_reshards(t.serve, "sched"));
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "sched", 1000, 8, 1000));
  ASSERT_OK(kinesis_serve_cancel_reshards(t.serve, NULL));
  ASSERT_OK(kinesis_serve_cancel_reshards(t.serve, "nothing-here"));
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 10 * 1000));
  ASSERT_EQ(4, open_shards(&t, "sched"));
  ASSERT_EQ(6, shard_count(&t, "sched"));

  /* A count UpdateShardCount refuses (more than double) is skipped, and
   * no request fails for it. */
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "sched", 0, 9, 0));
  ASSERT_EQ(4, open_shards(&t, "sched"));

  /* Errors. */
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(NULL, "sched", 0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(t.serve, NULL, 0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(t.serve, "", 0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(t.serve, "no spaces", 0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(t.serve, "sched", 0, 0, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_serve_schedule_reshard(t.serve, "sched", 0, 10001, 0));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_schedule_reshard(
                                t.serve, "sched", UINT64_MAX, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_schedule_reshard(
                                t.serve, "sched", 0, 2, UINT64_MAX));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_cancel_reshards(NULL, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_cancel_reshards(t.serve, "a:b"));
  rt_end(&t);
}


/* ---- The admin requests ---- */

/* LibkinesisServe.`op` with `body`; its status, and its body in `out`. */
static int admin(rt_t* t, const char* op, const char* body, char* out,
                 size_t size) {
  return serve_admin(&t->loop, t->serve, op, body, out, size);
}


static void test_admin_request(void) {
  static const char* const keys[] = {"AKIDTEST:test-secret-key", NULL};
  kinesis_serve_options_t so;
  kinesis_serve_faults_t f;
  char body[1024];
  rt_t t;

  kinesis_serve_options_init(&so);
  so.keys = keys;
  rt_start_with(&t, &so);
  create_active_stream(&t.loop, t.client, "adm", 1);
  /* Every Kinesis call failed by a fault; the admin requests are not. */
  kinesis_serve_faults_init(&f);
  f.error_5xx = 1.0;
  ASSERT_OK(kinesis_serve_set_faults(t.serve, &f));
  ASSERT_EQ(200, admin(&t, "ScheduleReshard",
                       "{\"StreamName\": \"adm\", \"TargetShardCount\": 2, "
                       "\"AfterMs\": 60000, \"EveryMs\": 60000}",
                       body, sizeof(body)));
  ASSERT_STR_EQ("{}", body);
  /* Refused: nothing is scheduled. */
  ASSERT_EQ(400, admin(&t, "ScheduleReshard", "{\"StreamName\": \"adm\"}",
                       body, sizeof(body)));
  ASSERT_NOT_NULL(strstr(body, "ValidationException"));
  ASSERT_EQ(400, admin(&t, "ScheduleReshard",
                       "{\"StreamName\": \"adm\", \"TargetShardCount\": "
                       "\"2\"}",
                       body, sizeof(body)));
  ASSERT_NOT_NULL(strstr(body, "SerializationException"));
  ASSERT_EQ(400, admin(&t, "ScheduleReshard", "[]", body, sizeof(body)));
  ASSERT_NOT_NULL(strstr(body, "SerializationException"));
  ASSERT_EQ(400, admin(&t, "Reshard", "{}", body, sizeof(body)));
  ASSERT_NOT_NULL(strstr(body, "UnknownOperationException"));
  ASSERT_OK(kinesis_serve_set_faults(t.serve, NULL));

  /* A minute at a time: the client's signatures stay within the 5
   * minutes of the service's clock that they are allowed. */
  ASSERT_EQ(1, open_shards(&t, "adm"));
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 60 * 1000));
  ASSERT_EQ(2, open_shards(&t, "adm"));
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 60 * 1000));
  ASSERT_EQ(1, open_shards(&t, "adm"));
  ASSERT_EQ(200, admin(&t, "CancelReshards", "{\"StreamName\": \"adm\"}",
                       body, sizeof(body)));
  ASSERT_STR_EQ("{}", body);
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 60 * 1000));
  ASSERT_EQ(1, open_shards(&t, "adm"));
  rt_end(&t);
}


/* ---- A producer and a consumer while the stream reshards ---- */

#define RECORDS 2500
#define PER_TICK 25
#define TICKS_PER_RESHARD 10

typedef struct {
  rt_t* t;
  uv_timer_t tick;
  kinesis_producer_t* producer;
  kinesis_consumer_t* consumer;
  unsigned put;
  unsigned acked;
  unsigned consumed;
  unsigned duplicates;
  unsigned ticks;
  unsigned advances;
  unsigned char seen[RECORDS];
  int closing;
} app_t;


static void on_record(kinesis_consumer_t* consumer,
                      const kinesis_consumer_record_t* record, void* arg) {
  app_t* a = arg;
  unsigned n;
  (void) consumer;
  ASSERT_EQ(1, sscanf((const char*) record->data, "rec %u", &n));
  ASSERT_LT(n, RECORDS);
  if (a->seen[n]) {
    a->duplicates++;
    return;
  }
  a->seen[n] = 1;
  a->consumed++;
  if (a->consumed == RECORDS)
    uv_stop(&a->t->loop);
}


static void on_put(kinesis_producer_t* producer, int status,
                   const kinesis_put_result_t* result, void* arg) {
  app_t* a = arg;
  (void) producer;
  (void) result;
  ASSERT_OK(status);
  a->acked++;
}


/* PER_TICK records each tick; every TICKS_PER_RESHARD ticks the service's
 * clock moves a period on, so the schedule is due at the next request. */
static void on_tick(uv_timer_t* timer) {
  app_t* a = timer->data;
  kinesis_record_t rec;
  char data[32];
  unsigned i;

  memset(&rec, 0, sizeof(rec));
  rec.data = data;
  rec.partition_key = data;
  for (i = 0; i < PER_TICK && a->put < RECORDS; i++) {
    rec.len = (size_t) snprintf(data, sizeof(data), "rec %u", a->put) + 1;
    ASSERT_OK(kinesis_producer_put(a->producer, &rec, on_put, a));
    a->put++;
  }
  if (++a->ticks % TICKS_PER_RESHARD == 0) {
    ASSERT_OK(kinesis_serve_advance_clock(a->t->serve, 1000));
    a->advances++;
  }
  if (a->put == RECORDS)
    uv_timer_stop(timer);
}


static void on_app_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  (*(int*) arg)--;
}


static void test_consumer_follows_reshards(void) {
  kinesis_serve_options_t so;
  kinesis_producer_options_t po;
  kinesis_consumer_options_t co;
  app_t* a;
  rt_t t;
  int closing;
  size_t total;

  /* A client that hangs up while the service writes (testing.h). */
  signal(SIGPIPE, SIG_IGN);
  a = calloc(1, sizeof(*a));
  ASSERT_NOT_NULL(a);
  kinesis_serve_options_init(&so);
  /* The reshards are what this is about; the throughput limits are
   * test_serve_roundtrip's. */
  so.limits_off = KINESIS_SERVE_LIMITS_ALL;
  rt_start_with(&t, &so);
  a->t = &t;
  create_active_stream(&t.loop, t.client, "moving", 2);
  /* 2 -> 4 -> 2 -> 4 ..., a period of the service's clock apart. */
  ASSERT_OK(kinesis_serve_schedule_reshard(t.serve, "moving", 1000, 4, 1000));

  kinesis_consumer_options_init(&co);
  co.stream = "moving";
  co.on_record = on_record;
  co.on_record_data = a;
  co.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  co.sleep_time_no_records_ms = 50;
  co.shard_discovery_ms = 500;
  ASSERT_OK(kinesis_consumer_new(t.client, &co, &a->consumer));
  ASSERT_OK(kinesis_consumer_start(a->consumer));
  kinesis_producer_options_init(&po);
  po.stream = "moving";
  ASSERT_OK(kinesis_producer_new(t.client, &po, &a->producer));

  ASSERT_OK(uv_timer_init(&t.loop, &a->tick));
  a->tick.data = a;
  ASSERT_OK(uv_timer_start(&a->tick, on_tick, 20, 20));
  /* Generous: a loaded machine. No bound on time is asserted. */
  TEST_WAIT_UNTIL(&t.loop, a->consumed == RECORDS, 240000,
                  fprintf(stderr, "put %u acked %u consumed %u dup %u "
                                  "advances %u\n",
                          a->put, a->acked, a->consumed, a->duplicates,
                          a->advances));
  TEST_WAIT_UNTIL(&t.loop, a->acked == RECORDS, 60000, (void) 0);
  ASSERT_EQ(RECORDS / PER_TICK / TICKS_PER_RESHARD, a->advances);
  /* At least once, none lost; a duplicate would be the consumer's
   * re-reading after a reshard, which is allowed but reported. */
  if (a->duplicates > 0)
    fprintf(stderr, "note: %u records seen twice\n", a->duplicates);

  closing = 2;
  ASSERT_OK(kinesis_producer_close(a->producer, on_app_closed, &closing));
  ASSERT_OK(kinesis_consumer_close(a->consumer, on_app_closed, &closing));
  uv_close((uv_handle_t*) &a->tick, NULL);
  TEST_WAIT_UNTIL(&t.loop, closing == 0, 60000, (void) 0);

  /* The stream was resharded several times: each 2 -> 4 closes 2 shards
   * and opens 4, each 4 -> 2 closes 4 and opens 2; at least two reshards
   * give 8 shards listed (an advance each 10 ticks makes ten). */
  ASSERT_OK(kinesis_serve_cancel_reshards(t.serve, NULL));
  total = shard_count(&t, "moving");
  fprintf(stderr, "%zu shards listed after %u clock advances\n", total,
          a->advances);
  ASSERT_GE(total, 8);
  rt_end(&t);
  free(a);
}


KN_TEST_MAIN(KN_TEST(test_schedule_and_list), KN_TEST(test_admin_request),
             KN_TEST(test_consumer_follows_reshards))
