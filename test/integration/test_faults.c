#include "client_util.h"

#include <string.h>

#include <jansson.h>

#include "client.h"
#include "fault.h"
#include "sigv4.h"

/* Retries, timeouts and error parsing, against the fault server: a proxy in
 * front of kinesalite that answers scripted statuses, stalls and drops. */

static uv_loop_t loop;
static const char* fault;


static kinesis_client_t* new_client(uint32_t max_attempts, uint32_t timeout_ms) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, fault);
  o.max_attempts = max_attempts;
  if (timeout_ms > 0)
    o.request_timeout_ms = timeout_ms;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static void script(const char* json) {
  ASSERT_OK(kn_fault_script(fault, json));
}


/* The fault server's log, parsed. */
static json_t* fault_log(void) {
  json_t* log = kn_fault_log_json(fault);
  ASSERT_NOT_NULL(log);
  return log;
}


static const char* log_str(json_t* log, size_t i, const char* key) {
  json_t* v = json_object_get(json_array_get(log, i), key);
  ASSERT(json_is_string(v));
  return json_string_value(v);
}


static const char* log_header(json_t* log, size_t i, const char* name) {
  json_t* h = json_object_get(json_array_get(log, i), "headers");
  json_t* v = json_object_get(h, name);
  return json_is_string(v) ? json_string_value(v) : NULL;
}


static void describe(kinesis_client_t* c, const char* stream, capture_t* cap) {
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_describe_stream_summary(c, stream, capture_cb, cap));
  capture_wait(&loop, cap);
  ASSERT_EQ(1, cap->calls);
}


static void setup(void) {
  fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(uv_loop_init(&loop));
}


/* A stream behind the proxy, for calls that should eventually succeed. */
static void make_stream(kinesis_client_t* c, const char* name) {
  create_active_stream(&loop, c, name, 1);
  ASSERT_OK(kn_fault_reset(fault));
}


