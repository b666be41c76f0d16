#ifndef KN_TEST_HARNESS_H
#define KN_TEST_HARNESS_H

/* Assertions in the style of libuv's test/task.h: on failure they print both
 * operands and abort. */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define ASSERT_BASE(a, op, b, type, fmt)                                      \
  do {                                                                        \
    type eval_a = (type) (a);                                                 \
    type eval_b = (type) (b);                                                 \
    if (!(eval_a op eval_b)) {                                                \
      fprintf(stderr,                                                         \
              "%s:%d: assertion failed: `%s %s %s` (" fmt " " #op " " fmt     \
              ")\n",                                                          \
              __FILE__, __LINE__, #a, #op, #b, eval_a, eval_b);               \
      abort();                                                                \
    }                                                                         \
  } while (0)

#define ASSERT_EQ(a, b) ASSERT_BASE(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b) ASSERT_BASE(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b) ASSERT_BASE(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_GT(a, b) ASSERT_BASE(a, >, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b) ASSERT_BASE(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b) ASSERT_BASE(a, <, b, int64_t, "%" PRId64)
#define ASSERT_OK(a) ASSERT_EQ(a, 0)

#define ASSERT(expr)                                                          \
  do {                                                                        \
    if (!(expr)) {                                                            \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,    \
              #expr);                                                         \
      abort();                                                                \
    }                                                                         \
  } while (0)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)

#define ASSERT_STR_EQ(a, b)                                                   \
  do {                                                                        \
    const char* eval_a = (a);                                                 \
    const char* eval_b = (b);                                                 \
    if (eval_a == NULL || eval_b == NULL || strcmp(eval_a, eval_b) != 0) {    \
      fprintf(stderr, "%s:%d: assertion failed: `%s == %s` (\"%s\" == \"%s\")\n", \
              __FILE__, __LINE__, #a, #b, eval_a ? eval_a : "(null)",         \
              eval_b ? eval_b : "(null)");                                    \
      abort();                                                                \
    }                                                                         \
  } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                \
  do {                                                                        \
    if (memcmp((a), (b), (n)) != 0) {                                         \
      fprintf(stderr, "%s:%d: assertion failed: memory `%s` == `%s`\n",       \
              __FILE__, __LINE__, #a, #b);                                    \
      abort();                                                                \
    }                                                                         \
  } while (0)

/* Exit status meson counts as a skip. */
#define KINESIS_TEST_SKIP(msg)                                                \
  do {                                                                        \
    fprintf(stderr, "SKIP: %s\n", msg);                                       \
    exit(77);                                                                 \
  } while (0)

/* A test case: a name and a function. Each test file ends with a table. */
typedef void (*kn_test_fn)(void);
typedef struct {
  const char* name;
  kn_test_fn fn;
} kn_test_t;

/* Runs every test in `tests` (or those named in argv), prints one line each
 * and a "N passed, N failed" summary. */
int kn_test_main(int argc, char** argv, const kn_test_t* tests, size_t n);

#define KN_TEST_MAIN(...)                                                     \
  int main(int argc, char** argv) {                                           \
    static const kn_test_t tests[] = {__VA_ARGS__};                           \
    return kn_test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0])); \
  }
#define KN_TEST(fn) {#fn, fn}

/* An environment variable that must be set by the test wrapper: with
 * CI=true its absence fails, otherwise the test skips with a hint. */
const char* kn_test_require_env(const char* name);

/* Directory of the test vectors, from KINESIS_TEST_DATA: test/data in the
 * source tree unless the testdata meson option names another. */
const char* kn_test_data_dir(void);

/* Reads a whole file, NUL-terminated; free() it. NULL on error. */
char* kn_test_read_file(const char* path, size_t* len);

/* Makes a new directory $TMPDIR/`prefix`.XXXXXX (/tmp when TMPDIR is unset
 * or empty) and writes its path into `dir`. */
void kn_test_mkdtemp(char* dir, size_t size, const char* prefix);

/* Removes `dir` and everything below it. */
void kn_test_rmtree(const char* dir);

/* Runs the loop until it has nothing to do, then closes every handle still
 * open as a failure and asserts uv_loop_close() == 0. */
void kn_test_loop_close(uv_loop_t* loop);

/* A counting allocator for allocation-failure tests (STYLE.md section 9),
 * in nghttp2's way: run a scenario once to count its allocations, then again
 * failing each one in turn. kn_test_alloc_install() makes the library use
 * it; the allocation numbered kn_test_alloc_fail_at (from 0, counted in
 * kn_test_alloc_count) fails; kn_test_alloc_live counts blocks not freed. */
extern int64_t kn_test_alloc_fail_at;
extern int64_t kn_test_alloc_count;
extern int64_t kn_test_alloc_live;
void kn_test_alloc_install(void);

/* The whole drill, for a scenario that returns how many of its steps
 * failed for want of memory: installs the allocator, runs the scenario once
 * (no step may fail, nothing may be left allocated, and it must make more
 * than `min_allocs` allocations), then once more for each allocation,
 * failing that one: some step must fail and nothing may be left behind. */
void kn_test_alloc_each(int (*scenario)(void), int64_t min_allocs);

#endif /* KN_TEST_HARNESS_H */
