/* The credential chain against the fake container and EC2 instance metadata
 * endpoints of test/servers.js (KINESIS_TEST_METADATA_URL): the IMDSv2
 * flow, container credentials with a token or a token file, fall-through,
 * background refresh before expiry, and one fetch shared by concurrent
 * gets. */

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

static const char* base_url;


/* ---- The fake's control endpoint ---- */


static void metadata_control(const char* json) {
  cred_fake_control(base_url, "metadata", json);
}


typedef struct counters_s {
  long token;
  long role;
  long imds_creds;
  long container;
} counters_t;


static counters_t metadata_counters(void) {
  char* resp = cred_fake_state(base_url, "metadata");
  counters_t c;
  c.token = cred_fake_counter(resp, "token_requests");
  c.role = cred_fake_counter(resp, "role_requests");
  c.imds_creds = cred_fake_counter(resp, "imds_creds_requests");
  c.container = cred_fake_counter(resp, "container_requests");
  free(resp);
  return c;
}


/* ---- Environment ---- */


static char container_url[512];


/* Resets the fake, clears every variable the chain reads, points the files
 * at nothing and instance metadata at the fake. */
static void setup(void) {
  static const char* const vars[] = {
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SESSION_TOKEN",
      "AWS_PROFILE",
      "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
      "AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN",
      "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
      "AWS_EC2_METADATA_DISABLED",
      "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
  };
  size_t i;

  base_url = kn_test_require_env("KINESIS_TEST_METADATA_URL");
  snprintf(container_url, sizeof(container_url), "%s/container/creds",
           base_url);
  for (i = 0; i < KN_ARRAY_SIZE(vars); i++)
    unsetenv(vars[i]);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/kn-test/credentials", 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent/kn-test/config", 1);
  setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", base_url, 1);
  metadata_control("{\"reset\": true}");
}


/* ---- The provider on a loop ---- */


static void fixture_init(cred_fixture_t* f, uint32_t refresh_before_ms) {
  kn_cred_options_t opts;
  memset(&opts, 0, sizeof(opts));
  opts.refresh_before_ms = refresh_before_ms;
  opts.metadata_timeout_ms = 2000;
  cred_fixture_init(f, &opts);
}


/* ---- Tests ---- */


static void test_imds_flow(void) {
  cred_fixture_t f;
  cred_get_t r;
  counters_t c;
  const kn_credentials_t* cached;
  int64_t now = kn_now_ms();

  setup();
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  ASSERT_STR_EQ("imds-secret-1", r.secret_access_key);
  ASSERT_STR_EQ("imds-token-1", r.session_token);
  ASSERT_STR_EQ("imds", r.source);
  /* The fake hands out credentials for an hour by default. */
  ASSERT_GT(r.expiration_ms, now + 3500 * 1000);
  ASSERT_LT(r.expiration_ms, now + 3700 * 1000);
  c = metadata_counters();
  ASSERT_EQ(1, c.token);
  ASSERT_EQ(1, c.role);
  ASSERT_EQ(1, c.imds_creds);
  ASSERT_EQ(0, c.container);

  /* Cached: a second get fetches nothing. */
  cached = kn_cred_provider_cached(f.p);
  ASSERT_NOT_NULL(cached);
  ASSERT_STR_EQ("ASIAIMDS1", cached->access_key_id);
  cred_get_once(&f, &r);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  ASSERT_EQ(1, metadata_counters().imds_creds);

  /* Invalidated: the next get fetches again. */
  kn_cred_provider_invalidate(f.p);
  ASSERT_NULL(kn_cred_provider_cached(f.p));
  cred_get_once(&f, &r);
  ASSERT_STR_EQ("ASIAIMDS2", r.access_key_id);
  c = metadata_counters();
  ASSERT_EQ(2, c.token);
  ASSERT_EQ(2, c.imds_creds);
  cred_fixture_close(&f);
}


static void test_imds_disabled(void) {
  cred_fixture_t f;
  cred_get_t r;
  counters_t c;

  setup();
  setenv("AWS_EC2_METADATA_DISABLED", "TRUE", 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "disabled by AWS_EC2_METADATA_DISABLED"));
  c = metadata_counters();
  ASSERT_EQ(0, c.token + c.role + c.imds_creds + c.container);
  cred_fixture_close(&f);
}


static void test_imds_failures(void) {
  cred_fixture_t f;
  cred_get_t r;

  setup();
  metadata_control("{\"fail\": \"imds-token\"}");
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "instance metadata (token request to"));
  ASSERT_NOT_NULL(strstr(r.message, "HTTP 500"));
  ASSERT_EQ(0, metadata_counters().role);

  metadata_control("{\"fail\": \"imds-creds\"}");
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "role \"test-role\""));
  ASSERT_NOT_NULL(strstr(r.message, "HTTP 500"));
  ASSERT_NULL(strstr(r.message, "test-imds-token"));

  /* The endpoint recovers, and so does the provider. */
  metadata_control("{\"fail\": \"none\"}");
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  cred_fixture_close(&f);
}


