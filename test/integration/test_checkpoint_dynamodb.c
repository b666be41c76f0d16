/* The DynamoDB checkpointer against dynalite, which test/with-servers.sh
 * starts (KINESIS_TEST_DYNAMODB_ENDPOINT): the contract of the ops table
 * (test/checkpoint_conformance.c, each case on a table of its own), then
 * what only this store has: its options, two checkpointers racing for one
 * expired lease, rows written the way the KCL writes them, a write fenced
 * off by a counter another process moved, the positions the KCL's schema
 * cannot hold, a row of another shape, a table of several Scan pages, a
 * missing table, and a consumer reading through it from kinesalite.
 *
 * Calls to DynamoDB keep the loop alive while they are on their way, so the
 * tests run the loop until the answers they expect have arrived
 * (kn_conf_settle), never until it is empty. */

#include "client_util.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint_conformance.h"
#include "client.h"
#include "internal.h"
#include "kinesis/checkpoint.h"


static const char* endpoint(void) {
  return kn_test_require_env("KINESIS_TEST_DYNAMODB_ENDPOINT");
}


/* ---- The loop ---- */


static void on_tick(uv_timer_t* t) {
  (void) t;
}


static void on_tick_closed(uv_handle_t* h) {
  (*(int*) h->data)++;
}


/* Runs the loop until `*count` reaches `*target` (which callbacks may
 * raise), at most `limit_ms`; a ticking timer makes sure each turn
 * returns. */
static void run_until(uv_loop_t* loop, const int* count, const int* target,
                      uint64_t limit_ms) {
  uv_timer_t tick;
  uint64_t start;
  int closed = 0;

  uv_update_time(loop);
  start = uv_now(loop);
  ASSERT_OK(uv_timer_init(loop, &tick));
  ASSERT_OK(uv_timer_start(&tick, on_tick, 20, 20));
  while (*count < *target) {
    if (uv_now(loop) - start > limit_ms) {
      fprintf(stderr, "run_until: %d of %d after %" PRIu64 " ms\n", *count,
              *target, limit_ms);
      ASSERT_GE(*count, *target);
    }
    uv_run(loop, UV_RUN_ONCE);
  }
  tick.data = &closed;
  uv_close((uv_handle_t*) &tick, on_tick_closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}


/* ---- Checkpointers ---- */


/* A client for the checkpointers: its Kinesis endpoint is never called. */
static kinesis_client_t* new_client(uv_loop_t* loop) {
  kinesis_client_options_t o;
  kinesis_client_t* c = NULL;
  test_client_options(&o, "http://127.0.0.1:1");
  ASSERT_OK(kinesis_client_new(loop, &o, &c));
  return c;
}


static void opts_init(kinesis_checkpointer_dynamodb_options_t* o,
                      const char* table, uint32_t timeout_ms) {
  kinesis_checkpointer_dynamodb_options_init(o);
  o->table = table;
  o->endpoint_url = endpoint();
  if (timeout_ms > 0)
    o->session_timeout_ms = timeout_ms;
}


/* A checkpointer on `table` with a client of its own, kept in `data` and
 * closed after it (kn_conf_close). */
static kinesis_checkpointer_t* make_opts(
    uv_loop_t* loop, const kinesis_checkpointer_dynamodb_options_t* o) {
  kinesis_checkpointer_t* cp = NULL;
  kinesis_client_t* client = new_client(loop);
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(client, o, &cp));
  ASSERT_NOT_NULL(cp);
  ASSERT_NULL(cp->data);
  cp->data = client;
  ASSERT_NOT_NULL(cp->ops->member);
  ASSERT_NOT_NULL(cp->ops->leases);
  ASSERT_EQ(o->session_timeout_ms, cp->session_timeout_ms);
  return cp;
}


static kinesis_checkpointer_t* make(uv_loop_t* loop, const char* table,
                                    uint32_t timeout_ms) {
  kinesis_checkpointer_dynamodb_options_t o;
  opts_init(&o, table, timeout_ms);
  return make_opts(loop, &o);
}


/* A table name no case has used: each run of the test, and each case, has
 * its own. */
static const char* fresh_table(void) {
  static char name[96];
  snprintf(name, sizeof(name), "%s", test_stream_name("ckpt"));
  return name;
}


/* For the suite: a checkpointer on a new table, which it creates. */
static kinesis_checkpointer_t* make_fresh(uv_loop_t* loop,
                                          uint32_t timeout_ms) {
  return make(loop, fresh_table(), timeout_ms);
}


