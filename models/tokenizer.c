/* tokenizer.c: loading the HF tokenizer files, and encode/decode around the BPE core.
 *
 * DESIGN: everything is resolved to ids at load time (models/tok_bpe.c), so encoding
 * never touches a string table: sanitize the UTF-8 (one pass, a copy only when
 * something is ill-formed), cut the text at added tokens, pre-split each segment with
 * the GPT-2 regex (models/pretok.c) and merge each piece. Both file formats feed the
 * same three calls (add token, add merge, add special) so they cannot drift apart.
 * Unsupported features (normalizers, other pre-tokenizers, dropout, subword prefixes)
 * are refused with TF_EUNSUPPORTED naming the field, rather than silently mis-tokenized.
 */
#include "models/tokenizer.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pretok.h"
#include "models/tok_bpe.h"
#include "models/tok_unigram.h"
#include "models/tok_spm_bpe.h"
#include "models/unicode.h"

typedef struct tok_added {
    char *content; /* owned, raw text */
    size_t len;
    int32_t id;
    int lstrip, rstrip; /* absorb whitespace on that side into the token */
} tok_added;

struct tf_tokenizer {
    tok_bpe bpe;
    tok_added *added; /* owned, [n_added], longest content first */
    int n_added;
    uint8_t added_first[256]; /* 1 if some added token starts with this byte */
    int add_prefix_space;     /* ByteLevel: prepend " " to each segment between added tokens
                               * that does not start with one (the Rust pre-tokenizer's rule;
                               * the slow GPT2Tokenizer prefixes only the whole text) */
    int use_regex;            /* ByteLevel: pre-split with the GPT-2 regex */
    tok_unigram *ug;          /* owned; non-NULL: a SentencePiece Unigram model (T5), and
                               * bpe is unused */
    /* SentencePiece-style BPE (Llama): the vocab and merges live here; bpe then holds only
     * the added tokens. owned, NULL for byte-level BPE. */
    tok_spm *spm;
    int32_t pre_ids[4], post_ids[4]; /* added around every encoding (BOS/EOS templates) */
    int n_pre, n_post;
};

/* Files larger than this are refused: no GPT-2-family tokenizer file comes near it. */
#define TOK_MAX_FILE_BYTES ((long)256 << 20)

// --- shared building steps -------------------------------------------------------------

static int add_special(tf_tokenizer *t, const char *content, int32_t id, int lstrip, int rstrip,
                       const char *what, tf_err *err) {
    size_t len = strlen(content);
    if (len == 0) return err_set(err, TF_EFORMAT, "%s: empty added token (id %ld)", what, (long)id);
    if (id < 0) { /* a special token named without an id: the vocab's, else a new one */
        id = t->ug ? -1 : bpe_find(&t->bpe, content, len);
        if (id < 0) id = t->ug ? t->ug->n_ids : t->bpe.n_ids;
    }
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].content, content, len) == 0) {
            if (t->added[i].id != id)
                return err_set(err, TF_EFORMAT, "%s: added token \"%s\" has ids %ld and %ld", what,
                               content, (long)t->added[i].id, (long)id);
            return 0;
        }
    tf_err inner = {0};
    int rc = t->ug ? ug_add_special(t->ug, content, id) : bpe_add_token(&t->bpe, content, len, id, 1, &inner);
    if (rc < 0) return err_set(err, rc, "%s: added token \"%.64s\": %s", what, content, inner.msg);
    tok_added *a = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *a);
    if (!a) return err_set(err, TF_ENOMEM, "out of memory");
    t->added = a;
    char *copy = strdup(content);
    if (!copy) return err_set(err, TF_ENOMEM, "out of memory");
    t->added[t->n_added++] = (tok_added){copy, len, id, lstrip, rstrip};
    return 0;
}

