/* model_impl.h: what model.c, seq.c and the family files share; never seen by server/.
 *
 * A family (gpt2.c, later llama.c, t5.c, bert.c) is one tf_family row: it loads
 * its weights into tf_model.impl and runs the forward pass of one batched
 * step. Everything generic — tokenizer access, sequences, sampling, stop
 * strings — lives in model.c and seq.c.
 */
#ifndef TF_MODELS_MODEL_IMPL_H
#define TF_MODELS_MODEL_IMPL_H

#include <stdatomic.h>

#include "core/linear.h"
#include "core/threadpool.h"
#include "models/decode.h"
#include "models/hf_config.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "models/tokenizer.h"

typedef struct tf_family {
    const char *model_type;   /* config.json "model_type" */
    const char *architecture; /* the class name it serves */
    unsigned tasks;
    int (*load)(tf_model *m, const tf_hf_config *cfg, tf_ckpt *ck, tf_err *err);
    void (*free_impl)(tf_model *m);
    /* Feeds n_tokens[i] tokens of seqs[i] (from its n_past on), appends their K/V, advances
     * n_past, and writes the last fed position's logits of every sequence with
     * want_logits[i] into consecutive rows of `logits` ([n_want, vocab]). */
    int (*forward)(tf_model *m, tf_seq *const *seqs, const int *n_tokens, int n_seqs,
                   const uint8_t *want_logits, float *logits, tf_err *err);
    /* ---- encoder-decoder families (T5); NULL / 0 for decoder-only ----
     * encoder_decoder: the prompt is the encoder input (see model.h). seq_init allocates
     * the family's per-sequence state into s->fam (encoder output, cross K/V, per-beam
     * self-attention caches) and adds its bytes to s->kv_bytes; seq_release frees it.
     * beams: the family reorders its caches after each beam step (s->beam->parent) and,
     * for a beam sequence, writes one logits row per live beam (s->beam->n_live). */
    int encoder_decoder;
    int beams;
    int (*seq_init)(tf_seq *s, const tf_gen_params *p, tf_err *err); /* with p->attn_summary,
                                                                       * sets s->attn_encdec; with
                                                                       * p->attn_full, s->attn_encdec_full */
    void (*seq_release)(tf_seq *s);
    /* A beam sequence's search has ended and its answer is appended (beam_best): the
     * family points s->attn_encdec_hyp and its full weights at that hypothesis. NULL: none. */
    void (*seq_beam_done)(tf_seq *s);
    /* The bytes seq_init will add to s->kv_bytes for this encoder input and params (NULL:
     * it adds none), so seq_kv_need can tell before anything is allocated. */
    size_t (*seq_kv_need)(const tf_model *m, int n_prompt, const tf_gen_params *p);
    /* Encoder classifiers (NULL for decoders): n_texts validated texts in, softmax
     * probabilities [n_texts][n_labels] out. forward is NULL for them. */
    int (*classify)(tf_model *m, const int32_t *const *ids, const int *n_ids, int n_texts,
                    const tf_cls_attn *attn, float *probs, tf_err *err);
} tf_family;

struct tf_model {
    tf_model_info info;
    char name[128];
    char dtype_name[8];
    const tf_family *family; /* static table row */
    void *impl;              /* owned by the family: weights and step scratch */
    tf_tokenizer *tok;       /* owned */
    tf_pool *pool;           /* owned */
    tf_wtype wtype;
    int bos_id, eos_id;
    int decoder_start_id;    /* encoder-decoder: the decoder's first input (T5: 0) */
    /* KV cache geometry, set by the family: elements per position per layer for K (and V). */
    int kv_n_layer, kv_dim;
    tf_kv_dtype kv_dtype;  /* element type of every decoder cache (model_load, from the opts) */
    /* attention heads per layer (for tf_attn_stats arrays), and layers when they are not
     * kv_n_layer (0: kv_n_layer; encoders, which have no KV cache, set it) */
    int attn_n_head, attn_n_layer;
    /* KV budget (models/kv_budget.c): bytes reserved by live sequences against the bound
     * (0 = unlimited). Atomic so that seq_new / seq_free need no lock whichever thread
     * calls them; the budget is fixed at load. */
    size_t kv_budget_bytes;
    _Atomic size_t kv_reserved_bytes;
    /* step scratch, owned, grown on demand */
    float *logits;
    int logits_rows;
    uint8_t *want;         /* [want_cap] */
    int32_t *pick_id;      /* [want_cap]: each sequence's token of this step */
    float *pick_logprob;   /* [want_cap] */
    int32_t *pick_row;     /* [want_cap]: its logits row, -1 when it picks nothing */
    int want_cap;
    tf_decode_ws *dws;     /* owned, [n_dws]: one per pool thread, so sequences pick in parallel */
    int n_dws;
    /* text-to-text tasks (model_task_prefix / model_task_defaults), owned, filled by the
     * family at load */
    struct tf_task *tasks;
    int n_tasks;
    /* classification head labels, set by the family; owned */
    int n_labels;
    char **labels;
};

