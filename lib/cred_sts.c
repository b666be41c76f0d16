#include "cred_sts.h"
#include "internal.h"

#include "buf.h"
#include "codec.h"
#include "sigv4.h"
#include "url.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


#define KN_STS_VERSION "2011-06-15"
#define KN_STS_RETRY_BASE_MS 200
#define KN_STS_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

/* Deeper documents are not STS answers. */
#define KN_XML_MAX_DEPTH 16

/* A service message longer than this is cut: it goes into one line. */
#define KN_STS_SERVICE_MESSAGE_MAX 300


/* ---- The XML reader ---- */


static int xml_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         c == ':' || (unsigned char) c >= 0x80;
}


static int xml_name_char(char c) {
  return xml_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}


static int xml_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


/* The length of the name at xml[i], or 0. */
static size_t xml_name_len(const char* xml, size_t len, size_t i) {
  size_t n = 0;
  if (i >= len || !xml_name_start(xml[i]))
    return 0;
  while (i + n < len && xml_name_char(xml[i + n]))
    n++;
  return n;
}


/* The local part of a name: "sts:Code" matches "Code". */
static void xml_local(const char** name, size_t* len) {
  size_t i;
  for (i = *len; i > 0; i--) {
    if ((*name)[i - 1] == ':') {
      *name += i;
      *len -= i;
      return;
    }
  }
}


static int xml_find(const char* xml, size_t len, size_t from, const char* s,
                    size_t* at) {
  size_t n = strlen(s);
  size_t i;
  for (i = from; i + n <= len; i++) {
    if (memcmp(xml + i, s, n) == 0) {
      *at = i;
      return 1;
    }
  }
  return 0;
}


static int utf8_append(kn_buf_t* b, unsigned long cp) {
  uint8_t u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (uint8_t) cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (uint8_t) (0xC0 | (cp >> 6));
    u[1] = (uint8_t) (0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (uint8_t) (0xE0 | (cp >> 12));
    u[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
    u[2] = (uint8_t) (0x80 | (cp & 0x3F));
    n = 3;
  } else {
    u[0] = (uint8_t) (0xF0 | (cp >> 18));
    u[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3F));
    u[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3F));
    u[3] = (uint8_t) (0x80 | (cp & 0x3F));
    n = 4;
  }
  return kn_buf_append(b, u, n);
}


/*
 * Decodes character data xml[from, to) into `b`, or only checks it when
 * `b` is NULL. XML 1.0 predefined entities and character references only.
 */
