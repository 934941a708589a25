/* DESIGN: LlamaForCausalLM as transformers computes it (modeling_llama.py), for a
 * batch of sequences at once, following gpt2.c: all new tokens of all sequences
 * are rows of one activation matrix, so each linear layer is one matrix product;
 * attention runs per (sequence, head) over the sequence's own KV cache.
 *
 * Two fusions at load, exact because int8 scales are per output row:
 * q/k/v_proj become one [q_dim + 2·kv_dim, d] layer and gate/up_proj one
 * [2·ffn, d] layer, so a decode step issues 4 matrix products per layer, not 7.
 * The KV cache holds n_kv_heads heads per position (grouped-query attention) and
 * K is cached after RoPE, as HF's cache does. RoPE cos/sin are computed once per
 * step for each row's position and reused by every layer; no table sized by
 * max_position_embeddings is kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/ops.h"
#include "models/model_impl.h"

typedef struct llama_layer {
    float *attn_norm, *ffn_norm; /* owned, [d] */
    tf_linear qkv;               /* d -> q_dim + 2·kv_dim (q | k | v) */
    tf_linear o_proj;            /* q_dim -> d */
    tf_linear gate_up;           /* d -> 2·ffn (gate | up) */
    tf_linear down;              /* ffn -> d */
} llama_layer;

typedef struct llama {
    int d, n_layer, n_head, n_kv_head, d_head, ffn, n_vocab, n_ctx;
    int q_dim, kv_dim, qkv_dim;
    float eps;
    float *inv_freq;     /* owned, [d_head/2]: rope_theta^(-2j/d_head) as HF's float32 */
    tf_linear embed;     /* [n_vocab, d]: token lookup, and the head when tied */
    tf_linear lm_head;   /* only when untied */
    int untied;
    float *norm;         /* owned, [d] */
    llama_layer *layers; /* owned, [n_layer] */
    /* step scratch, owned; rows = tokens in the step */
    int cap_rows;
    float *x, *h, *qkv, *att, *ff, *cs, *sn, *last;
    float *scores;       /* [n_threads][n_ctx] */
    int *row_of_seq;     /* [cap_seqs] */
    int cap_seqs;
    tf_gemm_ws ws;
} llama;

/* ---- loading ---------------------------------------------------------------------------- */

static const char *const prefixes[] = {"model.", NULL};

/* Reads a [d0, d1] (or [d0] when d1 == 0) tensor into dst, which the caller sized. */
static int read_into(tf_ckpt *ck, const char *name, int64_t d0, int64_t d1, float *dst,
                     tf_err *err) {
    const tf_st_tensor *t = ckpt_find(ck, name, prefixes);
    if (!t) return err_set(err, TF_ENOTFOUND, "checkpoint has no tensor \"%s\"", name);
    int64_t shape[2] = {d0, d1};
    return ckpt_read_f32(ck, t, d1 ? 2 : 1, shape, dst, (size_t)d0 * (size_t)(d1 ? d1 : 1), err);
}

static int read_vec(tf_ckpt *ck, const char *name, int64_t n, float **out, tf_err *err) {
    if (!(*out = malloc(sizeof(float) * (size_t)n))) return err_set(err, TF_ENOMEM, "%s", name);
    return read_into(ck, name, n, 0, *out, err);
}

/* One linear layer whose weight is the row-wise concatenation of n_parts nn.Linear weights
 * (each [rows[i], n_in]) and, when has_bias, of their biases. */
static int read_linear(tf_model *m, tf_ckpt *ck, const char *const *names, const int *rows,
                       int n_parts, int n_in, int has_bias, tf_linear *l, tf_err *err) {
    int n_out = 0;
    for (int i = 0; i < n_parts; i++) n_out += rows[i];
    float *w = malloc(sizeof(float) * (size_t)n_out * n_in);
    float *b = has_bias ? malloc(sizeof(float) * (size_t)n_out) : NULL;
    int rc = 0;
    if (!w || (has_bias && !b)) rc = err_set(err, TF_ENOMEM, "%s", names[0]);
    char name[192];
    for (int i = 0, off = 0; i < n_parts && rc == 0; off += rows[i], i++) {
        snprintf(name, sizeof name, "%s.weight", names[i]);
        rc = read_into(ck, name, rows[i], n_in, w + (size_t)off * n_in, err);
        if (rc == 0 && has_bias) {
            snprintf(name, sizeof name, "%s.bias", names[i]);
            rc = read_into(ck, name, rows[i], 0, b + off, err);
        }
    }
    if (rc == 0) rc = linear_init(l, m->wtype, w, b, n_out, n_in, 0, err);
    free(w);
    free(b);
    return rc;
}

