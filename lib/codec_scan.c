#include "codec.h"

#include "internal.h"
#include "validate.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- A scanner for the hot answers ----
 *
 * GetRecords and PutRecords answers are parsed in place in a copy of the
 * body: strings are unescaped where they stand and NUL-terminated there, so
 * the records point into the copy. Unknown members of any shape are
 * skipped, null stands for absent, and anything malformed is EPROTO. Numbers
 * are read without strtod(), which would follow the application's locale.
 */

/* Defensive bounds on a GetRecords answer (protocol.md section 4): the
 * service sends at most 10000 records, none larger than the model's Data
 * maximum of 10 MiB. */
#define KN_MAX_RECORDS_PER_RESPONSE 10000
#define KN_MAX_RECORD_DATA (10 * 1024 * 1024)

/* The reasons kn_parsed_t.error gives. */
#define KN_BAD_HASH_KEY "hash key is not a decimal from 0 to 2^128-1"
#define KN_BAD_SEQUENCE \
  "sequence number is not a decimal of 1 to 129 digits without a leading zero"


/* Why a shard's hash keys or sequence numbers are not what the API allows,
 * or NULL when they are; absent members are the caller's concern. A server
 * that sends anything else is not trusted with the ranges that route keys
 * and order checkpoints. */
static const char* shard_range_error(const kinesis_shard_t* s) {
  if ((s->starting_hash_key != NULL &&
       !kn_valid_hash_key(s->starting_hash_key)) ||
      (s->ending_hash_key != NULL && !kn_valid_hash_key(s->ending_hash_key)))
    return KN_BAD_HASH_KEY;
  if ((s->starting_sequence_number != NULL &&
       !kn_valid_sequence_number_strict(s->starting_sequence_number)) ||
      (s->ending_sequence_number != NULL &&
       !kn_valid_sequence_number_strict(s->ending_sequence_number)))
    return KN_BAD_SEQUENCE;
  return NULL;
}


#define KN_SCAN_MAX_DEPTH 64

typedef struct {
  char* p;
  char* end;
  int err;
  size_t key_len;      /* of the key sc_member() returned last */
} kn_scan_t;

/* Whether the key sc_member() returned is `lit`, a string literal: a length
 * test and a fixed-size compare, which the compiler inlines. */
#define SC_KEY_IS(s, key, lit)                                                \
  ((s)->key_len == sizeof(lit) - 1 && memcmp((key), (lit), sizeof(lit) - 1) == 0)


