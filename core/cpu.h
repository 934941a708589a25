/* cpu.h: which SIMD instruction set the int8 kernels may use (module prefix cpu_).
 *
 * cpu_isa() detects once (cpuid + xgetbv, so an OS that does not save the
 * AVX-512 state counts as no AVX-512) and honours TF_FORCE_ISA=ref|avx2|vnni,
 * which can only lower the choice: forcing an ISA the CPU lacks falls back to
 * the best one it has, with a one-time warning on stderr.
 *
 *     tf_isa isa = cpu_isa();
 *     printf("kernels: %s on %d cpus\n", cpu_isa_name(isa), cpu_count_online());
 *
 * Thread-safety: all functions may be called from any thread.
 */
#ifndef TF_CORE_CPU_H
#define TF_CORE_CPU_H

typedef enum tf_isa {
    TF_ISA_REF = 0,  /* portable C */
    TF_ISA_AVX2 = 1, /* AVX2 + FMA */
    TF_ISA_VNNI = 2, /* AVX-512 F/BW/VL/DQ + VNNI */
    TF_ISA_COUNT
} tf_isa;

/* The ISA the kernels use: detected, then lowered by TF_FORCE_ISA. Cached. */
tf_isa cpu_isa(void);
/* The best ISA this CPU and OS support, ignoring the environment. */
tf_isa cpu_isa_detect(void);
/* 1 when the CPU can run kernels of `isa`. */
int cpu_isa_supported(tf_isa isa);
/* "ref", "avx2", "vnni"; "?" for anything else. */
const char *cpu_isa_name(tf_isa isa);
/* Parses a name as accepted by TF_FORCE_ISA; returns -1 when unknown. */
int cpu_isa_parse(const char *name);
/* What TF_FORCE_ISA=force makes of `best`: lower ISAs are honoured, higher or
 * unknown ones give `best` (with a line on stderr when warn). */
tf_isa cpu_isa_resolve(tf_isa best, const char *force, int warn);
/* Online logical CPUs, at least 1. */
int cpu_count_online(void);

#endif
