#include "harness.h"
#include "internal.h"
#include "buf.h"
#include "cpu.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>


/* A small deterministic generator, so failures reproduce. */
static uint32_t rng_state = 0x9e3779b9u;


static uint32_t rng_next(void) {
  uint32_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  rng_state = x;
  return x;
}


/* An allocator that fails once `fail_after` more allocations have passed,
 * to reach the KINESIS_ENOMEM paths. */
static int fail_after = -1;


static void* failing_malloc(size_t size) {
  if (fail_after == 0)
    return NULL;
  if (fail_after > 0)
    fail_after--;
  return malloc(size);
}


static void* failing_realloc(void* ptr, size_t size) {
  if (fail_after == 0)
    return NULL;
  if (fail_after > 0)
    fail_after--;
  return realloc(ptr, size);
}


static void* failing_calloc(size_t count, size_t size) {
  if (fail_after == 0)
    return NULL;
  if (fail_after > 0)
    fail_after--;
  return calloc(count, size);
}


static void test_cursor(void) {
  kn_cursor_t c = kn_cursor_from_str("hello");
  ASSERT_EQ(5, c.len);
  ASSERT_MEM_EQ("hello", c.ptr, 5);
  c = kn_cursor_from_str("");
  ASSERT_EQ(0, c.len);
  c = kn_cursor_from_str(NULL);
  ASSERT_EQ(0, c.len);
  ASSERT_NULL(c.ptr);
}


static void test_buf_empty(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_buf_t c;
  ASSERT_STR_EQ("", kn_buf_str(&b));
  ASSERT_EQ(0, b.len);
  /* Appending nothing must not allocate. */
  ASSERT_OK(kn_buf_append(&b, NULL, 0));
  ASSERT_OK(kn_buf_append_hex(&b, NULL, 0));
  ASSERT_OK(kn_buf_append_base64(&b, NULL, 0));
  ASSERT_NULL(b.data);
  ASSERT_EQ(KINESIS_EINVAL, kn_buf_append(&b, NULL, 1));
  ASSERT_EQ(KINESIS_EINVAL, kn_buf_append_str(&b, NULL));
  kn_buf_free(&b);
  kn_buf_init(&c);
  ASSERT_NULL(c.data);
  ASSERT_EQ(0, c.cap);
  kn_buf_free(&c);
}


static void test_buf_growth(void) {
  kn_buf_t b = KN_BUF_INIT;
  char expect[10000];
  size_t i;
  size_t last_cap = 0;
  int grew = 0;

  for (i = 0; i < sizeof(expect); i++) {
    uint8_t c = (uint8_t) ('a' + i % 26);
    expect[i] = (char) c;
    if (i % 3 == 0)
      ASSERT_OK(kn_buf_append_byte(&b, c));
    else
      ASSERT_OK(kn_buf_append(&b, &c, 1));
    ASSERT_EQ(i + 1, b.len);
    ASSERT_LT(b.len, b.cap);
    ASSERT_EQ(0, b.data[b.len]);
    if (b.cap != last_cap) {
      grew++;
      last_cap = b.cap;
    }
  }
  ASSERT_MEM_EQ(expect, b.data, sizeof(expect));
  /* Geometric growth: a handful of reallocations for 10000 bytes. */
  ASSERT_LE(grew, 10);

  ASSERT_OK(kn_buf_append_str(&b, "tail"));
  ASSERT_EQ(sizeof(expect) + 4, b.len);
  ASSERT_STR_EQ("tail", kn_buf_str(&b) + sizeof(expect));
  kn_buf_free(&b);
  ASSERT_NULL(b.data);
  ASSERT_EQ(0, b.len);
  ASSERT_EQ(0, b.cap);
}


