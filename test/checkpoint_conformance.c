/* The checkpointer contract as one suite of cases (checkpoint_conformance.h).
 * A case expects the same of every store, except where a store promises
 * more, or its schema holds less, and says so in its kn_conf_store_t. */

#include "checkpoint_conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define STREAM KN_CONF_STREAM
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))


/* The store under test, set by kn_conf_main(). */
static const kn_conf_store_t* g_store;
/* Whether the store has separate records per stream, and keeps a finished
 * shard's position (see the limits in checkpoint_conformance.h). */
#define MANY_STREAMS (!(g_store->limits & KN_CONF_ONE_STREAM))
#define KEEPS_FINISHED_POSITION \
  (!(g_store->limits & KN_CONF_FINISH_ENDS_POSITION))
/* Set around every call into the checkpointer: a callback that finds it set
 * ran synchronously. */
static int g_in_call;
/* Numbers callbacks in the order they ran, to check FIFO delivery. */
static int g_order;
/* Operations accepted (returned 0) and answers received: kn_conf_settle()
 * runs the loop until they match. */
static int g_issued;
static int g_answered;


/* ---- Answers ---- */


void kn_conf_on_state(int status, const kinesis_checkpoint_t* ck, void* arg) {
  kn_conf_state_t* r = arg;
  ASSERT(!g_in_call);
  ASSERT_NOT_NULL(ck);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
  r->has_seq = ck->sequence_number != NULL;
  r->seq[0] = '\0';
  if (ck->sequence_number != NULL) {
    ASSERT_LT(strlen(ck->sequence_number), sizeof(r->seq));
    strcpy(r->seq, ck->sequence_number);
  }
  r->sub = ck->sub_sequence_number;
  r->partial = ck->partial;
  r->finished = ck->finished;
}


void kn_conf_on_plain(int status, void* arg) {
  kn_conf_plain_t* r = arg;
  ASSERT(!g_in_call);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
}


void kn_conf_on_members(int status, uint32_t live, void* arg) {
  kn_conf_members_t* r = arg;
  ASSERT(!g_in_call);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
  r->live = live;
}


void kn_conf_on_leases(int status, const kinesis_lease_t* leases, size_t n,
                       void* arg) {
  kn_conf_leases_t* r = arg;
  size_t i;
  ASSERT(!g_in_call);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
  r->n = n;
  free(r->leases);
  r->leases = NULL;
  if (status != 0) {
    /* An error carries no entries. */
    ASSERT_NULL(leases);
    ASSERT_EQ(0, n);
    return;
  }
  /* One entry per asked id, in the order asked. */
  ASSERT_EQ(r->nasked, n);
  if (n > 0)
    ASSERT_NOT_NULL(leases);
  r->leases = calloc(n > 0 ? n : 1, sizeof(*r->leases));
  ASSERT_NOT_NULL(r->leases);
  for (i = 0; i < n; i++) {
    const kinesis_lease_t* l = &leases[i];
    kn_conf_lease_t* c = &r->leases[i];
    ASSERT_STR_EQ(r->asked[i], l->shard_id);
    ASSERT_LT(strlen(l->shard_id), sizeof(c->shard_id));
    strcpy(c->shard_id, l->shard_id);
    ASSERT(l->finished == 0 || l->finished == 1);
    ASSERT(l->known == 0 || l->known == 1);
    /* A shard the store never saw has no owner and is not finished. */
    if (!l->known)
      ASSERT(l->owner == NULL && !l->finished);
    if (l->owner != NULL) {
      ASSERT_NE(0, l->owner[0]);
      ASSERT_LT(strlen(l->owner), sizeof(c->owner));
      strcpy(c->owner, l->owner);
      c->has_owner = 1;
    }
    c->finished = l->finished;
    c->known = l->known;
  }
}


/* ---- The operations ---- */


/* Around every call: enter() marks it and returns the callback count before
 * it; leave() checks that no callback ran inside it and counts the
 * operation if it was accepted. */
static int enter(int calls) {
  g_in_call = 1;
  return calls;
}


static int leave(int r, int before, int calls) {
  g_in_call = 0;
  ASSERT_EQ(before, calls);
  if (r == 0)
    g_issued++;
  return r;
}


int kn_conf_claim_on(kinesis_checkpointer_t* cp, const char* stream,
                     const char* shard, const char* owner,
                     kn_conf_state_t* res) {
  int before = enter(res->calls);
  int r = cp->ops->claim(cp->self, stream, shard, owner, kn_conf_on_state, res);
  return leave(r, before, res->calls);
}


int kn_conf_claim(kinesis_checkpointer_t* cp, const char* shard,
                  const char* owner, kn_conf_state_t* res) {
  return kn_conf_claim_on(cp, STREAM, shard, owner, res);
}


int kn_conf_get(kinesis_checkpointer_t* cp, const char* shard,
                kn_conf_state_t* res) {
  int before = enter(res->calls);
  int r = cp->ops->get(cp->self, STREAM, shard, kn_conf_on_state, res);
  return leave(r, before, res->calls);
}


int kn_conf_heartbeat(kinesis_checkpointer_t* cp, const char* shard,
                      const char* owner, kn_conf_plain_t* res) {
  int before = enter(res->calls);
  int r =
      cp->ops->heartbeat(cp->self, STREAM, shard, owner, kn_conf_on_plain, res);
  return leave(r, before, res->calls);
}


int kn_conf_checkpoint_full(kinesis_checkpointer_t* cp, const char* shard,
                            const char* owner, const char* seq, uint32_t sub,
                            int partial, int finished, kn_conf_plain_t* res) {
  kinesis_checkpoint_t pos;
  int before, r;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = seq;
  pos.sub_sequence_number = sub;
  pos.partial = partial;
  pos.finished = finished;
  before = enter(res->calls);
  r = cp->ops->checkpoint(cp->self, STREAM, shard, owner, &pos,
                          kn_conf_on_plain, res);
  return leave(r, before, res->calls);
}


int kn_conf_checkpoint(kinesis_checkpointer_t* cp, const char* shard,
                       const char* owner, const char* seq, uint32_t sub,
                       int partial, kn_conf_plain_t* res) {
  return kn_conf_checkpoint_full(cp, shard, owner, seq, sub, partial, 0, res);
}


int kn_conf_finish(kinesis_checkpointer_t* cp, const char* shard,
                   const char* owner, kn_conf_plain_t* res) {
  int before = enter(res->calls);
  int r =
      cp->ops->finish(cp->self, STREAM, shard, owner, kn_conf_on_plain, res);
  return leave(r, before, res->calls);
}


int kn_conf_release(kinesis_checkpointer_t* cp, const char* shard,
                    const char* owner, kn_conf_plain_t* res) {
  int before = enter(res->calls);
  int r =
      cp->ops->release(cp->self, STREAM, shard, owner, kn_conf_on_plain, res);
  return leave(r, before, res->calls);
}


int kn_conf_member_on(kinesis_checkpointer_t* cp, const char* stream,
                      const char* owner, int leaving, kn_conf_members_t* res) {
  int before = enter(res->calls);
  int r = cp->ops->member(cp->self, stream, owner, leaving, kn_conf_on_members,
                          res);
  return leave(r, before, res->calls);
}


int kn_conf_member(kinesis_checkpointer_t* cp, const char* owner, int leaving,
                   kn_conf_members_t* res) {
  return kn_conf_member_on(cp, STREAM, owner, leaving, res);
}


int kn_conf_leases_on(kinesis_checkpointer_t* cp, const char* stream,
                      const char* const* ids, size_t n, kn_conf_leases_t* res) {
  int before, r;
  ASSERT_NOT_NULL(cp->ops->leases);
  res->asked = ids;
  res->nasked = n;
  before = enter(res->calls);
  r = cp->ops->leases(cp->self, stream, ids, n, kn_conf_on_leases, res);
  return leave(r, before, res->calls);
}


