#include "client_util.h"

#include <string.h>

#include "fault.h"
#include "http.h"
#include "internal.h"

/* lib/http.c against the fault server and kinesalite: keep-alive, cancel,
 * close with requests in flight, size limits, and TLS verification. */

static uv_loop_t loop;

typedef struct {
  int calls;
  int status;
  long http_status;
  size_t body_len;
  char body[256];
  char request_id[64];
  char error[256];
} result_t;


static void on_done(int status, const kn_http_response_t* res, void* arg) {
  result_t* r = arg;
  ASSERT_NOT_NULL(res);
  r->calls++;
  r->status = status;
  r->http_status = res->status;
  r->body_len = res->body_len;
  snprintf(r->body, sizeof(r->body), "%.*s", (int) res->body_len,
           (const char*) res->body);
  snprintf(r->request_id, sizeof(r->request_id), "%s",
           res->request_id ? res->request_id : "");
  snprintf(r->error, sizeof(r->error), "%s",
           res->transport_error ? res->transport_error : "");
}


static const char* const kinesis_headers[] = {
    "Content-Type: application/x-amz-json-1.1",
    "X-Amz-Target: Kinesis_20131202.ListStreams",
    "X-Amz-Date: 20150830T123600Z",
    "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/"
    "kinesis/aws4_request, SignedHeaders=host, Signature=abc",
    NULL};


static void list_streams_request(kn_http_request_t* req, const char* url) {
  memset(req, 0, sizeof(*req));
  req->method = "POST";
  req->url = url;
  req->headers = kinesis_headers;
  req->body = (const uint8_t*) "{}";
  req->body_len = 2;
}


static int closed;


static void on_closed(void* arg) {
  (void) arg;
  closed++;
}


static void close_http(kn_http_t* http) {
  closed = 0;
  kn_http_close(http, on_closed, NULL);
  ASSERT_EQ(0, closed);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, closed);
}


static void test_keep_alive(void) {
  const char* url = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  list_streams_request(&req, url);
  for (i = 0; i < 20; i++) {
    memset(&r, 0, sizeof(r));
    ASSERT_OK(kn_http_send(http, &req, on_done, &r, NULL));
    ASSERT_EQ(0, r.calls);
    while (r.calls == 0)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_OK(r.status);
    ASSERT_EQ(200, r.http_status);
    ASSERT(strstr(r.body, "StreamNames") != NULL);
    ASSERT(r.request_id[0] != '\0');
  }
  /* Twenty requests, one after another, over one connection. */
  ASSERT_EQ(1, kn_http_connections_opened(http));
  ASSERT_EQ(0, kn_http_pending(http));
  close_http(http);
  kn_test_loop_close(&loop);
}


/* A connection the server closes between requests, with a
 * "Connection: close" answer or without a word while it sits idle, is
 * replaced: the next request opens another, and its socket's poll handle
 * goes with the old socket, so the loop still closes clean. */
static void test_connection_closed_between_requests(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(
      fault,
      "[{\"status\": 200, \"body\": {\"StreamNames\": []},"
      "  \"headers\": {\"Connection\": \"close\"}},"
      " {\"status\": 200, \"body\": {\"StreamNames\": []},"
      "  \"close_after_ms\": 0}]"));
  list_streams_request(&req, fault);
  for (i = 0; i < 4; i++) {
    memset(&r, 0, sizeof(r));
    ASSERT_OK(kn_http_send(http, &req, on_done, &r, NULL));
    while (r.calls == 0)
      uv_run(&loop, UV_RUN_ONCE);
    ASSERT_OK(r.status);
    ASSERT_EQ(200, r.http_status);
    ASSERT(strstr(r.body, "StreamNames") != NULL);
    /* Give the server's close time to arrive while the socket is idle. */
    run_loop_for(&loop, 100);
  }
  /* The first answer said close, the second connection was dropped idle,
   * the third lived on for the fourth request. */
  ASSERT_EQ(3, kn_http_connections_opened(http));
  close_http(http);
  kn_test_loop_close(&loop);
}


