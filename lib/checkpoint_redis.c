/* The Redis checkpointer: leases, checkpoints and memberships in Redis, so
 * that consumers in several processes share a stream's shards.
 *
 * Each operation is one Lua script (get is one HMGET), run with EVALSHA on a
 * single hiredis async connection driven by the loop; leases runs its script
 * once per part of at most LEASES_CHUNK shards. A script reads the
 * clock with TIME and checks the owner in the same atomic step, so leases
 * are judged by one clock, the server's, and a consumer that lost its lease
 * writes nothing. docs/checkpointers.md documents the keys and the scripts,
 * so that another implementation can share them.
 *
 * Answers never reach the user from inside hiredis: a reply is turned into a
 * request's status and payload, and an ordered kn_defer_t (lib/defer.h)
 * delivers answered requests on the loop, like the memory checkpointer's
 * completions, in the order of the calls (its queue holds every request
 * from call to callback, and an answered one waits behind those called
 * before it). That keeps
 * callbacks asynchronous (an operation refused while disconnected is
 * answered on a later tick too), keeps user code, which may call any
 * operation or close, out of hiredis's callbacks, and keeps the order when a
 * NOSCRIPT fallback answers a request after later ones.
 *
 * The connection: redisAsyncConnect + redisLibuvAttach, then AUTH, SELECT
 * and SCRIPT LOAD of every script, pipelined. It is ready when the last
 * SCRIPT LOAD answers. One uv_timer_t bounds that (connect_timeout_ms) and,
 * between attempts, waits out the reconnection backoff. Operations called
 * while an attempt is under way wait for it, unsent: pipelined behind a
 * SELECT that fails they would run in the wrong database. Between attempts
 * they fail with KINESIS_ESTORE. */

#include "checkpoint.h"
#include "internal.h"

#include <string.h>

#include "client.h"

#define DEFAULT_SESSION_TIMEOUT_MS 10000
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_RECONNECT_MIN_MS 100
#define DEFAULT_RECONNECT_MAX_MS 5000


static void redis_defaults(kinesis_checkpointer_redis_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->session_timeout_ms = DEFAULT_SESSION_TIMEOUT_MS;
  o->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
  o->reconnect_min_ms = DEFAULT_RECONNECT_MIN_MS;
  o->reconnect_max_ms = DEFAULT_RECONNECT_MAX_MS;
}


void kinesis_checkpointer_redis_options_init_sized(
    kinesis_checkpointer_redis_options_t* options, size_t size) {
  kinesis_checkpointer_redis_options_t defaults;
  redis_defaults(&defaults);
  kn_options_init(options, size, &defaults, sizeof(defaults));
}


#ifndef KN_HAVE_REDIS


int kinesis_checkpointer_redis_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_redis_options_t* options,
    kinesis_checkpointer_t** out) {
  (void) client;
  (void) options;
  (void) out;
  return KINESIS_EUNSUPPORTED;
}


kn_ckpt_base_t* kn_checkpointer_redis_base(const kinesis_checkpointer_t* cp) {
  (void) cp;
  return NULL;
}


#else /* KN_HAVE_REDIS */


#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "checkpoint_redis.h"
#include "url.h"
#include "validate.h"


/* ---- Types ---- */


typedef enum {
  OP_CLAIM = SCRIPT_CLAIM,
  OP_HEARTBEAT = SCRIPT_HEARTBEAT,
  OP_CHECKPOINT = SCRIPT_CHECKPOINT,
  OP_FINISH = SCRIPT_FINISH,
  OP_RELEASE = SCRIPT_RELEASE,
  OP_MEMBER = SCRIPT_MEMBER,
  OP_LEASES = SCRIPT_LEASES,
  OP_GET = NSCRIPTS
} op_t;

/* A leases call is sent in parts of at most this many shards, one EVALSHA
 * each: Redis runs a script without serving anyone else, and a part of
 * 1,000 keys took 4 to 10 ms on a loaded two-core test machine. */
#define LEASES_CHUNK 1000

/* The key and at most four script arguments. */
#define REQ_MAX_ARGS 5

struct req_s;

/* One part of a leases request: the shards [first, first + count), held by
 * hiredis as its command's privdata until its reply. */
typedef struct lease_chunk_s {
  struct req_s* req;
  size_t first;
  size_t count;
  int use_eval;
  char* owners; /* The owners of its answer, NUL-separated; kn_malloc'd. */
} lease_chunk_t;

/* What a leases request needs besides a req_t, in one block (batch_alloc).
 * Each entry's shard_id points into its shard's key, after the prefix
 * "kinesis:{app:stream}:shard:", so the keys are the ids' copies too. */
typedef struct lease_batch_s {
  size_t n;
  size_t prefix_len;
  kinesis_lease_t* leases; /* The answer, filled part by part. */
  lease_chunk_t* chunks;
  size_t nchunks;
  size_t outstanding; /* Parts held by hiredis. */
  int status;         /* 0, or the failure that answers the request. */
  /* Room for one part's command, which hiredis copies as it is sent. */
  const char** argv;
  size_t* argvlen;
} lease_batch_t;

typedef enum {
  REQ_WAITING,  /* Called during a connection attempt; not sent yet. */
  REQ_INFLIGHT, /* hiredis holds it, as a command's privdata. */
  REQ_ANSWERED  /* Waiting for its turn to be delivered. */
} req_state_t;

