#ifndef KINESIS_TESTING_H
#define KINESIS_TESTING_H

/**
 * \file
 * A fake Kinesis service to test against: an HTTP server on your loop that
 * answers the Kinesis JSON API from memory (streams, shards, records,
 * iterators), for a client's `endpoint_url`. It lives in its own library,
 * libkinesis-testing (pkg-config `kinesis-testing`), built when meson finds
 * libh2o (`-Dserve`); `kinesis serve` runs one as a process. It follows the
 * rules of docs/reference.md, as every object does. Since 0.9.
 *
 * It speaks HTTP/1.1 with keep-alive, and HTTP/2 over cleartext (with
 * prior knowledge, as the AWS SDK for JavaScript's Kinesis client does, or
 * after an h2c upgrade), without TLS. It checks signatures
 * only when given keys (`keys`): without them any credentials do; with
 * them each request must carry a valid SigV4 signature (AWS4-HMAC-SHA256,
 * service `kinesis`, the service's region) made with one of those keys and
 * an `X-Amz-Date` within 5 minutes of the service's clock, and is refused
 * as the service refuses it otherwise. Only `POST /` with an `X-Amz-Target`
 * header and a Content-Type of `application/x-amz-json-1.1` (or
 * `application/json`) reaches the operations; other requests are refused
 * with a 4xx and a JSON error, and bodies over 10 MiB with 413. Each answer
 * carries `x-amzn-RequestId`, and each error `x-amzn-ErrorType`.
 * SubscribeToShard answers 200 with an event stream
 * (`application/vnd.amazon.eventstream`) for as long as the subscription
 * lasts (docs/testing.md says what it sends). A client that goes away in
 * the middle of it may make a write fail with EPIPE: the service blocks
 * SIGPIPE around its own writes of a stream, but an application that
 * serves many such clients does well to ignore SIGPIPE, as servers do.
 *
 * Kinesis's throughput limits hold per shard, by the service's clock (see
 * kinesis_serve_advance_clock()), each on by default and each switched off
 * by its bit of `limits_off` (KINESIS_SERVE_LIMIT_*):
 *
 * - writes (KINESIS_SERVE_LIMIT_WRITES): 1,000 records and 1 MiB (data and
 *   partition key) a second. PutRecord over them answers 400
 *   ProvisionedThroughputExceededException ("Rate exceeded for shard
 *   shardId-000000000000 in stream NAME under account ACCOUNT."); in
 *   PutRecords, the entries over them fail one by one inside the 200
 *   answer, with that ErrorCode and ErrorMessage, counted in
 *   FailedRecordCount, while the others are stored, in order.
 * - reads (KINESIS_SERVE_LIMIT_READS): 5 GetRecords calls and 2 MiB a
 *   second. A call is let in while the shard has calls and bytes left, and
 *   what it returns (up to 10 MiB) is then taken; an answer larger than
 *   what the shard had left is owed whole, so the shard's calls are then
 *   throttled (400 ProvisionedThroughputExceededException) for its bytes at
 *   2 MiB/s: 1 s after 2 MiB, 5 s after 10 MiB, as AWS documents.
 * - iterators (KINESIS_SERVE_LIMIT_ITERATORS): 5 GetShardIterator calls a
 *   second.
 *
 * Each limit is a bucket that holds one second of its rate and refills by
 * the millisecond: a client that never asks for more than the rate in any
 * second is never throttled, a burst past one second's worth is throttled
 * at once, and with the clock moved a second on, the shard has its whole
 * second again. A throttled call takes nothing. `kinesis serve
 * --no-limits` turns every limit off. Iterators expire after 5 minutes
 * and records after the stream's retention period, by the same clock;
 * those are always on.
 *
 * The shared libkinesis-testing carries its own copy of the library's
 * internals, so kinesis_replace_allocator() does not reach
 * the service there: it allocates with malloc(). (Linked statically, it
 * shares libkinesis.a's.)
 *
 * A client that goes away while an answer is being written makes the write
 * raise SIGPIPE, as with any libuv server: a test program ignores it
 * (`signal(SIGPIPE, SIG_IGN)`).
 */

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "kinesis/client.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A fake Kinesis service listening on a loop. Since 0.9. */
typedef struct kinesis_serve_s kinesis_serve_t;

/** \name The throughput limits, for kinesis_serve_options_t.limits_off
 * (see the top of this file). Since 0.9.
 * @{ */
/** PutRecord and PutRecords: 1,000 records and 1 MiB a second per shard. */
#define KINESIS_SERVE_LIMIT_WRITES 1u
/** GetRecords: 5 calls and 2 MiB a second per shard. */
#define KINESIS_SERVE_LIMIT_READS 2u
/** GetShardIterator: 5 calls a second per shard. */
#define KINESIS_SERVE_LIMIT_ITERATORS 4u
/** Every limit above. */
#define KINESIS_SERVE_LIMITS_ALL 7u
/** @} */