static int cmp_added(const void *a, const void *b) {
    const tok_added *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int add_vocab(tf_tokenizer *t, json_t *vocab, const char *what, tf_err *err) {
    if (!json_is_object(vocab)) return err_set(err, TF_EFORMAT, "%s: vocab is not an object", what);
    size_t n = json_object_size(vocab);
    if (n == 0) return err_set(err, TF_EFORMAT, "%s: vocab is empty", what);
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        /* Ids beyond twice the entry count would only size tables for holes. */
        if (id < 0 || id >= TOK_MAX_ID || (size_t)id >= 2 * n + 1024)
            return err_set(err, TF_EFORMAT, "%s: vocab entry \"%.64s\" has a bad id (want an "
                           "integer in [0, %zu))", what, key, n * 2 + 1024 < TOK_MAX_ID ? n * 2 + 1024 : (size_t)TOK_MAX_ID);
        if (id < t->bpe.n_ids && t->bpe.str_off[id] != UINT32_MAX)
            return err_set(err, TF_EFORMAT, "%s: vocab id %ld is used twice", what, (long)id);
        tf_err inner = {0};
        int rc = bpe_add_token(&t->bpe, key, strlen(key), (int32_t)id, 0, &inner);
        if (rc < 0) return err_set(err, rc, "%s: %s", what, inner.msg);
    }
    return 0;
}

/* One merge "left right"; the rank is its position in the list. */
static int add_merge(tf_tokenizer *t, const char *left, size_t n_left, const char *right,
                     size_t n_right, size_t rank, char **buf, size_t *cap, const char *what,
                     tf_err *err) {
    if (rank >= INT32_MAX) return err_set(err, TF_EFORMAT, "%s: too many merges", what);
    int32_t a = bpe_find(&t->bpe, left, n_left), b = bpe_find(&t->bpe, right, n_right);
    if (n_left + n_right + 1 > *cap) {
        char *p = realloc(*buf, n_left + n_right + 1);
        if (!p) return err_set(err, TF_ENOMEM, "out of memory");
        *buf = p;
        *cap = n_left + n_right + 1;
    }
    memcpy(*buf, left, n_left);
    memcpy(*buf + n_left, right, n_right);
    int32_t ab = bpe_find(&t->bpe, *buf, n_left + n_right);
    if (a < 0 || b < 0 || ab < 0)
        return err_set(err, TF_EFORMAT, "%s: merge %zu (\"%.*s\" \"%.*s\") names a token not in "
                       "the vocab", what, rank, (int)(n_left > 64 ? 64 : n_left), left,
                       (int)(n_right > 64 ? 64 : n_right), right);
    if (bpe_add_merge(&t->bpe, a, b, ab, (int32_t)rank) < 0)
        return err_set(err, TF_ENOMEM, "out of memory");
    return 0;
}

/* Splits "left right" at its one space. */
static int add_merge_line(tf_tokenizer *t, const char *line, size_t len, size_t rank, char **buf,
                          size_t *cap, const char *what, tf_err *err) {
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len || memchr(sp + 1, ' ', (size_t)(line + len - sp - 1)))
        return err_set(err, TF_EFORMAT, "%s: merge %zu \"%.*s\" is not two tokens separated by "
                       "one space", what, rank, (int)(len > 64 ? 64 : len), line);
    return add_merge(t, line, (size_t)(sp - line), sp + 1, (size_t)(line + len - sp - 1), rank, buf,
                     cap, what, err);
}

static int load_json(const char *path, json_t **out, tf_err *err) {
    json_error_t je;
    *out = json_load_file(path, 0, &je);
    if (!*out) {
        int code = access(path, R_OK) == 0 ? TF_EFORMAT : TF_EIO;
        return err_set(err, code, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    }
    return 0;
}

static int bool_field(json_t *obj, const char *key, int dflt) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *type_of(json_t *obj) {
    const char *type = json_string_value(json_object_get(obj, "type"));
    return type ? type : "?";
}

// --- tokenizer.json -------------------------------------------------------------------

static int check_model(json_t *model, const char *path, tf_err *err) {
    json_t *type = json_object_get(model, "type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "BPE") != 0))
        return err_set(err, TF_EUNSUPPORTED, "%s: model.type \"%s\" (only BPE)", path, type_of(model));
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return err_set(err, TF_EUNSUPPORTED, "%s: model.dropout (BPE dropout)", path);
    static const char *const empty_fields[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(model, empty_fields[i]);
        if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0))
            return err_set(err, TF_EUNSUPPORTED, "%s: model.%s", path, empty_fields[i]);
    }
    if (bool_field(model, "byte_fallback", 0))
        return err_set(err, TF_EUNSUPPORTED, "%s: model.byte_fallback", path);
    return 0;
}

