#include "harness.h"
#include "internal.h"
#include "buf.h"
#include "cpu.h"
#include "crypto.h"

#include <stdint.h>
#include <string.h>


/* Compares a digest with its published hex form, printing both on failure. */
static void check_hex(const uint8_t* digest, size_t len, const char* expect) {
  char hex[2 * KN_SHA256_LEN + 1];
  ASSERT_LE(len, KN_SHA256_LEN);
  kn_hex_encode(digest, len, hex);
  ASSERT_STR_EQ(expect, hex);
}


static void check_sha256(const char* msg, const char* expect) {
  uint8_t d[KN_SHA256_LEN];
  ASSERT_OK(kn_sha256((const uint8_t*) msg, strlen(msg), d));
  check_hex(d, sizeof(d), expect);
}


/* FIPS 180-2 appendix B and the empty message. */
static void test_sha256_vectors(void) {
  check_sha256(
      "abc",
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  check_sha256(
      "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  check_sha256(
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}


static void test_sha256_million_a(void) {
  static const char* const expect =
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  uint8_t* msg = malloc(1000000);
  uint8_t d[KN_SHA256_LEN];
  kn_sha256_ctx_t ctx;
  int i;

  ASSERT_NOT_NULL(msg);
  memset(msg, 'a', 1000000);
  ASSERT_OK(kn_sha256(msg, 1000000, d));
  check_hex(d, sizeof(d), expect);

  /* The same million in 1000-byte pieces, as a body built incrementally. */
  ASSERT_OK(kn_sha256_start(&ctx));
  for (i = 0; i < 1000; i++)
    ASSERT_OK(kn_sha256_update(&ctx, msg, 1000));
  ASSERT_OK(kn_sha256_finish(&ctx, d));
  check_hex(d, sizeof(d), expect);
  free(msg);
}


static void test_sha256_incremental(void) {
  uint8_t data[1000];
  uint8_t one[KN_SHA256_LEN];
  uint8_t inc[KN_SHA256_LEN];
  uint32_t x = 12345;
  size_t len;
  size_t i;

  for (i = 0; i < sizeof(data); i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (uint8_t) (x >> 16);
  }

  /* Every length across several block boundaries, split into uneven pieces
   * (including empty ones) so that partial blocks get carried over. */
  for (len = 0; len <= sizeof(data); len += 7) {
    kn_sha256_ctx_t ctx;
    size_t off = 0;
    size_t step = 1;

    ASSERT_OK(kn_sha256(data, len, one));
    ASSERT_OK(kn_sha256_start(&ctx));
    ASSERT_OK(kn_sha256_update(&ctx, NULL, 0));
    while (off < len) {
      size_t n = step < len - off ? step : len - off;
      ASSERT_OK(kn_sha256_update(&ctx, data + off, n));
      off += n;
      step = step * 3 % 97;
    }
    ASSERT_OK(kn_sha256_update(&ctx, data, 0));
    ASSERT_OK(kn_sha256_finish(&ctx, inc));
    ASSERT_MEM_EQ(one, inc, KN_SHA256_LEN);
  }

  /* A context can be started again after finishing. */
  {
    kn_sha256_ctx_t ctx;
    ASSERT_OK(kn_sha256_start(&ctx));
    ASSERT_OK(kn_sha256_update(&ctx, (const uint8_t*) "ab", 2));
    ASSERT_OK(kn_sha256_finish(&ctx, inc));
    ASSERT_OK(kn_sha256_start(&ctx));
    ASSERT_OK(kn_sha256_update(&ctx, (const uint8_t*) "abc", 3));
    ASSERT_OK(kn_sha256_finish(&ctx, inc));
    check_hex(
        inc, sizeof(inc),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
}


static void test_sha256_invalid(void) {
  uint8_t d[KN_SHA256_LEN];
  kn_sha256_ctx_t ctx;
  ASSERT_EQ(KINESIS_EINVAL, kn_sha256(NULL, 1, d));
  ASSERT_OK(kn_sha256(NULL, 0, d));
  check_hex(d, sizeof(d),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  ASSERT_OK(kn_sha256_start(&ctx));
  ASSERT_EQ(KINESIS_EINVAL, kn_sha256_update(&ctx, NULL, 1));
  ASSERT_OK(kn_sha256_finish(&ctx, d));
  ASSERT_EQ(KINESIS_EINVAL, kn_hmac_sha256(NULL, 1, d, 1, d));
  ASSERT_EQ(KINESIS_EINVAL, kn_md5(NULL, 1, d));
}


static void check_hmac(const uint8_t* key, size_t key_len, const void* data,
                       size_t len, const char* expect) {
  uint8_t mac[KN_SHA256_LEN];
  ASSERT_OK(kn_hmac_sha256(key, key_len, data, len, mac));
  /* Test case 5 publishes only the first 128 bits. */
  check_hex(mac, strlen(expect) / 2, expect);
}


/* RFC 4231 section 4, HMAC-SHA-256 results. */
static void test_hmac_rfc4231(void) {
  uint8_t key[131];
  uint8_t data[50];
  size_t i;

  /* Test case 1. */
  memset(key, 0x0b, 20);
  check_hmac(key, 20, "Hi There", 8,
             "b0344c61d8db38535ca8afceaf0bf12b"
             "881dc200c9833da726e9376c2e32cff7");

  /* Test case 2: a key shorter than the output. */
  check_hmac((const uint8_t*) "Jefe", 4, "what do ya want for nothing?", 28,
             "5bdcc146bf60754e6a042426089575c7"
             "5a003f089d2739839dec58b964ec3843");

  /* Test case 3: combined length of key and data above 64 bytes. */
  memset(key, 0xaa, 20);
  memset(data, 0xdd, 50);
  check_hmac(key, 20, data, 50,
             "773ea91e36800e46854db8ebd09181a7"
             "2959098b3ef8c122d9635514ced565fe");

  /* Test case 4. */
  for (i = 0; i < 25; i++)
    key[i] = (uint8_t) (i + 1);
  memset(data, 0xcd, 50);
  check_hmac(key, 25, data, 50,
             "82558a389a443c0ea4cc819899f2083a"
             "85f0faa3e578f8077a2e3ff46729665b");

  /* Test case 5: truncated to 128 bits. */
  memset(key, 0x0c, 20);
  check_hmac(key, 20, "Test With Truncation", 20,
             "a3b6167473100ee06e0c796c2955552b");

  /* Test case 6: a key longer than the block size is hashed first. */
  memset(key, 0xaa, 131);
  check_hmac(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
             54,
             "60e431591ee0b67f0d8a26aacbf5b77f"
             "8e0bc6213728c5140546040f0ee37f54");

  /* Test case 7: key and data both longer than the block size. */
  check_hmac(key, 131,
             "This is a test using a larger than block-size key and a larger "
             "than block-size data. The key needs to be hashed before being "
             "used by the HMAC algorithm.",
             152,
             "9b09ffa71b942fcb27635fbcd5b0e944"
             "bfdc63644f0713938a7f51535c3a35e2");
}


static void test_hmac_aliasing(void) {
  /* SigV4 derives keys as k = HMAC(k, x): the output may overwrite the key
   * or the data. */
  uint8_t key[KN_SHA256_LEN];
  uint8_t data[KN_SHA256_LEN];
  uint8_t expect[KN_SHA256_LEN];
  uint8_t buf[KN_SHA256_LEN];

  memset(key, 0x11, sizeof(key));
  memset(data, 0x22, sizeof(data));
  ASSERT_OK(kn_hmac_sha256(key, sizeof(key), data, sizeof(data), expect));

  memcpy(buf, key, sizeof(buf));
  ASSERT_OK(kn_hmac_sha256(buf, sizeof(buf), data, sizeof(data), buf));
  ASSERT_MEM_EQ(expect, buf, sizeof(buf));

  memcpy(buf, data, sizeof(buf));
  ASSERT_OK(kn_hmac_sha256(key, sizeof(key), buf, sizeof(buf), buf));
  ASSERT_MEM_EQ(expect, buf, sizeof(buf));

  /* Key lengths at the block boundary: 64 is padded, 65 is hashed. */
  {
    uint8_t k64[65];
    uint8_t hashed[KN_SHA256_LEN];
    uint8_t a[KN_SHA256_LEN];
    uint8_t b[KN_SHA256_LEN];
    memset(k64, 0x5a, sizeof(k64));
    ASSERT_OK(kn_sha256(k64, 65, hashed));
    ASSERT_OK(kn_hmac_sha256(k64, 65, data, sizeof(data), a));
    ASSERT_OK(kn_hmac_sha256(hashed, sizeof(hashed), data, sizeof(data), b));
    ASSERT_MEM_EQ(a, b, sizeof(a));
    ASSERT_OK(kn_hmac_sha256(k64, 64, data, sizeof(data), b));
    ASSERT(memcmp(a, b, sizeof(a)) != 0);
  }
}


/* RFC 1321 appendix A.5, the whole test suite. */
static void test_md5_rfc1321(void) {
  static const struct {
    const char* msg;
    const char* digest;
  } v[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"1234567890123456789012345678901234567890"
       "1234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  const uint8_t* msgs[KN_ARRAY_SIZE(v)];
  size_t lens[KN_ARRAY_SIZE(v)];
  uint8_t batch[KN_ARRAY_SIZE(v)][KN_MD5_LEN];
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(v); i++) {
    uint8_t d[KN_MD5_LEN];
    ASSERT_OK(kn_md5((const uint8_t*) v[i].msg, strlen(v[i].msg), d));
    check_hex(d, sizeof(d), v[i].digest);
    msgs[i] = (const uint8_t*) v[i].msg;
    lens[i] = strlen(v[i].msg);
  }
  /* The batch: the first six are short (eight lanes), the last is long. */
  kn_md5_batch(msgs, lens, KN_ARRAY_SIZE(v), batch);
  for (i = 0; i < KN_ARRAY_SIZE(v); i++)
    check_hex(batch[i], KN_MD5_LEN, v[i].digest);
}


/* The batch path (eight lanes with AVX2) against mbedTLS one by one: every
 * length from 0 to 80 (one block ends at 55), every batch size from 1 to
 * 20, short and long messages mixed, with and without acceleration. */
static void test_md5_batch_matches(void) {
  static uint8_t buf[64][80];
  const uint8_t* msgs[64];
  size_t lens[64];
  uint8_t got[64][KN_MD5_LEN];
  uint32_t x = 12345;
  size_t n;
  size_t i;
  int accel;

  for (i = 0; i < 64; i++) {
    size_t k;
    for (k = 0; k < sizeof(buf[i]); k++) {
      x = x * 1103515245u + 12345u;
      buf[i][k] = (uint8_t) (x >> 16);
    }
    msgs[i] = buf[i];
  }
  for (accel = 1; accel >= 0; accel--) {
    kn_cpu_allow_acceleration(accel);
    for (n = 1; n <= 20; n++) {
      size_t len;
      for (len = 0; len <= 80; len++) {
        for (i = 0; i < n; i++)
          lens[i] = (len + i * 7) % 81;
        kn_md5_batch(msgs, lens, n, got);
        for (i = 0; i < n; i++) {
          uint8_t want[KN_MD5_LEN];
          ASSERT_OK(kn_md5(msgs[i], lens[i], want));
          ASSERT_MEM_EQ(want, got[i], KN_MD5_LEN);
        }
      }
    }
  }
  kn_cpu_allow_acceleration(1);
}


/* SHA-256 has two paths: the CPU's SHA instructions when it has them, and
 * mbedTLS. The vectors above ran on the first; run them on mbedTLS too, and
 * check that both agree on every length across block boundaries. */
static void test_sha256_both_paths(void) {
  uint8_t buf[300];
  uint8_t a[KN_SHA256_LEN];
  uint8_t b[KN_SHA256_LEN];
  size_t len;
  size_t i;

  printf("# SHA instructions: %s\n",
         kn_crypto_accelerated() ? "used" : "not available here");
  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (uint8_t) (i * 7 + 3);
  for (len = 0; len <= sizeof(buf); len++) {
    kn_sha256_ctx_t ctx;
    kn_cpu_allow_acceleration(1);
    ASSERT_OK(kn_sha256(buf, len, a));
    /* Incremental, in uneven pieces, on the same path. */
    ASSERT_OK(kn_sha256_start(&ctx));
    for (i = 0; i < len; i += 13)
      ASSERT_OK(kn_sha256_update(&ctx, buf + i, len - i < 13 ? len - i : 13));
    ASSERT_OK(kn_sha256_finish(&ctx, b));
    ASSERT_MEM_EQ(a, b, sizeof(a));
    kn_cpu_allow_acceleration(0);
    ASSERT_EQ(0, kn_crypto_accelerated());
    ASSERT_OK(kn_sha256(buf, len, b));
    ASSERT_MEM_EQ(a, b, sizeof(a));
  }
  /* The published vectors on mbedTLS alone. */
  test_sha256_vectors();
  test_sha256_million_a();
  test_sha256_incremental();
  test_hmac_rfc4231();
  kn_cpu_allow_acceleration(1);
}


KN_TEST_MAIN(KN_TEST(test_sha256_vectors), KN_TEST(test_sha256_million_a),
             KN_TEST(test_sha256_incremental), KN_TEST(test_sha256_invalid),
             KN_TEST(test_hmac_rfc4231), KN_TEST(test_hmac_aliasing),
             KN_TEST(test_md5_rfc1321), KN_TEST(test_md5_batch_matches),
             KN_TEST(test_sha256_both_paths))
