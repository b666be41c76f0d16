/* credential_process (lib/cred_process.c): real commands run through
 * /bin/sh, from small scripts each test writes into a temporary directory:
 * good output with and without SessionToken and Expiration, a non-zero
 * exit, a signal, malformed JSON, missing keys, Version 2, too much output,
 * a command that hangs (and one that ignores SIGTERM), standard error in the
 * log while standard output never reaches it, and cancel. Every test ends
 * with uv_loop_close() == 0 and the command's processes gone. */

#include "harness.h"
#include "internal.h"

#include "codec.h"
#include "cred_process.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];


static void tmp_setup(void) {
  kn_test_mkdtemp(tmpdir, sizeof(tmpdir), "kn-credproc");
}


static void tmp_cleanup(void) {
  kn_test_rmtree(tmpdir);
}


/* Writes an executable script `name` holding `body` after a #!/bin/sh
 * line and a cd to its directory (where it writes its pid files); returns
 * its path (static, overwritten by the next call). */
static const char* script(const char* name, const char* body) {
  static char path[512];
  FILE* f;
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  fprintf(f, "#!/bin/sh\ncd \"$(dirname \"$0\")\" || exit 99\n%s\n", body);
  ASSERT_OK(fclose(f));
  ASSERT_OK(chmod(path, 0700));
  return path;
}


/* ---- One run on a loop ---- */


#define MAX_LOG 300

typedef struct run_s {
  int started; /* set once start returned: the callback must see it */
  int calls;
  int status;
  kn_credentials_t creds;
  char message[1024];
  char* log[MAX_LOG];
  int nlog;
  kn_cred_process_t* handle;
  uint32_t cancel_after_ms; /* > 0: cancel this long after the start */
  uv_timer_t cancel_timer;
  uint64_t started_ms;
  uint64_t done_ms;
  uv_loop_t* loop;
} run_t;


static void on_log(const char* line, void* arg) {
  run_t* r = arg;
  ASSERT_NOT_NULL(line);
  ASSERT_LT(r->nlog, MAX_LOG);
  r->log[r->nlog] = strdup(line);
  ASSERT_NOT_NULL(r->log[r->nlog]);
  r->nlog++;
}


static void on_done(int status, kn_credentials_t* creds, const char* message,
                    void* arg) {
  run_t* r = arg;
  ASSERT_EQ(1, r->started);
  ASSERT_EQ(0, r->calls);
  r->calls++;
  r->status = status;
  r->done_ms = uv_now(r->loop);
  if (status == 0) {
    ASSERT_NOT_NULL(creds);
    ASSERT_NULL(message);
    /* Takes the strings over, as the contract allows. */
    r->creds = *creds;
    memset(creds, 0, sizeof(*creds));
  } else {
    ASSERT_NULL(creds);
    ASSERT_NOT_NULL(message);
    snprintf(r->message, sizeof(r->message), "%s", message);
  }
  /* A cancel from inside the callback does nothing. */
  kn_cred_process_cancel(r->handle);
  if (r->cancel_after_ms > 0)
    uv_timer_stop(&r->cancel_timer);
}


static void on_cancel_timer(uv_timer_t* t) {
  run_t* r = t->data;
  kn_cred_process_cancel(r->handle);
}


static void on_timer_closed(uv_handle_t* h) {
  (void) h;
}


/* Runs `command` to its callback, closes the loop (asserting
 * uv_loop_close() == 0). */
