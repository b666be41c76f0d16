#include "harness.h"
#include "internal.h"

#include "cred_sts.h"
#include "credentials.h"
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- Helpers ---- */


/* A temporary file with `text`, or an unused path when `text` is NULL. The
 * caller unlinks and frees it. */
static char* temp_file(const char* text) {
  char tmpl[] = "/tmp/kn-test-cred-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  if (text != NULL) {
    size_t len = strlen(text);
    ASSERT_EQ((ssize_t) len, write(fd, text, len));
  }
  close(fd);
  if (text == NULL)
    unlink(tmpl);
  return strdup(tmpl);
}


static void remove_temp(char* path) {
  unlink(path);
  free(path);
}


/* Every variable the chain reads, cleared; files pointed at paths that do
 * not exist, so the developer's own ~/.aws never leaks into a test; and no
 * network source configured. */
static void env_isolate(void) {
  static const char* const vars[] = {
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_PROFILE",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
      "AWS_WEB_IDENTITY_TOKEN_FILE",
      "AWS_ROLE_ARN",
      "AWS_ROLE_SESSION_NAME",
      "AWS_ENDPOINT_URL",
      "AWS_ENDPOINT_URL_STS",
      "AWS_ENDPOINT_URL_SSO",
      "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
      "AWS_REGION",
      "AWS_DEFAULT_REGION",
  };
  size_t i;
  for (i = 0; i < KN_ARRAY_SIZE(vars); i++)
    unsetenv(vars[i]);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-test/credentials", 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent/kn-test/config", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}


/* One get() result, copied out of the callback. */
typedef struct get_result_s {
  int calls;
  int status;
  char access_key_id[128];
  char secret_access_key[128];
  char session_token[128];
  int has_token;
  int64_t expiration_ms;
  char source[32];
  char profile[64];
  char message[1024];
  /* Optional actions run inside the callback. */
  kn_cred_provider_t* close_provider;
  kn_cred_provider_t* get_again;
  struct get_result_s* again;
  int again_rc;
  int* order; /* a shared counter: which callback ran when */
  int seq;
} get_result_t;


static int close_calls;
static int close_order;


static void on_closed(void* arg) {
  int* order = arg;
  close_calls++;
  close_order = order != NULL ? ++*order : 0;
}


static void on_get(int status, const kn_credentials_t* creds,
                   const char* message, void* arg) {
  get_result_t* r = arg;
  r->calls++;
  r->status = status;
  if (r->order != NULL)
    r->seq = ++*r->order;
  if (status == 0) {
    ASSERT_NOT_NULL(creds);
    snprintf(r->access_key_id, sizeof(r->access_key_id), "%s",
             creds->access_key_id);
    snprintf(r->secret_access_key, sizeof(r->secret_access_key), "%s",
             creds->secret_access_key);
    r->has_token = creds->session_token != NULL;
    snprintf(r->session_token, sizeof(r->session_token), "%s",
             creds->session_token != NULL ? creds->session_token : "");
    r->expiration_ms = creds->expiration_ms;
    snprintf(r->source, sizeof(r->source), "%s", creds->source);
    snprintf(r->profile, sizeof(r->profile), "%s",
             creds->profile != NULL ? creds->profile : "(null)");
  } else {
    ASSERT_NULL(creds);
    ASSERT_NOT_NULL(message);
    snprintf(r->message, sizeof(r->message), "%s", message);
  }
  if (r->get_again != NULL) {
    r->again_rc = kn_cred_provider_get(r->get_again, on_get, r->again);
    /* Never synchronous, even from inside a callback. */
    ASSERT_EQ(0, r->again->calls);
  }
  if (r->close_provider != NULL)
    kn_cred_provider_close(r->close_provider, on_closed, r->order);
}


/* A loop, an HTTP client and a provider with `opts`. */
typedef struct fixture_s {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_provider_t* p;
} fixture_t;


static void fixture_init(fixture_t* f, const kn_cred_options_t* opts) {
  ASSERT_OK(uv_loop_init(&f->loop));
  ASSERT_OK(kn_http_new(&f->loop, NULL, &f->http));
  ASSERT_OK(kn_cred_provider_new(&f->loop, f->http, opts, &f->p));
  close_calls = 0;
  close_order = 0;
}


/* Closes the provider (unless the test did), then the HTTP client, and
 * checks that every handle is gone. */
static void fixture_close(fixture_t* f, int provider_closed) {
  if (!provider_closed)
    kn_cred_provider_close(f->p, on_closed, NULL);
  ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, close_calls);
  kn_http_close(f->http, NULL, NULL);
  kn_test_loop_close(&f->loop);
}


/* Runs one get() to completion and checks it was asynchronous. */
static void get_once(fixture_t* f, get_result_t* r) {
  memset(r, 0, sizeof(*r));
  ASSERT_OK(kn_cred_provider_get(f->p, on_get, r));
  ASSERT_EQ(0, r->calls);
  ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r->calls);
}


/* ---- The file parser ---- */


static void test_parse_credentials_file(void) {
  static const char text[] =
      "# a comment\n"
      "; another comment\n"
      "stray = before any section\n"
      "\n"
      "[other]\n"
      "aws_access_key_id = AKIAOTHER\n"
      "aws_secret_access_key = other-secret\n"
      "\n"
      "  [ default ]  \n"
      "   aws_access_key_id   =   AKIADEFAULT   \n"
      "\taws_secret_access_key\t=\tdefault/secret+key\t\n"
      "# aws_session_token = commented-out\n"
      "\n";
  kn_profile_t prof;

  ASSERT_OK(kn_profile_parse(text, NULL, "default", &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_STR_EQ("AKIADEFAULT", prof.access_key_id);
  ASSERT_STR_EQ("default/secret+key", prof.secret_access_key);
  ASSERT_NULL(prof.session_token);
  ASSERT_NULL(prof.region);
  kn_profile_clear(&prof);
  ASSERT_NULL(prof.access_key_id);

  ASSERT_OK(kn_profile_parse(text, NULL, "other", &prof));
  ASSERT_STR_EQ("AKIAOTHER", prof.access_key_id);
  ASSERT_STR_EQ("other-secret", prof.secret_access_key);
  kn_profile_clear(&prof);
}


static void test_parse_session_token_crlf(void) {
  static const char text[] =
      "\xEF\xBB\xBF[dev]\r\n"
      "AWS_Access_Key_ID = ASIADEV\r\n"
      "aws_secret_access_key = dev-secret ; trailing comment\r\n"
      "aws_session_token = tok/en+== # trailing comment\r\n"
      "\r\n";
  kn_profile_t prof;

  ASSERT_OK(kn_profile_parse(text, NULL, "dev", &prof));
  ASSERT_STR_EQ("ASIADEV", prof.access_key_id);
  ASSERT_STR_EQ("dev-secret", prof.secret_access_key);
  ASSERT_STR_EQ("tok/en+==", prof.session_token);
  kn_profile_clear(&prof);
}


static void test_parse_missing(void) {
  kn_profile_t prof;

  /* No such section in either file. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse("[a]\naws_access_key_id = X\n",
                             "[profile b]\nregion = eu-west-1\n", "c", &prof));
  ASSERT_EQ(0, prof.found);
  ASSERT_NULL(prof.access_key_id);
  ASSERT_NULL(prof.region);
  kn_profile_clear(&prof);

  /* A section without keys: found, but no credentials. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse("[a]\n", "[profile a]\nregion = eu-west-1\n", "a",
                             &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_NULL(prof.access_key_id);
  ASSERT_STR_EQ("eu-west-1", prof.region);
  kn_profile_clear(&prof);

  /* Half a key pair is not credentials either. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse("[a]\naws_access_key_id = AKIAHALF\n", NULL, "a",
                             &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_STR_EQ("AKIAHALF", prof.access_key_id);
  ASSERT_NULL(prof.secret_access_key);
  kn_profile_clear(&prof);

  /* Empty values count as missing. */
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_parse("[a]\naws_access_key_id =\n"
                                               "aws_secret_access_key = \n",
                                               NULL, "a", &prof));
  ASSERT_NULL(prof.access_key_id);
  kn_profile_clear(&prof);

  /* No files at all. */
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_parse(NULL, NULL, "a", &prof));
  ASSERT_EQ(0, prof.found);
  kn_profile_clear(&prof);
}


static void test_parse_config_sections(void) {
  static const char config[] =
      "[default]\n"
      "aws_access_key_id = AKIACONFIGDEFAULT\n"
      "aws_secret_access_key = config-default-secret\n"
      "region = us-east-2\n"
      "[profile x]\n"
      "aws_access_key_id = AKIACONFIGX\n"
      "aws_secret_access_key = config-x-secret\n"
      "[y]\n"
      "aws_access_key_id = AKIANOTAPROFILE\n"
      "aws_secret_access_key = not-a-profile\n"
      "[sso-session x]\n"
      "aws_access_key_id = AKIASSO\n";
  static const char creds[] =
      "[profile y]\n"
      "aws_access_key_id = AKIACREDSPREFIXED\n"
      "aws_secret_access_key = prefixed\n";
  kn_profile_t prof;

  /* "[profile x]" in the config file is profile x. */
  ASSERT_OK(kn_profile_parse(NULL, config, "x", &prof));
  ASSERT_STR_EQ("AKIACONFIGX", prof.access_key_id);
  ASSERT_STR_EQ("config-x-secret", prof.secret_access_key);
  ASSERT_NULL(prof.region);
  kn_profile_clear(&prof);

  /* "[default]" in the config file is the default profile. */
  ASSERT_OK(kn_profile_parse(NULL, config, "default", &prof));
  ASSERT_STR_EQ("AKIACONFIGDEFAULT", prof.access_key_id);
  ASSERT_STR_EQ("us-east-2", prof.region);
  kn_profile_clear(&prof);

  /* A bare "[y]" in the config file is not a profile, and "[profile y]" in
   * the credentials file is a profile named "profile y". */
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_parse(creds, config, "y", &prof));
  ASSERT_EQ(0, prof.found);
  kn_profile_clear(&prof);
  ASSERT_OK(kn_profile_parse(creds, NULL, "profile y", &prof));
  ASSERT_STR_EQ("AKIACREDSPREFIXED", prof.access_key_id);
  kn_profile_clear(&prof);

  /* "[profile default]" also names the default profile in the config. */
  ASSERT_OK(kn_profile_parse(NULL,
                             "[profile   default]\n"
                             "aws_access_key_id = A\n"
                             "aws_secret_access_key = B\n",
                             "default", &prof));
  ASSERT_STR_EQ("A", prof.access_key_id);
  kn_profile_clear(&prof);
}


