/* llama2c.c: llama2.c checkpoints (legacy .bin) and tokenizers (tok*.bin) into a Hugging
 * Face LlamaForCausalLM directory: config.json, model.safetensors (F32),
 * tokenizer.json, tokenizer_config.json, generation_config.json.
 *
 * DESIGN: the .bin is mmap'd and validated against its header before anything is
 * written (the float count must equal what the header implies, to the float), then
 * streamed tensor by tensor (st_write_stream), so a 110M checkpoint never sits in
 * memory twice. Two conventions differ from HF's:
 *   - RoPE: llama2.c rotates adjacent pairs (2j, 2j+1) of each head; HF rotates
 *     (j, j + d_head/2). Permuting the rows of wq/wk inside each head
 *     (HF row h·hs + half·hs/2 + j  <-  llama2.c row h·hs + 2j + half) makes the
 *     rotate-half form compute the same attention scores, as HF's
 *     convert_llama_weights_to_hf.py permute() does.
 *   - Tokenizer: pieces carry real spaces and scores; HF's form writes spaces as "▁"
 *     and needs merges. Every split of a piece into two pieces is a merge, ranked by
 *     the merged piece's score (best first), which is exactly llama2.c's encode rule
 *     "merge the adjacent pair whose concatenation scores best, leftmost on ties"
 *     (pieces have distinct scores, so only splits of one piece tie; see build_merges
 *     for the one overlapping case where the two rules could differ).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/model.h"
#include "models/safetensors.h"

#define HDR_INTS 7
#define META "\xE2\x96\x81"

typedef struct l2c_header {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_header;

/* One output tensor: rows × cols floats at src (a view into the mapping); perm_heads > 0
 * permutes rows inside heads of hs rows from interleaved to rotate-half order. */
typedef struct l2c_src {
    const float *src;
    int64_t rows, cols;
    int perm_heads, hs;
} l2c_src;

static int fill(void *ctx, int item, size_t first, float *dst, size_t n) {
    const l2c_src *s = (const l2c_src *)ctx + item;
    for (size_t e = first; e < first + n; e++) {
        int64_t r = (int64_t)(e / (size_t)s->cols), c = (int64_t)(e % (size_t)s->cols);
        if (s->perm_heads > 0) {
            const int64_t h = r / s->hs, in = r % s->hs, half = s->hs / 2;
            r = h * s->hs + 2 * (in % half) + in / half;
        }
        memcpy(&dst[e - first], &s->src[r * s->cols + c], sizeof(float));
    }
    return 0;
}

static int check_header(const l2c_header *h, size_t n_floats, int *shared, const char *path,
                        tf_err *err) {
    *shared = h->vocab_size > 0;
    const int64_t vocab = h->vocab_size > 0 ? h->vocab_size : -(int64_t)h->vocab_size;
    if (h->dim <= 0 || h->dim > 65536 || h->hidden_dim <= 0 || h->hidden_dim > 1 << 20 ||
        h->n_layers <= 0 || h->n_layers > 512 || h->n_heads <= 0 || h->n_kv_heads <= 0 ||
        h->n_kv_heads > h->n_heads || h->n_heads % h->n_kv_heads || h->dim % h->n_heads ||
        (h->dim / h->n_heads) % 2 || vocab <= 0 || vocab > 1 << 22 || h->seq_len <= 0 ||
        h->seq_len > 1 << 20)
        return err_set(err, TF_EFORMAT, "%s: implausible header (dim %d, hidden %d, layers %d, "
                       "heads %d, kv heads %d, vocab %d, seq_len %d)", path, h->dim, h->hidden_dim,
                       h->n_layers, h->n_heads, h->n_kv_heads, h->vocab_size, h->seq_len);
    const int64_t d = h->dim, hs = d / h->n_heads, kv = hs * h->n_kv_heads, L = h->n_layers;
    int64_t want = vocab * d + L * d + L * d * d + 2 * L * d * kv + L * d * d + L * d +
                   3 * L * d * h->hidden_dim + d + (int64_t)h->seq_len * hs +
                   (*shared ? 0 : vocab * d);
    if ((int64_t)n_floats != want)
        return err_set(err, TF_EFORMAT, "%s: %zu floats after the header; the header implies %lld",
                       path, n_floats, (long long)want);
    return 0;
}

static int write_json(json_t *j, const char *dir, const char *name, tf_err *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = !j ? err_set(err, TF_ENOMEM, "%s", path)
                : json_dump_file(j, path, JSON_INDENT(2) | JSON_ENSURE_ASCII) == 0
                      ? 0
                      : err_set(err, TF_EIO, "%s: cannot write", path);
    json_decref(j);
    return rc;
}

