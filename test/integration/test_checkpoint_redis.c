/* The Redis checkpointer against a real redis-server, started by
 * test/with-redis.sh (KINESIS_TEST_REDIS_URL, _PORT and _CTL). The cases
 * follow test/unit/test_checkpoint_memory.c, plus what only a server has:
 * several connections, the key schema, auth, SELECT, errors, restarts.
 *
 * The checkpointer's connection keeps the loop alive until it is closed, so
 * the tests run the loop until the answers they expect have arrived
 * (settle), never until it is empty. */

#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "internal.h"
#include "kinesis/checkpoint.h"


#define STREAM "orders"
#define SEQ_A "49590338271490256608559692538361571095921575989136588898"
#define SEQ_B "49590338271490256608559692540925702759324208523137515618"

/* How long any expected answer may take. */
#define SETTLE_MS 15000


static const char* g_url;
static int g_port;
static const char* g_ctl;

/* Set around every call into the checkpointer: a callback that finds it set
 * ran synchronously. */
static int g_in_call;
/* Numbers callbacks in the order they ran, to check FIFO delivery. */
static int g_order;
/* Operations accepted (returned 0) and answers received: settle() runs the
 * loop until they match. */
static int g_issued;
static int g_answered;


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


/* ---- Callbacks and wrappers ---- */


