/*
 * The fake service's SigV4 check (serve_auth.h). The expected signature is
 * the library's own signer's (kn_sigv4_sign) over the request as received:
 * its method, path, query, body, and the headers that SignedHeaders names,
 * with the date, region and service of the credential scope. The two
 * signatures are compared without an early exit.
 *
 * The answers follow the service's: every one is a 400 with a JSON body,
 * as the JSON protocol's (Coral) services send them and as kinesalite
 * mimics them (see /work/shared/mocks.md); the messages are AWS's where
 * known. Only the Authorization header is read: presigned queries and a
 * Date header in place of X-Amz-Date are not accepted.
 */

#include "serve_auth.h"

#include "../internal.h"
#include "../sigv4.h"
#include "svc_internal.h"

#include <string.h>


#define ALGORITHM "AWS4-HMAC-SHA256"
#define SERVICE "kinesis"
/* How far X-Amz-Date may be from the service's clock. */
#define SKEW_MS (5 * 60 * 1000)
#define SIG_HEX (2 * KN_SHA256_LEN)

typedef struct {
  char* access_key_id;
  char* secret;
} entry_t;

struct kn_serve_keys_s {
  entry_t* v;
  size_t n;
  char* region;
};


static void wipe(void* p, size_t len) {
  volatile uint8_t* v = p;
  while (len-- > 0)
    *v++ = 0;
}


void kn_serve_keys_free(kn_serve_keys_t* keys) {
  size_t i;

  if (keys == NULL)
    return;
  for (i = 0; i < keys->n; i++) {
    kn_free(keys->v[i].access_key_id);
    if (keys->v[i].secret != NULL) {
      wipe(keys->v[i].secret, strlen(keys->v[i].secret));
      kn_free(keys->v[i].secret);
    }
  }
  kn_free(keys->v);
  kn_free(keys->region);
  kn_free(keys);
}


static int access_key_ok(const char* s, size_t len) {
  size_t i;

  if (len == 0)
    return 0;
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char) s[i];
    if (c <= ' ' || c >= 0x7f || c == '/' || c == ',' || c == '=')
      return 0;
  }
  return 1;
}


int kn_serve_keys_new(const char* const* entries, const char* region,
                      kn_serve_keys_t** out) {
  kn_serve_keys_t* k;
  size_t n = 0;
  size_t i;

  if (entries == NULL || out == NULL)
    return KINESIS_EINVAL;
  for (n = 0; entries[n] != NULL; n++) {
    const char* colon = strchr(entries[n], ':');
    if (colon == NULL || colon[1] == '\0' ||
        !access_key_ok(entries[n], (size_t) (colon - entries[n])))
      return KINESIS_EINVAL;
  }
  k = kn_calloc(1, sizeof(*k));
  if (k == NULL)
    return KINESIS_ENOMEM;
  k->region = kn_strdup(region != NULL ? region : "us-east-1");
  k->v = kn_calloc(n > 0 ? n : 1, sizeof(*k->v));
  if (k->region == NULL || k->v == NULL)
    goto nomem;
  for (i = 0; i < n; i++) {
    const char* colon = strchr(entries[i], ':');
    size_t len = (size_t) (colon - entries[i]);
    k->n++;
    k->v[i].access_key_id = kn_malloc(len + 1);
    k->v[i].secret = kn_strdup(colon + 1);
    if (k->v[i].access_key_id == NULL || k->v[i].secret == NULL)
      goto nomem;
    memcpy(k->v[i].access_key_id, entries[i], len);
    k->v[i].access_key_id[len] = '\0';
  }
  *out = k;
  return 0;

nomem:
  kn_serve_keys_free(k);
  return KINESIS_ENOMEM;
}


/* ---- Parsing ---- */

/* The Authorization header's parts, as cursors into its value. */
typedef struct {
  kn_cursor_t algorithm;
  kn_cursor_t credential;
  kn_cursor_t signed_headers;
  kn_cursor_t signature;
  int has_credential;
  int has_signed_headers;
  int has_signature;
} authz_t;


static int cur_is(kn_cursor_t c, const char* s) {
  size_t n = strlen(s);
  return c.len == n && memcmp(c.ptr, s, n) == 0;
}


