#include "consumer_internal.h"
#include "internal.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregation.h"
#include "client.h"
#include "codec.h"
#include "lease_plan.h"
#include "shardmap.h"
#include "strmap.h"
#include "validate.h"

#define KN_DELIVER_PER_TURN 2000
/* Shard calls started in one loop turn, at most: each costs about 100 us of
 * CPU to sign and send, and its answer as much again. */
#define KN_CALLS_PER_TURN 16
/* Calls that wait are started on multiples of this many ms of loop time. */
#define KN_FETCH_SLOT_MS 10
#define KN_BACKOFF_MIN_MS 500
#define KN_BACKOFF_MAX_MS 10000

static const char* const state_names[] = {
    "new", "claiming", "leased-elsewhere", "fetching", "ending", "finished",
    "gone", "handing-over", "failed"};


static void shard_schedule_fetch(kn_cshard_t* s, uint64_t delay);
static void wake_waiting_shards(kinesis_consumer_t* c, kn_cshard_t* except);
static void consumer_maybe_finish_close(kinesis_consumer_t* c);
static void discovery_run(kinesis_consumer_t* c);
static void on_discovery_timer(uv_timer_t* t);
static void dispatcher_kick(kinesis_consumer_t* c);
static void shard_try_end(kn_cshard_t* s);
static void round_start(kinesis_consumer_t* c);
static void consumer_reset(kinesis_consumer_t* c);
static void shard_try_hand_over(kn_cshard_t* s);
static int shard_holds_lease(const kn_cshard_t* s);
static int shard_lease_check(kn_cshard_t* s, uint64_t now);
static void readiness_update(kinesis_consumer_t* c);
static void shard_hand_over(kn_cshard_t* s);
static void member_call(kinesis_consumer_t* c, int leaving);
static void on_shard_timer_closed(uv_handle_t* h);
static void event_push_start(kn_cshard_t* s, const kinesis_checkpoint_t* ckpt);
static void event_push_end(kn_cshard_t* s, kinesis_shard_end_reason_t why);


void kinesis_consumer_options_init(kinesis_consumer_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->max_queue_size = 1000;
  o->record_limit = 10000;
  o->sleep_time_no_records_ms = 2000;
  o->shard_fetch_rate = 5;
  o->iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  o->checkpoint_interval_ms = 5000;
  o->heartbeat_interval_ms = 3000;
  o->shard_discovery_ms = 30000;
  o->invalid_checkpoint = KINESIS_INVALID_CHECKPOINT_FAIL;
}


static int set_str(char** dst, const char* src) {
  char* copy = NULL;
  if (src != NULL && (copy = kn_strdup(src)) == NULL)
    return KINESIS_ENOMEM;
  kn_free(*dst);
  *dst = copy;
  return 0;
}


/* ---- Readiness ---- */

/* Ready: started and not stopping, the shards listed, the first claims
 * answered, the checkpointer reachable at its last answer, and each shard
 * leased here read successfully since it was leased. Holding no shard at
 * all (others hold them) is ready too. */
static int consumer_ready_now(const kinesis_consumer_t* c) {
  const kn_queue_t* q;
  if (!c->started || c->closing || !c->listed_ok || !c->planned_once ||
      c->store_down)
    return 0;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    const kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if ((s->state == SHARD_FETCHING && !s->fetch_ok) ||
        s->state == SHARD_FAILED)
      return 0;
    /* Later claims come every round, for shards held elsewhere: only the
     * first round's count. */
    if (s->state == SHARD_CLAIMING && !c->claimed_once)
      return 0;
  }
  return 1;
}


static void on_readiness_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, readiness);
  int ready = consumer_ready_now(c);
  if (ready == c->reported_ready || c->closing)
    return;
  c->reported_ready = ready;
  kn_client_log(c->client, KINESIS_LOG_INFO, "consumer: %s",
                ready ? "ready, every leased shard is being read"
                      : "not ready");
  if (c->o.on_ready != NULL)
    c->o.on_ready(c, ready, c->o.on_ready_data);
}


/* Something readiness depends on changed: the change, if there is one, is
 * reported on a later tick, so on_ready never runs inside the library's
 * own work, and a state that flips and flips back in one tick is not
 * reported at all. */
static void readiness_update(kinesis_consumer_t* c) {
  int ready;
  if (c->closing)
    return;
  ready = consumer_ready_now(c);
  /* Ready once means the first claims were answered (latching this cannot
   * change `ready`: a ready consumer has no first-round claim pending). */
  if (ready)
    c->claimed_once = 1;
  if (ready != c->reported_ready)
    uv_timer_start(&c->readiness, on_readiness_timer, 0, 0);
}


/* The checkpointer answered an operation: whether it could be reached. */
static void note_store(kinesis_consumer_t* c, int status) {
  int down = status == KINESIS_ESTORE;
  if (status == KINESIS_ECANCELED || down == c->store_down)
    return;
  c->store_down = down;
  readiness_update(c);
}


int kinesis_consumer_ready(const kinesis_consumer_t* c) {
  return c != NULL && consumer_ready_now(c);
}


const char* kinesis_consumer_owner(const kinesis_consumer_t* c) {
  return c != NULL ? c->owner : NULL;
}


/* ---- Fetches and acknowledgement ---- */

static void fetch_free(kinesis_consumer_t* c, kn_fetch_t* f) {
  size_t i;
  if (!kn_queue_empty(&f->ready)) {
    kn_queue_remove(&f->ready);
    c->queue_depth -= f->nrecs - f->delivered;
  }
  kn_queue_remove(&f->node);
  c->unacked -= f->delivered - f->acked;
  for (i = f->acked; i < f->delivered; i++)
    if (f->recs[i].acked)
      c->unacked++;
  for (i = 0; i < f->ndeaggs; i++)
    kn_free(f->deaggs[i]);
  kn_free(f->deaggs);
  kn_free(f->recs);
  kn_buf_free(&f->strings);
  kn_parsed_free(&f->parsed);
  kn_free(f);
}


/* Moves the shard's acknowledged position over every record acknowledged
 * in order, freeing fetches that are done. */
static void shard_advance(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  while (!kn_queue_empty(&s->fetches)) {
    kn_fetch_t* f = kn_queue_data(s->fetches.next, kn_fetch_t, node);
    while (f->acked < f->delivered && f->recs[f->acked].acked) {
      kn_crec_t* r = &f->recs[f->acked];
      s->acked_ref = r->pub.sequence_number;
      s->acked_sub = r->pub.sub_sequence_number;
      s->acked_partial = r->partial;
      s->dirty = 1;
      f->acked++;
    }
    if (f->acked < f->nrecs)
      return;
    if (s->acked_ref != NULL) {
      set_str(&s->acked_seq, s->acked_ref);
      s->acked_ref = NULL;
    }
    fetch_free(c, f);
  }
  if (s->state == SHARD_ENDING)
    shard_try_end(s);
  else if (s->state == SHARD_HANDOVER)
    shard_try_hand_over(s);
}


static void record_ack(kinesis_consumer_t* c, kn_crec_t* r) {
  r->acked = 1;
  c->unacked--;
  c->stats.records_acked++;
  if (r->fetch->acked < r->fetch->delivered &&
      &r->fetch->recs[r->fetch->acked] == r)
    shard_advance(r->fetch->shard);
}


int kinesis_consumer_ack(kinesis_consumer_t* c,
                         const kinesis_consumer_record_t* record) {
  kn_crec_t* r;
  if (c == NULL || record == NULL || !c->o.manual_ack)
    return KINESIS_EINVAL;
  r = container_of(record, kn_crec_t, pub);
  if (r->fetch == NULL || r->fetch->shard->consumer != c)
    return KINESIS_EINVAL;
  if (r->acked)
    return KINESIS_EALREADY;
  record_ack(c, r);
  dispatcher_kick(c);
  wake_waiting_shards(c, NULL);
  return 0;
}


/* ---- Delivery ---- */

/* Queues a shard's start or end for its callback. A start is queued when
 * the lease is taken, before any GetShardIterator, so it comes before the
 * shard's records; an end once the shard's undelivered records are
 * dropped or all were acknowledged, so it comes after them. */
static void event_push(kn_cshard_t* s, int start, kinesis_iterator_type_t type,
                       const char* seq, uint32_t sub,
                       kinesis_shard_end_reason_t why) {
  kinesis_consumer_t* c = s->consumer;
  size_t idlen = strlen(s->id) + 1;
  size_t seqlen = seq != NULL ? strlen(seq) + 1 : 0;
  kn_event_t* e;

  if (start ? c->o.on_shard_start == NULL && c->o.on_shard_end == NULL
            : !s->started_event)
    return;
  s->started_event = start;
  e = kn_malloc(sizeof(*e) + idlen + seqlen);
  if (e == NULL) {
    kn_client_log(c->client, KINESIS_LOG_ERROR,
                  "consumer: the %s of shard %s cannot be reported: %s",
                  start ? "start" : "end", s->id,
                  kinesis_strerror(KINESIS_ENOMEM));
    return;
  }
  memset(e, 0, sizeof(*e));
  e->start = start;
  e->reason = why;
  memcpy(e->strings, s->id, idlen);
  e->st.shard_id = e->strings;
  e->st.iterator_type = type;
  e->st.sub_sequence_number = sub;
  if (seq != NULL) {
    memcpy(e->strings + idlen, seq, seqlen);
    e->st.sequence_number = e->strings + idlen;
  }
  kn_queue_insert_tail(&c->events, &e->node);
  dispatcher_kick(c);
}


