#include "client_util.h"
#include "cred_util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fault.h"
#include "internal.h"

/* Secrets never reach the application: with every log message on (DEBUG),
 * calls that succeed, are retried, are refused for their signature, lose
 * their connection or fail TLS verification, and a producer and a consumer
 * at work, nothing the library hands out (log messages, error codes and
 * messages, strerror) holds the secret key, the session token or any part
 * of the Authorization header. The fault server's log shows that the
 * requests did carry the token, so the test is not looking for something
 * that was never there. */

#define SECRET "kn-secret-9d1c7e42-never-shown"
#define TOKEN "kn-token-5b8f03aa-never-shown"
/* The roles' secrets: a web identity token, a source profile's secret key,
 * and what the fake STS hands out (sts-secret-N, sts-token-N). */
#define WEB_TOKEN "kn-web-token-71c2d9e0-never-shown"
#define BASE_SECRET "kn-base-secret-0a4be6d3-never-shown"
/* What a credential_process prints on its standard output, and the SSO
 * token cached by `aws sso login` (the fake portal's, test/servers.js). */
#define PROC_SECRET "kn-proc-secret-6f2a81c4-never-shown"
#define PROC_TOKEN "kn-proc-token-93d0b5e7-never-shown"
#define SSO_TOKEN "test-sso-bearer-token"
/* printf '%s' test-session | sha1sum */
#define SSO_SESSION_FILE "70780fa17c57df49aa7c7f603fde6ea7a14148f2.json"

static uv_loop_t loop;

/* Everything the library said, one message per line. */
static char* said;
static size_t said_len;
static size_t said_messages;


static void note(const char* text) {
  size_t n = strlen(text);
  char* grown = realloc(said, said_len + n + 2);
  ASSERT_NOT_NULL(grown);
  said = grown;
  memcpy(said + said_len, text, n);
  said[said_len + n] = '\n';
  said_len += n + 1;
  said[said_len] = '\0';
  said_messages++;
}


static void on_log(kinesis_log_level_t level, const char* message, void* arg) {
  (void) level;
  (void) arg;
  note(message);
}


/* Notes what a call's callback saw, then hands it on to capture_cb. */
static void noting_cb(kinesis_client_t* c, int status,
                      const kinesis_result_t* r, void* arg) {
  note(kinesis_strerror(status));
  if (r != NULL && r->error_code != NULL)
    note(r->error_code);
  if (r != NULL && r->error_message != NULL)
    note(r->error_message);
  capture_cb(c, status, r, arg);
}


static void client_options(kinesis_client_options_t* o, const char* endpoint) {
  test_client_options(o, endpoint);
  o->access_key_id = "AKIDSECRETSTEST";
  o->secret_access_key = SECRET;
  o->session_token = TOKEN;
  o->log = on_log;
  o->log_level = KINESIS_LOG_DEBUG;
  o->max_attempts = 3;
}


static void summary(kinesis_client_t* c, const char* stream, capture_t* cap) {
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_describe_stream_summary(c, stream, noting_cb, cap));
  capture_wait(&loop, cap);
}


static int put_done;


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* r, void* arg) {
  (void) p;
  (void) arg;
  note(kinesis_strerror(status));
  if (r->error_code != NULL)
    note(r->error_code);
  if (r->error_message != NULL)
    note(r->error_message);
  put_done++;
}


static int closed;


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  closed++;
}


static int records_seen;


static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  (void) c;
  (void) r;
  (void) arg;
  records_seen++;
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  closed++;
}


/* Forgets what the library said. */
static void said_reset(void) {
  free(said);
  said = NULL;
  said_len = 0;
  said_messages = 0;
}


/* Asserts that nothing the library said holds one of the `n` strings of
 * `forbidden`. */
static void expect_none_said(const char* const* forbidden, size_t n) {
  size_t k;
  for (k = 0; k < n; k++)
    if (strstr(said, forbidden[k]) != NULL) {
      fprintf(stderr, "the library said \"%s\":\n%s", forbidden[k], said);
      ASSERT(0);
    }
}


/* How many requests the fault server logged with the session token
 * `token`, or, with `prefix`, one that begins with it; with `sigv4`, only
 * those that also carry a SigV4 Authorization header. */
