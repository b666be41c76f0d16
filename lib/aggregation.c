#include "aggregation.h"
#include "internal.h"

#include "crypto.h"

#include <stdint.h>
#include <string.h>

/*
 * KPL aggregated records (protocol.md section 6). The encoder is a
 * hand-written protobuf writer: the messages are small and fixed, and the
 * KPL's bytes are reproduced by writing fields in field-number order (what
 * every protobuf serialiser does), tables before records, keys once each in
 * first-seen order. The decoder follows the KCL, which parses with
 * protobuf-java; where protobuf-java has a rule for malformed input, the
 * decoder copies it, so that the same blobs are treated as plain. The one
 * departure is an index outside its table (see kn_deagg()).
 */

/* Protobuf wire types (protobuf encoding spec, "Message Structure"). */
#define WT_VARINT 0
#define WT_I64 1
#define WT_LEN 2
#define WT_SGROUP 3
#define WT_EGROUP 4
#define WT_I32 5

/* Tags, (field number << 3) | wire type, as the writer emits them. All are
 * below 0x80, so each is one byte on the wire. */
#define TAG_PK_TABLE 0x0a  /* AggregatedRecord.partition_key_table, 1 */
#define TAG_EHK_TABLE 0x12 /* AggregatedRecord.explicit_hash_key_table, 2 */
#define TAG_RECORDS 0x1a   /* AggregatedRecord.records, 3 */
#define TAG_PK_INDEX 0x08  /* Record.partition_key_index, 1 */
#define TAG_EHK_INDEX 0x10 /* Record.explicit_hash_key_index, 2 */
#define TAG_DATA 0x1a      /* Record.data, 3 */
#define TAG_TAGS 0x22      /* Record.tags, 4 */
#define TAG_TAG_KEY 0x0a   /* Tag.key, 1 */
#define TAG_TAG_VALUE 0x12 /* Tag.value, 2 */

/* A varint is at most ten bytes. */
#define VARINT_MAX 10

/* protobuf-java's default recursion limit, which covers both nested
 * messages and groups. */
#define PB_MAX_DEPTH 100

/* "No explicit hash key" in a record's index slot. */
#define NO_INDEX SIZE_MAX

/* Lengths above this make kn_agg_size_with() answer SIZE_MAX and
 * kn_agg_add() fail, so the size arithmetic below can never wrap: three of
 * them plus a protobuf that fits in memory stay below SIZE_MAX. */
#define LEN_LIMIT (SIZE_MAX / 8)

static const uint8_t agg_magic[KN_AGG_MAGIC_LEN] = {0xf3, 0x89, 0x9a, 0xc2};


/* One key of a table: where its bytes are, and its hash for the set. */
typedef struct {
  size_t off;
  size_t len;
  uint64_t hash;
} key_entry_t;

/*
 * A key table in first-seen order, with an open-addressing hash set over
 * the key bytes so that membership is O(1): partition keys repeat often,
 * and kn_agg_size_with() runs once per candidate record.
 */
typedef struct {
  kn_buf_t bytes;       /* all keys, back to back */
  key_entry_t* entries; /* in table order */
  size_t n;
  size_t cap;
  uint32_t* slots; /* 0 is empty, otherwise entry index + 1 */
  size_t nslots;   /* 0 or a power of two; at most half full */
} key_table_t;

typedef struct {
  size_t pk;  /* index in the partition key table */
  size_t ehk; /* index in the explicit hash key table, or NO_INDEX */
  size_t data_len;
} agg_rec_t;

struct kn_agg_s {
  key_table_t pks;
  key_table_t ehks;
  agg_rec_t* recs;
  size_t nrecs;
  size_t recs_cap;
  kn_buf_t data;  /* every record's data, back to back, in order */
  size_t pb_size; /* the serialised AggregatedRecord, kept up to date */
};

/* What adding one record would change: computed once, used both to predict
 * the size and to add. */
typedef struct {
  uint64_t pk_hash;
  uint64_t ehk_hash;
  size_t pk_index;
  size_t ehk_index; /* NO_INDEX when the record has no explicit hash key */
  int pk_new;
  int ehk_new;
  size_t growth; /* bytes the protobuf grows by; SIZE_MAX if absurd */
} agg_plan_t;


static size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}


/* A length-delimited field with a one-byte tag. */
static size_t len_field_size(size_t len) {
  return 1 + varint_len(len) + len;
}


