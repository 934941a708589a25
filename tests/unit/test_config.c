#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"
#include "server/config.h"

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define ARGC(v) ((int)(sizeof(v) / sizeof(v[0])) - 1)

START_TEST(defaults_listen_on_loopback_8080) {
    tf_config c;
    char msg[256] = "";
    char *argv[] = {NULL};
    ck_assert_int_eq(cfg_load(&c, 0, argv, NULL, msg, sizeof msg), 0);
    ck_assert_str_eq(c.listen, "127.0.0.1:8080");
    ck_assert_str_eq(c.dtype, "int8");
    ck_assert_int_eq(c.n_models, 0);
    ck_assert_int_gt(c.max_batch, 0);
    cfg_close(&c);
}
END_TEST

START_TEST(flags_parse_all_forms_and_all_tasks) {
    tf_config c;
    char msg[256] = "";
    char *argv[] = {"--listen", "127.0.0.1:0", "--model", "generate=/m/gpt2", "--model=translate=/m/t5",
                    "--model", "summarize=/m/t5", "--model", "sentiment=/m/bert", "--dtype", "fp32",
                    "--max-batch", "7", "--max_queue=3", "--access-log", "false", NULL};
    ck_assert_int_eq(cfg_load(&c, ARGC(argv), argv, NULL, msg, sizeof msg), 0);
    ck_assert_str_eq(c.listen, "127.0.0.1:0");
    ck_assert_int_eq(c.n_models, 4);
    ck_assert_uint_eq(c.models[0].task, TF_TASK_GENERATE);
    ck_assert_str_eq(c.models[0].dir, "/m/gpt2");
    ck_assert_uint_eq(c.models[1].task, TF_TASK_TRANSLATE);
    ck_assert_str_eq(c.models[2].dir, "/m/t5");
    ck_assert_uint_eq(c.models[3].task, TF_TASK_SENTIMENT);
    ck_assert_str_eq(c.dtype, "fp32");
    ck_assert_int_eq(c.max_batch, 7);
    ck_assert_int_eq(c.max_queue, 3);
    ck_assert_int_eq(c.access_log, 0);
    cfg_close(&c);
}
END_TEST

START_TEST(bad_values_name_the_option) {
    tf_config c;
    char msg[256] = "";
    char *a1[] = {"--max-batch", "0", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a1), a1, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "max_batch must be between 1 and"));
    cfg_close(&c);
    char *a2[] = {"--dtype", "fp16", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a2), a2, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "dtype"));
    cfg_close(&c);
    char *a3[] = {"--model", "chat=/x", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a3), a3, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "unknown task 'chat'"));
    cfg_close(&c);
    char *a4[] = {"--bogus", "1", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a4), a4, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "unknown option '--bogus'"));
    cfg_close(&c);
    char *a5[] = {"--max-queue", "12x", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a5), a5, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "expected an integer"));
    cfg_close(&c);
    char *a6[] = {"--listen", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(a6), a6, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "needs a value"));
    cfg_close(&c);
}
END_TEST

/* kv_budget_bytes: 1 GiB by default, binary suffixes in either case, 0 for no bound;
 * anything else is refused with the option's name. */
