/* T5 "full" attention weights (tf_gen_params.attn_full, tf_attn_encdec_full) on the untied
 * fixture (2 encoder layers, 3 decoder layers, 4 heads): every kept row is a softmax row
 * (sums to 1, nothing past its last key), the cross rows add up to the statistics'
 * coverage, decoding is the same with and without them, a sequence's weights do not
 * depend on what it is batched with, and the selection is enforced. Under beam search the
 * weights and the per-beam statistics are those of the returned hypothesis: the same as
 * decoding its tokens again with teacher forcing.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model_impl.h"

#define GOLDEN "tests/reference/t5_golden.json"
#define FIXTURE "tests/fixtures/tiny-t5-untied"

static tf_model *load(int int8) {
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = int8, .n_threads = 2};
    ck_assert_msg(model_load(FIXTURE, &o, &m, &err) == 0, "%s", err.msg);
    return m;
}

/* The input ids of the fixture's golden cases. */
static int inputs(int32_t ids[][64], int *n) {
    json_error_t je;
    json_t *g = json_load_file(GOLDEN, 0, &je);
    ck_assert_msg(g != NULL, "%s: %s", GOLDEN, je.text);
    json_t *cases = json_object_get(json_object_get(g, "fixtures"), "tiny-t5-untied");
    const int n_cases = (int)json_array_size(cases);
    for (int c = 0; c < n_cases; c++) {
        json_t *a = json_object_get(json_array_get(cases, c), "input_ids");
        n[c] = (int)json_array_size(a);
        ck_assert_int_le(n[c], 64);
        for (int i = 0; i < n[c]; i++) ids[c][i] = (int32_t)json_integer_value(json_array_get(a, i));
    }
    json_decref(g);
    return n_cases;
}

static tf_seq *new_seq(tf_model *m, const int32_t *ids, int n, const tf_gen_params *p) {
    tf_seq *s = NULL;
    tf_err err = {0};
    ck_assert_msg(seq_new(m, ids, n, p, &s, &err) == 0, "%s", err.msg);
    return s;
}

static void run_all(tf_model *m, tf_seq **seqs, int n) {
    tf_err err = {0};
    for (;;) {
        tf_seq *live[16];
        int n_tok[16], k = 0;
        for (int i = 0; i < n; i++)
            if (!seq_finished(seqs[i])) {
                live[k] = seqs[i];
                n_tok[k++] = seq_next_chunk(seqs[i], 512);
            }
        if (k == 0) return;
        tf_batch b = {.n_seqs = k, .seqs = live, .n_tokens = n_tok};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
    }
}

static void full_params(tf_gen_params *p) {
    gen_params_default(p);
    p->max_new_tokens = 8;
    p->attn_full = 1;
}

/* Row r of n_keys weights sums to 1 (float rows of <= 30 keys: 1e-5) and the n_zero
 * entries after it were never written. */
static void check_row(const float *row, int n_keys, int n_zero, const char *what, int pair, int r) {
    double sum = 0;
    for (int k = 0; k < n_keys; k++) {
        ck_assert_msg(row[k] >= 0 && row[k] <= 1, "%s pair %d row %d: weight %f", what, pair, r, row[k]);
        sum += row[k];
    }
    ck_assert_msg(fabs(sum - 1) < 1e-5, "%s pair %d row %d sums to %.7f", what, pair, r, sum);
    for (int k = n_keys; k < n_keys + n_zero; k++) ck_assert_float_eq(row[k], 0.0f);
}

/* Every pair kept; shapes and sums; the cross rows add up to the statistics' coverage;
 * the tokens are those of a sequence without weights. */
