/* DESIGN: a T5 sequence's own state (tf_seq.fam): the cross-attention K/V of its input, one
 * self-attention cache per beam, and, when asked, its attention statistics and kept
 * weights; models/t5.c runs the step over it.
 *
 * Beams: each beam has a cache slot; after a beam step a beam keeps its parent's slot
 * when it is that parent's first child, and only later children copy the parent's rows
 * into a free slot (copy on divergence). What follows a beam besides its cache (its last
 * cross-attention focus; models/beam_attn.c's records of its own attention) moves with
 * it in the same pass. */
#include <stdlib.h>
#include <string.h>

#include "models/beam.h"
#include "models/beam_attn.h"
#include "models/t5_impl.h"

/* ---- statistics ------------------------------------------------------------------------ */

static void mon_free(t5_mon *mon) {
    if (!mon) return;
    free(mon->enc);
    free(mon->dec);
    free(mon->cross);
    free(mon->cover);
    free(mon->coverage);
    free(mon->focus);
    free(mon->focus2);
    free(mon);
}

static int mon_new(const t5 *g, int n_in, int n_slots, t5_mon **out) {
    t5_mon *mon = calloc(1, sizeof *mon);
    if (!mon) return TF_ENOMEM;
    const size_t H = (size_t)g->n_head, dh = (size_t)g->n_dec * H;
    mon->enc = calloc((size_t)g->n_enc * H, sizeof *mon->enc);
    mon->dec = calloc(dh, sizeof *mon->dec);
    mon->cross = calloc(dh, sizeof *mon->cross);
    mon->cover = calloc(dh, sizeof *mon->cover);
    mon->coverage = calloc(dh * (size_t)n_in, sizeof *mon->coverage);
    mon->focus = malloc(sizeof(int) * dh * (size_t)n_slots);
    mon->focus2 = malloc(sizeof(int) * dh * (size_t)n_slots);
    if (!mon->enc || !mon->dec || !mon->cross || !mon->cover || !mon->coverage || !mon->focus || !mon->focus2) {
        mon_free(mon);
        return TF_ENOMEM;
    }
    for (size_t i = 0; i < dh; i++) {
        mon->cover[i].coverage = mon->coverage + i * (size_t)n_in;
        mon->cover[i].n_src = n_in;
        mon->cover[i].last_focus = -1;
    }
    for (size_t i = 0; i < dh * (size_t)n_slots; i++) mon->focus[i] = -1;
    mon->view = (tf_attn_encdec){.enc = mon->enc, .dec = mon->dec, .cross = mon->cross, .cover = mon->cover,
                                 .n_enc_layer = g->n_enc, .n_dec_layer = g->n_dec, .n_head = g->n_head,
                                 .n_src = n_in, .n_steps = 0};
    *out = mon;
    return 0;
}

/* ---- the sequence ------------------------------------------------------------------------ */

void t5_seq_release(tf_seq *s) {
    t5_seq *ts = s->fam;
    if (!ts) return;
    beam_attn_free(ts->battn);
    s->attn_encdec_hyp = NULL;
    mon_free(ts->mon);
    s->attn_encdec = NULL;
    attn_capture_encdec_free(ts->full);
    s->attn_encdec_full = NULL;
    free(ts->ck);
    free(ts->cv);
    free(ts->sk);
    free(ts->sv);
    free(ts->slot);
    free(ts->slot2);
    free(ts->claimed);
    free(ts);
    s->fam = NULL;
}

/* Cache elements of one of K or V: cross-attention [n_dec][n_in][inner], self-attention
 * [n_dec][num_beams][max_new_tokens + 1][inner] (the start token is a position too). */
static void cache_elems(const t5 *g, int n_in, const tf_gen_params *p, size_t *cross, size_t *self) {
    *cross = (size_t)g->n_dec * (size_t)n_in * (size_t)g->inner;
    *self = (size_t)g->n_dec * (size_t)p->num_beams * ((size_t)p->max_new_tokens + 1) * (size_t)g->inner;
}

size_t t5_seq_kv_need(const tf_model *m, int n_in, const tf_gen_params *p) {
    size_t cross, self;
    cache_elems(m->impl, n_in, p, &cross, &self);
    return attn_kv_elem_bytes(m->kv_dtype) * 2 * (cross + self);
}