static void on_state(int status, const kinesis_checkpoint_t* ck, void* arg) {
  state_res_t* r = arg;
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


static void on_plain(int status, void* arg) {
  plain_res_t* r = arg;
  ASSERT(!g_in_call);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
}


static void on_members(int status, uint32_t live, void* arg) {
  members_res_t* r = arg;
  ASSERT(!g_in_call);
  g_answered++;
  r->calls++;
  r->status = status;
  r->order = ++g_order;
  r->live = live;
}


/* Each wrapper marks the call, checks that no callback ran inside it, and
 * counts an accepted operation. */
#define WRAP_END(res)              \
  g_in_call = 0;                   \
  ASSERT_EQ(before, (res)->calls); \
  if (r == 0)                      \
    g_issued++;                    \
  return r


static int claim_on(kinesis_checkpointer_t* cp, const char* stream,
                    const char* shard, const char* owner, state_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->claim(cp->self, stream, shard, owner, on_state, res);
  WRAP_END(res);
}


static int claim(kinesis_checkpointer_t* cp, const char* shard,
                 const char* owner, state_res_t* res) {
  return claim_on(cp, STREAM, shard, owner, res);
}


static int get(kinesis_checkpointer_t* cp, const char* shard,
               state_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->get(cp->self, STREAM, shard, on_state, res);
  WRAP_END(res);
}


static int heartbeat(kinesis_checkpointer_t* cp, const char* shard,
                     const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->heartbeat(cp->self, STREAM, shard, owner, on_plain, res);
  WRAP_END(res);
}


static int checkpoint_full(kinesis_checkpointer_t* cp, const char* shard,
                           const char* owner, const char* seq, uint32_t sub,
                           int partial, int finished, plain_res_t* res) {
  kinesis_checkpoint_t pos;
  int before = res->calls;
  int r;
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = seq;
  pos.sub_sequence_number = sub;
  pos.partial = partial;
  pos.finished = finished;
  g_in_call = 1;
  r = cp->ops->checkpoint(cp->self, STREAM, shard, owner, &pos, on_plain, res);
  WRAP_END(res);
}


static int checkpoint(kinesis_checkpointer_t* cp, const char* shard,
                      const char* owner, const char* seq, uint32_t sub,
                      int partial, plain_res_t* res) {
  return checkpoint_full(cp, shard, owner, seq, sub, partial, 0, res);
}


static int finish(kinesis_checkpointer_t* cp, const char* shard,
                  const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->finish(cp->self, STREAM, shard, owner, on_plain, res);
  WRAP_END(res);
}


static int release(kinesis_checkpointer_t* cp, const char* shard,
                   const char* owner, plain_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->release(cp->self, STREAM, shard, owner, on_plain, res);
  WRAP_END(res);
}


static int member_on(kinesis_checkpointer_t* cp, const char* stream,
                     const char* owner, int leaving, members_res_t* res) {
  int before = res->calls;
  int r;
  g_in_call = 1;
  r = cp->ops->member(cp->self, stream, owner, leaving, on_members, res);
  WRAP_END(res);
}


static int member(kinesis_checkpointer_t* cp, const char* owner, int leaving,
                  members_res_t* res) {
  return member_on(cp, STREAM, owner, leaving, res);
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
static void run_until_var(uv_loop_t* loop, const int* count, const int* target,
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


static void run_until(uv_loop_t* loop, const int* count, int target,
                      uint64_t limit_ms) {
  run_until_var(loop, count, &target, limit_ms);
}


/* Runs the loop until every accepted operation was answered. */
static void settle(uv_loop_t* loop) {
  run_until_var(loop, &g_answered, &g_issued, SETTLE_MS);
  ASSERT_EQ(g_issued, g_answered);
}


/* Runs the loop for at least `ms` milliseconds. */
static void wait_ms(uv_loop_t* loop, uint64_t ms) {
  uv_timer_t t;
  int fired = 0, closed = 0;
  ASSERT_OK(uv_timer_init(loop, &t));
  t.data = &fired;
  ASSERT_OK(uv_timer_start(&t, on_tick, ms, 0));
  while (!fired)
    uv_run(loop, UV_RUN_ONCE);
  t.data = &closed;
  uv_close((uv_handle_t*) &t, on_tick_closed);
  while (!closed)
    uv_run(loop, UV_RUN_ONCE);
}


static void on_closed(void* arg) {
  int* n = arg;
  ASSERT(!g_in_call);
  (*n)++;
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
  ASSERT_OK(kinesis_checkpointer_redis_new(loop, o, &cp));
  ASSERT_NOT_NULL(cp);
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


/* Closes `cp` and checks the close callback runs once and later. */
static void close_cp(uv_loop_t* loop, kinesis_checkpointer_t* cp) {
  int closed = 0;
  g_in_call = 1;
  kinesis_checkpointer_close(cp, on_closed, &closed);
  g_in_call = 0;
  ASSERT_EQ(0, closed);
  run_until(loop, &closed, 1, SETTLE_MS);
  ASSERT_EQ(1, closed);
}


static void close_all(uv_loop_t* loop, kinesis_checkpointer_t* cp) {
  close_cp(loop, cp);
  ASSERT_EQ(g_issued, g_answered);
  /* Every handle is closed: the loop runs dry, and closes. */
  kn_test_loop_close(loop);
}


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
  opts_init(&o, "app", 0);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(NULL, &o, &cp));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, NULL));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, NULL, &cp));
  o.url = NULL;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  for (i = 0; i < KN_ARRAY_SIZE(bad_urls); i++) {
    o.url = bad_urls[i];
    if (kinesis_checkpointer_redis_new(&loop, &o, &cp) != KINESIS_EINVAL) {
      fprintf(stderr, "accepted %s\n", bad_urls[i]);
      ASSERT(0);
    }
  }
  opts_init(&o, NULL, 0);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  o.app_name = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  o.app_name = "a:b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  o.app_name = "a{b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  o.app_name = "a}b";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  opts_init(&o, "app", 0);
  o.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  opts_init(&o, "app", 0);
  o.connect_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  opts_init(&o, "app", 0);
  o.reconnect_min_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  opts_init(&o, "app", 0);
  o.reconnect_min_ms = 500;
  o.reconnect_max_ms = 499;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(&loop, &o, &cp));
  /* Every refusal left *out alone. */
  ASSERT(cp == sentinel);

  for (i = 0; i < KN_ARRAY_SIZE(good_urls); i++) {
    opts_init(&o, "app", 0);
    o.url = good_urls[i];
    o.connect_timeout_ms = 200;
    if (kinesis_checkpointer_redis_new(&loop, &o, &cp) != 0) {
      fprintf(stderr, "refused %s\n", good_urls[i]);
      ASSERT(0);
    }
    ASSERT(cp != sentinel);
    close_cp(&loop, cp);
  }
  kn_test_loop_close(&loop);
}