static void run(run_t* r, const char* command, uint32_t timeout_ms) {
  uv_loop_t loop;

  ASSERT_OK(uv_loop_init(&loop));
  r->loop = &loop;
  if (r->cancel_after_ms > 0) {
    ASSERT_OK(uv_timer_init(&loop, &r->cancel_timer));
    r->cancel_timer.data = r;
    ASSERT_OK(uv_timer_start(&r->cancel_timer, on_cancel_timer,
                             r->cancel_after_ms, 0));
  }
  r->started_ms = uv_now(&loop);
  ASSERT_OK(kn_cred_process_start(&loop, command, timeout_ms, on_log, r,
                                  on_done, r, &r->handle));
  r->started = 1;
  ASSERT_EQ(0, r->calls);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r->calls);
  if (r->cancel_after_ms > 0)
    uv_close((uv_handle_t*) &r->cancel_timer, on_timer_closed);
  kn_test_loop_close(&loop);
}


static void run_free(run_t* r) {
  int i;
  kn_credentials_clear(&r->creds);
  for (i = 0; i < r->nlog; i++)
    free(r->log[i]);
  memset(r, 0, sizeof(*r));
}


static int log_has(const run_t* r, const char* needle) {
  int i;
  for (i = 0; i < r->nlog; i++)
    if (strstr(r->log[i], needle) != NULL)
      return 1;
  return 0;
}


/* Reads a pid a script wrote. */
static int read_pid(const char* name) {
  char path[512];
  FILE* f;
  int pid = 0;
  snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
  f = fopen(path, "r");
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(1, fscanf(f, "%d", &pid));
  fclose(f);
  ASSERT_GT(pid, 1);
  return pid;
}


/* 1 when `pid` is gone or a zombie (killed, waiting for whoever reaps
 * orphans). Polls up to two seconds for the orphan's end. */
static int pid_dead(int pid) {
  int i;
  for (i = 0; i < 200; i++) {
    char path[64];
    char buf[512];
    FILE* f;
    char* close_paren;
    if (kill(pid, 0) != 0 && errno == ESRCH)
      return 1;
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
      return 1;
    buf[0] = '\0';
    if (fgets(buf, sizeof(buf), f) == NULL)
      buf[0] = '\0';
    fclose(f);
    close_paren = strrchr(buf, ')');
    if (close_paren != NULL && close_paren[1] == ' ' &&
        (close_paren[2] == 'Z' || close_paren[2] == 'X'))
      return 1;
    usleep(10000);
  }
  return 0;
}


/* ---- Good output ---- */


static void test_full_output(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r,
      script("full.sh",
             "echo '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\","
             " \"SecretAccessKey\": \"proc-secret\","
             " \"SessionToken\": \"proc-token\","
             " \"Expiration\": \"2030-01-02T03:04:05Z\"}'"),
      0);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("ASIAPROC", r.creds.access_key_id);
  ASSERT_STR_EQ("proc-secret", r.creds.secret_access_key);
  ASSERT_STR_EQ("proc-token", r.creds.session_token);
  /* date -u -d 2030-01-02T03:04:05Z +%s gives 1893553445. */
  ASSERT_EQ(1893553445000LL, r.creds.expiration_ms);
  ASSERT_STR_EQ("process", r.creds.source);
  ASSERT_EQ(0, r.nlog);
  run_free(&r);
  tmp_cleanup();
}


/* No SessionToken, no Expiration: long-term keys that never expire. The
 * script also reads its standard input, which must be /dev/null (an
 * inherited terminal or pipe would hang it). */
static void test_minimal_output(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r,
      script("min.sh",
             "cat >/dev/null\n"
             "printf '%s' '{\"Version\":1,\"AccessKeyId\":\"AKIAPROC\","
             "\"SecretAccessKey\":\"long-term-secret\"}'"),
      5000);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("AKIAPROC", r.creds.access_key_id);
  ASSERT_STR_EQ("long-term-secret", r.creds.secret_access_key);
  ASSERT_NULL(r.creds.session_token);
  ASSERT_EQ(0, r.creds.expiration_ms);
  run_free(&r);
  tmp_cleanup();
}


/* ---- Failures ---- */


