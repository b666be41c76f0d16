#include "crypto.h"
#include "internal.h"

#include <stdint.h>
#include <string.h>

/* This is the only file that includes mbedTLS (STYLE.md section 8): when
 * Mbed TLS 4 replaces these APIs with PSA, only this file changes. */
#include <mbedtls/version.h>
#include <mbedtls/md5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>

#include "cpu.h"

/* The SHA-256 block size, which is also the HMAC key block size. */
#define SHA256_BLOCK_LEN 64



/* mbedTLS 2.x returns errors from the *_ret functions only; 3.x removed the
 * suffix (and the void versions). These wrappers pick the right one so the
 * rest of the file reads the same on both. */
static int mb_starts(mbedtls_sha256_context* c) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_starts_ret(c, 0);
#else
  return mbedtls_sha256_starts(c, 0);
#endif
}


static int mb_update(mbedtls_sha256_context* c, const uint8_t* data,
                     size_t len) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_update_ret(c, data, len);
#else
  return mbedtls_sha256_update(c, data, len);
#endif
}


static int mb_finish(mbedtls_sha256_context* c, uint8_t* out) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_finish_ret(c, out);
#else
  return mbedtls_sha256_finish(c, out);
#endif
}


/*
 * SHA-256 with the x86 SHA extensions. Signing hashes every request body
 * once, and mbedTLS 2.28 has no path for these instructions: on this
 * project's machines it hashes at about 300 MB/s where the CPU's own
 * instructions reach about 1.8 GB/s (bench/bench_sign). The instructions
 * are used when CPUID reports them; otherwise mbedTLS does the work. The
 * FIPS 180 vectors in test_crypto run on both paths.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KN_HAVE_SHANI 1
#include <immintrin.h>
#endif

typedef struct {
  uint32_t state[8];
  uint8_t buf[SHA256_BLOCK_LEN];
  size_t buflen;
  uint64_t total;
} kn_shani_ctx_t;

typedef struct {
  int accel;
  union {
    mbedtls_sha256_context mb;
    kn_shani_ctx_t ni;
  } u;
} sha_ctx_t;

_Static_assert(sizeof(sha_ctx_t) <= sizeof(((kn_sha256_ctx_t*) 0)->opaque),
               "kn_sha256_ctx_t.opaque is too small");
_Static_assert(_Alignof(sha_ctx_t) <= _Alignof(uint64_t),
               "kn_sha256_ctx_t.opaque is under-aligned");

#ifdef KN_HAVE_SHANI
static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};


/* Compresses `nblocks` 64-byte blocks into `state`. The state is held as
 * the instructions want it: ABEF and CDGH. Each group of four rounds runs
 * two sha256rnds2; the message schedule for group g+1 is finished with
 * sha256msg2 in group g, having been started with sha256msg1 two groups
 * before. */