static void test_parse_credentials_override_config(void) {
  static const char config[] =
      "[profile p]\n"
      "aws_access_key_id = AKIACONFIG\n"
      "aws_secret_access_key = config-secret\n"
      "aws_session_token = config-token\n"
      "region = ap-south-1\n";
  static const char creds[] =
      "[p]\n"
      "aws_access_key_id = AKIACREDS\n"
      "aws_secret_access_key = creds-secret\n";
  kn_profile_t prof;

  ASSERT_OK(kn_profile_parse(creds, config, "p", &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_STR_EQ("AKIACREDS", prof.access_key_id);
  ASSERT_STR_EQ("creds-secret", prof.secret_access_key);
  /* Keys the credentials file does not set come from the config file. */
  ASSERT_STR_EQ("config-token", prof.session_token);
  ASSERT_STR_EQ("ap-south-1", prof.region);
  kn_profile_clear(&prof);

  /* Region only in the config, keys only in the credentials file. */
  ASSERT_OK(
      kn_profile_parse("[default]\naws_access_key_id = K\n"
                       "aws_secret_access_key = S\n",
                       "[default]\nregion = eu-north-1\n", "default", &prof));
  ASSERT_STR_EQ("K", prof.access_key_id);
  ASSERT_STR_EQ("eu-north-1", prof.region);
  kn_profile_clear(&prof);
}


static void test_parse_duplicates_and_subproperties(void) {
  static const char creds[] =
      "[d]\n"
      "aws_access_key_id = FIRST\n"
      "aws_secret_access_key = first-secret\n"
      "[other]\n"
      "aws_access_key_id = OTHER\n"
      "[d]\n"
      "aws_access_key_id = SECOND\n"
      "aws_access_key_id = THIRD\n";
  static const char config[] =
      "[profile d]\n"
      "s3 =\n"
      "  max_concurrent_requests = 10\n"
      "  region = not-this-one\n"
      "\n"
      "  aws_access_key_id = NOT-A-SUBPROPERTY-PARENT\n"
      "region = us-west-2\n"
      "cli_pager=\n"
      "[broken\n"
      "region = from-a-broken-section\n";
  kn_profile_t prof;

  ASSERT_OK(kn_profile_parse(creds, config, "d", &prof));
  /* A later duplicate section merges into the first; a later key wins. */
  ASSERT_STR_EQ("THIRD", prof.access_key_id);
  ASSERT_STR_EQ("first-secret", prof.secret_access_key);
  /* Sub-properties are skipped, and a broken header ends the section. */
  ASSERT_STR_EQ("us-west-2", prof.region);
  kn_profile_clear(&prof);

  /* An indented body without a sub-property parent still counts. */
  ASSERT_OK(
      kn_profile_parse("[i]\n"
                       "  aws_access_key_id = INDENTED\n"
                       "  aws_secret_access_key = indented-secret\n",
                       NULL, "i", &prof));
  ASSERT_STR_EQ("INDENTED", prof.access_key_id);
  ASSERT_STR_EQ("indented-secret", prof.secret_access_key);
  kn_profile_clear(&prof);
}


static void test_profile_load_files(void) {
  char* creds = temp_file(
      "[default]\n"
      "aws_access_key_id = AKIAFILE\n"
      "aws_secret_access_key = file-secret\n"
      "aws_session_token = file-token\n");
  char* config = temp_file(
      "[default]\nregion = eu-central-1\n"
      "[profile regiononly]\nregion = sa-east-1\n");
  char* missing = temp_file(NULL);
  kn_profile_t prof;

  ASSERT_OK(kn_profile_load(creds, config, "default", &prof));
  ASSERT_STR_EQ("AKIAFILE", prof.access_key_id);
  ASSERT_STR_EQ("file-secret", prof.secret_access_key);
  ASSERT_STR_EQ("file-token", prof.session_token);
  ASSERT_STR_EQ("eu-central-1", prof.region);
  kn_profile_clear(&prof);

  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_load(creds, config, "regiononly", &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_STR_EQ("sa-east-1", prof.region);
  kn_profile_clear(&prof);

  /* Missing files are no error, just no profile. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_load(missing, missing, "default", &prof));
  ASSERT_EQ(0, prof.found);
  kn_profile_clear(&prof);
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_load(NULL, NULL, "default", &prof));
  kn_profile_clear(&prof);
  ASSERT_OK(kn_profile_load(creds, missing, "default", &prof));
  ASSERT_NULL(prof.region);
  kn_profile_clear(&prof);
  /* A directory reads as nothing. */
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_load("/tmp", NULL, "default", &prof));
  kn_profile_clear(&prof);

  remove_temp(creds);
  remove_temp(config);
  free(missing);
}


static void test_profile_name(void) {
  unsetenv("AWS_PROFILE");
  ASSERT_STR_EQ("default", kn_profile_name(NULL));
  ASSERT_STR_EQ("default", kn_profile_name(""));
  ASSERT_STR_EQ("mine", kn_profile_name("mine"));
  setenv("AWS_PROFILE", "from-env", 1);
  ASSERT_STR_EQ("from-env", kn_profile_name(NULL));
  ASSERT_STR_EQ("mine", kn_profile_name("mine"));
  setenv("AWS_PROFILE", "", 1);
  ASSERT_STR_EQ("default", kn_profile_name(NULL));
  unsetenv("AWS_PROFILE");
}


static void test_profile_paths(void) {
  char* home = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
  char* s;

  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  unsetenv("AWS_CONFIG_FILE");
  setenv("HOME", "/home/tester", 1);
  s = kn_profile_credentials_path();
  ASSERT_STR_EQ("/home/tester/.aws/credentials", s);
  kn_free(s);
  s = kn_profile_config_path();
  ASSERT_STR_EQ("/home/tester/.aws/config", s);
  kn_free(s);

  setenv("AWS_SHARED_CREDENTIALS_FILE", "/etc/creds", 1);
  setenv("AWS_CONFIG_FILE", "~/alt/config", 1);
  s = kn_profile_credentials_path();
  ASSERT_STR_EQ("/etc/creds", s);
  kn_free(s);
  s = kn_profile_config_path();
  ASSERT_STR_EQ("/home/tester/alt/config", s);
  kn_free(s);

  /* Without HOME only the variables give a path. */
  unsetenv("HOME");
  s = kn_profile_credentials_path();
  ASSERT_STR_EQ("/etc/creds", s);
  kn_free(s);
  unsetenv("AWS_SHARED_CREDENTIALS_FILE");
  unsetenv("AWS_CONFIG_FILE");
  ASSERT_NULL(kn_profile_credentials_path());
  ASSERT_NULL(kn_profile_config_path());

  if (home != NULL) {
    setenv("HOME", home, 1);
    free(home);
  }
}


static void test_credentials_copy(void) {
  kn_credentials_t a;
  kn_credentials_t b;

  memset(&a, 0, sizeof(a));
  a.access_key_id = kn_strdup("AKIA");
  a.secret_access_key = kn_strdup("secret");
  a.expiration_ms = 1234;
  a.source = "options";
  ASSERT_OK(kn_credentials_copy(&b, &a));
  ASSERT_STR_EQ("AKIA", b.access_key_id);
  ASSERT_STR_EQ("secret", b.secret_access_key);
  ASSERT(b.access_key_id != a.access_key_id);
  ASSERT_NULL(b.session_token);
  ASSERT_EQ(1234, b.expiration_ms);
  ASSERT_STR_EQ("options", b.source);
  kn_credentials_clear(&a);
  kn_credentials_clear(&b);
  ASSERT_NULL(b.access_key_id);
  kn_credentials_clear(NULL);
}


static void test_container_uri_allowed(void) {
  static const char* const allowed[] = {
      "https://example.com/creds",
      "HTTPS://any.host:8443/x",
      "http://127.0.0.1/creds",
      "http://127.1.2.3:8080/creds",
      "http://localhost:1234/creds",
      "HTTP://LOCALHOST/creds",
      "http://[::1]:80/creds",
      "http://[0:0:0:0:0:0:0:1]/creds",
      "http://169.254.170.2/v2/credentials/abc",
      "http://169.254.170.23/v1/credentials",
      "http://[fd00:ec2::23]/v1/credentials",
      "http://user@127.0.0.1/creds",
      "http://127.0.0.1",
      "http://127.0.0.1?x=1",
  };
  static const char* const refused[] = {
      "http://example.com/creds",
      "http://169.254.170.3/creds",
      "http://169.254.169.254/latest",
      "http://10.0.0.1/creds",
      "http://127.0.0.1.evil.example/creds",
      "http://127.0.0.1@evil.example/creds",
      "http://localhost.evil.example/creds",
      "http://[::2]/creds",
      "http://[fd00:ec2::24]/creds",
      "http://[::1/creds",
      "http://[::1]x/creds",
      "http://127.1/creds",
      "http:///creds",
      "http://",
      "https://",
      "ftp://127.0.0.1/creds",
      "127.0.0.1/creds",
      "",
  };
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(allowed); i++) {
    if (!kn_cred_container_uri_allowed(allowed[i]))
      fprintf(stderr, "refused: %s\n", allowed[i]);
    ASSERT_EQ(1, kn_cred_container_uri_allowed(allowed[i]));
  }
  for (i = 0; i < KN_ARRAY_SIZE(refused); i++) {
    if (kn_cred_container_uri_allowed(refused[i]))
      fprintf(stderr, "allowed: %s\n", refused[i]);
    ASSERT_EQ(0, kn_cred_container_uri_allowed(refused[i]));
  }
}


/* ---- Allocation failures ---- */


static void test_parse_failmalloc(void) {
  static const char creds[] =
      "[p]\naws_access_key_id = K\n"
      "aws_secret_access_key = S\n"
      "aws_session_token = T\n";
  static const char config[] = "[profile p]\nregion = R\n";
  char* cpath = temp_file(creds);
  char* fpath = temp_file(config);
  kn_profile_t prof;
  int64_t i;
  int r;

  kn_test_alloc_install();
  /* Fail the first allocation, then the second, ... until a run succeeds.
   * Each run either succeeds or reports ENOMEM, and leaks nothing. */
  for (i = 0;; i++) {
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    r = kn_profile_load(cpath, fpath, "p", &prof);
    if (r == 0) {
      ASSERT_STR_EQ("K", prof.access_key_id);
      ASSERT_STR_EQ("R", prof.region);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_NULL(prof.access_key_id);
      ASSERT_NULL(prof.region);
    }
    kn_profile_clear(&prof);
    ASSERT_EQ(0, kn_test_alloc_live);
    if (r == 0)
      break;
  }
  ASSERT_GT(i, 4);
  kn_test_alloc_fail_at = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  remove_temp(cpath);
  remove_temp(fpath);
}


/* One get() through the chain with the i-th allocation failing (counted from
 * the get() call). Returns 1 once a run got through without a failure. */
static int chain_failmalloc_run(int64_t i, int expect_status) {
  fixture_t f;
  get_result_t r;
  int64_t fail_at;
  int reached;
  int rc;

  kn_test_alloc_fail_at = -1;
  kn_test_alloc_count = 0;
  kn_test_alloc_live = 0;
  fixture_init(&f, NULL);
  memset(&r, 0, sizeof(r));
  fail_at = kn_test_alloc_count + i;
  kn_test_alloc_fail_at = fail_at;
  rc = kn_cred_provider_get(f.p, on_get, &r);
  if (rc == 0) {
    ASSERT_OK(uv_run(&f.loop, UV_RUN_DEFAULT));
    ASSERT_EQ(1, r.calls);
    if (r.status != KINESIS_ENOMEM)
      ASSERT_EQ(expect_status, r.status);
  } else {
    ASSERT_EQ(KINESIS_ENOMEM, rc);
  }
  reached = kn_test_alloc_count > fail_at;
  kn_test_alloc_fail_at = -1;
  fixture_close(&f, 0);
  ASSERT_EQ(0, kn_test_alloc_live);
  return !reached;
}


static void test_chain_failmalloc(void) {
  char* creds = temp_file(
      "[default]\naws_access_key_id = AKIAPROFILE\n"
      "aws_secret_access_key = profile-secret\n"
      "aws_session_token = profile-token\n");
  int64_t i;
  int done;

  env_isolate();
  kn_test_alloc_install();
  /* Credentials from the profile. */
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  for (i = 0, done = 0; !done; i++)
    done = chain_failmalloc_run(i, 0);
  ASSERT_GT(i, 5);
  /* Nothing anywhere: the message is built as the chain goes. */
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-test/credentials", 1);
  for (i = 0, done = 0; !done; i++)
    done = chain_failmalloc_run(i, KINESIS_ENOCREDS);
  ASSERT_GT(i, 3);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  remove_temp(creds);
  env_isolate();
}


/* ---- The chain, without network ---- */


static void test_chain_options_beat_env(void) {
  kn_cred_options_t opts;
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  memset(&opts, 0, sizeof(opts));
  opts.access_key_id = "AKIAOPTIONS";
  opts.secret_access_key = "options-secret";
  opts.session_token = "options-token";
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAOPTIONS", r.access_key_id);
  ASSERT_STR_EQ("options-secret", r.secret_access_key);
  ASSERT_STR_EQ("options-token", r.session_token);
  ASSERT_STR_EQ("options", r.source);
  ASSERT_EQ(0, r.expiration_ms);
  fixture_close(&f, 0);
  env_isolate();
}


static void test_chain_env_beats_profile(void) {
  char* creds = temp_file(
      "[default]\naws_access_key_id = AKIAPROFILE\n"
      "aws_secret_access_key = profile-secret\n"
      "aws_session_token = profile-token\n");
  kn_cred_options_t opts;
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_SESSION_TOKEN", "env-token", 1);
  /* Only half of the explicit pair: the options do not apply. */
  memset(&opts, 0, sizeof(opts));
  opts.access_key_id = "AKIAHALFOPTION";
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAENV", r.access_key_id);
  ASSERT_STR_EQ("env-token", r.session_token);
  ASSERT_STR_EQ("environment", r.source);
  fixture_close(&f, 0);

  /* Without the environment, the profile. */
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAPROFILE", r.access_key_id);
  ASSERT_STR_EQ("profile-secret", r.secret_access_key);
  ASSERT_STR_EQ("profile-token", r.session_token);
  ASSERT_STR_EQ("profile", r.source);
  fixture_close(&f, 0);

  remove_temp(creds);
  env_isolate();
}


static void test_chain_profile_selection(void) {
  char* creds = temp_file(
      "[default]\naws_access_key_id = AKIADEFAULT\n"
      "aws_secret_access_key = d\n"
      "[envprof]\naws_access_key_id = AKIAENVPROF\n"
      "aws_secret_access_key = e\n"
      "[optprof]\naws_access_key_id = AKIAOPTPROF\n"
      "aws_secret_access_key = o\n");
  kn_cred_options_t opts;
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  setenv("AWS_PROFILE", "envprof", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_STR_EQ("AKIAENVPROF", r.access_key_id);
  fixture_close(&f, 0);

  memset(&opts, 0, sizeof(opts));
  opts.profile = "optprof";
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_STR_EQ("AKIAOPTPROF", r.access_key_id);
  fixture_close(&f, 0);

  remove_temp(creds);
  env_isolate();
}


static void test_chain_partial_env_falls_through(void) {
  char* creds = temp_file(
      "[default]\naws_access_key_id = AKIAPROFILE\n"
      "aws_secret_access_key = profile-secret\n");
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENVONLY", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAPROFILE", r.access_key_id);
  ASSERT_STR_EQ("profile", r.source);
  ASSERT(!r.has_token);
  fixture_close(&f, 0);

  /* With no profile either, the message says what was half there. */
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-test/credentials", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message,
                         "AWS_ACCESS_KEY_ID set without "
                         "AWS_SECRET_ACCESS_KEY"));
  fixture_close(&f, 0);

  remove_temp(creds);
  env_isolate();
}


