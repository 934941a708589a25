/* The Llama family against independent float64 references (tests/reference/llama_ref.py):
 *
 * - tiny-llama-gqa (4 query heads over 2 KV heads, untied head, rope_theta 1000): fp32
 *   logits at every position, fed whole and fed in chunks through the KV cache, within
 *   1e-4 of the row's scale (max(1, max|logit|)); greedy ids, also with three sequences
 *   batched in one step; int8 within 5% of the row's scale (per-row int8 weights and
 *   activations over 32- and 48-wide rows through two random layers; measured worst 3.7%).
 * - its SentencePiece-BPE tokenizer.json (Metaspace "first", byte fallback, BOS template)
 *   against the HF pipeline written in Python.
 * - stories260K (genuinely trained; skipped when ../shared is absent): converted here with
 *   model_convert_llama2c, its tokenizer must give llama2.c's encode() ids, its fp32 logits
 *   must match a float64 forward over the original .bin (interleaved RoPE) within 1e-4,
 *   and greedy text from "Once upon a time" must continue as the issue states, fp32 and
 *   int8; int8 logits within 3% of the row's scale (measured 1.3%).
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ops.h"
#include "models/model_impl.h"

#define GOLDEN "tests/reference/llama_golden.json"
#define STORY_GOLDEN ", there was a little girl named Lily. She loved to play outside in the park."

static json_t *golden;

static void load_golden(void) {
    json_error_t je;
    golden = json_load_file(GOLDEN, 0, &je);
    ck_assert_msg(golden != NULL, "%s: %s", GOLDEN, je.text);
}

static void free_golden(void) { json_decref(golden); }

static tf_model *load_kv(const char *dir, int int8, tf_kv_cache_dtype kv) {
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = int8, .n_threads = 2, .kv_cache_dtype = kv};
    ck_assert_msg(model_load(dir, &o, &m, &err) == 0, "load %s: %s", dir, err.msg);
    return m;
}

static tf_model *load(const char *dir, int int8) { return load_kv(dir, int8, TF_KV_CACHE_AUTO); }

static int32_t *ids_of(json_t *arr, int *n) {
    *n = (int)json_array_size(arr);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1));
    for (int i = 0; i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

static tf_seq *new_seq(tf_model *m, json_t *ids_json, int max_new) {
    int n;
    int32_t *ids = ids_of(ids_json, &n);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = max_new;
    p.ignore_eos = 1;
    tf_seq *s = NULL;
    tf_err err = {0};
    ck_assert_msg(seq_new(m, ids, n, &p, &s, &err) == 0, "%s", err.msg);
    free(ids);
    return s;
}

/* max |got - want| over the row, relative to max(1, max |want|). */
static double row_error(const float *got, json_t *want, int n) {
    ck_assert_int_eq((int)json_array_size(want), n);
    double scale = 1, worst = 0;
    for (int i = 0; i < n; i++) scale = fmax(scale, fabs(json_real_value(json_array_get(want, i))));
    for (int i = 0; i < n; i++)
        worst = fmax(worst, fabs(got[i] - json_real_value(json_array_get(want, i))));
    return worst / scale;
}

static json_t *tiny_prompt(int i) {
    return json_array_get(json_object_get(json_object_get(golden, "tiny"), "prompts"), (size_t)i);
}

static const char *tiny_dir(void) {
    return json_string_value(json_object_get(json_object_get(golden, "tiny"), "dir"));
}

/* Feeds the prompt in chunks (first chunk, then one token at a time) and checks the logits
 * after every chunk against the golden row of that position. */
static double chunked_error(tf_model *m, json_t *pr, int first_chunk) {
    json_t *rows = json_object_get(pr, "position_logits");
    tf_seq *s = new_seq(m, json_object_get(pr, "ids"), 1);
    const int vocab = model_info(m)->vocab_size, n = s->n_prompt;
    float *logits = malloc(sizeof(float) * (size_t)vocab);
    tf_err err = {0};
    double worst = 0;
    for (int pos = 0; pos < n;) {
        int chunk = pos == 0 ? (first_chunk < n ? first_chunk : n) : 1;
        ck_assert_msg(model_forward_logits(m, s, chunk, logits, &err) == 0, "%s", err.msg);
        pos += chunk;
        worst = fmax(worst, row_error(logits, json_array_get(rows, (size_t)pos - 1), vocab));
    }
    free(logits);
    seq_free(s);
    return worst;
}

