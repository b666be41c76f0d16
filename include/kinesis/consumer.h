#ifndef KINESIS_CONSUMER_H
#define KINESIS_CONSUMER_H

/**
 * \file
 * The consumer: a stream's shards leased through a checkpointer, read, and
 * handed to the application record by record, with checkpoints of what it
 * has finished with. Its new, close, options and callbacks follow the
 * rules of docs/reference.md.
 */

#include <stddef.h>
#include <stdint.h>

#include "kinesis/checkpoint.h"
#include "kinesis/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A consumer: leases the stream's shards through a checkpointer, fetches
 * each with its own timer, de-aggregates KPL records, and hands records to
 * `on_record` through a bounded queue, checkpointing only what the
 * application has finished with.
 */
typedef struct kinesis_consumer_s kinesis_consumer_t;

/** A record as the application sees it. Valid during `on_record`; with
 *  manual ack, until kinesis_consumer_ack() for it. */
typedef struct kinesis_consumer_record_s {
  const uint8_t* data;             /**< the record's data */
  size_t len;                      /**< its length in bytes */
  const char* partition_key;       /**< its partition key */
  const char* explicit_hash_key;   /**< from an aggregate only, else NULL */
  const char* sequence_number;     /**< its sequence number */
  /** The index inside its KPL aggregate; 0 for a plain record. */
  uint32_t sub_sequence_number;
  int aggregated;                  /**< 1 when it came out of an aggregate */
  const char* shard_id;            /**< the shard it was read from */
  double approximate_arrival_timestamp;  /**< epoch seconds; 0 when absent */
  int64_t millis_behind_latest;    /**< of the answer it came in; -1 absent */
} kinesis_consumer_record_t;

/** Receives one record; see `on_record`. */
typedef void (*kinesis_record_cb)(kinesis_consumer_t* consumer,
                                  const kinesis_consumer_record_t* record,
                                  void* user_data);

/** Completion of a stop: `status` is 0, or KINESIS_ECANCELED when a close
 *  took it over (see kinesis_consumer_stop()). (A close completes with a
 *  kinesis_close_cb.) */
typedef void (*kinesis_consumer_cb)(kinesis_consumer_t* consumer, int status,
                                    void* user_data);

/** A change of readiness (see kinesis_consumer_ready()): `ready` is 1 or
 *  0. */
typedef void (*kinesis_ready_cb)(kinesis_consumer_t* consumer, int ready,
                                 void* user_data);

/**
 * What the consumer does when the service refuses the checkpoint a shard
 * was to start from (GetShardIterator answers InvalidArgumentException):
 * the stream was deleted and created again under the same name, or the
 * checkpoint belongs to another shard.
 */
typedef enum {
  /** The shard is not read. Its lease is kept and heartbeaten, so that no
   * other consumer takes it and fails the same way, until the consumer
   * stops or closes; the consumer is not ready meanwhile. */
  KINESIS_INVALID_CHECKPOINT_FAIL = 0,
  /** The shard starts over at its oldest record. */
  KINESIS_INVALID_CHECKPOINT_TRIM_HORIZON,
  /** The shard starts over with the records put after this moment. */
  KINESIS_INVALID_CHECKPOINT_LATEST
} kinesis_invalid_checkpoint_t;

/** A checkpoint the service refused; see `on_checkpoint_error`. Valid
 *  during the callback. */
typedef struct kinesis_checkpoint_error_s {
  const char* shard_id;          /**< the shard */
  const char* sequence_number;   /**< the refused checkpoint */
  /** The checkpoint's index inside a KPL aggregate (0 for a plain
   * record). */
  uint32_t sub_sequence_number;
  int status;                    /**< the error, e.g. KINESIS_EINVALIDARG */
  const char* message;           /**< the service's message; "" when none */
} kinesis_checkpoint_error_t;

/** Told that the service refused a shard's checkpoint; see
 *  `on_checkpoint_error`. */