static void sc_ws(kn_scan_t* s) {
  while (s->p < s->end &&
         (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}


/* Consumes `c` after white space; 0 when something else is there. */
static int sc_eat(kn_scan_t* s, char c) {
  sc_ws(s);
  if (s->p < s->end && *s->p == c) {
    s->p++;
    return 1;
  }
  return 0;
}


/* Consumes `word` (null, true, false) after white space. Every caller
 * reads a value, and RFC 8259 allows white space before any value: without
 * it here, "MillisBehindLatest": 0 or "ChildShards": null from a server or
 * proxy that pretty-prints was refused (issue 17). */
static int sc_literal(kn_scan_t* s, const char* word) {
  size_t n = strlen(word);
  sc_ws(s);
  if ((size_t) (s->end - s->p) >= n && memcmp(s->p, word, n) == 0) {
    s->p += n;
    return 1;
  }
  return 0;
}


static int hex4(const char* p, unsigned* out) {
  unsigned v = 0;
  int i;
  for (i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9')
      v |= (unsigned) (c - '0');
    else if (c >= 'a' && c <= 'f')
      v |= (unsigned) (c - 'a' + 10);
    else if (c >= 'A' && c <= 'F')
      v |= (unsigned) (c - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}


/* A string, unescaped in place and NUL-terminated; NULL on error. */
static char* sc_string(kn_scan_t* s, size_t* len) {
  char* start;
  char* out;

  sc_ws(s);
  if (s->p >= s->end || *s->p != '"') {
    s->err = 1;
    return NULL;
  }
  start = ++s->p;
  {
    /* Most strings have no escape: find the end without copying. A local
     * pointer, since stores through char pointers would otherwise force
     * s->p back to memory on every byte. */
    const char* p = s->p;
    const char* end = s->end;
#ifdef __SSE2__
    /* Sixteen bytes at a time (SSE2 is part of x86-64): a sequence number
     * takes four steps, not seven of eight bytes and a tail byte by byte. */
    {
      const __m128i quote = _mm_set1_epi8('"');
      const __m128i bslash = _mm_set1_epi8('\\');
      const __m128i ctl = _mm_set1_epi8(0x1F);
      while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i*) (const void*) p);
        __m128i hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
            _mm_cmpeq_epi8(_mm_min_epu8(v, ctl), v));
        unsigned mask = (unsigned) _mm_movemask_epi8(hit);
        if (mask != 0) {
          /* The loops below stop at once on this byte. */
          p += __builtin_ctz(mask);
          break;
        }
        p += 16;
      }
    }
#endif
    /* Eight bytes at a time, while none is a quote, a backslash or a
     * control character (the usual bit tricks for "some byte is zero" and
     * "some byte is below n", which have no false negatives). */
    while (end - p >= 8) {
      const uint64_t ones = 0x0101010101010101u;
      const uint64_t highs = 0x8080808080808080u;
      uint64_t w;
      uint64_t q;
      uint64_t b;
      memcpy(&w, p, 8);
      q = w ^ (ones * '"');
      b = w ^ (ones * '\\');
      if ((((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w)) &
          highs)
        break;
      p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && (unsigned char) *p >= 0x20)
      p++;
    s->p = (char*) p;
  }
  out = s->p;
  while (s->p < s->end) {
    unsigned char c = (unsigned char) *s->p;
    if (c == '"') {
      *out = '\0';
      s->p++;
      if (len != NULL)
        *len = (size_t) (out - start);
      return start;
    }
    if (c < 0x20)
      break;
    if (c != '\\') {
      *out++ = *s->p++;
      continue;
    }
    if (s->end - s->p < 2)
      break;
    c = (unsigned char) s->p[1];
    s->p += 2;
    switch (c) {
      case '"': *out++ = '"'; break;
      case '\\': *out++ = '\\'; break;
      case '/': *out++ = '/'; break;
      case 'b': *out++ = '\b'; break;
      case 'f': *out++ = '\f'; break;
      case 'n': *out++ = '\n'; break;
      case 'r': *out++ = '\r'; break;
      case 't': *out++ = '\t'; break;
      case 'u': {
        unsigned cp;
        unsigned lo;
        if (s->end - s->p < 4 || hex4(s->p, &cp) != 0)
          goto bad;
        s->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          /* A surrogate pair; six bytes of escape give four of UTF-8. */
          if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u' ||
              hex4(s->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
            goto bad;
          s->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          goto bad;
        }
        /* UTF-8 is never longer than the escape it replaces. */
        if (cp < 0x80) {
          *out++ = (char) cp;
        } else if (cp < 0x800) {
          *out++ = (char) (0xC0 | (cp >> 6));
          *out++ = (char) (0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
          *out++ = (char) (0xE0 | (cp >> 12));
          *out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
          *out++ = (char) (0x80 | (cp & 0x3F));
        } else {
          *out++ = (char) (0xF0 | (cp >> 18));
          *out++ = (char) (0x80 | ((cp >> 12) & 0x3F));
          *out++ = (char) (0x80 | ((cp >> 6) & 0x3F));
          *out++ = (char) (0x80 | (cp & 0x3F));
        }
        break;
      }
      default:
        goto bad;
    }
  }
bad:
  s->err = 1;
  return NULL;
}


/* A string or null (NULL, without error). */
static char* sc_opt_string(kn_scan_t* s) {
  if (sc_literal(s, "null"))
    return NULL;
  return sc_string(s, NULL);
}


/* The same, with the string's length in *len (0 for null). */
static char* sc_opt_string_len(kn_scan_t* s, size_t* len) {
  *len = 0;
  if (sc_literal(s, "null"))
    return NULL;
  return sc_string(s, len);
}


/* A JSON number, read in the C locale's way whatever the process's is. */
static double sc_number(kn_scan_t* s) {
  static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,
                                 1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
                                 1e18, 1e19, 1e20, 1e21, 1e22};
  uint64_t mant = 0;
  int exp10 = 0;
  int neg = 0;
  int digits = 0;
  int e = 0;
  int eneg = 0;
  double v;

  sc_ws(s);
  if (s->p < s->end && *s->p == '-') {
    neg = 1;
    s->p++;
  }
  while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
    if (mant < UINT64_C(1000000000000000000))
      mant = mant * 10 + (uint64_t) (*s->p - '0');
    else
      exp10++;
    s->p++;
    digits++;
  }
  if (s->p < s->end && *s->p == '.') {
    s->p++;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
      if (mant < UINT64_C(1000000000000000000)) {
        mant = mant * 10 + (uint64_t) (*s->p - '0');
        exp10--;
      }
      s->p++;
      digits++;
    }
  }
  if (digits == 0) {
    s->err = 1;
    return 0;
  }
  if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
    s->p++;
    if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
      eneg = *s->p++ == '-';
    if (s->p >= s->end || *s->p < '0' || *s->p > '9') {
      s->err = 1;
      return 0;
    }
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
      if (e < 10000)
        e = e * 10 + (*s->p - '0');
      s->p++;
    }
    exp10 += eneg ? -e : e;
  }
  v = (double) mant;
  while (exp10 > 0) {
    int k = exp10 > 22 ? 22 : exp10;
    v *= pow10[k];
    exp10 -= k;
  }
  while (exp10 < 0) {
    int k = -exp10 > 22 ? 22 : -exp10;
    v /= pow10[k];
    exp10 += k;
  }
  return neg ? -v : v;
}