__attribute__((target("sha,ssse3,sse4.1"))) static void shani_blocks(
    uint32_t state[8], const uint8_t* data, size_t nblocks) {
  const __m128i mask =
      _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
  __m128i tmp = _mm_loadu_si128((const __m128i*) &state[0]);
  __m128i state1 = _mm_loadu_si128((const __m128i*) &state[4]);
  __m128i state0;

  tmp = _mm_shuffle_epi32(tmp, 0xB1);          /* CDAB */
  state1 = _mm_shuffle_epi32(state1, 0x1B);    /* EFGH */
  state0 = _mm_alignr_epi8(tmp, state1, 8);    /* ABEF */
  state1 = _mm_blend_epi16(state1, tmp, 0xF0); /* CDGH */

  while (nblocks-- > 0) {
    __m128i save0 = state0;
    __m128i save1 = state1;
    __m128i m[4];
    int g;
    /* Unrolled, so that m[] stays in registers: as a loop, the indexing by
     * g & 3 put it on the stack, and hashing ran about 40% slower. */
#if defined(__clang__)
#pragma clang loop unroll(full)
#else
#pragma GCC unroll 16
#endif
    for (g = 0; g < 16; g++) {
      __m128i msg;
      if (g < 4)
        m[g] = _mm_shuffle_epi8(
            _mm_loadu_si128((const __m128i*) (data + 16 * g)), mask);
      msg = _mm_add_epi32(m[g & 3],
                          _mm_loadu_si128((const __m128i*) &sha_k[4 * g]));
      state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
      if (g >= 3 && g < 15) {
        __m128i t = _mm_alignr_epi8(m[g & 3], m[(g + 3) & 3], 4);
        m[(g + 1) & 3] = _mm_add_epi32(m[(g + 1) & 3], t);
        m[(g + 1) & 3] = _mm_sha256msg2_epu32(m[(g + 1) & 3], m[g & 3]);
      }
      msg = _mm_shuffle_epi32(msg, 0x0E);
      state0 = _mm_sha256rnds2_epu32(state0, state1, msg);
      if (g >= 1 && g < 13)
        m[(g + 3) & 3] = _mm_sha256msg1_epu32(m[(g + 3) & 3], m[g & 3]);
    }
    state0 = _mm_add_epi32(state0, save0);
    state1 = _mm_add_epi32(state1, save1);
    data += SHA256_BLOCK_LEN;
  }

  tmp = _mm_shuffle_epi32(state0, 0x1B);       /* FEBA */
  state1 = _mm_shuffle_epi32(state1, 0xB1);    /* DCHG */
  state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* DCBA */
  state1 = _mm_alignr_epi8(state1, tmp, 8);    /* HGFE */
  _mm_storeu_si128((__m128i*) &state[0], state0);
  _mm_storeu_si128((__m128i*) &state[4], state1);
}
#else
static void shani_blocks(uint32_t state[8], const uint8_t* data,
                         size_t nblocks) {
  (void) state;
  (void) data;
  (void) nblocks;
}
#endif


int kn_crypto_accelerated(void) {
  return kn_cpu_has_shani();
}


static void ni_starts(kn_shani_ctx_t* c) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372,
                                 0xa54ff53a, 0x510e527f, 0x9b05688c,
                                 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->state, iv, sizeof(iv));
  c->buflen = 0;
  c->total = 0;
}


static void ni_update(kn_shani_ctx_t* c, const uint8_t* data, size_t len) {
  /* An empty update may come with a NULL pointer, which memcpy may not. */
  if (len == 0)
    return;
  c->total += len;
  if (c->buflen > 0) {
    size_t take = SHA256_BLOCK_LEN - c->buflen;
    if (take > len)
      take = len;
    memcpy(c->buf + c->buflen, data, take);
    c->buflen += take;
    data += take;
    len -= take;
    if (c->buflen < SHA256_BLOCK_LEN)
      return;
    shani_blocks(c->state, c->buf, 1);
    c->buflen = 0;
  }
  if (len >= SHA256_BLOCK_LEN) {
    shani_blocks(c->state, data, len / SHA256_BLOCK_LEN);
    data += len - len % SHA256_BLOCK_LEN;
    len %= SHA256_BLOCK_LEN;
  }
  memcpy(c->buf, data, len);
  c->buflen = len;
}


static void ni_finish(kn_shani_ctx_t* c, uint8_t out[KN_SHA256_LEN]) {
  uint64_t bits = c->total * 8;
  uint8_t pad[SHA256_BLOCK_LEN * 2];
  size_t padlen = (c->buflen < 56 ? 56 : 120) - c->buflen;
  int i;

  memset(pad, 0, sizeof(pad));
  pad[0] = 0x80;
  for (i = 0; i < 8; i++)
    pad[padlen + (size_t) i] = (uint8_t) (bits >> (56 - 8 * i));
  ni_update(c, pad, padlen + 8);
  for (i = 0; i < 8; i++) {
    out[4 * i] = (uint8_t) (c->state[i] >> 24);
    out[4 * i + 1] = (uint8_t) (c->state[i] >> 16);
    out[4 * i + 2] = (uint8_t) (c->state[i] >> 8);
    out[4 * i + 3] = (uint8_t) c->state[i];
  }
}


