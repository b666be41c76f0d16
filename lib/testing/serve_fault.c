/*
 * The fake service's fault decisions (serve_fault.h). The generator is
 * xorshift64*, seeded from the faults' seed (0: a fixed default) through
 * splitmix64 so that small seeds differ from the first draw. A fraction of
 * 0 or 1 draws nothing: the decisions of the other faults do not depend on
 * it.
 */

#include "serve_fault.h"

#include "../internal.h"

#include <string.h>


#define DEFAULT_SEED 0x6b696e65736973ull /* "kinesis" */


static uint64_t next_random(kn_serve_fault_t* s) {
  s->rng ^= s->rng >> 12;
  s->rng ^= s->rng << 25;
  s->rng ^= s->rng >> 27;
  return s->rng * 2685821657736338717ull;
}


/* 1 with probability p. */
static int draw(kn_serve_fault_t* s, double p) {
  if (!(p > 0))
    return 0;
  if (p >= 1)
    return 1;
  /* 53 bits: a double in [0, 1). */
  return (double) (next_random(s) >> 11) * (1.0 / 9007199254740992.0) < p;
}


static int fraction_ok(double p) {
  return p >= 0 && p <= 1; /* false for NaN */
}


int kn_serve_fault_check(const kinesis_serve_faults_t* f) {
  if (!fraction_ok(f->throttle) || !fraction_ok(f->error_5xx) ||
      !fraction_ok(f->partial) || !fraction_ok(f->drop_before) ||
      !fraction_ok(f->drop_after))
    return KINESIS_EINVAL;
  return 0;
}


void kn_serve_fault_set(kn_serve_fault_t* s, const kinesis_serve_faults_t* f) {
  uint64_t z;

  memset(&s->f, 0, sizeof(s->f));
  if (f != NULL)
    s->f = *f;
  s->f.size = sizeof(s->f);
  /* splitmix64 of the seed: never 0, as xorshift needs. */
  z = (s->f.seed != 0 ? s->f.seed : DEFAULT_SEED) + 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  s->rng = z != 0 ? z : DEFAULT_SEED;
}


int kn_serve_fault_data_plane(const char* op) {
  return strcmp(op, "PutRecord") == 0 || strcmp(op, "PutRecords") == 0 ||
         strcmp(op, "GetRecords") == 0 || strcmp(op, "GetShardIterator") == 0;
}


kn_serve_fault_kind_t kn_serve_fault_before(kn_serve_fault_t* s,
                                            const char* op) {
  if (draw(s, s->f.drop_before))
    return KN_FAULT_DROP;
  if (kn_serve_fault_data_plane(op) && draw(s, s->f.throttle))
    return KN_FAULT_THROTTLE;
  if (draw(s, s->f.error_5xx))
    return draw(s, 0.5) ? KN_FAULT_503 : KN_FAULT_500;
  return KN_FAULT_NONE;
}


int kn_serve_fault_drop_after(kn_serve_fault_t* s) {
  return draw(s, s->f.drop_after);
}


const char* kn_serve_fault_entry(void* arg) {
  kn_serve_fault_t* s = arg;
  if (!draw(s, s->f.partial))
    return NULL;
  return draw(s, 0.5) ? "InternalFailure"
                      : "ProvisionedThroughputExceededException";
}
