/* ops.h: element-wise and row-wise kernels over raw fp32 arrays.
 *
 * Every kernel takes explicit sizes; row kernels take (n_rows, n_cols) and
 * operate in place where the name says so. They know nothing of models.
 * Thread-safety: pure functions over caller memory.
 */
#ifndef TF_CORE_OPS_H
#define TF_CORE_OPS_H

#include <stddef.h>

/* x: (n_rows, n) -> y: LayerNorm with weight w and bias b (both [n]); y may equal x. */
void ops_layernorm(const float *x, float *y, int n_rows, int n, const float *w, const float *b,
                   float eps);
/* RMS norm: y = x * rsqrt(mean(x^2) + eps) * w. */
void ops_rmsnorm(const float *x, float *y, int n_rows, int n, const float *w, float eps);
/* gelu_new / gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in place. */
void ops_gelu_tanh(float *x, size_t n);
/* GELU with erf (not the tanh form), in place; erf within 1.5e-7 (core/act.h). */
void ops_gelu_erf(float *x, size_t n);
void ops_relu(float *x, size_t n);
void ops_silu(float *x, size_t n);
/* Rotary position embedding, rotate-half layout (HF LlamaRotaryEmbedding/apply_rotary_pos_emb):
 * each of the n_heads heads of x (d_head floats, side by side) has its pairs (j, j + d_head/2)
 * rotated by the angle whose cos/sin are cs[j], sn[j] (j < d_head/2), in place. */
void ops_rope_rotate_half(float *x, int n_heads, int d_head, const float *cs, const float *sn);
/* y = silu(gate) * up over n elements; y may equal gate. */
void ops_swiglu(const float *gate, const float *up, float *y, size_t n);
/* y += x */
void ops_add(float *y, const float *x, size_t n);
/* y[r][c] += b[c] over n_rows rows */
void ops_add_row_bias(float *y, const float *b, int n_rows, int n);
/* In-place softmax of one row; returns nothing; a row of -inf stays finite (all zero). */
void ops_softmax(float *x, int n);
/* log(sum(exp(x))) computed stably. */
float ops_logsumexp(const float *x, int n);
/* index of the largest value (first one on ties) */
int ops_argmax(const float *x, int n);
/* The largest value of x[0, n) (n >= 1); *index gets the first position holding it. */
float ops_max_index(const float *x, int n, int *index);
/* Σ exp((x[i] - shift)·scale) for a finite shift and scale > 0; when out is not NULL,
 * out[i] gets each term. With shift = max(x) and scale = 1/T that is the softmax of x/T
 * before normalization; with scale 1 its log + shift is logsumexp(x). */
float ops_exp_sum(const float *x, int n, float shift, float scale, float *out);
/* A draw from weights w[0, n) (all >= 0) given target = u·Σw, u uniform in [0, 1): the
 * first i with w[0] + ... + w[i] > target. When rounding leaves target at or above the
 * whole sum: the last i with w[i] > 0 (0 if none). */
int ops_pick_cumulative(const float *w, int n, double target);

#endif