static void sha_init(sha_ctx_t* c) {
  c->accel = kn_crypto_accelerated();
  if (!c->accel)
    mbedtls_sha256_init(&c->u.mb);
}


static void sha_free(sha_ctx_t* c) {
  if (c->accel)
    mbedtls_platform_zeroize(&c->u.ni, sizeof(c->u.ni));
  else
    mbedtls_sha256_free(&c->u.mb);
}


static int sha_starts(sha_ctx_t* c) {
  if (c->accel) {
    ni_starts(&c->u.ni);
    return 0;
  }
  return mb_starts(&c->u.mb);
}


static int sha_update(sha_ctx_t* c, const uint8_t* data, size_t len) {
  if (c->accel) {
    ni_update(&c->u.ni, data, len);
    return 0;
  }
  return mb_update(&c->u.mb, data, len);
}


static int sha_finish(sha_ctx_t* c, uint8_t* out) {
  if (c->accel) {
    ni_finish(&c->u.ni, out);
    return 0;
  }
  return mb_finish(&c->u.mb, out);
}


static int md5_oneshot(const uint8_t* data, size_t len, uint8_t* out) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_md5_ret(data, len, out);
#else
  return mbedtls_md5(data, len, out);
#endif
}


int kn_sha256(const uint8_t* data, size_t len, uint8_t out[KN_SHA256_LEN]) {
  sha_ctx_t c;
  int r;

  if ((data == NULL && len > 0) || out == NULL)
    return KINESIS_EINVAL;
  sha_init(&c);
  r = sha_starts(&c);
  if (r == 0)
    r = sha_update(&c, data, len);
  if (r == 0)
    r = sha_finish(&c, out);
  sha_free(&c);
  return r == 0 ? 0 : KINESIS_EINVAL;
}


/*
 * HMAC (RFC 2104) is built here on the SHA-256 primitive rather than with
 * mbedtls_md_hmac(), because the md layer allocates its context on every call
 * with mbedTLS's own allocator. Signing runs once per request, so this keeps
 * the request path free of hidden allocations; RFC 4231 vectors pin it down.
 * `out` may alias `key` or `data`: both are consumed before `out` is written.
 */
int kn_hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data,
                   size_t len, uint8_t out[KN_SHA256_LEN]) {
  sha_ctx_t c;
  uint8_t k0[SHA256_BLOCK_LEN];
  uint8_t pad[SHA256_BLOCK_LEN];
  uint8_t inner[KN_SHA256_LEN];
  size_t i;
  int r;

  if ((key == NULL && key_len > 0) || (data == NULL && len > 0) ||
      out == NULL)
    return KINESIS_EINVAL;

  /* RFC 2104 section 2: keys longer than a block are hashed first; shorter
   * ones are zero-padded to the block size. */
  memset(k0, 0, sizeof(k0));
  if (key_len > SHA256_BLOCK_LEN) {
    r = kn_sha256(key, key_len, k0);
    if (r != 0)
      return r;
  } else if (key_len > 0) {
    memcpy(k0, key, key_len);
  }

  sha_init(&c);

  /* inner = H((K0 ^ ipad) || data) */
  for (i = 0; i < SHA256_BLOCK_LEN; i++)
    pad[i] = k0[i] ^ 0x36;
  r = sha_starts(&c);
  if (r == 0)
    r = sha_update(&c, pad, sizeof(pad));
  if (r == 0)
    r = sha_update(&c, data, len);
  if (r == 0)
    r = sha_finish(&c, inner);

  /* out = H((K0 ^ opad) || inner) */
  if (r == 0) {
    for (i = 0; i < SHA256_BLOCK_LEN; i++)
      pad[i] = k0[i] ^ 0x5c;
    r = sha_starts(&c);
  }
  if (r == 0)
    r = sha_update(&c, pad, sizeof(pad));
  if (r == 0)
    r = sha_update(&c, inner, sizeof(inner));
  if (r == 0)
    r = sha_finish(&c, out);

  /* The padded key blocks are as good as the key itself; do not leave them
   * on the stack. mbedtls_platform_zeroize() is not optimised away. */
  sha_free(&c);
  mbedtls_platform_zeroize(k0, sizeof(k0));
  mbedtls_platform_zeroize(pad, sizeof(pad));
  mbedtls_platform_zeroize(inner, sizeof(inner));
  return r == 0 ? 0 : KINESIS_EINVAL;
}


