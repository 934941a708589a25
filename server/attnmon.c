/* attnmon.c: per-model baseline of attention statistics and the anomaly tests.
 *
 * DESIGN: the unit of observation is one request's per-layer mean (heads pooled,
 * rows weighted equally), not per head: a head that specializes (previous-token,
 * sink) is normal, and per-head baselines would multiply memory, noise and
 * metric series by n_head. The absolute thresholds look at the mean over layers
 * so one legitimately sharp layer does not trip them; the deviation tests look at
 * each layer against its own baseline, which is what catches one layer going
 * wrong while the average hides it.
 *
 * Encoder-decoder models pool the same way over one list of layers: the encoder's,
 * the decoder self-attention's and the cross-attention's, each stack a different
 * mechanism, so each layer keeps its own baseline and the absolute thresholds see
 * the mean over all of them. Source coverage is judged on the best layer only (a
 * layer that specializes, e.g. on </s>, is normal; ignoring the source means no
 * layer reads it), with one baseline for that value; repeated focus, like entropy,
 * on the mean over layers and per layer against its baseline.
 */
#include "server/attnmon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ewstat {
    double mean, var;
} ewstat;

struct tf_attnmon {
    tf_attnmon_opts o;
    char model[128];   /* escaped for labels */
    tf_metrics *met;   /* borrowed, may be NULL */
    int n_layer;       /* 0 until the first request; encoder-decoder: n_enc + 2 n_dec */
    int n_enc, n_dec;  /* encoder-decoder stacks (0, 0 for decoder-only models) */
    int seen;          /* requests learned from */
    ewstat *entropy;   /* owned, [n_layer] */
    ewstat *sink;      /* owned, [n_layer] */
    double *cur_e, *cur_s; /* owned scratch, [n_layer] */
    ewstat coverage;   /* encoder-decoder: the best layer's covered share */
    ewstat *repeat;    /* owned, [n_dec] */
    double *cur_r;     /* owned scratch, [n_dec] */
    double cur_c;
};

static const char *kind_names[ATTN_N_KINDS] = {"collapsed", "diffuse", "sink_dominated", "low_source_coverage",
                                               "repeated_focus"};

void attnmon_opts_default(tf_attnmon_opts *o) {
    o->entropy_floor = 0.01;
    o->entropy_ceiling = 0.995;
    o->sink_max = 0.95;
    o->coverage_weight = 0.1;
    o->coverage_min = 0.25;
    o->repeat_max = 0.9;
    o->z = 4;
    o->window = 200;
    o->warmup = 20;
}

const char *attnmon_kind_name(unsigned bit) {
    for (int i = 0; i < ATTN_N_KINDS; i++)
        if (bit == (1u << i)) return kind_names[i];
    return "unknown";
}

int attnmon_new(const tf_attnmon_opts *o, const char *model, tf_metrics *met, tf_attnmon **out, tf_err *err) {
    tf_attnmon *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, TF_ENOMEM, "attnmon: out of memory");
    m->o = *o;
    if (m->o.window < 1) m->o.window = 1;
    m->met = met;
    met_escape(model ? model : "", m->model, sizeof m->model);
    if (met) {
        /* Counters exist from the start at 0, so rate() works before the first anomaly. */
        char l[192];
        for (int i = 0; i < ATTN_N_KINDS; i++) {
            snprintf(l, sizeof l, "model=\"%s\",kind=\"%s\"", m->model, kind_names[i]);
            met_add(met, MET_ATTN_ANOMALIES, l, 0);
        }
    }
    *out = m;
    return 0;
}

void attnmon_free(tf_attnmon *m) {
    if (!m) return;
    free(m->entropy);
    free(m->sink);
    free(m->cur_e);
    free(m->cur_s);
    free(m->repeat);
    free(m->cur_r);
    free(m);
}

int attnmon_seen(const tf_attnmon *m) { return m->seen; }

int attnmon_baseline(const tf_attnmon *m, int layer, double *entropy_mean, double *entropy_sd, double *sink_mean,
                     double *sink_sd) {
    if (layer < 0 || layer >= m->n_layer) return TF_ERANGE;
    *entropy_mean = m->entropy[layer].mean;
    *entropy_sd = sqrt(m->entropy[layer].var);
    *sink_mean = m->sink[layer].mean;
    *sink_sd = sqrt(m->sink[layer].var);
    return 0;
}

