/* attnfull.c: selection, size bound and JSON of full attention weights.
 *
 * DESIGN: the bound counts what the answer would carry, not what the engine allocates:
 * that is the number a client can reason about ("2 layers x 12 heads x 135 rows"), and
 * the engine's square stores are at most about twice it. It is computed from the most
 * the request can feed (prompt + max_new_tokens - 1 positions for a decoder, since the
 * last generated token is never fed), so a request is refused before it runs rather than
 * cut off after. Weights are rounded to 6 decimals: a 250k-weight answer is ~2 MB of
 * JSON instead of ~3.5 MB at float precision, and rows still sum to 1 within n * 5e-7.
 */
#include "server/attnfull.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/utf8.h"

void attnfull_pick_close(tf_attn_pick *p) {
    free(p->layers);
    free(p->heads);
    memset(p, 0, sizeof *p);
}

int attnfull_parse_mode(json_t *v, const char *field, int *mode, tf_http_error *e) {
    static const char *const names[] = {"none", "summary", "full"};
    if (!json_is_string(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be a string", field);
    for (int i = 0; i < 3; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *mode = i;
            return 0;
        }
    return herr_set(e, HERR_OUT_OF_RANGE, "%s must be one of \"summary\", \"full\", \"none\"", field);
}

int attnfull_parse_indices(json_t *v, const char *field, int **out, int *n, tf_http_error *e) {
    if (!json_is_array(v)) return herr_set(e, HERR_INVALID_FIELD, "%s must be an array of integers", field);
    size_t k = json_array_size(v);
    if (k == 0) return herr_set(e, HERR_OUT_OF_RANGE, "%s must not be empty (leave it out for all)", field);
    if (k > ATTNFULL_MAX_INDICES)
        return herr_set(e, HERR_OUT_OF_RANGE, "%s may hold at most %d indices, got %zu", field,
                        ATTNFULL_MAX_INDICES, k);
    int *a = malloc(sizeof *a * k);
    if (!a) return herr_set(e, HERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < k; i++) {
        json_t *x = json_array_get(v, i);
        int rc = 0;
        if (!json_is_integer(x)) rc = herr_set(e, HERR_INVALID_FIELD, "%s[%zu] must be an integer", field, i);
        else if (json_integer_value(x) < 0 || json_integer_value(x) >= 1 << 20)
            rc = herr_set(e, HERR_OUT_OF_RANGE, "%s[%zu] must be between 0 and %d, got %lld", field, i,
                          (1 << 20) - 1, (long long)json_integer_value(x));
        if (rc == 0) {
            a[i] = (int)json_integer_value(x);
            for (size_t j = 0; j < i && rc == 0; j++)
                if (a[j] == a[i]) rc = herr_set(e, HERR_OUT_OF_RANGE, "%s lists %d twice", field, a[i]);
        }
        if (rc < 0) {
            free(a);
            return rc;
        }
    }
    free(*out); /* JSON_REJECT_DUPLICATES makes this a no-op; keep it leak-free anyway */
    *out = a;
    *n = (int)k;
    return 0;
}

static int check_list(const int *list, int n, int max, const char *field, const char *what, tf_http_error *e) {
    for (int i = 0; i < n; i++)
        if (list[i] >= max)
            return herr_set(e, HERR_OUT_OF_RANGE, "%s[%d] = %d is out of range: the model has %d %s (0 to %d)",
                            field, i, list[i], max, what, max - 1);
    return 0;
}

int attnfull_check_pick(const tf_attn_pick *p, int mode, int n_layer, int n_head, tf_http_error *e) {
    if ((p->n_layers || p->n_heads) && mode != ATTN_RET_FULL)
        return herr_set(e, HERR_OUT_OF_RANGE, "%s needs \"return_attention\": \"full\"",
                        p->n_layers ? "attention_layers" : "attention_heads");
    if (mode == ATTN_RET_FULL && (n_layer <= 0 || n_head <= 0))
        return herr_set(e, HERR_OUT_OF_RANGE, "return_attention \"full\": this model reports no attention weights");
    if (check_list(p->layers, p->n_layers, n_layer, "attention_layers", "layers", e) < 0) return -1;
    return check_list(p->heads, p->n_heads, n_head, "attention_heads", "heads", e);
}

static uint64_t sat_mul(uint64_t a, uint64_t b) {
    if (a && b > UINT64_MAX / a) return UINT64_MAX;
    return a * b;
}

static uint64_t n_pairs(const tf_attn_pick *p, int n_layer, int n_head) {
    return (uint64_t)(p->n_layers ? p->n_layers : n_layer) * (uint64_t)(p->n_heads ? p->n_heads : n_head);
}

uint64_t attnfull_n_weights(const tf_attn_pick *p, int n_layer, int n_head, int64_t n_rows, int causal) {
    if (n_rows <= 0) return 0;
    uint64_t r = (uint64_t)n_rows;
    uint64_t per = causal ? sat_mul(r, r + 1) / 2 : sat_mul(r, r);
    if (per == UINT64_MAX) return per;
    return sat_mul(n_pairs(p, n_layer, n_head), per);
}

/* The refusal: what the request would get, the bound, and the knobs that lower it. */
static int over(uint64_t n, uint64_t bound, const tf_attn_pick *p, int n_layer, int n_head, const char *rows,
                const char *shorter, tf_http_error *e) {
    return herr_set(e, HERR_OUT_OF_RANGE,
                    "return_attention \"full\" would return %llu weights (%d layers x %d heads x %s), "
                    "over the bound attn_full_max_weights (%llu): pick fewer attention_layers/attention_heads or %s",
                    (unsigned long long)n, p->n_layers ? p->n_layers : n_layer, p->n_heads ? p->n_heads : n_head,
                    rows, (unsigned long long)bound, shorter);
}

int attnfull_admit_causal(const tf_attn_pick *p, int n_layer, int n_head, int n_rows_max, uint64_t bound,
                          tf_http_error *e) {
    uint64_t n = attnfull_n_weights(p, n_layer, n_head, n_rows_max, 1);
    if (n <= bound) return 0;
    char rows[96];
    snprintf(rows, sizeof rows, "%d causal rows", n_rows_max);
    return over(n, bound, p, n_layer, n_head, rows, "lower max_new_tokens or the prompt", e);
}

int attnfull_admit_square(const tf_attn_pick *p, int n_layer, int n_head, const int *n_ids, int n_texts,
                          uint64_t bound, tf_http_error *e) {
    uint64_t n = 0;
    int64_t tokens = 0;
    for (int i = 0; i < n_texts; i++) {
        uint64_t t = attnfull_n_weights(p, n_layer, n_head, n_ids[i], 0);
        n = n > UINT64_MAX - t ? UINT64_MAX : n + t;
        tokens += n_ids[i];
    }
    if (n <= bound) return 0;
    char rows[96];
    snprintf(rows, sizeof rows, "tokens^2 over %d text%s of %lld tokens", n_texts, n_texts == 1 ? "" : "s",
             (long long)tokens);
    return over(n, bound, p, n_layer, n_head, rows, "send fewer or shorter texts", e);
}

int attnfull_admit_encdec(const tf_attn_pick *p, int n_enc_layer, int n_dec_layer, int n_head, const int *n_src,
                          int n_texts, int n_tgt_max, int n_beams, uint64_t bound, tf_http_error *e) {
    uint64_t n = 0;
    int64_t tokens = 0;
    const uint64_t dec_pairs = n_pairs(p, n_dec_layer, n_head), beams = n_beams > 1 ? (uint64_t)n_beams : 1;
    for (int i = 0; i < n_texts; i++) {
        /* under beam search every beam's decoder and cross rows are held until it ends */
        uint64_t t[3] = {attnfull_n_weights(p, n_enc_layer, n_head, n_src[i], 0),
                         sat_mul(beams, attnfull_n_weights(p, n_dec_layer, n_head, n_tgt_max, 1)),
                         sat_mul(beams, sat_mul(dec_pairs, sat_mul((uint64_t)n_tgt_max, (uint64_t)n_src[i])))};
        for (int k = 0; k < 3; k++) n = n > UINT64_MAX - t[k] ? UINT64_MAX : n + t[k];
        tokens += n_src[i];
    }
    if (n <= bound) return 0;
    const int L_enc = p->n_layers ? p->n_layers : n_enc_layer, L_dec = p->n_layers ? p->n_layers : n_dec_layer;
    const int H = p->n_heads ? p->n_heads : n_head;
    /* every number is in it, within the 255 characters a message holds (at ordinary sizes) */
    if (beams > 1)
        return herr_set(e, HERR_OUT_OF_RANGE,
                        "return_attention \"full\": %llu weights (%d text%s, %lld source tokens; encoder %dx%d pairs x "
                        "src^2, decoder+cross %dx%d pairs x %d beams x (%d causal rows + %d x src)) over "
                        "attn_full_max_weights (%llu): lower num_beams, max_new_tokens or attention_layers/heads",
                        (unsigned long long)n, n_texts, n_texts == 1 ? "" : "s", (long long)tokens, L_enc, H, L_dec, H,
                        n_beams, n_tgt_max, n_tgt_max, (unsigned long long)bound);
    return herr_set(e, HERR_OUT_OF_RANGE,
                    "return_attention \"full\": %llu weights (%d text%s, %lld source tokens; encoder %dx%d pairs x "
                    "src^2, decoder+cross %dx%d pairs x (%d causal rows + %d x src)) over attn_full_max_weights "
                    "(%llu): fewer attention_layers/heads, lower max_new_tokens or shorter texts",
                    (unsigned long long)n, n_texts, n_texts == 1 ? "" : "s", (long long)tokens, L_enc, H, L_dec, H,
                    n_tgt_max, n_tgt_max, (unsigned long long)bound);
}

tf_attn_select attnfull_select(const tf_attn_pick *p) {
    return (tf_attn_select){.layers = p->layers, .n_layers = p->n_layers, .heads = p->heads, .n_heads = p->n_heads};
}

/* ---- JSON ---- */

static json_t *index_list(const int *list, int n, int all) {
    json_t *a = json_array();
    for (int i = 0; a && i < (list ? n : all); i++) json_array_append_new(a, json_integer(list ? list[i] : i));
    return a;
}

static json_t *token_strings(const tf_model *m, const int32_t *ids, int n) {
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) {
        char *text = NULL, *fixed = NULL;
        size_t len = 0, flen = 0;
        tf_err err = {0};
        /* One token alone may be part of a UTF-8 character: shown repaired (U+FFFD). */
        if (model_detokenize(m, &ids[i], 1, &text, &len, &err) == 0) fixed = utf8_repair(text, len, &flen);
        json_array_append_new(a, fixed ? json_stringn(fixed, flen) : json_string(""));
        free(text);
        free(fixed);
    }
    return a;
}

/* [layer][head][row] of the picked pairs: row q has q + 1 (causal) or n_cols weights. */
static json_t *weights_json(const float *const *table, int n_rows, int n_cols, int ld, int n_layer, int n_head,
                            const tf_attn_pick *p, int causal) {
    json_t *weights = json_array();
    const int nl = p->layers ? p->n_layers : n_layer, nh = p->heads ? p->n_heads : n_head;
    for (int li = 0; weights && li < nl; li++) {
        const int l = p->layers ? p->layers[li] : li;
        json_t *by_head = json_array();
        for (int hi = 0; by_head && hi < nh; hi++) {
            const int h = p->heads ? p->heads[hi] : hi;
            const float *w = table ? table[(size_t)l * n_head + h] : NULL;
            json_t *rows = json_array();
            for (int q = 0; rows && w && q < n_rows; q++) {
                const float *row = w + (size_t)q * ld;
                const int n_keys = causal ? q + 1 : n_cols;
                json_t *r = json_array();
                for (int k = 0; r && k < n_keys; k++) json_array_append_new(r, json_real(round(row[k] * 1e6) / 1e6));
                json_array_append_new(rows, r);
            }
            json_array_append_new(by_head, rows);
        }
        json_array_append_new(weights, by_head);
    }
    return weights;
}

json_t *attnfull_json(const tf_model *m, const int32_t *ids, int n_rows, const float *const *table, int ld,
                      int n_layer, int n_head, const tf_attn_pick *p, int causal) {
    return json_pack("{s:o,s:o,s:b,s:o,s:o}", "layers", index_list(p->layers, p->n_layers, n_layer), "heads",
                     index_list(p->heads, p->n_heads, n_head), "causal", causal, "tokens",
                     token_strings(m, ids, n_rows), "weights",
                     weights_json(table, n_rows, n_rows, ld, n_layer, n_head, p, causal));
}

static json_t *kind_json(const float *const *table, int n_rows, int n_cols, int ld, int n_layer, int n_head,
                         const tf_attn_pick *p, int causal) {
    return json_pack("{s:o,s:o,s:b,s:o}", "layers", index_list(p->layers, p->n_layers, n_layer), "heads",
                     index_list(p->heads, p->n_heads, n_head), "causal", causal, "weights",
                     weights_json(table, n_rows, n_cols, ld, n_layer, n_head, p, causal));
}

json_t *attnfull_encdec_json(const tf_model *m, const int32_t *src, const int32_t *gen,
                             const tf_attn_encdec_full *f, const tf_attn_pick *p) {
    const int n = f->n_rows;
    int32_t *tgt = malloc(sizeof *tgt * (size_t)(n > 0 ? n : 1));
    if (!tgt) return NULL;
    for (int i = 0; i < n; i++) tgt[i] = i == 0 ? f->dec_start_id : gen[i - 1];
    json_t *o = json_pack("{s:o,s:o,s:o,s:o,s:o}", "source_tokens", token_strings(m, src, f->n_src),
                          "target_tokens", token_strings(m, tgt, n), "encoder",
                          kind_json(f->enc, f->n_src, f->n_src, f->n_src, f->n_enc_layer, f->n_head, p, 0),
                          "decoder", kind_json(f->dec, n, n, f->dec_ld, f->n_dec_layer, f->n_head, p, 1), "cross",
                          kind_json(f->cross, n, f->n_src, f->n_src, f->n_dec_layer, f->n_head, p, 0));
    free(tgt);
    return o;
}
