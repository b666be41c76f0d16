/*
 * kinesis_record_validate(), through the public header only: what it
 * accepts and refuses is what kinesis_producer_put() refuses before it
 * looks at the stream.
 */

#include "harness.h"

#include <kinesis.h>


static kinesis_record_t record(const void* data, size_t len, const char* pk,
                               const char* ehk) {
  kinesis_record_t r;
  memset(&r, 0, sizeof(r));
  r.data = data;
  r.len = len;
  r.partition_key = pk;
  r.explicit_hash_key = ehk;
  return r;
}


static void test_record_keys(void) {
  kinesis_record_t r;
  char key[600];
  size_t i;

  r = record("x", 1, "k", NULL);
  ASSERT_OK(kinesis_record_validate(&r));
  r = record(NULL, 0, "k", NULL);
  ASSERT_OK(kinesis_record_validate(&r));
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(NULL));
  r = record("x", 1, NULL, NULL);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r = record("x", 1, "", NULL);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r = record("x", 1, "\xff", NULL);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r = record("x", 1, "\xed\xa0\x80", NULL); /* a surrogate */
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  /* 256 characters, and one more. */
  memset(key, 'a', 257);
  key[256] = '\0';
  r = record("x", 1, key, NULL);
  ASSERT_OK(kinesis_record_validate(&r));
  key[256] = 'a';
  key[257] = '\0';
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  /* 128 U+1F600 are 256 UTF-16 code units; 129 are too many. */
  for (i = 0; i < 129; i++)
    memcpy(key + 4 * i, "\xf0\x9f\x98\x80", 4);
  key[128 * 4] = '\0';
  ASSERT_OK(kinesis_record_validate(&r));
  key[128 * 4] = '\xf0';
  key[129 * 4] = '\0';
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));

  r = record("x", 1, "k", "0");
  ASSERT_OK(kinesis_record_validate(&r));
  r.explicit_hash_key = "340282366920938463463374607431768211455";
  ASSERT_OK(kinesis_record_validate(&r));
  r.explicit_hash_key = "340282366920938463463374607431768211456";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r.explicit_hash_key = "01";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r.explicit_hash_key = "-1";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r.explicit_hash_key = "";
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
}


static void test_record_size(void) {
  const size_t max = (size_t) KINESIS_MAX_MAX_RECORD_SIZE_KIB * 1024;
  kinesis_record_t r;

  /* The data is not read: only its length counts. */
  r = record("", max - 2, "kk", NULL);
  ASSERT_OK(kinesis_record_validate(&r));
  r.len = max - 1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r.len = (size_t) -1;
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
  r = record(NULL, 1, "k", NULL);
  ASSERT_EQ(KINESIS_EINVAL, kinesis_record_validate(&r));
}


KN_TEST_MAIN(KN_TEST(test_record_keys), KN_TEST(test_record_size))
