#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "alloc_fail.h"

/*
 * Allocation failures in the Redis checkpointer (STYLE.md section 9): every
 * operation of the table, against a real redis-server started by
 * test/with-redis.sh, once per N with the Nth allocation failing
 * (alloc_fail.h), until a run makes fewer than N. hiredis keeps its own
 * allocator, so what fails is the checkpointer's own memory and the
 * library's; hiredis's buffers and replies are never failed here.
 */

static const char* url;
static unsigned run_number;


static void on_alarm(int sig) {
  static const char msg[] = "test_alloc_checkpoint_redis: a run hung\n";
  (void) sig;
  (void) !write(2, msg, sizeof(msg) - 1);
  abort();
}


static kinesis_checkpointer_t* make_redis(kinesis_client_t* client, int* r) {
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp = NULL;
  char app[64];
  /* A fresh application each run: a lease a failed release left behind
   * must not answer the next run. */
  snprintf(app, sizeof(app), "alloc-%ld-%u", (long) getpid(), ++run_number);
  kinesis_checkpointer_redis_options_init(&o);
  o.url = url;
  o.app_name = app;
  o.reconnect_min_ms = 10;
  o.reconnect_max_ms = 50;
  *r = kinesis_checkpointer_redis_new(client, &o, &cp);
  return cp;
}


static void run_checkpoint_redis(void) {
  alarm(30);
  kn_af_checkpointer_ops(make_redis);
  alarm(0);
}


static void test_checkpoint_redis(void) {
  url = kn_test_require_env("KINESIS_TEST_REDIS_URL");
  signal(SIGALRM, on_alarm);
  kn_af_install();
  ASSERT_GT(kn_af_loop("checkpoint_redis", run_checkpoint_redis), 10);
  kn_af_uninstall();
}


KN_TEST_MAIN(KN_TEST(test_checkpoint_redis))
