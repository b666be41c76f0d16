/* The memory checkpointer: leases and checkpoints in this process's memory.
 *
 * Every operation decides its outcome when it is called, changes the store at
 * once, and queues a completion that carries a private copy of the answer. A
 * kn_defer_t (lib/defer.h) drains the queue in FIFO order on a later loop
 * iteration, so callbacks are never synchronous and see a checkpoint that later
 * operations cannot change under them. */

#include "checkpoint.h"
#include "internal.h"

#include <string.h>

#include "client.h"
#include "defer.h"
#include "validate.h"

#define DEFAULT_SESSION_TIMEOUT_MS 10000
#define INITIAL_BUCKETS 16

/* One (stream, shard). The key is "stream\0shard", stored after the struct. */
typedef struct entry_s {
  struct entry_s* next; /* Hash chain. */
  uint32_t hash;
  char* owner;        /* NULL when nobody holds the lease. */
  uint64_t heartbeat; /* uv_now() of the last claim or heartbeat. */
  char* seq;          /* NULL when the shard has no checkpoint. */
  uint32_t sub_sequence_number;
  int partial;
  int finished;
  size_t keylen;
  char key[];
} entry_t;

/* One owner live on a stream (see mem_member). The key is "stream\0owner",
 * stored after the struct. */
typedef struct member_s {
  struct member_s* next;
  uint64_t seen; /* uv_now() of its last call. */
  size_t keylen;
  char key[];
} member_t;

typedef enum {
  COMPLETION_STATE,
  COMPLETION_PLAIN,
  COMPLETION_MEMBERS,
  COMPLETION_LEASES
} completion_kind_t;

/* A decided answer waiting for its callback. The sequence number, when there
 * is one, is stored after the struct; so are a leases answer's entries and
 * their strings (see completion_leases_alloc). */
typedef struct completion_s {
  kn_defer_item_t item;
  completion_kind_t kind;
  kinesis_ckpt_state_cb state_cb;
  kinesis_ckpt_cb cb;
  kinesis_ckpt_members_cb members_cb;
  kinesis_ckpt_leases_cb leases_cb;
  void* arg;
  int status;
  uint32_t live_members;
  kinesis_checkpoint_t checkpoint;
  kinesis_lease_t* leases;
  size_t nleases;
  char seq[];
} completion_t;

typedef struct mem_store_s {
  /* The public object, freed together with the store (see
   * kinesis_checkpointer_memory_new). */
  kinesis_checkpointer_t pub;
  kn_ckpt_base_t base; /* the client, and the close's slot */
  uv_loop_t* loop;
  uint64_t session_timeout_ms;
  entry_t** buckets;
  size_t nbuckets; /* A power of two. */
  size_t nentries;
  /* Memberships of every stream, in no order. There are as many as there
   * are consumers, so a list is enough. */
  member_t* members;
  kn_defer_t defer; /* completion_t, oldest first; its depth counts the
                     * callbacks running. */
  /* KN_LIFE_CLOSING: close() was called, new operations are refused.
   * KN_LIFE_FREEING: uv_close() was called on the idle handle. */
  kn_life_t life;
  kinesis_ckpt_cb close_cb;
  void* close_arg;
} mem_store_t;


static void on_idle_closed(uv_handle_t* handle);


/* ---- The map ---- */


/* Writes "stream\0shard" into `buf`, which holds its length. */
static void make_key(const char* stream, const char* shard_id, char* buf) {
  size_t slen = strlen(stream);
  memcpy(buf, stream, slen + 1);
  memcpy(buf + slen + 1, shard_id, strlen(shard_id));
}


/* Finds the entry of (stream, shard_id). `hash_out`, if not NULL, receives
 * the FNV-1a hash of "stream\0shard", for an insert after a miss. */