static void test_concurrent_and_capped(void) {
  const char* url = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  kn_http_options_t o;
  kn_http_t* http;
  kn_http_request_t req;
  result_t r[16];
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  memset(&o, 0, sizeof(o));
  o.max_connections = 2;
  ASSERT_OK(kn_http_new(&loop, &o, &http));
  list_streams_request(&req, url);
  memset(r, 0, sizeof(r));
  for (i = 0; i < 16; i++)
    ASSERT_OK(kn_http_send(http, &req, on_done, &r[i], NULL));
  ASSERT_EQ(16, kn_http_pending(http));
  while (kn_http_pending(http) > 0)
    uv_run(&loop, UV_RUN_ONCE);
  for (i = 0; i < 16; i++) {
    ASSERT_EQ(1, r[i].calls);
    ASSERT_OK(r[i].status);
  }
  /* At most two connections at once, and kept for reuse. */
  ASSERT_LE(kn_http_connections_opened(http), 2);
  close_http(http);
  kn_test_loop_close(&loop);
}


/* A loop and an engine, and a request to the fault server, which holds the
 * next three answers for 5 s: they stay in flight until canceled. */
static kn_http_t* slow_server_http(const char* fault, kn_http_request_t* req) {
  kn_http_t* http;
  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(fault, "{\"delay_ms\":5000,\"proxy\":true,"
                                   "\"times\":3}"));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  list_streams_request(req, fault);
  return http;
}


static void test_cancel_and_close(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kn_http_t* http;
  kn_http_req_t* handle;
  kn_http_request_t req;
  result_t a;
  result_t b;
  result_t c;

  http = slow_server_http(fault, &req);
  memset(&a, 0, sizeof(a));
  memset(&b, 0, sizeof(b));
  memset(&c, 0, sizeof(c));
  ASSERT_OK(kn_http_send(http, &req, on_done, &a, &handle));
  ASSERT_OK(kn_http_send(http, &req, on_done, &b, NULL));
  ASSERT_OK(kn_http_send(http, &req, on_done, &c, NULL));
  /* Let them reach the server, then cancel one: its callback comes on a
   * later tick, once. */
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  kn_http_cancel(handle);
  ASSERT_EQ(0, a.calls);
  while (a.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(KINESIS_ECANCELED, a.status);
  ASSERT_EQ(0, b.calls);
  /* Closing cancels the rest: each callback once, then the close callback. */
  close_http(http);
  ASSERT_EQ(1, a.calls);
  ASSERT_EQ(1, b.calls);
  ASSERT_EQ(1, c.calls);
  ASSERT_EQ(KINESIS_ECANCELED, b.status);
  ASSERT_EQ(KINESIS_ECANCELED, c.status);
  ASSERT_OK(kn_fault_reset(fault));
  kn_test_loop_close(&loop);
}


/* A deferred callback (a canceled request's) closes the engine: the other
 * callback due in the same tick still runs, the request still on the multi
 * handle is canceled on the next tick, and the close callback comes last,
 * once, after the tick that ran the close has ended. */
static kn_http_t* close_from_cb_http;
static int close_from_cb_n;

static void on_closed_last(void* arg) {
  (void) arg;
  /* Every request's callback ran before. */
  ASSERT_EQ(3, close_from_cb_n);
  closed++;
}

static void on_done_closing(int status, const kn_http_response_t* res,
                            void* arg) {
  result_t* r = arg;
  on_done(status, res, arg);
  ASSERT_EQ(1, r->calls);
  ASSERT_LT(close_from_cb_n, 3);
  close_from_cb_n++;
  if (close_from_cb_http != NULL) {
    kn_http_close(close_from_cb_http, on_closed_last, NULL);
    close_from_cb_http = NULL;
    ASSERT_EQ(0, closed);
  }
}

static void test_close_from_deferred_callback(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kn_http_t* http;
  kn_http_req_t* ha;
  kn_http_req_t* hb;
  kn_http_request_t req;
  result_t r[3];
  int i;

  http = slow_server_http(fault, &req);
  memset(r, 0, sizeof(r));
  ASSERT_OK(kn_http_send(http, &req, on_done_closing, &r[0], &ha));
  ASSERT_OK(kn_http_send(http, &req, on_done_closing, &r[1], &hb));
  ASSERT_OK(kn_http_send(http, &req, on_done_closing, &r[2], NULL));
  uv_run(&loop, UV_RUN_NOWAIT);
  uv_run(&loop, UV_RUN_NOWAIT);
  closed = 0;
  close_from_cb_n = 0;
  close_from_cb_http = http;
  kn_http_cancel(ha);
  kn_http_cancel(hb);
  ASSERT_EQ(0, close_from_cb_n);
  /* One tick runs both canceled callbacks; the first closes. */
  while (close_from_cb_n == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(2, close_from_cb_n);
  ASSERT_EQ(0, r[2].calls);
  ASSERT_EQ(0, closed);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(1, r[i].calls);
    ASSERT_EQ(KINESIS_ECANCELED, r[i].status);
  }
  ASSERT_EQ(1, closed);
  ASSERT_OK(kn_fault_reset(fault));
  kn_test_loop_close(&loop);
}


static void test_send_after_close_and_bad_args(void) {
  const char* url = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  list_streams_request(&req, url);
  req.method = "DELETE";
  ASSERT_EQ(KINESIS_EINVAL, kn_http_send(http, &req, on_done, &r, NULL));
  req.method = "POST";
  ASSERT_EQ(KINESIS_EINVAL, kn_http_send(http, &req, NULL, &r, NULL));
  closed = 0;
  kn_http_close(http, on_closed, NULL);
  ASSERT_EQ(KINESIS_ECLOSING, kn_http_send(http, &req, on_done, &r, NULL));
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, closed);
  kn_test_loop_close(&loop);
}


