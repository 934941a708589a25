/* DESIGN: detection reads cpuid leaves 1 and 7 and checks with xgetbv that the
 * OS saves the YMM (and for VNNI the opmask/ZMM) state; without that check a
 * kernel could fault or corrupt registers on a kernel/hypervisor that hides
 * AVX-512. The result is computed once; races on the cache are benign because
 * every thread computes the same value. */
#include "core/cpu.h"

#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const isa_names[TF_ISA_COUNT] = {
    [TF_ISA_REF] = "ref",
    [TF_ISA_AVX2] = "avx2",
    [TF_ISA_VNNI] = "vnni",
};

static uint64_t read_xcr0(void) {
    uint32_t lo, hi;
    /* xgetbv by opcode so that this file needs no -mxsave. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

tf_isa cpu_isa_detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return TF_ISA_REF;
    int has_osxsave = (c >> 27) & 1, has_fma = (c >> 12) & 1, has_f16c = (c >> 29) & 1;
    if (!has_osxsave) return TF_ISA_REF;
    uint64_t xcr0 = read_xcr0();
    int os_ymm = (xcr0 & 0x6) == 0x6;       /* SSE + AVX state */
    int os_zmm = (xcr0 & 0xe6) == 0xe6;     /* + opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7) return TF_ISA_REF;
    __cpuid_count(7, 0, a, b, c, d);
    int has_avx2 = (b >> 5) & 1;
    int has_avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1);
    int has_vnni = (c >> 11) & 1;
    if (!os_ymm || !has_avx2 || !has_fma || !has_f16c) return TF_ISA_REF;
    if (os_zmm && has_avx512 && has_vnni) return TF_ISA_VNNI;
    return TF_ISA_AVX2;
}

int cpu_isa_supported(tf_isa isa) {
    return (int)isa >= 0 && isa < TF_ISA_COUNT && isa <= cpu_isa_detect();
}

const char *cpu_isa_name(tf_isa isa) {
    return (int)isa >= 0 && isa < TF_ISA_COUNT ? isa_names[isa] : "?";
}

int cpu_isa_parse(const char *name) {
    for (int i = 0; name && i < TF_ISA_COUNT; i++)
        if (strcmp(name, isa_names[i]) == 0) return i;
    return -1;
}

tf_isa cpu_isa_resolve(tf_isa best, const char *force, int warn) {
    if (!force || !*force) return best;
    int want = cpu_isa_parse(force);
    if (want < 0) {
        if (warn)
            fprintf(stderr, "transformerd: TF_FORCE_ISA=%s unknown (ref|avx2|vnni), using %s\n",
                    force, cpu_isa_name(best));
        return best;
    }
    if (want > (int)best) {
        if (warn)
            fprintf(stderr, "transformerd: TF_FORCE_ISA=%s not supported by this CPU, using %s\n",
                    force, cpu_isa_name(best));
        return best;
    }
    return (tf_isa)want;
}

static int isa_cached = -1;

tf_isa cpu_isa(void) {
    int isa = __atomic_load_n(&isa_cached, __ATOMIC_ACQUIRE);
    if (isa >= 0) return (tf_isa)isa;
    isa = cpu_isa_resolve(cpu_isa_detect(), getenv("TF_FORCE_ISA"), 1);
    /* Racing first callers may each warn once; later callers see the cache. */
    int expected = -1;
    if (!__atomic_compare_exchange_n(&isa_cached, &expected, isa, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        isa = expected;
    return (tf_isa)isa;
}

int cpu_count_online(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
