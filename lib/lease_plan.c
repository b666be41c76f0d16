#include "lease_plan.h"
#include "internal.h"

#include <string.h>

/* A parent that the input does not list. */
#define NO_SHARD SIZE_MAX

/* The index: shard ids in strcmp order, each with its place in the input. */
typedef struct id_entry_s {
  const char* id;
  size_t i;
} id_entry_t;

/* A member named in the table, and how many shards it holds: a slot of an
 * open-addressing table keyed by name. */
typedef struct owner_s {
  const char* name; /* NULL: a free slot */
  uint64_t hash;
  size_t count;
} owner_t;

/* A shard to claim or release, with the key that orders it. */
typedef struct ranked_s {
  uint64_t key;
  const char* id;
  size_t i;
} ranked_t;


static int compare_ids(const void* a, const void* b) {
  const id_entry_t* x = a;
  const id_entry_t* y = b;
  return strcmp(x->id, y->id);
}


/* By key, then by id: ids are unique, so the order is total and every
 * member that sees the same table lists the same shards. */
static int compare_ranked(const void* a, const void* b) {
  const ranked_t* x = a;
  const ranked_t* y = b;
  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return strcmp(x->id, y->id);
}


/* The input place of the shard named `id`, or NO_SHARD when it is not
 * listed (aged out of the stream) or `id` is NULL. */
static size_t find_shard(const id_entry_t* index, size_t n, const char* id) {
  size_t lo = 0;
  size_t hi = n;
  if (id == NULL)
    return NO_SHARD;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(id, index[mid].id);
    if (c == 0)
      return index[mid].i;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NO_SHARD;
}


#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL


/* 64-bit FNV-1a of `s`, continuing from `h`. */
static uint64_t fnv1a(uint64_t h, const char* s) {
  const unsigned char* p;
  for (p = (const unsigned char*) s; *p != '\0'; p++)
    h = (h ^ *p) * FNV_PRIME;
  return h;
}


/* FNV-1a over `self`, a NUL, then `id`. Each member orders the free shards
 * its own way, so members that start together try different shards first
 * instead of racing for the same ones. The NUL (h ^ 0 == h, then the
 * multiplication) keeps ("ab", "c") apart from ("a", "bc"). */
static uint64_t spread_hash(const char* self, const char* id) {
  return fnv1a(fnv1a(FNV_OFFSET, self) * FNV_PRIME, id);
}


/* A pinned shard is being finished or handed over here, so it is ours
 * whatever the table says of its lease (which may have lapsed). */
static int is_mine(const kn_plan_shard_t* s, const char* self) {
  return s->pinned || (s->owner != NULL && strcmp(s->owner, self) == 0);
}


/* Marks every ancestor of a frontier shard in `mark`. A shard is pushed
 * when it is first marked, so the walk is O(n) in all however many
 * frontier shards share their ancestors. */
static void mark_ancestors(const kn_plan_shard_t* sh, size_t n,
                           const size_t* parents, uint8_t* mark,
                           size_t* stack) {
  size_t top = 0;
  size_t i;
  int k;

  memset(mark, 0, n);
  for (i = 0; i < n; i++) {
    if (!sh[i].frontier)
      continue;
    stack[top++] = i;
    while (top > 0) {
      size_t j = stack[--top];
      for (k = 0; k < 2; k++) {
        size_t p = parents[2 * j + k];
        if (p != NO_SHARD && !mark[p]) {
          mark[p] = 1;
          stack[top++] = p;
        }
      }
    }
  }
}


/* Sets the statuses and at_position. */
static int plan_status(const kn_plan_input_t* in, const size_t* parents,
                       kn_plan_t* out) {
  const kn_plan_shard_t* sh = in->shards;
  size_t n = in->nshards;
  size_t i;
  int k;

  for (i = 0; i < n; i++)
    out->status[i] = sh[i].finished ? KN_PLAN_DONE : KN_PLAN_WAIT;

  if (in->from_frontier) {
    /* at_position serves as the mark until it is computed below. A
     * frontier shard itself is never skipped: it is where reading starts.
     * A known ancestor is read, since the application has been there. */
    size_t* stack = kn_malloc(n * sizeof(*stack));
    if (stack == NULL)
      return KINESIS_ENOMEM;
    mark_ancestors(sh, n, parents, out->at_position, stack);
    kn_free(stack);
    for (i = 0; i < n; i++)
      if (out->at_position[i] && !sh[i].finished && !sh[i].known &&
          !sh[i].frontier)
        out->status[i] = KN_PLAN_SKIP;
  }

  /* DONE and SKIP are settled, and READY depends on nothing else, so one
   * pass in any order is enough. */
  for (i = 0; i < n; i++) {
    int ready = 1;
    int at_position = 1;
    for (k = 0; k < 2; k++) {
      size_t p = parents[2 * i + k];
      if (p == NO_SHARD)
        continue;
      if (out->status[p] != KN_PLAN_DONE && out->status[p] != KN_PLAN_SKIP)
        ready = 0;
      if (out->status[p] != KN_PLAN_SKIP)
        at_position = 0;
    }
    if (out->status[i] == KN_PLAN_WAIT && ready)
      out->status[i] = KN_PLAN_READY;
    out->at_position[i] = (uint8_t) at_position;
  }
  return 0;
}


