/* A checkpointer that keeps checkpoints in a file: a template for your own
 * store (file_checkpointer.h says what it does, docs/checkpointers.md
 * "Writing your own" what every store must do).
 *
 * The shape to copy: every operation checks its arguments, decides its
 * answer at once, applies it, and queues the answer; a uv_idle_t delivers
 * queued answers on a later loop iteration, in the order of the calls. So a
 * callback never runs inside the call that asked for it (the contract's
 * "never synchronous"), and every accepted call is answered exactly once.
 * The file is written inside the call, blocking the loop for an fsync:
 * milliseconds, and only when a checkpoint moves (every 5 s per shard by
 * default). A store behind a network (PostgreSQL, DynamoDB) must not block:
 * it sends the request and queues the answer from its I/O callback; the
 * rest stays the same.
 *
 * Here one process owns the file (a lock on FILE.lock), so the process's
 * memory is the truth for leases and memberships, and the file only has to
 * keep what must outlive the process: checkpoints and finished shards. A
 * store shared between processes must check the owner and write in one
 * atomic step (a transaction, a conditional write, a Lua script), and judge
 * expiry by the store's clock, not each consumer's.
 *
 * The file is text, one line per shard, tab-separated:
 *   STREAM  SHARD  SEQUENCE-or-"-"  SUB-SEQUENCE  PARTIAL  FINISHED */

#define _DEFAULT_SOURCE /* flock(), fsync(), getline() and strdup() in C11 */

#include "file_checkpointer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define HEADER "# libkinesis file checkpointer 1"
#define SEQ_MAX 129 /* Kinesis sequence numbers have at most 129 digits. */
#define DEFAULT_SESSION_TIMEOUT_MS 10000

/* One (stream, shard): its lease, in memory, and its checkpoint, also in
 * the file. */
typedef struct shard_s {
  struct shard_s* next;
  char* stream;
  char* shard_id;
  char* owner;           /* NULL while the lease is free */
  uint64_t renewed;      /* uv_now() of the owner's last claim or heartbeat */
  char seq[SEQ_MAX + 1]; /* "" while the shard has no checkpoint */
  uint32_t sub;
  int partial;
  int finished;
} shard_t;

/* One consumer live on a stream, for the member op. */
typedef struct member_s {
  struct member_s* next;
  char* stream;
  char* owner;
  uint64_t seen; /* uv_now() of its last member call */
} member_t;

/* A decided answer waiting for the next loop iteration. It carries its own
 * copy of the checkpoint (or of the leases), so later operations cannot
 * change it. */
typedef struct answer_s {
  struct answer_s* next;
  int status;
  kinesis_ckpt_state_cb state_cb; /* exactly one of the four is set */
  kinesis_ckpt_cb plain_cb;
  kinesis_ckpt_members_cb members_cb;
  kinesis_ckpt_leases_cb leases_cb;
  void* arg;
  uint32_t live;
  kinesis_checkpoint_t checkpoint;
  char seq[SEQ_MAX + 1];
  kinesis_lease_t* leases; /* malloc'd with their strings after them */
  size_t nleases;
} answer_t;

typedef struct store_s {
  kinesis_checkpointer_t pub; /* what consumers get; pub.self is this */
  uv_loop_t* loop;
  uint64_t timeout_ms;
  char* path;
  char* tmp_path;
  char* dir;
  int lock_fd;
  shard_t* shards;
  member_t* members;
  answer_t* head; /* answers to deliver, oldest first */
  answer_t* tail;
  uv_idle_t idle; /* active while there are answers */
  int delivering; /* inside on_idle() */
  int closing;
  kinesis_ckpt_cb close_cb;
  void* close_arg;
} store_t;


/* ---- The file ---- */


/* fsync() of a directory, so that a rename in it survives a crash. */
static int sync_dir(const char* dir) {
  int fd = open(dir, O_RDONLY);
  int r;
  if (fd < 0)
    return -errno;
  r = fsync(fd) == 0 ? 0 : -errno;
  close(fd);
  return r;
}


