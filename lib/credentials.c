#include "credentials.h"
#include "internal.h"

#include "buf.h"
#include "codec.h"
#include "cred_plan.h"
#include "cred_process.h"
#include "cred_source.h"
#include "cred_sso.h"
#include "cred_sts.h"
#include "defer.h"
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>


/* Defaults of kn_cred_options_t. */
#define KN_CRED_REFRESH_BEFORE_MS 300000
#define KN_CRED_METADATA_TIMEOUT_MS 1000

/* Never schedule a refresh sooner than this, so that an endpoint handing out
 * credentials that are about to expire cannot make us spin. */
#define KN_CRED_REFRESH_FLOOR_MS 1000

/* Credentials this close to their expiration are no longer handed out: a
 * request signed with them could arrive after they expired. */
#define KN_CRED_EXPIRY_MARGIN_MS 1000

/* Retries of a failed background refresh back off from 1 s to 1 min. */
#define KN_CRED_BACKOFF_BASE_MS 1000
#define KN_CRED_BACKOFF_CAP_MS 60000

/* ECS: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is relative to this host. */
#define KN_CONTAINER_BASE "http://169.254.170.2"

#define KN_IMDS_ENDPOINT_V4 "http://169.254.169.254"
#define KN_IMDS_ENDPOINT_V6 "http://[fd00:ec2::254]"
#define KN_IMDS_TOKEN_PATH "/latest/api/token"
#define KN_IMDS_CREDS_PATH "/latest/meta-data/iam/security-credentials/"
/* IMDSv2 session tokens may live up to six hours. */
#define KN_IMDS_TOKEN_TTL_HEADER "X-aws-ec2-metadata-token-ttl-seconds: 21600"


/* ---- Credentials ---- */


void kn_credentials_clear(kn_credentials_t* c) {
  if (c == NULL)
    return;
  kn_free(c->access_key_id);
  kn_scrub_free(c->secret_access_key);
  kn_scrub_free(c->session_token);
  kn_free(c->role_arn);
  kn_free(c->profile);
  memset(c, 0, sizeof(*c));
}


int kn_credentials_copy(kn_credentials_t* dst, const kn_credentials_t* src) {
  kn_credentials_t c;

  memset(&c, 0, sizeof(c));
  c.access_key_id = kn_strdup(src->access_key_id);
  c.secret_access_key = kn_strdup(src->secret_access_key);
  c.session_token = kn_strdup(src->session_token);
  c.role_arn = kn_strdup(src->role_arn);
  c.profile = kn_strdup(src->profile);
  if ((src->access_key_id != NULL && c.access_key_id == NULL) ||
      (src->secret_access_key != NULL && c.secret_access_key == NULL) ||
      (src->session_token != NULL && c.session_token == NULL) ||
      (src->role_arn != NULL && c.role_arn == NULL) ||
      (src->profile != NULL && c.profile == NULL)) {
    kn_credentials_clear(&c);
    memset(dst, 0, sizeof(*dst));
    return KINESIS_ENOMEM;
  }
  c.expiration_ms = src->expiration_ms;
  c.source = src->source;
  *dst = c;
  return 0;
}


void kn_credentials_take(kn_credentials_t* dst, kn_codec_creds_t* src,
                         const char* source) {
  memset(dst, 0, sizeof(*dst));
  dst->access_key_id = src->access_key_id;
  dst->secret_access_key = src->secret_access_key;
  dst->session_token = src->session_token;
  dst->expiration_ms = src->expiration_ms;
  dst->source = source;
  memset(src, 0, sizeof(*src));
}


/* ---- Small string helpers ---- */


static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}


/* ---- The provider chain ---- */


typedef enum {
  STEP_IDLE,
  STEP_CONTAINER,
  STEP_IMDS_TOKEN,
  STEP_IMDS_ROLE,
  STEP_IMDS_CREDS,
  STEP_STS,
  STEP_PROCESS,
  STEP_SSO
} fetch_step_t;


typedef struct cred_waiter_s {
  kn_queue_t node;
  kn_cred_cb cb;
  void* arg;
} cred_waiter_t;


struct kn_cred_provider_s {
  uv_loop_t* loop;
  kn_http_t* http;
  /* Copied options. */
  char* access_key_id;
  char* secret_access_key;
  char* session_token;
  char* profile;
  char* region;
  uint32_t refresh_before_ms;
  uint32_t metadata_timeout_ms;
  uint32_t process_timeout_ms;
  void (*warn)(const char* message, void* arg);
  void* warn_arg;
  int warned_exposed; /* a shared profile file was reported */

  /* The cache. kn_cred_provider_invalidate() only clears `have_creds`: the
   * strings stay allocated until the next fetch replaces them, because a
   * user callback may invalidate while other waiters are still being handed
   * the same struct. */
  kn_credentials_t creds;
  int have_creds;
  int64_t refresh_at_ms; /* wall clock; when temporary creds go stale */
  uint32_t backoff_ms;   /* last retry delay after a failed refresh */

  kn_queue_t waiters;
  /* Runs get() callbacks on a later tick: `deliver` is queued in `defer`
   * while waiters wait for it. */
  kn_defer_t defer;
  kn_defer_item_t deliver;
  /* Refreshes temporary credentials before they expire. Unreferenced: a
   * pending refresh alone does not keep the application's loop alive. */
  uv_timer_t refresh_timer;

  /* The fetch in flight: at most one, shared by every waiter. */
  fetch_step_t step;
  kn_http_req_t* req;
  char* imds_base;    /* metadata endpoint without a trailing slash */
  char* imds_shown;   /* the same for messages (kn_url_for_message) */
  char* token_header; /* "X-aws-ec2-metadata-token: ..." (a secret) */
  char* role;
  kn_cred_plan_t* plan;       /* roles to assume, while a fetch runs them */
  kn_sts_call_t* sts;         /* the STS call in flight */
  kn_cred_process_t* process; /* the credential_process run in flight */
  kn_cred_sso_t* sso;         /* the SSO fetch in flight */
  kn_cred_why_t why;          /* the sources tried and why each failed */

