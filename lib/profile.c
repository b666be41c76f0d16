#include "profile.h"
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>


/* Shared config files and token files are small. Reading an arbitrary path
 * named by an environment variable must not hang on /dev/zero. */
#define KN_PROFILE_MAX_FILE_BYTES (1024 * 1024)


static int is_blank(char c) {
  return c == ' ' || c == '\t';
}


static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}


void kn_profile_trim(const char** s, size_t* len) {
  while (*len > 0 && is_space((*s)[0])) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_space((*s)[*len - 1]))
    (*len)--;
}


const char* kn_profile_env(const char* name) {
  const char* v = getenv(name);
  return v != NULL && v[0] != '\0' ? v : NULL;
}


int kn_profile_read_file(const char* path, char** out, size_t* out_len) {
  FILE* f;
  char* data = NULL;
  size_t len = 0;
  size_t cap = 0;
  int r = 0;
  int usable;

  *out = NULL;
  *out_len = 0;
  if (path == NULL || (f = fopen(path, "rb")) == NULL)
    return 0;
  for (;;) {
    size_t n;
    if (len == cap) {
      size_t grown_cap = cap == 0 ? 8192 : cap * 2;
      char* grown;
      if (cap > KN_PROFILE_MAX_FILE_BYTES)
        break;
      /* Not kn_realloc: the old block may hold secrets and must be wiped
       * before it is freed. */
      grown = kn_malloc(grown_cap + 1);
      if (grown == NULL) {
        r = KINESIS_ENOMEM;
        break;
      }
      if (data != NULL) {
        memcpy(grown, data, len);
        memset(data, 0, cap);
        kn_free(data);
      }
      data = grown;
      cap = grown_cap;
    }
    n = fread(data + len, 1, cap - len, f);
    len += n;
    if (n == 0)
      break;
  }
  usable = r == 0 && !ferror(f) && len <= KN_PROFILE_MAX_FILE_BYTES;
  fclose(f);
  if (!usable) {
    if (data != NULL) {
      memset(data, 0, cap);
      kn_free(data);
    }
    return r;
  }
  if (data == NULL) {
    data = kn_malloc(1);
    if (data == NULL)
      return KINESIS_ENOMEM;
  }
  data[len] = '\0';
  *out = data;
  *out_len = len;
  return 0;
}


typedef struct profile_parser_s {
  const char* profile;
  const char* sso_session; /* set: look for "[sso-session NAME]" instead */
  const char* services;    /* set: look for "[services NAME]" instead */
  int is_config;
  int in_profile;   /* the current section is the one we look for */
  int in_subblock;  /* the last property had an empty value */
  int subblock_sts; /* ...and it was "sts" */
  int subblock_sso; /* ...or "sso" */
  int key_set;      /* aws_access_key_id was set in this file */
  int secret_set;   /* aws_secret_access_key was set in this file */
  kn_profile_t* out;
} profile_parser_t;


static int key_is(const char* key, size_t len, const char* name) {
  return strlen(name) == len && strncasecmp(key, name, len) == 0;
}


/* An empty value unsets the key, so that a later section or the credentials
 * file can blank out a value from earlier. */
static int profile_set(char** field, const char* value, size_t len) {
  char* copy = NULL;
  if (len > 0) {
    copy = kn_strndup(value, len);
    if (copy == NULL)
      return KINESIS_ENOMEM;
  }
  kn_scrub_free(*field);
  *field = copy;
  return 0;
}


static int section_matches(const profile_parser_t* ps, const char* name,
                           size_t len) {
  size_t want = strlen(ps->profile);

  if (ps->services != NULL) {
    want = strlen(ps->services);
    if (len > 9 && memcmp(name, "services", 8) == 0 && is_blank(name[8])) {
      name += 9;
      len -= 9;
      kn_profile_trim(&name, &len);
      return len == want && memcmp(name, ps->services, len) == 0;
    }
    return 0;
  }
  if (ps->sso_session != NULL) {
    want = strlen(ps->sso_session);
    if (len > 12 && memcmp(name, "sso-session", 11) == 0 &&
        is_blank(name[11])) {
      name += 12;
      len -= 12;
      kn_profile_trim(&name, &len);
      return len == want && memcmp(name, ps->sso_session, len) == 0;
    }
    return 0;
  }

  if (!ps->is_config)
    return len == want && memcmp(name, ps->profile, len) == 0;
  /* The config file names profiles "[profile NAME]"; the default profile
   * may also be written "[default]". Other sections ("[sso-session x]",
   * "[services x]", or a bare "[x]") are not profiles. */
  if (len == 7 && memcmp(name, "default", 7) == 0)
    return strcmp(ps->profile, "default") == 0;
  if (len > 8 && memcmp(name, "profile", 7) == 0 && is_blank(name[7])) {
    name += 8;
    len -= 8;
    kn_profile_trim(&name, &len);
    return len == want && memcmp(name, ps->profile, len) == 0;
  }
  return 0;
}


