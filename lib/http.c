#include "http.h"

#include "internal.h"
#include "buf.h"
#include "defer.h"

#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

/*
 * libcurl's multi-socket API on a uv loop, after curl's docs/examples/
 * multi-uv.c with its known bugs removed (STYLE.md section 8): one timer per
 * multi handle, one poll handle per socket stored with curl_multi_assign(),
 * poll errors passed on as CURL_CSELECT_ERR, curl_multi_info_read() drained
 * after every socket action, and completions run outside curl's callbacks.
 *
 * A poll handle lives as long as its socket, not as long as one transfer:
 * curl says CURL_POLL_REMOVE when a kept-alive connection goes idle between
 * requests, and only stopping the handle then saves a handle set-up, an
 * ioctl and three epoll_ctl calls a request. The handle is closed from
 * CURLOPT_CLOSESOCKETFUNCTION, before the descriptor is, so a number curl
 * reuses never finds a handle of the old socket still polling.
 */

#define KN_HTTP_DEFAULT_MAX_CONNECTIONS 64
#define KN_HTTP_DEFAULT_CONNECT_TIMEOUT_MS 10000
#define KN_HTTP_DEFAULT_TIMEOUT_MS 30000
#define KN_HTTP_DEFAULT_MAX_RESPONSE (64u * 1024 * 1024)
#define KN_HTTP_MAX_HEADER_VALUE 256
/* All of a response's header lines together, at most: Kinesis sends well
 * under 1 KiB. */
#define KN_HTTP_MAX_HEADER_BYTES (64u * 1024)

/* Easy handles kept for reuse, at most: one a connection, and no more
 * than this. */
#define KN_HTTP_IDLE_MAX 256

struct kn_http_s {
  uv_loop_t* loop;
  CURLM* multi;
  uv_timer_t timer;      /* curl's timeout */
  /* Completions that must not be synchronous (a cancel, a socket with no
   * poll handle), run on a later tick. */
  kn_defer_t defer;
  kn_queue_t active;     /* requests added to the multi handle */
  kn_queue_t sockets;    /* kn_http_socket_t of every open socket */
  size_t pending;        /* requests whose callback has not run */
  char* ca_file;
  int insecure;
  uint32_t connect_timeout_ms;
  uint32_t timeout_ms;
  size_t max_response_bytes;
  /* KN_LIFE_CLOSING: kn_http_close() was called. KN_LIFE_FREEING: the multi
   * handle is cleaned up and the handles are closing. Its depth is not
   * used: a close asked from a request's callback starts once no deferred
   * completion is running (the defer's depth), and http_drain checks
   * `multi` after each callback. */
  kn_life_t life;
  int handles_open;      /* uv handles not yet closed: timer, idle, polls */
  size_t connections;    /* connections opened, over all time */
  int no_poll;           /* requests marked no_poll since the last check */
  /* Easy handles of finished requests, kept for the next ones with the
   * options every request shares (handle_new()): a fresh handle costs the
   * allocation of its buffers, and curl_easy_reset() frees and copies its
   * strings again, about 10% of an idle GetRecords. */
  CURL** idle;
  size_t nidle;
  size_t idle_max;
  void (*close_cb)(void* arg);
  void* close_arg;
};

struct kn_http_req_s {
  kn_queue_t node;       /* in http->active, while on the multi handle */
  kn_defer_item_t item;  /* in http->defer, once completed off the multi */
  kn_http_t* http;
  CURL* easy;
  struct curl_slist* headers;
  kn_buf_t body;
  char request_id[KN_HTTP_MAX_HEADER_VALUE];
  char error_type[KN_HTTP_MAX_HEADER_VALUE];
  char errbuf[CURL_ERROR_SIZE];
  kn_http_cb cb;
  void* arg;
  int status;            /* the result, once done */
  int too_big;           /* 1: the body was over the limit; 2: the headers */
  int nomem;             /* the body could not be buffered: no memory */
  size_t header_bytes;   /* of the current response */
  int no_poll;           /* its socket got no poll handle: the error */
  int on_multi;          /* in http->active, on the multi handle */
  /* Streaming (kn_http_request_t.on_data): `streamed` is 0 until the first
   * bytes of the body, then 1 when they go to on_data (a 2xx answer) or -1
   * when they are buffered; `aborted` is the error on_data returned, or
   * KINESIS_ECANCELED for a cancel asked from inside it. */
  kn_http_data_cb on_data;
  int streamed;
  long stream_status;
  int paused;
  int in_data;           /* on_data is running */
  int aborted;
  kn_defer_item_t resume;
};

