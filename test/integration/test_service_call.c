#include "client_util.h"

#include <stdlib.h>
#include <string.h>


/*
 * The client's calls to another service (kn_client_service_call()), the
 * road the DynamoDB checkpointer (issue 20) takes: against dynalite, which
 * test/servers.js starts (KINESIS_TEST_DYNAMODB_ENDPOINT), signed for
 * `dynamodb` with the JSON 1.0 protocol, answered with the body or with
 * DynamoDB's error code.
 */

static uv_loop_t loop;


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  /* The Kinesis endpoint is not called here. */
  test_client_options(&o, "http://127.0.0.1:1");
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static void test_round_trip(void) {
  kinesis_client_t* c;
  kn_service_target_t t;
  service_answer_t a;
  char table[96];
  char body[512];
  int tries;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  ASSERT_OK(kn_client_target_init(
      c, &kn_service_dynamodb,
      kn_test_require_env("KINESIS_TEST_DYNAMODB_ENDPOINT"), &t));
  snprintf(table, sizeof(table), "%s", test_stream_name("svc"));
  snprintf(body, sizeof(body),
           "{\"TableName\":\"%s\",\"BillingMode\":\"PAY_PER_REQUEST\","
           "\"AttributeDefinitions\":[{\"AttributeName\":\"leaseKey\","
           "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":"
           "\"leaseKey\",\"KeyType\":\"HASH\"}]}",
           table);
  service_call_wait(&loop, c, &t, "CreateTable", body, &a);
  ASSERT_OK(a.status);
  ASSERT_NOT_NULL(strstr(a.body, "\"TableDescription\""));
  snprintf(body, sizeof(body), "{\"TableName\":\"%s\"}", table);
  for (tries = 0; tries < 50; tries++) {
    service_call_wait(&loop, c, &t, "DescribeTable", body, &a);
    ASSERT_OK(a.status);
    if (strstr(a.body, "\"TableStatus\":\"ACTIVE\"") != NULL)
      break;
    run_loop_for(&loop, 100);
  }
  ASSERT_NOT_NULL(strstr(a.body, "\"TableStatus\":\"ACTIVE\""));

  /* A conditional write, twice: the second fails the condition. */
  snprintf(body, sizeof(body),
           "{\"TableName\":\"%s\",\"Item\":{\"leaseKey\":{\"S\":"
           "\"shardId-000000000000\"},\"leaseCounter\":{\"N\":\"1\"}},"
           "\"ConditionExpression\":\"attribute_not_exists(leaseKey)\"}",
           table);
  service_call_wait(&loop, c, &t, "PutItem", body, &a);
  ASSERT_OK(a.status);
  service_call_wait(&loop, c, &t, "PutItem", body, &a);
  ASSERT_EQ(KINESIS_ESVCOTHER, a.status);
  ASSERT_STR_EQ("ConditionalCheckFailedException", a.code);

  snprintf(body, sizeof(body),
           "{\"TableName\":\"%s\",\"Key\":{\"leaseKey\":{\"S\":"
           "\"shardId-000000000000\"}},\"ConsistentRead\":true}",
           table);
  service_call_wait(&loop, c, &t, "GetItem", body, &a);
  ASSERT_OK(a.status);
  ASSERT_NOT_NULL(strstr(a.body, "\"leaseCounter\":{\"N\":\"1\"}"));

  /* A table that does not exist. */
  service_call_wait(&loop, c, &t, "GetItem",
                    "{\"TableName\":\"no-such-table\",\"Key\":{"
                    "\"leaseKey\":{\"S\":\"x\"}}}",
                    &a);
  ASSERT_EQ(KINESIS_ENOTFOUND, a.status);
  ASSERT_STR_EQ("ResourceNotFoundException", a.code);

  /* The calls are counted with the client's. */
  {
    kinesis_client_stats_t st;
    size_t i;
    int found = 0;
    ASSERT_OK(kinesis_client_stats(c, &st));
    for (i = 0; i < st.noperations; i++)
      if (strcmp(st.operations[i].operation, "PutItem") == 0) {
        ASSERT_EQ(2, st.operations[i].calls);
        ASSERT_EQ(1, st.operations[i].call_failures);
        found = 1;
      }
    ASSERT_EQ(1, found);
  }
  kn_client_target_free(&t);
  close_client(&loop, c);
  ASSERT_EQ(0, uv_loop_close(&loop));
}


/* Where calls go: an explicit URL, the service's variable, the global one,
 * or the service's endpoint in the region. */
static void test_endpoints(void) {
  kinesis_client_t* c;
  kn_service_target_t t;
  service_answer_t a;

  ASSERT_OK(uv_loop_init(&loop));
  unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
  unsetenv("AWS_ENDPOINT_URL");
  c = new_client();
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb, NULL, &t));
  ASSERT_STR_EQ("https://dynamodb.us-east-1.amazonaws.com/", t.endpoint);
  ASSERT_STR_EQ("dynamodb.us-east-1.amazonaws.com", t.host);
  kn_client_target_free(&t);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:2", 1);
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb, NULL, &t));
  ASSERT_STR_EQ("127.0.0.1:2", t.host);
  kn_client_target_free(&t);
  setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:3/", 1);
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb, NULL, &t));
  ASSERT_STR_EQ("127.0.0.1:3", t.host);
  kn_client_target_free(&t);
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb,
                                  "http://localhost:4", &t));
  ASSERT_STR_EQ("http://localhost:4/", t.endpoint);
  kn_client_target_free(&t);
  unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
  unsetenv("AWS_ENDPOINT_URL");
  ASSERT_EQ(KINESIS_EINVAL,
            kn_client_target_init(c, &kn_service_dynamodb, "ftp://x", &t));
  ASSERT_NULL(t.endpoint);
  /* Bad arguments. */
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb,
                                  "http://localhost:4", &t));
  ASSERT_EQ(KINESIS_EINVAL, kn_client_service_call(c, &t, "NoSuchAction", "{}",
                                                   2, service_answer_cb, &a, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kn_client_service_call(c, &t, "GetItem", NULL, 2,
                                                   service_answer_cb, &a, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kn_client_service_call(c, NULL, "GetItem", "{}",
                                                   2, service_answer_cb, &a, NULL));
  kn_client_target_free(&t);
  close_client(&loop, c);
  ASSERT_EQ(0, uv_loop_close(&loop));
}


KN_TEST_MAIN(KN_TEST(test_round_trip), KN_TEST(test_endpoints))
