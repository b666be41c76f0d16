#include "codec.h"

#include "internal.h"
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The only file that includes jansson (STYLE.md section 8). */
#include <jansson.h>


/* ---- Reading ---- */

/* A string member, or NULL when absent, null or not a string. */
static const char* get_str(json_t* obj, const char* key) {
  json_t* v = json_object_get(obj, key);
  return json_is_string(v) ? json_string_value(v) : NULL;
}


static double get_num(json_t* obj, const char* key, double dflt) {
  json_t* v = json_object_get(obj, key);
  return json_is_number(v) ? json_number_value(v) : dflt;
}


static uint32_t get_u32(json_t* obj, const char* key) {
  double d = get_num(obj, key, 0);
  return d > 0 && d < 4294967296.0 ? (uint32_t) d : 0;
}


static void copy_trimmed(char* out, size_t size, const char* s, size_t len) {
  if (len >= size)
    len = size - 1;
  memcpy(out, s, len);
  out[len] = '\0';
}


/* protocol.md section 3: drop everything from the first ':' and everything
 * up to and including the last '#'. */
static void set_code(kn_codec_error_t* err, const char* code) {
  const char* hash = strrchr(code, '#');
  const char* colon;
  if (hash != NULL)
    code = hash + 1;
  colon = strchr(code, ':');
  copy_trimmed(err->code, sizeof(err->code), code,
               colon != NULL ? (size_t) (colon - code) : strlen(code));
  err->has_code = err->code[0] != '\0';
}


/* json_loadb(), telling an allocation failure (*nomem set) from a text
 * that is not JSON. jansson says "out of memory" for most, but its very
 * first allocation fails without any message, where a bad text always has
 * one. */
static json_t* load_json(const char* text, size_t len, int* nomem) {
  json_error_t e;
  json_t* root;
  memset(&e, 0, sizeof(e));
  root = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &e);
  *nomem = root == NULL && (json_error_code(&e) == json_error_out_of_memory ||
                            e.text[0] == '\0');
  return root;
}


void kn_codec_parse_error(const uint8_t* body, size_t len,
                          const char* error_type_header,
                          kn_codec_error_t* err) {
  json_t* root = NULL;
  const char* s;

  memset(err, 0, sizeof(*err));
  if (len > 0)
    root = json_loadb((const char*) body, len, JSON_DECODE_INT_AS_REAL, NULL);
  if (error_type_header != NULL && error_type_header[0] != '\0')
    set_code(err, error_type_header);
  if (json_is_object(root)) {
    if (!err->has_code && ((s = get_str(root, "code")) != NULL ||
                           (s = get_str(root, "__type")) != NULL))
      set_code(err, s);
    if ((s = get_str(root, "message")) != NULL ||
        (s = get_str(root, "Message")) != NULL) {
      /* Never the canonical request of a signature mismatch: it may hold
       * the session token. */
      copy_trimmed(err->message, sizeof(err->message), s,
                   kn_error_message_len(s, 0));
      err->has_message = 1;
    }
  }
  json_decref(root);
}


void kn_parsed_free(kn_parsed_t* p) {
  json_decref(p->root);
  kn_free(p->text);
  kn_free(p->shards);
  kn_free(p->records);
  kn_free(p->data);
  kn_free(p->child_shards);
  kn_free(p->put_entries);
  kn_free(p->stream_names);
  kn_free(p->tags);
  kn_free(p->consumers);
  kn_free(p->items);
  kn_free(p->attrs);
  memset(p, 0, sizeof(*p));
}


/* An answer that breaks one of the API's bounds: KINESIS_EPROTO, saying
 * which. */
int kn_codec_refuse(kn_parsed_t* out, const char* why) {
  out->error = why;
  return KINESIS_EPROTO;
}


static int parse_root(const uint8_t* body, size_t len, kn_parsed_t* out,
                      json_t** root) {
  int nomem;
  memset(out, 0, sizeof(*out));
  out->millis_behind_latest = -1;
  *root = load_json((const char*) body, len, &nomem);
  if (!json_is_object(*root)) {
    json_decref(*root);
    *root = NULL;
    return nomem ? KINESIS_ENOMEM : KINESIS_EPROTO;
  }
  out->root = *root;
  return 0;
}


