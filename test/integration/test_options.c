#include "client_util.h"
#include "service.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "consumer_internal.h"

/* The options rules (docs/reference.md, "Options"), for each options struct
 * and the checkpointer ops table: a leading size member set by the _init
 * macro; a caller built against an older header (a shorter struct) gets the
 * defaults for what it lacks; one built against a newer header (a longer
 * struct) is accepted when what this library lacks is zero; a size of 0 is
 * KINESIS_EINVAL; NULL options; _init(NULL); and a 0 in a field that gives
 * 0 no meaning. The shorter and longer structs live in heap blocks of
 * exactly their size, so that ASan catches a read or write past them. The
 * producer and consumer need a client with a region, pointed at kinesalite;
 * nothing here needs a stream. */

static uv_loop_t loop;
static int closed;


static void on_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  closed++;
}


static void on_producer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  closed++;
}


static void on_consumer_closed(void* data, int status, void* arg) {
  (void) data;
  (void) arg;
  ASSERT_OK(status);
  closed++;
}


static void close_producer(kinesis_producer_t* p) {
  closed = 0;
  ASSERT_OK(kinesis_producer_close(p, on_producer_closed, NULL));
  TEST_WAIT_UNTIL(&loop, closed == 1, 10000, (void) 0);
}


static void close_consumer(kinesis_consumer_t* c) {
  closed = 0;
  ASSERT_OK(kinesis_consumer_close(c, on_consumer_closed, NULL));
  TEST_WAIT_UNTIL(&loop, closed == 1, 10000, (void) 0);
}


static void close_checkpointer(kinesis_checkpointer_t* cp) {
  closed = 0;
  ASSERT_OK(kinesis_checkpointer_close(cp, on_closed, NULL));
  TEST_WAIT_UNTIL(&loop, closed == 1, 10000, (void) 0);
}


static kinesis_client_t* new_client(void) {
  kinesis_client_options_t o;
  kinesis_client_t* c;
  test_client_options(&o, test_endpoint());
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  return c;
}


/* A heap block of exactly `size` bytes: ASan reports any access past it. */
static void* block(size_t size) {
  void* p = malloc(size);
  ASSERT_NOT_NULL(p);
  memset(p, 0xa5, size);
  return p;
}


/* A field of an options struct: its name, where it is, and its size. */
typedef struct {
  const char* name;
  size_t offset;
  size_t size;
} field_t;

