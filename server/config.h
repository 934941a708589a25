/* config.h: serve-time configuration (module prefix cfg_).
 *
 * One table (config.c: options[]) declares every option with its type,
 * default, bounds and help; flags, the config file, the environment, --help
 * and deploy/transformerd.conf.example all come from it. Precedence, lowest
 * first: defaults, --config FILE, TRANSFORMERD_<NAME> environment variables,
 * command-line flags.
 *
 *     tf_config c;  char msg[256];
 *     if (cfg_load(&c, argc, argv, environ, msg, sizeof msg) < 0) { fputs(msg, stderr); ... }
 *     ... c.max_batch ...
 *     cfg_close(&c);
 *
 * Thread-safety: read-only after cfg_load; owned by serve_main.
 */
#ifndef TF_SERVER_CONFIG_H
#define TF_SERVER_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CFG_MAX_MODELS 8

typedef struct tf_model_spec {
    unsigned task;   /* one TF_TASK_* bit */
    char *task_name; /* owned: "generate", ... */
    char *dir;       /* owned */
} tf_model_spec;

typedef struct tf_config {
    char *listen;        /* owned: HOST:PORT */
    char *dtype;         /* owned: "int8" | "fp32" */
    char *kv_cache_dtype; /* owned: "auto" | "f16" | "f32" */
    char *config_file;   /* owned; "" if none */
    char *api_key_file;  /* owned; "" = no authentication */
    char *open_routes;   /* owned: comma-separated paths that need no API key */
    char *log_file;      /* owned; "" = stderr */
    char *log_level;     /* owned: "error" | "warn" | "info" | "debug" */
    int threads;         /* compute threads per model; 0 = all CPUs */
    int max_batch;       /* sequences advanced by one step */
    int max_batched_tokens; /* tokens fed through the model by one step */
    int prefill_chunk;   /* prompt tokens one sequence may feed per step */
    int max_queue;       /* requests waiting for a batch slot */
    int max_queue_wait_ms;
    int sentiment_max_batch;   /* texts per classify call */
    int sentiment_max_wait_ms; /* longest a text waits for its batch to fill */
    int sentiment_max_texts;   /* texts one /v1/sentiment request may carry */
    int max_body_bytes;
    int max_new_tokens;  /* upper bound a request may ask for */
    long long kv_budget_bytes; /* KV cache bytes per model; 0 = unlimited */
    int attn_full_max_weights; /* return_attention "full": most weights one answer may carry */
    int max_connections;
    int request_timeout_ms; /* whole-request deadline, 0 = none */
    int drain_timeout_ms;
    int access_log;      /* bool */
    /* Attention monitoring thresholds (server/attnmon.h explains the kinds). */
    int attn_monitor; /* 0: statistics only on request, no flags, metrics or baseline */
    double attn_entropy_floor;
    double attn_entropy_ceiling;
    double attn_sink_max;
    double attn_coverage_weight; /* encoder-decoder kinds */
    double attn_coverage_min;
    double attn_repeat_max;
    double attn_z;
    int attn_window;
    int attn_warmup;
    int n_models;
    tf_model_spec models[CFG_MAX_MODELS];
} tf_config;

/* Fills c from defaults, file, env (NULL-terminated "K=V" array, may be NULL) and the
 * argc flags in argv (no program or subcommand name: what follows `serve`). Returns 0,
 * 1 if --help or --print-config-example was asked (already printed to stdout), or -1
 * with msg filled. cfg_close must be called
 * in every case. */
int cfg_load(tf_config *c, int argc, char **argv, char **env, char *msg, size_t msg_len);
void cfg_close(tf_config *c);

/* "generate" -> TF_TASK_GENERATE; 0 if unknown. */
unsigned cfg_task_bit(const char *name);
const char *cfg_task_name(unsigned bit);

/* Writes the option reference (--help) or an example config file. */
void cfg_write_help(FILE *f);
void cfg_write_example(FILE *f);

#endif
