/* http.c: libmicrohttpd on the libuv loop; request bodies, routing, auth,
 * suspend/resume around jobs, access log and request metrics.
 *
 * DESIGN (variant B of docs/architecture.md): MHD_USE_EPOLL without an
 * internal thread. The MHD epoll fd sits in a uv_poll_t; after every MHD_run
 * the uv_timer_t is re-armed from MHD_get_timeout (0 means "more is ready now",
 * which MHD's edge-triggered sockets rely on). Resuming a connection only arms
 * that timer, so MHD_run never re-enters itself. A suspended connection cannot
 * see its client leave (microhttpd.h, MHD_suspend_connection), so a 50 ms
 * timer peeks at the sockets of suspended requests (recv MSG_PEEK == 0 means
 * the peer closed) and cancels their jobs: a disconnect frees its sequence
 * within one step plus 50 ms, streaming or not (a recv per suspended request
 * per tick: negligible next to a model step).
 */
#include "server/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "server/http_input.h"
#include "server/log.h"
#include "server/routes.h"

#define SSE_BLOCK_BYTES 4096

typedef enum { R_NEW, R_ANSWERED, R_WAITING, R_STREAMING } req_state;

struct http_req {
    tf_http *h;                   /* borrowed */
    struct MHD_Connection *conn;  /* borrowed */
    char id[40];
    char method[12];
    char path[96];                /* for the log: truncated */
    const tf_route *route;        /* NULL: no route with this path */
    int method_ok;
    uint64_t t0_ns;
    req_state state;
    tf_buf body;                  /* owned */
    int too_large;
    int must_close;               /* answered before its body: the connection is closed after */
    tf_job *job;                  /* one reference, or NULL */
    http_cancel_fn cancel;        /* tells the job's scheduler the client is gone */
    void *cancel_ctx;             /* borrowed: that scheduler */
    int suspended;
    int gone;                     /* client closed while suspended */
    size_t sent;                  /* streaming: bytes of job->out handed to MHD */
    int status;
    size_t bytes_out;
    http_req *next, *prev;        /* list of requests holding a job */
};

struct tf_http {
    tf_server *srv;               /* borrowed */
    struct MHD_Daemon *d;
    uv_poll_t poll;
    uv_timer_t timer;             /* MHD's timeout and "run again soon" */
    uv_timer_t peek;              /* disconnect detection for suspended requests */
    int port;
    http_req *live;
    int n_live;
    char **keys;                  /* owned API keys */
    int n_keys;
    char **open;                  /* owned routes that need no key */
    int n_open;
    uint64_t n_requests;
    unsigned id_salt;
};

tf_server *http_server(const http_req *r) { return r->h->srv; }
const char *http_id(const http_req *r) { return r->id; }
const char *http_body(const http_req *r, size_t *len) {
    *len = r->body.len;
    return r->body.p ? r->body.p : "";
}
int http_port(const tf_http *h) { return h->port; }
int http_live_jobs(const tf_http *h) { return h->n_live; }

/* Running MHD ---------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void run_mhd(tf_http *h) {
    MHD_run(h->d);
    MHD_UNSIGNED_LONG_LONG to;
    if (MHD_get_timeout(h->d, &to) == MHD_YES) uv_timer_start(&h->timer, on_timer, to, 0);
    else uv_timer_stop(&h->timer);
}

static void on_timer(uv_timer_t *t) { run_mhd(t->data); }

static void on_poll(uv_poll_t *p, int status, int events) {
    (void)status;
    (void)events;
    run_mhd(p->data);
}

/* Runs MHD on the next loop iteration (never from inside MHD's callbacks). */
static void kick(tf_http *h) { uv_timer_start(&h->timer, on_timer, 0, 0); }

/* Live requests ------------------------------------------------------------------------ */

static void live_add(tf_http *h, http_req *r) {
    r->prev = NULL;
    r->next = h->live;
    if (h->live) h->live->prev = r;
    h->live = r;
    h->n_live++;
}

