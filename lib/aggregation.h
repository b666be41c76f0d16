#ifndef KN_AGGREGATION_H
#define KN_AGGREGATION_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "shardmap.h"

/*
 * KPL aggregated records (protocol.md section 6, test/data/kpl/):
 *   F3 89 9A C2 | protobuf AggregatedRecord | MD5 of the protobuf (16 bytes)
 * AggregatedRecord { repeated string partition_key_table = 1;
 *                    repeated string explicit_hash_key_table = 2;
 *                    repeated Record records = 3; }
 * Record { required uint64 partition_key_index = 1;
 *          optional uint64 explicit_hash_key_index = 2;
 *          required bytes data = 3; repeated Tag tags = 4; }
 */

#define KN_AGG_MAGIC_LEN 4
#define KN_AGG_DIGEST_LEN 16
/* Magic and digest around the protobuf. */
#define KN_AGG_OVERHEAD (KN_AGG_MAGIC_LEN + KN_AGG_DIGEST_LEN)

/* Builds one aggregated record from user records, in order. Tables hold
 * each key once, in first-seen order, which reproduces the KPL's bytes. */
typedef struct kn_agg_s kn_agg_t;

int kn_agg_new(kn_agg_t** out);
void kn_agg_free(kn_agg_t* agg);
/* Empties the aggregate for reuse, keeping its memory. */
void kn_agg_reset(kn_agg_t* agg);

/* User records added so far. */
size_t kn_agg_count(const kn_agg_t* agg);

/* The size of the finished record (magic + protobuf + digest) if this user
 * record were added: for checking the budget before adding. `ehk` may be
 * NULL. SIZE_MAX for absurd lengths (over SIZE_MAX / 8). */
size_t kn_agg_size_with(const kn_agg_t* agg, const char* pk, size_t pk_len,
                        const char* ehk, size_t ehk_len, size_t data_len);

/* The size of the finished record as it stands. */
size_t kn_agg_size(const kn_agg_t* agg);

/* Adds a user record; the bytes are copied. `ehk` (decimal) may be NULL.
 * Returns 0 or KINESIS_ENOMEM, which leaves the aggregate unchanged. */
int kn_agg_add(kn_agg_t* agg, const char* pk, size_t pk_len, const char* ehk,
               size_t ehk_len, const uint8_t* data, size_t data_len);

/* Appends the finished record to `out`. The aggregate is left as it was.
 * Returns 0, KINESIS_EINVAL (empty aggregate) or KINESIS_ENOMEM. */
int kn_agg_finish(const kn_agg_t* agg, kn_buf_t* out);

/* One user record found in an aggregated record; pointers into the blob. */
typedef struct kn_deagg_record_s {
  const uint8_t* data;
  size_t len;
  const char* partition_key;      /* not NUL-terminated */
  size_t partition_key_len;
  const char* explicit_hash_key;  /* NULL when none; not NUL-terminated */
  size_t explicit_hash_key_len;
} kn_deagg_record_t;

/*
 * De-aggregates `blob` as the KCL does. Returns 1 with `*records` (kn_free
 * it) and `*n` set when it is a valid aggregated record; 0 when it must be
 * treated as a plain record (too short, no magic, nothing after the magic,
 * digest mismatch, protobuf that does not parse, an index outside its
 * table), in which case `*records` is NULL; or KINESIS_ENOMEM. Tags are
 * skipped. A valid aggregate of no records gives 1 with `*n` 0 and
 * `*records` NULL. Known fields with an unexpected wire type are skipped as
 * unknown ones, as protobuf-java (and so the KCL) does. The KCL's check of
 * each record's hash key against the shard's range is kn_deagg_in_range(),
 * which the consumer applies.
 */
int kn_deagg(const uint8_t* blob, size_t len, kn_deagg_record_t** records,
             size_t* n);

/*
 * The KCL's check of a de-aggregated record against the shard it was read
 * from (AggregatorUtil): 1 when the hash key of every user record, its
 * explicit hash key or else the MD5 of its partition key, lies in [start,
 * end]; 0 as soon as one does not. An explicit hash key that is not a
 * decimal of at most 2^128-1 (kn_hash_key_parse) counts as outside. No user
 * records gives 1. An aggregate that fails is dropped whole by the consumer:
 * the KPL sends every user record of it again, to the right shard.
 */
int kn_deagg_in_range(const kn_deagg_record_t* users, size_t n,
                      const kn_hash_key_t* start, const kn_hash_key_t* end);

#endif /* KN_AGGREGATION_H */
