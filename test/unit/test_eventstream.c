/*
 * The event stream decoder (lib/eventstream.h): the AWS SDK for Go's test
 * messages (test/data/eventstream/, see its SOURCES.md), decoded whole, a
 * byte at a time and run together; the corrupted ones refused for the CRC
 * their JSON names; then what no vector covers: lengths out of bounds, bad
 * headers, a stop from the callback, and each allocation failing in turn.
 * The encoder (for the fake service) gives the vectors' bytes exactly.
 */

#include "harness.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "eventstream.h"
#include "internal.h"

static const char* const positive[] = {"all_headers", "empty_message",
                                       "int32_header", "payload_no_headers",
                                       "payload_one_str_header"};
static const char* const negative[] = {"corrupted_header_len",
                                       "corrupted_headers", "corrupted_length",
                                       "corrupted_payload"};

#define NPOS (sizeof(positive) / sizeof(positive[0]))
#define NNEG (sizeof(negative) / sizeof(negative[0]))


/* What the callback saw: each message as the JSON of the vectors. */
typedef struct {
  json_t* seen; /* array */
  int stop_after; /* return 1 from the callback after this many; 0: never */
} sink_t;


static char* vector(const char* kind, const char* name, size_t* len) {
  char path[1024];
  char* data;
  snprintf(path, sizeof(path), "%s/eventstream/%s/%s", kn_test_data_dir(),
           kind, name);
  data = kn_test_read_file(path, len);
  if (data == NULL) {
    fprintf(stderr, "cannot read %s\n", path);
    abort();
  }
  return data;
}


static json_t* b64(kn_cursor_t c) {
  kn_buf_t b = KN_BUF_INIT;
  json_t* s;
  ASSERT_OK(kn_buf_append_base64(&b, c.ptr, c.len));
  s = json_string(kn_buf_str(&b));
  kn_buf_free(&b);
  return s;
}


/* The message as the vectors' JSON shows it: headers and payload. */
static json_t* as_json(const kn_es_message_t* m) {
  json_t* headers = json_array();
  size_t i;
  for (i = 0; i < m->nheaders; i++) {
    const kn_es_header_t* h = &m->headers[i];
    json_t* v;
    switch (h->type) {
      case KN_ES_TRUE:
      case KN_ES_FALSE:
        v = json_boolean(h->num);
        break;
      case KN_ES_BYTES:
      case KN_ES_STRING:
      case KN_ES_UUID:
        v = b64(h->bytes);
        break;
      default:
        v = json_integer(h->num);
        break;
    }
    json_array_append_new(
        headers, json_pack("{s:s%, s:i, s:o}", "name", (const char*) h->name.ptr,
                           h->name.len, "type", (int) h->type, "value", v));
  }
  return json_pack("{s:o, s:o}", "headers", headers, "payload",
                   b64(m->payload));
}


static int on_message(void* arg, const kn_es_message_t* m) {
  sink_t* s = arg;
  json_t* j = as_json(m);
  ASSERT_NOT_NULL(j);
  ASSERT_OK(json_array_append_new(s->seen, j));
  if (s->stop_after > 0 && json_array_size(s->seen) >= (size_t) s->stop_after)
    return 1;
  return 0;
}


/* The vector's JSON without what the decoder does not hand on (the lengths
 * and CRCs, which it checks). */
static json_t* expected(const char* name) {
  size_t len;
  char* text = vector("decoded/positive", name, &len);
  json_t* all = json_loadb(text, len, 0, NULL);
  json_t* e;
  const char* p;
  ASSERT_NOT_NULL(all);
  p = json_string_value(json_object_get(all, "payload"));
  e = json_pack("{s:O, s:s}", "headers", json_object_get(all, "headers"),
                "payload", p != NULL ? p : "");
  json_decref(all);
  free(text);
  return e;
}


static void assert_json_eq(json_t* want, json_t* got) {
  if (!json_equal(want, got)) {
    char* a = json_dumps(want, JSON_SORT_KEYS);
    char* b = json_dumps(got, JSON_SORT_KEYS);
    fprintf(stderr, "want %s\n got %s\n", a, b);
    free(a);
    free(b);
    abort();
  }
}


