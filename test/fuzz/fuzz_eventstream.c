/*
 * The event stream decoder (lib/eventstream.h). The first byte of the
 * input sets a piece size (1 to 255; 0 for the whole input at once), the
 * rest is fed twice: whole, and in pieces of that size. Whatever the bytes,
 * both feeds must agree: the same messages, byte for byte (headers and
 * payload), then the same result, 0 or KINESIS_EPROTO with the same reason
 * (or KINESIS_ENOMEM). Each header's type is one of the ten, and the
 * strings and payloads lie inside the bytes the decoder holds.
 */

#include "fuzz.h"
#include "eventstream.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* A digest of the messages seen: FNV-1a over their fields, and a count. */
typedef struct {
  uint64_t hash;
  size_t count;
} digest_t;


static void mix(digest_t* g, const void* p, size_t n) {
  const uint8_t* b = p;
  size_t i;
  for (i = 0; i < n; i++) {
    g->hash ^= b[i];
    g->hash *= UINT64_C(1099511628211);
  }
}


static int on_message(void* arg, const kn_es_message_t* m) {
  digest_t* g = arg;
  size_t i;
  CHECK(m->payload.len <= KN_ES_MAX_MESSAGE);
  for (i = 0; i < m->nheaders; i++) {
    const kn_es_header_t* h = &m->headers[i];
    uint32_t type = (uint32_t) h->type;
    CHECK(type <= KN_ES_UUID);
    CHECK(h->name.len >= 1 && h->name.len <= 255);
    mix(g, h->name.ptr, h->name.len);
    mix(g, &type, sizeof(type));
    mix(g, &h->num, sizeof(h->num));
    if (type == KN_ES_UUID)
      CHECK(h->bytes.len == 16);
    mix(g, h->bytes.ptr, h->bytes.len);
  }
  mix(g, m->payload.ptr, m->payload.len);
  g->count++;
  return 0;
}


static int run(const uint8_t* data, size_t size, size_t piece, digest_t* g,
               char* error, size_t cap) {
  kn_es_decoder_t d;
  size_t off = 0;
  int r = 0;
  kn_es_decoder_init(&d);
  if (piece == 0)
    piece = size > 0 ? size : 1;
  while (off < size && r == 0) {
    size_t n = size - off < piece ? size - off : piece;
    r = kn_es_decoder_feed(&d, data + off, n, on_message, g);
    off += n;
  }
  memcpy(error, d.error, cap);
  kn_es_decoder_free(&d);
  return r;
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  digest_t whole = {UINT64_C(14695981039346656037), 0};
  digest_t pieces = whole;
  char e1[sizeof(((kn_es_decoder_t*) 0)->error)];
  char e2[sizeof(e1)];
  int r1;
  int r2;

  if (size < 1)
    return 0;
  r1 = run(data + 1, size - 1, 0, &whole, e1, sizeof(e1));
  r2 = run(data + 1, size - 1, data[0], &pieces, e2, sizeof(e2));
  CHECK(r1 == 0 || r1 == KINESIS_EPROTO || r1 == KINESIS_ENOMEM);
  if (r1 == KINESIS_ENOMEM || r2 == KINESIS_ENOMEM)
    return 0;
  CHECK(r1 == r2);
  CHECK(whole.count == pieces.count && whole.hash == pieces.hash);
  if (r1 == KINESIS_EPROTO)
    CHECK(e1[0] != '\0' && strcmp(e1, e2) == 0);
  return 0;
}
