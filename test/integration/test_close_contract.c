#include "client_util.h"
#include "service.h"

/* For one test that must catch a stop between its end and its callback. */
#include "consumer_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Issue 17's one way to close, for every object (client, producer,
 * consumer, memory and Redis checkpointers): kinesis_close_cb gets the
 * user slot and the close status; a second close says KINESIS_EALREADY and
 * its callback never runs; the callback runs once, never inside the close
 * call, after every other callback of the object; a NULL callback is
 * allowed; close works from inside the object's own callbacks; and a
 * client refuses to close while anything made from it is open. Each test
 * ends with uv_loop_close() == 0 (kn_test_loop_close). */

static uv_loop_t loop;
static const char* endpoint;
/* Stamps each callback that matters, to check their order. */
static int g_order;
/* The user slots the tests set; the close callbacks must give them back. */
static int marker;
static int other_marker;


/* What a close callback saw. */
typedef struct {
  int calls;
  int returned; /* the close call had returned */
  int early;    /* the callback ran before it had */
  void* data;
  int status;
  int order;
} closed_t;


static void on_closed(void* data, int status, void* arg) {
  closed_t* c = arg;
  if (!c->returned)
    c->early = 1;
  c->calls++;
  c->data = data;
  c->status = status;
  c->order = ++g_order;
  uv_stop(&loop);
}


static void expect_closed(const closed_t* c, void* data, int status) {
  ASSERT_EQ(0, c->early);
  ASSERT_EQ(1, c->calls);
  ASSERT(c->data == data);
  ASSERT_EQ(status, c->status);
}


#define WAIT_UNTIL(cond, ms) TEST_WAIT_UNTIL(&loop, cond, ms, (void) 0)


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, endpoint);
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


static void start(void) {
  endpoint = test_endpoint();
  ASSERT_OK(uv_loop_init(&loop));
  g_order = 0;
}


static void put_records(kinesis_client_t* c, const char* stream, size_t n) {
  kinesis_record_t recs[32];
  char data[32][16];
  capture_t cap;
  size_t i;
  ASSERT(n <= 32);
  memset(recs, 0, sizeof(recs));
  for (i = 0; i < n; i++) {
    snprintf(data[i], sizeof(data[i]), "r-%zu", i);
    recs[i].data = data[i];
    recs[i].len = strlen(data[i]);
    recs[i].partition_key = "k";
  }
  memset(&cap, 0, sizeof(cap));
  ASSERT_OK(kinesis_client_put_records(c, stream, recs, n, capture_cb, &cap));
  capture_wait(&loop, &cap);
  ASSERT_OK(cap.status);
  ASSERT_EQ(0, cap.failed);
}


/* ---- The client ---- */

typedef struct {
  int calls;
  int status;
  int order;
  kinesis_client_t* close_me;
  closed_t* closed;
  closed_t* again;
} call_t;


static void on_call(kinesis_client_t* c, int status, const kinesis_result_t* r,
                    void* arg) {
  call_t* x = arg;
  (void) r;
  x->calls++;
  x->status = status;
  x->order = ++g_order;
  if (x->close_me != NULL) {
    /* From inside the client's own callback. */
    ASSERT_OK(kinesis_client_close(c, on_closed, x->closed));
    x->closed->returned = 1;
    ASSERT_EQ(KINESIS_EALREADY, kinesis_client_close(c, on_closed, x->again));
    ASSERT_EQ(0, x->closed->calls);
  }
}


/* A call in flight gets KINESIS_ECANCELED before the close's callback,
 * which gets the user slot and 0, once, later; a second close is refused
 * and its callback never runs. */
static void test_client_close(void) {
  kinesis_client_t* c;
  closed_t closed, again;
  call_t call;

  start();
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_close(NULL, on_closed, &closed));
  memset(&closed, 0, sizeof(closed));
  memset(&again, 0, sizeof(again));
  memset(&call, 0, sizeof(call));
  c = new_client();
  kinesis_client_set_data(c, &marker);
  ASSERT_OK(
      kinesis_client_describe_stream_summary(c, "close-none", on_call, &call));
  ASSERT_OK(kinesis_client_close(c, on_closed, &closed));
  closed.returned = 1;
  ASSERT_EQ(KINESIS_EALREADY, kinesis_client_close(c, on_closed, &again));
  ASSERT_EQ(0, call.calls);
  WAIT_UNTIL(closed.calls > 0, 10000);
  expect_closed(&closed, &marker, 0);
  ASSERT_EQ(1, call.calls);
  ASSERT_EQ(KINESIS_ECANCELED, call.status);
  ASSERT_LT(call.order, closed.order);
  /* A NULL callback is allowed. */
  c = new_client();
  ASSERT_OK(kinesis_client_close(c, NULL, NULL));
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, again.calls);
  ASSERT_EQ(1, closed.calls);
}