#define FIELD(type, member) \
  { #member, offsetof(type, member), sizeof(((type*) 0)->member) }


static void zero_field(void* o, const field_t* f) {
  memset((char*) o + f->offset, 0, f->size);
}


/* What callers built against older headers hold: each struct's first
 * fields, up to the one the tests cut it before. The library must read
 * nothing past them. */
typedef struct {
  size_t size;
  const char* region;
  const char* endpoint_url;
  const char* profile;
  const char* access_key_id;
  const char* secret_access_key;
  const char* session_token;
  const char* ca_file;
} old_client_options_t;

typedef struct {
  size_t size;
  const char* stream;
} old_producer_options_t;

typedef struct {
  size_t size;
  const char* stream;
  kinesis_record_cb on_record;
  void* on_record_data;
} old_consumer_options_t;

typedef struct {
  size_t size;
} old_memory_options_t;

typedef struct {
  size_t size;
  const char* url;
  const char* app_name;
} old_redis_options_t;

typedef struct {
  size_t size;
  const char* table;
} old_dynamodb_options_t;

_Static_assert(sizeof(old_client_options_t) ==
                   offsetof(kinesis_client_options_t, insecure),
               "old_client_options_t is the client's first fields");
_Static_assert(sizeof(old_producer_options_t) ==
                   offsetof(kinesis_producer_options_t, buffer_time_ms),
               "old_producer_options_t is the producer's first fields");
_Static_assert(sizeof(old_consumer_options_t) ==
                   offsetof(kinesis_consumer_options_t, max_queue_size),
               "old_consumer_options_t is the consumer's first fields");
_Static_assert(sizeof(old_memory_options_t) ==
                   offsetof(kinesis_checkpointer_memory_options_t,
                            session_timeout_ms),
               "old_memory_options_t is the memory options' first field");
_Static_assert(sizeof(old_redis_options_t) ==
                   offsetof(kinesis_checkpointer_redis_options_t,
                            session_timeout_ms),
               "old_redis_options_t is the Redis options' first fields");
_Static_assert(sizeof(old_dynamodb_options_t) ==
                   offsetof(kinesis_checkpointer_dynamodb_options_t,
                            endpoint_url),
               "old_dynamodb_options_t is the DynamoDB options' first field");


/* ---- The client ---- */

static void test_client_options_sized(void) {
  kinesis_client_options_t full;
  kinesis_client_options_t* o;
  old_client_options_t* old;
  kinesis_client_t* c;
  size_t short_size = sizeof(old_client_options_t);
  size_t long_size = sizeof(kinesis_client_options_t) + 16;
  unsigned char* tail;

  ASSERT_OK(uv_loop_init(&loop));
  test_client_options(&full, test_endpoint());
  ASSERT_EQ(sizeof(full), full.size);

  /* An older caller: its struct ends before insecure, so it holds no
   * number; new() takes the defaults of the others (a 0 there would be
   * KINESIS_EINVAL). */
  old = block(short_size);
  kinesis_client_options_init_sized((kinesis_client_options_t*) old,
                                    short_size);
  ASSERT_EQ(short_size, old->size);
  ASSERT_NULL(old->region);
  ASSERT_NULL(old->ca_file);
  memcpy((char*) old + sizeof(size_t), (char*) &full + sizeof(size_t),
         short_size - sizeof(size_t));
  ASSERT_OK(
      kinesis_client_new(&loop, (const kinesis_client_options_t*) old, &c));
  ASSERT_EQ(64, kn_client_max_connections(c));
  ASSERT_STR_EQ("us-east-1", kinesis_client_region(c));
  close_client(&loop, c);
  free(old);

  /* A newer caller: 16 bytes this library does not know. Zero is "as
   * before"; anything else is refused. */
  tail = block(long_size);
  o = (kinesis_client_options_t*) tail;
  kinesis_client_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  ASSERT_EQ(5, o->max_attempts);
  ASSERT_EQ(0, tail[sizeof(full)]);
  ASSERT_EQ(0, tail[long_size - 1]);
  memcpy((char*) o + sizeof(size_t), (char*) &full + sizeof(size_t),
         sizeof(full) - sizeof(size_t));
  ASSERT_OK(kinesis_client_new(&loop, o, &c));
  close_client(&loop, c);
  tail[long_size - 1] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED, kinesis_client_new(&loop, o, &c));
  free(tail);

  /* A size of 0: the struct was not set by kinesis_client_options_init(). */
  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_new(&loop, &full, &c));
  full.size = sizeof(size_t) - 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_new(&loop, &full, &c));

  /* Sizes too small to hold the size member, and NULL, are left alone. */
  kinesis_client_options_init(NULL);
  kinesis_client_options_init_sized(NULL, sizeof(full));
  memset(&full, 0xa5, sizeof(full));
  kinesis_client_options_init_sized(&full, 0);
  kinesis_client_options_init_sized(&full, sizeof(size_t) - 1);
  ASSERT_EQ(0xa5, ((unsigned char*) &full)[0]);
  kn_test_loop_close(&loop);
}


static void test_client_null_and_zero(void) {
  static const field_t zero_invalid[] = {
      FIELD(kinesis_client_options_t, connect_timeout_ms),
      FIELD(kinesis_client_options_t, request_timeout_ms),
      FIELD(kinesis_client_options_t, max_connections),
      FIELD(kinesis_client_options_t, max_attempts),
      FIELD(kinesis_client_options_t, retry_base_ms),
      FIELD(kinesis_client_options_t, retry_cap_ms)};
  kinesis_client_options_t o;
  kinesis_client_t* c;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  /* NULL: every default, as nothing is required. */
  ASSERT_OK(kinesis_client_new(&loop, NULL, &c));
  ASSERT_EQ(64, kn_client_max_connections(c));
  close_client(&loop, c);

  for (i = 0; i < KN_ARRAY_SIZE(zero_invalid); i++) {
    test_client_options(&o, test_endpoint());
    zero_field(&o, &zero_invalid[i]);
    if (kinesis_client_new(&loop, &o, &c) != KINESIS_EINVAL) {
      fprintf(stderr, "client: %s 0 was not KINESIS_EINVAL\n",
              zero_invalid[i].name);
      abort();
    }
  }
  /* 0 where the field gives it a meaning: insecure off, log level ERROR. */
  test_client_options(&o, test_endpoint());
  o.insecure = 0;
  o.log_level = KINESIS_LOG_ERROR;
  ASSERT_OK(kinesis_client_new(&loop, &o, &c));
  close_client(&loop, c);
  /* A log level that is none of the four. */
  o.log_level = (kinesis_log_level_t) 7;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_client_new(&loop, &o, &c));
  kn_test_loop_close(&loop);
}


