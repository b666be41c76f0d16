#include "harness.h"

#include "internal.h"
#include "lease_plan.h"

/* The lease planner: hand-made cases for each rule, then random shard
 * graphs checked against a plain re-statement of the rules, and a fleet of
 * members sharing a lease table round after round. */

#define S(id, parent, adjacent) \
  { id, parent, adjacent, NULL, 0, 0, 0, 0, 0, 0 }


static void plan_ok(const kn_plan_shard_t* shards, size_t n, const char* self,
                    uint32_t members, int exact, int from_frontier,
                    kn_plan_t* out) {
  kn_plan_input_t in;
  memset(&in, 0, sizeof(in));
  in.shards = shards;
  in.nshards = n;
  in.self = self;
  in.members = members;
  in.exact = exact;
  in.from_frontier = from_frontier;
  ASSERT_OK(kn_lease_plan(&in, out));
}


static void test_status_trim_horizon(void) {
  kn_plan_shard_t sh[] = {
      S("a", NULL, NULL),   /* 0: finished */
      S("b", NULL, NULL),   /* 1: READY, no parent */
      S("c", "a", NULL),    /* 2: parent DONE */
      S("d", "b", NULL),    /* 3: parent READY: WAIT */
      S("e", "a", "b"),     /* 4: a merge, one parent not done */
      S("f", "gone", NULL), /* 5: parent aged out */
      S("g", "c", NULL),    /* 6: grandchild */
      S("h", "b", NULL),    /* 7: finished though its parent is not */
      S("i", "gone", "a"),  /* 8: one parent gone, the other DONE */
      S("j", "gone", "b"),  /* 9: one parent gone, the other READY */
  };
  static const uint8_t status[] = {
      KN_PLAN_DONE,  KN_PLAN_READY, KN_PLAN_READY, KN_PLAN_WAIT,  KN_PLAN_WAIT,
      KN_PLAN_READY, KN_PLAN_WAIT,  KN_PLAN_DONE,  KN_PLAN_READY, KN_PLAN_WAIT};
  static const uint8_t at_position[] = {1, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  kn_plan_t p;
  size_t i;

  sh[0].finished = 1;
  sh[7].finished = 1;
  /* Flags that only matter from the frontier change nothing here. */
  sh[6].frontier = 1;
  plan_ok(sh, KN_ARRAY_SIZE(sh), "me", 1, 1, 0, &p);
  for (i = 0; i < KN_ARRAY_SIZE(sh); i++) {
    ASSERT_EQ(status[i], p.status[i]);
    ASSERT_EQ(at_position[i], p.at_position[i]);
  }
  kn_lease_plan_free(&p);
}


static void test_status_from_frontier(void) {
  /* p split into q1 and q2, which became f1 and f2, open at the start
   * position. q1 has a checkpoint, so it is read; the rest before the
   * frontier is skipped. u predates the frontier but is nobody's
   * ancestor. fx and fy are both named by the filter. */
  kn_plan_shard_t sh[] = {
      S("p", NULL, NULL),  /* 0 */
      S("q1", "p", NULL),  /* 1 */
      S("q2", "p", NULL),  /* 2 */
      S("f1", "q1", NULL), /* 3 */
      S("f2", "q2", NULL), /* 4 */
      S("u", NULL, NULL),  /* 5 */
      S("c1", "f1", NULL), /* 6: created after the start */
      S("fx", NULL, NULL), /* 7 */
      S("fy", "fx", NULL), /* 8 */
      S("z", NULL, NULL),  /* 9: an unknown ancestor, finished */
      S("f3", "z", "q2"),  /* 10: a merge below a skipped shard */
  };
  static const uint8_t frontier_status[] = {
      KN_PLAN_SKIP,  KN_PLAN_READY, KN_PLAN_SKIP, KN_PLAN_WAIT,
      KN_PLAN_READY, KN_PLAN_READY, KN_PLAN_WAIT, KN_PLAN_READY,
      KN_PLAN_WAIT,  KN_PLAN_DONE,  KN_PLAN_READY};
  static const uint8_t frontier_at[] = {1, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0};
  static const uint8_t horizon_status[] = {
      KN_PLAN_READY, KN_PLAN_WAIT,  KN_PLAN_WAIT, KN_PLAN_WAIT,
      KN_PLAN_WAIT,  KN_PLAN_READY, KN_PLAN_WAIT, KN_PLAN_READY,
      KN_PLAN_WAIT,  KN_PLAN_DONE,  KN_PLAN_WAIT};
  kn_plan_t p;
  size_t i;

  sh[1].known = 1;
  sh[3].frontier = sh[4].frontier = sh[7].frontier = sh[8].frontier = 1;
  sh[10].frontier = 1;
  sh[3].open = sh[4].open = sh[6].open = sh[8].open = sh[10].open = 1;
  sh[9].finished = 1;
  plan_ok(sh, KN_ARRAY_SIZE(sh), "me", 1, 1, 1, &p);
  for (i = 0; i < KN_ARRAY_SIZE(sh); i++) {
    ASSERT_EQ(frontier_status[i], p.status[i]);
    ASSERT_EQ(frontier_at[i], p.at_position[i]);
  }
  kn_lease_plan_free(&p);

  /* From TRIM_HORIZON nothing is skipped: parents first. */
  plan_ok(sh, KN_ARRAY_SIZE(sh), "me", 1, 1, 0, &p);
  for (i = 0; i < KN_ARRAY_SIZE(sh); i++)
    ASSERT_EQ(horizon_status[i], p.status[i]);
  kn_lease_plan_free(&p);

  /* Once q2 is known (another member read part of it), it is read and
   * holds f2 back. */
  sh[2].known = 1;
  plan_ok(sh, KN_ARRAY_SIZE(sh), "me", 1, 1, 1, &p);
  ASSERT_EQ(KN_PLAN_SKIP, p.status[0]);
  ASSERT_EQ(KN_PLAN_READY, p.status[2]);
  ASSERT_EQ(1, p.at_position[2]);
  ASSERT_EQ(KN_PLAN_WAIT, p.status[4]);
  ASSERT_EQ(0, p.at_position[4]);
  kn_lease_plan_free(&p);
}


/* n free READY shards "s00".. of which the first `held_here` are held by
 * `self`, then `counts[j]` held by owners[j]. */
static void table(kn_plan_shard_t* sh, size_t n, char (*ids)[8],
                  const char* self, size_t held_here, const char** owners,
                  const size_t* counts, size_t nowners) {
  size_t i;
  size_t j;
  size_t at = 0;
  for (i = 0; i < n; i++) {
    snprintf(ids[i], sizeof(ids[i]), "s%02u", (unsigned) (i % 1000));
    memset(&sh[i], 0, sizeof(sh[i]));
    sh[i].id = ids[i];
    sh[i].open = 1;
  }
  for (i = 0; i < held_here; i++)
    sh[at++].owner = self;
  for (j = 0; j < nowners; j++)
    for (i = 0; i < counts[j]; i++)
      sh[at++].owner = owners[j];
  ASSERT_LE(at, n);
}


static void test_shares_exact(void) {
  kn_plan_shard_t sh[20];
  char ids[20][8];
  const char* owners[] = {"a", "c"};
  size_t counts[2];
  kn_plan_t p;
  size_t i;

  /* An empty table: 10 shards, 3 members: 4, 3, 3. The first member to
   * look thinks it ranks first, since the others hold nothing yet. */
  table(sh, 10, ids, "b", 0, NULL, NULL, 0);
  plan_ok(sh, 10, "b", 3, 1, 0, &p);
  ASSERT_EQ(10, p.readable);
  ASSERT_EQ(0, p.held);
  ASSERT_EQ(3, p.members);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(4, p.nclaim);
  ASSERT_EQ(0, p.nrelease);
  for (i = 0; i < p.nclaim; i++)
    ASSERT_NULL(sh[p.claim[i]].owner);
  kn_lease_plan_free(&p);

  /* a 4, b 3, c 3: stable, whoever plans. */
  counts[0] = 4;
  counts[1] = 3;
  table(sh, 10, ids, "b", 3, owners, counts, 2);
  plan_ok(sh, 10, "b", 3, 1, 0, &p);
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(3, p.held);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);
  plan_ok(sh, 10, "a", 3, 1, 0, &p);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(4, p.held);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);
  plan_ok(sh, 10, "c", 3, 1, 0, &p);
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);

  /* b 3, a 3, c 3 and one free: the tie goes by name, so a takes it. */
  counts[0] = 3;
  table(sh, 10, ids, "b", 3, owners, counts, 2);
  plan_ok(sh, 10, "b", 3, 1, 0, &p);
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);
  plan_ok(sh, 10, "a", 3, 1, 0, &p);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(1, p.nclaim);
  ASSERT_EQ(9, p.claim[0]);
  kn_lease_plan_free(&p);

  /* b holds 5, a 3, c 2: b keeps the larger share (4) and hands one over;
   * c, ranked last, wants one more. */
  counts[0] = 3;
  counts[1] = 2;
  table(sh, 10, ids, "b", 5, owners, counts, 2);
  plan_ok(sh, 10, "b", 3, 1, 0, &p);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(0, p.nclaim);
  ASSERT_EQ(1, p.nrelease);
  ASSERT_STR_EQ("b", sh[p.release[0]].owner);
  kn_lease_plan_free(&p);
  plan_ok(sh, 10, "c", 3, 1, 0, &p);
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(0, p.nclaim); /* nothing free yet */
  kn_lease_plan_free(&p);

  /* Anonymous members rank after every named one with the same count:
   * 4 members, a holds 5, 2 free. N = 7: 2, 2, 2, 1. b holds nothing but
   * is named (it is self), so it ranks second whatever its name. */
  counts[0] = 5;
  table(sh, 7, ids, "b", 0, owners, counts, 1);
  plan_ok(sh, 7, "b", 4, 1, 0, &p);
  ASSERT_EQ(7, p.readable);
  ASSERT_EQ(2, p.target);
  ASSERT_EQ(2, p.nclaim);
  kn_lease_plan_free(&p);
  plan_ok(sh, 7, "zz", 4, 1, 0, &p);
  ASSERT_EQ(2, p.target);
  kn_lease_plan_free(&p);
  plan_ok(sh, 7, "a", 4, 1, 0, &p);
  ASSERT_EQ(2, p.target);
  ASSERT_EQ(3, p.nrelease);
  kn_lease_plan_free(&p);

  /* Members raised to the owners seen: the store counted 1, the table
   * names a, c and self. */
  counts[0] = 2;
  counts[1] = 2;
  table(sh, 6, ids, "b", 2, owners, counts, 2);
  plan_ok(sh, 6, "b", 1, 1, 0, &p);
  ASSERT_EQ(3, p.members);
  ASSERT_EQ(2, p.target);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);

  /* Fewer readable shards than members: 2 shards, 3 members. */
  table(sh, 2, ids, "b", 0, owners, counts, 0);
  plan_ok(sh, 2, "b", 3, 1, 0, &p);
  ASSERT_EQ(1, p.target);
  ASSERT_EQ(1, p.nclaim);
  kn_lease_plan_free(&p);
  counts[0] = 1;
  counts[1] = 1;
  table(sh, 2, ids, "b", 0, owners, counts, 2);
  plan_ok(sh, 2, "b", 3, 1, 0, &p);
  ASSERT_EQ(0, p.target);
  ASSERT_EQ(0, p.nclaim + p.nrelease);
  kn_lease_plan_free(&p);

  /* Nothing readable. */
  plan_ok(NULL, 0, "b", 3, 1, 0, &p);
  ASSERT_EQ(0, p.target);
  ASSERT_EQ(0, p.readable);
  ASSERT_EQ(3, p.members);
  kn_lease_plan_free(&p);
}