typedef void (*kinesis_checkpoint_error_cb)(
    kinesis_consumer_t* consumer, const kinesis_checkpoint_error_t* error,
    void* user_data);

/** Where a shard's reading starts, for on_shard_start. Valid during the
 *  callback. */
typedef struct kinesis_shard_start_s {
  const char* shard_id; /**< the shard */
  /** KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER after a checkpoint (or
   * AT_SEQUENCE_NUMBER inside a KPL aggregate partly processed), else where
   * a shard without a checkpoint starts: TRIM_HORIZON, LATEST or
   * AT_TIMESTAMP (docs/consumer.md, "Start positions"). */
  kinesis_iterator_type_t iterator_type;
  /** The checkpoint it starts after; NULL without one. */
  const char* sequence_number;
  /** With AT_SEQUENCE_NUMBER: user records of the aggregate up to and
   * including this index were processed and are skipped. */
  uint32_t sub_sequence_number;
} kinesis_shard_start_t;

/** Why a shard's reading ended, for on_shard_end. */
typedef enum {
  /** Read to its end, every record acknowledged, and marked finished. */
  KINESIS_SHARD_END_FINISHED = 0,
  /** Its lease was taken by another consumer or could not be confirmed, or
   * the shard left the stream: records not yet delivered were dropped, and
   * acknowledgements can no longer be checkpointed. */
  KINESIS_SHARD_END_LOST,
  /** Handed over to another consumer, to rebalance, after its records
   * handed out were acknowledged and checkpointed. */
  KINESIS_SHARD_END_HANDED_OVER,
  /** The consumer stopped or closed: the final checkpoint was written and
   * the lease released. */
  KINESIS_SHARD_END_STOPPED
} kinesis_shard_end_reason_t;

/** A shard's reading starts: see on_shard_start. */
typedef void (*kinesis_shard_start_cb)(kinesis_consumer_t* consumer,
                                       const kinesis_shard_start_t* start,
                                       void* user_data);

/** A shard's reading ended: see on_shard_end. `shard_id` is valid during
 *  the call. */
typedef void (*kinesis_shard_end_cb)(kinesis_consumer_t* consumer,
                                     const char* shard_id,
                                     kinesis_shard_end_reason_t reason,
                                     void* user_data);

/** The options of kinesis_consumer_new(); see
 *  kinesis_consumer_options_init(). A 0 in a number is KINESIS_EINVAL unless
 *  the field's comment gives 0 a meaning. */
