/* Sequence state: stop strings, streaming-safe text, seeds, limits. Uses the tiny GPT-2
 * fixture with a byte-level tokenizer written by the test (ids 0..255 are bytes), and
 * appends chosen tokens directly so the expected text is known exactly. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model_impl.h"

static tf_model *model;
static char dir[64];

static int byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256 + n;
}

static void setup(void) {
    strcpy(dir, "/tmp/tf_seq_XXXXXX");
    ck_assert(mkdtemp(dir) != NULL);
    char cwd[512], src[1024], dst[1024];
    ck_assert(getcwd(cwd, sizeof cwd) != NULL);
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/tests/fixtures/tiny-gpt2-f32/%s", cwd, files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        ck_assert_int_eq(symlink(src, dst), 0);
    }
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        int cp = byte_to_cp(b);
        char s[3] = {(char)cp, 0, 0};
        if (cp >= 0x80) {
            s[0] = (char)(0xC0 | (cp >> 6));
            s[1] = (char)(0x80 | (cp & 0x3F));
        }
        json_object_set_new(vocab, s, json_integer(b));
    }
    json_t *tok = json_pack("{s:[{s:i, s:s, s:b}], s:{s:s}, s:{s:s, s:o, s:[]}, s:{s:s}}",
                            "added_tokens", "id", 50256, "content", "<|endoftext|>", "special", 1,
                            "pre_tokenizer", "type", "ByteLevel", "model", "type", "BPE", "vocab",
                            vocab, "merges", "decoder", "type", "ByteLevel");
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    ck_assert_int_eq(json_dump_file(tok, dst, 0), 0);
    json_decref(tok);
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = 1, .n_threads = 1};
    ck_assert_msg(model_load(dir, &o, &model, &err) == 0, "%s", err.msg);
}

static void teardown(void) {
    model_free(model);
    char path[128];
    const char *files[] = {"config.json", "model.safetensors", "tokenizer.json"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static tf_seq *make(const char *const *stops, int n_stop, int max_new) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = max_new;
    p.n_stop = n_stop;
    for (int i = 0; i < n_stop; i++) p.stop[i] = stops[i];
    int32_t prompt[2] = {72, 105}; /* "Hi" */
    tf_seq *s = NULL;
    tf_err err = {0};
    ck_assert_msg(seq_new(model, prompt, 2, &p, &s, &err) == 0, "%s", err.msg);
    return s;
}

static void feed(tf_seq *s, const char *text) {
    for (const char *c = text; *c; c++) seq_append_token(s, (unsigned char)*c, -1.0f);
}

START_TEST(stop_string_truncates_text_and_finishes) {
    const char *stops[] = {"world", "\n\n"};
    tf_seq *s = make(stops, 2, 100);
    tf_seq_state st;
    feed(s, "Hello wor");
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_NONE);
    /* "wor" could still become "world": held back from streaming */
    ck_assert_uint_eq(st.text_stable_len, strlen("Hello "));
    feed(s, "ld and more");
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_STOP);
    ck_assert_str_eq(st.text, "Hello ");
    ck_assert_uint_eq(st.text_len, 6);
    ck_assert_uint_eq(st.text_stable_len, 6);
    seq_free(s);
}
END_TEST

START_TEST(stop_string_spanning_tokens_and_partial_miss) {
    const char *stops[] = {"\n\n"};
    tf_seq *s = make(stops, 1, 100);
    tf_seq_state st;
    feed(s, "a\nb\n");
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_NONE);
    ck_assert_uint_eq(st.text_stable_len, 3); /* the last "\n" may start "\n\n" */
    feed(s, "\n");
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_STOP);
    ck_assert_str_eq(st.text, "a\nb");
    seq_free(s);
}
END_TEST

START_TEST(unfinished_utf8_is_held_back) {
    tf_seq *s = make(NULL, 0, 100);
    tf_seq_state st;
    feed(s, "caf\xC3");
    seq_state(s, &st);
    ck_assert_uint_eq(st.text_stable_len, 3);
    feed(s, "\xA9!");
    seq_state(s, &st);
    ck_assert_uint_eq(st.text_stable_len, 6);
    /* a 4-byte emoji arriving a byte at a time */
    feed(s, "\xF0\x9F\x98");
    seq_state(s, &st);
    ck_assert_uint_eq(st.text_stable_len, 6);
    feed(s, "\x80");
    seq_state(s, &st);
    ck_assert_uint_eq(st.text_stable_len, 10);
    seq_free(s);
}
END_TEST