static void test_shares_not_exact(void) {
  kn_plan_shard_t sh[20];
  char ids[20][8];
  const char* owners[] = {"other"};
  size_t counts[1];
  kn_plan_t p;

  /* ceil(10 / 3) = 4 whoever ranks where. */
  counts[0] = 5;
  table(sh, 10, ids, "b", 5, owners, counts, 1);
  plan_ok(sh, 10, "b", 3, 0, 0, &p);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(1, p.nrelease);
  kn_lease_plan_free(&p);
  counts[0] = 2;
  table(sh, 10, ids, "b", 1, owners, counts, 1);
  plan_ok(sh, 10, "b", 3, 0, 0, &p);
  ASSERT_EQ(4, p.target);
  ASSERT_EQ(3, p.nclaim);
  kn_lease_plan_free(&p);

  /* At least one when anything is readable. */
  table(sh, 1, ids, "b", 0, owners, counts, 0);
  plan_ok(sh, 1, "b", 3, 0, 0, &p);
  ASSERT_EQ(1, p.target);
  ASSERT_EQ(1, p.nclaim);
  kn_lease_plan_free(&p);
}


static void test_no_members_and_max_shards(void) {
  kn_plan_shard_t sh[20];
  char ids[20][8];
  const char* owners[] = {"a"};
  size_t counts[1] = {5};
  kn_plan_input_t in;
  kn_plan_t p;

  /* members 0: no fair share; every free READY shard is claimed. */
  table(sh, 10, ids, "b", 2, owners, counts, 1);
  plan_ok(sh, 10, "b", 0, 1, 0, &p);
  ASSERT_EQ(SIZE_MAX, p.target);
  ASSERT_EQ(3, p.nclaim);
  ASSERT_EQ(2, p.members); /* raised to the owners seen */
  kn_lease_plan_free(&p);

  memset(&in, 0, sizeof(in));
  in.shards = sh;
  in.nshards = 10;
  in.self = "b";
  in.max_shards = 3;
  ASSERT_OK(kn_lease_plan(&in, &p));
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(1, p.nclaim);
  kn_lease_plan_free(&p);

  /* max_shards caps a fair share too: 10 shards, alone: 3, release 2. */
  table(sh, 10, ids, "b", 5, owners, counts, 0);
  in.members = 1;
  in.exact = 1;
  ASSERT_OK(kn_lease_plan(&in, &p));
  ASSERT_EQ(10, p.readable);
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(0, p.nclaim);
  ASSERT_EQ(2, p.nrelease);
  kn_lease_plan_free(&p);
  in.exact = 0;
  ASSERT_OK(kn_lease_plan(&in, &p));
  ASSERT_EQ(3, p.target);
  ASSERT_EQ(2, p.nrelease);
  kn_lease_plan_free(&p);
}


