/*
 * The fake service's operations: each reads its JSON request, checks it as
 * the service does, acts on the model (svc_store.c) and writes its reply
 * (svc.c's writer). GetShardIterator, GetRecords, PutRecord and PutRecords
 * are in svc_data.c; the two read JSON with jansson, through svc_ops.h,
 * and only read with it.
 *
 * Errors follow the service: a member of the wrong JSON type is
 * SerializationException; a member the model constrains (required,
 * pattern, range, enum) is ValidationException with the service's "1
 * validation error detected" wording; a request the model allows but the
 * service refuses (a sequence number of another shard, NextToken with
 * StreamName, a hash key past 2^128-1) is InvalidArgumentException.
 */
#include "svc_ops.h"
#include "internal.h"

#include <inttypes.h>
#include <string.h>


#include "validate.h"


const char* kn_svc_status_name(kn_svc_status_t s) {
  switch (s) {
    case KN_SVC_CREATING:
      return "CREATING";
    case KN_SVC_ACTIVE:
      return "ACTIVE";
    case KN_SVC_UPDATING:
      return "UPDATING";
    case KN_SVC_DELETING:
      return "DELETING";
  }
  return "ACTIVE";
}


/* ---- reading members ---- */


int kn_svc_serialization(req_t* q, const char* member) {
  return kn_svc_error(q->reply, "SerializationException",
                      "Unexpected JSON type for member %s", member);
}


int kn_svc_validation(req_t* q, const char* value, const char* member,
                      const char* constraint) {
  return kn_svc_error(q->reply, "ValidationException",
                      "1 validation error detected: Value %s%s%s at '%s' "
                      "failed to satisfy constraint: %s",
                      value != NULL ? "'" : "", value != NULL ? value : "null",
                      value != NULL ? "'" : "", member, constraint);
}


int kn_svc_missing(req_t* q, const char* member) {
  return kn_svc_validation(q, NULL, member, "Member must not be null");
}


static int invalid(req_t* q, const char* fmt, const char* a, const char* b) {
  return kn_svc_error(q->reply, "InvalidArgumentException", fmt, a, b);
}


/* The member, or NULL when absent or null. */
json_t* kn_svc_member(json_t* obj, const char* name) {
  json_t* v = json_object_get(obj, name);
  return json_is_null(v) ? NULL : v;
}


/* A string member: *out NULL when absent. */
int kn_svc_get_str(req_t* q, json_t* obj, const char* name, const char** out,
                   size_t* len) {
  json_t* v = kn_svc_member(obj, name);
  *out = NULL;
  if (len != NULL)
    *len = 0;
  if (v == NULL)
    return 0;
  if (!json_is_string(v))
    return kn_svc_serialization(q, name);
  *out = json_string_value(v);
  if (len != NULL)
    *len = json_string_length(v);
  return 0;
}


/* A name of the model's [a-zA-Z0-9_.-]{1,128} (streams and shards). */
int kn_svc_get_name(req_t* q, json_t* obj, const char* name, int required,
                    const char** out) {
  size_t len;
  int r = kn_svc_get_str(q, obj, name, out, &len);
  if (r != 0)
    return r;
  if (*out == NULL)
    return required ? kn_svc_missing(q, name) : 0;
  if (len != strlen(*out) || !kn_valid_shard_id(*out))
    return kn_svc_validation(
        q, *out, name,
        "Member must satisfy regular expression pattern: "
        "[a-zA-Z0-9_.-]+ and have length between 1 and 128");
  return 0;
}


/* An integer member in [lo, hi]; *present 0 when absent. */
int kn_svc_get_int(req_t* q, json_t* obj, const char* name, int64_t lo,
                   int64_t hi, int64_t* out, int* present) {
  json_t* v = kn_svc_member(obj, name);
  char text[32];
  *present = 0;
  if (v == NULL)
    return 0;
  if (!json_is_integer(v))
    return kn_svc_serialization(q, name);
  *out = (int64_t) json_integer_value(v);
  if (*out < lo || *out > hi) {
    snprintf(text, sizeof(text), "%" PRId64, *out);
    return kn_svc_validation(q, text, name,
                             *out < lo
                                 ? "Member must have value greater than or "
                                   "equal to the minimum"
                                 : "Member must have value less than or "
                                   "equal to the maximum");
  }
  *present = 1;
  return 0;
}


/* A timestamp member: epoch seconds, integer or fractional, in ms. */
int kn_svc_get_time(req_t* q, json_t* obj, const char* name, int64_t* ms,
                    int* present) {
  json_t* v = kn_svc_member(obj, name);
  double d;
  *present = 0;
  if (v == NULL)
    return 0;
  if (!json_is_number(v))
    return kn_svc_serialization(q, name);
  d = json_number_value(v);
  /* Past year 300000 is not a time anyone means; it would not fit in ms. */
  if (!(d > -1e13 && d < 1e13))
    return kn_svc_validation(q, NULL, name, "Member must be a valid timestamp");
  d *= 1000.0;
  *ms = (int64_t) (d < 0 ? d - 0.5 : d + 0.5);
  *present = 1;
  return 0;
}


/* One of `values` (NULL-terminated); *out is its index, -1 when absent. */
int kn_svc_get_enum(req_t* q, json_t* obj, const char* name,
                    const char* const* values, const char* set, int required,
                    int* out) {
  const char* s;
  int r = kn_svc_get_str(q, obj, name, &s, NULL);
  int i;
  *out = -1;
  if (r != 0)
    return r;
  if (s == NULL)
    return required ? kn_svc_missing(q, name) : 0;
  for (i = 0; values[i] != NULL; i++) {
    if (strcmp(s, values[i]) == 0) {
      *out = i;
      return 0;
    }
  }
  return kn_svc_validation(q, s, name, set);
}


