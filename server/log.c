/* log.c: one FILE, reopened in place on SIGHUP. */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "models/model.h"

static FILE *log_fp;
static char *log_path;
static tf_log_level log_max = LOG_INFO;

static const char *level_names[] = {"error", "warn", "info", "debug"};

tf_log_level log_level_parse(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return (tf_log_level)i;
    return LOG_INFO;
}

int log_open(const char *path, tf_log_level level) {
    log_max = level;
    free(log_path);
    log_path = path && *path ? strdup(path) : NULL;
    return log_reopen();
}

int log_reopen(void) {
    if (!log_path) {
        log_fp = stderr;
        return 0;
    }
    FILE *f = fopen(log_path, "a");
    if (!f) return TF_EIO;
    setvbuf(f, NULL, _IOLBF, 0);
    FILE *old = log_fp;
    log_fp = f;
    if (old && old != stderr) fclose(old);
    return 0;
}

void log_close(void) {
    if (log_fp && log_fp != stderr) fclose(log_fp);
    log_fp = NULL;
    free(log_path);
    log_path = NULL;
}

void log_msg(tf_log_level level, const char *fmt, ...) {
    if (level > log_max) return;
    FILE *f = log_fp ? log_fp : stderr;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    char line[2048];
    int k = snprintf(line, sizeof line, "%s.%03dZ %s ", ts, (int)(tv.tv_usec / 1000), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (k > 0 && (size_t)k < sizeof line) vsnprintf(line + k, sizeof line - (size_t)k, fmt, ap);
    va_end(ap);
    /* One fputs per line so concurrent writers never interleave inside a line. */
    size_t n = strlen(line);
    if (n + 1 < sizeof line) {
        line[n] = '\n';
        line[n + 1] = 0;
    }
    fputs(line, f);
    fflush(f);
}
