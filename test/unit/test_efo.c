/*
 * What a SubscribeToShard stream says (lib/efo.h): messages made with the
 * event-stream encoder, decoded, then read as the initial response, an
 * event (records, continuation, the shard's end), an event of a type not
 * known, an exception or an error (each with the library's error), and the
 * messages that are none of these.
 */

#include "harness.h"

#include <string.h>

#include "efo.h"

/* The last message decoded, read. */
static kn_efo_message_t msg;
static kn_parsed_t parsed;
static int status;


static int on_message(void* arg, const kn_es_message_t* m) {
  (void) arg;
  kn_parsed_free(&parsed);
  status = kn_efo_read_message(m, &msg, &parsed);
  return 0;
}


/* A message with up to three STRING headers (name, value pairs; NULL ends
 * them) and `payload`, through the encoder and the decoder. */
static void read_message(const char* payload, const char* n1, const char* v1,
                         const char* n2, const char* v2, const char* n3,
                         const char* v3) {
  const char* names[3] = {n1, n2, n3};
  const char* values[3] = {v1, v2, v3};
  kn_es_header_t h[3];
  kn_buf_t out = KN_BUF_INIT;
  kn_es_decoder_t d;
  size_t n = 0;
  size_t i;

  memset(h, 0, sizeof(h));
  for (i = 0; i < 3 && names[i] != NULL; i++) {
    h[n].name = kn_cursor_from_str(names[i]);
    h[n].type = KN_ES_STRING;
    h[n].bytes = kn_cursor_from_str(values[i]);
    n++;
  }
  ASSERT_OK(kn_es_encode(&out, h, n, (const uint8_t*) payload,
                         strlen(payload)));
  kn_es_decoder_init(&d);
  status = -1;
  ASSERT_OK(kn_es_decoder_feed(&d, out.data, out.len, on_message, NULL));
  ASSERT(status != -1);
  kn_es_decoder_free(&d);
  kn_buf_free(&out);
}


static void test_events(void) {
  read_message("{}", ":message-type", "event", ":event-type",
               "initial-response", NULL, NULL);
  ASSERT_OK(status);
  ASSERT_EQ(KN_EFO_INITIAL_RESPONSE, msg.kind);

  read_message("{\"Records\":[{\"SequenceNumber\":\"5\",\"Data\":\"aGk=\","
               "\"PartitionKey\":\"k\",\"ApproximateArrivalTimestamp\":1}],"
               "\"ContinuationSequenceNumber\":\"5\","
               "\"MillisBehindLatest\":7}",
               ":message-type", "event", ":event-type",
               "SubscribeToShardEvent", ":content-type", "application/json");
  ASSERT_OK(status);
  ASSERT_EQ(KN_EFO_EVENT, msg.kind);
  ASSERT_EQ(1, parsed.nrecords);
  ASSERT_MEM_EQ("hi", parsed.records[0].data, 2);
  ASSERT_STR_EQ("5", parsed.continuation_sequence_number);
  ASSERT_EQ(7, parsed.millis_behind_latest);

  /* The shard's end: no continuation, the children. */
  read_message("{\"Records\":[],\"MillisBehindLatest\":0,\"ChildShards\":"
               "[{\"ShardId\":\"shardId-2\",\"ParentShards\":[\"shardId-0\"],"
               "\"HashKeyRange\":{\"StartingHashKey\":\"0\","
               "\"EndingHashKey\":\"9\"}}]}",
               ":message-type", "event", ":event-type",
               "SubscribeToShardEvent", NULL, NULL);
  ASSERT_OK(status);
  ASSERT_NULL(parsed.continuation_sequence_number);
  ASSERT_EQ(1, parsed.nchild_shards);

  /* A type of event not known: skipped, not an error. */
  read_message("{}", ":message-type", "event", ":event-type", "NewEvent",
               NULL, NULL);
  ASSERT_OK(status);
  ASSERT_EQ(KN_EFO_UNKNOWN_EVENT, msg.kind);
}


static void test_exceptions_and_errors(void) {
  read_message("{\"message\":\"Another active subscription exists\"}",
               ":message-type", "exception", ":exception-type",
               "ResourceInUseException", NULL, NULL);
  ASSERT_OK(status);
  ASSERT_EQ(KN_EFO_ERROR, msg.kind);
  ASSERT_EQ(KINESIS_EINUSE, msg.status);
  ASSERT_STR_EQ("ResourceInUseException", msg.error.code);
  ASSERT_STR_EQ("Another active subscription exists", msg.error.message);

  read_message("{\"message\":\"Rate exceeded\"}", ":message-type",
               "exception", ":exception-type",
               "ProvisionedThroughputExceededException", NULL, NULL);
  ASSERT_EQ(KINESIS_ETHROUGHPUT, msg.status);
  read_message("{}", ":message-type", "exception", ":exception-type",
               "ResourceNotFoundException", NULL, NULL);
  ASSERT_EQ(KINESIS_ENOTFOUND, msg.status);
  ASSERT_EQ(0, msg.error.has_message);

  /* An error message: its code and text in headers. */
  read_message("", ":message-type", "error", ":error-code",
               "InternalFailure", ":error-message", "the service failed");
  ASSERT_OK(status);
  ASSERT_EQ(KN_EFO_ERROR, msg.kind);
  ASSERT_EQ(KINESIS_ESERVICE, msg.status);
  ASSERT_STR_EQ("InternalFailure", msg.error.code);
  ASSERT_STR_EQ("the service failed", msg.error.message);
  read_message("", ":message-type", "error", NULL, NULL, NULL, NULL);
  ASSERT_EQ(KN_EFO_ERROR, msg.kind);
  ASSERT_EQ(KINESIS_ESERVICE, msg.status);
}


static void test_refusals(void) {
  read_message("{}", ":event-type", "SubscribeToShardEvent", NULL, NULL,
               NULL, NULL);
  ASSERT_EQ(KINESIS_EPROTO, status);
  ASSERT_STR_EQ("SubscribeToShard: a message without :message-type event, "
                "exception or error",
                msg.error.message);
  read_message("{}", ":message-type", "event", NULL, NULL, NULL, NULL);
  ASSERT_EQ(KINESIS_EPROTO, status);
  ASSERT_STR_EQ("SubscribeToShard: an event without :event-type",
                msg.error.message);
  read_message("not json", ":message-type", "event", ":event-type",
               "SubscribeToShardEvent", NULL, NULL);
  ASSERT_EQ(KINESIS_EPROTO, status);
  ASSERT(msg.error.has_message);
  read_message("{\"Records\":[],\"ContinuationSequenceNumber\":\"x1\"}",
               ":message-type", "event", ":event-type",
               "SubscribeToShardEvent", NULL, NULL);
  ASSERT_EQ(KINESIS_EPROTO, status);
  ASSERT_STR_EQ("SubscribeToShardEvent: ContinuationSequenceNumber is not a "
                "sequence number",
                msg.error.message);
  kn_parsed_free(&parsed);
}


KN_TEST_MAIN(KN_TEST(test_events), KN_TEST(test_exceptions_and_errors),
             KN_TEST(test_refusals))
