/*
 * The fake service's HTTP front, over h2o 2.2 on the caller's libuv loop.
 * The only file that includes h2o (DESIGN.md section 8).
 *
 * The listener is a uv_tcp_t; each accepted connection is a uv_tcp_t of
 * ours handed to h2o (h2o_uv_socket_create, h2o_accept), which closes it
 * and calls on_conn_closed() once done with it. Each request is answered
 * inside on_req(): the model answers synchronously, so nothing waits;
 * except when a fault delays the answer (latency): it is then kept in the
 * request's pool and written from a uv_timer_t of its own (delayed_t),
 * whose handle the stop waits for. h2o keeps an HTTP/1 request alive until
 * it is answered (it reads nothing meanwhile), so the timer's request is
 * still there when it fires; a slot in the request's pool with a dispose
 * callback says so should h2o ever free it first.
 *
 * A dropped request (a fault) is answered with nothing: h2o 2.2 has no
 * call to close a connection under a request, so its socket is shut both
 * ways (the client reads end-of-file, no byte of an answer) and an empty
 * answer is handed to h2o, whose write fails; h2o then closes the
 * connection through its own path. The failed write raises SIGPIPE, which
 * is blocked around it and taken back (see drop_request).
 *
 * Stopping: close the listener, shut the reading side of each connection
 * so that h2o closes it (see kn_serve_http_stop), count them as they
 * close, and only at zero dispose of the context and the configuration.
 * The dispose closes h2o's own timers, whose close callbacks run in the
 * next turn's closing phase; the owner is told only after that turn (one
 * kn_defer_t item run twice, see on_finish), so that once it has been told
 * the loop holds nothing of ours or of h2o's.
 *
 * Each request that passes reaches the owner's handler with its method,
 * path, query, headers and body (kn_serve_http_req_t), where serve.c may
 * check its signature.
 *
 * What the front refuses, before the model sees anything (the model
 * answers every request that passes, unknown targets included):
 *   - another method than POST: 404 UnknownOperationException, as for an
 *     unknown route of the service;
 *   - another path than "/" (a query string is ignored): the same 404;
 *   - a Content-Type other than application/x-amz-json-1.1 or
 *     application/json, or none: 404 UnknownOperationException (the
 *     status kinesalite gives, with a JSON body instead of its XML);
 *   - no X-Amz-Target, or an empty one: 400 UnknownOperationException;
 *   - a body over 10 MiB: 413, sent by h2o itself before the body is read
 *     (max_request_entity_size), with h2o's plain text body.
 */

#include "serve_http.h"

#include "../defer.h"
#include "../internal.h"

#include <h2o.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#define JSON_TYPE "application/x-amz-json-1.1"
#define OOM_BODY                                                              \
  "{\"__type\":\"InternalFailure\",\"message\":\"the service ran out of "  \
  "memory\"}"


struct kn_serve_http_s {
  uv_loop_t* loop;
  uv_tcp_t listener;
  h2o_globalconf_t config;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  kn_serve_http_handle_cb handle;
  void* arg;
  kn_serve_http_stopped_cb stopped_cb;
  void* stopped_arg;
  int port;
  unsigned conns;      /* connections accepted and not closed yet */
  kn_queue_t conn_list; /* conn_t, the same */
  int listener_closed;
  int stopping;
  unsigned delays;       /* delayed_t handles not closed yet */
  kn_queue_t delay_list; /* delayed_t whose timer has not fired */
  unsigned streams;       /* stream_t handles not closed yet */
  kn_queue_t stream_list; /* stream_t still writing */
  uint64_t rng;        /* for request ids */
  /* The two hops after the dispose (see the top of the file). */
  kn_defer_t defer;
  kn_defer_item_t finish;
  int finish_runs;     /* on_finish runs so far: 2 ends the stop */
};

/* h2o allocates the handler; the owner is found through it. */
typedef struct {
  h2o_handler_t super;
  kn_serve_http_t* h;
} handler_t;

/* A connection's handle, with a way back to the front: h2o takes the
 * handle's `data` for its own socket. */
typedef struct {
  uv_tcp_t tcp;
  kn_serve_http_t* h;
  kn_queue_t node; /* in h->conn_list */
} conn_t;


