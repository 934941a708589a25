/* routes_admin.c: the route table, and the routes that need no model step:
 * GET /health /ready /v1/models /metrics, and the task routes whose model
 * family has not landed yet (they answer 404 "no model loaded"). */
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

const tf_route routes[] = {
    {"/health", "GET", route_health},
    {"/ready", "GET", route_ready},
    {"/metrics", "GET", route_metrics},
    {"/v1/models", "GET", route_models},
    {"/v1/generate", "POST", route_generate},
    {"/v1/completions", "POST", route_completions},
    {"/v1/translate", "POST", route_translate},
    {"/v1/summarize", "POST", route_summarize},
    {"/v1/sentiment", "POST", route_sentiment},
    {"/ui/attention", "GET", route_ui_attention},
};
const int n_routes = sizeof routes / sizeof routes[0];

tf_served_model *server_model_for(tf_server *srv, unsigned task) {
    for (int i = 0; i < srv->n_models; i++)
        if (srv->models[i].tasks & task) return &srv->models[i];
    return NULL;
}

void route_health(http_req *r) { http_reply_json(r, 200, json_pack("{s:s}", "status", "ok")); }

void route_ready(http_req *r) {
    tf_server *srv = http_server(r);
    if (srv->ready && !srv->draining) {
        http_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    tf_http_error e;
    if (srv->draining) herr_set(&e, HERR_DRAINING, "the server is shutting down");
    else herr_set(&e, HERR_NOT_READY, "models are still loading");
    http_reply_error(r, &e);
}

static const char *task_names[] = {"generate", "translate", "summarize", "sentiment"};

void route_models(http_req *r) {
    tf_server *srv = http_server(r);
    json_t *data = json_array();
    for (int i = 0; i < srv->n_models; i++) {
        const tf_served_model *m = &srv->models[i];
        json_t *tasks = json_array();
        const char *first = NULL;
        for (unsigned b = 0; b < 4; b++)
            if (m->tasks & (1u << b)) {
                json_array_append_new(tasks, json_string(task_names[b]));
                if (!first) first = task_names[b];
            }
        json_array_append_new(data,
                              json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:I}", "id", m->info->name,
                                        "object", "model", "owned_by", "transformerd", "task", first ? first : "",
                                        "tasks", tasks, "family", m->info->family, "architecture",
                                        m->info->architecture, "dtype", m->info->dtype, "kv_cache_dtype",
                                        m->info->kv_cache_dtype, "parameters",
                                        (json_int_t)m->info->n_params, "max_length", m->info->n_ctx, "vocab_size",
                                        m->info->vocab_size, "weight_bytes", (json_int_t)m->info->weight_bytes));
    }
    http_reply_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data", data));
}

void route_metrics(http_req *r) {
    tf_server *srv = http_server(r);
    met_set(srv->met, MET_READY, NULL, srv->ready && !srv->draining);
    char *text;
    size_t len;
    if (met_render(srv->met, &text, &len) < 0) {
        tf_http_error e;
        herr_set(&e, HERR_INTERNAL, "out of memory");
        http_reply_error(r, &e);
        return;
    }
    http_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

