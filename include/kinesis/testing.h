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
 * It speaks HTTP/1.1 with keep-alive, without TLS, and checks no
 * signature: any credentials do. Only `POST /` with an `X-Amz-Target`
 * header and a Content-Type of `application/x-amz-json-1.1` (or
 * `application/json`) reaches the operations; other requests are refused
 * with a 4xx and a JSON error, and bodies over 10 MiB with 413. Each answer
 * carries `x-amzn-RequestId`, and each error `x-amzn-ErrorType`.
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
 *   what it returns (up to 10 MiB) is then taken, so after a large answer
 *   the shard's calls are throttled (400
 *   ProvisionedThroughputExceededException) until it has paid the bytes
 *   back: 4 s after 10 MiB.
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
 * `options->size` of 0, a `limits_off` bit that names no limit, a `host`
 * that is empty or not an IP address, or
 * an address the system will not listen on: not one of this machine's,
 * or a privileged port); KINESIS_EBUSY (the port is already in use);
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
 * Stops listening, closes every connection (a request not yet received
 * whole is dropped; every one received was answered), frees the service and its streams, then calls `cb` (may be NULL)
 * with the service's user slot and status 0, on a later tick, never inside
 * this call. Once `cb` has run the loop holds nothing of the service's.
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