static void test_client_close_from_callback(void) {
  kinesis_client_t* c;
  closed_t closed, again;
  call_t call;

  start();
  memset(&closed, 0, sizeof(closed));
  memset(&again, 0, sizeof(again));
  memset(&call, 0, sizeof(call));
  c = new_client();
  call.close_me = c;
  call.closed = &closed;
  call.again = &again;
  ASSERT_OK(
      kinesis_client_describe_stream_summary(c, "close-none", on_call, &call));
  WAIT_UNTIL(closed.calls > 0, 10000);
  ASSERT_EQ(1, call.calls);
  ASSERT_EQ(KINESIS_ENOTFOUND, call.status);
  /* No user slot was set. */
  expect_closed(&closed, NULL, 0);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, again.calls);
}


static void on_cp_closed_close_client(void* data, int status, void* arg) {
  closed_t* c = arg;
  on_closed(data, status, arg);
  /* The checkpointer no longer counts: its client may close from here. */
  ASSERT_OK(kinesis_client_close(data, on_closed, c + 1));
  c[1].returned = 1;
}


static void on_record_ignore(kinesis_consumer_t* k,
                             const kinesis_consumer_record_t* r, void* arg) {
  (void) k;
  (void) r;
  (void) arg;
}


/* The client refuses to close while a producer, consumer or checkpointer
 * made from it is open; a consumer refuses another client's checkpointer. */
static void test_client_busy(void) {
  kinesis_client_t* c;
  kinesis_client_t* other;
  kinesis_checkpointer_t* cp;
  kinesis_producer_t* p;
  kinesis_consumer_t* k;
  kinesis_producer_options_t po;
  kinesis_consumer_options_t co;
  closed_t closed[2];

  start();
  memset(closed, 0, sizeof(closed));
  c = new_client();
  other = new_client();
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, on_closed, &closed[1]));

  kinesis_consumer_options_init(&co);
  co.stream = "close-busy";
  co.on_record = on_record_ignore;
  co.checkpointer = cp;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(other, &co, &k));
  ASSERT_OK(kinesis_consumer_new(c, &co, &k));
  ASSERT_OK(kinesis_consumer_close(k, NULL, NULL));
  kinesis_producer_options_init(&po);
  po.stream = "close-busy";
  ASSERT_OK(kinesis_producer_new(c, &po, &p));
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, on_closed, &closed[1]));
  ASSERT_OK(kinesis_producer_close(p, NULL, NULL));
  /* Both go on later ticks; the checkpointer is still open. */
  run_loop_for(&loop, 50);
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, on_closed, &closed[1]));
  ASSERT_EQ(0, closed[1].calls);

  cp->data = c;
  ASSERT_OK(kinesis_checkpointer_close(cp, on_cp_closed_close_client, closed));
  closed[0].returned = 1;
  WAIT_UNTIL(closed[1].calls > 0, 10000);
  expect_closed(&closed[0], c, 0);
  expect_closed(&closed[1], NULL, 0);
  ASSERT_LT(closed[0].order, closed[1].order);
  ASSERT_OK(kinesis_client_close(other, NULL, NULL));
  kn_test_loop_close(&loop);
}


/* ---- The producer ---- */

#define NPUT 20

typedef struct {
  int calls[NPUT];
  int status[NPUT];
  int settled;
  int last_order;
  int first_error;
  int close_at; /* close from the callback of this record, or -1 */
  closed_t* closed;
  closed_t* again;
} puts_t;


static void close_producer_inside(kinesis_producer_t* p, closed_t* closed,
                                  closed_t* again) {
  ASSERT_OK(kinesis_producer_close(p, on_closed, closed));
  closed->returned = 1;
  ASSERT_EQ(KINESIS_EALREADY, kinesis_producer_close(p, on_closed, again));
}


