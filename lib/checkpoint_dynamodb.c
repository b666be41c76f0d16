/* The DynamoDB checkpointer: leases and checkpoints in a DynamoDB table in
 * the KCL 2.x lease schema, so that consumers in several processes share a
 * stream's shards, and a KCL application can move to libkinesis on its own
 * lease table (docs/checkpointers.md, "The DynamoDB checkpointer").
 *
 * Every call goes through the client (kn_client_service_call(): signed,
 * retried, on the client's loop and connections). Each operation is a small
 * sequence of calls (a claim reads the row, then creates or takes it),
 * decided from each answer in turn:
 *
 *   claim       GetItem; then PutItem (no row) or UpdateItem (take it), both
 *               conditional; a failed condition reads the row again
 *   get         GetItem
 *   heartbeat,  UpdateItem conditional on the leaseCounter last seen and on
 *   checkpoint, the owner, incrementing the counter; after a failed
 *   finish,     condition under a retry that may have landed, GetItem to see
 *   release     whether it did (the KCL's "spurious failure" check)
 *   member,     a consistent Scan of the table, page by page
 *   leases
 *
 * DynamoDB has no clock to read, so leases expire as in the KCL: each
 * shard's record (rec_t) remembers the (owner, leaseCounter) last read or
 * written and when this process first saw it; a lease is live until it has
 * been seen unchanged for the session timeout. A row never seen before is
 * live: its owner may have renewed it just now.
 *
 * Order: operations on one shard run one after another, since each write
 * is conditional on the counter the one before it left; operations on
 * different shards run at once. member and leases read the whole table, so
 * they wait for every operation called before them, and every later one
 * waits for them (the gate). Until the table is known to be ACTIVE, every
 * operation waits in the gate too. An ordered kn_defer_t (lib/defer.h)
 * holds each request from its call to its callback and delivers the answers
 * on the loop in the order of the calls, never inside DynamoDB's callbacks
 * or the call that made the operation. */

#include "checkpoint.h"
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "codec.h"
#include "defer.h"
#include "strmap.h"
#include "validate.h"

#define DEFAULT_SESSION_TIMEOUT_MS 10000
/* DescribeTable while the table is being created: again after 100 ms,
 * doubling to 2 s, for at most 5 minutes (DynamoDB takes seconds). */
#define TABLE_POLL_MIN_MS 100
#define TABLE_POLL_MAX_MS 2000
#define TABLE_WAIT_MAX_MS (5 * 60 * 1000)
/* After a failed condition a claim reads the row again: another taker won
 * the race (then the row shows a live owner), or our own write landed under
 * a retry (then the row shows us). At most this many reads. */
#define CLAIM_READS 3

/* The KCL's attributes (DynamoDBLeaseSerializer) that we read or write. */
#define A_KEY "leaseKey"
#define A_OWNER "leaseOwner"
#define A_COUNTER "leaseCounter"
#define A_CHECKPOINT "checkpoint"
#define A_SUB "checkpointSubSequenceNumber"
#define A_SWITCHES "ownerSwitchesSinceCheckpoint"

/* The KCL's SentinelCheckpoint values: SHARD_END is a finished shard; the
 * others mean no checkpoint (the KCL's initial position). */
#define SHARD_END "SHARD_END"
#define TRIM_HORIZON "TRIM_HORIZON"

/* A step returns this when a call is on its way; anything else is the
 * operation's answer. */
#define BEGUN 1


/* ---- Types ---- */


/* What this process knows of one shard's row, and the operations on the
 * shard that wait their turn. Kept until close, so that a lease's first
 * sighting is remembered between operations. */
typedef struct rec_s {
  char* owner;        /* leaseOwner as last read or written; NULL: none. */
  uint64_t counter;   /* leaseCounter as last read or written. */
  uint64_t seen_ms;   /* uv_now() when this (owner, counter) was first seen. */
  int present;        /* The row existed when last read or written. */
  int finished;       /* Its checkpoint was SHARD_END. */
  uint64_t scan;      /* The number of the last Scan that saw the row. */
  int busy;           /* An operation on the shard is running. */
  kn_queue_t waiting; /* req_t behind it, in the order of the calls. */
  char id[];
} rec_t;

/* An owner that called member on this checkpointer (see ddb_member). */
typedef struct member_s {
  struct member_s* next;
  uint64_t seen_ms; /* uv_now() of its last call. */
  char owner[];
} member_t;

typedef enum {
  OP_CLAIM,
  OP_HEARTBEAT,
  OP_CHECKPOINT,
  OP_FINISH,
  OP_RELEASE,
  OP_GET,
  OP_MEMBER,
  OP_LEASES
} op_t;

/* The call a running request waits for. */
typedef enum {
  STEP_READ,   /* claim, get: GetItem */
  STEP_CREATE, /* claim: PutItem of a new row */
  STEP_TAKE,   /* claim: UpdateItem taking the lease */
  STEP_WRITE,  /* heartbeat, checkpoint, finish, release: UpdateItem */
  STEP_VERIFY, /* GetItem after an unsure write failed its condition */
  STEP_SCAN    /* member, leases: one page */
} step_t;

typedef enum {
  REQ_WAITING, /* In its record's queue or the gate. */
  REQ_RUNNING, /* A call of it is on its way. */
  REQ_ANSWERED /* Waiting for its turn to be delivered. */
} req_state_t;

/* One operation, from its call to its callback, in the store's `defer`.
 * The owner and the position's sequence number are stored after the
 * struct. */
typedef struct req_s {
  kn_defer_item_t item;
  kn_queue_t node; /* While waiting: in its record's queue or the gate. */
  struct ddb_store_s* store;
  op_t op;
  req_state_t state;
  step_t step;
  rec_t* rec; /* NULL for member and leases. */
  kn_call_t* call;
  int reads;     /* claim: GetItems so far. */
  uint64_t next; /* The leaseCounter our write sets. */
  uint64_t scan; /* member, leases: this Scan's number. */
  char* start;   /* The next page's LastEvaluatedKey; kn_malloc'd. */
  kinesis_ckpt_state_cb state_cb;
  kinesis_ckpt_cb cb;
  kinesis_ckpt_members_cb members_cb;
  kinesis_ckpt_leases_cb leases_cb;
  void* arg;
  int status;
  /* The answer of claim and get. */
  kinesis_checkpoint_t checkpoint;
  char* ck_seq; /* Its sequence number; kn_malloc'd. */
  /* member */
  int leaving;
  member_t* fresh; /* The caller's membership, if it has none yet. */
  uint32_t live;
  /* leases: the entries, with copies of the asked ids, in one block; the
   * owners of the answer in another. */
  kinesis_lease_t* leases;
  size_t n;
  char* owners;
  /* checkpoint */
  const char* seq;
  uint32_t sub;
  int partial;
  const char* owner;
  char buf[];
} req_t;

typedef enum {
  TABLE_UNKNOWN,  /* Not checked yet, or the last check failed. */
  TABLE_CHECKING, /* DescribeTable, CreateTable, or waiting to poll. */
  TABLE_READY
} table_state_t;

