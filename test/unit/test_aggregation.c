#include "harness.h"

#include "aggregation.h"
#include "buf.h"
#include "crypto.h"
#include "internal.h"
#include "shardmap.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>


/* The KPL vectors (test/data/kpl/vectors.json, generated with aws-kinesis-agg;
 * see test/data/SOURCES.md). expectedUserRecords is the truth for decoding:
 * aws-kinesis-agg's own de-aggregator mislabels some records. */
static json_t* load_vectors(void) {
  char path[1024];
  json_error_t err;
  json_t* root;
  size_t len;
  char* text;
  int n;

  n = snprintf(path, sizeof(path), "%s/kpl/vectors.json", kn_test_data_dir());
  ASSERT(n > 0 && (size_t) n < sizeof(path));
  text = kn_test_read_file(path, &len);
  if (text == NULL)
    fprintf(stderr, "cannot read %s\n", path);
  ASSERT_NOT_NULL(text);
  root = json_loadb(text, len, 0, &err);
  if (root == NULL)
    fprintf(stderr, "%s:%d: %s\n", path, err.line, err.text);
  ASSERT_NOT_NULL(root);
  free(text);
  return root;
}


static json_t* vectors_array(json_t* root, const char* name) {
  json_t* a = json_object_get(root, name);
  ASSERT(json_is_array(a));
  return a;
}


/* A string member; NULL when absent and `required` is 0. */
static const char* member_str(const json_t* o, const char* key, size_t* len,
                              int required) {
  json_t* v = json_object_get(o, key);
  if (v == NULL && !required)
    return NULL;
  if (!json_is_string(v))
    fprintf(stderr, "member \"%s\" is missing or not a string\n", key);
  ASSERT(json_is_string(v));
  if (len != NULL)
    *len = json_string_length(v);
  return json_string_value(v);
}


/* Decodes base64 into a malloc'd buffer (never NULL, even when empty). */
static uint8_t* b64(const char* s, size_t* out_len) {
  size_t slen = strlen(s);
  size_t cap = kn_base64_decoded_max(slen);
  uint8_t* out = malloc(cap + 1);
  ASSERT_NOT_NULL(out);
  *out_len = cap;
  ASSERT_OK(kn_base64_decode(s, slen, out, out_len));
  return out;
}


/* Decodes hex, ignoring spaces, into `out`; returns the length. */
static size_t unhex(const char* hex, uint8_t* out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (; *hex != '\0'; hex++) {
    int v;
    if (*hex == ' ')
      continue;
    ASSERT(isxdigit((unsigned char) *hex));
    v = isdigit((unsigned char) *hex)
            ? *hex - '0'
            : tolower((unsigned char) *hex) - 'a' + 10;
    if (hi < 0) {
      hi = v;
    } else {
      ASSERT_LT(n, cap);
      out[n++] = (uint8_t) (hi << 4 | v);
      hi = -1;
    }
  }
  ASSERT_EQ(hi, -1);
  return n;
}


/* magic | pb | MD5(pb): an aggregate whose digest is right, so that what
 * follows is up to the protobuf parser. */
static void seal(const uint8_t* pb, size_t len, kn_buf_t* out) {
  static const uint8_t magic[KN_AGG_MAGIC_LEN] = {0xf3, 0x89, 0x9a, 0xc2};
  uint8_t digest[KN_MD5_LEN];
  kn_buf_reset(out);
  ASSERT_OK(kn_md5(pb, len, digest));
  ASSERT_OK(kn_buf_append(out, magic, sizeof(magic)));
  ASSERT_OK(kn_buf_append(out, pb, len));
  ASSERT_OK(kn_buf_append(out, digest, sizeof(digest)));
}


static int input_has_tags(const json_t* input) {
  size_t i;
  json_t* rec;
  json_array_foreach(input, i, rec) {
    if (json_object_get(rec, "tags") != NULL)
      return 1;
  }
  return 0;
}


/* Adds every input record of a vector, checking the size prediction before
 * each add against the size after it. */
static void add_inputs(kn_agg_t* agg, const json_t* input) {
  size_t i;
  json_t* rec;
  json_array_foreach(input, i, rec) {
    size_t pk_len;
    size_t ehk_len = 0;
    size_t data_len;
    const char* pk = member_str(rec, "partitionKey", &pk_len, 1);
    const char* ehk = member_str(rec, "explicitHashKey", &ehk_len, 0);
    uint8_t* data = b64(member_str(rec, "dataBase64", NULL, 1), &data_len);
    size_t predicted =
        kn_agg_size_with(agg, pk, pk_len, ehk, ehk_len, data_len);
    /* Asking does not change anything. */
    ASSERT_EQ(predicted,
              kn_agg_size_with(agg, pk, pk_len, ehk, ehk_len, data_len));
    ASSERT_EQ(i, kn_agg_count(agg));
    ASSERT_OK(kn_agg_add(agg, pk, pk_len, ehk, ehk_len, data, data_len));
    ASSERT_EQ(predicted, kn_agg_size(agg));
    ASSERT_EQ(i + 1, kn_agg_count(agg));
    free(data);
  }
}


static void test_vectors_aggregate(void) {
  json_t* root = load_vectors();
  json_t* vectors = vectors_array(root, "vectors");
  kn_buf_t out = KN_BUF_INIT;
  kn_buf_t again = KN_BUF_INIT;
  size_t reproduced = 0;
  size_t decode_only = 0;
  size_t i;
  json_t* v;
  kn_agg_t* agg;

  ASSERT_OK(kn_agg_new(&agg));
  json_array_foreach(vectors, i, v) {
    const char* name = member_str(v, "name", NULL, 1);
    json_t* input = json_object_get(v, "input");
    json_t* aggregated = json_object_get(v, "aggregated");
    uint8_t* expected;
    size_t expected_len;

    ASSERT(json_is_array(input));
    ASSERT(json_is_object(aggregated));
    /* The KPL never writes Record.tags and kn_agg_t has no way to: such a
     * vector (tags-present, built with protobufjs) is checked by
     * test_vectors_deaggregate only. */
    if (input_has_tags(input)) {
      printf(
          "  %s: has tags, which the KPL never writes: "
          "de-aggregation only\n",
          name);
      decode_only++;
      continue;
    }

    expected = b64(member_str(aggregated, "base64", NULL, 1), &expected_len);
    ASSERT_EQ(expected_len,
              json_integer_value(json_object_get(aggregated, "length")));
    kn_agg_reset(agg);
    add_inputs(agg, input);
    ASSERT_EQ(json_array_size(input), kn_agg_count(agg));
    kn_buf_reset(&out);
    ASSERT_OK(kn_agg_finish(agg, &out));
    ASSERT_EQ(expected_len, out.len);
    ASSERT_EQ(kn_agg_size(agg), out.len);
    ASSERT_MEM_EQ(expected, out.data, expected_len);

    /* Finishing leaves the aggregate as it was: a second finish appends the
     * same bytes again. */
    ASSERT_OK(kn_agg_finish(agg, &out));
    ASSERT_EQ(2 * expected_len, out.len);
    ASSERT_MEM_EQ(expected, out.data + expected_len, expected_len);

    /* A reset aggregate builds the same record again. */
    kn_agg_reset(agg);
    ASSERT_EQ(0, kn_agg_count(agg));
    ASSERT_EQ(KN_AGG_OVERHEAD, kn_agg_size(agg));
    add_inputs(agg, input);
    kn_buf_reset(&again);
    ASSERT_OK(kn_agg_finish(agg, &again));
    ASSERT_EQ(expected_len, again.len);
    ASSERT_MEM_EQ(expected, again.data, expected_len);

    printf("  %s: %zu records, %zu bytes, identical\n", name,
           json_array_size(input), expected_len);
    free(expected);
    reproduced++;
  }

  printf(
      "  reproduced %zu of %zu vectors byte for byte (%zu with tags: "
      "de-aggregation only)\n",
      reproduced, json_array_size(vectors), decode_only);
  ASSERT_EQ(json_array_size(vectors), reproduced + decode_only);
  ASSERT_GE(reproduced, 8);
  kn_agg_free(agg);
  kn_buf_free(&out);
  kn_buf_free(&again);
  json_decref(root);
}


