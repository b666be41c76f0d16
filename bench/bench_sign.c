/* Encode and sign a 500-record PutRecords body, next to hashing the same
 * bytes once (the floor of signing). Prints ns per record and MB/s. */

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "buf.h"
#include "codec.h"
#include "crypto.h"
#include "internal.h"
#include "sigv4.h"

#define NRECORDS 500


static double now_s(void) {
  return (double) uv_hrtime() / 1e9;
}


static int run(size_t record_size, int rounds) {
  static kinesis_record_t entries[NRECORDS];
  static char keys[NRECORDS][24];
  uint8_t* data = kn_malloc(record_size);
  kn_sigv4_key_cache_t cache;
  kn_buf_t body = KN_BUF_INIT;
  kn_buf_t authz = KN_BUF_INIT;
  uint8_t digest[KN_SHA256_LEN];
  double t0;
  double t_sign;
  double t_hash;
  size_t i;
  int k;

  if (data == NULL)
    return 1;
  memset(&cache, 0, sizeof(cache));
  for (i = 0; i < record_size; i++)
    data[i] = (uint8_t) (i * 31);
  for (i = 0; i < NRECORDS; i++) {
    snprintf(keys[i], sizeof(keys[i]), "key-%zu", i);
    entries[i].data = data;
    entries[i].len = record_size;
    entries[i].partition_key = keys[i];
    entries[i].explicit_hash_key = NULL;
  }

  t0 = now_s();
  for (k = 0; k < rounds; k++) {
    kn_sigv4_header_t h[4];
    kn_sigv4_request_t req;
    kn_sigv4_credentials_t creds = {"AKIDEXAMPLE", "secret"};
    kn_buf_reset(&body);
    kn_buf_reset(&authz);
    if (kn_codec_put_records(&body, "bench-stream", entries, NRECORDS) != 0)
      return 1;
    h[0].name = kn_cursor_from_str("content-type");
    h[0].value = kn_cursor_from_str("application/x-amz-json-1.1");
    h[1].name = kn_cursor_from_str("host");
    h[1].value = kn_cursor_from_str("kinesis.us-east-1.amazonaws.com");
    h[2].name = kn_cursor_from_str("x-amz-date");
    h[2].value = kn_cursor_from_str("20261126T050000Z");
    h[3].name = kn_cursor_from_str("x-amz-target");
    h[3].value = kn_cursor_from_str("Kinesis_20131202.PutRecords");
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = kn_cursor_from_str("/");
    req.headers = h;
    req.nheaders = 4;
    req.payload.ptr = body.data;
    req.payload.len = body.len;
    if (kn_sigv4_sign(&req, &creds, "20261126T050000Z", "us-east-1", "kinesis",
                      &cache, &authz) != 0)
      return 1;
  }
  t_sign = now_s() - t0;

  t0 = now_s();
  for (k = 0; k < rounds; k++)
    kn_sha256(body.data, body.len, digest);
  t_hash = now_s() - t0;

  printf("%6zu-byte records: encode+sign %8.1f ns/record %8.1f MB/s | "
         "sha256 of the body %8.1f ns/record %8.1f MB/s | ratio %.2f\n",
         record_size, t_sign * 1e9 / ((double) rounds * NRECORDS),
         (double) body.len * rounds / t_sign / 1e6,
         t_hash * 1e9 / ((double) rounds * NRECORDS),
         (double) body.len * rounds / t_hash / 1e6, t_sign / t_hash);
  kn_buf_free(&body);
  kn_buf_free(&authz);
  kn_free(data);
  return 0;
}


int main(void) {
  printf("PutRecords body of %d records, encoded and signed (SigV4)\n",
         NRECORDS);
  return run(100, 2000) || run(1024, 400) || run(25 * 1024, 20);
}
