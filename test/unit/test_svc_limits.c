#include "svc_util.h"

#include "buf.h"
#include "internal.h"

/* The fake service's throughput limits (lib/testing/svc.h): per shard,
 * 1,000 records and 1 MiB written a second, 5 GetRecords calls and 2 MiB
 * read a second, 5 GetShardIterator calls a second, all by the clock the
 * test gives (`now`), and each switched off by its bit of limits_off. */

#define THROTTLED "ProvisionedThroughputExceededException"
#define SHARD0 "shardId-000000000000"
#define SHARD1 "shardId-000000000001"
/* Hash keys inside shard 0 and shard 1 of a stream of 2. */
#define IN0 "7"
#define IN1 MAX_KEY

/* The base64 of `len` bytes 'x'. */
static char* data_of(size_t len) {
  kn_buf_t b;
  char* out;
  kn_buf_init(&b);
  {
    uint8_t* raw_data = malloc(len > 0 ? len : 1);
    ASSERT_NOT_NULL(raw_data);
    memset(raw_data, 'x', len);
    ASSERT_OK(kn_buf_append_base64(&b, raw_data, len));
    free(raw_data);
  }
  out = malloc(b.len + 1);
  ASSERT_NOT_NULL(out);
  memcpy(out, b.data, b.len);
  out[b.len] = '\0';
  kn_buf_free(&b);
  return out;
}


/* An entry of PutRecords: key "k", `len` bytes, to hash key `ehk`. */
static json_t* entry(size_t len, const char* ehk) {
  char* d = data_of(len);
  json_t* e = json_pack("{s:s, s:s, s:s}", "PartitionKey", "k", "Data", d,
                        "ExplicitHashKey", ehk);
  free(d);
  ASSERT_NOT_NULL(e);
  return e;
}


/* PutRecords of `records` (stolen); returns its FailedRecordCount, after
 * checking the answer's shape: as many entries as sent, each either a
 * success or a throttled failure with the service's message, and
 * FailedRecordCount counting the failures. */
static int put_records(const char* stream, json_t* records) {
  size_t n = json_array_size(records);
  size_t i;
  int failed = 0;
  json_t* out;
  call("PutRecords",
       json_pack("{s:s, s:o}", "StreamName", stream, "Records", records));
  ok();
  out = json_object_get(rep, "Records");
  ASSERT_EQ(n, json_array_size(out));
  for (i = 0; i < n; i++) {
    json_t* r = json_array_get(out, i);
    if (json_object_get(r, "ErrorCode") != NULL) {
      static const char prefix[] = "Rate exceeded for shard ";
      const char* m = str(r, "ErrorMessage");
      char want[256];
      ASSERT_STR_EQ(THROTTLED, str(r, "ErrorCode"));
      ASSERT_NULL(json_object_get(r, "SequenceNumber"));
      ASSERT_NULL(json_object_get(r, "ShardId"));
      /* The shard's id is taken from the message: which shard is the
       * tests' to check, with entry_failed(). */
      ASSERT_GT(strlen(m), sizeof(prefix) - 1 + 20);
      snprintf(want, sizeof(want),
               "%s%.20s in stream %s under account 000000000000.", prefix,
               m + sizeof(prefix) - 1, stream);
      ASSERT_STR_EQ(want, m);
      ASSERT_OK(strncmp(m + sizeof(prefix) - 1, "shardId-", 8));
      failed++;
    } else {
      ASSERT_EQ(KN_SVC_SEQ_LEN, strlen(str(r, "SequenceNumber")));
      str(r, "ShardId");
    }
  }
  ASSERT_EQ(failed, json_integer_value(json_object_get(rep,
                                                       "FailedRecordCount")));
  return failed;
}


/* PutRecords of `n` records of `len` bytes to hash key `ehk`. */
static int put_n(const char* stream, size_t n, size_t len, const char* ehk) {
  json_t* a = json_array();
  size_t i;
  for (i = 0; i < n; i++)
    json_array_append_new(a, entry(len, ehk));
  return put_records(stream, a);
}


/* Is entry `i` of the last PutRecords answer throttled? */
static int entry_failed(size_t i) {
  return json_object_get(json_array_get(json_object_get(rep, "Records"), i),
                         "ErrorCode") != NULL;
}


