/* http.h: libmicrohttpd driven from the libuv loop (prefix http_).
 *
 * MHD runs in external-epoll mode: its epoll fd is a uv_poll_t on the loop
 * and MHD_run is called on readiness and at MHD's own timeout, so every HTTP
 * callback, every job and every metric is touched by the one loop thread.
 * Routes are a static table (routes.c); a handler answers at once
 * (http_reply*) or hands the request a job: http_wait_job suspends the
 * connection until the job ends, http_stream_job starts a text/event-stream
 * response that suspends whenever it has sent everything rendered so far.
 * The route's job callback calls http_job_notify after rendering, which
 * resumes the connection.
 *
 *     tf_http *h;  http_start(srv, &h, &err);  ... uv_run ...
 *     http_stop(h); // after the loop drained; then http_free(h)
 *
 * Thread-safety: loop thread only.
 */
#ifndef TF_SERVER_HTTP_H
#define TF_SERVER_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "server/errors.h"
#include "server/job.h"
#include "server/server.h"

typedef struct http_req http_req;

int http_start(tf_server *srv, tf_http **out, tf_err *err);
/* Port actually bound (useful with --listen HOST:0). */
int http_port(const tf_http *h);
/* Requests holding a job (responses still to be written). */
int http_live_jobs(const tf_http *h);
/* Resumes every suspended connection, then stops MHD and closes the loop handles. */
void http_stop(tf_http *h);
void http_free(tf_http *h); /* NULL is a no-op; after the loop ran the close callbacks */

/* For route handlers. */
tf_server *http_server(const http_req *r);
const char *http_id(const http_req *r);
const char *http_body(const http_req *r, size_t *len);
/* Takes ownership of body (malloc'd). */
void http_reply(http_req *r, int status, const char *content_type, char *body, size_t len);
void http_reply_json(http_req *r, int status, json_t *obj); /* steals obj */
void http_reply_error(http_req *r, const tf_http_error *e);
/* Takes a reference on job and binds it to its scheduler for cancellation. */
void http_wait_job(http_req *r, tf_job *job, tf_sched *sched);
/* The same for jobs of another scheduler: cancel(ctx, job) when the client leaves. */
typedef void (*http_cancel_fn)(void *ctx, tf_job *job);
void http_wait_job_fn(http_req *r, tf_job *job, http_cancel_fn cancel, void *ctx);
void http_stream_job(http_req *r, tf_job *job, tf_sched *sched);
/* job->out grew or the job ended: wake its connection. */
void http_job_notify(tf_job *job);

#endif
