/* DESIGN: GPT2LMHeadModel as transformers computes it (modeling_gpt2.py),
 * for a batch of sequences at once. All new tokens of all sequences are rows
 * of one activation matrix, so every linear layer is one matrix product over
 * the weights (continuous batching); only attention is per sequence, over its
 * own KV cache, split across the pool by (sequence, head). Conv1D weights are
 * stored [in, out] and transposed once at load. The tied LM head reuses wte
 * (int8 rows serve both the lookup and the head, so the matrix is stored once). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/gemm.h"
#include "core/ops.h"
#include "models/model_impl.h"

typedef struct gpt2_layer {
    float *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* owned, [n_embd] */
    tf_linear c_attn;                     /* n_embd -> 3·n_embd (q | k | v) */
    tf_linear attn_proj;                  /* n_embd -> n_embd */
    tf_linear c_fc;                       /* n_embd -> n_inner */
    tf_linear mlp_proj;                   /* n_inner -> n_embd */
} gpt2_layer;

typedef struct gpt2 {
    int n_embd, n_head, n_layer, n_ctx, n_vocab, n_inner;
    float eps;
    int gelu_erf;        /* activation "gelu" (erf) instead of the tanh form */
    int scale_by_layer;  /* scale_attn_by_inverse_layer_idx */
    int scale_attn;      /* scale_attn_weights */
    tf_linear wte;       /* [n_vocab, n_embd]: token lookup and the tied head */
    tf_linear lm_head;   /* only when untied */
    int untied;
    float *wpe;          /* owned, [n_ctx, n_embd] */
    float *lnf_w, *lnf_b;
    gpt2_layer *layers;  /* owned, [n_layer] */
    /* step scratch, owned; rows = tokens in the step */
    int cap_rows;
    float *x, *h, *qkv, *att, *ff, *last;
    float *scores;       /* [n_threads][n_ctx] */
    int *row_of_seq;     /* [cap_seqs] */
    int cap_seqs;
    tf_gemm_ws ws;
} gpt2;

/* ---- loading ---------------------------------------------------------------------------- */

static const char *const prefixes[] = {"transformer.", NULL};

static int read_tensor(tf_ckpt *ck, const char *name, int n_dims, int64_t d0, int64_t d1,
                       float **out, tf_err *err) {
    return ckpt_load_f32(ck, name, prefixes, n_dims, d0, d1, out, err);
}

static int read_vec(tf_ckpt *ck, const char *name, int64_t n, float **out, tf_err *err) {
    return read_tensor(ck, name, 1, n, 0, out, err);
}

/* A Conv1D layer: weight [n_in, n_out], bias [n_out]. */
static int read_conv1d(tf_model *m, tf_ckpt *ck, const char *base, int n_in, int n_out,
                       tf_linear *l, tf_err *err) {
    char name[160];
    float *w = NULL, *b = NULL;
    snprintf(name, sizeof name, "%s.weight", base);
    int rc = read_tensor(ck, name, 2, n_in, n_out, &w, err);
    if (rc == 0) {
        snprintf(name, sizeof name, "%s.bias", base);
        rc = read_vec(ck, name, n_out, &b, err);
    }
    if (rc == 0) rc = linear_init(l, m->wtype, w, b, n_out, n_in, 1, err);
    free(w);
    free(b);
    return rc;
}