static int read_config(llama *g, const tf_hf_config *cfg, int *attn_bias, int *mlp_bias,
                       tf_err *err) {
    int rc;
    if ((rc = hfc_int(cfg, "hidden_size", 4096, 1, 65536, &g->d, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "num_hidden_layers", 32, 1, 512, &g->n_layer, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "num_attention_heads", 32, 1, 1024, &g->n_head, err)) < 0) return rc;
    /* LlamaConfig: num_key_value_heads defaults to num_attention_heads (plain MHA). */
    if ((rc = hfc_int(cfg, "num_key_value_heads", g->n_head, 1, g->n_head, &g->n_kv_head, err)) < 0)
        return rc;
    if ((rc = hfc_int(cfg, "intermediate_size", 11008, 1, 1 << 20, &g->ffn, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "vocab_size", 32000, 1, 1 << 22, &g->n_vocab, err)) < 0) return rc;
    if ((rc = hfc_int(cfg, "max_position_embeddings", 2048, 1, 1 << 20, &g->n_ctx, err)) < 0)
        return rc;
    if (g->n_head % g->n_kv_head != 0)
        return err_set(err, TF_EFORMAT, "config.json: num_attention_heads %d is not a multiple of "
                       "num_key_value_heads %d", g->n_head, g->n_kv_head);
    int dflt_head = g->d % g->n_head == 0 ? g->d / g->n_head : 0;
    if ((rc = hfc_int(cfg, "head_dim", dflt_head, 2, 4096, &g->d_head, err)) < 0) return rc;
    if (g->d_head <= 0 || g->d_head % 2 != 0)
        return err_set(err, TF_EFORMAT, "config.json: head dimension %d (hidden_size %d / "
                       "num_attention_heads %d) must be a positive even number", g->d_head, g->d,
                       g->n_head);
    double eps, theta;
    if ((rc = hfc_float(cfg, "rms_norm_eps", 1e-6, 0, 1, &eps, err)) < 0) return rc;
    if ((rc = hfc_float(cfg, "rope_theta", 10000.0, 1.0, 1e12, &theta, err)) < 0) return rc;
    g->eps = (float)eps;
    if (hfc_has(cfg, "rope_scaling"))
        return err_set(err, TF_EUNSUPPORTED, "config.json: rope_scaling is not supported");
    const char *act = hfc_str(cfg, "hidden_act", "silu");
    if (strcmp(act, "silu") != 0)
        return err_set(err, TF_EUNSUPPORTED, "config.json: hidden_act \"%s\" (only silu)", act);
    if ((rc = hfc_bool(cfg, "attention_bias", 0, attn_bias, err)) < 0) return rc;
    if ((rc = hfc_bool(cfg, "mlp_bias", 0, mlp_bias, err)) < 0) return rc;
    g->q_dim = g->n_head * g->d_head;
    g->kv_dim = g->n_kv_head * g->d_head;
    g->qkv_dim = g->q_dim + 2 * g->kv_dim;
    /* HF: inv_freq = 1 / base ** (arange(0, dim, 2).float() / dim), in float32. */
    const int half = g->d_head / 2;
    if (!(g->inv_freq = malloc(sizeof(float) * (size_t)half))) return err_set(err, TF_ENOMEM, "rope");
    for (int j = 0; j < half; j++)
        g->inv_freq[j] = (float)(1.0 / pow(theta, (double)(2 * j) / g->d_head));
    return 0;
}

/* A special token id; newer configs may give a list ("eos_token_id": [128001, 128009]),
 * of which the first is used: a sequence stops on one EOS id. */
static int token_id(const tf_hf_config *cfg, const char *key, int dflt, int n_vocab, int *out,
                    tf_err *err) {
    json_t *v = json_object_get(hfc_json(cfg), key);
    if (!json_is_array(v)) return hfc_int(cfg, key, dflt, -1, n_vocab - 1, out, err);
    json_t *first = json_array_get(v, 0);
    json_int_t id = json_is_integer(first) ? json_integer_value(first) : -2;
    if (id < -1 || id >= n_vocab)
        return err_set(err, TF_ERANGE, "%s: %s must be an integer (or a list of them) in [-1, %d]",
                       hfc_path(cfg), key, n_vocab - 1);
    *out = (int)id;
    return 0;
}

