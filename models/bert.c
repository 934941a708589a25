/* DESIGN: BertForSequenceClassification and DistilBertForSequenceClassification as
 * transformers computes them (modeling_bert.py, modeling_distilbert.py). Both are the same
 * post-LN encoder; they differ in tensor names, config keys, the token-type embedding and
 * the head (BERT: tanh pooler over [CLS]; DistilBERT: pre_classifier + ReLU over [CLS]),
 * so one implementation reads a small per-family naming table.
 *
 * A batch is packed, not padded: every token of every text is a row of one activation
 * matrix (so no work is spent on padding), and attention runs per (text, head) over that
 * text's own rows only, which is exactly what an attention mask over a padded batch
 * computes. Texts are independent, so the layers run over groups of whole texts of about
 * GROUP_ROWS rows, all layers for one group before the next, each linear layer one matrix
 * product per group: the group's activations stay in cache. q, k and v are fused into one
 * [3e, e] layer at load. The small head layers stay fp32 in int8 mode: they see one row per
 * text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/ops.h"
#include "models/model_impl.h"

typedef struct enc_names {
    const char *prefixes[3];
    /* config keys */
    const char *k_dim, *k_layers, *k_heads, *k_inner, *k_act, *k_eps; /* k_eps NULL: 1e-12 */
    /* tensors; "%d" is the layer index; linear and LayerNorm names get .weight / .bias */
    const char *word, *pos, *type, *emb_ln;
    const char *q, *k, *v, *o, *ln_attn, *ff1, *ff2, *ln_out;
    const char *head1, *head2;
    int head_tanh; /* BERT pooler: tanh; DistilBERT pre_classifier: ReLU */
} enc_names;

static const enc_names bert_names = {
    .prefixes = {"bert.", NULL},
    .k_dim = "hidden_size", .k_layers = "num_hidden_layers", .k_heads = "num_attention_heads",
    .k_inner = "intermediate_size", .k_act = "hidden_act", .k_eps = "layer_norm_eps",
    .word = "embeddings.word_embeddings.weight", .pos = "embeddings.position_embeddings.weight",
    .type = "embeddings.token_type_embeddings.weight", .emb_ln = "embeddings.LayerNorm",
    .q = "encoder.layer.%d.attention.self.query", .k = "encoder.layer.%d.attention.self.key",
    .v = "encoder.layer.%d.attention.self.value", .o = "encoder.layer.%d.attention.output.dense",
    .ln_attn = "encoder.layer.%d.attention.output.LayerNorm",
    .ff1 = "encoder.layer.%d.intermediate.dense", .ff2 = "encoder.layer.%d.output.dense",
    .ln_out = "encoder.layer.%d.output.LayerNorm",
    .head1 = "pooler.dense", .head2 = "classifier", .head_tanh = 1,
};

static const enc_names distilbert_names = {
    .prefixes = {"distilbert.", NULL},
    .k_dim = "dim", .k_layers = "n_layers", .k_heads = "n_heads", .k_inner = "hidden_dim",
    .k_act = "activation", .k_eps = NULL,
    .word = "embeddings.word_embeddings.weight", .pos = "embeddings.position_embeddings.weight",
    .type = NULL, .emb_ln = "embeddings.LayerNorm",
    .q = "transformer.layer.%d.attention.q_lin", .k = "transformer.layer.%d.attention.k_lin",
    .v = "transformer.layer.%d.attention.v_lin", .o = "transformer.layer.%d.attention.out_lin",
    .ln_attn = "transformer.layer.%d.sa_layer_norm", .ff1 = "transformer.layer.%d.ffn.lin1",
    .ff2 = "transformer.layer.%d.ffn.lin2", .ln_out = "transformer.layer.%d.output_layer_norm",
    .head1 = "pre_classifier", .head2 = "classifier", .head_tanh = 0,
};

enum { ACT_GELU_ERF, ACT_GELU_TANH, ACT_RELU };

typedef struct enc_layer {
    tf_linear qkv, o, ff1, ff2;
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* owned, [e]: after attention, after the FFN */
} enc_layer;