/* Every positive vector: whole, and a byte at a time. */
static void test_positive_vectors(void) {
  size_t v;
  for (v = 0; v < NPOS; v++) {
    size_t len;
    size_t i;
    char* bytes = vector("encoded/positive", positive[v], &len);
    json_t* want = expected(positive[v]);
    int step;
    for (step = 0; step < 2; step++) {
      kn_es_decoder_t d;
      sink_t s = {json_array(), 0};
      kn_es_decoder_init(&d);
      if (step == 0) {
        ASSERT_OK(kn_es_decoder_feed(&d, (const uint8_t*) bytes, len,
                                     on_message, &s));
      } else {
        for (i = 0; i < len; i++) {
          ASSERT_EQ(1, i == 0 || !kn_es_decoder_idle(&d));
          ASSERT_OK(kn_es_decoder_feed(&d, (const uint8_t*) bytes + i, 1,
                                       on_message, &s));
        }
      }
      ASSERT(kn_es_decoder_idle(&d));
      ASSERT_EQ(1, json_array_size(s.seen));
      assert_json_eq(want, json_array_get(s.seen, 0));
      json_decref(s.seen);
      kn_es_decoder_free(&d);
    }
    json_decref(want);
    free(bytes);
  }
}


/* All the positive vectors back to back, three times, cut at every length
 * from 1 to 300 bytes: each message comes out once, in order. */
static void test_stream_in_pieces(void) {
  kn_buf_t all = KN_BUF_INIT;
  json_t* want = json_array();
  size_t piece;
  int round;
  size_t v;

  for (round = 0; round < 3; round++) {
    for (v = 0; v < NPOS; v++) {
      size_t len;
      char* bytes = vector("encoded/positive", positive[v], &len);
      ASSERT_OK(kn_buf_append(&all, bytes, len));
      json_array_append_new(want, expected(positive[v]));
      free(bytes);
    }
  }
  for (piece = 1; piece <= 300; piece++) {
    kn_es_decoder_t d;
    sink_t s = {json_array(), 0};
    size_t off;
    kn_es_decoder_init(&d);
    for (off = 0; off < all.len; off += piece) {
      size_t n = all.len - off < piece ? all.len - off : piece;
      ASSERT_OK(kn_es_decoder_feed(&d, all.data + off, n, on_message, &s));
    }
    ASSERT(kn_es_decoder_idle(&d));
    assert_json_eq(want, s.seen);
    json_decref(s.seen);
    kn_es_decoder_free(&d);
  }
  json_decref(want);
  kn_buf_free(&all);
}


/* Each corrupted vector is refused with the CRC its JSON names, whole or a
 * byte at a time, and nothing is handed on; after that the decoder takes
 * nothing more. */
static void test_negative_vectors(void) {
  size_t v;
  for (v = 0; v < NNEG; v++) {
    size_t len;
    size_t elen;
    char* bytes = vector("encoded/negative", negative[v], &len);
    char* why = vector("decoded/negative", negative[v], &elen);
    const char* want = strstr(why, "Prelude") == why ? "prelude CRC"
                                                      : "message CRC";
    int step;
    ASSERT(strstr(why, "checksum mismatch") != NULL);
    for (step = 0; step < 2; step++) {
      kn_es_decoder_t d;
      sink_t s = {json_array(), 0};
      int r = 0;
      size_t i;
      kn_es_decoder_init(&d);
      if (step == 0) {
        r = kn_es_decoder_feed(&d, (const uint8_t*) bytes, len, on_message,
                               &s);
      } else {
        for (i = 0; i < len && r == 0; i++)
          r = kn_es_decoder_feed(&d, (const uint8_t*) bytes + i, 1,
                                 on_message, &s);
      }
      ASSERT_EQ(KINESIS_EPROTO, r);
      if (strstr(d.error, want) == NULL) {
        fprintf(stderr, "%s: %s, expected %s\n", negative[v], d.error, want);
        abort();
      }
      ASSERT_EQ(0, json_array_size(s.seen));
      ASSERT_EQ(KINESIS_ECLOSING,
                kn_es_decoder_feed(&d, (const uint8_t*) bytes, len,
                                   on_message, &s));
      json_decref(s.seen);
      kn_es_decoder_free(&d);
    }
    free(why);
    free(bytes);
  }
}


