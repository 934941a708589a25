/* score: log-likelihood of given texts under a causal LM, through the engine as served
 * (int8 or fp32), for perplexity figures (models/train/eval_gpt2.py).
 *
 *   build/tools/score --model DIR --input FILE.jsonl [--dtype int8|fp32] [--threads N]
 *
 * FILE has one JSON string per line (a document). Each is scored as
 * <eos> document <eos>: every token after the leading <eos> counts, the closing <eos>
 * included, which is how the training script scores its held-out text. Prints one JSON
 * object: documents, tokens, nll_sum, nll_mean, ppl.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/model_impl.h"

static double score_doc(tf_model *m, const char *text, int *n_scored, float *logits, tf_err *err) {
    int32_t *ids = NULL;
    int n = 0;
    if (model_tokenize(m, text, strlen(text), &ids, &n, err) < 0) return NAN;
    int eos = m->eos_id;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)(n + 2));
    if (!all) {
        free(ids);
        err_set(err, TF_ENOMEM, "token buffer");
        return NAN;
    }
    all[0] = eos;
    memcpy(all + 1, ids, sizeof(int32_t) * (size_t)n);
    all[n + 1] = eos;
    free(ids);
    int total = n + 2;
    if (total > m->info.n_ctx) total = m->info.n_ctx; /* longer stories: scored up to n_ctx */
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = 1;
    tf_seq *s = NULL;
    double nll = 0;
    /* The prompt is every token but the last, so the context fits n_ctx. */
    if (seq_new(m, all, total - 1, &p, &s, err) < 0) {
        free(all);
        return NAN;
    }
    int V = m->info.vocab_size;
    for (int i = 0; i + 1 < total; i++) {
        if (model_forward_logits(m, s, 1, logits, err) < 0) {
            nll = NAN;
            break;
        }
        float mx = logits[0];
        for (int v = 1; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
        double z = 0;
        for (int v = 0; v < V; v++) z += exp((double)logits[v] - mx);
        nll -= (double)logits[all[i + 1]] - mx - log(z);
    }
    *n_scored = total - 1;
    seq_free(s);
    free(all);
    return nll;
}

int main(int argc, char **argv) {
    const char *dir = NULL, *input = NULL, *dtype = "int8";
    int threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--input")) input = argv[i + 1];
        else if (!strcmp(argv[i], "--dtype")) dtype = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "score: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!dir || !input || (strcmp(dtype, "int8") && strcmp(dtype, "fp32"))) {
        fprintf(stderr, "usage: score --model DIR --input FILE.jsonl [--dtype int8|fp32] [--threads N]\n");
        return 2;
    }
    tf_err err = {0};
    tf_model *m = NULL;
    tf_model_opts o = {.use_int8 = !strcmp(dtype, "int8"), .n_threads = threads};
    if (model_load(dir, &o, &m, &err) < 0) {
        fprintf(stderr, "score: %s\n", err.msg);
        return 1;
    }
    if (m->eos_id < 0 || !(m->info.tasks & TF_TASK_GENERATE)) {
        fprintf(stderr, "score: %s is not a causal LM with an eos token\n", dir);
        model_free(m);
        return 1;
    }
    FILE *f = fopen(input, "r");
    if (!f) {
        perror(input);
        model_free(m);
        return 1;
    }
    float *logits = malloc(sizeof(float) * (size_t)m->info.vocab_size);
    char *line = NULL;
    size_t cap = 0;
    double nll = 0;
    long tokens = 0, docs = 0;
    int rc = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *j = json_loads(line, JSON_DECODE_ANY, &je);
        if (!json_is_string(j)) {
            fprintf(stderr, "score: %s: line %ld is not a JSON string\n", input, docs + 1);
            json_decref(j);
            rc = 1;
            break;
        }
        int n = 0;
        double d = score_doc(m, json_string_value(j), &n, logits, &err);
        json_decref(j);
        if (isnan(d)) {
            fprintf(stderr, "score: %s\n", err.msg);
            rc = 1;
            break;
        }
        nll += d;
        tokens += n;
        docs++;
    }
    if (!rc)
        printf("{\"documents\":%ld,\"tokens\":%ld,\"nll_sum\":%.6f,\"nll_mean\":%.6f,\"ppl\":%.4f,"
               "\"dtype\":\"%s\"}\n",
               docs, tokens, nll, nll / (double)tokens, exp(nll / (double)tokens), dtype);
    free(line);
    free(logits);
    fclose(f);
    model_free(m);
    return rc;
}
