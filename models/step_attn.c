/* DESIGN: the self-attention of one decoder layer for every sequence of a batched step,
 * shared by the decoder-only families. Work items are (sequence, query head) pairs that
 * the pool threads claim one at a time, so a thread the OS delays does not leave a fixed
 * share waiting; each reads its sequence's own KV cache and, when the sequence asked for
 * them, accumulates its attention statistics and keeps its full rows.
 *
 * Tried and measured worse: all heads of a sequence as one item, walking each KV row
 * once in order (every head of a block of 4 or 8 rows before the next block) instead of
 * one head's 256-byte slice per row. On Zen5 the per-head stride is prefetched well
 * already; the row order cost 25% more time in the score rows and 12% in the weighted
 * sums (perf samples, batch 16 at 128-384 positions). */
#include <stdatomic.h>

#include "models/model_impl.h"

typedef struct step_attn_job {
    const tf_attn_shape *shape;
    tf_seq *const *seqs;
    const int *n_tokens;
    const int *row_of_seq;
    int n_seqs, layer;
    const float *q;
    float *out;
    float *scores;
    int scores_stride;
    _Atomic int next; /* next (sequence, head) item to claim */
} step_attn_job;

static void step_attn_worker(void *ctx, int ith, int nth) {
    (void)nth;
    step_attn_job *j = ctx;
    const int n_head = j->shape->n_head;
    float *scores = j->scores + (size_t)ith * j->scores_stride;
    const int n_items = j->n_seqs * n_head;
    for (int item; (item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) <
                   n_items;) {
        const int si = item / n_head, h = item % n_head;
        tf_seq *s = j->seqs[si];
        const int row = j->row_of_seq[si];
        tf_attn_shape shape = *j->shape;
        if (s->attn) {
            shape.stats = s->attn + (size_t)j->layer * n_head;
            shape.n_prompt = s->n_prompt;
        }
        if (s->attn_cap) {
            shape.capture = s->attn_cap + (size_t)j->layer * n_head;
            shape.capture_ld = s->n_cap;
        }
        attn_causal(&shape, j->q + (size_t)row * shape.ldq, j->n_tokens[si],
                    seq_k_layer(s, j->layer), seq_v_layer(s, j->layer), s->n_past, h, h + 1,
                    j->out + (size_t)row * shape.ldo, scores);
    }
}

void step_attn_causal(tf_pool *pool, const tf_attn_shape *shape, tf_seq *const *seqs,
                      const int *n_tokens, const int *row_of_seq, int n_seqs, int layer,
                      const float *q, float *out, float *scores, int scores_stride) {
    step_attn_job job = {.shape = shape, .seqs = seqs, .n_tokens = n_tokens,
                         .row_of_seq = row_of_seq, .n_seqs = n_seqs, .layer = layer, .q = q,
                         .out = out, .scores = scores, .scores_stride = scores_stride};
    atomic_init(&job.next, 0);
    pool_run(pool, step_attn_worker, &job);
}