static void test_nonzero_exit(void) {
  run_t r;
  const char* path;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  path = script("fail.sh",
                "echo 'token expired, run login' >&2\n"
                "echo '{\"Version\":1,\"AccessKeyId\":\"A\","
                "\"SecretAccessKey\":\"EXIT3SECRET\"}'\n"
                "exit 3");
  run(&r, path, 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "exited with status 3"));
  ASSERT_NOT_NULL(strstr(r.message, path));
  ASSERT_NULL(strstr(r.message, "EXIT3SECRET"));
  ASSERT(log_has(&r, "token expired, run login"));
  ASSERT(!log_has(&r, "EXIT3SECRET"));
  run_free(&r);
  tmp_cleanup();
}


static void test_killed_by_signal(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  /* The shell itself killed: libuv reports the signal. */
  run(&r, "kill -9 $$", 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "killed by signal 9"));
  run_free(&r);

  /* A script the shell ran killed: the shell exits with 128 + 9. */
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r, script("sig.sh", "kill -9 $$"), 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "exited with status 137 (128 + signal 9"));
  run_free(&r);
  tmp_cleanup();
}


static void test_not_found(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  run(&r, "/nonexistent/kn-test/helper --profile x", 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "exited with status 127"));
  ASSERT_NOT_NULL(strstr(r.message, "\"/nonexistent/kn-test/helper\""));
  ASSERT_NULL(strstr(r.message, "--profile"));
  ASSERT(log_has(&r, "/nonexistent/kn-test/helper"));
  run_free(&r);

  /* A quoted first word is named whole. */
  memset(&r, 0, sizeof(r));
  run(&r, "'/nonexistent/kn test/helper' --profile x", 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "\"/nonexistent/kn test/helper\""));
  run_free(&r);
}


/* The message names the first word only: not the arguments, not the
 * VAR=value assignments before it. */
static void test_message_names_first_word(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  run(&r, "HELPER_PASSWORD=hunter2 sh -c 'exit 4' --secret-arg", 0);
  ASSERT_EQ(KINESIS_ENOCREDS, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "credential_process \"sh\""));
  ASSERT_NULL(strstr(r.message, "hunter2"));
  ASSERT_NULL(strstr(r.message, "secret-arg"));
  run_free(&r);
}


static void check_refused(const char* name, const char* output,
                          const char* why) {
  run_t r;
  char body[1024];
  memset(&r, 0, sizeof(r));
  snprintf(body, sizeof(body), "printf '%%s' '%s'", output);
  run(&r, script(name, body), 0);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  if (strstr(r.message, why) == NULL)
    fprintf(stderr, "message: %s\n", r.message);
  ASSERT_NOT_NULL(strstr(r.message, why));
  /* No value of the document reaches the message or the log. */
  ASSERT_NULL(strstr(r.message, "REFUSEDSECRET"));
  ASSERT(!log_has(&r, "REFUSEDSECRET"));
  run_free(&r);
}


static void test_malformed_output(void) {
  tmp_setup();
  check_refused("trunc.sh",
                "{\"Version\": 1, \"AccessKeyId\": \"A\", "
                "\"SecretAccessKey\": \"REFUSEDSECRET\"",
                "not JSON");
  check_refused("text.sh", "REFUSEDSECRET", "not JSON");
  check_refused("array.sh", "[\"REFUSEDSECRET\"]", "not a JSON object");
  check_refused("empty.sh", "", "not JSON");
  check_refused("badexp.sh",
                "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
                "\"REFUSEDSECRET\",\"Expiration\":\"tomorrow\"}",
                "Expiration");
  tmp_cleanup();
}


static void test_missing_keys(void) {
  tmp_setup();
  check_refused("nosecret.sh", "{\"Version\":1,\"AccessKeyId\":\"A\"}",
                "no \"SecretAccessKey\" string");
  check_refused("noakid.sh",
                "{\"Version\":1,\"SecretAccessKey\":\"REFUSEDSECRET\"}",
                "no \"AccessKeyId\" string");
  check_refused("emptyakid.sh",
                "{\"Version\":1,\"AccessKeyId\":\"\","
                "\"SecretAccessKey\":\"REFUSEDSECRET\"}",
                "no \"AccessKeyId\" string");
  check_refused("noversion.sh",
                "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
                "\"REFUSEDSECRET\"}",
                "no \"Version\"");
  tmp_cleanup();
}


