/* reduce.h: ISA variants of the long-row reductions in core/ops.c (ops_max_index,
 * ops_exp_sum), which picks one once from cpu_isa(); the _ref functions are ops.c's plain
 * loops and the reference the variants are tested against. They run over a whole
 * vocabulary of logits (50,257 for GPT-2) for every sequence of every decode step. */
#ifndef TF_CORE_REDUCE_H
#define TF_CORE_REDUCE_H

float reduce_max_index_ref(const float *x, int n, int *index);
float reduce_exp_sum_ref(const float *x, int n, float shift, float scale, float *out);

float reduce_max_index_avx512(const float *x, int n, int *index);
float reduce_exp_sum_avx512(const float *x, int n, float shift, float scale, float *out);

#endif
