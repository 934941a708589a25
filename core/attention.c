/* DESIGN: the three-pass form (scores, softmax, weighted sum) per head and
 * query. Decoding reads the whole KV cache every token, so past a few hundred
 * positions attention rivals the matrix products (measured: 44% of a GPT-2
 * small decode step at 700 positions with plain C rows); the two inner loops
 * are therefore ISA kernels (core/attn_rows*.c) picked once, with the plain C
 * rows here as their reference. The per-head slice lets the pool split it. */
#include "core/attention.h"

#include <math.h>
#include <string.h>

#include "core/attn_block.h"
#include "core/attn_rows.h"
#include "core/cpu.h"
#include "core/fastmath.h"
#include "core/half.h"
#include "core/ops.h"

void attn_row_stats_ref(const float *p, int n_keys, int n_prompt, float *out) {
    float h = 0, mx = 0, prompt = 0;
    for (int j = 0; j < n_keys; j++) {
        const float pj = p[j];
        /* p·log p -> 0 as p -> 0; skip values fm_logf cannot take */
        h -= pj > 1e-30f ? pj * fm_logf(pj) : 0.0f;
        mx = pj > mx ? pj : mx;
    }
    const int n_p = n_prompt < n_keys ? n_prompt : n_keys;
    for (int j = 0; j < n_p; j++) prompt += p[j];
    out[0] = h;
    out[1] = mx;
    out[2] = prompt;
}

void attn_stats_add_row(tf_attn_stats *st, const float *p, int n_keys, int n_prompt) {
    /* The daemon keeps statistics for every row of every request (/metrics), so this
     * pass runs as often as the softmax: an ISA variant when there is one. */
    const tf_attn_rows *rows = attn_rows();
    float sums[3];
    if (rows->row_stats) rows->row_stats(p, n_keys, n_prompt, sums);
    else attn_row_stats_ref(p, n_keys, n_prompt, sums);
    if (n_keys > 1) {
        st->entropy_sum += sums[0] / logf((float)n_keys);
        st->n_entropy_rows++;
    }
    st->max_sum += sums[1];
    st->sink_sum += p[0];
    st->prompt_sum += sums[2];
    st->n_rows++;
}

void attn_cross_add_row(tf_attn_cross *c, const float *p, int n_keys) {
    if (n_keys > c->n_src) n_keys = c->n_src;
    if (n_keys <= 0) return;
    int focus = 0;
    for (int j = 0; j < n_keys; j++) {
        c->coverage[j] += p[j];
        if (p[j] > p[focus]) focus = j;
    }
    if (focus == c->last_focus) c->n_repeat++;
    c->last_focus = focus;
    c->n_steps++;
}

/* The monitoring work a kernel does with a finished softmax row of head h. */
static void observe_row(const tf_attn_shape *s, int h, const float *p, int n_keys, int pos) {
    if (s->stats) attn_stats_add_row(&s->stats[h], p, n_keys, s->n_prompt);
    if (s->cross) attn_cross_add_row(&s->cross[h], p, n_keys);
    if (s->capture && s->capture[h])
        memcpy(s->capture[h] + (size_t)pos * s->capture_ld, p, sizeof(float) * (size_t)n_keys);
}

/* ---- reference rows: eight partial sums let gcc vectorize without -ffast-math ---- */

static void scores_ref(const float *q, const float *k, int ld, int n_keys, int d, float scale,
                       float *scores) {
    for (int j = 0; j < n_keys; j++) {
        const float *kj = k + (size_t)j * ld;
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= d; i += 8)
            for (int t = 0; t < 8; t++) acc[t] += q[i + t] * kj[i + t];
        float s = 0;
        for (; i < d; i++) s += q[i] * kj[i];
        for (int t = 0; t < 8; t++) s += acc[t];
        scores[j] = s * scale;
    }
}

static void weighted_sum_ref(const float *p, const float *v, int ld, int n_keys, int d,
                             float *out) {
    for (int j = 0; j < n_keys; j++) {
        const float *vj = v + (size_t)j * ld;
        const float pj = p[j];
        for (int i = 0; i < d; i++) out[i] += pj * vj[i];
    }
}

