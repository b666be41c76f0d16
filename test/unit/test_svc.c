#include "svc_util.h"

#include "internal.h"

/* The fake service (lib/testing/svc.h), driven through kn_svc_handle()
 * with JSON bodies the way the HTTP front will; replies are parsed with
 * jansson and checked member by member. Streams, records, sequence
 * numbers, iterators, retention, listings and allocation failures here;
 * reshards and ListShards in test_svc_shards.c. */

/* ---- tests ---- */


static void test_create_and_describe(void) {
  json_t* shards;
  json_t* sum;
  start(0);
  create("s1", 2);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s1"));
  ok();
  sum = json_object_get(rep, "StreamDescriptionSummary");
  ASSERT_STR_EQ("s1", str(sum, "StreamName"));
  ASSERT_STR_EQ("arn:aws:kinesis:us-east-1:000000000000:stream/s1",
                str(sum, "StreamARN"));
  ASSERT_STR_EQ("ACTIVE", str(sum, "StreamStatus"));
  ASSERT_EQ(24, json_integer_value(json_object_get(sum,
                                                   "RetentionPeriodHours")));
  ASSERT_EQ(2, json_integer_value(json_object_get(sum, "OpenShardCount")));
  ASSERT(json_is_array(json_object_get(sum, "EnhancedMonitoring")));
  ASSERT_EQ(T0 / 1000, (int64_t) json_number_value(json_object_get(
                           sum, "StreamCreationTimestamp")));
  ASSERT_STR_EQ("PROVISIONED",
                str(json_object_get(sum, "StreamModeDetails"), "StreamMode"));

  /* AWS's even split: 0..2^127-1 and 2^127..2^128-1. */
  shards = list_shards("s1", NULL);
  ASSERT_EQ(2, json_array_size(shards));
  ASSERT_STR_EQ("shardId-000000000000",
                str(json_array_get(shards, 0), "ShardId"));
  ASSERT_STR_EQ("0", str(json_object_get(json_array_get(shards, 0),
                                         "HashKeyRange"),
                         "StartingHashKey"));
  ASSERT_STR_EQ(HALF_KEY_M1, str(json_object_get(json_array_get(shards, 0),
                                                 "HashKeyRange"),
                                 "EndingHashKey"));
  ASSERT_STR_EQ(HALF_KEY, str(json_object_get(json_array_get(shards, 1),
                                              "HashKeyRange"),
                              "StartingHashKey"));
  ASSERT_STR_EQ(MAX_KEY, str(json_object_get(json_array_get(shards, 1),
                                             "HashKeyRange"),
                             "EndingHashKey"));
  ASSERT(is_open(json_array_get(shards, 0)));
  ASSERT_NULL(json_object_get(json_array_get(shards, 0), "ParentShardId"));
  json_decref(shards);

  /* Three and seven shards: even, gapless. */
  create("s3", 3);
  ASSERT_EQ(3, check_coverage("s3"));
  shards = list_shards("s3", NULL);
  ASSERT_STR_EQ("113427455640312821154458202477256070485",
                str(json_object_get(json_array_get(shards, 1),
                                    "HashKeyRange"),
                    "StartingHashKey"));
  json_decref(shards);
  create("s7", 7);
  ASSERT_EQ(7, check_coverage("s7"));

  /* On demand: 4 shards. */
  call("CreateStream",
       json_pack("{s:s, s:{s:s}}", "StreamName", "od", "StreamModeDetails",
                 "StreamMode", "ON_DEMAND"));
  ok();
  ASSERT_EQ(4, check_coverage("od"));
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "od"));
  ASSERT_STR_EQ("ON_DEMAND",
                str(json_object_get(json_object_get(rep,
                                                    "StreamDescriptionSummary"),
                                    "StreamModeDetails"),
                    "StreamMode"));

  /* Errors. */
  call("CreateStream",
       json_pack("{s:s, s:i}", "StreamName", "s1", "ShardCount", 1));
  err("ResourceInUseException");
  call("CreateStream", json_pack("{s:s}", "StreamName", "noshards"));
  err("InvalidArgumentException");
  call("CreateStream",
       json_pack("{s:s, s:{s:s}}", "StreamName", "p", "StreamModeDetails",
                 "StreamMode", "PROVISIONED"));
  err("InvalidArgumentException");
  call("CreateStream",
       json_pack("{s:s, s:i}", "StreamName", "zero", "ShardCount", 0));
  err("ValidationException");
  call("CreateStream",
       json_pack("{s:s, s:i}", "StreamName", "bad name!", "ShardCount", 1));
  err("ValidationException");
  call("CreateStream", json_pack("{s:i}", "ShardCount", 1));
  err("ValidationException");
  call("CreateStream",
       json_pack("{s:s, s:s}", "StreamName", "x", "ShardCount", "1"));
  err("SerializationException");
  call("CreateStream",
       json_pack("{s:s, s:{s:s}}", "StreamName", "m", "StreamModeDetails",
                 "StreamMode", "SOMETIMES"));
  err("ValidationException");
  call("CreateStream",
       json_pack("{s:s, s:i}", "StreamName", "huge", "ShardCount", 100000));
  err("LimitExceededException");
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "nope"));
  err("ResourceNotFoundException");
  stop();
}


