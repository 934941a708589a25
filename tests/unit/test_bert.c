/* Unit tests for models/bert.c and the classification half of models/model.h, against
 * tests/reference/bert_golden.json (float64 PyTorch, tests/reference/bert_ref.py) over the
 * tiny random fixtures from tests/fixtures/make_bert_fixtures.py:
 *   numerics: fp32 log-probabilities within 1e-4 (relative, floor 1) of the reference, each
 *             text alone and all texts of a fixture in one ragged batch (the reference's is
 *             a padded, masked batch); int8 keeps every label whose margin is clear
 *   encode:   the fixture tokenizer gives the reference's ids; truncation keeps [CLS]/[SEP]
 *   errors:   empty texts, bad ids, too long, a decoder asked to classify */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"

#define GOLDEN "tests/reference/bert_golden.json"

static const char *const fixtures[] = {"tiny-distilbert-sst2", "tiny-bert-3class"};

static tf_model *load(const char *name, int int8, int threads) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", name);
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = int8, .n_threads = threads};
    ck_assert_msg(model_load(dir, &o, &m, &err) == 0, "load %s: %s", dir, err.msg);
    return m;
}

typedef struct gcase {
    int32_t *ids;
    int n;
    const char *text; /* NULL for id-only cases; borrowed from the JSON */
    double logits[8], batch_logits[8], margin;
} gcase;

typedef struct golden {
    json_t *root;
    gcase cases[32];
    int n_cases, n_labels;
    json_t *labels;
} golden;

static void ids_of(json_t *a, int32_t **ids, int *n) {
    *n = (int)json_array_size(a);
    *ids = malloc(sizeof(int32_t) * (size_t)(*n ? *n : 1));
    for (int i = 0; i < *n; i++) (*ids)[i] = (int32_t)json_integer_value(json_array_get(a, i));
}

static void golden_load(golden *g, const char *fixture) {
    json_error_t je;
    memset(g, 0, sizeof *g);
    g->root = json_load_file(GOLDEN, 0, &je);
    ck_assert_msg(g->root != NULL, "%s: %s", GOLDEN, je.text);
    json_t *fx = json_object_get(json_object_get(g->root, "fixtures"), fixture);
    ck_assert_ptr_nonnull(fx);
    g->labels = json_object_get(fx, "labels");
    g->n_labels = (int)json_array_size(g->labels);
    json_t *cases = json_object_get(fx, "cases");
    g->n_cases = (int)json_array_size(cases);
    ck_assert(g->n_cases > 5 && g->n_cases <= 32 && g->n_labels <= 8);
    for (int i = 0; i < g->n_cases; i++) {
        json_t *c = json_array_get(cases, i);
        gcase *k = &g->cases[i];
        ids_of(json_object_get(c, "ids"), &k->ids, &k->n);
        k->text = json_string_value(json_object_get(c, "text"));
        for (int j = 0; j < g->n_labels; j++) {
            k->logits[j] = json_real_value(json_array_get(json_object_get(c, "logits"), j));
            k->batch_logits[j] = json_real_value(json_array_get(json_object_get(c, "batch_logits"), j));
        }
        k->margin = json_real_value(json_object_get(c, "margin"));
    }
}

static void golden_free(golden *g) {
    for (int i = 0; i < g->n_cases; i++) free(g->cases[i].ids);
    json_decref(g->root);
}

/* log-softmax of the reference logits against log of the engine's probabilities. */
static double worst_rel(const double *logits, const float *probs, int n) {
    double mx = logits[0], s = 0, worst = 0;
    for (int j = 1; j < n; j++) mx = fmax(mx, logits[j]);
    for (int j = 0; j < n; j++) s += exp(logits[j] - mx);
    for (int j = 0; j < n; j++) {
        double want = logits[j] - mx - log(s), got = log((double)probs[j]);
        worst = fmax(worst, fabs(got - want) / fmax(1.0, fabs(want)));
    }
    return worst;
}

