/* Ordered completions on a later tick (defer.h): one uv_idle_t, started
 * while a ready item waits at the head of the queue. */

#include "defer.h"


static void on_idle(uv_idle_t* handle);


static int head_ready(const kn_defer_t* d) {
  return !kn_queue_empty(&d->items) &&
         kn_queue_data(d->items.next, kn_defer_item_t, node)->ready;
}


int kn_defer_init(uv_loop_t* loop, kn_defer_t* d, int ordered,
                  kn_defer_empty_cb on_empty) {
  kn_queue_init(&d->items);
  d->on_empty = on_empty;
  d->ordered = ordered;
  d->tick = 0;
  d->life.depth = 0;
  d->life.flags = 0;
  return uv_idle_init(loop, &d->idle);
}


void kn_defer_add(kn_defer_t* d, kn_defer_item_t* item, kn_defer_run_cb run) {
  KN_ASSERT(!kn_life_freeing(&d->life));
  item->run = run;
  item->ready = 0;
  item->tick = d->tick;
  kn_queue_insert_tail(&d->items, &item->node);
  if (!d->ordered)
    kn_defer_ready(d, item);
}


void kn_defer_ready(kn_defer_t* d, kn_defer_item_t* item) {
  item->ready = 1;
  /* Starting an active idle handle is a no-op; on_idle stops it when the
   * head is not ready. */
  if (!kn_life_freeing(&d->life))
    uv_idle_start(&d->idle, on_idle);
}


void kn_defer_cancel(kn_defer_t* d, kn_defer_item_t* item) {
  if (!kn_defer_queued(item))
    return;
  kn_queue_remove(&item->node);
  /* The item behind it may be ready and now at the head. */
  if (head_ready(d) && !kn_life_freeing(&d->life))
    uv_idle_start(&d->idle, on_idle);
}


int kn_defer_empty(const kn_defer_t* d) {
  return kn_queue_empty(&d->items) && d->life.depth == 0;
}


void kn_defer_close(kn_defer_t* d, kn_queue_t* left, uv_close_cb cb) {
  KN_ASSERT(!kn_life_closing(&d->life) && d->life.depth == 0);
  KN_ASSERT(left != NULL || kn_queue_empty(&d->items));
  kn_life_begin_close(&d->life);
  kn_life_begin_free(&d->life);
  if (left != NULL)
    kn_queue_move(&d->items, left);
  uv_close((uv_handle_t*) &d->idle, cb);
}


static void on_idle(uv_idle_t* handle) {
  kn_defer_t* d = container_of(handle, kn_defer_t, idle);
  uint64_t tick = ++d->tick;

  /* Run ready items from the oldest, up to the first one not ready, and
   * only among those queued before this tick: a run whose next operation is
   * answered at once must not keep this loop turning forever. The items
   * added by this tick's runs carry its number. */
  while (head_ready(d)) {
    kn_queue_t* q = d->items.next;
    kn_defer_item_t* item = kn_queue_data(q, kn_defer_item_t, node);
    if (item->tick == tick)
      break;
    kn_queue_remove(q);
    /* An owner closes the queue only from outside a run, so `d` is still
     * valid and open after it, and there is no close to finish here. */
    (void) KN_LIFE_INVOKE(&d->life, item->run(item));
  }

  if (!head_ready(d))
    uv_idle_stop(&d->idle);
  if (d->on_empty != NULL && kn_defer_empty(d))
    d->on_empty(d);
}