int kn_conf_leases(kinesis_checkpointer_t* cp, const char* const* ids, size_t n,
                   kn_conf_leases_t* res) {
  return kn_conf_leases_on(cp, STREAM, ids, n, res);
}


void kn_conf_leases_free(kn_conf_leases_t* res) {
  free(res->leases);
  res->leases = NULL;
}


void kn_conf_expect_lease(const kn_conf_leases_t* res, size_t i,
                          const char* owner, int finished, int known) {
  const kn_conf_lease_t* l;
  ASSERT_OK(res->status);
  ASSERT_LT(i, res->n);
  l = &res->leases[i];
  if (owner == NULL) {
    if (l->has_owner)
      fprintf(stderr, "lease %zu (%s): owner %s, expected none\n", i,
              l->shard_id, l->owner);
    ASSERT(!l->has_owner);
  } else {
    ASSERT(l->has_owner);
    ASSERT_STR_EQ(owner, l->owner);
  }
  ASSERT_EQ(finished, l->finished);
  ASSERT_EQ(known, l->known);
}


/* ---- The loop ---- */


static void run_until(uv_loop_t* loop, const int* count, int target) {
  g_store->run_until(loop, count, &target, KN_CONF_SETTLE_MS);
  ASSERT_GE(*count, target);
}


void kn_conf_settle(uv_loop_t* loop) {
  g_store->run_until(loop, &g_answered, &g_issued, KN_CONF_SETTLE_MS);
  ASSERT_EQ(g_issued, g_answered);
}


static void on_wait_timer(uv_timer_t* t) {
  (*(int*) t->data)++;
}


static void on_wait_closed(uv_handle_t* h) {
  (*(int*) h->data)++;
}


void kn_conf_wait_ms(uv_loop_t* loop, uint64_t ms) {
  uv_timer_t t;
  uint64_t start;
  int fired = 0, closed = 0;

  uv_update_time(loop);
  start = uv_now(loop);
  ASSERT_OK(uv_timer_init(loop, &t));
  t.data = &fired;
  ASSERT_OK(uv_timer_start(&t, on_wait_timer, ms, 0));
  while (!fired)
    uv_run(loop, UV_RUN_ONCE);
  t.data = &closed;
  uv_close((uv_handle_t*) &t, on_wait_closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
  ASSERT_GE(uv_now(loop) - start, ms);
}


kinesis_client_t* kn_conf_client_new(uv_loop_t* loop) {
  kinesis_client_options_t o;
  kinesis_client_t* client = NULL;
  kinesis_client_options_init(&o);
  o.region = "us-east-1";
  o.endpoint_url = "http://127.0.0.1:9";
  ASSERT_OK(kinesis_client_new(loop, &o, &client));
  return client;
}


/* A checkpointer closed with status 0: its client (`data`, see make) may
 * close now; the loop runs until it has, before it closes. */
static void closed_ok(void* data, int status) {
  ASSERT_OK(status);
  if (data != NULL)
    ASSERT_OK(kinesis_client_close(data, NULL, NULL));
}


static void on_closed(void* data, int status, void* arg) {
  int* n = arg;
  ASSERT(!g_in_call);
  closed_ok(data, status);
  (*n)++;
}


void kn_conf_close(uv_loop_t* loop, kinesis_checkpointer_t* cp) {
  int closed = 0;
  g_in_call = 1;
  kinesis_checkpointer_close(cp, on_closed, &closed);
  g_in_call = 0;
  ASSERT_EQ(0, closed);
  run_until(loop, &closed, 1);
  ASSERT_EQ(1, closed);
}


void kn_conf_close_all(uv_loop_t* loop, kinesis_checkpointer_t* cp) {
  kn_conf_close(loop, cp);
  ASSERT_EQ(g_issued, g_answered);
  /* Every handle is closed: the loop runs dry, and closes. */
  kn_test_loop_close(loop);
}


/* Starts a case: a fresh loop, and a fresh checkpointer on it. */
static kinesis_checkpointer_t* open_case(uv_loop_t* loop, uint32_t timeout_ms) {
  kinesis_checkpointer_t* cp;
  ASSERT_OK(uv_loop_init(loop));
  cp = g_store->make(loop, timeout_ms);
  ASSERT_NOT_NULL(cp);
  ASSERT_NOT_NULL(cp->ops);
  ASSERT_NOT_NULL(cp->self);
  /* The consumer reads the lease length from the checkpointer. */
  if (timeout_ms > 0)
    ASSERT_EQ(timeout_ms, cp->session_timeout_ms);
  return cp;
}


/* ---- Time ---- */


static uint64_t now_ms(uv_loop_t* loop) {
  uv_update_time(loop);
  return uv_now(loop);
}


/* Loop times around an operation: when it was called, and after its answer
 * arrived. The store read its clock for it somewhere in between. */
typedef struct {
  uint64_t called;
  uint64_t answered;
} span_t;

/* A store's own clock and the loop's count whole milliseconds at different
 * instants. */
#define CLOCK_SLACK_MS 2


/* Whether what an operation during `renew` renewed is still live for one
 * during `check`: live while at most `timeout` ms old on the store's clock.
 * 1 or 0, or -1 when the test cannot tell (a machine so slow that the
 * spans reach across the timeout); either answer then passes. */
static int live_at(const span_t* renew, const span_t* check, uint32_t timeout) {
  if (g_store->promises & KN_CONF_LOOP_CLOCK)
    return check->called - renew->called <= timeout;
  if (check->answered - renew->called + CLOCK_SLACK_MS <= timeout)
    return 1;
  if (check->called - renew->answered > timeout + CLOCK_SLACK_MS)
    return 0;
  fprintf(stderr,
          "note: cannot tell whether %" PRIu64 "..%" PRIu64
          " ms is within %" PRIu32 " ms; accepting either answer\n",
          check->called - renew->answered, check->answered - renew->called,
          timeout);
  return -1;
}


/* Another owner's claim: refused while the lease is live. */
static void expect_claim(int live, int status) {
  if (live == 1)
    ASSERT_EQ(KINESIS_ELEASED, status);
  else if (live == 0)
    ASSERT_OK(status);
  else
    ASSERT(status == 0 || status == KINESIS_ELEASED);
}


/* A member count: `others` sure ones and one that is `live`. */
static void expect_live(uint32_t others, int live, uint32_t count) {
  if (live == 1 || live == 0)
    ASSERT_EQ(others + (uint32_t) live, count);
  else
    ASSERT(count == others || count == others + 1);
}


/* ---- Cases ---- */


static void test_round_trip(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c1 = {0}, c2 = {0}, g1 = {0}, g2 = {0};
  kn_conf_plain_t hb = {0}, ck = {0};
  char seq[] = KN_CONF_SEQ_A;

  /* Operations called at once (before Redis is connected) wait. */
  cp = open_case(&loop, 0);

  /* A shard nobody has seen: claimed at once, no checkpoint. */
  ASSERT_OK(kn_conf_get(cp, "shardId-000", &g1));
  ASSERT_OK(kn_conf_claim(cp, "shardId-000", "A", &c1));
  ASSERT_OK(kn_conf_heartbeat(cp, "shardId-000", "A", &hb));
  ASSERT_OK(kn_conf_checkpoint(cp, "shardId-000", "A", seq, 0, 0, &ck));
  /* The sequence number was copied: scribbling on ours changes nothing. */
  memset(seq, '9', sizeof(seq) - 1);
  ASSERT_OK(kn_conf_get(cp, "shardId-000", &g2));
  /* Claiming a lease one already holds succeeds. */
  ASSERT_OK(kn_conf_claim(cp, "shardId-000", "A", &c2));
  ASSERT_EQ(0, c1.calls + hb.calls + ck.calls + g1.calls + g2.calls);
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(g1, 0);
  ASSERT(!g1.has_seq);
  ASSERT_EQ(0, g1.finished);
  ASSERT_ANSWERED(c1, 0);
  ASSERT(!c1.has_seq);
  ASSERT_EQ(0, c1.sub);
  ASSERT_EQ(0, c1.partial);
  ASSERT_EQ(0, c1.finished);
  ASSERT_ANSWERED(hb, 0);
  ASSERT_ANSWERED(ck, 0);
  ASSERT_ANSWERED(g2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g2.seq);
  ASSERT_EQ(0, g2.partial);
  ASSERT_ANSWERED(c2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, c2.seq);
  /* Delivered in the order they were called. */
  ASSERT_LT(g1.order, c1.order);
  ASSERT_LT(c1.order, hb.order);
  ASSERT_LT(hb.order, ck.order);
  ASSERT_LT(ck.order, g2.order);
  ASSERT_LT(g2.order, c2.order);

  kn_conf_close_all(&loop, cp);
}


static void test_lease_expiry(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b1 = {0}, b2 = {0}, g1 = {0}, g2 = {0};
  kn_conf_plain_t ack = {0}, ahb = {0}, ack2 = {0}, arel = {0}, afin = {0};
  kn_conf_plain_t bck = {0};
  span_t a_span, b1_span, b2_span;
  uint32_t timeout;

  cp = open_case(&loop, g_store->short_timeout_ms);
  timeout = cp->session_timeout_ms;
  ASSERT_GT(timeout, 0);

  a_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "100", 0, 0, &ack));
  /* The lease is live: B is refused but learns the position. */
  b1_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b1));
  kn_conf_settle(&loop);
  a_span.answered = b1_span.answered = now_ms(&loop);
  ASSERT_ANSWERED(a, 0);
  ASSERT_ANSWERED(ack, 0);
  ASSERT_EQ(1, b1.calls);
  expect_claim(live_at(&a_span, &b1_span, timeout), b1.status);
  ASSERT_STR_EQ("100", b1.seq);
  ASSERT_EQ(0, b1.finished);

  /* A stops heartbeating; after the session timeout B takes over. */
  kn_conf_wait_ms(&loop, timeout + timeout / 2);
  b2_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b2));
  /* A is fenced off: nothing it does lands. */
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &ahb));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "200", 0, 0, &ack2));
  ASSERT_OK(kn_conf_get(cp, "s", &g1));
  ASSERT_OK(kn_conf_release(cp, "s", "A", &arel));
  ASSERT_OK(kn_conf_finish(cp, "s", "A", &afin));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "B", "300", 0, 0, &bck));
  ASSERT_OK(kn_conf_get(cp, "s", &g2));
  kn_conf_settle(&loop);
  b2_span.answered = now_ms(&loop);
  ASSERT_EQ(0, live_at(&a_span, &b2_span, timeout));

  ASSERT_ANSWERED(b2, 0);
  ASSERT_STR_EQ("100", b2.seq);
  ASSERT_ANSWERED(ahb, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(ack2, KINESIS_ELEASELOST);
  /* A's refused checkpoint left the stored position alone. */
  ASSERT_EQ(1, g1.calls);
  ASSERT_STR_EQ("100", g1.seq);
  ASSERT_ANSWERED(arel, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(afin, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(bck, 0);
  ASSERT_EQ(1, g2.calls);
  ASSERT_STR_EQ("300", g2.seq);
  /* A's failed finish did not mark the shard. */
  ASSERT_EQ(0, g2.finished);

  kn_conf_close_all(&loop, cp);
}


static void test_heartbeat_keeps_lease(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b1 = {0}, b2 = {0};
  kn_conf_plain_t hb = {0};
  span_t a_span, hb_span, b1_span, b2_span;
  uint32_t timeout, step;

  cp = open_case(&loop, g_store->short_timeout_ms);
  timeout = cp->session_timeout_ms;
  ASSERT_GT(timeout, 0);
  step = timeout * 3 / 5;

  a_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  kn_conf_settle(&loop);
  a_span.answered = now_ms(&loop);
  ASSERT_OK(a.status);
  kn_conf_wait_ms(&loop, step);
  hb_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &hb));
  kn_conf_settle(&loop);
  hb_span.answered = now_ms(&loop);
  ASSERT_ANSWERED(hb, 0);
  kn_conf_wait_ms(&loop, step);
  /* More than the timeout since the claim, less since the heartbeat: still
   * A's. */
  b1_span.called = now_ms(&loop);
  ASSERT_GT(b1_span.called - a_span.called, timeout);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b1));
  kn_conf_settle(&loop);
  b1_span.answered = now_ms(&loop);
  ASSERT_EQ(1, b1.calls);
  expect_claim(live_at(&hb_span, &b1_span, timeout), b1.status);
  /* Without more heartbeats it lapses. */
  kn_conf_wait_ms(&loop, step);
  b2_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b2));
  kn_conf_settle(&loop);
  b2_span.answered = now_ms(&loop);
  ASSERT_EQ(0, live_at(&hb_span, &b2_span, timeout));
  ASSERT_OK(b2.status);

  kn_conf_close_all(&loop, cp);
}


