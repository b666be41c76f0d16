#include "retry.h"

#include "internal.h"


uint64_t kn_rng_next(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}


uint64_t kn_retry_backoff_ms(const kn_retry_policy_t* policy, uint32_t attempt,
                             uint64_t* rng) {
  uint64_t ceiling = policy->base_ms;
  uint32_t i;

  if (attempt == 0)
    attempt = 1;
  for (i = 1; i < attempt && ceiling < policy->cap_ms; i++)
    ceiling *= 2;
  if (ceiling > policy->cap_ms)
    ceiling = policy->cap_ms;
  return kn_rng_next(rng) % (ceiling + 1);
}