static void on_put(kinesis_producer_t* p, int status,
                   const kinesis_put_result_t* r, void* arg) {
  puts_t* x = kinesis_producer_get_data(p);
  int i = (int) (intptr_t) arg;
  (void) r;
  x->calls[i]++;
  x->status[i] = status;
  x->settled++;
  x->last_order = ++g_order;
  if (status != 0 && x->first_error == 0)
    x->first_error = status;
  if (i == x->close_at)
    close_producer_inside(p, x->closed, x->again);
}


static kinesis_producer_t* new_producer(kinesis_client_t* c, const char* stream,
                                        puts_t* x) {
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 20;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  kinesis_producer_set_data(p, x);
  return p;
}


static void put_all(kinesis_producer_t* p) {
  kinesis_record_t rec;
  char data[16];
  int i;
  memset(&rec, 0, sizeof(rec));
  for (i = 0; i < NPUT; i++) {
    snprintf(data, sizeof(data), "p-%d", i);
    rec.data = data;
    rec.len = strlen(data);
    rec.partition_key = data;
    ASSERT_OK(kinesis_producer_put(p, &rec, on_put, (void*) (intptr_t) i));
  }
}


static void expect_puts_settled_once(const puts_t* x) {
  int i;
  for (i = 0; i < NPUT; i++)
    ASSERT_EQ(1, x->calls[i]);
}


/* Records queued at close: each put callback runs once, before the close's
 * callback, which gets the user slot and 0. */
static void test_producer_close_pending(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  closed_t closed, again;
  puts_t x;
  const char* stream;

  start();
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_close(NULL, on_closed, &closed));
  memset(&closed, 0, sizeof(closed));
  memset(&again, 0, sizeof(again));
  memset(&x, 0, sizeof(x));
  x.close_at = -1;
  c = new_client();
  stream = test_stream_name("close-p");
  create_active_stream(&loop, c, stream, 1);
  p = new_producer(c, stream, &x);
  put_all(p);
  ASSERT_OK(kinesis_producer_close(p, on_closed, &closed));
  closed.returned = 1;
  ASSERT_EQ(KINESIS_EALREADY, kinesis_producer_close(p, on_closed, &again));
  ASSERT_EQ(0, x.settled);
  WAIT_UNTIL(closed.calls > 0, 20000);
  expect_closed(&closed, &x, 0);
  expect_puts_settled_once(&x);
  ASSERT_EQ(0, x.first_error);
  ASSERT_LT(x.last_order, closed.order);

  /* A NULL callback is allowed. */
  p = new_producer(c, stream, &x);
  ASSERT_OK(kinesis_producer_close(p, NULL, NULL));
  run_loop_for(&loop, 50);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, again.calls);
}


/* Closed from a put callback: the other records are still sent and settle
 * once, and the close's callback comes after the last of them. */
static void test_producer_close_from_put_cb(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  closed_t closed, again;
  puts_t x;
  const char* stream;

  start();
  memset(&closed, 0, sizeof(closed));
  memset(&again, 0, sizeof(again));
  memset(&x, 0, sizeof(x));
  x.close_at = 0;
  x.closed = &closed;
  x.again = &again;
  c = new_client();
  stream = test_stream_name("close-pcb");
  create_active_stream(&loop, c, stream, 1);
  p = new_producer(c, stream, &x);
  put_all(p);
  WAIT_UNTIL(closed.calls > 0, 20000);
  expect_closed(&closed, &x, 0);
  expect_puts_settled_once(&x);
  ASSERT_LT(x.last_order, closed.order);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, again.calls);
}


typedef struct {
  closed_t closed;
  closed_t again;
  int after_flush_calls;
  int flush_calls;
  int flush_order;
} flush_close_t;


static void on_after_flush_close(kinesis_producer_t* p,
                                 const kinesis_flush_info_t* info, void* arg) {
  flush_close_t* f = arg;
  (void) info;
  if (f->after_flush_calls++ == 0)
    close_producer_inside(p, &f->closed, &f->again);
}


static void on_flushed_close(kinesis_producer_t* p, int status, void* arg) {
  flush_close_t* f = arg;
  ASSERT_OK(status);
  f->flush_calls++;
  f->flush_order = ++g_order;
  close_producer_inside(p, &f->closed, &f->again);
}


