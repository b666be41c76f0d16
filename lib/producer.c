#include "internal.h"

#include <string.h>

#include "aggregation.h"
#include "buf.h"
#include "client.h"
#include "crypto.h"
#include "error.h"
#include "failure.h"
#include "ratelimit.h"
#include "stats.h"
#include "retry.h"
#include "shardmap.h"
#include "validate.h"

/*
 * The producer (DESIGN.md section 3). A record is copied into one
 * allocation, routed by its hash key to its shard's queue, and waits there
 * until a batch takes it: when a batch's worth is waiting, when the oldest
 * record has waited buffer_time, or when a flush or close asks. A batch
 * takes from each shard only what the shard's token buckets allow. Every
 * record is also on the `unsettled` list, in put order, until its callback
 * has run; flushes wait on that list.
 *
 * One uv_timer_t drives everything: buffer_time, retry backoff, rate-limit
 * waits, TTL expiry and shard map refreshes. It is re-armed after each pass
 * (producer_pump) for the earliest of those.
 */

#define KN_MAX_BATCH_RECORDS 500
#define KN_MAX_RECORD_SIZE (10u * 1024 * 1024)
/* The stream's largest record when it does not say (MaxRecordSizeInKiB). */
#define KN_DEFAULT_RECORD_SIZE (1024u * 1024)
#define KN_LISTING_RETRY_MIN_MS 200
#define KN_LISTING_RETRY_MAX_MS 10000
/* Relist at most this often when answers name unexpected shards. */
#define KN_RELIST_MIN_INTERVAL_MS 1000
/* A shard held back by its rate limits waits for at least this much of its
 * limits before a batch takes from it (shard_share()). */
#define KN_SHARE_MIN_MS 100

/* Small records are carved, in put order, from blocks of this size, and a
 * block is freed when its last record is settled. Records are sent and
 * settled roughly in put order, so a pass over a batch walks few blocks,
 * forwards, and a settled record costs no free(). Measured with
 * bench_producer (100-byte records), this saves about 0.25 us a record.
 * Blocks are used only when max_queue_bytes holds many of them, and the
 * memory they hold counts against it, so records kept by retries or slow
 * shards cannot pin unbounded memory. */
#define KN_BLOCK_SIZE (64u * 1024)
#define KN_BLOCK_MAX_RECORD (KN_BLOCK_SIZE / 16)
#define KN_BLOCK_MIN_QUEUE_BYTES (64u * KN_BLOCK_SIZE)
/* How many entries ahead a pass over a batch prefetches records. */
#define KN_PREFETCH_AHEAD 8

typedef struct kn_pblock_s {
  size_t used;
  size_t live;          /* records carved from it and not yet settled */
} kn_pblock_t;

_Static_assert(sizeof(kn_pblock_t) % 16 == 0,
               "records carved after the block header must stay aligned");

typedef struct kn_prec_s {
  kn_queue_t node;      /* a shard's queue, `unrouted`, or a batch entry */
  kn_queue_t all;       /* `unsettled`, in put order */
  uint64_t id;
  kinesis_put_cb cb;
  void* arg;
  uint64_t put_at;      /* loop time of the put; the TTL counts from it */
  uint64_t not_before;  /* retry backoff */
  kn_hash_key_t hash;
  char* pk;             /* these point into the same allocation; the */
  uint8_t* data;        /* explicit hash key, if any, sits between them */
  kn_pblock_t* block;   /* NULL: allocated alone */
  uint32_t len;         /* at most KN_MAX_RECORD_SIZE */
  uint32_t attempts;
  uint16_t pk_len;      /* at most 256 */
  uint8_t ehk_len;      /* at most 39; 0 when none */
  uint8_t flags;        /* KN_PREC_* */
} kn_prec_t;

/* The last request that carried the record got no usable answer (no
 * answer, a 5xx, a timeout): it may have landed, and sending it again may
 * put it in the stream twice. */
#define KN_PREC_UNSURE 1

/* Records wait in queues while earlier batches are in flight, and are
 * touched again at batching and settling: each line of header is a miss. */
_Static_assert(sizeof(void*) != 8 || sizeof(kn_prec_t) <= 128,
               "a record's header fits in two cache lines");

typedef struct kn_pshard_s {
  char* shard_id;
  kn_queue_t pending;
  size_t npending;
  size_t pending_bytes;
  kn_bucket_t records;
  kn_bucket_t bytes;
  uint64_t admitted;     /* the batch that last took from it (send_batch) */
  int busy;              /* ordered: a request carrying it is in flight */
} kn_pshard_t;

/* One PutRecords entry of a batch: a plain record or an aggregate. */
typedef struct kn_entry_s {
  kn_queue_t records;
  size_t nrecords;
  size_t shard;          /* predicted shard: an index into map `map_gen` */
  uint64_t map_gen;
  int aggregated;
  size_t blob_off;       /* the aggregate, in the batch's `blobs` */
  size_t blob_len;
} kn_entry_t;

typedef struct kn_batch_s {
  kn_queue_t node;
  kinesis_producer_t* producer;
  kn_call_t* call;
  kn_entry_t* entries;
  size_t nentries;
  size_t user_records;
  size_t bytes;
  uint64_t deadline;     /* the earliest TTL of its records */
  uint64_t map_gen;      /* the map it was built on */
  int ttl_canceled;
  kn_buf_t blobs;        /* aggregates, until the request is encoded */
} kn_batch_t;

/* An aggregate that landed on a shard the map did not predict: its records
 * wait, unsettled, for a fresh map to tell whether that shard's range holds
 * all of them (judge_landed()). */
typedef struct kn_landed_s {
  kn_queue_t node;
  kn_queue_t records;    /* in the aggregate's order */
  size_t nrecords;
  char* shard_id;        /* where it landed; the sequence number follows */
  char* sequence_number;
} kn_landed_t;

typedef struct kn_flush_s {
  kn_queue_t node;
  uint64_t target;       /* settled when no record with a smaller id is left */
  kinesis_producer_cb cb;
  void* arg;
} kn_flush_t;

struct kinesis_producer_s {
  kinesis_client_t* client;
  uv_loop_t* loop;
  char* stream;
  kinesis_producer_options_t o;
  kn_retry_policy_t retry;
  uint64_t rng;

  kn_shardmap_t* map;
  uint64_t map_gen;      /* changes with every map installed */
  kn_pshard_t* shards;
  size_t nshards;
  size_t rr;             /* round-robin start among shards */
  uint64_t batch_seq;    /* batches built, for kn_pshard_t.admitted */
  kn_queue_t unrouted;   /* records waiting for a shard map */
  size_t nunrouted;
  /* Records put and not yet routed: their partition keys are hashed eight
   * at a time (kn_md5_batch), when eight are here or at the next pass. */
  kn_queue_t staged;
  size_t nstaged;
  size_t staged_bytes;
  size_t npending;       /* records in shard queues */
  size_t pending_bytes;

  kn_queue_t unsettled;
  uint64_t next_id;
  uint64_t count;        /* unsettled records */
  uint64_t bytes;        /* their bytes */
  int queue_full_seen;

  kn_queue_t batches;
  size_t in_flight;
  kn_agg_t* agg;
  kn_pblock_t* block;    /* the block new records are carved from */
  size_t block_bytes;    /* memory held in blocks */

  uv_timer_t timer;
  uint64_t timer_due;    /* 0 when the timer is stopped */

  kn_call_t* listing;
  int relist_wanted;
  uint64_t next_listing_at;
  uint64_t last_listing_at;
  uint32_t listing_failures;
  int listing_status;
  char listing_error[256];
  /* Listings and PutRecords requests that keep failing, for the log. */
  kn_failure_t list_failure;
  kn_failure_t put_failure;

  kn_queue_t flushes;
  int closing;
  int finishing;
  int in_pump;
  int in_timer;
  kinesis_close_cb close_cb;
  void* close_arg;
  int close_status;      /* the first error of a record settled closing */
  void* data;
  /* Aggregates waiting for a fresh map to judge where they landed. */
  kn_queue_t landed;
  /* Loop time of the last record that landed, or of the put that found
   * nothing outstanding: stall_timeout_ms counts from it. */
  uint64_t progress_at;
  /* Records with a smaller id fail with KINESIS_ETIMEDOUT: a stall. */
  uint64_t stall_below;
  /* The largest record (data and partition key) the stream takes; known
   * once DescribeStreamSummary answered, or at once when max_record_size
   * is set. */
  size_t record_limit;
  int limit_known;
  int describing;        /* DescribeStreamSummary in flight */
  kinesis_producer_stats_t stats;
  kn_window_t latency;   /* put to callback, of records that landed */
};


static void producer_pump(kinesis_producer_t* p);
static void producer_maybe_finish_close(kinesis_producer_t* p);
static void on_timer(uv_timer_t* t);
static void judge_landed(kinesis_producer_t* p, uint64_t now);


static void producer_defaults(kinesis_producer_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->buffer_time_ms = 500;
  o->batch_size = 500;
  o->max_batch_bytes = 5u * 1024 * 1024;
  o->max_queue_size = 10000;
  o->max_queue_bytes = 16u * 1024 * 1024;
  o->put_rate_limit_per_shard = 1000;
  o->put_bandwidth_limit_per_shard = 1024 * 1024;
  o->max_attempts = 10;
  o->retry_base_ms = 100;
  o->retry_cap_ms = 5000;
  o->record_ttl_ms = 30000;
  o->max_record_size = 0;
  o->stall_timeout_ms = 120000;
  o->max_in_flight = 16;
  o->shard_refresh_ms = 60000;
}