START_TEST(kv_budget_bytes_values) {
    tf_config c;
    char msg[256] = "";
    char *a0[] = {NULL};
    ck_assert_int_eq(cfg_load(&c, 0, a0, NULL, msg, sizeof msg), 0);
    ck_assert(c.kv_budget_bytes == 1073741824LL);
    cfg_close(&c);
    static const struct {
        const char *val;
        long long want; /* -1: refused */
    } cases[] = {
        {"512M", 536870912LL}, {"3g", 3221225472LL}, {"0", 0},         {"1000", 1000},
        {"64k", 65536},        {"1024T", 1LL << 50}, {"1025T", -1},    {"-1", -1},
        {"2X", -1},            {"G", -1},            {"1GB", -1},      {"", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *a[] = {"--kv-budget-bytes", (char *)cases[i].val, NULL};
        int rc = cfg_load(&c, 2, a, NULL, msg, sizeof msg);
        if (cases[i].want < 0) {
            ck_assert_msg(rc < 0, "'%s' accepted", cases[i].val);
            ck_assert_ptr_nonnull(strstr(msg, "kv_budget_bytes"));
        } else {
            ck_assert_msg(rc == 0, "'%s': %s", cases[i].val, msg);
            ck_assert_msg(c.kv_budget_bytes == cases[i].want, "'%s' -> %lld", cases[i].val, c.kv_budget_bytes);
        }
        cfg_close(&c);
    }
}
END_TEST

START_TEST(file_then_env_then_flags) {
    char path[] = "/tmp/tf_cfg_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\nlisten = 0.0.0.0:9000\nmax_batch = 5\nmax_queue = \"9\"\n"
          "model = generate=/file/gpt2\nmodel = sentiment=/file/bert\n",
          f);
    fclose(f);
    char *env[] = {"TRANSFORMERD_MAX_BATCH=6", "TRANSFORMERD_MAX_QUEUE=10", "PATH=/bin", NULL};
    char *argv[] = {"--config", path, "--max-queue", "11", "--model", "generate=/flag/gpt2", NULL};
    tf_config c;
    char msg[256] = "";
    ck_assert_int_eq(cfg_load(&c, ARGC(argv), argv, env, msg, sizeof msg), 0);
    ck_assert_str_eq(c.listen, "0.0.0.0:9000"); /* file */
    ck_assert_int_eq(c.max_batch, 6);           /* env over file */
    ck_assert_int_eq(c.max_queue, 11);          /* flag over env */
    ck_assert_int_eq(c.n_models, 1);            /* flag list replaces the file's */
    ck_assert_str_eq(c.models[0].dir, "/flag/gpt2");
    cfg_close(&c);

    f = fopen(path, "w");
    fputs("listen = x\nnot_an_option = 3\n", f);
    fclose(f);
    char *argv2[] = {"--config", path, NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(argv2), argv2, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, ":2: unknown option 'not_an_option'"));
    cfg_close(&c);
    unlink(path);
}
END_TEST

START_TEST(env_model_list_and_duplicates) {
    char *env[] = {"TRANSFORMERD_MODEL=generate=/a, summarize=/a", NULL};
    char *argv[] = {NULL};
    tf_config c;
    char msg[256] = "";
    ck_assert_int_eq(cfg_load(&c, 0, argv, env, msg, sizeof msg), 0);
    ck_assert_int_eq(c.n_models, 2);
    ck_assert_str_eq(c.models[1].dir, "/a");
    cfg_close(&c);
    char *argv2[] = {"--model", "generate=/a", "--model", "generate=/b", NULL};
    ck_assert_int_lt(cfg_load(&c, ARGC(argv2), argv2, NULL, msg, sizeof msg), 0);
    ck_assert_ptr_nonnull(strstr(msg, "given twice"));
    cfg_close(&c);
}
END_TEST

START_TEST(example_file_round_trips) {
    char path[] = "/tmp/tf_cfg_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    cfg_write_example(f);
    fclose(f);
    char *argv[] = {"--config", path, NULL};
    tf_config c;
    char msg[256] = "";
    ck_assert_msg(cfg_load(&c, ARGC(argv), argv, NULL, msg, sizeof msg) == 0, "%s", msg);
    cfg_close(&c);
    unlink(path);
}
END_TEST

/* deploy/transformerd.conf.example is generated from the table; it must not drift. */
START_TEST(deploy_example_is_current) {
    FILE *f = fopen("deploy/transformerd.conf.example", "r");
    ck_assert_msg(f != NULL, "run from the repository root");
    char committed[16384], generated[16384];
    size_t n = fread(committed, 1, sizeof committed - 1, f);
    fclose(f);
    committed[n] = 0;
    FILE *m = fmemopen(generated, sizeof generated, "w");
    cfg_write_example(m);
    fclose(m);
    ck_assert_msg(strcmp(committed, generated) == 0,
                  "regenerate: build/transformerd serve --print-config-example > deploy/transformerd.conf.example");
}
END_TEST

Suite *config_suite(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults_listen_on_loopback_8080);
    tcase_add_test(tc, flags_parse_all_forms_and_all_tasks);
    tcase_add_test(tc, file_then_env_then_flags);
    tcase_add_test(tc, env_model_list_and_duplicates);
    tcase_add_test(tc, example_file_round_trips);
    tcase_add_test(tc, kv_budget_bytes_values);
    tcase_add_test(tc, deploy_example_is_current);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, bad_values_name_the_option);
    suite_add_tcase(s, tl);
    return s;
}
