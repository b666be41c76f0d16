#include "consumer_internal.h"
#include "internal.h"

#include <string.h>


/*
 * Reading shards through enhanced fan-out (issue 19), when
 * `efo_consumer_name` is set: the stream consumer is found (registered
 * when asked to) and waited for until ACTIVE; then each leased shard, where
 * polling would call GetRecords, holds one subscription (efo.h) whose call
 * is the shard's `call`, so that stopping, handing over, losing and closing
 * cancel it as they cancel a GetRecords. Each event's records become a
 * fetch (kn_cfetch_take), delivered, acknowledged and checkpointed as
 * polled ones are. A full queue pauses the subscription: curl keeps what
 * arrives, and over HTTP/2 the server holds the rest.
 *
 * A subscription ends after 5 minutes, and then another starts after the
 * last event's ContinuationSequenceNumber: no gap, and nothing read twice.
 * A shard's end is an event without a continuation (AWS, and the fake
 * service, then send ChildShards and end the stream). kinesis-mock never
 * ends a closed shard's subscription and sends empty events forever, so a
 * shard the listing shows closed is also read to its end when an event
 * brings nothing and says it is not behind.
 */

/* Subscriptions of one shard start at least this far apart: AWS allows one
 * SubscribeToShard a second per shard and consumer. */
#define KN_EFO_SUBSCRIBE_GAP_MS 1000
/* ResourceInUseException: a subscription of this consumer to the shard is
 * still open (one that died, not yet noticed by the service). */
#define KN_EFO_IN_USE_WAIT_MS 5000
/* Asking whether the consumer is ACTIVE yet, and, when it is missing and
 * not ours to register, whether someone registered it. */
#define KN_EFO_POLL_MS 500
#define KN_EFO_MISSING_MS 10000


/* ---- The stream consumer ---- */

static void resolve(kinesis_consumer_t* c);


static int efo_is_arn(const kinesis_consumer_t* c) {
  return strncmp(c->o.efo_consumer_name, "arn:", 4) == 0;
}


/* The consumer is ACTIVE: the shards leased meanwhile subscribe. */
static void efo_ready(kinesis_consumer_t* c) {
  kn_queue_t* q;
  for (q = c->shards.next; q != &c->shards; q = q->next) {
    kn_cshard_t* s = kn_queue_data(q, kn_cshard_t, node);
    if (s->state == SHARD_FETCHING && s->call == NULL)
      kn_cfetch_schedule(s, 0);
  }
}


static void resolve_later(kinesis_consumer_t* c, uint64_t ms) {
  if (!c->wind)
    uv_timer_start(&c->efo_timer, kn_cefo_on_timer, ms, 0);
}


/* A register or describe call failed: said, and asked again later. */
static void call_failed(kinesis_consumer_t* c, const char* what, int status,
                        const kinesis_result_t* res, uint64_t retry_ms) {
  kn_client_log(c->client, KINESIS_LOG_WARN,
                "consumer: cannot %s stream consumer %s: %s", what,
                c->o.efo_consumer_name,
                res->error_message ? res->error_message
                                   : kinesis_strerror(status));
  resolve_later(c, retry_ms);
}


/* When `sc` (may be NULL) is ACTIVE: takes its ARN, and the shards go on
 * (1). 0 when it is not, or its ARN could not be kept (asked again). */
static int consumer_active(kinesis_consumer_t* c,
                           const kinesis_stream_consumer_t* sc) {
  if (sc == NULL || sc->consumer_status == NULL ||
      strcmp(sc->consumer_status, "ACTIVE") != 0 || sc->consumer_arn == NULL)
    return 0;
  if (kn_consumer_set_str(&c->efo_arn, sc->consumer_arn) != 0)
    return 0;
  c->efo_reported = 0;
  kn_client_log(c->client, KINESIS_LOG_INFO,
                "consumer: reading through enhanced fan-out as %s",
                c->efo_arn);
  efo_ready(c);
  return 1;
}


static void on_registered(kinesis_client_t* client, int status,
                          const kinesis_result_t* res, void* arg) {
  kinesis_consumer_t* c = arg;
  (void) client;
  c->efo_calls--;
  if (c->wind) {
    kn_consumer_maybe_finish_close(c);
    return;
  }
  /* ResourceInUseException: another consumer registered it just now. */
  if (status == 0 || status == KINESIS_EINUSE) {
    if (status == 0) {
      kn_client_log(c->client, KINESIS_LOG_INFO,
                    "consumer: registered stream consumer %s",
                    c->o.efo_consumer_name);
      /* AWS answers CREATING; a service that answers ACTIVE at once need
       * not be asked again. */
      if (consumer_active(c, res->consumers))
        return;
    }
    resolve_later(c, KN_EFO_POLL_MS);
    return;
  }
  call_failed(c, "register", status, res, KN_EFO_MISSING_MS);
}