typedef struct bert {
    const enc_names *nm;
    int e, n_head, n_layer, n_inner, n_pos, n_vocab, act;
    float eps;
    tf_linear word;          /* [n_vocab, e], rows looked up with linear_row */
    float *pos;              /* owned, [n_pos, e] */
    float *type0;            /* owned, [e]: token type 0 (BERT), NULL for DistilBERT */
    float *eln_w, *eln_b;
    enc_layer *layers;       /* owned, [n_layer] */
    tf_linear head1, head2;  /* fp32 */
    /* scratch, owned, grown on demand */
    int cap_rows, cap_group_rows, cap_texts;
    float *x;                         /* (rows, e): the whole batch */
    float *h, *qkv, *att, *ff;        /* one group of texts: (group rows, width) */
    float *cls, *cls2;
    int *row_of;             /* [cap_texts] first row of each text */
    float *scores;           /* [n_threads][scores_ld]: attn_full_blocked scratch */
    size_t scores_ld;
    tf_gemm_ws ws;
} bert;

/* ---- loading ---------------------------------------------------------------------------- */

static int read_tensor(tf_ckpt *ck, const bert *b, const char *name, int n_dims, int64_t d0,
                       int64_t d1, float **out, tf_err *err) {
    return ckpt_load_f32(ck, name, b->nm->prefixes, n_dims, d0, d1, out, err);
}

/* base.weight [n_out, n_in] and base.bias [n_out] into l. */
static int read_linear(tf_ckpt *ck, const bert *b, const char *base, int n_out, int n_in,
                       tf_wtype type, tf_linear *l, tf_err *err) {
    char name[192];
    float *w = NULL, *bias = NULL;
    snprintf(name, sizeof name, "%s.weight", base);
    int rc = read_tensor(ck, b, name, 2, n_out, n_in, &w, err);
    if (rc == 0) {
        snprintf(name, sizeof name, "%s.bias", base);
        rc = read_tensor(ck, b, name, 1, n_out, 0, &bias, err);
    }
    if (rc == 0) rc = linear_init(l, type, w, bias, n_out, n_in, 0, err);
    free(w);
    free(bias);
    return rc;
}

static int read_ln(tf_ckpt *ck, const bert *b, const char *base, float **w, float **bias,
                   tf_err *err) {
    char name[192];
    snprintf(name, sizeof name, "%s.weight", base);
    int rc = read_tensor(ck, b, name, 1, b->e, 0, w, err);
    if (rc < 0) return rc;
    snprintf(name, sizeof name, "%s.bias", base);
    return read_tensor(ck, b, name, 1, b->e, 0, bias, err);
}

/* q, k and v of one layer fused into one [3e, e] linear (q | k | v along the outputs). */
static int read_qkv(tf_model *m, tf_ckpt *ck, bert *b, int li, tf_linear *l, tf_err *err) {
    const int e = b->e;
    const char *bases[3] = {b->nm->q, b->nm->k, b->nm->v};
    float *w = malloc(sizeof(float) * 3 * (size_t)e * e), *bias = malloc(sizeof(float) * 3 * e);
    int rc = w && bias ? 0 : err_set(err, TF_ENOMEM, "layer %d attention weights", li);
    for (int i = 0; i < 3 && rc == 0; i++) {
        char base[160], name[192];
        float *part = NULL;
        snprintf(base, sizeof base, bases[i], li);
        snprintf(name, sizeof name, "%s.weight", base);
        if ((rc = read_tensor(ck, b, name, 2, e, e, &part, err)) < 0) break;
        memcpy(w + (size_t)i * e * e, part, sizeof(float) * (size_t)e * e);
        free(part);
        snprintf(name, sizeof name, "%s.bias", base);
        if ((rc = read_tensor(ck, b, name, 1, e, 0, &part, err)) < 0) break;
        memcpy(bias + (size_t)i * e, part, sizeof(float) * e);
        free(part);
    }
    if (rc == 0) rc = linear_init(l, m->wtype, w, bias, 3 * e, e, 0, err);
    free(w);
    free(bias);
    return rc;
}

