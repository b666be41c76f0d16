#ifndef KINESIS_CHECKPOINT_H
#define KINESIS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kinesis/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * \file
 * Checkpointers store, per (stream, shard): a lease (owner and heartbeat),
 * the checkpoint, and whether the shard is finished. The consumer knows them
 * only through kinesis_checkpointer_ops_t, so an application can write its
 * own (PostgreSQL, DynamoDB, a file) against the same table. The built-in
 * ones are objects like the others and follow the rules of
 * docs/reference.md; so does the ops table's size.
 */

/** A position in a shard. */
typedef struct kinesis_checkpoint_s {
  /** The last record processed, or NULL when the shard has no checkpoint. */
  const char* sequence_number;
  /** With `partial` set, the record is a KPL aggregate of which the user
   * records up to and including this index were processed; the rest of it
   * is still to come. */
  uint32_t sub_sequence_number;
  int partial; /**< 1 when only part of an aggregate was processed */
  /** 1 when the shard was read to its end and every record processed. */
  int finished;
} kinesis_checkpoint_t;

/**
 * The answer to claim and get: `status` 0 with the stored `checkpoint` (never
 * NULL; its sequence_number is NULL when there is none), KINESIS_ELEASED when
 * another live owner holds the lease, or another error. Valid only during the
 * call.
 */
typedef void (*kinesis_ckpt_state_cb)(int status,
                                      const kinesis_checkpoint_t* checkpoint,
                                      void* arg);

/** The answer to heartbeat, checkpoint, finish and release: `status` 0,
 *  KINESIS_ELEASELOST when `owner` no longer holds the lease (nothing was
 *  written), or another error. */
typedef void (*kinesis_ckpt_cb)(int status, void* arg);

/** The answer to member: `status` 0 and how many owners of the application
 *  are live on the stream (counting the caller unless it was leaving), or an
 *  error and 0. */
typedef void (*kinesis_ckpt_members_cb)(int status, uint32_t live_members,
                                        void* arg);

/** One shard's lease state, in the answer to the leases operation. Since
 *  0.9. */
typedef struct kinesis_lease_s {
  /** The shard, as asked: equal to the asked id. The store's copy, since
   * the caller's ids are borrowed for the call only. */
  const char* shard_id;
  /** The owner of the shard's live lease; NULL when the lease is free,
   * released or expired (by the store's clock, as for claim). */
  const char* owner;
  /** 1 when the shard was read to its end (finish). */
  int finished;
  /** 1 when the store has any record of the shard: a lease (live or
   * expired, held or released), a checkpoint, or finished. 0 for a shard
   * it has never seen, which then has no owner and is not finished. */
  int known;
} kinesis_lease_t;

/**
 * The answer to leases: `status` 0 and `n` entries, one per asked shard in
 * the order asked (repeated ids repeated); or an error, with `leases` NULL
 * and `n` 0. The entries and their strings are valid only during the call.
 * With `n` 0, `leases` may be NULL.
 */
typedef void (*kinesis_ckpt_leases_cb)(int status,
                                       const kinesis_lease_t* leases, size_t n,
                                       void* arg);

/**
 * The operations. Each returns 0 and later calls its callback exactly once,
 * on the loop, never inside the call; or returns an error and never calls
 * it: KINESIS_EINVAL (a NULL or empty string, a NULL callback or position, a
 * sequence number that is not 1 to 129 digits), KINESIS_ENOMEM or
 * KINESIS_ECLOSING. Strings are borrowed for the duration of the call.
 * Unlike the objects of this library, the callbacks carry no object
 * argument: a checkpointer is a table of functions, and `arg` is the
 * caller's.
 *
 * The table begins with its size, so that it can grow: set `size` to
 * sizeof(kinesis_checkpointer_ops_t) and fill it with designated
 * initializers. A consumer treats an operation past `size` (a store built
 * against an older header) as NULL; claim to close must lie inside it.
 */
