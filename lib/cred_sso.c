#include "cred_sso.h"
#include "internal.h"

#include "buf.h"
#include "codec.h"
#include "crypto.h"
#include "url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a message naming a file or an endpoint. */
#define KN_SSO_MESSAGE_MAX 2048

struct kn_cred_sso_s {
  uv_loop_t* loop;
  kn_http_t* http;
  uv_timer_t timer;   /* retry backoff */
  kn_http_req_t* req; /* the request in flight, or NULL */

  char* profile;
  char* session; /* NULL for a legacy profile */
  char* url;     /* the GetRoleCredentials request */
  char* shown;   /* the endpoint, fit for messages */
  char* header;  /* "x-amz-sso_bearer_token: TOKEN"; wiped */
  uint32_t timeout_ms;
  unsigned attempts; /* requests sent so far */
  uint32_t backoff_ms;

  /* KN_LIFE_CLOSING: canceled. KN_LIFE_FREEING: the timer is closing and
   * the result is set. depth: the result's callback is running, after
   * which `s` is freed; a cancel from inside it does nothing. */
  kn_life_t life;

  /* The result, delivered once the timer is closed. */
  int status;
  kn_credentials_t creds;
  char message[KN_SSO_MESSAGE_MAX];

  kn_cred_source_cb cb;
  void* arg;
};


/* Overwrites a secret before its memory is freed. */
static void sso_free(kn_cred_sso_t* s) {
  kn_free(s->profile);
  kn_free(s->session);
  kn_free(s->url);
  kn_free(s->shown);
  kn_scrub_free(s->header);
  kn_credentials_clear(&s->creds);
  kn_free(s);
}


static void on_timer_closed(uv_handle_t* h) {
  kn_cred_sso_t* s = h->data;

  if (s->cb != NULL) {
    kn_life_enter(&s->life);
    if (kn_life_closing(&s->life)) {
      char msg[256];
      snprintf(msg, sizeof(msg), "SSO profile \"%s\": canceled", s->profile);
      s->cb(KINESIS_ECANCELED, NULL, msg, s->arg);
    } else if (s->status == 0) {
      s->cb(0, &s->creds, NULL, s->arg);
    } else {
      s->cb(s->status, NULL, s->message, s->arg);
    }
  }
  sso_free(s);
}


/* Sets the result (when `status` is not 0, `fmt` is the message after the
 * profile's name) and closes the timer; the callback runs from its close
 * callback, always on a later tick. */
static void finish(kn_cred_sso_t* s, int status, const char* fmt, ...) {
  va_list ap;
  int n;

  if (kn_life_freeing(&s->life))
    return;
  (void) kn_life_begin_free(&s->life);
  s->status = status;
  if (status != 0 && fmt != NULL) {
    n = snprintf(s->message, sizeof(s->message),
                 "SSO profile \"%s\": ", s->profile);
    if (n > 0 && (size_t) n < sizeof(s->message)) {
      va_start(ap, fmt);
      vsnprintf(s->message + n, sizeof(s->message) - (size_t) n, fmt, ap);
      va_end(ap);
    }
  }
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t*) &s->timer, on_timer_closed);
}


/* What to run to get a fresh token. */
static const char* login_hint(const kn_cred_sso_t* s, char* buf, size_t size) {
  if (s->session != NULL)
    snprintf(buf, size,
             "run `aws sso login --profile %s` (or `aws sso login "
             "--sso-session %s`)",
             s->profile, s->session);
  else
    snprintf(buf, size, "run `aws sso login --profile %s`", s->profile);
  return buf;
}


/* ---- Checking the options ---- */


static int chars_ok(const char* v, const char* extra) {
  const char* c;
  if (v == NULL || v[0] == '\0')
    return 0;
  for (c = v; *c != '\0'; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || strchr(extra, *c) != NULL))
      return 0;
  return 1;
}


/* Appends `v` percent-encoded (RFC 3986: all but the unreserved). */
static int append_query_value(kn_buf_t* b, const char* v) {
  static const char hex[] = "0123456789ABCDEF";
  const char* c;
  int r = 0;
  for (c = v; *c != '\0' && r == 0; c++) {
    unsigned char u = (unsigned char) *c;
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
        (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' ||
        u == '~') {
      r = kn_buf_append_byte(b, u);
    } else {
      char e[3];
      e[0] = '%';
      e[1] = hex[u >> 4];
      e[2] = hex[u & 15];
      r = kn_buf_append(b, e, 3);
    }
  }
  return r;
}