static int argmax_d(const double *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static int argmax_f(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

START_TEST(fp32_matches_reference) {
    const char *fx = fixtures[_i];
    golden g;
    golden_load(&g, fx);
    for (int threads = 1; threads <= 2; threads++) {
        tf_model *m = load(fx, 0, threads);
        const tf_model_info *info = model_info(m);
        ck_assert(info->tasks & TF_TASK_SENTIMENT);
        ck_assert_int_eq(model_n_labels(m), g.n_labels);
        for (int j = 0; j < g.n_labels; j++)
            ck_assert_str_eq(model_label(m, j), json_string_value(json_array_get(g.labels, j)));
        ck_assert_ptr_null(model_label(m, g.n_labels));
        tf_err err = {0};
        float probs[32 * 8];
        const int32_t *ids[32];
        int n_ids[32];
        for (int i = 0; i < g.n_cases; i++) {
            ids[i] = g.cases[i].ids;
            n_ids[i] = g.cases[i].n;
            ck_assert_int_eq(model_classify(m, &ids[i], &n_ids[i], 1, probs, &err), 0);
            double rel = worst_rel(g.cases[i].logits, probs, g.n_labels);
            ck_assert_msg(rel < 1e-4, "%s case %d alone: log-prob off by %g (relative)", fx, i, rel);
        }
        ck_assert_int_eq(model_classify(m, ids, n_ids, g.n_cases, probs, &err), 0);
        for (int i = 0; i < g.n_cases; i++) {
            double rel = worst_rel(g.cases[i].batch_logits, probs + i * g.n_labels, g.n_labels);
            ck_assert_msg(rel < 1e-4, "%s case %d in a batch of %d: off by %g", fx, i, g.n_cases, rel);
            double s = 0;
            for (int j = 0; j < g.n_labels; j++) s += probs[i * g.n_labels + j];
            ck_assert(fabs(s - 1) < 1e-5);
        }
        model_free(m);
    }
    golden_free(&g);
}
END_TEST

START_TEST(int8_keeps_labels) {
    const char *fx = fixtures[_i];
    golden g;
    golden_load(&g, fx);
    tf_model *m = load(fx, 1, 2);
    ck_assert_str_eq(model_info(m)->dtype, "int8");
    const int32_t *ids[32];
    int n_ids[32], checked = 0;
    for (int i = 0; i < g.n_cases; i++) ids[i] = g.cases[i].ids, n_ids[i] = g.cases[i].n;
    float probs[32 * 8];
    tf_err err = {0};
    ck_assert_int_eq(model_classify(m, ids, n_ids, g.n_cases, probs, &err), 0);
    for (int i = 0; i < g.n_cases; i++) {
        if (g.cases[i].margin < 0.5) continue; /* a near tie may legitimately flip */
        checked++;
        ck_assert_msg(argmax_f(probs + i * g.n_labels, g.n_labels) ==
                          argmax_d(g.cases[i].logits, g.n_labels),
                      "%s case %d: int8 label differs (margin %.3f)", fx, i, g.cases[i].margin);
    }
    ck_assert_int_ge(checked, g.n_cases - 1);
    model_free(m);
    golden_free(&g);
}
END_TEST

START_TEST(tokenizer_gives_reference_ids) {
    const char *fx = fixtures[_i];
    golden g;
    golden_load(&g, fx);
    tf_model *m = load(fx, 0, 1);
    int n_text = 0;
    for (int i = 0; i < g.n_cases; i++) {
        if (!g.cases[i].text) continue;
        n_text++;
        int32_t *ids = NULL, *raw = NULL;
        int n = 0, n_raw = 0;
        tf_err err = {0};
        const char *t = g.cases[i].text;
        ck_assert_int_eq(model_encode_for_task(m, t, strlen(t), 0, &ids, &n, &err), 0);
        ck_assert_int_eq(model_tokenize(m, t, strlen(t), &raw, &n_raw, &err), 0);
        ck_assert_int_eq(n, g.cases[i].n);
        ck_assert_int_eq(n_raw, n);
        for (int k = 0; k < n; k++) {
            ck_assert_int_eq(ids[k], g.cases[i].ids[k]);
            ck_assert_int_eq(raw[k], ids[k]);
        }
        free(ids);
        free(raw);
    }
    ck_assert_int_ge(n_text, 5);
    model_free(m);
    golden_free(&g);
}
END_TEST

START_TEST(truncation) {
    tf_model *m = load("tiny-distilbert-sst2", 0, 1);
    const int max = model_max_tokens(m);
    ck_assert_int_eq(max, 64);
    char text[2048] = "";
    for (int i = 0; i < 100; i++) strcat(text, i % 2 ? "good " : "bad ");
    int32_t *ids = NULL, *full = NULL;
    int n = -1, n_full = 0;
    tf_err err = {0};
    ck_assert_int_eq(model_encode_for_task(m, text, strlen(text), 0, &ids, &n, &err), TF_ETOOLONG);
    ck_assert_ptr_null(ids);
    ck_assert_ptr_nonnull(strstr(err.msg, "102 tokens"));
    ck_assert_ptr_nonnull(strstr(err.msg, "64"));
    ck_assert_int_eq(model_encode_for_task(m, text, strlen(text), 1, &ids, &n, &err), 0);
    ck_assert_int_eq(model_tokenize(m, text, strlen(text), &full, &n_full, &err), 0);
    ck_assert_int_eq(n, max);
    ck_assert_int_eq(n_full, 102);
    for (int k = 0; k < max - 1; k++) ck_assert_int_eq(ids[k], full[k]);
    ck_assert_int_eq(ids[max - 1], full[n_full - 1]); /* [SEP] kept */
    ck_assert_int_eq(ids[0], 2);                      /* [CLS] */
    float p[2];
    const int32_t *one[1] = {ids};
    ck_assert_int_eq(model_classify(m, one, &n, 1, p, &err), 0);
    int over = max + 1;
    ck_assert_int_eq(model_classify(m, (const int32_t *const[]){full}, &over, 1, p, &err), TF_ETOOLONG);
    free(ids);
    free(full);
    model_free(m);
}
END_TEST

START_TEST(bad_inputs) {
    tf_model *m = load("tiny-bert-3class", 1, 1);
    tf_err err = {0};
    float p[6];
    int32_t ok[3] = {2, 12, 3}, bad[3] = {2, 100000, 3}, neg[3] = {2, -1, 3};
    int n = 3, zero = 0;
    ck_assert_int_eq(model_classify(m, (const int32_t *const[]){ok}, &zero, 1, p, &err), TF_EINVALID);
    ck_assert_int_eq(model_classify(m, (const int32_t *const[]){bad}, &n, 1, p, &err), TF_EINVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "100000"));
    ck_assert_int_eq(model_classify(m, (const int32_t *const[]){neg}, &n, 1, p, &err), TF_EINVALID);
    ck_assert_int_eq(model_classify(m, (const int32_t *const[]){ok}, &n, 1, p, &err), 0);
    ck_assert_int_eq(model_classify(m, NULL, NULL, 0, p, &err), 0);
    tf_batch b = {0};
    ck_assert_int_eq(model_step(m, &b, &err), TF_EUNSUPPORTED);
    model_free(m);
    /* a decoder has no classification head (the one complete GPT-2 checkpoint is in ../shared) */
    const char *gdir = "../shared/data/models/sshleifer-tiny-gpt2";
    if (access(gdir, R_OK) != 0) {
        fprintf(stderr, "SKIP bert: %s not found (needs ../shared next to the repo)\n", gdir);
        return;
    }
    tf_model *g = NULL;
    ck_assert_int_eq(model_load(gdir, NULL, &g, &err), 0);
    ck_assert_int_eq(model_n_labels(g), 0);
    ck_assert_int_eq(model_classify(g, (const int32_t *const[]){ok}, &n, 1, p, &err), TF_EUNSUPPORTED);
    model_free(g);
}
END_TEST

/* Attention capture in a ragged batch: each text's full matrix has n rows of n weights
 * summing to 1, its statistics match the rows, and asking for them leaves the labels alone. */
START_TEST(attention_per_text) {
    tf_model *m = load(fixtures[_i], 0, 2);
    const tf_model_info *info = model_info(m);
    const int L = info->attn_n_layer, H = info->attn_n_head, pairs = L * H;
    ck_assert_int_gt(L, 0);
    ck_assert_int_gt(H, 0);
    int32_t a[5] = {101, 7, 8, 9, 102}, c[3] = {101, 11, 102};
    const int32_t *ids[2] = {a, c};
    int n_ids[2] = {5, 3};
    float p0[16], p1[16];
    tf_err err = {0};
    ck_assert_int_eq(model_classify(m, ids, n_ids, 2, p0, &err), 0);
    tf_attn_stats *st = calloc((size_t)2 * pairs, sizeof *st);
    float *store = calloc((size_t)pairs * 25, sizeof *store);
    float **tab = calloc((size_t)pairs, sizeof *tab);
    tab[pairs - 1] = store; /* text 0: only the last layer's last head */
    tf_cls_attn at[2] = {{.stats = st, .full = tab}, {.stats = st + pairs, .full = NULL}};
    ck_assert_int_eq(model_classify_attn(m, ids, n_ids, 2, at, p1, &err), 0);
    ck_assert_mem_eq(p0, p1, sizeof(float) * 2 * (size_t)model_n_labels(m));
    double sink = 0;
    for (int r = 0; r < 5; r++) {
        double sum = 0;
        for (int k = 0; k < 5; k++) sum += store[r * 5 + k];
        ck_assert(fabs(sum - 1) < 1e-5);
        sink += store[r * 5];
    }
    ck_assert(fabs(sink - st[pairs - 1].sink_sum) < 1e-5);
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < pairs; i++) {
            const tf_attn_stats *s = &st[t * pairs + i];
            ck_assert_int_eq(s->n_rows, n_ids[t]);
            ck_assert_int_eq(s->n_entropy_rows, n_ids[t]);
            ck_assert(fabs(s->prompt_sum - n_ids[t]) < 1e-4); /* every key is input */
        }
    free(st);
    free(store);
    free(tab);
    model_free(m);
}
END_TEST