/* An answer waiting out its delay. */
typedef struct delayed_s {
  uv_timer_t timer;
  kn_serve_http_t* h;
  h2o_req_t* req;          /* NULL once answered, or freed by h2o */
  struct delayed_s** slot; /* in req's pool: points back here */
  kn_queue_t node;         /* in h->delay_list until answered */
  int drop;
  int status;
  const char* error_type;  /* static */
  const char* body;        /* in req's pool */
  size_t len;
} delayed_t;


/* A stream of bytes being written as the answer (SubscribeToShard). */
typedef struct stream_s {
  h2o_generator_t gen; /* first: h2o gives it back to proceed and stop */
  kn_serve_http_t* h;
  h2o_req_t* req;
  uv_timer_t timer;
  kn_queue_t node;  /* in h->stream_list until over */
  kn_buf_t made;    /* bytes made, not handed to h2o yet */
  kn_buf_t writing; /* bytes h2o is writing: kept until it proceeds */
  int busy;         /* a write is out: wait for proceed */
  int in_send;      /* inside h2o_send(), which may proceed at once */
  int done;         /* nothing more will be made: the last write is due */
  int over;         /* the last write is out, or h2o stopped the stream */
  int (*next)(void* arg, kn_buf_t* out, int* done);
  void (*end)(void* arg);
  void* arg;
} stream_t;


/* ---- Replies ---- */

static const char* reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status < 400 ? "OK" : status < 500 ? "Bad Request"
                                                      : "Internal Server Error";
  }
}


/* xorshift64*: request ids need to differ, not to be secret. */
static uint64_t next_random(kn_serve_http_t* h) {
  h->rng ^= h->rng >> 12;
  h->rng ^= h->rng << 25;
  h->rng ^= h->rng >> 27;
  return h->rng * 2685821657736338717ull;
}


/* A fresh id in the shape of a version 4 UUID, like the service's:
 * 36 characters and a NUL. */
static void make_request_id(kn_serve_http_t* h, char* out) {
  uint64_t a = next_random(h);
  uint64_t b = next_random(h);

  snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx",
           (unsigned) (a >> 32), (unsigned) ((a >> 16) & 0xffff),
           (unsigned) (a & 0xfff), (unsigned) (0x8000 | ((b >> 48) & 0x3fff)),
           (unsigned long long) (b & 0xffffffffffffull));
}


/* The status line and the headers every answer has. */
static void start_headers(kn_serve_http_t* h, h2o_req_t* req, int status,
                          const char* content_type) {
  char* id = h2o_mem_alloc_pool(&req->pool, 37);

  make_request_id(h, id);
  req->res.status = status;
  req->res.reason = reason_of(status);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                 content_type, strlen(content_type));
  /* Lowercase names: HTTP/2 refuses others (HTTP/1.1 ignores case). */
  h2o_add_header_by_str(&req->pool, &req->res.headers,
                        H2O_STRLIT("x-amzn-requestid"), 0, NULL, id, 36);
}


