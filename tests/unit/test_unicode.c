/* Unit tests for models/unicode.c (UTF-8 replacement policy, classes) and models/pretok.c
 * (the GPT-2 split regex). Expected splits are worked out from the regex by hand. */
#include <check.h>
#include <stdarg.h>
#include <string.h>

#include "models/pretok.h"
#include "models/unicode.h"

/* Unicode ch. 3 example (Table 3-8): each maximal subpart becomes one U+FFFD. */
START_TEST(decode_replaces_maximal_subparts) {
    static const uint8_t in[] = {0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62,
                                 0x80, 0x63, 0x80, 0xBF, 0x64};
    static const uint32_t want_cp[] = {'a', 0xFFFD, 0xFFFD, 0xFFFD, 'b', 0xFFFD, 'c', 0xFFFD, 0xFFFD, 'd'};
    static const size_t want_n[] = {1, 3, 2, 1, 1, 1, 1, 1, 1, 1};
    size_t pos = 0, k = 0;
    while (pos < sizeof in) {
        uint32_t cp;
        size_t n = uni_decode(in + pos, sizeof in - pos, &cp);
        ck_assert_uint_lt(k, sizeof want_cp / sizeof want_cp[0]);
        ck_assert_uint_eq(cp, want_cp[k]);
        ck_assert_uint_eq(n, want_n[k]);
        pos += n;
        k++;
    }
    ck_assert_uint_eq(k, sizeof want_cp / sizeof want_cp[0]);
    ck_assert_uint_eq(uni_valid_prefix(in, sizeof in), 1);
}
END_TEST

START_TEST(decode_rejects_overlong_surrogate_and_too_big) {
    static const struct {
        const char *s;
        size_t n_first; /* bytes the first (replaced) subpart takes */
    } bad[] = {
        {"\xC0\xAF", 1}, {"\xE0\x80\xAF", 1}, {"\xED\xA0\x80", 1},
        {"\xF4\x90\x80\x80", 1}, {"\xF5\x80", 1}, {"\xF0\x9F\x98", 3},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t cp;
        size_t n = uni_decode((const uint8_t *)bad[i].s, strlen(bad[i].s), &cp);
        ck_assert_msg(cp == 0xFFFD && n == bad[i].n_first, "case %zu: cp %x n %zu", i, cp, n);
        ck_assert_uint_eq(uni_valid_prefix((const uint8_t *)bad[i].s, strlen(bad[i].s)), 0);
    }
    static const char *good[] = {"\xEF\xBF\xBD", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\x00"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n = i == 3 ? 1 : strlen(good[i]);
        ck_assert_uint_eq(uni_valid_prefix((const uint8_t *)good[i], n), n);
    }
}
END_TEST

START_TEST(encode_decode_round_trip) {
    static const uint32_t cps[] = {0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF};
    for (size_t i = 0; i < sizeof cps / sizeof cps[0]; i++) {
        uint8_t buf[4];
        size_t n = uni_encode(cps[i], buf);
        uint32_t back;
        ck_assert_uint_eq(uni_decode(buf, n, &back), n);
        ck_assert_uint_eq(back, cps[i]);
    }
}
END_TEST

START_TEST(classes_follow_unicode_categories) {
    ck_assert(uni_is_letter('a') && uni_is_letter('Z') && !uni_is_letter('1') && !uni_is_letter('_'));
    ck_assert(uni_is_letter(0x00E9));  /* é Ll */
    ck_assert(uni_is_letter(0x4E2D));  /* 中 Lo */
    ck_assert(uni_is_letter(0x01C5));  /* ǅ Lt */
    ck_assert(uni_is_letter(0x02B0));  /* ʰ Lm */
    ck_assert(uni_is_letter(0x20000)); /* CJK Ext B */
    ck_assert(!uni_is_letter(0x0301)); /* combining acute: Mn, not a letter */
    ck_assert(!uni_is_letter(0x094D)); /* Devanagari virama: Mn */
    ck_assert(!uni_is_letter(0x1F600));
    ck_assert(uni_is_number(0x0663) && uni_is_number(0x00BD) && uni_is_number(0x2163));
    ck_assert(!uni_is_number(0x4E00)); /* 一 is Lo, not N */
    ck_assert(uni_is_space(' ') && uni_is_space('\t') && uni_is_space(0x0B) && uni_is_space(0x85));
    ck_assert(uni_is_space(0xA0) && uni_is_space(0x3000) && uni_is_space(0x2028));
    ck_assert(!uni_is_space(0x1C) && !uni_is_space(0x200B) && !uni_is_space(0xFEFF));
    ck_assert(!uni_is_space(0x180E)); /* no longer White_Space since Unicode 6.3 */
    ck_assert_str_ne(uni_version(), "");
}
END_TEST

