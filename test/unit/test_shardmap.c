#include "harness.h"

#include <jansson.h>

#include "internal.h"
#include "shardmap.h"


#define MAX_KEY "340282366920938463463374607431768211455"   /* 2^128-1 */
#define HALF_KEY "170141183460469231731687303715884105728"  /* 2^127 */
#define HALF_M1_KEY "170141183460469231731687303715884105727" /* 2^127-1 */


/* Formats md5(partition key) and compares it with `expected`. */
static void check_md5_key(const char* pk, size_t len, const char* expected) {
  kn_hash_key_t k;
  kn_hash_key_t parsed;
  char s[KN_HASH_KEY_DECIMAL_MAX];

  kn_hash_key_from_partition_key(pk, len, &k);
  ASSERT_EQ(strlen(expected), kn_hash_key_format(&k, s));
  ASSERT_STR_EQ(expected, s);
  /* And the other way: the decimal parses to the same bytes. */
  ASSERT_OK(kn_hash_key_parse(expected, &parsed));
  ASSERT_MEM_EQ(k.b, parsed.b, KN_HASH_KEY_LEN);
}


static void key_of(const char* decimal, kn_hash_key_t* k) {
  ASSERT_OK(kn_hash_key_parse(decimal, k));
}


static void test_md5_examples(void) {
  /* The examples of protocol.md section 5. */
  check_md5_key("a", 1, "16955237001963240173058271559858726497");
  check_md5_key("alpha", 5, "58606826522850340945736240254012750329");
  /* "日本語キー" in UTF-8, spelled out so the source encoding cannot
   * matter. */
  check_md5_key("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x82\xad\xe3\x83\xbc",
                15, "145690970442991832528534362480216383883");
  /* The empty key hashes too: md5("") = d41d8cd98f00b204e9800998ecf8427e. */
  check_md5_key("", 0, "281949768489412648962353822266799178366");
}


static void test_kpl_vectors(void) {
  char path[4096];
  char* text;
  size_t text_len;
  json_t* root;
  json_error_t err;
  json_t* vectors;
  json_t* vec;
  size_t i;
  size_t j;
  int from_md5 = 0;
  int explicit_keys = 0;

  snprintf(path, sizeof(path), "%s/kpl/vectors.json", kn_test_data_dir());
  text = kn_test_read_file(path, &text_len);
  ASSERT_NOT_NULL(text);
  root = json_loadb(text, text_len, 0, &err);
  ASSERT_NOT_NULL(root);
  vectors = json_object_get(root, "vectors");
  ASSERT(json_is_array(vectors));

  json_array_foreach(vectors, i, vec) {
    json_t* inputs = json_object_get(vec, "input");
    json_t* in;
    ASSERT(json_is_array(inputs));
    json_array_foreach(inputs, j, in) {
      json_t* pk = json_object_get(in, "partitionKey");
      json_t* ehk = json_object_get(in, "explicitHashKey");
      const char* want =
          json_string_value(json_object_get(in, "effectiveHashKey"));
      char s[KN_HASH_KEY_DECIMAL_MAX];
      kn_hash_key_t k;

      ASSERT_NOT_NULL(want);
      ASSERT(json_is_string(pk));
      if (ehk == NULL) {
        /* json_string_length() counts UTF-8 bytes, as MD5 must. */
        check_md5_key(json_string_value(pk), json_string_length(pk), want);
        from_md5++;
      } else {
        ASSERT(json_is_string(ehk));
        key_of(json_string_value(ehk), &k);
        kn_hash_key_format(&k, s);
        ASSERT_STR_EQ(want, s);
        explicit_keys++;
      }
    }
  }
  ASSERT_GT(from_md5 + explicit_keys, 10);
  ASSERT_GT(from_md5, 10);
  ASSERT_GT(explicit_keys, 10);
  json_decref(root);
  free(text);
}