/* Replaces the file with the checkpoints in memory: written to a temporary
 * file, flushed to disk, then renamed over the old one. A crash at any
 * point leaves either the old file or the new one, whole. Returns 0 or a
 * negative errno (libuv's error codes, on Unix). */
static int save(store_t* s) {
  FILE* f = fopen(s->tmp_path, "w");
  const shard_t* sh;
  int r = 0;

  if (f == NULL) {
    r = -errno;
  } else {
    fprintf(f, "%s\n", HEADER);
    for (sh = s->shards; sh != NULL; sh = sh->next)
      if (sh->seq[0] != '\0' || sh->finished)
        fprintf(f, "%s\t%s\t%s\t%" PRIu32 "\t%d\t%d\n", sh->stream,
                sh->shard_id, sh->seq[0] != '\0' ? sh->seq : "-", sh->sub,
                sh->partial, sh->finished);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
      r = -errno;
    if (fclose(f) != 0 && r == 0)
      r = -errno;
    if (r == 0 && rename(s->tmp_path, s->path) != 0)
      r = -errno;
    if (r == 0)
      r = sync_dir(s->dir);
    if (r != 0)
      unlink(s->tmp_path);
  }
  if (r != 0)
    fprintf(stderr, "file_checkpointer: cannot write %s: %s\n", s->path,
            uv_strerror(r));
  return r;
}


static shard_t* shard_find(const store_t* s, const char* stream,
                           const char* shard_id) {
  shard_t* sh;
  for (sh = s->shards; sh != NULL; sh = sh->next)
    if (strcmp(sh->shard_id, shard_id) == 0 && strcmp(sh->stream, stream) == 0)
      return sh;
  return NULL;
}


static void shard_free(shard_t* sh) {
  free(sh->stream);
  free(sh->shard_id);
  free(sh->owner);
  free(sh);
}


/* Adds an empty entry for (stream, shard_id) at the end, so that the file
 * keeps its order; NULL when out of memory. */
static shard_t* shard_add(store_t* s, const char* stream,
                          const char* shard_id) {
  shard_t* sh = calloc(1, sizeof(*sh));
  shard_t** link = &s->shards;
  if (sh == NULL)
    return NULL;
  sh->stream = strdup(stream);
  sh->shard_id = strdup(shard_id);
  if (sh->stream == NULL || sh->shard_id == NULL) {
    shard_free(sh);
    return NULL;
  }
  while (*link != NULL)
    link = &(*link)->next;
  *link = sh;
  return sh;
}


static void member_free(member_t* m) {
  free(m->stream);
  free(m->owner);
  free(m);
}


static member_t* member_new(const char* stream, const char* owner) {
  member_t* m = calloc(1, sizeof(*m));
  if (m == NULL)
    return NULL;
  m->stream = strdup(stream);
  m->owner = strdup(owner);
  if (m->stream == NULL || m->owner == NULL) {
    member_free(m);
    return NULL;
  }
  return m;
}


/* Frees the store and everything in it, and drops the lock. */
static void store_free(store_t* s) {
  shard_t* sh;
  member_t* m;
  while ((sh = s->shards) != NULL) {
    s->shards = sh->next;
    shard_free(sh);
  }
  while ((m = s->members) != NULL) {
    s->members = m->next;
    member_free(m);
  }
  if (s->lock_fd >= 0)
    close(s->lock_fd);
  free(s->path);
  free(s->tmp_path);
  free(s->dir);
  free(s);
}


/* 1 to 129 digits: a sequence number (or any unsigned decimal). */
static int valid_seq(const char* seq) {
  size_t n = seq != NULL ? strspn(seq, "0123456789") : 0;
  return n >= 1 && n <= SEQ_MAX && seq[n] == '\0';
}