typedef struct {
  uv_poll_t poll;
  kn_queue_t node;       /* in http->sockets */
  kn_http_t* http;
  curl_socket_t fd;
  int events;            /* what the handle polls for; 0: stopped */
} kn_http_socket_t;


static void http_maybe_finish_close(kn_http_t* http);
static void http_drain(kn_http_t* http);
static void http_fail_no_poll(kn_http_t* http);
static void req_defer(kn_http_req_t* req, int status);


static int curl_global_ready(void) {
  /* curl_global_init() is thread-safe since 7.84, which meson requires. */
  static int done;
  if (!done) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      return KINESIS_ENOMEM;
    done = 1;
  }
  return 0;
}


static void on_handle_closed(uv_handle_t* h) {
  kn_http_t* http = h->data;
  if (h->type == UV_POLL)
    kn_free(container_of((uv_poll_t*) h, kn_http_socket_t, poll));
  http->handles_open--;
  http_maybe_finish_close(http);
}


static void on_poll(uv_poll_t* handle, int status, int events) {
  kn_http_socket_t* s = container_of(handle, kn_http_socket_t, poll);
  kn_http_t* http = s->http;
  int flags = 0;
  int running;

  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  curl_multi_socket_action(http->multi, s->fd, flags, &running);
  /* Drained whatever running_handles says (multi-uv.c only checked it). */
  (void) running;
  http_fail_no_poll(http);
  http_drain(http);
}


static void on_timer(uv_timer_t* timer) {
  kn_http_t* http = container_of(timer, kn_http_t, timer);
  int running;
  curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  http_fail_no_poll(http);
  http_drain(http);
}


/* CURLMOPT_TIMERFUNCTION: never call curl from here, only arm the timer. */
static int on_curl_timer(CURLM* multi, long timeout_ms, void* userp) {
  kn_http_t* http = userp;
  (void) multi;
  if (timeout_ms < 0)
    uv_timer_stop(&http->timer);
  else
    uv_timer_start(&http->timer, on_timer, (uint64_t) timeout_ms, 0);
  return 0;
}


static kn_http_socket_t* socket_find(kn_http_t* http, curl_socket_t fd) {
  kn_queue_t* q;
  for (q = http->sockets.next; q != &http->sockets; q = q->next) {
    kn_http_socket_t* s = kn_queue_data(q, kn_http_socket_t, node);
    if (s->fd == fd)
      return s;
  }
  return NULL;
}


/* A socket of `easy` could not be polled (`err`). Returning -1 would make
 * curl mark the whole multi handle dead and fail every transfer, and only
 * once a timer wakes it up; instead the request is marked, and
 * http_fail_no_poll() ends it with `err` when curl has returned. */
static int socket_failed(kn_http_t* http, CURL* easy, int err) {
  kn_http_req_t* req = NULL;
  if (easy != NULL)
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char**) &req);
  if (req == NULL)
    return -1;
  req->no_poll = err;
  http->no_poll = 1;
  return 0;
}


/* Ends the requests socket_failed() marked; outside curl's callbacks, since
 * it removes their handles. */
static void http_fail_no_poll(kn_http_t* http) {
  kn_queue_t* q;
  if (!http->no_poll)
    return;
  http->no_poll = 0;
  q = http->active.next;
  while (q != &http->active) {
    kn_http_req_t* req = kn_queue_data(q, kn_http_req_t, node);
    q = q->next;
    if (req->no_poll != 0)
      req_defer(req, req->no_poll);
  }
}


