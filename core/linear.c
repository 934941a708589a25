/* DESIGN: one threading model. OpenBLAS is pinned to one thread and each pool
 * thread calls it on its own slice of output rows, exactly as the int8 path
 * splits its packed row groups; so a step never has two pools competing for
 * the two cores. The int8 path quantizes the activations (on the caller for
 * small inputs, across the pool for large ones), then splits output groups in
 * units of the kernel's preferred block. The kernel table is picked once from
 * cpu_isa(). */
#include "core/linear.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/gemm.h"
#include "core/ops.h"
#include "core/quant.h"

/* Below this many activation elements quantizing on the caller is cheaper
 * than a pool round trip (~1-2 µs); a 768-wide decode row takes well under that. */
#define QUANT_SERIAL_ELEMS 16384

// --- kernel table -------------------------------------------------------------------------

const tf_gemm_kernels *gemm_kernels_for(tf_isa isa) {
    if (!cpu_isa_supported(isa)) return NULL;
    switch (isa) {
    case TF_ISA_REF: return &gemm_kernels_ref;
    case TF_ISA_AVX2: return &gemm_kernels_avx2;
    case TF_ISA_VNNI: return &gemm_kernels_vnni;
    default: return NULL;
    }
}

const tf_gemm_kernels *gemm_kernels(void) {
    static const tf_gemm_kernels *chosen;
    const tf_gemm_kernels *k = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!k) {
        k = gemm_kernels_for(cpu_isa());
        if (!k) k = &gemm_kernels_ref;
        __atomic_store_n(&chosen, k, __ATOMIC_RELEASE);
    }
    return k;
}

// --- scratch ------------------------------------------------------------------------------

void gemm_ws_init(tf_gemm_ws *ws) { memset(ws, 0, sizeof *ws); }

void gemm_ws_close(tf_gemm_ws *ws) {
    if (!ws) return;
    free(ws->xq);
    free(ws->x_scale);
    memset(ws, 0, sizeof *ws);
}

int gemm_ws_reserve(tf_gemm_ws *ws, int m, int k_pad, tf_err *err) {
    size_t need = (size_t)m * (size_t)k_pad;
    if (need > ws->cap_bytes) {
        uint8_t *p = aligned_alloc(64, (need + 63) / 64 * 64);
        if (!p) return err_set(err, TF_ENOMEM, "gemm scratch: %zu bytes", need);
        free(ws->xq);
        ws->xq = p;
        ws->cap_bytes = need;
    }
    if ((size_t)m > ws->cap_rows) {
        float *s = malloc((size_t)m * sizeof *s);
        if (!s) return err_set(err, TF_ENOMEM, "gemm scratch: %d rows", m);
        free(ws->x_scale);
        ws->x_scale = s;
        ws->cap_rows = (size_t)m;
    }
    return 0;
}

// --- int8 forward -------------------------------------------------------------------------

/* act over rows [i0, i1) × columns [o0, o1) of y (row stride ld floats). */
static void apply_act(tf_linear_act act, float *y, size_t ld, int i0, int i1, int o0, int o1) {
    if (act == TF_LINEAR_ACT_NONE || o1 <= o0) return;
    for (int i = i0; i < i1; i++) {
        float *yi = y + (size_t)i * ld + o0;
        if (act == TF_LINEAR_ACT_GELU_TANH) ops_gelu_tanh(yi, (size_t)(o1 - o0));
        else ops_gelu_erf(yi, (size_t)(o1 - o0));
    }
}

typedef struct q8_task {
    const tf_gemm_kernels *k;
    tf_q8_job job;
    const float *x; /* for the quantize phase */
    int n_in;
    int n_units; /* output work units of k->o_block rows */
    int split_m; /* split rows instead of outputs (too few output units) */
    tf_linear_act act; /* on y (not on acc) */
} q8_task;

static void q8_quant_part(void *arg, int ith, int nth) {
    q8_task *t = arg;
    int i0, i1;
    pool_split(t->job.m, 1, ith, nth, &i0, &i1);
    if (i1 > i0)
        t->k->quant_rows(t->x + (size_t)i0 * t->n_in, i1 - i0, t->n_in, t->job.w->k_pad,
                         (uint8_t *)t->job.xq + (size_t)i0 * t->job.x_stride,
                         (float *)t->job.x_scale + i0);
}