static void event_push_start(kn_cshard_t* s, const kinesis_checkpoint_t* ckpt) {
  event_push(s, 1, s->start_type,
             ckpt->sequence_number != NULL ? s->start_seq : NULL,
             ckpt->partial ? ckpt->sub_sequence_number : 0,
             KINESIS_SHARD_END_FINISHED);
}


static void event_push_end(kn_cshard_t* s, kinesis_shard_end_reason_t why) {
  event_push(s, 0, KINESIS_ITERATOR_TRIM_HORIZON, NULL, 0, why);
}


/* Runs the queued starts and ends. The application may stop or close the
 * consumer from one; the rest still run, at the latest before the stop's
 * or close's own callback. */
static void events_run(kinesis_consumer_t* c) {
  c->in_dispatch++;
  while (!kn_queue_empty(&c->events)) {
    kn_event_t* e = kn_queue_data(c->events.next, kn_event_t, node);
    kn_queue_remove(&e->node);
    if (e->start && c->o.on_shard_start != NULL)
      c->o.on_shard_start(c, &e->st, c->o.on_shard_data);
    else if (!e->start && c->o.on_shard_end != NULL)
      c->o.on_shard_end(c, e->st.shard_id, e->reason, c->o.on_shard_data);
    kn_free(e);
  }
  c->in_dispatch--;
}


static void on_dispatch(uv_idle_t* idle) {
  kinesis_consumer_t* c = container_of(idle, kinesis_consumer_t, dispatcher);
  size_t budget = KN_DELIVER_PER_TURN;
  uint32_t max_unacked =
      c->o.max_unacked > 0 ? c->o.max_unacked : c->o.max_queue_size;

  if (!c->closing)
    events_run(c);
  c->in_dispatch++;
  while (budget > 0 && !kn_queue_empty(&c->ready) && !c->paused &&
         !c->closing) {
    kn_fetch_t* f = kn_queue_data(c->ready.next, kn_fetch_t, ready);
    kn_crec_t* r;
    if (c->o.manual_ack && c->unacked >= max_unacked)
      break;
    /* Never hand out a record of a shard whose lease may have passed to
     * another consumer: it drops the shard's queue. */
    if (!shard_lease_check(f->shard, uv_now(c->loop)))
      continue;
    r = &f->recs[f->delivered++];
    c->queue_depth--;
    c->unacked++;
    if (f->delivered == f->nrecs) {
      kn_queue_remove(&f->ready);
      kn_queue_init(&f->ready);
    }
    c->stats.records_delivered++;
    f->shard->records++;
    budget--;
    c->o.on_record(c, &r->pub, c->o.on_record_data);
    /* The application is done with it when on_record returns, even if it
     * closed the consumer meanwhile: the final checkpoint includes it. */
    if (!c->o.manual_ack)
      record_ack(c, r);
  }
  c->in_dispatch--;
  if ((kn_queue_empty(&c->ready) || c->paused || c->closing ||
       (c->o.manual_ack && c->unacked >= max_unacked)) &&
      (kn_queue_empty(&c->events) || c->closing))
    uv_idle_stop(&c->dispatcher);
  wake_waiting_shards(c, NULL);
  consumer_maybe_finish_close(c);
}


static void dispatcher_kick(kinesis_consumer_t* c) {
  if (!c->closing && ((!c->paused && !kn_queue_empty(&c->ready)) ||
                      !kn_queue_empty(&c->events)))
    uv_idle_start(&c->dispatcher, on_dispatch);
}


/* ---- Checkpoints and leases ---- */

static void shard_lost(kn_cshard_t* s, const char* why);


static void on_ckpt_done(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  if (status == KINESIS_ELEASELOST) {
    if (shard_holds_lease(s))
      c->stats.leases_lost++;
    shard_lost(s, "its lease was taken by another consumer");
  } else if (status != 0 && status != KINESIS_ECANCELED)
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: checkpointer call for %s failed: %s", s->id,
                  kinesis_strerror(status));
  /* A shard read to its end waits for its other calls before finishing. */
  if (s->state == SHARD_ENDING)
    shard_try_end(s);
  else if (s->state == SHARD_HANDOVER)
    shard_try_hand_over(s);
  consumer_maybe_finish_close(c);
}


static void on_checkpoint_written(int status, void* arg) {
  kn_cshard_t* s = arg;
  note_store(s->consumer, status);
  if (status == 0)
    s->consumer->stats.checkpoints++;
  else if (status != KINESIS_ELEASELOST)
    s->dirty = 1;  /* written again on the next interval */
  on_ckpt_done(status, arg);
}


static void shard_write_checkpoint(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  kinesis_checkpoint_t pos;
  int r;

  const char* seq = s->acked_ref != NULL ? s->acked_ref : s->acked_seq;

  if (!s->dirty || seq == NULL || !shard_holds_lease(s))
    return;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = seq;
  pos.sub_sequence_number = s->acked_sub;
  pos.partial = s->acked_partial;
  r = c->cp->ops->checkpoint(c->cp->self, c->stream, s->id, c->owner, &pos,
                             on_checkpoint_written, s);
  if (r == 0) {
    s->ckpt_ops++;
    s->dirty = 0;
    set_str(&s->written_seq, seq);
  }
}


static void on_checkpoint_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, checkpoint);
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next)
    shard_write_checkpoint(kn_queue_data(q, kn_cshard_t, node));
}


static int shard_holds_lease(const kn_cshard_t* s) {
  return s->state == SHARD_FETCHING || s->state == SHARD_ENDING ||
         s->state == SHARD_HANDOVER || s->state == SHARD_FAILED;
}


/* Whether the lease of a shard held here is still known good; when it is
 * not, the shard is dropped (0), since another consumer may own it now. */
static int shard_lease_check(kn_cshard_t* s, uint64_t now) {
  kinesis_consumer_t* c = s->consumer;
  if (c->lease_ms == 0 || !shard_holds_lease(s) || now < s->lease_until)
    return 1;
  c->stats.leases_lost++;
  shard_lost(s, "its lease could not be confirmed within the session timeout");
  return 0;
}


static void on_heartbeat(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->heartbeating = 0;
  if (status == 0 && shard_holds_lease(s))
    s->lease_until = s->lease_sent_at + c->lease_ms;
  note_store(c, status);
  on_ckpt_done(status, arg);
}


static void on_heartbeat_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, heartbeat);
  uint64_t now = uv_now(c->loop);
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (!shard_lease_check(s, now) || !shard_holds_lease(s) ||
        s->heartbeating)
      continue;
    if (c->cp->ops->heartbeat(c->cp->self, c->stream, s->id, c->owner,
                              on_heartbeat, s) == 0) {
      s->ckpt_ops++;
      s->heartbeating = 1;
      s->lease_sent_at = now;
    }
  }
  round_start(c);
}


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
static void shard_children_may_start(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (c->closing)
    return;
  if (shard_has_child(c, s->id))
    round_start(c);
  else
    discovery_run(c);
}


static void on_finished(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  if (status == 0) {
    shard_set_state(s, SHARD_FINISHED);
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: shard %s finished", s->id);
    event_push_end(s, KINESIS_SHARD_END_FINISHED);
    shard_children_may_start(s);
  } else if (status == KINESIS_ELEASELOST) {
    shard_lost(s, "its lease was taken by another consumer");
  } else {
    /* Try again on the next discovery. */
    shard_set_state(s, SHARD_ENDING);
    s->dirty = 1;
  }
  consumer_maybe_finish_close(c);
}


/* A shard read to its end is finished once everything in it is acked. */
static void shard_try_end(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state != SHARD_ENDING || !kn_queue_empty(&s->fetches) ||
      s->ckpt_ops > 0 || c->closing)
    return;
  if (c->cp->ops->finish(c->cp->self, c->stream, s->id, c->owner,
                         on_finished, s) == 0)
    s->ckpt_ops++;
}


/* ---- Fetching ---- */

static void call_ended(kinesis_consumer_t* c);
static void shard_unwait_call(kn_cshard_t* s);


static void shard_stop_fetching(kn_cshard_t* s) {
  shard_unwait_call(s);
  if (s->timer_open)
    uv_timer_stop(&s->timer);
  if (s->call != NULL)
    kn_client_call_cancel(s->call);
}


/* Drops the shard's undelivered records; they were never checkpointed. */
static void shard_drop_queued(kn_cshard_t* s) {
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
static void shard_forget(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  s->acked_ref = NULL;
  while (!kn_queue_empty(&s->fetches))
    fetch_free(c, kn_queue_data(s->fetches.next, kn_fetch_t, node));
  set_str(&s->iterator, NULL);
  set_str(&s->last_fetched, NULL);
  set_str(&s->start_seq, NULL);
  set_str(&s->acked_seq, NULL);
  s->dirty = 0;
  s->skip_sub = -1;
  s->backoff_ms = 0;
  s->next_fetch_at = 0;
  s->fanout = 0;
  if (s->state != SHARD_FINISHED)
    shard_set_state(s, SHARD_NEW);
}


static void shard_lost(kn_cshard_t* s, const char* why) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state == SHARD_GONE)
    return;
  kn_client_log(c->client, KINESIS_LOG_WARN,
                "consumer: dropping shard %s: %s", s->id, why);
  shard_set_state(s, SHARD_GONE);
  shard_stop_fetching(s);
  shard_drop_queued(s);
  event_push_end(s, KINESIS_SHARD_END_LOST);
  /* Records handed out stay valid until acknowledged; fetches with none
   * left out go now. Its room in the queue goes to the other shards. */
  shard_advance(s);
  wake_waiting_shards(c, NULL);
  readiness_update(c);
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


