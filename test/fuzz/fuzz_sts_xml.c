/*
 * The XML reader for STS answers (kn_sts_xml_text in lib/cred_sts.h). The
 * input is one document; the paths of an AssumeRole answer and of an STS
 * error are looked up in it.
 */

#include "fuzz.h"
#include "cred_sts.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const paths[] = {
      "AssumeRoleResponse/AssumeRoleResult/Credentials/AccessKeyId",
      "AssumeRoleResponse/AssumeRoleResult/Credentials/Expiration",
      /* One literal in parentheses: clang warns of an adjacent pair in an
       * array, which is most often a missing comma. */
      ("AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/"
       "Credentials/SessionToken"),
      "ErrorResponse/Error/Code",
      "ErrorResponse/Error",
      "a",
  };
  size_t i;

  for (i = 0; i < KN_ARRAY_SIZE(paths); i++) {
    char* out = NULL;
    int r = kn_sts_xml_text((const char*) data, size, paths[i], &out);
    CHECK(r == 0 || r == 1 || r == KINESIS_EPROTO || r == KINESIS_ENOMEM);
    CHECK((r == 1) == (out != NULL));
    if (out != NULL) {
      /* The text is never longer than the document. */
      CHECK(strlen(out) <= size);
      kn_free(out);
    }
  }
  return 0;
}