static uint32_t crc(const void* p, size_t n) {
  return (uint32_t) crc32(0L, p, (uInt) n);
}


static void put32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}


/* A message with these headers' bytes and this payload, its CRCs right;
 * `total` 0: the true length. */
static void frame(kn_buf_t* b, const void* headers, size_t hlen,
                  const char* payload, uint32_t total) {
  uint8_t pre[12];
  uint8_t tail[4];
  size_t start = b->len;
  size_t plen = strlen(payload);
  put32(pre, total != 0 ? total : (uint32_t) (16 + hlen + plen));
  put32(pre + 4, (uint32_t) hlen);
  put32(pre + 8, crc(pre, 8));
  ASSERT_OK(kn_buf_append(b, pre, 12));
  ASSERT_OK(kn_buf_append(b, headers, hlen));
  ASSERT_OK(kn_buf_append(b, payload, plen));
  put32(tail, crc(b->data + start, b->len - start));
  ASSERT_OK(kn_buf_append(b, tail, 4));
}


/* Feeds `b` whole to a new decoder; the result, and the error text. */
static int decode(const kn_buf_t* b, char* error, size_t cap, size_t* n) {
  kn_es_decoder_t d;
  sink_t s = {json_array(), 0};
  int r;
  kn_es_decoder_init(&d);
  r = kn_es_decoder_feed(&d, b->data, b->len, on_message, &s);
  snprintf(error, cap, "%s", d.error);
  *n = json_array_size(s.seen);
  json_decref(s.seen);
  kn_es_decoder_free(&d);
  return r;
}


static void expect_refused(const kn_buf_t* b, const char* text) {
  char error[200];
  size_t n;
  ASSERT_EQ(KINESIS_EPROTO, decode(b, error, sizeof(error), &n));
  ASSERT_EQ(0, n);
  if (strstr(error, text) == NULL) {
    fprintf(stderr, "error '%s' does not say '%s'\n", error, text);
    abort();
  }
}


static void test_lengths(void) {
  kn_buf_t b = KN_BUF_INIT;
  uint8_t pre[12];
  kn_es_decoder_t d;
  sink_t s = {json_array(), 0};

  /* Over 16 MiB: refused from its prelude, before anything is kept. */
  put32(pre, KN_ES_MAX_MESSAGE + 1);
  put32(pre + 4, 0);
  put32(pre + 8, crc(pre, 8));
  kn_es_decoder_init(&d);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_es_decoder_feed(&d, pre, sizeof(pre), on_message, &s));
  ASSERT(strstr(d.error, "message length 16777217 outside 16 to 16777216") !=
         NULL);
  ASSERT_EQ(0, d.pending.cap);
  kn_es_decoder_free(&d);
  json_decref(s.seen);

  /* Under 16 bytes, and headers longer than the message holds. */
  frame(&b, "", 0, "", 15);
  expect_refused(&b, "message length 15 outside 16 to 16777216");
  kn_buf_reset(&b);
  put32(pre, 20);
  put32(pre + 4, 5);
  put32(pre + 8, crc(pre, 8));
  ASSERT_OK(kn_buf_append(&b, pre, 12));
  expect_refused(&b, "headers length 5 past the message's 20");
  kn_buf_free(&b);
}