static void test_round_trip(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c1 = {0}, c2 = {0}, g1 = {0}, g2 = {0};
  plain_res_t hb = {0}, ck = {0};
  char seq[] = SEQ_A;

  ASSERT_OK(uv_loop_init(&loop));
  /* Operations called at once wait for the connection. */
  cp = make(&loop, "round-trip", 0);

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
  settle(&loop);

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
  cp = make(&loop, "expiry", 300);

  ASSERT_OK(claim(cp, "s", "A", &a));
  ASSERT_OK(checkpoint(cp, "s", "A", "100", 0, 0, &ack));
  /* The lease is live: B is refused but learns the position. */
  ASSERT_OK(claim(cp, "s", "B", &b1));
  settle(&loop);
  ASSERT_EQ(1, a.calls);
  ASSERT_OK(a.status);
  ASSERT_EQ(1, ack.calls);
  ASSERT_OK(ack.status);
  ASSERT_EQ(1, b1.calls);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  ASSERT_STR_EQ("100", b1.seq);
  ASSERT_EQ(0, b1.finished);

  /* A stops heartbeating; after the session timeout B takes over. */
  wait_ms(&loop, 500);
  ASSERT_OK(claim(cp, "s", "B", &b2));
  /* A is fenced off: nothing it does lands. */
  ASSERT_OK(heartbeat(cp, "s", "A", &ahb));
  ASSERT_OK(checkpoint(cp, "s", "A", "200", 0, 0, &ack2));
  ASSERT_OK(get(cp, "s", &g1));
  ASSERT_OK(release(cp, "s", "A", &arel));
  ASSERT_OK(finish(cp, "s", "A", &afin));
  ASSERT_OK(checkpoint(cp, "s", "B", "300", 0, 0, &bck));
  ASSERT_OK(get(cp, "s", &g2));
  settle(&loop);

  ASSERT_EQ(1, b2.calls);
  ASSERT_OK(b2.status);
  ASSERT_STR_EQ("100", b2.seq);
  ASSERT_EQ(1, ahb.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, ahb.status);
  ASSERT_EQ(1, ack2.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, ack2.status);
  /* A's refused checkpoint left the stored position alone. */
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
  state_res_t a = {0}, b1 = {0}, b2 = {0};
  plain_res_t hb = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "heartbeat", 1000);

  ASSERT_OK(claim(cp, "s", "A", &a));
  settle(&loop);
  ASSERT_OK(a.status);
  wait_ms(&loop, 600);
  ASSERT_OK(heartbeat(cp, "s", "A", &hb));
  settle(&loop);
  ASSERT_OK(hb.status);
  wait_ms(&loop, 600);
  /* 1200 ms since the claim, 600 since the heartbeat: still A's. */
  ASSERT_OK(claim(cp, "s", "B", &b1));
  settle(&loop);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  /* Without more heartbeats it expires. */
  wait_ms(&loop, 600);
  ASSERT_OK(claim(cp, "s", "B", &b2));
  settle(&loop);
  ASSERT_OK(b2.status);

  close_all(&loop, cp);
}


static void test_partial_aggregate(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t a = {0}, g1 = {0}, g2 = {0}, c2 = {0};
  plain_res_t ck1 = {0}, ck2 = {0}, rel = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "partial", 0);

  ASSERT_OK(claim(cp, "s", "A", &a));
  /* User records 0..3 of the aggregate SEQ_A are done. */
  ASSERT_OK(checkpoint(cp, "s", "A", SEQ_A, 3, 1, &ck1));
  ASSERT_OK(get(cp, "s", &g1));
  ASSERT_OK(release(cp, "s", "A", &rel));
  /* Whoever takes over resumes inside the aggregate. */
  ASSERT_OK(claim(cp, "s", "B", &c2));
  ASSERT_OK(checkpoint(cp, "s", "B", SEQ_B, 0, 0, &ck2));
  ASSERT_OK(get(cp, "s", &g2));
  settle(&loop);

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
  state_res_t a = {0}, g = {0}, b = {0}, g_other = {0}, c = {0}, gc = {0};
  plain_res_t ck = {0}, fin = {0}, hb = {0}, fin2 = {0}, ckc = {0};
  char big[129];

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "finish", 0);

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
  /* checkpoint ignores `finished`; a 128-digit sequence number is kept
   * whole (it is never a number to Lua). */
  memset(big, '7', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  ASSERT_OK(claim(cp, "child", "C", &c));
  ASSERT_OK(checkpoint_full(cp, "child", "C", big, 0, 0, 1, &ckc));
  ASSERT_OK(get(cp, "child", &gc));
  settle(&loop);

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
  ASSERT_OK(c.status);
  ASSERT_OK(ckc.status);
  ASSERT_OK(gc.status);
  ASSERT_STR_EQ(big, gc.seq);
  ASSERT_EQ(0, gc.finished);

  close_all(&loop, cp);
}