static void send_reply(kn_serve_http_t* h, h2o_req_t* req, int status,
                       const char* error_type, const char* body, size_t len) {
  static h2o_generator_t generator = {NULL, NULL};
  h2o_iovec_t buf = h2o_strdup(&req->pool, body, len);

  start_headers(h, req, status, JSON_TYPE);
  req->res.content_length = len;
  if (error_type != NULL)
    h2o_add_header_by_str(&req->pool, &req->res.headers,
                          H2O_STRLIT("x-amzn-errortype"), 0, NULL, error_type,
                          strlen(error_type));
  h2o_start_response(req, &generator);
  h2o_send(req, &buf, len > 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
}


/* An error of the front's own: {"__type": ..., "message": ...}. */
static void send_error(kn_serve_http_t* h, h2o_req_t* req, int status,
                       const char* type, const char* message) {
  char body[512];
  int n = snprintf(body, sizeof(body), "{\"__type\":\"%s\",\"message\":\"%s\"}",
                   type, message);
  send_reply(h, req, status, type, body,
             n < 0 ? 0 : (size_t) n < sizeof(body) ? (size_t) n
                                                   : sizeof(body) - 1);
}


/* Content-Type without its parameters ("; charset=..."), compared without
 * case, as HTTP wants. */
static int json_content_type(const h2o_req_t* req) {
  ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
  const char* v;
  size_t n;

  if (i == -1)
    return 0;
  v = req->headers.entries[i].value.base;
  n = req->headers.entries[i].value.len;
  while (n > 0 && (*v == ' ' || *v == '\t')) {
    v++;
    n--;
  }
  if (memchr(v, ';', n) != NULL)
    n = (size_t) ((const char*) memchr(v, ';', n) - v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  return h2o_lcstris(v, n, H2O_STRLIT(JSON_TYPE)) ||
         h2o_lcstris(v, n, H2O_STRLIT("application/json"));
}


/* What kn_serve_http_req_t's `impl` points to. */
typedef struct {
  h2o_req_t* req;
  char content_length[24];
} req_impl_t;


/* kn_serve_http_req_t's `header`. h2o keeps Host apart (the authority,
 * also HTTP/2's ":authority") and keeps no Content-Length: both are given
 * back as received. */
static int req_header(const kn_serve_http_req_t* r, const char* name,
                      size_t nth, kn_cursor_t* value) {
  const req_impl_t* impl = r->impl;
  const h2o_req_t* req = impl->req;
  size_t n = strlen(name);
  size_t i;

  /* The AWS SDKs sign HTTP/2's ":authority" under that name. */
  if (h2o_memis(name, n, H2O_STRLIT("host")) ||
      h2o_memis(name, n, H2O_STRLIT(":authority"))) {
    if (nth > 0 || req->input.authority.base == NULL)
      return 0;
    value->ptr = (const uint8_t*) req->input.authority.base;
    value->len = req->input.authority.len;
    return 1;
  }
  if (h2o_memis(name, n, H2O_STRLIT("content-length"))) {
    if (nth > 0 || req->entity.base == NULL)
      return 0;
    *value = kn_cursor_from_str(impl->content_length);
    return 1;
  }
  for (i = 0; i < req->headers.size; i++) {
    const h2o_header_t* e = &req->headers.entries[i];
    if (h2o_lcstris(e->name->base, e->name->len, name, n) && nth-- == 0) {
      value->ptr = (const uint8_t*) e->value.base;
      value->len = e->value.len;
      return 1;
    }
  }
  return 0;
}


/* SIGPIPE blocked, and one raised meanwhile taken back, around a write
 * that may meet a closed connection: quiet_begin() and quiet_end(). */
typedef struct {
  sigset_t pipe_set;
  sigset_t old;
  int was_pending;
} quiet_t;


static void quiet_begin(quiet_t* q) {
  sigset_t pending;
  sigemptyset(&q->pipe_set);
  sigaddset(&q->pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &q->pipe_set, &q->old);
  q->was_pending = sigpending(&pending) == 0 &&
                   sigismember(&pending, SIGPIPE);
}


static void quiet_end(quiet_t* q) {
  static const struct timespec no_wait = {0, 0};
  sigset_t pending;
  if (!q->was_pending && sigpending(&pending) == 0 &&
      sigismember(&pending, SIGPIPE))
    sigtimedwait(&q->pipe_set, NULL, &no_wait);
  pthread_sigmask(SIG_SETMASK, &q->old, NULL);
}


/* h2o_send() with SIGPIPE quiet: h2o writes at once from it (libuv tries
 * the write inside uv_write()), so a closed connection's SIGPIPE is raised
 * inside it. */
static void send_quietly(h2o_req_t* req, h2o_iovec_t* bufs, size_t n,
                         h2o_send_state_t state) {
  quiet_t q;
  quiet_begin(&q);
  h2o_send(req, bufs, n, state);
  quiet_end(&q);
}


/* Closes the request's connection without an answer (a fault). The
 * socket is shut both ways, so the client reads end-of-file at once; then
 * an empty answer goes to h2o, not kept alive, whose write fails with
 * EPIPE and makes h2o close the connection; its SIGPIPE is blocked and
 * taken back, as send_quietly() does. */
static void drop_request(kn_serve_http_t* h, h2o_req_t* req) {
  h2o_socket_t* sock = req->conn->callbacks->get_socket != NULL
                           ? req->conn->callbacks->get_socket(req->conn)
                           : NULL;
  int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
  quiet_t q;

  if (fd >= 0)
    shutdown(fd, SHUT_RDWR);
  req->http1_is_persistent = 0;
  quiet_begin(&q);
  send_reply(h, req, 500, NULL, "", 0);
  quiet_end(&q);
}


/* ---- Delayed answers (latency) ---- */

static void delay_gone(kn_serve_http_t* h);


static void on_delay_closed(uv_handle_t* handle) {
  delayed_t* d = container_of((uv_timer_t*) handle, delayed_t, timer);
  kn_serve_http_t* h = d->h;

  kn_free(d);
  delay_gone(h);
}


/* Takes `d` out of the waiting list and closes its timer; its request, if
 * any, is answered (or dropped) first. */
static void delay_finish(delayed_t* d, int answer) {
  h2o_req_t* req = d->req;

  kn_queue_remove(&d->node);
  kn_queue_init(&d->node);
  if (d->slot != NULL)
    *d->slot = NULL;
  d->slot = NULL;
  d->req = NULL;
  uv_timer_stop(&d->timer);
  uv_close((uv_handle_t*) &d->timer, on_delay_closed);
  if (req != NULL && answer) {
    if (d->drop)
      drop_request(d->h, req);
    else
      send_reply(d->h, req, d->status, d->error_type, d->body, d->len);
  }
}


static void on_delay_timer(uv_timer_t* timer) {
  delay_finish(container_of(timer, delayed_t, timer), 1);
}


/* h2o frees the request's pool: a request it gave up on (not seen with
 * HTTP/1, which waits for the answer) is not answered. */
static void on_delayed_req_disposed(void* p) {
  delayed_t* d = *(delayed_t**) p;
  if (d != NULL)
    delay_finish(d, 0);
}


/* Keeps the reply in the request's pool and answers it `act->delay_ms`
 * later. Returns 0, or KINESIS_ENOMEM (the caller answers at once). */
static int delay_reply(kn_serve_http_t* h, h2o_req_t* req,
                       const kn_serve_http_action_t* act, int status,
                       const char* error_type, const char* body,
                       size_t len) {
  delayed_t* d = kn_calloc(1, sizeof(*d));

  if (d == NULL)
    return KINESIS_ENOMEM;
  d->h = h;
  d->req = req;
  d->drop = act->drop;
  d->status = status;
  d->error_type = error_type;
  d->len = len;
  d->body = h2o_strdup(&req->pool, body, len).base;
  d->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*d->slot),
                                 on_delayed_req_disposed);
  *d->slot = d;
  uv_timer_init(h->loop, &d->timer);
  uv_timer_start(&d->timer, on_delay_timer, act->delay_ms, 0);
  h->delays++;
  kn_queue_insert_tail(&h->delay_list, &d->node);
  return 0;
}


