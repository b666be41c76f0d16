/*
 * What the container and instance metadata services answer with: the
 * credential document (kn_codec_parse_credentials) and, on its own, the
 * ISO 8601 time of its Expiration (kn_parse_iso8601), which takes a
 * NUL-terminated string.
 */

#include "fuzz.h"
#include "codec.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kn_codec_creds_t creds;
  int64_t ms;
  char* text;
  int r = kn_codec_parse_credentials(data, size, &creds);

  CHECK(r == 0 || r == KINESIS_EPROTO || r == KINESIS_ENOMEM);
  if (r == 0) {
    CHECK(creds.access_key_id != NULL && creds.access_key_id[0] != '\0');
    CHECK(creds.secret_access_key != NULL &&
          creds.secret_access_key[0] != '\0');
  } else {
    CHECK(creds.access_key_id == NULL && creds.session_token == NULL);
  }
  kn_codec_creds_clear(&creds);

  text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  r = kn_parse_iso8601(text, &ms);
  CHECK(r == 0 || r == KINESIS_EINVAL);
  free(text);
  return 0;
}
