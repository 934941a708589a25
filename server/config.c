/* config.c: the option table and its three sources.
 *
 * DESIGN: every option is one row of options[] (Redis static_configs style);
 * the row's offset into tf_config says where the value lands, so adding an
 * option is one line here plus one field. Sources are applied in increasing
 * precedence and each later source overwrites; for the repeatable `model`
 * option the first value from a higher source clears the list inherited from
 * lower ones, so `--model` on the command line replaces the file's models
 * instead of appending to them.
 */
#include "server/config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"

/* OPT_BYTES: a long long count of bytes; the value may end in K, M, G or T (powers of 1024). */
typedef enum { OPT_STR, OPT_INT, OPT_BOOL, OPT_MODEL, OPT_DOUBLE, OPT_BYTES } opt_type;

typedef struct cfg_option {
    const char *name; /* file key; flag is --name with '_' -> '-'; env TRANSFORMERD_NAME */
    opt_type type;
    size_t offset;
    const char *def;
    long min, max;        /* OPT_INT / OPT_DOUBLE / OPT_BYTES bounds */
    const char *choices;  /* OPT_STR: '|'-separated allowed values, or NULL */
    const char *unit;
    const char *help;
} cfg_option;

#define OFF(f) offsetof(tf_config, f)
static const cfg_option options[] = {
    {"listen", OPT_STR, OFF(listen), "127.0.0.1:8080", 0, 0, NULL, NULL,
     "address to listen on, HOST:PORT (IPv4 or [IPv6])"},
    {"model", OPT_MODEL, 0, NULL, 0, 0, NULL, NULL,
     "TASK=DIR, repeatable; TASK is generate, translate, summarize or sentiment"},
    {"dtype", OPT_STR, OFF(dtype), "int8", 0, 0, "int8|fp32", NULL, "weight type of loaded models"},
    {"kv_cache_dtype", OPT_STR, OFF(kv_cache_dtype), "auto", 0, 0, "auto|f16|f32", NULL,
     "KV cache element type of generating models; auto = f16 with int8 weights, f32 with fp32"},
    {"config", OPT_STR, OFF(config_file), "", 0, 0, NULL, NULL, "configuration file (key = value lines)"},
    {"api_key_file", OPT_STR, OFF(api_key_file), "", 0, 0, NULL, NULL,
     "file with one API key per line; empty = no authentication"},
    {"open_routes", OPT_STR, OFF(open_routes), "/health,/ready,/metrics,/ui/attention", 0, 0, NULL, NULL,
     "comma-separated routes that need no API key"},
    {"log_file", OPT_STR, OFF(log_file), "", 0, 0, NULL, NULL,
     "log file, reopened on SIGHUP; empty = stderr"},
    {"log_level", OPT_STR, OFF(log_level), "info", 0, 0, "error|warn|info|debug", NULL, "log verbosity"},
    {"access_log", OPT_BOOL, OFF(access_log), "1", 0, 1, NULL, NULL, "one log line per request"},
    {"threads", OPT_INT, OFF(threads), "0", 0, 256, NULL, "threads", "compute threads per model; 0 = all CPUs"},
    {"max_batch", OPT_INT, OFF(max_batch), "16", 1, 256, NULL, "sequences",
     "sequences advanced together by one model step"},
    {"max_batched_tokens", OPT_INT, OFF(max_batched_tokens), "512", 1, 65536, NULL, "tokens",
     "tokens fed through the model by one step (decode + prefill chunks)"},
    {"prefill_chunk", OPT_INT, OFF(prefill_chunk), "256", 1, 65536, NULL, "tokens",
     "prompt tokens one sequence feeds per step"},
    {"max_queue", OPT_INT, OFF(max_queue), "256", 0, 1000000, NULL, "requests",
     "requests waiting for a batch slot before 429"},
    {"max_queue_wait_ms", OPT_INT, OFF(max_queue_wait_ms), "30000", 1, 3600000, NULL, "ms",
     "longest wait for a batch slot before 503"},
    {"sentiment_max_batch", OPT_INT, OFF(sentiment_max_batch), "32", 1, 1024, NULL, "texts",
     "texts classified together by one model call (/v1/sentiment dynamic batching)"},
    {"sentiment_max_wait_ms", OPT_INT, OFF(sentiment_max_wait_ms), "5", 0, 10000, NULL, "ms",
     "longest a text waits for more texts to fill its batch"},
    {"sentiment_max_texts", OPT_INT, OFF(sentiment_max_texts), "64", 1, 100000, NULL, "texts",
     "texts one /v1/sentiment request may carry before 413"},
    {"max_body_bytes", OPT_INT, OFF(max_body_bytes), "1048576", 64, 1073741824, NULL, "bytes",
     "largest request body before 413"},
    /* Per model, not global: each model has its own scheduler, queue and metrics, and a
     * global pool would let one model's long requests starve another's (a model that
     * cannot get budget cannot serve at all); the daemon's KV memory is at most the sum.
     * 1 GiB: a fixed default keeps behaviour the same on every host (a share of RAM would
     * admit a request on one machine and refuse it on the next). It refuses what the
     * robustness audit sent (16 texts x 32 beams x 1024 new tokens on the bundled T5: 3.2 GB
     * with an fp32 cache, 1.6 GB with fp16) whatever the cache type, yet runs 5 (fp32) or
     * 10 (fp16) such 200 / 100 MB texts at once, and max_batch (16) GPT-2-small sequences
     * at 1024 positions take 0.6 GB with fp16 (1.2 GB with fp32: a few then wait). */
    {"kv_budget_bytes", OPT_BYTES, OFF(kv_budget_bytes), "1073741824", 0, 1125899906842624L, NULL, "bytes",
     "KV cache memory the live sequences of one model may reserve together (suffix K, M, G or T "
     "allowed; 0 = unlimited); a request that could never fit is 422, one that does not fit now waits"},
    {"max_new_tokens", OPT_INT, OFF(max_new_tokens), "1024", 1, 1000000, NULL, "tokens",
     "largest max_new_tokens / max_tokens a request may ask for"},
    {"attn_full_max_weights", OPT_INT, OFF(attn_full_max_weights), "250000", 1, 100000000, NULL, "weights",
     "return_attention \"full\": most attention weights one request may hold (layers x heads x rows x keys; "
     "beam search: every beam's rows)"},
    {"max_connections", OPT_INT, OFF(max_connections), "1024", 1, 100000, NULL, "connections",
     "simultaneous HTTP connections"},
    {"request_timeout_ms", OPT_INT, OFF(request_timeout_ms), "600000", 0, 86400000, NULL, "ms",
     "deadline for one request from arrival; 0 = none"},
    {"drain_timeout_ms", OPT_INT, OFF(drain_timeout_ms), "30000", 0, 3600000, NULL, "ms",
     "on SIGTERM/SIGINT, time in-flight requests get to finish"},
    /* Attention monitoring (server/attnmon.c; README "Attention monitoring"). */
    {"attn_monitor", OPT_BOOL, OFF(attn_monitor), "1", 0, 1, NULL, NULL,
     "collect attention statistics for every request and judge them (flags, metrics, baseline); "
     "off: only for requests that ask with return_attention, and never judged"},
    {"attn_entropy_floor", OPT_DOUBLE, OFF(attn_entropy_floor), "0.01", 0, 1, NULL, "",
     "collapsed: a request's mean normalized attention entropy below this"},
    {"attn_entropy_ceiling", OPT_DOUBLE, OFF(attn_entropy_ceiling), "0.995", 0, 1, NULL, "",
     "diffuse: a request's mean normalized attention entropy above this"},
    {"attn_sink_max", OPT_DOUBLE, OFF(attn_sink_max), "0.95", 0, 1, NULL, "",
     "sink_dominated: a request's mean attention share on position 0 above this"},
    {"attn_coverage_weight", OPT_DOUBLE, OFF(attn_coverage_weight), "0.1", 0, 1000, NULL, "",
     "low_source_coverage: a source token is read by a layer when its mean weight reaches this fraction of 1/n_src"},
    {"attn_coverage_min", OPT_DOUBLE, OFF(attn_coverage_min), "0.25", 0, 1, NULL, "",
     "low_source_coverage: the best cross-attention layer reads less of the source than this share"},
    {"attn_repeat_max", OPT_DOUBLE, OFF(attn_repeat_max), "0.9", 0, 1, NULL, "",
     "repeated_focus: share of decoder steps focusing the previous step's source token above this"},
    {"attn_z", OPT_DOUBLE, OFF(attn_z), "4", 0, 1000, NULL, "std devs",
     "any kind: one layer's mean this many baseline standard deviations off"},
    {"attn_window", OPT_INT, OFF(attn_window), "200", 1, 1000000, NULL, "requests",
     "attention baseline: exponentially weighted over about this many requests"},
    {"attn_warmup", OPT_INT, OFF(attn_warmup), "20", 0, 1000000, NULL, "requests",
     "attention baseline: requests learned before deviations are judged"},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

static const struct {
    const char *name;
    unsigned bit;
} tasks[] = {
    {"generate", TF_TASK_GENERATE},
    {"translate", TF_TASK_TRANSLATE},
    {"summarize", TF_TASK_SUMMARIZE},
    {"sentiment", TF_TASK_SENTIMENT},
};

unsigned cfg_task_bit(const char *name) {
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (strcmp(name, tasks[i].name) == 0) return tasks[i].bit;
    return 0;
}

const char *cfg_task_name(unsigned bit) {
    for (size_t i = 0; i < sizeof tasks / sizeof tasks[0]; i++)
        if (tasks[i].bit == bit) return tasks[i].name;
    return "unknown";
}

/* Applying values -------------------------------------------------------------------- */

typedef struct cfg_state {
    int model_level; /* source level that last wrote the model list */
} cfg_state;

static int set_model(tf_config *c, cfg_state *st, int level, const char *val, char *msg, size_t n) {
    if (st->model_level != level) {
        for (int i = 0; i < c->n_models; i++) {
            free(c->models[i].task_name);
            free(c->models[i].dir);
        }
        c->n_models = 0;
        st->model_level = level;
    }
    const char *eq = strchr(val, '=');
    if (!eq || eq == val || eq[1] == 0) {
        snprintf(msg, n, "model: expected TASK=DIR, got '%s'", val);
        return -1;
    }
    char task[32];
    size_t tl = (size_t)(eq - val);
    if (tl >= sizeof task) tl = sizeof task - 1;
    memcpy(task, val, tl);
    task[tl] = 0;
    unsigned bit = cfg_task_bit(task);
    if (!bit) {
        snprintf(msg, n, "model: unknown task '%s' (expected generate, translate, summarize or sentiment)",
                 task);
        return -1;
    }
    for (int i = 0; i < c->n_models; i++)
        if (c->models[i].task == bit) {
            snprintf(msg, n, "model: task '%s' given twice", task);
            return -1;
        }
    if (c->n_models >= CFG_MAX_MODELS) {
        snprintf(msg, n, "model: at most %d models", CFG_MAX_MODELS);
        return -1;
    }
    tf_model_spec *m = &c->models[c->n_models];
    m->task = bit;
    m->task_name = strdup(task);
    m->dir = strdup(eq + 1);
    if (!m->task_name || !m->dir) {
        free(m->task_name);
        free(m->dir);
        snprintf(msg, n, "out of memory");
        return -1;
    }
    c->n_models++;
    return 0;
}

static int choice_ok(const char *choices, const char *val) {
    size_t vl = strlen(val);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, val, l) == 0) return 1;
        p += l + (bar ? 1 : 0);
    }
    return 0;
}

