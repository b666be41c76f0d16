/* Checks the test servers themselves (test/servers.js via
 * test/with-servers.sh): kinesalite over HTTP and HTTPS, the fault server and
 * the credential metadata fakes. If these fail, every other integration test
 * is suspect. */

#include "fault.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#define AUTH_HEADER                                                           \
  "Authorization: AWS4-HMAC-SHA256 "                                          \
  "Credential=AKID/20150830/us-east-1/kinesis/aws4_request, "                 \
  "SignedHeaders=host, Signature=abc"
#define DATE_HEADER "X-Amz-Date: 20150830T123600Z"
#define JSON_HEADER "Content-Type: application/x-amz-json-1.1"

static const char* const list_streams_headers[] = {
    JSON_HEADER, "X-Amz-Target: Kinesis_20131202.ListStreams", AUTH_HEADER,
    DATE_HEADER, NULL};


static char* url_of(const char* base, const char* path) {
  size_t n = strlen(base) + strlen(path) + 1;
  char* u = malloc(n);
  ASSERT_NOT_NULL(u);
  snprintf(u, n, "%s%s", base, path);
  return u;
}


/* Parses the fault log; asserts it is an array. */
static json_t* fault_log(const char* fault) {
  json_t* log = kn_fault_log_json(fault);
  ASSERT_NOT_NULL(log);
  return log;
}


static const char* entry_str(json_t* log, size_t i, const char* key) {
  json_t* e = json_array_get(log, i);
  ASSERT_NOT_NULL(e);
  return json_string_value(json_object_get(e, key));
}


static json_int_t entry_int(json_t* log, size_t i, const char* key) {
  json_t* e = json_array_get(log, i);
  ASSERT_NOT_NULL(e);
  ASSERT(json_is_integer(json_object_get(e, key)));
  return json_integer_value(json_object_get(e, key));
}


/* Waits until the stream is ACTIVE (kinesalite: 100 ms after CreateStream). */
static void create_stream(const char* endpoint, const char* name, int shards) {
  char body[256];
  char* resp = NULL;
  long status = 0;
  int i;
  snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"ShardCount\":%d}",
           name, shards);
  ASSERT_OK(kn_test_kinesis_call(endpoint, "CreateStream", body, &resp,
                                 &status));
  ASSERT_EQ(200, status);
  free(resp);
  snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", name);
  for (i = 0; i < 100; i++) {
    ASSERT_OK(kn_test_kinesis_call(endpoint, "DescribeStreamSummary", body,
                                   &resp, &status));
    ASSERT_EQ(200, status);
    if (strstr(resp, "\"ACTIVE\"") != NULL) {
      free(resp);
      return;
    }
    free(resp);
    usleep(50 * 1000);
  }
  ASSERT(0 && "stream did not become ACTIVE");
}


static void test_kinesalite_list_streams(void) {
  const char* ep = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  kn_test_http_req_t req;
  char* resp = NULL;
  long status = 0;
  char* url = url_of(ep, "/");

  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url;
  req.body = "{}";
  req.headers = list_streams_headers;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"StreamNames\""));
  free(resp);

  /* kinesalite insists on an Authorization header (never on its value). */
  ASSERT_OK(kn_test_http("POST", url, "{}", &resp, &status));
  ASSERT_EQ(404, status); /* application/json: Coral's UnknownOperation */
  free(resp);
  free(url);
}


static void test_kinesalite_tls(void) {
  const char* tls = kn_test_require_env("KINESIS_TEST_TLS_ENDPOINT");
  const char* wrong = kn_test_require_env("KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT");
  const char* ca = kn_test_require_env("KINESIS_TEST_CA_FILE");
  kn_test_http_req_t req;
  char* resp = NULL;
  long status = 0;
  char* url;

  ASSERT(strncmp(tls, "https://localhost:", 18) == 0);
  ASSERT(strncmp(wrong, "https://127.0.0.1:", 18) == 0);
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.body = "{}";
  req.headers = list_streams_headers;

  /* Verifies with the test CA. */
  url = url_of(tls, "/");
  req.url = url;
  req.ca_file = ca;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"StreamNames\""));
  free(resp);
  resp = NULL;

  /* Without it, the certificate is unknown. */
  req.ca_file = NULL;
  ASSERT_EQ(60 /* CURLE_PEER_FAILED_VERIFICATION */,
            kn_test_http_request(&req, &resp, &status));
  ASSERT_NULL(resp);
  free(url);

  /* The same server by IP address: the certificate names localhost only. */
  url = url_of(wrong, "/");
  req.url = url;
  req.ca_file = ca;
  ASSERT_EQ(60 /* CURLE_PEER_FAILED_VERIFICATION */,
            kn_test_http_request(&req, &resp, &status));
  ASSERT_NULL(resp);
  free(url);
}


