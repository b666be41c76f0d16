/* IAM Identity Center (lib/cred_sso.c) without a portal: SHA-1 vectors and
 * the token cache file's name, the two JSON documents, and every way the
 * cached token can be unusable (missing, expired, malformed, HOME unset),
 * each answered through the callback on a later tick with
 * KINESIS_ENOCREDS and the `aws sso login` hint. The portal itself is in
 * test/integration/test_cred_sso.c. */

#include "harness.h"
#include "internal.h"

#include "buf.h"
#include "codec.h"
#include "cred_sso.h"
#include "crypto.h"
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- SHA-1 and the cache file's name ---- */


static void check_sha1(const char* msg, const char* expect) {
  uint8_t d[KN_SHA1_LEN];
  char hex[2 * KN_SHA1_LEN + 1];
  ASSERT_OK(kn_sha1((const uint8_t*) msg, strlen(msg), d));
  kn_hex_encode(d, sizeof(d), hex);
  ASSERT_STR_EQ(expect, hex);
}


/* FIPS 180-1 appendix A and B, and the empty message. */
static void test_sha1_vectors(void) {
  check_sha1("abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
  check_sha1("", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  check_sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
             "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  ASSERT_EQ(KINESIS_EINVAL, kn_sha1(NULL, 1, NULL));
}


/* The names the AWS CLI gives its cache files, computed apart:
 *   printf '%s' my-sso-session | sha1sum
 *     b755b5ec73400c04400e978208d8559ad1f39053
 *   printf '%s' https://my-sso-portal.awsapps.com/start | sha1sum
 *     c7aaaf71fcc8777ae2475525ed049d39fe16c484 */
static void test_cache_name(void) {
  char name[KN_CRED_SSO_CACHE_NAME_LEN + 1];
  ASSERT_OK(kn_cred_sso_cache_name("my-sso-session", name));
  ASSERT_STR_EQ("b755b5ec73400c04400e978208d8559ad1f39053.json", name);
  ASSERT_OK(
      kn_cred_sso_cache_name("https://my-sso-portal.awsapps.com/start", name));
  ASSERT_STR_EQ("c7aaaf71fcc8777ae2475525ed049d39fe16c484.json", name);
  ASSERT_EQ(KN_CRED_SSO_CACHE_NAME_LEN, strlen(name));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_sso_cache_name(NULL, name));
}


/* ---- The documents ---- */


static void test_parse_token(void) {
  static const char good[] =
      "{\"startUrl\": \"https://x.awsapps.com/start\", \"region\": "
      "\"us-east-1\", \"accessToken\": \"tok\", \"expiresAt\": "
      "\"2030-01-02T03:04:05Z\"}";
  static const char old_utc[] =
      "{\"accessToken\": \"tok\", \"expiresAt\": \"2030-01-02T03:04:05UTC\"}";
  static const char no_token[] = "{\"expiresAt\": \"2030-01-02T03:04:05Z\"}";
  static const char bad_time[] =
      "{\"accessToken\": \"tok\", \"expiresAt\": \"soon\"}";
  char* token = NULL;
  int64_t ms = 0;
  char why[128];

  ASSERT_OK(kn_codec_parse_sso_token(good, strlen(good), &token, &ms, why,
                                   sizeof(why)));
  ASSERT_STR_EQ("tok", token);
  ASSERT_EQ(1893553445000LL, ms);
  kn_free(token);
  ASSERT_OK(kn_codec_parse_sso_token(old_utc, strlen(old_utc), &token, &ms, why,
                                   sizeof(why)));
  ASSERT_EQ(1893553445000LL, ms);
  kn_free(token);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_sso_token(no_token, strlen(no_token), &token, &ms, why,
                                   sizeof(why)));
  ASSERT_NULL(token);
  ASSERT_NOT_NULL(strstr(why, "accessToken"));
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_sso_token(bad_time, strlen(bad_time), &token, &ms, why,
                                   sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "expiresAt"));
  ASSERT_NULL(strstr(why, "tok"));
}


static void test_parse_role(void) {
  static const char good[] =
      "{\"roleCredentials\": {\"accessKeyId\": \"ASIASSO\", "
      "\"secretAccessKey\": \"sso-secret\", \"sessionToken\": \"sso-token\", "
      "\"expiration\": 1893553445000}}";
  static const char no_token[] =
      "{\"roleCredentials\": {\"accessKeyId\": \"ASIASSO\", "
      "\"secretAccessKey\": \"sso-secret\", \"expiration\": 1893553445000}}";
  static const char seconds[] =
      "{\"roleCredentials\": {\"accessKeyId\": \"ASIASSO\", "
      "\"secretAccessKey\": \"sso-secret\", \"sessionToken\": \"t\", "
      "\"expiration\": 1893553445}}";
  kn_codec_creds_t c;
  char why[128];

  ASSERT_OK(kn_codec_parse_sso_role_credentials(good, strlen(good), &c, why, sizeof(why)));
  ASSERT_STR_EQ("ASIASSO", c.access_key_id);
  ASSERT_STR_EQ("sso-secret", c.secret_access_key);
  ASSERT_STR_EQ("sso-token", c.session_token);
  ASSERT_EQ(1893553445000LL, c.expiration_ms);
  kn_codec_creds_clear(&c);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_sso_role_credentials(no_token, strlen(no_token),
                                                  &c, why, sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "sessionToken"));
  ASSERT_NULL(strstr(why, "sso-secret"));
  ASSERT_NULL(c.access_key_id);
  /* Seconds where milliseconds belong would expire in 1970. */
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_sso_role_credentials(seconds, strlen(seconds), &c,
                                                  why, sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "expiration"));
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_sso_role_credentials("{}", 2, &c, why, sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "roleCredentials"));
}


