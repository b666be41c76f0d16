#ifndef KN_TEST_CHECKPOINT_CONFORMANCE_H
#define KN_TEST_CHECKPOINT_CONFORMANCE_H

/* The checkpointer contract (the ops table in include/kinesis/checkpoint.h
 * and docs/checkpointers.md) as one suite of test cases that runs against
 * any kinesis_checkpointer_t. A test binary describes its store with a
 * kn_conf_store_t and hands it, with the cases only that store has, to
 * kn_conf_main(): each case, the suite's and its own, prints its KN_TEST
 * lines and ends with uv_loop_close() == 0.
 *
 * The result structs, wrappers and loop helpers below are the suite's, and
 * the store's own cases use them too. Every wrapper marks the call, checks
 * that no callback ran inside it (never synchronous) and counts an accepted
 * operation; every callback counts an answer; kn_conf_settle() runs the loop
 * until each accepted operation was answered. */

#include <stdint.h>

#include "harness.h"

#include "kinesis/checkpoint.h"


#define KN_CONF_STREAM "orders"
#define KN_CONF_SEQ_A "49590338271490256608559692538361571095921575989136588898"
#define KN_CONF_SEQ_B "49590338271490256608559692540925702759324208523137515618"

/* How long any expected answer may take. */
#define KN_CONF_SETTLE_MS 15000


typedef struct kn_conf_store_s {
  /* Returns a new checkpointer on `loop` that has seen nothing (no lease,
   * checkpoint or member of any earlier case: the Redis store takes a fresh
   * app_name each time) whose session timeout is `session_timeout_ms`, or
   * the store's default for 0. The suite closes it with
   * kinesis_checkpointer_close(). A built-in store is made from a client
   * (kn_conf_client_new()) kept in the checkpointer's `data`: the suite
   * closes it once the checkpointer has closed. */
  kinesis_checkpointer_t* (*make)(uv_loop_t* loop, uint32_t session_timeout_ms);
  /* Runs `loop` until `*count` reaches `*target` (which callbacks may
   * raise), or fails the test after `limit_ms`. */
  void (*run_until)(uv_loop_t* loop, const int* count, const int* target,
                    uint64_t limit_ms);
  /* The session timeout of the cases that wait for leases and memberships
   * to lapse; each waits up to about twice that. Short, but long enough
   * that a round trip to the store takes a small part of it. */
  uint32_t short_timeout_ms;

  /* KN_CONF_* flags: what the store promises beyond the contract, which
   * the suite then checks too. */
  unsigned promises;
  /* KN_CONF_* flags: where the store's schema holds less than the
   * contract's records, which the suite then does not ask of it. */
  unsigned limits;
} kn_conf_store_t;

/* Each operation is stamped with uv_now(loop) when it is called (the memory
 * store): answers near the session timeout follow exactly from the times
 * the test sees. Without it the store has its own clock (Redis's) and,
 * where the test cannot tell on which side of the timeout an operation
 * fell, either answer is accepted. */
#define KN_CONF_LOOP_CLOCK 0x1
/* Everything called before a loop iteration is answered in that one
 * iteration. */
#define KN_CONF_ONE_TICK 0x2
/* close() answers accepted operations with KINESIS_ECANCELED when their
 * answer had not arrived (Redis). Without it every answer was decided when
 * the operation was called, and close() delivers it (memory). */
#define KN_CONF_CANCELS_AT_CLOSE 0x4

/* Limits. The store keeps one stream (a KCL lease table: the DynamoDB
 * store): the stream argument names no separate records, so the cases skip
 * their steps on a second stream. */
#define KN_CONF_ONE_STREAM 0x1
/* finish replaces the stored position with the shard's end (the KCL's
 * SHARD_END): a finished shard reads back finished, with no sequence
 * number. */
#define KN_CONF_FINISH_ENDS_POSITION 0x2


/* Runs the suite's cases against `store`, then `own` (the cases only that
 * store has), as kn_test_main() does, and returns its exit status. The
 * cases of the optional leases op are among them when a checkpointer the
 * store makes has it; otherwise each is named on stderr as not run. */
int kn_conf_main(int argc, char** argv, const kn_conf_store_t* store,
                 const kn_test_t* own, size_t nown);

#define KN_CONF_MAIN(store, ...)                                              \
  int main(int argc, char** argv) {                                           \
    static const kn_test_t own[] = {__VA_ARGS__};                             \
    return kn_conf_main(argc, argv, (store), own,                             \
                        sizeof(own) / sizeof(own[0]));                        \
  }


/* ---- Answers ---- */

typedef struct {
  int calls;
  int status;
  int order; /* when it ran, counting every answer of the process */
  int has_seq;
  char seq[160];
  uint32_t sub;
  int partial;
  int finished;
} kn_conf_state_t;

