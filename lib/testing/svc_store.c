#include "svc_store.h"
#include "internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"


/* ---- hash keys ---- */


void kn_svc_key_inc(kn_hash_key_t* k) {
  int i;
  for (i = KN_HASH_KEY_LEN - 1; i >= 0; i--)
    if (++k->b[i] != 0)
      break;
}


void kn_svc_key_dec(kn_hash_key_t* k) {
  int i;
  for (i = KN_HASH_KEY_LEN - 1; i >= 0; i--)
    if (k->b[i]-- != 0)
      break;
}


/* floor(i * 2^128 / n) for i < n: where shard i of an even n-way split
 * starts, as AWS and kinesalite split (2 shards: 0 and 2^127). Long
 * division of i followed by four zero 32-bit limbs; the remainder stays
 * below n, so each step fits 64 bits. */
static void key_fraction(uint32_t i, uint32_t n, kn_hash_key_t* out) {
  uint64_t rem = i;
  int j;
  for (j = 0; j < 4; j++) {
    uint64_t cur = rem << 32;
    uint32_t q = (uint32_t) (cur / n);
    rem = cur % n;
    out->b[4 * j] = (uint8_t) (q >> 24);
    out->b[4 * j + 1] = (uint8_t) (q >> 16);
    out->b[4 * j + 2] = (uint8_t) (q >> 8);
    out->b[4 * j + 3] = (uint8_t) q;
  }
}


/* Where shard i of an even n-way split ends: just before the next one
 * starts, or at 2^128-1 for the last. */
static void key_fraction_end(uint32_t i, uint32_t n, kn_hash_key_t* out) {
  if (i + 1 >= n) {
    memset(out->b, 0xFF, sizeof(out->b));
    return;
  }
  key_fraction(i + 1, n, out);
  kn_svc_key_dec(out);
}


/* ---- sequence numbers ---- */


void kn_svc_seq_format(uint64_t counter, uint32_t shard,
                       char out[KN_SVC_SEQ_LEN + 1]) {
  snprintf(out, KN_SVC_SEQ_LEN + 1, "4%020" PRIu64 "%010" PRIu32, counter,
           shard);
}


/* Reads `n` digits into a uint64_t; 0, or KINESIS_EINVAL past `max`. */
static int read_digits(const char* s, size_t n, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned d;
    if (s[i] < '0' || s[i] > '9')
      return KINESIS_EINVAL;
    d = (unsigned) (s[i] - '0');
    if (v > (max - d) / 10)
      return KINESIS_EINVAL;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}


int kn_svc_seq_parse(const char* seq, uint64_t* counter, uint32_t* shard) {
  uint64_t c;
  uint64_t sh;
  if (seq == NULL || strlen(seq) != KN_SVC_SEQ_LEN || seq[0] != '4')
    return KINESIS_EINVAL;
  if (read_digits(seq + 1, 20, UINT64_MAX, &c) != 0 ||
      read_digits(seq + 21, 10, UINT32_MAX, &sh) != 0)
    return KINESIS_EINVAL;
  *counter = c;
  *shard = (uint32_t) sh;
  return 0;
}


/* ---- records and shards ---- */


static void shard_free_records(kn_svc_shard_t* sh) {
  size_t i;
  for (i = sh->head; i < sh->len; i++)
    kn_free(sh->recs[i]);
  kn_free(sh->recs);
  sh->recs = NULL;
  sh->head = sh->len = sh->cap = 0;
}


int64_t kn_svc_retention_ms(const kn_svc_stream_t* s) {
  return (int64_t) s->retention_hours * 3600 * 1000;
}


void kn_svc_shard_trim(const kn_svc_stream_t* s, kn_svc_shard_t* sh,
                       int64_t now) {
  int64_t cutoff = now - kn_svc_retention_ms(s);
  while (sh->head < sh->len && sh->recs[sh->head]->arrival_ms < cutoff) {
    kn_free(sh->recs[sh->head]);
    sh->recs[sh->head++] = NULL;
  }
  if (sh->head == sh->len)
    sh->head = sh->len = 0;
}


int kn_svc_shard_aged_out(const kn_svc_stream_t* s, const kn_svc_shard_t* sh,
                          int64_t now) {
  return sh->closed && sh->closed_ms < now - kn_svc_retention_ms(s);
}


/* Room for one more record at the tail: slide the kept ones to the front
 * when trimming has left the first half empty, else grow. */
