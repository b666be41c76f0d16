/*
 * The fake service's consumers of enhanced fan-out (lib/testing/
 * svc_consumers.c), through kn_svc_handle(): registration and its
 * refusals, the CREATING and DELETING states by the service's clock,
 * description by ARN and by name, listing in pages, and a consumer going
 * with its stream. SubscribeToShard: the refusals, then the events of a
 * subscription as event-stream messages, decoded: the initial response,
 * records, heartbeats, continuation, the 5 minutes, the end of a closed
 * shard with its children, and the exception when the consumer goes.
 */

#include "svc_util.h"

#include <string.h>

#include "eventstream.h"

#define ARN "arn:aws:kinesis:us-east-1:000000000000:stream/s"


static json_t* consumer_req(const char* stream_arn, const char* name) {
  return json_pack("{s:s, s:s}", "StreamARN", stream_arn, "ConsumerName",
                   name);
}


static void test_register_and_describe(void) {
  char carn[512];
  json_t* c;

  start(1000);
  create("s", 1);
  now += 1000;
  call("RegisterStreamConsumer", consumer_req(ARN, "app"));
  ok();
  c = json_object_get(rep, "Consumer");
  ASSERT_STR_EQ("app", str(c, "ConsumerName"));
  ASSERT_STR_EQ("CREATING", str(c, "ConsumerStatus"));
  snprintf(carn, sizeof(carn), "%s", str(c, "ConsumerARN"));
  ASSERT_STR_EQ(ARN "/consumer/app:1700000001", carn);
  ASSERT(json_real_value(json_object_get(c, "ConsumerCreationTimestamp")) ==
         1700000001.0);
  ASSERT_NULL(json_object_get(c, "StreamARN"));

  /* The same name again; a bad name; no stream; another stream. */
  call("RegisterStreamConsumer", consumer_req(ARN, "app"));
  err("ResourceInUseException");
  call("RegisterStreamConsumer", consumer_req(ARN, "a b"));
  err("ValidationException");
  call("RegisterStreamConsumer", json_pack("{s:s}", "ConsumerName", "x"));
  err("ValidationException");
  call("RegisterStreamConsumer",
       consumer_req("arn:aws:kinesis:us-east-1:000000000000:stream/nope", "x"));
  err("ResourceNotFoundException");

  /* CREATING until the transition is over, then ACTIVE. */
  call("DescribeStreamConsumer", json_pack("{s:s}", "ConsumerARN", carn));
  ok();
  c = json_object_get(rep, "ConsumerDescription");
  ASSERT_STR_EQ("CREATING", str(c, "ConsumerStatus"));
  ASSERT_STR_EQ(ARN, str(c, "StreamARN"));
  now += 1000;
  call("DescribeStreamConsumer", consumer_req(ARN, "app"));
  ok();
  c = json_object_get(rep, "ConsumerDescription");
  ASSERT_STR_EQ("ACTIVE", str(c, "ConsumerStatus"));
  ASSERT_STR_EQ(carn, str(c, "ConsumerARN"));
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
  ok();
  ASSERT_EQ(1, json_integer_value(json_object_get(
                   json_object_get(rep, "StreamDescriptionSummary"),
                   "ConsumerCount")));

  /* Unknown consumers, malformed ARNs, and neither way of naming one. */
  call("DescribeStreamConsumer", consumer_req(ARN, "other"));
  err("ResourceNotFoundException");
  call("DescribeStreamConsumer",
       json_pack("{s:s}", "ConsumerARN", ARN "/consumer/app:1"));
  err("ResourceNotFoundException");
  call("DescribeStreamConsumer", json_pack("{s:s}", "ConsumerARN", "arn:x"));
  err("ValidationException");
  call("DescribeStreamConsumer", json_pack("{}"));
  err("InvalidArgumentException");
  stop();
}


