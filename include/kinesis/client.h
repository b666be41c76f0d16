#ifndef KINESIS_CLIENT_H
#define KINESIS_CLIENT_H

/**
 * \file
 * The client: region, endpoint, credentials and connections on one loop,
 * and the Kinesis API calls made through it. The rules every object
 * follows (ownership, callbacks, close, errors, options) are in
 * docs/reference.md.
 */

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kinesis/errno.h"
#include "kinesis/hooks.h"
#include "kinesis/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Runs once an object has closed, for every object of the library (client,
 * producer, consumer, checkpointer): exactly once, on a later turn of the
 * loop, never inside the close call, after every other callback of the
 * object. `data` is the object's user slot (what kinesis_X_set_data() set,
 * or a checkpointer's `data` member; else NULL), read just before the object
 * was freed: the object itself is gone, so it is not passed. `status` is 0
 * or the object's documented close error (see each kinesis_X_close()).
 * `user_data` is the close call's.
 */
typedef void (*kinesis_close_cb)(void* data, int status, void* user_data);

/** One record: for kinesis_producer_put() and kinesis_client_put_records().
 *  Everything is copied by the call that takes it. */
typedef struct kinesis_record_s {
  const void* data;               /**< may be NULL when len is 0 */
  size_t len;                     /**< the data's length in bytes */
  const char* partition_key;      /**< Required: 1 to 256 characters, UTF-8. */
  const char* explicit_hash_key;  /**< Optional: a decimal at most 2^128-1. */
} kinesis_record_t;

/** A Kinesis client: region, endpoint, credentials and HTTP on one loop. */
typedef struct kinesis_client_s kinesis_client_t;

/** The options of kinesis_client_new(); see kinesis_client_options_init().
 *  A 0 in a number is KINESIS_EINVAL unless the field's comment gives 0 a
 *  meaning. */
typedef struct kinesis_client_options_s {
  /** Set by kinesis_client_options_init(): the size of this struct in the
   * header the application was built against (docs/reference.md). */
  size_t size;
  /** Default: $AWS_REGION, then $AWS_DEFAULT_REGION, then the profile's
   * region. Copied. Without one, API calls return KINESIS_ENOREGION. */
  const char* region;
  /** Default: $AWS_ENDPOINT_URL_KINESIS, then $AWS_ENDPOINT_URL, then
   * https://kinesis.REGION.amazonaws.com. Copied. */
  const char* endpoint_url;
  /** Default: $AWS_PROFILE, then "default". Copied. The profile gives
   * credentials (a role assumed through STS with source_profile,
   * credential_source or web_identity_token_file; IAM Identity Center;
   * static keys; or credential_process), the region and endpoint_url (for
   * STS and the SSO portal). Given here, the chain skips the environment's
   * keys and web identity, as the AWS CLI does with --profile.
   * docs/client.md has the whole chain: options, environment keys, web
   * identity from the environment, the profile, container, instance
   * metadata. */
  const char* profile;
  /** Optional explicit credentials; used when both the key id and the secret
   * are set, before the rest of the chain. Copied. */
  const char* access_key_id;
  const char* secret_access_key; /**< See access_key_id. */
  const char* session_token;     /**< Optional; see access_key_id. */
  /** Default NULL: the system's CA store. A PEM file of CAs to trust.
   * Copied. */
  const char* ca_file;
  /** Default 0: certificates and host names are verified. 1 turns that
   * off. */
  int insecure;
  /** Default 10000. Time to establish a connection, TLS included; 0 is
   * KINESIS_EINVAL. */
  uint32_t connect_timeout_ms;
  /** Default 30000. Time for one attempt of a request, start to end; 0 is
   * KINESIS_EINVAL. */
  uint32_t request_timeout_ms;
  /** Default 64. Open connections at most; further requests wait. 0 is
   * KINESIS_EINVAL. */
  uint32_t max_connections;
  /** Default 5. Attempts per request for retriable errors (1: no retry);
   * 0 is KINESIS_EINVAL. */
  uint32_t max_attempts;
  /** Default 100. Exponential backoff base; each wait is random in
   * [0, min(cap, base * 2^attempt)] (full jitter). 0 is KINESIS_EINVAL. */
  uint32_t retry_base_ms;
  /** Default 5000. Longest wait between attempts; 0 is KINESIS_EINVAL. */
  uint32_t retry_cap_ms;
  /** Default NULL: nothing is logged. Receives messages at `log_level` and
   * more important, from the client and everything made from it. */
  kinesis_log_cb log;
  void* log_data; /**< Passed to `log` as `user_data`. */
  /** Default KINESIS_LOG_WARN; 0 is KINESIS_LOG_ERROR. Another value than
   * the four levels is KINESIS_EINVAL. */
  kinesis_log_level_t log_level;
} kinesis_client_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md).
 */
