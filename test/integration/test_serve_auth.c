/*
 * The fake service's signature check (lib/testing/serve_auth.c, the
 * `keys` of kinesis_serve_options_t). First the check alone, on requests
 * made here and signed with the library's signer (sigv4.h, itself proved
 * on the AWS suite's vectors by test_sigv4): what passes, and each answer
 * it refuses with. Then through kinesis_serve: the library's own client
 * with the right keys (create, put, get, a session token), a wrong secret,
 * an unknown access key, a date gone stale on the service's clock, and a
 * raw request without Authorization sent from a second thread.
 */

#include "client_util.h"

#include "kinesis/testing.h"

#include "serve_auth.h"
#include "sigv4.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>


/* ---- The check alone ---- */

#define AKID "AKIDTEST"
#define SECRET "test-secret-key"
/* 2015-08-30T12:36:00Z */
#define DATE "20150830T123600Z"
#define DATE_MS INT64_C(1440938160000)

typedef struct {
  const char* name;
  const char* value;
} hdr_t;

typedef struct {
  kn_serve_http_req_t req;
  hdr_t h[16];
  size_t n;
  kn_buf_t authz;
} fake_t;


static int fake_header(const kn_serve_http_req_t* r, const char* name,
                       size_t nth, kn_cursor_t* value) {
  const fake_t* f = r->impl;
  size_t i;

  for (i = 0; i < f->n; i++) {
    if (strcasecmp(f->h[i].name, name) == 0 && nth-- == 0) {
      *value = kn_cursor_from_str(f->h[i].value);
      return 1;
    }
  }
  return 0;
}


static void fake_add(fake_t* f, const char* name, const char* value) {
  ASSERT_LT(f->n, 16);
  f->h[f->n].name = name;
  f->h[f->n].value = value;
  f->n++;
}


/* A ListStreams as the client sends it, not signed yet. */
static void fake_init(fake_t* f, const char* body) {
  memset(f, 0, sizeof(*f));
  kn_buf_init(&f->authz);
  f->req.method = kn_cursor_from_str("POST");
  f->req.path = kn_cursor_from_str("/");
  f->req.query = kn_cursor_from_str("");
  f->req.target = "Kinesis_20131202.ListStreams";
  f->req.body = (const uint8_t*) body;
  f->req.len = strlen(body);
  f->req.header = fake_header;
  f->req.impl = f;
  fake_add(f, "Content-Type", "application/x-amz-json-1.1");
  fake_add(f, "Host", "127.0.0.1:4567");
  fake_add(f, "X-Amz-Date", DATE);
  fake_add(f, "X-Amz-Target", "Kinesis_20131202.ListStreams");
}


/* Signs every header so far, with these keys and scope, and adds the
 * Authorization header. */
static void fake_sign_as(fake_t* f, const char* akid, const char* secret,
                         const char* region, const char* service) {
  kn_sigv4_header_t sh[16];
  kn_sigv4_request_t sreq;
  kn_sigv4_credentials_t creds;
  size_t i;

  for (i = 0; i < f->n; i++) {
    sh[i].name = kn_cursor_from_str(f->h[i].name);
    sh[i].value = kn_cursor_from_str(f->h[i].value);
  }
  memset(&sreq, 0, sizeof(sreq));
  sreq.method = "POST";
  sreq.path = f->req.path;
  sreq.query = f->req.query;
  sreq.headers = sh;
  sreq.nheaders = f->n;
  sreq.payload.ptr = f->req.body;
  sreq.payload.len = f->req.len;
  creds.access_key_id = akid;
  creds.secret_access_key = secret;
  ASSERT_OK(kn_sigv4_sign(&sreq, &creds, DATE, region, service, NULL,
                          &f->authz));
  fake_add(f, "Authorization", (const char*) f->authz.data);
}


static void fake_sign(fake_t* f) {
  fake_sign_as(f, AKID, SECRET, "us-east-1", "kinesis");
}


static void fake_free(fake_t* f) {
  kn_buf_free(&f->authz);
}


/* Runs the check at `now`: 0 when it passes; otherwise asserts a 400
 * with `type` as __type and x-amzn-ErrorType, and a message that begins
 * with `message` (NULL: any). */