static void test_chain_no_credentials(void) {
  kn_cred_options_t opts;
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_SECRET_ACCESS_KEY", "ENV-SECRET-MUST-NOT-LEAK", 1);
  setenv("AWS_SESSION_TOKEN", "ENV-TOKEN-MUST-NOT-LEAK", 1);
  memset(&opts, 0, sizeof(opts));
  opts.secret_access_key = "OPTION-SECRET-MUST-NOT-LEAK";
  /* $AWS_PROFILE, not the option: an explicit profile would skip the
   * environment. */
  setenv("AWS_PROFILE", "nosuch", 1);
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "tried: options"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "options (secret_access_key set "
                         "without access_key_id)"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "environment (AWS_SECRET_ACCESS_KEY "
                         "set without AWS_ACCESS_KEY_ID)"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "profile \"nosuch\" (not found in "
                         "/nonexistent/kn-test/credentials, "
                         "/nonexistent/kn-test/config)"));
  ASSERT_NOT_NULL(strstr(r.message, "container endpoint (not configured)"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "instance metadata (disabled by "
                         "AWS_EC2_METADATA_DISABLED)"));
  ASSERT_NULL(strstr(r.message, "MUST-NOT-LEAK"));
  ASSERT_NULL(kn_cred_provider_cached(f.p));
  fixture_close(&f, 0);
  env_isolate();
}


static void test_chain_container_refused(void) {
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
         "http://127.0.0.1@evil.example/creds", 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "CONTAINER-TOKEN-SECRET", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  /* User information in a URL may be a secret: it never shows. */
  ASSERT_NOT_NULL(strstr(r.message,
                         "refused AWS_CONTAINER_CREDENTIALS_"
                         "FULL_URI http://***@evil.example/creds"));
  ASSERT_NOT_NULL(strstr(r.message, "use https"));
  ASSERT_NULL(strstr(r.message, "CONTAINER-TOKEN-SECRET"));
  ASSERT_EQ(0, kn_http_pending(f.http));
  fixture_close(&f, 0);

  /* A string that is no URL says so, https or not, and its user
   * information and query stay hidden. */
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
         "https://u:URL-SECRET@bad host/creds?t=QUERY-SECRET", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message,
                         "refused AWS_CONTAINER_CREDENTIALS_FULL_URI "
                         "https://***@bad host/creds?***: not a URL)"));
  ASSERT_NULL(strstr(r.message, "URL-SECRET"));
  ASSERT_NULL(strstr(r.message, "QUERY-SECRET"));
  ASSERT_EQ(0, kn_http_pending(f.http));
  fixture_close(&f, 0);
  env_isolate();
}


/* An allowed loopback URL where nothing listens: the request fails fast and
 * the chain reports it. */
static void test_chain_container_unreachable(void) {
  kn_cred_options_t opts;
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/creds", 1);
  memset(&opts, 0, sizeof(opts));
  opts.metadata_timeout_ms = 500;
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message,
                         "container endpoint "
                         "(http://127.0.0.1:1/creds: "));
  ASSERT_NOT_NULL(strstr(r.message, "instance metadata (disabled"));
  fixture_close(&f, 0);

  /* Secrets in the URL's user information or query stay out of it. */
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI",
         "http://user:PASSWORD@127.0.0.1:1/creds?key=QUERYSECRET", 1);
  fixture_init(&f, &opts);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "(http://***@127.0.0.1:1/creds?***: "));
  ASSERT_NULL(strstr(r.message, "PASSWORD"));
  ASSERT_NULL(strstr(r.message, "QUERYSECRET"));
  fixture_close(&f, 0);
  env_isolate();
}


static void test_chain_token_file_unreadable(void) {
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:1/creds", 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent/token", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message,
                         "cannot read AWS_CONTAINER_"
                         "AUTHORIZATION_TOKEN_FILE "
                         "/nonexistent/token"));
  ASSERT_EQ(0, kn_http_pending(f.http));
  fixture_close(&f, 0);
  env_isolate();
}


