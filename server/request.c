/* request.c: field-by-field validation of generation requests.
 *
 * DESIGN: one table per dialect lists the accepted fields with their JSON kind
 * and bounds; a single loop checks types (400) and ranges (422), so the rules
 * and openapi.yaml read the same. JSON null means "use the default", because
 * OpenAI clients send explicit nulls.
 */
#include "server/request.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { F_STRING, F_INT, F_NUMBER, F_BOOL, F_STOP, F_PROMPT, F_IGNORE, F_ATTENTION, F_INDICES } field_kind;

typedef enum {
    K_PROMPT, K_MODEL, K_MAX_NEW, K_TEMPERATURE, K_TOP_K, K_TOP_P, K_SEED, K_REP_PENALTY,
    K_STOP, K_STREAM, K_LOGPROBS, K_ATTENTION, K_ATTN_LAYERS, K_ATTN_HEADS, K_NONE
} field_key;

typedef struct field {
    const char *name;
    field_kind kind;
    field_key key;
    double min, max; /* inclusive unless min_open */
    int min_open;
} field;

#define MAXTOK 0 /* placeholder: max_new_tokens' ceiling comes from tf_req_limits */
static const field generate_fields[] = {
    {"prompt", F_STRING, K_PROMPT, 0, 0, 0},
    {"model", F_STRING, K_MODEL, 0, 0, 0},
    {"max_new_tokens", F_INT, K_MAX_NEW, 1, MAXTOK, 0},
    {"temperature", F_NUMBER, K_TEMPERATURE, 0, 100, 0},
    {"top_k", F_INT, K_TOP_K, 0, 1000000, 0},
    {"top_p", F_NUMBER, K_TOP_P, 0, 1, 1},
    {"seed", F_INT, K_SEED, 0, 9007199254740991.0, 0},
    {"repetition_penalty", F_NUMBER, K_REP_PENALTY, 0, 100, 1},
    {"stop", F_STOP, K_STOP, 0, 0, 0},
    {"stream", F_BOOL, K_STREAM, 0, 0, 0},
    {"logprobs", F_BOOL, K_LOGPROBS, 0, 0, 0},
    {"return_attention", F_ATTENTION, K_ATTENTION, 0, 0, 0},
    {"attention_layers", F_INDICES, K_ATTN_LAYERS, 0, 0, 0},
    {"attention_heads", F_INDICES, K_ATTN_HEADS, 0, 0, 0},
};

/* The OpenAI completions subset. */
static const field openai_fields[] = {
    {"prompt", F_PROMPT, K_PROMPT, 0, 0, 0},
    {"model", F_STRING, K_MODEL, 0, 0, 0},
    {"max_tokens", F_INT, K_MAX_NEW, 1, MAXTOK, 0},
    {"temperature", F_NUMBER, K_TEMPERATURE, 0, 2, 0},
    {"top_p", F_NUMBER, K_TOP_P, 0, 1, 1},
    {"seed", F_INT, K_SEED, 0, 9007199254740991.0, 0},
    {"stop", F_STOP, K_STOP, 0, 0, 0},
    {"stream", F_BOOL, K_STREAM, 0, 0, 0},
};

#define STOP_MAX_BYTES 256

static int parse_stop(tf_gen_request *r, const char *name, json_t *v, int allow_string, tf_http_error *e) {
    json_t *one = NULL;
    size_t n;
    if (json_is_string(v) && allow_string) {
        one = v;
        n = 1;
    } else if (json_is_array(v)) {
        n = json_array_size(v);
    } else {
        return herr_set(e, HERR_INVALID_FIELD, "%s must be an array of strings%s", name,
                        allow_string ? " or a string" : "");
    }
    if (n > TF_MAX_STOP)
        return herr_set(e, HERR_OUT_OF_RANGE, "%s may hold at most %d strings, got %zu", name, TF_MAX_STOP, n);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return herr_set(e, HERR_INVALID_FIELD, "%s[%zu] must be a string", name, i);
        size_t l = json_string_length(s);
        if (l == 0 || l > STOP_MAX_BYTES)
            return herr_set(e, HERR_OUT_OF_RANGE, "%s[%zu] must be 1 to %d bytes long", name, i, STOP_MAX_BYTES);
        if (memchr(json_string_value(s), 0, l)) /* the engine takes C strings */
            return herr_set(e, HERR_OUT_OF_RANGE, "%s[%zu] must not contain U+0000", name, i);
        char *copy = malloc(l + 1);
        if (!copy) return herr_set(e, HERR_INTERNAL, "out of memory");
        memcpy(copy, json_string_value(s), l + 1);
        r->stop_buf[r->params.n_stop] = copy;
        r->params.stop[r->params.n_stop] = copy;
        r->params.n_stop++;
    }
    return 0;
}

