/*
 * kinesis_serve_t (include/kinesis/testing.h): the fake service's public
 * object. It owns the model (svc.c, behind svc.h) and the HTTP front
 * (serve_http.c), and keeps the clock the model is given: the wall clock
 * plus the test's advances. Given keys, it has each request's signature
 * checked (serve_auth.c) on that clock before the model sees it. It also
 * keeps the faults (serve_fault.c): it asks them what becomes of each
 * request, answers throttling and 5xx itself, lends them to the model for
 * PutRecords' entries, and tells the front of drops and latency; and it
 * answers the admin request that sets them (LibkinesisServe.SetFaults,
 * read by svc_ops.c), which needs no signature and meets no fault; the
 * other admin requests (LibkinesisServe.ScheduleReshard and
 * CancelReshards) go to the model likewise, which keeps the scheduled
 * reshards.
 */

#include "kinesis/testing.h"

#include "../internal.h"
#include "serve_auth.h"
#include "serve_fault.h"
#include "serve_http.h"
#include "svc.h"
#include "../validate.h"

#include <string.h>


struct kinesis_serve_s {
  kn_svc_t* svc;
  kn_serve_http_t* http;
  kn_serve_keys_t* keys; /* NULL: signatures are not checked */
  char* url;
  int port;
  int64_t advance_ms; /* the sum of kinesis_serve_advance_clock()'s */
  kn_serve_fault_t fault;
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
    NULL, /* keys: signatures not checked */
    NULL, /* faults: none */
    0,    /* limits_off: every throughput limit on */
};

static const kinesis_serve_faults_t default_faults = {
    sizeof(kinesis_serve_faults_t), 0, 0, 0, 0, 0, 0, 0,
};


void kinesis_serve_faults_init_sized(kinesis_serve_faults_t* faults,
                                     size_t size) {
  kn_options_init(faults, size, &default_faults, sizeof(default_faults));
}


/* The caller's faults, checked, into `out`. */
static int copy_faults(const kinesis_serve_faults_t* faults,
                       kinesis_serve_faults_t* out) {
  int r;

  *out = default_faults;
  if ((r = kn_options_copy(out, sizeof(*out), faults)) != 0)
    return r;
  return kn_serve_fault_check(out);
}


void kinesis_serve_options_init_sized(kinesis_serve_options_t* options,
                                      size_t size) {
  kn_options_init(options, size, &default_options, sizeof(default_options));
}


#define TARGET_PREFIX "Kinesis_20131202."
#define ADMIN_PREFIX "LibkinesisServe."
#define ADMIN_SET_FAULTS "LibkinesisServe.SetFaults"


static int fault_reply(kn_svc_reply_t* reply, int status, const char* type,
                       const char* message) {
  reply->status = status;
  reply->error_type = type;
  kn_buf_reset(&reply->body);
  return kn_buf_appendf(&reply->body, "{\"__type\":\"%s\",\"message\":\"%s\"}",
                        type, message);
}


/* LibkinesisServe.SetFaults: the body replaces the faults. */
static int admin_set_faults(kinesis_serve_t* s, const uint8_t* body,
                            size_t len, kn_svc_reply_t* reply) {
  kinesis_serve_faults_t f;
  kn_svc_faults_t v;
  int r;

  reply->status = 200;
  reply->error_type = NULL;
  kn_buf_reset(&reply->body);
  r = kn_svc_read_faults(body, len, &v, reply);
  if (r == KN_SVC_BAD_FAULTS)
    return 0;
  if (r != 0)
    return r;
  kinesis_serve_faults_init(&f);
  f.throttle = v.throttle;
  f.error_5xx = v.error_5xx;
  f.partial = v.partial;
  f.drop_before = v.drop_before;
  f.drop_after = v.drop_after;
  f.latency_ms = v.latency_ms;
  f.seed = v.seed;
  kn_serve_fault_set(&s->fault, &f);
  return kn_buf_append_str(&reply->body, "{}");
}


/* ---- SubscribeToShard: the model's events, streamed by the front ---- */

#define EVENT_STREAM_TYPE "application/vnd.amazon.eventstream"
/* How often the front asks a subscription for events. */
#define SUB_POLL_MS 100

typedef struct {
  kinesis_serve_t* serve;
  kn_svc_sub_t* sub;
} serve_sub_t;


static int sub_next(void* arg, kn_buf_t* out, int* done) {
  serve_sub_t* ss = arg;
  kinesis_serve_t* s = ss->serve;
  return kn_svc_sub_next(s->svc, ss->sub, kn_now_ms() + s->advance_ms, out,
                         done);
}


static void sub_end(void* arg) {
  serve_sub_t* ss = arg;
  kn_svc_sub_free(ss->serve->svc, ss->sub);
  kn_free(ss);
}


/* A subscription the model opened becomes the front's stream; a refusal
 * is an ordinary reply. */
static int subscribe(kinesis_serve_t* s, const kn_serve_http_req_t* req,
                     int64_t now, kn_svc_reply_t* reply,
                     kn_serve_http_action_t* act) {
  serve_sub_t* ss;
  kn_svc_sub_t* sub;
  int r = kn_svc_subscribe(s->svc, now, req->body, req->len, reply, &sub);

  if (r != 0 || sub == NULL)
    return r;
  ss = kn_malloc(sizeof(*ss));
  if (ss == NULL) {
    kn_svc_sub_free(s->svc, sub);
    return KINESIS_ENOMEM;
  }
  ss->serve = s;
  ss->sub = sub;
  act->stream_next = sub_next;
  act->stream_end = sub_end;
  act->stream_arg = ss;
  act->stream_type = EVENT_STREAM_TYPE;
  act->stream_every_ms = SUB_POLL_MS;
  return 0;
}


