/* cls_batch.h: dynamic batching of classification texts for one model (prefix cbatch_).
 *
 * A /v1/sentiment job carries n_texts tokenized texts; each text is one item. Items from
 * requests that arrive close together run in one model_classify call: a batch starts
 * when max_batch items wait or the oldest has waited max_wait_ms. A batch always holds
 * the oldest waiting item (no starvation) and the items nearest to it in length among
 * the next few batches' worth (so a batch's texts cost about the same and short texts
 * are not held behind long ones); a job with more texts than max_batch spreads over
 * several batches. One model_classify is in flight per model, on a libuv worker thread,
 * as model_step is for generation. A job ends (on_event JOB_EV_DONE) when its last text
 * has its probabilities.
 *
 *     tf_cbatch *b;  cbatch_new(loop, model, &opts, metrics, &b, &err);
 *     cbatch_submit(b, job, &herr);    // job->text_ids/text_n_ids/n_texts/probs filled
 *     cbatch_cancel(b, job);           // client gone
 *     cbatch_drain(b);  cbatch_close(b); ...uv_run...; cbatch_free(b);
 *
 * Thread-safety: loop thread only, except model_classify_attn on the worker, which reads
 * only the batch's id arrays and writes only the batch's probability buffer and its jobs'
 * attention memory (tf_job.cls_attn; a cancelled job lives until the call returns).
 */
#ifndef TF_SERVER_CLS_BATCH_H
#define TF_SERVER_CLS_BATCH_H

#include <uv.h>

#include "models/model.h"
#include "server/errors.h"
#include "server/job.h"
#include "server/metrics.h"

typedef struct tf_cbatch_opts {
    int max_batch;   /* texts per model_classify */
    int max_wait_ms; /* longest an item waits for the batch to fill */
    int max_queue;   /* waiting jobs before 429 */
    int max_queue_wait_ms;  /* a job with a text still waiting this long fails (queue timeout);
                             * 0 = none. Checked whenever a batch is formed, so a job can
                             * outlive it by up to one model_classify call. */
    int request_timeout_ms; /* likewise from arrival, as a request deadline; 0 = none */
} tf_cbatch_opts;

typedef struct tf_cbatch tf_cbatch;

int cbatch_new(uv_loop_t *loop, tf_model *model, const tf_cbatch_opts *opts, tf_metrics *met,
               tf_cbatch **out, tf_err *err);
/* Takes a reference on job. 429 when max_queue jobs wait, 503 while draining. */
int cbatch_submit(tf_cbatch *b, tf_job *job, tf_http_error *e);
/* The client is gone: the job's waiting texts are dropped, no more events. */
void cbatch_cancel(tf_cbatch *b, tf_job *job);
/* Stop admitting; what waits runs at once instead of waiting for company. */
void cbatch_drain(tf_cbatch *b);
int cbatch_idle(const tf_cbatch *b);
void cbatch_close(tf_cbatch *b); /* closes the timer; free after the loop ran close callbacks */
void cbatch_free(tf_cbatch *b);  /* NULL is a no-op; fails any job still held */

#endif