static int is_digits(const char* s, size_t max) {
  size_t i;
  for (i = 0; s[i] != '\0'; i++)
    if (s[i] < '0' || s[i] > '9' || i >= max)
      return 0;
  return i > 0 && !(s[0] == '0' && i > 1);
}


/* A hash key member: the model's pattern 0|([1-9]\d{0,38}), then the
 * service's range [0, 2^128-1]. */
int kn_svc_get_hash_key(req_t* q, json_t* obj, const char* name, int required,
                        kn_hash_key_t* key, int* present) {
  const char* s;
  int r = kn_svc_get_str(q, obj, name, &s, NULL);
  *present = 0;
  if (r != 0)
    return r;
  if (s == NULL)
    return required ? kn_svc_missing(q, name) : 0;
  if (!is_digits(s, 39))
    return kn_svc_validation(q, s, name,
                             "Member must satisfy regular expression pattern: "
                             "0|([1-9]\\d{0,38})");
  if (kn_hash_key_parse(s, key) != 0)
    return invalid(q, "Invalid %s %s. It must be in the range [0, 2^128-1].",
                   name, s);
  *present = 1;
  return 0;
}


/* A sequence number member of the model's pattern 0|([1-9]\d{0,128}). */
int kn_svc_get_seq(req_t* q, json_t* obj, const char* name, const char** out) {
  int r = kn_svc_get_str(q, obj, name, out, NULL);
  if (r != 0 || *out == NULL)
    return r;
  if (!is_digits(*out, 129))
    return kn_svc_validation(q, *out, name,
                             "Member must satisfy regular expression pattern: "
                             "0|([1-9]\\d{0,128})");
  return 0;
}


/* ---- streams ---- */


int kn_svc_not_found(req_t* q, const char* name) {
  return kn_svc_error(q->reply, "ResourceNotFoundException",
                      "Stream %s under account %s not found.", name,
                      q->svc->account_id);
}


/* Reads an ARN of this service's region and account: the stream name in
 * it, or NULL when the ARN names another place (then the stream is not
 * found here). Returns what get_* return. */
int kn_svc_read_arn(req_t* q, const char* arn, size_t len, const char** name) {
  static const char head[] = "arn:aws:kinesis:";
  const char* p;
  size_t rl = strlen(q->svc->region);
  *name = NULL;
  if (len != strlen(arn) || len > 2048 || strncmp(arn, "arn:aws", 7) != 0 ||
      strstr(arn, ":stream/") == NULL)
    return kn_svc_validation(q, arn, "streamARN",
                             "Member must satisfy regular expression pattern: "
                             "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+");
  if (strncmp(arn, head, sizeof(head) - 1) != 0)
    return 0;
  p = arn + sizeof(head) - 1;
  if (strncmp(p, q->svc->region, rl) != 0 || p[rl] != ':')
    return 0;
  p += rl + 1;
  if (strncmp(p, q->svc->account_id, 12) != 0 ||
      strncmp(p + 12, ":stream/", 8) != 0)
    return 0;
  *name = p + 20;
  return 0;
}


/* The stream the request names by StreamName or StreamARN (or both, which
 * must agree), in the status the call needs. */
int kn_svc_find_stream(req_t* q, need_t need, kn_svc_stream_t** out) {
  const char* name;
  const char* arn;
  const char* arn_name = NULL;
  size_t arn_len;
  kn_svc_stream_t* s;
  int r;

  if ((r = kn_svc_get_name(q, q->root, "StreamName", 0, &name)) != 0 ||
      (r = kn_svc_get_str(q, q->root, "StreamARN", &arn, &arn_len)) != 0)
    return r;
  if (arn != NULL) {
    if ((r = kn_svc_read_arn(q, arn, arn_len, &arn_name)) != 0)
      return r;
    if (arn_name == NULL)
      return kn_svc_error(q->reply, "ResourceNotFoundException",
                          "Stream %s not found.", arn);
    if (name != NULL && strcmp(name, arn_name) != 0)
      return invalid(q, "StreamName %s and StreamARN %s name different "
                        "streams.",
                     name, arn);
    name = arn_name;
  }
  if (name == NULL)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Either StreamName or StreamARN must be given.");
  s = kn_svc_stream_find(q->st, name);
  if (s == NULL)
    return kn_svc_not_found(q, name);
  if ((need == NEED_DATA && s->status != KN_SVC_ACTIVE &&
       s->status != KN_SVC_UPDATING) ||
      (need == NEED_ACTIVE && s->status != KN_SVC_ACTIVE))
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Stream %s under account %s is %s, not ACTIVE.",
                        s->name, q->svc->account_id,
                        kn_svc_status_name(s->status));
  *out = s;
  return 0;
}


void kn_svc_stream_arn(const req_t* q, const kn_svc_stream_t* s, char* out,
                       size_t size) {
  snprintf(out, size, "arn:aws:kinesis:%s:%s:stream/%s", q->svc->region,
           q->svc->account_id, s->name);
}


static void out_arn(req_t* q, kn_svc_out_t* o, const char* key,
                    const kn_svc_stream_t* s) {
  char arn[256];
  kn_svc_stream_arn(q, s, arn, sizeof(arn));
  kn_svc_out_str(o, key, arn);
}


static void out_mode(kn_svc_out_t* o, const kn_svc_stream_t* s) {
  kn_svc_out_begin(o, "StreamModeDetails");
  kn_svc_out_str(o, "StreamMode", s->on_demand ? "ON_DEMAND" : "PROVISIONED");
  kn_svc_out_end(o);
}


