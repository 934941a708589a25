/* cls_batch.c: the waiting texts, batch forming, and the classify call on the worker.
 *
 * DESIGN: like scheduler.c, the loop owns every list and the only hand-off is
 * uv_queue_work. Every waiting or in-flight text holds a reference on its job, so a
 * job cancelled while its texts are in the model is freed only after the call returns.
 * Forming a batch looks at the first 4 * max_batch waiting texts: sorted by length, the
 * window of max_batch that contains the oldest text and spans the fewest tokens is the
 * batch. model_classify packs texts without padding, so this is not about padding but
 * about fairness and similar cost per text; 4 batches of look-ahead keeps a long text
 * from waiting more than a few batches (it is the oldest soon).
 */
#include "server/cls_batch.h"

#include <stdlib.h>
#include <string.h>

#include "server/log.h"

typedef struct cls_item {
    tf_job *job; /* one reference */
    int index;   /* which of the job's texts */
    uint64_t t_ns;
} cls_item;

struct tf_cbatch {
    uv_loop_t *loop; /* borrowed */
    tf_model *model; /* borrowed */
    tf_metrics *met; /* borrowed */
    tf_cbatch_opts o;
    int n_labels;

    cls_item *wait; /* owned, arrival order */
    int n_wait, cap_wait;
    int n_jobs;     /* submitted, not yet finished or cancelled */

    int in_flight;
    uv_work_t work;
    cls_item *b_items;      /* owned, [max_batch] */
    const int32_t **b_ids;  /* owned, [max_batch]: views of the jobs' ids */
    int *b_n;               /* owned, [max_batch] */
    tf_cls_attn *b_attn;    /* owned, [max_batch]: views of the jobs' attention memory */
    float *b_probs;         /* owned, [max_batch * n_labels] */
    int n_batch, b_rc;
    tf_err b_err;
    uint64_t b_ns;
    int *sort_idx;          /* owned scratch, [4 * max_batch] */

    int draining;
    uv_timer_t timer;
};

static void kick(tf_cbatch *b);

static void job_end(tf_cbatch *b, tf_job *j) {
    j->state = JOB_DONE;
    j->t_done_ns = job_now_ns();
    b->n_jobs--;
    if (j->on_event) j->on_event(j, JOB_EV_DONE);
}

static void fail_job(tf_cbatch *b, tf_job *j, tf_herr_kind kind, const char *msg) {
    if (j->failed || j->cancelled || j->state == JOB_DONE) return;
    j->failed = 1;
    herr_set(&j->err, kind, "%s", msg);
    job_end(b, j);
}

static void drop_waiting_of(tf_cbatch *b, const tf_job *j) {
    int k = 0;
    for (int i = 0; i < b->n_wait; i++) {
        if (b->wait[i].job == j) job_unref(b->wait[i].job);
        else b->wait[k++] = b->wait[i];
    }
    b->n_wait = k;
}

static void work_cb(uv_work_t *w) {
    tf_cbatch *b = w->data;
    uint64_t t0 = job_now_ns();
    memset(&b->b_err, 0, sizeof b->b_err);
    b->b_rc = model_classify_attn(b->model, b->b_ids, b->b_n, b->n_batch, b->b_attn, b->b_probs, &b->b_err);
    b->b_ns = job_now_ns() - t0;
}

static void done_cb(uv_work_t *w, int status) {
    tf_cbatch *b = w->data;
    b->in_flight = 0;
    met_observe(b->met, MET_CLS_BATCH_DURATION, NULL, (double)b->b_ns / 1e9);
    int ok = status >= 0 && b->b_rc >= 0;
    if (!ok) log_msg(LOG_ERROR, "classify failed: %s", status < 0 ? uv_strerror(status) : b->b_err.msg);
    for (int i = 0; i < b->n_batch; i++) {
        tf_job *j = b->b_items[i].job;
        if (!ok) {
            fail_job(b, j, HERR_INTERNAL, "the model call failed");
            drop_waiting_of(b, j);
        } else if (!j->cancelled && !j->failed && j->state != JOB_DONE) {
            memcpy(j->probs + (size_t)b->b_items[i].index * b->n_labels,
                   b->b_probs + (size_t)i * b->n_labels, sizeof(float) * (size_t)b->n_labels);
            j->classify_ns += b->b_ns;
            if (++j->n_texts_done == j->n_texts) job_end(b, j);
        }
        job_unref(j);
    }
    b->n_batch = 0;
    kick(b);
}

