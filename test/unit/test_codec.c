#include "harness.h"

#include "codec.h"
#include "error.h"
#include "internal.h"
#include "retry.h"
#include "validate.h"


#define BODY(s) (const uint8_t*) (s), strlen(s)


/* The hot parsers, copying their input (no response buffer to take). */
static int parse_get(const uint8_t* b, size_t l, kn_parsed_t* o) {
  return kn_codec_parse_get_records(b, l, NULL, o);
}


static int parse_put(const uint8_t* b, size_t l, size_t e, kn_parsed_t* o) {
  return kn_codec_parse_put_records(b, l, NULL, e, o);
}


static void test_error_namespaced_type(void) {
  kn_codec_error_t e;
  kn_codec_parse_error(
      BODY("{\"__type\":\"com.amazonaws.kinesis.v20131202#"
           "ResourceNotFoundException:http://internal.amazon.com/\","
           "\"message\":\"Stream x not found\"}"),
      NULL, &e);
  ASSERT(e.has_code);
  ASSERT_STR_EQ("ResourceNotFoundException", e.code);
  ASSERT_STR_EQ("Stream x not found", e.message);
  ASSERT_EQ(KINESIS_ENOTFOUND, kn_error_from_service(e.code, 400));
}


static void test_error_capital_message(void) {
  kn_codec_error_t e;
  /* kinesalite's SerializationException uses "Message". */
  kn_codec_parse_error(BODY("{\"__type\":\"SerializationException\","
                            "\"Message\":\"bad base64\"}"),
                       NULL, &e);
  ASSERT_STR_EQ("SerializationException", e.code);
  ASSERT_STR_EQ("bad base64", e.message);
  ASSERT_EQ(KINESIS_EINVALIDARG, kn_error_from_service(e.code, 400));
}


static void test_error_header_wins(void) {
  kn_codec_error_t e;
  kn_codec_parse_error(BODY("{\"__type\":\"Other\",\"message\":\"m\"}"),
                       "ProvisionedThroughputExceededException:http://x", &e);
  ASSERT_STR_EQ("ProvisionedThroughputExceededException", e.code);
  ASSERT_EQ(KINESIS_ETHROUGHPUT, kn_error_from_service(e.code, 400));
}


/* A signature mismatch carries the canonical request the service expected,
 * session token included: the message keeps only what comes before it. */
static void test_error_signature_mismatch_cut(void) {
  kn_codec_error_t e;
  kn_codec_parse_error(
      BODY("{\"__type\":\"InvalidSignatureException\",\"message\":"
           "\"The request signature we calculated does not match the "
           "signature you provided. Check your AWS Secret Access Key and "
           "signing method.\\n\\nThe Canonical String for this request "
           "should have been\\n'POST\\n/\\n\\nhost:kinesis\\n"
           "x-amz-security-token:SECRETTOKEN\\n'\"}"),
      NULL, &e);
  ASSERT(e.has_message);
  ASSERT_STR_EQ("The request signature we calculated does not match the "
                "signature you provided. Check your AWS Secret Access Key "
                "and signing method",
                e.message);
  ASSERT_NULL(strstr(e.message, "SECRETTOKEN"));
  /* The token header alone, without the sentence before it, is cut too. */
  kn_codec_parse_error(BODY("{\"message\":\"bad x-amz-security-token:SECRET\"}"),
                       NULL, &e);
  ASSERT_STR_EQ("bad", e.message);
  /* A message without either keeps its lines. */
  kn_codec_parse_error(BODY("{\"message\":\"line one\\nline two\"}"), NULL,
                       &e);
  ASSERT_STR_EQ("line one\nline two", e.message);
}


static void test_error_empty_and_non_json(void) {
  kn_codec_error_t e;
  kn_codec_parse_error((const uint8_t*) "", 0, NULL, &e);
  ASSERT(!e.has_code);
  ASSERT(!e.has_message);
  ASSERT_EQ(KINESIS_ESERVICE, kn_error_from_service(NULL, 500));
  kn_codec_parse_error(BODY("<UnknownOperationException/>"), NULL, &e);
  ASSERT(!e.has_code);
  ASSERT_EQ(KINESIS_ESVCOTHER, kn_error_from_service(NULL, 404));
  ASSERT_EQ(KINESIS_ETHROUGHPUT, kn_error_from_service(NULL, 429));
  ASSERT_EQ(KINESIS_EINVALIDARG, kn_error_from_service(NULL, 413));
  /* A JSON body that is not an object, and a null __type. */
  kn_codec_parse_error(BODY("[1,2]"), NULL, &e);
  ASSERT(!e.has_code);
  kn_codec_parse_error(BODY("{\"__type\":null,\"message\":null}"), NULL, &e);
  ASSERT(!e.has_code);
  ASSERT(!e.has_message);
}