/* Builds the request URL and its shown form. Returns 0 or
 * KINESIS_ENOMEM. */
static int build_url(kn_cred_sso_t* s, const kn_cred_sso_options_t* o) {
  kn_buf_t b;
  size_t len;
  int r;

  kn_buf_init(&b);
  if (o->endpoint != NULL && o->endpoint[0] != '\0') {
    len = strlen(o->endpoint);
    while (len > 0 && o->endpoint[len - 1] == '/')
      len--;
    r = kn_buf_append(&b, o->endpoint, len);
  } else {
    r = kn_buf_appendf(&b, "https://portal.sso.%s.amazonaws.com", o->region);
  }
  if (r == 0) {
    s->shown = kn_url_for_message(kn_buf_str(&b));
    if (s->shown == NULL)
      r = KINESIS_ENOMEM;
  }
  /* GetRoleCredentials (the SSO portal API): GET with both in the query. */
  if (r == 0)
    r = kn_buf_append_str(&b, "/federation/credentials?role_name=");
  if (r == 0)
    r = append_query_value(&b, o->role_name);
  if (r == 0)
    r = kn_buf_append_str(&b, "&account_id=");
  if (r == 0)
    r = append_query_value(&b, o->account_id);
  if (r != 0) {
    kn_buf_free(&b);
    return KINESIS_ENOMEM;
  }
  s->url = kn_buf_steal(&b);
  return s->url == NULL ? KINESIS_ENOMEM : 0;
}


/* ---- The cached token ---- */


int kn_cred_sso_cache_name(const char* key,
                           char out[KN_CRED_SSO_CACHE_NAME_LEN + 1]) {
  uint8_t d[KN_SHA1_LEN];

  if (key == NULL || out == NULL ||
      kn_sha1((const uint8_t*) key, strlen(key), d) != 0)
    return KINESIS_EINVAL;
  kn_hex_encode(d, sizeof(d), out);
  memcpy(out + 2 * KN_SHA1_LEN, ".json", 6);
  return 0;
}


/*
 * Reads the token file. Returns 0 with *text set (kn_malloc'd, to be
 * wiped), 0 with *text NULL when it is missing, unreadable or too large
 * (*missing says which), or KINESIS_ENOMEM.
 */
static int read_token_file(const char* path, char** text, size_t* len,
                           const char** problem) {
  FILE* f;
  char* data;
  size_t n;

  *text = NULL;
  *len = 0;
  f = fopen(path, "rb");
  if (f == NULL) {
    *problem = "no cached token";
    return 0;
  }
  /* One read of up to the limit plus one byte: a file that fills it is too
   * large. The buffer is never reallocated, so no copy of the token is
   * left in freed memory. */
  data = kn_malloc(KN_CRED_SSO_MAX_TOKEN_FILE + 2);
  if (data == NULL) {
    fclose(f);
    return KINESIS_ENOMEM;
  }
  n = fread(data, 1, KN_CRED_SSO_MAX_TOKEN_FILE + 1, f);
  if (ferror(f) || n > KN_CRED_SSO_MAX_TOKEN_FILE) {
    *problem = ferror(f) ? "cannot read the cached token"
                         : "the cached token file is too large";
    fclose(f);
    memset(data, 0, n);
    kn_free(data);
    return 0;
  }
  fclose(f);
  data[n] = '\0';
  *text = data;
  *len = n;
  return 0;
}


/*
 * Loads the token into s->header. Returns 1 when it is there, 0 when the
 * fetch already finished with the reason, or KINESIS_ENOMEM.
 */
