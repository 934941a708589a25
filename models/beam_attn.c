/* DESIGN: statistics are sums, so a beam's are its parent's plus its own rows: they are
 * copied on a fork like the K/V cache (first child keeps the slot), and a set per
 * hypothesis is all the answer needs, whatever the length. Rows cannot be summed, so they
 * are all kept, with one parent index per (step, beam); following the parents back from
 * the answer's last row costs one pass over its length once, and no step pays for rows
 * that are never returned. Moving the answer's rows in place to rows 0.. is safe in step
 * order: step t's row comes from index t * n_beams + beam >= t, and every index a later
 * step reads is above every index an earlier step wrote. */
#include "models/beam_attn.h"

#include <stdlib.h>
#include <string.h>

struct tf_beam_attn {
    int n_layer, n_head, n_src, n_beams, n_steps;
    /* statistics: 2 * n_beams sets (slots first, then hypotheses), or none */
    int stats;
    tf_attn_stats *dec, *cross; /* owned, [2 * n_beams][n_layer * n_head] */
    tf_attn_cross *cover;       /* owned, likewise; coverage views into `coverage` */
    float *coverage;            /* owned, [2 * n_beams][n_layer * n_head][n_src] */
    int *hyp_steps;             /* owned, [n_beams]: positions each hypothesis set holds */
    tf_attn_encdec view;        /* the returned hypothesis's, once finished */
    int finished;
    /* rows */
    tf_attn_encdec_store *store; /* borrowed, or NULL */
    int *parent;                /* owned, [n_steps][n_beams]: the row at step - 1 each row continues */
    int *path;                  /* owned, [n_steps]: the answer's row at each step */
};

void beam_attn_free(tf_beam_attn *ba) {
    if (!ba) return;
    free(ba->dec);
    free(ba->cross);
    free(ba->cover);
    free(ba->coverage);
    free(ba->hyp_steps);
    free(ba->parent);
    free(ba->path);
    free(ba);
}