static const cls_item *sort_base;
static int cmp_len(const void *x, const void *y) {
    const cls_item *a = &sort_base[*(const int *)x], *c = &sort_base[*(const int *)y];
    int la = a->job->text_n_ids[a->index], lc = c->job->text_n_ids[c->index];
    if (la != lc) return la < lc ? -1 : 1;
    return *(const int *)x - *(const int *)y; /* arrival order among equals */
}

/* Moves the next batch from wait into b_items (see DESIGN). */
static void form_batch(tf_cbatch *b) {
    int w = b->n_wait < 4 * b->o.max_batch ? b->n_wait : 4 * b->o.max_batch;
    int n = w < b->o.max_batch ? w : b->o.max_batch;
    for (int i = 0; i < w; i++) b->sort_idx[i] = i;
    sort_base = b->wait; /* loop thread only */
    qsort(b->sort_idx, (size_t)w, sizeof *b->sort_idx, cmp_len);
    int p = 0;
    while (b->sort_idx[p] != 0) p++;
#define LEN(k) (b->wait[b->sort_idx[k]].job->text_n_ids[b->wait[b->sort_idx[k]].index])
    int best = p - n + 1 > 0 ? p - n + 1 : 0, hi = p < w - n ? p : w - n;
    for (int lo = best + 1; lo <= hi; lo++)
        if (LEN(lo + n - 1) - LEN(lo) < LEN(best + n - 1) - LEN(best)) best = lo;
#undef LEN
    for (int i = 0; i < n; i++) {
        cls_item *it = &b->wait[b->sort_idx[best + i]];
        b->b_items[i] = *it;
        b->b_ids[i] = it->job->text_ids[it->index];
        b->b_n[i] = it->job->text_n_ids[it->index];
        b->b_attn[i] = it->job->cls_attn ? it->job->cls_attn[it->index] : (tf_cls_attn){0};
        it->job = NULL; /* taken */
    }
    int k = 0;
    for (int i = 0; i < b->n_wait; i++)
        if (b->wait[i].job) b->wait[k++] = b->wait[i];
    b->n_wait = k;
    b->n_batch = n;
}

static void on_timer(uv_timer_t *t) { kick(t->data); }

/* Fails the jobs whose waiting texts are past the queue wait or the request deadline (what
 * they already got classified is dropped with them: the answer is all texts or an error). */
static void expire_waiting(tf_cbatch *b) {
    const uint64_t now = job_now_ns(), wait_ns = (uint64_t)b->o.max_queue_wait_ms * 1000000ull,
                   req_ns = (uint64_t)b->o.request_timeout_ms * 1000000ull;
    if (!wait_ns && !req_ns) return;
    for (int i = 0; i < b->n_wait;) {
        tf_job *j = b->wait[i].job;
        const uint64_t age = now - j->t_arrival_ns;
        if (wait_ns && age > wait_ns) fail_job(b, j, HERR_QUEUE_TIMEOUT, "waited too long for a batch slot");
        else if (req_ns && age > req_ns) fail_job(b, j, HERR_TIMEOUT, "request deadline passed");
        else {
            i++;
            continue;
        }
        drop_waiting_of(b, j); /* removes every waiting text of j, this one included */
    }
}

static void kick(tf_cbatch *b) {
    if (!b->in_flight) expire_waiting(b);
    if (b->in_flight || b->n_wait == 0) {
        uv_timer_stop(&b->timer);
        return;
    }
    uint64_t now = job_now_ns(), due = b->wait[0].t_ns + (uint64_t)b->o.max_wait_ms * 1000000ull;
    if (b->n_wait < b->o.max_batch && !b->draining && now < due) {
        uv_timer_start(&b->timer, on_timer, (due - now + 999999) / 1000000, 0);
        return;
    }
    uv_timer_stop(&b->timer);
    form_batch(b);
    int64_t tokens = 0;
    for (int i = 0; i < b->n_batch; i++) tokens += b->b_n[i];
    met_observe(b->met, MET_CLS_BATCH_SIZE, NULL, b->n_batch);
    met_add(b->met, MET_CLS_TEXTS, NULL, b->n_batch);
    met_add(b->met, MET_CLS_TOKENS, NULL, (double)tokens);
    b->in_flight = 1;
    b->work.data = b;
    int rc = uv_queue_work(b->loop, &b->work, work_cb, done_cb);
    if (rc < 0) {
        log_msg(LOG_ERROR, "uv_queue_work: %s", uv_strerror(rc));
        done_cb(&b->work, rc);
    }
}

