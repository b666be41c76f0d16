/* The Redis checkpointer's connection: hiredis driven by the loop through
 * its libuv adapter (with our own poll callback), a SIGPIPE guard around
 * writes, the handshake (AUTH, SELECT, SCRIPT LOAD of every script), the
 * connect timeout and reconnection with backoff. lib/checkpoint_redis.c
 * says how requests wait for it. */

#include "internal.h"

#ifdef KN_HAVE_REDIS

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libuv.h>

#include "checkpoint_redis.h"
#include "retry.h"


static void on_timer(uv_timer_t* handle);


/* hiredis writes with write(2), which raises SIGPIPE when the server has
 * gone. A library must not change the process's signal handling, so around
 * each write SIGPIPE is blocked in this thread and a SIGPIPE the write
 * raised is consumed before it is unblocked (libpq does the same). */
typedef struct sigpipe_guard_s {
  sigset_t old;
  int blocked;
  int was_pending;
} sigpipe_guard_t;


static void sigpipe_block(sigpipe_guard_t* g) {
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  g->blocked = pthread_sigmask(SIG_BLOCK, &set, &g->old) == 0;
  g->was_pending = 0;
  if (g->blocked && sigpending(&pending) == 0)
    g->was_pending = sigismember(&pending, SIGPIPE) == 1;
}


static void sigpipe_restore(const sigpipe_guard_t* g) {
  static const struct timespec zero = {0, 0};
  sigset_t set, pending;
  if (!g->blocked)
    return;
  if (!g->was_pending && sigpending(&pending) == 0 &&
      sigismember(&pending, SIGPIPE) == 1) {
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}


/* hiredis's adapters/libuv.h (0.14) returns from its poll callback when the
 * status is an error, and libuv reports POLLERR (a refused connect, a reset
 * connection) exactly that way, after stopping the handle: hiredis would
 * never learn the connection failed, and its requests would wait forever.
 * Its read and write hooks are replaced by these, which run on the
 * adapter's own handle and state but, on an error, let hiredis read and
 * write so that it finds the error itself (getsockopt or read(2)) and
 * disconnects. The adapter's attach and cleanup are kept. */
static void on_redis_poll(uv_poll_t* handle, int status, int events) {
  redisLibuvEvents* p = handle->data;
  sigpipe_guard_t g;

  if (status < 0)
    events = UV_READABLE | UV_WRITABLE;
  if (p->context != NULL && (events & UV_READABLE))
    redisAsyncHandleRead(p->context);
  /* The read may have freed the context; the cleanup hook clears it. */
  if (p->context != NULL && (events & UV_WRITABLE)) {
    sigpipe_block(&g);
    redisAsyncHandleWrite(p->context);
    sigpipe_restore(&g);
  }
}


static void poll_update(redisLibuvEvents* p) {
  if (p->events != 0)
    uv_poll_start(&p->handle, p->events, on_redis_poll);
  else
    uv_poll_stop(&p->handle);
}


static void ev_add_read(void* privdata) {
  redisLibuvEvents* p = privdata;
  p->events |= UV_READABLE;
  poll_update(p);
}


static void ev_del_read(void* privdata) {
  redisLibuvEvents* p = privdata;
  p->events &= ~UV_READABLE;
  poll_update(p);
}


static void ev_add_write(void* privdata) {
  redisLibuvEvents* p = privdata;
  p->events |= UV_WRITABLE;
  poll_update(p);
}


static void ev_del_write(void* privdata) {
  redisLibuvEvents* p = privdata;
  p->events &= ~UV_WRITABLE;
  poll_update(p);
}


/* Exponential backoff with jitter: after the n-th failed attempt in a row,
 * a wait drawn from [d/2, d] with d = min(max, min * 2^(n-1)), and never
 * less than the minimum, so that consumers cut off together do not all
 * come back in step. */
static uint64_t reconnect_delay(redis_store_t* rs) {
  uint64_t d = rs->reconnect_min_ms;
  uint64_t j;
  uint32_t i;
  for (i = 1; i < rs->attempts && d < rs->reconnect_max_ms; i++)
    d *= 2;
  if (d > rs->reconnect_max_ms)
    d = rs->reconnect_max_ms;
  j = d / 2 + kn_rng_next(&rs->rng) % (d - d / 2 + 1);
  return j < rs->reconnect_min_ms ? rs->reconnect_min_ms : j;
}


/* The attempt failed, or the connection was lost: try again later. The
 * context is already gone (or being freed by hiredis, which answers the
 * requests it holds). */
static void schedule_reconnect(redis_store_t* rs) {
  rs->ac = NULL;
  rs->ready = 0;
  kn_redis_flush_waiting(rs, KINESIS_ESTORE);
  if (kn_life_closing(&rs->life))
    return;
  if (rs->attempts < UINT32_MAX)
    rs->attempts++;
  uv_timer_start(&rs->timer, on_timer, reconnect_delay(rs), 0);
}


/* Frees the current context ourselves (connect timeout). hiredis answers
 * its commands with NULL replies, and on_disconnect ignores it. */
void kn_redis_drop_connection(redis_store_t* rs) {
  redisAsyncContext* ac = rs->ac;
  rs->ac = NULL;
  rs->ready = 0;
  if (ac != NULL)
    redisAsyncFree(ac);
}


static void on_timer(uv_timer_t* handle) {
  redis_store_t* rs = handle->data;
  if (rs->ac != NULL) {
    /* The attempt (connect and handshake) took too long. */
    kn_redis_drop_connection(rs);
    schedule_reconnect(rs);
    return;
  }
  kn_redis_connect_start(rs);
}


/* hiredis calls this with REDIS_OK once the TCP connection is up (the
 * handshake was queued before), or with REDIS_ERR when it failed; then it
 * frees the context, answering its commands with NULL. Not inside a reply
 * callback in 0.14, so the context must not be freed from here. */
static void on_connect(const redisAsyncContext* ac, int status) {
  redis_store_t* rs = ac->data;
  if (status != REDIS_OK && rs->ac == ac)
    schedule_reconnect(rs);
}


/* An established connection ended: the server closed it, an I/O error, or
 * redisAsyncDisconnect after a failed handshake. hiredis has answered the
 * pending commands with NULL, and frees the context after this returns. */
static void on_disconnect(const redisAsyncContext* ac, int status) {
  redis_store_t* rs = ac->data;
  (void) status;
  if (rs->ac == ac)
    schedule_reconnect(rs);
}


/* Replies to AUTH, SELECT and SCRIPT LOAD. `privdata` is the script for
 * SCRIPT LOAD, NULL for the others. The last SCRIPT LOAD makes the
 * connection ready and sends the waiting requests; an error anywhere fails
 * them and ends the connection. */
static void on_handshake_reply(redisAsyncContext* ac, void* r, void* privdata) {
  redis_store_t* rs = ac->data;
  redisReply* reply = r;
  const script_t* script = privdata;

  if (reply == NULL || rs->ac != ac || rs->handshake_failed)
    return;
  if (reply->type == REDIS_REPLY_ERROR ||
      (script != NULL &&
       (reply->type != REDIS_REPLY_STRING || reply->len != SHA_LEN))) {
    rs->handshake_failed = 1;
    kn_redis_flush_waiting(rs, KINESIS_ESTORE);
    redisAsyncDisconnect(ac);
    return;
  }
  if (script == NULL)
    return;
  memcpy(rs->sha[script - kn_redis_scripts], reply->str, SHA_LEN);
  rs->sha[script - kn_redis_scripts][SHA_LEN] = '\0';
  if (script == &kn_redis_scripts[NSCRIPTS - 1]) {
    rs->ready = 1;
    rs->attempts = 0;
    uv_timer_stop(&rs->timer);
    kn_redis_flush_waiting(rs, 0);
  }
}


/* Queues AUTH, SELECT and the SCRIPT LOADs. Scripts are loaded on every
 * connection, so that a restarted Redis has them before any EVALSHA: the
 * NOSCRIPT fallback to EVAL lets requests already in flight behind the
 * failed one take effect before it. */
static int queue_handshake(redis_store_t* rs, redisAsyncContext* ac) {
  char db[16];
  int i;

  if (rs->password != NULL) {
    int r = rs->user != NULL
                ? redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s %s",
                                    rs->user, rs->password)
                : redisAsyncCommand(ac, on_handshake_reply, NULL, "AUTH %s",
                                    rs->password);
    if (r != REDIS_OK)
      return -1;
  }
  if (rs->db >= 0) {
    snprintf(db, sizeof(db), "%d", rs->db);
    if (redisAsyncCommand(ac, on_handshake_reply, NULL, "SELECT %s", db) !=
        REDIS_OK)
      return -1;
  }
  for (i = 0; i < NSCRIPTS; i++) {
    const script_t* s = &kn_redis_scripts[i];
    if (redisAsyncCommand(ac, on_handshake_reply, (void*) s, "SCRIPT LOAD %s",
                          s->source) != REDIS_OK)
      return -1;
  }
  return 0;
}