static void test_version_2(void) {
  tmp_setup();
  check_refused("v2.sh",
                "{\"Version\":2,\"AccessKeyId\":\"A\","
                "\"SecretAccessKey\":\"REFUSEDSECRET\"}",
                "\"Version\" is 2; only 1 is supported");
  check_refused("vstr.sh",
                "{\"Version\":\"1\",\"AccessKeyId\":\"A\","
                "\"SecretAccessKey\":\"REFUSEDSECRET\"}",
                "\"Version\" is not a number");
  tmp_cleanup();
}


/* 64 KiB + 1 of output is refused; so is endless output, which is stopped
 * at the limit rather than read forever. */
static void test_too_much_output(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r, script("big.sh", "head -c 65537 /dev/zero | tr '\\0' a"), 0);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "more than 65536 bytes"));
  run_free(&r);

  /* Exactly the limit is read whole (and is not JSON). */
  memset(&r, 0, sizeof(r));
  run(&r, script("limit.sh", "head -c 65536 /dev/zero | tr '\\0' ' '"), 0);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "not JSON"));
  run_free(&r);

  memset(&r, 0, sizeof(r));
  run(&r, script("endless.sh", "echo $$ > endless.pid\nexec yes REFUSED"), 0);
  ASSERT_EQ(KINESIS_EPROTO, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "more than 65536 bytes"));
  ASSERT(pid_dead(read_pid("endless.pid")));
  run_free(&r);
  tmp_cleanup();
}


/* ---- Hangs ---- */


/* A command that sleeps, with a child of its own that sleeps too: both are
 * stopped at the timeout with SIGTERM, reaped, and the loop closes. */
static void test_hang_killed(void) {
  run_t r;
  char cmd[512];
  memset(&r, 0, sizeof(r));
  tmp_setup();
  snprintf(cmd, sizeof(cmd), "cd '%s' && %s", tmpdir,
           script("hang.sh",
                  "sleep 30 &\n"
                  "echo $! > child.pid\n"
                  "echo $$ > hang.pid\n"
                  "wait"));
  run(&r, cmd, 300);
  ASSERT_EQ(KINESIS_ETIMEDOUT, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "did not finish within 300 ms"));
  /* Stopped by SIGTERM at once, not after the grace period. */
  ASSERT_GE(r.done_ms - r.started_ms, 300);
  ASSERT_LT(r.done_ms - r.started_ms, 300 + KN_CRED_PROCESS_KILL_GRACE_MS);
  ASSERT(pid_dead(read_pid("hang.pid")));
  ASSERT(pid_dead(read_pid("child.pid")));
  run_free(&r);
  tmp_cleanup();
}


/* A command that ignores SIGTERM (and so does its child, which inherits the
 * disposition) gets SIGKILL after the grace period. */
static void test_hang_ignoring_term(void) {
  run_t r;
  char cmd[512];
  memset(&r, 0, sizeof(r));
  tmp_setup();
  snprintf(cmd, sizeof(cmd), "cd '%s' && exec %s", tmpdir,
           script("stubborn.sh",
                  "trap '' TERM\n"
                  "sleep 30 &\n"
                  "echo $! > child.pid\n"
                  "echo $$ > stubborn.pid\n"
                  "wait"));
  run(&r, cmd, 200);
  ASSERT_EQ(KINESIS_ETIMEDOUT, r.status);
  ASSERT_GE(r.done_ms - r.started_ms, 200 + KN_CRED_PROCESS_KILL_GRACE_MS);
  ASSERT_LT(r.done_ms - r.started_ms, 200 + 2 * KN_CRED_PROCESS_KILL_GRACE_MS);
  ASSERT(pid_dead(read_pid("stubborn.pid")));
  ASSERT(pid_dead(read_pid("child.pid")));
  run_free(&r);
  tmp_cleanup();
}


