#ifndef KN_RATELIMIT_H
#define KN_RATELIMIT_H

#include <stdint.h>

/*
 * A token bucket: `rate` tokens a second, holding at most `burst`. The
 * producer keeps two per shard, records and bytes, and takes from both
 * before a record joins a batch.
 */
typedef struct kn_bucket_s {
  double tokens;
  double rate;       /* tokens per second; 0 means unlimited */
  double burst;
  uint64_t last_ms;  /* when tokens was last brought up to date */
} kn_bucket_t;

void kn_bucket_init(kn_bucket_t* b, double rate, double burst, uint64_t now_ms);

/* 1 when `n` tokens are there now (after refilling), else 0. */
int kn_bucket_has(kn_bucket_t* b, double n, uint64_t now_ms);

/* Takes `n` tokens; call after kn_bucket_has() said yes. */
void kn_bucket_take(kn_bucket_t* b, double n);

/* Milliseconds until `n` tokens are there; 0 when they are now. */
uint64_t kn_bucket_wait_ms(kn_bucket_t* b, double n, uint64_t now_ms);

/* Empties the bucket: the service said we went too fast. */
void kn_bucket_drain(kn_bucket_t* b, uint64_t now_ms);

#endif /* KN_RATELIMIT_H */
