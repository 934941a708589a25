/* routes_sentiment.c: POST /v1/sentiment.
 *
 * DESIGN: the texts are validated and tokenized here, on the loop (tokenizing is cheap next
 * to the encoder, and a text over the limit must be refused before anything waits); the
 * job then goes to the model's classify batcher (cls_batch.c), which runs its texts in
 * one or more dynamic batches and ends the job when all have probabilities; on_sentiment
 * renders the body. The result shape is `transformerd classify --json`'s, plus "model".
 */
#include <stdlib.h>
#include <string.h>

#include "server/attnfull.h"
#include "server/attnmon.h"
#include "server/cls_batch.h"
#include "server/log.h"
#include "server/routes.h"

static double ms(uint64_t a, uint64_t b) { return b > a ? (double)(b - a) / 1e6 : 0.0; }

static json_t *result_json(const tf_model *m, const float *p, int n_labels) {
    json_t *scores = json_object();
    int best = 0;
    for (int k = 0; k < n_labels; k++) {
        json_object_set_new(scores, model_label(m, k), json_real(p[k]));
        if (p[k] > p[best]) best = k;
    }
    return json_pack("{s:s,s:f,s:o}", "label", model_label(m, best), "score", (double)p[best], "scores", scores);
}

/* The summary of one text: attnmon's, less the prompt/generated split, which an encoder
 * (every key is input) does not have. */
static json_t *encoder_summary(const tf_attn_stats *st, int n_layer, int n_head) {
    json_t *a = attnmon_summary_json(st, n_layer, n_head);
    json_t *layer, *head;
    size_t i, k;
    json_array_foreach(json_object_get(a, "stats"), i, layer) json_array_foreach(layer, k, head) {
        json_object_del(head, "prompt_share");
        json_object_del(head, "generated_share");
    }
    return a;
}

/* Text i's attention: judged by the model's monitor while attn_monitor is on (flags,
 * metrics, baseline), rendered into its result when asked for. */
static void add_attention(tf_job *j, json_t *result, int i) {
    const tf_model_info *info = model_info(j->model);
    const int L = info->attn_n_layer, H = info->attn_n_head, pairs = L * H;
    unsigned flags = 0;
    const tf_attn_stats *st = j->text_attn ? j->text_attn + (size_t)i * pairs : NULL;
    tf_attn_verdict v;
    if (st && j->attnmon && attnmon_observe(j->attnmon, st, L, H, &v) == 0 && v.flags) {
        log_msg(LOG_WARN, "%s: text %d: attention anomaly: %s", j->id, i, v.why);
        flags = v.flags;
    }
    if (!result) return;
    json_object_set_new(result, "attention_flags", attnmon_flags_json(flags));
    if (j->req.return_attention == ATTN_RET_NONE || !st) return;
    json_t *a = encoder_summary(st, L, H);
    if (a && j->req.return_attention == ATTN_RET_FULL)
        json_object_set_new(a, "full", attnfull_json(j->model, j->text_ids[i], j->text_n_ids[i],
                                                     (const float *const *)j->cls_attn[i].full, j->text_n_ids[i],
                                                     L, H, &j->req.attn_pick, 0));
    json_object_set_new(result, "attention", a);
}

static void on_sentiment(tf_job *j, tf_job_event ev) {
    if (ev != JOB_EV_DONE) return;
    char *s = NULL;
    if (!j->failed) {
        int n_labels = model_n_labels(j->model);
        json_t *results = json_array();
        for (int i = 0; i < j->n_texts; i++) {
            json_t *r = result_json(j->model, j->probs + (size_t)i * n_labels, n_labels);
            add_attention(j, r, i);
            json_array_append_new(results, r);
        }
        json_t *o = json_pack("{s:s,s:o,s:{s:i,s:I},s:{s:f,s:f}}", "model", j->model_name, "results", results,
                              "usage", "texts", j->n_texts, "prompt_tokens", (json_int_t)j->n_text_tokens, "timings",
                              "queue_ms", ms(j->t_arrival_ns, j->t_admit_ns), "classify_ms",
                              (double)j->classify_ns / 1e6);
        s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        json_decref(o);
        if (!s) {
            j->failed = 1;
            herr_set(&j->err, HERR_INTERNAL, "cannot render the response");
        }
    }
    buf_close(&j->out);
    if (j->failed) {
        s = herr_body(&j->err);
        j->status = herr_status(j->err.kind);
    } else {
        j->status = 200;
    }
    if (s) {
        buf_append(&j->out, s, strlen(s));
        buf_append(&j->out, "\n", 1);
        free(s);
    }
    http_job_notify(j);
}

static void cancel_cls(void *b, tf_job *j) { cbatch_cancel(b, j); }

/* Fills j's texts from the request; 422 text_too_long names the text and both lengths. */
static int tokenize_texts(tf_job *j, const tf_model *m, const tf_sentiment_request *q, tf_http_error *e) {
    int n = q->n_texts;
    j->text_ids = calloc((size_t)n, sizeof *j->text_ids);
    j->text_n_ids = calloc((size_t)n, sizeof *j->text_n_ids);
    j->probs = calloc((size_t)n * (size_t)model_n_labels(m), sizeof *j->probs);
    if (!j->text_ids || !j->text_n_ids || !j->probs) return herr_set(e, HERR_INTERNAL, "out of memory");
    j->n_texts = n;
    for (int i = 0; i < n; i++) {
        tf_err err = {0};
        int rc = model_encode_for_task(m, q->texts[i], q->lens[i], q->truncate, &j->text_ids[i], &j->text_n_ids[i],
                                       &err);
        if (rc == TF_ETOOLONG)
            return herr_set(e, HERR_TEXT_TOO_LONG, "text %d: %s; send \"truncate\": true to cut it", i, err.msg);
        if (rc < 0) return herr_set(e, HERR_INTERNAL, "tokenizer: %s", err.msg);
        j->n_text_tokens += j->text_n_ids[i];
    }
    return 0;
}

