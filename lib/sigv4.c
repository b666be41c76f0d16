#include "sigv4.h"
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"

/* Requests with up to this many headers, or query parameters, are sorted in
 * stack storage; only unusual requests allocate. */
#define SIGV4_STACK_ITEMS 32

static const char upper_hex[] = "0123456789ABCDEF";


/*
 * Everything canonical is written through a sink, which either appends to a
 * buffer (kn_sigv4_canonical_request) or feeds SHA-256 directly
 * (kn_sigv4_sign). Signing therefore never materialises the canonical
 * request. Small pieces are staged so that the hash sees few, larger updates.
 * Errors are sticky and checked once at the end.
 */
typedef struct sink_s {
  kn_buf_t* buf;
  kn_sha256_ctx_t* sha;
  size_t staged;
  int err;
  uint8_t stage[256];
} sink_t;


static void sink_init_buf(sink_t* s, kn_buf_t* buf) {
  s->buf = buf;
  s->sha = NULL;
  s->staged = 0;
  s->err = 0;
}


static void sink_init_sha(sink_t* s, kn_sha256_ctx_t* sha) {
  s->buf = NULL;
  s->sha = sha;
  s->staged = 0;
  s->err = 0;
}


static void sink_direct(sink_t* s, const uint8_t* data, size_t len) {
  int r;
  if (s->err != 0)
    return;
  if (s->buf != NULL)
    r = kn_buf_append(s->buf, data, len);
  else
    r = kn_sha256_update(s->sha, data, len);
  if (r != 0)
    s->err = r;
}


static int sink_flush(sink_t* s) {
  if (s->staged > 0)
    sink_direct(s, s->stage, s->staged);
  s->staged = 0;
  return s->err;
}


static void sink_byte(sink_t* s, uint8_t c) {
  if (s->staged == sizeof(s->stage))
    sink_flush(s);
  s->stage[s->staged++] = c;
}


static void sink_write(sink_t* s, const void* data, size_t len) {
  if (len == 0)
    return;
  if (len > sizeof(s->stage) - s->staged) {
    sink_flush(s);
    /* Large pieces (a long token, a long query) skip the staging copy. */
    if (len >= sizeof(s->stage)) {
      sink_direct(s, data, len);
      return;
    }
  }
  memcpy(s->stage + s->staged, data, len);
  s->staged += len;
}


static void sink_str(sink_t* s, const char* str) {
  sink_write(s, str, strlen(str));
}


static uint8_t ascii_lower(uint8_t c) {
  return c >= 'A' && c <= 'Z' ? (uint8_t) (c + ('a' - 'A')) : c;
}


static int is_space(uint8_t c) {
  /* Line breaks count as whitespace so that an obs-fold (multi-line) header
   * value collapses to single spaces like any other run. */
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' ||
         c == '\f';
}


static int is_unreserved(uint8_t c) {
  /* SigV4: "Do not URI-encode any of the unreserved characters that RFC 3986
   * defines: A-Z, a-z, 0-9, hyphen, underscore, period, and tilde." */
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == '~';
}


static int cursor_ok(kn_cursor_t c) {
  return c.ptr != NULL || c.len == 0;
}


/* YYYYMMDDTHHMMSSZ, exactly. */
static int amz_date_ok(const char* d) {
  int i;
  if (d == NULL)
    return 0;
  for (i = 0; i < 16; i++) {
    char c = d[i];
    if (i == 8) {
      if (c != 'T')
        return 0;
    } else if (i == 15) {
      if (c != 'Z')
        return 0;
    } else if (c < '0' || c > '9') {
      return 0;
    }
  }
  return d[16] == '\0';
}


static int date8_ok(const char* d) {
  int i;
  if (d == NULL)
    return 0;
  for (i = 0; i < 8; i++)
    if (d[i] < '0' || d[i] > '9')
      return 0;
  return d[8] == '\0';
}


static int scope_part_ok(const char* s) {
  /* The region and service become part of the credential scope, which is
   * '/'-separated; an empty or slashed part would sign a different scope. */
  return s != NULL && s[0] != '\0' && strchr(s, '/') == NULL;
}


