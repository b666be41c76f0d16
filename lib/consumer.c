#include "consumer_internal.h"
#include "internal.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkpoint.h"
#include "validate.h"

/*
 * The consumer's public API: options, new, start, stop, pause and resume,
 * ack, stats, close; readiness; the dispatcher, which hands queued records
 * to on_record and shard starts and ends to their callbacks; and the life
 * cycle, down to freeing shards and closing handles. Reading shards is
 * consumer_fetch.c; leases and checkpoints are consumer_lease.c.
 */

#define KN_DELIVER_PER_TURN 2000

static const char* const state_names[] = {
    "new", "claiming", "leased-elsewhere", "fetching", "ending", "finished",
    "gone", "handing-over", "failed"};


static void consumer_reset(kinesis_consumer_t* c);


static void consumer_defaults(kinesis_consumer_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
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


void kinesis_consumer_options_init_sized(kinesis_consumer_options_t* o,
                                         size_t size) {
  kinesis_consumer_options_t defaults;
  consumer_defaults(&defaults);
  kn_options_init(o, size, &defaults, sizeof(defaults));
}


int kn_consumer_set_str(char** dst, const char* src) {
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
  if (!c->started || c->wind || !c->listed_ok || !c->planned_once ||
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


static void on_report_ready(kn_defer_item_t* item) {
  kinesis_consumer_t* c = container_of(item, kinesis_consumer_t, report_ready);
  int ready = consumer_ready_now(c);
  if (ready == c->reported_ready || c->wind)
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
void kn_consumer_readiness_update(kinesis_consumer_t* c) {
  int ready;
  if (c->wind)
    return;
  ready = consumer_ready_now(c);
  /* Ready once means the first claims were answered (latching this cannot
   * change `ready`: a ready consumer has no first-round claim pending). */
  if (ready)
    c->claimed_once = 1;
  if (ready != c->reported_ready && !kn_defer_queued(&c->report_ready))
    kn_defer_add(&c->defer, &c->report_ready, on_report_ready);
}


/* The checkpointer answered an operation: whether it could be reached. */
void kn_consumer_note_store(kinesis_consumer_t* c, int status) {
  int down = status == KINESIS_ESTORE;
  if (status == KINESIS_ECANCELED || down == c->store_down)
    return;
  c->store_down = down;
  kn_consumer_readiness_update(c);
}


/* A shard call or a listing failed with `status` (`res` may be NULL): the
 * failure goes to `f`, which logs a new reason at once and the same one at
 * a slowing interval, and becomes the consumer's last error. `subject`
 * begins with "consumer: ". Returns 1 when it counts, 0 for throttling. */
int kn_consumer_note_failure(kinesis_consumer_t* c, kn_failure_t* f,
                             const char* subject, int status,
                             const kinesis_result_t* res) {
  if (!kn_failure_report(f, c->client, uv_now(c->loop), subject, status,
                         res != NULL ? res->error_code : NULL,
                         res != NULL ? res->error_message : NULL))
    return 0;
  c->last_error = status;
  snprintf(c->last_error_message, sizeof(c->last_error_message), "%s: %s",
           strncmp(subject, "consumer: ", 10) == 0 ? subject + 10 : subject,
           f->reason);
  return 1;
}


/* The work `f` reports on succeeded: one INFO line if it had failed. */
void kn_consumer_note_success(kinesis_consumer_t* c, kn_failure_t* f,
                              const char* subject) {
  kn_failure_recovered(f, c->client, uv_now(c->loop), subject);
}


int kinesis_consumer_ready(const kinesis_consumer_t* c) {
  return c != NULL && consumer_ready_now(c);
}


const char* kinesis_consumer_owner(const kinesis_consumer_t* c) {
  return c != NULL ? c->owner : NULL;
}


/* ---- Fetches and acknowledgement ---- */

void kn_consumer_fetch_free(kinesis_consumer_t* c, kn_fetch_t* f) {
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
void kn_consumer_shard_advance(kn_cshard_t* s) {
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
      kn_consumer_set_str(&s->acked_seq, s->acked_ref);
      s->acked_ref = NULL;
    }
    kn_consumer_fetch_free(c, f);
  }
  if (s->state == SHARD_ENDING)
    kn_cfetch_try_end(s);
  else if (s->state == SHARD_HANDOVER)
    kn_clease_try_hand_over(s);
}


static void record_ack(kinesis_consumer_t* c, kn_crec_t* r) {
  r->acked = 1;
  c->unacked--;
  c->stats.records_acked++;
  if (r->fetch->acked < r->fetch->delivered &&
      &r->fetch->recs[r->fetch->acked] == r)
    kn_consumer_shard_advance(r->fetch->shard);
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
  kn_consumer_dispatcher_kick(c);
  kn_cfetch_wake_waiting(c, NULL);
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
  kn_consumer_dispatcher_kick(c);
}


void kn_consumer_event_push_start(kn_cshard_t* s,
                                  const kinesis_checkpoint_t* ckpt) {
  event_push(s, 1, s->start_type,
             ckpt->sequence_number != NULL ? s->start_seq : NULL,
             ckpt->partial ? ckpt->sub_sequence_number : 0,
             KINESIS_SHARD_END_FINISHED);
}


void kn_consumer_event_push_end(kn_cshard_t* s,
                                kinesis_shard_end_reason_t why) {
  event_push(s, 0, KINESIS_ITERATOR_TRIM_HORIZON, NULL, 0, why);
}


/* Runs the queued starts and ends. The application may stop or close the
 * consumer from one; the rest still run, at the latest before the stop's
 * or close's own callback. */
static void events_run(kinesis_consumer_t* c) {
  kn_life_enter(&c->life);
  while (!kn_queue_empty(&c->events)) {
    kn_event_t* e = kn_queue_data(c->events.next, kn_event_t, node);
    kn_queue_remove(&e->node);
    if (e->start && c->o.on_shard_start != NULL)
      c->o.on_shard_start(c, &e->st, c->o.on_shard_data);
    else if (!e->start && c->o.on_shard_end != NULL)
      c->o.on_shard_end(c, e->st.shard_id, e->reason, c->o.on_shard_data);
    kn_free(e);
  }
  /* A close asked meanwhile goes on from the caller's end (on_empty, or
   * the close's own steps): consumer_busy() held it back. */
  (void) kn_life_leave(&c->life);
}


/* manual_ack: as many records handed out and not yet acked as allowed. */
static int acks_full(const kinesis_consumer_t* c) {
  uint32_t max_unacked =
      c->o.max_unacked > 0 ? c->o.max_unacked : c->o.max_queue_size;
  return c->o.manual_ack && c->unacked >= max_unacked;
}


/* The dispatcher has something to hand out. */
static int dispatch_wanted(const kinesis_consumer_t* c) {
  return !c->wind && ((!c->paused && !kn_queue_empty(&c->ready) &&
                       !acks_full(c)) ||
                      !kn_queue_empty(&c->events));
}


/* Hands out up to KN_DELIVER_PER_TURN records a tick, and queues itself
 * again for the next tick while there are more. */
static void on_dispatch(kn_defer_item_t* item) {
  kinesis_consumer_t* c = container_of(item, kinesis_consumer_t, dispatch);
  size_t budget = KN_DELIVER_PER_TURN;

  if (!c->wind)
    events_run(c);
  kn_life_enter(&c->life);
  while (budget > 0 && !kn_queue_empty(&c->ready) && !c->paused &&
         !c->wind) {
    kn_fetch_t* f = kn_queue_data(c->ready.next, kn_fetch_t, ready);
    kn_crec_t* r;
    if (acks_full(c))
      break;
    /* Never hand out a record of a shard whose lease may have passed to
     * another consumer: it drops the shard's queue. */
    if (!kn_clease_check(f->shard, uv_now(c->loop)))
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
  (void) kn_life_leave(&c->life);
  kn_consumer_dispatcher_kick(c);
  /* A close asked from a callback goes on from on_empty, after this run. */
  kn_cfetch_wake_waiting(c, NULL);
}


void kn_consumer_dispatcher_kick(kinesis_consumer_t* c) {
  if (dispatch_wanted(c) && !kn_defer_queued(&c->dispatch))
    kn_defer_add(&c->defer, &c->dispatch, on_dispatch);
}


/* A run of `defer` ended with nothing queued: a close or stop held back by
 * it (consumer_busy) goes on. */
static void on_defer_empty(kn_defer_t* d) {
  kinesis_consumer_t* c = container_of(d, kinesis_consumer_t, defer);
  if (c->wind)
    kn_consumer_maybe_finish_close(c);
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
         o->sleep_time_no_records_ms >= 1 &&
         o->checkpoint_interval_ms >= 1 && o->heartbeat_interval_ms >= 1 &&
         o->shard_discovery_ms >= 1 &&
         (unsigned) o->invalid_checkpoint <=
             (unsigned) KINESIS_INVALID_CHECKPOINT_LATEST &&
         (o->efo_consumer_name == NULL ||
          kn_valid_shard_id(o->efo_consumer_name) ||
          (kn_valid_consumer_arn(o->efo_consumer_name) && !o->efo_register));
}


/* Copies cp's operations into `ops`: those past the table's size are NULL
 * (member and leases are optional), while claim to close, which every
 * store has, must lie inside it and be set. */
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
  kn_cfetch_line_advance(c);
}


static void consumer_free(kinesis_consumer_t* c) {
  while (!kn_queue_empty(&c->events)) {
    kn_event_t* e = kn_queue_data(c->events.next, kn_event_t, node);
    kn_queue_remove(&e->node);
    kn_free(e);
  }
  kn_clease_owners_clear(c);
  kn_strmap_free(&c->index);
  kn_free(c->ids);
  kn_free(c->plan_in);
  kn_free(c->plan_shards);
  kn_free(c->stream);
  kn_free(c->owner);
  kn_free((char*) c->o.efo_consumer_name);
  kn_free(c->efo_arn);
  kn_free(c->shard_stats);
  kn_free(c);
}


int kinesis_consumer_new(kinesis_client_t* client,
                         const kinesis_consumer_options_t* caller,
                         kinesis_consumer_t** out) {
  kinesis_consumer_options_t copy;
  const kinesis_consumer_options_t* options = &copy;
  kinesis_checkpointer_ops_t ops;
  kinesis_consumer_t* c;
  int r;

  if (client == NULL || caller == NULL || out == NULL)
    return KINESIS_EINVAL;
  consumer_defaults(&copy);
  if ((r = kn_options_copy(&copy, sizeof(copy), caller)) != 0)
    return r;
  if (!options_valid(options))
    return KINESIS_EINVAL;
  if (options->checkpointer != NULL &&
      (r = kn_checkpointer_ops_copy(options->checkpointer, &ops)) != 0)
    return r;
  /* A built-in checkpointer runs on its client's loop and keeps that
   * client open: another client's would be on another loop, or outlive
   * this one's checks. */
  if (options->checkpointer != NULL) {
    kinesis_client_t* owner = kn_checkpointer_client(options->checkpointer);
    if (owner != NULL && owner != client)
      return KINESIS_EINVAL;
  }
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
  c->o.efo_consumer_name = NULL;
  if (options->efo_consumer_name != NULL &&
      (c->o.efo_consumer_name = kn_strdup(options->efo_consumer_name)) ==
          NULL) {
    consumer_free(c);
    return KINESIS_ENOMEM;
  }
  c->cp = options->checkpointer;
  if (c->cp == NULL) {
    r = kinesis_checkpointer_memory_new(client, NULL, &c->cp);
    if (r != 0) {
      consumer_free(c);
      return r;
    }
    c->own_cp = 1;
    /* The library's own table is whole: this copy cannot fail. */
    kn_checkpointer_ops_copy(c->cp, &ops);
  }
  c->ops = ops;
  c->lease_ms = c->cp->session_timeout_ms;
  kn_queue_init(&c->shards);
  kn_queue_init(&c->ready);
  (void) kn_defer_init(c->loop, &c->defer, 0, on_defer_empty);
  kn_defer_item_init(&c->dispatch);
  kn_defer_item_init(&c->report_ready);
  kn_defer_item_init(&c->stopped);
  uv_timer_init(c->loop, &c->discovery);
  uv_timer_init(c->loop, &c->heartbeat);
  uv_timer_init(c->loop, &c->checkpoint);
  uv_timer_init(c->loop, &c->efo_timer);
  uv_prepare_init(c->loop, &c->turns);
  /* Turns are measured without the kernel's wait, which needs the loop to
   * account for it; a flag, harmless to the application. */
  (void) uv_loop_configure(c->loop, UV_METRICS_IDLE_TIME);
  c->defer.idle.data = c;
  c->discovery.data = c;
  c->heartbeat.data = c;
  c->checkpoint.data = c;
  c->efo_timer.data = c;
  c->turns.data = c;
  c->handles_open = 6;
  kn_client_child_add(client);
  *out = c;
  return 0;
}


int kinesis_consumer_start(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&c->life))
    return KINESIS_ECLOSING;
  /* A stop under way, or its callback not yet run: start after it. */
  if (c->stopping || c->stop_cb != NULL)
    return KINESIS_EBUSY;
  if (c->wind)
    return KINESIS_ECLOSING;
  if (c->started)
    return KINESIS_EALREADY;
  c->started = 1;
  c->left = 0;
  c->live = 0;
  /* Count the live consumers first, so that the first claims take a fair
   * share rather than every shard. */
  if (c->ops.member != NULL)
    kn_clease_member_call(c, 0);
  /* The first listing runs on the next tick, then every interval. */
  uv_timer_start(&c->discovery, kn_clease_on_discovery_timer, 0,
                 c->o.shard_discovery_ms);
  uv_timer_start(&c->heartbeat, kn_clease_on_heartbeat_timer,
                 c->o.heartbeat_interval_ms, c->o.heartbeat_interval_ms);
  /* It measures; it does not keep the loop alive. */
  c->turn_at = 0;
  uv_prepare_start(&c->turns, on_turn);
  uv_unref((uv_handle_t*) &c->turns);
  uv_timer_start(&c->checkpoint, kn_clease_on_checkpoint_timer,
                 c->o.checkpoint_interval_ms, c->o.checkpoint_interval_ms);
  kn_cefo_start(c);
  return 0;
}


int kinesis_consumer_pause(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->wind)
    return KINESIS_ECLOSING;
  c->paused = 1;
  kn_defer_cancel(&c->defer, &c->dispatch);
  return 0;
}


