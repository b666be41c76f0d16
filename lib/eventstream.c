#include "eventstream.h"

#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* total length, headers length, prelude CRC */
#define PRELUDE 12u
/* the prelude and the message CRC */
#define OVERHEAD 16u
/* Room kept for the next message that arrives in pieces. */
#define KN_ES_KEEP (256u * 1024)

/* A header value's size by type (kn_es_type_t); SIZE_MAX: a u16 length
 * and that many bytes (BYTES, STRING). */
static const size_t value_size[] = {0, 0, 1, 2, 4, 8, SIZE_MAX, SIZE_MAX,
                                    8, 16};


static uint32_t be32(const uint8_t* p) {
  return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
         ((uint32_t) p[2] << 8) | (uint32_t) p[3];
}


static uint64_t be_n(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++)
    v = (v << 8) | p[i];
  return v;
}


static uint32_t crc(const uint8_t* p, size_t n) {
  /* zlib takes a uInt length: a message is at most 16 MiB. */
  return (uint32_t) crc32(0L, p, (uInt) n);
}


static int fail(kn_es_decoder_t* d, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int fail(kn_es_decoder_t* d, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->error, sizeof(d->error), fmt, ap);
  va_end(ap);
  d->stopped = 1;
  return KINESIS_EPROTO;
}


void kn_es_decoder_init(kn_es_decoder_t* d) {
  memset(d, 0, sizeof(*d));
  kn_buf_init(&d->pending);
}


void kn_es_decoder_free(kn_es_decoder_t* d) {
  kn_buf_free(&d->pending);
  kn_free(d->headers);
  d->headers = NULL;
  d->headers_cap = 0;
}


int kn_es_decoder_idle(const kn_es_decoder_t* d) {
  return d->pending.len == 0;
}


/* Checks the first PRELUDE bytes of a message; its total length. */
static int check_prelude(kn_es_decoder_t* d, const uint8_t* p,
                         uint32_t* total) {
  uint32_t t = be32(p);
  uint32_t h = be32(p + 4);
  uint32_t want = be32(p + 8);
  uint32_t got = crc(p, 8);

  if (got != want)
    return fail(d, "event stream: prelude CRC 0x%08" PRIx32
                ", expected 0x%08" PRIx32, got, want);
  if (t < OVERHEAD || t > KN_ES_MAX_MESSAGE)
    return fail(d, "event stream: message length %" PRIu32
                " outside 16 to %u", t, KN_ES_MAX_MESSAGE);
  if (h > t - OVERHEAD)
    return fail(d, "event stream: headers length %" PRIu32
                " past the message's %" PRIu32, h, t);
  *total = t;
  return 0;
}


/* Room for one more header in d->headers. */
static int grow_headers(kn_es_decoder_t* d, size_t n) {
  kn_es_header_t* v;
  size_t cap;
  if (n < d->headers_cap)
    return 0;
  cap = d->headers_cap == 0 ? 8 : d->headers_cap * 2;
  v = kn_realloc(d->headers, cap * sizeof(*v));
  if (v == NULL)
    return KINESIS_ENOMEM;
  d->headers = v;
  d->headers_cap = cap;
  return 0;
}


static int past(kn_es_decoder_t* d, size_t n, size_t len) {
  return fail(d, "event stream: header %zu runs past the headers (%zu bytes)",
              n, len);
}