static void test_bad_headers(void) {
  kn_buf_t b = KN_BUF_INIT;
  /* An empty name; a type past 9; a name past the headers; a string whose
   * length runs past them; an int64 cut short. */
  frame(&b, "\x00\x07\x00\x01x", 5, "", 0);
  expect_refused(&b, "header 0 has an empty name");
  kn_buf_reset(&b);
  frame(&b, "\x01" "a\x0a", 3, "", 0);
  expect_refused(&b, "header 0 has type 10, not 0 to 9");
  kn_buf_reset(&b);
  frame(&b, "\x01" "a\x00\x05" "abc", 7, "", 0);
  expect_refused(&b, "header 1 runs past the headers (7 bytes)");
  kn_buf_reset(&b);
  frame(&b, "\x01" "s\x07\x00\x09" "abc", 8, "", 0);
  expect_refused(&b, "header 0 runs past the headers (8 bytes)");
  kn_buf_reset(&b);
  frame(&b, "\x01" "i\x05\x00\x00\x00", 6, "", 0);
  expect_refused(&b, "header 0 runs past the headers (6 bytes)");
  kn_buf_free(&b);
}


/* Kinesis's headers, found by name; negative numbers sign-extended. */
static void test_lookup(void) {
  static const uint8_t h[] =
      "\x0d:message-type\x07\x00\x05" "event"
      "\x0b:event-type\x07\x00\x15" "SubscribeToShardEvent"
      "\x01n\x03\xff\xfe"
      "\x01t\x08\x00\x00\x01\x8c\x00\x00\x00\x00";
  kn_es_header_t headers[4];
  kn_es_message_t m;
  kn_buf_t b = KN_BUF_INIT;
  kn_es_decoder_t d;
  sink_t s = {json_array(), 0};
  json_t* seen;

  frame(&b, h, sizeof(h) - 1, "{}", 0);
  kn_es_decoder_init(&d);
  ASSERT_OK(kn_es_decoder_feed(&d, b.data, b.len, on_message, &s));
  seen = json_array_get(s.seen, 0);
  ASSERT_EQ(-2, json_integer_value(json_object_get(
                    json_array_get(json_object_get(seen, "headers"), 2),
                    "value")));
  ASSERT_EQ(INT64_C(0x18c00000000),
            json_integer_value(json_object_get(
                json_array_get(json_object_get(seen, "headers"), 3),
                "value")));
  kn_es_decoder_free(&d);
  json_decref(s.seen);
  kn_buf_free(&b);

  memset(headers, 0, sizeof(headers));
  headers[0].name = kn_cursor_from_str(":message-type");
  headers[0].type = KN_ES_STRING;
  headers[0].bytes = kn_cursor_from_str("event");
  headers[1].name = kn_cursor_from_str(":event-type");
  headers[1].type = KN_ES_BYTES;
  headers[1].bytes = kn_cursor_from_str("initial-response");
  m.headers = headers;
  m.nheaders = 2;
  m.payload = kn_cursor_from_str("");
  ASSERT(kn_es_header_is(&m, ":message-type", "event"));
  ASSERT(!kn_es_header_is(&m, ":message-type", "even"));
  ASSERT(!kn_es_header_is(&m, ":event-type", "initial-response")); /* BYTES */
  ASSERT_NULL(kn_es_header(&m, ":exception-type"));
  ASSERT(kn_es_header(&m, ":event-type") == &headers[1]);
}


/* A callback's stop ends the feed there, and the decoder with it. */
static void test_callback_stops(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_es_decoder_t d;
  sink_t s = {json_array(), 2};
  int i;
  for (i = 0; i < 4; i++)
    frame(&b, "", 0, "x", 0);
  kn_es_decoder_init(&d);
  ASSERT_EQ(1, kn_es_decoder_feed(&d, b.data, b.len, on_message, &s));
  ASSERT_EQ(2, json_array_size(s.seen));
  ASSERT_EQ(KINESIS_ECLOSING,
            kn_es_decoder_feed(&d, b.data, b.len, on_message, &s));
  ASSERT_EQ(2, json_array_size(s.seen));
  kn_es_decoder_free(&d);
  json_decref(s.seen);
  kn_buf_free(&b);
}


/* A message larger than the room the decoder keeps, in pieces: delivered,
 * then its room given back. */
