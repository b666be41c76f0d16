#include "buf.h"
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The first allocation is big enough for most small strings (a header
 * value, a shard id) so that they never reallocate. */
#define KN_BUF_MIN_CAP 64

static const char hex_digits[] = "0123456789abcdef";

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decoding table for RFC 4648 section 4: the 6-bit value of each alphabet
 * character, 0xff for everything else, '=' included. Every invalid entry has
 * the high bit set, so one test of the OR of four lookups validates a whole
 * quantum. */
static const uint8_t b64_values[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x00 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x10 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x20 */
    0xff, 0xff, 0xff, 62,   0xff, 0xff, 0xff, 63,   /* '+' '/' */
    52,   53,   54,   55,   56,   57,   58,   59,   /* '0'..'7' */
    60,   61,   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* '8' '9' */
    0xff, 0,    1,    2,    3,    4,    5,    6,    /* 'A'..'G' */
    7,    8,    9,    10,   11,   12,   13,   14,   /* 'H'..'O' */
    15,   16,   17,   18,   19,   20,   21,   22,   /* 'P'..'W' */
    23,   24,   25,   0xff, 0xff, 0xff, 0xff, 0xff, /* 'X'..'Z' */
    0xff, 26,   27,   28,   29,   30,   31,   32,   /* 'a'..'g' */
    33,   34,   35,   36,   37,   38,   39,   40,   /* 'h'..'o' */
    41,   42,   43,   44,   45,   46,   47,   48,   /* 'p'..'w' */
    49,   50,   51,   0xff, 0xff, 0xff, 0xff, 0xff, /* 'x'..'z' */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* 0x80 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};


kn_cursor_t kn_cursor_from_str(const char* s) {
  kn_cursor_t c;
  c.ptr = (const uint8_t*) s;
  c.len = s != NULL ? strlen(s) : 0;
  return c;
}


void kn_buf_init(kn_buf_t* b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}


void kn_buf_free(kn_buf_t* b) {
  kn_free(b->data);
  kn_buf_init(b);
}


void kn_buf_reset(kn_buf_t* b) {
  /* The storage is kept: a buffer reused per request stops allocating once
   * it has grown to the largest request. */
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}


int kn_buf_reserve(kn_buf_t* b, size_t extra) {
  size_t need;
  size_t cap;
  uint8_t* data;

  /* len + extra + 1 must not wrap: a wrapped size would "fit" in the current
   * allocation and the caller would write past its end. Objects above
   * PTRDIFF_MAX are refused too, since subtracting pointers into them is
   * undefined (and malloc refuses them anyway). */
  if (extra > (size_t) PTRDIFF_MAX - 1 - b->len)
    return KINESIS_ENOMEM;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;

  cap = b->cap > KN_BUF_MIN_CAP ? b->cap : KN_BUF_MIN_CAP;
  while (cap < need) {
    /* Doubling keeps appends amortised O(1); near the limit take exactly
     * what is needed instead of overshooting it. */
    if (cap > (size_t) PTRDIFF_MAX / 2) {
      cap = need;
      break;
    }
    cap *= 2;
  }

  data = kn_realloc(b->data, cap);
  if (data == NULL)
    return KINESIS_ENOMEM;
  if (b->data == NULL)
    data[0] = '\0';
  b->data = data;
  b->cap = cap;
  return 0;
}


/*
 * kn_buf_reserve() for appenders whose source may lie inside the buffer
 * itself (copying a piece of a buffer onto its end): when the storage moves,
 * *src is moved with it instead of being left dangling. Addresses are
 * compared as integers, since relational operators on pointers into
 * different objects are undefined.
 */
static int reserve_for(kn_buf_t* b, size_t extra, const uint8_t** src) {
  uintptr_t base = (uintptr_t) b->data;
  uintptr_t p = (uintptr_t) *src;
  int inside = b->data != NULL && p >= base && p < base + b->cap;
  size_t off = inside ? (size_t) (p - base) : 0;
  int r = kn_buf_reserve(b, extra);
  if (r == 0 && inside)
    *src = b->data + off;
  return r;
}


