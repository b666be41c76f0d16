#ifndef KINESIS_PRODUCER_H
#define KINESIS_PRODUCER_H

/**
 * \file
 * The producer: records batched per shard into PutRecords, rate-limited,
 * retried, and settled with exactly one callback each.
 */

#include <stddef.h>
#include <stdint.h>

#include "kinesis/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A producer: records go in with kinesis_producer_put(), are batched per
 * shard, rate-limited per shard, sent with PutRecords, retried, and each one
 * gets exactly one callback.
 */
typedef struct kinesis_producer_s kinesis_producer_t;

/**
 * Checks `record` the way kinesis_producer_put() does before it looks at
 * the stream: a partition key of 1 to 256 characters of well-formed UTF-8
 * (counted as Kinesis counts them, in UTF-16 code units), an explicit hash
 * key, when given, that is a decimal from 0 to 2^128-1 without leading
 * zeros, data that is not NULL unless `len` is 0, and data plus partition
 * key of at most 10 MiB (KINESIS_MAX_MAX_RECORD_SIZE_KIB, the largest record
 * any stream takes). It does not know the stream's own limit
 * (MaxRecordSizeInKiB, 1 MiB unless raised), which the producer checks too.
 * Returns 0, or KINESIS_EINVAL (also for a NULL `record`). Reads the record
 * only during the call.
 */
KINESIS_EXTERN int kinesis_record_validate(const kinesis_record_t* record);

/** What became of one record. Valid only during the callback. */
typedef struct kinesis_put_result_s {
  const char* shard_id;          /**< on success, else NULL */
  const char* sequence_number;   /**< on success, else NULL */
  /** With aggregation, the record's index inside its aggregated record;
   * records in one aggregate share a sequence number. 0 otherwise. */
  uint32_t sub_sequence_number;
  int aggregated;                /**< 1 when it travelled inside an aggregate */
  uint32_t attempts;             /**< PutRecords requests that carried it */
  const char* error_code;        /**< the service's code on failure, or NULL */
  const char* error_message;     /**< on failure, or NULL */
} kinesis_put_result_t;

/**
 * Completion of one record: `status` is 0, or KINESIS_ETIMEDOUT (its TTL
 * passed, or no record at all was acknowledged for stall_timeout_ms), a
 * service or transport error after its attempts were spent, a non-retriable
 * service error, or KINESIS_EINVAL (over the stream's largest record, found
 * after the put: see max_record_size). `result` is never NULL.
 */
typedef void (*kinesis_put_cb)(kinesis_producer_t* producer, int status,
                               const kinesis_put_result_t* result,
                               void* user_data);

/** Completion of a flush: `status` is 0. (A close completes with a
 *  kinesis_close_cb.) */
typedef void (*kinesis_producer_cb)(kinesis_producer_t* producer, int status,
                                    void* user_data);

/** What one PutRecords request did, given to `after_flush`. */
typedef struct kinesis_flush_info_s {
  int status;               /**< of the request: 0, or its error */
  size_t entries;           /**< Kinesis records sent (aggregates count once) */
  size_t user_records;      /**< user records they carried */
  size_t bytes;             /**< data and partition key bytes sent */
  size_t succeeded;         /**< user records that landed */
  size_t retrying;          /**< user records queued again for another try */
  size_t failed;            /**< user records whose callback got an error */
} kinesis_flush_info_t;

/** Receives what one PutRecords request did; see `after_flush`. `info` is
 *  valid during the call. */
typedef void (*kinesis_after_flush_cb)(kinesis_producer_t* producer,
                                       const kinesis_flush_info_t* info,
                                       void* user_data);

/** Runs when the buffer falls below half after a put saw EQUEUEFULL. */
typedef void (*kinesis_drain_cb)(kinesis_producer_t* producer,
                                 void* user_data);

/** The options of kinesis_producer_new(); see
 *  kinesis_producer_options_init(). A 0 in a number is KINESIS_EINVAL unless
 *  the field's comment gives 0 a meaning. */
