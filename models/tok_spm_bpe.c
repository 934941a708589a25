/* tok_spm_bpe.c: SentencePiece-style BPE over a tokenizer.json vocab and merge list, or
 * over a tokenizer.model's pieces (merges derived from their scores).
 *
 * DESIGN: everything is ids after load. A segment is normalized once (optional "▁"
 * prefix, spaces to "▁"), optionally split before each "▁" (Metaspace split), and each
 * word starts as the ids of its characters -- a character missing from the vocab
 * becomes its <0xNN> byte tokens -- then merges run as in the HF Rust BPE model: a
 * min-heap of candidate pairs ordered by (rank, left position) over a linked list of
 * symbols, a popped candidate whose pair no longer yields its merged id being stale.
 * For a vocab converted from SentencePiece (or llama2.c) the merge ranks follow the
 * merged pieces' scores, so "lowest rank first" is SentencePiece's "highest score
 * first" (tests/unit/test_llama.c checks it against llama2.c's encoder on real text).
 * This file loads the tables; tok_spm_bpe_encode.c runs the merges.
 */
#include "models/tok_spm_bpe.h"
#include "models/tok_spm_bpe_impl.h"

#include <stdlib.h>
#include <string.h>

#include "models/unicode.h"



// --- tables ------------------------------------------------------------------------------

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static uint32_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (uint32_t)k;
}

int32_t spm_bpe_find(const tok_spm *t, const char *piece, size_t len) {
    for (uint32_t i = hash_bytes(piece, len) & t->slot_mask;; i = (i + 1) & t->slot_mask) {
        int32_t id = t->slots[i];
        if (id < 0) return -1;
        if (t->len[id] == len && memcmp(t->arena + t->off[id], piece, len) == 0) return id;
    }
}

static int arena_put(tok_spm *t, const char *s, size_t n, uint32_t *off) {
    if (t->arena_len + n + 1 > t->arena_cap) {
        size_t cap = t->arena_cap ? t->arena_cap : 4096;
        while (cap < t->arena_len + n + 1) cap *= 2;
        if (cap > UINT32_MAX) return TF_ENOMEM;
        char *p = realloc(t->arena, cap);
        if (!p) return TF_ENOMEM;
        t->arena = p;
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, s, n);
    t->arena[t->arena_len + n] = 0;
    *off = (uint32_t)t->arena_len;
    t->arena_len += n + 1;
    return 0;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* "<0xNN>" (uppercase hex, as HF's byte_fallback formats it) -> NN, else -1. */
static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Sizes the id tables for ids [0, n_ids) and n pieces. */
static int alloc_tables(tok_spm *t, int32_t n_ids, size_t n) {
    t->n_ids = n_ids;
    uint32_t n_slots = 16;
    while (n_slots < 2 * (uint32_t)n) n_slots *= 2;
    t->slot_mask = n_slots - 1;
    t->off = malloc(sizeof(uint32_t) * (size_t)n_ids);
    t->len = calloc((size_t)n_ids, sizeof(uint32_t));
    t->dec_off = calloc((size_t)n_ids, sizeof(uint32_t));
    t->dec_len = calloc((size_t)n_ids, sizeof(uint32_t));
    t->slots = malloc(sizeof(int32_t) * n_slots);
    if (!t->off || !t->len || !t->dec_off || !t->dec_len || !t->slots) return TF_ENOMEM;
    memset(t->off, 0xFF, sizeof(uint32_t) * (size_t)n_ids);
    memset(t->slots, 0xFF, sizeof(int32_t) * n_slots);
    return 0;
}

/* One piece at id (in range, not yet used); *dec is scratch for its decoded form.
 * <0xNN> decodes to its byte only when byte_token_ok, as such pieces are text otherwise. */
static int put_piece(tok_spm *t, const char *key, size_t len, int32_t id, int byte_token_ok,
                     char **dec, size_t *dec_cap) {
    if (arena_put(t, key, len, &t->off[id]) < 0) return TF_ENOMEM;
    t->len[id] = (uint32_t)len;
    uint32_t i = hash_bytes(key, len) & t->slot_mask;
    while (t->slots[i] >= 0) i = (i + 1) & t->slot_mask;
    t->slots[i] = id;
    /* Decoded form: <0xNN> is its byte, every "▁" a space. */
    if (len + 1 > *dec_cap) {
        char *p = realloc(*dec, len + 1);
        if (!p) return TF_ENOMEM;
        *dec = p;
        *dec_cap = len + 1;
    }
    size_t dn = 0;
    int b = byte_token_ok ? byte_token(key, len) : -1;
    if (b >= 0) {
        t->byte_id[b] = id;
        (*dec)[dn++] = (char)b;
    } else {
        for (size_t k = 0; k < len;) {
            if (k + META_LEN <= len && memcmp(key + k, META, META_LEN) == 0) {
                (*dec)[dn++] = ' ';
                k += META_LEN;
            } else {
                (*dec)[dn++] = key[k++];
            }
        }
    }
    if (arena_put(t, *dec, dn, &t->dec_off[id]) < 0) return TF_ENOMEM;
    t->dec_len[id] = (uint32_t)dn;
    return 0;
}

static int load_vocab(tok_spm *t, json_t *vocab, const char *path, tf_err *err) {
    size_t n = json_object_size(vocab);
    if (!json_is_object(vocab) || n == 0)
        return err_set(err, TF_EFORMAT, "%s: model.vocab is missing or empty", path);
    const char *key;
    json_t *val;
    int32_t max_id = -1;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= TOK_MAX_ID || (size_t)id >= 2 * n + 1024)
            return err_set(err, TF_EFORMAT, "%s: vocab entry \"%.64s\" has a bad id", path, key);
        if (id > max_id) max_id = (int32_t)id;
    }
    if (alloc_tables(t, max_id + 1, n) < 0) return err_set(err, TF_ENOMEM, "%s: vocab tables", path);
    char *dec = NULL;
    size_t dec_cap = 0;
    int rc = 0;
    json_object_foreach(vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        if (t->off[id] != UINT32_MAX) {
            rc = err_set(err, TF_EFORMAT, "%s: vocab id %ld is used twice", path, (long)id);
            break;
        }
        if (put_piece(t, key, strlen(key), id, 1, &dec, &dec_cap) < 0) {
            rc = err_set(err, TF_ENOMEM, "%s", path);
            break;
        }
    }
    free(dec);
    if (rc == 0 && !t->byte_fallback)
        for (int b = 0; b < 256; b++) t->byte_id[b] = -1; /* byte tokens decode as text then */
    return rc;
}

