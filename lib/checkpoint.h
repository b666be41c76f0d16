#ifndef KN_CHECKPOINT_H
#define KN_CHECKPOINT_H

#include "kinesis/checkpoint.h"

/* What the consumer and the generic checkpointer functions need of the
 * built-in checkpointers (lib/checkpoint_memory.c, lib/checkpoint_redis.c,
 * lib/checkpoint_dynamodb.c) beyond the ops table. */

/* Kept in each built-in checkpointer: the client it was made from, and the
 * slot kinesis_checkpointer_close() keeps the user's callback in, so that
 * closing one of them needs no memory. */
typedef struct kn_ckpt_base_s {
  kinesis_client_t* client;
  kinesis_checkpointer_t* cp;
  kinesis_close_cb cb;
  void* user_data;
  int allocated; /* 1 in the copy made for a checkpointer of the user's */
} kn_ckpt_base_t;

/* The base of a memory (Redis, DynamoDB) checkpointer, or NULL when `cp`
 * is another kind (or, for Redis, the library has no hiredis). */
kn_ckpt_base_t* kn_checkpointer_memory_base(const kinesis_checkpointer_t* cp);
kn_ckpt_base_t* kn_checkpointer_redis_base(const kinesis_checkpointer_t* cp);
kn_ckpt_base_t* kn_checkpointer_dynamodb_base(const kinesis_checkpointer_t* cp);

/* The client of a built-in checkpointer, or NULL for one of the
 * application's own. */
kinesis_client_t* kn_checkpointer_client(const kinesis_checkpointer_t* cp);

/* `cp`'s ops table as this library knows it, in *ops: the operations
 * inside its `size`, NULL past it. Returns 0, KINESIS_EUNSUPPORTED (a
 * longer table that sets an operation this library does not know), or
 * KINESIS_EINVAL (no table, or one without an operation from claim to
 * close). */
int kn_checkpointer_ops_copy(const kinesis_checkpointer_t* cp,
                             kinesis_checkpointer_ops_t* ops);

#endif /* KN_CHECKPOINT_H */
