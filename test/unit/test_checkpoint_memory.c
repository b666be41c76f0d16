#include "harness.h"

#include "internal.h"
#include "kinesis/checkpoint.h"


#define STREAM "orders"
#define SEQ_A "49590338271490256608559692538361571095921575989136588898"
#define SEQ_B "49590338271490256608559692540925702759324208523137515618"


/* Set around every call into the checkpointer: a callback that finds it set
 * ran synchronously. */
static int g_in_call;
/* Numbers callbacks in the order they ran, to check FIFO delivery. */
static int g_order;


typedef struct {
  int calls;
  int status;
  int order;
  int has_seq;
  char seq[160];
  uint32_t sub;
  int partial;
  int finished;
} state_res_t;

typedef struct {
  int calls;
  int status;
  int order;
} plain_res_t;

typedef struct {
  int calls;
  int status;
  int order;
  uint32_t live;
} members_res_t;


static void on_state(int status, const kinesis_checkpoint_t* ck, void* arg) {
  state_res_t* r = arg;
  ASSERT(!g_in_call);
  ASSERT_NOT_NULL(ck);
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


static void on_plain(int status, void* arg) {
  plain_res_t* r = arg;
  ASSERT(!g_in_call);
  r->calls++;
  r->status = status;
  r->order = ++g_order;
}


static void on_members(int status, uint32_t live, void* arg) {
  members_res_t* r = arg;
  ASSERT(!g_in_call);
  r->calls++;
  r->status = status;
  r->order = ++g_order;
  r->live = live;
}


/* Wrappers that mark the call and check that no callback ran inside it. */

static int claim(kinesis_checkpointer_t* cp, const char* shard,
                 const char* owner, state_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->claim(cp->self, STREAM, shard, owner, on_state, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int get(kinesis_checkpointer_t* cp, const char* shard,
               state_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->get(cp->self, STREAM, shard, on_state, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int heartbeat(kinesis_checkpointer_t* cp, const char* shard,
                     const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->heartbeat(cp->self, STREAM, shard, owner, on_plain, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int checkpoint(kinesis_checkpointer_t* cp, const char* shard,
                      const char* owner, const char* seq, uint32_t sub,
                      int partial, plain_res_t* res) {
  kinesis_checkpoint_t pos;
  int before = res->calls;
  int r;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = seq;
  pos.sub_sequence_number = sub;
  pos.partial = partial;
  g_in_call = 1;
  r = cp->ops->checkpoint(cp->self, STREAM, shard, owner, &pos, on_plain, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int finish(kinesis_checkpointer_t* cp, const char* shard,
                  const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->finish(cp->self, STREAM, shard, owner, on_plain, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int release(kinesis_checkpointer_t* cp, const char* shard,
                   const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->release(cp->self, STREAM, shard, owner, on_plain, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int member_on(kinesis_checkpointer_t* cp, const char* stream,
                     const char* owner, int leaving, members_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->member(cp->self, stream, owner, leaving, on_members, res);
  g_in_call = 0;
  ASSERT_EQ(before, res->calls);
  return r;
}


static int member(kinesis_checkpointer_t* cp, const char* owner, int leaving,
                  members_res_t* res) {
  return member_on(cp, STREAM, owner, leaving, res);
}


static void on_closed(void* arg) {
  int* n = arg;
  ASSERT(!g_in_call);
  (*n)++;
}


static kinesis_checkpointer_t* make(uv_loop_t* loop, uint32_t timeout_ms) {
  kinesis_checkpointer_memory_options_t o;
  kinesis_checkpointer_t* cp = NULL;
  kinesis_checkpointer_memory_options_init(&o);
  if (timeout_ms > 0)
    o.session_timeout_ms = timeout_ms;
  ASSERT_OK(kinesis_checkpointer_memory_new(loop, &o, &cp));
  ASSERT_NOT_NULL(cp);
  ASSERT_NOT_NULL(cp->ops);
  return cp;
}


/* Closes `cp`, checks the close callback runs once and later, and closes
 * the loop. */
static void close_all(uv_loop_t* loop, kinesis_checkpointer_t* cp) {
  int closed = 0;
  g_in_call = 1;
  kinesis_checkpointer_close(cp, on_closed, &closed);
  g_in_call = 0;
  ASSERT_EQ(0, closed);
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  kn_test_loop_close(loop);
}


static void on_wait_timer(uv_timer_t* t) {
  uv_close((uv_handle_t*) t, NULL);
}


/* Runs the loop for at least `ms` milliseconds of loop time. */
static void wait_ms(uv_loop_t* loop, uint64_t ms) {
  uv_timer_t t;
  uint64_t start = uv_now(loop);
  ASSERT_OK(uv_timer_init(loop, &t));
  ASSERT_OK(uv_timer_start(&t, on_wait_timer, ms, 0));
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_GE(uv_now(loop) - start, ms);
}


/* ---- Tests ---- */


static void test_options_and_new(void) {
  kinesis_checkpointer_memory_options_t o;
  kinesis_checkpointer_t* cp = (kinesis_checkpointer_t*) &o;
  kinesis_checkpointer_t* sentinel = cp;
  uv_loop_t loop;

  memset(&o, 0xff, sizeof(o));
  kinesis_checkpointer_memory_options_init(&o);
  ASSERT_EQ(10000, o.session_timeout_ms);

  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(NULL, &o, &cp));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(&loop, &o, NULL));
  o.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(&loop, &o, &cp));
  ASSERT(cp == sentinel);
  /* NULL options mean the defaults. */
  ASSERT_OK(kinesis_checkpointer_memory_new(&loop, NULL, &cp));
  ASSERT(cp != sentinel);
  ASSERT(cp->self != NULL);
  close_all(&loop, cp);
}


static void test_round_trip(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c1 = {0}, c2 = {0}, g1 = {0}, g2 = {0};
  plain_res_t hb = {0}, ck = {0};
  char seq[] = SEQ_A;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);

  /* A shard nobody has seen: claimed at once, no checkpoint. */
  ASSERT_OK(get(cp, "shardId-000", &g1));
  ASSERT_OK(claim(cp, "shardId-000", "A", &c1));
  ASSERT_OK(heartbeat(cp, "shardId-000", "A", &hb));
  ASSERT_OK(checkpoint(cp, "shardId-000", "A", seq, 0, 0, &ck));
  /* The sequence number was copied: scribbling on ours changes nothing. */
  memset(seq, '9', sizeof(seq) - 1);
  ASSERT_OK(get(cp, "shardId-000", &g2));
  /* Claiming a lease one already holds succeeds. */
  ASSERT_OK(claim(cp, "shardId-000", "A", &c2));
  ASSERT_EQ(0, c1.calls + hb.calls + ck.calls + g1.calls + g2.calls);
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, g1.calls);
  ASSERT_OK(g1.status);
  ASSERT(!g1.has_seq);
  ASSERT_EQ(0, g1.finished);
  ASSERT_EQ(1, c1.calls);
  ASSERT_OK(c1.status);
  ASSERT(!c1.has_seq);
  ASSERT_EQ(0, c1.sub);
  ASSERT_EQ(0, c1.partial);
  ASSERT_EQ(0, c1.finished);
  ASSERT_EQ(1, hb.calls);
  ASSERT_OK(hb.status);
  ASSERT_EQ(1, ck.calls);
  ASSERT_OK(ck.status);
  ASSERT_EQ(1, g2.calls);
  ASSERT_OK(g2.status);
  ASSERT_STR_EQ(SEQ_A, g2.seq);
  ASSERT_EQ(0, g2.partial);
  ASSERT_EQ(1, c2.calls);
  ASSERT_OK(c2.status);
  ASSERT_STR_EQ(SEQ_A, c2.seq);
  /* Delivered in the order they were called. */
  ASSERT_LT(g1.order, c1.order);
  ASSERT_LT(c1.order, hb.order);
  ASSERT_LT(hb.order, ck.order);
  ASSERT_LT(ck.order, g2.order);
  ASSERT_LT(g2.order, c2.order);

  close_all(&loop, cp);
}


static void test_lease_expiry(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, b1 = {0}, b2 = {0}, g1 = {0}, g2 = {0};
  plain_res_t ack = {0}, ahb = {0}, ack2 = {0}, arel = {0}, afin = {0};
  plain_res_t bck = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 50);

  ASSERT_OK(claim(cp, "s", "A", &a));
  ASSERT_OK(checkpoint(cp, "s", "A", "100", 0, 0, &ack));
  /* The lease is live: B is refused but learns the position. */
  ASSERT_OK(claim(cp, "s", "B", &b1));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, a.calls);
  ASSERT_OK(a.status);
  ASSERT_EQ(1, ack.calls);
  ASSERT_OK(ack.status);
  ASSERT_EQ(1, b1.calls);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  ASSERT_STR_EQ("100", b1.seq);
  ASSERT_EQ(0, b1.finished);

  /* A stops heartbeating; after the session timeout B takes over. */
  wait_ms(&loop, 80);
  ASSERT_OK(claim(cp, "s", "B", &b2));
  /* A is fenced off: nothing it does lands. */
  ASSERT_OK(heartbeat(cp, "s", "A", &ahb));
  ASSERT_OK(checkpoint(cp, "s", "A", "200", 0, 0, &ack2));
  ASSERT_OK(get(cp, "s", &g1));
  ASSERT_OK(release(cp, "s", "A", &arel));
  ASSERT_OK(finish(cp, "s", "A", &afin));
  ASSERT_OK(checkpoint(cp, "s", "B", "300", 0, 0, &bck));
  ASSERT_OK(get(cp, "s", &g2));
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, b2.calls);
  ASSERT_OK(b2.status);
  ASSERT_STR_EQ("100", b2.seq);
  ASSERT_EQ(1, ahb.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, ahb.status);
  ASSERT_EQ(1, ack2.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, ack2.status);
  ASSERT_EQ(1, g1.calls);
  ASSERT_STR_EQ("100", g1.seq);
  ASSERT_EQ(1, arel.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, arel.status);
  ASSERT_EQ(1, afin.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, afin.status);
  ASSERT_EQ(1, bck.calls);
  ASSERT_OK(bck.status);
  ASSERT_EQ(1, g2.calls);
  ASSERT_STR_EQ("300", g2.seq);
  /* A's failed finish did not mark the shard. */
  ASSERT_EQ(0, g2.finished);

  close_all(&loop, cp);
}


static void test_heartbeat_keeps_lease(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, b1 = {0};
  plain_res_t hb = {0};
  uint64_t claimed, beat;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 300);

  ASSERT_OK(claim(cp, "s", "A", &a));
  claimed = uv_now(&loop);
  wait_ms(&loop, 200);
  ASSERT_OK(heartbeat(cp, "s", "A", &hb));
  beat = uv_now(&loop);
  wait_ms(&loop, 200);
  /* More than the timeout since the claim, less since the heartbeat. */
  ASSERT_GT(uv_now(&loop) - claimed, 300);
  ASSERT_OK(claim(cp, "s", "B", &b1));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, hb.calls);
  ASSERT_OK(hb.status);
  ASSERT_EQ(1, b1.calls);
  /* The store uses the loop's clock, as this test does, so the expected
   * answer follows from the times the test saw even on a slow machine. */
  if (uv_now(&loop) - beat <= 300)
    ASSERT_EQ(KINESIS_ELEASED, b1.status);
  else
    ASSERT_OK(b1.status);

  close_all(&loop, cp);
}


static void test_partial_aggregate(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, g1 = {0}, g2 = {0}, c2 = {0};
  plain_res_t ck1 = {0}, ck2 = {0}, rel = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);

  ASSERT_OK(claim(cp, "s", "A", &a));
  /* User records 0..3 of the aggregate SEQ_A are done. */
  ASSERT_OK(checkpoint(cp, "s", "A", SEQ_A, 3, 1, &ck1));
  ASSERT_OK(get(cp, "s", &g1));
  ASSERT_OK(release(cp, "s", "A", &rel));
  /* Whoever takes over resumes inside the aggregate. */
  ASSERT_OK(claim(cp, "s", "B", &c2));
  ASSERT_OK(checkpoint(cp, "s", "B", SEQ_B, 0, 0, &ck2));
  ASSERT_OK(get(cp, "s", &g2));
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, ck1.calls);
  ASSERT_OK(ck1.status);
  ASSERT_EQ(1, g1.calls);
  ASSERT_STR_EQ(SEQ_A, g1.seq);
  ASSERT_EQ(3, g1.sub);
  ASSERT_EQ(1, g1.partial);
  ASSERT_EQ(0, g1.finished);
  ASSERT_EQ(1, rel.calls);
  ASSERT_OK(rel.status);
  ASSERT_EQ(1, c2.calls);
  ASSERT_OK(c2.status);
  ASSERT_STR_EQ(SEQ_A, c2.seq);
  ASSERT_EQ(3, c2.sub);
  ASSERT_EQ(1, c2.partial);
  ASSERT_EQ(1, ck2.calls);
  ASSERT_OK(ck2.status);
  ASSERT_EQ(1, g2.calls);
  ASSERT_STR_EQ(SEQ_B, g2.seq);
  ASSERT_EQ(0, g2.sub);
  ASSERT_EQ(0, g2.partial);

  close_all(&loop, cp);
}


static void test_finish_then_claim(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, g = {0}, b = {0}, g_other = {0};
  plain_res_t ck = {0}, fin = {0}, hb = {0}, fin2 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);

  ASSERT_OK(claim(cp, "parent", "A", &a));
  ASSERT_OK(checkpoint(cp, "parent", "A", "42", 0, 0, &ck));
  ASSERT_OK(finish(cp, "parent", "A", &fin));
  /* finish freed the lease. */
  ASSERT_OK(heartbeat(cp, "parent", "A", &hb));
  ASSERT_OK(finish(cp, "parent", "A", &fin2));
  ASSERT_OK(get(cp, "parent", &g));
  /* Another owner may claim it at once, and learns it is done. */
  ASSERT_OK(claim(cp, "parent", "B", &b));
  /* Other shards are unaffected. */
  ASSERT_OK(get(cp, "child", &g_other));
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, fin.calls);
  ASSERT_OK(fin.status);
  ASSERT_EQ(1, hb.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, hb.status);
  ASSERT_EQ(1, fin2.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, fin2.status);
  ASSERT_EQ(1, g.calls);
  ASSERT_OK(g.status);
  ASSERT_EQ(1, g.finished);
  ASSERT_STR_EQ("42", g.seq);
  ASSERT_EQ(1, b.calls);
  ASSERT_OK(b.status);
  ASSERT_EQ(1, b.finished);
  ASSERT_STR_EQ("42", b.seq);
  ASSERT_EQ(1, g_other.calls);
  ASSERT_OK(g_other.status);
  ASSERT_EQ(0, g_other.finished);
  ASSERT(!g_other.has_seq);

  close_all(&loop, cp);
}


