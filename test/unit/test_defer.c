#include "harness.h"

#include "defer.h"
#include "internal.h"


/* An item that writes its id to `ran` when it runs; an item with `then` set
 * queues it from inside its run. */
typedef struct test_item_s {
  kn_defer_item_t item;
  int id;
  kn_defer_t* d;
  struct test_item_s* then;
  struct test_item_s* cancel; /* canceled from inside the run */
  int empty_in_run; /* kn_defer_empty() seen from inside the run. */
} test_item_t;

static int ran[16];
static int nran;
static int nempty;
static int nclosed;


static void reset(void) {
  nran = 0;
  nempty = 0;
  nclosed = 0;
}


static void item_run(kn_defer_item_t* item) {
  test_item_t* t = container_of(item, test_item_t, item);
  ASSERT_LT(nran, (int) KN_ARRAY_SIZE(ran));
  ran[nran++] = t->id;
  ASSERT_EQ(1, t->d->life.depth);
  t->empty_in_run = kn_defer_empty(t->d);
  ASSERT(!kn_defer_queued(item));
  ASSERT(kn_defer_running(t->d));
  if (t->cancel != NULL)
    kn_defer_cancel(t->d, &t->cancel->item);
  if (t->then != NULL)
    kn_defer_add(t->d, &t->then->item, item_run);
}


static void on_empty(kn_defer_t* d) {
  ASSERT(kn_defer_empty(d));
  ASSERT_EQ(0, d->life.depth);
  nempty++;
}


static void on_closed(uv_handle_t* handle) {
  (void) handle;
  nclosed++;
}


static void item_init(test_item_t* t, kn_defer_t* d, int id) {
  memset(t, 0, sizeof(*t));
  kn_defer_item_init(&t->item);
  t->d = d;
  t->id = id;
}


static void close_and_check(uv_loop_t* loop, kn_defer_t* d) {
  kn_defer_close(d, NULL, on_closed);
  kn_test_loop_close(loop);
  ASSERT_EQ(1, nclosed);
}


static void test_queue_move(void) {
  kn_queue_t a, b;
  kn_queue_t n[4];
  kn_queue_t* q;
  int i = 0;

  kn_queue_init(&a);
  kn_queue_init(&b);
  /* An empty source leaves both empty. */
  kn_queue_move(&a, &b);
  ASSERT(kn_queue_empty(&a));
  ASSERT(kn_queue_empty(&b));
  /* Onto an empty queue, then onto the tail of a non-empty one. */
  kn_queue_insert_tail(&a, &n[0]);
  kn_queue_insert_tail(&a, &n[1]);
  kn_queue_move(&a, &b);
  ASSERT(kn_queue_empty(&a));
  kn_queue_insert_tail(&a, &n[2]);
  kn_queue_insert_tail(&a, &n[3]);
  kn_queue_move(&a, &b);
  ASSERT(kn_queue_empty(&a));
  for (q = b.next; q != &b; q = q->next) {
    ASSERT_LT(i, 4);
    ASSERT(q == &n[i]);
    ASSERT(q->next->prev == q);
    i++;
  }
  ASSERT_EQ(4, i);
  ASSERT(b.prev == &n[3]);
  /* The source is usable again. */
  kn_queue_insert_tail(&a, &n[0]);
  ASSERT(a.next == &n[0] && a.prev == &n[0]);
}


/* Unordered: items run oldest first, on a later tick, never inside the call
 * that queued them; then the owner hears that the queue is empty. */
static void test_fifo_async(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[3];
  int i;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 0, on_empty));
  ASSERT(kn_defer_empty(&d));
  for (i = 0; i < 3; i++) {
    item_init(&t[i], &d, i + 1);
    kn_defer_add(&d, &t[i].item, item_run);
  }
  ASSERT_EQ(0, nran);
  ASSERT(!kn_defer_empty(&d));
  ASSERT(uv_is_active((uv_handle_t*) &d.idle));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(3, nran);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(i + 1, ran[i]);
    /* Not empty during a run: a close waits for the tick to end. */
    ASSERT_EQ(0, t[i].empty_in_run);
  }
  ASSERT_EQ(1, nempty);
  ASSERT(kn_defer_empty(&d));
  ASSERT(!uv_is_active((uv_handle_t*) &d.idle));
  close_and_check(&loop, &d);
}


