#ifndef KN_SVC_H
#define KN_SVC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/*
 * The fake Kinesis service's model and operations (issue 18): streams,
 * shards, records, sequence numbers and iterators, and the JSON operations
 * on them. No I/O and no loop: the HTTP front (serve.c) hands each request
 * here and writes the reply back. Time is what the caller says it is
 * (`now_ms`, epoch milliseconds), so a test can move the clock.
 *
 * The one seam between the front and the model is kn_svc_handle(): a
 * request in (its X-Amz-Target and body), a reply out (an HTTP status, an
 * error type for errors, a JSON body).
 */

typedef struct kn_svc_s kn_svc_t;

typedef struct kn_svc_options_s {
  const char* region;     /* for ARNs; NULL: "us-east-1" */
  const char* account_id; /* for ARNs; NULL: "000000000000" */
  /* How long a new, deleted or resharded stream stays CREATING, DELETING
   * or UPDATING before the change is done, in ms; 0: at once. */
  uint32_t transition_ms;
  /* Kinesis's throughput limits, per shard, each on unless its bit is set
   * here (0: all on). See KN_SVC_LIMIT_* below. */
  unsigned limits_off;
} kn_svc_options_t;

/*
 * The throughput limits, by the clock the model is given (now_ms). Each
 * is a token bucket per shard that holds one second of its rate and
 * refills continuously, by the millisecond: a client that never asks more
 * than the rate in any second (counted from any millisecond) is never
 * throttled, and a burst past one second's worth is, at once.
 *
 *   KN_SVC_LIMIT_WRITES: PutRecord and PutRecords, 1,000 records and
 *     1 MiB (data and partition key) a second per shard. A record that
 *     does not fit fails alone: PutRecord with 400
 *     ProvisionedThroughputExceededException, a PutRecords entry with
 *     that ErrorCode inside the 200 answer (FailedRecordCount counts it;
 *     the entries after it are still tried). A record larger than a
 *     second's bytes (a stream of larger records) passes when the shard
 *     has written nothing for a second, and the shard owes the rest.
 *   KN_SVC_LIMIT_READS: GetRecords, 5 calls and 2 MiB a second per shard.
 *     A call is let in while the shard has read budget left; what it
 *     returns (up to 10 MiB) is then taken from the budget, and an answer
 *     larger than what was left is owed whole: the shard's calls are
 *     throttled for its bytes at 2 MiB/s (1 s after 2 MiB, 5 s after
 *     10 MiB), as on AWS.
 *   KN_SVC_LIMIT_ITERATORS: GetShardIterator, 5 calls a second per shard.
 *
 * A throttled call takes nothing from the buckets.
 */
#define KN_SVC_LIMIT_WRITES 1u
#define KN_SVC_LIMIT_READS 2u
#define KN_SVC_LIMIT_ITERATORS 4u
#define KN_SVC_LIMITS_ALL 7u

#define KN_SVC_WRITE_RECORDS_PER_S 1000
#define KN_SVC_WRITE_BYTES_PER_S (1024 * 1024)
#define KN_SVC_READ_CALLS_PER_S 5
#define KN_SVC_READ_BYTES_PER_S (2 * 1024 * 1024)
#define KN_SVC_ITERATOR_CALLS_PER_S 5

typedef struct kn_svc_reply_s {
  int status; /* HTTP status: 200, 400, 500 */
  /* An error's __type (ResourceNotFoundException, ...); NULL on success.
   * Static: it needs no freeing. */
  const char* error_type;
  /* The JSON body: the answer, or {"__type": ..., "message": ...} for an
   * error. Empty (len 0) for actions with no output. The caller
   * initialises it with kn_buf_init() and frees it. */
  kn_buf_t body;
} kn_svc_reply_t;

/* A service with no streams. `opts` may be NULL (defaults). Returns 0,
 * KINESIS_EINVAL (a bad region or account, or a bit of limits_off that is
 * not a KN_SVC_LIMIT_*) or KINESIS_ENOMEM. */