/* A command that exits 0 but leaves a child holding its output open: the
 * output never ends, so the timeout stops the child and the fetch fails
 * rather than waiting forever. */
static void test_exited_output_left_open(void) {
  run_t r;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r,
      script("leaves.sh",
             "sleep 30 &\n"
             "echo $! > child.pid\n"
             "echo '{\"Version\":1,\"AccessKeyId\":\"A\","
             "\"SecretAccessKey\":\"S\"}'\n"
             "exit 0"),
      300);
  ASSERT_EQ(KINESIS_ETIMEDOUT, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "kept its output open"));
  ASSERT_LT(r.done_ms - r.started_ms, 300 + KN_CRED_PROCESS_KILL_GRACE_MS);
  ASSERT(pid_dead(read_pid("child.pid")));
  run_free(&r);
  tmp_cleanup();
}


/* ---- Standard error and secrets ---- */


/* Standard error goes to the log, line by line; the secret on standard
 * output never does, and neither does it reach a message. */
static void test_stderr_logged_stdout_never(void) {
  run_t r;
  int i;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r,
      script("chatty.sh",
             "echo 'fetching credentials' >&2\n"
             "echo 'debug: SecretAccessKey=FAKESTDERRLOOKALIKE' >&2\n"
             "printf 'no newline at the end' >&2\n"
             "echo '{\"Version\":1,\"AccessKeyId\":\"ASIACHATTY\","
             "\"SecretAccessKey\":\"REALSTDOUTSECRET\","
             "\"SessionToken\":\"REALSTDOUTTOKEN\"}'"),
      0);
  ASSERT_OK(r.status);
  ASSERT_STR_EQ("REALSTDOUTSECRET", r.creds.secret_access_key);
  ASSERT_EQ(3, r.nlog);
  ASSERT(log_has(&r, "fetching credentials"));
  ASSERT(log_has(&r, "FAKESTDERRLOOKALIKE"));
  ASSERT(log_has(&r, "no newline at the end"));
  for (i = 0; i < r.nlog; i++) {
    ASSERT_NOT_NULL(strstr(r.log[i], "credential_process \""));
    ASSERT_NULL(strstr(r.log[i], "REALSTDOUTSECRET"));
    ASSERT_NULL(strstr(r.log[i], "REALSTDOUTTOKEN"));
    ASSERT_NULL(strstr(r.log[i], "ASIACHATTY"));
  }
  run_free(&r);
  tmp_cleanup();
}


/* Long lines are cut, control characters replaced, and after
 * KN_CRED_PROCESS_MAX_LINES lines one last line says the rest is dropped;
 * the command still runs to its end. */
static void test_stderr_bounded(void) {
  run_t r;
  int i;
  memset(&r, 0, sizeof(r));
  tmp_setup();
  run(&r,
      script("noisy.sh",
             "head -c 5000 /dev/zero | tr '\\0' x >&2\n"
             "printf '\\n\\033[31mred\\033[0m\\rover\\r\\n' >&2\n"
             "i=0; while [ $i -lt 300 ]; do echo \"line $i\" >&2; "
             "i=$((i+1)); done\n"
             "echo '{\"Version\":1,\"AccessKeyId\":\"A\","
             "\"SecretAccessKey\":\"S\"}'"),
      0);
  ASSERT_OK(r.status);
  ASSERT_EQ(KN_CRED_PROCESS_MAX_LINES + 1, r.nlog);
  ASSERT_LE(strlen(r.log[0]), KN_CRED_PROCESS_MAX_LINE + 100);
  ASSERT_NOT_NULL(strstr(r.log[0], "xxx..."));
  ASSERT_NOT_NULL(strstr(r.log[1], "?[31mred?[0m?over"));
  ASSERT_NULL(strchr(r.log[1], '\r'));
  ASSERT_NOT_NULL(strstr(r.log[KN_CRED_PROCESS_MAX_LINES], "not logged"));
  for (i = 0; i < r.nlog; i++)
    ASSERT_NULL(strchr(r.log[i], '\033'));
  run_free(&r);
  tmp_cleanup();
}