typedef struct {
  int calls;
  int status;
  int order;
} kn_conf_plain_t;

typedef struct {
  int calls;
  int status;
  int order;
  uint32_t live;
} kn_conf_members_t;

/* One entry of a leases answer, copied. */
typedef struct {
  char shard_id[64];
  int has_owner;
  char owner[64];
  int finished;
  int known;
} kn_conf_lease_t;

/* A leases answer. The wrapper records the question, and the callback
 * checks the answer against it (the asked ids, in order, repeats included):
 * the array of ids must outlive the answer. */
typedef struct {
  int calls;
  int status;
  int order;
  const char* const* asked;
  size_t nasked;
  size_t n;
  kn_conf_lease_t* leases; /* malloc'd; kn_conf_leases_free() */
} kn_conf_leases_t;

/* `res` was answered exactly once, with `want`. */
#define ASSERT_ANSWERED(res, want)                                            \
  do {                                                                        \
    ASSERT_EQ(1, (res).calls);                                                \
    ASSERT_EQ((want), (res).status);                                          \
  } while (0)

/* The callbacks behind the wrappers, for cases that call an op directly:
 * they record into the struct `arg` points to and count an answer. */
void kn_conf_on_state(int status, const kinesis_checkpoint_t* ck, void* arg);
void kn_conf_on_plain(int status, void* arg);
void kn_conf_on_members(int status, uint32_t live, void* arg);
void kn_conf_on_leases(int status, const kinesis_lease_t* leases, size_t n,
                       void* arg);


/* ---- The operations, on stream KN_CONF_STREAM unless said ---- */

int kn_conf_claim_on(kinesis_checkpointer_t* cp, const char* stream,
                     const char* shard, const char* owner,
                     kn_conf_state_t* res);
int kn_conf_claim(kinesis_checkpointer_t* cp, const char* shard,
                  const char* owner, kn_conf_state_t* res);
int kn_conf_get(kinesis_checkpointer_t* cp, const char* shard,
                kn_conf_state_t* res);
int kn_conf_heartbeat(kinesis_checkpointer_t* cp, const char* shard,
                      const char* owner, kn_conf_plain_t* res);
/* Every field of the position; checkpoint() ignores `finished`. */
int kn_conf_checkpoint_full(kinesis_checkpointer_t* cp, const char* shard,
                            const char* owner, const char* seq, uint32_t sub,
                            int partial, int finished, kn_conf_plain_t* res);
int kn_conf_checkpoint(kinesis_checkpointer_t* cp, const char* shard,
                       const char* owner, const char* seq, uint32_t sub,
                       int partial, kn_conf_plain_t* res);
int kn_conf_finish(kinesis_checkpointer_t* cp, const char* shard,
                   const char* owner, kn_conf_plain_t* res);
int kn_conf_release(kinesis_checkpointer_t* cp, const char* shard,
                    const char* owner, kn_conf_plain_t* res);
int kn_conf_member_on(kinesis_checkpointer_t* cp, const char* stream,
                      const char* owner, int leaving, kn_conf_members_t* res);
int kn_conf_member(kinesis_checkpointer_t* cp, const char* owner, int leaving,
                   kn_conf_members_t* res);
/* The optional leases op (the store must have it). */
int kn_conf_leases_on(kinesis_checkpointer_t* cp, const char* stream,
                      const char* const* ids, size_t n, kn_conf_leases_t* res);
int kn_conf_leases(kinesis_checkpointer_t* cp, const char* const* ids, size_t n,
                   kn_conf_leases_t* res);
/* Frees the copied answer of `res`. */
void kn_conf_leases_free(kn_conf_leases_t* res);
/* Entry `i` of a successful answer has `owner` (NULL: none), `finished`
 * and `known`. */
void kn_conf_expect_lease(const kn_conf_leases_t* res, size_t i,
                          const char* owner, int finished, int known);


/* ---- The loop ---- */

/* Runs the loop (the store's run_until) until every accepted operation was
 * answered. */
void kn_conf_settle(uv_loop_t* loop);

/* Runs the loop for at least `ms` milliseconds of loop time. */
void kn_conf_wait_ms(uv_loop_t* loop, uint64_t ms);

/* A client on `loop` for make(): it makes no call. */
kinesis_client_t* kn_conf_client_new(uv_loop_t* loop);

/* Closes `cp` and checks that its callback runs once, later, with status 0
 * and `cp`'s `data`. */
void kn_conf_close(uv_loop_t* loop, kinesis_checkpointer_t* cp);

/* kn_conf_close(), then checks that every accepted operation was answered
 * and that the loop closes (no handle left). */
void kn_conf_close_all(uv_loop_t* loop, kinesis_checkpointer_t* cp);

#endif /* KN_TEST_CHECKPOINT_CONFORMANCE_H */
