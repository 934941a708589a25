/* routes_generate.c: POST /v1/generate and POST /v1/completions (OpenAI subset).
 *
 * DESIGN: both dialects share parsing (request.c), admission and the job; they
 * differ only in how a job's progress is rendered, which is the job's
 * on_event callback: it appends SSE events (or, at the end, the whole JSON
 * body) to job->out and wakes the connection. Rendering happens on the loop
 * between steps, while the sequence is alive, so it reads seq_state directly.
 * Text deltas come from text_stable_len: the sequence guarantees that prefix
 * is whole characters that no stop string can take back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/attnfull.h"
#include "server/attnmon.h"
#include "server/log.h"
#include "server/routes.h"
#include "server/utf8.h"

static const char *finish_name(tf_finish f) { return f == TF_FINISH_LENGTH ? "length" : "stop"; }

/* A JSON string of s[0..n) with invalid UTF-8 repaired; NULL on OOM. */
static json_t *text_json(const char *s, size_t n) {
    size_t len;
    char *fixed = utf8_repair(s, n, &len);
    if (!fixed) return NULL;
    json_t *j = json_stringn(fixed, len);
    free(fixed);
    return j;
}

static double ms(uint64_t a, uint64_t b) { return b > a ? (double)(b - a) / 1e6 : 0.0; }

static json_t *timings(const tf_job *j) {
    uint64_t first = j->t_first_token_ns ? j->t_first_token_ns : j->t_done_ns;
    uint64_t admit = j->t_admit_ns ? j->t_admit_ns : j->t_done_ns;
    return json_pack("{s:f,s:f,s:f}", "queue_ms", ms(j->t_arrival_ns, admit), "prefill_ms", ms(admit, first),
                     "decode_ms", ms(first, j->t_done_ns));
}

static void append_event(tf_job *j, const char *event, json_t *data) {
    char *s = data ? json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(data);
    if (!s) return;
    if (event) {
        buf_append(&j->out, "event: ", 7);
        buf_append(&j->out, event, strlen(event));
        buf_append(&j->out, "\n", 1);
    }
    buf_append(&j->out, "data: ", 6);
    buf_append(&j->out, s, strlen(s));
    buf_append(&j->out, "\n\n", 2);
    free(s);
}

static void set_body(tf_job *j, int status, json_t *obj) {
    char *s = obj ? json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(obj);
    buf_close(&j->out);
    if (!s) {
        herr_set(&j->err, HERR_INTERNAL, "cannot render the response");
        s = herr_body(&j->err);
        status = 500;
        if (!s) return;
    }
    buf_append(&j->out, s, strlen(s));
    buf_append(&j->out, "\n", 1);
    free(s);
    j->status = status;
}

/* New text since the last event: the stable prefix while running, everything at the end. */
static json_t *text_delta(tf_job *j, const tf_seq_state *st, int final) {
    size_t end = final ? st->text_len : st->text_stable_len;
    if (end < j->text_emitted) end = j->text_emitted;
    json_t *t = text_json(st->text + j->text_emitted, end - j->text_emitted);
    j->text_emitted = end;
    return t;
}

/* Every finished generation is judged by its model's attention monitor (metrics,
 * baseline, a warning line when flagged); runs once, at JOB_EV_DONE. */
static unsigned attention_check(tf_job *j, const tf_seq_state *st) {
    if (!j->attnmon || !st->attn) return 0;
    tf_attn_verdict v;
    if (attnmon_observe(j->attnmon, st->attn, st->attn_n_layer, st->attn_n_head, &v) < 0) return 0;
    if (v.flags) log_msg(LOG_WARN, "%s: attention anomaly: %s", j->id, v.why);
    return v.flags;
}

/* The kept weights of a "full" request; its positions are the prompt then the generated
 * tokens, all but the last generated one (sampled, never fed). */
static json_t *full_json(const tf_job *j, const tf_seq_state *st) {
    int n = st->attn_full_rows;
    int32_t *ids = malloc(sizeof *ids * (size_t)(n > 0 ? n : 1));
    if (!ids) return NULL;
    for (int i = 0; i < n; i++) ids[i] = i < j->n_prompt ? j->prompt_ids[i] : st->tokens[i - j->n_prompt];
    json_t *o = attnfull_json(j->model, ids, n, st->attn_full, st->attn_full_ld, st->attn_n_layer, st->attn_n_head,
                              &j->req.attn_pick, 1);
    free(ids);
    return o;
}