int kn_buf_append(kn_buf_t* b, const void* data, size_t len) {
  const uint8_t* src = data;
  int r;
  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  r = reserve_for(b, len, &src);
  if (r != 0)
    return r;
  memcpy(b->data + b->len, src, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}


int kn_buf_append_str(kn_buf_t* b, const char* s) {
  if (s == NULL)
    return KINESIS_EINVAL;
  return kn_buf_append(b, s, strlen(s));
}


int kn_buf_append_byte(kn_buf_t* b, uint8_t c) {
  int r;
  if (b->len + 1 >= b->cap) {
    r = kn_buf_reserve(b, 1);
    if (r != 0)
      return r;
  }
  b->data[b->len++] = c;
  b->data[b->len] = '\0';
  return 0;
}


int kn_buf_appendf(kn_buf_t* b, const char* fmt, ...) {
  va_list ap;
  va_list ap2;
  size_t room;
  int n;
  int r;

  /* First try to format into the spare capacity, which is enough most of the
   * time; only when it is not, grow to the exact size and format again. */
  room = b->cap > b->len ? b->cap - b->len : 0;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  n = vsnprintf(room > 0 ? (char*) b->data + b->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n < 0) {
    va_end(ap2);
    if (b->data != NULL)
      b->data[b->len] = '\0';
    return KINESIS_EINVAL;
  }
  if ((size_t) n < room) {
    va_end(ap2);
    b->len += (size_t) n;
    return 0;
  }

  r = kn_buf_reserve(b, (size_t) n);
  if (r != 0) {
    va_end(ap2);
    /* The truncated first attempt wrote past len; only the terminator
     * needs putting back. */
    if (b->data != NULL)
      b->data[b->len] = '\0';
    return r;
  }
  n = vsnprintf((char*) b->data + b->len, b->cap - b->len, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    b->data[b->len] = '\0';
    return KINESIS_EINVAL;
  }
  b->len += (size_t) n;
  return 0;
}


const char* kn_buf_str(const kn_buf_t* b) {
  return b->data != NULL ? (const char*) b->data : "";
}


char* kn_buf_steal(kn_buf_t* b) {
  char* s;
  /* An empty buffer that never allocated still hands over a real "" so the
   * caller can treat every result alike and kn_free() it. */
  if (b->data == NULL && kn_buf_reserve(b, 0) != 0)
    return NULL;
  s = (char*) b->data;
  kn_buf_init(b);
  return s;
}


void kn_hex_encode(const uint8_t* data, size_t len, char* out) {
  size_t i;
  for (i = 0; i < len; i++) {
    out[2 * i] = hex_digits[data[i] >> 4];
    out[2 * i + 1] = hex_digits[data[i] & 0x0f];
  }
  out[2 * len] = '\0';
}


int kn_buf_append_hex(kn_buf_t* b, const uint8_t* data, size_t len) {
  int r;
  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  if (len > SIZE_MAX / 2)
    return KINESIS_ENOMEM;
  r = reserve_for(b, 2 * len, &data);
  if (r != 0)
    return r;
  /* kn_hex_encode() writes the terminator, which reserve made room for. */
  kn_hex_encode(data, len, (char*) b->data + b->len);
  b->len += 2 * len;
  return 0;
}


size_t kn_base64_encoded_len(size_t len) {
  /* Written as whole groups plus a padded tail so that (len + 2) cannot
   * wrap. Callers check len against SIZE_MAX first; see below. */
  return len / 3 * 4 + (len % 3 != 0 ? 4 : 0);
}


int kn_buf_append_base64(kn_buf_t* b, const uint8_t* data, size_t len) {
  size_t i;
  size_t out_len;
  char* out;
  int r;

  if (len == 0)
    return 0;
  if (data == NULL)
    return KINESIS_EINVAL;
  /* The encoded length must itself be representable. */
  if (len / 3 >= SIZE_MAX / 4 - 1)
    return KINESIS_ENOMEM;
  out_len = kn_base64_encoded_len(len);
  r = reserve_for(b, out_len, &data);
  if (r != 0)
    return r;

  /* Encode in place: the producer base64-encodes records straight into the
   * batch body, so there is no intermediate copy. */
  out = (char*) b->data + b->len;
  for (i = 0; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8 |
                 (uint32_t) data[i + 2];
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 0x3f];
    *out++ = b64_alphabet[(v >> 6) & 0x3f];
    *out++ = b64_alphabet[v & 0x3f];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t) data[i] << 16;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 0x3f];
    *out++ = '=';
    *out++ = '=';
  } else if (len - i == 2) {
    uint32_t v = (uint32_t) data[i] << 16 | (uint32_t) data[i + 1] << 8;
    *out++ = b64_alphabet[v >> 18];
    *out++ = b64_alphabet[(v >> 12) & 0x3f];
    *out++ = b64_alphabet[(v >> 6) & 0x3f];
    *out++ = '=';
  }
  *out = '\0';
  b->len += out_len;
  return 0;
}


