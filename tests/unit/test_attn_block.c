/* Unit tests for blocked encoder attention (core/attn_block.h, attn_full_blocked in
 * core/attention.c):
 *   kernels: the AVX2 and AVX-512 block kernels against the plain C ones, every
 *            row/key/width tail
 *   path:    attn_full_blocked (reference, AVX2 and AVX-512 kernels) against the row kernels of
 *            attn_full / attn_biased, with several heads, grouped KV heads, a T5 bias, and
 *            the monitoring hooks seeing the same rows at the same positions */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/attn_block.h"
#include "core/cpu.h"

static void fill(float *x, size_t n, unsigned seed, float amp) {
    unsigned s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = amp * ((float)((s >> 8) & 0xffff) / 65536.0f - 0.5f);
    }
}

static int round16(int n) { return (n + 15) & ~15; }

/* Tolerances below: float sums in another order (and FMA), 1e-5 relative plus 1e-5
 * absolute, about 100 ulp at these lengths; softmax weights 1e-5 relative + 1e-6. */

/* Index of the first got[i] farther than abs_tol + rel_tol·|want[i]| from want[i] (strided
 * rows of n), or -1. One ck_assert per comparison instead of one per element: Check records
 * every passing assertion, which made this suite time out on a loaded machine. */
static int first_bad(const float *got, const float *want, int n_rows, int n, int ld,
                     float abs_tol, float rel_tol) {
    for (int r = 0; r < n_rows; r++)
        for (int i = 0; i < n; i++) {
            const float g = got[r * ld + i], w = want[r * ld + i];
            if (!(fabsf(g - w) <= abs_tol + rel_tol * fabsf(w))) return r * ld + i;
        }
    return -1;
}

/* Each ISA's block kernels against the plain C ones (_i: 0 AVX2, 1 AVX-512). */
START_TEST(isa_kernels_match_reference) {
    const tf_attn_block *isa_tables[] = {&attn_block_avx2, &attn_block_avx512};
    const tf_isa needs[] = {TF_ISA_AVX2, TF_ISA_VNNI};
    if (!cpu_isa_supported(needs[_i])) return;
    const tf_attn_block *kb = isa_tables[_i];
    enum { MAXR = ATTN_QBLOCK, MAXK = 70, MAXD = 80, LDQ = 97 };
    static float q[MAXR * LDQ], kt[MAXD * 80], v[MAXK * LDQ];
    static float s_ref[MAXR * 80], s_avx[MAXR * 80], o_ref[MAXR * LDQ], o_avx[MAXR * LDQ];
    fill(q, sizeof q / sizeof q[0], 1, 2.0f);
    fill(v, sizeof v / sizeof v[0], 2, 2.0f);
    const int rows[] = {1, 3, 4, 5, 8, 9, 13, 31, 32};
    const int keys[] = {1, 7, 8, 9, 15, 16, 17, 33, 70};
    const int widths[] = {1, 8, 16, 17, 24, 40, 64, 80};
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
        for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
            for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
                const int nr = rows[ri], nk = keys[ki], d = widths[wi], ldk = round16(nk);
                fill(kt, sizeof kt / sizeof kt[0], 3 + (unsigned)nk, 2.0f);
                for (int c = 0; c < d; c++)
                    for (int j = nk; j < ldk; j++) kt[c * ldk + j] = 0.0f;
                attn_block_ref.scores(q, LDQ, nr, d, kt, ldk, 0.125f, s_ref);
                kb->scores(q, LDQ, nr, d, kt, ldk, 0.125f, s_avx);
                int bad = first_bad(s_avx, s_ref, nr, ldk, ldk, 1e-5f, 1e-5f);
                ck_assert_msg(bad < 0, "scores r%d k%d d%d at %d", nr, nk, d, bad);
                attn_block_ref.softmax(s_ref, ldk, nr, nk);
                kb->softmax(s_avx, ldk, nr, nk);
                bad = first_bad(s_avx, s_ref, nr, nk, ldk, 1e-6f, 1e-5f);
                ck_assert_msg(bad < 0, "softmax r%d k%d at %d", nr, nk, bad);
                for (int i = 0; i < MAXR * LDQ; i++) o_ref[i] = o_avx[i] = -7.0f;
                attn_block_ref.weighted_sum(s_ref, ldk, nr, v, LDQ, nk, d, o_ref, LDQ);
                kb->weighted_sum(s_ref, ldk, nr, v, LDQ, nk, d, o_avx, LDQ);
                /* whole rows of LDQ: past d both must still hold -7 (nothing written) */
                bad = first_bad(o_avx, o_ref, nr, LDQ, LDQ, 1e-5f, 1e-5f);
                ck_assert_msg(bad < 0, "wsum r%d k%d d%d at %d", nr, nk, d, bad);
                ck_assert_float_eq(o_avx[d], -7.0f);
            }
    /* the transpose is a copy: bit-exact, zero padding, nothing written past ldk or d */
    static float kin[70 * LDQ], t_ref[MAXD * 80], t_avx[MAXD * 80];
    fill(kin, sizeof kin / sizeof kin[0], 4, 2.0f);
    for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            const int nk = keys[ki], d = widths[wi], ldk = round16(nk);
            for (int i = 0; i < MAXD * 80; i++) t_ref[i] = t_avx[i] = -3.0f;
            attn_block_ref.k_transpose(kin + 5, LDQ, nk, d, t_ref, ldk);
            kb->k_transpose(kin + 5, LDQ, nk, d, t_avx, ldk);
            const int bad = first_bad(t_avx, t_ref, 1, MAXD * 80, 0, 0.0f, 0.0f);
            ck_assert_msg(bad < 0, "transpose k%d d%d at %d", nk, d, bad);
            ck_assert_float_eq(t_ref[(d - 1) * ldk + nk - 1], kin[5 + (nk - 1) * LDQ + d - 1]);
            if (d * ldk < MAXD * 80) ck_assert_float_eq(t_ref[d * ldk], -3.0f);
        }
    /* a row of -inf (everything masked) gives zero weights, as ops_softmax does */
    float minf[16];
    for (int j = 0; j < 16; j++) minf[j] = -INFINITY;
    kb->softmax(minf, 16, 1, 5);
    for (int j = 0; j < 5; j++) ck_assert_float_eq(minf[j], 0.0f);
}
END_TEST