#define kinesis_client_options_init(options)                                  \
  kinesis_client_options_init_sized((options),                                \
                                    sizeof(kinesis_client_options_t))

/**
 * What kinesis_client_options_init() calls: writes the defaults into the
 * first `size` bytes of `options`, zeroes any bytes past the library's own
 * struct, and sets `options->size` to `size`. Does nothing when `options` is
 * NULL or `size` is below sizeof(size_t).
 */
KINESIS_EXTERN void kinesis_client_options_init_sized(
    kinesis_client_options_t* options, size_t size);

/**
 * Creates a client on `loop`. Resolves the region and endpoint now (reading
 * the environment and the shared config file); credentials are resolved on
 * the first call, and temporary ones (container, instance metadata, web
 * identity, assumed roles) refreshed on the loop before they expire.
 *
 * `options` NULL means every default (no field is required). Only the
 * fields inside `options->size` are read; the others take their defaults.
 *
 * Returns 0 and sets `*out`; KINESIS_EINVAL (a NULL `loop` or `out`, an
 * `options->size` of 0 (options not set by kinesis_client_options_init()),
 * a bad endpoint URL, or an option out of range, such as a 0 where the
 * field gives 0 no meaning); KINESIS_EUNSUPPORTED (`options` is longer than
 * this library's struct, from a newer header, and sets a field past it);
 * or KINESIS_ENOMEM. On failure `*out` is untouched.
 */
KINESIS_EXTERN int kinesis_client_new(uv_loop_t* loop,
                                      const kinesis_client_options_t* options,
                                      kinesis_client_t** out);

/**
 * Cancels every request in flight (each callback runs once with
 * KINESIS_ECANCELED), closes every handle, then frees the client and calls
 * `cb` (may be NULL) with the client's user slot and status 0, on a later
 * tick, never inside this call, after every other callback of the client.
 * It may be called from inside the client's callbacks. Returns 0,
 * KINESIS_EINVAL (NULL `client`), KINESIS_EALREADY when already closing (this
 * `cb` then never runs), or KINESIS_EBUSY while producers, consumers or
 * checkpointers created from it are still open.
 */
KINESIS_EXTERN int kinesis_client_close(kinesis_client_t* client,
                                        kinesis_close_cb cb, void* user_data);

/** Sets the client's user slot, `data`, which the library never reads. */
KINESIS_EXTERN void kinesis_client_set_data(kinesis_client_t* client,
                                            void* data);
/** The client's user slot: NULL, or what kinesis_client_set_data() set. */
KINESIS_EXTERN void* kinesis_client_get_data(const kinesis_client_t* client);

/** The resolved region, or NULL when there is none. */
KINESIS_EXTERN const char* kinesis_client_region(
    const kinesis_client_t* client);
/** The resolved endpoint URL, or NULL when there is no region to build it. */
KINESIS_EXTERN const char* kinesis_client_endpoint(
    const kinesis_client_t* client);

