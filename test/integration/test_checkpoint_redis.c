/* The Redis checkpointer against a real redis-server, started by
 * test/with-redis.sh (KINESIS_TEST_REDIS_URL, _PORT and _CTL): the contract
 * of the ops table (test/checkpoint_conformance.c, against a fresh
 * app_name each case), then what only a server has: options and URLs, the
 * key schema, several connections, app namespaces, errors, restarts, auth
 * and SELECT.
 *
 * The checkpointer's connection keeps the loop alive until it is closed, so
 * the tests run the loop until the answers they expect have arrived
 * (kn_conf_settle), never until it is empty. */

#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "checkpoint_conformance.h"
#include "internal.h"
#include "kinesis/checkpoint.h"


static const char* g_url;
static int g_port;
static const char* g_ctl;


/* ---- Environment and the second connection ---- */


/* Reads the server's coordinates once; without them the test skips (or
 * fails with CI=true). */
static void need_redis(void) {
  const char* port;
  const char* ci = getenv("CI");
  if (g_port > 0)
    return;
  g_url = getenv("KINESIS_TEST_REDIS_URL");
  port = getenv("KINESIS_TEST_REDIS_PORT");
  g_ctl = getenv("KINESIS_TEST_REDIS_CTL");
  if (g_url != NULL && g_url[0] != '\0' && port != NULL && port[0] != '\0' &&
      g_ctl != NULL && g_ctl[0] != '\0') {
    g_port = atoi(port);
    ASSERT_GT(g_port, 0);
    return;
  }
  if (ci != NULL && strcmp(ci, "true") == 0) {
    fprintf(stderr,
            "KINESIS_TEST_REDIS_* are not set, and CI=true makes "
            "that a failure\n");
    exit(1);
  }
  KINESIS_TEST_SKIP(
      "KINESIS_TEST_REDIS_URL is not set. Run this test with "
      "`meson test -C build integration_checkpoint_redis`, or "
      "by hand under test/with-redis.sh, which starts "
      "redis-server (apt-get install redis-server).");
}


/* A blocking hiredis connection of the test's own, to look at and change
 * what the checkpointer cannot. */
static redisContext* sync_connect(void) {
  redisContext* c;
  need_redis();
  c = redisConnect("127.0.0.1", g_port);
  ASSERT_NOT_NULL(c);
  if (c->err != 0) {
    fprintf(stderr, "redisConnect: %s\n", c->errstr);
    ASSERT_EQ(0, c->err);
  }
  return c;
}


/* Runs a command; aborts on an I/O failure. freeReplyObject() the reply. */
static redisReply* sync_cmd(redisContext* c, const char* fmt, ...) {
  redisReply* r;
  va_list ap;
  va_start(ap, fmt);
  r = redisvCommand(c, fmt, ap);
  va_end(ap);
  if (r == NULL)
    fprintf(stderr, "redisCommand(%s): %s\n", fmt, c->errstr);
  ASSERT_NOT_NULL(r);
  return r;
}


/* A command whose reply must be +OK. */
static void sync_ok(redisContext* c, const char* fmt, ...) {
  redisReply* r;
  va_list ap;
  va_start(ap, fmt);
  r = redisvCommand(c, fmt, ap);
  va_end(ap);
  ASSERT_NOT_NULL(r);
  if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "OK") != 0)
    fprintf(stderr, "%s: unexpected reply %d %s\n", fmt, r->type,
            r->str != NULL ? r->str : "");
  ASSERT_EQ(REDIS_REPLY_STATUS, r->type);
  ASSERT_STR_EQ("OK", r->str);
  freeReplyObject(r);
}


/* A command whose reply is an integer. */
static long long sync_int(redisContext* c, const char* fmt, ...) {
  redisReply* r;
  long long v;
  va_list ap;
  va_start(ap, fmt);
  r = redisvCommand(c, fmt, ap);
  va_end(ap);
  ASSERT_NOT_NULL(r);
  ASSERT_EQ(REDIS_REPLY_INTEGER, r->type);
  v = r->integer;
  freeReplyObject(r);
  return v;
}


/* The server's clock in milliseconds. */
static long long server_now_ms(redisContext* c) {
  redisReply* r = sync_cmd(c, "TIME");
  long long ms;
  ASSERT_EQ(REDIS_REPLY_ARRAY, r->type);
  ASSERT_EQ(2, r->elements);
  ms = atoll(r->element[0]->str) * 1000 + atoll(r->element[1]->str) / 1000;
  freeReplyObject(r);
  return ms;
}


static void redis_ctl(const char* what) {
  char cmd[1024];
  snprintf(cmd, sizeof(cmd), "'%s' %s", g_ctl, what);
  ASSERT_EQ(0, system(cmd));
}


/* ---- The loop ---- */


static void on_tick(uv_timer_t* t) {
  int* fired = t->data;
  if (fired != NULL)
    (*fired)++;
}


