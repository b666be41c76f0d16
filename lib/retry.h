#ifndef KN_RETRY_H
#define KN_RETRY_H

#include <stdint.h>

typedef struct kn_retry_policy_s {
  uint32_t max_attempts;  /* 1: no retry */
  uint32_t base_ms;
  uint32_t cap_ms;
} kn_retry_policy_t;

/*
 * Exponential backoff with full jitter: a wait drawn uniformly from
 * [0, min(cap, base * 2^(attempt-1))] after the `attempt`-th failure
 * (1-based). `rng` is the caller's generator state, never 0.
 */
uint64_t kn_retry_backoff_ms(const kn_retry_policy_t* policy, uint32_t attempt,
                             uint64_t* rng);

/* A 64-bit xorshift step; seed with anything but 0. */
uint64_t kn_rng_next(uint64_t* state);

#endif /* KN_RETRY_H */