static const kn_conf_store_t dynamodb_store = {
    .make = make_fresh,
    .run_until = run_until,
    .short_timeout_ms = 1000,
    .promises = KN_CONF_CANCELS_AT_CLOSE,
    .limits = KN_CONF_ONE_STREAM | KN_CONF_FINISH_ENDS_POSITION,
};


/* ---- DynamoDB, called directly ---- */


/* Calls `action` with `body` through `c`, as the checkpointer does, and
 * waits for the answer. */
static void ddb_call(uv_loop_t* loop, kinesis_client_t* c, const char* action,
                     const char* body, service_answer_t* a) {
  kn_service_target_t t;
  ASSERT_OK(kn_client_target_init(c, &kn_service_dynamodb, endpoint(), &t));
  service_call_wait(loop, c, &t, action, body, a);
  kn_client_target_free(&t);
}


/* The row of `shard` in `table`, as DynamoDB's JSON, in a->body. */
static void get_row(uv_loop_t* loop, kinesis_client_t* c, const char* table,
                    const char* shard, service_answer_t* a) {
  char body[512];
  snprintf(body, sizeof(body),
           "{\"TableName\":\"%s\",\"Key\":{\"leaseKey\":{\"S\":\"%s\"}},"
           "\"ConsistentRead\":true}",
           table, shard);
  ddb_call(loop, c, "GetItem", body, a);
  ASSERT_OK(a->status);
}


/* `body` holds `part` (an attribute and its value, as DynamoDB writes
 * them), or does not. */
static void expect_attr(const char* body, const char* part) {
  if (strstr(body, part) == NULL)
    fprintf(stderr, "missing %s in %s\n", part, body);
  ASSERT_NOT_NULL(strstr(body, part));
}


static void expect_no_attr(const char* body, const char* name) {
  char quoted[64];
  snprintf(quoted, sizeof(quoted), "\"%s\"", name);
  if (strstr(body, quoted) != NULL)
    fprintf(stderr, "unexpected %s in %s\n", name, body);
  ASSERT_NULL(strstr(body, quoted));
}


/* ---- Tests ---- */


static void test_options(void) {
  kinesis_checkpointer_dynamodb_options_t o;
  kinesis_checkpointer_t* cp = (kinesis_checkpointer_t*) &o;
  kinesis_checkpointer_t* sentinel = cp;
  kinesis_client_t* client;
  uv_loop_t loop;
  char long_name[300];

  memset(&o, 0xff, sizeof(o));
  kinesis_checkpointer_dynamodb_options_init(&o);
  ASSERT_EQ(sizeof(o), o.size);
  ASSERT_NULL(o.table);
  ASSERT_NULL(o.endpoint_url);
  ASSERT_EQ(10000, o.session_timeout_ms);
  ASSERT_EQ(1, o.create_table);

  ASSERT_OK(uv_loop_init(&loop));
  client = new_client(&loop);
  o.endpoint_url = endpoint();
  /* The table is required, and must be a DynamoDB table name. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.table = "ab";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.table = "no spaces";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  memset(long_name, 'a', sizeof(long_name) - 1);
  long_name[256] = '\0';
  o.table = long_name;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.table = "My_app.leases-1";
  o.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.session_timeout_ms = 5000;
  o.endpoint_url = "ftp://127.0.0.1:1";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.endpoint_url = endpoint();
  o.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  o.size = sizeof(o);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(NULL, &o, &cp));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_checkpointer_dynamodb_new(client, NULL, &cp));
  ASSERT_EQ(KINESIS_EINVAL,
            kinesis_checkpointer_dynamodb_new(client, &o, NULL));
  ASSERT(cp == sentinel);

  /* Made, it sends nothing until an operation, and holds the client. */
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(client, &o, &cp));
  ASSERT(cp != sentinel);
  ASSERT_EQ(5000, cp->session_timeout_ms);
  ASSERT_NULL(cp->data);
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(client, NULL, NULL));
  cp->data = client;
  kn_conf_close_all(&loop, cp);
}


/* Two checkpointers (two processes' worth: each its own client and its own
 * memory of the counters) race to take leases that a third one's owner
 * let lapse: for each shard exactly one wins, and the other is fenced off. */
