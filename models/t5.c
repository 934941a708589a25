/* DESIGN: T5ForConditionalGeneration as transformers computes it (modeling_t5.py), for a
 * batch of sequences at once. The step that completes a sequence's input (fed whole or
 * in chunks, like a prompt) runs the encoder over all of it, computes every decoder layer's cross-attention K/V from the encoder output once,
 * and feeds the decoder start token; later steps feed one token per live beam. All
 * encoder rows of a step form one activation matrix, and so do all decoder rows (every
 * beam of every sequence), so each linear layer is one matrix product per step.
 *
 * Where T5 differs from GPT-2: RMS norm without bias; attention scores unscaled, plus a
 * relative-position bias that block 0 of each stack owns and every block reuses (here a
 * per-head table over clamped relative positions, built once at load); no biases in any
 * linear layer; a tied head scales the decoder output by d_model^-0.5.
 *
 * Beams: one decoder row per live beam; the caches follow the beams (models/t5_seq.c).
 *
 * Attention statistics (attn_summary, models/model.h tf_attn_encdec) come from the kernel's
 * hooks as each softmax row is made: per layer and head for the encoder, the decoder
 * self-attention and the cross-attention, plus cross-attention coverage and repeated focus.
 * Attention work is dealt as (sequence, head) items, so one thread writes a sequence's
 * accumulators of a head and walks its beams in order; the beams' rows share the sums,
 * while each beam keeps its own previous focus (inherited from its parent on reorder).
 * What the returned hypothesis alone attended to (its statistics, its full weights) is
 * models/beam_attn.c's: each decoder row is handed to it after its kernel call, and it
 * follows the beams through the same reorders as the caches. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/attention.h"
#include "core/ops.h"
#include "models/beam.h"
#include "models/beam_attn.h"
#include "models/t5_impl.h"

/* ---- forward ------------------------------------------------------------------------------ */

static int ensure_rows(t5 *g, int rows, int n_keys, int n_threads, tf_err *err) {
    if (rows > g->cap_rows) {
        const size_t e = (size_t)g->d_model, in = (size_t)g->inner, ff = (size_t)g->d_ff;
        float **bufs[] = {&g->x, &g->h, &g->q, &g->k, &g->v, &g->att, &g->ff, &g->ff1};
        const size_t widths[] = {e, e, in, in, in, in, ff, ff};
        for (int i = 0; i < 8; i++) {
            float *p = realloc(*bufs[i], sizeof(float) * (size_t)rows * widths[i]);
            if (!p) return err_set(err, TF_ENOMEM, "step scratch for %d rows", rows);
            *bufs[i] = p;
        }
        g->cap_rows = rows;
    }
    if (n_keys > g->cap_scores) {
        float *p = realloc(g->scores, sizeof(float) * (size_t)n_keys * n_threads);
        if (!p) return err_set(err, TF_ENOMEM, "attention scratch for %d keys", n_keys);
        g->scores = p;
        g->cap_scores = n_keys;
    }
    return 0;
}

static void feed_forward(tf_model *m, t5 *g, const t5_block *b, int rows) {
    const int e = g->d_model;
    const size_t n = (size_t)rows * g->d_ff;
    ops_rmsnorm(g->x, g->h, rows, e, b->ln_ff, g->eps);
    linear_forward(&b->wi, m->pool, &g->ws, g->h, rows, g->ff);
    switch (g->act) {
    case 0: ops_relu(g->ff, n); break;
    case 1: ops_gelu_tanh(g->ff, n); break;
    case 2: ops_gelu_erf(g->ff, n); break;
    default: ops_silu(g->ff, n); break;
    }
    if (g->gated) {
        linear_forward(&b->wi1, m->pool, &g->ws, g->h, rows, g->ff1);
        for (size_t i = 0; i < n; i++) g->ff[i] *= g->ff1[i];
    }
    linear_forward(&b->wo, m->pool, &g->ws, g->ff, rows, g->h);
    ops_add(g->x, g->h, (size_t)rows * e);
}

/* Which attention a work list runs: it picks the sequence's statistics it feeds. */
typedef enum t5_attn_kind { T5_ENC_SELF, T5_DEC_SELF, T5_CROSS } t5_attn_kind;

/* The units of one attention call (a unit is an encoder sequence or a decoder row) and
 * their groups (a group is one sequence: its encoder unit, or its decoder rows, one per
 * live beam, which are consecutive). */
