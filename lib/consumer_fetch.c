#include "consumer_internal.h"
#include "internal.h"

#include <string.h>

/*
 * Reading the consumer's shards: GetShardIterator and GetRecords, one call
 * in flight per shard; the line of shards waiting for a call, and the cap
 * on calls started per loop turn; fetch timers on slots of loop time;
 * backoff; turning an answer into a fetch (de-aggregation, the hash-range
 * rule, records already processed before a restart); ending a shard read
 * to its end, and its children then; dropping a lost shard.
 */

/* Shard calls started in one loop turn, at most: each costs about 100 us of
 * CPU to sign and send, and its answer as much again. */
#define KN_CALLS_PER_TURN 16
/* Calls that wait are started on multiples of this many ms of loop time. */
#define KN_FETCH_SLOT_MS 10
#define KN_BACKOFF_MIN_MS 500
#define KN_BACKOFF_MAX_MS 10000


/* ---- Fetching ---- */

static void call_ended(kinesis_consumer_t* c);


void kn_cfetch_stop(kn_cshard_t* s) {
  kn_cfetch_unwait_call(s);
  if (s->timer_open)
    uv_timer_stop(&s->timer);
  if (s->call != NULL)
    kn_client_call_cancel(s->call);
}


/* Drops the shard's undelivered records; they were never checkpointed. */
void kn_cfetch_drop_queued(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  kn_queue_t* q;
  for (q = s->fetches.next; q != &s->fetches; q = q->next) {
    kn_fetch_t* f = kn_queue_data(q, kn_fetch_t, node);
    if (!kn_queue_empty(&f->ready)) {
      c->stats.records_dropped += f->nrecs - f->delivered;
      c->queue_depth -= f->nrecs - f->delivered;
      kn_queue_remove(&f->ready);
      kn_queue_init(&f->ready);
      /* What was not delivered can never be acknowledged. */
      f->nrecs = f->delivered;
    }
  }
}


/* Back to "new", holding nothing: after a stop, or when a shard that was
 * lost is listed again and may be claimed once more. */
void kn_cfetch_forget(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  s->acked_ref = NULL;
  while (!kn_queue_empty(&s->fetches))
    kn_consumer_fetch_free(c, kn_queue_data(s->fetches.next, kn_fetch_t, node));
  kn_consumer_set_str(&s->iterator, NULL);
  kn_consumer_set_str(&s->last_fetched, NULL);
  kn_consumer_set_str(&s->start_seq, NULL);
  kn_consumer_set_str(&s->acked_seq, NULL);
  kn_consumer_set_str(&s->continuation, NULL);
  s->dirty = 0;
  s->skip_sub = -1;
  s->backoff_ms = 0;
  s->next_fetch_at = 0;
  s->fanout = 0;
  memset(&s->failure, 0, sizeof(s->failure));
  s->last_error = 0;
  if (s->state != SHARD_FINISHED)
    shard_set_state(s, SHARD_NEW);
}


void kn_cfetch_lost(kn_cshard_t* s, const char* why) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state == SHARD_GONE)
    return;
  kn_client_log(c->client, KINESIS_LOG_WARN,
                "consumer: dropping shard %s: %s", s->id, why);
  shard_set_state(s, SHARD_GONE);
  kn_cfetch_stop(s);
  kn_cfetch_drop_queued(s);
  kn_consumer_event_push_end(s, KINESIS_SHARD_END_LOST);
  /* Records handed out stay valid until acknowledged; fetches with none
   * left out go now. Its room in the queue goes to the other shards. */
  kn_consumer_shard_advance(s);
  kn_cfetch_wake_waiting(c, NULL);
  kn_consumer_readiness_update(c);
}


/* fetch_build's count for an aggregate dropped whole; SIZE_MAX stands for
 * a plain record. An aggregate never holds this many user records. */
#define DEAGG_DROPPED (SIZE_MAX - 1)


/* Splits the records of an answer into user records. Keys of
 * de-aggregated records are copied, NUL-terminated, into `strings`. An
 * aggregate with a user record outside the shard's hash-key range gives no
 * record at all (kn_deagg_in_range). */