static void test_pinned(void) {
  kn_plan_shard_t sh[10];
  char ids[10][8];
  kn_plan_t p;
  size_t i;

  /* b holds 4, two pinned; alone with max 1 it should give 3 back, but
   * only 2 may go. */
  table(sh, 6, ids, "b", 4, NULL, NULL, 0);
  sh[0].pinned = 1;
  sh[2].pinned = 1;
  /* A pinned shard whose lease lapsed in the table is still ours, and is
   * not for claiming. */
  sh[5].pinned = 1;
  {
    kn_plan_input_t in;
    memset(&in, 0, sizeof(in));
    in.shards = sh;
    in.nshards = 6;
    in.self = "b";
    in.members = 1;
    in.exact = 1;
    in.max_shards = 1;
    ASSERT_OK(kn_lease_plan(&in, &p));
  }
  ASSERT_EQ(5, p.held);
  ASSERT_EQ(6, p.readable);
  ASSERT_EQ(1, p.target);
  ASSERT_EQ(0, p.nclaim);
  ASSERT_EQ(2, p.nrelease);
  for (i = 0; i < p.nrelease; i++)
    ASSERT(p.release[i] == 1 || p.release[i] == 3);
  ASSERT_NE(p.release[0], p.release[1]);
  kn_lease_plan_free(&p);

  /* Alone without a limit, b wants all 6 and claims only s04. */
  plan_ok(sh, 6, "b", 1, 1, 0, &p);
  ASSERT_EQ(6, p.target);
  ASSERT_EQ(1, p.nclaim);
  ASSERT_EQ(4, p.claim[0]);
  kn_lease_plan_free(&p);
}


static void test_claim_and_release_order(void) {
  kn_plan_shard_t sh[100];
  char ids[100][8];
  kn_plan_input_t in;
  kn_plan_t all;
  kn_plan_t p;
  size_t firsts[10];
  size_t distinct = 0;
  size_t i;
  size_t j;

  /* The order of claims does not depend on how many are wanted. */
  table(sh, 100, ids, "m1", 0, NULL, NULL, 0);
  plan_ok(sh, 100, "m1", 1, 1, 0, &all);
  ASSERT_EQ(100, all.nclaim);
  memset(&in, 0, sizeof(in));
  in.shards = sh;
  in.nshards = 100;
  in.self = "m1";
  in.members = 1;
  in.exact = 1;
  for (i = 1; i < 100; i += 7) {
    in.max_shards = (uint32_t) i;
    ASSERT_OK(kn_lease_plan(&in, &p));
    ASSERT_EQ(i, p.nclaim);
    ASSERT_MEM_EQ(all.claim, p.claim, i * sizeof(size_t));
    kn_lease_plan_free(&p);
  }

  /* A member gives back the shards it would claim last, last first. */
  for (i = 0; i < 100; i++)
    sh[i].owner = "m1";
  for (i = 0; i < 100; i += 9) {
    in.max_shards = (uint32_t) i + (i == 0);
    ASSERT_OK(kn_lease_plan(&in, &p));
    ASSERT_EQ(0, p.nclaim);
    ASSERT_EQ(100 - in.max_shards, p.nrelease);
    for (j = 0; j < p.nrelease; j++)
      ASSERT_EQ(all.claim[99 - j], p.release[j]);
    kn_lease_plan_free(&p);
  }
  kn_lease_plan_free(&all);

  /* Members starting together look at different shards first. */
  for (i = 0; i < 100; i++)
    sh[i].owner = NULL;
  for (i = 0; i < 10; i++) {
    char self[8];
    snprintf(self, sizeof(self), "m%zu", i);
    plan_ok(sh, 100, self, 10, 1, 0, &p);
    ASSERT_EQ(10, p.nclaim);
    firsts[i] = p.claim[0];
    kn_lease_plan_free(&p);
  }
  for (i = 0; i < 10; i++) {
    for (j = 0; j < i && firsts[j] != firsts[i]; j++)
      ;
    distinct += j == i;
  }
  ASSERT_GE(distinct, 5);

  /* The order is the shards', not the input's: reversed input, same
   * shards claimed. */
  plan_ok(sh, 100, "m1", 4, 1, 0, &all);
  {
    kn_plan_shard_t rev[100];
    for (i = 0; i < 100; i++)
      rev[i] = sh[99 - i];
    plan_ok(rev, 100, "m1", 4, 1, 0, &p);
    ASSERT_EQ(all.nclaim, p.nclaim);
    for (i = 0; i < p.nclaim; i++)
      ASSERT_EQ(all.claim[i], 99 - p.claim[i]);
    kn_lease_plan_free(&p);
  }
  kn_lease_plan_free(&all);
}


