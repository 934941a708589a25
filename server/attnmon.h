/* attnmon.h: attention-score monitoring for one served model (prefix attnmon_).
 *
 * Every generation request carries per-layer, per-head attention sums from the
 * kernel (tf_seq_state.attn; for encoder-decoder models tf_seq_state.attn_encdec).
 * attnmon reduces them to per-layer request means of normalized entropy and sink
 * share, compares them with a rolling baseline of earlier requests on the same
 * model and with absolute thresholds, and flags these kinds of anomaly:
 *
 *   collapsed       attention piles on few keys: the request's mean entropy over
 *                   layers is below entropy_floor, or one layer's mean entropy is
 *                   more than z baseline standard deviations below its baseline;
 *   diffuse         attention is spread evenly over everything: mean entropy above
 *                   entropy_ceiling, or one layer more than z deviations above;
 *   sink_dominated  attention drains into position 0: mean sink share above
 *                   sink_max, or one layer more than z deviations above.
 *
 * For encoder-decoder models the layers above are the encoder's, the decoder's
 * self-attention and the cross-attention, in that order (metric labels
 * layer="encoder.0", "decoder.0", "cross.0"), and two more kinds look at the
 * cross-attention:
 *
 *   low_source_coverage  the output ignores part of its source. Source position j
 *                   is covered in decoder layer l when its head-averaged mean
 *                   cross-attention weight per decoder row,
 *                   (1/H) sum_h coverage_h[j] / rows_h, reaches
 *                   coverage_weight / n_src (that fraction of the share uniform
 *                   attention would give it). The request's coverage is the
 *                   largest covered share over layers (attnmon_layer_coverage):
 *                   one layer reading the whole source is enough; flagged below
 *                   coverage_min, or more than z deviations below its baseline.
 *   repeated_focus  consecutive decoder steps keep attending to the same source
 *                   position. A layer's repeat share is its heads' repeated rows
 *                   over the rows that could repeat, sum_h n_repeat_h /
 *                   sum_h (n_steps_h - 1) (attnmon_layer_repeat); the request's is
 *                   the mean over layers, flagged above repeat_max, or one layer
 *                   more than z deviations above its baseline.
 *
 * With beam search the sums hold every beam's rows (models/model.h).
 *
 * The baseline is an exponentially weighted mean and variance per layer
 * (weight 2/(window+1), plain running statistics while fewer than that many
 * requests were seen); deviation tests start after `warmup` requests. A flagged
 * request updates the baseline only with its values clipped to mean +- z deviations
 * (before the warmup, not at all), so an anomaly cannot teach it that anomalies are
 * normal, while the deviation still sees the tails of ordinary traffic. Requests whose heads saw fewer than ATTNMON_MIN_ROWS
 * rows with more than one key are neither judged nor learned from (a 1- or
 * 2-key softmax says nothing about the model); nor are encoder-decoder requests
 * with fewer than ATTNMON_MIN_STEPS decoder positions or ATTNMON_MIN_SOURCE
 * source tokens.
 *
 *     tf_attnmon *m;  attnmon_new(&opts, "gpt2", met, &m, &err);
 *     tf_attn_verdict v;  attnmon_observe(m, st.attn, st.attn_n_layer, st.attn_n_head, &v);
 *     attnmon_observe_encdec(m, st.attn_encdec, &v);        // T5
 *     if (v.flags) log(v.why) ...;  attnmon_free(m);
 *
 * Thread-safety: none; the loop thread owns it (like the metrics it updates).
 */
#ifndef TF_SERVER_ATTNMON_H
#define TF_SERVER_ATTNMON_H

#include <jansson.h>

#include "models/model.h"
#include "server/metrics.h"

#define ATTNMON_MIN_ROWS 4
#define ATTNMON_MIN_STEPS 4  /* encoder-decoder: decoder positions */
#define ATTNMON_MIN_SOURCE 4 /* encoder-decoder: source tokens */
#define ATTNMON_MIN_STD 0.02 /* floor of the baseline deviation: a near-constant baseline
                              * must not turn rounding noise into anomalies */

enum {
    ATTN_COLLAPSED = 1u << 0,
    ATTN_DIFFUSE = 1u << 1,
    ATTN_SINK_DOMINATED = 1u << 2,
    ATTN_LOW_SOURCE_COVERAGE = 1u << 3, /* encoder-decoder only */
    ATTN_REPEATED_FOCUS = 1u << 4,      /* encoder-decoder only */
    ATTN_N_KINDS = 5,
};