int kinesis_consumer_resume(kinesis_consumer_t* c) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->wind)
    return KINESIS_ECLOSING;
  c->paused = 0;
  kn_consumer_dispatcher_kick(c);
  kn_cfetch_wake_waiting(c, NULL);
  return 0;
}


void kinesis_consumer_set_data(kinesis_consumer_t* c, void* data) {
  c->data = data;
}


void* kinesis_consumer_get_data(const kinesis_consumer_t* c) {
  return c->data;
}


static void on_cp_closed(int status, void* arg) {
  kinesis_consumer_t* c = arg;
  kinesis_close_cb cb;
  void* close_arg;
  void* data;
  (void) status; /* the private memory checkpointer closes with 0 */
  /* The ends of the shards it held come before the close's callback. */
  events_run(c);
  cb = c->close_cb;
  close_arg = c->close_arg;
  data = c->data;
  status = c->close_status;
  /* The stop's callback ran when the handles were closed. */
  KN_ASSERT(c->stop_cb == NULL);
  /* Freed first: the callback may close the client. */
  kn_client_child_remove(c->client);
  consumer_free(c);
  if (cb != NULL)
    cb(data, status, close_arg);
}


static void shard_free(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  shard_set_state(s, SHARD_GONE);
  kn_cfetch_unwait_call(s);
  s->acked_ref = NULL;
  while (!kn_queue_empty(&s->fetches))
    kn_consumer_fetch_free(c, kn_queue_data(s->fetches.next, kn_fetch_t, node));
  kn_free(s->id);
  kn_free(s->parent);
  kn_free(s->adjacent_parent);
  kn_free(s->iterator);
  kn_free(s->last_fetched);
  kn_free(s->start_seq);
  kn_free(s->acked_seq);
  kn_free(s->written_seq);
  kn_free(s->continuation);
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
  /* The private checkpointer is closed through its op, which needs no
   * memory; one that refuses (KINESIS_EALREADY) runs no callback. */
  if (!c->own_cp || c->cp->ops->close(c->cp->self, on_cp_closed, c) != 0)
    on_cp_closed(0, c);
}