static void test_invalid(void) {
  kn_plan_shard_t sh[] = {S("a", NULL, NULL), S("b", "a", NULL),
                          S("c", NULL, NULL), S("b", NULL, NULL)};
  kn_plan_input_t in;
  kn_plan_t p;

  memset(&in, 0, sizeof(in));
  in.shards = sh;
  in.nshards = 3;
  in.self = "me";
  ASSERT_OK(kn_lease_plan(&in, &p));
  kn_lease_plan_free(&p);

  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, NULL));
  memset(&p, 0xa5, sizeof(p));
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(NULL, &p));
  /* A failed plan leaves nothing to free, and freeing it is harmless. */
  ASSERT_NULL(p.status);
  ASSERT_NULL(p.claim);
  kn_lease_plan_free(&p);
  kn_lease_plan_free(NULL);

  in.self = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  in.self = "";
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  in.self = "me";
  in.shards = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  in.nshards = 0;
  ASSERT_OK(kn_lease_plan(&in, &p));
  ASSERT_EQ(0, p.readable);
  kn_lease_plan_free(&p);

  /* Duplicate ids, wherever they are. */
  in.shards = sh;
  in.nshards = 4;
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  ASSERT_NULL(p.status);
  sh[3].id = "a";
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  sh[3].id = "c";
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  sh[3].id = "d";
  ASSERT_OK(kn_lease_plan(&in, &p));
  kn_lease_plan_free(&p);

  /* A shard without an id. */
  sh[2].id = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kn_lease_plan(&in, &p));
  ASSERT_NULL(p.status);
}


/* Random shard graphs ---------------------------------------------------- */

typedef struct rng_s {
  uint64_t s;
} rng_t;


/* xorshift64*. */
static uint64_t rnd(rng_t* r) {
  r->s ^= r->s >> 12;
  r->s ^= r->s << 25;
  r->s ^= r->s >> 27;
  return r->s * 2685821657736338717ULL;
}


static size_t rnd_below(rng_t* r, size_t n) {
  return (size_t) (rnd(r) % n);
}


static uint64_t test_seed(void) {
  static uint64_t seed;
  const char* env;
  if (seed != 0)
    return seed;
  env = getenv("KN_TEST_SEED");
  seed = env != NULL ? strtoull(env, NULL, 10) : uv_hrtime();
  if (seed == 0)
    seed = 1;
  printf("# seed %" PRIu64 " (KN_TEST_SEED=%" PRIu64 " repeats it)\n", seed,
         seed);
  return seed;
}


/* A stream's history: shards by creation number (so parents come before
 * their children), and the listing the planner gets: the shards not aged
 * out, in shuffled order. */
typedef struct graph_s {
  size_t n;
  char (*ids)[32];
  int* parent;   /* creation numbers, -1 for none */
  int* adjacent; /* the same */
  uint8_t* open;
  uint8_t* frontier; /* open half way through the history */
  size_t nlisted;
  kn_plan_shard_t* shards; /* the listing */
  int* created;            /* listing place -> creation number */
  int* place;              /* creation number -> listing place, or -1 */
} graph_t;


/* Splits and merges up to `nmax` shards. Hash ranges keep the open shards
 * in key order, so merges join neighbours. The oldest closed shards, up to
 * creation number `aged`, drop out of the listing. */
static void graph_build(graph_t* g, rng_t* r, size_t nmax, size_t aged) {
  uint64_t* lo = malloc(nmax * sizeof(*lo));
  uint64_t* hi = malloc(nmax * sizeof(*hi));
  int* openl = malloc(nmax * sizeof(*openl)); /* open shards in key order */
  size_t nopen = 0;
  size_t roots = 1 + rnd_below(r, 8);
  int frontier_taken = 0;
  size_t i;

  memset(g, 0, sizeof(*g));
  g->ids = calloc(nmax, sizeof(*g->ids));
  g->parent = malloc(nmax * sizeof(int));
  g->adjacent = malloc(nmax * sizeof(int));
  g->open = calloc(nmax, 1);
  g->frontier = calloc(nmax, 1);
  ASSERT(lo && hi && openl && g->ids && g->parent && g->adjacent && g->open &&
         g->frontier);
  if (roots > nmax)
    roots = nmax;
  for (i = 0; i < roots; i++) {
    lo[i] = UINT64_MAX / roots * i;
    hi[i] = i + 1 == roots ? UINT64_MAX : UINT64_MAX / roots * (i + 1) - 1;
    g->parent[i] = g->adjacent[i] = -1;
    g->open[i] = 1;
    openl[nopen++] = (int) i;
  }
  g->n = roots;

  while (g->n < nmax) {
    int merge = nopen >= 2 && (g->n + 2 > nmax || rnd_below(r, 100) < 40);
    size_t c = g->n;
    if (!frontier_taken && g->n >= nmax / 2) {
      for (i = 0; i < nopen; i++)
        g->frontier[openl[i]] = 1;
      frontier_taken = 1;
    }
    if (merge) {
      size_t j = rnd_below(r, nopen - 1);
      int a = openl[j];
      int b = openl[j + 1];
      g->parent[c] = a;
      g->adjacent[c] = b;
      lo[c] = lo[a];
      hi[c] = hi[b];
      g->open[a] = g->open[b] = 0;
      openl[j] = (int) c;
      memmove(&openl[j + 1], &openl[j + 2], (nopen - j - 2) * sizeof(int));
      nopen--;
      g->open[c] = 1;
      g->n++;
    } else {
      size_t j = rnd_below(r, nopen);
      int a = openl[j];
      uint64_t mid;
      if (g->n + 2 > nmax || hi[a] - lo[a] < 2)
        break;
      mid = lo[a] + (hi[a] - lo[a]) / 2;
      g->parent[c] = g->parent[c + 1] = a;
      g->adjacent[c] = g->adjacent[c + 1] = -1;
      lo[c] = lo[a];
      hi[c] = mid;
      lo[c + 1] = mid + 1;
      hi[c + 1] = hi[a];
      g->open[a] = 0;
      g->open[c] = g->open[c + 1] = 1;
      openl[j] = (int) c;
      memmove(&openl[j + 2], &openl[j + 1], (nopen - j - 1) * sizeof(int));
      openl[j + 1] = (int) c + 1;
      nopen++;
      g->n += 2;
    }
  }
  if (!frontier_taken)
    for (i = 0; i < nopen; i++)
      g->frontier[openl[i]] = 1;

  g->shards = calloc(g->n, sizeof(*g->shards));
  g->created = malloc(g->n * sizeof(int));
  g->place = malloc(g->n * sizeof(int));
  ASSERT(g->shards && g->created && g->place);
  for (i = 0; i < g->n; i++) {
    snprintf(g->ids[i], sizeof(g->ids[i]), "shardId-%012zu", i);
    g->place[i] = -1;
    if (i < aged && !g->open[i])
      continue;
    g->created[g->nlisted++] = (int) i;
  }
  /* Fisher-Yates: the listing's order is not the ids' order. */
  for (i = g->nlisted; i > 1; i--) {
    size_t j = rnd_below(r, i);
    int t = g->created[i - 1];
    g->created[i - 1] = g->created[j];
    g->created[j] = t;
  }
  for (i = 0; i < g->nlisted; i++) {
    int c = g->created[i];
    kn_plan_shard_t* s = &g->shards[i];
    g->place[c] = (int) i;
    s->id = g->ids[c];
    s->parent = g->parent[c] >= 0 ? g->ids[g->parent[c]] : NULL;
    s->adjacent_parent = g->adjacent[c] >= 0 ? g->ids[g->adjacent[c]] : NULL;
    s->open = g->open[c];
    s->frontier = g->frontier[c];
  }
  free(lo);
  free(hi);
  free(openl);
}