/* ---- The producer ---- */

static void producer_required(kinesis_producer_options_t* o) {
  o->stream = "options-producer";
}


static void test_producer_options_sized(void) {
  kinesis_client_t* c;
  kinesis_producer_options_t full;
  kinesis_producer_options_t* o;
  old_producer_options_t* old;
  kinesis_producer_t* p;
  size_t short_size = sizeof(old_producer_options_t);
  size_t long_size = sizeof(kinesis_producer_options_t) + 8;
  unsigned char* raw;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();

  /* An older caller whose struct holds only the stream: every number takes
   * its default (batch_size, max_in_flight and others would be
   * KINESIS_EINVAL at 0). */
  old = block(short_size);
  kinesis_producer_options_init_sized((kinesis_producer_options_t*) old,
                                      short_size);
  ASSERT_EQ(short_size, old->size);
  ASSERT_NULL(old->stream);
  old->stream = "options-producer";
  ASSERT_OK(
      kinesis_producer_new(c, (const kinesis_producer_options_t*) old, &p));
  close_producer(p);
  free(old);

  /* A newer caller. */
  raw = block(long_size);
  o = (kinesis_producer_options_t*) raw;
  kinesis_producer_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  ASSERT_EQ(500, o->batch_size);
  ASSERT_EQ(0, raw[long_size - 1]);
  producer_required(o);
  ASSERT_OK(kinesis_producer_new(c, o, &p));
  close_producer(p);
  raw[sizeof(full)] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED, kinesis_producer_new(c, o, &p));
  free(raw);

  kinesis_producer_options_init(&full);
  ASSERT_EQ(sizeof(full), full.size);
  producer_required(&full);
  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, &full, &p));
  /* NULL: stream is required. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_producer_new(c, NULL, &p));
  kinesis_producer_options_init(NULL);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_producer_zero_fields(void) {
  static const field_t zero_invalid[] = {
      FIELD(kinesis_producer_options_t, batch_size),
      FIELD(kinesis_producer_options_t, max_batch_bytes),
      FIELD(kinesis_producer_options_t, max_queue_size),
      FIELD(kinesis_producer_options_t, max_queue_bytes),
      FIELD(kinesis_producer_options_t, retry_base_ms),
      FIELD(kinesis_producer_options_t, retry_cap_ms),
      FIELD(kinesis_producer_options_t, max_in_flight),
      FIELD(kinesis_producer_options_t, shard_refresh_ms)};
  kinesis_client_t* c;
  kinesis_producer_options_t o;
  kinesis_producer_t* p;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  for (i = 0; i < KN_ARRAY_SIZE(zero_invalid); i++) {
    kinesis_producer_options_init(&o);
    producer_required(&o);
    zero_field(&o, &zero_invalid[i]);
    if (kinesis_producer_new(c, &o, &p) != KINESIS_EINVAL) {
      fprintf(stderr, "producer: %s 0 was not KINESIS_EINVAL\n",
              zero_invalid[i].name);
      abort();
    }
  }
  /* The fields whose comment gives 0 a meaning take it, all at once. */
  kinesis_producer_options_init(&o);
  producer_required(&o);
  o.buffer_time_ms = 0;
  o.put_rate_limit_per_shard = 0;
  o.put_bandwidth_limit_per_shard = 0;
  o.max_attempts = 0;
  o.record_ttl_ms = 0;
  o.max_record_size = 0;
  o.aggregate = 0;
  o.stall_timeout_ms = 0;
  o.ordered = 0;
  ASSERT_OK(kinesis_producer_new(c, &o, &p));
  close_producer(p);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The consumer and the checkpointer ops table ---- */

static void on_record(kinesis_consumer_t* c, const kinesis_consumer_record_t* r,
                      void* arg) {
  (void) c;
  (void) r;
  (void) arg;
}


static void consumer_required(kinesis_consumer_options_t* o) {
  o->stream = "options-consumer";
  o->on_record = on_record;
}


