/* IAM Identity Center (lib/cred_sso.c) against the fake portal of
 * test/servers.js (KINESIS_TEST_SSO_URL): role credentials from a cached
 * token, for an sso_session profile and a legacy one; an expired or missing
 * token (no request at all); the portal refusing the token (401) or the
 * role (403); a malformed answer; 5xx answers retried, then given up; a
 * refused connection; the token file read again on each start; cancel
 * while the request is in flight. No message holds the bearer token or a
 * secret. */

#include "cred_util.h"
#include "fault.h"
#include "harness.h"
#include "internal.h"

#include "cred_sso.h"
#include "http.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fake portal's token, role and account (test/servers.js). */
#define SSO_TOKEN "test-sso-bearer-token"
#define SSO_ROLE "test-sso-role"
#define SSO_ACCOUNT "123456789012"
/* printf '%s' test-session | sha1sum */
#define SESSION_FILE "70780fa17c57df49aa7c7f603fde6ea7a14148f2.json"

static const char* base_url;
static char tmpdir[256];


/* ---- The fake's control endpoint ---- */


static void sso_control(const char* json) {
  cred_fake_control(base_url, "sso", json);
}


static long sso_counter(const char* name) {
  char* resp = cred_fake_state(base_url, "sso");
  long v = cred_fake_counter(resp, name);
  free(resp);
  return v;
}


/* ---- The token cache ---- */


static void setup(void) {
  base_url = kn_test_require_env("KINESIS_TEST_SSO_URL");
  kn_test_mkdtemp(tmpdir, sizeof(tmpdir), "kn-sso");
  sso_control("{\"reset\": true}");
}


static void cleanup(void) {
  kn_test_rmtree(tmpdir);
}


/* Writes the cache file `name` as `aws sso login` would, with `token`
 * expiring `expires_in_s` from now (negative: in the past). */
static void write_token(const char* name, const char* token,
                        long expires_in_s) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  cred_write_sso_token(path, token, expires_in_s,
                       ", \"clientId\": \"x\", \"refreshToken\": \"not-used\"");
}


static void options(kn_cred_sso_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->profile = "dev";
  o->sso_session = "test-session";
  o->region = "us-east-1";
  o->account_id = SSO_ACCOUNT;
  o->role_name = SSO_ROLE;
  o->cache_dir = tmpdir;
  o->endpoint = base_url;
}


/* ---- One fetch on a loop ---- */


typedef struct result_s {
  int started;
  int calls;
  int status;
  /* Copies of the credentials, made without the library's allocator (the
   * allocation-failure test counts its blocks). */
  struct {
    char access_key_id[64];
    char secret_access_key[64];
    char session_token[64];
    int64_t expiration_ms;
    const char* source;
  } creds;
  char message[2048];
  int cancel_at_start;
} result_t;


static void on_done(int status, kn_credentials_t* creds, const char* message,
                    void* arg) {
  result_t* r = arg;
  ASSERT_EQ(1, r->started);
  ASSERT_EQ(0, r->calls);
  r->calls++;
  r->status = status;
  if (status == 0) {
    ASSERT_NOT_NULL(creds);
    ASSERT_NULL(message);
    ASSERT_NOT_NULL(creds->session_token);
    snprintf(r->creds.access_key_id, sizeof(r->creds.access_key_id), "%s",
             creds->access_key_id);
    snprintf(r->creds.secret_access_key, sizeof(r->creds.secret_access_key),
             "%s", creds->secret_access_key);
    snprintf(r->creds.session_token, sizeof(r->creds.session_token), "%s",
             creds->session_token);
    r->creds.expiration_ms = creds->expiration_ms;
    r->creds.source = creds->source;
  } else {
    ASSERT_NULL(creds);
    ASSERT_NOT_NULL(message);
    snprintf(r->message, sizeof(r->message), "%s", message);
    /* Never the bearer token. */
    ASSERT_NULL(strstr(message, SSO_TOKEN));
    ASSERT_NULL(strstr(message, "wrong-bearer"));
  }
}


static void on_http_closed(void* arg) {
  (*(int*) arg)++;
}


static void run_sso(const kn_cred_sso_options_t* o, result_t* r,
                    int cancel_at_start) {
  uv_loop_t loop;
  kn_http_t* http;
  kn_cred_sso_t* s = NULL;
  int closed = 0;

  memset(r, 0, sizeof(*r));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  ASSERT_OK(kn_cred_sso_start(&loop, http, o, on_done, r, &s));
  ASSERT_NOT_NULL(s);
  if (cancel_at_start)
    kn_cred_sso_cancel(s);
  r->started = 1;
  ASSERT_EQ(0, r->calls);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r->calls);
  kn_http_close(http, on_http_closed, &closed);
  kn_test_loop_close(&loop);
  ASSERT_EQ(1, closed);
}


