/* scheduler.c: queue, admission, the batched step and its results.
 *
 * DESIGN: the loop thread owns every list here; the only hand-off is
 * uv_queue_work, whose after-callback runs back on the loop, so no locks are
 * needed (variant B of docs/architecture.md). A step's batch arrays are sized
 * max_batch at start-up and reused. Jobs that must leave while their sequence
 * is inside a step (cancelled, failed) are only flagged; they leave at the
 * step boundary in reap(), which is the one place sequences are freed while
 * running. A 100 ms timer enforces queue waits, request deadlines and the drain
 * deadline; it is cheap (one pass over at most max_queue + max_batch jobs).
 */
#include "server/scheduler.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"
#include "server/sched_plan.h"

typedef struct job_list {
    tf_job *head, *tail;
    int n;
} job_list;

struct tf_sched {
    uv_loop_t *loop;    /* borrowed */
    tf_model *model;    /* borrowed */
    tf_metrics *met;    /* borrowed */
    tf_sched_opts o;
    int n_ctx;
    char model_label[160]; /* model="<name>" for the per-model series */

    job_list queue;     /* JOB_QUEUED, arrival order */
    job_list running;   /* JOB_RUNNING */

    /* The step in flight. */
    int in_flight;
    uv_work_t work;
    tf_seq **b_seqs;    /* owned, [max_batch] */
    int *b_tokens;      /* owned, [max_batch] */
    tf_job **b_jobs;    /* owned, [max_batch]: borrowed references for the step */
    int *want, *prefill;/* owned scratch, [max_batch] */
    tf_batch batch;
    int step_rc;
    tf_err step_err;
    uint64_t step_ns;

    int draining;
    uint64_t drain_deadline_ns;
    uv_timer_t timer;
};

/* Lists ------------------------------------------------------------------------------- */

static void list_push(job_list *l, tf_job *j) {
    j->next = NULL;
    j->prev = l->tail;
    if (l->tail) l->tail->next = j;
    else l->head = j;
    l->tail = j;
    l->n++;
}

static void list_remove(job_list *l, tf_job *j) {
    if (j->prev) j->prev->next = j->next;
    else l->head = j->next;
    if (j->next) j->next->prev = j->prev;
    else l->tail = j->prev;
    j->next = j->prev = NULL;
    l->n--;
}

/* Leaving ----------------------------------------------------------------------------- */

static void update_gauges(tf_sched *s) {
    size_t kv = 0;
    for (tf_job *j = s->running.head; j; j = j->next) {
        if (!j->seq) continue;
        tf_seq_state st;
        seq_state(j->seq, &st);
        kv += st.kv_bytes;
    }
    /* per model: each model has its own scheduler, and one series would be overwritten by
     * whichever scheduler updated last */
    met_set(s->met, MET_QUEUE_DEPTH, s->model_label, s->queue.n);
    met_set(s->met, MET_RUNNING, s->model_label, s->running.n);
    met_set(s->met, MET_KV_BYTES, s->model_label, (double)kv);
}

/* The job leaves its list for good: tell its listener (which renders the final
 * body from the still-alive sequence), then free the sequence and drop the
 * scheduler's reference. */
static void finish(tf_sched *s, tf_job *j) {
    list_remove(j->state == JOB_QUEUED ? &s->queue : &s->running, j);
    j->state = JOB_DONE;
    j->t_done_ns = job_now_ns();
    if (j->cancelled) met_add(s->met, MET_CANCELLED, "reason=\"client_disconnect\"", 1);
    else if (j->failed) {
        char l[64];
        snprintf(l, sizeof l, "reason=\"%s\"", herr_type(j->err.kind));
        met_add(s->met, MET_CANCELLED, l, 1);
    }
    if (j->on_event) j->on_event(j, JOB_EV_DONE);
    seq_free(j->seq);
    j->seq = NULL;
    job_unref(j);
}

static void fail(tf_sched *s, tf_job *j, tf_herr_kind kind, const char *msg) {
    if (j->failed || j->state == JOB_DONE) return;
    j->failed = 1;
    herr_set(&j->err, kind, "%s", msg);
    /* A running sequence may be inside the step: it leaves at the boundary. */
    if (j->state == JOB_QUEUED || !s->in_flight) finish(s, j);
}

/* Step boundary: sequences flagged while the step ran leave now. */
static void reap(tf_sched *s) {
    tf_job *next;
    for (tf_job *j = s->running.head; j; j = next) {
        next = j->next;
        if (j->cancelled || j->failed) finish(s, j);
    }
}