/* Reads one line of the file into its shard's entry. Returns 0, or -1 when
 * the line is malformed, or KINESIS_ENOMEM. */
static int load_line(store_t* s, char* line) {
  char* field[6];
  char* end;
  unsigned long sub;
  shard_t* sh;
  int i;

  line[strcspn(line, "\n")] = '\0';
  for (i = 0; i < 6; i++) {
    field[i] = line;
    line += strcspn(line, "\t");
    if ((*line == '\0') != (i == 5))
      return -1;
    *line++ = '\0';
  }
  errno = 0;
  sub = strtoul(field[3], &end, 10);
  if (field[0][0] == '\0' || field[1][0] == '\0' ||
      (strcmp(field[2], "-") != 0 && !valid_seq(field[2])) ||
      !valid_seq(field[3]) || *end != '\0' || errno != 0 || sub > UINT32_MAX ||
      (strcmp(field[4], "0") != 0 && strcmp(field[4], "1") != 0) ||
      (strcmp(field[5], "0") != 0 && strcmp(field[5], "1") != 0))
    return -1;
  sh = shard_find(s, field[0], field[1]);
  if (sh == NULL && (sh = shard_add(s, field[0], field[1])) == NULL)
    return KINESIS_ENOMEM;
  strcpy(sh->seq, strcmp(field[2], "-") == 0 ? "" : field[2]);
  sh->sub = (uint32_t) sub;
  sh->partial = field[4][0] == '1';
  sh->finished = field[5][0] == '1';
  return 0;
}


/* Reads the file, if there is one. */
static int load(store_t* s) {
  FILE* f = fopen(s->path, "r");
  char* line = NULL;
  size_t size = 0;
  unsigned lineno = 0;
  int r = 0;

  if (f == NULL)
    return errno == ENOENT ? 0 : -errno;
  while (r == 0 && getline(&line, &size, f) != -1) {
    lineno++;
    if (lineno == 1)
      r = strcmp(line, HEADER "\n") == 0 ? 0 : -1;
    else
      r = load_line(s, line);
    if (r == -1) {
      fprintf(stderr, "file_checkpointer: %s:%u: %s\n", s->path, lineno,
              lineno == 1 ? "not a checkpoint file" : "not a checkpoint line");
      r = KINESIS_EINVAL;
    }
  }
  if (r == 0 && ferror(f))
    r = -errno;
  free(line);
  fclose(f);
  return r;
}


/* ---- Answers ---- */


static void on_idle(uv_idle_t* idle);


static answer_t* answer_new(void* arg) {
  answer_t* a = calloc(1, sizeof(*a));
  if (a != NULL)
    a->arg = arg;
  return a;
}


/* Copies the checkpoint of `sh` (none when NULL) into the answer. */
static void answer_checkpoint(answer_t* a, const shard_t* sh) {
  if (sh == NULL)
    return;
  if (sh->seq[0] != '\0') {
    strcpy(a->seq, sh->seq);
    a->checkpoint.sequence_number = a->seq;
  }
  a->checkpoint.sub_sequence_number = sh->sub;
  a->checkpoint.partial = sh->partial;
  a->checkpoint.finished = sh->finished;
}


/* Queues a decided answer. Every operation ends here and returns 0: the
 * caller gets its callback on a later loop iteration. */
static int answer_queue(store_t* s, answer_t* a, int status) {
  a->status = status;
  if (s->tail != NULL)
    s->tail->next = a;
  else
    s->head = a;
  s->tail = a;
  uv_idle_start(&s->idle, on_idle); /* no-op when already started */
  return 0;
}


static void on_idle_closed(uv_handle_t* handle) {
  store_t* s = handle->data;

  /* `closing` is still set, so the callback may call the ops: they return
   * KINESIS_ECLOSING. kinesis_checkpointer_close() reads pub.data in it, so
   * the store goes only after it returns. Every answer was delivered, so
   * the status is 0. */
  s->close_cb(0, s->close_arg);
  store_free(s);
}