/* Generation defaults of one task (config.json task_specific_params); `set` has a
 * TF_TD_* bit for each field present. */
enum { TF_TD_BEAMS = 1, TF_TD_LP = 2, TF_TD_ES = 4, TF_TD_NGRAM = 8, TF_TD_MIN = 16, TF_TD_MAX = 32 };
typedef struct tf_task_defaults {
    unsigned set;
    int num_beams, early_stopping, no_repeat_ngram_size, min_new_tokens, max_new_tokens;
    float length_penalty;
} tf_task_defaults;

typedef struct tf_task {
    char *key, *prefix; /* owned */
    tf_task_defaults d;
} tf_task;

/* Registers a task (a later key replaces an earlier one). d may be NULL (no defaults). */
int model_add_task(tf_model *m, const char *key, const char *prefix, const tf_task_defaults *d,
                   tf_err *err);

struct tf_seq {
    tf_model *model;      /* borrowed */
    int32_t *tokens;      /* owned, [n_cap]: prompt then generated */
    int n_prompt, n_tokens, n_cap;
    int n_past;           /* positions already in the KV cache */
    int max_new_tokens;
    int ignore_eos;
    void *k, *v;          /* owned, [kv_n_layer][n_cap][kv_dim] of model->kv_dtype */
    size_t kv_bytes;
    size_t kv_reserved;   /* charged to model->kv_reserved_bytes by seq_new, returned by seq_free */
    float *logprobs;      /* owned, [n_cap - n_prompt] */
    tf_sampler sampler;
    tf_rng rng;
    int n_stop;
    char *stop[TF_MAX_STOP]; /* owned copies */
    size_t stop_max_len;
    tf_attn_stats *attn;  /* owned, [kv_n_layer][attn_n_head] or NULL */
    float **attn_cap;     /* owned, [kv_n_layer * attn_n_head] views into attn_rows (NULL for
                           * a pair not selected), or NULL: "full" attention (models/attn_capture.c) */
    float *attn_rows;     /* owned, one (n_cap x n_cap) store per selected pair */
    char *text;           /* owned, generated bytes */
    size_t text_len, text_cap;
    tf_finish finish;
    /* generate() length controls, applied to the logits before picking */
    int min_new_tokens, no_repeat_ngram;
    /* encoder-decoder / beam search; NULL for decoder-only greedy or sampled decoding */
    void *fam;            /* owned by the family (seq_init / seq_release) */
    struct tf_beam *beam; /* owned, models/beam.h; NULL when num_beams == 1 */
    const tf_attn_encdec *attn_encdec; /* view into fam: set by an encoder-decoder family's
                                        * seq_init when the sequence collects statistics */
    const tf_attn_encdec_full *attn_encdec_full; /* view into fam, likewise for attn_full */
    const tf_attn_encdec *attn_encdec_hyp; /* view into fam: a beam sequence's answer's own
                                            * statistics, set by seq_beam_done */
};

/* K or V rows of one layer: (n_cap, kv_dim) elements of model->kv_dtype. */
static inline size_t seq__layer_bytes(const tf_seq *s) {
    return (size_t)s->n_cap * s->model->kv_dim * attn_kv_elem_bytes(s->model->kv_dtype);
}
static inline void *seq_k_layer(tf_seq *s, int layer) {
    return (char *)s->k + (size_t)layer * seq__layer_bytes(s);
}
static inline void *seq_v_layer(tf_seq *s, int layer) {
    return (char *)s->v + (size_t)layer * seq__layer_bytes(s);
}
/* Stores this step's K and V rows (kv_dim floats each) at position pos of layer `layer`. */
static inline void seq_kv_store(tf_seq *s, int layer, int pos, const float *k, const float *v) {
    const tf_model *m = s->model;
    const size_t off = (size_t)pos * m->kv_dim;
    attn_kv_store(m->kv_dtype, seq_k_layer(s, layer), off, k, m->kv_dim);
    attn_kv_store(m->kv_dtype, seq_v_layer(s, layer), off, v, m->kv_dim);
}

