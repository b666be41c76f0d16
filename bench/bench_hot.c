/* The hot paths other than signing (bench_sign), each in ns per record and
 * MB/s, next to SHA-256 over the same bytes:
 * - parsing a GetRecords answer of 10,000 records of 100 bytes (the
 *   scanner, base64 decoding in place);
 * - parsing a PutRecords answer of 500 entries, as kinesalite writes it
 *   (the scanner alone: shard ids and sequence numbers);
 * - routing: the MD5 of a partition key and the shard map lookup;
 * - KPL aggregation of 500 user records of 100 bytes, and de-aggregation of
 *   the result.
 * It asserts nothing about speed; it fails only when a step fails. */

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "aggregation.h"
#include "buf.h"
#include "codec.h"
#include "cpu.h"
#include "crypto.h"
#include "internal.h"
#include "shardmap.h"

#define GET_RECORDS 10000
#define RECORD_SIZE 100
#define NKEYS 1000
#define AGG_RECORDS 500
#define PUT_ENTRIES 500


static double now_s(void) {
  return (double) uv_hrtime() / 1e9;
}


/* SHA-256 of `len` bytes, `rounds` times: seconds. */
static double hash_time(const uint8_t* data, size_t len, int rounds) {
  uint8_t digest[KN_SHA256_LEN];
  double t0 = now_s();
  int k;
  for (k = 0; k < rounds; k++)
    if (kn_sha256(data, len, digest) != 0)
      return -1;
  return now_s() - t0;
}


static void report(const char* what, double t, double t_hash, size_t bytes,
                   size_t records, int rounds) {
  double per = (double) records * rounds;
  printf("%-34s %8.1f ns/record %8.1f MB/s | sha256 of the same bytes "
         "%8.1f ns/record %8.1f MB/s\n",
         what, t * 1e9 / per, (double) bytes * rounds / t / 1e6,
         t_hash * 1e9 / per, (double) bytes * rounds / t_hash / 1e6);
}


static int bench_get_records(void) {
  kn_buf_t body = KN_BUF_INIT;
  uint8_t data[RECORD_SIZE];
  const int rounds = 50;
  double t0;
  double t;
  size_t i;
  int k;
  int r = 0;

  for (i = 0; i < RECORD_SIZE; i++)
    data[i] = (uint8_t) (i * 7);
  r = kn_buf_append_str(&body, "{\"Records\":[");
  for (i = 0; r == 0 && i < GET_RECORDS; i++) {
    r = kn_buf_appendf(&body,
                       "%s{\"SequenceNumber\":\"4968057750116762443997897046308"
                       "9111188195094209956%06zu\",\"ApproximateArrivalTimestamp"
                       "\":1795500000.%03zu,\"Data\":\"",
                       i == 0 ? "" : ",", i, i % 1000);
    if (r == 0)
      r = kn_buf_append_base64(&body, data, sizeof(data));
    if (r == 0)
      r = kn_buf_appendf(&body, "\",\"PartitionKey\":\"pk-%zu\"}", i % NKEYS);
  }
  if (r == 0)
    r = kn_buf_append_str(&body, "],\"NextShardIterator\":\"AAAAAAAAAAH"
                                 "bench\",\"MillisBehindLatest\":0}");
  if (r != 0)
    return 1;

  t0 = now_s();
  for (k = 0; k < rounds; k++) {
    kn_parsed_t p;
    r = kn_codec_parse_get_records(body.data, body.len, NULL, &p);
    if (r != 0 || p.nrecords != GET_RECORDS ||
        p.records[GET_RECORDS - 1].len != RECORD_SIZE) {
      kn_parsed_free(&p);
      fprintf(stderr, "bench_hot: GetRecords answer: %s\n",
              kinesis_strerror(r));
      return 1;
    }
    kn_parsed_free(&p);
  }
  t = now_s() - t0;
  report("parse GetRecords (10,000 x 100 B)", t,
         hash_time(body.data, body.len, rounds), body.len, GET_RECORDS,
         rounds);
  kn_buf_free(&body);
  return 0;
}