static void llama_free(tf_model *m) {
    llama *g = m->impl;
    if (!g) return;
    linear_close(&g->embed);
    linear_close(&g->lm_head);
    free(g->norm);
    free(g->inv_freq);
    if (g->layers) {
        for (int i = 0; i < g->n_layer; i++) {
            llama_layer *l = &g->layers[i];
            free(l->attn_norm);
            free(l->ffn_norm);
            linear_close(&l->qkv);
            linear_close(&l->o_proj);
            linear_close(&l->gate_up);
            linear_close(&l->down);
        }
    }
    free(g->layers);
    float *bufs[] = {g->x, g->h, g->qkv, g->att, g->ff, g->cs, g->sn, g->last, g->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(g->row_of_seq);
    gemm_ws_close(&g->ws);
    free(g);
    m->impl = NULL;
}

static int load_layer(tf_model *m, llama *g, tf_ckpt *ck, int i, int attn_bias, int mlp_bias,
                      tf_err *err) {
    llama_layer *l = &g->layers[i];
    char n[4][96];
    int rc;
    snprintf(n[0], sizeof n[0], "layers.%d.input_layernorm.weight", i);
    if ((rc = read_vec(ck, n[0], g->d, &l->attn_norm, err)) < 0) return rc;
    snprintf(n[0], sizeof n[0], "layers.%d.post_attention_layernorm.weight", i);
    if ((rc = read_vec(ck, n[0], g->d, &l->ffn_norm, err)) < 0) return rc;
    const char *names[3] = {n[0], n[1], n[2]};
    snprintf(n[0], sizeof n[0], "layers.%d.self_attn.q_proj", i);
    snprintf(n[1], sizeof n[1], "layers.%d.self_attn.k_proj", i);
    snprintf(n[2], sizeof n[2], "layers.%d.self_attn.v_proj", i);
    const int qkv_rows[3] = {g->q_dim, g->kv_dim, g->kv_dim};
    if ((rc = read_linear(m, ck, names, qkv_rows, 3, g->d, attn_bias, &l->qkv, err)) < 0) return rc;
    snprintf(n[0], sizeof n[0], "layers.%d.self_attn.o_proj", i);
    if ((rc = read_linear(m, ck, names, &g->d, 1, g->q_dim, attn_bias, &l->o_proj, err)) < 0)
        return rc;
    snprintf(n[0], sizeof n[0], "layers.%d.mlp.gate_proj", i);
    snprintf(n[1], sizeof n[1], "layers.%d.mlp.up_proj", i);
    const int ffn_rows[2] = {g->ffn, g->ffn};
    if ((rc = read_linear(m, ck, names, ffn_rows, 2, g->d, mlp_bias, &l->gate_up, err)) < 0)
        return rc;
    snprintf(n[0], sizeof n[0], "layers.%d.mlp.down_proj", i);
    return read_linear(m, ck, names, &g->d, 1, g->ffn, mlp_bias, &l->down, err);
}

static int llama_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err) {
    llama *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, TF_ENOMEM, "llama");
    m->impl = g;
    gemm_ws_init(&g->ws);
    int attn_bias = 0, mlp_bias = 0;
    int rc = read_config(g, cfg, &attn_bias, &mlp_bias, err);
    if (rc < 0) return rc;
    const int d = g->d;

    const char *names[1] = {"embed_tokens"};
    if ((rc = read_linear(m, ck, names, &g->n_vocab, 1, d, 0, &g->embed, err)) < 0) return rc;
    if ((rc = read_vec(ck, "norm.weight", d, &g->norm, err)) < 0) return rc;
    /* LlamaConfig.tie_word_embeddings defaults to false: the head is lm_head.weight. */
    int tie = 0;
    if ((rc = hfc_bool(cfg, "tie_word_embeddings", 0, &tie, err)) < 0) return rc;
    if (!tie) {
        names[0] = "lm_head";
        if ((rc = read_linear(m, ck, names, &g->n_vocab, 1, d, 0, &g->lm_head, err)) < 0) return rc;
        g->untied = 1;
    }
    g->layers = calloc((size_t)g->n_layer, sizeof *g->layers);
    if (!g->layers) return err_set(err, TF_ENOMEM, "layers");
    for (int i = 0; i < g->n_layer; i++)
        if ((rc = load_layer(m, g, ck, i, attn_bias, mlp_bias, err)) < 0) return rc;

    g->scores = malloc(sizeof(float) * (size_t)g->n_ctx * (size_t)pool_size(m->pool));
    if (!g->scores) return err_set(err, TF_ENOMEM, "attention scratch");

    int64_t per_layer = 2LL * d + (int64_t)d * g->qkv_dim + (int64_t)g->q_dim * d +
                        3LL * d * g->ffn +
                        (attn_bias ? g->qkv_dim + d : 0) + (mlp_bias ? 2LL * g->ffn + d : 0);
    m->info.n_params = (int64_t)g->n_vocab * d * (g->untied ? 2 : 1) + d + per_layer * g->n_layer;
    size_t bytes = linear_bytes(&g->embed) + linear_bytes(&g->lm_head) + sizeof(float) * (size_t)d;
    for (int i = 0; i < g->n_layer; i++) {
        llama_layer *l = &g->layers[i];
        bytes += linear_bytes(&l->qkv) + linear_bytes(&l->o_proj) + linear_bytes(&l->gate_up) +
                 linear_bytes(&l->down) + 2 * sizeof(float) * (size_t)d;
    }
    m->info.weight_bytes = bytes;
    m->info.n_ctx = g->n_ctx;
    m->info.vocab_size = g->n_vocab;
    m->kv_n_layer = g->n_layer;
    m->kv_dim = g->kv_dim;
    m->attn_n_head = g->n_head;

    /* LlamaConfig defaults: bos 1, eos 2. */
    if ((rc = token_id(cfg, "bos_token_id", 1, g->n_vocab, &m->bos_id, err)) < 0) return rc;
    return token_id(cfg, "eos_token_id", 2, g->n_vocab, &m->eos_id, err);
}