static void test_summary_lenient(void) {
  kn_parsed_t p;
  /* kinesis-mock style: explicit nulls, unknown members, fractional time. */
  ASSERT_OK(kn_codec_parse_summary(
      BODY("{\"StreamDescriptionSummary\":{\"StreamName\":\"s\","
           "\"StreamARN\":\"arn:aws:kinesis:us-east-1:0:stream/s\","
           "\"StreamStatus\":\"ACTIVE\",\"RetentionPeriodHours\":24,"
           "\"StreamCreationTimestamp\":1459799926.480,"
           "\"EnhancedMonitoring\":[],\"OpenShardCount\":2,\"KeyId\":null,"
           "\"EncryptionType\":null,\"StreamModeDetails\":{\"StreamMode\":"
           "\"PROVISIONED\"},\"ConsumerCount\":0,\"NewThing\":{\"a\":1}}}"),
      &p));
  ASSERT_STR_EQ("s", p.summary.stream_name);
  ASSERT_STR_EQ("ACTIVE", p.summary.stream_status);
  ASSERT_STR_EQ("PROVISIONED", p.summary.stream_mode);
  ASSERT_NULL(p.summary.encryption_type);
  ASSERT_EQ(24, p.summary.retention_period_hours);
  ASSERT_EQ(2, p.summary.open_shard_count);
  ASSERT(p.summary.creation_timestamp > 1459799926.4 &&
         p.summary.creation_timestamp < 1459799926.5);
  kn_parsed_free(&p);

  /* An integer timestamp, as kinesalite sends. */
  ASSERT_OK(kn_codec_parse_summary(
      BODY("{\"StreamDescriptionSummary\":{\"StreamName\":\"s\","
           "\"StreamStatus\":\"CREATING\",\"StreamCreationTimestamp\":"
           "1459799926}}"),
      &p));
  ASSERT_EQ(1459799926, (int64_t) p.summary.creation_timestamp);
  kn_parsed_free(&p);

  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_summary(BODY("{}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_summary(BODY("not json"), &p));
  kn_parsed_free(&p);
}


static void test_list_shards(void) {
  kn_parsed_t p;
  ASSERT_OK(kn_codec_parse_list_shards(
      BODY("{\"Shards\":[{\"ShardId\":\"shardId-000000000000\","
           "\"HashKeyRange\":{\"StartingHashKey\":\"0\",\"EndingHashKey\":"
           "\"170141183460469231731687303715884105727\"},"
           "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"4959\"}},"
           "{\"ShardId\":\"shardId-000000000001\",\"ParentShardId\":null,"
           "\"HashKeyRange\":{\"StartingHashKey\":"
           "\"170141183460469231731687303715884105728\",\"EndingHashKey\":"
           "\"340282366920938463463374607431768211455\"},"
           "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"4960\","
           "\"EndingSequenceNumber\":\"4999\"}}],\"NextToken\":\"tok\"}"),
      &p));
  ASSERT_EQ(2, p.nshards);
  ASSERT_STR_EQ("shardId-000000000001", p.shards[1].shard_id);
  ASSERT_NULL(p.shards[1].parent_shard_id);
  ASSERT_NULL(p.shards[0].ending_sequence_number);
  ASSERT_STR_EQ("4999", p.shards[1].ending_sequence_number);
  ASSERT_STR_EQ("340282366920938463463374607431768211455",
                p.shards[1].ending_hash_key);
  ASSERT_STR_EQ("tok", p.next_token);
  kn_parsed_free(&p);

  ASSERT_OK(kn_codec_parse_list_shards(BODY("{\"Shards\":[],\"NextToken\":null}"),
                                       &p));
  ASSERT_EQ(0, p.nshards);
  ASSERT_NULL(p.next_token);
  kn_parsed_free(&p);
  /* A shard without its hash range is refused, not guessed. */
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_list_shards(BODY("{\"Shards\":[{\"ShardId\":\"a\"}]}"),
                                       &p));
  kn_parsed_free(&p);
  /* Members the model may grow are skipped, at any depth; null Shards is
   * none; a truncated answer and a string where an object goes are
   * refused. */
  ASSERT_OK(kn_codec_parse_list_shards(
      BODY("{\"Shards\":[{\"New\":{\"a\":[1,{\"b\":null}]},\"ShardId\":\"a\","
           "\"HashKeyRange\":{\"X\":[],\"StartingHashKey\":\"0\","
           "\"EndingHashKey\":\"9\"},\"SequenceNumberRange\":null}],"
           "\"More\":true}"),
      &p));
  ASSERT_EQ(1, p.nshards);
  ASSERT_STR_EQ("a", p.shards[0].shard_id);
  ASSERT_STR_EQ("9", p.shards[0].ending_hash_key);
  ASSERT_NULL(p.shards[0].starting_sequence_number);
  kn_parsed_free(&p);
  ASSERT_OK(kn_codec_parse_list_shards(BODY("{\"Shards\":null}"), &p));
  ASSERT_EQ(0, p.nshards);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_list_shards(BODY("{\"Shards\":[{\"ShardId\":\"a\""),
                                       &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_list_shards(
                BODY("{\"Shards\":[{\"ShardId\":\"a\",\"HashKeyRange\":\"x\"}]}"),
                &p));
  kn_parsed_free(&p);
}


/* A SubscribeToShardEvent's payload: GetRecords' records and child
 * shards, a ContinuationSequenceNumber that is a sequence number or, at the
 * shard's end, absent, and refusals that name the event. */
static void test_subscribe_event(void) {
  kn_parsed_t p;
  ASSERT_OK(kn_codec_parse_subscribe_event(
      BODY("{\"Records\":[{\"SequenceNumber\":\"7\",\"Data\":\"aGk=\","
           "\"PartitionKey\":\"k\",\"ApproximateArrivalTimestamp\":1.5}],"
           "\"ContinuationSequenceNumber\":\"8\",\"MillisBehindLatest\":3,"
           "\"NextShardIterator\":\"not-read-here\"}"),
      NULL, &p));
  ASSERT_EQ(1, p.nrecords);
  ASSERT_MEM_EQ("hi", p.records[0].data, 2);
  ASSERT_STR_EQ("8", p.continuation_sequence_number);
  ASSERT_NULL(p.next_shard_iterator);
  ASSERT_EQ(3, p.millis_behind_latest);
  kn_parsed_free(&p);
  /* The last event of a closed shard: no ContinuationSequenceNumber (null
   * or absent), its children. */
  ASSERT_OK(kn_codec_parse_subscribe_event(
      BODY("{\"Records\":[],\"ContinuationSequenceNumber\":null,"
           "\"MillisBehindLatest\":0,\"ChildShards\":[{\"ShardId\":"
           "\"shardId-2\",\"ParentShards\":[\"shardId-0\"],"
           "\"HashKeyRange\":{\"StartingHashKey\":\"0\","
           "\"EndingHashKey\":\"9\"}}]}"),
      NULL, &p));
  ASSERT_NULL(p.continuation_sequence_number);
  ASSERT_EQ(1, p.nchild_shards);
  ASSERT_STR_EQ("shardId-2", p.child_shards[0].shard_id);
  kn_parsed_free(&p);
  ASSERT_OK(kn_codec_parse_subscribe_event(
      BODY("{\"Records\":[],\"MillisBehindLatest\":0}"), NULL, &p));
  ASSERT_NULL(p.continuation_sequence_number);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_subscribe_event(
                BODY("{\"Records\":[],\"ContinuationSequenceNumber\":\"08\"}"),
                NULL, &p));
  ASSERT_STR_EQ("SubscribeToShardEvent: ContinuationSequenceNumber is not a "
                "sequence number",
                p.error);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_subscribe_event(
                BODY("{\"Records\":[],\"ContinuationSequenceNumber\":\"1\","
                     "\"MillisBehindLatest\":-1}"),
                NULL, &p));
  ASSERT_STR_EQ("SubscribeToShardEvent: MillisBehindLatest out of range",
                p.error);
  kn_parsed_free(&p);
  /* Records are required, as in GetRecords. */
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_subscribe_event(
                BODY("{\"ContinuationSequenceNumber\":\"1\"}"), NULL, &p));
  kn_parsed_free(&p);
}


static void test_get_records(void) {
  kn_parsed_t p;
  ASSERT_OK(parse_get(
      BODY("{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"aGVsbG8=\","
           "\"PartitionKey\":\"k\",\"ApproximateArrivalTimestamp\":"
           "1700000000.123},{\"SequenceNumber\":\"2\",\"Data\":\"\","
           "\"PartitionKey\":\"k2\",\"EncryptionType\":\"NONE\"}],"
           "\"NextShardIterator\":\"it\",\"MillisBehindLatest\":42,"
           "\"ChildShards\":null}"),
      &p));
  ASSERT_EQ(2, p.nrecords);
  ASSERT_EQ(5, p.records[0].len);
  ASSERT_MEM_EQ("hello", p.records[0].data, 5);
  ASSERT_EQ(0, p.records[1].len);
  ASSERT_STR_EQ("NONE", p.records[1].encryption_type);
  ASSERT_STR_EQ("it", p.next_shard_iterator);
  ASSERT_EQ(42, p.millis_behind_latest);
  ASSERT_EQ(0, p.nchild_shards);
  kn_parsed_free(&p);

  /* The end of a closed shard: no iterator, child shards. */
  ASSERT_OK(parse_get(
      BODY("{\"Records\":[],\"MillisBehindLatest\":0,\"ChildShards\":[{"
           "\"ShardId\":\"shardId-2\",\"ParentShards\":[\"shardId-0\","
           "\"shardId-1\"],\"HashKeyRange\":{\"StartingHashKey\":\"0\","
           "\"EndingHashKey\":\"9\"}}]}"),
      &p));
  ASSERT_NULL(p.next_shard_iterator);
  ASSERT_EQ(1, p.nchild_shards);
  ASSERT_STR_EQ("shardId-0", p.child_shards[0].parent_shard_id);
  ASSERT_STR_EQ("shardId-1", p.child_shards[0].adjacent_parent_shard_id);
  kn_parsed_free(&p);
  /* Explicit nulls (kinesis-mock writes them) are absent members, followed
   * by more members. (The scanner once skipped the member after a null
   * here, and refused the answer.) */
  ASSERT_OK(parse_get(
      BODY("{\"Records\":[],\"ChildShards\":[{\"ParentShards\":null,"
           "\"HashKeyRange\":null,\"ShardId\":\"shardId-2\"}],"
           "\"MillisBehindLatest\":5}"),
      &p));
  ASSERT_EQ(1, p.nchild_shards);
  ASSERT_STR_EQ("shardId-2", p.child_shards[0].shard_id);
  ASSERT_NULL(p.child_shards[0].parent_shard_id);
  ASSERT_EQ(5, p.millis_behind_latest);
  kn_parsed_free(&p);

  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(
                BODY("{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":"
                     "\"!!\",\"PartitionKey\":\"k\"}]}"),
                &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_get(BODY("{}"), &p));
  kn_parsed_free(&p);
}


