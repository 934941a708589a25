#include "server/cli_args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_usage(FILE *f, const char *cmd, const char *summary, const cli_opt *opts, int n_opts) {
    fprintf(f, "usage: transformerd %s [flags]\n%s\n\nflags:\n", cmd, summary);
    for (int i = 0; i < n_opts; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].arg ? " " : "",
                 opts[i].arg ? opts[i].arg : "");
        fprintf(f, "  %-28s %s%s\n", left, opts[i].help, opts[i].required ? " (required)" : "");
    }
    fprintf(f, "  %-28s %s\n", "--help", "show this help");
}

static int parse_value(const char *cmd, const cli_opt *o, const char *v) {
    char *end;
    errno = 0;
    switch (o->type) {
    case CLI_STR:
        *(const char **)o->dst = v;
        return 0;
    case CLI_STR_LIST: {
        cli_list *l = o->dst;
        if (l->n == l->cap) {
            int cap = l->cap ? 2 * l->cap : 4;
            const char **items = realloc(l->items, sizeof(char *) * (size_t)cap);
            if (!items) return -1;
            l->items = items;
            l->cap = cap;
        }
        l->items[l->n++] = v;
        return 0;
    }
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < o->min || x > o->max) break;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case CLI_U64: {
        if (*v == '-') break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) break;
        *(uint64_t *)o->dst = x;
        return 0;
    }
    case CLI_FLOAT: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !(x >= o->min && x <= o->max)) break;
        *(float *)o->dst = (float)x;
        return 0;
    }
    case CLI_FLAG:
        break;
    }
    if (o->type == CLI_U64)
        fprintf(stderr, "transformerd %s: --%s must be a non-negative integer, got \"%s\"\n", cmd,
                o->name, v);
    else
        fprintf(stderr, "transformerd %s: --%s must be a number between %g and %g, got \"%s\"\n",
                cmd, o->name, o->min, o->max, v);
    return -1;
}

int cli_parse(const char *cmd, const cli_opt *opts, int n_opts, int argc, char **argv) {
    int *seen = calloc((size_t)n_opts, sizeof(int));
    if (!seen) return -1;
    int rc = 0;
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            rc = 1;
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "transformerd %s: unexpected argument \"%s\" (see --help)\n", cmd, a);
            rc = -1;
            break;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == name_len && strncmp(opts[k].name, name, name_len) == 0) {
                o = &opts[k];
                seen[k] = 1;
            }
        if (!o) {
            fprintf(stderr, "transformerd %s: unknown flag \"--%.*s\" (see --help)\n", cmd,
                    (int)name_len, name);
            rc = -1;
            break;
        }
        if (o->type == CLI_FLAG) {
            if (eq) {
                fprintf(stderr, "transformerd %s: --%s takes no value\n", cmd, o->name);
                rc = -1;
                break;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "transformerd %s: --%s needs a value\n", cmd, o->name);
            rc = -1;
            break;
        }
        if (parse_value(cmd, o, v) < 0) rc = -1;
    }
    for (int k = 0; k < n_opts && rc == 0; k++)
        if (opts[k].required && !seen[k]) {
            fprintf(stderr, "transformerd %s: --%s is required (see --help)\n", cmd, opts[k].name);
            rc = -1;
        }
    free(seen);
    return rc;
}
