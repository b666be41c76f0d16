#ifndef KN_SVC_INTERNAL_H
#define KN_SVC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "svc.h"
#include "svc_store.h"

/* What the fake service's files share: the object, the JSON writer the
 * replies are built with, and the operations (svc_ops.c). */

/* A scheduled reshard (svc.h, svc_reshard.c). */
typedef struct kn_svc_sched_s {
  char stream[KN_SVC_NAME_MAX + 1];
  int64_t at_ms; /* Its next time. */
  uint64_t every_ms; /* 0: once. */
  uint32_t target;
  uint32_t from; /* The open shards before its first reshard; 0 till then. */
  int to_target; /* The next reshard goes to `target` (else to `from`). */
} kn_svc_sched_t;

struct kn_svc_s {
  char* region;
  char* account_id;
  unsigned limits_off; /* KN_SVC_LIMIT_* bits: those limits are off. */
  kn_svc_store_t store;
  kn_svc_entry_fault_cb entry_fault; /* kn_svc_set_entry_fault() */
  void* entry_fault_arg;
  kn_svc_sched_t* scheds; /* In the order they were made. */
  size_t nscheds;
  size_t scheds_cap;
  uint64_t reshards_applied;
  uint64_t reshards_skipped;
  struct kn_svc_sub_s* subs; /* The open subscriptions (svc_consumers.c). */
};

/* svc_ops.c answers a request with 0 (reply filled), KN_SVC_REPLIED is
 * what its helpers return once they have written an error reply, and
 * KINESIS_ENOMEM stops everything. */
#define KN_SVC_REPLIED 1

/*
 * A JSON text written straight into the reply's buffer, without a tree:
 * replies are built once, in order, and a GetRecords of 10,000 records
 * does not need 10,000 objects. The first failed append is kept in `err`
 * and every later call does nothing, so a reply is written without a
 * check per member and checked once at its end. `key` is a member name
 * inside an object, NULL inside an array or at the top.
 */
typedef struct kn_svc_out_s {
  kn_buf_t* b;
  int err;
  int first; /* Nothing written yet in the current object or array. */
} kn_svc_out_t;

void kn_svc_out_init(kn_svc_out_t* o, kn_buf_t* b);
void kn_svc_out_begin(kn_svc_out_t* o, const char* key);   /* { */
void kn_svc_out_end(kn_svc_out_t* o);                      /* } */
void kn_svc_out_array(kn_svc_out_t* o, const char* key);   /* [ */
void kn_svc_out_array_end(kn_svc_out_t* o);                /* ] */
void kn_svc_out_str(kn_svc_out_t* o, const char* key, const char* s);
void kn_svc_out_strn(kn_svc_out_t* o, const char* key, const char* s,
                     size_t n);
void kn_svc_out_int(kn_svc_out_t* o, const char* key, int64_t v);
void kn_svc_out_bool(kn_svc_out_t* o, const char* key, int v);
/* Epoch seconds with milliseconds, as the service writes timestamps. */
void kn_svc_out_time(kn_svc_out_t* o, const char* key, int64_t ms);
void kn_svc_out_base64(kn_svc_out_t* o, const char* key, const uint8_t* data,
                       size_t len);
/* The token's text as a string member. */
void kn_svc_out_token(kn_svc_out_t* o, const char* key,
                      const kn_svc_token_t* t);

/* Writes a 400 error reply: `type` (static) and a message. Returns
 * KN_SVC_REPLIED, or KINESIS_ENOMEM. */
int kn_svc_error(kn_svc_reply_t* reply, const char* type, const char* fmt,
                 ...) __attribute__((format(printf, 3, 4)));

/* ---- the throughput limits (svc.h), in svc_limits.c ---- */

/* 1 when `cost` units fit in bucket `b` of `rate` units a second at
 * `now`, after refilling it: when the bucket has room for them, or is
 * full (then any cost fits, and leaves a debt). Time that goes back
 * refills nothing. */
int kn_svc_bucket_fits(kn_svc_bucket_t* b, int64_t rate, int64_t cost,
                       int64_t now);
/* Spends `cost` units (after kn_svc_bucket_fits() at the same `now`). */
void kn_svc_bucket_take(kn_svc_bucket_t* b, int64_t cost);

/* Each returns 1 when the call may go on, having taken its share of the
 * shard's limits (or when those limits are off), and 0 when the shard is
 * over them (nothing taken). A record of `bytes` (data and key): */
int kn_svc_admit_write(kn_svc_t* svc, kn_svc_shard_t* sh, size_t bytes,
                       int64_t now);
/* A GetRecords call, let in while the shard has calls and bytes left... */
int kn_svc_admit_read(kn_svc_t* svc, kn_svc_shard_t* sh, int64_t now);
/* ...whose answer's `bytes` are then taken; past the budget, they are owed
 * whole (bytes / rate seconds of throttling). */
void kn_svc_read_bytes(kn_svc_t* svc, kn_svc_shard_t* sh, size_t bytes);
/* A GetShardIterator call. */
int kn_svc_admit_iterator(kn_svc_t* svc, kn_svc_shard_t* sh, int64_t now);

/* "Rate exceeded for shard ID in stream NAME under account ACCOUNT.", as
 * the service says it in PutRecord's error and a PutRecords entry alike;
 * `size` of KN_SVC_RATE_MESSAGE_MAX always holds it. */
#define KN_SVC_RATE_MESSAGE_MAX (KN_SVC_NAME_MAX + KN_SVC_SHARD_ID_MAX + 96)
void kn_svc_rate_message(const kn_svc_t* svc, const kn_svc_stream_t* s,
                         const kn_svc_shard_t* sh, char* buf, size_t size);
/* The 400 ProvisionedThroughputExceededException reply. Returns
 * KN_SVC_REPLIED or KINESIS_ENOMEM. */
int kn_svc_throttled(const kn_svc_t* svc, kn_svc_reply_t* reply,
                     const kn_svc_stream_t* s, const kn_svc_shard_t* sh);

/* ---- reshards: UpdateShardCount's and the schedules' (svc_reshard.c) ---- */

/* UpdateShardCount's rules for one call on a stream of `open` open shards:
 * 0 when `target` is allowed; KN_SVC_SCALE_RANGE when it is not within
 * half and double `open`; KN_SVC_SCALE_LIMIT when it is over
 * KN_SVC_MAX_OPEN_SHARDS. */
#define KN_SVC_SCALE_RANGE 1
#define KN_SVC_SCALE_LIMIT 2
int kn_svc_scale_check(size_t open, uint64_t target);
/* UNIFORM_SCALING to `target` (checked), and the stream UPDATING. Returns 0
 * or KINESIS_ENOMEM. */
int kn_svc_scale(kn_svc_t* svc, kn_svc_stream_t* s, uint32_t target,
                 int64_t now);
/* Applies the schedules due at `now` (svc.h). */
void kn_svc_reshards_tick(kn_svc_t* svc, int64_t now);

/* The operations, by name ("PutRecords"); -1 for none. `admin`: the
 * service's own requests (LibkinesisServe.*) rather than Kinesis's. */
int kn_svc_op_find(const char* name, int admin);
/* Runs operation `op` on the body. Returns 0 or KINESIS_ENOMEM. */
int kn_svc_op_run(kn_svc_t* svc, int op, int64_t now, const uint8_t* body,
                  size_t len, kn_svc_reply_t* reply);

#endif /* KN_SVC_INTERNAL_H */