/* ---- Unusable tokens, through the callback ---- */


static char tmpdir[256];

static void tmp_setup(void) {
  kn_test_mkdtemp(tmpdir, sizeof(tmpdir), "kn-credsso");
}


static void tmp_cleanup(void) {
  kn_test_rmtree(tmpdir);
}


/* Writes the cache file for `key` with `body`. */
static void write_cache(const char* name, const char* body) {
  char path[512];
  FILE* f;
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  fputs(body, f);
  ASSERT_OK(fclose(f));
}


typedef struct result_s {
  int started;
  int calls;
  int status;
  char message[2048];
} result_t;


static void on_done(int status, kn_credentials_t* creds, const char* message,
                    void* arg) {
  result_t* r = arg;
  ASSERT_EQ(1, r->started);
  r->calls++;
  r->status = status;
  ASSERT_NE(0, status);
  ASSERT_NULL(creds);
  ASSERT_NOT_NULL(message);
  snprintf(r->message, sizeof(r->message), "%s", message);
}


static void on_http_closed(void* arg) {
  (*(int*) arg)++;
}


static void run_sso(const kn_cred_sso_options_t* o, result_t* r) {
  uv_loop_t loop;
  kn_http_t* http;
  int closed = 0;

  memset(r, 0, sizeof(*r));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  ASSERT_OK(kn_cred_sso_start(&loop, http, o, on_done, r, NULL));
  r->started = 1;
  ASSERT_EQ(0, r->calls);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r->calls);
  /* Nothing reached the network. */
  ASSERT_EQ(0, kn_http_connections_opened(http));
  kn_http_close(http, on_http_closed, &closed);
  kn_test_loop_close(&loop);
  ASSERT_EQ(1, closed);
}


static void options(kn_cred_sso_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->profile = "dev";
  o->sso_session = "my-sso-session";
  o->region = "us-east-1";
  o->account_id = "123456789012";
  o->role_name = "ReadOnly";
  o->cache_dir = tmpdir;
  /* Never reached: every case here fails before the request. */
  o->endpoint = "http://127.0.0.1:9";
}