/* The body of a Record message, without its own tag and length. */
static size_t record_body_size(size_t pk, size_t ehk, size_t data_len) {
  size_t n = 1 + varint_len(pk) + len_field_size(data_len);
  if (ehk != NO_INDEX)
    n += 1 + varint_len(ehk);
  return n;
}


/* FNV-1a. The keys come from the application, not from the network, so a
 * keyed hash against flooding is not needed. */
static uint64_t key_hash(const char* key, size_t len) {
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t i;
  for (i = 0; i < len; i++) {
    h ^= (uint8_t) key[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}


static void key_table_init(key_table_t* t) {
  kn_buf_init(&t->bytes);
  t->entries = NULL;
  t->n = 0;
  t->cap = 0;
  t->slots = NULL;
  t->nslots = 0;
}


static void key_table_free(key_table_t* t) {
  kn_buf_free(&t->bytes);
  kn_free(t->entries);
  kn_free(t->slots);
  key_table_init(t);
}


static void key_table_reset(key_table_t* t) {
  kn_buf_reset(&t->bytes);
  if (t->n > 0)
    memset(t->slots, 0, t->nslots * sizeof(*t->slots));
  t->n = 0;
}


/* The index of `key`, or NO_INDEX. The set is at most half full, so the
 * probe always reaches an empty slot. */
static size_t key_table_find(const key_table_t* t, const char* key, size_t len,
                             uint64_t hash) {
  size_t mask;
  size_t i;
  uint32_t s;

  if (t->nslots == 0)
    return NO_INDEX;
  mask = t->nslots - 1;
  for (i = (size_t) hash & mask; (s = t->slots[i]) != 0; i = (i + 1) & mask) {
    const key_entry_t* e = &t->entries[s - 1];
    if (e->hash == hash && e->len == len &&
        (len == 0 || memcmp(t->bytes.data + e->off, key, len) == 0))
      return s - 1;
  }
  return NO_INDEX;
}


static void key_table_place(key_table_t* t, size_t index) {
  size_t mask = t->nslots - 1;
  size_t i = (size_t) t->entries[index].hash & mask;
  while (t->slots[i] != 0)
    i = (i + 1) & mask;
  t->slots[i] = (uint32_t) (index + 1);
}


/* Makes room for one more key of `len` bytes without changing the table,
 * so that a failure here leaves the aggregate as it was. */
static int key_table_reserve(key_table_t* t, size_t len) {
  size_t i;

  /* Slots hold index + 1 in 32 bits. */
  if (t->n >= UINT32_MAX - 1)
    return KINESIS_ENOMEM;
  if (kn_buf_reserve(&t->bytes, len) != 0)
    return KINESIS_ENOMEM;

  if (t->n == t->cap) {
    size_t cap = t->cap > 0 ? t->cap * 2 : 8;
    key_entry_t* entries;
    if (cap > SIZE_MAX / sizeof(*entries))
      return KINESIS_ENOMEM;
    entries = kn_realloc(t->entries, cap * sizeof(*entries));
    if (entries == NULL)
      return KINESIS_ENOMEM;
    t->entries = entries;
    t->cap = cap;
  }

  if ((t->n + 1) * 2 > t->nslots) {
    size_t nslots = t->nslots > 0 ? t->nslots * 2 : 16;
    uint32_t* slots;
    if (nslots > SIZE_MAX / sizeof(*slots))
      return KINESIS_ENOMEM;
    slots = kn_calloc(nslots, sizeof(*slots));
    if (slots == NULL)
      return KINESIS_ENOMEM;
    kn_free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    for (i = 0; i < t->n; i++)
      key_table_place(t, i);
  }
  return 0;
}


/* Appends a key the set does not hold; key_table_reserve() made room. */
static void key_table_insert(key_table_t* t, const char* key, size_t len,
                             uint64_t hash) {
  key_entry_t* e = &t->entries[t->n];
  e->off = t->bytes.len;
  e->len = len;
  e->hash = hash;
  if (len > 0) {
    memcpy(t->bytes.data + t->bytes.len, key, len);
    t->bytes.len += len;
    t->bytes.data[t->bytes.len] = '\0';
  }
  key_table_place(t, t->n);
  t->n++;
}


static void agg_plan(const kn_agg_t* agg, const char* pk, size_t pk_len,
                     const char* ehk, size_t ehk_len, size_t data_len,
                     agg_plan_t* plan) {
  size_t growth;
  size_t body;

  plan->growth = SIZE_MAX;
  if (pk_len > LEN_LIMIT || ehk_len > LEN_LIMIT || data_len > LEN_LIMIT)
    return;

  growth = 0;
  plan->pk_hash = key_hash(pk, pk_len);
  plan->pk_index = key_table_find(&agg->pks, pk, pk_len, plan->pk_hash);
  plan->pk_new = plan->pk_index == NO_INDEX;
  if (plan->pk_new) {
    plan->pk_index = agg->pks.n;
    growth += len_field_size(pk_len);
  }

  plan->ehk_hash = 0;
  plan->ehk_index = NO_INDEX;
  plan->ehk_new = 0;
  if (ehk != NULL) {
    plan->ehk_hash = key_hash(ehk, ehk_len);
    plan->ehk_index = key_table_find(&agg->ehks, ehk, ehk_len, plan->ehk_hash);
    plan->ehk_new = plan->ehk_index == NO_INDEX;
    if (plan->ehk_new) {
      plan->ehk_index = agg->ehks.n;
      growth += len_field_size(ehk_len);
    }
  }

  body = record_body_size(plan->pk_index, plan->ehk_index, data_len);
  growth += len_field_size(body);
  if (growth > SIZE_MAX - KN_AGG_OVERHEAD - agg->pb_size)
    return;
  plan->growth = growth;
}


int kn_agg_new(kn_agg_t** out) {
  kn_agg_t* agg = kn_malloc(sizeof(*agg));
  if (agg == NULL)
    return KINESIS_ENOMEM;
  key_table_init(&agg->pks);
  key_table_init(&agg->ehks);
  agg->recs = NULL;
  agg->nrecs = 0;
  agg->recs_cap = 0;
  kn_buf_init(&agg->data);
  agg->pb_size = 0;
  *out = agg;
  return 0;
}


void kn_agg_free(kn_agg_t* agg) {
  if (agg == NULL)
    return;
  key_table_free(&agg->pks);
  key_table_free(&agg->ehks);
  kn_free(agg->recs);
  kn_buf_free(&agg->data);
  kn_free(agg);
}


void kn_agg_reset(kn_agg_t* agg) {
  key_table_reset(&agg->pks);
  key_table_reset(&agg->ehks);
  agg->nrecs = 0;
  kn_buf_reset(&agg->data);
  agg->pb_size = 0;
}


size_t kn_agg_count(const kn_agg_t* agg) {
  return agg->nrecs;
}


size_t kn_agg_size_with(const kn_agg_t* agg, const char* pk, size_t pk_len,
                        const char* ehk, size_t ehk_len, size_t data_len) {
  agg_plan_t plan;
  agg_plan(agg, pk, pk_len, ehk, ehk_len, data_len, &plan);
  if (plan.growth == SIZE_MAX)
    return SIZE_MAX;
  return KN_AGG_OVERHEAD + agg->pb_size + plan.growth;
}


size_t kn_agg_size(const kn_agg_t* agg) {
  return KN_AGG_OVERHEAD + agg->pb_size;
}


int kn_agg_add(kn_agg_t* agg, const char* pk, size_t pk_len, const char* ehk,
               size_t ehk_len, const uint8_t* data, size_t data_len) {
  agg_plan_t plan;
  agg_rec_t* rec;

  agg_plan(agg, pk, pk_len, ehk, ehk_len, data_len, &plan);
  if (plan.growth == SIZE_MAX)
    return KINESIS_ENOMEM;

  /* Every allocation happens before anything changes, so that on
   * KINESIS_ENOMEM the aggregate is exactly as it was. */
  if (plan.pk_new && key_table_reserve(&agg->pks, pk_len) != 0)
    return KINESIS_ENOMEM;
  if (plan.ehk_new && key_table_reserve(&agg->ehks, ehk_len) != 0)
    return KINESIS_ENOMEM;
  if (kn_buf_reserve(&agg->data, data_len) != 0)
    return KINESIS_ENOMEM;
  if (agg->nrecs == agg->recs_cap) {
    size_t cap = agg->recs_cap > 0 ? agg->recs_cap * 2 : 16;
    agg_rec_t* recs;
    if (cap > SIZE_MAX / sizeof(*recs))
      return KINESIS_ENOMEM;
    recs = kn_realloc(agg->recs, cap * sizeof(*recs));
    if (recs == NULL)
      return KINESIS_ENOMEM;
    agg->recs = recs;
    agg->recs_cap = cap;
  }

  if (plan.pk_new)
    key_table_insert(&agg->pks, pk, pk_len, plan.pk_hash);
  if (plan.ehk_new)
    key_table_insert(&agg->ehks, ehk, ehk_len, plan.ehk_hash);
  if (data_len > 0) {
    memcpy(agg->data.data + agg->data.len, data, data_len);
    agg->data.len += data_len;
    agg->data.data[agg->data.len] = '\0';
  }
  rec = &agg->recs[agg->nrecs++];
  rec->pk = plan.pk_index;
  rec->ehk = plan.ehk_index;
  rec->data_len = data_len;
  agg->pb_size += plan.growth;
  return 0;
}


static uint8_t* put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = (uint8_t) (v | 0x80);
    v >>= 7;
  }
  *p++ = (uint8_t) v;
  return p;
}


