/* DESIGN: `transformerd generate` drives the same sequence API the daemon's
 * scheduler uses (one tf_seq, model_step until finished), so the CLI's output
 * for a seed is the daemon's output for that seed. The whole prompt is fed in
 * one step (that step's time is the prefill time), then one token per step. */
#include <jansson.h>
#include <sys/resource.h>
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

static int parse_dtype(const char *cmd, const char *dtype, int *use_int8) {
    if (!dtype || strcmp(dtype, "int8") == 0) {
        *use_int8 = 1;
    } else if (strcmp(dtype, "fp32") == 0) {
        *use_int8 = 0;
    } else {
        fprintf(stderr, "transformerd %s: --dtype must be int8 or fp32, got \"%s\"\n", cmd, dtype);
        return -1;
    }
    return 0;
}

static tf_model *load_or_report(const char *cmd, const char *dir, int use_int8, int n_threads) {
    tf_model *m = NULL;
    tf_err err = {0};
    tf_model_opts o = {.use_int8 = use_int8, .n_threads = n_threads};
    if (model_load(dir, &o, &m, &err) < 0) {
        fprintf(stderr, "transformerd %s: cannot load model %s: %s\n", cmd, dir, err.msg);
        return NULL;
    }
    return m;
}

static const char *finish_name(tf_finish f) {
    return f == TF_FINISH_STOP ? "stop" : f == TF_FINISH_LENGTH ? "length" : "none";
}