static int within(const void* p, size_t len, const uint8_t* blob,
                  size_t blob_len) {
  uintptr_t a = (uintptr_t) p;
  uintptr_t b = (uintptr_t) blob;
  return a >= b && a - b <= blob_len && len <= blob_len - (a - b);
}


/* Checks decoded records against expectedUserRecords[0..n). */
static void check_user_records(const kn_deagg_record_t* recs, size_t n,
                               const json_t* expected, const uint8_t* blob,
                               size_t blob_len) {
  size_t i;
  ASSERT_LE(n, json_array_size(expected));
  for (i = 0; i < n; i++) {
    const json_t* e = json_array_get(expected, i);
    const kn_deagg_record_t* r = &recs[i];
    size_t pk_len;
    size_t ehk_len = 0;
    size_t data_len;
    const char* pk = member_str(e, "partitionKey", &pk_len, 1);
    const char* ehk = member_str(e, "explicitHashKey", &ehk_len, 0);
    uint8_t* data = b64(member_str(e, "dataBase64", NULL, 1), &data_len);

    /* subSequenceNumber is the record's position in the aggregate. */
    ASSERT_EQ(i, json_integer_value(json_object_get(e, "subSequenceNumber")));
    ASSERT_EQ(pk_len, r->partition_key_len);
    ASSERT_MEM_EQ(pk, r->partition_key, pk_len);
    ASSERT(within(r->partition_key, pk_len, blob, blob_len));
    if (ehk == NULL) {
      ASSERT_NULL(r->explicit_hash_key);
      ASSERT_EQ(0, r->explicit_hash_key_len);
    } else {
      ASSERT_NOT_NULL(r->explicit_hash_key);
      ASSERT_EQ(ehk_len, r->explicit_hash_key_len);
      ASSERT_MEM_EQ(ehk, r->explicit_hash_key, ehk_len);
      ASSERT(within(r->explicit_hash_key, ehk_len, blob, blob_len));
    }
    ASSERT_EQ(data_len, r->len);
    ASSERT_MEM_EQ(data, r->data, data_len);
    ASSERT(within(r->data, data_len, blob, blob_len));
    free(data);
  }
}


static void test_vectors_deaggregate(void) {
  json_t* root = load_vectors();
  json_t* vectors = vectors_array(root, "vectors");
  size_t decoded = 0;
  size_t i;
  json_t* v;

  json_array_foreach(vectors, i, v) {
    const char* name = member_str(v, "name", NULL, 1);
    json_t* expected = json_object_get(v, "expectedUserRecords");
    kn_deagg_record_t* recs;
    uint8_t* blob;
    size_t blob_len;
    size_t n;

    ASSERT(json_is_array(expected));
    blob = b64(member_str(json_object_get(v, "aggregated"), "base64", NULL, 1),
               &blob_len);
    ASSERT_EQ(1, kn_deagg(blob, blob_len, &recs, &n));
    ASSERT_NOT_NULL(recs);
    ASSERT_EQ(json_array_size(expected), n);
    check_user_records(recs, n, expected, blob, blob_len);
    printf("  %s: %zu user records\n", name, n);
    kn_free(recs);
    free(blob);
    decoded++;
  }

  printf("  decoded %zu of %zu vectors\n", decoded, json_array_size(vectors));
  ASSERT_EQ(json_array_size(vectors), decoded);
  ASSERT_GE(decoded, 8);
  json_decref(root);
}


static void expect_plain(const uint8_t* blob, size_t len) {
  static kn_deagg_record_t sentinel;
  kn_deagg_record_t* recs = &sentinel;
  size_t n = 12345;
  ASSERT_EQ(0, kn_deagg(blob, len, &recs, &n));
  ASSERT_NULL(recs);
  ASSERT_EQ(0, n);
}


static void test_edge_cases_plain(void) {
  json_t* root = load_vectors();
  json_t* cases = vectors_array(root, "edgeCases");
  size_t checked = 0;
  size_t i;
  json_t* c;

  json_array_foreach(cases, i, c) {
    size_t len;
    uint8_t* blob = b64(member_str(c, "base64", NULL, 1), &len);
    expect_plain(blob, len);
    printf("  %s: plain\n", member_str(c, "name", NULL, 1));
    free(blob);
    checked++;
  }
  printf("  %zu of %zu edge cases plain\n", checked, json_array_size(cases));
  ASSERT_EQ(json_array_size(cases), checked);
  ASSERT_GE(checked, 1);
  /* Nothing at all is plain too. */
  expect_plain(NULL, 0);
  /* The magic and the right digest of an empty protobuf: still plain, since
   * the KCL wants more than the digest after the magic. */
  {
    static const uint8_t magic[KN_AGG_MAGIC_LEN] = {0xf3, 0x89, 0x9a, 0xc2};
    uint8_t blob[KN_AGG_OVERHEAD];
    memcpy(blob, magic, sizeof(magic));
    ASSERT_OK(kn_md5(NULL, 0, blob + KN_AGG_MAGIC_LEN));
    expect_plain(blob, sizeof(blob));
  }
  json_decref(root);
}


/* Every strict prefix of every vector's aggregate: the digest can no longer
 * match, or there is too little left. */
static void test_truncations(void) {
  json_t* root = load_vectors();
  json_t* vectors = vectors_array(root, "vectors");
  size_t total = 0;
  size_t i;
  json_t* v;

  json_array_foreach(vectors, i, v) {
    size_t len;
    size_t cut;
    uint8_t* blob = b64(
        member_str(json_object_get(v, "aggregated"), "base64", NULL, 1), &len);
    for (cut = 0; cut < len; cut++) {
      /* A copy of exactly `cut` bytes, so that a read past the end is
       * caught by the address sanitizer. */
      uint8_t* copy = malloc(cut + 1);
      ASSERT_NOT_NULL(copy);
      memcpy(copy, blob, cut);
      expect_plain(copy, cut);
      free(copy);
      total++;
    }
    free(blob);
  }
  printf("  %zu truncated aggregates, all plain\n", total);
  json_decref(root);
}


