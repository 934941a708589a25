/* t5_load.c: T5ForConditionalGeneration weights and config from a Hugging Face
 * checkpoint (config.json + safetensors): the blocks of both stacks, the relative-position
 * bias tables (built once per stack over clamped relative positions), the tied or untied
 * head, and the task prefixes and generation defaults of task_specific_params. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/ops.h"
#include "models/beam.h"
#include "models/t5_impl.h"
static int read_tensor(tf_ckpt *ck, const char *name, int n_dims, int64_t d0, int64_t d1,
                       float **out, tf_err *err) {
    return ckpt_load_f32(ck, name, NULL, n_dims, d0, d1, out, err);
}

static int read_linear(tf_model *m, tf_ckpt *ck, const char *name, int n_out, int n_in,
                       tf_linear *l, tf_err *err) {
    float *w = NULL;
    int rc = read_tensor(ck, name, 2, n_out, n_in, &w, err);
    if (rc == 0) rc = linear_init(l, m->wtype, w, NULL, n_out, n_in, 0, err);
    free(w);
    return rc;
}

static int read_config(t5 *g, const tf_hf_config *cfg, tf_err *err) {
    int rc;
    if ((rc = hfc_int(cfg, "d_model", 512, 1, 16384, &g->d_model, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "d_kv", 64, 1, 4096, &g->d_kv, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "d_ff", 2048, 1, 1 << 18, &g->d_ff, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "num_layers", 6, 1, 256, &g->n_enc, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "num_decoder_layers", g->n_enc, 1, 256, &g->n_dec, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "num_heads", 8, 1, 1024, &g->n_head, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "vocab_size", 32128, 1, 1 << 22, &g->n_vocab, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "n_positions", 512, 1, 1 << 20, &g->n_pos, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "relative_attention_num_buckets", 32, 2, 4096, &g->n_buckets, err)) < 0)
        return rc;
    if ((rc = hfc_int(cfg, "relative_attention_max_distance", 128, 2, 1 << 16, &g->max_dist, err)) < 0)
        return rc;
    double eps;
    if ((rc = hfc_float(cfg, "layer_norm_epsilon", 1e-6, 0, 1, &eps, err)) < 0) return rc;
    g->eps = (float)eps;
    if ((rc = hfc_bool(cfg, "tie_word_embeddings", 1, &g->tied, err)) < 0) return rc;
    g->inner = g->n_head * g->d_kv;
    /* feed_forward_proj: "[gated-]act", as T5Config parses it */
    const char *ff = hfc_str(cfg, "feed_forward_proj", "relu");
    g->gated = strncmp(ff, "gated-", 6) == 0;
    const char *act = g->gated ? ff + 6 : ff;
    if (strcmp(act, "relu") == 0) g->act = 0;
    else if (strcmp(act, "gelu") == 0) g->act = g->gated ? 1 : 2; /* "gated-gelu" is gelu_new */
    else if (strcmp(act, "gelu_new") == 0) g->act = 1;
    else if (strcmp(act, "silu") == 0) g->act = 3;
    else return err_set(err, TF_EUNSUPPORTED, "config.json: feed_forward_proj \"%s\" is not supported", ff);
    return 0;
}

/* T5's relative position bucket (modeling_t5.py _relative_position_bucket), rp = key - query. */
static int t5_bucket(int rp, int bidirectional, int n_buckets, int max_dist) {
    int bucket = 0, nb = n_buckets;
    if (bidirectional) {
        nb /= 2;
        if (rp > 0) bucket += nb;
        rp = rp < 0 ? -rp : rp;
    } else {
        rp = rp < 0 ? -rp : 0;
    }
    const int max_exact = nb / 2;
    if (rp < max_exact) return bucket + rp;
    /* float32 as torch computes it, then truncation toward zero (.to(torch.long)) */
    float v = logf((float)rp / (float)max_exact) / (float)log((double)max_dist / max_exact) *
              (float)(nb - max_exact);
    int large = max_exact + (int)v;
    if (large > nb - 1) large = nb - 1;
    return bucket + large;
}