static void test_envelope_errors(void) {
  static const char body[] = "{\"StreamName\":\"s\"}";
  start(0);
  create("s", 1);
  raw("Kinesis_20131202.Frobnicate", body, sizeof(body) - 1);
  err("UnknownOperationException");
  raw("Kinesis_20131202.", body, sizeof(body) - 1);
  err("UnknownOperationException");
  raw("DynamoDB_20120810.DescribeStreamSummary", body, sizeof(body) - 1);
  err("UnknownOperationException");
  raw(NULL, body, sizeof(body) - 1);
  err("UnknownOperationException");
  raw("Kinesis_20131202.DescribeStreamSummary", "[1]", 3);
  err("SerializationException");
  raw("Kinesis_20131202.DescribeStreamSummary", "{\"StreamName\":", 14);
  err("SerializationException");
  raw("Kinesis_20131202.DescribeStreamSummary", "", 0);
  err("SerializationException");
  raw("Kinesis_20131202.DescribeStreamSummary", body, sizeof(body) - 1);
  ok();

  /* StreamARN instead of StreamName, or both when they agree. */
  call("DescribeStreamSummary",
       json_pack("{s:s}", "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/s"));
  ok();
  call("DescribeStreamSummary",
       json_pack("{s:s, s:s}", "StreamName", "s", "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/s"));
  ok();
  call("DescribeStreamSummary",
       json_pack("{s:s, s:s}", "StreamName", "t", "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/s"));
  err("InvalidArgumentException");
  call("DescribeStreamSummary",
       json_pack("{s:s}", "StreamARN",
                 "arn:aws:kinesis:eu-west-1:000000000000:stream/s"));
  err("ResourceNotFoundException");
  call("DescribeStreamSummary",
       json_pack("{s:s}", "StreamARN",
                 "arn:aws:kinesis:us-east-1:111111111111:stream/s"));
  err("ResourceNotFoundException");
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamARN", "s"));
  err("ValidationException");
  call("DescribeStreamSummary", json_pack("{}"));
  err("InvalidArgumentException");
  call("DescribeStreamSummary", json_pack("{s:i}", "StreamName", 3));
  err("SerializationException");
  /* Explicit nulls are absent members. */
  call("DescribeStreamSummary",
       json_pack("{s:s, s:n}", "StreamName", "s", "StreamARN"));
  ok();
  stop();
}


static void test_options(void) {
  kn_svc_options_t o;
  kn_svc_t* s;
  memset(&o, 0, sizeof(o));
  o.region = "eu-west-2";
  o.account_id = "123456789012";
  ASSERT_OK(kn_svc_new(&o, &svc));
  now = T0;
  create("r", 1);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "r"));
  ASSERT_STR_EQ("arn:aws:kinesis:eu-west-2:123456789012:stream/r",
                str(json_object_get(rep, "StreamDescriptionSummary"),
                    "StreamARN"));
  call("DescribeStreamSummary",
       json_pack("{s:s}", "StreamARN",
                 "arn:aws:kinesis:eu-west-2:123456789012:stream/r"));
  ok();
  stop();
  o.account_id = "12345";
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_new(&o, &s));
  o.account_id = NULL;
  o.region = "a:b";
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_new(&o, &s));
  ASSERT_EQ(KINESIS_EINVAL, kn_svc_new(NULL, NULL));
  ASSERT_OK(kn_svc_new(NULL, &s));
  kn_svc_free(s);
  kn_svc_free(NULL);
}


static void test_transitions(void) {
  json_t* sum;
  start(1000);
  create("t", 2);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  sum = json_object_get(rep, "StreamDescriptionSummary");
  ASSERT_STR_EQ("CREATING", str(sum, "StreamStatus"));
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "t",
                              "PartitionKey", "k", "Data", "AA=="));
  err("ResourceInUseException");
  call("ListShards", json_pack("{s:s}", "StreamName", "t"));
  err("ResourceInUseException");
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "t", "ShardToSplit",
                 "shardId-000000000000", "NewStartingHashKey", "1000"));
  err("ResourceInUseException");
  now += 999;
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  ASSERT_STR_EQ("CREATING",
                str(json_object_get(rep, "StreamDescriptionSummary"),
                    "StreamStatus"));
  now += 1;
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  ASSERT_STR_EQ("ACTIVE",
                str(json_object_get(rep, "StreamDescriptionSummary"),
                    "StreamStatus"));
  put("t", "k", "AA==", NULL, NULL);

  /* A reshard: UPDATING, in which reads and writes go on but another
   * reshard waits. */
  call("SplitShard",
       json_pack("{s:s, s:s, s:s}", "StreamName", "t", "ShardToSplit",
                 "shardId-000000000000", "NewStartingHashKey", "1000"));
  ok();
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  ASSERT_STR_EQ("UPDATING",
                str(json_object_get(rep, "StreamDescriptionSummary"),
                    "StreamStatus"));
  put("t", "k", "AA==", NULL, NULL);
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "t", "ShardToMerge",
                 "shardId-000000000002", "AdjacentShardToMerge",
                 "shardId-000000000003"));
  err("ResourceInUseException");
  call("IncreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "t", "RetentionPeriodHours",
                 48));
  err("ResourceInUseException");
  now += 1000;
  call("MergeShards",
       json_pack("{s:s, s:s, s:s}", "StreamName", "t", "ShardToMerge",
                 "shardId-000000000002", "AdjacentShardToMerge",
                 "shardId-000000000003"));
  ok();
  now += 1000;

  /* Deleting: DELETING for a while, the name still taken, data refused. */
  call("DeleteStream", json_pack("{s:s}", "StreamName", "t"));
  ok();
  ASSERT_NULL(rep);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  ASSERT_STR_EQ("DELETING",
                str(json_object_get(rep, "StreamDescriptionSummary"),
                    "StreamStatus"));
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "t",
                              "PartitionKey", "k", "Data", "AA=="));
  err("ResourceInUseException");
  call("CreateStream",
       json_pack("{s:s, s:i}", "StreamName", "t", "ShardCount", 1));
  err("ResourceInUseException");
  call("DeleteStream", json_pack("{s:s}", "StreamName", "t"));
  err("ResourceInUseException");
  now += 1000;
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "t"));
  err("ResourceNotFoundException");
  call("DeleteStream", json_pack("{s:s}", "StreamName", "t"));
  err("ResourceNotFoundException");
  create("t", 1);
  stop();
}