/* ---- Streams (SubscribeToShard) ---- */

static void stream_gone(kn_serve_http_t* h);


static void on_stream_closed(uv_handle_t* handle) {
  stream_t* st = container_of((uv_timer_t*) handle, stream_t, timer);
  kn_serve_http_t* h = st->h;

  kn_buf_free(&st->made);
  kn_buf_free(&st->writing);
  kn_free(st);
  stream_gone(h);
}


/* Over: the owner is told once, and the timer closes (the buffers go with
 * it, on a later tick, once h2o can no longer be writing them). */
static void stream_finish(stream_t* st) {
  st->over = 1;
  st->req = NULL;
  kn_queue_remove(&st->node);
  kn_queue_init(&st->node);
  st->end(st->arg);
  uv_timer_stop(&st->timer);
  uv_close((uv_handle_t*) &st->timer, on_stream_closed);
}


/* Asks for more, and hands what there is to h2o unless a write is out. */
static void stream_pump(stream_t* st) {
  h2o_iovec_t buf;
  kn_buf_t swap;

  if (st->over || st->busy)
    return;
  if (!st->done) {
    int done = 0;
    if (st->next(st->arg, &st->made, &done) != 0)
      done = 1;
    st->done = done;
  }
  if (st->made.len == 0 && !st->done)
    return;
  if (st->done) {
    /* The last write: into the request's pool, which h2o frees once it is
     * written, so that nothing of ours needs to outlive it. */
    h2o_req_t* req = st->req;
    buf = h2o_strdup(&req->pool, (const char*) st->made.data, st->made.len);
    stream_finish(st);
    send_quietly(req, &buf, buf.len > 0 ? 1 : 0, H2O_SEND_STATE_FINAL);
    return;
  }
  swap = st->writing;
  st->writing = st->made;
  st->made = swap;
  kn_buf_reset(&st->made);
  buf = h2o_iovec_init(st->writing.data, st->writing.len);
  st->busy = 1;
  st->in_send = 1;
  /* A client that has gone is found by this write (HTTP/1.1 reads nothing
   * while it answers): EPIPE, and SIGPIPE taken back. */
  send_quietly(st->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
  st->in_send = 0;
}


/* h2o has written the last bytes: the next may go. */
static void on_stream_proceed(h2o_generator_t* gen, h2o_req_t* req) {
  stream_t* st = (stream_t*) gen;
  (void) req;
  st->busy = 0;
  if (!st->in_send)
    stream_pump(st);
}


/* h2o gives up on the request (the client has gone). */
static void on_stream_stop(h2o_generator_t* gen, h2o_req_t* req) {
  stream_t* st = (stream_t*) gen;
  (void) req;
  if (!st->over)
    stream_finish(st);
}


static void on_stream_timer(uv_timer_t* timer) {
  stream_pump(container_of(timer, stream_t, timer));
}


/* Answers `req` with the stream `act` describes. Returns 0, or
 * KINESIS_ENOMEM (the stream's end has run; the caller answers 500). */
static int start_stream(kn_serve_http_t* h, h2o_req_t* req,
                        const kn_serve_http_action_t* act) {
  stream_t* st = kn_calloc(1, sizeof(*st));

  if (st == NULL) {
    act->stream_end(act->stream_arg);
    return KINESIS_ENOMEM;
  }
  st->gen.proceed = on_stream_proceed;
  st->gen.stop = on_stream_stop;
  st->h = h;
  st->req = req;
  st->next = act->stream_next;
  st->end = act->stream_end;
  st->arg = act->stream_arg;
  kn_buf_init(&st->made);
  kn_buf_init(&st->writing);
  uv_timer_init(h->loop, &st->timer);
  h->streams++;
  kn_queue_insert_tail(&h->stream_list, &st->node);
  start_headers(h, req, 200, act->stream_type);
  h2o_start_response(req, &st->gen);
  uv_timer_start(&st->timer, on_stream_timer, act->stream_every_ms,
                 act->stream_every_ms);
  stream_pump(st);
  return 0;
}


static int on_req(h2o_handler_t* self, h2o_req_t* req) {
  kn_serve_http_t* h = ((handler_t*) self)->h;
  kn_serve_http_req_t hreq;
  req_impl_t impl;
  kn_svc_reply_t reply;
  kn_serve_http_action_t act;
  const char* body;
  size_t len;
  ssize_t i;
  size_t path_len;
  char* target;
  int r;

  if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
    send_error(h, req, 404, "UnknownOperationException",
               "only POST is served");
    return 0;
  }
  path_len = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
  if (!h2o_memis(req->path.base, path_len, H2O_STRLIT("/"))) {
    send_error(h, req, 404, "UnknownOperationException",
               "only the path / is served");
    return 0;
  }
  if (!json_content_type(req)) {
    send_error(h, req, 404, "UnknownOperationException",
               "Content-Type must be " JSON_TYPE);
    return 0;
  }
  i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-amz-target"), -1);
  if (i == -1 || req->headers.entries[i].value.len == 0) {
    send_error(h, req, 400, "UnknownOperationException",
               "missing X-Amz-Target");
    return 0;
  }
  target = h2o_mem_alloc_pool(&req->pool,
                              req->headers.entries[i].value.len + 1);
  memcpy(target, req->headers.entries[i].value.base,
         req->headers.entries[i].value.len);
  target[req->headers.entries[i].value.len] = '\0';

  impl.req = req;
  snprintf(impl.content_length, sizeof(impl.content_length), "%zu",
           req->entity.base != NULL ? req->entity.len : 0);
  hreq.method.ptr = (const uint8_t*) req->input.method.base;
  hreq.method.len = req->input.method.len;
  path_len = req->input.query_at != SIZE_MAX ? req->input.query_at
                                             : req->input.path.len;
  hreq.path.ptr = (const uint8_t*) req->input.path.base;
  hreq.path.len = path_len;
  hreq.query.ptr = hreq.path.ptr + path_len +
                   (path_len < req->input.path.len ? 1 : 0);
  hreq.query.len = path_len < req->input.path.len
                       ? req->input.path.len - path_len - 1
                       : 0;
  hreq.target = target;
  hreq.body = req->entity.base != NULL ? (const uint8_t*) req->entity.base
                                       : (const uint8_t*) "";
  hreq.len = req->entity.base != NULL ? req->entity.len : 0;
  hreq.header = req_header;
  hreq.impl = &impl;

  kn_buf_init(&reply.body);
  reply.status = 500;
  reply.error_type = NULL;
  memset(&act, 0, sizeof(act));
  r = h->handle(h->arg, &hreq, &reply, &act);
  if (r == 0 && act.stream_next != NULL) {
    if (h->stopping) {
      act.stream_end(act.stream_arg);
      send_error(h, req, 503, "ServiceUnavailable", "the service is stopping");
    } else if (start_stream(h, req, &act) != 0) {
      send_reply(h, req, 500, "InternalFailure", OOM_BODY,
                 sizeof(OOM_BODY) - 1);
    }
    kn_buf_free(&reply.body);
    return 0;
  }
  if (r != 0) {
    /* Out of memory: the reply is the front's own, from static text. */
    reply.status = 500;
    reply.error_type = "InternalFailure";
    body = OOM_BODY;
    len = sizeof(OOM_BODY) - 1;
  } else {
    body = (const char*) reply.body.data;
    len = reply.body.len;
  }
  /* Later, or at once: no delay, or no memory to wait with. */
  if (act.delay_ms == 0 || h->stopping ||
      delay_reply(h, req, &act, reply.status, reply.error_type, body, len) !=
          0) {
    if (act.drop)
      drop_request(h, req);
    else
      send_reply(h, req, reply.status, reply.error_type, body, len);
  }
  kn_buf_free(&reply.body);
  return 0;
}


