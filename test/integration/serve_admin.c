/* The fake service's admin requests over a plain connection on the loop
 * (serve_admin.h), for the tests of the faults and the scheduled
 * reshards. */

#include "serve_admin.h"

#include <stdio.h>
#include <string.h>

#include "client_util.h"

typedef struct {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  char req[1024];
  char resp[4096];
  size_t len;
  int done;
} raw_t;


static void raw_alloc(uv_handle_t* h, size_t size, uv_buf_t* buf) {
  raw_t* r = h->data;
  (void) size;
  buf->base = r->resp + r->len;
  buf->len = sizeof(r->resp) - 1 - r->len;
}


static void raw_closed(uv_handle_t* h) {
  ((raw_t*) h->data)->done = 1;
}


static void raw_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  raw_t* r = s->data;
  (void) buf;
  if (n > 0) {
    r->len += (size_t) n;
    r->resp[r->len] = '\0';
    ASSERT_LT(r->len, sizeof(r->resp) - 1);
  } else if (n < 0) {
    uv_close((uv_handle_t*) s, raw_closed);
  }
}


static void raw_written(uv_write_t* w, int status) {
  ASSERT_OK(status);
  ASSERT_OK(uv_read_start(w->handle, raw_alloc, raw_read));
}


static void raw_connected(uv_connect_t* c, int status) {
  raw_t* r = c->handle->data;
  uv_buf_t b = uv_buf_init(r->req, (unsigned) strlen(r->req));
  ASSERT_OK(status);
  ASSERT_OK(uv_write(&r->write, c->handle, &b, 1, raw_written));
}


int serve_admin(uv_loop_t* loop, const kinesis_serve_t* serve,
                const char* op, const char* body, char* out, size_t size) {
  struct sockaddr_in sa;
  raw_t r;
  const char* b;
  int status = 0;

  memset(&r, 0, sizeof(r));
  snprintf(r.req, sizeof(r.req),
           "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
           "Content-Type: application/x-amz-json-1.1\r\n"
           "X-Amz-Target: LibkinesisServe.%s\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           op, strlen(body), body);
  ASSERT_OK(uv_ip4_addr("127.0.0.1", kinesis_serve_port(serve), &sa));
  ASSERT_OK(uv_tcp_init(loop, &r.tcp));
  r.tcp.data = &r;
  ASSERT_OK(uv_tcp_connect(&r.connect, &r.tcp, (struct sockaddr*) &sa,
                           raw_connected));
  TEST_WAIT_UNTIL(loop, r.done, 10000, (void) 0);
  ASSERT_EQ(1, sscanf(r.resp, "HTTP/1.1 %d", &status));
  b = strstr(r.resp, "\r\n\r\n");
  ASSERT_NOT_NULL(b);
  snprintf(out, size, "%s", b + 4);
  return status;
}