static void test_release_then_claim(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  state_res_t a = {0}, b = {0};
  plain_res_t ck = {0}, rel = {0}, rel_again = {0}, rel_unknown = {0};
  plain_res_t rel_b = {0}, hb_unknown = {0}, ck_unknown = {0};
  plain_res_t fin_unknown = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "release", 60000);

  ASSERT_OK(claim(cp, "s", "A", &a));
  ASSERT_OK(checkpoint(cp, "s", "A", "5", 0, 0, &ck));
  ASSERT_OK(release(cp, "s", "A", &rel));
  /* Releasing what one does not hold is reported. */
  ASSERT_OK(release(cp, "s", "A", &rel_again));
  ASSERT_OK(release(cp, "nope", "A", &rel_unknown));
  ASSERT_OK(heartbeat(cp, "nope", "A", &hb_unknown));
  ASSERT_OK(checkpoint(cp, "nope", "A", "1", 0, 0, &ck_unknown));
  ASSERT_OK(finish(cp, "nope", "A", &fin_unknown));
  /* No need to wait for the 60 s timeout. */
  ASSERT_OK(claim(cp, "s", "B", &b));
  ASSERT_OK(release(cp, "s", "B", &rel_b));
  settle(&loop);

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
  ASSERT_EQ(1, fin_unknown.calls);
  ASSERT_EQ(KINESIS_ELEASELOST, fin_unknown.status);
  ASSERT_EQ(1, b.calls);
  ASSERT_OK(b.status);
  ASSERT_STR_EQ("5", b.seq);
  ASSERT_EQ(1, rel_b.calls);
  ASSERT_OK(rel_b.status);

  /* Nothing was written for the shard nobody held. */
  rc = sync_connect();
  ASSERT_EQ(0,
            sync_int(rc, "EXISTS %s", "kinesis:{release:orders}:shard:nope"));
  ASSERT_EQ(1, sync_int(rc, "EXISTS %s", "kinesis:{release:orders}:shard:s"));
  redisFree(rc);

  close_all(&loop, cp);
}


/* The documented keys and fields (docs/checkpointers.md). */
static void test_key_schema(void) {
  static const char key[] = "kinesis:{schema:orders}:shard:shardId-1";
  static const char members_key[] = "kinesis:{schema:orders}:members";
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  redisReply* r;
  state_res_t a = {0};
  plain_res_t ck = {0}, fin = {0};
  members_res_t m = {0};
  long long now, expires, updated;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "schema", 5000);
  rc = sync_connect();

  ASSERT_OK(claim(cp, "shardId-1", "owner-1", &a));
  ASSERT_OK(checkpoint(cp, "shardId-1", "owner-1", SEQ_A, 7, 1, &ck));
  ASSERT_OK(member(cp, "owner-1", 0, &m));
  settle(&loop);
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
  ASSERT_STR_EQ(SEQ_A, r->element[2]->str);
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

  ASSERT_OK(finish(cp, "shardId-1", "owner-1", &fin));
  settle(&loop);
  ASSERT_OK(fin.status);
  r = sync_cmd(rc, "HMGET %s owner expires_ms seq finished", key);
  ASSERT_EQ(REDIS_REPLY_NIL, r->element[0]->type);
  ASSERT_EQ(REDIS_REPLY_NIL, r->element[1]->type);
  ASSERT_STR_EQ(SEQ_A, r->element[2]->str);
  ASSERT_STR_EQ("1", r->element[3]->str);
  freeReplyObject(r);

  redisFree(rc);
  close_all(&loop, cp);
}


static void test_members(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  members_res_t a1 = {0}, b1 = {0}, a2 = {0}, b_leave = {0}, b_leave2 = {0};
  members_res_t other = {0}, a_leave = {0}, empty = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "members", 0);

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
  settle(&loop);

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
  members_res_t a1 = {0}, b1 = {0}, a2 = {0}, c1 = {0}, b2 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "members-expire", 1000);

  ASSERT_OK(member(cp, "A", 0, &a1));
  ASSERT_OK(member(cp, "B", 0, &b1));
  settle(&loop);
  ASSERT_EQ(2, b1.live);

  /* A keeps calling, B goes silent: after the session timeout only A (and
   * the caller) count. */
  wait_ms(&loop, 600);
  ASSERT_OK(member(cp, "A", 0, &a2));
  settle(&loop);
  ASSERT_EQ(2, a2.live);
  wait_ms(&loop, 600);
  ASSERT_OK(member(cp, "C", 0, &c1));
  settle(&loop);
  ASSERT_OK(c1.status);
  ASSERT_EQ(2, c1.live);

  /* B comes back: it is counted again. */
  ASSERT_OK(member(cp, "B", 0, &b2));
  settle(&loop);
  ASSERT_EQ(3, b2.live);

  close_all(&loop, cp);
}


/* Two checkpointers, two connections, one application: they share leases
 * and memberships as two processes would. */