/**
 * Replaces the credentials (all copied; `session_token` may be NULL). Later
 * requests are signed with them. Returns 0, KINESIS_EINVAL or KINESIS_ENOMEM.
 */
KINESIS_EXTERN int kinesis_client_set_credentials(kinesis_client_t* client,
                                                  const char* access_key_id,
                                                  const char* secret_access_key,
                                                  const char* session_token);

/**
 * Where the client's credentials come from: what `kinesis whoami` prints.
 * It holds no secret.
 */
typedef struct kinesis_identity_s {
  /** The provider of the chain that gave them: "options", "environment",
   * "web identity", "assume role", "profile", "process", "sso",
   * "container" or "imds" (docs/client.md describes each). */
  const char* source;
  /** The profile whose settings gave them (the first of a role chain), or
   * NULL when no profile did. */
  const char* profile;
  /** The role they act as (web identity, assume role), or NULL. */
  const char* role_arn;
  /** The last four characters of the access key id, NUL-terminated. */
  char access_key_id_last4[5];
  /** When they expire, in epoch milliseconds; 0 when they do not. */
  int64_t expiration_ms;
} kinesis_identity_t;

/**
 * Completion of kinesis_client_identity(). With `status` 0, `identity` is
 * set and `message` is NULL; otherwise `identity` is NULL and `message`
 * says why (which sources were tried), without a secret. Both are valid
 * only during the call.
 */
typedef void (*kinesis_identity_cb)(kinesis_client_t* client, int status,
                                    const kinesis_identity_t* identity,
                                    const char* message, void* user_data);

/**
 * Resolves the client's credentials as a call would (from the cache, or
 * through the chain: a web identity exchange, a process, an SSO portal...)
 * and tells where they came from. Needs no region. Returns 0 and `cb` runs
 * exactly once, later, on the loop thread: with 0, with KINESIS_ENOCREDS or
 * the error of the source that failed, or with KINESIS_ECANCELED when the
 * client closes or its credentials are replaced
 * (kinesis_client_set_credentials()). Or returns KINESIS_EINVAL (NULL
 * client or callback), KINESIS_ENOMEM or KINESIS_ECLOSING, and `cb` never
 * runs.
 */
KINESIS_EXTERN int kinesis_client_identity(kinesis_client_t* client,
                                           kinesis_identity_cb cb,
                                           void* user_data);

/* ---- Results ---- */

/** One shard, from ListShards, or a child shard from GetRecords. */
typedef struct kinesis_shard_s {
  const char* shard_id;                 /**< the shard's id */
  const char* parent_shard_id;          /**< NULL when none */
  const char* adjacent_parent_shard_id; /**< NULL when none */
  const char* starting_hash_key;        /**< decimal string */
  const char* ending_hash_key;          /**< decimal string */
  /** The first sequence number of the shard; NULL for a child shard */
  const char* starting_sequence_number;
  const char* ending_sequence_number;   /**< NULL while the shard is open */
} kinesis_shard_t;

/** A stream, from DescribeStreamSummary. */
typedef struct kinesis_stream_summary_s {
  const char* stream_name;      /**< the stream's name */
  const char* stream_arn;       /**< its ARN */
  const char* stream_status;    /**< CREATING, DELETING, ACTIVE or UPDATING */
  const char* stream_mode;      /**< PROVISIONED, ON_DEMAND, or NULL */
  const char* encryption_type;  /**< NONE, KMS, or NULL */
  double creation_timestamp;    /**< epoch seconds */
  uint32_t retention_period_hours; /**< how long records are kept */
  uint32_t open_shard_count;    /**< shards open now */
  uint32_t consumer_count;      /**< enhanced fan-out consumers registered */
  uint32_t max_record_size_kib; /**< 0 when the service did not say */
  /** The KMS key of a stream encrypted with KMS, or NULL. */
  const char* key_id;
} kinesis_stream_summary_t;