/*
 * Every prefix of every vector's protobuf, sealed again with its own MD5, so
 * that the parser sees it. A cut at a top-level field boundary is a valid
 * (shorter) AggregatedRecord and must decode to a prefix of the expected
 * records; a cut anywhere else must be plain; nothing may crash.
 */
static void test_truncations_resealed(void) {
  json_t* root = load_vectors();
  json_t* vectors = vectors_array(root, "vectors");
  kn_buf_t sealed = KN_BUF_INIT;
  size_t valid = 0;
  size_t plain = 0;
  size_t i;
  json_t* v;

  json_array_foreach(vectors, i, v) {
    json_t* expected = json_object_get(v, "expectedUserRecords");
    json_t* structure =
        json_object_get(json_object_get(v, "aggregated"), "structure");
    size_t fields;
    size_t valid_here = 0;
    size_t len;
    size_t cut;
    uint8_t* blob = b64(
        member_str(json_object_get(v, "aggregated"), "base64", NULL, 1), &len);
    const uint8_t* pb = blob + KN_AGG_MAGIC_LEN;
    size_t pb_len = len - KN_AGG_OVERHEAD;

    fields =
        json_array_size(json_object_get(structure, "partitionKeyTable")) +
        json_array_size(json_object_get(structure, "explicitHashKeyTable")) +
        json_array_size(json_object_get(structure, "records"));
    ASSERT_GT(fields, 0);
    for (cut = 1; cut < pb_len; cut++) {
      kn_deagg_record_t* recs;
      size_t n;
      int r;
      seal(pb, cut, &sealed);
      r = kn_deagg(sealed.data, sealed.len, &recs, &n);
      if (r == 1) {
        check_user_records(recs, n, expected, sealed.data, sealed.len);
        kn_free(recs);
        valid_here++;
      } else {
        ASSERT_EQ(0, r);
        ASSERT_NULL(recs);
        plain++;
      }
      /* Cutting the last byte always breaks the last field. */
      if (cut == pb_len - 1)
        ASSERT_EQ(0, r);
    }
    /* At most one valid cut per boundary between top-level fields. */
    ASSERT_LT(valid_here, fields);
    valid += valid_here;
    free(blob);
  }
  printf("  %zu resealed prefixes valid (at field boundaries), %zu plain\n",
         valid, plain);
  ASSERT_GT(valid, 0);
  ASSERT_GT(plain, valid);
  kn_buf_free(&sealed);
  json_decref(root);
}


static void test_md5_over_garbage(void) {
  static const char* garbage[] = {
      "ff",                               /* a varint that never ends */
      "ffffffffffffffffffffffffffffffff", /* and a longer one */
      "0f",                               /* field 1, wire type 7 */
      "0e",                               /* field 1, wire type 6 */
      "00",                               /* field number 0 */
      "1a",                               /* a tag and nothing else */
      "1a05",                             /* a length and nothing after it */
      "deadbeef",
  };
  kn_buf_t sealed = KN_BUF_INIT;
  uint8_t pb[64];
  size_t i;
  for (i = 0; i < KN_ARRAY_SIZE(garbage); i++) {
    size_t len = unhex(garbage[i], pb, sizeof(pb));
    seal(pb, len, &sealed);
    expect_plain(sealed.data, sealed.len);
  }
  kn_buf_free(&sealed);
}


/*
 * Hand-made protobufs, each sealed with a correct MD5. The base is
 * `0a016b` (partition_key_table ["k"]) and `1a0508001a0178` (a record with
 * partition_key_index 0 and data "x"). Where protobuf-java (the KCL's
 * parser) accepts something odd, so do we: the expectation says which.
 */
typedef struct {
  const char* name;
  const char* hex;
  int result;       /* kn_deagg's return */
  size_t n;         /* records when result is 1 */
  const char* pk;   /* first record's partition key, when checked */
  const char* ehk;  /* first record's explicit hash key, when checked */
  const char* data; /* first record's data, when checked */
} pb_case_t;

