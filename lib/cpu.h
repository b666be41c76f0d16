#ifndef KN_CPU_H
#define KN_CPU_H

/* What the CPU (and the OS) offer to the fast paths of buf.c (base64) and
 * crypto.c (SHA-256, MD5), probed once and cached. Always 0 off x86-64 or
 * without GCC or clang. */

/* 1 when the CPU and the OS support AVX2 (base64 and the MD5 batch use it),
 * and acceleration is allowed. */
int kn_cpu_has_avx2(void);

/* 1 when the CPU has the SHA extensions, with the SSSE3 and SSE4.1 that
 * SHA-256 on them also needs, and acceleration is allowed. */
int kn_cpu_has_shani(void);

/* Tests and benchmarks turn every fast path off with
 * kn_cpu_allow_acceleration(0), to exercise the portable code (mbedTLS, the
 * scalar base64). Switch only while no SHA-256 context is open: a context
 * keeps the path it started on. */
void kn_cpu_allow_acceleration(int allow);

#endif /* KN_CPU_H */
