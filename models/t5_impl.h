/* t5_impl.h: the T5 family's weights (models/t5_load.c loads and frees them) and its
 * per-sequence state, shared by t5_load.c and t5.c (the step). Internal to models/. */
#ifndef TF_MODELS_T5_IMPL_H
#define TF_MODELS_T5_IMPL_H

#include "models/model_impl.h"

typedef struct t5_attn {
    tf_linear q, k, v, o; /* d_model -> inner (q, k, v), inner -> d_model (o) */
} t5_attn;

typedef struct t5_block {
    float *ln_attn, *ln_cross, *ln_ff; /* owned, [d_model]; ln_cross decoder only */
    t5_attn self, cross;
    tf_linear wi, wi1, wo;             /* wi is wi_0 when gated */
} t5_block;

typedef struct t5 {
    int d_model, d_kv, d_ff, n_head, inner, n_enc, n_dec, n_vocab, n_pos;
    int n_buckets, max_dist;
    float eps;
    int gated, act; /* act: 0 relu, 1 gelu_new (tanh), 2 gelu (erf), 3 silu */
    int tied;
    tf_linear shared, lm_head;
    float *enc_bias, *dec_bias; /* owned, [n_head][2·max_dist + 1] */
    t5_block *enc, *dec;        /* owned */
    float *enc_ln, *dec_ln;
    /* step scratch, owned, grown on demand */
    int cap_rows;
    float *x, *h, *q, *k, *v, *att, *ff, *ff1;
    int cap_scores;
    float *scores; /* [n_threads][cap_scores] */
    tf_gemm_ws ws;
} t5;

int t5_load(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err);
void t5_free(tf_model *m);

#endif