static uint8_t* put_len_field(uint8_t* p, uint8_t tag, const uint8_t* bytes,
                              size_t len) {
  *p++ = tag;
  p = put_varint(p, len);
  if (len > 0)
    memcpy(p, bytes, len);
  return p + len;
}


static uint8_t* put_table(uint8_t* p, uint8_t tag, const key_table_t* t) {
  size_t i;
  for (i = 0; i < t->n; i++)
    p = put_len_field(p, tag, t->bytes.data + t->entries[i].off,
                      t->entries[i].len);
  return p;
}


int kn_agg_finish(const kn_agg_t* agg, kn_buf_t* out) {
  const uint8_t* data;
  uint8_t* start;
  uint8_t* pb;
  uint8_t* p;
  size_t total;
  size_t i;
  int r;

  if (agg->nrecs == 0)
    return KINESIS_EINVAL;
  total = kn_agg_size(agg);
  if (kn_buf_reserve(out, total) != 0)
    return KINESIS_ENOMEM;

  /* Written in place after out->len, which moves only once all is done, so
   * a failure leaves `out` as it was. Field order is field-number order, as
   * protobuf serialisers (and so the KPL) write it. */
  start = out->data + out->len;
  memcpy(start, agg_magic, KN_AGG_MAGIC_LEN);
  pb = start + KN_AGG_MAGIC_LEN;
  p = put_table(pb, TAG_PK_TABLE, &agg->pks);
  p = put_table(p, TAG_EHK_TABLE, &agg->ehks);
  data = agg->data.data;
  for (i = 0; i < agg->nrecs; i++) {
    const agg_rec_t* rec = &agg->recs[i];
    *p++ = TAG_RECORDS;
    p = put_varint(p, record_body_size(rec->pk, rec->ehk, rec->data_len));
    *p++ = TAG_PK_INDEX;
    p = put_varint(p, rec->pk);
    if (rec->ehk != NO_INDEX) {
      *p++ = TAG_EHK_INDEX;
      p = put_varint(p, rec->ehk);
    }
    p = put_len_field(p, TAG_DATA, data, rec->data_len);
    data += rec->data_len;
  }
  /* The running size is what the producer packs by: it has to be exact. */
  KN_ASSERT((size_t) (p - pb) == agg->pb_size);

  r = kn_md5(pb, agg->pb_size, p);
  if (r != 0)
    return r;
  out->len += total;
  out->data[out->len] = '\0';
  return 0;
}