/* The fp16 rows widen with half_f16_to_f32 (integer bit work, no F16C: this file has no
 * ISA flags) and otherwise are the fp32 rows above, term for term. */
static void scores_f16_ref(const float *q, const uint16_t *k, int ld, int n_keys, int d,
                           float scale, float *scores) {
    for (int j = 0; j < n_keys; j++) {
        const uint16_t *kj = k + (size_t)j * ld;
        float acc[8] = {0};
        int i = 0;
        for (; i + 8 <= d; i += 8)
            for (int t = 0; t < 8; t++) acc[t] += q[i + t] * half_f16_to_f32(kj[i + t]);
        float s = 0;
        for (; i < d; i++) s += q[i] * half_f16_to_f32(kj[i]);
        for (int t = 0; t < 8; t++) s += acc[t];
        scores[j] = s * scale;
    }
}

static void weighted_sum_f16_ref(const float *p, const uint16_t *v, int ld, int n_keys, int d,
                                 float *out) {
    for (int j = 0; j < n_keys; j++) {
        const uint16_t *vj = v + (size_t)j * ld;
        const float pj = p[j];
        for (int i = 0; i < d; i++) out[i] += pj * half_f16_to_f32(vj[i]);
    }
}

static void store_f16_ref(const float *src, uint16_t *dst, int n) {
    half_f32_to_f16_row(src, dst, (size_t)n);
}

const tf_attn_rows attn_rows_ref = {.scores = scores_ref,
                                    .weighted_sum = weighted_sum_ref,
                                    .scores_f16 = scores_f16_ref,
                                    .weighted_sum_f16 = weighted_sum_f16_ref,
                                    .store_f16 = store_f16_ref};

const tf_attn_rows *attn_rows(void) {
    static const tf_attn_rows *chosen;
    const tf_attn_rows *r = __atomic_load_n(&chosen, __ATOMIC_ACQUIRE);
    if (!r) {
        tf_isa isa = cpu_isa();
        r = isa == TF_ISA_VNNI ? &attn_rows_avx512 : isa == TF_ISA_AVX2 ? &attn_rows_avx2 : &attn_rows_ref;
        __atomic_store_n(&chosen, r, __ATOMIC_RELEASE);
    }
    return r;
}

size_t attn_kv_elem_bytes(tf_kv_dtype t) { return t == TF_KV_F16 ? sizeof(uint16_t) : sizeof(float); }

void attn_kv_store(tf_kv_dtype t, void *cache, size_t off, const float *src, int n) {
    if (t == TF_KV_F16) attn_rows()->store_f16(src, (uint16_t *)cache + off, n);
    else memcpy((float *)cache + off, src, sizeof(float) * (size_t)n);
}

/* The two row loops over KV head kvh of a cache of s->kv_dtype. */
static void rows_scores(const tf_attn_rows *rows, const tf_attn_shape *s, const float *q,
                        const void *k, int kvh, int n_keys, float *scores) {
    const size_t off = (size_t)kvh * s->d_head;
    if (s->kv_dtype == TF_KV_F16)
        rows->scores_f16(q, (const uint16_t *)k + off, s->ldkv, n_keys, s->d_head, s->scale, scores);
    else
        rows->scores(q, (const float *)k + off, s->ldkv, n_keys, s->d_head, s->scale, scores);
}

static void rows_weighted_sum(const tf_attn_rows *rows, const tf_attn_shape *s, const float *p,
                              const void *v, int kvh, int n_keys, float *out) {
    const size_t off = (size_t)kvh * s->d_head;
    memset(out, 0, sizeof(float) * (size_t)s->d_head);
    if (s->kv_dtype == TF_KV_F16)
        rows->weighted_sum_f16(p, (const uint16_t *)v + off, s->ldkv, n_keys, s->d_head, out);
    else
        rows->weighted_sum(p, (const float *)v + off, s->ldkv, n_keys, s->d_head, out);
}