static void test_consumer_options_sized(void) {
  kinesis_client_t* c;
  kinesis_consumer_options_t full;
  kinesis_consumer_options_t* o;
  old_consumer_options_t* old;
  kinesis_consumer_t* k;
  size_t short_size = sizeof(old_consumer_options_t);
  size_t long_size = sizeof(kinesis_consumer_options_t) + 8;
  unsigned char* raw;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();

  /* An older caller with only the required fields. */
  old = block(short_size);
  kinesis_consumer_options_init_sized((kinesis_consumer_options_t*) old,
                                      short_size);
  ASSERT_EQ(short_size, old->size);
  old->stream = "options-consumer";
  old->on_record = on_record;
  old->on_record_data = NULL;
  ASSERT_OK(
      kinesis_consumer_new(c, (const kinesis_consumer_options_t*) old, &k));
  ASSERT_EQ(sizeof(full), k->o.size);
  ASSERT_EQ(1000, k->o.max_queue_size);
  ASSERT_EQ(10000, k->o.record_limit);
  ASSERT_EQ(2000, k->o.sleep_time_no_records_ms);
  ASSERT_EQ(3000, k->o.heartbeat_interval_ms);
  ASSERT_EQ(30000, k->o.shard_discovery_ms);
  ASSERT_NULL(k->o.on_shard_end);
  close_consumer(k);
  free(old);

  /* A newer caller. */
  raw = block(long_size);
  o = (kinesis_consumer_options_t*) raw;
  kinesis_consumer_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  ASSERT_EQ(0, raw[long_size - 1]);
  consumer_required(o);
  ASSERT_OK(kinesis_consumer_new(c, o, &k));
  close_consumer(k);
  raw[long_size - 1] = 0x80;
  ASSERT_EQ(KINESIS_EUNSUPPORTED, kinesis_consumer_new(c, o, &k));
  free(raw);

  kinesis_consumer_options_init(&full);
  consumer_required(&full);
  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, &full, &k));
  /* NULL: stream and on_record are required. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_consumer_new(c, NULL, &k));
  kinesis_consumer_options_init(NULL);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


static void test_consumer_zero_fields(void) {
  static const field_t zero_invalid[] = {
      FIELD(kinesis_consumer_options_t, max_queue_size),
      FIELD(kinesis_consumer_options_t, record_limit),
      FIELD(kinesis_consumer_options_t, sleep_time_no_records_ms),
      FIELD(kinesis_consumer_options_t, shard_fetch_rate),
      FIELD(kinesis_consumer_options_t, checkpoint_interval_ms),
      FIELD(kinesis_consumer_options_t, heartbeat_interval_ms),
      FIELD(kinesis_consumer_options_t, shard_discovery_ms)};
  kinesis_client_t* c;
  kinesis_consumer_options_t o;
  kinesis_consumer_t* k;
  size_t i;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  for (i = 0; i < KN_ARRAY_SIZE(zero_invalid); i++) {
    kinesis_consumer_options_init(&o);
    consumer_required(&o);
    zero_field(&o, &zero_invalid[i]);
    if (kinesis_consumer_new(c, &o, &k) != KINESIS_EINVAL) {
      fprintf(stderr, "consumer: %s 0 was not KINESIS_EINVAL\n",
              zero_invalid[i].name);
      abort();
    }
  }
  /* 0 where the comment gives it a meaning. */
  kinesis_consumer_options_init(&o);
  consumer_required(&o);
  o.max_shard_consumers = 0;
  o.manual_ack = 0;
  o.max_unacked = 0;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  close_consumer(k);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A store that is never called: the consumer is not started. */
static int never_state(void* self, const char* stream, const char* shard,
                       const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  (void) self, (void) stream, (void) shard, (void) owner, (void) cb, (void) arg;
  abort();
}


static int never_cb(void* self, const char* stream, const char* shard,
                    const char* owner, kinesis_ckpt_cb cb, void* arg) {
  (void) self, (void) stream, (void) shard, (void) owner, (void) cb, (void) arg;
  abort();
}


static int never_checkpoint(void* self, const char* stream, const char* shard,
                            const char* owner,
                            const kinesis_checkpoint_t* position,
                            kinesis_ckpt_cb cb, void* arg) {
  (void) self, (void) stream, (void) shard, (void) owner, (void) position,
      (void) cb, (void) arg;
  abort();
}


