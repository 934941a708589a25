/* The bundled models (models/bundled/) answer fixed cases through the engine as served
 * (int8), so a broken loader, tokenizer or kernel cannot pass: a trained model scores real
 * English far better than the same words scrambled, and its greedy continuation of a story
 * opening is English made of the story's everyday words. A model whose directory is absent
 * is skipped with a message (it is trained by `make models`).
 */
#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model_impl.h"
#include "server/bundled.h"

#define GPT2_DIR "models/bundled/gpt2-tinystories"
#define SST2_DIR "models/bundled/distilbert-sst2"
#define T5_DIR "models/bundled/t5-multi30k-scitldr"

static tf_model *load_or_skip(const char *dir, int int8) {
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/model.safetensors", dir);
    if (access(cfg, R_OK) != 0) {
        printf("SKIP bundled: %s is absent (make models trains it)\n", dir);
        return NULL;
    }
    tf_err err = {0};
    tf_model *m = NULL;
    tf_model_opts o = {.use_int8 = int8, .n_threads = 2};
    ck_assert_msg(model_load(dir, &o, &m, &err) == 0, "%s: %s", dir, err.msg);
    return m;
}

/* Mean negative log-likelihood per token of <eos> text, as tools/score computes it. */
static double mean_nll(tf_model *m, const char *text) {
    tf_err err = {0};
    int32_t *ids = NULL;
    int n = 0;
    ck_assert_int_eq(model_tokenize(m, text, strlen(text), &ids, &n, &err), 0);
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(n + 1));
    ck_assert_ptr_nonnull(all);
    all[0] = m->eos_id;
    memcpy(all + 1, ids, sizeof(int32_t) * (size_t)n);
    free(ids);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 1;
    tf_seq *s = NULL;
    ck_assert_int_eq(seq_new(m, all, n, &p, &s, &err), 0);
    int V = m->info.vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)V);
    double nll = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(model_forward_logits(m, s, 1, logits, &err), 0);
        float mx = logits[0];
        for (int v = 1; v < V; v++) mx = fmaxf(mx, logits[v]);
        double z = 0;
        for (int v = 0; v < V; v++) z += exp((double)logits[v] - mx);
        nll -= logits[all[i + 1]] - mx - log(z);
    }
    free(logits);
    free(all);
    seq_free(s);
    return nll / n;
}

static char *greedy(tf_model *m, const char *prompt, int n_new) {
    tf_err err = {0};
    int32_t *ids = NULL;
    int n = 0;
    ck_assert_int_eq(model_tokenize(m, prompt, strlen(prompt), &ids, &n, &err), 0);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = n_new;
    tf_seq *s = NULL;
    ck_assert_int_eq(seq_new(m, ids, n, &p, &s, &err), 0);
    free(ids);
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int nt[1] = {seq_next_chunk(s, 512)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = nt};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
    }
    tf_seq_state st;
    seq_state(s, &st);
    char *text = strndup(st.text, st.text_len);
    seq_free(s);
    return text;
}

/* The next word of letters at *p, lower-cased into w (cut to size); 0 at the end. */
static int next_word(const char **p, char *w, size_t size) {
    while (**p && !isalpha((unsigned char)**p)) (*p)++;
    size_t k = 0;
    while (**p && isalpha((unsigned char)**p)) {
        if (k + 1 < size) w[k++] = (char)tolower((unsigned char)**p);
        (*p)++;
    }
    w[k] = 0;
    return k > 0;
}

/* Whether the lower-case word w is one of the words of text. */
static int has_word(const char *text, const char *w) {
    char t[32];
    while (next_word(&text, t, sizeof t))
        if (!strcmp(t, w)) return 1;
    return 0;
}