static void test_response_size_cap(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  kn_http_options_t o;
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;

  ASSERT_OK(kn_fault_reset(fault));
  ASSERT_OK(kn_fault_script(
      fault, "{\"status\":200,\"body\":\"0123456789012345678901234567890123"
             "456789012345678901234567890123456789\"}"));
  ASSERT_OK(uv_loop_init(&loop));
  memset(&o, 0, sizeof(o));
  o.max_response_bytes = 32;
  ASSERT_OK(kn_http_new(&loop, &o, &http));
  list_streams_request(&req, fault);
  memset(&r, 0, sizeof(r));
  ASSERT_OK(kn_http_send(http, &req, on_done, &r, NULL));
  while (r.calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_STR_EQ("response body exceeds the size limit", r.error);
  close_http(http);
  kn_test_loop_close(&loop);
}


/* An allocator that runs out of memory for good: from the allocation
 * numbered oom_from (from 0) on, every one fails. */
static int64_t oom_count;
static int64_t oom_from = -1;

static int oom_now(void) {
  return oom_from >= 0 && oom_count++ >= oom_from;
}

static void* oom_malloc(size_t n) {
  return oom_now() ? NULL : malloc(n);
}

static void* oom_realloc(void* p, size_t n) {
  return oom_now() ? NULL : realloc(p, n);
}

static void* oom_calloc(size_t c, size_t n) {
  return oom_now() ? NULL : calloc(c, n);
}


/* Issue 17: running out of memory while buffering the response body ended
 * the transfer as curl's CURLE_WRITE_ERROR, which became KINESIS_ETRANSPORT,
 * and the client retried it. Memory runs out at each allocation of a request
 * in turn: the request ends with 0 or KINESIS_ENOMEM, never a transport
 * error, and one of the runs fails in the body's buffering (the body's
 * room, reserved from its Content-Length, then each chunk appended). */
static void test_body_buffer_nomem(void) {
  const char* url = kn_test_require_env("KINESIS_TEST_ENDPOINT");
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;
  int64_t n;
  int body_nomem = 0;

  ASSERT_OK(kinesis_replace_allocator(oom_malloc, oom_realloc, oom_calloc,
                                      free));
  list_streams_request(&req, url);
  for (n = 0;; n++) {
    int rs;
    ASSERT_OK(uv_loop_init(&loop));
    ASSERT_OK(kn_http_new(&loop, NULL, &http));
    memset(&r, 0, sizeof(r));
    oom_count = 0;
    oom_from = n;
    rs = kn_http_send(http, &req, on_done, &r, NULL);
    if (rs == 0) {
      while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
      if (r.status == KINESIS_ENOMEM) {
        if (strcmp(r.error, "out of memory buffering the response body") == 0)
          body_nomem++;
      } else {
        ASSERT_OK(r.status);
        ASSERT(strstr(r.body, "StreamNames") != NULL);
      }
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, rs);
    }
    oom_from = -1;
    close_http(http);
    kn_test_loop_close(&loop);
    if (rs == 0 && r.status == 0)
      break;  /* memory ran out after the request: every place was tried */
  }
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  ASSERT_GT(n, 1);
  ASSERT_EQ(1, body_nomem);
}


/* Response headers are capped as a whole (64 KiB): one huge header, or
 * many that add up, end the request with KINESIS_EPROTO; headers under the
 * cap pass. */
