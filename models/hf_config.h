/* hf_config.h: read access to a checkpoint's config.json, with bounds.
 *
 * Every getter that can fail checks the JSON type and the allowed range and
 * says which key was wrong, in which file, and what was allowed:
 *   "models/gpt2/config.json: n_head must be an integer in [1, 1024] (got 0)".
 * A key that is absent or JSON null takes the default (HF writes null for
 * "use the default", e.g. GPT-2's n_inner).
 *
 *     tf_hf_config *cfg;  int n_embd;
 *     if (hfc_load(dir, &cfg, &err) < 0) return err.code;
 *     if (hfc_int(cfg, "n_embd", 768, 1, 65536, &n_embd, &err) < 0) goto fail;
 *     const char *arch = hfc_architecture(cfg);   // "GPT2LMHeadModel"
 *     hfc_free(cfg);
 *
 * Thread-safety: read-only after hfc_load; any number of readers.
 */
#ifndef TF_MODELS_HF_CONFIG_H
#define TF_MODELS_HF_CONFIG_H

#include <jansson.h>

#include "core/err.h"

/* config.json beyond this is not a config file; refusing early bounds the parse. */
#define TF_HFC_MAX_BYTES (16 * 1024 * 1024)

typedef struct tf_hf_config tf_hf_config;

int hfc_load(const char *dir, tf_hf_config **out, tf_err *err); /* dir/config.json */
/* Parses an explicit file (tests, fuzzing); `path` is used in messages. */
int hfc_load_file(const char *path, tf_hf_config **out, tf_err *err);
void hfc_free(tf_hf_config *c); /* NULL is a no-op */

int hfc_has(const tf_hf_config *c, const char *key); /* present and not null */
/* Absent/null: *out = dflt. Present: must be a JSON integer in [min, max]. */
int hfc_int(const tf_hf_config *c, const char *key, int dflt, int min, int max, int *out, tf_err *err);
/* Absent/null: *out = dflt. Present: a JSON number (integer or real) in [min, max]. */
int hfc_float(const tf_hf_config *c, const char *key, double dflt, double min, double max, double *out,
              tf_err *err);
/* Absent/null: *out = dflt. Present: must be true or false. */
int hfc_bool(const tf_hf_config *c, const char *key, int dflt, int *out, tf_err *err);
/* Borrowed string value; dflt when absent, null or not a string. */
const char *hfc_str(const tf_hf_config *c, const char *key, const char *dflt);
/* Like hfc_str, but a present value that is not a string is an error. */
int hfc_str_checked(const tf_hf_config *c, const char *key, const char *dflt, const char **out, tf_err *err);
const char *hfc_architecture(const tf_hf_config *c); /* architectures[0] or NULL */
const char *hfc_path(const tf_hf_config *c);         /* the file it came from (borrowed) */
/* The parsed root object, borrowed, for family-specific structure (id2label, ...). */
const json_t *hfc_json(const tf_hf_config *c);

#endif