/* The settings kept as they are written, each a char* in kn_profile_t. */
static const struct {
  const char* name;
  size_t offset;
} profile_keys[] = {
    {"role_arn", offsetof(kn_profile_t, role_arn)},
    {"source_profile", offsetof(kn_profile_t, source_profile)},
    {"credential_source", offsetof(kn_profile_t, credential_source)},
    {"external_id", offsetof(kn_profile_t, external_id)},
    {"role_session_name", offsetof(kn_profile_t, role_session_name)},
    {"duration_seconds", offsetof(kn_profile_t, duration_seconds)},
    {"mfa_serial", offsetof(kn_profile_t, mfa_serial)},
    {"web_identity_token_file",
     offsetof(kn_profile_t, web_identity_token_file)},
    {"credential_process", offsetof(kn_profile_t, credential_process)},
    {"sso_session", offsetof(kn_profile_t, sso_session)},
    {"sso_start_url", offsetof(kn_profile_t, sso_start_url)},
    {"sso_region", offsetof(kn_profile_t, sso_region)},
    {"sso_account_id", offsetof(kn_profile_t, sso_account_id)},
    {"sso_role_name", offsetof(kn_profile_t, sso_role_name)},
    {"endpoint_url", offsetof(kn_profile_t, endpoint_url)},
    {"services", offsetof(kn_profile_t, services)},
};


static int profile_parse_line(profile_parser_t* ps, const char* line,
                              size_t len) {
  int indented = len > 0 && is_blank(line[0]);
  const char* eq;
  const char* key;
  const char* value;
  size_t key_len;
  size_t value_len;
  size_t i;
  kn_profile_t* out = ps->out;

  kn_profile_trim(&line, &len);
  if (len == 0 || line[0] == '#' || line[0] == ';')
    return 0;

  if (line[0] == '[') {
    const char* end = memchr(line, ']', len);
    const char* name = line + 1;
    size_t name_len;
    ps->in_subblock = 0;
    /* A broken header still ends the previous section, so that its keys
     * do not leak into the profile above it. */
    if (end == NULL) {
      ps->in_profile = 0;
      return 0;
    }
    name_len = (size_t) (end - name);
    kn_profile_trim(&name, &name_len);
    ps->in_profile = section_matches(ps, name, name_len);
    if (ps->in_profile && ps->sso_session != NULL)
      out->sso_session_found = 1;
    else if (ps->in_profile && ps->services == NULL)
      out->found = 1;
    return 0;
  }

  eq = memchr(line, '=', len);
  if (eq == NULL)
    return 0;
  key = line;
  key_len = (size_t) (eq - line);
  kn_profile_trim(&key, &key_len);
  value = eq + 1;
  value_len = (size_t) (line + len - value);
  /* A '#' or ';' after whitespace starts a comment. Keys and tokens are
   * base64 and never contain one after a space. value[0] follows the '=',
   * so the scan starts at 1. */
  for (i = 1; i < value_len; i++) {
    if ((value[i] == '#' || value[i] == ';') && is_space(value[i - 1])) {
      value_len = i;
      break;
    }
  }
  kn_profile_trim(&value, &value_len);
  /* Indented lines under a property with an empty value are its
   * sub-properties ("s3 =\n  max_concurrent_requests = 10"). Other indented
   * lines are read as ordinary properties, which is more lenient than the
   * CLI but keeps an indented profile body working. The only
   * sub-property read is STS's endpoint_url in a services section. */
  if (indented && ps->in_subblock) {
    if (ps->services != NULL && ps->in_profile && ps->subblock_sts &&
        key_is(key, key_len, "endpoint_url"))
      return profile_set(&out->services_sts_endpoint_url, value, value_len);
    if (ps->services != NULL && ps->in_profile && ps->subblock_sso &&
        key_is(key, key_len, "endpoint_url"))
      return profile_set(&out->services_sso_endpoint_url, value, value_len);
    return 0;
  }
  ps->in_subblock = value_len == 0;
  ps->subblock_sts = ps->in_subblock && key_is(key, key_len, "sts");
  ps->subblock_sso = ps->in_subblock && key_is(key, key_len, "sso");
  if (!ps->in_profile || key_len == 0 || ps->services != NULL)
    return 0;

  if (ps->sso_session != NULL) {
    if (key_is(key, key_len, "sso_start_url"))
      return profile_set(&out->sso_session_start_url, value, value_len);
    if (key_is(key, key_len, "sso_region"))
      return profile_set(&out->sso_session_region, value, value_len);
    return 0;
  }
  for (i = 0; i < KN_ARRAY_SIZE(profile_keys); i++)
    if (key_is(key, key_len, profile_keys[i].name))
      return profile_set((char**) ((char*) out + profile_keys[i].offset), value,
                         value_len);
  if (key_is(key, key_len, "aws_access_key_id")) {
    ps->key_set = value_len > 0;
    return profile_set(&out->access_key_id, value, value_len);
  }
  if (key_is(key, key_len, "aws_secret_access_key")) {
    ps->secret_set = value_len > 0;
    return profile_set(&out->secret_access_key, value, value_len);
  }
  if (key_is(key, key_len, "aws_session_token"))
    return profile_set(&out->session_token, value, value_len);
  if (key_is(key, key_len, "region"))
    return profile_set(&out->region, value, value_len);
  return 0;
}


