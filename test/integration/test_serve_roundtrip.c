/*
 * The fake service against the library's own client, on one loop: create a
 * stream, wait for ACTIVE, PutRecords, ListShards, GetShardIterator at
 * TRIM_HORIZON, and GetRecords gives back exactly what was put. Then the
 * service's clock moves past an iterator's 5 minutes. The throughput
 * limits as the client sees them: PutRecords entries over them failed
 * inside a 200, GetRecords throttled and retried; and none of it with the
 * limits off. The consumer calls of enhanced fan-out, each way. Needs the
 * model (lib/testing/svc.c), nothing else.
 */

#include "client_util.h"

#include "kinesis/testing.h"

#include <stdio.h>
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


static void rt_start_with(rt_t* t, unsigned limits_off) {
  kinesis_serve_options_t so;
  kinesis_client_options_t o;

  ASSERT_OK(uv_loop_init(&t->loop));
  kinesis_serve_options_init(&so);
  so.limits_off = limits_off;
  ASSERT_OK(kinesis_serve_new(&t->loop, &so, &t->serve));
  test_client_options(&o, kinesis_serve_url(t->serve));
  ASSERT_OK(kinesis_client_new(&t->loop, &o, &t->client));
}


static void rt_start(rt_t* t) {
  rt_start_with(t, 0);
}


static void rt_end(rt_t* t) {
  int closed = 0;

  close_client(&t->loop, t->client);
  ASSERT_OK(kinesis_serve_close(t->serve, on_serve_closed, &closed));
  ASSERT_EQ(0, closed);
  kn_test_loop_close(&t->loop);
  ASSERT_EQ(1, closed);
}


static void test_roundtrip(void) {
  static const char* const data[] = {"alpha", "beta", "gamma", "delta"};
  kinesis_record_t recs[4];
  kinesis_iterator_request_t itr;
  capture_t cap;
  rt_t t;
  size_t i;

  rt_start(&t);
  create_active_stream(&t.loop, t.client, "serve-rt", 1);

  for (i = 0; i < 4; i++) {
    memset(&recs[i], 0, sizeof(recs[i]));
    recs[i].data = data[i];
    recs[i].len = strlen(data[i]);
    recs[i].partition_key = "pk";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(t.client, "serve-rt", recs, 4,
                                       capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(4, cap.nput);
  ASSERT_EQ(0, cap.failed);
  ASSERT_EQ(36, strlen(cap.request_id));

  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(t.client, "serve-rt", capture_cb,
                                       &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.nshards);

  {
    char shard[64];
    snprintf(shard, sizeof(shard), "%s", cap.shard_ids[0]);
    memset(&itr, 0, sizeof(itr));
    itr.stream = "serve-rt";
    itr.shard_id = shard;
    itr.type = KINESIS_ITERATOR_TRIM_HORIZON;
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_shard_iterator(t.client, &itr, capture_cb,
                                                &cap));
    capture_wait(&t.loop, &cap);
  }
  ASSERT_OK(cap.status);
  ASSERT(cap.iterator[0] != '\0');

  {
    char iterator[600];
    snprintf(iterator, sizeof(iterator), "%s", cap.iterator);
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_records(t.client, iterator, 0, capture_cb,
                                         &cap));
    capture_wait(&t.loop, &cap);
    ASSERT_OK(cap.status);
    ASSERT_EQ(4, cap.nrecords);
    for (i = 0; i < 4; i++)
      ASSERT_STR_EQ(data[i], cap.records[i]);

    /* Five minutes on the service's clock: the iterator has expired. */
    ASSERT_OK(kinesis_serve_advance_clock(t.serve, 5 * 60 * 1000 + 1000));
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_records(t.client, iterator, 0, capture_cb,
                                         &cap));
    capture_wait(&t.loop, &cap);
    ASSERT_EQ(KINESIS_EEXPIRED, cap.status);
  }
  rt_end(&t);
}


/* Closing the service first, with the client's keep-alive connection to
 * it still open, then the client. */
