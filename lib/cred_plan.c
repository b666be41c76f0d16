#include "cred_plan.h"
#include "internal.h"

#include "cred_sts.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


/* STS bounds DurationSeconds to 15 minutes .. 12 hours. */
#define KN_STS_DURATION_MIN 900
#define KN_STS_DURATION_MAX 43200

/* Room for a message naming a file. */
#define KN_PATH_MESSAGE_MAX 4200


/* ---- Messages ---- */


void kn_cred_why_add(kn_cred_why_t* why, const char* fmt, ...) {
  char small[512];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    why->failed = 1;
    return;
  }
  if ((size_t) n >= sizeof(small)) {
    /* Long paths or URLs: format again into a buffer of the right size. */
    char* big = kn_malloc((size_t) n + 1);
    if (big == NULL) {
      why->failed = 1;
      return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t) n + 1, fmt, ap);
    va_end(ap);
    if (kn_buf_append(&why->buf, big, (size_t) n) != 0)
      why->failed = 1;
    kn_free(big);
    return;
  }
  if (kn_buf_append(&why->buf, small, (size_t) n) != 0)
    why->failed = 1;
}


const char* kn_cred_why_message(kn_cred_why_t* why) {
  if (why->failed || why->buf.len == 0)
    return "no credentials (the sources tried could not be described: out "
           "of memory)";
  return kn_buf_str(&why->buf);
}


/* ---- Plans ---- */


void kn_cred_plan_free(kn_cred_plan_t* plan) {
  size_t i;
  if (plan == NULL)
    return;
  kn_credentials_clear(&plan->cur);
  for (i = 0; i < plan->nhops; i++) {
    kn_free(plan->hops[i].role_arn);
    kn_free(plan->hops[i].session_name);
    kn_free(plan->hops[i].external_id);
    kn_free(plan->hops[i].token_file);
  }
  kn_free(plan->region);
  kn_free(plan->endpoint);
  kn_free(plan->profile);
  kn_free(plan->base_profile);
  kn_free(plan->process);
  kn_free(plan->sso_session);
  kn_free(plan->sso_start_url);
  kn_free(plan->sso_region);
  kn_free(plan->sso_account_id);
  kn_free(plan->sso_role_name);
  kn_free(plan->sso_endpoint);
  kn_free(plan);
}


/* The shared files, read once per fetch. */
typedef struct profile_files_s {
  char* creds_path;
  char* config_path;
  char* creds_text;
  size_t creds_len;
  char* config_text;
  size_t config_len;
} profile_files_t;


static void files_clear(profile_files_t* f) {
  kn_free(f->creds_path);
  kn_free(f->config_path);
  kn_profile_scrub_text(f->creds_text, f->creds_len);
  kn_profile_scrub_text(f->config_text, f->config_len);
  memset(f, 0, sizeof(*f));
}


static int files_read(profile_files_t* f) {
  int r;
  memset(f, 0, sizeof(*f));
  r = kn_profile_path("AWS_SHARED_CREDENTIALS_FILE", "credentials",
                      &f->creds_path);
  if (r == 0)
    r = kn_profile_path("AWS_CONFIG_FILE", "config", &f->config_path);
  if (r == 0)
    r = kn_profile_read_file(f->creds_path, &f->creds_text, &f->creds_len);
  if (r == 0)
    r = kn_profile_read_file(f->config_path, &f->config_text, &f->config_len);
  if (r != 0)
    files_clear(f);
  return r;
}


/* Moves the profile's keys into `c`. */
static void take_profile_keys(kn_profile_t* pr, kn_credentials_t* c,
                              const char* source) {
  kn_credentials_clear(c);
  c->access_key_id = pr->access_key_id;
  c->secret_access_key = pr->secret_access_key;
  c->session_token = pr->session_token;
  c->source = source;
  pr->access_key_id = NULL;
  pr->secret_access_key = NULL;
  pr->session_token = NULL;
}


/* Fills one hop from a profile's settings. 0, KINESIS_EINVAL (reason in
 * `why`) or KINESIS_ENOMEM. */
