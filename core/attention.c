/* DESIGN: the straightforward three-pass form (scores, softmax, weighted sum)
 * per head and query. At GPT-2-small sizes attention is a few percent of a
 * step's work next to the matrix products, so this favours obvious
 * correctness; the per-head slice lets the pool split it. */
#include "core/attention.h"

#include <string.h>

#include "core/ops.h"

/* Eight independent partial sums let gcc vectorize without -ffast-math. */
static float dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += a[i + j] * b[i + j];
    float s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int j = 0; j < 8; j++) s += acc[j];
    return s;
}

/* Query i of head h against keys [0, n_keys). */
static void attend_one(const tf_attn_shape *s, const float *qi, const float *k, const float *v,
                       int n_keys, int h, float *oi, float *scores) {
    const int dh = s->d_head;
    const int kvh = h / (s->n_head / s->n_kv_head);
    for (int j = 0; j < n_keys; j++)
        scores[j] = dot(qi, k + (size_t)j * s->ldkv + (size_t)kvh * dh, dh) * s->scale;
    ops_softmax(scores, n_keys);
    memset(oi, 0, sizeof(float) * dh);
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * s->ldkv + (size_t)kvh * dh;
        const float p = scores[j];
        for (int d = 0; d < dh; d++) oi[d] += p * vj[d];
    }
}

void attn_full(const tf_attn_shape *s, const float *q, int n_q, const float *k, const float *v,
               int n_kv, int h0, int h1, float *out, float *scores) {
    for (int h = h0; h < h1; h++)
        for (int i = 0; i < n_q; i++)
            attend_one(s, q + (size_t)i * s->ldq + (size_t)h * s->d_head, k, v, n_kv, h,
                       out + (size_t)i * s->ldo + (size_t)h * s->d_head, scores);
}

void attn_causal(const tf_attn_shape *s, const float *q, int n_q, const float *k, const float *v,
                 int n_past, int h0, int h1, float *out, float *scores) {
    const int dh = s->d_head;
    const int group = s->n_head / s->n_kv_head;
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * s->ldq + (size_t)h * dh;
            const int n_keys = n_past + i + 1;
            for (int j = 0; j < n_keys; j++)
                scores[j] = dot(qi, k + (size_t)j * s->ldkv + (size_t)kvh * dh, dh) * s->scale;
            ops_softmax(scores, n_keys);
            float *oi = out + (size_t)i * s->ldo + (size_t)h * dh;
            memset(oi, 0, sizeof(float) * dh);
            for (int j = 0; j < n_keys; j++) {
                const float *vj = v + (size_t)j * s->ldkv + (size_t)kvh * dh;
                const float p = scores[j];
                for (int d = 0; d < dh; d++) oi[d] += p * vj[d];
            }
        }
    }
}