/* Joining ------------------------------------------------------------------------------ */

static void admit(tf_sched *s) {
    int n = plan_admit(s->running.n, s->queue.n, s->o.max_batch);
    uint64_t now = job_now_ns();
    while (n-- > 0 && s->queue.head) {
        tf_job *j = s->queue.head;
        tf_err err = {0};
        int rc = seq_new(s->model, j->prompt_ids, j->n_prompt, &j->req.params, &j->seq, &err);
        if (rc == TF_EFULL && s->running.n > 0) {
            /* Not enough KV budget now; it returns as running sequences finish. Strict FIFO:
             * nothing behind the head may jump it, or a stream of small requests could keep
             * a large one (which sched_kv_check found can fit) waiting forever. */
            if (!j->kv_waited) {
                j->kv_waited = 1;
                met_add(s->met, MET_KV_BUDGET_WAITS, s->model_label, 1);
            }
            break;
        }
        if (rc < 0) {
            log_msg(LOG_WARN, "%s: seq_new: %s", j->id, err.msg);
            /* TF_EFULL with nothing running: over the budget alone (sched_kv_check refuses
             * those at submission, so only a direct caller can get here) */
            fail(s, j, rc == TF_ETOOLONG ? HERR_PROMPT_TOO_LONG
                       : rc == TF_EFULL  ? HERR_KV_BUDGET_EXCEEDED
                       : rc == TF_ERANGE || rc == TF_EINVALID ? HERR_OUT_OF_RANGE
                                                              : HERR_INTERNAL,
                 err.msg);
            continue;
        }
        list_remove(&s->queue, j);
        j->state = JOB_RUNNING;
        j->t_admit_ns = now;
        list_push(&s->running, j);
        met_observe(s->met, MET_QUEUE_WAIT, NULL, (double)(now - j->t_arrival_ns) / 1e9);
        met_add(s->met, MET_PROMPT_TOKENS, NULL, j->n_prompt);
    }
}

/* The step ------------------------------------------------------------------------------ */

static void step_work(uv_work_t *w) {
    tf_sched *s = w->data;
    uint64_t t0 = job_now_ns();
    memset(&s->step_err, 0, sizeof s->step_err);
    s->step_rc = model_step(s->model, &s->batch, &s->step_err);
    s->step_ns = job_now_ns() - t0;
}

static void maybe_step(tf_sched *s);

/* Reads each sequence's new state after a step and reports it. */
static void collect(tf_sched *s, tf_job *j, uint64_t now) {
    tf_seq_state st;
    seq_state(j->seq, &st);
    int n_new = st.n_generated - j->n_generated;
    if (n_new > 0) {
        if (j->n_generated == 0) {
            j->t_first_token_ns = now;
            met_observe(s->met, MET_TTFT, NULL, (double)(now - j->t_arrival_ns) / 1e9);
        } else {
            met_observe(s->met, MET_ITL, NULL, (double)(now - j->t_last_token_ns) / 1e9 / n_new);
        }
        j->t_last_token_ns = now;
        j->n_generated = st.n_generated;
        met_add(s->met, MET_GENERATED_TOKENS, NULL, n_new);
    }
    j->finish = st.finish;
    /* The last token gets its own event too, then the job ends. */
    if (n_new > 0 && j->on_event) j->on_event(j, JOB_EV_TOKENS);
    if (st.finish != TF_FINISH_NONE) finish(s, j);
}

static void step_done(uv_work_t *w, int status) {
    tf_sched *s = w->data;
    s->in_flight = 0;
    uint64_t now = job_now_ns();
    int n = s->batch.n_seqs;
    met_observe(s->met, MET_STEP_DURATION, NULL, (double)s->step_ns / 1e9);
    if (status < 0 || s->step_rc < 0) {
        log_msg(LOG_ERROR, "model step failed: %s", status < 0 ? uv_strerror(status) : s->step_err.msg);
        for (int i = 0; i < n; i++) fail(s, s->b_jobs[i], HERR_INTERNAL, "model step failed");
    } else {
        for (int i = 0; i < n; i++) {
            tf_job *j = s->b_jobs[i];
            if (j->state != JOB_RUNNING || j->cancelled || j->failed) continue;
            collect(s, j, now);
        }
    }
    s->batch.n_seqs = 0;
    maybe_step(s);
}