static int bench_put_answer(void) {
  kn_buf_t body = KN_BUF_INIT;
  const int rounds = 2000;
  double t0;
  double t;
  size_t i;
  int k;
  int r;

  r = kn_buf_append_str(&body, "{\"FailedRecordCount\":0,\"Records\":[");
  for (i = 0; r == 0 && i < PUT_ENTRIES; i++)
    r = kn_buf_appendf(&body,
                       "%s{\"ShardId\":\"shardId-00000000000%zu\","
                       "\"SequenceNumber\":\"4968057750116762443997897046308"
                       "9111188195094209956%06zu\"}",
                       i == 0 ? "" : ",", i % 4, i);
  if (r == 0)
    r = kn_buf_append_str(&body, "]}");
  if (r != 0)
    return 1;

  t0 = now_s();
  for (k = 0; k < rounds; k++) {
    kn_parsed_t p;
    r = kn_codec_parse_put_records(body.data, body.len, NULL, PUT_ENTRIES, &p);
    if (r != 0 || p.nput_entries != PUT_ENTRIES) {
      kn_parsed_free(&p);
      fprintf(stderr, "bench_hot: PutRecords answer: %s\n",
              kinesis_strerror(r));
      return 1;
    }
    kn_parsed_free(&p);
  }
  t = now_s() - t0;
  report("parse PutRecords answer (500)", t,
         hash_time(body.data, body.len, rounds), body.len, PUT_ENTRIES,
         rounds);
  kn_buf_free(&body);
  return 0;
}


static int bench_routing(void) {
  static char keys[NKEYS][16];
  static const kinesis_shard_t shards[4] = {
      {"shardId-000000000000", NULL, NULL, "0",
       "85070591730234615865843651857942052863", "0", NULL},
      {"shardId-000000000001", NULL, NULL,
       "85070591730234615865843651857942052864",
       "170141183460469231731687303715884105727", "0", NULL},
      {"shardId-000000000002", NULL, NULL,
       "170141183460469231731687303715884105728",
       "255211775190703847597530955573826158591", "0", NULL},
      {"shardId-000000000003", NULL, NULL,
       "255211775190703847597530955573826158592",
       "340282366920938463463374607431768211455", "0", NULL}};
  kn_shardmap_t* map;
  size_t lens[NKEYS];
  size_t key_bytes = 0;
  unsigned hits[4] = {0, 0, 0, 0};
  kn_buf_t all = KN_BUF_INIT;
  const int rounds = 500;
  double t0;
  double t;
  size_t i;
  int k;

  if (kn_shardmap_new(shards, 4, &map) != 0)
    return 1;
  for (i = 0; i < NKEYS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "pk-%zu", i);
    lens[i] = strlen(keys[i]);
    key_bytes += lens[i];
    if (kn_buf_append(&all, keys[i], lens[i]) != 0)
      return 1;
  }
  t0 = now_s();
  for (k = 0; k < rounds; k++)
    for (i = 0; i < NKEYS; i++) {
      kn_hash_key_t h;
      int s;
      kn_hash_key_from_partition_key(keys[i], lens[i], &h);
      s = kn_shardmap_lookup(map, &h);
      if (s < 0)
        return 1;
      hits[s]++;
    }
  t = now_s() - t0;
  /* SHA-256 of each key alone, the same number of calls. */
  {
    uint8_t digest[KN_SHA256_LEN];
    double h0 = now_s();
    for (k = 0; k < rounds; k++)
      for (i = 0; i < NKEYS; i++)
        kn_sha256((const uint8_t*) keys[i], lens[i], digest);
    report("route (MD5 + lookup, one by one)", t, now_s() - h0, key_bytes,
           NKEYS, rounds);
  }
  /* The producer's way: keys hashed eight at a time (kn_md5_batch). */
  {
    const uint8_t* msgs[KN_MD5_BATCH];
    size_t mlens[KN_MD5_BATCH];
    uint8_t digests[KN_MD5_BATCH][KN_MD5_LEN];
    uint8_t digest[KN_SHA256_LEN];
    double h0;
    t0 = now_s();
    for (k = 0; k < rounds; k++)
      for (i = 0; i < NKEYS; i += KN_MD5_BATCH) {
        size_t j;
        size_t n = NKEYS - i < KN_MD5_BATCH ? NKEYS - i : KN_MD5_BATCH;
        for (j = 0; j < n; j++) {
          msgs[j] = (const uint8_t*) keys[i + j];
          mlens[j] = lens[i + j];
        }
        kn_md5_batch(msgs, mlens, n, digests);
        for (j = 0; j < n; j++) {
          kn_hash_key_t h;
          memcpy(h.b, digests[j], KN_MD5_LEN);
          if (kn_shardmap_lookup(map, &h) < 0)
            return 1;
        }
      }
    t = now_s() - t0;
    h0 = now_s();
    for (k = 0; k < rounds; k++)
      for (i = 0; i < NKEYS; i++)
        kn_sha256((const uint8_t*) keys[i], lens[i], digest);
    report("route (MD5 x8 + lookup)", t, now_s() - h0, key_bytes, NKEYS,
           rounds);
  }
  printf("%-34s shards got %u %u %u %u of every %u\n", "", hits[0] / rounds,
         hits[1] / rounds, hits[2] / rounds, hits[3] / rounds, NKEYS);
  kn_buf_free(&all);
  kn_shardmap_free(map);
  return 0;
}