static void test_parse_format_round_trip(void) {
  static const char* const values[] = {
      "0",
      "1",
      "9",
      "10",
      "18446744073709551615",  /* 2^64-1 */
      "18446744073709551616",  /* 2^64 */
      HALF_M1_KEY,
      HALF_KEY,
      MAX_KEY,
      "10000000000000000000",  /* 10^19, a chunk boundary */
      "9999999999999999999",
      "1000000000",
      "999999999",
      "100000000000000000000000000000000000000", /* 10^38 */
      "99999999999999999999999999999999999999",
  };
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(values); i++) {
    kn_hash_key_t k;
    char s[KN_HASH_KEY_DECIMAL_MAX];
    key_of(values[i], &k);
    ASSERT_EQ(strlen(values[i]), kn_hash_key_format(&k, s));
    ASSERT_STR_EQ(values[i], s);
  }
}


static void test_parse_bytes(void) {
  static const uint8_t zero[16] = {0};
  static const uint8_t max[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff};
  static const uint8_t u64max[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                     0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff};
  static const uint8_t two64[16] = {0, 0, 0, 0, 0, 0, 0, 1,
                                    0, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t half[16] = {0x80};
  static const uint8_t half_m1[16] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff};
  static const uint8_t dec[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                  0, 0, 0, 0, 0x49, 0x96, 0x02, 0xd2};
  kn_hash_key_t k;

  key_of("0", &k);
  ASSERT_MEM_EQ(zero, k.b, 16);
  key_of(MAX_KEY, &k);
  ASSERT_MEM_EQ(max, k.b, 16);
  key_of("18446744073709551615", &k);
  ASSERT_MEM_EQ(u64max, k.b, 16);
  key_of("18446744073709551616", &k);
  ASSERT_MEM_EQ(two64, k.b, 16);
  key_of(HALF_KEY, &k);
  ASSERT_MEM_EQ(half, k.b, 16);
  key_of(HALF_M1_KEY, &k);
  ASSERT_MEM_EQ(half_m1, k.b, 16);
  key_of("1234567890", &k);
  ASSERT_MEM_EQ(dec, k.b, 16);
}


static void test_parse_rejects(void) {
  static const char* const bad[] = {
      "340282366920938463463374607431768211456", /* 2^128 */
      "340282366920938463463374607431768211465",
      "999999999999999999999999999999999999999", /* 39 nines */
      "1000000000000000000000000000000000000000", /* 40 digits */
      "0340282366920938463463374607431768211455", /* 40 with a zero */
      "01",
      "00",
      "-1",
      "+1",
      "",
      " 1",
      "1 ",
      "1a",
      "0x10",
      "1.0",
      "1e5",
  };
  kn_hash_key_t k;
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(bad); i++) {
    /* A failed parse leaves the output alone. */
    memset(k.b, 0xa5, sizeof(k.b));
    if (kn_hash_key_parse(bad[i], &k) != KINESIS_EINVAL)
      fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
    ASSERT_EQ(KINESIS_EINVAL, kn_hash_key_parse(bad[i], &k));
    ASSERT_EQ(0xa5, k.b[0]);
    ASSERT_EQ(0xa5, k.b[15]);
  }
  ASSERT_EQ(KINESIS_EINVAL, kn_hash_key_parse(NULL, &k));
  ASSERT_EQ(KINESIS_EINVAL, kn_hash_key_parse("1", NULL));
}


/* xorshift64: deterministic keys with every bit pattern, without libc. */
static uint64_t next_random(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}


static void test_round_trip_random(void) {
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  int n;

  for (n = 0; n < 20000; n++) {
    kn_hash_key_t k;
    kn_hash_key_t back;
    char s[KN_HASH_KEY_DECIMAL_MAX];
    uint64_t hi = next_random(&state);
    uint64_t lo = next_random(&state);
    size_t len;
    int i;
    /* Vary the magnitude so short and long numbers are both covered. */
    int shift = n % 128;
    for (i = 0; i < 8; i++) {
      k.b[i] = (uint8_t) (hi >> (56 - 8 * i));
      k.b[8 + i] = (uint8_t) (lo >> (56 - 8 * i));
    }
    for (i = 0; i < shift / 8; i++)
      k.b[i] = 0;
    len = kn_hash_key_format(&k, s);
    ASSERT_EQ(strlen(s), len);
    ASSERT_LE(len, KN_HASH_KEY_DECIMAL_MAX - 1);
    ASSERT_OK(kn_hash_key_parse(s, &back));
    ASSERT_MEM_EQ(k.b, back.b, KN_HASH_KEY_LEN);
  }
}