/* ---- Cancel ---- */


static void test_cancel_while_running(void) {
  run_t r;
  char cmd[512];
  memset(&r, 0, sizeof(r));
  tmp_setup();
  snprintf(cmd, sizeof(cmd), "cd '%s' && %s", tmpdir,
           script("slow.sh", "echo $$ > slow.pid\nexec sleep 30"));
  r.cancel_after_ms = 100;
  run(&r, cmd, 10000);
  ASSERT_EQ(KINESIS_ECANCELED, r.status);
  ASSERT_NOT_NULL(strstr(r.message, "canceled"));
  ASSERT_LT(r.done_ms - r.started_ms, 100 + KN_CRED_PROCESS_KILL_GRACE_MS);
  ASSERT(pid_dead(read_pid("slow.pid")));
  run_free(&r);
  tmp_cleanup();
}


static void cancel_at_once_cb(int status, kn_credentials_t* creds,
                              const char* message, void* arg) {
  run_t* r = arg;
  (void) creds;
  (void) message;
  ASSERT_EQ(1, r->started);
  r->calls++;
  r->status = status;
}


/* A cancel right after the start: the callback still runs later, once,
 * with KINESIS_ECANCELED, even for a command that would succeed. */
static void test_cancel_at_once(void) {
  uv_loop_t loop;
  run_t r;
  kn_cred_process_t* p = NULL;
  memset(&r, 0, sizeof(r));
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_cred_process_start(
      &loop,
      "echo '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\"}'",
      0, NULL, NULL, cancel_at_once_cb, &r, &p));
  kn_cred_process_cancel(p);
  kn_cred_process_cancel(p);
  r.started = 1;
  ASSERT_EQ(0, r.calls);
  ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, r.calls);
  ASSERT_EQ(KINESIS_ECANCELED, r.status);
  kn_test_loop_close(&loop);
}


/* ---- Arguments ---- */


static void never_cb(int status, kn_credentials_t* creds, const char* message,
                     void* arg) {
  (void) status;
  (void) creds;
  (void) message;
  (void) arg;
  ASSERT(0);
}