static void test_close_service_first(void) {
  capture_t cap;
  rt_t t;
  int closed = 0;

  rt_start(&t);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_streams(t.client, capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_OK(kinesis_serve_close(t.serve, on_serve_closed, &closed));
  while (!closed)
    ASSERT(uv_run(&t.loop, UV_RUN_ONCE) != 0 || closed);
  close_client(&t.loop, t.client);
  kn_test_loop_close(&t.loop);
}


/* 500 small records to the one shard of `stream`; returns how many
 * failed (the call itself succeeds). */
static uint32_t put_500(rt_t* t, const char* stream) {
  static kinesis_record_t recs[500];
  capture_t cap;
  size_t i;
  for (i = 0; i < 500; i++) {
    memset(&recs[i], 0, sizeof(recs[i]));
    recs[i].data = "x";
    recs[i].len = 1;
    recs[i].partition_key = "pk";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(t->client, stream, recs, 500,
                                       capture_cb, &cap));
  capture_wait(&t->loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(500, cap.nput);
  return cap.failed;
}


/* GetRecords from TRIM_HORIZON of the stream's one shard; the capture of
 * its last call goes to `cap`. */
static void get_once(rt_t* t, const char* stream, capture_t* cap) {
  kinesis_iterator_request_t itr;
  char iterator[600];
  memset(&itr, 0, sizeof(itr));
  itr.stream = stream;
  itr.shard_id = "shardId-000000000000";
  itr.type = KINESIS_ITERATOR_TRIM_HORIZON;
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_get_shard_iterator(t->client, &itr, capture_cb,
                                              cap));
  capture_wait(&t->loop, cap);
  ASSERT_OK(cap->status);
  snprintf(iterator, sizeof(iterator), "%s", cap->iterator);
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_get_records(t->client, iterator, 1, capture_cb,
                                       cap));
  capture_wait(&t->loop, cap);
}


/* The limits by the wall clock (plus advances): batches of 500 records
 * until the shard's 1,000 a second is passed, which a client on one loop
 * does at once, unless the machine is very slow: up to 40 batches. */
static void test_throttled(void) {
  capture_t cap;
  rt_t t;
  int i;
  uint32_t failed = 0;

  rt_start(&t);
  create_active_stream(&t.loop, t.client, "serve-lim", 1);
  for (i = 0; i < 40 && failed == 0; i++)
    failed = put_500(&t, "serve-lim");
  ASSERT_GT(failed, 0);
  /* A second on the service's clock: the whole second's worth again. */
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 1000));
  ASSERT_EQ(0, put_500(&t, "serve-lim"));

  /* GetRecords, 5 a second: the client sees the throttling and retries
   * it (attempts), and may give up with KINESIS_ETHROUGHPUT when its
   * short backoff (test_client_options()) ends before the shard's 200 ms. */
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 1000));
  {
    kinesis_iterator_request_t itr;
    char iterator[600];
    memset(&itr, 0, sizeof(itr));
    itr.stream = "serve-lim";
    itr.shard_id = "shardId-000000000000";
    itr.type = KINESIS_ITERATOR_LATEST;
    memset(&cap, 0, sizeof(cap));
    ASSERT_OK(kinesis_client_get_shard_iterator(t.client, &itr, capture_cb,
                                                &cap));
    capture_wait(&t.loop, &cap);
    ASSERT_OK(cap.status);
    snprintf(iterator, sizeof(iterator), "%s", cap.iterator);
    for (i = 0; i < 40; i++) {
      memset(&cap, 0, sizeof(cap));
      ASSERT_OK(kinesis_client_get_records(t.client, iterator, 0, capture_cb,
                                           &cap));
      capture_wait(&t.loop, &cap);
      if (cap.status == KINESIS_ETHROUGHPUT || cap.attempts > 1)
        break;
      ASSERT_OK(cap.status);
    }
  }
  ASSERT_LT(i, 40);
  if (cap.status != 0) {
    ASSERT_EQ(KINESIS_ETHROUGHPUT, cap.status);
    ASSERT_STR_EQ("ProvisionedThroughputExceededException", cap.error_code);
  }
  rt_end(&t);
}