static void sc_skip(kn_scan_t* s, int depth);


static void sc_skip_container(kn_scan_t* s, int depth, char close, int obj) {
  if (depth > KN_SCAN_MAX_DEPTH) {
    s->err = 1;
    return;
  }
  if (sc_eat(s, close))
    return;
  do {
    if (obj && (sc_string(s, NULL) == NULL || !sc_eat(s, ':'))) {
      s->err = 1;
      return;
    }
    sc_skip(s, depth + 1);
  } while (!s->err && sc_eat(s, ','));
  if (!s->err && !sc_eat(s, close))
    s->err = 1;
}


/* Any value. */
static void sc_skip(kn_scan_t* s, int depth) {
  sc_ws(s);
  if (s->p >= s->end) {
    s->err = 1;
    return;
  }
  switch (*s->p) {
    case '"':
      sc_string(s, NULL);
      return;
    case '{':
      s->p++;
      sc_skip_container(s, depth, '}', 1);
      return;
    case '[':
      s->p++;
      sc_skip_container(s, depth, ']', 0);
      return;
    default:
      if (sc_literal(s, "null") || sc_literal(s, "true") ||
          sc_literal(s, "false"))
        return;
      sc_number(s);
  }
}


/* Starts an object: its '{'. Then: while ((key = sc_member(s, &first)))
 * read or skip the value. */
static char* sc_member(kn_scan_t* s, int* first) {
  char* key;
  if (s->err)
    return NULL;
  if (*first) {
    *first = 0;
    if (sc_eat(s, '}'))
      return NULL;
  } else if (!sc_eat(s, ',')) {
    if (!sc_eat(s, '}'))
      s->err = 1;
    return NULL;
  }
  key = sc_string(s, &s->key_len);
  if (key == NULL || !sc_eat(s, ':')) {
    s->err = 1;
    return NULL;
  }
  return key;
}


