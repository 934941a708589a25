/* Tests for models/hf_config.c: configs written here, plus the real GPT-2 config. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/hf_config.h"

static char tmp_dir[64];
static char cfg_path[128];

static void tmp_setup(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/tf_hfc_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", tmp_dir);
}

static void tmp_teardown(void) {
    unlink(cfg_path);
    rmdir(tmp_dir);
}

static tf_hf_config *load_text(const char *json) {
    FILE *f = fopen(cfg_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    tf_hf_config *c = NULL;
    tf_err err = {0};
    ck_assert_msg(hfc_load(tmp_dir, &c, &err) == 0, "%s", err.msg);
    return c;
}

static const char *sample =
    "{\"n_embd\": 64, \"n_inner\": null, \"n_head\": 0, \"big\": 3000000000, \"eps\": 1e-5, \"ratio\": 2,"
    " \"flag\": true, \"flag_int\": 1, \"act\": \"gelu_new\", \"n_real\": 4.0, \"arch_num\": 5,"
    " \"architectures\": [\"GPT2LMHeadModel\"], \"id2label\": {\"0\": \"NEGATIVE\"}}";

START_TEST(getters_read_values_and_defaults) {
    tf_hf_config *c = load_text(sample);
    tf_err err = {0};
    int i = -1;
    double d = -1;
    ck_assert_int_eq(hfc_int(c, "n_embd", 1, 1, 65536, &i, &err), 0);
    ck_assert_int_eq(i, 64);
    ck_assert(!hfc_has(c, "n_inner"));
    ck_assert(!hfc_has(c, "absent"));
    ck_assert(hfc_has(c, "n_embd"));
    ck_assert_int_eq(hfc_int(c, "n_inner", 256, 1, 1 << 20, &i, &err), 0);
    ck_assert_int_eq(i, 256); /* null takes the default */
    ck_assert_int_eq(hfc_int(c, "absent", 7, 1, 10, &i, &err), 0);
    ck_assert_int_eq(i, 7);
    ck_assert_int_eq(hfc_float(c, "eps", 1e-6, 0, 1, &d, &err), 0);
    ck_assert(d == 1e-5);
    ck_assert_int_eq(hfc_float(c, "ratio", 0, 0, 10, &d, &err), 0); /* integers are numbers too */
    ck_assert(d == 2.0);
    ck_assert_int_eq(hfc_float(c, "absent", 0.5, 0, 1, &d, &err), 0);
    ck_assert(d == 0.5);
    ck_assert_int_eq(hfc_bool(c, "flag", 0, &i, &err), 0);
    ck_assert_int_eq(i, 1);
    ck_assert_int_eq(hfc_bool(c, "absent", 1, &i, &err), 0);
    ck_assert_int_eq(i, 1);
    ck_assert_str_eq(hfc_str(c, "act", "relu"), "gelu_new");
    ck_assert_str_eq(hfc_str(c, "absent", "relu"), "relu");
    ck_assert_str_eq(hfc_str(c, "n_embd", "relu"), "relu");
    const char *s = NULL;
    ck_assert_int_eq(hfc_str_checked(c, "act", "x", &s, &err), 0);
    ck_assert_str_eq(s, "gelu_new");
    ck_assert_str_eq(hfc_architecture(c), "GPT2LMHeadModel");
    ck_assert_str_eq(hfc_path(c), cfg_path);
    ck_assert(json_is_object(json_object_get(hfc_json(c), "id2label")));
    hfc_free(c);
    hfc_free(NULL);
}
END_TEST

static void expect_bad(int rc, tf_err *err, int code, const char *key) {
    ck_assert_msg(rc == code, "rc %s want %s (%s)", err_name(rc), err_name(code), err->msg);
    ck_assert_msg(strstr(err->msg, key) && strstr(err->msg, cfg_path), "message lacks key/file: %s", err->msg);
}

START_TEST(getters_refuse_bad_values) {
    tf_hf_config *c = load_text(sample);
    tf_err err = {0};
    int i = 99;
    double d = 0;
    expect_bad(hfc_int(c, "n_head", 12, 1, 1024, &i, &err), &err, TF_ERANGE, "n_head");
    ck_assert_ptr_nonnull(strstr(err.msg, "[1, 1024]"));
    ck_assert_int_eq(i, 99); /* untouched on error */
    expect_bad(hfc_int(c, "big", 1, 1, 1 << 30, &i, &err), &err, TF_ERANGE, "big");
    expect_bad(hfc_int(c, "n_real", 1, 1, 10, &i, &err), &err, TF_EFORMAT, "n_real");
    expect_bad(hfc_int(c, "act", 1, 1, 10, &i, &err), &err, TF_EFORMAT, "act");
    expect_bad(hfc_float(c, "eps", 0.5, 1e-3, 1, &d, &err), &err, TF_ERANGE, "eps");
    expect_bad(hfc_float(c, "act", 0.5, 0, 1, &d, &err), &err, TF_EFORMAT, "act");
    expect_bad(hfc_bool(c, "flag_int", 0, &i, &err), &err, TF_EFORMAT, "flag_int");
    const char *s = NULL;
    expect_bad(hfc_str_checked(c, "n_embd", "x", &s, &err), &err, TF_EFORMAT, "n_embd");
    hfc_free(c);
    c = load_text("{\"architectures\": [5]}");
    ck_assert_ptr_null(hfc_architecture(c));
    hfc_free(c);
    c = load_text("{\"architectures\": \"GPT2\"}");
    ck_assert_ptr_null(hfc_architecture(c));
    hfc_free(c);
}
END_TEST

