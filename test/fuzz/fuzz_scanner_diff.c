/*
 * A differential harness for the in-place scanner of the hot answers
 * (lib/codec_scan.c: GetRecords, PutRecords, ListShards). The same bytes are
 * parsed by the scanner and by jansson, through a small reference
 * extraction written here from the model (protocol.md) and the scanner's
 * documented rules: null stands for absent, unknown members of any shape
 * are skipped, a required member missing or of the wrong type refuses the
 * answer, and hash keys and sequence numbers are checked as the API bounds
 * them. On every input jansson takes as valid JSON, both must give the same
 * verdict, and when both accept, the same values. Issue 17 (a literal after
 * white space refused) is the kind of bug this finds.
 *
 * The first byte picks the answer: low two bits 0 or 3 GetRecords, 1
 * PutRecords (the number of records sent is 1 + the byte's high six bits),
 * 2 ListShards. The rest is the body.
 *
 * Inputs the comparison leaves aside, where the two need not agree: a raw
 * NUL byte (never valid JSON, which the scanner refuses, but jansson 2.14
 * reads {"a":1.5<NUL>} as {"a":1.5}: regressions/scanner_diff/), duplicate
 * member names (RFC 8259 leaves their meaning open; jansson is
 * told to refuse them), \u0000 in a string (jansson refuses it; the
 * scanner's strings are NUL-terminated), and nesting deeper than 32 (the
 * scanner stops at 64 levels by design).
 */

#include "fuzz.h"
#include "buf.h"
#include "codec.h"
#include "internal.h"
#include "validate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECORDS 10000
#define MAX_DATA (10 * 1024 * 1024)
#define MAX_DEPTH 32


static int depth_of(json_t* v) {
  int d = 0;
  if (json_is_object(v)) {
    const char* k;
    json_t* m;
    json_object_foreach(v, k, m) {
      int e = depth_of(m);
      if (e > d)
        d = e;
    }
    return d + 1;
  }
  if (json_is_array(v)) {
    size_t i;
    json_t* m;
    json_array_foreach(v, i, m) {
      int e = depth_of(m);
      if (e > d)
        d = e;
    }
    return d + 1;
  }
  return 0;
}


/* A string or null member: 0 with *out the string or NULL (absent, null),
 * -1 for another type. */
static int opt_str(json_t* obj, const char* key, const char** out) {
  json_t* v = json_object_get(obj, key);
  *out = NULL;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return -1;
  *out = json_string_value(v);
  return 0;
}


static void same_str(const char* ref, const char* got) {
  if (ref == NULL)
    CHECK(got == NULL);
  else
    CHECK(got != NULL && strcmp(ref, got) == 0);
}


/* The scanner reads numbers without strtod(), exactly only to 19 digits
 * and with rounding of its own: the values agree closely, not bit for bit. */
static void same_num(double ref, double got) {
  double a = ref < 0 ? -ref : ref;
  double b = got < 0 ? -got : got;
  double d = ref > got ? ref - got : got - ref;
  CHECK(d <= (a > b ? a : b) * 1e-9 || d < 1e-300);
}


/* HashKeyRange or SequenceNumberRange: null, absent or an object whose two
 * named members are strings or null. */
static int ref_range(json_t* obj, const char* key, const char* na,
                     const char** a, const char* nb, const char** b) {
  json_t* v = json_object_get(obj, key);
  *a = *b = NULL;
  if (v == NULL || json_is_null(v))
    return 0;
  if (!json_is_object(v))
    return -1;
  if (opt_str(v, na, a) != 0 || opt_str(v, nb, b) != 0)
    return -1;
  return 0;
}


static int hash_ok(const char* k) {
  return k == NULL || kn_valid_hash_key(k);
}


static int seq_ok(const char* s) {
  return s == NULL || kn_valid_sequence_number_strict(s);
}


/* A ChildShards entry; `got` is the scanner's, or NULL. */
static int ref_child_shard(json_t* e, const kinesis_shard_t* got) {
  const char *id, *hs, *he;
  const char* parents[2] = {NULL, NULL};
  json_t* ps;
  if (!json_is_object(e) || opt_str(e, "ShardId", &id) != 0 || id == NULL)
    return -1;
  ps = json_object_get(e, "ParentShards");
  if (ps != NULL && !json_is_null(ps)) {
    size_t i;
    json_t* p;
    if (!json_is_array(ps))
      return -1;
    json_array_foreach(ps, i, p) {
      if (!json_is_string(p))
        return -1;
      if (i < 2)
        parents[i] = json_string_value(p);
    }
  }
  if (ref_range(e, "HashKeyRange", "StartingHashKey", &hs, "EndingHashKey",
                &he) != 0 ||
      !hash_ok(hs) || !hash_ok(he))
    return -1;
  if (got != NULL) {
    same_str(id, got->shard_id);
    same_str(parents[0], got->parent_shard_id);
    same_str(parents[1], got->adjacent_parent_shard_id);
    same_str(hs, got->starting_hash_key);
    same_str(he, got->ending_hash_key);
  }
  return 0;
}


