#ifndef KN_TEST_CLIENT_UTIL_H
#define KN_TEST_CLIENT_UTIL_H

/* Helpers for tests that drive kinesis_client_t calls one at a time. */

#include "harness.h"

#include "kinesis.h"

#include "client.h"

/* What a callback saw, copied so it outlives the callback. */
typedef struct {
  int done;
  int calls;            /* how many times the callback ran */
  int status;
  long http_status;
  uint32_t attempts;
  uint32_t unsure_retries;
  char error_code[128];
  char error_message[512];
  char request_id[128];
  char stream_status[32];
  uint32_t open_shards;
  size_t nshards;
  char shard_ids[16][64];
  char iterator[600];
  char next_iterator[600];
  size_t nrecords;
  char records[64][128];     /* data as text, for small test records */
  char sequence_numbers[64][140];
  size_t nput;
  uint32_t failed;
} capture_t;

void capture_cb(kinesis_client_t* c, int status, const kinesis_result_t* r,
                void* arg);

/* Runs the loop until `cap` is done. Asserts it completes within the loop. */
void capture_wait(uv_loop_t* loop, capture_t* cap);

/* Client options for the test servers: region us-east-1, fixed keys. */
void test_client_options(kinesis_client_options_t* o, const char* endpoint);

/* Creates `name` with `shards` shards and waits until it is ACTIVE. */
void create_active_stream(uv_loop_t* loop, kinesis_client_t* c,
                          const char* name, uint32_t shards);

/* A stream name unique to this process and call. */
const char* test_stream_name(const char* prefix);

void close_client(uv_loop_t* loop, kinesis_client_t* c);

/* A deadline for a wait that must not hang: test_deadline_start() arms a
 * timer on `loop` that, when it fires, sets `fired` and stops the loop;
 * test_deadline_end() closes it (running the loop until it is closed). */
typedef struct {
  uv_timer_t timer;
  uv_loop_t* loop;
  int fired;
  int closed;
} test_deadline_t;

void test_deadline_start(test_deadline_t* d, uv_loop_t* loop, uint64_t ms);
void test_deadline_end(test_deadline_t* d);

/* Runs `loop` until `cond` holds, one turn at a time; after `ms`
 * milliseconds, prints what it waited for, runs `on_timeout` (a statement:
 * a dump of the test's state, or nothing) and aborts. Callbacks that make
 * `cond` true should stop the loop, so that it is looked at soon. */
#define TEST_WAIT_UNTIL(loop, cond, ms, on_timeout)                           \
  do {                                                                        \
    test_deadline_t twu_deadline_;                                            \
    test_deadline_start(&twu_deadline_, (loop), (ms));                        \
    while (!(cond)) {                                                         \
      if (twu_deadline_.fired) {                                              \
        fprintf(stderr, "%s:%d: timed out after %d ms waiting for `%s`\n",    \
                __FILE__, __LINE__, (int) (ms), #cond);                       \
        on_timeout;                                                           \
        abort();                                                              \
      }                                                                       \
      uv_run((loop), UV_RUN_ONCE);                                            \
    }                                                                         \
    test_deadline_end(&twu_deadline_);                                        \
  } while (0)

/* Runs `loop` for `ms` milliseconds, whatever else it has to do. */
void run_loop_for(uv_loop_t* loop, uint64_t ms);

/* Reads every shard of `stream` through `c` from TRIM_HORIZON, with
 * GetRecords until the shard ends or two reads in a row come back empty;
 * `fn` sees each record with its shard id. For checking what a stream
 * holds. */
typedef void (*stream_record_fn)(const char* shard_id,
                                 const kinesis_fetched_record_t* record,
                                 void* arg);
void read_whole_stream(uv_loop_t* loop, kinesis_client_t* c,
                       const char* stream, stream_record_fn fn, void* arg);

/* The answer of a kn_client_service_call() to another service (DynamoDB):
 * its status, the service's error code and the body, copied. */
typedef struct {
  int done;             /* how many times the callback ran */
  int status;
  char code[128];
  char body[8192];
} service_answer_t;
void service_answer_cb(kinesis_client_t* c, int status,
                       const kinesis_result_t* res, void* arg);
/* Calls `action` of `t`'s service with `body` through `c`, checks that no
 * answer came inside the call, and runs `loop` until the answer. */
void service_call_wait(uv_loop_t* loop, kinesis_client_t* c,
                       kn_service_target_t* t, const char* action,
                       const char* body, service_answer_t* a);

#endif
