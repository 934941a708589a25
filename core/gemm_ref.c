/* DESIGN: the oracle. Plain loops over the packed layout (core/gemm.h), with
 * the activation offset undone per element, so it shares no trick with the
 * SIMD kernels except the quantization rule and the epilogue order, which
 * are part of the contract. Integer sums cannot overflow: |q| ≤ 127 gives
 * |acc| ≤ 127²·k, below 2³¹ for k < 133 000. */
#include <math.h>
#include <string.h>

#include "core/gemm.h"

static void quant_rows_ref(const float *x, int m, int n_in, int k_pad, uint8_t *xq,
                           float *x_scale) {
    for (int i = 0; i < m; i++) {
        const float *xi = x + (size_t)i * n_in;
        uint8_t *qi = xq + (size_t)i * k_pad;
        float amax = 0;
        for (int k = 0; k < n_in; k++) amax = fmaxf(amax, fabsf(xi[k]));
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        for (int k = 0; k < n_in; k++) {
            long v = lrintf(xi[k] * inv);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            qi[k] = (uint8_t)(v + 128);
        }
        memset(qi + n_in, 128, (size_t)(k_pad - n_in));
        x_scale[i] = amax / 127.0f;
    }
}

static void q8_gemm_ref(const tf_q8_job *job, int o_begin, int o_end) {
    const tf_qmat *w = job->w;
    int k_pad = w->k_pad;
    for (int i = 0; i < job->m; i++) {
        const uint8_t *xi = job->xq + (size_t)i * job->x_stride;
        for (int o = o_begin; o < o_end; o++) {
            const int8_t *wg = w->packed + (size_t)(o / GEMM_GROUP_ROWS) * GEMM_GROUP_ROWS * k_pad +
                               (size_t)(o % GEMM_GROUP_ROWS) * 4;
            int32_t acc = 0;
            for (int k = 0; k < k_pad; k++)
                acc += ((int32_t)xi[k] - 128) * wg[(size_t)(k / 4) * (GEMM_GROUP_ROWS * 4) + k % 4];
            if (job->acc) {
                job->acc[(size_t)i * job->acc_stride + o] = acc;
                continue;
            }
            float s = job->x_scale[i] * w->scale[o];
            float y = (float)acc * s;
            if (job->bias) y = y + job->bias[o];
            job->y[(size_t)i * job->y_stride + o] = y;
        }
    }
}

const tf_gemm_kernels gemm_kernels_ref = {
    .isa = TF_ISA_REF,
    .o_block = GEMM_GROUP_ROWS,
    .quant_rows = quant_rows_ref,
    .q8_gemm = q8_gemm_ref,
};
