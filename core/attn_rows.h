/* attn_rows.h: the inner loops of attention for one query row of one head,
 * in a reference and ISA-specific versions chosen once from cpu_isa().
 *
 *   scores[j] = scale · q·k_j            for j in [0, n_keys)
 *   out      += Σ_j p[j] · v_j           (out is d floats, zeroed by the caller)
 *
 * k_j / v_j start at k + j·ld. Private to core/attention.c and its tests.
 */
#ifndef TF_CORE_ATTN_ROWS_H
#define TF_CORE_ATTN_ROWS_H

typedef struct tf_attn_rows {
    void (*scores)(const float *q, const float *k, int ld, int n_keys, int d, float scale,
                   float *scores);
    void (*weighted_sum)(const float *p, const float *v, int ld, int n_keys, int d, float *out);
    /* The attention-statistics sums of one softmax row p (tf_attn_stats): out[0] = -Σ p·log p
     * over p > 1e-30, out[1] = max p (0 for an empty max), out[2] = Σ p over the first
     * min(n_prompt, n_keys) keys. NULL in a table without a variant: the reference loop. */
    void (*row_stats)(const float *p, int n_keys, int n_prompt, float *out);
} tf_attn_rows;

void attn_row_stats_ref(const float *p, int n_keys, int n_prompt, float *out);

extern const tf_attn_rows attn_rows_ref;
extern const tf_attn_rows attn_rows_avx2;
extern const tf_attn_rows attn_rows_avx512;

/* The table for the ISA the kernels use (cpu_isa()). */
const tf_attn_rows *attn_rows(void);

#endif