static void test_release_then_claim(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, b = {0};
  plain_res_t ck = {0}, rel = {0}, rel_again = {0}, rel_unknown = {0};
  plain_res_t rel_b = {0}, hb_unknown = {0}, ck_unknown = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 60000);

  ASSERT_OK(claim(cp, "s", "A", &a));
  ASSERT_OK(checkpoint(cp, "s", "A", "5", 0, 0, &ck));
  ASSERT_OK(release(cp, "s", "A", &rel));
  /* Releasing what one does not hold is reported. */
  ASSERT_OK(release(cp, "s", "A", &rel_again));
  ASSERT_OK(release(cp, "nope", "A", &rel_unknown));
  ASSERT_OK(heartbeat(cp, "nope", "A", &hb_unknown));
  ASSERT_OK(checkpoint(cp, "nope", "A", "1", 0, 0, &ck_unknown));
  /* No need to wait for the 60 s timeout. */
  ASSERT_OK(claim(cp, "s", "B", &b));
  ASSERT_OK(release(cp, "s", "B", &rel_b));
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, rel.calls);
  ASSERT_OK(rel.status);
  ASSERT_EQ(1, rel_again.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, rel_again.status);
  ASSERT_EQ(1, rel_unknown.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, rel_unknown.status);
  ASSERT_EQ(1, hb_unknown.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, hb_unknown.status);
  ASSERT_EQ(1, ck_unknown.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, ck_unknown.status);
  ASSERT_EQ(1, b.calls);
  ASSERT_OK(b.status);
  ASSERT_STR_EQ("5", b.seq);
  ASSERT_EQ(1, rel_b.calls);
  ASSERT_OK(rel_b.status);

  close_all(&loop, cp);
}


