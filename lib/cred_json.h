#ifndef KN_CRED_JSON_H
#define KN_CRED_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "credentials.h"

/*
 * The JSON documents of the credential_process and IAM Identity Center
 * sources (cred_process.c, cred_sso.c). They live in a file of their own so
 * that those sources stay free of jansson; they belong beside
 * kn_codec_parse_credentials() in lib/codec.c, the file that includes
 * jansson (STYLE.md section 8), and are meant to move there.
 *
 * Each parser writes a short reason into `why` (at most `why_size` bytes,
 * NUL-terminated) when it refuses a document. The reason names a member,
 * never a value: the documents hold secrets.
 */

/*
 * The standard output of a credential_process command:
 * {"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?,
 * "Expiration"? (ISO 8601)}. Version must be the integer 1; the keys must be
 * non-empty strings; a missing Expiration means the credentials do not
 * expire (expiration_ms 0). Fills `out` (kn_malloc'd strings, source left
 * NULL). Returns 0, KINESIS_EPROTO with `why` set, or KINESIS_ENOMEM; `out`
 * is zeroed on entry and left zeroed on failure.
 */
int kn_cred_json_process(const char* text, size_t len, kn_credentials_t* out,
                         char* why, size_t why_size);

/*
 * A token cached by `aws sso login` (~/.aws/sso/cache/HASH.json):
 * {"accessToken", "expiresAt" (ISO 8601, "Z" or the older "UTC" suffix)}.
 * Sets *token (kn_malloc'd) and *expires_at_ms. Returns 0, KINESIS_EPROTO
 * with `why` set, or KINESIS_ENOMEM; *token stays NULL on failure.
 */
int kn_cred_json_sso_token(const char* text, size_t len, char** token,
                           int64_t* expires_at_ms, char* why, size_t why_size);

/*
 * The answer of the IAM Identity Center portal's GetRoleCredentials:
 * {"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken",
 * "expiration" (epoch milliseconds)}}, every member required. Fills `out`
 * as kn_cred_json_process() does. Returns 0, KINESIS_EPROTO with `why` set,
 * or KINESIS_ENOMEM.
 */
int kn_cred_json_sso_role(const char* text, size_t len, kn_credentials_t* out,
                          char* why, size_t why_size);

#endif /* KN_CRED_JSON_H */