static void test_race_for_expired(void) {
  enum { N = 12 };
  uv_loop_t loop;
  const char* table = fresh_table();
  kinesis_checkpointer_t* dead;
  kinesis_checkpointer_t* a;
  kinesis_checkpointer_t* b;
  static kn_conf_state_t held[N], seen_a[N], seen_b[N], ca[N], cb[N];
  static kn_conf_plain_t ck[N], hba[N], hbb[N];
  char shard[32];
  int i, wins_a = 0, condition_failures = 0;
  kinesis_client_stats_t st;
  size_t k;

  memset(held, 0, sizeof(held));
  memset(seen_a, 0, sizeof(seen_a));
  memset(seen_b, 0, sizeof(seen_b));
  memset(ca, 0, sizeof(ca));
  memset(cb, 0, sizeof(cb));
  memset(ck, 0, sizeof(ck));
  memset(hba, 0, sizeof(hba));
  memset(hbb, 0, sizeof(hbb));
  ASSERT_OK(uv_loop_init(&loop));
  dead = make(&loop, table, 800);
  a = make(&loop, table, 800);
  b = make(&loop, table, 800);

  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_OK(kn_conf_claim(dead, shard, "dead", &held[i]));
    ASSERT_OK(kn_conf_checkpoint(dead, shard, "dead", "5", 0, 0, &ck[i]));
  }
  kn_conf_settle(&loop);
  /* Both see the leases live: refused, with the position. */
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_ANSWERED(held[i], 0);
    ASSERT_ANSWERED(ck[i], 0);
    ASSERT_OK(kn_conf_claim(a, shard, "A", &seen_a[i]));
    ASSERT_OK(kn_conf_claim(b, shard, "B", &seen_b[i]));
  }
  kn_conf_settle(&loop);
  for (i = 0; i < N; i++) {
    ASSERT_ANSWERED(seen_a[i], KINESIS_ELEASED);
    ASSERT_STR_EQ("5", seen_a[i].seq);
    ASSERT_ANSWERED(seen_b[i], KINESIS_ELEASED);
  }

  /* The dead owner renews nothing: after the session timeout both take,
   * at once. */
  kn_conf_wait_ms(&loop, 1200);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_OK(kn_conf_claim(a, shard, "A", &ca[i]));
    ASSERT_OK(kn_conf_claim(b, shard, "B", &cb[i]));
  }
  kn_conf_settle(&loop);
  for (i = 0; i < N; i++) {
    snprintf(shard, sizeof(shard), "shardId-%012d", i);
    ASSERT_EQ(1, ca[i].calls);
    ASSERT_EQ(1, cb[i].calls);
    ASSERT((ca[i].status == 0) != (cb[i].status == 0));
    ASSERT(ca[i].status == KINESIS_ELEASED || cb[i].status == KINESIS_ELEASED);
    /* The winner resumes from the dead owner's checkpoint; the loser
     * learns it too. */
    ASSERT_STR_EQ("5", ca[i].seq);
    ASSERT_STR_EQ("5", cb[i].seq);
    wins_a += ca[i].status == 0;
    ASSERT_OK(kn_conf_heartbeat(a, shard, "A", &hba[i]));
    ASSERT_OK(kn_conf_heartbeat(b, shard, "B", &hbb[i]));
  }
  kn_conf_settle(&loop);
  for (i = 0; i < N; i++) {
    ASSERT_ANSWERED(hba[i], ca[i].status == 0 ? 0 : KINESIS_ELEASELOST);
    ASSERT_ANSWERED(hbb[i], cb[i].status == 0 ? 0 : KINESIS_ELEASELOST);
  }
  /* How often the conditional write decided (rather than the loser's read
   * coming after the winner's write): for the log. */
  for (k = 0; k < 2; k++) {
    ASSERT_OK(kinesis_client_stats(k == 0 ? a->data : b->data, &st));
    for (i = 0; i < (int) st.noperations; i++)
      if (strcmp(st.operations[i].operation, "UpdateItem") == 0)
        condition_failures += (int) st.operations[i].call_failures;
  }
  fprintf(stderr, "note: A won %d of %d, %d takes failed their condition\n",
          wins_a, N, condition_failures);

  kn_conf_close(&loop, dead);
  kn_conf_close(&loop, a);
  kn_conf_close_all(&loop, b);
}


/* A write from a checkpointer whose counter another process moved (the same
 * owner, renewing from elsewhere) fails its condition: nothing lands until
 * it reads the row again by claiming. */