static void out_key(kn_svc_out_t* o, const char* name,
                    const kn_hash_key_t* k) {
  char text[KN_HASH_KEY_DECIMAL_MAX];
  kn_hash_key_format(k, text);
  kn_svc_out_str(o, name, text);
}


void kn_svc_out_range(kn_svc_out_t* o, const kn_svc_shard_t* sh) {
  kn_svc_out_begin(o, "HashKeyRange");
  out_key(o, "StartingHashKey", &sh->start);
  out_key(o, "EndingHashKey", &sh->end);
  kn_svc_out_end(o);
}


static void out_shard(kn_svc_out_t* o, const kn_svc_stream_t* s,
                      const kn_svc_shard_t* sh) {
  char seq[KN_SVC_SEQ_LEN + 1];
  kn_svc_out_begin(o, NULL);
  kn_svc_out_str(o, "ShardId", sh->id);
  if (sh->parent >= 0)
    kn_svc_out_str(o, "ParentShardId", s->shards[sh->parent].id);
  if (sh->adjacent_parent >= 0)
    kn_svc_out_str(o, "AdjacentParentShardId",
                   s->shards[sh->adjacent_parent].id);
  kn_svc_out_range(o, sh);
  kn_svc_out_begin(o, "SequenceNumberRange");
  kn_svc_seq_format(sh->start_counter, sh->index, seq);
  kn_svc_out_str(o, "StartingSequenceNumber", seq);
  if (sh->closed) {
    kn_svc_seq_format(sh->end_counter, sh->index, seq);
    kn_svc_out_str(o, "EndingSequenceNumber", seq);
  }
  kn_svc_out_end(o);
  kn_svc_out_end(o);
}


int kn_svc_finish(kn_svc_out_t* o) {
  return o->err != 0 ? KINESIS_ENOMEM : 0;
}


/* ---- stream management ---- */


static int op_create_stream(req_t* q) {
  static const char* const modes[] = {"PROVISIONED", "ON_DEMAND", NULL};
  const char* name;
  json_t* details = kn_svc_member(q->root, "StreamModeDetails");
  json_t* tags = kn_svc_member(q->root, "Tags");
  int64_t count = 0;
  int64_t kib = 1024;
  int has_count;
  int has_kib;
  int mode = 0;
  kn_svc_stream_t* s;
  int r;

  if ((r = kn_svc_get_name(q, q->root, "StreamName", 1, &name)) != 0 ||
      (r = kn_svc_get_int(q, q->root, "ShardCount", 1, INT64_MAX, &count,
                          &has_count)) != 0 ||
      (r = kn_svc_get_int(q, q->root, "MaxRecordSizeInKiB", 1024, 10240, &kib,
                          &has_kib)) != 0)
    return r;
  if (tags != NULL && !json_is_object(tags))
    return kn_svc_serialization(q, "Tags");
  if (details != NULL) {
    if (!json_is_object(details))
      return kn_svc_serialization(q, "StreamModeDetails");
    if ((r = kn_svc_get_enum(
             q, details, "StreamMode", modes,
             "Member must satisfy enum value set: [PROVISIONED, "
             "ON_DEMAND]",
             1, &mode)) != 0)
      return r;
  }
  /* An on-demand stream starts with 4 shards, as on AWS; ShardCount,
   * which the model allows with it, does not change that. */
  if (mode == 1)
    count = 4;
  else if (!has_count)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "ShardCount is required for a PROVISIONED stream.");
  if (count > KN_SVC_MAX_OPEN_SHARDS)
    return kn_svc_error(q->reply, "LimitExceededException",
                        "This request would exceed the shard limit of %d "
                        "for the stream.",
                        KN_SVC_MAX_OPEN_SHARDS);
  r = kn_svc_stream_create(q->st, name, (uint32_t) count, mode == 1, q->now,
                           &s);
  if (r == KINESIS_EALREADY)
    return kn_svc_error(q->reply, "ResourceInUseException",
                        "Stream %s under account %s already exists.", name,
                        q->svc->account_id);
  if (r != 0)
    return r;
  s->max_record_kib = (int) kib;
  return 0;
}


static int op_delete_stream(req_t* q) {
  kn_svc_stream_t* s;
  json_t* enforce = kn_svc_member(q->root, "EnforceConsumerDeletion");
  int r;
  if (enforce != NULL && !json_is_boolean(enforce))
    return kn_svc_serialization(q, "EnforceConsumerDeletion");
  if ((r = kn_svc_find_stream(q, NEED_DATA, &s)) != 0)
    return r;
  kn_svc_stream_delete(q->st, s, q->now);
  return 0;
}


static void out_monitoring(kn_svc_out_t* o) {
  kn_svc_out_array(o, "EnhancedMonitoring");
  kn_svc_out_begin(o, NULL);
  kn_svc_out_array(o, "ShardLevelMetrics");
  kn_svc_out_array_end(o);
  kn_svc_out_end(o);
  kn_svc_out_array_end(o);
}