static void test_two_instances(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp1;
  kinesis_checkpointer_t* cp2;
  state_res_t a = {0}, b1 = {0}, b2 = {0}, g = {0};
  plain_res_t ck = {0}, rel = {0}, ck_lost = {0};
  members_res_t m1 = {0}, m2 = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp1 = make(&loop, "shared", 0);
  cp2 = make(&loop, "shared", 0);

  ASSERT_OK(claim(cp1, "s", "one", &a));
  ASSERT_OK(checkpoint(cp1, "s", "one", "11", 0, 0, &ck));
  ASSERT_OK(member(cp1, "one", 0, &m1));
  settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_OK(ck.status);
  ASSERT_EQ(1, m1.live);

  ASSERT_OK(claim(cp2, "s", "two", &b1));
  ASSERT_OK(get(cp2, "s", &g));
  ASSERT_OK(member(cp2, "two", 0, &m2));
  settle(&loop);
  ASSERT_EQ(KINESIS_ELEASED, b1.status);
  ASSERT_STR_EQ("11", b1.seq);
  ASSERT_STR_EQ("11", g.seq);
  ASSERT_EQ(2, m2.live);

  ASSERT_OK(release(cp1, "s", "one", &rel));
  settle(&loop);
  ASSERT_OK(rel.status);
  ASSERT_OK(claim(cp2, "s", "two", &b2));
  settle(&loop);
  ASSERT_OK(b2.status);
  ASSERT_STR_EQ("11", b2.seq);
  ASSERT_OK(checkpoint(cp1, "s", "one", "12", 0, 0, &ck_lost));
  settle(&loop);
  ASSERT_EQ(KINESIS_ELEASELOST, ck_lost.status);

  close_cp(&loop, cp1);
  close_all(&loop, cp2);
}


/* Keys are namespaced by application: app A's lease does not block app B,
 * nor does A's checkpoint or membership show in B. */
static void test_app_namespace(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* a;
  kinesis_checkpointer_t* b;
  state_res_t ca = {0}, cb = {0}, gb = {0}, other_stream = {0};
  plain_res_t cka = {0};
  members_res_t ma = {0}, mb = {0};

  ASSERT_OK(uv_loop_init(&loop));
  a = make(&loop, "app-a", 0);
  b = make(&loop, "app-b", 0);

  ASSERT_OK(claim(a, "s", "X", &ca));
  ASSERT_OK(checkpoint(a, "s", "X", "99", 0, 0, &cka));
  ASSERT_OK(member(a, "X", 0, &ma));
  settle(&loop);
  ASSERT_OK(ca.status);
  ASSERT_OK(cka.status);

  ASSERT_OK(claim(b, "s", "Y", &cb));
  ASSERT_OK(get(b, "s", &gb));
  ASSERT_OK(member(b, "Y", 0, &mb));
  /* And by stream within one application. */
  ASSERT_OK(claim_on(a, "other-stream", "s", "Z", &other_stream));
  settle(&loop);
  ASSERT_OK(cb.status);
  ASSERT(!cb.has_seq);
  ASSERT(!gb.has_seq);
  ASSERT_EQ(1, ma.live);
  ASSERT_EQ(1, mb.live);
  ASSERT_OK(other_stream.status);
  ASSERT(!other_stream.has_seq);

  close_cp(&loop, a);
  close_all(&loop, b);
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
  cp = make(&loop, "invalid", 0);
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
  /* Braces would break the keys' hash tag. */
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, "a}b", "s", "A", on_state, &s));
  ASSERT_EQ(KINESIS_EINVAL, ops->claim(self, "a{b", "s", "A", on_state, &s));

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
  settle(&loop);
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
  settle(&loop);
  /* No callback for any refused call. */
  ASSERT_EQ(2, s.calls);
  ASSERT_EQ(1, p.calls);
  ASSERT_EQ(0, m.calls);
  ASSERT_STR_EQ("77", s.seq);

  close_all(&loop, cp);
}


/* ---- Close ---- */