/* ---- Connections ---- */

static void conn_gone(kn_serve_http_t* h);


/* A connection h2o never saw: uv_accept() failed. */
static void on_stray_closed(uv_handle_t* handle) {
  conn_t* c = container_of((uv_tcp_t*) handle, conn_t, tcp);
  kn_serve_http_t* h = c->h;

  kn_queue_remove(&c->node);
  kn_free(c);
  conn_gone(h);
}


/* h2o is done with a connection: it has closed our handle. */
static void on_conn_closed(uv_handle_t* handle) {
  conn_t* c = container_of((uv_tcp_t*) handle, conn_t, tcp);
  kn_serve_http_t* h = c->h;

  kn_queue_remove(&c->node);
  kn_free(c);
  conn_gone(h);
}


static void on_connection(uv_stream_t* server, int status) {
  kn_serve_http_t* h = container_of((uv_tcp_t*) server, kn_serve_http_t,
                                    listener);
  h2o_socket_t* sock;
  conn_t* c;

  if (status != 0 || h->stopping)
    return;
  c = kn_malloc(sizeof(*c));
  if (c == NULL)
    return; /* The connection waits in the backlog for the next try. */
  c->h = h;
  if (uv_tcp_init(h->loop, &c->tcp) != 0) {
    kn_free(c);
    return;
  }
  h->conns++;
  kn_queue_insert_tail(&h->conn_list, &c->node);
  if (uv_accept(server, (uv_stream_t*) &c->tcp) != 0) {
    uv_close((uv_handle_t*) &c->tcp, on_stray_closed);
    return;
  }
  sock = h2o_uv_socket_create((uv_stream_t*) &c->tcp, on_conn_closed);
  h2o_accept(&h->accept, sock);
}