static void on_tick_closed(uv_handle_t* h) {
  int* closed = h->data;
  (*closed)++;
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
  tick.data = NULL;
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


static void opts_init(kinesis_checkpointer_redis_options_t* o, const char* app,
                      uint32_t timeout_ms) {
  need_redis();
  kinesis_checkpointer_redis_options_init(o);
  o->url = g_url;
  o->app_name = app;
  if (timeout_ms > 0)
    o->session_timeout_ms = timeout_ms;
  /* Tests that stop Redis want it back quickly. */
  o->reconnect_max_ms = 400;
}


static kinesis_checkpointer_t* make_opts(
    uv_loop_t* loop, const kinesis_checkpointer_redis_options_t* o) {
  kinesis_checkpointer_t* cp = NULL;
  kinesis_client_t* client = kn_conf_client_new(loop);
  ASSERT_OK(kinesis_checkpointer_redis_new(client, o, &cp));
  ASSERT_NOT_NULL(cp);
  ASSERT_NULL(cp->data);
  cp->data = client; /* closed after the checkpointer (kn_conf_close) */
  ASSERT_NOT_NULL(cp->ops);
  ASSERT_NOT_NULL(cp->ops->member);
  /* The consumer reads the lease length from the checkpointer. */
  ASSERT_EQ(o->session_timeout_ms, cp->session_timeout_ms);
  return cp;
}


static kinesis_checkpointer_t* make(uv_loop_t* loop, const char* app,
                                    uint32_t timeout_ms) {
  kinesis_checkpointer_redis_options_t o;
  opts_init(&o, app, timeout_ms);
  return make_opts(loop, &o);
}


/* For the suite: a fresh application each time, so that no case sees
 * another's keys. */
static kinesis_checkpointer_t* make_fresh(uv_loop_t* loop,
                                          uint32_t timeout_ms) {
  static int n;
  char app[32];
  snprintf(app, sizeof(app), "conf-%d", ++n);
  return make(loop, app, timeout_ms);
}


static const kn_conf_store_t redis_store = {
    .make = make_fresh,
    .run_until = run_until,
    .short_timeout_ms = 600,
    .promises = KN_CONF_CANCELS_AT_CLOSE,
};


/* ---- Tests ---- */


static void test_options(void) {
  static const char* const bad_urls[] = {
      "",
      "http://127.0.0.1:6379",
      "redis:/127.0.0.1:6379",
      "redis://",
      "redis://:6379",
      "redis://127.0.0.1:",
      "redis://127.0.0.1:0",
      "redis://127.0.0.1:65536",
      "redis://127.0.0.1:12ab",
      "redis://127.0.0.1:6379/x",
      "redis://127.0.0.1:6379/-1",
      "redis://127.0.0.1:6379/1/2",
      "redis://127.0.0.1:6379?db=1",
      "redis://user@127.0.0.1:6379",
      "redis://user:@127.0.0.1:6379",
      "redis://:p%zz@127.0.0.1:6379",
      "redis://:p%00@127.0.0.1:6379",
      "redis://:p%4@127.0.0.1:6379",
      "redis://[::1:6379",
      "redis://[::1]x:6379",
      "redis://1.2.3.4:5:6",
  };
  /* Well formed; nothing listens on port 1, so these only connect in
   * vain until they are closed. */
  static const char* const good_urls[] = {
      "redis://127.0.0.1:1",
      "redis://127.0.0.1:1/",
      "redis://127.0.0.1:1/15",
      "redis://:secret@127.0.0.1:1",
      "redis://user:pa%40ss@127.0.0.1:1/2",
      "redis://us@er:p@ss@127.0.0.1:1",
      "redis://[::1]:1",
      "redis://127.0.0.1",
  };
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp = (kinesis_checkpointer_t*) &o;
  kinesis_checkpointer_t* sentinel = cp;
  kinesis_client_t* client;
  uv_loop_t loop;
  size_t i;

  memset(&o, 0xff, sizeof(o));
  kinesis_checkpointer_redis_options_init(&o);
  ASSERT_NULL(o.url);
  ASSERT_NULL(o.app_name);
  ASSERT_EQ(10000, o.session_timeout_ms);
  ASSERT_EQ(2000, o.connect_timeout_ms);
  ASSERT_EQ(100, o.reconnect_min_ms);
  ASSERT_EQ(5000, o.reconnect_max_ms);

  need_redis();
  ASSERT_OK(uv_loop_init(&loop));
  client = kn_conf_client_new(&loop);
  opts_init(&o, "app", 0);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(NULL, &o, &cp));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, NULL, &cp));
  o.url = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  for (i = 0; i < KN_ARRAY_SIZE(bad_urls); i++) {
    o.url = bad_urls[i];
    if (kinesis_checkpointer_redis_new(client, &o, &cp) != KINESIS_EINVAL) {
      fprintf(stderr, "accepted %s\n", bad_urls[i]);
      ASSERT(0);
    }
  }
  opts_init(&o, NULL, 0);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  o.app_name = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  o.app_name = "a:b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  o.app_name = "a{b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  o.app_name = "a}b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  opts_init(&o, "app", 0);
  o.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  opts_init(&o, "app", 0);
  o.connect_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  opts_init(&o, "app", 0);
  o.reconnect_min_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  opts_init(&o, "app", 0);
  o.reconnect_min_ms = 500;
  o.reconnect_max_ms = 499;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(client, &o, &cp));
  /* Every refusal left *out alone. */
  ASSERT(cp == sentinel);

  for (i = 0; i < KN_ARRAY_SIZE(good_urls); i++) {
    opts_init(&o, "app", 0);
    o.url = good_urls[i];
    o.connect_timeout_ms = 200;
    if (kinesis_checkpointer_redis_new(client, &o, &cp) != 0) {
      fprintf(stderr, "refused %s\n", good_urls[i]);
      ASSERT(0);
    }
    ASSERT(cp != sentinel);
    /* The client refuses to close while a checkpointer of it is open. */
    ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(client, NULL, NULL));
    kn_conf_close(&loop, cp);
  }
  ASSERT_OK(kinesis_client_close(client, NULL, NULL));
  kn_test_loop_close(&loop);
}


