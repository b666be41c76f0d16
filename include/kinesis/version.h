#ifndef KINESIS_VERSION_H
#define KINESIS_VERSION_H

#define KINESIS_VERSION_MAJOR 0
#define KINESIS_VERSION_MINOR 1
#define KINESIS_VERSION_PATCH 0
#define KINESIS_VERSION_STRING "0.1.0"
/* (major << 16) | (minor << 8) | patch, for compile-time comparisons. */
#define KINESIS_VERSION_HEX                                                   \
  ((KINESIS_VERSION_MAJOR << 16) | (KINESIS_VERSION_MINOR << 8) |             \
   KINESIS_VERSION_PATCH)

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