static int fetch_build(kn_fetch_t* f, const kinesis_result_t* res,
                       kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  size_t total = 0;
  size_t i;
  size_t k;
  size_t n = 0;
  size_t* counts;
  const char* str;

  f->deaggs = kn_calloc(res->nrecords, sizeof(*f->deaggs));
  counts = kn_calloc(res->nrecords, sizeof(*counts));
  if (f->deaggs == NULL || counts == NULL) {
    kn_free(counts);
    return KINESIS_ENOMEM;
  }
  f->ndeaggs = res->nrecords;
  for (i = 0; i < res->nrecords; i++) {
    const kinesis_fetched_record_t* fr = &res->records[i];
    kn_deagg_record_t* users = NULL;
    int r = kn_deagg(fr->data, fr->len, &users, &counts[i]);
    if (r < 0) {
      kn_free(counts);
      return r;
    }
    if (r == 0) {
      counts[i] = SIZE_MAX;  /* plain */
    } else if (s->has_range && !kn_deagg_in_range(users, counts[i],
                                                  &s->range_start,
                                                  &s->range_end)) {
      /* The KCL's rule. The KPL puts an aggregate where its shard map says
       * all its keys live; with a stale map (after a reshard) it lands on a
       * shard that does not hold them all, and the KPL, seeing another
       * shard id in the answer than it predicted, sends every user record
       * of it again. Delivering the ones that belong here would deliver
       * them twice. */
      kn_free(users);
      counts[i] = DEAGG_DROPPED;
      continue;
    } else {
      f->deaggs[i] = users;
      for (k = 0; k < counts[i]; k++)
        if (kn_buf_append(&f->strings, users[k].partition_key,
                          users[k].partition_key_len) != 0 ||
            kn_buf_append_byte(&f->strings, 0) != 0 ||
            (users[k].explicit_hash_key != NULL &&
             (kn_buf_append(&f->strings, users[k].explicit_hash_key,
                            users[k].explicit_hash_key_len) != 0 ||
              kn_buf_append_byte(&f->strings, 0) != 0))) {
          kn_free(counts);
          return KINESIS_ENOMEM;
        }
    }
    /* A plain record counts once; an aggregate of no records, not at all. */
    total += r == 1 ? counts[i] : 1;
  }
  f->recs = kn_calloc(total > 0 ? total : 1, sizeof(*f->recs));
  if (f->recs == NULL) {
    kn_free(counts);
    return KINESIS_ENOMEM;
  }
  str = (const char*) f->strings.data;
  for (i = 0; i < res->nrecords; i++) {
    const kinesis_fetched_record_t* fr = &res->records[i];
    kn_deagg_record_t* users = f->deaggs[i];
    if (counts[i] == SIZE_MAX) {
      kn_crec_t* r = &f->recs[n++];
      r->pub.data = fr->data;
      r->pub.len = fr->len;
      r->pub.partition_key = fr->partition_key;
      r->pub.sequence_number = fr->sequence_number;
      r->pub.approximate_arrival_timestamp = fr->approximate_arrival_timestamp;
      continue;
    }
    if (counts[i] == DEAGG_DROPPED) {
      /* Counted here, past the last allocation, so that an answer taken
       * again after running out of memory does not count it twice. */
      c->stats.aggregates_dropped++;
      kn_client_log(c->client, KINESIS_LOG_DEBUG,
                    "consumer: dropped the KPL aggregate %s on %s: a user "
                    "record's hash key is outside the shard's range",
                    fr->sequence_number ? fr->sequence_number : "?", s->id);
      continue;
    }
    for (k = 0; k < counts[i]; k++) {
      kn_crec_t* r = &f->recs[n++];
      r->pub.data = users[k].data;
      r->pub.len = users[k].len;
      r->pub.partition_key = str;
      str += users[k].partition_key_len + 1;
      if (users[k].explicit_hash_key != NULL) {
        r->pub.explicit_hash_key = str;
        str += users[k].explicit_hash_key_len + 1;
      }
      r->pub.sequence_number = fr->sequence_number;
      r->pub.sub_sequence_number = (uint32_t) k;
      r->pub.aggregated = 1;
      r->pub.approximate_arrival_timestamp = fr->approximate_arrival_timestamp;
      /* Until its last user record, the aggregate is partly processed. */
      r->partial = k + 1 < counts[i];
    }
  }
  kn_free(counts);
  f->nrecs = n;
  for (i = 0; i < n; i++) {
    f->recs[i].fetch = f;
    f->recs[i].pub.shard_id = s->id;
    f->recs[i].pub.millis_behind_latest = res->millis_behind_latest;
  }
  return 0;
}


/* After a restart inside an aggregate, its processed records are skipped:
 * they are marked delivered and acknowledged without reaching on_record. */
