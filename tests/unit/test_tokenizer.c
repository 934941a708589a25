/* Unit tests for models/tokenizer.c.
 *   core:   a tiny hand-written vocab/merges (written to a temp dir in all three file
 *           dialects), ids worked out by hand from the merge ranks.
 *   limits: malformed files must give a clear error naming the file, never a crash.
 *   gpt2:   ../shared/data gpt2 and sshleifer-tiny-gpt2 against the transformers.js goldens
 *           (tests/reference/tokenizer/), loaded from tokenizer.json and from
 *           vocab.json + merges.txt; skipped with a message when ../shared is absent. */
#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/tokenizer.h"
#include "models/unicode.h"

// --- temp directories ------------------------------------------------------------------

static void make_tmpdir(char dir[64]) {
    snprintf(dir, 64, "/tmp/tf_tok_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_str(const char *dir, const char *name, const char *s) {
    write_file(dir, name, s, strlen(s));
}

static void write_json(const char *dir, const char *name, json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    write_str(dir, name, s);
    free(s);
    json_decref(j);
}

static void copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", from_dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    write_file(to_dir, name, buf, (size_t)n);
    free(buf);
}

// --- the tiny tokenizer ------------------------------------------------------------------

/* GPT-2's bytes_to_unicode, written out as in the original encoder.py. */
static void byte_token(int b, char out[4]) {
    int n = 0, cp = -1;
    for (int x = 0; x < 256; x++) {
        int printable = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE);
        int c = printable ? x : 256 + n++;
        if (x == b) cp = c;
    }
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

static const struct {
    const char *l, *r;
} tiny_merges[] = {
    {"h", "e"},  {"l", "l"},  {"he", "ll"}, {"hell", "o"}, {"\xC4\xA0", "h"},
    {"\xC4\xA0", "hello"},    {"a", "b"},   {"b", "c"},    {"a", "a"},       {"aa", "aa"},
};
enum { N_TINY_MERGES = sizeof tiny_merges / sizeof tiny_merges[0], TINY_EOT = 256 + N_TINY_MERGES };

/* ids 0..255 are the bytes; 256 + i the result of merge i; then "<|endoftext|>". */
static json_t *tiny_vocab(void) {
    json_t *v = json_object();
    for (int b = 0; b < 256; b++) {
        char tok[4];
        byte_token(b, tok);
        json_object_set_new(v, tok, json_integer(b));
    }
    for (int i = 0; i < N_TINY_MERGES; i++) {
        char tok[64];
        snprintf(tok, sizeof tok, "%s%s", tiny_merges[i].l, tiny_merges[i].r);
        json_object_set_new(v, tok, json_integer(256 + i));
    }
    json_object_set_new(v, "<|endoftext|>", json_integer(TINY_EOT));
    return v;
}

static void write_tiny_slow(const char *dir) {
    write_json(dir, "vocab.json", tiny_vocab());
    char merges[1024] = "#version: 0.2\n";
    for (int i = 0; i < N_TINY_MERGES; i++)
        snprintf(merges + strlen(merges), sizeof merges - strlen(merges), "%s %s\n", tiny_merges[i].l,
                 tiny_merges[i].r);
    write_str(dir, "merges.txt", merges);
}

/* new_dialect: "type": "BPE" and merges as pairs; else the old one (no type, "a b"). */
static json_t *tiny_tokenizer_json(int new_dialect) {
    json_t *merges = json_array();
    for (int i = 0; i < N_TINY_MERGES; i++) {
        char line[64];
        snprintf(line, sizeof line, "%s %s", tiny_merges[i].l, tiny_merges[i].r);
        json_array_append_new(merges, new_dialect ? json_pack("[ss]", tiny_merges[i].l, tiny_merges[i].r)
                                                  : json_string(line));
    }
    json_t *model = json_pack("{s:o, s:o, s:n, s:s}", "vocab", tiny_vocab(), "merges", merges,
                              "dropout", "continuing_subword_prefix", "");
    if (new_dialect) json_object_set_new(model, "type", json_string("BPE"));
    return json_pack("{s:s, s:[{s:i, s:s, s:b, s:b, s:b}], s:n, s:{s:s, s:b, s:b}, s:{s:s}, s:o}",
                     "version", "1.0", "added_tokens", "id", TINY_EOT, "content", "<|endoftext|>",
                     "special", 1, "lstrip", 0, "rstrip", 0, "normalizer", "pre_tokenizer", "type",
                     "ByteLevel", "add_prefix_space", 0, "use_regex", 1, "decoder", "type", "ByteLevel",
                     "model", model);
}