static void shard_backoff(kn_cshard_t* s) {
  s->backoff_ms = s->backoff_ms == 0 ? KN_BACKOFF_MIN_MS : s->backoff_ms * 2;
  if (s->backoff_ms > KN_BACKOFF_MAX_MS)
    s->backoff_ms = KN_BACKOFF_MAX_MS;
  shard_schedule_fetch(s, s->backoff_ms);
}


/* Forgets the shard's iterator, so that the next fetch takes a new one after
 * the last record fetched (or where the shard started, before any). Returns
 * KINESIS_ENOMEM, changing nothing, when that position cannot be kept. */
static int shard_drop_iterator(kn_cshard_t* s) {
  if (s->last_fetched != NULL) {
    if (set_str(&s->start_seq, s->last_fetched) != 0)
      return KINESIS_ENOMEM;
    s->start_type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  }
  kn_free(s->iterator);
  s->iterator = NULL;
  return 0;
}


/* A GetRecords or GetShardIterator call failed, not from throttling: the
 * shard is not being read until one succeeds. */
static void shard_fetch_failed(kn_cshard_t* s) {
  if (s->fetch_ok) {
    s->fetch_ok = 0;
    readiness_update(s->consumer);
  }
}


static void on_records(kinesis_client_t* client, int status,
                       const kinesis_result_t* res, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  kn_fetch_t* f;
  uint64_t now = uv_now(c->loop);
  uint64_t interval;
  size_t skip;
  char* next_iterator = NULL;
  char* last_fetched = NULL;
  (void) client;

  s->call = NULL;
  c->reserved -= s->reserved;
  s->reserved = 0;
  call_ended(c);
  c->stats.get_records_calls++;
  /* The room this call held is free again: shards waiting for it fetch. */
  wake_waiting_shards(c, s);
  if (c->closing || s->state != SHARD_FETCHING) {
    if (s->state == SHARD_HANDOVER)
      shard_try_hand_over(s);
    consumer_maybe_finish_close(c);
    return;
  }
  if (status == KINESIS_EEXPIRED) {
    /* Start again after the last record fetched. Without the memory to
     * note where, the expired iterator stays, and the next try fails the
     * same way and comes back here. */
    c->stats.expired_iterators++;
    if (shard_drop_iterator(s) != 0)
      shard_backoff(s);
    else
      shard_schedule_fetch(s, 0);
    return;
  }
  if (status == KINESIS_ENOTFOUND) {
    shard_lost(s, "the service no longer knows it");
    return;
  }
  if (status != 0) {
    if (status == KINESIS_ETHROUGHPUT)
      c->stats.throttled++;
    else
      shard_fetch_failed(s);
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: GetRecords on %s failed (%s), backing off",
                  s->id, res->error_message ? res->error_message : "");
    /* The service refused the iterator itself (say, one that arrived
     * damaged): asking again with it can never work, so the next try takes
     * a new one. */
    if (status == KINESIS_EINVALIDARG)
      (void) shard_drop_iterator(s);
    shard_backoff(s);
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
    shard_backoff(s);
    return;
  }
  s->backoff_ms = 0;
  s->millis_behind = res->millis_behind_latest;
  if (!s->fetch_ok) {
    s->fetch_ok = 1;
    readiness_update(c);
  }
  if (res->nrecords > 0) {
    f = kn_calloc(1, sizeof(*f));
    if (f == NULL || fetch_build(f, res, s) != 0) {
      kn_free(next_iterator);
      kn_free(last_fetched);
      if (f != NULL) {
        size_t i;
        for (i = 0; i < f->ndeaggs; i++)
          kn_free(f->deaggs[i]);
        kn_free(f->deaggs);
        kn_free(f->recs);
        kn_buf_free(&f->strings);
        kn_free(f);
      }
      shard_backoff(s);
      return;
    }
    {
      double seen = (double) f->nrecs / (double) res->nrecords;
      s->fanout = s->fanout > 0 ? s->fanout * 0.5 + seen * 0.5 : seen;
      if (s->fanout < 1)
        s->fanout = 1;
    }
    /* The records point into the answer: keep it. */
    kn_client_steal_parsed(res, &f->parsed);
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
      dispatcher_kick(c);
    } else {
      shard_advance(s);
    }
  }
  kn_free(s->iterator);
  s->iterator = next_iterator;
  if (res->next_shard_iterator == NULL) {
    /* A closed shard, read to its end. */
    shard_set_state(s, SHARD_ENDING);
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: shard %s read to its end", s->id);
    shard_try_end(s);
    readiness_update(c);
    return;
  }
  interval = (uint64_t) (1000.0 / c->o.shard_fetch_rate);
  if (res->nrecords == 0 && res->millis_behind_latest <= 0)
    interval = interval > c->o.sleep_time_no_records_ms
                   ? interval
                   : c->o.sleep_time_no_records_ms;
  s->next_fetch_at = now + interval;
  if (c->queue_depth + c->reserved < c->o.max_queue_size)
    shard_schedule_fetch(s, interval);
  else
    c->room_waiters = 1;  /* the dispatcher starts it when there is room */
}


/* Whether the shard's next GetShardIterator starts from the checkpoint it
 * was claimed with: a sequence number start with nothing fetched since the
 * claim (after a fetch, the start is the last record fetched instead). */
static int shard_starts_at_checkpoint(const kn_cshard_t* s) {
  return (s->start_type == KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER ||
          s->start_type == KINESIS_ITERATOR_AT_SEQUENCE_NUMBER) &&
         s->start_seq != NULL && s->last_fetched == NULL;
}


/* The service refused the checkpoint the shard started from: a stream
 * deleted and created again under the same name, or another shard's
 * checkpoint. Asking again can never work, so it is never retried: the
 * shard either stops being read, keeping its lease so that no other
 * consumer takes it and fails the same way, or starts over from
 * invalid_checkpoint's position. The application's callback runs last,
 * since it may close or stop the consumer. */
static void shard_checkpoint_refused(kn_cshard_t* s, int status,
                                     const char* message) {
  kinesis_consumer_t* c = s->consumer;
  kinesis_checkpoint_error_t e;
  /* Taken from the shard, so that it outlives a stop or close called from
   * the callback; the shard never starts from it again. */
  char* refused = s->start_seq;

  s->start_seq = NULL;
  c->stats.invalid_checkpoints++;
  memset(&e, 0, sizeof(e));
  e.shard_id = s->id;
  e.sequence_number = refused;
  e.sub_sequence_number = s->acked_sub;
  e.status = status;
  e.message = message != NULL ? message : "";
  if (c->o.invalid_checkpoint == KINESIS_INVALID_CHECKPOINT_FAIL) {
    /* Nothing was read, so nothing is acknowledged or checkpointed; the
     * store keeps the refused checkpoint. */
    shard_set_state(s, SHARD_FAILED);
    s->dirty = 0;
    kn_client_log(c->client, KINESIS_LOG_ERROR,
                  "consumer: shard %s: the service refused checkpoint %s "
                  "(%s); the shard is not read, and its lease kept",
                  s->id, refused, e.message);
    readiness_update(c);
  } else {
    int latest = c->o.invalid_checkpoint == KINESIS_INVALID_CHECKPOINT_LATEST;
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: shard %s: the service refused checkpoint %s "
                  "(%s); reading it from %s instead",
                  s->id, refused, e.message,
                  latest ? "LATEST" : "TRIM_HORIZON");
    /* The refused position is forgotten, so it is never written back: the
     * next checkpoint is the first record acknowledged from the new
     * start. The store keeps the old one until then. */
    s->start_type = latest ? KINESIS_ITERATOR_LATEST
                           : KINESIS_ITERATOR_TRIM_HORIZON;
    s->skip_sub = -1;
    s->acked_sub = 0;
    s->acked_partial = 0;
    s->dirty = 0;
    set_str(&s->acked_seq, NULL);
    shard_schedule_fetch(s, 0);
  }
  if (c->o.on_checkpoint_error != NULL)
    c->o.on_checkpoint_error(c, &e, c->o.on_checkpoint_error_data);
  kn_free(refused);
}


static void on_iterator(kinesis_client_t* client, int status,
                        const kinesis_result_t* res, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  (void) client;

  s->call = NULL;
  call_ended(c);
  if (c->closing || s->state != SHARD_FETCHING) {
    if (s->state == SHARD_HANDOVER)
      shard_try_hand_over(s);
    consumer_maybe_finish_close(c);
    return;
  }
  if (status == KINESIS_ENOTFOUND) {
    shard_lost(s, "the service no longer knows it");
    return;
  }
  if (status == KINESIS_EINVALIDARG && shard_starts_at_checkpoint(s)) {
    shard_checkpoint_refused(s, status, res->error_message);
    return;
  }
  if (status != 0) {
    if (status == KINESIS_ETHROUGHPUT)
      c->stats.throttled++;
    else
      shard_fetch_failed(s);
    shard_backoff(s);
    return;
  }
  if (set_str(&s->iterator, res->shard_iterator) != 0) {
    shard_backoff(s);
    return;
  }
  shard_schedule_fetch(s, 0);
}