static void graph_free(graph_t* g) {
  free(g->ids);
  free(g->parent);
  free(g->adjacent);
  free(g->open);
  free(g->frontier);
  free(g->shards);
  free(g->created);
  free(g->place);
}


/* The listing place of shard `c`'s k-th parent, or -1 (none, or aged
 * out). */
static int parent_place(const graph_t* g, int c, int k) {
  int p = k == 0 ? g->parent[c] : g->adjacent[c];
  return p < 0 ? -1 : g->place[p];
}


/* The rules restated plainly, from the graph's own links rather than by
 * id. Fills `status` and `at` by listing place, and the share. */
typedef struct oracle_s {
  uint8_t* status;
  uint8_t* at;
  size_t readable;
  size_t held;
  size_t target;
  size_t members;
  size_t nfree_ready; /* claimable */
  size_t nmine_loose; /* releasable */
} oracle_t;

typedef struct rank_s {
  const char* name; /* NULL: anonymous */
  size_t count;
} rank_t;


static int compare_rank(const void* a, const void* b) {
  const rank_t* x = a;
  const rank_t* y = b;
  if (x->count != y->count)
    return x->count > y->count ? -1 : 1;
  if (x->name == NULL || y->name == NULL)
    return (x->name == NULL) - (y->name == NULL);
  return strcmp(x->name, y->name);
}


static int mine(const kn_plan_shard_t* s, const char* self) {
  return s->pinned || (s->owner != NULL && strcmp(s->owner, self) == 0);
}


static void oracle(const graph_t* g, const kn_plan_input_t* in, oracle_t* o) {
  const kn_plan_shard_t* sh = g->shards;
  size_t n = g->nlisted;
  uint8_t* anc = calloc(g->n + 1, 1);
  rank_t* ranks;
  size_t nranks = 0;
  size_t named;
  size_t i;
  size_t j;
  int c;
  int k;

  ASSERT(in->shards == g->shards && in->nshards == n);
  o->status = malloc(n + 1);
  o->at = malloc(n + 1);
  ranks = calloc(n + in->members + 2, sizeof(*ranks));
  ASSERT(anc && o->status && o->at && ranks);

  /* Ancestors of listed frontier shards, through listed shards: children
   * come after their parents, so one backward pass sees them all. */
  for (c = (int) g->n - 1; c >= 0; c--) {
    int pl = g->place[c];
    if (pl < 0 || !(sh[pl].frontier || anc[c]))
      continue;
    for (k = 0; k < 2; k++) {
      int p = k == 0 ? g->parent[c] : g->adjacent[c];
      if (p >= 0 && g->place[p] >= 0)
        anc[p] = 1;
    }
  }
  for (i = 0; i < n; i++) {
    c = g->created[i];
    if (sh[i].finished)
      o->status[i] = KN_PLAN_DONE;
    else if (in->from_frontier && !sh[i].known && !sh[i].frontier && anc[c])
      o->status[i] = KN_PLAN_SKIP;
    else
      o->status[i] = KN_PLAN_WAIT;
  }
  for (i = 0; i < n; i++) {
    int ready = 1;
    int at = 1;
    c = g->created[i];
    for (k = 0; k < 2; k++) {
      int p = parent_place(g, c, k);
      if (p < 0)
        continue;
      if (o->status[p] == KN_PLAN_SKIP)
        continue;
      at = 0;
      if (o->status[p] != KN_PLAN_DONE)
        ready = 0;
    }
    if (o->status[i] == KN_PLAN_WAIT && ready)
      o->status[i] = KN_PLAN_READY;
    o->at[i] = (uint8_t) at;
  }
  free(anc);

  o->readable = o->held = o->nfree_ready = o->nmine_loose = 0;
  for (i = 0; i < n; i++) {
    int m = mine(&sh[i], in->self);
    const char* owner = m ? in->self : sh[i].owner;
    if (m || owner != NULL || o->status[i] == KN_PLAN_READY)
      o->readable++;
    if (m) {
      o->held++;
      o->nmine_loose += !sh[i].pinned;
    } else if (owner == NULL && o->status[i] == KN_PLAN_READY) {
      o->nfree_ready++;
    }
    /* The named members and their counts, self included. */
    for (j = 0; j < nranks && strcmp(ranks[j].name, owner ? owner : ""); j++)
      ;
    if (owner == NULL)
      continue;
    if (j == nranks)
      ranks[nranks++].name = owner;
    ranks[j].count++;
  }
  for (j = 0; j < nranks && strcmp(ranks[j].name, in->self) != 0; j++)
    ;
  if (j == nranks)
    ranks[nranks++].name = in->self;
  named = nranks;
  o->members = in->members > named ? in->members : named;
  while (nranks < o->members)
    ranks[nranks++].name = NULL;

  if (in->members == 0) {
    o->target = SIZE_MAX;
  } else if (in->exact) {
    qsort(ranks, nranks, sizeof(*ranks), compare_rank);
    for (j = 0; ranks[j].name == NULL || strcmp(ranks[j].name, in->self); j++)
      ;
    o->target =
        o->readable / o->members + (j < o->readable % o->members ? 1 : 0);
  } else {
    o->target = (o->readable + o->members - 1) / o->members;
  }
  if (in->max_shards != 0 && o->target > in->max_shards)
    o->target = in->max_shards;
  free(ranks);
}


static void oracle_free(oracle_t* o) {
  free(o->status);
  free(o->at);
}


