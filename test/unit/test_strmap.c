#include "harness.h"

#include "internal.h"
#include "strmap.h"


#define NKEYS 3000


static char keys[NKEYS][24];


static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(void) {
  /* xorshift64*: fixed seed, the same sequence on every run. */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t) ((rng_state * 2685821657736338717ULL) >> 32);
}


static void test_basic(void) {
  kn_strmap_t m;
  int a;
  int b;

  kn_strmap_init(&m);
  ASSERT_NULL(kn_strmap_get(&m, "x"));
  ASSERT_NULL(kn_strmap_remove(&m, "x"));
  ASSERT_OK(kn_strmap_put(&m, "shardId-000000000000", &a));
  ASSERT_OK(kn_strmap_put(&m, "shardId-000000000001", &b));
  ASSERT(kn_strmap_get(&m, "shardId-000000000000") == &a);
  ASSERT(kn_strmap_get(&m, "shardId-000000000001") == &b);
  ASSERT_NULL(kn_strmap_get(&m, "shardId-000000000002"));
  /* A second put replaces the value. */
  ASSERT_OK(kn_strmap_put(&m, "shardId-000000000000", &b));
  ASSERT(kn_strmap_get(&m, "shardId-000000000000") == &b);
  ASSERT_EQ(2, m.n);
  ASSERT(kn_strmap_remove(&m, "shardId-000000000000") == &b);
  ASSERT_NULL(kn_strmap_get(&m, "shardId-000000000000"));
  ASSERT_EQ(1, m.n);
  kn_strmap_free(&m);
}


/* Random puts and removes against a plain array of what each key should
 * hold: every lookup agrees after every step, through growth and the
 * back-shifting of removals. */
static void test_random_against_array(void) {
  void* want[NKEYS];
  kn_strmap_t m;
  size_t live = 0;
  int step;
  int i;

  for (i = 0; i < NKEYS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "shardId-%012d", i * 7);
    want[i] = NULL;
  }
  kn_strmap_init(&m);
  for (step = 0; step < 200000; step++) {
    int k = (int) (rnd() % NKEYS);
    if (rnd() % 3 != 0) {
      void* v = &want[(k + step) % NKEYS];
      ASSERT_OK(kn_strmap_put(&m, keys[k], v));
      live += want[k] == NULL;
      want[k] = v;
    } else {
      void* got = kn_strmap_remove(&m, keys[k]);
      ASSERT(got == want[k]);
      live -= want[k] != NULL;
      want[k] = NULL;
    }
    ASSERT_EQ(live, m.n);
    if (step % 997 == 0)
      for (i = 0; i < NKEYS; i++)
        ASSERT(kn_strmap_get(&m, keys[i]) == want[i]);
  }
  for (i = 0; i < NKEYS; i++)
    ASSERT(kn_strmap_get(&m, keys[i]) == want[i]);
  kn_strmap_free(&m);
}


/* A failed growth changes nothing and leaks nothing. */
static void test_failmalloc(void) {
  kn_strmap_t m;
  int64_t i;
  int r = 0;
  int k;

  for (k = 0; k < 100; k++)
    snprintf(keys[k], sizeof(keys[k]), "k%d", k);
  kn_test_alloc_install();
  for (i = 0; i < 8; i++) {
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    kn_strmap_init(&m);
    for (k = 0; k < 100; k++) {
      r = kn_strmap_put(&m, keys[k], keys[k]);
      if (r != 0)
        break;
    }
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_EQ(k, m.n);
    }
    for (k = 0; k < (int) m.n; k++)
      ASSERT(kn_strmap_get(&m, keys[k]) == keys[k]);
    kn_strmap_free(&m);
    ASSERT_EQ(0, kn_test_alloc_live);
  }
  kn_test_alloc_fail_at = -1;
}


KN_TEST_MAIN(KN_TEST(test_basic), KN_TEST(test_random_against_array),
             KN_TEST(test_failmalloc))