/** A stream's tag: a key and its value. */
typedef struct kinesis_tag_s {
  const char* key;    /**< 1 to 128 characters */
  const char* value;  /**< 0 to 256 characters; NULL is sent as "" */
} kinesis_tag_t;

/** A consumer registered for enhanced fan-out on a stream
 * (RegisterStreamConsumer, DescribeStreamConsumer, ListStreamConsumers).
 * Since 0.9. */
typedef struct kinesis_stream_consumer_s {
  const char* consumer_name;   /**< 1 to 128 of [a-zA-Z0-9_.-] */
  const char* consumer_arn;    /**< what SubscribeToShard names */
  /** "CREATING", "DELETING" or "ACTIVE": a consumer subscribes once ACTIVE */
  const char* consumer_status;
  double creation_timestamp;   /**< seconds since the epoch; 0 when absent */
  /** DescribeStreamConsumer: the stream's ARN; NULL for the others */
  const char* stream_arn;
} kinesis_stream_consumer_t;

/** One record of a GetRecords answer, data already base64-decoded. */
typedef struct kinesis_fetched_record_s {
  const uint8_t* data;                  /**< the record's data */
  size_t len;                           /**< its length in bytes */
  const char* partition_key;            /**< its partition key */
  const char* sequence_number;          /**< its sequence number */
  double approximate_arrival_timestamp; /**< epoch seconds; 0 when absent */
  const char* encryption_type;          /**< NULL when absent */
} kinesis_fetched_record_t;

/** One entry of a PutRecords answer, in request order. */
typedef struct kinesis_put_entry_result_s {
  const char* shard_id;         /**< NULL on failure */
  const char* sequence_number;  /**< NULL on failure */
  const char* error_code;       /**< NULL on success */
  const char* error_message;    /**< NULL on success */
} kinesis_put_entry_result_t;

/**
 * What a call produced. Valid only during the callback; copy what you keep.
 * Fields for other actions are zero or NULL.
 */
typedef struct kinesis_result_s {
  long http_status;           /**< of the last attempt; 0 when none arrived */
  uint32_t attempts;          /**< requests sent, retries included */
  const char* request_id;     /**< x-amzn-RequestId of the last attempt */
  /** the service's error code, such as "ResourceNotFoundException", or NULL */
  const char* error_code;
  const char* error_message;  /**< service or transport message, or NULL */

  /** DescribeStreamSummary and kinesis_client_wait_for_active: the stream */
  const kinesis_stream_summary_t* summary;
  /** ListShards: the shards, of every page */
  const kinesis_shard_t* shards;
  size_t nshards;                   /**< entries in `shards` */
  /** GetShardIterator: the iterator */
  const char* shard_iterator;
  /** GetRecords: the records */
  const kinesis_fetched_record_t* records;
  size_t nrecords;                  /**< entries in `records` */
  const char* next_shard_iterator;  /**< NULL once a closed shard is read */
  int64_t millis_behind_latest;     /**< -1 when absent */
  /** GetRecords at the end of a closed shard: the shards that follow it */
  const kinesis_shard_t* child_shards;
  size_t nchild_shards;             /**< entries in `child_shards` */
  /** PutRecords: one per entry, in request order */
  const kinesis_put_entry_result_t* put_entries;
  size_t nput_entries;              /**< entries in `put_entries` */
  uint32_t failed_record_count;     /**< entries that failed */
  /** Attempts sent again after an attempt that got no usable answer (a
   * transport error, a timeout, a 5xx), which the service may have carried
   * out: a PutRecords whose records may be in the stream twice. */
  uint32_t unsure_retries;
  /** ListStreams: the stream names, of every page. */
  const char* const* stream_names;
  size_t nstream_names;             /**< entries in `stream_names` */
  /** ListTagsForStream: the tags, of every page. */
  const kinesis_tag_t* tags;
  size_t ntags;                     /**< entries in `tags` */
  /** UpdateShardCount: the open shards before the call, and the count
   * asked for; 0 when the service did not say. */
  uint32_t current_shard_count;
  uint32_t target_shard_count;      /**< see current_shard_count */
  /** RegisterStreamConsumer and DescribeStreamConsumer: the consumer;
   * ListStreamConsumers: the consumers, of every page. Since 0.9. */
  const kinesis_stream_consumer_t* consumers;
  size_t nconsumers;                /**< entries in `consumers` */
} kinesis_result_t;

