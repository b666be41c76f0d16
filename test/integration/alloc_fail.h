#ifndef KN_TEST_ALLOC_FAIL_H
#define KN_TEST_ALLOC_FAIL_H

/* A failing allocator for allocation-failure loops (STYLE.md section 9, in
 * nghttp2's TEST_FAILMALLOC_RUN way): a scenario runs once per N, and the
 * Nth allocation of that run fails.
 *
 * Only the Nth fails; every allocation after it succeeds again. So each run
 * checks one failure at one place, and also that the code goes on correctly
 * after it (a retry, a later call, the close). A run that makes fewer than N
 * allocations had no failure injected: that ends the loop.
 *
 * It is installed both as the library's allocator (kinesis_replace_allocator)
 * and as jansson's (json_set_alloc_funcs), so the library's JSON encoding
 * and decoding fail too, and count in the same numbering. libcurl, mbedTLS
 * and hiredis keep their own allocators (the library cannot replace them
 * without replacing them for the whole process), so their failures are not
 * covered here. */

#include <stdint.h>

#include <uv.h>

#include "kinesis.h"

/* Installs the allocator, counting but failing nothing. */
void kn_af_install(void);

/* Puts back malloc and free for the library and jansson. */
void kn_af_uninstall(void);

/* Starts a run: resets the count and the live blocks, and fails the
 * allocation numbered `n` (from 1), or none for 0. */
void kn_af_arm(int64_t n);

/* Allocations made since kn_af_arm(), the failed one included. */
int64_t kn_af_count(void);

/* Blocks allocated and not yet freed since kn_af_arm(). */
int64_t kn_af_live(void);

/* The allocation this run fails (0: none). */
int64_t kn_af_fail_at(void);

/* 1 when the armed failure happened. */
int kn_af_injected(void);

/* 1 when the armed failure happened in one of jansson's allocations. */
int kn_af_injected_json(void);

/* Runs `scenario` for N = 1, 2, 3, ... until a run injects no failure, each
 * with a live count of 0 at its end, and prints `name` with the number of
 * runs. The scenario makes its own uv loop and closes it. Returns the
 * number of allocations of the run without a failure. To look at one run:
 * KN_AF_FROM=N starts the loop at N, and KN_AF_STACK=1 (under ASan) prints
 * where each failure is injected. */
int64_t kn_af_loop(const char* name, void (*scenario)(void));

/* Runs `loop` until `*flag` is non-zero, failing when the loop runs dry or
 * `limit_ms` of loop time pass first; the failure names the caller's line
 * and lists the loop's active handles, to tell which close is waiting. */
#define kn_af_run_until(loop, flag, limit_ms)                                 \
  kn_af_run_until_at((loop), (flag), (limit_ms), __FILE__, __LINE__)
void kn_af_run_until_at(uv_loop_t* loop, const int* flag, uint64_t limit_ms,
                        const char* file, int line);

/* Runs every operation of a checkpointer once, in an order whose answers
 * follow from the earlier ones (claim, heartbeat, checkpoint, get, leases,
 * member, release, a claim by another owner, finish, get, leases, close;
 * member and leases when the store has them), on a fresh loop and client
 * that it closes. `make` returns a new checkpointer made from `client`, or
 * sets `*r` to the error of its kinesis_checkpointer_*_new(). Each call
 * must return 0 or KINESIS_ENOMEM; each accepted call is answered once,
 * with what the earlier answers imply or KINESIS_ENOMEM. */
void kn_af_checkpointer_ops(
    kinesis_checkpointer_t* (*make)(kinesis_client_t* client, int* r));

#endif