static void test_fault_status(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  char* resp = NULL;
  long status = 0;
  json_t* log;
  json_t* headers;

  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(
      fault,
      "[{\"target\": \"ListStreams\", \"status\": 500, \"times\": 2,"
      "  \"body\": \"{\\\"__type\\\":\\\"InternalFailure\\\"}\"},"
      " {\"target\": \"ListStreams\", \"status\": 400,"
      "  \"body\": {\"__type\": \"LimitExceededException\"},"
      "  \"headers\": {\"x-amzn-RequestId\": \"given-id\"}}]"));

  /* Another action passes through to kinesalite untouched. */
  ASSERT_OK(kn_test_kinesis_call(fault, "ListShards",
                                 "{\"StreamName\":\"no-such-stream\"}", &resp,
                                 &status));
  ASSERT_EQ(400, status);
  ASSERT_NOT_NULL(strstr(resp, "ResourceNotFoundException"));
  free(resp);

  ASSERT_OK(kn_test_kinesis_call(fault, "ListStreams", "{}", &resp, &status));
  ASSERT_EQ(500, status);
  ASSERT_STR_EQ("{\"__type\":\"InternalFailure\"}", resp);
  free(resp);
  ASSERT_OK(kn_test_kinesis_call(fault, "ListStreams", "{}", &resp, &status));
  ASSERT_EQ(500, status);
  free(resp);
  ASSERT_OK(kn_test_kinesis_call(fault, "ListStreams", "{}", &resp, &status));
  ASSERT_EQ(400, status);
  ASSERT_NOT_NULL(strstr(resp, "LimitExceededException"));
  free(resp);
  /* Queue empty: proxied again. */
  ASSERT_OK(kn_test_kinesis_call(fault, "ListStreams", "{}", &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"StreamNames\""));
  free(resp);

  log = fault_log(fault);
  ASSERT_EQ(5, json_array_size(log));
  ASSERT_STR_EQ("ListShards", entry_str(log, 0, "target"));
  ASSERT_STR_EQ("proxy", entry_str(log, 0, "action"));
  ASSERT_EQ(400, entry_int(log, 0, "status"));
  ASSERT_STR_EQ("ListStreams", entry_str(log, 1, "target"));
  ASSERT_STR_EQ("status", entry_str(log, 1, "action"));
  ASSERT_EQ(500, entry_int(log, 1, "status"));
  ASSERT_STR_EQ("{}", entry_str(log, 1, "body"));
  ASSERT_STR_EQ("status", entry_str(log, 2, "action"));
  ASSERT_STR_EQ("status", entry_str(log, 3, "action"));
  ASSERT_EQ(400, entry_int(log, 3, "status"));
  ASSERT_STR_EQ("proxy", entry_str(log, 4, "action"));
  ASSERT_EQ(200, entry_int(log, 4, "status"));
  headers = json_object_get(json_array_get(log, 1), "headers");
  ASSERT(json_is_object(headers));
  ASSERT_STR_EQ("Kinesis_20131202.ListStreams",
                json_string_value(json_object_get(headers, "x-amz-target")));
  json_decref(log);
  ASSERT_OK(kn_fault_reset(fault));
}


static void test_fault_drop(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  const char* const headers[] = {JSON_HEADER,
                                 "X-Amz-Target: Kinesis_20131202.ListStreams",
                                 AUTH_HEADER, DATE_HEADER, NULL};
  kn_test_http_req_t req;
  char* url = url_of(fault, "/");
  char* resp = NULL;
  long status = -1;
  json_t* log;

  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "[{\"drop\": true},"
                                   " {\"drop_mid_response\": true}]"));
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = url;
  req.body = "{}";
  req.headers = headers;
  ASSERT_EQ(52 /* CURLE_GOT_NOTHING */,
            kn_test_http_request(&req, &resp, &status));
  ASSERT_NULL(resp);
  ASSERT_EQ(0, status);
  ASSERT_EQ(18 /* CURLE_PARTIAL_FILE */,
            kn_test_http_request(&req, &resp, &status));
  ASSERT_NULL(resp);
  ASSERT_EQ(200, status);
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  free(resp);

  log = fault_log(fault);
  ASSERT_EQ(3, json_array_size(log));
  ASSERT_STR_EQ("drop", entry_str(log, 0, "action"));
  ASSERT_EQ(0, entry_int(log, 0, "status"));
  ASSERT_STR_EQ("drop_mid_response", entry_str(log, 1, "action"));
  ASSERT_EQ(200, entry_int(log, 1, "status"));
  ASSERT_STR_EQ("proxy", entry_str(log, 2, "action"));
  json_decref(log);
  free(url);
  ASSERT_OK(kn_fault_reset(fault));
}


