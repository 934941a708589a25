/* log.h: leveled log lines and the access log (prefix log_).
 *
 * Lines go to a file (reopened on SIGHUP for logrotate) or to stderr, which
 * journald captures; each line is `TIMESTAMP LEVEL message`, access lines
 * carry the request id.
 *
 *     log_open("", LOG_INFO);                 // stderr
 *     log_msg(LOG_INFO, "listening on %s", addr);
 *     log_reopen();                            // on SIGHUP
 *     log_close();
 *
 * Thread-safety: log_msg may be called from any thread (stdio locks the FILE);
 * log_open/log_reopen/log_close from the loop thread only.
 */
#ifndef TF_SERVER_LOG_H
#define TF_SERVER_LOG_H

typedef enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } tf_log_level;

int log_open(const char *path, tf_log_level level); /* path "" = stderr; 0 or TF_EIO */
int log_reopen(void);
void log_close(void);
tf_log_level log_level_parse(const char *name); /* unknown -> LOG_INFO */
void log_msg(tf_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