/* One operation, from its call to its callback, in the store's `defer`
 * (ready once REQ_ANSWERED). The key and the arguments are stored after the
 * struct, to send the command when the connection is ready, or again with
 * EVAL after a NOSCRIPT. */
typedef struct req_s {
  kn_defer_item_t item;
  struct redis_store_s* store;
  op_t op;
  req_state_t state;
  int use_eval;
  kinesis_ckpt_state_cb state_cb;
  kinesis_ckpt_cb cb;
  kinesis_ckpt_members_cb members_cb;
  kinesis_ckpt_leases_cb leases_cb;
  void* arg;
  int status;
  uint32_t live_members;
  kinesis_checkpoint_t checkpoint;
  char* seq; /* The answer's sequence number; kn_malloc'd. */
  lease_batch_t* batch; /* OP_LEASES only, instead of the arguments. */
  int nargs;
  const char* args[REQ_MAX_ARGS];
  size_t arglens[REQ_MAX_ARGS];
  char buf[];
} req_t;



/* ---- The URL ---- */


/* Parses a decimal of 1 to `maxdigits` digits in [s, s + n). */
static int parse_uint(const char* s, size_t n, size_t maxdigits, long* out) {
  long v = 0;
  size_t i;
  if (n == 0 || n > maxdigits)
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}


/* redis://[[user]:password@]host[:port][/db], host being a name, an IPv4
 * address or a bracketed IPv6 one. Fills the store's host, port, user,
 * password and db. */
static int url_parse(redis_store_t* rs, const char* url) {
  kn_url_t u;
  long v;
  int r;

  if (url == NULL || kn_url_parse(url, strlen(url), &u) != 0 ||
      !kn_url_scheme_is(url, &u, "redis"))
    return KINESIS_EINVAL;
  /* No query or fragment: nothing would read them. */
  if (u.query.set || u.fragment.set)
    return KINESIS_EINVAL;

  if (u.user.set) {
    /* A user without a password cannot authenticate. */
    if (!u.password.set || u.password.len == 0)
      return KINESIS_EINVAL;
    if (u.user.len > 0 && (r = kn_url_decode(url, &u.user, &rs->user)) != 0)
      return r;
    if ((r = kn_url_decode(url, &u.password, &rs->password)) != 0)
      return r;
  }

  rs->port = u.port.set ? u.port_number : 6379;
  rs->host = kn_strndup(url + u.host.off, u.host.len);
  if (rs->host == NULL)
    return KINESIS_ENOMEM;

  /* The database: "/N", or nothing ("" or "/") for the server's default. */
  rs->db = -1;
  if (u.path.len > 1) {
    if (parse_uint(url + u.path.off + 1, u.path.len - 1, 9, &v) != 0)
      return KINESIS_EINVAL;
    rs->db = (int) v;
  }
  return 0;
}


/* ---- Keys ---- */


/* A stream name goes inside the keys' hash tag: a brace would end the tag
 * early, or make two streams' keys meet. Kinesis names have none. */
static int valid_stream(const char* s) {
  return kn_valid_nonempty(s) && strpbrk(s, "{}") == NULL;
}


/* Writes "kinesis:{<app>:<stream>}<tail1><tail2>" and a NUL into `dst` if it
 * is not NULL; returns the length without the NUL. */
static size_t key_write(char* dst, const char* app, const char* stream,
                        const char* tail1, const char* tail2) {
  const char* parts[6];
  size_t n = 0;
  size_t i;
  parts[0] = "kinesis:{";
  parts[1] = app;
  parts[2] = ":";
  parts[3] = stream;
  parts[4] = tail1;
  parts[5] = tail2;
  for (i = 0; i < KN_ARRAY_SIZE(parts); i++) {
    size_t len = strlen(parts[i]);
    if (dst != NULL)
      memcpy(dst + n, parts[i], len);
    n += len;
  }
  if (dst != NULL)
    dst[n] = '\0';
  return n;
}


/* ---- Requests ---- */


/* A request whose first argument is the key "kinesis:{app:stream}" tail1
 * tail2, followed by `args`. */
static req_t* req_alloc(redis_store_t* rs, op_t op, const char* stream,
                        const char* tail1, const char* tail2,
                        const char* const* args, int nargs) {
  size_t keylen = key_write(NULL, rs->app, stream, tail1, tail2);
  size_t total = keylen + 1;
  size_t off;
  req_t* req;
  int i;

  KN_ASSERT(nargs + 1 <= REQ_MAX_ARGS);
  for (i = 0; i < nargs; i++)
    total += strlen(args[i]) + 1;
  req = kn_calloc(1, sizeof(*req) + total);
  if (req == NULL)
    return NULL;
  req->store = rs;
  req->op = op;
  key_write(req->buf, rs->app, stream, tail1, tail2);
  req->args[0] = req->buf;
  req->arglens[0] = keylen;
  off = keylen + 1;
  for (i = 0; i < nargs; i++) {
    size_t len = strlen(args[i]);
    memcpy(req->buf + off, args[i], len + 1);
    req->args[i + 1] = req->buf + off;
    req->arglens[i + 1] = len;
    off += len + 1;
  }
  req->nargs = nargs + 1;
  return req;
}