static int check_pipeline(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm))
        return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\"", path, type_of(norm));
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || strcmp(type_of(pre), "ByteLevel") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: pre_tokenizer \"%s\" (only ByteLevel)", path,
                       json_is_object(pre) ? type_of(pre) : "null");
    t->add_prefix_space = bool_field(pre, "add_prefix_space", 0);
    t->use_regex = bool_field(pre, "use_regex", 1);
    json_t *dec = json_object_get(root, "decoder");
    if (dec && !json_is_null(dec) && strcmp(type_of(dec), "ByteLevel") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: decoder \"%s\" (only ByteLevel)", path, type_of(dec));
    /* ByteLevel post-processing only trims offsets; anything else (templates adding
     * BOS/EOS) would change the ids. */
    json_t *post = json_object_get(root, "post_processor");
    if (post && !json_is_null(post) && strcmp(type_of(post), "ByteLevel") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: post_processor \"%s\"", path, type_of(post));
    return 0;
}

static int add_added_tokens(tf_tokenizer *t, json_t *added, const char *path, tf_err *err);
static int load_fast_spm(tf_tokenizer *t, json_t *root, const char *path, tf_err *err);

/* A Unigram tokenizer.json: "type": "Unigram", or the old dialect whose vocab is an array
 * of [piece, score] pairs. */
static int is_unigram(json_t *model) {
    const char *type = json_string_value(json_object_get(model, "type"));
    return type ? strcmp(type, "Unigram") == 0 : json_is_array(json_object_get(model, "vocab"));
}

static int load_unigram_json(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    if (!(t->ug = calloc(1, sizeof *t->ug))) return err_set(err, TF_ENOMEM, "out of memory");
    int rc = ug_load_json(t->ug, root, path, err);
    if (rc == 0) rc = add_added_tokens(t, json_object_get(root, "added_tokens"), path, err);
    if (rc == 0) rc = ug_finish(t->ug, path, err);
    return rc;
}

static int load_spiece(tf_tokenizer *t, const char *dir, tf_err *err) {
    if (!(t->ug = calloc(1, sizeof *t->ug))) return err_set(err, TF_ENOMEM, "out of memory");
    int rc = ug_load_spiece(t->ug, dir, err);
    for (int i = 0; i < t->ug->n_specials && rc == 0; i++)
        rc = add_special(t, t->ug->specials[i].content, t->ug->specials[i].id, 0, 0, "spiece.model", err);
    if (rc == 0) rc = ug_finish(t->ug, "spiece.model", err);
    return rc;
}

