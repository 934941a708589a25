/* Unit tests for the WordPiece tokenizer (models/tok_wordpiece.c via models/tokenizer.h).
 *   core:  a tiny hand-written vocab.txt: "##" continuations, [UNK] for unknown pieces and
 *          over-long words, punctuation splitting, normalizer switches, [CLS] ... [SEP],
 *          special tokens written in the text, malformed files.
 *   bert:  the real bert-base-uncased vocab.txt from ../shared against the transformers.js
 *          goldens (tests/reference/wordpiece/), uncased and cased, loaded from vocab.txt
 *          and from a tokenizer.json built here with the BertTokenizerFast layout (as the
 *          golden script builds it); skipped with a message when ../shared is absent. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tok_wordpiece.h"
#include "models/tokenizer.h"

static void make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/tf_wp_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void write_str(const char *dir, const char *name, const char *s) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(s, 1, strlen(s), f), strlen(s));
    fclose(f);
}

static tf_tokenizer *load_ok(const char *dir) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    int rc = tok_load(dir, &t, &err);
    ck_assert_msg(rc == 0, "tok_load %s: %s", dir, err.msg);
    return t;
}

/* Encodes text and compares with the expected ids (terminated by -1). */
static void expect(const tf_tokenizer *t, const char *text, const int32_t *want) {
    int32_t *ids = NULL;
    int n = 0;
    tf_err err = {0};
    ck_assert_int_eq(tok_encode(t, text, strlen(text), &ids, &n, &err), 0);
    int n_want = 0;
    while (want[n_want] >= 0) n_want++;
    char got[512] = "";
    for (int i = 0; i < n && strlen(got) < 480; i++) snprintf(got + strlen(got), 16, "%d ", ids[i]);
    ck_assert_msg(n == n_want, "\"%s\": %d ids (%s), want %d", text, n, got, n_want);
    for (int i = 0; i < n; i++)
        ck_assert_msg(ids[i] == want[i], "\"%s\" id %d: %d, want %d (%s)", text, i, ids[i], want[i], got);
    free(ids);
}

/* ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK] 5 un 6 ##aff 7 ##able 8 a 9 ##ff 10 , 11 !
 * 12 cafe 13 hello 14 ##o 15 e 16 ##e 17 $ 18 中 19 ᄒ 20 ##ᅡ 21 ##ᆫ 22 Hello 23 café */
static const char tiny_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\na\n##ff\n,\n!\ncafe\nhello\n##o\n"
    "e\n##e\n$\n中\nᄒ\n##ᅡ\n##ᆫ\nHello\ncafé\n";

START_TEST(tiny_vocab_txt) {
    char dir[64];
    make_tmpdir(dir);
    write_str(dir, "vocab.txt", tiny_vocab);
    tf_tokenizer *t = load_ok(dir);
    expect(t, "", (int32_t[]){2, 3, -1});
    expect(t, "unaffable", (int32_t[]){2, 5, 6, 7, 3, -1});
    /* greedy longest match: "aff" is a + ##ff, not a piece of its own at the start */
    expect(t, "aff", (int32_t[]){2, 8, 9, 3, -1});
    /* one missing piece makes the whole word [UNK]; punctuation splits words */
    expect(t, "unaffablex, HELLO!", (int32_t[]){2, 1, 10, 13, 11, 3, -1});
    expect(t, "  Café\t$a ", (int32_t[]){2, 12, 17, 8, 3, -1});
    expect(t, "e\xcc\x81""e", (int32_t[]){2, 15, 16, 3, -1}); /* NFD accent stripped */
    expect(t, "a中a", (int32_t[]){2, 8, 18, 8, 3, -1});      /* CJK spaced out */
    expect(t, "한", (int32_t[]){2, 19, 20, 21, 3, -1});        /* Hangul -> jamo */
    expect(t, "[CLS]a[MASK] [cls]", (int32_t[]){2, 2, 8, 4, 1, 1, 1, 3, -1});
    /* over-long words are [UNK] without a lookup: 100 characters pass, 101 do not */
    char lng[128];
    memset(lng, 'e', 101);
    lng[100] = 0;
    int32_t want100[103] = {2, 15};
    for (int i = 2; i < 101; i++) want100[i] = 16;
    want100[101] = 3;
    want100[102] = -1;
    expect(t, lng, want100);
    lng[100] = 'e';
    lng[101] = 0;
    expect(t, lng, (int32_t[]){2, 1, 3, -1});
    int n_pre, n_suf;
    tok_specials_around(t, &n_pre, &n_suf);
    ck_assert_int_eq(n_pre, 1);
    ck_assert_int_eq(n_suf, 1);
    char *text;
    size_t len;
    tf_err err = {0};
    ck_assert_int_eq(tok_decode(t, (int32_t[]){5, 6, 7, 10, 13}, 5, &text, &len, &err), 0);
    ck_assert_str_eq(text, "unaffable , hello");
    free(text);
    tok_free(t);

    /* cased: no lower-casing, no accent stripping */
    write_str(dir, "tokenizer_config.json", "{\"do_lower_case\": false}");
    t = load_ok(dir);
    expect(t, "Hello hello café Café", (int32_t[]){2, 22, 13, 23, 1, 3, -1});
    tok_free(t);
    rm_tree(dir);
}
END_TEST

