/* decode.h: picking the next token from logits (module prefix decode_, rng_).
 *
 * Order of processing follows transformers' generate(): repetition penalty,
 * then temperature, top-k, top-p, then either argmax (temperature 0) or a
 * draw from the seeded generator. The reported log-probability is that of the
 * chosen token under the model's own distribution (raw logits), so it does
 * not depend on the sampling knobs.
 *
 * Thread-safety: a tf_decode_ws and a tf_rng belong to one caller.
 */
#ifndef TF_MODELS_DECODE_H
#define TF_MODELS_DECODE_H

#include <stdint.h>

#include "core/err.h"

typedef struct tf_rng {
    uint64_t s[4];
} tf_rng;

void rng_seed(tf_rng *r, uint64_t seed);
uint64_t rng_next(tf_rng *r);
double rng_uniform(tf_rng *r); /* [0, 1) with 53 random bits */

typedef struct tf_sampler {
    float temperature;        /* 0 = greedy */
    int top_k;                /* 0 = off */
    float top_p;              /* >= 1 = off */
    float repetition_penalty; /* 1 = off */
} tf_sampler;

/* Scratch sized for one vocabulary; reused every step. */
typedef struct tf_decode_ws {
    int vocab;
    int32_t *idx;   /* owned, [vocab] */
    float *prob;    /* owned, [vocab] */
    float *raw;     /* owned, [vocab]: the logits before processing, for the log-probability */
    uint8_t *seen;  /* owned, [vocab] */
} tf_decode_ws;

int decode_ws_init(tf_decode_ws *ws, int vocab, tf_err *err);
void decode_ws_close(tf_decode_ws *ws);

/* logits: [vocab], modified in place. history: ids the repetition penalty applies to.
 * Returns the chosen id; *logprob gets log p(id) under the unmodified logits. */
int decode_pick(const tf_sampler *s, float *logits, int vocab, const int32_t *history,
                int n_history, tf_rng *rng, tf_decode_ws *ws, float *logprob);

#endif