START_TEST(rows_are_softmax_rows) {
    tf_model *m = load(_i);
    int32_t ids[8][64];
    int n_ids[8];
    const int n_cases = inputs(ids, n_ids);
    for (int c = 0; c < n_cases; c++) {
        tf_gen_params p;
        gen_params_default(&p);
        p.max_new_tokens = 8;
        tf_seq *plain = new_seq(m, ids[c], n_ids[c], &p);
        full_params(&p);
        p.attn_summary = 1;
        tf_seq *s = new_seq(m, ids[c], n_ids[c], &p);
        tf_seq *both[2] = {plain, s};
        run_all(m, both, 2);
        tf_seq_state a, b;
        seq_state(s, &a);
        seq_state(plain, &b);
        ck_assert_ptr_null(b.attn_encdec_full);
        ck_assert_int_eq(a.n_generated, b.n_generated);
        ck_assert(memcmp(a.tokens, b.tokens, sizeof(int32_t) * (size_t)a.n_generated) == 0);
        const tf_attn_encdec_full *f = a.attn_encdec_full;
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(f->n_enc_layer, 2);
        ck_assert_int_eq(f->n_dec_layer, 3);
        ck_assert_int_eq(f->n_head, 4);
        ck_assert_int_eq(f->n_src, n_ids[c]);
        ck_assert_int_eq(f->n_rows, a.n_generated); /* the start token and all but the last */
        ck_assert_int_ge(f->dec_ld, f->n_rows);
        for (int i = 0; i < f->n_enc_layer * f->n_head; i++) {
            ck_assert_ptr_nonnull(f->enc[i]);
            for (int r = 0; r < f->n_src; r++) check_row(f->enc[i] + (size_t)r * f->n_src, f->n_src, 0, "enc", i, r);
        }
        for (int i = 0; i < f->n_dec_layer * f->n_head; i++) {
            ck_assert_ptr_nonnull(f->dec[i]);
            ck_assert_ptr_nonnull(f->cross[i]);
            for (int r = 0; r < f->n_rows; r++) {
                check_row(f->dec[i] + (size_t)r * f->dec_ld, r + 1, f->dec_ld - r - 1, "dec", i, r);
                check_row(f->cross[i] + (size_t)r * f->n_src, f->n_src, 0, "cross", i, r);
            }
            const tf_attn_cross *cv = &a.attn_encdec->cover[i];
            for (int k = 0; k < f->n_src; k++) {
                double col = 0;
                for (int r = 0; r < f->n_rows; r++) col += f->cross[i][(size_t)r * f->n_src + k];
                ck_assert_msg(fabs(col - cv->coverage[k]) < 1e-5 * f->n_rows, "pair %d source %d: %f vs coverage %f",
                              i, k, col, cv->coverage[k]);
            }
        }
        seq_free(s);
        seq_free(plain);
    }
    model_free(m);
}
END_TEST

/* int8 (integer accumulation: batch composition changes nothing): a sequence's weights
 * are the same alone as batched with beam and greedy sequences of other inputs. */
START_TEST(weights_do_not_depend_on_the_batch) {
    tf_model *m = load(1);
    int32_t ids[8][64];
    int n_ids[8];
    const int n_cases = inputs(ids, n_ids);
    ck_assert_int_ge(n_cases, 3);
    tf_gen_params p;
    full_params(&p);
    tf_seq *alone = new_seq(m, ids[1], n_ids[1], &p);
    run_all(m, &alone, 1);
    tf_seq *mix[3];
    mix[0] = new_seq(m, ids[0], n_ids[0], &p);
    mix[1] = new_seq(m, ids[1], n_ids[1], &p);
    gen_params_default(&p);
    p.max_new_tokens = 8;
    p.num_beams = 3;
    p.attn_summary = 1;
    mix[2] = new_seq(m, ids[2], n_ids[2], &p);
    run_all(m, mix, 3);
    tf_seq_state a, b;
    seq_state(alone, &a);
    seq_state(mix[1], &b);
    const tf_attn_encdec_full *x = a.attn_encdec_full, *y = b.attn_encdec_full;
    ck_assert_int_eq(x->n_rows, y->n_rows);
    for (int i = 0; i < x->n_enc_layer * x->n_head; i++)
        ck_assert(memcmp(x->enc[i], y->enc[i], sizeof(float) * (size_t)x->n_src * x->n_src) == 0);
    for (int i = 0; i < x->n_dec_layer * x->n_head; i++) {
        ck_assert(memcmp(x->dec[i], y->dec[i], sizeof(float) * (size_t)x->n_rows * x->dec_ld) == 0);
        ck_assert(memcmp(x->cross[i], y->cross[i], sizeof(float) * (size_t)x->n_rows * x->n_src) == 0);
    }
    seq_free(alone);
    for (int i = 0; i < 3; i++) seq_free(mix[i]);
    model_free(m);
}
END_TEST