/* Checks a plan against the oracle and the rules on its lists. */
static void check_plan(const graph_t* g, const kn_plan_input_t* in,
                       const kn_plan_t* p) {
  const kn_plan_shard_t* sh = g->shards;
  uint8_t* seen = calloc(g->nlisted + 1, 1);
  oracle_t o;
  size_t i;
  int k;

  ASSERT_NOT_NULL(seen);
  oracle(g, in, &o);
  for (i = 0; i < g->nlisted; i++) {
    ASSERT_EQ(o.status[i], p->status[i]);
    ASSERT_EQ(o.at[i], p->at_position[i]);
    /* No child is readable while a parent is listed and neither finished
     * nor skipped. */
    if (p->status[i] == KN_PLAN_READY)
      for (k = 0; k < 2; k++) {
        int pl = parent_place(g, g->created[i], k);
        ASSERT(pl < 0 || p->status[pl] == KN_PLAN_DONE ||
               p->status[pl] == KN_PLAN_SKIP);
      }
  }
  ASSERT_EQ(o.readable, p->readable);
  ASSERT_EQ(o.held, p->held);
  ASSERT_EQ(o.members, p->members);
  ASSERT_EQ(o.target, p->target);

  ASSERT(p->nclaim == 0 || p->nrelease == 0);
  if (p->held < p->target) {
    size_t want = p->target - p->held;
    ASSERT_EQ(want < o.nfree_ready ? want : o.nfree_ready, p->nclaim);
  } else {
    ASSERT_EQ(0, p->nclaim);
  }
  if (p->held > p->target) {
    size_t over = p->held - p->target;
    ASSERT_EQ(over < o.nmine_loose ? over : o.nmine_loose, p->nrelease);
  } else {
    ASSERT_EQ(0, p->nrelease);
  }
  for (i = 0; i < p->nclaim; i++) {
    size_t s = p->claim[i];
    ASSERT_LT(s, g->nlisted);
    ASSERT_EQ(0, seen[s]);
    seen[s] = 1;
    ASSERT_NULL(sh[s].owner);
    ASSERT_EQ(0, sh[s].pinned);
    ASSERT_EQ(KN_PLAN_READY, p->status[s]);
  }
  for (i = 0; i < p->nrelease; i++) {
    size_t s = p->release[i];
    ASSERT_LT(s, g->nlisted);
    ASSERT_EQ(0, seen[s]);
    seen[s] = 1;
    ASSERT(mine(&sh[s], in->self));
    ASSERT_EQ(0, sh[s].pinned);
  }
  oracle_free(&o);
  free(seen);
}


static void test_random_graphs(void) {
  static const char* const names[] = {"m0", "m1", "m2", "m3", "m4"};
  rng_t r;
  int iter;

  r.s = test_seed() ^ 0x5bd1e995;
  for (iter = 0; iter < 60; iter++) {
    size_t nmax = iter == 0 ? 10000 : 1 + rnd_below(&r, iter < 30 ? 50 : 3000);
    graph_t g;
    kn_plan_input_t in;
    kn_plan_t p;
    size_t i;
    int variant;

    graph_build(&g, &r, nmax, rnd_below(&r, nmax / 2 + 1));
    memset(&in, 0, sizeof(in));
    in.shards = g.shards;
    in.nshards = g.nlisted;
    in.self = names[rnd_below(&r, 5)];
    for (variant = 0; variant < 4; variant++) {
      /* Random flags: whatever the table says, the plan follows the
       * rules. */
      for (i = 0; i < g.nlisted; i++) {
        kn_plan_shard_t* s = &g.shards[i];
        s->finished = rnd_below(&r, 10) < 3;
        s->known = s->finished || rnd_below(&r, 10) < 3;
        s->frontier =
            variant < 2 ? g.frontier[g.created[i]] : rnd_below(&r, 10) < 2;
        s->owner = rnd_below(&r, 3) == 0 ? names[rnd_below(&r, 5)] : NULL;
        s->pinned =
            rnd_below(&r, 10) == 0 && (s->owner == NULL || s->owner == in.self);
      }
      in.from_frontier = (variant & 1) == 0;
      in.exact = (int) rnd_below(&r, 2);
      in.members = (uint32_t) rnd_below(&r, 9);
      in.max_shards = rnd_below(&r, 3) == 0 ? (uint32_t) rnd_below(&r, 6) : 0;
      ASSERT_OK(kn_lease_plan(&in, &p));
      check_plan(&g, &in, &p);
      kn_lease_plan_free(&p);
    }
    graph_free(&g);
  }
}


/* A fleet ---------------------------------------------------------------- */

#define MAX_MEMBERS 16

typedef struct fleet_s {
  graph_t g;
  int* owner; /* by listing place: member number or -1 */
  uint8_t* finished;
  uint8_t* leased; /* ever: the store knows it */
  char names[MAX_MEMBERS][16];
  int active[MAX_MEMBERS];
  size_t k;
  int next_name;
  int from_frontier;
  kn_plan_t plans[MAX_MEMBERS];
  size_t claims; /* applied since reset */
  size_t releases;
} fleet_t;


static void fleet_input(fleet_t* f, int member, kn_plan_input_t* in) {
  size_t i;
  for (i = 0; i < f->g.nlisted; i++) {
    kn_plan_shard_t* s = &f->g.shards[i];
    s->owner = f->owner[i] >= 0 ? f->names[f->owner[i]] : NULL;
    s->finished = f->finished[i];
    s->known = f->finished[i] || f->leased[i];
    s->pinned = 0;
  }
  memset(in, 0, sizeof(*in));
  in->shards = f->g.shards;
  in->nshards = f->g.nlisted;
  in->self = f->names[member];
  in->members = (uint32_t) f->k;
  in->exact = 1;
  in->from_frontier = f->from_frontier;
}


static void fleet_add(fleet_t* f) {
  int m = f->next_name++;
  ASSERT_LT(m, MAX_MEMBERS);
  snprintf(f->names[m], sizeof(f->names[m]), "m%02d", m);
  f->active[f->k++] = m;
}


/* Every member plans on the same table, then the plans are carried out in
 * turn: a claim succeeds when the shard is still free. Returns how many
 * claims and releases were carried out. */
static size_t fleet_round(fleet_t* f) {
  kn_plan_input_t in;
  size_t moves = 0;
  size_t a;
  size_t i;

  for (a = 0; a < f->k; a++) {
    fleet_input(f, f->active[a], &in);
    ASSERT_OK(kn_lease_plan(&in, &f->plans[a]));
    check_plan(&f->g, &in, &f->plans[a]);
  }
  for (a = 0; a < f->k; a++) {
    kn_plan_t* p = &f->plans[a];
    int m = f->active[a];
    for (i = 0; i < p->nclaim; i++) {
      if (f->owner[p->claim[i]] < 0) {
        f->owner[p->claim[i]] = m;
        f->leased[p->claim[i]] = 1;
        f->claims++;
        moves++;
      }
    }
    for (i = 0; i < p->nrelease; i++) {
      ASSERT_EQ(m, f->owner[p->release[i]]);
      f->owner[p->release[i]] = -1;
      f->releases++;
      moves++;
    }
    kn_lease_plan_free(p);
  }
  return moves;
}