static int op_describe_stream_summary(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_out_t o;
  int r;
  if ((r = kn_svc_find_stream(q, NEED_ANY, &s)) != 0)
    return r;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_begin(&o, "StreamDescriptionSummary");
  kn_svc_out_str(&o, "StreamName", s->name);
  out_arn(q, &o, "StreamARN", s);
  kn_svc_out_str(&o, "StreamStatus", kn_svc_status_name(s->status));
  out_mode(&o, s);
  kn_svc_out_int(&o, "RetentionPeriodHours", s->retention_hours);
  kn_svc_out_time(&o, "StreamCreationTimestamp", s->created_ms);
  out_monitoring(&o);
  kn_svc_out_str(&o, "EncryptionType", "NONE");
  kn_svc_out_int(&o, "OpenShardCount",
                 (int64_t) kn_svc_stream_open_shards(s));
  kn_svc_out_int(&o, "ConsumerCount", (int64_t) s->nconsumers);
  kn_svc_out_int(&o, "MaxRecordSizeInKiB", s->max_record_kib);
  kn_svc_out_end(&o);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


static int op_describe_stream(req_t* q) {
  kn_svc_stream_t* s;
  const char* after;
  int64_t limit = 100;
  int has_limit;
  int64_t n = 0;
  int more = 0;
  kn_svc_out_t o;
  size_t i;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "Limit", 1, 10000, &limit, &has_limit)) !=
          0 ||
      (r = kn_svc_get_name(q, q->root, "ExclusiveStartShardId", 0, &after)) !=
          0 ||
      (r = kn_svc_find_stream(q, NEED_ANY, &s)) != 0)
    return r;
  /* The service answers at most 100 shards a call, whatever the Limit. */
  if (limit > 100)
    limit = 100;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_begin(&o, "StreamDescription");
  kn_svc_out_str(&o, "StreamName", s->name);
  out_arn(q, &o, "StreamARN", s);
  kn_svc_out_str(&o, "StreamStatus", kn_svc_status_name(s->status));
  out_mode(&o, s);
  kn_svc_out_array(&o, "Shards");
  for (i = 0; i < s->nshards; i++) {
    const kn_svc_shard_t* sh = &s->shards[i];
    /* Shard ids have one width, so they order as their indexes do. */
    if (kn_svc_shard_aged_out(s, sh, q->now) ||
        (after != NULL && strcmp(sh->id, after) <= 0))
      continue;
    if (n == limit) {
      more = 1;
      break;
    }
    out_shard(&o, s, sh);
    n++;
  }
  kn_svc_out_array_end(&o);
  kn_svc_out_bool(&o, "HasMoreShards", more);
  kn_svc_out_int(&o, "RetentionPeriodHours", s->retention_hours);
  kn_svc_out_time(&o, "StreamCreationTimestamp", s->created_ms);
  out_monitoring(&o);
  kn_svc_out_str(&o, "EncryptionType", "NONE");
  kn_svc_out_end(&o);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


static int expired_token(req_t* q) {
  return kn_svc_error(q->reply, "ExpiredNextTokenException",
                      "The NextToken has expired: a token lives %d seconds.",
                      KN_SVC_TOKEN_TTL_MS / 1000);
}


static int op_list_streams(req_t* q) {
  const char* after;
  const char* token_text;
  size_t token_len;
  kn_svc_token_t t;
  int64_t limit = 100;
  int has_limit;
  int64_t n = 0;
  size_t i;
  size_t first = 0;
  size_t end;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "Limit", 1, 10000, &limit, &has_limit)) !=
          0 ||
      (r = kn_svc_get_name(q, q->root, "ExclusiveStartStreamName", 0,
                           &after)) != 0 ||
      (r = kn_svc_get_str(q, q->root, "NextToken", &token_text, &token_len)) !=
          0)
    return r;
  if (token_text != NULL) {
    if (after != NULL)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "NextToken and ExclusiveStartStreamName cannot be "
                          "given together.");
    if (kn_svc_token_decode(token_text, token_len, KN_SVC_TOKEN_STREAMS,
                            &t) != 0)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "Invalid NextToken.");
    if (q->now - t.issued_ms > KN_SVC_TOKEN_TTL_MS)
      return expired_token(q);
    after = t.name;
  }
  if (after != NULL)
    while (first < q->st->nstreams &&
           strcmp(q->st->streams[first]->name, after) <= 0)
      first++;
  end = first;
  while (end < q->st->nstreams && n < limit) {
    end++;
    n++;
  }
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_array(&o, "StreamNames");
  for (i = first; i < end; i++)
    kn_svc_out_str(&o, NULL, q->st->streams[i]->name);
  kn_svc_out_array_end(&o);
  kn_svc_out_bool(&o, "HasMoreStreams", end < q->st->nstreams);
  if (end < q->st->nstreams && end > first) {
    memset(&t, 0, sizeof(t));
    t.kind = KN_SVC_TOKEN_STREAMS;
    t.issued_ms = q->now;
    strcpy(t.name, q->st->streams[end - 1]->name);
    kn_svc_out_token(&o, "NextToken", &t);
  }
  kn_svc_out_array(&o, "StreamSummaries");
  for (i = first; i < end; i++) {
    const kn_svc_stream_t* s = q->st->streams[i];
    kn_svc_out_begin(&o, NULL);
    kn_svc_out_str(&o, "StreamName", s->name);
    out_arn(q, &o, "StreamARN", s);
    kn_svc_out_str(&o, "StreamStatus", kn_svc_status_name(s->status));
    out_mode(&o, s);
    kn_svc_out_time(&o, "StreamCreationTimestamp", s->created_ms);
    kn_svc_out_end(&o);
  }
  kn_svc_out_array_end(&o);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


/* ---- ListShards ---- */


enum {
  F_AFTER_SHARD_ID,
  F_AT_TRIM_HORIZON,
  F_FROM_TRIM_HORIZON,
  F_AT_LATEST,
  F_AT_TIMESTAMP,
  F_FROM_TIMESTAMP
};

static const char* const filter_types[] = {
    "AFTER_SHARD_ID", "AT_TRIM_HORIZON", "FROM_TRIM_HORIZON", "AT_LATEST",
    "AT_TIMESTAMP",   "FROM_TIMESTAMP",  NULL};


