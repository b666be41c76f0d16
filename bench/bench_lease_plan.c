/* The lease planner (lib/lease_plan.c): microseconds per kn_lease_plan()
 * round at 100, 1,000 and 10,000 shards, the median of repeated rounds.
 *
 * The stream has been resharded: a quarter of the shards are closed parents,
 * read to their end, each split into two children, so half the shards have
 * a parent; the open shards are leased among 4 members. Each member plans
 * in exact mode, from the frontier (LATEST: the ancestor walk runs too).
 * Two tables: a steady one where every share is fair and nothing moves, and
 * one where a member restarts after its leases lapsed, so a quarter of the
 * shards are free for it to rank and claim.
 *
 * It asserts nothing about speed; it fails only when a plan fails or
 * plans something other than expected. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "internal.h"
#include "lease_plan.h"

#define MEMBERS 4


typedef struct stream_s {
  size_t n;
  char (*ids)[32];
  kn_plan_shard_t* shards;
} stream_t;


static const char* const members[MEMBERS] = {"consumer-a", "consumer-b",
                                             "consumer-c", "consumer-d"};


/* n / 2 roots, of which n / 4 split into n / 2 children. The input is in
 * the order ListShards gives: by id, parents before children. */
static int stream_build(stream_t* s, size_t n) {
  size_t roots = n / 2;
  size_t split = n / 4;
  size_t i;
  size_t open = 0;

  s->n = roots + 2 * split;
  s->ids = calloc(s->n, sizeof(*s->ids));
  s->shards = calloc(s->n, sizeof(*s->shards));
  if (s->ids == NULL || s->shards == NULL)
    return -1;
  for (i = 0; i < s->n; i++) {
    kn_plan_shard_t* sh = &s->shards[i];
    snprintf(s->ids[i], sizeof(s->ids[i]), "shardId-%012zu", i);
    sh->id = s->ids[i];
    if (i < split) {
      /* A parent, split and read to its end. */
      sh->finished = 1;
      sh->known = 1;
      continue;
    }
    if (i >= roots)
      sh->parent = s->ids[(i - roots) / 2];
    sh->open = 1;
    sh->frontier = 1;
    sh->known = 1;
    sh->owner = members[open++ % MEMBERS];
  }
  return 0;
}


static void stream_free(stream_t* s) {
  free(s->ids);
  free(s->shards);
}


static int compare_doubles(const void* a, const void* b) {
  double x = *(const double*) a;
  double y = *(const double*) b;
  return x < y ? -1 : x > y;
}


/* The median time of `reps` rounds, in microseconds; -1 when a plan fails,
 * releases, or claims (`claims`) or not as expected. */
static double median_round_us(const kn_plan_input_t* in, int reps, int claims) {
  double* t = malloc((size_t) reps * sizeof(*t));
  double median;
  int k;

  if (t == NULL)
    return -1;
  for (k = 0; k < reps; k++) {
    kn_plan_t p;
    uint64_t t0 = uv_hrtime();
    int r = kn_lease_plan(in, &p);
    t[k] = (double) (uv_hrtime() - t0) / 1e3;
    if (r != 0 || (p.nclaim > 0) != claims || p.nrelease != 0) {
      fprintf(stderr, "bench_lease_plan: %s, %zu claims, %zu releases\n",
              kinesis_strerror(r), p.nclaim, p.nrelease);
      kn_lease_plan_free(&p);
      free(t);
      return -1;
    }
    kn_lease_plan_free(&p);
  }
  qsort(t, (size_t) reps, sizeof(*t), compare_doubles);
  median = t[reps / 2];
  free(t);
  return median;
}


static int bench_size(size_t n) {
  stream_t s;
  kn_plan_input_t in;
  double steady;
  double lapsed;
  size_t i;
  int reps = n >= 10000 ? 101 : 1001;

  if (stream_build(&s, n) != 0)
    return 1;
  memset(&in, 0, sizeof(in));
  in.shards = s.shards;
  in.nshards = s.n;
  in.self = members[1];
  in.members = MEMBERS;
  in.exact = 1;
  in.from_frontier = 1;
  steady = median_round_us(&in, reps, 0);

  /* consumer-d restarts: its leases lapsed, and it ranks and claims them
   * back. */
  for (i = 0; i < s.n; i++)
    if (s.shards[i].owner == members[3])
      s.shards[i].owner = NULL;
  in.self = members[3];
  lapsed = median_round_us(&in, reps, 1);
  stream_free(&s);
  if (steady < 0 || lapsed < 0)
    return 1;
  printf(
      "lease plan, %6zu shards: %9.1f us/round steady, %9.1f us/round "
      "with a quarter free (median of %d)\n",
      n, steady, lapsed, reps);
  return 0;
}


int main(void) {
  if (bench_size(100) != 0 || bench_size(1000) != 0 || bench_size(10000) != 0) {
    fprintf(stderr, "bench_lease_plan: a step failed\n");
    return 1;
  }
  return 0;
}