void kinesis_producer_options_init_sized(kinesis_producer_options_t* o,
                                         size_t size) {
  kinesis_producer_options_t defaults;
  producer_defaults(&defaults);
  kn_options_init(o, size, &defaults, sizeof(defaults));
}


/* ---- Timer ---- */

/* Makes the timer fire no later than `due` (loop time). */
static void timer_arm(kinesis_producer_t* p, uint64_t due) {
  uint64_t now = uv_now(p->loop);
  uint64_t delay = due > now ? due - now : 0;
  if (p->finishing)
    return;
  if (p->timer_due != 0 && p->timer_due <= due)
    return;
  /* libuv runs a timer re-armed for "now" from its own callback again in
   * the same pass, before any I/O: at least 1 ms lets the loop turn. */
  if (delay == 0 && p->in_timer)
    delay = 1;
  p->timer_due = now + delay;
  uv_timer_start(&p->timer, on_timer, delay, 0);
}


static void on_timer(uv_timer_t* t) {
  kinesis_producer_t* p = t->data;
  p->timer_due = 0;
  p->in_timer = 1;
  producer_pump(p);
  p->in_timer = 0;
}


/* ---- Settling records ---- */

static void record_free(kinesis_producer_t* p, kn_prec_t* r) {
  kn_pblock_t* b = r->block;
  if (b == NULL) {
    kn_free(r);
    return;
  }
  if (--b->live > 0)
    return;
  if (b == p->block) {
    b->used = sizeof(*b);
    return;
  }
  p->block_bytes -= KN_BLOCK_SIZE;
  kn_free(b);
}


/* Room for a record of `size` bytes, headers included: carved from the
 * current block, or allocated alone when large or when blocks are off. */
static kn_prec_t* record_alloc(kinesis_producer_t* p, size_t size) {
  kn_pblock_t* b = p->block;
  kn_prec_t* r;

  size = (size + 15) & ~(size_t) 15;
  if (size > KN_BLOCK_MAX_RECORD ||
      p->o.max_queue_bytes < KN_BLOCK_MIN_QUEUE_BYTES) {
    r = kn_malloc(size);
    if (r != NULL)
      r->block = NULL;
    return r;
  }
  if (b != NULL && b->live == 0)
    b->used = sizeof(*b);
  if (b == NULL || b->used + size > KN_BLOCK_SIZE) {
    b = kn_malloc(KN_BLOCK_SIZE);
    if (b == NULL)
      return NULL;
    b->used = sizeof(*b);
    b->live = 0;
    /* The block being left is freed by its last record. */
    if (p->block != NULL && p->block->live == 0) {
      kn_free(p->block);
      p->block_bytes -= KN_BLOCK_SIZE;
    }
    p->block = b;
    p->block_bytes += KN_BLOCK_SIZE;
  }
  /* `used` stays a multiple of 16: the header is, and so is every size. */
  r = (kn_prec_t*) ((char*) b + b->used);
  b->used += size;
  b->live++;
  r->block = b;
  return r;
}


static size_t record_size(const kn_prec_t* r) {
  return r->len + r->pk_len;
}


/* The explicit hash key, or NULL: it follows the partition key's NUL. */
static const char* record_ehk(const kn_prec_t* r) {
  return r->ehk_len > 0 ? r->pk + r->pk_len + 1 : NULL;
}


/* Loop time at which the record's TTL passes; never with no TTL. */
static uint64_t record_deadline(const kinesis_producer_t* p,
                                const kn_prec_t* r) {
  return p->o.record_ttl_ms > 0 ? r->put_at + p->o.record_ttl_ms
                                : UINT64_MAX;
}


/* Whether the record must fail with KINESIS_ETIMEDOUT now: its TTL passed,
 * or a stall (stall_timeout_ms without a record landing) caught it. */
static int record_expired(const kinesis_producer_t* p, const kn_prec_t* r,
                          uint64_t now) {
  return r->id < p->stall_below || now >= record_deadline(p, r);
}


/* Whether the record may be sent again: max_attempts 0 is no limit. */
static int attempts_left(const kinesis_producer_t* p, const kn_prec_t* r) {
  return p->o.max_attempts == 0 || r->attempts < p->o.max_attempts;
}


/* Why record_expired() said so, for its callback. */
static const char* expiry_message(const kinesis_producer_t* p,
                                  const kn_prec_t* r) {
  return r->id < p->stall_below
             ? "no record was acknowledged for stall_timeout_ms"
             : "record TTL passed before it was acknowledged";
}


static uint64_t oldest_unsettled_id(const kinesis_producer_t* p) {
  if (kn_queue_empty(&p->unsettled))
    return UINT64_MAX;
  return kn_queue_data(p->unsettled.next, kn_prec_t, all)->id;
}


static void check_flushes_and_drain(kinesis_producer_t* p) {
  kn_queue_t waiting;

  /* Only flushes that were waiting before: one asked for inside a callback
   * here is answered on a later pass, never in the same one. */
  kn_queue_init(&waiting);
  while (!kn_queue_empty(&p->flushes)) {
    kn_queue_t* q = p->flushes.next;
    kn_queue_remove(q);
    kn_queue_insert_tail(&waiting, q);
  }
  while (!kn_queue_empty(&waiting)) {
    kn_flush_t* f = kn_queue_data(waiting.next, kn_flush_t, node);
    kn_queue_remove(&f->node);
    if (oldest_unsettled_id(p) >= f->target) {
      f->cb(p, 0, f->arg);
      kn_free(f);
    } else {
      kn_queue_insert_tail(&p->flushes, &f->node);
    }
  }
  if (p->queue_full_seen && p->count * 2 < p->o.max_queue_size &&
      p->bytes * 2 < p->o.max_queue_bytes &&
      p->block_bytes * 2 < p->o.max_queue_bytes) {
    p->queue_full_seen = 0;
    if (p->o.on_drain != NULL)
      p->o.on_drain(p, p->o.on_drain_data);
  }
}


/* Runs the record's callback and frees it. */
static void record_settle(kinesis_producer_t* p, kn_prec_t* r, int status,
                          const kinesis_put_result_t* res) {
  kn_queue_remove(&r->all);
  p->count--;
  p->bytes -= record_size(r);
  if (status == 0) {
    uint64_t now = uv_now(p->loop);
    p->stats.records_put++;
    p->stats.bytes_put += record_size(r);
    p->progress_at = now;
    kn_window_add(&p->latency, now, (now - r->put_at) * 1000);
  } else {
    p->stats.records_failed++;
    if (p->closing && p->close_status == 0)
      p->close_status = status;
  }
  r->cb(p, status, res, r->arg);
  record_free(p, r);
}


static void record_fail(kinesis_producer_t* p, kn_prec_t* r, int status,
                        const char* code, const char* message) {
  kinesis_put_result_t res;
  memset(&res, 0, sizeof(res));
  res.attempts = r->attempts;
  res.error_code = code;
  res.error_message =
      message != NULL && message[0] != '\0' ? message : kinesis_strerror(status);
  record_settle(p, r, status, &res);
}


/* ---- Routing ---- */

static void shard_push(kinesis_producer_t* p, size_t i, kn_prec_t* r,
                       int front) {
  kn_pshard_t* s = &p->shards[i];
  if (front) {
    r->node.next = s->pending.next;
    r->node.prev = &s->pending;
    s->pending.next->prev = &r->node;
    s->pending.next = &r->node;
  } else {
    kn_queue_insert_tail(&s->pending, &r->node);
  }
  s->npending++;
  s->pending_bytes += record_size(r);
  p->npending++;
  p->pending_bytes += record_size(r);
}


static void shard_pop(kinesis_producer_t* p, kn_pshard_t* s, kn_prec_t* r) {
  kn_queue_remove(&r->node);
  s->npending--;
  s->pending_bytes -= record_size(r);
  p->npending--;
  p->pending_bytes -= record_size(r);
}


/* Puts `r` in its shard's queue (at the front for a retry, to keep order),
 * or in `unrouted` while there is no map or no shard for its key. */
static void record_route(kinesis_producer_t* p, kn_prec_t* r, int front) {
  int i = p->map != NULL ? kn_shardmap_lookup(p->map, &r->hash) : -1;
  if (i < 0) {
    if (p->map != NULL)
      p->relist_wanted = 1;
    if (front) {
      r->node.next = p->unrouted.next;
      r->node.prev = &p->unrouted;
      p->unrouted.next->prev = &r->node;
      p->unrouted.next = &r->node;
    } else {
      kn_queue_insert_tail(&p->unrouted, &r->node);
    }
    p->nunrouted++;
    return;
  }
  shard_push(p, (size_t) i, r, front);
}


/* Hashes the partition keys of the staged records, eight at a time, and
 * routes them in put order. A record with an explicit hash key was given
 * its hash at put. */