static entry_t* map_find(const mem_store_t* m, const char* stream,
                         const char* shard_id, uint32_t* hash_out) {
  size_t slen = strlen(stream);
  size_t hlen = strlen(shard_id);
  size_t len = slen + 1 + hlen;
  uint32_t h = 2166136261u;
  entry_t* e;
  size_t i;

  /* FNV-1a of "stream\0shard", without building the key. */
  for (i = 0; i < slen; i++) {
    h ^= (uint8_t) stream[i];
    h *= 16777619u;
  }
  h *= 16777619u; /* The NUL separator: h ^= 0. */
  for (i = 0; i < hlen; i++) {
    h ^= (uint8_t) shard_id[i];
    h *= 16777619u;
  }
  if (hash_out != NULL)
    *hash_out = h;

  for (e = m->buckets[h & (m->nbuckets - 1)]; e != NULL; e = e->next) {
    if (e->hash == h && e->keylen == len &&
        memcmp(e->key, stream, slen + 1) == 0 &&
        memcmp(e->key + slen + 1, shard_id, hlen) == 0)
      return e;
  }
  return NULL;
}


/* Doubles the bucket array when the load passes 1. A failed allocation only
 * leaves the chains longer, so it is not an error. */
static void map_maybe_grow(mem_store_t* m) {
  entry_t** nb;
  size_t n;
  size_t i;

  if (m->nentries <= m->nbuckets)
    return;
  n = m->nbuckets * 2;
  nb = kn_calloc(n, sizeof(*nb));
  if (nb == NULL)
    return;
  for (i = 0; i < m->nbuckets; i++) {
    entry_t* e = m->buckets[i];
    while (e != NULL) {
      entry_t* next = e->next;
      e->next = nb[e->hash & (n - 1)];
      nb[e->hash & (n - 1)] = e;
      e = next;
    }
  }
  kn_free(m->buckets);
  m->buckets = nb;
  m->nbuckets = n;
}


static entry_t* entry_alloc(const char* stream, const char* shard_id,
                            uint32_t hash) {
  size_t len = strlen(stream) + 1 + strlen(shard_id);
  entry_t* e = kn_calloc(1, sizeof(*e) + len);
  if (e == NULL)
    return NULL;
  make_key(stream, shard_id, e->key);
  e->keylen = len;
  e->hash = hash;
  return e;
}


static void map_insert(mem_store_t* m, entry_t* e) {
  size_t b = e->hash & (m->nbuckets - 1);
  e->next = m->buckets[b];
  m->buckets[b] = e;
  m->nentries++;
  map_maybe_grow(m);
}


static void map_free(mem_store_t* m) {
  size_t i;
  for (i = 0; i < m->nbuckets; i++) {
    entry_t* e = m->buckets[i];
    while (e != NULL) {
      entry_t* next = e->next;
      kn_free(e->owner);
      kn_free(e->seq);
      kn_free(e);
      e = next;
    }
  }
  kn_free(m->buckets);
  m->buckets = NULL;
}


static void members_free(mem_store_t* m) {
  while (m->members != NULL) {
    member_t* next = m->members->next;
    kn_free(m->members);
    m->members = next;
  }
}


/* ---- Completions ---- */


/* A completion for a state callback, carrying a copy of `e`'s checkpoint
 * (an empty one when `e` is NULL). */
static completion_t* completion_state_alloc(const entry_t* e,
                                            kinesis_ckpt_state_cb cb,
                                            void* arg) {
  size_t seqlen = (e != NULL && e->seq != NULL) ? strlen(e->seq) + 1 : 0;
  completion_t* c = kn_calloc(1, sizeof(*c) + seqlen);
  if (c == NULL)
    return NULL;
  c->kind = COMPLETION_STATE;
  c->state_cb = cb;
  c->arg = arg;
  if (e != NULL) {
    if (e->seq != NULL) {
      memcpy(c->seq, e->seq, seqlen);
      c->checkpoint.sequence_number = c->seq;
    }
    c->checkpoint.sub_sequence_number = e->sub_sequence_number;
    c->checkpoint.partial = e->partial;
    c->checkpoint.finished = e->finished;
  }
  return c;
}


static completion_t* completion_members_alloc(kinesis_ckpt_members_cb cb,
                                              void* arg) {
  completion_t* c = kn_calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->kind = COMPLETION_MEMBERS;
  c->members_cb = cb;
  c->arg = arg;
  return c;
}


static completion_t* completion_plain_alloc(kinesis_ckpt_cb cb, void* arg) {
  completion_t* c = kn_calloc(1, sizeof(*c));
  if (c == NULL)
    return NULL;
  c->kind = COMPLETION_PLAIN;
  c->cb = cb;
  c->arg = arg;
  return c;
}


/* Where a leases completion's entries start: after the struct, aligned for
 * them. */
