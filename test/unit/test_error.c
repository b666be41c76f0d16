#include "harness.h"

#include "error.h"
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


static void test_error_classes(void) {
  ASSERT_EQ(KINESIS_EEXPIRED,
            kn_error_from_service("ExpiredIteratorException", 400));
  ASSERT_EQ(KINESIS_EEXPIREDTOKEN,
            kn_error_from_service("ExpiredNextTokenException", 400));
  ASSERT_EQ(KINESIS_ELIMIT, kn_error_from_service("LimitExceededException", 400));
  ASSERT_EQ(KINESIS_EINUSE, kn_error_from_service("ResourceInUseException", 400));
  ASSERT_EQ(KINESIS_EACCESS,
            kn_error_from_service("UnrecognizedClientException", 400));
  ASSERT_EQ(KINESIS_ECREDEXPIRED,
            kn_error_from_service("ExpiredTokenException", 400));
  ASSERT_EQ(KINESIS_EKMS, kn_error_from_service("KMSDisabledException", 400));
  ASSERT_EQ(KINESIS_EUNSUPPORTED,
            kn_error_from_service("UnknownOperationException", 400));
  ASSERT_EQ(KINESIS_ESERVICE,
            kn_error_from_service("InternalFailureException", 500));
  ASSERT_EQ(KINESIS_ESVCOTHER, kn_error_from_service("SomethingNew", 400));
  ASSERT(kinesis_err_is_retriable(KINESIS_ETHROUGHPUT));
  ASSERT(kinesis_err_is_retriable(KINESIS_ESERVICE));
  ASSERT(kinesis_err_is_retriable(KINESIS_ELIMIT));
  ASSERT(kinesis_err_is_retriable(KINESIS_ETRANSPORT));
  ASSERT(kinesis_err_is_retriable(KINESIS_ETIMEDOUT));
  ASSERT(!kinesis_err_is_retriable(KINESIS_ENOTFOUND));
  ASSERT(!kinesis_err_is_retriable(KINESIS_EINVALIDARG));
  ASSERT(!kinesis_err_is_retriable(KINESIS_EACCESS));
  ASSERT(!kinesis_err_is_retriable(KINESIS_ECANCELED));
  ASSERT(kinesis_err_is_retriable(KINESIS_ESTORE));
  ASSERT(!kinesis_err_is_retriable(0));
  /* Without a known code, the HTTP status decides. */
  ASSERT_EQ(KINESIS_ESERVICE, kn_error_from_service(NULL, 503));
  ASSERT_EQ(KINESIS_ESERVICE, kn_error_from_service("SomethingNew", 502));
  ASSERT_EQ(KINESIS_ETHROUGHPUT, kn_error_from_service("SomethingNew", 429));
  ASSERT_EQ(KINESIS_ESVCOTHER, kn_error_from_service(NULL, 400));
}


KN_TEST_MAIN(KN_TEST(test_strerror_known), KN_TEST(test_strerror_uv),
             KN_TEST(test_strerror_unknown), KN_TEST(test_version),
             KN_TEST(test_error_classes))