static void test_partial_aggregate(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, g1 = {0}, g2 = {0}, c2 = {0};
  kn_conf_plain_t ck1 = {0}, ck2 = {0}, rel = {0};

  cp = open_case(&loop, 0);

  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  /* User records 0..3 of the aggregate SEQ_A are done. */
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", KN_CONF_SEQ_A, 3, 1, &ck1));
  ASSERT_OK(kn_conf_get(cp, "s", &g1));
  ASSERT_OK(kn_conf_release(cp, "s", "A", &rel));
  /* Whoever takes over resumes inside the aggregate. */
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &c2));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "B", KN_CONF_SEQ_B, 0, 0, &ck2));
  ASSERT_OK(kn_conf_get(cp, "s", &g2));
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(ck1, 0);
  ASSERT_EQ(1, g1.calls);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g1.seq);
  ASSERT_EQ(3, g1.sub);
  ASSERT_EQ(1, g1.partial);
  ASSERT_EQ(0, g1.finished);
  ASSERT_ANSWERED(rel, 0);
  ASSERT_ANSWERED(c2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, c2.seq);
  ASSERT_EQ(3, c2.sub);
  ASSERT_EQ(1, c2.partial);
  ASSERT_ANSWERED(ck2, 0);
  ASSERT_EQ(1, g2.calls);
  ASSERT_STR_EQ(KN_CONF_SEQ_B, g2.seq);
  ASSERT_EQ(0, g2.sub);
  ASSERT_EQ(0, g2.partial);

  kn_conf_close_all(&loop, cp);
}