static int xml_text(const char* xml, size_t from, size_t to, kn_buf_t* b) {
  static const struct {
    const char* name;
    char c;
  } entities[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
  size_t i = from;

  while (i < to) {
    const char* semi;
    size_t n;
    size_t k;
    if (xml[i] != '&') {
      size_t run = i;
      while (run < to && xml[run] != '&')
        run++;
      if (b != NULL && kn_buf_append(b, xml + i, run - i) != 0)
        return KINESIS_ENOMEM;
      i = run;
      continue;
    }
    semi = memchr(xml + i, ';', to - i);
    if (semi == NULL)
      return KINESIS_EPROTO;
    n = (size_t) (semi - (xml + i)) - 1; /* between '&' and ';' */
    if (n >= 2 && xml[i + 1] == '#') {
      unsigned long cp = 0;
      int hex = xml[i + 2] == 'x';
      size_t d = hex ? i + 3 : i + 2;
      if (d >= (size_t) (semi - xml) || (size_t) (semi - xml) - d > 8)
        return KINESIS_EPROTO;
      for (; d < (size_t) (semi - xml); d++) {
        int v = hex ? kn_hex_value(xml[d])
                    : (xml[d] >= '0' && xml[d] <= '9' ? xml[d] - '0' : -1);
        if (v < 0)
          return KINESIS_EPROTO;
        cp = cp * (hex ? 16 : 10) + (unsigned long) v;
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return KINESIS_EPROTO;
      if (b != NULL && utf8_append(b, cp) != 0)
        return KINESIS_ENOMEM;
    } else {
      for (k = 0; k < KN_ARRAY_SIZE(entities); k++)
        if (strlen(entities[k].name) == n &&
            memcmp(xml + i + 1, entities[k].name, n) == 0)
          break;
      if (k == KN_ARRAY_SIZE(entities))
        return KINESIS_EPROTO;
      if (b != NULL && kn_buf_append_byte(b, (uint8_t) entities[k].c) != 0)
        return KINESIS_ENOMEM;
    }
    i = (size_t) (semi - xml) + 1;
  }
  return 0;
}


typedef struct xml_name_s {
  const char* p;
  size_t len;
} xml_name_t;


static void buf_scrub_free(kn_buf_t* b) {
  if (b->data != NULL)
    memset(b->data, 0, b->cap);
  kn_buf_free(b);
}


int kn_sts_xml_text(const char* xml, size_t len, const char* path, char** out) {
  xml_name_t want[KN_XML_MAX_DEPTH];
  xml_name_t stack[KN_XML_MAX_DEPTH];
  size_t nwant = 0;
  size_t depth = 0;
  size_t roots = 0;
  size_t i = 0;
  int collecting = 0; /* inside the wanted element */
  int found = 0;
  int nested = 0; /* the wanted element holds an element */
  kn_buf_t text = KN_BUF_INIT;
  const char* s;
  int r = KINESIS_EPROTO;

  *out = NULL;
  if (xml == NULL || path == NULL || path[0] == '\0')
    return KINESIS_EINVAL;
  for (s = path; nwant < KN_XML_MAX_DEPTH;) {
    size_t n = strcspn(s, "/");
    want[nwant].p = s;
    want[nwant++].len = n;
    if (s[n] == '\0')
      break;
    s += n + 1;
  }
  if (memchr(xml, '\0', len) != NULL)
    goto done;

  while (i < len) {
    size_t at;
    if (xml[i] != '<') {
      size_t end = i;
      while (end < len && xml[end] != '<')
        end++;
      if (depth == 0) {
        /* Only whitespace outside the root element. */
        for (; i < end; i++)
          if (!xml_space(xml[i]))
            goto done;
        continue;
      }
      r = xml_text(xml, i, end, collecting && depth == nwant ? &text : NULL);
      if (r != 0)
        goto done;
      r = KINESIS_EPROTO;
      i = end;
      continue;
    }
    if (i + 1 >= len)
      goto done;
    if (xml[i + 1] == '?') {
      /* The XML declaration or a processing instruction: not in text. */
      if (depth > 0 || !xml_find(xml, len, i + 2, "?>", &at))
        goto done;
      i = at + 2;
      continue;
    }
    if (len - i >= 4 && memcmp(xml + i, "<!--", 4) == 0) {
      if (!xml_find(xml, len, i + 4, "-->", &at))
        goto done;
      i = at + 3;
      continue;
    }
    if (len - i >= 9 && memcmp(xml + i, "<![CDATA[", 9) == 0) {
      if (depth == 0 || !xml_find(xml, len, i + 9, "]]>", &at))
        goto done;
      if (collecting && depth == nwant &&
          kn_buf_append(&text, xml + i + 9, at - i - 9) != 0) {
        r = KINESIS_ENOMEM;
        goto done;
      }
      i = at + 3;
      continue;
    }
    if (xml[i + 1] == '!')
      goto done; /* DOCTYPE and entity declarations are refused */
    if (xml[i + 1] == '/') {
      size_t n = xml_name_len(xml, len, i + 2);
      if (n == 0 || depth == 0 || n != stack[depth - 1].len ||
          memcmp(xml + i + 2, stack[depth - 1].p, n) != 0)
        goto done;
      i += 2 + n;
      while (i < len && xml_space(xml[i]))
        i++;
      if (i >= len || xml[i] != '>')
        goto done;
      i++;
      if (collecting && depth == nwant) {
        collecting = 0;
        found = 1;
      }
      depth--;
      continue;
    }
    {
      size_t n = xml_name_len(xml, len, i + 1);
      int self_closing = 0;
      size_t k;
      if (n == 0 || depth == KN_XML_MAX_DEPTH || (depth == 0 && roots > 0))
        goto done;
      stack[depth].p = xml + i + 1;
      stack[depth].len = n;
      i += 1 + n;
      /* Attributes: name = "value" or 'value', each after whitespace. */
      for (;;) {
        size_t an;
        char q;
        const char* close;
        int spaced = 0;
        while (i < len && xml_space(xml[i])) {
          i++;
          spaced = 1;
        }
        if (i >= len)
          goto done;
        if (xml[i] == '>') {
          i++;
          break;
        }
        if (xml[i] == '/' && i + 1 < len && xml[i + 1] == '>') {
          i += 2;
          self_closing = 1;
          break;
        }
        an = xml_name_len(xml, len, i);
        if (!spaced || an == 0)
          goto done;
        i += an;
        while (i < len && xml_space(xml[i]))
          i++;
        if (i >= len || xml[i] != '=')
          goto done;
        i++;
        while (i < len && xml_space(xml[i]))
          i++;
        if (i >= len || (xml[i] != '"' && xml[i] != '\''))
          goto done;
        q = xml[i];
        close = memchr(xml + i + 1, q, len - i - 1);
        if (close == NULL ||
            memchr(xml + i + 1, '<', (size_t) (close - xml) - i - 1) != NULL)
          goto done;
        r = xml_text(xml, i + 1, (size_t) (close - xml), NULL);
        if (r != 0)
          goto done;
        r = KINESIS_EPROTO;
        i = (size_t) (close - xml) + 1;
      }
      if (depth == 0)
        roots++;
      if (collecting)
        nested = 1;
      depth++;
      if (!found && !collecting && depth == nwant) {
        for (k = 0; k < nwant; k++) {
          const char* name = stack[k].p;
          size_t name_len = stack[k].len;
          xml_local(&name, &name_len);
          if (name_len != want[k].len || memcmp(name, want[k].p, name_len) != 0)
            break;
        }
        if (k == nwant) {
          collecting = 1;
          kn_buf_reset(&text);
        }
      }
      if (self_closing) {
        if (collecting && depth == nwant) {
          collecting = 0;
          found = 1;
        }
        depth--;
      }
    }
  }
  if (depth != 0 || roots != 1)
    goto done;
  if (!found) {
    r = 0;
    goto done;
  }
  if (nested)
    goto done;
  if (text.data == NULL && kn_buf_reserve(&text, 1) != 0) {
    r = KINESIS_ENOMEM;
    goto done;
  }
  *out = kn_buf_steal(&text);
  return 1;

done:
  buf_scrub_free(&text);
  return r;
}


/* ---- Endpoint and session name ---- */


int kn_sts_endpoint(const char* region, const char* services_endpoint,
                    const char* profile_endpoint, char** out) {
  size_t len;
  int r;

  r = kn_profile_endpoint("AWS_ENDPOINT_URL_STS", services_endpoint,
                          profile_endpoint, out);
  if (r != 0 || *out != NULL)
    return r;
  if (region != NULL && region[0] != '\0') {
    len = strlen("https://sts..amazonaws.com") + strlen(region) + 1;
    *out = kn_malloc(len);
    if (*out != NULL)
      snprintf(*out, len, "https://sts.%s.amazonaws.com", region);
  } else {
    *out = kn_strdup("https://sts.amazonaws.com");
  }
  return *out == NULL ? KINESIS_ENOMEM : 0;
}


void kn_sts_default_session_name(char out[48]) {
  snprintf(out, 48, "libkinesis-%lld", (long long) kn_now_ms());
}


/* ---- The call ---- */


struct kn_sts_call_s {
  uv_loop_t* loop;
  kn_http_t* http;
  uv_timer_t timer; /* backoff between attempts */
  kn_http_req_t* req;
  kn_cred_source_cb cb;
  void* arg;
  char* url;  /* endpoint + "/" */
  char* host; /* host[:port], as curl sends it in Host */
  char* region;
  char* role_arn;
  char* token; /* the web identity token (a secret), or NULL */
  kn_credentials_t source;
  kn_buf_t body; /* holds the token for web identity: scrubbed */
  const char* action;
  uint32_t timeout_ms;
  uint32_t retry_base_ms;
  int attempts;
  /* KN_LIFE_CLOSING: canceled. KN_LIFE_FREEING: the timer is closing; cb
   * runs in its close callback. */
  kn_life_t life;
  kn_sts_call_t** out;
  int status;
  kn_credentials_t creds;
  char message[1024];
};


static void scrub_str(char* s) {
  volatile char* v;
  if (s == NULL)
    return;
  for (v = s; *v != '\0'; v++)
    *v = '\0';
  kn_free(s);
}


static int form_append(kn_buf_t* b, const char* name, const char* value) {
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char* v;

  if (b->len > 0 && kn_buf_append_byte(b, '&') != 0)
    return KINESIS_ENOMEM;
  if (kn_buf_append_str(b, name) != 0 || kn_buf_append_byte(b, '=') != 0)
    return KINESIS_ENOMEM;
  /* application/x-www-form-urlencoded with RFC 3986's unreserved set kept
   * as it is, everything else percent-encoded, as the SDKs send it. */
  for (v = (const unsigned char*) value; *v != '\0'; v++) {
    int r;
    if ((*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') ||
        (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.' ||
        *v == '~') {
      r = kn_buf_append_byte(b, *v);
    } else {
      char e[3];
      e[0] = '%';
      e[1] = hex[*v >> 4];
      e[2] = hex[*v & 0xF];
      r = kn_buf_append(b, e, 3);
    }
    if (r != 0)
      return KINESIS_ENOMEM;
  }
  return 0;
}


static void call_free(kn_sts_call_t* call) {
  kn_free(call->url);
  kn_free(call->host);
  kn_free(call->region);
  kn_free(call->role_arn);
  scrub_str(call->token);
  kn_credentials_clear(&call->source);
  kn_credentials_clear(&call->creds);
  buf_scrub_free(&call->body);
  kn_free(call);
}


static void on_timer_closed(uv_handle_t* h) {
  kn_sts_call_t* call = h->data;
  if (call->out != NULL)
    *call->out = NULL;
  if (call->cb != NULL) {
    if (call->status == 0)
      call->cb(0, &call->creds, NULL, call->arg);
    else
      call->cb(call->status, NULL, call->message, call->arg);
  }
  call_free(call);
}


/* Ends the call: the callback runs once the timer has closed, so that no
 * handle is left open when it runs. */
static void call_finish(kn_sts_call_t* call, int status) {
  (void) kn_life_begin_free(&call->life);
  call->status = status;
  if (status != 0)
    kn_credentials_clear(&call->creds);
  uv_timer_stop(&call->timer);
  uv_close((uv_handle_t*) &call->timer, on_timer_closed);
}


static void call_fail(kn_sts_call_t* call, int status, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));


static void call_fail(kn_sts_call_t* call, int status, const char* fmt, ...) {
  va_list ap;
  int n;

  n = snprintf(call->message, sizeof(call->message),
               "STS %s for %s at %s: ", call->action, call->role_arn,
               call->url);
  if (n < 0 || (size_t) n >= sizeof(call->message))
    n = 0;
  va_start(ap, fmt);
  vsnprintf(call->message + n, sizeof(call->message) - (size_t) n, fmt, ap);
  va_end(ap);
  call_finish(call, status);
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg);


static int call_send(kn_sts_call_t* call) {
  char amz_date[17];
  kn_sigv4_header_t sh[4];
  size_t nsh = 0;
  kn_sigv4_request_t sreq;
  kn_sigv4_credentials_t screds;
  kn_buf_t authz = KN_BUF_INIT;
  kn_buf_t date_line = KN_BUF_INIT;
  kn_buf_t token_line = KN_BUF_INIT;
  const char* headers[6];
  size_t nh = 0;
  kn_http_request_t hreq;
  int r = 0;

  headers[nh++] = "Content-Type: " KN_STS_CONTENT_TYPE;
  headers[nh++] = "Accept: text/xml";
  if (call->token == NULL) {
    kn_sigv4_amz_date(kn_now_ms(), amz_date);
    sh[nsh].name = kn_cursor_from_str("content-type");
    sh[nsh++].value = kn_cursor_from_str(KN_STS_CONTENT_TYPE);
    sh[nsh].name = kn_cursor_from_str("host");
    sh[nsh++].value = kn_cursor_from_str(call->host);
    sh[nsh].name = kn_cursor_from_str("x-amz-date");
    sh[nsh++].value = kn_cursor_from_str(amz_date);
    if (call->source.session_token != NULL) {
      sh[nsh].name = kn_cursor_from_str("x-amz-security-token");
      sh[nsh++].value = kn_cursor_from_str(call->source.session_token);
    }
    memset(&sreq, 0, sizeof(sreq));
    sreq.method = "POST";
    sreq.path = kn_cursor_from_str("/");
    sreq.headers = sh;
    sreq.nheaders = nsh;
    sreq.payload.ptr = call->body.data;
    sreq.payload.len = call->body.len;
    screds.access_key_id = call->source.access_key_id;
    screds.secret_access_key = call->source.secret_access_key;
    if (kn_buf_append_str(&authz, "Authorization: ") != 0 ||
        kn_buf_appendf(&date_line, "X-Amz-Date: %s", amz_date) != 0)
      r = KINESIS_ENOMEM;
    if (r == 0)
      r = kn_sigv4_sign(&sreq, &screds, amz_date, call->region, "sts", NULL,
                        &authz);
    if (r == 0 && call->source.session_token != NULL &&
        (kn_buf_append_str(&token_line, "X-Amz-Security-Token: ") != 0 ||
         kn_buf_append_str(&token_line, call->source.session_token) != 0))
      r = KINESIS_ENOMEM;
    if (r != 0)
      goto out;
    headers[nh++] = kn_buf_str(&date_line);
    headers[nh++] = kn_buf_str(&authz);
    if (call->source.session_token != NULL)
      headers[nh++] = kn_buf_str(&token_line);
  }
  headers[nh] = NULL;
  memset(&hreq, 0, sizeof(hreq));
  hreq.method = "POST";
  hreq.url = call->url;
  hreq.headers = headers;
  hreq.body = call->body.data;
  hreq.body_len = call->body.len;
  hreq.timeout_ms = call->timeout_ms;
  call->attempts++;
  r = kn_http_send(call->http, &hreq, on_http_done, call, &call->req);
  if (r != 0)
    call->req = NULL;

out:
  kn_buf_free(&authz);
  kn_buf_free(&date_line);
  buf_scrub_free(&token_line);
  return r;
}


static void on_retry_timer(uv_timer_t* t) {
  kn_sts_call_t* call = t->data;
  int r = call_send(call);
  if (r != 0)
    call_fail(call, r, "cannot send: %s", kinesis_strerror(r));
}


/* Whether a failed attempt is tried again: schedules it and returns 1. */
static int call_retry(kn_sts_call_t* call) {
  uint64_t delay;
  if (call->attempts >= KN_STS_MAX_ATTEMPTS)
    return 0;
  delay = (uint64_t) call->retry_base_ms << (call->attempts - 1);
  /* Jitter: between half and all of the delay. */
  delay = delay / 2 + (uv_hrtime() % (delay / 2 + 1));
  uv_timer_start(&call->timer, on_retry_timer, delay, 0);
  return 1;
}


typedef struct sts_error_s {
  const char* code;
  int status;
  int retry;
  const char* hint;
} sts_error_t;


static const sts_error_t sts_errors[] = {
    {"AccessDenied", KINESIS_EACCESS, 0,
     "the role's trust policy or the caller's permissions refuse it"},
    {"InvalidIdentityToken", KINESIS_EACCESS, 0,
     "the identity provider's token was refused"},
    {"IDPRejectedClaim", KINESIS_EACCESS, 0,
     "the identity provider's token was refused"},
    {"InvalidClientTokenId", KINESIS_EACCESS, 0,
     "the source credentials are not valid"},
    {"SignatureDoesNotMatch", KINESIS_EACCESS, 0,
     "the source credentials' secret key is wrong"},
    {"UnrecognizedClientException", KINESIS_EACCESS, 0,
     "the source credentials are not valid"},
    {"IncompleteSignature", KINESIS_EACCESS, 0, NULL},
    {"MissingAuthenticationToken", KINESIS_EACCESS, 0, NULL},
    {"RegionDisabledException", KINESIS_EACCESS, 0,
     "STS is not activated in this region: activate it in IAM, or use "
     "another region or endpoint"},
    {"ExpiredToken", KINESIS_ECREDEXPIRED, 0, "a token has expired"},
    {"ExpiredTokenException", KINESIS_ECREDEXPIRED, 0, "a token has expired"},
    {"Throttling", KINESIS_ETHROUGHPUT, 1, NULL},
    {"ThrottlingException", KINESIS_ETHROUGHPUT, 1, NULL},
    {"RequestLimitExceeded", KINESIS_ETHROUGHPUT, 1, NULL},
    {"TooManyRequestsException", KINESIS_ETHROUGHPUT, 1, NULL},
    {"IDPCommunicationError", KINESIS_ESERVICE, 1,
     "STS could not reach the identity provider"},
};


/* Keeps the service's words printable and without a secret in them. */
static void sanitize_message(const kn_sts_call_t* call, char* m) {
  char* p;
  if (strlen(m) > KN_STS_SERVICE_MESSAGE_MAX)
    strcpy(m + KN_STS_SERVICE_MESSAGE_MAX - 3, "...");
  for (p = m; *p != '\0'; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  /* A service never echoes a token back, but a fake or a proxy might. */
  if ((call->token != NULL && call->token[0] != '\0' &&
       strstr(m, call->token) != NULL) ||
      (call->source.secret_access_key != NULL &&
       strstr(m, call->source.secret_access_key) != NULL) ||
      (call->source.session_token != NULL &&
       strstr(m, call->source.session_token) != NULL))
    strcpy(m, "(message withheld: it quoted a secret)");
}


static void answer_error(kn_sts_call_t* call, const kn_http_response_t* res) {
  const char* body = (const char*) res->body;
  char attempts[32] = "";
  char* code = NULL;
  char* message = NULL;
  int r;
  size_t i;

  r = kn_sts_xml_text(body, res->body_len, "ErrorResponse/Error/Code", &code);
  if (r == 1)
    r = kn_sts_xml_text(body, res->body_len, "ErrorResponse/Error/Message",
                        &message);
  if (r == KINESIS_ENOMEM) {
    kn_free(code);
    call_fail(call, r, "out of memory reading the answer");
    return;
  }
  if (code == NULL || code[0] == '\0') {
    kn_free(code);
    if (res->status >= 500 || res->status == 429) {
      if (!call_retry(call))
        call_fail(call,
                  res->status == 429 ? KINESIS_ETHROUGHPUT : KINESIS_ESERVICE,
                  "HTTP %ld after %d attempts", res->status, call->attempts);
      return;
    }
    call_fail(call, KINESIS_EPROTO, "HTTP %ld without an STS error document",
              res->status);
    return;
  }
  if (message != NULL)
    sanitize_message(call, message);
  for (i = 0; i < KN_ARRAY_SIZE(sts_errors); i++)
    if (strcmp(code, sts_errors[i].code) == 0)
      break;
  if ((i < KN_ARRAY_SIZE(sts_errors) && sts_errors[i].retry) ||
      (i == KN_ARRAY_SIZE(sts_errors) && res->status >= 500)) {
    if (call_retry(call)) {
      kn_free(code);
      kn_free(message);
      return;
    }
  }
  sanitize_message(call, code);
  if (call->attempts > 1)
    snprintf(attempts, sizeof(attempts), ", after %d attempts", call->attempts);
  if (i < KN_ARRAY_SIZE(sts_errors))
    call_fail(call, sts_errors[i].status, "%s: %s%s%s (HTTP %ld%s)", code,
              message != NULL ? message : "(no message)",
              sts_errors[i].hint != NULL ? "; " : "",
              sts_errors[i].hint != NULL ? sts_errors[i].hint : "", res->status,
              attempts);
  else
    call_fail(call, res->status >= 500 ? KINESIS_ESERVICE : KINESIS_EINVALIDARG,
              "%s: %s (HTTP %ld%s)", code,
              message != NULL ? message : "(no message)", res->status,
              attempts);
  kn_free(code);
  kn_free(message);
}


static void answer_ok(kn_sts_call_t* call, const kn_http_response_t* res) {
  static const char* const names[] = {"AccessKeyId", "SecretAccessKey",
                                      "SessionToken", "Expiration"};
  char* values[4] = {NULL, NULL, NULL, NULL};
  char path[160];
  const char* body = (const char*) res->body;
  int64_t expiration_ms = 0;
  size_t i;
  int r = 0;

  for (i = 0; i < 4 && r >= 0; i++) {
    snprintf(path, sizeof(path), "%sResponse/%sResult/Credentials/%s",
             call->action, call->action, names[i]);
    r = kn_sts_xml_text(body, res->body_len, path, &values[i]);
    if (r == 0 || (r == 1 && values[i][0] == '\0'))
      r = KINESIS_EPROTO;
  }
  if (r >= 0 && kn_parse_iso8601(values[3], &expiration_ms) != 0)
    r = KINESIS_EPROTO;
  if (r < 0) {
    kn_free(values[0]);
    scrub_str(values[1]);
    scrub_str(values[2]);
    kn_free(values[3]);
    if (r == KINESIS_ENOMEM)
      call_fail(call, r, "out of memory reading the answer");
    else
      call_fail(call, KINESIS_EPROTO,
                "malformed answer: no Credentials with AccessKeyId, "
                "SecretAccessKey, SessionToken and an ISO 8601 Expiration");
    return;
  }
  kn_free(values[3]);
  call->creds.access_key_id = values[0];
  call->creds.secret_access_key = values[1];
  call->creds.session_token = values[2];
  call->creds.expiration_ms = expiration_ms;
  call->creds.source = call->token != NULL ? "web identity" : "assume role";
  call->creds.role_arn = kn_strdup(call->role_arn);
  if (call->creds.role_arn == NULL) {
    call_fail(call, KINESIS_ENOMEM, "out of memory");
    return;
  }
  call_finish(call, 0);
}


static void on_http_done(int status, const kn_http_response_t* res, void* arg) {
  kn_sts_call_t* call = arg;

  call->req = NULL;
  if (kn_life_closing(&call->life)) {
    call_fail(call, KINESIS_ECANCELED, "canceled");
    return;
  }
  if (status != 0) {
    if (status != KINESIS_ETLS && status != KINESIS_ECANCELED &&
        call_retry(call))
      return;
    call_fail(call, status, "%s (after %d attempts)",
              res->transport_error != NULL ? res->transport_error
                                           : kinesis_strerror(status),
              call->attempts);
    return;
  }
  if (res->status == 200)
    answer_ok(call, res);
  else
    answer_error(call, res);
}


/* The host[:port] of an http(s) URL, as curl puts it in the Host header,
 * in *len; NULL when the URL is not http(s) or has user information. */
static const char* url_host(const char* url, size_t* len) {
  kn_url_t u;
  if (kn_url_parse(url, strlen(url), &u) != 0 ||
      !(kn_url_scheme_is(url, &u, "https") ||
        kn_url_scheme_is(url, &u, "http")) ||
      u.user.set)
    return NULL;
  *len = u.hostport.len;
  return url + u.hostport.off;
}


int kn_sts_assume_role(uv_loop_t* loop, kn_http_t* http,
                       const kn_sts_request_t* req, kn_cred_source_cb cb,
                       void* arg, kn_sts_call_t** out) {
  kn_sts_call_t* call;
  char session[48];
  const char* session_name;
  const char* host = NULL;
  size_t host_len = 0;
  int r;

  if (loop == NULL || http == NULL || req == NULL || cb == NULL ||
      req->role_arn == NULL || req->role_arn[0] == '\0' ||
      req->endpoint == NULL ||
      (host = url_host(req->endpoint, &host_len)) == NULL)
    return KINESIS_EINVAL;
  if (req->web_identity_token == NULL &&
      (req->source == NULL || req->source->access_key_id == NULL ||
       req->source->secret_access_key == NULL || req->region == NULL ||
       req->region[0] == '\0'))
    return KINESIS_EINVAL;
  call = kn_calloc(1, sizeof(*call));
  if (call == NULL)
    return KINESIS_ENOMEM;
  call->loop = loop;
  call->http = http;
  call->cb = cb;
  call->arg = arg;
  call->timeout_ms = req->timeout_ms;
  call->retry_base_ms =
      req->retry_base_ms != 0 ? req->retry_base_ms : KN_STS_RETRY_BASE_MS;
  call->action = req->web_identity_token != NULL ? "AssumeRoleWithWebIdentity"
                                                 : "AssumeRole";
  kn_buf_init(&call->body);
  {
    size_t elen = strlen(req->endpoint);
    while (elen > 0 && req->endpoint[elen - 1] == '/')
      elen--;
    call->url = kn_malloc(elen + 2);
    if (call->url != NULL) {
      memcpy(call->url, req->endpoint, elen);
      strcpy(call->url + elen, "/");
    }
  }
  r = KINESIS_ENOMEM;
  call->host = kn_strndup(host, host_len);
  if (call->url == NULL || call->host == NULL)
    goto fail;
  call->role_arn = kn_strdup(req->role_arn);
  call->region = kn_strdup(req->region != NULL ? req->region : "us-east-1");
  if (call->role_arn == NULL || call->region == NULL)
    goto fail;
  if (req->web_identity_token != NULL) {
    call->token = kn_strdup(req->web_identity_token);
    if (call->token == NULL)
      goto fail;
  } else if (kn_credentials_copy(&call->source, req->source) != 0) {
    goto fail;
  }
  session_name = req->role_session_name;
  if (session_name == NULL || session_name[0] == '\0') {
    kn_sts_default_session_name(session);
    session_name = session;
  }
  if (form_append(&call->body, "Action", call->action) != 0 ||
      form_append(&call->body, "Version", KN_STS_VERSION) != 0 ||
      form_append(&call->body, "RoleArn", req->role_arn) != 0 ||
      form_append(&call->body, "RoleSessionName", session_name) != 0)
    goto fail;
  if (req->duration_seconds != 0) {
    char d[16];
    snprintf(d, sizeof(d), "%u", (unsigned) req->duration_seconds);
    if (form_append(&call->body, "DurationSeconds", d) != 0)
      goto fail;
  }
  if (req->web_identity_token == NULL && req->external_id != NULL &&
      req->external_id[0] != '\0' &&
      form_append(&call->body, "ExternalId", req->external_id) != 0)
    goto fail;
  if (call->token != NULL &&
      form_append(&call->body, "WebIdentityToken", call->token) != 0)
    goto fail;
  r = uv_timer_init(loop, &call->timer);
  if (r != 0)
    goto fail;
  call->timer.data = call;
  r = call_send(call);
  if (r != 0) {
    /* The timer must close before the memory goes; the callback never
     * runs. */
    call->cb = NULL;
    call_finish(call, r);
    return r;
  }
  call->out = out;
  if (out != NULL)
    *out = call;
  return 0;

fail:
  call_free(call);
  return r;
}


void kn_sts_cancel(kn_sts_call_t* call) {
  if (call == NULL || kn_life_begin_close(&call->life) < 0)
    return;
  if (kn_life_freeing(&call->life)) {
    /* The result is waiting for the timer to close: replace it. */
    if (call->status == 0)
      kn_credentials_clear(&call->creds);
    call->status = KINESIS_ECANCELED;
    snprintf(call->message, sizeof(call->message), "STS %s for %s canceled",
             call->action, call->role_arn);
    return;
  }
  if (call->req != NULL) {
    kn_http_cancel(call->req);
    return;
  }
  call_fail(call, KINESIS_ECANCELED, "canceled");
}