/* CURLMOPT_SOCKETFUNCTION: start, change or stop polling one socket. */
static int on_curl_socket(CURL* easy, curl_socket_t fd, int what, void* userp,
                          void* socketp) {
  kn_http_t* http = userp;
  kn_http_socket_t* s = socketp;
  int events = 0;

  /* curl forgets what it was given on CURL_POLL_REMOVE: a connection taken
   * from its cache comes back without it. */
  if (s == NULL)
    s = socket_find(http, fd);
  if (what == CURL_POLL_REMOVE) {
    if (s != NULL && s->events != 0) {
      uv_poll_stop(&s->poll);
      s->events = 0;
    }
    return 0;
  }

  if (s == NULL) {
    int err;
    s = kn_malloc(sizeof(*s));
    if (s == NULL)
      return socket_failed(http, easy, KINESIS_ENOMEM);
    err = uv_poll_init_socket(http->loop, &s->poll, fd);
    if (err != 0) {
      kn_free(s);
      return socket_failed(http, easy, err);
    }
    s->poll.data = http;
    s->http = http;
    s->fd = fd;
    s->events = 0;
    kn_queue_insert_tail(&http->sockets, &s->node);
    http->handles_open++;
  }
  if (socketp == NULL)
    curl_multi_assign(http->multi, fd, s);
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  if (events != s->events) {
    uv_poll_start(&s->poll, events, on_poll);
    s->events = events;
  }
  return 0;
}


/* CURLOPT_CLOSESOCKETFUNCTION: the socket's handle goes first, then the
 * descriptor. */
static int on_curl_closesocket(void* clientp, curl_socket_t fd) {
  kn_http_t* http = clientp;
  kn_http_socket_t* s = socket_find(http, fd);
  if (s != NULL) {
    kn_queue_remove(&s->node);
    uv_close((uv_handle_t*) &s->poll, on_handle_closed);
  }
  return close(fd);
}


/* A streaming request's bytes, for on_data. curl keeps the bytes of a
 * paused transfer and hands them again once it is resumed. */
static size_t stream_body(kn_http_req_t* req, char* data, size_t n) {
  int r;
  /* Ended already (curl may hand over more of what it kept). */
  if (req->aborted != 0)
    return 0;
  req->in_data = 1;
  r = req->on_data(req->arg, req->stream_status, (const uint8_t*) data, n);
  req->in_data = 0;
  if (req->aborted != 0)
    return 0;
  if (r == KN_HTTP_PAUSE) {
    req->paused = 1;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (r < 0) {
    /* A refused write ends the transfer (CURLE_WRITE_ERROR). */
    req->aborted = r;
    return 0;
  }
  return n;
}


static size_t on_body(char* data, size_t size, size_t nmemb, void* userp) {
  kn_http_req_t* req = userp;
  size_t n = size * nmemb;
  if (req->on_data != NULL) {
    if (req->streamed == 0) {
      curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE,
                        &req->stream_status);
      req->streamed =
          req->stream_status >= 200 && req->stream_status < 300 ? 1 : -1;
    }
    if (req->streamed > 0)
      return stream_body(req, data, n);
  }
  if (req->body.len + n > req->http->max_response_bytes) {
    req->too_big = 1;
    return 0;
  }
  if (kn_buf_append(&req->body, data, n) != 0) {
    /* curl calls a refused write CURLE_WRITE_ERROR, a transport error that
     * would be retried: it is remembered as what it is (issue 17). */
    req->nomem = 1;
    return 0;
  }
  return n;
}


static void header_value(const char* line, size_t len, size_t name_len,
                         char* out, size_t out_size) {
  size_t i = name_len + 1;
  size_t end = len;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  while (end > i && (line[end - 1] == '\r' || line[end - 1] == '\n' ||
                     line[end - 1] == ' ' || line[end - 1] == '\t'))
    end--;
  if (end - i >= out_size)
    end = i + out_size - 1;
  memcpy(out, line + i, end - i);
  out[end - i] = '\0';
}


