/*
 * tools/encoding.c: the kinesis command's own base64 and ISO 8601 times,
 * checked against the library's internal ones, which have their own
 * vectors (test_buf, test_codec): the command must write and read what the
 * library does.
 */

#include "harness.h"

#include "encoding.h"

#include "buf.h"
#include "codec.h"
#include "internal.h"


/* xorshift64: repeatable data. */
static uint64_t next(uint64_t* s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}


static void test_base64_vectors(void) {
  /* RFC 4648 section 10. */
  static const char* const in[] = {"",     "f",     "fo",    "foo",
                                   "foob", "fooba", "foobar"};
  static const char* const out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  char enc[16];
  uint8_t dec[16];
  size_t i;
  size_t n;

  for (i = 0; i < 7; i++) {
    size_t len = strlen(in[i]);
    char* end = b64_encode((const uint8_t*) in[i], len, enc);
    ASSERT_EQ(strlen(out[i]), b64_encoded_len(len));
    ASSERT_EQ(strlen(out[i]), (size_t) (end - enc));
    ASSERT_MEM_EQ(out[i], enc, strlen(out[i]));
    ASSERT_OK(b64_decode(out[i], strlen(out[i]), dec, &n));
    ASSERT_EQ(len, n);
    ASSERT_MEM_EQ(in[i], dec, len);
  }
  ASSERT_EQ(SIZE_MAX, b64_encoded_len(SIZE_MAX));
  ASSERT_EQ(-1, b64_decode("Zg=", 3, dec, &n));
  ASSERT_EQ(-1, b64_decode("Zg==Zg==", 8, dec, &n));
  ASSERT_EQ(-1, b64_decode("Zh==", 4, dec, &n));
  ASSERT_EQ(-1, b64_decode("Zm9=", 4, dec, &n));
  ASSERT_EQ(-1, b64_decode("Zm 9", 4, dec, &n));
  ASSERT_EQ(-1, b64_decode("====", 4, dec, &n));
  ASSERT_EQ(-1, b64_decode("Z===", 4, dec, &n));
  ASSERT_EQ(-1, b64_decode("Zm9v\nYmFy", 9, dec, &n));
  ASSERT_OK(b64_decode("+/+/", 4, dec, &n));
  ASSERT_MEM_EQ("\xfb\xff\xbf", dec, 3);
}


/* Every length to 300 and every byte: the same text as the library's
 * encoder (whose AVX2 path starts at 28 bytes), and back. */
static void test_base64_like_the_library(void) {
  uint64_t seed = 0x9e3779b97f4a7c15u;
  uint8_t data[300];
  char mine[400];
  uint8_t back[400];
  size_t len;
  size_t i;

  for (len = 0; len <= sizeof(data); len++) {
    kn_buf_t lib = KN_BUF_INIT;
    size_t n = 0;
    for (i = 0; i < len; i++)
      data[i] = (uint8_t) (len < 256 && i == 0 ? len : next(&seed));
    ASSERT_OK(kn_buf_append_base64(&lib, data, len));
    ASSERT_EQ(lib.len, (size_t) (b64_encode(data, len, mine) - mine));
    ASSERT_EQ(lib.len, b64_encoded_len(len));
    if (len > 0)
      ASSERT_MEM_EQ(lib.data, mine, lib.len);
    ASSERT_LE(len, b64_decoded_max(lib.len));
    ASSERT_OK(b64_decode(mine, lib.len, back, &n));
    ASSERT_EQ(len, n);
    if (len > 0)
      ASSERT_MEM_EQ(data, back, len);
    kn_buf_free(&lib);
  }
}


/* Random text of the alphabet and '=': both decoders agree on what they
 * take, and on what it decodes to. */
static void test_base64_decode_like_the_library(void) {
  static const char chars[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
  uint64_t seed = 42;
  char text[64];
  uint8_t mine[64];
  uint8_t lib[64];
  int round;
  size_t taken = 0;

  for (round = 0; round < 200000; round++) {
    size_t len = (size_t) (next(&seed) % 13);
    size_t n_mine = 0;
    size_t n_lib = sizeof(lib);
    size_t i;
    int r_mine;
    int r_lib;
    for (i = 0; i < len; i++) {
      uint64_t x = next(&seed);
      /* Mostly the end of the text gets the '='. */
      text[i] = i + 2 >= len && x % 3 == 0 ? '=' : chars[x % 64];
    }
    r_mine = b64_decode(text, len, mine, &n_mine);
    r_lib = kn_base64_decode(text, len, lib, &n_lib);
    ASSERT_EQ(r_lib == 0, r_mine == 0);
    if (r_mine == 0) {
      taken++;
      ASSERT_EQ(n_lib, n_mine);
      if (n_mine > 0)
        ASSERT_MEM_EQ(lib, mine, n_mine);
    }
  }
  /* Both outcomes were seen many times. */
  ASSERT_GT(taken, 1000);
  ASSERT_LT(taken, 199000);
}


static void test_iso8601(void) {
  static const char* const good[] = {
      "1970-01-01T00:00:00Z",          "2015-08-30T12:36:00Z",
      "2024-02-29T23:59:59.250+00:00", "2026-11-26T05:00:00.1z",
      "2026-11-26 05:00:00Z",          "2026-12-31T23:59:60Z",
      "2000-02-29T00:00:00.999999Z",   "9999-12-31T23:59:59Z"};
  static const char* const bad[] = {"",
                                    "2024-02-29",
                                    "2024-13-01T00:00:00Z",
                                    "2024-01-01T00:00:00+01:00",
                                    "2023-02-29T00:00:00Z",
                                    "2024-04-31T00:00:00Z",
                                    "2024-01-00T00:00:00Z",
                                    "2024-01-01T24:00:00Z",
                                    "2024-01-01T00:60:00Z",
                                    "2024-01-01T00:00:00",
                                    "2024-01-01T00:00:00.Z",
                                    "2024-01-01T00:00:00Zx",
                                    "24-01-01T00:00:00Z",
                                    "2024-1-01T00:00:00Z",
                                    "1900-02-29T00:00:00Z"};
  int64_t mine;
  int64_t lib;
  size_t i;

  ASSERT_OK(iso8601_parse("1970-01-01T00:00:00Z", &mine));
  ASSERT_EQ(0, mine);
  ASSERT_OK(iso8601_parse("2015-08-30T12:36:00Z", &mine));
  ASSERT_EQ(1440938160000, mine);
  ASSERT_OK(iso8601_parse("2024-02-29T23:59:59.250+00:00", &mine));
  ASSERT_EQ(1709251199250, mine);
  for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    ASSERT_OK(iso8601_parse(good[i], &mine));
    ASSERT_OK(kn_parse_iso8601(good[i], &lib));
    ASSERT_EQ(lib, mine);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ASSERT_EQ(-1, iso8601_parse(bad[i], &mine));
}


KN_TEST_MAIN(KN_TEST(test_base64_vectors),
             KN_TEST(test_base64_like_the_library),
             KN_TEST(test_base64_decode_like_the_library),
             KN_TEST(test_iso8601))