/* Whether shard `sh` passes filter `type` (with time `ts`). The trim
 * horizon is the oldest time records are kept from, but never before the
 * stream was made; a filter time before it is taken as it, so that a time
 * before the stream began lists its first shards rather than nothing. */
static int filter_match(const kn_svc_stream_t* s, const kn_svc_shard_t* sh,
                        int type, int64_t ts, int64_t now) {
  int64_t horizon = now - kn_svc_retention_ms(s);
  if (horizon < s->created_ms)
    horizon = s->created_ms;
  if (kn_svc_shard_aged_out(s, sh, now))
    return 0;
  if ((type == F_AT_TIMESTAMP || type == F_FROM_TIMESTAMP) && ts < horizon)
    ts = horizon;
  switch (type) {
  case F_AT_TRIM_HORIZON:
    return sh->created_ms <= horizon &&
           (!sh->closed || sh->closed_ms >= horizon);
  case F_AT_LATEST:
    return !sh->closed;
  case F_AT_TIMESTAMP:
    return sh->created_ms <= ts && (!sh->closed || sh->closed_ms >= ts);
  case F_FROM_TIMESTAMP:
    return !sh->closed || sh->closed_ms >= ts;
  default: /* AFTER_SHARD_ID (the id is checked apart), FROM_TRIM_HORIZON */
    return 1;
  }
}


static int op_list_shards(req_t* q) {
  const char* token_text;
  size_t token_len;
  const char* after = NULL;
  const char* filter_shard = NULL;
  json_t* filter = kn_svc_member(q->root, "ShardFilter");
  int64_t max = 1000;
  int has_max;
  int64_t ts = 0;
  int has_ts = 0;
  int64_t created;
  int has_created;
  int type = F_FROM_TRIM_HORIZON;
  int64_t last = -1; /* Shards up to this index are not listed. */
  kn_svc_stream_t* s;
  kn_svc_token_t t;
  int64_t n = 0;
  int64_t last_listed = -1;
  int more = 0;
  kn_svc_out_t o;
  size_t i;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "MaxResults", 1, 10000, &max,
                          &has_max)) != 0 ||
      (r = kn_svc_get_str(q, q->root, "NextToken", &token_text, &token_len)) !=
          0 ||
      (r = kn_svc_get_name(q, q->root, "ExclusiveStartShardId", 0, &after)) !=
          0 ||
      (r = kn_svc_get_time(q, q->root, "StreamCreationTimestamp", &created,
                           &has_created)) != 0)
    return r;
  /* The service answers at most 1000 shards a page. */
  if (max > 1000)
    max = 1000;
  if (token_text != NULL) {
    /* The token names the stream and the listing; nothing else may. */
    if (kn_svc_member(q->root, "StreamName") != NULL ||
        kn_svc_member(q->root, "StreamARN") != NULL)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "NextToken and StreamName or StreamARN cannot be "
                          "given together.");
    if (after != NULL || filter != NULL || has_created)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "NextToken cannot be given with "
                          "ExclusiveStartShardId, ShardFilter or "
                          "StreamCreationTimestamp.");
    if (kn_svc_token_decode(token_text, token_len, KN_SVC_TOKEN_SHARDS, &t) !=
            0 ||
        t.pos > F_FROM_TIMESTAMP)
      return kn_svc_error(q->reply, "InvalidArgumentException",
                          "Invalid NextToken.");
    if (q->now - t.issued_ms > KN_SVC_TOKEN_TTL_MS)
      return expired_token(q);
    s = kn_svc_stream_find(q->st, t.name);
    if (s == NULL || s->incarnation != t.incarnation)
      return kn_svc_not_found(q, t.name);
    type = (int) t.pos;
    ts = t.arg;
    last = t.shard;
  } else {
    if (filter != NULL) {
      if (!json_is_object(filter))
        return kn_svc_serialization(q, "ShardFilter");
      if ((r = kn_svc_get_enum(q, filter, "Type", filter_types,
                               "Member must satisfy enum value set: "
                               "[AFTER_SHARD_ID, AT_TRIM_HORIZON, "
                               "FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, "
                               "FROM_TIMESTAMP]",
                               1, &type)) != 0 ||
          (r = kn_svc_get_name(q, filter, "ShardId", 0, &filter_shard)) != 0 ||
          (r = kn_svc_get_time(q, filter, "Timestamp", &ts, &has_ts)) != 0)
        return r;
      if ((type == F_AFTER_SHARD_ID) != (filter_shard != NULL))
        return kn_svc_error(q->reply, "InvalidArgumentException",
                            "ShardFilter's ShardId is required with "
                            "AFTER_SHARD_ID and only with it.");
      if ((type == F_AT_TIMESTAMP || type == F_FROM_TIMESTAMP) != has_ts)
        return kn_svc_error(q->reply, "InvalidArgumentException",
                            "ShardFilter's Timestamp is required with "
                            "AT_TIMESTAMP and FROM_TIMESTAMP and only with "
                            "them.");
    }
    if ((r = kn_svc_find_stream(q, NEED_DATA, &s)) != 0)
      return r;
  }
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_array(&o, "Shards");
  for (i = 0; i < s->nshards; i++) {
    const kn_svc_shard_t* sh = &s->shards[i];
    if ((int64_t) i <= last || (after != NULL && strcmp(sh->id, after) <= 0) ||
        (filter_shard != NULL && strcmp(sh->id, filter_shard) <= 0) ||
        !filter_match(s, sh, type, ts, q->now))
      continue;
    if (n == max) {
      more = 1;
      break;
    }
    out_shard(&o, s, sh);
    last_listed = (int64_t) i;
    n++;
  }
  kn_svc_out_array_end(&o);
  if (more) {
    memset(&t, 0, sizeof(t));
    t.kind = KN_SVC_TOKEN_SHARDS;
    t.incarnation = s->incarnation;
    t.shard = (uint32_t) last_listed;
    /* Past the first page, AFTER_SHARD_ID is "after the last listed",
     * which the token says anyway. */
    t.pos = (uint64_t) (type == F_AFTER_SHARD_ID ? F_FROM_TRIM_HORIZON : type);
    t.arg = ts;
    t.issued_ms = q->now;
    strcpy(t.name, s->name);
    kn_svc_out_token(&o, "NextToken", &t);
  }
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


