/*
 * The fake service's consumers of enhanced fan-out (lib/testing/
 * svc_consumers.c), through kn_svc_handle(): registration and its
 * refusals, the CREATING and DELETING states by the service's clock,
 * description by ARN and by name, listing in pages, and a consumer going
 * with its stream.
 */

#include "svc_util.h"

#include <string.h>

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


/* Each allocation failing in turn: a failed call leaves no consumer
 * behind, and the service frees everything. */
static int alloc_scenario(void) {
  int failed = 0;
  int r;
  kn_svc_reply_t reply;
  static const char body[] = "{\"StreamARN\":\"" ARN
                             "\",\"ConsumerName\":\"c\"}";
  static const char create_body[] = "{\"StreamName\":\"s\",\"ShardCount\":1}";

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
             KN_TEST(test_allocation_failures))