static int add_pair(tok_spm *t, int32_t a, int32_t b, int32_t merged, int32_t rank) {
    if (2 * (t->n_pairs + 1) > t->pair_mask + 1 || !t->pair_key) {
        uint32_t cap = t->pair_key ? 2 * (t->pair_mask + 1) : 1024;
        uint64_t *k = malloc(sizeof(uint64_t) * cap);
        int32_t *r = malloc(sizeof(int32_t) * cap), *m = malloc(sizeof(int32_t) * cap);
        if (!k || !r || !m) {
            free(k), free(r), free(m);
            return TF_ENOMEM;
        }
        memset(k, 0xFF, sizeof(uint64_t) * cap);
        for (uint32_t i = 0; t->pair_key && i <= t->pair_mask; i++) {
            if (t->pair_key[i] == UINT64_MAX) continue;
            uint32_t j = hash_pair(t->pair_key[i]) & (cap - 1);
            while (k[j] != UINT64_MAX) j = (j + 1) & (cap - 1);
            k[j] = t->pair_key[i], r[j] = t->pair_rank[i], m[j] = t->pair_id[i];
        }
        free(t->pair_key), free(t->pair_rank), free(t->pair_id);
        t->pair_key = k, t->pair_rank = r, t->pair_id = m;
        t->pair_mask = cap - 1;
    }
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t i = hash_pair(key) & t->pair_mask;
    while (t->pair_key[i] != UINT64_MAX && t->pair_key[i] != key) i = (i + 1) & t->pair_mask;
    if (t->pair_key[i] == UINT64_MAX) t->n_pairs++;
    /* A later duplicate of a pair replaces the earlier one, as in HF. */
    t->pair_key[i] = key, t->pair_rank[i] = rank, t->pair_id[i] = merged;
    return 0;
}

/* -1 when (a, b) is no merge. */
int32_t spm_pair_find(const tok_spm *t, int32_t a, int32_t b, int32_t *merged) {
    if (!t->pair_key) return -1;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    for (uint32_t i = hash_pair(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == UINT64_MAX) return -1;
        if (t->pair_key[i] == key) {
            *merged = t->pair_id[i];
            return t->pair_rank[i];
        }
    }
}