/* With every limit off, the same bursts pass on the first attempt. */
static void test_limits_off(void) {
  capture_t cap;
  rt_t t;
  int i;

  rt_start_with(&t, KINESIS_SERVE_LIMITS_ALL);
  create_active_stream(&t.loop, t.client, "serve-nolim", 1);
  for (i = 0; i < 6; i++)
    ASSERT_EQ(0, put_500(&t, "serve-nolim"));
  for (i = 0; i < 12; i++) {
    get_once(&t, "serve-nolim", &cap);
    ASSERT_OK(cap.status);
    ASSERT_EQ(1, cap.attempts);
    ASSERT_EQ(1, cap.nrecords);
  }
  rt_end(&t);
}


/* What a consumer call's callback saw. */
typedef struct {
  int done;
  int status;
  size_t n;
  char name[64];
  char arn[256];
  char status_text[16];
} consumer_cap_t;


static void on_consumer(kinesis_client_t* c, int status,
                        const kinesis_result_t* r, void* arg) {
  consumer_cap_t* cap = arg;
  (void) c;
  cap->done = 1;
  cap->status = status;
  cap->n = r->nconsumers;
  if (r->nconsumers > 0) {
    snprintf(cap->name, sizeof(cap->name), "%s", r->consumers[0].consumer_name);
    snprintf(cap->arn, sizeof(cap->arn), "%s", r->consumers[0].consumer_arn);
    snprintf(cap->status_text, sizeof(cap->status_text), "%s",
             r->consumers[0].consumer_status);
  }
}


static void consumer_wait(rt_t* t, consumer_cap_t* cap) {
  TEST_WAIT_UNTIL(&t->loop, cap->done, 10000, (void) 0);
}


/* The client's consumer calls against the fake service's: register by
 * stream name (the ARN looked up), the same name refused, describe by the
 * consumer's ARN, list, deregister by name. */
static void test_consumers(void) {
  rt_t t;
  consumer_cap_t cap;
  char arn[256];

  rt_start(&t);
  create_active_stream(&t.loop, t.client, "efo", 1);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_register_stream_consumer(t.client, "efo", "app",
                                                    on_consumer, &cap));
  consumer_wait(&t, &cap);
  ASSERT_OK(cap.status);
  ASSERT_STR_EQ("app", cap.name);
  ASSERT_STR_EQ("ACTIVE", cap.status_text);
  ASSERT(strncmp(cap.arn,
                 "arn:aws:kinesis:us-east-1:000000000000:stream/efo/consumer/"
                 "app:",
                 59) == 0);
  snprintf(arn, sizeof(arn), "%s", cap.arn);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_register_stream_consumer(t.client, "efo", "app",
                                                    on_consumer, &cap));
  consumer_wait(&t, &cap);
  ASSERT_EQ(KINESIS_EINUSE, cap.status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_describe_stream_consumer(t.client, NULL, NULL, arn,
                                                    on_consumer, &cap));
  consumer_wait(&t, &cap);
  ASSERT_OK(cap.status);
  ASSERT_STR_EQ("app", cap.name);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_stream_consumers(t.client, "efo", on_consumer,
                                                 &cap));
  consumer_wait(&t, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.n);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_deregister_stream_consumer(
      t.client, "efo", "app", NULL, on_consumer, &cap));
  consumer_wait(&t, &cap);
  ASSERT_OK(cap.status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_stream_consumers(t.client, "efo", on_consumer,
                                                 &cap));
  consumer_wait(&t, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(0, cap.n);
  rt_end(&t);
}


KN_TEST_MAIN(KN_TEST(test_roundtrip), KN_TEST(test_consumers), KN_TEST(test_close_service_first),
             KN_TEST(test_throttled), KN_TEST(test_limits_off))
