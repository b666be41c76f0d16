#include "shardmap.h"
#include "internal.h"

#include <limits.h>
#include <string.h>

#include "crypto.h"

/* The largest hash key, 2^128-1, in decimal. Every 39-digit input is
 * compared with it as a string before any arithmetic, so neither the parser
 * nor its callers ever see an overflow. */
static const char hash_key_max[] = "340282366920938463463374607431768211455";

#define HASH_KEY_MAX_DIGITS (sizeof(hash_key_max) - 1)

/* KN_SHARDMAP_NO_INT128 forces the portable arithmetic, so that it can be
 * tested on compilers that have __int128 too. */
#if defined(__SIZEOF_INT128__) && !defined(KN_SHARDMAP_NO_INT128)
#define KN_HAVE_INT128 1
/* __extension__ keeps -Wpedantic quiet about a type ISO C does not have. */
__extension__ typedef unsigned __int128 kn_u128;
#endif

typedef struct shard_range_s {
  kn_hash_key_t start;
  kn_hash_key_t end;
  const char* id; /* Points into the same allocation as the map. */
} shard_range_t;

/* The map is one allocation: this header, the ranges, then the shard ids,
 * so building it can fail in only one place and freeing it is one call. */
struct kn_shardmap_s {
  size_t n;
  shard_range_t ranges[];
};

static const uint64_t pow10_u64[] = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};


void kn_hash_key_from_partition_key(const char* key, size_t len,
                                    kn_hash_key_t* out) {
  /* MD5 of a buffer in memory cannot fail with the stock mbedTLS; should an
   * alternative implementation fail anyway, the key is 0 rather than stack
   * garbage, so routing stays deterministic. */
  if (kn_md5((const uint8_t*) key, len, out->b) != 0)
    memset(out->b, 0, sizeof(out->b));
}


/* Reads `n` (at most 19) decimal digits that are known to be valid. */
static uint64_t digits_value(const char* s, size_t n) {
  uint64_t v = 0;
  size_t i;
  for (i = 0; i < n; i++)
    v = v * 10 + (uint64_t) (s[i] - '0');
  return v;
}


int kn_hash_key_parse(const char* decimal, kn_hash_key_t* out) {
  size_t len;
  size_t pos;
  size_t chunk;
  int i;

  if (decimal == NULL || out == NULL)
    return KINESIS_EINVAL;
  /* Validate the whole string first: digits only, at most 39 of them. The
   * bound keeps strlen() from running far past a bogus long input. */
  for (len = 0; decimal[len] != '\0'; len++) {
    if (decimal[len] < '0' || decimal[len] > '9' ||
        len == HASH_KEY_MAX_DIGITS)
      return KINESIS_EINVAL;
  }
  if (len == 0 || (decimal[0] == '0' && len > 1))
    return KINESIS_EINVAL;
  /* Equal-length digit strings without leading zeros order like numbers. */
  if (len == HASH_KEY_MAX_DIGITS && memcmp(decimal, hash_key_max, len) > 0)
    return KINESIS_EINVAL;

#ifdef KN_HAVE_INT128
  {
    kn_u128 v = 0;
    /* Up to 19 digits at a time fit a uint64_t; the first chunk takes the
     * remainder so that the others are full. */
    chunk = len % 19 == 0 ? 19 : len % 19;
    for (pos = 0; pos < len; pos += chunk, chunk = 19)
      v = v * pow10_u64[chunk] + digits_value(decimal + pos, chunk);
    for (i = KN_HASH_KEY_LEN - 1; i >= 0; i--) {
      out->b[i] = (uint8_t) v;
      v >>= 8;
    }
  }
#else
  {
    /* Four 32-bit limbs, most significant first; 9 digits at a time keep
     * limb * 10^9 + carry inside 64 bits. */
    uint32_t w[4] = {0, 0, 0, 0};
    uint64_t carry;
    int j;
    chunk = len % 9 == 0 ? 9 : len % 9;
    for (pos = 0; pos < len; pos += chunk, chunk = 9) {
      carry = digits_value(decimal + pos, chunk);
      for (j = 3; j >= 0; j--) {
        uint64_t t = (uint64_t) w[j] * pow10_u64[chunk] + carry;
        w[j] = (uint32_t) t;
        carry = t >> 32;
      }
    }
    for (i = 0; i < 4; i++) {
      out->b[4 * i] = (uint8_t) (w[i] >> 24);
      out->b[4 * i + 1] = (uint8_t) (w[i] >> 16);
      out->b[4 * i + 2] = (uint8_t) (w[i] >> 8);
      out->b[4 * i + 3] = (uint8_t) w[i];
    }
  }
#endif
  return 0;
}


