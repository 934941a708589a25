/* mkbert: writes a DistilBertForSequenceClassification checkpoint directory in Hugging Face
 * layout with random weights (distilbert-base shape by default), for `make bench`.
 *
 *   build/tools/mkbert --out DIR [--layers 6 --dim 768 --heads 12 --hidden 3072
 *                      --positions 512 --vocab 30522 --seed 1 --vocab-from FILE]
 *
 * Matrices are normal with std 0.02, layer norms weight 1 bias 0, biases 0 (splitmix64 +
 * Box-Muller: the same arguments give the same bytes), streamed to the file a chunk at a
 * time. The tokenizer is --vocab-from (a vocab.txt, e.g. bert-base-uncased's) copied, or
 * else a synthetic vocab.txt: the five BERT specials, "the", then "tokN" fillers. */
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
    uint64_t state;
    const init_kind *kinds;
} gen;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int gen_fill(void *ctx, int item, size_t first, float *dst, size_t n) {
    gen *g = ctx;
    (void)first;
    for (size_t i = 0; i < n; i++) {
        if (g->kinds[item] != INIT_NORMAL) {
            dst[i] = g->kinds[item] == INIT_ONES ? 1.0f : 0.0f;
            continue;
        }
        double u1 = ((double)(splitmix64(&g->state) >> 11) + 1.0) * 0x1p-53;
        double u2 = (double)(splitmix64(&g->state) >> 11) * 0x1p-53;
        dst[i] = (float)(0.02 * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
    return 0;
}

static long arg_long(const char *name, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "mkbert: %s must be an integer in [%ld, %ld] (got '%s')\n", name, lo, hi, v);
        exit(2);
    }
    return x;
}

static int write_vocab(const char *path, const char *from, long vocab) {
    FILE *out = fopen(path, "wb");
    if (!out) return -1;
    int rc = 0;
    if (from) {
        FILE *in = fopen(from, "rb");
        if (!in) {
            fclose(out);
            return -1;
        }
        char buf[1 << 16];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n) rc = -1;
        fclose(in);
    } else {
        fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n", out);
        for (long i = 6; i < vocab; i++) fprintf(out, "tok%ld\n", i);
    }
    if (fclose(out) != 0) rc = -1;
    return rc;
}

int main(int argc, char **argv) {
    const char *out = NULL, *vocab_from = NULL;
    long L = 6, E = 768, H = 12, F = 3072, P = 512, V = 30522, seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            puts("usage: mkbert --out DIR [--layers 6] [--dim 768] [--heads 12] [--hidden 3072]\n"
                 "              [--positions 512] [--vocab 30522] [--seed 1] [--vocab-from vocab.txt]");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "mkbert: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--vocab-from")) vocab_from = v;
        else if (!strcmp(a, "--layers")) L = arg_long(a, v, 1, 64);
        else if (!strcmp(a, "--dim")) E = arg_long(a, v, 1, 8192);
        else if (!strcmp(a, "--heads")) H = arg_long(a, v, 1, 256);
        else if (!strcmp(a, "--hidden")) F = arg_long(a, v, 1, 65536);
        else if (!strcmp(a, "--positions")) P = arg_long(a, v, 1, 65536);
        else if (!strcmp(a, "--vocab")) V = arg_long(a, v, 7, 1 << 22);
        else if (!strcmp(a, "--seed")) seed = arg_long(a, v, 0, 0x7fffffffL);
        else {
            fprintf(stderr, "mkbert: unknown option %s\n", a);
            return 2;
        }
    }
    if (!out || E % H != 0) {
        fprintf(stderr, "mkbert: --out is required and --dim must be a multiple of --heads\n");
        return 2;
    }
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mkbert: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    const int n_items = 4 + 16 * (int)L + 4;
    tf_st_write_item *items = calloc((size_t)n_items, sizeof *items);
    init_kind *kinds = calloc((size_t)n_items, sizeof *kinds);
    char (*names)[96] = calloc((size_t)n_items, sizeof *names);
    if (!items || !kinds || !names) return 1;
    int k = 0;
