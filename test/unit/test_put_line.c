/*
 * tools/put_line.c: the lines of `kinesis put --format json`. The command
 * parses them itself, with jansson; this executable builds that file.
 */

#include "harness.h"

#include "put_line.h"

#include <kinesis.h>


#define LINE(s) (s), strlen(s)


static void test_put_lines(void) {
  put_line_t l;
  ASSERT_OK(put_line_parse(LINE("{\"data\":\"hi\\nthere\"}"), &l));
  ASSERT_EQ(8, l.len);
  ASSERT_MEM_EQ("hi\nthere", l.data, 8);
  ASSERT_NULL(l.partition_key);
  ASSERT_NULL(l.explicit_hash_key);
  put_line_clear(&l);
  ASSERT_OK(
      put_line_parse(LINE("{\"data_b64\":\"AAEC\",\"partition_key\":\"k\","
                          "\"explicit_hash_key\":\"7\",\"extra\":1}"),
                     &l));
  ASSERT_EQ(3, l.len);
  ASSERT_MEM_EQ("\0\1\2", l.data, 3);
  ASSERT_STR_EQ("k", l.partition_key);
  ASSERT_STR_EQ("7", l.explicit_hash_key);
  put_line_clear(&l);
  /* Empty data, as text and as base64: a record of 0 bytes. */
  ASSERT_OK(put_line_parse(LINE("{\"data\":\"\"}"), &l));
  ASSERT_EQ(0, l.len);
  ASSERT_NOT_NULL(l.data);
  put_line_clear(&l);
  ASSERT_OK(put_line_parse(LINE("{\"data_b64\":\"\"}"), &l));
  ASSERT_EQ(0, l.len);
  put_line_clear(&l);
  ASSERT_OK(put_line_parse(LINE(" {\"data_b64\" : \"YWI=\"} "), &l));
  ASSERT_EQ(2, l.len);
  ASSERT_MEM_EQ("ab", l.data, 2);
  put_line_clear(&l);
  /* JSON's escapes and UTF-8 in the text and the key. */
  ASSERT_OK(put_line_parse(
      LINE("{\"data\":\"caf\\u00e9\",\"partition_key\":\"\\u65e5\"}"), &l));
  ASSERT_EQ(5, l.len);
  ASSERT_MEM_EQ("caf\xc3\xa9", l.data, 5);
  ASSERT_STR_EQ("\xe6\x97\xa5", l.partition_key);
  put_line_clear(&l);
}


static void test_put_lines_refused(void) {
  put_line_t l;
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("nope"), &l));
  ASSERT_STR_EQ("not a JSON object", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("[1]"), &l));
  ASSERT_STR_EQ("not a JSON object", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("{}"), &l));
  ASSERT_STR_EQ("needs exactly one of \"data\" and \"data_b64\"", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL,
            put_line_parse(LINE("{\"data\":\"a\",\"data_b64\":\"YQ==\"}"), &l));
  ASSERT_STR_EQ("needs exactly one of \"data\" and \"data_b64\"", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("{\"data\":5}"), &l));
  ASSERT_STR_EQ("\"data\" must be a string", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("{\"data_b64\":null}"), &l));
  ASSERT_STR_EQ("\"data_b64\" must be a string", l.error);
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("{\"data_b64\":\"!!\"}"), &l));
  ASSERT_STR_EQ("\"data_b64\" is not base64", l.error);
  put_line_clear(&l);
  /* Unpadded, and bits under the padding: one value, one encoding. */
  ASSERT_EQ(KINESIS_EINVAL, put_line_parse(LINE("{\"data_b64\":\"YQ\"}"), &l));
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL,
            put_line_parse(LINE("{\"data_b64\":\"YR==\"}"), &l));
  put_line_clear(&l);
  ASSERT_EQ(KINESIS_EINVAL,
            put_line_parse(LINE("{\"data\":\"a\",\"partition_key\":[1]}"), &l));
  ASSERT_STR_EQ("\"partition_key\" must be a string", l.error);
  put_line_clear(&l);
  ASSERT_EQ(
      KINESIS_EINVAL,
      put_line_parse(LINE("{\"data\":\"a\",\"explicit_hash_key\":7}"), &l));
  ASSERT_STR_EQ("\"explicit_hash_key\" must be a string", l.error);
  put_line_clear(&l);
  /* Two objects on one line are not one. */
  ASSERT_EQ(KINESIS_EINVAL,
            put_line_parse(LINE("{\"data\":\"a\"}{\"data\":\"b\"}"), &l));
  put_line_clear(&l);
}


KN_TEST_MAIN(KN_TEST(test_put_lines), KN_TEST(test_put_lines_refused))