/* The consumer's own handles (the defer's idle, discovery, heartbeat,
 * checkpoint, efo_timer, turns) carry the consumer in `data`. */
static void on_handle_closed(uv_handle_t* h) {
  kinesis_consumer_t* c = h->data;
  KN_ASSERT(
      h == (uv_handle_t*) &c->defer.idle || h == (uv_handle_t*) &c->discovery ||
      h == (uv_handle_t*) &c->heartbeat || h == (uv_handle_t*) &c->checkpoint ||
      h == (uv_handle_t*) &c->efo_timer || h == (uv_handle_t*) &c->turns);
  consumer_handle_closed(c);
}


/* A shard's fetch timer carries its shard in `data` (shard_open_timer):
 * the shard goes with it. */
void kn_consumer_on_shard_timer_closed(uv_handle_t* h) {
  kn_cshard_t* s = h->data;
  kinesis_consumer_t* c = s->consumer;
  KN_ASSERT(h == (uv_handle_t*) &s->timer);
  shard_free(s);
  consumer_handle_closed(c);
}


/* Closing goes through phases, each waiting for the calls of the one
 * before: calls canceled, final checkpoints written, leases released,
 * handles closed. */
enum { WIND_CALLS = 1, WIND_CHECKPOINTS, WIND_RELEASES, WIND_HANDLES };