static int set_option(tf_config *c, cfg_state *st, int level, const cfg_option *o, const char *val,
                      char *msg, size_t n) {
    char *field = (char *)c + o->offset;
    switch (o->type) {
    case OPT_MODEL:
        return set_model(c, st, level, val, msg, n);
    case OPT_STR: {
        if (o->choices && !choice_ok(o->choices, val)) {
            snprintf(msg, n, "%s: '%s' is not one of %s", o->name, val, o->choices);
            return -1;
        }
        char *dup = strdup(val);
        if (!dup) {
            snprintf(msg, n, "out of memory");
            return -1;
        }
        free(*(char **)field);
        *(char **)field = dup;
        return 0;
    }
    case OPT_BOOL: {
        int b;
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") || !strcmp(val, "on"))
            b = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") || !strcmp(val, "off"))
            b = 0;
        else {
            snprintf(msg, n, "%s: expected a boolean (true/false), got '%s'", o->name, val);
            return -1;
        }
        *(int *)field = b;
        return 0;
    }
    case OPT_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno || end == val || *end != 0) {
            snprintf(msg, n, "%s: expected an integer, got '%s'", o->name, val);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(msg, n, "%s must be between %ld and %ld, got %ld", o->name, o->min, o->max, v);
            return -1;
        }
        *(int *)field = (int)v;
        return 0;
    }
    case OPT_BYTES: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        int shift = 0;
        if (*end && !end[1] && end != val) {
            const char *units = "KMGT", *u = strchr(units, toupper((unsigned char)*end));
            if (u && *u) shift = 10 * (int)(u - units + 1), end++;
        }
        if (errno || end == val || *end != 0) {
            snprintf(msg, n, "%s: expected a byte count (an integer, optionally ending in K, M, G or T), got '%s'",
                     o->name, val);
            return -1;
        }
        if (v < o->min || v > (o->max >> shift)) {
            snprintf(msg, n, "%s must be between %ld and %ld bytes, got %s", o->name, o->min, o->max, val);
            return -1;
        }
        *(long long *)field = v << shift;
        return 0;
    }
    case OPT_DOUBLE: {
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end != 0 || v != v) {
            snprintf(msg, n, "%s: expected a number, got '%s'", o->name, val);
            return -1;
        }
        if (v < (double)o->min || v > (double)o->max) {
            snprintf(msg, n, "%s must be between %ld and %ld, got %s", o->name, o->min, o->max, val);
            return -1;
        }
        *(double *)field = v;
        return 0;
    }
    }
    return -1;
}