static kn_cursor_t cur_trim(kn_cursor_t c) {
  while (c.len > 0 && (c.ptr[0] == ' ' || c.ptr[0] == '\t')) {
    c.ptr++;
    c.len--;
  }
  while (c.len > 0 && (c.ptr[c.len - 1] == ' ' || c.ptr[c.len - 1] == '\t'))
    c.len--;
  return c;
}


/* "ALG Credential=..., SignedHeaders=..., Signature=...": the parameters
 * in any order, separated by commas and spaces. */
static void parse_authz(kn_cursor_t v, authz_t* a) {
  size_t i = 0;

  memset(a, 0, sizeof(*a));
  v = cur_trim(v);
  while (i < v.len && v.ptr[i] != ' ')
    i++;
  a->algorithm.ptr = v.ptr;
  a->algorithm.len = i;
  while (i < v.len) {
    kn_cursor_t p;
    const uint8_t* eq;
    kn_cursor_t key;
    kn_cursor_t val;
    size_t start = i;

    while (i < v.len && v.ptr[i] != ',')
      i++;
    p.ptr = v.ptr + start;
    p.len = i - start;
    i++; /* the comma */
    p = cur_trim(p);
    eq = memchr(p.ptr, '=', p.len);
    if (p.len == 0 || eq == NULL)
      continue;
    key.ptr = p.ptr;
    key.len = (size_t) (eq - p.ptr);
    val.ptr = eq + 1;
    val.len = p.len - key.len - 1;
    if (cur_is(key, "Credential")) {
      a->credential = val;
      a->has_credential = 1;
    } else if (cur_is(key, "SignedHeaders")) {
      a->signed_headers = val;
      a->has_signed_headers = 1;
    } else if (cur_is(key, "Signature")) {
      a->signature = val;
      a->has_signature = 1;
    }
  }
}




static int digits(const char* s, int n) {
  int v = 0;
  while (n-- > 0)
    v = v * 10 + (*s++ - '0');
  return v;
}


/* An X-Amz-Date, YYYYMMDDTHHMMSSZ, to epoch ms; 0 when it is not one. */
static int parse_amz_date(const char* s, int64_t* ms) {
  int i;
  int mo;
  int d;
  int h;
  int mi;
  int se;

  for (i = 0; i < 16; i++) {
    if (i == 8 ? s[i] != 'T'
               : i == 15 ? s[i] != 'Z' : (s[i] < '0' || s[i] > '9'))
      return 0;
  }
  if (s[16] != '\0')
    return 0;
  mo = digits(s + 4, 2);
  d = digits(s + 6, 2);
  h = digits(s + 9, 2);
  mi = digits(s + 11, 2);
  se = digits(s + 13, 2);
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return 0;
  *ms = ((kn_days_from_civil(digits(s, 4), mo, d) * 24 + h) * 60 + mi) *
            INT64_C(60000) +
        se * INT64_C(1000);
  return 1;
}


/* ---- Answers ---- */

static int refuse(kn_svc_reply_t* reply, const char* type, const char* msg,
                  kn_cursor_t quoted) {
  int r = kn_svc_error(reply, type, "%s%.*s", msg, (int) quoted.len,
                       (const char*) quoted.ptr);
  return r;
}


static const kn_cursor_t none = {(const uint8_t*) "", 0};


/* The headers SignedHeaders names, with every value each has in the
 * request, for the signer. `names` is a lowercased, NUL-separated copy of
 * the list. */
static int collect_headers(const kn_serve_http_req_t* req, char* names,
                           size_t names_len, kn_sigv4_header_t** out,
                           size_t* nout) {
  kn_sigv4_header_t* v = NULL;
  size_t n = 0;
  size_t pass;

  for (pass = 0; pass < 2; pass++) {
    size_t count = 0;
    size_t off = 0;
    while (off < names_len) {
      const char* name = names + off;
      size_t nth;
      kn_cursor_t value;
      for (nth = 0; name[0] != '\0' && req->header(req, name, nth, &value);
           nth++) {
        if (v != NULL) {
          v[count].name = kn_cursor_from_str(name);
          v[count].value = value;
        }
        count++;
      }
      off += strlen(name) + 1;
    }
    if (pass == 0) {
      n = count;
      v = kn_calloc(n > 0 ? n : 1, sizeof(*v));
      if (v == NULL)
        return KINESIS_ENOMEM;
    }
  }
  *out = v;
  *nout = n;
  return 0;
}


