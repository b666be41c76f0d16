/*
 * Every parser of a Kinesis answer (lib/codec.h), fed what a hostile or
 * broken server might send. The low three bits of the first byte pick the
 * parser (6: a SubscribeToShardEvent's payload; 7: an error body with no
 * header, or with the high bit a consumer call's answer), its high bit
 * makes GetRecords and PutRecords take the buffer over, and the rest is the
 * body. What a parser accepts must also be sane:
 * the checks below abort (a crash for libFuzzer) when an accepted answer
 * breaks a promise that the client's callers rely on.
 */

#include "fuzz.h"
#include "codec.h"
#include "internal.h"
#include "validate.h"

#include <stdlib.h>
#include <string.h>

/* The API's limits (protocol.md section 4). */
#define MAX_RECORDS 10000
#define MAX_DATA (10 * 1024 * 1024)


static void check_shard(const kinesis_shard_t* s, int child) {
  CHECK(s->shard_id != NULL);
  if (!child) {
    CHECK(kn_valid_hash_key(s->starting_hash_key));
    CHECK(kn_valid_hash_key(s->ending_hash_key));
  }
  CHECK(s->starting_sequence_number == NULL ||
        kn_valid_sequence_number_strict(s->starting_sequence_number));
  CHECK(s->ending_sequence_number == NULL ||
        kn_valid_sequence_number_strict(s->ending_sequence_number));
}


static void check_get_records(const kn_parsed_t* p) {
  size_t i;
  CHECK(p->nrecords <= MAX_RECORDS);
  CHECK(p->nrecords == 0 || p->records != NULL);
  for (i = 0; i < p->nrecords; i++) {
    const kinesis_fetched_record_t* r = &p->records[i];
    CHECK(r->data != NULL || r->len == 0);
    CHECK(r->len <= MAX_DATA);
    CHECK(r->partition_key != NULL);
    CHECK(kn_valid_sequence_number_strict(r->sequence_number));
  }
  for (i = 0; i < p->nchild_shards; i++)
    check_shard(&p->child_shards[i], 1);
}


static void check_put_records(const kn_parsed_t* p, size_t expected) {
  size_t i;
  uint32_t failed = 0;
  CHECK(p->nput_entries == expected);
  for (i = 0; i < p->nput_entries; i++) {
    const kinesis_put_entry_result_t* e = &p->put_entries[i];
    if (e->error_code != NULL) {
      failed++;
    } else {
      CHECK(e->shard_id != NULL);
      CHECK(kn_valid_sequence_number_strict(e->sequence_number));
    }
  }
  CHECK(failed == p->failed_record_count);
}


/* The error parser takes an optional x-amzn-ErrorType header: here, the
 * text before the first newline when the body has one. */
static void parse_error(const uint8_t* body, size_t len) {
  kn_codec_error_t err;
  const uint8_t* nl = memchr(body, '\n', len);
  char* header = NULL;

  if (nl != NULL) {
    size_t hlen = (size_t) (nl - body);
    header = malloc(hlen + 1);
    if (header == NULL)
      return;
    memcpy(header, body, hlen);
    header[hlen] = '\0';
    len -= hlen + 1;
    body = nl + 1;
  }
  kn_codec_parse_error(body, len, header, &err);
  CHECK(!err.has_code || err.code[0] != '\0');
  CHECK(memchr(err.code, '\0', sizeof(err.code)) != NULL);
  CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
  free(header);
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kn_parsed_t p;
  kn_buf_t take = KN_BUF_INIT;
  const uint8_t* body;
  size_t len;
  size_t expected;
  size_t i;
  int r;

  if (size < 1)
    return 0;
  body = data + 1;
  len = size - 1;
  switch (data[0] & 0x07) {
    case 0:
      if (kn_codec_parse_summary(body, len, &p) == 0)
        CHECK(p.summary.stream_name != NULL && p.summary.stream_status != NULL);
      kn_parsed_free(&p);
      break;
    case 1:
      if (kn_codec_parse_list_shards(body, len, &p) == 0)
        for (i = 0; i < p.nshards; i++)
          check_shard(&p.shards[i], 0);
      kn_parsed_free(&p);
      break;
    case 2:
      if (kn_codec_parse_shard_iterator(body, len, &p) == 0)
        CHECK(p.shard_iterator != NULL);
      kn_parsed_free(&p);
      break;
    case 3:
      /* With the selector's high bit set, the parse takes over the
       * response's buffer, as lib/client_data.c does; otherwise it copies. */
      if (data[0] & 0x80) {
        if (kn_buf_append(&take, body, len) != 0)
          return 0;
        r = kn_codec_parse_get_records(take.data, take.len, &take, &p);
      } else {
        r = kn_codec_parse_get_records(body, len, NULL, &p);
      }
      if (r == 0)
        check_get_records(&p);
      kn_parsed_free(&p);
      kn_buf_free(&take);
      break;
    case 4:
      /* The next byte is the number of records the request carried. */
      if (len < 1)
        return 0;
      expected = body[0];
      body++;
      len--;
      if (data[0] & 0x80) {
        if (kn_buf_append(&take, body, len) != 0)
          return 0;
        r = kn_codec_parse_put_records(take.data, take.len, &take, expected,
                                       &p);
      } else {
        r = kn_codec_parse_put_records(body, len, NULL, expected, &p);
      }
      if (r == 0)
        check_put_records(&p, expected);
      kn_parsed_free(&p);
      kn_buf_free(&take);
      break;
    case 5:
      parse_error(body, len);
      break;
    case 6:
      /* A SubscribeToShardEvent's payload, scanned as GetRecords is: the
       * same promises, and a ContinuationSequenceNumber. */
      if (kn_codec_parse_subscribe_event(body, len, NULL, &p) == 0) {
        check_get_records(&p);
        CHECK(p.continuation_sequence_number == NULL ||
              kn_valid_sequence_number_strict(p.continuation_sequence_number));
        CHECK(p.next_shard_iterator == NULL);
      }
      kn_parsed_free(&p);
      break;
    default:
      if (data[0] & 0x80) {
        /* The consumer calls of enhanced fan-out: one consumer (0x87), or
         * a listing (0xc7). */
        r = (data[0] & 0x40)
                ? kn_codec_parse_list_consumers(body, len, &p)
                : kn_codec_parse_consumer(body, len, "Consumer", &p);
        if (r == 0)
          for (i = 0; i < p.nconsumers; i++)
            CHECK(p.consumers[i].consumer_name != NULL &&
                  p.consumers[i].consumer_arn != NULL &&
                  p.consumers[i].consumer_status != NULL);
        kn_parsed_free(&p);
      } else {
        /* Without a header, whatever the body holds. */
        kn_codec_error_t err;
        kn_codec_parse_error(body, len, NULL, &err);
      }
      break;
  }
  return 0;
}
