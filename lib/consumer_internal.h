#ifndef KN_CONSUMER_INTERNAL_H
#define KN_CONSUMER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "internal.h"
#include "aggregation.h"
#include "buf.h"
#include "client.h"
#include "codec.h"
#include "defer.h"
#include "efo.h"
#include "failure.h"
#include "lease_plan.h"
#include "shardmap.h"
#include "strmap.h"

/*
 * The consumer (DESIGN.md section 4). Each leased shard has a fetch timer
 * and at most one client call in flight (GetShardIterator or GetRecords).
 * A GetRecords answer becomes a kn_fetch_t: the parsed answer, kept whole
 * (records point into it, no copies), with its KPL aggregates split into
 * user records. Fetches wait in one FIFO, `ready`, from which the
 * dispatcher (an item of the consumer's kn_defer_t) hands records to
 * on_record, so order within a shard is kept and no callback runs inside
 * an API call. A shard's fetches also stay on the
 * shard, in order, until every record in them is acknowledged: the acked
 * prefix is what may be checkpointed.
 *
 * The consumer is three files, which share this header and no more:
 * consumer.c (the API, options, delivery, the life cycle), consumer_fetch.c
 * (reading shards) and consumer_lease.c (rounds, claims, heartbeats,
 * checkpoints, handover). The planner they call is lease_plan.c.
 */

enum {
  SHARD_NEW = 0,       /* listed; not claimed */
  SHARD_CLAIMING,      /* a claim or a parents check is in flight */
  SHARD_LEASED_OTHER,  /* another consumer holds it */
  SHARD_FETCHING,      /* ours: iterator and GetRecords */
  SHARD_ENDING,        /* read to its end; waiting for acks, then finish */
  SHARD_FINISHED,
  SHARD_GONE,          /* lost its lease, or left the stream */
  SHARD_HANDOVER,      /* given up to rebalance: acks, checkpoint, release */
  SHARD_FAILED         /* its checkpoint refused: leased, not read */
};

typedef struct kn_fetch_s kn_fetch_t;
typedef struct kn_cshard_s kn_cshard_t;

typedef struct kn_crec_s {
  kinesis_consumer_record_t pub;
  kn_fetch_t* fetch;
  uint8_t acked;
  uint8_t partial;     /* not the last user record of its aggregate */
} kn_crec_t;

struct kn_fetch_s {
  kn_queue_t node;     /* the shard's fetches, in order */
  kn_queue_t ready;    /* the consumer's delivery FIFO, while undelivered */
  kn_cshard_t* shard;
  kn_parsed_t parsed;
  kn_crec_t* recs;
  size_t nrecs;
  size_t delivered;    /* records handed to on_record */
  size_t acked;        /* the acknowledged prefix */
  kn_buf_t strings;    /* NUL-terminated keys of de-aggregated records */
  kn_deagg_record_t** deaggs;
  size_t ndeaggs;
};

