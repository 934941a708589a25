/* attention.h: scaled dot-product attention over a sequence's KV cache.
 *
 * Causal: the n_q new queries sit at positions [n_past, n_past + n_q) and
 * query i sees keys [0, n_past + i]. Heads are laid out side by side in a row
 * (head h at columns [h·d_head, (h+1)·d_head)); with grouped-query attention
 * query head h reads KV head h / (n_head / n_kv_head). The caller passes a
 * head range so it can split heads across the compute pool.
 *
 * The decoders' KV caches may hold fp16 instead of fp32 (tf_attn_shape.kv_dtype): the
 * causal and biased kernels then widen K/V as they read them and compute in fp32, which
 * halves the bytes a decode step reads from the cache. attn_kv_store writes cache rows
 * of either type.
 *
 *     tf_attn_shape s = {.n_head = 12, .n_kv_head = 12, .d_head = 64, .scale = 0.125f,
 *                        .ldq = 3 * 768, .ldkv = 768, .ldo = 768, .kv_dtype = TF_KV_F16};
 *     attn_kv_store(TF_KV_F16, k_cache, pos * 768, k_new, 768);   // likewise v
 *     attn_causal(&s, q, 1, k_cache, v_cache, pos, 0, 12, out, scores);
 *
 * Thread-safety: pure functions; `scores` is the caller's scratch of at least
 * n_past + n_q floats.
 */
#ifndef TF_CORE_ATTENTION_H
#define TF_CORE_ATTENTION_H

#include <stddef.h>

/* Attention-score statistics of one head, summed over the query rows the kernel saw;
 * divide by n_rows for means. Filled inside the kernel from the softmax weights it
 * already has, so monitoring costs one pass over the row, not a second attention. */
typedef struct tf_attn_stats {
    double entropy_sum;  /* normalized entropy H/log(n_keys) (rows with n_keys > 1) */
    double max_sum;      /* largest weight */
    double sink_sum;     /* weight on position 0 */
    double prompt_sum;   /* weight on positions < n_prompt (1 - share on generated) */
    int n_rows;
    int n_entropy_rows;  /* rows with more than one key */
} tf_attn_stats;

/* Cross-attention of one head over a decoded sequence: how much attention each source
 * position received in total, and how often a step's focus (its largest weight) lands on
 * the same source position as the step before. Rows must arrive in decoding order. */
typedef struct tf_attn_cross {
    float *coverage;  /* [n_src] summed weights, owned by the caller (zeroed at start) */
    int n_src;
    int last_focus;   /* focus of the previous row; -1 before the first (set it so) */
    int n_steps;      /* rows seen */
    int n_repeat;     /* rows whose focus equals the previous row's */
} tf_attn_cross;

/* Element type of a KV cache. */
typedef enum tf_kv_dtype {
    TF_KV_F32 = 0, /* float */
    TF_KV_F16 = 1, /* IEEE binary16 as uint16_t (core/half.h), widened to fp32 when read */
} tf_kv_dtype;

/* Bytes of one cache element: 4 or 2. */
size_t attn_kv_elem_bytes(tf_kv_dtype t);
/* Writes n floats into a cache of type t at element offset off (f16: rounded to nearest
 * even, as half_f32_to_f16). */
void attn_kv_store(tf_kv_dtype t, void *cache, size_t off, const float *src, int n);

typedef struct tf_attn_shape {
    int n_head, n_kv_head, d_head;
    float scale;          /* 1/sqrt(d_head) for GPT-2; 1 for T5 */
    int ldq, ldkv, ldo;   /* row strides in elements (floats; K/V: kv_dtype elements) */
    tf_kv_dtype kv_dtype; /* what attn_causal / attn_biased read at k, v; F32 when left 0.
                           * attn_full and the blocked encoder kernels take fp32 only. */
    tf_attn_stats *stats; /* NULL, or [n_head] accumulators (indexed by head) */
    int n_prompt;         /* positions below this count as prompt in the stats */
    tf_attn_cross *cross; /* NULL, or [n_head] cross-attention accumulators */
    /* NULL, or [n_head] row stores for "full" attention requests (an entry NULL for a head
     * not asked for): the softmax row of the query at position pos (n_past + i, q_pos0 + i,
     * or i for attn_full) is copied to capture[h] + pos * capture_ld, its n_keys weights;
     * the caller sizes the store and leaves the rest of each row as it wants it. */
    float *const *capture;
    int capture_ld;
} tf_attn_shape;

/* Adds one softmax row (n_keys weights) to st. */
void attn_stats_add_row(tf_attn_stats *st, const float *p, int n_keys, int n_prompt);
/* Adds one cross-attention row (n_keys <= c->n_src weights) to c. */
void attn_cross_add_row(tf_attn_cross *c, const float *p, int n_keys);

/* q: (n_q, ldq); k, v: (n_past + n_q, ldkv) of s->kv_dtype; out: (n_q, ldo). Heads [h0, h1). */
void attn_causal(const tf_attn_shape *s, const float *q, int n_q, const void *k, const void *v,
                 int n_past, int h0, int h1, float *out, float *scores);

/* ---- attention with an additive relative-position bias (T5) ------------------------
 * Scores are q·k·scale + bias (T5 passes scale 1: its attention is unscaled). Query i sits
 * at position q_pos0 + i, key j at position j; with causal set, query i sees keys
 * [0, q_pos0 + i], otherwise all n_kv keys. bias: NULL, or [n_head][2·bias_radius + 1],
 * head h's entry for relative position r = j - (q_pos0 + i) at index
 * clamp(r, -bias_radius, bias_radius) + bias_radius (T5's buckets are constant beyond
 * max_distance, so a table of that radius is exact). k, v: s->kv_dtype elements.
 * scores: n_kv floats of scratch; on return its first n_keys hold the softmax weights of
 * the last row computed (query n_q - 1 of head h1 - 1), so a caller that calls one row at
 * a time may keep that row where the hooks cannot put it. */
void attn_biased(const tf_attn_shape *s, const float *q, int n_q, int q_pos0, const void *k,
                 const void *v, int n_kv, int causal, const float *bias, int bias_radius, int h0,
                 int h1, float *out, float *scores);
/* Bidirectional (encoder) attention: every query sees keys [0, n_kv) and nothing after,
 * so a sequence's padding (or the next packed sequence) is masked out by passing its
 * valid length. q: (n_q, ldq); k, v: (>= n_kv, ldkv); out: (n_q, ldo); scores: n_kv floats. */
void attn_full(const tf_attn_shape *s, const float *q, int n_q, const float *k, const float *v,
               int n_kv, int h0, int h1, float *out, float *scores);

/* ---- blocked bidirectional attention (encoders) --------------------------------------
 * attn_full, or T5's encoder self-attention (attn_biased with causal 0 and q_pos0 0 when
 * bias is given), computed ATTN_QBLOCK queries of a head at a time: K is transposed once
 * per head and scores, softmax and the weighted sum run over the block (core/attn_block.h).
 * Same results as the row kernels up to float summation order; every softmax row still
 * goes to the stats/cross/capture hooks, at position i. Without AVX2 (or with
 * TF_FORCE_ISA=ref) it runs the row kernels. scratch: attn_full_blocked_scratch(n_kv, d_head) floats, the caller's. */
#define ATTN_QBLOCK 32
size_t attn_full_blocked_scratch(int n_kv, int d_head);
void attn_full_blocked(const tf_attn_shape *s, const float *q, int n_q, const float *k,
                       const float *v, int n_kv, const float *bias, int bias_radius, int h0,
                       int h1, float *out, float *scratch);

#endif