/**
 * Completion of an API call. `status` is 0 or a negative KINESIS_E* code;
 * `result` is never NULL and is valid only during the call.
 */
typedef void (*kinesis_client_cb)(kinesis_client_t* client, int status,
                                  const kinesis_result_t* result,
                                  void* user_data);

/**
 * \name API calls
 * Every call below follows the same rules. It returns 0 and `cb` runs
 * exactly once, later, on the loop thread: with 0, with an error after
 * retries of retriable errors are spent, or with KINESIS_ECANCELED when the
 * client closes. Or it returns an error and `cb` never runs:
 * KINESIS_EINVAL (a bad argument), KINESIS_ENOREGION (no region resolved),
 * KINESIS_ENOMEM, or KINESIS_ECLOSING. A missing credential is reported
 * through `cb` as KINESIS_ENOCREDS. `stream` is a stream name, or an ARN
 * ("arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME"), which is sent as
 * StreamARN. An ARN names its region: a client with no region of its own
 * takes the first ARN's region (and that region's endpoint, unless
 * `endpoint_url` is set) and keeps it, so kinesis_client_region() may
 * change from NULL once; an ARN of another region than the client's, or
 * one that names no region, is KINESIS_EINVAL (logged at WARN). Producers
 * and consumers made with a stream ARN do the same.
 * @{
 */

/** CreateStream. `shard_count` 0 creates an on-demand stream. */
KINESIS_EXTERN int kinesis_client_create_stream(kinesis_client_t* client,
                                                const char* stream,
                                                uint32_t shard_count,
                                                kinesis_client_cb cb,
                                                void* user_data);

/** DeleteStream. */
KINESIS_EXTERN int kinesis_client_delete_stream(kinesis_client_t* client,
                                                const char* stream,
                                                kinesis_client_cb cb,
                                                void* user_data);

/** DescribeStreamSummary; `result->summary` is set on success. */
KINESIS_EXTERN int kinesis_client_describe_stream_summary(
    kinesis_client_t* client, const char* stream, kinesis_client_cb cb,
    void* user_data);

/**
 * Polls DescribeStreamSummary every `poll_ms` (0: 250) until the stream is
 * ACTIVE, then calls `cb` with 0 and `result->summary`. A stream not found
 * yet is polled again. After `timeout_ms` (0: 120000) it fails with
 * KINESIS_ETIMEDOUT; a stream that is DELETING fails with KINESIS_EINUSE.
 */
KINESIS_EXTERN int kinesis_client_wait_for_active(kinesis_client_t* client,
                                                  const char* stream,
                                                  uint32_t poll_ms,
                                                  uint32_t timeout_ms,
                                                  kinesis_client_cb cb,
                                                  void* user_data);

/**
 * ListShards, following every NextToken page; an expired token restarts the
 * listing after the last shard seen. `result->shards` holds every shard.
 */
KINESIS_EXTERN int kinesis_client_list_shards(kinesis_client_t* client,
                                              const char* stream,
                                              kinesis_client_cb cb,
                                              void* user_data);

