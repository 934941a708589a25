/* metrics.h: the metric registry and its Prometheus text exposition (prefix met_).
 *
 * Every metric is one row of a static table in metrics.c (name with unit, type,
 * help, buckets); a series is a metric plus a label string the caller formats
 * (`route="/v1/generate",status="200"`, values escaped with met_escape).
 *
 *     tf_metrics *m;  met_new(&m);
 *     met_add(m, MET_REQUESTS, "route=\"/health\",status=\"200\"", 1);
 *     met_observe(m, MET_QUEUE_WAIT, NULL, 0.004);
 *     char *text; size_t len;  met_render(m, &text, &len);  ...  free(text);
 *     met_free(m);
 *
 * Thread-safety: none; the loop thread owns the registry (the step worker
 * reports through step results, never here).
 */
#ifndef TF_SERVER_METRICS_H
#define TF_SERVER_METRICS_H

#include <stddef.h>

typedef enum tf_metric_id {
    MET_REQUESTS,          /* counter {route,status} */
    MET_REQUEST_DURATION,  /* histogram {route} seconds */
    MET_QUEUE_WAIT,        /* histogram seconds */
    MET_TTFT,              /* histogram seconds */
    MET_ITL,               /* histogram seconds */
    MET_STEP_DURATION,     /* histogram seconds */
    MET_PROMPT_TOKENS,     /* counter */
    MET_GENERATED_TOKENS,  /* counter */
    MET_BATCH_SIZE,        /* histogram sequences per step */
    MET_BATCH_TOKENS,      /* histogram tokens per step */
    MET_QUEUE_DEPTH,       /* gauge */
    MET_RUNNING,           /* gauge */
    MET_KV_BYTES,          /* gauge */
    MET_KV_BUDGET,         /* gauge {model}: kv_budget_bytes, 0 = unlimited */
    MET_KV_BUDGET_WAITS,   /* counter {model}: sequences that waited in the queue for KV budget */
    MET_CANCELLED,         /* counter {reason} */
    MET_MODEL_INFO,        /* gauge {task,model,family,dtype} = 1 */
    MET_MODEL_PARAMS,      /* gauge {model} */
    MET_MODEL_WEIGHT_BYTES,/* gauge {model} */
    MET_READY,             /* gauge 0/1 */
    MET_TASK_TEXTS,        /* counter {task}: texts admitted by /v1/translate, /v1/summarize */
    MET_TASK_TRUNCATED,    /* counter {task}: of those, inputs cut to the model's limit */
    /* Attention monitoring (attnmon.c) */
    MET_ATTN_ANOMALIES,    /* counter {model,kind} */
    MET_ATTN_ENTROPY,      /* histogram {model,layer} per-request mean normalized entropy */
    MET_ATTN_SINK,         /* histogram {model,layer} per-request mean weight on position 0 */
    MET_ATTN_COVERAGE,     /* histogram {model} encoder-decoder: covered source share (best layer) */
    MET_ATTN_REPEAT,       /* histogram {model,layer} encoder-decoder: cross-attention repeat share */
    MET_CLS_BATCH_SIZE,    /* histogram texts per classify call */
    MET_CLS_BATCH_DURATION,/* histogram seconds */
    MET_CLS_TEXTS,         /* counter */
    MET_CLS_TOKENS,        /* counter */
    MET_COUNT
} tf_metric_id;

typedef struct tf_metrics tf_metrics;

int met_new(tf_metrics **out); /* 0 or TF_ENOMEM */
void met_free(tf_metrics *m);  /* NULL is a no-op */

/* labels may be NULL for an unlabelled series. Returns 0, or TF_EFULL when the metric
 * already has its maximum number of series (the sample is dropped, never the process). */
int met_add(tf_metrics *m, tf_metric_id id, const char *labels, double v);     /* counter */
int met_set(tf_metrics *m, tf_metric_id id, const char *labels, double v);     /* gauge */
int met_observe(tf_metrics *m, tf_metric_id id, const char *labels, double v); /* histogram */
/* Current value of a counter/gauge series, or a histogram's count; 0 if absent. */
double met_get(const tf_metrics *m, tf_metric_id id, const char *labels);

/* Prometheus text format 0.0.4; *text is malloc'd. Adds process gauges
 * (resident memory, open fds) read from /proc at call time. */
int met_render(const tf_metrics *m, char **text, size_t *len);

/* Escapes a label value (\\, \", \n) into out; always NUL-terminates. */
void met_escape(const char *in, char *out, size_t n);

#endif