int beam_attn_new(int n_layer, int n_head, int n_src, int n_beams, int n_steps, const tf_attn_encdec *search,
                  tf_attn_encdec_store *store, tf_beam_attn **out, tf_err *err) {
    *out = NULL;
    tf_beam_attn *ba = calloc(1, sizeof *ba);
    if (!ba) return err_set(err, TF_ENOMEM, "beam attention records");
    *ba = (tf_beam_attn){.n_layer = n_layer, .n_head = n_head, .n_src = n_src, .n_beams = n_beams,
                         .n_steps = n_steps, .stats = search != NULL, .store = store};
    const size_t lh = (size_t)n_layer * n_head, sets = 2 * (size_t)n_beams;
    if (ba->stats) {
        ba->dec = calloc(sets * lh, sizeof *ba->dec);
        ba->cross = calloc(sets * lh, sizeof *ba->cross);
        ba->cover = calloc(sets * lh, sizeof *ba->cover);
        ba->coverage = calloc(sets * lh * (size_t)n_src, sizeof *ba->coverage);
        ba->hyp_steps = calloc((size_t)n_beams, sizeof *ba->hyp_steps);
        if (!ba->dec || !ba->cross || !ba->cover || !ba->coverage || !ba->hyp_steps) goto nomem;
        for (size_t i = 0; i < sets * lh; i++)
            ba->cover[i] = (tf_attn_cross){.coverage = ba->coverage + i * (size_t)n_src, .n_src = n_src,
                                           .last_focus = -1};
        ba->view = *search; /* the encoder's part and the shape; the decoder's come at the end */
    }
    if (store) {
        ba->parent = calloc((size_t)n_steps * (size_t)n_beams, sizeof *ba->parent);
        ba->path = malloc(sizeof *ba->path * (size_t)n_steps);
        if (!ba->parent || !ba->path) goto nomem;
    }
    *out = ba;
    return 0;
nomem:
    beam_attn_free(ba);
    return err_set(err, TF_ENOMEM, "beam attention records for %d beams", n_beams);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static size_t set_off(const tf_beam_attn *ba, int set) { return (size_t)set * ba->n_layer * ba->n_head; }

static void set_copy(tf_beam_attn *ba, int from, int to) {
    const size_t lh = (size_t)ba->n_layer * ba->n_head, f = set_off(ba, from), t = set_off(ba, to);
    memcpy(ba->dec + t, ba->dec + f, sizeof *ba->dec * lh);
    memcpy(ba->cross + t, ba->cross + f, sizeof *ba->cross * lh);
    memcpy(ba->coverage + t * ba->n_src, ba->coverage + f * ba->n_src, sizeof *ba->coverage * lh * ba->n_src);
    for (size_t i = 0; i < lh; i++) { /* each set keeps its own coverage array */
        tf_attn_cross *d = &ba->cover[t + i];
        const tf_attn_cross *s = &ba->cover[f + i];
        d->last_focus = s->last_focus;
        d->n_steps = s->n_steps;
        d->n_repeat = s->n_repeat;
    }
}

/* The hypotheses the last beam step (re)wrote take their rows' sets, which are still in
 * the slots the rows were computed in. */
static void take_hyps(tf_beam_attn *ba, tf_beam *b, const int *slot) {
    for (int i = 0; i < b->n_hyp; i++) {
        beam_hyp *h = &b->hyp[i];
        if (!h->row_pending) continue;
        h->row_pending = 0;
        if (!ba->stats) continue;
        set_copy(ba, slot[h->row], ba->n_beams + i);
        ba->hyp_steps[i] = h->len + h->eos;
    }
}

void beam_attn_reorder(tf_beam_attn *ba, tf_beam *b, int step, const int *slot) {
    take_hyps(ba, b, slot);
    if (ba->store && step < ba->n_steps)
        memcpy(ba->parent + (size_t)step * ba->n_beams, b->parent, sizeof *ba->parent * (size_t)b->n_live);
}

void beam_attn_copy_slot(tf_beam_attn *ba, int from, int to) {
    if (ba->stats) set_copy(ba, from, to);
}

void beam_attn_row(tf_beam_attn *ba, int cross, int layer, int head, int slot, int beam, int step,
                   const float *p, int n_keys) {
    const size_t k = (size_t)layer * ba->n_head + head;
    if (ba->stats) {
        const size_t i = set_off(ba, slot) + k;
        if (cross) { /* as the kernel's hooks count a cross row: every key is a source token */
            attn_stats_add_row(&ba->cross[i], p, n_keys, n_keys);
            attn_cross_add_row(&ba->cover[i], p, n_keys);
        } else { /* the decoder's "prompt" is its start token */
            attn_stats_add_row(&ba->dec[i], p, n_keys, 1);
        }
    }
    if (ba->store) {
        float *w = cross ? ba->store->cross[k] : ba->store->dec[k];
        const size_t ld = cross ? (size_t)ba->n_src : (size_t)ba->store->view.dec_ld;
        if (w) memcpy(w + ((size_t)step * ba->n_beams + beam) * ld, p, sizeof *p * (size_t)n_keys);
    }
}

/* ---- the answer ------------------------------------------------------------------------------- */

/* Rows path[t] of steps [0, n) to rows [0, n) of every kept store of one kind. */
static void gather_rows(const tf_beam_attn *ba, float **table, size_t ld, int causal, int n) {
    const size_t pairs = (size_t)ba->n_layer * ba->n_head;
    for (size_t k = 0; k < pairs; k++) {
        if (!table[k]) continue;
        for (int t = 0; t < n; t++) {
            const size_t from = (size_t)t * ba->n_beams + ba->path[t];
            const size_t n_keys = causal ? (size_t)t + 1 : ld;
            if (from != (size_t)t) memcpy(table[k] + t * ld, table[k] + from * ld, sizeof(float) * n_keys);
        }
    }
}

void beam_attn_finish(tf_beam_attn *ba, tf_beam *b, const int *slot, int n_generated) {
    take_hyps(ba, b, slot);
    const int best = beam_best_index(b);
    if (ba->stats) {
        /* with no hypothesis, a set no row reached: zero steps */
        const size_t off = set_off(ba, ba->n_beams + (best >= 0 ? best : 0));
        ba->view.dec = ba->dec + off;
        ba->view.cross = ba->cross + off;
        ba->view.cover = ba->cover + off;
        ba->view.n_steps = best >= 0 ? ba->hyp_steps[best] : 0;
        ba->finished = 1;
    }
    if (!ba->store) return;
    const int n_fed = best >= 0 ? b->hyp[best].len + b->hyp[best].eos : 0;
    if (n_fed > 0 && n_fed <= ba->n_steps) {
        /* the last fed position's row, then each step's parent */
        ba->path[n_fed - 1] = b->hyp[best].row;
        for (int t = n_fed - 1; t > 0; t--) ba->path[t - 1] = ba->parent[(size_t)t * ba->n_beams + ba->path[t]];
    }
    const int n = n_fed > ba->n_steps ? 0 : n_fed < n_generated ? n_fed : n_generated;
    gather_rows(ba, ba->store->dec, (size_t)ba->store->view.dec_ld, 1, n);
    gather_rows(ba, ba->store->cross, (size_t)ba->n_src, 0, n);
    ba->store->view.n_rows = n;
}

const tf_attn_encdec *beam_attn_view(const tf_beam_attn *ba) { return ba && ba->finished ? &ba->view : NULL; }