static int shard_reserve(kn_svc_shard_t* sh) {
  kn_svc_record_t** r;
  size_t cap;
  if (sh->len < sh->cap)
    return 0;
  if (sh->head > 0 && sh->head >= sh->cap / 2) {
    memmove(sh->recs, sh->recs + sh->head,
            (sh->len - sh->head) * sizeof(*sh->recs));
    sh->len -= sh->head;
    sh->head = 0;
    return 0;
  }
  cap = sh->cap == 0 ? 16 : sh->cap * 2;
  r = kn_realloc(sh->recs, cap * sizeof(*r));
  if (r == NULL)
    return KINESIS_ENOMEM;
  sh->recs = r;
  sh->cap = cap;
  return 0;
}


int kn_svc_shard_put(kn_svc_store_t* st, const kn_svc_stream_t* s,
                     kn_svc_shard_t* sh, const char* key, size_t key_len,
                     const uint8_t* data, size_t data_len, int64_t now,
                     const kn_svc_record_t** out) {
  kn_svc_record_t* r;
  KN_ASSERT(!sh->closed);
  kn_svc_shard_trim(s, sh, now);
  if (shard_reserve(sh) != 0)
    return KINESIS_ENOMEM;
  /* One block: the header, the key and its NUL, the data. */
  r = kn_malloc(sizeof(*r) + key_len + 1 + data_len);
  if (r == NULL)
    return KINESIS_ENOMEM;
  r->counter = ++st->counter;
  r->arrival_ms = now;
  r->key = (char*) (r + 1);
  r->key_len = key_len;
  memcpy(r->key, key, key_len);
  r->key[key_len] = '\0';
  r->data = (uint8_t*) r->key + key_len + 1;
  r->data_len = data_len;
  if (data_len > 0)
    memcpy(r->data, data, data_len);
  sh->recs[sh->len++] = r;
  *out = r;
  return 0;
}


size_t kn_svc_shard_seek(const kn_svc_shard_t* sh, uint64_t counter) {
  size_t lo = sh->head;
  size_t hi = sh->len;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (sh->recs[mid]->counter < counter)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}


uint64_t kn_svc_shard_seek_time(const kn_svc_store_t* st,
                                const kn_svc_shard_t* sh, int64_t ms) {
  size_t i;
  /* A scan, not a search: the caller's clock may have gone back. */
  for (i = sh->head; i < sh->len; i++)
    if (sh->recs[i]->arrival_ms >= ms)
      return sh->recs[i]->counter;
  return st->counter + 1;
}


kn_svc_shard_t* kn_svc_shard_find(const kn_svc_stream_t* s, const char* id,
                                  int64_t now) {
  size_t i;
  for (i = 0; i < s->nshards; i++)
    if (strcmp(s->shards[i].id, id) == 0)
      return kn_svc_shard_aged_out(s, &s->shards[i], now) ? NULL
                                                          : &s->shards[i];
  return NULL;
}


size_t kn_svc_stream_open_shards(const kn_svc_stream_t* s) {
  size_t i;
  size_t n = 0;
  for (i = 0; i < s->nshards; i++)
    n += !s->shards[i].closed;
  return n;
}


kn_svc_shard_t* kn_svc_route(kn_svc_stream_t* s, const kn_hash_key_t* key) {
  size_t i;
  for (i = 0; i < s->nshards; i++) {
    kn_svc_shard_t* sh = &s->shards[i];
    if (!sh->closed && kn_hash_key_cmp(&sh->start, key) <= 0 &&
        kn_hash_key_cmp(key, &sh->end) <= 0)
      return sh;
  }
  return NULL;
}


int kn_svc_adjacent(const kn_svc_shard_t* a, const kn_svc_shard_t* b) {
  kn_hash_key_t k;
  const kn_svc_shard_t* lo = kn_hash_key_cmp(&a->start, &b->start) < 0 ? a : b;
  const kn_svc_shard_t* hi = lo == a ? b : a;
  k = lo->end;
  if (memcmp(k.b, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                  "\xff\xff",
             KN_HASH_KEY_LEN) == 0)
    return 0;
  kn_svc_key_inc(&k);
  return kn_hash_key_cmp(&k, &hi->start) == 0;
}


/* Room for `extra` more shards, so that the reshard that follows cannot
 * fail halfway (and the shard pointers it takes stay valid). */
static int stream_reserve(kn_svc_stream_t* s, size_t extra) {
  kn_svc_shard_t* p;
  size_t cap;
  if (s->nshards + extra <= s->cap)
    return 0;
  cap = s->cap == 0 ? 4 : s->cap;
  while (cap < s->nshards + extra)
    cap *= 2;
  p = kn_realloc(s->shards, cap * sizeof(*p));
  if (p == NULL)
    return KINESIS_ENOMEM;
  s->shards = p;
  s->cap = cap;
  return 0;
}


