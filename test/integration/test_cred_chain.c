/* credential_process and IAM Identity Center in the credential chain, with
 * real processes (shell scripts the test writes) and the fakes of
 * test/servers.js: a profile's credential_process and its SSO settings
 * give the credentials a Kinesis call is signed with (as the fault server
 * received it); both as the source_profile of a role, whose AssumeRole the
 * fake STS checks was signed with their keys; process credentials with an
 * Expiration refreshed before it, a failing refresh keeping the old ones;
 * a failing command and an expired SSO token reported with the profile's
 * name; the command's standard error reaching the warn hook, its standard
 * output never. */

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
#include <sys/stat.h>
#include <unistd.h>

#define ROLE_TOP "arn:aws:iam::123456789012:role/top"
/* The fake portal's token, role and account (test/servers.js). */
#define SSO_TOKEN "test-sso-bearer-token"
#define SSO_ROLE "test-sso-role"
#define SSO_ACCOUNT "123456789012"
/* printf '%s' test-session | sha1sum */
#define SESSION_FILE "70780fa17c57df49aa7c7f603fde6ea7a14148f2.json"
/* What the scripts print on standard output: never in a message. */
#define PROC_SECRET "proc-secret-4e1f0b77-never-shown"
#define PROC_TOKEN "proc-token-c3a95d12-never-shown"

static const char* sts_url;
static const char* sso_url;
static char dir[256];
static char config_path[300];
static char creds_path[300];
static char script_path[300];
static char counter_path[300];
static char cache_dir[300];


/* ---- Files and environment ---- */