static int sc_begin(kn_scan_t* s, const uint8_t* body, size_t len,
                    kn_buf_t* take, kn_parsed_t* out) {
  memset(out, 0, sizeof(*out));
  out->millis_behind_latest = -1;
  if (take != NULL && take->data == body && take->len == len && len > 0) {
    /* The response's own buffer, NUL-terminated: no copy. */
    out->text = kn_buf_steal(take);
  } else {
    /* An empty body may come as (NULL, 0), which memcpy() must not see. */
    out->text = kn_malloc(len + 1);
    if (out->text != NULL) {
      if (len > 0)
        memcpy(out->text, body, len);
      out->text[len] = '\0';
    }
  }
  if (out->text == NULL)
    return KINESIS_ENOMEM;
  s->p = out->text;
  s->end = out->text + len;
  s->err = 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  return 0;
}


/* After the top-level object: nothing but white space. */
static int sc_finish(kn_scan_t* s) {
  sc_ws(s);
  return s->err || s->p != s->end ? KINESIS_EPROTO : 0;
}


/* The members of a ListShards shard's HashKeyRange or SequenceNumberRange:
 * `a` and `b` get the two named strings. */
static int sc_range(kn_scan_t* s, const char* na, const char** a,
                    const char* nb, const char** b) {
  int first = 1;
  char* key;
  if (sc_literal(s, "null"))
    return 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (s->key_len == strlen(na) && memcmp(key, na, s->key_len) == 0)
      *a = sc_opt_string(s);
    else if (s->key_len == strlen(nb) && memcmp(key, nb, s->key_len) == 0)
      *b = sc_opt_string(s);
    else
      sc_skip(s, 3);
  }
  return s->err ? KINESIS_EPROTO : 0;
}


/* A ChildShards entry: ShardId, ParentShards[], HashKeyRange{}. */
static int sc_child_shard(kn_scan_t* s, kinesis_shard_t* sh) {
  int first = 1;
  char* key;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "ShardId")) {
      sh->shard_id = sc_opt_string(s);
    } else if (SC_KEY_IS(s, key, "ParentShards")) {
      int n = 0;
      if (sc_literal(s, "null"))
        continue;
      if (!sc_eat(s, '['))
        return KINESIS_EPROTO;
      if (!sc_eat(s, ']')) {
        do {
          char* id = sc_string(s, NULL);
          if (n == 0)
            sh->parent_shard_id = id;
          else if (n == 1)
            sh->adjacent_parent_shard_id = id;
          n++;
        } while (!s->err && sc_eat(s, ','));
        if (!sc_eat(s, ']'))
          return KINESIS_EPROTO;
      }
    } else if (SC_KEY_IS(s, key, "HashKeyRange")) {
      if (sc_range(s, "StartingHashKey", &sh->starting_hash_key,
                   "EndingHashKey", &sh->ending_hash_key) != 0)
        return KINESIS_EPROTO;
    } else {
      sc_skip(s, 1);
    }
  }
  return s->err || sh->shard_id == NULL ? KINESIS_EPROTO : 0;
}


static int sc_child_shards(kn_scan_t* s, kn_parsed_t* out) {
  /* A repeated ChildShards member appends to what the first one left, so
   * the array is grown from its length, never from zero. */
  size_t cap = out->nchild_shards;
  if (sc_literal(s, "null"))
    return 0;
  if (!sc_eat(s, '['))
    return KINESIS_EPROTO;
  if (sc_eat(s, ']'))
    return 0;
  do {
    int r;
    if (out->nchild_shards == cap) {
      kinesis_shard_t* n;
      cap = cap ? cap * 2 : 2;
      n = kn_realloc(out->child_shards, cap * sizeof(*n));
      if (n == NULL)
        return KINESIS_ENOMEM;
      out->child_shards = n;
    }
    memset(&out->child_shards[out->nchild_shards], 0,
           sizeof(*out->child_shards));
    r = sc_child_shard(s, &out->child_shards[out->nchild_shards]);
    if (r != 0)
      return r;
    if ((out->error = shard_range_error(
             &out->child_shards[out->nchild_shards])) != NULL)
      return KINESIS_EPROTO;
    out->nchild_shards++;
  } while (sc_eat(s, ','));
  return sc_eat(s, ']') ? 0 : KINESIS_EPROTO;
}


