/* serve.c: start-up, signals, drain and shut-down of the daemon.
 *
 * DESIGN: the libuv loop owns everything after start-up. SIGTERM/SIGINT start a
 * drain: /ready turns 503, new generation requests get 503, admitted work
 * (queued and running) continues until it is done or drain_timeout_ms passes
 * (then it fails with 503), and once no request still holds a job the HTTP
 * daemon is stopped (after resuming any suspended connection, as MHD requires)
 * and the loop ends. A second signal during a drain shortens nothing: the
 * deadline is the contract. SIGHUP reopens the log file.
 */
#include "server/serve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "models/model.h"
#include "server/bundled.h"
#include "server/config.h"
#include "server/http.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server.h"

extern char **environ;

typedef struct serve_ctx {
    tf_server srv;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t drain_timer;
    uint64_t drain_deadline_ns;
    int stopping;
} serve_ctx;

static void stop_all(serve_ctx *c) {
    if (c->stopping) return;
    c->stopping = 1;
    log_msg(LOG_INFO, "drained; stopping");
    http_stop(c->srv.http);
    for (int i = 0; i < c->srv.n_models; i++) {
        sched_close(c->srv.models[i].sched);
        cbatch_close(c->srv.models[i].cbatch);
    }
    uv_close((uv_handle_t *)&c->sig_term, NULL);
    uv_close((uv_handle_t *)&c->sig_int, NULL);
    uv_close((uv_handle_t *)&c->sig_hup, NULL);
    uv_close((uv_handle_t *)&c->drain_timer, NULL);
}

/* Polls for the end of the drain: every scheduler idle and every response written,
 * or one second past the deadline (jobs have failed by then; give sockets a moment). */
static void on_drain_tick(uv_timer_t *t) {
    serve_ctx *c = t->data;
    int idle = http_live_jobs(c->srv.http) == 0;
    for (int i = 0; i < c->srv.n_models; i++)
        idle = idle && sched_idle(c->srv.models[i].sched) &&
               (!c->srv.models[i].cbatch || cbatch_idle(c->srv.models[i].cbatch));
    if (idle || job_now_ns() > c->drain_deadline_ns + 1000000000ull) stop_all(c);
}

static void on_stop_signal(uv_signal_t *h, int signum) {
    serve_ctx *c = h->data;
    if (c->srv.draining) return;
    const tf_config *cfg = c->srv.cfg;
    log_msg(LOG_INFO, "signal %d: draining (up to %d ms)", signum, cfg->drain_timeout_ms);
    c->srv.draining = 1;
    met_set(c->srv.met, MET_READY, NULL, 0);
    c->drain_deadline_ns = job_now_ns() + (uint64_t)cfg->drain_timeout_ms * 1000000ull;
    for (int i = 0; i < c->srv.n_models; i++) {
        sched_drain(c->srv.models[i].sched, c->drain_deadline_ns);
        if (c->srv.models[i].cbatch) cbatch_drain(c->srv.models[i].cbatch);
    }
    uv_timer_start(&c->drain_timer, on_drain_tick, 0, 50);
}

static void on_hup(uv_signal_t *h, int signum) {
    (void)h;
    (void)signum;
    if (log_reopen() < 0) log_msg(LOG_ERROR, "SIGHUP: cannot reopen the log file");
    else log_msg(LOG_INFO, "SIGHUP: log reopened");
}

/* Each distinct directory is loaded once, whatever the number of tasks naming it.
 * bundled: the specs are the shipped defaults, so a model this build cannot serve (its
 * family not compiled in) is skipped with a warning instead of stopping the daemon. */