static size_t requests_with(const char* fault, const char* token, int prefix,
                            int sigv4) {
  json_t* log = kn_fault_log_json(fault);
  json_t* v;
  size_t i;
  size_t n = 0;
  ASSERT_NOT_NULL(log);
  json_array_foreach(log, i, v) {
    json_t* h = json_object_get(v, "headers");
    const char* t =
        json_string_value(json_object_get(h, "x-amz-security-token"));
    const char* a = json_string_value(json_object_get(h, "authorization"));
    if (t == NULL || (prefix ? strncmp(t, token, strlen(token)) != 0
                             : strcmp(t, token) != 0))
      continue;
    if (sigv4 && (a == NULL || strncmp(a, "AWS4-HMAC-SHA256 ", 17) != 0))
      continue;
    n++;
  }
  json_decref(log);
  return n;
}


static void test_no_secret_in_anything_said(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  const char* wrong_host =
      kn_test_require_env("KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT");
  const char* ca = kn_test_require_env("KINESIS_TEST_CA_FILE");
  static const char* const forbidden[] = {SECRET,         TOKEN,
                                          "Signature=",   "AWS4-HMAC-SHA256",
                                          "uthorization", "Credential="};
  kinesis_client_options_t o;
  kinesis_client_t* c;
  kinesis_client_t* tls;
  kinesis_producer_options_t po;
  kinesis_producer_t* p;
  kinesis_consumer_options_t co;
  kinesis_consumer_t* consumer;
  capture_t cap;
  char stream[128];
  int i;
  size_t signed_requests;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_fault_reset(fault));
  client_options(&o, fault);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  snprintf(stream, sizeof(stream), "%s", test_stream_name("secrets"));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, stream, 1, noting_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(
      kinesis_client_wait_for_active(c, stream, 20, 10000, noting_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);

  /* Retried 5xx answers, then success. */
  ASSERT_OK(
      kn_fault_script(fault,
                      "{\"status\": 500, \"times\": 2, \"body\": {\"__type\": "
                      "\"InternalFailure\", \"message\": \"injected\"}}"));
  summary(c, stream, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(3, cap.attempts);
  /* A signature refused: the service's message, not the request's. */
  ASSERT_OK(kn_fault_script(
      fault,
      "{\"status\": 403, \"body\": {\"__type\": "
      "\"InvalidSignatureException\", \"message\": \"The request "
      "signature we calculated does not match the signature you "
      "provided.\"}}"));
  summary(c, stream, &cap);
  ASSERT_NE(0, cap.status);
  /* Connections dropped, until the attempts are spent (curl itself sends
   * again once on a kept-alive connection that died, so more drops are
   * queued than attempts; only this action gets them). */
  ASSERT_OK(kn_fault_script(fault,
                            "{\"drop\": true, \"times\": 10, "
                            "\"target\": \"DescribeStreamSummary\"}"));
  summary(c, stream, &cap);
  ASSERT_NE(0, cap.status);

  /* A producer whose records fail inside the answer, then land. */
  ASSERT_OK(
      kn_fault_script(fault, "{\"put_records_fail\": \"all\", \"times\": 2}"));
  kinesis_producer_options_init(&po);
  po.stream = stream;
  po.buffer_time_ms = 10;
  po.retry_base_ms = 10;
  po.retry_cap_ms = 20;
  ASSERT_OK(kinesis_producer_new(c, &po, &p));
  for (i = 0; i < 20; i++) {
    kinesis_record_t rec;
    char data[32];
    memset(&rec, 0, sizeof(rec));
    snprintf(data, sizeof(data), "secret-test-%d", i);
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = "k";
    ASSERT_OK(kinesis_producer_put(p, &rec, on_put, NULL));
  }
  closed = 0;
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, NULL));
  while (closed == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(20, put_done);

  /* A consumer reading them back. */
  kinesis_consumer_options_init(&co);
  co.stream = stream;
  co.on_record = on_record;
  co.sleep_time_no_records_ms = 50;
  ASSERT_OK(kinesis_consumer_new(c, &co, &consumer));
  ASSERT_OK(kinesis_consumer_start(consumer));
  for (i = 0; i < 200 && records_seen < 20; i++)
    run_loop_for(&loop, 50);
  ASSERT_EQ(20, records_seen);
  closed = 0;
  ASSERT_OK(kinesis_consumer_close(consumer, on_consumer_closed, NULL));
  while (closed == 0)
    uv_run(&loop, UV_RUN_ONCE);

  /* TLS that fails verification: a certificate for another name. */
  client_options(&o, wrong_host);
  o.ca_file = ca;
  o.max_attempts = 1;
  ASSERT_OK(kinesis_client_new(&loop, &o, &tls));
  summary(tls, stream, &cap);
  ASSERT_EQ(KINESIS_ETLS, cap.status);
  close_client(&loop, tls);

  close_client(&loop, c);
  kn_test_loop_close(&loop);

  /* The requests really carried the secrets... */
  signed_requests = requests_with(fault, TOKEN, 0, 1);
  printf(
      "# %zu requests signed with the token; the library said %zu "
      "things\n",
      signed_requests, said_messages);
  ASSERT_GT(signed_requests, 10);
  /* ...the library really talked (retries, failures, the consumer's
   * leases)... */
  ASSERT_GT(said_messages, 30);
  ASSERT(strstr(said, "InvalidSignatureException") != NULL);
  ASSERT(strstr(said, "retry") != NULL);
  /* ...and none of it shows a secret. */
  expect_none_said(forbidden, KN_ARRAY_SIZE(forbidden));
  free(said);
  said = NULL;
}