static int load_fast(tf_tokenizer *t, const char *path, tf_err *err) {
    json_t *root = NULL;
    char *buf = NULL;
    size_t cap = 0;
    int rc = load_json(path, &root, err);
    if (rc < 0) return rc;
    json_t *model = json_object_get(root, "model");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    if (!json_is_object(root) || !json_is_object(model)) {
        rc = err_set(err, TF_EFORMAT, "%s: no \"model\" object", path);
        goto done;
    }
    if (is_unigram(model)) {
        rc = load_unigram_json(t, root, path, err);
        goto done;
    }
    if (spm_bpe_detect(root)) {
        rc = load_fast_spm(t, root, path, err);
        goto done;
    }
    if ((rc = check_model(model, path, err)) < 0 || (rc = check_pipeline(t, root, path, err)) < 0)
        goto done;
    if (!json_is_array(merges)) {
        rc = err_set(err, TF_EFORMAT, "%s: model.merges is missing or not an array", path);
        goto done;
    }
    t->bpe.ignore_merges = bool_field(model, "ignore_merges", 0);
    if ((rc = add_vocab(t, json_object_get(model, "vocab"), path, err)) < 0) goto done;
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        if (json_is_string(m)) {
            rc = add_merge_line(t, json_string_value(m), json_string_length(m), i, &buf, &cap, path, err);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            json_t *l = json_array_get(m, 0), *r = json_array_get(m, 1);
            rc = add_merge(t, json_string_value(l), json_string_length(l), json_string_value(r),
                           json_string_length(r), i, &buf, &cap, path, err);
        } else {
            rc = err_set(err, TF_EFORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]",
                         path, i);
        }
        if (rc < 0) goto done;
    }
    if ((rc = add_added_tokens(t, added, path, err)) < 0) goto done;
    rc = bpe_finish(&t->bpe, path, err);
done:
    free(buf);
    json_decref(root);
    return rc;
}

static int add_added_tokens(tf_tokenizer *t, json_t *added, const char *path, tf_err *err) {
    int rc = 0;
    size_t i;
    json_t *m;
    if (added && !json_is_array(added))
        return err_set(err, TF_EFORMAT, "%s: added_tokens is not an array", path);
    json_array_foreach(added, i, m) {
        json_t *id = json_object_get(m, "id");
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!json_is_integer(id) || !content) {
            return err_set(err, TF_EFORMAT, "%s: added_tokens[%zu] needs an integer id and a content",
                           path, i);
        }
        json_int_t v = json_integer_value(id);
        if (v < 0 || v >= TOK_MAX_ID) {
            return err_set(err, TF_EFORMAT, "%s: added_tokens[%zu].id %lld outside [0, %d)", path, i,
                           (long long)v, TOK_MAX_ID);
        }
        /* single_word needs word-boundary rules we do not implement; refuse, don't guess. */
        rc = bool_field(m, "single_word", 0)
                 ? err_set(err, TF_EUNSUPPORTED, "%s: added_tokens[%zu].single_word", path, i)
                 : add_special(t, content, (int32_t)v, bool_field(m, "lstrip", 0),
                               bool_field(m, "rstrip", 0), path, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* TemplateProcessing "single": the special tokens before and after $A (BOS/EOS). */
static int parse_template(tf_tokenizer *t, json_t *post, const char *path, tf_err *err) {
    if (!post || json_is_null(post)) return 0;
    if (strcmp(type_of(post), "TemplateProcessing") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: post_processor \"%s\"", path, type_of(post));
    int after = 0;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(post, "single"), i, item) {
        if (json_object_get(item, "Sequence")) {
            after = 1;
            continue;
        }
        const char *name = json_string_value(json_object_get(json_object_get(item, "SpecialToken"), "id"));
        json_t *ids = json_object_get(json_object_get(json_object_get(post, "special_tokens"), name ? name : ""), "ids");
        size_t k;
        json_t *id;
        json_array_foreach(ids, k, id) {
            int *n = after ? &t->n_post : &t->n_pre;
            int32_t *dst = after ? t->post_ids : t->pre_ids;
            if (!json_is_integer(id) || *n >= 4)
                return err_set(err, TF_EUNSUPPORTED, "%s: post_processor.special_tokens \"%s\"",
                               path, name ? name : "?");
            dst[(*n)++] = (int32_t)json_integer_value(id);
        }
        if (!name || !ids)
            return err_set(err, TF_EFORMAT, "%s: post_processor.single[%zu] names no special token",
                           path, i);
    }
    return 0;
}

static int load_fast_spm(tf_tokenizer *t, json_t *root, const char *path, tf_err *err) {
    int rc = spm_bpe_load(root, path, &t->spm, err);
    if (rc < 0) return rc;
    if ((rc = add_added_tokens(t, json_object_get(root, "added_tokens"), path, err)) < 0) return rc;
    return parse_template(t, json_object_get(root, "post_processor"), path, err);
}

// --- vocab.json + merges.txt -----------------------------------------------------------

static int read_file(const char *path, char **out, size_t *len, tf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, TF_EIO, "%s: %s", path, strerror(errno));
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > TOK_MAX_FILE_BYTES || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return err_set(err, TF_EFORMAT, "%s: unreadable or larger than %ld bytes", path,
                       TOK_MAX_FILE_BYTES);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return err_set(err, TF_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return err_set(err, TF_EIO, "%s: short read", path);
    }
    buf[size] = 0;
    *out = buf;
    *len = (size_t)size;
    return 0;
}

