/* reduce.h: ISA variants of the row reductions in core/ops.c (ops_max_index, ops_exp_sum,
 * ops_softmax, ops_layernorm), which picks one once from cpu_isa(); the _ref functions are ops.c's plain
 * loops and the reference the variants are tested against. The first two run over a whole
 * vocabulary of logits (50,257 for GPT-2) for every sequence of every decode step, the
 * softmax over every attention row (one per sequence, layer and head), the layer norm
 * over every activation row twice a layer. */
#ifndef TF_CORE_REDUCE_H
#define TF_CORE_REDUCE_H

float reduce_max_index_ref(const float *x, int n, int *index);
float reduce_exp_sum_ref(const float *x, int n, float shift, float scale, float *out);
void reduce_softmax_ref(float *x, int n);
void reduce_layernorm_ref(const float *x, float *y, int n_rows, int n, const float *w,
                          const float *b, float eps);

float reduce_max_index_avx512(const float *x, int n, int *index);
float reduce_exp_sum_avx512(const float *x, int n, float shift, float scale, float *out);
void reduce_softmax_avx512(float *x, int n);
void reduce_layernorm_avx512(const float *x, float *y, int n_rows, int n, const float *w,
                             const float *b, float eps);

#endif
