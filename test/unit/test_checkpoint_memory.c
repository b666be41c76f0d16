/* The memory checkpointer: what only it has. The contract of the ops table
 * is checked by test/checkpoint_conformance.c, which runs here against this
 * store (and against Redis in test/integration/test_checkpoint_redis.c). */

#include "harness.h"

#include "checkpoint_conformance.h"
#include "internal.h"
#include "kinesis/checkpoint.h"


static kinesis_checkpointer_t* make(uv_loop_t* loop, uint32_t timeout_ms) {
  kinesis_checkpointer_memory_options_t o;
  kinesis_checkpointer_t* cp = NULL;
  kinesis_client_t* client = kn_conf_client_new(loop);
  kinesis_checkpointer_memory_options_init(&o);
  if (timeout_ms > 0)
    o.session_timeout_ms = timeout_ms;
  ASSERT_OK(kinesis_checkpointer_memory_new(client, &o, &cp));
  ASSERT_NOT_NULL(cp);
  ASSERT_NULL(cp->data);
  cp->data = client; /* closed by the suite after the checkpointer */
  ASSERT_NOT_NULL(cp->ops);
  ASSERT_NOT_NULL(cp->ops->member);
  ASSERT_EQ(o.session_timeout_ms, cp->session_timeout_ms);
  return cp;
}


/* The store answers on a later tick and holds no handle while idle, so the
 * loop runs dry (a store that kept it alive would hang here until meson's
 * timeout). */
static void run_dry(uv_loop_t* loop, const int* count, const int* target,
                    uint64_t limit_ms) {
  (void) limit_ms;
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_GE(*count, *target);
}


static const kn_conf_store_t memory_store = {
    .make = make,
    .run_until = run_dry,
    .short_timeout_ms = 100,
    .promises =
        KN_CONF_LOOP_CLOCK | KN_CONF_ONE_TICK,
};


/* ---- Tests ---- */


static void test_options_and_new(void) {
  kinesis_checkpointer_memory_options_t o;
  kinesis_checkpointer_t* cp = (kinesis_checkpointer_t*) &o;
  kinesis_checkpointer_t* sentinel = cp;
  kinesis_client_t* client;
  uv_loop_t loop;

  memset(&o, 0xff, sizeof(o));
  kinesis_checkpointer_memory_options_init(&o);
  ASSERT_EQ(10000, o.session_timeout_ms);

  ASSERT_OK(uv_loop_init(&loop));
  client = kn_conf_client_new(&loop);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(NULL, &o, &cp));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(client, &o, NULL));
  o.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(client, &o, &cp));
  ASSERT(cp == sentinel);
  /* NULL options mean the defaults. */
  ASSERT_OK(kinesis_checkpointer_memory_new(client, NULL, &cp));
  ASSERT(cp != sentinel);
  ASSERT(cp->self != NULL);
  ASSERT_NULL(cp->data);
  ASSERT_EQ(10000, cp->session_timeout_ms);
  /* The client refuses to close while its checkpointer is open. */
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(client, NULL, NULL));
  cp->data = client;
  kn_conf_close_all(&loop, cp);
}


/* Leases and memberships are measured on the loop's clock, read when an
 * operation is called: time the loop has not seen yet does not count. */
static void test_loop_clock(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b1 = {0}, b2 = {0};
  kn_conf_members_t m1 = {0}, m2 = {0}, m3 = {0};
  uint64_t start;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, 200);
  uv_update_time(&loop);
  start = uv_now(&loop);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  ASSERT_OK(kn_conf_member(cp, "A", 0, &m1));
  kn_conf_settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_EQ(1, m1.live);
  ASSERT_LT(uv_now(&loop) - start, 200);

  /* 300 ms pass that the loop has not seen: A still holds the lease, and
   * B's membership is stamped with the loop's (old) time. */
  uv_sleep(300);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b1));
  ASSERT_OK(kn_conf_member(cp, "B", 0, &m2));
  /* Once the loop has seen them, A's lease and both memberships lapsed. */
  uv_update_time(&loop);
  ASSERT_GE(uv_now(&loop) - start, 300);
  ASSERT_OK(kn_conf_claim(cp, "s", "B", &b2));
  ASSERT_OK(kn_conf_member(cp, "C", 0, &m3));
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  ASSERT_EQ(2, m2.live);
  ASSERT_OK(b2.status);
  ASSERT_EQ(1, m3.live);

  kn_conf_close_all(&loop, cp);
}


/* ---- Allocation failures ---- */


/* One run of a fixed scenario. Returns 1 when no allocation failed. */
static int failmalloc_run(void) {
  enum { N = 20 };
  uv_loop_t loop;
  kinesis_client_t* client;
  kinesis_checkpointer_t* cp = NULL;
  kn_conf_state_t c = {0}, g = {0}, b = {0}, many[N];
  kn_conf_plain_t ck = {0}, rel = {0};
  kn_conf_members_t ma = {0}, mb = {0}, mleave = {0};
  kn_conf_leases_t l = {0};
  static const char* const lease_ids[] = {"s", "m0", "none"};
  int rc, rck, rg, rrel, rb, rmany[N], rma, rmb, rmleave, rl;
  int expected = 0;
  char shard[16];
  int i, r;

  memset(many, 0, sizeof(many));
  ASSERT_OK(uv_loop_init(&loop));
  r = kinesis_client_new(&loop, NULL, &client);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    kn_test_loop_close(&loop);
    return 0;
  }
  r = kinesis_checkpointer_memory_new(client, NULL, &cp);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    ASSERT_NULL(cp);
    ASSERT_OK(kinesis_client_close(client, NULL, NULL));
    kn_test_loop_close(&loop);
    return 0;
  }
  cp->data = client;
  rc = kn_conf_claim(cp, "s", "A", &c);
  rck = kn_conf_checkpoint(cp, "s", "A", "100", 2, 1, &ck);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "m%d", i);
    rmany[i] = kn_conf_claim(cp, shard, "A", &many[i]);
  }
  rg = kn_conf_get(cp, "s", &g);
  rrel = kn_conf_release(cp, "s", "A", &rel);
  rb = kn_conf_claim(cp, "s", "B", &b);
  rma = kn_conf_member(cp, "A", 0, &ma);
  rmb = kn_conf_member(cp, "B", 0, &mb);
  rmleave = kn_conf_member(cp, "A", 1, &mleave);
  rl = kn_conf_leases(cp, lease_ids, 3, &l);
  kn_conf_settle(&loop);

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
  CHECK_CALL(rl, l);
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
  /* leases sees what the calls before it did: "s" is B's if B took it,
   * else A's if A took it and failed to release it. */
  if (rl == 0) {
    int b_holds = rb == 0 && b.status == 0;
    const char* owner = NULL;
    if (b_holds)
      owner = "B";
    else if (rc == 0 && rrel != 0)
      owner = "A";
    kn_conf_expect_lease(&l, 0, owner, 0, rc == 0 || b_holds);
    kn_conf_expect_lease(&l, 1, rmany[0] == 0 ? "A" : NULL, 0, rmany[0] == 0);
    kn_conf_expect_lease(&l, 2, NULL, 0, 0);
  }
  kn_conf_leases_free(&l);

  kn_conf_close_all(&loop, cp);
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


KN_CONF_MAIN(&memory_store, KN_TEST(test_options_and_new),
             KN_TEST(test_loop_clock), KN_TEST(test_failmalloc))