static void test_scanner_escapes_and_unknowns(void) {
  kn_parsed_t p;
  const char* body =
      " {\"Unknown\":{\"a\":[1,{\"b\":null},true,false,-2.5e-3],"
      "\"c\":\"x\\\"y\"},\"Records\":[{\"SequenceNumber\":\"7\","
      "\"Data\":\"aGk=\",\"PartitionKey\":\"k\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\n\","
      "\"ApproximateArrivalTimestamp\":1.4597999264805e9,\"New\":[[]]}],"
      "\"MillisBehindLatest\":1e3,\"NextShardIterator\":null} \n";
  size_t len = strlen(body);
  size_t i;

  ASSERT_OK(parse_get((const uint8_t*) body, len, &p));
  ASSERT_EQ(1, p.nrecords);
  ASSERT_STR_EQ("k\xc3\xa9\xf0\x9f\x98\x80\"\\/\n", p.records[0].partition_key);
  ASSERT_EQ(2, p.records[0].len);
  ASSERT_MEM_EQ("hi", p.records[0].data, 2);
  ASSERT(p.records[0].approximate_arrival_timestamp > 1459799926.4 &&
         p.records[0].approximate_arrival_timestamp < 1459799926.5);
  ASSERT_EQ(1000, p.millis_behind_latest);
  ASSERT_NULL(p.next_shard_iterator);
  kn_parsed_free(&p);

  /* Every truncation is refused, and none reads past the end. */
  for (i = 0; i + 2 < len; i++) {
    char* copy = malloc(i);
    memcpy(copy, body, i);
    ASSERT_EQ(KINESIS_EPROTO,
              parse_get((const uint8_t*) copy, i, &p));
    kn_parsed_free(&p);
    free(copy);
  }
  /* Trailing garbage, a lone surrogate, a control character, bad numbers. */
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[]} x"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(
                BODY("{\"Records\":[],\"X\":\"\\ud800\"}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"X\":\"a\x01\"}"),
                                       &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"X\":-}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"X\":1e}"), &p));
  kn_parsed_free(&p);
  /* Nesting is bounded. */
  {
    char deep[400];
    size_t k;
    strcpy(deep, "{\"Records\":[],\"X\":");
    for (k = 0; k < 100; k++)
      strcat(deep, "[");
    strcat(deep, "}");
    ASSERT_EQ(KINESIS_EPROTO, parse_get(BODY(deep), &p));
    kn_parsed_free(&p);
  }
}


/* The scanner looks at strings sixteen bytes at a time (SSE2), then eight,
 * then one: a quote, an escape or a control character at any offset, with
 * any bytes before it, must be seen exactly where it is. */
static void test_scanner_word_boundaries(void) {
  static const char* const specials[] = {"\\\"", "\\\\", "\\n", "\\u0001"};
  static const char decoded[] = {'"', '\\', '\n', '\x01'};
  size_t at;
  size_t k;

  for (k = 0; k < KN_ARRAY_SIZE(specials); k++)
    for (at = 0; at < 40; at++) {
      char value[64];
      char want[64];
      char body[256];
      kn_parsed_t p;
      size_t i;
      /* Bytes of every kind around it: ASCII, UTF-8 (high bit set) and
       * bytes just above the control range. */
      for (i = 0; i < at; i++)
        value[i] = "a\x20\x7f\xc3\xa9~!#"[i % 8];
      value[at] = '\0';
      memcpy(want, value, at);
      want[at] = decoded[k];
      memcpy(want + at + 1, "tail-0123456789", 16);
      snprintf(body, sizeof(body),
               "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":"
               "\"%s%stail-0123456789\"}]}",
               value, specials[k]);
      ASSERT_OK(parse_put(BODY(body), 1, &p));
      ASSERT_STR_EQ(want, p.put_entries[0].shard_id);
      kn_parsed_free(&p);
      /* A raw control character at that offset is refused. */
      snprintf(body, sizeof(body),
               "{\"Records\":[{\"SequenceNumber\":\"1\",\"ShardId\":"
               "\"%s\x1ftail-0123456789\"}]}",
               value);
      ASSERT_EQ(KINESIS_EPROTO, parse_put(BODY(body), 1, &p));
      kn_parsed_free(&p);
    }
}


static void test_get_records_takes_the_buffer(void) {
  kn_buf_t body = KN_BUF_INIT;
  kn_parsed_t p;
  const uint8_t* where;
  ASSERT_OK(kn_buf_append_str(&body, "{\"Records\":[{\"SequenceNumber\":\"1\","
                                     "\"Data\":\"AAECAwQF\",\"PartitionKey\":\"k\"}],"
                                     "\"NextShardIterator\":\"n\"}"));
  where = body.data;
  ASSERT_OK(kn_codec_parse_get_records(body.data, body.len, &body, &p));
  /* The bytes were taken, not copied, and decoded where they stood. */
  ASSERT_NULL(body.data);
  ASSERT_EQ(0, body.len);
  ASSERT_EQ(6, p.records[0].len);
  ASSERT_MEM_EQ("\0\1\2\3\4\5", p.records[0].data, 6);
  ASSERT(p.records[0].data >= where && p.records[0].data < where + 80);
  ASSERT_STR_EQ("n", p.next_shard_iterator);
  kn_parsed_free(&p);
  kn_buf_free(&body);
}


static void test_put_records_answer(void) {
  kn_parsed_t p;
  const char* body =
      "{\"FailedRecordCount\":1,\"Records\":[{\"SequenceNumber\":\"10\","
      "\"ShardId\":\"shardId-000000000000\"},{\"ErrorCode\":"
      "\"ProvisionedThroughputExceededException\",\"ErrorMessage\":\"slow\"},"
      "{\"SequenceNumber\":\"11\",\"ShardId\":\"shardId-000000000001\","
      "\"ErrorCode\":null}]}";
  ASSERT_OK(parse_put(BODY(body), 3, &p));
  ASSERT_EQ(1, p.failed_record_count);
  ASSERT_STR_EQ("10", p.put_entries[0].sequence_number);
  ASSERT_STR_EQ("ProvisionedThroughputExceededException",
                p.put_entries[1].error_code);
  ASSERT_STR_EQ("slow", p.put_entries[1].error_message);
  ASSERT_NULL(p.put_entries[1].shard_id);
  ASSERT_STR_EQ("shardId-000000000001", p.put_entries[2].shard_id);
  kn_parsed_free(&p);
  /* A different number of entries than sent is a protocol error. */
  ASSERT_EQ(KINESIS_EPROTO, parse_put(BODY(body), 2, &p));
  kn_parsed_free(&p);
}


/* A ListShards answer of one shard with these keys and sequence numbers. */
static int parse_one_shard(const char* start_hash, const char* end_hash,
                           const char* start_seq, kn_parsed_t* p) {
  kn_buf_t b = KN_BUF_INIT;
  int r;
  ASSERT_OK(kn_buf_appendf(
      &b,
      "{\"Shards\":[{\"ShardId\":\"shardId-000000000000\",\"HashKeyRange\":"
      "{\"StartingHashKey\":\"%s\",\"EndingHashKey\":\"%s\"},"
      "\"SequenceNumberRange\":{\"StartingSequenceNumber\":\"%s\"}}]}",
      start_hash, end_hash, start_seq));
  r = kn_codec_parse_list_shards(b.data, b.len, p);
  kn_buf_free(&b);
  return r;
}