static void put_one(const char* stream, size_t len, const char* ehk) {
  char* d = data_of(len);
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", stream,
                              "PartitionKey", "k", "Data", d,
                              "ExplicitHashKey", ehk));
  free(d);
}


static void expect_throttled(const char* stream, const char* shard) {
  char msg[256];
  err(THROTTLED);
  snprintf(msg, sizeof(msg),
           "Rate exceeded for shard %s in stream %s under account "
           "000000000000.",
           shard, stream);
  ASSERT_STR_EQ(msg, json_string_value(json_object_get(rep, "message")));
}


/* ---- writes ---- */


static void test_write_records(void) {
  int i;
  start_with(0, 0);
  create("s", 2);
  /* 1,000 records at one instant pass (PutRecords takes 500 at most)... */
  ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  /* ...the 1,001st fails, record by record... */
  ASSERT_EQ(3, put_n("s", 3, 1, IN0));
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  /* ...on that shard only, and in order: the other shard's entries of the
   * same request are stored. */
  {
    json_t* a = json_array();
    json_array_append_new(a, entry(1, IN0));
    json_array_append_new(a, entry(1, IN1));
    json_array_append_new(a, entry(1, IN0));
    json_array_append_new(a, entry(1, IN1));
    ASSERT_EQ(2, put_records("s", a));
    ASSERT(entry_failed(0));
    ASSERT(!entry_failed(1));
    ASSERT(entry_failed(2));
    ASSERT(!entry_failed(3));
    ASSERT_STR_EQ(SHARD1, str(json_array_get(json_object_get(rep, "Records"),
                                             1),
                              "ShardId"));
  }
  /* A millisecond gives back one record's worth. */
  now += 1;
  ASSERT_EQ(1, put_n("s", 2, 1, IN0));
  ASSERT(!entry_failed(0));
  ASSERT(entry_failed(1));
  /* 999 ms later, the rest of the second: 999 more, not 1,000. */
  now += 999;
  ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  ASSERT_EQ(1, put_n("s", 500, 1, IN0));
  ASSERT(entry_failed(499));
  /* After a whole second, a full 1,000 again. */
  now += 1000;
  ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  now += 1000;
  put_one("s", 1, IN0);
  ok();

  /* A writer that never sends more than 1,000 in a second is never
   * throttled: 100 every 100 ms, then 1,000 once a second. */
  now += 1000;
  for (i = 0; i < 50; i++) {
    ASSERT_EQ(0, put_n("s", 100, 1, IN0));
    now += 100;
  }
  now += 1000;
  for (i = 0; i < 5; i++) {
    ASSERT_EQ(0, put_n("s", 500, 1, IN0));
    ASSERT_EQ(0, put_n("s", 500, 1, IN0));
    now += 1000;
  }
  stop();
}


static void test_write_bytes(void) {
  start_with(0, 0);
  create("s", 1);
  /* 100 KiB records with a 1-byte key: 10 fit in 1 MiB, the 11th not. */
  ASSERT_EQ(1, put_n("s", 11, 100 * 1024, IN0));
  ASSERT(entry_failed(10));
  /* A small record still fits in what is left, a large one not. */
  put_one("s", 1, IN0);
  ok();
  put_one("s", 100 * 1024, IN0);
  expect_throttled("s", SHARD0);
  /* 100 ms give back a tenth of the second's bytes: one more. */
  now += 100;
  ASSERT_EQ(1, put_n("s", 2, 100 * 1024, IN0));
  ASSERT(!entry_failed(0));
  /* One record of a whole MiB (with its key) after a second... */
  now += 1000;
  put_one("s", 1024 * 1024 - 1, IN0);
  ok();
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  /* ...and after the next. */
  now += 1000;
  put_one("s", 1024 * 1024 - 1, IN0);
  ok();

  /* A stream of larger records: one past a second's bytes passes when the
   * shard has written nothing for a second, and the shard then owes the
   * rest: 3 MiB is paid back in 2 s more. */
  call("CreateStream", json_pack("{s:s, s:i, s:i}", "StreamName", "big",
                                 "ShardCount", 1, "MaxRecordSizeInKiB",
                                 4096));
  ok();
  put_one("big", 3 * 1024 * 1024 - 1, IN0);
  ok();
  put_one("big", 1, IN0);
  expect_throttled("big", SHARD0);
  now += 2000;
  put_one("big", 1, IN0);
  expect_throttled("big", SHARD0);
  now += 1;
  put_one("big", 1, IN0);
  ok();
  stop();
}