  kn_life_t life; /* Waiter callbacks running; closing, freeing. */
  int pending_closes;
  void (*close_cb)(void* arg);
  void* close_arg;
};


static void provider_resolve(kn_cred_provider_t* p);
static void provider_maybe_finish(kn_cred_provider_t* p);
static void on_defer_empty(kn_defer_t* d);
static void on_refresh_timer(uv_timer_t* t);


/* A transport failure in words: curl's own when it gave some. */
static const char* transport_words(int status, const kn_http_response_t* res) {
  if (res != NULL && res->transport_error != NULL &&
      res->transport_error[0] != '\0')
    return res->transport_error;
  return kinesis_strerror(status);
}


static int creds_usable(const kn_cred_provider_t* p, int64_t now) {
  if (!p->have_creds)
    return 0;
  return p->creds.expiration_ms == 0 ||
         now + KN_CRED_EXPIRY_MARGIN_MS < p->creds.expiration_ms;
}


static int creds_fresh(const kn_cred_provider_t* p, int64_t now) {
  if (!p->have_creds)
    return 0;
  return p->creds.expiration_ms == 0 || now < p->refresh_at_ms;
}


static void metadata_reset(kn_cred_provider_t* p);


static void fetch_reset(kn_cred_provider_t* p) {
  metadata_reset(p);
  kn_cred_plan_free(p->plan);
  p->plan = NULL;
}


static void metadata_reset(kn_cred_provider_t* p) {
  p->step = STEP_IDLE;
  kn_free(p->imds_base);
  kn_free(p->imds_shown);
  kn_scrub_free(p->token_header);
  kn_free(p->role);
  p->imds_base = NULL;
  p->imds_shown = NULL;
  p->token_header = NULL;
  p->role = NULL;
}


/* Hands every waiter queued now the same result. Waiters that callbacks add
 * meanwhile wait for their own tick. A waiter whose turn comes after a
 * callback closed the provider is cancelled instead. */
static void deliver_all(kn_cred_provider_t* p, int status,
                        const kn_credentials_t* creds, const char* message) {
  kn_queue_t batch;

  kn_queue_init(&batch);
  kn_queue_move(&p->waiters, &batch);
  kn_life_enter(&p->life);
  while (!kn_queue_empty(&batch)) {
    cred_waiter_t* w = kn_queue_data(batch.next, cred_waiter_t, node);
    kn_queue_remove(&w->node);
    if (kn_life_closing(&p->life))
      w->cb(KINESIS_ECANCELED, NULL, "credential provider closed", w->arg);
    else
      w->cb(status, status == 0 ? creds : NULL, message, w->arg);
    kn_free(w);
  }
  if (kn_life_leave(&p->life))
    provider_maybe_finish(p);
}


/* Takes ownership of the strings. */
static void cache_set(kn_cred_provider_t* p, char* access_key_id,
                      char* secret_access_key, char* session_token,
                      int64_t expiration_ms, const char* source, char* role_arn,
                      char* profile) {
  int64_t now = kn_now_ms();

  kn_credentials_clear(&p->creds);
  p->creds.access_key_id = access_key_id;
  p->creds.secret_access_key = secret_access_key;
  p->creds.session_token = session_token;
  p->creds.expiration_ms = expiration_ms;
  p->creds.source = source;
  p->creds.role_arn = role_arn;
  p->creds.profile = profile;
  p->have_creds = 1;
  p->backoff_ms = 0;
  uv_timer_stop(&p->refresh_timer);
  p->refresh_at_ms = 0;
  if (expiration_ms != 0) {
    int64_t left = expiration_ms - now;
    int64_t delay;
    /* Refresh refresh_before_ms ahead of the expiration; credentials that
     * live shorter than that are refreshed halfway through their life. */
    if (left - (int64_t) p->refresh_before_ms >= KN_CRED_REFRESH_FLOOR_MS)
      delay = left - (int64_t) p->refresh_before_ms;
    else
      delay = left / 2;
    if (delay < KN_CRED_REFRESH_FLOOR_MS)
      delay = KN_CRED_REFRESH_FLOOR_MS;
    p->refresh_at_ms = now + delay;
    uv_timer_start(&p->refresh_timer, on_refresh_timer, (uint64_t) delay, 0);
  }
}


static void plan_next(kn_cred_provider_t* p);


static void fetch_succeeded(kn_cred_provider_t* p, kn_codec_creds_t* cc,
                            const char* source) {
  if (p->plan != NULL && p->plan->base_pending) {
    /* credential_source: these credentials assume the first role. */
    metadata_reset(p);
    p->plan->base_pending = 0;
    kn_credentials_clear(&p->plan->cur);
    p->plan->cur.access_key_id = cc->access_key_id;
    p->plan->cur.secret_access_key = cc->secret_access_key;
    p->plan->cur.session_token = cc->session_token;
    p->plan->cur.expiration_ms = cc->expiration_ms;
    p->plan->cur.source = source;
    memset(cc, 0, sizeof(*cc));
    plan_next(p);
    return;
  }
  fetch_reset(p);
  cache_set(p, cc->access_key_id, cc->secret_access_key, cc->session_token,
            cc->expiration_ms, source, NULL, NULL);
  memset(cc, 0, sizeof(*cc));
  deliver_all(p, 0, &p->creds, NULL);
}


/*
 * The chain is exhausted. Old credentials that have not expired yet are
 * kept and handed out, and a background refresh retries with backoff; only
 * when there are none do waiters get the error.
 */