static void expect_ids(const tf_tokenizer *t, const char *text, size_t len, const int32_t *want,
                       int n_want) {
    int32_t *ids = NULL;
    int n = -1;
    tf_err err = {0};
    ck_assert_int_eq(tok_encode(t, text, len, &ids, &n, &err), 0);
    ck_assert_msg(n == n_want, "\"%s\": %d ids, want %d", text, n, n_want);
    for (int i = 0; i < n; i++) ck_assert_msg(ids[i] == want[i], "\"%s\": id %d is %d, want %d", text, i, ids[i], want[i]);
    char *back = NULL;
    size_t back_len = 0;
    ck_assert_int_eq(tok_decode(t, ids, n, &back, &back_len, &err), 0);
    free(ids);
    free(back);
}
#define EXPECT(t, s, ...)                                                    \
    do {                                                                     \
        static const int32_t want_[] = {__VA_ARGS__};                        \
        expect_ids(t, s, sizeof(s) - 1, want_, sizeof want_ / sizeof want_[0]); \
    } while (0)

static void check_tiny(const tf_tokenizer *t) {
    EXPECT(t, "hello", 259);
    EXPECT(t, " hello", 261);               /* he, ll, hell, hello, then Ġ+hello */
    EXPECT(t, "hell", 258);
    EXPECT(t, " h", 260);
    EXPECT(t, "abc", 262, 'c');             /* "a b" outranks "b c" */
    EXPECT(t, "bc", 263);
    EXPECT(t, "aaa", 264, 'a');             /* ties go to the leftmost pair */
    EXPECT(t, "aaaa", 265);
    EXPECT(t, "aaaaa", 265, 'a');
    EXPECT(t, "hello world", 259, ' ', 'w', 'o', 'r', 'l', 'd'); /* byte id == byte here */
    EXPECT(t, "a\0b", 'a', 0, 'b');
    EXPECT(t, "x<|endoftext|>y", 'x', TINY_EOT, 'y');
    EXPECT(t, "<|endoftext|><|endoftext|>", TINY_EOT, TINY_EOT);
    ck_assert_int_eq(tok_vocab_size(t), TINY_EOT + 1);
    ck_assert_int_eq(tok_find(t, "<|endoftext|>"), TINY_EOT);
    ck_assert_int_eq(tok_find(t, "\xC4\xA0hello"), 261);
    ck_assert_int_eq(tok_find(t, "nope"), -1);
}

START_TEST(tiny_slow_files) {
    char dir[64];
    make_tmpdir(dir);
    write_tiny_slow(dir);
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_msg(tok_load(dir, &t, &err) == 0, "%s", err.msg);
    check_tiny(t);
    tok_free(t);
    rm_tree(dir);
}
END_TEST

START_TEST(tiny_tokenizer_json_both_dialects) {
    for (int dialect = 0; dialect < 2; dialect++) {
        char dir[64];
        make_tmpdir(dir);
        write_json(dir, "tokenizer.json", tiny_tokenizer_json(dialect));
        tf_tokenizer *t = NULL;
        tf_err err = {0};
        ck_assert_msg(tok_load(dir, &t, &err) == 0, "dialect %d: %s", dialect, err.msg);
        check_tiny(t);
        tok_free(t);
        rm_tree(dir);
    }
}
END_TEST

static void encode_or_fail(const tf_tokenizer *t, const char *s, size_t len, int32_t **ids, int *n) {
    tf_err err = {0};
    ck_assert_msg(tok_encode(t, s, len, ids, n, &err) == 0, "%s", err.msg);
}