static int header_name_ok(kn_cursor_t name) {
  size_t i;
  if (name.len == 0 || name.ptr == NULL)
    return 0;
  /* ':' would end the name early in the canonical headers, ';' would split
   * it in the signed-headers list, and controls or spaces are not allowed in
   * an HTTP field name at all. An HTTP/2 pseudo-header's leading ':' is
   * the exception (the AWS SDKs sign ":authority"): the first ':' of a
   * canonical line then still ends the name, its second one. */
  for (i = 0; i < name.len; i++) {
    uint8_t c = name.ptr[i];
    if (c <= ' ' || c >= 0x7f || (c == ':' && i > 0) || c == ';')
      return 0;
  }
  return name.len > 1 || name.ptr[0] != ':';
}


static int request_ok(const kn_sigv4_request_t* req) {
  size_t i;
  if (req == NULL || req->method == NULL || req->method[0] == '\0')
    return 0;
  if (!cursor_ok(req->path) || !cursor_ok(req->query) ||
      !cursor_ok(req->payload))
    return 0;
  if (req->headers == NULL && req->nheaders > 0)
    return 0;
  for (i = 0; i < req->nheaders; i++) {
    if (!header_name_ok(req->headers[i].name) ||
        !cursor_ok(req->headers[i].value))
      return 0;
  }
  if (req->payload_hash_hex != NULL && req->payload_hash_hex[0] == '\0')
    return 0;
  return 1;
}


/* Headers, sorted by lowercased name, as pointers into the caller's array. */
typedef struct sorted_headers_s {
  const kn_sigv4_header_t** v;
  size_t n;
  const kn_sigv4_header_t* stack[SIGV4_STACK_ITEMS];
} sorted_headers_t;


static int name_cmp(kn_cursor_t a, kn_cursor_t b) {
  size_t n = a.len < b.len ? a.len : b.len;
  size_t i;
  for (i = 0; i < n; i++) {
    uint8_t x = ascii_lower(a.ptr[i]);
    uint8_t y = ascii_lower(b.ptr[i]);
    if (x != y)
      return x < y ? -1 : 1;
  }
  return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}


static int header_ptr_cmp(const void* a, const void* b) {
  const kn_sigv4_header_t* x = *(const kn_sigv4_header_t* const*) a;
  const kn_sigv4_header_t* y = *(const kn_sigv4_header_t* const*) b;
  int r = name_cmp(x->name, y->name);
  if (r != 0)
    return r;
  /* qsort is not stable. Repeated headers must keep their order, because
   * their values are joined in that order; the pointers all point into one
   * array, so comparing them restores it. */
  return x < y ? -1 : x > y ? 1 : 0;
}


static int sort_headers(const kn_sigv4_request_t* req, sorted_headers_t* sh) {
  size_t i;
  sh->n = req->nheaders;
  sh->v = sh->stack;
  if (sh->n > SIGV4_STACK_ITEMS) {
    if (sh->n > SIZE_MAX / sizeof(sh->v[0]))
      return KINESIS_ENOMEM;
    sh->v = kn_malloc(sh->n * sizeof(sh->v[0]));
    if (sh->v == NULL)
      return KINESIS_ENOMEM;
  }
  for (i = 0; i < sh->n; i++)
    sh->v[i] = &req->headers[i];
  if (sh->n > 1)
    qsort(sh->v, sh->n, sizeof(sh->v[0]), header_ptr_cmp);
  return 0;
}


static void sorted_headers_free(sorted_headers_t* sh) {
  if (sh->v != sh->stack)
    kn_free(sh->v);
  sh->v = NULL;
  sh->n = 0;
}


static void emit_lower(sink_t* s, kn_cursor_t name) {
  size_t i;
  for (i = 0; i < name.len; i++)
    sink_byte(s, ascii_lower(name.ptr[i]));
}


/* SigV4: header values are trimmed and inner whitespace collapsed. */
static void emit_trimmed(sink_t* s, kn_cursor_t value) {
  size_t i;
  int gap = 0;
  int seen = 0;
  for (i = 0; i < value.len; i++) {
    uint8_t c = value.ptr[i];
    if (is_space(c)) {
      gap = seen;
      continue;
    }
    if (gap)
      sink_byte(s, ' ');
    gap = 0;
    seen = 1;
    sink_byte(s, c);
  }
}


