#include "svc.h"
#include "internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "svc_internal.h"
#include "validate.h"

/* The service object, the dispatch of X-Amz-Target, and the JSON writer
 * of the replies (svc_internal.h). The requests are read in svc_ops.c. */

#define TARGET_PREFIX "Kinesis_20131202."
#define ADMIN_PREFIX "LibkinesisServe."


int kn_svc_new(const kn_svc_options_t* opts, kn_svc_t** out) {
  const char* region = "us-east-1";
  const char* account = "000000000000";
  kn_svc_t* svc;
  size_t i;

  if (out == NULL)
    return KINESIS_EINVAL;
  if (opts != NULL && opts->region != NULL)
    region = opts->region;
  if (opts != NULL && opts->account_id != NULL)
    account = opts->account_id;
  /* ARNs carry both; the account is 12 digits there (the model's pattern),
   * and a region with a ':' would make ARNs that cannot be read back. */
  if (region[0] == '\0' || strchr(region, ':') != NULL ||
      strlen(account) != 12)
    return KINESIS_EINVAL;
  for (i = 0; i < 12; i++)
    if (account[i] < '0' || account[i] > '9')
      return KINESIS_EINVAL;
  if (opts != NULL && (opts->limits_off & ~KN_SVC_LIMITS_ALL) != 0)
    return KINESIS_EINVAL;
  svc = kn_calloc(1, sizeof(*svc));
  if (svc == NULL)
    return KINESIS_ENOMEM;
  svc->region = kn_strdup(region);
  svc->account_id = kn_strdup(account);
  if (svc->region == NULL || svc->account_id == NULL) {
    kn_free(svc->region);
    kn_free(svc->account_id);
    kn_free(svc);
    return KINESIS_ENOMEM;
  }
  svc->limits_off = opts != NULL ? opts->limits_off : 0;
  kn_svc_store_init(&svc->store, opts != NULL ? opts->transition_ms : 0);
  *out = svc;
  return 0;
}


void kn_svc_free(kn_svc_t* svc) {
  if (svc == NULL)
    return;
  /* The front frees its subscriptions first; any left would leak. */
  while (svc->subs != NULL)
    kn_svc_sub_free(svc, svc->subs);
  kn_svc_store_cleanup(&svc->store);
  kn_free(svc->scheds);
  kn_free(svc->region);
  kn_free(svc->account_id);
  kn_free(svc);
}


void kn_svc_set_entry_fault(kn_svc_t* svc, kn_svc_entry_fault_cb cb,
                            void* arg) {
  svc->entry_fault = cb;
  svc->entry_fault_arg = arg;
}


int kn_svc_handle(kn_svc_t* svc, int64_t now_ms, const char* target,
                  const uint8_t* body, size_t len, kn_svc_reply_t* reply) {
  int op = -1;
  int r;

  reply->status = 200;
  reply->error_type = NULL;
  kn_buf_reset(&reply->body);
  /* Transitions are due by the caller's clock, so they happen here, before
   * the request sees the streams. */
  kn_svc_store_tick(&svc->store, now_ms);
  /* So are the scheduled reshards, once the transitions are done. */
  kn_svc_reshards_tick(svc, now_ms);
  if (target != NULL &&
      strncmp(target, TARGET_PREFIX, sizeof(TARGET_PREFIX) - 1) == 0)
    op = kn_svc_op_find(target + sizeof(TARGET_PREFIX) - 1, 0);
  else if (target != NULL &&
           strncmp(target, ADMIN_PREFIX, sizeof(ADMIN_PREFIX) - 1) == 0)
    op = kn_svc_op_find(target + sizeof(ADMIN_PREFIX) - 1, 1);
  if (op < 0) {
    r = kn_svc_error(reply, "UnknownOperationException", "%s",
                     "The action or operation requested is invalid.");
    return r == KN_SVC_REPLIED ? 0 : r;
  }
  r = kn_svc_op_run(svc, op, now_ms, body, len, reply);
  if (r < 0) {
    /* Nothing half-written goes out: the front answers 500 itself. */
    kn_buf_reset(&reply->body);
    reply->status = 500;
    reply->error_type = "InternalFailure";
  }
  return r;
}


/* ---- the JSON writer ---- */


void kn_svc_out_init(kn_svc_out_t* o, kn_buf_t* b) {
  o->b = b;
  o->err = 0;
  o->first = 1;
}


static void out_raw(kn_svc_out_t* o, const char* s, size_t n) {
  if (o->err == 0)
    o->err = kn_buf_append(o->b, s, n);
}


