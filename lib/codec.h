#ifndef KN_CODEC_H
#define KN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "kinesis/client.h"

/*
 * All JSON lives in the codec files, in three parts behind this one header:
 * codec.c writes request bodies; codec_json.c, the only file that includes
 * jansson, reads error bodies, credential documents and the less frequent
 * answers (DynamoDB's among them); codec_scan.c scans the hot answers
 * (GetRecords, PutRecords, ListShards) in place, without jansson.
 */

/* ---- Credential documents ---- */

typedef struct kn_codec_creds_s {
  char* access_key_id;      /* kn_malloc'd */
  char* secret_access_key;  /* kn_malloc'd */
  char* session_token;      /* kn_malloc'd, NULL when absent ("Token") */
  int64_t expiration_ms;    /* 0 when absent */
} kn_codec_creds_t;

/*
 * Parses {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} as served
 * by ECS/EKS container endpoints and EC2 instance metadata (which adds
 * "Code": "Success"). Returns 0, KINESIS_EPROTO (not JSON, a key missing, a
 * Code other than Success, or a bad Expiration) or KINESIS_ENOMEM.
 */
int kn_codec_parse_credentials(const uint8_t* body, size_t len,
                               kn_codec_creds_t* out);
void kn_codec_creds_clear(kn_codec_creds_t* c);

/*
 * The documents of the credential_process and IAM Identity Center sources
 * (cred_process.c, cred_sso.c). Each writes a short reason into `why` (at
 * most `why_size` bytes, NUL-terminated) when it refuses a document; the
 * reason names a member, never a value, since the documents hold secrets.
 *
 * A credential_process command's standard output: {"Version": 1,
 * "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"? (ISO
 * 8601)}. Version must be the integer 1; the keys non-empty strings; no
 * Expiration means the credentials do not expire (expiration_ms 0).
 * Returns 0, KINESIS_EINVAL (`text` NULL), KINESIS_EPROTO with `why` set, or
 * KINESIS_ENOMEM; `out` is zeroed on entry and left zeroed on failure.
 */
int kn_codec_parse_process_credentials(const char* text, size_t len,
                                       kn_codec_creds_t* out, char* why,
                                       size_t why_size);

/*
 * A token cached by `aws sso login` (~/.aws/sso/cache/HASH.json):
 * {"accessToken", "expiresAt" (ISO 8601, "Z" or the older "UTC" suffix)}.
 * Sets *token (kn_malloc'd) and *expires_at_ms. Returns as above; *token
 * stays NULL on failure.
 */
int kn_codec_parse_sso_token(const char* text, size_t len, char** token,
                             int64_t* expires_at_ms, char* why,
                             size_t why_size);

/*
 * The IAM Identity Center portal's GetRoleCredentials answer:
 * {"roleCredentials": {"accessKeyId", "secretAccessKey", "sessionToken",
 * "expiration" (epoch milliseconds)}}, every member required. Returns as
 * kn_codec_parse_process_credentials().
 */
int kn_codec_parse_sso_role_credentials(const char* text, size_t len,
                                        kn_codec_creds_t* out, char* why,
                                        size_t why_size);

/*
 * ISO 8601 UTC time as AWS writes it ("2026-11-26T05:02:44Z", with optional
 * fractional seconds, "Z" or "+00:00") to epoch ms. Returns 0 or
 * KINESIS_EINVAL.
 */
int kn_parse_iso8601(const char* s, int64_t* out_ms);

/* ---- Requests: JSON bodies written straight into a buffer ---- */

/* Appends `s` as a JSON string, quotes included. */
int kn_json_append_string(kn_buf_t* b, const char* s, size_t len);

/* {"StreamName": s} or {"StreamARN": s}, for DeleteStream and
 * DescribeStreamSummary. */
int kn_codec_stream_request(kn_buf_t* b, const char* stream);
int kn_codec_create_stream(kn_buf_t* b, const char* stream,
                           uint32_t shard_count);
