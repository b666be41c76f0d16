#include "internal.h"

#include <string.h>


/* libuv's own table, without uv_strerror(), which allocates for unknown
 * codes and never frees. */
static const char* uv_error_message(int err) {
  switch (err) {
#define XX(code, msg)                                                         \
  case UV_##code:                                                             \
    return msg;
    UV_ERRNO_MAP(XX)
#undef XX
    default:
      return "unknown error";
  }
}


static const char* uv_error_name(int err) {
  switch (err) {
#define XX(code, _)                                                           \
  case UV_##code:                                                             \
    return "UV_" #code;
    UV_ERRNO_MAP(XX)
#undef XX
    default:
      return "KINESIS_UNKNOWN";
  }
}

const char* kinesis_strerror(int err) {
  switch (err) {
    case 0:
      return "success";
#define XX(name, _, msg)                                                      \
  case KINESIS_##name:                                                        \
    return msg;
    KINESIS_ERRNO_MAP(XX)
#undef XX
    default:
      break;
  }
  return uv_error_message(err);
}


const char* kinesis_err_name(int err) {
  switch (err) {
    case 0:
      return "KINESIS_OK";
    case KINESIS_ENOMEM:
      return "KINESIS_ENOMEM";
    case KINESIS_EINVAL:
      return "KINESIS_EINVAL";
    case KINESIS_ECANCELED:
      return "KINESIS_ECANCELED";
    case KINESIS_ETIMEDOUT:
      return "KINESIS_ETIMEDOUT";
    case KINESIS_EBUSY:
      return "KINESIS_EBUSY";
    case KINESIS_EALREADY:
      return "KINESIS_EALREADY";
#define XX(name, _, __)                                                       \
  case KINESIS_##name:                                                        \
    return "KINESIS_" #name;
      KINESIS_ERRNO_MAP(XX)
#undef XX
    default:
      return uv_error_name(err);
  }
}


const char* kinesis_version_string(void) {
  return KINESIS_VERSION_STRING;
}


unsigned kinesis_version(void) {
  return KINESIS_VERSION_HEX;
}