/* An item queued from inside a run waits for the next tick, even though it
 * is ready at once. */
static void test_queued_in_run_waits(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t first, second, third;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 0, on_empty));
  item_init(&first, &d, 1);
  item_init(&second, &d, 2);
  item_init(&third, &d, 3);
  first.then = &third;
  kn_defer_add(&d, &first.item, item_run);
  kn_defer_add(&d, &second.item, item_run);
  /* The idle handle is still active, for the third item. */
  ASSERT_NE(0, uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(2, nran);
  ASSERT_EQ(1, ran[0]);
  ASSERT_EQ(2, ran[1]);
  ASSERT_EQ(0, nempty);
  ASSERT(uv_is_active((uv_handle_t*) &d.idle));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(3, nran);
  ASSERT_EQ(3, ran[2]);
  ASSERT_EQ(1, nempty);
  close_and_check(&loop, &d);
}


/* Ordered: ready items behind one that is not wait for it, with the idle
 * handle stopped meanwhile; then all run, in the order they were queued. */
static void test_head_not_ready(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[3];
  int i;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 1, on_empty));
  for (i = 0; i < 3; i++) {
    item_init(&t[i], &d, i + 1);
    kn_defer_add(&d, &t[i].item, item_run);
  }
  /* Added, not ready: nothing to do. */
  ASSERT(!uv_is_active((uv_handle_t*) &d.idle));
  kn_defer_ready(&d, &t[2].item);
  kn_defer_ready(&d, &t[1].item);
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(0, nran);
  ASSERT_EQ(0, nempty);
  ASSERT(!uv_is_active((uv_handle_t*) &d.idle));
  kn_defer_ready(&d, &t[0].item);
  ASSERT_EQ(0, nran);
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(3, nran);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(i + 1, ran[i]);
  ASSERT_EQ(1, nempty);
  close_and_check(&loop, &d);
}


/* Ordered: the head runs, and the tick stops at the next item not ready. */
static void test_runs_up_to_unready(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[3];
  int i;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 1, on_empty));
  for (i = 0; i < 3; i++) {
    item_init(&t[i], &d, i + 1);
    kn_defer_add(&d, &t[i].item, item_run);
  }
  kn_defer_ready(&d, &t[0].item);
  kn_defer_ready(&d, &t[2].item);
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(1, nran);
  ASSERT_EQ(1, ran[0]);
  ASSERT_EQ(0, nempty);
  ASSERT(!kn_defer_empty(&d));
  ASSERT(!uv_is_active((uv_handle_t*) &d.idle));
  kn_defer_ready(&d, &t[1].item);
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(3, nran);
  ASSERT_EQ(2, ran[1]);
  ASSERT_EQ(3, ran[2]);
  ASSERT_EQ(1, nempty);
  close_and_check(&loop, &d);
}


/* Closing with items queued, ready or not: none runs, and the owner gets
 * them back in order to free them. */
static void test_close_with_items(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[3];
  kn_queue_t left;
  kn_queue_t* q;
  int i;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 1, on_empty));
  for (i = 0; i < 3; i++) {
    item_init(&t[i], &d, i + 1);
    kn_defer_add(&d, &t[i].item, item_run);
  }
  kn_defer_ready(&d, &t[0].item);
  kn_defer_ready(&d, &t[1].item);
  kn_queue_init(&left);
  kn_defer_close(&d, &left, on_closed);
  ASSERT(kn_queue_empty(&d.items));
  i = 0;
  for (q = left.next; q != &left; q = q->next) {
    ASSERT_LT(i, 3);
    ASSERT(q == &t[i].item.node);
    i++;
  }
  ASSERT_EQ(3, i);
  /* Ready after the close: nothing starts. */
  kn_defer_ready(&d, &t[2].item);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, nran);
  ASSERT_EQ(0, nempty);
  ASSERT_EQ(1, nclosed);
}