/* merges.txt: one "left right" per line; the "#version" header and blank lines are skipped
 * (the HF Rust reader does the same). */
static int load_merges_txt(tf_tokenizer *t, const char *path, tf_err *err) {
    char *text = NULL, *buf = NULL;
    size_t len = 0, cap = 0, rank = 0;
    int rc = read_file(path, &text, &len, err);
    if (rc < 0) return rc;
    for (size_t pos = 0; pos < len && rc == 0;) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - pos;
        if (n && text[pos + n - 1] == '\r') n--;
        if (n && !(n >= 8 && memcmp(text + pos, "#version", 8) == 0))
            rc = add_merge_line(t, text + pos, n, rank++, &buf, &cap, path, err);
        pos = end + 1;
    }
    free(buf);
    free(text);
    return rc;
}

/* A special token value: "text" or {"content": "text", "lstrip": .., "rstrip": ..}. */
static int add_special_value(tf_tokenizer *t, json_t *v, int32_t id, const char *what, tf_err *err) {
    if (json_is_string(v)) return add_special(t, json_string_value(v), id, 0, 0, what, err);
    const char *content = json_string_value(json_object_get(v, "content"));
    if (!content) return 0; /* null: no such token */
    return add_special(t, content, id, bool_field(v, "lstrip", 0), bool_field(v, "rstrip", 0), what,
                       err);
}

/* bos, eos, unk first: GPT2Tokenizer defaults those three (load_slow). */
static const char *const special_keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                           "pad_token", "cls_token", "mask_token"};

static int add_specials_from(tf_tokenizer *t, json_t *cfg, const char *what, tf_err *err) {
    int rc = 0;
    json_t *dec = json_object_get(cfg, "added_tokens_decoder");
    const char *key;
    json_t *v;
    json_object_foreach(dec, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        if (*key == 0 || *end || id < 0 || id >= TOK_MAX_ID)
            return err_set(err, TF_EFORMAT, "%s: added_tokens_decoder key \"%.32s\" is not an id "
                           "in [0, %d)", what, key, TOK_MAX_ID);
        if ((rc = add_special_value(t, v, (int32_t)id, what, err)) < 0) return rc;
    }
    for (size_t i = 0; i < sizeof special_keys / sizeof special_keys[0]; i++)
        if ((rc = add_special_value(t, json_object_get(cfg, special_keys[i]), -1, what, err)) < 0)
            return rc;
    size_t i;
    json_array_foreach(json_object_get(cfg, "additional_special_tokens"), i, v)
        if ((rc = add_special_value(t, v, -1, what, err)) < 0) return rc;
    return 0;
}