static int write_weights(const l2c_header *h, const float *w, int shared, const char *dir,
                         tf_err *err) {
    const int64_t d = h->dim, hs = d / h->n_heads, kv = hs * h->n_kv_heads, L = h->n_layers,
                  f = h->hidden_dim, vocab = shared ? h->vocab_size : -(int64_t)h->vocab_size;
    const int n_items = 3 + 9 * (int)L + (shared ? 0 : 1);
    tf_st_write_item *items = calloc((size_t)n_items, sizeof *items);
    l2c_src *src = calloc((size_t)n_items, sizeof *src);
    char (*names)[80] = calloc((size_t)n_items, sizeof *names);
    int rc = 0;
    if (!items || !src || !names) {
        rc = err_set(err, TF_ENOMEM, "conversion tables");
        goto done;
    }
    /* The .bin's order: embeddings, then each kind of weight for all layers in turn. */
    const float *p = w;
    const float *emb = p;
    p += vocab * d;
    const float *rms_att = p;
    p += L * d;
    const float *wq = p;
    p += L * d * d;
    const float *wk = p;
    p += L * kv * d;
    const float *wv = p;
    p += L * kv * d;
    const float *wo = p;
    p += L * d * d;
    const float *rms_ffn = p;
    p += L * d;
    const float *w1 = p;
    p += L * f * d;
    const float *w2 = p;
    p += L * d * f;
    const float *w3 = p;
    p += L * f * d;
    const float *rms_final = p;
    p += d;
    p += (int64_t)h->seq_len * hs; /* freq_cis_real/imag of old exports: unused */
    const float *wcls = shared ? NULL : p;
    int k = 0;
#define ITEM(nm, s, r, c, ph)                                                                  \
    do {                                                                                        \
        snprintf(names[k], sizeof names[k], "%s", nm);                                          \
        items[k] = (tf_st_write_item){.name = names[k], .dtype = TF_ST_F32, .n_dims = (c) ? 2 : 1, \
                                      .shape = {(r), (c)}};                                     \
        src[k] = (l2c_src){.src = (s), .rows = (r), .cols = (c) ? (c) : 1, .perm_heads = (ph),   \
                           .hs = (int)hs};                                                      \
        k++;                                                                                    \
    } while (0)
    char nm[80];
    ITEM("model.embed_tokens.weight", emb, vocab, d, 0);
    for (int64_t l = 0; l < L; l++) {
#define LAYER(suffix, s, r, c, ph)                                    \
    snprintf(nm, sizeof nm, "model.layers.%lld.%s", (long long)l, suffix); \
    ITEM(nm, s, r, c, ph)
        LAYER("input_layernorm.weight", rms_att + l * d, d, 0, 0);
        LAYER("self_attn.q_proj.weight", wq + l * d * d, d, d, h->n_heads);
        LAYER("self_attn.k_proj.weight", wk + l * kv * d, kv, d, h->n_kv_heads);
        LAYER("self_attn.v_proj.weight", wv + l * kv * d, kv, d, 0);
        LAYER("self_attn.o_proj.weight", wo + l * d * d, d, d, 0);
        LAYER("post_attention_layernorm.weight", rms_ffn + l * d, d, 0, 0);
        LAYER("mlp.gate_proj.weight", w1 + l * f * d, f, d, 0);
        LAYER("mlp.down_proj.weight", w2 + l * d * f, d, f, 0);
        LAYER("mlp.up_proj.weight", w3 + l * f * d, f, d, 0);
#undef LAYER
    }
    ITEM("model.norm.weight", rms_final, d, 0, 0);
    if (!shared) ITEM("lm_head.weight", wcls, vocab, d, 0);
#undef ITEM
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    static const char *const meta[] = {"format", "pt", NULL};
    rc = st_write_stream(path, items, k, meta, fill, src, err);
done:
    free(items);
    free(src);
    free(names);
    return rc;
}

// --- tokenizer ---------------------------------------------------------------------------

typedef struct l2c_piece {
    char *s;     /* owned, HF form ("▁" for spaces) */
    float score;
} l2c_piece;

typedef struct l2c_merge {
    float score;
    int32_t id, split; /* the merged piece, and the byte offset of the split */
} l2c_merge;

static int cmp_merge(const void *a, const void *b) {
    const l2c_merge *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->split < y->split ? -1 : x->split > y->split;
}