static int load_models(tf_server *srv, const tf_config *cfg, int bundled, tf_err *err) {
    /* the option table admits only the names model_kv_cache_dtype_parse knows */
    tf_model_opts o = {.use_int8 = strcmp(cfg->dtype, "int8") == 0, .n_threads = cfg->threads,
                       .kv_budget_bytes = (size_t)cfg->kv_budget_bytes,
                       .kv_cache_dtype = (tf_kv_cache_dtype)model_kv_cache_dtype_parse(cfg->kv_cache_dtype)};
    for (int i = 0; i < cfg->n_models; i++) {
        const tf_model_spec *spec = &cfg->models[i];
        tf_served_model *sm = NULL;
        for (int k = 0; k < srv->n_models; k++)
            if (strcmp(srv->models[k].dir, spec->dir) == 0) sm = &srv->models[k];
        if (!sm) {
            sm = &srv->models[srv->n_models];
            memset(sm, 0, sizeof *sm);
            log_msg(LOG_INFO, "loading %s (%s, KV cache %s, kv_budget_bytes %lld%s)", spec->dir, cfg->dtype,
                    cfg->kv_cache_dtype, cfg->kv_budget_bytes, cfg->kv_budget_bytes ? "" : ": unlimited");
            if (model_load(spec->dir, &o, &sm->model, err) < 0) {
                if (!bundled || err->code != TF_EUNSUPPORTED) return err->code;
                log_msg(LOG_WARN, "bundled model skipped: %s", err->msg);
                *err = (tf_err){0};
                continue;
            }
            sm->info = model_info(sm->model);
            if (!(sm->dir = strdup(spec->dir))) return err_set(err, TF_ENOMEM, "out of memory");
            srv->n_models++;
        }
        if (bundled && !(sm->info->tasks & spec->task)) {
            log_msg(LOG_WARN, "bundled model %s cannot do task '%s' in this build: skipped", spec->dir,
                    spec->task_name);
            continue;
        }
        if (!(sm->info->tasks & spec->task))
            return err_set(err, TF_EUNSUPPORTED, "model in %s (%s) cannot do task '%s'", spec->dir,
                           sm->info->architecture, spec->task_name);
        sm->tasks |= spec->task;
    }
    return 0;
}

static void publish_model_metrics(tf_server *srv) {
    for (int i = 0; i < srv->n_models; i++) {
        const tf_served_model *m = &srv->models[i];
        char name[128], fam[64], l[512];
        met_escape(m->info->name, name, sizeof name);
        met_escape(m->info->family, fam, sizeof fam);
        for (unsigned b = 0; b < 4; b++) {
            if (!(m->tasks & (1u << b))) continue;
            snprintf(l, sizeof l, "task=\"%s\",model=\"%s\",family=\"%s\",dtype=\"%s\"", cfg_task_name(1u << b), name,
                     fam, m->info->dtype);
            met_set(srv->met, MET_MODEL_INFO, l, 1);
        }
        snprintf(l, sizeof l, "model=\"%s\"", name);
        met_set(srv->met, MET_MODEL_PARAMS, l, (double)m->info->n_params);
        met_set(srv->met, MET_MODEL_WEIGHT_BYTES, l, (double)m->info->weight_bytes);
    }
}

