/* attn_rows.h: the inner loops of attention for one query row of one head,
 * in a reference and ISA-specific versions chosen once from cpu_isa().
 *
 *   scores[j] = scale · q·k_j            for j in [0, n_keys)
 *   out      += Σ_j p[j] · v_j           (out is d floats, zeroed by the caller)
 *
 * k_j / v_j start at k + j·ld. Private to core/attention.c and its tests.
 *
 * The _f16 rows read K/V stored as IEEE fp16 (a half-precision KV cache), widen each
 * element to fp32 as it is loaded and accumulate in fp32, so they equal the fp32 rows run
 * on the widened cache up to summation order. store_f16 narrows one row for the cache,
 * rounding to nearest even exactly as half_f32_to_f16 (core/half.h) does.
 */
#ifndef TF_CORE_ATTN_ROWS_H
#define TF_CORE_ATTN_ROWS_H

#include <stdint.h>

typedef struct tf_attn_rows {
    void (*scores)(const float *q, const float *k, int ld, int n_keys, int d, float scale,
                   float *scores);
    void (*weighted_sum)(const float *p, const float *v, int ld, int n_keys, int d, float *out);
    /* The attention-statistics sums of one softmax row p (tf_attn_stats): out[0] = -Σ p·log p
     * over p > 1e-30, out[1] = max p (0 for an empty max), out[2] = Σ p over the first
     * min(n_prompt, n_keys) keys. NULL in a table without a variant: the reference loop. */
    void (*row_stats)(const float *p, int n_keys, int n_prompt, float *out);
    void (*scores_f16)(const float *q, const uint16_t *k, int ld, int n_keys, int d, float scale,
                       float *scores);
    void (*weighted_sum_f16)(const float *p, const uint16_t *v, int ld, int n_keys, int d,
                             float *out);
    void (*store_f16)(const float *src, uint16_t *dst, int n);
} tf_attn_rows;

void attn_row_stats_ref(const float *p, int n_keys, int n_prompt, float *out);

extern const tf_attn_rows attn_rows_ref;
extern const tf_attn_rows attn_rows_avx2;
extern const tf_attn_rows attn_rows_avx512;

/* The table for the ISA the kernels use (cpu_isa()). */
const tf_attn_rows *attn_rows(void);

#endif