void attn_full(const tf_attn_shape *s, const float *q, int n_q, const float *k, const float *v,
               int n_kv, int h0, int h1, float *out, float *scores) {
    const int dh = s->d_head;
    const int group = s->n_head / s->n_kv_head;
    const tf_attn_rows *rows = attn_rows();
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        for (int i = 0; i < n_q; i++) {
            rows->scores(q + (size_t)i * s->ldq + (size_t)h * dh, k + (size_t)kvh * dh, s->ldkv,
                         n_kv, dh, s->scale, scores);
            ops_softmax(scores, n_kv);
            observe_row(s, h, scores, n_kv, i);
            float *oi = out + (size_t)i * s->ldo + (size_t)h * dh;
            memset(oi, 0, sizeof(float) * dh);
            rows->weighted_sum(scores, v + (size_t)kvh * dh, s->ldkv, n_kv, dh, oi);
        }
    }
}

void attn_causal(const tf_attn_shape *s, const float *q, int n_q, const void *k, const void *v,
                 int n_past, int h0, int h1, float *out, float *scores) {
    const int dh = s->d_head;
    const int group = s->n_head / s->n_kv_head;
    const tf_attn_rows *rows = attn_rows();
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * s->ldq + (size_t)h * dh;
            const int n_keys = n_past + i + 1;
            rows_scores(rows, s, qi, k, kvh, n_keys, scores);
            ops_softmax(scores, n_keys);
            observe_row(s, h, scores, n_keys, n_past + i);
            rows_weighted_sum(rows, s, scores, v, kvh, n_keys,
                              out + (size_t)i * s->ldo + (size_t)h * dh);
        }
    }
}

void attn_biased(const tf_attn_shape *s, const float *q, int n_q, int q_pos0, const void *k,
                 const void *v, int n_kv, int causal, const float *bias, int bias_radius, int h0,
                 int h1, float *out, float *scores) {
    const int dh = s->d_head;
    const int group = s->n_head / s->n_kv_head;
    const int bias_ld = 2 * bias_radius + 1;
    const tf_attn_rows *rows = attn_rows();
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        const float *bh = bias ? bias + (size_t)h * bias_ld : NULL;
        for (int i = 0; i < n_q; i++) {
            const float *qi = q + (size_t)i * s->ldq + (size_t)h * dh;
            const int qpos = q_pos0 + i;
            int n_keys = causal ? qpos + 1 : n_kv;
            if (n_keys > n_kv) n_keys = n_kv;
            rows_scores(rows, s, qi, k, kvh, n_keys, scores);
            if (bh)
                for (int j = 0; j < n_keys; j++) {
                    int r = j - qpos;
                    r = r < -bias_radius ? -bias_radius : r > bias_radius ? bias_radius : r;
                    scores[j] += bh[r + bias_radius];
                }
            ops_softmax(scores, n_keys);
            observe_row(s, h, scores, n_keys, qpos);
            rows_weighted_sum(rows, s, scores, v, kvh, n_keys,
                              out + (size_t)i * s->ldo + (size_t)h * dh);
        }
    }
}

/* ---- blocked bidirectional attention ------------------------------------------------- */

static void block_k_transpose_ref(const float *k, int ldkv, int n_kv, int d, float *kt,
                                  int ldk) {
    for (int c = 0; c < d; c++) {
        float *ktc = kt + (size_t)c * ldk;
        for (int j = 0; j < n_kv; j++) ktc[j] = k[(size_t)j * ldkv + c];
        for (int j = n_kv; j < ldk; j++) ktc[j] = 0.0f;
    }
}

static void block_scores_ref(const float *q, int ldq, int n_rows, int d, const float *kt, int ldk,
                             float scale, float *s) {
    for (int r = 0; r < n_rows; r++) {
        float *sr = s + (size_t)r * ldk;
        for (int j = 0; j < ldk; j++) sr[j] = 0.0f;
        for (int c = 0; c < d; c++) {
            const float qc = q[(size_t)r * ldq + c];
            const float *kc = kt + (size_t)c * ldk;
            for (int j = 0; j < ldk; j++) sr[j] += qc * kc[j];
        }
        for (int j = 0; j < ldk; j++) sr[j] *= scale;
    }
}