/* The first request fixes the model's shape; n_enc = n_dec = 0 for decoder-only. */
static int ensure_shape(tf_attnmon *m, int n_layer, int n_enc, int n_dec) {
    if (m->n_layer) return m->n_layer == n_layer && m->n_enc == n_enc && m->n_dec == n_dec ? 0 : TF_EINVALID;
    size_t n = (size_t)n_layer, nd = (size_t)(n_dec > 0 ? n_dec : 1);
    m->entropy = calloc(n, sizeof *m->entropy);
    m->sink = calloc(n, sizeof *m->sink);
    m->cur_e = calloc(n, sizeof *m->cur_e);
    m->cur_s = calloc(n, sizeof *m->cur_s);
    m->repeat = calloc(nd, sizeof *m->repeat);
    m->cur_r = calloc(nd, sizeof *m->cur_r);
    if (!m->entropy || !m->sink || !m->cur_e || !m->cur_s || !m->repeat || !m->cur_r) {
        free(m->entropy), free(m->sink), free(m->cur_e), free(m->cur_s), free(m->repeat), free(m->cur_r);
        m->entropy = m->sink = m->repeat = NULL;
        m->cur_e = m->cur_s = m->cur_r = NULL;
        return TF_ENOMEM;
    }
    m->n_layer = n_layer;
    m->n_enc = n_enc;
    m->n_dec = n_dec;
    return 0;
}

/* Metric label of layer i: its index, or stack.index for encoder-decoder models. */
static void layer_label(const tf_attnmon *m, int i, char *buf, size_t cap) {
    if (!m->n_dec) snprintf(buf, cap, "%d", i);
    else if (i < m->n_enc) snprintf(buf, cap, "encoder.%d", i);
    else if (i < m->n_enc + m->n_dec) snprintf(buf, cap, "decoder.%d", i - m->n_enc);
    else snprintf(buf, cap, "cross.%d", i - m->n_enc - m->n_dec);
}

/* Running statistics while n < window (so the first requests are not biased toward
 * the very first one), exponentially weighted after: var is the weighted population
 * variance, equal to the plain one while alpha = 1/n. */
static void ew_update(ewstat *s, double x, int n, int window) {
    double alpha = 1.0 / n, ew = 2.0 / (window + 1.0);
    if (alpha < ew) alpha = ew;
    double d = x - s->mean, inc = alpha * d;
    s->mean += inc;
    s->var = (1 - alpha) * (s->var + d * inc);
}

static double zscore(const ewstat *s, double x) {
    double sd = sqrt(s->var);
    if (sd < ATTNMON_MIN_STD) sd = ATTNMON_MIN_STD;
    return (x - s->mean) / sd;
}

/* x limited to the baseline's mean +- z deviations (z <= 0: as is). */
static double clip_to_baseline(const ewstat *s, double x, double z) {
    if (z <= 0) return x;
    double sd = sqrt(s->var);
    if (sd < ATTNMON_MIN_STD) sd = ATTNMON_MIN_STD;
    const double lo = s->mean - z * sd, hi = s->mean + z * sd;
    return x < lo ? lo : x > hi ? hi : x;
}

/* Records the first reason for a kind; layer is a label ("3", "cross.1") or NULL. */
static void flag(tf_attn_verdict *v, unsigned bit, const char *fmt, double a, double b, const char *layer) {
    if (v->flags & bit) return;
    v->flags |= bit;
    size_t used = strlen(v->why);
    if (used + 2 >= sizeof v->why) return;
    int k = snprintf(v->why + used, sizeof v->why - used, "%s%s: ", used ? "; " : "", attnmon_kind_name(bit));
    if (k < 0 || (size_t)k >= sizeof v->why - used) return;
    used += (size_t)k;
    if (layer) snprintf(v->why + used, sizeof v->why - used, fmt, layer, a, b);
    else snprintf(v->why + used, sizeof v->why - used, fmt, a, b);
}