/* The signature the request should carry, as 64 hex digits in `hex`. */
static int expected_signature(const kn_serve_http_req_t* req,
                              const char* akid, const char* secret,
                              const char* amz_date, const char* region,
                              kn_cursor_t signed_headers,
                              char hex[SIG_HEX + 1]) {
  kn_sigv4_request_t sreq;
  kn_sigv4_credentials_t creds;
  kn_sigv4_header_t* headers = NULL;
  kn_buf_t authz = KN_BUF_INIT;
  char method[16];
  char* names;
  size_t nheaders = 0;
  size_t i;
  int r;

  names = kn_malloc(signed_headers.len + 1);
  if (names == NULL)
    return KINESIS_ENOMEM;
  for (i = 0; i < signed_headers.len; i++) {
    uint8_t c = signed_headers.ptr[i];
    names[i] = c == ';' ? '\0'
               : c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A'))
                                      : (char) c;
  }
  names[signed_headers.len] = '\0';
  r = collect_headers(req, names, signed_headers.len, &headers, &nheaders);
  if (r == 0) {
    memset(&sreq, 0, sizeof(sreq));
    snprintf(method, sizeof(method), "%.*s", (int) req->method.len,
             (const char*) req->method.ptr);
    sreq.method = method;
    sreq.path = req->path;
    sreq.query = req->query;
    sreq.headers = headers;
    sreq.nheaders = nheaders;
    sreq.payload.ptr = req->body;
    sreq.payload.len = req->len;
    creds.access_key_id = akid;
    creds.secret_access_key = secret;
    r = kn_sigv4_sign(&sreq, &creds, amz_date, region, SERVICE, NULL,
                      &authz);
  }
  /* The value ends with "Signature=" and the 64 hex digits. */
  if (r == 0 && authz.len >= SIG_HEX) {
    memcpy(hex, authz.data + authz.len - SIG_HEX, SIG_HEX);
    hex[SIG_HEX] = '\0';
  } else if (r == 0) {
    r = KINESIS_EINVAL;
  }
  kn_buf_free(&authz);
  kn_free(headers);
  kn_free(names);
  return r;
}


/* Whether the two signatures match, looking at every byte of them. */
static int same_signature(kn_cursor_t got, const char* want) {
  uint8_t diff = 0;
  size_t i;

  if (got.len != SIG_HEX)
    return 0;
  for (i = 0; i < SIG_HEX; i++)
    diff |= (uint8_t) (got.ptr[i] ^ (uint8_t) want[i]);
  return diff == 0;
}