static void on_described(kinesis_client_t* client, int status,
                         const kinesis_result_t* res, void* arg) {
  kinesis_consumer_t* c = arg;
  const kinesis_stream_consumer_t* sc = res->consumers;
  (void) client;
  c->efo_calls--;
  if (c->wind) {
    kn_consumer_maybe_finish_close(c);
    return;
  }
  if (status == 0 && consumer_active(c, sc))
    return;
  if (status == 0) {
    /* CREATING (or DELETING, before it is gone). */
    resolve_later(c, KN_EFO_POLL_MS);
    return;
  }
  if (status == KINESIS_ENOTFOUND && c->o.efo_register && !efo_is_arn(c)) {
    if (kinesis_client_register_stream_consumer(
            c->client, c->stream, c->o.efo_consumer_name, on_registered,
            c) == 0)
      c->efo_calls++;
    else
      resolve_later(c, KN_EFO_POLL_MS);
    return;
  }
  if (status == KINESIS_ENOTFOUND) {
    if (!c->efo_reported)
      kn_client_log(c->client, KINESIS_LOG_ERROR,
                    "consumer: stream consumer %s does not exist on %s; "
                    "register it (kinesis register-consumer) or set "
                    "efo_register",
                    c->o.efo_consumer_name, c->stream);
    c->efo_reported = 1;
    c->last_error = status;
    snprintf(c->last_error_message, sizeof(c->last_error_message),
             "DescribeStreamConsumer: stream consumer %s does not exist",
             c->o.efo_consumer_name);
    resolve_later(c, KN_EFO_MISSING_MS);
    return;
  }
  call_failed(c, "describe", status, res, KN_EFO_POLL_MS * 2);
}


/* Asks whether the consumer exists and is ACTIVE. */
static void resolve(kinesis_consumer_t* c) {
  int arn = efo_is_arn(c);
  if (c->efo_calls > 0 || c->wind)
    return;
  if (kinesis_client_describe_stream_consumer(
          c->client, arn ? NULL : c->stream,
          arn ? NULL : c->o.efo_consumer_name,
          arn ? c->o.efo_consumer_name : NULL, on_described, c) == 0)
    c->efo_calls++;
  else
    resolve_later(c, KN_EFO_POLL_MS);
}


void kn_cefo_on_timer(uv_timer_t* t) {
  resolve(container_of(t, kinesis_consumer_t, efo_timer));
}


void kn_cefo_start(kinesis_consumer_t* c) {
  if (c->o.efo_consumer_name != NULL && c->efo_arn == NULL)
    resolve(c);
}


/* ---- Subscriptions ---- */

static int on_event(void* arg, kn_parsed_t* ev) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  kinesis_result_t res;
  char* last = NULL;
  /* Read before the records are taken, which empties `ev`. */
  int end = ev->continuation_sequence_number == NULL;

  c->stats.subscription_events++;
  if (c->wind || s->state != SHARD_FETCHING)
    return 0;
  if (ev->nrecords > 0 &&
      ev->records[ev->nrecords - 1].sequence_number != NULL &&
      (last = kn_strdup(ev->records[ev->nrecords - 1].sequence_number)) ==
          NULL)
    return KINESIS_ENOMEM;
  memset(&res, 0, sizeof(res));
  res.records = ev->records;
  res.nrecords = ev->nrecords;
  res.millis_behind_latest = ev->millis_behind_latest;
  /* Where to go on from is kept before the records are taken: the other
   * way round, a failure between the two would read them twice. */
  if (ev->continuation_sequence_number != NULL &&
      kn_consumer_set_str(&s->continuation,
                          ev->continuation_sequence_number) != 0) {
    kn_free(last);
    return KINESIS_ENOMEM;
  }
  if (ev->nrecords > 0 && kn_cfetch_take(s, &res, ev, last) != 0) {
    kn_free(last);
    return KINESIS_ENOMEM;
  }
  s->millis_behind = res.millis_behind_latest;
  s->backoff_ms = 0;
  s->last_error = 0;
  s->not_found = 0;
  if (!s->fetch_ok) {
    s->fetch_ok = 1;
    kn_consumer_readiness_update(c);
  }
  if (end || (!s->open && res.nrecords == 0 &&
              res.millis_behind_latest == 0 && s->continuation != NULL)) {
    /* The shard's end: the stream ends after this event (or, from a
     * server that never ends it, is ended now). */
    s->sub_end = 1;
    if (!end)
      kn_efo_sub_cancel(s->sub);
    return 0;
  }
  if (c->queue_depth + c->reserved >= c->o.max_queue_size) {
    kn_efo_sub_pause(s->sub);
    s->sub_paused = 1;
    c->room_waiters = 1;
  }
  return 0;
}