/* A batch of more rows than one group (models/bert.c GROUP_ROWS, 128) runs the layers group
 * by group: every text still matches its float64 reference within 1e-4. */
START_TEST(fp32_large_batch_matches_reference) {
    const char *fx = fixtures[_i];
    golden g;
    golden_load(&g, fx);
    tf_model *m = load(fx, 0, 2);
    enum { MAX_TEXTS = 128 };
    const int32_t *ids[MAX_TEXTS];
    int n_ids[MAX_TEXTS], which[MAX_TEXTS], n_texts = 0, rows = 0;
    while (rows < 3 * 128 + 17 && n_texts < MAX_TEXTS) {
        const int c = n_texts % g.n_cases;
        ids[n_texts] = g.cases[c].ids;
        n_ids[n_texts] = g.cases[c].n;
        which[n_texts++] = c;
        rows += g.cases[c].n;
    }
    ck_assert_msg(rows > 3 * 128, "%s: only %d rows", fx, rows);
    static float probs[MAX_TEXTS * 8];
    tf_err err = {0};
    ck_assert_int_eq(model_classify(m, ids, n_ids, n_texts, probs, &err), 0);
    for (int i = 0; i < n_texts; i++) {
        double rel = worst_rel(g.cases[which[i]].logits, probs + i * g.n_labels, g.n_labels);
        ck_assert_msg(rel < 1e-4, "%s text %d of %d (%d rows): off by %g", fx, i, n_texts, rows,
                      rel);
    }
    model_free(m);
    golden_free(&g);
}
END_TEST

Suite *bert_suite(void) {
    Suite *s = suite_create("bert");
    TCase *num = tcase_create("numerics");
    tcase_add_loop_test(num, fp32_matches_reference, 0, 2);
    tcase_add_loop_test(num, int8_keeps_labels, 0, 2);
    tcase_add_loop_test(num, attention_per_text, 0, 2);
    tcase_add_loop_test(num, fp32_large_batch_matches_reference, 0, 2);
    suite_add_tcase(s, num);
    TCase *enc = tcase_create("encode");
    tcase_add_loop_test(enc, tokenizer_gives_reference_ids, 0, 2);
    tcase_add_test(enc, truncation);
    tcase_add_test(enc, bad_inputs);
    suite_add_tcase(s, enc);
    return s;
}
