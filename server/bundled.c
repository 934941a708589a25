/* bundled.c: default models for `transformerd serve`, so a fresh build answers every route.
 *
 * The directory is found from the executable's own path, not the working directory, so
 * `build/transformerd serve` and an installed /usr/local/bin/transformerd both find theirs
 * whatever directory they are started from.
 */
#include "server/bundled.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each shipped directory serves (models/README.md describes them). */
static const struct {
    const char *dir;
    const char *tasks[2];
} shipped[] = {
    {"gpt2-tinystories", {"generate", NULL}},
    {"t5-multi30k-scitldr", {"translate", "summarize"}},
    {"distilbert-sst2", {"sentiment", NULL}},
};

static int is_file(const char *dir, const char *name) {
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return 0;
    return access(p, R_OK) == 0;
}

static int find_root(char *root, size_t n) {
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return 0;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = 0;
    static const char *const rel[] = {"../models/bundled", "../share/transformerd/models"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char cand[PATH_MAX];
        if (snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]) >= (int)sizeof cand) continue;
        char real[PATH_MAX];
        if (!realpath(cand, real)) continue;
        for (size_t k = 0; k < sizeof shipped / sizeof shipped[0]; k++) {
            char d[PATH_MAX];
            if (snprintf(d, sizeof d, "%s/%s", real, shipped[k].dir) >= (int)sizeof d) continue;
            if (is_file(d, "config.json")) {
                snprintf(root, n, "%s", real);
                return 1;
            }
        }
    }
    return 0;
}

int bundled_models(tf_config *c, char *root, size_t root_len, char *msg, size_t msg_len) {
    root[0] = 0;
    if (!find_root(root, root_len)) return 0;
    int added = 0;
    for (size_t k = 0; k < sizeof shipped / sizeof shipped[0]; k++) {
        char d[PATH_MAX];
        if (snprintf(d, sizeof d, "%s/%s", root, shipped[k].dir) >= (int)sizeof d) continue;
        if (!is_file(d, "config.json") || !is_file(d, "model.safetensors")) continue;
        for (int t = 0; t < 2 && shipped[k].tasks[t]; t++) {
            if (c->n_models >= CFG_MAX_MODELS) break;
            tf_model_spec *s = &c->models[c->n_models];
            s->task = cfg_task_bit(shipped[k].tasks[t]);
            s->task_name = strdup(shipped[k].tasks[t]);
            s->dir = strdup(d);
            if (!s->task_name || !s->dir) {
                free(s->task_name);
                free(s->dir);
                snprintf(msg, msg_len, "out of memory");
                return -1;
            }
            c->n_models++;
            added++;
        }
    }
    return added;
}
