/* models/beam_attn.c on a hand-made search (3 beams, 1 decoder layer, 2 heads, 4 source
 * tokens): rows are found by following the parents back from the answer's last row and
 * moved to rows 0.., statistics follow forks and are frozen when a hypothesis ends. The
 * T5 suite (test_t5_attn.c) checks the same on a real model against teacher forcing. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "models/beam_attn.h"

enum { NB = 3, NL = 1, NH = 2, NS = 4, STEPS = 6 };

/* A distinct, recognisable weight for (step, beam, key): checks can tell rows apart. */
static float mark(int step, int beam, int key) { return (float)(step * 100 + beam * 10 + key) / 1000.0f; }

static tf_beam *search(void) {
    tf_gen_params p;
    gen_params_default(&p);
    p.num_beams = NB;
    p.max_new_tokens = STEPS - 1;
    tf_beam *b = NULL;
    tf_err err = {0};
    ck_assert_int_eq(beam_new(&p, 8, 1, 0, &b, &err), 0);
    return b;
}

/* One step of the made-up search: every live row of every pair gets its marked row. */
static void feed(tf_beam_attn *ba, int step, int n_live, const int *slot) {
    float row[STEPS > NS ? STEPS : NS];
    for (int beam = 0; beam < n_live; beam++)
        for (int h = 0; h < NH; h++) {
            for (int k = 0; k < NS; k++) row[k] = mark(step, beam, k);
            beam_attn_row(ba, 1, 0, h, slot[beam], beam, step, row, NS);
            for (int k = 0; k <= step; k++) row[k] = mark(step, beam, k);
            beam_attn_row(ba, 0, 0, h, slot[beam], beam, step, row, step + 1);
        }
}

/* Steps 0..4: one row at step 0, then three; the parents make the answer's path
 * 0 -> 2 -> 1 -> 0 -> 2 (rows at steps 0..4), which is neither a fixed beam nor row 0. */
static const int parents[STEPS][NB] = {{0}, {0, 0, 0}, {1, 2, 0}, {1, 1, 2}, {0, 2, 0}};
static const int path[5] = {0, 2, 1, 0, 2};

START_TEST(answer_rows_follow_the_parents) {
    tf_err err = {0};
    tf_attn_select all = {0};
    tf_attn_encdec_store *st = NULL;
    ck_assert_int_eq(attn_capture_encdec_new(1, NL, NH, &all, NS, STEPS, NB, &st, &err), 0);
    tf_beam_attn *ba = NULL;
    ck_assert_int_eq(beam_attn_new(NL, NH, NS, NB, STEPS, NULL, st, &ba, &err), 0);
    ck_assert_ptr_null(beam_attn_view(ba)); /* no statistics kept */
    tf_beam *b = search();
    const int slot[NB] = {0, 1, 2};
    for (int t = 0; t < 5; t++) {
        if (t > 0) {
            b->n_live = NB;
            memcpy(b->parent, parents[t], sizeof parents[t]);
            beam_attn_reorder(ba, b, t, slot);
        }
        feed(ba, t, t == 0 ? 1 : NB, slot);
    }
    /* the answer: 4 tokens and EOS, its last position fed by row 2 at step 4 */
    b->n_hyp = 1;
    b->hyp[0] = (beam_hyp){.score = -1, .len = 4, .eos = 1, .row = 2, .row_pending = 1};
    beam_attn_finish(ba, b, slot, 5);
    ck_assert_int_eq(st->view.n_rows, 5);
    ck_assert_int_eq(st->view.dec_ld, STEPS);
    for (int i = 0; i < NH; i++)
        for (int t = 0; t < 5; t++) {
            for (int k = 0; k < NS; k++)
                ck_assert_float_eq(st->cross[i][t * NS + k], mark(t, path[t], k));
            for (int k = 0; k <= t; k++) ck_assert_float_eq(st->dec[i][t * STEPS + k], mark(t, path[t], k));
            /* nothing of the row that was there before past the moved row's keys */
            for (int k = t + 1; k < STEPS; k++) ck_assert_float_eq(st->dec[i][t * STEPS + k], 0.0f);
        }
    beam_attn_free(ba);
    attn_capture_encdec_free(st);
    beam_free(b);
}
END_TEST

/* Statistics: the first row's set goes to every child, a fork's copy is its own from
 * then on, a hypothesis keeps its set as it was when it ended. */