static void test_buf_reserve(void) {
  kn_buf_t b = KN_BUF_INIT;
  uint8_t* data;

  ASSERT_OK(kn_buf_reserve(&b, 1000));
  ASSERT_GE(b.cap, 1001);
  ASSERT_EQ(0, b.len);
  ASSERT_STR_EQ("", kn_buf_str(&b));
  /* Reserved room means no reallocation while appending into it. */
  data = b.data;
  ASSERT_OK(kn_buf_append(&b, "0123456789", 10));
  ASSERT(data == b.data);

  /* Sizes that would wrap around SIZE_MAX are refused, not truncated. */
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_reserve(&b, SIZE_MAX));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_reserve(&b, SIZE_MAX - 10));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_reserve(&b, SIZE_MAX - 11));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_reserve(&b, (size_t) PTRDIFF_MAX));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_reserve(&b, (size_t) PTRDIFF_MAX - 10));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_append_hex(&b, b.data, SIZE_MAX / 2 + 1));
  ASSERT_EQ(KINESIS_ENOMEM,
            kn_buf_append_base64(&b, b.data, SIZE_MAX / 4 * 3));
  ASSERT_EQ(10, b.len);
  ASSERT_STR_EQ("0123456789", kn_buf_str(&b));
  kn_buf_free(&b);
}


static void test_buf_appendf(void) {
  kn_buf_t b = KN_BUF_INIT;
  char big[1000];
  size_t i;

  ASSERT_OK(kn_buf_appendf(&b, "%d-%s", 42, "x"));
  ASSERT_STR_EQ("42-x", kn_buf_str(&b));
  ASSERT_OK(kn_buf_appendf(&b, "%s", ""));
  ASSERT_STR_EQ("42-x", kn_buf_str(&b));

  /* Longer than the spare room: formatted again after growing. */
  for (i = 0; i < sizeof(big) - 1; i++)
    big[i] = (char) ('A' + i % 26);
  big[sizeof(big) - 1] = '\0';
  ASSERT_OK(kn_buf_appendf(&b, "[%s]%zu", big, (size_t) 7));
  ASSERT_EQ(4 + 1 + 999 + 1 + 1, b.len);
  ASSERT_EQ(strlen(kn_buf_str(&b)), b.len);
  ASSERT_MEM_EQ("42-x[", b.data, 5);
  ASSERT_MEM_EQ(big, b.data + 5, 999);
  ASSERT_STR_EQ("]7", kn_buf_str(&b) + 5 + 999);

  /* Exactly filling the spare room, terminator included, must grow. */
  kn_buf_reset(&b);
  for (i = 0; i + 1 < b.cap; i++)
    ASSERT_OK(kn_buf_append_byte(&b, 'z'));
  ASSERT_OK(kn_buf_appendf(&b, "%s", "abc"));
  ASSERT_EQ(i + 3, b.len);
  ASSERT_STR_EQ("abc", kn_buf_str(&b) + i);
  kn_buf_free(&b);
}


static void test_buf_reset_steal(void) {
  kn_buf_t b = KN_BUF_INIT;
  size_t cap;
  char* s;

  ASSERT_OK(kn_buf_append_str(&b, "hello"));
  cap = b.cap;
  kn_buf_reset(&b);
  ASSERT_EQ(0, b.len);
  ASSERT_EQ(cap, b.cap);
  ASSERT_STR_EQ("", kn_buf_str(&b));
  ASSERT_OK(kn_buf_append_str(&b, "world"));
  ASSERT_STR_EQ("world", kn_buf_str(&b));

  s = kn_buf_steal(&b);
  ASSERT_STR_EQ("world", s);
  ASSERT_NULL(b.data);
  ASSERT_EQ(0, b.len);
  ASSERT_EQ(0, b.cap);
  kn_free(s);

  /* Stealing an empty buffer still gives an allocated "". */
  s = kn_buf_steal(&b);
  ASSERT_NOT_NULL(s);
  ASSERT_STR_EQ("", s);
  kn_free(s);

  /* The buffer is reusable after a steal. */
  ASSERT_OK(kn_buf_append_str(&b, "again"));
  ASSERT_STR_EQ("again", kn_buf_str(&b));
  kn_buf_free(&b);
  kn_buf_reset(&b);
  ASSERT_STR_EQ("", kn_buf_str(&b));
}