typedef struct ddb_store_s {
  /* The public object, freed together with the store. */
  kinesis_checkpointer_t pub;
  kn_ckpt_base_t base; /* the client, and the close's slot */
  uv_loop_t* loop;
  kn_service_target_t target;
  char* table;
  uint64_t session_timeout_ms;
  int create_table;
  /* The table: its state, the call checking it (NULL between calls), and
   * the timer that waits between DescribeTables while it is created. */
  table_state_t table_state;
  kn_call_t* table_call;
  int table_creating;     /* table_call is CreateTable, not DescribeTable */
  uint64_t table_since;   /* uv_now() when the wait for ACTIVE began. */
  uint64_t table_poll_ms; /* The next wait. */
  uv_timer_t timer;
  kn_strmap_t recs; /* shard id -> rec_t */
  member_t* members;
  uint64_t scans; /* Scans so far, to number them. */
  /* Scheduling (see the top of the file). */
  kn_queue_t gate;        /* req_t not started, in the order of the calls */
  unsigned keyed_running; /* shard operations running */
  int global_running;     /* a member or leases running */
  unsigned ncalls;        /* calls to DynamoDB on their way */
  kn_defer_t defer;       /* Every req_t, oldest first; delivered in order. */
  unsigned pending_closes;
  /* KN_LIFE_CLOSING: close() was called, new operations are refused.
   * KN_LIFE_FREEING: the handles are closing. */
  kn_life_t life;
  kinesis_ckpt_cb close_cb;
  void* close_arg;
} ddb_store_t;


static void req_release(ddb_store_t* s, req_t* req);
static void store_maybe_finish_close(ddb_store_t* s);


/* ---- Records ---- */


/* The record of `id`, made when `create` and it has none; NULL when absent
 * or out of memory. */
static rec_t* rec_get(ddb_store_t* s, const char* id, int create) {
  rec_t* r = kn_strmap_get(&s->recs, id);
  size_t len;

  if (r != NULL || !create)
    return r;
  len = strlen(id) + 1;
  r = kn_calloc(1, sizeof(*r) + len);
  if (r == NULL)
    return NULL;
  memcpy(r->id, id, len);
  kn_queue_init(&r->waiting);
  if (kn_strmap_put(&s->recs, r->id, r) != 0) {
    kn_free(r);
    return NULL;
  }
  return r;
}


static int same_owner(const char* a, const char* b) {
  return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}


/* The row holds (owner, counter) now, read or written by us at `now`: the
 * lease was last seen changing now unless it held them already. On
 * KINESIS_ENOMEM the record is left as it was. */
static int rec_see(rec_t* r, const char* owner, uint64_t counter,
                   uint64_t now) {
  char* copy = NULL;

  if (r->present && r->counter == counter && same_owner(r->owner, owner))
    return 0;
  if (owner != NULL && (copy = kn_strdup(owner)) == NULL)
    return KINESIS_ENOMEM;
  kn_free(r->owner);
  r->owner = copy;
  r->counter = counter;
  r->seen_ms = now;
  r->present = 1;
  return 0;
}


/* The row does not exist. */
static void rec_gone(rec_t* r) {
  kn_free(r->owner);
  r->owner = NULL;
  r->counter = 0;
  r->present = 0;
  r->finished = 0;
}


/* Whether the lease is held by someone who may still be renewing it: an
 * owner, and a counter not seen unchanged for the session timeout. An empty
 * leaseOwner (the KCL writes none) counts as no owner. */
static int rec_live(const ddb_store_t* s, const rec_t* r, uint64_t now) {
  return r->present && r->owner != NULL && r->owner[0] != '\0' &&
         now - r->seen_ms <= s->session_timeout_ms;
}


static int rec_owned_by(const rec_t* r, const char* owner) {
  return r->present && r->owner != NULL && strcmp(r->owner, owner) == 0;
}


static void recs_free(ddb_store_t* s) {
  size_t i;
  for (i = 0; i < s->recs.nslots; i++) {
    rec_t* r = s->recs.slots[i].value;
    if (s->recs.slots[i].key == NULL)
      continue;
    kn_free(r->owner);
    kn_free(r);
  }
  kn_strmap_free(&s->recs);
}


/* ---- Rows ---- */


/* The attributes of a lease row that we read. Strings point into the
 * parsed answer. */
typedef struct row_s {
  const char* key;
  const char* owner; /* NULL when absent. */
  uint64_t counter;
  const char* checkpoint; /* A sequence number or a sentinel; NULL: none. */
  uint64_t sub;
} row_t;


static const kn_ddb_attr_t* attr_find(const kn_ddb_item_t* it,
                                      const char* name) {
  size_t i;
  for (i = 0; i < it->nattrs; i++)
    if (strcmp(it->attrs[i].name, name) == 0)
      return &it->attrs[i];
  return NULL;
}


/* A DynamoDB number that is a whole decimal in [0, max]: the KCL writes
 * its counters and sub-sequence numbers as Java longs. */
static int parse_uint(const char* s, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  if (s == NULL || *s == '\0')
    return -1;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (max - (uint64_t) (*s - '0')) / 10)
      return -1;
    v = v * 10 + (uint64_t) (*s - '0');
  }
  *out = v;
  return 0;
}


static int is_sentinel(const char* s) {
  return strcmp(s, TRIM_HORIZON) == 0 || strcmp(s, "LATEST") == 0 ||
         strcmp(s, "AT_TIMESTAMP") == 0 || strcmp(s, SHARD_END) == 0;
}


/* Reads a lease row: leaseKey (S) and leaseCounter (N) required, the rest
 * optional but of the KCL's types, and a checkpoint that is a sequence
 * number or a sentinel. Anything else is KINESIS_EPROTO: a row we cannot
 * read is not one to write over. */
static int row_parse(const kn_ddb_item_t* it, row_t* row) {
  const kn_ddb_attr_t* a;

  memset(row, 0, sizeof(*row));
  a = attr_find(it, A_KEY);
  if (a == NULL || strcmp(a->type, "S") != 0)
    return KINESIS_EPROTO;
  row->key = a->value;
  a = attr_find(it, A_COUNTER);
  if (a == NULL || strcmp(a->type, "N") != 0 ||
      parse_uint(a->value, INT64_MAX, &row->counter) != 0)
    return KINESIS_EPROTO;
  if ((a = attr_find(it, A_OWNER)) != NULL) {
    if (strcmp(a->type, "S") != 0)
      return KINESIS_EPROTO;
    row->owner = a->value;
  }
  if ((a = attr_find(it, A_CHECKPOINT)) != NULL) {
    if (strcmp(a->type, "S") != 0 ||
        (!is_sentinel(a->value) && !kn_valid_sequence_number(a->value)))
      return KINESIS_EPROTO;
    row->checkpoint = a->value;
  }
  if ((a = attr_find(it, A_SUB)) != NULL &&
      (strcmp(a->type, "N") != 0 ||
       parse_uint(a->value, UINT32_MAX, &row->sub) != 0))
    return KINESIS_EPROTO;
  return 0;
}