/* The shard's next call: GetShardIterator when it has no iterator, else
 * GetRecords; or, with max_calls calls in flight, a place in the line. */
static void shard_fetch_now(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  uint32_t room;
  int r;

  if (c->closing || s->state != SHARD_FETCHING || s->call != NULL ||
      s->call_waiting || !shard_lease_check(s, uv_now(c->loop)))
    return;
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
    shard_backoff(s);
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
static void line_advance(kinesis_consumer_t* c) {
  while (c->calls < c->max_calls && c->turn_calls < KN_CALLS_PER_TURN &&
         !kn_queue_empty(&c->call_waiters) && !c->closing) {
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
  line_advance(c);
}


static void shard_unwait_call(kn_cshard_t* s) {
  if (s->call_waiting) {
    kn_queue_remove(&s->call_wait);
    s->call_waiting = 0;
  }
}


/* Shards that found the queue full wait, with no timer armed, until room
 * comes back: from delivery, or from a call that gave its reservation
 * back. This runs on every answer and delivery, so it walks the shards
 * only when one of them is waiting. */
static void wake_waiting_shards(kinesis_consumer_t* c, kn_cshard_t* except) {
  kn_queue_t* q;
  if (c->closing || !c->room_waiters ||
      c->queue_depth + c->reserved >= c->o.max_queue_size)
    return;
  /* Every waiting shard gets its timer below. */
  c->room_waiters = 0;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s != except && s->state == SHARD_FETCHING && s->call == NULL &&
        !uv_is_active((uv_handle_t*) &s->timer))
      shard_schedule_fetch(s, 0);
  }
}


static void shard_schedule_fetch(kn_cshard_t* s, uint64_t delay) {
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


/* ---- Leases and discovery ----
 *
 * A round runs on every heartbeat and after every listing: count the live
 * consumers (the member op), read the lease table of the listed shards (the
 * leases op), ask the planner (lease_plan.c) which shards to claim and which
 * to hand over, and do that. Nothing else decides claims. With a store that
 * lacks the leases op, the consumer plans with what it learned itself: the
 * shards it holds, those whose claim another's lease refused, and parents
 * found finished through get. */

static kn_cshard_t* shard_find(kinesis_consumer_t* c, const char* id) {
  return kn_strmap_get(&c->index, id);
}


static void claims_settled(kinesis_consumer_t* c);
static void round_plan(kinesis_consumer_t* c);


static void claimed(int status, const kinesis_checkpoint_t* ckpt,
                    kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;

  s->ckpt_ops--;
  if (c->closing || s->state != SHARD_CLAIMING) {
    /* Claimed while closing: give it back at once. */
    if (status == 0 &&
        c->cp->ops->release(c->cp->self, c->stream, s->id, c->owner,
                            on_ckpt_done, s) == 0)
      s->ckpt_ops++;
    if (s->state == SHARD_CLAIMING)
      shard_set_state(s, SHARD_NEW);
    consumer_maybe_finish_close(c);
    return;
  }
  if (status == KINESIS_ELEASED) {
    /* Another consumer holds it: the next plan knows. */
    shard_set_state(s, SHARD_LEASED_OTHER);
    s->known = 1;
    c->claims_refused++;
    return;
  }
  if (status != 0) {
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: cannot claim %s: %s", s->id,
                  kinesis_strerror(status));
    shard_set_state(s, SHARD_NEW);
    return;
  }
  s->known = 1;
  if (ckpt->finished) {
    /* Someone read it to its end already: give the lease back. */
    shard_set_state(s, SHARD_FINISHED);
    if (c->cp->ops->release(c->cp->self, c->stream, s->id, c->owner,
                            on_ckpt_done, s) == 0)
      s->ckpt_ops++;
    shard_children_may_start(s);
    return;
  }
  s->skip_sub = -1;
  if (ckpt->sequence_number != NULL &&
      (set_str(&s->start_seq, ckpt->sequence_number) != 0 ||
       set_str(&s->acked_seq, ckpt->sequence_number) != 0 ||
       set_str(&s->written_seq, ckpt->sequence_number) != 0)) {
    /* Without the checkpoint the shard would start at the wrong place: it
     * is claimed again (our own lease) in a later round. */
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: cannot claim %s: %s", s->id,
                  kinesis_strerror(KINESIS_ENOMEM));
    shard_set_state(s, SHARD_NEW);
    return;
  }
  if (ckpt->sequence_number != NULL) {
    s->acked_sub = ckpt->sub_sequence_number;
    s->acked_partial = ckpt->partial;
    if (ckpt->partial) {
      /* Part of an aggregate was processed: read it again, skip that part. */
      s->start_type = KINESIS_ITERATOR_AT_SEQUENCE_NUMBER;
      s->skip_sub = ckpt->sub_sequence_number;
    } else {
      s->start_type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
    }
  } else if (c->o.iterator_type == KINESIS_ITERATOR_AT_TIMESTAMP) {
    /* Every shard read, parents first, starts at the timestamp: a shard
     * made after it starts at its beginning all the same. */
    s->start_type = KINESIS_ITERATOR_AT_TIMESTAMP;
  } else if (s->at_position) {
    s->start_type = c->o.iterator_type;
  } else {
    /* A child of a shard this application read starts at its beginning,
     * so per-key order holds across the reshard. */
    s->start_type = KINESIS_ITERATOR_TRIM_HORIZON;
  }
  shard_set_state(s, SHARD_FETCHING);
  s->fetch_ok = 0;
  s->lease_until = s->lease_sent_at + c->lease_ms;
  kn_client_log(c->client, KINESIS_LOG_INFO, "consumer: leased shard %s",
                s->id);
  event_push_start(s, ckpt);
  shard_schedule_fetch(s, 0);
}


static void on_claimed(int status, const kinesis_checkpoint_t* ckpt,
                       void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  note_store(c, status);
  claimed(status, ckpt, s);
  c->claims_out--;
  claims_settled(c);
  readiness_update(c);
}


/* Every claim of a plan was answered: when some were refused and the store
 * cannot list its leases, plan again with what the refusals taught, once
 * for the whole batch rather than once per answer. */
static void claims_settled(kinesis_consumer_t* c) {
  if (c->claims_out > 0 || c->claims_refused == 0)
    return;
  c->claims_refused = 0;
  if (!c->closing && c->started && c->cp->ops->leases == NULL)
    round_plan(c);
}


static void shard_claim(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  shard_set_state(s, SHARD_CLAIMING);
  s->lease_sent_at = uv_now(c->loop);
  if (c->cp->ops->claim(c->cp->self, c->stream, s->id, c->owner, on_claimed,
                        s) == 0) {
    s->ckpt_ops++;
    c->claims_out++;
  } else {
    shard_set_state(s, SHARD_NEW);
  }
}


static int shard_open_timer(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (uv_timer_init(c->loop, &s->timer) != 0)
    return KINESIS_ENOMEM;
  s->timer.data = s;
  s->timer_open = 1;
  c->handles_open++;
  return 0;
}


static void on_probed(int status, const kinesis_checkpoint_t* ckpt,
                      void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  s->probing = 0;
  c->probes_out--;
  if (status == 0) {
    s->known = s->known || ckpt->sequence_number != NULL || ckpt->finished;
    if (ckpt->finished &&
        (s->state == SHARD_NEW || s->state == SHARD_LEASED_OTHER)) {
      shard_set_state(s, SHARD_FINISHED);
      c->probes_found++;
    }
  }
  /* Parents found finished: their children may be claimed now. */
  if (c->probes_out == 0 && c->probes_found > 0) {
    c->probes_found = 0;
    if (!c->closing && c->started)
      round_plan(c);
  }
  consumer_maybe_finish_close(c);
}


/* Without the leases op: a parent another consumer reads is finished by
 * that consumer, so ask the checkpointer whether it is. */
static void probe_parent(kinesis_consumer_t* c, const char* id) {
  kn_cshard_t* p = id != NULL ? shard_find(c, id) : NULL;
  if (p == NULL || !p->listed || p->probing ||
      (p->state != SHARD_NEW && p->state != SHARD_LEASED_OTHER))
    return;
  if (c->cp->ops->get(c->cp->self, c->stream, p->id, on_probed, p) == 0) {
    p->probing = 1;
    p->ckpt_ops++;
    c->probes_out++;
  }
}


/* A shard lost earlier and still listed may be claimed again, once nothing
 * of its old reading is in flight. */
static void shard_maybe_forget(kn_cshard_t* s) {
  if (s->listed && s->state == SHARD_GONE && s->call == NULL &&
      s->ckpt_ops == 0 && !uv_is_active((uv_handle_t*) &s->timer) &&
      kn_queue_empty(&s->fetches))
    shard_forget(s);
}


/* A shard neither listed nor held, with nothing in flight, leaves the
 * table: a stream resharded again and again keeps a table of the shards
 * it lists now. Its timer's close frees it. */