static void maybe_step(tf_sched *s) {
    if (s->in_flight) return;
    reap(s);
    admit(s);
    int n = 0;
    for (tf_job *j = s->running.head; j && n < s->o.max_batch; j = j->next, n++) {
        tf_seq_state st;
        seq_state(j->seq, &st);
        s->b_jobs[n] = j;
        s->want[n] = seq_next_chunk(j->seq, s->o.prefill_chunk);
        s->prefill[n] = st.n_prefilled < st.n_prompt;
    }
    int total = plan_step(s->want, s->prefill, n, s->o.max_batched_tokens, s->b_tokens);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (s->b_tokens[i] <= 0) continue;
        s->b_jobs[k] = s->b_jobs[i];
        s->b_seqs[k] = s->b_jobs[i]->seq;
        s->b_tokens[k] = s->b_tokens[i];
        k++;
    }
    update_gauges(s);
    if (k == 0) return;
    s->batch.n_seqs = k;
    met_observe(s->met, MET_BATCH_SIZE, NULL, k);
    met_observe(s->met, MET_BATCH_TOKENS, NULL, total);
    s->in_flight = 1;
    s->work.data = s;
    int rc = uv_queue_work(s->loop, &s->work, step_work, step_done);
    if (rc < 0) {
        s->in_flight = 0;
        log_msg(LOG_ERROR, "uv_queue_work: %s", uv_strerror(rc));
        for (int i = 0; i < k; i++) fail(s, s->b_jobs[i], HERR_INTERNAL, "cannot schedule the model step");
        s->batch.n_seqs = 0;
    }
}

/* Timers -------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t) {
    tf_sched *s = t->data;
    uint64_t now = job_now_ns();
    uint64_t wait_ns = (uint64_t)s->o.max_queue_wait_ms * 1000000ull;
    uint64_t req_ns = (uint64_t)s->o.request_timeout_ms * 1000000ull;
    int drain_over = s->draining && now >= s->drain_deadline_ns;
    tf_job *next;
    for (tf_job *j = s->queue.head; j; j = next) {
        next = j->next;
        if (drain_over) fail(s, j, HERR_DRAINING, "the server is shutting down");
        else if (now - j->t_arrival_ns > wait_ns)
            fail(s, j, HERR_QUEUE_TIMEOUT, j->kv_waited ? "waited too long for KV cache budget (kv_budget_bytes)"
                                                        : "waited too long for a batch slot");
        else if (req_ns && now - j->t_arrival_ns > req_ns) fail(s, j, HERR_TIMEOUT, "request deadline passed");
    }
    for (tf_job *j = s->running.head; j; j = next) {
        next = j->next;
        if (drain_over) fail(s, j, HERR_DRAINING, "the server is shutting down");
        else if (req_ns && now - j->t_arrival_ns > req_ns) fail(s, j, HERR_TIMEOUT, "request deadline passed");
    }
    maybe_step(s);
}

/* Public --------------------------------------------------------------------------------- */

int sched_new(uv_loop_t *loop, tf_model *model, const tf_sched_opts *opts, tf_metrics *met, tf_sched **out,
              tf_err *err) {
    tf_sched *s = calloc(1, sizeof *s);
    if (!s) return err_set(err, TF_ENOMEM, "scheduler: out of memory");
    s->loop = loop;
    s->model = model;
    s->met = met;
    s->o = *opts;
    s->n_ctx = model_info(model)->n_ctx;
    char esc[128];
    met_escape(model_info(model)->name, esc, sizeof esc);
    snprintf(s->model_label, sizeof s->model_label, "model=\"%s\"", esc);
    if (model_info(model)->tasks & (TF_TASK_GENERATE | TF_TASK_TRANSLATE | TF_TASK_SUMMARIZE)) {
        /* classifiers keep no KV cache: no series for them; the counter exists at 0 from
         * start-up so that rate() sees its first wait */
        met_set(met, MET_KV_BUDGET, s->model_label, (double)model_kv_budget(model));
        met_add(met, MET_KV_BUDGET_WAITS, s->model_label, 0);
        met_set(met, MET_QUEUE_DEPTH, s->model_label, 0);
        met_set(met, MET_RUNNING, s->model_label, 0);
        met_set(met, MET_KV_BYTES, s->model_label, 0);
    }
    size_t n = (size_t)opts->max_batch;
    s->b_seqs = calloc(n, sizeof *s->b_seqs);
    s->b_tokens = calloc(n, sizeof *s->b_tokens);
    s->b_jobs = calloc(n, sizeof *s->b_jobs);
    s->want = calloc(n, sizeof *s->want);
    s->prefill = calloc(n, sizeof *s->prefill);
    if (!s->b_seqs || !s->b_tokens || !s->b_jobs || !s->want || !s->prefill) {
        sched_free(s);
        return err_set(err, TF_ENOMEM, "scheduler: out of memory");
    }
    s->batch.seqs = s->b_seqs;
    s->batch.n_tokens = s->b_tokens;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, 100, 100);
    *out = s;
    return 0;
}

