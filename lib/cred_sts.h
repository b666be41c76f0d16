#ifndef KN_CRED_STS_H
#define KN_CRED_STS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cred_source.h"
#include "credentials.h"
#include "http.h"

/*
 * AWS STS over its Query protocol (a form-encoded POST, Version 2011-06-15,
 * XML answers): AssumeRole, signed with SigV4 (service "sts") with source
 * credentials, and AssumeRoleWithWebIdentity, unsigned. Requests go through
 * the caller's kn_http engine on its loop. Throttling, 5xx answers and
 * transport failures are tried again, up to KN_STS_MAX_ATTEMPTS attempts in
 * all, with backoff.
 */

#define KN_STS_MAX_ATTEMPTS 3

/* What one call asks. Every string is copied by kn_sts_assume_role(). */
typedef struct kn_sts_request_s {
  /* Required. */
  const char* role_arn;
  /* Required: https://sts.REGION.amazonaws.com, or a configured endpoint
   * (kn_sts_endpoint). */
  const char* endpoint;
  /* Required for AssumeRole: the SigV4 region of the credential scope. */
  const char* region;
  /* NULL: kn_sts_default_session_name(). */
  const char* role_session_name;
  /* Optional: ExternalId (AssumeRole only). */
  const char* external_id;
  /* 0: omitted, so STS applies its default (one hour). */
  uint32_t duration_seconds;
  /* Set: AssumeRoleWithWebIdentity with this token, unsigned. NULL:
   * AssumeRole signed with `source`. */
  const char* web_identity_token;
  /* AssumeRole: the credentials that sign (required then). */
  const kn_credentials_t* source;
  /* 0: the engine's default. Per attempt. */
  uint32_t timeout_ms;
  /* 0: 200 ms. Delay before the second attempt; doubled for each next. */
  uint32_t retry_base_ms;
} kn_sts_request_t;

typedef struct kn_sts_call_s kn_sts_call_t;

/*
 * Starts the call. `cb` (lib/cred_source.h) runs exactly once on a later
 * tick: with 0 and the credentials (source "assume role" or "web identity",
 * role_arn set), or with an error and a message naming the role and the
 * endpoint, never a secret:
 *   KINESIS_EACCESS       AccessDenied, InvalidIdentityToken,
 *                         IDPRejectedClaim, InvalidClientTokenId,
 *                         SignatureDoesNotMatch, RegionDisabledException
 *   KINESIS_ECREDEXPIRED  ExpiredToken / ExpiredTokenException
 *   KINESIS_EINVALIDARG   ValidationError, MalformedPolicyDocument,
 *                         PackedPolicyTooLarge and other 4xx
 *   KINESIS_ETHROUGHPUT   still throttled after the last attempt
 *   KINESIS_ESERVICE      still 5xx after the last attempt
 *   KINESIS_EPROTO        an answer that is not the expected XML
 *   KINESIS_ETIMEDOUT, KINESIS_ETRANSPORT, KINESIS_ETLS  transport failures
 *   KINESIS_ECANCELED     kn_sts_cancel()
 * Returns 0, KINESIS_EINVAL (a required field missing, or no `source` keys
 * for AssumeRole) or KINESIS_ENOMEM; then `cb` never runs. `out` may be
 * NULL; otherwise it holds the call until `cb` runs.
 */
int kn_sts_assume_role(uv_loop_t* loop, kn_http_t* http,
                       const kn_sts_request_t* req, kn_cred_source_cb cb,
                       void* arg, kn_sts_call_t** out);

/* The callback then runs with KINESIS_ECANCELED on a later tick. */
void kn_sts_cancel(kn_sts_call_t* call);

/*
 * The STS endpoint, in the order the AWS SDKs resolve a service endpoint:
 * AWS_ENDPOINT_URL_STS, then AWS_ENDPOINT_URL, then the endpoint_url for
 * sts in the profile's services section (`services_endpoint`), then the
 * profile's own endpoint_url (`profile_endpoint`) — none of the four when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true — then the regional
 * https://sts.REGION.amazonaws.com, or the global https://sts.amazonaws.com
 * when `region` is NULL. Either endpoint may be NULL. kn_malloc'd in *out
 * (trailing slashes removed). Returns 0 or KINESIS_ENOMEM.
 */
int kn_sts_endpoint(const char* region, const char* services_endpoint,
                    const char* profile_endpoint, char** out);

/* "libkinesis-" and the epoch milliseconds, in `out`. */
void kn_sts_default_session_name(char out[48]);

/*
 * The small XML reader for STS answers. Finds the first element at `path`
 * ("A/B/C": element names from the root, namespace prefixes ignored) and
 * returns its text with the five predefined entities and character
 * references decoded, kn_malloc'd in *out. The whole document must be well
 * formed: one root, matching tags, quoted attributes, no DOCTYPE, no
 * unknown entity, no NUL. Returns 1 (found), 0 (absent), KINESIS_EPROTO
 * (malformed, or the element holds elements rather than text) or
 * KINESIS_ENOMEM.
 */
int kn_sts_xml_text(const char* xml, size_t len, const char* path, char** out);

#endif /* KN_CRED_STS_H */