static void expect_load_fails(const char *json, int code) {
    FILE *f = fopen(cfg_path, "w");
    fputs(json, f);
    fclose(f);
    tf_hf_config *c = (tf_hf_config *)1;
    tf_err err = {0};
    int rc = hfc_load(tmp_dir, &c, &err);
    ck_assert_msg(rc == code, "%s: rc %s (%s)", json, err_name(rc), err.msg);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, cfg_path) != NULL, "%s", err.msg);
}

START_TEST(bad_files_are_refused) {
    expect_load_fails("", TF_EFORMAT);
    expect_load_fails("{\"n_embd\": ", TF_EFORMAT);
    expect_load_fails("[1, 2]", TF_EFORMAT);
    expect_load_fails("{} {}", TF_EFORMAT);
    expect_load_fails("{\"n_embd\": 1, \"n_embd\": 2}", TF_EFORMAT);
    unlink(cfg_path);
    tf_hf_config *c = NULL;
    tf_err err = {0};
    ck_assert_int_eq(hfc_load(tmp_dir, &c, &err), TF_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "config.json"));
}
END_TEST

START_TEST(real_gpt2_config) {
    const char *dir = "../shared/data/hf/gpt2";
    if (access(dir, R_OK) != 0) {
        printf("SKIP real_gpt2_config: %s is absent\n", dir);
        return;
    }
    tf_hf_config *c = NULL;
    tf_err err = {0};
    ck_assert_msg(hfc_load(dir, &c, &err) == 0, "%s", err.msg);
    int n_embd = 0, n_layer = 0, n_head = 0, vocab = 0, eos = 0, n_inner = 0;
    double eps = 0;
    ck_assert_int_eq(hfc_int(c, "n_embd", 0, 1, 65536, &n_embd, &err), 0);
    ck_assert_int_eq(hfc_int(c, "n_layer", 0, 1, 1024, &n_layer, &err), 0);
    ck_assert_int_eq(hfc_int(c, "n_head", 0, 1, 1024, &n_head, &err), 0);
    ck_assert_int_eq(hfc_int(c, "vocab_size", 0, 1, 1 << 24, &vocab, &err), 0);
    ck_assert_int_eq(hfc_int(c, "eos_token_id", -1, 0, vocab - 1, &eos, &err), 0);
    ck_assert_int_eq(hfc_int(c, "n_inner", 4 * n_embd, 1, 1 << 20, &n_inner, &err), 0);
    ck_assert_int_eq(hfc_float(c, "layer_norm_epsilon", 1e-5, 0, 1, &eps, &err), 0);
    ck_assert_int_eq(n_embd, 768);
    ck_assert_int_eq(n_layer, 12);
    ck_assert_int_eq(n_head, 12);
    ck_assert_int_eq(vocab, 50257);
    ck_assert_int_eq(eos, 50256);
    ck_assert_int_eq(n_inner, 3072);
    ck_assert(eps == 1e-5);
    ck_assert_str_eq(hfc_str(c, "model_type", ""), "gpt2");
    ck_assert_str_eq(hfc_str(c, "activation_function", ""), "gelu_new");
    ck_assert_str_eq(hfc_architecture(c), "GPT2LMHeadModel");
    hfc_free(c);
}
END_TEST

Suite *hf_config_suite(void) {
    Suite *s = suite_create("hf_config");
    TCase *core = tcase_create("core");
    tcase_add_checked_fixture(core, tmp_setup, tmp_teardown);
    tcase_add_test(core, getters_read_values_and_defaults);
    tcase_add_test(core, real_gpt2_config);
    suite_add_tcase(s, core);
    TCase *lim = tcase_create("limits");
    tcase_add_checked_fixture(lim, tmp_setup, tmp_teardown);
    tcase_add_test(lim, getters_refuse_bad_values);
    tcase_add_test(lim, bad_files_are_refused);
    suite_add_tcase(s, lim);
    return s;
}