static void live_remove(tf_http *h, http_req *r) {
    if (r->prev) r->prev->next = r->next;
    else h->live = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    h->n_live--;
}

static void suspend(http_req *r) {
    if (r->suspended) return;
    MHD_suspend_connection(r->conn);
    r->suspended = 1;
}

static void resume(http_req *r) {
    if (!r->suspended) return;
    r->suspended = 0;
    MHD_resume_connection(r->conn);
    kick(r->h);
}

static void on_peek(uv_timer_t *t) {
    tf_http *h = t->data;
    for (http_req *r = h->live; r; r = r->next) {
        if (!r->suspended || r->gone) continue;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci) continue;
        char c;
        ssize_t k = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            r->gone = 1;
            if (r->job && r->job->state != JOB_DONE) r->cancel(r->cancel_ctx, r->job);
            resume(r); /* MHD must see the connection again to close it */
        }
    }
}

void http_job_notify(tf_job *job) {
    http_req *r = job->owner;
    if (r) resume(r);
}

/* Responses ------------------------------------------------------------------------------ */

static void add_common_headers(http_req *r, struct MHD_Response *resp) {
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    MHD_add_response_header(resp, "Server", "transformerd");
}

void http_reply(http_req *r, int status, const char *content_type, char *body, size_t len) {
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, body, free);
    if (!resp) {
        free(body);
        return;
    }
    add_common_headers(r, resp);
    if (content_type) MHD_add_response_header(resp, "Content-Type", content_type);
    if (status == 405 && r->route) {
        MHD_add_response_header(resp, "Allow",
                                strcmp(r->route->method, "GET") == 0 ? "GET, HEAD" : r->route->method);
    }
    if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 429 || status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (r->must_close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    r->status = status;
    r->bytes_out = len;
    r->state = R_ANSWERED;
    MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void http_reply_json(http_req *r, int status, json_t *obj) {
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!s) {
        tf_http_error e;
        herr_set(&e, HERR_INTERNAL, "cannot render the response");
        http_reply_error(r, &e);
        return;
    }
    size_t n = strlen(s);
    char *body = realloc(s, n + 2); /* a trailing newline keeps curl output tidy */
    if (body) {
        body[n++] = '\n';
        body[n] = 0;
    } else {
        body = s;
    }
    http_reply(r, status, "application/json", body, n);
}

void http_reply_error(http_req *r, const tf_http_error *e) {
    char *s = herr_body(e);
    if (!s) {
        static const char oom[] = "{\"error\":{\"type\":\"internal_error\",\"message\":\"out of memory\"}}";
        s = strdup(oom);
        if (!s) return;
    }
    http_reply(r, herr_status(e->kind), "application/json", s, strlen(s));
}

static void finish_waiting(http_req *r);

static void cancel_gen(void *sched, tf_job *job) { sched_cancel(sched, job); }

static void attach_job(http_req *r, tf_job *job, http_cancel_fn cancel, void *ctx) {
    job_ref(job);
    r->job = job;
    r->cancel = cancel;
    r->cancel_ctx = ctx;
    job->owner = r;
    live_add(r->h, r);
}

void http_wait_job(http_req *r, tf_job *job, tf_sched *sched) {
    http_wait_job_fn(r, job, cancel_gen, sched);
}

void http_wait_job_fn(http_req *r, tf_job *job, http_cancel_fn cancel, void *ctx) {
    attach_job(r, job, cancel, ctx);
    r->state = R_WAITING;
    if (job->state == JOB_DONE) finish_waiting(r); /* failed during admission */
    else suspend(r);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    http_req *r = cls;
    tf_job *j = r->job;
    if (r->gone || !j) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t avail = j->out.len - r->sent;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(buf, j->out.p + r->sent, n);
        r->sent += n;
        r->bytes_out += n;
        return (ssize_t)n;
    }
    if (j->state == JOB_DONE) return MHD_CONTENT_READER_END_OF_STREAM;
    suspend(r); /* resumed by http_job_notify when the next token is rendered */
    return 0;
}