typedef struct kinesis_checkpointer_ops_s {
  /** Required: sizeof(kinesis_checkpointer_ops_t) in the header the store
   * was built against. */
  size_t size;
  /** Take the lease of a shard for `owner` if it is free, expired or already
   * `owner`'s, and answer with the shard's checkpoint. On KINESIS_ELEASED
   * the checkpoint still carries the stored position. A finished shard is
   * claimed like any other (status 0, finished set): release it. */
  int (*claim)(void* self, const char* stream, const char* shard_id,
               const char* owner, kinesis_ckpt_state_cb cb, void* arg);
  /** Keep `owner`'s lease alive. */
  int (*heartbeat)(void* self, const char* stream, const char* shard_id,
                   const char* owner, kinesis_ckpt_cb cb, void* arg);
  /** Store a position, if `owner` still holds the lease. Its `finished` is
   * ignored: only finish() marks a shard finished. */
  int (*checkpoint)(void* self, const char* stream, const char* shard_id,
                    const char* owner, const kinesis_checkpoint_t* position,
                    kinesis_ckpt_cb cb, void* arg);
  /** Mark the shard finished (read to its end) and free its lease. */
  int (*finish)(void* self, const char* stream, const char* shard_id,
                const char* owner, kinesis_ckpt_cb cb, void* arg);
  /** Free `owner`'s lease, keeping the checkpoint. */
  int (*release)(void* self, const char* stream, const char* shard_id,
                 const char* owner, kinesis_ckpt_cb cb, void* arg);
  /** Read a shard's checkpoint without claiming it (to see whether a parent
   * shard is finished). */
  int (*get)(void* self, const char* stream, const char* shard_id,
             kinesis_ckpt_state_cb cb, void* arg);
  /** Close: returns 0, then pending callbacks run (KINESIS_ECANCELED where
   * not done), then `cb(status, arg)`, once, on a later tick, never inside
   * the call; `status` is 0 or the store's close error. Or returns an error
   * and never calls `cb`: KINESIS_EALREADY when a close has begun. After
   * `cb` returns, nothing may use `self`. kinesis_checkpointer_close() calls
   * it. */
  int (*close)(void* self, kinesis_ckpt_cb cb, void* arg);
  /** Optional; NULL when the store cannot count consumers, and then each
   * consumer takes every shard it can, up to max_shard_consumers. Records
   * that `owner` is alive on the stream (a membership that expires like a
   * lease, after session_timeout without a call), or with `leaving` set that
   * it has gone, and answers how many owners are live. Consumers call it
   * with their heartbeat and share the readable shards between that many
   * (docs/consumer.md, "A fleet of consumers"). */
  int (*member)(void* self, const char* stream, const char* owner,
                int leaving, kinesis_ckpt_members_cb cb, void* arg);
  /** Optional; NULL when the store cannot read many shards at once, and
   * then the consumer learns owners by claiming, as before. Reads the lease
   * state of the `n` shards of `shard_ids` (repeats allowed) in one call,
   * changing nothing, and answers once, on a later tick, with one entry per
   * asked shard in the order asked (see kinesis_ckpt_leases_cb). A lease is
   * live, and its owner reported, under the same rule as claim's: while
   * not expired by the store's clock. The entries need not be one snapshot
   * of the store: a store may read them in parts. `n` 0 is allowed (and
   * answered with no entries), and then `shard_ids` may be NULL. Returns
   * KINESIS_EINVAL for a NULL `self`, `stream` or `cb`, a NULL `shard_ids`
   * with `n` above 0, or a NULL or empty id among them; KINESIS_ENOMEM;
   * KINESIS_ECLOSING. The ids are borrowed for the duration of the call. */
  int (*leases)(void* self, const char* stream, const char* const* shard_ids,
                size_t n, kinesis_ckpt_leases_cb cb, void* arg);
} kinesis_checkpointer_ops_t;

/** A checkpointer: the operations and their object. For your own, fill both
 *  (and zero the rest: the struct may grow at its end) and keep the struct
 *  alive until the consumers using it are closed, and until its close op's
 *  callback has returned. */
typedef struct kinesis_checkpointer_s {
  const kinesis_checkpointer_ops_t* ops; /**< the operations */
  void* self; /**< passed to each operation as `self` */
  /** How long a lease lives without a heartbeat, or 0 when unknown. With
   * it, a consumer that cannot confirm a lease for this long (the store is
   * unreachable, or the process was stalled) stops reading that shard by
   * itself, before another consumer may take it over; with 0 it stops only
   * when an answer says the lease is lost. The checkpointers here set it. */
  uint32_t session_timeout_ms;
  /** The user slot, like kinesis_producer_set_data()'s: NULL in the
   * checkpointers made here until you set it. The library never reads it,
   * except to pass it to kinesis_checkpointer_close()'s callback. Since
   * 0.9. */
  void* data;
} kinesis_checkpointer_t;

/* ---- The memory checkpointer ---- */

/** The options of kinesis_checkpointer_memory_new(); see
 *  kinesis_checkpointer_memory_options_init(). A 0 in a number is
 *  KINESIS_EINVAL unless the field's comment gives 0 a meaning. */
