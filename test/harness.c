#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "kinesis.h"


int kn_test_main(int argc, char** argv, const kn_test_t* tests, size_t n) {
  size_t i;
  int j;
  int ran = 0;

  setvbuf(stdout, NULL, _IONBF, 0);
  for (i = 0; i < n; i++) {
    int selected = argc < 2;
    for (j = 1; j < argc; j++)
      if (strcmp(argv[j], tests[i].name) == 0)
        selected = 1;
    if (!selected)
      continue;
    printf("# %s\n", tests[i].name);
    /* An assertion aborts the process, so reaching the next line passed. */
    tests[i].fn();
    printf("ok %s\n", tests[i].name);
    ran++;
  }
  if (ran == 0) {
    fprintf(stderr, "no test matched\n");
    return 1;
  }
  printf("%d passed, 0 failed\n", ran);
  return 0;
}


const char* kn_test_require_env(const char* name) {
  const char* v = getenv(name);
  const char* ci = getenv("CI");
  if (v != NULL && v[0] != '\0')
    return v;
  if (ci != NULL && strcmp(ci, "true") == 0) {
    fprintf(stderr, "%s is not set, and CI=true makes that a failure\n", name);
    exit(1);
  }
  fprintf(stderr,
          "SKIP: %s is not set. Run the integration tests with "
          "`meson test -C build` (the wrapper test/with-servers.sh starts "
          "kinesalite and the fault server) after `npm ci --prefix test`.\n",
          name);
  exit(77);
}


const char* kn_test_data_dir(void) {
  const char* d = getenv("KINESIS_TEST_DATA");
  if (d == NULL || d[0] == '\0') {
    fprintf(stderr, "KINESIS_TEST_DATA is not set; meson sets it\n");
    exit(1);
  }
  return d;
}


void kn_test_mkdtemp(char* dir, size_t size, const char* prefix) {
  const char* base = getenv("TMPDIR");
  snprintf(dir, size, "%s/%s.XXXXXX",
           base != NULL && base[0] != '\0' ? base : "/tmp", prefix);
  ASSERT_NOT_NULL(mkdtemp(dir));
}


void kn_test_rmtree(const char* dir) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ASSERT_OK(system(cmd));
}


char* kn_test_read_file(const char* path, size_t* len) {
  FILE* f = fopen(path, "rb");
  char* data;
  long size;
  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  data = malloc((size_t) size + 1);
  if (data == NULL || fread(data, 1, (size_t) size, f) != (size_t) size) {
    free(data);
    fclose(f);
    return NULL;
  }
  data[size] = '\0';
  fclose(f);
  if (len != NULL)
    *len = (size_t) size;
  return data;
}


static void on_walk(uv_handle_t* h, void* arg) {
  (void) arg;
  fprintf(stderr, "handle left open: type %s\n", uv_handle_type_name(h->type));
}


void kn_test_loop_close(uv_loop_t* loop) {
  int r;
  uv_run(loop, UV_RUN_DEFAULT);
  r = uv_loop_close(loop);
  if (r != 0)
    uv_walk(loop, on_walk, NULL);
  ASSERT_EQ(0, r);
}


int64_t kn_test_alloc_fail_at = -1;
int64_t kn_test_alloc_count;
int64_t kn_test_alloc_live;


static void* fail_malloc(size_t n) {
  void* p;
  if (kn_test_alloc_count++ == kn_test_alloc_fail_at)
    return NULL;
  p = malloc(n);
  if (p != NULL)
    kn_test_alloc_live++;
  return p;
}


static void* fail_realloc(void* old, size_t n) {
  void* p;
  if (kn_test_alloc_count++ == kn_test_alloc_fail_at)
    return NULL;
  p = realloc(old, n);
  if (p != NULL && old == NULL)
    kn_test_alloc_live++;
  return p;
}


static void* fail_calloc(size_t c, size_t n) {
  void* p;
  if (kn_test_alloc_count++ == kn_test_alloc_fail_at)
    return NULL;
  p = calloc(c, n);
  if (p != NULL)
    kn_test_alloc_live++;
  return p;
}


static void fail_free(void* p) {
  if (p != NULL)
    kn_test_alloc_live--;
  free(p);
}


void kn_test_alloc_install(void) {
  ASSERT_OK(kinesis_replace_allocator(fail_malloc, fail_realloc, fail_calloc,
                                      fail_free));
}


void kn_test_alloc_each(int (*scenario)(void), int64_t min_allocs) {
  int64_t total;
  int64_t i;

  kn_test_alloc_install();
  kn_test_alloc_fail_at = -1;
  kn_test_alloc_count = 0;
  kn_test_alloc_live = 0;
  ASSERT_EQ(0, scenario());
  ASSERT_EQ(0, kn_test_alloc_live);
  total = kn_test_alloc_count;
  ASSERT_GT(total, min_allocs);
  for (i = 0; i < total; i++) {
    kn_test_alloc_count = 0;
    kn_test_alloc_fail_at = i;
    ASSERT_GT(scenario(), 0);
    /* Whatever failed, nothing is left behind. */
    ASSERT_EQ(0, kn_test_alloc_live);
  }
  kn_test_alloc_fail_at = -1;
}