/* Counts words of `text` that are in the list of everyday story words. */
static int common_words(const char *text, int *n_words) {
    static const char *const common[] = {
        "the", "a", "and", "was", "to", "she", "he", "they", "her", "his", "it", "in", "of",
        "with", "said", "day", "one", "play", "little", "big", "happy", "there", "named", "saw",
        "went", "had", "very", "mom", "friend", "friends", "wanted", "lily", "tom", "is", "not",
        "you", "i", "so", "but", "on", "at", "loved", "liked", "time", "upon", NULL};
    int hits = 0, words = 0;
    const char *p = text;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p)) p++;
        char w[32];
        int k = 0;
        while (*p && isalpha((unsigned char)*p)) {
            if (k < 31) w[k++] = (char)tolower((unsigned char)*p);
            p++;
        }
        if (!k) break;
        w[k] = 0;
        words++;
        for (int i = 0; common[i]; i++)
            if (!strcmp(w, common[i])) {
                hits++;
                break;
            }
    }
    *n_words = words;
    return hits;
}

static const char *const story =
    "Once upon a time, there was a little girl named Lily. She loved to play outside with her "
    "friends. One day, she saw a big red ball in the park.";
/* The same words in reverse order: same unigram content, no grammar. */
static const char *const scrambled =
    "park. the in ball red big a saw she day, One friends. her with outside play to loved She "
    "Lily. named girl little a was there time, a upon Once";

START_TEST(gpt2_scores_english_over_scrambled) {
    for (int int8 = 1; int8 >= 0; int8--) {
        tf_model *m = load_or_skip(GPT2_DIR, int8);
        if (!m) return;
        double good = mean_nll(m, story), bad = mean_nll(m, scrambled);
        printf("bundled gpt2 %s: nll story %.3f scrambled %.3f\n", int8 ? "int8" : "fp32", good, bad);
        /* Uniform over the vocabulary is ln(4096) = 8.3 nats. */
        ck_assert_msg(good < 3.0, "story nll %.3f", good);
        ck_assert_msg(bad > good + 1.5, "scrambled %.3f vs story %.3f", bad, good);
        model_free(m);
    }
}
END_TEST

START_TEST(gpt2_continues_story_in_english) {
    tf_model *m = load_or_skip(GPT2_DIR, 1);
    if (!m) return;
    char *text = greedy(m, "Once upon a time, there was a little", 48);
    int words = 0, hits = common_words(text, &words);
    printf("bundled gpt2 greedy: \"%s\" (%d/%d everyday words)\n", text, hits, words);
    int ascii = 1;
    for (const char *p = text; *p; p++)
        if ((unsigned char)*p >= 0x80) ascii = 0;
    ck_assert_msg(ascii, "non-ASCII output: %s", text);
    ck_assert_msg(words >= 20, "only %d words: %s", words, text);
    ck_assert_msg(hits * 10 >= words * 4, "%d of %d everyday words: %s", hits, words, text);
    free(text);
    model_free(m);
}
END_TEST

/* Clear reviews, both polarities, int8 and fp32, as one batch (packed, unpadded): each
 * must get its label with a clear margin. */
