/* job.h: one generation request from admission to its last byte (prefix job_).
 *
 * A job is shared by the HTTP side (which parsed it and will write its output)
 * and its scheduler (which owns its tf_seq while it runs); each holds one
 * reference and the last job_unref frees it. The scheduler reports progress
 * through on_event, which the route that made the job installs: it renders
 * tokens into `out` (SSE events, or the final JSON body) and wakes the
 * connection. Either side may go first: a client that leaves calls
 * sched_cancel and clears on_event; a job that ends first waits in `out`.
 *
 * Thread-safety: loop thread only (the step worker touches only job->seq,
 * and only while the scheduler has the job in a step).
 */
#ifndef TF_SERVER_JOB_H
#define TF_SERVER_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"
#include "server/errors.h"
#include "server/request.h"

typedef enum { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE } tf_job_state;
typedef enum { JOB_EV_TOKENS, JOB_EV_DONE } tf_job_event;

typedef struct tf_buf {
    char *p; /* owned */
    size_t len, cap;
} tf_buf;

int buf_append(tf_buf *b, const char *s, size_t n); /* 0 or TF_ENOMEM */
void buf_close(tf_buf *b);

typedef struct tf_job tf_job;
typedef void (*tf_job_event_fn)(tf_job *job, tf_job_event ev);

struct tf_job {
    int refs;
    char id[40];              /* request id, also X-Request-Id */
    tf_job_state state;
    tf_gen_request req;       /* owned */
    int32_t *prompt_ids;      /* owned, [n_prompt] */
    int n_prompt;
    const char *model_name;   /* borrowed from the model's info */
    tf_seq *seq;              /* owned while RUNNING; freed by the scheduler */
    struct tf_attnmon *attnmon; /* borrowed: the model's attention monitor, or NULL */
    const tf_model *model;    /* borrowed: for rendering (labels, token strings) */

    int cancelled;            /* client gone: drop at the next step boundary */
    int failed;               /* err holds why */
    tf_http_error err;
    tf_finish finish;
    int n_generated;          /* tokens reported so far */
    int kv_waited;            /* counted once in transformerd_kv_budget_waits_total */

    /* Monotonic nanoseconds. */
    uint64_t t_arrival_ns, t_admit_ns, t_first_token_ns, t_last_token_ns, t_done_ns;

    tf_buf out;               /* rendered output: SSE events so far, or the whole body */
    size_t text_emitted;      /* bytes of generated text already rendered into out */
    int status;               /* HTTP status of the final body (non-streaming) */

    tf_job_event_fn on_event; /* NULL once nobody listens */
    void *owner;              /* borrowed: the HTTP request waiting on this job */
    void *route_ctx;          /* borrowed: the route's own state (routes_text.c: its group) */

    tf_job *next, *prev;      /* scheduler's queue / running list */

    /* Sentiment (/v1/sentiment): the texts' ids in, the label probabilities out. */
    int n_texts, n_texts_done;
    int64_t n_text_tokens;
    int32_t **text_ids;       /* owned, [n_texts], each owned */
    int *text_n_ids;          /* owned, [n_texts] */
    float *probs;             /* owned, [n_texts * n_labels] */
    uint64_t classify_ns;     /* model time of the batches this job's texts ran in */
    /* Their attention, filled by the classify call: statistics always (monitoring), full
     * rows when asked. cls_attn[i] points into these for text i. */
    tf_cls_attn *cls_attn;    /* owned, [n_texts] */
    tf_attn_stats *text_attn; /* owned, [n_texts][attn pairs] */
    float **text_full_tab;    /* owned, [n_texts][attn pairs] views into text_full, or NULL */
    float *text_full;         /* owned, every text's (n x n) stores, or NULL */
};

int job_new(const char *id, tf_job **out); /* refs = 1 */
void job_ref(tf_job *j);
void job_unref(tf_job *j); /* NULL is a no-op; frees at 0 (and the seq if still owned) */

uint64_t job_now_ns(void);

#endif