static void test_buf_enomem(void) {
  kn_buf_t b = KN_BUF_INIT;
  size_t i;

  ASSERT_OK(kinesis_replace_allocator(failing_malloc, failing_realloc,
                                      failing_calloc, free));
  fail_after = 0;
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_append_str(&b, "x"));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_appendf(&b, "%d", 1));
  ASSERT_NULL(kn_buf_steal(&b));
  ASSERT_NULL(b.data);

  /* A failed growth keeps the old contents intact. */
  fail_after = 1;
  ASSERT_OK(kn_buf_append_str(&b, "keep"));
  for (i = b.len; i + 1 < b.cap; i++)
    ASSERT_OK(kn_buf_append_byte(&b, '.'));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_append_byte(&b, '!'));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_appendf(&b, "%s", "more"));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_append_base64(&b, (const uint8_t*) "a", 1));
  ASSERT_EQ(KINESIS_ENOMEM, kn_buf_append_hex(&b, (const uint8_t*) "a", 1));
  ASSERT_EQ(i, b.len);
  ASSERT_EQ(strlen(kn_buf_str(&b)), b.len);
  ASSERT_MEM_EQ("keep", b.data, 4);
  kn_buf_free(&b);

  fail_after = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
}


static void test_buf_self_append(void) {
  /* Appending a buffer's own bytes must survive the reallocation that the
   * append itself causes. */
  kn_buf_t b = KN_BUF_INIT;
  size_t i;

  ASSERT_OK(kn_buf_append_str(&b, "ab"));
  for (i = 0; i < 12; i++) {
    size_t cap = b.cap;
    while (b.len * 2 + 1 <= b.cap)
      ASSERT_OK(kn_buf_append(&b, b.data, b.len));
    ASSERT_EQ(cap, b.cap);
    ASSERT_OK(kn_buf_append(&b, b.data, b.len));
    ASSERT_NE(cap, b.cap);
  }
  ASSERT_EQ(strlen(kn_buf_str(&b)), b.len);
  for (i = 0; i < b.len; i++)
    ASSERT_EQ(i % 2 == 0 ? 'a' : 'b', b.data[i]);

  /* The same for the encoders, each run with the buffer full to the brim
   * so that it must grow. */
  kn_buf_reset(&b);
  ASSERT_OK(kn_buf_append_str(&b, "foobar"));
  while (b.len + 1 < b.cap)
    ASSERT_OK(kn_buf_append_byte(&b, '.'));
  ASSERT_OK(kn_buf_append_base64(&b, b.data, 6));
  ASSERT_STR_EQ("Zm9vYmFy", kn_buf_str(&b) + b.len - 8);
  while (b.len + 1 < b.cap)
    ASSERT_OK(kn_buf_append_byte(&b, '.'));
  ASSERT_OK(kn_buf_append_hex(&b, b.data, 6));
  ASSERT_STR_EQ("666f6f626172", kn_buf_str(&b) + b.len - 12);
  kn_buf_free(&b);
}


static void test_hex(void) {
  static const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  kn_buf_t b = KN_BUF_INIT;
  char out[2 * sizeof(bytes) + 1];

  kn_hex_encode(bytes, sizeof(bytes), out);
  ASSERT_STR_EQ("00017f80abff", out);
  kn_hex_encode(bytes, 0, out);
  ASSERT_STR_EQ("", out);

  ASSERT_OK(kn_buf_append_str(&b, "0x"));
  ASSERT_OK(kn_buf_append_hex(&b, bytes, sizeof(bytes)));
  ASSERT_STR_EQ("0x00017f80abff", kn_buf_str(&b));
  kn_buf_free(&b);
}


/* RFC 4648 section 10. */
static const struct {
  const char* plain;
  const char* encoded;
} rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};


static void test_base64_rfc4648(void) {
  size_t i;
  for (i = 0; i < KN_ARRAY_SIZE(rfc4648); i++) {
    const char* plain = rfc4648[i].plain;
    const char* enc = rfc4648[i].encoded;
    kn_buf_t b = KN_BUF_INIT;
    uint8_t out[16];
    size_t out_len = sizeof(out);

    ASSERT_EQ(strlen(enc), kn_base64_encoded_len(strlen(plain)));
    ASSERT_OK(kn_buf_append_base64(&b, (const uint8_t*) plain, strlen(plain)));
    ASSERT_STR_EQ(enc, kn_buf_str(&b));
    kn_buf_free(&b);

    ASSERT_GE(kn_base64_decoded_max(strlen(enc)), strlen(plain));
    ASSERT_OK(kn_base64_decode(enc, strlen(enc), out, &out_len));
    ASSERT_EQ(strlen(plain), out_len);
    ASSERT_MEM_EQ(plain, out, out_len);
  }
}