static const pb_case_t pb_cases[] = {
    {"baseline", "0a016b 1a0508001a0178", 1, 1, "k", NULL, "x"},
    {"zero records", "0a016b", 1, 0, NULL, NULL, NULL},
    {"only an unknown field", "2801", 1, 0, NULL, NULL, NULL},
    {"truncated tag varint", "0a016b 1a0508001a0178 80", 0, 0, 0, 0, 0},
    {"truncated index varint", "0a016b 1a02 0880", 0, 0, 0, 0, 0},
    {"tag without length", "0a016b 1a0508001a0178 0a", 0, 0, 0, 0, 0},
    {"string past the end", "0a056b 1a0508001a0178", 0, 0, 0, 0, 0},
    {"record past the end", "0a016b 1a06 08001a0178", 0, 0, 0, 0, 0},
    /* The record's own window ends before its data field does, although
     * the outer message has bytes to spare. */
    {"data past the record", "0a016b 1a05 08001a0278 2801", 0, 0, 0, 0, 0},
    {"length 2^31-1", "0a016b 1affffffff07 08001a0178", 0, 0, 0, 0, 0},
    {"negative length", "0affffffff0f 6b 1a0508001a0178", 0, 0, 0, 0, 0},
    {"huge ten-byte length", "0affffffffffffffff7f01 6b", 0, 0, 0, 0, 0},
    {"eleven-byte varint", "0a016b 1a0f 08 8080808080808080808001 1a0178", 0, 0,
     0, 0, 0},
    /* protobuf-java reads lengths as the low 32 bits of up to ten bytes:
     * 2^63 is read as 0, an empty string. */
    {"ten-byte length read as 32 bits",
     "0a 80808080808080808001 1a0508001a0178", 1, 1, "", NULL, "x"},
    {"ten-byte index of 0", "0a016b 1a0e 08 80808080808080808000 1a0178", 1, 1,
     "k", NULL, "x"},
    {"non-minimal varints", "0a016b 1a07 088000 1a8100 78", 1, 1, "k", NULL,
     "x"},
    {"field number 0", "0a016b 00 1a0508001a0178", 0, 0, 0, 0, 0},
    {"field number 0, length wire type", "0a016b 0200 1a0508001a0178", 0, 0, 0,
     0, 0},
    {"wire type 6", "0a016b 1a0508001a0178 7e", 0, 0, 0, 0, 0},
    {"wire type 7", "0a016b 1a0508001a0178 7f00", 0, 0, 0, 0, 0},
    {"truncated fixed64", "0a016b 1a0508001a0178 3101020304050607", 0, 0, 0, 0,
     0},
    {"truncated fixed32", "0a016b 1a0508001a0178 4d010203", 0, 0, 0, 0, 0},
    {"END_GROUP at top level", "0a016b 1a0508001a0178 44", 0, 0, 0, 0, 0},
    {"END_GROUP in a record", "0a016b 1a06 08001a0178 44", 0, 0, 0, 0, 0},
    {"unterminated group", "0a016b 1a0508001a0178 43 2801", 0, 0, 0, 0, 0},
    {"mismatched END_GROUP", "0a016b 1a0508001a0178 434c", 0, 0, 0, 0, 0},
    /* A length-delimited field 1 inside a group is not a table entry. */
    {"group with fields inside", "0a016b 43 2801 0a0178 4b4c 44 1a0508001a0178",
     1, 1, "k", NULL, "x"},
    {"unknown fields at top level",
     "0a016b 2801 310102030405060708 3a02aabb 4344 4d01020304 1a0508001a0178",
     1, 1, "k", NULL, "x"},
    {"unknown fields in a record",
     "0a016b 1a1b 0800 2801 310102030405060708 3a02aabb 4344 4d01020304 1a0178",
     1, 1, "k", NULL, "x"},
    {"unknown fields in a tag",
     "0a016b 1a11 08001a0178 220a 0a0161 2801 3a01ff 4344", 1, 1, "k", NULL,
     "x"},
    {"tag without its required key", "0a016b 1a09 08001a0178 22021200", 0, 0, 0,
     0, 0},
    {"tag with key only", "0a016b 1a09 08001a0178 22020a00", 1, 1, "k", NULL,
     "x"},
    {"tag key as a varint (missing key)", "0a016b 1a09 08001a0178 22020800", 0,
     0, 0, 0, 0},
    {"tag past the record", "0a016b 1a09 08001a0178 22050a00", 0, 0, 0, 0, 0},
    {"missing partition_key_index", "0a016b 1a03 1a0178", 0, 0, 0, 0, 0},
    {"missing data", "0a016b 1a02 0800", 0, 0, 0, 0, 0},
    {"empty record", "0a016b 1a00", 0, 0, 0, 0, 0},
    /* A known field number with another wire type is an unknown field to
     * protobuf-java's generated parser: skipped, so the required field that
     * only came that way is missing... */
    {"index as length-delimited", "0a016b 1a05 0a00 1a0178", 0, 0, 0, 0, 0},
    {"data as varint", "0a016b 1a04 0800 1805", 0, 0, 0, 0, 0},
    /* ...and ignored when the right one is there too. */
    {"extra index as fixed32", "0a016b 1a0a 0800 0d01020304 1a0178", 1, 1, "k",
     NULL, "x"},
    {"table entry as varint", "0805 0a016b 1a0508001a0178", 1, 1, "k", NULL,
     "x"},
    {"records as varint", "1801 0a016b 1a0508001a0178", 1, 1, "k", NULL, "x"},
    {"records as a group", "0a016b 1b 0800 1c 1a0508001a0178", 1, 1, "k", NULL,
     "x"},
    /* A repeated scalar keeps its last value. */
    {"repeated index, last wins", "0a016b 0a016c 1a07 0801 0800 1a0178", 1, 1,
     "k", NULL, "x"},
    {"repeated data, last wins", "0a016b 1a08 0800 1a0178 1a0179", 1, 1, "k",
     NULL, "y"},
    /* The tables may follow the records on the wire. */
    {"tables after records",
     "1a07 0800 1002 1a0178 0a016b 1200 1200 1203313233", 1, 1, "k", "123",
     "x"},
    {"empty explicit hash key", "0a016b 1200 1a07 0800 1000 1a0178", 1, 1, "k",
     "", "x"},
    {"partition key index out of range", "0a016b 1a0508011a0178", 0, 0, 0, 0,
     0},
    {"explicit hash key index, empty table", "0a016b 1a07 0800 1000 1a0178", 0,
     0, 0, 0, 0},
    {"explicit hash key index out of range",
     "0a016b 120130 1a07 0800 1001 1a0178", 0, 0, 0, 0, 0},
    /* The KCL casts the index to a Java int, which would turn 2^32 into 0;
     * an index is compared whole here. */
    {"index 2^32", "0a016b 1a09 08 8080808010 1a0178", 0, 0, 0, 0, 0},
    {"index 2^64-1", "0a016b 1a0e 08 ffffffffffffffffff01 1a0178", 0, 0, 0, 0,
     0},
    {"out of range in a later record", "0a016b 1a0508001a0178 1a0508051a0178",
     0, 0, 0, 0, 0},
};


static void check_cursor(const char* want, const char* got, size_t got_len) {
  if (want == NULL)
    return;
  ASSERT_NOT_NULL(got);
  ASSERT_EQ(strlen(want), got_len);
  ASSERT_MEM_EQ(want, got, got_len);
}


static void test_hostile_protobuf(void) {
  kn_buf_t sealed = KN_BUF_INIT;
  uint8_t pb[256];
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(pb_cases); i++) {
    const pb_case_t* c = &pb_cases[i];
    kn_deagg_record_t* recs;
    size_t len = unhex(c->hex, pb, sizeof(pb));
    size_t n;
    int r;

    seal(pb, len, &sealed);
    r = kn_deagg(sealed.data, sealed.len, &recs, &n);
    if (r != c->result)
      fprintf(stderr, "case \"%s\": %d, expected %d\n", c->name, r, c->result);
    ASSERT_EQ(c->result, r);
    if (r == 0) {
      ASSERT_NULL(recs);
      ASSERT_EQ(0, n);
      continue;
    }
    ASSERT_EQ(c->n, n);
    if (n == 0) {
      ASSERT_NULL(recs);
      continue;
    }
    check_cursor(c->pk, recs[0].partition_key, recs[0].partition_key_len);
    check_cursor(c->data, (const char*) recs[0].data, recs[0].len);
    if (c->pk != NULL && c->ehk == NULL)
      ASSERT_NULL(recs[0].explicit_hash_key);
    check_cursor(c->ehk, recs[0].explicit_hash_key,
                 recs[0].explicit_hash_key_len);
    kn_free(recs);
  }
  printf("  %zu hand-made protobufs\n", KN_ARRAY_SIZE(pb_cases));
  kn_buf_free(&sealed);
}


/* `depth` nested groups (field 8), inside a record when `in_record`, with a
 * valid table and record around them. */
