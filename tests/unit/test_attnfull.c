/* return_attention "full": mode and index parsing, the pick against a model's shape, and
 * the size bound with its exact counts and message. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "server/attnfull.h"

static json_t *js(const char *text) {
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(v);
    return v;
}

START_TEST(mode_values) {
    const char *in[] = {"\"none\"", "\"summary\"", "\"full\""};
    tf_http_error e;
    for (int i = 0; i < 3; i++) {
        json_t *v = js(in[i]);
        int mode = -1;
        ck_assert_int_eq(attnfull_parse_mode(v, "return_attention", &mode, &e), 0);
        ck_assert_int_eq(mode, i);
        json_decref(v);
    }
    int mode = 0;
    json_t *v = js("\"Full\"");
    ck_assert_int_eq(attnfull_parse_mode(v, "return_attention", &mode, &e), -1);
    ck_assert_int_eq(e.kind, HERR_OUT_OF_RANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "\"summary\", \"full\", \"none\""));
    json_decref(v);
    v = js("true");
    ck_assert_int_eq(attnfull_parse_mode(v, "return_attention", &mode, &e), -1);
    ck_assert_int_eq(e.kind, HERR_INVALID_FIELD);
    json_decref(v);
}
END_TEST

static int parse(const char *text, int **out, int *n, tf_http_error *e) {
    json_t *v = js(text);
    int rc = attnfull_parse_indices(v, "attention_layers", out, n, e);
    json_decref(v);
    return rc;
}

START_TEST(index_lists) {
    tf_http_error e;
    int *a = NULL, n = 0;
    ck_assert_int_eq(parse("[3, 0, 7]", &a, &n, &e), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(a[0], 3);
    ck_assert_int_eq(a[2], 7);
    free(a);
    a = NULL;
    const struct {
        const char *in;
        tf_herr_kind kind;
        const char *says;
    } bad[] = {
        {"3", HERR_INVALID_FIELD, "attention_layers must be an array of integers"},
        {"[1, \"2\"]", HERR_INVALID_FIELD, "attention_layers[1] must be an integer"},
        {"[1.5]", HERR_INVALID_FIELD, "attention_layers[0] must be an integer"},
        {"[]", HERR_OUT_OF_RANGE, "must not be empty"},
        {"[0, -1]", HERR_OUT_OF_RANGE, "attention_layers[1] must be between 0 and"},
        {"[2, 5, 2]", HERR_OUT_OF_RANGE, "lists 2 twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(parse(bad[i].in, &a, &n, &e), -1);
        ck_assert_ptr_null(a);
        ck_assert_int_eq(e.kind, bad[i].kind);
        ck_assert_msg(strstr(e.msg, bad[i].says), "%s: %s", bad[i].in, e.msg);
    }
}
END_TEST

START_TEST(pick_against_the_model) {
    tf_http_error e;
    int layers[2] = {0, 11}, heads[1] = {12};
    tf_attn_pick p = {.layers = layers, .n_layers = 2};
    ck_assert_int_eq(attnfull_check_pick(&p, ATTN_RET_FULL, 12, 12, &e), 0);
    ck_assert_int_eq(attnfull_check_pick(&p, ATTN_RET_FULL, 11, 12, &e), -1);
    ck_assert_str_eq(e.msg, "attention_layers[1] = 11 is out of range: the model has 11 layers (0 to 10)");
    p = (tf_attn_pick){.heads = heads, .n_heads = 1};
    ck_assert_int_eq(attnfull_check_pick(&p, ATTN_RET_FULL, 12, 12, &e), -1);
    ck_assert_str_eq(e.msg, "attention_heads[0] = 12 is out of range: the model has 12 heads (0 to 11)");
    ck_assert_int_eq(attnfull_check_pick(&p, ATTN_RET_SUMMARY, 12, 13, &e), -1);
    ck_assert_str_eq(e.msg, "attention_heads needs \"return_attention\": \"full\"");
    tf_attn_pick all = {0};
    ck_assert_int_eq(attnfull_check_pick(&all, ATTN_RET_NONE, 0, 0, &e), 0);
    ck_assert_int_eq(attnfull_check_pick(&all, ATTN_RET_FULL, 0, 0, &e), -1);
    /* the engine's view borrows the lists */
    tf_attn_select s = attnfull_select(&p);
    ck_assert_ptr_eq(s.heads, heads);
    ck_assert_int_eq(s.n_heads, 1);
    ck_assert_int_eq(s.n_layers, 0);
}
END_TEST

START_TEST(weights_counted_exactly) {
    int layers[2] = {0, 1}, heads[3] = {0, 1, 2};
    tf_attn_pick all = {0}, two_three = {.layers = layers, .n_layers = 2, .heads = heads, .n_heads = 3};
    /* causal: rows 1..5 keys = 15 per pair */
    ck_assert_uint_eq(attnfull_n_weights(&all, 12, 12, 5, 1), 144u * 15u);
    ck_assert_uint_eq(attnfull_n_weights(&two_three, 12, 12, 5, 1), 6u * 15u);
    ck_assert_uint_eq(attnfull_n_weights(&two_three, 12, 12, 5, 0), 6u * 25u);
    ck_assert_uint_eq(attnfull_n_weights(&all, 12, 12, 0, 1), 0u);
    ck_assert_uint_eq(attnfull_n_weights(&all, 1 << 20, 1 << 20, 1LL << 40, 0), UINT64_MAX);
}
END_TEST

START_TEST(bound_and_its_message) {
    tf_http_error e;
    tf_attn_pick all = {0};
    /* GPT-2 small: 144 pairs; 58 rows -> 144 * 58 * 59 / 2 = 246,384 <= 250,000; 59 rows over */
    ck_assert_int_eq(attnfull_admit_causal(&all, 12, 12, 58, 250000, &e), 0);
    ck_assert_int_eq(attnfull_admit_causal(&all, 12, 12, 59, 250000, &e), -1);
    ck_assert_int_eq(e.kind, HERR_OUT_OF_RANGE);
    ck_assert_str_eq(e.msg, "return_attention \"full\" would return 254880 weights (12 layers x 12 heads x 59 causal "
                            "rows), over the bound attn_full_max_weights (250000): pick fewer "
                            "attention_layers/attention_heads or lower max_new_tokens or the prompt");
    int n_ids[2] = {10, 20};
    int one[1] = {3};
    tf_attn_pick head3 = {.heads = one, .n_heads = 1};
    /* 2 layers x 1 head x (100 + 400) */
    ck_assert_int_eq(attnfull_admit_square(&head3, 2, 4, n_ids, 2, 1000, &e), 0);
    ck_assert_int_eq(attnfull_admit_square(&head3, 2, 4, n_ids, 2, 999, &e), -1);
    ck_assert_ptr_nonnull(strstr(e.msg, "would return 1000 weights (2 layers x 1 heads x tokens^2 over 2 texts of 30"));
    ck_assert_ptr_nonnull(strstr(e.msg, "attn_full_max_weights (999)"));
    ck_assert_ptr_nonnull(strstr(e.msg, "fewer or shorter texts"));
}
END_TEST

Suite *attnfull_suite(void) {
    Suite *s = suite_create("attnfull");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, mode_values);
    tcase_add_test(tc, index_lists);
    tcase_add_test(tc, pick_against_the_model);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, weights_counted_exactly);
    tcase_add_test(lim, bound_and_its_message);
    suite_add_tcase(s, lim);
    return s;
}