static int load_token(kn_cred_sso_t* s, const kn_cred_sso_options_t* o) {
  const char* key = o->sso_session != NULL ? o->sso_session : o->start_url;
  const char* home = getenv("HOME");
  const char* problem = NULL;
  char name[KN_CRED_SSO_CACHE_NAME_LEN + 1];
  char hint[512];
  char why[160];
  char* path;
  char* text;
  char* token = NULL;
  size_t len;
  int64_t expires_ms;
  int r;

  login_hint(s, hint, sizeof(hint));
  if (kn_cred_sso_cache_name(key, name) != 0)
    return KINESIS_ENOMEM;
  if (o->cache_dir != NULL && o->cache_dir[0] != '\0') {
    path = kn_malloc(strlen(o->cache_dir) + sizeof(name) + 1);
    if (path != NULL)
      sprintf(path, "%s/%s", o->cache_dir, name);
  } else if (home != NULL && home[0] != '\0') {
    path = kn_malloc(strlen(home) + sizeof("/.aws/sso/cache/") + sizeof(name));
    if (path != NULL)
      sprintf(path, "%s/.aws/sso/cache/%s", home, name);
  } else {
    finish(s, KINESIS_ENOCREDS, "no token cache: HOME is not set; %s", hint);
    return 0;
  }
  if (path == NULL)
    return KINESIS_ENOMEM;
  r = read_token_file(path, &text, &len, &problem);
  if (r != 0) {
    kn_free(path);
    return r;
  }
  if (text == NULL) {
    finish(s, KINESIS_ENOCREDS, "%s in %s; %s", problem, path, hint);
    kn_free(path);
    return 0;
  }
  r = kn_codec_parse_sso_token(text, len, &token, &expires_ms, why, sizeof(why));
  memset(text, 0, len);
  kn_free(text);
  if (r == KINESIS_ENOMEM) {
    kn_free(path);
    return r;
  }
  if (r != 0) {
    finish(s, KINESIS_ENOCREDS, "the token cache %s is not usable (%s); %s",
           path, why, hint);
    kn_free(path);
    return 0;
  }
  if (expires_ms <= kn_now_ms()) {
    finish(s, KINESIS_ENOCREDS, "the token cached in %s has expired; %s", path,
           hint);
    kn_free(path);
    kn_scrub_free(token);
    return 0;
  }
  /* A header value must stay on its line. */
  if (strpbrk(token, "\r\n") != NULL) {
    finish(s, KINESIS_ENOCREDS, "the token cached in %s spans lines; %s", path,
           hint);
    kn_free(path);
    kn_scrub_free(token);
    return 0;
  }
  kn_free(path);
  s->header = kn_malloc(strlen(token) + sizeof("x-amz-sso_bearer_token: "));
  if (s->header == NULL) {
    kn_scrub_free(token);
    return KINESIS_ENOMEM;
  }
  sprintf(s->header, "x-amz-sso_bearer_token: %s", token);
  kn_scrub_free(token);
  return 1;
}


/* ---- GetRoleCredentials ---- */


static void on_http_done(int status, const kn_http_response_t* res, void* arg);


static int send_request(kn_cred_sso_t* s) {
  const char* headers[2];
  kn_http_request_t req;

  headers[0] = s->header;
  headers[1] = NULL;
  memset(&req, 0, sizeof(req));
  req.method = "GET";
  req.url = s->url;
  req.headers = headers;
  req.timeout_ms = s->timeout_ms;
  s->attempts++;
  return kn_http_send(s->http, &req, on_http_done, s, &s->req);
}


static void on_retry_timer(uv_timer_t* t) {
  kn_cred_sso_t* s = t->data;
  int r = send_request(s);
  if (r != 0) {
    s->req = NULL;
    finish(s, r, "GetRoleCredentials at %s could not be sent: %s", s->shown,
           kinesis_strerror(r));
  }
}