static void fetch_failed(kn_cred_provider_t* p, int status) {
  int64_t now = kn_now_ms();

  fetch_reset(p);
  if (creds_usable(p, now)) {
    if (p->warn != NULL && p->creds.expiration_ms != 0) {
      /* `why` names sources, files, endpoints and roles, never a secret. */
      char msg[2048];
      snprintf(msg, sizeof(msg),
               "credentials: refreshing the %s credentials failed (%s: "
               "%s); the current ones stay in use until they expire in "
               "%lld s",
               p->creds.source, kinesis_err_name(status),
               status == KINESIS_ENOMEM ? "out of memory"
                                        : kn_cred_why_message(&p->why),
               (long long) ((p->creds.expiration_ms - now) / 1000));
      p->warn(msg, p->warn_arg);
    }
    if (p->creds.expiration_ms != 0) {
      int64_t left = p->creds.expiration_ms - KN_CRED_EXPIRY_MARGIN_MS - now;
      int64_t delay;
      p->backoff_ms =
          p->backoff_ms == 0 ? KN_CRED_BACKOFF_BASE_MS : p->backoff_ms * 2;
      if (p->backoff_ms > KN_CRED_BACKOFF_CAP_MS)
        p->backoff_ms = KN_CRED_BACKOFF_CAP_MS;
      /* Retry before the old credentials run out, however long the
       * backoff has grown. */
      delay = p->backoff_ms;
      if (delay > left / 2)
        delay = left / 2;
      if (delay < KN_CRED_REFRESH_FLOOR_MS)
        delay = KN_CRED_REFRESH_FLOOR_MS;
      uv_timer_start(&p->refresh_timer, on_refresh_timer, (uint64_t) delay, 0);
    }
    deliver_all(p, 0, &p->creds, NULL);
    return;
  }
  p->have_creds = 0;
  p->backoff_ms = 0;
  uv_timer_stop(&p->refresh_timer);
  deliver_all(p, status, NULL,
              status == KINESIS_ENOMEM ? kinesis_strerror(status)
                                       : kn_cred_why_message(&p->why));
}


/* ---- Options, environment, profile ---- */


/* Options and environment keys: 1 when found (and cached), 0 when not, or
 * KINESIS_ENOMEM. */
