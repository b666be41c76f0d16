#include "ratelimit.h"

#include "internal.h"


void kn_bucket_init(kn_bucket_t* b, double rate, double burst,
                    uint64_t now_ms) {
  b->rate = rate;
  b->burst = burst;
  b->tokens = burst;
  b->last_ms = now_ms;
}


static void refill(kn_bucket_t* b, uint64_t now_ms) {
  if (now_ms > b->last_ms) {
    b->tokens += b->rate * (double) (now_ms - b->last_ms) / 1000.0;
    if (b->tokens > b->burst)
      b->tokens = b->burst;
    b->last_ms = now_ms;
  }
}


int kn_bucket_has(kn_bucket_t* b, double n, uint64_t now_ms) {
  if (b->rate <= 0)
    return 1;
  refill(b, now_ms);
  return b->tokens >= n;
}


void kn_bucket_take(kn_bucket_t* b, double n) {
  if (b->rate > 0)
    b->tokens -= n;
}


uint64_t kn_bucket_wait_ms(kn_bucket_t* b, double n, uint64_t now_ms) {
  double missing;
  if (b->rate <= 0)
    return 0;
  refill(b, now_ms);
  missing = n - b->tokens;
  if (missing <= 0)
    return 0;
  /* Round up, so the wake-up finds the tokens there. */
  return (uint64_t) (missing * 1000.0 / b->rate) + 1;
}


void kn_bucket_drain(kn_bucket_t* b, uint64_t now_ms) {
  if (b->rate <= 0)
    return;
  refill(b, now_ms);
  b->tokens = 0;
}