static void shard_maybe_drop(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->listed || shard_holds_lease(s) || s->state == SHARD_CLAIMING ||
      s->call != NULL || s->ckpt_ops > 0 || s->probing ||
      !kn_queue_empty(&s->fetches))
    return;
  kn_queue_remove(&s->node);
  kn_strmap_remove(&c->index, s->id);
  c->nshards--;
  uv_close((uv_handle_t*) &s->timer, on_shard_timer_closed);
}


static kn_cshard_t* shard_new(kinesis_consumer_t* c, const kinesis_shard_t* sh) {
  kn_cshard_t* s = kn_calloc(1, sizeof(*s));
  if (s == NULL)
    return NULL;
  s->consumer = c;
  s->skip_sub = -1;
  s->millis_behind = -1;
  kn_queue_init(&s->fetches);
  kn_queue_init(&s->call_wait);
  s->has_range =
      kn_hash_key_parse(sh->starting_hash_key, &s->range_start) == 0 &&
      kn_hash_key_parse(sh->ending_hash_key, &s->range_end) == 0 &&
      kn_hash_key_cmp(&s->range_start, &s->range_end) <= 0;
  if (set_str(&s->id, sh->shard_id) != 0 ||
      set_str(&s->parent, sh->parent_shard_id) != 0 ||
      set_str(&s->adjacent_parent, sh->adjacent_parent_shard_id) != 0 ||
      kn_strmap_put(&c->index, s->id, s) != 0) {
    kn_free(s->id);
    kn_free(s->parent);
    kn_free(s->adjacent_parent);
    kn_free(s);
    return NULL;
  }
  if (shard_open_timer(s) != 0) {
    kn_strmap_remove(&c->index, s->id);
    kn_free(s->id);
    kn_free(s->parent);
    kn_free(s->adjacent_parent);
    kn_free(s);
    return NULL;
  }
  kn_queue_insert_tail(&c->shards, &s->node);
  c->nshards++;
  return s;
}


static void frontier_query(kinesis_consumer_t* c);


static void on_listed(kinesis_client_t* client, int status,
                      const kinesis_result_t* res, void* arg) {
  kinesis_consumer_t* c = arg;
  kn_queue_t* q;
  kn_queue_t* next;
  size_t i;
  (void) client;

  c->listing = NULL;
  if (c->closing) {
    consumer_maybe_finish_close(c);
    return;
  }
  if (status != 0) {
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: ListShards failed: %s%s%s",
                  res->error_code ? res->error_code : kinesis_strerror(status),
                  res->error_message ? ": " : "",
                  res->error_message ? res->error_message : "");
    /* Try again soon rather than after a whole discovery interval (and
     * never later than one). */
    uv_timer_start(&c->discovery, on_discovery_timer,
                   c->o.shard_discovery_ms < 1000 ? c->o.shard_discovery_ms
                                                  : 1000,
                   c->o.shard_discovery_ms);
    return;
  }
  for (q = c->shards.next; q != &c->shards; q = q->next)
    kn_queue_data(q, kn_cshard_t, node)->listed = 0;
  for (i = 0; i < res->nshards; i++) {
    const kinesis_shard_t* sh = &res->shards[i];
    kn_cshard_t* s = shard_find(c, sh->shard_id);
    if (s == NULL && (s = shard_new(c, sh)) == NULL)
      continue;
    s->listed = 1;
    s->open = sh->ending_sequence_number == NULL;
  }
  for (q = c->shards.next; q != &c->shards; q = next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    next = q->next;
    if (!s->listed &&
        (s->state == SHARD_FETCHING || s->state == SHARD_FAILED))
      shard_lost(s, "it is no longer in the stream's shard list");
    else if (s->state == SHARD_GONE)
      shard_maybe_forget(s);
    /* A shard whose finish did not go through: try again. */
    else if (s->state == SHARD_ENDING)
      shard_try_end(s);
    /* Without a lease table, a lease seen elsewhere may have expired since:
     * this round claims it again to find out. */
    else if (s->state == SHARD_LEASED_OTHER && c->cp->ops->leases == NULL)
      shard_set_state(s, SHARD_NEW);
    if (!s->listed)
      shard_maybe_drop(s);
  }
  c->listed_ok = 1;
  if (!c->frontier_done) {
    if (c->o.iterator_type == KINESIS_ITERATOR_AT_TIMESTAMP) {
      frontier_query(c);
      return;
    }
    /* LATEST: the shards open now. The start position is this moment, so
     * the frontier is fixed here; shards made later are read from their
     * beginning. */
    for (q = c->shards.next; q != &c->shards; q = q->next) {
      kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
      s->frontier = s->listed && s->open;
    }
    c->frontier_done = 1;
    c->frontier_trusted = 1;
  }
  round_start(c);
  readiness_update(c);
}


/* AT_TIMESTAMP: the shards open at the timestamp, from ListShards with a
 * ShardFilter. A server that ignores the filter (kinesalite) answers with
 * every shard, parents and children together, which a real answer never
 * holds: then there is no frontier, and every shard is read from the
 * timestamp, parents first, which is right but reads shards that closed
 * before it to their (empty) end. */
static void on_frontier(kinesis_client_t* client, int status,
                        const kinesis_result_t* res, void* arg) {
  kinesis_consumer_t* c = arg;
  kn_strmap_t answer;
  int trusted = status == 0;
  size_t i;
  (void) client;

  c->frontier_call = NULL;
  if (c->closing) {
    consumer_maybe_finish_close(c);
    return;
  }
  kn_strmap_init(&answer);
  for (i = 0; trusted && i < res->nshards; i++)
    if (kn_strmap_put(&answer, res->shards[i].shard_id, &answer) != 0)
      trusted = 0;
  for (i = 0; trusted && i < res->nshards; i++) {
    const kinesis_shard_t* sh = &res->shards[i];
    if ((sh->parent_shard_id != NULL &&
         kn_strmap_get(&answer, sh->parent_shard_id) != NULL) ||
        (sh->adjacent_parent_shard_id != NULL &&
         kn_strmap_get(&answer, sh->adjacent_parent_shard_id) != NULL))
      trusted = 0;
  }
  for (i = 0; trusted && i < res->nshards; i++) {
    kn_cshard_t* s = shard_find(c, res->shards[i].shard_id);
    if (s != NULL)
      s->frontier = 1;
  }
  kn_strmap_free(&answer);
  if (!trusted)
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: no list of the shards open at the timestamp "
                  "(%s); every shard is read from it, parents first",
                  status != 0 ? kinesis_strerror(status)
                              : "the filter was ignored");
  c->frontier_done = 1;
  c->frontier_trusted = trusted;
  round_start(c);
  readiness_update(c);
}


static void frontier_query(kinesis_consumer_t* c) {
  if (c->frontier_call != NULL)
    return;
  if (kn_client_list_shards_at(c->client, c->stream, c->o.timestamp,
                               on_frontier, c, &c->frontier_call) != 0) {
    c->frontier_call = NULL;
    c->frontier_done = 1;
    c->frontier_trusted = 0;
    round_start(c);
  }
}


/* ---- Rounds ----
 *
 * Rebalancing comes out of the plan: a consumer above its share hands the
 * extra shards over (stops fetching, drops what it has not delivered, waits
 * for the records it handed out to be acknowledged, checkpoints, releases),
 * and one below it claims free and expired leases. */

static void round_table(kinesis_consumer_t* c);
static void on_leases(int status, const kinesis_lease_t* leases, size_t n,
                      void* arg);


static void round_end(kinesis_consumer_t* c) {
  c->round_busy = 0;
  if (c->round_again) {
    c->round_again = 0;
    round_start(c);
  }
}


static void round_start(kinesis_consumer_t* c) {
  if (c->closing || !c->started || !c->listed_ok || !c->frontier_done)
    return;
  if (c->round_busy) {
    c->round_again = 1;
    return;
  }
  c->round_busy = 1;
  if (c->cp->ops->member != NULL) {
    member_call(c, 0);
    /* The count answers, then the table is read (on_members). */
    if (c->member_calls > 0)
      return;
  }
  round_table(c);
}


static void round_table(kinesis_consumer_t* c) {
  kn_queue_t* q;
  size_t n = 0;

  if (c->cp->ops->leases == NULL) {
    round_plan(c);
    round_end(c);
    return;
  }
  if (c->nshards > c->ids_cap) {
    const char** ids = kn_realloc(c->ids, c->nshards * sizeof(*ids));
    if (ids == NULL) {
      round_end(c);
      return;
    }
    c->ids = ids;
    c->ids_cap = c->nshards;
  }
  /* A finished shard stays finished: it is not asked about again. */
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s->listed && s->state != SHARD_FINISHED)
      c->ids[n++] = s->id;
  }
  if (c->cp->ops->leases(c->cp->self, c->stream, c->ids, n, on_leases, c) ==
      0)
    c->leases_calls++;
  else
    round_end(c);
}


/* Owner names are interned per table, so that shards point at one copy
 * each. */
static const char* owner_intern(kinesis_consumer_t* c, const char* owner) {
  char* copy = kn_strmap_get(&c->owners, owner);
  if (copy != NULL)
    return copy;
  copy = kn_strdup(owner);
  if (copy == NULL || kn_strmap_put(&c->owners, copy, copy) != 0) {
    kn_free(copy);
    return NULL;
  }
  return copy;
}