/** Where a shard iterator starts (GetShardIterator's ShardIteratorType). */
typedef enum {
  /** At the oldest record the shard keeps. */
  KINESIS_ITERATOR_TRIM_HORIZON = 0,
  /** After the newest record: only records put later are read. */
  KINESIS_ITERATOR_LATEST,
  /** At the record with `sequence_number`. */
  KINESIS_ITERATOR_AT_SEQUENCE_NUMBER,
  /** Just after the record with `sequence_number`. */
  KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER,
  /** At the first record that arrived at `timestamp` or later. */
  KINESIS_ITERATOR_AT_TIMESTAMP
} kinesis_iterator_type_t;

/** What kinesis_client_get_shard_iterator() asks for. */
typedef struct kinesis_iterator_request_s {
  const char* stream;               /**< Required. */
  const char* shard_id;             /**< Required. */
  kinesis_iterator_type_t type;     /**< Default TRIM_HORIZON. */
  /** Required for the *_SEQUENCE_NUMBER types. */
  const char* sequence_number;
  double timestamp;                 /**< Epoch seconds, for AT_TIMESTAMP. */
} kinesis_iterator_request_t;

/** GetShardIterator; `result->shard_iterator` is set on success. */
KINESIS_EXTERN int kinesis_client_get_shard_iterator(
    kinesis_client_t* client, const kinesis_iterator_request_t* request,
    kinesis_client_cb cb, void* user_data);

/**
 * GetRecords with `limit` 1 to 10000 (0: 10000). On success the result has
 * the records, the next iterator and MillisBehindLatest.
 */
KINESIS_EXTERN int kinesis_client_get_records(kinesis_client_t* client,
                                              const char* shard_iterator,
                                              uint32_t limit,
                                              kinesis_client_cb cb,
                                              void* user_data);

/**
 * PutRecords with 1 to 500 records, copied. Success means the request was
 * answered: check `result->failed_record_count` and each of
 * `result->put_entries`, since single records can fail in a 200 answer. A
 * request that is retried is retried whole; per-record retries belong to the
 * producer.
 */
KINESIS_EXTERN int kinesis_client_put_records(
    kinesis_client_t* client, const char* stream,
    const kinesis_record_t* records, size_t nrecords, kinesis_client_cb cb,
    void* user_data);

/** @} */

/**
 * \name Stream management calls
 * These follow the rules of the API calls above. Each is one request, or a
 * few in a row where noted; `cb` runs once with the last one's result.
 * @{
 */

/**
 * ListStreams, following every page (NextToken, or ExclusiveStartStreamName
 * while HasMoreStreams is true). `result->stream_names` holds every name.
 */
KINESIS_EXTERN int kinesis_client_list_streams(kinesis_client_t* client,
                                               kinesis_client_cb cb,
                                               void* user_data);

/** Largest UpdateShardCount target the API accepts. */
#define KINESIS_MAX_TARGET_SHARD_COUNT 100000

/**
 * UpdateShardCount with UNIFORM_SCALING to `target_shard_count`, 1 to
 * KINESIS_MAX_TARGET_SHARD_COUNT (else KINESIS_EINVAL). The stream is
 * UPDATING afterwards. `result->current_shard_count` and
 * `result->target_shard_count` are set when the service sends them.
 */
KINESIS_EXTERN int kinesis_client_update_shard_count(
    kinesis_client_t* client, const char* stream, uint32_t target_shard_count,
    kinesis_client_cb cb, void* user_data);

/**
 * SplitShard: `shard_id` becomes two shards, the second starting at
 * `new_starting_hash_key`, a decimal from 0 to 2^128-1 (else
 * KINESIS_EINVAL). With `new_starting_hash_key` NULL the shard is split in
 * the middle of its hash key range, which ListShards tells first: the call
 * fails with KINESIS_ENOTFOUND when the stream has no such shard, and with
 * KINESIS_EINVAL when its range holds a single key.
 */
KINESIS_EXTERN int kinesis_client_split_shard(kinesis_client_t* client,
                                              const char* stream,
                                              const char* shard_id,
                                              const char* new_starting_hash_key,
                                              kinesis_client_cb cb,
                                              void* user_data);