static void test_large_message(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_es_decoder_t d;
  sink_t s = {json_array(), 0};
  char* payload = malloc(1024 * 1024 + 1);
  size_t off;
  ASSERT_NOT_NULL(payload);
  memset(payload, 'p', 1024 * 1024);
  payload[1024 * 1024] = '\0';
  frame(&b, "\x01" "a\x00", 3, payload, 0);
  kn_es_decoder_init(&d);
  for (off = 0; off < b.len; off += 65536) {
    size_t n = b.len - off < 65536 ? b.len - off : 65536;
    ASSERT_OK(kn_es_decoder_feed(&d, b.data + off, n, on_message, &s));
  }
  ASSERT_EQ(1, json_array_size(s.seen));
  ASSERT_EQ(0, d.pending.cap);
  kn_es_decoder_free(&d);
  json_decref(s.seen);
  kn_buf_free(&b);
  free(payload);
}


/* The encoder, against the same vectors: each positive message built from
 * its JSON comes out byte for byte as the SDK's encoded file. */
static void test_encode_vectors(void) {
  size_t v;
  for (v = 0; v < NPOS; v++) {
    size_t len;
    size_t jlen;
    char* bytes = vector("encoded/positive", positive[v], &len);
    char* text = vector("decoded/positive", positive[v], &jlen);
    json_t* doc = json_loadb(text, jlen, 0, NULL);
    json_t* hs = json_object_get(doc, "headers");
    kn_es_header_t headers[16];
    uint8_t values[16][64];
    uint8_t payload[256];
    size_t plen = sizeof(payload);
    const char* p64 = json_string_value(json_object_get(doc, "payload"));
    kn_buf_t out = KN_BUF_INIT;
    size_t i;

    ASSERT_NOT_NULL(doc);
    ASSERT(json_array_size(hs) <= 16);
    for (i = 0; i < json_array_size(hs); i++) {
      json_t* h = json_array_get(hs, i);
      json_t* val = json_object_get(h, "value");
      kn_es_header_t* e = &headers[i];
      memset(e, 0, sizeof(*e));
      e->name = kn_cursor_from_str(json_string_value(json_object_get(h, "name")));
      e->type = (kn_es_type_t) json_integer_value(json_object_get(h, "type"));
      if (json_is_string(val)) {
        size_t n = sizeof(values[i]);
        ASSERT_OK(kn_base64_decode(json_string_value(val),
                                   json_string_length(val), values[i], &n));
        e->bytes.ptr = values[i];
        e->bytes.len = n;
      } else if (json_is_boolean(val)) {
        e->num = json_is_true(val);
      } else {
        e->num = json_integer_value(val);
      }
    }
    if (p64 == NULL)
      p64 = "";
    ASSERT_OK(kn_base64_decode(p64, strlen(p64), payload, &plen));
    ASSERT_OK(kn_es_encode(&out, headers, json_array_size(hs), payload, plen));
    if (out.len != len || memcmp(out.data, bytes, len) != 0) {
      fprintf(stderr, "%s: encoded %zu bytes, the vector has %zu\n",
              positive[v], out.len, len);
      abort();
    }
    kn_buf_free(&out);
    json_decref(doc);
    free(text);
    free(bytes);
  }
}


/* What cannot be encoded is refused, and nothing is appended; what can
 * is decoded back as it was, after what the buffer held. */