/*
 * Decoding. A reader is a window [p, end) of the protobuf; every read checks
 * the bytes left before touching them, and lengths are compared with what is
 * left rather than added to pointers, so nothing can wrap.
 */
typedef struct {
  const uint8_t* p;
  const uint8_t* end;
} pb_reader_t;

typedef struct {
  uint64_t pk_index;
  uint64_t ehk_index;
  int has_ehk;
  kn_cursor_t data;
} pb_record_t;

/* One walk over an AggregatedRecord. The first walk only counts and
 * checks; later walks store table entries and records when the arrays are
 * set. */
typedef struct {
  size_t npk;
  size_t nehk;
  size_t nrec;
  uint64_t max_pk_index;
  uint64_t max_ehk_index;
  int any_ehk_index;
  kn_cursor_t* pk_table;
  kn_cursor_t* ehk_table;
  kn_deagg_record_t* records;
} deagg_walk_t;


static size_t pb_left(const pb_reader_t* r) {
  return (size_t) (r->end - r->p);
}


/* protobuf-java's readRawVarint64: at most ten bytes, and bits beyond the
 * 64th are dropped rather than rejected. */
static int pb_varint(pb_reader_t* r, uint64_t* out) {
  uint64_t v = 0;
  unsigned shift;
  for (shift = 0; shift < 7 * VARINT_MAX; shift += 7) {
    uint8_t b;
    if (r->p == r->end)
      return -1;
    b = *r->p++;
    v |= (uint64_t) (b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *out = v;
      return 0;
    }
  }
  return -1;
}


