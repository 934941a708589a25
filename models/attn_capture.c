/* DESIGN: "full" attention is a copy of softmax rows the kernels already have
 * (tf_attn_shape.capture), so all a request needs is somewhere to put them: one square
 * store per selected (layer, head) pair, sized once for the longest the request can get,
 * and a table the kernels index by head. One allocation for all stores keeps the free
 * path to two calls; calloc leaves untouched pages unmapped, so a short generation that
 * stops early pays only for the rows it wrote. An encoder-decoder sequence has three kinds
 * (encoder, decoder, cross), each a table like a decoder's; only the cross matrices are
 * not square (target rows, source keys). Under beam search the decoder and cross stores
 * have a row per beam per position (models/beam_attn.c picks the answer's at the end). */
#include <stdlib.h>
#include <string.h>

#include "models/model_impl.h"

/* Marks list[0, n) in want[0, max); an empty list marks all. TF_ERANGE on a bad index. */
static int mark(const int *list, int n, int max, unsigned char *want, const char *what,
                tf_err *err) {
    if (n == 0) {
        memset(want, 1, (size_t)max);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (list[i] < 0 || list[i] >= max)
            return err_set(err, TF_ERANGE, "attention %s index %d is outside [0, %d)", what,
                           list[i], max);
        if (want[list[i]])
            return err_set(err, TF_ERANGE, "attention %s index %d is listed twice", what, list[i]);
        want[list[i]] = 1;
    }
    return 0;
}

int attn_capture_alloc(int n_layer, int n_head, const tf_attn_select *sel, int n, float **rows,
                       float ***table, tf_err *err) {
    return attn_capture_alloc_rect(n_layer, n_head, sel, n, n, rows, table, err);
}

int attn_capture_alloc_rect(int n_layer, int n_head, const tf_attn_select *sel, int n_rows,
                            int n_cols, float **rows, float ***table, tf_err *err) {
    *rows = NULL;
    *table = NULL;
    if (n_layer <= 0 || n_head <= 0)
        return err_set(err, TF_EUNSUPPORTED, "this model reports no attention heads");
    unsigned char *want_l = calloc((size_t)n_layer + (size_t)n_head, 1);
    if (!want_l) return err_set(err, TF_ENOMEM, "attention selection");
    unsigned char *want_h = want_l + n_layer;
    int rc = mark(sel->layers, sel->n_layers, n_layer, want_l, "layer", err);
    if (rc == 0) rc = mark(sel->heads, sel->n_heads, n_head, want_h, "head", err);
    if (rc < 0) {
        free(want_l);
        return rc;
    }
    const size_t n_l = sel->n_layers ? (size_t)sel->n_layers : (size_t)n_layer;
    const size_t n_h = sel->n_heads ? (size_t)sel->n_heads : (size_t)n_head;
    const size_t per = (size_t)n_rows * (size_t)n_cols;
    float **tab = calloc((size_t)n_layer * (size_t)n_head, sizeof *tab);
    float *store = calloc(n_l * n_h * per, sizeof *store);
    if (!tab || !store) {
        free(want_l), free(tab), free(store);
        return err_set(err, TF_ENOMEM, "attention weights: %zu floats", n_l * n_h * per);
    }
    float *next = store;
    for (int l = 0; l < n_layer; l++)
        for (int h = 0; h < n_head; h++)
            if (want_l[l] && want_h[h]) {
                tab[(size_t)l * n_head + h] = next;
                next += per;
            }
    free(want_l);
    *rows = store;
    *table = tab;
    return 0;
}

void attn_capture_encdec_free(tf_attn_encdec_store *st) {
    if (!st) return;
    for (int i = 0; i < 3; i++) free(st->rows[i]);
    free(st->enc);
    free(st->dec);
    free(st->cross);
    free(st);
}

int attn_capture_encdec_new(int n_enc_layer, int n_dec_layer, int n_head, const tf_attn_select *sel,
                            int n_src, int n_dec_rows, int n_beams, tf_attn_encdec_store **out, tf_err *err) {
    *out = NULL;
    tf_attn_encdec_store *st = calloc(1, sizeof *st);
    if (!st) return err_set(err, TF_ENOMEM, "attention weights");
    const int rows = n_dec_rows * n_beams; /* seq_new bounds both: no overflow */
    int rc = attn_capture_alloc(n_enc_layer, n_head, sel, n_src, &st->rows[0], &st->enc, err);
    if (rc == 0)
        rc = attn_capture_alloc_rect(n_dec_layer, n_head, sel, rows, n_dec_rows, &st->rows[1], &st->dec, err);
    if (rc == 0) rc = attn_capture_alloc_rect(n_dec_layer, n_head, sel, rows, n_src, &st->rows[2], &st->cross, err);
    if (rc < 0) {
        attn_capture_encdec_free(st);
        return rc;
    }
    st->view = (tf_attn_encdec_full){.enc = (const float *const *)st->enc, .dec = (const float *const *)st->dec,
                                     .cross = (const float *const *)st->cross, .n_enc_layer = n_enc_layer,
                                     .n_dec_layer = n_dec_layer, .n_head = n_head, .n_src = n_src,
                                     .n_rows = 0, .dec_ld = n_dec_rows};
    *out = st;
    return 0;
}
