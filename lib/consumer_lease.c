#include "consumer_internal.h"
#include "internal.h"

#include <string.h>

/*
 * The consumer's leases: checkpoints (written on a timer, in acknowledged
 * order) and heartbeats; checkpoints the service refuses; claims, parent
 * probes and the shard list (ListShards, the start position's frontier);
 * rounds (membership, the leases op, the planner in lease_plan.c, and
 * carrying out its plan); handing a shard over and releasing it.
 */

static void shard_hand_over(kn_cshard_t* s);


/* ---- Checkpoints and leases ---- */

void kn_clease_on_ckpt_done(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->ckpt_ops--;
  kn_consumer_note_close_error(c, status);
  if (status == KINESIS_ELEASELOST) {
    if (kn_clease_holds(s))
      c->stats.leases_lost++;
    kn_cfetch_lost(s, "its lease was taken by another consumer");
  } else if (status != 0 && status != KINESIS_ECANCELED)
    kn_client_log(c->client, KINESIS_LOG_WARN,
                  "consumer: checkpointer call for %s failed: %s", s->id,
                  kinesis_strerror(status));
  /* A shard read to its end waits for its other calls before finishing. */
  if (s->state == SHARD_ENDING)
    kn_cfetch_try_end(s);
  else if (s->state == SHARD_HANDOVER)
    kn_clease_try_hand_over(s);
  kn_consumer_maybe_finish_close(c);
}


static void on_checkpoint_written(int status, void* arg) {
  kn_cshard_t* s = arg;
  kn_consumer_note_store(s->consumer, status);
  if (status == 0)
    s->consumer->stats.checkpoints++;
  else if (status != KINESIS_ELEASELOST)
    s->dirty = 1;  /* written again on the next interval */
  kn_clease_on_ckpt_done(status, arg);
}


void kn_clease_write_checkpoint(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  kinesis_checkpoint_t pos;
  int r;

  const char* seq = s->acked_ref != NULL ? s->acked_ref : s->acked_seq;

  if (!s->dirty || seq == NULL || !kn_clease_holds(s))
    return;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = seq;
  pos.sub_sequence_number = s->acked_sub;
  pos.partial = s->acked_partial;
  r = c->ops.checkpoint(c->cp->self, c->stream, s->id, c->owner, &pos,
                        on_checkpoint_written, s);
  if (r == 0) {
    s->ckpt_ops++;
    s->dirty = 0;
    kn_consumer_set_str(&s->written_seq, seq);
  }
}


void kn_clease_on_checkpoint_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, checkpoint);
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next)
    kn_clease_write_checkpoint(kn_queue_data(q, kn_cshard_t, node));
}


int kn_clease_holds(const kn_cshard_t* s) {
  return s->state == SHARD_FETCHING || s->state == SHARD_ENDING ||
         s->state == SHARD_HANDOVER || s->state == SHARD_FAILED;
}


/* Whether the lease of a shard held here is still known good; when it is
 * not, the shard is dropped (0), since another consumer may own it now. */
int kn_clease_check(kn_cshard_t* s, uint64_t now) {
  kinesis_consumer_t* c = s->consumer;
  if (c->lease_ms == 0 || !kn_clease_holds(s) || now < s->lease_until)
    return 1;
  c->stats.leases_lost++;
  kn_cfetch_lost(s,
                 "its lease could not be confirmed within the session timeout");
  return 0;
}


static void on_heartbeat(int status, void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  s->heartbeating = 0;
  if (status == 0 && kn_clease_holds(s))
    s->lease_until = s->lease_sent_at + c->lease_ms;
  kn_consumer_note_store(c, status);
  kn_clease_on_ckpt_done(status, arg);
}


void kn_clease_on_heartbeat_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, heartbeat);
  uint64_t now = uv_now(c->loop);
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (!kn_clease_check(s, now) || !kn_clease_holds(s) ||
        s->heartbeating)
      continue;
    if (c->ops.heartbeat(c->cp->self, c->stream, s->id, c->owner,
                         on_heartbeat, s) == 0) {
      s->ckpt_ops++;
      s->heartbeating = 1;
      s->lease_sent_at = now;
    }
  }
  kn_clease_round_start(c);
}