/* The documented keys and fields (docs/checkpointers.md). */
static void test_key_schema(void) {
  static const char key[] = "kinesis:{schema:orders}:shard:shardId-1";
  static const char members_key[] = "kinesis:{schema:orders}:members";
  static const char released_key[] = "kinesis:{schema:orders}:shard:shardId-2";
  static const char* const schema_ids[] = {"shardId-1", "shardId-2", "nope"};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  redisReply* r;
  kn_conf_state_t a = {0}, a2 = {0}, braces = {0};
  kn_conf_plain_t ck = {0}, fin = {0}, rel = {0}, lost[4];
  kn_conf_members_t m = {0};
  kn_conf_leases_t l = {0}, braces_l = {0};
  long long now, expires, updated;
  int i;

  memset(lost, 0, sizeof(lost));
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "schema", 5000);
  rc = sync_connect();

  ASSERT_OK(kn_conf_claim(cp, "shardId-1", "owner-1", &a));
  ASSERT_OK(
      kn_conf_checkpoint(cp, "shardId-1", "owner-1", KN_CONF_SEQ_A, 7, 1, &ck));
  ASSERT_OK(kn_conf_member(cp, "owner-1", 0, &m));
  kn_conf_settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_OK(ck.status);
  ASSERT_EQ(1, m.live);

  now = server_now_ms(rc);
  r = sync_cmd(rc,
               "HMGET %s owner expires_ms seq sub partial finished "
               "updated_ms",
               key);
  ASSERT_EQ(REDIS_REPLY_ARRAY, r->type);
  ASSERT_EQ(7, r->elements);
  ASSERT_EQ(REDIS_REPLY_STRING, r->element[0]->type);
  ASSERT_STR_EQ("owner-1", r->element[0]->str);
  /* Milliseconds of the server's clock, written as integers. */
  ASSERT_EQ(REDIS_REPLY_STRING, r->element[1]->type);
  ASSERT_EQ(strspn(r->element[1]->str, "0123456789"), r->element[1]->len);
  expires = atoll(r->element[1]->str);
  ASSERT_GT(expires, now);
  ASSERT_LE(expires, now + 5000);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, r->element[2]->str);
  ASSERT_STR_EQ("7", r->element[3]->str);
  ASSERT_STR_EQ("1", r->element[4]->str);
  /* finished is written only by finish. */
  ASSERT_EQ(REDIS_REPLY_NIL, r->element[5]->type);
  ASSERT_EQ(REDIS_REPLY_STRING, r->element[6]->type);
  updated = atoll(r->element[6]->str);
  ASSERT_LE(updated, now);
  ASSERT_GT(updated, now - 5000);
  freeReplyObject(r);

  r = sync_cmd(rc, "ZSCORE %s owner-1", members_key);
  ASSERT_EQ(REDIS_REPLY_STRING, r->type);
  ASSERT_GT(atoll(r->str), now);
  ASSERT_LE(atoll(r->str), now + 5000);
  freeReplyObject(r);
  /* The set expires with its last member. */
  ASSERT_GT(sync_int(rc, "PTTL %s", members_key), 0);

  ASSERT_OK(kn_conf_finish(cp, "shardId-1", "owner-1", &fin));
  kn_conf_settle(&loop);
  ASSERT_OK(fin.status);
  r = sync_cmd(rc, "HMGET %s owner expires_ms seq finished", key);
  ASSERT_EQ(REDIS_REPLY_NIL, r->element[0]->type);
  ASSERT_EQ(REDIS_REPLY_NIL, r->element[1]->type);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, r->element[2]->str);
  ASSERT_STR_EQ("1", r->element[3]->str);
  freeReplyObject(r);

  /* A released shard keeps its hash; writes refused to a non-owner leave
   * no key for a shard nobody held. */
  ASSERT_OK(kn_conf_claim(cp, "shardId-2", "owner-1", &a2));
  ASSERT_OK(kn_conf_release(cp, "shardId-2", "owner-1", &rel));
  /* leases reads those hashes (the finished one, the released one, one
   * nobody held) and writes nothing: no key for "nope" below. */
  ASSERT_OK(kn_conf_leases(cp, schema_ids, 3, &l));
  ASSERT_EQ(KINESIS_EINVAL, cp->ops->leases(cp->self, "a{b", schema_ids, 3,
                                            kn_conf_on_leases, &braces_l));
  ASSERT_OK(kn_conf_heartbeat(cp, "nope", "owner-1", &lost[0]));
  ASSERT_OK(kn_conf_checkpoint(cp, "nope", "owner-1", "1", 0, 0, &lost[1]));
  ASSERT_OK(kn_conf_finish(cp, "nope", "owner-1", &lost[2]));
  ASSERT_OK(kn_conf_release(cp, "nope", "owner-1", &lost[3]));
  /* Braces in a stream name would break the keys' hash tag. */
  ASSERT_EQ(KINESIS_EINVAL, cp->ops->claim(cp->self, "a}b", "s", "A",
                                           kn_conf_on_state, &braces));
  ASSERT_EQ(KINESIS_EINVAL, cp->ops->claim(cp->self, "a{b", "s", "A",
                                           kn_conf_on_state, &braces));
  kn_conf_settle(&loop);
  ASSERT_OK(a2.status);
  ASSERT_OK(rel.status);
  for (i = 0; i < 4; i++)
    ASSERT_EQ(KINESIS_ELEASELOST, lost[i].status);
  ASSERT_EQ(0, braces.calls);
  ASSERT_EQ(0, braces_l.calls);
  ASSERT_EQ(1, l.calls);
  kn_conf_expect_lease(&l, 0, NULL, 1, 1);
  kn_conf_expect_lease(&l, 1, NULL, 0, 1);
  kn_conf_expect_lease(&l, 2, NULL, 0, 0);
  kn_conf_leases_free(&l);
  ASSERT_EQ(1, sync_int(rc, "EXISTS %s", released_key));
  ASSERT_EQ(0, sync_int(rc, "EXISTS %s", "kinesis:{schema:orders}:shard:nope"));

  redisFree(rc);
  kn_conf_close_all(&loop, cp);
}


