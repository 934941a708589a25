/* DESIGN: candidates are kept in a sorted array of 2·num_beams entries (insertion only
 * when a score beats the current last), so a step is one pass over beams·vocab scores.
 * Live beams' tokens live in [n_beams][max_new] arrays swapped each step; a beam's
 * history is copied from its parent's row, which is cheap next to a decoder step. */
#include "models/beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"

int beam_new(const tf_gen_params *p, int vocab, int32_t eos_id, int32_t start_id, tf_beam **out,
             tf_err *err) {
    *out = NULL;
    tf_beam *b = calloc(1, sizeof *b);
    if (!b) return err_set(err, TF_ENOMEM, "beam search state");
    const int nb = p->num_beams, mx = p->max_new_tokens;
    b->n_beams = nb;
    b->vocab = vocab;
    b->max_new = mx;
    b->length_penalty = p->length_penalty;
    b->early_stopping = p->early_stopping;
    b->min_new = p->min_new_tokens;
    b->no_repeat = p->no_repeat_ngram_size;
    b->eos_id = eos_id;
    b->start_id = start_id;
    b->n_live = 1;
    b->worst = 1e9;
    const size_t cells = (size_t)nb * (size_t)mx;
    b->tok = malloc(sizeof(int32_t) * cells);
    b->tok2 = malloc(sizeof(int32_t) * cells);
    b->lp = malloc(sizeof(float) * cells);
    b->lp2 = malloc(sizeof(float) * cells);
    b->hyp_tok = malloc(sizeof(int32_t) * cells);
    b->hyp_lp = malloc(sizeof(float) * cells);
    b->score = calloc((size_t)nb, sizeof(double));
    b->score2 = calloc((size_t)nb, sizeof(double));
    b->parent = calloc((size_t)nb, sizeof(int));
    b->hyp = calloc((size_t)nb, sizeof(beam_hyp));
    b->cand = malloc(sizeof(beam_cand) * 2 * (size_t)nb);
    b->hist = malloc(sizeof(int32_t) * ((size_t)mx + 1));
    if (!b->tok || !b->tok2 || !b->lp || !b->lp2 || !b->hyp_tok || !b->hyp_lp || !b->score ||
        !b->score2 || !b->parent || !b->hyp || !b->cand || !b->hist) {
        beam_free(b);
        return err_set(err, TF_ENOMEM, "beam search state for %d beams x %d tokens", nb, mx);
    }
    *out = b;
    return 0;
}

void beam_free(tf_beam *b) {
    if (!b) return;
    free(b->tok);
    free(b->tok2);
    free(b->lp);
    free(b->lp2);
    free(b->hyp_tok);
    free(b->hyp_lp);
    free(b->score);
    free(b->score2);
    free(b->parent);
    free(b->hyp);
    free(b->cand);
    free(b->hist);
    free(b);
}

int32_t beam_last(const tf_beam *b, int row) {
    return b->cur == 0 ? b->start_id : b->tok[(size_t)row * b->max_new + b->cur - 1];
}

void logits_ban_ngrams(float *logits, const int32_t *hist, int n_hist, int n) {
    if (n < 1 || n_hist + 1 < n) return;
    const int32_t *prefix = hist + n_hist - (n - 1);
    for (int s = 0; s + n <= n_hist; s++)
        if (memcmp(hist + s, prefix, sizeof(int32_t) * (size_t)(n - 1)) == 0)
            logits[hist[s + n - 1]] = -INFINITY;
}

static double len_score(double sum, int len, float penalty) {
    return sum / pow((double)len, (double)penalty);
}

/* row: the live row of the step that fed the hypothesis's last position (beam_hyp.row). */
static void hyp_add(tf_beam *b, const int32_t *tok, const float *lp, int len, int eos, float eos_lp,
                    double sum, int gen_len, int row) {
    const double sc = len_score(sum, gen_len, b->length_penalty);
    int slot;
    if (b->n_hyp < b->n_beams) {
        slot = b->n_hyp++;
    } else {
        if (!(sc > b->worst)) return;
        slot = 0;
        for (int i = 1; i < b->n_hyp; i++)
            if (b->hyp[i].score < b->hyp[slot].score) slot = i;
    }
    b->hyp[slot] = (beam_hyp){sc, len, eos, eos_lp, row, 1};
    memcpy(b->hyp_tok + (size_t)slot * b->max_new, tok, sizeof(int32_t) * (size_t)len);
    memcpy(b->hyp_lp + (size_t)slot * b->max_new, lp, sizeof(float) * (size_t)len);
    if (b->n_hyp < b->n_beams && slot == b->n_hyp - 1) {
        if (sc < b->worst) b->worst = sc;
    } else {
        b->worst = b->hyp[0].score;
        for (int i = 1; i < b->n_hyp; i++)
            if (b->hyp[i].score < b->worst) b->worst = b->hyp[i].score;
    }
}