/* ---- resharding and retention ---- */


static int shard_limit(req_t* q) {
  return kn_svc_error(q->reply, "LimitExceededException",
                      "This request would exceed the shard limit of %d "
                      "for the stream.",
                      KN_SVC_MAX_OPEN_SHARDS);
}


/* An open shard of the stream, by the member `name`. */
static int find_open_shard(req_t* q, kn_svc_stream_t* s, const char* name,
                           kn_svc_shard_t** out) {
  const char* id;
  int r = kn_svc_get_name(q, q->root, name, 1, &id);
  if (r != 0)
    return r;
  *out = kn_svc_shard_find(s, id, q->now);
  if (*out == NULL)
    return kn_svc_shard_not_found(q, s, id);
  if ((*out)->closed)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Shard %s in stream %s under account %s is closed.", id,
                        s->name, q->svc->account_id);
  return 0;
}


static int op_split_shard(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_shard_t* sh;
  kn_hash_key_t k;
  kn_hash_key_t low;
  int has_k;
  int r;

  if ((r = kn_svc_get_hash_key(q, q->root, "NewStartingHashKey", 1, &k,
                               &has_k)) != 0 ||
      (r = kn_svc_find_stream(q, NEED_ACTIVE, &s)) != 0 ||
      (r = find_open_shard(q, s, "ShardToSplit", &sh)) != 0)
    return r;
  /* As AWS words it: above StartingHashKey + 1 and below EndingHashKey,
   * so both children hold at least two keys. */
  low = sh->start;
  kn_svc_key_inc(&low);
  if (kn_hash_key_cmp(&k, &low) <= 0 || kn_hash_key_cmp(&k, &sh->end) >= 0) {
    char text[KN_HASH_KEY_DECIMAL_MAX];
    kn_hash_key_format(&k, text);
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "NewStartingHashKey %s used in SplitShard() on shard "
                        "%s in stream %s under account %s is not both "
                        "greater than one plus the shard's StartingHashKey "
                        "and less than the shard's EndingHashKey.",
                        text, sh->id, s->name, q->svc->account_id);
  }
  if (kn_svc_stream_open_shards(s) + 1 > KN_SVC_MAX_OPEN_SHARDS)
    return shard_limit(q);
  if (kn_svc_split(q->st, s, sh->index, &k, q->now) != 0)
    return KINESIS_ENOMEM;
  kn_svc_stream_updated(q->st, s, q->now);
  return 0;
}


static int op_merge_shards(req_t* q) {
  kn_svc_stream_t* s;
  kn_svc_shard_t* a;
  kn_svc_shard_t* b;
  int r;

  if ((r = kn_svc_find_stream(q, NEED_ACTIVE, &s)) != 0 ||
      (r = find_open_shard(q, s, "ShardToMerge", &a)) != 0 ||
      (r = find_open_shard(q, s, "AdjacentShardToMerge", &b)) != 0)
    return r;
  if (a == b || !kn_svc_adjacent(a, b))
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Shards %s and %s in stream %s under account %s are "
                        "not an adjacent pair of shards eligible for "
                        "merging.",
                        a->id, b->id, s->name, q->svc->account_id);
  if (kn_svc_merge(q->st, s, a->index, b->index, q->now) != 0)
    return KINESIS_ENOMEM;
  kn_svc_stream_updated(q->st, s, q->now);
  return 0;
}


static int op_update_shard_count(req_t* q) {
  static const char* const scaling[] = {"UNIFORM_SCALING", NULL};
  kn_svc_stream_t* s;
  int64_t target;
  int has_target;
  int type;
  size_t open;
  kn_svc_out_t o;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "TargetShardCount", 1, INT64_MAX, &target,
                          &has_target)) != 0 ||
      (r = kn_svc_get_enum(
           q, q->root, "ScalingType", scaling,
           "Member must satisfy enum value set: [UNIFORM_SCALING]", 1,
           &type)) != 0)
    return r;
  if (!has_target)
    return kn_svc_missing(q, "targetShardCount");
  if ((r = kn_svc_find_stream(q, NEED_ACTIVE, &s)) != 0)
    return r;
  open = kn_svc_stream_open_shards(s);
  /* The rules and the change are the scheduled reshards' too
   * (svc_reshard.c). */
  r = kn_svc_scale_check(open, (uint64_t) target);
  if (r == KN_SVC_SCALE_RANGE)
    return kn_svc_error(q->reply, "LimitExceededException",
                        "UpdateShardCount can scale stream %s from %zu "
                        "shards to between half and double that, not "
                        "%" PRId64 ".",
                        s->name, open, target);
  if (r == KN_SVC_SCALE_LIMIT)
    return shard_limit(q);
  if (kn_svc_scale(q->svc, s, (uint32_t) target, q->now) != 0)
    return KINESIS_ENOMEM;
  kn_svc_out_init(&o, &q->reply->body);
  kn_svc_out_begin(&o, NULL);
  kn_svc_out_str(&o, "StreamName", s->name);
  kn_svc_out_int(&o, "CurrentShardCount", (int64_t) open);
  kn_svc_out_int(&o, "TargetShardCount", target);
  out_arn(q, &o, "StreamARN", s);
  kn_svc_out_end(&o);
  return kn_svc_finish(&o);
}