static int hop_from_profile(kn_cred_why_t* why, const char* name,
                            const kn_profile_t* pr, kn_role_hop_t* hop) {
  memset(hop, 0, sizeof(*hop));
  if (pr->duration_seconds != NULL) {
    char* end;
    unsigned long d = strtoul(pr->duration_seconds, &end, 10);
    if (*end != '\0' || pr->duration_seconds[0] < '0' ||
        pr->duration_seconds[0] > '9' || d < KN_STS_DURATION_MIN ||
        d > KN_STS_DURATION_MAX) {
      kn_cred_why_add(
          why,
          "profile \"%s\": duration_seconds \"%s\" is not a number of "
          "seconds from %d to %d",
          name, pr->duration_seconds, KN_STS_DURATION_MIN, KN_STS_DURATION_MAX);
      return KINESIS_EINVAL;
    }
    hop->duration_seconds = (uint32_t) d;
  }
  hop->role_arn = kn_strdup(pr->role_arn);
  hop->session_name = kn_strdup(pr->role_session_name);
  hop->external_id = kn_strdup(pr->external_id);
  if (hop->role_arn == NULL ||
      (pr->role_session_name != NULL && hop->session_name == NULL) ||
      (pr->external_id != NULL && hop->external_id == NULL))
    return KINESIS_ENOMEM;
  return 0;
}


/* Copies `src` into *dst unless it is NULL. 0 or KINESIS_ENOMEM. */
static int dup_opt(char** dst, const char* src) {
  *dst = NULL;
  if (src == NULL)
    return 0;
  *dst = kn_strdup(src);
  return *dst == NULL ? KINESIS_ENOMEM : 0;
}


/*
 * IAM Identity Center settings of profile `name`: with sso_session, the
 * start URL and region of its [sso-session] section (else the profile's
 * own); without, the legacy sso_start_url and sso_region; and always
 * sso_account_id and sso_role_name. Returns 1 (the plan's base is SSO), 0
 * (no SSO setting), KINESIS_EINVAL (some but not all, reason in `why`) or
 * KINESIS_ENOMEM.
 */
static int plan_sso(kn_cred_why_t* why, const char* name,
                    const kn_profile_t* pr, kn_cred_plan_t* plan) {
  const char* start_url = pr->sso_start_url;
  const char* region = pr->sso_region;
  const char* missing = NULL;
  int r;

  if (pr->sso_session == NULL && pr->sso_start_url == NULL &&
      pr->sso_region == NULL && pr->sso_account_id == NULL &&
      pr->sso_role_name == NULL)
    return 0;
  if (pr->sso_session != NULL) {
    if (!pr->sso_session_found) {
      kn_cred_why_add(
          why,
          "profile \"%s\": sso_session \"%s\" has no [sso-session %s] "
          "section in the config file",
          name, pr->sso_session, pr->sso_session);
      return KINESIS_EINVAL;
    }
    if (pr->sso_session_start_url != NULL)
      start_url = pr->sso_session_start_url;
    if (pr->sso_session_region != NULL)
      region = pr->sso_session_region;
  }
  if (start_url == NULL)
    missing = "sso_start_url";
  else if (region == NULL)
    missing = "sso_region";
  else if (pr->sso_account_id == NULL)
    missing = "sso_account_id";
  else if (pr->sso_role_name == NULL)
    missing = "sso_role_name";
  if (missing != NULL) {
    kn_cred_why_add(
        why,
        "profile \"%s\" is set up for IAM Identity Center (SSO) but "
        "lacks %s",
        name, missing);
    return KINESIS_EINVAL;
  }
  plan->base = KN_PLAN_BASE_SSO;
  r = dup_opt(&plan->base_profile, name);
  if (r == 0)
    r = dup_opt(&plan->sso_session, pr->sso_session);
  if (r == 0)
    r = dup_opt(&plan->sso_start_url, start_url);
  if (r == 0)
    r = dup_opt(&plan->sso_region, region);
  if (r == 0)
    r = dup_opt(&plan->sso_account_id, pr->sso_account_id);
  if (r == 0)
    r = dup_opt(&plan->sso_role_name, pr->sso_role_name);
  if (r == 0)
    r = kn_profile_endpoint("AWS_ENDPOINT_URL_SSO",
                            pr->services_sso_endpoint_url, pr->endpoint_url,
                            &plan->sso_endpoint);
  return r == 0 ? 1 : r;
}


/* credential_process of profile `name`: 1 (the plan's base), 0 (none) or
 * KINESIS_ENOMEM. */
static int plan_process(const char* name, const kn_profile_t* pr,
                        kn_cred_plan_t* plan) {
  int r;
  if (pr->credential_process == NULL)
    return 0;
  plan->base = KN_PLAN_BASE_PROCESS;
  r = dup_opt(&plan->base_profile, name);
  if (r == 0)
    r = dup_opt(&plan->process, pr->credential_process);
  return r == 0 ? 1 : r;
}