void kn_consumer_note_close_error(kinesis_consumer_t* c, int status) {
  /* Calls of the phases after WIND_CALLS are the close's own: the final
   * checkpoints and the releases. */
  if (status != 0 && kn_life_closing(&c->life) && c->wind >= WIND_CHECKPOINTS &&
      c->close_status == 0)
    c->close_status = status;
}


static int consumer_busy(kinesis_consumer_t* c) {
  kn_queue_t* q;
  if (c->listing != NULL || c->frontier_call != NULL || c->life.depth > 0 ||
      kn_defer_running(&c->defer) || c->member_calls > 0 ||
      c->leases_calls > 0 || c->efo_calls > 0)
    return 1;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s->call != NULL || s->ckpt_ops > 0)
      return 1;
  }
  return 0;
}


void kn_consumer_maybe_finish_close(kinesis_consumer_t* c) {
  kn_queue_t* q;

  while (c->wind && c->wind < WIND_HANDLES && !consumer_busy(c)) {
    c->wind++;
    /* With the leases, the membership goes: the others rebalance. */
    if (c->wind == WIND_RELEASES && c->ops.member != NULL &&
        c->started && !c->left)
      kn_clease_member_call(c, 1);
    for (q = c->shards.next; q != &c->shards; q = q->next) {
      kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
      if (c->wind == WIND_CHECKPOINTS) {
        kn_clease_write_checkpoint(s);
      } else if (c->wind == WIND_RELEASES && kn_clease_holds(s)) {
        if (c->ops.release(c->cp->self, c->stream, s->id, c->owner,
                           kn_clease_on_ckpt_done, s) == 0)
          s->ckpt_ops++;
        shard_set_state(s, SHARD_NEW);
        kn_consumer_event_push_end(s, KINESIS_SHARD_END_STOPPED);
      }
    }
  }
  if (c->wind != WIND_HANDLES || consumer_busy(c) ||
      kn_life_freeing(&c->life))
    return;
  if (c->stopping) {
    consumer_reset(c);
    return;
  }
  (void) kn_life_begin_free(&c->life);
  while (!kn_queue_empty(&c->shards)) {
    kn_cshard_t* s = kn_queue_data(c->shards.next, kn_cshard_t, node);
    kn_queue_remove(&s->node);
    uv_close((uv_handle_t*) &s->timer, kn_consumer_on_shard_timer_closed);
  }
  /* The wind-down canceled every item, and none is queued while it runs. */
  kn_defer_close(&c->defer, NULL, on_handle_closed);
  uv_close((uv_handle_t*) &c->discovery, on_handle_closed);
  uv_close((uv_handle_t*) &c->heartbeat, on_handle_closed);
  uv_close((uv_handle_t*) &c->checkpoint, on_handle_closed);
  uv_close((uv_handle_t*) &c->efo_timer, on_handle_closed);
  uv_close((uv_handle_t*) &c->turns, on_handle_closed);
}