static void test_invalid_arguments(void) {
  uv_loop_t loop;
  kn_cred_process_t* p = NULL;
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_process_start(NULL, "true", 0, NULL, NULL,
                                                  never_cb, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_process_start(&loop, NULL, 0, NULL, NULL,
                                                  never_cb, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_process_start(&loop, "", 0, NULL, NULL,
                                                  never_cb, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_process_start(&loop, " \t\n", 0, NULL, NULL,
                                                  never_cb, NULL, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_cred_process_start(&loop, "true", 0, NULL, NULL,
                                                  NULL, NULL, &p));
  ASSERT_NULL(p);
  kn_cred_process_cancel(NULL);
  kn_test_loop_close(&loop);
}


/* Allocation failures at the start return KINESIS_ENOMEM and leave nothing
 * behind. */
static void test_start_alloc_failures(void) {
  int64_t i;
  kn_test_alloc_install();
  for (i = 0; i < 3; i++) {
    uv_loop_t loop;
    kn_cred_process_t* p = NULL;
    ASSERT_OK(uv_loop_init(&loop));
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    kn_test_alloc_fail_at = i;
    ASSERT_EQ(KINESIS_ENOMEM, kn_cred_process_start(&loop, "true", 0, NULL,
                                                    NULL, never_cb, NULL, &p));
    kn_test_alloc_fail_at = -1;
    ASSERT_EQ(0, kn_test_alloc_live);
    kn_test_loop_close(&loop);
  }
}


/* A whole run failing each of the library's allocations in turn: ENOMEM
 * from the start, or a callback (credentials, or ENOMEM from parsing the
 * output); never a leak, and the loop always closes. */
static void test_run_alloc_failures(void) {
  int64_t i;
  int done = 0;
  int ok = 0;
  kn_test_alloc_install();
  for (i = 0; !done; i++) {
    uv_loop_t loop;
    run_t r;
    int rc;
    memset(&r, 0, sizeof(r));
    ASSERT_OK(uv_loop_init(&loop));
    r.loop = &loop;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    kn_test_alloc_fail_at = i;
    rc = kn_cred_process_start(
        &loop,
        "echo '{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":"
        "\"S\",\"SessionToken\":\"T\"}'",
        0, NULL, NULL, on_done, &r, &r.handle);
    r.started = 1;
    if (rc == 0) {
      ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
      ASSERT_EQ(1, r.calls);
      if (r.status == 0) {
        ok++;
        ASSERT_STR_EQ("T", r.creds.session_token);
      } else {
        ASSERT_EQ(KINESIS_ENOMEM, r.status);
        ASSERT_NOT_NULL(strstr(r.message, "credential_process \"echo\": "));
      }
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, rc);
    }
    kn_test_loop_close(&loop);
    done = kn_test_alloc_count <= i;
    kn_test_alloc_fail_at = -1;
    run_free(&r);
    ASSERT_EQ(0, kn_test_alloc_live);
  }
  ASSERT_EQ(1, ok);
  ASSERT_GT(i, 4);
}


/* ---- The document parser alone ---- */


static void test_parse_process_json(void) {
  kn_codec_creds_t c;
  char why[128];
  static const char good[] =
      "{\"Version\":1,\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"SK\","
      "\"SessionToken\":null,\"Expiration\":\"2030-01-02T03:04:05.250Z\"}";
  static const char bad_token[] =
      "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"S\","
      "\"SessionToken\":5}";

  ASSERT_OK(kn_codec_parse_process_credentials(good, strlen(good), &c, why, sizeof(why)));
  ASSERT_STR_EQ("AK", c.access_key_id);
  ASSERT_NULL(c.session_token);
  ASSERT_EQ(1893553445250LL, c.expiration_ms);
  kn_codec_creds_clear(&c);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_process_credentials("{\"Version\":1.0}", 15, &c,
                                                 why, sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "Version"));
  ASSERT_NULL(c.access_key_id);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_process_credentials(bad_token, strlen(bad_token),
                                                 &c, why, sizeof(why)));
  ASSERT_NOT_NULL(strstr(why, "SessionToken"));
  ASSERT_EQ(KINESIS_EINVAL,
            kn_codec_parse_process_credentials(NULL, 0, &c, why, sizeof(why)));
}


KN_TEST_MAIN(KN_TEST(test_full_output), KN_TEST(test_minimal_output),
             KN_TEST(test_nonzero_exit), KN_TEST(test_killed_by_signal),
             KN_TEST(test_not_found), KN_TEST(test_message_names_first_word),
             KN_TEST(test_malformed_output), KN_TEST(test_missing_keys),
             KN_TEST(test_version_2), KN_TEST(test_too_much_output),
             KN_TEST(test_hang_killed), KN_TEST(test_hang_ignoring_term),
             KN_TEST(test_exited_output_left_open),
             KN_TEST(test_stderr_logged_stdout_never),
             KN_TEST(test_stderr_bounded), KN_TEST(test_cancel_while_running),
             KN_TEST(test_cancel_at_once), KN_TEST(test_invalid_arguments),
             KN_TEST(test_start_alloc_failures),
             KN_TEST(test_run_alloc_failures), KN_TEST(test_parse_process_json))