/* attention_flags always; attention when the request asked for the summary (or full). */
static void add_attention(json_t *o, const tf_job *j, const tf_seq_state *st, unsigned flags) {
    if (!o) return;
    json_object_set_new(o, "attention_flags", attnmon_flags_json(flags));
    if (j->req.return_attention == ATTN_RET_NONE || !st->attn) return;
    json_t *a = attnmon_summary_json(st->attn, st->attn_n_layer, st->attn_n_head);
    if (a && j->req.return_attention == ATTN_RET_FULL && st->attn_full)
        json_object_set_new(a, "full", full_json(j, st));
    json_object_set_new(o, "attention", a);
}

/* ---- /v1/generate ---- */

static void on_generate(tf_job *j, tf_job_event ev) {
    int stream = j->req.stream;
    if (j->failed) {
        if (ev != JOB_EV_DONE) return;
        if (stream) append_event(j, "error", herr_json(&j->err));
        else {
            char *s = herr_body(&j->err);
            buf_close(&j->out);
            if (s) buf_append(&j->out, s, strlen(s)), free(s);
            j->status = herr_status(j->err.kind);
        }
        http_job_notify(j);
        return;
    }
    tf_seq_state st;
    seq_state(j->seq, &st);
    if (stream) {
        if (ev == JOB_EV_TOKENS) {
            /* One event per generated token (a decode step yields one). */
            int i = st.n_generated - 1;
            json_t *e = json_pack("{s:i,s:i,s:o}", "index", i, "token", st.tokens[i], "text", text_delta(j, &st, 0));
            if (e && j->req.logprobs) json_object_set_new(e, "logprob", json_real(st.logprobs[i]));
            append_event(j, "token", e);
        } else {
            json_t *e = json_pack("{s:s,s:o,s:s,s:{s:i,s:i},s:o}", "model", j->model_name, "text",
                                  text_delta(j, &st, 1), "finish_reason", finish_name(st.finish), "usage",
                                  "prompt_tokens", j->n_prompt, "completion_tokens", st.n_generated, "timings",
                                  timings(j));
            add_attention(e, j, &st, attention_check(j, &st));
            append_event(j, "done", e);
        }
        http_job_notify(j);
        return;
    }
    if (ev != JOB_EV_DONE) return;
    json_t *o = json_pack("{s:s,s:o,s:s,s:{s:i,s:i},s:o}", "model", j->model_name, "generated_text",
                          text_json(st.text, st.text_len), "finish_reason", finish_name(st.finish), "usage",
                          "prompt_tokens", j->n_prompt, "completion_tokens", st.n_generated, "timings", timings(j));
    if (o && j->req.logprobs) {
        json_t *toks = json_array(), *lps = json_array();
        for (int i = 0; i < st.n_generated; i++) {
            json_array_append_new(toks, json_integer(st.tokens[i]));
            json_array_append_new(lps, json_real(st.logprobs[i]));
        }
        json_object_set_new(o, "tokens", toks);
        json_object_set_new(o, "logprobs", lps);
    }
    add_attention(o, j, &st, attention_check(j, &st));
    set_body(j, 200, o);
    http_job_notify(j);
}

/* ---- /v1/completions ---- */

static json_t *openai_chunk(tf_job *j, json_t *text, const char *finish) {
    char id[64];
    snprintf(id, sizeof id, "cmpl-%s", j->id);
    return json_pack("{s:s,s:s,s:I,s:s,s:[{s:o,s:i,s:n,s:s?}]}", "id", id, "object", "text_completion", "created",
                     (json_int_t)time(NULL), "model", j->model_name, "choices", "text", text, "index", 0,
                     "logprobs", "finish_reason", finish);
}

static void on_completions(tf_job *j, tf_job_event ev) {
    int stream = j->req.stream;
    if (j->failed) {
        if (ev != JOB_EV_DONE) return;
        if (stream) {
            append_event(j, NULL, herr_json(&j->err));
            buf_append(&j->out, "data: [DONE]\n\n", 14);
        } else {
            char *s = herr_body(&j->err);
            buf_close(&j->out);
            if (s) buf_append(&j->out, s, strlen(s)), free(s);
            j->status = herr_status(j->err.kind);
        }
        http_job_notify(j);
        return;
    }
    tf_seq_state st;
    seq_state(j->seq, &st);
    json_t *usage = json_pack("{s:i,s:i,s:i}", "prompt_tokens", j->n_prompt, "completion_tokens", st.n_generated,
                              "total_tokens", j->n_prompt + st.n_generated);
    if (stream) {
        if (ev == JOB_EV_TOKENS) {
            json_decref(usage);
            append_event(j, NULL, openai_chunk(j, text_delta(j, &st, 0), NULL));
        } else {
            attention_check(j, &st);
            json_t *c = openai_chunk(j, text_delta(j, &st, 1), finish_name(st.finish));
            if (c) json_object_set_new(c, "usage", usage);
            else json_decref(usage);
            append_event(j, NULL, c);
            buf_append(&j->out, "data: [DONE]\n\n", 14);
        }
        http_job_notify(j);
        return;
    }
    if (ev != JOB_EV_DONE) {
        json_decref(usage);
        return;
    }
    attention_check(j, &st);
    json_t *o = openai_chunk(j, text_json(st.text, st.text_len), finish_name(st.finish));
    if (o) json_object_set_new(o, "usage", usage);
    else json_decref(usage);
    set_body(j, 200, o);
    http_job_notify(j);
}