typedef struct kinesis_producer_options_s {
  /** Set by kinesis_producer_options_init(): the size of this struct in the
   * header the application was built against (docs/reference.md). */
  size_t size;
  /** Required. The stream name, or its ARN. Copied. */
  const char* stream;
  /** Default 500. Longest a record waits to join a batch, in milliseconds;
   * 0 sends on the next turn of the loop. */
  uint32_t buffer_time_ms;
  /** Default 500, the most PutRecords takes. Records per request. */
  uint32_t batch_size;
  /** Default 5 MiB. Bytes per request (data and partition keys). */
  size_t max_batch_bytes;
  /** Default 10000. Records buffered (queued and in flight) at most; past it
   * put returns KINESIS_EQUEUEFULL. */
  uint32_t max_queue_size;
  /** Default 16 MiB. Bytes buffered at most (data and partition keys), the
   * same way. It also bounds the memory holding small records: from 4 MiB
   * up, records under 4 KiB are kept in 64 KiB blocks, and put refuses
   * once the blocks in use reach this size, whatever the records' own
   * bytes. Keep it below what the stream's shards can take within
   * record_ttl_ms (1 MiB/s each by default), or records at the back of the
   * buffer time out. */
  size_t max_queue_bytes;
  /** Default 1000. Records per second per shard; 0: no limit. An aggregated
   * record counts once, as Kinesis counts it. A shard held back by its
   * limits sends once they have refilled for buffer_time_ms (100 ms at
   * least), or enough for all it has pending. */
  uint32_t put_rate_limit_per_shard;
  /** Default 1 MiB. Bytes per second per shard; 0: no limit. */
  uint32_t put_bandwidth_limit_per_shard;
  /** Default 10. Requests that may carry a record before it fails. 0: no
   * limit, a record is retried until it lands, its TTL passes or
   * stall_timeout_ms fails it. */
  uint32_t max_attempts;
  /** Default 100 and 5000. Backoff of a record that failed inside a 200
   * answer: random in [0, min(cap, base * 2^(attempt-1))]. */
  uint32_t retry_base_ms;
  uint32_t retry_cap_ms; /**< See retry_base_ms. */
  /** Default 30000. A record not settled this long after its put fails with
   * KINESIS_ETIMEDOUT, in flight or not. Counted from the loop's time at
   * the put (uv_now()). 0: no TTL, a record is retried until it lands,
   * its attempts are spent, or stall_timeout_ms fails it. */
  uint32_t record_ttl_ms;
  /** Default 0: the stream's limit, read with DescribeStreamSummary
   * (MaxRecordSizeInKiB, up to 10 MiB), or 1 MiB when the service does not
   * say or the call fails. Until it has answered, nothing is sent and put
   * takes records up to 10 MiB; those over the limit then fail with
   * KINESIS_EINVAL. A value from 1 to 10 MiB (10485760) is the largest data
   * plus partition key, and DescribeStreamSummary is not called. A record
   * over max_batch_bytes goes alone in its request. */
  size_t max_record_size;
  /** Default 16. PutRecords requests in flight at most. */
  uint32_t max_in_flight;
  /** Default 0. 1 packs records bound for one shard into KPL aggregated
   * records (the KPL's format; consumers de-aggregate them). An aggregate
   * that lands, after a reshard, on a shard whose hash key range does not
   * hold all of its records (a KCL reader drops it whole) is put again,
   * every record of it, once a fresh shard map says where they belong; see
   * records_rerouted. */
  int aggregate;
  /** Default 60000. How often the shard map is listed again, to follow
   * resharding; it is also listed when an answer names an unexpected shard. */
  uint32_t shard_refresh_ms;
  /** Default 120000. When records are outstanding and none at all has
   * been acknowledged for this long (milliseconds), every record put so far
   * fails with KINESIS_ETIMEDOUT, those in flight included; the count
   * starts again with the next put. A slow service that still acknowledges
   * something keeps every record alive (with record_ttl_ms 0), a service
   * that answers nothing does not keep them forever. 0: no stall timeout;
   * with record_ttl_ms 0 too, a record may then wait, and a close with it,
   * until the service answers. */
  uint32_t stall_timeout_ms;
  /** Default 0. 1: each partition key's records land in put order. At most
   * one PutRecords request is in flight per shard, a request carries at
   * most one aggregate, or one plain record per partition key, per shard,
   * and a record that fails holds back the records after it on its shard
   * until it lands or fails; after a reshard nothing is sent until the
   * requests built on the old map are answered. This costs throughput: a
   * shard sends one request per round trip.
   *
   * The default mode keeps no order: up to max_in_flight requests per
   * shard may be in flight at once, and a record retried after throttling
   * or a lost answer lands after records put later. Without failures and
   * with one request in flight at a time records of a key land in put
   * order, but nothing enforces it. */
  int ordered;
  /** Optional. Called after each PutRecords answer is handled. */
  kinesis_after_flush_cb after_flush;
  void* after_flush_data; /**< Passed to after_flush as `user_data`. */
  /** Optional. Called when the buffer falls below half after EQUEUEFULL. */
  kinesis_drain_cb on_drain;
  void* on_drain_data; /**< Passed to on_drain as `user_data`. */
} kinesis_producer_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md).
 */
