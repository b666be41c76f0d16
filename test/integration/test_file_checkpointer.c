/* The file checkpointer of examples/file_checkpointer.c: the checkpointer
 * contract (test/checkpoint_conformance.c, a fresh file for each case),
 * then what only a file has: checkpoints that outlive the store and the
 * process, the file's format, one process per file, and a write that
 * fails. */

#define _DEFAULT_SOURCE /* mkdtemp(), fork(), kill() */

#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint_conformance.h"
#include "file_checkpointer.h"
#include "kinesis/checkpoint.h"


static char g_dir[256];
static int g_files;


/* A path in the test's directory that no case has used. */
static void fresh_path(char* buf, size_t size) {
  snprintf(buf, size, "%s/ckpt-%d", g_dir, ++g_files);
}


static kinesis_checkpointer_t* open_at(uv_loop_t* loop, const char* path,
                                       uint32_t timeout_ms) {
  kinesis_checkpointer_t* cp = NULL;
  ASSERT_OK(file_checkpointer_new(loop, path, timeout_ms, &cp));
  ASSERT_NOT_NULL(cp);
  ASSERT_NOT_NULL(cp->ops->member);
  ASSERT_EQ(timeout_ms > 0 ? timeout_ms : 10000, cp->session_timeout_ms);
  return cp;
}


static kinesis_checkpointer_t* make(uv_loop_t* loop, uint32_t timeout_ms) {
  char path[300];
  fresh_path(path, sizeof(path));
  return open_at(loop, path, timeout_ms);
}


/* The store holds no active handle while it has nothing to answer, so the
 * loop runs dry (as the memory store's does). */
static void run_dry(uv_loop_t* loop, const int* count, const int* target,
                    uint64_t limit_ms) {
  (void) limit_ms;
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_GE(*count, *target);
}


static const kn_conf_store_t file_store = {
    .make = make,
    .run_until = run_dry,
    .short_timeout_ms = 100,
    /* Leases are stamped with uv_now() when an operation is called, and
     * one idle callback delivers everything queued before it. */
    .promises = KN_CONF_LOOP_CLOCK | KN_CONF_ONE_TICK,
};


static void write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "w");
  ASSERT_NOT_NULL(f);
  ASSERT_EQ(strlen(text), fwrite(text, 1, strlen(text), f));
  ASSERT_OK(fclose(f));
}


#define HEADER "# libkinesis file checkpointer 1\n"


/* ---- Tests ---- */


/* Checkpoints and finished shards are in the file, in its documented
 * format, and a store opened on it later has them; leases are not kept. */
static void test_persists(void) {
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, b = {0}, c = {0}, g1 = {0}, g2 = {0}, b2 = {0};
  kn_conf_plain_t ck1 = {0}, ck2 = {0}, fin = {0}, hb = {0};
  char path[300], tmp[310];
  char* text;
  struct stat st;

  fresh_path(path, sizeof(path));
  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 0);
  ASSERT_OK(kn_conf_claim(cp, "shardId-1", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(cp, "shardId-1", "A", "100", 0, 0, &ck1));
  ASSERT_OK(
      kn_conf_checkpoint(cp, "shardId-1", "A", KN_CONF_SEQ_A, 3, 1, &ck2));
  ASSERT_OK(kn_conf_claim(cp, "shardId-2", "A", &b));
  ASSERT_OK(kn_conf_finish(cp, "shardId-2", "A", &fin));
  /* A lease alone is not written. */
  ASSERT_OK(kn_conf_claim(cp, "shardId-3", "A", &c));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(ck2, 0);
  ASSERT_ANSWERED(fin, 0);

  text = kn_test_read_file(path, NULL);
  ASSERT_NOT_NULL(text);
  ASSERT_STR_EQ(HEADER "orders\tshardId-1\t" KN_CONF_SEQ_A
                       "\t3\t1\t0\n"
                       "orders\tshardId-2\t-\t0\t0\t1\n",
                text);
  free(text);
  /* No temporary file is left behind. */
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  ASSERT_EQ(-1, stat(tmp, &st));
  kn_conf_close_all(&loop, cp);

  /* A new store on the file: the checkpoints are back, and A's lease is
   * gone with the store that held it (B need not wait for it to lapse). */
  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 60000);
  ASSERT_OK(kn_conf_get(cp, "shardId-1", &g1));
  ASSERT_OK(kn_conf_get(cp, "shardId-2", &g2));
  ASSERT_OK(kn_conf_claim(cp, "shardId-1", "B", &b2));
  ASSERT_OK(kn_conf_heartbeat(cp, "shardId-1", "A", &hb));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g1, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, g1.seq);
  ASSERT_EQ(3, g1.sub);
  ASSERT_EQ(1, g1.partial);
  ASSERT_EQ(0, g1.finished);
  ASSERT_ANSWERED(g2, 0);
  ASSERT(!g2.has_seq);
  ASSERT_EQ(1, g2.finished);
  ASSERT_ANSWERED(b2, 0);
  ASSERT_STR_EQ(KN_CONF_SEQ_A, b2.seq);
  ASSERT_ANSWERED(hb, KINESIS_ELEASELOST);
  kn_conf_close_all(&loop, cp);
}


