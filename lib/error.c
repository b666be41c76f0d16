#include "error.h"
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


int kinesis_err_is_retriable(int err) {
  switch (err) {
    case KINESIS_ETHROUGHPUT:
    case KINESIS_ESERVICE:
    case KINESIS_ELIMIT:
    case KINESIS_ETRANSPORT:
    case KINESIS_ETIMEDOUT:
    case KINESIS_ESTORE:
      return 1;
    default:
      return 0;
  }
}


typedef struct {
  const char* code;
  int err;
} kn_code_map_t;

static const kn_code_map_t code_map[] = {
    {"ProvisionedThroughputExceededException", KINESIS_ETHROUGHPUT},
    {"KMSThrottlingException", KINESIS_ETHROUGHPUT},
    {"ThrottlingException", KINESIS_ETHROUGHPUT},
    {"Throttling", KINESIS_ETHROUGHPUT},
    {"RequestLimitExceeded", KINESIS_ETHROUGHPUT},
    {"TooManyRequestsException", KINESIS_ETHROUGHPUT},
    {"LimitExceededException", KINESIS_ELIMIT},
    {"ResourceNotFoundException", KINESIS_ENOTFOUND},
    {"ExpiredIteratorException", KINESIS_EEXPIRED},
    {"ExpiredNextTokenException", KINESIS_EEXPIREDTOKEN},
    {"ResourceInUseException", KINESIS_EINUSE},
    {"InvalidArgumentException", KINESIS_EINVALIDARG},
    {"ValidationException", KINESIS_EINVALIDARG},
    {"SerializationException", KINESIS_EINVALIDARG},
    {"AccessDeniedException", KINESIS_EACCESS},
    {"UnrecognizedClientException", KINESIS_EACCESS},
    {"InvalidSignatureException", KINESIS_EACCESS},
    {"IncompleteSignatureException", KINESIS_EACCESS},
    {"MissingAuthenticationTokenException", KINESIS_EACCESS},
    {"SignatureDoesNotMatch", KINESIS_EACCESS},
    {"ExpiredTokenException", KINESIS_ECREDEXPIRED},
    {"KMSDisabledException", KINESIS_EKMS},
    {"KMSInvalidStateException", KINESIS_EKMS},
    {"KMSAccessDeniedException", KINESIS_EKMS},
    {"KMSNotFoundException", KINESIS_EKMS},
    {"KMSOptInRequired", KINESIS_EKMS},
    {"UnknownOperationException", KINESIS_EUNSUPPORTED},
    {"InternalFailure", KINESIS_ESERVICE},
    {"InternalFailureException", KINESIS_ESERVICE},
    {"InternalServerError", KINESIS_ESERVICE},
    {"ServiceUnavailable", KINESIS_ESERVICE},
    {"ServiceUnavailableException", KINESIS_ESERVICE},
    {"RequestTimeout", KINESIS_ESERVICE},
    {"RequestTimeoutException", KINESIS_ESERVICE},
};


int kn_error_from_service(const char* code, long http_status) {
  size_t i;
  if (code != NULL)
    for (i = 0; i < KN_ARRAY_SIZE(code_map); i++)
      if (strcmp(code, code_map[i].code) == 0)
        return code_map[i].err;
  if (http_status == 429)
    return KINESIS_ETHROUGHPUT;
  if (http_status >= 500 || http_status == 509)
    return KINESIS_ESERVICE;
  if (http_status == 413)
    return KINESIS_EINVALIDARG;
  return KINESIS_ESVCOTHER;
}


size_t kn_error_message_len(const char* m, int first_line) {
  static const char* const stops[] = {
      "The Canonical String", "Canonical String", "The canonical request",
      "canonical request",    "Canonical Request", "x-amz-security-token"};
  size_t n = first_line ? strcspn(m, "\r\n") : strlen(m);
  size_t i;
  for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
    const char* at = strstr(m, stops[i]);
    if (at != NULL && (size_t) (at - m) < n)
      n = (size_t) (at - m);
  }
  while (n > 0 && strchr(" \t\r\n.:;", m[n - 1]) != NULL)
    n--;
  return n;
}