static int check_at(const kn_serve_keys_t* keys, fake_t* f, int64_t now,
                    const char* type, const char* message) {
  kn_svc_reply_t reply;
  int r;

  kn_buf_init(&reply.body);
  reply.status = 0;
  reply.error_type = NULL;
  r = kn_serve_auth_check(keys, &f->req, now, &reply);
  if (type == NULL) {
    if (r != 0)
      fprintf(stderr, "refused: %s\n", (const char*) reply.body.data);
    ASSERT_OK(r);
  } else {
    char want[600];
    ASSERT_EQ(1, r);
    ASSERT_EQ(400, reply.status);
    ASSERT_STR_EQ(type, reply.error_type);
    snprintf(want, sizeof(want), "{\"__type\":\"%s\",\"message\":\"%s", type,
             message != NULL ? message : "");
    if (strncmp((const char*) reply.body.data, want, strlen(want)) != 0) {
      fprintf(stderr, "got  %s\nwant %s...\n", (const char*) reply.body.data,
              want);
      ASSERT(0);
    }
  }
  kn_buf_free(&reply.body);
  return r;
}


static kn_serve_keys_t* test_keys(void) {
  static const char* const entries[] = {"AKIDOTHER:other-secret",
                                        AKID ":" SECRET, NULL};
  kn_serve_keys_t* keys = NULL;
  ASSERT_OK(kn_serve_keys_new(entries, NULL, &keys));
  return keys;
}


static void test_keys_new(void) {
  static const char* const bad[][2] = {
      {"AKID", NULL},       {":secret", NULL},  {"AKID:", NULL},
      {"AK ID:s", NULL},    {"AK/ID:s", NULL},  {"AK,ID:s", NULL},
      {"AK=ID:s", NULL},    {"AK\tID:s", NULL},
  };
  static const char* const good[] = {"AKID:se:cr/et+=", "B:x", NULL};
  static const char* const empty[] = {NULL};
  kn_serve_keys_t* keys = NULL;
  fake_t f;
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ASSERT_EQ(KINESIS_EINVAL, kn_serve_keys_new(bad[i], NULL, &keys));
    ASSERT_NULL(keys);
  }
  ASSERT_EQ(KINESIS_EINVAL, kn_serve_keys_new(NULL, NULL, &keys));
  /* A secret may hold ':' (the first one ends the key id). */
  ASSERT_OK(kn_serve_keys_new(good, "eu-west-1", &keys));
  fake_init(&f, "{}");
  fake_sign_as(&f, "AKID", "se:cr/et+=", "eu-west-1", "kinesis");
  check_at(keys, &f, DATE_MS, NULL, NULL);
  fake_free(&f);
  kn_serve_keys_free(keys);
  kn_serve_keys_free(NULL);

  /* An empty list knows no key. */
  ASSERT_OK(kn_serve_keys_new(empty, NULL, &keys));
  fake_init(&f, "{}");
  fake_sign(&f);
  check_at(keys, &f, DATE_MS, "UnrecognizedClientException",
           "The security token included in the request is invalid.");
  fake_free(&f);
  kn_serve_keys_free(keys);
}


static void test_check_passes(void) {
  kn_serve_keys_t* keys = test_keys();
  fake_t f;

  fake_init(&f, "{}");
  fake_sign(&f);
  check_at(keys, &f, DATE_MS, NULL, NULL);
  /* Up to 5 minutes either way of the service's clock. */
  check_at(keys, &f, DATE_MS + 5 * 60 * 1000, NULL, NULL);
  check_at(keys, &f, DATE_MS - 5 * 60 * 1000, NULL, NULL);
  /* A header added after signing and not signed changes nothing. */
  fake_add(&f, "User-Agent", "test");
  check_at(keys, &f, DATE_MS, NULL, NULL);
  fake_free(&f);

  /* A session token, signed. */
  fake_init(&f, "{\"Limit\":5}");
  fake_add(&f, "X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE//token==");
  fake_sign(&f);
  check_at(keys, &f, DATE_MS, NULL, NULL);
  fake_free(&f);

  /* A repeated header, a query and another path: all signed as they came. */
  fake_init(&f, "{}");
  fake_add(&f, "X-Extra", "one");
  fake_add(&f, "X-Extra", "  two   words ");
  f.req.query = kn_cursor_from_str("b=2&a=%41");
  f.req.path = kn_cursor_from_str("/some/path");
  fake_sign(&f);
  check_at(keys, &f, DATE_MS, NULL, NULL);
  /* The other key too. */
  fake_free(&f);
  fake_init(&f, "{}");
  fake_sign_as(&f, "AKIDOTHER", "other-secret", "us-east-1", "kinesis");
  check_at(keys, &f, DATE_MS, NULL, NULL);
  fake_free(&f);
  kn_serve_keys_free(keys);
}