static int change_retention(req_t* q, int increase) {
  kn_svc_stream_t* s;
  int64_t hours;
  int has_hours;
  int r;

  if ((r = kn_svc_get_int(q, q->root, "RetentionPeriodHours", INT64_MIN,
                          INT64_MAX, &hours, &has_hours)) != 0)
    return r;
  if (!has_hours)
    return kn_svc_missing(q, "retentionPeriodHours");
  if ((r = kn_svc_find_stream(q, NEED_ACTIVE, &s)) != 0)
    return r;
  if (hours < 24)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Minimum allowed retention period is 24 hours. "
                        "Requested retention period (%" PRId64
                        " hours) is too short.",
                        hours);
  if (hours > 8760)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Maximum allowed retention period is 8760 hours. "
                        "Requested retention period (%" PRId64
                        " hours) is too long.",
                        hours);
  if (increase && hours < s->retention_hours)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Requested retention period (%" PRId64
                        " hours) for stream %s can not be shorter than "
                        "existing retention period (%d hours). Use "
                        "DecreaseRetentionPeriod API.",
                        hours, s->name, s->retention_hours);
  if (!increase && hours > s->retention_hours)
    return kn_svc_error(q->reply, "InvalidArgumentException",
                        "Requested retention period (%" PRId64
                        " hours) for stream %s can not be longer than "
                        "existing retention period (%d hours). Use "
                        "IncreaseRetentionPeriod API.",
                        hours, s->name, s->retention_hours);
  s->retention_hours = (int) hours;
  kn_svc_stream_updated(q->st, s, q->now);
  return 0;
}


static int op_increase_retention(req_t* q) {
  return change_retention(q, 1);
}


static int op_decrease_retention(req_t* q) {
  return change_retention(q, 0);
}


/* ---- the admin request (svc.h) ---- */


int kn_svc_read_faults(const uint8_t* body, size_t len, kn_svc_faults_t* out,
                       kn_svc_reply_t* reply) {
  static const char* const fractions[] = {"throttle", "error_5xx", "partial",
                                          "drop_before", "drop_after"};
  double* slots[5];
  json_error_t e;
  json_t* root;
  json_t* v;
  const char* key;
  size_t i;
  int r = 0;

  memset(out, 0, sizeof(*out));
  slots[0] = &out->throttle;
  slots[1] = &out->error_5xx;
  slots[2] = &out->partial;
  slots[3] = &out->drop_before;
  slots[4] = &out->drop_after;
  memset(&e, 0, sizeof(e));
  root = len > 0 ? json_loadb((const char*) body, len, 0, &e) : NULL;
  if (root == NULL && len > 0 &&
      (json_error_code(&e) == json_error_out_of_memory || e.text[0] == '\0'))
    return KINESIS_ENOMEM;
  if (!json_is_object(root)) {
    json_decref(root);
    r = kn_svc_error(reply, "SerializationException", "%s",
                     "The request body is not a JSON object.");
    return r == KN_SVC_REPLIED ? KN_SVC_BAD_FAULTS : r;
  }
  json_object_foreach(root, key, v) {
    for (i = 0; i < KN_ARRAY_SIZE(fractions); i++)
      if (strcmp(key, fractions[i]) == 0)
        break;
    if (i < KN_ARRAY_SIZE(fractions)) {
      if (!json_is_number(v))
        r = kn_svc_error(reply, "SerializationException",
                         "Unexpected JSON type for member %s", key);
      else if (!(json_number_value(v) >= 0 && json_number_value(v) <= 1))
        r = kn_svc_error(reply, "ValidationException",
                         "%s must be a number from 0 to 1", key);
      else
        *slots[i] = json_number_value(v);
    } else if (strcmp(key, "latency_ms") == 0 || strcmp(key, "seed") == 0) {
      int latency = key[0] == 'l';
      if (!json_is_integer(v))
        r = kn_svc_error(reply, "SerializationException",
                         "Unexpected JSON type for member %s", key);
      else if (json_integer_value(v) < 0 ||
               (latency && json_integer_value(v) > (json_int_t) UINT32_MAX))
        r = kn_svc_error(reply, "ValidationException",
                         "%s must be an integer from 0 to %s", key,
                         latency ? "4294967295" : "9223372036854775807");
      else if (latency)
        out->latency_ms = (uint32_t) json_integer_value(v);
      else
        out->seed = (uint64_t) json_integer_value(v);
    } else {
      r = kn_svc_error(reply, "ValidationException",
                       "unknown member %.128s: the faults are throttle, "
                       "error_5xx, partial, drop_before, drop_after, "
                       "latency_ms and seed", key);
    }
    if (r != 0)
      break;
  }
  json_decref(root);
  return r == KN_SVC_REPLIED ? KN_SVC_BAD_FAULTS : r;
}


/* ---- the admin requests that are the model's (svc.h) ---- */


/* Only these members: a typo is refused rather than taken for an absent
 * member, as LibkinesisServe.SetFaults does. */
static int only_members(req_t* q, const char* const* names,
                        const char* list) {
  const char* key;
  json_t* v;
  json_object_foreach(q->root, key, v) {
    size_t i;
    for (i = 0; names[i] != NULL; i++)
      if (strcmp(key, names[i]) == 0)
        break;
    if (names[i] == NULL)
      return kn_svc_error(q->reply, "ValidationException",
                          "unknown member %.128s: the members are %s", key,
                          list);
  }
  return 0;
}