static int load_layer(tf_model *m, tf_ckpt *ck, bert *b, int li, tf_err *err) {
    enc_layer *l = &b->layers[li];
    const enc_names *nm = b->nm;
    char base[160];
    int rc;
    if ((rc = read_qkv(m, ck, b, li, &l->qkv, err)) < 0) return rc;
#define LIN(field, fmt, n_out, n_in)                                                 \
    snprintf(base, sizeof base, fmt, li);                                            \
    if ((rc = read_linear(ck, b, base, n_out, n_in, m->wtype, &l->field, err)) < 0) return rc;
    LIN(o, nm->o, b->e, b->e);
    LIN(ff1, nm->ff1, b->n_inner, b->e);
    LIN(ff2, nm->ff2, b->e, b->n_inner);
#undef LIN
    snprintf(base, sizeof base, nm->ln_attn, li);
    if ((rc = read_ln(ck, b, base, &l->ln1_w, &l->ln1_b, err)) < 0) return rc;
    snprintf(base, sizeof base, nm->ln_out, li);
    return read_ln(ck, b, base, &l->ln2_w, &l->ln2_b, err);
}

static int read_config(bert *b, const tf_hf_config *cfg, tf_err *err) {
    const enc_names *nm = b->nm;
    int rc;
    if ((rc = hfc_int(cfg, nm->k_dim, 768, 1, 16384, &b->e, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, nm->k_layers, 12, 1, 256, &b->n_layer, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, nm->k_heads, 12, 1, 1024, &b->n_head, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, nm->k_inner, 4 * b->e, 1, 1 << 20, &b->n_inner, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "vocab_size", 30522, 1, 1 << 22, &b->n_vocab, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "max_position_embeddings", 512, 1, 1 << 16, &b->n_pos, err)) < 0)
        return rc;
    double eps = 1e-12; /* DistilBERT hard-codes it */
    if (nm->k_eps && (rc = hfc_float(cfg, nm->k_eps, 1e-12, 0, 1, &eps, err)) < 0) return rc;
    b->eps = (float)eps;
    if (b->e % b->n_head != 0)
        return err_set(err, TF_EFORMAT, "config.json: %s %d is not a multiple of %s %d", nm->k_dim,
                       b->e, nm->k_heads, b->n_head);
    const char *act = hfc_str(cfg, nm->k_act, "gelu");
    if (strcmp(act, "gelu") == 0) b->act = ACT_GELU_ERF;
    else if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0) b->act = ACT_GELU_TANH;
    else if (strcmp(act, "relu") == 0) b->act = ACT_RELU;
    else return err_set(err, TF_EUNSUPPORTED, "config.json: %s \"%s\" is not supported", nm->k_act, act);
    const char *pe = hfc_str(cfg, "position_embedding_type", "absolute");
    if (strcmp(pe, "absolute") != 0)
        return err_set(err, TF_EUNSUPPORTED, "config.json: position_embedding_type \"%s\"", pe);
    const char *pt = hfc_str(cfg, "problem_type", "single_label_classification");
    if (strcmp(pt, "single_label_classification") != 0)
        return err_set(err, TF_EUNSUPPORTED, "config.json: problem_type \"%s\" (only "
                       "single_label_classification)", pt);
    return 0;
}

/* id2label {"0": "NEGATIVE", ...} (every id in [0, n) named once), else num_labels
 * "LABEL_i" names, else transformers' default of two. */
static int read_labels(tf_model *m, const tf_hf_config *cfg, tf_err *err) {
    const json_t *map = json_object_get(hfc_json(cfg), "id2label");
    int n = 2, rc;
    if (json_is_object(map) && json_object_size(map) > 0) n = (int)json_object_size(map);
    else if ((rc = hfc_int(cfg, "num_labels", 2, 1, 1 << 16, &n, err)) < 0) return rc;
    if (n < 2)
        return err_set(err, TF_EUNSUPPORTED, "config.json: %d label(s); a one-label head is a "
                       "regression, not a classifier", n);
    if (!(m->labels = calloc((size_t)n, sizeof *m->labels))) return err_set(err, TF_ENOMEM, "labels");
    m->n_labels = n;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)map, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*key == 0 || *end || id < 0 || id >= n || !json_is_string(v) || m->labels[id])
            return err_set(err, TF_EFORMAT, "config.json: id2label entry \"%.32s\" (want ids 0..%d "
                           "once each, with string labels)", key, n - 1);
        if (!(m->labels[id] = strdup(json_string_value(v)))) return err_set(err, TF_ENOMEM, "labels");
    }
    for (int i = 0; i < n; i++) {
        if (m->labels[i]) continue;
        char name[32];
        snprintf(name, sizeof name, "LABEL_%d", i);
        if (!(m->labels[i] = strdup(name))) return err_set(err, TF_ENOMEM, "labels");
    }
    return 0;
}