static int read_config(gpt2 *g, const tf_hf_config *cfg, tf_err *err) {
    int rc;
    if ((rc = hfc_int(cfg, "n_embd", 768, 1, 16384, &g->n_embd, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "n_layer", 12, 1, 256, &g->n_layer, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "n_head", 12, 1, 1024, &g->n_head, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "vocab_size", 50257, 1, 1 << 22, &g->n_vocab, err)) < 0) return rc;
    int n_ctx_old;
    if ((rc = hfc_int(cfg, "n_ctx", 1024, 1, 1 << 20, &n_ctx_old, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "n_positions", n_ctx_old, 1, 1 << 20, &g->n_ctx, err)) < 0) return rc;
    if (hfc_has(cfg, "n_inner")) {
        if ((rc = hfc_int(cfg, "n_inner", 0, 1, 1 << 20, &g->n_inner, err)) < 0) return rc;
    } else {
        g->n_inner = 4 * g->n_embd;
    }
    double eps;
    if ((rc = hfc_float(cfg, "layer_norm_epsilon", 1e-5, 0, 1, &eps, err)) < 0) return rc;
    g->eps = (float)eps;
    if ((rc = hfc_bool(cfg, "scale_attn_weights", 1, &g->scale_attn, err)) < 0) return rc;
    if ((rc = hfc_bool(cfg, "scale_attn_by_inverse_layer_idx", 0, &g->scale_by_layer, err)) < 0)
        return rc;
    if (g->n_embd % g->n_head != 0)
        return err_set(err, TF_EFORMAT, "config.json: n_embd %d is not a multiple of n_head %d",
                       g->n_embd, g->n_head);
    const char *act = hfc_str(cfg, "activation_function", "gelu_new");
    if (strcmp(act, "gelu_new") == 0 || strcmp(act, "gelu_pytorch_tanh") == 0 ||
        strcmp(act, "gelu_fast") == 0) {
        g->gelu_erf = 0;
    } else if (strcmp(act, "gelu") == 0) {
        g->gelu_erf = 1;
    } else {
        return err_set(err, TF_EUNSUPPORTED, "config.json: activation_function \"%s\" is not supported",
                       act);
    }
    return 0;
}

static void gpt2_free(tf_model *m) {
    gpt2 *g = m->impl;
    if (!g) return;
    linear_close(&g->wte);
    linear_close(&g->lm_head);
    free(g->wpe);
    free(g->lnf_w);
    free(g->lnf_b);
    if (g->layers) {
        for (int i = 0; i < g->n_layer; i++) {
            gpt2_layer *l = &g->layers[i];
            free(l->ln1_w);
            free(l->ln1_b);
            free(l->ln2_w);
            free(l->ln2_b);
            linear_close(&l->c_attn);
            linear_close(&l->attn_proj);
            linear_close(&l->c_fc);
            linear_close(&l->mlp_proj);
        }
    }
    free(g->layers);
    free(g->x);
    free(g->h);
    free(g->qkv);
    free(g->att);
    free(g->ff);
    free(g->last);
    free(g->scores);
    free(g->row_of_seq);
    gemm_ws_close(&g->ws);
    free(g);
    m->impl = NULL;
}

static int load_layer(tf_model *m, gpt2 *g, tf_ckpt *ck, int i, tf_err *err) {
    gpt2_layer *l = &g->layers[i];
    const int e = g->n_embd;
    char name[128];
    int rc;
#define VEC(field, suffix)                                        \
    snprintf(name, sizeof name, "h.%d." suffix, i);               \
    if ((rc = read_vec(ck, name, e, &l->field, err)) < 0) return rc;
    VEC(ln1_w, "ln_1.weight");
    VEC(ln1_b, "ln_1.bias");
    VEC(ln2_w, "ln_2.weight");
    VEC(ln2_b, "ln_2.bias");
#undef VEC
#define CONV(field, suffix, n_in, n_out)                                          \
    snprintf(name, sizeof name, "h.%d." suffix, i);                               \
    if ((rc = read_conv1d(m, ck, name, n_in, n_out, &l->field, err)) < 0) return rc;
    CONV(c_attn, "attn.c_attn", e, 3 * e);
    CONV(attn_proj, "attn.c_proj", e, e);
    CONV(c_fc, "mlp.c_fc", e, g->n_inner);
    CONV(mlp_proj, "mlp.c_proj", g->n_inner, e);
#undef CONV
    return 0;
}