struct kn_cshard_s {
  kn_queue_t node;
  kinesis_consumer_t* consumer;
  char* id;
  char* parent;
  char* adjacent_parent;
  int state;
  int listed;          /* seen in the latest listing */
  uv_timer_t timer;
  int timer_open;
  kn_call_t* call;     /* GetShardIterator or GetRecords in flight */
  uint32_t reserved;   /* the Limit of the GetRecords in flight */
  int ckpt_ops;        /* checkpointer calls in flight */
  /* The lease is known good until this loop time: the last claim or
   * heartbeat that succeeded, counted from when it was sent. */
  uint64_t lease_until;
  uint64_t lease_sent_at;
  int heartbeating;    /* a heartbeat is in flight */
  int probing;         /* a get in flight, to learn whether it is finished */
  /* The claim round (consumer's `round`) in which a claim of this shard
   * was refused: it is not asked again in that round. */
  uint64_t refused_round;
  char* iterator;
  kn_queue_t fetches;
  /* Where to start again after an expired iterator: after the last record
   * fetched, or from the start position when nothing was fetched. */
  char* last_fetched;
  kinesis_iterator_type_t start_type;
  char* start_seq;
  /* Records of the aggregate at start_seq up to this index were processed
   * before a restart: they are skipped. -1 when none. */
  int64_t skip_sub;
  /* The acknowledged position, and what was last written. */
  char* acked_seq;
  /* The last acknowledged record's sequence number while its fetch is
   * held: copied into acked_seq only when the fetch goes, not per record. */
  const char* acked_ref;
  /* User records per Kinesis record in recent answers: an aggregate counts
   * once in GetRecords' Limit, and the queue's room is in user records. */
  double fanout;
  uint32_t acked_sub;
  int acked_partial;
  int dirty;
  char* written_seq;
  uint32_t backoff_ms;
  uint64_t next_fetch_at;
  int64_t millis_behind;
  double last_arrival;
  uint64_t records;
  /* A GetRecords call succeeded since the lease was taken, and none has
   * failed since, throttling aside: the shard is being read. */
  int fetch_ok;
  /* Its fetches' failures, throttling aside, for the log; and the status of
   * the last call, 0 after a GetRecords that succeeded. */
  kn_failure_t failure;
  int last_error;
  /* The shard's hash-key range, from the listing, for the KCL's check of
   * KPL aggregates (fetch_build). Without a range that parses, has_range is
   * 0 and no aggregate is dropped. */
  kn_hash_key_t range_start;
  kn_hash_key_t range_end;
  int has_range;
  /* For the planner: from the listing, the lease table and the plan. */
  int open;            /* listed without an ending sequence number */
  int frontier;        /* open at the start position (LATEST, AT_TIMESTAMP) */
  int known;           /* the store has a record of it */
  int at_position;     /* without a checkpoint, start at iterator_type */
  int plan_status;     /* KN_PLAN_* of the last plan */
  const char* owner;   /* the table's live owner (interned); NULL: free */
  int free_rounds;     /* rounds in a row the table showed it free */
  /* Waiting in the consumer's call_waiters for a call to end. */
  kn_queue_t call_wait;
  int call_waiting;
  int started_event;   /* a start went to on_shard_start; an end is owed */
  /* Enhanced fan-out (consumer_efo.c): the subscription, whose call is
   * `call` while it lasts; whether it is paused for room; where the last
   * event said to go on from; whether the shard's end was read; and
   * ResourceNotFoundException answers in a row. */
  kn_efo_sub_t* sub;
  int sub_paused;
  char* continuation;
  int sub_end;
  int not_found;
};

/* A shard's start or end, for on_shard_start and on_shard_end, queued so
 * that each runs on the loop after the work that caused it, in order. */
typedef struct kn_event_s {
  kn_queue_t node;
  int start;
  kinesis_shard_start_t st;
  kinesis_shard_end_reason_t reason;
  char strings[];      /* the shard id, then the sequence number */
} kn_event_t;