/* Attention memory of the job's texts: statistics for every text while attn_monitor is on
 * (or the client asks; the kernel sums them from weights it has: measured on a 2-core Zen 5, they add ~50% to
 * attn_full itself (12 heads x 64, 128 tokens, one thread: 1.60 -> 2.44 ms), and attention
 * is ~6% of a DistilBERT-base classify of 128-token texts, so ~3% of the call; less for
 * shorter texts), and with "full" one (n x n) store per picked
 * pair of each text, after the pick and the size bound are checked. The request's mode and
 * pick move into j->req, which the job owns and renders from. */
static int admit_attention(tf_server *srv, tf_served_model *sm, tf_job *j, tf_sentiment_request *q,
                           tf_http_error *e) {
    const int L = sm->info->attn_n_layer, H = sm->info->attn_n_head, pairs = L * H, n = j->n_texts;
    const tf_attn_pick *p = &q->attn_pick;
    if (attnfull_check_pick(p, q->return_attention, L, H, e) < 0) return -1;
    if (q->return_attention == ATTN_RET_FULL &&
        attnfull_admit_square(p, L, H, j->text_n_ids, n, (uint64_t)srv->cfg->attn_full_max_weights, e) < 0)
        return -1;
    j->req.return_attention = q->return_attention;
    j->req.attn_pick = q->attn_pick;
    memset(&q->attn_pick, 0, sizeof q->attn_pick);
    j->attnmon = srv->cfg->attn_monitor ? sm->attnmon : NULL;
    /* monitoring off: no statistics (kernels skip the hook) unless the client asked */
    if (pairs == 0 || (!j->attnmon && j->req.return_attention == ATTN_RET_NONE)) return 0;
    j->cls_attn = calloc((size_t)n, sizeof *j->cls_attn);
    j->text_attn = calloc((size_t)n * pairs, sizeof *j->text_attn);
    if (!j->cls_attn || !j->text_attn) return herr_set(e, HERR_INTERNAL, "out of memory");
    for (int i = 0; i < n; i++) j->cls_attn[i].stats = j->text_attn + (size_t)i * pairs;
    if (j->req.return_attention != ATTN_RET_FULL) return 0;
    p = &j->req.attn_pick;
    const int nl = p->layers ? p->n_layers : L, nh = p->heads ? p->n_heads : H;
    size_t floats = 0;
    for (int i = 0; i < n; i++) floats += (size_t)nl * nh * j->text_n_ids[i] * j->text_n_ids[i];
    j->text_full = calloc(floats, sizeof *j->text_full);
    j->text_full_tab = calloc((size_t)n * pairs, sizeof *j->text_full_tab);
    if (!j->text_full || !j->text_full_tab) return herr_set(e, HERR_INTERNAL, "out of memory");
    float *next = j->text_full;
    for (int i = 0; i < n; i++) {
        float **tab = j->text_full_tab + (size_t)i * pairs;
        for (int li = 0; li < nl; li++)
            for (int hi = 0; hi < nh; hi++) {
                int l = p->layers ? p->layers[li] : li, h = p->heads ? p->heads[hi] : hi;
                tab[l * H + h] = next;
                next += (size_t)j->text_n_ids[i] * j->text_n_ids[i];
            }
        j->cls_attn[i].full = tab;
    }
    return 0;
}

void route_sentiment(http_req *r) {
    tf_server *srv = http_server(r);
    tf_http_error e;
    if (srv->draining) {
        herr_set(&e, HERR_DRAINING, "the server is shutting down");
        http_reply_error(r, &e);
        return;
    }
    if (!srv->ready) {
        herr_set(&e, HERR_NOT_READY, "models are still loading");
        http_reply_error(r, &e);
        return;
    }
    tf_served_model *sm = server_model_for(srv, TF_TASK_SENTIMENT);
    if (!sm) { /* before the body: without a model no body is right */
        herr_set(&e, HERR_MODEL_NOT_FOUND, "no model loaded for task sentiment");
        http_reply_error(r, &e);
        return;
    }
    size_t len;
    const char *body = http_body(r, &len);
    tf_sentiment_request q;
    if (req_parse_sentiment(body, len, srv->cfg->sentiment_max_texts, &q, &e) < 0) {
        http_reply_error(r, &e);
        return;
    }
    tf_job *j = NULL;
    if (q.model && strcmp(q.model, sm->info->name) != 0) {
        herr_set(&e, HERR_MODEL_NOT_FOUND, "model '%.64s' is not loaded (loaded: %s)", q.model, sm->info->name);
        goto refuse;
    }
    if (job_new(http_id(r), &j) < 0) {
        herr_set(&e, HERR_INTERNAL, "out of memory");
        goto refuse;
    }
    j->model = sm->model;
    j->model_name = sm->info->name;
    if (tokenize_texts(j, sm->model, &q, &e) < 0) goto refuse;
    if (admit_attention(srv, sm, j, &q, &e) < 0) goto refuse;
    j->on_event = on_sentiment;
    if (cbatch_submit(sm->cbatch, j, &e) < 0) goto refuse;
    http_wait_job_fn(r, j, cancel_cls, sm->cbatch);
    job_unref(j);
    req_sentiment_close(&q);
    return;
refuse:
    job_unref(j);
    req_sentiment_close(&q);
    http_reply_error(r, &e);
}
