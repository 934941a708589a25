/* DESIGN: "full" attention is a copy of softmax rows the kernels already have
 * (tf_attn_shape.capture), so all a request needs is somewhere to put them: one square
 * store per selected (layer, head) pair, sized once for the longest the request can get,
 * and a table the kernels index by head. One allocation for all stores keeps the free
 * path to two calls; calloc leaves untouched pages unmapped, so a short generation that
 * stops early pays only for the rows it wrote. */
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
    const size_t per = (size_t)n * (size_t)n;
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
