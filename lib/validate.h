#ifndef KN_VALIDATE_H
#define KN_VALIDATE_H

#include <stddef.h>

/* Client-side checks of what Kinesis would refuse, so a bad argument is
 * refused at once with KINESIS_EINVAL (protocol.md section 4). Each returns
 * 1 when valid. The public kinesis_record_validate() (producer.h), which
 * validate.c defines, joins the partition and hash key checks for a record;
 * kinesis_producer_put() calls it. */

/* [a-zA-Z0-9_.-]{1,128}, or an ARN ("arn:" and at most 2048 characters). */
int kn_valid_stream(const char* stream);
/* [a-zA-Z0-9_.-]{1,128}. */
int kn_valid_shard_id(const char* shard_id);
/* "arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME/consumer/NAME:EPOCH",
 * as far as the API model's pattern goes, and at most 2048 characters. */
int kn_valid_consumer_arn(const char* arn);
/* The length in bytes (1 to 4) of the well-formed UTF-8 character that
 * starts the `len` bytes at `p`, and its code point in `*cp`; 0 when they do
 * not start with one (a stray or missing continuation byte, an overlong
 * form, a surrogate, a value past U+10FFFF, or `len` 0). */
size_t kn_utf8_char(const unsigned char* p, size_t len, unsigned* cp);
/* Well-formed UTF-8 of 1 to 256 UTF-16 code units, as both mocks count. */
int kn_valid_partition_key(const char* key, size_t len);
/* A tag key: well-formed UTF-8 of 1 to 128 characters. */
int kn_valid_tag_key(const char* key);
/* A tag value: NULL, empty, or well-formed UTF-8 of at most 256
 * characters. */
int kn_valid_tag_value(const char* value);
/* 0|[1-9][0-9]{0,38}, at most 2^128-1. */
int kn_valid_hash_key(const char* key);
/* A decimal string of 1 to 129 digits: as long as the API model's pattern,
 * 0|[1-9][0-9]{0,128}, allows. */
int kn_valid_sequence_number(const char* seq);
/* A sequence number as the API model defines it, 0|[1-9][0-9]{0,128}: what
 * the service's answers are checked against. Without leading zeros, two of
 * them compare as numbers by length, then byte by byte. */
int kn_valid_sequence_number_strict(const char* seq);
/* The same for `len` bytes at `seq`, whose length the caller knows. */
int kn_valid_sequence_number_strict_len(const char* seq, size_t len);
/* Not NULL and not empty: the checkpointers' names of streams, shards and
 * owners. */
static inline int kn_valid_nonempty(const char* s) {
  return s != NULL && s[0] != '\0';
}

#endif /* KN_VALIDATE_H */