int cbatch_new(uv_loop_t *loop, tf_model *model, const tf_cbatch_opts *opts, tf_metrics *met,
               tf_cbatch **out, tf_err *err) {
    tf_cbatch *b = calloc(1, sizeof *b);
    if (!b) return err_set(err, TF_ENOMEM, "classify batcher: out of memory");
    b->loop = loop;
    b->model = model;
    b->met = met;
    b->o = *opts;
    b->n_labels = model_n_labels(model);
    size_t n = (size_t)opts->max_batch;
    b->b_items = calloc(n, sizeof *b->b_items);
    b->b_ids = calloc(n, sizeof *b->b_ids);
    b->b_n = calloc(n, sizeof *b->b_n);
    b->b_attn = calloc(n, sizeof *b->b_attn);
    b->b_probs = calloc(n * (size_t)(b->n_labels > 0 ? b->n_labels : 1), sizeof *b->b_probs);
    b->sort_idx = calloc(4 * n, sizeof *b->sort_idx);
    if (!b->b_items || !b->b_ids || !b->b_n || !b->b_attn || !b->b_probs || !b->sort_idx) {
        cbatch_free(b);
        return err_set(err, TF_ENOMEM, "classify batcher: out of memory");
    }
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    *out = b;
    return 0;
}

int cbatch_submit(tf_cbatch *b, tf_job *j, tf_http_error *e) {
    if (b->draining) return herr_set(e, HERR_DRAINING, "the server is shutting down");
    if (b->n_jobs >= b->o.max_queue)
        return herr_set(e, HERR_QUEUE_FULL, "the queue is full (%d requests); retry later", b->n_jobs);
    if (b->n_wait + j->n_texts > b->cap_wait) {
        int cap = b->cap_wait ? b->cap_wait : 64;
        while (cap < b->n_wait + j->n_texts) cap *= 2;
        cls_item *p = realloc(b->wait, (size_t)cap * sizeof *p);
        if (!p) return herr_set(e, HERR_INTERNAL, "out of memory");
        b->wait = p;
        b->cap_wait = cap;
    }
    uint64_t now = job_now_ns();
    for (int i = 0; i < j->n_texts; i++) {
        job_ref(j);
        b->wait[b->n_wait++] = (cls_item){j, i, now};
    }
    j->state = JOB_QUEUED;
    j->t_admit_ns = now;
    b->n_jobs++;
    kick(b);
    return 0;
}

void cbatch_cancel(tf_cbatch *b, tf_job *j) {
    j->on_event = NULL;
    j->owner = NULL;
    if (j->state == JOB_DONE || j->state == JOB_NEW) return;
    j->cancelled = 1;
    j->state = JOB_DONE;
    b->n_jobs--;
    drop_waiting_of(b, j); /* texts in the model now are skipped when it returns */
    kick(b);
}

void cbatch_drain(tf_cbatch *b) {
    b->draining = 1;
    kick(b);
}

int cbatch_idle(const tf_cbatch *b) { return !b->in_flight && b->n_wait == 0; }

void cbatch_close(tf_cbatch *b) {
    if (b && !uv_is_closing((uv_handle_t *)&b->timer)) uv_close((uv_handle_t *)&b->timer, NULL);
}

void cbatch_free(tf_cbatch *b) {
    if (!b) return;
    /* After the loop stopped: nothing in flight. */
    while (b->n_wait > 0) {
        tf_job *j = b->wait[0].job;
        j->on_event = NULL;
        fail_job(b, j, HERR_DRAINING, "the server is shutting down");
        drop_waiting_of(b, j);
    }
    free(b->wait);
    free(b->b_items);
    free(b->b_ids);
    free(b->b_n);
    free(b->b_attn);
    free(b->b_probs);
    free(b->sort_idx);
    free(b);
}