static void test_put_and_get(void) {
  char seq[160];
  char shard[32];
  json_t* recs;
  json_t* r0;
  /* "日本語\"\n", with a quote and a newline the reply must escape. */
  static const char odd_key[] =
      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"\n";
  start(0);
  create("s", 2);
  /* "a" hashes to 16955237001963240173058271559858726497 < 2^127. */
  put("s", "a", "aGVsbG8=", seq, shard);
  ASSERT_STR_EQ("shardId-000000000000", shard);
  ASSERT_EQ(KN_SVC_SEQ_LEN, strlen(seq));
  ASSERT_STR_EQ("NONE", str(rep, "EncryptionType"));
  now += 1234;
  /* Bytes that are not text, including a NUL, and an empty record. */
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", odd_key, "Data", "AP8A",
                              "ExplicitHashKey", "5"));
  ok();
  ASSERT_STR_EQ("shardId-000000000000", str(rep, "ShardId"));
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "e", "Data", "",
                              "ExplicitHashKey", "6"));
  ok();

  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  ok();
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(3, json_array_size(recs));
  r0 = json_array_get(recs, 0);
  ASSERT_STR_EQ(seq, str(r0, "SequenceNumber"));
  ASSERT_STR_EQ("aGVsbG8=", str(r0, "Data"));
  ASSERT_STR_EQ("a", str(r0, "PartitionKey"));
  ASSERT(json_number_value(json_object_get(
             r0, "ApproximateArrivalTimestamp")) == (double) T0 / 1000.0);
  ASSERT(json_number_value(json_object_get(json_array_get(recs, 1),
                                           "ApproximateArrivalTimestamp")) ==
         (double) (T0 + 1234) / 1000.0);
  ASSERT_STR_EQ("AP8A", str(json_array_get(recs, 1), "Data"));
  ASSERT_STR_EQ(odd_key, str(json_array_get(recs, 1), "PartitionKey"));
  ASSERT_STR_EQ("", str(json_array_get(recs, 2), "Data"));
  ASSERT(json_is_string(json_object_get(rep, "NextShardIterator")));
  ASSERT_EQ(0, json_integer_value(json_object_get(rep, "MillisBehindLatest")));
  ASSERT_NULL(json_object_get(rep, "ChildShards"));
  ASSERT_LE(strlen(str(rep, "NextShardIterator")), 512);

  /* The next iterator sees only what comes after. */
  {
    char next[600];
    strcpy(next, str(rep, "NextShardIterator"));
    get_records(next, 0);
    ASSERT_EQ(0, json_array_size(json_object_get(rep, "Records")));
    strcpy(next, str(rep, "NextShardIterator"));
    put("s", "a", "Mg==", seq, NULL);
    get_records(next, 0);
    recs = json_object_get(rep, "Records");
    ASSERT_EQ(1, json_array_size(recs));
    ASSERT_STR_EQ(seq, str(json_array_get(recs, 0), "SequenceNumber"));
    ASSERT_STR_EQ("Mg==", str(json_array_get(recs, 0), "Data"));
  }

  /* Errors of PutRecord. */
  call("PutRecord", json_pack("{s:s, s:s}", "StreamName", "s", "Data", "AA=="));
  err("ValidationException");
  call("PutRecord",
       json_pack("{s:s, s:s}", "StreamName", "s", "PartitionKey", "k"));
  err("ValidationException");
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "", "Data", "AA=="));
  err("ValidationException");
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", "not base64!"));
  err("SerializationException");
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", "AA==",
                              "ExplicitHashKey", "01"));
  err("ValidationException");
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", "AA==",
                              "ExplicitHashKey",
                              "340282366920938463463374607431768211456"));
  err("InvalidArgumentException");
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "nope",
                              "PartitionKey", "k", "Data", "AA=="));
  err("ResourceNotFoundException");
  /* SequenceNumberForOrdering is accepted; the order holds anyway. */
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "a", "Data", "AA==",
                              "SequenceNumberForOrdering", seq));
  ok();
  ASSERT_GT(strcmp(str(rep, "SequenceNumber"), seq), 0);
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "a", "Data", "AA==",
                              "SequenceNumberForOrdering", "x1"));
  err("ValidationException");
  stop();
}


static void test_record_size(void) {
  size_t n = 1024 * 1024; /* Data of 1 MiB: with the key, one byte over. */
  uint8_t* data = calloc(1, n);
  kn_buf_t b64;
  kn_buf_init(&b64);
  ASSERT_NOT_NULL(data);
  ASSERT_OK(kn_buf_append_base64(&b64, data, n));
  start(0);
  create("s", 1);
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", kn_buf_str(&b64)));
  err("ValidationException");
  kn_buf_reset(&b64);
  ASSERT_OK(kn_buf_append_base64(&b64, data, n - 1));
  call("PutRecord", json_pack("{s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", kn_buf_str(&b64)));
  ok();
  stop();
  kn_buf_free(&b64);
  free(data);
}


