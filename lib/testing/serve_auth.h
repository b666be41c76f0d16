#ifndef KN_SERVE_AUTH_H
#define KN_SERVE_AUTH_H

#include <stdint.h>

#include "serve_http.h"
#include "svc.h"

/*
 * The fake service's signature check (issue 18), when it was given keys:
 * each request's Authorization header (SigV4, AWS4-HMAC-SHA256) is parsed,
 * the secret of its access key looked up, the signature computed again
 * over the request as received with the library's own signer (sigv4.h)
 * and compared in constant time. No I/O: serve.c calls it with the
 * service's clock before the model sees the request.
 */

typedef struct kn_serve_keys_s kn_serve_keys_t;

/* Copies `entries`, a NULL-terminated list of "AKID:SECRET" strings (an
 * empty list is allowed: every request is then refused), and `region`
 * (NULL: "us-east-1"), the region requests must be signed for. Returns 0
 * and sets `*out`; KINESIS_EINVAL (NULL `entries`; an entry without ':',
 * with an empty access key or secret, or an access key with a space, '/',
 * ',', '=' or a control character); KINESIS_ENOMEM. */
int kn_serve_keys_new(const char* const* entries, const char* region,
                      kn_serve_keys_t** out);

/* NULL is allowed. Wipes the secrets. */
void kn_serve_keys_free(kn_serve_keys_t* keys);

/*
 * Checks `req`'s signature against `keys` at `now_ms` (epoch ms on the
 * service's clock). Returns 0 when it passes; 1 (KN_SVC_REPLIED) when it
 * does not, with `reply` filled as the service answers, status 400 and a
 * JSON body with __type and message:
 *   - no Authorization: MissingAuthenticationTokenException;
 *   - a malformed one, or no X-Amz-Date, or one that is no date:
 *     IncompleteSignatureException;
 *   - an access key not among `keys`: UnrecognizedClientException;
 *   - an X-Amz-Date more than 5 minutes from `now_ms`, a credential scope
 *     of another date, region or service, or a wrong signature:
 *     InvalidSignatureException.
 * Or KINESIS_ENOMEM.
 */
int kn_serve_auth_check(const kn_serve_keys_t* keys,
                        const kn_serve_http_req_t* req, int64_t now_ms,
                        kn_svc_reply_t* reply);

#endif /* KN_SERVE_AUTH_H */
