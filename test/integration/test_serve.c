/*
 * The fake service's HTTP front and its public object (issue 18):
 * kinesis_serve_new()'s options and errors, what the front answers and
 * refuses, keep-alive, closing with connections open, the close contract,
 * and two services on one loop. Needs no server.
 *
 * The requests go over raw sockets from a second thread, with blocking
 * calls, while the test's thread runs the loop; the thread uses no libkinesis
 * function, and tells the loop it is done through a uv_async_t. Only what
 * any model answers is asserted of the operations: an unknown target is 400
 * UnknownOperationException, and ListStreams on a new service is 200
 * (lib/testing/svc.h).
 */

#include "harness.h"

#include "kinesis.h"
#include "kinesis/testing.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>


/* ---- A blocking HTTP/1.1 client, for the second thread ---- */

typedef struct {
  int status;
  char headers[4096]; /* the header block, lower-cased */
  char raw[4096];     /* the same, as sent */
  char body[4096];
  size_t body_len;
  int closed; /* the server closed the connection after the answer */
} resp_t;


static int connect_port(int port) {
  struct sockaddr_in sa;
  struct timeval tv = {10, 0};
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  ASSERT(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t) port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(connect(fd, (struct sockaddr*) &sa, sizeof(sa)));
  return fd;
}


static void send_all(int fd, const char* data, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    data += n;
    len -= (size_t) n;
  }
}