static void on_end(void* arg, int status, const char* message) {
  kn_cshard_t* s = arg;
  kinesis_consumer_t* c = s->consumer;
  uint64_t wait = 0;

  s->sub = NULL;
  s->call = NULL;
  s->sub_paused = 0;
  if (c->wind || s->state != SHARD_FETCHING) {
    if (s->state == SHARD_HANDOVER)
      kn_clease_try_hand_over(s);
    kn_consumer_maybe_finish_close(c);
    return;
  }
  if (s->sub_end) {
    kn_cfetch_read_to_end(s);
    return;
  }
  switch (status) {
    case 0:
    case KINESIS_ECANCELED:
      /* Its 5 minutes were up: on from the continuation. */
      break;
    case KINESIS_EINUSE:
      wait = KN_EFO_IN_USE_WAIT_MS;
      kn_client_log(c->client, KINESIS_LOG_INFO,
                    "consumer: shard %s: %s; subscribing again in %u ms",
                    s->id, message, (unsigned) wait);
      break;
    case KINESIS_ENOTFOUND:
      /* The stream consumer is gone (deregistered), or the shard is: the
       * consumer is looked up again (and registered again when asked to),
       * and a shard refused right after that is given up. */
      if (++s->not_found > 2) {
        kn_cfetch_lost(s, "the service no longer knows it");
        return;
      }
      kn_client_log(c->client, KINESIS_LOG_WARN,
                    "consumer: shard %s: %s", s->id, message);
      if (c->efo_arn != NULL) {
        kn_free(c->efo_arn);
        c->efo_arn = NULL;
        resolve(c);
      }
      return;
    case KINESIS_EINVALIDARG:
      if (kn_cfetch_starts_at_checkpoint(s) && s->continuation == NULL) {
        kn_clease_checkpoint_refused(s, status, message);
        return;
      }
      /* fall through */
    default: {
      kinesis_result_t res;
      memset(&res, 0, sizeof(res));
      res.error_message = message;
      kn_cfetch_failed(s, "SubscribeToShard", status, &res);
      kn_cfetch_backoff(s);
      return;
    }
  }
  kn_cfetch_schedule(s, wait);
}


void kn_cefo_subscribe(kn_cshard_t* s) {
  kinesis_consumer_t* c = s->consumer;
  kinesis_iterator_request_t start;
  kn_efo_handlers_t h;
  int r;

  /* Until the consumer is ACTIVE the shard waits; efo_ready() wakes it. */
  if (c->efo_arn == NULL)
    return;
  memset(&start, 0, sizeof(start));
  start.shard_id = s->id;
  if (s->continuation != NULL) {
    start.type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
    start.sequence_number = s->continuation;
  } else {
    start.type = s->start_type;
    start.sequence_number = s->start_seq;
    start.timestamp = c->o.timestamp;
  }
  memset(&h, 0, sizeof(h));
  h.on_event = on_event;
  h.on_end = on_end;
  h.arg = s;
  s->sub_end = 0;
  r = kn_efo_subscribe(c->client, c->efo_arn, &start, &h, &s->sub);
  if (r != 0) {
    s->sub = NULL;
    if (r != KINESIS_ECLOSING)
      kn_cfetch_failed(s, "SubscribeToShard", r, NULL);
    kn_cfetch_backoff(s);
    return;
  }
  s->call = kn_efo_sub_call(s->sub);
  s->next_fetch_at = uv_now(c->loop) + KN_EFO_SUBSCRIBE_GAP_MS;
  c->stats.subscriptions++;
}


void kn_cefo_resume(kn_cshard_t* s) {
  if (s->sub_paused) {
    s->sub_paused = 0;
    kn_efo_sub_resume(s->sub);
  }
}