/* Rounds until one moves nothing, then checks the stable table; returns
 * the readable count. */
static size_t fleet_settle(fleet_t* f) {
  kn_plan_input_t in;
  size_t held[MAX_MEMBERS];
  size_t lo = SIZE_MAX;
  size_t hi = 0;
  size_t readable = 0;
  size_t rounds = 0;
  size_t a;
  size_t i;

  while (fleet_round(f) > 0)
    ASSERT_LT(++rounds, 100);

  /* (c) A further round moves nothing, and every member agrees on what
   * is readable. */
  for (a = 0; a < f->k; a++) {
    kn_plan_t* p = &f->plans[a];
    fleet_input(f, f->active[a], &in);
    ASSERT_OK(kn_lease_plan(&in, p));
    ASSERT_EQ(0, p->nclaim + p->nrelease);
    if (a == 0)
      readable = p->readable;
    ASSERT_EQ(readable, p->readable);
    ASSERT_EQ(f->k, p->members);
    held[a] = p->held;
  }
  /* (a) Every READY shard is being read, and nobody holds one that must
   * wait for its parents. */
  for (i = 0; i < f->g.nlisted; i++) {
    uint8_t st = f->plans[0].status[i];
    if (st == KN_PLAN_READY)
      ASSERT_GE(f->owner[i], 0);
    if (f->owner[i] >= 0)
      ASSERT_EQ(KN_PLAN_READY, st);
  }
  /* (b) Shares within one of each other. */
  for (a = 0; a < f->k; a++) {
    lo = held[a] < lo ? held[a] : lo;
    hi = held[a] > hi ? held[a] : hi;
  }
  ASSERT_LE(hi - lo, 1);
  for (a = 0; a < f->k; a++)
    kn_lease_plan_free(&f->plans[a]);
  return readable;
}


/* Members read some of their shards to the end, which lets children
 * become readable. */
static void fleet_finish_some(fleet_t* f, rng_t* r) {
  size_t i;
  for (i = 0; i < f->g.nlisted; i++) {
    if (f->owner[i] >= 0 && rnd_below(r, 3) == 0) {
      f->finished[i] = 1;
      f->owner[i] = -1;
    }
  }
}


static void fleet_join(fleet_t* f) {
  size_t n = f->g.nlisted;
  int* before = malloc((n + 1) * sizeof(int));
  size_t readable = fleet_settle(f);
  size_t changed = 0;
  size_t share = 0;
  int joiner;
  size_t i;

  ASSERT_NOT_NULL(before);
  memcpy(before, f->owner, n * sizeof(int));
  fleet_add(f);
  joiner = f->active[f->k - 1];
  f->claims = f->releases = 0;
  ASSERT_EQ(readable, fleet_settle(f));
  for (i = 0; i < n; i++) {
    changed += before[i] != f->owner[i];
    share += f->owner[i] == joiner;
  }
  /* The joiner ends with floor(N / (k + 1)), the least any fair split
   * gives it, and nothing else moved: each shard it took was released to
   * it. */
  ASSERT_EQ(readable / f->k, share);
  ASSERT_EQ(share, changed);
  ASSERT_EQ(share, f->claims);
  ASSERT_EQ(share, f->releases);
  printf("# join: %zu readable, %zu members, %zu moved\n", readable, f->k,
         changed);
  free(before);
}


static void fleet_leave(fleet_t* f, rng_t* r) {
  size_t n = f->g.nlisted;
  int* before = malloc((n + 1) * sizeof(int));
  size_t readable = fleet_settle(f);
  size_t a = rnd_below(r, f->k);
  int gone = f->active[a];
  size_t freed = 0;
  size_t i;

  ASSERT_NOT_NULL(before);
  for (i = 0; i < n; i++) {
    if (f->owner[i] == gone) {
      f->owner[i] = -1;
      freed++;
    }
  }
  memcpy(before, f->owner, n * sizeof(int));
  f->active[a] = f->active[--f->k];
  f->claims = f->releases = 0;
  ASSERT_EQ(readable, fleet_settle(f));
  /* The others take exactly its shards, and nothing else moves. */
  ASSERT_EQ(freed, f->claims);
  ASSERT_EQ(0, f->releases);
  for (i = 0; i < n; i++)
    if (before[i] >= 0)
      ASSERT_EQ(before[i], f->owner[i]);
  printf("# leave: %zu readable, %zu members, %zu moved\n", readable, f->k,
         freed);
  free(before);
}


static void run_fleet(rng_t* r, size_t nmax, size_t k, int from_frontier) {
  fleet_t f;
  size_t n;
  size_t phase;
  size_t readable;
  size_t i;

  memset(&f, 0, sizeof(f));
  graph_build(&f.g, r, nmax, rnd_below(r, nmax / 2 + 1));
  n = f.g.nlisted;
  f.owner = malloc((n + 1) * sizeof(int));
  f.finished = calloc(n + 1, 1);
  f.leased = calloc(n + 1, 1);
  ASSERT(f.owner && f.finished && f.leased);
  for (i = 0; i < n; i++)
    f.owner[i] = -1;
  f.from_frontier = from_frontier;
  for (i = 0; i < k; i++)
    fleet_add(&f);

  readable = fleet_settle(&f);
  printf("# fleet: %zu shards listed, %zu members, %s, %zu readable\n", n, k,
         from_frontier ? "from the frontier" : "from the horizon", readable);
  for (phase = 0; phase < 8; phase++) {
    if (phase == 1 && f.next_name < MAX_MEMBERS)
      fleet_join(&f);
    if (phase == 3 && f.k >= 2)
      fleet_leave(&f, r);
    if (phase == 5 && f.next_name < MAX_MEMBERS)
      fleet_join(&f);
    fleet_finish_some(&f, r);
    fleet_settle(&f);
  }
  free(f.owner);
  free(f.finished);
  free(f.leased);
  graph_free(&f.g);
}