/* ---- shared admission ---- */

static uint64_t next_seed(tf_server *srv) {
    /* splitmix64: requests without a seed still get distinct, reproducible-per-process seeds. */
    uint64_t z = (srv->seed_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) & ((1ull << 53) - 1);
}

/* return_attention "full": the pick must fit the model and the most the request can feed
 * (prompt + max_new_tokens - 1 positions, within the context) must fit the bound. */
static int admit_attention(tf_server *srv, tf_served_model *sm, tf_job *j, tf_http_error *e) {
    const tf_model_info *info = sm->info;
    tf_gen_request *q = &j->req;
    if (attnfull_check_pick(&q->attn_pick, q->return_attention, info->attn_n_layer, info->attn_n_head, e) < 0)
        return -1;
    if (q->return_attention != ATTN_RET_FULL) return 0;
    long long positions = (long long)j->n_prompt + q->params.max_new_tokens;
    if (positions > info->n_ctx) positions = info->n_ctx;
    if (attnfull_admit_causal(&q->attn_pick, info->attn_n_layer, info->attn_n_head, (int)positions - 1,
                              (uint64_t)srv->cfg->attn_full_max_weights, e) < 0)
        return -1;
    q->params.attn_full = 1;
    q->params.attn_sel = attnfull_select(&q->attn_pick);
    return 0;
}

static void generate_common(http_req *r, tf_req_api api) {
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
    size_t len;
    const char *body = http_body(r, &len);
    tf_req_limits lim = {.max_new_tokens = srv->cfg->max_new_tokens};
    tf_job *j = NULL;
    if (job_new(http_id(r), &j) < 0) {
        herr_set(&e, HERR_INTERNAL, "out of memory");
        http_reply_error(r, &e);
        return;
    }
    if (req_parse(api, body, len, &lim, &j->req, &e) < 0) goto refuse;
    tf_served_model *sm = server_model_for(srv, TF_TASK_GENERATE);
    if (!sm) {
        herr_set(&e, HERR_MODEL_NOT_FOUND, "no model loaded for task generate");
        goto refuse;
    }
    if (j->req.model && strcmp(j->req.model, sm->info->name) != 0) {
        herr_set(&e, HERR_MODEL_NOT_FOUND, "model '%.64s' is not loaded (loaded: %s)", j->req.model, sm->info->name);
        goto refuse;
    }
    if (!j->req.seed_given) j->req.params.seed = next_seed(srv);
    /* The kernel fills the statistics from weights it already has: for every request while
     * the operator monitors, else only for a client that asks for them (never judged). */
    j->req.params.attn_summary = srv->cfg->attn_monitor || j->req.return_attention != ATTN_RET_NONE;
    j->attnmon = srv->cfg->attn_monitor ? sm->attnmon : NULL;
    tf_err err = {0};
    if (model_tokenize(sm->model, j->req.prompt, j->req.prompt_len, &j->prompt_ids, &j->n_prompt, &err) < 0) {
        herr_set(&e, HERR_INTERNAL, "tokenizer: %s", err.msg);
        goto refuse;
    }
    if (j->n_prompt + 1 > sm->info->n_ctx) {
        herr_set(&e, HERR_PROMPT_TOO_LONG, "prompt is %d tokens; this model allows at most %d", j->n_prompt,
                 sm->info->n_ctx - 1);
        goto refuse;
    }
    if (j->n_prompt == 0) {
        herr_set(&e, HERR_OUT_OF_RANGE, "prompt has no tokens");
        goto refuse;
    }
    if (admit_attention(srv, sm, j, &e) < 0) goto refuse;
    j->model_name = sm->info->name;
    j->model = sm->model;
    j->on_event = api == REQ_GENERATE ? on_generate : on_completions;
    if (sched_submit(sm->sched, j, &e) < 0) goto refuse;
    if (j->failed) { /* refused while joining the batch: answer with its status */
        e = j->err;
        goto refuse;
    }
    if (j->req.stream) http_stream_job(r, j, sm->sched);
    else http_wait_job(r, j, sm->sched);
    job_unref(j);
    return;
refuse:
    job_unref(j);
    http_reply_error(r, &e);
}

void route_generate(http_req *r) { generate_common(r, REQ_GENERATE); }
void route_completions(http_req *r) { generate_common(r, REQ_COMPLETIONS); }