static int gpt2_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err) {
    gpt2 *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, TF_ENOMEM, "gpt2");
    m->impl = g;
    gemm_ws_init(&g->ws);
    int rc = read_config(g, cfg, err);
    if (rc < 0) return rc;
    const int e = g->n_embd;

    float *w = NULL;
    if ((rc = read_tensor(ck, "wte.weight", 2, g->n_vocab, e, &w, err)) < 0) return rc;
    rc = linear_init(&g->wte, m->wtype, w, NULL, g->n_vocab, e, 0, err);
    free(w);
    if (rc < 0) return rc;
    if ((rc = read_tensor(ck, "wpe.weight", 2, g->n_ctx, e, &g->wpe, err)) < 0) return rc;
    if ((rc = read_vec(ck, "ln_f.weight", e, &g->lnf_w, err)) < 0) return rc;
    if ((rc = read_vec(ck, "ln_f.bias", e, &g->lnf_b, err)) < 0) return rc;

    /* GPT2LMHeadModel ties lm_head to wte unless the config says otherwise; a stored
     * lm_head.weight is then a copy and is ignored. */
    int tie = 1;
    if ((rc = hfc_bool(cfg, "tie_word_embeddings", 1, &tie, err)) < 0) return rc;
    const tf_st_tensor *head = ckpt_find(ck, "lm_head.weight", NULL);
    if (!tie) {
        if (!head)
            return err_set(err, TF_ENOTFOUND,
                           "tie_word_embeddings is false but the checkpoint has no lm_head.weight");
        if ((rc = read_tensor(ck, "lm_head.weight", 2, g->n_vocab, e, &w, err)) < 0) return rc;
        rc = linear_init(&g->lm_head, m->wtype, w, NULL, g->n_vocab, e, 0, err);
        free(w);
        if (rc < 0) return rc;
        g->untied = 1;
    }

    g->layers = calloc((size_t)g->n_layer, sizeof *g->layers);
    if (!g->layers) return err_set(err, TF_ENOMEM, "layers");
    for (int i = 0; i < g->n_layer; i++)
        if ((rc = load_layer(m, g, ck, i, err)) < 0) return rc;

    g->scores = malloc(sizeof(float) * (size_t)g->n_ctx * (size_t)pool_size(m->pool));
    if (!g->scores) return err_set(err, TF_ENOMEM, "attention scratch");

    int64_t per_layer = 4LL * e + (int64_t)e * 3 * e + 3 * e + (int64_t)e * e + e +
                        (int64_t)e * g->n_inner + g->n_inner + (int64_t)g->n_inner * e + e;
    m->info.n_params = (int64_t)g->n_vocab * e + (int64_t)g->n_ctx * e + 2LL * e +
                       per_layer * g->n_layer + (g->untied ? (int64_t)g->n_vocab * e : 0);
    size_t bytes = linear_bytes(&g->wte) + linear_bytes(&g->lm_head) +
                   sizeof(float) * ((size_t)g->n_ctx * e + 2 * (size_t)e);
    for (int i = 0; i < g->n_layer; i++) {
        gpt2_layer *l = &g->layers[i];
        bytes += linear_bytes(&l->c_attn) + linear_bytes(&l->attn_proj) + linear_bytes(&l->c_fc) +
                 linear_bytes(&l->mlp_proj) + 4 * sizeof(float) * (size_t)e;
    }
    m->info.weight_bytes = bytes;
    m->info.n_ctx = g->n_ctx;
    m->info.vocab_size = g->n_vocab;
    m->kv_n_layer = g->n_layer;
    m->kv_dim = e;
    m->attn_n_head = g->n_head;

    int id;
    if ((rc = hfc_int(cfg, "eos_token_id", -1, -1, g->n_vocab - 1, &id, err)) < 0) return rc;
    m->eos_id = id >= 0 ? id : tok_find(m->tok, "<|endoftext|>");
    if ((rc = hfc_int(cfg, "bos_token_id", -1, -1, g->n_vocab - 1, &id, err)) < 0) return rc;
    m->bos_id = id >= 0 ? id : m->eos_id;
    if (m->eos_id >= g->n_vocab) m->eos_id = -1;
    if (m->bos_id >= g->n_vocab) m->bos_id = -1;
    return 0;
}