static void stage_flush(kinesis_producer_t* p) {
  while (!kn_queue_empty(&p->staged)) {
    kn_prec_t* batch[KN_MD5_BATCH];
    const uint8_t* keys[KN_MD5_BATCH];
    size_t lens[KN_MD5_BATCH];
    size_t which[KN_MD5_BATCH];
    uint8_t digests[KN_MD5_BATCH][KN_MD5_LEN];
    size_t n = 0;
    size_t k = 0;
    size_t i;
    kn_queue_t* q;

    for (q = p->staged.next; q != &p->staged && n < KN_MD5_BATCH;
         q = q->next) {
      kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
      if (r->ehk_len == 0) {
        keys[k] = (const uint8_t*) r->pk;
        lens[k] = r->pk_len;
        which[k++] = n;
      }
      batch[n++] = r;
    }
    kn_md5_batch(keys, lens, k, digests);
    for (i = 0; i < k; i++)
      memcpy(batch[which[i]]->hash.b, digests[i], KN_MD5_LEN);
    for (i = 0; i < n; i++) {
      kn_queue_remove(&batch[i]->node);
      p->nstaged--;
      p->staged_bytes -= record_size(batch[i]);
      record_route(p, batch[i], 0);
    }
  }
}


static void shards_free(kn_pshard_t* shards, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    kn_free(shards[i].shard_id);
  kn_free(shards);
}


/* The burst of a shard's byte bucket: its limit, or the largest record if
 * more, or that record could never be sent. */
static double bytes_burst(const kinesis_producer_t* p) {
  return p->o.put_bandwidth_limit_per_shard > p->record_limit + 256
             ? (double) p->o.put_bandwidth_limit_per_shard
             : (double) (p->record_limit + 256);
}


/* Replaces the shard map, carrying over rate-limit state of shards that
 * remain, and routes every queued record again. */
static int install_map(kinesis_producer_t* p, kn_shardmap_t* map) {
  size_t n = kn_shardmap_count(map);
  kn_pshard_t* shards = kn_calloc(n > 0 ? n : 1, sizeof(*shards));
  kn_pshard_t* old = p->shards;
  size_t nold = p->nshards;
  uint64_t now = uv_now(p->loop);
  kn_queue_t moving;
  size_t i;

  if (shards == NULL)
    return KINESIS_ENOMEM;
  for (i = 0; i < n; i++) {
    const char* id = kn_shardmap_shard_id(map, i);
    size_t k;
    kn_queue_init(&shards[i].pending);
    shards[i].shard_id = kn_strdup(id);
    if (shards[i].shard_id == NULL) {
      shards_free(shards, i);
      return KINESIS_ENOMEM;
    }
    kn_bucket_init(&shards[i].records, p->o.put_rate_limit_per_shard,
                   p->o.put_rate_limit_per_shard, now);
    /* The burst holds the largest record, or it could never be sent. */
    kn_bucket_init(&shards[i].bytes, p->o.put_bandwidth_limit_per_shard,
                   bytes_burst(p), now);
    for (k = 0; k < nold; k++)
      if (strcmp(old[k].shard_id, id) == 0) {
        shards[i].records = old[k].records;
        shards[i].bytes = old[k].bytes;
      }
  }

  /* Everything queued goes through routing again, in its old order. */
  kn_queue_init(&moving);
  for (i = 0; i < nold; i++)
    while (!kn_queue_empty(&old[i].pending)) {
      kn_queue_t* q = old[i].pending.next;
      kn_queue_remove(q);
      kn_queue_insert_tail(&moving, q);
    }
  while (!kn_queue_empty(&p->unrouted)) {
    kn_queue_t* q = p->unrouted.next;
    kn_queue_remove(q);
    kn_queue_insert_tail(&moving, q);
  }
  p->nunrouted = 0;
  p->npending = 0;
  p->pending_bytes = 0;
  shards_free(old, nold);
  kn_shardmap_free(p->map);
  p->map = map;
  p->map_gen++;
  p->shards = shards;
  p->nshards = n;
  p->stats.shards = n;
  p->rr = 0;
  while (!kn_queue_empty(&moving)) {
    kn_prec_t* r = kn_queue_data(moving.next, kn_prec_t, node);
    kn_queue_remove(&r->node);
    record_route(p, r, 0);
  }
  return 0;
}


/* A listing ended with `status` (`res` may be NULL): a failure is counted
 * unless throttled, and reported (failure.h); a success after failures is
 * reported once. */
static void listing_note(kinesis_producer_t* p, uint64_t now, int status,
                         const kinesis_result_t* res) {
  char subject[320];
  if (status == 0 && p->list_failure.failures == 0)
    return;
  snprintf(subject, sizeof(subject), "producer: ListShards on %s",
           p->stream);
  if (status == 0)
    kn_failure_recovered(&p->list_failure, p->client, now, subject);
  else if (kn_failure_report(&p->list_failure, p->client, now, subject,
                             status, res != NULL ? res->error_code : NULL,
                             res != NULL ? res->error_message : NULL))
    p->stats.list_failures++;
}


/* The wait before listing again after a failed listing: doubling from
 * KN_LISTING_RETRY_MIN_MS with each failure in a row, up to the max. */
static uint64_t listing_backoff(kinesis_producer_t* p) {
  uint64_t wait = (uint64_t) KN_LISTING_RETRY_MIN_MS
                  << (p->listing_failures < 6 ? p->listing_failures : 6);
  p->listing_failures++;
  return wait < KN_LISTING_RETRY_MAX_MS ? wait : KN_LISTING_RETRY_MAX_MS;
}


static void on_listed(kinesis_client_t* c, int status,
                      const kinesis_result_t* res, void* arg) {
  kinesis_producer_t* p = arg;
  uint64_t now = uv_now(p->loop);
  kn_shardmap_t* map = NULL;
  size_t before = p->map != NULL ? p->nshards : 0;
  (void) c;

  p->listing = NULL;
  if (status == 0) {
    status = kn_shardmap_new(res->shards, res->nshards, &map);
    if (status == 0 && kn_shardmap_count(map) == 0) {
      kn_shardmap_free(map);
      map = NULL;
      status = KINESIS_EPROTO;
    }
    if (status == 0 && (status = install_map(p, map)) != 0)
      kn_shardmap_free(map);
  }
  if (status == 0) {
    listing_note(p, now, 0, NULL);
    p->listing_failures = 0;
    p->listing_status = 0;
    judge_landed(p, now);
    p->next_listing_at = now + p->o.shard_refresh_ms;
    /* The first map, and each one after a reshard. */
    if (p->nshards != before)
      kn_client_log(p->client, KINESIS_LOG_INFO,
                    "producer: %zu open shard%s in %s", p->nshards,
                    p->nshards == 1 ? "" : "s", p->stream);
  } else if (status != KINESIS_ECANCELED) {
    uint64_t wait = listing_backoff(p);
    p->listing_status = status;
    snprintf(p->listing_error, sizeof(p->listing_error),
             "no shard map: ListShards failed: %s%s%s",
             res->error_code != NULL ? res->error_code : kinesis_strerror(status),
             res->error_message != NULL ? ": " : "",
             res->error_message != NULL ? res->error_message : "");
    p->next_listing_at = now + wait;
    /* Records wait for a map while this lasts (for the whole record TTL,
     * if it does not end): reported at WARN when the reason is new, then
     * at a slowing interval; each try in the debug log. */
    listing_note(p, now, status, res);
    kn_client_log(p->client, KINESIS_LOG_DEBUG,
                  "producer: %s; listing again in %llu ms", p->listing_error,
                  (unsigned long long) wait);
  }
  producer_pump(p);
}


static void maybe_list(kinesis_producer_t* p, uint64_t now) {
  int due = now >= p->next_listing_at;
  int r;

  if (p->listing != NULL || p->finishing)
    return;
  /* An answer named a shard we did not predict: list again soon. */
  if (p->relist_wanted && p->listing_status == 0 &&
      now >= p->last_listing_at + KN_RELIST_MIN_INTERVAL_MS) {
    if (!due)
      kn_client_log(p->client, KINESIS_LOG_INFO,
                    "producer: a record landed in a shard the map did not "
                    "predict, or found none; listing the shards again");
    due = 1;
  }
  /* Closing with nothing left to route or to judge: no need for a fresh
   * map. */
  if (p->closing && p->nunrouted == 0 && kn_queue_empty(&p->landed))
    due = 0;
  if (!due)
    return;
  p->relist_wanted = 0;
  p->last_listing_at = now;
  r = kn_client_list_shards(p->client, p->stream, on_listed, p, &p->listing);
  if (r != 0) {
    p->listing = NULL;
    p->listing_status = r;
    snprintf(p->listing_error, sizeof(p->listing_error),
             "no shard map: ListShards: %s", kinesis_strerror(r));
    if (r != KINESIS_ECLOSING)
      listing_note(p, now, r, NULL);
    /* A call refused now (no memory, say) backs off like a failed answer,
     * rather than leaving the records without a map for the longest wait. */
    p->next_listing_at = now + listing_backoff(p);
  }
}


/* ---- Batches ---- */

static void batch_free(kn_batch_t* b) {
  kn_buf_free(&b->blobs);
  kn_free(b->entries);
  kn_free(b);
}


/* Fails records whose TTL has passed, or that a stall caught, while they
 * waited in a queue, or for a map to judge where their aggregate landed. */