int sched_kv_check(const tf_sched *s, tf_job *const *jobs, int n, tf_http_error *e) {
    const size_t budget = model_kv_budget(s->model);
    if (!budget || n < 1) return 0;
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        size_t one = seq_kv_need(s->model, jobs[i]->n_prompt, &jobs[i]->req.params);
        need = need > SIZE_MAX - one ? SIZE_MAX : need + one;
    }
    if (need <= budget) return 0;
    const tf_gen_params *p = &jobs[0]->req.params;
    return herr_set(e, HERR_KV_BUDGET_EXCEEDED,
                    "this request needs up to %zu bytes of KV cache (%d sequence%s, num_beams %d, "
                    "max_new_tokens %d), over this model's kv_budget_bytes of %zu; ask for fewer "
                    "texts, beams or new tokens",
                    need, n, n == 1 ? "" : "s", p->num_beams, p->max_new_tokens, budget);
}

int sched_submit(tf_sched *s, tf_job *j, tf_http_error *e) {
    if (s->draining) return herr_set(e, HERR_DRAINING, "the server is shutting down");
    if (sched_kv_check(s, &j, 1, e) < 0) return -1;
    /* Free batch slots count as queue room: those jobs join at the next boundary. */
    int free_slots = s->o.max_batch - s->running.n;
    if (s->queue.n >= s->o.max_queue + (free_slots > 0 ? free_slots : 0))
        return herr_set(e, HERR_QUEUE_FULL, "the queue is full (%d waiting); retry later", s->queue.n);
    job_ref(j);
    j->state = JOB_QUEUED;
    list_push(&s->queue, j);
    maybe_step(s);
    return 0;
}

void sched_cancel(tf_sched *s, tf_job *j) {
    j->on_event = NULL;
    j->owner = NULL;
    if (j->state == JOB_DONE || j->state == JOB_NEW) return;
    j->cancelled = 1;
    if (j->state == JOB_QUEUED || !s->in_flight) finish(s, j);
    update_gauges(s);
}

void sched_drain(tf_sched *s, uint64_t deadline_ns) {
    s->draining = 1;
    s->drain_deadline_ns = deadline_ns;
    on_tick(&s->timer); /* a deadline already past applies now, not at the next tick */
    /* Re-phase the periodic tick so one lands on the deadline itself: with the plain
     * 100 ms period, leftovers could outlive the drain deadline by up to a period.
     * libuv schedules from its cached loop time, which lags the clock, so refresh it and
     * add a millisecond: a tick that fires early would find the deadline not yet passed. */
    uint64_t now = job_now_ns();
    uint64_t delay_ms = deadline_ns > now ? (deadline_ns - now + 999999) / 1000000 + 1 : 0;
    uv_update_time(s->timer.loop);
    if (!uv_is_closing((uv_handle_t *)&s->timer)) uv_timer_start(&s->timer, on_tick, delay_ms, 100);
}

int sched_idle(const tf_sched *s) { return !s->in_flight && s->queue.n == 0 && s->running.n == 0; }
int sched_queue_depth(const tf_sched *s) { return s->queue.n; }
int sched_running(const tf_sched *s) { return s->running.n; }

void sched_close(tf_sched *s) {
    if (s && !uv_is_closing((uv_handle_t *)&s->timer)) uv_close((uv_handle_t *)&s->timer, NULL);
}

void sched_free(tf_sched *s) {
    if (!s) return;
    /* Called after the loop stopped, so no step is in flight. */
    while (s->queue.head || s->running.head) {
        tf_job *j = s->queue.head ? s->queue.head : s->running.head;
        j->on_event = NULL; /* the HTTP side is gone by now */
        finish(s, j);
    }
    free(s->b_seqs);
    free(s->b_tokens);
    free(s->b_jobs);
    free(s->want);
    free(s->prefill);
    free(s);
}