static void test_container_token(void) {
  cred_fixture_t f;
  cred_get_t r;
  counters_t c;

  setup();
  /* Instance metadata is reachable too: the container endpoint wins. */
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "test-container-auth", 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIACONTAINER1", r.access_key_id);
  ASSERT_STR_EQ("container-secret-1", r.secret_access_key);
  ASSERT_STR_EQ("container-token-1", r.session_token);
  ASSERT_STR_EQ("container", r.source);
  ASSERT_GT(r.expiration_ms, kn_now_ms());
  c = metadata_counters();
  ASSERT_EQ(1, c.container);
  ASSERT_EQ(0, c.token + c.role + c.imds_creds);
  cred_fixture_close(&f);
}


static void test_container_token_file(void) {
  char path[] = "/tmp/kn-test-token-XXXXXX";
  static const char token[] = "test-container-auth\n";
  cred_fixture_t f;
  cred_get_t r;
  int fd;

  setup();
  fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ((ssize_t) strlen(token), write(fd, token, strlen(token)));
  close(fd);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url, 1);
  /* The file wins over the variable. */
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not-this-one", 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIACONTAINER1", r.access_key_id);
  cred_fixture_close(&f);
  unlink(path);
}


static void test_container_wrong_token(void) {
  cred_fixture_t f;
  cred_get_t r;
  counters_t c;

  setup();
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", container_url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "WRONG-TOKEN-SECRET", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "container endpoint ("));
  ASSERT_NOT_NULL(strstr(r.message, "/container/creds: HTTP 401)"));
  ASSERT_NOT_NULL(strstr(r.message, "disabled by AWS_EC2_METADATA_DISABLED"));
  ASSERT_NULL(strstr(r.message, "WRONG-TOKEN-SECRET"));
  cred_fixture_close(&f);

  /* With instance metadata available, the chain falls through to it. */
  unsetenv("AWS_EC2_METADATA_DISABLED");
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  c = metadata_counters();
  ASSERT_EQ(2, c.container);
  ASSERT_EQ(1, c.imds_creds);
  cred_fixture_close(&f);
}


static void test_container_http_refused(void) {
  cred_fixture_t f;
  cred_get_t r;
  char url[512];
  const char* port = strrchr(base_url, ':');

  setup();
  ASSERT_NOT_NULL(port);
  /* Plain http to a host that is neither loopback nor an ECS/EKS address. */
  snprintf(url, sizeof(url), "http://example.com%s/container/creds", port);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "test-container-auth", 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message,
                         "refused AWS_CONTAINER_CREDENTIALS_"
                         "FULL_URI http://example.com"));
  ASSERT_EQ(0, metadata_counters().container);
  cred_fixture_close(&f);

  /* "localhost" is loopback and allowed. */
  snprintf(url, sizeof(url), "http://localhost%s/container/creds", port);
  setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
  fixture_init(&f, 0);
  cred_get_once(&f, &r);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIACONTAINER1", r.access_key_id);
  cred_fixture_close(&f);
}


static void test_concurrent_gets_share_fetch(void) {
  cred_fixture_t f;
  cred_get_t r[5];
  counters_t c;
  int i;

  setup();
  fixture_init(&f, 0);
  memset(r, 0, sizeof(r));
  ASSERT_OK(kn_cred_provider_get(f.p, cred_on_get, &r[0]));
  ASSERT_OK(kn_cred_provider_get(f.p, cred_on_get, &r[1]));
  /* One turn of the loop starts the fetch; later gets join it. */
  uv_run(&f.loop, UV_RUN_NOWAIT);
  ASSERT_EQ(1, kn_http_pending(f.http));
  ASSERT_EQ(0, r[0].calls);
  for (i = 2; i < 5; i++)
    ASSERT_OK(kn_cred_provider_get(f.p, cred_on_get, &r[i]));
  ASSERT_OK(uv_run(&f.loop, UV_RUN_DEFAULT));
  for (i = 0; i < 5; i++) {
    ASSERT_EQ(1, r[i].calls);
    ASSERT_OK(r[i].status);
    ASSERT_STR_EQ("ASIAIMDS1", r[i].access_key_id);
  }
  c = metadata_counters();
  ASSERT_EQ(1, c.token);
  ASSERT_EQ(1, c.role);
  ASSERT_EQ(1, c.imds_creds);
  cred_fixture_close(&f);
}


/* Polls the provider on a timer until a condition holds or a deadline
 * passes. The provider stays open: the test inspects it afterwards. */
typedef struct poll_ctx_s {
  cred_fixture_t* f;
  uv_timer_t timer;
  uint64_t deadline;
  int state;
  int done;
  cred_get_t stale;
} poll_ctx_t;


static void poll_finish(poll_ctx_t* ctx) {
  ctx->done = 1;
  uv_close((uv_handle_t*) &ctx->timer, NULL);
}