struct kinesis_consumer_s {
  kinesis_client_t* client;
  uv_loop_t* loop;
  kinesis_consumer_options_t o;
  char* stream;
  char* owner;
  kinesis_checkpointer_t* cp;
  /* cp's operations, copied within their table's size: an operation past
   * it (a store built against an older header) is NULL here. Calls go
   * through this copy, never through cp->ops. */
  kinesis_checkpointer_ops_t ops;
  int own_cp;          /* the private memory checkpointer */
  uint32_t lease_ms;   /* the checkpointer's session timeout; 0: unknown */
  uint32_t live;       /* live members, as last answered; 0: unknown */
  int member_calls;    /* member op calls in flight */
  int left;            /* told the checkpointer it is leaving */
  uint64_t round;      /* claim rounds: each listing and heartbeat */
  kn_queue_t shards;
  size_t nshards;
  kn_strmap_t index;   /* shards by id */
  kn_strmap_t owners;  /* the last lease table's owner names, interned */
  /* Rounds (see "Rounds" below). */
  int round_busy;      /* a round is counting, reading or planning */
  int round_again;     /* another round was asked for meanwhile */
  int leases_calls;    /* leases op calls in flight */
  int claims_out;      /* claims of the last plans in flight */
  int claims_refused;  /* of those, refused since the last plan */
  int probes_out;      /* parent gets in flight (no leases op) */
  int probes_found;    /* of those, parents found finished */
  int planned_once;    /* a plan was carried out since the start */
  size_t target;       /* the last plan's share; SIZE_MAX: no limit */
  const char** ids;    /* the ids asked of the leases op */
  size_t ids_cap;
  kn_plan_shard_t* plan_in;
  kn_cshard_t** plan_shards;
  size_t plan_cap;
  /* The start position's frontier (LATEST, AT_TIMESTAMP): marked once per
   * start; trusted when it could be worked out. */
  int frontier_done;
  int frontier_trusted;
  kn_call_t* frontier_call;
  kn_queue_t events;   /* kn_event_t, for on_shard_start and on_shard_end */
  /* Shard calls (GetShardIterator, GetRecords) in flight, at most
   * max_calls, the client's connections: more would only wait inside
   * libcurl, whose list of waiting transfers costs O(n) per transfer. The
   * shards beyond wait here, in order. */
  uint32_t calls;
  uint32_t max_calls;
  kn_queue_t call_waiters;
  /* Shard calls started in this loop turn, at most KN_CALLS_PER_TURN: the
   * rest wait in the line for the next turn (on_turn), so that a thousand
   * shards coming due together cost several short turns, not one long
   * one. */
  uint32_t turn_calls;
  size_t fetching;     /* shards in SHARD_FETCHING */
  kn_queue_t ready;
  uint64_t queue_depth;
  uint64_t reserved;   /* records GetRecords calls in flight may bring */
  /* A shard found the queue full and waits, with no timer armed, for room:
   * only then has kn_cfetch_wake_waiting() anything to look for. */
  int room_waiters;
  uint64_t unacked;
  /* What runs on a later tick: the dispatcher, a change of readiness to
   * report, a stop's callback. */
  kn_defer_t defer;
  kn_defer_item_t dispatch;
  kn_defer_item_t report_ready;
  kn_defer_item_t stopped;
  uv_timer_t discovery;
  uv_timer_t heartbeat;
  uv_timer_t checkpoint;
  /* The loop's turns, for the stats: the time between two prepare phases
   * less what the loop spent waiting in the kernel. */
  uv_prepare_t turns;
  uint64_t turn_at;      /* uv_hrtime() at the last prepare; 0 before */
  uint64_t turn_idle;    /* uv_metrics_idle_time() then */
  uint64_t turn_cpu;     /* this thread's CPU time then, in ns */
  kn_call_t* listing;
  int started;
  int paused;
  /* depth: the application's callbacks running now (on_record, shard
   * starts and ends). KN_LIFE_CLOSING: kinesis_consumer_close() was
   * called. KN_LIFE_FREEING: the handles and the checkpointer are closing.
   * A close asked while depth > 0, or inside a run of `defer`, goes on
   * when both are over: consumer_busy() holds it back, and the defer's
   * on_empty carries on. */
  kn_life_t life;
  /* The wind-down a stop and a close both walk (WIND_CALLS to
   * WIND_HANDLES, consumer.c); 0 while running. A stop sets it back to 0
   * at its end; a close goes on to close the handles. */
  int wind;
  int handles_open;
  int stopping;        /* a stop, not a close: the consumer stays */
  kinesis_consumer_cb stop_cb;
  void* stop_arg;
  /* What stop_cb gets: 0, or KINESIS_ECANCELED once a close took over the
   * stop under way. */
  int stop_status;
  kinesis_close_cb close_cb;
  void* close_arg;
  /* What close_cb gets: 0, or the first error of a final checkpoint or a
   * release made by the close. */
  int close_status;
  void* data;
  /* Enhanced fan-out: the consumer's ARN once it is ACTIVE; the describe
   * or register calls in flight; a timer to ask again (the leased shards
   * wait for the ARN with no call of their own). */
  char* efo_arn;
  int efo_calls;
  uv_timer_t efo_timer;
  int efo_reported;    /* a missing consumer was reported at ERROR */
  kinesis_consumer_stats_t stats;
  kinesis_consumer_shard_stats_t* shard_stats;
  /* Readiness: the shards were listed, the first claims were answered,
   * the checkpointer's last answer was not KINESIS_ESTORE, and every
   * leased shard is being read. */
  int listed_ok;
  int claimed_once;
  int store_down;
  int reported_ready;    /* as last reported to on_ready */
  /* The listings' failures, for the log; and the last failure of a
   * listing or a shard call, throttling aside, for the stats: its status
   * and what was said of it. */
  kn_failure_t list_failure;
  int last_error;
  char last_error_message[384];
};


/* Every change of a shard's state goes through here, which keeps the count
 * of fetching shards that each GetRecords divides its Limit by. */