static void bert_free(tf_model *m) {
    bert *b = m->impl;
    if (!b) return;
    linear_close(&b->word);
    free(b->pos);
    free(b->type0);
    free(b->eln_w);
    free(b->eln_b);
    if (b->layers) {
        for (int i = 0; i < b->n_layer; i++) {
            enc_layer *l = &b->layers[i];
            linear_close(&l->qkv);
            linear_close(&l->o);
            linear_close(&l->ff1);
            linear_close(&l->ff2);
            free(l->ln1_w);
            free(l->ln1_b);
            free(l->ln2_w);
            free(l->ln2_b);
        }
    }
    free(b->layers);
    linear_close(&b->head1);
    linear_close(&b->head2);
    free(b->x);
    free(b->h);
    free(b->qkv);
    free(b->att);
    free(b->ff);
    free(b->cls);
    free(b->cls2);
    free(b->row_of);
    free(b->scores);
    gemm_ws_close(&b->ws);
    free(b);
    m->impl = NULL;
}

static int enc_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, const enc_names *nm,
                    tf_err *err) {
    bert *b = calloc(1, sizeof *b);
    if (!b) return err_set(err, TF_ENOMEM, "encoder");
    m->impl = b;
    b->nm = nm;
    gemm_ws_init(&b->ws);
    int rc;
    if ((rc = read_config(b, cfg, err)) < 0 || (rc = read_labels(m, cfg, err)) < 0) return rc;
    const int e = b->e;
    float *w = NULL;
    if ((rc = read_tensor(ck, b, nm->word, 2, b->n_vocab, e, &w, err)) < 0) return rc;
    rc = linear_init(&b->word, m->wtype, w, NULL, b->n_vocab, e, 0, err);
    free(w);
    if (rc < 0) return rc;
    if ((rc = read_tensor(ck, b, nm->pos, 2, b->n_pos, e, &b->pos, err)) < 0) return rc;
    if (nm->type) {
        int n_types;
        if ((rc = hfc_int(cfg, "type_vocab_size", 2, 1, 1 << 16, &n_types, err)) < 0) return rc;
        if ((rc = read_tensor(ck, b, nm->type, 2, n_types, e, &w, err)) < 0) return rc;
        b->type0 = realloc(w, sizeof(float) * e); /* only token type 0 is ever used */
        if (!b->type0) {
            free(w);
            return err_set(err, TF_ENOMEM, "token type embedding");
        }
    }
    if ((rc = read_ln(ck, b, nm->emb_ln, &b->eln_w, &b->eln_b, err)) < 0) return rc;
    if (!(b->layers = calloc((size_t)b->n_layer, sizeof *b->layers)))
        return err_set(err, TF_ENOMEM, "layers");
    for (int i = 0; i < b->n_layer; i++)
        if ((rc = load_layer(m, ck, b, i, err)) < 0) return rc;
    if ((rc = read_linear(ck, b, nm->head1, e, e, TF_WTYPE_F32, &b->head1, err)) < 0) return rc;
    if ((rc = read_linear(ck, b, nm->head2, m->n_labels, e, TF_WTYPE_F32, &b->head2, err)) < 0)
        return rc;
    b->scores_ld = attn_full_blocked_scratch(b->n_pos, e / b->n_head);
    b->scores = malloc(sizeof(float) * b->scores_ld * (size_t)pool_size(m->pool));
    if (!b->scores) return err_set(err, TF_ENOMEM, "attention scratch");

    int64_t per_layer = 4LL * e * e + 4LL * e + 2LL * e * b->n_inner + b->n_inner + e + 4LL * e;
    m->info.n_params = (int64_t)(b->n_vocab + b->n_pos + (nm->type ? 2 : 0)) * e + 2LL * e +
                       per_layer * b->n_layer + (int64_t)e * e + e +
                       (int64_t)m->n_labels * (e + 1);
    size_t bytes = linear_bytes(&b->word) + sizeof(float) * ((size_t)b->n_pos * e + 3 * (size_t)e) +
                   linear_bytes(&b->head1) + linear_bytes(&b->head2);
    for (int i = 0; i < b->n_layer; i++) {
        enc_layer *l = &b->layers[i];
        bytes += linear_bytes(&l->qkv) + linear_bytes(&l->o) + linear_bytes(&l->ff1) +
                 linear_bytes(&l->ff2) + 4 * sizeof(float) * (size_t)e;
    }
    m->info.weight_bytes = bytes;
    m->info.n_ctx = b->n_pos;
    m->info.vocab_size = b->n_vocab;
    m->attn_n_layer = b->n_layer;
    m->attn_n_head = b->n_head;
    return 0;
}