static const cfg_option *find_option(const char *name, size_t len) {
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *on = options[i].name;
        if (strlen(on) != len) continue;
        size_t k = 0;
        for (; k < len; k++) {
            char a = name[k] == '-' ? '_' : name[k];
            if (a != on[k]) break;
        }
        if (k == len) return &options[i];
    }
    return NULL;
}

/* Sources ----------------------------------------------------------------------------- */

enum { LEVEL_DEFAULT, LEVEL_FILE, LEVEL_ENV, LEVEL_FLAG };

static char *trim(char *s) {
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = 0;
    return s;
}

static int load_file(tf_config *c, cfg_state *st, const char *path, char *msg, size_t n) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, n, "config: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = trim(line);
        if (*s == 0 || *s == '#' || *s == ';') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(msg, n, "%s:%d: expected 'name = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        size_t vl = strlen(val);
        if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
            val[vl - 1] = 0;
            val++;
        }
        const cfg_option *o = find_option(key, strlen(key));
        if (!o || (o->offset == OFF(config_file) && o->type == OPT_STR)) {
            snprintf(msg, n, "%s:%d: unknown option '%s'", path, lineno, key);
            rc = -1;
            break;
        }
        char sub[256];
        if (set_option(c, st, LEVEL_FILE, o, val, sub, sizeof sub) < 0) {
            snprintf(msg, n, "%s:%d: %s", path, lineno, sub);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

static int load_env(tf_config *c, cfg_state *st, char **env, char *msg, size_t n) {
    static const char prefix[] = "TRANSFORMERD_";
    for (char **e = env; e && *e; e++) {
        if (strncmp(*e, prefix, sizeof prefix - 1) != 0) continue;
        const char *name = *e + sizeof prefix - 1;
        const char *eq = strchr(name, '=');
        if (!eq) continue;
        char lower[64];
        size_t l = (size_t)(eq - name);
        if (l >= sizeof lower) continue;
        for (size_t i = 0; i < l; i++) lower[i] = (char)tolower((unsigned char)name[i]);
        const cfg_option *o = find_option(lower, l);
        if (!o) continue; /* other TRANSFORMERD_* variables belong to other subcommands */
        if (o->type == OPT_MODEL) {
            /* Several models in one variable: comma-separated TASK=DIR list. */
            char *list = strdup(eq + 1), *save = NULL;
            if (!list) return snprintf(msg, n, "out of memory"), -1;
            int rc = 0;
            for (char *tok = strtok_r(list, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save))
                rc = set_option(c, st, LEVEL_ENV, o, trim(tok), msg, n);
            free(list);
            if (rc < 0) return -1;
        } else if (set_option(c, st, LEVEL_ENV, o, eq + 1, msg, n) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Finds --config in argv before anything else so the file can be applied first. */
static const char *argv_config(int argc, char **argv) {
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) path = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9)) path = argv[i] + 9;
    }
    return path;
}