/* A new open shard; room must have been reserved. */
static kn_svc_shard_t* add_shard(kn_svc_store_t* st, kn_svc_stream_t* s,
                                 const kn_hash_key_t* start,
                                 const kn_hash_key_t* end, int64_t parent,
                                 int64_t adjacent, int64_t now) {
  kn_svc_shard_t* sh;
  KN_ASSERT(s->nshards < s->cap);
  sh = &s->shards[s->nshards];
  memset(sh, 0, sizeof(*sh));
  sh->index = (uint32_t) s->nshards++;
  snprintf(sh->id, sizeof(sh->id), "shardId-%012" PRIu32, sh->index);
  sh->start = *start;
  sh->end = *end;
  sh->parent = parent;
  sh->adjacent_parent = adjacent;
  /* Its own place on the counter: above every record before it, of this
   * stream or of one deleted under the same name. */
  sh->start_counter = ++st->counter;
  sh->created_ms = now;
  return sh;
}


static void close_shard(kn_svc_store_t* st, kn_svc_shard_t* sh, int64_t now) {
  sh->closed = 1;
  sh->end_counter = st->counter;
  sh->closed_ms = now;
}


int kn_svc_split(kn_svc_store_t* st, kn_svc_stream_t* s, size_t shard,
                 const kn_hash_key_t* new_start, int64_t now) {
  kn_hash_key_t left_end = *new_start;
  kn_hash_key_t start;
  kn_hash_key_t end;
  if (stream_reserve(s, 2) != 0)
    return KINESIS_ENOMEM;
  KN_ASSERT(!s->shards[shard].closed);
  start = s->shards[shard].start;
  end = s->shards[shard].end;
  kn_svc_key_dec(&left_end);
  close_shard(st, &s->shards[shard], now);
  add_shard(st, s, &start, &left_end, (int64_t) shard, -1, now);
  add_shard(st, s, new_start, &end, (int64_t) shard, -1, now);
  return 0;
}


int kn_svc_merge(kn_svc_store_t* st, kn_svc_stream_t* s, size_t a, size_t b,
                 int64_t now) {
  kn_hash_key_t start;
  kn_hash_key_t end;
  if (stream_reserve(s, 1) != 0)
    return KINESIS_ENOMEM;
  KN_ASSERT(!s->shards[a].closed && !s->shards[b].closed);
  start = kn_hash_key_cmp(&s->shards[a].start, &s->shards[b].start) < 0
              ? s->shards[a].start
              : s->shards[b].start;
  end = kn_hash_key_cmp(&s->shards[a].end, &s->shards[b].end) > 0
            ? s->shards[a].end
            : s->shards[b].end;
  close_shard(st, &s->shards[a], now);
  close_shard(st, &s->shards[b], now);
  add_shard(st, s, &start, &end, (int64_t) a, (int64_t) b, now);
  return 0;
}


/* The open shard whose range holds `key`, as an index; -1 when none. */
static int64_t open_holding(const kn_svc_stream_t* s,
                            const kn_hash_key_t* key) {
  size_t i;
  for (i = 0; i < s->nshards; i++) {
    const kn_svc_shard_t* sh = &s->shards[i];
    if (!sh->closed && kn_hash_key_cmp(&sh->start, key) <= 0 &&
        kn_hash_key_cmp(key, &sh->end) <= 0)
      return (int64_t) i;
  }
  return -1;
}


int kn_svc_update_count(kn_svc_store_t* st, kn_svc_stream_t* s,
                        uint32_t target, int64_t now) {
  size_t open = kn_svc_stream_open_shards(s);
  uint32_t j;

  /* At most two children per boundary split, then one child per merge;
   * reserving it all first makes the whole change happen or not at all. */
  if (stream_reserve(s, 2 * (size_t) target + open + target) != 0)
    return KINESIS_ENOMEM;
  /* First split every open shard at each new boundary inside it... */
  for (j = 1; j < target; j++) {
    kn_hash_key_t b;
    int64_t at;
    key_fraction(j, target, &b);
    at = open_holding(s, &b);
    KN_ASSERT(at >= 0);
    if (kn_hash_key_cmp(&s->shards[at].start, &b) != 0 &&
        kn_svc_split(st, s, (size_t) at, &b, now) != 0)
      return KINESIS_ENOMEM;
  }
  /* ...then every new range holds whole open shards only: merge them left
   * to right until one covers it. */
  for (j = 0; j < target; j++) {
    kn_hash_key_t start;
    kn_hash_key_t end;
    int64_t cur;
    key_fraction(j, target, &start);
    key_fraction_end(j, target, &end);
    cur = open_holding(s, &start);
    KN_ASSERT(cur >= 0);
    while (kn_hash_key_cmp(&s->shards[cur].end, &end) < 0) {
      kn_hash_key_t next_key = s->shards[cur].end;
      int64_t next;
      kn_svc_key_inc(&next_key);
      next = open_holding(s, &next_key);
      KN_ASSERT(next >= 0);
      if (kn_svc_merge(st, s, (size_t) cur, (size_t) next, now) != 0)
        return KINESIS_ENOMEM;
      cur = (int64_t) s->nshards - 1;
    }
  }
  return 0;
}