static void test_close_with_pending(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c = {0}, g = {0}, refused_s = {0};
  plain_res_t ck = {0}, refused = {0};
  members_res_t mem = {0}, refused_m = {0};
  int closed = 0, closed_again = 0;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "close-pending", 0);
  ASSERT_OK(claim(cp, "s", "A", &c));
  ASSERT_OK(checkpoint(cp, "s", "A", "11", 0, 0, &ck));
  ASSERT_OK(get(cp, "s", &g));
  ASSERT_OK(member(cp, "A", 0, &mem));
  kinesis_checkpointer_close(cp, on_closed, &closed);
  kinesis_checkpointer_close(cp, on_closed, &closed_again);
  ASSERT_EQ(0, closed);
  ASSERT_EQ(0, c.calls + ck.calls + g.calls + mem.calls);
  /* Every operation is refused once close has started. */
  ASSERT_EQ(KINESIS_ECLOSING, claim(cp, "s", "A", &refused_s));
  ASSERT_EQ(KINESIS_ECLOSING, heartbeat(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, checkpoint(cp, "s", "A", "12", 0, 0, &refused));
  ASSERT_EQ(KINESIS_ECLOSING, finish(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, release(cp, "s", "A", &refused));
  ASSERT_EQ(KINESIS_ECLOSING, get(cp, "s", &refused_s));
  ASSERT_EQ(KINESIS_ECLOSING, member(cp, "A", 0, &refused_m));
  run_until(&loop, &closed, 1, SETTLE_MS);

  /* The connection had not answered yet: every pending operation ran
   * exactly once, cancelled, before the close callback. */
  ASSERT_EQ(1, c.calls);
  ASSERT_EQ(KINESIS_ECANCELED, c.status);
  ASSERT_EQ(1, ck.calls);
  ASSERT_EQ(KINESIS_ECANCELED, ck.status);
  ASSERT_EQ(1, g.calls);
  ASSERT_EQ(KINESIS_ECANCELED, g.status);
  ASSERT(!g.has_seq);
  ASSERT_EQ(1, mem.calls);
  ASSERT_EQ(KINESIS_ECANCELED, mem.status);
  ASSERT_EQ(0, mem.live);
  ASSERT_EQ(0, refused.calls + refused_s.calls + refused_m.calls);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, closed_again);
  ASSERT_EQ(g_issued, g_answered);
  kn_test_loop_close(&loop);
}