static int bert_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err) {
    return enc_load(m, cfg, ck, &bert_names, err);
}

static int distilbert_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err) {
    return enc_load(m, cfg, ck, &distilbert_names, err);
}

/* ---- forward ---------------------------------------------------------------------------- */

/* The layers run over groups of whole texts of about this many rows (a longer text is a
 * group alone), all layers for one group before the next. Over a whole large batch the
 * activations left the caches (32 texts x 128 tokens: 50 MB of FFN activation, 37 MB of
 * q|k|v), and GELU, the activation quantization and the K transpose became memory-bound
 * passes (GELU + quant_rows 16% of that forward under perf, 9% at 128 rows). Measured on
 * 32 x 128 tokens, --threads 1, min CPU ms of 3 interleaved runs, FFN alone in chunks:
 * whole batch 694, 512 rows 624, 256 rows 606, 128 rows 584; then whole groups (all
 * layers per group): 128 rows 546 / 552 / 555 against 256 rows 565 / 595 / 625. */
#define GROUP_ROWS 128

static int ensure_scratch(bert *b, int rows, int group_rows, int n_texts, tf_err *err) {
    if (n_texts > b->cap_texts) {
        int *r = realloc(b->row_of, sizeof(int) * (size_t)n_texts);
        if (r) b->row_of = r;
        float *c = realloc(b->cls, sizeof(float) * (size_t)n_texts * b->e);
        if (c) b->cls = c;
        float *c2 = realloc(b->cls2, sizeof(float) * (size_t)n_texts * b->e);
        if (c2) b->cls2 = c2;
        if (!r || !c || !c2) return err_set(err, TF_ENOMEM, "scratch for %d texts", n_texts);
        b->cap_texts = n_texts;
    }
    if (rows > b->cap_rows) {
        float *p = realloc(b->x, sizeof(float) * (size_t)rows * b->e);
        if (!p) return err_set(err, TF_ENOMEM, "scratch for %d tokens", rows);
        b->x = p;
        b->cap_rows = rows;
    }
    if (group_rows <= b->cap_group_rows) return 0;
    const size_t e = (size_t)b->e;
    float **bufs[] = {&b->h, &b->qkv, &b->att, &b->ff};
    const size_t widths[] = {e, 3 * e, e, (size_t)b->n_inner};
    for (int i = 0; i < 4; i++) {
        float *p = realloc(*bufs[i], sizeof(float) * (size_t)group_rows * widths[i]);
        if (!p) return err_set(err, TF_ENOMEM, "scratch for %d tokens", group_rows);
        *bufs[i] = p;
    }
    b->cap_group_rows = group_rows;
    return 0;
}

typedef struct attn_job {
    bert *b;
    const int *n_ids;
    int t0, n_texts, layer; /* texts [t0, t0 + n_texts), rows from row_of[t0] in the group scratch */
    const tf_cls_attn *attn; /* borrowed, [all texts] or NULL */
    tf_attn_shape shape;
} attn_job;