static size_t fetch_skip_processed(kn_cshard_t* s, kn_fetch_t* f) {
  size_t skip = 0;
  if (s->skip_sub < 0 || s->start_seq == NULL)
    return 0;
  while (skip < f->nrecs && f->recs[skip].pub.aggregated &&
         strcmp(f->recs[skip].pub.sequence_number, s->start_seq) == 0 &&
         (int64_t) f->recs[skip].pub.sub_sequence_number <= s->skip_sub) {
    f->recs[skip].acked = 1;
    skip++;
  }
  s->skip_sub = -1;
  return skip;
}


void kn_cfetch_backoff(kn_cshard_t* s) {
  s->backoff_ms = s->backoff_ms == 0 ? KN_BACKOFF_MIN_MS : s->backoff_ms * 2;
  if (s->backoff_ms > KN_BACKOFF_MAX_MS)
    s->backoff_ms = KN_BACKOFF_MAX_MS;
  kn_cfetch_schedule(s, s->backoff_ms);
}


/* Forgets the shard's iterator, so that the next fetch takes a new one after
 * the last record fetched (or where the shard started, before any). Returns
 * KINESIS_ENOMEM, changing nothing, when that position cannot be kept. */
static int shard_drop_iterator(kn_cshard_t* s) {
  if (s->last_fetched != NULL) {
    if (kn_consumer_set_str(&s->start_seq, s->last_fetched) != 0)
      return KINESIS_ENOMEM;
    s->start_type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  }
  kn_free(s->iterator);
  s->iterator = NULL;
  return 0;
}


/* A shard's call (`op`: GetShardIterator, GetRecords, SubscribeToShard)
 * failed. Throttling is only counted (`throttled`). Any other failure means
 * the shard is not being read until a call succeeds: it is counted, and
 * reported at WARN when its reason is new and then at a slowing interval
 * (failure.h), so that a shard that backs off forever for the same reason
 * is not silent. `res` may be NULL. */
void kn_cfetch_failed(kn_cshard_t* s, const char* op, int status,
                      const kinesis_result_t* res) {
  kinesis_consumer_t* c = s->consumer;
  char subject[192];
  if (kn_failure_is_throttling(status)) {
    c->stats.throttled++;
    return;
  }
  snprintf(subject, sizeof(subject), "consumer: %s on %s", op, s->id);
  c->stats.fetch_failures++;
  s->last_error = status;
  kn_consumer_note_failure(c, &s->failure, subject, status, res);
  if (s->fetch_ok) {
    s->fetch_ok = 0;
    kn_consumer_readiness_update(c);
  }
}


/* Takes the records of an answer (or of a subscription's event) into a new
 * fetch, queued for delivery: the parsed answer moves into the fetch, from
 * `event` when it is not NULL (zeroed then) or else stolen from the call's
 * `res`. `last_fetched` (kn_malloc'd; its last record's sequence number)
 * becomes the shard's. Returns 0, or KINESIS_ENOMEM with nothing taken
 * and `last_fetched` still the caller's. */
int kn_cfetch_take(kn_cshard_t* s, const kinesis_result_t* res,
                   kn_parsed_t* event, char* last_fetched) {
  kinesis_consumer_t* c = s->consumer;
  kn_fetch_t* f = kn_calloc(1, sizeof(*f));
  size_t skip;
  if (f == NULL || fetch_build(f, res, s) != 0) {
    if (f != NULL) {
      size_t i;
      for (i = 0; i < f->ndeaggs; i++)
        kn_free(f->deaggs[i]);
      kn_free(f->deaggs);
      kn_free(f->recs);
      kn_buf_free(&f->strings);
      kn_free(f);
    }
    return KINESIS_ENOMEM;
  }
  {
    double seen = (double) f->nrecs / (double) res->nrecords;
    s->fanout = s->fanout > 0 ? s->fanout * 0.5 + seen * 0.5 : seen;
    if (s->fanout < 1)
      s->fanout = 1;
  }
  /* The records point into the answer: keep it. */
  if (event != NULL) {
    f->parsed = *event;
    memset(event, 0, sizeof(*event));
  } else {
    kn_client_steal_parsed(res, &f->parsed);
  }
  f->shard = s;
  kn_queue_init(&f->ready);
  kn_free(s->last_fetched);
  s->last_fetched = last_fetched;
  s->last_arrival =
      res->records[res->nrecords - 1].approximate_arrival_timestamp;
  skip = fetch_skip_processed(s, f);
  f->delivered = skip;
  f->acked = skip;
  kn_queue_insert_tail(&s->fetches, &f->node);
  if (skip < f->nrecs) {
    kn_queue_insert_tail(&c->ready, &f->ready);
    c->queue_depth += f->nrecs - skip;
    kn_consumer_dispatcher_kick(c);
  } else {
    kn_consumer_shard_advance(s);
  }
  return 0;
}