/* A checkpoint is on disk when it is answered: a process killed without
 * closing the store loses nothing, and its lock goes with it. */
static void test_survives_process_death(void) {
  char path[300];
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t g = {0};
  pid_t pid;
  int status;

  fresh_path(path, sizeof(path));
  fflush(NULL);
  pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    kn_conf_state_t a = {0};
    kn_conf_plain_t ck = {0};
    ASSERT_OK(uv_loop_init(&loop));
    cp = open_at(&loop, path, 0);
    ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
    ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "4242", 0, 0, &ck));
    kn_conf_settle(&loop);
    ASSERT_ANSWERED(ck, 0);
    /* Dead at once: nothing closed, nothing freed, nothing flushed. */
    kill(getpid(), SIGKILL);
  }
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  /* Not an assertion failure (SIGABRT) in the child. */
  ASSERT(WIFSIGNALED(status));
  ASSERT_EQ(SIGKILL, WTERMSIG(status));

  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 0);
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(g, 0);
  ASSERT_STR_EQ("4242", g.seq);
  kn_conf_close_all(&loop, cp);
}


/* One store per file at a time: a second one is refused with
 * KINESIS_EBUSY until the first is closed. flock() locks belong to an
 * open file, so this holds inside one process too. */
static void test_one_store_per_file(void) {
  char path[300];
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kinesis_checkpointer_t* other = NULL;

  fresh_path(path, sizeof(path));
  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 0);
  ASSERT_EQ(KINESIS_EBUSY, file_checkpointer_new(&loop, path, 0, &other));
  ASSERT_NULL(other);
  kn_conf_close_all(&loop, cp);

  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 0);
  kn_conf_close_all(&loop, cp);
}


/* What the store refuses to open, and names the file cannot hold. */
static void test_bad_input(void) {
  static const char* const bad[] = {
      "not a checkpoint file\n",
      HEADER "orders\tshardId-1\t100\t0\t0\n",           /* a field short */
      HEADER "orders\tshardId-1\t100\t0\t0\t0\textra\n", /* a field over */
      HEADER "orders\tshardId-1\t12a\t0\t0\t0\n",
      HEADER "orders\tshardId-1\t100\t4294967296\t0\t0\n",
      HEADER "orders\tshardId-1\t100\t-1\t0\t0\n",
      HEADER "orders\tshardId-1\t100\t0\t2\t0\n",
      HEADER "\tshardId-1\t100\t0\t0\t0\n",
  };
  char path[300];
  uv_loop_t loop;
  kinesis_checkpointer_t* cp = NULL;
  kn_conf_state_t s = {0};
  kn_conf_plain_t p = {0};
  kn_conf_members_t m = {0};
  kinesis_checkpoint_t pos;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    fresh_path(path, sizeof(path));
    write_file(path, bad[i]);
    ASSERT_EQ(KINESIS_EINVAL, file_checkpointer_new(&loop, path, 0, &cp));
    ASSERT_NULL(cp);
  }
  ASSERT_EQ(KINESIS_EINVAL, file_checkpointer_new(NULL, path, 0, &cp));
  ASSERT_EQ(KINESIS_EINVAL, file_checkpointer_new(&loop, NULL, 0, &cp));
  ASSERT_EQ(KINESIS_EINVAL, file_checkpointer_new(&loop, "", 0, &cp));
  ASSERT_EQ(KINESIS_EINVAL, file_checkpointer_new(&loop, path, 0, NULL));
  snprintf(path, sizeof(path), "%s/no-such-dir/ckpt", g_dir);
  ASSERT_EQ(UV_ENOENT, file_checkpointer_new(&loop, path, 0, &cp));
  ASSERT_NULL(cp);

  /* An empty file, or one with only the header, is an empty store. */
  fresh_path(path, sizeof(path));
  write_file(path, "");
  cp = open_at(&loop, path, 0);
  kn_conf_close(&loop, cp);
  fresh_path(path, sizeof(path));
  write_file(path, HEADER);
  cp = open_at(&loop, path, 0);

  /* Tabs and line breaks would break the file's lines. */
  memset(&pos, 0, sizeof(pos));
  pos.sequence_number = "1";
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_claim(cp, "a\tb", "A", &s));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_claim_on(cp, "or\nders", "s", "A", &s));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_get(cp, "s\r", &s));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_heartbeat(cp, "a\tb", "A", &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_checkpoint(cp, "a\nb", "A", "1", 0, 0, &p));
  ASSERT_EQ(KINESIS_EINVAL, kn_conf_member_on(cp, "a\tb", "A", 0, &m));
  /* Owners are never written, so they may hold anything. */
  ASSERT_OK(kn_conf_claim(cp, "s", "host\t42", &s));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(s, 0);
  ASSERT_EQ(0, p.calls + m.calls);
  kn_conf_close_all(&loop, cp);
}


