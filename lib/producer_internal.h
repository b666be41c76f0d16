#ifndef KN_PRODUCER_INTERNAL_H
#define KN_PRODUCER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "internal.h"
#include "aggregation.h"
#include "buf.h"
#include "client.h"
#include "failure.h"
#include "ratelimit.h"
#include "retry.h"
#include "shardmap.h"
#include "stats.h"
#include "kinesis/producer.h"

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
 * (kn_producer_pump) for the earliest of those.
 *
 * The producer is three files, which share this header and no more:
 * producer.c (the API, options, records and their callbacks, flushes, the
 * timer and the pass, expiry and stalls, close, stats), producer_shards.c
 * (routing records to shards, the shard map and its listing, per-shard
 * rate limits, judging aggregates that landed where the map did not say)
 * and producer_send.c (building batches, the PutRecords request and its
 * answer, per-record retries, ordered mode). What one of them lends the
 * others keeps the name it had as a static function, with kn_producer_ in
 * front (producer_pump is kn_producer_pump); the small record helpers are
 * static inline here.
 */

/* Relist at most this often when answers name unexpected shards. */
#define KN_RELIST_MIN_INTERVAL_MS 1000

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
  uint64_t admitted;     /* the batch that last took from it
                          * (kn_producer_send_batch) */
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
  /* KN_LIFE_CLOSING: kinesis_producer_close() was called. KN_LIFE_FREEING:
   * every record is settled and the timer is closing. in_pump and in_timer
   * guard the pass against itself, not user callbacks. */
  kn_life_t life;
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


static inline size_t record_size(const kn_prec_t* r) {
  return r->len + r->pk_len;
}


/* The explicit hash key, or NULL: it follows the partition key's NUL. */
static inline const char* record_ehk(const kn_prec_t* r) {
  return r->ehk_len > 0 ? r->pk + r->pk_len + 1 : NULL;
}


/* Loop time at which the record's TTL passes; never with no TTL. */
static inline uint64_t record_deadline(const kinesis_producer_t* p,
                                       const kn_prec_t* r) {
  return p->o.record_ttl_ms > 0 ? r->put_at + p->o.record_ttl_ms
                                : UINT64_MAX;
}


/* Whether the record must fail with KINESIS_ETIMEDOUT now: its TTL passed,
 * or a stall (stall_timeout_ms without a record landing) caught it. */
static inline int record_expired(const kinesis_producer_t* p,
                                 const kn_prec_t* r, uint64_t now) {
  return r->id < p->stall_below || now >= record_deadline(p, r);
}


/* Whether the record may be sent again: max_attempts 0 is no limit. */
static inline int attempts_left(const kinesis_producer_t* p,
                                const kn_prec_t* r) {
  return p->o.max_attempts == 0 || r->attempts < p->o.max_attempts;
}


/* Why record_expired() said so, for its callback. */
static inline const char* expiry_message(const kinesis_producer_t* p,
                                         const kn_prec_t* r) {
  return r->id < p->stall_below
             ? "no record was acknowledged for stall_timeout_ms"
             : "record TTL passed before it was acknowledged";
}


/* producer.c */
void kn_producer_timer_arm(kinesis_producer_t* p, uint64_t due);
void kn_producer_record_settle(kinesis_producer_t* p, kn_prec_t* r,
                               int status, const kinesis_put_result_t* res);
void kn_producer_record_fail(kinesis_producer_t* p, kn_prec_t* r, int status,
                             const char* code, const char* message);
void kn_producer_pump(kinesis_producer_t* p);

/* producer_shards.c */
void kn_producer_shard_push(kinesis_producer_t* p, size_t i, kn_prec_t* r,
                            int front);
void kn_producer_shard_pop(kinesis_producer_t* p, kn_pshard_t* s,
                           kn_prec_t* r);
void kn_producer_record_route(kinesis_producer_t* p, kn_prec_t* r, int front);
void kn_producer_stage_flush(kinesis_producer_t* p);
void kn_producer_shards_free(kn_pshard_t* shards, size_t n);
double kn_producer_bytes_burst(const kinesis_producer_t* p);
void kn_producer_maybe_list(kinesis_producer_t* p, uint64_t now);
void kn_producer_shard_share(const kinesis_producer_t* p,
                             const kn_pshard_t* s, double* records,
                             double* bytes);
size_t kn_producer_judge_aggregate(kinesis_producer_t* p, kn_queue_t* records,
                                   int idx, const char* shard_id,
                                   const char* seq, uint64_t now);
void kn_producer_hold_aggregate(kinesis_producer_t* p, kn_entry_t* e,
                                const char* shard_id, const char* seq,
                                uint64_t now);

/* producer_send.c */
int kn_producer_send_batch(kinesis_producer_t* p, uint64_t now);

#endif /* KN_PRODUCER_INTERNAL_H */
