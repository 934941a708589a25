#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/utf8.h"

static void expect(const char *in, size_t n, const char *want) {
    size_t len;
    char *got = utf8_repair(in, n, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_str_eq(got, want);
    free(got);
}

#define R "\xEF\xBF\xBD"

START_TEST(valid_text_is_unchanged) {
    expect("hello", 5, "hello");
    expect("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
    expect("", 0, "");
}
END_TEST

/* Expected strings are what Python's bytes.decode("utf-8", "replace") gives. */
START_TEST(maximal_subparts_become_one_replacement) {
    expect("a\xE2\x82", 3, "a" R);                 /* truncated at the end */
    expect("\xE2\x82" "b", 3, R "b");
    expect("\xFF\xFE", 2, R R);                     /* never valid */
    expect("\xC0\xAF", 2, R R);                     /* overlong lead */
    expect("\xED\xA0\x80", 3, R R R);               /* surrogate */
    expect("\xF0\x9F\x98", 3, R);                   /* 3 of 4 */
    expect("\x80" "a", 2, R "a");                   /* stray continuation */
    expect("\xF4\x90\x80\x80", 4, R R R R);         /* above U+10FFFF */
}
END_TEST

Suite *utf8_suite(void) {
    Suite *s = suite_create("utf8");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, valid_text_is_unchanged);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, maximal_subparts_become_one_replacement);
    suite_add_tcase(s, tl);
    return s;
}
