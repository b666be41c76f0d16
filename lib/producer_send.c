#include "producer_internal.h"
#include "internal.h"

#include <string.h>

#include "error.h"

/*
 * The producer's requests: a batch built round robin from the shard
 * queues, as plain records or KPL aggregates, within each shard's share;
 * ordered mode's holds; the PutRecords request, and its answer settled
 * entry by entry: records that landed, records retried after a backoff at
 * the front of their queue, records that fail; requests that keep failing,
 * for the log.
 */

/* How many entries ahead a pass over a batch prefetches records. */
#define KN_PREFETCH_AHEAD 8


/* ---- Batches ---- */

static void batch_free(kn_batch_t* b) {
  kn_buf_free(&b->blobs);
  kn_free(b->entries);
  kn_free(b);
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
  kn_producer_shard_pop(p, s, first);
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
        kn_producer_shard_pop(p, s, r);
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
            kn_producer_shard_push(p, si, r, 1);
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
int kn_producer_send_batch(kinesis_producer_t* p, uint64_t now) {
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
    kn_producer_timer_arm(p, now + 100);
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
        kn_producer_shard_share(p, s, &want_records, &want_bytes);
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
    kn_producer_record_route(p, r, 1);
    return;
  }
  if (retriable && record_expired(p, r, now)) {
    err = KINESIS_ETIMEDOUT;
    if (r->id < p->stall_below) {
      code = NULL;
      message = expiry_message(p, r);
    }
  }
  kn_producer_record_fail(p, r, err, code, message);
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
          info.succeeded -= kn_producer_judge_aggregate(
              p, &e->records, idx, er->shard_id, er->sequence_number, now);
        else
          kn_producer_hold_aggregate(p, e, er->shard_id, er->sequence_number,
                                     now);
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
        kn_producer_record_settle(p, r, 0, &ok);
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
        kn_producer_record_fail(p, r, KINESIS_ETIMEDOUT, NULL, why);
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
  kn_producer_pump(p);
}