static size_t on_header(char* line, size_t size, size_t nmemb, void* userp) {
  kn_http_req_t* req = userp;
  size_t n = size * nmemb;
  static const char rid[] = "x-amzn-requestid:";
  static const char etype[] = "x-amzn-errortype:";
  static const char clen[] = "content-length:";

  if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    /* A new response (after a 100 Continue, say) replaces the last. */
    req->request_id[0] = '\0';
    req->error_type[0] = '\0';
    req->header_bytes = 0;
  }
  /* Refusing a line makes curl end the transfer (CURLE_WRITE_ERROR). */
  req->header_bytes += n;
  if (req->header_bytes > KN_HTTP_MAX_HEADER_BYTES) {
    req->too_big = 2;
    return 0;
  }
  if (n > sizeof(rid) - 1 &&
             strncasecmp(line, rid, sizeof(rid) - 1) == 0) {
    header_value(line, n, sizeof(rid) - 2, req->request_id,
                 sizeof(req->request_id));
  } else if (n > sizeof(etype) - 1 &&
             strncasecmp(line, etype, sizeof(etype) - 1) == 0) {
    header_value(line, n, sizeof(etype) - 2, req->error_type,
                 sizeof(req->error_type));
  } else if (n > sizeof(clen) - 1 &&
             strncasecmp(line, clen, sizeof(clen) - 1) == 0) {
    /* Room for the whole body at once, instead of growing chunk by chunk;
     * a length over the limit is refused when the bytes come. */
    char value[32];
    unsigned long long len;
    header_value(line, n, sizeof(clen) - 2, value, sizeof(value));
    len = strtoull(value, NULL, 10);
    if (len > 0 && len <= req->http->max_response_bytes && req->body.len == 0)
      kn_buf_reserve(&req->body, (size_t) len);
  }
  return n;
}


static int map_curl_error(const kn_http_req_t* req, CURLcode code) {
  switch (code) {
    case CURLE_OK:
      return 0;
    case CURLE_OPERATION_TIMEDOUT:
      return KINESIS_ETIMEDOUT;
    case CURLE_WRITE_ERROR:
      if (req->aborted != 0)
        return req->aborted;
      if (req->nomem)
        return KINESIS_ENOMEM;
      return req->too_big ? KINESIS_EPROTO : KINESIS_ETRANSPORT;
    case CURLE_OUT_OF_MEMORY:
      return KINESIS_ENOMEM;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_USE_SSL_FAILED:
      return KINESIS_ETLS;
    default:
      return KINESIS_ETRANSPORT;
  }
}


static void req_free(kn_http_req_t* req) {
  kn_http_t* http = req->http;
  kn_defer_cancel(&http->defer, &req->resume);
  if (req->easy != NULL) {
    if (!kn_life_closing(&http->life) && http->nidle < http->idle_max) {
      /* Nothing of this request is left for curl to point to. */
      curl_easy_setopt(req->easy, CURLOPT_PRIVATE, NULL);
      curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, NULL);
      curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, NULL);
      curl_easy_setopt(req->easy, CURLOPT_HEADERDATA, NULL);
      curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, NULL);
      curl_easy_setopt(req->easy, CURLOPT_POSTFIELDS, NULL);
      http->idle[http->nidle++] = req->easy;
    } else {
      curl_easy_cleanup(req->easy);
    }
  }
  curl_slist_free_all(req->headers);
  kn_buf_free(&req->body);
  kn_free(req);
}


static void req_run_callback(kn_http_req_t* req) {
  kn_http_t* http = req->http;
  kn_http_response_t res;
  long code = 0;

  memset(&res, 0, sizeof(res));
  if (req->status == 0 || req->status == KINESIS_EPROTO)
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code);
  res.status = code;
  res.body = req->body.data != NULL ? req->body.data : (const uint8_t*) "";
  res.body_len = req->body.len;
  res.body_buf = &req->body;
  res.request_id = req->request_id[0] != '\0' ? req->request_id : NULL;
  res.error_type = req->error_type[0] != '\0' ? req->error_type : NULL;
  if (req->status != 0) {
    if (req->status == KINESIS_ECANCELED)
      res.transport_error = "request canceled";
    else if (req->nomem)
      res.transport_error = "out of memory buffering the response body";
    else if (req->too_big == 2)
      res.transport_error = "response headers exceed the size limit";
    else if (req->too_big)
      res.transport_error = "response body exceeds the size limit";
    else
      res.transport_error = req->errbuf[0] != '\0' ? req->errbuf
                                                   : kinesis_strerror(req->status);
  }
  http->pending--;
  req->cb(req->status, &res, req->arg);
  req_free(req);
}


