#include "codec.h"

#include "internal.h"

#include <string.h>


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


/* A start position's members: its type under `type_key`, then the sequence
 * number under `seq_key` or the timestamp, as the type needs (AWS and
 * kinesalite refuse a sequence number with the other types). */
static int append_position(kn_buf_t* b, const char* type_key,
                           const char* seq_key,
                           const kinesis_iterator_request_t* req) {
  const char* type = iterator_type_name(req->type);
  int r;
  if (type == NULL)
    return KINESIS_EINVAL;
  r = kn_buf_appendf(b, "\"%s\":\"%s\"", type_key, type);
  if (r == 0 && (req->type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER ||
                 req->type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER)) {
    r = kn_buf_appendf(b, ",\"%s\":", seq_key);
    if (r == 0)
      r = append_str(b, req->sequence_number);
  }
  if (r == 0 && req->type == KINESIS_ITERATOR_AT_TIMESTAMP)
    r = kn_buf_appendf(b, ",\"Timestamp\":%.3f", req->timestamp);
  return r;
}


int kn_codec_get_shard_iterator(kn_buf_t* b,
                                const kinesis_iterator_request_t* req) {
  int r = kn_buf_append_byte(b, '{');
  if (r == 0)
    r = append_stream(b, req->stream);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"ShardId\":");
  if (r == 0)
    r = append_str(b, req->shard_id);
  if (r == 0)
    r = kn_buf_append_byte(b, ',');
  if (r == 0)
    r = append_position(b, "ShardIteratorType", "StartingSequenceNumber", req);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_subscribe_to_shard(kn_buf_t* b, const char* consumer_arn,
                                const kinesis_iterator_request_t* start) {
  int r = kn_buf_append_str(b, "{\"ConsumerARN\":");
  if (r == 0)
    r = append_str(b, consumer_arn);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"ShardId\":");
  if (r == 0)
    r = append_str(b, start->shard_id);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"StartingPosition\":{");
  if (r == 0)
    r = append_position(b, "Type", "SequenceNumber", start);
  return r != 0 ? r : kn_buf_append_str(b, "}}");
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
                         const kinesis_record_t* entries, size_t n) {
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
    const kinesis_record_t* e = &entries[i];
    if (i + KN_CODEC_PREFETCH_AHEAD < n) {
      const kinesis_record_t* ahead = &entries[i + KN_CODEC_PREFETCH_AHEAD];
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


/* ---- Enhanced fan-out consumers ---- */

int kn_codec_consumer_request(kn_buf_t* b, const char* stream_arn,
                              const char* consumer_name,
                              const char* consumer_arn) {
  int by_arn = consumer_arn != NULL;
  int r = kn_buf_append_str(b, by_arn ? "{\"ConsumerARN\":" : "{\"StreamARN\":");
  if (r == 0)
    r = append_str(b, by_arn ? consumer_arn : stream_arn);
  if (r == 0 && !by_arn && consumer_name != NULL)
    r = append_member(b, "ConsumerName", consumer_name);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_list_consumers(kn_buf_t* b, const char* stream_arn,
                            const char* next_token) {
  int r = kn_buf_append_str(b, "{\"StreamARN\":");
  if (r == 0)
    r = append_str(b, stream_arn);
  if (r == 0 && next_token != NULL)
    r = append_member(b, "NextToken", next_token);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


/* ---- DynamoDB ---- */


/* Appends {"TableName":"table" without closing the object. */
static int ddb_open(kn_buf_t* b, const char* table) {
  int r = kn_buf_append_str(b, "{\"TableName\":");
  return r != 0 ? r : append_str(b, table);
}


/* Appends ,"member":{"key":{"S":"value"}}: an item's key. */
static int ddb_key(kn_buf_t* b, const char* member, const char* key,
                   const char* value) {
  int r = kn_buf_appendf(b, ",\"%s\":{", member);
  if (r == 0)
    r = append_str(b, key);
  if (r == 0)
    r = kn_buf_append_str(b, ":{\"S\":");
  if (r == 0)
    r = append_str(b, value);
  return r != 0 ? r : kn_buf_append_str(b, "}}");
}


/* Appends ,"member":{"name":{"T":"value"},...}: an item, or the values of
 * an expression's placeholders. */
static int ddb_values(kn_buf_t* b, const char* member,
                      const kn_ddb_value_t* v, size_t n) {
  int r = kn_buf_appendf(b, ",\"%s\":{", member);
  size_t i;
  for (i = 0; r == 0 && i < n; i++) {
    if (i > 0)
      r = kn_buf_append_byte(b, ',');
    if (r == 0)
      r = append_str(b, v[i].name);
    if (r == 0)
      r = kn_buf_appendf(b, ":{\"%c\":", v[i].type);
    if (r == 0)
      r = append_str(b, v[i].value);
    if (r == 0)
      r = kn_buf_append_byte(b, '}');
  }
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_ddb_create_table(kn_buf_t* b, const char* table,
                              const char* key) {
  int r = ddb_open(b, table);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"BillingMode\":\"PAY_PER_REQUEST\","
                             "\"AttributeDefinitions\":[{\"AttributeName\":");
  if (r == 0)
    r = append_str(b, key);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"AttributeType\":\"S\"}],"
                             "\"KeySchema\":[{\"AttributeName\":");
  if (r == 0)
    r = append_str(b, key);
  return r != 0 ? r : kn_buf_append_str(b, ",\"KeyType\":\"HASH\"}]}");
}


int kn_codec_ddb_table(kn_buf_t* b, const char* table) {
  int r = ddb_open(b, table);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_ddb_get_item(kn_buf_t* b, const char* table, const char* key,
                          const char* value) {
  int r = ddb_open(b, table);
  if (r == 0)
    r = ddb_key(b, "Key", key, value);
  return r != 0 ? r : kn_buf_append_str(b, ",\"ConsistentRead\":true}");
}


int kn_codec_ddb_put_item(kn_buf_t* b, const char* table,
                          const kn_ddb_value_t* item, size_t n,
                          const char* condition) {
  int r = ddb_open(b, table);
  if (r == 0)
    r = ddb_values(b, "Item", item, n);
  if (r == 0 && condition != NULL)
    r = append_member(b, "ConditionExpression", condition);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_ddb_update_item(kn_buf_t* b, const char* table, const char* key,
                             const char* value, const char* update,
                             const char* condition,
                             const kn_ddb_value_t* values, size_t n) {
  int r = ddb_open(b, table);
  if (r == 0)
    r = ddb_key(b, "Key", key, value);
  if (r == 0)
    r = append_member(b, "UpdateExpression", update);
  if (r == 0 && condition != NULL)
    r = append_member(b, "ConditionExpression", condition);
  if (r == 0 && n > 0)
    r = ddb_values(b, "ExpressionAttributeValues", values, n);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}


int kn_codec_ddb_scan(kn_buf_t* b, const char* table, const char* key,
                      const char* start) {
  int r = ddb_open(b, table);
  if (r == 0)
    r = kn_buf_append_str(b, ",\"ConsistentRead\":true");
  if (r == 0 && start != NULL)
    r = ddb_key(b, "ExclusiveStartKey", key, start);
  return r != 0 ? r : kn_buf_append_byte(b, '}');
}