static void test_get_never_synchronous(void) {
  fixture_t f;
  get_result_t r1;
  get_result_t r2;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, NULL);
  get_once(&f, &r1);
  ASSERT_OK(r1.status);

  /* Cached now, and still delivered on a later tick. */
  ASSERT_NOT_NULL(kn_cred_provider_cached(f.p));
  ASSERT_STR_EQ("AKIAENV", kn_cred_provider_cached(f.p)->access_key_id);
  memset(&r2, 0, sizeof(r2));
  ASSERT_OK(kn_cred_provider_get(f.p, on_get, &r2));
  ASSERT_EQ(0, r2.calls);
  ASSERT_OK(uv_run(&f.loop, UV_RUN_NOWAIT));
  ASSERT_EQ(1, r2.calls);
  ASSERT_STR_EQ("AKIAENV", r2.access_key_id);

  /* The static cache outlives changes to the environment... */
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV2", 1);
  get_once(&f, &r2);
  ASSERT_STR_EQ("AKIAENV", r2.access_key_id);
  /* ...until it is invalidated. */
  kn_cred_provider_invalidate(f.p);
  ASSERT_NULL(kn_cred_provider_cached(f.p));
  get_once(&f, &r2);
  ASSERT_STR_EQ("AKIAENV2", r2.access_key_id);
  fixture_close(&f, 0);
  env_isolate();
}


static void test_get_from_callback(void) {
  fixture_t f;
  get_result_t r1;
  get_result_t r2;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, NULL);
  memset(&r1, 0, sizeof(r1));
  memset(&r2, 0, sizeof(r2));
  r1.get_again = f.p;
  r1.again = &r2;
  ASSERT_OK(kn_cred_provider_get(f.p, on_get, &r1));
  ASSERT_OK(uv_run(&f.loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r1.calls);
  ASSERT_OK(r1.again_rc);
  ASSERT_EQ(1, r2.calls);
  ASSERT_STR_EQ("AKIAENV", r2.access_key_id);
  fixture_close(&f, 0);
  env_isolate();
}


static void test_close_cancels_pending_get(void) {
  fixture_t f;
  get_result_t r[3];
  int order = 0;
  int i;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, NULL);
  memset(r, 0, sizeof(r));
  for (i = 0; i < 3; i++) {
    r[i].order = &order;
    ASSERT_OK(kn_cred_provider_get(f.p, on_get, &r[i]));
  }
  kn_cred_provider_close(f.p, on_closed, &order);
  /* Neither the cancellations nor the close callback run inside close. */
  ASSERT_EQ(0, r[0].calls);
  ASSERT_EQ(0, close_calls);
  ASSERT_EQ(KINESIS_ECLOSING, kn_cred_provider_get(f.p, on_get, &r[0]));
  kn_cred_provider_close(f.p, on_closed, &order); /* a second close: no-op */
  ASSERT_OK(uv_run(&f.loop, UV_RUN_DEFAULT));
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(1, r[i].calls);
    ASSERT_EQ(KINESIS_ECANCELED, r[i].status);
    ASSERT_EQ(i + 1, r[i].seq);
  }
  /* Every get callback ran before the close callback. */
  ASSERT_EQ(1, close_calls);
  ASSERT_EQ(4, close_order);
  fixture_close(&f, 1);
  env_isolate();
}


static void test_close_from_callback(void) {
  fixture_t f;
  get_result_t r[3];
  int order = 0;
  int i;

  env_isolate();
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  fixture_init(&f, NULL);
  memset(r, 0, sizeof(r));
  for (i = 0; i < 3; i++) {
    r[i].order = &order;
    ASSERT_OK(kn_cred_provider_get(f.p, on_get, &r[i]));
  }
  /* The first callback closes the provider (STYLE.md section 7). */
  r[0].close_provider = f.p;
  ASSERT_OK(uv_run(&f.loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r[0].calls);
  ASSERT_OK(r[0].status);
  ASSERT_STR_EQ("AKIAENV", r[0].access_key_id);
  for (i = 1; i < 3; i++) {
    ASSERT_EQ(1, r[i].calls);
    ASSERT_EQ(KINESIS_ECANCELED, r[i].status);
  }
  ASSERT_EQ(1, close_calls);
  ASSERT_EQ(4, close_order);
  fixture_close(&f, 1);
  env_isolate();
}


/* A loopback server that accepts connections and never answers, so that a
 * metadata request stays in flight until the provider closes. */
typedef struct silent_server_s {
  uv_tcp_t server;
  uv_tcp_t conn;
  int accepted;
  char buf[4096];
} silent_server_t;


static void on_silent_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  silent_server_t* s = h->data;
  (void) size;
  *buf = uv_buf_init(s->buf, sizeof(s->buf));
}


static void on_silent_read(uv_stream_t* stream, ssize_t n,
                           const uv_buf_t* buf) {
  (void) buf;
  if (n < 0)
    uv_read_stop(stream);
}


static void on_silent_connection(uv_stream_t* server, int status) {
  silent_server_t* s = server->data;
  ASSERT_OK(status);
  ASSERT_EQ(0, s->accepted);
  ASSERT_OK(uv_tcp_init(server->loop, &s->conn));
  s->conn.data = s;
  ASSERT_OK(uv_accept(server, (uv_stream_t*) &s->conn));
  ASSERT_OK(
      uv_read_start((uv_stream_t*) &s->conn, on_silent_alloc, on_silent_read));
  s->accepted = 1;
}


typedef struct cancel_ctx_s {
  fixture_t* f;
  silent_server_t* s;
  int order;
} cancel_ctx_t;


static void on_cancel_timer(uv_timer_t* t) {
  cancel_ctx_t* c = t->data;
  ASSERT_EQ(1, c->s->accepted);
  ASSERT_EQ(1, kn_http_pending(c->f->http));
  kn_cred_provider_close(c->f->p, on_closed, &c->order);
  uv_close((uv_handle_t*) t, NULL);
  uv_close((uv_handle_t*) &c->s->server, NULL);
  uv_close((uv_handle_t*) &c->s->conn, NULL);
}


/* Starts `s` on a free loopback port on `loop`; returns the port. */
static int silent_server_start(silent_server_t* s, uv_loop_t* loop) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound);
  memset(s, 0, sizeof(*s));
  ASSERT_OK(uv_tcp_init(loop, &s->server));
  s->server.data = s;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_bind(&s->server, (const struct sockaddr*) &addr, 0));
  ASSERT_OK(uv_listen((uv_stream_t*) &s->server, 8, on_silent_connection));
  ASSERT_OK(uv_tcp_getsockname(&s->server, (struct sockaddr*) &bound, &len));
  return ntohs(((struct sockaddr_in*) &bound)->sin_port);
}


/* Two gets whose fetch `s` holds; 300 ms in, the provider closes: both
 * fail with KINESIS_ECANCELED before its close callback, which runs once,
 * and no request is left. */