/* ---- reads ---- */


static void test_read_calls(void) {
  char it[600];
  int i;
  start_with(0, 0);
  create("s", 2);
  put_one("s", 10, IN0);
  ok();
  strcpy(it, iterator("s", SHARD0, "TRIM_HORIZON"));
  /* 5 calls in a second, the same iterator or the next one alike. */
  for (i = 0; i < 5; i++) {
    get_records(it, 0);
    ok();
    ASSERT_EQ(1, json_array_size(json_object_get(rep, "Records")));
  }
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  /* The other shard has its own calls. */
  get_records(iterator("s", SHARD1, "TRIM_HORIZON"), 0);
  ok();
  /* One call comes back every 200 ms. */
  now += 199;
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  now += 1;
  get_records(it, 0);
  ok();
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  /* After a second, 5 again; the iterator has not expired meanwhile. */
  now += 1000;
  for (i = 0; i < 5; i++) {
    get_records(it, 0);
    ok();
  }
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  /* A reader that calls every 200 ms is never throttled. */
  for (i = 0; i < 30; i++) {
    now += 200;
    get_records(it, 0);
    ok();
  }
  stop();
}


static void test_iterator_calls(void) {
  int i;
  start_with(0, 0);
  create("s", 2);
  for (i = 0; i < 5; i++)
    iterator("s", SHARD0, i % 2 ? "LATEST" : "TRIM_HORIZON");
  call("GetShardIterator",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardId", SHARD0,
                 "ShardIteratorType", "LATEST"));
  expect_throttled("s", SHARD0);
  iterator("s", SHARD1, "LATEST");
  now += 200;
  iterator("s", SHARD0, "LATEST");
  call("GetShardIterator",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardId", SHARD0,
                 "ShardIteratorType", "LATEST"));
  expect_throttled("s", SHARD0);
  stop();
}


static void test_read_bytes(void) {
  char it[600];
  const size_t len = 768 * 1024; /* 4 of them: 3 MiB, and 4 key bytes. */
  int i;
  /* Each limit has its own bit: writes and GetShardIterator off here, so
   * that 3 MiB go in at once. */
  start_with(0, KN_SVC_LIMIT_WRITES | KN_SVC_LIMIT_ITERATORS);
  create("s", 1);
  ASSERT_EQ(0, put_n("s", 4, len, IN0));
  strcpy(it, iterator("s", SHARD0, "TRIM_HORIZON"));
  /* 1.5 MiB: half a MiB left, so the next call is let in; its 1.5 MiB
   * (and 2 key bytes) are more than is left, and owed whole... */
  get_records(it, 2);
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "Records")));
  strcpy(it, str(rep, "NextShardIterator"));
  get_records(it, 2);
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "Records")));
  strcpy(it, str(rep, "NextShardIterator"));
  /* ...which throttles calls, though 3 are left, until they are paid
   * back and a byte more: 750 ms of 2 MiB/s is 1.5 MiB, not enough; 751
   * is. */
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  now += 750;
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  now += 1;
  get_records(it, 0);
  ok();
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Records")));

  /* A reader taking no more than 2 MiB a second is never throttled: here
   * one 768 KiB record every 376 ms, from TRIM_HORIZON again and again. */
  now += 1000;
  for (i = 0; i < 20; i++) {
    if (i % 4 == 0)
      strcpy(it, iterator("s", SHARD0, "TRIM_HORIZON"));
    get_records(it, 1);
    ok();
    strcpy(it, str(rep, "NextShardIterator"));
    now += 376;
  }

  /* 10 MiB in one answer, as AWS allows, keeps the shard throttled 5 s,
   * as AWS says: more than its 2 MiB left, so owed whole. */
  stop();
  start_with(0, KN_SVC_LIMIT_WRITES | KN_SVC_LIMIT_ITERATORS);
  call("CreateStream", json_pack("{s:s, s:i, s:i}", "StreamName", "s",
                                 "ShardCount", 1, "MaxRecordSizeInKiB",
                                 10240));
  ok();
  for (i = 0; i < 2; i++)
    ASSERT_EQ(0, put_n("s", 1, 5 * 1024 * 1024 - 1, IN0));
  get_records(iterator("s", SHARD0, "TRIM_HORIZON"), 0);
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "Records")));
  strcpy(it, str(rep, "NextShardIterator"));
  now += 5000;
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  now += 1;
  get_records(it, 0);
  ok();
  stop();
}


