#include "svc_util.h"

#include "internal.h"

/* The fake service's scheduled reshards (svc.h): applied by kn_svc_handle()
 * before a request once its clock has reached their time, as
 * UpdateShardCount would apply them; repeating ones alternating; skipped
 * for a stream that is gone or a count out of the rules; waiting for a
 * stream that is not ACTIVE; cancelled; and the admin requests that make
 * and cancel them. */


/* The stream's OpenShardCount, by a request at `now` (which applies what
 * is due). */
static int64_t open_count(const char* stream) {
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", stream));
  ok();
  return json_integer_value(json_object_get(
      json_object_get(rep, "StreamDescriptionSummary"), "OpenShardCount"));
}


static const char* stream_status(const char* stream) {
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", stream));
  ok();
  return str(json_object_get(rep, "StreamDescriptionSummary"),
             "StreamStatus");
}


static kn_svc_reshard_stats_t stats(void) {
  kn_svc_reshard_stats_t st;
  kn_svc_reshard_stats(svc, &st);
  return st;
}


/* An admin request of the model's. */
static json_t* admin(const char* op, json_t* body) {
  char target[128];
  char* text;
  ASSERT_NOT_NULL(body);
  text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  ASSERT_NOT_NULL(text);
  snprintf(target, sizeof(target), "LibkinesisServe.%s", op);
  raw(target, text, strlen(text));
  free(text);
  return rep;
}


static void test_once(void) {
  json_t* shards;
  json_t* sh;
  size_t i;
  size_t children = 0;
  char seq[KN_SVC_SEQ_LEN + 1];
  char shard[KN_SVC_SHARD_ID_MAX];

  start(0);
  create("s", 2);
  put("s", "a", "AA==", seq, shard);
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0 + 1000, 4, 0));
  ASSERT_EQ(1, stats().pending);

  /* Not a millisecond before. */
  now = T0 + 999;
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(0, stats().applied);
  /* The first request at its time sees the stream resharded. */
  now = T0 + 1000;
  ASSERT_EQ(4, open_count("s"));
  ASSERT_EQ(1, stats().applied);
  ASSERT_EQ(0, stats().pending);
  ASSERT_EQ(4, check_coverage("s"));
  check_lineage("s");
  shards = list_shards("s", NULL);
  ASSERT_EQ(6, json_array_size(shards));
  json_array_foreach(shards, i, sh) {
    json_t* p = json_object_get(sh, "ParentShardId");
    if (i < 2) {
      ASSERT(!is_open(sh));
      ASSERT_NULL(p);
    } else {
      /* Each parent split in two: a child of one parent. */
      ASSERT(is_open(sh));
      ASSERT_NOT_NULL(p);
      ASSERT_NULL(json_object_get(sh, "AdjacentParentShardId"));
      children++;
    }
  }
  ASSERT_EQ(4, children);
  json_decref(shards);
  /* The record written before is read from its closed shard, whose end
   * names the children. */
  ASSERT_EQ(1, read_to_end("s", shard));
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "ChildShards")));

  /* Once: nothing more happens later. */
  now += 60000;
  ASSERT_EQ(4, open_count("s"));
  ASSERT_EQ(1, stats().applied);
  stop();
}


static void test_repeat(void) {
  start(0);
  create("s", 2);
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0 + 1000, 4, 1000));
  now = T0 + 500;
  ASSERT_EQ(2, open_count("s"));
  now = T0 + 1000;
  ASSERT_EQ(4, open_count("s"));
  now = T0 + 1999;
  ASSERT_EQ(4, open_count("s"));
  /* Back to the count before the first reshard: two merges. */
  now = T0 + 2000;
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(2, check_coverage("s"));
  check_lineage("s");
  now = T0 + 3000;
  ASSERT_EQ(4, open_count("s"));
  ASSERT_EQ(3, stats().applied);
  /* A jump over several periods makes one reshard, and the next time is
   * the first after the jump. */
  now = T0 + 10500;
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(4, stats().applied);
  now = T0 + 10999;
  ASSERT_EQ(2, open_count("s"));
  now = T0 + 11000;
  ASSERT_EQ(4, open_count("s"));
  ASSERT_EQ(4, check_coverage("s"));
  check_lineage("s");
  ASSERT_EQ(5, stats().applied);
  ASSERT_EQ(0, stats().skipped);
  ASSERT_EQ(1, stats().pending);
  /* Records still go in and come out of the newest shards. */
  put("s", "k", "AA==", NULL, NULL);
  stop();
}


