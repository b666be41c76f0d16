#ifndef KN_STATS_H
#define KN_STATS_H

#include <stdint.h>

#include "kinesis/stats.h"

/*
 * Request latencies. A histogram of microseconds with 8 buckets per power
 * of two (log-linear, as HdrHistogram does it), so a percentile read from
 * it is within about 6% of the truth at any scale, in a fixed 1 KiB. Values
 * past 2^34 us (4.7 hours) land in the last bucket.
 */

#define KN_HIST_SUB_BITS 3
#define KN_HIST_BUCKETS 264

typedef struct kn_hist_s {
  uint32_t n[KN_HIST_BUCKETS];
  uint64_t count;
  uint64_t max_us;
} kn_hist_t;

/* One operation's counters, as published, and its latencies: two
 * histograms of KN_STATS_HALF_MS each, the current and the one before, so
 * the recent percentiles always cover the last 30 to 60 seconds. */
#define KN_STATS_HALF_MS 30000

typedef struct kn_op_stats_s {
  kinesis_operation_stats_t pub;
  uint64_t buckets[KINESIS_LATENCY_BUCKETS + 1];  /* not cumulative */
  kn_hist_t window[2];
  int cur;
  uint64_t rotated_at;
} kn_op_stats_t;

void kn_hist_add(kn_hist_t* h, uint64_t us);
/* The `q` quantile (0 to 1) of the values in `a` and `b` together, in
 * microseconds; 0 when both are empty. */
double kn_hist_quantile(const kn_hist_t* a, const kn_hist_t* b, double q);

/* Records a request that took `us` microseconds, ending at loop time
 * `now_ms`. */
void kn_op_stats_latency(kn_op_stats_t* s, uint64_t now_ms, uint64_t us);
/* The published counters, with the latency fields filled in as of
 * `now_ms`. */
void kn_op_stats_snapshot(kn_op_stats_t* s, uint64_t now_ms,
                          kinesis_operation_stats_t* out);

#endif /* KN_STATS_H */