START_TEST(distilbert_labels_clear_reviews) {
    static const struct {
        const char *text;
        const char *label;
    } cases[] = {
        {"a gorgeous , witty and deeply moving film .", "POSITIVE"},
        {"one of the best movies of the year , funny and beautifully acted .", "POSITIVE"},
        {"the movie is a boring , ugly mess .", "NEGATIVE"},
        {"a dull , lifeless and painfully bad waste of time .", "NEGATIVE"},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    for (int int8 = 1; int8 >= 0; int8--) {
        tf_model *m = load_or_skip(SST2_DIR, int8);
        if (!m) return;
        ck_assert_int_eq(model_n_labels(m), 2);
        tf_err err = {0};
        int32_t *ids[N];
        int n[N];
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(model_encode_for_task(m, cases[i].text, strlen(cases[i].text), 1, &ids[i],
                                                   &n[i], &err), 0);
        float p[N * 2];
        ck_assert_msg(model_classify(m, (const int32_t *const *)ids, n, N, p, &err) == 0, "%s", err.msg);
        for (int i = 0; i < N; i++) {
            int best = p[2 * i + 1] > p[2 * i];
            printf("bundled distilbert %s: %s %.3f \"%s\"\n", int8 ? "int8" : "fp32", model_label(m, best),
                   p[2 * i + best], cases[i].text);
            ck_assert_str_eq(model_label(m, best), cases[i].label);
            ck_assert_msg(p[2 * i + best] > 0.8f, "%s: p %.3f", cases[i].text, p[2 * i + best]);
            free(ids[i]);
        }
        model_free(m);
    }
}
END_TEST

/* One input through a T5 task as the routes serve it: the task's prefix and generation
 * defaults from config.json (beam search), then the model's own output. */
static char *t5_task(tf_model *m, const char *task_key, const char *text) {
    const char *prefix = model_task_prefix(m, task_key);
    ck_assert_msg(prefix != NULL, "no prefix for %s", task_key);
    char input[2048];
    snprintf(input, sizeof input, "%s%s", prefix, text);
    tf_err err = {0};
    int32_t *ids = NULL;
    int n = 0;
    ck_assert_int_eq(model_tokenize(m, input, strlen(input), &ids, &n, &err), 0);
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 64;
    model_task_defaults(m, task_key, &p);
    if (p.max_new_tokens > 64) p.max_new_tokens = 64;
    tf_seq *s = NULL;
    ck_assert_msg(seq_new(m, ids, n, &p, &s, &err) == 0, "%s", err.msg);
    free(ids);
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int nt[1] = {seq_next_chunk(s, 1 << 20)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = nt};
        ck_assert_msg(model_step(m, &b, &err) == 0, "%s", err.msg);
    }
    tf_seq_state st;
    seq_state(s, &st);
    char *out = strndup(st.text, st.text_len);
    seq_free(s);
    return out;
}

/* Case-insensitive: does text contain one of the words (NULL-terminated list)? */
static int has_any(const char *text, const char *const *words) {
    for (int i = 0; words[i]; i++)
        if (strcasestr(text, words[i])) return 1;
    return 0;
}

/* Simple captions in the style of Multi30k: the German and French outputs must carry the
 * key words of the source (any of the usual translations), in int8 as served and in fp32. */