static int resolve_static(kn_cred_provider_t* p) {
  const char* key;
  const char* secret;
  const char* token;
  char* k = NULL;
  char* s = NULL;
  char* t = NULL;

  kn_cred_why_add(&p->why, "tried: options");
  if (p->access_key_id != NULL && p->secret_access_key != NULL) {
    k = kn_strdup(p->access_key_id);
    s = kn_strdup(p->secret_access_key);
    t = kn_strdup(p->session_token);
    if (k == NULL || s == NULL || (p->session_token != NULL && t == NULL))
      goto nomem;
    cache_set(p, k, s, t, 0, "options", NULL, NULL);
    return 1;
  }
  if (p->access_key_id != NULL || p->secret_access_key != NULL)
    kn_cred_why_add(
        &p->why, " (%s set without %s)",
        p->access_key_id != NULL ? "access_key_id" : "secret_access_key",
        p->access_key_id != NULL ? "secret_access_key" : "access_key_id");

  kn_cred_why_add(&p->why, ", environment");
  if (p->profile != NULL) {
    /* As the AWS CLI's --profile: the profile asked for, not the keys the
     * environment happens to hold. */
    kn_cred_why_add(&p->why, " (skipped: profile \"%s\" given)", p->profile);
    return 0;
  }
  key = kn_profile_env("AWS_ACCESS_KEY_ID");
  secret = kn_profile_env("AWS_SECRET_ACCESS_KEY");
  if (key != NULL && secret != NULL) {
    token = kn_profile_env("AWS_SESSION_TOKEN");
    k = kn_strdup(key);
    s = kn_strdup(secret);
    t = kn_strdup(token);
    if (k == NULL || s == NULL || (token != NULL && t == NULL))
      goto nomem;
    cache_set(p, k, s, t, 0, "environment", NULL, NULL);
    return 1;
  }
  if (key != NULL || secret != NULL)
    kn_cred_why_add(
        &p->why, " (%s set without %s)",
        key != NULL ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
        key != NULL ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");

  return 0;

nomem:
  kn_free(k);
  kn_scrub_free(s);
  kn_scrub_free(t);
  return KINESIS_ENOMEM;
}


/* ---- Container credentials (ECS, EKS Pod Identity) ---- */


/*
 * Plain http is only safe to hosts that cannot be on the network path: the
 * loopback interface and the link-local addresses of the ECS and EKS agents.
 * Any other host needs https. The host is taken from the URL's authority
 * (after any "user@"), so "http://127.0.0.1@evil.example/" is refused.
 */
int kn_cred_container_uri_allowed(const char* uri) {
  kn_url_t u;
  char name[64];
  unsigned char addr[16];

  if (kn_url_parse(uri, strlen(uri), &u) != 0)
    return 0;
  if (kn_url_scheme_is(uri, &u, "https"))
    return 1;
  if (!kn_url_scheme_is(uri, &u, "http") || u.host.len >= sizeof(name))
    return 0;
  memcpy(name, uri + u.host.off, u.host.len);
  name[u.host.len] = '\0';
  if (u.ipv6) {
    static const unsigned char loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                               0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char eks[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0,
                                          0,    0, 0,    0,    0, 0, 0, 0x23};
    if (inet_pton(AF_INET6, name, addr) != 1)
      return 0;
    return memcmp(addr, loopback, 16) == 0 || memcmp(addr, eks, 16) == 0;
  }
  if (strcasecmp(name, "localhost") == 0)
    return 1;
  if (inet_pton(AF_INET, name, addr) != 1)
    return 0;
  if (addr[0] == 127)
    return 1;
  return addr[0] == 169 && addr[1] == 254 && addr[2] == 170 &&
         (addr[3] == 2 || addr[3] == 23);
}


/* A header value must stay on its line. */
static int header_value_ok(const char* v) {
  return strpbrk(v, "\r\n") == NULL;
}


/*
 * The Authorization header for the container endpoint, or NULL with
 * *header_out NULL when none is configured. Returns 0, KINESIS_ENOMEM, or
 * KINESIS_EINVAL after adding the reason to `why`.
 */
static int container_auth_header(kn_cred_provider_t* p, char** header_out) {
  const char* file = kn_profile_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char* token = kn_profile_env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  char* text = NULL;
  size_t len = 0;
  int r;

  *header_out = NULL;
  /* The token file wins: EKS rotates it, so it is read on every fetch. */
  if (file != NULL) {
    r = kn_profile_read_file(file, &text, &len);
    if (r != 0)
      return r;
    if (text == NULL) {
      kn_cred_why_add(&p->why,
                      "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
                      file);
      return KINESIS_EINVAL;
    }
    while (len > 0 && is_space(text[len - 1]))
      text[--len] = '\0';
    if (len == 0 || strlen(text) != len || !header_value_ok(text)) {
      kn_cred_why_add(
          &p->why,
          "the token in AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s is "
          "empty or spans lines",
          file);
      kn_profile_scrub_text(text, len);
      return KINESIS_EINVAL;
    }
    *header_out = kn_strcat3("Authorization: ", text, NULL);
    kn_profile_scrub_text(text, len);
    return *header_out == NULL ? KINESIS_ENOMEM : 0;
  }
  if (token != NULL) {
    if (!header_value_ok(token)) {
      kn_cred_why_add(&p->why, "AWS_CONTAINER_AUTHORIZATION_TOKEN spans lines");
      return KINESIS_EINVAL;
    }
    *header_out = kn_strcat3("Authorization: ", token, NULL);
    return *header_out == NULL ? KINESIS_ENOMEM : 0;
  }
  return 0;
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg);


/* Starts one metadata request. Returns 0 or an error from kn_http_send. */
static int fetch_send(kn_cred_provider_t* p, fetch_step_t step,
                      const char* method, const char* url, const char* header1,
                      const char* header2) {
  const char* headers[3];
  kn_http_request_t req;
  int n = 0;
  int r;

  if (header1 != NULL)
    headers[n++] = header1;
  if (header2 != NULL)
    headers[n++] = header2;
  headers[n] = NULL;
  memset(&req, 0, sizeof(req));
  req.method = method;
  req.url = url;
  req.headers = headers;
  req.timeout_ms = p->metadata_timeout_ms;
  req.connect_timeout_ms = p->metadata_timeout_ms;
  r = kn_http_send(p->http, &req, on_http_done, p, &p->req);
  if (r != 0) {
    p->req = NULL;
    return r;
  }
  p->step = step;
  return 0;
}


/* 1 when a request started, 0 when the source does not apply or failed to
 * start (the reason is in `why`), or KINESIS_ENOMEM. */
static int container_start(kn_cred_provider_t* p) {
  const char* rel = kn_profile_env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char* full = kn_profile_env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  char* url;
  char* shown;
  char* auth = NULL;
  int r;

  kn_cred_why_add(&p->why, ", container endpoint (");
  if (rel != NULL) {
    url = kn_strcat3(KN_CONTAINER_BASE, rel[0] == '/' ? "" : "/", rel);
  } else if (full != NULL) {
    if (!kn_cred_container_uri_allowed(full)) {
      kn_url_t u;
      shown = kn_url_for_message(full);
      if (shown == NULL)
        return KINESIS_ENOMEM;
      kn_cred_why_add(
          &p->why, "refused AWS_CONTAINER_CREDENTIALS_FULL_URI %s: %s)",
          shown,
          kn_url_parse(full, strlen(full), &u) != 0
              ? "not a URL"
              : "plain http is allowed only to loopback or the ECS/EKS "
                "link-local addresses; use https");
      kn_free(shown);
      return 0;
    }
    url = kn_strdup(full);
  } else {
    kn_cred_why_add(&p->why, "not configured)");
    return 0;
  }
  if (url == NULL)
    return KINESIS_ENOMEM;
  r = container_auth_header(p, &auth);
  if (r == KINESIS_EINVAL) {
    kn_cred_why_add(&p->why, ")");
    kn_free(url);
    return 0;
  }
  if (r != 0) {
    kn_free(url);
    return r;
  }
  /* The URL goes into `why` now; a success discards it. */
  shown = kn_url_for_message(url);
  if (shown == NULL) {
    kn_free(url);
    kn_scrub_free(auth);
    return KINESIS_ENOMEM;
  }
  kn_cred_why_add(&p->why, "%s: ", shown);
  kn_free(shown);
  r = fetch_send(p, STEP_CONTAINER, "GET", url, auth, NULL);
  kn_free(url);
  kn_scrub_free(auth);
  if (r == KINESIS_ENOMEM)
    return r;
  if (r != 0) {
    kn_cred_why_add(&p->why, "%s)", kinesis_strerror(r));
    return 0;
  }
  return 1;
}


/* ---- EC2 instance metadata (IMDSv2) ---- */


static int env_is_true(const char* name) {
  const char* v = kn_profile_env(name);
  size_t len;
  if (v == NULL)
    return 0;
  len = strlen(v);
  kn_profile_trim(&v, &len);
  return len == 4 && strncasecmp(v, "true", 4) == 0;
}


static int imds_start(kn_cred_provider_t* p) {
  const char* endpoint = kn_profile_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  const char* mode = kn_profile_env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
  size_t len;
  char* url;
  int r;

  kn_cred_why_add(&p->why, ", instance metadata (");
  if (env_is_true("AWS_EC2_METADATA_DISABLED")) {
    kn_cred_why_add(&p->why, "disabled by AWS_EC2_METADATA_DISABLED)");
    return 0;
  }
  if (endpoint == NULL)
    endpoint = mode != NULL && strcasecmp(mode, "IPv6") == 0
                   ? KN_IMDS_ENDPOINT_V6
                   : KN_IMDS_ENDPOINT_V4;
  len = strlen(endpoint);
  while (len > 0 && endpoint[len - 1] == '/')
    len--;
  p->imds_base = kn_strndup(endpoint, len);
  if (p->imds_base == NULL)
    return KINESIS_ENOMEM;
  p->imds_shown = kn_url_for_message(p->imds_base);
  if (p->imds_shown == NULL)
    return KINESIS_ENOMEM;
  url = kn_strcat3(p->imds_base, KN_IMDS_TOKEN_PATH, NULL);
  if (url == NULL)
    return KINESIS_ENOMEM;
  /* IMDSv2: a session token first, from a PUT that a misconfigured proxy or
   * an SSRF through a GET cannot issue. */
  r = fetch_send(p, STEP_IMDS_TOKEN, "PUT", url, KN_IMDS_TOKEN_TTL_HEADER,
                 NULL);
  if (r == KINESIS_ENOMEM) {
    kn_free(url);
    return r;
  }
  if (r != 0) {
    kn_cred_why_add(&p->why, "%s: %s)", p->imds_shown, kinesis_strerror(r));
    kn_free(url);
    return 0;
  }
  kn_free(url);
  return 1;
}


/* Continues the chain after the container endpoint failed. */
static void chain_after_container(kn_cred_provider_t* p) {
  int r = imds_start(p);
  if (r == 1)
    return;
  fetch_failed(p, r < 0 ? r : KINESIS_ENOCREDS);
}


/* IAM role names: alphanumerics and "+=,.@_-", at most 64 characters. */
static int role_name_ok(const char* s, size_t len) {
  size_t i;
  if (len == 0 || len > 64)
    return 0;
  for (i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || strchr("+=,.@_-", c) != NULL))
      return 0;
  }
  return 1;
}