static void test_finish_then_claim(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, g = {0}, b = {0}, g_other = {0}, c = {0};
  kn_conf_state_t gc = {0};
  kn_conf_plain_t ck = {0}, fin = {0}, hb = {0}, fin2 = {0}, ckc = {0};
  char big[130];

  cp = open_case(&loop, 0);

  ASSERT_OK(kn_conf_claim(cp, "parent", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(cp, "parent", "A", "42", 0, 0, &ck));
  ASSERT_OK(kn_conf_finish(cp, "parent", "A", &fin));
  /* finish freed the lease. */
  ASSERT_OK(kn_conf_heartbeat(cp, "parent", "A", &hb));
  ASSERT_OK(kn_conf_finish(cp, "parent", "A", &fin2));
  ASSERT_OK(kn_conf_get(cp, "parent", &g));
  /* Another owner may claim it at once, and learns it is done. */
  ASSERT_OK(kn_conf_claim(cp, "parent", "B", &b));
  /* Other shards are unaffected. */
  ASSERT_OK(kn_conf_get(cp, "child", &g_other));
  /* checkpoint ignores `finished`; a 129-digit sequence number, the
   * longest the API allows, is kept whole (to Redis's Lua it is never a
   * number). */
  memset(big, '7', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ASSERT_OK(kn_conf_claim(cp, "child", "C", &c));
  ASSERT_OK(kn_conf_checkpoint_full(cp, "child", "C", big, 0, 0, 1, &ckc));
  ASSERT_OK(kn_conf_get(cp, "child", &gc));
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(fin, 0);
  ASSERT_ANSWERED(hb, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(fin2, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(g, 0);
  ASSERT_EQ(1, g.finished);
  ASSERT_ANSWERED(b, 0);
  ASSERT_EQ(1, b.finished);
  if (KEEPS_FINISHED_POSITION) {
    ASSERT_STR_EQ("42", g.seq);
    ASSERT_STR_EQ("42", b.seq);
  } else {
    ASSERT(!g.has_seq && !b.has_seq);
  }
  ASSERT_ANSWERED(g_other, 0);
  ASSERT_EQ(0, g_other.finished);
  ASSERT(!g_other.has_seq);
  ASSERT_OK(c.status);
  ASSERT_OK(ckc.status);
  ASSERT_OK(gc.status);
  ASSERT_STR_EQ(big, gc.seq);
  ASSERT_EQ(0, gc.finished);

  kn_conf_close_all(&loop, cp);
}


static void test_release_then_claim(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b = {0};
  kn_conf_plain_t ck = {0}, rel = {0}, rel_again = {0}, rel_unknown = {0};
  kn_conf_plain_t rel_b = {0}, hb_unknown = {0}, ck_unknown = {0};
  kn_conf_plain_t fin_unknown = {0};

  cp = open_case(&loop, 60000);

  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "5", 0, 0, &ck));
  ASSERT_OK(kn_conf_release(cp, "s", "A", &rel));
  /* Releasing what one does not hold is reported. */
  ASSERT_OK(kn_conf_release(cp, "s", "A", &rel_again));
  ASSERT_OK(kn_conf_release(cp, "nope", "A", &rel_unknown));
  ASSERT_OK(kn_conf_heartbeat(cp, "nope", "A", &hb_unknown));
  ASSERT_OK(kn_conf_checkpoint(cp, "nope", "A", "1", 0, 0, &ck_unknown));
  ASSERT_OK(kn_conf_finish(cp, "nope", "A", &fin_unknown));
  /* No need to wait for the 60 s timeout. */
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b));
  ASSERT_OK(kn_conf_release(cp, "s", "B", &rel_b));
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(rel, 0);
  ASSERT_ANSWERED(rel_again, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(rel_unknown, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(hb_unknown, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(ck_unknown, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(fin_unknown, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(b, 0);
  ASSERT_STR_EQ("5", b.seq);
  ASSERT_ANSWERED(rel_b, 0);

  kn_conf_close_all(&loop, cp);
}


static void test_never_synchronous(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0}, g = {0};
  kn_conf_plain_t hb = {0}, ck = {0}, fin = {0}, rel = {0};

  cp = open_case(&loop, 0);
  /* The wrappers already check the count right after each call; here all
   * of them wait until the loop runs, errors included. */
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "B", &hb));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "7", 0, 0, &ck));
  ASSERT_OK(kn_conf_release(cp, "s", "A", &rel));
  ASSERT_OK(kn_conf_finish(cp, "s", "A", &fin));
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  ASSERT_EQ(0, c.calls + g.calls + hb.calls + ck.calls + fin.calls + rel.calls);
  if (g_store->promises & KN_CONF_ONE_TICK) {
    /* One loop iteration delivers them all. */
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(6,
              c.calls + g.calls + hb.calls + ck.calls + fin.calls + rel.calls);
  }
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c, 0);
  ASSERT_ANSWERED(hb, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(ck, 0);
  ASSERT_ANSWERED(rel, 0);
  ASSERT_ANSWERED(fin, KINESIS_ELEASELOST);
  ASSERT_EQ(1, g.calls);
  ASSERT_EQ(0, g.finished);
  kn_conf_close_all(&loop, cp);
}