static void req_deferred_run(kn_defer_item_t* item) {
  req_run_callback(container_of(item, kn_http_req_t, item));
}


/* A deferred tick ended with nothing left to run: a close asked from one of
 * its callbacks can go on. */
static void on_defer_empty(kn_defer_t* d) {
  http_maybe_finish_close(container_of(d, kn_http_t, defer));
}


/* Takes `req` off the multi handle and queues its callback for the next
 * iteration of the loop. Callbacks a deferred callback causes wait for the
 * next tick. */
static void req_defer(kn_http_req_t* req, int status) {
  kn_http_t* http = req->http;
  if (req->in_data) {
    /* curl is inside on_body: the transfer ends when it returns, through
     * http_drain, which is where the handle comes off the multi handle. */
    if (req->aborted == 0)
      req->aborted = status;
    return;
  }
  kn_defer_cancel(&http->defer, &req->resume);
  kn_queue_remove(&req->node);
  req->on_multi = 0;
  if (http->multi != NULL)
    curl_multi_remove_handle(http->multi, req->easy);
  req->status = status;
  kn_defer_add(&http->defer, &req->item, req_deferred_run);
}


static void http_drain(kn_http_t* http) {
  CURLMsg* msg;
  int left;

  /* A callback may close the client, which cleans the multi handle up. */
  while (http->multi != NULL &&
         (msg = curl_multi_info_read(http->multi, &left)) != NULL) {
    kn_http_req_t* req;
    long connects = 0;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char**) &req);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &connects);
    http->connections += (size_t) connects;
    kn_queue_remove(&req->node);
    req->on_multi = 0;
    curl_multi_remove_handle(http->multi, req->easy);
    req->status = map_curl_error(req, msg->data.result);
    req_run_callback(req);
  }
  http_maybe_finish_close(http);
}


int kn_http_alloc(uv_loop_t* loop, const kn_http_options_t* opts,
                  kn_http_t** out) {
  kn_http_t* http;
  int r;

  if (loop == NULL || out == NULL)
    return KINESIS_EINVAL;
  r = curl_global_ready();
  if (r != 0)
    return r;
  http = kn_calloc(1, sizeof(*http));
  if (http == NULL)
    return KINESIS_ENOMEM;
  http->loop = loop;
  kn_queue_init(&http->active);
  kn_queue_init(&http->sockets);
  http->connect_timeout_ms = KN_HTTP_DEFAULT_CONNECT_TIMEOUT_MS;
  http->timeout_ms = KN_HTTP_DEFAULT_TIMEOUT_MS;
  http->max_response_bytes = KN_HTTP_DEFAULT_MAX_RESPONSE;
  long max_conn = KN_HTTP_DEFAULT_MAX_CONNECTIONS;
  if (opts != NULL) {
    if (opts->ca_file != NULL &&
        (http->ca_file = kn_strdup(opts->ca_file)) == NULL) {
      kn_free(http);
      return KINESIS_ENOMEM;
    }
    http->insecure = opts->insecure != 0;
    if (opts->connect_timeout_ms > 0)
      http->connect_timeout_ms = opts->connect_timeout_ms;
    if (opts->timeout_ms > 0)
      http->timeout_ms = opts->timeout_ms;
    if (opts->max_response_bytes > 0)
      http->max_response_bytes = opts->max_response_bytes;
    if (opts->max_connections > 0)
      max_conn = (long) opts->max_connections;
  }
  http->multi = curl_multi_init();
  if (http->multi == NULL) {
    kn_free(http->ca_file);
    kn_free(http);
    return KINESIS_ENOMEM;
  }
  curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
  curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
  curl_multi_setopt(http->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conn);
  curl_multi_setopt(http->multi, CURLMOPT_MAXCONNECTS, max_conn);
  http->idle_max = max_conn < KN_HTTP_IDLE_MAX ? (size_t) max_conn
                                               : KN_HTTP_IDLE_MAX;
  http->idle = kn_calloc(http->idle_max, sizeof(*http->idle));
  if (http->idle == NULL) {
    curl_multi_cleanup(http->multi);
    kn_free(http->ca_file);
    kn_free(http);
    return KINESIS_ENOMEM;
  }
  *out = http;
  return 0;
}