static void assert_same_ids(const tf_tokenizer *t, const char *a, size_t na, const char *b, size_t nb) {
    int32_t *ia, *ib;
    int n_a, n_b;
    encode_or_fail(t, a, na, &ia, &n_a);
    encode_or_fail(t, b, nb, &ib, &n_b);
    ck_assert_int_eq(n_a, n_b);
    ck_assert(memcmp(ia, ib, (size_t)n_a * sizeof *ia) == 0);
    free(ia);
    free(ib);
}

/* Ill-formed UTF-8 tokenizes exactly as its U+FFFD-replaced text. */
START_TEST(invalid_utf8_is_replaced) {
    char dir[64];
    make_tmpdir(dir);
    write_tiny_slow(dir);
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_int_eq(tok_load(dir, &t, &err), 0);
#define SAME(a, b) assert_same_ids(t, a, sizeof(a) - 1, b, sizeof(b) - 1)
    SAME("\xFF", "\xEF\xBF\xBD");
    SAME("a\x80" "b", "a\xEF\xBF\xBD" "b");
    SAME("\xE2\x82 x", "\xEF\xBF\xBD x");                      /* truncated 3-byte: one U+FFFD */
    SAME("\xF0\x9F\x98", "\xEF\xBF\xBD");                      /* truncated at end */
    SAME("\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD");              /* overlong: two */
    SAME("\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"); /* surrogate: three */
    SAME("hello\xFE<|endoftext|>", "hello\xEF\xBF\xBD<|endoftext|>");
#undef SAME
    int32_t *ids;
    int n;
    encode_or_fail(t, "", 0, &ids, &n);
    ck_assert_int_eq(n, 0);
    free(ids);
    tok_free(t);
    rm_tree(dir);
}
END_TEST

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Random valid UTF-8 over every plane decodes back to itself. */
static void check_round_trips(const tf_tokenizer *t, int n_texts) {
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char buf[512];
    for (int k = 0; k < n_texts; k++) {
        size_t len = 0;
        int n_chars = (int)(rng_next(&seed) % 60);
        for (int c = 0; c < n_chars; c++) {
            static const uint32_t top[] = {0x80, 0x800, 0x10000, 0x110000};
            uint32_t cp = (uint32_t)(rng_next(&seed) % top[rng_next(&seed) % 4]);
            if (cp >= 0xD800 && cp < 0xE000) cp = ' ';
            if (cp < 0x80) buf[len++] = (char)cp;
            else if (cp < 0x800) buf[len++] = (char)(0xC0 | cp >> 6), buf[len++] = (char)(0x80 | (cp & 63));
            else if (cp < 0x10000)
                buf[len++] = (char)(0xE0 | cp >> 12), buf[len++] = (char)(0x80 | (cp >> 6 & 63)),
                buf[len++] = (char)(0x80 | (cp & 63));
            else
                buf[len++] = (char)(0xF0 | cp >> 18), buf[len++] = (char)(0x80 | (cp >> 12 & 63)),
                buf[len++] = (char)(0x80 | (cp >> 6 & 63)), buf[len++] = (char)(0x80 | (cp & 63));
        }
        int32_t *ids;
        int n;
        char *back;
        size_t back_len;
        tf_err err = {0};
        encode_or_fail(t, buf, len, &ids, &n);
        ck_assert_int_eq(tok_decode(t, ids, n, &back, &back_len, &err), 0);
        ck_assert_msg(back_len == len && memcmp(back, buf, len) == 0, "round trip %d differs", k);
        free(ids);
        free(back);
    }
}

START_TEST(tiny_round_trips) {
    char dir[64];
    make_tmpdir(dir);
    write_tiny_slow(dir);
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_int_eq(tok_load(dir, &t, &err), 0);
    check_round_trips(t, 300);
    /* Random bytes, mostly ill-formed: the decoded text is valid UTF-8 and a fixed point. */
    uint64_t seed = 12345;
    for (int k = 0; k < 300; k++) {
        char buf[64];
        size_t len = rng_next(&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++) buf[i] = (char)(rng_next(&seed) >> 24);
        int32_t *ids, *ids2;
        int n, n2;
        char *back;
        size_t back_len;
        encode_or_fail(t, buf, len, &ids, &n);
        ck_assert_int_eq(tok_decode(t, ids, n, &back, &back_len, &err), 0);
        ck_assert_uint_eq(uni_valid_prefix((const uint8_t *)back, back_len), back_len);
        encode_or_fail(t, back, back_len, &ids2, &n2);
        ck_assert(n == n2 && memcmp(ids, ids2, (size_t)n * sizeof *ids) == 0);
        free(ids), free(ids2), free(back);
    }
    const char *bytes;
    size_t len;
    ck_assert_int_eq(tok_token_bytes(t, 261, &bytes, &len), 0);
    ck_assert_uint_eq(len, 6);
    ck_assert(memcmp(bytes, " hello", 6) == 0);
    ck_assert_int_eq(tok_token_bytes(t, 0, &bytes, &len), 0);
    ck_assert(len == 1 && bytes[0] == 0);
    tok_free(t);
    rm_tree(dir);
}
END_TEST