static void test_base64_append(void) {
  /* Encoding appends after what is already there. */
  kn_buf_t b = KN_BUF_INIT;
  ASSERT_OK(kn_buf_append_str(&b, "{\"Data\":\""));
  ASSERT_OK(kn_buf_append_base64(&b, (const uint8_t*) "foob", 4));
  ASSERT_OK(kn_buf_append_str(&b, "\"}"));
  ASSERT_STR_EQ("{\"Data\":\"Zm9vYg==\"}", kn_buf_str(&b));
  kn_buf_free(&b);
}


static int decode_str(const char* s, uint8_t* out, size_t* out_len) {
  return kn_base64_decode(s, strlen(s), out, out_len);
}


static void test_base64_reject(void) {
  static const char* const bad[] = {
      "Z",         /* not a whole group */
      "Zg",        /* unpadded */
      "Zg=",       /* short padding */
      "Zm9vY",     /* stray character */
      "Zg===",     /* too much padding */
      "Z===",      /* three pad characters */
      "====",      /* padding only */
      "=Zg=",      /* padding first */
      "Z=g=",      /* padding inside the group */
      "Zg==Zg==",  /* padding before the end */
      "Zm9v=Zg=",  /* padding before the end */
      "Zh==",      /* non-zero bits under the padding */
      "Zm9=",      /* non-zero bits under the padding */
      "Zm9v\n",    /* line break */
      "Zm9v\nYmFy",
      "Zm 9",      /* space */
      "Zm-9",      /* base64url alphabet */
      "Zm_9",
      "Zm9v\x80\x80\x80\x80",
  };
  size_t i;
  int c;

  for (i = 0; i < KN_ARRAY_SIZE(bad); i++) {
    uint8_t out[32];
    size_t out_len = sizeof(out);
    int r = decode_str(bad[i], out, &out_len);
    if (r != KINESIS_EINVAL)
      fprintf(stderr, "accepted bad base64 #%zu \"%s\"\n", i, bad[i]);
    ASSERT_EQ(KINESIS_EINVAL, r);
    ASSERT_EQ(sizeof(out), out_len);
  }

  /* Every byte outside the alphabet is rejected in every position of a
   * group; every byte inside it is accepted. */
  for (c = 0; c < 256; c++) {
    int valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                (c >= '0' && c <= '9') || c == '+' || c == '/';
    int pos;
    for (pos = 0; pos < 4; pos++) {
      char in[9] = "QUJDQUJD";
      uint8_t out[8];
      size_t out_len = sizeof(out);
      in[pos] = (char) c;
      ASSERT_EQ(valid ? 0 : KINESIS_EINVAL,
                kn_base64_decode(in, 8, out, &out_len));
    }
  }

  /* A NUL inside the input is a bad character, not the end of it. */
  {
    uint8_t out[8];
    size_t out_len = sizeof(out);
    ASSERT_EQ(KINESIS_EINVAL, kn_base64_decode("Zm\0v", 4, out, &out_len));
  }
}


static void test_base64_short_output(void) {
  uint8_t out[6];
  size_t out_len;

  out_len = 5;
  ASSERT_EQ(KINESIS_EINVAL, decode_str("Zm9vYmFy", out, &out_len));
  ASSERT_EQ(5, out_len);
  out_len = 6;
  ASSERT_OK(decode_str("Zm9vYmFy", out, &out_len));
  ASSERT_EQ(6, out_len);
  ASSERT_MEM_EQ("foobar", out, 6);

  out_len = 0;
  ASSERT_EQ(KINESIS_EINVAL, decode_str("Zg==", out, &out_len));
  out_len = 1;
  ASSERT_OK(decode_str("Zg==", out, &out_len));
  ASSERT_EQ(1, out_len);
  ASSERT_EQ('f', out[0]);

  out_len = 0;
  ASSERT_OK(kn_base64_decode("", 0, NULL, &out_len));
  ASSERT_EQ(0, out_len);
  ASSERT_EQ(KINESIS_EINVAL, kn_base64_decode("Zg==", 4, out, NULL));
}


