/* Tests for the fp16 KV cache paths of core/attention.c and the attn_rows_* kernels.
 *
 * Widening fp16 to fp32 is exact, so an fp16 row kernel run on a converted cache must equal
 * the fp32 reference row run on the widened copy up to summation order; that isolates the
 * kernels from the rounding fp16 storage itself causes, which a separate test bounds. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/attention.h"
#include "core/attn_rows.h"
#include "core/cpu.h"
#include "core/half.h"

static const tf_attn_rows *const variants[] = {&attn_rows_ref, &attn_rows_avx2, &attn_rows_avx512};
static const tf_isa variant_isa[] = {TF_ISA_REF, TF_ISA_AVX2, TF_ISA_VNNI};
#define N_VARIANTS 3

static unsigned lcg(unsigned *x) {
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

/* Uniform in [-amp, amp). */
static float uniform(unsigned *x, float amp) {
    return ((float)(lcg(x) & 0xffff) / 32768.0f - 1.0f) * amp;
}

/* Scores and weighted sums of every variant's fp16 rows against the fp32 reference rows on
 * the widened cache. Only the summation order differs (the reference sums 8 lanes then
 * folds, AVX-512 16 lanes and 4 keys' trees), so the fp32 rows' own tolerance applies:
 * 1e-5 relative, about 100 ulp at these lengths (test_ops attention_rows_match_reference). */
START_TEST(f16_rows_match_fp32_reference_on_widened_cache) {
    enum { LD = 203, NK = 37 };
    static float q[LD], kw[NK * LD], p[NK];
    static uint16_t kh[NK * LD];
    unsigned x = 777;
    for (int i = 0; i < NK * LD; i++) kh[i] = half_f32_to_f16(uniform(&x, 3.0f));
    half_f16_to_f32_row(kh, kw, NK * LD);
    for (int i = 0; i < LD; i++) q[i] = uniform(&x, 1.0f);
    for (int j = 0; j < NK; j++) p[j] = (float)(j + 1) / (NK * (NK + 1) / 2);
    const int widths[] = {1, 7, 8, 15, 16, 17, 33, 64, 80, 128, 200};
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!cpu_isa_supported(variant_isa[v])) continue;
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
            const int d = widths[w];
            for (int nk = 1; nk <= NK; nk += 4) {
                float want[NK], got[NK];
                attn_rows_ref.scores(q, kw, LD, nk, d, 0.125f, want);
                variants[v]->scores_f16(q, kh, LD, nk, d, 0.125f, got);
                for (int j = 0; j < nk; j++)
                    ck_assert_msg(fabsf(got[j] - want[j]) <= 1e-5f * (1 + fabsf(want[j])),
                                  "scores v%d d%d n%d j%d: %g vs %g", v, d, nk, j, got[j], want[j]);
                float ow[LD + 1] = {0}, og[LD + 1] = {0};
                attn_rows_ref.weighted_sum(p, kw, LD, nk, d, ow);
                variants[v]->weighted_sum_f16(p, kh, LD, nk, d, og);
                for (int i = 0; i < d; i++)
                    ck_assert_msg(fabsf(og[i] - ow[i]) <= 1e-5f * (1 + fabsf(ow[i])),
                                  "sum v%d d%d n%d i%d: %g vs %g", v, d, nk, i, og[i], ow[i]);
                ck_assert_float_eq(og[d], 0); /* nothing written past d */
            }
        }
    }
}
END_TEST

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every variant's store_f16 must give the bits of half_f32_to_f16 (itself checked against
 * the compiler's _Float16 in test_half): rounding ties, subnormals, overflow, NaN and
 * random bit patterns, at every tail length. */
START_TEST(f16_store_matches_half_h_bit_for_bit) {
    enum { N = 4096 };
    static float src[N];
    static uint16_t got[N + 1];
    const float special[] = {0.0f, -0.0f, 1.0f, 0.1f, 65504.0f, 65519.0f, 65520.0f, -65520.0f,
                             1e6f, INFINITY, -INFINITY, NAN, 0x1p-24f, 0x1p-25f, 0x1.8p-24f,
                             0x1p-14f, 0x1.ffcp-15f, 0x1.002p0f, 0x1.006p0f, 1e-30f};
    const size_t n_special = sizeof special / sizeof special[0];
    unsigned x = 4242;
    for (int i = 0; i < N; i++) {
        if ((size_t)i < n_special) src[i] = special[i];
        else if (i % 3 == 0) src[i] = float_of((uint32_t)lcg(&x) << 8 ^ lcg(&x)); /* any bits */
        else src[i] = uniform(&x, i % 3 == 1 ? 8.0f : 1e-4f); /* normal and subnormal in fp16 */
    }
    src[N - 1] = float_of(0x7f800001u); /* a signalling NaN: quieted, payload kept */
    for (int v = 0; v < N_VARIANTS; v++) {
        if (!cpu_isa_supported(variant_isa[v])) continue;
        for (int n = 0; n <= 40; n++) { /* every tail of the 8- and 16-wide loops */
            got[n] = 0xabcd;
            variants[v]->store_f16(src + 17, got, n);
            for (int i = 0; i < n; i++) ck_assert_uint_eq(got[i], half_f32_to_f16(src[17 + i]));
            ck_assert_uint_eq(got[n], 0xabcd); /* nothing written past n */
        }
        variants[v]->store_f16(src, got, N);
        for (int i = 0; i < N; i++)
            ck_assert_msg(got[i] == half_f32_to_f16(src[i]), "v%d i%d: %08x -> %04x vs %04x", v, i,
                          bits_of(src[i]), got[i], half_f32_to_f16(src[i]));
    }
}
END_TEST

