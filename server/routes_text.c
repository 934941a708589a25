/* routes_text.c: POST /v1/translate and POST /v1/summarize (encoder-decoder models).
 *
 * DESIGN: every input text is one job in the model's scheduler, so the texts of one
 * request, and of every concurrent translate/summarize request, are encoded together
 * and decoded together with everything else the model is running (continuous
 * batching). A request with several texts is a group: a lead job, never scheduled,
 * holds the HTTP connection (http_wait_job) and the group's answer; each text's job
 * reports to the group when it ends, and the last one renders the body into the lead
 * and wakes the connection. A client that leaves cancels every text of its group (each
 * sequence is dropped at the next step boundary, as for /v1/generate). Input
 * shaping (task prefix, length limit, truncation) is server/text_task.c, shared with
 * the CLI; fields a request leaves out take the model's task defaults, as in the CLI.
 * Attention monitoring (config attn_monitor, on by default; the kernels fill the statistics
 * as they go): each text is judged by the model's monitor when it ends, its flags go into
 * its details and their union into the answer's attention_flags (always [] when off).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/attnfull.h"
#include "server/attnmon.h"
#include "server/log.h"
#include "server/request.h"
#include "server/routes.h"
#include "server/text_task.h"
#include "server/utf8.h"

#define MAX_TEXTS 64
#define DEFAULT_MAX_NEW 64 /* as the CLI */

typedef struct text_req {
    const char *texts[MAX_TEXTS]; /* borrowed from root */
    size_t lens[MAX_TEXTS];
    int n_texts;
    const char *src, *tgt, *model;
    int truncate;
    int return_attention; /* ATTN_RET_* */
    tf_attn_pick pick;    /* owned: attention_layers / attention_heads */
    /* as given; -1 (NAN) when absent, so the model's task defaults apply */
    int max_new, min_new, num_beams, no_repeat, early_stopping;
    float length_penalty;
} text_req;

typedef struct text_group {
    int translate;
    tf_job *lead;             /* ref */
    tf_job *kids[MAX_TEXTS];  /* refs */
    int n, n_done, submitting;
    char *out[MAX_TEXTS];     /* owned: each text's result */
    size_t out_len[MAX_TEXTS];
    int n_in[MAX_TEXTS], n_gen[MAX_TEXTS], truncated[MAX_TEXTS];
    tf_finish finish[MAX_TEXTS];
    unsigned flags[MAX_TEXTS];  /* ATTN_* of each text */
    json_t *attn[MAX_TEXTS];    /* owned: each text's attention summary, when asked */
    int return_attention;       /* ATTN_RET_* */
    tf_attn_pick pick;          /* owned: the weights a "full" request keeps (kids' attn_sel borrow it) */
    double coverage_weight;     /* the monitor's setting, for the summaries */
    int failed;
    tf_http_error err;
    const char *model_name;
    const tf_model *model;      /* borrowed: the served model (token strings) */
} text_group;

/* ---- request body ---------------------------------------------------------------------- */