/* Closed from after_flush, and from a flush's callback. */
static void test_producer_close_from_flush(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_options_t o;
  flush_close_t f;
  puts_t x;
  const char* stream;

  start();
  memset(&f, 0, sizeof(f));
  memset(&x, 0, sizeof(x));
  x.close_at = -1;
  c = new_client();
  stream = test_stream_name("close-pfl");
  create_active_stream(&loop, c, stream, 1);
  kinesis_producer_options_init(&o);
  o.stream = stream;
  o.buffer_time_ms = 20;
  o.after_flush = on_after_flush_close;
  o.after_flush_data = &f;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  kinesis_producer_set_data(p, &x);
  put_all(p);
  WAIT_UNTIL(f.closed.calls > 0, 20000);
  expect_closed(&f.closed, &x, 0);
  expect_puts_settled_once(&x);
  ASSERT_LT(x.last_order, f.closed.order);
  ASSERT_EQ(0, f.again.calls);

  memset(&f, 0, sizeof(f));
  memset(&x, 0, sizeof(x));
  x.close_at = -1;
  p = new_producer(c, stream, &x);
  put_all(p);
  ASSERT_OK(kinesis_producer_flush(p, on_flushed_close, &f));
  WAIT_UNTIL(f.closed.calls > 0, 20000);
  ASSERT_EQ(1, f.flush_calls);
  expect_closed(&f.closed, &x, 0);
  expect_puts_settled_once(&x);
  ASSERT_LT(f.flush_order, f.closed.order);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, f.again.calls);
}


/* Records that fail during the close: the close's status is the first
 * error they got (here their TTL, on a stream that does not exist). */
static void test_producer_close_status(void) {
  kinesis_client_t* c;
  kinesis_producer_t* p;
  kinesis_producer_options_t o;
  closed_t closed;
  puts_t x;

  start();
  memset(&closed, 0, sizeof(closed));
  memset(&x, 0, sizeof(x));
  x.close_at = -1;
  c = new_client();
  kinesis_producer_options_init(&o);
  o.stream = test_stream_name("close-nostream");
  o.record_ttl_ms = 300;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  kinesis_producer_set_data(p, &x);
  put_all(p);
  ASSERT_OK(kinesis_producer_close(p, on_closed, &closed));
  closed.returned = 1;
  WAIT_UNTIL(closed.calls > 0, 20000);
  expect_puts_settled_once(&x);
  ASSERT_NE(0, x.first_error);
  expect_closed(&closed, &x, x.first_error);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The consumer ---- */

typedef struct {
  kinesis_consumer_t* k;
  int records;
  int record_order;
  int starts;
  int ends;
  int end_order;
  int stopped;
  int stop_status;
  int stop_order;
  int close_in_record;    /* close from on_record */
  int close_in_shard_end; /* close from on_shard_end */
  int close_in_stop;      /* close from the stop's callback */
  int records_at_close;
  closed_t closed;
  closed_t again;
} sink_t;


static void close_consumer_inside(sink_t* s) {
  ASSERT_OK(kinesis_consumer_close(s->k, on_closed, &s->closed));
  s->closed.returned = 1;
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_consumer_close(s->k, on_closed, &s->again));
  s->records_at_close = s->records;
}


static void on_record(kinesis_consumer_t* k, const kinesis_consumer_record_t* r,
                      void* arg) {
  sink_t* s = arg;
  (void) k;
  (void) r;
  /* Nothing is delivered once the close's callback ran. */
  ASSERT_EQ(0, s->closed.calls);
  s->records++;
  s->record_order = ++g_order;
  if (s->close_in_record && s->records == 1)
    close_consumer_inside(s);
  uv_stop(&loop);
}


static void on_shard_start(kinesis_consumer_t* k,
                           const kinesis_shard_start_t* st, void* arg) {
  sink_t* s = arg;
  (void) k;
  (void) st;
  s->starts++;
  uv_stop(&loop);
}


static void on_shard_end(kinesis_consumer_t* k, const char* shard_id,
                         kinesis_shard_end_reason_t reason, void* arg) {
  sink_t* s = arg;
  (void) k;
  (void) shard_id;
  ASSERT_EQ(KINESIS_SHARD_END_STOPPED, reason);
  ASSERT_EQ(0, s->closed.calls);
  s->ends++;
  s->end_order = ++g_order;
  if (s->close_in_shard_end && s->ends == 1)
    close_consumer_inside(s);
}