// --- limits ------------------------------------------------------------------------------

static void expect_load_error(const char *dir, int code, const char *file, const char *words) {
    tf_tokenizer *t = (tf_tokenizer *)1;
    tf_err err = {0};
    int rc = tok_load(dir, &t, &err);
    ck_assert_msg(rc == code, "rc %d (%s), want %d; msg: %s", rc, err_name(rc), code, err.msg);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, file) != NULL, "message does not name %s: %s", file, err.msg);
    ck_assert_msg(strstr(err.msg, words) != NULL, "message lacks \"%s\": %s", words, err.msg);
}

/* Writes tiny tokenizer.json with one part replaced, and expects an error. */
static void bad_fast(const char *key_path, json_t *value, int code, const char *words) {
    char dir[64];
    make_tmpdir(dir);
    json_t *j = tiny_tokenizer_json(1);
    json_t *parent = j;
    char key[64];
    snprintf(key, sizeof key, "%s", key_path);
    char *dot = strchr(key, '.');
    if (dot) *dot = 0, parent = json_object_get(j, key);
    json_object_set_new(parent, dot ? dot + 1 : key, value);
    write_json(dir, "tokenizer.json", j);
    expect_load_error(dir, code, "tokenizer.json", words);
    rm_tree(dir);
}

START_TEST(malformed_tokenizer_json) {
    char dir[64];
    make_tmpdir(dir);
    write_str(dir, "tokenizer.json", "{\"model\": {\"vocab\": {\"a\": 0,}");
    expect_load_error(dir, TF_EFORMAT, "tokenizer.json", "");
    write_str(dir, "tokenizer.json", "[1, 2]");
    expect_load_error(dir, TF_EFORMAT, "tokenizer.json", "model");
    rm_tree(dir);
    bad_fast("model.merges", json_null(), TF_EFORMAT, "merges");
    bad_fast("model.merges", json_pack("[s]", "h zz"), TF_EFORMAT, "not in the vocab");
    bad_fast("model.merges", json_pack("[s]", "h e l"), TF_EFORMAT, "one space");
    bad_fast("model.merges", json_pack("[[s]]", "h"), TF_EFORMAT, "merges[0]");
    bad_fast("model.vocab", json_pack("{s:i}", "a", 2000000000), TF_EFORMAT, "bad id");
    bad_fast("model.vocab", json_pack("{s:i}", "a", -1), TF_EFORMAT, "bad id");
    bad_fast("model.vocab", json_pack("{s:s}", "a", "zero"), TF_EFORMAT, "bad id");
    bad_fast("model.vocab", json_pack("{s:i, s:i}", "a", 0, "b", 0), TF_EFORMAT, "used twice");
    bad_fast("model.vocab", json_pack("[]"), TF_EFORMAT, "vocab");
    bad_fast("added_tokens", json_pack("[{s:i, s:s}]", "id", 1 << 30, "content", "<x>"), TF_EFORMAT,
             "added_tokens[0]");
    bad_fast("added_tokens", json_pack("[{s:s}]", "content", "<x>"), TF_EFORMAT, "added_tokens[0]");
    bad_fast("added_tokens", json_pack("[{s:i, s:s, s:b}]", "id", 5, "content", "<x>", "single_word", 1),
             TF_EUNSUPPORTED, "single_word");
    bad_fast("normalizer", json_pack("{s:s}", "type", "NFC"), TF_EUNSUPPORTED, "NFC");
    bad_fast("pre_tokenizer", json_pack("{s:s}", "type", "Metaspace"), TF_EUNSUPPORTED, "Metaspace");
    bad_fast("model.type", json_string("WordLevel"), TF_EUNSUPPORTED, "WordLevel");
    bad_fast("model.dropout", json_real(0.1), TF_EUNSUPPORTED, "dropout");
    bad_fast("model.end_of_word_suffix", json_string("</w>"), TF_EUNSUPPORTED, "end_of_word_suffix");
}
END_TEST