static void expect_gets_canceled_by_close(fixture_t* f, silent_server_t* s) {
  get_result_t r[2];
  cancel_ctx_t ctx;
  uv_timer_t timer;
  memset(r, 0, sizeof(r));
  memset(&ctx, 0, sizeof(ctx));
  ctx.f = f;
  ctx.s = s;
  r[0].order = &ctx.order;
  r[1].order = &ctx.order;
  ASSERT_OK(kn_cred_provider_get(f->p, on_get, &r[0]));
  ASSERT_OK(kn_cred_provider_get(f->p, on_get, &r[1]));
  ASSERT_OK(uv_timer_init(&f->loop, &timer));
  timer.data = &ctx;
  ASSERT_OK(uv_timer_start(&timer, on_cancel_timer, 300, 0));
  ASSERT_OK(uv_run(&f->loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r[0].calls);
  ASSERT_EQ(1, r[1].calls);
  ASSERT_EQ(KINESIS_ECANCELED, r[0].status);
  ASSERT_EQ(KINESIS_ECANCELED, r[1].status);
  ASSERT_EQ(1, close_calls);
  ASSERT_EQ(3, close_order);
  ASSERT_EQ(0, kn_http_pending(f->http));
}


static void test_close_cancels_fetch_in_flight(void) {
  silent_server_t s;
  int port;
  char url[64];
  kn_cred_options_t opts;
  fixture_t f;

  env_isolate();
  memset(&opts, 0, sizeof(opts));
  opts.metadata_timeout_ms = 10000;
  fixture_init(&f, &opts);
  port = silent_server_start(&s, &f.loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", port);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);

  expect_gets_canceled_by_close(&f, &s);
  fixture_close(&f, 1);
  env_isolate();
}


/* ---- Roles: profile settings, STS endpoint, XML ---- */


static void test_parse_role_settings(void) {
  static const char config[] =
      "[profile dev]\n"
      "role_arn = arn:aws:iam::123456789012:role/dev\n"
      "source_profile = base\n"
      "external_id = ext\n"
      "role_session_name = me\n"
      "duration_seconds = 1800\n"
      "mfa_serial = arn:aws:iam::123456789012:mfa/me\n"
      "web_identity_token_file = /var/run/token\n"
      "credential_source = Ec2InstanceMetadata\n"
      "credential_process = /usr/bin/get-creds --json\n"
      "sso_session = corp\n"
      "sso_account_id = 123456789012\n"
      "sso_role_name = Reader\n"
      "sso_start_url = https://old.awsapps.com/start\n"
      "sso_region = eu-west-1\n"
      "endpoint_url = https://localhost:4566\n"
      "[sso-session corp]\n"
      "sso_start_url = https://corp.awsapps.com/start\n"
      "sso_region = us-east-2\n"
      "role_arn = arn:aws:iam::123456789012:role/not-a-profile\n"
      "[sso-session other]\n"
      "sso_region = ap-south-1\n";
  /* The credentials file, "[NAME]", wins key by key. */
  static const char creds[] =
      "[dev]\nexternal_id = from-credentials\n"
      "[sso-session corp]\nsso_region = nope\n";
  kn_profile_t prof;

  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_parse(creds, config, "dev", &prof));
  ASSERT_EQ(1, prof.found);
  ASSERT_STR_EQ("arn:aws:iam::123456789012:role/dev", prof.role_arn);
  ASSERT_STR_EQ("base", prof.source_profile);
  ASSERT_STR_EQ("from-credentials", prof.external_id);
  ASSERT_STR_EQ("me", prof.role_session_name);
  ASSERT_STR_EQ("1800", prof.duration_seconds);
  ASSERT_STR_EQ("arn:aws:iam::123456789012:mfa/me", prof.mfa_serial);
  ASSERT_STR_EQ("/var/run/token", prof.web_identity_token_file);
  ASSERT_STR_EQ("Ec2InstanceMetadata", prof.credential_source);
  ASSERT_STR_EQ("/usr/bin/get-creds --json", prof.credential_process);
  ASSERT_STR_EQ("corp", prof.sso_session);
  ASSERT_STR_EQ("123456789012", prof.sso_account_id);
  ASSERT_STR_EQ("Reader", prof.sso_role_name);
  ASSERT_STR_EQ("https://old.awsapps.com/start", prof.sso_start_url);
  ASSERT_STR_EQ("eu-west-1", prof.sso_region);
  ASSERT_STR_EQ("https://localhost:4566", prof.endpoint_url);
  ASSERT_EQ(1, prof.sso_session_found);
  ASSERT_STR_EQ("https://corp.awsapps.com/start", prof.sso_session_start_url);
  ASSERT_STR_EQ("us-east-2", prof.sso_session_region);
  kn_profile_clear(&prof);

  /* STS's endpoint_url from the services section the profile names; other
   * services' and other sections' are not taken. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse(NULL,
                             "[services local]\n"
                             "kinesis =\n"
                             "  endpoint_url = http://kinesis:1\n"
                             "sts =\n"
                             "  endpoint_url = http://sts:2\n"
                             "  other = x\n"
                             "endpoint_url = http://not-in-a-block\n"
                             "[profile s]\n"
                             "services = local\n"
                             "endpoint_url = http://all:3\n"
                             "[services elsewhere]\n"
                             "sts =\n"
                             "  endpoint_url = http://wrong:4\n",
                             "s", &prof));
  ASSERT_STR_EQ("local", prof.services);
  ASSERT_STR_EQ("http://sts:2", prof.services_sts_endpoint_url);
  ASSERT_STR_EQ("http://all:3", prof.endpoint_url);
  ASSERT_EQ(1, prof.found);
  kn_profile_clear(&prof);
  /* A services section is not a profile. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse(NULL, "[services s]\nregion = r\n", "s", &prof));
  ASSERT_EQ(0, prof.found);
  ASSERT_NULL(prof.region);
  kn_profile_clear(&prof);

  /* An sso-session section is not a profile, and a missing one is noted. */
  ASSERT_EQ(KINESIS_ENOCREDS, kn_profile_parse(NULL, config, "corp", &prof));
  ASSERT_EQ(0, prof.found);
  ASSERT_NULL(prof.role_arn);
  kn_profile_clear(&prof);
  ASSERT_EQ(
      KINESIS_ENOCREDS,
      kn_profile_parse(NULL, "[profile x]\nsso_session = gone\n", "x", &prof));
  ASSERT_EQ(0, prof.sso_session_found);
  ASSERT_NULL(prof.sso_session_region);
  kn_profile_clear(&prof);
}


static void test_parse_role_failmalloc(void) {
  static const char config[] =
      "[profile p]\nrole_arn = R\nsource_profile = S\nsso_session = s\n"
      "[sso-session s]\nsso_region = X\n";
  kn_profile_t prof;
  int64_t i;
  int r;

  kn_test_alloc_install();
  for (i = 0;; i++) {
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    r = kn_profile_parse(NULL, config, "p", &prof);
    if (r == KINESIS_ENOCREDS) {
      ASSERT_STR_EQ("R", prof.role_arn);
      ASSERT_STR_EQ("X", prof.sso_session_region);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_NULL(prof.role_arn);
    }
    kn_profile_clear(&prof);
    ASSERT_EQ(0, kn_test_alloc_live);
    if (r != KINESIS_ENOMEM)
      break;
  }
  ASSERT_GE(i, 4);
  kn_test_alloc_fail_at = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
}


static void test_sts_endpoint(void) {
  char* e;

  env_isolate();
  ASSERT_OK(kn_sts_endpoint("eu-west-1", NULL, NULL, &e));
  ASSERT_STR_EQ("https://sts.eu-west-1.amazonaws.com", e);
  kn_free(e);
  ASSERT_OK(kn_sts_endpoint(NULL, NULL, NULL, &e));
  ASSERT_STR_EQ("https://sts.amazonaws.com", e);
  kn_free(e);
  /* The profile's endpoint_url, then its services section's, then the
   * global variable, then the STS one; trailing slashes go. */
  ASSERT_OK(kn_sts_endpoint("eu-west-1", NULL, "http://profile:1/", &e));
  ASSERT_STR_EQ("http://profile:1", e);
  kn_free(e);
  ASSERT_OK(kn_sts_endpoint("eu-west-1", "http://services:4",
                            "http://profile:1/", &e));
  ASSERT_STR_EQ("http://services:4", e);
  kn_free(e);
  setenv("AWS_ENDPOINT_URL", "http://global:2", 1);
  ASSERT_OK(kn_sts_endpoint("eu-west-1", "http://services:4",
                            "http://profile:1/", &e));
  ASSERT_STR_EQ("http://global:2", e);
  kn_free(e);
  setenv("AWS_ENDPOINT_URL_STS", "http://sts:3//", 1);
  ASSERT_OK(kn_sts_endpoint("eu-west-1", "http://services:4",
                            "http://profile:1/", &e));
  ASSERT_STR_EQ("http://sts:3", e);
  kn_free(e);
  /* All four ignored on request. */
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
  ASSERT_OK(kn_sts_endpoint("eu-west-1", "http://services:4",
                            "http://profile:1/", &e));
  ASSERT_STR_EQ("https://sts.eu-west-1.amazonaws.com", e);
  kn_free(e);
  env_isolate();
}


static int xml(const char* doc, const char* path, char** out) {
  return kn_sts_xml_text(doc, strlen(doc), path, out);
}


static void test_sts_xml(void) {
  static const char ok[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- a comment -->\n"
      "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
      "<AssumeRoleResult>"
      "<Credentials>"
      "<AccessKeyId>ASIA1</AccessKeyId>"
      "<SecretAccessKey>a&amp;b&lt;c&gt;&quot;&apos;&#65;&#x42;&#x20AC;"
      "</SecretAccessKey>"
      "<SessionToken><![CDATA[<raw&>]]>tail</SessionToken>"
      "<Expiration>2026-12-07T13:00:00Z</Expiration>"
      "<Empty/>"
      "</Credentials>"
      "<AssumedRoleUser><Arn>arn</Arn></AssumedRoleUser>"
      "</AssumeRoleResult>"
      "</AssumeRoleResponse>\n";
  static const char* const bad[] = {
      "",
      "   ",
      "<a>",
      "<a></b>",
      "<a><b></a></b>",
      "<a>x</a><a>y</a>",
      "text<a/>",
      "<a/>text",
      "<a>&unknown;</a>",
      "<a>&amp</a>",
      "<a>&#0;</a>",
      "<a>&#x110000;</a>",
      "<a>&#xD800;</a>",
      "<a>&#;</a>",
      "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
      "<a b=c></a>",
      "<a b=\"c></a>",
      "<a b=\"<\"></a>",
      "<a b=\"1\"c=\"2\"></a>",
      "<1a></1a>",
      "<a><?pi?></a>",
      "<a><!-- open </a>",
      "<a><![CDATA[ open</a>",
      "<a></a >x",
  };
  char deep[256];
  char* out;
  size_t i;

  ASSERT_EQ(1, xml(ok,
                   "AssumeRoleResponse/AssumeRoleResult/Credentials/"
                   "AccessKeyId",
                   &out));
  ASSERT_STR_EQ("ASIA1", out);
  kn_free(out);
  ASSERT_EQ(1, xml(ok,
                   "AssumeRoleResponse/AssumeRoleResult/Credentials/"
                   "SecretAccessKey",
                   &out));
  ASSERT_STR_EQ("a&b<c>\"'AB\xE2\x82\xAC", out);
  kn_free(out);
  ASSERT_EQ(1, xml(ok,
                   "AssumeRoleResponse/AssumeRoleResult/Credentials/"
                   "SessionToken",
                   &out));
  ASSERT_STR_EQ("<raw&>tail", out);
  kn_free(out);
  ASSERT_EQ(1, xml(ok, "AssumeRoleResponse/AssumeRoleResult/Credentials/Empty",
                   &out));
  ASSERT_STR_EQ("", out);
  kn_free(out);
  /* Absent: another name, a partial path, a path too deep. */
  ASSERT_EQ(
      0, xml(ok, "AssumeRoleResponse/AssumeRoleResult/Credentials/Nope", &out));
  ASSERT_NULL(out);
  ASSERT_EQ(0, xml(ok, "Credentials/AccessKeyId", &out));
  ASSERT_EQ(0, xml(ok,
                   "AssumeRoleResponse/AssumeRoleResult/Credentials/"
                   "AccessKeyId/X",
                   &out));
  /* An element holding elements is not text. */
  ASSERT_EQ(KINESIS_EPROTO,
            xml(ok, "AssumeRoleResponse/AssumeRoleResult/Credentials", &out));
  ASSERT_NULL(out);
  /* Namespace prefixes are ignored; the first match wins. */
  ASSERT_EQ(
      1, xml("<s:E xmlns:s=\"u\"><s:C>x</s:C><s:C>y</s:C></s:E>", "E/C", &out));
  ASSERT_STR_EQ("x", out);
  kn_free(out);
  ASSERT_EQ(1, xml("<E b='1' c = \"2\" ><C >v</C\n></E>", "E/C", &out));
  ASSERT_STR_EQ("v", out);
  kn_free(out);
  /* An STS error document. */
  ASSERT_EQ(1, xml("<ErrorResponse><Error><Type>Sender</Type><Code>"
                   "AccessDenied</Code><Message>no &amp; no</Message></Error>"
                   "<RequestId>r</RequestId></ErrorResponse>",
                   "ErrorResponse/Error/Message", &out));
  ASSERT_STR_EQ("no & no", out);
  kn_free(out);

  for (i = 0; i < KN_ARRAY_SIZE(bad); i++) {
    int r = xml(bad[i], "a", &out);
    if (r != KINESIS_EPROTO)
      fprintf(stderr, "accepted: %s\n", bad[i]);
    ASSERT_EQ(KINESIS_EPROTO, r);
    ASSERT_NULL(out);
  }
  /* A NUL inside, and nesting deeper than 16. */
  ASSERT_EQ(KINESIS_EPROTO, kn_sts_xml_text("<a>x\0y</a>", 10, "a", &out));
  deep[0] = '\0';
  for (i = 0; i < 17; i++)
    strcat(deep, "<a>");
  for (i = 0; i < 17; i++)
    strcat(deep, "</a>");
  ASSERT_EQ(KINESIS_EPROTO, xml(deep, "a", &out));
  ASSERT_EQ(KINESIS_EINVAL, xml("<a/>", "", &out));
}


static void test_sts_xml_failmalloc(void) {
  static const char doc[] =
      "<R><C><K>a&amp;b&#x20AC;<![CDATA[c]]>d</K></C></R>";
  char* out;
  int64_t i;
  int r;

  kn_test_alloc_install();
  for (i = 0;; i++) {
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    r = xml(doc, "R/C/K", &out);
    if (r == 1) {
      ASSERT_STR_EQ(
          "a&b\xE2\x82\xAC"
          "cd",
          out);
      kn_free(out);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_NULL(out);
    }
    ASSERT_EQ(0, kn_test_alloc_live);
    if (r == 1)
      break;
  }
  ASSERT_GE(i, 1);
  kn_test_alloc_fail_at = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
}


static void on_sts_never(int status, kn_credentials_t* creds,
                         const char* message, void* arg) {
  (void) status;
  (void) creds;
  (void) message;
  (void) arg;
  ASSERT(0 && "the callback of a refused call ran");
}


static void test_sts_invalid(void) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_sts_request_t req;
  kn_credentials_t src;
  kn_sts_call_t* call = NULL;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  memset(&req, 0, sizeof(req));
  memset(&src, 0, sizeof(src));
  req.endpoint = "https://sts.eu-west-1.amazonaws.com";
  req.region = "eu-west-1";
  /* No role. */
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  req.role_arn = "arn:aws:iam::123456789012:role/r";
  /* AssumeRole without source keys. */
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  req.source = &src;
  src.access_key_id = "AKID";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  src.secret_access_key = "secret";
  /* No callback, no endpoint, an endpoint that is not http(s). */
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, NULL, NULL, &call));
  req.endpoint = NULL;
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  req.endpoint = "ftp://sts";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  req.endpoint = "https://";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_sts_assume_role(&loop, http, &req, on_sts_never, NULL, &call));
  ASSERT_NULL(call);
  kn_http_close(http, NULL, NULL);
  kn_test_loop_close(&loop);
}