static void expire_queued(kinesis_producer_t* p, uint64_t now, int stalled) {
  kn_queue_t expired;
  size_t n = 0;
  size_t i;
  kn_queue_t* q;

  kn_queue_init(&expired);
  for (i = 0; i < p->nshards; i++)
    for (q = p->shards[i].pending.next; q != &p->shards[i].pending;) {
      kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
      q = q->next;
      if (record_expired(p, r, now)) {
        shard_pop(p, &p->shards[i], r);
        kn_queue_insert_tail(&expired, &r->node);
      }
    }
  for (q = p->unrouted.next; q != &p->unrouted;) {
    kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
    q = q->next;
    if (record_expired(p, r, now)) {
      kn_queue_remove(&r->node);
      p->nunrouted--;
      kn_queue_insert_tail(&expired, &r->node);
    }
  }
  for (q = p->landed.next; q != &p->landed;) {
    kn_landed_t* l = kn_queue_data(q, kn_landed_t, node);
    kn_queue_t* k;
    q = q->next;
    for (k = l->records.next; k != &l->records;) {
      kn_prec_t* r = kn_queue_data(k, kn_prec_t, node);
      k = k->next;
      if (record_expired(p, r, now)) {
        kn_queue_remove(&r->node);
        l->nrecords--;
        kn_queue_insert_tail(&expired, &r->node);
      }
    }
    if (l->nrecords == 0) {
      kn_queue_remove(&l->node);
      kn_free(l);
    }
  }
  for (q = expired.next; q != &expired; q = q->next)
    n++;
  if (n > 0 && !stalled)
    kn_client_log(p->client, KINESIS_LOG_WARN,
                  "producer: %zu record%s still buffered when record_ttl_ms "
                  "(%u ms) passed%s%s",
                  n, n == 1 ? "" : "s", (unsigned) p->o.record_ttl_ms,
                  p->map == NULL && p->listing_status != 0 ? ": " : "",
                  p->map == NULL && p->listing_status != 0 ? p->listing_error
                                                           : "");
  while (!kn_queue_empty(&expired)) {
    kn_prec_t* r = kn_queue_data(expired.next, kn_prec_t, node);
    kn_queue_remove(&r->node);
    record_fail(p, r, KINESIS_ETIMEDOUT, NULL,
                p->map == NULL && p->listing_status != 0
                    ? p->listing_error
                    : expiry_message(p, r));
  }
}


/* No record has landed for stall_timeout_ms while records were
 * outstanding: every record put so far fails with KINESIS_ETIMEDOUT, those
 * in flight once their canceled requests come back. Records put from here
 * on get a stall_timeout_ms of their own. */
static void stall(kinesis_producer_t* p, uint64_t now) {
  kn_queue_t* q;

  kn_client_log(p->client, KINESIS_LOG_WARN,
                "producer: no record acknowledged for %u ms "
                "(stall_timeout_ms); failing the %llu records outstanding%s%s",
                (unsigned) p->o.stall_timeout_ms,
                (unsigned long long) p->count,
                p->map == NULL && p->listing_status != 0 ? ": " : "",
                p->map == NULL && p->listing_status != 0 ? p->listing_error
                                                         : "");
  p->stall_below = p->next_id;
  p->progress_at = now;
  for (q = p->batches.next; q != &p->batches; q = q->next) {
    kn_batch_t* b = kn_queue_data(q, kn_batch_t, node);
    if (!b->ttl_canceled && b->call != NULL) {
      b->ttl_canceled = 1;
      kn_client_call_cancel(b->call);
    }
  }
  expire_queued(p, now, 1);
}


/* What a shard's buckets must hold before a batch takes from it: what it
 * has pending, or what its limits refill in buffer_time (KN_SHARE_MIN_MS at
 * least), whichever is less. A shard held back by its limits so sends a
 * share at a time. Taking each token as it comes would send a request per
 * record or two, up to a thousand a second per shard, each costing far more
 * than the records in it: a backlog of 5000 records over two shards went
 * out in 933 requests. With aggregation, the bytes are what binds. */
static void shard_share(const kinesis_producer_t* p, const kn_pshard_t* s,
                        double* records, double* bytes) {
  const kn_prec_t* first = kn_queue_data(s->pending.next, kn_prec_t, node);
  double window = (double) (p->o.buffer_time_ms > KN_SHARE_MIN_MS
                                ? p->o.buffer_time_ms
                                : KN_SHARE_MIN_MS) / 1000.0;
  double r = s->records.rate * window;
  double b = s->bytes.rate * window;

  if (r > (double) p->o.batch_size)
    r = (double) p->o.batch_size;
  if (r > s->records.burst)
    r = s->records.burst;
  if (r > (double) s->npending)
    r = (double) s->npending;
  if (r < 1 || p->o.aggregate)
    r = 1;
  if (b > s->bytes.burst)
    b = s->bytes.burst;
  if (b > (double) s->pending_bytes)
    b = (double) s->pending_bytes;
  if (b < (double) record_size(first))
    b = (double) record_size(first);
  *records = r;
  *bytes = b;
}


/* Moves records from shard `s` into `e`, as one plain record or one
 * aggregate, within the batch's remaining bytes and the shard's buckets.
 * Returns the bytes the entry will send, 0 when the shard cannot give one
 * now. */
static size_t take_entry(kinesis_producer_t* p, size_t si, kn_entry_t* e,
                         kn_buf_t* blobs, size_t room, uint64_t now) {
  kn_pshard_t* s = &p->shards[si];
  kn_prec_t* first = kn_queue_data(s->pending.next, kn_prec_t, node);
  size_t size = record_size(first);
  size_t limit;
  kn_queue_t* q;

  if (first->not_before > now || size > room ||
      !kn_bucket_has(&s->records, 1, now) ||
      !kn_bucket_has(&s->bytes, (double) size, now))
    return 0;
  kn_queue_init(&e->records);
  e->shard = si;
  e->map_gen = p->map_gen;
  e->aggregated = 0;
  e->nrecords = 1;
  shard_pop(p, s, first);
  kn_queue_insert_tail(&e->records, &first->node);
  /* The batch comes back to this shard after a round of the others: ask
   * for the record after the next one now (the next one's header was just
   * read, to unlink `first`). */
  if (s->npending > 1) {
    const kn_prec_t* after =
        kn_queue_data(s->pending.next->next, kn_prec_t, node);
    KN_PREFETCH(after, sizeof(*after));
  }

  if (p->o.aggregate && s->npending > 0) {
    /* Pack while the next record fits: the aggregate plus the outer
     * partition key "a" stays within the record size, the batch and the
     * shard's byte budget. */
    limit = p->record_limit < room ? p->record_limit : room;
    if (p->o.put_bandwidth_limit_per_shard > 0 && s->bytes.tokens < limit)
      limit = (size_t) s->bytes.tokens;
    kn_agg_reset(p->agg);
    if (kn_agg_size_with(p->agg, first->pk, first->pk_len, record_ehk(first),
                         first->ehk_len, first->len) + 1 <= limit &&
        kn_agg_add(p->agg, first->pk, first->pk_len, record_ehk(first),
                   first->ehk_len, first->data, first->len) == 0) {
      for (q = s->pending.next; q != &s->pending;) {
        kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
        q = q->next;
        if (r->not_before > now ||
            kn_agg_size_with(p->agg, r->pk, r->pk_len, record_ehk(r), r->ehk_len,
                             r->len) + 1 > limit ||
            kn_agg_add(p->agg, r->pk, r->pk_len, record_ehk(r), r->ehk_len, r->data,
                       r->len) != 0)
          break;
        shard_pop(p, s, r);
        kn_queue_insert_tail(&e->records, &r->node);
        e->nrecords++;
      }
      /* One record alone goes plain, as the KPL sends it. On allocation
       * failure the aggregate is not sent, and the records go plain one by
       * one: put the others back. */
      if (e->nrecords > 1) {
        e->blob_off = blobs->len;
        if (kn_agg_finish(p->agg, blobs) == 0) {
          e->aggregated = 1;
          e->blob_len = blobs->len - e->blob_off;
          size = e->blob_len + 1;
        } else {
          while (e->nrecords > 1) {
            kn_prec_t* r = kn_queue_data(e->records.prev, kn_prec_t, node);
            kn_queue_remove(&r->node);
            shard_push(p, si, r, 1);
            e->nrecords--;
          }
        }
      }
    }
  }
  kn_bucket_take(&s->records, 1);
  kn_bucket_take(&s->bytes, (double) size);
  return size;
}


static void on_put_done(kinesis_client_t* c, int status,
                        const kinesis_result_t* res, void* arg);


/* The PutRecords entries of a batch: plain records as they are, each
 * aggregate as the KPL's outer record, key "a", routed by the explicit hash
 * key of its first record. */
static void batch_encode(kn_batch_t* b, kinesis_record_t* out,
                         char (*ehks)[KN_HASH_KEY_DECIMAL_MAX]) {
  size_t i;
  for (i = 0; i < b->nentries; i++) {
    kn_entry_t* e = &b->entries[i];
    kn_prec_t* first = kn_queue_data(e->records.next, kn_prec_t, node);
    if (!e->aggregated) {
      out[i].data = first->data;
      out[i].len = first->len;
      out[i].partition_key = first->pk;
      out[i].explicit_hash_key = record_ehk(first);
      continue;
    }
    out[i].data = b->blobs.data + e->blob_off;
    out[i].len = e->blob_len;
    out[i].partition_key = "a";
    kn_hash_key_format(&first->hash, ehks[i]);
    out[i].explicit_hash_key = ehks[i];
  }
}


