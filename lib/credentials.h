#ifndef KN_CREDENTIALS_H
#define KN_CREDENTIALS_H

#include <stdint.h>

#include <uv.h>

#include "http.h"
#include "profile.h"

/*
 * The AWS credential chain, in order: explicit options; the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); web
 * identity from the environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN);
 * the profile (profile.c reads the shared files, cred_plan.c decides what
 * they ask for), whose settings rank as botocore ranks them: role_arn (with
 * source_profile, credential_source or web_identity_token_file), IAM
 * Identity Center (cred_sso.c), the credentials file's keys,
 * credential_process (cred_process.c), the config file's keys; container
 * credentials; EC2 instance metadata with IMDSv2. An explicitly given
 * profile skips the environment's keys and web identity. Roles are assumed
 * through STS (cred_sts.c). Temporary credentials refresh on the loop
 * before they expire. docs/client.md says
 * it for users.
 */

typedef struct kn_credentials_s {
  char* access_key_id;
  char* secret_access_key;
  char* session_token;   /* NULL when there is none */
  int64_t expiration_ms; /* epoch ms; 0 = does not expire */
  /* Static, one of: "options", "environment", "web identity", "assume
   * role", "profile" (a profile's keys), "process" (credential_process),
   * "sso" (IAM Identity Center), "container", "imds". */
  const char* source;
  /* The role these credentials act as, for messages and `whoami`, when a
   * role was assumed (STS); NULL otherwise. Not a secret. */
  char* role_arn;
  /* The profile whose settings gave these credentials (for a role chain,
   * the first: the one the user named); NULL for options, the environment,
   * web identity from the environment, container and instance metadata. */
  char* profile;
} kn_credentials_t;

void kn_credentials_clear(kn_credentials_t* c);
int kn_credentials_copy(kn_credentials_t* dst, const kn_credentials_t* src);
/* Moves a parsed credential document's strings into `dst` (overwritten,
 * not cleared) with `source`, and zeroes `src`. */
struct kn_codec_creds_s;
void kn_credentials_take(kn_credentials_t* dst, struct kn_codec_creds_s* src,
                         const char* source);

/* ---- The provider chain ---- */

/*
 * 1 when AWS_CONTAINER_CREDENTIALS_FULL_URI may be fetched: https to any
 * host, or plain http to loopback (127.0.0.0/8, [::1], localhost) or the
 * ECS/EKS agents (169.254.170.2, 169.254.170.23, [fd00:ec2::23]); else 0.
 */
int kn_cred_container_uri_allowed(const char* uri);

typedef struct kn_cred_provider_s kn_cred_provider_t;

typedef struct kn_cred_options_s {
  /* Explicit keys: used when access_key_id and secret are both set. */
  const char* access_key_id;
  const char* secret_access_key;
  const char* session_token;
  /* NULL: $AWS_PROFILE or "default". Set, the chain skips the
   * environment's keys and web identity, as the AWS CLI does with
   * --profile. */
  const char* profile;
  /* The region STS is called in (roles). NULL: AWS_REGION,
   * AWS_DEFAULT_REGION, the profile's, else the global endpoint. */
  const char* region;
  /* Refresh temporary credentials this long before they expire. 0: 300000. */
  uint32_t refresh_before_ms;
  /* Metadata request timeout. 0: 1000 ms per attempt. */
  uint32_t metadata_timeout_ms;
  /* How long a credential_process command may run. 0: 60000
   * (KN_CRED_PROCESS_TIMEOUT_MS). */
  uint32_t process_timeout_ms;
  /* Optional: told once when a profile's secret comes from a file that
   * other users can read, at each failed refresh whose old credentials
   * stay in use, and each line a credential_process command writes on its
   * standard error (never its standard output). The message names files,
   * endpoints, commands and roles, never a secret. */
  void (*warn)(const char* message, void* arg);
  void* warn_arg;
} kn_cred_options_t;

/*
 * `status` is 0 with `creds` set, or an error (KINESIS_ENOCREDS when no
 * provider had credentials) with `creds` NULL and `message` saying why.
 */
typedef void (*kn_cred_cb)(int status, const kn_credentials_t* creds,
                           const char* message, void* arg);

/* The provider borrows `http`, which must outlive it. */
int kn_cred_provider_new(uv_loop_t* loop, kn_http_t* http,
                         const kn_cred_options_t* opts,
                         kn_cred_provider_t** out);

/*
 * Current credentials. Runs `cb` on a later tick, never inside this call,
 * exactly once (KINESIS_ECANCELED at close). Concurrent calls share one
 * fetch. Returns 0, KINESIS_EINVAL (NULL provider or callback),
 * KINESIS_ENOMEM or KINESIS_ECLOSING.
 */
int kn_cred_provider_get(kn_cred_provider_t* p, kn_cred_cb cb, void* arg);

/*
 * Cached credentials that are still valid (before their scheduled refresh,
 * or not expiring at all), or NULL. Never blocks. The pointer is valid until
 * control returns to the loop.
 */
const kn_credentials_t* kn_cred_provider_cached(kn_cred_provider_t* p);

/* Forgets the cache, so the next get fetches (after ExpiredToken). */
void kn_cred_provider_invalidate(kn_cred_provider_t* p);

/* Cancels waiting gets (ECANCELED) and requests in flight, closes the
 * refresh timer, frees `p`, then calls `cb` (which may be NULL) on a later
 * tick. A second close does nothing. */
void kn_cred_provider_close(kn_cred_provider_t* p, void (*cb)(void* arg),
                            void* arg);

#endif /* KN_CREDENTIALS_H */