/* Handles the answer to one IMDS request and starts the next. Returns 1
 * while requests continue, 0 on success (cached and delivered), or an
 * error with the reason in `why`. */
static int imds_step(kn_cred_provider_t* p, int status,
                     const kn_http_response_t* res) {
  const char* body = res->body != NULL ? (const char*) res->body : "";
  size_t len = res->body_len;
  const char* what = p->step == STEP_IMDS_TOKEN  ? "token request"
                     : p->step == STEP_IMDS_ROLE ? "role request"
                                                 : "credentials request";
  char* url;
  int r;

  if (status != 0) {
    kn_cred_why_add(&p->why, "%s to %s failed: %s)", what, p->imds_shown,
                    transport_words(status, res));
    return KINESIS_ENOCREDS;
  }

  if (p->step == STEP_IMDS_TOKEN) {
    if (res->status != 200) {
      kn_cred_why_add(&p->why, "token request to %s failed: HTTP %ld)",
                      p->imds_shown, res->status);
      return KINESIS_ENOCREDS;
    }
    kn_profile_trim(&body, &len);
    if (len == 0 || memchr(body, '\n', len) != NULL ||
        memchr(body, '\r', len) != NULL || strlen(body) < len) {
      kn_cred_why_add(&p->why, "%s returned a malformed token)", p->imds_shown);
      return KINESIS_ENOCREDS;
    }
    p->token_header = kn_malloc(sizeof("X-aws-ec2-metadata-token: ") + len);
    if (p->token_header == NULL)
      return KINESIS_ENOMEM;
    memcpy(p->token_header, "X-aws-ec2-metadata-token: ",
           sizeof("X-aws-ec2-metadata-token: ") - 1);
    memcpy(p->token_header + sizeof("X-aws-ec2-metadata-token: ") - 1, body,
           len);
    p->token_header[sizeof("X-aws-ec2-metadata-token: ") - 1 + len] = '\0';
    url = kn_strcat3(p->imds_base, KN_IMDS_CREDS_PATH, NULL);
    if (url == NULL)
      return KINESIS_ENOMEM;
    r = fetch_send(p, STEP_IMDS_ROLE, "GET", url, p->token_header, NULL);
    kn_free(url);
    goto sent;
  }

  if (p->step == STEP_IMDS_ROLE) {
    size_t line;
    if (res->status == 404) {
      kn_cred_why_add(&p->why, "no IAM role attached to the instance at %s)",
                      p->imds_shown);
      return KINESIS_ENOCREDS;
    }
    if (res->status != 200) {
      kn_cred_why_add(&p->why, "role request to %s failed: HTTP %ld)",
                      p->imds_shown, res->status);
      return KINESIS_ENOCREDS;
    }
    kn_profile_trim(&body, &len);
    line = strcspn(body, "\r\n");
    if (line < len)
      len = line;
    kn_profile_trim(&body, &len);
    if (len == 0) {
      kn_cred_why_add(&p->why, "no IAM role attached to the instance at %s)",
                      p->imds_shown);
      return KINESIS_ENOCREDS;
    }
    if (!role_name_ok(body, len)) {
      kn_cred_why_add(&p->why, "%s returned a malformed role name)",
                      p->imds_shown);
      return KINESIS_ENOCREDS;
    }
    p->role = kn_strndup(body, len);
    if (p->role == NULL)
      return KINESIS_ENOMEM;
    url = kn_strcat3(p->imds_base, KN_IMDS_CREDS_PATH, p->role);
    if (url == NULL)
      return KINESIS_ENOMEM;
    r = fetch_send(p, STEP_IMDS_CREDS, "GET", url, p->token_header, NULL);
    kn_free(url);
    goto sent;
  }

  if (res->status != 200) {
    kn_cred_why_add(&p->why, "credentials for role \"%s\" from %s: HTTP %ld)",
                    p->role, p->imds_shown, res->status);
    return KINESIS_ENOCREDS;
  }
  {
    kn_codec_creds_t cc;
    memset(&cc, 0, sizeof(cc));
    r = kn_codec_parse_credentials(res->body, res->body_len, &cc);
    if (r == KINESIS_ENOMEM)
      return r;
    if (r != 0) {
      kn_codec_creds_clear(&cc);
      kn_cred_why_add(&p->why, "malformed credentials for role \"%s\" from %s)",
                      p->role, p->imds_shown);
      return KINESIS_ENOCREDS;
    }
    fetch_succeeded(p, &cc, "imds");
    return 0;
  }

sent:
  if (r == KINESIS_ENOMEM)
    return r;
  if (r != 0) {
    kn_cred_why_add(&p->why, "%s: %s)", p->imds_shown, kinesis_strerror(r));
    return KINESIS_ENOCREDS;
  }
  return 1;
}


