#include "codec.h"

#include "internal.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Defensive bounds on a GetRecords answer (protocol.md section 4): the
 * service sends at most 10000 records, none larger than the model's Data
 * maximum of 10 MiB. */
#define KN_MAX_RECORDS_PER_RESPONSE 10000
#define KN_MAX_RECORD_DATA (10 * 1024 * 1024)

/* The reasons kn_parsed_t.error gives. */
#define KN_BAD_HASH_KEY "hash key is not a decimal from 0 to 2^128-1"
#define KN_BAD_SEQUENCE \
  "sequence number is not a decimal of 1 to 129 digits without a leading zero"


/* ---- Writing ---- */

int kn_json_append_string(kn_buf_t* b, const char* s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t i;
  size_t start = 0;
  int r;

  if ((r = kn_buf_reserve(b, len + 2)) != 0)
    return r;
  b->data[b->len++] = '"';
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char) s[i];
    char esc[7];
    size_t n = 0;
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char) c;
      n = 2;
    } else if (c < 0x20) {
      esc[0] = '\\';
      esc[1] = 'u';
      esc[2] = '0';
      esc[3] = '0';
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 15];
      n = 6;
    } else {
      continue;
    }
    if ((r = kn_buf_append(b, s + start, i - start)) != 0 ||
        (r = kn_buf_append(b, esc, n)) != 0)
      return r;
    start = i + 1;
  }
  if ((r = kn_buf_append(b, s + start, len - start)) != 0)
    return r;
  return kn_buf_append_byte(b, '"');
}


static int append_str(kn_buf_t* b, const char* s) {
  return kn_json_append_string(b, s, strlen(s));
}


/* Appends "StreamName":"x" or "StreamARN":"arn:...". */
static int append_stream(kn_buf_t* b, const char* stream) {
  int r = kn_buf_append_str(b, strncmp(stream, "arn:", 4) == 0
                                   ? "\"StreamARN\":"
                                   : "\"StreamName\":");
  return r != 0 ? r : append_str(b, stream);
}