int serve_main(int argc, char **argv) {
    tf_config cfg;
    char msg[512];
    int rc = cfg_load(&cfg, argc, argv, environ, msg, sizeof msg);
    if (rc != 0) {
        if (rc < 0) fprintf(stderr, "transformerd serve: %s\n", msg);
        cfg_close(&cfg);
        return rc < 0 ? 2 : 0;
    }
    if (log_open(cfg.log_file, log_level_parse(cfg.log_level)) < 0) {
        fprintf(stderr, "transformerd serve: cannot open log file %s\n", cfg.log_file);
        cfg_close(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that leaves mid-write must not kill the daemon */

    serve_ctx c;
    memset(&c, 0, sizeof c);
    tf_server *srv = &c.srv;
    srv->cfg = &cfg;
    srv->seed_state = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    uv_loop_t loop;
    uv_loop_init(&loop);
    srv->loop = &loop;
    tf_err err = {0};
    int exit_code = 1;
    if (met_new(&srv->met) < 0) goto out;
    int bundled = 0;
    if (cfg.n_models == 0) {
        char root[4096], bmsg[256];
        bundled = bundled_models(&cfg, root, sizeof root, bmsg, sizeof bmsg);
        if (bundled < 0) {
            log_msg(LOG_ERROR, "%s", bmsg);
            goto out;
        }
        if (bundled > 0) log_msg(LOG_INFO, "no --model given: serving the bundled models in %s", root);
        else log_msg(LOG_WARN, "no --model given and no bundled models found: model routes will answer 404");
    }
    if (load_models(srv, &cfg, bundled > 0, &err) < 0) {
        log_msg(LOG_ERROR, "%s", err.msg);
        goto out;
    }
    tf_sched_opts so = {.max_batch = cfg.max_batch,
                        .max_batched_tokens = cfg.max_batched_tokens,
                        .prefill_chunk = cfg.prefill_chunk,
                        .max_queue = cfg.max_queue,
                        .max_queue_wait_ms = cfg.max_queue_wait_ms,
                        .request_timeout_ms = cfg.request_timeout_ms};
    for (int i = 0; i < srv->n_models; i++)
        if (sched_new(&loop, srv->models[i].model, &so, srv->met, &srv->models[i].sched, &err) < 0) {
            log_msg(LOG_ERROR, "%s", err.msg);
            goto out;
        }
    tf_attnmon_opts ao;
    attnmon_opts_default(&ao);
    ao.entropy_floor = cfg.attn_entropy_floor;
    ao.entropy_ceiling = cfg.attn_entropy_ceiling;
    ao.sink_max = cfg.attn_sink_max;
    ao.coverage_weight = cfg.attn_coverage_weight;
    ao.coverage_min = cfg.attn_coverage_min;
    ao.repeat_max = cfg.attn_repeat_max;
    ao.z = cfg.attn_z;
    ao.window = cfg.attn_window;
    ao.warmup = cfg.attn_warmup;
    for (int i = 0; i < srv->n_models; i++)
        if (attnmon_new(&ao, srv->models[i].info->name, srv->met, &srv->models[i].attnmon, &err) < 0 ||
            ((srv->models[i].info->tasks & TF_TASK_TRANSLATE) && (srv->models[i].info->tasks & TF_TASK_SUMMARIZE) &&
             attnmon_new(&ao, srv->models[i].info->name, srv->met, &srv->models[i].attnmon_summarize, &err) < 0)) {
            log_msg(LOG_ERROR, "%s", err.msg);
            goto out;
        }
    tf_cbatch_opts bo = {.max_batch = cfg.sentiment_max_batch,
                         .max_wait_ms = cfg.sentiment_max_wait_ms,
                         .max_queue_wait_ms = cfg.max_queue_wait_ms,
                         .request_timeout_ms = cfg.request_timeout_ms,
                         .max_queue = cfg.max_queue + cfg.max_batch};
    for (int i = 0; i < srv->n_models; i++)
        if ((srv->models[i].tasks & TF_TASK_SENTIMENT) &&
            cbatch_new(&loop, srv->models[i].model, &bo, srv->met, &srv->models[i].cbatch, &err) < 0) {
            log_msg(LOG_ERROR, "%s", err.msg);
            goto out;
        }
    publish_model_metrics(srv);
    if (http_start(srv, &srv->http, &err) < 0) {
        log_msg(LOG_ERROR, "%s", err.msg);
        goto out;
    }
    uv_signal_init(&loop, &c.sig_term);
    uv_signal_init(&loop, &c.sig_int);
    uv_signal_init(&loop, &c.sig_hup);
    c.sig_term.data = c.sig_int.data = c.sig_hup.data = &c;
    uv_signal_start(&c.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&c.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&c.sig_hup, on_hup, SIGHUP);
    uv_timer_init(&loop, &c.drain_timer);
    c.drain_timer.data = &c;
    srv->ready = 1;
    met_set(srv->met, MET_READY, NULL, 1);
    log_msg(LOG_INFO, "listening on %s port %d (%d model%s, max_batch %d)", cfg.listen, http_port(srv->http),
            srv->n_models, srv->n_models == 1 ? "" : "s", cfg.max_batch);
    uv_run(&loop, UV_RUN_DEFAULT);
    exit_code = 0;
out:
    if (!c.stopping && srv->http) stop_all(&c); /* only reached on a start-up error path */
    for (int i = 0; i < srv->n_models; i++) {
        sched_close(srv->models[i].sched);
        cbatch_close(srv->models[i].cbatch);
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* run the close callbacks */
    for (int i = 0; i < srv->n_models; i++) {
        sched_free(srv->models[i].sched);
        cbatch_free(srv->models[i].cbatch);
        model_free(srv->models[i].model);
        attnmon_free(srv->models[i].attnmon);
        attnmon_free(srv->models[i].attnmon_summarize);
        free(srv->models[i].dir);
    }
    http_free(srv->http);
    met_free(srv->met);
    if (uv_loop_close(&loop) != 0) log_msg(LOG_WARN, "loop closed with handles open");
    log_msg(LOG_INFO, "exit %d", exit_code);
    log_close();
    cfg_close(&cfg);
    return exit_code;
}