static void owners_clear(kinesis_consumer_t* c) {
  size_t i;
  for (i = 0; i < c->owners.nslots; i++)
    if (c->owners.slots[i].key != NULL)
      kn_free(c->owners.slots[i].value);
  kn_strmap_free(&c->owners);
}


static void on_leases(int status, const kinesis_lease_t* leases, size_t n,
                      void* arg) {
  kinesis_consumer_t* c = arg;
  kn_queue_t* q;
  size_t i;

  c->leases_calls--;
  note_store(c, status);
  if (c->closing || !c->started) {
    c->round_busy = 0;
    consumer_maybe_finish_close(c);
    return;
  }
  if (status != 0) {
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: cannot read the lease table: %s",
                  kinesis_strerror(status));
    round_end(c);
    return;
  }
  for (q = c->shards.next; q != &c->shards; q = q->next)
    kn_queue_data(q, kn_cshard_t, node)->owner = NULL;
  owners_clear(c);
  for (i = 0; i < n; i++) {
    kn_cshard_t* s = shard_find(c, leases[i].shard_id);
    if (s == NULL)
      continue;
    s->known = leases[i].known;
    if (leases[i].owner != NULL)
      s->owner = owner_intern(c, leases[i].owner);
    s->free_rounds = leases[i].owner == NULL && !leases[i].finished
                         ? s->free_rounds + 1
                         : 0;
    if (leases[i].finished &&
        (s->state == SHARD_NEW || s->state == SHARD_LEASED_OTHER))
      shard_set_state(s, SHARD_FINISHED);
    /* The stats show who holds what, as the table says. */
    else if (s->state == SHARD_NEW && leases[i].owner != NULL &&
             strcmp(leases[i].owner, c->owner) != 0)
      shard_set_state(s, SHARD_LEASED_OTHER);
    else if (s->state == SHARD_LEASED_OTHER && leases[i].owner == NULL)
      shard_set_state(s, SHARD_NEW);
  }
  round_plan(c);
  round_end(c);
}


/* The owner the planner sees: this consumer for what it holds or claims;
 * otherwise the table's owner, or, without a table, "another" for a shard
 * whose claim was refused. A lease the table still gives this consumer but
 * that it no longer holds (lost, then forgotten) reads as free: claiming
 * one's own lease again is allowed. */
static const char* plan_owner(kinesis_consumer_t* c, const kn_cshard_t* s) {
  if (shard_holds_lease(s) || s->state == SHARD_CLAIMING)
    return c->owner;
  if (c->cp->ops->leases == NULL)
    return s->state == SHARD_LEASED_OTHER ? "" : NULL;
  if (s->owner != NULL && strcmp(s->owner, c->owner) == 0)
    return NULL;
  return s->owner;
}


static void round_plan(kinesis_consumer_t* c) {
  kn_plan_input_t in;
  kn_plan_t plan;
  kn_queue_t* q;
  size_t n = 0;
  size_t i;
  int r;

  if (c->closing || !c->started || !c->frontier_done)
    return;
  if (c->nshards > c->plan_cap) {
    kn_plan_shard_t* ps = kn_realloc(c->plan_in, c->nshards * sizeof(*ps));
    kn_cshard_t** pp;
    if (ps == NULL)
      return;
    c->plan_in = ps;
    pp = kn_realloc(c->plan_shards, c->nshards * sizeof(*pp));
    if (pp == NULL)
      return;
    c->plan_shards = pp;
    c->plan_cap = c->nshards;
  }
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    kn_plan_shard_t* p = &c->plan_in[n];
    if (!s->listed)
      continue;
    memset(p, 0, sizeof(*p));
    p->id = s->id;
    p->parent = s->parent;
    p->adjacent_parent = s->adjacent_parent;
    p->owner = plan_owner(c, s);
    p->open = s->open;
    p->finished = s->state == SHARD_FINISHED;
    p->known = s->known || shard_holds_lease(s);
    p->frontier = s->frontier;
    p->pinned = p->owner == c->owner && s->state != SHARD_FETCHING;
    p->stale = p->owner == NULL && s->free_rounds >= 2;
    c->plan_shards[n++] = s;
  }
  memset(&in, 0, sizeof(in));
  in.shards = c->plan_in;
  in.nshards = n;
  in.self = c->owner;
  in.members = c->cp->ops->member != NULL ? c->live : 0;
  in.max_shards = c->o.max_shard_consumers;
  in.exact = c->cp->ops->leases != NULL;
  in.from_frontier =
      c->o.iterator_type != KINESIS_ITERATOR_TRIM_HORIZON && c->frontier_trusted;
  r = kn_lease_plan(&in, &plan);
  if (r != 0) {
    kn_client_log(c->client, KINESIS_LOG_WARN, "consumer: cannot plan: %s",
                  kinesis_strerror(r));
    kn_lease_plan_free(&plan);
    return;
  }
  c->round++;
  c->planned_once = 1;
  c->target = plan.target;
  for (i = 0; i < n; i++) {
    c->plan_shards[i]->at_position = plan.at_position[i];
    c->plan_shards[i]->plan_status = plan.status[i];
  }
  for (i = 0; i < plan.nrelease; i++) {
    kn_cshard_t* s = c->plan_shards[plan.release[i]];
    if (s->state == SHARD_FETCHING)
      shard_hand_over(s);
  }
  for (i = 0; i < plan.nclaim; i++) {
    kn_cshard_t* s = c->plan_shards[plan.claim[i]];
    if (s->state == SHARD_NEW || s->state == SHARD_LEASED_OTHER)
      shard_claim(s);
  }
  /* Without a table, parents that hold children back are asked about. */
  if (c->cp->ops->leases == NULL)
    for (i = 0; i < n; i++)
      if (plan.status[i] == KN_PLAN_WAIT) {
        probe_parent(c, c->plan_shards[i]->parent);
        probe_parent(c, c->plan_shards[i]->adjacent_parent);
      }
  kn_lease_plan_free(&plan);
  readiness_update(c);
}


static void on_handed_over(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  if (status != 0 && status != KINESIS_ELEASELOST &&
      status != KINESIS_ECANCELED)
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: releasing %s failed (%s); its lease will expire",
                  s->id, kinesis_strerror(status));
  if (s->state == SHARD_HANDOVER) {
    shard_forget(s);
    shard_set_state(s, SHARD_LEASED_OTHER);
    c->stats.handovers++;
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: handed shard %s over", s->id);
    event_push_end(s, KINESIS_SHARD_END_HANDED_OVER);
  }
  consumer_maybe_finish_close(c);
}


/* The next step of a handover, once the one before is done. */
static void shard_try_hand_over(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state != SHARD_HANDOVER || c->closing || s->call != NULL ||
      s->ckpt_ops > 0 || !kn_queue_empty(&s->fetches))
    return;
  if (s->dirty) {
    shard_write_checkpoint(s);
    if (s->ckpt_ops > 0)
      return;
  }
  if (c->cp->ops->release(c->cp->self, c->stream, s->id, c->owner,
                          on_handed_over, s) == 0)
    s->ckpt_ops++;
}


static void shard_hand_over(kn_cshard_t* s) {
  shard_set_state(s, SHARD_HANDOVER);
  shard_stop_fetching(s);
  shard_drop_queued(s);
  /* Fetches with nothing handed out go now; the others wait for acks. */
  shard_advance(s);
  shard_try_hand_over(s);
  wake_waiting_shards(s->consumer, NULL);
}


static void on_members(int status, uint32_t live, void* arg) {
  kinesis_consumer_t* c = arg;
  c->member_calls--;
  note_store(c, status);
  if (status == 0 && !c->left) {
    if (live != c->live)
      kn_client_log(c->client, KINESIS_LOG_INFO,
                    "consumer: %u consumers live on %s", (unsigned) live,
                    c->stream);
    c->live = live;
  } else if (status != 0 && status != KINESIS_ECANCELED) {
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: cannot count consumers: %s",
                  kinesis_strerror(status));
  }
  if (c->closing)
    consumer_maybe_finish_close(c);
  else if (c->round_busy && c->member_calls == 0)
    round_table(c);
}


/* Registers this consumer as live (or leaving) with the checkpointer. */
static void member_call(kinesis_consumer_t* c, int leaving) {
  if (c->member_calls > 0 && !leaving)
    return;
  if (c->cp->ops->member(c->cp->self, c->stream, c->owner, leaving,
                         on_members, c) == 0)
    c->member_calls++;
  if (leaving) {
    c->left = 1;
    c->live = 0;
  }
}


static void discovery_run(kinesis_consumer_t* c) {
  if (c->listing != NULL || c->closing)
    return;
  if (kn_client_list_shards(c->client, c->stream, on_listed, c, &c->listing) !=
      0)
    c->listing = NULL;
}


static void on_discovery_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, discovery);
  discovery_run(c);
}


/* ---- Life cycle ---- */

