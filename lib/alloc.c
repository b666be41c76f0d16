#include "internal.h"

#include <string.h>
#include <time.h>

typedef struct {
  kinesis_malloc_func malloc_fn;
  kinesis_realloc_func realloc_fn;
  kinesis_calloc_func calloc_fn;
  kinesis_free_func free_fn;
} kn_allocator_t;

static kn_allocator_t allocator = {malloc, realloc, calloc, free};


int kinesis_replace_allocator(kinesis_malloc_func malloc_fn,
                              kinesis_realloc_func realloc_fn,
                              kinesis_calloc_func calloc_fn,
                              kinesis_free_func free_fn) {
  if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL ||
      free_fn == NULL)
    return KINESIS_EINVAL;
  allocator.malloc_fn = malloc_fn;
  allocator.realloc_fn = realloc_fn;
  allocator.calloc_fn = calloc_fn;
  allocator.free_fn = free_fn;
  return 0;
}


void* kn_malloc(size_t size) {
  return allocator.malloc_fn(size > 0 ? size : 1);
}


void* kn_calloc(size_t count, size_t size) {
  if (count == 0 || size == 0)
    count = size = 1;
  return allocator.calloc_fn(count, size);
}


void* kn_realloc(void* ptr, size_t size) {
  return allocator.realloc_fn(ptr, size > 0 ? size : 1);
}


void kn_free(void* ptr) {
  if (ptr != NULL)
    allocator.free_fn(ptr);
}


char* kn_strndup(const char* s, size_t n) {
  char* copy;
  if (s == NULL)
    return NULL;
  copy = kn_malloc(n + 1);
  if (copy == NULL)
    return NULL;
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}


char* kn_strdup(const char* s) {
  return s == NULL ? NULL : kn_strndup(s, strlen(s));
}


int64_t kn_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int64_t kn_days_from_civil(int64_t y, int64_t m, int64_t d) {
  int64_t era;
  int64_t yoe;
  int64_t doy;
  int64_t doe;

  /* Years start in March, so that the leap day ends one. */
  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}


char* kn_strcat3(const char* a, const char* b, const char* c) {
  size_t la = strlen(a);
  size_t lb = strlen(b);
  size_t lc = c != NULL ? strlen(c) : 0;
  char* s = kn_malloc(la + lb + lc + 1);
  if (s == NULL)
    return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb);
  if (lc > 0)
    memcpy(s + la + lb, c, lc);
  s[la + lb + lc] = '\0';
  return s;
}


/* The volatile pointer keeps the compiler from dropping the stores. */
void kn_scrub_free(char* s) {
  volatile char* v;
  if (s == NULL)
    return;
  for (v = s; *v != '\0'; v++)
    *v = '\0';
  kn_free(s);
}