static void test_list_shards_refuses_bad_numbers(void) {
  static const char* bad_hash[] = {
      "", "abc", "-1", "1e5", " 1", "01",
      "340282366920938463463374607431768211456",   /* 2^128 */
      "1000000000000000000000000000000000000000"}; /* 40 digits */
  char seq[140];
  kn_parsed_t p;
  size_t i;

  /* The widest legal values: 2^128-1 and a sequence number of 129 digits. */
  memset(seq, '9', 129);
  seq[129] = '\0';
  ASSERT_OK(parse_one_shard("0", "340282366920938463463374607431768211455",
                            seq, &p));
  ASSERT_NULL(p.error);
  kn_parsed_free(&p);

  for (i = 0; i < sizeof(bad_hash) / sizeof(bad_hash[0]); i++) {
    ASSERT_EQ(KINESIS_EPROTO, parse_one_shard(bad_hash[i], "9", "1", &p));
    ASSERT_NOT_NULL(p.error);
    ASSERT(strstr(p.error, "hash key") != NULL);
    kn_parsed_free(&p);
    ASSERT_EQ(KINESIS_EPROTO, parse_one_shard("0", bad_hash[i], "1", &p));
    kn_parsed_free(&p);
  }

  /* 130 digits, a leading zero (which would break comparing by length), a
   * letter, nothing. */
  seq[129] = '9';
  seq[130] = '\0';
  ASSERT_EQ(KINESIS_EPROTO, parse_one_shard("0", "9", seq, &p));
  ASSERT(strstr(p.error, "sequence number") != NULL);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_one_shard("0", "9", "0123", &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_one_shard("0", "9", "4959x", &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_one_shard("0", "9", "", &p));
  kn_parsed_free(&p);
  /* The ending sequence number of a closed shard too. */
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_list_shards(
                BODY("{\"Shards\":[{\"ShardId\":\"a\",\"HashKeyRange\":{"
                     "\"StartingHashKey\":\"0\",\"EndingHashKey\":\"9\"},"
                     "\"SequenceNumberRange\":{\"StartingSequenceNumber\":"
                     "\"1\",\"EndingSequenceNumber\":\"-2\"}}]}"),
                &p));
  ASSERT(strstr(p.error, "sequence number") != NULL);
  kn_parsed_free(&p);
}


static void test_get_records_refuses_bad_numbers(void) {
  kn_parsed_t p;
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[{\"SequenceNumber\":\"12x\","
                           "\"Data\":\"\",\"PartitionKey\":\"k\"}]}"),
                      &p));
  ASSERT(strstr(p.error, "sequence number") != NULL);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[{\"SequenceNumber\":\"007\","
                           "\"Data\":\"\",\"PartitionKey\":\"k\"}]}"),
                      &p));
  kn_parsed_free(&p);
  /* A child shard's hash range. */
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"ChildShards\":[{\"ShardId\":"
                           "\"s\",\"ParentShards\":[\"p\"],\"HashKeyRange\":{"
                           "\"StartingHashKey\":\"0\",\"EndingHashKey\":"
                           "\"340282366920938463463374607431768211456\"}}]}"),
                      &p));
  ASSERT(strstr(p.error, "hash key") != NULL);
  kn_parsed_free(&p);
}


/* A GetRecords answer of `n` empty records. */
static void append_records(kn_buf_t* b, size_t n) {
  size_t i;
  ASSERT_OK(kn_buf_append_str(b, "{\"Records\":["));
  for (i = 0; i < n; i++)
    ASSERT_OK(kn_buf_appendf(b,
                             "%s{\"SequenceNumber\":\"%zu\",\"Data\":\"\","
                             "\"PartitionKey\":\"k\"}",
                             i == 0 ? "" : ",", i + 1));
  ASSERT_OK(kn_buf_append_str(b, "],\"NextShardIterator\":\"it\"}"));
}


static void test_get_records_limits(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_parsed_t p;
  uint8_t* data;
  const size_t max = 10 * 1024 * 1024;

  /* The API returns at most 10000 records per call. */
  append_records(&b, 10000);
  ASSERT_OK(parse_get(b.data, b.len, &p));
  ASSERT_EQ(10000, p.nrecords);
  kn_parsed_free(&p);
  kn_buf_reset(&b);
  append_records(&b, 10001);
  ASSERT_EQ(KINESIS_EPROTO, parse_get(b.data, b.len, &p));
  ASSERT_STR_EQ("GetRecords: more than 10000 records", p.error);
  kn_parsed_free(&p);

  /* And no record over 10 MiB: exactly 10 MiB passes, one byte more not. */
  data = calloc(max + 3, 1);
  ASSERT_NOT_NULL(data);
  kn_buf_reset(&b);
  ASSERT_OK(kn_buf_append_str(&b, "{\"Records\":[{\"SequenceNumber\":\"1\","
                                  "\"PartitionKey\":\"k\",\"Data\":\""));
  ASSERT_OK(kn_buf_append_base64(&b, data, max));
  ASSERT_OK(kn_buf_append_str(&b, "\"}]}"));
  ASSERT_OK(parse_get(b.data, b.len, &p));
  ASSERT_EQ(max, p.records[0].len);
  kn_parsed_free(&p);
  /* max + 1 bytes: base64 no longer than that of max + 2, decoded over. */
  kn_buf_reset(&b);
  ASSERT_OK(kn_buf_append_str(&b, "{\"Records\":[{\"SequenceNumber\":\"1\","
                                  "\"PartitionKey\":\"k\",\"Data\":\""));
  ASSERT_OK(kn_buf_append_base64(&b, data, max + 1));
  ASSERT_OK(kn_buf_append_str(&b, "\"}]}"));
  ASSERT_EQ(KINESIS_EPROTO, parse_get(b.data, b.len, &p));
  ASSERT_STR_EQ("GetRecords: a record's data is over 10 MiB", p.error);
  kn_parsed_free(&p);
  /* Base64 too long to be 10 MiB is refused before it is decoded. */
  kn_buf_reset(&b);
  ASSERT_OK(kn_buf_append_str(&b, "{\"Records\":[{\"SequenceNumber\":\"1\","
                                  "\"PartitionKey\":\"k\",\"Data\":\""));
  ASSERT_OK(kn_buf_append_base64(&b, data, max + 3));
  ASSERT_OK(kn_buf_append_str(&b, "\"}]}"));
  ASSERT_EQ(KINESIS_EPROTO, parse_get(b.data, b.len, &p));
  ASSERT_STR_EQ("GetRecords: a record's data is over 10 MiB", p.error);
  kn_parsed_free(&p);
  free(data);
  kn_buf_free(&b);
}


static void test_put_records_entry_count(void) {
  kn_parsed_t p;
  const char* two = "{\"Records\":[{\"SequenceNumber\":\"10\",\"ShardId\":"
                    "\"s\"},{\"SequenceNumber\":\"11\",\"ShardId\":\"s\"}]}";
  ASSERT_OK(parse_put(BODY(two), 2, &p));
  ASSERT_EQ(2, p.nput_entries);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_put(BODY(two), 1, &p));
  ASSERT_STR_EQ("PutRecords: more entries than records sent", p.error);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_put(BODY(two), 3, &p));
  ASSERT_STR_EQ("PutRecords: fewer entries than records sent", p.error);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_put(BODY(two), 0, &p));
  kn_parsed_free(&p);
  /* No Records member at all: fewer than sent. */
  ASSERT_EQ(KINESIS_EPROTO,
            parse_put(BODY("{\"FailedRecordCount\":0}"), 1, &p));
  kn_parsed_free(&p);
  /* A successful entry's sequence number must be one. */
  ASSERT_EQ(KINESIS_EPROTO,
            parse_put(BODY("{\"Records\":[{\"SequenceNumber\":\"1.5\","
                           "\"ShardId\":\"s\"}]}"),
                      1, &p));
  ASSERT(strstr(p.error, "sequence number") != NULL);
  kn_parsed_free(&p);
}