/* ---- forward ---------------------------------------------------------------------------- */

static int ensure_rows(gpt2 *g, int rows, int n_seqs, tf_err *err) {
    if (n_seqs > g->cap_seqs) {
        int *r = realloc(g->row_of_seq, sizeof(int) * (size_t)n_seqs);
        float *last = realloc(g->last, sizeof(float) * (size_t)n_seqs * g->n_embd);
        if (r) g->row_of_seq = r;
        if (last) g->last = last;
        if (!r || !last) return err_set(err, TF_ENOMEM, "step scratch for %d sequences", n_seqs);
        g->cap_seqs = n_seqs;
    }
    if (rows <= g->cap_rows) return 0;
    const size_t e = (size_t)g->n_embd;
    /* Sized here, at step boundaries, so linear_forward never has to grow it. */
    const int k_max = g->n_inner > g->n_embd ? g->n_inner : g->n_embd;
    int rc = gemm_ws_reserve(&g->ws, rows, (k_max + 63) / 64 * 64, err);
    if (rc < 0) return rc;
    float **bufs[] = {&g->x, &g->h, &g->qkv, &g->att, &g->ff};
    const size_t widths[] = {e, e, 3 * e, e, (size_t)g->n_inner};
    for (int i = 0; i < 5; i++) {
        float *p = realloc(*bufs[i], sizeof(float) * (size_t)rows * widths[i]);
        if (!p) return err_set(err, TF_ENOMEM, "step scratch for %d tokens", rows);
        *bufs[i] = p;
    }
    g->cap_rows = rows;
    return 0;
}

/* x += add (when add is set), then y = LayerNorm(x) (when w is set), row by row. */
typedef struct norm_job {
    float *x, *y;
    const float *add, *w, *b;
    int rows, n;
    float eps;
} norm_job;

static void norm_worker(void *ctx, int ith, int nth) {
    norm_job *j = ctx;
    int r0, r1;
    pool_split(j->rows, 1, ith, nth, &r0, &r1);
    const size_t off = (size_t)r0 * j->n, len = (size_t)(r1 - r0) * j->n;
    if (j->add) ops_add(j->x + off, j->add + off, len);
    if (j->w) ops_layernorm(j->x + off, j->y + off, r1 - r0, j->n, j->w, j->b, j->eps);
}

/* Residual adds and layer norms are row-wise; with several rows they are split over the
 * pool like GELU. */
static void add_norm(tf_model *m, gpt2 *g, const float *add, const float *w, const float *b,
                     int rows) {
    norm_job job = {.x = g->x, .y = g->h, .add = add, .w = w, .b = b, .rows = rows,
                    .n = g->n_embd, .eps = g->eps};
    if (rows >= 4)
        pool_run(m->pool, norm_worker, &job);
    else
        norm_worker(&job, 0, 1);
}