static int row_finished(const row_t* row) {
  return row->checkpoint != NULL && strcmp(row->checkpoint, SHARD_END) == 0;
}


/* Notes what a read found of the record's row (`row` NULL: none), at `now`. */
static int rec_observe(rec_t* r, const row_t* row, uint64_t now) {
  int err;
  if (row == NULL) {
    rec_gone(r);
    return 0;
  }
  if ((err = rec_see(r, row->owner, row->counter, now)) != 0)
    return err;
  r->finished = row_finished(row);
  return 0;
}


/* The answer's position from a row (NULL: no row). The KCL's mapping
 * (ExtendedSequenceNumber): a checkpoint (seq, sub) means every user record
 * up to and including sub of the record seq was processed, and the KCL
 * reads on from seq again, dropping those. We store a complete record as
 * sub 0 and a partly processed aggregate as its sub, so a sub above 0 reads
 * back as partial; a sub of 0 as complete (see step_write for the one
 * position this cannot tell apart). SHARD_END is a finished shard, and the
 * other sentinels are no checkpoint. */
static int req_take_checkpoint(req_t* req, const row_t* row) {
  kinesis_checkpoint_t* ck = &req->checkpoint;

  kn_free(req->ck_seq);
  req->ck_seq = NULL;
  memset(ck, 0, sizeof(*ck));
  if (row == NULL || row->checkpoint == NULL)
    return 0;
  if (row_finished(row)) {
    ck->finished = 1;
    return 0;
  }
  if (is_sentinel(row->checkpoint))
    return 0;
  req->ck_seq = kn_strdup(row->checkpoint);
  if (req->ck_seq == NULL)
    return KINESIS_ENOMEM;
  ck->sequence_number = req->ck_seq;
  ck->sub_sequence_number = (uint32_t) row->sub;
  ck->partial = row->sub > 0;
  return 0;
}


/* ---- Requests ---- */


static void req_free(req_t* req) {
  kn_free(req->start);
  kn_free(req->ck_seq);
  kn_free(req->fresh);
  kn_free(req->leases);
  kn_free(req->owners);
  kn_free(req);
}


/* Delivers `req`, its turn come, and frees it. */
static void req_run(kn_defer_item_t* item) {
  req_t* req = container_of(item, req_t, item);
  switch (req->op) {
    case OP_CLAIM:
    case OP_GET:
      req->state_cb(req->status, &req->checkpoint, req->arg);
      break;
    case OP_MEMBER:
      req->members_cb(req->status, req->status == 0 ? req->live : 0, req->arg);
      break;
    case OP_LEASES:
      if (req->status == 0)
        req->leases_cb(0, req->leases, req->n, req->arg);
      else
        req->leases_cb(req->status, NULL, 0, req->arg);
      break;
    default:
      req->cb(req->status, req->arg);
      break;
  }
  /* The store is freed only from a uv close callback, so it is still valid
   * after the callback even if it closed it. */
  req_free(req);
}


/* Answers `req` with `status`; its callback runs on a later tick, after
 * those of the operations called before it. */
static void req_answer(ddb_store_t* s, req_t* req, int status) {
  req->state = REQ_ANSWERED;
  req->status = status;
  kn_defer_ready(&s->defer, &req->item);
}


static int is_condition_failure(int status, const kinesis_result_t* res) {
  return status == KINESIS_ESVCOTHER && res->error_code != NULL &&
         strcmp(res->error_code, "ConditionalCheckFailedException") == 0;
}


static void on_call(kinesis_client_t* client, int status,
                    const kinesis_result_t* res, void* arg);


/* Sends `body` (freed here) as `action` for `req`, whose next answer comes
 * to on_call in `step`. Returns BEGUN or the error that answers `req`. */
static int req_call(req_t* req, step_t step, const char* action, kn_buf_t* b,
                    int r) {
  ddb_store_t* s = req->store;

  if (r == 0 && kn_life_closing(&s->life))
    r = KINESIS_ECANCELED;
  if (r == 0)
    r = kn_client_service_call(s->base.client, &s->target, action,
                               (const char*) b->data, b->len, on_call, req,
                               &req->call);
  kn_buf_free(b);
  if (r != 0)
    return r;
  s->ncalls++;
  req->step = step;
  req->state = REQ_RUNNING;
  return BEGUN;
}


/* GetItem of the request's row, consistent. */
static int step_read(req_t* req, step_t step) {
  ddb_store_t* s = req->store;
  kn_buf_t b;
  kn_buf_init(&b);
  return req_call(req, step, "GetItem", &b,
                  kn_codec_ddb_get_item(&b, s->table, A_KEY, req->rec->id));
}


/* A new row, owned by the caller, with no checkpoint yet: the KCL's own
 * new leases start at TRIM_HORIZON, which we read as none. */
static int step_create(req_t* req) {
  ddb_store_t* s = req->store;
  kn_ddb_value_t item[] = {
      {A_KEY, 'S', req->rec->id}, {A_OWNER, 'S', req->owner},
      {A_COUNTER, 'N', "1"},      {A_CHECKPOINT, 'S', TRIM_HORIZON},
      {A_SUB, 'N', "0"},          {A_SWITCHES, 'N', "0"},
  };
  kn_buf_t b;
  kn_buf_init(&b);
  req->next = 1;
  return req_call(req, STEP_CREATE, "PutItem", &b,
                  kn_codec_ddb_put_item(&b, s->table, item, KN_ARRAY_SIZE(item),
                                        "attribute_not_exists(" A_KEY ")"));
}


/* Takes the lease as the record last saw it: conditional on that counter
 * and owner, so that of two takers only one wins. Like the KCL's
 * takeLease, it counts an owner switch when it takes the lease from
 * another owner (not from nobody). */
static int step_take(req_t* req) {
  ddb_store_t* s = req->store;
  rec_t* r = req->rec;
  char c[24], n[24];
  kn_ddb_value_t v[5];
  size_t nv = 0;
  int from_other = r->owner != NULL && strcmp(r->owner, req->owner) != 0;
  const char* update = "SET " A_OWNER " = :o, " A_COUNTER " = :n";
  const char* condition = A_COUNTER " = :c AND " A_OWNER " = :p";
  kn_buf_t b;

  req->next = r->counter + 1;
  snprintf(c, sizeof(c), "%" PRIu64, r->counter);
  snprintf(n, sizeof(n), "%" PRIu64, req->next);
  v[nv++] = (kn_ddb_value_t){":c", 'N', c};
  v[nv++] = (kn_ddb_value_t){":n", 'N', n};
  v[nv++] = (kn_ddb_value_t){":o", 'S', req->owner};
  /* DynamoDB refuses a placeholder that no expression uses. */
  if (r->owner != NULL)
    v[nv++] = (kn_ddb_value_t){":p", 'S', r->owner};
  if (from_other) {
    v[nv++] = (kn_ddb_value_t){":one", 'N', "1"};
    update = "SET " A_OWNER " = :o, " A_COUNTER " = :n ADD " A_SWITCHES " :one";
  }
  if (r->owner == NULL)
    condition = A_COUNTER " = :c AND attribute_not_exists(" A_OWNER ")";
  kn_buf_init(&b);
  return req_call(req, STEP_TAKE, "UpdateItem", &b,
                  kn_codec_ddb_update_item(&b, s->table, A_KEY, r->id, update,
                                           condition, v, nv));
}