static int profile_parse_text(const char* text, int is_config,
                              const char* profile, const char* sso_session,
                              const char* services, kn_profile_t* out) {
  profile_parser_t ps;
  const char* p = text;

  if (text == NULL)
    return 0;
  memset(&ps, 0, sizeof(ps));
  ps.profile = profile;
  ps.sso_session = sso_session;
  ps.services = services;
  ps.is_config = is_config;
  ps.out = out;
  /* Editors on Windows may save the file with a UTF-8 byte order mark. */
  if (strncmp(p, "\xEF\xBB\xBF", 3) == 0)
    p += 3;
  while (*p != '\0') {
    size_t len = strcspn(p, "\n");
    int r = profile_parse_line(&ps, p, len);
    if (r != 0)
      return r;
    p += len;
    if (*p == '\n')
      p++;
  }
  if (!is_config && sso_session == NULL && services == NULL)
    out->keys_in_credentials_file = ps.key_set && ps.secret_set;
  return 0;
}


void kn_profile_clear(kn_profile_t* p) {
  size_t i;

  if (p == NULL)
    return;
  kn_free(p->access_key_id);
  kn_scrub_free(p->secret_access_key);
  kn_scrub_free(p->session_token);
  kn_free(p->region);
  for (i = 0; i < KN_ARRAY_SIZE(profile_keys); i++)
    kn_free(*(char**) ((char*) p + profile_keys[i].offset));
  kn_free(p->sso_session_start_url);
  kn_free(p->sso_session_region);
  kn_free(p->services_sts_endpoint_url);
  kn_free(p->services_sso_endpoint_url);
  memset(p, 0, sizeof(*p));
}


int kn_profile_parse(const char* credentials_text, const char* config_text,
                     const char* profile, kn_profile_t* out) {
  int r;

  memset(out, 0, sizeof(*out));
  if (profile == NULL)
    profile = kn_profile_name(NULL);
  /* The config file goes first so that the credentials file, read second,
   * overrides it key by key, as the AWS CLI merges them. */
  r = profile_parse_text(config_text, 1, profile, NULL, NULL, out);
  if (r == 0)
    r = profile_parse_text(credentials_text, 0, profile, NULL, NULL, out);
  /* "[sso-session NAME]" and "[services NAME]" sections live in the config
   * file only. */
  if (r == 0 && out->sso_session != NULL)
    r = profile_parse_text(config_text, 1, profile, out->sso_session, NULL,
                           out);
  if (r == 0 && out->services != NULL)
    r = profile_parse_text(config_text, 1, profile, NULL, out->services, out);
  if (r != 0) {
    kn_profile_clear(out);
    return r;
  }
  if (out->access_key_id == NULL || out->secret_access_key == NULL)
    return KINESIS_ENOCREDS;
  return 0;
}