typedef struct kinesis_consumer_options_s {
  /** Set by kinesis_consumer_options_init(): the size of this struct in the
   * header the application was built against (docs/reference.md). */
  size_t size;
  /** Required. The stream name, or its ARN. Copied. */
  const char* stream;
  /** Required. Called for each record, in order within a shard. */
  kinesis_record_cb on_record;
  void* on_record_data; /**< Passed to on_record as `user_data`. */
  /** Default 1000. Records fetched and not yet handed to on_record at most;
   * a full queue pauses fetching. */
  uint32_t max_queue_size;
  /** Default 0: no limit. Shards this consumer leases at most. When the
   * checkpointer counts consumers (its member op), each also aims at a fair
   * share of the readable shards and hands extra shards over: shares within
   * one of each other when the checkpointer can list its leases (its leases
   * op), else ceil(shards / live consumers). */
  uint32_t max_shard_consumers;
  /** Default 10000. Records per GetRecords (1 to 10000). */
  uint32_t record_limit;
  /** Default 2000. Wait before fetching a shard again that had nothing;
   * 0 is KINESIS_EINVAL. */
  uint32_t sleep_time_no_records_ms;
  /** Default 5. GetRecords calls per second per shard at most (AWS allows
   * 5); fractions are allowed. */
  double shard_fetch_rate;
  /** Default TRIM_HORIZON. Where a shard without a checkpoint starts:
   * TRIM_HORIZON, LATEST or AT_TIMESTAMP (with `timestamp`). */
  kinesis_iterator_type_t iterator_type;
  double timestamp; /**< Epoch seconds, for AT_TIMESTAMP. */
  /** Default NULL: a private memory checkpointer. Must outlive the
   * consumer. */
  kinesis_checkpointer_t* checkpointer;
  /** Default 5000. How often acknowledged positions are checkpointed; also
   * on stop and close. */
  uint32_t checkpoint_interval_ms;
  /** Default 3000. How often leases are heartbeaten, and consumers counted;
   * keep it well below the checkpointer's session timeout. */
  uint32_t heartbeat_interval_ms;
  /** Default 0: a record is acknowledged when on_record returns. 1: records
   * stay valid, and unacknowledged, until kinesis_consumer_ack(). */
  int manual_ack;
  /** Default 0: max_queue_size. With manual ack, records handed out and not
   * acknowledged at most; past it, delivery and fetching pause. */
  uint32_t max_unacked;
  /** Default 30000. How often shards are listed, to find new shards after
   * resharding and to claim leases that became free. */
  uint32_t shard_discovery_ms;
  /** Default NULL: `"<hostname>-<pid>-<random>"`. The lease owner name.
   * Copied. */
  const char* owner;
  /** Default NULL. Called on a later tick each time readiness changes
   * (kinesis_consumer_ready()), for health checks; not called when a stop
   * or close ends it. */
  kinesis_ready_cb on_ready;
  void* on_ready_data;              /**< passed to on_ready */
  /** Default KINESIS_INVALID_CHECKPOINT_FAIL. What to do when the service
   * refuses the checkpoint a shard was to start from (see
   * kinesis_invalid_checkpoint_t). With TRIM_HORIZON or LATEST the refused
   * checkpoint stays in the store until the first record read from the new
   * start is acknowledged and checkpointed. */
  kinesis_invalid_checkpoint_t invalid_checkpoint;
  /** Default NULL. Called, on the loop and never inside a call of this
   * library, each time the service refuses a shard's checkpoint, whatever
   * `invalid_checkpoint` says, before the shard starts over (if it does).
   * It may call any consumer function, close included. */
  kinesis_checkpoint_error_cb on_checkpoint_error;
  void* on_checkpoint_error_data;   /**< passed to on_checkpoint_error */

  /** Default NULL. Called when this consumer starts reading a shard (its
   * lease was taken), before any of its records reach on_record, with where
   * it starts. Like the KCL's record processor initialize. */
  kinesis_shard_start_cb on_shard_start;
  /** Default NULL. Called once for every on_shard_start, when the reading
   * of that shard ends, after the last of its records reached on_record,
   * with the reason; at stop and close, before their callback. Both run on
   * the loop, never inside a call of the library, in order per shard. */
  kinesis_shard_end_cb on_shard_end;
  void* on_shard_data; /**< passed to on_shard_start and on_shard_end */

  /** Default NULL: shards are read with GetRecords (polling). The name of a
   * stream consumer registered for enhanced fan-out, or its ARN: shards are
   * then read through SubscribeToShard over HTTP/2, each pushing up to
   * 2 MiB/s to this consumer alone (docs/consumer.md, "Enhanced fan-out").
   * The consumer waits for it to be ACTIVE before subscribing. Leases,
   * checkpoints, max_queue_size, de-aggregation and resharding work as when
   * polling; record_limit, sleep_time_no_records_ms and shard_fetch_rate
   * do not apply. Copied. Since 0.9. */
  const char* efo_consumer_name;
  /** Default 0. 1: register `efo_consumer_name` (a name, not an ARN) when
   * the stream lacks it, at the start and whenever a subscription finds it
   * gone. With 0, a missing consumer is reported at ERROR, and asked about
   * again every 10 s. */
  int efo_register;
} kinesis_consumer_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md).
 */
#define kinesis_consumer_options_init(options)                                \
  kinesis_consumer_options_init_sized((options),                              \
                                      sizeof(kinesis_consumer_options_t))

/**
 * What kinesis_consumer_options_init() calls: writes the defaults into the
 * first `size` bytes of `options`, zeroes any bytes past the library's own
 * struct, and sets `options->size` to `size`. Does nothing when `options` is
 * NULL or `size` is below sizeof(size_t).
 */