static inline void shard_set_state(kn_cshard_t* s, int state) {
  kinesis_consumer_t* c = s->consumer;
  c->fetching += (size_t) (state == SHARD_FETCHING) -
                 (size_t) (s->state == SHARD_FETCHING);
  s->state = state;
}


/* consumer.c: helpers, readiness, acknowledgement, delivery, close. */
int kn_consumer_set_str(char** dst, const char* src);
void kn_consumer_readiness_update(kinesis_consumer_t* c);
void kn_consumer_note_store(kinesis_consumer_t* c, int status);
int kn_consumer_note_failure(kinesis_consumer_t* c, kn_failure_t* f,
                             const char* subject, int status,
                             const kinesis_result_t* res);
void kn_consumer_note_success(kinesis_consumer_t* c, kn_failure_t* f,
                              const char* subject);
void kn_consumer_fetch_free(kinesis_consumer_t* c, kn_fetch_t* f);
void kn_consumer_shard_advance(kn_cshard_t* s);
void kn_consumer_event_push_start(kn_cshard_t* s,
                                  const kinesis_checkpoint_t* ckpt);
void kn_consumer_event_push_end(kn_cshard_t* s,
                                kinesis_shard_end_reason_t why);
void kn_consumer_dispatcher_kick(kinesis_consumer_t* c);
void kn_consumer_on_shard_timer_closed(uv_handle_t* h);
void kn_consumer_maybe_finish_close(kinesis_consumer_t* c);
/* A checkpointer call answered with `status`: when it is an error of the
 * close's final checkpoints or releases, the close's callback gets it (the
 * first such error). */
void kn_consumer_note_close_error(kinesis_consumer_t* c, int status);

/* consumer_fetch.c: iterators, GetRecords, the call line, ending,
 * losing and forgetting a shard. */
void kn_cfetch_children_may_start(kn_cshard_t* s);
void kn_cfetch_try_end(kn_cshard_t* s);
void kn_cfetch_read_to_end(kn_cshard_t* s);
void kn_cfetch_stop(kn_cshard_t* s);
void kn_cfetch_drop_queued(kn_cshard_t* s);
void kn_cfetch_forget(kn_cshard_t* s);
void kn_cfetch_lost(kn_cshard_t* s, const char* why);
void kn_cfetch_line_advance(kinesis_consumer_t* c);
void kn_cfetch_unwait_call(kn_cshard_t* s);
void kn_cfetch_wake_waiting(kinesis_consumer_t* c, kn_cshard_t* except);
void kn_cfetch_schedule(kn_cshard_t* s, uint64_t delay);
void kn_cfetch_backoff(kn_cshard_t* s);
void kn_cfetch_failed(kn_cshard_t* s, const char* op, int status,
                      const kinesis_result_t* res);
int kn_cfetch_starts_at_checkpoint(const kn_cshard_t* s);
int kn_cfetch_take(kn_cshard_t* s, const kinesis_result_t* res,
                   kn_parsed_t* event, char* last_fetched);

/* consumer_efo.c: reading shards through enhanced fan-out. */
void kn_cefo_start(kinesis_consumer_t* c);
void kn_cefo_subscribe(kn_cshard_t* s);
void kn_cefo_resume(kn_cshard_t* s);
void kn_cefo_on_timer(uv_timer_t* t);

/* consumer_lease.c: checkpoints, heartbeats, claims, discovery, rounds,
 * handover, membership. */
void kn_clease_on_ckpt_done(int status, void* arg);
void kn_clease_write_checkpoint(kn_cshard_t* s);
void kn_clease_on_checkpoint_timer(uv_timer_t* t);
int kn_clease_holds(const kn_cshard_t* s);
int kn_clease_check(kn_cshard_t* s, uint64_t now);
void kn_clease_on_heartbeat_timer(uv_timer_t* t);
void kn_clease_checkpoint_refused(kn_cshard_t* s, int status,
                                  const char* message);
void kn_clease_round_start(kinesis_consumer_t* c);
void kn_clease_owners_clear(kinesis_consumer_t* c);
void kn_clease_try_hand_over(kn_cshard_t* s);
void kn_clease_member_call(kinesis_consumer_t* c, int leaving);
void kn_clease_discovery_run(kinesis_consumer_t* c);
void kn_clease_on_discovery_timer(uv_timer_t* t);

#endif /* KN_CONSUMER_INTERNAL_H */