typedef struct t5_plan {
    int n;               /* units */
    int *q_row, *n_q, *q_pos0, *n_kv;
    const void **k, **v; /* [n]: fp32 step scratch (encoder) or the sequence's caches */
    tf_seq **seq;        /* [n] */
    int *beam;           /* [n]: the beam index of a decoder row (0 for the encoder) */
    int n_groups;
    int *grp;            /* [n_groups + 1]: group i is units [grp[i], grp[i + 1]) */
} t5_plan;

typedef struct t5_attn_job {
    const tf_model *m;
    t5 *g;
    const t5_plan *p;
    t5_attn_kind kind;
    int layer;
    const float *q;      /* rows, ld inner */
    float *out;          /* rows, ld inner */
    int causal;
    const float *bias;
} t5_attn_job;

/* Head h of unit u, feeding the sequence's statistics when it collects them. Monitoring
 * hooks of the kernel (stats, cross, capture) are set here and nowhere else. */
static void unit_attention(const t5_attn_job *j, int u, int h, float *scores) {
    const t5 *g = j->g;
    const t5_plan *p = j->p;
    tf_attn_shape sh = {.n_head = g->n_head, .n_kv_head = g->n_head, .d_head = g->d_kv, .scale = 1.0f,
                        .ldq = g->inner, .ldkv = g->inner, .ldo = g->inner,
                        .kv_dtype = j->kind == T5_ENC_SELF ? TF_KV_F32 : j->m->kv_dtype};
    const t5_seq *ts = p->seq[u]->fam;
    t5_mon *mon = ts->mon;
    int *focus = NULL;
    /* one beam: a row's position is its decoder position (cross: q_pos0); beams hand their
     * decoder rows to ts->battn below */
    if (ts->full && (j->kind == T5_ENC_SELF || !ts->battn)) {
        const size_t lh = (size_t)j->layer * g->n_head;
        sh.capture = (j->kind == T5_ENC_SELF ? ts->full->enc : j->kind == T5_DEC_SELF ? ts->full->dec
                                                                                        : ts->full->cross) + lh;
        sh.capture_ld = j->kind == T5_DEC_SELF ? ts->full->view.dec_ld : ts->n_in;
    }
    if (mon) {
        const size_t lh = (size_t)j->layer * g->n_head;
        sh.n_prompt = p->n_kv[u];
        if (j->kind == T5_ENC_SELF) {
            sh.stats = mon->enc + lh;
        } else if (j->kind == T5_DEC_SELF) {
            sh.stats = mon->dec + lh;
            sh.n_prompt = 1; /* the decoder's "prompt" is its start token */
        } else {
            sh.stats = mon->cross + lh;
            sh.cross = mon->cover + lh;
            /* the accumulator is the sequence's; the previous focus is this beam's */
            focus = mon->focus + ((size_t)p->beam[u] * g->n_dec + j->layer) * g->n_head + h;
            sh.cross[h].last_focus = *focus;
        }
    }
    const size_t r = (size_t)p->q_row[u] * g->inner;
    if (j->kind == T5_ENC_SELF) /* n_q = n_kv, q_pos0 0: many queries per pass */
        attn_full_blocked(&sh, j->q + r, p->n_q[u], (const float *)p->k[u], (const float *)p->v[u],
                          p->n_kv[u], j->bias, g->max_dist, h, h + 1, j->out + r, scores);
    else
        attn_biased(&sh, j->q + r, p->n_q[u], p->q_pos0[u], p->k[u], p->v[u], p->n_kv[u], j->causal, j->bias,
                    g->max_dist, h, h + 1, j->out + r, scores);
    if (focus) *focus = sh.cross[h].last_focus;
    if (ts->battn && j->kind != T5_ENC_SELF) /* scores holds this row's weights */
        beam_attn_row(ts->battn, j->kind == T5_CROSS, j->layer, h, ts->slot[p->beam[u]], p->beam[u], ts->dec_len,
                      scores, p->n_kv[u]);
}

/* Items are (group, head) pairs dealt round-robin: a sequence's beams for one head run on
 * one thread, in beam order, so its statistics need no lock. */