/* "name:value\n" per distinct name; repeated names join their values with
 * ',' in request order, as a proxy folding them into one field would. */
static void emit_canonical_headers(sink_t* s, const sorted_headers_t* sh) {
  size_t i;
  for (i = 0; i < sh->n; i++) {
    const kn_sigv4_header_t* h = sh->v[i];
    if (i > 0 && name_cmp(sh->v[i - 1]->name, h->name) == 0) {
      sink_byte(s, ',');
    } else {
      if (i > 0)
        sink_byte(s, '\n');
      emit_lower(s, h->name);
      sink_byte(s, ':');
    }
    emit_trimmed(s, h->value);
  }
  if (sh->n > 0)
    sink_byte(s, '\n');
}


static void emit_signed_headers(sink_t* s, const sorted_headers_t* sh) {
  size_t i;
  for (i = 0; i < sh->n; i++) {
    if (i > 0) {
      if (name_cmp(sh->v[i - 1]->name, sh->v[i]->name) == 0)
        continue;
      sink_byte(s, ';');
    }
    emit_lower(s, sh->v[i]->name);
  }
}


/*
 * Query canonicalisation works on the encoded form without building it: an
 * iterator yields the canonical bytes of one raw component. Existing %XX
 * escapes are decoded first, so "%e1%88%b4", "%E1%88%B4" and the raw UTF-8
 * all become "%E1%88%B4", and "%41" becomes "A". A '%' not followed by two
 * hex digits is literal and is encoded as "%25". '+' is literal too (SigV4
 * uses RFC 3986, not form encoding) and becomes "%2B".
 */
typedef struct uri_iter_s {
  const uint8_t* p;
  const uint8_t* end;
  uint8_t pending[2];
  int npending;
} uri_iter_t;


static void uri_iter_init(uri_iter_t* it, kn_cursor_t c) {
  it->p = c.ptr;
  it->end = c.ptr + c.len;
  it->npending = 0;
}


/* The next canonical byte, or -1 at the end. */
static int uri_next(uri_iter_t* it) {
  uint8_t c;
  int hi;
  int lo;

  if (it->npending > 0)
    return it->pending[2 - it->npending--];
  if (it->p == it->end)
    return -1;
  c = *it->p++;
  if (c == '%' && it->end - it->p >= 2) {
    hi = kn_hex_value(it->p[0]);
    lo = kn_hex_value(it->p[1]);
    if (hi >= 0 && lo >= 0) {
      c = (uint8_t) (hi << 4 | lo);
      it->p += 2;
    }
  }
  if (is_unreserved(c))
    return c;
  it->pending[0] = (uint8_t) upper_hex[c >> 4];
  it->pending[1] = (uint8_t) upper_hex[c & 0x0f];
  it->npending = 2;
  return '%';
}


static int uri_cmp(kn_cursor_t a, kn_cursor_t b) {
  uri_iter_t x;
  uri_iter_t y;
  int cx;
  int cy;
  uri_iter_init(&x, a);
  uri_iter_init(&y, b);
  do {
    cx = uri_next(&x);
    cy = uri_next(&y);
  } while (cx == cy && cx != -1);
  return cx < cy ? -1 : cx > cy ? 1 : 0;
}


static void emit_uri(sink_t* s, kn_cursor_t c) {
  uri_iter_t it;
  int ch;
  uri_iter_init(&it, c);
  while ((ch = uri_next(&it)) != -1)
    sink_byte(s, (uint8_t) ch);
}


typedef struct query_param_s {
  kn_cursor_t name;
  kn_cursor_t value;
} query_param_t;


static int query_param_cmp(const void* a, const void* b) {
  const query_param_t* x = a;
  const query_param_t* y = b;
  int r = uri_cmp(x->name, y->name);
  return r != 0 ? r : uri_cmp(x->value, y->value);
}


/* SigV4: parameters sorted by encoded name, then by encoded value; each one
 * is "name=value", the '=' kept even when the value is empty. */