/* attn_full_blocked against the row path on one random problem: 3 query heads over 3 or 1
 * KV heads, n_q = n_kv from 1 to past two query blocks, with and without a T5 bias, with
 * capture and stats on. The row path is the reference the engine was validated with. */
START_TEST(blocked_matches_row_kernels) {
    const tf_attn_block *tables[] = {&attn_block_ref, &attn_block_avx2, &attn_block_avx512};
    const tf_isa needs[] = {TF_ISA_REF, TF_ISA_AVX2, TF_ISA_VNNI};
    enum { H = 3, DH = 20, N = 2 * ATTN_QBLOCK + 7, RADIUS = 5 };
    const int ld = 3 * H * DH;
    float *x = malloc(sizeof(float) * N * ld);
    float *bias = malloc(sizeof(float) * H * (2 * RADIUS + 1));
    float *o_row = malloc(sizeof(float) * N * H * DH), *o_blk = malloc(sizeof(float) * N * H * DH);
    float *cap_row = malloc(sizeof(float) * H * N * N);
    float *cap_blk = malloc(sizeof(float) * H * N * N);
    float *scratch = malloc(sizeof(float) * attn_full_blocked_scratch(N, DH));
    fill(x, (size_t)N * ld, 9, 3.0f);
    fill(bias, H * (2 * RADIUS + 1), 10, 4.0f);
    for (int t = 0; t < 3; t++) {
        if (!cpu_isa_supported(needs[t])) continue;
        for (int kvh = H; kvh >= 1; kvh -= H - 1)
            for (int with_bias = 0; with_bias < 2; with_bias++)
                for (int n = 1; n <= N; n += 11) {
                    float *caps_row[H], *caps_blk[H];
                    tf_attn_stats st_row[H], st_blk[H];
                    memset(st_row, 0, sizeof st_row);
                    memset(st_blk, 0, sizeof st_blk);
                    for (int h = 0; h < H; h++) {
                        caps_row[h] = cap_row + (size_t)h * N * N;
                        caps_blk[h] = cap_blk + (size_t)h * N * N;
                    }
                    tf_attn_shape s = {.n_head = H, .n_kv_head = kvh, .d_head = DH,
                                       .scale = 0.3f, .ldq = ld, .ldkv = ld, .ldo = H * DH,
                                       .stats = st_row, .n_prompt = 2, .capture = caps_row,
                                       .capture_ld = N};
                    const float *q = x, *k = x + H * DH, *v = x + 2 * H * DH;
                    const float *b = with_bias ? bias : NULL;
                    if (b) attn_biased(&s, q, n, 0, k, v, n, 0, b, RADIUS, 0, H, o_row, scratch);
                    else attn_full(&s, q, n, k, v, n, 0, H, o_row, scratch);
                    s.stats = st_blk;
                    s.capture = caps_blk;
                    attn_full_blocked_with(tables[t], &s, q, n, k, v, n, b, RADIUS, 0, H, o_blk,
                                           scratch);
                    int bad = first_bad(o_blk, o_row, 1, n * H * DH, 0, 1e-5f, 1e-5f);
                    ck_assert_msg(bad < 0, "table %d kv %d bias %d n %d out %d", t, kvh,
                                  with_bias, n, bad);
                    for (int h = 0; h < H; h++) {
                        ck_assert_int_eq(st_blk[h].n_rows, n);
                        ck_assert(fabs(st_blk[h].max_sum - st_row[h].max_sum) < 1e-4 * n);
                        bad = first_bad(caps_blk[h], caps_row[h], n, n, N, 1e-6f, 1e-5f);
                        ck_assert_msg(bad < 0, "table %d capture h%d at %d", t, h, bad);
                    }
                }
    }
    free(x);
    free(bias);
    free(o_row);
    free(o_blk);
    free(cap_row);
    free(cap_blk);
    free(scratch);
}
END_TEST

Suite *attn_block_suite(void) {
    Suite *s = suite_create("attn_block");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, isa_kernels_match_reference, 0, 2);
    tcase_add_test(tc, blocked_matches_row_kernels);
    suite_add_tcase(s, tc);
    return s;
}
