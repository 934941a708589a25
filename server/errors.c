/* errors.c: the error table and its JSON rendering. */
#include "server/errors.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/utf8.h"

static const struct {
    int status;
    const char *type;
} rows[HERR_COUNT] = {
#define HERR_ROW(name, status, type) [HERR_##name] = {status, type},
    HERR_MAP(HERR_ROW)
#undef HERR_ROW
};

int herr_set(tf_http_error *e, tf_herr_kind kind, const char *fmt, ...) {
    if (!e) return -1;
    e->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int herr_status(tf_herr_kind kind) { return (unsigned)kind < HERR_COUNT ? rows[kind].status : 500; }

const char *herr_type(tf_herr_kind kind) {
    return (unsigned)kind < HERR_COUNT ? rows[kind].type : "internal_error";
}

json_t *herr_json(const tf_http_error *e) {
    /* Messages may quote client bytes that are not UTF-8 (an unescaped path, a name cut at
     * a byte bound by %.64s): jansson refuses those, so the message is repaired, never lost. */
    size_t len;
    char *msg = utf8_repair(e->msg, strnlen(e->msg, sizeof e->msg), &len);
    json_t *o = json_pack("{s:{s:s,s:s%}}", "error", "type", herr_type(e->kind), "message",
                          msg ? msg : herr_type(e->kind), msg ? len : strlen(herr_type(e->kind)));
    free(msg);
    return o;
}

char *herr_body(const tf_http_error *e) {
    json_t *o = herr_json(e);
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
