/*
 * The fake service's signature check (lib/testing/serve_auth.h), the one
 * parser of its own the HTTP front has (h2o parses HTTP itself): the
 * Authorization header's parameters, the credential scope, X-Amz-Date,
 * SignedHeaders, and the canonical request the library's signer builds from
 * what was received. The input is a request as the front hands it on:
 *
 *   METHOD \n PATH \n QUERY \n (NAME: VALUE \n)* \n BODY
 *
 * with header names as given (the front's are lowercase; a lookup here
 * matches any case, as h2o's does). It is checked against two keys at a
 * fixed time, 2026-12-07T12:00:00Z. kn_serve_auth_check() must answer 0
 * (the request passes), KINESIS_ENOMEM, or KN_SVC_REPLIED with a 400, an
 * error type the header documents, and a JSON body {"__type", "message"}.
 * The seeds include a request signed right, so that the fuzzer starts from
 * the path that computes and compares the signature.
 */

#include "fuzz.h"
#include "internal.h"
#include "serve_auth.h"
#include "svc.h"
#include "svc_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 32
/* 2026-12-07T12:00:00Z, the seeds' X-Amz-Date. */
#define NOW_MS INT64_C(1796644800000)

typedef struct {
  kn_cursor_t name;
  kn_cursor_t value;
} header_t;

typedef struct {
  header_t h[MAX_HEADERS];
  size_t n;
} headers_t;


/* The next line of `*rest` (without its '\n'); 0 when there is none. */
static int next_line(kn_cursor_t* rest, kn_cursor_t* line) {
  const uint8_t* nl;
  if (rest->len == 0)
    return 0;
  nl = memchr(rest->ptr, '\n', rest->len);
  line->ptr = rest->ptr;
  line->len = nl != NULL ? (size_t) (nl - rest->ptr) : rest->len;
  rest->ptr += line->len + (nl != NULL);
  rest->len -= line->len + (nl != NULL);
  return 1;
}


static int find_header(const kn_serve_http_req_t* req, const char* name,
                       size_t nth, kn_cursor_t* value) {
  const headers_t* hs = req->impl;
  size_t n = strlen(name);
  size_t i;
  for (i = 0; i < hs->n; i++) {
    if (hs->h[i].name.len == n &&
        strncasecmp((const char*) hs->h[i].name.ptr, name, n) == 0 &&
        nth-- == 0) {
      *value = hs->h[i].value;
      return 1;
    }
  }
  return 0;
}


static const char* const documented[] = {
    "MissingAuthenticationTokenException", "IncompleteSignatureException",
    "UnrecognizedClientException", "InvalidSignatureException"};


static void check_refusal(const kn_svc_reply_t* reply) {
  json_t* body;
  json_t* type;
  size_t i;
  int known = 0;

  CHECK(reply->status == 400 && reply->error_type != NULL);
  for (i = 0; i < sizeof(documented) / sizeof(documented[0]); i++)
    known |= strcmp(reply->error_type, documented[i]) == 0;
  CHECK(known);
  body = json_loadb((const char*) reply->body.data, reply->body.len, 0, NULL);
  CHECK(json_is_object(body));
  type = json_object_get(body, "__type");
  CHECK(json_is_string(type) &&
        strcmp(json_string_value(type), reply->error_type) == 0);
  CHECK(json_is_string(json_object_get(body, "message")));
  json_decref(body);
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static kn_serve_keys_t* keys;
  static const char* const entries[] = {
      "AKIDFUZZEXAMPLE:fuzz-secret-key", "AKIDOTHER:another/secret+key",
      NULL};
  kn_cursor_t rest = {data, size};
  kn_cursor_t line;
  kn_serve_http_req_t req;
  kn_svc_reply_t reply;
  headers_t hs;
  int r;

  if (keys == NULL)
    CHECK(kn_serve_keys_new(entries, "us-east-1", &keys) == 0);
  memset(&req, 0, sizeof(req));
  memset(&hs, 0, sizeof(hs));
  if (!next_line(&rest, &req.method) || !next_line(&rest, &req.path) ||
      !next_line(&rest, &req.query))
    return 0;
  while (next_line(&rest, &line) && line.len > 0) {
    const uint8_t* colon = memchr(line.ptr, ':', line.len);
    size_t skip;
    if (colon == NULL || hs.n == MAX_HEADERS)
      continue;
    hs.h[hs.n].name.ptr = line.ptr;
    hs.h[hs.n].name.len = (size_t) (colon - line.ptr);
    skip = hs.h[hs.n].name.len + 1;
    while (skip < line.len && line.ptr[skip] == ' ')
      skip++;
    hs.h[hs.n].value.ptr = line.ptr + skip;
    hs.h[hs.n].value.len = line.len - skip;
    hs.n++;
  }
  req.target = "Kinesis_20131202.ListStreams";
  req.body = rest.ptr;
  req.len = rest.len;
  req.header = find_header;
  req.impl = &hs;

  kn_buf_init(&reply.body);
  reply.status = 0;
  reply.error_type = NULL;
  r = kn_serve_auth_check(keys, &req, NOW_MS, &reply);
  CHECK(r == 0 || r == KN_SVC_REPLIED || r == KINESIS_ENOMEM);
  if (r == KN_SVC_REPLIED)
    check_refusal(&reply);
  if (getenv("FUZZ_SERVE_AUTH_SHOW") != NULL)
    fprintf(stderr, "fuzz_serve_auth: %d %s\n", r,
            reply.error_type != NULL ? reply.error_type : "(passed)");
  kn_buf_free(&reply.body);
  return 0;
}