static void test_cmp(void) {
  kn_hash_key_t a;
  kn_hash_key_t b;

  key_of("255", &a);
  key_of("256", &b);
  ASSERT_EQ(-1, kn_hash_key_cmp(&a, &b));
  ASSERT_EQ(1, kn_hash_key_cmp(&b, &a));
  ASSERT_EQ(0, kn_hash_key_cmp(&a, &a));
  key_of(HALF_M1_KEY, &a);
  key_of(HALF_KEY, &b);
  ASSERT_EQ(-1, kn_hash_key_cmp(&a, &b));
  key_of(MAX_KEY, &a);
  ASSERT_EQ(1, kn_hash_key_cmp(&a, &b));
}


/* ---- Shard maps ---- */


static kinesis_shard_t shard(const char* id, const char* start,
                             const char* end, const char* ending_seq) {
  kinesis_shard_t s;
  memset(&s, 0, sizeof(s));
  s.shard_id = id;
  s.starting_hash_key = start;
  s.ending_hash_key = end;
  s.starting_sequence_number =
      "49590338271490256608559692538361571095921575989136588898";
  s.ending_sequence_number = ending_seq;
  return s;
}


#define OPEN(id, start, end) shard(id, start, end, NULL)


/* The id of the shard that `decimal` routes to, or NULL. */
static const char* route(const kn_shardmap_t* map, const char* decimal) {
  kn_hash_key_t k;
  int i;
  key_of(decimal, &k);
  i = kn_shardmap_lookup(map, &k);
  if (i < 0)
    return NULL;
  ASSERT_LT(i, kn_shardmap_count(map));
  return kn_shardmap_shard_id(map, (size_t) i);
}


static const char* route_pk(const kn_shardmap_t* map, const char* pk) {
  kn_hash_key_t k;
  int i;
  kn_hash_key_from_partition_key(pk, strlen(pk), &k);
  i = kn_shardmap_lookup(map, &k);
  return i < 0 ? NULL : kn_shardmap_shard_id(map, (size_t) i);
}


static void test_two_shards(void) {
  /* kinesalite's and AWS's even split. */
  kinesis_shard_t s[2];
  kn_shardmap_t* map;

  s[0] = OPEN("shardId-000000000000", "0", HALF_M1_KEY);
  s[1] = OPEN("shardId-000000000001", HALF_KEY, MAX_KEY);
  ASSERT_OK(kn_shardmap_new(s, 2, &map));
  ASSERT_EQ(2, kn_shardmap_count(map));
  ASSERT_STR_EQ("shardId-000000000000", route(map, "0"));
  ASSERT_STR_EQ("shardId-000000000000", route(map, "1"));
  ASSERT_STR_EQ("shardId-000000000000", route(map, HALF_M1_KEY));
  ASSERT_STR_EQ("shardId-000000000001", route(map, HALF_KEY));
  ASSERT_STR_EQ("shardId-000000000001", route(map, MAX_KEY));
  /* Partition keys: "a" and "alpha" hash below 2^127, "beta" above. */
  ASSERT_STR_EQ("shardId-000000000000", route_pk(map, "a"));
  ASSERT_STR_EQ("shardId-000000000000", route_pk(map, "alpha"));
  ASSERT_STR_EQ("shardId-000000000001", route_pk(map, "beta"));
  ASSERT_EQ(0, kn_shardmap_find(map, "shardId-000000000000"));
  ASSERT_EQ(1, kn_shardmap_find(map, "shardId-000000000001"));
  ASSERT_EQ(-1, kn_shardmap_find(map, "shardId-000000000002"));
  ASSERT_EQ(-1, kn_shardmap_find(map, "shardId-00000000000"));
  ASSERT_EQ(-1, kn_shardmap_find(map, NULL));
  ASSERT_NULL(kn_shardmap_shard_id(map, 2));
  kn_shardmap_free(map);
}


static const char* const four_ranges[4][2] = {
    {"0", "85070591730234615865843651857942052863"},
    {"85070591730234615865843651857942052864", HALF_M1_KEY},
    {HALF_KEY, "255211775190703847597530955573826158591"},
    {"255211775190703847597530955573826158592", MAX_KEY},
};


