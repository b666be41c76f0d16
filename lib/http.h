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

/*
 * Streaming (issue 19): takes the bytes of a 2xx answer's body as they
 * arrive, instead of their being buffered for the completion callback.
 * Returns 0 when it took them all; KN_HTTP_PAUSE when it took none and the
 * transfer is to wait (curl keeps the bytes and, over HTTP/2, stops
 * opening the stream's window, so the server holds the rest) until
 * kn_http_resume(), after which the same bytes come again; or a negative
 * library error, which ends the request with that status. The answer's
 * headers are in before the first call; `status` is its HTTP status.
 */
#define KN_HTTP_PAUSE 1
typedef int (*kn_http_data_cb)(void* arg, long status, const uint8_t* data,
                               size_t len);

typedef struct kn_http_request_s {
  const char* method;           /* "GET", "PUT" or "POST" */
  const char* url;              /* copied */
  const char* const* headers;   /* "Name: value", NULL-terminated; copied */
  const uint8_t* body;          /* borrowed: must outlive the callback */
  size_t body_len;
  uint32_t timeout_ms;          /* 0: the client's default */
  uint32_t connect_timeout_ms;  /* 0: the client's default */
  /* 1: HTTP/2, over https negotiated with ALPN (HTTP/1.1 when the server
   * does not offer h2), over http with prior knowledge (h2c). Requests to
   * one https host share a connection as streams, up to the server's limit
   * of concurrent streams. */
  int http2;
  /* 1: a connection of its own, opened for this request and closed after
   * it. libcurl 7.88 never opens a second stream on a reused h2c
   * connection (the request just waits), so each h2c stream that lives
   * long needs one. */
  int own_connection;
  /* Streaming, for 2xx answers; NULL buffers the body. An answer of
   * another status is buffered as always. */
  kn_http_data_cb on_data;
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

/* Lets a streaming request that its on_data paused go on. The bytes curl
 * kept come on a later tick, never inside this call. */
void kn_http_resume(kn_http_req_t* req);

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
