/* hf_config.c: config.json loading and bounded getters.
 *
 * DESIGN: the parsed jansson tree is kept whole and queried on demand; the
 * family code owns the table of which keys it reads with which defaults and
 * bounds, so this file only knows JSON types and ranges. Duplicate keys are
 * refused at parse time: with them, "which value wins" would depend on the
 * parser, and Python's json (what wrote the file) keeps the last one.
 */
#include "models/hf_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct tf_hf_config {
    char *path;  /* owned */
    json_t *root; /* owned, an object */
};

int hfc_load_file(const char *path, tf_hf_config **out, tf_err *err) {
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) < 0)
        return err_set(err, errno == ENOENT ? TF_ENOTFOUND : TF_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return err_set(err, TF_EFORMAT, "%s: not a regular file", path);
    if (sb.st_size > TF_HFC_MAX_BYTES)
        return err_set(err, TF_EFORMAT, "%s: %lld bytes, larger than the %d-byte limit for a config", path,
                       (long long)sb.st_size, TF_HFC_MAX_BYTES);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) return err_set(err, TF_EFORMAT, "%s: not valid JSON: %s (line %d)", path, je.text, je.line);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, TF_EFORMAT, "%s: top level is not a JSON object", path);
    }
    tf_hf_config *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        json_decref(root);
        return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    }
    c->root = root;
    *out = c;
    return 0;
}

int hfc_load(const char *dir, tf_hf_config **out, tf_err *err) {
    size_t n = strlen(dir) + sizeof "/config.json";
    char *path = malloc(n);
    if (!path) return err_set(err, TF_ENOMEM, "%s: out of memory", dir);
    snprintf(path, n, "%s/config.json", dir);
    int rc = hfc_load_file(path, out, err);
    free(path);
    return rc;
}

void hfc_free(tf_hf_config *c) {
    if (!c) return;
    json_decref(c->root);
    free(c->path);
    free(c);
}

/* The value of key, or NULL when absent or null. */
static json_t *hfc_get(const tf_hf_config *c, const char *key) {
    json_t *v = c ? json_object_get(c->root, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

int hfc_has(const tf_hf_config *c, const char *key) {
    return hfc_get(c, key) != NULL;
}

int hfc_int(const tf_hf_config *c, const char *key, int dflt, int min, int max, int *out, tf_err *err) {
    json_t *v = hfc_get(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v))
        return err_set(err, TF_EFORMAT, "%s: %s must be an integer in [%d, %d] (got a JSON %s)", c->path, key, min, max,
                       json_is_real(v) ? "real" : json_is_string(v) ? "string" : "non-number");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return err_set(err, TF_ERANGE, "%s: %s must be an integer in [%d, %d] (got %lld)", c->path, key, min, max,
                       (long long)x);
    *out = (int)x;
    return 0;
}

int hfc_float(const tf_hf_config *c, const char *key, double dflt, double min, double max, double *out,
              tf_err *err) {
    json_t *v = hfc_get(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v))
        return err_set(err, TF_EFORMAT, "%s: %s must be a number in [%g, %g]", c->path, key, min, max);
    double x = json_number_value(v);
    if (!(x >= min && x <= max))
        return err_set(err, TF_ERANGE, "%s: %s must be a number in [%g, %g] (got %g)", c->path, key, min, max, x);
    *out = x;
    return 0;
}

int hfc_bool(const tf_hf_config *c, const char *key, int dflt, int *out, tf_err *err) {
    json_t *v = hfc_get(c, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) return err_set(err, TF_EFORMAT, "%s: %s must be true or false", c->path, key);
    *out = json_is_true(v);
    return 0;
}

const char *hfc_str(const tf_hf_config *c, const char *key, const char *dflt) {
    const char *s = json_string_value(hfc_get(c, key));
    return s ? s : dflt;
}

int hfc_str_checked(const tf_hf_config *c, const char *key, const char *dflt, const char **out, tf_err *err) {
    json_t *v = hfc_get(c, key);
    if (v && !json_is_string(v)) return err_set(err, TF_EFORMAT, "%s: %s must be a string", c->path, key);
    *out = v ? json_string_value(v) : dflt;
    return 0;
}

const char *hfc_architecture(const tf_hf_config *c) {
    return json_string_value(json_array_get(hfc_get(c, "architectures"), 0));
}

const char *hfc_path(const tf_hf_config *c) {
    return c ? c->path : NULL;
}

const json_t *hfc_json(const tf_hf_config *c) {
    return c ? c->root : NULL;
}