static void check_four(const kn_shardmap_t* map) {
  ASSERT_EQ(4, kn_shardmap_count(map));
  ASSERT_STR_EQ("shard-0", kn_shardmap_shard_id(map, 0));
  ASSERT_STR_EQ("shard-1", kn_shardmap_shard_id(map, 1));
  ASSERT_STR_EQ("shard-2", kn_shardmap_shard_id(map, 2));
  ASSERT_STR_EQ("shard-3", kn_shardmap_shard_id(map, 3));
  ASSERT_STR_EQ("shard-0", route(map, "0"));
  ASSERT_STR_EQ("shard-0", route(map, four_ranges[0][1]));
  ASSERT_STR_EQ("shard-1", route(map, four_ranges[1][0]));
  ASSERT_STR_EQ("shard-1",
                route(map, "100000000000000000000000000000000000000"));
  ASSERT_STR_EQ("shard-1", route(map, four_ranges[1][1]));
  ASSERT_STR_EQ("shard-2", route(map, four_ranges[2][0]));
  ASSERT_STR_EQ("shard-2",
                route(map, "200000000000000000000000000000000000000"));
  ASSERT_STR_EQ("shard-2", route(map, four_ranges[2][1]));
  ASSERT_STR_EQ("shard-3", route(map, four_ranges[3][0]));
  ASSERT_STR_EQ("shard-3", route(map, MAX_KEY));
  ASSERT_EQ(0, kn_shardmap_find(map, "shard-0"));
  ASSERT_EQ(3, kn_shardmap_find(map, "shard-3"));
}


static void test_four_shards(void) {
  kinesis_shard_t s[4];
  kn_shardmap_t* map;

  s[0] = OPEN("shard-0", four_ranges[0][0], four_ranges[0][1]);
  s[1] = OPEN("shard-1", four_ranges[1][0], four_ranges[1][1]);
  s[2] = OPEN("shard-2", four_ranges[2][0], four_ranges[2][1]);
  s[3] = OPEN("shard-3", four_ranges[3][0], four_ranges[3][1]);
  ASSERT_OK(kn_shardmap_new(s, 4, &map));
  check_four(map);
  kn_shardmap_free(map);
}


static void test_out_of_order(void) {
  kinesis_shard_t s[4];
  kn_shardmap_t* map;
  char id[4][32];
  int i;

  /* The ids are copied: the caller's strings die before the map does. */
  for (i = 0; i < 4; i++)
    snprintf(id[i], sizeof(id[i]), "shard-%d", i);
  s[0] = OPEN(id[2], four_ranges[2][0], four_ranges[2][1]);
  s[1] = OPEN(id[0], four_ranges[0][0], four_ranges[0][1]);
  s[2] = OPEN(id[3], four_ranges[3][0], four_ranges[3][1]);
  s[3] = OPEN(id[1], four_ranges[1][0], four_ranges[1][1]);
  ASSERT_OK(kn_shardmap_new(s, 4, &map));
  memset(id, 'x', sizeof(id));
  memset(s, 0, sizeof(s));
  check_four(map);
  kn_shardmap_free(map);
}


static void test_resharded(void) {
  /* SplitShard of a 1-shard stream: the parent is closed and still listed;
   * its two children own the key space. */
  kinesis_shard_t s[3];
  kn_shardmap_t* map;

  s[0] = shard("shardId-000000000000", "0", MAX_KEY,
               "49590338271490256608559692540925702759324208523137515618");
  s[1] = OPEN("shardId-000000000001", "0", HALF_M1_KEY);
  s[1].parent_shard_id = "shardId-000000000000";
  s[2] = OPEN("shardId-000000000002", HALF_KEY, MAX_KEY);
  s[2].parent_shard_id = "shardId-000000000000";
  ASSERT_OK(kn_shardmap_new(s, 3, &map));
  ASSERT_EQ(2, kn_shardmap_count(map));
  ASSERT_EQ(-1, kn_shardmap_find(map, "shardId-000000000000"));
  ASSERT_STR_EQ("shardId-000000000001", route(map, "0"));
  ASSERT_STR_EQ("shardId-000000000001", route(map, HALF_M1_KEY));
  ASSERT_STR_EQ("shardId-000000000002", route(map, HALF_KEY));
  ASSERT_STR_EQ("shardId-000000000002", route(map, MAX_KEY));
  kn_shardmap_free(map);

  /* Then MergeShards of the two children: three closed, one open. */
  s[1].ending_sequence_number = "1";
  s[2].ending_sequence_number = "2";
  {
    kinesis_shard_t m[4];
    memcpy(m, s, sizeof(s));
    m[3] = OPEN("shardId-000000000003", "0", MAX_KEY);
    m[3].parent_shard_id = "shardId-000000000001";
    m[3].adjacent_parent_shard_id = "shardId-000000000002";
    ASSERT_OK(kn_shardmap_new(m, 4, &map));
  }
  ASSERT_EQ(1, kn_shardmap_count(map));
  ASSERT_STR_EQ("shardId-000000000003", route(map, "0"));
  ASSERT_STR_EQ("shardId-000000000003", route(map, MAX_KEY));
  kn_shardmap_free(map);
}