static void attn_worker(void *ctx, int ith, int nth) {
    t5_attn_job *j = ctx;
    t5 *g = j->g;
    float *scores = g->scores + (size_t)ith * g->cap_scores;
    const int n_items = j->p->n_groups * g->n_head;
    for (int item = ith; item < n_items; item += nth) {
        const int gi = item / g->n_head, h = item % g->n_head;
        for (int u = j->p->grp[gi]; u < j->p->grp[gi + 1]; u++) unit_attention(j, u, h, scores);
    }
}

static void plan_free(t5_plan *p) {
    free(p->q_row);
    free(p->n_q);
    free(p->q_pos0);
    free(p->n_kv);
    free(p->k);
    free(p->v);
    free(p->seq);
    free(p->beam);
    free(p->grp);
}

static int plan_alloc(t5_plan *p, int n, tf_err *err) {
    memset(p, 0, sizeof *p);
    p->n = n;
    size_t sz = (size_t)(n > 0 ? n : 1);
    p->q_row = malloc(sizeof(int) * sz);
    p->n_q = malloc(sizeof(int) * sz);
    p->q_pos0 = malloc(sizeof(int) * sz);
    p->n_kv = malloc(sizeof(int) * sz);
    p->k = malloc(sizeof(void *) * sz);
    p->v = malloc(sizeof(void *) * sz);
    p->seq = malloc(sizeof(tf_seq *) * sz);
    p->beam = malloc(sizeof(int) * sz);
    p->grp = malloc(sizeof(int) * (sz + 1));
    if (!p->q_row || !p->n_q || !p->q_pos0 || !p->n_kv || !p->k || !p->v || !p->seq || !p->beam || !p->grp) {
        plan_free(p);
        return err_set(err, TF_ENOMEM, "step plan");
    }
    p->grp[0] = 0;
    return 0;
}

static void run_attention(tf_model *m, t5 *g, const t5_plan *p, t5_attn_kind kind, int layer, int causal,
                          const float *bias) {
    t5_attn_job job = {.m = m, .g = g, .p = p, .kind = kind, .layer = layer, .q = g->q, .out = g->att,
                       .causal = causal, .bias = bias};
    pool_run(m->pool, attn_worker, &job);
}

/* Encoder over the sequences in enc (their whole inputs), then their cross K/V. */
static int run_encoder(tf_model *m, t5 *g, tf_seq **enc, int n_enc, tf_err *err) {
    t5_plan p;
    int rc = plan_alloc(&p, n_enc, err);
    if (rc < 0) return rc;
    int rows = 0, max_in = 0;
    p.n_groups = n_enc;
    for (int i = 0; i < n_enc; i++) {
        t5_seq *ts = enc[i]->fam;
        p.q_row[i] = rows;
        p.n_q[i] = p.n_kv[i] = ts->n_in;
        p.q_pos0[i] = 0;
        p.seq[i] = enc[i];
        p.beam[i] = 0;
        p.grp[i + 1] = i + 1;
        rows += ts->n_in;
        if (ts->n_in > max_in) max_in = ts->n_in;
    }
    /* per-thread attention scratch: the blocked encoder kernels need K transposed and a
     * block of score rows, more than the decoder's one row of n_keys */
    const size_t scratch = attn_full_blocked_scratch(max_in, g->d_kv);
    if (scratch > INT_MAX) {
        rc = err_set(err, TF_ENOMEM, "attention scratch for %d input tokens", max_in);
        goto done;
    }
    if ((rc = ensure_rows(g, rows, (int)scratch, pool_size(m->pool), err)) < 0) goto done;
    const int e = g->d_model, in = g->inner;
    for (int i = 0; i < n_enc; i++) {
        p.k[i] = g->k + (size_t)p.q_row[i] * in;
        p.v[i] = g->v + (size_t)p.q_row[i] * in;
        for (int t = 0; t < p.n_q[i]; t++)
            linear_row(&g->shared, enc[i]->tokens[t], g->x + (size_t)(p.q_row[i] + t) * e);
    }
    for (int l = 0; l < g->n_enc; l++) {
        const t5_block *b = &g->enc[l];
        ops_rmsnorm(g->x, g->h, rows, e, b->ln_attn, g->eps);
        linear_forward(&b->self.q, m->pool, &g->ws, g->h, rows, g->q);
        linear_forward(&b->self.k, m->pool, &g->ws, g->h, rows, g->k);
        linear_forward(&b->self.v, m->pool, &g->ws, g->h, rows, g->v);
        run_attention(m, g, &p, T5_ENC_SELF, l, 0, g->enc_bias);
        linear_forward(&b->self.o, m->pool, &g->ws, g->att, rows, g->h);
        ops_add(g->x, g->h, (size_t)rows * e);
        feed_forward(m, g, b, rows);
    }
    ops_rmsnorm(g->x, g->h, rows, e, g->enc_ln, g->eps);
    for (int l = 0; l < g->n_dec; l++) {
        linear_forward(&g->dec[l].cross.k, m->pool, &g->ws, g->h, rows, g->k);
        linear_forward(&g->dec[l].cross.v, m->pool, &g->ws, g->h, rows, g->v);
        for (int i = 0; i < n_enc; i++) {
            t5_seq *ts = enc[i]->fam;
            const size_t n = (size_t)ts->n_in * in, off = (size_t)l * n;
            attn_kv_store(m->kv_dtype, ts->ck, off, g->k + (size_t)p.q_row[i] * in, (int)n);
            attn_kv_store(m->kv_dtype, ts->cv, off, g->v + (size_t)p.q_row[i] * in, (int)n);
        }
    }
done:
    plan_free(&p);
    return rc;
}