/* Found by fuzz_responses (regressions/responses/millis-behind-latest-
 * overflow): a MillisBehindLatest beyond int64_t was cast, which is
 * undefined; it is refused like a negative one. */
static void test_get_records_millis_behind_range(void) {
  kn_parsed_t p;
  ASSERT_OK(parse_get(BODY("{\"Records\":[],\"MillisBehindLatest\":"
                           "1000000000000000000}"),
                      &p));
  ASSERT_EQ(INT64_C(1000000000000000000), p.millis_behind_latest);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"MillisBehindLatest\":"
                           "4444444444444444444444444444444444444444}"),
                      &p));
  ASSERT_STR_EQ("GetRecords: MillisBehindLatest out of range", p.error);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"MillisBehindLatest\":-1}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            parse_get(BODY("{\"Records\":[],\"MillisBehindLatest\":1e999}"),
                      &p));
  kn_parsed_free(&p);
}

/* A second ChildShards member appended to the first one's array while
 * counting its capacity from zero, writing past the end
 * (regressions/responses/child-shards-twice). */
static void test_get_records_child_shards_twice(void) {
  kn_parsed_t p;
  ASSERT_OK(parse_get(
      BODY("{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"a\"},"
           "{\"ShardId\":\"b\"},{\"ShardId\":\"c\"}],\"ChildShards\":["
           "{\"ShardId\":\"d\"},{\"ShardId\":\"e\"},{\"ShardId\":\"f\"},"
           "{\"ShardId\":\"g\"}]}"),
      &p));
  ASSERT_EQ(7, p.nchild_shards);
  ASSERT_STR_EQ("a", p.child_shards[0].shard_id);
  ASSERT_STR_EQ("g", p.child_shards[6].shard_id);
  kn_parsed_free(&p);
}

/* Copies `tmpl` into `out` with `w` in place of each '~'. */
static void spread(char* out, size_t size, const char* tmpl, const char* w) {
  size_t n = 0;
  for (; *tmpl != '\0'; tmpl++) {
    const char* c = *tmpl == '~' ? w : tmpl;
    size_t l = *tmpl == '~' ? strlen(w) : 1;
    ASSERT(n + l < size);
    memcpy(out + n, c, l);
    n += l;
  }
  out[n] = '\0';
}


/* Issue 17: a literal (null, a number) after white space was refused, so a
 * pretty-printed answer (a proxy's, or a server's that indents) was EPROTO.
 * RFC 8259 allows white space (space, tab, LF, CR) between any two tokens. */
static void test_scanner_pretty_printed(void) {
  static const char* const ws[] = {" ", "\n", "\t", "\r\n  "};
  size_t i;
  kn_parsed_t p;
  for (i = 0; i < sizeof(ws) / sizeof(ws[0]); i++) {
    const char* w = ws[i];
    char body[2048];
    spread(body, sizeof(body),
           "~{~\"Records\"~:~[~{~\"SequenceNumber\"~:~\"1\"~,~"
           "\"Data\"~:~\"aGVsbG8=\"~,~\"PartitionKey\"~:~\"k\"~,~"
           "\"ApproximateArrivalTimestamp\"~:~1.5~,~\"EncryptionType\"~:"
           "~null~}~]~,~\"MillisBehindLatest\"~:~0~,~\"ChildShards\"~:"
           "~[~{~\"ShardId\"~:~\"s2\"~,~\"ParentShards\"~:~[~\"s0\"~,"
           "~\"s1\"~]~,~\"HashKeyRange\"~:~{~\"StartingHashKey\"~:~\"0\""
           "~,~\"EndingHashKey\"~:~\"9\"~}~}~]~,~\"NextShardIterator\"~:"
           "~null~}~",
           w);
    ASSERT_OK(parse_get(BODY(body), &p));
    ASSERT_EQ(1, p.nrecords);
    ASSERT_MEM_EQ("hello", p.records[0].data, 5);
    ASSERT(p.records[0].approximate_arrival_timestamp == 1.5);
    ASSERT_NULL(p.records[0].encryption_type);
    ASSERT_EQ(0, p.millis_behind_latest);
    ASSERT_EQ(1, p.nchild_shards);
    ASSERT_STR_EQ("s2", p.child_shards[0].shard_id);
    ASSERT_STR_EQ("s1", p.child_shards[0].adjacent_parent_shard_id);
    ASSERT_STR_EQ("9", p.child_shards[0].ending_hash_key);
    ASSERT_NULL(p.next_shard_iterator);
    kn_parsed_free(&p);

    /* Each null-able member as null after white space. */
    spread(body, sizeof(body),
           "{\"Records\":~[],\"MillisBehindLatest\":~null,"
           "\"ChildShards\":~null}",
           w);
    ASSERT_OK(parse_get(BODY(body), &p));
    ASSERT_EQ(-1, p.millis_behind_latest);
    kn_parsed_free(&p);
    spread(body, sizeof(body),
           "{\"Records\":[],\"ChildShards\":[{\"ShardId\":\"c\","
           "\"ParentShards\":~null,\"HashKeyRange\":~null}]}",
           w);
    ASSERT_OK(parse_get(BODY(body), &p));
    ASSERT_EQ(1, p.nchild_shards);
    kn_parsed_free(&p);

    spread(body, sizeof(body),
           "~{~\"Shards\"~:~[~{~\"ShardId\"~:~\"a\"~,~"
           "\"ParentShardId\"~:~null~,~\"HashKeyRange\"~:~{~"
           "\"StartingHashKey\"~:~\"0\"~,~\"EndingHashKey\"~:~\"9\"~}~,"
           "~\"SequenceNumberRange\"~:~null~}~]~,~\"NextToken\"~:~null"
           "~}~",
           w);
    ASSERT_OK(kn_codec_parse_list_shards(BODY(body), &p));
    ASSERT_EQ(1, p.nshards);
    ASSERT_STR_EQ("9", p.shards[0].ending_hash_key);
    kn_parsed_free(&p);
    spread(body, sizeof(body), "{\"Shards\":~null}", w);
    ASSERT_OK(kn_codec_parse_list_shards(BODY(body), &p));
    kn_parsed_free(&p);

    spread(body, sizeof(body),
           "~{~\"FailedRecordCount\"~:~1~,~\"Records\"~:~[~{~"
           "\"SequenceNumber\"~:~\"7\"~,~\"ShardId\"~:~\"s\"~,~"
           "\"ErrorCode\"~:~null~}~,~{~\"ErrorCode\"~:~\"X\"~,~"
           "\"ErrorMessage\"~:~\"m\"~}~]~}~",
           w);
    ASSERT_OK(parse_put(BODY(body), 2, &p));
    ASSERT_EQ(2, p.nput_entries);
    ASSERT_STR_EQ("7", p.put_entries[0].sequence_number);
    ASSERT_STR_EQ("X", p.put_entries[1].error_code);
    ASSERT_EQ(1, p.failed_record_count);
    kn_parsed_free(&p);
  }
}


/* Found by fuzz_responses (regressions/responses/empty-body-taken-null): an
 * empty body may be (NULL, 0), and the scanner copied it with memcpy(). */