static int options_valid(const kinesis_consumer_options_t* o) {
  return o->stream != NULL && kn_valid_stream(o->stream) &&
         o->on_record != NULL && o->max_queue_size >= 1 &&
         o->record_limit >= 1 && o->record_limit <= 10000 &&
         o->shard_fetch_rate > 0 && o->shard_fetch_rate <= 1000 &&
         o->iterator_type != KINESIS_ITERATOR_AT_SEQUENCE_NUMBER &&
         o->iterator_type != KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER &&
         o->iterator_type <= KINESIS_ITERATOR_AT_TIMESTAMP &&
         (o->iterator_type != KINESIS_ITERATOR_AT_TIMESTAMP ||
          o->timestamp > 0) &&
         o->checkpoint_interval_ms >= 1 && o->heartbeat_interval_ms >= 1 &&
         o->shard_discovery_ms >= 1 &&
         (unsigned) o->invalid_checkpoint <=
             (unsigned) KINESIS_INVALID_CHECKPOINT_LATEST &&
         (o->checkpointer == NULL ||
          (o->checkpointer->ops != NULL && o->checkpointer->ops->claim &&
           o->checkpointer->ops->heartbeat && o->checkpointer->ops->checkpoint &&
           o->checkpointer->ops->finish && o->checkpointer->ops->release &&
           o->checkpointer->ops->get && o->checkpointer->ops->close));
}


static char* default_owner(void) {
  char host[128];
  char buf[256];
  if (gethostname(host, sizeof(host)) != 0)
    snprintf(host, sizeof(host), "host");
  host[sizeof(host) - 1] = '\0';
  snprintf(buf, sizeof(buf), "%s-%ld-%08x", host, (long) getpid(),
           (unsigned) (uv_hrtime() & 0xffffffffu));
  return kn_strdup(buf);
}


/* Upper bounds of the loop-turn histogram's buckets, in microseconds; the
 * last bucket takes the rest. */
static const uint64_t turn_bounds_us[KINESIS_LOOP_TURN_BUCKETS - 1] = {
    1000, 2000, 5000, 10000, 20000, 50000, 100000};


/* This thread's CPU time in ns, or 0 when the clock is missing. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
    return 0;
  return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static void on_turn(uv_prepare_t* h) {
  kinesis_consumer_t* c = container_of(h, kinesis_consumer_t, turns);
  uint64_t now = uv_hrtime();
  uint64_t idle = uv_metrics_idle_time(c->loop);
  uint64_t cpu = thread_cpu_ns();
  if (c->turn_at != 0 && cpu >= c->turn_cpu &&
      (cpu - c->turn_cpu) / 1000 > c->stats.loop_turn_max_cpu_us)
    c->stats.loop_turn_max_cpu_us = (cpu - c->turn_cpu) / 1000;
  c->turn_cpu = cpu;
  if (c->turn_at != 0 && now >= c->turn_at) {
    uint64_t waited = idle - c->turn_idle;
    uint64_t wall = now - c->turn_at;
    uint64_t us = (wall > waited ? wall - waited : 0) / 1000;
    size_t b = 0;
    while (b < KN_ARRAY_SIZE(turn_bounds_us) && us >= turn_bounds_us[b])
      b++;
    c->stats.loop_turns[b]++;
    c->stats.loop_turn_total_us += us;
    if (us > c->stats.loop_turn_max_us)
      c->stats.loop_turn_max_us = us;
  }
  c->turn_at = now;
  c->turn_idle = idle;
  /* A new turn may start calls again: those still in line start now, and
   * curl sends them at the next turn's timers. */
  c->turn_calls = 0;
  line_advance(c);
}


static void consumer_free(kinesis_consumer_t* c) {
  while (!kn_queue_empty(&c->events)) {
    kn_event_t* e = kn_queue_data(c->events.next, kn_event_t, node);
    kn_queue_remove(&e->node);
    kn_free(e);
  }
  owners_clear(c);
  kn_strmap_free(&c->index);
  kn_free(c->ids);
  kn_free(c->plan_in);
  kn_free(c->plan_shards);
  kn_free(c->stream);
  kn_free(c->owner);
  kn_free(c->shard_stats);
  kn_free(c);
}


int kinesis_consumer_new(kinesis_client_t* client,
                         const kinesis_consumer_options_t* options,
                         kinesis_consumer_t** out) {
  kinesis_consumer_t* c;
  int r;

  if (client == NULL || options == NULL || out == NULL ||
      !options_valid(options))
    return KINESIS_EINVAL;
  if ((r = kn_client_child_check(client, options->stream)) != 0)
    return r;
  c = kn_calloc(1, sizeof(*c));
  if (c == NULL)
    return KINESIS_ENOMEM;
  kn_strmap_init(&c->index);
  kn_strmap_init(&c->owners);
  kn_queue_init(&c->events);
  kn_queue_init(&c->call_waiters);
  c->max_calls = kn_client_max_connections(client);
  if (c->max_calls == 0)
    c->max_calls = 1;
  c->target = SIZE_MAX;
  c->o = *options;
  c->client = client;
  c->loop = kn_client_loop(client);
  c->stream = kn_strdup(options->stream);
  c->owner = options->owner != NULL ? kn_strdup(options->owner)
                                    : default_owner();
  if (c->stream == NULL || c->owner == NULL) {
    consumer_free(c);
    return KINESIS_ENOMEM;
  }
  c->o.stream = c->stream;
  c->o.owner = c->owner;
  c->cp = options->checkpointer;
  if (c->cp == NULL) {
    r = kinesis_checkpointer_memory_new(c->loop, NULL, &c->cp);
    if (r != 0) {
      consumer_free(c);
      return r;
    }
    c->own_cp = 1;
  }
  c->lease_ms = c->cp->session_timeout_ms;
  kn_queue_init(&c->shards);
  kn_queue_init(&c->ready);
  uv_idle_init(c->loop, &c->dispatcher);
  uv_timer_init(c->loop, &c->discovery);
  uv_timer_init(c->loop, &c->heartbeat);
  uv_timer_init(c->loop, &c->checkpoint);
  uv_timer_init(c->loop, &c->readiness);
  uv_prepare_init(c->loop, &c->turns);
  /* Turns are measured without the kernel's wait, which needs the loop to
   * account for it; a flag, harmless to the application. */
  (void) uv_loop_configure(c->loop, UV_METRICS_IDLE_TIME);
  c->dispatcher.data = c;
  c->discovery.data = c;
  c->heartbeat.data = c;
  c->checkpoint.data = c;
  c->readiness.data = c;
  c->turns.data = c;
  c->handles_open = 6;
  kn_client_child_add(client);
  *out = c;
  return 0;
}


int kinesis_consumer_start(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->close_requested)
    return KINESIS_ECLOSING;
  /* A stop under way, or its callback not yet run: start after it. */
  if (c->stopping || c->stop_cb != NULL)
    return KINESIS_EBUSY;
  if (c->closing)
    return KINESIS_ECLOSING;
  if (c->started)
    return KINESIS_EALREADY;
  c->started = 1;
  c->left = 0;
  c->live = 0;
  /* Count the live consumers first, so that the first claims take a fair
   * share rather than every shard. */
  if (c->cp->ops->member != NULL)
    member_call(c, 0);
  /* The first listing runs on the next tick, then every interval. */
  uv_timer_start(&c->discovery, on_discovery_timer, 0, c->o.shard_discovery_ms);
  uv_timer_start(&c->heartbeat, on_heartbeat_timer, c->o.heartbeat_interval_ms,
                 c->o.heartbeat_interval_ms);
  /* It measures; it does not keep the loop alive. */
  c->turn_at = 0;
  uv_prepare_start(&c->turns, on_turn);
  uv_unref((uv_handle_t*) &c->turns);
  uv_timer_start(&c->checkpoint, on_checkpoint_timer,
                 c->o.checkpoint_interval_ms, c->o.checkpoint_interval_ms);
  return 0;
}


int kinesis_consumer_pause(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->closing)
    return KINESIS_ECLOSING;
  c->paused = 1;
  uv_idle_stop(&c->dispatcher);
  return 0;
}


int kinesis_consumer_resume(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->closing)
    return KINESIS_ECLOSING;
  c->paused = 0;
  dispatcher_kick(c);
  wake_waiting_shards(c, NULL);
  return 0;
}


void kinesis_consumer_set_data(kinesis_consumer_t* c, void* data) {
  c->data = data;
}


void* kinesis_consumer_get_data(const kinesis_consumer_t* c) {
  return c->data;
}


static void on_cp_closed(void* arg) {
  kinesis_consumer_t* c = arg;
  kinesis_consumer_cb cb;
  /* The ends of the shards it held come before the close's callback. */
  events_run(c);
  cb = c->close_cb;
  /* The stop's callback ran when the handles were closed. */
  KN_ASSERT(c->stop_cb == NULL);
  kn_client_child_remove(c->client);
  if (cb != NULL)
    cb(c, 0, c->close_arg);
  consumer_free(c);
}


static void shard_free(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  shard_set_state(s, SHARD_GONE);
  shard_unwait_call(s);
  s->acked_ref = NULL;
  while (!kn_queue_empty(&s->fetches))
    fetch_free(c, kn_queue_data(s->fetches.next, kn_fetch_t, node));
  kn_free(s->id);
  kn_free(s->parent);
  kn_free(s->adjacent_parent);
  kn_free(s->iterator);
  kn_free(s->last_fetched);
  kn_free(s->start_seq);
  kn_free(s->acked_seq);
  kn_free(s->written_seq);
  kn_free(s);
}


/* One of the consumer's handles, its own or a shard's timer, is closed:
 * after the last, the checkpointer goes, then the close's callback runs. */
