/* Roles in the credential chain against the fake STS of test/servers.js
 * (KINESIS_TEST_STS_URL), which checks what it receives: web identity from
 * the environment and from a profile with the token file read again at each
 * fetch, AssumeRole signed with the source profile's keys through a chain
 * of profiles, credential_source from instance metadata and the container
 * endpoint, refresh before expiry, a failed refresh keeping the old
 * credentials, each error, and a Kinesis call signed with the role's
 * credentials as the fault server saw it. */

#include "client_util.h"
#include "cred_util.h"
#include "fault.h"
#include "harness.h"
#include "internal.h"

#include "credentials.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROLE_TOP "arn:aws:iam::123456789012:role/top"
#define ROLE_MID "arn:aws:iam::123456789012:role/mid"
#define ROLE_WEB "arn:aws:iam::123456789012:role/web"

static const char* sts_url;
static const char* metadata_url;
static char dir[256];
static char config_path[300];
static char creds_path[300];
static char token_path[300];


/* ---- The fakes' control endpoints ---- */


static void sts_control(const char* json) {
  cred_fake_control(sts_url, "sts", json);
}


static void metadata_control(const char* json) {
  cred_fake_control(metadata_url, "metadata", json);
}


/* ---- Files and environment ---- */


static void setup(void) {
  static const char* const vars[] = {"AWS_ACCESS_KEY_ID",
                                     "AWS_SECRET_ACCESS_KEY",
                                     "AWS_SESSION_TOKEN",
                                     "AWS_PROFILE",
                                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                     "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                     "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                     "AWS_WEB_IDENTITY_TOKEN_FILE",
                                     "AWS_ROLE_ARN",
                                     "AWS_ROLE_SESSION_NAME",
                                     "AWS_ENDPOINT_URL",
                                     "AWS_REGION",
                                     "AWS_DEFAULT_REGION",
                                     "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                                     "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"};
  size_t i;

  sts_url = kn_test_require_env("KINESIS_TEST_STS_URL");
  metadata_url = kn_test_require_env("KINESIS_TEST_METADATA_URL");
  for (i = 0; i < KN_ARRAY_SIZE(vars); i++)
    unsetenv(vars[i]);
  if (dir[0] == '\0') {
    snprintf(dir, sizeof(dir), "/tmp/kn-sts-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(config_path, sizeof(config_path), "%s/config", dir);
    snprintf(creds_path, sizeof(creds_path), "%s/credentials", dir);
    snprintf(token_path, sizeof(token_path), "%s/token", dir);
  }
  unlink(config_path);
  unlink(creds_path);
  unlink(token_path);
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
  setenv("AWS_CONFIG_FILE", config_path, 1);
  setenv("AWS_ENDPOINT_URL_STS", sts_url, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", metadata_url, 1);
  sts_control("{\"reset\": true}");
  metadata_control("{\"reset\": true}");
}


static void cleanup_files(void) {
  unlink(config_path);
  unlink(creds_path);
  unlink(token_path);
  rmdir(dir);
}


/* ---- The provider on a loop ---- */


static void fixture_init(cred_fixture_t* f, const char* profile,
                         uint32_t refresh_before_ms) {
  kn_cred_options_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.profile = profile;
  opts.region = "us-west-2";
  opts.refresh_before_ms = refresh_before_ms;
  opts.metadata_timeout_ms = 2000;
  opts.warn = cred_on_warn;
  opts.warn_arg = f;
  cred_fixture_init(f, &opts);
}


/* Gets, and expects failure with `status` and `words` in the message. */
static void expect_error(const char* profile, int status, const char* words) {
  cred_fixture_t f;
  cred_get_t r;
  fixture_init(&f, profile, 0);
  cred_get_once(&f, &r);
  if (r.status != status || strstr(r.message, words) == NULL)
    fprintf(stderr, "status %s, message: %s\n", kinesis_err_name(r.status),
            r.message);
  ASSERT_EQ(status, r.status);
  ASSERT_NOT_NULL(strstr(r.message, words));
  cred_fixture_close(&f);
}


static void web_identity_env(const char* token) {
  cred_write_file(token_path, token);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
  setenv("AWS_ROLE_ARN", ROLE_WEB, 1);
}


/* Web identity credentials (ASIASTS1, for "token-one") that live
 * `expiry_seconds`, from a provider that refreshes 3 s before expiry. */
static void start_short_lived(cred_fixture_t* f, cred_get_t* r,
                              int expiry_seconds) {
  char json[128];
  web_identity_env("token-one");
  snprintf(json, sizeof(json),
           "{\"web_token\": \"token-one\", \"expiry_seconds\": %d}",
           expiry_seconds);
  sts_control(json);
  fixture_init(f, NULL, 3000);
  cred_get_once(f, r);
  ASSERT_STR_EQ("ASIASTS1", r->access_key_id);
}


/* ---- Tests ---- */


static void test_web_identity_env(void) {
  cred_fixture_t f;
  cred_get_t r;
  json_t* reqs;
  int64_t now = kn_now_ms();

  setup();
  web_identity_env("token-one\n");
  setenv("AWS_ROLE_SESSION_NAME", "session-one", 1);
  sts_control("{\"web_token\": \"token-one\"}");
  fixture_init(&f, NULL, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  ASSERT_STR_EQ("sts-secret-1", r.secret_access_key);
  ASSERT_STR_EQ("sts-token-1", r.session_token);
  ASSERT_STR_EQ("web identity", r.source);
  ASSERT_STR_EQ(ROLE_WEB, r.role_arn);
  ASSERT_GT(r.expiration_ms, now + 3500 * 1000);
  ASSERT_LT(r.expiration_ms, now + 3700 * 1000);
  ASSERT_STR_EQ(ROLE_WEB, kn_cred_provider_cached(f.p)->role_arn);

  /* The token file is read again at the next fetch. */
  cred_write_file(token_path, "token-two");
  sts_control("{\"web_token\": \"token-two\"}");
  unsetenv("AWS_ROLE_SESSION_NAME");
  kn_cred_provider_invalidate(f.p);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS2", r.access_key_id);
  cred_fixture_close(&f);

  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(2, json_array_size(reqs));
  ASSERT_STR_EQ("AssumeRoleWithWebIdentity", cred_req_str(reqs, 0, "action"));
  ASSERT_NULL(cred_req_str(reqs, 0, "authorization"));
  ASSERT_STR_EQ("token-one", cred_req_param(reqs, 0, "WebIdentityToken"));
  ASSERT_STR_EQ(ROLE_WEB, cred_req_param(reqs, 0, "RoleArn"));
  ASSERT_STR_EQ("session-one", cred_req_param(reqs, 0, "RoleSessionName"));
  ASSERT_STR_EQ("ok", cred_req_str(reqs, 0, "outcome"));
  ASSERT_STR_EQ("token-two", cred_req_param(reqs, 1, "WebIdentityToken"));
  /* Without AWS_ROLE_SESSION_NAME: the default name. */
  ASSERT_EQ(0, strncmp(cred_req_param(reqs, 1, "RoleSessionName"),
                       "libkinesis-", 11));
  ASSERT_STR_EQ("ok", cred_req_str(reqs, 1, "outcome"));
  json_decref(reqs);
}


static void test_env_keys_before_web_identity(void) {
  cred_fixture_t f;
  cred_get_t r;
  json_t* reqs;

  setup();
  web_identity_env("token-one");
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, NULL, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("environment", r.source);
  ASSERT_STR_EQ("", r.role_arn);
  cred_fixture_close(&f);
  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(0, json_array_size(reqs));
  json_decref(reqs);
}


static void test_web_identity_profile(void) {
  cred_fixture_t f;
  cred_get_t r;
  json_t* reqs;
  char config[1024];

  setup();
  cred_write_file(token_path, "profile-token");
  /* The endpoint comes from the profile this time: its services section
   * wins over its own endpoint_url, which points nowhere. */
  unsetenv("AWS_ENDPOINT_URL_STS");
  snprintf(config, sizeof(config),
           "[profile web]\nrole_arn = " ROLE_WEB
           "\nweb_identity_token_file = %s\nrole_session_name = from-profile\n"
           "services = local\nendpoint_url = http://127.0.0.1:1\n"
           "[services local]\nsts =\n  endpoint_url = %s\n",
           token_path, sts_url);
  cred_write_file(config_path, config);
  sts_control("{\"web_token\": \"profile-token\"}");
  fixture_init(&f, "web", 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("web identity", r.source);
  ASSERT_STR_EQ(ROLE_WEB, r.role_arn);
  cred_fixture_close(&f);
  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(1, json_array_size(reqs));
  ASSERT_STR_EQ("profile-token", cred_req_param(reqs, 0, "WebIdentityToken"));
  ASSERT_STR_EQ("from-profile", cred_req_param(reqs, 0, "RoleSessionName"));
  json_decref(reqs);
}


static void write_role_chain(void) {
  cred_write_file(config_path,
                  "[profile mid]\n"
                  "role_arn = " ROLE_MID
                  "\n"
                  "source_profile = base\n"
                  "[profile top]\n"
                  "role_arn = " ROLE_TOP
                  "\n"
                  "source_profile = mid\n"
                  "external_id = ext-42\n"
                  "role_session_name = top-session\n"
                  "duration_seconds = 1800\n");
  /* The base profile's own role_arn is ignored: its keys end the chain. */
  cred_write_file(creds_path,
                  "[base]\n"
                  "aws_access_key_id = AKIDBASE\n"
                  "aws_secret_access_key = base-secret\n"
                  "role_arn = arn:aws:iam::123456789012:role/ignored\n");
  sts_control("{\"keys\": {\"AKIDBASE\": {\"secret\": \"base-secret\"}}}");
}


static void test_assume_role_chain(void) {
  cred_fixture_t f;
  cred_get_t r;
  json_t* reqs;

  setup();
  write_role_chain();
  fixture_init(&f, "top", 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS2", r.access_key_id);
  ASSERT_STR_EQ("sts-token-2", r.session_token);
  ASSERT_STR_EQ("assume role", r.source);
  ASSERT_STR_EQ(ROLE_TOP, r.role_arn);
  cred_fixture_close(&f);

  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(2, json_array_size(reqs));
  /* First the base profile's keys assume mid... */
  ASSERT_STR_EQ("AssumeRole", cred_req_str(reqs, 0, "action"));
  ASSERT_STR_EQ(ROLE_MID, cred_req_param(reqs, 0, "RoleArn"));
  ASSERT_STR_EQ("AKIDBASE", cred_req_str(reqs, 0, "access_key_id"));
  ASSERT_STR_EQ("us-west-2", cred_req_str(reqs, 0, "region"));
  ASSERT_STR_EQ("sts", cred_req_str(reqs, 0, "service"));
  ASSERT_NULL(cred_req_str(reqs, 0, "security_token"));
  ASSERT_NULL(cred_req_param(reqs, 0, "ExternalId"));
  ASSERT_NULL(cred_req_param(reqs, 0, "DurationSeconds"));
  /* "ok": the fake recomputed the signature with base-secret. */
  ASSERT_STR_EQ("ok", cred_req_str(reqs, 0, "outcome"));
  /* ...then mid's credentials assume top, with its settings. */
  ASSERT_STR_EQ(ROLE_TOP, cred_req_param(reqs, 1, "RoleArn"));
  ASSERT_STR_EQ("ASIASTS1", cred_req_str(reqs, 1, "access_key_id"));
  ASSERT_STR_EQ("sts-token-1", cred_req_str(reqs, 1, "security_token"));
  ASSERT_STR_EQ("ext-42", cred_req_param(reqs, 1, "ExternalId"));
  ASSERT_STR_EQ("top-session", cred_req_param(reqs, 1, "RoleSessionName"));
  ASSERT_STR_EQ("1800", cred_req_param(reqs, 1, "DurationSeconds"));
  ASSERT_STR_EQ("ok", cred_req_str(reqs, 1, "outcome"));
  json_decref(reqs);
}


static void test_wrong_secret_refused(void) {
  json_t* reqs;

  setup();
  write_role_chain();
  sts_control("{\"keys\": {\"AKIDBASE\": {\"secret\": \"other-secret\"}}}");
  expect_error("top", KINESIS_EACCESS, "SignatureDoesNotMatch");
  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(1, json_array_size(reqs));
  json_decref(reqs);
}


static void test_credential_source_imds(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  unsetenv("AWS_EC2_METADATA_DISABLED");
  cred_write_file(config_path, "[profile ec2]\nrole_arn = " ROLE_TOP
                               "\ncredential_source = Ec2InstanceMetadata\n");
  sts_control(
      "{\"keys\": {\"ASIAIMDS1\": {\"secret\": \"imds-secret-1\", "
      "\"token\": \"imds-token-1\"}}}");
  fixture_init(&f, "ec2", 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  ASSERT_STR_EQ("assume role", r.source);
  cred_fixture_close(&f);
  cred_expect_one_sts_call(sts_url, NULL, "ASIAIMDS1", "imds-token-1");
}


static void test_credential_source_container(void) {
  cred_fixture_t f;
  cred_get_t r;
  char url[512];

  setup();
  snprintf(url, sizeof(url), "%s/container/creds", metadata_url);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "test-container-auth", 1);
  cred_write_file(config_path, "[profile ecs]\nrole_arn = " ROLE_TOP
                               "\ncredential_source = EcsContainer\n");
  sts_control(
      "{\"keys\": {\"ASIACONTAINER1\": {\"secret\": "
      "\"container-secret-1\", \"token\": \"container-token-1\"}}}");
  fixture_init(&f, "ecs", 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  cred_fixture_close(&f);
  cred_expect_one_sts_call(sts_url, NULL, "ASIACONTAINER1", NULL);

  /* A failing container endpoint ends the chain there: no fall back to
   * instance metadata. */
  setup();
  unsetenv("AWS_EC2_METADATA_DISABLED");
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong", 1);
  cred_write_file(config_path, "[profile ecs]\nrole_arn = " ROLE_TOP
                               "\ncredential_source = EcsContainer\n");
  expect_error("ecs", KINESIS_ENOCREDS, "HTTP 401");
}


static void test_refresh_before_expiry(void) {
  cred_fixture_t f;
  cred_get_t r;
  json_t* reqs;
  const kn_credentials_t* c;
  char want[32];
  size_t n;
  size_t i;

  setup();
  /* The fake writes whole seconds, so the credentials live 5 to 6 s: with
   * refresh_before_ms 3000 the refresh comes 2 to 3 s later, and the next
   * one not before 4 s. */
  start_short_lived(&f, &r, 6);
  cred_write_file(token_path, "token-two");
  sts_control("{\"web_token\": \"token-two\"}");
  /* The refresh runs alone, on its timer. */
  run_loop_for(&f.loop, 3500);
  c = kn_cred_provider_cached(f.p);
  ASSERT_NOT_NULL(c);
  ASSERT_STR_EQ("web identity", c->source);
  ASSERT_EQ(0, f.warnings);
  reqs = cred_fake_requests(sts_url, "sts");
  n = json_array_size(reqs);
  ASSERT_GE(n, 2);
  /* The cache holds what the last request got. */
  snprintf(want, sizeof(want), "ASIASTS%zu", n);
  ASSERT_STR_EQ(want, c->access_key_id);
  cred_fixture_close(&f);
  for (i = 1; i < n; i++) {
    ASSERT_STR_EQ("token-two", cred_req_param(reqs, i, "WebIdentityToken"));
    ASSERT_STR_EQ("ok", cred_req_str(reqs, i, "outcome"));
  }
  json_decref(reqs);
}


static void test_failed_refresh_keeps_creds(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  start_short_lived(&f, &r, 5);
  sts_control(
      "{\"script\": [{\"status\": 403, \"code\": \"AccessDenied\", "
      "\"message\": \"not today\", \"times\": 100}]}");
  run_loop_for(&f.loop, 2500);
  /* The refresh failed; the old credentials are still handed out. */
  ASSERT_GE(f.warnings, 1);
  ASSERT_NOT_NULL(strstr(f.warning, "refreshing the web identity"));
  ASSERT_NOT_NULL(strstr(f.warning, "AccessDenied"));
  ASSERT_NULL(strstr(f.warning, "token-one"));
  ASSERT_NULL(strstr(f.warning, "sts-secret"));
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  /* Once they expire, the error shows. */
  run_loop_for(&f.loop, 3000);
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_EACCESS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "AccessDenied: not today"));
  cred_fixture_close(&f);
}


static void test_errors(void) {
  json_t* reqs;
  char config[1024];

  /* AccessDenied, with the role named. */
  setup();
  web_identity_env("token-one");
  sts_control(
      "{\"web_token\": \"token-one\", \"script\": [{\"status\": 403, "
      "\"code\": \"AccessDenied\", \"message\": \"no\"}]}");
  expect_error(NULL, KINESIS_EACCESS, "AccessDenied: no");
  /* The fake expects another token. */
  sts_control("{\"web_token\": \"x\"}");
  expect_error(NULL, KINESIS_EACCESS, "InvalidIdentityToken");
  sts_control(
      "{\"web_token\": \"token-one\", \"script\": [{\"status\": 400, "
      "\"code\": \"ExpiredTokenException\", \"message\": \"old\"}]}");
  expect_error(NULL, KINESIS_ECREDEXPIRED, "ExpiredTokenException");
  sts_control(
      "{\"script\": [{\"status\": 403, "
      "\"code\": \"RegionDisabledException\", \"message\": \"off\"}]}");
  expect_error(NULL, KINESIS_EACCESS, "not activated in this region");

  /* Malformed XML. */
  sts_control(
      "{\"script\": [{\"status\": 200, \"body\": "
      "\"<AssumeRoleWithWebIdentityResponse><oops>\"}]}");
  expect_error(NULL, KINESIS_EPROTO, "malformed answer");

  /* 5xx is tried again: two failures, then success. */
  sts_control(
      "{\"reset\": true, \"web_token\": \"token-one\", \"script\": "
      "[{\"status\": 500, \"code\": \"InternalFailure\", "
      "\"message\": \"boom\", \"times\": 2}]}");
  {
    cred_fixture_t f;
    cred_get_t r;
    fixture_init(&f, NULL, 0);
    cred_get_once(&f, &r);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
    cred_fixture_close(&f);
    reqs = cred_fake_requests(sts_url, "sts");
    ASSERT_EQ(3, json_array_size(reqs));
    json_decref(reqs);
  }
  /* Throttled on every attempt. */
  sts_control(
      "{\"reset\": true, \"web_token\": \"token-one\", \"script\": "
      "[{\"status\": 400, \"code\": \"Throttling\", "
      "\"message\": \"Rate exceeded\", \"times\": 3}]}");
  expect_error(NULL, KINESIS_ETHROUGHPUT,
               "Throttling: Rate exceeded (HTTP 400, after 3 attempts)");
  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(3, json_array_size(reqs));
  json_decref(reqs);

  /* An STS nobody listens to. */
  setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
  {
    cred_fixture_t f;
    cred_get_t r;
    fixture_init(&f, NULL, 0);
    cred_get_once(&f, &r);
    ASSERT_EQ(KINESIS_ETRANSPORT, r.status);
    ASSERT_NOT_NULL(strstr(r.message, "http://127.0.0.1:1/"));
    ASSERT_NOT_NULL(strstr(r.message, "after 3 attempts"));
    cred_fixture_close(&f);
  }

  /* A missing token file. */
  setup();
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/kn-test/token", 1);
  setenv("AWS_ROLE_ARN", ROLE_WEB, 1);
  expect_error(NULL, KINESIS_ENOCREDS,
               "cannot read the web identity token file "
               "/nonexistent/kn-test/token");

  /* Profiles that cannot work: nothing is sent. */
  setup();
  cred_write_file(config_path, "[profile a]\nrole_arn = " ROLE_TOP
                               "\nsource_profile = b\n"
                               "[profile b]\nrole_arn = " ROLE_MID
                               "\nsource_profile = c\n"
                               "[profile c]\nrole_arn = " ROLE_MID
                               "\nsource_profile = b\n"
                               "[profile mfa]\nrole_arn = " ROLE_TOP
                               "\nsource_profile = k\n"
                               "mfa_serial = arn:aws:iam::123456789012:mfa/me\n"
                               "[profile both]\nrole_arn = " ROLE_TOP
                               "\nsource_profile = k\n"
                               "credential_source = Environment\n"
                               "[profile lost]\nrole_arn = " ROLE_TOP
                               "\nsource_profile = nowhere\n"
                               "[profile bare]\nrole_arn = " ROLE_TOP
                               "\n"
                               "[profile long]\nrole_arn = " ROLE_TOP
                               "\nsource_profile = k\n"
                               "duration_seconds = 60\n"
                               "[profile k]\naws_access_key_id = AKIDK\n"
                               "aws_secret_access_key = k-secret\n");
  expect_error("a", KINESIS_EINVAL, "source_profile cycle: b -> c -> b");
  expect_error("mfa", KINESIS_EINVAL, "profile \"mfa\" has mfa_serial");
  expect_error("both", KINESIS_EINVAL,
               "profile \"both\" has both source_profile and "
               "credential_source");
  expect_error("lost", KINESIS_EINVAL,
               "source_profile \"nowhere\" named by profile \"lost\" does not "
               "exist");
  expect_error("bare", KINESIS_EINVAL,
               "role_arn without source_profile, credential_source or "
               "web_identity_token_file");
  expect_error("long", KINESIS_EINVAL, "duration_seconds \"60\"");
  snprintf(config, sizeof(config),
           "[profile self]\nrole_arn = " ROLE_TOP "\nsource_profile = self\n");
  cred_write_file(config_path, config);
  expect_error("self", KINESIS_EINVAL, "its own source_profile");
  reqs = cred_fake_requests(sts_url, "sts");
  ASSERT_EQ(0, json_array_size(reqs));
  json_decref(reqs);
}


/* A Kinesis call signed with the role's credentials, as the fault server
 * received it. */
static void test_kinesis_call_with_role(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_options_t o;
  kinesis_client_t* c;
  uv_loop_t loop;
  capture_t cap;
  json_t* log;
  size_t i;
  size_t signed_requests = 0;

  setup();
  write_role_chain();
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(uv_loop_init(&loop));
  kinesis_client_options_init(&o);
  o.endpoint_url = fault;
  o.region = "us-west-2";
  o.profile = "top";
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, test_stream_name("sts"), 1,
                                         capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  close_client(&loop, c);
  kn_test_loop_close(&loop);

  log = kn_fault_log_json(fault);
  ASSERT_NOT_NULL(log);
  ASSERT_GE(json_array_size(log), 1);
  for (i = 0; i < json_array_size(log); i++) {
    json_t* h = json_object_get(json_array_get(log, i), "headers");
    const char* authz = json_string_value(json_object_get(h, "authorization"));
    const char* token =
        json_string_value(json_object_get(h, "x-amz-security-token"));
    ASSERT_NOT_NULL(authz);
    ASSERT_NOT_NULL(strstr(authz, "Credential=ASIASTS2/"));
    ASSERT_NOT_NULL(strstr(authz, "/us-west-2/kinesis/aws4_request"));
    ASSERT_STR_EQ("sts-token-2", token);
    signed_requests++;
  }
  ASSERT_GE(signed_requests, 1);
  json_decref(log);
}


static void test_all_done(void) {
  cleanup_files();
}


KN_TEST_MAIN(KN_TEST(test_web_identity_env),
             KN_TEST(test_env_keys_before_web_identity),
             KN_TEST(test_web_identity_profile),
             KN_TEST(test_assume_role_chain),
             KN_TEST(test_wrong_secret_refused),
             KN_TEST(test_credential_source_imds),
             KN_TEST(test_credential_source_container),
             KN_TEST(test_refresh_before_expiry),
             KN_TEST(test_failed_refresh_keeps_creds), KN_TEST(test_errors),
             KN_TEST(test_kinesis_call_with_role), KN_TEST(test_all_done))