static int cmp_str(const void* a, const void* b) {
  return strcmp(*(char* const*) a, *(char* const*) b);
}


static void test_sequence_numbers(void) {
  enum { N = 300 };
  static char seqs[N][KN_SVC_SEQ_LEN + 1];
  static char shards[N][32];
  char* sorted[N];
  char last[4][KN_SVC_SEQ_LEN + 1];
  json_t* list;
  int i;
  start(0);
  create("s", 4);
  list = list_shards("s", NULL);
  memset(last, 0, sizeof(last));
  for (i = 0; i < N; i++) {
    char key[16];
    snprintf(key, sizeof(key), "key-%d", i);
    put("s", key, "AA==", seqs[i], shards[i]);
    if (i % 50 == 0)
      now += 7;
  }
  for (i = 0; i < N; i++) {
    int sh = shards[i][strlen(shards[i]) - 1] - '0';
    json_t* shard = find_shard(list, shards[i]);
    ASSERT_NOT_NULL(shard);
    /* One length for all, so string order is number order. */
    ASSERT_EQ(KN_SVC_SEQ_LEN, strlen(seqs[i]));
    ASSERT(seqs[i][0] != '0');
    /* Increasing within a shard, and above the shard's start. */
    ASSERT_GT(strcmp(seqs[i], last[sh]), 0);
    ASSERT_GT(strcmp(seqs[i], str(json_object_get(shard,
                                                  "SequenceNumberRange"),
                                  "StartingSequenceNumber")),
              0);
    strcpy(last[sh], seqs[i]);
    sorted[i] = seqs[i];
  }
  /* Unique within the stream. */
  qsort(sorted, N, sizeof(sorted[0]), cmp_str);
  for (i = 1; i < N; i++)
    ASSERT_LT(strcmp(sorted[i - 1], sorted[i]), 0);
  /* Each key landed on the shard its MD5 names. */
  for (i = 0; i < N; i++) {
    char key[16];
    kn_hash_key_t h, s, e;
    snprintf(key, sizeof(key), "key-%d", i);
    kn_hash_key_from_partition_key(key, strlen(key), &h);
    range_of(find_shard(list, shards[i]), &s, &e);
    ASSERT_LE(kn_hash_key_cmp(&s, &h), 0);
    ASSERT_LE(kn_hash_key_cmp(&h, &e), 0);
  }
  /* GetRecords gives each shard's records in that order. */
  for (i = 0; i < 4; i++) {
    char id[32];
    json_t* recs;
    size_t j;
    json_t* r;
    char prev[KN_SVC_SEQ_LEN + 1] = "";
    snprintf(id, sizeof(id), "shardId-00000000000%d", i);
    get_records(iterator("s", id, "TRIM_HORIZON"), 0);
    recs = json_object_get(rep, "Records");
    ASSERT_GT(json_array_size(recs), 0);
    json_array_foreach(recs, j, r) {
      ASSERT_GT(strcmp(str(r, "SequenceNumber"), prev), 0);
      strcpy(prev, str(r, "SequenceNumber"));
    }
    ASSERT_STR_EQ(last[i], prev);
  }
  json_decref(list);
  stop();
}


static void test_put_records(void) {
  json_t* entries = json_array();
  json_t* res;
  json_t* list;
  size_t i;
  size_t nwant_total;
  int k;
  start(0);
  create("s", 3);
  list = list_shards("s", NULL);
  for (k = 0; k < 500; k++) {
    char key[16];
    snprintf(key, sizeof(key), "p%d", k);
    json_array_append_new(entries, json_pack("{s:s, s:s}", "PartitionKey",
                                             key, "Data", "eA=="));
  }
  /* Explicit hash keys: the first key, 2^127, the last key. */
  json_object_set_new(json_array_get(entries, 0), "ExplicitHashKey",
                      json_string("0"));
  json_object_set_new(json_array_get(entries, 1), "ExplicitHashKey",
                      json_string(HALF_KEY));
  json_object_set_new(json_array_get(entries, 2), "ExplicitHashKey",
                      json_string(MAX_KEY));
  call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "s", "Records",
                               entries));
  ok();
  ASSERT_EQ(0, json_integer_value(json_object_get(rep, "FailedRecordCount")));
  res = json_object_get(rep, "Records");
  ASSERT_EQ(500, json_array_size(res));
  ASSERT_STR_EQ("shardId-000000000000",
                str(json_array_get(res, 0), "ShardId"));
  ASSERT_STR_EQ("shardId-000000000001",
                str(json_array_get(res, 1), "ShardId"));
  ASSERT_STR_EQ("shardId-000000000002",
                str(json_array_get(res, 2), "ShardId"));
  /* In request order: each entry's shard is its key's, and the numbers
   * rise in that order. */
  for (i = 3; i < 500; i++) {
    char key[16];
    kn_hash_key_t h, s, e;
    json_t* r = json_array_get(res, i);
    snprintf(key, sizeof(key), "p%zu", i);
    kn_hash_key_from_partition_key(key, strlen(key), &h);
    range_of(find_shard(list, str(r, "ShardId")), &s, &e);
    ASSERT_LE(kn_hash_key_cmp(&s, &h), 0);
    ASSERT_LE(kn_hash_key_cmp(&h, &e), 0);
    ASSERT_GT(strcmp(str(r, "SequenceNumber"),
                     str(json_array_get(res, i - 1), "SequenceNumber")),
              0);
    ASSERT_NULL(json_object_get(r, "ErrorCode"));
  }
  /* Reading shard 1 back gives its entries in request order. */
  {
    static char want[500][KN_SVC_SEQ_LEN + 1];
    size_t nwant = 0;
    json_t* recs;
    json_t* r;
    for (i = 0; i < 500; i++) {
      json_t* e = json_array_get(res, i);
      if (strcmp(str(e, "ShardId"), "shardId-000000000001") == 0)
        strcpy(want[nwant++], str(e, "SequenceNumber"));
    }
    get_records(iterator("s", "shardId-000000000001", "TRIM_HORIZON"), 0);
    recs = json_object_get(rep, "Records");
    ASSERT_EQ(nwant, json_array_size(recs));
    json_array_foreach(recs, i, r)
      ASSERT_STR_EQ(want[i], str(r, "SequenceNumber"));
    nwant_total = nwant;
  }

  /* 1..500 entries, each one checked before any is stored. */
  json_array_append_new(entries, json_pack("{s:s, s:s}", "PartitionKey", "x",
                                           "Data", "eA=="));
  call("PutRecords", json_pack("{s:s, s:O}", "StreamName", "s", "Records",
                               entries));
  err("ValidationException");
  call("PutRecords", json_pack("{s:s, s:[]}", "StreamName", "s", "Records"));
  err("ValidationException");
  call("PutRecords", json_pack("{s:s}", "StreamName", "s"));
  err("ValidationException");
  call("PutRecords", json_pack("{s:s, s:[{s:s, s:s}, {s:s}]}", "StreamName",
                               "s", "Records", "PartitionKey", "a", "Data",
                               "eA==", "PartitionKey", "b"));
  err("ValidationException");
  call("PutRecords",
       json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "StreamName", "s", "Records",
                 "PartitionKey", "a", "Data", "eA==", "ExplicitHashKey",
                 "340282366920938463463374607431768211456"));
  err("InvalidArgumentException");
  call("PutRecords", json_pack("{s:s, s:[i]}", "StreamName", "s", "Records",
                               1));
  err("SerializationException");
  /* Nothing of the refused requests was stored. */
  get_records(iterator("s", "shardId-000000000001", "TRIM_HORIZON"), 0);
  ASSERT_EQ(nwant_total, json_array_size(json_object_get(rep, "Records")));
  json_decref(entries);
  json_decref(list);
  stop();
}