static int get_int(json_t *v, const char *name, int lo, int hi, int *out, tf_http_error *e) {
    if (!json_is_integer(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be an integer", name);
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return herr_set(e, HERR_OUT_OF_RANGE, "%s must be between %d and %d, got %lld", name, lo, hi, (long long)x);
    *out = (int)x;
    return 0;
}

static int parse_body(int translate, int max_new_limit, const char *body, size_t len, json_t **root_out,
                      text_req *q, tf_http_error *e) {
    q->max_new = q->min_new = q->num_beams = q->no_repeat = q->early_stopping = -1;
    q->length_penalty = NAN;
    q->src = "en";
    q->tgt = "de";
    json_t *root = req_load_object(body, len, e);
    *root_out = root;
    if (!root) return -1;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (json_is_null(v)) continue;
        if (strcmp(key, "text") == 0) {
            if (!json_is_string(v)) return herr_set(e, HERR_INVALID_FIELD, "text must be a string");
            if (q->n_texts) return herr_set(e, HERR_INVALID_FIELD, "give text or texts, not both");
            /* the model would answer from the task prefix alone */
            if (json_string_length(v) == 0) return herr_set(e, HERR_OUT_OF_RANGE, "text must not be empty");
            q->texts[0] = json_string_value(v);
            q->lens[0] = json_string_length(v);
            q->n_texts = 1;
        } else if (strcmp(key, "texts") == 0) {
            if (!json_is_array(v)) return herr_set(e, HERR_INVALID_FIELD, "texts must be an array of strings");
            if (q->n_texts) return herr_set(e, HERR_INVALID_FIELD, "give text or texts, not both");
            size_t i, n = json_array_size(v);
            json_t *t;
            json_array_foreach(v, i, t) { /* the type first (400), then the limits */
                if (!json_is_string(t)) return herr_set(e, HERR_INVALID_FIELD, "texts[%zu] must be a string", i);
            }
            if (n == 0) return herr_set(e, HERR_OUT_OF_RANGE, "texts must hold at least one string");
            if (n > MAX_TEXTS)
                return herr_set(e, HERR_TOO_MANY_TEXTS, "texts holds %zu texts; at most %d per request", n, MAX_TEXTS);
            json_array_foreach(v, i, t) {
                if (json_string_length(t) == 0)
                    return herr_set(e, HERR_OUT_OF_RANGE, "texts[%zu] must not be empty", i);
                q->texts[i] = json_string_value(t);
                q->lens[i] = json_string_length(t);
            }
            q->n_texts = (int)n;
        } else if (translate && (strcmp(key, "source_lang") == 0 || strcmp(key, "target_lang") == 0)) {
            if (!json_is_string(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be a string such as \"en\"", key);
            /* read as a C string into the task key: a NUL would cut it */
            if (json_string_length(v) == 0 || json_string_length(v) > 15 ||
                strlen(json_string_value(v)) != json_string_length(v))
                return herr_set(e, HERR_OUT_OF_RANGE, "%s must be a language code such as \"en\" (1 to 15 bytes, "
                                "no U+0000)", key);
            *(key[0] == 's' ? &q->src : &q->tgt) = json_string_value(v);
        } else if (strcmp(key, "model") == 0) {
            if (!json_is_string(v)) return herr_set(e, HERR_INVALID_FIELD, "model must be a string");
            q->model = json_string_value(v);
        } else if (strcmp(key, "truncate") == 0) {
            if (!json_is_boolean(v)) return herr_set(e, HERR_INVALID_FIELD, "truncate must be true or false");
            q->truncate = json_is_true(v);
        } else if (strcmp(key, "return_attention") == 0) {
            if ((rc = attnfull_parse_mode(v, key, &q->return_attention, e)) < 0) return rc;
        } else if (strcmp(key, "attention_layers") == 0) {
            if ((rc = attnfull_parse_indices(v, key, &q->pick.layers, &q->pick.n_layers, e)) < 0) return rc;
        } else if (strcmp(key, "attention_heads") == 0) {
            if ((rc = attnfull_parse_indices(v, key, &q->pick.heads, &q->pick.n_heads, e)) < 0) return rc;
        } else if (strcmp(key, "early_stopping") == 0) {
            if (!json_is_boolean(v)) return herr_set(e, HERR_INVALID_FIELD, "early_stopping must be true or false");
            q->early_stopping = json_is_true(v);
        } else if (strcmp(key, "length_penalty") == 0) {
            if (!json_is_number(v)) return herr_set(e, HERR_INVALID_FIELD, "length_penalty must be a number");
            q->length_penalty = (float)json_number_value(v);
        } else if (strcmp(key, "max_new_tokens") == 0) { /* refused over the limit, as on /v1/generate */
            if (!json_is_integer(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be an integer", key);
            json_int_t x = json_integer_value(v);
            if (x < 1 || x > max_new_limit) return req_max_new_refused(key, max_new_limit, (long long)x, e);
            q->max_new = (int)x;
        } else if (strcmp(key, "min_new_tokens") == 0) {
            if ((rc = get_int(v, key, 0, 1 << 20, &q->min_new, e)) < 0) return rc;
        } else if (strcmp(key, "num_beams") == 0) {
            if ((rc = get_int(v, key, 1, TF_MAX_BEAMS, &q->num_beams, e)) < 0) return rc;
        } else if (strcmp(key, "no_repeat_ngram_size") == 0) {
            if ((rc = get_int(v, key, 0, 64, &q->no_repeat, e)) < 0) return rc;
        } else {
            return herr_set(e, HERR_INVALID_FIELD, "unknown field '%.64s'", key);
        }
    }
    if (q->n_texts == 0) return herr_set(e, HERR_INVALID_FIELD, "text (a string) or texts (an array) is required");
    return 0;
}

/* Our defaults, then the model's for the task (task_specific_params, as transformers'
 * pipelines use them), then what the request gives. A default max_new_tokens over the
 * server's limit is cut to it (the client did not ask for it: the bundled summarization
 * default is 199 whatever the operator's limit); a value sent over it was refused. */
static int compose_params(const tf_model *m, const char *task_key, const text_req *q, int max_new_limit,
                          int monitor, tf_gen_params *p, tf_http_error *e) {
    gen_params_default(p);
    p->max_new_tokens = DEFAULT_MAX_NEW;
    model_task_defaults(m, task_key, p);
    if (q->max_new >= 0) p->max_new_tokens = q->max_new;
    if (q->min_new >= 0) p->min_new_tokens = q->min_new;
    if (q->num_beams >= 0) p->num_beams = q->num_beams;
    if (q->no_repeat >= 0) p->no_repeat_ngram_size = q->no_repeat;
    if (q->early_stopping >= 0) p->early_stopping = q->early_stopping;
    if (!isnan(q->length_penalty)) p->length_penalty = q->length_penalty;
    if (q->max_new < 0 && p->max_new_tokens > max_new_limit) p->max_new_tokens = max_new_limit;
    p->attn_summary = monitor || q->return_attention != ATTN_RET_NONE;
    /* the answer reports the returned hypothesis's own statistics; monitoring keeps the sums
     * over every beam (tf_seq_state.attn_encdec) */
    p->attn_per_beam = q->return_attention != ATTN_RET_NONE;
    /* a default minimum never outgrows the maximum the request asked for */
    if (q->min_new < 0 && p->min_new_tokens > p->max_new_tokens) p->min_new_tokens = p->max_new_tokens;
    tf_err err = {0};
    return gen_params_check(p, &err) < 0 ? herr_set(e, HERR_OUT_OF_RANGE, "%s", err.msg) : 0;
}

/* ---- the group ------------------------------------------------------------------------- */

static void group_free(text_group *g) {
    if (g->lead) g->lead->route_ctx = NULL;
    for (int i = 0; i < MAX_TEXTS; i++) {
        job_unref(g->kids[i]);
        free(g->out[i]);
        json_decref(g->attn[i]);
    }
    attnfull_pick_close(&g->pick);
    job_unref(g->lead);
    free(g);
}

static const char *finish_name(tf_finish f) { return f == TF_FINISH_LENGTH ? "length" : "stop"; }

static double ms(uint64_t a, uint64_t b) { return b > a ? (double)(b - a) / 1e6 : 0.0; }

/* All texts ended: the answer goes into the lead job, which the connection waits on. */
static void group_complete(text_group *g) {
    tf_job *L = g->lead;
    buf_close(&L->out);
    char *s = NULL;
    if (g->failed) {
        s = herr_body(&g->err);
        L->status = herr_status(g->err.kind);
    } else {
        json_t *outs = json_array(), *details = json_array();
        int n_in = 0, n_gen = 0;
        unsigned flags = 0;
        uint64_t admit = 0;
        for (int i = 0; i < g->n; i++) {
            json_array_append_new(outs, json_stringn(g->out[i], g->out_len[i]));
            json_t *d = json_pack("{s:s,s:i,s:i,s:b,s:o}", "finish_reason", finish_name(g->finish[i]), "input_tokens",
                                  g->n_in[i], "output_tokens", g->n_gen[i], "truncated", g->truncated[i],
                                  "attention_flags", attnmon_flags_json(g->flags[i]));
            if (d && g->attn[i]) {
                json_object_set_new(d, "attention", g->attn[i]);
                g->attn[i] = NULL;
            }
            json_array_append_new(details, d);
            flags |= g->flags[i];
            n_in += g->n_in[i];
            n_gen += g->n_gen[i];
            if (g->kids[i]->t_admit_ns > admit) admit = g->kids[i]->t_admit_ns;
        }
        const uint64_t now = job_now_ns();
        json_t *o = json_pack("{s:s,s:o,s:o,s:{s:i,s:i},s:{s:f,s:f},s:o}", "model", g->model_name,
                              g->translate ? "translations" : "summaries", outs, "details", details, "usage",
                              "prompt_tokens", n_in, "completion_tokens", n_gen, "timings", "queue_ms",
                              ms(L->t_arrival_ns, admit ? admit : now), "total_ms", ms(L->t_arrival_ns, now),
                              "attention_flags", attnmon_flags_json(flags));
        s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        json_decref(o);
        L->status = 200;
        if (!s) {
            herr_set(&g->err, HERR_INTERNAL, "cannot render the response");
            s = herr_body(&g->err);
            L->status = 500;
        }
    }
    if (s) {
        buf_append(&L->out, s, strlen(s));
        buf_append(&L->out, "\n", 1);
        free(s);
    }
    L->state = JOB_DONE;
    L->t_done_ns = job_now_ns();
    http_job_notify(L); /* no-op when the client has left */
    group_free(g);
}

/* Every finished text is judged by its model's attention monitor (metrics, baseline, a
 * warning line with the request id when flagged); the summary is kept when asked for.
 * Under beam search the monitor judges the whole search, as it always has (its baselines
 * and /metrics stay comparable across requests), while the summary and the full weights
 * describe the returned hypothesis alone. */
static void attention_check(text_group *g, tf_job *j, int i, const tf_seq_state *st) {
    if (!st->attn_encdec) return;
    tf_attn_verdict v;
    if (j->attnmon && attnmon_observe_encdec(j->attnmon, st->attn_encdec, &v) == 0 && v.flags) {
        g->flags[i] = v.flags;
        log_msg(LOG_WARN, "%s: attention anomaly in text %d: %s", g->lead->id, i, v.why);
    }
    if (g->return_attention == ATTN_RET_NONE) return;
    const tf_attn_encdec *own = st->attn_encdec_hyp ? st->attn_encdec_hyp : st->attn_encdec;
    json_t *a = attnmon_encdec_summary_json(own, g->coverage_weight);
    if (a && g->return_attention == ATTN_RET_FULL && st->attn_encdec_full &&
        json_object_set_new(a, "full", attnfull_encdec_json(g->model, j->prompt_ids, st->tokens,
                                                            st->attn_encdec_full, &g->pick)) < 0) {
        json_decref(a);
        a = NULL;
    }
    if (!(g->attn[i] = a) && !g->failed) {
        g->failed = 1;
        herr_set(&g->err, HERR_INTERNAL, "out of memory");
    }
}

/* return_attention "full": the pick must name layers both stacks have and heads the model
 * has; the three kinds of weights of every text must fit the bound, every beam's rows
 * counted (the engine holds them until the search picks its answer). */
static int admit_full(const tf_server *srv, const tf_model_info *info, const text_req *q, const tf_attn_pick *pick,
                      const tf_gen_params *p, const int *n_in, tf_http_error *e) {
    const int L_enc = info->encdec_n_enc_layer, L_dec = info->encdec_n_dec_layer, H = info->encdec_n_head;
    if (attnfull_check_pick(pick, q->return_attention, L_enc < L_dec ? L_enc : L_dec, H, e) < 0) return -1;
    if (q->return_attention != ATTN_RET_FULL) return 0;
    return attnfull_admit_encdec(pick, L_enc, L_dec, H, n_in, q->n_texts, p->max_new_tokens, p->num_beams,
                                 (uint64_t)srv->cfg->attn_full_max_weights, e);
}

static void on_text(tf_job *j, tf_job_event ev) {
    if (ev != JOB_EV_DONE) return;
    text_group *g = j->route_ctx;
    int i = 0;
    while (i < g->n && g->kids[i] != j) i++;
    if (j->failed) {
        if (!g->failed) g->err = j->err;
        g->failed = 1;
    } else if (j->seq) {
        tf_seq_state st;
        seq_state(j->seq, &st);
        g->out[i] = utf8_repair(st.text, st.text_len, &g->out_len[i]);
        if (!g->out[i] && !g->failed) {
            g->failed = 1;
            herr_set(&g->err, HERR_INTERNAL, "out of memory");
        }
        g->n_gen[i] = st.n_generated;
        g->finish[i] = st.finish;
        attention_check(g, j, i, &st);
    }
    if (++g->n_done == g->n && !g->submitting) group_complete(g);
}

/* The client left before the answer: every text still queued or running is cancelled, and
 * since cancelled jobs report nothing more, the group ends here. */
static void cancel_group(void *sched, tf_job *lead) {
    text_group *g = lead->route_ctx;
    sched_cancel(sched, lead); /* never scheduled: only detaches it */
    if (!g) return;
    for (int i = 0; i < g->n; i++) sched_cancel(sched, g->kids[i]);
    group_free(g);
}

static void text_route(http_req *r, int translate) {
    tf_server *srv = http_server(r);
    const unsigned task = translate ? TF_TASK_TRANSLATE : TF_TASK_SUMMARIZE;
    const char *task_name = translate ? "translate" : "summarize";
    tf_http_error e;
    json_t *root = NULL;
    text_group *g = NULL;
    text_req q;
    memset(&q, 0, sizeof q);
    if (srv->draining) {
        herr_set(&e, HERR_DRAINING, "the server is shutting down");
        goto refuse;
    }
    if (!srv->ready) {
        herr_set(&e, HERR_NOT_READY, "models are still loading");
        goto refuse;
    }
    /* no model for the task is the first thing a client needs to hear, whatever the body */
    tf_served_model *sm = server_model_for(srv, task);
    if (!sm) {
        herr_set(&e, HERR_MODEL_NOT_FOUND, "no model loaded for task %s", task_name);
        goto refuse;
    }
    size_t len;
    const char *body = http_body(r, &len);
    tf_gen_params params;
    if (parse_body(translate, srv->cfg->max_new_tokens, body, len, &root, &q, &e) < 0) goto refuse;
    if (q.model && strcmp(q.model, sm->info->name) != 0) {
        herr_set(&e, HERR_MODEL_NOT_FOUND, "model '%.64s' is not loaded (loaded: %s)", q.model, sm->info->name);
        goto refuse;
    }
    tf_err err = {0};
    const char *prefix;
    if ((translate ? tt_translation_prefix(sm->model, q.src, q.tgt, &prefix, &err)
                   : tt_summarize_prefix(sm->model, &prefix, &err)) < 0) {
        herr_set(&e, HERR_OUT_OF_RANGE, "%s", err.msg);
        goto refuse;
    }
    char key[64];
    if (translate) snprintf(key, sizeof key, "translation_%s_to_%s", q.src, q.tgt);
    else snprintf(key, sizeof key, "summarization");
    if (compose_params(sm->model, key, &q, srv->cfg->max_new_tokens, srv->cfg->attn_monitor, &params, &e) < 0) goto refuse;
    if (!(g = calloc(1, sizeof *g)) || job_new(http_id(r), &g->lead) < 0) {
        herr_set(&e, HERR_INTERNAL, "out of memory");
        goto refuse;
    }
    g->translate = translate;
    g->model_name = sm->info->name;
    g->model = sm->model;
    g->return_attention = q.return_attention;
    g->pick = q.pick; /* the group owns it from here */
    memset(&q.pick, 0, sizeof q.pick);
    g->coverage_weight = srv->cfg->attn_coverage_weight;
    /* every text is checked before any is admitted, so a bad one refuses the request whole */
    for (int i = 0; i < q.n_texts; i++) {
        char id[64]; /* room for any int, though i < MAX_TEXTS */
        snprintf(id, sizeof id, "%.36s-%d", http_id(r), i);
        if (job_new(id, &g->kids[i]) < 0) {
            herr_set(&e, HERR_INTERNAL, "out of memory");
            goto refuse;
        }
        tf_job *k = g->kids[i];
        int rc = tt_encode(sm->model, prefix, q.texts[i], q.lens[i], q.truncate, &k->prompt_ids, &k->n_prompt,
                           &g->truncated[i], &err);
        if (rc < 0) {
            herr_set(&e, rc == TF_ETOOLONG ? HERR_PROMPT_TOO_LONG : HERR_INTERNAL, "%s%s", q.n_texts > 1 ? "texts: " : "",
                     err.msg);
            goto refuse;
        }
        g->n_in[i] = k->n_prompt;
    }
    if (admit_full(srv, sm->info, &q, &g->pick, &params, g->n_in, &e) < 0) goto refuse;
    if (g->return_attention == ATTN_RET_FULL) {
        params.attn_full = 1;
        params.attn_sel = attnfull_select(&g->pick);
    }
    for (int i = 0; i < q.n_texts; i++) {
        tf_job *k = g->kids[i];
        k->req.params = params;
        k->model_name = sm->info->name;
        k->attnmon = !srv->cfg->attn_monitor ? NULL
                     : !translate && sm->attnmon_summarize ? sm->attnmon_summarize
                                                           : sm->attnmon;
        k->on_event = on_text;
        k->route_ctx = g;
    }
    /* the texts' KV caches are judged together: a request that could only ever run in part
     * is refused before any text starts */
    if (sched_kv_check(sm->sched, g->kids, q.n_texts, &e) < 0) goto refuse;
    met_add(srv->met, MET_TASK_TEXTS, translate ? "task=\"translate\"" : "task=\"summarize\"", q.n_texts);
    for (int i = 0; i < q.n_texts; i++)
        if (g->truncated[i]) met_add(srv->met, MET_TASK_TRUNCATED, translate ? "task=\"translate\"" : "task=\"summarize\"", 1);
    json_decref(root);
    root = NULL;
    g->submitting = 1;
    for (int i = 0; i < q.n_texts; i++) {
        if (sched_submit(sm->sched, g->kids[i], &e) < 0) {
            /* the texts already admitted still run; the request fails with this refusal */
            g->failed = 1;
            g->err = e;
            break;
        }
        g->n++;
    }
    g->submitting = 0;
    tf_job *lead = g->lead;
    job_ref(lead);
    if (g->n == 0) { /* nothing admitted: answer now */
        group_free(g);
        job_unref(lead);
        http_reply_error(r, &e);
        return;
    }
    lead->route_ctx = g;
    http_wait_job_fn(r, lead, cancel_group, sm->sched);
    if (g->n_done == g->n) group_complete(g); /* all ended during admission */
    job_unref(lead);
    return;
refuse:
    attnfull_pick_close(&q.pick);
    json_decref(root);
    if (g) group_free(g);
    http_reply_error(r, &e);
}

void route_translate(http_req *r) { text_route(r, 1); }
void route_summarize(http_req *r) { text_route(r, 0); }
