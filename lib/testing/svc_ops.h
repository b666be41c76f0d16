#ifndef KN_SVC_OPS_H
#define KN_SVC_OPS_H

#include <jansson.h>

#include "svc_internal.h"

/*
 * What the fake service's operation files share (svc_ops.c: reading
 * members, streams, stream management, listings, reshards, retention, the
 * admin requests and the dispatch; svc_data.c: GetShardIterator,
 * GetRecords, PutRecord and PutRecords; svc_consumers.c: the consumers of
 * enhanced fan-out). These are the service's only files that read JSON
 * (jansson), through this header.
 */

/* One request being answered. */
typedef struct req_s {
  kn_svc_t* svc;
  kn_svc_store_t* st;
  json_t* root;
  int64_t now;
  kn_svc_reply_t* reply;
} req_t;

/* What a call needs of a stream's status. AWS goes on reading and writing
 * while a stream is UPDATING (the model's UpdateShardCount text says so),
 * and refuses reshards and retention changes until it is ACTIVE. */
typedef enum { NEED_ANY, NEED_DATA, NEED_ACTIVE } need_t;

/* Parses `body` as a JSON object (SerializationException when it is not)
 * and runs `fn` on the request; returns 0 (reply filled) or KINESIS_ENOMEM,
 * as kn_svc_handle() does. */
int kn_svc_with_request(kn_svc_t* svc, int64_t now, const uint8_t* body,
                        size_t len, kn_svc_reply_t* reply,
                        int (*fn)(req_t* q, void* arg), void* arg);

/* ---- svc_ops.c's helpers that svc_data.c uses. The getters and the
 * error answers return 0, KN_SVC_REPLIED (the error is answered) or
 * KINESIS_ENOMEM. ---- */

int kn_svc_find_stream(req_t* q, need_t need, kn_svc_stream_t** out);
int kn_svc_finish(kn_svc_out_t* o);
int kn_svc_get_enum(req_t* q, json_t* obj, const char* name,
                    const char* const* values, const char* set, int required,
                    int* out);
int kn_svc_get_hash_key(req_t* q, json_t* obj, const char* name, int required,
                        kn_hash_key_t* key, int* present);
int kn_svc_get_int(req_t* q, json_t* obj, const char* name, int64_t lo,
                   int64_t hi, int64_t* out, int* present);
int kn_svc_get_name(req_t* q, json_t* obj, const char* name, int required,
                    const char** out);
int kn_svc_get_seq(req_t* q, json_t* obj, const char* name, const char** out);
int kn_svc_get_str(req_t* q, json_t* obj, const char* name, const char** out,
                   size_t* len);
int kn_svc_get_time(req_t* q, json_t* obj, const char* name, int64_t* ms,
                    int* present);
json_t* kn_svc_member(json_t* obj, const char* name);
int kn_svc_missing(req_t* q, const char* member);
int kn_svc_not_found(req_t* q, const char* name);
void kn_svc_out_range(kn_svc_out_t* o, const kn_svc_shard_t* sh);
/* "arn:aws:kinesis:REGION:ACCOUNT:stream/NAME" into `out`. */
void kn_svc_stream_arn(const req_t* q, const kn_svc_stream_t* s, char* out,
                       size_t size);
int kn_svc_read_arn(req_t* q, const char* arn, size_t len, const char** name);
int kn_svc_serialization(req_t* q, const char* member);
const char* kn_svc_status_name(kn_svc_status_t s);
int kn_svc_validation(req_t* q, const char* value, const char* member,
                      const char* constraint);

/* ---- The data operations (svc_data.c) ---- */

/* Where a read starts: GetShardIterator's ShardIteratorType and
 * SubscribeToShard's StartingPosition.Type, in the order the API lists
 * them. */
enum {
  KN_SVC_AT_SEQUENCE_NUMBER,
  KN_SVC_AFTER_SEQUENCE_NUMBER,
  KN_SVC_TRIM_HORIZON,
  KN_SVC_LATEST,
  KN_SVC_AT_TIMESTAMP
};

/* The sequence number (named `seq_member`) and the timestamp each given
 * with their types only, and no timestamp ahead of the clock. */
int kn_svc_check_position(req_t* q, int type, const char* seq_member,
                          const char* seq, int has_ts, int64_t ts);
/* The counter a read of `sh` starts at; a sequence number not of this
 * shard is InvalidArgumentException, in the words of operation `op`. */
int kn_svc_position(req_t* q, const char* op, const char* seq_member,
                    const kn_svc_stream_t* s, const kn_svc_shard_t* sh,
                    int type, const char* seq, int64_t ts, uint64_t* pos);
/* A record as GetRecords and SubscribeToShardEvent write it; and the
 * children of a closed shard, ChildShards. */
void kn_svc_out_record(kn_svc_out_t* o, const kn_svc_shard_t* sh,
                       const kn_svc_record_t* rec);
void kn_svc_out_children(kn_svc_out_t* o, const kn_svc_stream_t* s,
                         const kn_svc_shard_t* sh);

int kn_svc_op_get_records(req_t* q);
int kn_svc_op_get_shard_iterator(req_t* q);
int kn_svc_op_put_record(req_t* q);
int kn_svc_op_put_records(req_t* q);
int kn_svc_shard_not_found(req_t* q, const kn_svc_stream_t* s,
                           const char* id);

/* ---- The consumers of enhanced fan-out (svc_consumers.c) ---- */

int kn_svc_op_register_consumer(req_t* q);
int kn_svc_op_describe_consumer(req_t* q);
int kn_svc_op_list_consumers(req_t* q);
int kn_svc_op_deregister_consumer(req_t* q);

#endif /* KN_SVC_OPS_H */