static int ref_record(json_t* r, const kinesis_fetched_record_t* got) {
  const char *pk, *seq, *et;
  json_t* d;
  json_t* t;
  double ts = 0;
  uint8_t* dec;
  size_t dlen;
  size_t declen;
  int ok;

  if (!json_is_object(r))
    return -1;
  d = json_object_get(r, "Data");
  if (!json_is_string(d))
    return -1;
  if (opt_str(r, "PartitionKey", &pk) != 0 || pk == NULL ||
      opt_str(r, "SequenceNumber", &seq) != 0 || seq == NULL ||
      opt_str(r, "EncryptionType", &et) != 0)
    return -1;
  if (!kn_valid_sequence_number_strict_len(
          seq, json_string_length(json_object_get(r, "SequenceNumber"))))
    return -1;
  t = json_object_get(r, "ApproximateArrivalTimestamp");
  if (t != NULL && !json_is_null(t)) {
    if (!json_is_number(t))
      return -1;
    ts = json_number_value(t);
  }
  dlen = json_string_length(d);
  if (dlen > (MAX_DATA + 2) / 3 * 4)
    return -1;
  dec = malloc(dlen + 1);
  CHECK(dec != NULL);
  declen = dlen;
  ok = kn_base64_decode(json_string_value(d), dlen, dec, &declen) == 0 &&
       declen <= MAX_DATA;
  if (ok && got != NULL) {
    CHECK(got->len == declen);
    CHECK(declen == 0 || memcmp(got->data, dec, declen) == 0);
    same_str(pk, got->partition_key);
    same_str(seq, got->sequence_number);
    same_str(et, got->encryption_type);
    same_num(ts, got->approximate_arrival_timestamp);
  }
  free(dec);
  return ok ? 0 : -1;
}


static int ref_get_records(json_t* root, const kn_parsed_t* got) {
  json_t* recs = json_object_get(root, "Records");
  json_t* v;
  json_t* e;
  size_t i;
  const char* next;
  int64_t mbl = -1;

  if (!json_is_array(recs) || json_array_size(recs) > MAX_RECORDS)
    return -1;
  if (got != NULL)
    CHECK(got->nrecords == json_array_size(recs));
  json_array_foreach(recs, i, e) {
    if (ref_record(e, got != NULL ? &got->records[i] : NULL) != 0)
      return -1;
  }
  if (opt_str(root, "NextShardIterator", &next) != 0)
    return -1;
  v = json_object_get(root, "MillisBehindLatest");
  if (v != NULL && !json_is_null(v)) {
    double ms;
    if (!json_is_number(v))
      return -1;
    ms = json_number_value(v);
    if (!(ms >= 0 && ms < 9223372036854775808.0))
      return -1;
    mbl = (int64_t) ms;
  }
  v = json_object_get(root, "ChildShards");
  if (v != NULL && !json_is_null(v)) {
    if (!json_is_array(v))
      return -1;
    if (got != NULL)
      CHECK(got->nchild_shards == json_array_size(v));
    json_array_foreach(v, i, e) {
      if (ref_child_shard(e, got != NULL ? &got->child_shards[i] : NULL) != 0)
        return -1;
    }
  } else if (got != NULL) {
    CHECK(got->nchild_shards == 0);
  }
  if (got != NULL) {
    same_str(next, got->next_shard_iterator);
    CHECK(got->millis_behind_latest == mbl);
  }
  return 0;
}


