#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "harness.h"

#ifdef KN_TEST_SERVE
#include "kinesis/testing.h"

static struct {
  uv_thread_t thread;
  uv_sem_t ready;
  uv_sem_t closed;
  uv_sem_t never;
  uv_loop_t loop;
  uv_async_t stop;
  kinesis_serve_t* serve;
  int status;
  char url[64];
} svc;


static void on_serve_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
}


static void on_stop(uv_async_t* a) {
  ASSERT_OK(kinesis_serve_close(svc.serve, on_serve_closed, NULL));
  uv_close((uv_handle_t*) a, NULL);
}


static void run_service(void* arg) {
  kinesis_serve_options_t o;

  (void) arg;
  ASSERT_OK(uv_loop_init(&svc.loop));
  kinesis_serve_options_init(&o);
  o.limits_off = KINESIS_SERVE_LIMITS_ALL;
  svc.status = kinesis_serve_new(&svc.loop, &o, &svc.serve);
  if (svc.status == 0) {
    ASSERT_OK(uv_async_init(&svc.loop, &svc.stop, on_stop));
    ASSERT(strlen(kinesis_serve_url(svc.serve)) < sizeof(svc.url));
    strcpy(svc.url, kinesis_serve_url(svc.serve));
  }
  uv_sem_post(&svc.ready);
  if (svc.status != 0)
    return;
  ASSERT_OK(uv_run(&svc.loop, UV_RUN_DEFAULT));
  ASSERT_OK(uv_loop_close(&svc.loop));
  /* The service is closed and its loop too. h2o keeps the memory it frees
   * in caches of its own thread; were the thread to end, the
   * LeakSanitizer would count them as leaks. Parked until the process
   * exits, the thread keeps them reachable, as the main thread does. */
  uv_sem_post(&svc.closed);
  uv_sem_wait(&svc.never);
}


static void stop_service(void) {
  ASSERT_OK(uv_async_send(&svc.stop));
  uv_sem_wait(&svc.closed);
}


static const char* in_process(void) {
  if (svc.url[0] != '\0')
    return svc.url;
  ASSERT_OK(uv_sem_init(&svc.ready, 0));
  ASSERT_OK(uv_sem_init(&svc.closed, 0));
  ASSERT_OK(uv_sem_init(&svc.never, 0));
  ASSERT_OK(uv_thread_create(&svc.thread, run_service, NULL));
  uv_sem_wait(&svc.ready);
  if (svc.status != 0) {
    fprintf(stderr, "the in-process service did not start: %s\n",
            kinesis_strerror(svc.status));
    abort();
  }
  ASSERT_OK(atexit(stop_service));
  return svc.url;
}
#endif


const char* test_endpoint(void) {
  const char* mode = getenv("KINESIS_TEST_SERVICE");

  if (mode != NULL && strcmp(mode, "in-process") == 0) {
#ifdef KN_TEST_SERVE
    return in_process();
#else
    fprintf(stderr, "KINESIS_TEST_SERVICE=in-process, but this build has "
                    "no fake service (-Dserve=disabled)\n");
    exit(1);
#endif
  }
  return kn_test_require_env("KINESIS_TEST_ENDPOINT");
}