static int load_merges(tok_spm *t, json_t *merges, const char *path, tf_err *err) {
    if (!json_is_array(merges))
        return err_set(err, TF_EFORMAT, "%s: model.merges is missing or not an array", path);
    size_t i;
    json_t *m;
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    json_array_foreach(merges, i, m) {
        const char *l, *r;
        size_t nl, nr;
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = err_set(err, TF_EFORMAT, "%s: model.merges[%zu] is not \"a b\"", path, i);
                break;
            }
            l = s, nl = (size_t)(sp - s), r = sp + 1, nr = strlen(sp + 1);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0)), nl = json_string_length(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1)), nr = json_string_length(json_array_get(m, 1));
        } else {
            rc = err_set(err, TF_EFORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", path, i);
            break;
        }
        if (nl + nr > cap) {
            char *p = realloc(buf, nl + nr);
            if (!p) {
                rc = err_set(err, TF_ENOMEM, "%s", path);
                break;
            }
            buf = p, cap = nl + nr;
        }
        memcpy(buf, l, nl);
        memcpy(buf + nl, r, nr);
        int32_t a = spm_bpe_find(t, l, nl), b = spm_bpe_find(t, r, nr), ab = spm_bpe_find(t, buf, nl + nr);
        if (a < 0 || b < 0 || ab < 0) {
            rc = err_set(err, TF_EFORMAT, "%s: model.merges[%zu] names a token not in the vocab",
                         path, i);
            break;
        }
        if (i >= INT32_MAX || add_pair(t, a, b, ab, (int32_t)i) < 0) {
            rc = err_set(err, TF_ENOMEM, "%s: merges", path);
            break;
        }
    }
    free(buf);
    return rc;
}

// --- the pipeline description --------------------------------------------------------------

static const char *type_of(json_t *o) {
    const char *s = json_string_value(json_object_get(o, "type"));
    return s ? s : "?";
}

static int is_str(json_t *v, const char *s) { return json_is_string(v) && strcmp(json_string_value(v), s) == 0; }

static int parse_normalizer(tok_spm *t, json_t *n, const char *path, tf_err *err) {
    if (!n || json_is_null(n)) return 0;
    const char *type = type_of(n);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(n, "normalizers"), i, c) {
            int rc = parse_normalizer(t, c, path, err);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (strcmp(type, "Prepend") == 0 && is_str(json_object_get(n, "prepend"), META)) {
        t->prepend = 1;
        t->prepend_always_doubles = 1;
        return 0;
    }
    if (strcmp(type, "Replace") == 0 && is_str(json_object_get(json_object_get(n, "pattern"), "String"), " ") &&
        is_str(json_object_get(n, "content"), META))
        return 0; /* spaces always become "▁" in this module */
    return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\" (SentencePiece BPE supports "
                   "Prepend(\"▁\") and Replace(\" \", \"▁\"))", path, type);
}

/* Metaspace's prefix rule: prepend_scheme, or the older add_prefix_space flag. */
static int metaspace_prepend(json_t *o) {
    json_t *scheme = json_object_get(o, "prepend_scheme");
    if (is_str(scheme, "first")) return 2;
    if (is_str(scheme, "never")) return 0;
    if (is_str(scheme, "always")) return 1;
    json_t *aps = json_object_get(o, "add_prefix_space");
    return json_is_boolean(aps) ? (json_is_true(aps) ? 1 : 0) : 1;
}

static int parse_pre(tok_spm *t, json_t *p, const char *path, tf_err *err) {
    if (!p || json_is_null(p)) return 0;
    if (strcmp(type_of(p), "Metaspace") != 0 ||
        (json_object_get(p, "replacement") && !is_str(json_object_get(p, "replacement"), META)))
        return err_set(err, TF_EUNSUPPORTED, "%s: pre_tokenizer \"%s\" (SentencePiece BPE supports "
                       "Metaspace with \"▁\")", path, type_of(p));
    if (t->prepend_always_doubles)
        return err_set(err, TF_EUNSUPPORTED, "%s: both a Prepend normalizer and Metaspace", path);
    t->prepend = metaspace_prepend(p);
    json_t *split = json_object_get(p, "split");
    t->split = json_is_boolean(split) ? json_is_true(split) : 1;
    return 0;
}

static int parse_decoder(tok_spm *t, json_t *d, const char *path, tf_err *err) {
    if (!d || json_is_null(d)) return 0;
    const char *type = type_of(d);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(d, "decoders"), i, c) {
            int rc = parse_decoder(t, c, path, err);
            if (rc < 0) return rc;
        }
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        t->strip_lead = metaspace_prepend(d) != 0;
        return 0;
    }
    if (strcmp(type, "ByteFallback") == 0 || strcmp(type, "Fuse") == 0) return 0;
    if (strcmp(type, "Replace") == 0 &&
        is_str(json_object_get(json_object_get(d, "pattern"), "String"), META) &&
        is_str(json_object_get(d, "content"), " "))
        return 0;
    if (strcmp(type, "Strip") == 0 && is_str(json_object_get(d, "content"), " ") &&
        json_integer_value(json_object_get(d, "stop")) == 0) {
        json_int_t start = json_integer_value(json_object_get(d, "start"));
        if (start <= 1) {
            t->strip_lead = start == 1;
            return 0;
        }
    }
    return err_set(err, TF_EUNSUPPORTED, "%s: decoder \"%s\" (SentencePiece BPE supports Replace "
                   "\"▁\", ByteFallback, Fuse, Strip of one leading space, Metaspace)", path, type);
}