/* Loops 3..5: fp32 weights over an fp16 KV cache (kv_cache_dtype f16), where storing K and
 * V moves each by at most 2^-11 of itself: 1e-3 of the row scale (measured 1.1e-4 worst). */
START_TEST(tiny_fp32_matches_reference) {
    const int f16 = _i >= 3;
    const double tol = f16 ? 1e-3 : 1e-4;
    tf_model *m = load_kv(tiny_dir(), 0, f16 ? TF_KV_CACHE_F16 : TF_KV_CACHE_AUTO);
    json_t *pr = tiny_prompt(_i % 3);
    int n = (int)json_array_size(json_object_get(pr, "ids"));
    double whole = chunked_error(m, pr, n), chunked = chunked_error(m, pr, 3);
    ck_assert_msg(whole <= tol, "%s: whole prompt, error %.3g of scale", json_string_value(json_object_get(pr, "name")), whole);
    ck_assert_msg(chunked <= tol, "%s: chunked, error %.3g of scale", json_string_value(json_object_get(pr, "name")), chunked);
    model_free(m);
}
END_TEST

START_TEST(tiny_int8_close_to_reference) {
    tf_model *m = load(tiny_dir(), 1);
    json_t *pr = tiny_prompt(_i);
    double e = chunked_error(m, pr, 2);
    ck_assert_msg(e <= 5e-2, "int8 error %.3g of scale", e);
    printf("test_llama: tiny int8 %s: worst logit error %.2g of the row scale\n",
           json_string_value(json_object_get(pr, "name")), e);
    model_free(m);
}
END_TEST

/* All three prompts in one batch, prefill and decode together, greedy to N tokens. */
START_TEST(tiny_batched_greedy_matches_reference) {
    tf_model *m = load(tiny_dir(), 0);
    enum { N = 3 };
    tf_seq *seqs[N];
    int n_tok[N];
    int n_new = (int)json_array_size(json_object_get(tiny_prompt(0), "greedy_ids"));
    for (int i = 0; i < N; i++) seqs[i] = new_seq(m, json_object_get(tiny_prompt(i), "ids"), n_new);
    tf_err err = {0};
    for (;;) {
        tf_seq *live[N];
        int k = 0;
        for (int i = 0; i < N; i++)
            if (!seq_finished(seqs[i])) {
                live[k] = seqs[i];
                n_tok[k++] = seq_next_chunk(seqs[i], 4); /* prompts arrive in 4-token chunks */
            }
        if (k == 0) break;
        tf_batch b = {.n_seqs = k, .seqs = live, .n_tokens = n_tok};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
    }
    for (int i = 0; i < N; i++) {
        tf_seq_state st;
        seq_state(seqs[i], &st);
        json_t *want = json_object_get(tiny_prompt(i), "greedy_ids");
        ck_assert_int_eq(st.n_generated, (int)json_array_size(want));
        for (int t = 0; t < st.n_generated; t++)
            ck_assert_msg(st.tokens[t] == json_integer_value(json_array_get(want, (size_t)t)),
                          "prompt %d token %d: %d, want %lld", i, t, st.tokens[t],
                          (long long)json_integer_value(json_array_get(want, (size_t)t)));
        seq_free(seqs[i]);
    }
    model_free(m);
}
END_TEST