START_TEST(tiny_control_chars) {
    char dir[64];
    make_tmpdir(dir);
    write_str(dir, "vocab.txt", tiny_vocab);
    tf_tokenizer *t = load_ok(dir);
    /* SOH (Cc) and ZWSP (Cf) vanish, so the two a's join into one word "aa" -> a ##... no
     * ##a in the vocab: [UNK]. A tab is whitespace: two words. */
    expect(t, "a\x01\xe2\x80\x8b" "a", (int32_t[]){2, 1, 3, -1});
    expect(t, "a\ta", (int32_t[]){2, 8, 8, 3, -1});
    /* NUL and U+FFFD are dropped; an ill-formed byte becomes U+FFFD first */
    expect(t, (const char[]){'a', ',', (char)0xff, 'e', 0}, (int32_t[]){2, 8, 10, 15, 3, -1});
    ck_assert(wp_is_punct('$') && wp_is_punct(0x3001) && !wp_is_punct('a'));
    ck_assert(wp_is_control(0x200B) && wp_is_control(0x7F) && !wp_is_control('\n'));
    tok_free(t);
    rm_tree(dir);
}
END_TEST

/* A token listed twice keeps its last line's id (BertTokenizer's dict, Rust WordPiece). */
START_TEST(repeated_vocab_line) {
    char dir[64];
    make_tmpdir(dir);
    write_str(dir, "vocab.txt", "[UNK]\n[CLS]\n[SEP]\nab\nx\nab\n\n##c\n");
    tf_tokenizer *t = load_ok(dir);
    expect(t, "abc ab", (int32_t[]){1, 5, 7, 5, 2, -1});
    tok_free(t);
    rm_tree(dir);
}
END_TEST

START_TEST(malformed_files) {
    char dir[64];
    make_tmpdir(dir);
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    write_str(dir, "vocab.txt", "a\nb\n");
    ck_assert_int_eq(tok_load(dir, &t, &err), TF_EFORMAT); /* no [UNK] */
    ck_assert_ptr_nonnull(strstr(err.msg, "[UNK]"));
    write_str(dir, "tokenizer.json",
              "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0}},"
              " \"normalizer\": {\"type\": \"NFKC\"}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}");
    ck_assert_int_eq(tok_load(dir, &t, &err), TF_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "NFKC"));
    write_str(dir, "tokenizer.json",
              "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": -3}},"
              " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}");
    ck_assert_int_eq(tok_load(dir, &t, &err), TF_EFORMAT);
    write_str(dir, "tokenizer.json",
              "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", \"vocab\": {\"[UNK]\": 0}},"
              " \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}, \"post_processor\": {\"type\": "
              "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\"}}, "
              "{\"Sequence\": {\"id\": \"A\"}}]}}");
    ck_assert_int_eq(tok_load(dir, &t, &err), TF_EFORMAT); /* [CLS] has no id */
    ck_assert_ptr_nonnull(strstr(err.msg, "[CLS]"));
    ck_assert_ptr_null(t);
    rm_tree(dir);
}
END_TEST

// --- bert-base-uncased against transformers.js ----------------------------------------

#define SHARED_BERT "../shared/data/hf/bert-base-uncased"
#define GOLDEN "tests/reference/wordpiece/bert_golden.json"
#define TEXTS "tests/reference/wordpiece/texts.json"

static int have_shared(void) {
    if (access(SHARED_BERT "/vocab.txt", R_OK) == 0) return 1;
    fprintf(stderr, "SKIP wordpiece: %s/vocab.txt not found (needs ../shared next to the repo)\n",
            SHARED_BERT);
    return 0;
}

/* The BertTokenizerFast tokenizer.json for this vocab, as make_golden.mjs writes it. */
static void write_tokenizer_json(const char *dir, int lowercase) {
    json_t *vocab = json_object();
    FILE *f = fopen(SHARED_BERT "/vocab.txt", "rb");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int id = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        json_object_set_new(vocab, line, json_integer(id)); /* a repeat keeps its last id */
        id++;
    }
    free(line);
    fclose(f);
    json_t *added = json_array();
    const char *sp[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 5; i++)
        json_array_append_new(added, json_pack("{s:O, s:s, s:b, s:b, s:b, s:b, s:b}", "id",
                                               json_object_get(vocab, sp[i]), "content", sp[i],
                                               "single_word", 0, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "special", 1));
    json_t *root = json_pack(
        "{s:o, s:{s:s, s:b, s:b, s:n, s:b}, s:{s:s}, s:{s:s, s:[{s:{s:s}}, {s:{s:s}}, {s:{s:s}}],"
        " s:{s:{s:s, s:[O]}, s:{s:s, s:[O]}}}, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:i, s:o}}",
        "added_tokens", added, "normalizer", "type", "BertNormalizer", "clean_text", 1,
        "handle_chinese_chars", 1, "strip_accents", "lowercase", lowercase, "pre_tokenizer", "type",
        "BertPreTokenizer", "post_processor", "type", "TemplateProcessing", "single", "SpecialToken",
        "id", "[CLS]", "Sequence", "id", "A", "SpecialToken", "id", "[SEP]", "special_tokens",
        "[CLS]", "id", "[CLS]", "ids", json_object_get(vocab, "[CLS]"), "[SEP]", "id", "[SEP]", "ids",
        json_object_get(vocab, "[SEP]"), "decoder", "type", "WordPiece", "prefix", "##", "model",
        "type", "WordPiece", "unk_token", "[UNK]", "continuing_subword_prefix", "##",
        "max_input_chars_per_word", 100, "vocab", vocab);
    ck_assert_ptr_nonnull(root);
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ck_assert_int_eq(json_dump_file(root, path, JSON_COMPACT), 0);
    json_decref(root);
}

