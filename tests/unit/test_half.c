/* Tests for core/half.h. The fp16 reference is the compiler's _Float16 (GCC >= 12 on
 * x86-64 converts through libgcc with IEEE round-to-nearest-even), an implementation
 * independent of ours. bf16 has no such type in GCC 12, so it is checked against the
 * definition: the nearest bf16 by real distance, ties to the even mantissa. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/half.h"

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

START_TEST(f16_known_values) {
    ck_assert_uint_eq(half_f32_to_f16(1.0f), 0x3c00);
    ck_assert_uint_eq(half_f32_to_f16(-2.0f), 0xc000);
    ck_assert_uint_eq(half_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(half_f32_to_f16(65519.0f), 0x7bff);  /* below the midpoint */
    ck_assert_uint_eq(half_f32_to_f16(65520.0f), 0x7c00);  /* midpoint, odd mantissa: to Inf */
    ck_assert_uint_eq(half_f32_to_f16(INFINITY), 0x7c00);
    ck_assert_uint_eq(half_f32_to_f16(-INFINITY), 0xfc00);
    ck_assert_uint_eq(half_f32_to_f16(0x1p-24f), 0x0001);  /* smallest subnormal */
    ck_assert_uint_eq(half_f32_to_f16(0x1p-25f), 0x0000);  /* tie to even: 0 */
    ck_assert_uint_eq(half_f32_to_f16(0x1.8p-24f), 0x0002); /* 1.5 ulp: tie to even 2 */
    ck_assert_uint_eq(half_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(half_f32_to_f16(0.1f), 0x2e66);
    ck_assert(half_f16_to_f32(0x0001) == 0x1p-24f);
    ck_assert(half_f16_to_f32(0x03ff) == 0x3ffp-24f);
    ck_assert(half_f16_to_f32(0x0400) == 0x1p-14f);
    ck_assert(isinf(half_f16_to_f32(0xfc00)) && half_f16_to_f32(0xfc00) < 0);
    ck_assert(isnan(half_f16_to_f32(0x7c01)));
    ck_assert(isnan(half_f16_to_f32(half_f32_to_f16(NAN))));
    /* A NaN whose payload sits only in the low bits must not become Inf. */
    ck_assert(isnan(half_f16_to_f32(half_f32_to_f16(float_of(0x7f800001u)))));
}
END_TEST

/* Every fp16 value survives f16 -> f32 -> f16 unchanged (NaNs stay NaN). */
START_TEST(f16_round_trip_exhaustive) {
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_f16_to_f32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            ck_assert(isnan(f));
            continue;
        }
        ck_assert_msg(half_f32_to_f16(f) == h, "0x%04x -> %a -> 0x%04x", h, f, half_f32_to_f16(f));
#ifdef __FLT16_MAX__
        _Float16 r;
        uint16_t rb = (uint16_t)h;
        memcpy(&r, &rb, 2);
        ck_assert_msg(bits_of((float)r) == bits_of(f), "0x%04x widened differently", h);
#endif
    }
}
END_TEST

#ifdef __FLT16_MAX__
static uint16_t ref_f16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}

/* The hard cases are midpoints between neighbouring fp16 values and the floats either
 * side of them; all of those are exact fp32 values. Plus a sweep over fp32 patterns. */
START_TEST(f32_to_f16_matches_float16_reference) {
    for (uint32_t h = 0; h < 0x7c00; h++) {
        float lo = half_f16_to_f32((uint16_t)h);
        float hi = h + 1 < 0x7c00 ? half_f16_to_f32((uint16_t)(h + 1)) : 65536.0f;
        float mid = (float)(((double)lo + (double)hi) / 2);
        float cases[5] = {mid, nextafterf(mid, 0), nextafterf(mid, INFINITY), -mid, lo};
        for (int i = 0; i < 5; i++)
            ck_assert_msg(half_f32_to_f16(cases[i]) == ref_f16(cases[i]), "%a: 0x%04x vs 0x%04x", cases[i],
                          half_f32_to_f16(cases[i]), ref_f16(cases[i]));
    }
    for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) {
        float f = float_of((uint32_t)u);
        if (isnan(f)) continue;
        ck_assert_msg(half_f32_to_f16(f) == ref_f16(f), "%a (0x%08x): 0x%04x vs 0x%04x", f, (uint32_t)u,
                      half_f32_to_f16(f), ref_f16(f));
    }
}
END_TEST
#endif