static void test_deregister(void) {
  char carn[512];

  start(500);
  create("s", 1);
  now += 500;
  call("RegisterStreamConsumer", consumer_req(ARN, "a"));
  ok();
  snprintf(carn, sizeof(carn), "%s",
           str(json_object_get(rep, "Consumer"), "ConsumerARN"));
  call("DeregisterStreamConsumer", json_pack("{s:s}", "ConsumerARN", carn));
  ok();
  /* DELETING for the transition, then gone; the name may be taken again. */
  call("ListStreamConsumers", json_pack("{s:s}", "StreamARN", ARN));
  ok();
  ASSERT_STR_EQ("DELETING",
                str(json_array_get(json_object_get(rep, "Consumers"), 0),
                    "ConsumerStatus"));
  call("RegisterStreamConsumer", consumer_req(ARN, "a"));
  err("ResourceInUseException");
  now += 500;
  call("ListStreamConsumers", json_pack("{s:s}", "StreamARN", ARN));
  ok();
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Consumers")));
  call("DeregisterStreamConsumer", consumer_req(ARN, "a"));
  err("ResourceNotFoundException");
  call("RegisterStreamConsumer", consumer_req(ARN, "a"));
  ok();
  /* Deleting the stream takes its consumers: a stream of the same name
   * starts with none. */
  call("DeleteStream", json_pack("{s:s}", "StreamName", "s"));
  ok();
  now += 500;
  create("s", 1);
  now += 500;
  call("ListStreamConsumers", json_pack("{s:s}", "StreamARN", ARN));
  ok();
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Consumers")));
  stop();
}


static void test_list_pages_and_limit(void) {
  char token[600];
  char name[8];
  int i;

  start(0);
  create("s", 1);
  for (i = 0; i < 20; i++) {
    snprintf(name, sizeof(name), "c%02d", i);
    call("RegisterStreamConsumer", consumer_req(ARN, name));
    ok();
    /* No transition: ACTIVE at once. */
    ASSERT_STR_EQ("ACTIVE",
                  str(json_object_get(rep, "Consumer"), "ConsumerStatus"));
  }
  call("RegisterStreamConsumer", consumer_req(ARN, "one-too-many"));
  err("LimitExceededException");

  call("ListStreamConsumers",
       json_pack("{s:s, s:i}", "StreamARN", ARN, "MaxResults", 15));
  ok();
  ASSERT_EQ(15, json_array_size(json_object_get(rep, "Consumers")));
  snprintf(token, sizeof(token), "%s", str(rep, "NextToken"));
  call("ListStreamConsumers",
       json_pack("{s:s, s:s}", "StreamARN", ARN, "NextToken", token));
  ok();
  ASSERT_EQ(5, json_array_size(json_object_get(rep, "Consumers")));
  ASSERT_STR_EQ("c15", str(json_array_get(json_object_get(rep, "Consumers"),
                                          0),
                           "ConsumerName"));
  ASSERT_NULL(json_object_get(rep, "NextToken"));
  call("ListStreamConsumers",
       json_pack("{s:s, s:s}", "StreamARN", ARN, "NextToken", "junk"));
  err("InvalidArgumentException");
  now += 5 * 60 * 1000 + 1;
  call("ListStreamConsumers",
       json_pack("{s:s, s:s}", "StreamARN", ARN, "NextToken", token));
  err("ExpiredNextTokenException");
  call("ListStreamConsumers",
       json_pack("{s:s, s:i}", "StreamARN", ARN, "MaxResults", 0));
  err("ValidationException");
  stop();
}


/* ---- SubscribeToShard ---- */

/* A consumer "app" registered (ACTIVE) on stream s of `shards` shards;
 * its ARN into `carn`. */
static void setup_consumer(int shards, char* carn, size_t size) {
  start(0);
  create("s", shards);
  call("RegisterStreamConsumer", consumer_req(ARN, "app"));
  ok();
  snprintf(carn, size, "%s",
           str(json_object_get(rep, "Consumer"), "ConsumerARN"));
}


static json_t* sub_req(const char* carn, const char* shard, const char* type,
                       const char* seq) {
  json_t* pos = json_pack("{s:s}", "Type", type);
  if (seq != NULL)
    json_object_set_new(pos, "SequenceNumber", json_string(seq));
  return json_pack("{s:s, s:s, s:o}", "ConsumerARN", carn, "ShardId", shard,
                   "StartingPosition", pos);
}


/* kn_svc_subscribe(); the subscription, or NULL with the refusal in
 * `status`, `etype` and `rep` as call() leaves them. */
static kn_svc_sub_t* subscribe(json_t* req) {
  kn_svc_reply_t reply;
  kn_svc_sub_t* sub;
  char* text = json_dumps(req, 0);
  ASSERT_NOT_NULL(text);
  json_decref(req);
  kn_buf_init(&reply.body);
  reply.status = 0;
  reply.error_type = NULL;
  ASSERT_OK(kn_svc_subscribe(svc, now, (const uint8_t*) text, strlen(text),
                             &reply, &sub));
  free(text);
  json_decref(rep);
  rep = NULL;
  status = sub != NULL ? 200 : reply.status;
  etype = reply.error_type;
  if (sub == NULL) {
    rep = json_loadb((const char*) reply.body.data, reply.body.len, 0, NULL);
    ASSERT_NOT_NULL(rep);
  } else {
    ASSERT_EQ(0, reply.body.len);
  }
  kn_buf_free(&reply.body);
  return sub;
}