/* ---- Cases ---- */


static void test_good(void) {
  kn_cred_sso_options_t o;
  result_t r;
  int64_t now = kn_now_ms();
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  run_sso(&o, &r, 0);
  if (r.status != 0)
    fprintf(stderr, "message: %s\n", r.message);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASSO1", r.creds.access_key_id);
  ASSERT_STR_EQ("sso-secret-1", r.creds.secret_access_key);
  ASSERT_STR_EQ("sso-session-token-1", r.creds.session_token);
  ASSERT_STR_EQ("sso", r.creds.source);
  /* An hour from now, in milliseconds. */
  ASSERT_GT(r.creds.expiration_ms, now + 3590 * 1000LL);
  ASSERT_LT(r.creds.expiration_ms, now + 3610 * 1000LL);
  ASSERT_EQ(1, sso_counter("requests"));
  ASSERT_EQ(0, sso_counter("refused"));

  /* The endpoint with a trailing slash is the same. */
  {
    char ep[512];
    snprintf(ep, sizeof(ep), "%s/", base_url);
    o.endpoint = ep;
    run_sso(&o, &r, 0);
    ASSERT_OK(r.status);
    ASSERT_STR_EQ("ASIASSO2", r.creds.access_key_id);
  }
  cleanup();
}


/* A legacy profile: sso_start_url names the cache file. */
static void test_good_legacy(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  o.sso_session = NULL;
  o.start_url = "https://test.awsapps.com/start";
  /* printf '%s' https://test.awsapps.com/start | sha1sum */
  write_token("bfe9e37c85cc299e34d8c03b631672483f78cd01.json", SSO_TOKEN, 3600);
  run_sso(&o, &r, 0);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASSO1", r.creds.access_key_id);
  cleanup();
}


static void test_expired_token(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, -60);
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "has expired"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev"));
  ASSERT_EQ(0, sso_counter("requests"));
  cleanup();
}


static void test_missing_cache_file(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "no cached token"));
  ASSERT_NOT_NULL(strstr(r.message, SESSION_FILE));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev"));
  ASSERT_EQ(0, sso_counter("requests"));
  cleanup();
}


/* The portal refuses a token it does not know (401), and the role of
 * another account (403): both say to log in again, with no retry. */
static void test_unauthorized(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, "wrong-bearer-token", 3600);
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "HTTP 401 UnauthorizedException"));
  ASSERT_NOT_NULL(strstr(r.message, "aws sso login --profile dev"));
  ASSERT_EQ(1, sso_counter("requests"));

  /* The token file is read again on each start: after a login, the same
   * options work. */
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  run_sso(&o, &r, 0);
  ASSERT_OK(r.status);

  sso_control("{\"reset\": true, \"fail\": \"401\", \"fail_times\": 1}");
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_EQ(1, sso_counter("requests"));

  o.account_id = "999999999999";
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "HTTP 403 ForbiddenException"));
  cleanup();
}


static void test_malformed_answer(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  sso_control("{\"fail\": \"malformed\"}");
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "malformed GetRoleCredentials answer"));
  ASSERT_NOT_NULL(strstr(r.message, "secretAccessKey"));
  ASSERT_NULL(strstr(r.message, "ASIASSOBAD"));
  ASSERT_EQ(1, sso_counter("requests"));
  cleanup();
}


/* Two 500s, then an answer: three requests, and credentials. */
static void test_5xx_then_success(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  sso_control("{\"fail\": \"500\", \"fail_times\": 2}");
  run_sso(&o, &r, 0);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIASSO1", r.creds.access_key_id);
  ASSERT_EQ(3, sso_counter("requests"));
  cleanup();
}


static void test_5xx_gives_up(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  sso_control("{\"fail\": \"500\", \"fail_times\": 0}");
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ESERVICE, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "HTTP 500 InternalServerException"));
  ASSERT_NOT_NULL(strstr(r.message, "after retries"));
  ASSERT_EQ(KN_CRED_SSO_ATTEMPTS, sso_counter("requests"));
  cleanup();
}