static void req_free(req_t* req) {
  size_t i;
  if (req->batch != NULL) {
    for (i = 0; i < req->batch->nchunks; i++)
      kn_free(req->batch->chunks[i].owners);
    kn_free(req->batch);
  }
  kn_free(req->seq);
  kn_free(req);
}


/* Delivers `req`, its turn come, and frees it. */
static void req_run(kn_defer_item_t* item) {
  req_t* req = container_of(item, req_t, item);
  if (req->op == OP_CLAIM || req->op == OP_GET)
    req->state_cb(req->status, &req->checkpoint, req->arg);
  else if (req->op == OP_MEMBER)
    req->members_cb(req->status, req->live_members, req->arg);
  else if (req->op == OP_LEASES && req->status == 0)
    req->leases_cb(0, req->batch->leases, req->batch->n, req->arg);
  else if (req->op == OP_LEASES)
    req->leases_cb(req->status, NULL, 0, req->arg);
  else
    req->cb(req->status, req->arg);
  /* The store is freed only from a uv close callback, so it is still valid
   * after the callback even if it closed it. */
  req_free(req);
}


/* Answers `req` with `status`; its callback runs on a later tick, after
 * those of the requests called before it. */
static void req_complete(redis_store_t* rs, req_t* req, int status) {
  req->state = REQ_ANSWERED;
  req->status = status;
  kn_defer_ready(&rs->defer, &req->item);
}


static void on_reply(redisAsyncContext* ac, void* r, void* privdata);


/* Hands `req` to hiredis on `ac`: EVALSHA once the script's SHA1 is known,
 * EVAL before that or after a NOSCRIPT. */
static int req_send(redis_store_t* rs, redisAsyncContext* ac, req_t* req) {
  const char* argv[3 + REQ_MAX_ARGS + 4];
  size_t argvlen[3 + REQ_MAX_ARGS + 4];
  int argc = 0;
  int i;

  if (req->op == OP_GET) {
    static const char* const fields[] = {"seq", "sub", "partial", "finished"};
    argv[argc] = "HMGET";
    argvlen[argc++] = 5;
    argv[argc] = req->args[0];
    argvlen[argc++] = req->arglens[0];
    for (i = 0; i < (int) KN_ARRAY_SIZE(fields); i++) {
      argv[argc] = fields[i];
      argvlen[argc++] = strlen(fields[i]);
    }
  } else {
    const script_t* s = &kn_redis_scripts[req->op];
    if (rs->sha[req->op][0] != '\0' && !req->use_eval) {
      argv[argc] = "EVALSHA";
      argvlen[argc++] = 7;
      argv[argc] = rs->sha[req->op];
      argvlen[argc++] = SHA_LEN;
    } else {
      argv[argc] = "EVAL";
      argvlen[argc++] = 4;
      argv[argc] = s->source;
      argvlen[argc++] = strlen(s->source);
    }
    argv[argc] = "1"; /* One key. */
    argvlen[argc++] = 1;
    for (i = 0; i < req->nargs; i++) {
      argv[argc] = req->args[i];
      argvlen[argc++] = req->arglens[i];
    }
  }
  /* hiredis copies the arguments into its output buffer. */
  return redisAsyncCommandArgv(ac, on_reply, req, argc, argv, argvlen);
}


static void on_leases_reply(redisAsyncContext* ac, void* r, void* privdata);


/* Hands one part of a leases request to hiredis on `ac`, as req_send does
 * a whole request. */
static int chunk_send(redis_store_t* rs, redisAsyncContext* ac,
                      lease_chunk_t* ch) {
  lease_batch_t* b = ch->req->batch;
  char numkeys[24];
  int argc = 0;
  size_t i;

  if (rs->sha[SCRIPT_LEASES][0] != '\0' && !ch->use_eval) {
    b->argv[argc] = "EVALSHA";
    b->argvlen[argc++] = 7;
    b->argv[argc] = rs->sha[SCRIPT_LEASES];
    b->argvlen[argc++] = SHA_LEN;
  } else {
    b->argv[argc] = "EVAL";
    b->argvlen[argc++] = 4;
    b->argv[argc] = kn_redis_scripts[SCRIPT_LEASES].source;
    b->argvlen[argc++] = strlen(kn_redis_scripts[SCRIPT_LEASES].source);
  }
  snprintf(numkeys, sizeof(numkeys), "%zu", ch->count);
  b->argv[argc] = numkeys;
  b->argvlen[argc++] = strlen(numkeys);
  for (i = 0; i < ch->count; i++) {
    const char* id = b->leases[ch->first + i].shard_id;
    b->argv[argc] = id - b->prefix_len; /* The key the id ends. */
    b->argvlen[argc++] = b->prefix_len + strlen(id);
  }
  /* hiredis copies the arguments into its output buffer. */
  return redisAsyncCommandArgv(ac, on_leases_reply, ch, argc, b->argv,
                               b->argvlen);
}


/* Hands every part of a leases request to hiredis, all at once, so that
 * Redis runs them in the order of the calls like any other request (and
 * one round trip serves them all). Returns how many parts hiredis took. If
 * it refused one, the later ones are not sent and the request fails once
 * those it took are answered. */
