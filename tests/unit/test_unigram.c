/* The SentencePiece Unigram tokenizer (T5) against transformers.js goldens
 * (tests/reference/unigram/: texts.json, the goldens, make_goldens.mjs).
 *
 * Three sources must give the goldens' ids, </s> included: the generated fixture
 * tokenizer.json (always), and the real t5-small tokenizer.json and spiece.model from
 * ../shared (skipped with a message when absent; never committed).
 */
#define _XOPEN_SOURCE 700
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer.h"

#define SHARED_T5 "../shared/data/hf/t5-small"

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) ck_assert_uint_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

/* Returns the number of golden texts whose ids differ (printing each). */
static int compare_goldens(const char *dir, const char *golden_path, int *n_cases) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_msg(tok_load(dir, &t, &err) == 0, "%s: %s", dir, err.msg);
    json_error_t je;
    json_t *g = json_load_file(golden_path, 0, &je);
    ck_assert_msg(g != NULL, "%s: %s", golden_path, je.text);
    json_t *cases = json_object_get(g, "cases");
    int bad = 0;
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        json_t *want = json_object_get(c, "ids");
        int32_t *ids;
        int n;
        ck_assert_int_eq(tok_encode(t, text, strlen(text), &ids, &n, &err), 0);
        int same = n == (int)json_array_size(want);
        for (int k = 0; same && k < n; k++) same = ids[k] == json_integer_value(json_array_get(want, (size_t)k));
        if (!same) {
            char *w = json_dumps(want, JSON_COMPACT);
            printf("unigram %s: \"%s\": want %s, got", dir, text, w);
            for (int k = 0; k < n; k++) printf(" %d", ids[k]);
            printf("\n");
            free(w);
            bad++;
        }
        free(ids);
    }
    *n_cases = (int)json_array_size(cases);
    json_decref(g);
    tok_free(t);
    return bad;
}

START_TEST(fixture_tokenizer_matches_transformers_js) {
    int n, bad = compare_goldens("tests/fixtures/tiny-t5-relu", "tests/reference/unigram/tiny-t5.json", &n);
    printf("unigram fixture tokenizer.json: %d/%d golden texts identical\n", n - bad, n);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_ge(n, 20);
}
END_TEST

START_TEST(t5_small_tokenizer_json) {
    if (access(SHARED_T5 "/tokenizer.json", R_OK) != 0) {
        printf("test_unigram: SKIP t5-small tokenizer.json: %s is absent\n", SHARED_T5);
        return;
    }
    int n, bad = compare_goldens(SHARED_T5, "tests/reference/unigram/t5-small.json", &n);
    printf("unigram t5-small/tokenizer.json: %d/%d golden texts identical\n", n - bad, n);
    ck_assert_int_eq(bad, 0);
}
END_TEST

START_TEST(t5_small_spiece_model) {
    if (access(SHARED_T5 "/spiece.model", R_OK) != 0) {
        printf("test_unigram: SKIP t5-small spiece.model: %s is absent\n", SHARED_T5);
        return;
    }
    char dir[] = "/tmp/tf_ug_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    copy_file(SHARED_T5 "/spiece.model", path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    copy_file(SHARED_T5 "/tokenizer_config.json", path);
    int n, bad = compare_goldens(dir, "tests/reference/unigram/t5-small.json", &n);
    printf("unigram t5-small/spiece.model: %d/%d golden texts identical\n", n - bad, n);

    /* the sentinels and decoding */
    tf_tokenizer *t;
    tf_err err = {0};
    ck_assert_int_eq(tok_load(dir, &t, &err), 0);
    ck_assert_int_eq(tok_find(t, "<extra_id_0>"), 32099);
    ck_assert_int_eq(tok_find(t, "<extra_id_99>"), 32000);
    ck_assert_int_eq(tok_vocab_size(t), 32100);
    ck_assert(tok_strips_leading_space(t));
    int32_t *ids;
    int n_ids;
    ck_assert_int_eq(tok_encode(t, "Hello world", 11, &ids, &n_ids, &err), 0);
    char *text;
    size_t len;
    ck_assert_int_eq(tok_decode(t, ids, n_ids - 1, &text, &len, &err), 0); /* without </s> */
    ck_assert_str_eq(text, "Hello world");
    free(text);
    free(ids);
    tok_free(t);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    ck_assert_int_eq(bad, 0);
}
END_TEST

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

