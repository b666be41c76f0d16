#ifndef KINESIS_HOOKS_H
#define KINESIS_HOOKS_H

/**
 * \file
 * What the whole library shares rather than one object: the allocator it
 * takes its memory from, and the shape of the log hook that
 * kinesis_client_options_t.log receives.
 */

#include <stddef.h>

#include "kinesis/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Works like malloc(); see kinesis_replace_allocator(). */
typedef void* (*kinesis_malloc_func)(size_t size);
/** Works like realloc(); see kinesis_replace_allocator(). */
typedef void* (*kinesis_realloc_func)(void* ptr, size_t size);
/** Works like calloc(); see kinesis_replace_allocator(). */
typedef void* (*kinesis_calloc_func)(size_t count, size_t size);
/** Works like free(); see kinesis_replace_allocator(). */
typedef void (*kinesis_free_func)(void* ptr);

/**
 * Replaces the allocator the library uses for its own memory, like
 * uv_replace_allocator(). Call it before creating any object. libcurl,
 * jansson and mbedTLS keep their own allocators. Returns 0 or KINESIS_EINVAL
 * when a function is NULL.
 */
KINESIS_EXTERN int kinesis_replace_allocator(kinesis_malloc_func malloc_fn,
                                             kinesis_realloc_func realloc_fn,
                                             kinesis_calloc_func calloc_fn,
                                             kinesis_free_func free_fn);

/** How much a log message matters. */
typedef enum {
  KINESIS_LOG_ERROR = 0, /**< Something failed. */
  KINESIS_LOG_WARN,      /**< Something went wrong, and the library goes on. */
  KINESIS_LOG_INFO,      /**< Events worth knowing, such as a shard leased. */
  KINESIS_LOG_DEBUG      /**< Details for debugging. */
} kinesis_log_level_t;

/** Receives the library's log messages; `message` is valid during the call
 *  and never contains credentials. */
typedef void (*kinesis_log_cb)(kinesis_log_level_t level, const char* message,
                               void* user_data);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_HOOKS_H */