/* ---- kn_life_t ---- */


/* A canceled item never runs, and a second cancel, or a cancel of an item
 * never added, does nothing. A kick item is added again only when
 * kn_defer_queued() says it is not waiting. */
static void test_cancel(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[3];
  int i;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 0, on_empty));
  for (i = 0; i < 3; i++)
    item_init(&t[i], &d, i + 1);
  ASSERT(!kn_defer_queued(&t[0].item));
  kn_defer_cancel(&d, &t[0].item);
  for (i = 0; i < 3; i++)
    kn_defer_add(&d, &t[i].item, item_run);
  ASSERT(kn_defer_queued(&t[1].item));
  kn_defer_cancel(&d, &t[1].item);
  kn_defer_cancel(&d, &t[1].item);
  ASSERT(!kn_defer_queued(&t[1].item));
  ASSERT(!kn_defer_running(&d));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(2, nran);
  ASSERT_EQ(1, ran[0]);
  ASSERT_EQ(3, ran[1]);
  ASSERT_EQ(1, nempty);
  /* Cancelling every item leaves an empty queue and a stopped handle once
   * the tick has looked. */
  kn_defer_add(&d, &t[0].item, item_run);
  kn_defer_cancel(&d, &t[0].item);
  ASSERT(kn_defer_empty(&d));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(2, nran);
  ASSERT(!uv_is_active((uv_handle_t*) &d.idle));
  close_and_check(&loop, &d);
}


/* A run that cancels the tick's last item and queues another: the new item
 * still waits for the next tick (a tick runs only what was queued before
 * it, whatever is canceled meanwhile). */
static void test_cancel_last_in_run(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t first, second, third;

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 0, on_empty));
  item_init(&first, &d, 1);
  item_init(&second, &d, 2);
  item_init(&third, &d, 3);
  first.cancel = &second;
  first.then = &third;
  kn_defer_add(&d, &first.item, item_run);
  kn_defer_add(&d, &second.item, item_run);
  ASSERT_NE(0, uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(1, nran);
  ASSERT_EQ(1, ran[0]);
  ASSERT(kn_defer_queued(&third.item));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(2, nran);
  ASSERT_EQ(3, ran[1]);
  close_and_check(&loop, &d);
}


/* Ordered: cancelling the unready head lets the ready items behind it run. */
static void test_cancel_unready_head(void) {
  uv_loop_t loop;
  kn_defer_t d;
  test_item_t t[2];

  reset();
  ASSERT_OK(uv_loop_init(&loop));
  ASSERT_OK(kn_defer_init(&loop, &d, 1, on_empty));
  item_init(&t[0], &d, 1);
  item_init(&t[1], &d, 2);
  kn_defer_add(&d, &t[0].item, item_run);
  kn_defer_add(&d, &t[1].item, item_run);
  kn_defer_ready(&d, &t[1].item);
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(0, nran);
  kn_defer_cancel(&d, &t[0].item);
  ASSERT(uv_is_active((uv_handle_t*) &d.idle));
  ASSERT_OK(uv_run(&loop, UV_RUN_NOWAIT));
  ASSERT_EQ(1, nran);
  ASSERT_EQ(2, ran[0]);
  close_and_check(&loop, &d);
}


/* A toy object with the kit: its callback may close it, or call back into
 * it (nested); `finished` counts the closes carried out. */
typedef struct life_obj_s {
  kn_life_t life;
  int close_in_cb;
  int nest; /* calls back into itself this many more times */
  int finished;
  unsigned depth_seen[4];
  int ncalls;
} life_obj_t;

static void life_obj_invoke(life_obj_t* o);

static void life_obj_finish(life_obj_t* o) {
  ASSERT_EQ(0, kn_life_begin_free(&o->life));
  o->finished++;
}

static void life_obj_cb(life_obj_t* o) {
  ASSERT_LT(o->ncalls, (int) KN_ARRAY_SIZE(o->depth_seen));
  o->depth_seen[o->ncalls++] = o->life.depth;
  if (o->nest > 0) {
    o->nest--;
    life_obj_invoke(o);
  }
  if (o->close_in_cb && !kn_life_closing(&o->life)) {
    ASSERT_EQ(0, kn_life_begin_close(&o->life));
    /* Only flagged: the invoker finishes it. */
    ASSERT(!kn_life_must_finish(&o->life));
  }
}

