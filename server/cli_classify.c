/* DESIGN: `transformerd classify` runs the same model_encode_for_task + model_classify
 * calls the daemon's sentiment route uses, all --text values as one batch, so the CLI's
 * scores are the route's scores. Plain output is one "LABEL<TAB>score" line per text;
 * --json prints the route's response shape (results, usage, timings). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/model.h"
#include "server/cli.h"
#include "server/cli_args.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static json_t *result_json(const tf_model *m, const float *p) {
    const int n = model_n_labels(m);
    int best = 0;
    for (int j = 1; j < n; j++)
        if (p[j] > p[best]) best = j;
    json_t *scores = json_object();
    for (int j = 0; j < n; j++) json_object_set_new(scores, model_label(m, j), json_real(p[j]));
    return json_pack("{s:s, s:f, s:o}", "label", model_label(m, best), "score", (double)p[best],
                     "scores", scores);
}

int cli_classify(int argc, char **argv) {
    const char *model_dir = NULL, *dtype = NULL;
    int n_threads = 0, as_json = 0, truncate = 0;
    cli_list texts = {0};
    const cli_opt opts[] = {
        {"model", CLI_STR, &model_dir, 0, 0, "DIR", "Hugging Face checkpoint directory (BERT, DistilBERT)", 1},
        {"text", CLI_STR_LIST, &texts, 0, 0, "TEXT", "text to classify; repeatable (one batch)", 1},
        {"truncate", CLI_FLAG, &truncate, 0, 0, NULL, "cut texts longer than the model takes", 0},
        {"dtype", CLI_STR, &dtype, 0, 0, "int8|fp32", "weight type (int8)", 0},
        {"threads", CLI_INT, &n_threads, 0, 256, "N", "compute threads (0 = all cores)", 0},
        {"json", CLI_FLAG, &as_json, 0, 0, NULL, "print one JSON object", 0},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = cli_parse("classify", opts, n_opts, argc, argv);
    if (rc != 0) {
        if (rc > 0) cli_usage(stdout, "classify", "Classify texts (sentiment) with an encoder model.", opts, n_opts);
        free(texts.items);
        return rc > 0 ? 0 : 2;
    }
    if (dtype && strcmp(dtype, "int8") != 0 && strcmp(dtype, "fp32") != 0) {
        fprintf(stderr, "transformerd classify: --dtype must be int8 or fp32, got \"%s\"\n", dtype);
        free(texts.items);
        return 2;
    }
    tf_err err = {0};
    tf_model *m = NULL;
    tf_model_opts o = {.use_int8 = !dtype || strcmp(dtype, "int8") == 0, .n_threads = n_threads};
    if (model_load(model_dir, &o, &m, &err) < 0) {
        fprintf(stderr, "transformerd classify: cannot load model %s: %s\n", model_dir, err.msg);
        free(texts.items);
        return 1;
    }
    int status = 1;
    const int n = texts.n, n_labels = model_n_labels(m);
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    int *n_ids = calloc((size_t)n, sizeof *n_ids);
    float *probs = malloc(sizeof(float) * (size_t)n * (size_t)(n_labels > 0 ? n_labels : 1));
    if (!ids || !n_ids || !probs) {
        fprintf(stderr, "transformerd classify: out of memory\n");
        goto done;
    }
    if (n_labels <= 0) {
        fprintf(stderr, "transformerd classify: model %s (%s) has no classification head\n",
                model_dir, model_info(m)->architecture);
        goto done;
    }
    double t0 = now_s();
    int64_t n_tokens = 0;
    for (int i = 0; i < n; i++) {
        const char *t = texts.items[i];
        if (model_encode_for_task(m, t, strlen(t), truncate, &ids[i], &n_ids[i], &err) < 0) {
            fprintf(stderr, "transformerd classify: text %d: %s%s\n", i + 1, err.msg,
                    err.code == TF_ETOOLONG ? " (use --truncate)" : "");
            goto done;
        }
        n_tokens += n_ids[i];
    }
    double t1 = now_s();
    if (model_classify(m, (const int32_t *const *)ids, n_ids, n, probs, &err) < 0) {
        fprintf(stderr, "transformerd classify: %s\n", err.msg);
        goto done;
    }
    double t2 = now_s();
    if (!as_json) {
        for (int i = 0; i < n; i++) {
            const float *p = probs + (size_t)i * n_labels;
            int best = 0;
            for (int j = 1; j < n_labels; j++)
                if (p[j] > p[best]) best = j;
            printf("%s\t%.6f\n", model_label(m, best), p[best]);
        }
    } else {
        json_t *results = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(results, result_json(m, probs + (size_t)i * n_labels));
        json_t *out = json_pack("{s:o, s:{s:I, s:i}, s:{s:f, s:f}}", "results", results, "usage",
                                "prompt_tokens", (json_int_t)n_tokens, "texts", n, "timings",
                                "tokenize_s", t1 - t0, "classify_s", t2 - t1);
        char *s = out ? json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(out);
        if (!s) {
            fprintf(stderr, "transformerd classify: cannot encode the result as JSON\n");
            goto done;
        }
        puts(s);
        free(s);
    }
    status = 0;
done:
    for (int i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
    free(n_ids);
    free(probs);
    model_free(m);
    free(texts.items);
    return status;
}
