/* scheduler.h: continuous batching for one model on the libuv loop (prefix sched_).
 *
 * Jobs wait in a bounded FIFO queue, join the running set at step boundaries
 * (their tf_seq and its KV cache are created then), and leave the moment they
 * finish, fail or are cancelled (the tf_seq is freed then). Exactly one
 * model_step is in flight per model, on a libuv worker thread; the model's
 * compute pool spreads it over the cores. Every running sequence advances in
 * that one step, so a decode step is one matrix product per weight over the
 * whole batch.
 *
 *     tf_sched *s;  sched_new(loop, model, &opts, metrics, &s, &err);
 *     if (sched_submit(s, job, &herr) < 0) -> 429 / 503
 *     sched_cancel(s, job);            // client went away
 *     sched_drain(s, deadline_ns);     // SIGTERM: finish what is admitted
 *     sched_close(s); ...uv_run until handles close...; sched_free(s);
 *
 * Thread-safety: loop thread only, except the step itself (worker thread), which
 * touches nothing but the model and the sequences of the batch.
 */
#ifndef TF_SERVER_SCHEDULER_H
#define TF_SERVER_SCHEDULER_H

#include <stdint.h>
#include <uv.h>

#include "models/model.h"
#include "server/errors.h"
#include "server/job.h"
#include "server/metrics.h"

typedef struct tf_sched_opts {
    int max_batch;          /* running sequences */
    int max_batched_tokens; /* tokens per step */
    int prefill_chunk;      /* prompt tokens per sequence per step */
    int max_queue;          /* waiting jobs */
    int max_queue_wait_ms;
    int request_timeout_ms; /* 0 = none */
} tf_sched_opts;

typedef struct tf_sched tf_sched;

int sched_new(uv_loop_t *loop, tf_model *model, const tf_sched_opts *opts, tf_metrics *met, tf_sched **out,
              tf_err *err);
/* Takes a reference on job. job->prompt_ids/req must be filled. 429 when the queue is
 * full, 503 while draining, 422 kv_budget_exceeded (sched_kv_check) when its KV cache
 * could never fit the model's budget. A job that fits the budget but not now waits in the
 * queue, in order, until running sequences free enough (or max_queue_wait_ms: 503). */
int sched_submit(tf_sched *s, tf_job *job, tf_http_error *e);
/* One request's n jobs (a multi-text request submits one per text; they share params)
 * against the model's KV budget: 422 kv_budget_exceeded, naming both byte counts, when
 * their worst-case caches together exceed it (seq_kv_need: every text, every beam,
 * prompt + max_new_tokens positions). Routes that submit several jobs call it before the
 * first, so a request that could only ever run in part is refused whole, before any of
 * it runs; 0 with no budget. */
int sched_kv_check(const tf_sched *s, tf_job *const *jobs, int n, tf_http_error *e);
/* The client is gone: no more events; the sequence is dropped at the next step boundary. */
void sched_cancel(tf_sched *s, tf_job *job);
/* Stop admitting; jobs still unfinished at deadline_ns fail with 503 "draining". */
void sched_drain(tf_sched *s, uint64_t deadline_ns);
/* Nothing queued, running or in flight. */
int sched_idle(const tf_sched *s);
int sched_queue_depth(const tf_sched *s);
int sched_running(const tf_sched *s);
void sched_close(tf_sched *s); /* closes the timer; free after the loop ran its close callbacks */
void sched_free(tf_sched *s);  /* NULL is a no-op; fails any job still held */

#endif