int kn_codec_stream_request(kn_buf_t* b, const char* stream) {
  int r = kn_buf_append_byte(b, '{');
  if (r == 0)
    r = append_stream(b, stream);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_create_stream(kn_buf_t* b, const char* stream,
                           uint32_t shard_count) {
  int r = kn_buf_append_str(b, "{\"StreamName\":");
  if (r == 0)
    r = append_str(b, stream);
  if (r != 0)
    return r;
  if (shard_count == 0)
    return kn_buf_append_str(
        b, ",\"StreamModeDetails\":{\"StreamMode\":\"ON_DEMAND\"}}");
  return kn_buf_appendf(b, ",\"ShardCount\":%u}", (unsigned) shard_count);
}


int kn_codec_list_shards(kn_buf_t* b, const char* stream,
                         const char* next_token, const char* start_after,
                         double at_timestamp) {
  int r;
  if (next_token != NULL) {
    r = kn_buf_append_str(b, "{\"NextToken\":");
    if (r == 0)
      r = append_str(b, next_token);
    return r != 0 ? r : kn_buf_append_byte(b, '}');
  }
  r = kn_buf_append_byte(b, '{');
  if (r == 0)
    r = append_stream(b, stream);
  if (r == 0 && start_after != NULL) {
    r = kn_buf_append_str(b, ",\"ExclusiveStartShardId\":");
    if (r == 0)
      r = append_str(b, start_after);
  }
  /* The shards open at that time, and those created after them. */
  if (r == 0 && at_timestamp > 0)
    r = kn_buf_appendf(b,
                       ",\"ShardFilter\":{\"Type\":\"AT_TIMESTAMP\","
                       "\"Timestamp\":%.3f}",
                       at_timestamp);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


static const char* iterator_type_name(kinesis_iterator_type_t t) {
  switch (t) {
    case KINESIS_ITERATOR_TRIM_HORIZON:
      return "TRIM_HORIZON";
    case KINESIS_ITERATOR_LATEST:
      return "LATEST";
    case KINESIS_ITERATOR_AT_SEQUENCE_NUMBER:
      return "AT_SEQUENCE_NUMBER";
    case KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER:
      return "AFTER_SEQUENCE_NUMBER";
    case KINESIS_ITERATOR_AT_TIMESTAMP:
      return "AT_TIMESTAMP";
  }
  return NULL;
}


int kn_codec_get_shard_iterator(kn_buf_t* b,
                                const kinesis_iterator_request_t* req) {
  const char* type = iterator_type_name(req->type);
  int r;

  if (type == NULL)
    return KINESIS_EINVAL;
  r = kn_buf_append_byte(b, '{');
  if (r == 0)
    r = append_stream(b, req->stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"ShardId\":");
  if (r == 0)
    r = append_str(b, req->shard_id);
  if (r == 0)
    r = kn_buf_appendf(b, ",\"ShardIteratorType\":\"%s\"", type);
  /* AWS and kinesalite reject a sequence number with the other types. */
  if (r == 0 && (req->type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER ||
                 req->type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER)) {
    r = kn_buf_append_str(b, ",\"StartingSequenceNumber\":");
    if (r == 0)
      r = append_str(b, req->sequence_number);
  }
  if (r == 0 && req->type == KINESIS_ITERATOR_AT_TIMESTAMP)
    r = kn_buf_appendf(b, ",\"Timestamp\":%.3f", req->timestamp);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_get_records(kn_buf_t* b, const char* iterator, uint32_t limit) {
  int r = kn_buf_append_str(b, "{\"ShardIterator\":");
  if (r == 0)
    r = append_str(b, iterator);
  if (r == 0 && limit > 0)
    r = kn_buf_appendf(b, ",\"Limit\":%u", (unsigned) limit);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


/* Entries ahead of the one being encoded whose bytes are prefetched. */
#define KN_CODEC_PREFETCH_AHEAD 8

int kn_codec_put_records(kn_buf_t* b, const char* stream,
                         const kinesis_put_entry_t* entries, size_t n) {
  size_t i;
  size_t need = 64 + strlen(stream);
  int r;

  /* One reservation for the whole body keeps the loop free of reallocs,
   * unless keys are long. Only the entry array is read here: the records'
   * bytes are read once, below. */
  for (i = 0; i < n; i++)
    need += kn_base64_encoded_len(entries[i].len) + 96 +
            (entries[i].explicit_hash_key != NULL ? 64 : 0);
  if ((r = kn_buf_reserve(b, need)) != 0)
    return r;
  r = kn_buf_append_byte(b, '{');
  if (r == 0)
    r = append_stream(b, stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"Records\":[");
  for (i = 0; r == 0 && i < n; i++) {
    const kinesis_put_entry_t* e = &entries[i];
    if (i + KN_CODEC_PREFETCH_AHEAD < n) {
      const kinesis_put_entry_t* ahead = &entries[i + KN_CODEC_PREFETCH_AHEAD];
      KN_PREFETCH(ahead->partition_key, 1);
      KN_PREFETCH(ahead->data, ahead->len < 512 ? ahead->len : 512);
    }
    r = kn_buf_append_str(b, i == 0 ? "{\"Data\":\"" : ",{\"Data\":\"");
    if (r == 0)
      r = kn_buf_append_base64(b, e->data, e->len);
    if (r == 0)
      r = kn_buf_append_str(b, "\",\"PartitionKey\":");
    if (r == 0)
      r = append_str(b, e->partition_key);
    if (r == 0 && e->explicit_hash_key != NULL) {
      r = kn_buf_append_str(b, ",\"ExplicitHashKey\":");
      if (r == 0)
        r = append_str(b, e->explicit_hash_key);
    }
    if (r == 0)
      r = kn_buf_append_byte(b, '}');
  }
  return r != 0 ? r : kn_buf_append_str(b, "]}");
}


/* ---- Stream management ---- */

/* Opens the body with the stream's member: {"StreamName":"x" */
static int open_stream_body(kn_buf_t* b, const char* stream) {
  int r = kn_buf_append_byte(b, '{');
  return r != 0 ? r : append_stream(b, stream);
}


/* Appends ,"name":"value". */
static int append_member(kn_buf_t* b, const char* name, const char* value) {
  int r = kn_buf_appendf(b, ",\"%s\":", name);
  return r != 0 ? r : append_str(b, value);
}


/* Appends ,"name":n}, closing the body. */
static int close_with_uint(kn_buf_t* b, const char* name, uint32_t n) {
  return kn_buf_appendf(b, ",\"%s\":%u}", name, (unsigned) n);
}


int kn_codec_update_shard_count(kn_buf_t* b, const char* stream,
                                uint32_t target) {
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"ScalingType\":\"UNIFORM_SCALING\"");
  return r != 0 ? r : close_with_uint(b, "TargetShardCount", target);
}


int kn_codec_split_shard(kn_buf_t* b, const char* stream,
                         const char* shard_id, const char* hash_key) {
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = append_member(b, "ShardToSplit", shard_id);
  if (r == 0)
    r = append_member(b, "NewStartingHashKey", hash_key);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_merge_shards(kn_buf_t* b, const char* stream,
                          const char* shard_id, const char* adjacent) {
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = append_member(b, "ShardToMerge", shard_id);
  if (r == 0)
    r = append_member(b, "AdjacentShardToMerge", adjacent);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_update_stream_mode(kn_buf_t* b, const char* arn,
                                const char* mode) {
  int r = kn_buf_append_str(b, "{\"StreamARN\":");
  if (r == 0)
    r = append_str(b, arn);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"StreamModeDetails\":{\"StreamMode\":");
  if (r == 0)
    r = append_str(b, mode);
  return r != 0 ? r : kn_buf_append_str(b, "}}");
}


int kn_codec_retention(kn_buf_t* b, const char* stream, uint32_t hours) {
  int r = open_stream_body(b, stream);
  return r != 0 ? r : close_with_uint(b, "RetentionPeriodHours", hours);
}


int kn_codec_stream_encryption(kn_buf_t* b, const char* stream,
                               const char* key_id) {
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"EncryptionType\":\"KMS\"");
  if (r == 0)
    r = append_member(b, "KeyId", key_id);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_add_tags(kn_buf_t* b, const char* stream,
                      const kinesis_tag_t* tags, size_t n) {
  size_t i;
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"Tags\":{");
  for (i = 0; r == 0 && i < n; i++) {
    if (i > 0)
      r = kn_buf_append_byte(b, ',');
    if (r == 0)
      r = append_str(b, tags[i].key);
    if (r == 0)
      r = kn_buf_append_byte(b, ':');
    if (r == 0)
      r = append_str(b, tags[i].value != NULL ? tags[i].value : "");
  }
  return r != 0 ? r : kn_buf_append_str(b, "}}");
}


int kn_codec_remove_tags(kn_buf_t* b, const char* stream,
                         const char* const* keys, size_t n) {
  size_t i;
  int r = open_stream_body(b, stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"TagKeys\":[");
  for (i = 0; r == 0 && i < n; i++) {
    if (i > 0)
      r = kn_buf_append_byte(b, ',');
    if (r == 0)
      r = append_str(b, keys[i]);
  }
  return r != 0 ? r : kn_buf_append_str(b, "]}");
}


int kn_codec_list_tags(kn_buf_t* b, const char* stream,
                       const char* start_after) {
  int r = open_stream_body(b, stream);
  if (r == 0 && start_after != NULL)
    r = append_member(b, "ExclusiveStartTagKey", start_after);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_list_streams(kn_buf_t* b, const char* next_token,
                          const char* start_after) {
  int r;
  if (next_token == NULL && start_after == NULL)
    return kn_buf_append_str(b, "{}");
  r = kn_buf_append_str(b, next_token != NULL
                               ? "{\"NextToken\":"
                               : "{\"ExclusiveStartStreamName\":");
  if (r == 0)
    r = append_str(b, next_token != NULL ? next_token : start_after);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_update_max_record_size(kn_buf_t* b, const char* arn,
                                    uint32_t kib) {
  int r = kn_buf_append_str(b, "{\"StreamARN\":");
  if (r == 0)
    r = append_str(b, arn);
  return r != 0 ? r : close_with_uint(b, "MaxRecordSizeInKiB", kib);
}


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
      copy_trimmed(err->message, sizeof(err->message), s, strlen(s));
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
  memset(p, 0, sizeof(*p));
}


/* An answer that breaks one of the API's bounds: KINESIS_EPROTO, saying
 * which. */
static int refuse(kn_parsed_t* out, const char* why) {
  out->error = why;
  return KINESIS_EPROTO;
}


/* Why a shard's hash keys or sequence numbers are not what the API allows,
 * or NULL when they are; absent members are the caller's concern. A server
 * that sends anything else is not trusted with the ranges that route keys
 * and order checkpoints. */
static const char* shard_range_error(const kinesis_shard_t* s) {
  if ((s->starting_hash_key != NULL &&
       !kn_valid_hash_key(s->starting_hash_key)) ||
      (s->ending_hash_key != NULL && !kn_valid_hash_key(s->ending_hash_key)))
    return KN_BAD_HASH_KEY;
  if ((s->starting_sequence_number != NULL &&
       !kn_valid_sequence_number_strict(s->starting_sequence_number)) ||
      (s->ending_sequence_number != NULL &&
       !kn_valid_sequence_number_strict(s->ending_sequence_number)))
    return KN_BAD_SEQUENCE;
  return NULL;
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
    return refuse(out, "StreamNames is not an array");
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
      return refuse(out, "a stream name is not a string");
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
    return refuse(out, "Tags is not an array");
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
      return refuse(out, "a tag has no Key");
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


/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int y, int m, int d) {
  int64_t era;
  int64_t yoe;
  int64_t doy;
  int64_t doe;
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
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
  *out_ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 +
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


/* ---- A scanner for the hot answers ----
 *
 * GetRecords and PutRecords answers are parsed in place in a copy of the
 * body: strings are unescaped where they stand and NUL-terminated there, so
 * the records point into the copy. Unknown members of any shape are
 * skipped, null stands for absent, and anything malformed is EPROTO. Numbers
 * are read without strtod(), which would follow the application's locale.
 */

#define KN_SCAN_MAX_DEPTH 64

typedef struct {
  char* p;
  char* end;
  int err;
  size_t key_len;      /* of the key sc_member() returned last */
} kn_scan_t;

/* Whether the key sc_member() returned is `lit`, a string literal: a length
 * test and a fixed-size compare, which the compiler inlines. */
#define SC_KEY_IS(s, key, lit)                                                \
  ((s)->key_len == sizeof(lit) - 1 && memcmp((key), (lit), sizeof(lit) - 1) == 0)


static void sc_ws(kn_scan_t* s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}


/* Consumes `c` after white space; 0 when something else is there. */
static int sc_eat(kn_scan_t* s, char c) {
  sc_ws(s);
  if (s->p < s->end && *s->p == c) {
    s->p++;
    return 1;
  }
  return 0;
}


/* Consumes `word` (null, true, false) after white space. Every caller
 * reads a value, and RFC 8259 allows white space before any value: without
 * it here, "MillisBehindLatest": 0 or "ChildShards": null from a server or
 * proxy that pretty-prints was refused (issue 17). */
static int sc_literal(kn_scan_t* s, const char* word) {
  size_t n = strlen(word);
  sc_ws(s);
  if ((size_t) (s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
    s->p += n;
    return 1;
  }
  return 0;
}


static int hex4(const char* p, unsigned* out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned) (c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned) (c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned) (c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}


/* A string, unescaped in place and NUL-terminated; NULL on error. */
static char* sc_string(kn_scan_t* s, size_t* len) {
  char* start;
  char* out;

  sc_ws(s);
  if (s->p >= s->end || *s->p != '"') {
    s->err = 1;
    return NULL;
  }
  start = ++s->p;
  {
    /* Most strings have no escape: find the end without copying. A local
     * pointer, since stores through char pointers would otherwise force
     * s->p back to memory on every byte. */
    const char* p = s->p;
    const char* end = s->end;
#ifdef __SSE2__
    /* Sixteen bytes at a time (SSE2 is part of x86-64): a sequence number
     * takes four steps, not seven of eight bytes and a tail byte by byte. */
    {
      const __m128i quote = _mm_set1_epi8('"');
      const __m128i bslash = _mm_set1_epi8('\\');
      const __m128i ctl = _mm_set1_epi8(0x1F);
      while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i*) (const void*) p);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
        unsigned mask = (unsigned) _mm_movemask_epi8(hit);
        if (mask != 0) {
          /* The loops below stop at once on this byte. */
          p += __builtin_ctz(mask);
          break;
        }
        p += 16;
      }
    }
#endif
    /* Eight bytes at a time, while none is a quote, a backslash or a
     * control character (the usual bit tricks for "some byte is zero" and
     * "some byte is below n", which have no false negatives). */
    while (end - p >= 8) {
      const uint64_t ones = 0x0101010101010101u;
      const uint64_t highs = 0x8080808080808080u;
      uint64_t w;
      uint64_t q;
      uint64_t b;
      memcpy(&w, p, 8);
      q = w ^ (ones * '"');
      b = w ^ (ones * '\\');
      if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) &
          highs)
        break;
      p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && (unsigned char) *p >= 0x20)
      p++;
    s->p = (char*) p;
  }
  out = s->p;
  while (s->p < s->end) {
    unsigned char c = (unsigned char) *s->p;
    if (c == '"') {
      *out = '\0';
      s->p++;
      if (len != NULL)
        *len = (size_t) (out - start);
      return start;
    }
    if (c < 0x20)
      break;
    if (c != '\\') {
      *out++ = *s->p++;
      continue;
    }
    if (s->end - s->p < 2)
      break;
    c = (unsigned char) s->p[1];
    s->p += 2;
    switch (c) {
      case '"': *out++ = '"'; break;
      case '\\': *out++ = '\\'; break;
      case '/': *out++ = '/'; break;
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'u': {
        unsigned cp;
        unsigned lo;
        if (s->end - s->p < 4 || hex4(s->p, &cp) != 0)
          goto bad;
        s->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          /* A surrogate pair; six bytes of escape give four of UTF-8. */
          if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
              hex4(s->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            goto bad;
          s->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          goto bad;
        }
        /* UTF-8 is never longer than the escape it replaces. */
        if (cp < 0x80) {
          *out++ = (char) cp;
        } else if (cp < 0x800) {
          *out++ = (char) (0xC0 | (cp >> 6));
          *out++ = (char) (0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          *out++ = (char) (0xE0 | (cp >> 12));
          *out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
          *out++ = (char) (0x80 | (cp & 0x3F));
        } else {
          *out++ = (char) (0xF0 | (cp >> 18));
          *out++ = (char) (0x80 | ((cp >> 12) & 0x3F));
          *out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
          *out++ = (char) (0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        goto bad;
    }
  }
bad:
  s->err = 1;
  return NULL;
}


/* A string or null (NULL, without error). */
static char* sc_opt_string(kn_scan_t* s) {
  if (sc_literal(s, "null"))
    return NULL;
  return sc_string(s, NULL);
}


/* The same, with the string's length in *len (0 for null). */
static char* sc_opt_string_len(kn_scan_t* s, size_t* len) {
  *len = 0;
  if (sc_literal(s, "null"))
    return NULL;
  return sc_string(s, len);
}


/* A JSON number, read in the C locale's way whatever the process's is. */
static double sc_number(kn_scan_t* s) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                 1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
                                 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mant = 0;
  int exp10 = 0;
  int neg = 0;
  int digits = 0;
  int e = 0;
  int eneg = 0;
  double v;

  sc_ws(s);
  if (s->p < s->end && *s->p == '-') {
    neg = 1;
    s->p++;
  }
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    if (mant < UINT64_C(1000000000000000000))
      mant = mant * 10 + (uint64_t) (*s->p - '0');
    else
      exp10++;
    s->p++;
    digits++;
  }
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
      if (mant < UINT64_C(1000000000000000000)) {
        mant = mant * 10 + (uint64_t) (*s->p - '0');
        exp10--;
      }
      s->p++;
      digits++;
    }
  }
  if (digits == 0) {
    s->err = 1;
    return 0;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      eneg = *s->p++ == '-';
    if (s->p >= s->end || *s->p < '0' || *s->p > '9') {
      s->err = 1;
      return 0;
    }
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
      if (e < 10000)
        e = e * 10 + (*s->p - '0');
      s->p++;
    }
    exp10 += eneg ? -e : e;
  }
  v = (double) mant;
  while (exp10 > 0) {
    int k = exp10 > 22 ? 22 : exp10;
    v *= pow10[k];
    exp10 -= k;
  }
  while (exp10 < 0) {
    int k = -exp10 > 22 ? 22 : -exp10;
    v /= pow10[k];
    exp10 += k;
  }
  return neg ? -v : v;
}


