/*
 * One line of `kinesis put --format json` (kn_codec_parse_put_line): the
 * CLI reads these from files and pipes it does not control.
 */

#include "codec.h"
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      abort();                                                                \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kn_put_line_t line;
  int r = kn_codec_parse_put_line((const char*) data, size, &line);

  CHECK(r == 0 || r == KINESIS_EINVAL || r == KINESIS_ENOMEM);
  if (r == 0)
    CHECK(line.data != NULL);
  else
    CHECK(line.error[0] != '\0' &&
          memchr(line.error, '\0', sizeof(line.error)) != NULL);
  kn_put_line_clear(&line);
  return 0;
}