/*
 * Follows role_arn from profile `top` through source_profile until a profile
 * with keys, a credential_source, a web identity token file, IAM Identity
 * Center settings or a credential_process. Returns 0
 * with the hops in `plan`, KINESIS_EINVAL with the reason in `why`, or
 * KINESIS_ENOMEM. The hops are freed with the plan on every return.
 */
static int plan_profiles(kn_cred_why_t* why, const profile_files_t* f,
                         const char* top, kn_cred_plan_t* plan) {
  char* visited[KN_CRED_MAX_HOPS + 1];
  size_t nvisited = 0;
  const char* name = top;
  kn_profile_t pr;
  size_t i;
  int r;

  memset(&pr, 0, sizeof(pr));
  for (;;) {
    int has_keys;
    kn_role_hop_t* hop;

    r = kn_profile_parse(f->creds_text, f->config_text, name, &pr);
    if (r == KINESIS_ENOMEM)
      goto out;
    has_keys = r == 0;
    r = KINESIS_EINVAL;
    if (!pr.found) {
      kn_cred_why_add(
          why, "source_profile \"%s\" named by profile \"%s\" does not exist",
          name, nvisited > 1 ? visited[nvisited - 2] : top);
      goto out;
    }
    /* Keys in a source profile end the chain, even beside a role_arn. */
    if (nvisited > 0 && has_keys) {
      take_profile_keys(&pr, &plan->cur, "profile");
      plan->base = KN_PLAN_BASE_STATIC;
      r = 0;
      goto out;
    }
    if (pr.role_arn == NULL) {
      /* As botocore resolves a source profile without a role: SSO, then
       * credential_process (its keys were taken above). */
      r = plan_sso(why, name, &pr, plan);
      if (r == 0)
        r = plan_process(name, &pr, plan);
      if (r == 1) {
        r = 0;
        goto out;
      }
      if (r == 0) {
        kn_cred_why_add(
            why,
            "source_profile \"%s\" has no keys, role_arn, SSO settings or "
            "credential_process",
            name);
        r = KINESIS_EINVAL;
      }
      goto out;
    }
    if (pr.mfa_serial != NULL) {
      kn_cred_why_add(
          why,
          "profile \"%s\" has mfa_serial: a role that needs an MFA code "
          "cannot be assumed here, there is no one to type it",
          name);
      goto out;
    }
    if (pr.source_profile != NULL && pr.credential_source != NULL) {
      kn_cred_why_add(
          why,
          "profile \"%s\" has both source_profile and credential_source; "
          "keep one",
          name);
      goto out;
    }
    if (plan->nhops == KN_CRED_MAX_HOPS) {
      kn_cred_why_add(why, "more than %d roles in a row from profile \"%s\"",
                      KN_CRED_MAX_HOPS, top);
      goto out;
    }
    hop = &plan->hops[plan->nhops++];
    r = hop_from_profile(why, name, &pr, hop);
    if (r != 0)
      goto out;
    r = KINESIS_EINVAL;
    if (pr.source_profile != NULL) {
      /* A profile may name itself to assume its role with its own keys. */
      if (strcmp(pr.source_profile, name) == 0) {
        if (!has_keys) {
          kn_cred_why_add(
              why, "profile \"%s\" is its own source_profile but has no keys",
              name);
          goto out;
        }
        take_profile_keys(&pr, &plan->cur, "profile");
        plan->base = KN_PLAN_BASE_STATIC;
        r = 0;
        goto out;
      }
      if (nvisited == 0) {
        visited[nvisited] = kn_strdup(name);
        if (visited[nvisited] == NULL) {
          r = KINESIS_ENOMEM;
          goto out;
        }
        nvisited++;
      }
      for (i = 0; i < nvisited; i++) {
        if (strcmp(visited[i], pr.source_profile) == 0) {
          size_t k;
          kn_cred_why_add(why, "source_profile cycle: ");
          for (k = i; k < nvisited; k++)
            kn_cred_why_add(why, "%s -> ", visited[k]);
          kn_cred_why_add(why, "%s", pr.source_profile);
          goto out;
        }
      }
      visited[nvisited] = kn_strdup(pr.source_profile);
      if (visited[nvisited] == NULL) {
        r = KINESIS_ENOMEM;
        goto out;
      }
      name = visited[nvisited++];
      kn_profile_clear(&pr);
      continue;
    }
    if (pr.credential_source != NULL) {
      const char* cs = pr.credential_source;
      if (strcmp(cs, "Environment") == 0) {
        const char* key = kn_profile_env("AWS_ACCESS_KEY_ID");
        const char* secret = kn_profile_env("AWS_SECRET_ACCESS_KEY");
        const char* token = kn_profile_env("AWS_SESSION_TOKEN");
        if (key == NULL || secret == NULL) {
          kn_cred_why_add(
              why,
              "profile \"%s\": credential_source Environment, but "
              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not both "
              "set",
              name);
          goto out;
        }
        plan->cur.access_key_id = kn_strdup(key);
        plan->cur.secret_access_key = kn_strdup(secret);
        plan->cur.session_token = kn_strdup(token);
        plan->cur.source = "environment";
        r = plan->cur.access_key_id == NULL ||
                    plan->cur.secret_access_key == NULL ||
                    (token != NULL && plan->cur.session_token == NULL)
                ? KINESIS_ENOMEM
                : 0;
        plan->base = KN_PLAN_BASE_STATIC;
      } else if (strcmp(cs, "Ec2InstanceMetadata") == 0) {
        plan->base = KN_PLAN_BASE_IMDS;
        r = 0;
      } else if (strcmp(cs, "EcsContainer") == 0) {
        plan->base = KN_PLAN_BASE_CONTAINER;
        r = 0;
      } else {
        kn_cred_why_add(
            why,
            "profile \"%s\": unknown credential_source \"%s\" (Environment, "
            "Ec2InstanceMetadata or EcsContainer)",
            name, cs);
      }
      goto out;
    }
    if (pr.web_identity_token_file != NULL) {
      hop->token_file = kn_strdup(pr.web_identity_token_file);
      r = hop->token_file == NULL ? KINESIS_ENOMEM : 0;
      plan->base = KN_PLAN_BASE_NONE;
      goto out;
    }
    kn_cred_why_add(why,
                    "profile \"%s\" has role_arn without source_profile, "
                    "credential_source or web_identity_token_file",
                    name);
    goto out;
  }

out:
  kn_profile_clear(&pr);
  for (i = 0; i < nvisited; i++)
    kn_free(visited[i]);
  return r;
}