static void test_invalid_arguments(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  const kinesis_checkpointer_ops_t* ops;
  kn_conf_state_t s = {0};
  kn_conf_plain_t p = {0};
  kn_conf_members_t m = {0};
  kinesis_checkpoint_t pos;
  char long_seq[131];  /* 130 digits: one past the API's longest */
  void* self;
  kinesis_ckpt_state_cb on_state = kn_conf_on_state;
  kinesis_ckpt_cb on_plain = kn_conf_on_plain;
  kinesis_ckpt_members_cb on_members = kn_conf_on_members;

  cp = open_case(&loop, 0);
  ops = cp->ops;
  self = cp->self;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = "1";

  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, NULL, "s", "A", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, "", "s", "A", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, STREAM, NULL, "A", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, STREAM, "", "A", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, STREAM, "s", NULL, on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, STREAM, "s", "", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, STREAM, "s", "A", NULL, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(NULL, STREAM, "s", "A", on_state, &s));

  ASSERT_EQ(KINESIS_EINVAL, ops->heartbeat(self, NULL, "s", "A", on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->heartbeat(self, STREAM, "", "A", on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->heartbeat(self, STREAM, "s", NULL, on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL, ops->heartbeat(self, STREAM, "s", "A", NULL, &p));

  ASSERT_EQ(KINESIS_EINVAL,
            ops->checkpoint(self, "", "s", "A", &pos, on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->checkpoint(self, STREAM, NULL, "A", &pos, on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->checkpoint(self, STREAM, "s", "", &pos, on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->checkpoint(self, STREAM, "s", "A", &pos, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->checkpoint(self, STREAM, "s", "A", NULL, on_plain, &p));

  ASSERT_EQ(KINESIS_EINVAL, ops->finish(self, STREAM, NULL, "A", on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL, ops->finish(self, STREAM, "s", "", on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL, ops->finish(self, STREAM, "s", "A", NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, ops->release(self, "", "s", "A", on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->release(self, STREAM, "s", NULL, on_plain, &p));
  ASSERT_EQ(KINESIS_EINVAL, ops->release(self, STREAM, "s", "A", NULL, &p));

  ASSERT_EQ(KINESIS_EINVAL, ops->get(self, NULL, "s", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->get(self, STREAM, "", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->get(self, STREAM, "s", NULL, &s));

  if (ops->member != NULL) {
    ASSERT_EQ(KINESIS_EINVAL, ops->member(self, NULL, "A", 0, on_members, &m));
    ASSERT_EQ(KINESIS_EINVAL, ops->member(self, "", "A", 0, on_members, &m));
    ASSERT_EQ(KINESIS_EINVAL,
              ops->member(self, STREAM, NULL, 0, on_members, &m));
    ASSERT_EQ(KINESIS_EINVAL, ops->member(self, STREAM, "", 1, on_members, &m));
    ASSERT_EQ(KINESIS_EINVAL, ops->member(self, STREAM, "A", 0, NULL, &m));
    ASSERT_EQ(KINESIS_EINVAL,
              ops->member(NULL, STREAM, "A", 0, on_members, &m));
  }

  /* Sequence numbers must be decimal strings, even for the lease holder,
   * and a refused one writes nothing. */
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &s));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "77", 0, 0, &p));
  kn_conf_settle(&loop);
  ASSERT_EQ(1, s.calls);
  ASSERT_EQ(1, p.calls);
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "A", NULL, 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "A", "", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "A", "12a", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "A", "-1", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "A", " 1", 0, 0, &p));
  memset(long_seq, '1', sizeof(long_seq) - 1);
  long_seq[sizeof(long_seq) - 1] = '\0';
  ASSERT_EQ(KINESIS_EINVAL,
            kn_conf_checkpoint(cp, "s", "A", long_seq, 0, 0, &p));
  /* Also for an owner without the lease: argument errors come first. */
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "s", "B", "x", 0, 0, &p));

  ASSERT_OK(kn_conf_get(cp, "s", &s));
  kn_conf_settle(&loop);
  /* No callback for any refused call. */
  ASSERT_EQ(2, s.calls);
  ASSERT_EQ(1, p.calls);
  ASSERT_EQ(0, m.calls);
  ASSERT_STR_EQ("77", s.seq);

  kn_conf_close_all(&loop, cp);
}


/* ---- Members ---- */


static void test_members(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_members_t a1 = {0}, b1 = {0}, a2 = {0}, b_leave = {0};
  kn_conf_members_t b_leave2 = {0}, other = {0}, a_leave = {0}, empty = {0};

  cp = open_case(&loop, 0);
  if (cp->ops->member == NULL) {
    fprintf(stderr, "note: the store has no member operation\n");
    kn_conf_close_all(&loop, cp);
    return;
  }

  /* The answer counts the caller. */
  ASSERT_OK(kn_conf_member(cp, "A", 0, &a1));
  ASSERT_OK(kn_conf_member(cp, "B", 0, &b1));
  /* Calling again renews, it does not add. */
  ASSERT_OK(kn_conf_member(cp, "A", 0, &a2));
  /* Memberships are per stream. */
  if (MANY_STREAMS)
    ASSERT_OK(kn_conf_member_on(cp, "other", "C", 0, &other));
  /* Leaving removes the caller and does not count it. */
  ASSERT_OK(kn_conf_member(cp, "B", 1, &b_leave));
  /* Leaving twice, or without having joined, is not an error. */
  ASSERT_OK(kn_conf_member(cp, "B", 1, &b_leave2));
  ASSERT_OK(kn_conf_member(cp, "A", 1, &a_leave));
  ASSERT_OK(kn_conf_member_on(cp, "nobody", "Z", 1, &empty));
  ASSERT_EQ(0, a1.calls + b1.calls + a2.calls + other.calls + b_leave.calls);
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(a1, 0);
  ASSERT_EQ(1, a1.live);
  ASSERT_ANSWERED(b1, 0);
  ASSERT_EQ(2, b1.live);
  ASSERT_EQ(1, a2.calls);
  ASSERT_EQ(2, a2.live);
  if (MANY_STREAMS) {
    ASSERT_EQ(1, other.calls);
    ASSERT_EQ(1, other.live);
    ASSERT_LT(a2.order, other.order);
    ASSERT_LT(other.order, b_leave.order);
  }
  ASSERT_ANSWERED(b_leave, 0);
  ASSERT_EQ(1, b_leave.live);
  ASSERT_ANSWERED(b_leave2, 0);
  ASSERT_EQ(1, b_leave2.live);
  ASSERT_EQ(1, a_leave.calls);
  ASSERT_EQ(0, a_leave.live);
  ASSERT_ANSWERED(empty, 0);
  ASSERT_EQ(0, empty.live);
  ASSERT_LT(a1.order, b1.order);
  ASSERT_LT(b1.order, a2.order);
  ASSERT_LT(a2.order, b_leave.order);

  kn_conf_close_all(&loop, cp);
}


static void test_members_expire(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_members_t a1 = {0}, b1 = {0}, a2 = {0}, c1 = {0}, b2 = {0};
  span_t b_span, a_span, c_span, b2_span;
  uint32_t timeout, step;

  cp = open_case(&loop, g_store->short_timeout_ms);
  if (cp->ops->member == NULL) {
    kn_conf_close_all(&loop, cp);
    return;
  }
  timeout = cp->session_timeout_ms;
  ASSERT_GT(timeout, 0);
  step = timeout * 3 / 5;

  b_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_member(cp, "A", 0, &a1));
  ASSERT_OK(kn_conf_member(cp, "B", 0, &b1));
  kn_conf_settle(&loop);
  b_span.answered = now_ms(&loop);
  ASSERT_EQ(2, b1.live);

  /* A keeps calling, B goes silent: after the session timeout only A (and
   * the caller) count. */
  kn_conf_wait_ms(&loop, step);
  a_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_member(cp, "A", 0, &a2));
  kn_conf_settle(&loop);
  a_span.answered = now_ms(&loop);
  ASSERT_EQ(1, a2.calls);
  expect_live(1, live_at(&b_span, &a_span, timeout), a2.live);
  kn_conf_wait_ms(&loop, step);
  c_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_member(cp, "C", 0, &c1));
  kn_conf_settle(&loop);
  c_span.answered = now_ms(&loop);
  ASSERT_ANSWERED(c1, 0);
  ASSERT_EQ(0, live_at(&b_span, &c_span, timeout));
  expect_live(1, live_at(&a_span, &c_span, timeout), c1.live);

  /* B comes back: it is counted again. */
  b2_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_member(cp, "B", 0, &b2));
  kn_conf_settle(&loop);
  b2_span.answered = now_ms(&loop);
  ASSERT_EQ(1, b2.calls);
  expect_live(2, live_at(&a_span, &b2_span, timeout), b2.live);
  ASSERT_LE(b2.live, c1.live + 1);

  kn_conf_close_all(&loop, cp);
}


/* ---- Close ---- */


static void test_close_with_pending(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0}, g = {0}, refused_s = {0};
  kn_conf_plain_t ck = {0}, refused = {0};
  kn_conf_members_t mem = {0}, refused_m = {0};
  int closed = 0, closed_again = 0, has_member;
  int cancels = (g_store->promises & KN_CONF_CANCELS_AT_CLOSE) != 0;

  cp = open_case(&loop, 0);
  has_member = cp->ops->member != NULL;
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "11", 0, 0, &ck));
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  if (has_member)
    ASSERT_OK(kn_conf_member(cp, "A", 0, &mem));
  ASSERT_OK(kinesis_checkpointer_close(cp, on_closed, &closed));
  /* Issue 17: the second close said nothing, so its caller could wait for a
   * callback that never comes. The close op returns KINESIS_EALREADY, and
   * the second callback never runs. */
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_checkpointer_close(cp, on_closed, &closed_again));
  ASSERT_EQ(0, closed);
  ASSERT_EQ(0, c.calls + ck.calls + g.calls + mem.calls);
  /* Every operation is refused once close has started. */
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_claim(cp, "s", "A", &refused_s));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_heartbeat(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING,
            kn_conf_checkpoint(cp, "s", "A", "12", 0, 0, &refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_finish(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_release(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_get(cp, "s", &refused_s));
  if (has_member) {
    ASSERT_EQ(KINESIS_ECLOSING, kn_conf_member(cp, "A", 0, &refused_m));
    ASSERT_EQ(KINESIS_ECLOSING, kn_conf_member(cp, "A", 1, &refused_m));
  }
  run_until(&loop, &closed, 1);

  /* Every pending operation was answered exactly once, before the close
   * callback: with its real result where the store had decided it, else
   * cancelled. */
  ASSERT_EQ(1, c.calls);
  ASSERT_EQ(1, ck.calls);
  ASSERT_EQ(1, g.calls);
  if (cancels) {
    /* The connection had not answered yet. */
    ASSERT_EQ(KINESIS_ECANCELED, c.status);
    ASSERT_EQ(KINESIS_ECANCELED, ck.status);
    ASSERT_EQ(KINESIS_ECANCELED, g.status);
    ASSERT(!g.has_seq);
  } else {
    ASSERT_OK(c.status);
    ASSERT_OK(ck.status);
    ASSERT_OK(g.status);
    ASSERT_STR_EQ("11", g.seq);
  }
  /* `cp` is freed now. */
  if (has_member) {
    ASSERT_EQ(1, mem.calls);
    ASSERT_EQ(cancels ? KINESIS_ECANCELED : 0, mem.status);
    ASSERT_EQ(cancels ? 0 : 1, mem.live);
  }
  ASSERT_EQ(0, refused.calls + refused_s.calls + refused_m.calls);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, closed_again);
  ASSERT_EQ(g_issued, g_answered);
  kn_test_loop_close(&loop);
}


typedef struct {
  kinesis_checkpointer_t* cp;
  kn_conf_state_t claim_res;
  kn_conf_state_t get_before;    /* get called by the test before the run */
  kn_conf_plain_t queued_before; /* called from the callback, then close */
  kn_conf_plain_t refused;
  int closed;
  int closed_order;
  int eclosing_seen;
} close_ctx_t;


static void on_ctx_closed(void* data, int status, void* arg) {
  close_ctx_t* x = arg;
  kinesis_checkpoint_t pos;
  ASSERT(!g_in_call);
  closed_ok(data, status);
  x->closed++;
  x->closed_order = ++g_order;
  /* Everything was answered first. */
  ASSERT_EQ(1, x->claim_res.calls);
  ASSERT_EQ(1, x->queued_before.calls);
  ASSERT_EQ(1, x->get_before.calls);
  /* The object is still valid here, and refuses work. */
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = "1";
  ASSERT_EQ(KINESIS_ECLOSING, x->cp->ops->get(x->cp->self, STREAM, "s",
                                              kn_conf_on_state, &x->claim_res));
  ASSERT_EQ(KINESIS_ECLOSING,
            x->cp->ops->checkpoint(x->cp->self, STREAM, "s", "A", &pos,
                                   kn_conf_on_plain, &x->refused));
  /* A second close is refused, even from the close's callback. */
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_checkpointer_close(x->cp, on_closed, &x->eclosing_seen));
}


