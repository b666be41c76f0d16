#ifndef KN_CRYPTO_H
#define KN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* The only interface to mbedTLS; lib/crypto.c is the only file that includes it. */

#define KN_SHA256_LEN 32
#define KN_MD5_LEN 16
#define KN_SHA1_LEN 20

int kn_sha256(const uint8_t* data, size_t len, uint8_t out[KN_SHA256_LEN]);
int kn_hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data,
                   size_t len, uint8_t out[KN_SHA256_LEN]);
int kn_md5(const uint8_t* data, size_t len, uint8_t out[KN_MD5_LEN]);
/* SHA-1, for names only (the AWS CLI's SSO token cache file is named by the
 * SHA-1 of the session name or start URL), never for security. */
int kn_sha1(const uint8_t* data, size_t len, uint8_t out[KN_SHA1_LEN]);

/* The MD5 of each of `n` messages, into out[0..n). With AVX2, messages of
 * at most KN_MD5_SHORT_MAX bytes (one 64-byte block) are hashed eight at a
 * time, several times faster than one by one; longer ones, and all without
 * AVX2 (or with acceleration off), go through mbedTLS. `data[i]` may be
 * NULL only when len[i] is 0. */
#define KN_MD5_BATCH 8
#define KN_MD5_SHORT_MAX 55
void kn_md5_batch(const uint8_t* const* data, const size_t* len, size_t n,
                  uint8_t (*out)[KN_MD5_LEN]);

/* Incremental SHA-256, for hashing a body assembled in pieces. */
typedef struct kn_sha256_ctx_s {
  /* Big enough for mbedtls_sha256_context in 2.28 and 3.x; checked at build. */
  uint64_t opaque[32];
} kn_sha256_ctx_t;

int kn_sha256_start(kn_sha256_ctx_t* ctx);
int kn_sha256_update(kn_sha256_ctx_t* ctx, const uint8_t* data, size_t len);
int kn_sha256_finish(kn_sha256_ctx_t* ctx, uint8_t out[KN_SHA256_LEN]);

/* 1 when SHA-256 runs on the CPU's SHA instructions (cpu.h: present, and
 * acceleration allowed); 0 when mbedTLS does the work. */
int kn_crypto_accelerated(void);

#endif /* KN_CRYPTO_H */