typedef struct kinesis_checkpointer_memory_options_s {
  /** Set by kinesis_checkpointer_memory_options_init(): the size of this
   * struct in the header the application was built against
   * (docs/reference.md). */
  size_t size;
  /** Default 10000. A lease not heartbeaten for this long may be claimed by
   * another owner. 0 is KINESIS_EINVAL. */
  uint32_t session_timeout_ms;
} kinesis_checkpointer_memory_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md).
 */
#define kinesis_checkpointer_memory_options_init(options)                     \
  kinesis_checkpointer_memory_options_init_sized(                             \
      (options), sizeof(kinesis_checkpointer_memory_options_t))

/**
 * What kinesis_checkpointer_memory_options_init() calls: writes the defaults
 * into the first `size` bytes of `options`, zeroes any bytes past the
 * library's own struct, and sets `options->size` to `size`. Does nothing
 * when `options` is NULL or `size` is below sizeof(size_t).
 */
KINESIS_EXTERN void kinesis_checkpointer_memory_options_init_sized(
    kinesis_checkpointer_memory_options_t* options, size_t size);

/**
 * A checkpointer that keeps everything in this process's memory, on the
 * loop of `client`, measuring leases by the loop's clock. It is meant for
 * tests, for one process that may restart its consumer, and as a model for
 * your own. Consumers of the same client may share it; leases then work
 * between them as with a shared store, and member counts them, per stream,
 * on the same clock. The client refuses to close (KINESIS_EBUSY) until the
 * checkpointer has closed, and a consumer of another client refuses it
 * (KINESIS_EINVAL).
 *
 * `options` NULL means every default (no field is required). Only the
 * fields inside `options->size` are read; the others take their defaults.
 *
 * Returns 0; KINESIS_EINVAL (NULL `client` or `out`, an `options->size` of
 * 0 (options not set by kinesis_checkpointer_memory_options_init()), or a
 * session_timeout_ms of 0); KINESIS_EUNSUPPORTED (`options` is longer than
 * this library's struct, from a newer header, and sets a field past it);
 * KINESIS_ECLOSING (the client is closing); or KINESIS_ENOMEM. On error
 * `*out` is untouched.
 */
KINESIS_EXTERN int kinesis_checkpointer_memory_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_memory_options_t* options,
    kinesis_checkpointer_t** out);

/* ---- The Redis checkpointer ---- */

/** The options of kinesis_checkpointer_redis_new(); see
 *  kinesis_checkpointer_redis_options_init(). A 0 in a number is
 *  KINESIS_EINVAL unless the field's comment gives 0 a meaning. */
typedef struct kinesis_checkpointer_redis_options_s {
  /** Set by kinesis_checkpointer_redis_options_init(): the size of this
   * struct in the header the application was built against
   * (docs/reference.md). */
  size_t size;
  /** Required. Copied. redis://[[user]:password@]host[:port][/db]: port
   * 6379 by default, an IPv6 address in brackets, user and password
   * percent-decoded. With a user and a password the checkpointer sends
   * AUTH user password, with only a password (":password@") AUTH password;
   * with /db, SELECT db. Prefer an address to a host name: hiredis resolves
   * names blocking the loop, and tries only the first address. */
  const char* url;
  /** Required. Copied. The application: consumers with the same app_name
   * share a stream's shards, and keys are namespaced by it and the stream.
   * Non-empty, without ':', '{' or '}'. */
  const char* app_name;
  /** Default 10000. A lease (or membership) not renewed for this long may be
   * claimed by another owner (no longer counts). Measured on the Redis
   * server's clock. 0 is KINESIS_EINVAL. */
  uint32_t session_timeout_ms;
  /** Default 2000. Longest time to connect and authenticate; 0 is
   * KINESIS_EINVAL. */
  uint32_t connect_timeout_ms;
  /** Default 100 and 5000. After a failed attempt or a lost connection the
   * checkpointer connects again after a wait that doubles from the first to
   * the second, with jitter, until it is closed. 0 is KINESIS_EINVAL, and
   * so is a reconnect_max_ms below reconnect_min_ms. */
  uint32_t reconnect_min_ms;
  uint32_t reconnect_max_ms; /**< See reconnect_min_ms. */
} kinesis_checkpointer_redis_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md).
 */
#define kinesis_checkpointer_redis_options_init(options)                      \
  kinesis_checkpointer_redis_options_init_sized(                              \
      (options), sizeof(kinesis_checkpointer_redis_options_t))

/**
 * What kinesis_checkpointer_redis_options_init() calls: writes the defaults
 * into the first `size` bytes of `options`, zeroes any bytes past the
 * library's own struct, and sets `options->size` to `size`. Does nothing
 * when `options` is NULL or `size` is below sizeof(size_t).
 */
