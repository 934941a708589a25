/* err.h: status codes and the error record every library function fills.
 *
 * Library code returns 0 or a negative TF_E* code and writes details into a
 * caller-provided tf_err; only server/main.c decides to exit.
 *
 *     tf_err err = {0};
 *     if (model_load(dir, &opts, &m, &err) < 0)
 *         fprintf(stderr, "%s\n", err.msg);
 *
 * Thread-safety: none needed; a tf_err belongs to the caller's stack.
 */
#ifndef TF_CORE_ERR_H
#define TF_CORE_ERR_H

#include <stddef.h>

/* One table: enum value, numeric code and default message. */
#define TF_STATUS_MAP(X)                                      \
    X(OK, 0, "ok")                                            \
    X(NOMEM, -1, "out of memory")                             \
    X(IO, -2, "input/output error")                           \
    X(FORMAT, -3, "malformed file")                           \
    X(INVALID, -4, "invalid argument")                        \
    X(RANGE, -5, "value out of range")                        \
    X(UNSUPPORTED, -6, "unsupported")                         \
    X(NOTFOUND, -7, "not found")                              \
    X(TOOLONG, -8, "input too long")                          \
    X(FULL, -9, "capacity exhausted")                         \
    X(CANCELLED, -10, "cancelled")                            \
    X(INTERNAL, -11, "internal error")

typedef enum tf_status {
#define TF_STATUS_ENUM(name, code, msg) TF_E##name = (code),
    TF_STATUS_MAP(TF_STATUS_ENUM)
#undef TF_STATUS_ENUM
} tf_status;

typedef struct tf_err {
    int code;      /* a tf_status value */
    char msg[256]; /* one line, no trailing newline */
} tf_err;

/* Fills err (which may be NULL) with code and a printf-style message; returns code. */
int err_set(tf_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The symbolic name ("TF_EFORMAT") and default message of a status. */
const char *err_name(int code);
const char *err_str(int code);

#endif
