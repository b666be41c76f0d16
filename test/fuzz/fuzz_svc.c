/*
 * The fake service's model (lib/testing/svc.h), fed a session of requests:
 * the input is split at NUL bytes into requests, each an operation name, a
 * newline and a JSON body, all run on one service with its clock moving 40
 * s a request (so that iterators and page tokens also age out). Whatever the
 * requests, kn_svc_handle() must answer 0 (or ENOMEM), with a status the
 * service uses, an error type exactly when the status is not 200, and a
 * body that is empty or one JSON object. That reaches the service's own
 * parsers: JSON members, sequence numbers, hash keys, iterators and page
 * tokens. So that a session can go deep without guessing them, a body's
 * `$IT`, `$SEQ` and `$TOK` become the last iterator, sequence number and
 * page token an answer gave (the seeds chain CreateStream, PutRecords,
 * GetShardIterator and GetRecords that way); the fuzzer can still write
 * them out, broken. SubscribeToShard goes to kn_svc_subscribe(), and the
 * events of a subscription it opens must decode (eventstream.h) as JSON
 * events or exceptions.
 */

#include "fuzz.h"
#include "eventstream.h"
#include "internal.h"
#include "svc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests a session may hold, at most: a bound on one input's work. */
#define MAX_REQUESTS 64


/* The last of each an answer gave, for the placeholders. */
typedef struct {
  char it[600];
  char seq[160];
  char tok[600];
} session_t;


static void keep(char* dst, size_t cap, json_t* v) {
  if (json_is_string(v) && json_string_length(v) < cap)
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
}


/* Remembers the iterator, sequence number and page token `body` has. */
static void remember(session_t* s, json_t* body) {
  json_t* recs = json_object_get(body, "Records");
  keep(s->it, sizeof(s->it), json_object_get(body, "ShardIterator"));
  keep(s->it, sizeof(s->it), json_object_get(body, "NextShardIterator"));
  keep(s->seq, sizeof(s->seq), json_object_get(body, "SequenceNumber"));
  keep(s->tok, sizeof(s->tok), json_object_get(body, "NextToken"));
  if (json_is_array(recs) && json_array_size(recs) > 0)
    keep(s->seq, sizeof(s->seq),
         json_object_get(json_array_get(recs, 0), "SequenceNumber"));
}


/* `body` with the placeholders replaced, into `out` (kn_buf). */
static int expand(const session_t* s, const uint8_t* body, size_t len,
                  kn_buf_t* out) {
  size_t i = 0;
  while (i < len) {
    const char* with = NULL;
    size_t skip = 0;
    if (body[i] == '$' && len - i >= 3 && memcmp(body + i, "$IT", 3) == 0) {
      with = s->it;
      skip = 3;
    } else if (body[i] == '$' && len - i >= 4 &&
               memcmp(body + i, "$SEQ", 4) == 0) {
      with = s->seq;
      skip = 4;
    } else if (body[i] == '$' && len - i >= 4 &&
               memcmp(body + i, "$TOK", 4) == 0) {
      with = s->tok;
      skip = 4;
    }
    if (with != NULL) {
      if (kn_buf_append(out, with, strlen(with)) != 0)
        return -1;
      i += skip;
    } else {
      if (kn_buf_append_byte(out, body[i]) != 0)
        return -1;
      i++;
    }
  }
  return 0;
}


static void check_reply(session_t* s, int r, const kn_svc_reply_t* reply) {
  json_t* body;
  json_error_t error;

  CHECK(r == 0 || r == KINESIS_ENOMEM);
  if (r != 0)
    return;
  CHECK(reply->status == 200 || reply->status == 400 ||
        reply->status == 403 || reply->status == 404 ||
        reply->status == 500 || reply->status == 503);
  CHECK((reply->status == 200) == (reply->error_type == NULL));
  if (reply->body.len == 0) {
    CHECK(reply->status == 200);
    return;
  }
  body = json_loadb((const char*) reply->body.data, reply->body.len,
                    JSON_REJECT_DUPLICATES, &error);
  CHECK(body != NULL && json_is_object(body));
  if (reply->error_type != NULL)
    CHECK(json_is_string(json_object_get(body, "__type")));
  else
    remember(s, body);
  json_decref(body);
}