/* Unigram tokenizer.json variants that must be refused with the field named. */
START_TEST(bad_unigram_files) {
    static const struct {
        const char *json;
        int code;
        const char *words;
    } cases[] = {
        {"{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"a\",\"x\"]]}}", TF_EFORMAT, "vocab[0]"},
        {"{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"a\",-1]]}}", TF_EFORMAT, "unk_id"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"normalizer\":{\"type\":\"NFKC\"}}",
         TF_EUNSUPPORTED, "NFKC"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}",
         TF_EUNSUPPORTED, "pre_tokenizer"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"pre_tokenizer\":{\"type\":\"Metaspace\","
         "\"prepend_scheme\":\"never\"},\"decoder\":null}",
         TF_EUNSUPPORTED, "Metaspace"},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",-1]]},\"pre_tokenizer\":{\"type\":\"Metaspace\"},"
         "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAA*\"}}",
         TF_EFORMAT, "base64"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[] = "/tmp/tf_ug_XXXXXX", path[128];
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        write_text(path, cases[i].json);
        tf_tokenizer *t = NULL;
        tf_err err = {0};
        int rc = tok_load(dir, &t, &err);
        ck_assert_msg(rc == cases[i].code, "case %zu: rc %d, want %d: %s", i, rc, cases[i].code, err.msg);
        ck_assert_ptr_null(t);
        ck_assert_msg(strstr(err.msg, cases[i].words), "case %zu: message lacks \"%s\": %s", i,
                      cases[i].words, err.msg);
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
}
END_TEST

/* Unknown characters: a run of them is one <unk>; ill-formed UTF-8 becomes U+FFFD first. */
START_TEST(unknown_runs_fuse) {
    tf_tokenizer *t;
    tf_err err = {0};
    ck_assert_int_eq(tok_load("tests/fixtures/tiny-t5-relu", &t, &err), 0);
    int32_t *ids;
    int n;
    const char *s = "a \xE6\x97\xA5\xE6\x9C\xAC\xFF b"; /* 日本 + a stray byte */
    ck_assert_int_eq(tok_encode(t, s, strlen(s), &ids, &n, &err), 0);
    int unk = 0;
    for (int i = 0; i < n; i++) unk += ids[i] == 2;
    ck_assert_int_eq(unk, 1);
    ck_assert_int_eq(ids[n - 1], 1);
    free(ids);
    tok_free(t);
}
END_TEST

/* byte_fallback (HF Rust semantics; transformers.js has no Unigram byte fallback to compare
 * with): an unknown span becomes the <0xNN> pieces of its UTF-8 bytes when all exist,
 * else one <unk>. */
START_TEST(byte_fallback) {
    char dir[] = "/tmp/tf_ug_XXXXXX", path[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    write_text(path, "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":true,\"vocab\":["
                     "[\"<unk>\",0],[\"\u2581\",-1],[\"a\",-2],[\"<0xC3>\",0],[\"<0xA9>\",0],"
                     "[\"\u2581a\",-1]]},\"pre_tokenizer\":{\"type\":\"Metaspace\"},\"decoder\":null}");
    tf_tokenizer *t;
    tf_err err = {0};
    ck_assert_msg(tok_load(dir, &t, &err) == 0, "%s", err.msg);
    int32_t *ids;
    int n;
    ck_assert_int_eq(tok_encode(t, "a\xC3\xA9" "a", 4, &ids, &n, &err), 0); /* "aéa" */
    const int32_t want[] = {5, 3, 4, 2}; /* ▁a <0xC3> <0xA9> a */
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
    char *text;
    size_t len;
    ck_assert_int_eq(tok_decode(t, ids, n, &text, &len, &err), 0);
    ck_assert_str_eq(text, "a\xC3\xA9" "a"); /* byte pieces decode to their bytes */
    free(text);
    free(ids);
    ck_assert_int_eq(tok_encode(t, "a\xC3\xA8", 3, &ids, &n, &err), 0); /* "è": 0xA8 has no piece */
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(ids[0], 5);
    ck_assert_int_eq(ids[1], 0);
    free(ids);
    tok_free(t);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
END_TEST

Suite *unigram_suite(void) {
    Suite *s = suite_create("unigram");
    TCase *tc = tcase_create("goldens");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fixture_tokenizer_matches_transformers_js);
    tcase_add_test(tc, t5_small_tokenizer_json);
    tcase_add_test(tc, t5_small_spiece_model);
    tcase_add_test(tc, bad_unigram_files);
    tcase_add_test(tc, unknown_runs_fuse);
    tcase_add_test(tc, byte_fallback);
    suite_add_tcase(s, tc);
    return s;
}