int kn_svc_new(const kn_svc_options_t* opts, kn_svc_t** out);

void kn_svc_free(kn_svc_t* svc);

/*
 * Runs one request: `target` is the X-Amz-Target header's value
 * ("Kinesis_20131202.PutRecords"), `body` the request's JSON. Fills
 * `reply` (its body already initialised by the caller). Returns 0, or
 * KINESIS_ENOMEM when the reply could not be built: the front then answers
 * 500 InternalFailure itself.
 *
 * Errors are replies, not return values: an unknown target is 400
 * UnknownOperationException, a body that is not a JSON object is 400
 * SerializationException, a missing or bad member is 400
 * ValidationException or InvalidArgumentException as the service says.
 */
int kn_svc_handle(kn_svc_t* svc, int64_t now_ms, const char* target,
                  const uint8_t* body, size_t len, kn_svc_reply_t* reply);

/*
 * SubscribeToShard (enhanced fan-out), which answers with a stream of
 * events instead of one reply: the front asks kn_svc_subscribe() with the
 * request, then kn_svc_sub_next() now and then for what to send.
 *
 * kn_svc_subscribe() returns 0 with `*out` set (the 200 and its events are
 * the caller's to send) or with `reply` filled and `*out` NULL (refused, as
 * kn_svc_handle() refuses: the consumer unknown or not ACTIVE, the shard
 * unknown, a subscription of this consumer to this shard already open,
 * which is ResourceInUseException), or KINESIS_ENOMEM.
 *
 * kn_svc_sub_next() appends to `out` the event-stream messages
 * (eventstream.h) due at `now_ms`: first the initial-response event; then a
 * SubscribeToShardEvent with the records that arrived since the last one
 * (at most 10,000 and 2 MiB an event), its ContinuationSequenceNumber and
 * MillisBehindLatest, or nothing when there is no record and the last event
 * went less than KN_SVC_SUB_HEARTBEAT_MS ago. It sets `*done` when the
 * subscription is over: at the end of a closed shard (its last event has
 * no ContinuationSequenceNumber, and has the ChildShards), 5 minutes after
 * it began, by the clock (no event), or with an exception event when its
 * stream or consumer has gone. Returns 0 or KINESIS_ENOMEM (then `out`
 * holds whole messages only). The events are not paced to a shard's
 * 2 MiB/s.
 *
 * kn_svc_sub_free() ends it: the consumer may subscribe to the shard again.
 * Subscriptions are freed before the service.
 */
#define KN_SVC_SUB_HEARTBEAT_MS 1000
#define KN_SVC_SUB_LIFETIME_MS (5 * 60 * 1000)
typedef struct kn_svc_sub_s kn_svc_sub_t;
int kn_svc_subscribe(kn_svc_t* svc, int64_t now_ms, const uint8_t* body,
                     size_t len, kn_svc_reply_t* reply, kn_svc_sub_t** out);
int kn_svc_sub_next(kn_svc_t* svc, kn_svc_sub_t* sub, int64_t now_ms,
                    kn_buf_t* out, int* done);
void kn_svc_sub_free(kn_svc_t* svc, kn_svc_sub_t* sub);

/*
 * Partial failures of PutRecords, a fault (serve_fault.c): `cb` is asked
 * once for each entry, in order, once every entry of a request has passed
 * its checks, and returns NULL to store the entry or the ErrorCode to fail
 * it with ("ProvisionedThroughputExceededException" or "InternalFailure",
 * static). A failed entry is not stored and counts in FailedRecordCount.
 * The model draws nothing itself: what decides is the caller's. `cb` NULL
 * (the default): every entry is stored.
 */
typedef const char* (*kn_svc_entry_fault_cb)(void* arg);
void kn_svc_set_entry_fault(kn_svc_t* svc, kn_svc_entry_fault_cb cb,
                            void* arg);