/**
 * Faults the service injects, for kinesis_serve_options_t's `faults` and
 * kinesis_serve_set_faults(); see kinesis_serve_faults_init(). Every field
 * is 0 by default: no fault. A fraction is a probability from 0 to 1,
 * drawn for each request (or PutRecords entry) from a small pseudo-random
 * generator seeded with `seed`: the same faults, seed and requests in the
 * same order give the same decisions. Faults apply to the Kinesis
 * operations, never to the admin request (LibkinesisServe.SetFaults, see
 * kinesis_serve_set_faults()) nor to the 4xx the front gives before a
 * request reaches them. For one request they are drawn in this order:
 * drop_before, throttle, error_5xx, then the operation runs (partial, for
 * each PutRecords entry), then drop_after; latency delays whatever comes
 * out, a drop included. Since 0.9.
 */
typedef struct kinesis_serve_faults_s {
  /** Set by kinesis_serve_faults_init(): the size of this struct in the
   * header the application was built against. */
  size_t size;
  /** The fraction of data-plane requests (PutRecord, PutRecords,
   * GetRecords, GetShardIterator) answered 400
   * ProvisionedThroughputExceededException, unapplied. */
  double throttle;
  /** The fraction of requests answered 500 InternalFailure or 503
   * ServiceUnavailable (one or the other, even odds), unapplied. */
  double error_5xx;
  /** The fraction of PutRecords entries failed one by one inside a 200
   * answer, with ErrorCode ProvisionedThroughputExceededException or
   * InternalFailure (even odds); FailedRecordCount counts them and they are
   * not stored. PutRecord is not concerned. */
  double partial;
  /** The fraction of requests whose connection is closed without an
   * answer before the request is applied: nothing is stored. */
  double drop_before;
  /** The fraction of requests whose connection is closed without an
   * answer after the request was applied: the client sees a lost
   * connection, yet the records are stored (and a retry stores them
   * again: at least once). */
  double drop_after;
  /** Every answer (and drop) comes this many ms after the request, from a
   * timer; the connection stays open meanwhile and keeps its keep-alive. */
  uint32_t latency_ms;
  /** The generator's seed; 0: a fixed default. Used again from the start
   * by every kinesis_serve_set_faults(). */
  uint64_t seed;
} kinesis_serve_faults_t;

/**
 * Writes the defaults (no fault) into `faults` and sets its `size`; does
 * nothing when `faults` is NULL. Since 0.9.
 */
#define kinesis_serve_faults_init(faults)                                     \
  kinesis_serve_faults_init_sized((faults), sizeof(kinesis_serve_faults_t))

/**
 * What kinesis_serve_faults_init() calls, as
 * kinesis_serve_options_init_sized() does for the options. Since 0.9.
 */
KINESIS_EXTERN void kinesis_serve_faults_init_sized(
    kinesis_serve_faults_t* faults, size_t size);

/** The options of kinesis_serve_new(); see kinesis_serve_options_init().
 *  Since 0.9. */
typedef struct kinesis_serve_options_s {
  /** Set by kinesis_serve_options_init(): the size of this struct in the
   * header the application was built against (docs/reference.md). */
  size_t size;
  /** Default NULL: "127.0.0.1". The address to listen on: an IPv4 or IPv6
   * address (not a host name). Copied. */
  const char* host;
  /** Default 0: a free port, chosen by the system (kinesis_serve_port()
   * says which). */
  uint16_t port;
  /** Default NULL: "us-east-1". The region in the streams' ARNs. Copied. */
  const char* region;
  /** Default NULL: "000000000000". The account in the streams' ARNs.
   * Copied. */
  const char* account_id;
  /** Default 0: at once. How long a created, deleted or resharded stream
   * stays CREATING, DELETING or UPDATING, in ms of the service's clock. */
  uint32_t transition_ms;
  /** Default NULL: signatures are not checked. A NULL-terminated list of
   * "ACCESS_KEY_ID:SECRET_ACCESS_KEY" strings: each request must then be
   * signed (SigV4) with one of these keys, for `region`, at a time within 5
   * minutes of the service's clock (kinesis_serve_advance_clock() moves
   * it); a session token (`X-Amz-Security-Token`) is accepted, whatever it
   * is. A request that is not is answered with a 400 and the service's
   * error: MissingAuthenticationTokenException (no `Authorization`),
   * IncompleteSignatureException (a malformed one, or no `X-Amz-Date`),
   * UnrecognizedClientException (another access key), or
   * InvalidSignatureException (a wrong signature, an expired or future
   * date, another region or service). An empty list refuses every request.
   * Copied. Since 0.9. */
  const char* const* keys;
  /** Default NULL: no fault. The faults to start with (copied), as
   * kinesis_serve_set_faults() takes them. */
  const kinesis_serve_faults_t* faults;
  /** Default 0: every throughput limit on. The limits to switch off, as
   * KINESIS_SERVE_LIMIT_* bits or'ed together (KINESIS_SERVE_LIMITS_ALL:
   * none is enforced). A bit that names no limit is KINESIS_EINVAL.
   * Since 0.9. */
  unsigned int limits_off;
} kinesis_serve_options_t;