/* Counts, in an open-addressing table of `cap` slots (a power of two),
 * the shards each other member holds; returns how many members that is.
 * One hash and, mostly, one comparison per shard: this runs every round. */
static size_t count_owners(const kn_plan_shard_t* sh, size_t n,
                           const uint8_t* mine, owner_t* owners, size_t cap) {
  size_t named = 0;
  size_t i;

  for (i = 0; i < n; i++) {
    const char* name = sh[i].owner;
    uint64_t h;
    size_t j;
    if (mine[i] || name == NULL)
      continue;
    h = fnv1a(FNV_OFFSET, name);
    for (j = (size_t) h & (cap - 1); owners[j].name != NULL;
         j = (j + 1) & (cap - 1)) {
      if (owners[j].name == name ||
          (owners[j].hash == h && strcmp(owners[j].name, name) == 0))
        break;
    }
    if (owners[j].name == NULL) {
      owners[j].name = name;
      owners[j].hash = h;
      named++;
    }
    owners[j].count++;
  }
  return named;
}


/* This member's share of `readable`, from what every member holds. Fills
 * `mine` with the shards self holds. */
static int plan_share(const kn_plan_input_t* in, uint8_t* mine,
                      kn_plan_t* out) {
  const kn_plan_shard_t* sh = in->shards;
  const char* self = in->self;
  size_t n = in->nshards;
  size_t nothers = 0;
  size_t named = 1; /* self */
  size_t ahead = 0;
  size_t lagging = 0; /* other named members below the smaller share */
  size_t members;
  size_t floor_share;
  size_t i;

  out->readable = 0;
  out->held = 0;
  for (i = 0; i < n; i++) {
    mine[i] = (uint8_t) is_mine(&sh[i], self);
    if (mine[i])
      out->held++;
    else if (sh[i].owner != NULL)
      nothers++;
    else if (out->status[i] != KN_PLAN_READY)
      continue;
    out->readable++;
  }

  /* The members: self, those named in the table, and as many more as the
   * count says, holding nothing. */
  owner_t* owners = NULL;
  size_t cap = 4;
  if (nothers > 0) {
    while (cap < 2 * nothers)
      cap *= 2;
    owners = kn_calloc(cap, sizeof(*owners));
    if (owners == NULL)
      return KINESIS_ENOMEM;
    named += count_owners(sh, n, mine, owners, cap);
  }
  members = in->members > named ? in->members : named;
  out->members = members > UINT32_MAX ? UINT32_MAX : (uint32_t) members;
  floor_share = out->readable / members;

  /* `ahead` counts the other members that rank before self: more shards,
   * or as many and a smaller name; `lagging` those below the smaller
   * share, the members holding nothing included. */
  for (i = 0; owners != NULL && i < cap; i++) {
    if (owners[i].name == NULL)
      continue;
    if (owners[i].count > out->held ||
        (owners[i].count == out->held && strcmp(owners[i].name, self) < 0))
      ahead++;
    if (owners[i].count < floor_share)
      lagging++;
  }
  kn_free(owners);
  if (floor_share > 0)
    lagging += members - named;
  out->others_lagging = lagging > 0;
  out->ceil_share = floor_share + (out->readable % members != 0 ? 1 : 0);

  if (in->members == 0) {
    out->target = SIZE_MAX;
  } else if (in->exact) {
    /* Members that are in the table by name rank by what they hold, most
     * first, then by name; those that hold nothing and so appear nowhere
     * rank last. The first N % m ranks get one more. Every member computes
     * the same ranking, so the shares add up to N, and the members that
     * already hold the larger shares keep them: a stable fleet stays
     * still. */
    size_t base = out->readable / members;
    size_t extra = out->readable % members;
    out->target = base + (ahead < extra ? 1 : 0);
  } else {
    out->target =
        out->readable / members + (out->readable % members != 0 ? 1 : 0);
  }
  if (in->max_shards != 0 && out->target > in->max_shards)
    out->target = in->max_shards;
  if (!in->exact || in->members == 0 || out->ceil_share < out->target)
    out->ceil_share = out->target;
  if (in->max_shards != 0 && out->ceil_share > in->max_shards)
    out->ceil_share = in->max_shards;
  return 0;
}


/* Whether shard i is one to claim (free and READY) or, `releasing`, one
 * that may be handed over (ours and not pinned). */
static int is_candidate(const kn_plan_input_t* in, const uint8_t* mine,
                        const kn_plan_t* out, int releasing, size_t i) {
  const kn_plan_shard_t* s = &in->shards[i];
  if (releasing)
    return !s->pinned && mine[i];
  return s->owner == NULL && !s->pinned && !s->finished &&
         out->status[i] == KN_PLAN_READY;
}


/* Free READY shards that stayed free a whole round. */
static size_t count_stale(const kn_plan_input_t* in, const uint8_t* mine,
                          const kn_plan_t* out) {
  size_t n = 0;
  size_t i;
  for (i = 0; i < in->nshards; i++)
    n += in->shards[i].stale && is_candidate(in, mine, out, 0, i);
  return n;
}


