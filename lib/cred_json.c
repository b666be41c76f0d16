#include "cred_json.h"
#include "internal.h"

#include "codec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>


static void set_why(char* why, size_t why_size, const char* fmt, ...) {
  va_list ap;
  if (why == NULL || why_size == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(why, why_size, fmt, ap);
  va_end(ap);
}


/* Parses `text` as one JSON object. Returns it, or NULL with *r set to
 * KINESIS_EPROTO or KINESIS_ENOMEM. */
static json_t* load_object(const char* text, size_t len, int* r, char* why,
                           size_t why_size) {
  json_error_t e;
  json_t* root;

  memset(&e, 0, sizeof(e));
  root = json_loadb(text, len, 0, &e);
  if (root == NULL && json_error_code(&e) == json_error_out_of_memory) {
    *r = KINESIS_ENOMEM;
    return NULL;
  }
  if (!json_is_object(root)) {
    /* jansson's own text may quote the document; only its position is
     * given. */
    if (root == NULL)
      set_why(why, why_size, "not JSON (error at line %d, column %d)", e.line,
              e.column);
    else
      set_why(why, why_size, "not a JSON object");
    json_decref(root);
    *r = KINESIS_EPROTO;
    return NULL;
  }
  return root;
}


/* The non-empty string member `key`, or NULL. */
static const char* get_str(json_t* obj, const char* key) {
  json_t* v = json_object_get(obj, key);
  const char* s = json_is_string(v) ? json_string_value(v) : NULL;
  return s != NULL && s[0] != '\0' ? s : NULL;
}


/* Fills `out` with copies. Returns 0 or KINESIS_ENOMEM. */
static int creds_fill(kn_credentials_t* out, const char* akid,
                      const char* secret, const char* token,
                      int64_t expiration_ms) {
  out->access_key_id = kn_strdup(akid);
  out->secret_access_key = kn_strdup(secret);
  out->session_token = kn_strdup(token);
  if (out->access_key_id == NULL || out->secret_access_key == NULL ||
      (token != NULL && out->session_token == NULL)) {
    kn_credentials_clear(out);
    return KINESIS_ENOMEM;
  }
  out->expiration_ms = expiration_ms;
  return 0;
}


int kn_cred_json_process(const char* text, size_t len, kn_credentials_t* out,
                         char* why, size_t why_size) {
  json_t* root;
  json_t* version;
  const char* akid;
  const char* secret;
  const char* token = NULL;
  const char* exp;
  int64_t expiration_ms = 0;
  int r;

  memset(out, 0, sizeof(*out));
  if (text == NULL)
    return KINESIS_EINVAL;
  root = load_object(text, len, &r, why, why_size);
  if (root == NULL)
    return r;
  r = KINESIS_EPROTO;
  /* The AWS CLI's contract: "Version" is the integer 1. Another version
   * may change what the members mean, so it is refused. */
  version = json_object_get(root, "Version");
  if (version == NULL) {
    set_why(why, why_size, "no \"Version\" member (must be 1)");
    goto done;
  }
  if (!json_is_integer(version)) {
    set_why(why, why_size, "\"Version\" is not a number (must be 1)");
    goto done;
  }
  if (json_integer_value(version) != 1) {
    set_why(why, why_size, "\"Version\" is %lld; only 1 is supported",
            (long long) json_integer_value(version));
    goto done;
  }
  akid = get_str(root, "AccessKeyId");
  secret = get_str(root, "SecretAccessKey");
  if (akid == NULL || secret == NULL) {
    set_why(why, why_size, "no \"%s\" string",
            akid == NULL ? "AccessKeyId" : "SecretAccessKey");
    goto done;
  }
  if (json_object_get(root, "SessionToken") != NULL &&
      !json_is_null(json_object_get(root, "SessionToken"))) {
    token = get_str(root, "SessionToken");
    if (token == NULL) {
      set_why(why, why_size, "\"SessionToken\" is not a non-empty string");
      goto done;
    }
  }
  if (json_object_get(root, "Expiration") != NULL &&
      !json_is_null(json_object_get(root, "Expiration"))) {
    exp = get_str(root, "Expiration");
    if (exp == NULL || kn_parse_iso8601(exp, &expiration_ms) != 0) {
      set_why(why, why_size,
              "\"Expiration\" is not an ISO 8601 time such as "
              "2026-11-26T05:02:44Z");
      goto done;
    }
  }
  r = creds_fill(out, akid, secret, token, expiration_ms);
done:
  json_decref(root);
  return r;
}


int kn_cred_json_sso_token(const char* text, size_t len, char** token,
                           int64_t* expires_at_ms, char* why, size_t why_size) {
  json_t* root;
  const char* t;
  const char* exp;
  char buf[64];
  size_t n;
  int r;

  *token = NULL;
  *expires_at_ms = 0;
  if (text == NULL)
    return KINESIS_EINVAL;
  root = load_object(text, len, &r, why, why_size);
  if (root == NULL)
    return r;
  r = KINESIS_EPROTO;
  t = get_str(root, "accessToken");
  exp = get_str(root, "expiresAt");
  if (t == NULL) {
    set_why(why, why_size, "no \"accessToken\" string");
    goto done;
  }
  if (exp == NULL) {
    set_why(why, why_size, "no \"expiresAt\" string");
    goto done;
  }
  /* Older versions of the AWS CLI wrote "2019-11-14T04:05:45UTC". */
  n = strlen(exp);
  if (n >= 3 && n < sizeof(buf) && strcmp(exp + n - 3, "UTC") == 0) {
    memcpy(buf, exp, n - 3);
    buf[n - 3] = 'Z';
    buf[n - 2] = '\0';
    exp = buf;
  }
  if (kn_parse_iso8601(exp, expires_at_ms) != 0) {
    set_why(why, why_size, "\"expiresAt\" is not an ISO 8601 time");
    goto done;
  }
  *token = kn_strdup(t);
  r = *token == NULL ? KINESIS_ENOMEM : 0;
done:
  json_decref(root);
  return r;
}


int kn_cred_json_sso_role(const char* text, size_t len, kn_credentials_t* out,
                          char* why, size_t why_size) {
  json_t* root;
  json_t* rc;
  json_t* exp;
  const char* akid;
  const char* secret;
  const char* token;
  double ms;
  int r;

  memset(out, 0, sizeof(*out));
  if (text == NULL)
    return KINESIS_EINVAL;
  root = load_object(text, len, &r, why, why_size);
  if (root == NULL)
    return r;
  r = KINESIS_EPROTO;
  rc = json_object_get(root, "roleCredentials");
  if (!json_is_object(rc)) {
    set_why(why, why_size, "no \"roleCredentials\" object");
    goto done;
  }
  akid = get_str(rc, "accessKeyId");
  secret = get_str(rc, "secretAccessKey");
  token = get_str(rc, "sessionToken");
  if (akid == NULL || secret == NULL || token == NULL) {
    set_why(why, why_size, "no \"roleCredentials.%s\" string",
            akid == NULL     ? "accessKeyId"
            : secret == NULL ? "secretAccessKey"
                             : "sessionToken");
    goto done;
  }
  /* Epoch milliseconds; anything before 2000 or past 9999 is not one. */
  exp = json_object_get(rc, "expiration");
  ms = json_is_number(exp) ? json_number_value(exp) : -1;
  if (!(ms >= 946684800000.0 && ms < 253402300800000.0)) {
    set_why(why, why_size,
            "\"roleCredentials.expiration\" is not a time in epoch "
            "milliseconds");
    goto done;
  }
  r = creds_fill(out, akid, secret, token, (int64_t) ms);
done:
  json_decref(root);
  return r;
}