/* Once closing, with every answer delivered, closes the handle; the store
 * is freed in its close callback, after the user's. */
static void maybe_finish_close(store_t* s) {
  if (s->closing && !s->delivering && s->head == NULL &&
      !uv_is_closing((uv_handle_t*) &s->idle))
    uv_close((uv_handle_t*) &s->idle, on_idle_closed);
}


static void on_idle(uv_idle_t* idle) {
  store_t* s = idle->data;
  answer_t* batch = s->head;

  /* Only the answers queued before this iteration: those that callbacks
   * queue now wait for the next one (callbacks are never synchronous, not
   * even with each other's calls). */
  s->head = s->tail = NULL;
  uv_idle_stop(idle);
  s->delivering = 1;
  while (batch != NULL) {
    answer_t* a = batch;
    batch = a->next;
    if (a->state_cb != NULL)
      a->state_cb(a->status, &a->checkpoint, a->arg);
    else if (a->members_cb != NULL)
      a->members_cb(a->status, a->live, a->arg);
    else if (a->leases_cb != NULL)
      a->leases_cb(a->status, a->leases, a->nleases, a->arg);
    else
      a->plain_cb(a->status, a->arg);
    free(a->leases);
    free(a);
  }
  s->delivering = 0;
  maybe_finish_close(s);
}


/* ---- The operations ---- */


/* A name the file can hold: not empty, no tab or line break. */
static int valid_name(const char* name) {
  return name != NULL && name[0] != '\0' && strpbrk(name, "\t\r\n") == NULL;
}


/* The checks every lease operation starts with. Bad arguments come first,
 * even while closing, and with either error the callback is never called. */
static int check(const store_t* s, const char* stream, const char* shard_id,
                 const char* owner, int has_cb) {
  if (s == NULL || !valid_name(stream) || !valid_name(shard_id) ||
      owner == NULL || owner[0] == '\0' || !has_cb)
    return KINESIS_EINVAL;
  return s->closing ? KINESIS_ECLOSING : 0;
}


static int owns(const shard_t* sh, const char* owner) {
  return sh != NULL && sh->owner != NULL && strcmp(sh->owner, owner) == 0;
}


/* claim: take the lease if it is free, lapsed, or already the caller's,
 * and answer with the checkpoint; refuse with KINESIS_ELEASED (and the
 * checkpoint) while another owner's lease is live. */
static int fc_claim(void* self, const char* stream, const char* shard_id,
                    const char* owner, kinesis_ckpt_state_cb cb, void* arg) {
  store_t* s = self;
  uint64_t now;
  shard_t* sh;
  answer_t* a;
  char* copy;
  int r;

  if ((r = check(s, stream, shard_id, owner, cb != NULL)) != 0)
    return r;
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  a->state_cb = cb;
  now = uv_now(s->loop);
  sh = shard_find(s, stream, shard_id);
  if (sh != NULL && sh->owner != NULL && strcmp(sh->owner, owner) != 0 &&
      now - sh->renewed <= s->timeout_ms) {
    answer_checkpoint(a, sh);
    return answer_queue(s, a, KINESIS_ELEASED);
  }
  /* Whatever can fail comes before any change: a call that returns an
   * error must have changed nothing. */
  copy = strdup(owner);
  if (copy == NULL ||
      (sh == NULL && (sh = shard_add(s, stream, shard_id)) == NULL)) {
    free(copy);
    free(a);
    return KINESIS_ENOMEM;
  }
  free(sh->owner);
  sh->owner = copy;
  sh->renewed = now;
  answer_checkpoint(a, sh);
  return answer_queue(s, a, 0);
}


/* checkpoint: store the position if `owner` holds the lease (fencing: a
 * consumer that lost it writes nothing). Answered once it is on disk. */