typedef struct sts_result_s {
  int calls;
  int status;
} sts_result_t;


static void on_sts_result(int status, kn_credentials_t* creds,
                          const char* message, void* arg) {
  sts_result_t* r = arg;
  r->calls++;
  r->status = status;
  if (status == 0) {
    ASSERT_NOT_NULL(creds);
  } else {
    ASSERT_NULL(creds);
    ASSERT_NOT_NULL(message);
  }
}


/* Starting a call, each allocation failing in turn, then cancelling it:
 * ENOMEM with no callback, or ECANCELED once, and nothing leaks. */
static void test_sts_start_failmalloc(void) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_sts_request_t req;
  kn_credentials_t src;
  int64_t i;
  int web;

  memset(&src, 0, sizeof(src));
  src.access_key_id = "AKID";
  src.secret_access_key = "secret";
  src.session_token = "token";
  for (web = 0; web < 2; web++) {
    memset(&req, 0, sizeof(req));
    req.role_arn = "arn:aws:iam::123456789012:role/r";
    req.endpoint = "http://127.0.0.1:1/";
    req.region = "eu-west-1";
    req.external_id = "ext id/&=";
    req.duration_seconds = 900;
    if (web)
      req.web_identity_token = "a.token";
    else
      req.source = &src;
    for (i = 0;; i++) {
      kn_sts_call_t* call = NULL;
      sts_result_t res;
      int r;
      kn_test_alloc_install();
      kn_test_alloc_fail_at = -1;
      kn_test_alloc_count = 0;
      kn_test_alloc_live = 0;
      ASSERT_OK(uv_loop_init(&loop));
      ASSERT_OK(kn_http_new(&loop, NULL, &http));
      memset(&res, 0, sizeof(res));
      kn_test_alloc_fail_at = kn_test_alloc_count + i;
      r = kn_sts_assume_role(&loop, http, &req, on_sts_result, &res, &call);
      kn_test_alloc_fail_at = -1;
      if (r == 0) {
        ASSERT_NOT_NULL(call);
        kn_sts_cancel(call);
      } else {
        ASSERT_EQ(KINESIS_ENOMEM, r);
      }
      ASSERT_EQ(0, res.calls);
      ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
      ASSERT_EQ(r == 0 ? 1 : 0, res.calls);
      if (r == 0) {
        ASSERT_EQ(KINESIS_ECANCELED, res.status);
        ASSERT_NULL(call);
      }
      kn_http_close(http, NULL, NULL);
      kn_test_loop_close(&loop);
      ASSERT_EQ(0, kn_test_alloc_live);
      ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
      if (r == 0)
        break;
    }
    ASSERT_GT(i, 5);
  }
}


/* A loopback server that answers every request with one canned HTTP
 * response and closes the connection. */
typedef struct canned_server_s {
  uv_tcp_t server;
  const char* response;
  int port;
  int served;
} canned_server_t;


typedef struct canned_conn_s {
  uv_tcp_t tcp;
  uv_write_t write;
  canned_server_t* server;
  char buf[4096];
  int answered;
} canned_conn_t;


static void on_canned_closed(uv_handle_t* h) {
  free(h->data);
}


static void on_canned_written(uv_write_t* w, int status) {
  canned_conn_t* c = w->data;
  (void) status;
  uv_close((uv_handle_t*) &c->tcp, on_canned_closed);
}


static void on_canned_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  canned_conn_t* c = h->data;
  (void) size;
  *buf = uv_buf_init(c->buf, sizeof(c->buf));
}


static void on_canned_read(uv_stream_t* stream, ssize_t n,
                           const uv_buf_t* buf) {
  canned_conn_t* c = stream->data;
  uv_buf_t out;
  (void) buf;
  if (n < 0) {
    uv_read_stop(stream);
    if (!c->answered)
      uv_close((uv_handle_t*) &c->tcp, on_canned_closed);
    return;
  }
  /* The request is small: the first bytes stand for all of it. */
  if (n == 0 || c->answered)
    return;
  c->answered = 1;
  uv_read_stop(stream);
  c->server->served++;
  out = uv_buf_init((char*) c->server->response,
                    (unsigned) strlen(c->server->response));
  c->write.data = c;
  ASSERT_OK(uv_write(&c->write, stream, &out, 1, on_canned_written));
}


static void on_canned_connection(uv_stream_t* server, int status) {
  canned_server_t* s = server->data;
  canned_conn_t* c = calloc(1, sizeof(*c));
  ASSERT_OK(status);
  ASSERT_NOT_NULL(c);
  c->server = s;
  ASSERT_OK(uv_tcp_init(server->loop, &c->tcp));
  c->tcp.data = c;
  ASSERT_OK(uv_accept(server, (uv_stream_t*) &c->tcp));
  ASSERT_OK(
      uv_read_start((uv_stream_t*) &c->tcp, on_canned_alloc, on_canned_read));
}


static void canned_start(uv_loop_t* loop, canned_server_t* s,
                         const char* response) {
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound);
  memset(s, 0, sizeof(*s));
  s->response = response;
  ASSERT_OK(uv_tcp_init(loop, &s->server));
  s->server.data = s;
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_bind(&s->server, (const struct sockaddr*) &addr, 0));
  ASSERT_OK(uv_listen((uv_stream_t*) &s->server, 8, on_canned_connection));
  ASSERT_OK(uv_tcp_getsockname(&s->server, (struct sockaddr*) &bound, &len));
  s->port = ntohs(((struct sockaddr_in*) &bound)->sin_port);
}


typedef struct sts_answer_s {
  int calls;
  int status;
  char access_key_id[64];
  char role_arn[128];
  int64_t expiration_ms;
  char message[1024];
  canned_server_t* server;
} sts_answer_t;


static void on_sts_answer(int status, kn_credentials_t* creds,
                          const char* message, void* arg) {
  sts_answer_t* a = arg;
  a->calls++;
  a->status = status;
  if (status == 0) {
    snprintf(a->access_key_id, sizeof(a->access_key_id), "%s",
             creds->access_key_id);
    snprintf(a->role_arn, sizeof(a->role_arn), "%s", creds->role_arn);
    a->expiration_ms = creds->expiration_ms;
  } else {
    ASSERT_NULL(creds);
    snprintf(a->message, sizeof(a->message), "%s", message);
  }
  uv_close((uv_handle_t*) &a->server->server, NULL);
}


/* One AssumeRole against a canned answer, the i-th allocation from the
 * call's start failing (-1: none). Returns 1 when no allocation failed. */
static int sts_answer_run(const char* response, int64_t i, sts_answer_t* a) {
  uv_loop_t loop;
  kn_http_t* http;
  canned_server_t s;
  kn_sts_request_t req;
  kn_credentials_t src;
  char url[64];
  int64_t fail_at;
  int reached;
  int r;

  kn_test_alloc_install();
  kn_test_alloc_fail_at = -1;
  kn_test_alloc_count = 0;
  kn_test_alloc_live = 0;
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  canned_start(&loop, &s, response);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
  memset(&src, 0, sizeof(src));
  src.access_key_id = "AKID";
  src.secret_access_key = "secret";
  memset(&req, 0, sizeof(req));
  req.role_arn = "arn:aws:iam::123456789012:role/r";
  req.endpoint = url;
  req.region = "eu-west-1";
  req.source = &src;
  req.retry_base_ms = 1;
  memset(a, 0, sizeof(*a));
  a->server = &s;
  fail_at = i < 0 ? -1 : kn_test_alloc_count + i;
  kn_test_alloc_fail_at = fail_at;
  r = kn_sts_assume_role(&loop, http, &req, on_sts_answer, a, NULL);
  if (r == 0) {
    ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
    ASSERT_EQ(1, a->calls);
  } else {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    uv_close((uv_handle_t*) &s.server, NULL);
  }
  reached = fail_at >= 0 && kn_test_alloc_count > fail_at;
  kn_test_alloc_fail_at = -1;
  kn_http_close(http, NULL, NULL);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, kn_test_alloc_live);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  return !reached;
}