static void test_response_header_cap(void) {
  const char* fault = kn_test_require_env("KINESIS_TEST_FAULT_ENDPOINT");
  static const size_t sizes[] = {60 * 1024, 70 * 1024};
  kn_http_t* http;
  kn_http_request_t req;
  result_t r;
  size_t k;
  int many;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_http_new(&loop, NULL, &http));
  list_streams_request(&req, fault);
  for (many = 0; many <= 1; many++)
    for (k = 0; k < KN_ARRAY_SIZE(sizes); k++) {
      /* One header of sizes[k] bytes, or sizes[k] / 2000 of 2000. */
      size_t each = many ? 2000 : sizes[k];
      size_t count = sizes[k] / each;
      size_t cap = count * (each + 32) + 128;
      char* script = malloc(cap);
      size_t len;
      size_t i;
      ASSERT_NOT_NULL(script);
      len = (size_t) snprintf(script, cap,
                              "{\"status\":200,\"body\":{},\"headers\":{");
      for (i = 0; i < count; i++) {
        len += (size_t) snprintf(script + len, cap - len, "%s\"X-Big-%zu\":\"",
                                 i == 0 ? "" : ",", i);
        memset(script + len, 'a', each);
        len += each;
        len += (size_t) snprintf(script + len, cap - len, "\"");
      }
      snprintf(script + len, cap - len, "}}");
      ASSERT_OK(kn_fault_reset(fault));
      ASSERT_OK(kn_fault_script(fault, script));
      free(script);
      memset(&r, 0, sizeof(r));
      ASSERT_OK(kn_http_send(http, &req, on_done, &r, NULL));
      while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
      if (sizes[k] < 64 * 1024) {
        ASSERT_OK(r.status);
        ASSERT_EQ(200, r.http_status);
      } else {
        ASSERT_EQ(KINESIS_EPROTO, r.status);
        ASSERT_STR_EQ("response headers exceed the size limit", r.error);
      }
    }
  close_http(http);
  kn_test_loop_close(&loop);
}


static int tls_request(const char* url, const char* ca_file, int insecure,
                       result_t* r) {
  kn_http_options_t o;
  kn_http_t* http;
  kn_http_request_t req;

  memset(&o, 0, sizeof(o));
  o.ca_file = ca_file;
  o.insecure = insecure;
  ASSERT_OK(kn_http_new(&loop, &o, &http));
  list_streams_request(&req, url);
  memset(r, 0, sizeof(*r));
  ASSERT_OK(kn_http_send(http, &req, on_done, r, NULL));
  while (r->calls == 0)
    uv_run(&loop, UV_RUN_ONCE);
  close_http(http);
  return r->status;
}


static void test_tls_verification(void) {
  const char* ok_url = kn_test_require_env("KINESIS_TEST_TLS_ENDPOINT");
  const char* wrong_host =
      kn_test_require_env("KINESIS_TEST_TLS_WRONG_HOST_ENDPOINT");
  const char* ca = kn_test_require_env("KINESIS_TEST_CA_FILE");
  result_t r;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(tls_request(ok_url, ca, 0, &r));
  ASSERT_EQ(200, r.http_status);
  /* Without the test CA the certificate is not trusted. */
  ASSERT_EQ(KINESIS_ETLS, tls_request(ok_url, NULL, 0, &r));
  ASSERT(r.error[0] != '\0');
  /* A trusted certificate for another name is refused too. */
  ASSERT_EQ(KINESIS_ETLS, tls_request(wrong_host, ca, 0, &r));
  ASSERT(strstr(r.error, "127.0.0.1") != NULL || strstr(r.error, "name") != NULL);
  /* Only the explicit switch turns verification off. */
  ASSERT_OK(tls_request(wrong_host, NULL, 1, &r));
  ASSERT_EQ(200, r.http_status);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(KN_TEST(test_keep_alive),
             KN_TEST(test_connection_closed_between_requests),
             KN_TEST(test_concurrent_and_capped),
             KN_TEST(test_cancel_and_close),
             KN_TEST(test_close_from_deferred_callback),
             KN_TEST(test_send_after_close_and_bad_args),
             KN_TEST(test_response_size_cap),
             KN_TEST(test_response_header_cap),
             KN_TEST(test_body_buffer_nomem),
             KN_TEST(test_tls_verification))