/* Ordered mode: whether shard `si` may give batch `b` no entry now. A
 * shard with a request in flight waits for its answer, so that a record
 * that fails is retried before anything after it is sent. Within a batch,
 * entries of one shard may land or fail independently: a shard gives one
 * aggregate, or plain records of distinct partition keys, and stops at the
 * first record whose key is already in the batch. */
static int ordered_holds(const kinesis_producer_t* p, const kn_batch_t* b,
                         size_t si) {
  const kn_pshard_t* s = &p->shards[si];
  const kn_prec_t* first;
  size_t i;

  if (s->admitted != p->batch_seq)
    return s->busy;
  first = kn_queue_data(s->pending.next, kn_prec_t, node);
  for (i = 0; i < b->nentries; i++) {
    const kn_entry_t* e = &b->entries[i];
    const kn_prec_t* r;
    if (e->shard != si)
      continue;
    if (p->o.aggregate)
      return 1;
    r = kn_queue_data(e->records.next, kn_prec_t, node);
    if (r->pk_len == first->pk_len &&
        memcmp(r->pk, first->pk, r->pk_len) == 0)
      return 1;
  }
  return 0;
}


/* Ordered mode: whether a request built on an earlier map is in flight.
 * Its records may come back to be retried, routed on this map, and must not
 * find records put after them already sent. */
static int old_map_in_flight(const kinesis_producer_t* p) {
  const kn_queue_t* q;
  for (q = p->batches.next; q != &p->batches; q = q->next)
    if (kn_queue_data(q, kn_batch_t, node)->map_gen != p->map_gen)
      return 1;
  return 0;
}


/* Builds one batch from the shard queues, round robin, and sends it.
 * Returns 1 when a batch went out, 0 when nothing could be taken now. */
static int send_batch(kinesis_producer_t* p, uint64_t now) {
  kn_batch_t* b;
  kinesis_record_t* out;
  char (*ehks)[KN_HASH_KEY_DECIMAL_MAX] = NULL;
  size_t room = p->o.max_batch_bytes;
  size_t k;
  size_t i;
  int progress = 1;
  int r;

  /* Ordered mode: nothing goes out while records of an earlier map may yet
   * come back, or wait to be judged (they would follow later records). */
  if (p->o.ordered && (old_map_in_flight(p) || !kn_queue_empty(&p->landed)))
    return 0;
  b = kn_calloc(1, sizeof(*b));
  if (b != NULL)
    b->entries = kn_calloc(p->o.batch_size, sizeof(*b->entries));
  if (b == NULL || b->entries == NULL) {
    kn_free(b);
    /* Out of memory: try again shortly rather than at the records' TTL. */
    timer_arm(p, now + 100);
    return 0;
  }
  b->producer = p;
  b->deadline = UINT64_MAX;
  b->map_gen = p->map_gen;
  p->batch_seq++;
  /* Take one entry per shard per round, so shards share the batch. */
  while (progress && b->nentries < p->o.batch_size) {
    progress = 0;
    for (k = 0; k < p->nshards && b->nentries < p->o.batch_size; k++) {
      size_t si = (p->rr + k) % p->nshards;
      kn_pshard_t* s = &p->shards[si];
      kn_entry_t* e = &b->entries[b->nentries];
      size_t size;
      size_t take_room = room;
      if (s->npending == 0)
        continue;
      if (p->o.ordered && ordered_holds(p, b, si))
        continue;
      if (s->admitted != p->batch_seq) {
        double want_records;
        double want_bytes;
        shard_share(p, s, &want_records, &want_bytes);
        if (!kn_bucket_has(&s->records, want_records, now) ||
            !kn_bucket_has(&s->bytes, want_bytes, now))
          continue;
        s->admitted = p->batch_seq;
      }
      /* A record over max_batch_bytes (the stream takes records up to
       * 10 MiB) goes alone. */
      if (b->nentries == 0 && take_room < p->record_limit)
        take_room = p->record_limit;
      size = take_entry(p, si, e, &b->blobs, take_room, now);
      if (size == 0)
        continue;
      room = size < room ? room - size : 0;
      b->bytes += size;
      b->user_records += e->nrecords;
      b->nentries++;
      progress = 1;
    }
  }
  p->rr++;
  if (p->o.ordered)
    for (i = 0; i < b->nentries; i++)
      p->shards[b->entries[i].shard].busy = 1;
  if (b->nentries == 0) {
    batch_free(b);
    return 0;
  }

  out = kn_calloc(b->nentries, sizeof(*out));
  if (p->o.aggregate)
    ehks = kn_calloc(b->nentries, sizeof(*ehks));
  r = out == NULL || (p->o.aggregate && ehks == NULL) ? KINESIS_ENOMEM : 0;
  if (r == 0)
    batch_encode(b, out, ehks);
  for (i = 0; i < b->nentries; i++) {
    kn_entry_t* e = &b->entries[i];
    kn_queue_t* q;
    for (q = e->records.next; q != &e->records; q = q->next) {
      kn_prec_t* rec = kn_queue_data(q, kn_prec_t, node);
      if (record_deadline(p, rec) < b->deadline)
        b->deadline = record_deadline(p, rec);
      if (rec->flags & KN_PREC_UNSURE) {
        rec->flags &= (uint8_t) ~KN_PREC_UNSURE;
        p->stats.records_maybe_duplicated++;
      }
    }
  }
  if (r == 0)
    r = kn_client_put_records(p->client, p->stream, out, b->nentries, 1,
                              on_put_done, b, &b->call);
  /* The client encoded the body: the aggregates are no longer needed. */
  kn_free(out);
  kn_free(ehks);
  kn_buf_free(&b->blobs);
  p->stats.entries_sent += b->nentries;
  p->stats.user_records_sent += b->user_records;
  kn_queue_insert_tail(&p->batches, &b->node);
  p->in_flight++;
  if (r != 0) {
    /* Nothing went out: settle the batch as a failed request. This runs in
     * a pass of the loop, never inside a call of the user's. */
    kinesis_result_t res;
    memset(&res, 0, sizeof(res));
    res.error_message = kinesis_strerror(r);
    on_put_done(p->client, r, &res, b);
    return 0;
  }
  return 1;
}


/* A record that did not land goes back to the front of its shard's queue
 * after a backoff, or fails when its attempts or TTL are spent, or a stall
 * caught it. */
static void record_retry_or_fail(kinesis_producer_t* p, kn_prec_t* r,
                                 int err, int retriable, const char* code,
                                 const char* message, uint64_t now) {
  uint64_t deadline = record_deadline(p, r);
  if (retriable && attempts_left(p, r) && !record_expired(p, r, now)) {
    r->not_before = now + kn_retry_backoff_ms(&p->retry, r->attempts, &p->rng);
    if (r->not_before > deadline)
      r->not_before = deadline;
    p->stats.records_retried++;
    record_route(p, r, 1);
    return;
  }
  if (retriable && record_expired(p, r, now)) {
    err = KINESIS_ETIMEDOUT;
    if (r->id < p->stall_below) {
      code = NULL;
      message = expiry_message(p, r);
    }
  }
  record_fail(p, r, err, code, message);
}


/* strcmp(a, b) == 0 for short ids, inline: once per entry of every answer,
 * the call cost more than the compare. */
static int same_id(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}


/* Settles the records of an aggregate, in order, as landed on `shard_id`
 * at `seq`; sub-sequence numbers count from 0. */
static void settle_aggregate(kinesis_producer_t* p, kn_queue_t* records,
                             const char* shard_id, const char* seq) {
  kinesis_put_result_t ok;
  uint32_t sub = 0;

  memset(&ok, 0, sizeof(ok));
  ok.shard_id = shard_id;
  ok.sequence_number = seq;
  ok.aggregated = 1;
  while (!kn_queue_empty(records)) {
    kn_prec_t* r = kn_queue_data(records->next, kn_prec_t, node);
    kn_queue_remove(&r->node);
    ok.attempts = r->attempts;
    ok.sub_sequence_number = sub++;
    record_settle(p, r, 0, &ok);
  }
}


/* Judges an aggregate that landed on shard `idx` of the current map (-1: a
 * shard not in it, closed or unknown). When that shard's range holds the
 * hash key of every record, they landed where they belong. Otherwise a
 * reader applying the KCL's rule drops the aggregate whole, so every record
 * of it is put again, routed on the current map, at the front of its
 * queue; records that expired meanwhile fail. Returns the records put
 * again. */
static size_t judge_aggregate(kinesis_producer_t* p, kn_queue_t* records,
                              int idx, const char* shard_id, const char* seq,
                              uint64_t now) {
  kn_queue_t* q;
  size_t n = 0;
  int fits = idx >= 0;

  for (q = records->next; fits && q != records; q = q->next) {
    kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
    fits = kn_shardmap_lookup(p->map, &r->hash) == idx;
  }
  if (fits) {
    settle_aggregate(p, records, shard_id, seq);
    return 0;
  }
  /* Back to front, so that they keep their order at the queues' fronts. */
  while (!kn_queue_empty(records)) {
    kn_prec_t* r = kn_queue_data(records->prev, kn_prec_t, node);
    kn_queue_remove(&r->node);
    if (record_expired(p, r, now)) {
      record_fail(p, r, KINESIS_ETIMEDOUT, NULL, expiry_message(p, r));
      continue;
    }
    r->not_before = 0;
    p->stats.records_rerouted++;
    record_route(p, r, 1);
    n++;
  }
  if (n > 0)
    kn_client_log(p->client, KINESIS_LOG_INFO,
                  "producer: an aggregate landed on %s, whose hash key "
                  "range does not hold all of its %zu records; putting them "
                  "again", shard_id, n);
  return n;
}