static void on_stopped(kinesis_consumer_t* k, int status, void* arg) {
  sink_t* s = arg;
  (void) k;
  ASSERT_EQ(0, s->closed.calls);
  s->stopped++;
  s->stop_status = status;
  s->stop_order = ++g_order;
  if (s->close_in_stop)
    close_consumer_inside(s);
  uv_stop(&loop);
}


static kinesis_consumer_t* new_consumer(kinesis_client_t* c, const char* stream,
                                        sink_t* s, kinesis_checkpointer_t* cp) {
  kinesis_consumer_options_t o;
  kinesis_consumer_options_init(&o);
  o.stream = stream;
  o.on_record = on_record;
  o.on_record_data = s;
  o.on_shard_start = on_shard_start;
  o.on_shard_end = on_shard_end;
  o.on_shard_data = s;
  o.iterator_type = KINESIS_ITERATOR_TRIM_HORIZON;
  o.sleep_time_no_records_ms = 20;
  o.checkpointer = cp;
  /* Only the close writes a checkpoint. */
  o.checkpoint_interval_ms = 600000;
  ASSERT_OK(kinesis_consumer_new(c, &o, &s->k));
  kinesis_consumer_set_data(s->k, &marker);
  return s->k;
}


static const char* stream_with_records(kinesis_client_t* c, const char* name,
                                       size_t n) {
  const char* stream = test_stream_name(name);
  create_active_stream(&loop, c, stream, 1);
  if (n > 0)
    put_records(c, stream, n);
  return stream;
}


/* Not started; double close; the user slot; a NULL callback. */
static void test_consumer_close(void) {
  kinesis_client_t* c;
  sink_t s;

  start();
  memset(&s, 0, sizeof(s));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_close(NULL, on_closed, NULL));
  c = new_client();
  new_consumer(c, "close-never-started", &s, NULL);
  close_consumer_inside(&s);
  WAIT_UNTIL(s.closed.calls > 0, 10000);
  expect_closed(&s.closed, &marker, 0);

  new_consumer(c, "close-never-started", &s, NULL);
  ASSERT_OK(kinesis_consumer_close(s.k, NULL, NULL));
  run_loop_for(&loop, 50);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, s.again.calls);
}


/* Closed from on_record, with records in flight: delivery stops, the
 * shard's end comes, then the close's callback, once. */
static void test_consumer_close_from_record(void) {
  kinesis_client_t* c;
  const char* stream;
  sink_t s;

  start();
  memset(&s, 0, sizeof(s));
  s.close_in_record = 1;
  c = new_client();
  stream = stream_with_records(c, "close-crec", 20);
  new_consumer(c, stream, &s, NULL);
  ASSERT_OK(kinesis_consumer_start(s.k));
  WAIT_UNTIL(s.closed.calls > 0, 20000);
  expect_closed(&s.closed, &marker, 0);
  ASSERT_GE(s.records, 1);
  ASSERT_EQ(s.records_at_close, s.records);
  ASSERT_EQ(1, s.starts);
  ASSERT_EQ(1, s.ends);
  ASSERT_LT(s.record_order, s.closed.order);
  ASSERT_LT(s.end_order, s.closed.order);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, s.again.calls);
}


/* Closed from on_shard_end during a stop, and from a stop's callback: the
 * stop's callback runs once, before the close's. */
