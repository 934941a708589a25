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

void attn_biased(const tf_attn_shape *s, const float *q, int n_q, int q_pos0, const float *k,
                 const float *v, int n_kv, int causal, const float *bias, int bias_radius, int h0,
                 int h1, float *out, float *scores) {
    const int dh = s->d_head;
    const int group = s->n_head / s->n_kv_head;
    const int bias_ld = 2 * bias_radius + 1;
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        const float *bh = bias ? bias + (size_t)h * bias_ld : NULL;
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * s->ldq + (size_t)h * dh;
            const int qpos = q_pos0 + i;
            int n_keys = causal ? qpos + 1 : n_kv;
            if (n_keys > n_kv) n_keys = n_kv;
            for (int j = 0; j < n_keys; j++) {
                float sc = dot(qi, k + (size_t)j * s->ldkv + (size_t)kvh * dh, dh) * s->scale;
                if (bh) {
                    int r = j - qpos;
                    r = r < -bias_radius ? -bias_radius : r > bias_radius ? bias_radius : r;
                    sc += bh[r + bias_radius];
                }
                scores[j] = sc;
            }
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