void http_stream_job(http_req *r, tf_job *job, tf_sched *sched) {
    attach_job(r, job, cancel_gen, sched);
    r->state = R_STREAMING;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK_BYTES, sse_read, r, NULL);
    if (!resp) return;
    add_common_headers(r, resp);
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: do not buffer the stream */
    r->status = 200;
    MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
}

/* Requests ---------------------------------------------------------------------------- */

static int id_char_ok(char c) { return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.'; }

static void make_id(tf_http *h, struct MHD_Connection *c, char *out, size_t n) {
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (given) {
        size_t l = strlen(given), i = 0;
        while (i < l && id_char_ok(given[i])) i++;
        if (l > 0 && l < n && l <= 36 && i == l) {
            memcpy(out, given, l + 1);
            return;
        }
    }
    snprintf(out, n, "%08x%08llx", h->id_salt, (unsigned long long)++h->n_requests);
}

static int route_is_open(const tf_http *h, const char *path) {
    for (int i = 0; i < h->n_open; i++)
        if (strcmp(h->open[i], path) == 0) return 1;
    return 0;
}

/* Compares every key in full so the time taken says nothing about the key. */
static int key_ok(const tf_http *h, const char *auth) {
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return 0;
    const char *k = auth + 7;
    size_t kl = strlen(k);
    int ok = 0;
    for (int i = 0; i < h->n_keys; i++) {
        size_t l = strlen(h->keys[i]);
        unsigned diff = (unsigned)(l ^ kl);
        for (size_t j = 0; j < l; j++) diff |= (unsigned char)h->keys[i][j] ^ (unsigned char)(j < kl ? k[j] : 0);
        ok |= diff == 0;
    }
    return ok;
}

/* MHD's URL decoder, replaced so that %00 stays escaped (http_input.c). */
static size_t unescape_url(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    return hin_unescape(s);
}

static enum MHD_Result add_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    hin_framing_add(cls, key, value ? value : "");
    return MHD_YES;
}