/* On entry g->h = ln_1(x) of this layer (the previous layer's last step computes it). */
static void layer_forward(tf_model *m, gpt2 *g, int li, tf_seq *const *seqs, const int *n_tokens,
                          int n_seqs, int rows) {
    gpt2_layer *l = &g->layers[li];
    const int e = g->n_embd;
    /* h = attn(ln_1(x)); x += c_proj(h) */
    linear_forward(&l->c_attn, m->pool, &g->ws, g->h, rows, g->qkv);
    for (int si = 0; si < n_seqs; si++) {
        tf_seq *s = seqs[si];
        for (int t = 0; t < n_tokens[si]; t++) {
            const float *src = g->qkv + (size_t)(g->row_of_seq[si] + t) * 3 * e;
            seq_kv_store(s, li, s->n_past + t, src + e, src + 2 * e);
        }
    }
    const int dh = e / g->n_head;
    float scale = g->scale_attn ? 1.0f / sqrtf((float)dh) : 1.0f;
    if (g->scale_by_layer) scale /= (float)(li + 1);
    const tf_attn_shape shape = {.n_head = g->n_head, .n_kv_head = g->n_head, .d_head = dh,
                                 .scale = scale, .ldq = 3 * e, .ldkv = e, .ldo = e,
                                 .kv_dtype = m->kv_dtype};
    step_attn_causal(m->pool, &shape, seqs, n_tokens, g->row_of_seq, n_seqs, li, g->qkv, g->att,
                     g->scores, g->n_ctx);
    /* x += c_proj(h); h = ln_2(x): the norm may overwrite the added rows, since each
     * thread finishes adding its rows before it normalizes them */
    linear_forward(&l->attn_proj, m->pool, &g->ws, g->att, rows, g->h);
    add_norm(m, g, g->h, l->ln2_w, l->ln2_b, rows);
    /* x += c_proj(act(c_fc(ln_2(x)))); the activation runs on each thread's block of the
     * c_fc output as part of the same pool run */
    linear_forward_act(&l->c_fc, m->pool, &g->ws, g->h, rows, g->ff,
                       g->gelu_erf ? TF_LINEAR_ACT_GELU_ERF : TF_LINEAR_ACT_GELU_TANH);
    linear_forward(&l->mlp_proj, m->pool, &g->ws, g->ff, rows, g->h);
    /* ... and the next layer's h = ln_1(x) in the same pass over the rows */
    const gpt2_layer *next = li + 1 < g->n_layer ? &g->layers[li + 1] : NULL;
    add_norm(m, g, g->h, next ? next->ln1_w : NULL, next ? next->ln1_b : NULL, rows);
}

static int gpt2_forward(tf_model *m, tf_seq *const *seqs, const int *n_tokens, int n_seqs,
                        const uint8_t *want_logits, float *logits, tf_err *err) {
    gpt2 *g = m->impl;
    const int e = g->n_embd;
    int rows = 0;
    for (int i = 0; i < n_seqs; i++) rows += n_tokens[i];
    int rc = ensure_rows(g, rows, n_seqs, err);
    if (rc < 0) return rc;

    /* x = wte[token] + wpe[position] */
    int row = 0;
    for (int si = 0; si < n_seqs; si++) {
        tf_seq *s = seqs[si];
        g->row_of_seq[si] = row;
        for (int t = 0; t < n_tokens[si]; t++, row++) {
            const int pos = s->n_past + t;
            float *xr = g->x + (size_t)row * e;
            linear_row(&g->wte, s->tokens[pos], xr);
            ops_add(xr, g->wpe + (size_t)pos * e, (size_t)e);
        }
    }
    add_norm(m, g, NULL, g->layers[0].ln1_w, g->layers[0].ln1_b, rows);
    for (int li = 0; li < g->n_layer; li++) layer_forward(m, g, li, seqs, n_tokens, n_seqs, rows);

    /* ln_f and the head only for the rows whose logits are wanted */
    int n_want = 0;
    for (int si = 0; si < n_seqs; si++) {
        if (!want_logits[si]) continue;
        const int last_row = g->row_of_seq[si] + n_tokens[si] - 1;
        ops_layernorm(g->x + (size_t)last_row * e, g->last + (size_t)n_want * e, 1, e, g->lnf_w,
                      g->lnf_b, g->eps);
        n_want++;
    }
    if (n_want > 0)
        linear_forward(g->untied ? &g->lm_head : &g->wte, m->pool, &g->ws, g->last, n_want, logits);
    for (int si = 0; si < n_seqs; si++) seqs[si]->n_past += n_tokens[si];
    return 0;
}

const tf_family tf_family_gpt2 = {
    .model_type = "gpt2",
    .architecture = "GPT2LMHeadModel",
    .tasks = TF_TASK_GENERATE,
    .load = gpt2_load,
    .free_impl = gpt2_free,
    .forward = gpt2_forward,
};