static void publish(tf_attnmon *m, const tf_attn_verdict *v) {
    if (!m->met) return;
    char l[192], name[32];
    for (int i = 0; i < m->n_layer; i++) {
        layer_label(m, i, name, sizeof name);
        snprintf(l, sizeof l, "model=\"%s\",layer=\"%s\"", m->model, name);
        if (!isnan(m->cur_e[i])) met_observe(m->met, MET_ATTN_ENTROPY, l, m->cur_e[i]);
        met_observe(m->met, MET_ATTN_SINK, l, m->cur_s[i]);
    }
    if (m->n_dec) {
        snprintf(l, sizeof l, "model=\"%s\"", m->model);
        if (!isnan(v->coverage)) met_observe(m->met, MET_ATTN_COVERAGE, l, v->coverage);
        for (int i = 0; i < m->n_dec; i++) {
            snprintf(l, sizeof l, "model=\"%s\",layer=\"cross.%d\"", m->model, i);
            if (!isnan(m->cur_r[i])) met_observe(m->met, MET_ATTN_REPEAT, l, m->cur_r[i]);
        }
    }
    for (int i = 0; i < ATTN_N_KINDS; i++) {
        if (!(v->flags & (1u << i))) continue;
        snprintf(l, sizeof l, "model=\"%s\",kind=\"%s\"", m->model, kind_names[i]);
        met_add(m->met, MET_ATTN_ANOMALIES, l, 1);
    }
}

/* Heads pooled, rows weighted equally: layer l's means from its n_head accumulators. */
static void layer_means(const tf_attn_stats *row, int n_head, double *entropy, double *sink) {
    double e = 0, s = 0;
    long er = 0, rows = 0;
    for (int h = 0; h < n_head; h++) {
        e += row[h].entropy_sum;
        er += row[h].n_entropy_rows;
        s += row[h].sink_sum;
        rows += row[h].n_rows;
    }
    *entropy = er ? e / (double)er : NAN;
    *sink = rows ? s / (double)rows : 0;
}

/* Judges the request held in cur_e / cur_s (and, for encoder-decoder models, cur_c /
 * cur_r), publishes it, and learns it when nothing was flagged. */