/* Two checkpointers, two connections, one application: they share leases
 * and memberships as two processes would. */
static void test_two_instances(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp1;
  kinesis_checkpointer_t* cp2;
  kn_conf_state_t a = {0}, b1 = {0}, b2 = {0}, g = {0};
  kn_conf_plain_t ck = {0}, rel = {0}, ck_lost = {0};
  kn_conf_members_t m1 = {0}, m2 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp1 = make(&loop, "shared", 0);
  cp2 = make(&loop, "shared", 0);

  ASSERT_OK(kn_conf_claim(cp1, "s", "one", &a));
  ASSERT_OK(kn_conf_checkpoint(cp1, "s", "one", "11", 0, 0, &ck));
  ASSERT_OK(kn_conf_member(cp1, "one", 0, &m1));
  kn_conf_settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_OK(ck.status);
  ASSERT_EQ(1, m1.live);

  ASSERT_OK(kn_conf_claim(cp2, "s", "two", &b1));
  ASSERT_OK(kn_conf_get(cp2, "s", &g));
  ASSERT_OK(kn_conf_member(cp2, "two", 0, &m2));
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  ASSERT_STR_EQ("11", b1.seq);
  ASSERT_STR_EQ("11", g.seq);
  ASSERT_EQ(2, m2.live);

  ASSERT_OK(kn_conf_release(cp1, "s", "one", &rel));
  kn_conf_settle(&loop);
  ASSERT_OK(rel.status);
  ASSERT_OK(kn_conf_claim(cp2, "s", "two", &b2));
  kn_conf_settle(&loop);
  ASSERT_OK(b2.status);
  ASSERT_STR_EQ("11", b2.seq);
  ASSERT_OK(kn_conf_checkpoint(cp1, "s", "one", "12", 0, 0, &ck_lost));
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ELEASELOST, ck_lost.status);

  kn_conf_close(&loop, cp1);
  kn_conf_close_all(&loop, cp2);
}


/* Keys are namespaced by application: app A's lease does not block app B,
 * nor does A's checkpoint or membership show in B. */
static void test_app_namespace(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* a;
  kinesis_checkpointer_t* b;
  kn_conf_state_t ca = {0}, cb = {0}, gb = {0}, other_stream = {0};
  kn_conf_plain_t cka = {0};
  kn_conf_members_t ma = {0}, mb = {0};

  ASSERT_OK(uv_loop_init(&loop));
  a = make(&loop, "app-a", 0);
  b = make(&loop, "app-b", 0);

  ASSERT_OK(kn_conf_claim(a, "s", "X", &ca));
  ASSERT_OK(kn_conf_checkpoint(a, "s", "X", "99", 0, 0, &cka));
  ASSERT_OK(kn_conf_member(a, "X", 0, &ma));
  kn_conf_settle(&loop);
  ASSERT_OK(ca.status);
  ASSERT_OK(cka.status);

  ASSERT_OK(kn_conf_claim(b, "s", "Y", &cb));
  ASSERT_OK(kn_conf_get(b, "s", &gb));
  ASSERT_OK(kn_conf_member(b, "Y", 0, &mb));
  /* And by stream within one application. */
  ASSERT_OK(kn_conf_claim_on(a, "other-stream", "s", "Z", &other_stream));
  kn_conf_settle(&loop);
  ASSERT_OK(cb.status);
  ASSERT(!cb.has_seq);
  ASSERT(!gb.has_seq);
  ASSERT_EQ(1, ma.live);
  ASSERT_EQ(1, mb.live);
  ASSERT_OK(other_stream.status);
  ASSERT(!other_stream.has_seq);

  kn_conf_close(&loop, a);
  kn_conf_close_all(&loop, b);
}