static int deagg_nested_groups(size_t depth, int in_record) {
  kn_buf_t pb = KN_BUF_INIT;
  kn_buf_t sealed = KN_BUF_INIT;
  kn_buf_t body = KN_BUF_INIT;
  kn_deagg_record_t* recs;
  uint8_t len[10];
  size_t nlen = 0;
  size_t blen;
  size_t n;
  size_t i;
  int r;

  for (i = 0; i < depth; i++)
    ASSERT_OK(kn_buf_append_byte(&body, 0x43));
  for (i = 0; i < depth; i++)
    ASSERT_OK(kn_buf_append_byte(&body, 0x44));
  ASSERT_OK(kn_buf_append(&pb, "\x0a\x01k", 3));
  if (in_record) {
    ASSERT_OK(kn_buf_append(&body, "\x08\x00\x1a\x01x", 5));
    blen = body.len;
    do {
      len[nlen++] = (uint8_t) ((blen & 0x7f) | (blen >= 0x80 ? 0x80 : 0));
      blen >>= 7;
    } while (blen > 0);
    ASSERT_OK(kn_buf_append_byte(&pb, 0x1a));
    ASSERT_OK(kn_buf_append(&pb, len, nlen));
    ASSERT_OK(kn_buf_append(&pb, body.data, body.len));
  } else {
    ASSERT_OK(kn_buf_append(&pb, body.data, body.len));
    ASSERT_OK(kn_buf_append(&pb, "\x1a\x05\x08\x00\x1a\x01x", 7));
  }
  seal(pb.data, pb.len, &sealed);
  r = kn_deagg(sealed.data, sealed.len, &recs, &n);
  if (r == 1) {
    ASSERT_EQ(1, n);
    kn_free(recs);
  }
  kn_buf_free(&pb);
  kn_buf_free(&sealed);
  kn_buf_free(&body);
  return r;
}


/* Groups nest without limit on the wire; the parser stops where
 * protobuf-java's recursion limit (100) does, without using the stack for
 * more than that. A record is one level down already. */
static void test_group_depth(void) {
  ASSERT_EQ(1, deagg_nested_groups(1, 0));
  ASSERT_EQ(1, deagg_nested_groups(100, 0));
  ASSERT_EQ(0, deagg_nested_groups(101, 0));
  ASSERT_EQ(1, deagg_nested_groups(99, 1));
  ASSERT_EQ(0, deagg_nested_groups(100, 1));
  ASSERT_EQ(0, deagg_nested_groups(1000000, 0));
  ASSERT_EQ(0, deagg_nested_groups(1000000, 1));
}


/* Many tiny records: one allocation, sized by a first counting pass. */
static void test_many_records(void) {
  static const uint8_t rec[] = {0x1a, 0x04, 0x08, 0x00, 0x1a, 0x00};
  const size_t count = 100000;
  kn_buf_t pb = KN_BUF_INIT;
  kn_buf_t sealed = KN_BUF_INIT;
  kn_deagg_record_t* recs;
  size_t n;
  size_t i;

  ASSERT_OK(kn_buf_append(&pb, "\x0a\x00", 2));
  for (i = 0; i < count; i++)
    ASSERT_OK(kn_buf_append(&pb, rec, sizeof(rec)));
  seal(pb.data, pb.len, &sealed);
  ASSERT_EQ(1, kn_deagg(sealed.data, sealed.len, &recs, &n));
  ASSERT_EQ(count, n);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(0, recs[i].len);
    ASSERT_EQ(0, recs[i].partition_key_len);
    ASSERT_NULL(recs[i].explicit_hash_key);
  }
  kn_free(recs);
  kn_buf_free(&pb);
  kn_buf_free(&sealed);
}


/*
 * An allocator that counts, and fails the allocation numbered `fail_at`
 * (from 0) once, in the manner of nghttp2's failmalloc tests.
 */
static long alloc_count;
static long alloc_fail_at = -1;


static int alloc_fails(void) {
  long i = alloc_count++;
  return i == alloc_fail_at;
}


static void* t_malloc(size_t size) {
  return alloc_fails() ? NULL : malloc(size);
}


static void* t_realloc(void* ptr, size_t size) {
  return alloc_fails() ? NULL : realloc(ptr, size);
}


static void* t_calloc(size_t count, size_t size) {
  return alloc_fails() ? NULL : calloc(count, size);
}


static void use_test_allocator(long fail_at) {
  alloc_count = 0;
  alloc_fail_at = fail_at;
  ASSERT_OK(kinesis_replace_allocator(t_malloc, t_realloc, t_calloc, free));
}


static void use_default_allocator(void) {
  ASSERT_OK(kinesis_replace_allocator(malloc, realloc, calloc, free));
  alloc_fail_at = -1;
}


/* A deterministic generator (a 64-bit LCG) for the randomised tests. */
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;


static uint32_t rng(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t) (rng_state >> 33);
}


typedef struct {
  char pk[300];
  size_t pk_len;
  char ehk[48];
  size_t ehk_len;
  int has_ehk;
  size_t data_off;
  size_t data_len;
} gen_rec_t;


/* Records over key pools small enough to repeat (so the tables dedupe)
 * and large enough to push indexes past one varint byte, with binary keys
 * and data lengths at varint boundaries. */
static void gen_records(gen_rec_t* recs, size_t n) {
  static const size_t lens[] = {0, 1, 127, 128, 129, 16383, 16384, 16385};
  size_t i;
  for (i = 0; i < n; i++) {
    gen_rec_t* r = &recs[i];
    uint32_t k = rng() % 400;
    size_t j;
    /* Key k is the same bytes every time it is drawn; some have NULs and
     * bytes above 0x7f, and the lengths reach 256. */
    r->pk_len = k % 7 == 0 ? 256 - k % 5 : 1 + k % 40;
    for (j = 0; j < r->pk_len; j++)
      r->pk[j] =
          (char) (k % 3 == 0 ? (k * 31 + j * 7) % 256 : 'a' + (k + j) % 26);
    r->has_ehk = rng() % 2 == 0;
    r->ehk_len = 0;
    if (r->has_ehk)
      r->ehk_len = (size_t) snprintf(r->ehk, sizeof(r->ehk), "%u",
                                     (unsigned) (rng() % 200) * 1000003u);
    r->data_len =
        rng() % 4 == 0 ? lens[rng() % KN_ARRAY_SIZE(lens)] : rng() % 300;
    r->data_off = rng() % 1000;
  }
}


