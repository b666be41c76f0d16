#include "crypto.h"
#include "internal.h"

#include <stdint.h>
#include <string.h>

/* This is the only file that includes mbedTLS (STYLE.md section 8): when
 * Mbed TLS 4 replaces these APIs with PSA, only this file changes. */
#include <mbedtls/version.h>
#include <mbedtls/md5.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

/* The SHA-256 block size, which is also the HMAC key block size. */
#define SHA256_BLOCK_LEN 64

_Static_assert(sizeof(mbedtls_sha256_context) <=
                   sizeof(((kn_sha256_ctx_t*) 0)->opaque),
               "kn_sha256_ctx_t.opaque is too small for mbedtls");
_Static_assert(_Alignof(mbedtls_sha256_context) <= _Alignof(uint64_t),
               "kn_sha256_ctx_t.opaque is under-aligned for mbedtls");


/* mbedTLS 2.x returns errors from the *_ret functions only; 3.x removed the
 * suffix (and the void versions). These wrappers pick the right one so the
 * rest of the file reads the same on both. */
static int sha_starts(mbedtls_sha256_context* c) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_starts_ret(c, 0);
#else
  return mbedtls_sha256_starts(c, 0);
#endif
}


static int sha_update(mbedtls_sha256_context* c, const uint8_t* data,
                      size_t len) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_update_ret(c, data, len);
#else
  return mbedtls_sha256_update(c, data, len);
#endif
}


static int sha_finish(mbedtls_sha256_context* c, uint8_t* out) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_sha256_finish_ret(c, out);
#else
  return mbedtls_sha256_finish(c, out);
#endif
}


static int md5_oneshot(const uint8_t* data, size_t len, uint8_t* out) {
#if MBEDTLS_VERSION_NUMBER < 0x03000000
  return mbedtls_md5_ret(data, len, out);
#else
  return mbedtls_md5(data, len, out);
#endif
}


int kn_sha256(const uint8_t* data, size_t len, uint8_t out[KN_SHA256_LEN]) {
  mbedtls_sha256_context c;
  int r;

  if ((data == NULL && len > 0) || out == NULL)
    return KINESIS_EINVAL;
  mbedtls_sha256_init(&c);
  r = sha_starts(&c);
  if (r == 0)
    r = sha_update(&c, data, len);
  if (r == 0)
    r = sha_finish(&c, out);
  mbedtls_sha256_free(&c);
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
  mbedtls_sha256_context c;
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

  mbedtls_sha256_init(&c);

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
  mbedtls_sha256_free(&c);
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


/* The opaque storage is only ever touched through mbedTLS's functions, in
 * this file, so the caller never sees the mbedTLS type. */
static mbedtls_sha256_context* sha_ctx(kn_sha256_ctx_t* ctx) {
  return (mbedtls_sha256_context*) (void*) ctx->opaque;
}


int kn_sha256_start(kn_sha256_ctx_t* ctx) {
  mbedtls_sha256_context* c;

  if (ctx == NULL)
    return KINESIS_EINVAL;
  c = sha_ctx(ctx);
  mbedtls_sha256_init(c);
  if (sha_starts(c) != 0) {
    mbedtls_sha256_free(c);
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
  mbedtls_sha256_context* c;
  int r;

  if (ctx == NULL || out == NULL)
    return KINESIS_EINVAL;
  c = sha_ctx(ctx);
  r = sha_finish(c, out);
  /* There is no separate free in crypto.h: finishing releases the context
   * (a no-op for the built-in implementation, which holds no heap memory,
   * but required for hardware-accelerated alternatives). */
  mbedtls_sha256_free(c);
  return r == 0 ? 0 : KINESIS_EINVAL;
}
