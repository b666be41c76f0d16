#ifndef KN_LEASE_PLAN_H
#define KN_LEASE_PLAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The lease planner: which shards a consumer should claim and which it
 * should hand over, as a pure function of what it knows in one heartbeat
 * round. No I/O, no loop, no clock; the consumer carries out the plan.
 *
 * Each member of an application's fleet runs the same planner on (nearly)
 * the same lease table, so each can work out its own share without talking
 * to the others: the shares are within one of each other, and the members
 * holding the most keep the larger shares, so a stable fleet makes no moves.
 *
 * Shards are found by id through a sorted index: a round is O(n log n) in
 * shards.
 */

/* What the planner decides about each shard. */
enum {
  KN_PLAN_WAIT = 0, /* a parent is not finished yet: not readable now */
  KN_PLAN_READY,    /* readable: every parent finished, skipped or gone */
  KN_PLAN_DONE,     /* finished: read to its end */
  KN_PLAN_SKIP      /* before the start position (LATEST, AT_TIMESTAMP):
                       never read, and it does not hold its children back */
};

/* One shard as the consumer knows it. Strings are borrowed for the call. */
typedef struct kn_plan_shard_s {
  const char* id;
  const char* parent;          /* NULL when none */
  const char* adjacent_parent; /* NULL when none */
  /* The live lease's owner, NULL when the shard is free (never leased,
   * released, or its lease expired). With `exact` unset, any name other
   * than `self` only means "another consumer". */
  const char* owner;
  unsigned open : 1;     /* the listing gives it no ending sequence number */
  unsigned finished : 1; /* the store says it was read to its end */
  /* The store has a record of it (a lease, live or not, a checkpoint, or
   * the finished mark): this application has read it, or is reading it. */
  unsigned known : 1;
  /* Open at the start position (from_frontier only): for LATEST every open
   * shard; for AT_TIMESTAMP the shards ListShards' AT_TIMESTAMP filter
   * names. */
  unsigned frontier : 1;
  /* Held here but not to be handed over now (read to its end and
   * finishing, or already being handed over). Counts as held by `self`
   * whatever `owner` says (its lease may have lapsed), and is neither
   * claimed nor released. */
  unsigned pinned : 1;
  /* Free, and free in the consumer's previous round too: nobody whose
   * share it was took it (a member at its max_shard_consumers, say), so a
   * member below the larger share may take it beyond its own (exact only;
   * see kn_plan_t.target). */
  unsigned stale : 1;
} kn_plan_shard_t;

typedef struct kn_plan_input_s {
  const kn_plan_shard_t* shards;
  size_t nshards;
  const char* self; /* this consumer's owner name */
  /* Live members of the application, self included, as the store last
   * counted them; 0 when unknown (no member op): no fair share, only
   * max_shards. Raised to the number of distinct live owners in the table
   * (and self) when below it. */
  uint32_t members;
  uint32_t max_shards; /* 0: no limit (max_shard_consumers) */
  /* 1 when `owner` names every live lease's real owner (the store can list
   * its leases): shares are exact, floor or ceil of readable / members.
   * 0 when the consumer only knows which shards it holds and which another
   * holds: the share is ceil(readable / members). */
  int exact;
  /* 1 for LATEST and AT_TIMESTAMP without checkpoints: a shard that is an
   * ancestor of a frontier shard and unknown to the store is skipped. 0 for
   * TRIM_HORIZON: every shard is read, parents first. */
  int from_frontier;
} kn_plan_input_t;

typedef struct kn_plan_s {
  /* Indexed like the input's shards. */
  uint8_t* status; /* KN_PLAN_* */
  /* For a shard without a checkpoint: 1 when it starts at the consumer's
   * iterator type, because no parent of it is read by the application
   * (none listed, or all skipped); 0 when it starts at TRIM_HORIZON, after
   * its parents, so that per-key order holds across the reshard. */
  uint8_t* at_position;
  /* Free READY shards to claim, best first, at most target - held. */
  size_t* claim;
  size_t nclaim;
  /* Shards held here (not pinned) to hand over, most expendable first:
   * exactly held - target of them when there are enough. */
  size_t* release;
  size_t nrelease;
  /* This consumer's share, and what it was computed from. SIZE_MAX
   * target: no limit. With `exact`, a member holding more than its share
   * hands the extra over only when it holds more than the larger share,
   * ceil(readable / members), or when another member holds less than the
   * smaller one: a member whose share another could not take (its
   * max_shard_consumers) keeps the stale shard it took, and the fleet
   * settles within one all the same. */
  size_t target;
  size_t readable; /* READY shards plus held ones: what is shared */
  size_t held;     /* shards `self` holds, pinned included */
  size_t ceil_share;  /* the larger share (exact), or `target` */
  int others_lagging; /* another member holds less than the smaller share */
  uint32_t members; /* as used, after raising */
} kn_plan_t;

/*
 * Plans one round. `out` is overwritten; its arrays are allocated with
 * kn_malloc and freed by kn_lease_plan_free() (also after a failure).
 * Returns 0, KINESIS_EINVAL (NULL arguments, no self, a shard without an
 * id, or two shards with one id) or KINESIS_ENOMEM.
 */
int kn_lease_plan(const kn_plan_input_t* in, kn_plan_t* out);
void kn_lease_plan_free(kn_plan_t* plan);

#endif /* KN_LEASE_PLAN_H */