/* A JSON string. Well-formed UTF-8 passes as it is, and each byte that is
 * not becomes U+FFFD. */
static void out_quoted(kn_svc_out_t* o, const char* s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char* u = (const unsigned char*) s;
  size_t i;
  size_t run = 0;
  out_raw(o, "\"", 1);
  for (i = 0; i < n; i++) {
    unsigned char c = u[i];
    char esc[6];
    if (c >= 0x80) {
      /* A message may quote raw bytes (a header) or be cut inside a
       * character: what is not UTF-8 becomes U+FFFD, so the body stays
       * JSON. */
      unsigned cp;
      size_t len = kn_utf8_char(u + i, n - i, &cp);
      if (len > 0) {
        i += len - 1;
        continue;
      }
      out_raw(o, s + run, i - run);
      run = i + 1;
      out_raw(o, "\\ufffd", 6);
      continue;
    }
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out_raw(o, s + run, i - run);
    run = i + 1;
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char) c;
      out_raw(o, esc, 2);
    } else {
      memcpy(esc, "\\u00", 4);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xF];
      out_raw(o, esc, 6);
    }
  }
  out_raw(o, s + run, n - run);
  out_raw(o, "\"", 1);
}


/* The comma before a value, and its member name. */
static void out_key(kn_svc_out_t* o, const char* key) {
  if (!o->first)
    out_raw(o, ",", 1);
  o->first = 0;
  if (key != NULL) {
    out_quoted(o, key, strlen(key));
    out_raw(o, ":", 1);
  }
}


void kn_svc_out_begin(kn_svc_out_t* o, const char* key) {
  out_key(o, key);
  out_raw(o, "{", 1);
  o->first = 1;
}


void kn_svc_out_end(kn_svc_out_t* o) {
  out_raw(o, "}", 1);
  o->first = 0;
}


void kn_svc_out_array(kn_svc_out_t* o, const char* key) {
  out_key(o, key);
  out_raw(o, "[", 1);
  o->first = 1;
}


void kn_svc_out_array_end(kn_svc_out_t* o) {
  out_raw(o, "]", 1);
  o->first = 0;
}


void kn_svc_out_strn(kn_svc_out_t* o, const char* key, const char* s,
                     size_t n) {
  out_key(o, key);
  out_quoted(o, s, n);
}


void kn_svc_out_str(kn_svc_out_t* o, const char* key, const char* s) {
  kn_svc_out_strn(o, key, s, strlen(s));
}


void kn_svc_out_int(kn_svc_out_t* o, const char* key, int64_t v) {
  out_key(o, key);
  if (o->err == 0)
    o->err = kn_buf_appendf(o->b, "%" PRId64, v);
}


void kn_svc_out_bool(kn_svc_out_t* o, const char* key, int v) {
  out_key(o, key);
  out_raw(o, v ? "true" : "false", v ? 4 : 5);
}


void kn_svc_out_time(kn_svc_out_t* o, const char* key, int64_t ms) {
  int64_t sec = ms / 1000;
  int64_t frac = ms % 1000;
  if (frac < 0) {
    sec--;
    frac += 1000;
  }
  out_key(o, key);
  if (o->err == 0)
    o->err = kn_buf_appendf(o->b, "%" PRId64 ".%03d", sec, (int) frac);
}


void kn_svc_out_base64(kn_svc_out_t* o, const char* key, const uint8_t* data,
                       size_t len) {
  out_key(o, key);
  out_raw(o, "\"", 1);
  if (o->err == 0)
    o->err = kn_buf_append_base64(o->b, data, len);
  out_raw(o, "\"", 1);
}


void kn_svc_out_token(kn_svc_out_t* o, const char* key,
                      const kn_svc_token_t* t) {
  /* Base64 needs no escaping. */
  out_key(o, key);
  out_raw(o, "\"", 1);
  if (o->err == 0)
    o->err = kn_svc_token_encode(t, o->b);
  out_raw(o, "\"", 1);
}


int kn_svc_error(kn_svc_reply_t* reply, const char* type, const char* fmt,
                 ...) {
  /* Messages quote what the request held (a name, a key); past this they
   * are cut, which no client reads anyway. */
  char msg[1024];
  kn_svc_out_t o;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (n < 0)
    msg[0] = '\0';
  kn_buf_reset(&reply->body);
  reply->status = 400;
  reply->error_type = type;
  kn_svc_out_init(&o, &reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_str(&o, "__type", type);
  kn_svc_out_str(&o, "message", msg);
  kn_svc_out_end(&o);
  return o.err == 0 ? KN_SVC_REPLIED : KINESIS_ENOMEM;
}