/* A write that fails (here the temporary file's name is taken by a
 * directory) is answered with KINESIS_ESTORE and changes nothing, in the
 * store or in the file; the next one succeeds. */
static void test_write_failure(void) {
  char path[300], tmp[310];
  uv_loop_t loop;
  kinesis_checkpointer_t* cp;
  kn_conf_state_t a = {0}, g = {0};
  kn_conf_plain_t ck1 = {0}, ck2 = {0}, fin = {0}, hb = {0}, ck3 = {0};
  char* text;

  fresh_path(path, sizeof(path));
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  ASSERT_OK(uv_loop_init(&loop));
  cp = open_at(&loop, path, 0);
  ASSERT_OK(kn_conf_claim(cp, "s", "A", &a));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "10", 0, 0, &ck1));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(ck1, 0);

  ASSERT_OK(mkdir(tmp, 0755));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "20", 1, 1, &ck2));
  ASSERT_OK(kn_conf_finish(cp, "s", "A", &fin));
  ASSERT_OK(kn_conf_get(cp, "s", &g));
  /* The failed finish left the lease with A. */
  ASSERT_OK(kn_conf_heartbeat(cp, "s", "A", &hb));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(ck2, KINESIS_ESTORE);
  ASSERT_ANSWERED(fin, KINESIS_ESTORE);
  ASSERT_ANSWERED(g, 0);
  ASSERT_STR_EQ("10", g.seq);
  ASSERT_EQ(0, g.sub);
  ASSERT_EQ(0, g.partial);
  ASSERT_EQ(0, g.finished);
  ASSERT_ANSWERED(hb, 0);
  text = kn_test_read_file(path, NULL);
  ASSERT_NOT_NULL(text);
  ASSERT_STR_EQ(HEADER "orders\ts\t10\t0\t0\t0\n", text);
  free(text);

  ASSERT_OK(rmdir(tmp));
  ASSERT_OK(kn_conf_checkpoint(cp, "s", "A", "30", 0, 0, &ck3));
  kn_conf_settle(&loop);
  ASSERT_ANSWERED(ck3, 0);
  text = kn_test_read_file(path, NULL);
  ASSERT_NOT_NULL(text);
  ASSERT_STR_EQ(HEADER "orders\ts\t30\t0\t0\t0\n", text);
  free(text);
  kn_conf_close_all(&loop, cp);
}


/* ---- The test's directory ---- */


static void remove_dir(const char* dir) {
  DIR* d = opendir(dir);
  struct dirent* e;
  char path[600];
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    if (unlink(path) != 0)
      remove_dir(path);
  }
  closedir(d);
  rmdir(dir);
}


int main(int argc, char** argv) {
  static const kn_test_t own[] = {
      KN_TEST(test_persists),           KN_TEST(test_survives_process_death),
      KN_TEST(test_one_store_per_file), KN_TEST(test_bad_input),
      KN_TEST(test_write_failure),
  };
  const char* tmpdir = getenv("TMPDIR");
  int r;

  snprintf(g_dir, sizeof(g_dir), "%s/kn-file-ckpt.XXXXXX",
           tmpdir != NULL && tmpdir[0] != '\0' ? tmpdir : "/tmp");
  ASSERT_NOT_NULL(mkdtemp(g_dir));
  r = kn_conf_main(argc, argv, &file_store, own, sizeof(own) / sizeof(own[0]));
  remove_dir(g_dir);
  return r;
}
