/* KV cache accounting (models/kv_budget.c): seq_kv_need against what seq_new really
 * allocates for every generating family, and the per-model budget seq_new charges. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "models/model_impl.h"

static tf_model *load(const char *fixture, size_t budget) {
    char dir[128];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", fixture);
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = 1, .n_threads = 1, .kv_budget_bytes = budget};
    ck_assert_msg(model_load(dir, &o, &m, &err) == 0, "%s: %s", dir, err.msg);
    return m;
}

static tf_gen_params params(int max_new, int beams) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = max_new;
    p.num_beams = beams;
    return p;
}

/* The need is the allocation: for each family, shapes that exercise the context cap (a
 * decoder's positions stop at n_ctx), the empty prompt (one BOS), beams (one T5
 * self-attention cache each) and the encoder length (T5 cross-attention). */
START_TEST(need_equals_allocation) {
    static const struct {
        const char *fixture;
        int n_prompt, max_new, beams;
    } cases[] = {
        {"e2e-gpt2", 5, 7, 1},     {"e2e-gpt2", 5, 1000, 1}, {"e2e-gpt2", 0, 3, 1},
        {"tiny-llama-gqa", 9, 20, 1},   {"tiny-llama-gqa", 3, 500, 1}, {"tiny-t5-relu", 6, 10, 1},
        {"tiny-t5-relu", 6, 10, 4},     {"tiny-t5-relu", 40, 300, 3},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tf_model *m = load(cases[c].fixture, 0);
        int32_t ids[64];
        for (int i = 0; i < cases[c].n_prompt; i++) ids[i] = 3 + i;
        tf_gen_params p = params(cases[c].max_new, cases[c].beams);
        size_t need = seq_kv_need(m, cases[c].n_prompt, &p);
        tf_seq *s = NULL;
        tf_err err = {0};
        ck_assert_msg(seq_new(m, ids, cases[c].n_prompt, &p, &s, &err) == 0, "%s", err.msg);
        tf_seq_state st;
        seq_state(s, &st);
        ck_assert_msg(st.kv_bytes == need && need > 0, "case %zu (%s): allocated %zu, need said %zu", c,
                      cases[c].fixture, st.kv_bytes, need);
        ck_assert_uint_eq(model_kv_reserved(m), need);
        seq_free(s);
        ck_assert_uint_eq(model_kv_reserved(m), 0);
        model_free(m);
    }
    /* A classifier keeps no cache. */
    tf_model *m = load("tiny-distilbert-sst2", 0);
    tf_gen_params p = params(16, 1);
    ck_assert_uint_eq(seq_kv_need(m, 5, &p), 0);
    model_free(m);
}
END_TEST

/* Budget for two and a half sequences: the third is refused with nothing allocated or
 * charged, and fits once one is freed; a sequence over the budget alone never fits. */
START_TEST(budget_refuses_then_admits) {
    tf_model *probe = load("tiny-t5-relu", 0);
    tf_gen_params p = params(30, 2);
    const size_t need = seq_kv_need(probe, 8, &p);
    model_free(probe);
    tf_model *m = load("tiny-t5-relu", need * 5 / 2);
    ck_assert_uint_eq(model_kv_budget(m), need * 5 / 2);
    int32_t ids[8] = {3, 4, 5, 6, 7, 8, 9, 1};
    tf_seq *s[3] = {0};
    tf_err err = {0};
    ck_assert_int_eq(seq_new(m, ids, 8, &p, &s[0], &err), 0);
    ck_assert_int_eq(seq_new(m, ids, 8, &p, &s[1], &err), 0);
    ck_assert_int_eq(seq_new(m, ids, 8, &p, &s[2], &err), TF_EFULL);
    ck_assert_ptr_null(s[2]);
    ck_assert_ptr_nonnull(strstr(err.msg, "KV cache budget"));
    ck_assert_uint_eq(model_kv_reserved(m), 2 * need);
    seq_free(s[0]);
    ck_assert_int_eq(seq_new(m, ids, 8, &p, &s[2], &err), 0);
    ck_assert_uint_eq(model_kv_reserved(m), 2 * need);
    seq_free(s[1]);
    seq_free(s[2]);
    ck_assert_uint_eq(model_kv_reserved(m), 0);
    /* more beams than the budget holds, with nothing else live */
    tf_gen_params big = params(30, 6);
    tf_seq *t = NULL;
    ck_assert_uint_gt(seq_kv_need(m, 8, &big), need * 5 / 2);
    ck_assert_int_eq(seq_new(m, ids, 8, &big, &t, &err), TF_EFULL);
    ck_assert_uint_eq(model_kv_reserved(m), 0);
    model_free(m);
}
END_TEST

/* The reservation arithmetic at its edges: exactly the budget fits, one byte more does
 * not, sizes near SIZE_MAX never wrap the sum, and 0 means no bound at all. */
START_TEST(reserve_edges) {
    tf_model m;
    memset(&m, 0, sizeof m);
    tf_err err = {0};
    m.kv_budget_bytes = 1000;
    ck_assert_int_eq(kv_budget_reserve(&m, 1000, &err), 0);
    ck_assert_int_eq(kv_budget_reserve(&m, 1, &err), TF_EFULL);
    kv_budget_release(&m, 1000);
    ck_assert_int_eq(kv_budget_reserve(&m, 1001, &err), TF_EFULL);
    ck_assert_int_eq(kv_budget_reserve(&m, 600, &err), 0);
    ck_assert_int_eq(kv_budget_reserve(&m, SIZE_MAX, &err), TF_EFULL);
    ck_assert_int_eq(kv_budget_reserve(&m, SIZE_MAX - 100, &err), TF_EFULL);
    ck_assert_uint_eq(model_kv_reserved(&m), 600);
    kv_budget_release(&m, 600);
    m.kv_budget_bytes = 0;
    ck_assert_int_eq(kv_budget_reserve(&m, SIZE_MAX / 2, &err), 0);
    ck_assert_int_eq(kv_budget_reserve(&m, SIZE_MAX / 2, &err), 0);
    ck_assert_uint_eq(model_kv_reserved(&m), SIZE_MAX / 2 * 2);
}
END_TEST

Suite *kv_budget_suite(void) {
    Suite *s = suite_create("kv_budget");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, need_equals_allocation);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, budget_refuses_then_admits);
    tcase_add_test(tl, reserve_edges);
    suite_add_tcase(s, tl);
    return s;
}