int kn_md5(const uint8_t* data, size_t len, uint8_t out[KN_MD5_LEN]) {
  if ((data == NULL && len > 0) || out == NULL)
    return KINESIS_EINVAL;
  return md5_oneshot(data, len, out) == 0 ? 0 : KINESIS_EINVAL;
}


int kn_sha1(const uint8_t* data, size_t len, uint8_t out[KN_SHA1_LEN]) {
  int r;

  if ((data == NULL && len > 0) || out == NULL)
    return KINESIS_EINVAL;
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  r = mbedtls_sha1_ret(data, len, out);
#else
  r = mbedtls_sha1(data, len, out);
#endif
  return r == 0 ? 0 : KINESIS_EINVAL;
}


#ifdef KN_HAVE_SHANI
/*
 * MD5 of eight short messages at once, one in each 32-bit lane of AVX2
 * registers. The producer hashes every partition key, and MD5 is a chain
 * of 64 dependent steps: one key costs about 300 cycles however it is
 * written (mbedTLS: about 130 ns here), while eight lanes take about the
 * time of one. Each message fits one 64-byte block (at most 55 bytes, then
 * the 0x80 byte, zeros and the length in bits). The constants are RFC
 * 1321's: K[i] = floor(2^32 * |sin(i + 1)|), and each round's rotations.
 */
static const uint32_t md5_k[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a,
    0xa8304613, 0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be,
    0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
    0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8,
    0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
    0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
    0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1,
    0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static const uint8_t md5_s[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};


__attribute__((target("avx2"))) static __m256i md5_rotl(__m256i x, int s) {
  return _mm256_or_si256(_mm256_sll_epi32(x, _mm_cvtsi32_si128(s)),
                         _mm256_srl_epi32(x, _mm_cvtsi32_si128(32 - s)));
}


/* Messages [0, n), n <= 8, each at most KN_MD5_SHORT_MAX bytes. */
__attribute__((target("avx2"))) static void md5_x8(const uint8_t* const* data,
                                                  const size_t* len, size_t n,
                                                  uint8_t (*out)[KN_MD5_LEN]) {
  uint32_t block[8][16];
  uint32_t words[4][8];
  __m256i w[16];
  __m256i v[4];
  __m256i a, b, c, d;
  const __m256i ones = _mm256_set1_epi32(-1);
  size_t lane;
  int i;

  memset(block, 0, sizeof(block));
  for (lane = 0; lane < n; lane++) {
    uint8_t* bytes = (uint8_t*) block[lane];
    if (len[lane] > 0)
      memcpy(bytes, data[lane], len[lane]);
    bytes[len[lane]] = 0x80;
    /* The length in bits, little-endian, as x86 stores a word. */
    block[lane][14] = (uint32_t) (len[lane] * 8);
  }
  for (i = 0; i < 16; i++)
    w[i] = _mm256_setr_epi32(
        (int) block[0][i], (int) block[1][i], (int) block[2][i],
        (int) block[3][i], (int) block[4][i], (int) block[5][i],
        (int) block[6][i], (int) block[7][i]);
  a = v[0] = _mm256_set1_epi32(0x67452301);
  b = v[1] = _mm256_set1_epi32((int) 0xefcdab89);
  c = v[2] = _mm256_set1_epi32((int) 0x98badcfe);
  d = v[3] = _mm256_set1_epi32(0x10325476);
  /* Unrolled: each step's function, word and rotation become constants. */
#if defined(__clang__)
#pragma clang loop unroll(full)
#else
#pragma GCC unroll 64
#endif
  for (i = 0; i < 64; i++) {
    __m256i f;
    int g;
    if (i < 16) {
      f = _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
      g = i;
    } else if (i < 32) {
      f = _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)));
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = _mm256_xor_si256(_mm256_xor_si256(b, c), d);
      g = (3 * i + 5) & 15;
    } else {
      f = _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)));
      g = (7 * i) & 15;
    }
    f = _mm256_add_epi32(
        _mm256_add_epi32(f, a),
        _mm256_add_epi32(_mm256_set1_epi32((int) md5_k[i]), w[g]));
    a = d;
    d = c;
    c = b;
    b = _mm256_add_epi32(b, md5_rotl(f, md5_s[i >> 4][i & 3]));
  }
  _mm256_storeu_si256((__m256i*) words[0], _mm256_add_epi32(a, v[0]));
  _mm256_storeu_si256((__m256i*) words[1], _mm256_add_epi32(b, v[1]));
  _mm256_storeu_si256((__m256i*) words[2], _mm256_add_epi32(c, v[2]));
  _mm256_storeu_si256((__m256i*) words[3], _mm256_add_epi32(d, v[3]));
  for (lane = 0; lane < n; lane++)
    for (i = 0; i < 4; i++)
      memcpy(out[lane] + 4 * i, &words[i][lane], 4);
}
#endif