static void test_never_synchronous(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c = {0}, g = {0};
  plain_res_t hb = {0}, ck = {0}, fin = {0}, rel = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);
  /* The wrappers already check the count right after each call; here all
   * of them wait until the loop runs, errors included. */
  ASSERT_OK(claim(cp, "s", "A", &c));
  ASSERT_OK(heartbeat(cp, "s", "B", &hb));
  ASSERT_OK(checkpoint(cp, "s", "A", "7", 0, 0, &ck));
  ASSERT_OK(release(cp, "s", "A", &rel));
  ASSERT_OK(finish(cp, "s", "A", &fin));
  ASSERT_OK(get(cp, "s", &g));
  ASSERT_EQ(0, c.calls + g.calls + hb.calls + ck.calls + fin.calls + rel.calls);
  /* One loop iteration delivers them all. */
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(1, c.calls);
  ASSERT_EQ(1, hb.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, hb.status);
  ASSERT_EQ(1, ck.calls);
  ASSERT_EQ(1, rel.calls);
  ASSERT_EQ(1, fin.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, fin.status);
  ASSERT_EQ(1, g.calls);
  ASSERT_EQ(0, g.finished);
  close_all(&loop, cp);
}


static void test_invalid_arguments(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  const kinesis_checkpointer_ops_t* ops;
  state_res_t s = {0};
  plain_res_t p = {0};
  members_res_t m = {0};
  kinesis_checkpoint_t pos;
  char long_seq[130];
  void* self;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);
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

  ASSERT_EQ(KINESIS_EINVAL, ops->member(self, NULL, "A", 0, on_members, &m));
  ASSERT_EQ(KINESIS_EINVAL, ops->member(self, "", "A", 0, on_members, &m));
  ASSERT_EQ(KINESIS_EINVAL, ops->member(self, STREAM, NULL, 0, on_members, &m));
  ASSERT_EQ(KINESIS_EINVAL, ops->member(self, STREAM, "", 1, on_members, &m));
  ASSERT_EQ(KINESIS_EINVAL, ops->member(self, STREAM, "A", 0, NULL, &m));
  ASSERT_EQ(KINESIS_EINVAL, ops->member(NULL, STREAM, "A", 0, on_members, &m));

  /* Sequence numbers must be decimal strings, even for the lease holder,
   * and a refused one writes nothing. */
  ASSERT_OK(claim(cp, "s", "A", &s));
  ASSERT_OK(checkpoint(cp, "s", "A", "77", 0, 0, &p));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, s.calls);
  ASSERT_EQ(1, p.calls);
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", NULL, 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", "", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", "12a", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", "-1", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", " 1", 0, 0, &p));
  memset(long_seq, '1', sizeof(long_seq) - 1);
  long_seq[sizeof(long_seq) - 1] = '\0';
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "A", long_seq, 0, 0, &p));
  /* Also for an owner without the lease: argument errors come first. */
  ASSERT_EQ(KINESIS_EINVAL, checkpoint(cp, "s", "B", "x", 0, 0, &p));

  ASSERT_OK(get(cp, "s", &s));
  uv_run(&loop, UV_RUN_DEFAULT);
  /* No callback for any refused call. */
  ASSERT_EQ(2, s.calls);
  ASSERT_EQ(1, p.calls);
  ASSERT_EQ(0, m.calls);
  ASSERT_STR_EQ("77", s.seq);

  close_all(&loop, cp);
}