/* Splits s and compares with the NULL-terminated list of expected pieces. */
static void check_split(const char *s, size_t len, ...) {
    va_list ap;
    va_start(ap, len);
    size_t pos = 0;
    int k = 0;
    while (pos < len) {
        size_t end = pretok_next((const uint8_t *)s, len, pos);
        const char *want = va_arg(ap, const char *);
        ck_assert_msg(want != NULL, "\"%s\": extra piece %d \"%.*s\"", s, k, (int)(end - pos), s + pos);
        ck_assert_msg(end - pos == strlen(want) && memcmp(s + pos, want, end - pos) == 0,
                      "\"%s\": piece %d is \"%.*s\", want \"%s\"", s, k, (int)(end - pos), s + pos, want);
        pos = end;
        k++;
    }
    ck_assert_msg(va_arg(ap, const char *) == NULL, "\"%s\": fewer pieces than expected", s);
    va_end(ap);
}
#define SPLIT(s, ...) check_split(s, sizeof(s) - 1, __VA_ARGS__, (const char *)NULL)

START_TEST(pretok_splits_like_the_gpt2_regex) {
    SPLIT("Hello world", "Hello", " world");
    SPLIT("I'm you'll they've we'd", "I", "'m", " you", "'ll", " they", "'ve", " we", "'d");
    SPLIT("'s's'S", "'s", "'s", "'", "S");
    SPLIT("?!'s", "?!'", "s");
    SPLIT(" 'll", " '", "ll");
    SPLIT("a  b", "a", " ", " b");
    SPLIT("x \n y", "x", " \n", " y");
    SPLIT("end  ", "end", "  ");
    SPLIT("\n\nx", "\n", "\n", "x");
    SPLIT("\tx", "\t", "x");
    SPLIT(" 123abc 4", " 123", "abc", " 4");
    SPLIT(" ...x", " ...", "x");
    SPLIT("e\xCC\x81t\xC3\xA9", "e", "\xCC\x81", "t\xC3\xA9"); /* NFD accent is "other" */
    SPLIT("a\xC2\xA0" "b", "a", "\xC2\xA0", "b");                /* NBSP is \s but not " ?" */
    SPLIT("\xE4\xB8\xAD\xE6\x96\x87 x", "\xE4\xB8\xAD\xE6\x96\x87", " x");
    /* \s is Unicode White_Space, as in Oniguruma (HF tokenizers): U+0085 is a space, U+FEFF
     * is not (JavaScript's \s has it the other way round; see tests/reference/tokenizer). */
    SPLIT("a \xC2\x85\xC2\x85" "b", "a", " \xC2\x85", "\xC2\x85", "b");
    SPLIT("c \xEF\xBB\xBF" "d", "c", " \xEF\xBB\xBF", "d");
    /* NUL is an ordinary "other" character (strlen cannot express it in SPLIT). */
    ck_assert_uint_eq(pretok_next((const uint8_t *)"a\0b", 3, 0), 1);
    ck_assert_uint_eq(pretok_next((const uint8_t *)"a\0b", 3, 1), 2);
    ck_assert_uint_eq(pretok_next((const uint8_t *)"a\0\0 b", 5, 1), 3);
}
END_TEST

Suite *unicode_suite(void) {
    Suite *s = suite_create("unicode");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, decode_replaces_maximal_subparts);
    tcase_add_test(tc, decode_rejects_overlong_surrogate_and_too_big);
    tcase_add_test(tc, encode_decode_round_trip);
    tcase_add_test(tc, classes_follow_unicode_categories);
    tcase_add_test(tc, pretok_splits_like_the_gpt2_regex);
    suite_add_tcase(s, tc);
    return s;
}