/* The aggregates of `landed`, judged on the map just installed. */
static void judge_landed(kinesis_producer_t* p, uint64_t now) {
  while (!kn_queue_empty(&p->landed)) {
    kn_landed_t* l = kn_queue_data(p->landed.next, kn_landed_t, node);
    kn_queue_remove(&l->node);
    judge_aggregate(p, &l->records, kn_shardmap_find(p->map, l->shard_id),
                    l->shard_id, l->sequence_number, now);
    kn_free(l);
  }
}


/* An aggregate that landed on a shard the map did not predict waits for a
 * fresh map: until one is listed, the shard's range is not known, and
 * neither is where its records belong. */
static void hold_aggregate(kinesis_producer_t* p, kn_entry_t* e,
                           const char* shard_id, const char* seq,
                           uint64_t now) {
  size_t ls = strlen(shard_id) + 1;
  size_t lq = strlen(seq) + 1;
  kn_landed_t* l = kn_malloc(sizeof(*l) + ls + lq);

  p->relist_wanted = 1;
  if (l == NULL) {
    /* Without memory to wait, put them again: a duplicate, never a loss. */
    judge_aggregate(p, &e->records, -1, shard_id, seq, now);
    return;
  }
  kn_queue_init(&l->records);
  while (!kn_queue_empty(&e->records)) {
    kn_queue_t* q = e->records.next;
    kn_queue_remove(q);
    kn_queue_insert_tail(&l->records, q);
  }
  l->nrecords = e->nrecords;
  l->shard_id = (char*) (l + 1);
  memcpy(l->shard_id, shard_id, ls);
  l->sequence_number = l->shard_id + ls;
  memcpy(l->sequence_number, seq, lq);
  kn_queue_insert_tail(&p->landed, &l->node);
}


/* Whether a request that failed whole may have written its records: it
 * got no usable answer. */
static int answer_lost(int status, const kn_batch_t* b) {
  return status == KINESIS_ETRANSPORT || status == KINESIS_ESERVICE ||
         status == KINESIS_ETIMEDOUT || status == KINESIS_EPROTO ||
         (status == KINESIS_ECANCELED && b->ttl_canceled);
}


/* A PutRecords request ended with `status`: requests that keep failing
 * whole for the same reason (not throttling, not a close) are reported at
 * WARN, then at a slowing interval (failure.h), while their records are
 * retried; the first success after them is reported once. */
static void put_note(kinesis_producer_t* p, uint64_t now, int status,
                     const kinesis_result_t* res) {
  char subject[320];
  if ((status == 0 && p->put_failure.failures == 0) ||
      status == KINESIS_ECANCELED)
    return;
  snprintf(subject, sizeof(subject), "producer: PutRecords to %s",
           p->stream);
  if (status == 0)
    kn_failure_recovered(&p->put_failure, p->client, now, subject);
  else
    (void) kn_failure_report(&p->put_failure, p->client, now, subject,
                             status, res->error_code, res->error_message);
}


static void on_put_done(kinesis_client_t* c, int status,
                        const kinesis_result_t* res, void* arg) {
  kn_batch_t* b = arg;
  kinesis_producer_t* p = b->producer;
  uint64_t now = uv_now(p->loop);
  kinesis_flush_info_t info;
  /* The first reason a record failed, and one a record is retried for,
   * for the log: one line an answer, never one a record. */
  int failed_err = 0;
  const char* failed_code = NULL;
  const char* failed_message = NULL;
  int retry_err = 0;
  const char* retry_code = NULL;
  int unsure = status != 0 && answer_lost(status, b);
  size_t i;
  (void) c;

  kn_queue_remove(&b->node);
  p->in_flight--;
  p->stats.requests++;
  memset(&info, 0, sizeof(info));
  info.status = status;
  info.entries = b->nentries;
  info.user_records = b->user_records;
  info.bytes = b->bytes;
  if (status != 0)
    p->stats.request_failures++;
  put_note(p, now, status, res);
  /* The client sent the request again after an attempt with no usable
   * answer: its records may have landed at that attempt too. */
  p->stats.records_maybe_duplicated +=
      (uint64_t) res->unsure_retries * b->user_records;

  /* Back to front, so that records queued again keep their order. */
  for (i = b->nentries; i-- > 0;) {
    kn_entry_t* e = &b->entries[i];
    if (i >= KN_PREFETCH_AHEAD)
      KN_PREFETCH(b->entries[i - KN_PREFETCH_AHEAD].records.next,
                  sizeof(kn_prec_t));
    const kinesis_put_entry_result_t* er =
        status == 0 && i < res->nput_entries ? &res->put_entries[i] : NULL;
    uint32_t sub = (uint32_t) e->nrecords;
    int err = status;
    int retriable;
    const char* code = res->error_code;
    const char* message = res->error_message;

    if (p->o.ordered && e->map_gen == p->map_gen)
      p->shards[e->shard].busy = 0;
    if (er != NULL && er->error_code == NULL) {
      kinesis_put_result_t ok;
      int predicted = e->map_gen == p->map_gen &&
                      same_id(er->shard_id, p->shards[e->shard].shard_id);
      if (!predicted && e->aggregated) {
        kn_queue_t* q;
        for (q = e->records.next; q != &e->records; q = q->next)
          kn_queue_data(q, kn_prec_t, node)->attempts += res->attempts;
        /* An aggregate whose shard the map did not predict: judged now
         * when the map was listed since it was sent and knows the shard,
         * else after the next listing. */
        int idx = e->map_gen != p->map_gen
                      ? kn_shardmap_find(p->map, er->shard_id)
                      : -1;
        info.succeeded += e->nrecords;
        if (idx >= 0)
          info.succeeded -= judge_aggregate(p, &e->records, idx,
                                            er->shard_id, er->sequence_number,
                                            now);
        else
          hold_aggregate(p, e, er->shard_id, er->sequence_number, now);
        continue;
      }
      if (!predicted && e->map_gen == p->map_gen)
        p->relist_wanted = 1;
      memset(&ok, 0, sizeof(ok));
      ok.shard_id = er->shard_id;
      ok.sequence_number = er->sequence_number;
      ok.aggregated = e->aggregated;
      ok.attempts = 0;
      /* Settle in order: the first record is sub-sequence 0. */
      while (!kn_queue_empty(&e->records)) {
        kn_prec_t* r = kn_queue_data(e->records.next, kn_prec_t, node);
        kn_queue_remove(&r->node);
        r->attempts += res->attempts;
        ok.attempts = r->attempts;
        ok.sub_sequence_number = (uint32_t) (e->nrecords - sub);
        sub--;
        info.succeeded++;
        record_settle(p, r, 0, &ok);
      }
      continue;
    }
    if (er != NULL) {
      code = er->error_code;
      message = er->error_message;
      err = kn_error_from_service(code, 400);
      if (err == KINESIS_ETHROUGHPUT) {
        p->stats.records_throttled += e->nrecords;
        if (e->map_gen == p->map_gen)
          kn_bucket_drain(&p->shards[e->shard].records, now);
      }
    }
    retriable = kinesis_err_is_retriable(err) ||
                (err == KINESIS_ECANCELED && b->ttl_canceled);
    while (!kn_queue_empty(&e->records)) {
      kn_prec_t* r = kn_queue_data(e->records.prev, kn_prec_t, node);
      kn_queue_remove(&r->node);
      r->attempts += res->attempts > 0 ? res->attempts : 1;
      if (unsure)
        r->flags |= KN_PREC_UNSURE;
      if (err == KINESIS_ECANCELED && b->ttl_canceled &&
          record_expired(p, r, now)) {
        const char* why = r->id < p->stall_below
                              ? "no record was acknowledged for "
                                "stall_timeout_ms"
                              : "record TTL passed while its request was in "
                                "flight";
        info.failed++;
        if (failed_err == 0) {
          failed_err = KINESIS_ETIMEDOUT;
          failed_message = why;
        }
        record_fail(p, r, KINESIS_ETIMEDOUT, NULL, why);
        continue;
      }
      if (retriable && attempts_left(p, r) && !record_expired(p, r, now)) {
        info.retrying++;
        if (retry_err == 0) {
          retry_err = err;
          retry_code = code;
        }
      } else {
        info.failed++;
        if (failed_err == 0) {
          failed_err = record_expired(p, r, now) && retriable
                           ? KINESIS_ETIMEDOUT
                           : err;
          failed_code = code;
          failed_message = message;
        }
      }
      record_retry_or_fail(p, r, err, retriable, code, message, now);
    }
  }
  batch_free(b);
  if (failed_err != 0)
    kn_client_log(p->client, KINESIS_LOG_WARN,
                  "producer: %zu record%s failed: %s%s%s", info.failed,
                  info.failed == 1 ? "" : "s",
                  failed_code != NULL ? failed_code
                                      : kinesis_err_name(failed_err),
                  failed_message != NULL ? ": " : "",
                  failed_message != NULL ? failed_message : "");
  if (retry_err != 0)
    kn_client_log(p->client, KINESIS_LOG_INFO,
                  "producer: %zu record%s to send again: %s", info.retrying,
                  info.retrying == 1 ? "" : "s",
                  retry_code != NULL ? retry_code
                                     : kinesis_err_name(retry_err));
  if (p->o.after_flush != NULL)
    p->o.after_flush(p, &info, p->o.after_flush_data);
  producer_pump(p);
}