static size_t leases_send(redis_store_t* rs, redisAsyncContext* ac,
                          req_t* req) {
  lease_batch_t* b = req->batch;
  size_t k;
  for (k = 0; k < b->nchunks; k++) {
    if (chunk_send(rs, ac, &b->chunks[k]) != REDIS_OK) {
      b->status = KINESIS_ESTORE;
      break;
    }
  }
  b->outstanding = k;
  return k;
}


/* Sends `req` on the ready connection, or answers it with KINESIS_ESTORE
 * when it cannot be sent. */
static void req_send_or_fail(redis_store_t* rs, req_t* req) {
  size_t sent = 0;
  if (rs->ac != NULL && rs->ready) {
    if (req->op == OP_LEASES)
      sent = leases_send(rs, rs->ac, req);
    else if (req_send(rs, rs->ac, req) == REDIS_OK)
      sent = 1;
  }
  if (sent == 0) {
    req_complete(rs, req, KINESIS_ESTORE);
    return;
  }
  req->state = REQ_INFLIGHT;
  rs->inflight += (unsigned) sent;
}


/* Takes a new request: sent at once when the connection is ready, kept
 * while an attempt is under way, refused between attempts. Either way the
 * answer comes later. */
static void req_submit(redis_store_t* rs, req_t* req) {
  req->state = REQ_WAITING;
  kn_defer_add(&rs->defer, &req->item, req_run);
  if (rs->ac != NULL && !rs->ready && !rs->handshake_failed)
    return;
  req_send_or_fail(rs, req);
}


/* The attempt ended: sends (ready) or fails the waiting requests, in the
 * order of the calls. */
void kn_redis_flush_waiting(redis_store_t* rs, int fail_status) {
  kn_queue_t* q;
  for (q = rs->defer.items.next; q != &rs->defer.items; q = q->next) {
    req_t* req = kn_queue_data(q, req_t, item.node);
    if (req->state != REQ_WAITING)
      continue;
    if (fail_status != 0)
      req_complete(rs, req, fail_status);
    else
      req_send_or_fail(rs, req);
  }
}


/* Stores a copy of a sequence number from a reply in `req`. A nil or empty
 * one means no checkpoint. */
static int req_take_seq(req_t* req, const redisReply* r) {
  if (r->type == REDIS_REPLY_NIL ||
      (r->type == REDIS_REPLY_STRING && r->len == 0))
    return 0;
  if (r->type != REDIS_REPLY_STRING)
    return KINESIS_ESTORE;
  req->seq = kn_strndup(r->str, r->len);
  if (req->seq == NULL)
    return KINESIS_ENOMEM;
  req->checkpoint.sequence_number = req->seq;
  return 0;
}


/* An integer field from a script (an integer) or from HMGET (a string or
 * nil). Returns -1 for anything else. */
static int reply_uint32(const redisReply* r, uint32_t* out) {
  char* endp;
  unsigned long long v;
  if (r->type == REDIS_REPLY_NIL) {
    *out = 0;
    return 0;
  }
  if (r->type == REDIS_REPLY_INTEGER) {
    if (r->integer < 0 || r->integer > (long long) UINT32_MAX)
      return -1;
    *out = (uint32_t) r->integer;
    return 0;
  }
  if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 10 ||
      r->str[0] < '0' || r->str[0] > '9')
    return -1;
  errno = 0;
  v = strtoull(r->str, &endp, 10);
  if (errno != 0 || endp != r->str + r->len || v > UINT32_MAX)
    return -1;
  *out = (uint32_t) v;
  return 0;
}


/* Fills the checkpoint from seq, sub, partial and finished replies. */
static int req_take_checkpoint(req_t* req, redisReply** f) {
  uint32_t sub, partial, finished;
  if (reply_uint32(f[1], &sub) != 0 || reply_uint32(f[2], &partial) != 0 ||
      reply_uint32(f[3], &finished) != 0)
    return KINESIS_ESTORE;
  req->checkpoint.sub_sequence_number = sub;
  req->checkpoint.partial = partial != 0;
  req->checkpoint.finished = finished != 0;
  return req_take_seq(req, f[0]);
}


/* The status of a request from its (non-error) reply. */
static int req_parse(req_t* req, const redisReply* r) {
  int status;

  switch (req->op) {
    case OP_CLAIM:
      /* {held, seq, sub, partial, finished} */
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
          r->element[0]->type != REDIS_REPLY_INTEGER)
        return KINESIS_ESTORE;
      status = req_take_checkpoint(req, r->element + 1);
      if (status != 0)
        return status;
      return r->element[0]->integer != 0 ? KINESIS_ELEASED : 0;
    case OP_GET:
      /* HMGET seq sub partial finished */
      if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return KINESIS_ESTORE;
      return req_take_checkpoint(req, r->element);
    case OP_MEMBER:
      if (r->type != REDIS_REPLY_INTEGER || r->integer < 0)
        return KINESIS_ESTORE;
      req->live_members = r->integer > (long long) UINT32_MAX
                              ? UINT32_MAX
                              : (uint32_t) r->integer;
      return 0;
    case OP_HEARTBEAT:
    case OP_CHECKPOINT:
    case OP_FINISH:
    case OP_RELEASE:
      /* 1 when written, 0 when `owner` does not hold the lease. */
      if (r->type != REDIS_REPLY_INTEGER)
        return KINESIS_ESTORE;
      return r->integer == 1 ? 0 : KINESIS_ELEASELOST;
    case OP_LEASES:
      /* Its parts are answered by on_leases_reply. */
      break;
  }
  return KINESIS_ESTORE;
}