START_TEST(malformed_slow_files) {
    char dir[64];
    make_tmpdir(dir);
    expect_load_error(dir, TF_ENOTFOUND, dir, "vocab.json");
    write_tiny_slow(dir);
    write_str(dir, "merges.txt", "#version: 0.2\nh e\nq\n");
    expect_load_error(dir, TF_EFORMAT, "merges.txt", "merge 1");
    write_str(dir, "merges.txt", "h e\nzz yy\n");
    expect_load_error(dir, TF_EFORMAT, "merges.txt", "not in the vocab");
    char merges_path[128];
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    unlink(merges_path);
    expect_load_error(dir, TF_EIO, "merges.txt", "");
    write_str(dir, "vocab.json", "[1, 2]");
    expect_load_error(dir, TF_EFORMAT, "vocab.json", "not an object");
    /* A vocab lacking a byte token could not encode that byte. */
    json_t *v = tiny_vocab();
    json_object_del(v, "A");
    write_json(dir, "vocab.json", v);
    write_str(dir, "merges.txt", "");
    expect_load_error(dir, TF_EFORMAT, "vocab.json", "byte 0x41");
    write_tiny_slow(dir);
    write_str(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"99999999999\": {\"content\": \"<x>\"}}}");
    expect_load_error(dir, TF_EFORMAT, "tokenizer_config.json", "added_tokens_decoder");
    write_str(dir, "tokenizer_config.json", "{\"eos_token\": ");
    expect_load_error(dir, TF_EFORMAT, "tokenizer_config.json", "");
    rm_tree(dir);
}
END_TEST

START_TEST(decode_rejects_bad_ids) {
    char dir[64];
    make_tmpdir(dir);
    write_tiny_slow(dir);
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_int_eq(tok_load(dir, &t, &err), 0);
    int32_t ids[] = {'a', TINY_EOT + 1};
    char *text = (char *)1;
    size_t len;
    ck_assert_int_eq(tok_decode(t, ids, 2, &text, &len, &err), TF_ERANGE);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err.msg, "position 1"));
    ids[1] = -5;
    ck_assert_int_eq(tok_decode(t, ids, 2, &text, &len, &err), TF_ERANGE);
    const char *bytes;
    ck_assert_int_eq(tok_token_bytes(t, 1 << 30, &bytes, &len), TF_ERANGE);
    ck_assert_int_eq(tok_decode(t, ids, 0, &text, &len, &err), 0);
    ck_assert(len == 0 && text[0] == 0);
    free(text);
    tok_free(t);
    tok_free(NULL);
    rm_tree(dir);
}
END_TEST

// --- gpt2 against the transformers.js goldens ----------------------------------------------

#define SHARED_GPT2 "../shared/data/hf/gpt2"
#define SHARED_TINY_GPT2 "../shared/data/models/sshleifer-tiny-gpt2"
#define GOLDEN_DIR "tests/reference/tokenizer"

typedef struct golden_case {
    const char *name;   /* borrowed from texts json */
    char *text;         /* owned: the input bytes */
    size_t len;
    int is_hex;         /* raw bytes, possibly ill-formed */
    int32_t *ids;       /* owned */
    int n_ids;
} golden_case;

typedef struct goldens {
    json_t *texts, *golden; /* owned */
    golden_case *cases;     /* owned */
    int n;
} goldens;