/* ---- Members ---- */


static void test_members(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  members_res_t a1 = {0}, b1 = {0}, a2 = {0}, b_leave = {0}, b_leave2 = {0};
  members_res_t other = {0}, a_leave = {0}, empty = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);
  ASSERT_NOT_NULL(cp->ops->member);

  /* The answer counts the caller. */
  ASSERT_OK(member(cp, "A", 0, &a1));
  ASSERT_OK(member(cp, "B", 0, &b1));
  /* Calling again renews, it does not add. */
  ASSERT_OK(member(cp, "A", 0, &a2));
  /* Memberships are per stream. */
  ASSERT_OK(member_on(cp, "other", "C", 0, &other));
  /* Leaving removes the caller and does not count it. */
  ASSERT_OK(member(cp, "B", 1, &b_leave));
  /* Leaving twice, or without having joined, is not an error. */
  ASSERT_OK(member(cp, "B", 1, &b_leave2));
  ASSERT_OK(member(cp, "A", 1, &a_leave));
  ASSERT_OK(member_on(cp, "nobody", "Z", 1, &empty));
  ASSERT_EQ(0, a1.calls + b1.calls + a2.calls + other.calls + b_leave.calls);
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, a1.calls);
  ASSERT_OK(a1.status);
  ASSERT_EQ(1, a1.live);
  ASSERT_EQ(1, b1.calls);
  ASSERT_OK(b1.status);
  ASSERT_EQ(2, b1.live);
  ASSERT_EQ(1, a2.calls);
  ASSERT_EQ(2, a2.live);
  ASSERT_EQ(1, other.calls);
  ASSERT_EQ(1, other.live);
  ASSERT_EQ(1, b_leave.calls);
  ASSERT_OK(b_leave.status);
  ASSERT_EQ(1, b_leave.live);
  ASSERT_EQ(1, b_leave2.calls);
  ASSERT_OK(b_leave2.status);
  ASSERT_EQ(1, b_leave2.live);
  ASSERT_EQ(1, a_leave.calls);
  ASSERT_EQ(0, a_leave.live);
  ASSERT_EQ(1, empty.calls);
  ASSERT_OK(empty.status);
  ASSERT_EQ(0, empty.live);
  ASSERT_LT(a1.order, b1.order);
  ASSERT_LT(b1.order, a2.order);
  ASSERT_LT(a2.order, other.order);
  ASSERT_LT(other.order, b_leave.order);

  close_all(&loop, cp);
}