static int t5_forward(tf_model *m, tf_seq *const *seqs, const int *n_tokens, int n_seqs,
                      const uint8_t *want_logits, float *logits, tf_err *err) {
    t5 *g = m->impl;
    int rc = 0;
    /* 1. encoder for the sequences whose input is not read yet */
    tf_seq **enc = malloc(sizeof(tf_seq *) * (size_t)(n_seqs > 0 ? n_seqs : 1));
    if (!enc) return err_set(err, TF_ENOMEM, "step");
    int n_enc = 0;
    /* An input fed in chunks is encoded when its last chunk arrives: the encoder is
     * bidirectional, so no position can be computed before all are known. */
    uint8_t *active = malloc((size_t)(n_seqs > 0 ? n_seqs : 1));
    if (!active) {
        free(enc);
        return err_set(err, TF_ENOMEM, "step");
    }
    for (int i = 0; i < n_seqs; i++) {
        tf_seq *s = seqs[i];
        active[i] = s->n_past + n_tokens[i] >= s->n_prompt;
        if (s->n_past < s->n_prompt && active[i]) enc[n_enc++] = s;
    }
    if (n_enc > 0) rc = run_encoder(m, g, enc, n_enc, err);
    free(enc);
    if (rc < 0) {
        free(active);
        return rc;
    }

    /* 2. one decoder position for every live beam of every active sequence */
    int rows = 0, max_keys = 1;
    for (int i = 0; i < n_seqs; i++) {
        tf_seq *s = seqs[i];
        t5_seq *ts = s->fam;
        if (!active[i]) continue;
        if (s->beam && s->beam->parent_pending) t5_seq_reorder_beams(m, g, ts, s->beam);
        rows += s->beam ? s->beam->n_live : 1;
        if (ts->dec_len + 1 > max_keys) max_keys = ts->dec_len + 1;
        if (ts->n_in > max_keys) max_keys = ts->n_in;
        if (ts->dec_len >= ts->dec_cap) {
            free(active);
            return err_set(err, TF_EINVALID, "the sequence has no decoder positions left");
        }
    }
    t5_plan p;
    if ((rc = plan_alloc(&p, rows, err)) < 0) {
        free(active);
        return rc;
    }
    if ((rc = ensure_rows(g, rows, max_keys, pool_size(m->pool), err)) < 0) goto done;
    const int e = g->d_model, in = g->inner;
    int r = 0;
    for (int i = 0; i < n_seqs; i++) {
        tf_seq *s = seqs[i];
        t5_seq *ts = s->fam;
        const int nb = !active[i] ? 0 : s->beam ? s->beam->n_live : 1;
        if (nb > 0) p.grp[++p.n_groups] = r + nb;
        for (int bi = 0; bi < nb; bi++, r++) {
            int32_t tok = ts->dec_len == 0 ? m->decoder_start_id
                          : s->beam       ? beam_last(s->beam, bi)
                                          : s->tokens[s->n_tokens - 1];
            linear_row(&g->shared, tok, g->x + (size_t)r * e);
            p.seq[r] = s;
            p.beam[r] = bi;
            p.q_row[r] = r;
            p.n_q[r] = 1;
        }
    }
    for (int l = 0; l < g->n_dec; l++) {
        const t5_block *b = &g->dec[l];
        ops_rmsnorm(g->x, g->h, rows, e, b->ln_attn, g->eps);
        linear_forward(&b->self.q, m->pool, &g->ws, g->h, rows, g->q);
        linear_forward(&b->self.k, m->pool, &g->ws, g->h, rows, g->k);
        linear_forward(&b->self.v, m->pool, &g->ws, g->h, rows, g->v);
        for (r = 0; r < rows; r++) {
            t5_seq *ts = p.seq[r]->fam;
            const size_t off = t5_self_off(g, ts, l, ts->slot[p.beam[r]]);
            attn_kv_store(m->kv_dtype, ts->sk, off + (size_t)ts->dec_len * in, g->k + (size_t)r * in, in);
            attn_kv_store(m->kv_dtype, ts->sv, off + (size_t)ts->dec_len * in, g->v + (size_t)r * in, in);
            p.k[r] = t5_kv_at(m, ts->sk, off);
            p.v[r] = t5_kv_at(m, ts->sv, off);
            p.q_pos0[r] = ts->dec_len;
            p.n_kv[r] = ts->dec_len + 1;
        }
        run_attention(m, g, &p, T5_DEC_SELF, l, 1, g->dec_bias);
        linear_forward(&b->self.o, m->pool, &g->ws, g->att, rows, g->h);
        ops_add(g->x, g->h, (size_t)rows * e);
        ops_rmsnorm(g->x, g->h, rows, e, b->ln_cross, g->eps);
        linear_forward(&b->cross.q, m->pool, &g->ws, g->h, rows, g->q);
        for (r = 0; r < rows; r++) {
            t5_seq *ts = p.seq[r]->fam;
            const size_t off = (size_t)l * ts->n_in * in;
            p.k[r] = t5_kv_at(m, ts->ck, off);
            p.v[r] = t5_kv_at(m, ts->cv, off);
            /* no bias and no mask here, so the position only places a captured row */
            p.q_pos0[r] = ts->dec_len;
            p.n_kv[r] = ts->n_in;
        }
        run_attention(m, g, &p, T5_CROSS, l, 0, NULL);
        linear_forward(&b->cross.o, m->pool, &g->ws, g->att, rows, g->h);
        ops_add(g->x, g->h, (size_t)rows * e);
        feed_forward(m, g, b, rows);
    }
    /* final norm and head, for the rows of sequences whose logits are wanted */
    int n_want = 0;
    r = 0;
    for (int i = 0; i < n_seqs; i++) {
        const int nb = !active[i] ? 0 : seqs[i]->beam ? seqs[i]->beam->n_live : 1;
        if (want_logits[i] && nb > 0) {
            ops_rmsnorm(g->x + (size_t)r * e, g->h + (size_t)n_want * e, nb, e, g->dec_ln, g->eps);
            n_want += nb;
        }
        r += nb;
    }
    if (g->tied) {
        const float sc = 1.0f / sqrtf((float)e);
        for (size_t i = 0; i < (size_t)n_want * e; i++) g->h[i] *= sc;
    }
    if (n_want > 0)
        linear_forward(g->tied ? &g->shared : &g->lm_head, m->pool, &g->ws, g->h, n_want, logits);
    for (int i = 0; i < n_seqs; i++) {
        t5_seq *ts = seqs[i]->fam;
        if (active[i]) ts->dec_len++;
        if (ts->mon) ts->mon->view.n_steps = ts->dec_len;
        if (ts->full && !ts->battn) ts->full->view.n_rows = ts->dec_len;
        seqs[i]->n_past += n_tokens[i];
    }
done:
    plan_free(&p);
    free(active);
    return rc;
}

const tf_family tf_family_t5 = {
    .model_type = "t5",
    .architecture = "T5ForConditionalGeneration",
    .tasks = TF_TASK_TRANSLATE | TF_TASK_SUMMARIZE,
    .load = t5_load,
    .free_impl = t5_free,
    .forward = t5_forward,
    .encoder_decoder = 1,
    .beams = 1,
    .seq_init = t5_seq_init,
    .seq_release = t5_seq_release,
    .seq_beam_done = t5_seq_beam_done,
    .seq_kv_need = t5_seq_kv_need,
};