static void test_iterator_types(void) {
  char seqs[6][KN_SVC_SEQ_LEN + 1];
  char seq_other[KN_SVC_SEQ_LEN + 1];
  char it[600];
  json_t* recs;
  int i;
  start(0);
  create("s", 2);
  for (i = 0; i < 5; i++) {
    call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                                "PartitionKey", "k", "Data", "AA==",
                                "ExplicitHashKey", "7"));
    ok();
    strcpy(seqs[i], str(rep, "SequenceNumber"));
    now += 1000;
  }
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", "AA==",
                              "ExplicitHashKey", MAX_KEY));
  strcpy(seq_other, str(rep, "SequenceNumber"));

#define GSI(...) call("GetShardIterator", json_pack(__VA_ARGS__))
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER",
      "StartingSequenceNumber", seqs[2]);
  ok();
  get_records(str(rep, "ShardIterator"), 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(3, json_array_size(recs));
  ASSERT_STR_EQ(seqs[2], str(json_array_get(recs, 0), "SequenceNumber"));

  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AFTER_SEQUENCE_NUMBER",
      "StartingSequenceNumber", seqs[2]);
  ok();
  get_records(str(rep, "ShardIterator"), 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(2, json_array_size(recs));
  ASSERT_STR_EQ(seqs[3], str(json_array_get(recs, 0), "SequenceNumber"));

  /* AT_TIMESTAMP: the first record at or after the time (fractional). */
  GSI("{s:s, s:s, s:s, s:f}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_TIMESTAMP",
      "Timestamp", (double) (T0 + 1500) / 1000.0);
  ok();
  get_records(str(rep, "ShardIterator"), 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(3, json_array_size(recs));
  ASSERT_STR_EQ(seqs[2], str(json_array_get(recs, 0), "SequenceNumber"));
  GSI("{s:s, s:s, s:s, s:I}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_TIMESTAMP",
      "Timestamp", (json_int_t) ((T0 + 1000) / 1000));
  ok();
  get_records(str(rep, "ShardIterator"), 0);
  ASSERT_STR_EQ(seqs[1], str(json_array_get(json_object_get(rep, "Records"),
                                            0),
                             "SequenceNumber"));

  /* LATEST: nothing until something new arrives. */
  strcpy(it, iterator("s", "shardId-000000000000", "LATEST"));
  get_records(it, 0);
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Records")));
  call("PutRecord", json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s",
                              "PartitionKey", "k", "Data", "Ng==",
                              "ExplicitHashKey", "7"));
  strcpy(seqs[5], str(rep, "SequenceNumber"));
  get_records(it, 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(1, json_array_size(recs));
  ASSERT_STR_EQ(seqs[5], str(json_array_get(recs, 0), "SequenceNumber"));

  /* Limit: two at a time, and the rest from the next iterator. */
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 2);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(2, json_array_size(recs));
  ASSERT_STR_EQ(seqs[1], str(json_array_get(recs, 1), "SequenceNumber"));
  /* 4 records left, the oldest of them 3 s before now. */
  ASSERT_EQ(now - (T0 + 2000),
            json_integer_value(json_object_get(rep, "MillisBehindLatest")));
  get_records(str(rep, "NextShardIterator"), 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(4, json_array_size(recs));
  ASSERT_STR_EQ(seqs[2], str(json_array_get(recs, 0), "SequenceNumber"));
  ASSERT_EQ(0, json_integer_value(json_object_get(rep, "MillisBehindLatest")));

  /* Errors. */
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "TRIM_HORIZON",
      "StartingSequenceNumber", seqs[2]);
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER");
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_TIMESTAMP");
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s, s:I}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "LATEST", "Timestamp",
      (json_int_t) (T0 / 1000));
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s, s:I}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_TIMESTAMP",
      "Timestamp", (json_int_t) (now / 1000 + 10));
  err("InvalidArgumentException");
  /* A sequence number of the other shard, and ones that are no one's. */
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER",
      "StartingSequenceNumber", seq_other);
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER",
      "StartingSequenceNumber", "12345");
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER",
      "StartingSequenceNumber", "4999999999999999999990000000000");
  err("InvalidArgumentException");
  GSI("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "AT_SEQUENCE_NUMBER",
      "StartingSequenceNumber", "abc");
  err("ValidationException");
  GSI("{s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000009", "ShardIteratorType", "LATEST");
  err("ResourceNotFoundException");
  GSI("{s:s, s:s, s:s}", "StreamName", "s", "ShardId",
      "shardId-000000000000", "ShardIteratorType", "OLDEST");
  err("ValidationException");
  GSI("{s:s, s:s}", "StreamName", "s", "ShardIteratorType", "LATEST");
  err("ValidationException");