START_TEST(kv_store_writes_either_type_at_its_offset) {
    float src[5] = {1.0f, -2.5f, 0.1f, 3e-6f, 70000.0f};
    float f32[8] = {0};
    uint16_t f16[8] = {0};
    ck_assert_uint_eq(attn_kv_elem_bytes(TF_KV_F32), 4);
    ck_assert_uint_eq(attn_kv_elem_bytes(TF_KV_F16), 2);
    attn_kv_store(TF_KV_F32, f32, 2, src, 5);
    attn_kv_store(TF_KV_F16, f16, 2, src, 5);
    ck_assert_float_eq(f32[1], 0.0f);
    ck_assert_uint_eq(f16[1], 0);
    for (int i = 0; i < 5; i++) {
        ck_assert(f32[2 + i] == src[i]);
        ck_assert_uint_eq(f16[2 + i], half_f32_to_f16(src[i]));
    }
    ck_assert_uint_eq(f16[6], 0x7c00); /* 70000 overflows fp16: Inf, as torch's .half() */
    ck_assert_float_eq(f32[7], 0.0f);
    ck_assert_uint_eq(f16[7], 0);
}
END_TEST

/* Shapes the decoders use: GQA (8 query heads over 2 KV heads), a head width with a tail,
 * K/V rows wider than the heads (ldkv > n_kv_head·d_head, like a fused QKV row). */
enum { NH = 8, NKV = 2, DH = 40, LDQ = NH * DH + 3, LDKV = NKV * DH + 5, NPOS = 70 };

static void fill_cache(unsigned seed, float amp, int representable, float *q, float *k, float *v,
                       uint16_t *kh, uint16_t *vh) {
    unsigned x = seed;
    for (int i = 0; i < NPOS * LDQ; i++) q[i] = uniform(&x, 1.0f);
    for (int i = 0; i < NPOS * LDKV; i++) {
        k[i] = uniform(&x, amp);
        v[i] = uniform(&x, amp);
        /* multiples of 2^-10 in [-2, 2] have 11 significant bits: exact in fp16 */
        if (representable) {
            k[i] = roundf(k[i] * 1024.0f) / 1024.0f;
            v[i] = roundf(v[i] * 1024.0f) / 1024.0f;
        }
    }
    for (int r = 0; r < NPOS; r++) {
        attn_kv_store(TF_KV_F16, kh, (size_t)r * LDKV, k + (size_t)r * LDKV, LDKV);
        attn_kv_store(TF_KV_F16, vh, (size_t)r * LDKV, v + (size_t)r * LDKV, LDKV);
    }
}

/* Causal and biased attention over an fp16 cache against the same calls over the fp32
 * cache. With values fp16 holds exactly the two differ only in summation order (1e-5);
 * this catches any stride or head-offset slip in the fp16 paths. With arbitrary values the
 * difference is fp16's rounding: each element moves by at most 2^-11 relative, so the
 * weighted sum moves by <= 2^-11·max|v| and each score by <= scale·Σ|q_i||k_i|·2^-11
 * (<= 0.16·40·2·2^-11 = 6e-3 here), which moves the output by at most 2·max|Δs|·max|v|:
 * in all <= (4.9e-4 + 1.2e-2)·max|v|, so 1.5e-2·max|v| with max|v| = 2. */