/* A command's reply, or NULL when the context went away first (the
 * connection failed or was closed, or the store is closing). */
static void on_reply(redisAsyncContext* ac, void* r, void* privdata) {
  req_t* req = privdata;
  redis_store_t* rs = req->store;
  redisReply* reply = r;

  KN_ASSERT(rs->inflight > 0);
  rs->inflight--;
  if (reply == NULL) {
    req_complete(
        rs, req,
        kn_life_closing(&rs->life) ? KINESIS_ECANCELED : KINESIS_ESTORE);
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    /* Scripts vanish when Redis restarts or SCRIPT FLUSH runs: send the
     * source, which loads it again, once. */
    if (req->op != OP_GET && !req->use_eval && reply->str != NULL &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && rs->ac == ac &&
        !kn_life_closing(&rs->life)) {
      req->use_eval = 1;
      if (req_send(rs, ac, req) == REDIS_OK) {
        rs->inflight++;
        return;
      }
    }
    req_complete(rs, req, KINESIS_ESTORE);
    return;
  }
  req_complete(rs, req, req_parse(req, reply));
}


/* An integer reply of 0 or 1. */
static int reply_bit(const redisReply* r) {
  return r != NULL && r->type == REDIS_REPLY_INTEGER &&
         (r->integer == 0 || r->integer == 1);
}


/* Fills the entries of part `ch` from the leases script's reply: exactly
 * one {owner, finished, known} per key, each as the script writes it, and
 * consistent (an owner or a finished mark means the hash exists).
 * Anything else is KINESIS_ESTORE, and nothing is filled. */
static int chunk_parse(lease_chunk_t* ch, const redisReply* r) {
  lease_batch_t* b = ch->req->batch;
  size_t total = 0;
  char* p;
  size_t i;

  if (r->type != REDIS_REPLY_ARRAY || r->elements != ch->count)
    return KINESIS_ESTORE;
  for (i = 0; i < ch->count; i++) {
    const redisReply* e = r->element[i];
    const redisReply* owner;
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements != 3)
      return KINESIS_ESTORE;
    owner = e->element[0];
    if (owner == NULL || owner->type != REDIS_REPLY_STRING ||
        memchr(owner->str, '\0', owner->len) != NULL ||
        !reply_bit(e->element[1]) || !reply_bit(e->element[2]))
      return KINESIS_ESTORE;
    if ((owner->len > 0 || e->element[1]->integer == 1) &&
        e->element[2]->integer != 1)
      return KINESIS_ESTORE;
    if (owner->len > 0)
      total += owner->len + 1;
  }

  KN_ASSERT(ch->owners == NULL);
  if (total > 0) {
    ch->owners = kn_malloc(total);
    if (ch->owners == NULL)
      return KINESIS_ENOMEM;
  }
  p = ch->owners;
  for (i = 0; i < ch->count; i++) {
    redisReply** f = r->element[i]->element;
    kinesis_lease_t* l = &b->leases[ch->first + i];
    l->owner = NULL;
    if (f[0]->len > 0) {
      memcpy(p, f[0]->str, f[0]->len);
      p[f[0]->len] = '\0';
      l->owner = p;
      p += f[0]->len + 1;
    }
    l->finished = (int) f[1]->integer;
    l->known = (int) f[2]->integer;
  }
  return 0;
}


/* One part is answered with `status`; the last one answers the request,
 * with the first failure of any part, except that a close that cancelled a
 * part cancels the request (as it does any request Redis had not answered
 * whole). */
static void chunk_done(redis_store_t* rs, req_t* req, int status) {
  lease_batch_t* b = req->batch;
  if (status != 0 && (b->status == 0 || status == KINESIS_ECANCELED))
    b->status = status;
  KN_ASSERT(b->outstanding > 0);
  if (--b->outstanding == 0)
    req_complete(rs, req, b->status);
}


/* A part's reply, or NULL when the context went away first; on_reply's
 * twin for the parts of a leases request. */
static void on_leases_reply(redisAsyncContext* ac, void* r, void* privdata) {
  lease_chunk_t* ch = privdata;
  redis_store_t* rs = ch->req->store;
  redisReply* reply = r;
  int status;

  KN_ASSERT(rs->inflight > 0);
  rs->inflight--;
  if (reply == NULL) {
    status = kn_life_closing(&rs->life) ? KINESIS_ECANCELED : KINESIS_ESTORE;
  } else if (reply->type == REDIS_REPLY_ERROR) {
    /* The script vanished (see on_reply): send this part's source, once. */
    if (!ch->use_eval && reply->str != NULL &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && rs->ac == ac &&
        !kn_life_closing(&rs->life)) {
      ch->use_eval = 1;
      if (chunk_send(rs, ac, ch) == REDIS_OK) {
        rs->inflight++;
        return;
      }
    }
    status = KINESIS_ESTORE;
  } else {
    status = chunk_parse(ch, reply);
  }
  chunk_done(rs, ch->req, status);
}


/* ---- Close ---- */