static void emit_canonical_query(sink_t* s, kn_cursor_t query) {
  query_param_t stack[SIGV4_STACK_ITEMS];
  query_param_t* params = stack;
  size_t cap = 1;
  size_t n = 0;
  size_t i;
  size_t start;

  if (query.len == 0)
    return;
  for (i = 0; i < query.len; i++)
    cap += query.ptr[i] == '&';
  if (cap > SIGV4_STACK_ITEMS) {
    params = cap <= SIZE_MAX / sizeof(*params)
                 ? kn_malloc(cap * sizeof(*params))
                 : NULL;
    if (params == NULL) {
      if (s->err == 0)
        s->err = KINESIS_ENOMEM;
      return;
    }
  }

  /* Split on '&', dropping empty pieces ("a=1&&b=2", a trailing '&'), and
   * each piece on its first '='. */
  start = 0;
  for (i = 0; i <= query.len; i++) {
    const uint8_t* piece;
    const uint8_t* eq;
    size_t len;
    if (i < query.len && query.ptr[i] != '&')
      continue;
    piece = query.ptr + start;
    len = i - start;
    start = i + 1;
    if (len == 0)
      continue;
    eq = memchr(piece, '=', len);
    params[n].name.ptr = piece;
    params[n].name.len = eq != NULL ? (size_t) (eq - piece) : len;
    params[n].value.ptr = eq != NULL ? eq + 1 : piece + len;
    params[n].value.len = eq != NULL ? len - params[n].name.len - 1 : 0;
    n++;
  }

  if (n > 1)
    qsort(params, n, sizeof(*params), query_param_cmp);
  for (i = 0; i < n; i++) {
    if (i > 0)
      sink_byte(s, '&');
    emit_uri(s, params[i].name);
    sink_byte(s, '=');
    emit_uri(s, params[i].value);
  }

  if (params != stack)
    kn_free(params);
}


/*
 * Task 1. The path is written as given: it is already URI-encoded by the
 * caller, and Kinesis always signs "/". (Services other than S3 would also
 * want it normalised and encoded a second time; that is deliberately not
 * done here.)
 */
static int emit_canonical_request(sink_t* s, const kn_sigv4_request_t* req,
                                  const sorted_headers_t* sh,
                                  const char* payload_hash) {
  sink_str(s, req->method);
  sink_byte(s, '\n');
  if (req->path.len > 0)
    sink_write(s, req->path.ptr, req->path.len);
  else
    sink_byte(s, '/');
  sink_byte(s, '\n');
  emit_canonical_query(s, req->query);
  sink_byte(s, '\n');
  emit_canonical_headers(s, sh);
  sink_byte(s, '\n');
  emit_signed_headers(s, sh);
  sink_byte(s, '\n');
  sink_str(s, payload_hash);
  return sink_flush(s);
}


/* The caller's hash when it has one; otherwise the payload is hashed where
 * it lies, with no copy. */
static int payload_hash(const kn_sigv4_request_t* req,
                        char computed[2 * KN_SHA256_LEN + 1],
                        const char** out) {
  uint8_t digest[KN_SHA256_LEN];
  int r;
  if (req->payload_hash_hex != NULL) {
    *out = req->payload_hash_hex;
    return 0;
  }
  r = kn_sha256(req->payload.ptr, req->payload.len, digest);
  if (r != 0)
    return r;
  kn_hex_encode(digest, sizeof(digest), computed);
  *out = computed;
  return 0;
}


/* Puts a buffer back to `len` after a failed append sequence, so failures
 * leave the caller's output as it was. */
static void buf_truncate(kn_buf_t* b, size_t len) {
  if (b == NULL)
    return;
  b->len = len;
  if (b->data != NULL)
    b->data[len] = '\0';
}