static void sc_skip(kn_scan_t* s, int depth);


static void sc_skip_container(kn_scan_t* s, int depth, char close, int obj) {
  if (depth > KN_SCAN_MAX_DEPTH) {
    s->err = 1;
    return;
  }
  if (sc_eat(s, close))
    return;
  do {
    if (obj && (sc_string(s, NULL) == NULL || !sc_eat(s, ':'))) {
      s->err = 1;
      return;
    }
    sc_skip(s, depth + 1);
  } while (!s->err && sc_eat(s, ','));
  if (!s->err && !sc_eat(s, close))
    s->err = 1;
}


/* Any value. */
static void sc_skip(kn_scan_t* s, int depth) {
  sc_ws(s);
  if (s->p >= s->end) {
    s->err = 1;
    return;
  }
  switch (*s->p) {
    case '"':
      sc_string(s, NULL);
      return;
    case '{':
      s->p++;
      sc_skip_container(s, depth, '}', 1);
      return;
    case '[':
      s->p++;
      sc_skip_container(s, depth, ']', 0);
      return;
    default:
      if (sc_literal(s, "null") || sc_literal(s, "true") ||
          sc_literal(s, "false"))
        return;
      sc_number(s);
  }
}


/* Starts an object: its '{'. Then: while ((key = sc_member(s, &first)))
 * read or skip the value. */