static void compare_f16_with_f32(int representable) {
    static float q[NPOS * LDQ], k[NPOS * LDKV], v[NPOS * LDKV], want[NPOS * LDQ], got[NPOS * LDQ];
    static uint16_t kh[NPOS * LDKV], vh[NPOS * LDKV];
    float scores[NPOS];
    const float amp = 2.0f;
    fill_cache(representable ? 11 : 12, amp, representable, q, k, v, kh, vh);
    const float tol = representable ? 1e-5f : 1.5e-2f * amp;
    tf_attn_shape s32 = {.n_head = NH, .n_kv_head = NKV, .d_head = DH, .scale = 0.16f, .ldq = LDQ,
                         .ldkv = LDKV, .ldo = LDQ};
    tf_attn_shape s16 = s32;
    s16.kv_dtype = TF_KV_F16;
    /* decode-like (one query at the end) and prefill-like (a block of queries) */
    const int n_past[] = {NPOS - 1, 30}, n_q[] = {1, NPOS - 30};
    for (int c = 0; c < 2; c++) {
        memset(want, 0, sizeof want);
        memset(got, 0, sizeof got);
        const float *qc = q + (size_t)n_past[c] * LDQ;
        attn_causal(&s32, qc, n_q[c], k, v, n_past[c], 0, NH, want, scores);
        attn_causal(&s16, qc, n_q[c], kh, vh, n_past[c], 2, NH, got + 0, scores);
        attn_causal(&s16, qc, n_q[c], kh, vh, n_past[c], 0, 2, got, scores); /* heads split */
        for (int i = 0; i < n_q[c]; i++)
            for (int j = 0; j < NH * DH; j++) {
                const float w = want[(size_t)i * LDQ + j], g = got[(size_t)i * LDQ + j];
                ck_assert_msg(fabsf(g - w) <= tol * (representable ? 1 + fabsf(w) : 1),
                              "causal c%d row %d col %d: %g vs %g", c, i, j, g, w);
            }
    }
    /* T5's decoder: biased, causal and not (cross-attention) */
    float bias[NH * 9];
    unsigned x = 99;
    for (int i = 0; i < NH * 9; i++) bias[i] = uniform(&x, 1.0f);
    for (int causal = 0; causal < 2; causal++) {
        memset(want, 0, sizeof want);
        memset(got, 0, sizeof got);
        attn_biased(&s32, q, 3, 50, k, v, NPOS, causal, bias, 4, 0, NH, want, scores);
        attn_biased(&s16, q, 3, 50, kh, vh, NPOS, causal, bias, 4, 0, NH, got, scores);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < NH * DH; j++) {
                const float w = want[(size_t)i * LDQ + j], g = got[(size_t)i * LDQ + j];
                ck_assert_msg(fabsf(g - w) <= tol * (representable ? 1 + fabsf(w) : 1),
                              "biased causal %d row %d col %d: %g vs %g", causal, i, j, g, w);
            }
    }
}

START_TEST(f16_attention_equals_f32_on_representable_values) { compare_f16_with_f32(1); }
END_TEST

START_TEST(f16_attention_within_rounding_bound_of_f32) { compare_f16_with_f32(0); }
END_TEST

/* attn_biased leaves the last row's softmax weights in scores (T5's beam search keeps
 * per-beam rows from there): the same floats the capture hook copied, on either cache
 * type, causal and not, with the row kernels this machine picked. */
START_TEST(biased_leaves_the_last_row_in_scores) {
    static float q[NPOS * LDQ], k[NPOS * LDKV], v[NPOS * LDKV], out[NPOS * LDQ], rows[NH][NPOS * NPOS];
    static uint16_t kh[NPOS * LDKV], vh[NPOS * LDKV];
    float scores[NPOS], bias[NH * 9];
    fill_cache(21, 2.0f, 0, q, k, v, kh, vh);
    unsigned x = 7;
    for (int i = 0; i < NH * 9; i++) bias[i] = uniform(&x, 1.0f);
    float *capture[NH];
    for (int h = 0; h < NH; h++) capture[h] = rows[h];
    for (int f16 = 0; f16 < 2; f16++)
        for (int causal = 0; causal < 2; causal++) {
            tf_attn_shape s = {.n_head = NH, .n_kv_head = NKV, .d_head = DH, .scale = 1.0f, .ldq = LDQ,
                               .ldkv = LDKV, .ldo = LDQ, .kv_dtype = f16 ? TF_KV_F16 : TF_KV_F32,
                               .capture = capture, .capture_ld = NPOS};
            /* queries at positions 40..42, heads 3..5: the last row is head 5's at 42 */
            const int q_pos0 = 40, n_q = 3, h1 = 6, last = q_pos0 + n_q - 1;
            memset(scores, 0, sizeof scores);
            attn_biased(&s, q, n_q, q_pos0, f16 ? (const void *)kh : k, f16 ? (const void *)vh : v, NPOS, causal,
                        bias, 4, 3, h1, out, scores);
            const int n_keys = causal ? last + 1 : NPOS;
            ck_assert(memcmp(scores, rows[h1 - 1] + (size_t)last * NPOS, sizeof(float) * (size_t)n_keys) == 0);
            double sum = 0;
            for (int j = 0; j < n_keys; j++) sum += scores[j];
            ck_assert_msg(fabs(sum - 1) < 1e-5, "f16 %d causal %d: the row sums to %f", f16, causal, sum);
        }
}
END_TEST

Suite *attention_suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, f16_rows_match_fp32_reference_on_widened_cache);
    tcase_add_test(tc, f16_store_matches_half_h_bit_for_bit);
    tcase_add_test(tc, kv_store_writes_either_type_at_its_offset);
    tcase_add_test(tc, f16_attention_equals_f32_on_representable_values);
    tcase_add_test(tc, f16_attention_within_rounding_bound_of_f32);
    tcase_add_test(tc, biased_leaves_the_last_row_in_scores);
    suite_add_tcase(s, tc);
    return s;
}