static void q8_gemm_part(void *arg, int ith, int nth) {
    q8_task *t = arg;
    int n_out = t->job.w->n_out;
    if (t->split_m) {
        int i0, i1;
        pool_split(t->job.m, 1, ith, nth, &i0, &i1);
        if (i1 <= i0) return;
        tf_q8_job j = t->job;
        j.m = i1 - i0;
        j.xq += (size_t)i0 * j.x_stride;
        j.x_scale += i0;
        if (j.acc) j.acc += (size_t)i0 * j.acc_stride;
        else j.y += (size_t)i0 * j.y_stride;
        t->k->q8_gemm(&j, 0, n_out);
        if (!j.acc) apply_act(t->act, t->job.y, t->job.y_stride, i0, i1, 0, n_out);
        return;
    }
    int u0, u1;
    pool_split(t->n_units, 1, ith, nth, &u0, &u1);
    long o0 = (long)u0 * t->k->o_block, o1 = (long)u1 * t->k->o_block;
    if (o1 > n_out) o1 = n_out;
    if (o1 <= o0) return;
    t->k->q8_gemm(&t->job, (int)o0, (int)o1);
    if (!t->job.acc) apply_act(t->act, t->job.y, t->job.y_stride, 0, t->job.m, (int)o0, (int)o1);
}

static void q8_forward_rows(const tf_gemm_kernels *k, const tf_qmat *w, const float *bias,
                            tf_pool *pool, tf_gemm_ws *ws, const float *x, int m, float *y,
                            int32_t *acc, tf_linear_act act) {
    int nth = pool_size(pool);
    q8_task t = {
        .k = k,
        .job = {.xq = ws->xq, .x_stride = (size_t)w->k_pad, .x_scale = ws->x_scale, .m = m,
                .w = w, .bias = bias, .y = y, .y_stride = (size_t)w->n_out, .acc = acc,
                .acc_stride = (size_t)w->n_out},
        .x = x,
        .n_in = w->n_in,
        .n_units = (w->n_out + k->o_block - 1) / k->o_block,
        .act = act,
    };
    t.split_m = nth > 1 && t.n_units < 2 * nth && m >= 2 * nth;
    if ((size_t)m * (size_t)w->n_in < QUANT_SERIAL_ELEMS || nth == 1)
        k->quant_rows(x, m, w->n_in, w->k_pad, ws->xq, ws->x_scale);
    else
        pool_run(pool, q8_quant_part, &t);
    pool_run(pool, q8_gemm_part, &t);
}

static void q8_forward(const tf_gemm_kernels *k, const tf_qmat *w, const float *bias,
                       tf_pool *pool, tf_gemm_ws *ws, const float *x, int m, float *y,
                       int32_t *acc, tf_linear_act act) {
    if (m <= 0) return;
    if (gemm_ws_reserve(ws, m, w->k_pad, NULL) == 0) {
        q8_forward_rows(k, w, bias, pool, ws, x, m, y, acc, act);
        return;
    }
    /* Out of memory while growing: go on in chunks that fit what the scratch
     * already holds, so a transient failure slows the step instead of failing it. */
    size_t rows_fit = w->k_pad ? ws->cap_bytes / (size_t)w->k_pad : 0;
    if (rows_fit > ws->cap_rows) rows_fit = ws->cap_rows;
    if (rows_fit == 0) {
        /* Nothing to work with: make the failure visible rather than silent. */
        for (size_t i = 0; !acc && i < (size_t)m * w->n_out; i++) y[i] = NAN;
        return;
    }
    for (int i0 = 0; i0 < m; i0 += (int)rows_fit) {
        int mi = m - i0 < (int)rows_fit ? m - i0 : (int)rows_fit;
        q8_forward_rows(k, w, bias, pool, ws, x + (size_t)i0 * w->n_in, mi,
                        y ? y + (size_t)i0 * w->n_out : NULL,
                        acc ? acc + (size_t)i0 * w->n_out : NULL, act);
    }
}

void gemm_q8_forward(const tf_gemm_kernels *k, const tf_qmat *w, const float *bias,
                     tf_pool *pool, tf_gemm_ws *ws, const float *x, int m, float *y,
                     int32_t *acc) {
    q8_forward(k, w, bias, pool, ws, x, m, y, acc, TF_LINEAR_ACT_NONE);
}

// --- fp32 forward -------------------------------------------------------------------------

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single_thread(void) { openblas_set_num_threads(1); }

typedef struct f32_task {
    const tf_linear *l;
    const float *x;
    int m;
    float *y;
    tf_linear_act act;
} f32_task;

