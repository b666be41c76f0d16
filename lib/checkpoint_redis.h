/* What the Redis checkpointer's files share (lib/checkpoint_redis.c, the
 * operations; lib/checkpoint_redis_lua.c, the scripts). Private to lib/. */

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


#endif /* KN_CHECKPOINT_REDIS_H */
