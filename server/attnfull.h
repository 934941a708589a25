/* attnfull.h: `"return_attention": "full"`: which weights a request may have, and their
 * JSON (prefix attnfull_).
 *
 * A request names the (layer, head) pairs it wants with `attention_layers` and
 * `attention_heads` (arrays of indices; absent = all). What it would get back is counted
 * at admission from the most it can get (every position it may feed), and a request over
 * the configured bound (attn_full_max_weights) is refused with a 422 that states the count,
 * the bound and how to get under it, before anything is computed or allocated.
 *
 *     tf_attn_pick pick = {0};   // from attnfull_parse_indices on the request's fields
 *     if (attnfull_check_pick(&pick, mode, n_layer, n_head, &e) < 0) -> 422
 *     if (attnfull_admit_causal(&pick, n_layer, n_head, n_rows_max, bound, &e) < 0) -> 422
 *     params.attn_full = 1;  params.attn_sel = attnfull_select(&pick);
 *     ... json_object_set_new(attention, "full", attnfull_json(...));
 *     attnfull_pick_close(&pick);
 *
 * Thread-safety: stateless.
 */
#ifndef TF_SERVER_ATTNFULL_H
#define TF_SERVER_ATTNFULL_H

#include <jansson.h>
#include <stdint.h>

#include "models/model.h"
#include "server/errors.h"

/* `return_attention` values. */
enum { ATTN_RET_NONE = 0, ATTN_RET_SUMMARY = 1, ATTN_RET_FULL = 2 };

/* Longest attention_layers / attention_heads list a request may send. */
#define ATTNFULL_MAX_INDICES 1024

typedef struct tf_attn_pick {
    int *layers; /* owned, [n_layers]; NULL = every layer */
    int n_layers;
    int *heads;  /* owned, [n_heads]; NULL = every head */
    int n_heads;
} tf_attn_pick;

void attnfull_pick_close(tf_attn_pick *p);

/* "none" | "summary" | "full" -> ATTN_RET_*; 400 for a non-string, 422 for another value. */
int attnfull_parse_mode(json_t *v, const char *field, int *mode, tf_http_error *e);
/* A non-empty array of distinct integers >= 0, at most ATTNFULL_MAX_INDICES: 400 for a
 * wrong type, 422 for an empty list, a negative or repeated index. *out is malloc'd. */
int attnfull_parse_indices(json_t *v, const char *field, int **out, int *n, tf_http_error *e);

/* 422 when the pick names a layer or head the model does not have, or when it is given
 * without mode ATTN_RET_FULL. */
int attnfull_check_pick(const tf_attn_pick *p, int mode, int n_layer, int n_head, tf_http_error *e);

/* Weights a full answer holds: pairs x (causal: n_rows (n_rows + 1) / 2, one row per
 * position, row p with p + 1 keys; else n_rows^2). Saturates at UINT64_MAX. */
uint64_t attnfull_n_weights(const tf_attn_pick *p, int n_layer, int n_head, int64_t n_rows, int causal);

/* Decoders: 422 when the weights for n_rows_max rows exceed bound. */
int attnfull_admit_causal(const tf_attn_pick *p, int n_layer, int n_head, int n_rows_max, uint64_t bound,
                          tf_http_error *e);
/* Encoders: the texts' square matrices together against bound. */
int attnfull_admit_square(const tf_attn_pick *p, int n_layer, int n_head, const int *n_ids, int n_texts,
                          uint64_t bound, tf_http_error *e);

/* Encoder-decoder models: per text, the encoder's (source^2), the decoder's (causal over
 * n_tgt_max rows) and the cross-attention's (n_tgt_max x source) weights of the picked
 * pairs of each stack, all texts together, against bound; 422 over it. n_tgt_max: every
 * decoder position a text may feed (max_new_tokens). With n_beams > 1 the decoder and
 * cross terms count n_beams times: the engine holds every beam's rows until the search
 * ends, though the answer has one hypothesis's. */
int attnfull_admit_encdec(const tf_attn_pick *p, int n_enc_layer, int n_dec_layer, int n_head, const int *n_src,
                          int n_texts, int n_tgt_max, int n_beams, uint64_t bound, tf_http_error *e);

/* The engine's view of the pick (borrows its arrays). */
tf_attn_select attnfull_select(const tf_attn_pick *p);

/* {"layers": [..], "heads": [..], "causal": bool, "tokens": [n_rows strings],
 *  "weights": [layer][head][query] rows} for the picked pairs, in the order the pick lists
 * them. table: [n_layer * n_head] stores (NULL for pairs not kept), row q at q * ld with
 * q + 1 (causal) or n_rows weights, rounded to 6 decimals. ids: the n_rows tokens. NULL on
 * OOM. */
json_t *attnfull_json(const tf_model *m, const int32_t *ids, int n_rows, const float *const *table, int ld,
                      int n_layer, int n_head, const tf_attn_pick *p, int causal);

/* {"source_tokens": [n_src], "target_tokens": [n_rows] (the decoder's inputs: its start
 * token, then the generated ids but the last), "encoder" | "decoder" | "cross": {"layers",
 * "heads", "causal", "weights": [layer][head][row]}} for the picked pairs of each stack.
 * src: the n_src encoder ids; gen: the generated ids (at least n_rows - 1). NULL on OOM. */
json_t *attnfull_encdec_json(const tf_model *m, const int32_t *src, const int32_t *gen,
                             const tf_attn_encdec_full *f, const tf_attn_pick *p);

#endif