static int collect(void* arg, const kn_es_message_t* m) {
  json_t* list = arg;
  const kn_es_header_t* kind = kn_es_header(m, ":message-type");
  const kn_es_header_t* type = kn_es_header(m, ":event-type");
  json_t* payload;
  if (type == NULL)
    type = kn_es_header(m, ":exception-type");
  ASSERT(kind != NULL && type != NULL);
  ASSERT(kn_es_header_is(m, ":content-type", "application/json"));
  payload = json_loadb((const char*) m->payload.ptr, m->payload.len, 0, NULL);
  ASSERT_NOT_NULL(payload);
  json_array_append_new(
      list, json_pack("{s:s%, s:s%, s:o}", "kind", (const char*) kind->bytes.ptr,
                      kind->bytes.len, "type", (const char*) type->bytes.ptr,
                      type->bytes.len, "payload", payload));
  return 0;
}


/* kn_svc_sub_next() at `now`: its messages, decoded, and `*done`. */
static json_t* next_events(kn_svc_sub_t* sub, int* done) {
  kn_buf_t out = KN_BUF_INIT;
  kn_es_decoder_t d;
  json_t* list = json_array();
  ASSERT_OK(kn_svc_sub_next(svc, sub, now, &out, done));
  kn_es_decoder_init(&d);
  ASSERT_OK(kn_es_decoder_feed(&d, out.data, out.len, collect, list));
  ASSERT(kn_es_decoder_idle(&d));
  kn_es_decoder_free(&d);
  kn_buf_free(&out);
  return list;
}


static const char* ev_type(json_t* list, size_t i) {
  return json_string_value(json_object_get(json_array_get(list, i), "type"));
}


static json_t* ev_payload(json_t* list, size_t i) {
  return json_object_get(json_array_get(list, i), "payload");
}


/* A subscription to shard 0 AFTER `cont`, whose first event must hold
 * exactly the one record `data` (base64); the subscription. */
static kn_svc_sub_t* resubscribe_one(const char* carn, const char* cont,
                                     const char* data) {
  kn_svc_sub_t* sub = subscribe(sub_req(carn, "shardId-000000000000",
                                        "AFTER_SEQUENCE_NUMBER", cont));
  json_t* ev;
  json_t* recs;
  int done = 0;
  ASSERT_NOT_NULL(sub);
  ev = next_events(sub, &done);
  recs = json_object_get(ev_payload(ev, 1), "Records");
  ASSERT_EQ(1, json_array_size(recs));
  ASSERT_STR_EQ(data, str(json_array_get(recs, 0), "Data"));
  json_decref(ev);
  return sub;
}


static void test_subscribe_refusals(void) {
  char carn[512];
  kn_svc_sub_t* sub;

  setup_consumer(1, carn, sizeof(carn));
  ASSERT_NULL(subscribe(json_pack("{s:s, s:{s:s}}", "ShardId",
                                  "shardId-000000000000", "StartingPosition",
                                  "Type", "LATEST")));
  ASSERT_EQ(400, status);
  ASSERT_STR_EQ("ValidationException", etype);
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000000", "SOMEWHERE",
                                NULL)));
  ASSERT_STR_EQ("ValidationException", etype);
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000000", "LATEST",
                                "49")));
  ASSERT_STR_EQ("InvalidArgumentException", etype);
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000009", "LATEST",
                                NULL)));
  ASSERT_STR_EQ("ResourceNotFoundException", etype);
  ASSERT_NULL(subscribe(sub_req(ARN "/consumer/other:1", "shardId-000000000000",
                                "LATEST", NULL)));
  ASSERT_STR_EQ("ResourceNotFoundException", etype);
  /* A sequence number of no record of this shard. */
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000000",
                                "AT_SEQUENCE_NUMBER",
                                "4999999999999999999990000000000")));
  ASSERT_STR_EQ("InvalidArgumentException", etype);
  /* One subscription of a consumer to a shard at a time. */
  sub = subscribe(sub_req(carn, "shardId-000000000000", "LATEST", NULL));
  ASSERT_NOT_NULL(sub);
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000000", "TRIM_HORIZON",
                                NULL)));
  ASSERT_STR_EQ("ResourceInUseException", etype);
  kn_svc_sub_free(svc, sub);
  sub = subscribe(sub_req(carn, "shardId-000000000000", "TRIM_HORIZON", NULL));
  ASSERT_NOT_NULL(sub);
  kn_svc_sub_free(svc, sub);
  stop();

  /* A consumer still CREATING may not subscribe yet. */
  start(1000);
  create("s", 1);
  now += 1000;
  call("RegisterStreamConsumer", consumer_req(ARN, "app"));
  ok();
  snprintf(carn, sizeof(carn), "%s",
           str(json_object_get(rep, "Consumer"), "ConsumerARN"));
  ASSERT_NULL(subscribe(sub_req(carn, "shardId-000000000000", "LATEST",
                                NULL)));
  ASSERT_STR_EQ("ResourceInUseException", etype);
  stop();
}


