/* attnmon.c: per-model baseline of attention statistics and the anomaly tests.
 *
 * DESIGN: the unit of observation is one request's per-layer mean (heads pooled,
 * rows weighted equally), not per head: a head that specializes (previous-token,
 * sink) is normal, and per-head baselines would multiply memory, noise and
 * metric series by n_head. The absolute thresholds look at the mean over layers
 * so one legitimately sharp layer does not trip them; the deviation tests look at
 * each layer against its own baseline, which is what catches one layer going
 * wrong while the average hides it.
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
    int n_layer;       /* 0 until the first request */
    int seen;          /* requests learned from */
    ewstat *entropy;   /* owned, [n_layer] */
    ewstat *sink;      /* owned, [n_layer] */
    double *cur_e, *cur_s; /* owned scratch, [n_layer] */
};

static const char *kind_names[ATTN_N_KINDS] = {"collapsed", "diffuse", "sink_dominated"};

void attnmon_opts_default(tf_attnmon_opts *o) {
    o->entropy_floor = 0.05;
    o->entropy_ceiling = 0.995;
    o->sink_max = 0.95;
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

static int ensure_shape(tf_attnmon *m, int n_layer) {
    if (m->n_layer) return m->n_layer == n_layer ? 0 : TF_EINVALID;
    size_t n = (size_t)n_layer;
    m->entropy = calloc(n, sizeof *m->entropy);
    m->sink = calloc(n, sizeof *m->sink);
    m->cur_e = calloc(n, sizeof *m->cur_e);
    m->cur_s = calloc(n, sizeof *m->cur_s);
    if (!m->entropy || !m->sink || !m->cur_e || !m->cur_s) {
        free(m->entropy), free(m->sink), free(m->cur_e), free(m->cur_s);
        m->entropy = m->sink = NULL;
        m->cur_e = m->cur_s = NULL;
        return TF_ENOMEM;
    }
    m->n_layer = n_layer;
    return 0;
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

static void flag(tf_attn_verdict *v, unsigned bit, const char *fmt, double a, double b, int layer) {
    if (v->flags & bit) return;
    v->flags |= bit;
    size_t used = strlen(v->why);
    if (used + 2 >= sizeof v->why) return;
    int k = snprintf(v->why + used, sizeof v->why - used, "%s%s: ", used ? "; " : "", attnmon_kind_name(bit));
    if (k < 0 || (size_t)k >= sizeof v->why - used) return;
    used += (size_t)k;
    if (layer >= 0) snprintf(v->why + used, sizeof v->why - used, fmt, layer, a, b);
    else snprintf(v->why + used, sizeof v->why - used, fmt, a, b);
}

static void publish(tf_attnmon *m, const tf_attn_verdict *v) {
    if (!m->met) return;
    char l[192];
    for (int i = 0; i < m->n_layer; i++) {
        snprintf(l, sizeof l, "model=\"%s\",layer=\"%d\"", m->model, i);
        if (!isnan(m->cur_e[i])) met_observe(m->met, MET_ATTN_ENTROPY, l, m->cur_e[i]);
        met_observe(m->met, MET_ATTN_SINK, l, m->cur_s[i]);
    }
    for (int i = 0; i < ATTN_N_KINDS; i++) {
        if (!(v->flags & (1u << i))) continue;
        snprintf(l, sizeof l, "model=\"%s\",kind=\"%s\"", m->model, kind_names[i]);
        met_add(m->met, MET_ATTN_ANOMALIES, l, 1);
    }
}

int attnmon_observe(tf_attnmon *m, const tf_attn_stats *st, int n_layer, int n_head, tf_attn_verdict *v) {
    memset(v, 0, sizeof *v);
    v->entropy = v->sink = NAN;
    if (!st || n_layer <= 0 || n_head <= 0) return 0;
    int rc = ensure_shape(m, n_layer);
    if (rc < 0) return rc;
    /* Every head of every layer sees the same query rows; head 0 of layer 0 speaks for all. */
    if (st[0].n_entropy_rows < ATTNMON_MIN_ROWS) return 0;
    v->judged = 1;
    double se = 0, ss = 0;
    int ne = 0;
    for (int l = 0; l < n_layer; l++) {
        double e = 0, s = 0;
        long er = 0, rows = 0;
        for (int h = 0; h < n_head; h++) {
            const tf_attn_stats *a = &st[l * n_head + h];
            e += a->entropy_sum;
            er += a->n_entropy_rows;
            s += a->sink_sum;
            rows += a->n_rows;
        }
        m->cur_e[l] = er ? e / (double)er : NAN;
        m->cur_s[l] = rows ? s / (double)rows : 0;
        if (er) se += m->cur_e[l], ne++;
        ss += m->cur_s[l];
    }
    v->entropy = ne ? se / ne : NAN;
    v->sink = ss / n_layer;
    const tf_attnmon_opts *o = &m->o;
    if (ne && v->entropy < o->entropy_floor)
        flag(v, ATTN_COLLAPSED, "mean entropy %.3f below the floor %.3f", v->entropy, o->entropy_floor, -1);
    if (ne && v->entropy > o->entropy_ceiling)
        flag(v, ATTN_DIFFUSE, "mean entropy %.3f above the ceiling %.3f", v->entropy, o->entropy_ceiling, -1);
    if (v->sink > o->sink_max)
        flag(v, ATTN_SINK_DOMINATED, "mean sink share %.3f above %.3f", v->sink, o->sink_max, -1);
    if (m->seen >= o->warmup) {
        for (int l = 0; l < n_layer; l++) {
            if (!isnan(m->cur_e[l])) {
                double z = zscore(&m->entropy[l], m->cur_e[l]);
                if (z < -o->z)
                    flag(v, ATTN_COLLAPSED, "layer %d entropy %.3f vs baseline %.3f", m->cur_e[l],
                         m->entropy[l].mean, l);
                if (z > o->z)
                    flag(v, ATTN_DIFFUSE, "layer %d entropy %.3f vs baseline %.3f", m->cur_e[l], m->entropy[l].mean,
                         l);
            }
            if (zscore(&m->sink[l], m->cur_s[l]) > o->z)
                flag(v, ATTN_SINK_DOMINATED, "layer %d sink share %.3f vs baseline %.3f", m->cur_s[l],
                     m->sink[l].mean, l);
        }
    }
    publish(m, v);
    if (v->flags) return 0;
    m->seen++;
    for (int l = 0; l < n_layer; l++) {
        /* A layer without entropy rows cannot happen once head 0 had some; guard anyway. */
        if (!isnan(m->cur_e[l])) ew_update(&m->entropy[l], m->cur_e[l], m->seen, o->window);
        ew_update(&m->sink[l], m->cur_s[l], m->seen, o->window);
    }
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