static void setup(void) {
  static const char* const vars[] = {"AWS_ACCESS_KEY_ID",
                                     "AWS_SECRET_ACCESS_KEY",
                                     "AWS_SESSION_TOKEN",
                                     "AWS_PROFILE",
                                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                     "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                     "AWS_WEB_IDENTITY_TOKEN_FILE",
                                     "AWS_ROLE_ARN",
                                     "AWS_ENDPOINT_URL",
                                     "AWS_REGION",
                                     "AWS_DEFAULT_REGION",
                                     "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"};
  char path[400];
  size_t i;

  sts_url = kn_test_require_env("KINESIS_TEST_STS_URL");
  sso_url = kn_test_require_env("KINESIS_TEST_SSO_URL");
  for (i = 0; i < KN_ARRAY_SIZE(vars); i++)
    unsetenv(vars[i]);
  if (dir[0] == '\0') {
    snprintf(dir, sizeof(dir), "/tmp/kn-chain-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(dir));
    snprintf(config_path, sizeof(config_path), "%s/config", dir);
    snprintf(creds_path, sizeof(creds_path), "%s/credentials", dir);
    snprintf(script_path, sizeof(script_path), "%s/creds.sh", dir);
    snprintf(counter_path, sizeof(counter_path), "%s/runs", dir);
    /* HOME is the directory: the SSO token cache is HOME/.aws/sso/cache. */
    snprintf(path, sizeof(path), "%s/.aws", dir);
    ASSERT_OK(mkdir(path, 0700));
    snprintf(path, sizeof(path), "%s/.aws/sso", dir);
    ASSERT_OK(mkdir(path, 0700));
    snprintf(cache_dir, sizeof(cache_dir), "%s/.aws/sso/cache", dir);
    ASSERT_OK(mkdir(cache_dir, 0700));
  }
  unlink(config_path);
  unlink(creds_path);
  unlink(script_path);
  unlink(counter_path);
  snprintf(path, sizeof(path), "%s/%s", cache_dir, SESSION_FILE);
  unlink(path);
  setenv("HOME", dir, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
  setenv("AWS_CONFIG_FILE", config_path, 1);
  setenv("AWS_ENDPOINT_URL_STS", sts_url, 1);
  setenv("AWS_ENDPOINT_URL_SSO", sso_url, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  cred_fake_control(sts_url, "sts", "{\"reset\": true}");
  cred_fake_control(sso_url, "sso", "{\"reset\": true}");
}


static void cleanup_files(void) {
  kn_test_rmtree(dir);
}


/*
 * The credential_process script: each run counts itself in `counter_path`
 * and prints AKIDPROC<run>, with an Expiration `expires_in_s` from now
 * (0: none). From run `fail_from` on (0: never) it writes a line on its
 * standard error and exits 3.
 */
static void write_script(int expires_in_s, int fail_from) {
  char text[2048];
  snprintf(text, sizeof(text),
           "#!/bin/sh\n"
           "n=$(cat '%s' 2>/dev/null || echo 0)\n"
           "n=$((n + 1))\n"
           "echo $n > '%s'\n"
           "if [ %d -gt 0 ] && [ $n -ge %d ]; then\n"
           "  echo \"creds.sh: the vault is sealed (run $n)\" >&2\n"
           "  exit 3\n"
           "fi\n"
           "echo 'creds.sh: handing out keys' >&2\n"
           "exp=''\n"
           "if [ %d -gt 0 ]; then\n"
           "  t=$(date -u -d \"@$(( $(date +%%s) + %d ))\" "
           "+%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
           "  exp=\", \\\"Expiration\\\": \\\"$t\\\"\"\n"
           "fi\n"
           "printf '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC%%s\", "
           "\"SecretAccessKey\": \"%s\", \"SessionToken\": \"%s\"%%s}\\n' "
           "\"$n\" \"$exp\"\n",
           counter_path, counter_path, fail_from, fail_from, expires_in_s,
           expires_in_s, PROC_SECRET, PROC_TOKEN);
  cred_write_file(script_path, text);
  ASSERT_OK(chmod(script_path, 0700));
}


/* The token `aws sso login` would have cached for the sso-session
 * "test-session", expiring `expires_in_s` from now. */
static void write_token(long expires_in_s) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", cache_dir, SESSION_FILE);
  cred_write_sso_token(path, SSO_TOKEN, expires_in_s, "");
}


/* Profiles: "proc" (credential_process), "sso" (an sso_session), "ptop"
 * and "stop" (roles whose source profile is "proc" and "sso"). */
static void write_config(void) {
  char text[2048];
  snprintf(text, sizeof(text),
           "[profile proc]\n"
           "credential_process = %s --some-flag\n"
           "[profile sso]\n"
           "sso_session = test-session\n"
           "sso_account_id = " SSO_ACCOUNT
           "\n"
           "sso_role_name = " SSO_ROLE
           "\n"
           "[sso-session test-session]\n"
           "sso_start_url = https://test.awsapps.com/start\n"
           "sso_region = us-east-1\n"
           "[profile ptop]\n"
           "role_arn = " ROLE_TOP
           "\n"
           "source_profile = proc\n"
           "[profile stop]\n"
           "role_arn = " ROLE_TOP
           "\n"
           "source_profile = sso\n",
           script_path);
  cred_write_file(config_path, text);
}


/* ---- The provider on a loop ---- */


/* A failure's message never holds what the script printed or the SSO
 * token, nor the command's arguments. */
static void check_message(const char* message) {
  ASSERT_NULL(strstr(message, PROC_SECRET));
  ASSERT_NULL(strstr(message, PROC_TOKEN));
  ASSERT_NULL(strstr(message, SSO_TOKEN));
  ASSERT_NULL(strstr(message, "--some-flag"));
}


static void on_warn(const char* message, void* arg) {
  cred_on_warn(message, arg);
  ASSERT_NULL(strstr(message, PROC_SECRET));
  ASSERT_NULL(strstr(message, PROC_TOKEN));
  ASSERT_NULL(strstr(message, SSO_TOKEN));
  ASSERT_NULL(strstr(message, "AKIDPROC"));
}


static void fixture_init(cred_fixture_t* f, const char* profile,
                         uint32_t refresh_before_ms) {
  kn_cred_options_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.profile = profile;
  opts.region = "us-west-2";
  opts.refresh_before_ms = refresh_before_ms;
  opts.process_timeout_ms = 10000;
  opts.warn = on_warn;
  opts.warn_arg = f;
  cred_fixture_init(f, &opts);
  f->check_message = check_message;
}


static void get_once(cred_fixture_t* f, cred_get_t* r) {
  cred_get_once(f, r);
  if (r->status != 0)
    fprintf(stderr, "get: %s: %s\n", kinesis_err_name(r->status), r->message);
}


/* Gets with `profile`, and expects KINESIS_ENOCREDS with `words` in the
 * message. */
static void expect_no_creds(const char* profile, const char* words) {
  cred_fixture_t f;
  cred_get_t r;
  fixture_init(&f, profile, 0);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, words));
  cred_fixture_close(&f);
}


/* A Kinesis call through the fault server with profile `profile`: every
 * request it saw is signed with `key_id` and carries `token`. */