static char* sc_member(kn_scan_t* s, int* first) {
  char* key;
  if (s->err)
    return NULL;
  if (*first) {
    *first = 0;
    if (sc_eat(s, '}'))
      return NULL;
  } else if (!sc_eat(s, ',')) {
    if (!sc_eat(s, '}'))
      s->err = 1;
    return NULL;
  }
  key = sc_string(s, &s->key_len);
  if (key == NULL || !sc_eat(s, ':')) {
    s->err = 1;
    return NULL;
  }
  return key;
}


static int sc_begin(kn_scan_t* s, const uint8_t* body, size_t len,
                    kn_buf_t* take, kn_parsed_t* out) {
  memset(out, 0, sizeof(*out));
  out->millis_behind_latest = -1;
  if (take != NULL && take->data == body && take->len == len && len > 0) {
    /* The response's own buffer, NUL-terminated: no copy. */
    out->text = kn_buf_steal(take);
  } else {
    /* An empty body may come as (NULL, 0), which memcpy() must not see. */
    out->text = kn_malloc(len + 1);
    if (out->text != NULL) {
      if (len > 0)
        memcpy(out->text, body, len);
      out->text[len] = '\0';
    }
  }
  if (out->text == NULL)
    return KINESIS_ENOMEM;
  s->p = out->text;
  s->end = out->text + len;
  s->err = 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  return 0;
}