int kn_sigv4_canonical_request(const kn_sigv4_request_t* req, kn_buf_t* out,
                               kn_buf_t* signed_headers) {
  sorted_headers_t sh;
  sink_t s;
  char computed[2 * KN_SHA256_LEN + 1];
  const char* hash;
  size_t out_len;
  size_t sh_len;
  int r;

  if (out == NULL || !request_ok(req))
    return KINESIS_EINVAL;
  r = payload_hash(req, computed, &hash);
  if (r != 0)
    return r;
  r = sort_headers(req, &sh);
  if (r != 0)
    return r;

  out_len = out->len;
  sh_len = signed_headers != NULL ? signed_headers->len : 0;
  sink_init_buf(&s, out);
  r = emit_canonical_request(&s, req, &sh, hash);
  if (r == 0 && signed_headers != NULL) {
    sink_init_buf(&s, signed_headers);
    emit_signed_headers(&s, &sh);
    r = sink_flush(&s);
  }
  sorted_headers_free(&sh);

  if (r != 0) {
    buf_truncate(out, out_len);
    if (signed_headers != NULL)
      buf_truncate(signed_headers, sh_len);
  }
  return r;
}


/* "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex hash of canonical request>". */
static int append_string_to_sign(kn_buf_t* out, const char* amz_date,
                                 const char* region, const char* service,
                                 const uint8_t creq_hash[KN_SHA256_LEN]) {
  int r;
  r = kn_buf_append_str(out, SIGV4_ALGORITHM "\n");
  if (r == 0)
    r = kn_buf_append(out, amz_date, 16);
  if (r == 0)
    r = kn_buf_append_byte(out, '\n');
  if (r == 0)
    r = kn_buf_append(out, amz_date, 8);
  if (r == 0)
    r = kn_buf_append_byte(out, '/');
  if (r == 0)
    r = kn_buf_append_str(out, region);
  if (r == 0)
    r = kn_buf_append_byte(out, '/');
  if (r == 0)
    r = kn_buf_append_str(out, service);
  if (r == 0)
    r = kn_buf_append_str(out, "/" SIGV4_TERMINATOR "\n");
  if (r == 0)
    r = kn_buf_append_hex(out, creq_hash, KN_SHA256_LEN);
  return r;
}


int kn_sigv4_string_to_sign(const char* amz_date, const char* region,
                            const char* service, kn_cursor_t canonical_request,
                            kn_buf_t* out) {
  uint8_t hash[KN_SHA256_LEN];
  size_t len;
  int r;

  if (out == NULL || !amz_date_ok(amz_date) || !scope_part_ok(region) ||
      !scope_part_ok(service) || !cursor_ok(canonical_request))
    return KINESIS_EINVAL;
  r = kn_sha256(canonical_request.ptr, canonical_request.len, hash);
  if (r != 0)
    return r;
  len = out->len;
  r = append_string_to_sign(out, amz_date, region, service, hash);
  if (r != 0)
    buf_truncate(out, len);
  return r;
}


/* A memset the compiler may not drop: key material should not outlive its
 * use on the stack. */
static void wipe(void* p, size_t len) {
  volatile uint8_t* v = p;
  while (len-- > 0)
    *v++ = 0;
}


static int derive_key(const char* secret, size_t secret_len,
                      const char* date8, const char* region,
                      const char* service, uint8_t key[KN_SHA256_LEN]) {
  uint8_t seed[64];
  uint8_t k[KN_SHA256_LEN];
  kn_sha256_ctx_t ctx;
  int r;

  /* kSecret = "AWS4" + secret, used as the first HMAC key. A key longer than
   * the 64-byte block is replaced by its SHA-256 (RFC 2104 section 2), so
   * long secrets are hashed in two pieces instead of being concatenated in a
   * heap copy: the result is the same key. */
  if (secret_len <= sizeof(seed) - 4) {
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, secret_len);
    r = kn_hmac_sha256(seed, 4 + secret_len, (const uint8_t*) date8, 8, k);
  } else {
    r = kn_sha256_start(&ctx);
    if (r == 0)
      r = kn_sha256_update(&ctx, (const uint8_t*) "AWS4", 4);
    if (r == 0)
      r = kn_sha256_update(&ctx, (const uint8_t*) secret, secret_len);
    if (r == 0)
      r = kn_sha256_finish(&ctx, seed);
    if (r == 0)
      r = kn_hmac_sha256(seed, KN_SHA256_LEN, (const uint8_t*) date8, 8, k);
    wipe(&ctx, sizeof(ctx));
  }
  if (r == 0)
    r = kn_hmac_sha256(k, sizeof(k), (const uint8_t*) region, strlen(region),
                       k);
  if (r == 0)
    r = kn_hmac_sha256(k, sizeof(k), (const uint8_t*) service,
                       strlen(service), k);
  if (r == 0)
    r = kn_hmac_sha256(k, sizeof(k), (const uint8_t*) SIGV4_TERMINATOR,
                       sizeof(SIGV4_TERMINATOR) - 1, k);
  if (r == 0)
    memcpy(key, k, sizeof(k));
  wipe(seed, sizeof(seed));
  wipe(k, sizeof(k));
  return r;
}