static void test_fleet(void) {
  rng_t r;
  int iter;

  r.s = test_seed() ^ 0x9e3779b97f4a7c15ULL;
  for (iter = 0; iter < 24; iter++) {
    size_t nmax = 2 + rnd_below(&r, iter < 16 ? 60 : 2000);
    run_fleet(&r, nmax, 1 + rnd_below(&r, 8), iter & 1);
  }
  /* One stream of 10,000 shards, from either end (the seed says which):
   * the figures the planner is built for, at a cost the suite can bear. */
  run_fleet(&r, 10000, 2 + rnd_below(&r, 7), (int) rnd_below(&r, 2));
}


/* Allocation failures ---------------------------------------------------- */

/* Plans on `in`, failing allocation `fail_at`; returns 1 once a run
 * reaches no allocation to fail. */
static int failmalloc_run(const kn_plan_input_t* in, int64_t fail_at) {
  kn_plan_t p;
  int r;

  kn_test_alloc_fail_at = fail_at;
  kn_test_alloc_count = 0;
  kn_test_alloc_live = 0;
  r = kn_lease_plan(in, &p);
  if (kn_test_alloc_count <= fail_at) {
    ASSERT_OK(r);
    kn_lease_plan_free(&p);
    ASSERT_EQ(0, kn_test_alloc_live);
    return 1;
  }
  ASSERT_EQ(KINESIS_ENOMEM, r);
  /* Nothing is left behind, and freeing after the failure is safe. */
  ASSERT_EQ(0, kn_test_alloc_live);
  ASSERT_NULL(p.status);
  ASSERT_NULL(p.at_position);
  ASSERT_NULL(p.claim);
  ASSERT_NULL(p.release);
  kn_lease_plan_free(&p);
  return 0;
}


static void test_failmalloc(void) {
  rng_t r;
  graph_t g;
  kn_plan_input_t in;
  int variant;
  int64_t i;

  r.s = test_seed() ^ 0x2545f4914f6cdd1dULL;
  graph_build(&g, &r, 300, 50);
  kn_test_alloc_install();
  for (variant = 0; variant < 2; variant++) {
    size_t s;
    /* Claiming from the frontier (every allocation), then releasing with
     * other owners about. */
    for (s = 0; s < g.nlisted; s++) {
      g.shards[s].owner = variant == 0 ? NULL : (s % 3 == 0 ? "other" : "me");
      g.shards[s].known = s % 2;
    }
    memset(&in, 0, sizeof(in));
    in.shards = g.shards;
    in.nshards = g.nlisted;
    in.self = "me";
    in.members = 2;
    in.exact = 1;
    in.from_frontier = variant == 0;
    for (i = 0; !failmalloc_run(&in, i); i++)
      ;
    /* The index, the parents, two outputs, the shards held here, a list
     * and what it came from; the stack of the frontier walk, or the table
     * of other owners. */
    ASSERT_EQ(8, i);
    kn_test_alloc_fail_at = -1;
    {
      kn_plan_t p;
      ASSERT_OK(kn_lease_plan(&in, &p));
      ASSERT_GT(variant == 0 ? p.nclaim : p.nrelease, 0);
      kn_lease_plan_free(&p);
    }
  }
  kn_test_alloc_fail_at = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  graph_free(&g);
}


/* A member capped by max_shard_consumers cannot take the larger share the
 * ranking gives it: the shard it would take stays free. Once it has stayed
 * free a whole round (stale), a member below the larger share takes it
 * beyond its own share, and keeps it: nobody lags, so it holds no more
 * than within one of the others. */
static void test_stale_spillover(void) {
  kn_plan_shard_t sh[] = {S("x", NULL, NULL), S("y", NULL, NULL),
                          S("z", NULL, NULL)};
  kn_plan_t p;

  sh[0].owner = "a";
  sh[1].owner = "b";
  /* "a" ranks first (a tie, and the smaller name) and gets 2; "b" gets 1
   * and holds it: while z is fresh, b leaves it to a. */
  plan_ok(sh, 3, "b", 2, 1, 0, &p);
  ASSERT_EQ(1, p.target);
  ASSERT_EQ(2, p.ceil_share);
  ASSERT_EQ(0, p.nclaim);
  kn_lease_plan_free(&p);
  /* A round later nobody took it: b does. */
  sh[2].stale = 1;
  plan_ok(sh, 3, "b", 2, 1, 0, &p);
  ASSERT_EQ(1, p.nclaim);
  ASSERT_EQ(2, p.claim[0]);
  kn_lease_plan_free(&p);
  /* b now holds 2 and ranks first: a stable fleet. */
  sh[2].stale = 0;
  sh[2].owner = "b";
  plan_ok(sh, 3, "b", 2, 1, 0, &p);
  ASSERT_EQ(2, p.target);
  ASSERT_EQ(0, p.nclaim);
  ASSERT_EQ(0, p.nrelease);
  kn_lease_plan_free(&p);
  plan_ok(sh, 3, "a", 2, 1, 0, &p);
  ASSERT_EQ(1, p.target);
  ASSERT_EQ(0, p.nclaim);
  ASSERT_EQ(0, p.nrelease);
  kn_lease_plan_free(&p);
  /* Over the smaller share but within the larger, with nobody lagging, a
   * member keeps what it holds even when the ranking says less: 4 shards,
   * 3 members holding 2, 1 and 1, "b" ranks below "a"... */
  {
    kn_plan_shard_t t[] = {S("p", NULL, NULL), S("q", NULL, NULL),
                           S("r", NULL, NULL), S("s", NULL, NULL)};
    t[0].owner = "c";
    t[1].owner = "c";
    t[2].owner = "a";
    t[3].owner = "b";
    plan_ok(t, 4, "c", 3, 1, 0, &p);
    ASSERT_EQ(2, p.target);
    ASSERT_EQ(0, p.nrelease);
    kn_lease_plan_free(&p);
    /* ...but a member with nothing lags: then the one above its share
     * hands over. 4 shards, 4 members: c holds 2, d nothing. */
    plan_ok(t, 4, "c", 4, 1, 0, &p);
    ASSERT_EQ(1, p.target);
    ASSERT_EQ(1, p.nrelease);
    kn_lease_plan_free(&p);
  }
}


KN_TEST_MAIN(KN_TEST(test_status_trim_horizon),
             KN_TEST(test_status_from_frontier), KN_TEST(test_shares_exact),
             KN_TEST(test_shares_not_exact),
             KN_TEST(test_no_members_and_max_shards), KN_TEST(test_pinned),
             KN_TEST(test_claim_and_release_order), KN_TEST(test_invalid),
             KN_TEST(test_random_graphs), KN_TEST(test_fleet),
             KN_TEST(test_stale_spillover), KN_TEST(test_failmalloc))