/* ---- The pass ---- */

/* The loop time of the oldest record waiting in a shard queue. */
static uint64_t oldest_pending(const kinesis_producer_t* p) {
  uint64_t oldest = UINT64_MAX;
  size_t i;
  for (i = 0; i < p->nshards; i++)
    if (p->shards[i].npending > 0) {
      kn_prec_t* r =
          kn_queue_data(p->shards[i].pending.next, kn_prec_t, node);
      if (r->put_at < oldest)
        oldest = r->put_at;
    }
  return oldest;
}


/* When the next pass is needed: the earliest of buffer_time, a backoff, a
 * bucket refill, a TTL, and the next listing. */
static void schedule(kinesis_producer_t* p, uint64_t now, int forced) {
  uint64_t due = UINT64_MAX;
  kn_queue_t* q;
  size_t i;

  if (p->finishing)
    return;
  if (p->listing == NULL && (p->map == NULL || !p->closing))
    due = p->next_listing_at;
  /* The same condition as maybe_list(): after a failed listing, the retry
   * waits for next_listing_at, and so does the timer. */
  if (p->relist_wanted && p->listing == NULL && p->listing_status == 0 &&
      p->last_listing_at + KN_RELIST_MIN_INTERVAL_MS < due)
    due = p->last_listing_at + KN_RELIST_MIN_INTERVAL_MS;
  if (p->npending > 0 && !forced && p->in_flight < p->o.max_in_flight) {
    uint64_t oldest = oldest_pending(p);
    if (oldest + p->o.buffer_time_ms < due)
      due = oldest + p->o.buffer_time_ms;
  }
  for (i = 0; i < p->nshards; i++) {
    kn_pshard_t* s = &p->shards[i];
    kn_prec_t* r;
    uint64_t t;
    uint64_t wait_records;
    uint64_t wait_bytes;
    double want_records;
    double want_bytes;
    if (s->npending == 0)
      continue;
    r = kn_queue_data(s->pending.next, kn_prec_t, node);
    if (record_deadline(p, r) < due)
      due = record_deadline(p, r);
    /* A shard held back in ordered mode is woken by its answer. */
    if (p->in_flight >= p->o.max_in_flight || (p->o.ordered && s->busy))
      continue;
    /* The buckets fill side by side: the later of the two waits. */
    shard_share(p, s, &want_records, &want_bytes);
    wait_records = kn_bucket_wait_ms(&s->records, want_records, now);
    wait_bytes = kn_bucket_wait_ms(&s->bytes, want_bytes, now);
    t = r->not_before > now ? r->not_before : now;
    t += wait_records > wait_bytes ? wait_records : wait_bytes;
    if (t > now && t < due)
      due = t;
  }
  /* Queues are in put order, and retries go back to the front: the first
   * record of a queue expires first. Shard queues were looked at above. */
  if (!kn_queue_empty(&p->unrouted)) {
    kn_prec_t* r = kn_queue_data(p->unrouted.next, kn_prec_t, node);
    if (record_deadline(p, r) < due)
      due = record_deadline(p, r);
  }
  /* Records waiting for a judge: the oldest put is the first to expire. */
  if (p->o.record_ttl_ms > 0 && !kn_queue_empty(&p->landed)) {
    kn_landed_t* l = kn_queue_data(p->landed.next, kn_landed_t, node);
    kn_prec_t* r = kn_queue_data(l->records.next, kn_prec_t, node);
    if (record_deadline(p, r) < due)
      due = record_deadline(p, r);
  }
  if (p->o.stall_timeout_ms > 0 && p->count > 0 &&
      p->progress_at + p->o.stall_timeout_ms < due)
    due = p->progress_at + p->o.stall_timeout_ms;
  for (q = p->batches.next; q != &p->batches; q = q->next) {
    kn_batch_t* b = kn_queue_data(q, kn_batch_t, node);
    if (!b->ttl_canceled && b->deadline < due)
      due = b->deadline;
  }
  if (due != UINT64_MAX)
    timer_arm(p, due < now ? now : due);
}


static void producer_pump(kinesis_producer_t* p) {
  uint64_t now;
  int forced;
  kn_queue_t* q;

  if (p->in_pump || p->finishing)
    return;
  p->in_pump = 1;
  uv_update_time(p->loop);
  now = uv_now(p->loop);
  stage_flush(p);
  maybe_list(p, now);

  /* Requests in flight past their records' TTL are given up. */
  for (q = p->batches.next; q != &p->batches; q = q->next) {
    kn_batch_t* b = kn_queue_data(q, kn_batch_t, node);
    if (!b->ttl_canceled && b->deadline <= now && b->call != NULL) {
      b->ttl_canceled = 1;
      kn_client_call_cancel(b->call);
    }
  }
  if (!kn_queue_empty(&p->unsettled) &&
      record_deadline(p, kn_queue_data(p->unsettled.next, kn_prec_t, all)) <=
          now)
    expire_queued(p, now, 0);
  if (p->o.stall_timeout_ms > 0 && p->count > 0 &&
      now >= p->progress_at + p->o.stall_timeout_ms)
    stall(p, now);

  for (;;) {
    forced = !kn_queue_empty(&p->flushes) || p->closing ||
             p->npending >= p->o.batch_size ||
             p->pending_bytes >= p->o.max_batch_bytes ||
             (p->npending > 0 &&
              oldest_pending(p) + p->o.buffer_time_ms <= now);
    /* Nothing goes out before the stream's record size limit is known:
     * records over it must fail rather than be sent. */
    if (!forced || p->in_flight >= p->o.max_in_flight || p->npending == 0 ||
        !p->limit_known)
      break;
    if (!send_batch(p, now))
      break;
  }
  p->in_pump = 0;
  check_flushes_and_drain(p);
  schedule(p, now, forced);
  producer_maybe_finish_close(p);
}


/* ---- Public API ---- */

/* The stream's record size limit: MaxRecordSizeInKiB, or 1 MiB when the
 * service does not say or cannot be asked. Records queued meanwhile that
 * are over it fail; buckets grow to hold the largest record. */
static void on_described(kinesis_client_t* c, int status,
                         const kinesis_result_t* res, void* arg) {
  kinesis_producer_t* p = arg;
  size_t limit = KN_DEFAULT_RECORD_SIZE;
  kn_queue_t over;
  kn_queue_t* q;
  size_t i;
  (void) c;

  p->describing = 0;
  if (status == 0 && res->summary != NULL &&
      res->summary->max_record_size_kib > 0) {
    limit = (size_t) res->summary->max_record_size_kib * 1024;
    if (limit > KN_MAX_RECORD_SIZE)
      limit = KN_MAX_RECORD_SIZE;
  } else if (status != 0 && status != KINESIS_ECANCELED) {
    kn_client_log(p->client, KINESIS_LOG_INFO,
                  "producer: DescribeStreamSummary failed (%s%s%s); taking "
                  "records up to 1 MiB",
                  res->error_code != NULL ? res->error_code
                                          : kinesis_err_name(status),
                  res->error_message != NULL ? ": " : "",
                  res->error_message != NULL ? res->error_message : "");
  }
  p->record_limit = limit;
  p->limit_known = 1;
  /* Nothing has been sent: the buckets are full, at their new size. */
  for (i = 0; i < p->nshards; i++)
    if (p->shards[i].bytes.burst < bytes_burst(p)) {
      p->shards[i].bytes.burst = bytes_burst(p);
      p->shards[i].bytes.tokens = bytes_burst(p);
    }
  /* Nothing has been sent yet: every record is in a queue. */
  stage_flush(p);
  kn_queue_init(&over);
  for (i = 0; i < p->nshards; i++)
    for (q = p->shards[i].pending.next; q != &p->shards[i].pending;) {
      kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
      q = q->next;
      if (record_size(r) > limit) {
        shard_pop(p, &p->shards[i], r);
        kn_queue_insert_tail(&over, &r->node);
      }
    }
  for (q = p->unrouted.next; q != &p->unrouted;) {
    kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
    q = q->next;
    if (record_size(r) > limit) {
      kn_queue_remove(&r->node);
      p->nunrouted--;
      kn_queue_insert_tail(&over, &r->node);
    }
  }
  while (!kn_queue_empty(&over)) {
    kn_prec_t* r = kn_queue_data(over.next, kn_prec_t, node);
    kn_queue_remove(&r->node);
    record_fail(p, r, KINESIS_EINVAL, NULL,
                "data and partition key over the stream's largest record "
                "(MaxRecordSizeInKiB)");
  }
  producer_pump(p);
}


