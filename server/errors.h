/* errors.h: the HTTP error vocabulary (module prefix herr_).
 *
 * Every refusal the daemon sends is one row of the table in errors.c: a kind,
 * its HTTP status and its JSON "type". Bodies are always
 * {"error": {"type": "...", "message": "..."}}; openapi.yaml lists the same rows.
 *
 * One rule picks the status of a bad request on every route (openapi.yaml states it for
 * clients): 400 when the body is not what the schema describes (not JSON, not an object,
 * an unknown or missing field, a wrong JSON type, fields that exclude each other); 422
 * when a value of the right type breaks a limit (a range, an empty or too long string or
 * list, a name outside its set, too many tokens); 413 when the request is bigger than the
 * server takes in one go (body bytes, number of texts).
 *
 *     tf_http_error e;
 *     herr_set(&e, HERR_INVALID_FIELD, "max_new_tokens must be an integer");
 *     char *body = herr_body(&e);   // malloc'd JSON
 *
 * Thread-safety: stateless.
 */
#ifndef TF_SERVER_ERRORS_H
#define TF_SERVER_ERRORS_H

#include <jansson.h>
#include <stddef.h>

#define HERR_MAP(X)                                          \
    X(INVALID_JSON, 400, "invalid_json")                     \
    X(INVALID_FIELD, 400, "invalid_field")                   \
    X(INVALID_FRAMING, 400, "invalid_framing")               \
    X(UNAUTHORIZED, 401, "unauthorized")                     \
    X(NOT_FOUND, 404, "not_found")                           \
    X(MODEL_NOT_FOUND, 404, "model_not_found")               \
    X(METHOD_NOT_ALLOWED, 405, "method_not_allowed")         \
    X(BODY_TOO_LARGE, 413, "body_too_large")                 \
    X(TOO_MANY_TEXTS, 413, "too_many_texts")                 \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type") \
    X(PROMPT_TOO_LONG, 422, "prompt_too_long")               \
    X(OUT_OF_RANGE, 422, "out_of_range")                     \
    X(TEXT_TOO_LONG, 422, "text_too_long")                   \
    X(KV_BUDGET_EXCEEDED, 422, "kv_budget_exceeded")         \
    X(QUEUE_FULL, 429, "queue_full")                         \
    X(INTERNAL, 500, "internal_error")                       \
    X(UNSUPPORTED_TRANSFER_ENCODING, 501, "unsupported_transfer_encoding") \
    X(NOT_READY, 503, "not_ready")                           \
    X(DRAINING, 503, "draining")                             \
    X(QUEUE_TIMEOUT, 503, "queue_timeout")                   \
    X(TIMEOUT, 504, "timeout")

typedef enum tf_herr_kind {
#define HERR_ENUM(name, status, type) HERR_##name,
    HERR_MAP(HERR_ENUM)
#undef HERR_ENUM
    HERR_COUNT
} tf_herr_kind;

typedef struct tf_http_error {
    tf_herr_kind kind;
    char msg[256];
} tf_http_error;

/* Fills e (may be NULL); returns -1 so parsers can `return herr_set(...)`. */
int herr_set(tf_http_error *e, tf_herr_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int herr_status(tf_herr_kind kind);
const char *herr_type(tf_herr_kind kind);
/* {"error":{"type","message"}} (a message that is not UTF-8 is repaired), new reference or NULL on OOM. */
json_t *herr_json(const tf_http_error *e);
/* The same as a malloc'd NUL-terminated string, or NULL on OOM. */
char *herr_body(const tf_http_error *e);

#endif