static int read_pieces(const char *path, int n, l2c_piece *pc, tf_err *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(err, TF_EIO, "%s: %s", path, strerror(errno));
    int32_t max_len;
    int rc = 0;
    if (fread(&max_len, 4, 1, fp) != 1 || max_len <= 0 || max_len > 1 << 16)
        rc = err_set(err, TF_EFORMAT, "%s: bad max_token_length", path);
    for (int i = 0; i < n && rc == 0; i++) {
        int32_t len;
        if (fread(&pc[i].score, 4, 1, fp) != 1 || fread(&len, 4, 1, fp) != 1 || len < 0 ||
            len > max_len) {
            rc = err_set(err, TF_EFORMAT, "%s: token %d: truncated or bad length (the checkpoint "
                         "has %d tokens)", path, i, n);
            break;
        }
        char raw[1 << 16];
        if (fread(raw, 1, (size_t)len, fp) != (size_t)len) {
            rc = err_set(err, TF_EFORMAT, "%s: token %d is truncated", path, i);
            break;
        }
        if (!(pc[i].s = malloc((size_t)len * 3 + 1))) {
            rc = err_set(err, TF_ENOMEM, "%s", path);
            break;
        }
        size_t o = 0;
        for (int32_t j = 0; j < len; j++) {
            if (raw[j] == ' ') memcpy(pc[i].s + o, META, 3), o += 3;
            else pc[i].s[o++] = raw[j];
        }
        pc[i].s[o] = 0;
    }
    if (rc == 0 && fgetc(fp) != EOF)
        rc = err_set(err, TF_EFORMAT, "%s: more tokens than the checkpoint's %d", path, n);
    fclose(fp);
    return rc;
}

/* A piece that takes part in merges: not <unk>/<s>/</s> and not a <0xNN> byte token. */
static int mergeable(const l2c_piece *pc, int id) {
    const char *s = pc[id].s;
    return id >= 3 && !(strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && s[5] == '>');
}

/* Two different splits of one piece can tie in score and overlap (symbols "ab","a" and
 * "a","ba" for "aba"); llama2.c then takes the leftmost, HF the lower rank. Such inputs
 * are vanishingly rare; the test compares both on real text. */
static json_t *build_merges(const l2c_piece *pc, int n, json_t *vocab, tf_err *err) {
    size_t cap = 1024, n_m = 0;
    l2c_merge *m = malloc(cap * sizeof *m);
    if (!m) return err_set(err, TF_ENOMEM, "merges"), NULL;
    for (int id = 0; id < n; id++) {
        if (!mergeable(pc, id)) continue;
        const char *s = pc[id].s;
        size_t len = strlen(s);
        for (size_t k = 1; k < len; k++) {
            if (((uint8_t)s[k] & 0xC0) == 0x80) continue; /* inside a UTF-8 character */
            char left[512];
            if (k >= sizeof left) break;
            memcpy(left, s, k);
            left[k] = 0;
            json_t *a = json_object_get(vocab, left), *b = json_object_get(vocab, s + k);
            if (!a || !b || !mergeable(pc, (int)json_integer_value(a)) ||
                !mergeable(pc, (int)json_integer_value(b)))
                continue;
            if (n_m == cap) {
                l2c_merge *p = realloc(m, 2 * cap * sizeof *m);
                if (!p) {
                    free(m);
                    return err_set(err, TF_ENOMEM, "merges"), NULL;
                }
                m = p, cap *= 2;
            }
            m[n_m++] = (l2c_merge){pc[id].score, id, (int32_t)k};
        }
    }
    qsort(m, n_m, sizeof *m, cmp_merge);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n_m; i++) {
        char left[512];
        memcpy(left, pc[m[i].id].s, (size_t)m[i].split);
        left[m[i].split] = 0;
        json_array_append_new(arr, json_pack("[s, s]", left, pc[m[i].id].s + m[i].split));
    }
    free(m);
    if (!arr) err_set(err, TF_ENOMEM, "merges");
    return arr;
}

/* What LlamaTokenizerFast (legacy) saves for a SentencePiece BPE model; vocab and merges
 * are filled in. */
#define SPECIAL(id, s) "{\"id\": " #id ", \"content\": \"" s "\", \"single_word\": false, " \
    "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
static const char TOKENIZER_SKELETON[] =
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": ["
    SPECIAL(0, "<unk>") ", " SPECIAL(1, "<s>") ", " SPECIAL(2, "</s>") "], "
    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": ["
    "{\"type\": \"Prepend\", \"prepend\": \"" META "\"}, "
    "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"" META "\"}]}, "
    "\"pre_tokenizer\": null, "
    "\"post_processor\": {\"type\": \"TemplateProcessing\", "
    "\"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
    "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
    "\"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
    "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, "
    "{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 1}}, "
    "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], "
    "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1], \"tokens\": [\"<s>\"]}}}, "
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": ["
    "{\"type\": \"Replace\", \"pattern\": {\"String\": \"" META "\"}, \"content\": \" \"}, "
    "{\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, "
    "{\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}, "
    "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<unk>\", "
    "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": true, "
    "\"byte_fallback\": true, \"ignore_merges\": false}}";