/* ---- leases in parts ---- */


/* More shards than one part of a leases call holds (1,000): three parts. */
#define MANY 2500

static char g_many_names[MANY][32];
static const char* g_many_ids[MANY];


/* MANY distinct shard ids, "shardId-000000000000" up. */
static void many_ids_init(void) {
  int i;
  for (i = 0; i < MANY; i++) {
    snprintf(g_many_names[i], sizeof(g_many_names[i]), "shardId-%012d", i);
    g_many_ids[i] = g_many_names[i];
  }
}


/* Keys of an application's stream, counted with KEYS (a test's Redis). */
static size_t count_keys(redisContext* rc, const char* app) {
  char pattern[128];
  redisReply* r;
  size_t n;
  snprintf(pattern, sizeof(pattern), "kinesis:{%s:orders}:*", app);
  r = sync_cmd(rc, "KEYS %s", pattern);
  ASSERT_EQ(REDIS_REPLY_ARRAY, r->type);
  n = r->elements;
  freeReplyObject(r);
  return n;
}


/* The states test_leases_many gives its shards, by index modulo ST_N. */
enum {
  ST_HELD,     /* claimed by one of three owners */
  ST_RELEASED, /* claimed, checkpointed, released */
  ST_FINISHED, /* claimed, finished */
  ST_UNKNOWN,  /* never seen */
  ST_EXPIRED,  /* a hash whose lease expired long ago (written here) */
  ST_SEQ_ONLY, /* a hash with a checkpoint and no lease (written here) */
  ST_N
};


/* 2,500 answers from one call, in three parts, each checked against the
 * state its shard was given, with ids repeated across the parts. */
static void test_leases_many(void) {
  enum { DISTINCT = 2200 };
  static const char* const owners[] = {"owner-0", "owner-1", "owner-2"};
  static const char* ids[MANY];
  static kn_conf_state_t claims[DISTINCT];
  static kn_conf_plain_t writes[DISTINCT][2];
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  kn_conf_leases_t l = {0};
  char key[96];
  size_t keys_before;
  int i, j;

  memset(claims, 0, sizeof(claims));
  memset(writes, 0, sizeof(writes));
  many_ids_init();
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "many", 60000);
  rc = sync_connect();
  for (i = 0; i < DISTINCT; i++) {
    const char* id = g_many_ids[i];
    snprintf(key, sizeof(key), "kinesis:{many:orders}:shard:%s", id);
    switch (i % ST_N) {
      case ST_HELD:
        ASSERT_OK(kn_conf_claim(cp, id, owners[i % 3], &claims[i]));
        break;
      case ST_RELEASED:
        ASSERT_OK(kn_conf_claim(cp, id, "A", &claims[i]));
        ASSERT_OK(kn_conf_checkpoint(cp, id, "A", "5", 0, 0, &writes[i][0]));
        ASSERT_OK(kn_conf_release(cp, id, "A", &writes[i][1]));
        break;
      case ST_FINISHED:
        ASSERT_OK(kn_conf_claim(cp, id, "A", &claims[i]));
        ASSERT_OK(kn_conf_finish(cp, id, "A", &writes[i][0]));
        break;
      case ST_EXPIRED:
        ASSERT_EQ(3,
                  sync_int(rc, "HSET %s owner ghost expires_ms 1 seq 9", key));
        break;
      case ST_SEQ_ONLY:
        ASSERT_EQ(1, sync_int(rc, "HSET %s seq 7", key));
        break;
    }
  }
  kn_conf_settle(&loop);
  for (i = 0; i < DISTINCT; i++) {
    if (claims[i].calls > 0)
      ASSERT_ANSWERED(claims[i], 0);
    for (j = 0; j < 2; j++)
      if (writes[i][j].calls > 0)
        ASSERT_ANSWERED(writes[i][j], 0);
  }

  /* The first 300 ids again at the end, across the parts' borders. */
  for (j = 0; j < MANY; j++)
    ids[j] = g_many_ids[j < DISTINCT ? j : j - DISTINCT];
  keys_before = count_keys(rc, "many");
  ASSERT_OK(kn_conf_leases(cp, ids, MANY, &l));
  kn_conf_settle(&loop);
  ASSERT_EQ(1, l.calls);
  ASSERT_EQ(MANY, l.n);
  for (j = 0; j < MANY; j++) {
    i = j < DISTINCT ? j : j - DISTINCT;
    switch (i % ST_N) {
      case ST_HELD:
        kn_conf_expect_lease(&l, (size_t) j, owners[i % 3], 0, 1);
        break;
      case ST_RELEASED:
      case ST_EXPIRED:
      case ST_SEQ_ONLY:
        kn_conf_expect_lease(&l, (size_t) j, NULL, 0, 1);
        break;
      case ST_FINISHED:
        kn_conf_expect_lease(&l, (size_t) j, NULL, 1, 1);
        break;
      case ST_UNKNOWN:
        kn_conf_expect_lease(&l, (size_t) j, NULL, 0, 0);
        break;
    }
  }
  /* Read only: no key was made for the unknown shards. */
  ASSERT_EQ(keys_before, count_keys(rc, "many"));
  kn_conf_leases_free(&l);

  redisFree(rc);
  kn_conf_close_all(&loop, cp);
}