static int has_prepend_normalizer(json_t *n) {
    if (!json_is_object(n)) return 0;
    if (strcmp(type_of(n), "Prepend") == 0) return 1;
    if (strcmp(type_of(n), "Replace") == 0) return is_str(json_object_get(n, "content"), META);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(n, "normalizers"), i, c)
        if (has_prepend_normalizer(c)) return 1;
    return 0;
}

int spm_bpe_detect(json_t *root) {
    json_t *model = json_object_get(root, "model");
    if (json_is_true(json_object_get(model, "byte_fallback"))) return 1;
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (json_is_object(pre) && strcmp(type_of(pre), "Metaspace") == 0) return 1;
    return has_prepend_normalizer(json_object_get(root, "normalizer"));
}

int spm_bpe_load(json_t *root, const char *path, tok_spm **out, tf_err *err) {
    *out = NULL;
    tok_spm *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, TF_ENOMEM, "%s", path);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->unk_id = -1;
    t->escape = 1;
    json_t *model = json_object_get(root, "model");
    int rc = 0;
    json_t *type = json_object_get(model, "type");
    json_t *dropout = json_object_get(model, "dropout");
    json_t *prefix = json_object_get(model, "continuing_subword_prefix");
    json_t *suffix = json_object_get(model, "end_of_word_suffix");
    if (!json_is_object(model) || (type && !is_str(type, "BPE")))
        rc = err_set(err, TF_EUNSUPPORTED, "%s: model.type \"%s\" (only BPE)", path, type_of(model));
    else if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        rc = err_set(err, TF_EUNSUPPORTED, "%s: model.dropout (BPE dropout)", path);
    else if ((prefix && !json_is_null(prefix) && json_string_length(prefix)) ||
             (suffix && !json_is_null(suffix) && json_string_length(suffix)))
        rc = err_set(err, TF_EUNSUPPORTED, "%s: model subword prefix/suffix", path);
    if (rc < 0) goto fail;
    t->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    t->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    if ((rc = parse_normalizer(t, json_object_get(root, "normalizer"), path, err)) < 0 ||
        (rc = parse_pre(t, json_object_get(root, "pre_tokenizer"), path, err)) < 0 ||
        (rc = parse_decoder(t, json_object_get(root, "decoder"), path, err)) < 0 ||
        (rc = load_vocab(t, json_object_get(model, "vocab"), path, err)) < 0 ||
        (rc = load_merges(t, json_object_get(model, "merges"), path, err)) < 0)
        goto fail;
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    if (unk) t->unk_id = spm_bpe_find(t, unk, strlen(unk));
    *out = t;
    return 0;
fail:
    spm_bpe_free(t);
    return rc;
}

// --- SentencePiece tokenizer.model ------------------------------------------------------

static int cmp_split(const void *a, const void *b) {
    const spm_bpe_split *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->split < y->split ? -1 : x->split > y->split;
}

/* Two splits of one piece can tie and overlap ("ab"+"a" and "a"+"ba" for "aba"); the
 * lower rank (earlier split) wins here, SentencePiece takes the leftmost pair. Rare. */
int spm_bpe_derive_merges(const char *const *pieces, const float *scores, int n, spm_bpe_lookup find,
                          void *ctx, spm_bpe_split **out, size_t *n_out) {
    size_t cap = 1024, n_m = 0;
    spm_bpe_split *m = malloc(cap * sizeof *m);
    *out = NULL;
    *n_out = 0;
    if (!m) return TF_ENOMEM;
    for (int id = 0; id < n; id++) {
        const char *s = pieces[id];
        if (!s) continue;
        size_t len = strlen(s);
        for (size_t k = 1; k < len; k++) {
            if (((uint8_t)s[k] & 0xC0) == 0x80) continue; /* inside a UTF-8 character */
            if (find(ctx, s, k) < 0 || find(ctx, s + k, len - k) < 0) continue;
            if (n_m == cap) {
                spm_bpe_split *p = realloc(m, 2 * cap * sizeof *m);
                if (!p) {
                    free(m);
                    return TF_ENOMEM;
                }
                m = p, cap *= 2;
            }
            m[n_m++] = (spm_bpe_split){scores[id], id, (int32_t)k};
        }
    }
    qsort(m, n_m, sizeof *m, cmp_split);
    *out = m;
    *n_out = n_m;
    return 0;
}