static void test_kinesis_mock_ranges(void) {
  /* kinesis-mock 0.6.2 is off by one against AWS (mocks.md). */
  kinesis_shard_t s[2];
  kn_shardmap_t* map;

  s[0] = OPEN("shardId-000000000000", "0",
              "170141183460469231731687303715884105726");
  s[1] = OPEN("shardId-000000000001", "170141183460469231731687303715884105727",
              MAX_KEY);
  ASSERT_OK(kn_shardmap_new(s, 2, &map));
  ASSERT_STR_EQ("shardId-000000000000", route(map, "0"));
  ASSERT_STR_EQ("shardId-000000000000",
                route(map, "170141183460469231731687303715884105726"));
  ASSERT_STR_EQ("shardId-000000000001",
                route(map, "170141183460469231731687303715884105727"));
  ASSERT_STR_EQ("shardId-000000000001", route(map, HALF_KEY));
  ASSERT_STR_EQ("shardId-000000000001", route(map, MAX_KEY));
  kn_shardmap_free(map);
}


static void test_gap(void) {
  kinesis_shard_t s[2];
  kn_shardmap_t* map;

  s[0] = OPEN("low", "100", "199");
  s[1] = OPEN("high", "300", "399");
  ASSERT_OK(kn_shardmap_new(s, 2, &map));
  ASSERT_NULL(route(map, "0"));
  ASSERT_NULL(route(map, "99"));
  ASSERT_STR_EQ("low", route(map, "100"));
  ASSERT_STR_EQ("low", route(map, "199"));
  ASSERT_NULL(route(map, "200"));
  ASSERT_NULL(route(map, "299"));
  ASSERT_STR_EQ("high", route(map, "300"));
  ASSERT_STR_EQ("high", route(map, "399"));
  ASSERT_NULL(route(map, "400"));
  ASSERT_NULL(route(map, MAX_KEY));
  kn_shardmap_free(map);

  /* A single-key shard is a valid range. */
  s[0] = OPEN("one", "5", "5");
  ASSERT_OK(kn_shardmap_new(s, 1, &map));
  ASSERT_NULL(route(map, "4"));
  ASSERT_STR_EQ("one", route(map, "5"));
  ASSERT_NULL(route(map, "6"));
  kn_shardmap_free(map);
}


static void test_empty(void) {
  kinesis_shard_t s[1];
  kn_shardmap_t* map;
  kn_hash_key_t k;

  /* Every shard closed (a stream being deleted), or no shards at all. */
  s[0] = shard("gone", "0", MAX_KEY, "1");
  ASSERT_OK(kn_shardmap_new(s, 1, &map));
  ASSERT_EQ(0, kn_shardmap_count(map));
  key_of("0", &k);
  ASSERT_EQ(-1, kn_shardmap_lookup(map, &k));
  ASSERT_EQ(-1, kn_shardmap_find(map, "gone"));
  ASSERT_NULL(kn_shardmap_shard_id(map, 0));
  kn_shardmap_free(map);
  ASSERT_OK(kn_shardmap_new(NULL, 0, &map));
  ASSERT_EQ(0, kn_shardmap_count(map));
  kn_shardmap_free(map);
}