static void container_done(kn_cred_provider_t* p, int status,
                           const kn_http_response_t* res) {
  kn_codec_creds_t cc;
  int r;

  p->step = STEP_IDLE;
  if (status != 0) {
    kn_cred_why_add(&p->why, "%s)", transport_words(status, res));
  } else if (res->status != 200) {
    kn_cred_why_add(&p->why, "HTTP %ld)", res->status);
  } else {
    memset(&cc, 0, sizeof(cc));
    r = kn_codec_parse_credentials(res->body, res->body_len, &cc);
    if (r == 0) {
      fetch_succeeded(p, &cc, "container");
      return;
    }
    kn_codec_creds_clear(&cc);
    if (r == KINESIS_ENOMEM) {
      fetch_failed(p, r);
      return;
    }
    kn_cred_why_add(&p->why, "malformed credentials document)");
  }
  /* credential_source = EcsContainer names this source alone. */
  if (p->plan != NULL) {
    fetch_failed(p, KINESIS_ENOCREDS);
    return;
  }
  /* Like the AWS SDKs for Java and Rust, a failing container endpoint lets
   * the chain go on to instance metadata. */
  chain_after_container(p);
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg) {
  kn_cred_provider_t* p = arg;
  int r;

  p->req = NULL;
  if (kn_life_closing(&p->life)) {
    fetch_reset(p);
    provider_maybe_finish(p);
    return;
  }
  if (p->step == STEP_CONTAINER) {
    container_done(p, status, res);
    return;
  }
  r = imds_step(p, status, res);
  if (r < 0)
    fetch_failed(p, r);
}


static void on_sts_done(int status, kn_credentials_t* creds,
                        const char* message, void* arg);


/* Assumes the next role of the plan, or caches the last one's credentials
 * and hands them out. */
static void plan_next(kn_cred_provider_t* p) {
  kn_cred_plan_t* plan = p->plan;
  kn_role_hop_t* hop;
  kn_sts_request_t req;
  char* text = NULL;
  size_t len = 0;
  int r;

  if (plan->done == plan->nhops) {
    kn_credentials_t c = plan->cur;
    memset(&plan->cur, 0, sizeof(plan->cur));
    kn_free(c.profile);
    c.profile = plan->profile;
    plan->profile = NULL;
    fetch_reset(p);
    cache_set(p, c.access_key_id, c.secret_access_key, c.session_token,
              c.expiration_ms, c.source, c.role_arn, c.profile);
    deliver_all(p, 0, &p->creds, NULL);
    return;
  }
  hop = &plan->hops[plan->nhops - 1 - plan->done];
  memset(&req, 0, sizeof(req));
  req.role_arn = hop->role_arn;
  req.endpoint = plan->endpoint;
  req.region = plan->region;
  req.role_session_name = hop->session_name;
  req.external_id = hop->external_id;
  req.duration_seconds = hop->duration_seconds;
  if (hop->token_file != NULL) {
    /* Read again at every fetch: the orchestrator rotates the token. */
    r = kn_profile_read_file(hop->token_file, &text, &len);
    if (r != 0) {
      fetch_failed(p, r);
      return;
    }
    if (text == NULL) {
      kn_cred_why_add(&p->why, "cannot read the web identity token file %s)",
                      hop->token_file);
      fetch_failed(p, KINESIS_ENOCREDS);
      return;
    }
    while (len > 0 && is_space(text[len - 1]))
      text[--len] = '\0';
    if (len == 0 || strlen(text) != len) {
      kn_cred_why_add(&p->why,
                      "the web identity token file %s is empty or not text)",
                      hop->token_file);
      kn_profile_scrub_text(text, len);
      fetch_failed(p, KINESIS_ENOCREDS);
      return;
    }
    req.web_identity_token = text;
  } else {
    req.source = &plan->cur;
  }
  r = kn_sts_assume_role(p->loop, p->http, &req, on_sts_done, p, &p->sts);
  kn_profile_scrub_text(text, len);
  if (r != 0) {
    kn_cred_why_add(&p->why, "cannot start STS for %s: %s)", hop->role_arn,
                    kinesis_strerror(r));
    fetch_failed(p, r);
    return;
  }
  p->step = STEP_STS;
}


/* A step of the plan is done: an STS hop (`hop` 1), or the credential_process
 * run or SSO fetch its first credentials come from. Its credentials assume
 * the plan's next role, or are the answer. */
static void plan_step_done(kn_cred_provider_t* p, int status,
                           kn_credentials_t* creds, const char* message,
                           int hop) {
  if (kn_life_closing(&p->life)) {
    fetch_reset(p);
    provider_maybe_finish(p);
    return;
  }
  if (status != 0) {
    kn_cred_why_add(&p->why, "%s)", message);
    fetch_failed(p, status);
    return;
  }
  kn_credentials_clear(&p->plan->cur);
  p->plan->cur = *creds;
  memset(creds, 0, sizeof(*creds));
  p->plan->done += hop;
  plan_next(p);
}


static void on_sts_done(int status, kn_credentials_t* creds,
                        const char* message, void* arg) {
  kn_cred_provider_t* p = arg;

  p->sts = NULL;
  plan_step_done(p, status, creds, message, 1);
}


/* A credential_process run or an SSO fetch is done. */
static void on_source_done(int status, kn_credentials_t* creds,
                           const char* message, void* arg) {
  kn_cred_provider_t* p = arg;

  p->process = NULL;
  p->sso = NULL;
  plan_step_done(p, status, creds, message, 0);
}


/* credential_process's standard error, a line at a time. */
static void on_process_log(const char* line, void* arg) {
  kn_cred_provider_t* p = arg;
  if (p->warn != NULL)
    p->warn(line, p->warn_arg);
}


/* Starts the plan's credential_process or SSO fetch. 1 (started) or an
 * error with the reason in `why`. */