static void on_records(kinesis_client_t* client, int status,
                       const kinesis_result_t* res, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  uint64_t now = uv_now(c->loop);
  uint64_t interval;
  char* next_iterator = NULL;
  char* last_fetched = NULL;
  (void) client;

  s->call = NULL;
  c->reserved -= s->reserved;
  s->reserved = 0;
  call_ended(c);
  c->stats.get_records_calls++;
  /* The room this call held is free again: shards waiting for it fetch. */
  kn_cfetch_wake_waiting(c, s);
  if (c->wind || s->state != SHARD_FETCHING) {
    if (s->state == SHARD_HANDOVER)
      kn_clease_try_hand_over(s);
    kn_consumer_maybe_finish_close(c);
    return;
  }
  if (status == KINESIS_EEXPIRED) {
    /* Start again after the last record fetched. Without the memory to
     * note where, the expired iterator stays, and the next try fails the
     * same way and comes back here. */
    c->stats.expired_iterators++;
    if (shard_drop_iterator(s) != 0)
      kn_cfetch_backoff(s);
    else
      kn_cfetch_schedule(s, 0);
    return;
  }
  if (status == KINESIS_ENOTFOUND) {
    kn_cfetch_lost(s, "the service no longer knows it");
    return;
  }
  if (status != 0) {
    kn_cfetch_failed(s, "GetRecords", status, res);
    kn_client_log(c->client, KINESIS_LOG_DEBUG,
                  "consumer: GetRecords on %s failed (%s), backing off",
                  s->id, res->error_message ? res->error_message : "");
    /* The service refused the iterator itself (say, one that arrived
     * damaged): asking again with it can never work, so the next try takes
     * a new one. */
    if (status == KINESIS_EINVALIDARG)
      (void) shard_drop_iterator(s);
    kn_cfetch_backoff(s);
    return;
  }
  /* The next iterator and the last sequence number are copied first: once
   * the records are taken in, losing either would read them again. */
  if ((res->next_shard_iterator != NULL &&
       (next_iterator = kn_strdup(res->next_shard_iterator)) == NULL) ||
      (res->nrecords > 0 &&
       res->records[res->nrecords - 1].sequence_number != NULL &&
       (last_fetched = kn_strdup(
            res->records[res->nrecords - 1].sequence_number)) == NULL)) {
    kn_free(next_iterator);
    kn_cfetch_backoff(s);
    return;
  }
  s->backoff_ms = 0;
  s->last_error = 0;
  c->stats.get_records_ok++;
  if (s->failure.failures > 0) {
    char subject[192];
    snprintf(subject, sizeof(subject), "consumer: GetRecords on %s", s->id);
    kn_consumer_note_success(c, &s->failure, subject);
  }
  s->millis_behind = res->millis_behind_latest;
  if (!s->fetch_ok) {
    s->fetch_ok = 1;
    kn_consumer_readiness_update(c);
  }
  if (res->nrecords > 0 &&
      kn_cfetch_take(s, res, NULL, last_fetched) != 0) {
    kn_free(next_iterator);
    kn_free(last_fetched);
    kn_cfetch_backoff(s);
    return;
  }
  kn_free(s->iterator);
  s->iterator = next_iterator;
  if (res->next_shard_iterator == NULL) {
    /* A closed shard, read to its end. */
    kn_cfetch_read_to_end(s);
    return;
  }
  interval = (uint64_t) (1000.0 / c->o.shard_fetch_rate);
  if (res->nrecords == 0 && res->millis_behind_latest <= 0)
    interval = interval > c->o.sleep_time_no_records_ms
                   ? interval
                   : c->o.sleep_time_no_records_ms;
  s->next_fetch_at = now + interval;
  if (c->queue_depth + c->reserved < c->o.max_queue_size)
    kn_cfetch_schedule(s, interval);
  else
    c->room_waiters = 1;  /* the dispatcher starts it when there is room */
}


/* Whether the shard's next GetShardIterator starts from the checkpoint it
 * was claimed with: a sequence number start with nothing fetched since the
 * claim (after a fetch, the start is the last record fetched instead). */
int kn_cfetch_starts_at_checkpoint(const kn_cshard_t* s) {
  return (s->start_type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER ||
          s->start_type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER) &&
         s->start_seq != NULL && s->last_fetched == NULL;
}