static void on_claim_then_close(int status, const kinesis_checkpoint_t* ck,
                                void* arg) {
  close_ctx_t* x = arg;
  kinesis_checkpointer_t* cp = x->cp;
  kn_conf_on_state(status, ck, &x->claim_res);
  ASSERT_OK(status);
  /* Called before close: answered before the close callback. */
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &x->queued_before));
  kinesis_checkpointer_close(cp, on_ctx_closed, x);
  ASSERT_EQ(0, x->closed);
  /* The checkpoint struct is still ours during the callback. */
  ASSERT_EQ(0, ck->finished);
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_claim(cp, "s", "A", &x->claim_res));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_heartbeat(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING,
            kn_conf_checkpoint(cp, "s", "A", "9", 0, 0, &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_finish(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_release(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_get(cp, "s", &x->get_before));
  /* Invalid arguments are still invalid. */
  ASSERT_EQ(KINESIS_EINVAL,
            cp->ops->get(cp->self, STREAM, "s", NULL, &x->get_before));
  /* Closing again is refused; its callback never runs. */
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_checkpointer_close(cp, on_closed, &x->eclosing_seen));
}


static void test_close_from_callback(void) {
  uv_loop_t loop;
  close_ctx_t x;
  int cancels = (g_store->promises & KN_CONF_CANCELS_AT_CLOSE) != 0;
  int before, r;

  memset(&x, 0, sizeof(x));
  x.cp = open_case(&loop, 0);
  before = enter(x.claim_res.calls);
  r = x.cp->ops->claim(x.cp->self, STREAM, "s", "A", on_claim_then_close, &x);
  ASSERT_OK(leave(r, before, x.claim_res.calls));
  /* Pipelined behind the claim: the Redis store reads its reply with the
   * claim's, so it is answered, with its real result, before the claim's
   * callback closes the checkpointer (or cancelled, if it was not read). */
  ASSERT_OK(kn_conf_get(x.cp, "s", &x.get_before));
  run_until(&loop, &x.closed, 1);

  ASSERT_EQ(1, x.claim_res.calls);
  ASSERT_EQ(1, x.get_before.calls);
  ASSERT_EQ(1, x.queued_before.calls);
  if (cancels) {
    ASSERT(x.get_before.status == 0 ||
           x.get_before.status == KINESIS_ECANCELED);
    /* Sent, but its answer cannot arrive before the close. */
    ASSERT_EQ(KINESIS_ECANCELED, x.queued_before.status);
  } else {
    /* Decided when called: delivered with the real result. */
    ASSERT_OK(x.get_before.status);
    ASSERT_OK(x.queued_before.status);
  }
  ASSERT_EQ(0, x.refused.calls);
  ASSERT_EQ(1, x.closed);
  ASSERT_EQ(0, x.eclosing_seen);
  ASSERT_LT(x.claim_res.order, x.get_before.order);
  ASSERT_LT(x.get_before.order, x.queued_before.order);
  ASSERT_LT(x.queued_before.order, x.closed_order);
  ASSERT_EQ(g_issued, g_answered);
  kn_test_loop_close(&loop);
}


/* ---- Re-entrancy ---- */


typedef struct {
  kinesis_checkpointer_t* cp;
  kn_conf_plain_t ck;
  int state_calls;
  int chain_left;
  int chain_calls;
} reenter_ctx_t;


/* Inside get's callback, overwrite the checkpoint the callback is looking
 * at: the struct it was given must not change. */
static void on_get_overwrite(int status, const kinesis_checkpoint_t* ck,
                             void* arg) {
  reenter_ctx_t* x = arg;
  ASSERT(!g_in_call);
  ASSERT_OK(status);
  g_answered++;
  x->state_calls++;
  ASSERT_STR_EQ("100", ck->sequence_number);
  ASSERT_OK(kn_conf_checkpoint(x->cp, "s", "A", "200", 9, 1, &x->ck));
  ASSERT_OK(kn_conf_finish(x->cp, "s", "A", &x->ck));
  ASSERT_STR_EQ("100", ck->sequence_number);
  ASSERT_EQ(0, ck->sub_sequence_number);
  ASSERT_EQ(0, ck->partial);
  ASSERT_EQ(0, ck->finished);
}


/* Each callback issues the next operation, which must wait for a later
 * tick. */
static void on_chain(int status, void* arg) {
  reenter_ctx_t* x = arg;
  int before, r;
  ASSERT(!g_in_call);
  ASSERT_OK(status);
  g_answered++;
  x->chain_calls++;
  if (x->chain_left-- > 0) {
    before = enter(x->chain_calls);
    r = x->cp->ops->heartbeat(x->cp->self, STREAM, "chain", "A", on_chain, x);
    ASSERT_OK(leave(r, before, x->chain_calls));
  }
}


static void test_reentrancy(void) {
  uv_loop_t loop;
  reenter_ctx_t x;
  kn_conf_state_t a = {0}, after = {0}, chain_claim = {0};
  kn_conf_plain_t ck = {0};
  int before, r;

  memset(&x, 0, sizeof(x));
  x.cp = open_case(&loop, 0);
  ASSERT_OK(kn_conf_claim(x.cp, "s", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(x.cp, "s", "A", "100", 0, 0, &ck));
  before = enter(x.state_calls);
  r = x.cp->ops->get(x.cp->self, STREAM, "s", on_get_overwrite, &x);
  ASSERT_OK(leave(r, before, x.state_calls));
  ASSERT_OK(kn_conf_claim(x.cp, "chain", "A", &chain_claim));
  x.chain_left = 50;
  before = enter(x.chain_calls);
  r = x.cp->ops->heartbeat(x.cp->self, STREAM, "chain", "A", on_chain, &x);
  ASSERT_OK(leave(r, before, x.chain_calls));
  kn_conf_settle(&loop);
  ASSERT_EQ(1, x.state_calls);
  ASSERT_EQ(2, x.ck.calls);
  ASSERT_OK(x.ck.status);
  ASSERT_OK(chain_claim.status);
  ASSERT_EQ(51, x.chain_calls);

  ASSERT_OK(kn_conf_get(x.cp, "s", &after));
  kn_conf_settle(&loop);
  if (KEEPS_FINISHED_POSITION) {
    ASSERT_STR_EQ("200", after.seq);
    ASSERT_EQ(9, after.sub);
    ASSERT_EQ(1, after.partial);
  } else {
    ASSERT(!after.has_seq);
  }
  ASSERT_EQ(1, after.finished);
  kn_conf_close_all(&loop, x.cp);
}


/* Many shards (the memory store's map grows), each callback counted exactly
 * once. */
static void test_many_shards(void) {
  enum { N = 300 };
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  static kn_conf_state_t claims[N], gets[N], others[N];
  static kn_conf_plain_t cks[N];
  kn_conf_state_t other_stream = {0};
  char shard[32], seq[32];
  int i;

  memset(claims, 0, sizeof(claims));
  memset(gets, 0, sizeof(gets));
  memset(others, 0, sizeof(others));
  memset(cks, 0, sizeof(cks));
  cp = open_case(&loop, 0);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    snprintf(seq, sizeof(seq), "%d", 1000 + i);
    ASSERT_OK(kn_conf_claim(cp, shard, i % 2 ? "odd" : "even", &claims[i]));
    ASSERT_OK(kn_conf_checkpoint(cp, shard, i % 2 ? "odd" : "even", seq, 0, 0,
                                 &cks[i]));
  }
  /* The same shard ids in another stream are other entries. */
  if (MANY_STREAMS)
    ASSERT_OK(kn_conf_claim_on(cp, "other", "shardId-000000000001", "x",
                               &other_stream));
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_OK(kn_conf_get(cp, shard, &gets[i]));
    ASSERT_OK(kn_conf_claim(cp, shard, "third", &others[i]));
  }
  kn_conf_settle(&loop);
  for (i = 0; i < N; i++) {
    snprintf(seq, sizeof(seq), "%d", 1000 + i);
    ASSERT_ANSWERED(claims[i], 0);
    ASSERT_ANSWERED(cks[i], 0);
    ASSERT_EQ(1, gets[i].calls);
    ASSERT_STR_EQ(seq, gets[i].seq);
    ASSERT_ANSWERED(others[i], KINESIS_ELEASED);
    ASSERT_STR_EQ(seq, others[i].seq);
  }
  if (MANY_STREAMS) {
    ASSERT_ANSWERED(other_stream, 0);
    ASSERT(!other_stream.has_seq);
  }
  kn_conf_close_all(&loop, cp);
}