/* For tests and tools: feeds the next n_tokens prompt tokens of s and writes the last
 * fed position's logits ([vocab]) without sampling. */
int model_forward_logits(tf_model *m, tf_seq *s, int n_tokens, float *logits, tf_err *err);

/* Causal self-attention of layer `layer` for every sequence of a step (models/step_attn.c):
 * sequence i's query rows start at row row_of_seq[i] of q (stride shape->ldq), its
 * outputs at the same rows of out (stride shape->ldo); K/V come from its cache, which
 * already holds this step's positions. scores: [pool threads][scores_stride] scratch,
 * scores_stride >= the longest sequence. Split over the pool by (sequence, head). */
void step_attn_causal(tf_pool *pool, const tf_attn_shape *shape, tf_seq *const *seqs,
                      const int *n_tokens, const int *row_of_seq, int n_seqs, int layer,
                      const float *q, float *out, float *scores, int scores_stride);

/* "Full" attention stores: one zeroed (n x n) float matrix per selected (layer, head) pair
 * in *rows, and *table [n_layer * n_head] pointing at them (NULL for pairs not selected).
 * TF_ERANGE for an index out of range or repeated, TF_ENOMEM. models/attn_capture.c. */
int attn_capture_alloc(int n_layer, int n_head, const tf_attn_select *sel, int n, float **rows,
                       float ***table, tf_err *err);
/* The same with (n_rows x n_cols) matrices (cross-attention: target rows, source keys). */
int attn_capture_alloc_rect(int n_layer, int n_head, const tf_attn_select *sel, int n_rows,
                            int n_cols, float **rows, float ***table, tf_err *err);

/* The full attention weights of one encoder-decoder sequence: stores for the encoder
 * (n_src x n_src), decoder (n_dec_rows x n_dec_rows) and cross (n_dec_rows x n_src)
 * matrices of sel's pairs in each stack, and the tables the kernels' capture hook indexes
 * by head. The family keeps view.n_rows current. With n_beams > 1 the decoder and cross
 * stores have n_dec_rows * n_beams rows of the same widths (view.dec_ld = n_dec_rows), row
 * (position t, beam b) at t * n_beams + b, until models/beam_attn.c moves the returned
 * hypothesis's rows to rows 0.. (n_beams 1: the one-beam layout). models/attn_capture.c. */
typedef struct tf_attn_encdec_store {
    tf_attn_encdec_full view;     /* what seq_state hands out: views of the tables below */
    float *rows[3];               /* owned: encoder, decoder, cross stores */
    float **enc, **dec, **cross;  /* owned, [n_layer * n_head] views into rows (NULL: not kept) */
} tf_attn_encdec_store;

int attn_capture_encdec_new(int n_enc_layer, int n_dec_layer, int n_head, const tf_attn_select *sel,
                            int n_src, int n_dec_rows, int n_beams, tf_attn_encdec_store **out, tf_err *err);
void attn_capture_encdec_free(tf_attn_encdec_store *st); /* NULL is a no-op */

/* Positions a sequence's cache holds for this prompt length (0 counts as the one BOS a
 * decoder starts from) and max_new_tokens: the context caps a decoder; an
 * encoder-decoder's positions are the decoder's own. */
int seq_n_cap(const tf_model *m, int n_prompt, int max_new_tokens);
/* Bytes of a decoder-only sequence's K (or V) cache for n_cap positions. */
size_t seq_kv_half_bytes(const tf_model *m, int n_cap);
/* Charges n bytes to m's budget: TF_EFULL (message with the numbers) when it would go
 * over; kv_budget_release gives them back. */
int kv_budget_reserve(tf_model *m, size_t n, tf_err *err);
void kv_budget_release(tf_model *m, size_t n);

/* Appends one sampled token: text, stop strings, EOS and length checks. */
void seq_append_token(tf_seq *s, int32_t id, float logprob);
/* A beam sequence whose search is over: appends the best hypothesis and finishes. */
void seq_finish_beam(tf_seq *s);

extern const tf_family tf_family_gpt2;
extern const tf_family tf_family_llama;
extern const tf_family tf_family_t5;
extern const tf_family tf_family_bert;
extern const tf_family tf_family_distilbert;

#endif