#define ADD(kind, nd, s0, s1, ...)                                                                 \
    do {                                                                                           \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                                          \
        items[k] = (tf_st_write_item){.name = names[k], .dtype = TF_ST_F32, .n_dims = (nd),        \
                                      .shape = {(s0), (s1)}};                                      \
        kinds[k++] = (kind);                                                                       \
    } while (0)
    ADD(INIT_NORMAL, 2, V, E, "distilbert.embeddings.word_embeddings.weight");
    ADD(INIT_NORMAL, 2, P, E, "distilbert.embeddings.position_embeddings.weight");
    ADD(INIT_ONES, 1, E, 0, "distilbert.embeddings.LayerNorm.weight");
    ADD(INIT_ZEROS, 1, E, 0, "distilbert.embeddings.LayerNorm.bias");
    static const char *const lins[] = {"q_lin", "k_lin", "v_lin", "out_lin"};
    for (long i = 0; i < L; i++) {
        for (int j = 0; j < 4; j++) {
            ADD(INIT_NORMAL, 2, E, E, "distilbert.transformer.layer.%ld.attention.%s.weight", i, lins[j]);
            ADD(INIT_ZEROS, 1, E, 0, "distilbert.transformer.layer.%ld.attention.%s.bias", i, lins[j]);
        }
        ADD(INIT_ONES, 1, E, 0, "distilbert.transformer.layer.%ld.sa_layer_norm.weight", i);
        ADD(INIT_ZEROS, 1, E, 0, "distilbert.transformer.layer.%ld.sa_layer_norm.bias", i);
        ADD(INIT_NORMAL, 2, F, E, "distilbert.transformer.layer.%ld.ffn.lin1.weight", i);
        ADD(INIT_ZEROS, 1, F, 0, "distilbert.transformer.layer.%ld.ffn.lin1.bias", i);
        ADD(INIT_NORMAL, 2, E, F, "distilbert.transformer.layer.%ld.ffn.lin2.weight", i);
        ADD(INIT_ZEROS, 1, E, 0, "distilbert.transformer.layer.%ld.ffn.lin2.bias", i);
        ADD(INIT_ONES, 1, E, 0, "distilbert.transformer.layer.%ld.output_layer_norm.weight", i);
        ADD(INIT_ZEROS, 1, E, 0, "distilbert.transformer.layer.%ld.output_layer_norm.bias", i);
    }
    ADD(INIT_NORMAL, 2, E, E, "pre_classifier.weight");
    ADD(INIT_ZEROS, 1, E, 0, "pre_classifier.bias");
    ADD(INIT_NORMAL, 2, 2, E, "classifier.weight");
    ADD(INIT_ZEROS, 1, 2, 0, "classifier.bias");
#undef ADD
    size_t n_path = strlen(out) + 64;
    char *path = malloc(n_path);
    int rc = 0;
    json_t *cfg = json_pack(
        "{s:s, s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:s, s:s}, s:{s:i, s:i}, s:i, s:b}",
        "model_type", "distilbert", "architectures", "DistilBertForSequenceClassification",
        "activation", "gelu", "dim", (json_int_t)E, "n_layers", (json_int_t)L, "n_heads",
        (json_int_t)H, "hidden_dim", (json_int_t)F, "max_position_embeddings", (json_int_t)P,
        "vocab_size", (json_int_t)V, "id2label", "0", "NEGATIVE", "1", "POSITIVE", "label2id",
        "NEGATIVE", 0, "POSITIVE", 1, "pad_token_id", 0, "sinusoidal_pos_embds", 0);
    snprintf(path, n_path, "%s/config.json", out);
    if (!cfg || json_dump_file(cfg, path, JSON_INDENT(2)) < 0) rc = 1;
    json_decref(cfg);
    snprintf(path, n_path, "%s/tokenizer_config.json", out);
    FILE *f = rc == 0 ? fopen(path, "wb") : NULL;
    if (!f || fputs("{\"do_lower_case\": true}\n", f) < 0) rc = 1;
    if (f && fclose(f) != 0) rc = 1;
    snprintf(path, n_path, "%s/vocab.txt", out);
    if (rc == 0 && write_vocab(path, vocab_from, V) < 0) rc = 1;
    gen g = {.state = (uint64_t)seed, .kinds = kinds};
    static const char *const meta[] = {"format", "pt", NULL};
    tf_err err = {0};
    snprintf(path, n_path, "%s/model.safetensors", out);
    if (rc == 0 && st_write_stream(path, items, k, meta, gen_fill, &g, &err) < 0) {
        fprintf(stderr, "mkbert: %s\n", err.msg);
        rc = 1;
    }
    if (rc) fprintf(stderr, "mkbert: writing %s failed\n", out);
    free(path);
    free(items);
    free(kinds);
    free(names);
    return rc;
}