/* One DescribeStreamSummary through a client whose credentials come from
 * the chain (profile `profile`), logging everything. */
static void role_call(const char* fault, const char* profile, capture_t* cap) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  kinesis_client_options_init(&o);
  o.endpoint_url = fault;
  o.region = "us-west-2";
  o.profile = profile;
  o.log = on_log;
  o.log_level = KINESIS_LOG_DEBUG;
  o.max_attempts = 2;
  o.retry_base_ms = 10;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  summary(c, "no-such-stream", cap);
  close_client(&loop, c);
}


/* The same for web identity and assumed roles: the token, the source
 * profile's secret and the credentials STS hands out appear in nothing the
 * library says, when STS answers, refuses (even with a message that quotes
 * the token), or answers garbage. */
static void test_no_secret_from_roles(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  const char* sts = kn_test_require_env("KINESIS_TEST_STS_URL");
  static const char* const forbidden[] = {
      WEB_TOKEN,    BASE_SECRET,   "sts-secret-", "sts-token-",
      "Signature=", "Credential=", "uthorization"};
  char dir[] = "/tmp/kn-secrets-XXXXXX";
  char token_path[256];
  char config_path[256];
  char creds_path[256];
  capture_t cap;
  size_t role_signed = 0;

  said_reset();
  ASSERT_NOT_NULL(mkdtemp(dir));
  snprintf(token_path, sizeof(token_path), "%s/token", dir);
  snprintf(config_path, sizeof(config_path), "%s/config", dir);
  snprintf(creds_path, sizeof(creds_path), "%s/credentials", dir);
  cred_write_file(token_path, WEB_TOKEN "\n");
  cred_write_file(config_path,
                  "[profile role]\n"
                  "role_arn = arn:aws:iam::123456789012:role/r\n"
                  "source_profile = base\n");
  cred_write_file(creds_path,
                  "[base]\naws_access_key_id = AKIDBASESECRETS\n"
                  "aws_secret_access_key = " BASE_SECRET "\n");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_CONFIG_FILE", config_path, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
  setenv("AWS_ENDPOINT_URL_STS", sts, 1);
  cred_fake_control(
      sts, "sts",
      "{\"reset\": true, \"web_token\": \"" WEB_TOKEN
      "\", "
      "\"keys\": {\"AKIDBASESECRETS\": {\"secret\": \"" BASE_SECRET "\"}}}");
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_fault_reset(fault));

  /* Web identity from the environment: answered, then refused with a
   * message that quotes the token, then garbage. */
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
  setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
  role_call(fault, NULL, &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  cred_fake_control(
      sts, "sts",
      "{\"script\": [{\"status\": 400, \"code\": "
      "\"InvalidIdentityToken\", \"message\": \"bad token " WEB_TOKEN "\"}]}");
  role_call(fault, NULL, &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT(strstr(said, "message withheld") != NULL);
  cred_fake_control(sts, "sts",
                    "{\"script\": [{\"status\": 200, \"body\": "
                    "\"<AssumeRoleWithWebIdentityResponse>" WEB_TOKEN "\"}]}");
  role_call(fault, NULL, &cap);
  ASSERT_EQ(KINESIS_EPROTO, cap.status);
  unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
  unsetenv("AWS_ROLE_ARN");

  /* AssumeRole from the profile: answered, then refused. */
  role_call(fault, "role", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  cred_fake_control(sts, "sts",
                    "{\"keys\": {\"AKIDBASESECRETS\": {\"secret\": "
                    "\"another\"}}}");
  role_call(fault, "role", &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT(strstr(said, "SignatureDoesNotMatch") != NULL);
  kn_test_loop_close(&loop);

  /* Kinesis saw the role's credentials... */
  role_signed = requests_with(fault, "sts-token-", 1, 0);
  ASSERT_GE(role_signed, 2);
  /* ...and nothing said shows a secret. */
  ASSERT_NOT_NULL(said);
  expect_none_said(forbidden, KN_ARRAY_SIZE(forbidden));
  printf(
      "# roles: %zu requests signed with an STS token; the library said "
      "%zu things\n",
      role_signed, said_messages);
  free(said);
  said = NULL;
  unlink(token_path);
  unlink(config_path);
  unlink(creds_path);
  rmdir(dir);
  unsetenv("AWS_ENDPOINT_URL_STS");
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}


/* credential_process and IAM Identity Center: what the command prints on
 * its standard output (keys, and garbage holding a secret), the cached
 * bearer token and the role credentials the portal and STS hand out appear
 * in nothing the library says, with DEBUG logging, when they work and when
 * they fail; the command's standard error does reach the log. */
static void test_no_secret_from_process_and_sso(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  const char* sts = kn_test_require_env("KINESIS_TEST_STS_URL");
  const char* sso = kn_test_require_env("KINESIS_TEST_SSO_URL");
  static const char* const forbidden[] = {
      PROC_SECRET,          PROC_TOKEN,     SSO_TOKEN,     "sso-secret-",
      "sso-session-token-", "sts-secret-",  "sts-token-",  "Signature=",
      "Credential=",        "uthorization", "--secret-arg"};
  char dir[] = "/tmp/kn-secrets-XXXXXX";
  char path[400];
  char config_path[256];
  char good_path[256];
  char bad_path[256];
  char garbage_path[256];
  char text[2048];
  capture_t cap;
  size_t process_signed = 0;
  size_t sso_signed = 0;

  said_reset();
  ASSERT_NOT_NULL(mkdtemp(dir));
  snprintf(config_path, sizeof(config_path), "%s/config", dir);
  snprintf(good_path, sizeof(good_path), "%s/good.sh", dir);
  snprintf(bad_path, sizeof(bad_path), "%s/bad.sh", dir);
  snprintf(garbage_path, sizeof(garbage_path), "%s/garbage.sh", dir);
  cred_write_file(
      good_path,
      "#!/bin/sh\n"
      "echo 'good.sh: fetched from the vault' >&2\n"
      "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCSECRETS\", "
      "\"SecretAccessKey\": \"" PROC_SECRET
      "\", \"SessionToken\": \"" PROC_TOKEN "\"}'\n");
  /* Fails after printing keys: its output is dropped unread. */
  cred_write_file(
      bad_path,
      "#!/bin/sh\n"
      "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROCSECRETS\", "
      "\"SecretAccessKey\": \"" PROC_SECRET
      "\"}'\n"
      "echo 'bad.sh: denied' >&2\n"
      "exit 1\n");
  /* Prints something that is not the document, holding a secret. */
  cred_write_file(garbage_path,
                  "#!/bin/sh\n"
                  "echo '{\"Version\": 2, \"SecretAccessKey\": \"" PROC_SECRET
                  "\"'\n");
  ASSERT_OK(chmod(good_path, 0700));
  ASSERT_OK(chmod(bad_path, 0700));
  ASSERT_OK(chmod(garbage_path, 0700));
  snprintf(text, sizeof(text),
           "[profile good]\ncredential_process = %s --secret-arg\n"
           "[profile bad]\ncredential_process = %s --secret-arg\n"
           "[profile garbage]\ncredential_process = %s --secret-arg\n"
           "[profile sso]\nsso_session = test-session\n"
           "sso_account_id = 123456789012\nsso_role_name = test-sso-role\n"
           "[profile ssorole]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
           "source_profile = sso\n"
           "[sso-session test-session]\n"
           "sso_start_url = https://test.awsapps.com/start\n"
           "sso_region = us-east-1\n",
           good_path, bad_path, garbage_path);
  cred_write_file(config_path, text);
  /* The token cache under HOME. */
  snprintf(path, sizeof(path), "%s/.aws", dir);
  ASSERT_OK(mkdir(path, 0700));
  snprintf(path, sizeof(path), "%s/.aws/sso", dir);
  ASSERT_OK(mkdir(path, 0700));
  snprintf(path, sizeof(path), "%s/.aws/sso/cache", dir);
  ASSERT_OK(mkdir(path, 0700));
  snprintf(path, sizeof(path), "%s/.aws/sso/cache/" SSO_SESSION_FILE, dir);
  cred_write_file(path, "{\"accessToken\": \"" SSO_TOKEN
                        "\", \"expiresAt\": \"2099-01-01T00:00:00Z\"}");

  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  setenv("HOME", dir, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_CONFIG_FILE", config_path, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-secrets/creds", 1);
  setenv("AWS_ENDPOINT_URL_STS", sts, 1);
  setenv("AWS_ENDPOINT_URL_SSO", sso, 1);
  cred_fake_control(sts, "sts",
                    "{\"reset\": true, \"keys\": {\"ASIASSO1\": {\"secret\": "
                    "\"sso-secret-1\", \"token\": \"sso-session-token-1\"}}}");
  cred_fake_control(sso, "sso", "{\"reset\": true}");
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_fault_reset(fault));

  /* SSO as the source of a role first (it gets ASIASSO1, which the fake
   * STS knows), then alone. */
  role_call(fault, "ssorole", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  role_call(fault, "sso", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  role_call(fault, "good", &cap);
  ASSERT_EQ(KINESIS_ENOTFOUND, cap.status);
  ASSERT(strstr(said, "good.sh: fetched from the vault") != NULL);
  role_call(fault, "bad", &cap);
  ASSERT_EQ(KINESIS_ENOCREDS, cap.status);
  ASSERT(strstr(said, "bad.sh: denied") != NULL);
  role_call(fault, "garbage", &cap);
  ASSERT_EQ(KINESIS_EPROTO, cap.status);
  /* The portal refuses the token. */
  cred_fake_control(sso, "sso", "{\"fail\": \"401\"}");
  role_call(fault, "sso", &cap);
  ASSERT_EQ(KINESIS_ENOCREDS, cap.status);
  ASSERT(strstr(said, "aws sso login --profile sso") != NULL);
  kn_test_loop_close(&loop);

  /* Kinesis saw the process's and the portal's credentials... */
  process_signed = requests_with(fault, PROC_TOKEN, 0, 0);
  sso_signed = requests_with(fault, "sso-session-token-", 1, 0);
  ASSERT_GE(process_signed, 1);
  ASSERT_GE(sso_signed, 1);
  /* ...and nothing said shows a secret. */
  ASSERT_NOT_NULL(said);
  expect_none_said(forbidden, KN_ARRAY_SIZE(forbidden));
  printf(
      "# process and sso: %zu and %zu requests signed with their tokens; "
      "the library said %zu things\n",
      process_signed, sso_signed, said_messages);
  free(said);
  said = NULL;
  kn_test_rmtree(dir);
  unsetenv("AWS_ENDPOINT_URL_STS");
  unsetenv("AWS_ENDPOINT_URL_SSO");
  unsetenv("AWS_CONFIG_FILE");
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}


KN_TEST_MAIN(KN_TEST(test_no_secret_in_anything_said),
             KN_TEST(test_no_secret_from_roles),
             KN_TEST(test_no_secret_from_process_and_sso))
