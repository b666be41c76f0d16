/*
 * kinesis_serve_t (include/kinesis/testing.h): the fake service's public
 * object. It owns the model (svc.c, behind svc.h) and the HTTP front
 * (serve_http.c), and keeps the clock the model is given: the wall clock
 * plus the test's advances.
 */

#include "kinesis/testing.h"

#include "../internal.h"
#include "serve_http.h"
#include "svc.h"

#include <string.h>


struct kinesis_serve_s {
  kn_svc_t* svc;
  kn_serve_http_t* http;
  char* url;
  int port;
  int64_t advance_ms; /* the sum of kinesis_serve_advance_clock()'s */
  void* data;
  kn_life_t life;
  kinesis_close_cb close_cb;
  void* close_arg;
};

static const kinesis_serve_options_t default_options = {
    sizeof(kinesis_serve_options_t),
    NULL, /* host: 127.0.0.1 */
    0,    /* port: a free one */
    NULL, /* region: the model's us-east-1 */
    NULL, /* account_id: the model's 000000000000 */
    0,    /* transition_ms: at once */
    0,    /* limits_off: every throughput limit on */
};


void kinesis_serve_options_init_sized(kinesis_serve_options_t* options,
                                      size_t size) {
  kn_options_init(options, size, &default_options, sizeof(default_options));
}


static int handle_request(void* arg, const char* target, const uint8_t* body,
                          size_t len, kn_svc_reply_t* reply) {
  kinesis_serve_t* s = arg;
  return kn_svc_handle(s->svc, kn_now_ms() + s->advance_ms, target, body, len,
                       reply);
}


/* Bind errors as the header promises them: KINESIS_E* codes for the
 * usual ones, libuv's own for the rest. */
static int listen_error(int r) {
  switch (r) {
    case UV_EADDRINUSE: return KINESIS_EBUSY;
    case UV_EADDRNOTAVAIL:
    case UV_EACCES:
    case UV_EAFNOSUPPORT: return KINESIS_EINVAL;
    default: return r;
  }
}


int kinesis_serve_new(uv_loop_t* loop, const kinesis_serve_options_t* options,
                      kinesis_serve_t** out) {
  kinesis_serve_options_t o;
  kn_svc_options_t so;
  kinesis_serve_t* s;
  const char* host;
  int r;

  if (loop == NULL || out == NULL)
    return KINESIS_EINVAL;
  o = default_options;
  if (options != NULL && (r = kn_options_copy(&o, sizeof(o), options)) != 0)
    return r;
  host = o.host != NULL ? o.host : "127.0.0.1";
  if (host[0] == '\0' || (o.limits_off & ~KINESIS_SERVE_LIMITS_ALL) != 0)
    return KINESIS_EINVAL;

  s = kn_calloc(1, sizeof(*s));
  if (s == NULL)
    return KINESIS_ENOMEM;
  memset(&so, 0, sizeof(so));
  so.region = o.region;
  so.account_id = o.account_id;
  so.transition_ms = o.transition_ms;
  /* The public bits, one by one onto the model's. */
  if (o.limits_off & KINESIS_SERVE_LIMIT_WRITES)
    so.limits_off |= KN_SVC_LIMIT_WRITES;
  if (o.limits_off & KINESIS_SERVE_LIMIT_READS)
    so.limits_off |= KN_SVC_LIMIT_READS;
  if (o.limits_off & KINESIS_SERVE_LIMIT_ITERATORS)
    so.limits_off |= KN_SVC_LIMIT_ITERATORS;
  /* "http://" HOST ":" PORT, an IPv6 address in brackets. */
  s->url = kn_malloc(strlen(host) + 32);
  if (s->url == NULL) {
    r = KINESIS_ENOMEM;
    goto fail;
  }
  r = kn_svc_new(&so, &s->svc);
  if (r != 0)
    goto fail;
  /* Last: once it listens, nothing fails. */
  r = listen_error(kn_serve_http_start(loop, host, o.port, handle_request, s,
                                       &s->http));
  if (r != 0)
    goto fail;
  s->port = kn_serve_http_port(s->http);
  snprintf(s->url, strlen(host) + 32,
           strchr(host, ':') != NULL ? "http://[%s]:%d" : "http://%s:%d", host,
           s->port);
  *out = s;
  return 0;

fail:
  if (s->svc != NULL)
    kn_svc_free(s->svc);
  kn_free(s->url);
  kn_free(s);
  return r;
}


const char* kinesis_serve_url(const kinesis_serve_t* serve) {
  return serve != NULL ? serve->url : NULL;
}


int kinesis_serve_port(const kinesis_serve_t* serve) {
  return serve != NULL ? serve->port : KINESIS_EINVAL;
}


int kinesis_serve_advance_clock(kinesis_serve_t* serve, uint64_t ms) {
  int64_t now;

  if (serve == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&serve->life))
    return KINESIS_ECLOSING;
  now = kn_now_ms() + serve->advance_ms;
  if (ms > (uint64_t) (INT64_MAX - now))
    return KINESIS_EINVAL;
  serve->advance_ms += (int64_t) ms;
  return 0;
}


void kinesis_serve_set_data(kinesis_serve_t* serve, void* data) {
  if (serve != NULL)
    serve->data = data;
}


void* kinesis_serve_get_data(const kinesis_serve_t* serve) {
  return serve != NULL ? serve->data : NULL;
}


/* The front has stopped, a turn or more after kinesis_serve_close(). */
static void on_http_stopped(void* arg) {
  kinesis_serve_t* s = arg;
  kinesis_close_cb cb = s->close_cb;
  void* close_arg = s->close_arg;
  void* data = s->data;

  kn_life_begin_free(&s->life);
  kn_svc_free(s->svc);
  kn_free(s->url);
  kn_free(s);
  if (cb != NULL)
    cb(data, 0, close_arg);
}


int kinesis_serve_close(kinesis_serve_t* serve, kinesis_close_cb cb,
                        void* user_data) {
  int r;

  if (serve == NULL)
    return KINESIS_EINVAL;
  r = kn_life_begin_close(&serve->life);
  if (r != 0)
    return r;
  serve->close_cb = cb;
  serve->close_arg = user_data;
  /* The callback comes from the front's last close callback: always a
   * later turn, never this call. */
  kn_serve_http_stop(serve->http, on_http_stopped, serve);
  return 0;
}