static void on_handle_closed(uv_handle_t* handle) {
  redis_store_t* rs = handle->data;
  kinesis_ckpt_cb cb;
  void* arg;

  if (--rs->pending_closes > 0)
    return;
  cb = rs->close_cb;
  arg = rs->close_arg;
  /* The client may close from the callback. KN_LIFE_CLOSING is still set, so
   * anything the callback calls is refused with KINESIS_ECLOSING before the
   * memory goes. The status is 0 even when the connection was down: the
   * operations answered with KINESIS_ECANCELED say what was not done. */
  kn_client_child_remove(rs->base.client);
  (void) KN_LIFE_INVOKE(&rs->defer.life, cb(0, arg));
  KN_ASSERT(kn_queue_empty(&rs->defer.items));
  KN_ASSERT(rs->ac == NULL && rs->inflight == 0);
  kn_free(rs->host);
  kn_free(rs->user);
  kn_free(rs->password);
  kn_free(rs->app);
  kn_free(rs);
}


/* Once closing and every request is answered, closes the handles; the last
 * close callback notifies the user and frees everything. */
static void store_maybe_finish_close(redis_store_t* rs) {
  if (!kn_life_closing(&rs->life) || kn_life_freeing(&rs->life) ||
      !kn_defer_empty(&rs->defer))
    return;
  kn_life_begin_free(&rs->life);
  rs->pending_closes = 2;
  kn_defer_close(&rs->defer, NULL, on_handle_closed);
  uv_close((uv_handle_t*) &rs->timer, on_handle_closed);
}


/* After a tick that delivered every request. */
static void on_defer_empty(kn_defer_t* d) {
  store_maybe_finish_close(d->idle.data);
}


/* ---- Operations ---- */


static int check_args(const redis_store_t* rs, const char* stream,
                      const char* shard_id, const char* owner, int has_cb) {
  if (rs == NULL || !valid_stream(stream) || !kn_valid_nonempty(shard_id) ||
      !kn_valid_nonempty(owner) || !has_cb)
    return KINESIS_EINVAL;
  if (kn_life_closing(&rs->life))
    return KINESIS_ECLOSING;
  return 0;
}


/* claim, heartbeat, finish and release: the shard's key, then the owner
 * and, for claim and heartbeat, the session timeout. */
static int lease_op(redis_store_t* rs, op_t op, const char* stream,
                    const char* shard_id, const char* owner, int has_cb,
                    req_t** out) {
  const char* args[2];
  int nargs = 1;
  req_t* req;
  int r;

  r = check_args(rs, stream, shard_id, owner, has_cb);
  if (r != 0)
    return r;
  args[0] = owner;
  if (op == OP_CLAIM || op == OP_HEARTBEAT)
    args[nargs++] = rs->timeout_arg;
  req = req_alloc(rs, op, stream, "}:shard:", shard_id, args, nargs);
  if (req == NULL)
    return KINESIS_ENOMEM;
  *out = req;
  return 0;
}


static int rs_claim(void* self, const char* stream, const char* shard_id,
                    const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  redis_store_t* rs = self;
  req_t* req;
  int r = lease_op(rs, OP_CLAIM, stream, shard_id, owner, cb != NULL, &req);
  if (r != 0)
    return r;
  req->state_cb = cb;
  req->arg = arg;
  req_submit(rs, req);
  return 0;
}


static int rs_owned(void* self, op_t op, const char* stream,
                    const char* shard_id, const char* owner, kinesis_ckpt_cb cb,
                    void* arg) {
  redis_store_t* rs = self;
  req_t* req;
  int r = lease_op(rs, op, stream, shard_id, owner, cb != NULL, &req);
  if (r != 0)
    return r;
  req->cb = cb;
  req->arg = arg;
  req_submit(rs, req);
  return 0;
}


static int rs_heartbeat(void* self, const char* stream, const char* shard_id,
                        const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return rs_owned(self, OP_HEARTBEAT, stream, shard_id, owner, cb, arg);
}


static int rs_finish(void* self, const char* stream, const char* shard_id,
                     const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return rs_owned(self, OP_FINISH, stream, shard_id, owner, cb, arg);
}


static int rs_release(void* self, const char* stream, const char* shard_id,
                      const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return rs_owned(self, OP_RELEASE, stream, shard_id, owner, cb, arg);
}


static int rs_checkpoint(void* self, const char* stream, const char* shard_id,
                         const char* owner,
                         const kinesis_checkpoint_t* position,
                         kinesis_ckpt_cb cb, void* arg) {
  redis_store_t* rs = self;
  const char* args[4];
  char sub[16];
  req_t* req;
  int r;

  r = check_args(rs, stream, shard_id, owner, cb != NULL);
  if (r != 0)
    return r;
  if (position == NULL || !kn_valid_sequence_number(position->sequence_number))
    return KINESIS_EINVAL;
  snprintf(sub, sizeof(sub), "%" PRIu32, position->sub_sequence_number);
  args[0] = owner;
  args[1] = position->sequence_number;
  args[2] = sub;
  /* `finished` is changed only by finish, which also frees the lease. */
  args[3] = position->partial ? "1" : "0";
  req = req_alloc(rs, OP_CHECKPOINT, stream, "}:shard:", shard_id, args, 4);
  if (req == NULL)
    return KINESIS_ENOMEM;
  req->cb = cb;
  req->arg = arg;
  req_submit(rs, req);
  return 0;
}