typedef struct tf_attnmon_opts {
    double entropy_floor;   /* default 0.05 */
    double entropy_ceiling; /* default 0.995 */
    double sink_max;        /* default 0.95 */
    double coverage_weight; /* default 0.1 (of the uniform share 1/n_src) */
    double coverage_min;    /* default 0.25 */
    double repeat_max;      /* default 0.9 */
    double z;               /* default 4 (standard deviations) */
    int window;             /* default 200 requests */
    int warmup;             /* default 20 requests */
} tf_attnmon_opts;

typedef struct tf_attn_verdict {
    unsigned flags;   /* ATTN_* bits */
    int judged;       /* 0: too few rows to say anything (flags 0, baseline untouched) */
    double entropy;   /* mean over layers of the per-layer means (NaN if not judged) */
    double sink;
    double coverage;  /* encoder-decoder: covered share of the best layer (else NaN) */
    double repeat;    /* encoder-decoder: mean over layers of the repeat share (else NaN) */
    char why[256];    /* the first reason per kind, for the log line */
} tf_attn_verdict;

typedef struct tf_attnmon tf_attnmon;

void attnmon_opts_default(tf_attnmon_opts *o);
/* met may be NULL (no metrics); model names the series (copied). */
int attnmon_new(const tf_attnmon_opts *o, const char *model, tf_metrics *met, tf_attnmon **out, tf_err *err);
void attnmon_free(tf_attnmon *m); /* NULL is a no-op */

/* Judges one request and learns from it (if it is not flagged). Returns 0, or TF_EINVALID
 * when the shape differs from this model's earlier requests (nothing is recorded). */
int attnmon_observe(tf_attnmon *m, const tf_attn_stats *st, int n_layer, int n_head, tf_attn_verdict *v);
/* The same for one encoder-decoder request (a may be NULL: not judged). */
int attnmon_observe_encdec(tf_attnmon *m, const tf_attn_encdec *a, tf_attn_verdict *v);

/* The reductions behind the encoder-decoder kinds, over one decoder layer's n_head
 * accumulators: the share of source positions covered (see low_source_coverage; NaN
 * when a head saw no row), and the repeat share (NaN when no row could repeat). */
double attnmon_layer_coverage(const tf_attn_cross *layer, int n_head, double coverage_weight);
double attnmon_layer_repeat(const tf_attn_cross *layer, int n_head);

/* Requests the baseline has learned from. */
int attnmon_seen(const tf_attnmon *m);
/* The baseline of one layer (mean and standard deviation of its per-request means);
 * TF_ERANGE for a layer it has not seen. */
int attnmon_baseline(const tf_attnmon *m, int layer, double *entropy_mean, double *entropy_sd, double *sink_mean,
                     double *sink_sd);

/* "collapsed" | "diffuse" | "sink_dominated" | "low_source_coverage" | "repeated_focus"
 * for one ATTN_* bit. */
const char *attnmon_kind_name(unsigned bit);
/* A JSON array of the kind names in flags. */
json_t *attnmon_flags_json(unsigned flags);
/* {"layers", "heads", "stats": [[{entropy, max_weight, sink, prompt_share,
 * generated_share}]]}: per-head means; entropy is null for a head with no row of
 * more than one key. NULL on OOM. */
json_t *attnmon_summary_json(const tf_attn_stats *st, int n_layer, int n_head);
/* An encoder-decoder request's summary (README "Attention monitoring" and openapi.yaml
 * EncDecAttentionSummary give the shape): sections encoder, decoder, cross, each
 * {"layers", "heads", "stats": [[{entropy, max_weight, sink}]]}; cross heads add
 * coverage (the head's covered share) and repeat_share, and the cross section adds
 * source_tokens, steps, source_coverage[layer][position] (head-averaged attention the
 * position received, summed over decoder steps, averaged over beams),
 * layer_covered_share[layer], layer_repeat_share[layer], covered_share and
 * repeat_share (the request's values the kinds test). coverage_weight is the monitor's
 * setting. NULL on OOM. */
json_t *attnmon_encdec_summary_json(const tf_attn_encdec *a, double coverage_weight);

#endif