static void judge(tf_attnmon *m, tf_attn_verdict *v) {
    const tf_attnmon_opts *o = &m->o;
    double se = 0, ss = 0, sr = 0;
    int ne = 0, nr = 0;
    char name[32];
    for (int l = 0; l < m->n_layer; l++) {
        if (!isnan(m->cur_e[l])) se += m->cur_e[l], ne++;
        ss += m->cur_s[l];
    }
    for (int l = 0; l < m->n_dec; l++)
        if (!isnan(m->cur_r[l])) sr += m->cur_r[l], nr++;
    v->judged = 1;
    v->entropy = ne ? se / ne : NAN;
    v->sink = ss / m->n_layer;
    if (m->n_dec) {
        v->coverage = m->cur_c;
        v->repeat = nr ? sr / nr : NAN;
    }
    if (ne && v->entropy < o->entropy_floor)
        flag(v, ATTN_COLLAPSED, "mean entropy %.3f below the floor %.3f", v->entropy, o->entropy_floor, NULL);
    if (ne && v->entropy > o->entropy_ceiling)
        flag(v, ATTN_DIFFUSE, "mean entropy %.3f above the ceiling %.3f", v->entropy, o->entropy_ceiling, NULL);
    if (v->sink > o->sink_max)
        flag(v, ATTN_SINK_DOMINATED, "mean sink share %.3f above %.3f", v->sink, o->sink_max, NULL);
    if (m->n_dec && !isnan(v->coverage) && v->coverage < o->coverage_min)
        flag(v, ATTN_LOW_SOURCE_COVERAGE, "covered source share %.3f below %.3f", v->coverage, o->coverage_min, NULL);
    if (m->n_dec && nr && v->repeat > o->repeat_max)
        flag(v, ATTN_REPEATED_FOCUS, "mean repeat share %.3f above %.3f", v->repeat, o->repeat_max, NULL);
    if (m->seen >= o->warmup) {
        for (int l = 0; l < m->n_layer; l++) {
            /* An encoder-decoder's decoder self-attention spans only the few tokens generated
             * so far: its per-request means follow the output's length more than the model's
             * health (on the bundled T5 they put 5% of ordinary captions past 4 deviations),
             * so it is measured and kept in the histograms but not judged per layer. */
            if (m->n_dec && l >= m->n_enc && l < m->n_enc + m->n_dec) continue;
            layer_label(m, l, name, sizeof name);
            if (!isnan(m->cur_e[l])) {
                double z = zscore(&m->entropy[l], m->cur_e[l]);
                if (z < -o->z)
                    flag(v, ATTN_COLLAPSED, "layer %s entropy %.3f vs baseline %.3f", m->cur_e[l],
                         m->entropy[l].mean, name);
                if (z > o->z)
                    flag(v, ATTN_DIFFUSE, "layer %s entropy %.3f vs baseline %.3f", m->cur_e[l], m->entropy[l].mean,
                         name);
            }
            if (zscore(&m->sink[l], m->cur_s[l]) > o->z)
                flag(v, ATTN_SINK_DOMINATED, "layer %s sink share %.3f vs baseline %.3f", m->cur_s[l],
                     m->sink[l].mean, name);
        }
        if (m->n_dec && !isnan(m->cur_c) && zscore(&m->coverage, m->cur_c) < -o->z)
            flag(v, ATTN_LOW_SOURCE_COVERAGE, "covered source share %.3f vs baseline %.3f", m->cur_c,
                 m->coverage.mean, NULL);
        for (int l = 0; l < m->n_dec; l++) {
            snprintf(name, sizeof name, "cross.%d", l);
            if (!isnan(m->cur_r[l]) && zscore(&m->repeat[l], m->cur_r[l]) > o->z)
                flag(v, ATTN_REPEATED_FOCUS, "layer %s repeat share %.3f vs baseline %.3f", m->cur_r[l],
                     m->repeat[l].mean, name);
        }
    }
    publish(m, v);
    /* Before the warmup a flagged request (absolute thresholds) is not learned. After it, a
     * flagged request is learned with every value clipped to the z boundary: leaving flagged
     * requests out altogether truncates the distribution the baseline sees, its deviation
     * shrinks, and ever more ordinary requests get flagged (measured on the bundled T5: 9% of
     * ordinary captions flagged "diffuse"); clipped, an anomaly still moves the baseline by no
     * more than an ordinary edge case would. */
    if (v->flags && m->seen < o->warmup) return;
    const double clip = v->flags ? o->z : 0;
    m->seen++;
    for (int l = 0; l < m->n_layer; l++) {
        /* A layer without entropy rows (a decoder stack fed one position) keeps its baseline. */
        if (!isnan(m->cur_e[l]))
            ew_update(&m->entropy[l], clip_to_baseline(&m->entropy[l], m->cur_e[l], clip), m->seen, o->window);
        ew_update(&m->sink[l], clip_to_baseline(&m->sink[l], m->cur_s[l], clip), m->seen, o->window);
    }
    if (!isnan(m->cur_c)) ew_update(&m->coverage, clip_to_baseline(&m->coverage, m->cur_c, clip), m->seen, o->window);
    for (int l = 0; l < m->n_dec; l++)
        if (!isnan(m->cur_r[l]))
            ew_update(&m->repeat[l], clip_to_baseline(&m->repeat[l], m->cur_r[l], clip), m->seen, o->window);
}

static void verdict_init(tf_attn_verdict *v) {
    memset(v, 0, sizeof *v);
    v->entropy = v->sink = v->coverage = v->repeat = NAN;
}

int attnmon_observe(tf_attnmon *m, const tf_attn_stats *st, int n_layer, int n_head, tf_attn_verdict *v) {
    verdict_init(v);
    if (!st || n_layer <= 0 || n_head <= 0) return 0;
    int rc = ensure_shape(m, n_layer, 0, 0);
    if (rc < 0) return rc;
    /* Every head of every layer sees the same query rows; head 0 of layer 0 speaks for all. */
    if (st[0].n_entropy_rows < ATTNMON_MIN_ROWS) return 0;
    for (int l = 0; l < n_layer; l++) layer_means(st + (size_t)l * n_head, n_head, &m->cur_e[l], &m->cur_s[l]);
    judge(m, v);
    return 0;
}

