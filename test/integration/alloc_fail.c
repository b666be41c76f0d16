#include "alloc_fail.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "harness.h"

#include "kinesis.h"

static int64_t fail_at;
static int64_t count;
static int64_t live;
static int injected;
static int injected_json;


/* Under ASan, KN_AF_STACK=1 prints where each failure is injected. */
void __sanitizer_print_stack_trace(void) __attribute__((weak));


/* Counts one allocation; 0 when it is the one to fail. */
static int allow(void) {
  if (++count == fail_at) {
    injected = 1;
    if (getenv("KN_AF_STACK") != NULL && __sanitizer_print_stack_trace) {
      fprintf(stderr, "alloc_fail: failing allocation %" PRId64 "\n",
              fail_at);
      __sanitizer_print_stack_trace();
    }
    return 0;
  }
  return 1;
}


static void* af_malloc(size_t n) {
  void* p;
  if (!allow())
    return NULL;
  p = malloc(n);
  if (p != NULL)
    live++;
  return p;
}


static void* af_calloc(size_t c, size_t n) {
  void* p;
  if (!allow())
    return NULL;
  p = calloc(c, n);
  if (p != NULL)
    live++;
  return p;
}


static void* af_realloc(void* old, size_t n) {
  void* p;
  if (!allow())
    return NULL;  /* `old` stays allocated, as with realloc. */
  p = realloc(old, n);
  if (p != NULL && old == NULL)
    live++;
  return p;
}


/* jansson's: the same, noting whose allocation failed. */
static void* af_json_malloc(size_t n) {
  int64_t before = count;
  void* p = af_malloc(n);
  if (p == NULL && before + 1 == fail_at)
    injected_json = 1;
  return p;
}


static void af_free(void* p) {
  if (p != NULL)
    live--;
  free(p);
}


void kn_af_install(void) {
  kn_af_arm(0);
  ASSERT_OK(kinesis_replace_allocator(af_malloc, af_realloc, af_calloc,
                                      af_free));
  json_set_alloc_funcs(af_json_malloc, af_free);
}


void kn_af_uninstall(void) {
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  json_set_alloc_funcs(malloc, free);
}


void kn_af_arm(int64_t n) {
  fail_at = n;
  count = 0;
  live = 0;
  injected = 0;
  injected_json = 0;
}


int64_t kn_af_count(void) {
  return count;
}


int64_t kn_af_live(void) {
  return live;
}


int64_t kn_af_fail_at(void) {
  return fail_at;
}


int kn_af_injected(void) {
  return injected;
}


int kn_af_injected_json(void) {
  return injected_json;
}


int64_t kn_af_loop(const char* name, void (*scenario)(void)) {
  int64_t n;
  uint64_t start = uv_hrtime();

  /* KN_AF_FROM=N starts at N, to look at one run. */
  n = getenv("KN_AF_FROM") != NULL ? atoll(getenv("KN_AF_FROM")) : 1;
  for (;; n++) {
    uint64_t t0 = uv_hrtime();
    kn_af_arm(n);
    scenario();
    if (uv_hrtime() - t0 > 1000000000u)
      printf("# %s: the run failing allocation %" PRId64 " took %.1f s\n",
             name, n, (double) (uv_hrtime() - t0) / 1e9);
    if (kn_af_live() != 0)
      fprintf(stderr, "%s: run failing allocation %" PRId64
              " leaves %" PRId64 " blocks\n", name, n, kn_af_live());
    ASSERT_EQ(0, kn_af_live());
    if (!kn_af_injected())
      break;
  }
  kn_af_arm(0);
  printf("# %s: %" PRId64 " allocations, failed each in turn (%.1f s)\n",
         name, n - 1, (double) (uv_hrtime() - start) / 1e9);
  return n - 1;
}


static int run_until_expired;


static void on_run_until_timer(uv_timer_t* t) {
  run_until_expired = 1;
  uv_stop(t->loop);
}


static void on_run_until_closed(uv_handle_t* h) {
  *(int*) h->data = 1;
}