#undef GSI

  /* Iterators that are not ours. */
  call("GetRecords", json_pack("{s:s}", "ShardIterator", "garbage"));
  err("InvalidArgumentException");
  call("GetRecords", json_pack("{s:s}", "ShardIterator", "AAAAAAAA"));
  err("InvalidArgumentException");
  strcpy(it, iterator("s", "shardId-000000000000", "TRIM_HORIZON"));
  it[10] = it[10] == 'A' ? 'B' : 'A';
  call("GetRecords", json_pack("{s:s}", "ShardIterator", it));
  err("InvalidArgumentException");
  call("GetRecords", json_pack("{}"));
  err("ValidationException");
  strcpy(it, iterator("s", "shardId-000000000000", "TRIM_HORIZON"));
  call("GetRecords", json_pack("{s:s, s:i}", "ShardIterator", it, "Limit", 0));
  err("ValidationException");
  call("GetRecords",
       json_pack("{s:s, s:i}", "ShardIterator", it, "Limit", 10001));
  err("ValidationException");
  /* A matching StreamARN is fine, another stream's is not. */
  call("GetRecords",
       json_pack("{s:s, s:s}", "ShardIterator", it, "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/s"));
  ok();
  call("GetRecords",
       json_pack("{s:s, s:s}", "ShardIterator", it, "StreamARN",
                 "arn:aws:kinesis:us-east-1:000000000000:stream/other"));
  err("InvalidArgumentException");
  stop();
}


static void test_iterator_expiry(void) {
  char it[600];
  char next[600];
  start(0);
  create("s", 1);
  put("s", "k", "AA==", NULL, NULL);
  strcpy(it, iterator("s", "shardId-000000000000", "TRIM_HORIZON"));
  now += 5 * 60 * 1000; /* Exactly 5 minutes: still good. */
  get_records(it, 0);
  ok();
  strcpy(next, str(rep, "NextShardIterator"));
  now += 1;
  get_records(it, 0);
  err("ExpiredIteratorException");
  /* The next iterator was issued later and lives on. */
  get_records(next, 0);
  ok();
  now += 5 * 60 * 1000 + 1;
  get_records(next, 0);
  err("ExpiredIteratorException");
  stop();
}


static void test_recreated_stream(void) {
  char it[600];
  char seq[KN_SVC_SEQ_LEN + 1];
  start(0);
  create("s", 1);
  put("s", "k", "AA==", seq, NULL);
  strcpy(it, iterator("s", "shardId-000000000000", "TRIM_HORIZON"));
  call("DeleteStream", json_pack("{s:s}", "StreamName", "s"));
  ok();
  get_records(it, 0);
  err("ResourceNotFoundException");
  create("s", 1);
  put("s", "k", "AA==", NULL, NULL);
  /* Same name, same shard id, another stream: the old iterator and the
   * old sequence number are refused. */
  get_records(it, 0);
  err("ResourceNotFoundException");
  call("GetShardIterator",
       json_pack("{s:s, s:s, s:s, s:s}", "StreamName", "s", "ShardId",
                 "shardId-000000000000", "ShardIteratorType",
                 "AT_SEQUENCE_NUMBER", "StartingSequenceNumber", seq));
  err("InvalidArgumentException");
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  ok();
  ASSERT_EQ(1, json_array_size(json_object_get(rep, "Records")));
  stop();
}