/* Only the picked pairs get stores; an index one stack lacks and beams are refused. */
START_TEST(selection_and_beams) {
    tf_model *m = load(1);
    int32_t ids[8][64];
    int n_ids[8];
    inputs(ids, n_ids);
    const int layers[] = {1}, heads[] = {0, 3};
    tf_gen_params p;
    full_params(&p);
    p.attn_sel = (tf_attn_select){.layers = layers, .n_layers = 1, .heads = heads, .n_heads = 2};
    tf_seq *s = new_seq(m, ids[0], n_ids[0], &p);
    run_all(m, &s, 1);
    tf_seq_state st;
    seq_state(s, &st);
    const tf_attn_encdec_full *f = st.attn_encdec_full;
    for (int l = 0; l < 3; l++)
        for (int h = 0; h < 4; h++) {
            const int want = l == 1 && (h == 0 || h == 3), i = l * 4 + h;
            if (l < 2) ck_assert_int_eq(f->enc[i] != NULL, want);
            ck_assert_int_eq(f->dec[i] != NULL, want);
            ck_assert_int_eq(f->cross[i] != NULL, want);
        }
    check_row(f->cross[4], f->n_src, 0, "cross", 4, 0);
    seq_free(s);

    tf_err err = {0};
    const int enc_lacks[] = {2}; /* the decoder has a layer 2, the encoder does not */
    p.attn_sel = (tf_attn_select){.layers = enc_lacks, .n_layers = 1};
    s = NULL;
    ck_assert_int_eq(seq_new(m, ids[0], n_ids[0], &p, &s, &err), TF_ERANGE);
    ck_assert_ptr_null(s);
    /* beams keep the same selection */
    p.attn_sel = (tf_attn_select){.layers = layers, .n_layers = 1, .heads = heads, .n_heads = 2};
    p.num_beams = 2;
    ck_assert_int_eq(seq_new(m, ids[0], n_ids[0], &p, &s, &err), 0);
    run_all(m, &s, 1);
    seq_state(s, &st);
    f = st.attn_encdec_full;
    ck_assert_int_eq(f->n_rows, st.n_generated);
    for (int i = 0; i < 12; i++) ck_assert_int_eq(f->cross[i] != NULL, i == 4 || i == 7);
    for (int r = 0; r < f->n_rows; r++) check_row(f->cross[7] + (size_t)r * f->n_src, f->n_src, 0, "cross", 7, r);
    seq_free(s);
    model_free(m);
}
END_TEST

/* ---- beam search: the returned hypothesis's own attention ---- */

#define BEAMS 4

/* The returned tokens fed again, one position at a time (teacher forcing), through a
 * one-beam sequence that keeps its weights and statistics. */
static tf_seq *teacher_forced(tf_model *m, const int32_t *ids, int n, int max_new, const tf_seq_state *answer) {
    tf_gen_params p;
    full_params(&p);
    p.max_new_tokens = max_new;
    p.attn_summary = 1;
    tf_seq *t = new_seq(m, ids, n, &p);
    float *logits = malloc(sizeof(float) * (size_t)m->info.vocab_size);
    tf_err err = {0};
    for (int i = 0; i < answer->n_generated; i++) {
        ck_assert(!seq_finished(t));
        ck_assert_msg(model_forward_logits(m, t, seq_next_chunk(t, 1 << 20), logits, &err) == 0, "%s", err.msg);
        seq_append_token(t, answer->tokens[i], 0);
    }
    ck_assert(seq_finished(t));
    free(logits);
    return t;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > d) d = fabs((double)a[i] - b[i]);
    return d;
}