static void kinesis_call_signed_with(const char* profile, const char* key_id,
                                     const char* token) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kinesis_client_options_t o;
  kinesis_client_t* c;
  uv_loop_t loop;
  capture_t cap;
  json_t* log;
  char want[128];
  size_t i;

  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(uv_loop_init(&loop));
  kinesis_client_options_init(&o);
  o.endpoint_url = fault;
  o.region = "us-west-2";
  o.profile = profile;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_create_stream(c, test_stream_name("chain"), 1,
                                         capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  close_client(&loop, c);
  kn_test_loop_close(&loop);

  snprintf(want, sizeof(want), "Credential=%s/", key_id);
  log = kn_fault_log_json(fault);
  ASSERT_NOT_NULL(log);
  ASSERT_GE(json_array_size(log), 1);
  for (i = 0; i < json_array_size(log); i++) {
    json_t* h = json_object_get(json_array_get(log, i), "headers");
    const char* authz = json_string_value(json_object_get(h, "authorization"));
    ASSERT_NOT_NULL(authz);
    ASSERT_NOT_NULL(strstr(authz, want));
    ASSERT_NOT_NULL(strstr(authz, "/us-west-2/kinesis/aws4_request"));
    ASSERT_STR_EQ(
        token, json_string_value(json_object_get(h, "x-amz-security-token")));
  }
  json_decref(log);
}


/* ---- Tests ---- */


