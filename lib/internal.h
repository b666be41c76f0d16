#ifndef KN_INTERNAL_H
#define KN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kinesis.h"

/* Allocation goes through the replaceable allocator (kinesis_replace_allocator). */
void* kn_malloc(size_t size);
void* kn_calloc(size_t count, size_t size);
void* kn_realloc(void* ptr, size_t size);
void kn_free(void* ptr);
/* A kn_malloc'd copy of `s` (NULL stays NULL); NULL on allocation failure. */
char* kn_strdup(const char* s);
char* kn_strndup(const char* s, size_t n);
/* a, b and c (which may be NULL) end to end, kn_malloc'd; NULL when out of
 * memory. */
char* kn_strcat3(const char* a, const char* b, const char* c);
/* Frees a string that held a secret, overwritten first so that it does not
 * linger in a freed heap block. NULL is ignored. */
void kn_scrub_free(char* s);

#define container_of(ptr, type, member)                                       \
  ((type*) ((char*) (ptr) - offsetof(type, member)))

#define KN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define KN_ASSERT(expr)                                                       \
  do {                                                                        \
    if (!(expr)) {                                                            \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__,    \
              #expr);                                                         \
      abort();                                                                \
    }                                                                         \
  } while (0)

/* Asks the CPU to start loading the cache lines of [p, p + n) for reading.
 * Records wait in queues long enough to leave the caches, and are visited
 * in an order no hardware prefetcher guesses. */
#if defined(__GNUC__) || defined(__clang__)
#define KN_PREFETCH(p, n)                                                     \
  do {                                                                        \
    const char* kn_pf_ = (const char*) (p);                                   \
    size_t kn_pfo_;                                                           \
    for (kn_pfo_ = 0; kn_pfo_ < (size_t) (n); kn_pfo_ += 64)                  \
      __builtin_prefetch(kn_pf_ + kn_pfo_);                                   \
  } while (0)
#else
#define KN_PREFETCH(p, n) ((void) (p), (void) (n))
#endif

/* Milliseconds since the Unix epoch, from the wall clock. */
int64_t kn_now_ms(void);

/* Doubly linked intrusive queue, the same idea as libuv's queue.h. */
typedef struct kn_queue_s {
  struct kn_queue_s* next;
  struct kn_queue_s* prev;
} kn_queue_t;

static inline void kn_queue_init(kn_queue_t* q) {
  q->next = q;
  q->prev = q;
}

static inline int kn_queue_empty(const kn_queue_t* q) {
  return q->next == q;
}

static inline void kn_queue_insert_tail(kn_queue_t* h, kn_queue_t* q) {
  q->next = h;
  q->prev = h->prev;
  q->prev->next = q;
  h->prev = q;
}

static inline void kn_queue_remove(kn_queue_t* q) {
  q->prev->next = q->next;
  q->next->prev = q->prev;
  kn_queue_init(q);
}

/* Moves every node of `from`, in order, to the tail of `to`, and leaves
 * `from` empty. `to` may be empty; the two must be different heads. */
static inline void kn_queue_move(kn_queue_t* from, kn_queue_t* to) {
  if (kn_queue_empty(from))
    return;
  from->next->prev = to->prev;
  to->prev->next = from->next;
  from->prev->next = to;
  to->prev = from->prev;
  kn_queue_init(from);
}

#define kn_queue_data(ptr, type, field) container_of(ptr, type, field)

/* 1 when `cp` is a Redis checkpointer whose close has begun; 0 otherwise
 * (another kind, or a build without hiredis). For
 * kinesis_checkpointer_close() (lib/checkpoint_memory.c). */
struct kinesis_checkpointer_s;
int kn_checkpointer_redis_closing(const struct kinesis_checkpointer_s* cp);

#endif /* KN_INTERNAL_H */