int kn_sigv4_signing_key(const char* secret, const char* date8,
                         const char* region, const char* service,
                         kn_sigv4_key_cache_t* cache,
                         uint8_t key[KN_SHA256_LEN]) {
  uint8_t secret_hash[KN_SHA256_LEN];
  size_t secret_len;
  size_t region_len;
  size_t service_len;
  int r;

  if (secret == NULL || !date8_ok(date8) || !scope_part_ok(region) ||
      !scope_part_ok(service) || key == NULL)
    return KINESIS_EINVAL;
  secret_len = strlen(secret);
  if (cache == NULL)
    return derive_key(secret, secret_len, date8, region, service, key);

  /* The cache is keyed by a hash of the secret, so it never holds the
   * secret itself, and rotated credentials miss it. One SHA-256 of a short
   * string is much cheaper than the four HMACs it saves. */
  r = kn_sha256((const uint8_t*) secret, secret_len, secret_hash);
  if (r != 0)
    return r;
  if (cache->valid && memcmp(cache->date, date8, 9) == 0 &&
      strcmp(cache->region, region) == 0 &&
      strcmp(cache->service, service) == 0 &&
      memcmp(cache->secret_hash, secret_hash, sizeof(secret_hash)) == 0) {
    memcpy(key, cache->key, KN_SHA256_LEN);
    return 0;
  }

  cache->valid = 0;
  r = derive_key(secret, secret_len, date8, region, service, key);
  if (r != 0)
    return r;
  /* A region or service too long for the cache is still signed correctly,
   * just not cached. */
  region_len = strlen(region);
  service_len = strlen(service);
  if (region_len < sizeof(cache->region) &&
      service_len < sizeof(cache->service)) {
    memcpy(cache->date, date8, 9);
    memcpy(cache->region, region, region_len + 1);
    memcpy(cache->service, service, service_len + 1);
    memcpy(cache->secret_hash, secret_hash, sizeof(secret_hash));
    memcpy(cache->key, key, KN_SHA256_LEN);
    cache->valid = 1;
  }
  return 0;
}


