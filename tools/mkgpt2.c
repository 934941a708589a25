/* mkgpt2: writes a GPT-2 checkpoint directory in Hugging Face layout with random
 * weights, for benchmarks and tests that need a full-size model without downloading one.
 *
 *   build/tools/mkgpt2 --out DIR [--n-layer 12 --n-embd 768 --n-head 12 --n-positions 1024
 *                      --vocab 50257 --seed 1 --dtype f32|f16|bf16 --tokenizer-from DIR]
 *
 * Weights follow GPT-2's initialisation as the brief for this tool states it: normal with
 * std 0.02 for every matrix (HF additionally scales c_proj by 1/sqrt(2 n_layer); we do
 * not), layer norms weight 1 bias 0, other biases 0. The PRNG is splitmix64 + Box-Muller,
 * so the same arguments always give the same bytes. Tensors are streamed to the file a
 * chunk at a time (st_write_stream): a 124M model never sits in memory whole.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/safetensors.h"

typedef enum init_kind { INIT_NORMAL, INIT_ONES, INIT_ZEROS } init_kind;

typedef struct gen {
    uint64_t state;     /* splitmix64 */
    float spare;        /* second Box-Muller value */
    int has_spare;
    const init_kind *kinds; /* borrowed, [n_items] */
} gen;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float gen_normal(gen *g) {
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    /* u1 in (0, 1] so log(u1) is finite; 53-bit uniforms. */
    double u1 = ((double)(splitmix64(&g->state) >> 11) + 1.0) * 0x1p-53;
    double u2 = (double)(splitmix64(&g->state) >> 11) * 0x1p-53;
    double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
    g->spare = (float)(r * sin(a));
    g->has_spare = 1;
    return (float)(r * cos(a));
}

static int gen_fill(void *ctx, int item, size_t first, float *dst, size_t n) {
    gen *g = ctx;
    (void)first;
    switch (g->kinds[item]) {
    case INIT_NORMAL:
        for (size_t i = 0; i < n; i++) dst[i] = 0.02f * gen_normal(g);
        break;
    case INIT_ONES:
        for (size_t i = 0; i < n; i++) dst[i] = 1.0f;
        break;
    case INIT_ZEROS:
        memset(dst, 0, n * sizeof *dst);
        break;
    }
    return 0;
}

typedef struct opts {
    const char *out, *tok_from, *dtype;
    long n_layer, n_embd, n_head, n_positions, vocab, seed;
} opts;

static void usage(FILE *f) {
    fprintf(f, "usage: mkgpt2 --out DIR [--n-layer 12] [--n-embd 768] [--n-head 12] [--n-positions 1024]\n"
               "              [--vocab 50257] [--seed 1] [--dtype f32|f16|bf16] [--tokenizer-from DIR]\n");
}

static int parse_long(const char *name, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "mkgpt2: %s must be an integer in [%ld, %ld] (got '%s')\n", name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o) {
    *o = (opts){.dtype = "f32", .n_layer = 12, .n_embd = 768, .n_head = 12, .n_positions = 1024, .vocab = 50257, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "mkgpt2: %s needs a value\n", a);
            return -1;
        }
        i++;
        int rc = 0;
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--tokenizer-from")) o->tok_from = v;
        else if (!strcmp(a, "--dtype")) o->dtype = v;
        else if (!strcmp(a, "--n-layer")) rc = parse_long(a, v, 1, 256, &o->n_layer);
        else if (!strcmp(a, "--n-embd")) rc = parse_long(a, v, 1, 16384, &o->n_embd);
        else if (!strcmp(a, "--n-head")) rc = parse_long(a, v, 1, 1024, &o->n_head);
        else if (!strcmp(a, "--n-positions")) rc = parse_long(a, v, 1, 1 << 20, &o->n_positions);
        else if (!strcmp(a, "--vocab")) rc = parse_long(a, v, 1, 1 << 24, &o->vocab);
        else if (!strcmp(a, "--seed")) rc = parse_long(a, v, 0, 0x7fffffffL, &o->seed);
        else {
            fprintf(stderr, "mkgpt2: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        if (rc < 0) return -1;
    }
    if (!o->out) {
        usage(stderr);
        return -1;
    }
    if (o->n_embd % o->n_head != 0) {
        fprintf(stderr, "mkgpt2: --n-embd (%ld) must be a multiple of --n-head (%ld)\n", o->n_embd, o->n_head);
        return -1;
    }
    if (strcmp(o->dtype, "f32") && strcmp(o->dtype, "f16") && strcmp(o->dtype, "bf16")) {
        fprintf(stderr, "mkgpt2: --dtype must be f32, f16 or bf16 (got '%s')\n", o->dtype);
        return -1;
    }
    return 0;
}