static void consumer_wind_down(kinesis_consumer_t* c) {
  kn_queue_t* q;
  c->wind = WIND_CALLS;
  uv_timer_stop(&c->discovery);
  uv_timer_stop(&c->heartbeat);
  uv_timer_stop(&c->checkpoint);
  uv_timer_stop(&c->efo_timer);
  kn_defer_cancel(&c->defer, &c->dispatch);
  kn_defer_cancel(&c->defer, &c->report_ready);
  kn_defer_cancel(&c->defer, &c->stopped);
  uv_prepare_stop(&c->turns);
  if (c->listing != NULL)
    kn_client_call_cancel(c->listing);
  if (c->frontier_call != NULL)
    kn_client_call_cancel(c->frontier_call);
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    kn_cfetch_stop(s);
    kn_cfetch_drop_queued(s);
  }
  /* What is left happens in callbacks, on later ticks; with nothing in
   * flight the next phase starts now, and its callbacks come later. */
  kn_consumer_maybe_finish_close(c);
}


int kinesis_consumer_close(kinesis_consumer_t* c, kinesis_close_cb cb,
                           void* arg) {
  if (c == NULL)
    return KINESIS_EINVAL;
  /* A wind-down that is not a stop's is a close's. */
  if (kn_life_begin_close(&c->life) < 0)
    return KINESIS_EALREADY;
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
    kn_consumer_maybe_finish_close(c);
    return 0;
  }
  /* A stop that completed may still wait for its callback's tick (the
   * `stopped` item, which the wind-down cancels): it then runs with 0, once
   * the handles are closed. */
  consumer_wind_down(c);
  return 0;
}


