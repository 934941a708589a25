/* request.h: generation request bodies -> validated parameters (prefix req_).
 *
 * Two dialects share one result: POST /v1/generate (our schema, unknown fields
 * refused) and POST /v1/completions (the OpenAI subset; unknown fields ignored
 * so stock clients that send extra keys work). Wrong JSON types are 400 and
 * name the field; values out of range are 422 and name the range.
 *
 *     tf_gen_request r;  tf_http_error e;
 *     if (req_parse(REQ_GENERATE, body, len, &lim, &r, &e) < 0) -> respond with e
 *     ... r.prompt, r.params (stop pointers borrow r's storage) ...
 *     req_close(&r);
 *
 * Thread-safety: stateless; a tf_gen_request belongs to its job.
 */
#ifndef TF_SERVER_REQUEST_H
#define TF_SERVER_REQUEST_H

#include <stddef.h>

#include "models/model.h"
#include "server/errors.h"

typedef enum { REQ_GENERATE, REQ_COMPLETIONS } tf_req_api;

typedef struct tf_req_limits {
    int max_new_tokens; /* configured ceiling */
} tf_req_limits;

typedef struct tf_gen_request {
    tf_req_api api;
    char *prompt;         /* owned, NUL-terminated (may contain NULs before prompt_len) */
    size_t prompt_len;
    char *model;          /* owned; NULL = the task's default model */
    tf_gen_params params; /* params.stop[i] point into stop_buf */
    char *stop_buf[TF_MAX_STOP]; /* owned */
    int seed_given;
    int stream;
    int logprobs;
} tf_gen_request;

int req_parse(tf_req_api api, const char *body, size_t len, const tf_req_limits *lim, tf_gen_request *out,
              tf_http_error *e);
void req_close(tf_gen_request *r);

#endif