void kn_md5_batch(const uint8_t* const* data, const size_t* len, size_t n,
                  uint8_t (*out)[KN_MD5_LEN]) {
  size_t i = 0;
#ifdef KN_HAVE_SHANI
  if (kn_cpu_has_avx2()) {
    while (i < n) {
      const uint8_t* d8[KN_MD5_BATCH];
      size_t l8[KN_MD5_BATCH];
      size_t where[KN_MD5_BATCH];
      uint8_t o8[KN_MD5_BATCH][KN_MD5_LEN];
      size_t k = 0;
      size_t j;
      /* The next short messages, up to eight; long ones go alone. */
      for (; i < n && k < KN_MD5_BATCH; i++) {
        if (len[i] > KN_MD5_SHORT_MAX) {
          md5_oneshot(data[i], len[i], out[i]);
          continue;
        }
        d8[k] = data[i];
        l8[k] = len[i];
        where[k++] = i;
      }
      if (k == 0)
        break;
      md5_x8(d8, l8, k, o8);
      for (j = 0; j < k; j++)
        memcpy(out[where[j]], o8[j], KN_MD5_LEN);
    }
    return;
  }
#endif
  for (; i < n; i++)
    md5_oneshot(data[i], len[i], out[i]);
}


/* The opaque storage is only ever touched through mbedTLS's functions, in
 * this file, so the caller never sees the mbedTLS type. */
static sha_ctx_t* sha_ctx(kn_sha256_ctx_t* ctx) {
  return (sha_ctx_t*) (void*) ctx->opaque;
}


int kn_sha256_start(kn_sha256_ctx_t* ctx) {
  sha_ctx_t* c;

  if (ctx == NULL)
    return KINESIS_EINVAL;
  c = sha_ctx(ctx);
  sha_init(c);
  if (sha_starts(c) != 0) {
    sha_free(c);
    return KINESIS_EINVAL;
  }
  return 0;
}


int kn_sha256_update(kn_sha256_ctx_t* ctx, const uint8_t* data, size_t len) {
  if (ctx == NULL || (data == NULL && len > 0))
    return KINESIS_EINVAL;
  if (len == 0)
    return 0;
  return sha_update(sha_ctx(ctx), data, len) == 0 ? 0 : KINESIS_EINVAL;
}


int kn_sha256_finish(kn_sha256_ctx_t* ctx, uint8_t out[KN_SHA256_LEN]) {
  sha_ctx_t* c;
  int r;

  if (ctx == NULL || out == NULL)
    return KINESIS_EINVAL;
  c = sha_ctx(ctx);
  r = sha_finish(c, out);
  /* There is no separate free in crypto.h: finishing releases the context
   * (a no-op for the built-in implementation, which holds no heap memory,
   * but required for hardware-accelerated alternatives). */
  sha_free(c);
  return r == 0 ? 0 : KINESIS_EINVAL;
}