/* A part that fails fails the call, once; scripts flushed from the server
 * are sent again, part by part. */
static void test_leases_errors(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  kn_conf_state_t c = {0}, g = {0};
  kn_conf_leases_t l_bad = {0}, l = {0};
  char key[96];
  int i;

  many_ids_init();
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "leases-errors", 0);
  rc = sync_connect();

  /* The second part meets a key that is not a hash (WRONGTYPE); the other
   * two are fine. */
  snprintf(key, sizeof(key), "kinesis:{leases-errors:orders}:shard:%s",
           g_many_ids[1500]);
  sync_ok(rc, "SET %s %s", key, "x");
  ASSERT_OK(kn_conf_claim(cp, g_many_ids[0], "A", &c));
  ASSERT_OK(kn_conf_leases(cp, g_many_ids, MANY, &l_bad));
  ASSERT_OK(kn_conf_get(cp, g_many_ids[0], &g));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c, 0);
  ASSERT_ANSWERED(l_bad, KINESIS_ESTORE);
  ASSERT_EQ(0, l_bad.n);
  ASSERT_ANSWERED(g, 0);
  ASSERT_LT(c.order, l_bad.order);
  ASSERT_LT(l_bad.order, g.order);

  /* The scripts are gone: each part gets NOSCRIPT and goes again with
   * EVAL, and the parts still make one answer. */
  ASSERT_EQ(1, sync_int(rc, "DEL %s", key));
  sync_ok(rc, "SCRIPT FLUSH");
  ASSERT_OK(kn_conf_leases(cp, g_many_ids, MANY, &l));
  kn_conf_settle(&loop);
  ASSERT_EQ(1, l.calls);
  ASSERT_EQ(MANY, l.n);
  kn_conf_expect_lease(&l, 0, "A", 0, 1);
  for (i = 1; i < MANY; i++)
    kn_conf_expect_lease(&l, (size_t) i, NULL, 0, 0);
  kn_conf_leases_free(&l);

  redisFree(rc);
  kn_conf_close_all(&loop, cp);
}


typedef struct {
  kn_conf_leases_t* pending;
  int closed;
} in_flight_close_t;


static void on_in_flight_closed(void* data, int status, void* arg) {
  in_flight_close_t* x = arg;
  /* 0: the cancelled call says what was not done. */
  ASSERT_OK(status);
  ASSERT_OK(kinesis_client_close(data, NULL, NULL));
  /* Answered before the close callback, once. */
  ASSERT_EQ(1, x->pending->calls);
  x->closed++;
}


/* Closed while the three parts of a call are with Redis: the call is
 * cancelled, once. */
static void test_leases_close_in_flight(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0};
  kn_conf_leases_t l = {0};
  in_flight_close_t x;
  int limit = 1;

  many_ids_init();
  memset(&x, 0, sizeof(x));
  x.pending = &l;
  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "leases-close", 0);
  /* Connected: the parts are sent as soon as the call is made. */
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(c, 0);

  ASSERT_OK(kn_conf_leases(cp, g_many_ids, MANY, &l));
  kinesis_checkpointer_close(cp, on_in_flight_closed, &x);
  ASSERT_EQ(0, l.calls);
  redis_store.run_until(&loop, &x.closed, &limit, KN_CONF_SETTLE_MS);
  ASSERT_EQ(1, x.closed);
  ASSERT_ANSWERED(l, KINESIS_ECANCELED);
  ASSERT_EQ(0, l.n);
  kn_test_loop_close(&loop);
}


/* ---- The server's failures ---- */


/* A Redis error reply is KINESIS_ESTORE; a script flushed from the server's
 * cache is sent again with EVAL. */
static void test_store_errors(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  kn_conf_state_t c = {0}, g_bad = {0}, c2 = {0}, g = {0}, g2 = {0};
  kn_conf_plain_t hb = {0}, ck = {0};
  kn_conf_members_t m = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "errors", 0);
  rc = sync_connect();

  /* Not a hash: WRONGTYPE from the script and from HMGET. */
  sync_ok(rc, "SET %s %s", "kinesis:{errors:orders}:shard:bad", "x");
  ASSERT_OK(kn_conf_claim(cp, "bad", "A", &c));
  ASSERT_OK(kn_conf_get(cp, "bad", &g_bad));
  ASSERT_OK(kn_conf_heartbeat(cp, "bad", "A", &hb));
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, c.status);
  ASSERT(!c.has_seq);
  ASSERT_EQ(KINESIS_ESTORE, g_bad.status);
  ASSERT_EQ(KINESIS_ESTORE, hb.status);

  /* The scripts are gone: every operation still works, and the answers
   * come in the order of the calls, though the get (no script) overtakes
   * the others' second sends. */
  sync_ok(rc, "SCRIPT FLUSH");
  ASSERT_OK(kn_conf_claim(cp, "good", "A", &c2));
  ASSERT_OK(kn_conf_checkpoint(cp, "good", "A", "5", 0, 0, &ck));
  ASSERT_OK(kn_conf_member(cp, "A", 0, &m));
  ASSERT_OK(kn_conf_get(cp, "good", &g));
  kn_conf_settle(&loop);
  ASSERT_OK(c2.status);
  ASSERT_OK(ck.status);
  ASSERT_OK(m.status);
  ASSERT_EQ(1, m.live);
  ASSERT_OK(g.status);
  ASSERT_LT(c2.order, ck.order);
  ASSERT_LT(ck.order, m.order);
  ASSERT_LT(m.order, g.order);
  ASSERT_OK(kn_conf_get(cp, "good", &g2));
  kn_conf_settle(&loop);
  ASSERT_OK(g2.status);
  ASSERT_STR_EQ("5", g2.seq);

  redisFree(rc);
  kn_conf_close_all(&loop, cp);
}