static void test_malformed(void) {
  kn_shardmap_t* sentinel = (kn_shardmap_t*) &sentinel;
  kn_shardmap_t* map = sentinel;
  kinesis_shard_t s[3];

  /* Overlapping open shards, in either order, and identical ranges. */
  s[0] = OPEN("a", "0", "200");
  s[1] = OPEN("b", "200", MAX_KEY);
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 2, &map));
  s[0] = OPEN("b", "100", MAX_KEY);
  s[1] = OPEN("a", "0", "150");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 2, &map));
  s[0] = OPEN("a", "0", MAX_KEY);
  s[1] = OPEN("b", "0", MAX_KEY);
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 2, &map));
  /* One shard nested inside another. */
  s[0] = OPEN("a", "0", "1000");
  s[1] = OPEN("b", "10", "20");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 2, &map));
  /* An overlap further down the sorted order. */
  s[0] = OPEN("a", "0", "99");
  s[1] = OPEN("b", "100", "199");
  s[2] = OPEN("c", "199", "299");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 3, &map));
  /* A start after its end. */
  s[0] = OPEN("a", "10", "9");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  s[0] = OPEN("a", MAX_KEY, "0");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  /* Keys that are not hash keys, or missing members. */
  s[0] = OPEN("a", "0", "340282366920938463463374607431768211456");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  s[0] = OPEN("a", "-1", "5");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  s[0] = OPEN("a", NULL, "5");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  s[0] = OPEN("a", "0", NULL);
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  s[0] = OPEN(NULL, "0", "5");
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 1, &map));
  /* Bad arguments. */
  ASSERT_EQ(KINESIS_EINVAL, kn_shardmap_new(NULL, 1, &map));
  ASSERT_EQ(KINESIS_EINVAL, kn_shardmap_new(s, 1, NULL));
  /* On failure the out-parameter is untouched. */
  ASSERT(map == sentinel);
}


/* ---- Allocation failures ---- */




static void test_failmalloc(void) {
  kinesis_shard_t s[4];
  kn_shardmap_t* map;
  int64_t i;
  int r;

  s[0] = OPEN("shard-2", four_ranges[2][0], four_ranges[2][1]);
  s[1] = OPEN("shard-0", four_ranges[0][0], four_ranges[0][1]);
  s[2] = OPEN("shard-3", four_ranges[3][0], four_ranges[3][1]);
  s[3] = OPEN("shard-1", four_ranges[1][0], four_ranges[1][1]);
  kn_test_alloc_install();
  /* Fail the first allocation, then the second, ... until a run succeeds.
   * Each failing run reports ENOMEM and leaks nothing. */
  for (i = 0;; i++) {
    kn_test_alloc_fail_at = i;
    kn_test_alloc_count = 0;
    kn_test_alloc_live = 0;
    map = NULL;
    r = kn_shardmap_new(s, 4, &map);
    if (r == 0) {
      check_four(map);
      kn_shardmap_free(map);
    } else {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_NULL(map);
    }
    ASSERT_EQ(0, kn_test_alloc_live);
    if (r == 0)
      break;
  }
  ASSERT_GE(i, 1);
  /* A malformed listing fails without leaking either. */
  kn_test_alloc_fail_at = -1;
  kn_test_alloc_count = 0;
  s[3] = OPEN("shard-1", "0", MAX_KEY);
  ASSERT_EQ(KINESIS_EPROTO, kn_shardmap_new(s, 4, &map));
  ASSERT_EQ(0, kn_test_alloc_live);
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
}


KN_TEST_MAIN(KN_TEST(test_md5_examples), KN_TEST(test_kpl_vectors),
             KN_TEST(test_parse_format_round_trip), KN_TEST(test_parse_bytes),
             KN_TEST(test_parse_rejects), KN_TEST(test_round_trip_random),
             KN_TEST(test_cmp), KN_TEST(test_two_shards),
             KN_TEST(test_four_shards), KN_TEST(test_out_of_order),
             KN_TEST(test_resharded), KN_TEST(test_kinesis_mock_ranges),
             KN_TEST(test_gap), KN_TEST(test_empty), KN_TEST(test_malformed),
             KN_TEST(test_failmalloc))