/* Attention statistics are reported per layer and query head, as for GPT-2. */
START_TEST(tiny_attention_summary) {
    tf_model *m = load(tiny_dir(), 1);
    int n;
    int32_t *ids = ids_of(json_object_get(tiny_prompt(0), "ids"), &n);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 3;
    p.ignore_eos = 1;
    p.attn_summary = 1;
    p.attn_full = 1; /* every query head keeps its rows, grouped KV heads or not */
    tf_seq *s = NULL;
    tf_err err = {0};
    ck_assert_msg(seq_new(m, ids, n, &p, &s, &err) == 0, "%s", err.msg);
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int k[1] = {seq_next_chunk(s, 64)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = k};
        ck_assert_int_eq(model_step(m, &b, &err), 0);
    }
    tf_seq_state st;
    seq_state(s, &st);
    ck_assert_ptr_nonnull(st.attn);
    ck_assert_int_gt(st.attn_n_head, 0);
    ck_assert_int_eq(st.attn_full_rows, n + 2);
    for (int i = 0; i < st.attn_n_layer * st.attn_n_head; i++) {
        ck_assert_int_eq(st.attn[i].n_rows, n + 2); /* prompt rows + 2 fed decode rows */
        ck_assert(st.attn[i].sink_sum >= 1.0 - 1e-6 && st.attn[i].sink_sum <= n + 2 + 1e-6);
        double sink = 0;
        for (int r = 0; r < st.attn_full_rows; r++) {
            const float *row = st.attn_full[i] + (size_t)r * st.attn_full_ld;
            double sum = 0;
            for (int k = 0; k <= r; k++) sum += row[k];
            ck_assert(fabs(sum - 1) < 1e-5);
            sink += row[0];
        }
        ck_assert(fabs(sink - st.attn[i].sink_sum) < 1e-5);
    }
    seq_free(s);
    free(ids);
    model_free(m);
}
END_TEST

START_TEST(tiny_tokenizer_matches_hf_pipeline) {
    tf_model *m = load(tiny_dir(), 0);
    json_t *cases = json_object_get(golden, "tiny_tokenizer");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        int n_want, n = 0;
        int32_t *want = ids_of(json_object_get(c, "ids"), &n_want), *got = NULL;
        tf_err err = {0};
        ck_assert_int_eq(model_tokenize(m, text, strlen(text), &got, &n, &err), 0);
        int same = n == n_want;
        for (int k = 0; same && k < n; k++) same = got[k] == want[k];
        ck_assert_msg(same, "\"%s\": %d ids, want %d (first difference in the sequence)", text, n, n_want);
        free(got);
        free(want);
    }
    /* Decoding undoes "▁" and <0xNN>, and the Strip decoder drops the one prefixed space. */
    const char *text = "Lily saw a caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80 then";
    int32_t *ids = NULL;
    int n = 0;
    char *back = NULL;
    size_t len = 0;
    tf_err err = {0};
    ck_assert_int_eq(model_tokenize(m, text, strlen(text), &ids, &n, &err), 0);
    ck_assert_int_eq(ids[0], 1); /* BOS from the TemplateProcessing post-processor */
    ck_assert_int_eq(model_detokenize(m, ids + 1, n - 1, &back, &len, &err), 0);
    ck_assert_str_eq(back, text);
    free(ids);
    free(back);
    model_free(m);
}
END_TEST

/* ---- stories260K ----------------------------------------------------------------------- */

static char story_dir[64];
static char story_err[300];

/* Unchecked setup (runs once, in the parent): stories260K converted into a temp dir. */
static void stories_setup(void) {
    load_golden();
    json_t *g = json_object_get(golden, "stories260K");
    const char *src = json_string_value(json_object_get(g, "dir"));
    char bin[512], tok[512];
    snprintf(bin, sizeof bin, "%s/stories260K.bin", src);
    snprintf(tok, sizeof tok, "%s/tok512.bin", src);
    if (access(bin, R_OK) != 0 || access(tok, R_OK) != 0) {
        printf("test_llama: SKIP stories260K: %s is absent\n", src);
        return;
    }
    char tmpl[] = "/tmp/tf_llama_XXXXXX";
    if (!mkdtemp(tmpl)) {
        snprintf(story_err, sizeof story_err, "mkdtemp failed");
        return;
    }
    snprintf(story_dir, sizeof story_dir, "%s", tmpl);
    tf_err err = {0};
    if (model_convert_llama2c(bin, tok, story_dir, &err) < 0)
        snprintf(story_err, sizeof story_err, "convert: %s", err.msg);
}

/* 0 when ../shared is absent (the test then passes as skipped). */
static int stories_ready(void) {
    ck_assert_msg(story_err[0] == 0, "%s", story_err);
    return story_dir[0] != 0;
}