void kn_http_start(kn_http_t* http) {
  uv_timer_init(http->loop, &http->timer);
  http->timer.data = http;
  /* Cannot fail on Unix. */
  (void) kn_defer_init(http->loop, &http->defer, 0, on_defer_empty);
  http->defer.idle.data = http;
  http->handles_open = 2;
}


void kn_http_free_unstarted(kn_http_t* http) {
  curl_multi_cleanup(http->multi);
  kn_free(http->idle);
  kn_free(http->ca_file);
  kn_free(http);
}


int kn_http_new(uv_loop_t* loop, const kn_http_options_t* opts,
                kn_http_t** out) {
  int r = kn_http_alloc(loop, opts, out);
  if (r == 0)
    kn_http_start(*out);
  return r;
}


/* The options every request of `http` shares, set once on a new easy
 * handle: a handle from the pool keeps them. */
static CURL* handle_new(kn_http_t* http) {
  CURL* e = curl_easy_init();
  if (e == NULL)
    return NULL;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_curl_closesocket);
  curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, http);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* A 500-record PutRecords answer (about 50 KB) in one read, not four:
   * measured 3-4% less CPU per record in bench_producer. */
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 65536L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (http->ca_file != NULL)
    curl_easy_setopt(e, CURLOPT_CAINFO, http->ca_file);
  if (http->insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return e;
}


/* The options of this request alone. */
static int req_setup(kn_http_t* http, kn_http_req_t* req,
                     const kn_http_request_t* r) {
  CURL* e = req->easy;
  const char* const* h;
  struct curl_slist* list;

  curl_easy_setopt(e, CURLOPT_PRIVATE, (char*) req);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   (long) (r->timeout_ms > 0 ? r->timeout_ms : http->timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   (long) (r->connect_timeout_ms > 0 ? r->connect_timeout_ms
                                                     : http->connect_timeout_ms));
  if (curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK)
    return KINESIS_EINVAL;
  /* Set on every request, since a pooled handle keeps the last one's. */
  if (r->http2)
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     strncmp(r->url, "https:", 6) == 0
                         ? (long) CURL_HTTP_VERSION_2TLS
                         : (long) CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  else
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  /* Streams to one TLS host wait for its connection's ALPN answer and share
   * it, rather than each opening one. */
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, (long) (r->http2 && !r->own_connection));
  curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long) (r->own_connection != 0));
  curl_easy_setopt(e, CURLOPT_FORBID_REUSE, (long) (r->own_connection != 0));
  req->on_data = r->on_data;

  if (strcmp(r->method, "GET") == 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                     r->body != NULL ? (const char*) r->body : "");
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
                     r->method[1] == 'U' ? "PUT" : NULL);
  } else {
    return KINESIS_EINVAL;
  }

  /* No "Expect: 100-continue": it costs a round trip on large bodies. */
  list = curl_slist_append(NULL, "Expect:");
  if (list == NULL)
    return KINESIS_ENOMEM;
  req->headers = list;
  for (h = r->headers; h != NULL && *h != NULL; h++) {
    list = curl_slist_append(req->headers, *h);
    if (list == NULL)
      return KINESIS_ENOMEM;
    req->headers = list;
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
  return 0;
}