static void test_hot_parsers_empty_body(void) {
  kn_buf_t empty = KN_BUF_INIT;
  kn_parsed_t p;
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_get_records(NULL, 0, &empty, &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_get(NULL, 0, &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, parse_put(NULL, 0, 1, &p));
  kn_parsed_free(&p);
}


/* The consumer calls of enhanced fan-out: their bodies and answers. */
static void test_consumers(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_parsed_t p;
  const char* arn = "arn:aws:kinesis:us-east-1:1:stream/s";

  ASSERT_OK(kn_codec_consumer_request(&b, arn, "c", NULL));
  ASSERT_STR_EQ("{\"StreamARN\":\"arn:aws:kinesis:us-east-1:1:stream/s\","
                "\"ConsumerName\":\"c\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_consumer_request(&b, arn, "c", "arn:c/consumer/c:1"));
  ASSERT_STR_EQ("{\"ConsumerARN\":\"arn:c/consumer/c:1\"}", kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_list_consumers(&b, arn, NULL));
  ASSERT_STR_EQ("{\"StreamARN\":\"arn:aws:kinesis:us-east-1:1:stream/s\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_list_consumers(&b, arn, "t"));
  ASSERT_STR_EQ("{\"StreamARN\":\"arn:aws:kinesis:us-east-1:1:stream/s\","
                "\"NextToken\":\"t\"}",
                kn_buf_str(&b));
  kn_buf_free(&b);

  ASSERT_OK(kn_codec_parse_consumer(
      BODY("{\"Consumer\":{\"ConsumerName\":\"c\",\"ConsumerARN\":\"a\","
           "\"ConsumerStatus\":\"CREATING\","
           "\"ConsumerCreationTimestamp\":1700000000.5}}"),
      "Consumer", &p));
  ASSERT_EQ(1, p.nconsumers);
  ASSERT_STR_EQ("c", p.consumers[0].consumer_name);
  ASSERT_STR_EQ("CREATING", p.consumers[0].consumer_status);
  ASSERT(p.consumers[0].creation_timestamp == 1700000000.5);
  ASSERT_NULL(p.consumers[0].stream_arn);
  kn_parsed_free(&p);
  ASSERT_OK(kn_codec_parse_consumer(
      BODY("{\"ConsumerDescription\":{\"ConsumerName\":\"c\","
           "\"ConsumerARN\":\"a\",\"ConsumerStatus\":\"ACTIVE\","
           "\"StreamARN\":\"s\"}}"),
      "ConsumerDescription", &p));
  ASSERT_STR_EQ("s", p.consumers[0].stream_arn);
  kn_parsed_free(&p);
  /* The member of the other call, and a consumer without its status. */
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_consumer(BODY("{\"Consumer\":{}}"),
                                    "ConsumerDescription", &p));
  ASSERT_STR_EQ("the answer holds no consumer", p.error);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_consumer(
                BODY("{\"Consumer\":{\"ConsumerName\":\"c\","
                     "\"ConsumerARN\":\"a\"}}"),
                "Consumer", &p));
  ASSERT_STR_EQ("a consumer without its name, ARN or status", p.error);
  kn_parsed_free(&p);

  ASSERT_OK(kn_codec_parse_list_consumers(
      BODY("{\"Consumers\":[{\"ConsumerName\":\"a\",\"ConsumerARN\":\"x\","
           "\"ConsumerStatus\":\"ACTIVE\"},{\"ConsumerName\":\"b\","
           "\"ConsumerARN\":\"y\",\"ConsumerStatus\":\"DELETING\"}],"
           "\"NextToken\":\"n\"}"),
      &p));
  ASSERT_EQ(2, p.nconsumers);
  ASSERT_STR_EQ("b", p.consumers[1].consumer_name);
  ASSERT_STR_EQ("n", p.next_token);
  kn_parsed_free(&p);
  ASSERT_OK(kn_codec_parse_list_consumers(BODY("{\"Consumers\":[]}"), &p));
  ASSERT_EQ(0, p.nconsumers);
  ASSERT_NULL(p.next_token);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_list_consumers(BODY("{}"), &p));
  ASSERT_STR_EQ("Consumers is not an array", p.error);
  kn_parsed_free(&p);
}