static void test_members_expire(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  members_res_t a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, c1 = {0};
  uint64_t b_seen, a_seen, c_called;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 300);

  ASSERT_OK(member(cp, "A", 0, &a1));
  ASSERT_OK(member(cp, "B", 0, &b1));
  b_seen = uv_now(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(2, b1.live);

  /* A keeps calling, B goes silent: after the session timeout only A (and
   * the caller) count. */
  wait_ms(&loop, 200);
  ASSERT_OK(member(cp, "A", 0, &a2));
  a_seen = uv_now(&loop);
  wait_ms(&loop, 200);
  ASSERT_OK(member(cp, "C", 0, &c1));
  c_called = uv_now(&loop);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, a2.calls);
  ASSERT_EQ(2, a2.live);
  ASSERT_EQ(1, c1.calls);
  ASSERT_OK(c1.status);
  ASSERT_GT(c_called - b_seen, 300);
  /* The store uses the loop's clock, as this test does: on a machine so
   * slow that 300 ms passed since A's call, A has expired too. */
  if (c_called - a_seen <= 300)
    ASSERT_EQ(2, c1.live);
  else
    ASSERT_EQ(1, c1.live);

  /* B comes back: it is counted again. */
  ASSERT_OK(member(cp, "B", 0, &b2));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, b2.calls);
  ASSERT_EQ(c1.live + 1, b2.live);

  close_all(&loop, cp);
}


/* ---- Close ---- */


typedef struct {
  kinesis_checkpointer_t* cp;
  state_res_t claim_res;
  plain_res_t queued_before; /* heartbeat queued from the callback */
  state_res_t get_before;    /* get queued by the test before the run */
  plain_res_t refused;
  int closed;
  int closed_order;
  int eclosing_seen;
} close_ctx_t;