#define MISMATCH                                                              \
  "The request signature we calculated does not match the signature you "     \
  "provided."

static void test_check_refuses(void) {
  kn_serve_keys_t* keys = test_keys();
  fake_t f;

  /* No Authorization. */
  fake_init(&f, "{}");
  check_at(keys, &f, DATE_MS, "MissingAuthenticationTokenException",
           "Missing Authentication Token");
  fake_free(&f);

  /* Malformed ones. */
  {
    static const char* const bad[] = {
        "AWS4-HMAC-SHA1 Credential=AKIDTEST/20150830/us-east-1/kinesis/"
        "aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/kinesis/"
        "aws4_request, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/kinesis/"
        "aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/kinesis, "
        "SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/us-east-1/kinesis/"
        "aws4_request/x, SignedHeaders=host, Signature=00",
        "garbage",
        "",
    };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
      fake_init(&f, "{}");
      fake_add(&f, "Authorization", bad[i]);
      check_at(keys, &f, DATE_MS, "IncompleteSignatureException", NULL);
      fake_free(&f);
    }
  }
  fake_init(&f, "{}");
  fake_add(&f, "Authorization",
           "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00");
  check_at(keys, &f, DATE_MS, "IncompleteSignatureException",
           "Authorization header requires 'Credential' parameter. "
           "Authorization=AWS4-HMAC-SHA256 SignedHeaders=host");
  fake_free(&f);

  /* No X-Amz-Date, or one that is no date. */
  fake_init(&f, "{}");
  fake_sign(&f);
  f.h[2].name = "X-Not-Date";
  check_at(keys, &f, DATE_MS, "IncompleteSignatureException",
           "Authorization header requires existence of either a "
           "'X-Amz-Date' or a 'Date' header.");
  f.h[2].name = "X-Amz-Date";
  f.h[2].value = "2015-08-30T12:36:00Z";
  check_at(keys, &f, DATE_MS, "IncompleteSignatureException",
           "Date must be in ISO-8601 'basic format'.");
  f.h[2].value = "20151330T123600Z";
  check_at(keys, &f, DATE_MS, "IncompleteSignatureException",
           "Date must be in ISO-8601 'basic format'.");
  fake_free(&f);

  /* An access key the service was not given. */
  fake_init(&f, "{}");
  fake_sign_as(&f, "AKIDUNKNOWN", SECRET, "us-east-1", "kinesis");
  check_at(keys, &f, DATE_MS, "UnrecognizedClientException",
           "The security token included in the request is invalid.");
  fake_free(&f);

  /* A wrong secret. */
  fake_init(&f, "{}");
  fake_sign_as(&f, AKID, "wrong-secret", "us-east-1", "kinesis");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  fake_free(&f);

  /* What was signed, changed: the body, a signed header, the path, the
   * query, the method, the signature itself. */
  fake_init(&f, "{}");
  fake_sign(&f);
  f.req.body = (const uint8_t*) "{ }";
  f.req.len = 3;
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  f.req.body = (const uint8_t*) "{}";
  f.req.len = 2;
  check_at(keys, &f, DATE_MS, NULL, NULL);
  f.h[3].value = "Kinesis_20131202.DeleteStream";
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  f.h[3].value = "Kinesis_20131202.ListStreams";
  f.req.path = kn_cursor_from_str("/x");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  f.req.path = kn_cursor_from_str("/");
  f.req.query = kn_cursor_from_str("a=1");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  f.req.query = kn_cursor_from_str("");
  f.req.method = kn_cursor_from_str("PUT");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  f.req.method = kn_cursor_from_str("POST");
  check_at(keys, &f, DATE_MS, NULL, NULL);
  /* The last hex digit of the signature, then one digit fewer. */
  {
    char* last = (char*) f.authz.data + f.authz.len - 1;
    char was = *last;
    *last = was == '0' ? '1' : '0';
    check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
    *last = '\0';
    check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
    *last = was;
  }
  /* A signed header gone: the session token. */
  fake_free(&f);
  fake_init(&f, "{}");
  fake_add(&f, "X-Amz-Security-Token", "token");
  fake_sign(&f);
  f.h[4].name = "X-Amz-Security-Tokem";
  check_at(keys, &f, DATE_MS, "InvalidSignatureException", MISMATCH);
  fake_free(&f);

  /* More than 5 minutes from the service's clock. */
  fake_init(&f, "{}");
  fake_sign(&f);
  check_at(keys, &f, DATE_MS + 5 * 60 * 1000 + 1000,
           "InvalidSignatureException",
           "Signature expired: 20150830T123600Z is now earlier than "
           "20150830T123601Z (20150830T124101Z - 5 min.)");
  check_at(keys, &f, DATE_MS - 5 * 60 * 1000 - 1000,
           "InvalidSignatureException",
           "Signature not yet current: 20150830T123600Z is still later than "
           "20150830T123559Z (20150830T123059Z + 5 min.)");
  fake_free(&f);

  /* Another scope: region, service, date. */
  fake_init(&f, "{}");
  fake_sign_as(&f, AKID, SECRET, "eu-west-1", "kinesis");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException",
           "Credential should be scoped to a valid region, not 'eu-west-1'.");
  fake_free(&f);
  fake_init(&f, "{}");
  fake_sign_as(&f, AKID, SECRET, "us-east-1", "dynamodb");
  check_at(keys, &f, DATE_MS, "InvalidSignatureException",
           "Credential should be scoped to correct service: 'kinesis'.");
  fake_free(&f);
  fake_init(&f, "{}");
  fake_sign(&f);
  f.h[2].value = "20150831T000100Z";
  check_at(keys, &f, INT64_C(1440979260000), "InvalidSignatureException",
           "Date in Credential scope does not match YYYYMMDD from ISO-8601 "
           "version of date from HTTP: '20150830' != '20150831', from "
           "'20150831T000100Z'.");
  fake_free(&f);
  kn_serve_keys_free(keys);
}