static int source_start(kn_cred_provider_t* p) {
  kn_cred_plan_t* plan = p->plan;
  int r;

  if (plan->base == KN_PLAN_BASE_PROCESS) {
    kn_cred_why_add(
        &p->why, "credential_process of profile \"%s\": ", plan->base_profile);
    r = kn_cred_process_start(p->loop, plan->process, p->process_timeout_ms,
                              on_process_log, p, on_source_done, p,
                              &p->process);
    if (r == 0) {
      p->step = STEP_PROCESS;
      return 1;
    }
    kn_cred_why_add(&p->why, "cannot start it: %s)", kinesis_strerror(r));
  } else {
    kn_cred_sso_options_t so;
    memset(&so, 0, sizeof(so));
    so.profile = plan->base_profile;
    so.sso_session = plan->sso_session;
    so.start_url = plan->sso_start_url;
    so.region = plan->sso_region;
    so.account_id = plan->sso_account_id;
    so.role_name = plan->sso_role_name;
    so.endpoint = plan->sso_endpoint;
    kn_cred_why_add(&p->why, "IAM Identity Center (SSO) for profile \"%s\": ",
                    plan->base_profile);
    r = kn_cred_sso_start(p->loop, p->http, &so, on_source_done, p, &p->sso);
    if (r == 0) {
      p->step = STEP_SSO;
      return 1;
    }
    kn_cred_why_add(&p->why, "cannot start it: %s%s)", kinesis_strerror(r),
                    r == KINESIS_EINVAL
                        ? " (sso_account_id, sso_role_name or "
                          "sso_region holds a character they cannot "
                          "hold)"
                        : "");
  }
  return r == KINESIS_EINVAL ? KINESIS_ENOCREDS : r;
}


/* Runs a plan: gets its first credentials, then assumes each role. Returns
 * 2 (started), or an error with the reason in `why`. */
static int plan_start(kn_cred_provider_t* p) {
  int r;
  switch (p->plan->base) {
    case KN_PLAN_BASE_PROCESS:
    case KN_PLAN_BASE_SSO:
      r = source_start(p);
      break;
    case KN_PLAN_BASE_CONTAINER:
      p->plan->base_pending = 1;
      r = container_start(p);
      break;
    case KN_PLAN_BASE_IMDS:
      p->plan->base_pending = 1;
      r = imds_start(p);
      break;
    default:
      plan_next(p);
      return 2;
  }
  if (r == 1)
    return 2;
  return r < 0 ? r : KINESIS_ENOCREDS;
}


/*
 * Web identity from the environment, then the profile (cred_plan.c).
 * Returns 1 (keys cached), 2 (a fetch started), 0 (nothing there: the
 * chain goes on), or an error with the reason in `why`, which ends the
 * chain: credentials that were asked for and cannot be had must not fall
 * back to other ones.
 */
static int resolve_profiles(kn_cred_provider_t* p) {
  kn_cred_plan_in_t in;
  kn_credentials_t keys;
  char* exposed = NULL;
  int r;

  memset(&in, 0, sizeof(in));
  in.profile = p->profile;
  in.region = p->region;
  in.check_exposed = p->warn != NULL && !p->warned_exposed;
  r = kn_cred_plan_resolve(&in, &p->why, &p->plan, &keys, &exposed);
  if (exposed != NULL) {
    p->warned_exposed = 1;
    p->warn(exposed, p->warn_arg);
    kn_free(exposed);
  }
  if (r == 1) {
    cache_set(p, keys.access_key_id, keys.secret_access_key, keys.session_token,
              0, keys.source, NULL, keys.profile);
    return 1;
  }
  if (r != 2)
    return r;
  return plan_start(p);
}


/* Runs the chain from the top. Options, environment and profile keys
 * answer at once; roles continue in on_sts_done, container and instance
 * metadata in on_http_done. */
static void provider_resolve(kn_cred_provider_t* p) {
  int r;

  KN_ASSERT(p->step == STEP_IDLE);
  kn_buf_reset(&p->why.buf);
  p->why.failed = 0;
  r = resolve_static(p);
  if (r == 0)
    r = resolve_profiles(p);
  if (r == 2)
    return;
  if (r == 1) {
    deliver_all(p, 0, &p->creds, NULL);
    return;
  }
  if (r == 0) {
    r = container_start(p);
    if (r == 1)
      return;
  }
  if (r == 0) {
    r = imds_start(p);
    if (r == 1)
      return;
  }
  fetch_failed(p, r < 0 ? r : KINESIS_ENOCREDS);
}


static void on_refresh_timer(uv_timer_t* t) {
  kn_cred_provider_t* p = t->data;
  if (kn_life_closing(&p->life) || p->step != STEP_IDLE)
    return;
  provider_resolve(p);
}


static void on_deliver(kn_defer_item_t* item) {
  kn_cred_provider_t* p = container_of(item, kn_cred_provider_t, deliver);
  int64_t now = kn_now_ms();

  if (kn_life_closing(&p->life) || kn_queue_empty(&p->waiters))
    return;
  if (creds_usable(p, now)) {
    /* Stale but valid credentials are handed out while a refresh runs in
     * the background, so callers never wait on the metadata service. */
    if (!creds_fresh(p, now) && p->step == STEP_IDLE &&
        !uv_is_active((uv_handle_t*) &p->refresh_timer))
      uv_timer_start(&p->refresh_timer, on_refresh_timer, 0, 0);
    deliver_all(p, 0, &p->creds, NULL);
    return;
  }
  /* A fetch is in flight: these waiters join it. */
  if (p->step != STEP_IDLE)
    return;
  provider_resolve(p);
}