static void test_subscribe_events(void) {
  char carn[512];
  char seq2[64];
  char cont[64];
  kn_svc_sub_t* sub;
  json_t* ev;
  json_t* recs;
  int done = 0;

  setup_consumer(1, carn, sizeof(carn));
  put("s", "k", "b25l", NULL, NULL);           /* "one" */
  put("s", "k", "dHdv", seq2, NULL);           /* "two" */
  sub = subscribe(sub_req(carn, "shardId-000000000000", "TRIM_HORIZON", NULL));
  ASSERT_NOT_NULL(sub);
  /* The initial response, then the two records. */
  ev = next_events(sub, &done);
  ASSERT_EQ(0, done);
  ASSERT_EQ(2, json_array_size(ev));
  ASSERT_STR_EQ("initial-response", ev_type(ev, 0));
  ASSERT_STR_EQ("SubscribeToShardEvent", ev_type(ev, 1));
  recs = json_object_get(ev_payload(ev, 1), "Records");
  ASSERT_EQ(2, json_array_size(recs));
  ASSERT_STR_EQ("b25l", str(json_array_get(recs, 0), "Data"));
  ASSERT_STR_EQ(seq2, str(ev_payload(ev, 1), "ContinuationSequenceNumber"));
  ASSERT_EQ(0, json_integer_value(
                   json_object_get(ev_payload(ev, 1), "MillisBehindLatest")));
  json_decref(ev);
  /* Nothing new: nothing until a second has gone, then an empty event. */
  now += 500;
  ev = next_events(sub, &done);
  ASSERT_EQ(0, json_array_size(ev));
  json_decref(ev);
  now += 500;
  ev = next_events(sub, &done);
  ASSERT_EQ(1, json_array_size(ev));
  ASSERT_EQ(0, json_array_size(json_object_get(ev_payload(ev, 0), "Records")));
  ASSERT_STR_EQ(seq2, str(ev_payload(ev, 0), "ContinuationSequenceNumber"));
  json_decref(ev);
  /* A record put now comes at once. */
  put("s", "k", "dGhyZWU=", NULL, NULL);
  ev = next_events(sub, &done);
  ASSERT_EQ(1, json_array_size(json_object_get(ev_payload(ev, 0), "Records")));
  snprintf(cont, sizeof(cont), "%s",
           str(ev_payload(ev, 0), "ContinuationSequenceNumber"));
  json_decref(ev);
  kn_svc_sub_free(svc, sub);

  /* Again AFTER the continuation: nothing sent twice, nothing missed. */
  put("s", "k", "Zm91cg==", NULL, NULL);
  sub = resubscribe_one(carn, cont, "Zm91cg==");
  /* Five minutes later it is over, with no event. */
  now += 5 * 60 * 1000;
  ev = next_events(sub, &done);
  ASSERT_EQ(1, done);
  ASSERT_EQ(0, json_array_size(ev));
  json_decref(ev);
  kn_svc_sub_free(svc, sub);

  /* LATEST, empty at first: its continuation lets a new subscription
   * start just there. */
  sub = subscribe(sub_req(carn, "shardId-000000000000", "LATEST", NULL));
  ev = next_events(sub, &done);
  ASSERT_EQ(0, json_array_size(json_object_get(ev_payload(ev, 1), "Records")));
  snprintf(cont, sizeof(cont), "%s",
           str(ev_payload(ev, 1), "ContinuationSequenceNumber"));
  json_decref(ev);
  kn_svc_sub_free(svc, sub);
  put("s", "k", "Zml2ZQ==", NULL, NULL);
  sub = resubscribe_one(carn, cont, "Zml2ZQ==");
  /* Deregistering the consumer ends it with an exception. */
  call("DeregisterStreamConsumer", json_pack("{s:s}", "ConsumerARN", carn));
  ok();
  ev = next_events(sub, &done);
  ASSERT_EQ(1, done);
  ASSERT_EQ(1, json_array_size(ev));
  ASSERT_STR_EQ("exception", json_string_value(json_object_get(
                                 json_array_get(ev, 0), "kind")));
  ASSERT_STR_EQ("ResourceNotFoundException", ev_type(ev, 0));
  json_decref(ev);
  kn_svc_sub_free(svc, sub);
  stop();
}