/* After the top-level object: nothing but white space. */
static int sc_finish(kn_scan_t* s) {
  sc_ws(s);
  return s->err || s->p != s->end ? KINESIS_EPROTO : 0;
}


/* The members of a ListShards shard's HashKeyRange or SequenceNumberRange:
 * `a` and `b` get the two named strings. */
static int sc_range(kn_scan_t* s, const char* na, const char** a,
                    const char* nb, const char** b) {
  int first = 1;
  char* key;
  if (sc_literal(s, "null"))
    return 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (s->key_len == strlen(na) && memcmp(key, na, s->key_len) == 0)
      *a = sc_opt_string(s);
    else if (s->key_len == strlen(nb) && memcmp(key, nb, s->key_len) == 0)
      *b = sc_opt_string(s);
    else
      sc_skip(s, 3);
  }
  return s->err ? KINESIS_EPROTO : 0;
}


/* A ChildShards entry: ShardId, ParentShards[], HashKeyRange{}. */
static int sc_child_shard(kn_scan_t* s, kinesis_shard_t* sh) {
  int first = 1;
  char* key;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "ShardId")) {
      sh->shard_id = sc_opt_string(s);
    } else if (SC_KEY_IS(s, key, "ParentShards")) {
      int n = 0;
      if (sc_literal(s, "null"))
        continue;
      if (!sc_eat(s, '['))
        return KINESIS_EPROTO;
      if (!sc_eat(s, ']')) {
        do {
          char* id = sc_string(s, NULL);
          if (n == 0)
            sh->parent_shard_id = id;
          else if (n == 1)
            sh->adjacent_parent_shard_id = id;
          n++;
        } while (!s->err && sc_eat(s, ','));
        if (!sc_eat(s, ']'))
          return KINESIS_EPROTO;
      }
    } else if (SC_KEY_IS(s, key, "HashKeyRange")) {
      if (sc_range(s, "StartingHashKey", &sh->starting_hash_key,
                   "EndingHashKey", &sh->ending_hash_key) != 0)
        return KINESIS_EPROTO;
    } else {
      sc_skip(s, 1);
    }
  }
  return s->err || sh->shard_id == NULL ? KINESIS_EPROTO : 0;
}


