#ifndef KN_CREDENTIALS_H
#define KN_CREDENTIALS_H

#include <stdint.h>

#include <uv.h>

#include "http.h"

/*
 * The AWS credential chain, in order: explicit options; the environment
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); web
 * identity from the environment (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN);
 * the shared credentials and config files with profiles, whose roles
 * (role_arn with source_profile, credential_source or
 * web_identity_token_file) come before their keys; container credentials;
 * EC2 instance metadata with IMDSv2. Roles are assumed through STS
 * (cred_sts.c). Temporary credentials refresh on the loop before they
 * expire. docs/client.md says it for users.
 */

typedef struct kn_credentials_s {
  char* access_key_id;
  char* secret_access_key;
  char* session_token;   /* NULL when there is none */
  int64_t expiration_ms; /* epoch ms; 0 = does not expire */
  const char* source;    /* static: "options", "environment", "profile",
                          "web identity", "assume role", ... */
  /* The role these credentials act as, for messages and `whoami`, when a
   * role was assumed (STS); NULL otherwise. Not a secret. */
  char* role_arn;
  /* The profile whose settings gave them (the first of a role chain), for
   * `whoami`; NULL when no profile did. */
  char* profile;
} kn_credentials_t;

void kn_credentials_clear(kn_credentials_t* c);
int kn_credentials_copy(kn_credentials_t* dst, const kn_credentials_t* src);
/* Moves a parsed credential document's strings into `dst` (overwritten,
 * not cleared) with `source`, and zeroes `src`. */
struct kn_codec_creds_s;
void kn_credentials_take(kn_credentials_t* dst, struct kn_codec_creds_s* src,
                         const char* source);

/* ---- Shared config and credentials files ---- */

/*
 * Looks up `profile` in the credentials file, then the config file
 * ("[profile NAME]", or "[default]"). Fills the keys, the region and the
 * other settings below (each kn_malloc'd, NULL when absent; the credentials
 * file wins key by key). Either path may be NULL.
 * Returns 0 when the profile had keys, KINESIS_ENOCREDS when it exists
 * without keys or does not exist, or KINESIS_ENOMEM. `out` is zeroed on
 * entry and always needs kn_profile_clear(): on KINESIS_ENOCREDS it may hold
 * a region or half a key pair.
 */
typedef struct kn_profile_s {
  char* access_key_id;
  char* secret_access_key;
  char* session_token;
  char* region;
  int found; /* 1 when a section of that name exists in either file */
  /* Assumed roles (lib/cred_sts.c). */
  char* role_arn;
  char* source_profile;
  char* credential_source; /* Environment, Ec2InstanceMetadata, EcsContainer */
  char* external_id;
  char* role_session_name;
  char* duration_seconds; /* as written; checked where it is used */
  char* mfa_serial;       /* refused: there is no one to prompt */
  char* web_identity_token_file;
  /* Parsed for the sources that lib/cred_process.c and lib/cred_sso.c
   * bring; the chain does not act on them yet. */
  char* credential_process;
  char* sso_session;
  char* sso_start_url;
  char* sso_region;
  char* sso_account_id;
  char* sso_role_name;
  /* The profile's endpoint_url (every service; lib/cred_sts.c for STS). */
  char* endpoint_url;
  /* The services section it names, and STS's endpoint_url there
   * ("[services NAME]" with "sts =" and an indented endpoint_url). */
  char* services;
  char* services_sts_endpoint_url;
  /* From the config file's "[sso-session NAME]" that sso_session names. */
  int sso_session_found;
  char* sso_session_start_url;
  char* sso_session_region;
  /* Set by kn_profile_load: the first file that holds a secret key or a
   * session token and that its group or everyone may read (it points at
   * the caller's path), with its mode; NULL when none. */
  const char* exposed_path;
  unsigned exposed_mode;
} kn_profile_t;

int kn_profile_load(const char* credentials_path, const char* config_path,
                    const char* profile, kn_profile_t* out);
/* The same over in-memory file contents, for tests. Either may be NULL. */
int kn_profile_parse(const char* credentials_text, const char* config_text,
                     const char* profile, kn_profile_t* out);
void kn_profile_clear(kn_profile_t* p);
/* The profile name: `explicit` if set, else $AWS_PROFILE, else "default". */
const char* kn_profile_name(const char* explicit_name);
/* Paths from AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE or ~/.aws/...;
 * kn_malloc'd, NULL when HOME is unset and no variable is set, or when out
 * of memory. */
char* kn_profile_credentials_path(void);
char* kn_profile_config_path(void);

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
  const char* profile; /* NULL: $AWS_PROFILE or "default" */
  /* The region STS is called in (roles). NULL: AWS_REGION,
   * AWS_DEFAULT_REGION, the profile's, else the global endpoint. */
  const char* region;
  /* Refresh temporary credentials this long before they expire. 0: 300000. */
  uint32_t refresh_before_ms;
  /* Metadata request timeout. 0: 1000 ms per attempt. */
  uint32_t metadata_timeout_ms;
  /* Optional: told once when a profile's secret comes from a file that
   * other users can read, and at each failed refresh whose old
   * credentials stay in use. The message names files, endpoints and roles,
   * never a secret. */
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