void kn_redis_connect_start(redis_store_t* rs) {
  redisAsyncContext* ac;

  KN_ASSERT(rs->ac == NULL);
  /* hiredis resolves the host name here, blocking: prefer an address. The
   * connect itself is non-blocking. */
  ac = redisAsyncConnect(rs->host, rs->port);
  if (ac == NULL) {
    schedule_reconnect(rs);
    return;
  }
  if (ac->err != 0) {
    /* Refused at once (common on loopback). Nothing is attached yet. */
    redisAsyncFree(ac);
    schedule_reconnect(rs);
    return;
  }
  ac->data = rs;
  /* A peer that vanishes without a FIN or RST (a dead host, a dropped
   * route) is noticed after about 30 s of silence instead of never. Best
   * effort: without it the connection still works. */
  (void) redisEnableKeepAlive(&ac->c);
  if (redisLibuvAttach(ac, rs->loop) != REDIS_OK) {
    /* The adapter sets its hooks before it can fail, and its cleanup hook
     * does not accept a NULL state: clear them so that the free does not
     * call it. */
    memset(&ac->ev, 0, sizeof(ac->ev));
    redisAsyncFree(ac);
    schedule_reconnect(rs);
    return;
  }
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  /* After the attach: setting the connect callback arms the write event
   * that detects the connection. */
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  rs->ac = ac;
  rs->ready = 0;
  rs->handshake_failed = 0;
  if (queue_handshake(rs, ac) != 0) {
    kn_redis_drop_connection(rs);
    schedule_reconnect(rs);
    return;
  }
  uv_timer_start(&rs->timer, on_timer, rs->connect_timeout_ms, 0);
}


#endif /* KN_HAVE_REDIS */