START_TEST(eos_and_length_finish) {
    tf_seq *s = make(NULL, 0, 3);
    seq_append_token(s, 'a', 0);
    seq_append_token(s, 50256, 0);
    tf_seq_state st;
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_STOP);
    ck_assert_str_eq(st.text, "a");
    ck_assert_int_eq(st.n_generated, 2); /* the EOS id is reported, not rendered */
    seq_free(s);
    s = make(NULL, 0, 3);
    feed(s, "abc");
    seq_state(s, &st);
    ck_assert_int_eq(st.finish, TF_FINISH_LENGTH);
    ck_assert_int_eq(seq_next_chunk(s, 10), 0);
    seq_free(s);
}
END_TEST

static void run(tf_seq *s) {
    tf_err err = {0};
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int n[1] = {seq_next_chunk(s, 64)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = n};
        ck_assert_msg(model_step(model, &b, &err) == 0, "%s", err.msg);
    }
}

START_TEST(same_seed_same_tokens_other_seed_differs) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 24;
    p.temperature = 40.0f; /* the fixture's logit gaps are ~100 */
    p.top_k = 50;
    p.top_p = 0.95f;
    p.ignore_eos = 1;
    int32_t prompt[3] = {15496, 11, 616};
    tf_seq *a, *b, *c;
    tf_err err = {0};
    p.seed = 11;
    ck_assert_int_eq(seq_new(model, prompt, 3, &p, &a, &err), 0);
    ck_assert_int_eq(seq_new(model, prompt, 3, &p, &b, &err), 0);
    p.seed = 12;
    ck_assert_int_eq(seq_new(model, prompt, 3, &p, &c, &err), 0);
    run(a);
    run(b);
    run(c);
    tf_seq_state sa, sb, sc;
    seq_state(a, &sa);
    seq_state(b, &sb);
    seq_state(c, &sc);
    ck_assert_int_eq(sa.n_generated, 24);
    ck_assert(memcmp(sa.tokens, sb.tokens, 24 * sizeof(int32_t)) == 0);
    ck_assert(memcmp(sa.tokens, sc.tokens, 24 * sizeof(int32_t)) != 0);
    for (int i = 0; i < 24; i++) ck_assert(sa.logprobs[i] <= 0);
    seq_free(a);
    seq_free(b);
    seq_free(c);
}
END_TEST

START_TEST(bad_params_are_refused_with_the_field_named) {
    tf_gen_params p;
    tf_err err = {0};
    gen_params_default(&p);
    p.top_p = 0;
    ck_assert_int_eq(gen_params_check(&p, &err), TF_ERANGE);
    ck_assert(strstr(err.msg, "top_p") != NULL);
    gen_params_default(&p);
    p.temperature = -1;
    ck_assert_int_eq(gen_params_check(&p, &err), TF_ERANGE);
    ck_assert(strstr(err.msg, "temperature") != NULL);
    gen_params_default(&p);
    p.max_new_tokens = 0;
    ck_assert_int_eq(gen_params_check(&p, &err), TF_ERANGE);
    ck_assert(strstr(err.msg, "max_new_tokens") != NULL);
    gen_params_default(&p);
    p.n_stop = 1;
    p.stop[0] = "";
    ck_assert_int_eq(gen_params_check(&p, &err), TF_ERANGE);
    ck_assert(strstr(err.msg, "stop") != NULL);
}
END_TEST

START_TEST(empty_prompt_starts_from_bos) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 2;
    tf_seq *s;
    tf_err err = {0};
    ck_assert_int_eq(seq_new(model, NULL, 0, &p, &s, &err), 0);
    tf_seq_state st;
    seq_state(s, &st);
    ck_assert_int_eq(st.n_prompt, 1);
    run(s);
    seq_state(s, &st);
    ck_assert_int_ge(st.n_generated, 1);
    seq_free(s);
}
END_TEST

START_TEST(attention_summary_covers_every_fed_row) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 5;
    p.ignore_eos = 1;
    p.attn_summary = 1;
    int32_t prompt[4] = {15496, 11, 616, 1438};
    tf_seq *s;
    tf_err err = {0};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), 0);
    run(s);
    tf_seq_state st;
    seq_state(s, &st);
    ck_assert_ptr_nonnull(st.attn);
    ck_assert_int_eq(st.attn_n_layer, 2);
    ck_assert_int_eq(st.attn_n_head, 4);
    /* 4 prompt rows + 4 decode rows (the 5th token is sampled, never fed) */
    for (int i = 0; i < 8; i++) {
        const tf_attn_stats *a = &st.attn[i];
        ck_assert_int_eq(a->n_rows, 8);
        ck_assert_int_eq(a->n_entropy_rows, 7); /* position 0 sees one key */
        ck_assert(a->entropy_sum >= 0 && a->entropy_sum <= 7 + 1e-5);
        ck_assert(a->max_sum > 0 && a->max_sum <= 8 + 1e-5);
        /* every row's weight on the 4 prompt positions is at least its sink weight */
        ck_assert(a->prompt_sum + 1e-6 >= a->sink_sum);
        ck_assert(a->sink_sum >= 1.0 - 1e-6); /* row 0 puts all weight on position 0 */
    }
    seq_free(s);
    p.attn_summary = 0;
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), 0);
    seq_state(s, &st);
    ck_assert_ptr_null(st.attn);
    seq_free(s);
}
END_TEST