static int never_get(void* self, const char* stream, const char* shard,
                     kinesis_ckpt_state_cb cb, void* arg) {
  (void) self, (void) stream, (void) shard, (void) cb, (void) arg;
  abort();
}


static int never_close(void* self, kinesis_ckpt_cb cb, void* arg) {
  (void) self, (void) cb, (void) arg;
  abort();
}


static int never_member(void* self, const char* stream, const char* owner,
                        int leaving, kinesis_ckpt_members_cb cb, void* arg) {
  (void) self, (void) stream, (void) owner, (void) leaving, (void) cb,
      (void) arg;
  abort();
}


static int never_leases(void* self, const char* stream, const char* const* ids,
                        size_t n, kinesis_ckpt_leases_cb cb, void* arg) {
  (void) self, (void) stream, (void) ids, (void) n, (void) cb, (void) arg;
  abort();
}


static const kinesis_checkpointer_ops_t never_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = never_state,
    .heartbeat = never_cb,
    .checkpoint = never_checkpoint,
    .finish = never_cb,
    .release = never_cb,
    .get = never_get,
    .close = never_close,
    .member = never_member,
    .leases = never_leases,
};


/* A consumer made with never_ops cut to `size` bytes, in a block of that
 * size; returns new()'s result, and on success what the consumer's copy
 * of the table holds. */
static int consumer_with_ops(kinesis_client_t* c, size_t size,
                             size_t block_size,
                             kinesis_checkpointer_ops_t* seen) {
  kinesis_consumer_options_t o;
  kinesis_checkpointer_t cp;
  kinesis_checkpointer_ops_t* ops;
  kinesis_consumer_t* k;
  int r;

  ops = block(block_size);
  memcpy(ops, &never_ops,
         block_size < sizeof(never_ops) ? block_size : sizeof(never_ops));
  if (block_size > sizeof(never_ops))
    memset((char*) ops + sizeof(never_ops), 0, block_size - sizeof(never_ops));
  ops->size = size;
  cp.ops = ops;
  cp.self = NULL;
  cp.session_timeout_ms = 10000;
  kinesis_consumer_options_init(&o);
  consumer_required(&o);
  o.checkpointer = &cp;
  r = kinesis_consumer_new(c, &o, &k);
  if (r == 0) {
    *seen = k->ops;
    close_consumer(k);
  }
  free(ops);
  return r;
}


static void test_checkpointer_ops_sized(void) {
  size_t before_member = offsetof(kinesis_checkpointer_ops_t, member);
  size_t before_leases = offsetof(kinesis_checkpointer_ops_t, leases);
  size_t before_close = offsetof(kinesis_checkpointer_ops_t, close);
  size_t full = sizeof(kinesis_checkpointer_ops_t);
  kinesis_checkpointer_ops_t seen;
  kinesis_client_t* c;
  unsigned char* raw;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();

  /* The whole table. */
  ASSERT_OK(consumer_with_ops(c, full, full, &seen));
  ASSERT(seen.member == never_member);
  ASSERT(seen.leases == never_leases);

  /* A store built before leases, then before member: what lies past its
   * size is not read, and counts as NULL. */
  ASSERT_OK(consumer_with_ops(c, before_leases, before_leases, &seen));
  ASSERT(seen.member == never_member);
  ASSERT_NULL(seen.leases);
  ASSERT(seen.claim == never_state);
  ASSERT(seen.close == never_close);
  ASSERT_OK(consumer_with_ops(c, before_member, before_member, &seen));
  ASSERT_NULL(seen.member);
  ASSERT_NULL(seen.leases);

  /* close, and what comes before it, must lie inside the table. */
  ASSERT_EQ(KINESIS_EINVAL,
            consumer_with_ops(c, before_close, before_close, &seen));
  ASSERT_EQ(KINESIS_EINVAL, consumer_with_ops(c, 0, full, &seen));
  /* kinesis_checkpointer_close() reads the table the same way: a close op
   * past its size is none, and is not called (never_close aborts). */
  {
    kinesis_checkpointer_ops_t cut = never_ops;
    kinesis_checkpointer_t cp;
    memset(&cp, 0, sizeof(cp));
    cut.size = before_close;
    cp.ops = &cut;
    ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_close(&cp, NULL, NULL));
  }

  /* A store built against a newer header: its extra operation must be
   * NULL (zero), else this library cannot honour it. */
  ASSERT_OK(
      consumer_with_ops(c, full + sizeof(void*), full + sizeof(void*), &seen));
  raw = block(full + sizeof(void*));
  {
    kinesis_consumer_options_t o;
    kinesis_checkpointer_t cp;
    kinesis_consumer_t* k;
    memcpy(raw, &never_ops, full);
    memset(raw + full, 0, sizeof(void*));
    raw[full + 1] = 1;
    ((kinesis_checkpointer_ops_t*) raw)->size = full + sizeof(void*);
    cp.ops = (const kinesis_checkpointer_ops_t*) raw;
    cp.self = NULL;
    cp.session_timeout_ms = 10000;
    kinesis_consumer_options_init(&o);
    consumer_required(&o);
    o.checkpointer = &cp;
    ASSERT_EQ(KINESIS_EUNSUPPORTED, kinesis_consumer_new(c, &o, &k));
  }
  free(raw);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* A store built before `member` existed: its table ends there, and
 * forwards each operation to a memory checkpointer. The table's block is
 * whole, with member and leases set to never_member and never_leases, so
 * that a consumer reading past `size` would abort. */