static void test_skipped(void) {
  start(0);
  create("d", 2);
  create("c", 1);
  create("t", 3);
  ASSERT_OK(kn_svc_schedule_reshard(svc, "never", T0 + 100, 2, 0));
  ASSERT_OK(kn_svc_schedule_reshard(svc, "d", T0 + 100, 4, 0));
  /* More than double: UpdateShardCount would refuse it. */
  ASSERT_OK(kn_svc_schedule_reshard(svc, "c", T0 + 100, 3, 0));
  /* A repeating one with a count the rules refuse at first (7 from 3)
   * tries it again each time. */
  ASSERT_OK(kn_svc_schedule_reshard(svc, "t", T0 + 100, 7, 100));
  call("DeleteStream", json_pack("{s:s}", "StreamName", "d"));
  ok();
  now = T0 + 100;
  /* The request that finds them due goes on unaffected. */
  ASSERT_EQ(1, open_count("c"));
  ASSERT_EQ(4, stats().skipped);
  ASSERT_EQ(0, stats().applied);
  ASSERT_EQ(1, stats().pending);
  ASSERT_EQ(3, open_count("t"));
  /* Scaled to 4 before its next time: 7 is then allowed. */
  call("UpdateShardCount",
       json_pack("{s:s, s:i, s:s}", "StreamName", "t", "TargetShardCount", 4,
                 "ScalingType", "UNIFORM_SCALING"));
  ok();
  now = T0 + 200;
  ASSERT_EQ(7, open_count("t"));
  ASSERT_EQ(1, stats().applied);
  ASSERT_EQ(7, check_coverage("t"));
  check_lineage("t");
  /* And back to 4, the count before its first reshard. */
  now = T0 + 300;
  ASSERT_EQ(4, open_count("t"));
  ASSERT_EQ(4, check_coverage("t"));
  check_lineage("t");
  /* A stream created under a schedule's name after a skip is found at the
   * next time of a repeating schedule. */
  ASSERT_OK(kn_svc_schedule_reshard(svc, "later", T0 + 400, 2, 100));
  now = T0 + 400;
  call("ListStreams", json_pack("{}"));
  ok();
  ASSERT_EQ(5, stats().skipped);
  create("later", 1);
  now = T0 + 500;
  ASSERT_EQ(2, open_count("later"));
  stop();
}


static void test_waits_for_active(void) {
  start(500);
  create("s", 1);
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0 + 100, 2, 0));
  now = T0 + 200;
  ASSERT_STR_EQ("CREATING", stream_status("s"));
  ASSERT_EQ(1, stats().pending);
  ASSERT_EQ(0, stats().skipped);
  /* ACTIVE at T0 + 500, then resharded, UPDATING for 500 ms more. */
  now = T0 + 500;
  ASSERT_STR_EQ("UPDATING", stream_status("s"));
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(1, stats().applied);
  now = T0 + 1000;
  ASSERT_STR_EQ("ACTIVE", stream_status("s"));
  stop();
}


static void test_cancel(void) {
  start(0);
  create("s", 2);
  create("t", 2);
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0 + 100, 4, 0));
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0 + 200, 1, 50));
  ASSERT_OK(kn_svc_schedule_reshard(svc, "t", T0 + 100, 3, 0));
  ASSERT_OK(kn_svc_schedule_reshard(svc, "u", T0 + 100, 3, 0));
  ASSERT_EQ(0, kn_svc_cancel_reshards(svc, "nothing"));
  ASSERT_EQ(2, kn_svc_cancel_reshards(svc, "s"));
  ASSERT_EQ(2, stats().pending);
  ASSERT_EQ(2, kn_svc_cancel_reshards(svc, NULL));
  ASSERT_EQ(0, stats().pending);
  now = T0 + 1000;
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(2, open_count("t"));
  ASSERT_EQ(0, stats().applied);
  ASSERT_EQ(0, stats().skipped);

  /* Bad arguments. */
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(svc, NULL, T0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(svc, "", T0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(svc, "a/b", T0, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(svc, "s", T0, 0, 0));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(
                                svc, "s", T0, KN_SVC_MAX_OPEN_SHARDS + 1, 0));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(svc, "s", -1, 2, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kn_svc_schedule_reshard(svc, "s", T0, 2, UINT64_MAX));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_schedule_reshard(NULL, "s", T0, 2, 0));
  ASSERT_OK(kn_svc_schedule_reshard(svc, "s", T0, KN_SVC_MAX_OPEN_SHARDS,
                                    INT64_MAX));
  /* Due at once, but 10,000 from 2 is out of the rules: skipped, and its
   * next time is past the end of time, so it is gone. */
  ASSERT_EQ(2, open_count("s"));
  ASSERT_EQ(1, stats().skipped);
  ASSERT_EQ(0, stats().pending);
  stop();
}