/**
 * Writes the defaults into `options` and sets its `size`; does nothing when
 * `options` is NULL. A macro, as kinesis_client_options_init() is. Since
 * 0.9.
 */
#define kinesis_serve_options_init(options)                                   \
  kinesis_serve_options_init_sized((options), sizeof(kinesis_serve_options_t))

/**
 * What kinesis_serve_options_init() calls: writes the defaults into the
 * first `size` bytes of `options`, zeroes any bytes past the library's own
 * struct, and sets `options->size` to `size`. Does nothing when `options` is
 * NULL or `size` is below sizeof(size_t). Since 0.9.
 */
KINESIS_EXTERN void kinesis_serve_options_init_sized(
    kinesis_serve_options_t* options, size_t size);

/**
 * Creates a service with no streams on `loop`, listening when the call
 * returns: a client may use kinesis_serve_url() at once. Its requests are
 * answered on the loop, so the loop must run for them to be.
 *
 * `options` NULL means every default (no field is required).
 *
 * Returns 0 and sets `*out`; KINESIS_EINVAL (a NULL `loop` or `out`, an
 * `options->size` of 0, a `limits_off` bit that names no limit, a `keys`
 * entry without ':', with an empty key id or secret, or a key id holding a
 * space, '/', ',' or '=', a `host` that is empty or not an IP address, or
 * an address the system will not listen on: not one of this machine's,
 * or a privileged port; `faults` that kinesis_serve_set_faults() refuses);
 * KINESIS_EBUSY (the port is already in use);
 * KINESIS_EUNSUPPORTED (`options` is longer than this library's struct and
 * sets a field past it); KINESIS_ENOMEM; or, rarely, another libuv error
 * from creating the socket (such as UV_EMFILE: no descriptor left), which
 * kinesis_strerror() describes. On failure `*out` is untouched and nothing
 * is left on the loop. Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_new(uv_loop_t* loop,
                                     const kinesis_serve_options_t* options,
                                     kinesis_serve_t** out);

/**
 * The service's base URL, "http://HOST:PORT" (IPv6 hosts in brackets), for
 * a client's `endpoint_url`; NULL for a NULL `serve`. Owned by the service,
 * valid until it is freed. Since 0.9.
 */
KINESIS_EXTERN const char* kinesis_serve_url(const kinesis_serve_t* serve);