/* Reads one answer (headers, then Content-Length bytes of body). */
static void read_resp(int fd, resp_t* r) {
  char buf[16384];
  size_t len = 0;
  char* end = NULL;
  const char* cl;
  size_t head;
  size_t want;
  size_t i;

  memset(r, 0, sizeof(*r));
  while (end == NULL) {
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    ASSERT_GT(n, 0);
    len += (size_t) n;
    buf[len] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  head = (size_t) (end - buf) + 4;
  ASSERT_LT(head, sizeof(r->headers));
  for (i = 0; i < head; i++) {
    r->raw[i] = buf[i];
    r->headers[i] = (char) tolower((unsigned char) buf[i]);
  }
  r->raw[head] = '\0';
  r->headers[head] = '\0';
  ASSERT_EQ(1, sscanf(r->headers, "http/1.1 %d", &r->status));
  cl = strstr(r->headers, "\r\ncontent-length:");
  ASSERT_NOT_NULL(cl);
  want = strtoul(cl + 17, NULL, 10);
  ASSERT_LT(want, sizeof(r->body));
  while (len - head < want) {
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    ASSERT_GT(n, 0);
    len += (size_t) n;
  }
  memcpy(r->body, buf + head, want);
  r->body[want] = '\0';
  r->body_len = want;
  r->closed = strstr(r->headers, "\r\nconnection: close") != NULL;
}


/* One request on `fd`: `extra` is more header lines, each ending in CRLF. */
static void exchange(int fd, const char* method, const char* path,
                     const char* extra, const char* body, resp_t* r) {
  char req[2048];
  int n = snprintf(req, sizeof(req),
                   "%s %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: "
                   "%zu\r\n\r\n%s",
                   method, path, extra, strlen(body), body);
  ASSERT_LT(n, (int) sizeof(req));
  send_all(fd, req, (size_t) n);
  read_resp(fd, r);
}


#define JSON_CT "Content-Type: application/x-amz-json-1.1\r\n"
#define TARGET(op) "X-Amz-Target: Kinesis_20131202." op "\r\n"


/* The value of header `name` (lower case) in `r`, or "" . */
static const char* header(const resp_t* r, const char* name, char* out,
                          size_t size) {
  char key[128];
  const char* p;
  size_t n = 0;

  snprintf(key, sizeof(key), "\r\n%s:", name);
  out[0] = '\0';
  p = strstr(r->headers, key);
  if (p == NULL)
    return out;
  p = r->raw + (p - r->headers) + strlen(key);
  while (*p == ' ')
    p++;
  while (p[n] != '\r' && n + 1 < size) {
    out[n] = p[n];
    n++;
  }
  out[n] = '\0';
  return out;
}


static void assert_request_id(const resp_t* r) {
  char id[128];
  size_t i;

  header(r, "x-amzn-requestid", id, sizeof(id));
  ASSERT_EQ(36, strlen(id));
  for (i = 0; i < 36; i++)
    ASSERT(i == 8 || i == 13 || i == 18 || i == 23 ? id[i] == '-'
                                                   : isxdigit((unsigned char)
                                                                  id[i]));
}


static void assert_error(const resp_t* r, int status, const char* type) {
  char v[128];

  ASSERT_EQ(status, r->status);
  ASSERT_STR_EQ(type, header(r, "x-amzn-errortype", v, sizeof(v)));
  ASSERT_STR_EQ("application/x-amz-json-1.1",
                header(r, "content-type", v, sizeof(v)));
  ASSERT_NOT_NULL(strstr(r->body, type));
  assert_request_id(r);
}


/* ---- The loop side ---- */

typedef struct {
  uv_loop_t loop;
  uv_async_t done;     /* the thread's work is over */
  uv_thread_t thread;
  void (*work)(void* t);
  kinesis_serve_t* serve[2];
  int port[2];
  int closes;          /* close callbacks run */
  int in_close_call;   /* set around kinesis_serve_close() */
  int close_sync;      /* a close callback ran inside the call */
  void* close_data;
  int close_status;
  int stop_on_close;   /* stop the loop in the close callback */
  /* The thread's state. */
  int keepalive_fd;    /* a connection left open for the close */
  int eof_after_close; /* the thread saw the server close it */
  uv_sem_t closed_sem; /* posted once the services are closed */
} t_t;


static void on_closed(void* data, int status, void* arg) {
  t_t* t = arg;
  if (t->in_close_call)
    t->close_sync = 1;
  t->closes++;
  t->close_data = data;
  t->close_status = status;
  if (t->stop_on_close)
    uv_stop(&t->loop);
}


static void on_done(uv_async_t* a) {
  t_t* t = a->data;
  int i;

  for (i = 0; i < 2; i++)
    if (t->serve[i] != NULL) {
      t->in_close_call = 1;
      ASSERT_OK(kinesis_serve_close(t->serve[i], on_closed, t));
      ASSERT_EQ(KINESIS_EALREADY,
                kinesis_serve_close(t->serve[i], on_closed, t));
      t->in_close_call = 0;
    }
  uv_close((uv_handle_t*) a, NULL);
}


static void thread_main(void* arg) {
  t_t* t = arg;
  t->work(t);
}


/* Starts `n` services, runs `work` on a thread, closes the services when
 * it signals, and checks the loop closes. */
static void run_with_services(t_t* t, int n, void (*work)(void* t)) {
  int i;

  memset(t, 0, sizeof(*t));
  t->keepalive_fd = -1;
  ASSERT_OK(uv_loop_init(&t->loop));
  ASSERT_OK(uv_sem_init(&t->closed_sem, 0));
  for (i = 0; i < n; i++) {
    ASSERT_OK(kinesis_serve_new(&t->loop, NULL, &t->serve[i]));
    t->port[i] = kinesis_serve_port(t->serve[i]);
    ASSERT_GT(t->port[i], 0);
  }
  ASSERT_OK(uv_async_init(&t->loop, &t->done, on_done));
  t->done.data = t;
  t->work = work;
  ASSERT_OK(uv_thread_create(&t->thread, thread_main, t));
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(n, t->closes);
  ASSERT_EQ(0, t->close_sync);
  uv_sem_post(&t->closed_sem);
  ASSERT_OK(uv_thread_join(&t->thread));
  uv_sem_destroy(&t->closed_sem);
  kn_test_loop_close(&t->loop);
}


/* ---- The tests ---- */

static void test_url_and_port(void) {
  uv_loop_t loop;
  kinesis_serve_t* s;
  kinesis_serve_options_t o;
  char want[64];

  ASSERT_OK(uv_loop_init(&loop));
  kinesis_serve_options_init(&o);
  ASSERT_EQ(sizeof(o), o.size);
  ASSERT_NULL(o.host);
  ASSERT_EQ(0, o.port);
  ASSERT_OK(kinesis_serve_new(&loop, &o, &s));
  ASSERT_GT(kinesis_serve_port(s), 0);
  snprintf(want, sizeof(want), "http://127.0.0.1:%d", kinesis_serve_port(s));
  ASSERT_STR_EQ(want, kinesis_serve_url(s));
  ASSERT_NULL(kinesis_serve_get_data(s));
  kinesis_serve_set_data(s, &loop);
  ASSERT(kinesis_serve_get_data(s) == &loop);
  ASSERT_OK(kinesis_serve_advance_clock(s, 600000));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_advance_clock(s, UINT64_MAX));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_advance_clock(NULL, 1));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_port(NULL));
  ASSERT_NULL(kinesis_serve_url(NULL));
  ASSERT_NULL(kinesis_serve_get_data(NULL));
  /* NULL cb is allowed; a closing service refuses to move its clock. */
  ASSERT_OK(kinesis_serve_close(s, NULL, NULL));
  ASSERT_EQ(KINESIS_ECLOSING, kinesis_serve_advance_clock(s, 1));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_serve_close(s, NULL, NULL));
  kn_test_loop_close(&loop);
}