static void goldens_load(goldens *g) {
    json_error_t je;
    g->texts = json_load_file(GOLDEN_DIR "/texts.json", JSON_ALLOW_NUL, &je);
    ck_assert_msg(g->texts != NULL, "texts.json: %s", je.text);
    g->golden = json_load_file(GOLDEN_DIR "/gpt2_golden.json", 0, &je);
    ck_assert_msg(g->golden != NULL, "gpt2_golden.json: %s", je.text);
    json_t *texts = json_object_get(g->texts, "texts"), *cases = json_object_get(g->golden, "cases");
    ck_assert_uint_eq(json_array_size(texts), json_array_size(cases));
    g->n = (int)json_array_size(texts);
    g->cases = calloc((size_t)g->n, sizeof *g->cases);
    for (int i = 0; i < g->n; i++) {
        json_t *t = json_array_get(texts, (size_t)i), *c = json_array_get(cases, (size_t)i);
        golden_case *gc = &g->cases[i];
        gc->name = json_string_value(json_object_get(t, "name"));
        ck_assert_str_eq(gc->name, json_string_value(json_object_get(c, "name")));
        json_t *hex = json_object_get(t, "hex"), *text = json_object_get(t, "text");
        if (hex) {
            const char *h = json_string_value(hex);
            gc->is_hex = 1;
            gc->len = strlen(h) / 2;
            gc->text = malloc(gc->len + 1);
            for (size_t k = 0; k < gc->len; k++) {
                unsigned byte;
                ck_assert_int_eq(sscanf(h + 2 * k, "%2x", &byte), 1);
                gc->text[k] = (char)byte;
            }
        } else {
            gc->len = json_string_length(text);
            gc->text = malloc(gc->len + 1);
            memcpy(gc->text, json_string_value(text), gc->len);
        }
        json_t *ids = json_object_get(c, "ids");
        gc->n_ids = (int)json_array_size(ids);
        gc->ids = malloc((size_t)gc->n_ids * sizeof *gc->ids + 1);
        for (int k = 0; k < gc->n_ids; k++)
            gc->ids[k] = (int32_t)json_integer_value(json_array_get(ids, (size_t)k));
    }
}

static void goldens_free(goldens *g) {
    for (int i = 0; i < g->n; i++) free(g->cases[i].text), free(g->cases[i].ids);
    free(g->cases);
    json_decref(g->texts);
    json_decref(g->golden);
}

/* Number of cases whose ids differ from the goldens; prints each difference. */
static int count_mismatches(const tf_tokenizer *t, const goldens *g, const char *label, int quiet) {
    int bad = 0;
    for (int i = 0; i < g->n; i++) {
        const golden_case *c = &g->cases[i];
        int32_t *ids;
        int n;
        encode_or_fail(t, c->text, c->len, &ids, &n);
        if (n != c->n_ids || memcmp(ids, c->ids, (size_t)n * sizeof *ids) != 0) {
            bad++;
            if (!quiet) {
                fprintf(stderr, "tokenizer %s: case \"%s\" differs:\n  got ", label, c->name);
                for (int k = 0; k < n; k++) fprintf(stderr, "%d ", ids[k]);
                fprintf(stderr, "\n  want ");
                for (int k = 0; k < c->n_ids; k++) fprintf(stderr, "%d ", c->ids[k]);
                fprintf(stderr, "\n");
            }
        }
        free(ids);
    }
    return bad;
}

static int have_shared(const char *dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (access(path, R_OK) == 0) return 1;
    fprintf(stderr, "SKIP tokenizer: %s not found (needs ../shared next to the repo)\n", path);
    return 0;
}

static tf_tokenizer *load_or_fail(const char *dir) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_msg(tok_load(dir, &t, &err) == 0, "%s: %s", dir, err.msg);
    return t;
}

static void check_against_goldens(const char *dir, const char *label) {
    goldens g = {0};
    goldens_load(&g);
    tf_tokenizer *t = load_or_fail(dir);
    int bad = count_mismatches(t, &g, label, 0);
    fprintf(stderr, "tokenizer %s: %d/%d golden strings identical (Unicode tables %s)\n", label,
            g.n - bad, g.n, tok_unicode_version());
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(tok_vocab_size(t), 50257);
    ck_assert_int_eq(tok_find(t, "<|endoftext|>"), 50256);
    ck_assert_int_eq(tok_find(t, "\xC4\xA0the"), 262);
    tok_free(t);
    goldens_free(&g);
}