static int load_bias(t5 *g, tf_ckpt *ck, const char *name, int bidirectional, float **out,
                     tf_err *err) {
    float *table = NULL; /* [buckets][heads] */
    int rc = read_tensor(ck, name, 2, g->n_buckets, g->n_head, &table, err);
    if (rc < 0) return rc;
    const int R = g->max_dist, ld = 2 * R + 1;
    float *b = malloc(sizeof(float) * (size_t)g->n_head * ld);
    if (!b) {
        free(table);
        return err_set(err, TF_ENOMEM, "position bias");
    }
    for (int r = -R; r <= R; r++) {
        const int bk = t5_bucket(r, bidirectional, g->n_buckets, g->max_dist);
        for (int h = 0; h < g->n_head; h++) b[(size_t)h * ld + r + R] = table[(size_t)bk * g->n_head + h];
    }
    free(table);
    *out = b;
    return 0;
}

static int load_block(tf_model *m, t5 *g, tf_ckpt *ck, const char *stack, int i, t5_block *b,
                      tf_err *err) {
    const int e = g->d_model, in = g->inner, dec = stack[0] == 'd';
    char name[160];
    int rc;
#define NAME(fmt) snprintf(name, sizeof name, "%s.block.%d.layer." fmt, stack, i)
#define LIN(field, fmt, n_out, n_in)                                              \
    NAME(fmt);                                                                    \
    if ((rc = read_linear(m, ck, name, n_out, n_in, &b->field, err)) < 0) return rc;
#define VEC(field, fmt)                                                           \
    NAME(fmt);                                                                    \
    if ((rc = read_tensor(ck, name, 1, e, 0, &b->field, err)) < 0) return rc;
    VEC(ln_attn, "0.layer_norm.weight");
    LIN(self.q, "0.SelfAttention.q.weight", in, e);
    LIN(self.k, "0.SelfAttention.k.weight", in, e);
    LIN(self.v, "0.SelfAttention.v.weight", in, e);
    LIN(self.o, "0.SelfAttention.o.weight", e, in);
    if (dec) {
        VEC(ln_cross, "1.layer_norm.weight");
        LIN(cross.q, "1.EncDecAttention.q.weight", in, e);
        LIN(cross.k, "1.EncDecAttention.k.weight", in, e);
        LIN(cross.v, "1.EncDecAttention.v.weight", in, e);
        LIN(cross.o, "1.EncDecAttention.o.weight", e, in);
    }
    if (dec) {
        VEC(ln_ff, "2.layer_norm.weight");
    } else {
        VEC(ln_ff, "1.layer_norm.weight");
    }
    const char *ffl = dec ? "2" : "1";
    char fmt[96];
#define FFLIN(field, suffix, n_out, n_in)                                                   \
    snprintf(fmt, sizeof fmt, "%s.block.%d.layer.%s.DenseReluDense." suffix, stack, i, ffl); \
    if ((rc = read_linear(m, ck, fmt, n_out, n_in, &b->field, err)) < 0) return rc;
    if (g->gated) {
        FFLIN(wi, "wi_0.weight", g->d_ff, e);
        FFLIN(wi1, "wi_1.weight", g->d_ff, e);
    } else {
        FFLIN(wi, "wi.weight", g->d_ff, e);
    }
    FFLIN(wo, "wo.weight", e, g->d_ff);
#undef FFLIN
#undef VEC
#undef LIN
#undef NAME
    return 0;
}

static void close_block(t5_block *b) {
    free(b->ln_attn);
    free(b->ln_cross);
    free(b->ln_ff);
    tf_linear *ls[] = {&b->self.q, &b->self.k, &b->self.v, &b->self.o, &b->cross.q, &b->cross.k,
                       &b->cross.v, &b->cross.o, &b->wi, &b->wi1, &b->wo};
    for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) linear_close(ls[i]);
}

