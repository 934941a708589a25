/* T5 "full" attention weights (tf_gen_params.attn_full, tf_attn_encdec_full) on the untied
 * fixture (2 encoder layers, 3 decoder layers, 4 heads): every kept row is a softmax row
 * (sums to 1, nothing past its last key), the cross rows add up to the statistics'
 * coverage, decoding is the same with and without them, a sequence's weights do not
 * depend on what it is batched with, and the selection and the one-beam rule are enforced.
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
    p.attn_sel = (tf_attn_select){0};
    p.num_beams = 2;
    ck_assert_int_eq(seq_new(m, ids[0], n_ids[0], &p, &s, &err), TF_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "num_beams 1") != NULL, "%s", err.msg);
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
    suite_add_tcase(s, tc);
    return s;
}