#define CANNED_OK                                                            \
  "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n"       \
  "Content-Length: 359\r\n\r\n"                                              \
  "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">" \
  "<AssumeRoleResult><Credentials><AccessKeyId>ASIACANNED</AccessKeyId>"     \
  "<SecretAccessKey>canned-secret</SecretAccessKey>"                         \
  "<SessionToken>canned-token</SessionToken>"                                \
  "<Expiration>2030-01-02T03:04:05Z</Expiration></Credentials>"              \
  "</AssumeRoleResult></AssumeRoleResponse>                                 "

#define CANNED_DENIED                                                  \
  "HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\n"               \
  "Connection: close\r\nContent-Length: 160\r\n\r\n"                   \
  "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>" \
  "<Message>not you</Message></Error><RequestId>r</RequestId>"         \
  "</ErrorResponse>                    "


/* Reading STS's answers, and each allocation on the way failing in turn. */
static void test_sts_answer_failmalloc(void) {
  sts_answer_t a;
  int64_t i;
  int done;

  ASSERT_EQ(359, strlen(strstr(CANNED_OK, "\r\n\r\n") + 4));
  ASSERT_EQ(160, strlen(strstr(CANNED_DENIED, "\r\n\r\n") + 4));
  sts_answer_run(CANNED_OK, -1, &a);
  ASSERT_OK(a.status);
  ASSERT_STR_EQ("ASIACANNED", a.access_key_id);
  ASSERT_STR_EQ("arn:aws:iam::123456789012:role/r", a.role_arn);
  ASSERT_EQ(INT64_C(1893553445000), a.expiration_ms);
  sts_answer_run(CANNED_DENIED, -1, &a);
  ASSERT_EQ(KINESIS_EACCESS, a.status);
  ASSERT_NOT_NULL(strstr(a.message, "AccessDenied: not you"));
  ASSERT_NOT_NULL(strstr(a.message, "(HTTP 403)"));

  for (i = 0, done = 0; !done; i++) {
    done = sts_answer_run(CANNED_OK, i, &a);
    if (a.calls == 1 && a.status == 0)
      ASSERT_STR_EQ("ASIACANNED", a.access_key_id);
  }
  ASSERT_GT(i, 10);
  for (i = 0, done = 0; !done; i++) {
    done = sts_answer_run(CANNED_DENIED, i, &a);
    if (a.calls == 1 && a.status != KINESIS_ENOMEM)
      ASSERT_NE(0, a.status);
  }
  ASSERT_GT(i, 5);
}


/* A role chain that ends in an error before anything is sent, failing each
 * allocation in turn. */
static void test_chain_role_failmalloc(void) {
  char* config = temp_file(
      "[profile top]\nrole_arn = arn:aws:iam::123456789012:role/t\n"
      "source_profile = mid\nexternal_id = e\nrole_session_name = s\n"
      "duration_seconds = 900\n"
      "[profile mid]\nrole_arn = arn:aws:iam::123456789012:role/m\n"
      "source_profile = low\n"
      "[profile low]\nrole_arn = arn:aws:iam::123456789012:role/l\n"
      "source_profile = mid\n");
  int64_t i;
  int done;

  env_isolate();
  setenv("AWS_CONFIG_FILE", config, 1);
  setenv("AWS_PROFILE", "top", 1);
  kn_test_alloc_install();
  for (i = 0, done = 0; !done; i++)
    done = chain_failmalloc_run(i, KINESIS_EINVAL);
  ASSERT_GT(i, 5);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  remove_temp(config);
  env_isolate();
}


static void test_chain_role_errors(void) {
  char* config = temp_file(
      "[profile cycle]\nrole_arn = arn:aws:iam::123456789012:role/c\n"
      "source_profile = cycle2\n"
      "[profile cycle2]\nrole_arn = arn:aws:iam::123456789012:role/c2\n"
      "source_profile = cycle\n"
      "[profile proc]\ncredential_process = /bin/true\n"
      "[profile unknown]\nrole_arn = arn:aws:iam::123456789012:role/u\n"
      "credential_source = Somewhere\n"
      "[profile envsrc]\nrole_arn = arn:aws:iam::123456789012:role/e\n"
      "credential_source = Environment\n");
  fixture_t f;
  get_result_t r;

  env_isolate();
  setenv("AWS_CONFIG_FILE", config, 1);
  fixture_init(&f, NULL);
  setenv("AWS_PROFILE", "cycle", 1);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_EINVAL, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "source_profile cycle: cycle -> cycle2 -> cycle"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "web identity from the environment (not "
                         "configured)"));
  /* credential_process runs; /bin/true prints no credentials, and the
   * error names the profile and ends the chain. */
  setenv("AWS_PROFILE", "proc", 1);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "credential_process of profile \"proc\": "));
  setenv("AWS_PROFILE", "unknown", 1);
  get_once(&f, &r);
  ASSERT_EQ(KINESIS_EINVAL, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "unknown credential_source \"Somewhere\""));
  /* Half a web identity configuration is named. */
  setenv("AWS_PROFILE", "proc", 1);
  setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/w", 1);
  get_once(&f, &r);
  ASSERT_NOT_NULL(strstr(
      r.message, "AWS_ROLE_ARN set without AWS_WEB_IDENTITY_TOKEN_FILE"));
  fixture_close(&f, 0);
  remove_temp(config);
  env_isolate();
}


static void test_close_cancels_sts_in_flight(void) {
  silent_server_t s;
  int port;
  char url[64];
  char* token = temp_file("a-token");
  fixture_t f;

  env_isolate();
  fixture_init(&f, NULL);
  port = silent_server_start(&s, &f.loop);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  setenv("AWS_ENDPOINT_URL_STS", url, 1);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token, 1);
  setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/w", 1);

  expect_gets_canceled_by_close(&f, &s);
  fixture_close(&f, 1);
  remove_temp(token);
  env_isolate();
}


static void test_new_invalid(void) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_provider_t* p = NULL;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_provider_new(NULL, http, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_provider_new(&loop, NULL, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_provider_new(&loop, http, NULL, NULL));
  ASSERT_NULL(p);
  kn_http_close(http, NULL, NULL);
  kn_test_loop_close(&loop);
}


/* ---- Precedence inside a profile ---- */


/* A credential_process (run through /bin/sh) that prints AKIAPROCESS. */
#define PROCESS_LINE                                                \
  "credential_process = printf '{\"Version\": 1, \"AccessKeyId\": " \
  "\"AKIAPROCESS\", \"SecretAccessKey\": \"process-secret\"}'\n"


static void test_parse_keys_file(void) {
  kn_profile_t prof;

  ASSERT_OK(
      kn_profile_parse("[p]\naws_access_key_id = A\n"
                       "aws_secret_access_key = S\n",
                       NULL, "p", &prof));
  ASSERT_EQ(1, prof.keys_in_credentials_file);
  kn_profile_clear(&prof);
  ASSERT_OK(kn_profile_parse(NULL,
                             "[profile p]\naws_access_key_id = A\n"
                             "aws_secret_access_key = S\n",
                             "p", &prof));
  ASSERT_EQ(0, prof.keys_in_credentials_file);
  kn_profile_clear(&prof);
  /* Half in each file: not the credentials file's keys. */
  ASSERT_OK(kn_profile_parse("[p]\naws_access_key_id = A\n",
                             "[profile p]\naws_secret_access_key = S\n", "p",
                             &prof));
  ASSERT_EQ(0, prof.keys_in_credentials_file);
  kn_profile_clear(&prof);
  /* The services section's sso endpoint. */
  ASSERT_EQ(KINESIS_ENOCREDS,
            kn_profile_parse(NULL,
                             "[profile p]\nservices = s\n"
                             "[services s]\nsts =\n  endpoint_url = http://a\n"
                             "sso =\n  endpoint_url = http://b\n",
                             "p", &prof));
  ASSERT_STR_EQ("http://a", prof.services_sts_endpoint_url);
  ASSERT_STR_EQ("http://b", prof.services_sso_endpoint_url);
  kn_profile_clear(&prof);
}


/* kn_profile_endpoint() of `service_env`, `services_endpoint` and
 * `profile_endpoint` gives `want` (NULL: none). */
static void expect_endpoint(const char* service_env,
                            const char* services_endpoint,
                            const char* profile_endpoint, const char* want) {
  char* e;
  ASSERT_OK(kn_profile_endpoint(service_env, services_endpoint,
                                profile_endpoint, &e));
  if (want == NULL) {
    ASSERT_NULL(e);
  } else {
    ASSERT_STR_EQ(want, e);
    kn_free(e);
  }
}


static void test_profile_endpoint(void) {
  env_isolate();
  expect_endpoint("AWS_ENDPOINT_URL_SSO", NULL, NULL, NULL);
  expect_endpoint("AWS_ENDPOINT_URL_SSO", "", "http://p/", "http://p");
  expect_endpoint("AWS_ENDPOINT_URL_SSO", "http://s", "http://p", "http://s");
  setenv("AWS_ENDPOINT_URL", "http://all", 1);
  expect_endpoint("AWS_ENDPOINT_URL_SSO", "http://s", "http://p", "http://all");
  setenv("AWS_ENDPOINT_URL_SSO", "http://sso//", 1);
  expect_endpoint("AWS_ENDPOINT_URL_SSO", "http://s", "http://p", "http://sso");
  /* STS's variable is not SSO's. */
  expect_endpoint("AWS_ENDPOINT_URL_STS", "http://s", "http://p", "http://all");
  setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
  expect_endpoint("AWS_ENDPOINT_URL_SSO", "http://s", "http://p", NULL);
  env_isolate();
}


/* Gets once with profile `profile` (explicit when `explicit`, else
 * $AWS_PROFILE). */
static void get_profile(const char* profile, int explicit, get_result_t* r) {
  kn_cred_options_t opts;
  fixture_t f;

  memset(&opts, 0, sizeof(opts));
  if (explicit)
    opts.profile = profile;
  else
    setenv("AWS_PROFILE", profile, 1);
  fixture_init(&f, &opts);
  get_once(&f, r);
  fixture_close(&f, 0);
  unsetenv("AWS_PROFILE");
}