/* ---- switched off ---- */


static void test_limits_off(void) {
  char it[600];
  kn_svc_options_t o;
  kn_svc_t* s;
  int i;
  start_with(0, KN_SVC_LIMITS_ALL);
  create("s", 1);
  for (i = 0; i < 6; i++)
    ASSERT_EQ(0, put_n("s", 500, 1, IN0));
  ASSERT_EQ(0, put_n("s", 4, 768 * 1024, IN0));
  put_one("s", 1, IN0);
  ok();
  for (i = 0; i < 20; i++)
    strcpy(it, iterator("s", SHARD0, "TRIM_HORIZON"));
  /* 20 calls, then 3 MiB three times: 9 MiB in the same instant. */
  for (i = 0; i < 20; i++) {
    get_records(it, 1);
    ok();
  }
  for (i = 0; i < 3; i++) {
    get_records(it, 0);
    ok();
    ASSERT_EQ(3005, json_array_size(json_object_get(rep, "Records")));
  }
  stop();

  /* Only the writes off: reads are still limited. */
  start_with(0, KN_SVC_LIMIT_WRITES);
  create("s", 1);
  ASSERT_EQ(0, put_n("s", 500, 1, IN0) + put_n("s", 500, 1, IN0) +
                   put_n("s", 500, 1, IN0));
  strcpy(it, iterator("s", SHARD0, "TRIM_HORIZON"));
  for (i = 0; i < 5; i++) {
    get_records(it, 0);
    ok();
  }
  get_records(it, 0);
  expect_throttled("s", SHARD0);
  stop();

  /* Only the reads off: writes are still limited. */
  start_with(0, KN_SVC_LIMIT_READS);
  create("s", 1);
  ASSERT_EQ(0, put_n("s", 500, 1, IN0) + put_n("s", 500, 1, IN0));
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  stop();

  /* A bit that names no limit is refused. */
  memset(&o, 0, sizeof(o));
  o.limits_off = KN_SVC_LIMITS_ALL + 1;
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_new(&o, &s));
  /* Zero: every limit on (the default of NULL options too). */
  ASSERT_OK(kn_svc_new(NULL, &svc));
  now = T0;
  create("s", 1);
  ASSERT_EQ(0, put_n("s", 500, 1, IN0) + put_n("s", 500, 1, IN0));
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  stop();
}


/* New shards of a reshard start with full buckets, and a clock that goes
 * back refills nothing. */
static void test_reshard_and_clock(void) {
  start_with(0, 0);
  create("s", 1);
  ASSERT_EQ(0, put_n("s", 500, 1, IN0) + put_n("s", 500, 1, IN0));
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  now -= 5000;
  put_one("s", 1, IN0);
  expect_throttled("s", SHARD0);
  now += 5000;
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "s", "ShardToSplit", SHARD0,
                 "NewStartingHashKey", HALF_KEY));
  ok();
  /* shardId-000000000001 and 2 are the children. */
  ASSERT_EQ(0, put_n("s", 500, 1, IN0) + put_n("s", 500, 1, IN0));
  ASSERT_EQ(0, put_n("s", 500, 1, IN1) + put_n("s", 500, 1, IN1));
  put_one("s", 1, IN1);
  expect_throttled("s", "shardId-000000000002");
  stop();
}


KN_TEST_MAIN(KN_TEST(test_write_records),
             KN_TEST(test_write_bytes),
             KN_TEST(test_read_calls),
             KN_TEST(test_iterator_calls),
             KN_TEST(test_read_bytes),
             KN_TEST(test_limits_off),
             KN_TEST(test_reshard_and_clock))
