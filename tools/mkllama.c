/* mkllama: writes a LlamaForCausalLM checkpoint directory in Hugging Face layout with
 * random weights and a synthetic SentencePiece-BPE tokenizer.json, for benchmarks.
 *
 *   build/tools/mkllama --out DIR [--hidden 768 --layers 12 --heads 12 --kv-heads 4
 *                       --ffn 2048 --vocab 32000 --positions 1024 --seed 1]
 *
 * The defaults are GPT-2-small's size in Llama's shape: 768 wide, 12 layers, 12 query
 * heads over 4 KV heads, SwiGLU 2048, 32000 tokens, untied head: 125M parameters.
 * Weights: normal(0, 0.02) matrices, unit RMS-norm weights; the PRNG is splitmix64 +
 * Box-Muller, so the same arguments give the same bytes. Tensors are streamed to the
 * file (st_write_stream). The tokenizer has <unk> <s> </s>, the 256 <0xNN> byte tokens,
 * the characters of "▁the" and the merges that make "▁the" one token (so a prompt of n
 * "the" words is n + 1 tokens with BOS), padded to --vocab with inert <extra_N> pieces.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/safetensors.h"

#define META "\xE2\x96\x81"

typedef struct gen {
    uint64_t state;
    const int *ones; /* borrowed, [n_items]: 1 for norm weights */
} gen;

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int fill(void *ctx, int item, size_t first, float *dst, size_t n) {
    gen *g = ctx;
    (void)first;
    if (g->ones[item]) {
        for (size_t i = 0; i < n; i++) dst[i] = 1.0f;
        return 0;
    }
    for (size_t i = 0; i < n; i += 2) {
        double u1 = ((double)(splitmix64(&g->state) >> 11) + 1.0) * 0x1p-53;
        double u2 = (double)(splitmix64(&g->state) >> 11) * 0x1p-53;
        double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
        dst[i] = (float)(0.02 * r * cos(a));
        if (i + 1 < n) dst[i + 1] = (float)(0.02 * r * sin(a));
    }
    return 0;
}

typedef struct opts {
    const char *out;
    long hidden, layers, heads, kv_heads, ffn, vocab, positions, seed;
} opts;

static int parse_args(int argc, char **argv, opts *o) {
    *o = (opts){.hidden = 768, .layers = 12, .heads = 12, .kv_heads = 4, .ffn = 2048,
                .vocab = 32000, .positions = 1024, .seed = 1};
    static const struct { const char *flag; size_t off; long lo, hi; } nums[] = {
        {"--hidden", offsetof(opts, hidden), 2, 16384},   {"--layers", offsetof(opts, layers), 1, 256},
        {"--heads", offsetof(opts, heads), 1, 1024},      {"--kv-heads", offsetof(opts, kv_heads), 1, 1024},
        {"--ffn", offsetof(opts, ffn), 1, 1 << 20},       {"--vocab", offsetof(opts, vocab), 300, 1 << 22},
        {"--positions", offsetof(opts, positions), 2, 1 << 20}, {"--seed", offsetof(opts, seed), 0, 0x7fffffffL},
    };
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "mkllama: %s needs a value\n", argv[i]);
            return -1;
        }
        if (!strcmp(argv[i], "--out")) {
            o->out = argv[i + 1];
            continue;
        }
        size_t k = 0;
        while (k < sizeof nums / sizeof nums[0] && strcmp(argv[i], nums[k].flag)) k++;
        char *end;
        long v = k < sizeof nums / sizeof nums[0] ? strtol(argv[i + 1], &end, 10) : 0;
        if (k == sizeof nums / sizeof nums[0] || *end || v < nums[k].lo || v > nums[k].hi) {
            fprintf(stderr, "mkllama: bad option %s %s\n", argv[i], argv[i + 1]);
            return -1;
        }
        *(long *)((char *)o + nums[k].off) = v;
    }
    if (!o->out || o->hidden % o->heads || o->heads % o->kv_heads || (o->hidden / o->heads) % 2) {
        fprintf(stderr, "usage: mkllama --out DIR [--hidden N --layers N --heads N --kv-heads N "
                        "--ffn N --vocab N --positions N --seed N]\n"
                        "(heads must divide hidden into an even head size; kv-heads must divide heads)\n");
        return -1;
    }
    return 0;
}

static int write_json(json_t *j, const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = j ? json_dump_file(j, path, JSON_INDENT(1) | JSON_REAL_PRECISION(9)) : -1;
    json_decref(j);
    if (rc < 0) fprintf(stderr, "mkllama: cannot write %s\n", path);
    return rc;
}