int kn_sigv4_sign(const kn_sigv4_request_t* req,
                  const kn_sigv4_credentials_t* creds, const char* amz_date,
                  const char* region, const char* service,
                  kn_sigv4_key_cache_t* cache, kn_buf_t* authz) {
  sorted_headers_t sh;
  kn_sha256_ctx_t ctx;
  sink_t s;
  char computed[2 * KN_SHA256_LEN + 1];
  char date8[9];
  const char* hash;
  uint8_t creq_hash[KN_SHA256_LEN];
  uint8_t key[KN_SHA256_LEN];
  uint8_t signature[KN_SHA256_LEN];
  size_t start;
  size_t sts_start;
  size_t estimate;
  size_t i;
  int r;

  if (authz == NULL || creds == NULL || creds->access_key_id == NULL ||
      creds->access_key_id[0] == '\0' || creds->secret_access_key == NULL ||
      !amz_date_ok(amz_date) || !scope_part_ok(region) ||
      !scope_part_ok(service) || !request_ok(req))
    return KINESIS_EINVAL;

  memcpy(date8, amz_date, 8);
  date8[8] = '\0';
  r = kn_sigv4_signing_key(creds->secret_access_key, date8, region, service,
                           cache, key);
  if (r != 0)
    return r;
  r = payload_hash(req, computed, &hash);
  if (r != 0)
    goto out;
  r = sort_headers(req, &sh);
  if (r != 0)
    goto out;

  /* Tasks 1 and 2: the canonical request is hashed as it is produced. */
  r = kn_sha256_start(&ctx);
  if (r == 0) {
    sink_init_sha(&s, &ctx);
    r = emit_canonical_request(&s, req, &sh, hash);
  }
  if (r == 0)
    r = kn_sha256_finish(&ctx, creq_hash);

  /* One reservation for the whole value and, after it, the string to sign,
   * which is built in the same buffer's spare room and cut off again. */
  start = authz->len;
  if (r == 0) {
    estimate = 2 * (strlen(creds->access_key_id) + strlen(region) +
                    strlen(service)) +
               256;
    for (i = 0; i < sh.n; i++)
      estimate += sh.v[i]->name.len + 1;
    r = kn_buf_reserve(authz, estimate);
  }

  /* "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=a;b,
   * Signature=" */
  if (r == 0) {
    sink_init_buf(&s, authz);
    sink_str(&s, SIGV4_ALGORITHM " Credential=");
    sink_str(&s, creds->access_key_id);
    sink_byte(&s, '/');
    sink_write(&s, date8, 8);
    sink_byte(&s, '/');
    sink_str(&s, region);
    sink_byte(&s, '/');
    sink_str(&s, service);
    sink_str(&s, "/" SIGV4_TERMINATOR ", SignedHeaders=");
    emit_signed_headers(&s, &sh);
    sink_str(&s, ", Signature=");
    r = sink_flush(&s);
  }
  sorted_headers_free(&sh);

  /* Tasks 3 and 4: HMAC the string to sign with the derived key. */
  sts_start = authz->len;
  if (r == 0)
    r = append_string_to_sign(authz, amz_date, region, service, creq_hash);
  if (r == 0)
    r = kn_hmac_sha256(key, sizeof(key), authz->data + sts_start,
                       authz->len - sts_start, signature);
  if (r == 0) {
    buf_truncate(authz, sts_start);
    r = kn_buf_append_hex(authz, signature, sizeof(signature));
  }
  if (r != 0)
    buf_truncate(authz, start);

out:
  wipe(key, sizeof(key));
  return r;
}


/*
 * Days since 1970-01-01 to a proleptic Gregorian date, without the C
 * library's time zone machinery. Counting years from 1 March makes the leap
 * day the last day of the year, so every month length except February's is
 * fixed, and 400-year eras (146097 days) repeat exactly.
 */
static void civil_from_days(int64_t days, int* year, int* month, int* day) {
  int64_t z = days + 719468; /* days since 0000-03-01 */
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;                    /* [0, 146096] */
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* [0, 365] */
  int64_t mp = (5 * doy + 2) / 153; /* 0 = March .. 11 = February */
  int64_t m = mp < 10 ? mp + 3 : mp - 9;
  *day = (int) (doy - (153 * mp + 2) / 5 + 1);
  *month = (int) m;
  *year = (int) (yoe + era * 400 + (m <= 2));
}


static void put_digits(char* out, int value, int width) {
  while (width-- > 0) {
    out[width] = (char) ('0' + value % 10);
    value /= 10;
  }
}


void kn_sigv4_amz_date(int64_t epoch_ms, char out[17]) {
  /* The format has four year digits: clamp to 0000-01-01T00:00:00Z ..
   * 9999-12-31T23:59:59Z rather than print something unparseable. */
  const int64_t min_s = INT64_C(-62167219200);
  const int64_t max_s = INT64_C(253402300799);
  int64_t secs;
  int64_t days;
  int64_t sod;
  int year;
  int month;
  int day;

  /* Floor division, so that -1 ms is 23:59:59 on the previous day. */
  secs = epoch_ms / 1000 - (epoch_ms % 1000 < 0);
  if (secs < min_s)
    secs = min_s;
  if (secs > max_s)
    secs = max_s;
  days = secs / 86400 - (secs % 86400 < 0);
  sod = secs - days * 86400;
  civil_from_days(days, &year, &month, &day);

  put_digits(out, year, 4);
  put_digits(out + 4, month, 2);
  put_digits(out + 6, day, 2);
  out[8] = 'T';
  put_digits(out + 9, (int) (sod / 3600), 2);
  put_digits(out + 11, (int) (sod / 60 % 60), 2);
  put_digits(out + 13, (int) (sod % 60), 2);
  out[15] = 'Z';
  out[16] = '\0';
}