static void life_obj_invoke(life_obj_t* o) {
  if (KN_LIFE_INVOKE(&o->life, life_obj_cb(o)))
    life_obj_finish(o);
}


static void test_life_begin_close_twice(void) {
  kn_life_t l = {0, 0};

  ASSERT(!kn_life_closing(&l));
  ASSERT(!kn_life_must_finish(&l));
  ASSERT_EQ(0, kn_life_begin_close(&l));
  ASSERT(kn_life_closing(&l));
  ASSERT(kn_life_must_finish(&l));
  ASSERT_EQ(KINESIS_EALREADY, kn_life_begin_close(&l));
  ASSERT(kn_life_closing(&l));
  ASSERT(!kn_life_freeing(&l));
  ASSERT_EQ(0, kn_life_begin_free(&l));
  ASSERT(kn_life_freeing(&l));
  /* Torn down: there is nothing left to finish. */
  ASSERT(!kn_life_must_finish(&l));
  ASSERT_EQ(KINESIS_EALREADY, kn_life_begin_free(&l));
  ASSERT_EQ(KINESIS_EALREADY, kn_life_begin_close(&l));
}


static void test_life_invoke(void) {
  life_obj_t o;

  /* No close: the invoker has nothing to finish. */
  memset(&o, 0, sizeof(o));
  life_obj_invoke(&o);
  ASSERT_EQ(1, o.ncalls);
  ASSERT_EQ(1, o.depth_seen[0]);
  ASSERT_EQ(0, o.life.depth);
  ASSERT_EQ(0, o.finished);

  /* A close asked inside the callback is carried out once it returns. */
  memset(&o, 0, sizeof(o));
  o.close_in_cb = 1;
  life_obj_invoke(&o);
  ASSERT_EQ(0, o.life.depth);
  ASSERT(kn_life_closing(&o.life));
  ASSERT(kn_life_freeing(&o.life));
  ASSERT_EQ(1, o.finished);

  /* A callback outside the object's own (a close callback during the
   * teardown) finishes nothing a second time. */
  life_obj_invoke(&o);
  ASSERT_EQ(1, o.finished);
}


static void test_life_invoke_nested(void) {
  life_obj_t o;

  /* Three callbacks deep, the innermost closes: only the outermost
   * invoker finishes the close, once. */
  memset(&o, 0, sizeof(o));
  o.nest = 2;
  o.close_in_cb = 1;
  life_obj_invoke(&o);
  ASSERT_EQ(3, o.ncalls);
  ASSERT_EQ(1, o.depth_seen[0]);
  ASSERT_EQ(2, o.depth_seen[1]);
  ASSERT_EQ(3, o.depth_seen[2]);
  ASSERT_EQ(0, o.life.depth);
  ASSERT_EQ(1, o.finished);

  /* enter/leave by hand, nested: leave answers 1 only at depth 0. */
  memset(&o, 0, sizeof(o));
  kn_life_enter(&o.life);
  kn_life_enter(&o.life);
  ASSERT_EQ(0, kn_life_begin_close(&o.life));
  ASSERT_EQ(0, kn_life_leave(&o.life));
  ASSERT_EQ(1, kn_life_leave(&o.life));
  ASSERT_EQ(0, o.life.depth);
}


KN_TEST_MAIN(KN_TEST(test_queue_move), KN_TEST(test_fifo_async),
             KN_TEST(test_queued_in_run_waits), KN_TEST(test_head_not_ready),
             KN_TEST(test_runs_up_to_unready),
             KN_TEST(test_close_with_items), KN_TEST(test_cancel),
             KN_TEST(test_cancel_last_in_run),
             KN_TEST(test_cancel_unready_head),
             KN_TEST(test_life_begin_close_twice), KN_TEST(test_life_invoke),
             KN_TEST(test_life_invoke_nested))