static void test_retention(void) {
  char seq2[KN_SVC_SEQ_LEN + 1];
  json_t* recs;
  start(0);
  create("s", 1);
  put("s", "k", "MQ==", NULL, NULL);
  now += 23 * HOUR_MS;
  put("s", "k", "Mg==", seq2, NULL);
  now += HOUR_MS; /* The first is exactly 24 h old: kept. */
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "Records")));
  now += 1; /* Now it is older than the retention period. */
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  recs = json_object_get(rep, "Records");
  ASSERT_EQ(1, json_array_size(recs));
  ASSERT_STR_EQ(seq2, str(json_array_get(recs, 0), "SequenceNumber"));

  /* A longer retention keeps the second past its first 24 hours. */
  call("IncreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 48));
  ok();
  ASSERT_NULL(rep);
  call("DescribeStreamSummary", json_pack("{s:s}", "StreamName", "s"));
  ASSERT_EQ(48, json_integer_value(json_object_get(
                    json_object_get(rep, "StreamDescriptionSummary"),
                    "RetentionPeriodHours")));
  now += 30 * HOUR_MS;
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  ASSERT_EQ(1, json_array_size(json_object_get(rep, "Records")));

  call("IncreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 30));
  err("InvalidArgumentException");
  call("DecreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 100));
  err("InvalidArgumentException");
  call("DecreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 23));
  err("InvalidArgumentException");
  call("IncreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 8761));
  err("InvalidArgumentException");
  call("IncreaseStreamRetentionPeriod", json_pack("{s:s}", "StreamName", "s"));
  err("ValidationException");
  call("IncreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 8760));
  ok();
  /* Back to 24 h: the second record (31 h old) goes. */
  call("DecreaseStreamRetentionPeriod",
       json_pack("{s:s, s:i}", "StreamName", "s", "RetentionPeriodHours",
                 24));
  ok();
  get_records(iterator("s", "shardId-000000000000", "TRIM_HORIZON"), 0);
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "Records")));
  /* Writing after the trim still works and stays in order. */
  put("s", "k", "Mw==", NULL, NULL);
  ASSERT_GT(strcmp(str(rep, "SequenceNumber"), seq2), 0);
  stop();
}


static void test_describe_stream(void) {
  json_t* d;
  json_t* shards;
  start(0);
  create("s", 3);
  call("DescribeStream", json_pack("{s:s}", "StreamName", "s"));
  ok();
  d = json_object_get(rep, "StreamDescription");
  ASSERT_STR_EQ("s", str(d, "StreamName"));
  ASSERT_STR_EQ("ACTIVE", str(d, "StreamStatus"));
  ASSERT_STR_EQ("arn:aws:kinesis:us-east-1:000000000000:stream/s",
                str(d, "StreamARN"));
  ASSERT(json_is_false(json_object_get(d, "HasMoreShards")));
  ASSERT_EQ(24, json_integer_value(json_object_get(d,
                                                   "RetentionPeriodHours")));
  ASSERT(json_is_array(json_object_get(d, "EnhancedMonitoring")));
  shards = json_object_get(d, "Shards");
  ASSERT_EQ(3, json_array_size(shards));
  ASSERT(json_is_string(json_object_get(
      json_object_get(json_array_get(shards, 0), "SequenceNumberRange"),
      "StartingSequenceNumber")));

  call("DescribeStream", json_pack("{s:s, s:i}", "StreamName", "s", "Limit",
                                   2));
  d = json_object_get(rep, "StreamDescription");
  ASSERT_EQ(2, json_array_size(json_object_get(d, "Shards")));
  ASSERT(json_is_true(json_object_get(d, "HasMoreShards")));
  call("DescribeStream", json_pack("{s:s, s:i, s:s}", "StreamName", "s",
                                   "Limit", 2, "ExclusiveStartShardId",
                                   "shardId-000000000001"));
  d = json_object_get(rep, "StreamDescription");
  ASSERT_EQ(1, json_array_size(json_object_get(d, "Shards")));
  ASSERT_STR_EQ("shardId-000000000002",
                str(json_array_get(json_object_get(d, "Shards"), 0),
                    "ShardId"));
  ASSERT(json_is_false(json_object_get(d, "HasMoreShards")));
  call("DescribeStream", json_pack("{s:s, s:i}", "StreamName", "s", "Limit",
                                   0));
  err("ValidationException");
  call("DescribeStream", json_pack("{s:s}", "StreamName", "x"));
  err("ResourceNotFoundException");
  stop();
}


static void test_list_streams(void) {
  static const char* const names[] = {"e", "a", "d", "b", "c"};
  char token[1024];
  json_t* sums;
  size_t i;
  start(0);
  call("ListStreams", json_pack("{}"));
  ok();
  ASSERT_EQ(0, json_array_size(json_object_get(rep, "StreamNames")));
  ASSERT(json_is_false(json_object_get(rep, "HasMoreStreams")));
  for (i = 0; i < KN_ARRAY_SIZE(names); i++)
    create(names[i], 1);
  call("ListStreams", json_pack("{s:i}", "Limit", 2));
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "StreamNames")));
  ASSERT_STR_EQ("a", json_string_value(json_array_get(
                         json_object_get(rep, "StreamNames"), 0)));
  ASSERT_STR_EQ("b", json_string_value(json_array_get(
                         json_object_get(rep, "StreamNames"), 1)));
  ASSERT(json_is_true(json_object_get(rep, "HasMoreStreams")));
  sums = json_object_get(rep, "StreamSummaries");
  ASSERT_EQ(2, json_array_size(sums));
  ASSERT_STR_EQ("a", str(json_array_get(sums, 0), "StreamName"));
  ASSERT_STR_EQ("ACTIVE", str(json_array_get(sums, 0), "StreamStatus"));
  ASSERT_STR_EQ("arn:aws:kinesis:us-east-1:000000000000:stream/a",
                str(json_array_get(sums, 0), "StreamARN"));
  strcpy(token, str(rep, "NextToken"));
  call("ListStreams", json_pack("{s:s, s:i}", "NextToken", token, "Limit", 2));
  ok();
  ASSERT_STR_EQ("c", json_string_value(json_array_get(
                         json_object_get(rep, "StreamNames"), 0)));
  strcpy(token, str(rep, "NextToken"));
  call("ListStreams", json_pack("{s:s}", "NextToken", token));
  ok();
  ASSERT_EQ(1, json_array_size(json_object_get(rep, "StreamNames")));
  ASSERT_STR_EQ("e", json_string_value(json_array_get(
                         json_object_get(rep, "StreamNames"), 0)));
  ASSERT(json_is_false(json_object_get(rep, "HasMoreStreams")));
  ASSERT_NULL(json_object_get(rep, "NextToken"));

  call("ListStreams", json_pack("{s:s}", "ExclusiveStartStreamName", "c"));
  ok();
  ASSERT_EQ(2, json_array_size(json_object_get(rep, "StreamNames")));
  ASSERT_STR_EQ("d", json_string_value(json_array_get(
                         json_object_get(rep, "StreamNames"), 0)));

  call("ListStreams", json_pack("{s:s, s:s}", "NextToken", token,
                                "ExclusiveStartStreamName", "a"));
  err("InvalidArgumentException");
  call("ListStreams", json_pack("{s:s}", "NextToken", "junk"));
  err("InvalidArgumentException");
  call("ListStreams", json_pack("{s:i}", "Limit", 0));
  err("ValidationException");
  now += 300 * 1000 + 1;
  call("ListStreams", json_pack("{s:s}", "NextToken", token));
  err("ExpiredNextTokenException");
  stop();
}