static kinesis_checkpointer_t* fw_inner;


static int fw_claim(void* self, const char* stream, const char* shard,
                    const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->claim(fw_inner->self, stream, shard, owner, cb, arg);
}


static int fw_heartbeat(void* self, const char* stream, const char* shard,
                        const char* owner, kinesis_ckpt_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->heartbeat(fw_inner->self, stream, shard, owner, cb,
                                  arg);
}


static int fw_checkpoint(void* self, const char* stream, const char* shard,
                         const char* owner,
                         const kinesis_checkpoint_t* position,
                         kinesis_ckpt_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->checkpoint(fw_inner->self, stream, shard, owner,
                                   position, cb, arg);
}


static int fw_finish(void* self, const char* stream, const char* shard,
                     const char* owner, kinesis_ckpt_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->finish(fw_inner->self, stream, shard, owner, cb, arg);
}


static int fw_release(void* self, const char* stream, const char* shard,
                      const char* owner, kinesis_ckpt_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->release(fw_inner->self, stream, shard, owner, cb, arg);
}


static int fw_get(void* self, const char* stream, const char* shard,
                  kinesis_ckpt_state_cb cb, void* arg) {
  (void) self;
  return fw_inner->ops->get(fw_inner->self, stream, shard, cb, arg);
}


static const kinesis_checkpointer_ops_t fw_ops = {
    .size = offsetof(kinesis_checkpointer_ops_t, member),
    .claim = fw_claim,
    .heartbeat = fw_heartbeat,
    .checkpoint = fw_checkpoint,
    .finish = fw_finish,
    .release = fw_release,
    .get = fw_get,
    .close = never_close,
    .member = never_member,
    .leases = never_leases,
};


/* The older store at work: a started consumer lists, claims, reads and
 * releases through it, and never touches member or leases. */
static void test_older_store_runs(void) {
  kinesis_client_t* c;
  kinesis_consumer_options_t o;
  kinesis_consumer_stats_t st;
  kinesis_checkpointer_t cp;
  kinesis_consumer_t* k;
  char stream[128];

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  snprintf(stream, sizeof(stream), "%s", test_stream_name("options-old"));
  create_active_stream(&loop, c, stream, 1);
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &fw_inner));
  cp.ops = &fw_ops;
  cp.self = NULL;
  cp.session_timeout_ms = fw_inner->session_timeout_ms;
  kinesis_consumer_options_init(&o);
  consumer_required(&o);
  o.stream = stream;
  o.checkpointer = &cp;
  o.sleep_time_no_records_ms = 50;
  ASSERT_OK(kinesis_consumer_new(c, &o, &k));
  ASSERT_NULL(k->ops.member);
  ASSERT_NULL(k->ops.leases);
  ASSERT_OK(kinesis_consumer_start(k));
  TEST_WAIT_UNTIL(&loop, kinesis_consumer_ready(k), 10000, (void) 0);
  ASSERT_OK(kinesis_consumer_stats(k, &st));
  ASSERT_EQ(1, st.leases_held);
  ASSERT_EQ(0, st.live_members);
  close_consumer(k);
  close_checkpointer(fw_inner);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The memory checkpointer ---- */