/**
 * The port the service listens on (1 to 65535), or KINESIS_EINVAL for a
 * NULL `serve`. Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_port(const kinesis_serve_t* serve);

/**
 * Moves the service's clock `ms` milliseconds forward. The clock is the
 * wall clock plus every advance so far: a test ages shard iterators (they
 * expire after 5 minutes), records (past the retention period) and
 * transitions (transition_ms) without waiting, and gives the shards'
 * throughput limits back (a second: all of it). The clock never goes back.
 * Returns 0, KINESIS_EINVAL (a NULL `serve`, or an advance that would take
 * the clock past the year 292 million) or KINESIS_ECLOSING. Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_advance_clock(kinesis_serve_t* serve,
                                               uint64_t ms);

/**
 * Replaces the service's faults with `faults` (copied; NULL: no fault),
 * for the requests that arrive from now on, and seeds the generator again
 * with its `seed`. Returns 0; KINESIS_EINVAL (a NULL `serve`, a `faults`
 * whose size is 0, a fraction outside [0, 1] or not a number);
 * KINESIS_EUNSUPPORTED (`faults` is longer than this library's struct and
 * sets a field past it); or KINESIS_ECLOSING.
 *
 * Another process changes them with an admin request: `POST /` with
 * `X-Amz-Target: LibkinesisServe.SetFaults`, the usual Content-Type, and
 * a JSON object of the same members, each optional, absent meaning 0:
 * `throttle`, `error_5xx`, `partial`, `drop_before`, `drop_after`
 * (numbers from 0 to 1), `latency_ms` (an integer from 0 to 4294967295)
 * and `seed` (an integer from 0 up). It is answered 200 `{}`; a bad body
 * 400 SerializationException (not an object, a member of the wrong type)
 * or ValidationException (a value out of range, an unknown member), and
 * then nothing changes. `{}` clears every fault.
 *
 * Scheduled reshards are set apart, by kinesis_serve_schedule_reshard().
 * Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_set_faults(
    kinesis_serve_t* serve, const kinesis_serve_faults_t* faults);

/**
 * Schedules a reshard of stream `stream`, so that a test sees a stream
 * resharded under its producer and consumer without calling SplitShard
 * itself: `after_ms` milliseconds from now on the service's clock
 * (kinesis_serve_advance_clock() moves it, so a test need not wait), the
 * stream is scaled to `target_shards` open shards as UpdateShardCount with
 * UNIFORM_SCALING would scale it, and then, when `every_ms` is not 0,
 * again every `every_ms` after that, alternately back to the open shard
 * count the stream had just before the schedule's first reshard and to
 * `target_shards` again (a soak test's stream goes up and down forever).
 * The stream need not exist yet. Since 0.9.
 *
 * The service has no timer of its own: a reshard happens when the first
 * request at or after its time arrives, before that request is answered
 * (so a client never sees the stream as it was after the time has come).
 * It follows UpdateShardCount's rules: parents closed with their
 * EndingSequenceNumber and listed until the retention period has passed,
 * children naming them (ParentShardId, AdjacentParentShardId) and covering
 * every hash key, GetRecords answering ChildShards at a parent's end, and
 * the stream UPDATING for `transition_ms`. A stream still CREATING or
 * UPDATING at the time is waited for: its reshard applies at the first
 * request that finds it ACTIVE. A time at which the stream does not exist
 * (or is DELETING), or at which the count is not within half and double
 * the stream's open shards (UpdateShardCount's LimitExceededException), is
 * skipped, quietly: no request fails for it. A schedule without a period is
 * then gone; a repeating one goes on, trying the same count at its next
 * time. When the clock jumps past several times at once, they make one
 * reshard, not several. Several schedules due at once apply in the order
 * they were made.
 *
 * Returns 0; KINESIS_EINVAL (a NULL `serve` or `stream`, a name that is not
 * 1 to 128 of [a-zA-Z0-9_.-], `target_shards` 0 or over 10,000 (the
 * service's guard on a stream's open shards), `every_ms` over INT64_MAX,
 * or a time past the year 292 million); KINESIS_ECLOSING; or
 * KINESIS_ENOMEM.
 *
 * Another process schedules one with an admin request, as it sets the
 * faults: `POST /`, `X-Amz-Target: LibkinesisServe.ScheduleReshard`, and
 * a JSON object `{"StreamName": NAME, "TargetShardCount": N, "AfterMs":
 * MS, "EveryMs": MS}` (AfterMs and EveryMs optional, 0 when absent;
 * AfterMs counted from the request's arrival on the service's clock). It
 * is answered 200 `{}`; a bad body 400 SerializationException (not an
 * object, a member of the wrong type) or ValidationException (a missing
 * StreamName or TargetShardCount, a bad name, a value out of range, an
 * unknown member), and then nothing is scheduled. Like SetFaults, it needs
 * no signature and meets no fault.
 */
KINESIS_EXTERN int kinesis_serve_schedule_reshard(kinesis_serve_t* serve,
                                                  const char* stream,
                                                  uint64_t after_ms,
                                                  uint32_t target_shards,
                                                  uint64_t every_ms);

/**
 * Cancels every scheduled reshard of `stream`, or of every stream when
 * `stream` is NULL; a reshard already made stays. Returns 0 (also when
 * there was none), KINESIS_EINVAL (a NULL `serve`, a bad name) or
 * KINESIS_ECLOSING. The admin request `LibkinesisServe.CancelReshards`
 * with `{"StreamName": NAME}` (or `{}`: every stream) does the same for
 * another process, answered 200 `{}`. Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_cancel_reshards(kinesis_serve_t* serve,
                                                 const char* stream);

/**
 * Stops listening, closes every connection (a request not yet received
 * whole is dropped; every one received was answered, or dropped by a
 * fault: one still waiting out its latency is answered at once), frees the
 * service and its streams, then calls `cb` (may be NULL) with the
 * service's user slot and status 0, on a later tick, never inside this
 * call. Once `cb` has run the loop holds nothing of the service's.
 * Returns 0, KINESIS_EINVAL (NULL `serve`) or KINESIS_EALREADY when a close
 * has begun (this `cb` then never runs). Since 0.9.
 */
KINESIS_EXTERN int kinesis_serve_close(kinesis_serve_t* serve,
                                       kinesis_close_cb cb, void* user_data);

/** Sets the service's user slot, `data`, which the library never reads.
 *  Since 0.9. */
KINESIS_EXTERN void kinesis_serve_set_data(kinesis_serve_t* serve,
                                           void* data);
/** The service's user slot: NULL, or what kinesis_serve_set_data() set.
 *  Since 0.9. */
KINESIS_EXTERN void* kinesis_serve_get_data(const kinesis_serve_t* serve);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_TESTING_H */
