#include "cpu.h"
#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KN_HAVE_CPUID 1
#include <cpuid.h>
#endif

static int accel_allowed = 1;

#ifdef KN_HAVE_CPUID
#define CPU_PROBED 1
#define CPU_SHANI 2
#define CPU_AVX2 4

/* What the CPU (and the OS) offer, probed once. Relaxed atomics: programs
 * may run loops in several threads, any of which may probe first, and all
 * store the same value. */
static int cpu_features(void) {
  static int features;
  int f = __atomic_load_n(&features, __ATOMIC_RELAXED);
  unsigned a, b, c, d;
  unsigned c1;

  if (f != 0)
    return f;
  f = CPU_PROBED;
  if (__get_cpuid(1, &a, &b, &c1, &d) &&
      __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    /* SHA (leaf 7, EBX bit 29), with SSSE3 (leaf 1, ECX bit 9) and SSE4.1
     * (bit 19), which the shuffles and blends of crypto.c's shani_blocks()
     * need. */
    if ((b & (1u << 29)) && (c1 & (1u << 9)) && (c1 & (1u << 19)))
      f |= CPU_SHANI;
    /* AVX2 (leaf 7, EBX bit 5), and an OS that saves the AVX registers:
     * OSXSAVE (leaf 1, ECX bit 27), then XCR0 with SSE and AVX state. */
    if ((b & (1u << 5)) && (c1 & (1u << 27))) {
      unsigned lo;
      unsigned hi;
      __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      (void) hi;
      if ((lo & 6u) == 6u)
        f |= CPU_AVX2;
    }
  }
  __atomic_store_n(&features, f, __ATOMIC_RELAXED);
  return f;
}
#endif


void kn_cpu_allow_acceleration(int allow) {
  accel_allowed = allow != 0;
}


int kn_cpu_has_avx2(void) {
#ifdef KN_HAVE_CPUID
  return accel_allowed && (cpu_features() & CPU_AVX2) != 0;
#else
  return 0;
#endif
}


int kn_cpu_has_shani(void) {
#ifdef KN_HAVE_CPUID
  return accel_allowed && (cpu_features() & CPU_SHANI) != 0;
#else
  return 0;
#endif
}