static void test_consumer_close_from_stop(void) {
  kinesis_client_t* c;
  const char* stream;
  sink_t s;
  int round;

  start();
  c = new_client();
  stream = stream_with_records(c, "close-cstop", 3);
  for (round = 0; round < 2; round++) {
    memset(&s, 0, sizeof(s));
    s.close_in_shard_end = round == 0;
    s.close_in_stop = round == 1;
    new_consumer(c, stream, &s, NULL);
    ASSERT_OK(kinesis_consumer_start(s.k));
    WAIT_UNTIL(s.starts == 1 && s.records == 3, 20000);
    ASSERT_OK(kinesis_consumer_stop(s.k, on_stopped, &s));
    WAIT_UNTIL(s.closed.calls > 0, 20000);
    expect_closed(&s.closed, &marker, 0);
    ASSERT_EQ(1, s.stopped);
    /* on_shard_end runs once the stop has completed, just before its
     * callback: a close from there lets that callback run with 0. */
    ASSERT_EQ(0, s.stop_status);
    ASSERT_LT(s.stop_order, s.closed.order);
    ASSERT_LT(s.end_order, s.closed.order);
    ASSERT_EQ(0, s.again.calls);
  }
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* Closed once a stop has ended but before its callback's tick: the close
 * takes the stop's callback back from the loop and runs it, with 0, once
 * the handles are closed and before the close's own callback. */
static void test_consumer_close_before_stop_cb(void) {
  kinesis_client_t* c;
  const char* stream;
  sink_t s;
  int turns = 0;

  start();
  c = new_client();
  stream = stream_with_records(c, "close-cstopcb", 3);
  memset(&s, 0, sizeof(s));
  new_consumer(c, stream, &s, NULL);
  ASSERT_OK(kinesis_consumer_start(s.k));
  WAIT_UNTIL(s.starts == 1 && s.records == 3, 20000);
  ASSERT_OK(kinesis_consumer_stop(s.k, on_stopped, &s));
  /* One loop turn at a time, up to the turn that ends the stop: its
   * callback waits for the next. */
  while (!(s.k->wind == 0 && kn_defer_queued(&s.k->stopped))) {
    ASSERT_EQ(0, s.stopped);
    ASSERT_LT(++turns, 100000);
    uv_run(&loop, UV_RUN_ONCE);
  }
  ASSERT_EQ(0, s.stopped);
  close_consumer_inside(&s);
  WAIT_UNTIL(s.closed.calls > 0, 20000);
  expect_closed(&s.closed, &marker, 0);
  ASSERT_EQ(1, s.stopped);
  ASSERT_EQ(0, s.stop_status);
  ASSERT_LT(s.stop_order, s.closed.order);
  ASSERT_EQ(1, s.ends);
  ASSERT_LT(s.end_order, s.stop_order);
  ASSERT_EQ(0, s.again.calls);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A checkpointer of the application's that wraps a memory one and, once
 * `fail_writes` is set, answers checkpoint with KINESIS_ESTORE (after the
 * memory store's answer, on its tick). */
static kinesis_checkpointer_t* fw_inner;
static int fail_writes;

typedef struct {
  kinesis_ckpt_cb cb;
  void* arg;
} fw_call_t;


static void fw_on_checkpoint(int status, void* arg) {
  fw_call_t* call = arg;
  kinesis_ckpt_cb cb = call->cb;
  void* cb_arg = call->arg;
  free(call);
  cb(fail_writes ? KINESIS_ESTORE : status, cb_arg);
}


static int fw_claim(void* self, const char* st, const char* sh, const char* o,
                    kinesis_ckpt_state_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->claim(fw_inner->self, st, sh, o, cb, a);
}


static int fw_heartbeat(void* self, const char* st, const char* sh,
                        const char* o, kinesis_ckpt_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->heartbeat(fw_inner->self, st, sh, o, cb, a);
}


static int fw_checkpoint(void* self, const char* st, const char* sh,
                         const char* o, const kinesis_checkpoint_t* pos,
                         kinesis_ckpt_cb cb, void* a) {
  fw_call_t* call = malloc(sizeof(*call));
  int r;
  (void) self;
  ASSERT_NOT_NULL(call);
  call->cb = cb;
  call->arg = a;
  r = fw_inner->ops->checkpoint(fw_inner->self, st, sh, o, pos,
                                fw_on_checkpoint, call);
  if (r != 0)
    free(call);
  return r;
}


static int fw_finish(void* self, const char* st, const char* sh, const char* o,
                     kinesis_ckpt_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->finish(fw_inner->self, st, sh, o, cb, a);
}


static int fw_release(void* self, const char* st, const char* sh, const char* o,
                      kinesis_ckpt_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->release(fw_inner->self, st, sh, o, cb, a);
}


static int fw_get(void* self, const char* st, const char* sh,
                  kinesis_ckpt_state_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->get(fw_inner->self, st, sh, cb, a);
}


static int fw_close(void* self, kinesis_ckpt_cb cb, void* a) {
  (void) self;
  return fw_inner->ops->close(fw_inner->self, cb, a);
}


static const kinesis_checkpointer_ops_t fw_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = fw_claim,
    .heartbeat = fw_heartbeat,
    .checkpoint = fw_checkpoint,
    .finish = fw_finish,
    .release = fw_release,
    .get = fw_get,
    .close = fw_close,
};


/* The final checkpoint fails: the close's status says so. And a
 * checkpointer of the application's closes through
 * kinesis_checkpointer_close() with its `data`. */
static void test_consumer_close_status(void) {
  kinesis_client_t* c;
  kinesis_checkpointer_t fw;
  const char* stream;
  closed_t cp_closed, cp_again;
  sink_t s;

  start();
  memset(&s, 0, sizeof(s));
  memset(&cp_closed, 0, sizeof(cp_closed));
  memset(&cp_again, 0, sizeof(cp_again));
  memset(&fw, 0, sizeof(fw));
  fail_writes = 0;
  c = new_client();
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &fw_inner));
  fw.ops = &fw_ops;
  fw.session_timeout_ms = fw_inner->session_timeout_ms;
  fw.data = &other_marker;
  stream = stream_with_records(c, "close-cstatus", 5);
  new_consumer(c, stream, &s, &fw);
  ASSERT_OK(kinesis_consumer_start(s.k));
  WAIT_UNTIL(s.records == 5, 20000);
  fail_writes = 1;
  ASSERT_OK(kinesis_consumer_close(s.k, on_closed, &s.closed));
  s.closed.returned = 1;
  WAIT_UNTIL(s.closed.calls > 0, 20000);
  expect_closed(&s.closed, &marker, KINESIS_ESTORE);

  ASSERT_OK(kinesis_checkpointer_close(&fw, on_closed, &cp_closed));
  cp_closed.returned = 1;
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_checkpointer_close(&fw, on_closed, &cp_again));
  WAIT_UNTIL(cp_closed.calls > 0, 10000);
  expect_closed(&cp_closed, &other_marker, 0);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, cp_again.calls);
}