int kn_serve_auth_check(const kn_serve_keys_t* keys,
                        const kn_serve_http_req_t* req, int64_t now_ms,
                        kn_svc_reply_t* reply) {
  kn_cursor_t value;
  kn_cursor_t date_hdr;
  kn_cursor_t parts[5];
  authz_t a;
  char amz_date[17];
  char now_date[17];
  char edge_date[17];
  char akid[128];
  char region[64];
  char expected[SIG_HEX + 1];
  const entry_t* key = NULL;
  int64_t date_ms;
  size_t np;
  size_t i;
  size_t start;
  int r;

  if (!req->header(req, "authorization", 0, &value))
    return refuse(reply, "MissingAuthenticationTokenException",
                  "Missing Authentication Token", none);
  parse_authz(value, &a);
  if (!cur_is(a.algorithm, ALGORITHM))
    return refuse(reply, "IncompleteSignatureException",
                  "Unsupported AWS 'algorithm'. Authorization=", value);
  if (!a.has_credential || !a.has_signed_headers || !a.has_signature ||
      !req->header(req, "x-amz-date", 0, &date_hdr)) {
    char msg[512];
    snprintf(msg, sizeof(msg), "%s%s%s%sAuthorization=",
             a.has_credential ? ""
                              : "Authorization header requires 'Credential'"
                                " parameter. ",
             a.has_signature ? ""
                             : "Authorization header requires 'Signature'"
                               " parameter. ",
             a.has_signed_headers ? ""
                                  : "Authorization header requires "
                                    "'SignedHeaders' parameter. ",
             req->header(req, "x-amz-date", 0, &date_hdr)
                 ? ""
                 : "Authorization header requires existence of either a "
                   "'X-Amz-Date' or a 'Date' header. ");
    return refuse(reply, "IncompleteSignatureException", msg, value);
  }

  /* Credential=AKID/DATE/REGION/SERVICE/aws4_request */
  np = 0;
  start = 0;
  for (i = 0; i <= a.credential.len; i++) {
    if (i < a.credential.len && a.credential.ptr[i] != '/')
      continue;
    if (np < 5) {
      parts[np].ptr = a.credential.ptr + start;
      parts[np].len = i - start;
    }
    np++;
    start = i + 1;
  }
  if (np != 5 || parts[0].len == 0 || parts[0].len >= sizeof(akid) ||
      parts[2].len == 0 || parts[2].len >= sizeof(region) ||
      !cur_is(parts[4], "aws4_request"))
    return refuse(reply, "IncompleteSignatureException",
                  "Credential must have exactly 5 slash-delimited elements, "
                  "e.g. keyid/date/region/service/term, got ",
                  a.credential);
  if (date_hdr.len != 16)
    return refuse(reply, "IncompleteSignatureException",
                  "Date must be in ISO-8601 'basic format'. Got ", date_hdr);
  memcpy(amz_date, date_hdr.ptr, 16);
  amz_date[16] = '\0';
  if (!parse_amz_date(amz_date, &date_ms))
    return refuse(reply, "IncompleteSignatureException",
                  "Date must be in ISO-8601 'basic format'. Got ", date_hdr);

  memcpy(akid, parts[0].ptr, parts[0].len);
  akid[parts[0].len] = '\0';
  for (i = 0; i < keys->n && key == NULL; i++)
    if (strcmp(keys->v[i].access_key_id, akid) == 0)
      key = &keys->v[i];
  if (key == NULL) {
    r = refuse(reply, "UnrecognizedClientException",
               "The security token included in the request is invalid.",
               none);
    return r;
  }

  /* The service's messages: "Signature expired: 20150101T000000Z is now
   * earlier than 20150101T000500Z (20150101T001000Z - 5 min.)". */
  if (date_ms < now_ms - SKEW_MS || date_ms > now_ms + SKEW_MS) {
    int expired = date_ms < now_ms - SKEW_MS;
    kn_sigv4_amz_date(now_ms, now_date);
    kn_sigv4_amz_date(expired ? now_ms - SKEW_MS : now_ms + SKEW_MS,
                      edge_date);
    r = kn_svc_error(reply, "InvalidSignatureException",
                     expired ? "Signature expired: %s is now earlier than "
                               "%s (%s - 5 min.)"
                             : "Signature not yet current: %s is still "
                               "later than %s (%s + 5 min.)",
                     amz_date, edge_date, now_date);
    return r;
  }
  if (parts[1].len != 8 || memcmp(parts[1].ptr, amz_date, 8) != 0)
    return kn_svc_error(reply, "InvalidSignatureException",
                        "Date in Credential scope does not match YYYYMMDD "
                        "from ISO-8601 version of date from HTTP: '%.*s' != "
                        "'%.8s', from '%s'.",
                        (int) parts[1].len, (const char*) parts[1].ptr,
                        amz_date, amz_date);
  if (!cur_is(parts[3], SERVICE))
    return kn_svc_error(reply, "InvalidSignatureException",
                        "Credential should be scoped to correct service: "
                        "'%s'. ",
                        SERVICE);
  if (!cur_is(parts[2], keys->region))
    return kn_svc_error(reply, "InvalidSignatureException",
                        "Credential should be scoped to a valid region, not "
                        "'%.*s'. ",
                        (int) parts[2].len, (const char*) parts[2].ptr);
  memcpy(region, parts[2].ptr, parts[2].len);
  region[parts[2].len] = '\0';

  r = expected_signature(req, akid, key->secret, amz_date, region,
                         a.signed_headers, expected);
  if (r == KINESIS_EINVAL)
    return refuse(reply, "IncompleteSignatureException",
                  "Authorization header has an invalid 'SignedHeaders' "
                  "parameter. Authorization=",
                  value);
  if (r != 0)
    return r;
  r = same_signature(a.signature, expected);
  wipe(expected, sizeof(expected));
  if (!r)
    return refuse(reply, "InvalidSignatureException",
                  "The request signature we calculated does not match the "
                  "signature you provided. Check your AWS Secret Access Key "
                  "and signing method. Consult the service documentation "
                  "for details.",
                  none);
  return 0;
}