static void f32_part(void *arg, int ith, int nth) {
    const f32_task *t = arg;
    const tf_linear *l = t->l;
    int o0, o1;
    /* 16 floats = one cache line of y per boundary, so threads never share a line. */
    pool_split(l->n_out, 16, ith, nth, &o0, &o1);
    int n = o1 - o0;
    if (n <= 0) return;
    const float *w = l->w + (size_t)o0 * l->n_in;
    if (t->m == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, l->n_in, 1.0f, w, l->n_in, t->x, 1, 0.0f,
                    t->y + o0, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t->m, n, l->n_in, 1.0f, t->x,
                    l->n_in, w, l->n_in, 0.0f, t->y + o0, l->n_out);
    if (l->bias)
        for (int i = 0; i < t->m; i++) {
            float *yi = t->y + (size_t)i * l->n_out;
            for (int o = o0; o < o1; o++) yi[o] += l->bias[o];
        }
    apply_act(t->act, t->y, (size_t)l->n_out, 0, t->m, o0, o1);
}

// --- tf_linear ----------------------------------------------------------------------------

int linear_init(tf_linear *l, tf_wtype type, const float *w, const float *bias, int n_out,
                int n_in, int w_is_in_out, tf_err *err) {
    memset(l, 0, sizeof *l);
    if (n_out < 1 || n_in < 1 || (size_t)n_out * (size_t)n_in > ((size_t)1 << 34))
        return err_set(err, TF_ERANGE, "linear: bad shape [%d, %d]", n_out, n_in);
    if (type != TF_WTYPE_F32 && type != TF_WTYPE_Q8)
        return err_set(err, TF_EUNSUPPORTED, "linear: weight type %d", (int)type);
    l->type = type;
    l->n_out = n_out;
    l->n_in = n_in;
    if (bias) {
        l->bias = malloc((size_t)n_out * sizeof *l->bias);
        if (!l->bias) return err_set(err, TF_ENOMEM, "linear: out of memory for bias");
        memcpy(l->bias, bias, (size_t)n_out * sizeof *l->bias);
    }
    if (type == TF_WTYPE_Q8) {
        int rc = qmat_init(&l->q, w, n_out, n_in, w_is_in_out, err);
        if (rc < 0) linear_close(l);
        return rc;
    }
    pthread_once(&blas_once, blas_single_thread);
    size_t n = (size_t)n_out * (size_t)n_in;
    l->w = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    if (!l->w) {
        linear_close(l);
        return err_set(err, TF_ENOMEM, "linear: out of memory for [%d, %d]", n_out, n_in);
    }
    if (!w_is_in_out) {
        memcpy(l->w, w, n * sizeof(float));
    } else {
        /* Tiled transpose: both sides stay in cache for the 3072-wide Conv1D weights. */
        for (int k0 = 0; k0 < n_in; k0 += 32)
            for (int o0 = 0; o0 < n_out; o0 += 32)
                for (int k = k0; k < k0 + 32 && k < n_in; k++)
                    for (int o = o0; o < o0 + 32 && o < n_out; o++)
                        l->w[(size_t)o * n_in + k] = w[(size_t)k * n_out + o];
    }
    return 0;
}

void linear_close(tf_linear *l) {
    if (!l) return;
    free(l->w);
    free(l->bias);
    qmat_close(&l->q);
    memset(l, 0, sizeof *l);
}

size_t linear_bytes(const tf_linear *l) {
    size_t b = l->bias ? (size_t)l->n_out * sizeof(float) : 0;
    if (l->type == TF_WTYPE_Q8) return b + l->q.n_bytes;
    return b + (size_t)l->n_out * (size_t)l->n_in * sizeof(float);
}

void linear_forward_act(const tf_linear *l, tf_pool *pool, tf_gemm_ws *ws, const float *x, int m,
                        float *y, tf_linear_act act) {
    if (m <= 0) return;
    if (l->type == TF_WTYPE_Q8) {
        q8_forward(gemm_kernels(), &l->q, l->bias, pool, ws, x, m, y, NULL, act);
        return;
    }
    pthread_once(&blas_once, blas_single_thread);
    f32_task t = {.l = l, .x = x, .m = m, .y = y, .act = act};
    pool_run(pool, f32_part, &t);
}

void linear_forward(const tf_linear *l, tf_pool *pool, tf_gemm_ws *ws, const float *x, int m,
                    float *y) {
    linear_forward_act(l, pool, ws, x, m, y, TF_LINEAR_ACT_NONE);
}

void linear_row(const tf_linear *l, int row, float *out) {
    if (l->type == TF_WTYPE_Q8) qmat_row(&l->q, row, out);
    else memcpy(out, l->w + (size_t)row * l->n_in, (size_t)l->n_in * sizeof(float));
}
