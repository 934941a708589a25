/* DESIGN: the straightforward three-pass form (scores, softmax, weighted sum)
 * per head and query. At GPT-2-small sizes attention is a few percent of a
 * step's work next to the matrix products, so this favours obvious
 * correctness; the per-head slice lets the pool split it. */
#include "core/attention.h"

#include <math.h>
#include <string.h>

#include "core/fastmath.h"
#include "core/ops.h"

void attn_stats_add_row(tf_attn_stats *st, const float *p, int n_keys, int n_prompt) {
    float h = 0, mx = 0, prompt = 0;
    for (int j = 0; j < n_keys; j++) {
        const float pj = p[j];
        /* p·log p -> 0 as p -> 0; skip values fm_logf cannot take */
        h -= pj > 1e-30f ? pj * fm_logf(pj) : 0.0f;
        mx = pj > mx ? pj : mx;
    }
    const int n_p = n_prompt < n_keys ? n_prompt : n_keys;
    for (int j = 0; j < n_p; j++) prompt += p[j];
    if (n_keys > 1) {
        st->entropy_sum += h / logf((float)n_keys);
        st->n_entropy_rows++;
    }
    st->max_sum += mx;
    st->sink_sum += p[0];
    st->prompt_sum += prompt;
    st->n_rows++;
}

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
            if (s->stats) attn_stats_add_row(&s->stats[h], scores, n_keys, s->n_prompt);
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