static void test_stale_counter(void) {
  uv_loop_t loop;
  const char* table = fresh_table();
  kinesis_checkpointer_t* one;
  kinesis_checkpointer_t* two;
  kn_conf_state_t c1 = {0}, c2 = {0}, c3 = {0}, g = {0};
  kn_conf_plain_t hb = {0}, ck = {0}, hb2 = {0}, ck2 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  one = make(&loop, table, 60000);
  two = make(&loop, table, 60000);
  ASSERT_OK(kn_conf_claim(one, "s", "B", &c1));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c1, 0);
  /* The same owner claims through the other one: a renewal. */
  ASSERT_OK(kn_conf_claim(two, "s", "B", &c2));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c2, 0);

  ASSERT_OK(kn_conf_heartbeat(one, "s", "B", &hb));
  ASSERT_OK(kn_conf_checkpoint(one, "s", "B", "17", 0, 0, &ck));
  ASSERT_OK(kn_conf_get(one, "s", &g));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(hb, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(ck, KINESIS_ELEASELOST);
  ASSERT_ANSWERED(g, 0);
  ASSERT(!g.has_seq);

  /* Claimed again, it has read the counter, and writes. */
  ASSERT_OK(kn_conf_claim(one, "s", "B", &c3));
  ASSERT_OK(kn_conf_heartbeat(one, "s", "B", &hb2));
  ASSERT_OK(kn_conf_checkpoint(one, "s", "B", "17", 0, 0, &ck2));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c3, 0);
  ASSERT_ANSWERED(hb2, 0);
  ASSERT_ANSWERED(ck2, 0);

  kn_conf_close(&loop, one);
  kn_conf_close_all(&loop, two);
}


/* The two positions the KCL's schema cannot hold keep the stored one: a
 * checkpoint after user record 0 of an aggregate (which would read back as
 * the whole record done), and any checkpoint of a finished shard. */
static void test_positions_kept(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0}, g1 = {0}, g2 = {0}, c2 = {0}, g3 = {0};
  kn_conf_plain_t ck1 = {0}, ck2 = {0}, ck3 = {0}, fin = {0}, ck4 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make_fresh(&loop, 0);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", KN_CONF_SEQ_A, 0, 0, &ck1));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", KN_CONF_SEQ_B, 0, 1, &ck2));
  ASSERT_OK(kn_conf_get(cp, "s", &g1));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", KN_CONF_SEQ_B, 1, 1, &ck3));
  ASSERT_OK(kn_conf_get(cp, "s", &g2));
  ASSERT_OK(kn_conf_finish(cp, "s", "A", &fin));
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c2));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "99", 0, 0, &ck4));
  ASSERT_OK(kn_conf_get(cp, "s", &g3));
  kn_conf_settle(&loop);

  ASSERT_ANSWERED(ck1, 0);
  ASSERT_ANSWERED(ck2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g1.seq);
  ASSERT_EQ(0, g1.partial);
  ASSERT_ANSWERED(ck3, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_B, g2.seq);
  ASSERT_EQ(1, g2.sub);
  ASSERT_EQ(1, g2.partial);
  ASSERT_ANSWERED(fin, 0);
  ASSERT_ANSWERED(c2, 0);
  ASSERT_EQ(1, c2.finished);
  ASSERT_ANSWERED(ck4, 0);
  ASSERT_EQ(1, g3.finished);
  ASSERT(!g3.has_seq);
  kn_conf_close_all(&loop, cp);
}


/* Writes a row with PutItem, as the KCL's serializer does. */
static void put_row(uv_loop_t* loop, kinesis_client_t* c, const char* table,
                    const char* item) {
  size_t size = strlen(table) + strlen(item) + 64;
  char* body = malloc(size);
  service_answer_t a;
  ASSERT_NOT_NULL(body);
  snprintf(body, size, "{\"TableName\":\"%s\",\"Item\":%s}", table, item);
  ddb_call(loop, c, "PutItem", body, &a);
  ASSERT_OK(a.status);
  free(body);
}


/* A table the KCL wrote (DynamoDBLeaseSerializer.toDynamoRecord): a shard
 * with a checkpoint, one at SHARD_END with children, one inside an
 * aggregate, one at TRIM_HORIZON with a parent, each with the attributes
 * we do not use. We read each right, and our writes keep what we do not
 * own. */
