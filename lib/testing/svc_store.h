#ifndef KN_SVC_STORE_H
#define KN_SVC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "shardmap.h"

/*
 * The fake service's model (issue 18): streams, shards, records, sequence
 * numbers, iterators and paging tokens. No JSON and no I/O: svc_ops.c
 * reads requests and writes replies around these calls. Time is always the
 * caller's `now` (epoch ms).
 *
 * Sequence numbers. Every record, and every shard's opening, takes its
 * own place on one counter that the whole service shares and that never
 * goes back, not even when a stream is deleted. A sequence number is
 * that counter and the shard's index, in decimal, at fixed widths:
 *
 *   "4" | counter, 20 digits | shard index, 10 digits     (31 digits)
 *
 * The leading 4 keeps the first digit non-zero, so every sequence number
 * has the same length and comparing two as strings, or as big integers
 * (length first), is comparing their counters first: they increase within
 * a shard (and across the stream, in arrival order), and the shard index
 * keeps a shard's EndingSequenceNumber, which shares the counter's value
 * at its closing, apart from another shard's record. 31 digits is more
 * than a 64-bit integer holds, as on AWS (56 digits there), so a client
 * that parses them into one breaks here too. A shard's
 * StartingSequenceNumber is its opening's place (below each of its
 * records); its EndingSequenceNumber the counter when it was closed (at
 * or above each of them). A counter from before a
 * stream was created again under its name is below every shard of the new
 * one, so an old sequence number is refused.
 *
 * Iterators and paging tokens are base64 of a small binary (svc_store.c,
 * kn_svc_token_encode): their kind, the stream's incarnation (a service-wide
 * count of streams created, so a token of a deleted and re-created stream
 * is refused), a shard index, a position, an argument, the time it was
 * issued and the stream name, closed by 4 bytes of MD5 so that garbage is
 * told apart from a token.
 */

#define KN_SVC_SEQ_LEN 31
#define KN_SVC_SHARD_ID_MAX 24
#define KN_SVC_NAME_MAX 128
/* Iterators and tokens expire after 5 minutes (protocol.md section 2). */
#define KN_SVC_TOKEN_TTL_MS (5 * 60 * 1000)
/* A guard, not an AWS quota: more open shards than this in one stream is
 * LimitExceededException, so a typo cannot make the fake allocate
 * millions of shards. */
#define KN_SVC_MAX_OPEN_SHARDS 10000

typedef enum {
  KN_SVC_CREATING,
  KN_SVC_ACTIVE,
  KN_SVC_UPDATING,
  KN_SVC_DELETING
} kn_svc_status_t;

typedef struct kn_svc_record_s {
  uint64_t counter; /* Its place on the service's counter. */
  int64_t arrival_ms;
  size_t key_len;
  size_t data_len;
  char* key;     /* Points into the same allocation, NUL-terminated. */
  uint8_t* data; /* Likewise, after the key. */
} kn_svc_record_t;

/* A token bucket of the throughput limits (svc.h, svc_limits.c): how much of one
 * second's allowance has been spent, in thousandths of its unit (a record,
 * a byte, a call), as of `at_ms`. A unit a second refills a thousandth a
 * millisecond, so the refill is exact. All zero: full. It may be spent
 * past its depth (a debt), which the refill pays back first. */
typedef struct kn_svc_bucket_s {
  int64_t spent;
  int64_t at_ms;
} kn_svc_bucket_t;

typedef struct kn_svc_shard_s {
  uint32_t index; /* Its place in the stream's shards; its id's number. */
  char id[KN_SVC_SHARD_ID_MAX];
  kn_hash_key_t start;
  kn_hash_key_t end;
  int64_t parent;          /* Index of ParentShardId, or -1. */
  int64_t adjacent_parent; /* Index of AdjacentParentShardId, or -1. */
  uint64_t start_counter;
  uint64_t end_counter; /* Meaningful when closed. */
  int closed;
  int64_t created_ms;
  int64_t closed_ms;
  /* Records kept, oldest first, in recs[head, len). Trimming frees from
   * the head; the array is compacted when the head passes half of it. */
  kn_svc_record_t** recs;
  size_t head;
  size_t len;
  size_t cap;
  /* The throughput limits (svc.h), full when the shard opens. */
  kn_svc_bucket_t put_records;
  kn_svc_bucket_t put_bytes;
  kn_svc_bucket_t get_calls;
  kn_svc_bucket_t get_bytes;
  kn_svc_bucket_t iterator_calls;
} kn_svc_shard_t;