static int fc_checkpoint(void* self, const char* stream, const char* shard_id,
                         const char* owner,
                         const kinesis_checkpoint_t* position,
                         kinesis_ckpt_cb cb, void* arg) {
  store_t* s = self;
  shard_t* sh;
  shard_t before; /* to undo a change that could not be saved */
  answer_t* a;
  int r;

  if ((r = check(s, stream, shard_id, owner, cb != NULL)) != 0)
    return r;
  if (position == NULL || !valid_seq(position->sequence_number))
    return KINESIS_EINVAL;
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  a->plain_cb = cb;
  sh = shard_find(s, stream, shard_id);
  if (!owns(sh, owner))
    return answer_queue(s, a, KINESIS_ELEASELOST);
  /* The position's `finished` is ignored: only finish() sets it. */
  before = *sh;
  strcpy(sh->seq, position->sequence_number);
  sh->sub = position->sub_sequence_number;
  sh->partial = position->partial ? 1 : 0;
  if (save(s) != 0) {
    /* Not on disk: as if it never happened. The consumer retries. */
    memcpy(sh->seq, before.seq, sizeof(sh->seq));
    sh->sub = before.sub;
    sh->partial = before.partial;
    return answer_queue(s, a, KINESIS_ESTORE);
  }
  return answer_queue(s, a, 0);
}


typedef enum { RENEW, FINISH, RELEASE } lease_op_t;


/* heartbeat, finish and release: each needs `owner` to hold the lease, and
 * answers KINESIS_ELEASELOST, changing nothing, when it does not. An
 * expired lease nobody has claimed since is still its owner's. */
static int owned_op(store_t* s, const char* stream, const char* shard_id,
                    const char* owner, lease_op_t op, kinesis_ckpt_cb cb,
                    void* arg) {
  shard_t* sh;
  answer_t* a;
  int r;

  if ((r = check(s, stream, shard_id, owner, cb != NULL)) != 0)
    return r;
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  a->plain_cb = cb;
  sh = shard_find(s, stream, shard_id);
  if (!owns(sh, owner))
    return answer_queue(s, a, KINESIS_ELEASELOST);
  if (op == RENEW) {
    sh->renewed = uv_now(s->loop);
    return answer_queue(s, a, 0);
  }
  if (op == FINISH && !sh->finished) {
    /* Finished is for ever, and a child shard waits for it: on disk
     * first, then the lease goes. */
    sh->finished = 1;
    if (save(s) != 0) {
      sh->finished = 0;
      return answer_queue(s, a, KINESIS_ESTORE);
    }
  }
  free(sh->owner);
  sh->owner = NULL;
  return answer_queue(s, a, 0);
}


static int fc_heartbeat(void* self, const char* stream, const char* shard_id,
                        const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, stream, shard_id, owner, RENEW, cb, arg);
}


static int fc_finish(void* self, const char* stream, const char* shard_id,
                     const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, stream, shard_id, owner, FINISH, cb, arg);
}


static int fc_release(void* self, const char* stream, const char* shard_id,
                      const char* owner, kinesis_ckpt_cb cb, void* arg) {
  return owned_op(self, stream, shard_id, owner, RELEASE, cb, arg);
}


/* get: the checkpoint, whoever holds the lease (the consumer asks whether
 * a parent shard is finished). */
static int fc_get(void* self, const char* stream, const char* shard_id,
                  kinesis_ckpt_state_cb cb, void* arg) {
  store_t* s = self;
  answer_t* a;

  if (s == NULL || !valid_name(stream) || !valid_name(shard_id) || cb == NULL)
    return KINESIS_EINVAL;
  if (s->closing)
    return KINESIS_ECLOSING;
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  a->state_cb = cb;
  answer_checkpoint(a, shard_find(s, stream, shard_id));
  return answer_queue(s, a, 0);
}


/* member: `owner` is alive on `stream` (or, `leaving`, gone); answers how
 * many owners are live there. A membership lapses like a lease. With it,
 * consumers sharing the store split the shards evenly. */