static void test_kcl_rows(void) {
  static const char* const ids[] = {
      "shardId-000000000000", "shardId-000000000001", "shardId-000000000002",
      "shardId-000000000003", "shardId-000000000004"};
  uv_loop_t loop;
  const char* table = fresh_table();
  kinesis_checkpointer_t* cp;
  kinesis_client_t* c;
  kn_conf_state_t g[4], c0 = {0}, c0b = {0}, c2 = {0}, c3 = {0};
  kn_conf_plain_t ck0 = {0}, rel3 = {0}, fin2 = {0};
  kn_conf_leases_t l = {0};
  kn_conf_members_t m = {0};
  service_answer_t a;
  char item[1024];

  memset(g, 0, sizeof(g));
  ASSERT_OK(uv_loop_init(&loop));
  /* The checkpointer makes the table; the rows come after. */
  cp = make(&loop, table, 1000);
  c = cp->data;
  ASSERT_OK(kn_conf_get(cp, ids[0], &g[0]));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g[0], 0);
  memset(g, 0, sizeof(g));

  snprintf(
      item, sizeof(item),
      "{\"leaseKey\":{\"S\":\"%s\"},\"leaseOwner\":{\"S\":\"kcl-1\"},"
      "\"leaseCounter\":{\"N\":\"7\"},"
      "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"},"
      "\"checkpoint\":{\"S\":\"%s\"},"
      "\"checkpointSubSequenceNumber\":{\"N\":\"0\"},"
      "\"startingHashKey\":{\"S\":\"0\"},"
      "\"endingHashKey\":{\"S\":\"170141183460469231731687303715884105727\"}}",
      ids[0], KN_CONF_SEQ_A);
  put_row(&loop, c, table, item);
  snprintf(item, sizeof(item),
           "{\"leaseKey\":{\"S\":\"%s\"},\"leaseCounter\":{\"N\":\"12\"},"
           "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"2\"},"
           "\"checkpoint\":{\"S\":\"SHARD_END\"},"
           "\"checkpointSubSequenceNumber\":{\"N\":\"0\"},"
           "\"childShardIds\":{\"SS\":[\"%s\",\"%s\"]}}",
           ids[1], ids[3], ids[4]);
  put_row(&loop, c, table, item);
  snprintf(item, sizeof(item),
           "{\"leaseKey\":{\"S\":\"%s\"},\"leaseOwner\":{\"S\":\"kcl-2\"},"
           "\"leaseCounter\":{\"N\":\"4\"},"
           "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"},"
           "\"checkpoint\":{\"S\":\"%s\"},"
           "\"checkpointSubSequenceNumber\":{\"N\":\"3\"},"
           "\"pendingCheckpoint\":{\"S\":\"%s\"},"
           "\"pendingCheckpointSubSequenceNumber\":{\"N\":\"5\"}}",
           ids[2], KN_CONF_SEQ_A, KN_CONF_SEQ_B);
  put_row(&loop, c, table, item);
  snprintf(item, sizeof(item),
           "{\"leaseKey\":{\"S\":\"%s\"},\"leaseCounter\":{\"N\":\"1\"},"
           "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"},"
           "\"checkpoint\":{\"S\":\"TRIM_HORIZON\"},"
           "\"checkpointSubSequenceNumber\":{\"N\":\"0\"},"
           "\"parentShardId\":{\"SS\":[\"%s\"]}}",
           ids[3], ids[1]);
  put_row(&loop, c, table, item);

  /* Read as the KCL means them. */
  ASSERT_OK(kn_conf_get(cp, ids[0], &g[0]));
  ASSERT_OK(kn_conf_get(cp, ids[1], &g[1]));
  ASSERT_OK(kn_conf_get(cp, ids[2], &g[2]));
  ASSERT_OK(kn_conf_get(cp, ids[3], &g[3]));
  ASSERT_OK(kn_conf_leases(cp, ids, KN_ARRAY_SIZE(ids), &l));
  ASSERT_OK(kn_conf_member(cp, "lk", 0, &m));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g[0], 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g[0].seq);
  ASSERT_EQ(0, g[0].partial);
  ASSERT_EQ(0, g[0].finished);
  ASSERT_ANSWERED(g[1], 0);
  ASSERT(!g[1].has_seq);
  ASSERT_EQ(1, g[1].finished);
  ASSERT_ANSWERED(g[2], 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g[2].seq);
  ASSERT_EQ(3, g[2].sub);
  ASSERT_EQ(1, g[2].partial);
  ASSERT_ANSWERED(g[3], 0);
  ASSERT(!g[3].has_seq);
  ASSERT_EQ(0, g[3].finished);
  /* Leases never seen before are live. */
  ASSERT_EQ(1, l.calls);
  kn_conf_expect_lease(&l, 0, "kcl-1", 0, 1);
  kn_conf_expect_lease(&l, 1, NULL, 1, 1);
  kn_conf_expect_lease(&l, 2, "kcl-2", 0, 1);
  kn_conf_expect_lease(&l, 3, NULL, 0, 1);
  kn_conf_expect_lease(&l, 4, NULL, 0, 0);
  /* kcl-1, kcl-2 and the caller. */
  ASSERT_ANSWERED(m, 0);
  ASSERT_EQ(3, m.live);

  /* The free one is ours at once; the held ones once their counters have
   * stood still for the session timeout. */
  ASSERT_OK(kn_conf_claim(cp, ids[3], "lk", &c3));
  ASSERT_OK(kn_conf_claim(cp, ids[0], "lk", &c0));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c3, 0);
  ASSERT(!c3.has_seq);
  ASSERT_ANSWERED(c0, KINESIS_ELEASED);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, c0.seq);
  kn_conf_wait_ms(&loop, 1300);
  ASSERT_OK(kn_conf_claim(cp, ids[0], "lk", &c0b));
  ASSERT_OK(kn_conf_claim(cp, ids[2], "lk", &c2));
  ASSERT_OK(kn_conf_checkpoint(cp, ids[0], "lk", KN_CONF_SEQ_B, 0, 0, &ck0));
  ASSERT_OK(kn_conf_release(cp, ids[3], "lk", &rel3));
  ASSERT_OK(kn_conf_finish(cp, ids[2], "lk", &fin2));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c0b, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, c0b.seq);
  ASSERT_ANSWERED(c2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, c2.seq);
  ASSERT_EQ(3, c2.sub);
  ASSERT_EQ(1, c2.partial);
  ASSERT_ANSWERED(ck0, 0);
  ASSERT_ANSWERED(rel3, 0);
  ASSERT_ANSWERED(fin2, 0);

  /* The rows as the KCL would read them: our attributes of its types, the
   * others untouched. Shard 0: taken from kcl-1 (a switch), then a
   * checkpoint (switches back to 0). */
  get_row(&loop, c, table, ids[0], &a);
  expect_attr(a.body, "\"leaseOwner\":{\"S\":\"lk\"}");
  expect_attr(a.body, "\"leaseCounter\":{\"N\":\"9\"}");
  expect_attr(a.body, "\"checkpoint\":{\"S\":\"" KN_CONF_SEQ_B "\"}");
  expect_attr(a.body, "\"checkpointSubSequenceNumber\":{\"N\":\"0\"}");
  expect_attr(a.body, "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"}");
  expect_attr(a.body, "\"startingHashKey\":{\"S\":\"0\"}");
  expect_attr(a.body,
              "\"endingHashKey\":{\"S\":\"17014118346046923173168"
              "7303715884105727\"}");
  /* Shard 2: taken from kcl-2 (one switch), then finished: SHARD_END, no
   * owner, its pending checkpoint kept. */
  get_row(&loop, c, table, ids[2], &a);
  expect_no_attr(a.body, "leaseOwner");
  expect_attr(a.body, "\"leaseCounter\":{\"N\":\"6\"}");
  expect_attr(a.body, "\"checkpoint\":{\"S\":\"SHARD_END\"}");
  expect_attr(a.body, "\"checkpointSubSequenceNumber\":{\"N\":\"0\"}");
  expect_attr(a.body, "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"}");
  expect_attr(a.body, "\"pendingCheckpoint\":{\"S\":\"" KN_CONF_SEQ_B "\"}");
  expect_attr(a.body, "\"pendingCheckpointSubSequenceNumber\":{\"N\":\"5\"}");
  /* Shard 3: taken from nobody (no switch), then released. */
  get_row(&loop, c, table, ids[3], &a);
  expect_no_attr(a.body, "leaseOwner");
  expect_attr(a.body, "\"leaseCounter\":{\"N\":\"3\"}");
  expect_attr(a.body, "\"checkpoint\":{\"S\":\"TRIM_HORIZON\"}");
  expect_attr(a.body, "\"ownerSwitchesSinceCheckpoint\":{\"N\":\"0\"}");
  expect_attr(a.body, "\"parentShardId\":{\"SS\":[\"shardId-000000000001\"]}");
  /* Shard 1 was only read. */
  get_row(&loop, c, table, ids[1], &a);
  expect_attr(a.body, "\"leaseCounter\":{\"N\":\"12\"}");
  expect_attr(a.body, "\"childShardIds\":{\"SS\":[");

  kn_conf_leases_free(&l);
  kn_conf_close_all(&loop, cp);
}


