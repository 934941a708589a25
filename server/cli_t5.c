/* DESIGN: `transformerd translate` and `transformerd summarize` drive the same sequence
 * API as the daemon: every --text becomes one sequence, and all of them are stepped as
 * one batch (their encoders run together in the first step, then all beams of all
 * sequences decode together), so the CLI exercises exactly the batched path. The input
 * shaping (task prefix, length limit) is server/text_task.c, shared with the routes.
 * Unset flags take the model's defaults for the task (task_specific_params), as
 * transformers' pipelines do. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/model.h"
#include "server/cli.h"
#include "server/cli_args.h"
#include "server/text_task.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct t5_cli {
    const char *model_dir, *src, *tgt, *dtype, *kv_dtype;
    cli_list texts;
    int max_new, min_new, num_beams, no_repeat, early_stopping, truncate, n_threads, as_json;
    float length_penalty;
} t5_cli;

static const char *finish_name(tf_finish f) {
    return f == TF_FINISH_STOP ? "stop" : f == TF_FINISH_LENGTH ? "length" : "none";
}

static int run(const char *cmd, t5_cli *c, int translate) {
    int use_int8 = 1;
    if (c->dtype && strcmp(c->dtype, "fp32") == 0) {
        use_int8 = 0;
    } else if (c->dtype && strcmp(c->dtype, "int8") != 0) {
        fprintf(stderr, "transformerd %s: --dtype must be int8 or fp32, got \"%s\"\n", cmd, c->dtype);
        return 2;
    }
    const int kv = model_kv_cache_dtype_parse(c->kv_dtype ? c->kv_dtype : "auto");
    if (kv < 0) {
        fprintf(stderr, "transformerd %s: --kv-cache-dtype must be auto, f16 or f32, got \"%s\"\n", cmd,
                c->kv_dtype);
        return 2;
    }
    tf_gen_params p;
    tf_err err = {0};
    tf_model *m = NULL;
    tf_model_opts o = {.use_int8 = use_int8, .n_threads = c->n_threads, .kv_cache_dtype = (tf_kv_cache_dtype)kv};
    if (model_load(c->model_dir, &o, &m, &err) < 0) {
        fprintf(stderr, "transformerd %s: cannot load model %s: %s\n", cmd, c->model_dir, err.msg);
        return 1;
    }
    const int n = c->texts.n;
    tf_seq **seqs = calloc((size_t)n, sizeof *seqs);
    int *n_tok = calloc((size_t)n, sizeof *n_tok);
    tf_seq **live = calloc((size_t)n, sizeof *live);
    int *truncated = calloc((size_t)n, sizeof *truncated);
    int status = 1, unsupported = 0;
    const char *prefix = NULL;
    if (!seqs || !n_tok || !live || !truncated) {
        fprintf(stderr, "transformerd %s: out of memory\n", cmd);
        goto done;
    }
    if ((translate ? tt_translation_prefix(m, c->src, c->tgt, &prefix, &err)
                   : tt_summarize_prefix(m, &prefix, &err)) < 0) {
        fprintf(stderr, "transformerd %s: %s\n", cmd, err.msg);
        unsupported = 1;
        goto done;
    }
    /* defaults: ours, then the model's for the task (task_specific_params), then the flags */
    char key[96];
    if (translate) snprintf(key, sizeof key, "translation_%s_to_%s", c->src, c->tgt);
    else snprintf(key, sizeof key, "summarization");
    gen_params_default(&p);
    p.max_new_tokens = 64;
    model_task_defaults(m, key, &p);
    if (c->max_new >= 0) p.max_new_tokens = c->max_new;
    if (c->min_new >= 0) p.min_new_tokens = c->min_new;
    if (c->num_beams >= 0) p.num_beams = c->num_beams;
    if (!isnan(c->length_penalty)) p.length_penalty = c->length_penalty;
    if (c->early_stopping) p.early_stopping = 1;
    if (c->no_repeat >= 0) p.no_repeat_ngram_size = c->no_repeat;
    if (p.min_new_tokens > p.max_new_tokens) p.min_new_tokens = c->min_new >= 0 ? c->min_new : p.max_new_tokens;
    if (gen_params_check(&p, &err) < 0) {
        fprintf(stderr, "transformerd %s: %s\n", cmd, err.msg);
        status = 2;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int32_t *ids = NULL;
        int n_ids = 0;
        int rc = tt_encode(m, prefix, c->texts.items[i], strlen(c->texts.items[i]), c->truncate, &ids,
                           &n_ids, &truncated[i], &err);
        if (rc == 0) rc = seq_new(m, ids, n_ids, &p, &seqs[i], &err);
        free(ids);
        if (rc < 0) {
            fprintf(stderr, "transformerd %s: text %d: %s\n", cmd, i + 1, err.msg);
            unsupported = rc == TF_ETOOLONG;
            goto done;
        }
    }
    double t0 = now_s();
    for (;;) {
        int k = 0;
        for (int i = 0; i < n; i++)
            if (!seq_finished(seqs[i])) {
                live[k] = seqs[i];
                n_tok[k++] = seq_next_chunk(seqs[i], 1 << 30);
            }
        if (k == 0) break;
        tf_batch b = {.n_seqs = k, .seqs = live, .n_tokens = n_tok};
        if (model_step(m, &b, &err) < 0) {
            fprintf(stderr, "transformerd %s: %s\n", cmd, err.msg);
            goto done;
        }
    }
    const double elapsed = now_s() - t0;
    int in_tok = 0, out_tok = 0;
    json_t *outs = json_array(), *items = json_array();
    for (int i = 0; i < n; i++) {
        tf_seq_state st;
        seq_state(seqs[i], &st);
        in_tok += st.n_prompt;
        out_tok += st.n_generated;
        if (!c->as_json) {
            fwrite(st.text, 1, st.text_len, stdout);
            fputc('\n', stdout);
        }
        json_array_append_new(outs, json_stringn(st.text, st.text_len));
        json_array_append_new(items, json_pack("{s:s, s:i, s:i, s:b}", "finish_reason",
                                               finish_name(st.finish), "input_tokens", st.n_prompt,
                                               "output_tokens", st.n_generated, "truncated",
                                               truncated[i]));
    }
    if (c->as_json) {
        json_t *j = json_pack("{s:o, s:o, s:{s:i, s:i}, s:{s:f}}", translate ? "translations" : "summaries",
                              outs, "details", items, "usage", "prompt_tokens", in_tok,
                              "completion_tokens", out_tok, "timings", "total_s", elapsed);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (s) puts(s);
        free(s);
        json_decref(j);
    } else {
        json_decref(outs);
        json_decref(items);
    }
    status = 0;