/* Claims until the answer is not KINESIS_ESTORE (the checkpointer
 * reconnected), at most `limit_ms`. Returns the status. */
static int claim_until_connected(uv_loop_t* loop, kinesis_checkpointer_t* cp,
                                 const char* shard, const char* owner,
                                 uint64_t limit_ms) {
  uint64_t start;
  uv_update_time(loop);
  start = uv_now(loop);
  for (;;) {
    kn_conf_state_t r = {0};
    ASSERT_OK(kn_conf_claim(cp, shard, owner, &r));
    kn_conf_settle(loop);
    ASSERT_EQ(1, r.calls);
    if (r.status != KINESIS_ESTORE || uv_now(loop) - start > limit_ms)
      return r.status;
    kn_conf_wait_ms(loop, 50);
  }
}


static void test_restart(void) {
  static const char* const restart_ids[] = {"s"};
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t c = {0}, in_flight = {0}, down = {0}, g_down = {0}, g = {0};
  kn_conf_plain_t hb_down = {0}, ck = {0};
  kn_conf_members_t m_down = {0};
  kn_conf_leases_t l_in_flight = {0}, l_down = {0}, l_back = {0};
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  many_ids_init();
  cp = make(&loop, "restart", 0);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  kn_conf_settle(&loop);
  ASSERT_OK(c.status);

  /* Sent (on the next loop turn) to a server that is gone. hiredis writes
   * to a closed socket: no SIGPIPE may kill the process. */
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &hb_down));
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &in_flight));
  /* In several parts: the lost connection answers it once. */
  ASSERT_OK(kn_conf_leases(cp, g_many_ids, MANY, &l_in_flight));
  redis_ctl("stop");
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, hb_down.status);
  ASSERT_EQ(KINESIS_ESTORE, in_flight.status);
  ASSERT_ANSWERED(l_in_flight, KINESIS_ESTORE);
  ASSERT_EQ(0, l_in_flight.n);

  /* While it is down: between attempts and during them, every operation
   * fails, later. */
  for (i = 0; i < 5; i++) {
    memset(&down, 0, sizeof(down));
    memset(&g_down, 0, sizeof(g_down));
    memset(&m_down, 0, sizeof(m_down));
    memset(&l_down, 0, sizeof(l_down));
    ASSERT_OK(kn_conf_claim(cp, "s", "A", &down));
    ASSERT_OK(kn_conf_get(cp, "s", &g_down));
    ASSERT_OK(kn_conf_member(cp, "A", 0, &m_down));
    ASSERT_OK(kn_conf_leases(cp, g_many_ids, 2, &l_down));
    kn_conf_settle(&loop);
    ASSERT_ANSWERED(l_down, KINESIS_ESTORE);
    ASSERT_EQ(KINESIS_ESTORE, down.status);
    ASSERT(!down.has_seq);
    ASSERT_EQ(KINESIS_ESTORE, g_down.status);
    ASSERT_EQ(KINESIS_ESTORE, m_down.status);
    ASSERT_EQ(0, m_down.live);
    kn_conf_wait_ms(&loop, 100);
  }

  /* Back: the checkpointer reconnects by itself (this Redis keeps no data
   * across restarts, so whatever the claim finds is not checked). */
  redis_ctl("start");
  ASSERT_OK(claim_until_connected(&loop, cp, "s", "A", 10000));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "77", 0, 0, &ck));
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  ASSERT_OK(kn_conf_leases(cp, restart_ids, 1, &l_back));
  kn_conf_settle(&loop);
  ASSERT_OK(ck.status);
  ASSERT_OK(g.status);
  ASSERT_STR_EQ("77", g.seq);
  kn_conf_expect_lease(&l_back, 0, "A", 0, 1);
  kn_conf_leases_free(&l_back);

  kn_conf_close_all(&loop, cp);
}


/* A server that accepts the connection and never answers: the attempt
 * times out after connect_timeout_ms and the operations fail. */
