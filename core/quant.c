/* DESIGN: quantization is done row by row into the packed layout directly, so
 * loading GPT-2's 50257×768 LM head needs no fp32 copy of the matrix. A row
 * of zeros gets scale 0 (and q = 0) instead of dividing by zero. */
#include "core/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"

static size_t packed_index(const tf_qmat *q, int o, int k) {
    size_t g = (size_t)o / GEMM_GROUP_ROWS;
    int r = o % GEMM_GROUP_ROWS;
    return g * GEMM_GROUP_ROWS * (size_t)q->k_pad + (size_t)(k / 4) * (GEMM_GROUP_ROWS * 4) +
           (size_t)r * 4 + (size_t)(k % 4);
}

int qmat_init(tf_qmat *q, const float *w, int n_out, int n_in, int w_is_in_out, tf_err *err) {
    memset(q, 0, sizeof *q);
    if (n_out < 1 || n_in < 1 || n_in > 65536 || n_out > (1 << 26))
        return err_set(err, TF_ERANGE, "qmat: bad shape [%d, %d]", n_out, n_in);
    int k_pad = (n_in + GEMM_K_ALIGN - 1) / GEMM_K_ALIGN * GEMM_K_ALIGN;
    size_t n_groups = ((size_t)n_out + GEMM_GROUP_ROWS - 1) / GEMM_GROUP_ROWS;
    size_t n_rows_pad = n_groups * GEMM_GROUP_ROWS;
    size_t packed_bytes = n_rows_pad * (size_t)k_pad;
    q->n_out = n_out;
    q->n_in = n_in;
    q->k_pad = k_pad;
    q->packed = aligned_alloc(64, (packed_bytes + 63) / 64 * 64);
    q->scale = aligned_alloc(64, (n_rows_pad * sizeof(float) + 63) / 64 * 64);
    q->row_sum = aligned_alloc(64, (n_rows_pad * sizeof(int32_t) + 63) / 64 * 64);
    float *row = malloc((size_t)n_in * sizeof *row);
    if (!q->packed || !q->scale || !q->row_sum || !row) {
        free(row);
        qmat_close(q);
        return err_set(err, TF_ENOMEM, "qmat: out of memory for [%d, %d]", n_out, n_in);
    }
    memset(q->packed, 0, packed_bytes);
    memset(q->scale, 0, n_rows_pad * sizeof(float));
    memset(q->row_sum, 0, n_rows_pad * sizeof(int32_t));
    q->n_bytes = packed_bytes + n_rows_pad * (sizeof(float) + sizeof(int32_t));

    for (int o = 0; o < n_out; o++) {
        for (int k = 0; k < n_in; k++)
            row[k] = w_is_in_out ? w[(size_t)k * n_out + o] : w[(size_t)o * n_in + k];
        float amax = 0;
        for (int k = 0; k < n_in; k++) amax = fmaxf(amax, fabsf(row[k]));
        float inv = amax > 0 ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int k = 0; k < n_in; k++) {
            long v = lrintf(row[k] * inv);
            v = v > 127 ? 127 : v < -127 ? -127 : v;
            q->packed[packed_index(q, o, k)] = (int8_t)v;
            sum += (int32_t)v;
        }
        q->scale[o] = amax / 127.0f;
        q->row_sum[o] = sum;
    }
    free(row);
    return 0;
}

void qmat_close(tf_qmat *q) {
    if (!q) return;
    free(q->packed);
    free(q->scale);
    free(q->row_sum);
    memset(q, 0, sizeof *q);
}

int8_t qmat_get(const tf_qmat *q, int o, int k) { return q->packed[packed_index(q, o, k)]; }

void qmat_row(const tf_qmat *q, int o, float *out) {
    const int8_t *g = q->packed + (size_t)(o / GEMM_GROUP_ROWS) * GEMM_GROUP_ROWS * q->k_pad +
                      (size_t)(o % GEMM_GROUP_ROWS) * 4;
    float s = q->scale[o];
    for (int k = 0; k < q->n_in; k++)
        out[k] = s * (float)g[(size_t)(k / 4) * (GEMM_GROUP_ROWS * 4) + k % 4];
}