/** MergeShards: `shard_id` and `adjacent_shard_id` become one shard. Both
 * are required and must differ (else KINESIS_EINVAL). */
KINESIS_EXTERN int kinesis_client_merge_shards(kinesis_client_t* client,
                                               const char* stream,
                                               const char* shard_id,
                                               const char* adjacent_shard_id,
                                               kinesis_client_cb cb,
                                               void* user_data);

/** A stream's capacity mode, for kinesis_client_update_stream_mode(). */
typedef enum {
  KINESIS_STREAM_MODE_PROVISIONED = 0, /**< Shards set by the owner. */
  KINESIS_STREAM_MODE_ON_DEMAND        /**< Capacity managed by Kinesis. */
} kinesis_stream_mode_t;

/**
 * UpdateStreamMode to `mode` (another value is KINESIS_EINVAL). The service
 * wants the stream's ARN: given a name, the call asks DescribeStreamSummary
 * for it first.
 */
KINESIS_EXTERN int kinesis_client_update_stream_mode(
    kinesis_client_t* client, const char* stream, kinesis_stream_mode_t mode,
    kinesis_client_cb cb, void* user_data);

/** Shortest retention period, in hours. */
#define KINESIS_MIN_RETENTION_HOURS 24
/** Longest retention period, in hours (365 days). */
#define KINESIS_MAX_RETENTION_HOURS 8760

/**
 * IncreaseStreamRetentionPeriod to `hours`, KINESIS_MIN_RETENTION_HOURS to
 * KINESIS_MAX_RETENTION_HOURS (else KINESIS_EINVAL). The service refuses a
 * period shorter than the current one (KINESIS_EINVALIDARG).
 */
KINESIS_EXTERN int kinesis_client_increase_stream_retention(
    kinesis_client_t* client, const char* stream, uint32_t hours,
    kinesis_client_cb cb, void* user_data);

/** DecreaseStreamRetentionPeriod to `hours`; see
 * kinesis_client_increase_stream_retention().
 */
KINESIS_EXTERN int kinesis_client_decrease_stream_retention(
    kinesis_client_t* client, const char* stream, uint32_t hours,
    kinesis_client_cb cb, void* user_data);

/** The KMS key the encryption calls use when given NULL. */
#define KINESIS_DEFAULT_KMS_KEY "alias/aws/kinesis"

/**
 * StartStreamEncryption with KMS and `key_id` (a key id, key ARN, alias
 * name or alias ARN of 1 to 2048 characters; NULL: KINESIS_DEFAULT_KMS_KEY).
 * An empty or longer `key_id` is KINESIS_EINVAL.
 */
KINESIS_EXTERN int kinesis_client_start_stream_encryption(
    kinesis_client_t* client, const char* stream, const char* key_id,
    kinesis_client_cb cb, void* user_data);

/** StopStreamEncryption; the service wants the key in use, `key_id` as for
 * kinesis_client_start_stream_encryption().
 */
KINESIS_EXTERN int kinesis_client_stop_stream_encryption(
    kinesis_client_t* client, const char* stream, const char* key_id,
    kinesis_client_cb cb, void* user_data);

/** Most tags one AddTagsToStream or RemoveTagsFromStream call carries. */
#define KINESIS_MAX_TAGS_PER_CALL 50

/**
 * AddTagsToStream with 1 to KINESIS_MAX_TAGS_PER_CALL tags, copied. A key
 * must have 1 to 128 characters, a value at most 256, and no key may come
 * twice; else KINESIS_EINVAL. A tag whose key the stream has is replaced.
 */
KINESIS_EXTERN int kinesis_client_add_tags(kinesis_client_t* client,
                                           const char* stream,
                                           const kinesis_tag_t* tags,
                                           size_t ntags, kinesis_client_cb cb,
                                           void* user_data);

