/* Request shaping for translate/summarize (server/text_task.c) on the tiny T5 fixture:
 * prefixes from task_specific_params, the supported-pairs message, the length limit and
 * truncation that keeps the final </s>. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/text_task.h"

static tf_model *load(void) {
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = 0, .n_threads = 1};
    ck_assert_msg(model_load("tests/fixtures/tiny-t5-relu", &o, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(prefixes_and_pairs) {
    tf_model *m = load();
    tf_err err = {0};
    const char *prefix = NULL;
    ck_assert_int_eq(tt_translation_prefix(m, "en", "fr", &prefix, &err), 0);
    ck_assert_str_eq(prefix, "translate English to French: ");
    ck_assert_int_eq(tt_translation_prefix(m, "de", "en", &prefix, &err), TF_ENOTFOUND);
    ck_assert_ptr_null(prefix);
    ck_assert_msg(strstr(err.msg, "de->en") && strstr(err.msg, "en->de") && strstr(err.msg, "en->fr"), "%s",
                  err.msg);
    ck_assert_int_eq(tt_translation_prefix(m, "en_to_de", "x", &prefix, &err), TF_ENOTFOUND);
    char pairs[64];
    tt_translation_pairs(m, pairs, sizeof pairs);
    ck_assert_str_eq(pairs, "en->de, en->fr");
    tt_translation_pairs(m, pairs, 9); /* too small: whole entries only, terminated */
    ck_assert_str_eq(pairs, "en->de");
    ck_assert_int_eq(tt_summarize_prefix(m, &prefix, &err), 0);
    ck_assert_str_eq(prefix, "summarize: ");
    model_free(m);
}
END_TEST

START_TEST(limit_and_truncation) {
    tf_model *m = load();
    tf_err err = {0};
    int32_t *ids;
    int n, truncated;
    const char *short_text = "the house is small";
    ck_assert_int_eq(tt_encode(m, "summarize: ", short_text, strlen(short_text), 0, &ids, &n, &truncated, &err), 0);
    ck_assert_int_eq(truncated, 0);
    ck_assert_int_eq(ids[n - 1], 1);
    free(ids);
    char long_text[2048] = "";
    for (int i = 0; i < 100; i++) strcat(long_text, "the cat ");
    ck_assert_int_eq(tt_encode(m, "summarize: ", long_text, strlen(long_text), 0, &ids, &n, &truncated, &err),
                     TF_ETOOLONG);
    ck_assert_ptr_null(ids);
    ck_assert_msg(strstr(err.msg, "at most 64"), "%s", err.msg);
    ck_assert_int_eq(tt_encode(m, "summarize: ", long_text, strlen(long_text), 1, &ids, &n, &truncated, &err), 0);
    ck_assert_int_eq(truncated, 1);
    ck_assert_int_eq(n, 64);
    ck_assert_int_eq(ids[63], 1); /* </s> kept at the end, as transformers' truncation does */
    ck_assert_int_ne(ids[62], 1);
    free(ids);
    model_free(m);
}
END_TEST

Suite *text_task_suite(void) {
    Suite *s = suite_create("text_task");
    TCase *tc = tcase_create("shaping");
    tcase_add_test(tc, prefixes_and_pairs);
    tcase_add_test(tc, limit_and_truncation);
    suite_add_tcase(s, tc);
    return s;
}
