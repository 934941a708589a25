/* text_task.h: turning a translate/summarize request into encoder inputs (module prefix
 * tt_), shared by the CLI (server/cli_t5.c) and the HTTP routes.
 *
 *     const char *prefix;
 *     if (tt_translation_prefix(m, "en", "de", &prefix, &err) < 0) -> 422, err.msg lists pairs
 *     tt_encode(m, prefix, text, truncate, &ids, &n, &truncated, &err);   // TF_ETOOLONG -> 422
 *     seq_new(m, ids, n, &p, &s, &err);
 *
 * Thread-safety: pure functions over a loaded model.
 */
#ifndef TF_SERVER_TEXT_TASK_H
#define TF_SERVER_TEXT_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"

/* The task prefix for translating src -> tgt ("en", "de"). TF_ENOTFOUND when the model does
 * not translate that pair; the message lists the pairs it does ("en->de, en->fr"). */
int tt_translation_prefix(const tf_model *m, const char *src, const char *tgt, const char **prefix,
                          tf_err *err);
/* The summarization prefix; TF_ENOTFOUND when the model has none. */
int tt_summarize_prefix(const tf_model *m, const char **prefix, tf_err *err);
/* Writes the supported pairs as "en->de, en->fr" into buf (always NUL-terminated). */
void tt_translation_pairs(const tf_model *m, char *buf, size_t cap);

/* prefix + text, tokenized (</s> appended by the tokenizer). Longer than the model's input
 * limit (info.n_ctx): with truncate, cut to the limit keeping the final </s> and set
 * *truncated; else TF_ETOOLONG naming both lengths. *ids is malloc'd. */
int tt_encode(const tf_model *m, const char *prefix, const char *text, size_t text_len,
              int truncate, int32_t **ids, int *n_ids, int *truncated, tf_err *err);

#endif