static void test_encode_requests(void) {
  kn_buf_t b = KN_BUF_INIT;
  kinesis_iterator_request_t it;
  kinesis_record_t e[2];

  ASSERT_OK(kn_codec_create_stream(&b, "s1", 2));
  ASSERT_STR_EQ("{\"StreamName\":\"s1\",\"ShardCount\":2}", kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_create_stream(&b, "s1", 0));
  ASSERT_STR_EQ("{\"StreamName\":\"s1\",\"StreamModeDetails\":{\"StreamMode\":"
                "\"ON_DEMAND\"}}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_stream_request(&b, "arn:aws:kinesis:us-east-1:1:stream/x"));
  ASSERT_STR_EQ("{\"StreamARN\":\"arn:aws:kinesis:us-east-1:1:stream/x\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_list_shards(&b, "s", "tok", "ignored", 0));
  ASSERT_STR_EQ("{\"NextToken\":\"tok\"}", kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_list_shards(&b, "s", NULL, "shardId-1", 0));
  ASSERT_STR_EQ("{\"StreamName\":\"s\",\"ExclusiveStartShardId\":\"shardId-1\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  /* The shards open at a time: a ShardFilter; a NextToken still goes
   * alone, since it carries the filter. */
  ASSERT_OK(kn_codec_list_shards(&b, "s", NULL, NULL, 1700000000.25));
  ASSERT_STR_EQ("{\"StreamName\":\"s\",\"ShardFilter\":{\"Type\":"
                "\"AT_TIMESTAMP\",\"Timestamp\":1700000000.250}}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_list_shards(&b, "s", "tok", NULL, 1700000000.25));
  ASSERT_STR_EQ("{\"NextToken\":\"tok\"}", kn_buf_str(&b));
  kn_buf_reset(&b);

  memset(&it, 0, sizeof(it));
  it.stream = "s";
  it.shard_id = "shardId-0";
  it.type = KINESIS_ITERATOR_AFTER_SEQUENCE_NUMBER;
  it.sequence_number = "123";
  ASSERT_OK(kn_codec_get_shard_iterator(&b, &it));
  ASSERT_STR_EQ("{\"StreamName\":\"s\",\"ShardId\":\"shardId-0\","
                "\"ShardIteratorType\":\"AFTER_SEQUENCE_NUMBER\","
                "\"StartingSequenceNumber\":\"123\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  it.type = KINESIS_ITERATOR_AT_TIMESTAMP;
  it.timestamp = 1700000000.5;
  ASSERT_OK(kn_codec_get_shard_iterator(&b, &it));
  ASSERT_STR_EQ("{\"StreamName\":\"s\",\"ShardId\":\"shardId-0\","
                "\"ShardIteratorType\":\"AT_TIMESTAMP\",\"Timestamp\":"
                "1700000000.500}",
                kn_buf_str(&b));
  kn_buf_reset(&b);

  ASSERT_OK(kn_codec_get_records(&b, "it\"er", 100));
  ASSERT_STR_EQ("{\"ShardIterator\":\"it\\\"er\",\"Limit\":100}", kn_buf_str(&b));
  kn_buf_reset(&b);

  e[0].data = "hello";
  e[0].len = 5;
  e[0].partition_key = "k\n1";
  e[0].explicit_hash_key = NULL;
  e[1].data = NULL;
  e[1].len = 0;
  e[1].partition_key = "\xe6\x97\xa5";
  e[1].explicit_hash_key = "0";
  ASSERT_OK(kn_codec_put_records(&b, "s", e, 2));
  ASSERT_STR_EQ("{\"StreamName\":\"s\",\"Records\":[{\"Data\":\"aGVsbG8=\","
                "\"PartitionKey\":\"k\\u000a1\"},{\"Data\":\"\","
                "\"PartitionKey\":\"\xe6\x97\xa5\",\"ExplicitHashKey\":\"0\"}]}",
                kn_buf_str(&b));
  kn_buf_free(&b);
}


/* The DynamoDB checkpointer's requests and answers. */
static void test_dynamodb(void) {
  kn_buf_t b = KN_BUF_INIT;
  kn_parsed_t p;
  const kn_ddb_value_t item[] = {{"leaseKey", 'S', "s\"1"},
                                 {"leaseCounter", 'N', "1"}};
  const kn_ddb_value_t values[] = {{":c", 'N', "7"}, {":o", 'S', "me"}};

  ASSERT_OK(kn_codec_ddb_create_table(&b, "t", "leaseKey"));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"BillingMode\":\"PAY_PER_REQUEST\","
                "\"AttributeDefinitions\":[{\"AttributeName\":\"leaseKey\","
                "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":"
                "\"leaseKey\",\"KeyType\":\"HASH\"}]}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_table(&b, "t"));
  ASSERT_STR_EQ("{\"TableName\":\"t\"}", kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_get_item(&b, "t", "leaseKey", "s1"));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"Key\":{\"leaseKey\":{\"S\":\"s1\"}},"
                "\"ConsistentRead\":true}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_put_item(&b, "t", item, 2,
                                  "attribute_not_exists(leaseKey)"));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"Item\":{\"leaseKey\":{\"S\":"
                "\"s\\\"1\"},\"leaseCounter\":{\"N\":\"1\"}},"
                "\"ConditionExpression\":\"attribute_not_exists(leaseKey)\"}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_update_item(&b, "t", "leaseKey", "s1",
                                     "SET leaseCounter = :n",
                                     "leaseOwner = :o", values, 2));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"Key\":{\"leaseKey\":{\"S\":\"s1\"}},"
                "\"UpdateExpression\":\"SET leaseCounter = :n\","
                "\"ConditionExpression\":\"leaseOwner = :o\","
                "\"ExpressionAttributeValues\":{\":c\":{\"N\":\"7\"},"
                "\":o\":{\"S\":\"me\"}}}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_scan(&b, "t", "leaseKey", NULL));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"ConsistentRead\":true}",
                kn_buf_str(&b));
  kn_buf_reset(&b);
  ASSERT_OK(kn_codec_ddb_scan(&b, "t", "leaseKey", "s9"));
  ASSERT_STR_EQ("{\"TableName\":\"t\",\"ConsistentRead\":true,"
                "\"ExclusiveStartKey\":{\"leaseKey\":{\"S\":\"s9\"}}}",
                kn_buf_str(&b));
  kn_buf_free(&b);

  /* An item: S and N with their text, other types only named. */
  ASSERT_OK(kn_codec_parse_ddb_item(
      BODY("{\"Item\":{\"leaseKey\":{\"S\":\"s1\"},\"leaseCounter\":"
           "{\"N\":\"3\"},\"parentShardId\":{\"SS\":[\"a\",\"b\"]}}}"),
      &p));
  ASSERT_EQ(1, p.nitems);
  ASSERT_EQ(3, p.items[0].nattrs);
  ASSERT_STR_EQ("leaseKey", p.items[0].attrs[0].name);
  ASSERT_STR_EQ("S", p.items[0].attrs[0].type);
  ASSERT_STR_EQ("s1", p.items[0].attrs[0].value);
  ASSERT_STR_EQ("3", p.items[0].attrs[1].value);
  ASSERT_STR_EQ("SS", p.items[0].attrs[2].type);
  ASSERT_NULL(p.items[0].attrs[2].value);
  kn_parsed_free(&p);
  /* No item. */
  ASSERT_OK(kn_codec_parse_ddb_item(BODY("{}"), &p));
  ASSERT_EQ(0, p.nitems);
  kn_parsed_free(&p);
  /* Values that are not AttributeValues. */
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_item(BODY("{\"Item\":{\"a\":\"x\"}}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_item(
                BODY("{\"Item\":{\"a\":{\"S\":\"x\",\"N\":\"1\"}}}"), &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_item(BODY("{\"Item\":{\"a\":{\"N\":1}}}"),
                                    &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_ddb_item(BODY("{\"Item\":[]}"), &p));
  kn_parsed_free(&p);

  /* A Scan's page, and where the next one starts. */
  ASSERT_OK(kn_codec_parse_ddb_scan(
      BODY("{\"Items\":[{\"leaseKey\":{\"S\":\"a\"}},{},{\"leaseKey\":"
           "{\"S\":\"c\"},\"x\":{\"NULL\":true}}],\"Count\":3,"
           "\"LastEvaluatedKey\":{\"leaseKey\":{\"S\":\"c\"}}}"),
      "leaseKey", &p));
  ASSERT_EQ(3, p.nitems);
  ASSERT_EQ(1, p.items[0].nattrs);
  ASSERT_EQ(0, p.items[1].nattrs);
  ASSERT_EQ(2, p.items[2].nattrs);
  ASSERT_STR_EQ("NULL", p.items[2].attrs[1].type);
  ASSERT_STR_EQ("c", p.last_key);
  kn_parsed_free(&p);
  ASSERT_OK(kn_codec_parse_ddb_scan(BODY("{\"Items\":[]}"), "leaseKey", &p));
  ASSERT_EQ(0, p.nitems);
  ASSERT_NULL(p.last_key);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_scan(BODY("{}"), "leaseKey", &p));
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_scan(BODY("{\"Items\":[],\"LastEvaluatedKey\":"
                                         "{\"k\":{\"N\":\"1\"}}}"),
                                    "leaseKey", &p));
  kn_parsed_free(&p);

  ASSERT_OK(kn_codec_parse_ddb_table(
      BODY("{\"Table\":{\"TableName\":\"t\",\"TableStatus\":\"CREATING\"}}"),
      &p));
  ASSERT_STR_EQ("CREATING", p.table_status);
  kn_parsed_free(&p);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_ddb_table(BODY("{\"Table\":{}}"), &p));
  kn_parsed_free(&p);
}


static void test_credentials_document(void) {
  kn_codec_creds_t c;
  ASSERT_OK(kn_codec_parse_credentials(
      BODY("{\"Code\":\"Success\",\"AccessKeyId\":\"ASIA1\","
           "\"SecretAccessKey\":\"s\",\"Token\":\"t\","
           "\"Expiration\":\"2026-11-26T05:02:44Z\"}"),
      &c));
  ASSERT_STR_EQ("ASIA1", c.access_key_id);
  ASSERT_STR_EQ("t", c.session_token);
  ASSERT_EQ(INT64_C(1795669364000), c.expiration_ms);
  kn_codec_creds_clear(&c);
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_credentials(
                BODY("{\"Code\":\"Failure\",\"AccessKeyId\":\"a\","
                     "\"SecretAccessKey\":\"s\"}"),
                &c));
  ASSERT_EQ(KINESIS_EPROTO,
            kn_codec_parse_credentials(BODY("{\"AccessKeyId\":\"a\"}"), &c));
  ASSERT_EQ(KINESIS_EPROTO, kn_codec_parse_credentials(BODY("oops"), &c));
}


static void test_iso8601(void) {
  int64_t ms;
  ASSERT_OK(kn_parse_iso8601("1970-01-01T00:00:00Z", &ms));
  ASSERT_EQ(0, ms);
  ASSERT_OK(kn_parse_iso8601("2015-08-30T12:36:00Z", &ms));
  ASSERT_EQ(INT64_C(1440938160000), ms);
  ASSERT_OK(kn_parse_iso8601("2024-02-29T23:59:59.250+00:00", &ms));
  ASSERT_EQ(INT64_C(1709251199250), ms);
  ASSERT_EQ(KINESIS_EINVAL, kn_parse_iso8601("2024-02-29", &ms));
  ASSERT_EQ(KINESIS_EINVAL, kn_parse_iso8601("2024-13-01T00:00:00Z", &ms));
  ASSERT_EQ(KINESIS_EINVAL, kn_parse_iso8601("2024-01-01T00:00:00+01:00", &ms));
}