static int load_slow(tf_tokenizer *t, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    json_t *j = NULL;
    int rc;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    if ((rc = load_json(path, &j, err)) < 0) return rc;
    rc = add_vocab(t, j, path, err);
    json_decref(j);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    if ((rc = load_merges_txt(t, path, err)) < 0) return rc;
    /* added_tokens.json first: its ids are explicit; named-only specials resolve after. */
    snprintf(path, sizeof path, "%s/added_tokens.json", dir);
    if (access(path, F_OK) == 0) {
        if ((rc = load_json(path, &j, err)) < 0) return rc;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
            rc = id < 0 || id >= TOK_MAX_ID
                     ? err_set(err, TF_EFORMAT, "%s: \"%.64s\" has a bad id", path, key)
                     : add_special(t, key, (int32_t)id, 0, 0, path, err);
            if (rc < 0) break;
        }
        json_decref(j);
        if (rc < 0) return rc;
    }
    static const char *const cfg_files[] = {"tokenizer_config.json", "special_tokens_map.json"};
    int named_specials = 0;
    for (size_t f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, cfg_files[f]);
        if (access(path, F_OK) != 0) continue;
        if ((rc = load_json(path, &j, err)) < 0) return rc;
        if (f == 0) t->add_prefix_space = bool_field(j, "add_prefix_space", 0);
        for (size_t k = 0; k < 3; k++) named_specials += json_object_get(j, special_keys[k]) != NULL;
        rc = add_specials_from(t, j, path, err);
        json_decref(j);
        if (rc < 0) return rc;
    }
    /* GPT2Tokenizer's own defaults: bos = eos = unk = "<|endoftext|>" unless a config names
     * them, so a bare vocab.json + merges.txt still knows its end-of-text token. */
    if (!named_specials && bpe_find(&t->bpe, "<|endoftext|>", 13) >= 0 &&
        (rc = add_special(t, "<|endoftext|>", -1, 0, 0, "vocab.json", err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    return bpe_finish(&t->bpe, path, err);
}

/* A special token named in tokenizer_config.json ("<s>" or {"content": "<s>"}); -1 if none. */
static int32_t config_token_id(const tf_tokenizer *t, json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    const char *s = json_is_string(v) ? json_string_value(v)
                                      : json_string_value(json_object_get(v, "content"));
    return s ? tok_find(t, s) : -1;
}

/* LlamaTokenizer(Fast) rebuilds its template from add_bos_token / add_eos_token when
 * tokenizer_config.json has them, so they override tokenizer.json's post_processor. */
static int spm_config(tf_tokenizer *t, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (access(path, F_OK) != 0) return 0;
    json_t *cfg;
    int rc = load_json(path, &cfg, err);
    if (rc < 0) return rc;
    static const char *const flags[2] = {"add_bos_token", "add_eos_token"};
    static const char *const names[2] = {"bos_token", "eos_token"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        json_t *flag = json_object_get(cfg, flags[i]);
        if (!json_is_boolean(flag)) continue;
        int *n = i == 0 ? &t->n_pre : &t->n_post;
        int32_t *ids = i == 0 ? t->pre_ids : t->post_ids;
        *n = 0;
        if (!json_is_true(flag)) continue;
        int32_t id = config_token_id(t, cfg, names[i]);
        if (id < 0)
            rc = err_set(err, TF_EFORMAT, "%s: %s is true but %s names no known token", path,
                         flags[i], names[i]);
        else
            ids[(*n)++] = id;
    }
    json_decref(cfg);
    return rc;
}

int tok_load(const char *dir, tf_tokenizer **out, tf_err *err) {
    *out = NULL;
    tf_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, TF_ENOMEM, "out of memory");
    bpe_init(&t->bpe);
    t->use_regex = 1;
    char path[PATH_MAX];
    int rc;
    if (snprintf(path, sizeof path, "%s/tokenizer.json", dir) >= (int)sizeof path - 32) {
        rc = err_set(err, TF_EINVALID, "tokenizer directory path too long");
        goto fail;
    }
    if (access(path, F_OK) == 0)
        rc = load_fast(t, path, err);
    else if (snprintf(path, sizeof path, "%s/vocab.json", dir), access(path, F_OK) == 0)
        rc = load_slow(t, dir, err);
    else if (snprintf(path, sizeof path, "%s/spiece.model", dir), access(path, F_OK) == 0)
        rc = load_spiece(t, dir, err);
    else
        rc = err_set(err, TF_ENOTFOUND, "%s: no tokenizer.json, vocab.json + merges.txt nor "
                     "spiece.model%s", dir,
                     (snprintf(path, sizeof path, "%s/tokenizer.model", dir), access(path, F_OK) == 0)
                         ? " (tokenizer.model alone, the SentencePiece protobuf, is not supported)"
                         : "");
    if (rc == 0 && t->spm) rc = spm_config(t, dir, err);
    if (rc < 0) goto fail;
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    for (int i = 0; i < t->n_added; i++) t->added_first[(uint8_t)t->added[i].content[0]] = 1;
    *out = t;
    return 0;
fail:
    tok_free(t);
    return rc;
}

void tok_free(tf_tokenizer *t) {
    if (!t) return;
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    bpe_close(&t->bpe);
    ug_close(t->ug);
    free(t->ug);
    spm_bpe_free(t->spm);
    free(t);
}

// --- encode / decode -------------------------------------------------------------------

/* The text with every ill-formed UTF-8 subpart replaced by U+FFFD (EF BF BD). */
static uint8_t *sanitize(const uint8_t *s, size_t len, size_t *out_len) {
    uint8_t *o = malloc(len * 3 + 1); /* one byte may become three */
    if (!o) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = uni_decode(s + i, len - i, &cp);
        if (cp == UNI_REPLACEMENT) n += uni_encode(cp, o + n);
        else memcpy(o + n, s + i, k), n += k;
        i += k;
    }
    *out_len = n;
    return o;
}