static void test_random_roundtrip(void) {
  const size_t count = 3000;
  gen_rec_t* recs = calloc(count, sizeof(*recs));
  uint8_t* pattern = malloc(20000);
  kn_buf_t out = KN_BUF_INIT;
  kn_deagg_record_t* dec;
  kn_agg_t* agg;
  size_t n;
  size_t i;

  ASSERT_NOT_NULL(recs);
  ASSERT_NOT_NULL(pattern);
  for (i = 0; i < 20000; i++)
    pattern[i] = (uint8_t) (i * 131 + (i >> 8));
  gen_records(recs, count);

  ASSERT_OK(kn_agg_new(&agg));
  for (i = 0; i < count; i++) {
    gen_rec_t* r = &recs[i];
    const char* ehk = r->has_ehk ? r->ehk : NULL;
    size_t predicted =
        kn_agg_size_with(agg, r->pk, r->pk_len, ehk, r->ehk_len, r->data_len);
    ASSERT_OK(kn_agg_add(agg, r->pk, r->pk_len, ehk, r->ehk_len,
                         pattern + r->data_off, r->data_len));
    ASSERT_EQ(predicted, kn_agg_size(agg));
  }
  ASSERT_OK(kn_agg_finish(agg, &out));
  ASSERT_EQ(kn_agg_size(agg), out.len);

  ASSERT_EQ(1, kn_deagg(out.data, out.len, &dec, &n));
  ASSERT_EQ(count, n);
  for (i = 0; i < n; i++) {
    gen_rec_t* r = &recs[i];
    ASSERT_EQ(r->pk_len, dec[i].partition_key_len);
    ASSERT_MEM_EQ(r->pk, dec[i].partition_key, r->pk_len);
    if (r->has_ehk) {
      ASSERT_EQ(r->ehk_len, dec[i].explicit_hash_key_len);
      ASSERT_MEM_EQ(r->ehk, dec[i].explicit_hash_key, r->ehk_len);
    } else {
      ASSERT_NULL(dec[i].explicit_hash_key);
    }
    ASSERT_EQ(r->data_len, dec[i].len);
    ASSERT_MEM_EQ(pattern + r->data_off, dec[i].data, r->data_len);
  }
  printf("  %zu records, %zu bytes\n", count, out.len);
  kn_free(dec);
  kn_agg_free(agg);
  kn_buf_free(&out);
  free(pattern);
  free(recs);
}


static void test_encoder_basics(void) {
  kn_buf_t out = KN_BUF_INIT;
  kn_deagg_record_t* dec;
  kn_agg_t* agg;
  size_t n;

  ASSERT_OK(kn_agg_new(&agg));
  ASSERT_EQ(0, kn_agg_count(agg));
  ASSERT_EQ(KN_AGG_OVERHEAD, kn_agg_size(agg));
  ASSERT_OK(kn_buf_append(&out, "prefix", 6));
  ASSERT_EQ(KINESIS_EINVAL, kn_agg_finish(agg, &out));
  ASSERT_EQ(6, out.len);

  /* Absurd lengths are refused, and predicted as never fitting. */
  ASSERT_EQ(SIZE_MAX, kn_agg_size_with(agg, "k", 1, NULL, 0, SIZE_MAX));
  ASSERT_EQ(SIZE_MAX, kn_agg_size_with(agg, "k", SIZE_MAX - 3, NULL, 0, 1));
  ASSERT_EQ(KINESIS_ENOMEM,
            kn_agg_add(agg, "k", 1, NULL, 0, (const uint8_t*) "", SIZE_MAX));
  ASSERT_EQ(0, kn_agg_count(agg));

  /* The same string as a partition key and as an explicit hash key goes in
   * both tables; an empty key is a key; keys are bytes, NULs included. */
  ASSERT_OK(kn_agg_add(agg, "0", 1, "0", 1, (const uint8_t*) "a", 1));
  ASSERT_OK(kn_agg_add(agg, "", 0, NULL, 0, NULL, 0));
  ASSERT_OK(kn_agg_add(agg, "a\0b", 3, "", 0, (const uint8_t*) "c", 1));
  ASSERT_OK(kn_agg_add(agg, "a\0c", 3, "0", 1, (const uint8_t*) "d", 1));
  ASSERT_EQ(4, kn_agg_count(agg));
  ASSERT_OK(kn_agg_finish(agg, &out));
  ASSERT_EQ(6 + kn_agg_size(agg), out.len);
  ASSERT_MEM_EQ("prefix", out.data, 6);
  /* Tables first, each key once in first-seen order, then the records. */
  {
    /* clang-format off */
    static const uint8_t want[] = {
        0xf3, 0x89, 0x9a, 0xc2,                    /* magic */
        0x0a, 0x01, '0',                           /* pk 0: "0" */
        0x0a, 0x00,                                /* pk 1: "" */
        0x0a, 0x03, 'a', 0x00, 'b',                /* pk 2: "a\0b" */
        0x0a, 0x03, 'a', 0x00, 'c',                /* pk 3: "a\0c" */
        0x12, 0x01, '0',                           /* ehk 0: "0" */
        0x12, 0x00,                                /* ehk 1: "" */
        0x1a, 0x07, 0x08, 0x00, 0x10, 0x00, 0x1a, 0x01, 'a',
        0x1a, 0x04, 0x08, 0x01, 0x1a, 0x00,        /* no ehk, no data */
        0x1a, 0x07, 0x08, 0x02, 0x10, 0x01, 0x1a, 0x01, 'c',
        0x1a, 0x07, 0x08, 0x03, 0x10, 0x00, 0x1a, 0x01, 'd'};
    /* clang-format on */
    ASSERT_EQ(sizeof(want) + KN_AGG_DIGEST_LEN, kn_agg_size(agg));
    ASSERT_MEM_EQ(want, out.data + 6, sizeof(want));
  }

  ASSERT_EQ(1, kn_deagg(out.data + 6, out.len - 6, &dec, &n));
  ASSERT_EQ(4, n);
  ASSERT_EQ(0, dec[1].partition_key_len);
  ASSERT_NULL(dec[1].explicit_hash_key);
  ASSERT_EQ(0, dec[1].len);
  ASSERT_NOT_NULL(dec[2].explicit_hash_key);
  ASSERT_EQ(0, dec[2].explicit_hash_key_len);
  ASSERT_MEM_EQ("a\0c", dec[3].partition_key, 3);
  kn_free(dec);

  kn_agg_free(agg);
  kn_agg_free(NULL);
  kn_buf_free(&out);
}


/* Builds the named vector's aggregate with `agg`. */
static const json_t* find_vector(json_t* root, const char* name) {
  json_t* vectors = vectors_array(root, "vectors");
  size_t i;
  json_t* v;
  json_array_foreach(vectors, i, v) {
    if (strcmp(member_str(v, "name", NULL, 1), name) == 0)
      return v;
  }
  fprintf(stderr, "no vector named %s\n", name);
  ASSERT(0);
  return NULL;
}


/* After a reset the aggregate reuses its memory: building the same (largest)
 * aggregate again allocates nothing. */
static void test_reset_keeps_memory(void) {
  json_t* root = load_vectors();
  const json_t* v = find_vector(root, "varint-boundaries");
  const json_t* input = json_object_get(v, "input");
  kn_buf_t first = KN_BUF_INIT;
  kn_agg_t* agg;
  long allocs;

  use_test_allocator(-1);
  ASSERT_OK(kn_agg_new(&agg));
  /* add_inputs() decodes base64 with malloc(), which is not counted. */
  add_inputs(agg, input);
  ASSERT_OK(kn_agg_finish(agg, &first));
  allocs = alloc_count;
  printf("  %zu records: %ld allocations including the output\n",
         kn_agg_count(agg), allocs);
  ASSERT_LT(allocs, 64);

  kn_agg_reset(agg);
  kn_buf_reset(&first);
  alloc_count = 0;
  add_inputs(agg, input);
  ASSERT_OK(kn_agg_finish(agg, &first));
  ASSERT_EQ(0, alloc_count);
  use_default_allocator();

  kn_agg_free(agg);
  kn_buf_free(&first);
  json_decref(root);
}