/* The refusals of a records answer, named for the answer they are in: a
 * GetRecords answer, or a SubscribeToShardEvent of enhanced fan-out, whose
 * records and child shards are shaped alike. */
typedef struct {
  const char* bad_sequence;
  const char* data_too_big;
  const char* too_many;
  const char* behind_range;
  const char* bad_continuation;
} records_refusals_t;

#define KN_REFUSALS(op)                                                       \
  {op ": " KN_BAD_SEQUENCE, op ": a record's data is over 10 MiB",            \
   op ": more than 10000 records", op ": MillisBehindLatest out of range",    \
   op ": ContinuationSequenceNumber is not a sequence number"}

static const records_refusals_t get_records_refusals =
    KN_REFUSALS("GetRecords");
static const records_refusals_t event_refusals =
    KN_REFUSALS("SubscribeToShardEvent");


/* One record of a GetRecords answer; its data is decoded where its base64
 * stood. */
static int sc_record(kn_scan_t* s, kinesis_fetched_record_t* rec,
                     const records_refusals_t* why, kn_parsed_t* out) {
  int first = 1;
  char* key;
  char* data = NULL;
  size_t data_len = 0;
  size_t seq_len = 0;

  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while ((key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "Data")) {
      data = sc_string(s, &data_len);
    } else if (SC_KEY_IS(s, key, "PartitionKey")) {
      rec->partition_key = sc_opt_string(s);
    } else if (SC_KEY_IS(s, key, "SequenceNumber")) {
      rec->sequence_number = sc_opt_string_len(s, &seq_len);
    } else if (SC_KEY_IS(s, key, "ApproximateArrivalTimestamp")) {
      if (!sc_literal(s, "null"))
        rec->approximate_arrival_timestamp = sc_number(s);
    } else if (SC_KEY_IS(s, key, "EncryptionType")) {
      rec->encryption_type = sc_opt_string(s);
    } else {
      sc_skip(s, 2);
    }
  }
  if (s->err || data == NULL || rec->partition_key == NULL ||
      rec->sequence_number == NULL)
    return KINESIS_EPROTO;
  if (!kn_valid_sequence_number_strict_len(rec->sequence_number, seq_len))
    return kn_codec_refuse(out, why->bad_sequence);
  /* Base64 of the largest record is 4 * ceil(10 MiB / 3) characters. */
  if (data_len > (KN_MAX_RECORD_DATA + 2) / 3 * 4)
    return kn_codec_refuse(out, why->data_too_big);
  rec->len = data_len;
  if (kn_base64_decode(data, data_len, (uint8_t*) data, &rec->len) != 0)
    return KINESIS_EPROTO;
  if (rec->len > KN_MAX_RECORD_DATA)
    return kn_codec_refuse(out, why->data_too_big);
  rec->data = (const uint8_t*) data;
  return 0;
}


/* A GetRecords answer, or with `event` a SubscribeToShardEvent, whose
 * ContinuationSequenceNumber stands where NextShardIterator was. */
