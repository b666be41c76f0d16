#ifndef KN_PROFILE_H
#define KN_PROFILE_H

#include <stddef.h>

/*
 * The shared config and credentials files (~/.aws/config,
 * ~/.aws/credentials): the settings of one profile, with its
 * "[sso-session NAME]" and "[services NAME]" sections. Parsing only; the
 * credential chain (credentials.c) decides what the settings mean.
 */

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
  /* The services section it names, and STS's and IAM Identity Center's
   * endpoint_url there ("[services NAME]" with "sts =" or "sso =" and an
   * indented endpoint_url). */
  char* services;
  char* services_sts_endpoint_url;
  char* services_sso_endpoint_url;
  /* From the config file's "[sso-session NAME]" that sso_session names. */
  int sso_session_found;
  char* sso_session_start_url;
  char* sso_session_region;
  /* 1 when aws_access_key_id and aws_secret_access_key both come from the
   * credentials file (the chain ranks the config file's keys after
   * credential_process, as botocore does). */
  int keys_in_credentials_file;
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

/*
 * A service's configured endpoint, in the order the AWS SDKs resolve one:
 * the variable `service_env` (AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_SSO),
 * then AWS_ENDPOINT_URL, then the endpoint_url for the service in the
 * profile's services section (`services_endpoint`), then the profile's own
 * endpoint_url (`profile_endpoint`); none of them when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true. Empty values count as unset.
 * Returns 0 with *out kn_malloc'd (trailing slashes removed), or NULL when
 * nothing is configured (the caller then uses the service's default); or
 * KINESIS_ENOMEM.
 */
int kn_profile_endpoint(const char* service_env, const char* services_endpoint,
                        const char* profile_endpoint, char** out);

/*
 * kn_profile_path: the path in the environment variable `env_name` (a
 * leading "~/" is HOME), else HOME/.aws/`file_name`. Returns 0 with *out
 * kn_malloc'd, or NULL when there is no HOME and no variable; or
 * KINESIS_ENOMEM.
 */
int kn_profile_path(const char* env_name, const char* file_name, char** out);

/*
 * Reads a whole file into a kn_malloc'd, NUL-terminated string. A file that
 * cannot be opened or read, or is larger than 1 MiB, is reported as missing
 * (0 with *out NULL): the chain then simply has no profile there, as in the
 * SDKs. Only allocation failures are errors (KINESIS_ENOMEM).
 */
int kn_profile_read_file(const char* path, char** out, size_t* out_len);

/* Wipes and frees file contents that may hold secrets. NULL is ignored. */
void kn_profile_scrub_text(char* text, size_t len);

/* Notes `path` in out->exposed_path when `text` holds a secret (a secret key
 * or a session token) and its group or everyone may read the file, as ssh
 * and the AWS tools warn of private files. Keeps an earlier note. */
void kn_profile_note_exposed(const char* path, const char* text,
                             kn_profile_t* out);

/* An environment variable, or NULL when it is unset or empty: the SDKs
 * treat an empty variable as absent. For the whole library (the region,
 * endpoints and credentials alike). */
const char* kn_profile_env(const char* name);

/* Moves `*s` and `*len` past white space at both ends. */
void kn_profile_trim(const char** s, size_t* len);

#endif /* KN_PROFILE_H */