/* Fails each allocation in turn while building a vector's aggregate: every
 * failed add or finish reports KINESIS_ENOMEM and changes nothing, and
 * retrying produces the exact bytes. */
static void test_alloc_failures_encoder(void) {
  json_t* root = load_vectors();
  const json_t* v = find_vector(root, "explicit-hash-keys-mixed");
  const json_t* input = json_object_get(v, "input");
  uint8_t* expected;
  size_t expected_len;
  long fail_at;
  long failures = 0;

  expected =
      b64(member_str(json_object_get(v, "aggregated"), "base64", NULL, 1),
          &expected_len);
  for (fail_at = 0;; fail_at++) {
    kn_buf_t out = KN_BUF_INIT;
    kn_agg_t* agg = NULL;
    int failed = 0;
    size_t i;
    json_t* rec;
    int r;

    use_test_allocator(fail_at);
    r = kn_agg_new(&agg);
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      failed = 1;
      ASSERT_OK(kn_agg_new(&agg));
    }
    json_array_foreach(input, i, rec) {
      size_t pk_len;
      size_t ehk_len = 0;
      size_t data_len;
      const char* pk = member_str(rec, "partitionKey", &pk_len, 1);
      const char* ehk = member_str(rec, "explicitHashKey", &ehk_len, 0);
      uint8_t* data = b64(member_str(rec, "dataBase64", NULL, 1), &data_len);
      size_t size = kn_agg_size(agg);
      size_t predicted =
          kn_agg_size_with(agg, pk, pk_len, ehk, ehk_len, data_len);
      r = kn_agg_add(agg, pk, pk_len, ehk, ehk_len, data, data_len);
      if (r != 0) {
        ASSERT_EQ(KINESIS_ENOMEM, r);
        ASSERT_EQ(i, kn_agg_count(agg));
        ASSERT_EQ(size, kn_agg_size(agg));
        ASSERT_EQ(predicted,
                  kn_agg_size_with(agg, pk, pk_len, ehk, ehk_len, data_len));
        failed = 1;
        ASSERT_OK(kn_agg_add(agg, pk, pk_len, ehk, ehk_len, data, data_len));
      }
      ASSERT_EQ(predicted, kn_agg_size(agg));
      free(data);
    }
    r = kn_agg_finish(agg, &out);
    if (r != 0) {
      ASSERT_EQ(KINESIS_ENOMEM, r);
      ASSERT_EQ(0, out.len);
      failed = 1;
      ASSERT_OK(kn_agg_finish(agg, &out));
    }
    ASSERT_EQ(expected_len, out.len);
    ASSERT_MEM_EQ(expected, out.data, expected_len);
    kn_agg_free(agg);
    kn_buf_free(&out);
    use_default_allocator();
    if (!failed)
      break;
    failures++;
  }
  printf("  %ld allocations failed in turn\n", failures);
  ASSERT_GT(failures, 0);
  free(expected);
  json_decref(root);
}


static void test_alloc_failures_decoder(void) {
  json_t* root = load_vectors();
  const json_t* v = find_vector(root, "shared-partition-keys");
  kn_deagg_record_t* recs = NULL;
  uint8_t* blob;
  size_t len;
  size_t n = 7;

  blob = b64(member_str(json_object_get(v, "aggregated"), "base64", NULL, 1),
             &len);
  use_test_allocator(0);
  ASSERT_EQ(KINESIS_ENOMEM, kn_deagg(blob, len, &recs, &n));
  ASSERT_NULL(recs);
  ASSERT_EQ(0, n);
  /* The one failure is spent; the next call allocates exactly once. */
  ASSERT_EQ(1, kn_deagg(blob, len, &recs, &n));
  ASSERT_EQ(2, alloc_count);
  use_default_allocator();
  ASSERT_EQ(5, n);
  kn_free(recs);
  free(blob);
  json_decref(root);
}


/* ---- The KCL's hash-key range check ---- */

/* The hash key `k` plus `delta` (1 or -1), modulo 2^128. */
static kn_hash_key_t key_step(const kn_hash_key_t* k, int delta) {
  kn_hash_key_t r = *k;
  int i;
  for (i = KN_HASH_KEY_LEN - 1; i >= 0; i--) {
    uint8_t before = r.b[i];
    r.b[i] = (uint8_t) (before + delta);
    /* Carry or borrow only when this byte wrapped. */
    if ((delta > 0 && r.b[i] != 0) || (delta < 0 && before != 0))
      break;
  }
  return r;
}


static kn_hash_key_t key_of(const char* decimal) {
  kn_hash_key_t k;
  ASSERT_OK(kn_hash_key_parse(decimal, &k));
  return k;
}


static int in_range_dec(const kn_deagg_record_t* users, size_t n,
                        const char* start, const char* end) {
  kn_hash_key_t s = key_of(start);
  kn_hash_key_t e = key_of(end);
  return kn_deagg_in_range(users, n, &s, &e);
}


#define KEY_MAX "340282366920938463463374607431768211455"


/* Each vector's aggregate, decoded, against ranges built from the
 * effectiveHashKey of its input records: each record alone is inside the
 * one-key range of its own key and outside the ranges of the keys just
 * below and above it; the whole aggregate is inside [lowest, highest] and
 * outside that range moved in by one at either end. */
static void test_in_range_vectors(void) {
  json_t* root = load_vectors();
  json_t* vectors = vectors_array(root, "vectors");
  const kn_hash_key_t zero = key_of("0");
  const kn_hash_key_t max = key_of(KEY_MAX);
  size_t checked = 0;
  size_t i;
  json_t* v;

  json_array_foreach(vectors, i, v) {
    json_t* input = json_object_get(v, "input");
    kn_deagg_record_t* recs;
    kn_hash_key_t lo = max;
    kn_hash_key_t hi = zero;
    kn_hash_key_t a;
    kn_hash_key_t b;
    uint8_t* blob;
    size_t blob_len;
    size_t n;
    size_t j;

    blob = b64(member_str(json_object_get(v, "aggregated"), "base64", NULL, 1),
               &blob_len);
    ASSERT_EQ(1, kn_deagg(blob, blob_len, &recs, &n));
    ASSERT_EQ(json_array_size(input), n);
    ASSERT_GE(n, 1);
    for (j = 0; j < n; j++) {
      kn_hash_key_t k = key_of(
          member_str(json_array_get(input, j), "effectiveHashKey", NULL, 1));
      kn_hash_key_t below = key_step(&k, -1);
      kn_hash_key_t above = key_step(&k, 1);
      ASSERT_EQ(1, kn_deagg_in_range(&recs[j], 1, &k, &k));
      ASSERT_EQ(0, kn_deagg_in_range(&recs[j], 1, &below, &below));
      ASSERT_EQ(0, kn_deagg_in_range(&recs[j], 1, &above, &above));
      if (kn_hash_key_cmp(&k, &lo) < 0)
        lo = k;
      if (kn_hash_key_cmp(&k, &hi) > 0)
        hi = k;
    }
    ASSERT_EQ(1, kn_deagg_in_range(recs, n, &lo, &hi));
    ASSERT_EQ(1, kn_deagg_in_range(recs, n, &zero, &max));
    /* The range starts one past the lowest key: that record is outside. */
    if (kn_hash_key_cmp(&lo, &max) < 0) {
      a = key_step(&lo, 1);
      ASSERT_EQ(0, kn_deagg_in_range(recs, n, &a, &hi));
    }
    /* The range ends one before the highest key. */
    if (kn_hash_key_cmp(&hi, &zero) > 0) {
      b = key_step(&hi, -1);
      ASSERT_EQ(0, kn_deagg_in_range(recs, n, &lo, &b));
    }
    kn_free(recs);
    free(blob);
    checked++;
  }
  ASSERT_EQ(json_array_size(vectors), checked);
  json_decref(root);
}