static int handle_request(void* arg, const kn_serve_http_req_t* req,
                          kn_svc_reply_t* reply, kn_serve_http_action_t* act) {
  kinesis_serve_t* s = arg;
  const char* target = req->target;
  int64_t now = kn_now_ms() + s->advance_ms;
  const char* op = "";
  int r;

  if (strcmp(target, ADMIN_SET_FAULTS) == 0)
    return admin_set_faults(s, req->body, req->len, reply);
  /* The other admin requests (ScheduleReshard, CancelReshards) act on the
   * model's state, so the model answers them, unsigned and faultless too. */
  if (strncmp(target, ADMIN_PREFIX, sizeof(ADMIN_PREFIX) - 1) == 0)
    return kn_svc_handle(s->svc, now, target, req->body, req->len, reply);
  if (s->keys != NULL) {
    r = kn_serve_auth_check(s->keys, req, now, reply);
    if (r != 0)
      return r < 0 ? r : 0;
  }
  if (strncmp(target, TARGET_PREFIX, sizeof(TARGET_PREFIX) - 1) == 0)
    op = target + sizeof(TARGET_PREFIX) - 1;
  act->delay_ms = s->fault.f.latency_ms;
  switch (kn_serve_fault_before(&s->fault, op)) {
    case KN_FAULT_DROP:
      act->drop = 1;
      return 0;
    case KN_FAULT_THROTTLE:
      return fault_reply(reply, 400, "ProvisionedThroughputExceededException",
                         "Rate exceeded (a fault of the fake service).");
    case KN_FAULT_500:
      return fault_reply(reply, 500, "InternalFailure",
                         "Internal service failure (a fault of the fake "
                         "service).");
    case KN_FAULT_503:
      return fault_reply(reply, 503, "ServiceUnavailable",
                         "Service unavailable (a fault of the fake "
                         "service).");
    case KN_FAULT_NONE:
      break;
  }
  if (strcmp(op, "SubscribeToShard") == 0)
    return subscribe(s, req, now, reply, act);
  r = kn_svc_handle(s->svc, now, target, req->body, req->len, reply);
  if (r == 0 && kn_serve_fault_drop_after(&s->fault))
    act->drop = 1;
  return r;
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
  kinesis_serve_faults_t f;
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
  if (o.faults != NULL && (r = copy_faults(o.faults, &f)) != 0)
    return r;

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
  if (o.keys != NULL &&
      (r = kn_serve_keys_new(o.keys, o.region, &s->keys)) != 0)
    goto fail;
  kn_serve_fault_set(&s->fault, o.faults != NULL ? &f : NULL);
  kn_svc_set_entry_fault(s->svc, kn_serve_fault_entry, &s->fault);
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
  kn_serve_keys_free(s->keys);
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


/* The service's clock `ms` from now, into `*at`: 0, KINESIS_EINVAL (no
 * service, or past what the clock can hold) or KINESIS_ECLOSING. */
static int clock_after(const kinesis_serve_t* serve, uint64_t ms,
                       int64_t* at) {
  int64_t now;

  if (serve == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&serve->life))
    return KINESIS_ECLOSING;
  now = kn_now_ms() + serve->advance_ms;
  if (ms > (uint64_t) (INT64_MAX - now))
    return KINESIS_EINVAL;
  *at = now + (int64_t) ms;
  return 0;
}


int kinesis_serve_advance_clock(kinesis_serve_t* serve, uint64_t ms) {
  int64_t at;
  int r = clock_after(serve, ms, &at);

  if (r != 0)
    return r;
  serve->advance_ms += (int64_t) ms;
  return 0;
}


int kinesis_serve_set_faults(kinesis_serve_t* serve,
                             const kinesis_serve_faults_t* faults) {
  kinesis_serve_faults_t f;
  int r;

  if (serve == NULL)
    return KINESIS_EINVAL;
  if (faults != NULL && (r = copy_faults(faults, &f)) != 0)
    return r;
  if (kn_life_closing(&serve->life))
    return KINESIS_ECLOSING;
  kn_serve_fault_set(&serve->fault, faults != NULL ? &f : NULL);
  return 0;
}


int kinesis_serve_schedule_reshard(kinesis_serve_t* serve,
                                   const char* stream, uint64_t after_ms,
                                   uint32_t target_shards,
                                   uint64_t every_ms) {
  int64_t at;
  int r = clock_after(serve, after_ms, &at);

  if (r != 0)
    return r;
  /* The model checks the rest: the name, the count, the period. */
  return kn_svc_schedule_reshard(serve->svc, stream, at, target_shards,
                                 every_ms);
}


int kinesis_serve_cancel_reshards(kinesis_serve_t* serve,
                                  const char* stream) {
  if (serve == NULL || (stream != NULL && !kn_valid_shard_id(stream)))
    return KINESIS_EINVAL;
  if (kn_life_closing(&serve->life))
    return KINESIS_ECLOSING;
  kn_svc_cancel_reshards(serve->svc, stream);
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
  kn_serve_keys_free(s->keys);
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
