#ifndef KN_CRED_SSO_H
#define KN_CRED_SSO_H

#include <stdint.h>

#include <uv.h>

#include "cred_source.h"
#include "http.h"

/*
 * IAM Identity Center (SSO): role credentials fetched with the access token
 * that `aws sso login` (AWS CLI v2) cached under ~/.aws/sso/cache/.
 *
 * Each start reads the token file again, so a `aws sso login` between two
 * refreshes is picked up. The file is CACHE_DIR/HASH.json, where HASH is
 * the lowercase hex SHA-1 of the sso_session name (profiles with
 * sso_session) or of sso_start_url (legacy profiles), and holds
 * {"accessToken": "...", "expiresAt": "2026-11-26T05:02:44Z", ...}. With the
 * token, one GET to the portal's GetRoleCredentials:
 *   GET {endpoint}/federation/credentials?role_name=R&account_id=A
 *   x-amz-sso_bearer_token: TOKEN
 * unsigned, answered by {"roleCredentials": {"accessKeyId",
 * "secretAccessKey", "sessionToken", "expiration" (epoch ms)}}.
 *
 * The token and the role credentials never appear in a message.
 */

/* Answers with HTTP 5xx, 429 or a transport failure are tried again, up to
 * this many attempts in all, KN_CRED_SSO_RETRY_MS apart (doubling). */
#define KN_CRED_SSO_ATTEMPTS 3
#define KN_CRED_SSO_RETRY_MS 200
/* The token file is small; larger files are refused. */
#define KN_CRED_SSO_MAX_TOKEN_FILE (256 * 1024)

typedef struct kn_cred_sso_s kn_cred_sso_t;

typedef struct kn_cred_sso_options_s {
  /* Required: the profile's name, for messages ("run aws sso login
   * --profile NAME"). */
  const char* profile;
  /* The profile's sso_session, or NULL for a legacy profile. */
  const char* sso_session;
  /* sso_start_url. Required when sso_session is NULL (it names the cache
   * file); otherwise unused. */
  const char* start_url;
  /* Required: sso_region, sso_account_id, sso_role_name. */
  const char* region;
  const char* account_id;
  const char* role_name;
  /* Default NULL: $HOME/.aws/sso/cache. */
  const char* cache_dir;
  /* Default NULL: https://portal.sso.{region}.amazonaws.com. A base URL
   * such as AWS_ENDPOINT_URL_SSO or the profile's endpoint_url; a trailing
   * '/' is ignored. */
  const char* endpoint;
  /* Default 0: the HTTP client's timeout. Per attempt. */
  uint32_t timeout_ms;
} kn_cred_sso_options_t;

/*
 * Starts a fetch. Every string of `opts` is copied. `http` is borrowed and
 * must outlive the fetch. `cb` follows cred_source.h's contract: exactly
 * once, on a later tick, never inside this call; source "sso" on success.
 * `out` may be NULL; otherwise *out is the handle for
 * kn_cred_sso_cancel(), valid until `cb` returns.
 *
 * The callback's status is 0; KINESIS_ENOCREDS when there is no usable
 * token (no cache file, a file without accessToken or expiresAt, or a token
 * that expired) or the portal refused it (HTTP 401 or 403), with a message
 * saying to run `aws sso login`; KINESIS_EPROTO for an answer that is not
 * the document above; KINESIS_ESERVICE when the portal kept answering 5xx,
 * KINESIS_ETHROUGHPUT when it kept answering 429; KINESIS_ESVCOTHER for
 * other HTTP errors (the message gives the status and the error's code,
 * from x-amzn-ErrorType or the body); a transport error (such as
 * KINESIS_ETIMEDOUT or KINESIS_ETRANSPORT) once the attempts are spent; or
 * KINESIS_ECANCELED after a cancel.
 *
 * Without cache_dir and with HOME unset there is no token file: the
 * callback says so with KINESIS_ENOCREDS.
 *
 * Returns 0; KINESIS_EINVAL (NULL loop, http, opts or cb; a required
 * option missing or empty; an account id or role name with characters
 * other than letters, digits and "+=,.@_-"; a region with characters other
 * than letters, digits and '-'); KINESIS_ENOMEM; or an error of
 * kn_http_send() (KINESIS_ECLOSING when `http` is closing). On a non-zero
 * return `cb` never runs.
 */
int kn_cred_sso_start(uv_loop_t* loop, kn_http_t* http,
                      const kn_cred_sso_options_t* opts, kn_cred_source_cb cb,
                      void* arg, kn_cred_sso_t** out);

/* Aborts the fetch; the callback runs with KINESIS_ECANCELED on a later
 * tick. Does nothing when called from inside the callback. `s` must not be
 * used after the callback returned. */
void kn_cred_sso_cancel(kn_cred_sso_t* s);

/*
 * The cache file's name for `key` (the sso_session name or start URL): 40
 * lowercase hex digits of its SHA-1, then ".json". `out` holds at least
 * KN_CRED_SSO_CACHE_NAME_LEN + 1 bytes. Returns 0 or KINESIS_EINVAL.
 */
#define KN_CRED_SSO_CACHE_NAME_LEN 45
int kn_cred_sso_cache_name(const char* key,
                           char out[KN_CRED_SSO_CACHE_NAME_LEN + 1]);

#endif /* KN_CRED_SSO_H */