#define LEASES_OFFSET                                       \
  ((sizeof(completion_t) + _Alignof(kinesis_lease_t) - 1) / \
   _Alignof(kinesis_lease_t) * _Alignof(kinesis_lease_t))


/* A completion for a leases callback: `n` entries and `strings` bytes for
 * their ids and owners, in one block, so that it is freed like the others. */
static completion_t* completion_leases_alloc(size_t n, size_t strings,
                                             kinesis_ckpt_leases_cb cb,
                                             void* arg) {
  completion_t* c;
  size_t size;

  if (n > (SIZE_MAX - LEASES_OFFSET) / sizeof(kinesis_lease_t))
    return NULL;
  size = LEASES_OFFSET + n * sizeof(kinesis_lease_t);
  if (strings > SIZE_MAX - size)
    return NULL;
  c = kn_calloc(1, size + strings);
  if (c == NULL)
    return NULL;
  c->kind = COMPLETION_LEASES;
  c->leases_cb = cb;
  c->arg = arg;
  c->leases = (kinesis_lease_t*) ((char*) c + LEASES_OFFSET);
  c->nleases = n;
  return c;
}


static void completion_run(kn_defer_item_t* item) {
  completion_t* c = container_of(item, completion_t, item);
  if (c->kind == COMPLETION_STATE)
    c->state_cb(c->status, &c->checkpoint, c->arg);
  else if (c->kind == COMPLETION_MEMBERS)
    c->members_cb(c->status, c->live_members, c->arg);
  else if (c->kind == COMPLETION_LEASES)
    c->leases_cb(c->status, c->leases, c->nleases, c->arg);
  else
    c->cb(c->status, c->arg);
  /* The store is freed only from a uv close callback, so it is still valid
   * after the callback even if it closed it. */
  kn_free(c);
}


/* Queues `c` with `status`; it runs on a later tick. */
static void completion_queue(mem_store_t* m, completion_t* c, int status) {
  c->status = status;
  kn_defer_add(&m->defer, &c->item, completion_run);
}


/* Once closing and nothing is left to deliver, closes the handle; its close
 * callback notifies the user and frees everything. */
static void store_maybe_finish_close(mem_store_t* m) {
  if (!kn_life_closing(&m->life) || kn_life_freeing(&m->life) ||
      !kn_defer_empty(&m->defer))
    return;
  kn_life_begin_free(&m->life);
  kn_defer_close(&m->defer, NULL, on_idle_closed);
}


/* After a tick that delivered everything queued. */
static void on_defer_empty(kn_defer_t* d) {
  store_maybe_finish_close(d->idle.data);
}


static void on_idle_closed(uv_handle_t* handle) {
  mem_store_t* m = handle->data;
  kinesis_ckpt_cb cb = m->close_cb;
  void* arg = m->close_arg;

  /* The client may close from the callback. KN_LIFE_CLOSING is still set, so
   * anything the callback calls is refused with KINESIS_ECLOSING before the
   * memory goes. */
  kn_client_child_remove(m->base.client);
  (void) KN_LIFE_INVOKE(&m->defer.life, cb(0, arg));
  KN_ASSERT(kn_queue_empty(&m->defer.items));
  map_free(m);
  members_free(m);
  kn_free(m);
}


/* ---- Operations ---- */


/* The common checks of every operation but get. */
static int check_lease_args(const mem_store_t* m, const char* stream,
                            const char* shard_id, const char* owner,
                            int has_cb) {
  if (m == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(shard_id) ||
      !kn_valid_nonempty(owner) || !has_cb)
    return KINESIS_EINVAL;
  if (kn_life_closing(&m->life))
    return KINESIS_ECLOSING;
  return 0;
}


static int owned_by(const entry_t* e, const char* owner) {
  return e != NULL && e->owner != NULL && strcmp(e->owner, owner) == 0;
}