static void test_validate(void) {
  ASSERT(kn_valid_stream("a-b_c.1"));
  ASSERT(kn_valid_stream("arn:aws:kinesis:us-east-1:123:stream/x"));
  ASSERT(!kn_valid_stream(""));
  ASSERT(!kn_valid_stream("bad name"));
  ASSERT(!kn_valid_stream(NULL));
  ASSERT(kn_valid_hash_key("0"));
  ASSERT(kn_valid_hash_key("340282366920938463463374607431768211455"));
  ASSERT(!kn_valid_hash_key("340282366920938463463374607431768211456"));
  ASSERT(!kn_valid_hash_key("01"));
  ASSERT(!kn_valid_hash_key("-1"));
  ASSERT(!kn_valid_hash_key(""));
  ASSERT(!kn_valid_hash_key("1234567890123456789012345678901234567890"));
  ASSERT(kn_valid_partition_key("k", 1));
  ASSERT(!kn_valid_partition_key("", 0));
  ASSERT(!kn_valid_partition_key("\xff", 1));
  ASSERT(!kn_valid_partition_key("\xc0\x80", 2));     /* overlong */
  ASSERT(!kn_valid_partition_key("\xed\xa0\x80", 3)); /* surrogate */
  ASSERT(!kn_valid_partition_key("a\xe2\x82", 3));    /* cut short */
  ASSERT(kn_valid_partition_key("\xe2\x82\xac", 3));  /* U+20AC */
  {
    unsigned cp = 0;
    ASSERT_EQ(1, kn_utf8_char((const unsigned char*) "A", 1, &cp));
    ASSERT_EQ(0x41, cp);
    ASSERT_EQ(2, kn_utf8_char((const unsigned char*) "\xc3\xa9x", 3, &cp));
    ASSERT_EQ(0xE9, cp);
    ASSERT_EQ(4, kn_utf8_char((const unsigned char*) "\xf4\x8f\xbf\xbf", 4,
                              &cp));
    ASSERT_EQ(0x10FFFF, cp);
    ASSERT_EQ(0, kn_utf8_char((const unsigned char*) "\xf4\x90\x80\x80", 4,
                              &cp)); /* past U+10FFFF */
    ASSERT_EQ(0, kn_utf8_char((const unsigned char*) "\xe2\x82\xac", 2,
                              &cp)); /* the bytes end inside it */
    ASSERT_EQ(0, kn_utf8_char((const unsigned char*) "\x80", 1, &cp));
    ASSERT_EQ(0, kn_utf8_char((const unsigned char*) "", 0, &cp));
  }
  {
    char key[1100];
    size_t i;
    memset(key, 'a', 257);
    ASSERT(kn_valid_partition_key(key, 256));
    ASSERT(!kn_valid_partition_key(key, 257));
    /* 128 U+1F600 are 256 UTF-16 units; 129 are too many. */
    for (i = 0; i < 129; i++)
      memcpy(key + 4 * i, "\xf0\x9f\x98\x80", 4);
    ASSERT(kn_valid_partition_key(key, 128 * 4));
    ASSERT(!kn_valid_partition_key(key, 129 * 4));
  }
  ASSERT(kn_valid_sequence_number("49590338271490256608559692538361571095921575989136588898"));
  ASSERT(!kn_valid_sequence_number("12a"));
  ASSERT(!kn_valid_sequence_number(""));
  /* As long as the API allows, 129 digits, and no longer: what an answer
   * may carry can be checkpointed and asked for again. */
  {
    char seq[131];
    memset(seq, '9', 130);
    seq[130] = '\0';
    ASSERT(!kn_valid_sequence_number(seq));
    ASSERT(!kn_valid_sequence_number_strict(seq));
    seq[129] = '\0';
    ASSERT(kn_valid_sequence_number(seq));
    ASSERT(kn_valid_sequence_number_strict(seq));
  }
  ASSERT(kn_valid_sequence_number_strict("0"));
  ASSERT(kn_valid_sequence_number_strict(
      "49590338271490256608559692538361571095921575989136588898"));
  ASSERT(!kn_valid_sequence_number_strict("00"));
  ASSERT(!kn_valid_sequence_number_strict("012"));
  ASSERT(!kn_valid_sequence_number_strict(""));
  ASSERT(!kn_valid_sequence_number_strict(NULL));
  ASSERT(!kn_valid_sequence_number_strict("1 "));
  /* Digits are checked eight at a time: a byte just outside '0'..'9', or
   * one whose +6 carries into the next, is caught at every offset. */
  {
    static const char bad[] = {'/', ':', '?', '@', ' ', '\x7f', '\xfa', '\xff'};
    char seq[32];
    size_t at;
    size_t k;
    for (at = 0; at < 24; at++)
      for (k = 0; k < sizeof(bad); k++) {
        memset(seq, '7', 24);
        seq[24] = '\0';
        ASSERT(kn_valid_sequence_number_strict(seq));
        seq[at] = bad[k];
        ASSERT(!kn_valid_sequence_number_strict(seq));
        ASSERT(!kn_valid_sequence_number_strict_len(seq, 24));
        ASSERT(!kn_valid_sequence_number(seq));
      }
  }
}


static void test_backoff(void) {
  kn_retry_policy_t p = {5, 100, 1000};
  uint64_t rng = 12345;
  uint32_t attempt;
  int i;
  for (attempt = 1; attempt <= 8; attempt++) {
    uint64_t ceiling = 100;
    uint64_t seen_max = 0;
    uint32_t k;
    for (k = 1; k < attempt; k++)
      ceiling = ceiling * 2 > 1000 ? 1000 : ceiling * 2;
    for (i = 0; i < 2000; i++) {
      uint64_t d = kn_retry_backoff_ms(&p, attempt, &rng);
      ASSERT_LE(d, ceiling);
      if (d > seen_max)
        seen_max = d;
    }
    /* Full jitter spreads over the whole range. */
    ASSERT_GT(seen_max, ceiling / 2);
  }
}


KN_TEST_MAIN(KN_TEST(test_error_namespaced_type),
             KN_TEST(test_error_capital_message),
             KN_TEST(test_error_header_wins),
             KN_TEST(test_error_signature_mismatch_cut),
             KN_TEST(test_error_empty_and_non_json),
             KN_TEST(test_summary_lenient),
             KN_TEST(test_list_shards), KN_TEST(test_get_records),
             KN_TEST(test_subscribe_event), KN_TEST(test_consumers),
             KN_TEST(test_dynamodb),
             KN_TEST(test_put_records_answer),
             KN_TEST(test_scanner_escapes_and_unknowns),
             KN_TEST(test_scanner_word_boundaries),
             KN_TEST(test_get_records_takes_the_buffer), KN_TEST(test_encode_requests),
             KN_TEST(test_credentials_document), KN_TEST(test_iso8601),
             KN_TEST(test_validate), KN_TEST(test_backoff),
             KN_TEST(test_list_shards_refuses_bad_numbers),
             KN_TEST(test_get_records_refuses_bad_numbers),
             KN_TEST(test_get_records_limits),
             KN_TEST(test_put_records_entry_count),
             KN_TEST(test_hot_parsers_empty_body),
             KN_TEST(test_get_records_millis_behind_range),
             KN_TEST(test_get_records_child_shards_twice),
             KN_TEST(test_scanner_pretty_printed))