static void remove_story_dir(void) {
    if (!story_dir[0]) return;
    static const char *const files[] = {"config.json", "generation_config.json", "model.safetensors",
                                        "tokenizer.json", "tokenizer_config.json"};
    char p[256];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", story_dir, files[i]);
        unlink(p);
    }
    rmdir(story_dir);
    story_dir[0] = 0;
}

static void stories_teardown(void) {
    remove_story_dir();
    free_golden();
}

static char *greedy_text(tf_model *m, const char *prompt, int n_new, int32_t *tokens_out) {
    int32_t *ids = NULL;
    int n = 0;
    tf_err err = {0};
    ck_assert_int_eq(model_tokenize(m, prompt, strlen(prompt), &ids, &n, &err), 0);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = n_new;
    p.ignore_eos = 1;
    tf_seq *s = NULL;
    ck_assert_msg(seq_new(m, ids, n, &p, &s, &err) == 0, "%s", err.msg);
    free(ids);
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int k[1] = {seq_next_chunk(s, 512)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = k};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
    }
    tf_seq_state st;
    seq_state(s, &st);
    if (tokens_out) memcpy(tokens_out, st.tokens, sizeof(int32_t) * (size_t)st.n_generated);
    char *text = strndup(st.text, st.text_len);
    seq_free(s);
    return text;
}

START_TEST(stories_tokenizer_matches_llama2c) {
    if (!stories_ready()) return;
    tf_model *m = load(story_dir, 0);
    json_t *cases = json_object_get(json_object_get(golden, "stories260K"), "encode");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        int n_want, n = 0;
        int32_t *want = ids_of(json_object_get(c, "ids"), &n_want), *got = NULL;
        tf_err err = {0};
        ck_assert_int_eq(model_tokenize(m, text, strlen(text), &got, &n, &err), 0);
        int same = n == n_want;
        for (int k = 0; same && k < n; k++) same = got[k] == want[k];
        ck_assert_msg(same, "\"%s\": ids differ from llama2.c's encode (%d vs %d)", text, n, n_want);
        free(got);
        free(want);
    }
    model_free(m);
}
END_TEST

START_TEST(stories_fp32_matches_llama2c_forward) {
    if (!stories_ready()) return;
    json_t *g = json_object_get(golden, "stories260K");
    tf_model *m = load(story_dir, 0);
    tf_seq *s = new_seq(m, json_object_get(g, "ids"), 1);
    float logits[512];
    ck_assert_int_eq(model_info(m)->vocab_size, 512);
    tf_err err = {0};
    ck_assert_int_eq(model_forward_logits(m, s, s->n_prompt, logits, &err), 0);
    double e = row_error(logits, json_object_get(g, "last_logits"), 512);
    ck_assert_msg(e <= 1e-4, "stories260K logits error %.3g of scale", e);
    seq_free(s);
    json_t *want = json_object_get(g, "greedy_ids");
    int n_new = (int)json_array_size(want);
    int32_t got[64];
    char *text = greedy_text(m, json_string_value(json_object_get(g, "prompt")), n_new, got);
    for (int t = 0; t < n_new; t++)
        ck_assert_msg(got[t] == json_integer_value(json_array_get(want, (size_t)t)),
                      "greedy token %d: %d", t, got[t]);
    ck_assert_msg(strncmp(text, STORY_GOLDEN, strlen(STORY_GOLDEN)) == 0, "fp32 text: \"%s\"", text);
    free(text);
    model_free(m);
}
END_TEST

START_TEST(stories_int8_keeps_the_story) {
    if (!stories_ready()) return;
    json_t *g = json_object_get(golden, "stories260K");
    tf_model *m = load(story_dir, 1);
    tf_seq *s = new_seq(m, json_object_get(g, "ids"), 1);
    float logits[512];
    tf_err err = {0};
    ck_assert_int_eq(model_forward_logits(m, s, s->n_prompt, logits, &err), 0);
    double e = row_error(logits, json_object_get(g, "last_logits"), 512);
    ck_assert_msg(e <= 3e-2, "stories260K int8 logits error %.3g of scale", e);
    seq_free(s);
    char *text = greedy_text(m, "Once upon a time", 32, NULL);
    ck_assert_msg(strncmp(text, STORY_GOLDEN, strlen(STORY_GOLDEN)) == 0, "int8 text: \"%s\"", text);
    free(text);
    model_free(m);
}
END_TEST