/* ---- The checkpointers ---- */

typedef kinesis_checkpointer_t* (*make_fn)(kinesis_client_t* c);

typedef struct {
  kinesis_checkpointer_t* cp;
  int calls;
  int status;
  int order;
  int close_inside;
  closed_t* closed;
  closed_t* again;
} op_t;


static void on_claimed(int status, const kinesis_checkpoint_t* ck, void* arg) {
  op_t* op = arg;
  (void) ck;
  op->calls++;
  op->status = status;
  op->order = ++g_order;
  if (op->close_inside) {
    ASSERT_OK(kinesis_checkpointer_close(op->cp, on_closed, op->closed));
    op->closed->returned = 1;
    ASSERT_EQ(KINESIS_EALREADY,
              kinesis_checkpointer_close(op->cp, on_closed, op->again));
  }
}


static int claim(op_t* op, const char* shard) {
  return op->cp->ops->claim(op->cp->self, "close-stream", shard, "A",
                            on_claimed, op);
}


/* Every rule, for the checkpointer that `make` makes from a client. */
static void checkpointer_contract(make_fn make) {
  kinesis_client_t* c;
  kinesis_client_t* other;
  kinesis_checkpointer_t* cp;
  kinesis_consumer_options_t co;
  kinesis_consumer_t* k;
  closed_t closed[2], again;
  op_t op;

  start();
  c = new_client();
  other = new_client();
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_close(NULL, on_closed, NULL));

  /* An operation outstanding is answered before the close's callback,
   * which gets `data` and 0, once, never inside the call. */
  memset(closed, 0, sizeof(closed));
  memset(&again, 0, sizeof(again));
  memset(&op, 0, sizeof(op));
  cp = make(c);
  ASSERT_NULL(cp->data);
  cp->data = &marker;
  op.cp = cp;
  ASSERT_OK(claim(&op, "s0"));
  ASSERT_OK(kinesis_checkpointer_close(cp, on_closed, &closed[0]));
  closed[0].returned = 1;
  ASSERT_EQ(KINESIS_EALREADY,
            kinesis_checkpointer_close(cp, on_closed, &again));
  ASSERT_EQ(0, op.calls);
  WAIT_UNTIL(closed[0].calls > 0, 10000);
  expect_closed(&closed[0], &marker, 0);
  ASSERT_EQ(1, op.calls);
  ASSERT_LT(op.order, closed[0].order);

  /* Closed from inside its own callback. */
  memset(closed, 0, sizeof(closed));
  memset(&op, 0, sizeof(op));
  cp = make(c);
  op.cp = cp;
  op.close_inside = 1;
  op.closed = &closed[0];
  op.again = &again;
  ASSERT_OK(claim(&op, "s1"));
  WAIT_UNTIL(closed[0].calls > 0, 10000);
  ASSERT_EQ(1, op.calls);
  expect_closed(&closed[0], NULL, 0);

  /* A NULL callback is allowed. */
  cp = make(c);
  ASSERT_OK(kinesis_checkpointer_close(cp, NULL, NULL));
  run_loop_for(&loop, 50);

  /* The client refuses to close while one is open, and may close from its
   * close's callback; another client's consumer refuses it. */
  memset(closed, 0, sizeof(closed));
  cp = make(c);
  kinesis_consumer_options_init(&co);
  co.stream = "close-stream";
  co.on_record = on_record_ignore;
  co.checkpointer = cp;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(other, &co, &k));
  ASSERT_EQ(KINESIS_EBUSY, kinesis_client_close(c, NULL, NULL));
  cp->data = c;
  ASSERT_OK(kinesis_checkpointer_close(cp, on_cp_closed_close_client, closed));
  closed[0].returned = 1;
  WAIT_UNTIL(closed[1].calls > 0, 10000);
  expect_closed(&closed[0], c, 0);
  expect_closed(&closed[1], NULL, 0);
  ASSERT_OK(kinesis_client_close(other, NULL, NULL));
  kn_test_loop_close(&loop);
  ASSERT_EQ(0, again.calls);
}


