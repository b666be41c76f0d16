#ifndef KINESIS_ERRNO_H
#define KINESIS_ERRNO_H

/**
 * \file
 * Error codes: 0 or a negative KINESIS_E* code, returned by every function
 * that can fail and passed to callbacks as `status`, and their names and
 * descriptions.
 */

#include <uv.h>

#include "kinesis/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The library's own errors and the Kinesis service errors, one
 * XX(name, value, description) each; kinesis_errno_t has a KINESIS_name
 * for each, and kinesis_strerror() gives the description.
 *
 * Library-local errors use [-30999, -30000]. Kinesis service errors, mapped
 * from the response's __type, use [-31999, -31000]. System-level errors are
 * libuv's own values, so a libuv failure passes through unchanged.
 */
#define KINESIS_ERRNO_MAP(XX)                                                 \
  XX(EQUEUEFULL, -30001, "producer buffer is full")                           \
  XX(ECLOSING, -30002, "object is closing")                                   \
  XX(ETRANSPORT, -30003, "HTTP transport failure")                            \
  XX(EPROTO, -30004, "malformed service response")                            \
  XX(ENOCREDS, -30005, "no AWS credentials found")                            \
  XX(ENOREGION, -30006, "no AWS region configured")                           \
  XX(ETLS, -30007, "TLS certificate or handshake failure")                    \
  XX(ELEASED, -30008, "shard lease held by another consumer")                 \
  XX(ELEASELOST, -30009, "shard lease lost to another consumer")              \
  XX(ESTORE, -30010, "checkpoint store unreachable or failed")                \
  XX(ETHROUGHPUT, -31001, "provisioned throughput exceeded")                  \
  XX(ENOTFOUND, -31002, "stream or shard not found")                          \
  XX(EEXPIRED, -31003, "shard iterator expired")                              \
  XX(ESERVICE, -31004, "service-side failure (5xx)")                          \
  XX(ELIMIT, -31005, "limit exceeded")                                        \
  XX(EINUSE, -31006, "resource in use (stream not ACTIVE)")                   \
  XX(EINVALIDARG, -31007, "request rejected as invalid")                      \
  XX(EACCESS, -31008, "access denied or bad credentials")                     \
  XX(EKMS, -31009, "KMS error")                                               \
  XX(EEXPIREDTOKEN, -31010, "pagination token expired")                       \
  XX(EUNSUPPORTED, -31011, "not supported by the server or this library")     \
  XX(ECREDEXPIRED, -31012, "security token expired")                          \
  XX(ESVCOTHER, -31999, "other service error; see message")

/**
 * The error codes: KINESIS_OK; the system errors below, whose values are
 * libuv's (UV_ENOMEM and so on); and one for each entry of
 * KINESIS_ERRNO_MAP (KINESIS_EQUEUEFULL, KINESIS_ECLOSING, and so on), with
 * the value and description given there.
 */
typedef enum {
  KINESIS_OK = 0,                   /**< Success. */
  KINESIS_ENOMEM = UV_ENOMEM,       /**< Out of memory. */
  KINESIS_EINVAL = UV_EINVAL,       /**< An invalid argument. */
  KINESIS_ECANCELED = UV_ECANCELED, /**< Canceled, as by a close. */
  KINESIS_ETIMEDOUT = UV_ETIMEDOUT, /**< Timed out. */
  /** Still in use, such as a client whose producers are still open. */
  KINESIS_EBUSY = UV_EBUSY,
  /** Already done or under way, such as a second close. */
  KINESIS_EALREADY = UV_EALREADY,
/* Doxygen skips these: the reference lists them with KINESIS_ERRNO_MAP. */
/** \cond */
#define XX(name, val, _) KINESIS_##name = (val),
  KINESIS_ERRNO_MAP(XX)
#undef XX
/** \endcond */
} kinesis_errno_t;

/**
 * A static description of `err`. Never allocates; unknown codes give
 * "unknown error". libuv error codes are described by libuv's table.
 */
KINESIS_EXTERN const char* kinesis_strerror(int err);

/**
 * The static name of `err`, such as "KINESIS_EQUEUEFULL". Never allocates;
 * unknown codes give "KINESIS_UNKNOWN".
 */
KINESIS_EXTERN const char* kinesis_err_name(int err);

/**
 * 1 when a request that failed with `err` may succeed if sent again
 * (throttling, 5xx, transport errors, timeouts), else 0.
 */
KINESIS_EXTERN int kinesis_err_is_retriable(int err);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_ERRNO_H */