/* ---- Through kinesis_serve ---- */

static const char* const serve_keys[] = {"AKIDOTHER:other-secret",
                                         "AKIDTEST:test-secret-key", NULL};

typedef struct {
  uv_loop_t loop;
  kinesis_serve_t* serve;
} svc_t;


static void on_serve_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  (*(int*) arg)++;
}


static void svc_start(svc_t* t) {
  kinesis_serve_options_t so;

  ASSERT_OK(uv_loop_init(&t->loop));
  kinesis_serve_options_init(&so);
  so.keys = serve_keys;
  ASSERT_OK(kinesis_serve_new(&t->loop, &so, &t->serve));
}


static void svc_end(svc_t* t) {
  int closed = 0;

  ASSERT_OK(kinesis_serve_close(t->serve, on_serve_closed, &closed));
  kn_test_loop_close(&t->loop);
  ASSERT_EQ(1, closed);
}


static kinesis_client_t* client_with(svc_t* t, const char* akid,
                                     const char* secret, const char* token) {
  kinesis_client_options_t o;
  kinesis_client_t* c;

  test_client_options(&o, kinesis_serve_url(t->serve));
  o.access_key_id = akid;
  o.secret_access_key = secret;
  o.session_token = token;
  ASSERT_OK(kinesis_client_new(&t->loop, &o, &c));
  return c;
}


/* ListStreams through `c`: its status, error code and message in `cap`. */
static void list_streams(svc_t* t, kinesis_client_t* c, capture_t* cap) {
  memset(cap, 0, sizeof(*cap));
  ASSERT_OK(kinesis_client_list_streams(c, capture_cb, cap));
  capture_wait(&t->loop, cap);
}


