/* A Llama directory with only tokenizer.model (SentencePiece BPE): the .model made from
 * tiny-llama-gqa's tokenizer.json (tests/fixtures/make_spm_model.py) must give the .json's
 * ids and text; a model trained by SentencePiece itself must give spm_encode's ids
 * (tests/fixtures/make_spm_trained.py); merge priority must follow piece scores; BOS follows add_bos_token;
 * normalizers we cannot honor and Unigram .model files are refused. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "models/tokenizer.h"

#define JSON_DIR "tests/fixtures/tiny-llama-gqa"
#define MODEL_DIR "tests/fixtures/tiny-llama-spm"
#define TRAINED_DIR "tests/fixtures/spm-bpe-trained" /* made by SentencePiece's spm_train */

static void encode(const tf_tokenizer *t, const char *text, int32_t **ids, int *n) {
    tf_err err = {0};
    ck_assert_msg(tok_encode(t, text, strlen(text), ids, n, &err) == 0, "%s", err.msg);
}

static tf_tokenizer *load(const char *dir) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_msg(tok_load(dir, &t, &err) == 0, "%s: %s", dir, err.msg);
    return t;
}

/* Texts without a leading space or added tokens: there the .json's Metaspace
 * (prepend_scheme "first", no doubling) and the .model's legacy dummy prefix agree. */
static const char *const texts[] = {
    "Once upon a time there was a little girl named Lily.",
    "The little dog ran to the water and the girl laughed.",
    "zebras quizzically juggle  two   spaces",
    "na\xC3\xAFve caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x99\x82 end", /* byte fallback */
    "x",
    "They played there all day and then they went home to eat. The end.",
};

START_TEST(model_matches_json) {
    tf_tokenizer *tj = load(JSON_DIR), *tm = load(MODEL_DIR);
    ck_assert_int_eq(tok_vocab_size(tm), tok_vocab_size(tj));
    ck_assert_int_eq(tok_find(tm, "<s>"), 1);
    ck_assert_int_eq(tok_find(tm, "</s>"), 2);
    ck_assert_int_eq(tok_find(tm, "<unk>"), 0);
    int multi_piece = 0;
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int32_t *a, *b;
        int na, nb;
        encode(tj, texts[k], &a, &na);
        encode(tm, texts[k], &b, &nb);
        ck_assert_msg(na == nb && memcmp(a, b, sizeof *a * (size_t)na) == 0,
                      "\"%s\": %d ids from tokenizer.model, %d from tokenizer.json", texts[k], nb, na);
        ck_assert_int_eq(b[0], 1); /* BOS by default */
        for (int i = 1; i < nb; i++) {
            const char *p;
            size_t len;
            ck_assert_int_eq(tok_token_bytes(tm, b[i], &p, &len), 0);
            multi_piece += len > 2;
        }
        char *text;
        size_t len;
        tf_err err = {0};
        ck_assert_int_eq(tok_decode(tm, b + 1, nb - 1, &text, &len, &err), 0);
        ck_assert_str_eq(text, texts[k]);
        free(text);
        free(a);
        free(b);
    }
    ck_assert_msg(multi_piece > 5, "merges never applied (%d multi-byte pieces)", multi_piece);
    tok_free(tj);
    tok_free(tm);
}
END_TEST

START_TEST(trained_model_matches_spm_encode) {
    tf_tokenizer *t = load(TRAINED_DIR);
    json_error_t je;
    json_t *g = json_load_file(TRAINED_DIR "/golden.json", 0, &je);
    ck_assert_msg(g, "golden.json: %s", je.text);
    json_t *gtexts = json_object_get(g, "texts"), *want = json_object_get(g, "ids");
    ck_assert_uint_gt(json_array_size(gtexts), 0);
    ck_assert_uint_eq(json_array_size(gtexts), json_array_size(want));
    for (size_t k = 0; k < json_array_size(gtexts); k++) {
        const char *text = json_string_value(json_array_get(gtexts, k));
        json_t *w = json_array_get(want, k);
        int32_t *ids;
        int n;
        encode(t, text, &ids, &n);
        ck_assert_int_eq(ids[0], 1); /* BOS, which spm_encode does not add */
        int same = (size_t)n == json_array_size(w) + 1;
        for (int i = 1; same && i < n; i++) same = ids[i] == json_integer_value(json_array_get(w, (size_t)i - 1));
        ck_assert_msg(same, "\"%s\": %d ids, spm_encode gave %zu", text, n - 1, json_array_size(w));
        char *back;
        size_t len;
        tf_err err = {0};
        ck_assert_int_eq(tok_decode(t, ids + 1, n - 1, &back, &len, &err), 0);
        ck_assert_str_eq(back, text);
        free(back);
        free(ids);
    }
    json_decref(g);
    tok_free(t);
}
END_TEST

// --- hand-built models -----------------------------------------------------------------

typedef struct pbuf {
    uint8_t b[8192];
    size_t n;
} pbuf;