/* The leftmost added token in s[pos..len), longest at that position; [*ms, *me) its
 * extent after lstrip/rstrip. -1 if none. */
static int find_added(const tf_tokenizer *t, const uint8_t *s, size_t len, size_t pos, size_t *ms,
                      size_t *me) {
    for (size_t i = pos; i < len; i++) {
        if (!t->added_first[s[i]]) continue;
        for (int k = 0; k < t->n_added; k++) {
            const tok_added *a = &t->added[k];
            if (a->len > len - i || memcmp(s + i, a->content, a->len) != 0) continue;
            size_t b = i, e = i + a->len;
            while (a->lstrip && b > pos) {
                size_t p = b - 1;
                while (p > pos && (s[p] & 0xC0) == 0x80) p--;
                uint32_t cp;
                uni_decode(s + p, len - p, &cp);
                if (!uni_is_space(cp)) break;
                b = p;
            }
            while (a->rstrip && e < len) {
                uint32_t cp;
                size_t n = uni_decode(s + e, len - e, &cp);
                if (!uni_is_space(cp)) break;
                e += n;
            }
            *ms = b;
            *me = e;
            return k;
        }
    }
    return -1;
}

static int encode_segment(const tf_tokenizer *t, const uint8_t *s, size_t len, int at_start,
                          tok_scratch *sc, tok_ids *out) {
    if (t->spm) return spm_bpe_encode(t->spm, s, len, at_start, out);
    if (t->ug) return ug_encode(t->ug, s, len, out);
    uint8_t *prefixed = NULL;
    if (t->add_prefix_space && s[0] != ' ') {
        if (!(prefixed = malloc(len + 1))) return TF_ENOMEM;
        prefixed[0] = ' ';
        memcpy(prefixed + 1, s, len);
        s = prefixed;
        len++;
    }
    int rc = 0;
    for (size_t pos = 0; pos < len && rc == 0;) {
        size_t end = t->use_regex ? pretok_next(s, len, pos) : len;
        rc = bpe_encode_word(&t->bpe, sc, s + pos, end - pos, out);
        pos = end;
    }
    free(prefixed);
    return rc;
}