static int check_message(void* arg, const kn_es_message_t* m) {
  json_t* payload = json_loadb((const char*) m->payload.ptr, m->payload.len,
                               JSON_REJECT_DUPLICATES, NULL);
  (void) arg;
  CHECK(json_is_object(payload));
  CHECK(kn_es_header_is(m, ":message-type", "event") ||
        kn_es_header_is(m, ":message-type", "exception"));
  json_decref(payload);
  return 0;
}


/* SubscribeToShard, which kn_svc_handle() does not take: a refusal is
 * checked as any reply; a subscription's events, at three times of the
 * clock, must decode as JSON events (or an exception). */
static int subscribe(kn_svc_t* svc, int64_t now, const kn_buf_t* body,
                     kn_svc_reply_t* reply) {
  kn_svc_sub_t* sub;
  int i;
  int r = kn_svc_subscribe(svc, now,
                           body->data != NULL ? body->data
                                              : (const uint8_t*) "",
                           body->len, reply, &sub);
  if (r != 0 || sub == NULL)
    return r;
  /* The reply is left alone on success: it is the 200 of the stream. */
  reply->status = 200;
  reply->error_type = NULL;
  for (i = 0; i < 3 && r == 0; i++) {
    kn_buf_t out = KN_BUF_INIT;
    kn_es_decoder_t d;
    int done = 0;
    r = kn_svc_sub_next(svc, sub, now + i * 1500, &out, &done);
    kn_es_decoder_init(&d);
    CHECK(kn_es_decoder_feed(&d, out.data, out.len, check_message, NULL) ==
          0);
    CHECK(kn_es_decoder_idle(&d));
    kn_es_decoder_free(&d);
    kn_buf_free(&out);
    if (done)
      break;
  }
  kn_svc_sub_free(svc, sub);
  return r == KINESIS_ENOMEM ? r : 0;
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kn_svc_t* svc;
  session_t session;
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  int64_t now = INT64_C(1700000000000);
  int n = 0;

  if (kn_svc_new(NULL, &svc) != 0)
    return 0;
  memset(&session, 0, sizeof(session));
  while (p < end && n++ < MAX_REQUESTS) {
    const uint8_t* stop = memchr(p, '\0', (size_t) (end - p));
    const uint8_t* nl;
    char target[160];
    size_t op_len;
    kn_svc_reply_t reply;
    kn_buf_t body;
    int r;

    if (stop == NULL)
      stop = end;
    nl = memchr(p, '\n', (size_t) (stop - p));
    if (nl == NULL)
      nl = stop;
    op_len = (size_t) (nl - p);
    if (op_len > 100)
      op_len = 100;
    memcpy(target, "Kinesis_20131202.", 17);
    memcpy(target + 17, p, op_len);
    target[17 + op_len] = '\0';
    kn_buf_init(&reply.body);
    kn_buf_init(&body);
    if (nl < stop &&
        expand(&session, nl + 1, (size_t) (stop - nl - 1), &body) != 0) {
      kn_buf_free(&body);
      break;
    }
    if (strcmp(target + 17, "SubscribeToShard") == 0)
      r = subscribe(svc, now, &body, &reply);
    else
      r = kn_svc_handle(svc, now, target,
                        body.data != NULL ? body.data : (const uint8_t*) "",
                        body.len, &reply);
    check_reply(&session, r, &reply);
#ifdef KN_FUZZ_SVC_TRACE
    /* To see where a seed's session goes: -DKN_FUZZ_SVC_TRACE. */
    fprintf(stderr, "%s -> %d %s\n", target + 17, reply.status,
            reply.error_type != NULL ? reply.error_type : "");
#endif
    kn_buf_free(&reply.body);
    kn_buf_free(&body);
    now += 40000;
    p = stop < end ? stop + 1 : end;
  }
  kn_svc_free(svc);
  return 0;
}
