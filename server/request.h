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

#include <jansson.h>
#include <stddef.h>

#include "models/model.h"
#include "server/attnfull.h"
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
    int return_attention; /* /v1/generate: ATTN_RET_* */
    tf_attn_pick attn_pick; /* attention_layers / attention_heads; range-checked at admission */
} tf_gen_request;

/* POST /v1/sentiment: {"text": str} or {"texts": [str, ...]}, "truncate", "model",
 * "return_attention", "attention_layers", "attention_heads".
 * Unknown fields and wrong types are 400 (named), an empty text or texts list 422
 * (out_of_range), more than max_texts texts 413 (too_many_texts), as on /v1/translate. */
typedef struct tf_sentiment_request {
    char **texts;  /* owned, [n_texts], each owned and NUL-terminated */
    size_t *lens;  /* owned, [n_texts] */
    int n_texts;
    int truncate;
    char *model;   /* owned; NULL = the task's default model */
    int return_attention;   /* ATTN_RET_* */
    tf_attn_pick attn_pick; /* range-checked at admission */
} tf_sentiment_request;

int req_parse_sentiment(const char *body, size_t len, int max_texts, tf_sentiment_request *out,
                        tf_http_error *e);
void req_sentiment_close(tf_sentiment_request *r);

/* The body as a JSON object (new reference), or NULL with e set: malformed JSON or not an
 * object is 400 invalid_json, a number too big for a double or a 64-bit integer 422
 * out_of_range. Duplicate keys are malformed; U+0000 is allowed in strings. Every route
 * with a JSON body loads it here. */
json_t *req_load_object(const char *body, size_t len, tf_http_error *e);

/* 422 out_of_range for a max_new_tokens (max_tokens) outside 1..limit, the server's
 * max_new_tokens option: the message names the field, the bound and where it comes from.
 * Every route that generates refuses the same way (a default over the limit is cut instead). */
int req_max_new_refused(const char *name, int limit, long long got, tf_http_error *e);

int req_parse(tf_req_api api, const char *body, size_t len, const tf_req_limits *lim, tf_gen_request *out,
              tf_http_error *e);
void req_close(tf_gen_request *r);

#endif