static void test_base64_roundtrip(void) {
  uint8_t data[300];
  uint8_t out[300];
  size_t n;
  size_t i;

  for (n = 0; n <= sizeof(data); n++) {
    kn_buf_t b = KN_BUF_INIT;
    size_t out_len;

    for (i = 0; i < n; i++)
      data[i] = (uint8_t) rng_next();
    ASSERT_OK(kn_buf_append_base64(&b, data, n));
    ASSERT_EQ(kn_base64_encoded_len(n), b.len);
    ASSERT_EQ(0, b.len % 4);
    ASSERT_GE(kn_base64_decoded_max(b.len), n);

    /* Exactly enough room succeeds; one byte less is refused. */
    out_len = n;
    ASSERT_OK(kn_base64_decode(kn_buf_str(&b), b.len, out, &out_len));
    ASSERT_EQ(n, out_len);
    if (n > 0) {
      ASSERT_MEM_EQ(data, out, n);
      out_len = n - 1;
      ASSERT_EQ(KINESIS_EINVAL,
                kn_base64_decode(kn_buf_str(&b), b.len, out, &out_len));
    }
    kn_buf_free(&b);
  }
}


/* With AVX2 the encoder takes 24 bytes a step: every length, every byte
 * value and every 6-bit value in every position must come out as the
 * scalar encoder writes it. The scalar path is the reference (checked
 * against RFC 4648 above, with acceleration off). */
static void test_base64_simd_matches_scalar(void) {
  uint8_t data[600];
  size_t n;
  size_t i;
  int round;

  if (!kn_cpu_has_avx2())
    fprintf(stderr, "# no AVX2 here: both runs take the scalar path\n");
  for (round = 0; round < 3; round++)
    for (n = 0; n <= sizeof(data); n++) {
      kn_buf_t fast = KN_BUF_INIT;
      kn_buf_t slow = KN_BUF_INIT;
      for (i = 0; i < n; i++)
        data[i] = round == 0   ? (uint8_t) rng_next()
                  : round == 1 ? (uint8_t) (i * 7 + n)
                               : (uint8_t) (0xff - i % 3);
      kn_cpu_allow_acceleration(1);
      ASSERT_OK(kn_buf_append_base64(&fast, data, n));
      kn_cpu_allow_acceleration(0);
      ASSERT_EQ(0, kn_cpu_has_avx2());
      ASSERT_OK(kn_buf_append_base64(&slow, data, n));
      kn_cpu_allow_acceleration(1);
      ASSERT_EQ(slow.len, fast.len);
      if (slow.len > 0)
        ASSERT_MEM_EQ(slow.data, fast.data, slow.len);
      kn_buf_free(&fast);
      kn_buf_free(&slow);
    }
  /* Every 6-bit value at each of the four places of a quantum. */
  for (i = 0; i < 256; i++) {
    kn_buf_t fast = KN_BUF_INIT;
    kn_buf_t slow = KN_BUF_INIT;
    size_t k;
    for (k = 0; k < 48; k++)
      data[k] = (uint8_t) (i + k * 85);
    ASSERT_OK(kn_buf_append_base64(&fast, data, 48));
    kn_cpu_allow_acceleration(0);
    ASSERT_OK(kn_buf_append_base64(&slow, data, 48));
    kn_cpu_allow_acceleration(1);
    ASSERT_MEM_EQ(slow.data, fast.data, 64);
    kn_buf_free(&fast);
    kn_buf_free(&slow);
  }
}


/* Decoding in place, as the GetRecords scanner does, for every length. */
/* With AVX2 the decoder takes 32 characters a step: for every length, its
 * answer (status and bytes, in place and not) must be the scalar
 * decoder's, and so for each character of a 128-character text replaced by
 * each of the 256 byte values: a character outside the alphabet (or '=')
 * is refused wherever it stands, in a vector step or in the scalar tail. */