/* ---- Leases (the optional op; these cases run when the store has it) ---- */


/* Every state a shard can be in, as leases reports it; repeated ids are
 * answered in place; leases changes nothing. */
static void test_leases_states(void) {
  static const char* const ids[] = {"held", "never",     "released", "done",
                                    "held", "elsewhere", "never"};
  static const char* const never[] = {"never", "elsewhere"};
  static const char* const elsewhere[] = {"elsewhere"};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c[4], g_before = {0}, c_after = {0}, g_rel = {0};
  kn_conf_state_t g_never = {0};
  kn_conf_plain_t p[5];
  kn_conf_leases_t l = {0}, l_again = {0}, l_other = {0};

  memset(c, 0, sizeof(c));
  memset(p, 0, sizeof(p));
  /* Long enough that no lease lapses during the case. */
  cp = open_case(&loop, 60000);
  ASSERT_OK(kn_conf_claim(cp, "held", "A", &c[0]));
  ASSERT_OK(kn_conf_checkpoint(cp, "held", "A", "10", 0, 0, &p[0]));
  ASSERT_OK(kn_conf_claim(cp, "released", "A", &c[1]));
  ASSERT_OK(kn_conf_checkpoint(cp, "released", "A", "20", 0, 0, &p[1]));
  ASSERT_OK(kn_conf_release(cp, "released", "A", &p[2]));
  ASSERT_OK(kn_conf_claim(cp, "done", "B", &c[2]));
  ASSERT_OK(kn_conf_checkpoint(cp, "done", "B", "30", 0, 0, &p[3]));
  ASSERT_OK(kn_conf_finish(cp, "done", "B", &p[4]));
  /* Another stream's shard is another record. */
  if (MANY_STREAMS)
    ASSERT_OK(kn_conf_claim_on(cp, "other", "elsewhere", "A", &c[3]));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c[0], 0);
  ASSERT_ANSWERED(c[1], 0);
  ASSERT_ANSWERED(c[2], 0);
  if (MANY_STREAMS)
    ASSERT_ANSWERED(c[3], 0);
  ASSERT_ANSWERED(p[2], 0);
  ASSERT_ANSWERED(p[4], 0);

  /* Answered in the order of the calls, like every operation. */
  ASSERT_OK(kn_conf_get(cp, "held", &g_before));
  ASSERT_OK(kn_conf_leases(cp, ids, N_ELEMS(ids), &l));
  ASSERT_OK(kn_conf_claim(cp, "held", "B", &c_after));
  kn_conf_settle(&loop);
  ASSERT_EQ(1, l.calls);
  ASSERT_EQ(N_ELEMS(ids), l.n);
  kn_conf_expect_lease(&l, 0, "A", 0, 1);
  kn_conf_expect_lease(&l, 1, NULL, 0, 0);
  kn_conf_expect_lease(&l, 2, NULL, 0, 1);
  kn_conf_expect_lease(&l, 3, NULL, 1, 1);
  kn_conf_expect_lease(&l, 4, "A", 0, 1);
  kn_conf_expect_lease(&l, 5, NULL, 0, 0);
  kn_conf_expect_lease(&l, 6, NULL, 0, 0);
  ASSERT_LT(g_before.order, l.order);
  ASSERT_LT(l.order, c_after.order);
  /* It took nothing and wrote nothing: A still holds its shard, the
   * released one kept its checkpoint, and the shards it asked about that
   * nobody had seen are still unknown. */
  ASSERT_ANSWERED(c_after, KINESIS_ELEASED);
  ASSERT_OK(kn_conf_get(cp, "released", &g_rel));
  ASSERT_OK(kn_conf_get(cp, "never", &g_never));
  ASSERT_OK(kn_conf_leases(cp, never, N_ELEMS(never), &l_again));
  if (MANY_STREAMS)
    ASSERT_OK(kn_conf_leases_on(cp, "other", elsewhere, 1, &l_other));
  kn_conf_settle(&loop);
  ASSERT_STR_EQ("20", g_rel.seq);
  ASSERT(!g_never.has_seq);
  kn_conf_expect_lease(&l_again, 0, NULL, 0, 0);
  kn_conf_expect_lease(&l_again, 1, NULL, 0, 0);
  if (MANY_STREAMS)
    kn_conf_expect_lease(&l_other, 0, "A", 0, 1);

  kn_conf_leases_free(&l);
  kn_conf_leases_free(&l_again);
  kn_conf_leases_free(&l_other);
  kn_conf_close_all(&loop, cp);
}


/* A lease reported by leases lapses like one claim would take over: after
 * the session timeout without a heartbeat. */
static void test_leases_expiry(void) {
  static const char* const ids[] = {"s"};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b = {0};
  kn_conf_leases_t l1 = {0}, l2 = {0}, l3 = {0};
  span_t a_span, l1_span, l2_span;
  uint32_t timeout;
  int live;

  cp = open_case(&loop, g_store->short_timeout_ms);
  timeout = cp->session_timeout_ms;
  ASSERT_GT(timeout, 0);

  a_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  kn_conf_settle(&loop);
  a_span.answered = now_ms(&loop);
  ASSERT_ANSWERED(a, 0);
  l1_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_leases(cp, ids, 1, &l1));
  kn_conf_settle(&loop);
  l1_span.answered = now_ms(&loop);
  live = live_at(&a_span, &l1_span, timeout);
  ASSERT_EQ(1, l1.calls);
  if (live == 1)
    kn_conf_expect_lease(&l1, 0, "A", 0, 1);
  else if (live == 0)
    kn_conf_expect_lease(&l1, 0, NULL, 0, 1);
  else
    ASSERT_EQ(1, l1.leases[0].known);

  /* A goes silent: its lease lapses, and the store still knows the
   * shard. */
  kn_conf_wait_ms(&loop, timeout + timeout / 2);
  l2_span.called = now_ms(&loop);
  ASSERT_OK(kn_conf_leases(cp, ids, 1, &l2));
  kn_conf_settle(&loop);
  l2_span.answered = now_ms(&loop);
  ASSERT_EQ(0, live_at(&a_span, &l2_span, timeout));
  ASSERT_EQ(1, l2.calls);
  kn_conf_expect_lease(&l2, 0, NULL, 0, 1);

  /* B takes it over, and leases says so. */
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b));
  ASSERT_OK(kn_conf_leases(cp, ids, 1, &l3));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(b, 0);
  ASSERT_EQ(1, l3.calls);
  kn_conf_expect_lease(&l3, 0, "B", 0, 1);

  kn_conf_leases_free(&l1);
  kn_conf_leases_free(&l2);
  kn_conf_leases_free(&l3);
  kn_conf_close_all(&loop, cp);
}