/* ---- forward ---------------------------------------------------------------------------- */

static int ensure_rows(llama *g, int rows, int n_seqs, tf_err *err) {
    if (n_seqs > g->cap_seqs) {
        int *r = realloc(g->row_of_seq, sizeof(int) * (size_t)n_seqs);
        if (r) g->row_of_seq = r;
        float *last = realloc(g->last, sizeof(float) * (size_t)n_seqs * g->d);
        if (last) g->last = last;
        if (!r || !last) return err_set(err, TF_ENOMEM, "step scratch for %d sequences", n_seqs);
        g->cap_seqs = n_seqs;
    }
    if (rows <= g->cap_rows) return 0;
    const size_t half = (size_t)g->d_head / 2;
    float **bufs[] = {&g->x, &g->h, &g->qkv, &g->att, &g->ff, &g->cs, &g->sn};
    const size_t widths[] = {(size_t)g->d, (size_t)g->d, (size_t)g->qkv_dim, (size_t)g->q_dim,
                             2 * (size_t)g->ffn, half, half};
    for (int i = 0; i < 7; i++) {
        float *p = realloc(*bufs[i], sizeof(float) * (size_t)rows * widths[i]);
        if (!p) return err_set(err, TF_ENOMEM, "step scratch for %d tokens", rows);
        *bufs[i] = p;
    }
    g->cap_rows = rows;
    return 0;
}