static void test_fault_stall(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  char* resp = NULL;
  long status = 0;
  uint64_t t0;
  uint64_t ms;

  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"delay_ms\": 300, \"proxy\": true}"));
  t0 = uv_hrtime();
  ASSERT_OK(kn_test_kinesis_call(fault, "ListStreams", "{}", &resp, &status));
  ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_EQ(200, status);
  ASSERT_GE(ms, 300);
  free(resp);
  ASSERT_OK(kn_fault_reset(fault));
}


static void test_fault_put_records_fail(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  char stream[64];
  char body[512];
  char* resp = NULL;
  long status = 0;
  json_t* doc;
  json_t* recs;
  json_t* log;
  int seen_b = 0, seen_d = 0, seen_other = 0;
  int shard;

  snprintf(stream, sizeof(stream), "servers-test-%ld", (long) getpid());
  ASSERT_OK(kn_fault_reset(fault));
  create_stream(fault, stream, 2);
  ASSERT_OK(kn_fault_script(
      fault, "[{\"put_records_fail\": [0, 2],"
             "  \"error_code\": \"ProvisionedThroughputExceededException\","
             "  \"error_message\": \"Rate exceeded for shard\"}]"));
  snprintf(body, sizeof(body),
           "{\"StreamName\":\"%s\",\"Records\":["
           "{\"Data\":\"YQ==\",\"PartitionKey\":\"a\"},"
           "{\"Data\":\"Yg==\",\"PartitionKey\":\"b\"},"
           "{\"Data\":\"Yw==\",\"PartitionKey\":\"c\"},"
           "{\"Data\":\"ZA==\",\"PartitionKey\":\"d\"}]}",
           stream);
  ASSERT_OK(kn_test_kinesis_call(fault, "PutRecords", body, &resp, &status));
  ASSERT_EQ(200, status);
  doc = json_loads(resp, 0, NULL);
  ASSERT_NOT_NULL(doc);
  ASSERT_EQ(2, json_integer_value(json_object_get(doc, "FailedRecordCount")));
  recs = json_object_get(doc, "Records");
  ASSERT_EQ(4, json_array_size(recs));
  ASSERT_STR_EQ("ProvisionedThroughputExceededException",
                json_string_value(json_object_get(json_array_get(recs, 0),
                                                  "ErrorCode")));
  ASSERT_STR_EQ("Rate exceeded for shard",
                json_string_value(json_object_get(json_array_get(recs, 2),
                                                  "ErrorMessage")));
  ASSERT_NOT_NULL(json_object_get(json_array_get(recs, 1), "SequenceNumber"));
  ASSERT_NOT_NULL(json_object_get(json_array_get(recs, 3), "ShardId"));
  ASSERT_NULL(json_object_get(json_array_get(recs, 1), "ErrorCode"));
  json_decref(doc);
  free(resp);

  log = fault_log(fault);
  ASSERT_STR_EQ("put_records_fail",
                entry_str(log, json_array_size(log) - 1, "action"));
  json_decref(log);

  /* Only b and d were written. */
  for (shard = 0; shard < 2; shard++) {
    const char* it;
    size_t i;
    snprintf(body, sizeof(body),
             "{\"StreamName\":\"%s\",\"ShardId\":\"shardId-00000000000%d\","
             "\"ShardIteratorType\":\"TRIM_HORIZON\"}",
             stream, shard);
    ASSERT_OK(kn_test_kinesis_call(fault, "GetShardIterator", body, &resp,
                                   &status));
    ASSERT_EQ(200, status);
    doc = json_loads(resp, 0, NULL);
    free(resp);
    ASSERT_NOT_NULL(doc);
    it = json_string_value(json_object_get(doc, "ShardIterator"));
    ASSERT_NOT_NULL(it);
    ASSERT_LT(strlen(it), 400);
    snprintf(body, sizeof(body), "{\"ShardIterator\":\"%s\"}", it);
    json_decref(doc);
    ASSERT_OK(kn_test_kinesis_call(fault, "GetRecords", body, &resp, &status));
    ASSERT_EQ(200, status);
    doc = json_loads(resp, 0, NULL);
    free(resp);
    ASSERT_NOT_NULL(doc);
    recs = json_object_get(doc, "Records");
    for (i = 0; i < json_array_size(recs); i++) {
      const char* pk =
          json_string_value(json_object_get(json_array_get(recs, i),
                                            "PartitionKey"));
      ASSERT_NOT_NULL(pk);
      if (strcmp(pk, "b") == 0)
        seen_b++;
      else if (strcmp(pk, "d") == 0)
        seen_d++;
      else
        seen_other++;
    }
    json_decref(doc);
  }
  ASSERT_EQ(1, seen_b);
  ASSERT_EQ(1, seen_d);
  ASSERT_EQ(0, seen_other);

  snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", stream);
  ASSERT_OK(kn_test_kinesis_call(fault, "DeleteStream", body, &resp, &status));
  ASSERT_EQ(200, status);
  free(resp);
  ASSERT_OK(kn_fault_reset(fault));
}