/* The plan's region and endpoint: the client's region, AWS_REGION,
 * AWS_DEFAULT_REGION, then the profile's. */
static int plan_endpoint(const char* region, const kn_profile_t* top,
                         kn_cred_plan_t* plan) {
  if (region == NULL)
    region = kn_profile_env("AWS_REGION");
  if (region == NULL)
    region = kn_profile_env("AWS_DEFAULT_REGION");
  if (region == NULL)
    region = top->region;
  if (region != NULL) {
    plan->region = kn_strdup(region);
    if (plan->region == NULL)
      return KINESIS_ENOMEM;
  }
  return kn_sts_endpoint(region, top->services_sts_endpoint_url,
                         top->endpoint_url, &plan->endpoint);
}


static const char* profile_missing_words(const kn_profile_t* prof) {
  if (prof->access_key_id != NULL)
    return "aws_access_key_id without aws_secret_access_key";
  if (prof->secret_access_key != NULL)
    return "aws_secret_access_key without aws_access_key_id";
  if (prof->found)
    return "no keys";
  return "not found";
}


int kn_cred_plan_resolve(const kn_cred_plan_in_t* in, kn_cred_why_t* why,
                         kn_cred_plan_t** plan_out, kn_credentials_t* keys,
                         char** exposed) {
  const char* profile = kn_profile_name(in->profile);
  const char* token_file = kn_profile_env("AWS_WEB_IDENTITY_TOKEN_FILE");
  const char* role_arn = kn_profile_env("AWS_ROLE_ARN");
  kn_cred_plan_t* plan = NULL;
  profile_files_t f;
  kn_profile_t prof;
  int has_keys;
  int r;

  *plan_out = NULL;
  *exposed = NULL;
  memset(keys, 0, sizeof(*keys));
  r = files_read(&f);
  if (r != 0)
    return r;
  r = kn_profile_parse(f.creds_text, f.config_text, profile, &prof);
  if (r == KINESIS_ENOMEM) {
    files_clear(&f);
    return r;
  }
  if ((r == 0 || prof.role_arn != NULL) && in->check_exposed) {
    kn_profile_note_exposed(f.creds_path, f.creds_text, &prof);
    kn_profile_note_exposed(f.config_path, f.config_text, &prof);
    if (prof.exposed_path != NULL) {
      char msg[KN_PATH_MESSAGE_MAX];
      snprintf(msg, sizeof(msg),
               "credentials: %s holds a secret and other users can read it "
               "(mode %04o); chmod 600 it",
               prof.exposed_path, prof.exposed_mode);
      /* Out of memory, the warning is lost, not the credentials. */
      *exposed = kn_strdup(msg);
    }
  }

  kn_cred_why_add(why, ", web identity from the environment (");
  if (in->profile != NULL) {
    /* As the AWS CLI's --profile. */
    kn_cred_why_add(why, "skipped: profile \"%s\" given)", in->profile);
  } else if (token_file != NULL && role_arn != NULL) {
    kn_role_hop_t* hop;
    const char* session = kn_profile_env("AWS_ROLE_SESSION_NAME");
    kn_cred_why_add(why, "role %s, token file %s: ", role_arn, token_file);
    plan = kn_calloc(1, sizeof(*plan));
    if (plan == NULL)
      goto nomem;
    hop = &plan->hops[plan->nhops++];
    hop->role_arn = kn_strdup(role_arn);
    hop->token_file = kn_strdup(token_file);
    hop->session_name = kn_strdup(session);
    if (hop->role_arn == NULL || hop->token_file == NULL ||
        (session != NULL && hop->session_name == NULL))
      goto nomem;
    plan->base = KN_PLAN_BASE_NONE;
    r = plan_endpoint(in->region, &prof, plan);
    goto done;
  } else if (token_file != NULL || role_arn != NULL) {
    kn_cred_why_add(
        why, "%s set without %s)",
        token_file != NULL ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
        token_file != NULL ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
  } else {
    kn_cred_why_add(why, "not configured)");
  }
  has_keys = r == 0;

  kn_cred_why_add(why, ", profile \"%s\" (", profile);
  plan = kn_calloc(1, sizeof(*plan));
  if (plan == NULL)
    goto nomem;
  if (prof.role_arn != NULL) {
    kn_cred_why_add(why, "role %s: ", prof.role_arn);
    r = plan_profiles(why, &f, profile, plan);
    if (r == 0)
      r = plan_endpoint(in->region, &prof, plan);
    if (r == 0)
      r = dup_opt(&plan->profile, profile);
    if (r == KINESIS_EINVAL)
      kn_cred_why_add(why, ")");
    goto done;
  }
  /* Then, as botocore ranks them: IAM Identity Center, the credentials
   * file's keys, credential_process, the config file's keys. */
  r = plan_sso(why, profile, &prof, plan);
  if (r == 0 && !(has_keys && prof.keys_in_credentials_file))
    r = plan_process(profile, &prof, plan);
  if (r == 1)
    r = dup_opt(&plan->profile, profile);
  else if (r == KINESIS_EINVAL)
    kn_cred_why_add(why, ")");
  if (r != 0 || plan->base != KN_PLAN_BASE_NONE)
    goto done;
  kn_cred_plan_free(plan);
  plan = NULL;
  if (has_keys) {
    keys->profile = kn_strdup(profile);
    if (keys->profile == NULL)
      goto nomem;
    kn_cred_why_add(why, "keys)");
    keys->access_key_id = prof.access_key_id;
    keys->secret_access_key = prof.secret_access_key;
    keys->session_token = prof.session_token;
    keys->source = "profile";
    prof.access_key_id = NULL;
    prof.secret_access_key = NULL;
    prof.session_token = NULL;
    r = 1;
  } else {
    kn_cred_why_add(
        why, "%s in %s, %s)", profile_missing_words(&prof),
        f.creds_path != NULL ? f.creds_path : "no credentials file: no HOME",
        f.config_path != NULL ? f.config_path : "no config file: no HOME");
    r = 0;
  }
  kn_profile_clear(&prof);
  files_clear(&f);
  return r;

done:
  kn_profile_clear(&prof);
  files_clear(&f);
  if (r != 0) {
    kn_cred_plan_free(plan);
    return r;
  }
  *plan_out = plan;
  return 2;

nomem:
  kn_profile_clear(&prof);
  files_clear(&f);
  kn_cred_plan_free(plan);
  kn_free(*exposed);
  *exposed = NULL;
  return KINESIS_ENOMEM;
}