static int ref_list_shard(json_t* e, const kinesis_shard_t* got) {
  const char *id, *parent, *adjacent, *hs, *he, *ss, *se;
  if (!json_is_object(e) || opt_str(e, "ShardId", &id) != 0 ||
      opt_str(e, "ParentShardId", &parent) != 0 ||
      opt_str(e, "AdjacentParentShardId", &adjacent) != 0 ||
      ref_range(e, "HashKeyRange", "StartingHashKey", &hs, "EndingHashKey",
                &he) != 0 ||
      ref_range(e, "SequenceNumberRange", "StartingSequenceNumber", &ss,
                "EndingSequenceNumber", &se) != 0)
    return -1;
  if (id == NULL || hs == NULL || he == NULL || !hash_ok(hs) ||
      !hash_ok(he) || !seq_ok(ss) || !seq_ok(se))
    return -1;
  if (got != NULL) {
    same_str(id, got->shard_id);
    same_str(parent, got->parent_shard_id);
    same_str(adjacent, got->adjacent_parent_shard_id);
    same_str(hs, got->starting_hash_key);
    same_str(he, got->ending_hash_key);
    same_str(ss, got->starting_sequence_number);
    same_str(se, got->ending_sequence_number);
  }
  return 0;
}


static int ref_list_shards(json_t* root, const kn_parsed_t* got) {
  json_t* v = json_object_get(root, "Shards");
  json_t* e;
  size_t i;
  const char* token;

  if (opt_str(root, "NextToken", &token) != 0)
    return -1;
  if (v != NULL && !json_is_null(v)) {
    if (!json_is_array(v))
      return -1;
    if (got != NULL)
      CHECK(got->nshards == json_array_size(v));
    json_array_foreach(v, i, e) {
      if (ref_list_shard(e, got != NULL ? &got->shards[i] : NULL) != 0)
        return -1;
    }
  } else if (got != NULL) {
    CHECK(got->nshards == 0);
  }
  if (got != NULL)
    same_str(token, got->next_token);
  return 0;
}


static int ref_put_records(json_t* root, size_t expected,
                           const kn_parsed_t* got) {
  json_t* v = json_object_get(root, "Records");
  json_t* e;
  size_t i;
  uint32_t failed = 0;

  if (!json_is_array(v) || json_array_size(v) != expected)
    return -1;
  if (got != NULL)
    CHECK(got->nput_entries == expected);
  json_array_foreach(v, i, e) {
    const char *seq, *shard, *code, *message;
    if (!json_is_object(e) || opt_str(e, "SequenceNumber", &seq) != 0 ||
        opt_str(e, "ShardId", &shard) != 0 ||
        opt_str(e, "ErrorCode", &code) != 0 ||
        opt_str(e, "ErrorMessage", &message) != 0)
      return -1;
    if (code != NULL) {
      failed++;
    } else if (shard == NULL || seq == NULL ||
               !kn_valid_sequence_number_strict_len(
                   seq, json_string_length(
                            json_object_get(e, "SequenceNumber")))) {
      return -1;
    }
    if (got != NULL) {
      same_str(seq, got->put_entries[i].sequence_number);
      same_str(shard, got->put_entries[i].shard_id);
      same_str(code, got->put_entries[i].error_code);
      same_str(message, got->put_entries[i].error_message);
    }
  }
  if (got != NULL)
    CHECK(got->failed_record_count == failed);
  return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kn_parsed_t p;
  json_error_t jerr;
  json_t* root;
  const uint8_t* body;
  size_t len;
  size_t expected;
  int kind;
  int r;
  int ref;

  if (size < 1)
    return 0;
  kind = data[0] & 3;
  expected = (size_t) (data[0] >> 2) + 1;
  body = data + 1;
  len = size - 1;

  if (kind == 1)
    r = kn_codec_parse_put_records(body, len, NULL, expected, &p);
  else if (kind == 2)
    r = kn_codec_parse_list_shards(body, len, &p);
  else
    r = kn_codec_parse_get_records(body, len, NULL, &p);
  CHECK(r == 0 || r == KINESIS_EPROTO);

  root = memchr(body, '\0', len) != NULL
             ? NULL
             : json_loadb((const char*) body, len, JSON_REJECT_DUPLICATES,
                          &jerr);
  if (root != NULL && depth_of(root) <= MAX_DEPTH) {
    if (!json_is_object(root))
      ref = -1;
    else if (kind == 1)
      ref = ref_put_records(root, expected, NULL);
    else if (kind == 2)
      ref = ref_list_shards(root, NULL);
    else
      ref = ref_get_records(root, NULL);
    /* The same verdict on valid JSON... */
    CHECK((ref == 0) == (r == 0));
    /* ...and, accepted, the same values. */
    if (r == 0) {
      if (kind == 1)
        CHECK(ref_put_records(root, expected, &p) == 0);
      else if (kind == 2)
        CHECK(ref_list_shards(root, &p) == 0);
      else
        CHECK(ref_get_records(root, &p) == 0);
    }
  }
  json_decref(root);
  kn_parsed_free(&p);
  return 0;
}
