/* metrics.c: a fixed table of metrics, series created on first use.
 *
 * DESIGN: the table is the documentation (HELP lines come from it); names end
 * in their unit (`_seconds`, `_bytes`, `_tokens`, counters in `_total`) as the
 * Prometheus naming guide asks, which is also what `promtool check metrics`
 * lints. Series live in a small per-metric array bounded by MAX_SERIES so that
 * nothing a client sends can grow memory: routes are labelled from the route
 * table (unknown paths become "other"), never from the raw URL.
 */
#include "server/metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/model.h"

#define MAX_SERIES 64
#define MAX_BUCKETS 16
#define MAX_LABELS 256

typedef enum { T_COUNTER, T_GAUGE, T_HISTOGRAM } met_type;

static const double lat_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 0};
static const double itl_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 0};
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 0};
static const double tok_buckets[] = {1, 4, 16, 64, 256, 1024, 4096, 16384, 0};
static const double share_buckets[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0};

static const struct {
    const char *name;
    met_type type;
    const double *buckets; /* 0-terminated, histograms only */
    int labelled;          /* series only appear once a label set is used */
    const char *help;
} defs[MET_COUNT] = {
    [MET_REQUESTS] = {.name = "transformerd_http_requests_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "HTTP requests answered, by route and status code."},
    [MET_REQUEST_DURATION] = {.name = "transformerd_http_request_duration_seconds", .type = T_HISTOGRAM, .buckets = lat_buckets, .labelled = 1,
        .help = "Time from request arrival to the end of its response, by route."},
    [MET_QUEUE_WAIT] = {.name = "transformerd_queue_wait_seconds", .type = T_HISTOGRAM, .buckets = lat_buckets, .labelled = 0,
        .help = "Time a generation request waited for a batch slot."},
    [MET_TTFT] = {.name = "transformerd_time_to_first_token_seconds", .type = T_HISTOGRAM, .buckets = lat_buckets, .labelled = 0,
        .help = "Time from request arrival to its first generated token."},
    [MET_ITL] = {.name = "transformerd_inter_token_latency_seconds", .type = T_HISTOGRAM, .buckets = itl_buckets, .labelled = 0,
        .help = "Time between consecutive generated tokens of one sequence."},
    [MET_STEP_DURATION] = {.name = "transformerd_step_duration_seconds", .type = T_HISTOGRAM, .buckets = itl_buckets, .labelled = 0,
        .help = "Wall time of one batched model step."},
    [MET_PROMPT_TOKENS] = {.name = "transformerd_prompt_tokens_total", .type = T_COUNTER, .buckets = NULL, .labelled = 0,
        .help = "Prompt tokens admitted for generation."},
    [MET_GENERATED_TOKENS] = {.name = "transformerd_generated_tokens_total", .type = T_COUNTER, .buckets = NULL, .labelled = 0,
        .help = "Tokens generated."},
    [MET_BATCH_SIZE] = {.name = "transformerd_batch_size_sequences", .type = T_HISTOGRAM, .buckets = batch_buckets, .labelled = 0,
        .help = "Sequences advanced by one model step."},
    [MET_BATCH_TOKENS] = {.name = "transformerd_batch_tokens", .type = T_HISTOGRAM, .buckets = tok_buckets, .labelled = 0,
        .help = "Tokens fed through the model by one step (prefill chunks plus decodes)."},
    [MET_QUEUE_DEPTH] = {.name = "transformerd_queue_depth_requests", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "Generation requests waiting for a batch slot, by model."},
    [MET_RUNNING] = {.name = "transformerd_running_sequences", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "Sequences in the running batch, by model."},
    [MET_KV_BYTES] = {.name = "transformerd_kv_cache_bytes", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "KV cache memory owned by running sequences, by model (as allocated: 2 bytes an element with kv_cache_dtype f16, 4 with f32)."},
    [MET_KV_BUDGET] = {.name = "transformerd_kv_cache_budget_bytes", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "KV cache memory the live sequences of each model may reserve together (kv_budget_bytes; 0 = unlimited)."},
    [MET_KV_BUDGET_WAITS] = {.name = "transformerd_kv_budget_waits_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "Sequences that had a batch slot but waited in the queue for KV cache budget, by model."},
    [MET_CANCELLED] = {.name = "transformerd_cancelled_requests_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "Generation requests ended early, by reason."},
    [MET_MODEL_INFO] = {.name = "transformerd_model_info", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "Loaded models (the value is always 1)."},
    [MET_MODEL_PARAMS] = {.name = "transformerd_model_parameters", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "Parameters of each loaded model."},
    [MET_MODEL_WEIGHT_BYTES] = {.name = "transformerd_model_weight_bytes", .type = T_GAUGE, .buckets = NULL, .labelled = 1,
        .help = "Resident weight memory of each loaded model."},
    [MET_READY] = {.name = "transformerd_ready", .type = T_GAUGE, .buckets = NULL, .labelled = 0,
        .help = "1 when models are loaded and the daemon is not draining."},
    [MET_TASK_TEXTS] = {.name = "transformerd_task_texts_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "Input texts admitted by the text-to-text routes, by task (translate, summarize)."},
    [MET_TASK_TRUNCATED] = {.name = "transformerd_task_truncated_texts_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "Input texts cut to the model's input limit on request (truncate: true), by task."},
    /* Attention monitoring (attnmon.c): labels are bounded by models x layers, never heads. */
    [MET_ATTN_ANOMALIES] = {.name = "transformerd_attention_anomalies_total", .type = T_COUNTER, .buckets = NULL, .labelled = 1,
        .help = "Requests (texts, for translate and summarize) flagged by attention monitoring, by model and kind (collapsed, diffuse, sink_dominated, low_source_coverage, repeated_focus)."},
    [MET_ATTN_ENTROPY] = {.name = "transformerd_attention_entropy", .type = T_HISTOGRAM, .buckets = share_buckets, .labelled = 1,
        .help = "Per-request mean normalized attention entropy (H / log keys, 0..1), by model and layer."},
    [MET_ATTN_SINK] = {.name = "transformerd_attention_sink_share", .type = T_HISTOGRAM, .buckets = share_buckets, .labelled = 1,
        .help = "Per-request mean attention weight on position 0 (0..1), by model and layer."},
    [MET_ATTN_COVERAGE] = {.name = "transformerd_attention_source_coverage", .type = T_HISTOGRAM, .buckets = share_buckets, .labelled = 1,
        .help = "Encoder-decoder requests: share of source tokens the best cross-attention layer covers (0..1), by model."},
    [MET_ATTN_REPEAT] = {.name = "transformerd_attention_repeat_share", .type = T_HISTOGRAM, .buckets = share_buckets, .labelled = 1,
        .help = "Encoder-decoder requests: share of decoder steps whose cross-attention focus repeats the previous step's, by model and layer."},
    [MET_CLS_BATCH_SIZE] = {.name = "transformerd_classify_batch_size_texts", .type = T_HISTOGRAM, .buckets = batch_buckets, .labelled = 0,
        .help = "Texts classified by one model call (dynamic batching of /v1/sentiment)."},
    [MET_CLS_BATCH_DURATION] = {.name = "transformerd_classify_batch_duration_seconds", .type = T_HISTOGRAM, .buckets = lat_buckets, .labelled = 0,
        .help = "Duration of one classification model call."},
    [MET_CLS_TEXTS] = {.name = "transformerd_classified_texts_total", .type = T_COUNTER, .buckets = NULL, .labelled = 0,
        .help = "Texts classified."},
    [MET_CLS_TOKENS] = {.name = "transformerd_classified_tokens_total", .type = T_COUNTER, .buckets = NULL, .labelled = 0,
        .help = "Tokens (special tokens included) fed through the classifier."},
};

typedef struct series {
    char labels[MAX_LABELS];
    double value; /* counter/gauge value; histogram sum */
    unsigned long long count;
    unsigned long long bucket[MAX_BUCKETS]; /* non-cumulative counts per bucket */
} series;

typedef struct metric {
    int n;
    series *s; /* owned, [MAX_SERIES] allocated on first use */
} metric;

struct tf_metrics {
    metric m[MET_COUNT];
};

int met_new(tf_metrics **out) {
    *out = calloc(1, sizeof **out);
    return *out ? 0 : TF_ENOMEM;
}

void met_free(tf_metrics *m) {
    if (!m) return;
    for (int i = 0; i < MET_COUNT; i++) free(m->m[i].s);
    free(m);
}

static series *find(const tf_metrics *m, tf_metric_id id, const char *labels) {
    const metric *mt = &m->m[id];
    if (!labels) labels = "";
    for (int i = 0; i < mt->n; i++)
        if (strcmp(mt->s[i].labels, labels) == 0) return &mt->s[i];
    return NULL;
}

static series *get(tf_metrics *m, tf_metric_id id, const char *labels) {
    if ((unsigned)id >= MET_COUNT) return NULL;
    series *s = find(m, id, labels);
    if (s) return s;
    metric *mt = &m->m[id];
    if (!mt->s && !(mt->s = calloc(MAX_SERIES, sizeof *mt->s))) return NULL;
    if (mt->n >= MAX_SERIES || (labels && strlen(labels) >= MAX_LABELS)) return NULL;
    s = &mt->s[mt->n++];
    snprintf(s->labels, sizeof s->labels, "%s", labels ? labels : "");
    return s;
}

int met_add(tf_metrics *m, tf_metric_id id, const char *labels, double v) {
    series *s = get(m, id, labels);
    if (!s) return TF_EFULL;
    s->value += v;
    return 0;
}

int met_set(tf_metrics *m, tf_metric_id id, const char *labels, double v) {
    series *s = get(m, id, labels);
    if (!s) return TF_EFULL;
    s->value = v;
    return 0;
}

int met_observe(tf_metrics *m, tf_metric_id id, const char *labels, double v) {
    series *s = get(m, id, labels);
    if (!s || !defs[id].buckets) return TF_EFULL;
    const double *b = defs[id].buckets;
    int i = 0;
    while (b[i] != 0 && v > b[i]) i++;
    s->bucket[i]++; /* i == number of finite bounds means the +Inf bucket */
    s->count++;
    s->value += v;
    return 0;
}

double met_get(const tf_metrics *m, tf_metric_id id, const char *labels) {
    if ((unsigned)id >= MET_COUNT) return 0;
    const series *s = find(m, id, labels);
    if (!s) return 0;
    return defs[id].type == T_HISTOGRAM ? (double)s->count : s->value;
}

void met_escape(const char *in, char *out, size_t n) {
    size_t o = 0;
    for (; *in && o + 3 < n; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = 0;
}

/* Rendering ------------------------------------------------------------------------------ */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)k < b->cap - b->len) {
            b->len += (size_t)k;
            return;
        }
        size_t ncap = (b->cap + (size_t)k + 1) * 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* Prometheus wants plain decimal numbers. */
static void fmt_num(char *out, size_t n, double v) {
    if (v == (double)(long long)v && v < 1e15 && v > -1e15) snprintf(out, n, "%lld", (long long)v);
    else {
        /* Shortest of %.15g / %.17g that reads back exactly, so 0.025 prints as 0.025. */
        snprintf(out, n, "%.15g", v);
        if (strtod(out, NULL) != v) snprintf(out, n, "%.17g", v);
    }
}

static void render_series(sbuf *b, const char *name, const series *s, const double *buckets, met_type t) {
    char num[64];
    const char *sep = s->labels[0] ? "," : "";
    if (t != T_HISTOGRAM) {
        fmt_num(num, sizeof num, s->value);
        if (s->labels[0]) sb_printf(b, "%s{%s} %s\n", name, s->labels, num);
        else sb_printf(b, "%s %s\n", name, num);
        return;
    }
    unsigned long long cum = 0;
    int i = 0;
    for (; buckets[i] != 0; i++) {
        cum += s->bucket[i];
        fmt_num(num, sizeof num, buckets[i]);
        sb_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, s->labels, sep, num, cum);
    }
    cum += s->bucket[i];
    sb_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, s->labels, sep, cum);
    fmt_num(num, sizeof num, s->value);
    if (s->labels[0]) {
        sb_printf(b, "%s_sum{%s} %s\n", name, s->labels, num);
        sb_printf(b, "%s_count{%s} %llu\n", name, s->labels, s->count);
    } else {
        sb_printf(b, "%s_sum %s\n%s_count %llu\n", name, num, name, s->count);
    }
}

static long proc_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    long pages_total = 0, pages_rss = 0;
    int k = fscanf(f, "%ld %ld", &pages_total, &pages_rss);
    fclose(f);
    return k == 2 ? pages_rss * sysconf(_SC_PAGESIZE) : -1;
}

static long proc_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

int met_render(const tf_metrics *m, char **text, size_t *len) {
    sbuf b = {0};
    for (int id = 0; id < MET_COUNT; id++) {
        const metric *mt = &m->m[id];
        static const char *tname[] = {"counter", "gauge", "histogram"};
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", defs[id].name, defs[id].help, defs[id].name,
                  tname[defs[id].type]);
        if (mt->n == 0 && !defs[id].labelled) {
            /* Unlabelled series exist from the start, at 0, so dashboards see them. */
            series zero = {.labels = ""};
            render_series(&b, defs[id].name, &zero, defs[id].buckets, defs[id].type);
        }
        for (int i = 0; i < mt->n; i++) render_series(&b, defs[id].name, &mt->s[i], defs[id].buckets, defs[id].type);
    }
    long rss = proc_rss_bytes(), fds = proc_open_fds();
    if (rss >= 0)
        sb_printf(&b, "# HELP transformerd_process_resident_memory_bytes Resident memory of the process.\n"
                      "# TYPE transformerd_process_resident_memory_bytes gauge\n"
                      "transformerd_process_resident_memory_bytes %ld\n",
                  rss);
    if (fds >= 0)
        sb_printf(&b, "# HELP transformerd_process_open_fds Open file descriptors of the process.\n"
                      "# TYPE transformerd_process_open_fds gauge\n"
                      "transformerd_process_open_fds %ld\n",
                  fds);
    if (b.oom) {
        free(b.p);
        return TF_ENOMEM;
    }
    *text = b.p;
    *len = b.len;
    return 0;
}