/* protobuf-java reads a tag as a 32-bit varint (the low 32 bits of up to
 * ten bytes) and rejects field number 0. */
static int pb_tag(pb_reader_t* r, uint32_t* tag) {
  uint64_t v;
  if (pb_varint(r, &v) != 0)
    return -1;
  *tag = (uint32_t) v;
  return (*tag >> 3) == 0 ? -1 : 0;
}


/* A length-delimited payload. protobuf-java reads the length as a signed
 * 32-bit varint: the low 32 bits, negative values rejected. */
static int pb_bytes(pb_reader_t* r, kn_cursor_t* out) {
  uint64_t v;
  uint32_t len;
  if (pb_varint(r, &v) != 0)
    return -1;
  len = (uint32_t) v;
  if (len > INT32_MAX || len > pb_left(r))
    return -1;
  out->ptr = r->p;
  out->len = len;
  r->p += len;
  return 0;
}


static int pb_skip_n(pb_reader_t* r, size_t n) {
  if (n > pb_left(r))
    return -1;
  r->p += n;
  return 0;
}


static int pb_skip_field(pb_reader_t* r, uint32_t tag, int depth);


/* Skips a group up to its END_GROUP, which must carry the same field
 * number. Groups nest, so the depth is bounded like protobuf-java's
 * recursion limit, which also keeps hostile input from exhausting the
 * stack. */
static int pb_skip_group(pb_reader_t* r, uint32_t field, int depth) {
  uint32_t tag;
  if (depth >= PB_MAX_DEPTH)
    return -1;
  for (;;) {
    /* The end of the input before END_GROUP fails here too. */
    if (pb_tag(r, &tag) != 0)
      return -1;
    if ((tag & 7) == WT_EGROUP)
      return (tag >> 3) == field ? 0 : -1;
    if (pb_skip_field(r, tag, depth + 1) != 0)
      return -1;
  }
}


/*
 * Skips a field the message does not know. protobuf-java's generated
 * parsers dispatch on the whole tag, so a known field number with another
 * wire type lands here too and is skipped as unknown; a required field that
 * only arrived that way is then missing. An END_GROUP outside a group ends
 * the message early, which protobuf-java then rejects.
 */
static int pb_skip_field(pb_reader_t* r, uint32_t tag, int depth) {
  kn_cursor_t unused;
  uint64_t v;
  switch (tag & 7) {
    case WT_VARINT:
      return pb_varint(r, &v);
    case WT_I64:
      return pb_skip_n(r, 8);
    case WT_LEN:
      return pb_bytes(r, &unused);
    case WT_SGROUP:
      return pb_skip_group(r, tag >> 3, depth);
    case WT_I32:
      return pb_skip_n(r, 4);
    default:
      return -1;
  }
}


/* Tag { required string key = 1; optional string value = 2; } */
static int parse_tag(pb_reader_t r, int depth) {
  kn_cursor_t s;
  uint32_t tag;
  int has_key = 0;
  while (r.p != r.end) {
    if (pb_tag(&r, &tag) != 0)
      return -1;
    if (tag == TAG_TAG_KEY) {
      if (pb_bytes(&r, &s) != 0)
        return -1;
      has_key = 1;
    } else if (tag == TAG_TAG_VALUE) {
      if (pb_bytes(&r, &s) != 0)
        return -1;
    } else if (pb_skip_field(&r, tag, depth) != 0) {
      return -1;
    }
  }
  return has_key ? 0 : -1;
}


/* An embedded message: its bytes as a reader of their own. protobuf-java
 * checks the recursion limit before descending. */
static int pb_message(pb_reader_t* r, int depth, pb_reader_t* sub) {
  kn_cursor_t s;
  if (depth >= PB_MAX_DEPTH || pb_bytes(r, &s) != 0)
    return -1;
  sub->p = s.ptr;
  sub->end = s.ptr + s.len;
  return 0;
}