static void test_memory_options(void) {
  kinesis_checkpointer_memory_options_t full;
  kinesis_checkpointer_memory_options_t* o;
  old_memory_options_t* old;
  kinesis_checkpointer_t* cp;
  kinesis_client_t* c;
  size_t short_size = sizeof(old_memory_options_t);
  size_t long_size = sizeof(full) + 8;
  unsigned char* raw;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  /* An older caller with nothing but the size. */
  old = block(short_size);
  kinesis_checkpointer_memory_options_init_sized(
      (kinesis_checkpointer_memory_options_t*) old, short_size);
  ASSERT_EQ(short_size, old->size);
  ASSERT_OK(kinesis_checkpointer_memory_new(
      c, (const kinesis_checkpointer_memory_options_t*) old, &cp));
  ASSERT_EQ(10000, cp->session_timeout_ms);
  close_checkpointer(cp);
  free(old);

  /* A newer caller. */
  raw = block(long_size);
  o = (kinesis_checkpointer_memory_options_t*) raw;
  kinesis_checkpointer_memory_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  o->session_timeout_ms = 1234;
  ASSERT_OK(kinesis_checkpointer_memory_new(c, o, &cp));
  ASSERT_EQ(1234, cp->session_timeout_ms);
  close_checkpointer(cp);
  raw[long_size - 1] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED,
            kinesis_checkpointer_memory_new(c, o, &cp));
  free(raw);

  /* Size 0, NULL (every default: nothing is required), the zero field. */
  kinesis_checkpointer_memory_options_init(&full);
  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(c, &full, &cp));
  ASSERT_OK(kinesis_checkpointer_memory_new(c, NULL, &cp));
  ASSERT_EQ(10000, cp->session_timeout_ms);
  close_checkpointer(cp);
  kinesis_checkpointer_memory_options_init(&full);
  full.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_memory_new(c, &full, &cp));
  kinesis_checkpointer_memory_options_init(NULL);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The Redis checkpointer ---- */

/* No Redis server is needed: new() connects in the background, and the
 * checkpointer is closed before any operation. */
static void redis_required(kinesis_checkpointer_redis_options_t* o) {
  o->url = "redis://127.0.0.1:1";
  o->app_name = "options";
}


static void test_redis_options(void) {
  static const field_t zero_invalid[] = {
      FIELD(kinesis_checkpointer_redis_options_t, session_timeout_ms),
      FIELD(kinesis_checkpointer_redis_options_t, connect_timeout_ms),
      FIELD(kinesis_checkpointer_redis_options_t, reconnect_min_ms),
      FIELD(kinesis_checkpointer_redis_options_t, reconnect_max_ms)};
  kinesis_checkpointer_redis_options_t full;
  kinesis_checkpointer_redis_options_t* o;
  old_redis_options_t* old;
  kinesis_checkpointer_t* cp;
  kinesis_client_t* c;
  size_t short_size = sizeof(old_redis_options_t);
  size_t long_size = sizeof(full) + 8;
  unsigned char* raw;
  size_t i;
  int r;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();
  kinesis_checkpointer_redis_options_init(&full);
  redis_required(&full);
  r = kinesis_checkpointer_redis_new(c, &full, &cp);
  if (r == KINESIS_EUNSUPPORTED) {
    /* Built without hiredis: new() says so whatever the options. The
     * options functions are still there. */
    printf(
        "# built without hiredis: the Redis checkpointer's new() is "
        "KINESIS_EUNSUPPORTED\n");
    kinesis_checkpointer_redis_options_init(NULL);
    close_client(&loop, c);
    kn_test_loop_close(&loop);
    return;
  }
  ASSERT_OK(r);
  close_checkpointer(cp);

  /* An older caller with only the required fields. */
  old = block(short_size);
  kinesis_checkpointer_redis_options_init_sized(
      (kinesis_checkpointer_redis_options_t*) old, short_size);
  ASSERT_EQ(short_size, old->size);
  ASSERT_NULL(old->url);
  old->url = "redis://127.0.0.1:1";
  old->app_name = "options";
  ASSERT_OK(kinesis_checkpointer_redis_new(
      c, (const kinesis_checkpointer_redis_options_t*) old, &cp));
  ASSERT_EQ(10000, cp->session_timeout_ms);
  close_checkpointer(cp);
  free(old);

  /* A newer caller. */
  raw = block(long_size);
  o = (kinesis_checkpointer_redis_options_t*) raw;
  kinesis_checkpointer_redis_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  ASSERT_EQ(2000, o->connect_timeout_ms);
  redis_required(o);
  ASSERT_OK(kinesis_checkpointer_redis_new(c, o, &cp));
  close_checkpointer(cp);
  raw[sizeof(full) + 3] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED,
            kinesis_checkpointer_redis_new(c, o, &cp));
  free(raw);

  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(c, &full, &cp));
  /* NULL: url and app_name are required. */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_redis_new(c, NULL, &cp));
  for (i = 0; i < KN_ARRAY_SIZE(zero_invalid); i++) {
    kinesis_checkpointer_redis_options_init(&full);
    redis_required(&full);
    zero_field(&full, &zero_invalid[i]);
    if (kinesis_checkpointer_redis_new(c, &full, &cp) != KINESIS_EINVAL) {
      fprintf(stderr, "redis: %s 0 was not KINESIS_EINVAL\n",
              zero_invalid[i].name);
      abort();
    }
  }
  kinesis_checkpointer_redis_options_init(NULL);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