int t5_seq_init(tf_seq *s, const tf_gen_params *p, tf_err *err) {
    t5 *g = s->model->impl;
    t5_seq *ts = calloc(1, sizeof *ts);
    if (!ts) return err_set(err, TF_ENOMEM, "t5 sequence");
    s->fam = ts;
    ts->n_in = s->n_prompt;
    ts->n_slots = p->num_beams;
    ts->dec_cap = p->max_new_tokens + 1;
    const size_t el = attn_kv_elem_bytes(s->model->kv_dtype);
    size_t cross, self;
    cache_elems(g, ts->n_in, p, &cross, &self);
    ts->ck = malloc(el * cross);
    ts->cv = malloc(el * cross);
    ts->sk = malloc(el * self);
    ts->sv = malloc(el * self);
    ts->slot = malloc(sizeof(int) * (size_t)ts->n_slots);
    ts->slot2 = malloc(sizeof(int) * (size_t)ts->n_slots);
    ts->claimed = malloc((size_t)ts->n_slots);
    if (!ts->ck || !ts->cv || !ts->sk || !ts->sv || !ts->slot || !ts->slot2 || !ts->claimed) {
        t5_seq_release(s);
        return err_set(err, TF_ENOMEM, "T5 caches: %zu bytes", t5_seq_kv_need(s->model, ts->n_in, p));
    }
    for (int i = 0; i < ts->n_slots; i++) ts->slot[i] = i;
    s->kv_bytes += t5_seq_kv_need(s->model, ts->n_in, p);
    if (p->attn_summary) {
        if (mon_new(g, ts->n_in, ts->n_slots, &ts->mon) < 0) {
            t5_seq_release(s);
            return err_set(err, TF_ENOMEM, "attention statistics");
        }
        s->attn_encdec = &ts->mon->view;
    }
    if (p->attn_full) {
        int rc = attn_capture_encdec_new(g->n_enc, g->n_dec, g->n_head, &p->attn_sel, ts->n_in, ts->dec_cap,
                                         p->num_beams, &ts->full, err);
        if (rc < 0) {
            t5_seq_release(s);
            return rc;
        }
        ts->full->view.dec_start_id = s->model->decoder_start_id;
        s->attn_encdec_full = &ts->full->view;
    }
    const int per_beam = ts->mon && p->attn_per_beam;
    if (p->num_beams > 1 && (per_beam || ts->full)) {
        int rc = beam_attn_new(g->n_dec, g->n_head, ts->n_in, p->num_beams, ts->dec_cap,
                               per_beam ? &ts->mon->view : NULL, ts->full, &ts->battn, err);
        if (rc < 0) {
            t5_seq_release(s);
            return rc;
        }
    }
    return 0;
}

/* The search is over: the answer's own statistics and rows become the sequence's. */
void t5_seq_beam_done(tf_seq *s) {
    t5_seq *ts = s->fam;
    if (!ts || !ts->battn) return;
    beam_attn_finish(ts->battn, s->beam, ts->slot, s->n_tokens - s->n_prompt);
    s->attn_encdec_hyp = beam_attn_view(ts->battn);
}

/* ---- beams ------------------------------------------------------------------------------ */

/* After a beam step: beam i continues previous row parent[i]. The first child of a row
 * inherits its slot; other children copy its dec_len cached positions into a free slot. */
void t5_seq_reorder_beams(const tf_model *m, const t5 *g, t5_seq *ts, tf_beam *b) {
    const int n = b->n_live;
    if (ts->battn) beam_attn_reorder(ts->battn, b, ts->dec_len, ts->slot);
    memset(ts->claimed, 0, (size_t)ts->n_slots);
    for (int i = 0; i < n; i++) ts->slot2[i] = -1;
    for (int i = 0; i < n; i++) {
        const int src = ts->slot[b->parent[i]];
        if (!ts->claimed[src]) {
            ts->claimed[src] = 1;
            ts->slot2[i] = src;
        }
    }
    int free_slot = 0;
    const size_t bytes = (size_t)ts->dec_len * g->inner * attn_kv_elem_bytes(m->kv_dtype);
    for (int i = 0; i < n; i++) {
        if (ts->slot2[i] >= 0) continue;
        while (ts->claimed[free_slot]) free_slot++;
        ts->claimed[free_slot] = 1;
        const int src = ts->slot[b->parent[i]];
        for (int l = 0; l < g->n_dec; l++) {
            const size_t to = t5_self_off(g, ts, l, free_slot), from = t5_self_off(g, ts, l, src);
            memcpy(t5_kv_at(m, ts->sk, to), t5_kv_at(m, ts->sk, from), bytes);
            memcpy(t5_kv_at(m, ts->sv, to), t5_kv_at(m, ts->sv, from), bytes);
        }
        if (ts->battn) beam_attn_copy_slot(ts->battn, src, free_slot);
        ts->slot2[i] = free_slot;
    }
    int *t = ts->slot;
    ts->slot = ts->slot2;
    ts->slot2 = t;
    if (ts->mon) { /* each beam's previous focus is its parent's */
        const size_t lh = (size_t)g->n_dec * g->n_head;
        for (int i = 0; i < n; i++)
            memcpy(ts->mon->focus2 + i * lh, ts->mon->focus + (size_t)b->parent[i] * lh, sizeof(int) * lh);
        t = ts->mon->focus;
        ts->mon->focus = ts->mon->focus2;
        ts->mon->focus2 = t;
    }
    b->parent_pending = 0;
}