/* The fenced write of heartbeat, checkpoint, finish and release:
 * conditional on the counter and owner the record last saw, which are the
 * row's as long as nobody else wrote it since (every write increments the
 * counter), and incrementing the counter, as the KCL's renewLease and
 * updateLease do.
 *
 *   heartbeat   leaseCounter
 *   checkpoint  leaseCounter, checkpoint, checkpointSubSequenceNumber and
 *               ownerSwitchesSinceCheckpoint 0 (the KCL's checkpoint)
 *   finish      the same with SHARD_END and 0; leaseOwner removed
 *   release     leaseCounter; leaseOwner removed (the KCL's evictLease)
 *
 * Every other attribute is left as it is. */
static int step_write(req_t* req) {
  ddb_store_t* s = req->store;
  rec_t* r = req->rec;
  char c[24], n[24], sub[16];
  kn_ddb_value_t v[6];
  size_t nv = 0;
  const char* update = "SET " A_COUNTER " = :n";
  kn_buf_t b;

  req->next = r->counter + 1;
  snprintf(c, sizeof(c), "%" PRIu64, r->counter);
  snprintf(n, sizeof(n), "%" PRIu64, req->next);
  v[nv++] = (kn_ddb_value_t){":c", 'N', c};
  v[nv++] = (kn_ddb_value_t){":n", 'N', n};
  v[nv++] = (kn_ddb_value_t){":o", 'S', req->owner};
  switch (req->op) {
    case OP_CHECKPOINT:
      /* Two positions the schema cannot hold keep the stored one (the
       * write only renews): a finished shard stays at SHARD_END, since
       * only finish marks a shard (the record is the row's, the write
       * being conditional on its counter); and user record 0 of an
       * aggregate with the rest to come would read back as the whole
       * record done, and lose the rest. Keeping the older position reads
       * a few records again after a takeover, and loses none. */
      if (r->finished || (req->partial && req->sub == 0))
        break;
      snprintf(sub, sizeof(sub), "%" PRIu32, req->partial ? req->sub : 0);
      v[nv++] = (kn_ddb_value_t){":k", 'S', req->seq};
      v[nv++] = (kn_ddb_value_t){":s", 'N', sub};
      v[nv++] = (kn_ddb_value_t){":z", 'N', "0"};
      update = "SET " A_COUNTER " = :n, " A_CHECKPOINT " = :k, " A_SUB
               " = :s, " A_SWITCHES " = :z";
      break;
    case OP_FINISH:
      v[nv++] = (kn_ddb_value_t){":k", 'S', SHARD_END};
      v[nv++] = (kn_ddb_value_t){":z", 'N', "0"};
      update = "SET " A_COUNTER " = :n, " A_CHECKPOINT " = :k, " A_SUB
               " = :z, " A_SWITCHES " = :z REMOVE " A_OWNER;
      break;
    case OP_RELEASE:
      update = "SET " A_COUNTER " = :n REMOVE " A_OWNER;
      break;
    default:
      break;
  }
  kn_buf_init(&b);
  return req_call(
      req, STEP_WRITE, "UpdateItem", &b,
      kn_codec_ddb_update_item(&b, s->table, A_KEY, r->id, update,
                               A_COUNTER " = :c AND " A_OWNER " = :o", v, nv));
}


/* One page of a consistent Scan, from req->start. */
static int step_scan(req_t* req) {
  ddb_store_t* s = req->store;
  kn_buf_t b;
  kn_buf_init(&b);
  return req_call(req, STEP_SCAN, "Scan", &b,
                  kn_codec_ddb_scan(&b, s->table, A_KEY, req->start));
}


/* The owner a write of `req` leaves in the row. */
static const char* owner_after(const req_t* req) {
  return req->op == OP_FINISH || req->op == OP_RELEASE ? NULL : req->owner;
}


/* ---- Answers ---- */


/* A GetItem's row, or none (*found 0). `p` must be kn_parsed_free()d. */
static int parse_row(const kinesis_result_t* res, kn_parsed_t* p, row_t* row,
                     int* found) {
  size_t len;
  const char* body = kn_client_result_body(res, &len);
  int r = kn_codec_parse_ddb_item((const uint8_t*) body, len, p);

  *found = 0;
  if (r != 0 || p->nitems == 0)
    return r;
  r = row_parse(&p->items[0], row);
  *found = r == 0;
  return r;
}


/* Claim's next read after a failed condition, or its refusal once it has
 * read enough: the lease keeps changing hands under it. */
static int claim_again(req_t* req) {
  if (req->reads < CLAIM_READS)
    return step_read(req, STEP_READ);
  return KINESIS_ELEASED;
}


/* The answer to claim's or get's GetItem: for claim, the next step. */
static int on_read(req_t* req, int status, const kinesis_result_t* res) {
  ddb_store_t* s = req->store;
  rec_t* r = req->rec;
  uint64_t now = uv_now(s->loop);
  kn_parsed_t p;
  row_t row;
  int found, err;

  if (status != 0)
    return status;
  err = parse_row(res, &p, &row, &found);
  if (err == 0)
    err = rec_observe(r, found ? &row : NULL, now);
  if (err == 0)
    err = req_take_checkpoint(req, found ? &row : NULL);
  kn_parsed_free(&p);
  if (err != 0 || req->op == OP_GET)
    return err;
  req->reads++;
  if (!r->present)
    return step_create(req);
  /* Free, ours already, or expired: take it. A finished shard is claimed
   * like any other. */
  if (rec_live(s, r, now) && !rec_owned_by(r, req->owner))
    return KINESIS_ELEASED;
  return step_take(req);
}


/* The answer to a write (STEP_CREATE, STEP_TAKE, STEP_WRITE) that landed:
 * the record is what the write left. */
static int wrote(req_t* req) {
  rec_t* r = req->rec;
  int err = rec_see(r, owner_after(req), req->next, uv_now(req->store->loop));
  if (err != 0)
    return err;
  if (req->op == OP_FINISH)
    r->finished = 1;
  return 0;
}


/* After a write that failed its condition under a retry: the first
 * attempt may have landed, and then the row holds exactly what it wrote
 * (the KCL's renewLease makes the same check). */
static int on_verify(req_t* req, int status, const kinesis_result_t* res) {
  kn_parsed_t p;
  row_t row;
  int found, err, landed;

  if (status != 0)
    return status;
  err = parse_row(res, &p, &row, &found);
  landed = err == 0 && found && row.counter == req->next &&
           same_owner(row.owner, owner_after(req));
  if (err == 0)
    err = rec_observe(req->rec, found ? &row : NULL, uv_now(req->store->loop));
  kn_parsed_free(&p);
  if (err != 0)
    return err;
  return landed ? wrote(req) : KINESIS_ELEASELOST;
}


