#ifndef KN_HTTP_H
#define KN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "buf.h"

/*
 * HTTP on the application's loop: libcurl's multi-socket API driven by one
 * uv_timer_t and a uv_poll_t per socket. lib/http.c is the only file that
 * includes curl.
 */

typedef struct kn_http_s kn_http_t;
typedef struct kn_http_req_s kn_http_req_t;

typedef struct kn_http_options_s {
  const char* ca_file;          /* NULL: the system's CA store. Copied. */
  int insecure;                 /* 1: verify neither peer nor host name */
  uint32_t max_connections;     /* 0: 64. Total open connections. */
  uint32_t connect_timeout_ms;  /* 0: 10000 */
  uint32_t timeout_ms;          /* 0: 30000. Whole request. */
  size_t max_response_bytes;    /* 0: 64 MiB. Larger bodies fail EPROTO. */
} kn_http_options_t;

typedef struct kn_http_response_s {
  long status;                  /* HTTP status; 0 when no response came */
  const uint8_t* body;          /* NUL-terminated past body_len */
  size_t body_len;
  const char* request_id;       /* x-amzn-RequestId, or NULL */
  const char* error_type;       /* x-amzn-ErrorType, or NULL */
  const char* transport_error;  /* curl's words when status != 0, or NULL */
  /* The buffer behind `body`. A callback may take the bytes (kn_buf_steal)
   * to keep them past the call without a copy. */
  kn_buf_t* body_buf;
} kn_http_response_t;

/*
 * `status` is 0 when a response arrived (whatever its HTTP status), or
 * KINESIS_ETIMEDOUT, KINESIS_ETLS, KINESIS_ETRANSPORT, KINESIS_EPROTO or
 * KINESIS_ECANCELED. `res` is never NULL and is valid during the call.
 */
typedef void (*kn_http_cb)(int status, const kn_http_response_t* res,
                           void* arg);

typedef struct kn_http_request_s {
  const char* method;           /* "GET", "PUT" or "POST" */
  const char* url;              /* copied */
  const char* const* headers;   /* "Name: value", NULL-terminated; copied */
  const uint8_t* body;          /* borrowed: must outlive the callback */
  size_t body_len;
  uint32_t timeout_ms;          /* 0: the client's default */
  uint32_t connect_timeout_ms;  /* 0: the client's default */
} kn_http_request_t;

int kn_http_new(uv_loop_t* loop, const kn_http_options_t* opts,
                kn_http_t** out);

/*
 * kn_http_new() in two steps, for a caller with more to allocate after it:
 * kn_http_alloc() makes every allocation (0, KINESIS_EINVAL or
 * KINESIS_ENOMEM) and puts nothing on the loop; kn_http_start(), which
 * cannot fail, then initialises its handles. Until started, `http` takes no
 * request and is freed by kn_http_free_unstarted() at once, leaving the loop
 * as it was: a failed constructor must not leave closing handles on the
 * application's loop (issue 17).
 */
int kn_http_alloc(uv_loop_t* loop, const kn_http_options_t* opts,
                  kn_http_t** out);
void kn_http_start(kn_http_t* http);
void kn_http_free_unstarted(kn_http_t* http);

/*
 * Starts a request. `cb` runs exactly once, on a later loop iteration, never
 * inside this call. Returns 0, KINESIS_EINVAL, KINESIS_ENOMEM or
 * KINESIS_ECLOSING; on error `cb` never runs. `out` may be NULL.
 */
int kn_http_send(kn_http_t* http, const kn_http_request_t* req, kn_http_cb cb,
                 void* arg, kn_http_req_t** out);

/* Aborts a request; its callback runs with KINESIS_ECANCELED on a later tick. */
void kn_http_cancel(kn_http_req_t* req);

/* Requests started and not yet completed. */
size_t kn_http_pending(const kn_http_t* http);

/* Connections opened by completed requests so far: with keep-alive,
 * sequential requests share one. */
size_t kn_http_connections_opened(const kn_http_t* http);

/*
 * Cancels every request (each callback runs once with KINESIS_ECANCELED),
 * closes every handle, frees `http`, then calls `cb` on a later tick.
 */
void kn_http_close(kn_http_t* http, void (*cb)(void* arg), void* arg);

#endif /* KN_HTTP_H */
