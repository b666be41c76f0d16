/* The Redis checkpointer's Lua scripts, one per operation but get
 * (docs/checkpointers.md, "The Redis checkpointer", documents them for other
 * implementations). lib/checkpoint_redis.c loads and runs them. */

#include "checkpoint_redis.h"


/* clang-format off */
/* (One Lua line per C line.) */

/* Every script starts with the server's time in milliseconds. */
#define LUA_NOW                                                               \
  "local t = redis.call('TIME')\n"                                            \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

/* The owned-lease scripts start with the fencing check. */
#define LUA_FENCE                                                             \
  "if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end\n"

const script_t kn_redis_scripts[NSCRIPTS] = {
    /* KEYS[1] the shard's hash; ARGV[1] owner, ARGV[2] session timeout (ms).
     * Returns {held, seq or nil, sub, partial, finished}: held is 1 when
     * another owner's lease is live (nothing written), else 0 and the lease
     * is the caller's until now + timeout. */
    {"claim",
     LUA_NOW
     "local h = redis.call('HMGET', KEYS[1], 'owner', 'expires_ms', 'seq',\n"
     "  'sub', 'partial', 'finished')\n"
     "local held = 0\n"
     "if h[1] and h[1] ~= '' and h[1] ~= ARGV[1] and\n"
     "    now <= (tonumber(h[2]) or 0) then\n"
     "  held = 1\n"
     "else\n"
     "  redis.call('HSET', KEYS[1], 'owner', ARGV[1],\n"
     "    'expires_ms', now + tonumber(ARGV[2]), 'updated_ms', now)\n"
     "end\n"
     "return {held, h[3], tonumber(h[4]) or 0, tonumber(h[5]) or 0,\n"
     "  tonumber(h[6]) or 0}\n"},
    /* ARGV[1] owner, ARGV[2] session timeout. 1, or 0 when not the owner. */
    {"heartbeat",
     LUA_FENCE LUA_NOW
     "redis.call('HSET', KEYS[1], 'expires_ms', now + tonumber(ARGV[2]),\n"
     "  'updated_ms', now)\n"
     "return 1\n"},
    /* ARGV[1] owner, ARGV[2] sequence number, ARGV[3] sub-sequence number,
     * ARGV[4] partial (0 or 1). 1, or 0 when not the owner. */
    {"checkpoint",
     LUA_FENCE LUA_NOW
     "redis.call('HSET', KEYS[1], 'seq', ARGV[2], 'sub', ARGV[3],\n"
     "  'partial', ARGV[4], 'updated_ms', now)\n"
     "return 1\n"},
    /* ARGV[1] owner. 1, or 0 when not the owner. */
    {"finish",
     LUA_FENCE LUA_NOW
     "redis.call('HSET', KEYS[1], 'finished', 1, 'updated_ms', now)\n"
     "redis.call('HDEL', KEYS[1], 'owner', 'expires_ms')\n"
     "return 1\n"},
    /* ARGV[1] owner. 1, or 0 when not the owner. */
    {"release",
     LUA_FENCE LUA_NOW
     "redis.call('HSET', KEYS[1], 'updated_ms', now)\n"
     "redis.call('HDEL', KEYS[1], 'owner', 'expires_ms')\n"
     "return 1\n"},
    /* KEYS[1] the stream's members (a sorted set scored by expiry); ARGV[1]
     * owner, ARGV[2] session timeout, ARGV[3] leaving (0 or 1). Returns how
     * many members are live. */
    {"member",
     LUA_NOW
     "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1)\n"
     "if ARGV[3] == '1' then\n"
     "  redis.call('ZREM', KEYS[1], ARGV[1])\n"
     "else\n"
     "  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])\n"
     "end\n"
     "local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')\n"
     "if top[2] then\n"
     "  redis.call('PEXPIREAT', KEYS[1], tonumber(top[2]) + 1)\n"
     "end\n"
     "return redis.call('ZCARD', KEYS[1])\n"},
    /* KEYS the shard hashes, any number (the client sends at most
     * LEASES_CHUNK). Writes nothing. Returns one {owner, finished, known}
     * per key, in order: owner is the live lease's owner (live as in
     * claim) or '', finished 0 or 1, known 1 when the hash exists. */
    {"leases",
     LUA_NOW
     "local out = {}\n"
     "for i, key in ipairs(KEYS) do\n"
     "  local h = redis.call('HMGET', key, 'owner', 'expires_ms', 'finished')\n"
     "  local owner = ''\n"
     "  if h[1] and h[1] ~= '' and now <= (tonumber(h[2]) or 0) then\n"
     "    owner = h[1]\n"
     "  end\n"
     "  local fin = 0\n"
     "  if (tonumber(h[3]) or 0) ~= 0 then fin = 1 end\n"
     "  out[i] = {owner, fin, redis.call('EXISTS', key)}\n"
     "end\n"
     "return out\n"},
};

/* clang-format on */