static void test_encode_refusals_and_round_trip(void) {
  kn_es_header_t h[3];
  kn_buf_t out = KN_BUF_INIT;
  char name[257];
  uint8_t big[65536];
  kn_es_decoder_t d;
  sink_t s = {json_array(), 0};

  memset(h, 0, sizeof(h));
  memset(name, 'n', sizeof(name) - 1);
  name[256] = '\0';
  memset(big, 'b', sizeof(big));
  ASSERT_OK(kn_buf_append_str(&out, "kept"));
  h[0].name = kn_cursor_from_str("");
  h[0].type = KN_ES_TRUE;
  ASSERT_EQ(KINESIS_EINVAL, kn_es_encode(&out, h, 1, NULL, 0));
  h[0].name = kn_cursor_from_str(name);
  ASSERT_EQ(KINESIS_EINVAL, kn_es_encode(&out, h, 1, NULL, 0));
  h[0].name = kn_cursor_from_str("u");
  h[0].type = KN_ES_UUID;
  h[0].bytes.ptr = big;
  h[0].bytes.len = 15;
  ASSERT_EQ(KINESIS_EINVAL, kn_es_encode(&out, h, 1, NULL, 0));
  h[0].type = KN_ES_STRING;
  h[0].bytes.len = sizeof(big);
  ASSERT_EQ(KINESIS_EINVAL, kn_es_encode(&out, h, 1, NULL, 0));
  h[0].type = (kn_es_type_t) 10;
  ASSERT_EQ(KINESIS_EINVAL, kn_es_encode(&out, h, 1, NULL, 0));
  ASSERT_EQ(KINESIS_EINVAL,
            kn_es_encode(&out, NULL, 0, big, KN_ES_MAX_MESSAGE - 15));
  ASSERT_EQ(4, out.len);

  h[0].name = kn_cursor_from_str(":message-type");
  h[0].type = KN_ES_STRING;
  h[0].bytes = kn_cursor_from_str("event");
  h[1].name = kn_cursor_from_str("n");
  h[1].type = KN_ES_INT64;
  h[1].num = INT64_MIN;
  h[2].name = kn_cursor_from_str("b");
  h[2].type = KN_ES_BYTE;
  h[2].num = -1;
  ASSERT_OK(kn_es_encode(&out, h, 3, (const uint8_t*) "{}", 2));
  kn_es_decoder_init(&d);
  ASSERT_OK(kn_es_decoder_feed(&d, out.data + 4, out.len - 4, on_message, &s));
  ASSERT_EQ(1, json_array_size(s.seen));
  {
    json_t* m = json_array_get(s.seen, 0);
    json_t* hs = json_object_get(m, "headers");
    ASSERT_STR_EQ("ZXZlbnQ=", json_string_value(json_object_get(
                                  json_array_get(hs, 0), "value")));
    ASSERT_EQ(INT64_MIN, json_integer_value(json_object_get(
                             json_array_get(hs, 1), "value")));
    ASSERT_EQ(-1, json_integer_value(json_object_get(json_array_get(hs, 2),
                                                     "value")));
    ASSERT_STR_EQ("e30=", json_string_value(json_object_get(m, "payload")));
  }
  kn_es_decoder_free(&d);
  json_decref(s.seen);
  kn_buf_free(&out);
}


/* Counts messages, with no allocation of its own (the JSON of on_message
 * would take from the failing allocator too). */
static int count_message(void* arg, const kn_es_message_t* m) {
  (void) m;
  (*(size_t*) arg)++;
  return 0;
}


/* Every allocation failing in turn: a stream of the positive vectors a
 * byte at a time then whole; a failure is KINESIS_ENOMEM, never a crash
 * or a leak. */
static int alloc_scenario(void) {
  int failed = 0;
  size_t v;
  for (v = 0; v < NPOS; v++) {
    size_t len;
    size_t i;
    char* bytes = vector("encoded/positive", positive[v], &len);
    kn_es_decoder_t d;
    size_t seen = 0;
    int r = 0;
    kn_es_decoder_init(&d);
    for (i = 0; i < len && r == 0; i++)
      r = kn_es_decoder_feed(&d, (const uint8_t*) bytes + i, 1, count_message,
                             &seen);
    if (r == 0)
      r = kn_es_decoder_feed(&d, (const uint8_t*) bytes, len, count_message,
                             &seen);
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      failed++;
    } else {
      ASSERT_EQ(2, seen);
    }
    kn_es_decoder_free(&d);
    free(bytes);
  }
  return failed;
}


static void test_allocation_failures(void) {
  kn_test_alloc_each(alloc_scenario, 5);
}


KN_TEST_MAIN(KN_TEST(test_positive_vectors), KN_TEST(test_stream_in_pieces),
             KN_TEST(test_negative_vectors), KN_TEST(test_lengths),
             KN_TEST(test_bad_headers), KN_TEST(test_lookup),
             KN_TEST(test_callback_stops), KN_TEST(test_large_message),
             KN_TEST(test_encode_vectors),
             KN_TEST(test_encode_refusals_and_round_trip),
             KN_TEST(test_allocation_failures))
