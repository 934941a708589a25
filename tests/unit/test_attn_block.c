/* Unit tests for blocked encoder attention (core/attn_block.h, attn_full_blocked in
 * core/attention.c):
 *   kernels: the AVX-512 block kernels against the plain C ones, every row/key/width tail
 *   path:    attn_full_blocked (reference and AVX-512 kernels) against the row kernels of
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

/* Float sums in another order (and FMA): 1e-5 relative, about 100 ulp at these lengths. */
#define TOL(want) (1e-5f * (1.0f + fabsf(want)))

START_TEST(avx512_kernels_match_reference) {
    if (!cpu_isa_supported(TF_ISA_VNNI)) return;
    enum { MAXR = ATTN_QBLOCK, MAXK = 70, MAXD = 80, LDQ = 97 };
    static float q[MAXR * LDQ], kt[MAXD * 80], v[MAXK * LDQ];
    static float s_ref[MAXR * 80], s_avx[MAXR * 80], o_ref[MAXR * LDQ], o_avx[MAXR * LDQ];
    fill(q, sizeof q / sizeof q[0], 1, 2.0f);
    fill(v, sizeof v / sizeof v[0], 2, 2.0f);
    const int rows[] = {1, 3, 4, 5, 8, 9, 13, 31, 32};
    const int keys[] = {1, 15, 16, 17, 33, 70};
    const int widths[] = {1, 16, 17, 64, 80};
    for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
        for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
            for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
                const int nr = rows[ri], nk = keys[ki], d = widths[wi], ldk = round16(nk);
                fill(kt, sizeof kt / sizeof kt[0], 3 + (unsigned)nk, 2.0f);
                for (int c = 0; c < d; c++)
                    for (int j = nk; j < ldk; j++) kt[c * ldk + j] = 0.0f;
                attn_block_ref.scores(q, LDQ, nr, d, kt, ldk, 0.125f, s_ref);
                attn_block_avx512.scores(q, LDQ, nr, d, kt, ldk, 0.125f, s_avx);
                for (int i = 0; i < nr * ldk; i++)
                    ck_assert_msg(fabsf(s_avx[i] - s_ref[i]) <= TOL(s_ref[i]),
                                  "scores r%d k%d d%d at %d: %g vs %g", nr, nk, d, i, s_avx[i],
                                  s_ref[i]);
                attn_block_ref.softmax(s_ref, ldk, nr, nk);
                attn_block_avx512.softmax(s_avx, ldk, nr, nk);
                for (int r = 0; r < nr; r++)
                    for (int j = 0; j < nk; j++) {
                        const float w = s_ref[r * ldk + j], g = s_avx[r * ldk + j];
                        ck_assert_msg(fabsf(g - w) <= 1e-6f + 1e-5f * w, "softmax r%d j%d", r, j);
                    }
                for (int i = 0; i < MAXR * LDQ; i++) o_ref[i] = o_avx[i] = -7.0f;
                attn_block_ref.weighted_sum(s_ref, ldk, nr, v, LDQ, nk, d, o_ref, LDQ);
                attn_block_avx512.weighted_sum(s_ref, ldk, nr, v, LDQ, nk, d, o_avx, LDQ);
                for (int r = 0; r < nr; r++)
                    for (int c = 0; c < LDQ; c++) {
                        const float w = o_ref[r * LDQ + c], g = o_avx[r * LDQ + c];
                        if (c >= d) ck_assert_float_eq(g, -7.0f); /* nothing past d */
                        else ck_assert_msg(fabsf(g - w) <= TOL(w), "wsum r%d c%d", r, c);
                    }
            }
    /* the transpose is a copy: bit-exact, zero padding, nothing written past ldk or d */
    static float kin[70 * LDQ], t_ref[MAXD * 80], t_avx[MAXD * 80];
    fill(kin, sizeof kin / sizeof kin[0], 4, 2.0f);
    for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            const int nk = keys[ki], d = widths[wi], ldk = round16(nk);
            for (int i = 0; i < MAXD * 80; i++) t_ref[i] = t_avx[i] = -3.0f;
            attn_block_ref.k_transpose(kin + 5, LDQ, nk, d, t_ref, ldk);
            attn_block_avx512.k_transpose(kin + 5, LDQ, nk, d, t_avx, ldk);
            for (int i = 0; i < MAXD * 80; i++)
                ck_assert_msg(t_avx[i] == t_ref[i], "transpose k%d d%d at %d", nk, d, i);
            ck_assert_float_eq(t_ref[(d - 1) * ldk + nk - 1], kin[5 + (nk - 1) * LDQ + d - 1]);
            if (d * ldk < MAXD * 80) ck_assert_float_eq(t_ref[d * ldk], -3.0f);
        }
    /* a row of -inf (everything masked) gives zero weights, as ops_softmax does */
    float minf[16];
    for (int j = 0; j < 16; j++) minf[j] = -INFINITY;
    attn_block_avx512.softmax(minf, 16, 1, 5);
    for (int j = 0; j < 5; j++) ck_assert_float_eq(minf[j], 0.0f);
}
END_TEST

/* attn_full_blocked against the row path on one random problem: 3 query heads over 3 or 1
 * KV heads, n_q = n_kv from 1 to past two query blocks, with and without a T5 bias, with
 * capture and stats on. The row path is the reference the engine was validated with. */
START_TEST(blocked_matches_row_kernels) {
    const tf_attn_block *tables[] = {&attn_block_ref, &attn_block_avx512};
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
    for (int t = 0; t < 2; t++) {
        if (t == 1 && !cpu_isa_supported(TF_ISA_VNNI)) continue;
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
                    for (int i = 0; i < n * H * DH; i++)
                        ck_assert_msg(fabsf(o_blk[i] - o_row[i]) <= TOL(o_row[i]),
                                      "table %d kv %d bias %d n %d out %d: %g vs %g", t, kvh,
                                      with_bias, n, i, o_blk[i], o_row[i]);
                    for (int h = 0; h < H; h++) {
                        ck_assert_int_eq(st_blk[h].n_rows, n);
                        ck_assert(fabs(st_blk[h].max_sum - st_row[h].max_sum) < 1e-4 * n);
                        for (int i = 0; i < n; i++)
                            for (int j = 0; j < n; j++) {
                                const float w = caps_row[h][i * N + j], g = caps_blk[h][i * N + j];
                                ck_assert_msg(fabsf(g - w) <= 1e-6f + 1e-5f * w,
                                              "capture h%d row %d key %d", h, i, j);
                            }
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
    tcase_add_test(tc, avx512_kernels_match_reference);
    tcase_add_test(tc, blocked_matches_row_kernels);
    suite_add_tcase(s, tc);
    return s;
}