static void on_stopped(kn_defer_item_t* item) {
  kinesis_consumer_t* c = container_of(item, kinesis_consumer_t, stopped);
  kinesis_consumer_cb cb;
  events_run(c);
  cb = c->stop_cb;
  c->stop_cb = NULL;
  /* A close asked from on_shard_end above, or from the callback, goes on
   * from on_empty once this run is over. */
  if (cb != NULL)
    cb(c, c->stop_status, c->stop_arg);
}


/* After a stop: every shard back to "new", nothing held; the handles stay
 * open for the next start. */
static void consumer_reset(kinesis_consumer_t* c) {
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    kn_cfetch_forget(s);
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
  c->wind = 0;
  c->stopping = 0;
  c->started = 0;
  c->paused = 0;
  /* The next start is ready only once it has listed and claimed again. */
  c->listed_ok = 0;
  c->claimed_once = 0;
  c->store_down = 0;
  c->reported_ready = 0;
  /* The stop's callback runs on a later tick, never inside a call. */
  kn_defer_add(&c->defer, &c->stopped, on_stopped);
}


int kinesis_consumer_stop(kinesis_consumer_t* c, kinesis_consumer_cb cb,
                          void* arg) {
  if (c == NULL)
    return KINESIS_EINVAL;
  if (c->wind)
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


int kinesis_consumer_stats(const kinesis_consumer_t* consumer,
                           kinesis_consumer_stats_t* st) {
  /* The shard array handed out is a buffer the consumer keeps for this
   * call, not part of its state: filling it changes nothing the consumer
   * does, so the function takes a const consumer like every getter. */
  kinesis_consumer_t* c = (kinesis_consumer_t*) consumer;
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
    ss[i].last_error = s->last_error;
    st->leases_held += (uint32_t) kn_clease_holds(s);
    i++;
  }
  st->nshards = i;
  st->shards = ss;
  st->last_error = c->last_error;
  st->last_error_message =
      c->last_error != 0 ? c->last_error_message : NULL;
  return 0;
}