static void layer_forward(tf_model *m, llama *g, int li, tf_seq *const *seqs, const int *n_tokens,
                          int n_seqs, int rows) {
    llama_layer *l = &g->layers[li];
    const int d = g->d, half = g->d_head / 2;
    /* h = input_layernorm(x); q, k, v = q_proj(h), k_proj(h), v_proj(h) */
    ops_rmsnorm(g->x, g->h, rows, d, l->attn_norm, g->eps);
    linear_forward(&l->qkv, m->pool, &g->ws, g->h, rows, g->qkv);
    /* q, k = apply_rotary_pos_emb(q, k, cos, sin); past_key_value.update(k, v) */
    for (int si = 0; si < n_seqs; si++) {
        tf_seq *s = seqs[si];
        for (int t = 0; t < n_tokens[si]; t++) {
            const int row = g->row_of_seq[si] + t;
            float *q = g->qkv + (size_t)row * g->qkv_dim, *k = q + g->q_dim, *v = k + g->kv_dim;
            const float *cs = g->cs + (size_t)row * half, *sn = g->sn + (size_t)row * half;
            ops_rope_rotate_half(q, g->n_head, g->d_head, cs, sn);
            ops_rope_rotate_half(k, g->n_kv_head, g->d_head, cs, sn);
            seq_kv_store(s, li, s->n_past + t, k, v);
        }
    }
    /* softmax(q·kᵀ / sqrt(head_dim) + causal mask)·v, kv heads repeated n_head / n_kv_head times */
    const tf_attn_shape shape = {.n_head = g->n_head, .n_kv_head = g->n_kv_head, .d_head = g->d_head,
                              .scale = 1.0f / sqrtf((float)g->d_head), .ldq = g->qkv_dim,
                              .ldkv = g->kv_dim, .ldo = g->q_dim, .kv_dtype = m->kv_dtype};
    step_attn_causal(m->pool, &shape, seqs, n_tokens, g->row_of_seq, n_seqs, li, g->qkv, g->att,
                     g->scores, g->n_ctx);
    /* x = x + o_proj(attn) */
    linear_forward(&l->o_proj, m->pool, &g->ws, g->att, rows, g->h);
    ops_add(g->x, g->h, (size_t)rows * d);
    /* x = x + down_proj(silu(gate_proj(h)) * up_proj(h)), h = post_attention_layernorm(x) */
    ops_rmsnorm(g->x, g->h, rows, d, l->ffn_norm, g->eps);
    linear_forward(&l->gate_up, m->pool, &g->ws, g->h, rows, g->ff);
    for (int r = 0; r < rows; r++) {
        float *gu = g->ff + (size_t)r * 2 * g->ffn;
        /* Packs row r's product into the first r·ffn floats: rows stay contiguous for down. */
        ops_swiglu(gu, gu + g->ffn, g->ff + (size_t)r * g->ffn, (size_t)g->ffn);
    }
    linear_forward(&l->down, m->pool, &g->ws, g->ff, rows, g->h);
    ops_add(g->x, g->h, (size_t)rows * d);
}

static int llama_forward(tf_model *m, tf_seq *const *seqs, const int *n_tokens, int n_seqs,
                         const uint8_t *want_logits, float *logits, tf_err *err) {
    llama *g = m->impl;
    const int d = g->d, half = g->d_head / 2;
    int rows = 0;
    for (int i = 0; i < n_seqs; i++) rows += n_tokens[i];
    int rc = ensure_rows(g, rows, n_seqs, err);
    if (rc < 0) return rc;

    /* x = embed_tokens(ids); cos, sin = rotary_emb(position_ids) */
    int row = 0;
    for (int si = 0; si < n_seqs; si++) {
        tf_seq *s = seqs[si];
        g->row_of_seq[si] = row;
        for (int t = 0; t < n_tokens[si]; t++, row++) {
            const int pos = s->n_past + t;
            linear_row(&g->embed, s->tokens[pos], g->x + (size_t)row * d);
            for (int j = 0; j < half; j++) {
                /* HF multiplies in float32 (position · inv_freq), then takes cos/sin. */
                const float angle = (float)pos * g->inv_freq[j];
                g->cs[(size_t)row * half + j] = (float)cos((double)angle);
                g->sn[(size_t)row * half + j] = (float)sin((double)angle);
            }
        }
    }
    for (int li = 0; li < g->n_layer; li++) layer_forward(m, g, li, seqs, n_tokens, n_seqs, rows);

    /* norm and lm_head only for the rows whose logits are wanted */
    int n_want = 0;
    for (int si = 0; si < n_seqs; si++) {
        if (!want_logits[si]) continue;
        const int last_row = g->row_of_seq[si] + n_tokens[si] - 1;
        ops_rmsnorm(g->x + (size_t)last_row * d, g->last + (size_t)n_want * d, 1, d, g->norm,
                    g->eps);
        n_want++;
    }
    if (n_want > 0)
        linear_forward(g->untied ? &g->lm_head : &g->embed, m->pool, &g->ws, g->last, n_want,
                       logits);
    for (int si = 0; si < n_seqs; si++) seqs[si]->n_past += n_tokens[si];
    return 0;
}

const tf_family tf_family_llama = {
    .model_type = "llama",
    .architecture = "LlamaForCausalLM",
    .tasks = TF_TASK_GENERATE,
    .load = llama_load,
    .free_impl = llama_free,
    .forward = llama_forward,
};