/* A closed shard read to its end: the last event has no continuation, and
 * the children. */
static void test_subscribe_shard_end(void) {
  char carn[512];
  kn_svc_sub_t* sub;
  json_t* ev;
  json_t* last;
  int done = 0;

  setup_consumer(1, carn, sizeof(carn));
  put("s", "k", "YQ==", NULL, NULL);
  call("SplitShard", json_pack("{s:s, s:s, s:s}", "StreamName", "s",
                               "ShardToSplit", "shardId-000000000000",
                               "NewStartingHashKey", HALF_KEY));
  ok();
  sub = subscribe(sub_req(carn, "shardId-000000000000", "TRIM_HORIZON", NULL));
  ASSERT_NOT_NULL(sub);
  ev = next_events(sub, &done);
  ASSERT_EQ(1, done);
  ASSERT_EQ(2, json_array_size(ev));
  last = ev_payload(ev, 1);
  ASSERT_EQ(1, json_array_size(json_object_get(last, "Records")));
  ASSERT_NULL(json_object_get(last, "ContinuationSequenceNumber"));
  ASSERT_EQ(2, json_array_size(json_object_get(last, "ChildShards")));
  json_decref(ev);
  ev = next_events(sub, &done);
  ASSERT_EQ(0, json_array_size(ev));
  json_decref(ev);
  kn_svc_sub_free(svc, sub);
  stop();
}


/* Each allocation failing in turn: a failed call leaves no consumer
 * behind, a subscription and its first events included, and the service
 * frees everything. */
static int alloc_scenario(void) {
  int failed = 0;
  int r;
  kn_svc_reply_t reply;
  static const char body[] = "{\"StreamARN\":\"" ARN
                             "\",\"ConsumerName\":\"c\"}";
  static const char create_body[] = "{\"StreamName\":\"s\",\"ShardCount\":1}";
  static const char sub_body[] =
      "{\"ConsumerARN\":\"" ARN "/consumer/c:1700000000\","
      "\"ShardId\":\"shardId-000000000000\","
      "\"StartingPosition\":{\"Type\":\"TRIM_HORIZON\"}}";

  if (kn_svc_new(NULL, &svc) != 0)
    return 1;
  kn_buf_init(&reply.body);
  r = kn_svc_handle(svc, T0, "Kinesis_20131202.CreateStream",
                    (const uint8_t*) create_body, sizeof(create_body) - 1,
                    &reply);
  failed += r != 0;
  if (r == 0) {
    kn_buf_reset(&reply.body);
    r = kn_svc_handle(svc, T0, "Kinesis_20131202.RegisterStreamConsumer",
                      (const uint8_t*) body, sizeof(body) - 1, &reply);
    failed += r != 0;
    if (r == 0 && reply.status == 200) {
      kn_buf_reset(&reply.body);
      r = kn_svc_handle(svc, T0, "Kinesis_20131202.ListStreamConsumers",
                        (const uint8_t*) body, sizeof(body) - 1, &reply);
      failed += r != 0;
    }
    if (r == 0 && reply.status == 200) {
      kn_svc_sub_t* sub = NULL;
      kn_buf_reset(&reply.body);
      r = kn_svc_subscribe(svc, T0, (const uint8_t*) sub_body,
                           sizeof(sub_body) - 1, &reply, &sub);
      failed += r != 0;
      ASSERT(r != 0 || sub != NULL);
      if (r == 0) {
        kn_buf_t out = KN_BUF_INIT;
        int done;
        r = kn_svc_sub_next(svc, sub, T0, &out, &done);
        failed += r != 0;
        kn_buf_free(&out);
        kn_svc_sub_free(svc, sub);
      }
    }
  }
  kn_buf_free(&reply.body);
  kn_svc_free(svc);
  svc = NULL;
  return failed;
}


static void test_allocation_failures(void) {
  kn_test_alloc_each(alloc_scenario, 3);
}


KN_TEST_MAIN(KN_TEST(test_register_and_describe), KN_TEST(test_deregister),
             KN_TEST(test_list_pages_and_limit),
             KN_TEST(test_subscribe_refusals), KN_TEST(test_subscribe_events),
             KN_TEST(test_subscribe_shard_end),
             KN_TEST(test_allocation_failures))
