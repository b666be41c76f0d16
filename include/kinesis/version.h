#ifndef KINESIS_VERSION_H
#define KINESIS_VERSION_H

/**
 * \file
 * The version of the headers and of the library linked at run time, and
 * KINESIS_EXTERN.
 */

#define KINESIS_VERSION_MAJOR 0 /**< The headers' major version. */
#define KINESIS_VERSION_MINOR 9 /**< The headers' minor version. */
#define KINESIS_VERSION_PATCH 0 /**< The headers' patch version. */
/** The headers' version, as "MAJOR.MINOR.PATCH". */
#define KINESIS_VERSION_STRING "0.9.0"
/** (major << 16) | (minor << 8) | patch, for compile-time comparisons. */
#define KINESIS_VERSION_HEX                                                   \
  ((KINESIS_VERSION_MAJOR << 16) | (KINESIS_VERSION_MINOR << 8) |             \
   KINESIS_VERSION_PATCH)

/**
 * \def KINESIS_EXTERN
 * Marks a public function. The library is built with hidden symbols; with
 * GCC and clang this gives the function default visibility, so that it is
 * exported. Empty elsewhere.
 */
#if defined(_WIN32)
#define KINESIS_EXTERN
#elif defined(__GNUC__) || defined(__clang__)
#define KINESIS_EXTERN __attribute__((visibility("default")))
#else
#define KINESIS_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** The version of the library linked at run time, as "MAJOR.MINOR.PATCH". */
KINESIS_EXTERN const char* kinesis_version_string(void);

/** The version of the library linked at run time, as KINESIS_VERSION_HEX. */
KINESIS_EXTERN unsigned kinesis_version(void);

#ifdef __cplusplus
}
#endif

#endif /* KINESIS_VERSION_H */
