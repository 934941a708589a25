#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_input.h"

static void unescaped(const char *in, const char *want, size_t want_len) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", in);
    ck_assert_uint_eq(hin_unescape(buf), want_len);
    ck_assert_mem_eq(buf, want, want_len + 1);
}

START_TEST(unescape_keeps_nul_escaped) {
    unescaped("/h%65alth", "/health", 7);
    unescaped("/a%2Fb%2fc", "/a/b/c", 6);
    unescaped("/%e9x", "/\xe9x", 3);
    unescaped("/health%00x", "/health%00x", 11); /* would be cut to "/health" */
    unescaped("/%0", "/%0", 3);                   /* incomplete escapes stay as they are */
    unescaped("/%", "/%", 2);
    unescaped("/%zz%4", "/%zz%4", 6);
    unescaped("", "", 0);
}
END_TEST

START_TEST(identity_encoding) {
    ck_assert(hin_identity_encoding("identity"));
    ck_assert(hin_identity_encoding(" Identity\t"));
    ck_assert(hin_identity_encoding(""));
    ck_assert(!hin_identity_encoding("gzip"));
    ck_assert(!hin_identity_encoding("identity, gzip"));
    ck_assert(!hin_identity_encoding("identityx"));
}
END_TEST

START_TEST(refuse_before_body_only_when_the_client_waits) {
    ck_assert(hin_refuse_before_body("100-continue", NULL, "1001", 1000));
    ck_assert(hin_refuse_before_body("100-Continue", NULL, "99999999999999999999999", 1000)); /* ERANGE */
    ck_assert(!hin_refuse_before_body("100-continue", NULL, "1000", 1000));
    ck_assert(!hin_refuse_before_body(NULL, NULL, "1001", 1000));               /* already sending */
    ck_assert(!hin_refuse_before_body("100-continue", "chunked", "1001", 1000)); /* counted as it comes */
    ck_assert(!hin_refuse_before_body("100-continue", NULL, NULL, 1000));
    ck_assert(!hin_refuse_before_body("100-continue", NULL, "x", 1000));
}
END_TEST

Suite *http_input_suite(void) {
    Suite *s = suite_create("http_input");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, identity_encoding);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("limits");
    tcase_add_test(tl, unescape_keeps_nul_escaped);
    tcase_add_test(tl, refuse_before_body_only_when_the_client_waits);
    suite_add_tcase(s, tl);
    return s;
}