/* Work items are (text, head) pairs dealt round-robin to the pool threads. */
static void attn_worker(void *ctx, int ith, int nth) {
    attn_job *j = ctx;
    bert *b = j->b;
    float *scores = b->scores + (size_t)ith * b->scores_ld;
    const int n_items = j->n_texts * b->n_head;
    const size_t w = 3 * (size_t)b->e;
    for (int item = ith; item < n_items; item += nth) {
        const int ti = j->t0 + item / b->n_head, h = item % b->n_head;
        const size_t r = (size_t)(b->row_of[ti] - b->row_of[j->t0]);
        const float *q = b->qkv + r * w;
        tf_attn_shape shape = j->shape;
        const tf_cls_attn *a = j->attn ? &j->attn[ti] : NULL;
        const size_t pair0 = (size_t)j->layer * b->n_head;
        if (a && a->stats) {
            shape.stats = a->stats + pair0;
            shape.n_prompt = j->n_ids[ti]; /* an encoder has no generated keys */
        }
        if (a && a->full) {
            shape.capture = a->full + pair0;
            shape.capture_ld = j->n_ids[ti];
        }
        attn_full_blocked(&shape, q, j->n_ids[ti], q + b->e, q + 2 * b->e, j->n_ids[ti], NULL,
                          0, h, h + 1, b->att + r * b->e, scores);
    }
}

/* The element-wise passes between the matrix products, split over the pool by rows: the
 * FFN activation over (rows, n_inner) and x = LN(x + h) over (rows, e). On the caller alone
 * they left the other pool threads spinning. */
typedef struct rows_job {
    float *x;          /* (rows, n), in place */
    const float *add;  /* NULL, or (rows, n) added to x before the norm */
    const float *w, *bias;
    int rows, n, act;  /* act: ACT_* for act_worker */
    float eps;
} rows_job;

static void act_worker(void *ctx, int ith, int nth) {
    rows_job *j = ctx;
    int r0, r1;
    pool_split(j->rows, 1, ith, nth, &r0, &r1);
    float *x = j->x + (size_t)r0 * j->n;
    const size_t len = (size_t)(r1 - r0) * j->n;
    if (j->act == ACT_GELU_ERF) ops_gelu_erf(x, len);
    else if (j->act == ACT_GELU_TANH) ops_gelu_tanh(x, len);
    else ops_relu(x, len);
}

static void add_norm_worker(void *ctx, int ith, int nth) {
    rows_job *j = ctx;
    int r0, r1;
    pool_split(j->rows, 1, ith, nth, &r0, &r1);
    const size_t off = (size_t)r0 * j->n;
    if (j->add) ops_add(j->x + off, j->add + off, (size_t)(r1 - r0) * j->n);
    ops_layernorm(j->x + off, j->x + off, r1 - r0, j->n, j->w, j->bias, j->eps);
}

/* x = LN(x + add) (add may be NULL), in place over (rows, e). */
static void add_norm(tf_model *m, const bert *b, float *x, const float *add, const float *w,
                     const float *bias, int rows) {
    rows_job job = {.x = x, .add = add, .w = w, .bias = bias, .rows = rows, .n = b->e,
                    .eps = b->eps};
    pool_run(m->pool, add_norm_worker, &job);
}