/* ---- streams ---- */


static void stream_free(kn_svc_stream_t* s) {
  size_t i;
  for (i = 0; i < s->nshards; i++)
    shard_free_records(&s->shards[i]);
  kn_free(s->shards);
  kn_free(s->consumers);
  kn_free(s);
}


/* Where `name` is, or would go, in the sorted list. */
static size_t stream_pos(const kn_svc_store_t* st, const char* name,
                         int* found) {
  size_t lo = 0;
  size_t hi = st->nstreams;
  *found = 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(st->streams[mid]->name, name);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}


kn_svc_stream_t* kn_svc_stream_find(const kn_svc_store_t* st,
                                    const char* name) {
  int found;
  size_t i = stream_pos(st, name, &found);
  return found ? st->streams[i] : NULL;
}


int kn_svc_stream_create(kn_svc_store_t* st, const char* name,
                         uint32_t nshards, int on_demand, int64_t now,
                         kn_svc_stream_t** out) {
  kn_svc_stream_t* s;
  int found;
  size_t pos = stream_pos(st, name, &found);
  uint32_t i;

  KN_ASSERT(strlen(name) <= KN_SVC_NAME_MAX && nshards > 0);
  if (found)
    return KINESIS_EALREADY;
  if (st->nstreams == st->cap) {
    size_t cap = st->cap == 0 ? 8 : st->cap * 2;
    kn_svc_stream_t** p = kn_realloc(st->streams, cap * sizeof(*p));
    if (p == NULL)
      return KINESIS_ENOMEM;
    st->streams = p;
    st->cap = cap;
  }
  s = kn_calloc(1, sizeof(*s));
  if (s == NULL)
    return KINESIS_ENOMEM;
  if (stream_reserve(s, nshards) != 0) {
    kn_free(s);
    return KINESIS_ENOMEM;
  }
  strcpy(s->name, name);
  s->incarnation = ++st->incarnations;
  s->on_demand = on_demand;
  s->retention_hours = 24;
  s->max_record_kib = 1024;
  s->created_ms = now;
  s->status = st->transition_ms == 0 ? KN_SVC_ACTIVE : KN_SVC_CREATING;
  s->status_until_ms = now + st->transition_ms;
  for (i = 0; i < nshards; i++) {
    kn_hash_key_t start;
    kn_hash_key_t end;
    key_fraction(i, nshards, &start);
    key_fraction_end(i, nshards, &end);
    add_shard(st, s, &start, &end, -1, -1, now);
  }
  memmove(st->streams + pos + 1, st->streams + pos,
          (st->nstreams - pos) * sizeof(*st->streams));
  st->streams[pos] = s;
  st->nstreams++;
  *out = s;
  return 0;
}


static void stream_remove(kn_svc_store_t* st, kn_svc_stream_t* s) {
  int found;
  size_t pos = stream_pos(st, s->name, &found);
  KN_ASSERT(found && st->streams[pos] == s);
  memmove(st->streams + pos, st->streams + pos + 1,
          (st->nstreams - pos - 1) * sizeof(*st->streams));
  st->nstreams--;
  stream_free(s);
}


void kn_svc_stream_delete(kn_svc_store_t* st, kn_svc_stream_t* s, int64_t now) {
  if (st->transition_ms == 0) {
    stream_remove(st, s);
    return;
  }
  s->status = KN_SVC_DELETING;
  s->status_until_ms = now + st->transition_ms;
}


void kn_svc_stream_updated(kn_svc_store_t* st, kn_svc_stream_t* s,
                           int64_t now) {
  if (st->transition_ms == 0)
    return;
  s->status = KN_SVC_UPDATING;
  s->status_until_ms = now + st->transition_ms;
}