KINESIS_EXTERN void kinesis_consumer_options_init_sized(
    kinesis_consumer_options_t* options, size_t size);

/**
 * Creates a consumer on `client`'s loop; nothing is fetched until
 * kinesis_consumer_start().
 *
 * `options` NULL is KINESIS_EINVAL (`stream` and `on_record` are
 * required). Only the fields inside `options->size` are read; the others
 * take their defaults. The same holds for the checkpointer's operations:
 * those past its `ops->size` count as NULL.
 *
 * Returns 0; KINESIS_EINVAL (NULL `client`, `options` or `out`, an
 * `options->size` of 0 (options not set by kinesis_consumer_options_init()),
 * no stream, no on_record, an option out of range, such as a 0 where the
 * field gives 0 no meaning, a memory or Redis checkpointer made from
 * another client, or a checkpointer whose table lacks an
 * operation from claim to close); KINESIS_EUNSUPPORTED (`options`, or the
 * checkpointer's table, is longer than this library's struct, from a newer
 * header, and sets a field past it); KINESIS_ENOREGION; KINESIS_ECLOSING; or
 * KINESIS_ENOMEM. The client refuses to close while the consumer is open.
 */
KINESIS_EXTERN int kinesis_consumer_new(
    kinesis_client_t* client, const kinesis_consumer_options_t* options,
    kinesis_consumer_t** out);

/** Lists the shards, claims leases and starts fetching. Returns 0,
 *  KINESIS_EALREADY, KINESIS_EBUSY (a stop's callback has not run yet) or
 *  KINESIS_ECLOSING. */
KINESIS_EXTERN int kinesis_consumer_start(kinesis_consumer_t* consumer);

/** Stops handing records to on_record (fetching pauses once the queue is
 *  full) until kinesis_consumer_resume(). Returns 0 or KINESIS_ECLOSING. */
KINESIS_EXTERN int kinesis_consumer_pause(kinesis_consumer_t* consumer);
/** Hands records to on_record again, and fetching goes on, after
 *  kinesis_consumer_pause(). Returns 0 or KINESIS_ECLOSING. */
KINESIS_EXTERN int kinesis_consumer_resume(kinesis_consumer_t* consumer);

/**
 * With manual ack: the application has finished with `record`, which is
 * invalid afterwards. Checkpoints never pass a record not acknowledged.
 * Returns 0, or KINESIS_EINVAL (NULL, not a record of this consumer, or
 * manual ack is off). Acknowledging a record twice is an error of the
 * application's: it may be caught (KINESIS_EALREADY) while the record's
 * answer is still held for others, never after.
 */
KINESIS_EXTERN int kinesis_consumer_ack(kinesis_consumer_t* consumer,
                                        const kinesis_consumer_record_t* record);

/**
 * Stops the way close does (fetching and delivery stop, what was not
 * delivered is dropped, final checkpoints are written, leases released), but
 * keeps the consumer: `cb` runs once that is done, on a later tick, and
 * kinesis_consumer_start() may be called again, from `cb` or later (before,
 * it returns KINESIS_EBUSY). Records still unacknowledged when the stop
 * completes are invalid; the next start reads them again. Returns 0,
 * KINESIS_EINVAL (not started), KINESIS_EALREADY (stopping) or
 * KINESIS_ECLOSING. A close during a stop takes over; the stop's `cb` then
 * runs with KINESIS_ECANCELED. A close after the stop completed but before
 * `cb` ran lets `cb` run with 0. Either way `cb` runs on a later tick, never
 * inside the close, and before the close's callback.
 */
KINESIS_EXTERN int kinesis_consumer_stop(kinesis_consumer_t* consumer,
                                         kinesis_consumer_cb cb,
                                         void* user_data);