static int rs_get(void* self, const char* stream, const char* shard_id,
                  kinesis_ckpt_state_cb cb, void* arg) {
  redis_store_t* rs = self;
  req_t* req;

  if (rs == NULL || !valid_stream(stream) || !kn_valid_nonempty(shard_id) || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&rs->life))
    return KINESIS_ECLOSING;
  req = req_alloc(rs, OP_GET, stream, "}:shard:", shard_id, NULL, 0);
  if (req == NULL)
    return KINESIS_ENOMEM;
  req->state_cb = cb;
  req->arg = arg;
  req_submit(rs, req);
  return 0;
}


static int rs_member(void* self, const char* stream, const char* owner,
                     int leaving, kinesis_ckpt_members_cb cb, void* arg) {
  redis_store_t* rs = self;
  const char* args[3];
  req_t* req;

  if (rs == NULL || !valid_stream(stream) || !kn_valid_nonempty(owner) || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&rs->life))
    return KINESIS_ECLOSING;
  args[0] = owner;
  args[1] = rs->timeout_arg;
  args[2] = leaving ? "1" : "0";
  req = req_alloc(rs, OP_MEMBER, stream, "}:members", "", args, 3);
  if (req == NULL)
    return KINESIS_ENOMEM;
  req->members_cb = cb;
  req->arg = arg;
  req_submit(rs, req);
  return 0;
}


/* Reserves `count` items of `size` bytes after the `*total` bytes of a
 * block being laid out, aligned for any type. Returns their offset, or
 * SIZE_MAX when the block would not fit in a size_t. */
static size_t layout_add(size_t* total, size_t count, size_t size) {
  size_t align = _Alignof(max_align_t);
  size_t off = *total;
  if (off == SIZE_MAX || off > SIZE_MAX - (align - 1))
    return SIZE_MAX;
  off = (off + align - 1) / align * align;
  if (size != 0 && count > (SIZE_MAX - off) / size)
    return SIZE_MAX;
  *total = off + count * size;
  return off;
}


/* The batch of a leases request: the answer's entries, the parts, room for
 * a part's command, and each shard's key (which holds its id's copy). NULL
 * when out of memory. */
static lease_batch_t* batch_alloc(redis_store_t* rs, req_t* req,
                                  const char* stream,
                                  const char* const* shard_ids, size_t n) {
  size_t prefix = key_write(NULL, rs->app, stream, "}:shard:", "");
  size_t nchunks = n / LEASES_CHUNK + (n % LEASES_CHUNK != 0);
  size_t nargv = 3 + (n < LEASES_CHUNK ? n : LEASES_CHUNK);
  size_t total = sizeof(lease_batch_t);
  size_t keys = 0;
  size_t off_leases, off_chunks, off_argv, off_argvlen, off_keys;
  lease_batch_t* b;
  char* base;
  char* p;
  size_t i;

  for (i = 0; i < n; i++) {
    size_t len = strlen(shard_ids[i]);
    if (len > SIZE_MAX - prefix - 1 || prefix + len + 1 > SIZE_MAX - keys)
      return NULL;
    keys += prefix + len + 1;
  }
  off_leases = layout_add(&total, n, sizeof(kinesis_lease_t));
  off_chunks = layout_add(&total, nchunks, sizeof(lease_chunk_t));
  off_argv = layout_add(&total, nargv, sizeof(const char*));
  off_argvlen = layout_add(&total, nargv, sizeof(size_t));
  off_keys = layout_add(&total, keys, 1);
  if (off_leases == SIZE_MAX || off_chunks == SIZE_MAX ||
      off_argv == SIZE_MAX || off_argvlen == SIZE_MAX || off_keys == SIZE_MAX)
    return NULL;
  base = kn_calloc(1, total);
  if (base == NULL)
    return NULL;

  b = (lease_batch_t*) base;
  b->n = n;
  b->prefix_len = prefix;
  b->leases = (kinesis_lease_t*) (base + off_leases);
  b->chunks = (lease_chunk_t*) (base + off_chunks);
  b->nchunks = nchunks;
  b->argv = (const char**) (base + off_argv);
  b->argvlen = (size_t*) (base + off_argvlen);
  p = base + off_keys;
  for (i = 0; i < n; i++) {
    b->leases[i].shard_id = p + prefix;
    p += key_write(p, rs->app, stream, "}:shard:", shard_ids[i]) + 1;
  }
  for (i = 0; i < nchunks; i++) {
    b->chunks[i].req = req;
    b->chunks[i].first = i * LEASES_CHUNK;
    b->chunks[i].count = n - i * LEASES_CHUNK < LEASES_CHUNK
                             ? n - i * LEASES_CHUNK
                             : LEASES_CHUNK;
  }
  return b;
}