/* The service refused the checkpoint the shard started from: a stream
 * deleted and created again under the same name, or another shard's
 * checkpoint. Asking again can never work, so it is never retried: the
 * shard either stops being read, keeping its lease so that no other
 * consumer takes it and fails the same way, or starts over from
 * invalid_checkpoint's position. The application's callback runs last,
 * since it may close or stop the consumer. */
void kn_clease_checkpoint_refused(kn_cshard_t* s, int status,
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
    kn_consumer_readiness_update(c);
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
    kn_consumer_set_str(&s->acked_seq, NULL);
    kn_cfetch_schedule(s, 0);
  }
  if (c->o.on_checkpoint_error != NULL)
    c->o.on_checkpoint_error(c, &e, c->o.on_checkpoint_error_data);
  kn_free(refused);
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
  if (c->wind || s->state != SHARD_CLAIMING) {
    /* Claimed while closing: give it back at once. */
    if (status == 0 &&
        c->ops.release(c->cp->self, c->stream, s->id, c->owner,
                       kn_clease_on_ckpt_done, s) == 0)
      s->ckpt_ops++;
    if (s->state == SHARD_CLAIMING)
      shard_set_state(s, SHARD_NEW);
    kn_consumer_maybe_finish_close(c);
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
    if (c->ops.release(c->cp->self, c->stream, s->id, c->owner,
                       kn_clease_on_ckpt_done, s) == 0)
      s->ckpt_ops++;
    kn_cfetch_children_may_start(s);
    return;
  }
  s->skip_sub = -1;
  if (ckpt->sequence_number != NULL &&
      (kn_consumer_set_str(&s->start_seq, ckpt->sequence_number) != 0 ||
       kn_consumer_set_str(&s->acked_seq, ckpt->sequence_number) != 0 ||
       kn_consumer_set_str(&s->written_seq, ckpt->sequence_number) != 0)) {
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
  kn_consumer_event_push_start(s, ckpt);
  kn_cfetch_schedule(s, 0);
}


static void on_claimed(int status, const kinesis_checkpoint_t* ckpt,
                       void* arg) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  kn_consumer_note_store(c, status);
  claimed(status, ckpt, s);
  c->claims_out--;
  claims_settled(c);
  kn_consumer_readiness_update(c);
}


/* Every claim of a plan was answered: when some were refused and the store
 * cannot list its leases, plan again with what the refusals taught, once
 * for the whole batch rather than once per answer. */
static void claims_settled(kinesis_consumer_t* c) {
  if (c->claims_out > 0 || c->claims_refused == 0)
    return;
  c->claims_refused = 0;
  if (!c->wind && c->started && c->ops.leases == NULL)
    round_plan(c);
}