static void test_admin(void) {
  start(0);
  create("s", 2);
  now = T0 + 5000;
  admin("ScheduleReshard", json_pack("{s:s, s:i, s:i}", "StreamName", "s",
                                     "TargetShardCount", 3, "AfterMs", 100));
  ok();
  ASSERT(json_is_object(rep));
  ASSERT_EQ(0, json_object_size(rep));
  /* AfterMs counts from the request's clock. */
  now = T0 + 5099;
  ASSERT_EQ(2, open_count("s"));
  now = T0 + 5100;
  ASSERT_EQ(3, open_count("s"));
  ASSERT_EQ(3, check_coverage("s"));
  check_lineage("s");
  /* AfterMs absent: due at once, applied before the next request. */
  admin("ScheduleReshard", json_pack("{s:s, s:i, s:i}", "StreamName", "s",
                                     "TargetShardCount", 5, "EveryMs", 10));
  ok();
  ASSERT_EQ(5, open_count("s"));
  now += 10;
  ASSERT_EQ(3, open_count("s"));
  admin("CancelReshards", json_pack("{s:s}", "StreamName", "s"));
  ok();
  ASSERT_EQ(0, json_object_size(rep));
  ASSERT_EQ(0, stats().pending);
  now += 10;
  ASSERT_EQ(3, open_count("s"));
  admin("ScheduleReshard", json_pack("{s:s, s:i}", "StreamName", "x",
                                     "TargetShardCount", 2));
  ok();
  admin("CancelReshards", json_pack("{}"));
  ok();
  ASSERT_EQ(0, stats().pending);

  /* Bad bodies schedule nothing. */
  raw("LibkinesisServe.ScheduleReshard", "[1]", 3);
  err("SerializationException");
  raw("LibkinesisServe.ScheduleReshard", "", 0);
  err("SerializationException");
  admin("ScheduleReshard", json_pack("{s:s}", "StreamName", "s"));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:i}", "TargetShardCount", 2));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i}", "StreamName", "s",
                                     "TargetShardCount", 0));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i}", "StreamName", "s",
                                     "TargetShardCount", 10001));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:s, s:s}", "StreamName", "s",
                                     "TargetShardCount", "2"));
  err("SerializationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i, s:i}", "StreamName", "s",
                                     "TargetShardCount", 2, "AfterMs", -1));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i, s:f}", "StreamName", "s",
                                     "TargetShardCount", 2, "EveryMs", 1.5));
  err("SerializationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i}", "StreamName", "a b",
                                     "TargetShardCount", 2));
  err("ValidationException");
  admin("ScheduleReshard", json_pack("{s:s, s:i, s:i}", "StreamName", "s",
                                     "TargetShardCount", 2, "everyMs", 1));
  err("ValidationException");
  admin("CancelReshards", json_pack("{s:s}", "Stream", "s"));
  err("ValidationException");
  admin("CancelReshards", json_pack("{s:i}", "StreamName", 1));
  err("SerializationException");
  ASSERT_EQ(0, stats().pending);
  /* Admin names are not Kinesis operations, nor the other way round; and
   * SetFaults is the front's (serve.c), not the model's. */
  call("ScheduleReshard", json_pack("{s:s, s:i}", "StreamName", "s",
                                    "TargetShardCount", 2));
  err("UnknownOperationException");
  admin("ListStreams", json_pack("{}"));
  err("UnknownOperationException");
  admin("SetFaults", json_pack("{}"));
  err("UnknownOperationException");
  stop();
}


/* Every allocation failing in turn: a schedule made by the admin request
 * and applied, with nothing leaked and the stream consistent. */
static int scenario(void) {
  static const char* const reqs[][2] = {
      {"Kinesis_20131202.CreateStream",
       "{\"StreamName\":\"s\",\"ShardCount\":2}"},
      {"LibkinesisServe.ScheduleReshard",
       "{\"StreamName\":\"s\",\"TargetShardCount\":3,\"EveryMs\":10}"},
      {"Kinesis_20131202.ListShards", "{\"StreamName\":\"s\"}"},
      {"Kinesis_20131202.ListShards", "{\"StreamName\":\"s\"}"},
      {"LibkinesisServe.CancelReshards", "{}"},
  };
  kn_svc_t* s;
  kn_svc_reply_t reply;
  size_t i;
  int failures = 0;
  int r = kn_svc_new(NULL, &s);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    return 1;
  }
  kn_buf_init(&reply.body);
  for (i = 0; i < KN_ARRAY_SIZE(reqs); i++) {
    r = kn_svc_handle(s, T0 + 10 * (int64_t) i, reqs[i][0],
                      (const uint8_t*) reqs[i][1], strlen(reqs[i][1]),
                      &reply);
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_EQ(500, reply.status);
      failures++;
    }
  }
  {
    kn_svc_reshard_stats_t st;
    kn_svc_reshard_stats(s, &st);
    /* Applied or skipped (out of memory), never lost count of. */
    if (st.skipped > 0)
      failures++;
  }
  kn_buf_free(&reply.body);
  kn_svc_free(s);
  return failures;
}


static void test_alloc_failures(void) {
  kn_test_alloc_each(scenario, 5);
}


KN_TEST_MAIN(KN_TEST(test_once),
             KN_TEST(test_repeat),
             KN_TEST(test_skipped),
             KN_TEST(test_waits_for_active),
             KN_TEST(test_cancel),
             KN_TEST(test_admin),
             KN_TEST(test_alloc_failures))