typedef struct {
  kinesis_checkpointer_t* cp;
  state_res_t claim_res;
  state_res_t answered_before; /* answered before close: real result */
  plain_res_t queued_before;   /* issued from the callback, then close */
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
  /* Everything was answered first. */
  ASSERT_EQ(1, x->claim_res.calls);
  ASSERT_EQ(1, x->queued_before.calls);
  ASSERT_EQ(1, x->answered_before.calls);
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
  /* Sent, but its answer cannot arrive before the close below. */
  ASSERT_OK(heartbeat(cp, "s", "A", &x->queued_before));
  kinesis_checkpointer_close(cp, on_ctx_closed, x);
  ASSERT_EQ(0, x->closed);
  ASSERT_EQ(KINESIS_ECLOSING, claim(cp, "s", "A", &x->claim_res));
  ASSERT_EQ(KINESIS_ECLOSING, heartbeat(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, checkpoint(cp, "s", "A", "9", 0, 0, &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, finish(cp, "s", "A", &x->refused));
  ASSERT_EQ(KINESIS_ECLOSING, release(cp, "s", "A", &x->refused));
  /* Invalid arguments are still invalid. */
  ASSERT_EQ(KINESIS_EINVAL,
            cp->ops->get(cp->self, STREAM, "s", NULL, &x->claim_res));
  kinesis_checkpointer_close(cp, on_closed, &x->eclosing_seen);
}


static void test_close_from_callback(void) {
  uv_loop_t loop;
  close_ctx_t x;

  memset(&x, 0, sizeof(x));
  ASSERT_OK(uv_loop_init(&loop));
  x.cp = make(&loop, "close-callback", 0);
  g_in_call = 1;
  ASSERT_OK(
      x.cp->ops->claim(x.cp->self, STREAM, "s", "A", on_claim_then_close, &x));
  g_in_call = 0;
  g_issued++;
  /* Pipelined behind the claim: its reply is read with the claim's, so it
   * is answered, with its real result, before the claim's callback
   * closes the checkpointer. */
  ASSERT_OK(get(x.cp, "s", &x.answered_before));
  run_until(&loop, &x.closed, 1, SETTLE_MS);

  ASSERT_EQ(1, x.claim_res.calls);
  ASSERT_EQ(1, x.answered_before.calls);
  ASSERT(x.answered_before.status == 0 ||
         x.answered_before.status == KINESIS_ECANCELED);
  ASSERT_EQ(1, x.queued_before.calls);
  ASSERT_EQ(KINESIS_ECANCELED, x.queued_before.status);
  ASSERT_EQ(0, x.refused.calls);
  ASSERT_EQ(1, x.closed);
  ASSERT_EQ(0, x.eclosing_seen);
  ASSERT_LT(x.claim_res.order, x.answered_before.order);
  ASSERT_LT(x.answered_before.order, x.queued_before.order);
  ASSERT_LT(x.queued_before.order, x.closed_order);
  ASSERT_EQ(g_issued, g_answered);
  kn_test_loop_close(&loop);
}


/* ---- Re-entrancy ---- */


typedef struct {
  kinesis_checkpointer_t* cp;
  int chain_left;
  int chain_calls;
} chain_ctx_t;


/* Each callback issues the next operation, which must wait for a later
 * tick. */
static void on_chain(int status, void* arg) {
  chain_ctx_t* x = arg;
  int before;
  ASSERT(!g_in_call);
  ASSERT_OK(status);
  g_answered++;
  x->chain_calls++;
  if (x->chain_left-- > 0) {
    before = x->chain_calls;
    g_in_call = 1;
    ASSERT_OK(
        x->cp->ops->heartbeat(x->cp->self, STREAM, "chain", "A", on_chain, x));
    g_in_call = 0;
    g_issued++;
    ASSERT_EQ(before, x->chain_calls);
  }
}


static void test_reentrancy(void) {
  uv_loop_t loop;
  chain_ctx_t x;
  state_res_t chain_claim = {0};

  memset(&x, 0, sizeof(x));
  ASSERT_OK(uv_loop_init(&loop));
  x.cp = make(&loop, "chain", 0);
  ASSERT_OK(claim(x.cp, "chain", "A", &chain_claim));
  x.chain_left = 50;
  g_in_call = 1;
  ASSERT_OK(
      x.cp->ops->heartbeat(x.cp->self, STREAM, "chain", "A", on_chain, &x));
  g_in_call = 0;
  g_issued++;
  settle(&loop);
  ASSERT_OK(chain_claim.status);
  ASSERT_EQ(51, x.chain_calls);
  close_all(&loop, x.cp);
}


/* ---- The server's failures ---- */


/* A Redis error reply is KINESIS_ESTORE; a script flushed from the server's
 * cache is sent again with EVAL. */
static void test_store_errors(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  redisContext* rc;
  state_res_t c = {0}, g_bad = {0}, c2 = {0}, g = {0}, g2 = {0};
  plain_res_t hb = {0}, ck = {0};
  members_res_t m = {0};

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "errors", 0);
  rc = sync_connect();

  /* Not a hash: WRONGTYPE from the script and from HMGET. */
  sync_ok(rc, "SET %s %s", "kinesis:{errors:orders}:shard:bad", "x");
  ASSERT_OK(claim(cp, "bad", "A", &c));
  ASSERT_OK(get(cp, "bad", &g_bad));
  ASSERT_OK(heartbeat(cp, "bad", "A", &hb));
  settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, c.status);
  ASSERT(!c.has_seq);
  ASSERT_EQ(KINESIS_ESTORE, g_bad.status);
  ASSERT_EQ(KINESIS_ESTORE, hb.status);

  /* The scripts are gone: every operation still works, and the answers
   * come in the order of the calls, though the get (no script) overtakes
   * the others' second sends. */
  sync_ok(rc, "SCRIPT FLUSH");
  ASSERT_OK(claim(cp, "good", "A", &c2));
  ASSERT_OK(checkpoint(cp, "good", "A", "5", 0, 0, &ck));
  ASSERT_OK(member(cp, "A", 0, &m));
  ASSERT_OK(get(cp, "good", &g));
  settle(&loop);
  ASSERT_OK(c2.status);
  ASSERT_OK(ck.status);
  ASSERT_OK(m.status);
  ASSERT_EQ(1, m.live);
  ASSERT_OK(g.status);
  ASSERT_LT(c2.order, ck.order);
  ASSERT_LT(ck.order, m.order);
  ASSERT_LT(m.order, g.order);
  ASSERT_OK(get(cp, "good", &g2));
  settle(&loop);
  ASSERT_OK(g2.status);
  ASSERT_STR_EQ("5", g2.seq);

  redisFree(rc);
  close_all(&loop, cp);
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
    state_res_t r = {0};
    ASSERT_OK(claim(cp, shard, owner, &r));
    settle(loop);
    ASSERT_EQ(1, r.calls);
    if (r.status != KINESIS_ESTORE || uv_now(loop) - start > limit_ms)
      return r.status;
    wait_ms(loop, 50);
  }
}


