/* DESIGN: top-p needs the most probable tokens in order, but sorting a 50k
 * vocabulary every step costs milliseconds. Only tokens with probability
 * >= t can be in the nucleus if the tokens at or above t already hold top_p
 * of the mass, so we sort just those, lowering t until that holds (exact, and
 * usually a few hundred tokens). */
#include "models/decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

/* ---- xoshiro256** seeded through splitmix64 -------------------------------------------- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(tf_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(tf_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(tf_rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* ---- workspace ------------------------------------------------------------------------- */

int decode_ws_init(tf_decode_ws *ws, int vocab, tf_err *err) {
    memset(ws, 0, sizeof *ws);
    ws->vocab = vocab;
    ws->idx = malloc(sizeof(int32_t) * (size_t)vocab);
    ws->prob = malloc(sizeof(float) * (size_t)vocab);
    ws->raw = malloc(sizeof(float) * (size_t)vocab);
    ws->seen = calloc((size_t)vocab, 1);
    if (!ws->idx || !ws->prob || !ws->raw || !ws->seen) {
        decode_ws_close(ws);
        return err_set(err, TF_ENOMEM, "decode workspace for %d tokens", vocab);
    }
    return 0;
}

void decode_ws_close(tf_decode_ws *ws) {
    free(ws->idx);
    free(ws->prob);
    free(ws->raw);
    free(ws->seen);
    memset(ws, 0, sizeof *ws);
}

/* ---- processors ------------------------------------------------------------------------ */

static void apply_repetition_penalty(float *logits, int vocab, const int32_t *hist, int n_hist,
                                     float penalty, uint8_t *seen) {
    /* transformers gathers the logit of every id in the history once, so a repeated id is
     * penalized once, not once per occurrence. */
    for (int i = 0; i < n_hist; i++) {
        int32_t id = hist[i];
        if (id < 0 || id >= vocab || seen[id]) continue;
        seen[id] = 1;
        logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
    }
    for (int i = 0; i < n_hist; i++)
        if (hist[i] >= 0 && hist[i] < vocab) seen[hist[i]] = 0;
}

/* qsort has no context argument; the probabilities it compares live in this thread's
 * workspace for the duration of one sort. */
static _Thread_local const float *t_sort_prob;

static int by_prob_desc(const void *a, const void *b) {
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    float pa = t_sort_prob[ia], pb = t_sort_prob[ib];
    if (pa != pb) return pa < pb ? 1 : -1;
    return ia < ib ? -1 : ia > ib;
}

/* The candidates after top-k and top-p: ids in ws->idx by descending probability.
 * Returns their count (>= 1). */
static int nucleus(const tf_sampler *s, int vocab, float pmax, tf_decode_ws *ws) {
    const int top_k = s->top_k > 0 && s->top_k < vocab ? s->top_k : 0;
    const double top_p = s->top_p > 0 && s->top_p < 1 ? s->top_p : 0;
    int n;
    for (float t = pmax * 1e-3f;; t = t > 1e-30f ? t * 1e-3f : 0.0f) {
        n = 0;
        double mass = 0;
        for (int i = 0; i < vocab; i++)
            if (ws->prob[i] >= t) {
                ws->idx[n++] = i;
                mass += ws->prob[i];
            }
        /* With top-k we need the k best (their mass renormalizes top-p); without it, any
         * set that holds top_p of the mass contains the nucleus. */
        if (t == 0.0f || (top_k ? n >= top_k : mass >= top_p)) break;
    }
    t_sort_prob = ws->prob;
    qsort(ws->idx, (size_t)n, sizeof(int32_t), by_prob_desc);
    if (top_k && n > top_k) n = top_k;
    if (top_p > 0) {
        /* transformers keeps a token while the mass ranked above it is < top_p, over the
         * distribution renormalized after top-k. */
        double kept = 0;
        for (int i = 0; i < n; i++) kept += ws->prob[ws->idx[i]];
        double above = 0;
        int m = 0;
        while (m < n && above < top_p * kept) above += ws->prob[ws->idx[m++]];
        n = m > 0 ? m : 1;
    }
    return n;
}

/* ws->prob holds the unnormalized weights exp((l - max)/T), summing to total; the
 * largest is exactly 1. */
static int sample(const tf_sampler *s, int vocab, float total, tf_rng *rng, tf_decode_ws *ws) {
    const int filtered = (s->top_k > 0 && s->top_k < vocab) || (s->top_p > 0 && s->top_p < 1);
    if (!filtered) return ops_pick_cumulative(ws->prob, vocab, rng_uniform(rng) * total);
    /* top-p compares mass with probabilities: normalize */
    const float inv = 1.0f / total;
    for (int i = 0; i < vocab; i++) ws->prob[i] *= inv;
    const int n = nucleus(s, vocab, inv, ws);
    double kept = 0;
    for (int i = 0; i < n; i++) kept += ws->prob[ws->idx[i]];
    double u = rng_uniform(rng) * kept;
    for (int i = 0; i < n; i++) {
        u -= ws->prob[ws->idx[i]];
        if (u < 0) return ws->idx[i];
    }
    return ws->idx[0];
}

int decode_pick(const tf_sampler *s, float *logits, int vocab, const int32_t *history,
                int n_history, tf_rng *rng, tf_decode_ws *ws, float *logprob) {
    /* One pass finds the maximum and its position (the greedy pick), one more sums the
     * exponentials for the log-probability; sampling reuses the maximum, and its weights
     * come from one exp pass at 1/T rather than a scaled copy and a softmax. */
    int id;
    float mx = ops_max_index(logits, vocab, &id);
    const float lse = mx == -INFINITY ? mx : mx + logf(ops_exp_sum(logits, vocab, mx, 1.0f, NULL));
    const int penalize = s->repetition_penalty != 1.0f && n_history > 0;
    /* The penalty modifies logits in place; remember the raw ones only then. */
    float chosen_raw = mx;
    if (penalize) {
        memcpy(ws->raw, logits, sizeof(float) * (size_t)vocab);
        apply_repetition_penalty(logits, vocab, history, n_history, s->repetition_penalty,
                                 ws->seen);
        mx = ops_max_index(logits, vocab, &id);
    }
    if (s->temperature > 0 && mx != -INFINITY) {
        const float total = ops_exp_sum(logits, vocab, mx, 1.0f / s->temperature, ws->prob);
        id = sample(s, vocab, total, rng, ws);
    }
    if (penalize || s->temperature > 0) chosen_raw = penalize ? ws->raw[id] : logits[id];
    if (logprob) *logprob = chosen_raw - lse;
    return id;
}