static void test_base64_decode_simd_matches_scalar(void) {
  uint8_t data[400];
  uint8_t fast_out[400];
  uint8_t slow_out[400];
  char text[600];
  size_t n;
  size_t i;
  size_t at;
  unsigned v;

  if (!kn_cpu_has_avx2())
    fprintf(stderr, "# no AVX2 here: both runs take the scalar path\n");
  for (n = 0; n <= sizeof(data); n++) {
    kn_buf_t b = KN_BUF_INIT;
    size_t fast_len = sizeof(fast_out);
    size_t slow_len = sizeof(slow_out);
    int fr;
    int sr;
    for (i = 0; i < n; i++)
      data[i] = (uint8_t) rng_next();
    ASSERT_OK(kn_buf_append_base64(&b, data, n));
    fr = kn_base64_decode(kn_buf_str(&b), b.len, fast_out, &fast_len);
    kn_cpu_allow_acceleration(0);
    sr = kn_base64_decode(kn_buf_str(&b), b.len, slow_out, &slow_len);
    kn_cpu_allow_acceleration(1);
    ASSERT_OK(fr);
    ASSERT_OK(sr);
    ASSERT_EQ(n, fast_len);
    ASSERT_EQ(n, slow_len);
    if (n > 0) {
      ASSERT_MEM_EQ(data, fast_out, n);
      ASSERT_MEM_EQ(data, slow_out, n);
    }
    /* In place, with just the room the text takes. */
    fast_len = b.len;
    ASSERT_OK(kn_base64_decode((const char*) b.data, b.len, b.data,
                               &fast_len));
    ASSERT_EQ(n, fast_len);
    if (n > 0)
      ASSERT_MEM_EQ(data, b.data, n);
    kn_buf_free(&b);
  }

  for (i = 0; i < 96; i++)
    data[i] = (uint8_t) rng_next();
  {
    kn_buf_t b = KN_BUF_INIT;
    ASSERT_OK(kn_buf_append_base64(&b, data, 96));
    ASSERT_EQ(128, b.len);
    memcpy(text, b.data, 128);
    kn_buf_free(&b);
  }
  for (at = 0; at < 128; at++)
    for (v = 0; v < 256; v++) {
      char saved = text[at];
      size_t fast_len = sizeof(fast_out);
      size_t slow_len = sizeof(slow_out);
      int fr;
      int sr;
      text[at] = (char) v;
      fr = kn_base64_decode(text, 128, fast_out, &fast_len);
      kn_cpu_allow_acceleration(0);
      sr = kn_base64_decode(text, 128, slow_out, &slow_len);
      kn_cpu_allow_acceleration(1);
      text[at] = saved;
      if (fr != sr)
        fprintf(stderr, "byte 0x%02x at %zu: fast %d, scalar %d\n", v, at,
                fr, sr);
      ASSERT_EQ(sr, fr);
      if (sr == 0) {
        ASSERT_EQ(slow_len, fast_len);
        ASSERT_MEM_EQ(slow_out, fast_out, slow_len);
      }
    }
}


static void test_base64_in_place(void) {
  uint8_t data[200];
  size_t len;
  size_t i;
  for (i = 0; i < sizeof(data); i++)
    data[i] = (uint8_t) (i * 37 + 11);
  for (len = 0; len <= sizeof(data); len++) {
    kn_buf_t b = KN_BUF_INIT;
    size_t out_len;
    ASSERT_OK(kn_buf_append_base64(&b, data, len));
    out_len = b.len;
    ASSERT_OK(kn_base64_decode((const char*) b.data, b.len, b.data, &out_len));
    ASSERT_EQ(len, out_len);
    if (len > 0)
      ASSERT_MEM_EQ(data, b.data, len);
    kn_buf_free(&b);
  }
}


KN_TEST_MAIN(KN_TEST(test_cursor), KN_TEST(test_buf_empty), KN_TEST(test_base64_in_place),
             KN_TEST(test_buf_growth), KN_TEST(test_buf_reserve),
             KN_TEST(test_buf_appendf), KN_TEST(test_buf_reset_steal),
             KN_TEST(test_buf_enomem), KN_TEST(test_buf_self_append),
             KN_TEST(test_hex), KN_TEST(test_base64_rfc4648),
             KN_TEST(test_base64_append), KN_TEST(test_base64_reject),
             KN_TEST(test_base64_short_output),
             KN_TEST(test_base64_roundtrip),
             KN_TEST(test_base64_simd_matches_scalar),
             KN_TEST(test_base64_decode_simd_matches_scalar))
