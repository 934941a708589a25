/* bench_step: whole-model throughput of model_step, the path the daemon runs.
 *
 * For a 128-token prefill of one sequence and for decode steps at batch sizes
 * 1, 4 and 16 (every sequence ~128 positions deep, greedy, ignore_eos) it
 * prints the best and median tokens/s over several repetitions. The best is
 * the figure to compare when other processes share the cores; the median
 * shows how noisy the run was. "cpu" is tokens per second of process CPU time
 * (best rep): with -t 1 it tracks the work done and hardly moves with load, with
 * more threads it includes the pool's spinning.
 *
 * -b N times only decode at batch N (no prefill), for profiling one shape;
 * -s N times N decode steps per repetition instead of 32 (the untimed batched prefill
 * then weighs less in a profile);
 * --temperature T samples (as the HTTP load test does with 0.8) instead of greedy;
 * --attn-summary keeps attention statistics, as the daemon does for every request;
 * --kv f16|f32 sets the KV cache element type (default auto: f16 with int8, f32 with --fp32).
 *
 * Usage: bench_step --model DIR [-t threads] [-r reps] [-b batch] [-s steps] [--temperature T]
 *                   [--attn-summary] [--fp32] [--kv auto|f16|f32]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/model_impl.h"

#define PROMPT 128
#define MAX_BATCH 16

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *s, double *c, int n, double tokens) {
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    qsort(c, (size_t)n, sizeof *c, cmp_double);
    printf("%-16s best %7.1f tok/s  median %7.1f tok/s  cpu %7.1f tok/s  (%d reps, %.0f tokens)\n",
           what, tokens / s[0], tokens / s[n / 2], tokens / c[0], n, tokens);
    fflush(stdout);
}

static float g_temperature;
static int g_attn_summary;
static int g_steps = 32; /* decode steps timed per repetition */

static int new_seqs(tf_model *m, int n, tf_seq **seqs, tf_err *err) {
    int32_t prompt[PROMPT];
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < PROMPT; t++) prompt[t] = 100 + (t * 37 + i * 11) % 1000;
        tf_gen_params p;
        gen_params_default(&p);
        p.max_new_tokens = g_steps + 8;
        p.ignore_eos = 1;
        p.temperature = g_temperature;
        p.attn_summary = g_attn_summary;
        p.seed = (uint64_t)i;
        int rc = seq_new(m, prompt, PROMPT, &p, &seqs[i], err);
        if (rc < 0) return rc;
    }
    return 0;
}

static void free_seqs(tf_seq **seqs, int n) {
    for (int i = 0; i < n; i++) {
        seq_free(seqs[i]);
        seqs[i] = NULL;
    }
}

static int bench_prefill(tf_model *m, int reps, tf_err *err) {
    double *s = calloc((size_t)reps, sizeof *s), *c = calloc((size_t)reps, sizeof *c);
    if (!s || !c) {
        free(s);
        free(c);
        return err_set(err, TF_ENOMEM, "bench");
    }
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        tf_seq *seq = NULL;
        if ((rc = new_seqs(m, 1, &seq, err)) < 0) break;
        int n = PROMPT;
        tf_batch b = {.n_seqs = 1, .seqs = &seq, .n_tokens = &n};
        double t0 = now_s(), c0 = cpu_s();
        rc = model_step(m, &b, err);
        s[r] = now_s() - t0;
        c[r] = cpu_s() - c0;
        seq_free(seq);
    }
    if (rc == 0) report("prefill 128", s, c, reps, PROMPT);
    free(s);
    free(c);
    return rc;
}

static int bench_decode(tf_model *m, int batch, int reps, tf_err *err) {
    double *s = calloc((size_t)reps, sizeof *s), *c = calloc((size_t)reps, sizeof *c);
    if (!s || !c) {
        free(s);
        free(c);
        return err_set(err, TF_ENOMEM, "bench");
    }
    tf_seq *seqs[MAX_BATCH] = {0};
    int n_tokens[MAX_BATCH];
    tf_batch b = {.n_seqs = batch, .seqs = seqs, .n_tokens = n_tokens};
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        if ((rc = new_seqs(m, batch, seqs, err)) < 0) break;
        for (int i = 0; i < batch; i++) n_tokens[i] = PROMPT;
        if ((rc = model_step(m, &b, err)) < 0) break; /* batched prefill, not timed */
        for (int i = 0; i < batch; i++) n_tokens[i] = 1;
        double t0 = now_s(), c0 = cpu_s();
        for (int st = 0; st < g_steps && rc == 0; st++) rc = model_step(m, &b, err);
        s[r] = now_s() - t0;
        c[r] = cpu_s() - c0;
        free_seqs(seqs, batch);
    }
    free_seqs(seqs, batch);
    if (rc == 0) {
        char name[32];
        snprintf(name, sizeof name, "decode batch %d", batch);
        report(name, s, c, reps, (double)batch * g_steps);
    }
    free(s);
    free(c);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_step --model DIR [-t threads] [-r reps] [-b 1..%d] [-s 1..512]\n"
                    "                  [--temperature T] [--attn-summary] [--fp32] [--kv auto|f16|f32]\n",
            MAX_BATCH);
    return 2;
}

int main(int argc, char **argv) {
    const char *dir = NULL;
    tf_model_opts opts = {.use_int8 = 1, .n_threads = 2};
    int reps = 5, only_batch = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) dir = argv[++i];
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) opts.n_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) g_steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc) only_batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--temperature") == 0 && i + 1 < argc)
            g_temperature = (float)atof(argv[++i]);
        else if (strcmp(argv[i], "--attn-summary") == 0 || strcmp(argv[i], "--attn") == 0) g_attn_summary = 1;
        else if (strcmp(argv[i], "--fp32") == 0) opts.use_int8 = 0;
        else if (strcmp(argv[i], "--kv") == 0 && i + 1 < argc) {
            const int kv = model_kv_cache_dtype_parse(argv[++i]);
            if (kv < 0) return usage();
            opts.kv_cache_dtype = (tf_kv_cache_dtype)kv;
        } else {
            return usage();
        }
    }
    if (!dir || reps < 1 || only_batch < 0 || only_batch > MAX_BATCH || g_steps < 1 ||
        g_steps > 512) {
        return usage();
    }
    tf_err err = {0};
    tf_model *m = NULL;
    if (model_load(dir, &opts, &m, &err) < 0) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    printf("model %s, %d threads, %s, KV cache %s, %s\n", dir, opts.n_threads,
           opts.use_int8 ? "int8" : "fp32", model_info(m)->kv_cache_dtype,
           g_temperature > 0 ? "sampled" : "greedy");
    int rc;
    if (only_batch > 0) {
        rc = bench_decode(m, only_batch, reps, &err);
    } else {
        rc = bench_prefill(m, reps, &err);
        static const int batches[] = {1, 4, 16};
        for (int i = 0; i < 3 && rc == 0; i++) rc = bench_decode(m, batches[i], reps, &err);
    }
    if (rc < 0) fprintf(stderr, "bench_step: %s\n", err.msg);
    model_free(m);
    return rc < 0 ? 1 : 0;
}
