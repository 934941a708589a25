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

/* Each header is "Name: value"; returns hin_check_framing's answer, kind in *kind. */
static int framing(tf_herr_kind *kind, char *msg, size_t n_msg, const char *const *headers) {
    hin_framing f = {0};
    char names[8][32];
    int i = 0;
    for (; headers[i]; i++) {
        const char *colon = strchr(headers[i], ':');
        snprintf(names[i], sizeof names[i], "%.*s", (int)(colon - headers[i]), headers[i]);
        hin_framing_add(&f, names[i], colon + 2);
    }
    tf_http_error e = {0};
    int rc = hin_check_framing(&f, &e);
    *kind = e.kind;
    snprintf(msg, n_msg, "%s", e.msg);
    return rc;
}

#define FRAMING_OK(...) ck_assert_int_eq(framing(&kind, msg, sizeof msg, (const char *const[]){__VA_ARGS__, NULL}), 0)
#define FRAMING_REFUSED(want_kind, needle, ...)                                                         \
    do {                                                                                              \
        ck_assert_int_eq(framing(&kind, msg, sizeof msg, (const char *const[]){__VA_ARGS__, NULL}), -1); \
        ck_assert_int_eq(kind, want_kind);                                                            \
        ck_assert_msg(strstr(msg, needle) != NULL, "'%s' lacks '%s'", msg, needle);                   \
    } while (0)

START_TEST(framing_mhd_would_misread_is_refused) {
    tf_herr_kind kind;
    char msg[256];
    FRAMING_OK("Host: x");
    FRAMING_OK("Content-Length: 5", "content-type: application/json");
    FRAMING_OK("Content-Length: 5", "content-length: 5 "); /* the same length twice is no ambiguity */
    FRAMING_OK("Transfer-Encoding: chunked");
    FRAMING_OK("transfer-encoding: CHUNKED"); /* MHD compares without case */
    FRAMING_REFUSED(HERR_INVALID_FRAMING, "different values ('5', '7')", "Content-Length: 5", "Content-Length: 7");
    FRAMING_REFUSED(HERR_INVALID_FRAMING, "given 5 times", "Content-Length: 1", "Content-Length: 1",
                    "Content-Length: 1", "Content-Length: 1", "Content-Length: 1");
    FRAMING_REFUSED(HERR_INVALID_FRAMING, "Content-Length and Transfer-Encoding", "Content-Length: 5",
                    "Transfer-Encoding: chunked");
    FRAMING_REFUSED(HERR_INVALID_FRAMING, "Content-Length and Transfer-Encoding", "Transfer-Encoding: gzip",
                    "Content-Length: 5");
    FRAMING_REFUSED(HERR_UNSUPPORTED_TRANSFER_ENCODING, "'gzip'", "Transfer-Encoding: gzip");
    FRAMING_REFUSED(HERR_UNSUPPORTED_TRANSFER_ENCODING, "'gzip, chunked'", "Transfer-Encoding: gzip, chunked");
    FRAMING_REFUSED(HERR_UNSUPPORTED_TRANSFER_ENCODING, "'chunked, chunked'", "Transfer-Encoding: chunked, chunked");
    /* MHD keeps the trailing space and then does not take the body as chunked either */
    FRAMING_REFUSED(HERR_UNSUPPORTED_TRANSFER_ENCODING, "'chunked '", "Transfer-Encoding: chunked ");
    FRAMING_REFUSED(HERR_UNSUPPORTED_TRANSFER_ENCODING, "given 2 times", "Transfer-Encoding: chunked",
                    "Transfer-Encoding: chunked");
    ck_assert_int_eq(herr_status(HERR_INVALID_FRAMING), 400);
    ck_assert_int_eq(herr_status(HERR_UNSUPPORTED_TRANSFER_ENCODING), 501);
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
    tcase_add_test(tl, framing_mhd_would_misread_is_refused);
    suite_add_tcase(s, tl);
    return s;
}