static void test_new_errors(void) {
  struct {
    kinesis_serve_options_t o;
    char more[16];
  } big;
  uv_loop_t loop;
  kinesis_serve_t* s = NULL;
  kinesis_serve_t* other = (kinesis_serve_t*) &loop;
  kinesis_serve_options_t o;

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(NULL, NULL, &s));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, NULL, NULL));
  memset(&o, 0, sizeof(o));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  kinesis_serve_options_init(&o);
  o.host = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  o.host = "localhost"; /* a name, not an address */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  o.host = "192.0.2.1"; /* not this machine's */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  /* A limits_off bit that names no limit. */
  kinesis_serve_options_init(&o);
  ASSERT_EQ(0, o.limits_off);
  o.limits_off = KINESIS_SERVE_LIMITS_ALL + 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  ASSERT_NULL(s);
  memset(&big, 0, sizeof(big));
  kinesis_serve_options_init_sized(&big.o, sizeof(big));
  big.more[3] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED, kinesis_serve_new(&loop, &big.o, &s));
  ASSERT_NULL(s);
  /* A larger struct whose unknown bytes are zero is fine. */
  big.more[3] = 0;
  ASSERT_OK(kinesis_serve_new(&loop, &big.o, &s));
  /* Its port, taken. */
  kinesis_serve_options_init(&o);
  o.port = (uint16_t) kinesis_serve_port(s);
  ASSERT_EQ(KINESIS_EBUSY, kinesis_serve_new(&loop, &o, &other));
  ASSERT(other == (kinesis_serve_t*) &loop);
  ASSERT_OK(kinesis_serve_close(s, NULL, NULL));
  kn_test_loop_close(&loop);

  /* A failed new leaves nothing on the loop. */
  ASSERT_OK(uv_loop_init(&loop));
  kinesis_serve_options_init(&o);
  o.host = "192.0.2.1";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &o, &s));
  ASSERT_OK(uv_loop_close(&loop));
}


static void work_front(void* arg) {
  t_t* t = arg;
  resp_t r;
  char v[128];
  char id1[64];
  int fd = connect_port(t->port[0]);

  /* Keep-alive: several requests on one connection. */
  exchange(fd, "POST", "/", JSON_CT TARGET("ListStreams"), "{}", &r);
  ASSERT_EQ(200, r.status);
  ASSERT_EQ(0, r.closed);
  ASSERT_STR_EQ("application/x-amz-json-1.1",
                header(&r, "content-type", v, sizeof(v)));
  ASSERT_STR_EQ("", header(&r, "x-amzn-errortype", v, sizeof(v)));
  assert_request_id(&r);
  header(&r, "x-amzn-requestid", id1, sizeof(id1));
  ASSERT_NOT_NULL(strstr(r.body, "\"StreamNames\""));

  /* application/json is accepted too, with parameters and any case. */
  exchange(fd, "POST", "/?x=1",
           "content-type: Application/JSON; charset=utf-8\r\n"
           TARGET("ListStreams"), "{}", &r);
  ASSERT_EQ(200, r.status);
  /* A fresh id per answer. */
  ASSERT(strcmp(id1, header(&r, "x-amzn-requestid", v, sizeof(v))) != 0);

  exchange(fd, "POST", "/", JSON_CT TARGET("NoSuchOperation"), "{}", &r);
  assert_error(&r, 400, "UnknownOperationException");
  exchange(fd, "POST", "/", JSON_CT, "{}", &r);
  assert_error(&r, 400, "UnknownOperationException");
  exchange(fd, "POST", "/", JSON_CT "X-Amz-Target:\r\n", "{}", &r);
  assert_error(&r, 400, "UnknownOperationException");
  exchange(fd, "POST", "/", "Content-Type: text/plain\r\n" TARGET("ListStreams"),
           "{}", &r);
  assert_error(&r, 404, "UnknownOperationException");
  exchange(fd, "POST", "/", TARGET("ListStreams"), "{}", &r);
  assert_error(&r, 404, "UnknownOperationException");
  exchange(fd, "GET", "/", JSON_CT TARGET("ListStreams"), "", &r);
  assert_error(&r, 404, "UnknownOperationException");
  exchange(fd, "POST", "/other", JSON_CT TARGET("ListStreams"), "{}", &r);
  assert_error(&r, 404, "UnknownOperationException");
  /* Still the same connection after every refusal. */
  ASSERT_EQ(0, r.closed);
  exchange(fd, "POST", "/", JSON_CT TARGET("ListStreams"), "{}", &r);
  ASSERT_EQ(200, r.status);
  close(fd);

  /* A body over 10 MiB is refused from its Content-Length, unread. */
  fd = connect_port(t->port[0]);
  {
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "POST / HTTP/1.1\r\nHost: localhost\r\n" JSON_CT
                     TARGET("PutRecords") "Content-Length: %u\r\n\r\n{",
                     10u * 1024 * 1024 + 1);
    send_all(fd, req, (size_t) n);
    read_resp(fd, &r);
    ASSERT_EQ(413, r.status);
  }
  close(fd);
  uv_async_send(&t->done);
}


