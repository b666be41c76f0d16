#include "retry.h"

#include "internal.h"

#include <string.h>


uint64_t kn_rng_next(uint64_t* state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}


uint64_t kn_retry_backoff_ms(const kn_retry_policy_t* policy, uint32_t attempt,
                             uint64_t* rng) {
  uint64_t ceiling = policy->base_ms;
  uint32_t i;

  if (attempt == 0)
    attempt = 1;
  for (i = 1; i < attempt && ceiling < policy->cap_ms; i++)
    ceiling *= 2;
  if (ceiling > policy->cap_ms)
    ceiling = policy->cap_ms;
  return kn_rng_next(rng) % (ceiling + 1);
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