/* ---- Stopping ---- */

static void on_finisher_closed(uv_handle_t* handle) {
  kn_serve_http_t* h = handle->data;
  kn_serve_http_stopped_cb cb;
  void* arg;

  cb = h->stopped_cb;
  arg = h->stopped_arg;
  kn_free(h);
  if (cb != NULL)
    cb(arg);
}


/* The dispose runs in a closing phase (a connection's or the listener's
 * close callback). First run: the next turn's idle phase, before that
 * turn's closing phase, where h2o's handles finish closing: queue again.
 * Second run: a turn later, with h2o's handles gone. */
static void on_finish(kn_defer_item_t* item) {
  kn_serve_http_t* h = container_of(item, kn_serve_http_t, finish);
  if (++h->finish_runs < 2)
    kn_defer_add(&h->defer, &h->finish, on_finish);
}


/* After the second run, outside it: the queue's own handle goes last. */
static void on_defer_empty(kn_defer_t* d) {
  kn_serve_http_t* h = container_of(d, kn_serve_http_t, defer);
  if (h->finish_runs == 2 && !kn_life_closing(&d->life))
    kn_defer_close(d, NULL, on_finisher_closed);
}


static void maybe_dispose(kn_serve_http_t* h) {
  if (!h->stopping || !h->listener_closed || h->conns > 0 || h->delays > 0 ||
      h->streams > 0)
    return;
  h2o_context_dispose(&h->ctx);
  h2o_config_dispose(&h->config);
  kn_defer_add(&h->defer, &h->finish, on_finish);
}