/* The live beams' last tokens were chosen but never fed: their histories end at their
 * parents' rows. */
static void finalize(tf_beam *b) {
    for (int r = 0; r < b->n_live; r++)
        hyp_add(b, b->tok + (size_t)r * b->max_new, b->lp + (size_t)r * b->max_new, b->cur, 0, 0.0f,
                b->score[r], b->cur, b->parent[r]);
    b->done = 1;
}

int beam_step(tf_beam *b, float *logits) {
    if (b->done) return 1;
    const int V = b->vocab, K = 2 * b->n_beams, mx = b->max_new;
    int n_cand = 0;
    for (int r = 0; r < b->n_live; r++) {
        float *row = logits + (size_t)r * V;
        const float lse = ops_logsumexp(row, V);
        for (int v = 0; v < V; v++) row[v] -= lse;
        if (b->cur < b->min_new && b->eos_id >= 0 && b->eos_id < V) row[b->eos_id] = -INFINITY;
        if (b->no_repeat > 0) {
            b->hist[0] = b->start_id;
            memcpy(b->hist + 1, b->tok + (size_t)r * mx, sizeof(int32_t) * (size_t)b->cur);
            logits_ban_ngrams(row, b->hist, b->cur + 1, b->no_repeat);
        }
        const double base = b->score[r];
        for (int v = 0; v < V; v++) {
            const double sc = base + (double)row[v];
            if (n_cand == K && !(sc > b->cand[K - 1].score)) continue;
            int pos = n_cand < K ? n_cand++ : K - 1;
            while (pos > 0 && b->cand[pos - 1].score < sc) {
                b->cand[pos] = b->cand[pos - 1];
                pos--;
            }
            b->cand[pos] = (beam_cand){sc, v, r};
        }
    }
    const double best_next = n_cand ? b->cand[0].score : -INFINITY;
    int n_new = 0;
    for (int rank = 0; rank < n_cand && n_new < b->n_beams; rank++) {
        const beam_cand *c = &b->cand[rank];
        const int32_t *src_tok = b->tok + (size_t)c->row * mx;
        const float *src_lp = b->lp + (size_t)c->row * mx;
        const float tok_lp = logits[(size_t)c->row * V + c->token];
        if (c->token == b->eos_id) {
            if (rank >= b->n_beams) continue;
            hyp_add(b, src_tok, src_lp, b->cur, 1, tok_lp, c->score, b->cur + 1, c->row);
            continue;
        }
        int32_t *dt = b->tok2 + (size_t)n_new * mx;
        float *dl = b->lp2 + (size_t)n_new * mx;
        memcpy(dt, src_tok, sizeof(int32_t) * (size_t)b->cur);
        memcpy(dl, src_lp, sizeof(float) * (size_t)b->cur);
        dt[b->cur] = c->token;
        dl[b->cur] = tok_lp;
        b->score2[n_new] = c->score;
        b->parent[n_new] = c->row;
        n_new++;
    }
    /* swap in the new beams */
    int32_t *t = b->tok;
    b->tok = b->tok2;
    b->tok2 = t;
    float *l = b->lp;
    b->lp = b->lp2;
    b->lp2 = l;
    double *s = b->score;
    b->score = b->score2;
    b->score2 = s;
    b->cur++;
    b->n_live = n_new;
    b->parent_pending = 1;
    if (b->n_hyp >= b->n_beams &&
        (b->early_stopping || b->worst >= len_score(best_next, b->cur, b->length_penalty))) {
        b->done = 1;
        return 1;
    }
    if (b->cur >= mx || n_new == 0) {
        finalize(b);
        return 1;
    }
    return 0;
}

int beam_best_index(const tf_beam *b) {
    int best = 0;
    for (int i = 1; i < b->n_hyp; i++)
        if (b->hyp[i].score >= b->hyp[best].score) best = i;
    return b->n_hyp ? best : -1;
}

void beam_best(const tf_beam *b, const int32_t **tok, const float **lp, int *n, int *eos,
               float *eos_lp) {
    int best = beam_best_index(b);
    if (best < 0) best = 0;
    *tok = b->hyp_tok + (size_t)best * b->max_new;
    *lp = b->hyp_lp + (size_t)best * b->max_new;
    *n = b->n_hyp ? b->hyp[best].len : 0;
    *eos = b->n_hyp ? b->hyp[best].eos : 0;
    *eos_lp = b->n_hyp ? b->hyp[best].eos_lp : 0.0f;
}
