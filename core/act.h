/* act.h: ISA variants of the element-wise activations in core/ops.c, which picks
 * one once from cpu_isa(); ops.c's loops are their reference. */
#ifndef TF_CORE_ACT_H
#define TF_CORE_ACT_H

#include <stddef.h>

void act_gelu_tanh_avx512(float *x, size_t n);
/* The baseline loop (the reference the ISA variants are tested against). */
void act_gelu_tanh_ref(float *x, size_t n);

#endif