/* Record { required uint64 partition_key_index = 1; optional uint64
 * explicit_hash_key_index = 2; required bytes data = 3; repeated Tag tags =
 * 4; }. A repeated scalar keeps its last value, as in every protobuf
 * parser. Tags are checked (a Tag without its key fails the whole parse in
 * protobuf-java) and dropped. */
static int parse_record(pb_reader_t r, int depth, pb_record_t* out) {
  pb_reader_t sub;
  uint32_t tag;
  int has_pk = 0;
  int has_data = 0;

  /* Zeroed, though only a record with both fields is used: gcc -O3 cannot
   * see that, and warns. */
  memset(out, 0, sizeof(*out));
  while (r.p != r.end) {
    if (pb_tag(&r, &tag) != 0)
      return -1;
    switch (tag) {
      case TAG_PK_INDEX:
        if (pb_varint(&r, &out->pk_index) != 0)
          return -1;
        has_pk = 1;
        break;
      case TAG_EHK_INDEX:
        if (pb_varint(&r, &out->ehk_index) != 0)
          return -1;
        out->has_ehk = 1;
        break;
      case TAG_DATA:
        if (pb_bytes(&r, &out->data) != 0)
          return -1;
        has_data = 1;
        break;
      case TAG_TAGS:
        if (pb_message(&r, depth, &sub) != 0 || parse_tag(sub, depth + 1) != 0)
          return -1;
        break;
      default:
        if (pb_skip_field(&r, tag, depth) != 0)
          return -1;
        break;
    }
  }
  return has_pk && has_data ? 0 : -1;
}


/* AggregatedRecord { repeated string partition_key_table = 1; repeated
 * string explicit_hash_key_table = 2; repeated Record records = 3; } */
static int walk_aggregate(const uint8_t* pb, size_t len, deagg_walk_t* w) {
  pb_reader_t r;
  pb_reader_t sub;
  pb_record_t rec;
  kn_cursor_t s;
  uint32_t tag;

  r.p = pb;
  r.end = pb + len;
  w->npk = 0;
  w->nehk = 0;
  w->nrec = 0;
  w->max_pk_index = 0;
  w->max_ehk_index = 0;
  w->any_ehk_index = 0;
  while (r.p != r.end) {
    if (pb_tag(&r, &tag) != 0)
      return -1;
    if (tag == TAG_PK_TABLE) {
      if (pb_bytes(&r, &s) != 0)
        return -1;
      if (w->pk_table != NULL)
        w->pk_table[w->npk] = s;
      w->npk++;
    } else if (tag == TAG_EHK_TABLE) {
      if (pb_bytes(&r, &s) != 0)
        return -1;
      if (w->ehk_table != NULL)
        w->ehk_table[w->nehk] = s;
      w->nehk++;
    } else if (tag == TAG_RECORDS) {
      if (pb_message(&r, 0, &sub) != 0 || parse_record(sub, 1, &rec) != 0)
        return -1;
      if (rec.pk_index > w->max_pk_index)
        w->max_pk_index = rec.pk_index;
      if (rec.has_ehk) {
        w->any_ehk_index = 1;
        if (rec.ehk_index > w->max_ehk_index)
          w->max_ehk_index = rec.ehk_index;
      }
      if (w->records != NULL) {
        /* The first walk checked every index against the full tables,
         * which an earlier walk has filled. */
        kn_deagg_record_t* out = &w->records[w->nrec];
        kn_cursor_t pk = w->pk_table[rec.pk_index];
        out->data = rec.data.ptr;
        out->len = rec.data.len;
        out->partition_key = (const char*) pk.ptr;
        out->partition_key_len = pk.len;
        out->explicit_hash_key = NULL;
        out->explicit_hash_key_len = 0;
        if (rec.has_ehk) {
          kn_cursor_t ehk = w->ehk_table[rec.ehk_index];
          out->explicit_hash_key = (const char*) ehk.ptr;
          out->explicit_hash_key_len = ehk.len;
        }
      }
      w->nrec++;
    } else if (pb_skip_field(&r, tag, 0) != 0) {
      return -1;
    }
  }
  return 0;
}