static int fc_member(void* self, const char* stream, const char* owner,
                     int leaving, kinesis_ckpt_members_cb cb, void* arg) {
  store_t* s = self;
  member_t** link;
  member_t* fresh = NULL;
  member_t* mine = NULL;
  uint64_t now;
  answer_t* a;

  if (s == NULL || !valid_name(stream) || owner == NULL || owner[0] == '\0' ||
      cb == NULL)
    return KINESIS_EINVAL;
  if (s->closing)
    return KINESIS_ECLOSING;
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  if (!leaving && (fresh = member_new(stream, owner)) == NULL) {
    free(a);
    return KINESIS_ENOMEM;
  }
  a->members_cb = cb;

  /* One pass: forget lapsed memberships (and the caller's, when leaving),
   * find the caller's, count the live ones of this stream. */
  now = uv_now(s->loop);
  link = &s->members;
  while (*link != NULL) {
    member_t* m = *link;
    int same_stream = strcmp(m->stream, stream) == 0;
    int is_caller = same_stream && strcmp(m->owner, owner) == 0;
    if (now - m->seen > s->timeout_ms || (leaving && is_caller)) {
      *link = m->next;
      member_free(m);
      continue;
    }
    if (is_caller)
      mine = m;
    if (same_stream)
      a->live++;
    link = &m->next;
  }
  if (!leaving) {
    if (mine == NULL) {
      fresh->next = s->members;
      s->members = mine = fresh;
      a->live++;
    } else {
      member_free(fresh);
    }
    mine->seen = now;
  }
  return answer_queue(s, a, 0);
}


/* Whether the lease of `sh` is live: held, and renewed within the session
 * timeout (claim's rule). */
static int lease_live(const store_t* s, const shard_t* sh, uint64_t now) {
  return sh != NULL && sh->owner != NULL && now - sh->renewed <= s->timeout_ms;
}


/* leases (optional): who holds each of many shards, whether it is finished
 * and whether the store knows it, in one call, changing nothing. The
 * consumer plans its claims with it; without it, it learns owners by
 * claiming. The caller's ids are borrowed for the call only, so the answer
 * carries copies of them, and of the owners, in one block: the entries,
 * then their strings. */
static int fc_leases(void* self, const char* stream,
                     const char* const* shard_ids, size_t n,
                     kinesis_ckpt_leases_cb cb, void* arg) {
  store_t* s = self;
  uint64_t now;
  size_t size, i;
  answer_t* a;
  char* p;

  if (s == NULL || !valid_name(stream) || cb == NULL ||
      (shard_ids == NULL && n > 0))
    return KINESIS_EINVAL;
  for (i = 0; i < n; i++)
    if (!valid_name(shard_ids[i]))
      return KINESIS_EINVAL;
  if (s->closing)
    return KINESIS_ECLOSING;
  if (n > SIZE_MAX / 2 / sizeof(kinesis_lease_t))
    return KINESIS_ENOMEM;
  now = uv_now(s->loop);
  size = n * sizeof(kinesis_lease_t);
  for (i = 0; i < n; i++) {
    const shard_t* sh = shard_find(s, stream, shard_ids[i]);
    size += strlen(shard_ids[i]) + 1;
    if (lease_live(s, sh, now))
      size += strlen(sh->owner) + 1;
  }
  if ((a = answer_new(arg)) == NULL)
    return KINESIS_ENOMEM;
  if ((a->leases = calloc(1, size > 0 ? size : 1)) == NULL) {
    free(a);
    return KINESIS_ENOMEM;
  }
  a->leases_cb = cb;
  a->nleases = n;
  p = (char*) (a->leases + n);
  for (i = 0; i < n; i++) {
    const shard_t* sh = shard_find(s, stream, shard_ids[i]);
    kinesis_lease_t* l = &a->leases[i];
    l->shard_id = strcpy(p, shard_ids[i]);
    p += strlen(p) + 1;
    if (lease_live(s, sh, now)) {
      l->owner = strcpy(p, sh->owner);
      p += strlen(p) + 1;
    }
    /* An entry exists once the shard was claimed here or read from the
     * file (a checkpoint, or finished). */
    l->finished = sh != NULL && sh->finished;
    l->known = sh != NULL;
  }
  return answer_queue(s, a, 0);
}