/* member's answer, once the Scan has read the table: the owners of live
 * leases, the owners that called member here within the session timeout,
 * and the caller unless it is leaving, each counted once. */
static int member_answer(req_t* req, uint64_t now) {
  ddb_store_t* s = req->store;
  member_t** link = &s->members;
  member_t* mine = NULL;
  member_t* m;
  kn_strmap_t owners;
  size_t i;
  int err = 0;

  /* The memberships kept here: the expired ones go, the caller's is
   * renewed, or removed when it leaves. */
  while ((m = *link) != NULL) {
    int is_caller = strcmp(m->owner, req->owner) == 0;
    if (now - m->seen_ms > s->session_timeout_ms ||
        (is_caller && req->leaving)) {
      *link = m->next;
      kn_free(m);
      continue;
    }
    if (is_caller)
      mine = m;
    link = &m->next;
  }
  if (!req->leaving) {
    if (mine == NULL) {
      mine = req->fresh;
      req->fresh = NULL;
      mine->next = s->members;
      s->members = mine;
    }
    mine->seen_ms = now;
  }

  kn_strmap_init(&owners);
  for (i = 0; err == 0 && i < s->recs.nslots; i++) {
    const rec_t* r = s->recs.slots[i].value;
    if (s->recs.slots[i].key != NULL && rec_live(s, r, now))
      err = kn_strmap_put(&owners, r->owner, NULL);
  }
  for (m = s->members; err == 0 && m != NULL; m = m->next)
    err = kn_strmap_put(&owners, m->owner, NULL);
  if (req->leaving)
    kn_strmap_remove(&owners, req->owner);
  req->live = (uint32_t) owners.n;
  kn_strmap_free(&owners);
  return err;
}


/* leases' answer, once the Scan has read the table (or at once, for no
 * shards): each asked shard as its record says. */
static int leases_answer(req_t* req, uint64_t now) {
  ddb_store_t* s = req->store;
  size_t total = 0;
  char* p;
  size_t i;

  for (i = 0; i < req->n; i++) {
    const rec_t* r = rec_get(s, req->leases[i].shard_id, 0);
    if (r != NULL && rec_live(s, r, now))
      total += strlen(r->owner) + 1;
  }
  if (total > 0 && (req->owners = kn_malloc(total)) == NULL)
    return KINESIS_ENOMEM;
  p = req->owners;
  for (i = 0; i < req->n; i++) {
    kinesis_lease_t* l = &req->leases[i];
    const rec_t* r = rec_get(s, l->shard_id, 0);
    if (r == NULL)
      continue;
    if (rec_live(s, r, now)) {
      size_t len = strlen(r->owner) + 1;
      memcpy(p, r->owner, len);
      l->owner = p;
      p += len;
    }
    l->finished = r->present && r->finished;
    l->known = r->present;
  }
  return 0;
}


/* One page of member's or leases' Scan: every row it holds is noted; then
 * the next page, or, at the end, the answer. Rows that are not leases of
 * this schema are passed over. */
static int on_scan(req_t* req, int status, const kinesis_result_t* res) {
  ddb_store_t* s = req->store;
  uint64_t now = uv_now(s->loop);
  kn_parsed_t p;
  size_t len, i;
  const char* body;
  int err;

  if (status != 0)
    return status;
  body = kn_client_result_body(res, &len);
  err = kn_codec_parse_ddb_scan((const uint8_t*) body, len, A_KEY, &p);
  for (i = 0; err == 0 && i < p.nitems; i++) {
    row_t row;
    rec_t* r;
    if (row_parse(&p.items[i], &row) != 0)
      continue;
    r = rec_get(s, row.key, 1);
    if (r == NULL || rec_observe(r, &row, now) != 0)
      err = KINESIS_ENOMEM;
    else
      r->scan = req->scan;
  }
  if (err == 0 && p.last_key != NULL) {
    kn_free(req->start);
    req->start = kn_strdup(p.last_key);
    kn_parsed_free(&p);
    return req->start != NULL ? step_scan(req) : KINESIS_ENOMEM;
  }
  kn_parsed_free(&p);
  if (err != 0)
    return err;
  /* The whole table was read: rows it did not show are gone. */
  for (i = 0; i < s->recs.nslots; i++) {
    rec_t* r = s->recs.slots[i].value;
    if (s->recs.slots[i].key != NULL && r->present && r->scan != req->scan)
      rec_gone(r);
  }
  return req->op == OP_MEMBER ? member_answer(req, now)
                              : leases_answer(req, now);
}


/* The answer to the call of `req`'s current step: BEGUN when the next
 * step's call is on its way, else the operation's answer. */
static int req_step_done(req_t* req, int status, const kinesis_result_t* res) {
  switch (req->step) {
    case STEP_READ:
      return on_read(req, status, res);
    case STEP_CREATE:
    case STEP_TAKE:
      /* Another taker won, or our own write landed before a retry: the
       * row says which. */
      if (is_condition_failure(status, res))
        return claim_again(req);
      return status != 0 ? status : wrote(req);
    case STEP_WRITE:
      if (is_condition_failure(status, res))
        return res->unsure_retries > 0 ? step_read(req, STEP_VERIFY)
                                       : KINESIS_ELEASELOST;
      return status != 0 ? status : wrote(req);
    case STEP_VERIFY:
      return on_verify(req, status, res);
    case STEP_SCAN:
      return on_scan(req, status, res);
  }
  return KINESIS_EPROTO;
}


static void on_call(kinesis_client_t* client, int status,
                    const kinesis_result_t* res, void* arg) {
  req_t* req = arg;
  ddb_store_t* s = req->store;
  int r;

  (void) client;
  req->call = NULL;
  s->ncalls--;
  r = status == KINESIS_ECANCELED ? status : req_step_done(req, status, res);
  if (r == BEGUN)
    return;
  req_answer(s, req, r);
  req_release(s, req);
}


/* ---- Scheduling ---- */


/* The first call of `req`, its turn come; or its answer when it needs
 * none. */
static int req_begin(req_t* req) {
  ddb_store_t* s = req->store;

  switch (req->op) {
    case OP_CLAIM:
    case OP_GET:
      return step_read(req, STEP_READ);
    case OP_HEARTBEAT:
    case OP_CHECKPOINT:
    case OP_FINISH:
    case OP_RELEASE:
      /* Fencing: a lease the caller was not last seen holding is lost,
       * and nothing is written. */
      if (!rec_owned_by(req->rec, req->owner))
        return KINESIS_ELEASELOST;
      return step_write(req);
    case OP_MEMBER:
    case OP_LEASES:
      if (req->op == OP_LEASES && req->n == 0)
        return leases_answer(req, uv_now(s->loop));
      req->scan = ++s->scans;
      return step_scan(req);
  }
  return KINESIS_EINVAL;
}


/* Starts `req`: it runs until on_call answers it, or is answered now. */
static void req_start(ddb_store_t* s, req_t* req) {
  int r = req_begin(req);
  if (r != BEGUN) {
    req_answer(s, req, r);
    return;
  }
  if (req->rec != NULL) {
    req->rec->busy = 1;
    s->keyed_running++;
  } else {
    s->global_running = 1;
  }
}