static void test_retries_5xx_then_succeeds(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;
  char stream[128];

  setup();
  c = new_client(5, 0);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("retry5xx"));
  make_stream(c, stream);
  script("[{\"status\":500,\"body\":\"\",\"times\":1},"
         "{\"status\":503,\"body\":\"{\\\"__type\\\":\\\"ServiceUnavailable\\\"}\"},"
         "{\"status\":400,\"body\":{\"__type\":"
         "\"ProvisionedThroughputExceededException\",\"message\":\"slow down\"}}]");
  describe(c, stream, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(4, cap.attempts);
  /* Sent again after the 500 and the 503, which the service may have
   * carried out, and after the throttling, which it did not. */
  ASSERT_EQ(2, cap.unsure_retries);
  ASSERT_EQ(200, cap.http_status);
  ASSERT_STR_EQ("ACTIVE", cap.stream_status);
  log = fault_log();
  ASSERT_EQ(4, json_array_size(log));
  ASSERT_STR_EQ("status", log_str(log, 0, "action"));
  ASSERT_STR_EQ("proxy", log_str(log, 3, "action"));
  ASSERT_STR_EQ("DescribeStreamSummary", log_str(log, 3, "target"));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_retries_dropped_connections(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;
  char stream[128];

  setup();
  c = new_client(5, 0);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("drop"));
  make_stream(c, stream);
  script("[{\"drop\":true},{\"drop_mid_response\":true}]");
  describe(c, stream, &cap);
  ASSERT_OK(cap.status);
  /* curl itself resends once when a reused connection dies before any
   * answer, so the drop may cost no attempt of ours; the server saw all. */
  ASSERT_GE(cap.attempts, 2);
  ASSERT_LE(cap.attempts, 3);
  ASSERT_EQ(cap.attempts - 1, cap.unsure_retries);
  log = fault_log();
  ASSERT_EQ(3, json_array_size(log));
  ASSERT_STR_EQ("drop", log_str(log, 0, "action"));
  ASSERT_STR_EQ("drop_mid_response", log_str(log, 1, "action"));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_attempts_are_bounded(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;

  setup();
  c = new_client(3, 0);
  script("{\"status\":500,\"times\":10,\"headers\":{\"x-amzn-RequestId\":"
         "\"req-500\"},\"body\":{\"__type\":\"InternalFailure\","
         "\"message\":\"boom\"}}");
  describe(c, "any", &cap);
  ASSERT_EQ(KINESIS_ESERVICE, cap.status);
  ASSERT_EQ(3, cap.attempts);
  ASSERT_EQ(500, cap.http_status);
  ASSERT_STR_EQ("InternalFailure", cap.error_code);
  ASSERT_STR_EQ("boom", cap.error_message);
  ASSERT_STR_EQ("req-500", cap.request_id);
  log = fault_log();
  ASSERT_EQ(3, json_array_size(log));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_errors_not_retried(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;

  setup();
  c = new_client(5, 0);
  script("{\"status\":400,\"body\":{\"__type\":"
         "\"com.amazonaws.kinesis.v20131202#ResourceNotFoundException:"
         "http://internal.amazon.com/coral/\",\"message\":\"Stream x under "
         "account 0 not found.\"}}");
  describe(c, "x", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  ASSERT_EQ(1, cap.attempts);
  ASSERT_STR_EQ("ResourceNotFoundException", cap.error_code);
  ASSERT_STR_EQ("Stream x under account 0 not found.", cap.error_message);
  ASSERT(strncmp(cap.request_id, "fault-", 6) == 0);

  /* Message with a capital M, as kinesalite writes SerializationException. */
  script("{\"status\":400,\"body\":{\"__type\":\"SerializationException\","
         "\"Message\":\"Start of structure or map found where not expected.\"}}");
  describe(c, "x", &cap);
  ASSERT_EQ(KINESIS_EINVALIDARG, cap.status);
  ASSERT_STR_EQ("Start of structure or map found where not expected.",
                cap.error_message);

  /* A non-JSON body: classified by status, with no code. */
  script("{\"status\":404,\"body\":\"<UnknownOperationException/>\","
         "\"headers\":{\"Content-Type\":\"text/xml\"}}");
  describe(c, "x", &cap);
  ASSERT_EQ(KINESIS_ESVCOTHER, cap.status);
  ASSERT_STR_EQ("", cap.error_code);
  ASSERT_STR_EQ("HTTP 404", cap.error_message);
  ASSERT_EQ(404, cap.http_status);

  /* x-amzn-ErrorType wins over the body. */
  script("{\"status\":400,\"headers\":{\"x-amzn-ErrorType\":"
         "\"AccessDeniedException:http://internal\"},\"body\":{\"__type\":"
         "\"Whatever\",\"message\":\"no\"}}");
  describe(c, "x", &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT_STR_EQ("AccessDeniedException", cap.error_code);
  ASSERT_EQ(1, cap.attempts);

  log = fault_log();
  ASSERT_EQ(4, json_array_size(log));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_timeouts(void) {
  kinesis_client_t* c;
  capture_t cap;
  char stream[128];

  setup();
  c = new_client(1, 300);
  script("{\"delay_ms\":2000,\"proxy\":true}");
  describe(c, "slow", &cap);
  ASSERT_EQ(KINESIS_ETIMEDOUT, cap.status);
  ASSERT_EQ(1, cap.attempts);
  ASSERT_EQ(0, cap.http_status);
  ASSERT(cap.error_message[0] != '\0');
  close_client(&loop, c);

  /* With retries, a stall costs one attempt. */
  c = new_client(3, 300);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("stall"));
  make_stream(c, stream);
  script("{\"delay_ms\":2000,\"proxy\":true}");
  describe(c, stream, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(2, cap.attempts);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static int64_t fixed_clock(void* arg) {
  (void) arg;
  return INT64_C(1440938160000); /* 2015-08-30T12:36:00Z */
}


static void test_signed_headers(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;
  const char* authz;

  setup();
  test_client_options(&o, fault);
  o.session_token = "session-token-value";
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  kn_client_set_clock(c, fixed_clock, NULL);
  describe(c, "nothere", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  log = fault_log();
  ASSERT_EQ(1, json_array_size(log));
  ASSERT_STR_EQ("application/x-amz-json-1.1", log_header(log, 0, "content-type"));
  ASSERT_STR_EQ("Kinesis_20131202.DescribeStreamSummary",
                log_header(log, 0, "x-amz-target"));
  ASSERT_STR_EQ("session-token-value",
                log_header(log, 0, "x-amz-security-token"));
  /* The injected clock decides the signing time and the scope's date. */
  ASSERT_STR_EQ("20150830T123600Z", log_header(log, 0, "x-amz-date"));
  authz = log_header(log, 0, "authorization");
  ASSERT_NOT_NULL(authz);
  ASSERT(strncmp(authz, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) == 0);
  ASSERT(strstr(authz, "AKIDTEST/20150830/us-east-1/kinesis/aws4_request, "
                       "SignedHeaders="
                       "content-type;host;x-amz-date;x-amz-security-token;"
                       "x-amz-target, Signature=") != NULL);
  ASSERT_NULL(log_header(log, 0, "expect"));
  {
    /* Sign again what the server received, as a verifying server would:
     * the Host curl sent must be the one that was signed. */
    static const char* const names[] = {"content-type", "host", "x-amz-date",
                                        "x-amz-security-token", "x-amz-target"};
    kn_sigv4_header_t h[5];
    kn_sigv4_request_t req;
    kn_sigv4_credentials_t creds = {"AKIDTEST", "test-secret-key"};
    kn_buf_t expected = KN_BUF_INIT;
    size_t i;
    for (i = 0; i < 5; i++) {
      h[i].name = kn_cursor_from_str(names[i]);
      h[i].value = kn_cursor_from_str(log_header(log, 0, names[i]));
    }
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = kn_cursor_from_str("/");
    req.headers = h;
    req.nheaders = 5;
    req.payload = kn_cursor_from_str(log_str(log, 0, "body"));
    ASSERT_OK(kn_sigv4_sign(&req, &creds, "20150830T123600Z", "us-east-1",
                            "kinesis", NULL, &expected));
    ASSERT_STR_EQ(kn_buf_str(&expected), authz);
    kn_buf_free(&expected);
  }
  ASSERT_STR_EQ("{\"StreamName\":\"nothere\"}", log_str(log, 0, "body"));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_expired_token_resigns_once(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;

  setup();
  c = new_client(5, 0);
  script("{\"status\":400,\"times\":3,\"body\":{\"__type\":"
         "\"ExpiredTokenException\",\"message\":\"The security token included "
         "in the request is expired\"}}");
  describe(c, "x", &cap);
  /* One fresh signature after the first; the second expiry is final. */
  ASSERT_EQ(KINESIS_ECREDEXPIRED, cap.status);
  ASSERT_EQ(2, cap.attempts);
  log = fault_log();
  ASSERT_EQ(2, json_array_size(log));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_list_shards_pages(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;

  setup();
  c = new_client(5, 0);
  /* Page 1 with a token; page 2 answers ExpiredNextToken, so the listing
   * restarts after the last shard seen; page 3 ends it. */
  script("[{\"target\":\"ListShards\",\"status\":200,\"body\":{\"Shards\":[{"
         "\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{"
         "\"StartingHashKey\":\"0\",\"EndingHashKey\":\"1\"},"
         "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}],"
         "\"NextToken\":\"page-2\"}},"
         "{\"target\":\"ListShards\",\"status\":400,\"body\":{\"__type\":"
         "\"ExpiredNextTokenException\",\"message\":\"expired\"}},"
         "{\"target\":\"ListShards\",\"status\":200,\"body\":{\"Shards\":[{"
         "\"ShardId\":\"shardId-000000000001\",\"HashKeyRange\":{"
         "\"StartingHashKey\":\"2\",\"EndingHashKey\":\"3\"},"
         "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"2\"}}],"
         "\"NextToken\":\"page-3\"}},"
         "{\"target\":\"ListShards\",\"status\":200,\"body\":{\"Shards\":[{"
         "\"ShardId\":\"shardId-000000000002\",\"HashKeyRange\":{"
         "\"StartingHashKey\":\"4\",\"EndingHashKey\":\"5\"},"
         "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"3\"}}],"
         "\"NextToken\":null}}]");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, "paged", capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(3, cap.nshards);
  ASSERT_STR_EQ("shardId-000000000000", cap.shard_ids[0]);
  ASSERT_STR_EQ("shardId-000000000001", cap.shard_ids[1]);
  ASSERT_STR_EQ("shardId-000000000002", cap.shard_ids[2]);
  log = fault_log();
  ASSERT_EQ(4, json_array_size(log));
  ASSERT_STR_EQ("{\"StreamName\":\"paged\"}", log_str(log, 0, "body"));
  ASSERT_STR_EQ("{\"NextToken\":\"page-2\"}", log_str(log, 1, "body"));
  ASSERT_STR_EQ("{\"StreamName\":\"paged\",\"ExclusiveStartShardId\":"
                "\"shardId-000000000000\"}",
                log_str(log, 2, "body"));
  ASSERT_STR_EQ("{\"NextToken\":\"page-3\"}", log_str(log, 3, "body"));
  json_decref(log);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_wait_for_active_polls_not_found(void) {
  kinesis_client_t* c;
  capture_t cap;
  json_t* log;
  char stream[128];

  setup();
  c = new_client(5, 0);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("waitnf"));
  make_stream(c, stream);
  script("[{\"status\":400,\"times\":2,\"body\":{\"__type\":"
         "\"ResourceNotFoundException\",\"message\":\"not yet\"}},"
         "{\"status\":200,\"body\":{\"StreamDescriptionSummary\":{"
         "\"StreamName\":\"x\",\"StreamStatus\":\"CREATING\"}}}]");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 10, 10000, capture_cb,
                                           &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_STR_EQ("ACTIVE", cap.stream_status);
  log = fault_log();
  ASSERT_EQ(4, json_array_size(log));
  json_decref(log);

  /* A stream that never becomes ACTIVE times out. */
  script("{\"status\":200,\"times\":1000,\"body\":{\"StreamDescriptionSummary\":{"
         "\"StreamName\":\"x\",\"StreamStatus\":\"UPDATING\"}}}");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_wait_for_active(c, stream, 20, 200, capture_cb,
                                           &cap));
  capture_wait(&loop, &cap);
  ASSERT_EQ(KINESIS_ETIMEDOUT, cap.status);
  ASSERT_OK(kn_fault_reset(fault));
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_put_records_partial_failure(void) {
  kinesis_client_t* c;
  capture_t cap;
  kinesis_record_t e[3];
  char stream[128];
  int i;

  setup();
  c = new_client(5, 0);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("partial"));
  make_stream(c, stream);
  script("{\"put_records_fail\":[1]}");
  memset(e, 0, sizeof(e));
  for (i = 0; i < 3; i++) {
    e[i].data = "payload";
    e[i].len = 7;
    e[i].partition_key = "pk";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, stream, e, 3, capture_cb, &cap));
  capture_wait(&loop, &cap);
  /* A 200 with a failed entry is a success of the call, not a retry. */
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.attempts);
  ASSERT_EQ(3, cap.nput);
  ASSERT_EQ(1, cap.failed);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A 200 answer that breaks the API's own bounds is refused with
 * KINESIS_EPROTO and the parser's reason, never passed on: a hash key past
 * 2^128-1, a sequence number with a leading zero, fewer PutRecords entries
 * than records sent. */
static void test_untrusted_answers_refused(void) {
  kinesis_client_t* c;
  capture_t cap;
  kinesis_record_t entries[2];

  setup();
  c = new_client(3, 0);
  script("{\"target\":\"ListShards\",\"status\":200,\"body\":{\"Shards\":["
         "{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":{"
         "\"StartingHashKey\":\"0\",\"EndingHashKey\":"
         "\"340282366920938463463374607431768211456\"},"
         "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"1\"}}]}}");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, "x", capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_EQ(KINESIS_EPROTO, cap.status);
  ASSERT_EQ(1, cap.attempts);
  ASSERT_STR_EQ("hash key is not a decimal from 0 to 2^128-1",
                cap.error_message);

  script("{\"target\":\"GetRecords\",\"status\":200,\"body\":{\"Records\":["
         "{\"SequenceNumber\":\"0496\",\"Data\":\"AA==\",\"PartitionKey\":"
         "\"k\"}],\"NextShardIterator\":\"n\",\"MillisBehindLatest\":0}}");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_get_records(c, "AAAA", 10, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_EQ(KINESIS_EPROTO, cap.status);
  ASSERT(strstr(cap.error_message, "GetRecords: sequence number") ==
         cap.error_message);

  script("{\"target\":\"PutRecords\",\"status\":200,\"body\":{"
         "\"FailedRecordCount\":0,\"Records\":[{\"SequenceNumber\":\"1\","
         "\"ShardId\":\"shardId-000000000000\"}]}}");
  memset(entries, 0, sizeof(entries));
  entries[0].data = (const uint8_t*) "a";
  entries[0].len = 1;
  entries[0].partition_key = "k";
  entries[1] = entries[0];
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, "x", entries, 2, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_EQ(KINESIS_EPROTO, cap.status);
  ASSERT_STR_EQ("PutRecords: fewer entries than records sent",
                cap.error_message);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* One operation's statistics from kinesis_client_stats(), or NULL when
 * the client has not used it. */
static const kinesis_operation_stats_t* op_stats(kinesis_client_t* c,
                                                 const char* name) {
  kinesis_client_stats_t st;
  size_t i;
  ASSERT_OK(kinesis_client_stats(c, &st));
  for (i = 0; i < st.noperations; i++)
    if (strcmp(st.operations[i].operation, name) == 0)
      return &st.operations[i];
  return NULL;
}


/* What kinesis_client_stats() counts: calls, the requests they took, the
 * causes of retries, what is in flight, and request times. */
static void test_client_stats(void) {
  kinesis_client_t* c;
  kinesis_client_t* c1;
  kinesis_client_stats_t st;
  const kinesis_operation_stats_t* op;
  kinesis_operation_stats_t before;
  capture_t cap;
  char stream[128];
  size_t i;

  setup();
  c = new_client(5, 0);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_stats(NULL, &st));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_stats(c, NULL));
  ASSERT_OK(kinesis_client_stats(c, &st));
  ASSERT_EQ(0, st.noperations);
  snprintf(stream, sizeof(stream), "%s", test_stream_name("stats"));
  make_stream(c, stream);
  ASSERT_NOT_NULL(op_stats(c, "CreateStream"));
  ASSERT_NULL(op_stats(c, "PutRecords"));
  before = *op_stats(c, "DescribeStreamSummary");

  /* Three failures, then an answer: one call, four requests. */
  script("[{\"status\":500,\"body\":\"\"},"
         "{\"status\":503,\"body\":\"{\\\"__type\\\":\\\"ServiceUnavailable\\\"}\"},"
         "{\"status\":400,\"body\":{\"__type\":"
         "\"ProvisionedThroughputExceededException\",\"message\":\"slow\"}}]");
  describe(c, stream, &cap);
  ASSERT_OK(cap.status);
  op = op_stats(c, "DescribeStreamSummary");
  ASSERT_EQ(before.calls + 1, op->calls);
  ASSERT_EQ(before.call_failures, op->call_failures);
  ASSERT_EQ(before.requests + 4, op->requests);
  ASSERT_EQ(before.retries + 3, op->retries);
  ASSERT_EQ(before.server_errors + 2, op->server_errors);
  ASSERT_EQ(before.throttled + 1, op->throttled);
  ASSERT_EQ(0, op->transport_errors);
  ASSERT_EQ(0, op->in_flight);
  /* Every request was timed, all in the last minute. */
  ASSERT_EQ(op->requests, op->latency_count);
  ASSERT_EQ(op->requests, op->recent_requests);
  ASSERT(op->latency_sum_ms > 0);
  ASSERT(op->latency_p50_ms > 0);
  ASSERT(op->latency_p50_ms <= op->latency_p90_ms);
  ASSERT(op->latency_p90_ms <= op->latency_p99_ms);
  ASSERT(op->latency_p99_ms <= op->latency_max_ms);
  for (i = 1; i < KINESIS_LATENCY_BUCKETS; i++)
    ASSERT_LE(op->latency_buckets[i - 1], op->latency_buckets[i]);
  ASSERT_LE(op->latency_buckets[KINESIS_LATENCY_BUCKETS - 1],
            op->latency_count);

  /* A request that stalls 400 ms is in flight meanwhile, and timed. */
  script("{\"delay_ms\":400,\"proxy\":true}");
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_describe_stream_summary(c, stream, capture_cb,
                                                   &cap));
  run_loop_for(&loop, 150);
  ASSERT_OK(kinesis_client_stats(c, &st));
  ASSERT_EQ(1, st.calls_open);
  ASSERT_EQ(1, st.in_flight);
  ASSERT_EQ(1, op_stats(c, "DescribeStreamSummary")->in_flight);
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_OK(kinesis_client_stats(c, &st));
  ASSERT_EQ(0, st.calls_open);
  ASSERT_EQ(0, st.in_flight);
  op = op_stats(c, "DescribeStreamSummary");
  ASSERT(op->latency_max_ms >= 400);
  ASSERT(op->latency_max_ms < 5000);

  /* A connection dropped without an answer, with no retry: a failed call
   * and a request with no answer. */
  c1 = new_client(1, 0);
  script("{\"drop\":true}");
  describe(c1, stream, &cap);
  ASSERT_NE(0, cap.status);
  op = op_stats(c1, "DescribeStreamSummary");
  ASSERT_EQ(1, op->calls);
  ASSERT_EQ(1, op->call_failures);
  ASSERT_EQ(1, op->requests);
  ASSERT_EQ(1, op->transport_errors);
  ASSERT_EQ(0, op->retries);
  close_client(&loop, c1);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_retries_5xx_then_succeeds),
             KN_TEST(test_retries_dropped_connections),
             KN_TEST(test_attempts_are_bounded),
             KN_TEST(test_errors_not_retried), KN_TEST(test_timeouts),
             KN_TEST(test_signed_headers),
             KN_TEST(test_expired_token_resigns_once),
             KN_TEST(test_list_shards_pages),
             KN_TEST(test_wait_for_active_polls_not_found),
             KN_TEST(test_put_records_partial_failure),
             KN_TEST(test_untrusted_answers_refused),
             KN_TEST(test_client_stats))