/* close: refuse new calls, deliver the answers already decided (with their
 * real results: each was decided, and written, when it was called), then
 * call `cb` on a later iteration and free the store. A second close returns
 * KINESIS_EALREADY, and its `cb` never runs. */
static int fc_close(void* self, kinesis_ckpt_cb cb, void* arg) {
  store_t* s = self;
  if (s == NULL || cb == NULL)
    return KINESIS_EINVAL;
  if (s->closing)
    return KINESIS_EALREADY;
  s->closing = 1;
  s->close_cb = cb;
  s->close_arg = arg;
  maybe_finish_close(s);
  return 0;
}


static const kinesis_checkpointer_ops_t file_ops = {
    .size = sizeof(kinesis_checkpointer_ops_t),
    .claim = fc_claim,
    .heartbeat = fc_heartbeat,
    .checkpoint = fc_checkpoint,
    .finish = fc_finish,
    .release = fc_release,
    .get = fc_get,
    .close = fc_close,
    .member = fc_member,
    .leases = fc_leases,
};


/* ---- Opening ---- */


/* `a` followed by `b`, in new memory. */
static char* concat(const char* a, const char* b) {
  size_t la = strlen(a), lb = strlen(b);
  char* r = malloc(la + lb + 1);
  if (r != NULL) {
    memcpy(r, a, la);
    memcpy(r + la, b, lb + 1);
  }
  return r;
}


int file_checkpointer_new(uv_loop_t* loop, const char* path,
                          uint32_t session_timeout_ms,
                          kinesis_checkpointer_t** out) {
  store_t* s;
  char* slash;
  char* lock_path;
  int r;

  if (loop == NULL || path == NULL || path[0] == '\0' || out == NULL)
    return KINESIS_EINVAL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return KINESIS_ENOMEM;
  s->lock_fd = -1;
  s->path = strdup(path);
  s->tmp_path = concat(path, ".tmp");
  lock_path = concat(path, ".lock");
  s->dir = strdup(path);
  if (s->path == NULL || s->tmp_path == NULL || lock_path == NULL ||
      s->dir == NULL) {
    free(lock_path);
    store_free(s);
    return KINESIS_ENOMEM;
  }
  slash = strrchr(s->dir, '/');
  if (slash == NULL)
    strcpy(s->dir, ".");
  else
    slash[slash == s->dir ? 1 : 0] = '\0';

  /* One process per file. The lock is on a file of its own, because the
   * checkpoint file is replaced by every save; the kernel drops it when
   * the process ends, however it ends. */
  s->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  free(lock_path);
  if (s->lock_fd < 0) {
    r = -errno;
    store_free(s);
    return r;
  }
  if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
    r = errno == EWOULDBLOCK ? KINESIS_EBUSY : -errno;
    store_free(s);
    return r;
  }
  if ((r = load(s)) != 0) {
    store_free(s);
    return r;
  }
  uv_idle_init(loop, &s->idle); /* cannot fail on Unix */
  s->idle.data = s;
  s->loop = loop;
  s->timeout_ms =
      session_timeout_ms > 0 ? session_timeout_ms : DEFAULT_SESSION_TIMEOUT_MS;
  s->pub.ops = &file_ops;
  s->pub.self = s;
  /* The consumer stops reading a shard it could not confirm for this
   * long, before anyone else may take it. */
  s->pub.session_timeout_ms = (uint32_t) s->timeout_ms;
  *out = &s->pub;
  return 0;
}