/* The headers in `p`, `len` bytes, into d->headers; their count. */
static int parse_headers(kn_es_decoder_t* d, const uint8_t* p, size_t len,
                         size_t* count) {
  size_t off = 0;
  size_t n = 0;

  while (off < len) {
    kn_es_header_t* h;
    size_t name_len = p[off];
    unsigned type;
    size_t vlen;
    int r;

    if (name_len == 0)
      return fail(d, "event stream: header %zu has an empty name", n);
    if (name_len + 2 > len - off)
      return past(d, n, len);
    r = grow_headers(d, n);
    if (r != 0)
      return r;
    h = &d->headers[n];
    memset(h, 0, sizeof(*h));
    h->name.ptr = p + off + 1;
    h->name.len = name_len;
    off += 1 + name_len;
    type = p[off++];
    if (type > KN_ES_UUID)
      return fail(d, "event stream: header %zu has type %u, not 0 to 9", n,
                  type);
    h->type = (kn_es_type_t) type;
    vlen = value_size[type];
    if (vlen == SIZE_MAX) {
      if (len - off < 2)
        return past(d, n, len);
      vlen = (size_t) be_n(p + off, 2);
      off += 2;
    }
    if (vlen > len - off)
      return past(d, n, len);
    switch (h->type) {
      case KN_ES_TRUE:
        h->num = 1;
        break;
      case KN_ES_FALSE:
        h->num = 0;
        break;
      case KN_ES_BYTE:
        h->num = (int8_t) p[off];
        break;
      case KN_ES_INT16:
        h->num = (int16_t) (uint16_t) be_n(p + off, 2);
        break;
      case KN_ES_INT32:
        h->num = (int32_t) (uint32_t) be_n(p + off, 4);
        break;
      case KN_ES_INT64:
      case KN_ES_TIMESTAMP:
        h->num = (int64_t) be_n(p + off, 8);
        break;
      case KN_ES_BYTES:
      case KN_ES_STRING:
      case KN_ES_UUID:
        h->bytes.ptr = p + off;
        h->bytes.len = vlen;
        break;
    }
    off += vlen;
    n++;
  }
  *count = n;
  return 0;
}


/* One whole message of `total` bytes at `p`, its prelude checked. */
static int deliver(kn_es_decoder_t* d, const uint8_t* p, uint32_t total,
                   kn_es_message_cb cb, void* arg) {
  uint32_t hlen = be32(p + 4);
  uint32_t want = be32(p + total - 4);
  uint32_t got = crc(p, total - 4);
  kn_es_message_t m;
  size_t n = 0;
  int r;

  if (got != want)
    return fail(d, "event stream: message CRC 0x%08" PRIx32
                ", expected 0x%08" PRIx32, got, want);
  r = parse_headers(d, p + PRELUDE, hlen, &n);
  if (r != 0) {
    d->stopped = 1;
    return r;
  }
  m.headers = d->headers;
  m.nheaders = n;
  m.payload.ptr = p + PRELUDE + hlen;
  m.payload.len = total - OVERHEAD - hlen;
  r = cb(arg, &m);
  if (r != 0)
    d->stopped = 1;
  return r;
}


/* Moves up to `want` bytes of `*data` into d->pending. */
static int take(kn_es_decoder_t* d, const uint8_t** data, size_t* len,
                size_t want) {
  size_t n = want < *len ? want : *len;
  int r = kn_buf_append(&d->pending, *data, n);
  if (r != 0) {
    d->stopped = 1;
    return r;
  }
  *data += n;
  *len -= n;
  return 0;
}


int kn_es_decoder_feed(kn_es_decoder_t* d, const uint8_t* data, size_t len,
                       kn_es_message_cb cb, void* arg) {
  int r;

  if (d->stopped)
    return KINESIS_ECLOSING;
  while (len > 0) {
    if (d->pending.len == 0) {
      /* Whole messages where they are, without a copy. */
      uint32_t total;
      if (len < PRELUDE)
        return take(d, &data, &len, len);
      r = check_prelude(d, data, &total);
      if (r != 0)
        return r;
      if (len < total) {
        d->total = total;
        r = kn_buf_reserve(&d->pending, total);
        if (r != 0) {
          d->stopped = 1;
          return r;
        }
        return take(d, &data, &len, len);
      }
      r = deliver(d, data, total, cb, arg);
      if (r != 0)
        return r;
      data += total;
      len -= total;
      continue;
    }
    if (d->pending.len < PRELUDE) {
      r = take(d, &data, &len, PRELUDE - d->pending.len);
      if (r != 0 || d->pending.len < PRELUDE)
        return r;
      r = check_prelude(d, d->pending.data, &d->total);
      if (r != 0)
        return r;
      r = kn_buf_reserve(&d->pending, d->total - d->pending.len);
      if (r != 0) {
        d->stopped = 1;
        return r;
      }
    }
    r = take(d, &data, &len, d->total - d->pending.len);
    if (r != 0 || d->pending.len < d->total)
      return r;
    r = deliver(d, d->pending.data, d->total, cb, arg);
    /* A large message's room is given back, not kept for the next. */
    if (d->pending.cap > KN_ES_KEEP) {
      kn_buf_free(&d->pending);
      kn_buf_init(&d->pending);
    } else {
      kn_buf_reset(&d->pending);
    }
    d->total = 0;
    if (r != 0)
      return r;
  }
  return 0;
}