/* Lists in `*list` the first `want` candidates (see is_candidate) in the
 * order of the spread hash: ascending to claim, descending to release. */
static int plan_pick(const kn_plan_input_t* in, const uint8_t* mine,
                     const kn_plan_t* out, int releasing, size_t want,
                     size_t** list, size_t* nlist) {
  const kn_plan_shard_t* sh = in->shards;
  size_t n = in->nshards;
  ranked_t* cands;
  size_t ncands = 0;
  size_t i;

  for (i = 0; i < n; i++)
    if (is_candidate(in, mine, out, releasing, i))
      ncands++;
  if (want > ncands)
    want = ncands;
  if (want == 0)
    return 0;

  cands = kn_malloc(ncands * sizeof(*cands));
  if (cands == NULL)
    return KINESIS_ENOMEM;
  ncands = 0;
  for (i = 0; i < n; i++) {
    if (is_candidate(in, mine, out, releasing, i)) {
      uint64_t h = spread_hash(in->self, sh[i].id);
      /* A member releases the shards it would claim last. */
      cands[ncands].key = releasing ? ~h : h;
      cands[ncands].id = sh[i].id;
      cands[ncands].i = i;
      ncands++;
    }
  }
  qsort(cands, ncands, sizeof(*cands), compare_ranked);

  *list = kn_malloc(want * sizeof(**list));
  if (*list == NULL) {
    kn_free(cands);
    return KINESIS_ENOMEM;
  }
  for (i = 0; i < want; i++)
    (*list)[i] = cands[i].i;
  *nlist = want;
  kn_free(cands);
  return 0;
}


int kn_lease_plan(const kn_plan_input_t* in, kn_plan_t* out) {
  id_entry_t* index = NULL;
  size_t* parents = NULL;
  uint8_t* mine = NULL;
  size_t n;
  size_t i;
  int r;

  if (out == NULL)
    return KINESIS_EINVAL;
  memset(out, 0, sizeof(*out));
  if (in == NULL || in->self == NULL || in->self[0] == '\0' ||
      (in->shards == NULL && in->nshards > 0))
    return KINESIS_EINVAL;
  n = in->nshards;
  for (i = 0; i < n; i++)
    if (in->shards[i].id == NULL)
      return KINESIS_EINVAL;

  /* The sizes below cannot overflow: the input already holds n shards of
   * more than 2 * sizeof(size_t) bytes each (and the owners' table is a
   * kn_calloc, which checks its product). */
  index = kn_malloc(n * sizeof(*index));
  if (index == NULL)
    return KINESIS_ENOMEM;
  for (i = 0; i < n; i++) {
    index[i].id = in->shards[i].id;
    index[i].i = i;
  }
  qsort(index, n, sizeof(*index), compare_ids);
  for (i = 1; i < n; i++) {
    if (strcmp(index[i - 1].id, index[i].id) == 0) {
      kn_free(index);
      return KINESIS_EINVAL;
    }
  }

  r = KINESIS_ENOMEM;
  parents = kn_malloc(2 * n * sizeof(*parents));
  if (parents == NULL)
    goto fail;
  for (i = 0; i < n; i++) {
    parents[2 * i] = find_shard(index, n, in->shards[i].parent);
    parents[2 * i + 1] = find_shard(index, n, in->shards[i].adjacent_parent);
  }
  kn_free(index);
  index = NULL;

  out->status = kn_malloc(n);
  out->at_position = kn_malloc(n);
  if (out->status == NULL || out->at_position == NULL)
    goto fail;
  r = plan_status(in, parents, out);
  if (r != 0)
    goto fail;
  kn_free(parents);
  parents = NULL;

  r = KINESIS_ENOMEM;
  mine = kn_malloc(n);
  if (mine == NULL)
    goto fail;
  r = plan_share(in, mine, out);
  if (r == 0 && out->held < out->ceil_share) {
    /* Its share; and, of shards nobody took for a whole round, up to the
     * larger share. */
    size_t room = out->ceil_share - out->held;
    size_t want = out->held < out->target ? out->target - out->held : 0;
    if (want < room) {
      size_t spill = count_stale(in, mine, out);
      want += spill < room - want ? spill : room - want;
    }
    if (want > 0)
      r = plan_pick(in, mine, out, 0, want, &out->claim, &out->nclaim);
  } else if (r == 0 && out->held > out->target &&
             (out->held > out->ceil_share || out->others_lagging)) {
    r = plan_pick(in, mine, out, 1, out->held - out->target, &out->release,
                  &out->nrelease);
  }
  if (r != 0)
    goto fail;
  kn_free(mine);
  return 0;

fail:
  kn_free(index);
  kn_free(parents);
  kn_free(mine);
  kn_lease_plan_free(out);
  return r;
}


void kn_lease_plan_free(kn_plan_t* plan) {
  if (plan == NULL)
    return;
  kn_free(plan->status);
  kn_free(plan->at_position);
  kn_free(plan->claim);
  kn_free(plan->release);
  memset(plan, 0, sizeof(*plan));
}