/* Runs `req`, which nothing in the gate precedes, or queues it behind the
 * operation running on its shard. A member or leases comes here only once
 * nothing runs. */
static void req_dispatch(ddb_store_t* s, req_t* req) {
  if (req->rec != NULL && req->rec->busy) {
    kn_queue_insert_tail(&req->rec->waiting, &req->node);
    return;
  }
  req_start(s, req);
}


/* Lets the gate's requests go, in the order of the calls, as far as they
 * may: while the table is ready, up to a member or leases that must wait
 * for the operations running. */
static void gate_drain(ddb_store_t* s) {
  while (s->table_state == TABLE_READY && !kn_queue_empty(&s->gate) &&
         !s->global_running) {
    req_t* head = kn_queue_data(s->gate.next, req_t, node);
    if (head->rec == NULL && s->keyed_running > 0)
      break;
    kn_queue_remove(&head->node);
    req_dispatch(s, head);
  }
}


static void table_check(ddb_store_t* s);


/* Takes a new request: run at once when nothing holds it back, else
 * queued. Either way the answer comes on a later tick. */
static void req_submit(ddb_store_t* s, req_t* req) {
  req->state = REQ_WAITING;
  kn_defer_add(&s->defer, &req->item, req_run);
  if (s->table_state != TABLE_READY || !kn_queue_empty(&s->gate) ||
      s->global_running || (req->rec == NULL && s->keyed_running > 0)) {
    kn_queue_insert_tail(&s->gate, &req->node);
    table_check(s);
    return;
  }
  req_dispatch(s, req);
}


/* `req`, which ran, is answered: the next operation on its shard may run,
 * and then the gate's. */
static void req_release(ddb_store_t* s, req_t* req) {
  rec_t* r = req->rec;

  if (r == NULL) {
    s->global_running = 0;
  } else {
    r->busy = 0;
    s->keyed_running--;
    while (!r->busy && !kn_queue_empty(&r->waiting)) {
      req_t* next = kn_queue_data(r->waiting.next, req_t, node);
      kn_queue_remove(&next->node);
      req_start(s, next);
    }
  }
  gate_drain(s);
}


/* ---- The table ---- */


static void on_table_call(kinesis_client_t* client, int status,
                          const kinesis_result_t* res, void* arg);


/* DescribeTable, or CreateTable when `create`. */
static void table_call(ddb_store_t* s, int create);


/* The table cannot be used: the operations waiting for it are answered
 * with `status`, and the next operation checks it again. DynamoDB's
 * message goes to the client's log, since an operation's answer carries
 * only a status. */
static void table_failed(ddb_store_t* s, int status, const char* what,
                         const kinesis_result_t* res) {
  s->table_state = TABLE_UNKNOWN;
  kn_client_log(s->base.client, KINESIS_LOG_ERROR,
                "DynamoDB checkpointer: table %s: %s: %s%s%s", s->table, what,
                res != NULL && res->error_code != NULL ? res->error_code : "",
                res != NULL && res->error_code != NULL ? ": " : "",
                res != NULL && res->error_message != NULL
                    ? res->error_message
                    : kinesis_strerror(status));
  while (!kn_queue_empty(&s->gate)) {
    req_t* req = kn_queue_data(s->gate.next, req_t, node);
    kn_queue_remove(&req->node);
    req_answer(s, req, status);
  }
}


static void table_call(ddb_store_t* s, int create) {
  kn_buf_t b;
  int r;

  kn_buf_init(&b);
  r = create ? kn_codec_ddb_create_table(&b, s->table, A_KEY)
             : kn_codec_ddb_table(&b, s->table);
  if (r == 0)
    r = kn_client_service_call(
        s->base.client, &s->target, create ? "CreateTable" : "DescribeTable",
        (const char*) b.data, b.len, on_table_call, s, &s->table_call);
  kn_buf_free(&b);
  if (r != 0) {
    table_failed(s, r, create ? "CreateTable" : "DescribeTable", NULL);
    return;
  }
  s->table_creating = create;
  s->ncalls++;
}


static void on_table_timer(uv_timer_t* t) {
  table_call(t->data, 0);
}


/* Before the first operation is sent: DescribeTable, and CreateTable when
 * it is missing and create_table allows. */
static void table_check(ddb_store_t* s) {
  if (s->table_state != TABLE_UNKNOWN)
    return;
  s->table_state = TABLE_CHECKING;
  s->table_since = uv_now(s->loop);
  s->table_poll_ms = TABLE_POLL_MIN_MS;
  table_call(s, 0);
}


/* DescribeTable's answer: ACTIVE (or UPDATING, which serves requests) lets
 * the operations go; CREATING waits and asks again. */
static void table_described(ddb_store_t* s, const kinesis_result_t* res) {
  size_t len;
  const char* body = kn_client_result_body(res, &len);
  kn_parsed_t p;
  int r = kn_codec_parse_ddb_table((const uint8_t*) body, len, &p);

  if (r != 0) {
    kn_parsed_free(&p);
    table_failed(s, r, "DescribeTable", NULL);
    return;
  }
  if (strcmp(p.table_status, "ACTIVE") == 0 ||
      strcmp(p.table_status, "UPDATING") == 0) {
    kn_parsed_free(&p);
    s->table_state = TABLE_READY;
    gate_drain(s);
    return;
  }
  if (strcmp(p.table_status, "CREATING") != 0) {
    char what[64];
    snprintf(what, sizeof(what), "its status is %s", p.table_status);
    kn_parsed_free(&p);
    table_failed(s, KINESIS_ESVCOTHER, what, NULL);
    return;
  }
  kn_parsed_free(&p);
  if (uv_now(s->loop) - s->table_since > TABLE_WAIT_MAX_MS) {
    table_failed(s, KINESIS_ETIMEDOUT, "waiting for ACTIVE", NULL);
    return;
  }
  uv_timer_start(&s->timer, on_table_timer, s->table_poll_ms, 0);
  s->table_poll_ms *= 2;
  if (s->table_poll_ms > TABLE_POLL_MAX_MS)
    s->table_poll_ms = TABLE_POLL_MAX_MS;
}


static void on_table_call(kinesis_client_t* client, int status,
                          const kinesis_result_t* res, void* arg) {
  ddb_store_t* s = arg;

  (void) client;
  s->table_call = NULL;
  s->ncalls--;
  if (kn_life_closing(&s->life)) {
    store_maybe_finish_close(s);
    return;
  }
  if (s->table_creating) {
    /* Created, or being created by someone else: wait for ACTIVE. */
    if (status == 0 || (res->error_code != NULL &&
                        strcmp(res->error_code, "ResourceInUseException") == 0))
      table_call(s, 0);
    else
      table_failed(s, status, "CreateTable", res);
    return;
  }
  if (status == KINESIS_ENOTFOUND && s->create_table)
    table_call(s, 1);
  else if (status == KINESIS_ENOTFOUND)
    table_failed(s, status, "missing, and create_table is 0", res);
  else if (status != 0)
    table_failed(s, status, "DescribeTable", res);
  else
    table_described(s, res);
}


