#ifndef KINESIS_STATS_H
#define KINESIS_STATS_H

/**
 * \file
 * The client's counters and request latencies by operation, and the
 * Prometheus text rendering of a client's, a producer's and a consumer's
 * statistics.
 */

#include <stddef.h>
#include <stdint.h>

#include "kinesis/client.h"
#include "kinesis/consumer.h"
#include "kinesis/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The number of finite bounds of the latency histogram; see
 *  kinesis_latency_bucket_ms(). */
#define KINESIS_LATENCY_BUCKETS 14

/**
 * The upper bound, in milliseconds, of latency bucket `i`: 1, 2.5, 5, 10,
 * 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 and 30000. Returns 0 when
 * `i` is KINESIS_LATENCY_BUCKETS or more.
 */
KINESIS_EXTERN double kinesis_latency_bucket_ms(size_t i);

/**
 * One API operation of a client, such as PutRecords or GetRecords. A call
 * is what the application (or a producer or consumer) asked for; a request
 * is one HTTP attempt of it, and a call that is retried makes several.
 */
typedef struct kinesis_operation_stats_s {
  const char* operation;       /**< the API action: "PutRecords", ... */
  uint64_t calls;              /**< calls finished: their callback ran */
  uint64_t call_failures;      /**< calls finished with an error */
  uint64_t requests;           /**< requests that ended, with an answer
                                    or without (canceled ones excluded) */
  uint64_t retries;            /**< requests sent again after a failure */
  uint64_t throttled;          /**< requests answered with throttling
                                    (KINESIS_ETHROUGHPUT, KINESIS_ELIMIT) */
  uint64_t server_errors;      /**< requests answered with an HTTP 5xx */
  uint64_t transport_errors;   /**< requests that got no answer: connect
                                    failures, timeouts, cut connections */
  uint64_t in_flight;          /**< requests sent and not yet ended */
  /** Requests that ended in the recent window, the last 30 to 60 seconds,
   *  over which the percentiles below are taken. */
  uint64_t recent_requests;
  double latency_p50_ms;       /**< recent median, send to end */
  double latency_p90_ms;       /**< recent 90th percentile */
  double latency_p99_ms;       /**< recent 99th percentile */
  double latency_max_ms;       /**< recent longest */
  /** Requests measured since the client was created. */
  uint64_t latency_count;
  double latency_sum_ms;       /**< their total time */
  /** latency_buckets[i]: how many of them took at most
   *  kinesis_latency_bucket_ms(i) (cumulative, as Prometheus wants). */
  uint64_t latency_buckets[KINESIS_LATENCY_BUCKETS];
} kinesis_operation_stats_t;

/** A client's statistics: counters since it was created, gauges now. */
typedef struct kinesis_client_stats_s {
  uint64_t calls_open;         /**< calls started and not finished, those
                                    waiting to retry included */
  uint64_t in_flight;          /**< requests in flight, all operations */
  size_t noperations;          /**< entries in `operations` */
  /** The operations used so far, in a fixed order; valid until the next
   *  kinesis_client_stats() or the client's close. */
  const kinesis_operation_stats_t* operations;
} kinesis_client_stats_t;

/**
 * Fills `stats` with the client's statistics. Latencies are measured from
 * the moment a request is handed to the HTTP engine to its end, with about
 * 6% precision. Returns 0, or KINESIS_EINVAL when an argument is NULL.
 */
KINESIS_EXTERN int kinesis_client_stats(const kinesis_client_t* client,
                                        kinesis_client_stats_t* stats);

/** What kinesis_stats_format_prometheus() renders; any part may be NULL. */
typedef struct kinesis_stats_s {
  const kinesis_client_stats_t* client;      /**< or NULL */
  const kinesis_producer_stats_t* producer;  /**< or NULL */
  const kinesis_consumer_stats_t* consumer;  /**< or NULL */
  /** Labels added to every sample, in Prometheus syntax without braces,
   *  such as `stream="orders",app="billing"`; NULL or "" for none. */
  const char* labels;
  /** 0: each metric starts with its `# HELP` and `# TYPE` lines. 1: they
   *  are left out, so that a second rendering (another producer, with other
   *  labels) can be appended to a first without repeating them. */
  int omit_metadata;
} kinesis_stats_t;

/**
 * Renders `stats` in the Prometheus text exposition format (version 0.0.4)
 * into `buf`, like snprintf(): at most `size` bytes are written, always
 * NUL-terminated when `size` is not 0, and the return value is the length
 * of the whole text (without the NUL). When it is `size` or more, the text
 * was cut short: call again with a buffer one byte longer than that. `buf`
 * may be NULL when `size` is 0. Returns that length; KINESIS_EINVAL when
 * `stats` is NULL, `buf` is NULL with a non-zero `size`, or `labels` is
 * not a valid label list; or KINESIS_ENOMEM when the text would not fit in
 * an int.
 */
KINESIS_EXTERN int kinesis_stats_format_prometheus(const kinesis_stats_t* stats,
                                                   char* buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_STATS_H */