double attnmon_layer_coverage(const tf_attn_cross *layer, int n_head, double coverage_weight) {
    const int n_src = layer[0].n_src;
    if (n_src <= 0) return NAN;
    for (int h = 0; h < n_head; h++)
        if (layer[h].n_steps <= 0) return NAN;
    int covered = 0;
    for (int j = 0; j < n_src; j++) {
        double w = 0;
        for (int h = 0; h < n_head; h++) w += (double)layer[h].coverage[j] / layer[h].n_steps;
        /* w / n_head >= coverage_weight / n_src, without the division's rounding */
        if (w * n_src >= coverage_weight * n_head) covered++;
    }
    return (double)covered / n_src;
}

double attnmon_layer_repeat(const tf_attn_cross *layer, int n_head) {
    long rep = 0, could = 0;
    for (int h = 0; h < n_head; h++) {
        rep += layer[h].n_repeat;
        if (layer[h].n_steps > 1) could += layer[h].n_steps - 1;
    }
    return could ? (double)rep / (double)could : NAN;
}

int attnmon_observe_encdec(tf_attnmon *m, const tf_attn_encdec *a, tf_attn_verdict *v) {
    verdict_init(v);
    if (!a || a->n_enc_layer <= 0 || a->n_dec_layer <= 0 || a->n_head <= 0) return 0;
    const int E = a->n_enc_layer, D = a->n_dec_layer, H = a->n_head;
    int rc = ensure_shape(m, E + 2 * D, E, D);
    if (rc < 0) return rc;
    if (a->n_src < ATTNMON_MIN_SOURCE || a->n_steps < ATTNMON_MIN_STEPS) return 0;
    for (int l = 0; l < E; l++) layer_means(a->enc + (size_t)l * H, H, &m->cur_e[l], &m->cur_s[l]);
    m->cur_c = NAN;
    for (int l = 0; l < D; l++) {
        layer_means(a->dec + (size_t)l * H, H, &m->cur_e[E + l], &m->cur_s[E + l]);
        layer_means(a->cross + (size_t)l * H, H, &m->cur_e[E + D + l], &m->cur_s[E + D + l]);
        const tf_attn_cross *c = a->cover + (size_t)l * H;
        double cov = attnmon_layer_coverage(c, H, m->o.coverage_weight);
        if (!isnan(cov) && (isnan(m->cur_c) || cov > m->cur_c)) m->cur_c = cov;
        m->cur_r[l] = attnmon_layer_repeat(c, H);
    }
    judge(m, v);
    return 0;
}

/* JSON ------------------------------------------------------------------------------------ */

json_t *attnmon_flags_json(unsigned flags) {
    json_t *a = json_array();
    if (!a) return NULL;
    for (int i = 0; i < ATTN_N_KINDS; i++)
        if (flags & (1u << i)) json_array_append_new(a, json_string(kind_names[i]));
    return a;
}

json_t *attnmon_summary_json(const tf_attn_stats *st, int n_layer, int n_head) {
    json_t *layers = json_array();
    if (!layers) return NULL;
    for (int l = 0; l < n_layer; l++) {
        json_t *heads = json_array();
        for (int h = 0; heads && h < n_head; h++) {
            const tf_attn_stats *a = &st[l * n_head + h];
            double rows = a->n_rows > 0 ? a->n_rows : 1;
            double prompt = a->prompt_sum / rows; /* float sums may overshoot 1 by rounding */
            if (prompt > 1) prompt = 1;
            json_t *e = a->n_entropy_rows ? json_real(a->entropy_sum / a->n_entropy_rows) : json_null();
            json_array_append_new(heads, json_pack("{s:o,s:f,s:f,s:f,s:f}", "entropy", e, "max_weight",
                                                   a->max_sum / rows, "sink", a->sink_sum / rows, "prompt_share",
                                                   prompt, "generated_share", a->n_rows && prompt < 1 ? 1.0 - prompt : 0.0));
        }
        if (!heads || json_array_append_new(layers, heads) < 0) {
            json_decref(layers);
            return NULL;
        }
    }
    return json_pack("{s:i,s:i,s:o}", "layers", n_layer, "heads", n_head, "stats", layers);
}