static void varint(pbuf *o, uint64_t v) {
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        o->b[o->n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
}
static void key(pbuf *o, int field, int wire) { varint(o, (uint64_t)field << 3 | (uint64_t)wire); }
static void f_bytes(pbuf *o, int field, const void *p, size_t n) {
    key(o, field, 2);
    varint(o, n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void f_varint(pbuf *o, int field, uint64_t v) { key(o, field, 0), varint(o, v); }
static void piece(pbuf *o, const char *s, float score, int type) {
    pbuf p = {.n = 0};
    f_bytes(&p, 1, s, strlen(s));
    key(&p, 2, 5);
    memcpy(p.b + p.n, &score, 4);
    p.n += 4;
    f_varint(&p, 3, (uint64_t)type);
    f_bytes(o, 1, p.b, p.n);
}

typedef struct spec {
    int model_type, remove_extra, add_dummy_prefix;
    float score_ab, score_bc;
    const char *config; /* tokenizer_config.json, or NULL */
} spec;

/* <unk> <s> </s>, "▁" a b c, ab bc (scored), then a/b/c single pieces are NORMAL. */
static void write_model(const char *dir, const spec *sp) {
    pbuf o = {.n = 0};
    piece(&o, "<unk>", 0, 2);
    piece(&o, "<s>", 0, 3);
    piece(&o, "</s>", 0, 3);
    piece(&o, "ab", sp->score_ab, 1);
    piece(&o, "bc", sp->score_bc, 1);
    piece(&o, "\xE2\x96\x81", -10, 1);
    piece(&o, "a", -11, 1);
    piece(&o, "b", -12, 1);
    piece(&o, "c", -13, 1);
    pbuf t = {.n = 0}, n = {.n = 0};
    f_varint(&t, 3, (uint64_t)sp->model_type);
    f_bytes(&o, 2, t.b, t.n);
    f_bytes(&n, 1, "identity", 8);
    f_varint(&n, 3, (uint64_t)sp->add_dummy_prefix);
    f_varint(&n, 4, (uint64_t)sp->remove_extra);
    f_bytes(&o, 3, n.b, n.n);
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(o.b, 1, o.n, f), o.n);
    fclose(f);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    if (sp->config) {
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs(sp->config, f);
        fclose(f);
    }
}

static int load_spec(const spec *sp, tf_tokenizer **t, tf_err *err) {
    char dir[] = "/tmp/tf_spm_bpe_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    write_model(dir, sp);
    int rc = tok_load(dir, t, err);
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    unlink(path);
    rmdir(dir);
    return rc;
}

/* ids of text as a string "1 5 3" for readable comparisons. */
static void ids_str(const spec *sp, const char *text, char *out, size_t cap) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    ck_assert_msg(load_spec(sp, &t, &err) == 0, "%s", err.msg);
    int32_t *ids;
    int n;
    encode(t, text, &ids, &n);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), cap - strlen(out), "%s%d", i ? " " : "", ids[i]);
    free(ids);
    tok_free(t);
}

START_TEST(merge_priority_follows_scores) {
    char got[128];
    /* ids: ab 3, bc 4, ▁ 5, a 6, b 7, c 8; BOS 1. */
    spec bc_first = {2, 0, 0, -2.0f, -1.0f, NULL};
    ids_str(&bc_first, "abc", got, sizeof got);
    ck_assert_str_eq(got, "1 6 4");
    spec ab_first = {2, 0, 0, -1.0f, -2.0f, NULL};
    ids_str(&ab_first, "abc", got, sizeof got);
    ck_assert_str_eq(got, "1 3 8");
    /* the dummy prefix, and spaces as "▁" */
    spec prefix = {2, 0, 1, -1.0f, -2.0f, NULL};
    ids_str(&prefix, "ab c", got, sizeof got);
    ck_assert_str_eq(got, "1 5 3 5 8");
    /* an unknown character: <unk>, consecutive ones fused (no byte_fallback here) */
    ids_str(&ab_first, "azzb", got, sizeof got);
    ck_assert_str_eq(got, "1 6 0 7");
}
END_TEST

START_TEST(bos_follows_config) {
    char got[128];
    spec no_bos = {2, 0, 0, -1.0f, -2.0f, "{\"add_bos_token\": false, \"bos_token\": \"<s>\"}"};
    ids_str(&no_bos, "abc", got, sizeof got);
    ck_assert_str_eq(got, "3 8");
    spec eos = {2, 0, 0, -1.0f, -2.0f,
                "{\"add_bos_token\": true, \"add_eos_token\": true, \"bos_token\": \"<s>\", "
                "\"eos_token\": \"</s>\"}"};
    ids_str(&eos, "abc", got, sizeof got);
    ck_assert_str_eq(got, "1 3 8 2");
    /* control pieces in the text are added tokens, not characters */
    ids_str(&eos, "ab</s>c", got, sizeof got);
    ck_assert_str_eq(got, "1 3 2 8 2");
}
END_TEST

START_TEST(unsupported_models_are_refused) {
    tf_tokenizer *t = NULL;
    tf_err err = {0};
    spec unigram = {1, 0, 1, -1.0f, -2.0f, NULL};
    ck_assert_int_eq(load_spec(&unigram, &t, &err), TF_EUNSUPPORTED);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(err.msg, "Unigram"));
    spec collapse = {2, 1, 1, -1.0f, -2.0f, NULL};
    ck_assert_int_eq(load_spec(&collapse, &t, &err), TF_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.msg, "remove_extra_whitespaces"));
}
END_TEST

Suite *spm_bpe_file_suite(void) {
    Suite *s = suite_create("spm_bpe_file");
    TCase *tc = tcase_create("tokenizer.model");
    tcase_add_test(tc, model_matches_json);
    tcase_add_test(tc, trained_model_matches_spm_encode);
    tcase_add_test(tc, merge_priority_follows_scores);
    tcase_add_test(tc, bos_follows_config);
    tcase_add_test(tc, unsupported_models_are_refused);
    suite_add_tcase(s, tc);
    return s;
}
