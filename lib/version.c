#include "kinesis/version.h"

/* The version of the library linked at run time, which a program may
 * compare with the KINESIS_VERSION_* of the headers it was built with. */


const char* kinesis_version_string(void) {
  return KINESIS_VERSION_STRING;
}


unsigned kinesis_version(void) {
  return KINESIS_VERSION_HEX;
}
