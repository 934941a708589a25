#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(tf_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

const char *err_name(int code) {
    switch (code) {
#define TF_STATUS_NAME(name, c, msg) \
    case c:                          \
        return "TF_E" #name;
        TF_STATUS_MAP(TF_STATUS_NAME)
#undef TF_STATUS_NAME
    }
    return "TF_E?";
}

const char *err_str(int code) {
    switch (code) {
#define TF_STATUS_STR(name, c, msg) \
    case c:                         \
        return msg;
        TF_STATUS_MAP(TF_STATUS_STR)
#undef TF_STATUS_STR
    }
    return "unknown error";
}
