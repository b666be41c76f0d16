#ifndef KN_SIGV4_H
#define KN_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "crypto.h"

/*
 * AWS Signature Version 4, as pure functions over bytes. The caller supplies
 * the time as an "x-amz-date" value (YYYYMMDDTHHMMSSZ), so the clock is the
 * caller's and tests can pin it.
 */

typedef struct kn_sigv4_header_s {
  kn_cursor_t name;   /* any case; lowercased when canonicalised */
  kn_cursor_t value;  /* trimmed, inner runs of spaces collapsed when signed */
} kn_sigv4_header_t;

typedef struct kn_sigv4_request_s {
  const char* method;  /* "POST" */
  kn_cursor_t path;    /* already URI-encoded, e.g. "/" */
  kn_cursor_t query;   /* raw query string without '?', may be empty */
  const kn_sigv4_header_t* headers;
  size_t nheaders;
  kn_cursor_t payload;
  /* Optional: hex SHA-256 of the payload when the caller has it already. */
  const char* payload_hash_hex;
} kn_sigv4_request_t;

typedef struct kn_sigv4_credentials_s {
  const char* access_key_id;
  const char* secret_access_key;
} kn_sigv4_credentials_t;

/*
 * The derived signing key for one (secret, date, region, service). Deriving
 * costs four HMACs; the cache makes a request cost one more HMAC instead.
 * Zero it before first use. A region of 64 or more characters, or a service
 * of 32 or more, is signed correctly but not cached.
 */
typedef struct kn_sigv4_key_cache_s {
  char date[9];
  char region[64];
  char service[32];
  uint8_t secret_hash[KN_SHA256_LEN];
  uint8_t key[KN_SHA256_LEN];
  int valid;
} kn_sigv4_key_cache_t;

/*
 * The functions below append to their output buffers; on error the buffers
 * are left as they were.
 */

/* Canonical request (SigV4 task 1) and its signed-headers list. */
int kn_sigv4_canonical_request(const kn_sigv4_request_t* req, kn_buf_t* out,
                               kn_buf_t* signed_headers);

/* String to sign (task 2) from a canonical request. */
int kn_sigv4_string_to_sign(const char* amz_date, const char* region,
                            const char* service, kn_cursor_t canonical_request,
                            kn_buf_t* out);

/*
 * Signing key (task 3). `cache` may be NULL; otherwise it is used when it
 * matches and refreshed when it does not.
 */
int kn_sigv4_signing_key(const char* secret, const char* date8,
                         const char* region, const char* service,
                         kn_sigv4_key_cache_t* cache,
                         uint8_t key[KN_SHA256_LEN]);

/*
 * The whole signature: appends the Authorization header's value
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...") to
 * `authz`. Headers to sign (host, x-amz-date, and x-amz-security-token when
 * there is one) must already be in `req->headers`. Returns 0, KINESIS_EINVAL
 * or KINESIS_ENOMEM.
 */
int kn_sigv4_sign(const kn_sigv4_request_t* req,
                  const kn_sigv4_credentials_t* creds, const char* amz_date,
                  const char* region, const char* service,
                  kn_sigv4_key_cache_t* cache, kn_buf_t* authz);

/* Formats `epoch_ms` as an x-amz-date value: 16 characters plus NUL. */
void kn_sigv4_amz_date(int64_t epoch_ms, char out[17]);

#endif /* KN_SIGV4_H */