static void shard_claim(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  shard_set_state(s, SHARD_CLAIMING);
  s->lease_sent_at = uv_now(c->loop);
  if (c->ops.claim(c->cp->self, c->stream, s->id, c->owner, on_claimed,
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
    if (!c->wind && c->started)
      round_plan(c);
  }
  kn_consumer_maybe_finish_close(c);
}


/* Without the leases op: a parent another consumer reads is finished by
 * that consumer, so ask the checkpointer whether it is. */
static void probe_parent(kinesis_consumer_t* c, const char* id) {
  kn_cshard_t* p = id != NULL ? shard_find(c, id) : NULL;
  if (p == NULL || !p->listed || p->probing ||
      (p->state != SHARD_NEW && p->state != SHARD_LEASED_OTHER))
    return;
  if (c->ops.get(c->cp->self, c->stream, p->id, on_probed, p) == 0) {
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
    kn_cfetch_forget(s);
}


/* A shard neither listed nor held, with nothing in flight, leaves the
 * table: a stream resharded again and again keeps a table of the shards
 * it lists now. Its timer's close frees it. */
static void shard_maybe_drop(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->listed || kn_clease_holds(s) || s->state == SHARD_CLAIMING ||
      s->call != NULL || s->ckpt_ops > 0 || s->probing ||
      !kn_queue_empty(&s->fetches))
    return;
  kn_queue_remove(&s->node);
  kn_strmap_remove(&c->index, s->id);
  c->nshards--;
  uv_close((uv_handle_t*) &s->timer, kn_consumer_on_shard_timer_closed);
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
  if (kn_consumer_set_str(&s->id, sh->shard_id) != 0 ||
      kn_consumer_set_str(&s->parent, sh->parent_shard_id) != 0 ||
      kn_consumer_set_str(&s->adjacent_parent,
                          sh->adjacent_parent_shard_id) != 0 ||
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


/* A listing failed with `status` (`res` may be NULL): counted unless it
 * was throttled, and reported (failure.h). */
static void list_failed(kinesis_consumer_t* c, int status,
                        const kinesis_result_t* res) {
  char subject[320];
  snprintf(subject, sizeof(subject), "consumer: ListShards on %s", c->stream);
  if (kn_consumer_note_failure(c, &c->list_failure, subject, status, res))
    c->stats.list_failures++;
  else
    kn_client_log(c->client, KINESIS_LOG_DEBUG,
                  "consumer: ListShards on %s throttled (%s)", c->stream,
                  res != NULL && res->error_code != NULL
                      ? res->error_code
                      : kinesis_strerror(status));
}


static void on_listed(kinesis_client_t* client, int status,
                      const kinesis_result_t* res, void* arg) {
  kinesis_consumer_t* c = arg;
  kn_queue_t* q;
  kn_queue_t* next;
  size_t i;
  (void) client;

  c->listing = NULL;
  if (c->wind) {
    kn_consumer_maybe_finish_close(c);
    return;
  }
  if (status != 0) {
    /* Reported once per reason and then at a slowing interval, not on
     * every try, which comes within a second; throttling is only noted. */
    list_failed(c, status, res);
    /* Try again soon rather than after a whole discovery interval (and
     * never later than one). */
    uv_timer_start(&c->discovery, kn_clease_on_discovery_timer,
                   c->o.shard_discovery_ms < 1000 ? c->o.shard_discovery_ms
                                                  : 1000,
                   c->o.shard_discovery_ms);
    return;
  }
  if (c->list_failure.failures > 0) {
    char subject[320];
    snprintf(subject, sizeof(subject), "consumer: ListShards on %s",
             c->stream);
    kn_consumer_note_success(c, &c->list_failure, subject);
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
      kn_cfetch_lost(s, "it is no longer in the stream's shard list");
    else if (s->state == SHARD_GONE)
      shard_maybe_forget(s);
    /* A shard whose finish did not go through: try again. */
    else if (s->state == SHARD_ENDING)
      kn_cfetch_try_end(s);
    /* Without a lease table, a lease seen elsewhere may have expired since:
     * this round claims it again to find out. */
    else if (s->state == SHARD_LEASED_OTHER && c->ops.leases == NULL)
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
  kn_clease_round_start(c);
  kn_consumer_readiness_update(c);
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
  if (c->wind) {
    kn_consumer_maybe_finish_close(c);
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
  kn_clease_round_start(c);
  kn_consumer_readiness_update(c);
}


static void frontier_query(kinesis_consumer_t* c) {
  if (c->frontier_call != NULL)
    return;
  if (kn_client_list_shards_at(c->client, c->stream, c->o.timestamp,
                               on_frontier, c, &c->frontier_call) != 0) {
    c->frontier_call = NULL;
    c->frontier_done = 1;
    c->frontier_trusted = 0;
    kn_clease_round_start(c);
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
    kn_clease_round_start(c);
  }
}


void kn_clease_round_start(kinesis_consumer_t* c) {
  if (c->wind || !c->started || !c->listed_ok || !c->frontier_done)
    return;
  if (c->round_busy) {
    c->round_again = 1;
    return;
  }
  c->round_busy = 1;
  if (c->ops.member != NULL) {
    kn_clease_member_call(c, 0);
    /* The count answers, then the table is read (on_members). */
    if (c->member_calls > 0)
      return;
  }
  round_table(c);
}


static void round_table(kinesis_consumer_t* c) {
  kn_queue_t* q;
  size_t n = 0;

  if (c->ops.leases == NULL) {
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
  if (c->ops.leases(c->cp->self, c->stream, c->ids, n, on_leases, c) == 0)
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


void kn_clease_owners_clear(kinesis_consumer_t* c) {
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
  kn_consumer_note_store(c, status);
  if (c->wind || !c->started) {
    c->round_busy = 0;
    kn_consumer_maybe_finish_close(c);
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
  kn_clease_owners_clear(c);
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
  if (kn_clease_holds(s) || s->state == SHARD_CLAIMING)
    return c->owner;
  if (c->ops.leases == NULL)
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

  if (c->wind || !c->started || !c->frontier_done)
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
    p->known = s->known || kn_clease_holds(s);
    p->frontier = s->frontier;
    p->pinned = p->owner == c->owner && s->state != SHARD_FETCHING;
    p->stale = p->owner == NULL && s->free_rounds >= 2;
    c->plan_shards[n++] = s;
  }
  memset(&in, 0, sizeof(in));
  in.shards = c->plan_in;
  in.nshards = n;
  in.self = c->owner;
  in.members = c->ops.member != NULL ? c->live : 0;
  in.max_shards = c->o.max_shard_consumers;
  in.exact = c->ops.leases != NULL;
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
  if (c->ops.leases == NULL)
    for (i = 0; i < n; i++)
      if (plan.status[i] == KN_PLAN_WAIT) {
        probe_parent(c, c->plan_shards[i]->parent);
        probe_parent(c, c->plan_shards[i]->adjacent_parent);
      }
  kn_lease_plan_free(&plan);
  kn_consumer_readiness_update(c);
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
    kn_cfetch_forget(s);
    shard_set_state(s, SHARD_LEASED_OTHER);
    c->stats.handovers++;
    kn_client_log(c->client, KINESIS_LOG_INFO,
                  "consumer: handed shard %s over", s->id);
    kn_consumer_event_push_end(s, KINESIS_SHARD_END_HANDED_OVER);
  }
  kn_consumer_maybe_finish_close(c);
}


/* The next step of a handover, once the one before is done. */
void kn_clease_try_hand_over(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  if (s->state != SHARD_HANDOVER || c->wind || s->call != NULL ||
      s->ckpt_ops > 0 || !kn_queue_empty(&s->fetches))
    return;
  if (s->dirty) {
    kn_clease_write_checkpoint(s);
    if (s->ckpt_ops > 0)
      return;
  }
  if (c->ops.release(c->cp->self, c->stream, s->id, c->owner,
                     on_handed_over, s) == 0)
    s->ckpt_ops++;
}


static void shard_hand_over(kn_cshard_t* s) {
  shard_set_state(s, SHARD_HANDOVER);
  kn_cfetch_stop(s);
  kn_cfetch_drop_queued(s);
  /* Fetches with nothing handed out go now; the others wait for acks. */
  kn_consumer_shard_advance(s);
  kn_clease_try_hand_over(s);
  kn_cfetch_wake_waiting(s->consumer, NULL);
}


static void on_members(int status, uint32_t live, void* arg) {
  kinesis_consumer_t* c = arg;
  c->member_calls--;
  kn_consumer_note_store(c, status);
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
  if (c->wind)
    kn_consumer_maybe_finish_close(c);
  else if (c->round_busy && c->member_calls == 0)
    round_table(c);
}


/* Registers this consumer as live (or leaving) with the checkpointer. */
void kn_clease_member_call(kinesis_consumer_t* c, int leaving) {
  if (c->member_calls > 0 && !leaving)
    return;
  if (c->ops.member(c->cp->self, c->stream, c->owner, leaving,
                    on_members, c) == 0)
    c->member_calls++;
  if (leaving) {
    c->left = 1;
    c->live = 0;
  }
}


void kn_clease_discovery_run(kinesis_consumer_t* c) {
  int r;
  if (c->listing != NULL || c->wind)
    return;
  r = kn_client_list_shards(c->client, c->stream, on_listed, c, &c->listing);
  if (r != 0) {
    /* The discovery timer tries again. */
    c->listing = NULL;
    if (r != KINESIS_ECLOSING)
      list_failed(c, r, NULL);
  }
}


void kn_clease_on_discovery_timer(uv_timer_t* t) {
  kinesis_consumer_t* c = container_of(t, kinesis_consumer_t, discovery);
  kn_clease_discovery_run(c);
}