static int scan_records(const uint8_t* body, size_t len, kn_buf_t* take,
                        int event, kn_parsed_t* out) {
  const records_refusals_t* why =
      event ? &event_refusals : &get_records_refusals;
  kn_scan_t s;
  int first = 1;
  int have_records = 0;
  size_t cap = 0;
  char* key;
  int r = sc_begin(&s, body, len, take, out);

  if (r != 0)
    return r;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (SC_KEY_IS(&s, key, "Records")) {
      have_records = 1;
      if (!sc_eat(&s, '['))
        return KINESIS_EPROTO;
      if (sc_eat(&s, ']'))
        continue;
      do {
        if (out->nrecords == KN_MAX_RECORDS_PER_RESPONSE)
          return kn_codec_refuse(out, why->too_many);
        if (out->nrecords == cap) {
          kinesis_fetched_record_t* n;
          cap = cap ? cap * 2 : 64;
          if (cap > KN_MAX_RECORDS_PER_RESPONSE)
            cap = KN_MAX_RECORDS_PER_RESPONSE;
          n = kn_realloc(out->records, cap * sizeof(*n));
          if (n == NULL)
            return KINESIS_ENOMEM;
          out->records = n;
        }
        memset(&out->records[out->nrecords], 0, sizeof(*out->records));
        r = sc_record(&s, &out->records[out->nrecords], why, out);
        if (r != 0)
          return r;
        out->nrecords++;
      } while (sc_eat(&s, ','));
      if (!sc_eat(&s, ']'))
        return KINESIS_EPROTO;
    } else if (!event && SC_KEY_IS(&s, key, "NextShardIterator")) {
      out->next_shard_iterator = sc_opt_string(&s);
    } else if (event && SC_KEY_IS(&s, key, "ContinuationSequenceNumber")) {
      out->continuation_sequence_number = sc_opt_string(&s);
    } else if (SC_KEY_IS(&s, key, "MillisBehindLatest")) {
      if (!sc_literal(&s, "null")) {
        /* A long of at least 0 in the model. Converting a double outside
         * int64_t's range is undefined, so such a value is refused, not
         * cast. */
        double ms = sc_number(&s);
        if (!(ms >= 0 && ms < 9223372036854775808.0))
          return kn_codec_refuse(out, why->behind_range);
        out->millis_behind_latest = (int64_t) ms;
      }
    } else if (SC_KEY_IS(&s, key, "ChildShards")) {
      r = sc_child_shards(&s, out);
      if (r != 0)
        return r;
    } else {
      sc_skip(&s, 1);
    }
  }
  r = sc_finish(&s);
  if (r != 0 || !have_records)
    return KINESIS_EPROTO;
  /* No ContinuationSequenceNumber is the shard's end (the KCL reads it so);
   * one there must be a sequence number. */
  if (event && out->continuation_sequence_number != NULL &&
      !kn_valid_sequence_number_strict(out->continuation_sequence_number))
    return kn_codec_refuse(out, why->bad_continuation);
  return 0;
}


int kn_codec_parse_get_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               kn_parsed_t* out) {
  return scan_records(body, len, take, 0, out);
}


int kn_codec_parse_subscribe_event(const uint8_t* body, size_t len,
                                   kn_buf_t* take, kn_parsed_t* out) {
  return scan_records(body, len, take, 1, out);
}


/* A ListShards shard: ShardId, its parents, HashKeyRange{} and
 * SequenceNumberRange{}. */
static int sc_list_shard(kn_scan_t* s, kinesis_shard_t* sh) {
  int first = 1;
  char* key;
  int r = 0;
  if (!sc_eat(s, '{'))
    return KINESIS_EPROTO;
  while (r == 0 && (key = sc_member(s, &first)) != NULL) {
    if (SC_KEY_IS(s, key, "ShardId"))
      sh->shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "ParentShardId"))
      sh->parent_shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "AdjacentParentShardId"))
      sh->adjacent_parent_shard_id = sc_opt_string(s);
    else if (SC_KEY_IS(s, key, "HashKeyRange"))
      r = sc_range(s, "StartingHashKey", &sh->starting_hash_key,
                   "EndingHashKey", &sh->ending_hash_key);
    else if (SC_KEY_IS(s, key, "SequenceNumberRange"))
      r = sc_range(s, "StartingSequenceNumber", &sh->starting_sequence_number,
                   "EndingSequenceNumber", &sh->ending_sequence_number);
    else
      sc_skip(s, 2);
  }
  if (r != 0 || s->err || sh->shard_id == NULL ||
      sh->starting_hash_key == NULL || sh->ending_hash_key == NULL)
    return KINESIS_EPROTO;
  return 0;
}


/* ListShards, scanned in place like GetRecords: a stream of a thousand
 * shards lists half a megabyte, which jansson's tree took tens of
 * milliseconds of the loop to build. */