int kn_http_send(kn_http_t* http, const kn_http_request_t* r, kn_http_cb cb,
                 void* arg, kn_http_req_t** out) {
  kn_http_req_t* req;
  int rc;

  if (http == NULL || r == NULL || r->url == NULL || r->method == NULL ||
      cb == NULL || (r->body == NULL && r->body_len > 0))
    return KINESIS_EINVAL;
  if (kn_life_closing(&http->life))
    return KINESIS_ECLOSING;
  req = kn_calloc(1, sizeof(*req));
  if (req == NULL)
    return KINESIS_ENOMEM;
  req->http = http;
  req->cb = cb;
  req->arg = arg;
  kn_queue_init(&req->node);
  kn_defer_item_init(&req->resume);
  req->easy = http->nidle > 0 ? http->idle[--http->nidle] : handle_new(http);
  if (req->easy == NULL) {
    req_free(req);
    return KINESIS_ENOMEM;
  }
  rc = req_setup(http, req, r);
  if (rc != 0) {
    req_free(req);
    return rc;
  }
  /* Adding only arms curl's timer; the transfer starts on a later tick, so
   * the callback can never run inside this call. */
  if (curl_multi_add_handle(http->multi, req->easy) != CURLM_OK) {
    req_free(req);
    return KINESIS_ENOMEM;
  }
  kn_queue_insert_tail(&http->active, &req->node);
  req->on_multi = 1;
  http->pending++;
  if (out != NULL)
    *out = req;
  return 0;
}


static void req_resume_run(kn_defer_item_t* item) {
  kn_http_req_t* req = container_of(item, kn_http_req_t, resume);
  kn_http_t* http = req->http;
  if (!req->on_multi || !req->paused)
    return;
  req->paused = 0;
  /* curl hands the bytes it kept to on_body from inside this call. When
   * on_data refuses them (it ended the request), curl 7.88 returns the
   * error and leaves the transfer where nothing wakes it: it ends here. */
  if (curl_easy_pause(req->easy, CURLPAUSE_CONT) != CURLE_OK && req->on_multi)
    req_defer(req, req->aborted != 0 ? req->aborted : KINESIS_ETRANSPORT);
  http_fail_no_poll(http);
  http_drain(http);
}


void kn_http_resume(kn_http_req_t* req) {
  if (req->paused && req->on_multi && !kn_defer_queued(&req->resume))
    kn_defer_add(&req->http->defer, &req->resume, req_resume_run);
}


void kn_http_cancel(kn_http_req_t* req) {
  /* Only requests still on the multi handle can be canceled. */
  if (req->on_multi)
    req_defer(req, KINESIS_ECANCELED);
}


size_t kn_http_pending(const kn_http_t* http) {
  return http->pending;
}


size_t kn_http_connections_opened(const kn_http_t* http) {
  return http->connections;
}


static void http_maybe_finish_close(kn_http_t* http) {
  void (*cb)(void*);
  void* arg;

  /* A deferred callback that closed waits for its tick to end. */
  if (!kn_life_closing(&http->life) || http->pending > 0 ||
      kn_defer_running(&http->defer))
    return;
  while (http->nidle > 0)
    curl_easy_cleanup(http->idle[--http->nidle]);
  if (kn_life_begin_free(&http->life) == 0) {
    /* Cleanup may still call the socket callback for cached connections,
     * closing their poll handles; the timer is closed after it. */
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    uv_close((uv_handle_t*) &http->timer, on_handle_closed);
    kn_defer_close(&http->defer, NULL, on_handle_closed);
    return;
  }
  if (http->handles_open > 0)
    return;
  cb = http->close_cb;
  arg = http->close_arg;
  kn_free(http->idle);
  kn_free(http->ca_file);
  kn_free(http);
  if (cb != NULL)
    cb(arg);
}


void kn_http_close(kn_http_t* http, void (*cb)(void* arg), void* arg) {
  kn_queue_t* q;
  if (kn_life_begin_close(&http->life) < 0)
    return;
  http->close_cb = cb;
  http->close_arg = arg;
  /* A request whose on_data is running stays on the list until curl is
   * out of it (req_defer). */
  q = http->active.next;
  while (q != &http->active) {
    kn_http_req_t* req = kn_queue_data(q, kn_http_req_t, node);
    q = q->next;
    req_defer(req, KINESIS_ECANCELED);
  }
  /* With nothing pending the close starts now; its callback still runs on a
   * later tick, from the handles' close callbacks. */
  http_maybe_finish_close(http);
}