static void on_ctx_closed(void* arg) {
  close_ctx_t* x = arg;
  kinesis_checkpoint_t pos;
  ASSERT(!g_in_call);
  x->closed++;
  x->closed_order = ++g_order;
  /* Everything decided before close was delivered first. */
  ASSERT_EQ(1, x->claim_res.calls);
  ASSERT_EQ(1, x->queued_before.calls);
  ASSERT_EQ(1, x->get_before.calls);
  /* The object is still valid here, and refuses work. */
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = "1";
  ASSERT_EQ(KINESIS_ECLOSING,
            x->cp->ops->get(x->cp->self, STREAM, "s", on_state, &x->claim_res));
  ASSERT_EQ(KINESIS_ECLOSING,
            x->cp->ops->checkpoint(x->cp->self, STREAM, "s", "A", &pos,
                                   on_plain, &x->refused));
  /* A second close is ignored. */
  kinesis_checkpointer_close(x->cp, on_closed, &x->eclosing_seen);
}


static void on_claim_then_close(int status, const kinesis_checkpoint_t* ck,
                                void* arg) {
  close_ctx_t* x = arg;
  kinesis_checkpointer_t* cp = x->cp;
  on_state(status, ck, &x->claim_res);
  ASSERT_OK(status);
  /* Queued before close: delivered with its real result. */
  ASSERT_OK(heartbeat(cp, "s", "A", &x->queued_before));
  kinesis_checkpointer_close(cp, on_ctx_closed, x);
  ASSERT_EQ(0, x->closed);
  /* The checkpoint struct is still ours during the callback. */
  ASSERT_EQ(0, ck->finished);
  ASSERT_EQ(KINESIS_ECLOSING, claim(cp, "s", "A", &x->claim_res));
  ASSERT_EQ(KINESIS_ECLOSING, heartbeat(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, checkpoint(cp, "s", "A", "9", 0, 0, &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, finish(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, release(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, get(cp, "s", &x->get_before));
  /* Invalid arguments are still invalid. */
  ASSERT_EQ(KINESIS_EINVAL,
            cp->ops->get(cp->self, STREAM, "s", NULL, &x->get_before));
  /* Closing again is ignored; its callback never runs. */
  kinesis_checkpointer_close(cp, on_closed, &x->eclosing_seen);
}


static void test_close_from_callback(void) {
  uv_loop_t loop;
  close_ctx_t x;

  memset(&x, 0, sizeof(x));
  ASSERT_OK(uv_loop_init(&loop));
  x.cp = make(&loop, 0);
  g_in_call = 1;
  ASSERT_OK(
      x.cp->ops->claim(x.cp->self, STREAM, "s", "A", on_claim_then_close, &x));
  g_in_call = 0;
  ASSERT_OK(get(x.cp, "s", &x.get_before));
  uv_run(&loop, UV_RUN_DEFAULT);

  ASSERT_EQ(1, x.claim_res.calls);
  ASSERT_EQ(1, x.get_before.calls);
  ASSERT_OK(x.get_before.status);
  ASSERT_EQ(1, x.queued_before.calls);
  ASSERT_OK(x.queued_before.status);
  ASSERT_EQ(0, x.refused.calls);
  ASSERT_EQ(1, x.closed);
  ASSERT_EQ(0, x.eclosing_seen);
  ASSERT_LT(x.claim_res.order, x.get_before.order);
  ASSERT_LT(x.get_before.order, x.queued_before.order);
  ASSERT_LT(x.queued_before.order, x.closed_order);
  kn_test_loop_close(&loop);
}


static void test_close_with_pending(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c = {0}, g = {0};
  plain_res_t ck = {0}, refused = {0};
  members_res_t mem = {0}, mem_refused = {0};
  int closed = 0, closed_again = 0;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);
  ASSERT_OK(claim(cp, "s", "A", &c));
  ASSERT_OK(checkpoint(cp, "s", "A", "11", 0, 0, &ck));
  ASSERT_OK(get(cp, "s", &g));
  ASSERT_OK(member(cp, "A", 0, &mem));
  kinesis_checkpointer_close(cp, on_closed, &closed);
  kinesis_checkpointer_close(cp, on_closed, &closed_again);
  ASSERT_EQ(0, closed);
  ASSERT_EQ(0, c.calls + ck.calls + g.calls);
  /* Every operation is refused once close has started. */
  ASSERT_EQ(KINESIS_ECLOSING, claim(cp, "s", "A", &c));
  ASSERT_EQ(KINESIS_ECLOSING, heartbeat(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, checkpoint(cp, "s", "A", "12", 0, 0, &refused));
  ASSERT_EQ(KINESIS_ECLOSING, finish(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, release(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, get(cp, "s", &g));
  ASSERT_EQ(KINESIS_ECLOSING, member(cp, "A", 0, &mem_refused));
  ASSERT_EQ(KINESIS_ECLOSING, member(cp, "A", 1, &mem_refused));
  uv_run(&loop, UV_RUN_DEFAULT);

  /* Pending answers were already decided: they arrive with real results. */
  ASSERT_EQ(1, c.calls);
  ASSERT_OK(c.status);
  ASSERT_EQ(1, ck.calls);
  ASSERT_OK(ck.status);
  ASSERT_EQ(1, g.calls);
  ASSERT_OK(g.status);
  ASSERT_STR_EQ("11", g.seq);
  ASSERT_EQ(1, mem.calls);
  ASSERT_OK(mem.status);
  ASSERT_EQ(1, mem.live);
  ASSERT_EQ(0, refused.calls);
  ASSERT_EQ(0, mem_refused.calls);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, closed_again);
  kn_test_loop_close(&loop);
}


/* ---- Re-entrancy ---- */


typedef struct {
  kinesis_checkpointer_t* cp;
  plain_res_t ck;
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
  x->state_calls++;
  ASSERT_STR_EQ("100", ck->sequence_number);
  ASSERT_OK(checkpoint(x->cp, "s", "A", "200", 9, 1, &x->ck));
  ASSERT_OK(finish(x->cp, "s", "A", &x->ck));
  ASSERT_STR_EQ("100", ck->sequence_number);
  ASSERT_EQ(0, ck->sub_sequence_number);
  ASSERT_EQ(0, ck->partial);
  ASSERT_EQ(0, ck->finished);
}


/* Each callback issues the next operation, which must wait for a later
 * tick. */
static void on_chain(int status, void* arg) {
  reenter_ctx_t* x = arg;
  int before;
  ASSERT(!g_in_call);
  ASSERT_OK(status);
  x->chain_calls++;
  if (x->chain_left-- > 0) {
    before = x->chain_calls;
    g_in_call = 1;
    ASSERT_OK(
        x->cp->ops->heartbeat(x->cp->self, STREAM, "chain", "A", on_chain, x));
    g_in_call = 0;
    ASSERT_EQ(before, x->chain_calls);
  }
}


static void test_reentrancy(void) {
  uv_loop_t loop;
  reenter_ctx_t x;
  state_res_t a = {0}, after = {0}, chain_claim = {0};
  plain_res_t ck = {0};

  memset(&x, 0, sizeof(x));
  ASSERT_OK(uv_loop_init(&loop));
  x.cp = make(&loop, 0);
  ASSERT_OK(claim(x.cp, "s", "A", &a));
  ASSERT_OK(checkpoint(x.cp, "s", "A", "100", 0, 0, &ck));
  g_in_call = 1;
  ASSERT_OK(x.cp->ops->get(x.cp->self, STREAM, "s", on_get_overwrite, &x));
  g_in_call = 0;
  ASSERT_OK(claim(x.cp, "chain", "A", &chain_claim));
  x.chain_left = 50;
  g_in_call = 1;
  ASSERT_OK(
      x.cp->ops->heartbeat(x.cp->self, STREAM, "chain", "A", on_chain, &x));
  g_in_call = 0;
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, x.state_calls);
  ASSERT_EQ(2, x.ck.calls);
  ASSERT_OK(x.ck.status);
  ASSERT_EQ(51, x.chain_calls);

  ASSERT_OK(get(x.cp, "s", &after));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_STR_EQ("200", after.seq);
  ASSERT_EQ(9, after.sub);
  ASSERT_EQ(1, after.partial);
  ASSERT_EQ(1, after.finished);
  close_all(&loop, x.cp);
}


/* Many shards (the map grows), each callback counted exactly once. */
static void test_many_shards(void) {
  enum { N = 300 };
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  static state_res_t claims[N], gets[N], others[N];
  state_res_t other_stream = {0};
  static plain_res_t cks[N];
  char shard[32], seq[32];
  int i;

  memset(claims, 0, sizeof(claims));
  memset(gets, 0, sizeof(gets));
  memset(others, 0, sizeof(others));
  memset(cks, 0, sizeof(cks));
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 0);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    snprintf(seq, sizeof(seq), "%d", 1000 + i);
    ASSERT_OK(claim(cp, shard, i % 2 ? "odd" : "even", &claims[i]));
    ASSERT_OK(
        checkpoint(cp, shard, i % 2 ? "odd" : "even", seq, 0, 0, &cks[i]));
  }
  /* The same shard ids in another stream are other entries. */
  ASSERT_OK(cp->ops->claim(cp->self, "other", "shardId-000000000001", "x",
                           on_state, &other_stream));
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_OK(get(cp, shard, &gets[i]));
    ASSERT_OK(claim(cp, shard, "third", &others[i]));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  for (i = 0; i < N; i++) {
    snprintf(seq, sizeof(seq), "%d", 1000 + i);
    ASSERT_EQ(1, claims[i].calls);
    ASSERT_OK(claims[i].status);
    ASSERT_EQ(1, cks[i].calls);
    ASSERT_OK(cks[i].status);
    ASSERT_EQ(1, gets[i].calls);
    ASSERT_STR_EQ(seq, gets[i].seq);
    ASSERT_EQ(1, others[i].calls);
    ASSERT_EQ(KINESIS_ELEASED, others[i].status);
    ASSERT_STR_EQ(seq, others[i].seq);
  }
  ASSERT_EQ(1, other_stream.calls);
  ASSERT_OK(other_stream.status);
  ASSERT(!other_stream.has_seq);
  close_all(&loop, cp);
}


/* ---- Allocation failures ---- */




/* One run of a fixed scenario. Returns 1 when no allocation failed. */
static int failmalloc_run(void) {
  enum { N = 20 };
  uv_loop_t loop;
  kinesis_checkpointer_t* cp = NULL;
  state_res_t c = {0}, g = {0}, b = {0}, many[N];
  plain_res_t ck = {0}, rel = {0};
  members_res_t ma = {0}, mb = {0}, mleave = {0};
  int rc, rck, rg, rrel, rb, rmany[N], rma, rmb, rmleave;
  int expected = 0;
  char shard[16];
  int i, r;

  memset(many, 0, sizeof(many));
  ASSERT_OK(uv_loop_init(&loop));
  r = kinesis_checkpointer_memory_new(&loop, NULL, &cp);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    ASSERT_NULL(cp);
    kn_test_loop_close(&loop);
    return 0;
  }
  rc = claim(cp, "s", "A", &c);
  rck = checkpoint(cp, "s", "A", "100", 2, 1, &ck);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "m%d", i);
    rmany[i] = claim(cp, shard, "A", &many[i]);
  }
  rg = get(cp, "s", &g);
  rrel = release(cp, "s", "A", &rel);
  rb = claim(cp, "s", "B", &b);
  rma = member(cp, "A", 0, &ma);
  rmb = member(cp, "B", 0, &mb);
  rmleave = member(cp, "A", 1, &mleave);
  uv_run(&loop, UV_RUN_DEFAULT);

  /* Each call either succeeded and was answered once, or failed with
   * ENOMEM, changed nothing and was never answered. */