/* Statistics sums of the same rows computed in another batch: within tol per row. */
static void check_stats_close(const tf_attn_stats *a, const tf_attn_stats *b, double tol, const char *what, int i) {
    ck_assert_int_eq(a->n_rows, b->n_rows);
    ck_assert_int_eq(a->n_entropy_rows, b->n_entropy_rows);
    const double t = tol * (a->n_rows + 1);
    ck_assert_msg(fabs(a->entropy_sum - b->entropy_sum) <= t, "%s pair %d entropy %f vs %f", what, i, a->entropy_sum,
                  b->entropy_sum);
    ck_assert_msg(fabs(a->max_sum - b->max_sum) <= t, "%s pair %d max %f vs %f", what, i, a->max_sum, b->max_sum);
    ck_assert_msg(fabs(a->sink_sum - b->sink_sum) <= t, "%s pair %d sink", what, i);
    ck_assert_msg(fabs(a->prompt_sum - b->prompt_sum) <= t, "%s pair %d prompt", what, i);
}

/* num_beams 4, every case of the fixture batched together, int8 and fp32: the full rows
 * and the statistics of the answer are those of its tokens decoded again one beam alone
 * (teacher forcing). The weights of the same rows computed in another batch agree to
 * float rounding: 1e-4 (fp32: a different row count changes the GEMM's summation order;
 * int8 accumulates exactly, so the two are usually equal). The test also keeps every
 * beam's raw cross rows during the search, and asserts that some answer row is not the
 * search's first live row of its step (row 0): taking row 0 each step, or any fixed beam,
 * would then fail the comparison. */