/* Text of each case: "text" as is, "hex" bytes as is (the tokenizer replaces ill-formed
 * UTF-8 the way the golden script's TextDecoder does). */
static char *case_text(json_t *c, size_t *len) {
    const char *hex = json_string_value(json_object_get(c, "hex"));
    if (!hex) {
        json_t *t = json_object_get(c, "text");
        *len = json_string_length(t);
        char *s = malloc(*len + 1);
        memcpy(s, json_string_value(t), *len + 1);
        return s;
    }
    *len = strlen(hex) / 2;
    char *s = malloc(*len + 1);
    for (size_t i = 0; i < *len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        s[i] = (char)v;
    }
    return s;
}

static void check_set(const tf_tokenizer *t, const char *set, const char *label) {
    json_error_t je;
    json_t *gold = json_load_file(GOLDEN, 0, &je), *texts = json_load_file(TEXTS, JSON_ALLOW_NUL, &je);
    ck_assert_ptr_nonnull(gold);
    ck_assert_ptr_nonnull(texts);
    json_t *cases = json_object_get(gold, set), *tx = json_object_get(texts, "texts");
    ck_assert_uint_eq(json_array_size(cases), json_array_size(tx));
    ck_assert_uint_gt(json_array_size(cases), 100);
    int bad = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i), *want = json_object_get(c, "ids");
        size_t len;
        char *text = case_text(json_array_get(tx, i), &len);
        int32_t *ids = NULL;
        int n = 0;
        tf_err err = {0};
        ck_assert_int_eq(tok_encode(t, text, len, &ids, &n, &err), 0);
        int same = (size_t)n == json_array_size(want);
        for (int k = 0; same && k < n; k++) same = ids[k] == json_integer_value(json_array_get(want, k));
        if (!same) {
            fprintf(stderr, "wordpiece %s/%s: case %s differs (%d ids, want %zu)\n", label, set,
                    json_string_value(json_object_get(c, "name")), n, json_array_size(want));
            bad++;
        }
        free(ids);
        free(text);
    }
    json_decref(gold);
    json_decref(texts);
    ck_assert_msg(bad == 0, "%s/%s: %d cases differ from transformers.js", label, set, bad);
}

START_TEST(bert_vocab_txt_matches_goldens) {
    if (!have_shared()) return;
    tf_tokenizer *t = load_ok(SHARED_BERT); /* vocab.txt + tokenizer_config do_lower_case */
    check_set(t, "uncased", "vocab.txt");
    tok_free(t);
    char dir[64], path[256];
    make_tmpdir(dir);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    char *abs = realpath(SHARED_BERT "/vocab.txt", NULL);
    ck_assert_int_eq(symlink(abs, path), 0);
    free(abs);
    write_str(dir, "tokenizer_config.json", "{\"do_lower_case\": false}");
    t = load_ok(dir);
    check_set(t, "cased", "vocab.txt");
    tok_free(t);
    rm_tree(dir);
}
END_TEST

START_TEST(bert_tokenizer_json_matches_goldens) {
    if (!have_shared()) return;
    for (int lower = 1; lower >= 0; lower--) {
        char dir[64];
        make_tmpdir(dir);
        write_tokenizer_json(dir, lower);
        tf_tokenizer *t = load_ok(dir);
        check_set(t, lower ? "uncased" : "cased", "tokenizer.json");
        ck_assert_int_eq(tok_find(t, "[CLS]"), 101);
        tok_free(t);
        rm_tree(dir);
    }
}
END_TEST

Suite *wordpiece_suite(void) {
    Suite *s = suite_create("wordpiece");
    TCase *core = tcase_create("core");
    tcase_add_test(core, tiny_vocab_txt);
    tcase_add_test(core, tiny_control_chars);
    tcase_add_test(core, repeated_vocab_line);
    tcase_add_test(core, malformed_files);
    suite_add_tcase(s, core);
    TCase *bert = tcase_create("bert");
    tcase_set_timeout(bert, 60);
    tcase_add_test(bert, bert_vocab_txt_matches_goldens);
    tcase_add_test(bert, bert_tokenizer_json_matches_goldens);
    suite_add_tcase(s, bert);
    return s;
}
