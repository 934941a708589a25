/* act.h: ISA variants of the element-wise activations in core/ops.c, which picks
 * one once from cpu_isa(); ops.c's loops are their reference. */
#ifndef TF_CORE_ACT_H
#define TF_CORE_ACT_H

#include <stddef.h>

/* Exact GELU, 0.5·x·(1 + erf(x/√2)), is computed through erfc(a), a = |x|/√2, with
 * Abramowitz & Stegun 7.1.26: erfc(a) ≈ t·(a1 + t·(a2 + t·(a3 + t·(a4 + t·a5))))·e^(-a²),
 * t = 1/(1 + p·a), absolute error below 1.5e-7 for a >= 0 (the same approximation
 * PyTorch's vectorized CPU erf uses). Then gelu = x - 0.5·x·erfc for x >= 0 and
 * 0.5·x·erfc for x < 0, so the negative side, where GELU is small, keeps its relative
 * precision instead of cancelling in 1 + erf. */
#define ACT_RSQRT2 0.70710678118654752f
#define ACT_ERFC_P 0.3275911f
#define ACT_ERFC_A1 0.254829592f
#define ACT_ERFC_A2 (-0.284496736f)
#define ACT_ERFC_A3 1.421413741f
#define ACT_ERFC_A4 (-1.453152027f)
#define ACT_ERFC_A5 1.061405429f

void act_gelu_tanh_avx512(float *x, size_t n);
void act_gelu_erf_avx512(float *x, size_t n);
void act_gelu_erf_avx2(float *x, size_t n);
/* The baseline loops (the references the ISA variants are tested against). */
void act_gelu_tanh_ref(float *x, size_t n);
void act_gelu_erf_ref(float *x, size_t n);

#endif
