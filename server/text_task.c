/* DESIGN: the request-shaping rules for text-to-text tasks live in one place so the CLI
 * and the routes cannot disagree: where the prefix comes from (the model's task table),
 * how an over-long input is handled (refused unless truncation is asked for, then cut
 * the way transformers' truncation=True does: the text's tokens, then </s>). */
#include "server/text_task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tt_translation_pairs(const tf_model *m, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    const char *key;
    for (int i = 0; (key = model_task_key(m, i)) != NULL; i++) {
        char src[16], tgt[16];
        if (sscanf(key, "translation_%15[^_]_to_%15s", src, tgt) != 2) continue;
        int w = snprintf(buf + n, cap - n, "%s%s->%s", n ? ", " : "", src, tgt);
        if (w < 0 || (size_t)w >= cap - n) {
            buf[n] = 0; /* whole entries only */
            break;
        }
        n += (size_t)w;
    }
}

int tt_translation_prefix(const tf_model *m, const char *src, const char *tgt, const char **prefix,
                          tf_err *err) {
    char key[96];
    snprintf(key, sizeof key, "translation_%s_to_%s", src, tgt);
    *prefix = strlen(src) < 16 && strlen(tgt) < 16 ? model_task_prefix(m, key) : NULL;
    if (*prefix) return 0;
    char pairs[512];
    tt_translation_pairs(m, pairs, sizeof pairs);
    return err_set(err, TF_ENOTFOUND, "this model does not translate %.15s->%.15s; supported: %s",
                   src, tgt, pairs[0] ? pairs : "none");
}

int tt_summarize_prefix(const tf_model *m, const char **prefix, tf_err *err) {
    *prefix = model_task_prefix(m, "summarization");
    return *prefix ? 0 : err_set(err, TF_ENOTFOUND, "this model does not summarize");
}

int tt_encode(const tf_model *m, const char *prefix, const char *text, size_t text_len,
              int truncate, int32_t **ids, int *n_ids, int *truncated, tf_err *err) {
    *ids = NULL;
    *n_ids = 0;
    *truncated = 0;
    const size_t np = strlen(prefix);
    char *full = malloc(np + text_len + 1);
    if (!full) return err_set(err, TF_ENOMEM, "input text");
    memcpy(full, prefix, np);
    memcpy(full + np, text, text_len);
    full[np + text_len] = 0;
    int rc = model_tokenize(m, full, np + text_len, ids, n_ids, err);
    free(full);
    if (rc < 0) return rc;
    const int limit = model_info(m)->n_ctx, eos = model_info(m)->eos_id;
    if (*n_ids <= limit) return 0;
    if (!truncate) {
        rc = err_set(err, TF_ETOOLONG, "the input is %d tokens; this model reads at most %d "
                     "(truncation was not requested)", *n_ids, limit);
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
        return rc;
    }
    const int ends_eos = eos >= 0 && (*ids)[*n_ids - 1] == eos;
    *n_ids = limit;
    if (ends_eos) (*ids)[limit - 1] = eos;
    *truncated = 1;
    return 0;
}