static int load_flags(tf_config *c, cfg_state *st, int argc, char **argv, char *msg, size_t n) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(msg, n, "unexpected argument '%s' (see --help)", a);
            return -1;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        const cfg_option *o = find_option(name, nl);
        if (!o) {
            snprintf(msg, n, "unknown option '%.*s' (see --help)", (int)(nl + 2), a);
            return -1;
        }
        const char *val;
        if (eq) val = eq + 1;
        else if (o->type == OPT_BOOL && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            val = "1";
        else if (i + 1 < argc) val = argv[++i];
        else {
            snprintf(msg, n, "option '%s' needs a value", a);
            return -1;
        }
        if (set_option(c, st, LEVEL_FLAG, o, val, msg, n) < 0) return -1;
    }
    return 0;
}

int cfg_load(tf_config *c, int argc, char **argv, char **env, char *msg, size_t msg_len) {
    memset(c, 0, sizeof *c);
    cfg_state st = {.model_level = LEVEL_DEFAULT};
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].def && set_option(c, &st, LEVEL_DEFAULT, &options[i], options[i].def, msg, msg_len) < 0)
            return -1;
    for (int i = 0; i < argc; i++)
    {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cfg_write_help(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--print-config-example")) {
            cfg_write_example(stdout);
            return 1;
        }
    }
    const char *file = argv_config(argc, argv);
    if (file && load_file(c, &st, file, msg, msg_len) < 0) return -1;
    if (load_env(c, &st, env, msg, msg_len) < 0) return -1;
    if (load_flags(c, &st, argc, argv, msg, msg_len) < 0) return -1;
    if (c->prefill_chunk > c->max_batched_tokens) c->prefill_chunk = c->max_batched_tokens;
    return 0;
}