static void put_be(uint8_t* p, uint64_t v, size_t n) {
  while (n-- > 0) {
    p[n] = (uint8_t) v;
    v >>= 8;
  }
}


/* A header's encoded size, or 0 when it cannot be encoded. */
static size_t header_size(const kn_es_header_t* h) {
  size_t type = (size_t) h->type;
  if (h->name.len == 0 || h->name.len > 255 || type > KN_ES_UUID)
    return 0;
  if (h->type == KN_ES_BYTES || h->type == KN_ES_STRING)
    return h->bytes.len > 65535 ? 0 : 1 + h->name.len + 1 + 2 + h->bytes.len;
  if (h->type == KN_ES_UUID && h->bytes.len != 16)
    return 0;
  return 1 + h->name.len + 1 + value_size[type];
}


int kn_es_encode(kn_buf_t* out, const kn_es_header_t* headers, size_t n,
                 const uint8_t* payload, size_t len) {
  size_t hlen = 0;
  size_t total;
  size_t start = out->len;
  uint8_t* p;
  size_t i;
  int r;

  for (i = 0; i < n; i++) {
    size_t size = header_size(&headers[i]);
    if (size == 0)
      return KINESIS_EINVAL;
    hlen += size;
  }
  if (hlen > KN_ES_MAX_MESSAGE || len > KN_ES_MAX_MESSAGE - OVERHEAD - hlen)
    return KINESIS_EINVAL;
  total = OVERHEAD + hlen + len;
  if ((r = kn_buf_reserve(out, total)) != 0)
    return r;
  p = out->data + start;
  put_be(p, total, 4);
  put_be(p + 4, hlen, 4);
  put_be(p + 8, crc(p, 8), 4);
  p += PRELUDE;
  for (i = 0; i < n; i++) {
    const kn_es_header_t* h = &headers[i];
    *p++ = (uint8_t) h->name.len;
    memcpy(p, h->name.ptr, h->name.len);
    p += h->name.len;
    *p++ = (uint8_t) h->type;
    switch (h->type) {
      case KN_ES_TRUE:
      case KN_ES_FALSE:
        break;
      case KN_ES_BYTE:
        put_be(p, (uint64_t) h->num, 1);
        p += 1;
        break;
      case KN_ES_INT16:
        put_be(p, (uint64_t) h->num, 2);
        p += 2;
        break;
      case KN_ES_INT32:
        put_be(p, (uint64_t) h->num, 4);
        p += 4;
        break;
      case KN_ES_INT64:
      case KN_ES_TIMESTAMP:
        put_be(p, (uint64_t) h->num, 8);
        p += 8;
        break;
      case KN_ES_BYTES:
      case KN_ES_STRING:
        put_be(p, h->bytes.len, 2);
        p += 2;
        /* fall through */
      case KN_ES_UUID:
        if (h->bytes.len > 0)
          memcpy(p, h->bytes.ptr, h->bytes.len);
        p += h->bytes.len;
        break;
    }
  }
  if (len > 0)
    memcpy(p, payload, len);
  p += len;
  put_be(p, crc(out->data + start, total - 4), 4);
  out->len = start + total;
  out->data[out->len] = '\0';
  return 0;
}


const kn_es_header_t* kn_es_header(const kn_es_message_t* m,
                                   const char* name) {
  size_t n = strlen(name);
  size_t i;
  for (i = 0; i < m->nheaders; i++) {
    const kn_es_header_t* h = &m->headers[i];
    if (h->name.len == n && memcmp(h->name.ptr, name, n) == 0)
      return h;
  }
  return NULL;
}


int kn_es_header_is(const kn_es_message_t* m, const char* name,
                    const char* value) {
  const kn_es_header_t* h = kn_es_header(m, name);
  size_t n = strlen(value);
  return h != NULL && h->type == KN_ES_STRING && h->bytes.len == n &&
         memcmp(h->bytes.ptr, value, n) == 0;
}