/* With `next_token` set the body carries it alone, as ListShards demands;
 * otherwise the stream and, when set, ExclusiveStartShardId, and with
 * `at_timestamp` > 0 (epoch seconds) a ShardFilter of type AT_TIMESTAMP:
 * only the shards open at that time. */
int kn_codec_list_shards(kn_buf_t* b, const char* stream,
                         const char* next_token, const char* start_after,
                         double at_timestamp);
int kn_codec_get_shard_iterator(kn_buf_t* b,
                                const kinesis_iterator_request_t* req);
/* SubscribeToShard's body: the consumer, and `start`'s shard and position
 * (its `stream` is not sent). */
int kn_codec_subscribe_to_shard(kn_buf_t* b, const char* consumer_arn,
                                const kinesis_iterator_request_t* start);
int kn_codec_get_records(kn_buf_t* b, const char* iterator, uint32_t limit);
int kn_codec_put_records(kn_buf_t* b, const char* stream,
                         const kinesis_record_t* entries, size_t n);

/* The stream management calls. Arguments are checked by the caller. */
int kn_codec_update_shard_count(kn_buf_t* b, const char* stream,
                                uint32_t target);
int kn_codec_split_shard(kn_buf_t* b, const char* stream,
                         const char* shard_id, const char* hash_key);
int kn_codec_merge_shards(kn_buf_t* b, const char* stream,
                          const char* shard_id, const char* adjacent);
/* UpdateStreamMode; `arn` is sent as StreamARN, `mode` as is. */
int kn_codec_update_stream_mode(kn_buf_t* b, const char* arn,
                                const char* mode);
/* {stream, "RetentionPeriodHours": hours}, for Increase and Decrease. */
int kn_codec_retention(kn_buf_t* b, const char* stream, uint32_t hours);
/* {stream, "EncryptionType": "KMS", "KeyId": key_id}, for Start and Stop. */
int kn_codec_stream_encryption(kn_buf_t* b, const char* stream,
                               const char* key_id);
int kn_codec_add_tags(kn_buf_t* b, const char* stream,
                      const kinesis_tag_t* tags, size_t n);
int kn_codec_remove_tags(kn_buf_t* b, const char* stream,
                         const char* const* keys, size_t n);
/* ListTagsForStream, after `start_after` when set. */
int kn_codec_list_tags(kn_buf_t* b, const char* stream,
                       const char* start_after);
/* ListStreams: `next_token` alone when set, else after `start_after` when
 * set, else {}. */
int kn_codec_list_streams(kn_buf_t* b, const char* next_token,
                          const char* start_after);
/* RegisterStreamConsumer (StreamARN and ConsumerName), and
 * DescribeStreamConsumer and DeregisterStreamConsumer: ConsumerARN alone
 * when `consumer_arn` is set, else StreamARN and ConsumerName. */
int kn_codec_consumer_request(kn_buf_t* b, const char* stream_arn,
                              const char* consumer_name,
                              const char* consumer_arn);
/* ListStreamConsumers, from `next_token` when set. */
int kn_codec_list_consumers(kn_buf_t* b, const char* stream_arn,
                            const char* next_token);
/* UpdateMaxRecordSize; `arn` is sent as StreamARN. */
int kn_codec_update_max_record_size(kn_buf_t* b, const char* arn,
                                    uint32_t kib);

/* ---- DynamoDB requests (the DynamoDB checkpointer) ---- */

/* One value of a request: `name` is an attribute's name (in PutItem's Item)
 * or a placeholder such as ":c" (in ExpressionAttributeValues); `type` is
 * 'S' or 'N', and `value` its text (a decimal for 'N'). */
typedef struct kn_ddb_value_s {
  const char* name;
  char type;
  const char* value;
} kn_ddb_value_t;

/* CreateTable: `table` with the string hash key `key`, billed on demand. */
int kn_codec_ddb_create_table(kn_buf_t* b, const char* table,
                              const char* key);
/* {"TableName": table}, for DescribeTable. */
int kn_codec_ddb_table(kn_buf_t* b, const char* table);
/* GetItem of the item whose string hash key `key` is `value`, consistent. */
int kn_codec_ddb_get_item(kn_buf_t* b, const char* table, const char* key,
                          const char* value);