static int write_tokenizer(const char *tok_path, int n, const char *dir, tf_err *err) {
    if (n < 259) return err_set(err, TF_EFORMAT, "%s: vocab of %d is too small for <unk>, <s>, "
                                "</s> and 256 byte tokens", tok_path, n);
    l2c_piece *pc = calloc((size_t)n, sizeof *pc);
    if (!pc) return err_set(err, TF_ENOMEM, "%s", tok_path);
    int rc = read_pieces(tok_path, n, pc, err);
    json_t *vocab = json_object(), *root = NULL;
    static const char *const specials[3] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; rc == 0 && i < n; i++) {
        /* llama2.c writes BOS/EOS as "\n<s>\n" / "\n</s>\n"; the HF vocab names them plainly. */
        const char *s = i < 3 ? specials[i] : pc[i].s;
        if (json_object_get(vocab, s))
            rc = err_set(err, TF_EFORMAT, "%s: token %d (\"%.32s\") appears twice", tok_path, i, s);
        else
            json_object_set_new(vocab, s, json_integer(i));
    }
    if (rc == 0) {
        json_t *merges = build_merges(pc, n, vocab, err);
        json_error_t je;
        root = merges ? json_loads(TOKENIZER_SKELETON, 0, &je) : NULL;
        json_t *model = json_object_get(root, "model");
        if (!merges || !model) {
            json_decref(merges);
            json_decref(root);
            root = NULL;
            rc = err_set(err, TF_ENOMEM, "tokenizer.json");
        } else {
            json_object_set_new(model, "vocab", vocab);
            json_object_set_new(model, "merges", merges);
            vocab = NULL;
        }
    }
    json_decref(vocab);
    for (int i = 0; i < n; i++) free(pc[i].s);
    free(pc);
    if (rc < 0) return rc;
    return write_json(root, dir, "tokenizer.json", err);
}

int model_convert_llama2c(const char *checkpoint, const char *tokenizer, const char *out_dir,
                          tf_err *err) {
    int fd = open(checkpoint, O_RDONLY);
    if (fd < 0) return err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO, "%s: %s", checkpoint,
                               strerror(errno));
    struct stat st;
    void *map = MAP_FAILED;
    int rc = 0;
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)(HDR_INTS * 4) || (st.st_size - HDR_INTS * 4) % 4)
        rc = err_set(err, TF_EFORMAT, "%s: not a llama2.c checkpoint (size %lld)", checkpoint,
                     (long long)st.st_size);
    else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        rc = err_set(err, TF_EIO, "%s: mmap: %s", checkpoint, strerror(errno));
    close(fd);
    if (rc < 0) return rc;
    l2c_header h;
    memcpy(&h, map, sizeof h);
    int shared = 0;
    size_t n_floats = ((size_t)st.st_size - HDR_INTS * 4) / 4;
    if ((rc = check_header(&h, n_floats, &shared, checkpoint, err)) < 0) goto done;
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        rc = err_set(err, TF_EIO, "%s: %s", out_dir, strerror(errno));
        goto done;
    }
    const int vocab = shared ? h.vocab_size : -h.vocab_size;
    /* The tokenizer first: a bad tok*.bin is the likeliest mistake, caught before the rest. */
    if ((rc = write_tokenizer(tokenizer, vocab, out_dir, err)) < 0) goto done;
    /* The constants llama2.c's run.c hard-codes: RMS eps 1e-5, RoPE base 10000; BOS 1, EOS 2. */
    json_t *cfg = json_pack(
        "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:s, s:b, s:i, s:i, s:s, s:b, s:b}",
        "architectures", "LlamaForCausalLM", "model_type", "llama", "hidden_size", h.dim,
        "intermediate_size", h.hidden_dim, "num_hidden_layers", h.n_layers, "num_attention_heads",
        h.n_heads, "num_key_value_heads", h.n_kv_heads, "vocab_size", vocab,
        "max_position_embeddings", h.seq_len, "rms_norm_eps", 1e-5, "rope_theta", 10000.0,
        "hidden_act", "silu", "tie_word_embeddings", shared, "bos_token_id", 1, "eos_token_id", 2,
        "torch_dtype", "float32", "attention_bias", 0, "mlp_bias", 0);
    if ((rc = write_json(cfg, out_dir, "config.json", err)) < 0) goto done;
    if ((rc = write_json(json_pack("{s:i, s:i}", "bos_token_id", 1, "eos_token_id", 2), out_dir,
                         "generation_config.json", err)) < 0)
        goto done;
    if ((rc = write_json(json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:b, s:i}", "add_bos_token", 1,
                                   "add_eos_token", 0, "bos_token", "<s>", "eos_token", "</s>",
                                   "unk_token", "<unk>", "tokenizer_class", "LlamaTokenizer",
                                   "legacy", 1, "model_max_length", h.seq_len),
                         out_dir, "tokenizer_config.json", err)) < 0)
        goto done;
    rc = write_weights(&h, (const float *)((const char *)map + HDR_INTS * 4), shared, out_dir, err);
done:
    munmap(map, (size_t)st.st_size);
    return rc;
}