static void stream_gone(kn_serve_http_t* h) {
  KN_ASSERT(h->streams > 0);
  h->streams--;
  maybe_dispose(h);
}


static void delay_gone(kn_serve_http_t* h) {
  KN_ASSERT(h->delays > 0);
  h->delays--;
  maybe_dispose(h);
}


static void conn_gone(kn_serve_http_t* h) {
  KN_ASSERT(h->conns > 0);
  h->conns--;
  maybe_dispose(h);
}


static void on_listener_closed(uv_handle_t* handle) {
  kn_serve_http_t* h = container_of((uv_tcp_t*) handle, kn_serve_http_t,
                                    listener);
  h->listener_closed = 1;
  maybe_dispose(h);
}


void kn_serve_http_stop(kn_serve_http_t* h, kn_serve_http_stopped_cb cb,
                        void* arg) {
  kn_queue_t* q;

  KN_ASSERT(!h->stopping);
  h->stopping = 1;
  h->stopped_cb = cb;
  h->stopped_arg = arg;
  uv_close((uv_handle_t*) &h->listener, on_listener_closed);
  /* Delayed answers go now, so that their connections can close; and
   * streams end, with what they had made (at once, or once the write out
   * is done). */
  while (!kn_queue_empty(&h->delay_list))
    delay_finish(kn_queue_data(h->delay_list.next, delayed_t, node), 1);
  for (q = h->stream_list.next; q != &h->stream_list;) {
    stream_t* st = kn_queue_data(q, stream_t, node);
    q = q->next;
    st->done = 1;
    stream_pump(st);
  }
  /* h2o 2.2's h2o_context_request_shutdown() does nothing to idle HTTP/1
   * connections (they would wait out http1.req_timeout), and it links a
   * one-second HTTP/2 timeout that h2o_context_dispose() then asserts
   * against. Instead each connection's reading side is shut: h2o reads
   * end-of-file and closes it through its own path, at once for an idle
   * one, after its answer for one being written. Not the writing side:
   * an answer still queued would then raise SIGPIPE. */
  for (q = h->conn_list.next; q != &h->conn_list; q = q->next) {
    conn_t* c = kn_queue_data(q, conn_t, node);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t*) &c->tcp, &fd) == 0)
      shutdown(fd, SHUT_RD);
  }
}


/* ---- Starting ---- */

/* A listening socket on `ip`:`port`, made with plain calls so that a
 * failure leaves nothing on the loop. Returns the descriptor or a libuv
 * error. */