static kinesis_checkpointer_t* make_memory(kinesis_client_t* c) {
  kinesis_checkpointer_t* cp = NULL;
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  return cp;
}


static void test_memory_checkpointer(void) {
  checkpointer_contract(make_memory);
}


static const char* redis_url;
static unsigned redis_apps;


static kinesis_checkpointer_t* make_redis(kinesis_client_t* c) {
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp = NULL;
  char app[64];
  snprintf(app, sizeof(app), "close-%ld-%u", (long) getpid(), ++redis_apps);
  kinesis_checkpointer_redis_options_init(&o);
  o.url = redis_url;
  o.app_name = app;
  ASSERT_OK(kinesis_checkpointer_redis_new(c, &o, &cp));
  return cp;
}


static void test_redis_checkpointer(void) {
  kinesis_checkpointer_redis_options_t o;
  kinesis_checkpointer_t* cp = NULL;
  kinesis_client_t* c;
  closed_t closed;
  op_t op;
  int r;

  /* With the connection down (nothing listens on port 1), the close's
   * status is still 0: the operation cancelled, or refused, says what was
   * not done. */
  start();
  memset(&closed, 0, sizeof(closed));
  memset(&op, 0, sizeof(op));
  c = new_client();
  kinesis_checkpointer_redis_options_init(&o);
  o.url = "redis://127.0.0.1:1";
  o.app_name = "close";
  o.connect_timeout_ms = 100;
  r = kinesis_checkpointer_redis_new(c, &o, &cp);
  if (r == KINESIS_EUNSUPPORTED) {
    /* A build without hiredis: the documented answer, and nothing more to
     * check. */
    fprintf(stderr, "# no Redis support in this build\n");
    close_client(&loop, c);
    kn_test_loop_close(&loop);
    return;
  }
  ASSERT_OK(r);
  op.cp = cp;
  ASSERT_OK(claim(&op, "s0"));
  ASSERT_OK(kinesis_checkpointer_close(cp, on_closed, &closed));
  closed.returned = 1;
  WAIT_UNTIL(closed.calls > 0, 10000);
  expect_closed(&closed, NULL, 0);
  ASSERT_EQ(1, op.calls);
  ASSERT(op.status == KINESIS_ECANCELED || op.status == KINESIS_ESTORE);
  ASSERT_LT(op.order, closed.order);
  close_client(&loop, c);
  kn_test_loop_close(&loop);

  redis_url = kn_test_require_env("KINESIS_TEST_REDIS_URL");
  checkpointer_contract(make_redis);
}


KN_TEST_MAIN(KN_TEST(test_client_close),
             KN_TEST(test_client_close_from_callback),
             KN_TEST(test_client_busy), KN_TEST(test_producer_close_pending),
             KN_TEST(test_producer_close_from_put_cb),
             KN_TEST(test_producer_close_from_flush),
             KN_TEST(test_producer_close_status), KN_TEST(test_consumer_close),
             KN_TEST(test_consumer_close_from_record),
             KN_TEST(test_consumer_close_from_stop),
             KN_TEST(test_consumer_close_before_stop_cb),
             KN_TEST(test_consumer_close_status),
             KN_TEST(test_memory_checkpointer),
             KN_TEST(test_redis_checkpointer))