void t5_free(tf_model *m) {
    t5 *g = m->impl;
    if (!g) return;
    linear_close(&g->shared);
    linear_close(&g->lm_head);
    free(g->enc_bias);
    free(g->dec_bias);
    for (int i = 0; g->enc && i < g->n_enc; i++) close_block(&g->enc[i]);
    for (int i = 0; g->dec && i < g->n_dec; i++) close_block(&g->dec[i]);
    free(g->enc);
    free(g->dec);
    free(g->enc_ln);
    free(g->dec_ln);
    float *bufs[] = {g->x, g->h, g->q, g->k, g->v, g->att, g->ff, g->ff1, g->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    gemm_ws_close(&g->ws);
    free(g);
    m->impl = NULL;
}

/* One task_specific_params entry's generation settings, bounds-checked (an out-of-range
 * value is ignored rather than failing the load: these are only defaults). */
static tf_task_defaults task_defaults(json_t *v) {
    tf_task_defaults d = {0};
    json_t *x;
#define INT_FIELD(name, lo, hi, field, bit, adjust)                                   \
    if (json_is_integer(x = json_object_get(v, name)) && json_integer_value(x) >= lo && \
        json_integer_value(x) <= hi) {                                                  \
        d.field = (int)json_integer_value(x) + (adjust);                                \
        d.set |= bit;                                                                   \
    }
    INT_FIELD("num_beams", 1, TF_MAX_BEAMS, num_beams, TF_TD_BEAMS, 0);
    INT_FIELD("no_repeat_ngram_size", 0, 64, no_repeat_ngram_size, TF_TD_NGRAM, 0);
    INT_FIELD("min_length", 1, 1 << 20, min_new_tokens, TF_TD_MIN, -1);
    INT_FIELD("max_length", 2, 1 << 20, max_new_tokens, TF_TD_MAX, -1);
#undef INT_FIELD
    if (json_is_number(x = json_object_get(v, "length_penalty")) && fabs(json_number_value(x)) <= 10) {
        d.length_penalty = (float)json_number_value(x);
        d.set |= TF_TD_LP;
    }
    if (json_is_boolean(x = json_object_get(v, "early_stopping"))) {
        d.early_stopping = json_is_true(x);
        d.set |= TF_TD_ES;
    }
    if ((d.set & TF_TD_MIN) && (d.set & TF_TD_MAX) && d.min_new_tokens > d.max_new_tokens)
        d.set &= ~(unsigned)TF_TD_MIN;
    return d;
}

/* task_specific_params: {"summarization": {"prefix": ..., "num_beams": ...},
 * "translation_en_to_de": ...}; without them, the prefixes T5 was trained with. */
static int load_tasks(tf_model *m, const tf_hf_config *cfg, tf_err *err) {
    const json_t *tsp = json_object_get(hfc_json(cfg), "task_specific_params");
    int rc;
    if (json_is_object(tsp) && json_object_size(tsp) > 0) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)tsp, key, v) {
            const char *prefix = json_string_value(json_object_get(v, "prefix"));
            tf_task_defaults d = task_defaults(v);
            if (prefix && (rc = model_add_task(m, key, prefix, &d, err)) < 0) return rc;
        }
        return 0;
    }
    static const char *const builtin[][2] = {
        {"summarization", "summarize: "},
        {"translation_en_to_de", "translate English to German: "},
        {"translation_en_to_fr", "translate English to French: "},
        {"translation_en_to_ro", "translate English to Romanian: "},
    };
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
        if ((rc = model_add_task(m, builtin[i][0], builtin[i][1], NULL, err)) < 0) return rc;
    return 0;
}