/* A row that is not a lease of this schema: claim and get refuse it, and
 * member and leases pass over it. */
static void test_foreign_row(void) {
  static const char* const ids[] = {"bad", "good"};
  uv_loop_t loop;
  const char* table = fresh_table();
  kinesis_checkpointer_t* cp;
  kn_conf_state_t g = {0}, c = {0}, cg = {0};
  kn_conf_leases_t l = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, table, 0);
  ASSERT_OK(kn_conf_claim(cp, "good", "A", &cg));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(cg, 0);
  put_row(&loop, cp->data, table,
          "{\"leaseKey\":{\"S\":\"bad\"},\"leaseCounter\":{\"S\":\"x\"}}");
  ASSERT_OK(kn_conf_get(cp, "bad", &g));
  ASSERT_OK(kn_conf_claim(cp, "bad", "A", &c));
  ASSERT_OK(kn_conf_leases(cp, ids, 2, &l));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g, KINESIS_EPROTO);
  ASSERT_ANSWERED(c, KINESIS_EPROTO);
  kn_conf_expect_lease(&l, 0, NULL, 0, 0);
  kn_conf_expect_lease(&l, 1, "A", 0, 1);
  kn_conf_leases_free(&l);
  kn_conf_close_all(&loop, cp);
}


/* The calls of `action` that `client` has made. */
static uint64_t calls_of(kinesis_client_t* client, const char* action) {
  kinesis_client_stats_t st;
  size_t i;
  ASSERT_OK(kinesis_client_stats(client, &st));
  for (i = 0; i < st.noperations; i++)
    if (strcmp(st.operations[i].operation, action) == 0)
      return st.operations[i].calls;
  return 0;
}