/**
 * Stops fetching and delivering, drops what was fetched but not delivered
 * (it was never checkpointed, so the next consumer reads it again), writes
 * the final checkpoints of what was acknowledged, releases the leases,
 * closes every handle, then frees the consumer and calls `cb` (may be
 * NULL): on a later tick, never inside this call, after every on_record,
 * on_shard_end and stop callback. Records still unacknowledged at that
 * point are invalid; the next consumer re-reads them. `status` is 0, or the
 * first error from writing the final checkpoints or releasing the leases
 * (such as KINESIS_ESTORE or KINESIS_ELEASELOST): nothing is lost, the next
 * reader re-reads from the last checkpoint written. It may be called from
 * inside the consumer's callbacks. Returns 0, KINESIS_EINVAL (NULL
 * `consumer`) or KINESIS_EALREADY (a close has begun; this `cb` then never
 * runs).
 */
KINESIS_EXTERN int kinesis_consumer_close(kinesis_consumer_t* consumer,
                                          kinesis_close_cb cb,
                                          void* user_data);

/** Sets the consumer's user slot, `data`, which the library never reads. */
KINESIS_EXTERN void kinesis_consumer_set_data(kinesis_consumer_t* consumer,
                                              void* data);
/** The consumer's user slot: NULL, or what kinesis_consumer_set_data() set. */
KINESIS_EXTERN void* kinesis_consumer_get_data(
    const kinesis_consumer_t* consumer);

/** Buckets of kinesis_consumer_stats_t.loop_turns. */
#define KINESIS_LOOP_TURN_BUCKETS 8

/** One shard as the consumer sees it. */
typedef struct kinesis_consumer_shard_stats_s {
  const char* shard_id;          /**< the shard's id */
  /** "new", "claiming", "leased-elsewhere", "fetching", "ending",
   * "finished", "gone", "handing-over", or "skipped" (before the start
   * position: never read). */
  const char* state;
  int64_t millis_behind_latest;  /**< from the last answer; -1 before one */
  int64_t last_record_age_ms;    /**< now minus the last record's arrival */
  uint64_t records;              /**< user records delivered */
  const char* checkpoint;        /**< last sequence number checkpointed */
  /** The status of the shard's last GetShardIterator or GetRecords call
   * that failed, throttling aside; 0 before any, and again once a
   * GetRecords call succeeds. */
  int last_error;
} kinesis_consumer_shard_stats_t;