/* A scenario touching every operation, for the allocation-failure run. */
static int scenario(void) {
  static const char* const reqs[][2] = {
      {"CreateStream", "{\"StreamName\":\"s\",\"ShardCount\":2}"},
      {"PutRecord",
       "{\"StreamName\":\"s\",\"PartitionKey\":\"a\",\"Data\":\"aGk=\"}"},
      {"PutRecords",
       "{\"StreamName\":\"s\",\"Records\":[{\"PartitionKey\":\"a\","
       "\"Data\":\"aGk=\"},{\"PartitionKey\":\"b\",\"Data\":\"\"}]}"},
      {"DescribeStreamSummary", "{\"StreamName\":\"s\"}"},
      {"DescribeStream", "{\"StreamName\":\"s\"}"},
      {"ListStreams", "{\"Limit\":1}"},
      {"ListShards", "{\"StreamName\":\"s\",\"MaxResults\":1}"},
      {"SplitShard",
       "{\"StreamName\":\"s\",\"ShardToSplit\":\"shardId-000000000000\","
       "\"NewStartingHashKey\":\"1000\"}"},
      {"MergeShards",
       "{\"StreamName\":\"s\",\"ShardToMerge\":\"shardId-000000000002\","
       "\"AdjacentShardToMerge\":\"shardId-000000000003\"}"},
      {"UpdateShardCount",
       "{\"StreamName\":\"s\",\"TargetShardCount\":3,"
       "\"ScalingType\":\"UNIFORM_SCALING\"}"},
      {"GetShardIterator",
       "{\"StreamName\":\"s\",\"ShardId\":\"shardId-000000000000\","
       "\"ShardIteratorType\":\"TRIM_HORIZON\"}"},
      {"IncreaseStreamRetentionPeriod",
       "{\"StreamName\":\"s\",\"RetentionPeriodHours\":48}"},
      {"Nope", "{}"},
      {"DeleteStream", "{\"StreamName\":\"s\"}"},
  };
  kn_svc_t* s;
  kn_svc_reply_t reply;
  size_t i;
  int failures = 0;
  int r = kn_svc_new(NULL, &s);
  if (r != 0) {
    ASSERT_EQ(KINESIS_ENOMEM, r);
    return 1;
  }
  kn_buf_init(&reply.body);
  for (i = 0; i < KN_ARRAY_SIZE(reqs); i++) {
    char target[64];
    snprintf(target, sizeof(target), "Kinesis_20131202.%s", reqs[i][0]);
    r = kn_svc_handle(s, T0, target, (const uint8_t*) reqs[i][1],
                      strlen(reqs[i][1]), &reply);
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_EQ(500, reply.status);
      failures++;
    }
    /* The records, with the iterator of the reply before. */
    if (r == 0 && strcmp(reqs[i][0], "GetShardIterator") == 0 &&
        reply.status == 200) {
      json_t* j = json_loadb((const char*) reply.body.data, reply.body.len, 0,
                             NULL);
      char* body;
      ASSERT_NOT_NULL(j);
      json_object_set_new(j, "Limit", json_integer(10));
      body = json_dumps(j, JSON_COMPACT);
      json_decref(j);
      r = kn_svc_handle(s, T0, "Kinesis_20131202.GetRecords",
                        (const uint8_t*) body, strlen(body), &reply);
      free(body);
      if (r != 0) {
        ASSERT_EQ(KINESIS_ENOMEM, r);
        failures++;
      }
    }
  }
  kn_buf_free(&reply.body);
  kn_svc_free(s);
  return failures;
}


static void test_alloc_failures(void) {
  kn_test_alloc_each(scenario, 10);
}


KN_TEST_MAIN(KN_TEST(test_create_and_describe),
             KN_TEST(test_envelope_errors),
             KN_TEST(test_options),
             KN_TEST(test_transitions),
             KN_TEST(test_put_and_get),
             KN_TEST(test_record_size),
             KN_TEST(test_sequence_numbers),
             KN_TEST(test_put_records),
             KN_TEST(test_iterator_types),
             KN_TEST(test_iterator_expiry),
             KN_TEST(test_recreated_stream),
             KN_TEST(test_retention),
             KN_TEST(test_describe_stream),
             KN_TEST(test_list_streams),
             KN_TEST(test_alloc_failures))