/* A table larger than one page of Scan (1 MB): member and leases read every
 * page. Each row carries 300 KB of an attribute we do not use. */
static void test_scan_pages(void) {
  enum { N = 5, PAD = 300 * 1024 };
  static const char* const ids[N] = {"p0", "p1", "p2", "p3", "p4"};
  uv_loop_t loop;
  const char* table = fresh_table();
  kinesis_checkpointer_t* cp;
  kn_conf_state_t g = {0};
  kn_conf_leases_t l = {0};
  kn_conf_members_t m = {0};
  char* item = malloc(PAD + 512);
  uint64_t scans;
  int i;

  ASSERT_NOT_NULL(item);
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, table, 60000);
  ASSERT_OK(kn_conf_get(cp, "p0", &g));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g, 0);
  for (i = 0; i < N; i++) {
    int n =
        snprintf(item, 512,
                 "{\"leaseKey\":{\"S\":\"%s\"},\"leaseOwner\":{\"S\":"
                 "\"w%d\"},\"leaseCounter\":{\"N\":\"1\"},"
                 "\"checkpoint\":{\"S\":\"TRIM_HORIZON\"},\"pad\":{\"S\":\"",
                 ids[i], i % 2);
    memset(item + n, 'x', PAD);
    strcpy(item + n + PAD, "\"}}");
    put_row(&loop, cp->data, table, item);
  }
  free(item);

  scans = calls_of(cp->data, "Scan");
  ASSERT_OK(kn_conf_leases(cp, ids, N, &l));
  kn_conf_settle(&loop);
  ASSERT_GE(calls_of(cp->data, "Scan") - scans, 2);
  for (i = 0; i < N; i++)
    kn_conf_expect_lease(&l, (size_t) i, i % 2 ? "w1" : "w0", 0, 1);
  /* w0, w1 and the caller. */
  ASSERT_OK(kn_conf_member(cp, "me", 0, &m));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(m, 0);
  ASSERT_EQ(3, m.live);
  kn_conf_leases_free(&l);
  kn_conf_close_all(&loop, cp);
}


/* With create_table 0 a missing table is an error of the operations,
 * waiting ones included; once the table exists the next operation
 * succeeds. */
static void test_missing_table(void) {
  static const char* const ids[] = {"s"};
  uv_loop_t loop;
  kinesis_checkpointer_dynamodb_options_t o;
  kinesis_checkpointer_t* cp;
  kinesis_checkpointer_t* maker;
  char table[96];
  kn_conf_state_t c = {0}, g = {0}, made = {0}, c2 = {0};
  kn_conf_plain_t hb = {0};
  kn_conf_members_t m = {0};
  kn_conf_leases_t l = {0};

  ASSERT_OK(uv_loop_init(&loop));
  snprintf(table, sizeof(table), "%s", fresh_table());
  opts_init(&o, table, 0);
  o.create_table = 0;
  cp = make_opts(&loop, &o);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &hb));
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  ASSERT_OK(kn_conf_member(cp, "A", 0, &m));
  ASSERT_OK(kn_conf_leases(cp, ids, 1, &l));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c, KINESIS_ENOTFOUND);
  ASSERT_ANSWERED(hb, KINESIS_ENOTFOUND);
  ASSERT_ANSWERED(g, KINESIS_ENOTFOUND);
  ASSERT_ANSWERED(m, KINESIS_ENOTFOUND);
  ASSERT_EQ(0, m.live);
  ASSERT_ANSWERED(l, KINESIS_ENOTFOUND);
  ASSERT_LT(c.order, hb.order);
  ASSERT_LT(m.order, l.order);

  /* Another checkpointer makes it; this one finds it at its next call. */
  maker = make(&loop, table, 0);
  ASSERT_OK(kn_conf_get(maker, "s", &made));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(made, 0);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c2));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c2, 0);

  kn_conf_close(&loop, maker);
  kn_conf_close_all(&loop, cp);
}