static int rs_leases(void* self, const char* stream,
                     const char* const* shard_ids, size_t n,
                     kinesis_ckpt_leases_cb cb, void* arg) {
  redis_store_t* rs = self;
  req_t* req;
  size_t i;

  if (rs == NULL || !valid_stream(stream) || cb == NULL ||
      (shard_ids == NULL && n > 0))
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++)
    if (!kn_valid_nonempty(shard_ids[i]))
      return KINESIS_EINVAL;
  if (kn_life_closing(&rs->life))
    return KINESIS_ECLOSING;
  req = kn_calloc(1, sizeof(*req));
  if (req == NULL)
    return KINESIS_ENOMEM;
  req->store = rs;
  req->op = OP_LEASES;
  req->leases_cb = cb;
  req->arg = arg;
  req->batch = batch_alloc(rs, req, stream, shard_ids, n);
  if (req->batch == NULL) {
    kn_free(req);
    return KINESIS_ENOMEM;
  }
  if (n == 0) {
    /* Nothing to ask Redis: answered in turn, connected or not. */
    req->state = REQ_WAITING;
    kn_defer_add(&rs->defer, &req->item, req_run);
    req_complete(rs, req, 0);
    return 0;
  }
  req_submit(rs, req);
  return 0;
}


static int rs_close(void* self, kinesis_ckpt_cb cb, void* arg) {
  redis_store_t* rs = self;

  if (rs == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_begin_close(&rs->life) < 0)
    return KINESIS_EALREADY;
  rs->close_cb = cb;
  rs->close_arg = arg;
  uv_timer_stop(&rs->timer);
  kn_redis_flush_waiting(rs, KINESIS_ECANCELED);
  /* hiredis answers every command it holds with NULL, at once (they become
   * KINESIS_ECANCELED), and the adapter closes its poll handle. Answers
   * already received keep their real status. User callbacks run only from
   * the defer queue's tick, never inside hiredis, so the context is not in
   * a callback and is freed here. */
  kn_redis_drop_connection(rs);
  store_maybe_finish_close(rs);
  return 0;
}


static const kinesis_checkpointer_ops_t redis_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = rs_claim,
    .heartbeat = rs_heartbeat,
    .checkpoint = rs_checkpoint,
    .finish = rs_finish,
    .release = rs_release,
    .get = rs_get,
    .close = rs_close,
    .member = rs_member,
    .leases = rs_leases,
};


/* ---- Public functions ---- */


/* An application name goes inside the keys' hash tag, before the stream:
 * no braces, and no colon, which separates it from the stream. */
static int valid_app(const char* s) {
  return kn_valid_nonempty(s) && strpbrk(s, "{}:") == NULL;
}


static void store_free_unstarted(redis_store_t* rs) {
  kn_free(rs->host);
  kn_free(rs->user);
  kn_free(rs->password);
  kn_free(rs->app);
  kn_free(rs);
}


int kinesis_checkpointer_redis_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_redis_options_t* caller,
    kinesis_checkpointer_t** out) {
  kinesis_checkpointer_redis_options_t copy;
  const kinesis_checkpointer_redis_options_t* options = &copy;
  redis_store_t* rs;
  uv_loop_t* loop;
  int r;

  if (client == NULL || out == NULL || caller == NULL)
    return KINESIS_EINVAL;
  redis_defaults(&copy);
  if ((r = kn_options_copy(&copy, sizeof(copy), caller)) != 0)
    return r;
  if (!valid_app(options->app_name) || options->session_timeout_ms == 0 ||
      options->connect_timeout_ms == 0 || options->reconnect_min_ms == 0 ||
      options->reconnect_max_ms < options->reconnect_min_ms)
    return KINESIS_EINVAL;
  if (kn_client_closing(client))
    return KINESIS_ECLOSING;
  loop = kn_client_loop(client);

  rs = kn_calloc(1, sizeof(*rs));
  if (rs == NULL)
    return KINESIS_ENOMEM;
  r = url_parse(rs, options->url);
  if (r != 0) {
    store_free_unstarted(rs);
    return r;
  }
  rs->app = kn_strdup(options->app_name);
  if (rs->app == NULL) {
    store_free_unstarted(rs);
    return KINESIS_ENOMEM;
  }
  /* uv_idle_init and uv_timer_init cannot fail on Unix. */
  r = kn_defer_init(loop, &rs->defer, 1, on_defer_empty);
  if (r == 0)
    r = uv_timer_init(loop, &rs->timer);
  KN_ASSERT(r == 0);
  rs->defer.idle.data = rs;
  rs->timer.data = rs;
  rs->base.client = client;
  rs->loop = loop;
  snprintf(rs->timeout_arg, sizeof(rs->timeout_arg), "%" PRIu32,
           options->session_timeout_ms);
  rs->connect_timeout_ms = options->connect_timeout_ms;
  rs->reconnect_min_ms = options->reconnect_min_ms;
  rs->reconnect_max_ms = options->reconnect_max_ms;
  rs->rng = uv_hrtime() ^ (uint64_t) (uintptr_t) rs;
  if (rs->rng == 0)
    rs->rng = 1;
  rs->pub.ops = &redis_ops;
  rs->pub.self = rs;
  rs->pub.session_timeout_ms = options->session_timeout_ms;
  kn_client_child_add(client);
  kn_redis_connect_start(rs);
  *out = &rs->pub;
  return 0;
}


kn_ckpt_base_t* kn_checkpointer_redis_base(const kinesis_checkpointer_t* cp) {
  if (cp == NULL || cp->ops != &redis_ops || cp->self == NULL)
    return NULL;
  return &((redis_store_t*) cp->self)->base;
}


#endif /* KN_HAVE_REDIS */
