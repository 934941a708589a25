/* routes.h: the route table and its handlers (routes_*.c). */
#ifndef TF_SERVER_ROUTES_H
#define TF_SERVER_ROUTES_H

#include "server/http.h"

typedef void (*tf_route_fn)(http_req *r);

typedef struct tf_route {
    const char *path;
    const char *method; /* GET routes also answer HEAD */
    tf_route_fn fn;
} tf_route;

extern const tf_route routes[];
extern const int n_routes;

void route_health(http_req *r);
void route_ready(http_req *r);
void route_models(http_req *r);
void route_metrics(http_req *r);
void route_generate(http_req *r);
void route_completions(http_req *r);
void route_translate(http_req *r);
void route_summarize(http_req *r);
void route_sentiment(http_req *r);
void route_ui_attention(http_req *r);

#endif