/* ---- limits ------------------------------------------------------------------------------ */

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_int_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

START_TEST(convert_refuses_bad_checkpoints) {
    char dir[] = "/tmp/tf_llama_bad_XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char bin[128], tok[128], out[128];
    snprintf(bin, sizeof bin, "%s/m.bin", dir);
    snprintf(tok, sizeof tok, "%s/tok.bin", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    tf_err err = {0};
    /* A plausible header with one float missing. */
    int32_t hdr[7] = {8, 16, 1, 2, 1, 300, 4};
    size_t n_floats = 300 * 8 + 8 + 64 + 2 * 32 + 64 + 8 + 3 * 128 + 8 + 4 * 4 - 1;
    size_t bytes = sizeof hdr + 4 * n_floats;
    char *buf = calloc(1, bytes + 4);
    memcpy(buf, hdr, sizeof hdr);
    write_file(bin, buf, bytes);
    write_file(tok, "\x01\x00\x00\x00", 4);
    ck_assert_int_eq(model_convert_llama2c(bin, tok, out, &err), TF_EFORMAT);
    ck_assert_msg(strstr(err.msg, "header implies") != NULL, "%s", err.msg);
    /* The right size, but the tokenizer file ends early. */
    write_file(bin, buf, bytes + 4);
    ck_assert_int_eq(model_convert_llama2c(bin, tok, out, &err), TF_EFORMAT);
    ck_assert_msg(strstr(err.msg, "tok.bin") != NULL, "%s", err.msg);
    /* Heads that do not divide the width. */
    hdr[3] = 3;
    memcpy(buf, hdr, sizeof hdr);
    write_file(bin, buf, bytes + 4);
    ck_assert_int_eq(model_convert_llama2c(bin, tok, out, &err), TF_EFORMAT);
    ck_assert_int_eq(model_convert_llama2c("/nonexistent/x.bin", tok, out, &err), TF_ENOTFOUND);
    free(buf);
    char p[160];
    static const char *const names[] = {"config.json", "generation_config.json",
                                        "tokenizer_config.json", "tokenizer.json"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        unlink(p);
    }
    rmdir(out);
    unlink(bin);
    unlink(tok);
    rmdir(dir);
}
END_TEST

/* A copy of the tiny fixture with one config.json edit (key = raw JSON value). */
static int load_with_config(const char *key, const char *value, tf_err *err) {
    char dir[] = "/tmp/tf_llama_cfg_XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char src[512], dst[512], cwd[256];
    ck_assert(getcwd(cwd, sizeof cwd) != NULL);
    const char *files[] = {"model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s/%s", cwd, tiny_dir(), files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        ck_assert_int_eq(symlink(src, dst), 0);
    }
    snprintf(src, sizeof src, "%s/config.json", tiny_dir());
    json_t *cfg = json_load_file(src, 0, NULL);
    ck_assert(cfg != NULL);
    json_object_set_new(cfg, key, json_loads(value, JSON_DECODE_ANY, NULL));
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    ck_assert_int_eq(json_dump_file(cfg, dst, 0), 0);
    json_decref(cfg);
    tf_model *m = NULL;
    tf_model_opts o = {.use_int8 = 0, .n_threads = 1};
    int rc = model_load(dir, &o, &m, err);
    model_free(m);
    for (int i = 0; i < 3; i++) {
        snprintf(dst, sizeof dst, "%s/%s", dir, i < 2 ? files[i] : "config.json");
        unlink(dst);
    }
    rmdir(dir);
    return rc;
}

START_TEST(load_refuses_bad_configs) {
    tf_err err = {0};
    ck_assert_int_eq(load_with_config("num_key_value_heads", "3", &err), TF_EFORMAT);
    ck_assert_int_eq(load_with_config("rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}", &err),
                     TF_EUNSUPPORTED);
    ck_assert_int_eq(load_with_config("hidden_act", "\"gelu\"", &err), TF_EUNSUPPORTED);
    ck_assert_int_eq(load_with_config("intermediate_size", "64", &err), TF_EFORMAT); /* shape */
    ck_assert_int_eq(load_with_config("tie_word_embeddings", "true", &err), 0);
    ck_assert_int_eq(load_with_config("num_key_value_heads", "4", &err), TF_EFORMAT); /* k_proj */
    ck_assert_int_eq(load_with_config("eos_token_id", "[2, 1]", &err), 0);
    ck_assert_int_eq(load_with_config("eos_token_id", "[\"x\"]", &err), TF_ERANGE);
    ck_assert_int_eq(load_with_config("eos_token_id", "4000", &err), TF_ERANGE);
}
END_TEST

/* The fixture's tokenizer.json with one top-level field replaced (raw JSON). */
static int tok_load_with(const char *key, const char *value, tf_err *err) {
    char dir[] = "/tmp/tf_llama_tok_XXXXXX", path[160], src[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(src, sizeof src, "%s/tokenizer.json", tiny_dir());
    json_t *t = json_load_file(src, 0, NULL);
    ck_assert(t != NULL);
    json_object_set_new(t, key, json_loads(value, JSON_DECODE_ANY, NULL));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    ck_assert_int_eq(json_dump_file(t, path, 0), 0);
    json_decref(t);
    tf_tokenizer *tok = NULL;
    int rc = tok_load(dir, &tok, err);
    tok_free(tok);
    unlink(path);
    rmdir(dir);
    return rc;
}

START_TEST(tokenizer_refuses_unsupported_pipelines) {
    tf_err err = {0};
    ck_assert_int_eq(tok_load_with("normalizer", "{\"type\": \"Sequence\", \"normalizers\": ["
                                   "{\"type\": \"Prepend\", \"prepend\": \"\u2581\"}, {\"type\": \"NFKC\"}]}", &err),
                     TF_EUNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "NFKC") != NULL, "%s", err.msg);
    ck_assert_int_eq(tok_load_with("decoder", "{\"type\": \"Strip\", \"content\": \" \", \"start\": 2, "
                                   "\"stop\": 0}", &err), TF_EUNSUPPORTED);
    ck_assert_int_eq(tok_load_with("post_processor", "{\"type\": \"Sequence\", \"processors\": []}",
                                   &err), TF_EUNSUPPORTED);
    ck_assert_int_eq(tok_load_with("pre_tokenizer", "{\"type\": \"Metaspace\", \"replacement\": \"_\"}", &err),
                     TF_EUNSUPPORTED);
    ck_assert_int_eq(tok_load_with("decoder", "null", &err), 0);
}
END_TEST

Suite *llama_suite(void) {
    Suite *s = suite_create("llama");
    TCase *tc = tcase_create("reference");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, load_golden, free_golden);
    tcase_add_loop_test(tc, tiny_fp32_matches_reference, 0, 6);
    tcase_add_loop_test(tc, tiny_int8_close_to_reference, 0, 3);
    tcase_add_test(tc, tiny_batched_greedy_matches_reference);
    tcase_add_test(tc, tiny_tokenizer_matches_hf_pipeline);
    tcase_add_test(tc, tiny_attention_summary);
    suite_add_tcase(s, tc);
    TCase *st = tcase_create("stories260K");
    tcase_set_timeout(st, 120);
    tcase_add_unchecked_fixture(st, stories_setup, stories_teardown);
    tcase_add_test(st, stories_tokenizer_matches_llama2c);
    tcase_add_test(st, stories_fp32_matches_llama2c_forward);
    tcase_add_test(st, stories_int8_keeps_the_story);
    suite_add_tcase(s, st);
    TCase *lim = tcase_create("limits");
    tcase_add_unchecked_fixture(lim, load_golden, free_golden);
    tcase_add_test(lim, convert_refuses_bad_checkpoints);
    tcase_add_test(lim, load_refuses_bad_configs);
    tcase_add_test(lim, tokenizer_refuses_unsupported_pipelines);
    suite_add_tcase(s, lim);
    return s;
}
