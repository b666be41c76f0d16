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

/* The options structs and the checkpointer ops table begin with `size_t
 * size`, the size of the struct in the caller's header (lib/options.c).
 * kn_options_init() writes `defaults` (a struct of `defaults_size` bytes)
 * into the first `size` bytes of `o`, zeroes any bytes past the library's
 * struct, and sets o's size; a NULL `o`, or a `size` too small to hold the
 * size member, is left alone. */
void kn_options_init(void* o, size_t size, const void* defaults,
                     size_t defaults_size);
/* Copies the caller's struct `src` into `dst`, `dst_size` bytes that
 * already hold the defaults: the bytes that lie inside both, so the fields
 * past src's size keep their defaults. dst's size becomes `dst_size`.
 * Returns 0; KINESIS_EINVAL when src's size cannot even hold the size member
 * (0: not set by the _init macro); KINESIS_EUNSUPPORTED when src is longer
 * than the library's struct and a byte past it is not zero (an option this
 * library does not know was set). */
int kn_options_copy(void* dst, size_t dst_size, const void* src);

/* Milliseconds since the Unix epoch, from the wall clock. */
int64_t kn_now_ms(void);

/* Days from 1970-01-01 to a date of the proleptic Gregorian calendar
 * (negative before it), for the timestamps the library and the fake
 * service read. */
int64_t kn_days_from_civil(int64_t y, int64_t m, int64_t d);

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

/* An object's lifecycle, the pair of flags hiredis keeps as
 * REDIS_IN_CALLBACK and REDIS_FREEING. `depth` counts the object's
 * callbacks running now (nested calls counted). KN_LIFE_CLOSING: close was
 * asked, new work is refused with KINESIS_ECLOSING. KN_LIFE_FREEING: the
 * object's handles are closing or it is being torn down; nothing may be
 * started, closed or freed a second time.
 *
 * A close asked from inside a callback is only flagged: the code that
 * invoked the callback finishes it once the callback returns, which
 * kn_life_leave() (and so KN_LIFE_INVOKE) tells it to do. */
#define KN_LIFE_CLOSING 0x1u
#define KN_LIFE_FREEING 0x2u

typedef struct kn_life_s {
  unsigned depth; /* Callbacks of the object running now. */
  unsigned flags; /* KN_LIFE_CLOSING, KN_LIFE_FREEING. */
} kn_life_t;

static inline int kn_life_closing(const kn_life_t* l) {
  return (l->flags & KN_LIFE_CLOSING) != 0;
}

static inline int kn_life_freeing(const kn_life_t* l) {
  return (l->flags & KN_LIFE_FREEING) != 0;
}

/* Marks close as asked. Returns 0, or KINESIS_EALREADY when it was already. */
static inline int kn_life_begin_close(kn_life_t* l) {
  if (l->flags & KN_LIFE_CLOSING)
    return KINESIS_EALREADY;
  l->flags |= KN_LIFE_CLOSING;
  return 0;
}

/* Marks the teardown as begun. Returns 0, or KINESIS_EALREADY when it had. */
static inline int kn_life_begin_free(kn_life_t* l) {
  if (l->flags & KN_LIFE_FREEING)
    return KINESIS_EALREADY;
  l->flags |= KN_LIFE_FREEING;
  return 0;
}

/* 1 when a close was asked, no callback runs, and the teardown has not
 * begun: the moment to finish the close. */
static inline int kn_life_must_finish(const kn_life_t* l) {
  return l->depth == 0 &&
         (l->flags & (KN_LIFE_CLOSING | KN_LIFE_FREEING)) == KN_LIFE_CLOSING;
}

static inline void kn_life_enter(kn_life_t* l) {
  l->depth++;
}

/* Ends what kn_life_enter() began. Returns kn_life_must_finish(): 1 when
 * the caller must now finish a close asked inside the callback. */
static inline int kn_life_leave(kn_life_t* l) {
  KN_ASSERT(l->depth > 0);
  l->depth--;
  return kn_life_must_finish(l);
}

/* Makes `call`, a callback into user code, inside `l`; an expression worth
 * kn_life_leave()'s answer:
 *
 *   if (KN_LIFE_INVOKE(&o->life, o->cb(status, o->arg)))
 *     finish_close(o);
 */
#define KN_LIFE_INVOKE(l, call)                                               \
  (kn_life_enter(l), (call), kn_life_leave(l))

#endif /* KN_INTERNAL_H */