int kn_deagg(const uint8_t* blob, size_t len, kn_deagg_record_t** records,
             size_t* n) {
  uint8_t digest[KN_MD5_LEN];
  deagg_walk_t w;
  const uint8_t* pb;
  size_t pb_len;
  size_t table_off;
  size_t size;
  uint8_t* block;

  *records = NULL;
  *n = 0;

  /* AggregatorUtil.deaggregate: plain unless magic, then strictly more than
   * the digest, then a matching MD5 over what lies between. */
  if (blob == NULL || len < KN_AGG_MAGIC_LEN ||
      memcmp(blob, agg_magic, KN_AGG_MAGIC_LEN) != 0 ||
      len - KN_AGG_MAGIC_LEN <= KN_AGG_DIGEST_LEN)
    return 0;
  pb = blob + KN_AGG_MAGIC_LEN;
  pb_len = len - KN_AGG_OVERHEAD;
  /* Should MD5 itself fail, the blob cannot be shown to be an aggregate. */
  if (kn_md5(pb, pb_len, digest) != 0 ||
      memcmp(digest, pb + pb_len, KN_AGG_DIGEST_LEN) != 0)
    return 0;

  /* First walk: parse and check everything, and count, so that the one
   * allocation below is sized by what is really there. */
  memset(&w, 0, sizeof(w));
  if (walk_aggregate(pb, pb_len, &w) != 0)
    return 0;
  /* The header's rule (the KCL instead logs and keeps the records before
   * the bad one): an index outside its table makes the blob plain. */
  if (w.nrec > 0 && w.max_pk_index >= w.npk)
    return 0;
  if (w.any_ehk_index && w.max_ehk_index >= w.nehk)
    return 0;
  if (w.nrec == 0)
    return 1;

  /* One block: the records, then both tables. Every count is below pb_len,
   * but the products are still checked for 32-bit platforms. */
  if (w.nrec > SIZE_MAX / sizeof(kn_deagg_record_t) ||
      w.npk + w.nehk > SIZE_MAX / sizeof(kn_cursor_t))
    return KINESIS_ENOMEM;
  table_off = w.nrec * sizeof(kn_deagg_record_t);
  size = (w.npk + w.nehk) * sizeof(kn_cursor_t);
  if (size > SIZE_MAX - table_off)
    return KINESIS_ENOMEM;
  block = kn_malloc(table_off + size);
  if (block == NULL)
    return KINESIS_ENOMEM;

  /* Second walk fills the tables; the third resolves the records against
   * them, since the tables may follow the records on the wire. Both see the
   * bytes the first walk accepted, so they cannot fail. */
  w.records = NULL;
  w.pk_table = (kn_cursor_t*) (void*) (block + table_off);
  w.ehk_table = w.pk_table + w.npk;
  if (walk_aggregate(pb, pb_len, &w) != 0)
    goto fail;
  w.records = (kn_deagg_record_t*) (void*) block;
  if (walk_aggregate(pb, pb_len, &w) != 0)
    goto fail;

  *records = w.records;
  *n = w.nrec;
  return 1;

fail:
  kn_free(block);
  return 0;
}


/* The hash key a user record is routed by (protocol.md section 5). Returns
 * 0, or KINESIS_EINVAL for an explicit hash key that is not a decimal of at
 * most 2^128-1. The key is copied to be NUL-terminated; one with a NUL
 * inside would otherwise parse as its prefix. */
static int user_hash_key(const kn_deagg_record_t* u, kn_hash_key_t* out) {
  char dec[KN_HASH_KEY_DECIMAL_MAX];
  if (u->explicit_hash_key == NULL) {
    kn_hash_key_from_partition_key(u->partition_key, u->partition_key_len,
                                   out);
    return 0;
  }
  if (u->explicit_hash_key_len >= sizeof(dec) ||
      memchr(u->explicit_hash_key, '\0', u->explicit_hash_key_len) != NULL)
    return KINESIS_EINVAL;
  memcpy(dec, u->explicit_hash_key, u->explicit_hash_key_len);
  dec[u->explicit_hash_key_len] = '\0';
  return kn_hash_key_parse(dec, out);
}


int kn_deagg_in_range(const kn_deagg_record_t* users, size_t n,
                      const kn_hash_key_t* start, const kn_hash_key_t* end) {
  kn_hash_key_t key;
  size_t i;
  for (i = 0; i < n; i++) {
    if (user_hash_key(&users[i], &key) != 0 ||
        kn_hash_key_cmp(&key, start) < 0 || kn_hash_key_cmp(&key, end) > 0)
      return 0;
  }
  return 1;
}