void kn_profile_scrub_text(char* text, size_t len) {
  if (text == NULL)
    return;
  memset(text, 0, len);
  kn_free(text);
}


/* Whether `text` holds a secret: a secret key or a session token. */
static int holds_secret(const char* text) {
  return text != NULL && (strcasestr(text, "aws_secret_access_key") != NULL ||
                          strcasestr(text, "aws_session_token") != NULL);
}


void kn_profile_note_exposed(const char* path, const char* text,
                             kn_profile_t* out) {
  struct stat st;
  if (out->exposed_path != NULL || path == NULL || !holds_secret(text) ||
      stat(path, &st) != 0 || (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
    return;
  out->exposed_path = path;
  out->exposed_mode = (unsigned) (st.st_mode & 07777);
}


int kn_profile_load(const char* credentials_path, const char* config_path,
                    const char* profile, kn_profile_t* out) {
  char* creds_text = NULL;
  char* config_text = NULL;
  size_t creds_len = 0;
  size_t config_len = 0;
  int r;

  memset(out, 0, sizeof(*out));
  r = kn_profile_read_file(credentials_path, &creds_text, &creds_len);
  if (r == 0)
    r = kn_profile_read_file(config_path, &config_text, &config_len);
  if (r == 0)
    r = kn_profile_parse(creds_text, config_text, profile, out);
  if (r == 0) {
    kn_profile_note_exposed(credentials_path, creds_text, out);
    kn_profile_note_exposed(config_path, config_text, out);
  }
  kn_profile_scrub_text(creds_text, creds_len);
  kn_profile_scrub_text(config_text, config_len);
  return r;
}


const char* kn_profile_name(const char* explicit_name) {
  const char* env;
  if (explicit_name != NULL && explicit_name[0] != '\0')
    return explicit_name;
  env = kn_profile_env("AWS_PROFILE");
  return env != NULL ? env : "default";
}


static int env_is_true(const char* name) {
  const char* v = kn_profile_env(name);
  return v != NULL && strcasecmp(v, "true") == 0;
}


int kn_profile_endpoint(const char* service_env, const char* services_endpoint,
                        const char* profile_endpoint, char** out) {
  const char* configured = NULL;
  size_t len;

  *out = NULL;
  if (env_is_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
    return 0;
  configured = kn_profile_env(service_env);
  if (configured == NULL)
    configured = kn_profile_env("AWS_ENDPOINT_URL");
  if (configured == NULL && services_endpoint != NULL &&
      services_endpoint[0] != '\0')
    configured = services_endpoint;
  if (configured == NULL && profile_endpoint != NULL &&
      profile_endpoint[0] != '\0')
    configured = profile_endpoint;
  if (configured == NULL)
    return 0;
  len = strlen(configured);
  while (len > 0 && configured[len - 1] == '/')
    len--;
  *out = kn_strndup(configured, len);
  return *out == NULL ? KINESIS_ENOMEM : 0;
}


int kn_profile_path(const char* env_name, const char* file_name, char** out) {
  const char* v = kn_profile_env(env_name);
  const char* home = kn_profile_env("HOME");
  size_t home_len;

  *out = NULL;
  if (v != NULL) {
    if (v[0] == '~' && (v[1] == '/' || v[1] == '\0') && home != NULL)
      *out = kn_strcat3(home, v + 1, NULL);
    else
      *out = kn_strdup(v);
  } else if (home != NULL) {
    home_len = strlen(home);
    *out = kn_strcat3(home, home[home_len - 1] == '/' ? ".aws/" : "/.aws/",
                      file_name);
  } else {
    return 0;
  }
  return *out == NULL ? KINESIS_ENOMEM : 0;
}


char* kn_profile_credentials_path(void) {
  char* path;
  kn_profile_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &path);
  return path;
}


char* kn_profile_config_path(void) {
  char* path;
  kn_profile_path("AWS_CONFIG_FILE", "config", &path);
  return path;
}