/*
 * The admin request LibkinesisServe.SetFaults (kinesis/testing.h): its
 * JSON body read into `out` (every member optional, absent 0). Returns 0
 * with `out` filled and `reply` untouched; KN_SVC_BAD_FAULTS with `reply`
 * holding the 400 error (SerializationException, ValidationException); or
 * KINESIS_ENOMEM. Read here because only the operation files read JSON.
 */
typedef struct kn_svc_faults_s {
  double throttle;
  double error_5xx;
  double partial;
  double drop_before;
  double drop_after;
  uint32_t latency_ms;
  uint64_t seed;
} kn_svc_faults_t;

#define KN_SVC_BAD_FAULTS 1
int kn_svc_read_faults(const uint8_t* body, size_t len, kn_svc_faults_t* out,
                       kn_svc_reply_t* reply);

/*
 * Scheduled reshards (issue 18's last fault): a stream resharded at a time
 * of the model's clock, without a client asking.
 *
 * kn_svc_schedule_reshard() keeps a schedule: stream `stream` (a name of
 * [a-zA-Z0-9_.-]{1,128}; it need not exist yet) resharded to `target`
 * open shards at `at_ms` (epoch ms, the clock kn_svc_handle() is given),
 * and, when `every_ms` is not 0, again every `every_ms` after that,
 * alternating between `target` and the stream's open shard count just
 * before the schedule's first reshard (so a soak test reshards up and
 * down forever). Returns 0, KINESIS_EINVAL (a NULL `svc` or `stream`, a
 * bad name, a negative `at_ms`, `target` 0 or over KN_SVC_MAX_OPEN_SHARDS,
 * `every_ms` past INT64_MAX) or KINESIS_ENOMEM.
 *
 * kn_svc_handle() applies them before it runs each request (after the
 * stream states' transitions), in the order they were made: each schedule
 * whose time has come (now_ms >= its time) acts on its stream as
 * UpdateShardCount with UNIFORM_SCALING would, by the same code and the
 * same rules (at most double and at least half the open shards, at most
 * KN_SVC_MAX_OPEN_SHARDS), and the stream is then UPDATING for
 * transition_ms as after that call. A stream that is CREATING or UPDATING
 * is waited for: the schedule stays due and applies at the first request
 * that finds it ACTIVE. A stream that does not exist or is DELETING, or a
 * count the rules refuse, makes that time skipped: nothing happens, the
 * skip is counted (kn_svc_reshard_stats()), and the request goes on
 * unaffected. A schedule without a period is then gone, applied or
 * skipped; a repeating one moves to its next time after now_ms (times
 * missed meanwhile, when the clock jumped, make no reshard of their own),
 * and after a skip tries the same count again. A stream deleted and
 * created again under the name is the same stream to a schedule.
 *
 * kn_svc_cancel_reshards() drops every schedule of `stream` (NULL: of
 * every stream) and returns how many it dropped.
 *
 * Through kn_svc_handle(), the admin requests (no Kinesis operation):
 *   LibkinesisServe.ScheduleReshard {"StreamName": S, "TargetShardCount":
 *     N, "AfterMs": A, "EveryMs": E}: kn_svc_schedule_reshard() at
 *     now_ms + A (AfterMs and EveryMs optional, 0 when absent);
 *   LibkinesisServe.CancelReshards {"StreamName": S} (optional: all).
 * Each answers 200 {}; a body that is not an object or a member of the
 * wrong type 400 SerializationException, a missing or out-of-range member
 * or an unknown one 400 ValidationException, and nothing changes.
 */
int kn_svc_schedule_reshard(kn_svc_t* svc, const char* stream, int64_t at_ms,
                            uint32_t target, uint64_t every_ms);
size_t kn_svc_cancel_reshards(kn_svc_t* svc, const char* stream);

typedef struct kn_svc_reshard_stats_s {
  uint64_t applied; /* reshards the schedules made */
  uint64_t skipped; /* times skipped: no stream, or a count refused */
  size_t pending;   /* schedules kept */
} kn_svc_reshard_stats_t;
void kn_svc_reshard_stats(const kn_svc_t* svc, kn_svc_reshard_stats_t* out);

#endif /* KN_SVC_H */