/* ---- Close ---- */


static void members_free(ddb_store_t* s) {
  while (s->members != NULL) {
    member_t* next = s->members->next;
    kn_free(s->members);
    s->members = next;
  }
}


static void store_free(ddb_store_t* s) {
  recs_free(s);
  members_free(s);
  kn_client_target_free(&s->target);
  kn_free(s->table);
  kn_free(s);
}


static void on_handle_closed(uv_handle_t* handle) {
  ddb_store_t* s = handle->data;
  kinesis_ckpt_cb cb;
  void* arg;

  if (--s->pending_closes > 0)
    return;
  cb = s->close_cb;
  arg = s->close_arg;
  /* The client may close from the callback. KN_LIFE_CLOSING is still set,
   * so anything the callback calls is refused with KINESIS_ECLOSING before
   * the memory goes. */
  kn_client_child_remove(s->base.client);
  (void) KN_LIFE_INVOKE(&s->defer.life, cb(0, arg));
  KN_ASSERT(kn_queue_empty(&s->defer.items) && s->ncalls == 0);
  store_free(s);
}


/* Once closing, every operation answered and every call back, closes the
 * handles; the last close callback notifies the user and frees
 * everything. */
static void store_maybe_finish_close(ddb_store_t* s) {
  if (!kn_life_closing(&s->life) || kn_life_freeing(&s->life) ||
      !kn_defer_empty(&s->defer) || s->ncalls > 0)
    return;
  kn_life_begin_free(&s->life);
  s->pending_closes = 2;
  kn_defer_close(&s->defer, NULL, on_handle_closed);
  uv_close((uv_handle_t*) &s->timer, on_handle_closed);
}


/* After a tick that delivered every answer. */
static void on_defer_empty(kn_defer_t* d) {
  store_maybe_finish_close(d->idle.data);
}


static int ddb_close(void* self, kinesis_ckpt_cb cb, void* arg) {
  ddb_store_t* s = self;
  kn_queue_t* q;

  if (s == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_begin_close(&s->life) < 0)
    return KINESIS_EALREADY;
  s->close_cb = cb;
  s->close_arg = arg;
  uv_timer_stop(&s->timer);
  if (s->table_call != NULL)
    kn_client_call_cancel(s->table_call);
  /* Operations not started are answered now, those under way once their
   * call comes back cancelled (a write may have landed); answers already
   * decided keep their status. */
  for (q = s->defer.items.next; q != &s->defer.items; q = q->next) {
    req_t* req = kn_queue_data(q, req_t, item.node);
    if (req->state == REQ_WAITING) {
      kn_queue_remove(&req->node);
      req_answer(s, req, KINESIS_ECANCELED);
    } else if (req->state == REQ_RUNNING) {
      kn_client_call_cancel(req->call);
    }
  }
  store_maybe_finish_close(s);
  return 0;
}


/* ---- Operations ---- */


/* A request for `op` on `shard_id` (NULL: the whole table), with copies of
 * `owner` and `seq` (each may be NULL). */
static req_t* req_new(ddb_store_t* s, op_t op, const char* shard_id,
                      const char* owner, const char* seq) {
  size_t olen = owner != NULL ? strlen(owner) + 1 : 0;
  size_t slen = seq != NULL ? strlen(seq) + 1 : 0;
  req_t* req = kn_calloc(1, sizeof(*req) + olen + slen);

  if (req == NULL)
    return NULL;
  req->store = s;
  req->op = op;
  kn_queue_init(&req->node);
  if (owner != NULL) {
    memcpy(req->buf, owner, olen);
    req->owner = req->buf;
  }
  if (seq != NULL) {
    memcpy(req->buf + olen, seq, slen);
    req->seq = req->buf + olen;
  }
  if (shard_id != NULL && (req->rec = rec_get(s, shard_id, 1)) == NULL) {
    kn_free(req);
    return NULL;
  }
  return req;
}


/* The checks of every operation but get, member and leases. */
static int check_lease_args(const ddb_store_t* s, const char* stream,
                            const char* shard_id, const char* owner,
                            int has_cb) {
  if (s == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(shard_id) ||
      !kn_valid_nonempty(owner) || !has_cb)
    return KINESIS_EINVAL;
  if (kn_life_closing(&s->life))
    return KINESIS_ECLOSING;
  return 0;
}


/* The request of claim, heartbeat, checkpoint, finish or release, once
 * their arguments pass; `seq` is a checkpoint's position (NULL for the
 * others). */
static int lease_req(ddb_store_t* s, op_t op, const char* stream,
                     const char* shard_id, const char* owner, const char* seq,
                     int has_cb, req_t** out) {
  int r = check_lease_args(s, stream, shard_id, owner, has_cb);
  if (r != 0)
    return r;
  if (op == OP_CHECKPOINT && !kn_valid_sequence_number(seq))
    return KINESIS_EINVAL;
  if ((*out = req_new(s, op, shard_id, owner, seq)) == NULL)
    return KINESIS_ENOMEM;
  return 0;
}


static int ddb_claim(void* self, const char* stream, const char* shard_id,
                     const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  ddb_store_t* s = self;
  req_t* req;
  int r = lease_req(s, OP_CLAIM, stream, shard_id, owner, NULL, cb != NULL,
                    &req);

  if (r != 0)
    return r;
  req->state_cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


/* heartbeat, finish and release. */
static int owned_op(ddb_store_t* s, op_t op, const char* stream,
                    const char* shard_id, const char* owner, kinesis_ckpt_cb cb,
                    void* arg) {
  req_t* req;
  int r = lease_req(s, op, stream, shard_id, owner, NULL, cb != NULL, &req);

  if (r != 0)
    return r;
  req->cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


static int ddb_heartbeat(void* self, const char* stream, const char* shard_id,
                         const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, OP_HEARTBEAT, stream, shard_id, owner, cb, arg);
}


static int ddb_finish(void* self, const char* stream, const char* shard_id,
                      const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, OP_FINISH, stream, shard_id, owner, cb, arg);
}


static int ddb_release(void* self, const char* stream, const char* shard_id,
                       const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, OP_RELEASE, stream, shard_id, owner, cb, arg);
}