size_t kn_base64_decoded_max(size_t in_len) {
  /* An upper bound for any input, valid or not, that cannot wrap. */
  return in_len / 4 * 3 + (in_len % 4 != 0 ? 3 : 0);
}


int kn_base64_decode(const char* in, size_t in_len, uint8_t* out,
                     size_t* out_len) {
  const uint8_t* s = (const uint8_t*) in;
  size_t full;
  size_t pad;
  size_t size;
  size_t i;
  size_t o;
  uint32_t a;
  uint32_t b;
  uint32_t c;
  uint32_t d;

  if (out_len == NULL || (in == NULL && in_len > 0))
    return KINESIS_EINVAL;
  /* RFC 4648 section 4: padded output is always whole 4-character groups.
   * Anything else (including embedded line breaks) is rejected rather than
   * skipped, so corrupt data never decodes to something plausible. */
  if (in_len % 4 != 0)
    return KINESIS_EINVAL;
  if (in_len == 0) {
    *out_len = 0;
    return 0;
  }

  /* Only the last group may carry padding: "xx==" or "xxx=". */
  pad = 0;
  if (s[in_len - 1] == '=') {
    pad = 1;
    if (s[in_len - 2] == '=')
      pad = 2;
  }
  size = in_len / 4 * 3 - pad;
  if (out == NULL || size > *out_len)
    return KINESIS_EINVAL;

  /* Groups before the last are decoded without any per-character branch;
   * the OR of the four lookups has bit 7 set if any character was invalid,
   * '=' included. A bad character found late means some bytes of `out` were
   * written, which the header allows: the result is only defined on 0. */
  full = pad > 0 ? in_len - 4 : in_len;
  for (i = 0, o = 0; i < full; i += 4, o += 3) {
    a = b64_values[s[i]];
    b = b64_values[s[i + 1]];
    c = b64_values[s[i + 2]];
    d = b64_values[s[i + 3]];
    if ((a | b | c | d) & 0x80)
      return KINESIS_EINVAL;
    out[o] = (uint8_t) (a << 2 | b >> 4);
    out[o + 1] = (uint8_t) (b << 4 | c >> 2);
    out[o + 2] = (uint8_t) (c << 6 | d);
  }

  if (pad > 0) {
    a = b64_values[s[i]];
    b = b64_values[s[i + 1]];
    c = pad == 1 ? b64_values[s[i + 2]] : 0;
    if ((a | b | c) & 0x80)
      return KINESIS_EINVAL;
    /* RFC 4648 section 3.5: the bits under the padding must be zero. A
     * decoder that ignored them would accept several encodings of one
     * value, which is how two different strings end up equal. */
    if (pad == 2 ? (b & 0x0f) != 0 : (c & 0x03) != 0)
      return KINESIS_EINVAL;
    out[o] = (uint8_t) (a << 2 | b >> 4);
    if (pad == 1)
      out[o + 1] = (uint8_t) (b << 4 | c >> 2);
  }

  *out_len = size;
  return 0;
}