static int sc_child_shards(kn_scan_t* s, kn_parsed_t* out) {
  /* A repeated ChildShards member appends to what the first one left, so
   * the array is grown from its length, never from zero. */
  size_t cap = out->nchild_shards;
  if (sc_literal(s, "null"))
    return 0;
  if (!sc_eat(s, '['))
    return KINESIS_EPROTO;
  if (sc_eat(s, ']'))
    return 0;
  do {
    int r;
    if (out->nchild_shards == cap) {
      kinesis_shard_t* n;
      cap = cap ? cap * 2 : 2;
      n = kn_realloc(out->child_shards, cap * sizeof(*n));
      if (n == NULL)
        return KINESIS_ENOMEM;
      out->child_shards = n;
    }
    memset(&out->child_shards[out->nchild_shards], 0,
           sizeof(*out->child_shards));
    r = sc_child_shard(s, &out->child_shards[out->nchild_shards]);
    if (r != 0)
      return r;
    if ((out->error = shard_range_error(
             &out->child_shards[out->nchild_shards])) != NULL)
      return KINESIS_EPROTO;
    out->nchild_shards++;
  } while (sc_eat(s, ','));
  return sc_eat(s, ']') ? 0 : KINESIS_EPROTO;
}


/* One record of a GetRecords answer; its data is decoded where its base64
 * stood. */