static void test_missing_cache_file(void) {
  kn_cred_sso_options_t o;
  result_t r;
  tmp_setup();
  options(&o);
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "SSO profile \"dev\""));
  ASSERT_NOT_NULL(strstr(r.message, "no cached token"));
  ASSERT_NOT_NULL(
      strstr(r.message, "b755b5ec73400c04400e978208d8559ad1f39053.json"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev"));
  ASSERT_NOT_NULL(strstr(r.message, "--sso-session my-sso-session"));

  /* A legacy profile: the file is named by the start URL, and the hint has
   * no --sso-session. */
  o.sso_session = NULL;
  o.start_url = "https://my-sso-portal.awsapps.com/start";
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(
      strstr(r.message, "c7aaaf71fcc8777ae2475525ed049d39fe16c484.json"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev`"));
  ASSERT_NULL(strstr(r.message, "--sso-session"));
  tmp_cleanup();
}


static void test_expired_token(void) {
  kn_cred_sso_options_t o;
  result_t r;
  tmp_setup();
  options(&o);
  write_cache("b755b5ec73400c04400e978208d8559ad1f39053.json",
              "{\"accessToken\": \"EXPIREDBEARERTOKEN\", "
              "\"expiresAt\": \"2020-01-01T00:00:00Z\"}");
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "has expired"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev"));
  ASSERT_NULL(strstr(r.message, "EXPIREDBEARERTOKEN"));
  tmp_cleanup();
}


static void test_unusable_token_file(void) {
  kn_cred_sso_options_t o;
  result_t r;
  tmp_setup();
  options(&o);
  write_cache("b755b5ec73400c04400e978208d8559ad1f39053.json",
              "{\"expiresAt\": \"2099-01-01T00:00:00Z\"}");
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "no \"accessToken\" string"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login"));

  write_cache("b755b5ec73400c04400e978208d8559ad1f39053.json",
              "{\"accessToken\": \"BROKENBEARER");
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "not JSON"));
  ASSERT_NULL(strstr(r.message, "BROKENBEARER"));

  write_cache("b755b5ec73400c04400e978208d8559ad1f39053.json",
              "{\"accessToken\": \"two\\r\\nlines\", "
              "\"expiresAt\": \"2099-01-01T00:00:00Z\"}");
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "spans lines"));
  tmp_cleanup();
}


/* Without cache_dir the file is under $HOME/.aws/sso/cache; without HOME
 * there is none. */
static void test_home(void) {
  kn_cred_sso_options_t o;
  result_t r;
  char* old = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
  tmp_setup();
  options(&o);
  o.cache_dir = NULL;
  setenv("HOME", tmpdir, 1);
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "/.aws/sso/cache/b755b5ec"));
  ASSERT_NOT_NULL(strstr(r.message, tmpdir));
  unsetenv("HOME");
  run_sso(&o, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "HOME is not set"));
  if (old != NULL) {
    setenv("HOME", old, 1);
    free(old);
  }
  tmp_cleanup();
}


static void never_cb(int status, kn_credentials_t* creds, const char* message,
                     void* arg) {
  (void) status;
  (void) creds;
  (void) message;
  (void) arg;
  ASSERT(0);
}


static void test_invalid_options(void) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_sso_options_t o;
  kn_cred_sso_t* s = NULL;
  int closed = 0;

  tmp_setup();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  options(&o);
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(NULL, http, &o, never_cb, NULL, &s));
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, NULL, &o, never_cb, NULL, &s));
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, NULL, never_cb, NULL, &s));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_sso_start(&loop, http, &o, NULL, NULL, &s));
  o.profile = "";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  options(&o);
  o.region = "us-east-1/evil";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  options(&o);
  o.role_name = "Read Only";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  options(&o);
  o.account_id = "1234&role_name=Admin";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  options(&o);
  o.account_id = NULL;
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  options(&o);
  o.sso_session = "";
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  /* A legacy profile needs its start URL. */
  o.sso_session = NULL;
  ASSERT_EQ(KINESIS_EINVAL,
            kn_cred_sso_start(&loop, http, &o, never_cb, NULL, &s));
  ASSERT_NULL(s);
  kn_cred_sso_cancel(NULL);
  kn_http_close(http, on_http_closed, &closed);
  kn_test_loop_close(&loop);
  ASSERT_EQ(1, closed);
  tmp_cleanup();
}


/* A cancel while the answer for a missing token waits for its tick: the
 * callback runs with KINESIS_ECANCELED instead. */
static void test_cancel_pending_answer(void) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_sso_options_t o;
  kn_cred_sso_t* s = NULL;
  result_t r;
  int closed = 0;

  tmp_setup();
  memset(&r, 0, sizeof(r));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  options(&o);
  ASSERT_OK(kn_cred_sso_start(&loop, http, &o, on_done, &r, &s));
  kn_cred_sso_cancel(s);
  r.started = 1;
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r.calls);
  ASSERT_EQ(KINESIS_ECANCELED, r.status);
  kn_http_close(http, on_http_closed, &closed);
  kn_test_loop_close(&loop);
  tmp_cleanup();
}


/* Each allocation of a start failing in turn: KINESIS_ENOMEM with nothing
 * left behind and no callback, or a start whose callback runs once; either
 * way every block is freed once the loop is done. */
static void test_start_alloc_failures(void) {
  kn_cred_sso_options_t o;
  int64_t i;
  int done = 0;

  tmp_setup();
  kn_test_alloc_install();
  for (i = 0; !done; i++) {
    uv_loop_t loop;
    kn_http_t* http;
    result_t r;
    int64_t live;
    int closed = 0;
    int rc;

    memset(&r, 0, sizeof(r));
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(kn_http_new(&loop, NULL, &http));
    options(&o);
    live = kn_test_alloc_live;
    kn_test_alloc_count = 0;
    kn_test_alloc_fail_at = i;
    rc = kn_cred_sso_start(&loop, http, &o, on_done, &r, NULL);
    r.started = 1;
    if (rc == 0) {
      ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
      ASSERT_EQ(1, r.calls);
      ASSERT(r.status == KINESIS_ENOCREDS || r.status == KINESIS_ENOMEM);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, rc);
      ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
      ASSERT_EQ(0, r.calls);
    }
    /* The failure point was past every allocation: the last round. */
    done = kn_test_alloc_count <= i;
    kn_test_alloc_fail_at = -1;
    ASSERT_EQ(live, kn_test_alloc_live);
    kn_http_close(http, on_http_closed, &closed);
    kn_test_loop_close(&loop);
  }
  ASSERT_GT(i, 3);
  tmp_cleanup();
}


KN_TEST_MAIN(KN_TEST(test_sha1_vectors), KN_TEST(test_cache_name),
             KN_TEST(test_parse_token), KN_TEST(test_parse_role),
             KN_TEST(test_missing_cache_file), KN_TEST(test_expired_token),
             KN_TEST(test_unusable_token_file), KN_TEST(test_home),
             KN_TEST(test_invalid_options), KN_TEST(test_cancel_pending_answer),
             KN_TEST(test_start_alloc_failures))