int kn_codec_parse_summary(const uint8_t* body, size_t len, kn_parsed_t* out) {
  json_t* root;
  json_t* d;
  kinesis_stream_summary_t* s = &out->summary;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  d = json_object_get(root, "StreamDescriptionSummary");
  if (!json_is_object(d))
    return KINESIS_EPROTO;
  s->stream_name = get_str(d, "StreamName");
  s->stream_arn = get_str(d, "StreamARN");
  s->stream_status = get_str(d, "StreamStatus");
  if (s->stream_name == NULL || s->stream_status == NULL)
    return KINESIS_EPROTO;
  s->stream_mode = get_str(json_object_get(d, "StreamModeDetails"),
                           "StreamMode");
  s->encryption_type = get_str(d, "EncryptionType");
  s->creation_timestamp = get_num(d, "StreamCreationTimestamp", 0);
  s->retention_period_hours = get_u32(d, "RetentionPeriodHours");
  s->open_shard_count = get_u32(d, "OpenShardCount");
  s->consumer_count = get_u32(d, "ConsumerCount");
  s->max_record_size_kib = get_u32(d, "MaxRecordSizeInKiB");
  s->key_id = get_str(d, "KeyId");
  return 0;
}


int kn_codec_parse_shard_iterator(const uint8_t* body, size_t len,
                                  kn_parsed_t* out) {
  json_t* root;
  int r = parse_root(body, len, out, &root);
  if (r != 0)
    return r;
  out->shard_iterator = get_str(root, "ShardIterator");
  return out->shard_iterator != NULL ? 0 : KINESIS_EPROTO;
}


/* HasMoreStreams or HasMoreTags: true, or false when absent. */
static int get_true(json_t* obj, const char* key) {
  return json_is_true(json_object_get(obj, key));
}


int kn_codec_parse_list_streams(const uint8_t* body, size_t len,
                                kn_parsed_t* out) {
  json_t* root;
  json_t* names;
  size_t i;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  names = json_object_get(root, "StreamNames");
  if (!json_is_array(names))
    return kn_codec_refuse(out, "StreamNames is not an array");
  out->nstream_names = json_array_size(names);
  if (out->nstream_names > 0) {
    out->stream_names =
        kn_calloc(out->nstream_names, sizeof(*out->stream_names));
    if (out->stream_names == NULL)
      return KINESIS_ENOMEM;
  }
  for (i = 0; i < out->nstream_names; i++) {
    out->stream_names[i] = json_string_value(json_array_get(names, i));
    if (out->stream_names[i] == NULL)
      return kn_codec_refuse(out, "a stream name is not a string");
  }
  out->has_more = get_true(root, "HasMoreStreams");
  out->next_token = get_str(root, "NextToken");
  return 0;
}


int kn_codec_parse_list_tags(const uint8_t* body, size_t len,
                             kn_parsed_t* out) {
  json_t* root;
  json_t* tags;
  size_t i;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  tags = json_object_get(root, "Tags");
  if (!json_is_array(tags))
    return kn_codec_refuse(out, "Tags is not an array");
  out->ntags = json_array_size(tags);
  if (out->ntags > 0) {
    out->tags = kn_calloc(out->ntags, sizeof(*out->tags));
    if (out->tags == NULL)
      return KINESIS_ENOMEM;
  }
  for (i = 0; i < out->ntags; i++) {
    json_t* t = json_array_get(tags, i);
    out->tags[i].key = get_str(t, "Key");
    out->tags[i].value = get_str(t, "Value");
    if (out->tags[i].key == NULL)
      return kn_codec_refuse(out, "a tag has no Key");
  }
  out->has_more = get_true(root, "HasMoreTags");
  return 0;
}