static int sc_record(kn_scan_t* s, kinesis_fetched_record_t* rec,
                     kn_parsed_t* out) {
  int first = 1;
  char* key;
  char* data = NULL;
  size_t data_len = 0;
  size_t seq_len = 0;

  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "Data")) {
      data = sc_string(s, &data_len);
    } else if (SC_KEY_IS(s, key, "PartitionKey")) {
      rec->partition_key = sc_opt_string(s);
    } else if (SC_KEY_IS(s, key, "SequenceNumber")) {
      rec->sequence_number = sc_opt_string_len(s, &seq_len);
    } else if (SC_KEY_IS(s, key, "ApproximateArrivalTimestamp")) {
      if (!sc_literal(s, "null"))
        rec->approximate_arrival_timestamp = sc_number(s);
    } else if (SC_KEY_IS(s, key, "EncryptionType")) {
      rec->encryption_type = sc_opt_string(s);
    } else {
      sc_skip(s, 2);
    }
  }
  if (s->err || data == NULL || rec->partition_key == NULL ||
      rec->sequence_number == NULL)
    return KINESIS_EPROTO;
  if (!kn_valid_sequence_number_strict_len(rec->sequence_number, seq_len))
    return refuse(out, "GetRecords: " KN_BAD_SEQUENCE);
  /* Base64 of the largest record is 4 * ceil(10 MiB / 3) characters. */
  if (data_len > (KN_MAX_RECORD_DATA + 2) / 3 * 4)
    return refuse(out, "GetRecords: a record's data is over 10 MiB");
  rec->len = data_len;
  if (kn_base64_decode(data, data_len, (uint8_t*) data, &rec->len) != 0)
    return KINESIS_EPROTO;
  if (rec->len > KN_MAX_RECORD_DATA)
    return refuse(out, "GetRecords: a record's data is over 10 MiB");
  rec->data = (const uint8_t*) data;
  return 0;
}


int kn_codec_parse_get_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               kn_parsed_t* out) {
  kn_scan_t s;
  int first = 1;
  int have_records = 0;
  size_t cap = 0;
  char* key;
  int r = sc_begin(&s, body, len, take, out);

  if (r != 0)
    return r;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (SC_KEY_IS(&s, key, "Records")) {
      have_records = 1;
      if (!sc_eat(&s, '['))
        return KINESIS_EPROTO;
      if (sc_eat(&s, ']'))
        continue;
      do {
        if (out->nrecords == KN_MAX_RECORDS_PER_RESPONSE)
          return refuse(out, "GetRecords: more than 10000 records");
        if (out->nrecords == cap) {
          kinesis_fetched_record_t* n;
          cap = cap ? cap * 2 : 64;
          if (cap > KN_MAX_RECORDS_PER_RESPONSE)
            cap = KN_MAX_RECORDS_PER_RESPONSE;
          n = kn_realloc(out->records, cap * sizeof(*n));
          if (n == NULL)
            return KINESIS_ENOMEM;
          out->records = n;
        }
        memset(&out->records[out->nrecords], 0, sizeof(*out->records));
        r = sc_record(&s, &out->records[out->nrecords], out);
        if (r != 0)
          return r;
        out->nrecords++;
      } while (sc_eat(&s, ','));
      if (!sc_eat(&s, ']'))
        return KINESIS_EPROTO;
    } else if (SC_KEY_IS(&s, key, "NextShardIterator")) {
      out->next_shard_iterator = sc_opt_string(&s);
    } else if (SC_KEY_IS(&s, key, "MillisBehindLatest")) {
      if (!sc_literal(&s, "null")) {
        /* A long of at least 0 in the model. Converting a double outside
         * int64_t's range is undefined, so such a value is refused, not
         * cast. */
        double ms = sc_number(&s);
        if (!(ms >= 0 && ms < 9223372036854775808.0))
          return refuse(out, "GetRecords: MillisBehindLatest out of range");
        out->millis_behind_latest = (int64_t) ms;
      }
    } else if (SC_KEY_IS(&s, key, "ChildShards")) {
      r = sc_child_shards(&s, out);
      if (r != 0)
        return r;
    } else {
      sc_skip(&s, 1);
    }
  }
  r = sc_finish(&s);
  return r != 0 || !have_records ? KINESIS_EPROTO : 0;
}


/* A ListShards shard: ShardId, its parents, HashKeyRange{} and
 * SequenceNumberRange{}. */
static int sc_list_shard(kn_scan_t* s, kinesis_shard_t* sh) {
  int first = 1;
  char* key;
  int r = 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while (r == 0 && (key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "ShardId"))
      sh->shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "ParentShardId"))
      sh->parent_shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "AdjacentParentShardId"))
      sh->adjacent_parent_shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "HashKeyRange"))
      r = sc_range(s, "StartingHashKey", &sh->starting_hash_key,
                   "EndingHashKey", &sh->ending_hash_key);
    else if (SC_KEY_IS(s, key, "SequenceNumberRange"))
      r = sc_range(s, "StartingSequenceNumber", &sh->starting_sequence_number,
                   "EndingSequenceNumber", &sh->ending_sequence_number);
    else
      sc_skip(s, 2);
  }
  if (r != 0 || s->err || sh->shard_id == NULL ||
      sh->starting_hash_key == NULL || sh->ending_hash_key == NULL)
    return KINESIS_EPROTO;
  return 0;
}