START_TEST(gpt2_tokenizer_json_matches_goldens) {
    if (!have_shared(SHARED_GPT2)) return;
    check_against_goldens(SHARED_GPT2, "gpt2/tokenizer.json");
}
END_TEST

START_TEST(gpt2_slow_files_match_goldens) {
    if (!have_shared(SHARED_GPT2)) return;
    char dir[64];
    make_tmpdir(dir);
    copy_file(SHARED_GPT2, dir, "vocab.json");
    copy_file(SHARED_GPT2, dir, "merges.txt");
    check_against_goldens(dir, "gpt2/vocab.json+merges.txt");
    rm_tree(dir);
}
END_TEST

START_TEST(tiny_gpt2_new_dialect_matches_goldens) {
    if (!have_shared(SHARED_TINY_GPT2)) return;
    check_against_goldens(SHARED_TINY_GPT2, "sshleifer-tiny-gpt2/tokenizer.json");
}
END_TEST

/* decode(encode(text)) == text for valid text; for ill-formed bytes, the decoded text is
 * what the goldens' ids decode to (the TextDecoder-replaced string). */
START_TEST(gpt2_round_trips) {
    if (!have_shared(SHARED_GPT2)) return;
    goldens g = {0};
    goldens_load(&g);
    tf_tokenizer *t = load_or_fail(SHARED_GPT2);
    for (int i = 0; i < g.n; i++) {
        const golden_case *c = &g.cases[i];
        int32_t *ids;
        int n;
        char *back, *want;
        size_t back_len, want_len;
        tf_err err = {0};
        encode_or_fail(t, c->text, c->len, &ids, &n);
        ck_assert_int_eq(tok_decode(t, ids, n, &back, &back_len, &err), 0);
        ck_assert_int_eq(tok_decode(t, c->ids, c->n_ids, &want, &want_len, &err), 0);
        if (!c->is_hex) ck_assert_msg(back_len == c->len && memcmp(back, c->text, c->len) == 0, "%s", c->name);
        ck_assert_msg(back_len == want_len && memcmp(back, want, want_len) == 0, "%s", c->name);
        free(ids), free(back), free(want);
    }
    check_round_trips(t, 500);
    tok_free(t);
    goldens_free(&g);
}
END_TEST

typedef struct {
    const tf_tokenizer *t;
    const goldens *g;
    int bad;
} thread_arg;

static void *encode_all(void *p) {
    thread_arg *a = p;
    for (int rep = 0; rep < 5; rep++) a->bad += count_mismatches(a->t, a->g, "thread", 1);
    return NULL;
}

/* One tokenizer shared by several threads gives every thread the golden ids. */
START_TEST(gpt2_shared_across_threads) {
    if (!have_shared(SHARED_GPT2)) return;
    goldens g = {0};
    goldens_load(&g);
    tf_tokenizer *t = load_or_fail(SHARED_GPT2);
    pthread_t th[4];
    thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, &g, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, encode_all, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].bad, 0);
    }
    tok_free(t);
    goldens_free(&g);
}
END_TEST

Suite *tokenizer_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *core = tcase_create("core");
    tcase_add_test(core, tiny_slow_files);
    tcase_add_test(core, tiny_tokenizer_json_both_dialects);
    tcase_add_test(core, invalid_utf8_is_replaced);
    tcase_add_test(core, tiny_round_trips);
    suite_add_tcase(s, core);
    TCase *limits = tcase_create("limits");
    tcase_add_test(limits, malformed_tokenizer_json);
    tcase_add_test(limits, malformed_slow_files);
    tcase_add_test(limits, decode_rejects_bad_ids);
    suite_add_tcase(s, limits);
    TCase *gpt2 = tcase_create("gpt2");
    tcase_set_timeout(gpt2, 120); /* three 1 MB JSON loads; slow under sanitizers */
    tcase_add_test(gpt2, gpt2_tokenizer_json_matches_goldens);
    tcase_add_test(gpt2, gpt2_slow_files_match_goldens);
    tcase_add_test(gpt2, tiny_gpt2_new_dialect_matches_goldens);
    tcase_add_test(gpt2, gpt2_round_trips);
    tcase_add_test(gpt2, gpt2_shared_across_threads);
    suite_add_tcase(s, gpt2);
    return s;
}