static void dispatch(http_req *r) {
    tf_http *h = r->h;
    tf_http_error e;
    if (!r->route) {
        herr_set(&e, HERR_NOT_FOUND, "no route %s", r->path);
        http_reply_error(r, &e);
        return;
    }
    if (h->n_keys > 0 && !route_is_open(h, r->route->path) &&
        !key_ok(h, MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization"))) {
        herr_set(&e, HERR_UNAUTHORIZED, "a valid API key is required (Authorization: Bearer KEY)");
        http_reply_error(r, &e);
        return;
    }
    if (!r->method_ok) {
        herr_set(&e, HERR_METHOD_NOT_ALLOWED, "%s does not accept %s", r->route->path, r->method);
        http_reply_error(r, &e);
        return;
    }
    if (r->too_large) {
        herr_set(&e, HERR_BODY_TOO_LARGE, "the request body exceeds %d bytes", h->srv->cfg->max_body_bytes);
        http_reply_error(r, &e);
        return;
    }
    /* Bodies are read as JSON whatever Content-Type says (curl -d sends a form type), but a
     * compressed body would only ever be "malformed JSON": say what is wrong instead. */
    const char *enc = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
    if (enc && strcmp(r->route->method, "POST") == 0 && !hin_identity_encoding(enc)) {
        herr_set(&e, HERR_UNSUPPORTED_MEDIA_TYPE, "Content-Encoding '%.32s' is not supported: send the body uncompressed",
                 enc);
        http_reply_error(r, &e);
        return;
    }
    r->route->fn(r);
    if (r->state == R_NEW) { /* a handler that forgot to answer must not hang the client */
        herr_set(&e, HERR_INTERNAL, "no response");
        http_reply_error(r, &e);
    }
}

static void finish_waiting(http_req *r) {
    tf_job *j = r->job;
    char *body = malloc(j->out.len + 1);
    if (!body) return;
    memcpy(body, j->out.p ? j->out.p : "", j->out.len);
    body[j->out.len] = 0;
    http_reply(r, j->status, "application/json", body, j->out.len);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **req_cls) {
    (void)version;
    tf_http *h = cls;
    http_req *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->h = h;
        r->conn = c;
        r->t0_ns = job_now_ns();
        make_id(h, c, r->id, sizeof r->id);
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        for (int i = 0; i < n_routes; i++) {
            if (strcmp(routes[i].path, url) != 0) continue;
            r->route = &routes[i];
            r->method_ok = strcmp(routes[i].method, method) == 0 ||
                           (strcmp(routes[i].method, "GET") == 0 && strcmp(method, "HEAD") == 0);
        }
        *req_cls = r;
        /* Framing MHD would read wrongly: refused before any of the body, on every path. */
        hin_framing f = {0};
        MHD_get_connection_values(c, MHD_HEADER_KIND, add_framing, &f);
        tf_http_error e;
        if (hin_check_framing(&f, &e) < 0) {
            r->must_close = 1;
            http_reply_error(r, &e);
            return MHD_YES;
        }
        /* Refused before the upload: no "100 Continue", nothing sent for nothing. */
        if (hin_refuse_before_body(MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT),
                                   MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING),
                                   MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH),
                                   h->srv->cfg->max_body_bytes)) {
            r->too_large = 1;
            dispatch(r);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!r->too_large) {
            if (r->body.len + *upload_size > (size_t)h->srv->cfg->max_body_bytes) {
                r->too_large = 1;
                buf_close(&r->body);
            } else if (buf_append(&r->body, upload, *upload_size) < 0) {
                return MHD_NO;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    switch (r->state) {
    case R_NEW:
        dispatch(r);
        return MHD_YES;
    case R_WAITING:
        if (r->gone) return MHD_NO;
        if (r->job->state == JOB_DONE) finish_waiting(r);
        else suspend(r); /* spurious resume */
        return MHD_YES;
    case R_ANSWERED:
    case R_STREAMING:
        return r->gone ? MHD_NO : MHD_YES;
    }
    return MHD_YES;
}

/* Copies the NUL-terminated src (n bytes at most) with every unprintable byte as '?'. */
static void printable(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] && !isprint((unsigned char)src[i]) ? '?' : src[i];
}

static const char *route_label(const http_req *r) { return r->route ? r->route->path : "other"; }

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    tf_http *h = cls;
    http_req *r = *req_cls;
    if (!r) return;
    *req_cls = NULL;
    if (r->job) {
        if (r->job->state != JOB_DONE) r->cancel(r->cancel_ctx, r->job);
        r->job->on_event = NULL;
        r->job->owner = NULL;
        job_unref(r->job);
        r->job = NULL;
        live_remove(h, r);
    }
    double secs = (double)(job_now_ns() - r->t0_ns) / 1e9;
    int status = r->status ? r->status : 499; /* never answered: the client left first */
    char labels[160];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", route_label(r), status);
    met_add(h->srv->met, MET_REQUESTS, labels, 1);
    snprintf(labels, sizeof labels, "route=\"%s\"", route_label(r));
    met_observe(h->srv->met, MET_REQUEST_DURATION, labels, secs);
    if (h->srv->cfg->access_log) {
        /* never let a URL or a method (MHD takes any bytes there) forge log lines or
         * send terminal escapes */
        char path[sizeof r->path], method[sizeof r->method];
        printable(path, r->path, sizeof path);
        printable(method, r->method, sizeof method);
        log_msg(LOG_INFO, "access id=%s method=%s path=%s status=%d bytes=%zu duration_ms=%.1f%s", r->id,
                method, path, status, r->bytes_out, secs * 1e3,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    }
    buf_close(&r->body);
    free(r);
}