void cfg_close(tf_config *c) {
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == OPT_STR) {
            char **p = (char **)((char *)c + options[i].offset);
            free(*p);
            *p = NULL;
        }
    for (int i = 0; i < c->n_models; i++) {
        free(c->models[i].task_name);
        free(c->models[i].dir);
    }
    c->n_models = 0;
}

/* Generated text ------------------------------------------------------------------------ */

static void flag_name(const char *name, char *out, size_t n) {
    size_t i = 0;
    for (; name[i] && i + 1 < n; i++) out[i] = name[i] == '_' ? '-' : name[i];
    out[i] = 0;
}

void cfg_write_help(FILE *f) {
    fputs("usage: transformerd serve [--listen HOST:PORT] [--model TASK=DIR]... [--dtype int8|fp32]\n"
          "                          [--config FILE] [--api-key-file FILE] [--OPTION VALUE]...\n\n"
          "Options (also `name = value` in the config file, or TRANSFORMERD_NAME in the environment;\n"
          "flags override the environment, which overrides the file;\n"
          "--print-config-example writes deploy/transformerd.conf.example):\n",
          f);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option *o = &options[i];
        char fl[64];
        flag_name(o->name, fl, sizeof fl);
        fprintf(f, "  --%-22s %s", fl, o->help);
        if (o->type == OPT_INT || o->type == OPT_DOUBLE || o->type == OPT_BYTES)
            fprintf(f, " [%ld..%ld%s%s]", o->min, o->max, o->unit && *o->unit ? " " : "", o->unit ? o->unit : "");
        if (o->def && *o->def) fprintf(f, " (default %s)", o->def);
        fputc('\n', f);
    }
}

void cfg_write_example(FILE *f) {
    fputs("# transformerd.conf: `name = value`, one per line; '#' starts a comment.\n"
          "# Every option can also be given as --name (dashes or underscores) or as\n"
          "# TRANSFORMERD_NAME in the environment. Generated from server/config.c.\n\n",
          f);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const cfg_option *o = &options[i];
        if (o->offset == OFF(config_file) && o->type == OPT_STR) continue;
        fprintf(f, "# %s", o->help);
        if (o->type == OPT_INT || o->type == OPT_DOUBLE || o->type == OPT_BYTES)
            fprintf(f, " [%ld..%ld%s%s]", o->min, o->max, o->unit && *o->unit ? " " : "", o->unit ? o->unit : "");
        fputc('\n', f);
        if (o->type == OPT_MODEL) fprintf(f, "model = generate=/usr/local/share/transformerd/models/gpt2\n\n");
        else fprintf(f, "#%s = %s\n\n", o->name, o->def ? o->def : "");
    }
}