static void test_front(void) {
  t_t t;
  run_with_services(&t, 1, work_front);
}


/* A keep-alive connection left open: the close shuts it. */
static void work_keepalive_close(void* arg) {
  t_t* t = arg;
  resp_t r;
  char c;
  ssize_t n;
  int fd = connect_port(t->port[0]);

  exchange(fd, "POST", "/", JSON_CT TARGET("ListStreams"), "{}", &r);
  ASSERT_EQ(200, r.status);
  ASSERT_EQ(0, r.closed);
  uv_async_send(&t->done);
  uv_sem_wait(&t->closed_sem);
  n = recv(fd, &c, 1, 0);
  t->eof_after_close = n == 0;
  close(fd);
}


static void test_close_with_keepalive(void) {
  t_t t;
  run_with_services(&t, 1, work_keepalive_close);
  ASSERT_EQ(1, t.eof_after_close);
}


/* Two services on one loop answer each on its own port. */
static void work_two(void* arg) {
  t_t* t = arg;
  resp_t r;
  int i;

  ASSERT_NE(t->port[0], t->port[1]);
  for (i = 0; i < 2; i++) {
    int fd = connect_port(t->port[i]);
    exchange(fd, "POST", "/", JSON_CT TARGET("ListStreams"), "{}", &r);
    ASSERT_EQ(200, r.status);
    close(fd);
  }
  uv_async_send(&t->done);
}


static void test_two_services(void) {
  t_t t;
  run_with_services(&t, 2, work_two);
}


/* The close contract: the callback runs once, later, with the user slot
 * and 0; once it has run, the loop holds nothing of the service's, with no
 * further turn. */
static void test_close_contract(void) {
  t_t t;
  kinesis_serve_t* s;
  int slot;

  memset(&t, 0, sizeof(t));
  ASSERT_OK(uv_loop_init(&t.loop));
  ASSERT_OK(kinesis_serve_new(&t.loop, NULL, &s));
  kinesis_serve_set_data(s, &slot);
  t.stop_on_close = 1;
  t.in_close_call = 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_close(NULL, on_closed, &t));
  ASSERT_OK(kinesis_serve_close(s, on_closed, &t));
  ASSERT_EQ(KINESIS_EALREADY, kinesis_serve_close(s, on_closed, &t));
  t.in_close_call = 0;
  ASSERT_EQ(0, t.closes);
  uv_run(&t.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, t.closes);
  ASSERT_EQ(0, t.close_sync);
  ASSERT(t.close_data == &slot);
  ASSERT_EQ(0, t.close_status);
  /* Straight after the callback's turn: nothing left, h2o's included. */
  ASSERT_OK(uv_loop_close(&t.loop));
}


KN_TEST_MAIN(KN_TEST(test_url_and_port), KN_TEST(test_new_errors),
             KN_TEST(test_front), KN_TEST(test_close_with_keepalive),
             KN_TEST(test_two_services), KN_TEST(test_close_contract))