static int mem_claim(void* self, const char* stream, const char* shard_id,
                     const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  mem_store_t* m = self;
  entry_t* e;
  entry_t* fresh = NULL;
  char* owner_copy = NULL;
  completion_t* c;
  uint64_t now;
  uint32_t hash;
  int r;

  r = check_lease_args(m, stream, shard_id, owner, cb != NULL);
  if (r != 0)
    return r;
  now = uv_now(m->loop);
  e = map_find(m, stream, shard_id, &hash);

  if (e != NULL && e->owner != NULL && strcmp(e->owner, owner) != 0 &&
      now - e->heartbeat <= m->session_timeout_ms) {
    /* Another live owner: refuse, but show where the shard stands. */
    c = completion_state_alloc(e, cb, arg);
    if (c == NULL)
      return KINESIS_ENOMEM;
    completion_queue(m, c, KINESIS_ELEASED);
    return 0;
  }

  /* Allocate everything first, so a failure changes nothing. */
  if (e == NULL) {
    fresh = entry_alloc(stream, shard_id, hash);
    if (fresh == NULL)
      return KINESIS_ENOMEM;
  }
  if (!owned_by(e, owner)) {
    owner_copy = kn_strdup(owner);
    if (owner_copy == NULL) {
      kn_free(fresh);
      return KINESIS_ENOMEM;
    }
  }
  c = completion_state_alloc(e, cb, arg);
  if (c == NULL) {
    kn_free(owner_copy);
    kn_free(fresh);
    return KINESIS_ENOMEM;
  }

  if (fresh != NULL) {
    map_insert(m, fresh);
    e = fresh;
  }
  if (owner_copy != NULL) {
    kn_free(e->owner);
    e->owner = owner_copy;
  }
  e->heartbeat = now;
  completion_queue(m, c, 0);
  return 0;
}


static int mem_checkpoint(void* self, const char* stream, const char* shard_id,
                          const char* owner,
                          const kinesis_checkpoint_t* position,
                          kinesis_ckpt_cb cb, void* arg) {
  mem_store_t* m = self;
  entry_t* e;
  completion_t* c;
  char* seq;
  int r;

  r = check_lease_args(m, stream, shard_id, owner, cb != NULL);
  if (r != 0)
    return r;
  if (position == NULL || !kn_valid_sequence_number(position->sequence_number))
    return KINESIS_EINVAL;
  c = completion_plain_alloc(cb, arg);
  if (c == NULL)
    return KINESIS_ENOMEM;
  e = map_find(m, stream, shard_id, NULL);
  if (!owned_by(e, owner)) {
    /* Fencing: a consumer that lost its lease writes nothing. */
    completion_queue(m, c, KINESIS_ELEASELOST);
    return 0;
  }
  seq = kn_strdup(position->sequence_number);
  if (seq == NULL) {
    kn_free(c);
    return KINESIS_ENOMEM;
  }
  kn_free(e->seq);
  e->seq = seq;
  e->sub_sequence_number = position->sub_sequence_number;
  e->partial = position->partial ? 1 : 0;
  /* `finished` is changed only by finish, which also frees the lease. */
  completion_queue(m, c, 0);
  return 0;
}


/* What heartbeat, finish and release do to a lease its owner holds. */
typedef enum { LEASE_RENEW, LEASE_FINISH, LEASE_RELEASE } lease_op_t;


/* The three operations that need only the owner to hold the lease. */
static int mem_owned_op(mem_store_t* m, const char* stream,
                        const char* shard_id, const char* owner,
                        lease_op_t op, kinesis_ckpt_cb cb, void* arg) {
  entry_t* e;
  completion_t* c;
  int r;

  r = check_lease_args(m, stream, shard_id, owner, cb != NULL);
  if (r != 0)
    return r;
  c = completion_plain_alloc(cb, arg);
  if (c == NULL)
    return KINESIS_ENOMEM;
  e = map_find(m, stream, shard_id, NULL);
  if (!owned_by(e, owner)) {
    completion_queue(m, c, KINESIS_ELEASELOST);
    return 0;
  }
  if (op == LEASE_RENEW) {
    e->heartbeat = uv_now(m->loop);
  } else {
    /* Finish and release both free the lease; finish marks the shard. */
    if (op == LEASE_FINISH)
      e->finished = 1;
    kn_free(e->owner);
    e->owner = NULL;
  }
  completion_queue(m, c, 0);
  return 0;
}


static int mem_heartbeat(void* self, const char* stream, const char* shard_id,
                         const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return mem_owned_op(self, stream, shard_id, owner, LEASE_RENEW, cb, arg);
}


static int mem_finish(void* self, const char* stream, const char* shard_id,
                      const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return mem_owned_op(self, stream, shard_id, owner, LEASE_FINISH, cb, arg);
}