done:
    for (int i = 0; seqs && i < n; i++) seq_free(seqs[i]);
    free(seqs);
    free(n_tok);
    free(live);
    free(truncated);
    model_free(m);
    return status == 0 ? 0 : status == 2 ? 2 : unsupported ? 3 : 1;
}

static int parse_common(const char *cmd, const char *summary, t5_cli *c, cli_opt *extra, int n_extra,
                        int argc, char **argv) {
    cli_opt opts[24];
    const cli_opt common[] = {
        {"model", CLI_STR, &c->model_dir, 0, 0, "DIR", "Hugging Face T5 checkpoint directory", 1},
        {"text", CLI_STR_LIST, &c->texts, 0, 0, "TEXT", "input text; repeatable (batched together)", 1},
        {"max-new-tokens", CLI_INT, &c->max_new, 1, 1 << 20, "N", "tokens to generate at most (the model's task default, else 64)", 0},
        {"num-beams", CLI_INT, &c->num_beams, 1, TF_MAX_BEAMS, "N", "beam search width (1 = greedy; default: the model's)", 0},
        {"length-penalty", CLI_FLOAT, &c->length_penalty, -10, 10, "X", "beam length penalty (default: the model's, else 1)", 0},
        {"early-stopping", CLI_FLAG, &c->early_stopping, 0, 0, NULL, "beams: stop at num_beams finished", 0},
        {"no-repeat-ngram-size", CLI_INT, &c->no_repeat, 0, 64, "N", "forbid repeated N-grams (0 = off)", 0},
        {"min-new-tokens", CLI_INT, &c->min_new, 0, 1 << 20, "N", "no end of text before N tokens (0)", 0},
        {"truncate", CLI_FLAG, &c->truncate, 0, 0, NULL, "cut inputs longer than the model reads", 0},
        {"dtype", CLI_STR, &c->dtype, 0, 0, "int8|fp32", "weight type (int8)", 0},
        {"kv-cache-dtype", CLI_STR, &c->kv_dtype, 0, 0, "auto|f16|f32",
         "decoder cache element type (auto: f16 with int8 weights, f32 with fp32)", 0},
        {"threads", CLI_INT, &c->n_threads, 0, 256, "N", "compute threads (0 = all cores)", 0},
        {"json", CLI_FLAG, &c->as_json, 0, 0, NULL, "print one JSON object", 0},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof common / sizeof common[0]; i++) opts[n++] = common[i];
    for (int i = 0; i < n_extra; i++) opts[n++] = extra[i];
    int rc = cli_parse(cmd, opts, n, argc, argv);
    if (rc > 0) cli_usage(stdout, cmd, summary, opts, n);
    return rc;
}

/* -1 / NAN: not given; the model's task defaults (or ours) apply. */
static void defaults(t5_cli *c) {
    memset(c, 0, sizeof *c);
    c->max_new = c->min_new = c->num_beams = c->no_repeat = -1;
    c->length_penalty = NAN;
    c->src = "en";
    c->tgt = "de";
}

int cli_translate(int argc, char **argv) {
    t5_cli c;
    defaults(&c);
    cli_opt extra[] = {
        {"source-lang", CLI_STR, &c.src, 0, 0, "LANG", "source language code (en)", 0},
        {"target-lang", CLI_STR, &c.tgt, 0, 0, "LANG", "target language code (de)", 0},
    };
    int rc = parse_common("translate", "Translate text with a T5 model (exit 3: unsupported pair or too long).",
                          &c, extra, 2, argc, argv);
    if (rc != 0) {
        free(c.texts.items);
        return rc > 0 ? 0 : 2;
    }
    rc = run("translate", &c, 1);
    free(c.texts.items);
    return rc;
}

int cli_summarize(int argc, char **argv) {
    t5_cli c;
    defaults(&c);
    int rc = parse_common("summarize", "Summarize text with a T5 model (exit 3: input too long).", &c, NULL, 0,
                          argc, argv);
    if (rc != 0) {
        free(c.texts.items);
        return rc > 0 ? 0 : 2;
    }
    rc = run("summarize", &c, 0);
    free(c.texts.items);
    return rc;
}