/* Full attention: the kept rows are the rows the statistics saw (row p has p + 1 weights
 * summing to 1, its first weight summed over rows is the sink sum), only the selected pairs
 * are kept, and keeping them changes nothing in the generation. */
START_TEST(full_attention_keeps_selected_rows) {
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 5;
    p.ignore_eos = 1;
    p.attn_summary = 1;
    int32_t prompt[4] = {15496, 11, 616, 1438};
    tf_seq *plain, *s;
    tf_err err = {0};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &plain, &err), 0);
    run(plain);
    const int layers[1] = {1}, heads[2] = {3, 0};
    p.attn_full = 1;
    p.attn_sel = (tf_attn_select){.layers = layers, .n_layers = 1, .heads = heads, .n_heads = 2};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), 0);
    /* feed the prompt in two chunks: rows land at their absolute positions */
    tf_seq *one[1] = {s};
    int n_tok[1] = {2};
    tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = n_tok};
    ck_assert_int_eq(model_step(model, &b, &err), 0);
    run(s);
    tf_seq_state st, st0;
    seq_state(s, &st);
    seq_state(plain, &st0);
    ck_assert_int_eq(st.n_generated, st0.n_generated);
    ck_assert_mem_eq(st.tokens, st0.tokens, sizeof(int32_t) * (size_t)st.n_generated);
    ck_assert_ptr_nonnull(st.attn_full);
    ck_assert_int_eq(st.attn_full_rows, 8); /* 4 prompt + 4 generated; the 5th is never fed */
    ck_assert_int_ge(st.attn_full_ld, 9);
    for (int l = 0; l < 2; l++)
        for (int h = 0; h < 4; h++) {
            const float *w = st.attn_full[l * 4 + h];
            if (l != 1 || (h != 3 && h != 0)) {
                ck_assert_ptr_null(w);
                continue;
            }
            ck_assert_ptr_nonnull(w);
            double sink = 0;
            for (int r = 0; r < st.attn_full_rows; r++) {
                const float *row = w + (size_t)r * st.attn_full_ld;
                double sum = 0;
                for (int k = 0; k <= r; k++) {
                    ck_assert(row[k] >= 0 && row[k] <= 1);
                    sum += row[k];
                }
                ck_assert_msg(fabs(sum - 1) < 1e-5, "layer %d head %d row %d sums to %g", l, h, r, sum);
                sink += row[0];
            }
            ck_assert(fabs(sink - st.attn[l * 4 + h].sink_sum) < 1e-5);
        }
    seq_free(plain);
    seq_free(s);
    /* bad selections are refused by the engine too */
    const int bad_layer[1] = {2}, twice[2] = {1, 1};
    p.attn_sel = (tf_attn_select){.layers = bad_layer, .n_layers = 1};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), TF_ERANGE);
    ck_assert_ptr_null(s);
    p.attn_sel = (tf_attn_select){.heads = twice, .n_heads = 2};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), TF_ERANGE);
    /* all pairs by default */
    p.attn_sel = (tf_attn_select){0};
    ck_assert_int_eq(seq_new(model, prompt, 4, &p, &s, &err), 0);
    seq_state(s, &st);
    for (int i = 0; i < 8; i++) ck_assert_ptr_nonnull(st.attn_full[i]);
    ck_assert_int_eq(st.attn_full_rows, 0);
    seq_free(s);
}
END_TEST

Suite *seq_suite(void) {
    Suite *s = suite_create("seq");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, stop_string_truncates_text_and_finishes);
    tcase_add_test(tc, stop_string_spanning_tokens_and_partial_miss);
    tcase_add_test(tc, unfinished_utf8_is_held_back);
    tcase_add_test(tc, eos_and_length_finish);
    tcase_add_test(tc, same_seed_same_tokens_other_seed_differs);
    tcase_add_test(tc, bad_params_are_refused_with_the_field_named);
    tcase_add_test(tc, empty_prompt_starts_from_bos);
    tcase_add_test(tc, attention_summary_covers_every_fed_row);
    tcase_add_test(tc, full_attention_keeps_selected_rows);
    suite_add_tcase(s, tc);
    return s;
}