static int take_string(json_t *v, char **out, size_t *len) {
    size_t l = json_string_length(v);
    char *s = malloc(l + 1);
    if (!s) return -1;
    memcpy(s, json_string_value(v), l + 1);
    *out = s;
    if (len) *len = l;
    return 0;
}

static int apply(tf_gen_request *r, const field *f, json_t *v, const tf_req_limits *lim, tf_http_error *e) {
    double num = 0;
    switch (f->kind) {
    case F_IGNORE:
        return 0;
    case F_STRING:
        if (!json_is_string(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be a string", f->name);
        if (take_string(v, f->key == K_PROMPT ? &r->prompt : &r->model, f->key == K_PROMPT ? &r->prompt_len : NULL))
            return herr_set(e, HERR_INTERNAL, "out of memory");
        return 0;
    case F_PROMPT: /* OpenAI: a string, or an array holding exactly one string */
        if (json_is_array(v)) {
            size_t i, n = json_array_size(v);
            json_t *x;
            json_array_foreach(v, i, x) {
                if (!json_is_string(x)) return herr_set(e, HERR_INVALID_FIELD, "prompt[%zu] must be a string", i);
            }
            if (n != 1)
                return herr_set(e, HERR_OUT_OF_RANGE, "prompt must hold exactly one string (one prompt per request), "
                                "got %zu", n);
            v = json_array_get(v, 0);
        }
        if (!json_is_string(v))
            return herr_set(e, HERR_INVALID_FIELD, "prompt must be a string or an array of one string");
        if (take_string(v, &r->prompt, &r->prompt_len)) return herr_set(e, HERR_INTERNAL, "out of memory");
        return 0;
    case F_BOOL:
        if (!json_is_boolean(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be a boolean", f->name);
        *(f->key == K_STREAM ? &r->stream : &r->logprobs) = json_is_true(v);
        return 0;
    case F_STOP:
        return parse_stop(r, f->name, v, r->api == REQ_COMPLETIONS, e);
    case F_ATTENTION: /* attention statistics or weights in the response (attnmon.h, attnfull.h) */
        return attnfull_parse_mode(v, f->name, &r->return_attention, e);
    case F_INDICES: /* checked against the model at admission */
        if (f->key == K_ATTN_LAYERS)
            return attnfull_parse_indices(v, f->name, &r->attn_pick.layers, &r->attn_pick.n_layers, e);
        return attnfull_parse_indices(v, f->name, &r->attn_pick.heads, &r->attn_pick.n_heads, e);
    case F_INT:
        if (!json_is_integer(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be an integer", f->name);
        num = (double)json_integer_value(v);
        break;
    case F_NUMBER:
        if (!json_is_number(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be a number", f->name);
        num = json_number_value(v);
        break;
    }
    double max = f->key == K_MAX_NEW ? lim->max_new_tokens : f->max;
    if (!(f->min_open ? num > f->min : num >= f->min) || !(num <= max) || !isfinite(num)) {
        if (f->key == K_MAX_NEW) return req_max_new_refused(f->name, lim->max_new_tokens, json_integer_value(v), e);
        if (f->kind == F_INT)
            return herr_set(e, HERR_OUT_OF_RANGE, "%s must be between %.0f and %.0f, got %lld", f->name, f->min, max,
                            (long long)json_integer_value(v));
        return herr_set(e, HERR_OUT_OF_RANGE, "%s must be in %s%g, %g], got %g", f->name, f->min_open ? "(" : "[",
                        f->min, max, num);
    }
    switch (f->key) {
    case K_MAX_NEW: r->params.max_new_tokens = (int)num; break;
    case K_TEMPERATURE: r->params.temperature = (float)num; break;
    case K_TOP_K: r->params.top_k = (int)num; break;
    case K_TOP_P: r->params.top_p = (float)num; break;
    case K_SEED:
        r->params.seed = (uint64_t)json_integer_value(v);
        r->seed_given = 1;
        break;
    case K_REP_PENALTY: r->params.repetition_penalty = (float)num; break;
    default: break;
    }
    return 0;
}

int req_max_new_refused(const char *name, int limit, long long got, tf_http_error *e) {
    return herr_set(e, HERR_OUT_OF_RANGE, "%s must be between 1 and %d (the server's max_new_tokens limit), got %lld",
                    name, limit, got);
}

json_t *req_load_object(const char *body, size_t len, tf_http_error *e) {
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!root) {
        /* 1e999 or 2^64 is well-formed JSON: a value out of range, not a syntax error. */
        if (json_error_code(&jerr) == json_error_numeric_overflow)
            herr_set(e, HERR_OUT_OF_RANGE, "number out of range at line %d, column %d (%s): integers must fit in "
                     "64 bits and reals in a double", jerr.line, jerr.column, jerr.text);
        else
            herr_set(e, HERR_INVALID_JSON, "malformed JSON at line %d, column %d: %s", jerr.line, jerr.column,
                     jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        herr_set(e, HERR_INVALID_JSON, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

int req_parse(tf_req_api api, const char *body, size_t len, const tf_req_limits *lim, tf_gen_request *r,
              tf_http_error *e) {
    memset(r, 0, sizeof *r);
    r->api = api;
    gen_params_default(&r->params);
    if (api == REQ_COMPLETIONS) r->params.temperature = 1.0f; /* OpenAI's default */
    json_t *root = req_load_object(body, len, e);
    if (!root) return -1;
    int rc = 0;
    const field *fields = api == REQ_GENERATE ? generate_fields : openai_fields;
    size_t n_fields = api == REQ_GENERATE ? sizeof generate_fields / sizeof generate_fields[0]
                                          : sizeof openai_fields / sizeof openai_fields[0];
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        const field *f = NULL;
        for (size_t i = 0; i < n_fields && !f; i++)
            if (strcmp(fields[i].name, key) == 0) f = &fields[i];
        if (!f) {
            if (api == REQ_COMPLETIONS) continue;
            rc = herr_set(e, HERR_INVALID_FIELD, "unknown field '%.64s'", key);
            goto done;
        }
        if (json_is_null(v)) continue;
        if ((rc = apply(r, f, v, lim, e)) < 0) goto done;
    }
    if (!r->prompt) {
        rc = herr_set(e, HERR_INVALID_FIELD, "prompt is required");
        goto done;
    }
    if (r->prompt_len == 0) {
        rc = herr_set(e, HERR_OUT_OF_RANGE, "prompt must not be empty");
        goto done;
    }
    /* only the default can pass the limit here (a value sent over it was refused above):
     * the client did not ask for it, so it is cut, as /v1/translate cuts a task default */
    if (r->params.max_new_tokens > lim->max_new_tokens) r->params.max_new_tokens = lim->max_new_tokens;
    tf_err err = {0};
    if (gen_params_check(&r->params, &err) < 0) rc = herr_set(e, HERR_OUT_OF_RANGE, "%s", err.msg);
done:
    json_decref(root);
    if (rc < 0) req_close(r);
    return rc;
}

void req_close(tf_gen_request *r) {
    free(r->prompt);
    free(r->model);
    for (int i = 0; i < TF_MAX_STOP; i++) free(r->stop_buf[i]);
    attnfull_pick_close(&r->attn_pick);
    memset(r, 0, sizeof *r);
}

/* ---- /v1/sentiment ---- */

static int take_text(tf_sentiment_request *r, json_t *v, const char *name, size_t i, tf_http_error *e) {
    if (!json_is_string(v))
        return i == (size_t)-1 ? herr_set(e, HERR_INVALID_FIELD, "%s must be a string", name)
                               : herr_set(e, HERR_INVALID_FIELD, "%s[%zu] must be a string", name, i);
    if (json_string_length(v) == 0)
        return i == (size_t)-1 ? herr_set(e, HERR_OUT_OF_RANGE, "%s must not be empty", name)
                               : herr_set(e, HERR_OUT_OF_RANGE, "%s[%zu] must not be empty", name, i);
    int k = r->n_texts;
    if (take_string(v, &r->texts[k], &r->lens[k])) return herr_set(e, HERR_INTERNAL, "out of memory");
    r->n_texts++;
    return 0;
}

int req_parse_sentiment(const char *body, size_t len, int max_texts, tf_sentiment_request *r,
                        tf_http_error *e) {
    memset(r, 0, sizeof *r);
    json_t *root = req_load_object(body, len, e);
    if (!root) return -1;
    int rc = 0;
    json_t *text = NULL, *texts = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (json_is_null(v)) continue;
        if (strcmp(key, "text") == 0) text = v;
        else if (strcmp(key, "texts") == 0) texts = v;
        else if (strcmp(key, "truncate") == 0) {
            if (!json_is_boolean(v)) {
                rc = herr_set(e, HERR_INVALID_FIELD, "truncate must be a boolean");
                goto done;
            }
            r->truncate = json_is_true(v);
        } else if (strcmp(key, "return_attention") == 0) {
            if ((rc = attnfull_parse_mode(v, key, &r->return_attention, e)) < 0) goto done;
        } else if (strcmp(key, "attention_layers") == 0 || strcmp(key, "attention_heads") == 0) {
            tf_attn_pick *p = &r->attn_pick;
            int layers = strcmp(key, "attention_layers") == 0;
            if ((rc = attnfull_parse_indices(v, key, layers ? &p->layers : &p->heads,
                                             layers ? &p->n_layers : &p->n_heads, e)) < 0)
                goto done;
        } else if (strcmp(key, "model") == 0) {
            if (!json_is_string(v)) {
                rc = herr_set(e, HERR_INVALID_FIELD, "model must be a string");
                goto done;
            }
            if (take_string(v, &r->model, NULL)) {
                rc = herr_set(e, HERR_INTERNAL, "out of memory");
                goto done;
            }
        } else {
            rc = herr_set(e, HERR_INVALID_FIELD, "unknown field '%.64s'", key);
            goto done;
        }
    }
    if (!text == !texts) {
        rc = herr_set(e, HERR_INVALID_FIELD, "give exactly one of text (a string) and texts (an array of strings)");
        goto done;
    }
    if (texts && !json_is_array(texts)) {
        rc = herr_set(e, HERR_INVALID_FIELD, "texts must be an array of strings");
        goto done;
    }
    size_t n = texts ? json_array_size(texts) : 1;
    for (size_t i = 0; texts && i < n; i++) { /* the type first (400), then the limits */
        if (!json_is_string(json_array_get(texts, i))) {
            rc = herr_set(e, HERR_INVALID_FIELD, "texts[%zu] must be a string", i);
            goto done;
        }
    }
    if (n == 0) {
        rc = herr_set(e, HERR_OUT_OF_RANGE, "texts must hold at least one string");
        goto done;
    }
    if (n > (size_t)max_texts) {
        rc = herr_set(e, HERR_TOO_MANY_TEXTS, "texts holds %zu texts; at most %d per request", n, max_texts);
        goto done;
    }
    r->texts = calloc(n, sizeof *r->texts);
    r->lens = calloc(n, sizeof *r->lens);
    if (!r->texts || !r->lens) {
        rc = herr_set(e, HERR_INTERNAL, "out of memory");
        goto done;
    }
    if (text) rc = take_text(r, text, "text", (size_t)-1, e);
    for (size_t i = 0; texts && i < n && rc == 0; i++) rc = take_text(r, json_array_get(texts, i), "texts", i, e);
done:
    json_decref(root);
    if (rc < 0) req_sentiment_close(r);
    return rc;
}

void req_sentiment_close(tf_sentiment_request *r) {
    for (int i = 0; i < r->n_texts; i++) free(r->texts[i]);
    free(r->texts);
    free(r->lens);
    free(r->model);
    attnfull_pick_close(&r->attn_pick);
    memset(r, 0, sizeof *r);
}