static json_t *tokenizer(long vocab_size) {
    json_t *vocab = json_object();
    const char *const fixed[] = {"<unk>", "<s>", "</s>"};
    long id = 0;
    for (; id < 3; id++) json_object_set_new(vocab, fixed[id], json_integer(id));
    for (int b = 0; b < 256; b++, id++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        json_object_set_new(vocab, s, json_integer(id));
    }
    const char *const pieces[] = {META, "t", "h", "e", META "t", META "th", META "the"};
    for (size_t i = 0; i < 7; i++, id++) json_object_set_new(vocab, pieces[i], json_integer(id));
    for (; id < vocab_size; id++) {
        char s[32];
        snprintf(s, sizeof s, "<extra_%ld>", id);
        json_object_set_new(vocab, s, json_integer(id));
    }
    json_t *merges = json_pack("[[s,s],[s,s],[s,s]]", META, "t", META "t", "h", META "th", "e");
    return json_pack(
        "{s:s, s:[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b, s:b, s:b, s:b, s:b}], "
        "s:{s:s, s:[{s:s, s:s}, {s:s, s:{s:s}, s:s}]}, s:n, "
        "s:{s:s, s:[{s:{s:s, s:i}}, {s:{s:s, s:i}}], s:{s:{s:s, s:[i], s:[s]}}}, "
        "s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s}, {s:s}, {s:s, s:s, s:i, s:i}]}, "
        "s:{s:s, s:s, s:b, s:b, s:o, s:o}}",
        "version", "1.0", "added_tokens", "id", 1, "content", "<s>", "single_word", 0, "lstrip", 0,
        "rstrip", 0, "normalized", 0, "special", 1, "id", 2, "content", "</s>", "single_word", 0,
        "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1,
        "normalizer", "type", "Sequence", "normalizers", "type", "Prepend", "prepend", META, "type",
        "Replace", "pattern", "String", " ", "content", META, "pre_tokenizer",
        "post_processor", "type", "TemplateProcessing", "single", "SpecialToken", "id", "<s>",
        "type_id", 0, "Sequence", "id", "A", "type_id", 0, "special_tokens", "<s>", "id", "<s>",
        "ids", 1, "tokens", "<s>",
        "decoder", "type", "Sequence", "decoders", "type", "Replace", "pattern", "String", META,
        "content", " ", "type", "ByteFallback", "type", "Fuse", "type", "Strip", "content", " ",
        "start", 1, "stop", 0,
        "model", "type", "BPE", "unk_token", "<unk>", "byte_fallback", 1, "fuse_unk", 1, "vocab",
        vocab, "merges", merges);
}

int main(int argc, char **argv) {
    opts o;
    if (parse_args(argc, argv, &o) < 0) return 2;
    if (mkdir(o.out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mkllama: cannot create %s: %s\n", o.out, strerror(errno));
        return 1;
    }
    const int64_t d = o.hidden, L = o.layers, hd = o.hidden / o.heads, kv = hd * o.kv_heads;
    json_t *cfg = json_pack(
        "{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:s, s:b, s:i, s:i, s:s}",
        "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_size", (json_int_t)d,
        "intermediate_size", (json_int_t)o.ffn, "num_hidden_layers", (json_int_t)L,
        "num_attention_heads", (json_int_t)o.heads, "num_key_value_heads", (json_int_t)o.kv_heads,
        "vocab_size", (json_int_t)o.vocab, "max_position_embeddings", (json_int_t)o.positions,
        "rms_norm_eps", 1e-5, "rope_theta", 10000.0, "hidden_act", "silu", "tie_word_embeddings", 0,
        "bos_token_id", 1, "eos_token_id", 2, "torch_dtype", "float32");
    if (write_json(cfg, o.out, "config.json") < 0 || write_json(tokenizer(o.vocab), o.out, "tokenizer.json") < 0)
        return 1;
    const int n_items = 3 + 9 * (int)L;
    tf_st_write_item *items = calloc((size_t)n_items, sizeof *items);
    int *ones = calloc((size_t)n_items, sizeof *ones);
    char (*names)[80] = calloc((size_t)n_items, sizeof *names);
    if (!items || !ones || !names) return 1;
    int k = 0;
#define ADD(one, r, c, ...)                                                                   \
    do {                                                                                      \
        snprintf(names[k], sizeof names[k], __VA_ARGS__);                                     \
        items[k] = (tf_st_write_item){.name = names[k], .dtype = TF_ST_F32, .n_dims = (c) ? 2 : 1, \
                                      .shape = {(r), (c)}};                                   \
        ones[k++] = (one);                                                                    \
    } while (0)
    ADD(0, o.vocab, d, "model.embed_tokens.weight");
    for (int64_t i = 0; i < L; i++) {
        const long long l = (long long)i;
        ADD(1, d, 0, "model.layers.%lld.input_layernorm.weight", l);
        ADD(0, d, d, "model.layers.%lld.self_attn.q_proj.weight", l);
        ADD(0, kv, d, "model.layers.%lld.self_attn.k_proj.weight", l);
        ADD(0, kv, d, "model.layers.%lld.self_attn.v_proj.weight", l);
        ADD(0, d, d, "model.layers.%lld.self_attn.o_proj.weight", l);
        ADD(1, d, 0, "model.layers.%lld.post_attention_layernorm.weight", l);
        ADD(0, o.ffn, d, "model.layers.%lld.mlp.gate_proj.weight", l);
        ADD(0, o.ffn, d, "model.layers.%lld.mlp.up_proj.weight", l);
        ADD(0, d, o.ffn, "model.layers.%lld.mlp.down_proj.weight", l);
    }
    ADD(1, d, 0, "model.norm.weight");
    ADD(0, o.vocab, d, "lm_head.weight");
#undef ADD
    gen g = {.state = (uint64_t)o.seed, .ones = ones};
    static const char *const meta[] = {"format", "pt", NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", o.out);
    tf_err err = {0};
    int rc = st_write_stream(path, items, k, meta, fill, &g, &err);
    if (rc < 0) fprintf(stderr, "mkllama: %s\n", err.msg);
    free(items);
    free(ones);
    free(names);
    return rc < 0 ? 1 : 0;
}