static int write_config(const opts *o, const char *path) {
    long eos = o->vocab - 1 < 50256 ? o->vocab - 1 : 50256;
    const char *torch_dtype = !strcmp(o->dtype, "f32") ? "float32" : !strcmp(o->dtype, "f16") ? "float16" : "bfloat16";
    json_t *cfg = json_pack("{s:s, s:[s], s:I, s:I, s:I, s:I, s:I, s:I, s:n, s:s, s:f, s:f, s:I, s:I, s:s}",
                            "model_type", "gpt2", "architectures", "GPT2LMHeadModel", "vocab_size", (json_int_t)o->vocab,
                            "n_positions", (json_int_t)o->n_positions, "n_ctx", (json_int_t)o->n_positions, "n_embd",
                            (json_int_t)o->n_embd, "n_layer", (json_int_t)o->n_layer, "n_head", (json_int_t)o->n_head,
                            "n_inner", "activation_function", "gelu_new", "layer_norm_epsilon", 1e-5,
                            "initializer_range", 0.02, "bos_token_id", (json_int_t)eos, "eos_token_id", (json_int_t)eos,
                            "torch_dtype", torch_dtype);
    int rc = cfg ? json_dump_file(cfg, path, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : -1;
    json_decref(cfg);
    if (rc < 0) fprintf(stderr, "mkgpt2: cannot write %s\n", path);
    return rc;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb");
    if (!in) return 1; /* absent: caller decides */
    FILE *out = fopen(to, "wb");
    int rc = 0;
    if (!out) {
        fprintf(stderr, "mkgpt2: cannot create %s: %s\n", to, strerror(errno));
        fclose(in);
        return -1;
    }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) rc = -1;
    if (ferror(in)) rc = -1;
    fclose(in);
    if (fclose(out) != 0) rc = -1;
    if (rc < 0) fprintf(stderr, "mkgpt2: copying %s to %s failed\n", from, to);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o) < 0) return 2;
    if (mkdir(o.out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mkgpt2: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    tf_st_dtype dt = !strcmp(o.dtype, "f32") ? TF_ST_F32 : !strcmp(o.dtype, "f16") ? TF_ST_F16 : TF_ST_BF16;
    const int64_t E = o.n_embd, L = o.n_layer;
    int n_items = 4 + 12 * (int)L;
    tf_st_write_item *items = calloc((size_t)n_items, sizeof *items);
    init_kind *kinds = calloc((size_t)n_items, sizeof *kinds);
    char (*names)[64] = calloc((size_t)n_items, sizeof *names);
    if (!items || !kinds || !names) {
        fprintf(stderr, "mkgpt2: out of memory\n");
        return 1;
    }
    int k = 0;
#define ADD(kind, nd, s0, s1, ...)                                         \
    do {                                                                   \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                  \
        items[k] = (tf_st_write_item){.name = names[k], .dtype = dt, .n_dims = (nd), .shape = {(s0), (s1)}}; \
        kinds[k++] = (kind);                                               \
    } while (0)
    ADD(INIT_NORMAL, 2, o.vocab, E, "wte.weight");
    ADD(INIT_NORMAL, 2, o.n_positions, E, "wpe.weight");
    for (int64_t i = 0; i < L; i++) {
        ADD(INIT_ONES, 1, E, 0, "h.%lld.ln_1.weight", (long long)i);
        ADD(INIT_ZEROS, 1, E, 0, "h.%lld.ln_1.bias", (long long)i);
        ADD(INIT_NORMAL, 2, E, 3 * E, "h.%lld.attn.c_attn.weight", (long long)i);
        ADD(INIT_ZEROS, 1, 3 * E, 0, "h.%lld.attn.c_attn.bias", (long long)i);
        ADD(INIT_NORMAL, 2, E, E, "h.%lld.attn.c_proj.weight", (long long)i);
        ADD(INIT_ZEROS, 1, E, 0, "h.%lld.attn.c_proj.bias", (long long)i);
        ADD(INIT_ONES, 1, E, 0, "h.%lld.ln_2.weight", (long long)i);
        ADD(INIT_ZEROS, 1, E, 0, "h.%lld.ln_2.bias", (long long)i);
        ADD(INIT_NORMAL, 2, E, 4 * E, "h.%lld.mlp.c_fc.weight", (long long)i);
        ADD(INIT_ZEROS, 1, 4 * E, 0, "h.%lld.mlp.c_fc.bias", (long long)i);
        ADD(INIT_NORMAL, 2, 4 * E, E, "h.%lld.mlp.c_proj.weight", (long long)i);
        ADD(INIT_ZEROS, 1, E, 0, "h.%lld.mlp.c_proj.bias", (long long)i);
    }
    ADD(INIT_ONES, 1, E, 0, "ln_f.weight");
    ADD(INIT_ZEROS, 1, E, 0, "ln_f.bias");
#undef ADD

    size_t n_path = strlen(o.out) + 64;
    char *path = malloc(n_path), *from = NULL;
    int rc = 0;
    snprintf(path, n_path, "%s/config.json", o.out);
    if (write_config(&o, path) < 0) rc = 1;

    gen g = {.state = (uint64_t)o.seed, .kinds = kinds};
    static const char *const meta[] = {"format", "pt", NULL};
    tf_err err = {0};
    snprintf(path, n_path, "%s/model.safetensors", o.out);
    if (rc == 0 && st_write_stream(path, items, n_items, meta, gen_fill, &g, &err) < 0) {
        fprintf(stderr, "mkgpt2: %s\n", err.msg);
        rc = 1;
    }

    if (rc == 0 && o.tok_from) {
        static const char *const tok_files[] = {"vocab.json", "merges.txt", "tokenizer.json"};
        size_t n_from = strlen(o.tok_from) + 64;
        from = malloc(n_from);
        int n_copied = 0;
        for (size_t i = 0; i < 3 && rc == 0; i++) {
            snprintf(from, n_from, "%s/%s", o.tok_from, tok_files[i]);
            snprintf(path, n_path, "%s/%s", o.out, tok_files[i]);
            int c = copy_file(from, path);
            if (c < 0) rc = 1;
            n_copied += c == 0;
        }
        if (rc == 0 && n_copied == 0) {
            fprintf(stderr, "mkgpt2: %s has none of vocab.json, merges.txt, tokenizer.json\n", o.tok_from);
            rc = 1;
        }
    }
    free(from);
    free(path);
    free(items);
    free(kinds);
    free(names);
    return rc;
}