static void consumer_handle_closed(kinesis_consumer_t* c) {
  kinesis_consumer_cb stop_cb;
  if (--c->handles_open > 0)
    return;
  /* The ends of the shards it held come first. */
  events_run(c);
  stop_cb = c->stop_cb;
  /* A stop the close took over (KINESIS_ECANCELED), or one that completed
   * with its callback still waiting for its tick when the close came (0):
   * its callback runs here, on a later tick than the close, once, and
   * before the close's callback. The checkpointer is still open, so the
   * callback may still read the consumer's stats. */
  if (stop_cb != NULL) {
    c->stop_cb = NULL;
    stop_cb(c, c->stop_status, c->stop_arg);
  }
  if (c->own_cp)
    kinesis_checkpointer_close(c->cp, on_cp_closed, c);
  else
    on_cp_closed(c);
}


/* The consumer's own handles (dispatcher, discovery, heartbeat,
 * checkpoint, readiness, turns) carry the consumer in `data`. */
static void on_handle_closed(uv_handle_t* h) {
  kinesis_consumer_t* c = h->data;
  KN_ASSERT(
      h == (uv_handle_t*) &c->dispatcher || h == (uv_handle_t*) &c->discovery ||
      h == (uv_handle_t*) &c->heartbeat || h == (uv_handle_t*) &c->checkpoint ||
      h == (uv_handle_t*) &c->readiness || h == (uv_handle_t*) &c->turns);
  consumer_handle_closed(c);
}


/* A shard's fetch timer carries its shard in `data` (shard_open_timer):
 * the shard goes with it. */
static void on_shard_timer_closed(uv_handle_t* h) {
  kn_cshard_t* s = h->data;
  kinesis_consumer_t* c = s->consumer;
  KN_ASSERT(h == (uv_handle_t*) &s->timer);
  shard_free(s);
  consumer_handle_closed(c);
}


/* Closing goes through phases, each waiting for the calls of the one
 * before: calls canceled, final checkpoints written, leases released,
 * handles closed. */
enum { CLOSE_CALLS = 1, CLOSE_CHECKPOINTS, CLOSE_RELEASES, CLOSE_HANDLES };


static int consumer_busy(kinesis_consumer_t* c) {
  kn_queue_t* q;
  if (c->listing != NULL || c->frontier_call != NULL || c->in_dispatch ||
      c->member_calls > 0 || c->leases_calls > 0)
    return 1;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s->call != NULL || s->ckpt_ops > 0)
      return 1;
  }
  return 0;
}


static void consumer_maybe_finish_close(kinesis_consumer_t* c) {
  kn_queue_t* q;

  while (c->closing && c->closing < CLOSE_HANDLES && !consumer_busy(c)) {
    c->closing++;
    /* With the leases, the membership goes: the others rebalance. */
    if (c->closing == CLOSE_RELEASES && c->cp->ops->member != NULL &&
        c->started && !c->left)
      member_call(c, 1);
    for (q = c->shards.next; q != &c->shards; q = q->next) {
      kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
      if (c->closing == CLOSE_CHECKPOINTS) {
        shard_write_checkpoint(s);
      } else if (c->closing == CLOSE_RELEASES && shard_holds_lease(s)) {
        if (c->cp->ops->release(c->cp->self, c->stream, s->id, c->owner,
                                on_ckpt_done, s) == 0)
          s->ckpt_ops++;
        shard_set_state(s, SHARD_NEW);
        event_push_end(s, KINESIS_SHARD_END_STOPPED);
      }
    }
  }
  if (c->closing != CLOSE_HANDLES || consumer_busy(c) || c->cp_closing)
    return;
  if (c->stopping) {
    consumer_reset(c);
    return;
  }
  c->cp_closing = 1;
  while (!kn_queue_empty(&c->shards)) {
    kn_cshard_t* s = kn_queue_data(c->shards.next, kn_cshard_t, node);
    kn_queue_remove(&s->node);
    uv_close((uv_handle_t*) &s->timer, on_shard_timer_closed);
  }
  uv_close((uv_handle_t*) &c->dispatcher, on_handle_closed);
  uv_close((uv_handle_t*) &c->discovery, on_handle_closed);
  uv_close((uv_handle_t*) &c->heartbeat, on_handle_closed);
  uv_close((uv_handle_t*) &c->checkpoint, on_handle_closed);
  uv_close((uv_handle_t*) &c->readiness, on_handle_closed);
  uv_close((uv_handle_t*) &c->turns, on_handle_closed);
}


static void consumer_wind_down(kinesis_consumer_t* c) {
  kn_queue_t* q;
  c->closing = CLOSE_CALLS;
  uv_timer_stop(&c->discovery);
  uv_timer_stop(&c->heartbeat);
  uv_timer_stop(&c->checkpoint);
  uv_timer_stop(&c->readiness);
  uv_idle_stop(&c->dispatcher);
  uv_prepare_stop(&c->turns);
  if (c->listing != NULL)
    kn_client_call_cancel(c->listing);
  if (c->frontier_call != NULL)
    kn_client_call_cancel(c->frontier_call);
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    shard_stop_fetching(s);
    shard_drop_queued(s);
  }
  /* What is left happens in callbacks, on later ticks; with nothing in
   * flight the next phase starts now, and its callbacks come later. */
  consumer_maybe_finish_close(c);
}


int kinesis_consumer_close(kinesis_consumer_t* c, kinesis_consumer_cb cb,
                           void* arg) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->close_requested || (c->closing && !c->stopping))
    return KINESIS_EALREADY;
  c->close_requested = 1;
  c->close_cb = cb;
  c->close_arg = arg;
  /* A stop's callback never runs inside this call: it runs once the close
   * has closed the handles, before the close's callback (see
   * consumer_handle_closed). */
  if (c->stopping) {
    /* A stop is under way: it becomes a close, and its callback is told the
     * close took over. */
    c->stopping = 0;
    c->stop_status = KINESIS_ECANCELED;
    consumer_maybe_finish_close(c);
    return 0;
  }
  /* A stop that completed may still wait for its callback's tick (on the
   * checkpoint timer, which the wind-down stops): it then runs with 0. */
  consumer_wind_down(c);
  return 0;
}


static void on_stopped(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, checkpoint);
  kinesis_consumer_cb cb;
  events_run(c);
  cb = c->stop_cb;
  c->stop_cb = NULL;
  if (cb != NULL)
    cb(c, c->stop_status, c->stop_arg);
}


/* After a stop: every shard back to "new", nothing held; the handles stay
 * open for the next start. */
static void consumer_reset(kinesis_consumer_t* c) {
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    shard_forget(s);
    /* The next start has a start position of its own. */
    s->frontier = 0;
  }
  c->frontier_done = 0;
  c->frontier_trusted = 0;
  c->planned_once = 0;
  c->round_busy = 0;
  c->round_again = 0;
  c->claims_refused = 0;
  c->probes_found = 0;
  c->target = SIZE_MAX;
  c->closing = 0;
  c->stopping = 0;
  c->started = 0;
  c->paused = 0;
  /* The next start is ready only once it has listed and claimed again. */
  c->listed_ok = 0;
  c->claimed_once = 0;
  c->store_down = 0;
  c->reported_ready = 0;
  /* The stop's callback runs on a later tick, never inside a call. */
  uv_timer_start(&c->checkpoint, on_stopped, 0, 0);
}


int kinesis_consumer_stop(kinesis_consumer_t* c, kinesis_consumer_cb cb,
                          void* arg) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->closing)
    return c->stopping ? KINESIS_EALREADY : KINESIS_ECLOSING;
  if (!c->started)
    return KINESIS_EINVAL;
  c->stopping = 1;
  c->stop_cb = cb;
  c->stop_arg = arg;
  c->stop_status = 0;
  consumer_wind_down(c);
  return 0;
}


int kinesis_consumer_stats(kinesis_consumer_t* c,
                           kinesis_consumer_stats_t* st) {
  kinesis_consumer_shard_stats_t* ss;
  kn_queue_t* q;
  size_t i = 0;
  double now_s = (double) kn_now_ms() / 1000.0;

  if (c == NULL || st == NULL)
    return KINESIS_EINVAL;
  *st = c->stats;
  st->queue_depth = c->queue_depth;
  st->unacked = c->unacked;
  st->live_members = c->live;
  st->ready = consumer_ready_now(c);
  st->shard_target =
      c->target == SIZE_MAX || c->target > UINT32_MAX ? 0 : (uint32_t) c->target;
  ss = kn_realloc(c->shard_stats,
                  (c->nshards > 0 ? c->nshards : 1) * sizeof(*ss));
  if (ss == NULL)
    return KINESIS_ENOMEM;
  c->shard_stats = ss;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    ss[i].shard_id = s->id;
    /* A shard before the start position is never read: say so. */
    ss[i].state = s->state == SHARD_NEW && s->plan_status == KN_PLAN_SKIP
                      ? "skipped"
                      : state_names[s->state];
    ss[i].millis_behind_latest = s->millis_behind;
    ss[i].last_record_age_ms =
        s->last_arrival > 0 ? (int64_t) ((now_s - s->last_arrival) * 1000) : -1;
    ss[i].records = s->records;
    ss[i].checkpoint = s->written_seq;
    st->leases_held += (uint32_t) shard_holds_lease(s);
    i++;
  }
  st->nshards = i;
  st->shards = ss;
  return 0;
}
