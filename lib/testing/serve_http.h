#ifndef KN_SERVE_HTTP_H
#define KN_SERVE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "svc.h"

/*
 * The fake service's HTTP front (issue 18): a listener and its HTTP/1.1
 * and cleartext HTTP/2 connections on a loop, through h2o, which
 * serve_http.c alone includes
 * (DESIGN.md section 8). It checks what HTTP says (POST /, X-Amz-Target,
 * Content-Type, the body's size), hands each request that passes to
 * `handle`, and writes the reply with x-amzn-RequestId and, for errors,
 * x-amzn-ErrorType. serve.c owns the model and the public object.
 */

/* Bodies larger than this are refused with 413, unread. */
#define KN_SERVE_HTTP_MAX_BODY (10u * 1024 * 1024)

typedef struct kn_serve_http_s kn_serve_http_t;

/* What to do with a reply besides writing it (the faults, serve_fault.h):
 * zeroed by the front before each request. */
typedef struct kn_serve_http_action_s {
  /* Answer (or drop) this many ms later, from a timer; 0: at once. */
  uint32_t delay_ms;
  /* Close the connection without writing the reply. */
  int drop;
  /* A stream instead of the reply (SubscribeToShard's events): when
   * `stream_next` is set, the front answers 200 with `stream_type` as
   * Content-Type, at once, then writes what `stream_next` appends to `out`,
   * asked at once, every `stream_every_ms` and whenever a write is done,
   * until it sets `*done` (or fails). `stream_end` runs once, when the
   * stream is over, the client has gone or the front stops; the request's
   * reply, delay and drop are not used. */
  int (*stream_next)(void* arg, kn_buf_t* out, int* done);
  void (*stream_end)(void* arg);
  void* stream_arg;
  const char* stream_type; /* static */
  uint32_t stream_every_ms;
} kn_serve_http_action_t;

/* One request that passed the front's checks, valid during the handle
 * call. `header` finds the request's headers without h2o: the `nth` value
 * (0 the first) of the header named `name` (lowercase), as received; it
 * returns 1 and sets `*value`, or 0 when there is no such value. "host" is
 * the Host header, and "content-length" the body's length in decimal. */
typedef struct kn_serve_http_req_s kn_serve_http_req_t;
struct kn_serve_http_req_s {
  kn_cursor_t method;
  kn_cursor_t path;  /* as received, without the query */
  kn_cursor_t query; /* after '?', as received; empty without one */
  const char* target; /* X-Amz-Target's value, NUL-terminated */
  const uint8_t* body;
  size_t len;
  int (*header)(const kn_serve_http_req_t* req, const char* name, size_t nth,
                kn_cursor_t* value);
  const void* impl; /* the front's own, for `header` */
};

/* Fills `reply` (its body initialised by the caller) as kn_svc_handle()
 * does, and returns what it returns: 0, or KINESIS_ENOMEM for a 500
 * InternalFailure; may set `act`. */
typedef int (*kn_serve_http_handle_cb)(void* arg,
                                       const kn_serve_http_req_t* req,
                                       kn_svc_reply_t* reply,
                                       kn_serve_http_action_t* act);

/* The front has stopped: the listener and every connection are closed and
 * h2o's context is disposed. Called from a uv_close callback, so on a later
 * tick than kn_serve_http_stop(); `h` is freed when it returns. */
typedef void (*kn_serve_http_stopped_cb)(void* arg);

/* Listens on `ip` (an IPv4 or IPv6 literal), `port` (0: a free one).
 * Returns 0 and sets `*out`; KINESIS_EINVAL (`ip` is no address), KINESIS_ENOMEM,
 * or libuv's error from bind or listen (UV_EADDRINUSE...). On failure
 * nothing is left on the loop but handles closing, which free themselves. */
int kn_serve_http_start(uv_loop_t* loop, const char* ip, uint16_t port,
                        kn_serve_http_handle_cb handle, void* arg,
                        kn_serve_http_t** out);

/* The port it listens on. */
int kn_serve_http_port(const kn_serve_http_t* h);

/* Closes the listener and every connection; `cb` runs once it is all
 * closed, then `h` is freed. Once only. A reply still waiting out its
 * delay is written (or dropped) at once, from this call. */
void kn_serve_http_stop(kn_serve_http_t* h, kn_serve_http_stopped_cb cb,
                        void* arg);

#endif /* KN_SERVE_HTTP_H */