static int mem_release(void* self, const char* stream, const char* shard_id,
                       const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return mem_owned_op(self, stream, shard_id, owner, LEASE_RELEASE, cb, arg);
}


static int mem_get(void* self, const char* stream, const char* shard_id,
                   kinesis_ckpt_state_cb cb, void* arg) {
  mem_store_t* m = self;
  completion_t* c;

  if (m == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(shard_id) || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&m->life))
    return KINESIS_ECLOSING;
  c = completion_state_alloc(map_find(m, stream, shard_id, NULL), cb, arg);
  if (c == NULL)
    return KINESIS_ENOMEM;
  completion_queue(m, c, 0);
  return 0;
}


static int mem_member(void* self, const char* stream, const char* owner,
                      int leaving, kinesis_ckpt_members_cb cb, void* arg) {
  mem_store_t* m = self;
  size_t slen, olen;
  member_t** link;
  member_t* fresh = NULL;
  member_t* found = NULL;
  completion_t* c;
  uint64_t now;
  uint32_t live = 0;

  if (m == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(owner) || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&m->life))
    return KINESIS_ECLOSING;
  slen = strlen(stream);
  olen = strlen(owner);

  /* Allocate everything first, so a failure changes nothing. A new
   * membership is allocated even if one turns out to exist: the lookup
   * below also drops expired ones, which must not happen on failure. */
  c = completion_members_alloc(cb, arg);
  if (c == NULL)
    return KINESIS_ENOMEM;
  if (!leaving) {
    fresh = kn_calloc(1, sizeof(*fresh) + slen + 1 + olen);
    if (fresh == NULL) {
      kn_free(c);
      return KINESIS_ENOMEM;
    }
    memcpy(fresh->key, stream, slen + 1);
    memcpy(fresh->key + slen + 1, owner, olen);
    fresh->keylen = slen + 1 + olen;
  }

  /* One pass: drop every expired membership (of any stream, measured like
   * leases), find `owner`'s, and count the live ones of `stream`. */
  now = uv_now(m->loop);
  link = &m->members;
  while (*link != NULL) {
    member_t* e = *link;
    int same_stream = e->keylen > slen && memcmp(e->key, stream, slen + 1) == 0;
    if (now - e->seen > m->session_timeout_ms ||
        (leaving && same_stream && e->keylen == slen + 1 + olen &&
         memcmp(e->key + slen + 1, owner, olen) == 0)) {
      *link = e->next;
      kn_free(e);
      continue;
    }
    if (same_stream) {
      if (e->keylen == slen + 1 + olen &&
          memcmp(e->key + slen + 1, owner, olen) == 0)
        found = e;
      live++;
    }
    link = &e->next;
  }

  if (!leaving) {
    if (found == NULL) {
      fresh->next = m->members;
      m->members = fresh;
      found = fresh;
      live++;
    } else {
      kn_free(fresh);
    }
    found->seen = now;
  }
  c->live_members = live;
  completion_queue(m, c, 0);
  return 0;
}


/* A lease is live under claim's rule: held, and renewed no longer than the
 * session timeout ago. */
static int lease_live(const mem_store_t* m, const entry_t* e, uint64_t now) {
  return e != NULL && e->owner != NULL &&
         now - e->heartbeat <= m->session_timeout_ms;
}