static kn_deagg_record_t user(const char* pk, const char* ehk) {
  kn_deagg_record_t u;
  memset(&u, 0, sizeof(u));
  u.partition_key = pk;
  u.partition_key_len = strlen(pk);
  if (ehk != NULL) {
    u.explicit_hash_key = ehk;
    u.explicit_hash_key_len = strlen(ehk);
  }
  return u;
}


/* An explicit hash key decides, whatever the partition key's MD5; one
 * outside the range drops the aggregate wherever it stands in it. */
static void test_in_range_explicit(void) {
  /* MD5("pk-b") as a number (the vector explicit-hash-keys-mixed). */
  static const char pk_b[] = "85407741071154541078745004925322871391";
  kn_deagg_record_t u[3];

  u[0] = user("pk-b", "100");
  ASSERT_EQ(1, in_range_dec(u, 1, "100", "100"));
  ASSERT_EQ(1, in_range_dec(u, 1, "0", "100"));
  ASSERT_EQ(1, in_range_dec(u, 1, "100", KEY_MAX));
  ASSERT_EQ(0, in_range_dec(u, 1, "0", "99"));
  ASSERT_EQ(0, in_range_dec(u, 1, "101", KEY_MAX));
  ASSERT_EQ(0, in_range_dec(u, 1, pk_b, pk_b));
  u[0] = user("pk-b", NULL);
  ASSERT_EQ(1, in_range_dec(u, 1, pk_b, pk_b));

  /* One record out of three, first, middle or last. */
  u[0] = user("x", "5");
  u[1] = user("y", "6");
  u[2] = user("z", "7");
  ASSERT_EQ(1, in_range_dec(u, 3, "5", "7"));
  ASSERT_EQ(0, in_range_dec(u, 3, "6", "7"));
  ASSERT_EQ(0, in_range_dec(u, 3, "5", "6"));
  u[1] = user("y", "170141183460469231731687303715884105728");
  ASSERT_EQ(0, in_range_dec(u, 3, "0",
                            "170141183460469231731687303715884105727"));
  ASSERT_EQ(1, in_range_dec(u, 3, "0", KEY_MAX));
  /* The bounds of the whole key space. */
  u[0] = user("x", "0");
  u[1] = user("y", KEY_MAX);
  ASSERT_EQ(1, in_range_dec(u, 2, "0", KEY_MAX));
  ASSERT_EQ(0, in_range_dec(u, 2, "1", KEY_MAX));
  ASSERT_EQ(0, in_range_dec(u, 2, "0",
                            "340282366920938463463374607431768211454"));
}


/* An explicit hash key that is not a decimal of at most 2^128-1 counts as
 * outside every range, even the whole key space. */
static void test_in_range_bad_explicit(void) {
  static const char* const bad[] = {
      "", "abc", "007", "00", "-1", "+1", " 1", "1 ", "1.0", "0x10",
      "340282366920938463463374607431768211456",   /* 2^128 */
      "999999999999999999999999999999999999999",   /* 39 digits, too big */
      "1000000000000000000000000000000000000000",  /* 40 digits */
  };
  static const char nul_inside[] = {'1', '2', '\0', '3'};
  kn_deagg_record_t u[2];
  size_t i;

  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    u[0] = user("a", bad[i]);
    if (in_range_dec(u, 1, "0", KEY_MAX) != 0)
      fprintf(stderr, "explicit hash key \"%s\" was accepted\n", bad[i]);
    ASSERT_EQ(0, in_range_dec(u, 1, "0", KEY_MAX));
    /* After a good record too. */
    u[0] = user("a", "1");
    u[1] = user("b", bad[i]);
    ASSERT_EQ(0, in_range_dec(u, 2, "0", KEY_MAX));
  }
  /* Bytes after a NUL are part of the key: it must not parse as "12". */
  u[0] = user("a", NULL);
  u[0].explicit_hash_key = nul_inside;
  u[0].explicit_hash_key_len = sizeof(nul_inside);
  ASSERT_EQ(0, in_range_dec(u, 1, "0", KEY_MAX));
  u[0].explicit_hash_key_len = 2;  /* "12" */
  ASSERT_EQ(1, in_range_dec(u, 1, "12", "12"));
}


/* An aggregate of no user records has nothing outside any range. */
static void test_in_range_empty(void) {
  /* Magic, a protobuf with one partition key and no records, its MD5. */
  static const uint8_t empty_agg[] = {
      0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0x01, 0x61, 0x0d, 0xa6, 0xf9, 0x98, 0xa7,
      0xe3, 0x12, 0xb8, 0xf5, 0x23, 0x5e, 0xee, 0xb2, 0x85, 0x49, 0x7b};
  kn_deagg_record_t* recs = NULL;
  size_t n = 99;

  ASSERT_EQ(1, kn_deagg(empty_agg, sizeof(empty_agg), &recs, &n));
  ASSERT_EQ(0, n);
  ASSERT_EQ(1, in_range_dec(recs, n, "5", "5"));
  ASSERT_EQ(1, in_range_dec(NULL, 0, "0", "0"));
  kn_free(recs);
}


KN_TEST_MAIN(KN_TEST(test_vectors_aggregate), KN_TEST(test_vectors_deaggregate),
             KN_TEST(test_edge_cases_plain), KN_TEST(test_truncations),
             KN_TEST(test_truncations_resealed), KN_TEST(test_md5_over_garbage),
             KN_TEST(test_hostile_protobuf), KN_TEST(test_group_depth),
             KN_TEST(test_many_records), KN_TEST(test_random_roundtrip),
             KN_TEST(test_encoder_basics), KN_TEST(test_reset_keeps_memory),
             KN_TEST(test_alloc_failures_encoder),
             KN_TEST(test_alloc_failures_decoder),
             KN_TEST(test_in_range_vectors), KN_TEST(test_in_range_explicit),
             KN_TEST(test_in_range_bad_explicit),
             KN_TEST(test_in_range_empty))