KINESIS_EXTERN void kinesis_checkpointer_redis_options_init_sized(
    kinesis_checkpointer_redis_options_t* options, size_t size);

/**
 * A checkpointer that keeps leases, checkpoints and memberships in Redis
 * (5.0 or later), so that consumers in several processes and machines share
 * a stream's shards. It implements every operation of the table, member
 * and leases included, each as one Lua script that reads the server's clock
 * and checks the owner in the same step (leases runs its script once per
 * 1,000 shards); docs/checkpointers.md documents the keys and scripts for
 * other implementations.
 *
 * It connects on the loop of `client` at once, without waiting: this call
 * succeeds even when Redis is down. Operations called while a connection
 * attempt is under way wait for it (at most connect_timeout_ms); between
 * attempts, and when the connection fails under them, they are answered
 * with KINESIS_ESTORE (retriable), on a later tick like every answer, as is
 * a Redis error reply.
 * Answers come in the order of the calls. The connection keeps the loop
 * alive until kinesis_checkpointer_close(), which answers operations still
 * waiting for Redis with KINESIS_ECANCELED (some may have been applied);
 * the close's status is 0, even when the connection was down. The client
 * refuses to close (KINESIS_EBUSY) until the checkpointer has closed, and a
 * consumer of another client refuses it (KINESIS_EINVAL).
 *
 * `options` NULL is KINESIS_EINVAL (`url` and `app_name` are required).
 * Only the fields inside `options->size` are read; the others take their
 * defaults.
 *
 * Returns 0; KINESIS_EINVAL (NULL `client`, `out` or `options`, an
 * `options->size` of 0 (options not set by
 * kinesis_checkpointer_redis_options_init()), a missing or malformed url, a
 * bad app_name, a session_timeout_ms, connect_timeout_ms or
 * reconnect_min_ms of 0, reconnect_max_ms below reconnect_min_ms);
 * KINESIS_EUNSUPPORTED (`options` is longer than this library's struct,
 * from a newer header, and sets a field past it; or the library was built
 * without hiredis); KINESIS_ECLOSING (the client is closing); or
 * KINESIS_ENOMEM. On error `*out` is untouched.
 */
KINESIS_EXTERN int kinesis_checkpointer_redis_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_redis_options_t* options,
    kinesis_checkpointer_t** out);

/* ---- The DynamoDB checkpointer ---- */

/** The options of kinesis_checkpointer_dynamodb_new(); see
 *  kinesis_checkpointer_dynamodb_options_init(). A 0 in a number is
 *  KINESIS_EINVAL unless the field's comment gives 0 a meaning. Since
 *  0.9. */
typedef struct kinesis_checkpointer_dynamodb_options_s {
  /** Set by kinesis_checkpointer_dynamodb_options_init(): the size of this
   * struct in the header the application was built against
   * (docs/reference.md). */
  size_t size;
  /** Required. Copied. The lease table: one application reading one
   * stream, as with the KCL (whose table it can be: its application name).
   * 3 to 255 letters, digits, '_', '-' and '.'. */
  const char* table;
  /** Default NULL. Copied. The DynamoDB endpoint, http(s)://host[:port][/]
   * (a local DynamoDB, say); NULL takes AWS_ENDPOINT_URL_DYNAMODB, else
   * AWS_ENDPOINT_URL, else the DynamoDB endpoint of the client's region. */
  const char* endpoint_url;
  /** Default 10000. A lease whose leaseCounter this checkpointer has seen
   * unchanged for this long may be claimed by another owner (and no longer
   * counts in member and leases). Measured on the loop's clock. 0 is
   * KINESIS_EINVAL. */
  uint32_t session_timeout_ms;
  /** Default 1: a missing table is created (on-demand billing, hash key
   * leaseKey) before the first operation is sent. 0: a missing table is an
   * error (KINESIS_ENOTFOUND) of the operations. */
  int create_table;
} kinesis_checkpointer_dynamodb_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, so that the size is that of the struct in the
 * header the application was built against: a newer library writes only
 * that many bytes (docs/reference.md). Since 0.9.
 */
#define kinesis_checkpointer_dynamodb_options_init(options)                   \
  kinesis_checkpointer_dynamodb_options_init_sized(                           \
      (options), sizeof(kinesis_checkpointer_dynamodb_options_t))

/**
 * What kinesis_checkpointer_dynamodb_options_init() calls: writes the
 * defaults into the first `size` bytes of `options`, zeroes any bytes past
 * the library's own struct, and sets `options->size` to `size`. Does
 * nothing when `options` is NULL or `size` is below sizeof(size_t). Since
 * 0.9.
 */