int cli_generate(int argc, char **argv) {
    const char *model_dir = NULL, *prompt = NULL, *dtype = NULL;
    int max_new = 16, top_k = 0, n_threads = 0, as_json = 0, ignore_eos = 0;
    float temperature = 0, top_p = 1, rep = 1;
    uint64_t seed = 0;
    cli_list stops = {0};
    const cli_opt opts[] = {
        {"model", CLI_STR, &model_dir, 0, 0, "DIR", "Hugging Face checkpoint directory", 1},
        {"prompt", CLI_STR, &prompt, 0, 0, "TEXT", "text to continue", 1},
        {"max-new-tokens", CLI_INT, &max_new, 1, 1 << 20, "N", "tokens to generate at most (16)", 0},
        {"temperature", CLI_FLOAT, &temperature, 0, 100, "T", "0 = greedy (0)", 0},
        {"top-k", CLI_INT, &top_k, 0, 1 << 20, "K", "sample from the K most likely (0 = off)", 0},
        {"top-p", CLI_FLOAT, &top_p, 1e-6, 1, "P", "nucleus sampling mass (1 = off)", 0},
        {"seed", CLI_U64, &seed, 0, 0, "S", "random seed; the same seed gives the same text (0)", 0},
        {"repetition-penalty", CLI_FLOAT, &rep, 1e-3, 100, "R", "penalize seen tokens (1 = off)", 0},
        {"stop", CLI_STR_LIST, &stops, 0, 0, "STR", "stop before this text; repeatable", 0},
        {"dtype", CLI_STR, &dtype, 0, 0, "int8|fp32", "weight type (int8)", 0},
        {"threads", CLI_INT, &n_threads, 0, 256, "N", "compute threads (0 = all cores)", 0},
        {"ignore-eos", CLI_FLAG, &ignore_eos, 0, 0, NULL, "keep generating past end-of-text", 0},
        {"json", CLI_FLAG, &as_json, 0, 0, NULL, "print one JSON object", 0},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = cli_parse("generate", opts, n_opts, argc, argv);
    if (rc != 0) {
        if (rc > 0) cli_usage(stdout, "generate", "Continue a prompt with a decoder-only model.", opts, n_opts);
        free(stops.items);
        return rc > 0 ? 0 : 2;
    }
    int use_int8;
    if (parse_dtype("generate", dtype, &use_int8) < 0) {
        free(stops.items);
        return 2;
    }
    tf_gen_params p;
    gen_params_default(&p);
    p.max_new_tokens = max_new;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.seed = seed;
    p.repetition_penalty = rep;
    p.ignore_eos = ignore_eos;
    if (stops.n > TF_MAX_STOP) {
        fprintf(stderr, "transformerd generate: at most %d --stop strings\n", TF_MAX_STOP);
        free(stops.items);
        return 2;
    }
    p.n_stop = stops.n;
    for (int i = 0; i < stops.n; i++) p.stop[i] = stops.items[i];
    tf_err err = {0};
    if (gen_params_check(&p, &err) < 0) {
        fprintf(stderr, "transformerd generate: %s\n", err.msg);
        free(stops.items);
        return 2;
    }

    tf_model *m = load_or_report("generate", model_dir, use_int8, n_threads);
    if (!m) {
        free(stops.items);
        return 1;
    }
    int32_t *ids = NULL;
    int n_ids = 0;
    tf_seq *s = NULL;
    int status = 1;
    if (model_tokenize(m, prompt, strlen(prompt), &ids, &n_ids, &err) < 0 ||
        seq_new(m, ids, n_ids, &p, &s, &err) < 0) {
        fprintf(stderr, "transformerd generate: %s\n", err.msg);
        goto done;
    }
    double t0 = now_s(), t_first = 0;
    while (!seq_finished(s)) {
        tf_seq *one[1] = {s};
        int n_tok[1] = {seq_next_chunk(s, 1 << 30)};
        tf_batch b = {.n_seqs = 1, .seqs = one, .n_tokens = n_tok};
        if (model_step(m, &b, &err) < 0) {
            fprintf(stderr, "transformerd generate: %s\n", err.msg);
            goto done;
        }
        if (t_first == 0) t_first = now_s();
    }
    double t_end = now_s();
    tf_seq_state st;
    seq_state(s, &st);
    if (!as_json) {
        fwrite(st.text, 1, st.text_len, stdout);
        fputc('\n', stdout);
    } else {
        json_t *tok = json_array(), *lp = json_array();
        for (int i = 0; i < st.n_generated; i++) {
            json_array_append_new(tok, json_integer(st.tokens[i]));
            json_array_append_new(lp, json_real(st.logprobs[i]));
        }
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        json_t *o = json_pack("{s:s%, s:o, s:o, s:s, s:i, s:i, s:{s:f, s:f}, s:I}", "text",
                              st.text, st.text_len, "token_ids", tok, "logprobs", lp,
                              "finish_reason", finish_name(st.finish), "prompt_tokens",
                              st.n_prompt, "completion_tokens", st.n_generated, "timings",
                              "prefill_s", t_first - t0, "decode_s", t_end - t_first,
                              "peak_rss_kb", (json_int_t)ru.ru_maxrss);
        char *out = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        if (!out) {
            fprintf(stderr, "transformerd generate: cannot encode the result as JSON\n");
            json_decref(o);
            goto done;
        }
        puts(out);
        free(out);
        json_decref(o);
    }
    status = 0;
done:
    seq_free(s);
    free(ids);
    model_free(m);
    free(stops.items);
    return status;
}

int cli_tokenize(int argc, char **argv) {
    const char *model_dir = NULL, *text = NULL;
    const cli_opt opts[] = {
        {"model", CLI_STR, &model_dir, 0, 0, "DIR", "Hugging Face checkpoint directory", 1},
        {"text", CLI_STR, &text, 0, 0, "TEXT", "text to tokenize", 1},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int rc = cli_parse("tokenize", opts, n_opts, argc, argv);
    if (rc != 0) {
        if (rc > 0) cli_usage(stdout, "tokenize", "Print the token ids the model receives, as a JSON array.", opts, n_opts);
        return rc > 0 ? 0 : 2;
    }
    tf_model *m = load_or_report("tokenize", model_dir, 0, 1);
    if (!m) return 1;
    int32_t *ids = NULL;
    int n = 0;
    tf_err err = {0};
    int status = 0;
    if (model_tokenize(m, text, strlen(text), &ids, &n, &err) < 0) {
        fprintf(stderr, "transformerd tokenize: %s\n", err.msg);
        status = 1;
    } else {
        putchar('[');
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        puts("]");
    }
    free(ids);
    model_free(m);
    return status;
}
