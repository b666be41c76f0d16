#ifndef KN_FUZZ_H
#define KN_FUZZ_H

/* What every harness of test/fuzz/ shares: the entry point libFuzzer (or
 * replay.c) calls, and CHECK, which aborts, a crash for libFuzzer, when a
 * parser breaks a promise about an input it accepted. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond))                                                              \
      abort();                                                                \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

#endif /* KN_FUZZ_H */