int tok_encode(const tf_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n_ids,
               tf_err *err) {
    *ids = NULL;
    *n_ids = 0;
    if (len >= INT32_MAX / 2)
        return err_set(err, TF_ETOOLONG, "text of %zu bytes (limit %d)", len, INT32_MAX / 2 - 1);
    const uint8_t *s = (const uint8_t *)text;
    uint8_t *fixed = NULL;
    if (uni_valid_prefix(s, len) != len) {
        if (!(fixed = sanitize(s, len, &len))) return err_set(err, TF_ENOMEM, "out of memory");
        s = fixed;
    }
    tok_ids out = {0};
    tok_scratch sc = {0};
    int rc = ids_push(&out, 0); /* allocate even for empty text; popped below */
    out.n = 0;
    for (int i = 0; i < t->n_pre && rc == 0; i++) rc = ids_push(&out, t->pre_ids[i]);
    for (size_t pos = 0; pos < len && rc == 0;) {
        size_t ms = len, me = len;
        int k = find_added(t, s, len, pos, &ms, &me);
        if (ms > pos) rc = encode_segment(t, s + pos, ms - pos, pos == 0, &sc, &out);
        if (k >= 0 && rc == 0) rc = ids_push(&out, t->added[k].id);
        pos = me;
    }
    if (rc == 0 && t->ug && t->ug->append_id >= 0) rc = ids_push(&out, t->ug->append_id);
    for (int i = 0; i < t->n_post && rc == 0; i++) rc = ids_push(&out, t->post_ids[i]);
    scratch_close(&sc);
    free(fixed);
    if (rc < 0 || out.n > INT_MAX) {
        free(out.v);
        return err_set(err, rc < 0 ? rc : TF_ETOOLONG, "tokenizing %zu bytes: %s", len,
                       err_str(rc < 0 ? rc : TF_ETOOLONG));
    }
    *ids = out.v;
    *n_ids = (int)out.n;
    return 0;
}

int tok_token_bytes(const tf_tokenizer *t, int32_t id, const char **bytes, size_t *len) {
    if (t->ug) return ug_token_bytes(t->ug, id, bytes, len);
    const tok_bpe *b = &t->bpe;
    if (t->spm && (id < 0 || id >= b->n_ids || b->str_off[id] == UINT32_MAX))
        return spm_bpe_token_bytes(t->spm, id, bytes, len); /* not an added token */
    if (id < 0 || id >= b->n_ids || b->str_off[id] == UINT32_MAX) return TF_ERANGE;
    *bytes = b->arena + b->raw_off[id];
    *len = b->raw_len[id];
    return 0;
}

int tok_decode(const tf_tokenizer *t, const int32_t *ids, int n, char **text, size_t *len,
               tf_err *err) {
    *text = NULL;
    *len = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const char *p;
        size_t k;
        if (tok_token_bytes(t, ids[i], &p, &k) < 0)
            return err_set(err, TF_ERANGE, "token id %ld at position %d is not in the vocabulary "
                           "(size %d)", (long)ids[i], i, tok_vocab_size(t));
        total += k;
    }
    char *o = malloc(total + 1);
    if (!o) return err_set(err, TF_ENOMEM, "out of memory");
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *p = "";
        size_t k = 0;
        tok_token_bytes(t, ids[i], &p, &k);
        /* The SentencePiece decoders (Strip, Metaspace) drop the space the "▁" prefix made. */
        if (pos == 0 && k > 0 && p[0] == ' ' && t->spm && spm_bpe_strip_lead_space(t->spm)) p++, k--;
        memcpy(o + pos, p, k);
        pos += k;
    }
    o[pos] = 0;
    if (pos > 0 && o[0] == ' ' && tok_strips_leading_space(t)) memmove(o, o + 1, pos--);
    *text = o;
    *len = pos;
    return 0;
}

int tok_vocab_size(const tf_tokenizer *t) {
    if (t->ug) return t->ug->n_ids;
    int n = t->spm ? spm_bpe_n_ids(t->spm) : 0;
    return t->bpe.n_ids > n ? t->bpe.n_ids : n;
}

int tok_strips_leading_space(const tf_tokenizer *t) { return t->ug != NULL; }

int32_t tok_find(const tf_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, token, n) == 0) return t->added[i].id;
    if (t->ug) return ug_find(t->ug, token, n);
    return t->spm ? spm_bpe_find(t->spm, token, n) : bpe_find(&t->bpe, token, n);
}

const char *tok_unicode_version(void) { return uni_version(); }