static int listen_socket(const char* ip, uint16_t port, int* bound_port) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fd;
  int on = 1;
  int err;

  memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(ip, port, (struct sockaddr_in*) &ss) == 0)
    len = sizeof(struct sockaddr_in);
  else if (uv_ip6_addr(ip, port, (struct sockaddr_in6*) &ss) == 0)
    len = sizeof(struct sockaddr_in6);
  else
    return KINESIS_EINVAL;
  fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return uv_translate_sys_error(errno);
  /* As libuv's bind does: a restarted service gets its port back while
   * the old connections linger in TIME_WAIT. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      bind(fd, (struct sockaddr*) &ss, len) != 0 || listen(fd, 128) != 0)
    goto fail;
  len = sizeof(ss);
  if (getsockname(fd, (struct sockaddr*) &ss, &len) != 0)
    goto fail;
  *bound_port = ss.ss_family == AF_INET
                    ? ntohs(((struct sockaddr_in*) &ss)->sin_port)
                    : ntohs(((struct sockaddr_in6*) &ss)->sin6_port);
  return fd;

fail:
  err = uv_translate_sys_error(errno);
  close(fd);
  return err;
}


static void on_failed_listener_closed(uv_handle_t* handle) {
  kn_free(container_of((uv_tcp_t*) handle, kn_serve_http_t, listener));
}


int kn_serve_http_start(uv_loop_t* loop, const char* ip, uint16_t port,
                        kn_serve_http_handle_cb handle, void* arg,
                        kn_serve_http_t** out) {
  kn_serve_http_t* h;
  h2o_hostconf_t* host;
  h2o_pathconf_t* path;
  handler_t* handler;
  int bound_port = 0;
  int fd;
  int r;

  h = kn_calloc(1, sizeof(*h));
  if (h == NULL)
    return KINESIS_ENOMEM;
  fd = listen_socket(ip, port, &bound_port);
  if (fd < 0) {
    kn_free(h);
    return fd;
  }
  h->loop = loop;
  kn_queue_init(&h->conn_list);
  kn_queue_init(&h->delay_list);
  kn_queue_init(&h->stream_list);
  h->handle = handle;
  h->arg = arg;
  h->port = bound_port;
  h->rng = uv_hrtime() ^ ((uint64_t) (uintptr_t) h << 16) ^
           ((uint64_t) getpid() << 40);
  if (h->rng == 0)
    h->rng = 0x9e3779b97f4a7c15ull;

  /* From here on nothing fails but the unlikely: the handles are made. */
  uv_tcp_init(loop, &h->listener);
  r = uv_tcp_open(&h->listener, fd);
  if (r == 0)
    r = uv_listen((uv_stream_t*) &h->listener, 128, on_connection);
  if (r != 0) {
    /* Not seen in practice (the descriptor is fresh and already listens);
     * the handle closes on the next turn, and h with it. */
    if (uv_fileno((uv_handle_t*) &h->listener, &(uv_os_fd_t){0}) != 0)
      close(fd);
    uv_close((uv_handle_t*) &h->listener, on_failed_listener_closed);
    return r;
  }
  kn_defer_init(loop, &h->defer, 0, on_defer_empty);
  h->defer.idle.data = h;
  kn_defer_item_init(&h->finish);

  h2o_config_init(&h->config);
  h->config.max_request_entity_size = KN_SERVE_HTTP_MAX_BODY;
  /* HTTP/2 over cleartext as well, as the AWS SDKs' Kinesis clients speak
   * it to an http:// endpoint: with prior knowledge (h2o reads the
   * preface), or after an Upgrade: h2c. */
  h->config.http1.upgrade_to_http2 = 1;
  host = h2o_config_register_host(&h->config,
                                  h2o_iovec_init(H2O_STRLIT("default")),
                                  65535);
  path = h2o_config_register_path(host, "/", 0);
  handler = (handler_t*) h2o_create_handler(path, sizeof(*handler));
  handler->super.on_req = on_req;
  handler->h = h;
  h2o_context_init(&h->ctx, loop, &h->config);
  h->accept.ctx = &h->ctx;
  h->accept.hosts = h->config.hosts;
  *out = h;
  return 0;
}


int kn_serve_http_port(const kn_serve_http_t* h) {
  return h->port;
}