int kn_codec_parse_update_shard_count(const uint8_t* body, size_t len,
                                      kn_parsed_t* out) {
  json_t* root;
  int r;

  memset(out, 0, sizeof(*out));
  out->millis_behind_latest = -1;
  if (len == 0)
    return 0;
  r = parse_root(body, len, out, &root);
  if (r != 0)
    return r;
  out->current_shard_count = get_u32(root, "CurrentShardCount");
  out->target_shard_count = get_u32(root, "TargetShardCount");
  return 0;
}


/* ---- Credentials ---- */

void kn_codec_creds_clear(kn_codec_creds_t* c) {
  kn_free(c->access_key_id);
  kn_free(c->secret_access_key);
  kn_free(c->session_token);
  memset(c, 0, sizeof(*c));
}


int kn_codec_parse_credentials(const uint8_t* body, size_t len,
                               kn_codec_creds_t* out) {
  json_t* root;
  const char* code;
  const char* akid;
  const char* secret;
  const char* token;
  const char* exp;
  int r = KINESIS_EPROTO;
  int nomem;

  memset(out, 0, sizeof(*out));
  root = load_json((const char*) body, len, &nomem);
  if (!json_is_object(root)) {
    if (nomem)
      r = KINESIS_ENOMEM;
    goto done;
  }
  code = get_str(root, "Code");
  if (code != NULL && strcmp(code, "Success") != 0)
    goto done;
  akid = get_str(root, "AccessKeyId");
  secret = get_str(root, "SecretAccessKey");
  token = get_str(root, "Token");
  exp = get_str(root, "Expiration");
  if (akid == NULL || secret == NULL || akid[0] == '\0' || secret[0] == '\0')
    goto done;
  if (exp != NULL && kn_parse_iso8601(exp, &out->expiration_ms) != 0)
    goto done;
  r = KINESIS_ENOMEM;
  out->access_key_id = kn_strdup(akid);
  out->secret_access_key = kn_strdup(secret);
  out->session_token = kn_strdup(token);
  if (out->access_key_id == NULL || out->secret_access_key == NULL ||
      (token != NULL && out->session_token == NULL)) {
    kn_codec_creds_clear(out);
    goto done;
  }
  r = 0;
done:
  json_decref(root);
  return r;
}


static int digits(const char** p, int n, int* out) {
  int v = 0;
  int i;
  for (i = 0; i < n; i++) {
    char c = (*p)[i];
    if (c < '0' || c > '9')
      return -1;
    v = v * 10 + (c - '0');
  }
  *p += n;
  *out = v;
  return 0;
}