static int ddb_checkpoint(void* self, const char* stream, const char* shard_id,
                          const char* owner,
                          const kinesis_checkpoint_t* position,
                          kinesis_ckpt_cb cb, void* arg) {
  ddb_store_t* s = self;
  req_t* req;
  int r = lease_req(s, OP_CHECKPOINT, stream, shard_id, owner,
                    position != NULL ? position->sequence_number : NULL,
                    cb != NULL, &req);

  if (r != 0)
    return r;
  /* `finished` is changed only by finish, which also frees the lease. */
  req->sub = position->sub_sequence_number;
  req->partial = position->partial != 0;
  req->cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


static int ddb_get(void* self, const char* stream, const char* shard_id,
                   kinesis_ckpt_state_cb cb, void* arg) {
  ddb_store_t* s = self;
  req_t* req;

  if (s == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(shard_id) ||
      cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&s->life))
    return KINESIS_ECLOSING;
  if ((req = req_new(s, OP_GET, shard_id, NULL, NULL)) == NULL)
    return KINESIS_ENOMEM;
  req->state_cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


/* The KCL 2.x table has no list of workers: a member is an owner of a live
 * lease, an owner that called member on this checkpointer (consumers of
 * one process sharing it) within the session timeout, or the caller. A
 * consumer in another process that holds no lease yet is not counted (see
 * docs/checkpointers.md on what that means for balance). */
static int ddb_member(void* self, const char* stream, const char* owner,
                      int leaving, kinesis_ckpt_members_cb cb, void* arg) {
  ddb_store_t* s = self;
  req_t* req;

  if (s == NULL || !kn_valid_nonempty(stream) || !kn_valid_nonempty(owner) ||
      cb == NULL)
    return KINESIS_EINVAL;
  if (kn_life_closing(&s->life))
    return KINESIS_ECLOSING;
  if ((req = req_new(s, OP_MEMBER, NULL, owner, NULL)) == NULL)
    return KINESIS_ENOMEM;
  /* Allocated now, so that the answer needs no memory for it. */
  if (!leaving) {
    size_t len = strlen(owner) + 1;
    req->fresh = kn_calloc(1, sizeof(*req->fresh) + len);
    if (req->fresh == NULL) {
      req_free(req);
      return KINESIS_ENOMEM;
    }
    memcpy(req->fresh->owner, owner, len);
  }
  req->leaving = leaving != 0;
  req->members_cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


static int ddb_leases(void* self, const char* stream,
                      const char* const* shard_ids, size_t n,
                      kinesis_ckpt_leases_cb cb, void* arg) {
  ddb_store_t* s = self;
  size_t strings = 0;
  req_t* req;
  char* p;
  size_t i;

  if (s == NULL || !kn_valid_nonempty(stream) || cb == NULL ||
      (shard_ids == NULL && n > 0))
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++)
    if (!kn_valid_nonempty(shard_ids[i]))
      return KINESIS_EINVAL;
  if (kn_life_closing(&s->life))
    return KINESIS_ECLOSING;
  for (i = 0; i < n; i++) {
    size_t len = strlen(shard_ids[i]) + 1;
    if (len > SIZE_MAX - strings)
      return KINESIS_ENOMEM;
    strings += len;
  }
  if (n > (SIZE_MAX - strings) / sizeof(kinesis_lease_t))
    return KINESIS_ENOMEM;
  if ((req = req_new(s, OP_LEASES, NULL, NULL, NULL)) == NULL)
    return KINESIS_ENOMEM;
  /* The entries, and the copies of the ids (borrowed only for this call)
   * that they answer with, in one block. */
  if (n > 0) {
    req->leases = kn_calloc(1, n * sizeof(kinesis_lease_t) + strings);
    if (req->leases == NULL) {
      req_free(req);
      return KINESIS_ENOMEM;
    }
  }
  req->n = n;
  p = n > 0 ? (char*) (req->leases + n) : NULL;
  for (i = 0; i < n; i++) {
    size_t len = strlen(shard_ids[i]) + 1;
    memcpy(p, shard_ids[i], len);
    req->leases[i].shard_id = p;
    p += len;
  }
  req->leases_cb = cb;
  req->arg = arg;
  req_submit(s, req);
  return 0;
}


static const kinesis_checkpointer_ops_t ddb_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = ddb_claim,
    .heartbeat = ddb_heartbeat,
    .checkpoint = ddb_checkpoint,
    .finish = ddb_finish,
    .release = ddb_release,
    .get = ddb_get,
    .close = ddb_close,
    .member = ddb_member,
    .leases = ddb_leases,
};


/* ---- Public functions ---- */


static void dynamodb_defaults(kinesis_checkpointer_dynamodb_options_t* o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->session_timeout_ms = DEFAULT_SESSION_TIMEOUT_MS;
  o->create_table = 1;
}


void kinesis_checkpointer_dynamodb_options_init_sized(
    kinesis_checkpointer_dynamodb_options_t* options, size_t size) {
  kinesis_checkpointer_dynamodb_options_t defaults;
  dynamodb_defaults(&defaults);
  kn_options_init(options, size, &defaults, sizeof(defaults));
}


/* DynamoDB's rule for table names: 3 to 255 of [A-Za-z0-9_.-]. */
static int valid_table(const char* t) {
  size_t len;
  if (t == NULL)
    return 0;
  len = strspn(t,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
               "0123456789_.-");
  return t[len] == '\0' && len >= 3 && len <= 255;
}


int kinesis_checkpointer_dynamodb_new(
    kinesis_client_t* client,
    const kinesis_checkpointer_dynamodb_options_t* caller,
    kinesis_checkpointer_t** out) {
  kinesis_checkpointer_dynamodb_options_t copy;
  const kinesis_checkpointer_dynamodb_options_t* options = &copy;
  ddb_store_t* s;
  int r;

  if (client == NULL || out == NULL || caller == NULL)
    return KINESIS_EINVAL;
  dynamodb_defaults(&copy);
  if ((r = kn_options_copy(&copy, sizeof(copy), caller)) != 0)
    return r;
  if (!valid_table(options->table) || options->session_timeout_ms == 0)
    return KINESIS_EINVAL;
  if (kn_client_closing(client))
    return KINESIS_ECLOSING;

  s = kn_calloc(1, sizeof(*s));
  if (s == NULL)
    return KINESIS_ENOMEM;
  s->table = kn_strdup(options->table);
  r = s->table == NULL
          ? KINESIS_ENOMEM
          : kn_client_target_init(client, &kn_service_dynamodb,
                                  options->endpoint_url, &s->target);
  if (r != 0) {
    kn_client_target_free(&s->target);
    kn_free(s->table);
    kn_free(s);
    return r;
  }
  s->loop = kn_client_loop(client);
  /* uv_idle_init and uv_timer_init cannot fail on Unix. */
  r = kn_defer_init(s->loop, &s->defer, 1, on_defer_empty);
  if (r == 0)
    r = uv_timer_init(s->loop, &s->timer);
  KN_ASSERT(r == 0);
  s->defer.idle.data = s;
  s->timer.data = s;
  kn_strmap_init(&s->recs);
  kn_queue_init(&s->gate);
  s->base.client = client;
  s->session_timeout_ms = options->session_timeout_ms;
  s->create_table = options->create_table != 0;
  s->pub.ops = &ddb_ops;
  s->pub.self = s;
  s->pub.session_timeout_ms = options->session_timeout_ms;
  kn_client_child_add(client);
  *out = &s->pub;
  return 0;
}


kn_ckpt_base_t* kn_checkpointer_dynamodb_base(
    const kinesis_checkpointer_t* cp) {
  if (cp == NULL || cp->ops != &ddb_ops || cp->self == NULL)
    return NULL;
  return &((ddb_store_t*) cp->self)->base;
}