static int bench_aggregation(void) {
  static char keys[AGG_RECORDS][16];
  uint8_t data[RECORD_SIZE];
  kn_agg_t* agg;
  kn_buf_t blob = KN_BUF_INIT;
  size_t user_bytes = 0;
  const int rounds = 400;
  double t0;
  double t_agg;
  double t_deagg;
  size_t i;
  int k;

  if (kn_agg_new(&agg) != 0)
    return 1;
  for (i = 0; i < RECORD_SIZE; i++)
    data[i] = (uint8_t) (i * 13);
  for (i = 0; i < AGG_RECORDS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "pk-%zu", i % 50);
    user_bytes += RECORD_SIZE + strlen(keys[i]);
  }
  t0 = now_s();
  for (k = 0; k < rounds; k++) {
    kn_agg_reset(agg);
    kn_buf_reset(&blob);
    for (i = 0; i < AGG_RECORDS; i++)
      if (kn_agg_add(agg, keys[i], strlen(keys[i]), NULL, 0, data,
                     sizeof(data)) != 0)
        return 1;
    if (kn_agg_finish(agg, &blob) != 0)
      return 1;
  }
  t_agg = now_s() - t0;
  t0 = now_s();
  for (k = 0; k < rounds; k++) {
    kn_deagg_record_t* recs = NULL;
    size_t n = 0;
    if (kn_deagg(blob.data, blob.len, &recs, &n) != 1 || n != AGG_RECORDS) {
      kn_free(recs);
      return 1;
    }
    kn_free(recs);
  }
  t_deagg = now_s() - t0;
  report("KPL aggregate (500 x 100 B)", t_agg,
         hash_time(blob.data, blob.len, rounds), user_bytes, AGG_RECORDS,
         rounds);
  report("KPL de-aggregate (500 x 100 B)", t_deagg,
         hash_time(blob.data, blob.len, rounds), blob.len, AGG_RECORDS,
         rounds);
  kn_buf_free(&blob);
  kn_agg_free(agg);
  return 0;
}


int main(void) {
  printf("hot paths, %s SHA-256 and %s base64\n",
         kn_crypto_accelerated() ? "SHA-NI" : "mbedTLS",
         kn_cpu_has_avx2() ? "AVX2" : "scalar");
  if (bench_get_records() != 0 || bench_put_answer() != 0 ||
      bench_routing() != 0 ||
      bench_aggregation() != 0) {
    fprintf(stderr, "bench_hot: a step failed\n");
    return 1;
  }
  return 0;
}