START_TEST(t5_translates_captions_with_key_words) {
    static const struct {
        const char *task, *text;
        const char *words[2][4]; /* two key words, each a list of accepted forms */
    } cases[] = {
        {"translation_en_to_de", "Two children are playing in the water.", {{"Kinder", NULL}, {"Wasser", NULL}}},
        {"translation_en_to_de", "A woman is sitting on a bench.", {{"Frau", NULL}, {"Bank", NULL}}},
        {"translation_en_to_de", "A man in a red shirt is riding a bicycle down the street.",
         {{"Mann", NULL}, {"Straße", NULL}}},
        {"translation_en_to_de", "A dog runs through the snow.", {{"Hund", NULL}, {"Schnee", NULL}}},
        {"translation_en_to_fr", "Two children are playing in the water.", {{"enfants", NULL}, {"eau", NULL}}},
        {"translation_en_to_fr", "A woman is sitting on a bench.", {{"femme", NULL}, {"banc", NULL}}},
        {"translation_en_to_fr", "A man in a red shirt is riding a bicycle down the street.",
         {{"homme", NULL}, {"rouge", NULL}}},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    for (int int8 = 1; int8 >= 0; int8--) {
        tf_model *m = load_or_skip(T5_DIR, int8);
        if (!m) return;
        for (int i = 0; i < N; i++) {
            char *out = t5_task(m, cases[i].task, cases[i].text);
            printf("bundled t5 %s %s: \"%s\" -> \"%s\"\n", int8 ? "int8" : "fp32", cases[i].task,
                   cases[i].text, out);
            for (int w = 0; w < 2; w++)
                ck_assert_msg(has_any(out, cases[i].words[w]), "%s: \"%s\" lacks \"%s\"", cases[i].task, out,
                              cases[i].words[w][0]);
            free(out);
        }
        model_free(m);
    }
}
END_TEST

/* A short abstract: the summary is an English sentence. The bundled model's summaries do not
 * yet follow the abstract (2,000 training abstracts are too few for this model: with 4 beams it
 * writes the same generic sentence for every abstract, see models/README.md), so only the
 * language is checked; a broken loader or kernel produces no sentence of common words. */
START_TEST(t5_summarizes_an_abstract) {
    tf_model *m = load_or_skip(T5_DIR, 1);
    if (!m) return;
    const char *abstract =
        "We propose a new method for training neural networks with noisy labels. Our method "
        "estimates the noise of each label and reweights the training examples accordingly. "
        "Experiments on image classification benchmarks show that the method improves accuracy "
        "over strong baselines when many labels are wrong.";
    char *out = t5_task(m, "summarization", abstract);
    printf("bundled t5 summarization: \"%s\"\n", out);
    static const char *const paper_words[] = {
        "this", "paper", "we", "propose", "proposes", "present", "presents", "a", "an", "the", "new",
        "novel", "method", "framework", "approach", "model", "for", "of", "to", "and", "in", "on",
        "with", "that", "learning", "is", "are", "show", "based", NULL};
    int words = 0, known = 0;
    const char *p = out;
    char w[32];
    while (next_word(&p, w, sizeof w)) {
        words++;
        int hit = has_word(abstract, w);
        for (int i = 0; !hit && paper_words[i]; i++) hit = !strcmp(w, paper_words[i]);
        known += hit;
    }
    ck_assert_msg(words >= 5 && known * 5 >= words * 4,
                  "not an English sentence (%d of %d words known from the abstract or papers): %s", known,
                  words, out);
    free(out);
    model_free(m);
}
END_TEST

/* `serve` without --model: the shipped directories are found from the binary's path
 * (build/run_unit sits where build/transformerd does). */
START_TEST(serve_defaults_find_bundled_models) {
    if (access(GPT2_DIR "/model.safetensors", R_OK) != 0) {
        printf("SKIP bundled: %s is absent (make models trains it)\n", GPT2_DIR);
        return;
    }
    tf_config c;
    memset(&c, 0, sizeof c);
    char root[4096], msg[256];
    int n = bundled_models(&c, root, sizeof root, msg, sizeof msg);
    ck_assert_msg(n >= 1, "found %d specs (root \"%s\")", n, root);
    int gen = -1;
    for (int i = 0; i < c.n_models; i++)
        if (c.models[i].task == TF_TASK_GENERATE) gen = i;
    ck_assert_int_ge(gen, 0);
    const char *d = c.models[gen].dir;
    ck_assert_msg(strlen(d) > 16 && !strcmp(d + strlen(d) - 16, "gpt2-tinystories"), "%s", d);
    ck_assert_int_eq(d[0], '/'); /* absolute: independent of the working directory */
    for (int i = 0; i < c.n_models; i++) {
        free(c.models[i].task_name);
        free(c.models[i].dir);
    }
}
END_TEST

Suite *bundled_suite(void) {
    Suite *s = suite_create("bundled");
    TCase *tc = tcase_create("gpt2");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gpt2_scores_english_over_scrambled);
    tcase_add_test(tc, gpt2_continues_story_in_english);
    tcase_add_test(tc, serve_defaults_find_bundled_models);
    tcase_add_test(tc, distilbert_labels_clear_reviews);
    tcase_add_test(tc, t5_translates_captions_with_key_words);
    tcase_add_test(tc, t5_summarizes_an_abstract);
    suite_add_tcase(s, tc);
    return s;
}
