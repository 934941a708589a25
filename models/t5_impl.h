/* t5_impl.h: the T5 family's weights (models/t5_load.c loads and frees them) and its
 * per-sequence state (models/t5_seq.c), shared with t5.c (the step). Internal to models/. */
#ifndef TF_MODELS_T5_IMPL_H
#define TF_MODELS_T5_IMPL_H

#include "models/beam.h"
#include "models/beam_attn.h"
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

/* Attention statistics of one sequence (tf_gen_params.attn_summary). The attention work
 * list deals (sequence, head) items, so each accumulator has one writer per step: the
 * thread holding that item, which walks the sequence's beams in order. */
typedef struct t5_mon {
    tf_attn_encdec view;              /* what seq_state hands out: views of the arrays below */
    tf_attn_stats *enc, *dec, *cross; /* owned, [n_enc or n_dec][n_head] */
    tf_attn_cross *cover;             /* owned, [n_dec][n_head] */
    float *coverage;                  /* owned, [n_dec][n_head][n_in]: cover[i].coverage */
    int *focus, *focus2;              /* owned, [n_slots][n_dec][n_head]: each live beam's last
                                       * cross-attention focus (focus2: reorder scratch) */
} t5_mon;

/* Per-sequence state (tf_seq.fam). */
typedef struct t5_seq {
    int n_in;          /* encoder length */
    int n_slots, dec_cap;
    int dec_len;       /* decoder positions in the self-attention cache */
    /* Caches hold elements of the model's kv_dtype (fp16 or fp32), as a decoder-only
     * family's do; the encoder's own K/V are step scratch and stay fp32. */
    void *ck, *cv;     /* owned, [n_dec][n_in][inner] */
    void *sk, *sv;     /* owned, [n_dec][n_slots][dec_cap][inner] */
    int *slot, *slot2; /* owned, [n_slots]: cache slot of each live beam */
    uint8_t *claimed;  /* owned, [n_slots] */
    t5_mon *mon;       /* owned; NULL unless the sequence collects attention statistics */
    tf_attn_encdec_store *full; /* owned; NULL unless the sequence keeps its weights */
    tf_beam_attn *battn; /* owned; NULL unless a beam sequence reports its answer's attention */
} t5_seq;

/* The family's per-sequence hooks (tf_family, models/model_impl.h). */
int t5_seq_init(tf_seq *s, const tf_gen_params *p, tf_err *err);
void t5_seq_release(tf_seq *s);
size_t t5_seq_kv_need(const tf_model *m, int n_in, const tf_gen_params *p);
void t5_seq_beam_done(tf_seq *s);
/* Puts the beams of b's last step into their cache slots (b->parent); clears
 * b->parent_pending. */
void t5_seq_reorder_beams(const tf_model *m, const t5 *g, t5_seq *ts, tf_beam *b);

/* Element offset of a slot's self-attention rows in sk / sv; cross-attention rows of
 * layer l start at element l * n_in * inner of ck / cv. */
static inline size_t t5_self_off(const t5 *g, const t5_seq *ts, int layer, int slot) {
    return (((size_t)layer * ts->n_slots + slot) * ts->dec_cap) * g->inner;
}
static inline void *t5_kv_at(const tf_model *m, void *cache, size_t off) {
    return (char *)cache + off * attn_kv_elem_bytes(m->kv_dtype);
}

#endif