static void test_process_profile(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_script(0, 0);
  write_config();
  fixture_init(&f, "proc", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  ASSERT_STR_EQ(PROC_TOKEN, r.session_token);
  ASSERT_STR_EQ("process", r.source);
  ASSERT_STR_EQ("proc", r.profile);
  ASSERT_STR_EQ("", r.role_arn);
  /* Without an Expiration they never expire. */
  ASSERT_EQ(0, r.expiration_ms);
  /* Standard error reached the warn hook, named by the command. */
  ASSERT_NOT_NULL(strstr(f.warnings_text, "creds.sh: handing out keys"));
  /* A second get is served from the cache: the script ran once. */
  get_once(&f, &r);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  cred_fixture_close(&f);

  kinesis_call_signed_with("proc", "AKIDPROC2", PROC_TOKEN);
}


static void test_sso_profile(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_config();
  write_token(3600);
  fixture_init(&f, "sso", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASSO1", r.access_key_id);
  ASSERT_STR_EQ("sso-session-token-1", r.session_token);
  ASSERT_STR_EQ("sso", r.source);
  ASSERT_STR_EQ("sso", r.profile);
  ASSERT_GT(r.expiration_ms, 0);
  cred_fixture_close(&f);

  kinesis_call_signed_with("sso", "ASIASSO2", "sso-session-token-2");
}


/* The portal's endpoint comes from the profile's services section when no
 * variable names one. */
static void test_sso_endpoint_from_services(void) {
  cred_fixture_t f;
  cred_get_t r;
  char text[1024];

  setup();
  unsetenv("AWS_ENDPOINT_URL_SSO");
  snprintf(text, sizeof(text),
           "[profile sso]\n"
           "sso_session = test-session\n"
           "sso_account_id = " SSO_ACCOUNT
           "\n"
           "sso_role_name = " SSO_ROLE
           "\n"
           "services = local\n"
           "endpoint_url = http://127.0.0.1:1\n"
           "[services local]\n"
           "sso =\n"
           "  endpoint_url = %s/\n"
           "[sso-session test-session]\n"
           "sso_start_url = https://test.awsapps.com/start\n"
           "sso_region = us-east-1\n",
           sso_url);
  cred_write_file(config_path, text);
  write_token(3600);
  fixture_init(&f, "sso", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASSO1", r.access_key_id);
  cred_fixture_close(&f);
}


static void test_role_from_process(void) {
  cred_fixture_t f;
  cred_get_t r;
  char keys[512];

  setup();
  write_script(0, 0);
  write_config();
  snprintf(keys, sizeof(keys),
           "{\"keys\": {\"AKIDPROC1\": {\"secret\": \"%s\", \"token\": "
           "\"%s\"}}}",
           PROC_SECRET, PROC_TOKEN);
  cred_fake_control(sts_url, "sts", keys);
  fixture_init(&f, "ptop", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  ASSERT_STR_EQ("assume role", r.source);
  ASSERT_STR_EQ(ROLE_TOP, r.role_arn);
  /* The profile the user named, not the source profile. */
  ASSERT_STR_EQ("ptop", r.profile);
  cred_fixture_close(&f);

  /* The fake recomputed the signature with the process's secret. */
  cred_expect_one_sts_call(sts_url, "AssumeRole", "AKIDPROC1", PROC_TOKEN);
}


static void test_role_from_sso(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_config();
  write_token(3600);
  cred_fake_control(sts_url, "sts",
                    "{\"keys\": {\"ASIASSO1\": {\"secret\": \"sso-secret-1\", "
                    "\"token\": \"sso-session-token-1\"}}}");
  fixture_init(&f, "stop", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASTS1", r.access_key_id);
  ASSERT_STR_EQ("assume role", r.source);
  ASSERT_STR_EQ("stop", r.profile);
  cred_fixture_close(&f);

  cred_expect_one_sts_call(sts_url, NULL, "ASIASSO1", "sso-session-token-1");
}


static void test_process_refresh(void) {
  cred_fixture_t f;
  cred_get_t r;
  const kn_credentials_t* c;

  setup();
  /* Expiration is written in whole seconds: the credentials live 5 to 6 s,
   * so with refresh_before_ms 3000 the refresh comes 2 to 3 s later. */
  write_script(6, 0);
  write_config();
  fixture_init(&f, "proc", 3000);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  ASSERT_GT(r.expiration_ms, 0);
  run_loop_for(&f.loop, 3500);
  c = kn_cred_provider_cached(f.p);
  ASSERT_NOT_NULL(c);
  ASSERT_STR_EQ("AKIDPROC2", c->access_key_id);
  ASSERT_STR_EQ("process", c->source);
  ASSERT_STR_EQ("proc", c->profile);
  cred_fixture_close(&f);
}


static void test_process_failed_refresh(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  /* The first run succeeds, every later one fails. */
  write_script(5, 2);
  write_config();
  fixture_init(&f, "proc", 3000);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  run_loop_for(&f.loop, 2500);
  /* The refresh failed: a warning, and the old credentials stay. */
  ASSERT_NOT_NULL(
      strstr(f.warnings_text, "refreshing the process credentials failed"));
  ASSERT_NOT_NULL(strstr(f.warnings_text, "profile \"proc\""));
  ASSERT_NOT_NULL(strstr(f.warnings_text, "the vault is sealed"));
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  /* Once they expired, the error shows, naming the profile. */
  run_loop_for(&f.loop, 3000);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "credential_process of profile \"proc\": "));
  cred_fixture_close(&f);
}


static void test_process_fails(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_script(0, 1);
  write_config();
  fixture_init(&f, "proc", 0);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "credential_process of profile \"proc\": "));
  /* The command by its name, never its arguments. */
  ASSERT_NOT_NULL(strstr(r.message, "creds.sh"));
  ASSERT_NOT_NULL(strstr(f.warnings_text, "the vault is sealed (run 1)"));
  cred_fixture_close(&f);

  /* A source profile's failure ends the role chain, named. */
  expect_no_creds("ptop", "credential_process of profile \"proc\": ");
}


static void test_sso_expired_token(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_config();
  write_token(-60);
  fixture_init(&f, "sso", 0);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "profile \"sso\""));
  ASSERT_NOT_NULL(strstr(r.message, "expired"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile sso"));
  cred_fixture_close(&f);

  /* As a source profile: the login to run is the source profile's. */
  expect_no_creds("stop", "aws sso login --profile sso");
}


/* The explicit profile skips the environment's keys; $AWS_PROFILE does
 * not. */
static void test_explicit_profile_skips_environment(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  write_script(0, 0);
  write_config();
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, "proc", 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDPROC1", r.access_key_id);
  cred_fixture_close(&f);

  setenv("AWS_PROFILE", "proc", 1);
  fixture_init(&f, NULL, 0);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIDENV", r.access_key_id);
  ASSERT_STR_EQ("environment", r.source);
  ASSERT_STR_EQ("(null)", r.profile);
  cred_fixture_close(&f);
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
}


static void test_all_done(void) {
  cleanup_files();
}


KN_TEST_MAIN(KN_TEST(test_process_profile), KN_TEST(test_sso_profile),
             KN_TEST(test_sso_endpoint_from_services),
             KN_TEST(test_role_from_process), KN_TEST(test_role_from_sso),
             KN_TEST(test_process_refresh),
             KN_TEST(test_process_failed_refresh), KN_TEST(test_process_fails),
             KN_TEST(test_sso_expired_token),
             KN_TEST(test_explicit_profile_skips_environment),
             KN_TEST(test_all_done))