/* ---- A consumer on it ---- */


typedef struct {
  size_t delivered;
  int closed;
} seen_t;


static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  (void) c;
  (void) r;
  ((seen_t*) arg)->delivered++;
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  ASSERT_OK(status);
  ((seen_t*) arg)->closed++;
}


static void put_records(uv_loop_t* loop, kinesis_client_t* c,
                        const char* stream, size_t n) {
  kinesis_record_t e[16];
  char keys[16][8];
  capture_t cap;
  size_t i;
  memset(e, 0, sizeof(e));
  for (i = 0; i < n; i++) {
    snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
    e[i].data = "x";
    e[i].len = 1;
    e[i].partition_key = keys[i];
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, stream, e, n, capture_cb, &cap));
  capture_wait(loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(n, cap.nput);
}


/* Reads `stream` through the checkpointer until `expect` records came,
 * then closes, which checkpoints and releases. */
static void consume(uv_loop_t* loop, kinesis_client_t* client,
                    kinesis_checkpointer_t* cp, const char* stream,
                    size_t expect) {
  kinesis_consumer_options_t o;
  kinesis_consumer_t* c;
  seen_t seen = {0};

  kinesis_consumer_options_init(&o);
  o.stream = stream;
  o.checkpointer = cp;
  o.on_record = on_record;
  o.on_record_data = &seen;
  o.sleep_time_no_records_ms = 200;
  o.heartbeat_interval_ms = 500;
  ASSERT_OK(kinesis_consumer_new(client, &o, &c));
  ASSERT_OK(kinesis_consumer_start(c));
  TEST_WAIT_UNTIL(loop, seen.delivered >= expect, 20000, (void) 0);
  /* Nothing more comes. */
  run_loop_for(loop, 700);
  ASSERT_EQ(expect, seen.delivered);
  ASSERT_OK(kinesis_consumer_close(c, on_consumer_closed, &seen));
  TEST_WAIT_UNTIL(loop, seen.closed == 1, 10000, (void) 0);
}


/* The consumer on this store, against kinesalite: it leases both shards,
 * checkpoints and releases them at close, and a consumer after it resumes
 * exactly after what the first one read. */
static void test_consumer_round_trip(void) {
  static const char* const ids[] = {"shardId-000000000000",
                                    "shardId-000000000001"};
  uv_loop_t loop;
  kinesis_client_options_t co;
  kinesis_client_t* client;
  kinesis_checkpointer_dynamodb_options_t o;
  kinesis_checkpointer_t* cp;
  const char* stream;
  char name[96];
  kn_conf_leases_t l = {0};
  kn_conf_state_t g0 = {0}, g1 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  test_client_options(&co, kn_test_require_env("KINESIS_TEST_ENDPOINT"));
  ASSERT_OK(kinesis_client_new(&loop, &co, &client));
  snprintf(name, sizeof(name), "%s", test_stream_name("ddb"));
  stream = name;
  create_active_stream(&loop, client, stream, 2);
  opts_init(&o, fresh_table(), 3000);
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(client, &o, &cp));

  put_records(&loop, client, stream, 10);
  consume(&loop, client, cp, stream, 10);
  ASSERT_OK(kn_conf_leases(cp, ids, 2, &l));
  ASSERT_OK(kn_conf_get(cp, ids[0], &g0));
  ASSERT_OK(kn_conf_get(cp, ids[1], &g1));
  kn_conf_settle(&loop);
  kn_conf_expect_lease(&l, 0, NULL, 0, 1);
  kn_conf_expect_lease(&l, 1, NULL, 0, 1);
  /* Ten keys over two shards: both have records, and checkpoints. */
  ASSERT(g0.has_seq && g1.has_seq);

  put_records(&loop, client, stream, 5);
  consume(&loop, client, cp, stream, 5);

  kn_conf_leases_free(&l);
  cp->data = client;
  kn_conf_close_all(&loop, cp);
}


KN_CONF_MAIN(&dynamodb_store, KN_TEST(test_options),
             KN_TEST(test_race_for_expired), KN_TEST(test_stale_counter),
             KN_TEST(test_positions_kept), KN_TEST(test_kcl_rows),
             KN_TEST(test_foreign_row), KN_TEST(test_scan_pages),
             KN_TEST(test_missing_table), KN_TEST(test_consumer_round_trip))