static int op_schedule_reshard(req_t* q) {
  static const char* const names[] = {"StreamName", "TargetShardCount",
                                      "AfterMs", "EveryMs", NULL};
  const char* name;
  int64_t target = 0;
  int64_t after = 0;
  int64_t every = 0;
  int has_target;
  int has;
  int r;

  if ((r = only_members(q, names,
                        "StreamName, TargetShardCount, AfterMs "
                        "and EveryMs")) != 0 ||
      (r = kn_svc_get_name(q, q->root, "StreamName", 1, &name)) != 0 ||
      (r = kn_svc_get_int(q, q->root, "TargetShardCount", 1,
                          KN_SVC_MAX_OPEN_SHARDS, &target, &has_target)) != 0 ||
      (r = kn_svc_get_int(q, q->root, "AfterMs", 0,
                          q->now >= 0 ? INT64_MAX - q->now : INT64_MAX, &after,
                          &has)) != 0 ||
      (r = kn_svc_get_int(q, q->root, "EveryMs", 0, INT64_MAX, &every, &has)) !=
          0)
    return r;
  if (!has_target)
    return kn_svc_missing(q, "TargetShardCount");
  r = kn_svc_schedule_reshard(q->svc, name, q->now + after, (uint32_t) target,
                              (uint64_t) every);
  if (r == KINESIS_EINVAL) /* only a clock before 1970 */
    return kn_svc_error(q->reply, "ValidationException",
                        "AfterMs %" PRId64 " is before the epoch", after);
  if (r != 0)
    return r;
  return kn_buf_append_str(&q->reply->body, "{}");
}


static int op_cancel_reshards(req_t* q) {
  static const char* const names[] = {"StreamName", NULL};
  const char* name;
  int r;

  if ((r = only_members(q, names, "StreamName")) != 0 ||
      (r = kn_svc_get_name(q, q->root, "StreamName", 0, &name)) != 0)
    return r;
  kn_svc_cancel_reshards(q->svc, name);
  return kn_buf_append_str(&q->reply->body, "{}");
}


/* ---- dispatch ---- */


typedef int (*op_fn)(req_t* q);

static const struct {
  const char* name;
  op_fn fn;
  int admin; /* LibkinesisServe.NAME rather than Kinesis_20131202.NAME */
} ops[] = {
    {"CreateStream", op_create_stream, 0},
    {"DeleteStream", op_delete_stream, 0},
    {"DescribeStream", op_describe_stream, 0},
    {"DescribeStreamSummary", op_describe_stream_summary, 0},
    {"ListStreams", op_list_streams, 0},
    {"ListShards", op_list_shards, 0},
    {"GetShardIterator", kn_svc_op_get_shard_iterator, 0},
    {"GetRecords", kn_svc_op_get_records, 0},
    {"PutRecord", kn_svc_op_put_record, 0},
    {"PutRecords", kn_svc_op_put_records, 0},
    {"SplitShard", op_split_shard, 0},
    {"MergeShards", op_merge_shards, 0},
    {"UpdateShardCount", op_update_shard_count, 0},
    {"IncreaseStreamRetentionPeriod", op_increase_retention, 0},
    {"DecreaseStreamRetentionPeriod", op_decrease_retention, 0},
    {"RegisterStreamConsumer", kn_svc_op_register_consumer, 0},
    {"DescribeStreamConsumer", kn_svc_op_describe_consumer, 0},
    {"ListStreamConsumers", kn_svc_op_list_consumers, 0},
    {"DeregisterStreamConsumer", kn_svc_op_deregister_consumer, 0},
    {"ScheduleReshard", op_schedule_reshard, 1},
    {"CancelReshards", op_cancel_reshards, 1},
};


int kn_svc_op_find(const char* name, int admin) {
  size_t i;
  for (i = 0; i < KN_ARRAY_SIZE(ops); i++)
    if (ops[i].admin == admin && strcmp(ops[i].name, name) == 0)
      return (int) i;
  return -1;
}


static int run_op(req_t* q, void* arg) {
  return ops[*(const int*) arg].fn(q);
}


int kn_svc_op_run(kn_svc_t* svc, int op, int64_t now, const uint8_t* body,
                  size_t len, kn_svc_reply_t* reply) {
  KN_ASSERT(op >= 0 && (size_t) op < KN_ARRAY_SIZE(ops));
  return kn_svc_with_request(svc, now, body, len, reply, run_op, &op);
}


int kn_svc_with_request(kn_svc_t* svc, int64_t now, const uint8_t* body,
                        size_t len, kn_svc_reply_t* reply,
                        int (*fn)(req_t* q, void* arg), void* arg) {
  json_error_t e;
  req_t q;
  int r;

  memset(&e, 0, sizeof(e));
  memset(&q, 0, sizeof(q));
  q.root = len > 0 ? json_loadb((const char*) body, len, 0, &e) : NULL;
  if (q.root == NULL && len > 0 &&
      (json_error_code(&e) == json_error_out_of_memory || e.text[0] == '\0'))
    return KINESIS_ENOMEM; /* jansson's first allocation fails silently. */
  if (!json_is_object(q.root)) {
    json_decref(q.root);
    r = kn_svc_error(reply, "SerializationException", "%s",
                     "The request body is not a JSON object.");
    return r == KN_SVC_REPLIED ? 0 : r;
  }
  q.svc = svc;
  q.st = &svc->store;
  q.now = now;
  q.reply = reply;
  r = fn(&q, arg);
  json_decref(q.root);
  return r == KN_SVC_REPLIED ? 0 : r;
}