int t5_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err) {
    t5 *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, TF_ENOMEM, "t5");
    m->impl = g;
    gemm_ws_init(&g->ws);
    int rc = read_config(g, cfg, err);
    if (rc < 0) return rc;
    const int e = g->d_model;
    float *w = NULL;
    if ((rc = read_tensor(ck, "shared.weight", 2, g->n_vocab, e, &w, err)) < 0) return rc;
    rc = linear_init(&g->shared, m->wtype, w, NULL, g->n_vocab, e, 0, err);
    free(w);
    if (rc < 0) return rc;
    if (!g->tied && (rc = read_linear(m, ck, "lm_head.weight", g->n_vocab, e, &g->lm_head, err)) < 0)
        return rc;
    if ((rc = load_bias(g, ck, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                        1, &g->enc_bias, err)) < 0)
        return rc;
    if ((rc = load_bias(g, ck, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                        0, &g->dec_bias, err)) < 0)
        return rc;
    g->enc = calloc((size_t)g->n_enc, sizeof *g->enc);
    g->dec = calloc((size_t)g->n_dec, sizeof *g->dec);
    if (!g->enc || !g->dec) return err_set(err, TF_ENOMEM, "t5 blocks");
    for (int i = 0; i < g->n_enc; i++)
        if ((rc = load_block(m, g, ck, "encoder", i, &g->enc[i], err)) < 0) return rc;
    for (int i = 0; i < g->n_dec; i++)
        if ((rc = load_block(m, g, ck, "decoder", i, &g->dec[i], err)) < 0) return rc;
    if ((rc = read_tensor(ck, "encoder.final_layer_norm.weight", 1, e, 0, &g->enc_ln, err)) < 0) return rc;
    if ((rc = read_tensor(ck, "decoder.final_layer_norm.weight", 1, e, 0, &g->dec_ln, err)) < 0) return rc;

    const int64_t in = g->inner, attn = 4 * in * e, ffp = (g->gated ? 3LL : 2LL) * e * g->d_ff;
    m->info.n_params = (int64_t)g->n_vocab * e * (g->tied ? 1 : 2) + 2LL * g->n_buckets * g->n_head +
                       g->n_enc * (attn + ffp + 2LL * e) + g->n_dec * (2 * attn + ffp + 3LL * e) + 2LL * e;
    size_t bytes = linear_bytes(&g->shared) + linear_bytes(&g->lm_head) +
                   sizeof(float) * (2 * (size_t)g->n_head * (2 * g->max_dist + 1) + 2 * (size_t)e);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < (s ? g->n_dec : g->n_enc); i++) {
            t5_block *b = s ? &g->dec[i] : &g->enc[i];
            tf_linear *ls[] = {&b->self.q, &b->self.k, &b->self.v, &b->self.o, &b->cross.q, &b->cross.k,
                               &b->cross.v, &b->cross.o, &b->wi, &b->wi1, &b->wo};
            for (size_t j = 0; j < sizeof ls / sizeof ls[0]; j++) bytes += linear_bytes(ls[j]);
            bytes += sizeof(float) * (size_t)e * (s ? 3 : 2);
        }
    m->info.weight_bytes = bytes;
    m->info.n_ctx = g->n_pos;
    m->info.vocab_size = g->n_vocab;
    m->kv_n_layer = 0; /* caches live in the per-sequence state */
    m->info.encdec_n_enc_layer = g->n_enc;
    m->info.encdec_n_dec_layer = g->n_dec;
    m->info.encdec_n_head = g->n_head;
    m->kv_dim = g->inner;

    int id;
    if ((rc = hfc_int(cfg, "eos_token_id", 1, -1, g->n_vocab - 1, &id, err)) < 0) return rc;
    m->eos_id = id;
    if ((rc = hfc_int(cfg, "decoder_start_token_id", 0, 0, g->n_vocab - 1, &id, err)) < 0) return rc;
    m->decoder_start_id = id;
    m->bos_id = -1;
    return load_tasks(m, cfg, err);
}