int kn_cred_provider_new(uv_loop_t* loop, kn_http_t* http,
                         const kn_cred_options_t* opts,
                         kn_cred_provider_t** out) {
  kn_cred_provider_t* p;

  if (loop == NULL || http == NULL || out == NULL)
    return KINESIS_EINVAL;
  p = kn_calloc(1, sizeof(*p));
  if (p == NULL)
    return KINESIS_ENOMEM;
  p->loop = loop;
  p->http = http;
  p->refresh_before_ms = KN_CRED_REFRESH_BEFORE_MS;
  p->metadata_timeout_ms = KN_CRED_METADATA_TIMEOUT_MS;
  if (opts != NULL) {
    /* Empty strings count as unset, as they do in the environment. */
    if (opts->access_key_id != NULL && opts->access_key_id[0] != '\0')
      p->access_key_id = kn_strdup(opts->access_key_id);
    if (opts->secret_access_key != NULL && opts->secret_access_key[0] != '\0')
      p->secret_access_key = kn_strdup(opts->secret_access_key);
    if (opts->session_token != NULL && opts->session_token[0] != '\0')
      p->session_token = kn_strdup(opts->session_token);
    if (opts->profile != NULL && opts->profile[0] != '\0')
      p->profile = kn_strdup(opts->profile);
    if (opts->region != NULL && opts->region[0] != '\0')
      p->region = kn_strdup(opts->region);
    if ((opts->access_key_id != NULL && opts->access_key_id[0] != '\0' &&
         p->access_key_id == NULL) ||
        (opts->secret_access_key != NULL &&
         opts->secret_access_key[0] != '\0' && p->secret_access_key == NULL) ||
        (opts->session_token != NULL && opts->session_token[0] != '\0' &&
         p->session_token == NULL) ||
        (opts->profile != NULL && opts->profile[0] != '\0' &&
         p->profile == NULL) ||
        (opts->region != NULL && opts->region[0] != '\0' &&
         p->region == NULL)) {
      kn_free(p->access_key_id);
      kn_scrub_free(p->secret_access_key);
      kn_scrub_free(p->session_token);
      kn_free(p->profile);
      kn_free(p->region);
      kn_free(p);
      return KINESIS_ENOMEM;
    }
    if (opts->refresh_before_ms != 0)
      p->refresh_before_ms = opts->refresh_before_ms;
    if (opts->metadata_timeout_ms != 0)
      p->metadata_timeout_ms = opts->metadata_timeout_ms;
    p->process_timeout_ms = opts->process_timeout_ms;
    p->warn = opts->warn;
    p->warn_arg = opts->warn_arg;
  }
  kn_queue_init(&p->waiters);
  kn_buf_init(&p->why.buf);
  (void) kn_defer_init(loop, &p->defer, 0, on_defer_empty);
  kn_defer_item_init(&p->deliver);
  uv_timer_init(loop, &p->refresh_timer);
  p->defer.idle.data = p;
  p->refresh_timer.data = p;
  uv_unref((uv_handle_t*) &p->refresh_timer);
  *out = p;
  return 0;
}


int kn_cred_provider_get(kn_cred_provider_t* p, kn_cred_cb cb, void* arg) {
  cred_waiter_t* w;

  if (p == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&p->life))
    return KINESIS_ECLOSING;
  w = kn_malloc(sizeof(*w));
  if (w == NULL)
    return KINESIS_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  kn_queue_insert_tail(&p->waiters, &w->node);
  /* Even fresh cached credentials go out on a later tick (STYLE.md 4.2). */
  if (!kn_defer_queued(&p->deliver))
    kn_defer_add(&p->defer, &p->deliver, on_deliver);
  return 0;
}


const kn_credentials_t* kn_cred_provider_cached(kn_cred_provider_t* p) {
  if (p == NULL || !creds_fresh(p, kn_now_ms()))
    return NULL;
  return &p->creds;
}


void kn_cred_provider_invalidate(kn_cred_provider_t* p) {
  if (p == NULL)
    return;
  p->have_creds = 0;
  p->backoff_ms = 0;
  uv_timer_stop(&p->refresh_timer);
}


static void provider_free(kn_cred_provider_t* p) {
  fetch_reset(p);
  kn_credentials_clear(&p->creds);
  kn_buf_free(&p->why.buf);
  kn_free(p->access_key_id);
  kn_scrub_free(p->secret_access_key);
  kn_scrub_free(p->session_token);
  kn_free(p->profile);
  kn_free(p->region);
  kn_free(p);
}


/* Finishes a close once the timer and the queue have closed and the HTTP request, if
 * any, has called back: cancels the waiters, runs the close callback, then
 * frees. */
static void provider_maybe_finish(kn_cred_provider_t* p) {
  void (*cb)(void* arg);
  void* arg;

  if (!kn_life_must_finish(&p->life) || p->pending_closes > 0 ||
      p->req != NULL || p->sts != NULL || p->process != NULL ||
      p->sso != NULL)
    return;
  kn_life_begin_free(&p->life);
  kn_life_enter(&p->life);
  while (!kn_queue_empty(&p->waiters)) {
    cred_waiter_t* w = kn_queue_data(p->waiters.next, cred_waiter_t, node);
    kn_queue_remove(&w->node);
    w->cb(KINESIS_ECANCELED, NULL, "credential provider closed", w->arg);
    kn_free(w);
  }
  kn_life_leave(&p->life);
  cb = p->close_cb;
  arg = p->close_arg;
  provider_free(p);
  if (cb != NULL)
    cb(arg);
}


static void on_timer_closed(uv_handle_t* h) {
  kn_cred_provider_t* p = h->data;
  p->pending_closes--;
  provider_maybe_finish(p);
}


/* A close asked from a waiter's callback inside on_deliver closes the queue
 * once that tick has ended. */
static void on_defer_empty(kn_defer_t* d) {
  kn_cred_provider_t* p = container_of(d, kn_cred_provider_t, defer);
  if (kn_life_closing(&p->life) && !kn_life_closing(&d->life))
    kn_defer_close(d, NULL, on_timer_closed);
}


void kn_cred_provider_close(kn_cred_provider_t* p, void (*cb)(void* arg),
                            void* arg) {
  if (p == NULL || kn_life_begin_close(&p->life) < 0)
    return;
  p->close_cb = cb;
  p->close_arg = arg;
  /* The request's callback still runs, with KINESIS_ECANCELED, on a later
   * tick; the provider is freed only after it. */
  if (p->req != NULL)
    kn_http_cancel(p->req);
  if (p->sts != NULL)
    kn_sts_cancel(p->sts);
  if (p->process != NULL)
    kn_cred_process_cancel(p->process);
  if (p->sso != NULL)
    kn_cred_sso_cancel(p->sso);
  kn_defer_cancel(&p->defer, &p->deliver);
  uv_timer_stop(&p->refresh_timer);
  p->pending_closes = 2;
  if (!kn_defer_running(&p->defer))
    kn_defer_close(&p->defer, NULL, on_timer_closed);
  uv_close((uv_handle_t*) &p->refresh_timer, on_timer_closed);
}