/* A consumer of enhanced fan-out (svc_consumers.c). */
typedef struct kn_svc_consumer_s {
  char name[KN_SVC_NAME_MAX + 1];
  int64_t created_ms;
  kn_svc_status_t status;  /* CREATING, ACTIVE or DELETING */
  int64_t status_until_ms; /* When a CREATING or DELETING ends. */
} kn_svc_consumer_t;

typedef struct kn_svc_stream_s {
  char name[KN_SVC_NAME_MAX + 1];
  uint64_t incarnation;
  kn_svc_status_t status;
  int64_t status_until_ms; /* When a CREATING, UPDATING or DELETING ends. */
  int on_demand;
  int retention_hours;
  int max_record_kib; /* Data and partition key of a record, at most. */
  int64_t created_ms;
  kn_svc_shard_t* shards; /* In index order; closed ones stay. */
  size_t nshards;
  size_t cap;
  kn_svc_consumer_t* consumers; /* In the order they were registered. */
  size_t nconsumers;
  size_t consumers_cap;
} kn_svc_stream_t;

typedef struct kn_svc_store_s {
  kn_svc_stream_t** streams; /* Sorted by name (ListStreams). */
  size_t nstreams;
  size_t cap;
  uint64_t counter;      /* The sequence counter (see above). */
  uint64_t incarnations; /* Streams ever created. */
  uint32_t transition_ms;
} kn_svc_store_t;

void kn_svc_store_init(kn_svc_store_t* st, uint32_t transition_ms);
void kn_svc_store_cleanup(kn_svc_store_t* st);

/* Ends the CREATING, UPDATING and DELETING states whose time has come
 * (a stream DELETING long enough is freed). */
void kn_svc_store_tick(kn_svc_store_t* st, int64_t now);

kn_svc_stream_t* kn_svc_stream_find(const kn_svc_store_t* st,
                                    const char* name);

/* A new stream of `nshards` shards splitting the hash key space evenly.
 * Returns 0, KINESIS_EALREADY (the name is taken) or KINESIS_ENOMEM. */
int kn_svc_stream_create(kn_svc_store_t* st, const char* name,
                         uint32_t nshards, int on_demand, int64_t now,
                         kn_svc_stream_t** out);

/* DELETING for transition_ms, or gone at once. */
void kn_svc_stream_delete(kn_svc_store_t* st, kn_svc_stream_t* s, int64_t now);

/* UPDATING for transition_ms after a change (nothing when it is 0). */
void kn_svc_stream_updated(kn_svc_store_t* st, kn_svc_stream_t* s,
                           int64_t now);

/* The shard named `id`, or NULL. A closed shard that has aged out of the
 * retention period counts as gone. */
kn_svc_shard_t* kn_svc_shard_find(const kn_svc_stream_t* s, const char* id,
                                  int64_t now);

/* 1 when the shard is closed and was closed longer ago than the
 * retention period: no longer listed nor readable, as on AWS. */
int kn_svc_shard_aged_out(const kn_svc_stream_t* s, const kn_svc_shard_t* sh,
                          int64_t now);

size_t kn_svc_stream_open_shards(const kn_svc_stream_t* s);

int64_t kn_svc_retention_ms(const kn_svc_stream_t* s);

/* Frees the shard's records older than the retention period. */
void kn_svc_shard_trim(const kn_svc_stream_t* s, kn_svc_shard_t* sh,
                       int64_t now);

/* The open shard whose range holds `key`; NULL only if the ranges had a
 * gap, which they never do. */
kn_svc_shard_t* kn_svc_route(kn_svc_stream_t* s, const kn_hash_key_t* key);