int kn_parse_iso8601(const char* s, int64_t* out_ms) {
  int y, mo, d, h, mi, sec;
  int ms = 0;
  const char* p = s;

  if (s == NULL || digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) ||
      *p++ != '-' || digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
    return KINESIS_EINVAL;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
      digits(&p, 2, &sec))
    return KINESIS_EINVAL;
  if (*p == '.') {
    int scale = 100;
    p++;
    if (*p < '0' || *p > '9')
      return KINESIS_EINVAL;
    while (*p >= '0' && *p <= '9') {
      ms += (*p - '0') * scale;
      scale /= 10;
      p++;
    }
  }
  if (*p == 'Z' || *p == 'z')
    p++;
  else if (strcmp(p, "+00:00") == 0)
    p += 6;
  else
    return KINESIS_EINVAL;
  if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
      mi > 59 || sec > 60)
    return KINESIS_EINVAL;
  *out_ms = ((kn_days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
            (int64_t) sec * 1000 + ms;
  return 0;
}



/* ---- credential_process output, IAM Identity Center token and role ---- */

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
static json_t* load_cred_object(const char* text, size_t len, int* r, char* why,
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
static const char* get_nonempty_str(json_t* obj, const char* key) {
  const char* s = get_str(obj, key);
  return s != NULL && s[0] != '\0' ? s : NULL;
}


/* Fills `out` with copies. Returns 0 or KINESIS_ENOMEM. */
static int creds_fill(kn_codec_creds_t* out, const char* akid,
                      const char* secret, const char* token,
                      int64_t expiration_ms) {
  out->access_key_id = kn_strdup(akid);
  out->secret_access_key = kn_strdup(secret);
  out->session_token = kn_strdup(token);
  if (out->access_key_id == NULL || out->secret_access_key == NULL ||
      (token != NULL && out->session_token == NULL)) {
    kn_codec_creds_clear(out);
    return KINESIS_ENOMEM;
  }
  out->expiration_ms = expiration_ms;
  return 0;
}


int kn_codec_parse_process_credentials(const char* text, size_t len,
                                       kn_codec_creds_t* out, char* why,
                                       size_t why_size) {
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
  root = load_cred_object(text, len, &r, why, why_size);
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
  akid = get_nonempty_str(root, "AccessKeyId");
  secret = get_nonempty_str(root, "SecretAccessKey");
  if (akid == NULL || secret == NULL) {
    set_why(why, why_size, "no \"%s\" string",
            akid == NULL ? "AccessKeyId" : "SecretAccessKey");
    goto done;
  }
  if (json_object_get(root, "SessionToken") != NULL &&
      !json_is_null(json_object_get(root, "SessionToken"))) {
    token = get_nonempty_str(root, "SessionToken");
    if (token == NULL) {
      set_why(why, why_size, "\"SessionToken\" is not a non-empty string");
      goto done;
    }
  }
  if (json_object_get(root, "Expiration") != NULL &&
      !json_is_null(json_object_get(root, "Expiration"))) {
    exp = get_nonempty_str(root, "Expiration");
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


int kn_codec_parse_sso_token(const char* text, size_t len, char** token,
                             int64_t* expires_at_ms, char* why,
                             size_t why_size) {
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
  root = load_cred_object(text, len, &r, why, why_size);
  if (root == NULL)
    return r;
  r = KINESIS_EPROTO;
  t = get_nonempty_str(root, "accessToken");
  exp = get_nonempty_str(root, "expiresAt");
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


int kn_codec_parse_sso_role_credentials(const char* text, size_t len,
                                        kn_codec_creds_t* out, char* why,
                                        size_t why_size) {
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
  root = load_cred_object(text, len, &r, why, why_size);
  if (root == NULL)
    return r;
  r = KINESIS_EPROTO;
  rc = json_object_get(root, "roleCredentials");
  if (!json_is_object(rc)) {
    set_why(why, why_size, "no \"roleCredentials\" object");
    goto done;
  }
  akid = get_nonempty_str(rc, "accessKeyId");
  secret = get_nonempty_str(rc, "secretAccessKey");
  token = get_nonempty_str(rc, "sessionToken");
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


/* A consumer object; 0, or KINESIS_EPROTO without a required member. */
static int get_consumer(json_t* obj, kinesis_stream_consumer_t* c,
                        kn_parsed_t* out) {
  c->consumer_name = get_str(obj, "ConsumerName");
  c->consumer_arn = get_str(obj, "ConsumerARN");
  c->consumer_status = get_str(obj, "ConsumerStatus");
  c->creation_timestamp = get_num(obj, "ConsumerCreationTimestamp", 0);
  c->stream_arn = get_str(obj, "StreamARN");
  if (c->consumer_name == NULL || c->consumer_arn == NULL ||
      c->consumer_status == NULL)
    return kn_codec_refuse(out, "a consumer without its name, ARN or status");
  return 0;
}


int kn_codec_parse_consumer(const uint8_t* body, size_t len,
                            const char* member, kn_parsed_t* out) {
  json_t* root;
  json_t* obj;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  obj = json_object_get(root, member);
  if (!json_is_object(obj))
    return kn_codec_refuse(out, "the answer holds no consumer");
  out->consumers = kn_calloc(1, sizeof(*out->consumers));
  if (out->consumers == NULL)
    return KINESIS_ENOMEM;
  out->nconsumers = 1;
  return get_consumer(obj, &out->consumers[0], out);
}


int kn_codec_parse_list_consumers(const uint8_t* body, size_t len,
                                  kn_parsed_t* out) {
  json_t* root;
  json_t* list;
  size_t i;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  list = json_object_get(root, "Consumers");
  if (!json_is_array(list))
    return kn_codec_refuse(out, "Consumers is not an array");
  out->nconsumers = json_array_size(list);
  if (out->nconsumers > 0) {
    out->consumers = kn_calloc(out->nconsumers, sizeof(*out->consumers));
    if (out->consumers == NULL)
      return KINESIS_ENOMEM;
  }
  for (i = 0; i < out->nconsumers; i++) {
    r = get_consumer(json_array_get(list, i), &out->consumers[i], out);
    if (r != 0)
      return r;
  }
  out->next_token = get_str(root, "NextToken");
  return 0;
}


/* ---- DynamoDB ---- */


/* Item `i` of a Scan's Items (`array`), or GetItem's one `item`. */
static json_t* ddb_item_at(json_t* array, json_t* item, size_t i) {
  return array != NULL ? json_array_get(array, i) : item;
}


/* The `n` items of `array`, or the one `item`, into out->items and
 * out->attrs, in two allocations. */
static int ddb_items(json_t* array, json_t* item, size_t n, kn_parsed_t* out) {
  size_t total = 0;
  size_t i, k = 0;

  for (i = 0; i < n; i++) {
    json_t* obj = ddb_item_at(array, item, i);
    if (!json_is_object(obj))
      return kn_codec_refuse(out, "an item is not an object");
    total += json_object_size(obj);
  }
  if (n == 0)
    return 0;
  out->items = kn_calloc(n, sizeof(*out->items));
  if (out->items == NULL)
    return KINESIS_ENOMEM;
  if (total > 0) {
    out->attrs = kn_calloc(total, sizeof(*out->attrs));
    if (out->attrs == NULL)
      return KINESIS_ENOMEM;
  }
  for (i = 0; i < n; i++) {
    const char* name;
    json_t* v;
    out->items[i].attrs = total > 0 ? out->attrs + k : NULL;
    json_object_foreach(ddb_item_at(array, item, i), name, v) {
      kn_ddb_attr_t* a = &out->attrs[k++];
      void* it = json_object_iter(v);
      json_t* tv;
      /* An AttributeValue: an object of one member, named by its type. */
      if (!json_is_object(v) || json_object_size(v) != 1)
        return kn_codec_refuse(out, "an attribute value is not typed");
      a->name = name;
      a->type = json_object_iter_key(it);
      tv = json_object_iter_value(it);
      if (strcmp(a->type, "S") == 0 || strcmp(a->type, "N") == 0) {
        if (!json_is_string(tv))
          return kn_codec_refuse(out, "an S or N value is not a string");
        a->value = json_string_value(tv);
      }
      out->items[i].nattrs++;
    }
  }
  out->nitems = n;
  return 0;
}


int kn_codec_parse_ddb_item(const uint8_t* body, size_t len,
                            kn_parsed_t* out) {
  json_t* root;
  json_t* item;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  item = json_object_get(root, "Item");
  return item != NULL ? ddb_items(NULL, item, 1, out) : 0;
}


int kn_codec_parse_ddb_scan(const uint8_t* body, size_t len, const char* key,
                            kn_parsed_t* out) {
  json_t* root;
  json_t* items;
  json_t* last;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  items = json_object_get(root, "Items");
  if (!json_is_array(items))
    return kn_codec_refuse(out, "Items is not an array");
  last = json_object_get(root, "LastEvaluatedKey");
  if (last != NULL) {
    out->last_key = get_str(json_object_get(last, key), "S");
    if (out->last_key == NULL)
      return kn_codec_refuse(out, "LastEvaluatedKey has no string key");
  }
  return ddb_items(items, NULL, json_array_size(items), out);
}


int kn_codec_parse_ddb_table(const uint8_t* body, size_t len,
                             kn_parsed_t* out) {
  json_t* root;
  int r = parse_root(body, len, out, &root);

  if (r != 0)
    return r;
  out->table_status = get_str(json_object_get(root, "Table"), "TableStatus");
  return out->table_status != NULL
             ? 0
             : kn_codec_refuse(out, "Table has no TableStatus");
}
