/*
 * The KPL de-aggregator (lib/aggregation.h) on arbitrary record data: every
 * record a consumer reads goes through it. What it returns must point into
 * the blob it was given.
 *
 * A random mutation almost never keeps the MD5 trailer right, which would
 * leave the protobuf decoder unexplored. So the first byte chooses: odd, the
 * rest is the protobuf, framed here with the magic and its true digest;
 * even, the rest is the blob exactly as a record would carry it.
 */

#include "fuzz.h"
#include "aggregation.h"
#include "crypto.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>


/* Whether [p, p + len) lies inside the blob. */
static int inside(const void* p, size_t len, const uint8_t* blob,
                  size_t size) {
  const uint8_t* b = p;
  return b >= blob && len <= size && (size_t) (b - blob) <= size - len;
}


static void deagg(const uint8_t* blob, size_t size) {
  kn_deagg_record_t* recs = NULL;
  size_t n = 0;
  size_t i;
  int r = kn_deagg(blob, size, &recs, &n);

  CHECK(r == 0 || r == 1 || r == KINESIS_ENOMEM);
  if (r != 1) {
    CHECK(recs == NULL);
    return;
  }
  CHECK(n == 0 || recs != NULL);
  for (i = 0; i < n; i++) {
    const kn_deagg_record_t* u = &recs[i];
    CHECK(u->len == 0 || inside(u->data, u->len, blob, size));
    CHECK(inside(u->partition_key, u->partition_key_len, blob, size));
    CHECK(u->explicit_hash_key == NULL ||
          inside(u->explicit_hash_key, u->explicit_hash_key_len, blob, size));
  }
  kn_free(recs);
}


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const uint8_t magic[KN_AGG_MAGIC_LEN] = {0xf3, 0x89, 0x9a, 0xc2};
  const uint8_t* pb;
  size_t pb_len;
  uint8_t* blob;

  if (size < 1)
    return 0;
  pb = data + 1;
  pb_len = size - 1;
  if ((data[0] & 1) == 0) {
    deagg(pb, pb_len);
    return 0;
  }
  blob = malloc(pb_len + KN_AGG_OVERHEAD);
  if (blob == NULL)
    return 0;
  memcpy(blob, magic, KN_AGG_MAGIC_LEN);
  if (pb_len > 0)
    memcpy(blob + KN_AGG_MAGIC_LEN, pb, pb_len);
  if (kn_md5(pb, pb_len, blob + KN_AGG_MAGIC_LEN + pb_len) == 0)
    deagg(blob, pb_len + KN_AGG_OVERHEAD);
  free(blob);
  return 0;
}