static void on_iterator(kinesis_client_t* client, int status,
                        const kinesis_result_t* res, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  (void) client;

  s->call = NULL;
  call_ended(c);
  if (c->wind || s->state != SHARD_FETCHING) {
    if (s->state == SHARD_HANDOVER)
      kn_clease_try_hand_over(s);
    kn_consumer_maybe_finish_close(c);
    return;
  }
  if (status == KINESIS_ENOTFOUND) {
    kn_cfetch_lost(s, "the service no longer knows it");
    return;
  }
  if (status == KINESIS_EINVALIDARG && kn_cfetch_starts_at_checkpoint(s)) {
    kn_clease_checkpoint_refused(s, status, res->error_message);
    return;
  }
  if (status != 0) {
    kn_cfetch_failed(s, "GetShardIterator", status, res);
    kn_cfetch_backoff(s);
    return;
  }
  if (kn_consumer_set_str(&s->iterator, res->shard_iterator) != 0) {
    kn_cfetch_backoff(s);
    return;
  }
  kn_cfetch_schedule(s, 0);
}


/* The shard's next call: GetShardIterator when it has no iterator, else
 * GetRecords; or, with max_calls calls in flight, a place in the line. */
static void shard_fetch_now(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  uint32_t room;
  int r;

  if (c->wind || s->state != SHARD_FETCHING || s->call != NULL ||
      s->call_waiting || !kn_clease_check(s, uv_now(c->loop)))
    return;
  if (c->o.efo_consumer_name != NULL) {
    kn_cefo_subscribe(s);
    return;
  }
  if (c->calls >= c->max_calls || c->turn_calls >= KN_CALLS_PER_TURN) {
    kn_queue_insert_tail(&c->call_waiters, &s->call_wait);
    s->call_waiting = 1;
    return;
  }
  if (s->iterator == NULL) {
    kinesis_iterator_request_t it;
    memset(&it, 0, sizeof(it));
    it.stream = c->stream;
    it.shard_id = s->id;
    it.type = s->start_type;
    it.sequence_number = s->start_seq;
    it.timestamp = c->o.timestamp;
    r = kn_client_get_shard_iterator(c->client, &it, on_iterator, s, &s->call);
  } else {
    size_t fetching;
    if (c->queue_depth + c->reserved >= c->o.max_queue_size) {
      c->room_waiters = 1;
      return;
    }
    /* Never ask for more than the queue can take, counting what the other
     * shards' calls in flight may bring, and leave the others their share:
     * a share of the calls that can be in flight at once (max_calls), not
     * of every shard, or a thousand shards would each ask for one or two
     * records. The room is in user records; Limit counts Kinesis records,
     * which bring `fanout` user records each when they are aggregates. */
    room = (uint32_t) (c->o.max_queue_size - c->queue_depth - c->reserved);
    fetching = c->fetching;
    if (fetching > c->max_calls)
      fetching = c->max_calls;
    if (fetching > 1 && room > c->o.max_queue_size / fetching)
      room = (uint32_t) (c->o.max_queue_size / fetching);
    if (room > c->o.record_limit)
      room = c->o.record_limit;
    if (s->fanout > 1) {
      room = (uint32_t) ((double) room / s->fanout);
      if (room == 0)
        room = 1;
    } else if (s->fanout == 0) {
      /* Until an answer shows what the shard holds, ask for one record:
       * a first answer of aggregates could otherwise bring thousands of
       * user records for each one counted. */
      room = 1;
    }
    r = kn_client_get_records(c->client, s->iterator, room, on_records, s,
                              &s->call);
    if (r == 0) {
      s->reserved = s->fanout > 1 ? (uint32_t) (room * s->fanout) : room;
      c->reserved += s->reserved;
    }
  }
  if (r != 0) {
    s->call = NULL;
    if (r != KINESIS_ECLOSING)
      kn_cfetch_failed(s, s->iterator == NULL ? "GetShardIterator"
                                                : "GetRecords", r, NULL);
    kn_cfetch_backoff(s);
  } else {
    c->calls++;
    c->turn_calls++;
  }
}


static void on_fetch_timer(uv_timer_t* t) {
  shard_fetch_now(container_of(t, kn_cshard_t, timer));
}


/* The shards waiting in line take the room there is, in order, as many as
 * this turn may still start. */