/* Gets once with profile `profile` (explicit when `explicit`, else
 * $AWS_PROFILE), and expects the keys `key_id` from `source`, named by
 * `named` ("(null)": by no profile). */
static void expect_profile_keys(const char* profile, int explicit,
                                const char* key_id, const char* source,
                                const char* named) {
  get_result_t r;
  get_profile(profile, explicit, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ(key_id, r.access_key_id);
  ASSERT_STR_EQ(source, r.source);
  ASSERT_STR_EQ(named, r.profile);
}


/* Gets once with $AWS_PROFILE `profile`, and expects failure with
 * `status` and `words` in the message. */
static void expect_profile_fails(const char* profile, int status,
                                 const char* words) {
  get_result_t r;
  get_profile(profile, 0, &r);
  ASSERT_EQ(status, r.status);
  ASSERT_NOT_NULL(strstr(r.message, words));
}


static void test_chain_profile_precedence(void) {
  char* creds = temp_file(
      "[both]\naws_access_key_id = AKIACREDSFILE\n"
      "aws_secret_access_key = creds-secret\n"
      "[ssokeys]\naws_access_key_id = AKIACREDSFILE\n"
      "aws_secret_access_key = creds-secret\n");
  char* config = temp_file(
      "[profile both]\n" PROCESS_LINE
      "[profile cfgkeys]\naws_access_key_id = AKIACONFIG\n"
      "aws_secret_access_key = config-secret\n" PROCESS_LINE
      "[profile onlycfg]\naws_access_key_id = AKIACONFIG\n"
      "aws_secret_access_key = config-secret\n"
      "[profile ssokeys]\nsso_start_url = https://x.awsapps.com/start\n"
      "sso_region = us-east-1\nsso_account_id = 123456789012\n"
      "sso_role_name = r\n" PROCESS_LINE
      "[profile rolesso]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
      "source_profile = nowhere\nsso_start_url = https://x.awsapps.com/start\n"
      "sso_region = us-east-1\nsso_account_id = 123456789012\n"
      "sso_role_name = r\n"
      "[profile srcsso]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
      "source_profile = ssoproc\n"
      "[profile ssoproc]\nsso_session = s\nsso_account_id = 123456789012\n"
      "sso_role_name = r\n" PROCESS_LINE
      "[sso-session s]\nsso_start_url = https://x.awsapps.com/start\n"
      "sso_region = us-east-1\n"
      "[profile half]\nsso_start_url = https://x.awsapps.com/start\n"
      "sso_region = us-east-1\nsso_account_id = 123456789012\n"
      "[profile nosession]\nsso_session = missing\n"
      "sso_account_id = 123456789012\nsso_role_name = r\n"
      "[profile badsrc]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
      "source_profile = empty\n[profile empty]\nregion = us-east-1\n");
  char* home = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
  get_result_t r;

  env_isolate();
  /* No SSO token anywhere: an SSO profile fails with the login to run. */
  setenv("HOME", "/nonexistent/kn-test", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  setenv("AWS_CONFIG_FILE", config, 1);

  /* The credentials file's keys come before credential_process... */
  expect_profile_keys("both", 0, "AKIACREDSFILE", "profile", "both");
  /* ...which comes before the config file's keys... */
  get_profile("cfgkeys", 0, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAPROCESS", r.access_key_id);
  ASSERT_STR_EQ("process-secret", r.secret_access_key);
  ASSERT_STR_EQ("process", r.source);
  ASSERT_STR_EQ("cfgkeys", r.profile);
  ASSERT_EQ(0, r.expiration_ms);
  /* ...which are used alone. */
  get_profile("onlycfg", 0, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIACONFIG", r.access_key_id);
  ASSERT_STR_EQ("profile", r.source);
  /* SSO comes before both keys and credential_process. */
  expect_profile_fails("ssokeys", KINESIS_ENOCREDS,
                       "aws sso login --profile ssokeys");
  /* A role comes before SSO. */
  expect_profile_fails("rolesso", KINESIS_EINVAL, "source_profile \"nowhere\"");
  /* A source profile: SSO before credential_process. */
  expect_profile_fails("srcsso", KINESIS_ENOCREDS,
                       "aws sso login --profile ssoproc");
  /* Incomplete SSO settings name the profile and what is missing. */
  expect_profile_fails("half", KINESIS_EINVAL,
                       "profile \"half\" is set up for IAM Identity "
                       "Center (SSO) but lacks sso_role_name");
  expect_profile_fails("nosession", KINESIS_EINVAL,
                       "profile \"nosession\": sso_session \"missing\" has "
                       "no [sso-session missing] section");
  expect_profile_fails("badsrc", KINESIS_EINVAL,
                       "source_profile \"empty\" has no keys, role_arn, "
                       "SSO settings or credential_process");

  if (home != NULL)
    setenv("HOME", home, 1);
  else
    unsetenv("HOME");
  free(home);
  remove_temp(creds);
  remove_temp(config);
  env_isolate();
}


/* An explicitly given profile skips the environment's keys and web
 * identity; $AWS_PROFILE does not. */
static void test_chain_explicit_profile(void) {
  char* creds = temp_file(
      "[p]\naws_access_key_id = AKIAPROFILE\n"
      "aws_secret_access_key = profile-secret\n");
  char* config = temp_file(
      "[profile envrole]\nrole_arn = arn:aws:iam::123456789012:role/r\n"
      "credential_source = Environment\n");
  get_result_t r;

  env_isolate();
  setenv("AWS_SHARED_CREDENTIALS_FILE", creds, 1);
  setenv("AWS_CONFIG_FILE", config, 1);
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/kn-test/token", 1);
  setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/w", 1);
  expect_profile_keys("p", 1, "AKIAPROFILE", "profile", "p");
  /* $AWS_PROFILE: the environment's keys first, as before. */
  expect_profile_keys("p", 0, "AKIAENV", "environment", "(null)");
  /* Explicitly, credential_source = Environment assumes its role with the
   * environment's keys rather than being shadowed by them: here the STS
   * endpoint refuses the connection, and the error is the role's. */
  setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1", 1);
  get_profile("envrole", 1, &r);
  ASSERT_NE(0, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "arn:aws:iam::123456789012:role/r"));
  unsetenv("AWS_ENDPOINT_URL_STS");
  /* A profile that does not exist, explicitly: the message says what was
   * skipped. */
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-test/credentials", 1);
  get_profile("nosuch", 1, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "environment (skipped: profile \"nosuch\" given)"));
  ASSERT_NOT_NULL(strstr(r.message,
                         "web identity from the environment (skipped: "
                         "profile \"nosuch\" given)"));
  remove_temp(creds);
  remove_temp(config);
  env_isolate();
}


static void test_chain_process_failmalloc(void) {
  char* config = temp_file("[default]\n" PROCESS_LINE);
  int64_t i;
  int done;

  env_isolate();
  setenv("AWS_CONFIG_FILE", config, 1);
  kn_test_alloc_install();
  for (i = 0, done = 0; !done; i++)
    done = chain_failmalloc_run(i, 0);
  ASSERT_GT(i, 5);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  remove_temp(config);
  env_isolate();
}


/* IAM Identity Center without a token: the plan, the fetch's start and its
 * message, failing each allocation in turn. */
static void test_chain_sso_failmalloc(void) {
  char* config = temp_file(
      "[default]\nsso_session = s\nsso_account_id = 123456789012\n"
      "sso_role_name = r\n"
      "[sso-session s]\nsso_start_url = https://x.awsapps.com/start\n"
      "sso_region = us-east-1\n");
  char* home = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
  int64_t i;
  int done;

  env_isolate();
  setenv("HOME", "/nonexistent/kn-test", 1);
  setenv("AWS_CONFIG_FILE", config, 1);
  kn_test_alloc_install();
  for (i = 0, done = 0; !done; i++)
    done = chain_failmalloc_run(i, KINESIS_ENOCREDS);
  ASSERT_GT(i, 5);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  if (home != NULL)
    setenv("HOME", home, 1);
  free(home);
  remove_temp(config);
  env_isolate();
}


KN_TEST_MAIN(
    KN_TEST(test_parse_credentials_file),
    KN_TEST(test_parse_session_token_crlf), KN_TEST(test_parse_missing),
    KN_TEST(test_parse_config_sections),
    KN_TEST(test_parse_credentials_override_config),
    KN_TEST(test_parse_duplicates_and_subproperties),
    KN_TEST(test_profile_load_files), KN_TEST(test_profile_name),
    KN_TEST(test_profile_paths), KN_TEST(test_credentials_copy),
    KN_TEST(test_container_uri_allowed), KN_TEST(test_parse_failmalloc),
    KN_TEST(test_chain_failmalloc), KN_TEST(test_chain_options_beat_env),
    KN_TEST(test_chain_env_beats_profile),
    KN_TEST(test_chain_profile_selection),
    KN_TEST(test_chain_partial_env_falls_through),
    KN_TEST(test_chain_no_credentials), KN_TEST(test_chain_container_refused),
    KN_TEST(test_chain_container_unreachable),
    KN_TEST(test_chain_token_file_unreadable),
    KN_TEST(test_get_never_synchronous), KN_TEST(test_get_from_callback),
    KN_TEST(test_close_cancels_pending_get), KN_TEST(test_close_from_callback),
    KN_TEST(test_close_cancels_fetch_in_flight), KN_TEST(test_new_invalid),
    KN_TEST(test_parse_role_settings), KN_TEST(test_parse_role_failmalloc),
    KN_TEST(test_sts_endpoint), KN_TEST(test_sts_xml),
    KN_TEST(test_sts_xml_failmalloc), KN_TEST(test_sts_invalid),
    KN_TEST(test_sts_start_failmalloc), KN_TEST(test_sts_answer_failmalloc),
    KN_TEST(test_chain_role_failmalloc), KN_TEST(test_chain_role_errors),
    KN_TEST(test_close_cancels_sts_in_flight), KN_TEST(test_parse_keys_file),
    KN_TEST(test_profile_endpoint), KN_TEST(test_chain_profile_precedence),
    KN_TEST(test_chain_explicit_profile),
    KN_TEST(test_chain_process_failmalloc), KN_TEST(test_chain_sso_failmalloc))