static void test_serve_new_keys(void) {
  static const char* const bad[] = {"AKID-no-secret", NULL};
  static const char* const empty[] = {NULL};
  kinesis_serve_options_t so;
  kinesis_serve_t* s = NULL;
  uv_loop_t loop;
  int closed = 0;

  ASSERT_OK(uv_loop_init(&loop));
  kinesis_serve_options_init(&so);
  ASSERT_NULL(so.keys);
  so.keys = bad;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_serve_new(&loop, &so, &s));
  ASSERT_NULL(s);
  so.keys = empty;
  ASSERT_OK(kinesis_serve_new(&loop, &so, &s));
  ASSERT_OK(kinesis_serve_close(s, on_serve_closed, &closed));
  kn_test_loop_close(&loop);
  ASSERT_EQ(1, closed);
}


static void test_client_right_keys(void) {
  kinesis_record_t rec;
  kinesis_iterator_request_t itr;
  kinesis_client_t* c;
  capture_t cap;
  svc_t t;
  char shard[64];
  char iterator[600];

  svc_start(&t);
  c = client_with(&t, "AKIDTEST", "test-secret-key", NULL);
  create_active_stream(&t.loop, c, "auth", 1);
  memset(&rec, 0, sizeof(rec));
  rec.data = "signed";
  rec.len = 6;
  rec.partition_key = "pk";
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, "auth", &rec, 1, capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.nput);

  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_list_shards(c, "auth", capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  snprintf(shard, sizeof(shard), "%s", cap.shard_ids[0]);
  memset(&itr, 0, sizeof(itr));
  itr.stream = "auth";
  itr.shard_id = shard;
  itr.type = KINESIS_ITERATOR_TRIM_HORIZON;
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_get_shard_iterator(c, &itr, capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  snprintf(iterator, sizeof(iterator), "%s", cap.iterator);
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_get_records(c, iterator, 0, capture_cb, &cap));
  capture_wait(&t.loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(1, cap.nrecords);
  ASSERT_STR_EQ("signed", cap.records[0]);
  close_client(&t.loop, c);

  /* The other key, and a session token (signed by the client). */
  c = client_with(&t, "AKIDOTHER", "other-secret", "FQoGZXIvYXdzEXAMPLE==");
  list_streams(&t, c, &cap);
  ASSERT_OK(cap.status);
  close_client(&t.loop, c);
  svc_end(&t);
}


static void test_client_refused(void) {
  kinesis_client_t* c;
  capture_t cap;
  svc_t t;

  svc_start(&t);
  /* A wrong secret. */
  c = client_with(&t, "AKIDTEST", "not-the-secret", NULL);
  list_streams(&t, c, &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT_EQ(400, cap.http_status);
  ASSERT_STR_EQ("InvalidSignatureException", cap.error_code);
  ASSERT(strncmp(cap.error_message, MISMATCH, strlen(MISMATCH)) == 0);
  close_client(&t.loop, c);

  /* An access key the service does not know. */
  c = client_with(&t, "AKIDNOBODY", "test-secret-key", NULL);
  list_streams(&t, c, &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT_STR_EQ("UnrecognizedClientException", cap.error_code);
  ASSERT_STR_EQ("The security token included in the request is invalid.",
                cap.error_message);
  close_client(&t.loop, c);

  /* The right keys, with the service's clock 6 minutes ahead of the
   * client's: the signature has expired. */
  c = client_with(&t, "AKIDTEST", "test-secret-key", NULL);
  list_streams(&t, c, &cap);
  ASSERT_OK(cap.status);
  ASSERT_OK(kinesis_serve_advance_clock(t.serve, 6 * 60 * 1000));
  list_streams(&t, c, &cap);
  ASSERT_EQ(KINESIS_EACCESS, cap.status);
  ASSERT_STR_EQ("InvalidSignatureException", cap.error_code);
  ASSERT(strncmp(cap.error_message, "Signature expired: ", 19) == 0);
  close_client(&t.loop, c);
  svc_end(&t);
}


/* A raw request from a second thread: blocking calls, no libkinesis. */
typedef struct {
  int port;
  const char* extra; /* more header lines, each ending in CRLF */
  char answer[4096];
  uv_async_t done;
  int finished;
  int closed;
} raw_t;


static void raw_thread(void* arg) {
  raw_t* r = arg;
  struct sockaddr_in sa;
  struct timeval tv = {10, 0};
  char req[1024];
  size_t len = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int n;

  ASSERT(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t) r->port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(connect(fd, (struct sockaddr*) &sa, sizeof(sa)));
  n = snprintf(req, sizeof(req),
               "POST / HTTP/1.1\r\nHost: localhost\r\n"
               "Content-Type: application/x-amz-json-1.1\r\n"
               "X-Amz-Target: Kinesis_20131202.ListStreams\r\n%s"
               "Connection: close\r\nContent-Length: 2\r\n\r\n{}",
               r->extra);
  ASSERT_EQ(n, (int) send(fd, req, (size_t) n, MSG_NOSIGNAL));
  /* Connection: close: the answer ends with the connection. */
  for (;;) {
    ssize_t got = recv(fd, r->answer + len, sizeof(r->answer) - 1 - len, 0);
    ASSERT(got >= 0);
    if (got == 0)
      break;
    len += (size_t) got;
  }
  r->answer[len] = '\0';
  close(fd);
  uv_async_send(&r->done);
}


static void on_raw_done(uv_async_t* a) {
  ((raw_t*) a->data)->finished = 1;
}


static void on_raw_closed(uv_handle_t* h) {
  ((raw_t*) h->data)->closed = 1;
}


static void raw_request(svc_t* t, const char* extra, raw_t* r) {
  uv_thread_t th;

  memset(r, 0, sizeof(*r));
  r->port = kinesis_serve_port(t->serve);
  r->extra = extra;
  ASSERT_OK(uv_async_init(&t->loop, &r->done, on_raw_done));
  r->done.data = r;
  ASSERT_OK(uv_thread_create(&th, raw_thread, r));
  while (!r->finished)
    uv_run(&t->loop, UV_RUN_ONCE);
  ASSERT_OK(uv_thread_join(&th));
  uv_close((uv_handle_t*) &r->done, on_raw_closed);
  while (!r->closed)
    uv_run(&t->loop, UV_RUN_ONCE);
}


static void test_raw_requests(void) {
  raw_t r;
  svc_t t;

  svc_start(&t);
  raw_request(&t, "", &r);
  ASSERT(strncmp(r.answer, "HTTP/1.1 400 ", 13) == 0);
  ASSERT_NOT_NULL(
      strcasestr(r.answer, "x-amzn-ErrorType: MissingAuthenticationTokenException"));
  ASSERT_NOT_NULL(strstr(r.answer,
                         "{\"__type\":\"MissingAuthenticationTokenException\","
                         "\"message\":\"Missing Authentication Token\"}"));

  raw_request(&t,
              "X-Amz-Date: 20150830T123600Z\r\n"
              "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/"
              "us-east-1/kinesis/aws4_request, SignedHeaders=host\r\n",
              &r);
  ASSERT(strncmp(r.answer, "HTTP/1.1 400 ", 13) == 0);
  ASSERT_NOT_NULL(strstr(r.answer, "\"__type\":\"IncompleteSignatureException\""));

  /* Well formed, but signed long ago (and with no real signature). */
  raw_request(&t,
              "X-Amz-Date: 20150830T123600Z\r\n"
              "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20150830/"
              "us-east-1/kinesis/aws4_request, SignedHeaders=host;x-amz-date, "
              "Signature=0000000000000000000000000000000000000000000000000000000"
              "000000000\r\n",
              &r);
  ASSERT(strncmp(r.answer, "HTTP/1.1 400 ", 13) == 0);
  ASSERT_NOT_NULL(strstr(r.answer, "\"message\":\"Signature expired: "
                                   "20150830T123600Z is now earlier than "));
  svc_end(&t);
}


KN_TEST_MAIN(KN_TEST(test_keys_new), KN_TEST(test_check_passes),
             KN_TEST(test_check_refuses), KN_TEST(test_serve_new_keys),
             KN_TEST(test_client_right_keys), KN_TEST(test_client_refused),
             KN_TEST(test_raw_requests))