static int options_valid(const kinesis_producer_options_t* o) {
  return o->stream != NULL && kn_valid_stream(o->stream) &&
         o->batch_size >= 1 && o->batch_size <= KN_MAX_BATCH_RECORDS &&
         o->max_record_size <= KN_MAX_RECORD_SIZE &&
         o->max_batch_bytes >= 1 && o->max_batch_bytes >= o->max_record_size &&
         o->max_queue_size >= 1 && o->max_queue_bytes >= 1 &&
         o->max_queue_bytes >= o->max_record_size &&
         o->retry_base_ms >= 1 &&
         o->retry_cap_ms >= o->retry_base_ms &&
         o->max_in_flight >= 1 && o->shard_refresh_ms >= 1;
}


int kinesis_producer_new(kinesis_client_t* client,
                         const kinesis_producer_options_t* caller,
                         kinesis_producer_t** out) {
  kinesis_producer_options_t copy;
  const kinesis_producer_options_t* options = &copy;
  kinesis_producer_t* p;
  int r;

  if (client == NULL || caller == NULL || out == NULL)
    return KINESIS_EINVAL;
  producer_defaults(&copy);
  if ((r = kn_options_copy(&copy, sizeof(copy), caller)) != 0)
    return r;
  if (!options_valid(options))
    return KINESIS_EINVAL;
  if ((r = kn_client_child_check(client, options->stream)) != 0)
    return r;
  p = kn_calloc(1, sizeof(*p));
  if (p == NULL)
    return KINESIS_ENOMEM;
  p->o = *options;
  p->stream = kn_strdup(options->stream);
  if (p->stream == NULL ||
      (options->aggregate && kn_agg_new(&p->agg) != 0)) {
    kn_free(p->stream);
    kn_free(p);
    return KINESIS_ENOMEM;
  }
  p->o.stream = p->stream;
  p->client = client;
  p->loop = kn_client_loop(client);
  p->retry.max_attempts = options->max_attempts;
  p->retry.base_ms = options->retry_base_ms;
  p->retry.cap_ms = options->retry_cap_ms;
  p->rng = uv_hrtime() | 1;
  kn_queue_init(&p->unrouted);
  kn_queue_init(&p->staged);
  kn_queue_init(&p->unsettled);
  kn_queue_init(&p->batches);
  kn_queue_init(&p->flushes);
  kn_queue_init(&p->landed);
  if (options->max_record_size > 0) {
    p->record_limit = options->max_record_size;
    p->limit_known = 1;
  } else {
    p->record_limit = KN_DEFAULT_RECORD_SIZE;
    r = kinesis_client_describe_stream_summary(client, p->stream,
                                               on_described, p);
    if (r != 0) {
      kn_agg_free(p->agg);
      kn_free(p->stream);
      kn_free(p);
      return r;
    }
    p->describing = 1;
  }
  uv_timer_init(p->loop, &p->timer);
  p->timer.data = p;
  kn_client_child_add(client);
  /* List the shards on the next tick. */
  p->next_listing_at = uv_now(p->loop);
  timer_arm(p, p->next_listing_at);
  *out = p;
  return 0;
}


int kinesis_producer_put(kinesis_producer_t* p, const kinesis_record_t* rec,
                         kinesis_put_cb cb, void* arg) {
  size_t pk_len;
  size_t ehk_len;
  size_t size;
  size_t limit;
  kn_prec_t* r;
  uint64_t now;

  if (p == NULL || rec == NULL || cb == NULL || rec->partition_key == NULL ||
      (rec->data == NULL && rec->len > 0))
    return KINESIS_EINVAL;
  if (p->closing)
    return KINESIS_ECLOSING;
  /* What any stream would refuse (kinesis_record_validate(), validate.c),
   * then this stream's limit. Until that limit is known, records up to
   * 10 MiB wait for it. */
  if (kinesis_record_validate(rec) != 0)
    return KINESIS_EINVAL;
  pk_len = strlen(rec->partition_key);
  ehk_len = rec->explicit_hash_key != NULL ? strlen(rec->explicit_hash_key) : 0;
  limit = p->limit_known ? p->record_limit : KN_MAX_RECORD_SIZE;
  if (rec->len + pk_len > limit || rec->len + pk_len > p->o.max_queue_bytes)
    return KINESIS_EINVAL;
  size = rec->len + pk_len;
  if (p->count + 1 > p->o.max_queue_size ||
      p->bytes + size > p->o.max_queue_bytes ||
      p->block_bytes >= p->o.max_queue_bytes) {
    p->queue_full_seen = 1;
    return KINESIS_EQUEUEFULL;
  }
  r = record_alloc(p, sizeof(*r) + pk_len + 1 +
                         (ehk_len > 0 ? ehk_len + 1 : 0) + rec->len);
  if (r == NULL)
    return KINESIS_ENOMEM;
  r->pk = (char*) (r + 1);
  memcpy(r->pk, rec->partition_key, pk_len + 1);
  r->pk_len = (uint16_t) pk_len;
  r->ehk_len = (uint8_t) ehk_len;
  r->data = (uint8_t*) r->pk + pk_len + 1;
  if (ehk_len > 0) {
    char* ehk = r->pk + pk_len + 1;
    memcpy(ehk, rec->explicit_hash_key, ehk_len + 1);
    r->data = (uint8_t*) ehk + ehk_len + 1;
    kn_hash_key_parse(ehk, &r->hash);
  }
  if (rec->len > 0)
    memcpy(r->data, rec->data, rec->len);
  r->len = (uint32_t) rec->len;
  r->cb = cb;
  r->arg = arg;
  r->attempts = 0;
  r->not_before = 0;
  r->flags = 0;
  now = uv_now(p->loop);
  r->put_at = now;
  r->id = p->next_id++;
  if (p->count == 0)
    p->progress_at = now;
  kn_queue_insert_tail(&p->unsettled, &r->all);
  p->count++;
  p->bytes += size;
  kn_queue_insert_tail(&p->staged, &r->node);
  p->nstaged++;
  p->staged_bytes += size;
  if (p->nstaged == KN_MD5_BATCH)
    stage_flush(p);

  /* Never send from inside put: a full batch is sent on the next tick. */
  if (p->npending + p->nstaged >= p->o.batch_size ||
      p->pending_bytes + p->staged_bytes >= p->o.max_batch_bytes)
    timer_arm(p, now);
  else
    timer_arm(p, now + p->o.buffer_time_ms);
  return 0;
}


int kinesis_producer_flush(kinesis_producer_t* p, kinesis_producer_cb cb,
                           void* arg) {
  kn_flush_t* f;
  if (p == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (p->closing)
    return KINESIS_ECLOSING;
  f = kn_malloc(sizeof(*f));
  if (f == NULL)
    return KINESIS_ENOMEM;
  f->target = p->next_id;
  f->cb = cb;
  f->arg = arg;
  kn_queue_insert_tail(&p->flushes, &f->node);
  timer_arm(p, uv_now(p->loop));
  return 0;
}


static void on_timer_closed(uv_handle_t* h) {
  kinesis_producer_t* p = h->data;
  kinesis_close_cb cb = p->close_cb;
  void* arg = p->close_arg;
  void* data = p->data;
  int status = p->close_status;

  /* Freed first: the callback may close the client. */
  kn_client_child_remove(p->client);
  shards_free(p->shards, p->nshards);
  kn_shardmap_free(p->map);
  kn_agg_free(p->agg);
  kn_free(p->block);
  kn_free(p->stream);
  kn_free(p);
  if (cb != NULL)
    cb(data, status, arg);
}


static void producer_maybe_finish_close(kinesis_producer_t* p) {
  if (!p->closing || p->finishing || p->count > 0 || p->in_flight > 0 ||
      p->describing)
    return;
  if (p->listing != NULL) {
    kn_client_call_cancel(p->listing);
    return;
  }
  /* Flush callbacks still waiting have nothing left to wait for. */
  check_flushes_and_drain(p);
  if (!kn_queue_empty(&p->flushes))
    return;
  p->finishing = 1;
  uv_close((uv_handle_t*) &p->timer, on_timer_closed);
}


int kinesis_producer_close(kinesis_producer_t* p, kinesis_close_cb cb,
                           void* arg) {
  if (p == NULL)
    return KINESIS_EINVAL;
  if (p->closing)
    return KINESIS_EALREADY;
  p->closing = 1;
  p->close_cb = cb;
  p->close_arg = arg;
  /* The pass on the next tick sends everything and, once every record is
   * settled, closes. */
  timer_arm(p, uv_now(p->loop));
  return 0;
}


void kinesis_producer_set_data(kinesis_producer_t* p, void* data) {
  p->data = data;
}


void* kinesis_producer_get_data(const kinesis_producer_t* p) {
  return p->data;
}


int kinesis_producer_stats(const kinesis_producer_t* p,
                           kinesis_producer_stats_t* s) {
  kn_recent_t recent;

  if (p == NULL || s == NULL)
    return KINESIS_EINVAL;
  *s = p->stats;
  s->queue_depth = p->count;
  s->queue_bytes = p->bytes;
  s->in_flight = p->in_flight;
  s->shards = p->nshards;
  s->batch_fill = p->stats.requests > 0
                      ? (double) p->stats.user_records_sent /
                            (double) p->stats.requests / p->o.batch_size
                      : 0;
  kn_window_read(&p->latency, uv_now(p->loop), &recent);
  s->recent_records = recent.count;
  s->latency_p50_ms = recent.p50_ms;
  s->latency_p99_ms = recent.p99_ms;
  s->latency_max_ms = recent.max_ms;
  return 0;
}
