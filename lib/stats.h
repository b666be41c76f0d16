#ifndef KN_STATS_H
#define KN_STATS_H

#include <stddef.h>
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

/* Values under 8 have a bucket each; above, each power of two [2^e,
 * 2^(e+1)) is cut into 8 equal buckets. Inline, with kn_hist_add() and
 * kn_window_add(): the producer adds a time for every record. */
static inline size_t kn_hist_index(uint64_t v) {
  const unsigned sub = 1u << KN_HIST_SUB_BITS;
  unsigned e;
  if (v < sub)
    return (size_t) v;
#if defined(__GNUC__) || defined(__clang__)
  e = 63u - (unsigned) __builtin_clzll(v);
#else
  for (e = 0; (v >> e) > 1; e++)
    ;
#endif
  if (e >= 35)
    return KN_HIST_BUCKETS - 1;
  return sub + (size_t) (e - KN_HIST_SUB_BITS) * sub +
         (size_t) ((v >> (e - KN_HIST_SUB_BITS)) & (sub - 1));
}


static inline void kn_hist_add(kn_hist_t* h, uint64_t us) {
  h->n[kn_hist_index(us)]++;
  h->count++;
  if (us > h->max_us)
    h->max_us = us;
}
/* The `q` quantile (0 to 1) of the values in `a` and `b` together, in
 * microseconds; 0 when both are empty. */
double kn_hist_quantile(const kn_hist_t* a, const kn_hist_t* b, double q);

/* Recent times: two histograms of KN_STATS_HALF_MS each, the current and
 * the one before, so that what is read covers the last 30 to 60 seconds.
 * Zeroed memory is an empty window. */
#define KN_STATS_HALF_MS 30000

typedef struct kn_window_s {
  kn_hist_t h[2];
  int cur;
  uint64_t rotated_at;
} kn_window_t;

/* What a window holds as of a time, in milliseconds. */
typedef struct kn_recent_s {
  uint64_t count;
  double p50_ms;
  double p90_ms;
  double p99_ms;
  double max_ms;
} kn_recent_t;

void kn_window_rotate(kn_window_t* w, uint64_t now_ms);

/* Adds a time of `us` microseconds, at loop time `now_ms`. */
static inline void kn_window_add(kn_window_t* w, uint64_t now_ms,
                                 uint64_t us) {
  if (now_ms - w->rotated_at >= KN_STATS_HALF_MS)
    kn_window_rotate(w, now_ms);
  kn_hist_add(&w->h[w->cur], us);
}
/* Reads the window as of `now_ms` (not before its last add), leaving out
 * what is older than the window by then; `w` does not change. */
void kn_window_read(const kn_window_t* w, uint64_t now_ms, kn_recent_t* out);

/* One operation's counters, as published, and its request times: the
 * recent ones, and all of them in the published buckets. */
typedef struct kn_op_stats_s {
  kinesis_operation_stats_t pub;
  uint64_t buckets[KINESIS_LATENCY_BUCKETS + 1];  /* not cumulative */
  kn_window_t recent;
} kn_op_stats_t;

/* Records a request that took `us` microseconds, ending at loop time
 * `now_ms`. */
void kn_op_stats_latency(kn_op_stats_t* s, uint64_t now_ms, uint64_t us);
/* The published counters, with the latency fields filled in as of
 * `now_ms`. */
void kn_op_stats_snapshot(const kn_op_stats_t* s, uint64_t now_ms,
                          kinesis_operation_stats_t* out);

#endif /* KN_STATS_H */
