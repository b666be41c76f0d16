#ifndef KN_CODEC_H
#define KN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * All JSON lives in lib/codec.c, the only file that includes jansson:
 * request bodies, responses, error bodies and credential documents.
 */

/* ---- Credential documents (container and instance metadata) ---- */

typedef struct kn_codec_creds_s {
  char* access_key_id;      /* kn_malloc'd */
  char* secret_access_key;  /* kn_malloc'd */
  char* session_token;      /* kn_malloc'd, NULL when absent ("Token") */
  int64_t expiration_ms;    /* 0 when absent */
} kn_codec_creds_t;

/*
 * Parses {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} as served
 * by ECS/EKS container endpoints and EC2 instance metadata (which adds
 * "Code": "Success"). Returns 0, KINESIS_EPROTO (not JSON, a key missing, a
 * Code other than Success, or a bad Expiration) or KINESIS_ENOMEM.
 */
int kn_codec_parse_credentials(const uint8_t* body, size_t len,
                               kn_codec_creds_t* out);
void kn_codec_creds_clear(kn_codec_creds_t* c);

/*
 * ISO 8601 UTC time as AWS writes it ("2026-11-26T05:02:44Z", with optional
 * fractional seconds, "Z" or "+00:00") to epoch ms. Returns 0 or
 * KINESIS_EINVAL.
 */
int kn_parse_iso8601(const char* s, int64_t* out_ms);

#endif /* KN_CODEC_H */