#define kinesis_producer_options_init(options)                                \
  kinesis_producer_options_init_sized((options),                              \
                                      sizeof(kinesis_producer_options_t))

/**
 * What kinesis_producer_options_init() calls: writes the defaults into the
 * first `size` bytes of `options`, zeroes any bytes past the library's own
 * struct, and sets `options->size` to `size`. Does nothing when `options` is
 * NULL or `size` is below sizeof(size_t).
 */
KINESIS_EXTERN void kinesis_producer_options_init_sized(
    kinesis_producer_options_t* options, size_t size);

/**
 * Creates a producer on `client`'s loop and starts listing the stream's
 * shards. Records put before the listing is done wait for it.
 *
 * `options` NULL is KINESIS_EINVAL (`stream` is required). Only the fields
 * inside `options->size` are read; the others take their defaults.
 *
 * Returns 0 and sets `*out`; KINESIS_EINVAL (NULL `client`, `options` or
 * `out`, an `options->size` of 0 (options not set by
 * kinesis_producer_options_init()), a missing stream, or an option out of
 * range, such as a 0 where the field gives 0 no meaning);
 * KINESIS_EUNSUPPORTED (`options` is longer than this library's struct,
 * from a newer header, and sets a field past it); KINESIS_ECLOSING (the
 * client is closing); or KINESIS_ENOMEM. The client refuses to close
 * (KINESIS_EBUSY) until the producer has closed.
 */
KINESIS_EXTERN int kinesis_producer_new(
    kinesis_client_t* client, const kinesis_producer_options_t* options,
    kinesis_producer_t** out);

/**
 * Queues one record. The record is copied; `record` may be reused on return.
 * `cb` runs exactly once, later, on the loop thread: with 0 and the shard id
 * and sequence number, or with an error (see kinesis_put_cb). Returns 0,
 * KINESIS_EINVAL (data plus key over the largest record, see
 * max_record_size, or over max_queue_bytes, a key that is empty,
 * longer than 256 characters or not UTF-8, a bad explicit hash key, or a
 * NULL cb; kinesis_record_validate() checks the record alone, without the
 * stream's limit and max_queue_bytes), KINESIS_EQUEUEFULL (the buffer is
 * full: wait for on_drain), or KINESIS_ECLOSING. On a non-zero return
 * nothing is queued and `cb` never runs.
 */
KINESIS_EXTERN int kinesis_producer_put(kinesis_producer_t* producer,
                                        const kinesis_record_t* record,
                                        kinesis_put_cb cb, void* user_data);

/**
 * Sends everything buffered now, without waiting for buffer_time. `cb` runs
 * once every record put before this call is settled (its callback has run).
 * Returns 0, KINESIS_EINVAL or KINESIS_ECLOSING; on error `cb` never runs.
 */
KINESIS_EXTERN int kinesis_producer_flush(kinesis_producer_t* producer,
                                          kinesis_producer_cb cb,
                                          void* user_data);