/* {entropy, max_weight, sink} of one head: means over its rows. */
static json_t *head_json(const tf_attn_stats *a) {
    double rows = a->n_rows > 0 ? a->n_rows : 1;
    json_t *e = a->n_entropy_rows ? json_real(a->entropy_sum / a->n_entropy_rows) : json_null();
    return json_pack("{s:o,s:f,s:f}", "entropy", e, "max_weight", a->max_sum / rows, "sink", a->sink_sum / rows);
}

/* {"layers", "heads", "stats": [[head]]}; cross heads get coverage and repeat_share. */
static json_t *section_json(const tf_attn_stats *st, const tf_attn_cross *cross, int n_layer, int n_head,
                            double coverage_weight) {
    json_t *layers = json_array();
    for (int l = 0; layers && l < n_layer; l++) {
        json_t *heads = json_array();
        for (int h = 0; heads && h < n_head; h++) {
            const size_t i = (size_t)l * n_head + h;
            json_t *o = head_json(&st[i]);
            if (o && cross) {
                double cov = attnmon_layer_coverage(&cross[i], 1, coverage_weight);
                double rep = attnmon_layer_repeat(&cross[i], 1);
                json_object_set_new(o, "coverage", isnan(cov) ? json_null() : json_real(cov));
                json_object_set_new(o, "repeat_share", isnan(rep) ? json_null() : json_real(rep));
            }
            if (!o || json_array_append_new(heads, o) < 0) {
                json_decref(heads);
                heads = NULL;
            }
        }
        if (!heads || json_array_append_new(layers, heads) < 0) {
            json_decref(layers);
            return NULL;
        }
    }
    return layers ? json_pack("{s:i,s:i,s:o}", "layers", n_layer, "heads", n_head, "stats", layers) : NULL;
}

static json_t *real_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

json_t *attnmon_encdec_summary_json(const tf_attn_encdec *a, double coverage_weight) {
    const int E = a->n_enc_layer, D = a->n_dec_layer, H = a->n_head, S = a->n_src;
    json_t *enc = section_json(a->enc, NULL, E, H, coverage_weight);
    json_t *dec = section_json(a->dec, NULL, D, H, coverage_weight);
    json_t *cross = section_json(a->cross, a->cover, D, H, coverage_weight);
    json_t *src = json_array(), *cov_l = json_array(), *rep_l = json_array();
    json_t *out = NULL;
    if (!enc || !dec || !cross || !src || !cov_l || !rep_l) goto done;
    double best = NAN, rsum = 0;
    int nr = 0;
    for (int l = 0; l < D; l++) {
        const tf_attn_cross *c = a->cover + (size_t)l * H;
        json_t *pos = json_array();
        if (!pos) goto done;
        /* per source position: the head-averaged mean weight per row, times the decoder
         * steps: the total it received over the decoding (per beam) */
        for (int j = 0; j < S; j++) {
            double w = 0;
            for (int h = 0; h < H; h++) w += c[h].n_steps ? (double)c[h].coverage[j] / c[h].n_steps : 0;
            json_array_append_new(pos, json_real(w / H * a->n_steps));
        }
        json_array_append_new(src, pos);
        double cov = attnmon_layer_coverage(c, H, coverage_weight), rep = attnmon_layer_repeat(c, H);
        json_array_append_new(cov_l, real_or_null(cov));
        json_array_append_new(rep_l, real_or_null(rep));
        if (!isnan(cov) && (isnan(best) || cov > best)) best = cov;
        if (!isnan(rep)) rsum += rep, nr++;
    }
    json_object_set_new(cross, "source_tokens", json_integer(S));
    json_object_set_new(cross, "steps", json_integer(a->n_steps));
    json_object_set_new(cross, "source_coverage", src);
    json_object_set_new(cross, "layer_covered_share", cov_l);
    json_object_set_new(cross, "layer_repeat_share", rep_l);
    json_object_set_new(cross, "covered_share", real_or_null(best));
    json_object_set_new(cross, "repeat_share", real_or_null(nr ? rsum / nr : NAN));
    src = cov_l = rep_l = NULL;
    out = json_pack("{s:o,s:o,s:o}", "encoder", enc, "decoder", dec, "cross", cross);
    enc = dec = cross = NULL;
done:
    json_decref(enc);
    json_decref(dec);
    json_decref(cross);
    json_decref(src);
    json_decref(cov_l);
    json_decref(rep_l);
    return out;
}