void kn_cfetch_line_advance(kinesis_consumer_t* c) {
  while (c->calls < c->max_calls && c->turn_calls < KN_CALLS_PER_TURN &&
         !kn_queue_empty(&c->call_waiters) && !c->wind) {
    kn_cshard_t* s = kn_queue_data(c->call_waiters.next, kn_cshard_t,
                                   call_wait);
    kn_queue_remove(&s->call_wait);
    s->call_waiting = 0;
    shard_fetch_now(s);
  }
}


/* A shard call ended: its room goes to the line. */
static void call_ended(kinesis_consumer_t* c) {
  c->calls--;
  kn_cfetch_line_advance(c);
}


void kn_cfetch_unwait_call(kn_cshard_t* s) {
  if (s->call_waiting) {
    kn_queue_remove(&s->call_wait);
    s->call_waiting = 0;
  }
}


/* Shards that found the queue full wait, with no timer armed, until room
 * comes back: from delivery, or from a call that gave its reservation
 * back. This runs on every answer and delivery, so it walks the shards
 * only when one of them is waiting. */
void kn_cfetch_wake_waiting(kinesis_consumer_t* c, kn_cshard_t* except) {
  kn_queue_t* q;
  if (c->wind || !c->room_waiters ||
      c->queue_depth + c->reserved >= c->o.max_queue_size)
    return;
  /* Every waiting shard gets its timer below. */
  c->room_waiters = 0;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s != except && s->state == SHARD_FETCHING && s->call == NULL &&
        !uv_is_active((uv_handle_t*) &s->timer))
      kn_cfetch_schedule(s, 0);
    else if (s->sub != NULL)
      kn_cefo_resume(s);
  }
}


void kn_cfetch_schedule(kn_cshard_t* s, uint64_t delay) {
  uint64_t now = uv_now(s->consumer->loop);
  /* Calls on a shard stay 1/shard_fetch_rate apart. */
  if (s->next_fetch_at > now + delay)
    delay = s->next_fetch_at - now;
  /* A later call falls on the next slot of the loop's clock, so that the
   * shards due in one slot go out in one turn and share its wake-up,
   * rather than each waking the loop alone: later, never sooner, so the
   * rate holds. */
  if (delay > 0)
    delay += KN_FETCH_SLOT_MS - 1 - (now + delay + KN_FETCH_SLOT_MS - 1) %
                                        KN_FETCH_SLOT_MS;
  uv_timer_start(&s->timer, on_fetch_timer, delay, 0);
}


/* ---- A shard read to its end ---- */

/* Whether a listed shard names `id` as a parent. */
static int shard_has_child(kinesis_consumer_t* c, const char* id) {
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s->listed &&
        ((s->parent != NULL && strcmp(s->parent, id) == 0) ||
         (s->adjacent_parent != NULL && strcmp(s->adjacent_parent, id) == 0)))
      return 1;
  }
  return 0;
}


/* A shard is finished: its children may start now. A round when they are
 * listed already, else a listing to find them. (A listing per finished
 * shard was one long loop turn each on a stream of a thousand shards.) */
void kn_cfetch_children_may_start(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (c->wind)
    return;
  if (shard_has_child(c, s->id))
    kn_clease_round_start(c);
  else
    kn_clease_discovery_run(c);
}


static void on_finished(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  if (status == 0) {
    shard_set_state(s, SHARD_FINISHED);
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: shard %s finished", s->id);
    kn_consumer_event_push_end(s, KINESIS_SHARD_END_FINISHED);
    kn_cfetch_children_may_start(s);
  } else if (status == KINESIS_ELEASELOST) {
    kn_cfetch_lost(s, "its lease was taken by another consumer");
  } else {
    /* Try again on the next discovery. */
    shard_set_state(s, SHARD_ENDING);
    s->dirty = 1;
  }
  kn_consumer_maybe_finish_close(c);
}


/* A closed shard was read to its end: it ends once its records are
 * acknowledged. */
void kn_cfetch_read_to_end(kn_cshard_t* s) {
  shard_set_state(s, SHARD_ENDING);
  kn_client_log(s->consumer->client, KINESIS_LOG_INFO,
                "consumer: shard %s read to its end", s->id);
  kn_cfetch_try_end(s);
  kn_consumer_readiness_update(s->consumer);
}


/* A shard read to its end is finished once everything in it is acked. */
void kn_cfetch_try_end(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state != SHARD_ENDING || !kn_queue_empty(&s->fetches) ||
      s->ckpt_ops > 0 || c->wind)
    return;
  if (c->ops.finish(c->cp->self, c->stream, s->id, c->owner,
                    on_finished, s) == 0)
    s->ckpt_ops++;
}