/* ListShards, scanned in place like GetRecords: a stream of a thousand
 * shards lists half a megabyte, which jansson's tree took tens of
 * milliseconds of the loop to build. */
int kn_codec_parse_list_shards(const uint8_t* body, size_t len,
                               kn_parsed_t* out) {
  kn_scan_t s;
  int first = 1;
  size_t cap = 0;
  char* key;
  int r = sc_begin(&s, body, len, NULL, out);

  if (r != 0)
    return r;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (SC_KEY_IS(&s, key, "NextToken")) {
      out->next_token = sc_opt_string(&s);
    } else if (SC_KEY_IS(&s, key, "Shards")) {
      if (sc_literal(&s, "null"))
        continue;
      if (!sc_eat(&s, '['))
        return KINESIS_EPROTO;
      if (sc_eat(&s, ']'))
        continue;
      do {
        if (out->nshards == cap) {
          kinesis_shard_t* n;
          cap = cap ? cap * 2 : 64;
          n = kn_realloc(out->shards, cap * sizeof(*n));
          if (n == NULL)
            return KINESIS_ENOMEM;
          out->shards = n;
        }
        memset(&out->shards[out->nshards], 0, sizeof(*out->shards));
        r = sc_list_shard(&s, &out->shards[out->nshards]);
        if (r != 0)
          return r;
        if ((out->error = shard_range_error(&out->shards[out->nshards])) !=
            NULL)
          return KINESIS_EPROTO;
        out->nshards++;
      } while (sc_eat(&s, ','));
      if (!sc_eat(&s, ']'))
        return KINESIS_EPROTO;
    } else {
      sc_skip(&s, 1);
    }
  }
  return sc_finish(&s);
}


int kn_codec_parse_put_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               size_t expected, kn_parsed_t* out) {
  kn_scan_t s;
  int first = 1;
  char* key;
  size_t n = 0;
  size_t seq_len = 0;
  int r = sc_begin(&s, body, len, take, out);

  if (r != 0)
    return r;
  if (expected == 0)
    return refuse(out, "PutRecords: an answer to no records");
  out->put_entries = kn_calloc(expected, sizeof(*out->put_entries));
  if (out->put_entries == NULL)
    return KINESIS_ENOMEM;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (!SC_KEY_IS(&s, key, "Records")) {
      /* FailedRecordCount may be absent; the entries are the truth. */
      sc_skip(&s, 1);
      continue;
    }
    if (!sc_eat(&s, '[') || sc_eat(&s, ']'))
      return KINESIS_EPROTO;
    do {
      kinesis_put_entry_result_t* e;
      int f2 = 1;
      char* k2;
      if (n == expected)
        return refuse(out, "PutRecords: more entries than records sent");
      if (!sc_eat(&s, '{'))
        return KINESIS_EPROTO;
      e = &out->put_entries[n++];
      while ((k2 = sc_member(&s, &f2)) != NULL) {
        if (SC_KEY_IS(&s, k2, "SequenceNumber"))
          e->sequence_number = sc_opt_string_len(&s, &seq_len);
        else if (SC_KEY_IS(&s, k2, "ShardId"))
          e->shard_id = sc_opt_string(&s);
        else if (SC_KEY_IS(&s, k2, "ErrorCode"))
          e->error_code = sc_opt_string(&s);
        else if (SC_KEY_IS(&s, k2, "ErrorMessage"))
          e->error_message = sc_opt_string(&s);
        else
          sc_skip(&s, 2);
      }
      if (s.err)
        return KINESIS_EPROTO;
      if (e->error_code != NULL)
        out->failed_record_count++;
      else if (e->shard_id == NULL || e->sequence_number == NULL)
        return KINESIS_EPROTO;
      else if (!kn_valid_sequence_number_strict_len(e->sequence_number,
                                                    seq_len))
        return refuse(out, "PutRecords: " KN_BAD_SEQUENCE);
    } while (sc_eat(&s, ','));
    if (!sc_eat(&s, ']'))
      return KINESIS_EPROTO;
  }
  r = sc_finish(&s);
  if (r != 0)
    return r;
  if (n != expected)
    return refuse(out, "PutRecords: fewer entries than records sent");
  out->nput_entries = n;
  return 0;
}
