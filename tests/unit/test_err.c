#include <check.h>
#include <string.h>

#include "core/err.h"

START_TEST(err_set_fills_code_and_message) {
    tf_err err = {0};
    int rc = err_set(&err, TF_EFORMAT, "%s: tensor %s", "model.safetensors", "wte");
    ck_assert_int_eq(rc, TF_EFORMAT);
    ck_assert_int_eq(err.code, TF_EFORMAT);
    ck_assert_str_eq(err.msg, "model.safetensors: tensor wte");
    ck_assert_str_eq(err_name(TF_EFORMAT), "TF_EFORMAT");
    ck_assert_str_eq(err_str(TF_ENOMEM), "out of memory");
    ck_assert_int_eq(err_set(NULL, TF_EIO, "x"), TF_EIO);
}
END_TEST

START_TEST(err_message_is_truncated_not_overflowed) {
    tf_err err = {0};
    char big[1000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    err_set(&err, TF_EINVALID, "%s", big);
    ck_assert_uint_eq(strlen(err.msg), sizeof err.msg - 1);
}
END_TEST

Suite *err_suite(void) {
    Suite *s = suite_create("err");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, err_set_fills_code_and_message);
    tcase_add_test(tc, err_message_is_truncated_not_overflowed);
    suite_add_tcase(s, tc);
    return s;
}