/* Nearest bf16 by real distance, ties to even: the definition, computed in double. */
START_TEST(f32_to_bf16_is_nearest_even) {
    for (uint64_t u = 0; u <= 0xffffffffu; u += 65537 /* hits every low-16 pattern class */) {
        float f = float_of((uint32_t)u);
        uint16_t b = half_f32_to_bf16(f);
        if (isnan(f)) {
            ck_assert(isnan(half_bf16_to_f32(b)));
            continue;
        }
        uint32_t down = (uint32_t)u & 0xffff0000u;
        double x = f, dn = float_of(down);
        double up = (down & 0x7fffffffu) == 0x7f7f0000u ? copysign(0x1p128, x) : float_of(down + 0x10000u);
        if ((down & 0x7fffffffu) == 0x7f800000u) up = dn; /* Inf itself */
        double d_dn = fabs(x - dn), d_up = fabs(x - up);
        uint16_t want = (uint16_t)(down >> 16);
        if (d_up < d_dn || (d_up == d_dn && (want & 1))) want++;
        ck_assert_msg(b == want, "%a: 0x%04x want 0x%04x", f, b, want);
    }
    ck_assert_uint_eq(half_f32_to_bf16(1.0f), 0x3f80);
    ck_assert_uint_eq(half_f32_to_bf16(float_of(0x3f808000u)), 0x3f80); /* tie, even stays */
    ck_assert_uint_eq(half_f32_to_bf16(float_of(0x3f818000u)), 0x3f82); /* tie, odd goes up */
    ck_assert_uint_eq(half_f32_to_bf16(float_of(0x7f7fffffu)), 0x7f80); /* max float rounds to Inf */
    ck_assert(isnan(half_bf16_to_f32(half_f32_to_bf16(float_of(0x7f800001u)))));
}
END_TEST

START_TEST(bf16_round_trip_exhaustive) {
    for (uint32_t b = 0; b < 0x10000; b++) {
        float f = half_bf16_to_f32((uint16_t)b);
        ck_assert_uint_eq(bits_of(f), b << 16);
        if (!isnan(f)) ck_assert_uint_eq(half_f32_to_bf16(f), b);
    }
}
END_TEST

START_TEST(row_converters) {
    float src[5] = {1.0f, -0.5f, 3.140625f, 0.0f, 1e-3f}, back[5];
    uint16_t h[5];
    half_f32_to_f16_row(src, h, 5);
    half_f16_to_f32_row(h, back, 5);
    for (int i = 0; i < 4; i++) ck_assert(back[i] == src[i]);
    ck_assert(fabsf(back[4] - 1e-3f) < 1e-6f);
    half_f32_to_bf16_row(src, h, 5);
    half_bf16_to_f32_row(h, back, 5);
    for (int i = 0; i < 4; i++) ck_assert(back[i] == src[i]);
}
END_TEST

Suite *half_suite(void) {
    Suite *s = suite_create("half");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, f16_known_values);
    tcase_add_test(tc, f16_round_trip_exhaustive);
#ifdef __FLT16_MAX__
    tcase_add_test(tc, f32_to_f16_matches_float16_reference);
#endif
    tcase_add_test(tc, f32_to_bf16_is_nearest_even);
    tcase_add_test(tc, bf16_round_trip_exhaustive);
    tcase_add_test(tc, row_converters);
    suite_add_tcase(s, tc);
    return s;
}