int kn_codec_parse_list_shards(const uint8_t* body, size_t len,
                               kn_parsed_t* out) {
  kn_scan_t s;
  int first = 1;
  size_t cap = 0;
  char* key;
  int r = sc_begin(&s, body, len, NULL, out);

  if (r != 0)
    return r;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (SC_KEY_IS(&s, key, "NextToken")) {
      out->next_token = sc_opt_string(&s);
    } else if (SC_KEY_IS(&s, key, "Shards")) {
      if (sc_literal(&s, "null"))
        continue;
      if (!sc_eat(&s, '['))
        return KINESIS_EPROTO;
      if (sc_eat(&s, ']'))
        continue;
      do {
        if (out->nshards == cap) {
          kinesis_shard_t* n;
          cap = cap ? cap * 2 : 64;
          n = kn_realloc(out->shards, cap * sizeof(*n));
          if (n == NULL)
            return KINESIS_ENOMEM;
          out->shards = n;
        }
        memset(&out->shards[out->nshards], 0, sizeof(*out->shards));
        r = sc_list_shard(&s, &out->shards[out->nshards]);
        if (r != 0)
          return r;
        if ((out->error = shard_range_error(&out->shards[out->nshards])) !=
            NULL)
          return KINESIS_EPROTO;
        out->nshards++;
      } while (sc_eat(&s, ','));
      if (!sc_eat(&s, ']'))
        return KINESIS_EPROTO;
    } else {
      sc_skip(&s, 1);
    }
  }
  return sc_finish(&s);
}


int kn_codec_parse_put_records(const uint8_t* body, size_t len, kn_buf_t* take,
                               size_t expected, kn_parsed_t* out) {
  kn_scan_t s;
  int first = 1;
  char* key;
  size_t n = 0;
  size_t seq_len = 0;
  int r = sc_begin(&s, body, len, take, out);

  if (r != 0)
    return r;
  if (expected == 0)
    return kn_codec_refuse(out, "PutRecords: an answer to no records");
  out->put_entries = kn_calloc(expected, sizeof(*out->put_entries));
  if (out->put_entries == NULL)
    return KINESIS_ENOMEM;
  while ((key = sc_member(&s, &first)) != NULL) {
    if (!SC_KEY_IS(&s, key, "Records")) {
      /* FailedRecordCount may be absent; the entries are the truth. */
      sc_skip(&s, 1);
      continue;
    }
    if (!sc_eat(&s, '[') || sc_eat(&s, ']'))
      return KINESIS_EPROTO;
    do {
      kinesis_put_entry_result_t* e;
      int f2 = 1;
      char* k2;
      if (n == expected)
        return kn_codec_refuse(out,
                               "PutRecords: more entries than records sent");
      if (!sc_eat(&s, '{'))
        return KINESIS_EPROTO;
      e = &out->put_entries[n++];
      while ((k2 = sc_member(&s, &f2)) != NULL) {
        if (SC_KEY_IS(&s, k2, "SequenceNumber"))
          e->sequence_number = sc_opt_string_len(&s, &seq_len);
        else if (SC_KEY_IS(&s, k2, "ShardId"))
          e->shard_id = sc_opt_string(&s);
        else if (SC_KEY_IS(&s, k2, "ErrorCode"))
          e->error_code = sc_opt_string(&s);
        else if (SC_KEY_IS(&s, k2, "ErrorMessage"))
          e->error_message = sc_opt_string(&s);
        else
          sc_skip(&s, 2);
      }
      if (s.err)
        return KINESIS_EPROTO;
      if (e->error_code != NULL)
        out->failed_record_count++;
      else if (e->shard_id == NULL || e->sequence_number == NULL)
        return KINESIS_EPROTO;
      else if (!kn_valid_sequence_number_strict_len(e->sequence_number,
                                                    seq_len))
        return kn_codec_refuse(out, "PutRecords: " KN_BAD_SEQUENCE);
    } while (sc_eat(&s, ','));
    if (!sc_eat(&s, ']'))
      return KINESIS_EPROTO;
  }
  r = sc_finish(&s);
  if (r != 0)
    return r;
  if (n != expected)
    return kn_codec_refuse(out, "PutRecords: fewer entries than records sent");
  out->nput_entries = n;
  return 0;
}