/* Nothing listens: each attempt is refused, then the transport error. */
static void test_connection_refused(void) {
  kn_cred_sso_options_t o;
  result_t r;
  char ep[64];
  uv_loop_t loop;
  uv_tcp_t probe;
  struct sockaddr_in addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound);

  setup();
  /* A port that was free a moment ago. */
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(uv_tcp_init(&loop, &probe));
  ASSERT_OK(uv_ip4_addr("127.0.0.1", 0, &addr));
  ASSERT_OK(uv_tcp_bind(&probe, (const struct sockaddr*) &addr, 0));
  ASSERT_OK(uv_tcp_getsockname(&probe, (struct sockaddr*) &bound, &len));
  snprintf(ep, sizeof(ep), "http://user:pw@127.0.0.1:%d",
           ntohs(((struct sockaddr_in*) &bound)->sin_port));
  uv_close((uv_handle_t*) &probe, NULL);
  kn_test_loop_close(&loop);

  options(&o);
  o.endpoint = ep;
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  run_sso(&o, &r, 0);
  ASSERT_EQ(KINESIS_ETRANSPORT, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "(3 attempts)"));
  /* The endpoint is named without its user information. */
  ASSERT_NOT_NULL(strstr(r.message, "http://***@127.0.0.1:"));
  ASSERT_NULL(strstr(r.message, "pw"));
  cleanup();
}


static void test_cancel_in_flight(void) {
  kn_cred_sso_options_t o;
  result_t r;
  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  run_sso(&o, &r, 1);
  ASSERT_EQ(KINESIS_ECANCELED, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "canceled"));
  cleanup();
}


typedef struct delayed_cancel_s {
  uv_timer_t timer;
  kn_cred_sso_t* s;
} delayed_cancel_t;


static void on_cancel_timer(uv_timer_t* t) {
  delayed_cancel_t* d = t->data;
  kn_cred_sso_cancel(d->s);
  uv_close((uv_handle_t*) t, NULL);
}


/* A cancel while the fetch waits to try again after a 500. */
static void test_cancel_during_backoff(void) {
  kn_cred_sso_options_t o;
  result_t r;
  uv_loop_t loop;
  kn_http_t* http;
  delayed_cancel_t d;
  int closed = 0;

  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
  sso_control("{\"fail\": \"500\", \"fail_times\": 0}");
  memset(&r, 0, sizeof(r));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  ASSERT_OK(kn_cred_sso_start(&loop, http, &o, on_done, &r, &d.s));
  r.started = 1;
  /* The first answer comes within a few ms; the retry waits 200 ms. */
  ASSERT_OK(uv_timer_init(&loop, &d.timer));
  d.timer.data = &d;
  ASSERT_OK(
      uv_timer_start(&d.timer, on_cancel_timer, KN_CRED_SSO_RETRY_MS / 2, 0));
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r.calls);
  ASSERT_EQ(KINESIS_ECANCELED, r.status);
  ASSERT_EQ(1, sso_counter("requests"));
  kn_http_close(http, on_http_closed, &closed);
  kn_test_loop_close(&loop);
  cleanup();
}


/* The good path failing each allocation in turn, through the request and
 * its answer: KINESIS_ENOMEM from the start or in the callback, or
 * credentials; never a leak. */
static void test_alloc_failures(void) {
  kn_cred_sso_options_t o;
  int64_t i;
  int done = 0;
  int ok = 0;

  setup();
  options(&o);
  write_token(SESSION_FILE, SSO_TOKEN, 3600);
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
    live = kn_test_alloc_live;
    kn_test_alloc_count = 0;
    kn_test_alloc_fail_at = i;
    rc = kn_http_new(&loop, NULL, &http);
    if (rc == 0) {
      rc = kn_cred_sso_start(&loop, http, &o, on_done, &r, NULL);
      r.started = 1;
      if (rc == 0) {
        ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
        ASSERT_EQ(1, r.calls);
        if (r.status == 0)
          ok++;
        else if (r.status != KINESIS_ENOMEM && r.status != KINESIS_ETRANSPORT)
          fprintf(stderr, "allocation %lld: %s\n", (long long) i, r.message);
      } else {
        ASSERT_EQ(KINESIS_ENOMEM, rc);
      }
      kn_http_close(http, on_http_closed, &closed);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, rc);
    }
    kn_test_loop_close(&loop);
    done = kn_test_alloc_count <= i;
    kn_test_alloc_fail_at = -1;
    ASSERT_EQ(live, kn_test_alloc_live);
  }
  /* The last round failed nothing. */
  ASSERT_GT(ok, 0);
  ASSERT_GT(i, 10);
  cleanup();
}


KN_TEST_MAIN(KN_TEST(test_good), KN_TEST(test_good_legacy),
             KN_TEST(test_expired_token), KN_TEST(test_missing_cache_file),
             KN_TEST(test_unauthorized), KN_TEST(test_malformed_answer),
             KN_TEST(test_5xx_then_success), KN_TEST(test_5xx_gives_up),
             KN_TEST(test_connection_refused), KN_TEST(test_cancel_in_flight),
             KN_TEST(test_cancel_during_backoff), KN_TEST(test_alloc_failures))