static void block_softmax_ref(float *s, int lds, int n_rows, int n_kv) {
    for (int r = 0; r < n_rows; r++) ops_softmax(s + (size_t)r * lds, n_kv);
}

static void block_weighted_sum_ref(const float *p, int ldp, int n_rows, const float *v, int ldv,
                                   int n_kv, int d, float *out, int ldo) {
    for (int r = 0; r < n_rows; r++) {
        float *o = out + (size_t)r * ldo;
        memset(o, 0, sizeof(float) * (size_t)d);
        weighted_sum_ref(p + (size_t)r * ldp, v, ldv, n_kv, d, o);
    }
}

const tf_attn_block attn_block_ref = {.k_transpose = block_k_transpose_ref,
                                      .scores = block_scores_ref,
                                      .softmax = block_softmax_ref,
                                      .weighted_sum = block_weighted_sum_ref};

const tf_attn_block *attn_block(void) {
    const tf_isa isa = cpu_isa();
    return isa == TF_ISA_VNNI ? &attn_block_avx512 : isa == TF_ISA_AVX2 ? &attn_block_avx2 : NULL;
}

static int round16(int n) { return (n + 15) & ~15; }

size_t attn_full_blocked_scratch(int n_kv, int d_head) {
    return (size_t)round16(n_kv) * ((size_t)d_head + ATTN_QBLOCK);
}

void attn_full_blocked_with(const tf_attn_block *kb, const tf_attn_shape *s, const float *q,
                            int n_q, const float *k, const float *v, int n_kv, const float *bias,
                            int bias_radius, int h0, int h1, float *out, float *scratch) {
    const int dh = s->d_head, ldk = round16(n_kv);
    const int group = s->n_head / s->n_kv_head;
    float *kt = scratch, *sc = scratch + (size_t)dh * ldk;
    for (int h = h0; h < h1; h++) {
        const int kvh = h / group;
        /* K of this head transposed, zero past n_kv: (dh, ldk) */
        kb->k_transpose(k + (size_t)kvh * dh, s->ldkv, n_kv, dh, kt, ldk);
        const float *bh = bias ? bias + (size_t)h * (2 * bias_radius + 1) : NULL;
        for (int i0 = 0; i0 < n_q; i0 += ATTN_QBLOCK) {
            const int nb = n_q - i0 < ATTN_QBLOCK ? n_q - i0 : ATTN_QBLOCK;
            kb->scores(q + (size_t)i0 * s->ldq + (size_t)h * dh, s->ldq, nb, dh, kt, ldk, s->scale,
                       sc);
            if (bh) /* T5: + bias[h][clamp(j - i)] */
                for (int r = 0; r < nb; r++) {
                    float *sr = sc + (size_t)r * ldk;
                    const int qpos = i0 + r;
                    for (int j = 0; j < n_kv; j++) {
                        int rel = j - qpos;
                        rel = rel < -bias_radius ? -bias_radius
                              : rel > bias_radius ? bias_radius
                                                  : rel;
                        sr[j] += bh[rel + bias_radius];
                    }
                }
            kb->softmax(sc, ldk, nb, n_kv);
            if (s->stats || s->cross || s->capture)
                for (int r = 0; r < nb; r++) observe_row(s, h, sc + (size_t)r * ldk, n_kv, i0 + r);
            kb->weighted_sum(sc, ldk, nb, v + (size_t)kvh * dh, s->ldkv, n_kv, dh,
                             out + (size_t)i0 * s->ldo + (size_t)h * dh, s->ldo);
        }
    }
}

void attn_full_blocked(const tf_attn_shape *s, const float *q, int n_q, const float *k,
                       const float *v, int n_kv, const float *bias, int bias_radius, int h0,
                       int h1, float *out, float *scratch) {
    const tf_attn_block *kb = attn_block();
    if (kb)
        attn_full_blocked_with(kb, s, q, n_q, k, v, n_kv, bias, bias_radius, h0, h1, out,
                               scratch);
    else if (bias)
        attn_biased(s, q, n_q, 0, k, v, n_kv, 0, bias, bias_radius, h0, h1, out, scratch);
    else
        attn_full(s, q, n_q, k, v, n_kv, h0, h1, out, scratch);
}
