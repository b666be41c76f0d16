#include "producer_internal.h"
#include "internal.h"

#include <string.h>

#include "crypto.h"
#include "error.h"

/*
 * The producer's shards: routing records by hash key to their shard's
 * queue (partition keys hashed eight at a time); the shard map, listed with
 * ListShards, refreshed, and installed with every queued record routed
 * again; each shard's token buckets and the share a batch waits for; and
 * aggregates that landed on a shard the map did not predict, judged on a
 * fresh map and put again when their records do not all belong there.
 */

#define KN_LISTING_RETRY_MIN_MS 200
#define KN_LISTING_RETRY_MAX_MS 10000
/* A shard held back by its rate limits waits for at least this much of its
 * limits before a batch takes from it (kn_producer_shard_share()). */
#define KN_SHARE_MIN_MS 100


static void judge_landed(kinesis_producer_t* p, uint64_t now);


/* ---- Routing ---- */

void kn_producer_shard_push(kinesis_producer_t* p, size_t i, kn_prec_t* r,
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


void kn_producer_shard_pop(kinesis_producer_t* p, kn_pshard_t* s,
                           kn_prec_t* r) {
  kn_queue_remove(&r->node);
  s->npending--;
  s->pending_bytes -= record_size(r);
  p->npending--;
  p->pending_bytes -= record_size(r);
}


/* Puts `r` in its shard's queue (at the front for a retry, to keep order),
 * or in `unrouted` while there is no map or no shard for its key. */
void kn_producer_record_route(kinesis_producer_t* p, kn_prec_t* r, int front) {
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
  kn_producer_shard_push(p, (size_t) i, r, front);
}


/* Hashes the partition keys of the staged records, eight at a time, and
 * routes them in put order. A record with an explicit hash key was given
 * its hash at put. */
void kn_producer_stage_flush(kinesis_producer_t* p) {
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
      kn_producer_record_route(p, batch[i], 0);
    }
  }
}


void kn_producer_shards_free(kn_pshard_t* shards, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    kn_free(shards[i].shard_id);
  kn_free(shards);
}


/* The burst of a shard's byte bucket: its limit, or the largest record if
 * more, or that record could never be sent. */
double kn_producer_bytes_burst(const kinesis_producer_t* p) {
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
      kn_producer_shards_free(shards, i);
      return KINESIS_ENOMEM;
    }
    kn_bucket_init(&shards[i].records, p->o.put_rate_limit_per_shard,
                   p->o.put_rate_limit_per_shard, now);
    /* The burst holds the largest record, or it could never be sent. */
    kn_bucket_init(&shards[i].bytes, p->o.put_bandwidth_limit_per_shard,
                   kn_producer_bytes_burst(p), now);
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
  kn_producer_shards_free(old, nold);
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
    kn_producer_record_route(p, r, 0);
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
  kn_producer_pump(p);
}


void kn_producer_maybe_list(kinesis_producer_t* p, uint64_t now) {
  int due = now >= p->next_listing_at;
  int r;

  if (p->listing != NULL || kn_life_freeing(&p->life))
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
  if (kn_life_closing(&p->life) && p->nunrouted == 0 &&
      kn_queue_empty(&p->landed))
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


/* What a shard's buckets must hold before a batch takes from it: what it
 * has pending, or what its limits refill in buffer_time (KN_SHARE_MIN_MS at
 * least), whichever is less. A shard held back by its limits so sends a
 * share at a time. Taking each token as it comes would send a request per
 * record or two, up to a thousand a second per shard, each costing far more
 * than the records in it: a backlog of 5000 records over two shards went
 * out in 933 requests. With aggregation, the bytes are what binds. */
void kn_producer_shard_share(const kinesis_producer_t* p, const kn_pshard_t* s,
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
    kn_producer_record_settle(p, r, 0, &ok);
  }
}


/* Judges an aggregate that landed on shard `idx` of the current map (-1: a
 * shard not in it, closed or unknown). When that shard's range holds the
 * hash key of every record, they landed where they belong. Otherwise a
 * reader applying the KCL's rule drops the aggregate whole, so every record
 * of it is put again, routed on the current map, at the front of its
 * queue; records that expired meanwhile fail. Returns the records put
 * again. */
size_t kn_producer_judge_aggregate(kinesis_producer_t* p, kn_queue_t* records,
                                   int idx, const char* shard_id,
                                   const char* seq, uint64_t now) {
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
      kn_producer_record_fail(p, r, KINESIS_ETIMEDOUT, NULL,
                              expiry_message(p, r));
      continue;
    }
    r->not_before = 0;
    p->stats.records_rerouted++;
    kn_producer_record_route(p, r, 1);
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
    kn_producer_judge_aggregate(p, &l->records,
                                kn_shardmap_find(p->map, l->shard_id),
                                l->shard_id, l->sequence_number, now);
    kn_free(l);
  }
}


/* An aggregate that landed on a shard the map did not predict waits for a
 * fresh map: until one is listed, the shard's range is not known, and
 * neither is where its records belong. */
void kn_producer_hold_aggregate(kinesis_producer_t* p, kn_entry_t* e,
                                const char* shard_id, const char* seq,
                                uint64_t now) {
  size_t ls = strlen(shard_id) + 1;
  size_t lq = strlen(seq) + 1;
  kn_landed_t* l = kn_malloc(sizeof(*l) + ls + lq);

  p->relist_wanted = 1;
  if (l == NULL) {
    /* Without memory to wait, put them again: a duplicate, never a loss. */
    kn_producer_judge_aggregate(p, &e->records, -1, shard_id, seq, now);
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
