#include "producer_internal.h"
#include "internal.h"

#include <string.h>

#include "crypto.h"
#include "error.h"
#include "validate.h"

/*
 * The producer's API and its records: options, new, put (a record copied
 * into one allocation, carved from a block when small), flush, close and
 * stats; settling a record and running its callback; the one timer and the
 * pass it runs (kn_producer_pump), which sends, expires records past their
 * TTL, fails them all after a stall, and re-arms the timer for the earliest
 * thing due; the stream's largest record (DescribeStreamSummary).
 */

#define KN_MAX_BATCH_RECORDS 500
#define KN_MAX_RECORD_SIZE (10u * 1024 * 1024)
/* The stream's largest record when it does not say (MaxRecordSizeInKiB). */
#define KN_DEFAULT_RECORD_SIZE (1024u * 1024)

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


static void producer_maybe_finish_close(kinesis_producer_t* p);
static void on_timer(uv_timer_t* t);


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
void kn_producer_timer_arm(kinesis_producer_t* p, uint64_t due) {
  uint64_t now = uv_now(p->loop);
  uint64_t delay = due > now ? due - now : 0;
  if (kn_life_freeing(&p->life))
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
  kn_producer_pump(p);
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
void kn_producer_record_settle(kinesis_producer_t* p, kn_prec_t* r, int status,
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
    if (kn_life_closing(&p->life) && p->close_status == 0)
      p->close_status = status;
  }
  r->cb(p, status, res, r->arg);
  record_free(p, r);
}


void kn_producer_record_fail(kinesis_producer_t* p, kn_prec_t* r, int status,
                             const char* code, const char* message) {
  kinesis_put_result_t res;
  memset(&res, 0, sizeof(res));
  res.attempts = r->attempts;
  res.error_code = code;
  res.error_message =
      message != NULL && message[0] != '\0' ? message : kinesis_strerror(status);
  kn_producer_record_settle(p, r, status, &res);
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
        kn_producer_shard_pop(p, &p->shards[i], r);
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
    kn_producer_record_fail(p, r, KINESIS_ETIMEDOUT, NULL,
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

  if (kn_life_freeing(&p->life))
    return;
  if (p->listing == NULL && (p->map == NULL || !kn_life_closing(&p->life)))
    due = p->next_listing_at;
  /* The same condition as kn_producer_maybe_list(): after a failed listing, the
   * retry waits for next_listing_at, and so does the timer. */
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
    kn_producer_shard_share(p, s, &want_records, &want_bytes);
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
    kn_producer_timer_arm(p, due < now ? now : due);
}


void kn_producer_pump(kinesis_producer_t* p) {
  uint64_t now;
  int forced;
  kn_queue_t* q;

  if (p->in_pump || kn_life_freeing(&p->life))
    return;
  p->in_pump = 1;
  uv_update_time(p->loop);
  now = uv_now(p->loop);
  kn_producer_stage_flush(p);
  kn_producer_maybe_list(p, now);

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
    forced = !kn_queue_empty(&p->flushes) || kn_life_closing(&p->life) ||
             p->npending >= p->o.batch_size ||
             p->pending_bytes >= p->o.max_batch_bytes ||
             (p->npending > 0 &&
              oldest_pending(p) + p->o.buffer_time_ms <= now);
    /* Nothing goes out before the stream's record size limit is known:
     * records over it must fail rather than be sent. */
    if (!forced || p->in_flight >= p->o.max_in_flight || p->npending == 0 ||
        !p->limit_known)
      break;
    if (!kn_producer_send_batch(p, now))
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
    if (p->shards[i].bytes.burst < kn_producer_bytes_burst(p)) {
      p->shards[i].bytes.burst = kn_producer_bytes_burst(p);
      p->shards[i].bytes.tokens = kn_producer_bytes_burst(p);
    }
  /* Nothing has been sent yet: every record is in a queue. */
  kn_producer_stage_flush(p);
  kn_queue_init(&over);
  for (i = 0; i < p->nshards; i++)
    for (q = p->shards[i].pending.next; q != &p->shards[i].pending;) {
      kn_prec_t* r = kn_queue_data(q, kn_prec_t, node);
      q = q->next;
      if (record_size(r) > limit) {
        kn_producer_shard_pop(p, &p->shards[i], r);
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
    kn_producer_record_fail(
        p, r, KINESIS_EINVAL, NULL,
        "data and partition key over the stream's largest record "
        "(MaxRecordSizeInKiB)");
  }
  kn_producer_pump(p);
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
  kn_producer_timer_arm(p, p->next_listing_at);
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
  if (kn_life_closing(&p->life))
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
    kn_producer_stage_flush(p);

  /* Never send from inside put: a full batch is sent on the next tick. */
  if (p->npending + p->nstaged >= p->o.batch_size ||
      p->pending_bytes + p->staged_bytes >= p->o.max_batch_bytes)
    kn_producer_timer_arm(p, now);
  else
    kn_producer_timer_arm(p, now + p->o.buffer_time_ms);
  return 0;
}


int kinesis_producer_flush(kinesis_producer_t* p, kinesis_producer_cb cb,
                           void* arg) {
  kn_flush_t* f;
  if (p == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&p->life))
    return KINESIS_ECLOSING;
  f = kn_malloc(sizeof(*f));
  if (f == NULL)
    return KINESIS_ENOMEM;
  f->target = p->next_id;
  f->cb = cb;
  f->arg = arg;
  kn_queue_insert_tail(&p->flushes, &f->node);
  kn_producer_timer_arm(p, uv_now(p->loop));
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
  kn_producer_shards_free(p->shards, p->nshards);
  kn_shardmap_free(p->map);
  kn_agg_free(p->agg);
  kn_free(p->block);
  kn_free(p->stream);
  kn_free(p);
  if (cb != NULL)
    cb(data, status, arg);
}


static void producer_maybe_finish_close(kinesis_producer_t* p) {
  if (!kn_life_closing(&p->life) || kn_life_freeing(&p->life) ||
      p->count > 0 || p->in_flight > 0 || p->describing)
    return;
  if (p->listing != NULL) {
    kn_client_call_cancel(p->listing);
    return;
  }
  /* Flush callbacks still waiting have nothing left to wait for. */
  check_flushes_and_drain(p);
  if (!kn_queue_empty(&p->flushes))
    return;
  (void) kn_life_begin_free(&p->life);
  uv_close((uv_handle_t*) &p->timer, on_timer_closed);
}


int kinesis_producer_close(kinesis_producer_t* p, kinesis_close_cb cb,
                           void* arg) {
  if (p == NULL)
    return KINESIS_EINVAL;
  if (kn_life_begin_close(&p->life) < 0)
    return KINESIS_EALREADY;
  p->close_cb = cb;
  p->close_arg = arg;
  /* The pass on the next tick sends everything and, once every record is
   * settled, closes. */
  kn_producer_timer_arm(p, uv_now(p->loop));
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