/* 1 when another attempt was scheduled. */
static int retry_later(kn_cred_sso_t* s) {
  if (s->attempts >= KN_CRED_SSO_ATTEMPTS)
    return 0;
  s->backoff_ms = s->backoff_ms == 0 ? KN_CRED_SSO_RETRY_MS : s->backoff_ms * 2;
  uv_timer_start(&s->timer, on_retry_timer, s->backoff_ms, 0);
  return 1;
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg) {
  kn_cred_sso_t* s = arg;
  kn_codec_error_t err;
  char why[160];
  char hint[512];
  int r;

  s->req = NULL;
  if (kn_life_closing(&s->life) || status == KINESIS_ECANCELED) {
    (void) kn_life_begin_close(&s->life);
    finish(s, KINESIS_ECANCELED, NULL);
    return;
  }
  if (status != 0) {
    if ((status == KINESIS_ETIMEDOUT || status == KINESIS_ETRANSPORT) &&
        retry_later(s))
      return;
    finish(s, status, "GetRoleCredentials at %s failed: %s (%u attempt%s)",
           s->shown, kinesis_strerror(status), s->attempts,
           s->attempts == 1 ? "" : "s");
    return;
  }
  if (res->status == 200) {
    why[0] = '\0';
    kn_codec_creds_t doc;
    r = kn_codec_parse_sso_role_credentials((const char*) res->body,
                                            res->body_len, &doc, why,
                                            sizeof(why));
    if (r == 0) {
      kn_credentials_clear(&s->creds);
      kn_credentials_take(&s->creds, &doc, "sso");
      finish(s, 0, NULL);
    } else if (r == KINESIS_EPROTO) {
      finish(s, r, "malformed GetRoleCredentials answer from %s: %s", s->shown,
             why);
    } else {
      finish(s, r, "%s", kinesis_strerror(r));
    }
    return;
  }
  if ((res->status >= 500 || res->status == 429) && retry_later(s))
    return;
  kn_codec_parse_error(res->body, res->body_len, res->error_type, &err);
  if (res->status == 401 || res->status == 403) {
    /* UnauthorizedException: the token was revoked or its session ended
     * before expiresAt. Only a new login helps. */
    finish(s, KINESIS_ENOCREDS,
           "the portal %s refused the cached token (HTTP %ld%s%s); %s",
           s->shown, res->status, err.has_code ? " " : "",
           err.has_code ? err.code : "", login_hint(s, hint, sizeof(hint)));
    return;
  }
  finish(s,
         res->status >= 500   ? KINESIS_ESERVICE
         : res->status == 429 ? KINESIS_ETHROUGHPUT
                              : KINESIS_ESVCOTHER,
         "GetRoleCredentials at %s failed with HTTP %ld%s%s%s", s->shown,
         res->status, err.has_code ? " " : "", err.has_code ? err.code : "",
         res->status >= 500 || res->status == 429 ? " after retries" : "");
}


/* ---- Starting ---- */


int kn_cred_sso_start(uv_loop_t* loop, kn_http_t* http,
                      const kn_cred_sso_options_t* opts, kn_cred_source_cb cb,
                      void* arg, kn_cred_sso_t** out) {
  kn_cred_sso_t* s;
  int r;

  if (loop == NULL || http == NULL || opts == NULL || cb == NULL ||
      opts->profile == NULL || opts->profile[0] == '\0' ||
      !chars_ok(opts->region, "-") || !chars_ok(opts->account_id, "+=,.@_-") ||
      !chars_ok(opts->role_name, "+=,.@_-"))
    return KINESIS_EINVAL;
  if (opts->sso_session != NULL
          ? opts->sso_session[0] == '\0'
          : opts->start_url == NULL || opts->start_url[0] == '\0')
    return KINESIS_EINVAL;
  s = kn_calloc(1, sizeof(*s));
  if (s == NULL)
    return KINESIS_ENOMEM;
  s->loop = loop;
  s->http = http;
  s->timeout_ms = opts->timeout_ms;
  s->profile = kn_strdup(opts->profile);
  s->session = kn_strdup(opts->sso_session);
  if (s->profile == NULL || (opts->sso_session != NULL && s->session == NULL) ||
      build_url(s, opts) != 0) {
    sso_free(s);
    return KINESIS_ENOMEM;
  }
  uv_timer_init(loop, &s->timer);
  s->timer.data = s;
  r = load_token(s, opts);
  if (r == 1) {
    r = send_request(s);
    if (r != 0) {
      s->req = NULL;
      /* Nothing was started: close quietly (cb is not set yet). */
      finish(s, r, NULL);
      return r;
    }
  } else if (r < 0) {
    finish(s, r, NULL);
    return r;
  }
  /* r == 0 here means the token was not usable: the result is set and the
   * timer is closing; the callback runs on a later tick. */
  s->cb = cb;
  s->arg = arg;
  if (out != NULL)
    *out = s;
  return 0;
}


void kn_cred_sso_cancel(kn_cred_sso_t* s) {
  /* From inside its own callback, `s` is about to be freed. */
  if (s == NULL || s->life.depth > 0 || kn_life_begin_close(&s->life) < 0)
    return;
  if (s->req != NULL) {
    /* on_http_done runs with KINESIS_ECANCELED and finishes. */
    kn_http_cancel(s->req);
    return;
  }
  /* Waiting for a retry, or already finishing: the result becomes
   * KINESIS_ECANCELED. */
  finish(s, KINESIS_ECANCELED, NULL);
}