void kn_af_run_until_at(uv_loop_t* loop, const int* flag, uint64_t limit_ms,
                        const char* file, int line) {
  uv_timer_t t;
  int closed = 0;

  run_until_expired = 0;
  ASSERT_OK(uv_timer_init(loop, &t));
  t.data = &closed;
  ASSERT_OK(uv_timer_start(&t, on_run_until_timer, limit_ms, 0));
  while (!*flag && !run_until_expired) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !*flag && !run_until_expired) {
      fprintf(stderr, "%s:%d: kn_af_run_until: the loop ran dry, the "
              "callback never came (allocation %" PRId64 " of %" PRId64
              " failed: %s)\n", file, line, fail_at, count,
              injected ? "yes" : "no");
      abort();
    }
  }
  if (!*flag) {
    fprintf(stderr, "%s:%d: kn_af_run_until: nothing happened in %" PRIu64
            " ms (allocation %" PRId64 " of %" PRId64 " failed: %s); the "
            "loop's active handles:\n", file, line, limit_ms, fail_at, count,
            injected ? "yes" : "no");
    uv_print_active_handles(loop, stderr);
  }
  ASSERT(*flag);
  uv_close((uv_handle_t*) &t, on_run_until_closed);
  while (!closed)
    uv_run(loop, UV_RUN_NOWAIT);
}


/* ---- The checkpointer's operations ---- */

/* How many shards the leases call asks about. */
#define AF_NLEASES 3

typedef struct {
  int calls;
  int status;
  int has_seq;
  char seq[140];
  int finished;
  uint32_t live;
  /* A leases answer: its entries' owners ("" for none) and flags. */
  size_t nleases;
  char owner[AF_NLEASES][16];
  int lease_finished[AF_NLEASES];
  int known[AF_NLEASES];
} af_answer_t;


static void on_state(int status, const kinesis_checkpoint_t* cp, void* arg) {
  af_answer_t* a = arg;
  ASSERT_NOT_NULL(cp);
  a->calls++;
  a->status = status;
  a->has_seq = cp->sequence_number != NULL;
  if (a->has_seq)
    snprintf(a->seq, sizeof(a->seq), "%s", cp->sequence_number);
  a->finished = cp->finished;
}


static void on_done(int status, void* arg) {
  af_answer_t* a = arg;
  a->calls++;
  a->status = status;
}


static void on_members(int status, uint32_t live_members, void* arg) {
  af_answer_t* a = arg;
  a->calls++;
  a->status = status;
  a->live = live_members;
}


static const char* const af_lease_ids[AF_NLEASES] = {
    "shardId-000000000000", "shardId-999999999999", "shardId-000000000000"};


static void on_leases(int status, const kinesis_lease_t* leases, size_t n,
                      void* arg) {
  af_answer_t* a = arg;
  size_t i;
  a->calls++;
  a->status = status;
  a->nleases = n;
  if (status != 0) {
    ASSERT_NULL(leases);
    ASSERT_EQ(0, n);
    return;
  }
  ASSERT_EQ(AF_NLEASES, n);
  for (i = 0; i < n; i++) {
    ASSERT(strcmp(af_lease_ids[i], leases[i].shard_id) == 0);
    snprintf(a->owner[i], sizeof(a->owner[i]), "%s",
             leases[i].owner != NULL ? leases[i].owner : "");
    a->lease_finished[i] = leases[i].finished;
    a->known[i] = leases[i].known;
  }
}


static void on_cp_closed(void* data, int status, void* arg) {
  (void) data;
  (void) status;
  (*(int*) arg)++;
}


/* Waits for the answer of an operation that returned `r`: none when it was
 * refused (then only with KINESIS_ENOMEM), else exactly one. Returns 1 when
 * it was accepted and answered with 0, 0 when it failed with
 * KINESIS_ENOMEM, and -1 for any other answer (the caller decides). */
static int settle(uv_loop_t* loop, int r, af_answer_t* a) {
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    ASSERT_EQ(0, a->calls);
    return 0;
  }
  ASSERT_EQ(0, a->calls);  /* never synchronous */
  kn_af_run_until(loop, &a->calls, 10000);
  ASSERT_EQ(1, a->calls);
  if (a->status == KINESIS_ENOMEM)
    return 0;
  return a->status == 0 ? 1 : -1;
}


