#ifndef KN_SHARDMAP_H
#define KN_SHARDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "kinesis/client.h"

/*
 * Hash keys and the map from hash key to open shard (protocol.md section 5).
 * A hash key is a 128-bit unsigned integer, held as 16 big-endian bytes so
 * that memcmp() orders keys like numbers.
 */

#define KN_HASH_KEY_LEN 16
/* Decimal digits of 2^128-1, plus the NUL. */
#define KN_HASH_KEY_DECIMAL_MAX 40

typedef struct kn_hash_key_s {
  uint8_t b[KN_HASH_KEY_LEN];
} kn_hash_key_t;

/* MD5 of the partition key's bytes, read as a big-endian number. */
void kn_hash_key_from_partition_key(const char* key, size_t len,
                                    kn_hash_key_t* out);

/* A decimal string of at most 2^128-1 (0|[1-9][0-9]{0,38}). Returns 0 or
 * KINESIS_EINVAL, leaving `out` untouched. */
int kn_hash_key_parse(const char* decimal, kn_hash_key_t* out);

/* Writes the decimal form, NUL-terminated, into `out`; returns its length. */
size_t kn_hash_key_format(const kn_hash_key_t* key,
                          char out[KN_HASH_KEY_DECIMAL_MAX]);

int kn_hash_key_cmp(const kn_hash_key_t* a, const kn_hash_key_t* b);

/* The open shards of a stream, sorted by starting hash key. */
typedef struct kn_shardmap_s kn_shardmap_t;

/*
 * Builds a map from ListShards output. Closed shards (with an ending
 * sequence number) are left out. Shard ids are copied. Indexes follow the
 * starting hash keys and are valid for this map only. Returns 0,
 * KINESIS_EPROTO (a hash key that is not a valid decimal, a start after its
 * end, or overlapping open shards), KINESIS_EINVAL (NULL arguments) or
 * KINESIS_ENOMEM.
 */
int kn_shardmap_new(const kinesis_shard_t* shards, size_t n,
                    kn_shardmap_t** out);
void kn_shardmap_free(kn_shardmap_t* map);

/* Open shards in the map. */
size_t kn_shardmap_count(const kn_shardmap_t* map);

/* The index of the open shard whose range holds `key`, or -1 when no open
 * shard does (a gap, which a consistent stream never has). O(log n). */
int kn_shardmap_lookup(const kn_shardmap_t* map, const kn_hash_key_t* key);

/* The id of shard `index`; NULL when out of range. */
const char* kn_shardmap_shard_id(const kn_shardmap_t* map, size_t index);

/* The index of the shard named `shard_id`, or -1. */
int kn_shardmap_find(const kn_shardmap_t* map, const char* shard_id);

#endif /* KN_SHARDMAP_H */