static int mem_leases(void* self, const char* stream,
                      const char* const* shard_ids, size_t n,
                      kinesis_ckpt_leases_cb cb, void* arg) {
  mem_store_t* m = self;
  completion_t* c;
  uint64_t now;
  size_t strings = 0;
  char* p;
  size_t i;

  if (m == NULL || !kn_valid_nonempty(stream) || cb == NULL ||
      (shard_ids == NULL && n > 0))
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++)
    if (!kn_valid_nonempty(shard_ids[i]))
      return KINESIS_EINVAL;
  if (kn_life_closing(&m->life))
    return KINESIS_ECLOSING;

  /* The answer is decided now, like every other: it carries copies of the
   * ids (borrowed only for this call) and of the live owners. First the
   * room they take, then one allocation. */
  now = uv_now(m->loop);
  for (i = 0; i < n; i++) {
    const entry_t* e = map_find(m, stream, shard_ids[i], NULL);
    size_t len = strlen(shard_ids[i]) + 1;
    if (lease_live(m, e, now))
      len += strlen(e->owner) + 1;
    if (len > SIZE_MAX - strings)
      return KINESIS_ENOMEM;
    strings += len;
  }
  c = completion_leases_alloc(n, strings, cb, arg);
  if (c == NULL)
    return KINESIS_ENOMEM;

  p = (char*) (c->leases + n);
  for (i = 0; i < n; i++) {
    const entry_t* e = map_find(m, stream, shard_ids[i], NULL);
    kinesis_lease_t* l = &c->leases[i];
    size_t len = strlen(shard_ids[i]) + 1;
    memcpy(p, shard_ids[i], len);
    l->shard_id = p;
    p += len;
    if (lease_live(m, e, now)) {
      len = strlen(e->owner) + 1;
      memcpy(p, e->owner, len);
      l->owner = p;
      p += len;
    }
    /* An entry exists once a shard was claimed: it keeps its checkpoint
     * and finished mark when the lease goes. */
    l->finished = e != NULL && e->finished;
    l->known = e != NULL;
  }
  completion_queue(m, c, 0);
  return 0;
}


static int mem_close(void* self, kinesis_ckpt_cb cb, void* arg) {
  mem_store_t* m = self;

  if (m == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_begin_close(&m->life) < 0)
    return KINESIS_EALREADY;
  m->close_cb = cb;
  m->close_arg = arg;
  /* Completions already queued were decided: they run with their real
   * results before the handle closes. */
  store_maybe_finish_close(m);
  return 0;
}


static const kinesis_checkpointer_ops_t mem_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = mem_claim,
    .heartbeat = mem_heartbeat,
    .checkpoint = mem_checkpoint,
    .finish = mem_finish,
    .release = mem_release,
    .get = mem_get,
    .close = mem_close,
    .member = mem_member,
    .leases = mem_leases,
};


/* ---- Public functions ---- */


static void memory_defaults(kinesis_checkpointer_memory_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->session_timeout_ms = DEFAULT_SESSION_TIMEOUT_MS;
}


void kinesis_checkpointer_memory_options_init_sized(
    kinesis_checkpointer_memory_options_t* options, size_t size) {
  kinesis_checkpointer_memory_options_t defaults;
  memory_defaults(&defaults);
  kn_options_init(options, size, &defaults, sizeof(defaults));
}


int kinesis_checkpointer_memory_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_memory_options_t* caller,
    kinesis_checkpointer_t** out) {
  kinesis_checkpointer_memory_options_t copy;
  const kinesis_checkpointer_memory_options_t* options = &copy;
  mem_store_t* m;
  uv_loop_t* loop;
  int r;

  if (client == NULL || out == NULL)
    return KINESIS_EINVAL;
  memory_defaults(&copy);
  if (caller != NULL && (r = kn_options_copy(&copy, sizeof(copy), caller)) != 0)
    return r;
  if (options->session_timeout_ms == 0)
    return KINESIS_EINVAL;
  if (kn_client_closing(client))
    return KINESIS_ECLOSING;
  loop = kn_client_loop(client);

  m = kn_calloc(1, sizeof(*m));
  if (m == NULL)
    return KINESIS_ENOMEM;
  m->buckets = kn_calloc(INITIAL_BUCKETS, sizeof(*m->buckets));
  if (m->buckets == NULL) {
    kn_free(m);
    return KINESIS_ENOMEM;
  }
  m->nbuckets = INITIAL_BUCKETS;
  r = kn_defer_init(loop, &m->defer, 0, on_defer_empty);
  if (r != 0) {
    /* uv_idle_init cannot fail on Unix; nothing to close if it did. */
    kn_free(m->buckets);
    kn_free(m);
    return r;
  }
  m->defer.idle.data = m;
  m->base.client = client;
  m->loop = loop;
  m->session_timeout_ms = options->session_timeout_ms;
  m->pub.ops = &mem_ops;
  m->pub.self = m;
  m->pub.session_timeout_ms = options->session_timeout_ms;
  kn_client_child_add(client);
  *out = &m->pub;
  return 0;
}


kn_ckpt_base_t* kn_checkpointer_memory_base(const kinesis_checkpointer_t* cp) {
  if (cp == NULL || cp->ops != &mem_ops || cp->self == NULL)
    return NULL;
  return &((mem_store_t*) cp->self)->base;
}