/* No ids is a question like any other; bad arguments are refused at once,
 * and never answered. */
static void test_leases_empty_and_invalid(void) {
  static const char* const one[] = {"s"};
  static const char* const with_null[] = {"s", NULL, "t"};
  static const char* const with_empty[] = {"s", "t", ""};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  const kinesis_checkpointer_ops_t* ops;
  kn_conf_leases_t none = {0}, none_null = {0}, bad = {0};
  kinesis_ckpt_leases_cb on_leases = kn_conf_on_leases;
  void* self;

  cp = open_case(&loop, 0);
  ops = cp->ops;
  self = cp->self;

  ASSERT_OK(kn_conf_leases(cp, one, 0, &none));
  ASSERT_OK(kn_conf_leases(cp, NULL, 0, &none_null));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(none, 0);
  ASSERT_EQ(0, none.n);
  ASSERT_ANSWERED(none_null, 0);
  ASSERT_EQ(0, none_null.n);

  ASSERT_EQ(KINESIS_EINVAL, ops->leases(NULL, STREAM, one, 1, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL, ops->leases(self, NULL, one, 1, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL, ops->leases(self, "", one, 1, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL, ops->leases(self, STREAM, one, 1, NULL, &bad));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->leases(self, STREAM, NULL, 2, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->leases(self, STREAM, with_null, 3, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->leases(self, STREAM, with_empty, 3, on_leases, &bad));
  ASSERT_EQ(KINESIS_EINVAL,
            ops->leases(self, STREAM, with_null, 2, on_leases, &bad));
  ASSERT_EQ(0, bad.calls);
  /* Ids beyond n are not read. */
  ASSERT_OK(kn_conf_leases(cp, with_null, 1, &bad));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(bad, 0);
  kn_conf_expect_lease(&bad, 0, NULL, 0, 0);

  kn_conf_leases_free(&none);
  kn_conf_leases_free(&none_null);
  kn_conf_leases_free(&bad);
  kn_conf_close_all(&loop, cp);
}


typedef struct {
  kn_conf_leases_t* pending;
  int closed;
  int closed_order;
} leases_close_ctx_t;


static void on_leases_ctx_closed(void* data, int status, void* arg) {
  leases_close_ctx_t* x = arg;
  ASSERT(!g_in_call);
  closed_ok(data, status);
  /* The pending call was answered first. */
  ASSERT_EQ(1, x->pending->calls);
  x->closed++;
  x->closed_order = ++g_order;
}


/* A leases call pending at close is answered exactly once, before the
 * close callback: with its real answer where the store had decided it,
 * else cancelled. Once closing, leases is refused. */
static void test_leases_close(void) {
  static const char* const ids[] = {"s", "t"};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0};
  kn_conf_leases_t l = {0}, refused = {0};
  leases_close_ctx_t x;
  int cancels = (g_store->promises & KN_CONF_CANCELS_AT_CLOSE) != 0;

  memset(&x, 0, sizeof(x));
  x.pending = &l;
  cp = open_case(&loop, 0);
  /* Settled first, so that a store behind a connection has it up: the
   * leases call is then on its way when the close comes. */
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c, 0);

  ASSERT_OK(kn_conf_leases(cp, ids, 2, &l));
  kinesis_checkpointer_close(cp, on_leases_ctx_closed, &x);
  ASSERT_EQ(0, l.calls);
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_leases(cp, ids, 2, &refused));
  ASSERT_EQ(KINESIS_ECLOSING, kn_conf_leases(cp, NULL, 0, &refused));
  /* Invalid arguments are still invalid. */
  ASSERT_EQ(KINESIS_EINVAL,
            cp->ops->leases(cp->self, STREAM, ids, 2, NULL, &refused));
  run_until(&loop, &x.closed, 1);

  ASSERT_EQ(1, l.calls);
  if (cancels) {
    ASSERT_EQ(KINESIS_ECANCELED, l.status);
    ASSERT_EQ(0, l.n);
  } else {
    ASSERT_EQ(2, l.n);
    kn_conf_expect_lease(&l, 0, "A", 0, 1);
    kn_conf_expect_lease(&l, 1, NULL, 0, 0);
  }
  ASSERT_LT(l.order, x.closed_order);
  ASSERT_EQ(0, refused.calls);
  ASSERT_EQ(1, x.closed);
  ASSERT_EQ(g_issued, g_answered);
  kn_conf_leases_free(&l);
  kn_test_loop_close(&loop);
}


/* ---- Running ---- */


static const kn_test_t suite[] = {
    KN_TEST(test_round_trip),
    KN_TEST(test_lease_expiry),
    KN_TEST(test_heartbeat_keeps_lease),
    KN_TEST(test_partial_aggregate),
    KN_TEST(test_finish_then_claim),
    KN_TEST(test_release_then_claim),
    KN_TEST(test_never_synchronous),
    KN_TEST(test_invalid_arguments),
    KN_TEST(test_members),
    KN_TEST(test_members_expire),
    KN_TEST(test_close_with_pending),
    KN_TEST(test_close_from_callback),
    KN_TEST(test_reentrancy),
    KN_TEST(test_many_shards),
};


/* The cases of the optional leases op, run only against a store that has
 * it. */
static const kn_test_t leases_suite[] = {
    KN_TEST(test_leases_states),
    KN_TEST(test_leases_expiry),
    KN_TEST(test_leases_empty_and_invalid),
    KN_TEST(test_leases_close),
};


/* Whether the store's ops table has leases: a checkpointer made and closed
 * for the question. */
static int store_has_leases(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp = open_case(&loop, 0);
  int has = cp->ops->leases != NULL;
  kn_conf_close(&loop, cp);
  kn_test_loop_close(&loop);
  return has;
}


int kn_conf_main(int argc, char** argv, const kn_conf_store_t* store,
                 const kn_test_t* own, size_t nown) {
  size_t nsuite = N_ELEMS(suite);
  size_t nleases = N_ELEMS(leases_suite);
  kn_test_t* all;
  size_t i;
  int r;

  ASSERT_NOT_NULL(store->make);
  ASSERT_NOT_NULL(store->run_until);
  g_store = store;
  if (!store_has_leases()) {
    /* Not silently: each case that is not run says so. */
    for (i = 0; i < nleases; i++)
      fprintf(stderr, "note: the store has no leases operation: %s not run\n",
              leases_suite[i].name);
    nleases = 0;
  }
  all = malloc((nsuite + nleases + nown) * sizeof(*all));
  ASSERT_NOT_NULL(all);
  memcpy(all, suite, sizeof(suite));
  if (nleases > 0)
    memcpy(all + nsuite, leases_suite, sizeof(leases_suite));
  if (nown > 0)
    memcpy(all + nsuite + nleases, own, nown * sizeof(*own));
  r = kn_test_main(argc, argv, all, nsuite + nleases + nown);
  free(all);
  return r;
}