/* Layer li over the texts [t0, t1), whose rows x (n_rows of them) are contiguous. */
static void layer_forward(tf_model *m, bert *b, int li, const int *n_ids, int t0, int t1,
                          const tf_cls_attn *attn, float *x, int n_rows) {
    enc_layer *l = &b->layers[li];
    const int e = b->e, dh = e / b->n_head;
    /* x = LN(x + o(attn(qkv(x)))) */
    linear_forward(&l->qkv, m->pool, &b->ws, x, n_rows, b->qkv);
    attn_job job = {.b = b, .n_ids = n_ids, .t0 = t0, .n_texts = t1 - t0, .layer = li, .attn = attn,
                    .shape = {.n_head = b->n_head, .n_kv_head = b->n_head, .d_head = dh,
                              .scale = 1.0f / sqrtf((float)dh), .ldq = 3 * e, .ldkv = 3 * e,
                              .ldo = e}};
    pool_run(m->pool, attn_worker, &job);
    linear_forward(&l->o, m->pool, &b->ws, b->att, n_rows, b->h);
    add_norm(m, b, x, b->h, l->ln1_w, l->ln1_b, n_rows);
    /* x = LN(x + ff2(act(ff1(x)))) */
    linear_forward(&l->ff1, m->pool, &b->ws, x, n_rows, b->ff);
    rows_job act = {.x = b->ff, .rows = n_rows, .n = b->n_inner, .act = b->act};
    pool_run(m->pool, act_worker, &act);
    linear_forward(&l->ff2, m->pool, &b->ws, b->ff, n_rows, b->h);
    add_norm(m, b, x, b->h, l->ln2_w, l->ln2_b, n_rows);
}

static int bert_classify(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                         const tf_cls_attn *attn, float *probs, tf_err *err) {
    bert *b = m->impl;
    const int e = b->e;
    int rows = 0, group_rows = GROUP_ROWS;
    for (int i = 0; i < n_texts; i++) {
        rows += n_ids[i];
        if (n_ids[i] > group_rows) group_rows = n_ids[i];
    }
    int rc = ensure_scratch(b, rows, group_rows, n_texts, err);
    if (rc < 0) return rc;
    /* x = LN(word[id] + pos[p] (+ type[0])) */
    int row = 0;
    for (int ti = 0; ti < n_texts; ti++) {
        b->row_of[ti] = row;
        for (int p = 0; p < n_ids[ti]; p++, row++) {
            float *xr = b->x + (size_t)row * e;
            linear_row(&b->word, ids[ti][p], xr);
            ops_add(xr, b->pos + (size_t)p * e, (size_t)e);
            if (b->type0) ops_add(xr, b->type0, (size_t)e);
        }
    }
    add_norm(m, b, b->x, NULL, b->eln_w, b->eln_b, rows);
    /* every layer over one group of texts of at most GROUP_ROWS rows (or one longer text),
     * then the next group */
    for (int t0 = 0, t1; t0 < n_texts; t0 = t1) {
        int n_rows = n_ids[t0];
        for (t1 = t0 + 1; t1 < n_texts && n_rows + n_ids[t1] <= GROUP_ROWS; t1++)
            n_rows += n_ids[t1];
        float *x = b->x + (size_t)b->row_of[t0] * e;
        for (int li = 0; li < b->n_layer; li++) layer_forward(m, b, li, n_ids, t0, t1, attn, x, n_rows);
    }
    /* head over each text's first ([CLS]) row */
    for (int ti = 0; ti < n_texts; ti++)
        memcpy(b->cls + (size_t)ti * e, b->x + (size_t)b->row_of[ti] * e, sizeof(float) * e);
    linear_forward(&b->head1, m->pool, &b->ws, b->cls, n_texts, b->cls2);
    const size_t nc = (size_t)n_texts * e;
    if (b->nm->head_tanh)
        for (size_t i = 0; i < nc; i++) b->cls2[i] = tanhf(b->cls2[i]);
    else
        ops_relu(b->cls2, nc);
    linear_forward(&b->head2, m->pool, &b->ws, b->cls2, n_texts, probs);
    for (int ti = 0; ti < n_texts; ti++) ops_softmax(probs + (size_t)ti * m->n_labels, m->n_labels);
    return 0;
}

const tf_family tf_family_bert = {
    .model_type = "bert",
    .architecture = "BertForSequenceClassification",
    .tasks = TF_TASK_SENTIMENT,
    .load = bert_load,
    .free_impl = bert_free,
    .classify = bert_classify,
};

const tf_family tf_family_distilbert = {
    .model_type = "distilbert",
    .architecture = "DistilBertForSequenceClassification",
    .tasks = TF_TASK_SENTIMENT,
    .load = distilbert_load,
    .free_impl = bert_free,
    .classify = bert_classify,
};