static void test_fault_control_rejects_bad_script(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_EQ(-1, kn_fault_script(fault, "not json"));
  ASSERT_EQ(-1, kn_fault_script(fault, "[{\"times\": 0}]"));
  ASSERT_EQ(-1, kn_fault_script(fault, "[42]"));
}


static void test_metadata(void) {
  const char* md = kn_test_require_env("KINESIS_TEST_METADATA_URL");
  const char* const ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600",
                             NULL};
  const char* const tok[] = {"X-aws-ec2-metadata-token: test-imds-token",
                             NULL};
  const char* const auth[] = {"Authorization: test-container-auth", NULL};
  kn_test_http_req_t req;
  char* resp = NULL;
  long status = 0;
  char* ctl = url_of(md, "/__control/metadata");
  char* token_url = url_of(md, "/latest/api/token");
  char* role_url = url_of(md, "/latest/meta-data/iam/security-credentials/");
  char* creds_url =
      url_of(md, "/latest/meta-data/iam/security-credentials/test-role");
  char* container_url = url_of(md, "/container/creds");

  ASSERT_OK(kn_test_http("POST", ctl, "{\"reset\": true}", &resp, &status));
  ASSERT_EQ(200, status);
  free(resp);

  memset(&req, 0, sizeof(req));
  req.method = "PUT";
  req.url = token_url;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(400, status); /* no TTL header */
  free(resp);
  req.headers = ttl;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_STR_EQ("test-imds-token", resp);
  free(resp);

  req.method = "GET";
  req.url = role_url;
  req.headers = NULL;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(401, status);
  free(resp);
  req.headers = tok;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_STR_EQ("test-role", resp);
  free(resp);

  req.url = creds_url;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"AccessKeyId\":\"ASIAIMDS1\""));
  ASSERT_NOT_NULL(strstr(resp, "\"Token\":\"imds-token-1\""));
  ASSERT_NOT_NULL(strstr(resp, "\"Expiration\":\""));
  free(resp);

  req.url = container_url;
  req.headers = NULL;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(401, status);
  free(resp);
  req.headers = auth;
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"AccessKeyId\":\"ASIACONTAINER1\""));
  free(resp);

  ASSERT_OK(kn_test_http("POST", ctl, "{\"fail\": \"container\"}", &resp,
                         &status));
  ASSERT_EQ(200, status);
  free(resp);
  ASSERT_OK(kn_test_http_request(&req, &resp, &status));
  ASSERT_EQ(500, status);
  free(resp);

  ASSERT_OK(kn_test_http("GET", ctl, NULL, &resp, &status));
  ASSERT_EQ(200, status);
  ASSERT_NOT_NULL(strstr(resp, "\"token_requests\":2"));
  ASSERT_NOT_NULL(strstr(resp, "\"role_requests\":2"));
  ASSERT_NOT_NULL(strstr(resp, "\"imds_creds_requests\":1"));
  ASSERT_NOT_NULL(strstr(resp, "\"container_requests\":3"));
  free(resp);
  ASSERT_OK(kn_test_http("POST", ctl, "{\"reset\": true}", &resp, &status));
  free(resp);

  free(ctl);
  free(token_url);
  free(role_url);
  free(creds_url);
  free(container_url);
}


KN_TEST_MAIN(KN_TEST(test_kinesalite_list_streams), KN_TEST(test_kinesalite_tls),
             KN_TEST(test_fault_status), KN_TEST(test_fault_drop),
             KN_TEST(test_fault_stall), KN_TEST(test_fault_put_records_fail),
             KN_TEST(test_fault_control_rejects_bad_script),
             KN_TEST(test_metadata))