/* PutItem of the `n` attributes of `item`, if `condition` (NULL: none)
 * holds. */
int kn_codec_ddb_put_item(kn_buf_t* b, const char* table,
                          const kn_ddb_value_t* item, size_t n,
                          const char* condition);
/* UpdateItem of the item whose string hash key `key` is `value`: the
 * `update` expression, if `condition` (NULL: none) holds, with the `n`
 * placeholders of `values`. */
int kn_codec_ddb_update_item(kn_buf_t* b, const char* table, const char* key,
                             const char* value, const char* update,
                             const char* condition,
                             const kn_ddb_value_t* values, size_t n);
/* A consistent Scan, from after the item whose string hash key `key` is
 * `start` (a LastEvaluatedKey), or from the beginning when `start` is
 * NULL. */
int kn_codec_ddb_scan(kn_buf_t* b, const char* table, const char* key,
                      const char* start);

/* ---- Responses ---- */

/* The error of a non-2xx answer: its code, with any namespace ("...#") and
 * suffix (":...") removed, and its message. Both point into `err` and are
 * NULL when absent. */
typedef struct kn_codec_error_s {
  char code[128];
  char message[512];
  int has_code;
  int has_message;
} kn_codec_error_t;

/* Reads the code from the x-amzn-ErrorType header when given, else the
 * body's "code" or "__type"; the message from "message" or "Message".
 * Never fails: empty and non-JSON bodies leave the fields unset. */
void kn_codec_parse_error(const uint8_t* body, size_t len,
                          const char* error_type_header,
                          kn_codec_error_t* err);

/* One attribute of a DynamoDB item: its name, its type as DynamoDB names
 * it ("S", "N", "SS", "NULL", ...) and, for "S" and "N", its text (NULL for
 * the other types, which are only named). */
typedef struct kn_ddb_attr_s {
  const char* name;
  const char* type;
  const char* value;
} kn_ddb_attr_t;

typedef struct kn_ddb_item_s {
  const kn_ddb_attr_t* attrs;
  size_t nattrs;
} kn_ddb_item_t;

/*
 * A parsed success answer. Strings point into the parsed document, which
 * lives until kn_parsed_free(): no copies for the caller's callback.
 */
typedef struct kn_parsed_s {
  void* root;
  char* text;                    /* the answer, parsed in place (hot paths) */
  kinesis_stream_summary_t summary;
  kinesis_shard_t* shards;
  size_t nshards;
  const char* next_token;
  const char* shard_iterator;
  kinesis_fetched_record_t* records;
  size_t nrecords;
  uint8_t* data;                 /* decoded record data, one allocation */
  const char* next_shard_iterator;
  const char* continuation_sequence_number; /* SubscribeToShardEvent */
  int64_t millis_behind_latest;
  kinesis_shard_t* child_shards;
  size_t nchild_shards;
  kinesis_put_entry_result_t* put_entries;
  size_t nput_entries;
  uint32_t failed_record_count;
  const char** stream_names;     /* ListStreams */
  size_t nstream_names;
  kinesis_tag_t* tags;           /* ListTagsForStream */
  size_t ntags;
  int has_more;                  /* HasMoreStreams or HasMoreTags */
  kinesis_stream_consumer_t* consumers; /* the consumer calls */
  size_t nconsumers;
  uint32_t current_shard_count;  /* UpdateShardCount */
  uint32_t target_shard_count;
  kn_ddb_item_t* items;          /* DynamoDB GetItem's Item, Scan's Items */
  size_t nitems;
  kn_ddb_attr_t* attrs;          /* the attributes of every item */
  const char* last_key;          /* Scan: where the next page starts */
  const char* table_status;      /* DescribeTable */
  const char* error;             /* static: why the answer was refused */
} kn_parsed_t;

