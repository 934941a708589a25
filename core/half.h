/* half.h: fp16 (IEEE binary16) and bf16 <-> fp32 conversions, inline, portable C.
 *
 * Core files are compiled without ISA flags, so this is integer bit manipulation
 * rather than F16C; gemm_avx2.c / gemm_vnni.c may use their own intrinsics and
 * are tested against these. Narrowing rounds to nearest, ties to even (as
 * torch's .half() / .bfloat16() do); NaN stays NaN (made quiet), overflow goes
 * to Inf, fp16 subnormals are produced and read exactly.
 *
 *     uint16_t h = half_f32_to_f16(0.1f);     // 0x2e66
 *     float f = half_f16_to_f32(h);           // 0.0999755859375f
 *     half_bf16_to_f32_row(src_bf16, dst_f32, n);
 *
 * Thread-safety: pure functions.
 */
#ifndef TF_CORE_HALF_H
#define TF_CORE_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t half__bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float half__float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float half_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return half__float(sign | 0x7f800000u | (man << 13)); /* Inf, NaN payload kept */
    if (exp != 0) return half__float(sign | ((exp + 112u) << 23) | (man << 13)); /* 127-15 = 112 */
    /* Zero or subnormal: man * 2^-24 is exact in fp32 (at most 10 significant bits). */
    float mag = (float)man * 0x1p-24f;
    return sign ? -mag : mag;
}

static inline uint16_t half_f32_to_f16(float f) {
    uint32_t x = half__bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) /* NaN: keep the top payload bits, force quiet so it cannot become Inf */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    /* 65520 is halfway between 65504 (max half, odd mantissa) and 2^16: ties-to-even gives Inf. */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) { /* normal in fp16 (>= 2^-14) */
        uint32_t r = ax - 0x38000000u; /* rebias the exponent by 112 */
        /* A mantissa carry runs into the exponent, which is the correct rounding. */
        r += 0xfffu + ((r >> 13) & 1u);
        return (uint16_t)(sign | (r >> 13));
    }
    if (ax < 0x33000000u) return sign; /* <= 2^-25 (half the smallest subnormal, a tie to 0) */
    /* Subnormal result: value / 2^-24 = m * 2^(e-126), rounded to nearest even. */
    uint32_t e = ax >> 23;
    uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* 14..24 */
    uint32_t q = m >> shift;
    uint32_t rem = m & ((1u << shift) - 1u);
    uint32_t halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (q & 1u))) q++; /* q may reach 0x400: smallest normal */
    return (uint16_t)(sign | q);
}

static inline float half_bf16_to_f32(uint16_t b) {
    return half__float((uint32_t)b << 16);
}

static inline uint16_t half_f32_to_bf16(float f) {
    uint32_t x = half__bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    x += 0x7fffu + ((x >> 16) & 1u); /* overflow past the max finite carries into Inf, as it should */
    return (uint16_t)(x >> 16);
}

/* Row converters; src and dst must not overlap. */
static inline void half_f16_to_f32_row(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_f16_to_f32(src[i]);
}

static inline void half_bf16_to_f32_row(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_bf16_to_f32(src[i]);
}

static inline void half_f32_to_f16_row(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_f32_to_f16(src[i]);
}

static inline void half_f32_to_bf16_row(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_f32_to_bf16(src[i]);
}

#endif
