/*
 * One line of `kinesis put --format json` (put_line_parse(), in the
 * command's tools/put_line.c): the command reads these from files and
 * pipes it does not control.
 */

#include "fuzz.h"
#include "put_line.h"

#include <kinesis.h>

#include <stdlib.h>
#include <string.h>


int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  put_line_t line;
  int r = put_line_parse((const char*) data, size, &line);

  CHECK(r == 0 || r == KINESIS_EINVAL || r == KINESIS_ENOMEM);
  if (r == 0)
    CHECK(line.data != NULL);
  else
    CHECK(line.error[0] != '\0' &&
          memchr(line.error, '\0', sizeof(line.error)) != NULL);
  put_line_clear(&line);
  return 0;
}
