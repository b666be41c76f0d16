#ifndef KN_DEFER_H
#define KN_DEFER_H

#include <uv.h>

#include "internal.h"

/*
 * Ordered completions, delivered on a later tick: the checkpointers' queue
 * of answers. An owner embeds a kn_defer_t, and each of its operations a
 * kn_defer_item_t. An item is added when the operation is called and made
 * ready when its answer is known; a uv_idle_t then runs the ready items,
 * oldest first, from the loop, never inside the call that queued them.
 *
 *   - A tick runs only the items queued before it began: an item queued
 *     from inside a run (a callback that calls the next operation) waits
 *     for the next tick, so the loop is never held in one tick.
 *   - Unordered (`ordered` 0), every item is ready when added. Ordered, a
 *     tick stops at the first item not yet ready, and the items behind it
 *     wait, even if they are ready: Redis answers in order, but an answer
 *     may be parsed before an earlier one is (a NOSCRIPT sent again).
 *   - `life.depth` counts the runs under way, so that an owner closed from
 *     a callback waits for the tick to end.
 *   - After a tick that leaves the queue empty, `on_empty` (optional) is
 *     called, outside any run: the moment a pending close can finish. It
 *     may close the queue.
 *
 * Items belong to the owner: the queue only links them. `run` is called
 * with the item already unlinked, and may free it. The owner may walk
 * `items` (to find the requests still waiting to be sent, say) but not
 * unlink or reorder them, except through kn_defer_cancel().
 *
 * It is the library's one way to run something on a later tick: an owner
 * with a single thing to run later (a kick: deliver the waiters, report a
 * change, run the dispatcher) embeds one item, initialised with
 * kn_defer_item_init(), and adds it when kn_defer_queued() says it is not
 * queued yet.
 */

typedef struct kn_defer_s kn_defer_t;
typedef struct kn_defer_item_s kn_defer_item_t;

/* Delivers one item: the owner's callback, then usually its free. */
typedef void (*kn_defer_run_cb)(kn_defer_item_t* item);
/* The queue is empty and no run is under way. */
typedef void (*kn_defer_empty_cb)(kn_defer_t* d);

struct kn_defer_item_s {
  kn_queue_t node;
  kn_defer_run_cb run;
  int ready;
  uint64_t tick; /* the queue's `tick` when it was added */
};

struct kn_defer_s {
  uv_idle_t idle; /* idle.data is the owner's. */
  kn_queue_t items; /* kn_defer_item_t, oldest first. */
  kn_defer_empty_cb on_empty;
  int ordered;
  uint64_t tick; /* ticks that ran items, so far */
  /* depth: runs under way. CLOSING and FREEING: kn_defer_close() was
   * called (the handle closes at once: the two are set together). */
  kn_life_t life;
};

/* Marks `item` not queued, for kn_defer_queued() and kn_defer_cancel(). An
 * item that has run, been canceled or never been added is not queued. */
static inline void kn_defer_item_init(kn_defer_item_t* item) {
  kn_queue_init(&item->node);
  item->run = NULL;
  item->ready = 0;
  item->tick = 0;
}

/* 1 when `item` (initialised with kn_defer_item_init()) waits in a queue. */
static inline int kn_defer_queued(const kn_defer_item_t* item) {
  return !kn_queue_empty(&item->node);
}

/* 1 while an item's run is under way: an owner closed from inside it waits
 * for on_empty (or its own later check) before closing the queue. */
static inline int kn_defer_running(const kn_defer_t* d) {
  return d->life.depth > 0;
}

/* Initialises `d` on `loop`. Returns 0 or a libuv error (uv_idle_init
 * cannot fail on Unix). `on_empty` may be NULL. `d->idle.data` is left to
 * the owner. */
int kn_defer_init(uv_loop_t* loop, kn_defer_t* d, int ordered,
                  kn_defer_empty_cb on_empty);

/* Queues `item`, to run `run` once it is ready and its turn comes. In an
 * unordered queue it is ready at once. */
void kn_defer_add(kn_defer_t* d, kn_defer_item_t* item, kn_defer_run_cb run);

/* `item`, queued in `d`, is answered: it runs on a later tick, after the
 * items queued before it. */
void kn_defer_ready(kn_defer_t* d, kn_defer_item_t* item);

/* Takes `item` out of its queue without running it; nothing when it is not
 * queued. The items behind it in an ordered queue run as though it had
 * never been added. */
void kn_defer_cancel(kn_defer_t* d, kn_defer_item_t* item);

/* 1 when nothing is queued and no run is under way. */
int kn_defer_empty(const kn_defer_t* d);

/* Closes the handle, which must not be closing already; `cb` is uv_close's
 * callback. Not from inside a run (`life.depth` must be 0). Items still queued
 * are never run: they are moved, in order, to the tail of `left` (which the
 * owner has initialised) for the owner to free. `left` may be NULL when the
 * queue is empty (kn_defer_empty). */
void kn_defer_close(kn_defer_t* d, kn_queue_t* left, uv_close_cb cb);

#endif /* KN_DEFER_H */
