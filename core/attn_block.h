/* attn_block.h: the kernels of blocked bidirectional attention (attn_full_blocked in
 * core/attention.c), many query rows of one head at a time, in a plain C reference and
 * AVX2 and AVX-512 versions. Private to core/attention.c and its tests.
 *
 *   k_transpose:   kt[c·ldk + j] = k[j·ldkv + c] for c < d, j < n_kv; 0 for n_kv <= j < ldk
 *   scores:        s[r·ldk + j] = scale · Σ_c q[r·ldq + c] · kt[c·ldk + j]
 *                  for r < n_rows, j < ldk (ldk a multiple of 16; kt is K transposed,
 *                  (d, ldk), zero past the real keys, so the padding scores are 0)
 *   softmax:       softmax of each row over its first n_kv entries, in place (all -inf: 0)
 *   weighted_sum:  out[r·ldo + c] = Σ_{j < n_kv} p[r·ldp + j] · v[j·ldv + c], c < d
 *                  (out overwritten)
 */
#ifndef TF_CORE_ATTN_BLOCK_H
#define TF_CORE_ATTN_BLOCK_H

typedef struct tf_attn_block {
    void (*k_transpose)(const float *k, int ldkv, int n_kv, int d, float *kt, int ldk);
    void (*scores)(const float *q, int ldq, int n_rows, int d, const float *kt, int ldk,
                   float scale, float *s);
    void (*softmax)(float *s, int lds, int n_rows, int n_kv);
    void (*weighted_sum)(const float *p, int ldp, int n_rows, const float *v, int ldv, int n_kv,
                         int d, float *out, int ldo);
} tf_attn_block;

extern const tf_attn_block attn_block_ref;
extern const tf_attn_block attn_block_avx2;
extern const tf_attn_block attn_block_avx512;

/* The table attn_full_blocked uses, or NULL where it runs the row kernels instead
 * (TF_FORCE_ISA=ref or no AVX2: the row reference is the engine's reference). */
const tf_attn_block *attn_block(void);

struct tf_attn_shape;
/* attn_full_blocked with the kernels of kb (the tests run the reference through it). */
void attn_full_blocked_with(const tf_attn_block *kb, const struct tf_attn_shape *s,
                            const float *q, int n_q, const float *k, const float *v, int n_kv,
                            const float *bias, int bias_radius, int h0, int h1, float *out,
                            float *scratch);

#endif