/* Appends a record to an open shard. Returns 0 or KINESIS_ENOMEM. */
int kn_svc_shard_put(kn_svc_store_t* st, const kn_svc_stream_t* s,
                     kn_svc_shard_t* sh, const char* key, size_t key_len,
                     const uint8_t* data, size_t data_len, int64_t now,
                     const kn_svc_record_t** out);

/* The index in recs of the first record kept whose counter is at least
 * `counter` (sh->len when none is). */
size_t kn_svc_shard_seek(const kn_svc_shard_t* sh, uint64_t counter);

/* The first kept record that arrived at or after `ms`, as a counter to
 * start from: its own, or one past the service's counter when none has. */
uint64_t kn_svc_shard_seek_time(const kn_svc_store_t* st,
                                const kn_svc_shard_t* sh, int64_t ms);

/* Splits open shard `sh` at `new_start` (start < new_start <= end: the
 * caller checks). Returns 0 or KINESIS_ENOMEM (nothing changed). */
int kn_svc_split(kn_svc_store_t* st, kn_svc_stream_t* s, size_t shard,
                 const kn_hash_key_t* new_start, int64_t now);

/* Merges open shards `a` and `b`, adjacent (the caller checks). Returns 0
 * or KINESIS_ENOMEM (nothing changed). */
int kn_svc_merge(kn_svc_store_t* st, kn_svc_stream_t* s, size_t a, size_t b,
                 int64_t now);

/* UNIFORM_SCALING to `target` open shards, as AWS does it: splits and
 * merges of the open shards, so every child has at most two parents and
 * ranges never gap. Returns 0 or KINESIS_ENOMEM (the stream may then be
 * partly rescaled, but consistent). */
int kn_svc_update_count(kn_svc_store_t* st, kn_svc_stream_t* s,
                        uint32_t target, int64_t now);

/* 1 when a and b are adjacent: one ends just before the other starts. */
int kn_svc_adjacent(const kn_svc_shard_t* a, const kn_svc_shard_t* b);

/* Sequence numbers (see above). format writes KN_SVC_SEQ_LEN digits and a
 * NUL; parse returns 0, or KINESIS_EINVAL when `seq` is not one of ours. */
void kn_svc_seq_format(uint64_t counter, uint32_t shard,
                       char out[KN_SVC_SEQ_LEN + 1]);
int kn_svc_seq_parse(const char* seq, uint64_t* counter, uint32_t* shard);

/* Hash keys: one past `k` and one before it (no wrap: the caller knows
 * k is not the last or first key). */
void kn_svc_key_inc(kn_hash_key_t* k);
void kn_svc_key_dec(kn_hash_key_t* k);

/* Iterators and paging tokens (see above). */
typedef enum {
  KN_SVC_TOKEN_ITERATOR = 'I',
  KN_SVC_TOKEN_SHARDS = 'S',
  KN_SVC_TOKEN_STREAMS = 'L',
  KN_SVC_TOKEN_CONSUMERS = 'C'
} kn_svc_token_kind_t;

typedef struct kn_svc_token_s {
  kn_svc_token_kind_t kind;
  uint64_t incarnation;
  uint32_t shard; /* Iterator: its shard; ListShards: the last listed. */
  uint64_t pos;   /* Iterator: the next counter; ListShards: filter type. */
  int64_t arg;    /* ListShards: the filter's time. */
  int64_t issued_ms;
  /* ListStreams: the last name listed; ListStreamConsumers: the last
   * consumer listed. */
  char name[KN_SVC_NAME_MAX + 1];
} kn_svc_token_t;

/* Appends the token's text to `out`. Returns 0 or KINESIS_ENOMEM. */
int kn_svc_token_encode(const kn_svc_token_t* t, kn_buf_t* out);
/* Returns 0, or KINESIS_EINVAL when `text` is not a token of `kind`. */
int kn_svc_token_decode(const char* text, size_t len,
                        kn_svc_token_kind_t kind, kn_svc_token_t* t);

#endif /* KN_SVC_STORE_H */