/** RemoveTagsFromStream with 1 to KINESIS_MAX_TAGS_PER_CALL keys of 1 to
 * 128 characters, copied; else KINESIS_EINVAL.
 */
KINESIS_EXTERN int kinesis_client_remove_tags(kinesis_client_t* client,
                                              const char* stream,
                                              const char* const* keys,
                                              size_t nkeys,
                                              kinesis_client_cb cb,
                                              void* user_data);

/** ListTagsForStream, following every page (ExclusiveStartTagKey while
 * HasMoreTags is true). `result->tags` holds every tag.
 */
KINESIS_EXTERN int kinesis_client_list_tags(kinesis_client_t* client,
                                            const char* stream,
                                            kinesis_client_cb cb,
                                            void* user_data);

/** Smallest record size limit, in KiB. */
#define KINESIS_MIN_MAX_RECORD_SIZE_KIB 1024
/** Largest record size limit, in KiB (10 MiB). */
#define KINESIS_MAX_MAX_RECORD_SIZE_KIB 10240

/**
 * UpdateMaxRecordSize to `kib`, KINESIS_MIN_MAX_RECORD_SIZE_KIB to
 * KINESIS_MAX_MAX_RECORD_SIZE_KIB (else KINESIS_EINVAL). Like
 * kinesis_client_update_stream_mode(), it looks the ARN up when given a
 * name.
 */
KINESIS_EXTERN int kinesis_client_update_max_record_size(
    kinesis_client_t* client, const char* stream, uint32_t kib,
    kinesis_client_cb cb, void* user_data);

/** @} */

/**
 * \name Enhanced fan-out consumers
 * A stream's registered consumers, each with its own 2 MiB/s a shard
 * through SubscribeToShard. The service takes a StreamARN: given a stream
 * name, each call looks the ARN up first with DescribeStreamSummary, as
 * kinesis_client_update_stream_mode() does. `consumer_name` is 1 to 128
 * of [a-zA-Z0-9_.-]; a consumer ARN is "arn:PARTITION:kinesis:REGION:
 * ACCOUNT:stream/NAME/consumer/CONSUMER:EPOCH". Anything else is
 * KINESIS_EINVAL. Since 0.9.
 * @{
 */

/**
 * RegisterStreamConsumer: registers `consumer_name` on `stream`.
 * `result->consumers` holds the new consumer, CREATING at first: it may
 * subscribe once DescribeStreamConsumer says ACTIVE (a few seconds on AWS).
 * Registering a name the stream already has fails with
 * ResourceInUseException.
 */
KINESIS_EXTERN int kinesis_client_register_stream_consumer(
    kinesis_client_t* client, const char* stream, const char* consumer_name,
    kinesis_client_cb cb, void* user_data);

/**
 * DescribeStreamConsumer, of the consumer `consumer_arn`, or, when that is
 * NULL, of `consumer_name` on `stream`. `result->consumers` holds it, with
 * its stream's ARN.
 */
KINESIS_EXTERN int kinesis_client_describe_stream_consumer(
    kinesis_client_t* client, const char* stream, const char* consumer_name,
    const char* consumer_arn, kinesis_client_cb cb, void* user_data);

/**
 * ListStreamConsumers of `stream`, following every page (NextToken).
 * `result->consumers` holds every consumer.
 */
KINESIS_EXTERN int kinesis_client_list_stream_consumers(
    kinesis_client_t* client, const char* stream, kinesis_client_cb cb,
    void* user_data);

/**
 * DeregisterStreamConsumer, of the consumer `consumer_arn`, or, when that
 * is NULL, of `consumer_name` on `stream`. The consumer is DELETING for a
 * while, then gone; its subscriptions end.
 */
KINESIS_EXTERN int kinesis_client_deregister_stream_consumer(
    kinesis_client_t* client, const char* stream, const char* consumer_name,
    const char* consumer_arn, kinesis_client_cb cb, void* user_data);

/** @} */

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_CLIENT_H */