/* ---- The DynamoDB checkpointer ---- */

/* No DynamoDB is needed: nothing is sent before the first operation, and
 * the checkpointer is closed before any. */
static void test_dynamodb_options(void) {
  kinesis_checkpointer_dynamodb_options_t full;
  kinesis_checkpointer_dynamodb_options_t* o;
  old_dynamodb_options_t* old;
  kinesis_checkpointer_t* cp;
  kinesis_client_t* c;
  size_t short_size = sizeof(old_dynamodb_options_t);
  size_t long_size = sizeof(full) + 8;
  unsigned char* raw;

  ASSERT_OK(uv_loop_init(&loop));
  c = new_client();

  /* An older caller with only the required field. */
  old = block(short_size);
  kinesis_checkpointer_dynamodb_options_init_sized(
      (kinesis_checkpointer_dynamodb_options_t*) old, short_size);
  ASSERT_EQ(short_size, old->size);
  ASSERT_NULL(old->table);
  old->table = "options";
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(
      c, (const kinesis_checkpointer_dynamodb_options_t*) old, &cp));
  ASSERT_EQ(10000, cp->session_timeout_ms);
  close_checkpointer(cp);
  free(old);

  /* A newer caller. */
  raw = block(long_size);
  o = (kinesis_checkpointer_dynamodb_options_t*) raw;
  kinesis_checkpointer_dynamodb_options_init_sized(o, long_size);
  ASSERT_EQ(long_size, o->size);
  ASSERT_EQ(1, o->create_table);
  o->table = "options";
  o->session_timeout_ms = 1234;
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(c, o, &cp));
  ASSERT_EQ(1234, cp->session_timeout_ms);
  close_checkpointer(cp);
  raw[sizeof(full) + 3] = 1;
  ASSERT_EQ(KINESIS_EUNSUPPORTED,
            kinesis_checkpointer_dynamodb_new(c, o, &cp));
  free(raw);

  /* Size 0; NULL (the table is required); the zero field. */
  kinesis_checkpointer_dynamodb_options_init(&full);
  full.table = "options";
  full.size = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(c, &full, &cp));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(c, NULL, &cp));
  kinesis_checkpointer_dynamodb_options_init(&full);
  full.table = "options";
  full.session_timeout_ms = 0;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_checkpointer_dynamodb_new(c, &full, &cp));
  /* create_table 0 is a choice, not a missing value. */
  full.session_timeout_ms = 10000;
  full.create_table = 0;
  ASSERT_OK(kinesis_checkpointer_dynamodb_new(c, &full, &cp));
  close_checkpointer(cp);
  kinesis_checkpointer_dynamodb_options_init(NULL);
  close_client(&loop, c);
  kn_test_loop_close(&loop);
}


KN_TEST_MAIN(
    KN_TEST(test_client_options_sized), KN_TEST(test_client_null_and_zero),
    KN_TEST(test_producer_options_sized), KN_TEST(test_producer_zero_fields),
    KN_TEST(test_consumer_options_sized), KN_TEST(test_consumer_zero_fields),
    KN_TEST(test_checkpointer_ops_sized), KN_TEST(test_older_store_runs),
    KN_TEST(test_memory_options), KN_TEST(test_redis_options),
    KN_TEST(test_dynamodb_options))
