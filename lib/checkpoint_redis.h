/* What the Redis checkpointer's files share (lib/checkpoint_redis.c, the
 * operations; lib/checkpoint_redis_conn.c, the connection;
 * lib/checkpoint_redis_lua.c, the scripts). Private to lib/. */

#ifndef KN_CHECKPOINT_REDIS_H
#define KN_CHECKPOINT_REDIS_H


/* ---- The scripts (docs/checkpointers.md, "The Redis checkpointer") ---- */


/* One script per operation but get; the order of kn_redis_scripts. */
enum {
  SCRIPT_CLAIM,
  SCRIPT_HEARTBEAT,
  SCRIPT_CHECKPOINT,
  SCRIPT_FINISH,
  SCRIPT_RELEASE,
  SCRIPT_MEMBER,
  SCRIPT_LEASES,
  NSCRIPTS
};

typedef struct script_s {
  const char* name;
  const char* source;
} script_t;


/* The hex SHA1 that SCRIPT LOAD answers. */
#define SHA_LEN 40

/* The scripts' sources, in lib/checkpoint_redis_lua.c. */
extern const script_t kn_redis_scripts[NSCRIPTS];



#ifdef KN_HAVE_REDIS

#include <hiredis/async.h>

#include "checkpoint.h"
#include "defer.h"
#include "internal.h"


/* ---- The store ---- */


typedef struct redis_store_s {
  /* The public object, freed together with the store. */
  kinesis_checkpointer_t pub;
  kn_ckpt_base_t base; /* the client, and the close's slot */
  uv_loop_t* loop;
  /* From the URL. */
  char* host;
  int port;
  char* user;     /* NULL: AUTH with the password alone. */
  char* password; /* NULL: no AUTH. */
  int db;         /* -1: no SELECT. */
  char* app;
  char timeout_arg[16]; /* session_timeout_ms, in decimal for the scripts. */
  uint32_t connect_timeout_ms;
  uint32_t reconnect_min_ms;
  uint32_t reconnect_max_ms;
  /* The connection: NULL between attempts. `ready` once the handshake has
   * answered; until then `timer` bounds the attempt, and when `ac` is NULL
   * it waits for the next one. */
  redisAsyncContext* ac;
  int ready;
  int handshake_failed;
  uint32_t attempts; /* Failed attempts since the last ready connection. */
  uint64_t rng;
  char sha[NSCRIPTS][SHA_LEN + 1]; /* Empty until SCRIPT LOAD answered. */
  uv_timer_t timer;
  /* Every req_t not yet delivered, oldest first; ordered, so an answer
   * waits for those called before it. */
  kn_defer_t defer;
  unsigned inflight; /* Those held by hiredis. */
  unsigned pending_closes;
  /* KN_LIFE_CLOSING: close() was called, new operations are refused.
   * KN_LIFE_FREEING: the defer queue and the timer are closing. */
  kn_life_t life;
  kinesis_ckpt_cb close_cb;
  void* close_arg;
} redis_store_t;


/* ---- The connection (lib/checkpoint_redis_conn.c) ---- */


/* Starts an attempt: connect, then the handshake, bounded by `timer`. On a
 * failure it schedules the next attempt itself. */
void kn_redis_connect_start(redis_store_t* rs);

/* Frees the current context, if any (connect timeout, close). hiredis
 * answers the commands it holds with NULL replies. */
void kn_redis_drop_connection(redis_store_t* rs);


/* ---- Requests (lib/checkpoint_redis.c) ---- */


/* The attempt ended: sends (`fail_status` 0, the connection is ready) or
 * fails with `fail_status` the requests that waited for it, in the order of
 * the calls. */
void kn_redis_flush_waiting(redis_store_t* rs, int fail_status);

#endif /* KN_HAVE_REDIS */


#endif /* KN_CHECKPOINT_REDIS_H */
