#ifndef KN_CRED_PLAN_H
#define KN_CRED_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "credentials.h"

/*
 * The credential chain's planner: what web identity from the environment
 * and the profile ask for, read from the environment and the shared files
 * (profile.c), as a plan that credentials.c runs: first credentials (keys,
 * container or instance metadata, credential_process, IAM Identity
 * Center, or none when the first role is assumed with a web identity
 * token), then the roles to assume with them, through STS. Nothing here
 * touches the network or the loop.
 */

/* Roles assumed one after the other, through source_profile, at most. */
#define KN_CRED_MAX_HOPS 16

/* The sources tried and why each failed, for the chain's message. */
typedef struct kn_cred_why_s {
  kn_buf_t buf;
  int failed; /* incomplete: an append ran out of memory */
} kn_cred_why_t;

void kn_cred_why_add(kn_cred_why_t* why, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The text so far, or words saying it was lost to a lack of memory. */
const char* kn_cred_why_message(kn_cred_why_t* why);

/* One role to assume: AssumeRole with the credentials before it, or
 * AssumeRoleWithWebIdentity with a token file. */
typedef struct kn_role_hop_s {
  char* role_arn;
  char* session_name; /* NULL: the default */
  char* external_id;
  uint32_t duration_seconds;
  char* token_file; /* set: web identity; read when the hop starts */
} kn_role_hop_t;

typedef enum {
  KN_PLAN_BASE_NONE,      /* the first hop is web identity */
  KN_PLAN_BASE_STATIC,    /* `cur` holds keys from a profile or the
                             environment */
  KN_PLAN_BASE_CONTAINER, /* credential_source = EcsContainer */
  KN_PLAN_BASE_IMDS,      /* credential_source = Ec2InstanceMetadata */
  KN_PLAN_BASE_PROCESS,   /* a profile's credential_process */
  KN_PLAN_BASE_SSO        /* a profile's IAM Identity Center settings */
} kn_plan_base_t;

/*
 * The first credentials of a fetch and the roles it assumes with them.
 * hops[0] is the role asked for; each hops[i + 1] gives the credentials
 * hops[i] is assumed with, so they run from the last to the first.
 */
typedef struct kn_cred_plan_s {
  kn_plan_base_t base;
  int base_pending; /* the container or IMDS fetch is for the plan */
  kn_credentials_t cur;
  kn_role_hop_t hops[KN_CRED_MAX_HOPS];
  size_t nhops;
  size_t done;
  char* region; /* NULL: the global endpoint, signed for us-east-1 */
  char* endpoint;
  /* The profile the user named (NULL: environment web identity), for the
   * credentials' `profile`. */
  char* profile;
  /* The profile whose settings give the first credentials
   * (KN_PLAN_BASE_PROCESS and KN_PLAN_BASE_SSO), for messages and `aws sso
   * login --profile`. */
  char* base_profile;
  char* process; /* KN_PLAN_BASE_PROCESS: the command */
  /* KN_PLAN_BASE_SSO. */
  char* sso_session;
  char* sso_start_url;
  char* sso_region;
  char* sso_account_id;
  char* sso_role_name;
  char* sso_endpoint; /* NULL: the regional portal */
} kn_cred_plan_t;

void kn_cred_plan_free(kn_cred_plan_t* plan);

typedef struct kn_cred_plan_in_s {
  /* The profile given explicitly (the client's option), or NULL for
   * $AWS_PROFILE or "default". Set, web identity from the environment is
   * skipped. */
  const char* profile;
  /* The client's region, or NULL: STS's region is then AWS_REGION,
   * AWS_DEFAULT_REGION, the profile's, else the global endpoint. */
  const char* region;
  /* Look for a shared file that holds a secret and others may read. */
  int check_exposed;
} kn_cred_plan_in_t;

/*
 * Web identity from the environment, then the profile, whose settings rank
 * as botocore ranks them: role_arn (through source_profile to keys, web
 * identity, IAM Identity Center or credential_process, or a
 * credential_source), IAM Identity Center, the credentials file's keys,
 * credential_process, the config file's keys. Appends what it tried to
 * `why`. Returns:
 *   1  the profile's keys, moved into *keys (source "profile", its name);
 *   2  *plan to run (kn_cred_plan_free() it);
 *   0  nothing there: the chain goes on;
 *   KINESIS_EINVAL (a role or SSO configuration that cannot work, reason in
 *   `why`), which ends the chain, or KINESIS_ENOMEM.
 * *exposed is NULL, or a kn_malloc'd warning naming a file that holds a
 * secret and other users can read, when check_exposed is set.
 */
int kn_cred_plan_resolve(const kn_cred_plan_in_t* in, kn_cred_why_t* why,
                         kn_cred_plan_t** plan, kn_credentials_t* keys,
                         char** exposed);

#endif /* KN_CRED_PLAN_H */