START_TEST(statistics_follow_forks_and_freeze_at_the_end) {
    tf_err err = {0};
    tf_attn_stats enc[NH] = {{0}}, dec[NL * NH] = {{0}}, cross[NL * NH] = {{0}};
    tf_attn_cross cover[NL * NH] = {{0}};
    tf_attn_encdec search_view = {.enc = enc, .dec = dec, .cross = cross, .cover = cover, .n_enc_layer = 1,
                                  .n_dec_layer = NL, .n_head = NH, .n_src = NS};
    tf_beam_attn *ba = NULL;
    ck_assert_int_eq(beam_attn_new(NL, NH, NS, NB, STEPS, &search_view, NULL, &ba, &err), 0);
    tf_beam *b = search();
    int slot[NB] = {0, 1, 2};
    feed(ba, 0, 1, slot);
    /* step 1: all three continue row 0; the fork puts children 1 and 2 into slots 1, 2 */
    b->n_live = NB;
    memcpy(b->parent, parents[1], sizeof parents[1]);
    beam_attn_reorder(ba, b, 1, slot);
    beam_attn_copy_slot(ba, 0, 1);
    beam_attn_copy_slot(ba, 0, 2);
    feed(ba, 1, NB, slot);
    /* beam step: row 1 ends with EOS (2 positions fed); then step 2 moves row 0 to slot 1
     * (a fork over row 1's slot, whose set the hypothesis has taken by then) */
    b->n_hyp = 1;
    b->hyp[0] = (beam_hyp){.score = -1, .len = 1, .eos = 1, .row = 1, .row_pending = 1};
    const int par2[NB] = {0, 0, 2};
    memcpy(b->parent, par2, sizeof par2);
    beam_attn_reorder(ba, b, 2, slot);
    ck_assert_int_eq(b->hyp[0].row_pending, 0);
    beam_attn_copy_slot(ba, 0, 1);
    feed(ba, 2, NB, slot);
    feed(ba, 3, NB, slot);
    beam_attn_finish(ba, b, slot, 2);
    const tf_attn_encdec *v = beam_attn_view(ba);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_eq(v->enc, enc); /* the encoder is the search's */
    ck_assert_int_eq(v->n_steps, 2);
    for (int i = 0; i < NL * NH; i++) {
        ck_assert_int_eq(v->dec[i].n_rows, 2);
        ck_assert_int_eq(v->cross[i].n_rows, 2);
        ck_assert_int_eq(v->cover[i].n_steps, 2);
        ck_assert_int_eq(v->cover[i].n_src, NS);
        /* its rows: step 0 of row 0, then step 1 of row 1 */
        for (int k = 0; k < NS; k++)
            ck_assert(fabsf(v->cover[i].coverage[k] - (mark(0, 0, k) + mark(1, 1, k))) < 1e-6f);
        ck_assert(fabs(v->dec[i].sink_sum - (mark(0, 0, 0) + mark(1, 1, 0))) < 1e-6);
        /* focus: key 3 both times (the largest mark of each row) */
        ck_assert_int_eq(v->cover[i].n_repeat, 1);
    }
    beam_attn_free(ba);
    beam_free(b);
}
END_TEST

/* An answer cut short by the caller gets that many rows; no hypothesis, none and zero steps. */
START_TEST(short_and_missing_answers) {
    tf_err err = {0};
    tf_attn_select all = {0};
    tf_attn_encdec_store *st = NULL;
    ck_assert_int_eq(attn_capture_encdec_new(1, NL, NH, &all, NS, STEPS, NB, &st, &err), 0);
    tf_attn_stats enc[NH] = {{0}}, dec[NL * NH] = {{0}}, cross[NL * NH] = {{0}};
    tf_attn_cross cover[NL * NH] = {{0}};
    tf_attn_encdec search_view = {.enc = enc, .dec = dec, .cross = cross, .cover = cover, .n_enc_layer = 1,
                                  .n_dec_layer = NL, .n_head = NH, .n_src = NS};
    for (int missing = 0; missing < 2; missing++) {
        tf_beam_attn *ba = NULL;
        ck_assert_int_eq(beam_attn_new(NL, NH, NS, NB, STEPS, &search_view, st, &ba, &err), 0);
        tf_beam *b = search();
        const int slot[NB] = {0, 1, 2};
        for (int t = 0; t < 5; t++) {
            if (t > 0) {
                b->n_live = NB;
                memcpy(b->parent, parents[t], sizeof parents[t]);
                beam_attn_reorder(ba, b, t, slot);
            }
            feed(ba, t, t == 0 ? 1 : NB, slot);
        }
        if (!missing) {
            b->n_hyp = 1;
            b->hyp[0] = (beam_hyp){.score = -1, .len = 5, .eos = 0, .row = 2, .row_pending = 1};
        }
        beam_attn_finish(ba, b, slot, 3); /* the caller kept 3 of its 5 tokens */
        ck_assert_int_eq(st->view.n_rows, missing ? 0 : 3);
        ck_assert_int_eq(beam_attn_view(ba)->n_steps, missing ? 0 : 5);
        for (int t = 0; !missing && t < 3; t++) ck_assert_float_eq(st->cross[1][t * NS], mark(t, path[t], 0));
        beam_attn_free(ba);
        beam_free(b);
    }
    attn_capture_encdec_free(st);
}
END_TEST

Suite *beam_attn_suite(void) {
    Suite *s = suite_create("beam_attn");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, answer_rows_follow_the_parents);
    tcase_add_test(tc, statistics_follow_forks_and_freeze_at_the_end);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_test(tc, short_and_missing_answers);
    suite_add_tcase(s, tc);
    return s;
}
