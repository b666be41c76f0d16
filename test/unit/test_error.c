#include "harness.h"
#include "internal.h"


static void test_strerror_known(void) {
  ASSERT_STR_EQ("producer buffer is full", kinesis_strerror(KINESIS_EQUEUEFULL));
  ASSERT_STR_EQ("KINESIS_EQUEUEFULL", kinesis_err_name(KINESIS_EQUEUEFULL));
  ASSERT_STR_EQ("KINESIS_ENOTFOUND", kinesis_err_name(KINESIS_ENOTFOUND));
  ASSERT_STR_EQ("success", kinesis_strerror(0));
  ASSERT_STR_EQ("KINESIS_OK", kinesis_err_name(0));
}


static void test_strerror_uv(void) {
  ASSERT_STR_EQ(uv_strerror(UV_ECONNRESET), kinesis_strerror(UV_ECONNRESET));
  ASSERT_STR_EQ("UV_ECONNRESET", kinesis_err_name(UV_ECONNRESET));
  ASSERT_STR_EQ("KINESIS_ENOMEM", kinesis_err_name(KINESIS_ENOMEM));
  ASSERT_STR_EQ(uv_strerror(UV_ENOMEM), kinesis_strerror(KINESIS_ENOMEM));
}


static void test_strerror_unknown(void) {
  /* Unknown codes get static strings: nothing is allocated, nothing leaks. */
  ASSERT_STR_EQ("unknown error", kinesis_strerror(-29999));
  ASSERT_STR_EQ("unknown error", kinesis_strerror(12345));
  ASSERT_STR_EQ("KINESIS_UNKNOWN", kinesis_err_name(-31500));
}


static void test_version(void) {
  ASSERT_STR_EQ(KINESIS_VERSION_STRING, kinesis_version_string());
  ASSERT_EQ(KINESIS_VERSION_HEX, kinesis_version());
}


KN_TEST_MAIN(KN_TEST(test_strerror_known), KN_TEST(test_strerror_uv),
             KN_TEST(test_strerror_unknown), KN_TEST(test_version))