/** Counters since the consumer was created, and its state now. */
typedef struct kinesis_consumer_stats_s {
  uint64_t records_delivered;    /**< user records handed to on_record */
  uint64_t records_acked;        /**< user records acknowledged */
  uint64_t records_dropped;      /**< fetched, then dropped at close */
  uint64_t get_records_calls;    /**< GetRecords calls answered or failed */
  uint64_t throttled;            /**< GetRecords answered with throttling */
  uint64_t expired_iterators;    /**< GetRecords failed: iterator expired */
  uint64_t checkpoints;          /**< checkpoints written */
  uint64_t queue_depth;          /**< fetched, not yet delivered */
  uint64_t unacked;              /**< delivered, not yet acknowledged */
  uint64_t handovers;            /**< leases given up to rebalance */
  uint64_t leases_lost;          /**< leases taken away or not confirmed */
  /** KPL aggregates dropped whole because a user record's hash key is
   * outside the shard's range (the KCL's rule; see docs/consumer.md). */
  uint64_t aggregates_dropped;
  /** Consumers of the application live on the stream, as the checkpointer
   * last answered (its member op); 0 when unknown or not supported. */
  uint32_t live_members;
  /** The most shards this consumer aims to hold now, as its last plan
   * worked out (docs/consumer.md, "A fleet of consumers"): its share of the
   * readable shards, within max_shard_consumers; 0 when there is no
   * limit. */
  uint32_t shard_target;
  uint32_t leases_held;          /**< shards leased now */
  int ready;                     /**< kinesis_consumer_ready() */
  /** How long the loop's turns took while the consumer ran (started, not
   * stopped), counted in buckets by their upper bounds: 1, 2, 5, 10, 20,
   * 50 and 100 ms, and the rest. A turn is one iteration of uv_run(), less
   * the time it waited in the kernel for events: the work of every callback
   * on the loop, the application's included. A long turn delays every
   * timer and answer on the loop. */
  uint64_t loop_turns[KINESIS_LOOP_TURN_BUCKETS];
  uint64_t loop_turn_max_us;     /**< the longest turn, in microseconds */
  uint64_t loop_turn_total_us;   /**< all the turns, in microseconds */
  /** The most CPU time the loop's thread used in one turn, in
   * microseconds: the work itself, without the time the thread waited for
   * a core (on a busy machine a turn's wall time, above, can be much
   * longer). */
  uint64_t loop_turn_max_cpu_us;
  size_t nshards;                /**< entries in `shards` */
  const kinesis_consumer_shard_stats_t* shards;  /**< valid until the next
                                                      call on the consumer */
  /** Checkpoints the service refused (see `invalid_checkpoint`), whatever
   * was done about them. */
  uint64_t invalid_checkpoints;
  /** GetShardIterator and GetRecords calls (SubscribeToShard
   * subscriptions, with enhanced fan-out) that failed, not counting
   * throttling (`throttled`), expired iterators (`expired_iterators`),
   * refused checkpoints, ResourceInUseException, ResourceNotFoundException
   * of the stream consumer, and calls canceled by a stop or close. Each shard
   * retries with a backoff; a failure that keeps coming back is logged at
   * KINESIS_LOG_WARN (docs/observability.md, "Failures that repeat").
   */
  uint64_t fetch_failures;
  /** ListShards calls that failed, throttling aside; the consumer lists
   * again within a second. */
  uint64_t list_failures;
  /** GetRecords calls that succeeded, with records or without: 0 means no
   * shard could be read yet. */
  uint64_t get_records_ok;
  /** The status of the last failure counted in fetch_failures or
   * list_failures, or KINESIS_ENOTFOUND for a stream consumer that
   * enhanced fan-out could not find (`efo_consumer_name`); 0 when there was
   * none. It stays after a recovery: see the shards' `last_error` for now. */
  int last_error;
  /** What was said of that failure, as logged: the call, the shard, the
   * description of the status and the service's error code and message,
   * such as "GetRecords on shardId-000000000000: malformed service
   * response". NULL when `last_error` is 0; valid until the next call on
   * the consumer. */
  const char* last_error_message;
  /** With enhanced fan-out (`efo_consumer_name`): SubscribeToShard
   * subscriptions started, renewals included. Since 0.9. */
  uint64_t subscriptions;
  /** With enhanced fan-out: events received, with records or without. */
  uint64_t subscription_events;
} kinesis_consumer_stats_t;

/** Fills `stats`; `stats->shards` points into a buffer of the consumer's,
 *  valid until the next call on it. Returns 0, KINESIS_EINVAL (a NULL
 *  argument) or KINESIS_ENOMEM (no room for the shards' entries). */
KINESIS_EXTERN int kinesis_consumer_stats(const kinesis_consumer_t* consumer,
                                          kinesis_consumer_stats_t* stats);

/**
 * Whether the consumer is ready, for health checks: it was started and is
 * not stopping or closing, it has listed the stream's shards, its first
 * claims were answered, the checkpointer could be reached at its last
 * answer, and every shard it leases has been read since it was leased with
 * no failure since (throttling aside). A consumer that holds no shard,
 * because others hold them all, is ready. Backpressure and
 * kinesis_consumer_pause() do not change it. Returns 1 or 0 (also for a
 * NULL consumer).
 */
KINESIS_EXTERN int kinesis_consumer_ready(const kinesis_consumer_t* consumer);

/** The lease owner name: the `owner` option, or the one made up for it
 *  ("<hostname>-<pid>-<random>"). Valid while the consumer lives; NULL for
 *  a NULL consumer. */
KINESIS_EXTERN const char* kinesis_consumer_owner(
    const kinesis_consumer_t* consumer);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_CONSUMER_H */