KINESIS_EXTERN void kinesis_checkpointer_dynamodb_options_init_sized(
    kinesis_checkpointer_dynamodb_options_t* options, size_t size);

/**
 * A checkpointer that keeps leases and checkpoints in a DynamoDB table in
 * the schema of the KCL 2.x (one row per shard, hash key leaseKey the
 * shard id), so that consumers in several processes share a stream's
 * shards, and an application can move from the KCL to libkinesis on its
 * own lease table. It calls DynamoDB through `client` (its credentials,
 * region, retries and HTTP connections), on its loop. docs/checkpointers.md
 * lists the attributes and how each is read and written.
 *
 * Every claim, heartbeat, checkpoint, finish and release is a write
 * conditional on the leaseCounter this checkpointer last saw (and on the
 * owner), which it increments, as the KCL's are: a failed condition is
 * KINESIS_ELEASED for claim and KINESIS_ELEASELOST for the others. DynamoDB
 * has no clock to read, so a lease of another owner expires, as in the
 * KCL, once this checkpointer has seen its leaseCounter unchanged for
 * session_timeout_ms; one it has never seen is live. The table holds one
 * stream: the `stream` argument of the operations is checked but is not
 * part of any key. member counts the owners of live leases, the owners
 * that called member on this checkpointer within the session timeout, and
 * the caller unless it is leaving; an owner in another process counts
 * only once it holds a lease.
 *
 * Nothing is sent until the first operation, which first makes sure of the
 * table (DescribeTable; with create_table, CreateTable if missing, then
 * waiting until it is ACTIVE); operations called meanwhile wait. When that
 * fails, the operations waiting are answered with the error (logged
 * through the client with DynamoDB's message) and the next operation tries
 * again. Operations on different shards run at once; those on one shard,
 * and member and leases (each a consistent Scan of the table) relative to
 * all others, run in the order of the calls, and every answer comes in the
 * order of the calls. An operation answered with a transport or service
 * error may or may not have been written. kinesis_checkpointer_close()
 * answers the operations not answered yet with KINESIS_ECANCELED (some may
 * have been written); its status is 0. The client refuses to close
 * (KINESIS_EBUSY) until the checkpointer has closed, and a consumer of
 * another client refuses it (KINESIS_EINVAL).
 *
 * `options` NULL is KINESIS_EINVAL (`table` is required). Only the fields
 * inside `options->size` are read; the others take their defaults.
 *
 * Returns 0; KINESIS_EINVAL (NULL `client`, `out` or `options`, an
 * `options->size` of 0 (options not set by
 * kinesis_checkpointer_dynamodb_options_init()), a missing or malformed
 * table name or endpoint_url, a session_timeout_ms of 0);
 * KINESIS_ENOREGION (no endpoint_url, no endpoint variable and a client
 * without a region); KINESIS_EUNSUPPORTED (`options` is longer than this
 * library's struct, from a newer header, and sets a field past it);
 * KINESIS_ECLOSING (the client is closing); or KINESIS_ENOMEM. On error
 * `*out` is untouched. Since 0.9.
 */
KINESIS_EXTERN int kinesis_checkpointer_dynamodb_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_dynamodb_options_t* options,
    kinesis_checkpointer_t** out);

/**
 * Closes a checkpointer, of your own or of the kinesis_checkpointer_*_new()
 * functions, through its ops->close: operations still outstanding are
 * answered first (with KINESIS_ECANCELED where not done), then `cb` (may be
 * NULL) runs once, on a later tick, never inside this call, with the
 * checkpointer's `data` member, the status and `user_data`; then (for
 * those made here, after `cb` returns) the checkpointer is freed. The
 * status is 0 for the memory, Redis and DynamoDB checkpointers (the Redis
 * one: even when the connection was down; the operations answered with
 * KINESIS_ECANCELED say the rest), and whatever ops->close answers for
 * yours. Close the consumers that use it first. It may be called from
 * inside the checkpointer's own callbacks. Returns 0; KINESIS_EINVAL for a
 * NULL `cp`, or a table that lacks an operation from claim to close (those
 * past its `size` count as absent, as for kinesis_consumer_new());
 * KINESIS_EUNSUPPORTED for a table longer than this library's that sets an
 * operation it does not know; KINESIS_ENOMEM (only for one of yours: the
 * call keeps `cb` in a small allocation); or the error of
 * ops->close, such as KINESIS_EALREADY when a close has begun; on error
 * `cb` never runs.
 */
KINESIS_EXTERN int kinesis_checkpointer_close(kinesis_checkpointer_t* cp,
                                              kinesis_close_cb cb,
                                              void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_CHECKPOINT_H */