/* Each returns 0, KINESIS_EPROTO (malformed or missing a required member)
 * or KINESIS_ENOMEM. `out` must be kn_parsed_free()d in every case. Values
 * the API bounds are not trusted blindly: a hash key or sequence number that
 * is not a decimal of legal length (protocol.md section 2), more than 10000
 * records or a record over 10 MiB in a GetRecords answer, and a PutRecords
 * answer whose entries do not match the request one for one are
 * KINESIS_EPROTO with `error` saying which. */
int kn_codec_parse_summary(const uint8_t* body, size_t len, kn_parsed_t* out);
int kn_codec_parse_list_shards(const uint8_t* body, size_t len,
                               kn_parsed_t* out);
int kn_codec_parse_shard_iterator(const uint8_t* body, size_t len,
                                  kn_parsed_t* out);
/* ListStreams: StreamNames (required), HasMoreStreams and NextToken. */
int kn_codec_parse_list_streams(const uint8_t* body, size_t len,
                                kn_parsed_t* out);
/* ListTagsForStream: Tags (required, each with a Key) and HasMoreTags. */
int kn_codec_parse_list_tags(const uint8_t* body, size_t len,
                             kn_parsed_t* out);
/* RegisterStreamConsumer (`member` "Consumer") and DescribeStreamConsumer
 * ("ConsumerDescription"): one consumer, with ConsumerName, ConsumerARN and
 * ConsumerStatus required. */
int kn_codec_parse_consumer(const uint8_t* body, size_t len,
                            const char* member, kn_parsed_t* out);
/* ListStreamConsumers: Consumers (required, each as above) and NextToken. */
int kn_codec_parse_list_consumers(const uint8_t* body, size_t len,
                                  kn_parsed_t* out);
/* UpdateShardCount: CurrentShardCount and TargetShardCount, both optional;
 * an empty answer is accepted. */
int kn_codec_parse_update_shard_count(const uint8_t* body, size_t len,
                                      kn_parsed_t* out);
/* GetRecords and PutRecords answers are the hot paths: they are scanned in
 * place, without building a tree (bench/bench_producer showed jansson's tree
 * costing half the producer's CPU), and records' data is decoded where its
 * base64 stood. When `take` holds `body` (the HTTP response's buffer), its
 * bytes are taken over rather than copied; `take` may be NULL. `expected`
 * is the number of records sent; the answer must match it. */
int kn_codec_parse_get_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               kn_parsed_t* out);
/* The payload of a SubscribeToShardEvent (enhanced fan-out): Records and
 * ChildShards as in GetRecords, MillisBehindLatest, and
 * ContinuationSequenceNumber (continuation_sequence_number) in place of
 * NextShardIterator: where to subscribe again from, or NULL (absent or
 * null) at the shard's end, which ChildShards then follow, as the KCL reads
 * the event. Refusals name SubscribeToShardEvent. */
int kn_codec_parse_subscribe_event(const uint8_t* body, size_t len,
                                   kn_buf_t* take, kn_parsed_t* out);
int kn_codec_parse_put_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               size_t expected, kn_parsed_t* out);
/* DynamoDB's GetItem: its Item, one item, or none when the answer has no
 * Item (the item does not exist). Each attribute value must be an object
 * of one member, its type; an "S" or "N" one a string. */
int kn_codec_parse_ddb_item(const uint8_t* body, size_t len,
                            kn_parsed_t* out);
/* DynamoDB's Scan: Items (required; each as for GetItem), and in last_key
 * the string value of `key` in LastEvaluatedKey, when there is one. */
int kn_codec_parse_ddb_scan(const uint8_t* body, size_t len, const char* key,
                            kn_parsed_t* out);
/* DynamoDB's DescribeTable: Table.TableStatus (required). */
int kn_codec_parse_ddb_table(const uint8_t* body, size_t len,
                             kn_parsed_t* out);
void kn_parsed_free(kn_parsed_t* p);

/* For the parsers of codec_json.c and codec_scan.c: sets out->error to
 * `why` (static) and returns KINESIS_EPROTO, for an answer that breaks one
 * of the API's bounds. */
int kn_codec_refuse(kn_parsed_t* out, const char* why);

#endif /* KN_CODEC_H */
