#ifndef KN_TEST_SVC_UTIL_H
#define KN_TEST_SVC_UTIL_H

#include "harness.h"

#include <jansson.h>

#include "shardmap.h"
#include "svc.h"
#include "svc_store.h"

/* Requests to a fake service (lib/testing/svc.h) through kn_svc_handle(),
 * for test_svc.c, test_svc_shards.c, test_svc_limits.c and
 * test_svc_reshard.c. One service at
 * a time, in the globals; each call replaces `rep`, so copy what must
 * outlive it. */

#define T0 INT64_C(1700000000000)
#define HOUR_MS INT64_C(3600000)
#define MAX_KEY "340282366920938463463374607431768211455"
#define HALF_KEY "170141183460469231731687303715884105728"
#define HALF_KEY_M1 "170141183460469231731687303715884105727"

extern kn_svc_t* svc;
extern int64_t now;      /* The clock every request is made at. */
extern int status;       /* The last reply's HTTP status... */
extern const char* etype; /* ...its error type (NULL on success)... */
extern json_t* rep;      /* ...and its body, parsed (NULL when empty). */

/* A new service (at T0) and its end. start() turns the throughput limits
 * off: the tests of everything else make many calls at one instant.
 * start_with() sets them (KN_SVC_LIMIT_* bits off; 0: all on). */
void start(uint32_t transition_ms);
void start_with(uint32_t transition_ms, unsigned limits_off);
void stop(void);

/* Sends raw bytes to a target; checks the error shape of a 400. */
json_t* raw(const char* target, const char* body, size_t len);
/* Calls operation `op` with `body` (stolen; json_pack's NULL fails). */
json_t* call(const char* op, json_t* body);
/* The last call succeeded / failed with `type`. */
void ok(void);
void err(const char* type);
/* A string member that must be there. */
const char* str(json_t* obj, const char* key);

/* CreateStream of `shards` shards, which must succeed. */
void create(const char* name, int shards);
/* Every shard ListShards gives (all pages of 3), as a new array; `filter`
 * (stolen) may be NULL. */
json_t* list_shards(const char* stream, json_t* filter);
json_t* find_shard(json_t* shards, const char* id);
int is_open(json_t* sh);
void range_of(json_t* sh, kn_hash_key_t* start, kn_hash_key_t* end);
int cmp_start(const void* a, const void* b);
/* The open shards cover [0, 2^128-1] with no gap and no overlap; returns
 * how many are open. */
size_t check_coverage(const char* stream);

/* Every child's parents are listed and closed, and its range is its
 * parent's part (a split) or its two adjacent parents' whole (a merge). */
void check_lineage(const char* stream);

const char* iterator(const char* stream, const char* shard, const char* type);
/* GetRecords (`limit` 0: none given); the iterator may point into `rep`. */
json_t* get_records(const char* it, int limit);
/* PutRecord; its sequence number and shard id to `seq` and `shard` when
 * not NULL. */
void put(const char* stream, const char* key, const char* data_b64, char* seq,
         char* shard);
/* Reads a shard from TRIM_HORIZON to its end, 2 records a call; returns
 * how many, and leaves the last reply (with ChildShards) in `rep`. */
size_t read_to_end(const char* stream, const char* shard);

#endif /* KN_TEST_SVC_UTIL_H */
