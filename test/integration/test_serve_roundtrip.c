/*
 * The fake service against the library's own client, on one loop: create a
 * stream, wait for ACTIVE, PutRecords, ListShards, GetShardIterator at
 * TRIM_HORIZON, and GetRecords gives back exactly what was put. Then the
 * service's clock moves past an iterator's 5 minutes. Needs the model
 * (lib/testing/svc.c), nothing else.
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


static void rt_start(rt_t* t) {
  kinesis_client_options_t o;

  ASSERT_OK(uv_loop_init(&t->loop));
  ASSERT_OK(kinesis_serve_new(&t->loop, NULL, &t->serve));
  test_client_options(&o, kinesis_serve_url(t->serve));
  ASSERT_OK(kinesis_client_new(&t->loop, &o, &t->client));
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


KN_TEST_MAIN(KN_TEST(test_roundtrip), KN_TEST(test_close_service_first))
