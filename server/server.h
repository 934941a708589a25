/* server.h: the state one `transformerd serve` process shares between modules.
 *
 * Built by serve.c at start-up; routes read it through http_server(req).
 * Thread-safety: loop thread only (read-only fields may be read anywhere).
 */
#ifndef TF_SERVER_SERVER_H
#define TF_SERVER_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "models/model.h"
#include "server/attnmon.h"
#include "server/config.h"
#include "server/metrics.h"
#include "server/cls_batch.h"
#include "server/scheduler.h"

typedef struct tf_http tf_http;

typedef struct tf_served_model {
    tf_model *model;            /* owned */
    const tf_model_info *info;  /* view into model */
    char *dir;                  /* owned */
    unsigned tasks;             /* tasks configured for this model (subset of info->tasks) */
    tf_sched *sched;            /* owned */
    tf_attnmon *attnmon;        /* owned: attention baseline of this model's requests */
    tf_attnmon *attnmon_summarize; /* owned: a second baseline for summarize requests when the
                                    * model also translates (abstracts and captions attend
                                    * differently; one baseline flagged ordinary ones), or NULL */
    tf_cbatch *cbatch;          /* owned; NULL unless tasks has TF_TASK_SENTIMENT */
} tf_served_model;

typedef struct tf_server {
    const tf_config *cfg;       /* borrowed */
    uv_loop_t *loop;            /* borrowed */
    tf_metrics *met;            /* owned */
    tf_http *http;              /* owned */
    int n_models;
    tf_served_model models[CFG_MAX_MODELS];
    int ready;                  /* models loaded, listening */
    int draining;               /* SIGTERM/SIGINT seen */
    uint64_t seed_state;        /* default seeds for requests that give none */
} tf_server;

/* The model serving task (a TF_TASK_* bit), or NULL. */
tf_served_model *server_model_for(tf_server *srv, unsigned task);

#endif