void kn_svc_store_init(kn_svc_store_t* st, uint32_t transition_ms) {
  memset(st, 0, sizeof(*st));
  st->transition_ms = transition_ms;
}


void kn_svc_store_cleanup(kn_svc_store_t* st) {
  size_t i;
  for (i = 0; i < st->nstreams; i++)
    stream_free(st->streams[i]);
  kn_free(st->streams);
  memset(st, 0, sizeof(*st));
}


void kn_svc_store_tick(kn_svc_store_t* st, int64_t now) {
  size_t i = 0;
  while (i < st->nstreams) {
    kn_svc_stream_t* s = st->streams[i];
    if (s->status != KN_SVC_ACTIVE && now >= s->status_until_ms) {
      if (s->status == KN_SVC_DELETING) {
        stream_remove(st, s);
        continue;
      }
      s->status = KN_SVC_ACTIVE;
    }
    i++;
  }
}


/* ---- tokens ---- */


/* version, kind, incarnation, shard, pos, arg, issued, name length. */
#define TOKEN_HEAD 39
#define TOKEN_CHECK 4
#define TOKEN_MAX (TOKEN_HEAD + KN_SVC_NAME_MAX + TOKEN_CHECK)
#define TOKEN_VERSION 1


static void put_be(uint8_t* p, uint64_t v, int n) {
  int i;
  for (i = n - 1; i >= 0; i--) {
    p[i] = (uint8_t) v;
    v >>= 8;
  }
}


static uint64_t get_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}


int kn_svc_token_encode(const kn_svc_token_t* t, kn_buf_t* out) {
  uint8_t bin[TOKEN_MAX];
  uint8_t md5[KN_MD5_LEN];
  size_t name_len = strlen(t->name);
  size_t n;

  KN_ASSERT(name_len <= KN_SVC_NAME_MAX);
  bin[0] = TOKEN_VERSION;
  bin[1] = (uint8_t) t->kind;
  put_be(bin + 2, t->incarnation, 8);
  put_be(bin + 10, t->shard, 4);
  put_be(bin + 14, t->pos, 8);
  put_be(bin + 22, (uint64_t) t->arg, 8);
  put_be(bin + 30, (uint64_t) t->issued_ms, 8);
  bin[38] = (uint8_t) name_len;
  memcpy(bin + TOKEN_HEAD, t->name, name_len);
  n = TOKEN_HEAD + name_len;
  /* Not a secret: a check that the text is one of ours, unchanged. */
  if (kn_md5(bin, n, md5) != 0)
    memset(md5, 0, sizeof(md5));
  memcpy(bin + n, md5, TOKEN_CHECK);
  n += TOKEN_CHECK;
  return kn_buf_append_base64(out, bin, n);
}


int kn_svc_token_decode(const char* text, size_t len,
                        kn_svc_token_kind_t kind, kn_svc_token_t* t) {
  uint8_t bin[TOKEN_MAX + 3];
  uint8_t md5[KN_MD5_LEN];
  size_t n = sizeof(bin);
  size_t name_len;
  size_t i;

  if (len == 0 || len > kn_base64_encoded_len(TOKEN_MAX) ||
      kn_base64_decode(text, len, bin, &n) != 0)
    return KINESIS_EINVAL;
  if (n < TOKEN_HEAD + TOKEN_CHECK || bin[0] != TOKEN_VERSION ||
      bin[1] != (uint8_t) kind)
    return KINESIS_EINVAL;
  name_len = bin[38];
  if (name_len > KN_SVC_NAME_MAX ||
      n != TOKEN_HEAD + name_len + TOKEN_CHECK)
    return KINESIS_EINVAL;
  if (kn_md5(bin, n - TOKEN_CHECK, md5) != 0 ||
      memcmp(md5, bin + n - TOKEN_CHECK, TOKEN_CHECK) != 0)
    return KINESIS_EINVAL;
  for (i = 0; i < name_len; i++)
    if (bin[TOKEN_HEAD + i] == '\0')
      return KINESIS_EINVAL;
  memset(t, 0, sizeof(*t));
  t->kind = kind;
  t->incarnation = get_be(bin + 2, 8);
  t->shard = (uint32_t) get_be(bin + 10, 4);
  t->pos = get_be(bin + 14, 8);
  t->arg = (int64_t) get_be(bin + 22, 8);
  t->issued_ms = (int64_t) get_be(bin + 30, 8);
  memcpy(t->name, bin + TOKEN_HEAD, name_len);
  t->name[name_len] = '\0';
  return 0;
}