START_TEST(beam_rows_are_the_returned_hypothesis) {
    const int int8 = _i;
    tf_model *m = load(int8);
    int32_t ids[8][64];
    int n_ids[8];
    const int n_cases = inputs(ids, n_ids);
    tf_gen_params p;
    full_params(&p);
    p.max_new_tokens = 10;
    p.num_beams = BEAMS;
    p.attn_summary = 1;
    p.attn_per_beam = 1;
    tf_seq *seqs[8];
    for (int c = 0; c < n_cases; c++) seqs[c] = new_seq(m, ids[c], n_ids[c], &p);
    /* raw cross rows of pair (layer 2, head 1) per case, snapshot after each step:
     * row (t, b) at t * BEAMS + b, as the store keeps them until the search ends */
    const int pair = 2 * 4 + 1, cap = p.max_new_tokens + 1;
    float *raw[8];
    for (int c = 0; c < n_cases; c++) raw[c] = calloc((size_t)cap * BEAMS * n_ids[c], sizeof(float));
    tf_err err = {0};
    for (;;) {
        tf_seq *live[8];
        int n_tok[8], k = 0;
        for (int c = 0; c < n_cases; c++)
            if (!seq_finished(seqs[c])) {
                live[k] = seqs[c];
                n_tok[k++] = seq_next_chunk(seqs[c], 512);
            }
        if (k == 0) break;
        tf_batch b = {.n_seqs = k, .seqs = live, .n_tokens = n_tok};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
        for (int c = 0; c < n_cases; c++) {
            tf_seq_state st;
            seq_state(seqs[c], &st);
            if (!seq_finished(seqs[c])) {
                ck_assert_int_eq(st.attn_encdec_full->n_rows, 0); /* not known yet */
                ck_assert_ptr_null(st.attn_encdec_hyp);
                memcpy(raw[c], st.attn_encdec_full->cross[pair], sizeof(float) * (size_t)cap * BEAMS * n_ids[c]);
            }
        }
    }
    int off_row0 = 0, n_rows_all = 0;
    for (int c = 0; c < n_cases; c++) {
        tf_seq_state a, b;
        seq_state(seqs[c], &a);
        tf_seq *t = teacher_forced(m, ids[c], n_ids[c], p.max_new_tokens, &a);
        seq_state(t, &b);
        const tf_attn_encdec_full *x = a.attn_encdec_full, *y = b.attn_encdec_full;
        const int n = x->n_rows, S = x->n_src;
        ck_assert_int_eq(n, a.n_generated); /* one row per returned token */
        ck_assert_int_eq(y->n_rows, n);
        ck_assert_int_eq(x->dec_ld, y->dec_ld);
        n_rows_all += n;
        for (int i = 0; i < x->n_enc_layer * x->n_head; i++)
            ck_assert(max_diff(x->enc[i], y->enc[i], (size_t)S * S) <= 1e-4);
        for (int i = 0; i < x->n_dec_layer * x->n_head; i++)
            for (int r = 0; r < n; r++) {
                const float *xd = x->dec[i] + (size_t)r * x->dec_ld, *xc = x->cross[i] + (size_t)r * S;
                check_row(xd, r + 1, x->dec_ld - r - 1, "beam dec", i, r);
                check_row(xc, S, 0, "beam cross", i, r);
                double dd = max_diff(xd, y->dec[i] + (size_t)r * y->dec_ld, (size_t)r + 1);
                double dc = max_diff(xc, y->cross[i] + (size_t)r * S, (size_t)S);
                ck_assert_msg(dd <= 1e-4 && dc <= 1e-4, "case %d pair %d row %d: decoder %.3g, cross %.3g off the "
                              "teacher-forced rows", c, i, r, dd, dc);
            }
        /* the last snapshot was taken before the final step; rows of later steps are not in it */
        for (int r = 0; r + 1 < n; r++)
            off_row0 += max_diff(x->cross[pair] + (size_t)r * S, raw[c] + (size_t)r * BEAMS * S, (size_t)S) > 1e-3;
        /* statistics: the answer's own against the teacher-forced sequence's */
        const tf_attn_encdec *h = a.attn_encdec_hyp, *g = b.attn_encdec;
        ck_assert_ptr_nonnull(h);
        ck_assert_ptr_ne(h, a.attn_encdec);
        ck_assert_int_eq(h->n_steps, n);
        ck_assert_int_eq(g->n_steps, n);
        for (int i = 0; i < h->n_dec_layer * h->n_head; i++) {
            check_stats_close(&h->dec[i], &g->dec[i], 1e-4, "dec", i);
            check_stats_close(&h->cross[i], &g->cross[i], 1e-4, "cross", i);
            ck_assert_int_eq(h->cover[i].n_steps, g->cover[i].n_steps);
            ck_assert_int_eq(h->cover[i].n_repeat, g->cover[i].n_repeat);
            ck_assert(max_diff(h->cover[i].coverage, g->cover[i].coverage, (size_t)S) <= 1e-4 * n);
        }
        /* the search's sums hold more rows than the answer's (beams fan out after step 0) */
        if (n > 1) ck_assert_int_gt(a.attn_encdec->cross[0].n_rows, h->cross[0].n_rows);
        seq_free(t);
        seq_free(seqs[c]);
        free(raw[c]);
    }
    printf("t5 beams %d (%s): %d answer rows equal to teacher forcing, %d of them not the step's first beam's\n",
           BEAMS, int8 ? "int8" : "fp32", n_rows_all, off_row0);
    ck_assert_int_gt(off_row0, 0);
    model_free(m);
}
END_TEST

Suite *t5_attn_suite(void) {
    Suite *s = suite_create("t5_attn");
    TCase *tc = tcase_create("full");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, rows_are_softmax_rows, 0, 2);
    tcase_add_test(tc, weights_do_not_depend_on_the_batch);
    tcase_add_test(tc, selection_and_beams);
    tcase_add_loop_test(tc, beam_rows_are_the_returned_hypothesis, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