typedef struct model_ctx {
    const tok_spm *t;
    const spm_model *m;
} model_ctx;

static int32_t find_normal(void *ctx, const char *s, size_t len) {
    const model_ctx *c = ctx;
    int32_t id = spm_bpe_find(c->t, s, len);
    return id >= 0 && c->m->pieces[id].type == SPM_NORMAL ? id : -1;
}

static int model_merges(tok_spm *t, const spm_model *m, const char *path, tf_err *err) {
    const char **pieces = malloc(sizeof *pieces * (size_t)m->n_pieces);
    float *scores = malloc(sizeof *scores * (size_t)m->n_pieces);
    spm_bpe_split *sp = NULL;
    size_t n_sp = 0;
    int rc = pieces && scores ? 0 : TF_ENOMEM;
    for (int i = 0; rc == 0 && i < m->n_pieces; i++) {
        pieces[i] = m->pieces[i].type == SPM_NORMAL ? m->pieces[i].piece : NULL;
        scores[i] = m->pieces[i].score;
    }
    model_ctx ctx = {t, m};
    if (rc == 0) rc = spm_bpe_derive_merges(pieces, scores, m->n_pieces, find_normal, &ctx, &sp, &n_sp);
    for (size_t i = 0; rc == 0 && i < n_sp; i++) {
        const char *s = m->pieces[sp[i].id].piece;
        size_t k = (size_t)sp[i].split;
        int32_t a = spm_bpe_find(t, s, k), b = spm_bpe_find(t, s + k, strlen(s) - k);
        rc = i >= INT32_MAX ? TF_ENOMEM : add_pair(t, a, b, sp[i].id, (int32_t)i);
    }
    free(sp);
    free(scores);
    free(pieces);
    return rc < 0 ? err_set(err, rc, "%s: merges", path) : 0;
}

int spm_bpe_from_model(const spm_model *m, const char *path, tok_spm **out, tf_err *err) {
    *out = NULL;
    if (m->model_type != SPM_MODEL_BPE)
        return err_set(err, TF_EUNSUPPORTED, "%s: model_type %d is not BPE", path, m->model_type);
    if (m->charsmap_len > 0 || m->remove_extra_whitespaces)
        return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\"%s (SentencePiece BPE supports "
                       "the identity normalizer only)", path, m->norm_name,
                       m->remove_extra_whitespaces ? " with remove_extra_whitespaces" : "");
    if (m->n_pieces <= 0 || m->n_pieces >= TOK_MAX_ID)
        return err_set(err, TF_EFORMAT, "%s: %d pieces", path, m->n_pieces);
    tok_spm *t = calloc(1, sizeof *t);
    if (!t) return err_set(err, TF_ENOMEM, "%s", path);
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    t->byte_fallback = m->byte_fallback;
    t->unk_id = m->unk_id >= 0 && m->unk_id < m->n_pieces ? m->unk_id : -1;
    t->fuse_unk = 1; /* LlamaTokenizerFast's conversion, and SentencePiece's own output */
    t->prepend = m->add_dummy_prefix;
    t->prepend_always_doubles = 1;
    t->strip_lead = m->add_dummy_prefix;
    t->escape = m->escape_whitespaces;
    char *dec = NULL;
    size_t dec_cap = 0;
    int rc = alloc_tables(t, m->n_pieces, (size_t)m->n_pieces) < 0
                 ? err_set(err, TF_ENOMEM, "%s: vocab tables", path) : 0;
    for (int i = 0; rc == 0 && i < m->n_pieces; i++) {
        const spm_piece *p = &m->pieces[i];
        if (spm_bpe_find(t, p->piece, p->len) >= 0)
            rc = err_set(err, TF_EFORMAT, "%s: piece %d (\"%.32s\") appears twice", path, i, p->piece);
        else if (put_piece(t, p->piece, p->len, i, p->type == SPM_BYTE, &dec, &dec_cap) < 0)
            rc = err_set(err, TF_ENOMEM, "%s", path);
    }
    free(dec);
    if (rc == 0 && !t->byte_fallback)
        for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    if (rc == 0) rc = model_merges(t, m, path, err);
    if (rc < 0) {
        spm_bpe_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void spm_bpe_free(tok_spm *t) {
    if (!t) return;
    free(t->off), free(t->len), free(t->dec_off), free(t->dec_len), free(t->arena);
    free(t->slots), free(t->pair_key), free(t->pair_rank), free(t->pair_id);
    free(t);
}