static void test_restart(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  state_res_t c = {0}, in_flight = {0}, down = {0}, g_down = {0}, g = {0};
  plain_res_t hb_down = {0}, ck = {0};
  members_res_t m_down = {0};
  int i;

  ASSERT_OK(uv_loop_init(&loop));
  cp = make(&loop, "restart", 0);
  ASSERT_OK(claim(cp, "s", "A", &c));
  settle(&loop);
  ASSERT_OK(c.status);

  /* Sent (on the next loop turn) to a server that is gone. hiredis writes
   * to a closed socket: no SIGPIPE may kill the process. */
  ASSERT_OK(heartbeat(cp, "s", "A", &hb_down));
  ASSERT_OK(claim(cp, "s", "A", &in_flight));
  redis_ctl("stop");
  settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, hb_down.status);
  ASSERT_EQ(KINESIS_ESTORE, in_flight.status);

  /* While it is down: between attempts and during them, every operation
   * fails, later. */
  for (i = 0; i < 5; i++) {
    memset(&down, 0, sizeof(down));
    memset(&g_down, 0, sizeof(g_down));
    memset(&m_down, 0, sizeof(m_down));
    ASSERT_OK(claim(cp, "s", "A", &down));
    ASSERT_OK(get(cp, "s", &g_down));
    ASSERT_OK(member(cp, "A", 0, &m_down));
    settle(&loop);
    ASSERT_EQ(KINESIS_ESTORE, down.status);
    ASSERT(!down.has_seq);
    ASSERT_EQ(KINESIS_ESTORE, g_down.status);
    ASSERT_EQ(KINESIS_ESTORE, m_down.status);
    ASSERT_EQ(0, m_down.live);
    wait_ms(&loop, 100);
  }

  /* Back: the checkpointer reconnects by itself (this Redis keeps no data
   * across restarts, so whatever the claim finds is not checked). */
  redis_ctl("start");
  ASSERT_OK(claim_until_connected(&loop, cp, "s", "A", 10000));
  ASSERT_OK(checkpoint(cp, "s", "A", "77", 0, 0, &ck));
  ASSERT_OK(get(cp, "s", &g));
  settle(&loop);
  ASSERT_OK(ck.status);
  ASSERT_OK(g.status);
  ASSERT_STR_EQ("77", g.seq);

  close_all(&loop, cp);
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
  state_res_t c = {0};
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
  ASSERT_OK(claim(cp, "s", "A", &c));
  settle(&loop);
  ASSERT_EQ(KINESIS_ESTORE, c.status);
  ASSERT_GE(uv_now(&loop) - start, 300);
  ASSERT_LT(uv_now(&loop) - start, 5000);
  close_all(&loop, cp);
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
  state_res_t a = {0}, b = {0}, w = {0}, u = {0};
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

  ASSERT_OK(claim(with_pw, "s", "A", &a));
  ASSERT_OK(claim(without_pw, "t", "B", &b));
  ASSERT_OK(claim(wrong_pw, "t", "B", &w));
  ASSERT_OK(claim(acl_user, "u", "C", &u));
  settle(&loop);
  ASSERT_OK(a.status);
  ASSERT_EQ(KINESIS_ESTORE, b.status);
  ASSERT_EQ(KINESIS_ESTORE, w.status);
  ASSERT_OK(u.status);

  close_cp(&loop, with_pw);
  close_cp(&loop, without_pw);
  close_cp(&loop, wrong_pw);
  close_cp(&loop, acl_user);
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
  state_res_t c = {0}, bad = {0};
  plain_res_t ck = {0};
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

  ASSERT_OK(claim(cp, "s", "A", &c));
  ASSERT_OK(checkpoint(cp, "s", "A", "3", 0, 0, &ck));
  ASSERT_OK(claim(bad_db, "s", "A", &bad));
  settle(&loop);
  ASSERT_OK(c.status);
  ASSERT_OK(ck.status);
  ASSERT_EQ(KINESIS_ESTORE, bad.status);

  rc = sync_connect();
  ASSERT_EQ(0, sync_int(rc, "EXISTS %s", key));
  sync_ok(rc, "SELECT 3");
  ASSERT_EQ(1, sync_int(rc, "EXISTS %s", key));
  redisFree(rc);

  close_cp(&loop, bad_db);
  close_all(&loop, cp);
}


KN_TEST_MAIN(KN_TEST(test_options), KN_TEST(test_round_trip),
             KN_TEST(test_lease_expiry), KN_TEST(test_heartbeat_keeps_lease),
             KN_TEST(test_partial_aggregate), KN_TEST(test_finish_then_claim),
             KN_TEST(test_release_then_claim), KN_TEST(test_key_schema),
             KN_TEST(test_members), KN_TEST(test_members_expire),
             KN_TEST(test_two_instances), KN_TEST(test_app_namespace),
             KN_TEST(test_invalid_arguments), KN_TEST(test_close_with_pending),
             KN_TEST(test_close_from_callback), KN_TEST(test_reentrancy),
             KN_TEST(test_store_errors), KN_TEST(test_connect_timeout),
             KN_TEST(test_auth), KN_TEST(test_select), KN_TEST(test_restart))