/* Start and stop ---------------------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len, int *v6, tf_err *err) {
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || colon[1] == 0)
        return err_set(err, TF_EINVALID, "listen: expected HOST:PORT, got '%s'", listen);
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host) return err_set(err, TF_EINVALID, "listen: host too long");
    memcpy(host, listen, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (rc != 0) return err_set(err, TF_EINVALID, "listen: %s: %s", listen, gai_strerror(rc));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return 0;
}

static int split_list(const char *s, const char *seps, char ***out, int *n) {
    char *copy = strdup(s), *save = NULL;
    if (!copy) return TF_ENOMEM;
    int cap = 4;
    char **v = malloc((size_t)cap * sizeof *v);
    *n = 0;
    for (char *t = strtok_r(copy, seps, &save); t && v; t = strtok_r(NULL, seps, &save)) {
        while (isspace((unsigned char)*t)) t++;
        size_t l = strlen(t);
        while (l > 0 && isspace((unsigned char)t[l - 1])) t[--l] = 0;
        if (l == 0 || t[0] == '#') continue;
        if (*n == cap) {
            char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[(*n)++] = strdup(t);
    }
    free(copy);
    *out = v;
    return v ? 0 : TF_ENOMEM;
}

static int load_keys(tf_http *h, const char *path, tf_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, TF_EIO, "api_key_file: cannot open %s: %s", path, strerror(errno));
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (split_list(buf, "\r\n", &h->keys, &h->n_keys) < 0) return err_set(err, TF_ENOMEM, "out of memory");
    if (h->n_keys == 0) return err_set(err, TF_EINVALID, "api_key_file: %s holds no key", path);
    return 0;
}

int http_start(tf_server *srv, tf_http **out, tf_err *err) {
    const tf_config *cfg = srv->cfg;
    tf_http *h = calloc(1, sizeof *h);
    if (!h) return err_set(err, TF_ENOMEM, "out of memory");
    h->srv = srv;
    h->id_salt = (unsigned)(job_now_ns() ^ (uint64_t)getpid() << 16);
    int rc;
    if (cfg->api_key_file[0] && (rc = load_keys(h, cfg->api_key_file, err)) < 0) goto fail;
    if (split_list(cfg->open_routes, ",", &h->open, &h->n_open) < 0) {
        rc = err_set(err, TF_ENOMEM, "out of memory");
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    int v6 = 0;
    if ((rc = parse_listen(cfg->listen, &ss, &sl, &v6, err)) < 0) goto fail;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL,
                            MHD_OPTION_END);
    if (!h->d) {
        rc = err_set(err, TF_EIO, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : 0;
    di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di) {
        rc = err_set(err, TF_EIO, "libmicrohttpd has no epoll support");
        goto fail;
    }
    uv_poll_init(srv->loop, &h->poll, di->epoll_fd);
    h->poll.data = h;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    uv_timer_init(srv->loop, &h->timer);
    h->timer.data = h;
    uv_timer_init(srv->loop, &h->peek);
    h->peek.data = h;
    uv_timer_start(&h->peek, on_peek, 50, 50);
    kick(h);
    *out = h;
    return 0;
fail:
    if (h->d) MHD_stop_daemon(h->d);
    h->d = NULL;
    http_free(h);
    return rc;
}

void http_stop(tf_http *h) {
    if (!h || !h->d) return;
    for (http_req *r = h->live; r; r = r->next) {
        if (!r->suspended) continue;
        r->gone = 1;
        r->suspended = 0;
        MHD_resume_connection(r->conn);
    }
    MHD_run(h->d);
    uv_poll_stop(&h->poll);
    uv_close((uv_handle_t *)&h->poll, NULL);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->peek, NULL);
    MHD_stop_daemon(h->d);
    h->d = NULL;
}

void http_free(tf_http *h) {
    if (!h) return;
    for (int i = 0; i < h->n_keys; i++) free(h->keys[i]);
    free(h->keys);
    for (int i = 0; i < h->n_open; i++) free(h->open[i]);
    free(h->open);
    free(h);
}