static void poll_run(cred_fixture_t* f, poll_ctx_t* ctx, uv_timer_cb cb,
                     uint64_t every_ms, uint64_t deadline_ms) {
  ctx->f = f;
  ctx->deadline = uv_now(&f->loop) + deadline_ms;
  ASSERT_OK(uv_timer_init(&f->loop, &ctx->timer));
  ctx->timer.data = ctx;
  ASSERT_OK(uv_timer_start(&ctx->timer, cb, every_ms, every_ms));
  while (!ctx->done)
    uv_run(&f->loop, UV_RUN_ONCE);
}


static void on_refresh_poll(uv_timer_t* t) {
  poll_ctx_t* ctx = t->data;
  const kn_credentials_t* c = kn_cred_provider_cached(ctx->f->p);

  if ((c != NULL && strcmp(c->access_key_id, "ASIAIMDS1") != 0) ||
      uv_now(t->loop) > ctx->deadline)
    poll_finish(ctx);
}


static void test_refresh_before_expiry(void) {
  cred_fixture_t f;
  cred_get_t r;
  poll_ctx_t ctx;
  const kn_credentials_t* c;
  counters_t n;
  uint64_t start;

  setup();
  metadata_control("{\"expiry_seconds\": 3}");
  fixture_init(&f, 2000);
  cred_get_once(&f, &r);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  ASSERT_LT(r.expiration_ms, kn_now_ms() + 3500);

  /* No more calls from us: the provider refreshes on its own. */
  memset(&ctx, 0, sizeof(ctx));
  uv_update_time(&f.loop);
  start = uv_now(&f.loop);
  poll_run(&f, &ctx, on_refresh_poll, 50, 5000);
  /* Credentials that live shorter than refresh_before_ms plus a second are
   * refreshed halfway through their life: here within 1 to 1.5 s. */
  ASSERT_LT(uv_now(&f.loop) - start, 2500);
  n = metadata_counters();
  ASSERT_EQ(2, n.token);
  ASSERT_EQ(2, n.imds_creds);
  c = kn_cred_provider_cached(f.p);
  ASSERT_NOT_NULL(c);
  ASSERT_STR_EQ("ASIAIMDS2", c->access_key_id);
  ASSERT_STR_EQ("imds-token-2", c->session_token);
  cred_fixture_close(&f);
}


static void on_failing_refresh_poll(uv_timer_t* t) {
  poll_ctx_t* ctx = t->data;
  const kn_credentials_t* c;

  if (uv_now(t->loop) > ctx->deadline) {
    poll_finish(ctx);
    return;
  }
  if (ctx->state == 0) {
    /* Wait for the refresh to fail. */
    if (metadata_counters().imds_creds < 2)
      return;
    /* The old credentials are stale but have not expired: get() still
     * hands them out, while the cache refuses them. */
    ASSERT_NULL(kn_cred_provider_cached(ctx->f->p));
    ASSERT_OK(kn_cred_provider_get(ctx->f->p, cred_on_get, &ctx->stale));
    metadata_control("{\"fail\": \"none\", \"expiry_seconds\": 3600}");
    ctx->state = 1;
    return;
  }
  c = kn_cred_provider_cached(ctx->f->p);
  if (c != NULL && strcmp(c->access_key_id, "ASIAIMDS1") != 0)
    poll_finish(ctx);
}


static void test_failed_refresh_keeps_creds(void) {
  cred_fixture_t f;
  cred_get_t r;
  poll_ctx_t ctx;
  const kn_credentials_t* c;

  setup();
  metadata_control("{\"expiry_seconds\": 5}");
  fixture_init(&f, 2000);
  cred_get_once(&f, &r);
  ASSERT_STR_EQ("ASIAIMDS1", r.access_key_id);
  metadata_control("{\"fail\": \"imds-creds\"}");

  /* The refresh at about 2-3 s fails; the retry a second later works. */
  memset(&ctx, 0, sizeof(ctx));
  poll_run(&f, &ctx, on_failing_refresh_poll, 100, 9000);
  ASSERT_EQ(1, ctx.state);
  ASSERT_EQ(1, ctx.stale.calls);
  ASSERT_OK(ctx.stale.status);
  ASSERT_STR_EQ("ASIAIMDS1", ctx.stale.access_key_id);
  c = kn_cred_provider_cached(f.p);
  ASSERT_NOT_NULL(c);
  ASSERT_STR_EQ("ASIAIMDS2", c->access_key_id);
  ASSERT_GE(metadata_counters().imds_creds, 3);
  cred_fixture_close(&f);
}


KN_TEST_MAIN(KN_TEST(test_imds_flow), KN_TEST(test_imds_disabled),
             KN_TEST(test_imds_failures), KN_TEST(test_container_token),
             KN_TEST(test_container_token_file),
             KN_TEST(test_container_wrong_token),
             KN_TEST(test_container_http_refused),
             KN_TEST(test_concurrent_gets_share_fetch),
             KN_TEST(test_refresh_before_expiry),
             KN_TEST(test_failed_refresh_keeps_creds))