static void test_connect_timeout(void) {
  uv_loop_t loop;
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp;
  struct sockaddr_in sa;
  socklen_t salen = sizeof(sa);
  char url[64];
  kn_conf_state_t c = {0};
  uint64_t start;
  int fd;

  /* Listening, never accepting: the kernel completes the handshake. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(bind(fd, (struct sockaddr*) &sa, sizeof(sa)));
  ASSERT_OK(listen(fd, 16));
  ASSERT_OK(getsockname(fd, (struct sockaddr*) &sa, &salen));
  snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sa.sin_port));

  ASSERT_OK(uv_loop_init(&loop));
  opts_init(&o, "timeout", 0);
  o.url = url;
  o.connect_timeout_ms = 300;
  uv_update_time(&loop);
  start = uv_now(&loop);
  cp = make_opts(&loop, &o);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  kn_conf_settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, c.status);
  ASSERT_GE(uv_now(&loop) - start, 300);
  ASSERT_LT(uv_now(&loop) - start, 5000);
  kn_conf_close_all(&loop, cp);
  close(fd);
}


static void test_auth(void) {
  uv_loop_t loop;
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* with_pw;
  kinesis_checkpointer_t* without_pw;
  kinesis_checkpointer_t* wrong_pw;
  kinesis_checkpointer_t* acl_user;
  redisContext* rc;
  kn_conf_state_t a = {0}, b = {0}, w = {0}, u = {0};
  char url[128];

  rc = sync_connect();
  /* This connection stays authenticated after requirepass is set. */
  sync_ok(rc, "ACL SETUSER kn-user on >pw-2 ~* &* +@all");
  sync_ok(rc, "CONFIG SET requirepass %s", "x");

  ASSERT_OK(uv_loop_init(&loop));
  opts_init(&o, "auth", 0);
  snprintf(url, sizeof(url), "redis://:x@127.0.0.1:%d", g_port);
  o.url = url;
  with_pw = make_opts(&loop, &o);
  o.url = g_url;
  without_pw = make_opts(&loop, &o);
  snprintf(url, sizeof(url), "redis://:wrong@127.0.0.1:%d", g_port);
  o.url = url;
  wrong_pw = make_opts(&loop, &o);
  /* A user and its password: AUTH user password. */
  snprintf(url, sizeof(url), "redis://kn-user:pw-2@127.0.0.1:%d", g_port);
  o.url = url;
  acl_user = make_opts(&loop, &o);

  ASSERT_OK(kn_conf_claim(with_pw, "s", "A", &a));
  ASSERT_OK(kn_conf_claim(without_pw, "t", "B", &b));
  ASSERT_OK(kn_conf_claim(wrong_pw, "t", "B", &w));
  ASSERT_OK(kn_conf_claim(acl_user, "u", "C", &u));
  kn_conf_settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_EQ(KINESIS_ESTORE, b.status);
  ASSERT_EQ(KINESIS_ESTORE, w.status);
  ASSERT_OK(u.status);

  kn_conf_close(&loop, with_pw);
  kn_conf_close(&loop, without_pw);
  kn_conf_close(&loop, wrong_pw);
  kn_conf_close(&loop, acl_user);
  kn_test_loop_close(&loop);

  sync_ok(rc, "CONFIG SET requirepass %s", "");
  ASSERT_EQ(1, sync_int(rc, "ACL DELUSER kn-user"));
  redisFree(rc);
}


static void test_select(void) {
  static const char key[] = "kinesis:{select:orders}:shard:s";
  uv_loop_t loop;
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp;
  kinesis_checkpointer_t* bad_db;
  redisContext* rc;
  kn_conf_state_t c = {0}, bad = {0};
  kn_conf_plain_t ck = {0};
  char url[128];

  ASSERT_OK(uv_loop_init(&loop));
  opts_init(&o, "select", 0);
  snprintf(url, sizeof(url), "%s/3", g_url);
  o.url = url;
  cp = make_opts(&loop, &o);
  /* Far beyond the 16 databases of a default server: SELECT fails. */
  snprintf(url, sizeof(url), "%s/999999", g_url);
  o.url = url;
  bad_db = make_opts(&loop, &o);

  ASSERT_OK(kn_conf_claim(cp, "s", "A", &c));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "3", 0, 0, &ck));
  ASSERT_OK(kn_conf_claim(bad_db, "s", "A", &bad));
  kn_conf_settle(&loop);
  ASSERT_OK(c.status);
  ASSERT_OK(ck.status);
  ASSERT_EQ(KINESIS_ESTORE, bad.status);

  rc = sync_connect();
  ASSERT_EQ(0, sync_int(rc, "EXISTS %s", key));
  sync_ok(rc, "SELECT 3");
  ASSERT_EQ(1, sync_int(rc, "EXISTS %s", key));
  redisFree(rc);

  kn_conf_close(&loop, bad_db);
  kn_conf_close_all(&loop, cp);
}


KN_CONF_MAIN(&redis_store, KN_TEST(test_options), KN_TEST(test_key_schema),
             KN_TEST(test_two_instances), KN_TEST(test_app_namespace),
             KN_TEST(test_store_errors), KN_TEST(test_connect_timeout),
             KN_TEST(test_auth), KN_TEST(test_select),
             KN_TEST(test_leases_many), KN_TEST(test_leases_errors),
             KN_TEST(test_leases_close_in_flight), KN_TEST(test_restart))
