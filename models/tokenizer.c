/* tokenizer.c: the tokenizer's building steps, tok_load, and encode/decode around the
 * three models (byte-level BPE, SentencePiece BPE, WordPiece).
 *
 * DESIGN: everything is resolved to ids at load time (models/tok_bpe.c), so encoding
 * never touches a string table: sanitize the UTF-8 (one pass, a copy only when
 * something is ill-formed), cut the text at added tokens, hand each segment to the model
 * (byte-level BPE: pre-split with the GPT-2 regex, models/pretok.c, and merge each piece),
 * and put the template's special ids around the result. Every file format feeds the
 * same few calls (add token, add merge, add special, push template id) so they cannot
 * drift apart; the loaders live in tokenizer_json.c and tokenizer_files.c. Unsupported
 * features (other normalizers, pre-tokenizers, dropout, ...) are refused with
 * TF_EUNSUPPORTED naming the field, rather than silently mis-tokenized.
 */
#include "models/tokenizer.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pretok.h"
#include "models/tokenizer_impl.h"
#include "models/unicode.h"

// --- shared building steps -------------------------------------------------------------

int tok_add_special(tf_tokenizer *t, const char *content, int32_t id, int lstrip, int rstrip,
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
    int rc = t->ug ? ug_add_special(t->ug, content, id)
                   : bpe_add_token(&t->bpe, content, len, id, 1, &inner);
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

int tok_add_vocab(tf_tokenizer *t, json_t *vocab, const char *what, tf_err *err) {
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

int tok_add_merge(tf_tokenizer *t, const char *left, size_t n_left, const char *right,
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
int tok_add_merge_line(tf_tokenizer *t, const char *line, size_t len, size_t rank, char **buf,
                       size_t *cap, const char *what, tf_err *err) {
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len || memchr(sp + 1, ' ', (size_t)(line + len - sp - 1)))
        return err_set(err, TF_EFORMAT, "%s: merge %zu \"%.*s\" is not two tokens separated by "
                       "one space", what, rank, (int)(len > 64 ? 64 : len), line);
    return tok_add_merge(t, line, (size_t)(sp - line), sp + 1, (size_t)(line + len - sp - 1), rank,
                         buf, cap, what, err);
}

int tok_json_file(const char *path, json_t **out, tf_err *err) {
    json_error_t je;
    *out = json_load_file(path, 0, &je);
    if (!*out) {
        int code = access(path, R_OK) == 0 ? TF_EFORMAT : TF_EIO;
        return err_set(err, code, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    }
    return 0;
}

int tok_bool_field(json_t *obj, const char *key, int dflt) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

const char *tok_type_of(json_t *obj) {
    const char *type = json_string_value(json_object_get(obj, "type"));
    return type ? type : "?";
}

const char *tok_config_token(json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    return json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
}

int tok_template_push(tok_template *tp, int after, int32_t id, const char *what, tf_err *err) {
    int *n = after ? &tp->n_suf : &tp->n_pre;
    if (*n == TOK_TMPL_MAX)
        return err_set(err, TF_EUNSUPPORTED, "%s: more than %d special tokens on one side of the "
                       "text", what, TOK_TMPL_MAX);
    (after ? tp->suf : tp->pre)[(*n)++] = id;
    return 0;
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
        rc = tok_load_fast(t, path, err);
    else if (snprintf(path, sizeof path, "%s/vocab.json", dir), access(path, F_OK) == 0)
        rc = tok_load_slow(t, dir, err);
    else if (snprintf(path, sizeof path, "%s/vocab.txt", dir), access(path, F_OK) == 0)
        rc = tok_load_vocab_txt(t, dir, err);
    else if (snprintf(path, sizeof path, "%s/spiece.model", dir), access(path, F_OK) == 0)
        rc = tok_load_spiece(t, dir, err);
    else if (snprintf(path, sizeof path, "%s/tokenizer.model", dir), access(path, F_OK) == 0)
        rc = tok_load_spm_model(t, path, err);
    else
        rc = err_set(err, TF_ENOTFOUND, "%s: no tokenizer.json, vocab.json + merges.txt, "
                     "vocab.txt, spiece.model nor tokenizer.model", dir);
    if (rc == 0 && t->spm) rc = tok_load_spm_config(t, dir, err);
    if (rc < 0) goto fail;
    if (t->n_added > 1) /* added may be NULL when there are none: qsort's base must not be */
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
    spm_bpe_free(t->spm);
    free(t->wp);
    ug_close(t->ug);
    free(t->ug);
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
    if (t->wp) return wp_encode(t->wp, &t->bpe, s, len, out);
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
    for (int i = 0; i < t->tmpl.n_pre && rc == 0; i++) rc = ids_push(&out, t->tmpl.pre[i]);
    for (size_t pos = 0; pos < len && rc == 0;) {
        size_t ms = len, me = len;
        int k = find_added(t, s, len, pos, &ms, &me);
        if (ms > pos) rc = encode_segment(t, s + pos, ms - pos, pos == 0, &sc, &out);
        if (k >= 0 && rc == 0) rc = ids_push(&out, t->added[k].id);
        pos = me;
    }
    for (int i = 0; i < t->tmpl.n_suf && rc == 0; i++) rc = ids_push(&out, t->tmpl.suf[i]);
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
    char *o = malloc(2 * total + 1);
    if (!o) return err_set(err, TF_ENOMEM, "out of memory");
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
        const char *p = "";
        size_t k = 0;
        tok_token_bytes(t, ids[i], &p, &k);
        /* The SentencePiece decoders (Strip, Metaspace) drop the space the "▁" prefix made. */
        if (pos == 0 && k > 0 && p[0] == ' ' && t->spm && spm_bpe_strip_lead_space(t->spm)) p++, k--;
        /* WordPiece: words are space-separated, "##" pieces glue onto the previous one. */
        if (t->wp && k >= t->wp->prefix_len && t->wp->prefix_len &&
            memcmp(p, t->wp->prefix, t->wp->prefix_len) == 0) {
            p += t->wp->prefix_len;
            k -= t->wp->prefix_len;
        } else if (t->wp && i > 0) {
            o[pos++] = ' ';
        }
        memcpy(o + pos, p, k);
        pos += k;
    }
    /* Unigram (Metaspace with prefix space): the decoder drops the leading space. */
    if (pos > 0 && o[0] == ' ' && tok_strips_leading_space(t)) memmove(o, o + 1, pos--);
    o[pos] = 0;
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

void tok_specials_around(const tf_tokenizer *t, int *n_pre, int *n_suf) {
    *n_pre = t->tmpl.n_pre;
    *n_suf = t->tmpl.n_suf;
}

int32_t tok_find(const tf_tokenizer *t, const char *token) {
    size_t n = strlen(token);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, token, n) == 0) return t->added[i].id;
    if (t->ug) return ug_find(t->ug, token, n);
    return t->spm ? spm_bpe_find(t->spm, token, n) : bpe_find(&t->bpe, token, n);
}

const char *tok_unicode_version(void) { return uni_version(); }