/* Writes `v` right to left ending just before `p`: exactly `width` digits
 * with leading zeros, or, when `width` is 0, as few as it needs (at least
 * one). Returns the new start. */
static char* put_digits(char* p, uint64_t v, int width) {
  int i;
  if (width == 0) {
    do {
      *--p = (char) ('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return p;
  }
  for (i = 0; i < width; i++) {
    *--p = (char) ('0' + v % 10);
    v /= 10;
  }
  return p;
}


size_t kn_hash_key_format(const kn_hash_key_t* key,
                          char out[KN_HASH_KEY_DECIMAL_MAX]) {
  char tmp[KN_HASH_KEY_DECIMAL_MAX];
  char* end = tmp + sizeof(tmp) - 1;
  char* p = end;
  size_t len;
  int i;

  *end = '\0';
#ifdef KN_HAVE_INT128
  {
    /* Split into base-10^19 chunks so that only two 128-bit divisions are
     * needed; each chunk is then printed with 64-bit arithmetic. */
    const uint64_t base = pow10_u64[19];
    kn_u128 v = 0;
    for (i = 0; i < KN_HASH_KEY_LEN; i++)
      v = (v << 8) | key->b[i];
    while (v >= base) {
      p = put_digits(p, (uint64_t) (v % base), 19);
      v /= base;
    }
    p = put_digits(p, (uint64_t) v, 0);
  }
#else
  {
    /* Long division of four 32-bit limbs by 10^9 gives 9 digits a step. */
    const uint64_t base = pow10_u64[9];
    uint32_t w[4];
    uint64_t rem;
    int j;
    for (i = 0; i < 4; i++)
      w[i] = (uint32_t) key->b[4 * i] << 24 |
             (uint32_t) key->b[4 * i + 1] << 16 |
             (uint32_t) key->b[4 * i + 2] << 8 | key->b[4 * i + 3];
    for (;;) {
      rem = 0;
      for (j = 0; j < 4; j++) {
        uint64_t t = rem << 32 | w[j];
        w[j] = (uint32_t) (t / base);
        rem = t % base;
      }
      if ((w[0] | w[1] | w[2] | w[3]) == 0)
        break;
      p = put_digits(p, rem, 9);
    }
    p = put_digits(p, rem, 0);
  }
#endif
  len = (size_t) (end - p);
  memcpy(out, p, len + 1);
  return len;
}


int kn_hash_key_cmp(const kn_hash_key_t* a, const kn_hash_key_t* b) {
  int r = memcmp(a->b, b->b, KN_HASH_KEY_LEN);
  return (r > 0) - (r < 0);
}


static int range_cmp(const void* a, const void* b) {
  const shard_range_t* x = a;
  const shard_range_t* y = b;
  return kn_hash_key_cmp(&x->start, &y->start);
}


int kn_shardmap_new(const kinesis_shard_t* shards, size_t n,
                    kn_shardmap_t** out) {
  kn_shardmap_t* map;
  size_t nopen = 0;
  size_t id_bytes = 0;
  size_t size;
  size_t i;
  size_t k;
  char* ids;

  if ((shards == NULL && n > 0) || out == NULL)
    return KINESIS_EINVAL;

  /* First pass: validate the open shards and size the allocation. */
  for (i = 0; i < n; i++) {
    const kinesis_shard_t* s = &shards[i];
    kn_hash_key_t start;
    kn_hash_key_t end;
    size_t id_len;
    if (s->ending_sequence_number != NULL)
      continue;
    if (s->shard_id == NULL ||
        kn_hash_key_parse(s->starting_hash_key, &start) != 0 ||
        kn_hash_key_parse(s->ending_hash_key, &end) != 0 ||
        kn_hash_key_cmp(&start, &end) > 0)
      return KINESIS_EPROTO;
    id_len = strlen(s->shard_id) + 1;
    if (id_len > SIZE_MAX - id_bytes)
      return KINESIS_ENOMEM;
    id_bytes += id_len;
    nopen++;
  }
  /* kn_shardmap_lookup() returns an int index. */
  if (nopen > INT_MAX)
    return KINESIS_EINVAL;
  if (nopen > (SIZE_MAX - sizeof(*map) - id_bytes) / sizeof(shard_range_t))
    return KINESIS_ENOMEM;
  size = sizeof(*map) + nopen * sizeof(shard_range_t) + id_bytes;

  map = kn_malloc(size);
  if (map == NULL)
    return KINESIS_ENOMEM;
  map->n = nopen;
  ids = (char*) &map->ranges[nopen];

  /* Second pass: fill in. The keys were validated above. */
  for (i = 0, k = 0; i < n; i++) {
    const kinesis_shard_t* s = &shards[i];
    shard_range_t* r;
    size_t id_len;
    if (s->ending_sequence_number != NULL)
      continue;
    r = &map->ranges[k++];
    kn_hash_key_parse(s->starting_hash_key, &r->start);
    kn_hash_key_parse(s->ending_hash_key, &r->end);
    id_len = strlen(s->shard_id) + 1;
    memcpy(ids, s->shard_id, id_len);
    r->id = ids;
    ids += id_len;
  }

  if (nopen > 1)
    qsort(map->ranges, nopen, sizeof(shard_range_t), range_cmp);
  /* Open shards partition the key space, so after sorting each must start
   * after its predecessor ends; otherwise a key would have two owners.
   * Gaps are tolerated: kinesis-mock leaves none, but a listing taken in
   * the middle of a reshard might. */
  for (k = 1; k < nopen; k++) {
    if (kn_hash_key_cmp(&map->ranges[k].start, &map->ranges[k - 1].end) <= 0) {
      kn_free(map);
      return KINESIS_EPROTO;
    }
  }

  *out = map;
  return 0;
}


void kn_shardmap_free(kn_shardmap_t* map) {
  kn_free(map);
}


size_t kn_shardmap_count(const kn_shardmap_t* map) {
  return map->n;
}


int kn_shardmap_lookup(const kn_shardmap_t* map, const kn_hash_key_t* key) {
  size_t lo = 0;
  size_t hi = map->n;

  /* Find the first range that starts after `key`; the one before it is the
   * only candidate. */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (kn_hash_key_cmp(&map->ranges[mid].start, key) <= 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0 || kn_hash_key_cmp(key, &map->ranges[lo - 1].end) > 0)
    return -1;
  return (int) (lo - 1);
}


const char* kn_shardmap_shard_id(const kn_shardmap_t* map, size_t index) {
  return index < map->n ? map->ranges[index].id : NULL;
}


int kn_shardmap_find(const kn_shardmap_t* map, const char* shard_id) {
  size_t i;
  /* Linear: this runs when a shard is named in a response, not per record,
   * and streams rarely have more than a few hundred open shards. */
  if (shard_id == NULL)
    return -1;
  for (i = 0; i < map->n; i++) {
    if (strcmp(map->ranges[i].id, shard_id) == 0)
      return (int) i;
  }
  return -1;
}