/**
 * Flushes, waits until every record's callback has run (each within its TTL
 * or the stall timeout, so close finishes even when the server cannot be
 * reached, unless record_ttl_ms and stall_timeout_ms are both 0) and the
 * DescribeStreamSummary call has ended, closes every handle, then frees the
 * producer and calls `cb` (may be NULL): on a later tick, never inside this
 * call, after every put, flush and after_flush callback. Its `status` is 0
 * when every record settled during the close landed, or else the first
 * error such a record got (the records' callbacks say which). It may be
 * called from inside the producer's callbacks. Returns 0, KINESIS_EINVAL
 * (NULL `producer`) or KINESIS_EALREADY (a close has begun; this `cb` then
 * never runs).
 */
KINESIS_EXTERN int kinesis_producer_close(kinesis_producer_t* producer,
                                          kinesis_close_cb cb,
                                          void* user_data);

/** Sets the producer's user slot, `data`, which the library never reads. */
KINESIS_EXTERN void kinesis_producer_set_data(kinesis_producer_t* producer,
                                              void* data);
/** The producer's user slot: NULL, or what kinesis_producer_set_data() set. */
KINESIS_EXTERN void* kinesis_producer_get_data(
    const kinesis_producer_t* producer);

/** Counters since the producer was created. */
typedef struct kinesis_producer_stats_s {
  uint64_t records_put;       /**< user records that landed */
  uint64_t bytes_put;         /**< their data and partition key bytes */
  uint64_t records_failed;    /**< user records whose callback got an error */
  uint64_t records_retried;   /**< times a user record was queued again */
  uint64_t records_throttled; /**< user records throttled inside answers */
  uint64_t requests;          /**< PutRecords requests answered or failed */
  uint64_t request_failures;  /**< requests that failed whole */
  uint64_t entries_sent;      /**< Kinesis records sent (aggregates once) */
  uint64_t user_records_sent; /**< user records sent, retries included */
  uint64_t queue_depth;       /**< user records buffered now */
  uint64_t queue_bytes;       /**< their bytes */
  uint64_t in_flight;         /**< requests in flight now */
  uint64_t shards;            /**< open shards in the current map */
  /** Average user records per request over batch_size, 0 to 1; with
   * aggregation it can exceed 1. */
  double batch_fill;
  /** User records that landed in the last 30 to 60 seconds, over which the
   * times below are taken: from the put to the callback, buffering,
   * rate limits and retries included, to the loop's millisecond. */
  uint64_t recent_records;
  double latency_p50_ms;      /**< recent median, put to callback */
  double latency_p99_ms;      /**< recent 99th percentile */
  double latency_max_ms;      /**< recent longest */
  /** Sends of user records that may put a second copy in the stream: the
   * records of a request sent again after it got no usable answer (a
   * transport error, a 5xx, a timeout, an answer that could not be read),
   * each time, whether the producer or the client (unsure_retries of
   * kinesis_result_t) sent it again. The only records that may be in the
   * stream twice; a connection refused before anything was sent counts
   * too, so this is an upper bound. */
  uint64_t records_maybe_duplicated;
  /** User records put again because the aggregate carrying them landed on
   * a shard (a reshard moved the ranges) whose hash key range does not
   * hold all of them: a reader applying the KCL's rule drops such an
   * aggregate whole. Their callbacks report where they land at last. */
  uint64_t records_rerouted;
  /** ListShards calls that failed, throttling aside. Without a shard map
   * records wait (up to record_ttl_ms), and the producer lists again with
   * a backoff; a failure that keeps coming back is logged at
   * KINESIS_LOG_WARN (docs/observability.md, "Failures that repeat").
   */
  uint64_t list_failures;
} kinesis_producer_stats_t;

/** Fills `stats`. Returns 0 or KINESIS_EINVAL. */
KINESIS_EXTERN int kinesis_producer_stats(const kinesis_producer_t* producer,
                                          kinesis_producer_stats_t* stats);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_PRODUCER_H */