#define AF_STREAM "alloc-stream"
#define AF_SHARD "shardId-000000000000"
#define AF_SEQ "49590338271490256608559692538361571095921575989136588898"


void kn_af_checkpointer_ops(
    kinesis_checkpointer_t* (*make)(kinesis_client_t* client, int* r)) {
  uv_loop_t loop;
  kinesis_client_options_t co;
  kinesis_client_t* client;
  kinesis_checkpointer_t* cp;
  const kinesis_checkpointer_ops_t* ops;
  kinesis_checkpoint_t pos;
  af_answer_t claim, hb, ck, get1, lease_a, mem, rel, claim_b, fin, get2;
  af_answer_t lease;
  int held, stored, released, held_b, finished;
  int closed = 0;
  int r;
  int s;

  ASSERT_OK(uv_loop_init(&loop));
  /* The checkpointer's client; it makes no call. */
  kinesis_client_options_init(&co);
  co.region = "us-east-1";
  co.endpoint_url = "http://127.0.0.1:9";
  r = kinesis_client_new(&loop, &co, &client);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    kn_test_loop_close(&loop);
    return;
  }
  cp = make(client, &r);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    ASSERT_OK(kinesis_client_close(client, on_cp_closed, &closed));
    kn_af_run_until(&loop, &closed, 10000);
    kn_test_loop_close(&loop);
    return;
  }
  ops = cp->ops;
  memset(&claim, 0, sizeof(claim));
  memset(&hb, 0, sizeof(hb));
  memset(&ck, 0, sizeof(ck));
  memset(&get1, 0, sizeof(get1));
  memset(&mem, 0, sizeof(mem));
  memset(&rel, 0, sizeof(rel));
  memset(&claim_b, 0, sizeof(claim_b));
  memset(&fin, 0, sizeof(fin));
  memset(&get2, 0, sizeof(get2));
  memset(&lease, 0, sizeof(lease));
  memset(&lease_a, 0, sizeof(lease_a));

  /* A's claim of a free shard: its answer is 0 or ENOMEM. */
  r = ops->claim(cp->self, AF_STREAM, AF_SHARD, "A", on_state, &claim);
  held = settle(&loop, r, &claim);
  ASSERT_GE(held, 0);
  if (held)
    ASSERT(!claim.has_seq && !claim.finished);

  /* Heartbeat and checkpoint succeed exactly when A holds the lease; a
   * lease that A never got is KINESIS_ELEASELOST, a consequence of the
   * failed claim and what the ops table documents for it. */
  r = ops->heartbeat(cp->self, AF_STREAM, AF_SHARD, "A", on_done, &hb);
  s = settle(&loop, r, &hb);
  if (s < 0)
    ASSERT(!held && hb.status == KINESIS_ELEASELOST);
  else if (s == 1)
    ASSERT(held);

  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = AF_SEQ;
  pos.sub_sequence_number = 3;
  pos.partial = 1;
  r = ops->checkpoint(cp->self, AF_STREAM, AF_SHARD, "A", &pos, on_done, &ck);
  s = settle(&loop, r, &ck);
  if (s < 0)
    ASSERT(!held && ck.status == KINESIS_ELEASELOST);
  stored = s == 1;
  if (stored)
    ASSERT(held);

  /* get sees the checkpoint exactly when it was stored. */
  r = ops->get(cp->self, AF_STREAM, AF_SHARD, on_state, &get1);
  s = settle(&loop, r, &get1);
  ASSERT_GE(s, 0);
  if (s == 1) {
    ASSERT_EQ(stored, get1.has_seq);
    if (stored)
      ASSERT(strcmp(get1.seq, AF_SEQ) == 0);
    ASSERT_EQ(0, get1.finished);
  }

  /* leases, when the store has it, names A while A holds the lease (its
   * answer copies the owner). */
  if (ops->leases != NULL) {
    r = ops->leases(cp->self, AF_STREAM, af_lease_ids, AF_NLEASES, on_leases,
                    &lease_a);
    s = settle(&loop, r, &lease_a);
    ASSERT_GE(s, 0);
    if (s == 1) {
      ASSERT(strcmp(lease_a.owner[0], held ? "A" : "") == 0);
      ASSERT_EQ(held, lease_a.known[0]);
      ASSERT_EQ(0, lease_a.lease_finished[0]);
      ASSERT_EQ(0, lease_a.known[1]);
      ASSERT(strcmp(lease_a.owner[2], lease_a.owner[0]) == 0);
    }
  }

  if (ops->member != NULL) {
    r = ops->member(cp->self, AF_STREAM, "A", 0, on_members, &mem);
    s = settle(&loop, r, &mem);
    ASSERT_GE(s, 0);
    ASSERT_EQ(s == 1 ? 1 : 0, mem.live);
  }

  r = ops->release(cp->self, AF_STREAM, AF_SHARD, "A", on_done, &rel);
  s = settle(&loop, r, &rel);
  if (s < 0)
    ASSERT(!held && rel.status == KINESIS_ELEASELOST);
  released = s == 1;

  /* B finds A's lease (KINESIS_ELEASED) only when A held it and the release
   * failed; it sees A's checkpoint either way when it was stored. */
  r = ops->claim(cp->self, AF_STREAM, AF_SHARD, "B", on_state, &claim_b);
  s = settle(&loop, r, &claim_b);
  if (s < 0)
    ASSERT(held && !released && claim_b.status == KINESIS_ELEASED);
  held_b = s == 1;
  if (s != 0)
    ASSERT_EQ(stored, claim_b.has_seq);

  r = ops->finish(cp->self, AF_STREAM, AF_SHARD, "B", on_done, &fin);
  s = settle(&loop, r, &fin);
  if (s < 0)
    ASSERT(!held_b && fin.status == KINESIS_ELEASELOST);
  finished = s == 1;

  r = ops->get(cp->self, AF_STREAM, AF_SHARD, on_state, &get2);
  s = settle(&loop, r, &get2);
  ASSERT_GE(s, 0);
  if (s == 1) {
    ASSERT_EQ(finished, get2.finished);
    ASSERT_EQ(stored, get2.has_seq);
  }

  /* leases, when the store has it, reports what the answers above imply
   * about the shard (asked twice) and nothing about one never touched. */
  if (ops->leases != NULL) {
    const char* owner;
    r = ops->leases(cp->self, AF_STREAM, af_lease_ids, AF_NLEASES, on_leases,
                    &lease);
    s = settle(&loop, r, &lease);
    ASSERT_GE(s, 0);
    if (s == 1) {
      /* Whose lease is live: B's once it claimed, unless it finished; A's
       * if B was refused because A's release failed. */
      if (finished)
        owner = "";
      else if (held_b)
        owner = "B";
      else if (held && !released)
        owner = "A";
      else
        owner = "";
      ASSERT(strcmp(lease.owner[0], owner) == 0 ||
             /* B's claim may have been applied and its answer's copy of
              * the checkpoint failed (Redis). */
             (strcmp(lease.owner[0], "B") == 0 && claim_b.calls == 1 &&
              claim_b.status == KINESIS_ENOMEM));
      ASSERT_EQ(finished, lease.lease_finished[0]);
      ASSERT_EQ(held || held_b, lease.known[0]);
      ASSERT(strcmp(lease.owner[1], "") == 0);
      ASSERT_EQ(0, lease.lease_finished[1]);
      ASSERT_EQ(0, lease.known[1]);
      ASSERT(strcmp(lease.owner[2], lease.owner[0]) == 0);
      ASSERT_EQ(lease.lease_finished[0], lease.lease_finished[2]);
      ASSERT_EQ(lease.known[0], lease.known[2]);
    }
    if (!kn_af_injected())
      ASSERT_EQ(1, s);
  }

  if (!kn_af_injected())
    ASSERT(held && stored && released && held_b && finished);

  ASSERT_OK(kinesis_checkpointer_close(cp, on_cp_closed, &closed));
  ASSERT_EQ(0, closed);
  kn_af_run_until(&loop, &closed, 10000);
  ASSERT_EQ(1, closed);
  ASSERT_OK(kinesis_client_close(client, on_cp_closed, &closed));
  kn_af_run_until(&loop, &closed, 10000);
  kn_test_loop_close(&loop);
  ASSERT_EQ(2, closed);
}