#define CHECK_CALL(ret, res)            \
  do {                                  \
    if ((ret) == 0) {                   \
      ASSERT_EQ(1, (res).calls);        \
      expected++;                       \
    } else {                            \
      ASSERT_EQ(KINESIS_ENOMEM, (ret)); \
      ASSERT_EQ(0, (res).calls);        \
    }                                   \
  } while (0)
  CHECK_CALL(rc, c);
  CHECK_CALL(rck, ck);
  CHECK_CALL(rg, g);
  CHECK_CALL(rrel, rel);
  CHECK_CALL(rb, b);
  CHECK_CALL(rma, ma);
  CHECK_CALL(rmb, mb);
  CHECK_CALL(rmleave, mleave);
  for (i = 0; i < N; i++)
    CHECK_CALL(rmany[i], many[i]);
#undef CHECK_CALL
  ASSERT_GT(expected, 0);
  if (rc == 0)
    ASSERT_OK(c.status);
  if (rck == 0)
    ASSERT_EQ(rc == 0 ? 0 : KINESIS_ELEASELOST, ck.status);
  if (rg == 0) {
    ASSERT_EQ(rc == 0 && rck == 0, g.has_seq);
    if (g.has_seq) {
      ASSERT_STR_EQ("100", g.seq);
      ASSERT_EQ(2, g.sub);
      ASSERT_EQ(1, g.partial);
    }
  }
  if (rrel == 0)
    ASSERT_EQ(rc == 0 ? 0 : KINESIS_ELEASELOST, rel.status);
  /* B finds A's lease only when A took it and failed to release it. */
  if (rb == 0)
    ASSERT_EQ(rc == 0 && rrel != 0 ? KINESIS_ELEASED : 0, b.status);
  for (i = 0; i < N; i++)
    if (rmany[i] == 0)
      ASSERT_OK(many[i].status);
  /* A failed join changed nothing, so it is not counted. */
  if (rma == 0)
    ASSERT_EQ(1, ma.live);
  if (rmb == 0)
    ASSERT_EQ(rma == 0 ? 2 : 1, mb.live);
  if (rmleave == 0)
    ASSERT_EQ(rmb == 0 ? 1 : 0, mleave.live);

  close_all(&loop, cp);
  /* Done when the allocation to fail was never reached. */
  return kn_test_alloc_count <= kn_test_alloc_fail_at;
}


static void test_failmalloc(void) {
  int64_t i;

  kn_test_alloc_install();
  /* Fail the first allocation, then the second, ... until a run needs no
   * more. Every run leaks nothing. */
  for (i = 0;; i++) {
    int done;
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    done = failmalloc_run();
    ASSERT_EQ(0, kn_test_alloc_live);
    if (done)
      break;
  }
  ASSERT_GE(i, 20);
  kn_test_alloc_fail_at = -1;
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
}


KN_TEST_MAIN(KN_TEST(test_options_and_new), KN_TEST(test_round_trip),
             KN_TEST(test_lease_expiry), KN_TEST(test_heartbeat_keeps_lease),
             KN_TEST(test_partial_aggregate), KN_TEST(test_finish_then_claim),
             KN_TEST(test_release_then_claim), KN_TEST(test_never_synchronous),
             KN_TEST(test_invalid_arguments), KN_TEST(test_members),
             KN_TEST(test_members_expire), KN_TEST(test_close_from_callback),
             KN_TEST(test_close_with_pending), KN_TEST(test_reentrancy),
             KN_TEST(test_many_shards), KN_TEST(test_failmalloc))
