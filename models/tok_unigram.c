/* DESIGN: pieces live in one arena indexed by id; a hash of the matchable pieces serves
 * the Viterbi lattice, which tries every piece length up to the longest piece at each
 * character boundary (pieces are short, so this is a handful of lookups per byte).
 * The charsmap is sentencepiece's double-array trie, walked in place. Ties in the
 * lattice keep the first path found (earlier start, shorter piece first), as the HF
 * Rust implementation does. */
#include "models/tok_unigram.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/spm_model.h"
#include "models/unicode.h"

#define UNK_PENALTY 10.0f
static const char META[] = "\xE2\x96\x81"; /* U+2581 ▁ */

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int arena_put(tok_unigram *u, const char *s, size_t n, uint32_t *off) {
    if (u->arena_len + n + 1 > u->arena_cap) {
        size_t cap = u->arena_cap ? u->arena_cap * 2 : 1 << 16;
        while (cap < u->arena_len + n + 1) cap *= 2;
        if (cap > UINT32_MAX) return TF_ETOOLONG;
        char *a = realloc(u->arena, cap);
        if (!a) return TF_ENOMEM;
        u->arena = a;
        u->arena_cap = cap;
    }
    memcpy(u->arena + u->arena_len, s, n);
    u->arena[u->arena_len + n] = 0;
    *off = (uint32_t)u->arena_len;
    u->arena_len += n + 1;
    return 0;
}

static int grow_ids(tok_unigram *u, int32_t n) {
    if (n <= u->n_ids) return 0;
    if (n > TOK_MAX_ID) return TF_ERANGE;
    void **arrs[] = {(void **)&u->off, (void **)&u->len, (void **)&u->raw_off, (void **)&u->raw_len,
                     (void **)&u->score, (void **)&u->matchable};
    const size_t sz[] = {4, 4, 4, 4, sizeof(float), 1};
    for (int i = 0; i < 6; i++) {
        void *p = realloc(*arrs[i], sz[i] * (size_t)n);
        if (!p) return TF_ENOMEM;
        *arrs[i] = p;
    }
    for (int32_t i = u->n_ids; i < n; i++) {
        u->off[i] = u->raw_off[i] = UINT32_MAX;
        u->len[i] = u->raw_len[i] = 0;
        u->score[i] = 0;
        u->matchable[i] = 0;
    }
    u->n_ids = n;
    return 0;
}

static int ug_add_piece(tok_unigram *u, const char *s, size_t n, int32_t id, float score,
                        int matchable) {
    int rc = grow_ids(u, id + 1);
    if (rc < 0) return rc;
    if ((rc = arena_put(u, s, n, &u->off[id])) < 0) return rc;
    u->len[id] = (uint32_t)n;
    u->score[id] = score;
    u->matchable[id] = (uint8_t)matchable;
    return 0;
}

/* An added/special token: never matched inside text (the tokenizer cuts it out first);
 * decodes to its own content. */
int ug_add_special(tok_unigram *u, const char *content, int32_t id) {
    int rc = grow_ids(u, id + 1);
    if (rc < 0) return rc;
    if (u->off[id] == UINT32_MAX) rc = ug_add_piece(u, content, strlen(content), id, 0, 0);
    u->matchable[id] = 0;
    if (rc == 0) rc = arena_put(u, content, strlen(content), &u->raw_off[id]);
    if (rc == 0) u->raw_len[id] = (uint32_t)strlen(content);
    return rc;
}

static int add_spec(tok_unigram *u, const char *content, int32_t id) {
    ug_special *s = realloc(u->specials, sizeof *s * (size_t)(u->n_specials + 1));
    if (!s) return TF_ENOMEM;
    u->specials = s;
    char *c = strdup(content);
    if (!c) return TF_ENOMEM;
    s[u->n_specials++] = (ug_special){c, id};
    return 0;
}

static int set_charsmap(tok_unigram *u, const uint8_t *blob, size_t n, const char *what,
                        tf_err *err) {
    free(u->charsmap);
    u->charsmap = NULL;
    u->trie = NULL;
    u->n_trie = u->n_norm = 0;
    if (n == 0) return 0;
    uint32_t trie_bytes;
    if (n < 4 || (memcpy(&trie_bytes, blob, 4), trie_bytes % 4 != 0) || trie_bytes > n - 4)
        return err_set(err, TF_EFORMAT, "%s: precompiled_charsmap is malformed", what);
    /* copied with a NUL after the strings so an unterminated last entry stays bounded */
    if (!(u->charsmap = malloc(n + 1))) return err_set(err, TF_ENOMEM, "%s: charsmap", what);
    memcpy(u->charsmap, blob, n);
    u->charsmap[n] = 0;
    u->charsmap_len = n;
    u->trie = (const uint32_t *)(u->charsmap + 4);
    u->n_trie = trie_bytes / 4;
    u->norm = (const char *)u->charsmap + 4 + trie_bytes;
    u->n_norm = n - 4 - trie_bytes;
    return 0;
}

int ug_finish(tok_unigram *u, const char *what, tf_err *err) {
    if (u->n_ids == 0) return err_set(err, TF_EFORMAT, "%s: no pieces", what);
    uint32_t cap = 1024;
    while (cap < (uint32_t)u->n_ids * 2u) cap <<= 1;
    free(u->slots);
    if (!(u->slots = malloc(sizeof(int32_t) * cap))) return err_set(err, TF_ENOMEM, "%s", what);
    memset(u->slots, 0xFF, sizeof(int32_t) * cap);
    u->mask = cap - 1;
    u->min_score = INFINITY;
    u->max_len = 0;
    for (int i = 0; i < 256; i++) u->byte_id[i] = -1;
    for (int32_t id = 0; id < u->n_ids; id++) {
        if (u->off[id] == UINT32_MAX) continue;
        const char *p = u->arena + u->off[id];
        if (u->len[id] == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>') {
            unsigned v;
            if (sscanf(p + 3, "%2X", &v) == 1 && u->raw_off[id] == UINT32_MAX) {
                u->byte_id[v] = id;
                /* decodes to the byte itself (HF ByteFallback decoder) */
                const char byte = (char)v;
                int rc = arena_put(u, &byte, 1, &u->raw_off[id]);
                if (rc < 0) return err_set(err, rc, "%s", what);
                u->raw_len[id] = 1;
            }
        }
        if (u->raw_off[id] == UINT32_MAX) { /* decoded form: "▁" becomes a space */
            char buf[256];
            size_t n = 0;
            for (uint32_t i = 0; i < u->len[id] && n < sizeof buf - 1;) {
                if (i + 3 <= u->len[id] && memcmp(p + i, META, 3) == 0) buf[n++] = ' ', i += 3;
                else buf[n++] = p[i++];
            }
            /* arena_put may move the arena; p is not used after this */
            int rc = arena_put(u, buf, n, &u->raw_off[id]);
            if (rc < 0) return err_set(err, rc, "%s", what);
            u->raw_len[id] = (uint32_t)n;
        }
        if (!u->matchable[id]) continue;
        if (u->score[id] < u->min_score) u->min_score = u->score[id];
        if (u->len[id] > u->max_len) u->max_len = u->len[id];
        uint32_t h = hash_bytes(u->arena + u->off[id], u->len[id]) & u->mask;
        while (u->slots[h] >= 0) h = (h + 1) & u->mask;
        u->slots[h] = id;
    }
    if (!isfinite(u->min_score)) u->min_score = 0;
    if (u->unk_id >= u->n_ids) return err_set(err, TF_EFORMAT, "%s: unk id %d has no piece", what, u->unk_id);
    return 0;
}

int32_t ug_find(const tok_unigram *u, const char *piece, size_t len) {
    if (!u->slots) return -1;
    for (uint32_t h = hash_bytes(piece, len) & u->mask; u->slots[h] >= 0; h = (h + 1) & u->mask) {
        int32_t id = u->slots[h];
        if (u->len[id] == len && memcmp(u->arena + u->off[id], piece, len) == 0) return id;
    }
    return -1;
}

int ug_token_bytes(const tok_unigram *u, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= u->n_ids || u->raw_off[id] == UINT32_MAX) return TF_ERANGE;
    *bytes = u->arena + u->raw_off[id];
    *len = u->raw_len[id];
    return 0;
}

void ug_close(tok_unigram *u) {
    if (!u) return;
    free(u->off);
    free(u->len);
    free(u->raw_off);
    free(u->raw_len);
    free(u->score);
    free(u->matchable);
    free(u->arena);
    free(u->slots);
    free(u->charsmap);
    for (int i = 0; i < u->n_specials; i++) free(u->specials[i].content);
    free(u->specials);
    memset(u, 0, sizeof *u);
}

/* ---- normalization -------------------------------------------------------------------- */

/* Longest charsmap entry that prefixes s[0..n): its byte length and replacement, or 0.
 * The trie is darts-clone's double array: a unit holds an XOR offset to its children,
 * the label that leads to it, and whether a value hangs below it. */
static size_t charsmap_match(const tok_unigram *u, const uint8_t *s, size_t n, const char **rep) {
    const uint32_t *t = u->trie;
    if (!t || u->n_trie == 0) return 0;
#define OFFSET(x) (((x) >> 10) << (((x) & (1u << 9)) >> 6))
    size_t pos = OFFSET(t[0]), best = 0;
    for (size_t i = 0; i < n; i++) {
        pos ^= s[i];
        if (pos >= u->n_trie) break;
        const uint32_t unit = t[pos];
        if ((unit & ((1u << 31) | 0xFFu)) != s[i]) break;
        pos ^= OFFSET(unit);
        if (pos >= u->n_trie) break;
        if ((unit >> 8) & 1u) {
            const uint32_t value = t[pos] & ((1u << 31) - 1);
            if (value < u->n_norm) {
                best = i + 1;
                *rep = u->norm + value;
            }
        }
    }
#undef OFFSET
    return best;
}

int ug_normalize(const tok_unigram *u, const uint8_t *text, size_t len, char **out,
                 size_t *out_len) {
    size_t cap = len * 3 + 16, n = 0;
    char *o = malloc(cap);
    if (!o) return TF_ENOMEM;
    for (size_t i = 0; i < len;) {
        const char *rep = NULL;
        size_t k = charsmap_match(u, text + i, len - i, &rep);
        size_t rn;
        if (k > 0) {
            rn = strlen(rep);
        } else {
            uint32_t cp;
            k = uni_decode(text + i, len - i, &cp);
            rep = (const char *)text + i;
            rn = k;
        }
        if (n + rn + 1 > cap) {
            while (n + rn + 1 > cap) cap *= 2;
            char *p = realloc(o, cap);
            if (!p) {
                free(o);
                return TF_ENOMEM;
            }
            o = p;
        }
        memcpy(o + n, rep, rn);
        n += rn;
        i += k;
    }
    o[n] = 0;
    *out = o;
    *out_len = n;
    return 0;
}

/* ---- Viterbi ----------------------------------------------------------------------------- */

typedef struct ug_node {
    double score;
    int32_t id;    /* piece ending here on the best path */
    int32_t start; /* byte where that piece starts; -1: unreached */
} ug_node;

static size_t utf8_len(uint8_t c) { return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1; }

/* w[0..n): one word, already "▁"-prefixed. */
static int viterbi(const tok_unigram *u, const char *w, size_t n, ug_node *nodes, tok_ids *out) {
    const double unk_score = (double)u->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= n; i++) nodes[i] = (ug_node){0, -1, -1};
    nodes[0].start = 0;
    for (size_t s = 0; s < n;) {
        size_t ch = utf8_len((uint8_t)w[s]);
        if (ch > n - s) ch = n - s;
        const double base = nodes[s].score;
        int single = 0;
        for (size_t l = 1; l <= u->max_len && s + l <= n; l++) {
            int32_t id = ug_find(u, w + s, l);
            if (id < 0) continue;
            const double sc = base + u->score[id];
            ug_node *t = &nodes[s + l];
            if (t->start < 0 || sc > t->score) *t = (ug_node){sc, id, (int32_t)s};
            if (l == ch) single = 1;
        }
        if (!single) {
            ug_node *t = &nodes[s + ch];
            const double sc = base + unk_score;
            if (t->start < 0 || sc > t->score) *t = (ug_node){sc, u->unk_id, (int32_t)s};
        }
        s += ch;
    }
    /* backtrack into a reversed run, then emit forwards, fusing consecutive unknowns */
    size_t n_path = 0;
    for (size_t e = n; e > 0; e = (size_t)nodes[e].start) n_path++;
    int32_t *path = malloc(sizeof(int32_t) * 2 * (n_path + 1));
    if (!path) return TF_ENOMEM;
    int32_t *starts = path + n_path + 1;
    size_t k = n_path;
    for (size_t e = n; e > 0; e = (size_t)nodes[e].start) {
        k--;
        path[k] = nodes[e].id;
        starts[k] = nodes[e].start;
    }
    int rc = 0;
    for (size_t i = 0; i < n_path && rc == 0; i++) {
        if (path[i] != u->unk_id || u->unk_id < 0) {
            rc = ids_push(out, path[i]);
            continue;
        }
        size_t j = i;
        while (j + 1 < n_path && path[j + 1] == u->unk_id) j++;
        const size_t b = (size_t)starts[i], e = j + 1 < n_path ? (size_t)starts[j + 1] : n;
        int all_bytes = u->byte_fallback;
        for (size_t q = b; q < e && all_bytes; q++) all_bytes = u->byte_id[(uint8_t)w[q]] >= 0;
        if (all_bytes)
            for (size_t q = b; q < e && rc == 0; q++) rc = ids_push(out, u->byte_id[(uint8_t)w[q]]);
        else
            rc = ids_push(out, u->unk_id);
        i = j;
    }
    free(path);
    return rc;
}

int ug_encode(const tok_unigram *u, const uint8_t *text, size_t len, tok_ids *out) {
    char *norm = NULL;
    size_t n;
    int rc = ug_normalize(u, text, len, &norm, &n);
    if (rc < 0) return rc;
    char *word = malloc(n + 4);
    ug_node *nodes = malloc(sizeof(ug_node) * (n + 4));
    if (!word || !nodes) rc = TF_ENOMEM;
    for (size_t i = 0; i < n && rc == 0;) {
        uint32_t cp;
        size_t k = uni_decode((const uint8_t *)norm + i, n - i, &cp);
        if (uni_is_space(cp)) {
            i += k;
            continue;
        }
        size_t e = i + k;
        while (e < n) {
            size_t k2 = uni_decode((const uint8_t *)norm + e, n - e, &cp);
            if (uni_is_space(cp)) break;
            e += k2;
        }
        memcpy(word, META, 3);
        memcpy(word + 3, norm + i, e - i);
        rc = viterbi(u, word, e - i + 3, nodes, out);
        i = e;
    }
    free(nodes);
    free(word);
    free(norm);
    return rc;
}

/* ---- loading -------------------------------------------------------------------------- */

static int b64_val(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

static int b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len) {
    uint8_t *o = malloc(n / 4 * 3 + 4);
    if (!o) return TF_ENOMEM;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(o);
            return TF_EFORMAT;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t)(acc >> bits);
        }
    }
    *out = o;
    *out_len = k;
    return 0;
}

static const char *type_name(json_t *o) {
    const char *t = json_string_value(json_object_get(o, "type"));
    return t ? t : "?";
}

/* Precompiled alone, or in a Sequence with Replace(" {2,}" -> " "), which whitespace
 * splitting makes a no-op. */
static int load_normalizer(tok_unigram *u, json_t *norm, const char *path, tf_err *err) {
    if (!norm || json_is_null(norm)) return 0;
    json_t *items = norm;
    int single = strcmp(type_name(norm), "Sequence") != 0;
    if (!single) items = json_object_get(norm, "normalizers");
    size_t n = single ? 1 : json_array_size(items);
    for (size_t i = 0; i < n; i++) {
        json_t *it = single ? norm : json_array_get(items, i);
        const char *t = type_name(it);
        if (strcmp(t, "Precompiled") == 0) {
            json_t *cm = json_object_get(it, "precompiled_charsmap");
            if (!json_is_string(cm)) continue;
            uint8_t *blob;
            size_t bn;
            if (b64_decode(json_string_value(cm), json_string_length(cm), &blob, &bn) < 0)
                return err_set(err, TF_EFORMAT, "%s: precompiled_charsmap is not base64", path);
            int rc = set_charsmap(u, blob, bn, path, err);
            free(blob);
            if (rc < 0) return rc;
        } else if (strcmp(t, "Replace") == 0) {
            json_t *pat = json_object_get(it, "pattern");
            const char *re = json_string_value(json_object_get(pat, "Regex"));
            const char *content = json_string_value(json_object_get(it, "content"));
            if (!re || strcmp(re, " {2,}") != 0 || !content || strcmp(content, " ") != 0)
                return err_set(err, TF_EUNSUPPORTED, "%s: normalizer Replace other than \" {2,}\" -> \" \"", path);
        } else {
            return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\" with a Unigram model", path, t);
        }
    }
    return 0;
}

static int check_metaspace(json_t *m, const char *path, tf_err *err) {
    const char *rep = json_string_value(json_object_get(m, "replacement"));
    if (rep && strcmp(rep, META) != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: Metaspace replacement other than U+2581", path);
    json_t *aps = json_object_get(m, "add_prefix_space");
    const char *scheme = json_string_value(json_object_get(m, "prepend_scheme"));
    if ((aps && json_is_false(aps)) || (scheme && strcmp(scheme, "always") != 0))
        return err_set(err, TF_EUNSUPPORTED, "%s: Metaspace without a prefix on every word", path);
    return 0;
}

static int load_pretok(json_t *pre, const char *path, tf_err *err) {
    if (json_is_object(pre) && strcmp(type_name(pre), "Metaspace") == 0) return check_metaspace(pre, path, err);
    json_t *items = json_object_get(pre, "pretokenizers");
    if (!json_is_object(pre) || strcmp(type_name(pre), "Sequence") != 0 || json_array_size(items) != 2 ||
        strcmp(type_name(json_array_get(items, 0)), "WhitespaceSplit") != 0 ||
        strcmp(type_name(json_array_get(items, 1)), "Metaspace") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: pre_tokenizer (want Metaspace or "
                       "Sequence[WhitespaceSplit, Metaspace] with a Unigram model)", path);
    return check_metaspace(json_array_get(items, 1), path, err);
}

/* TemplateProcessing "$A <special>": the special's id is appended to every encoding. */
static int load_post(tok_unigram *u, json_t *post, const char *path, tf_err *err) {
    u->append_id = -1;
    if (!post || json_is_null(post)) return 0;
    json_t *single = json_object_get(post, "single");
    if (strcmp(type_name(post), "TemplateProcessing") != 0 || json_array_size(single) < 1 ||
        json_array_size(single) > 2 || !json_object_get(json_array_get(single, 0), "Sequence"))
        return err_set(err, TF_EUNSUPPORTED, "%s: post_processor other than \"$A [special]\"", path);
    if (json_array_size(single) == 1) return 0;
    const char *name = json_string_value(
        json_object_get(json_object_get(json_array_get(single, 1), "SpecialToken"), "id"));
    json_t *spec = json_object_get(json_object_get(post, "special_tokens"), name ? name : "");
    json_t *ids = json_object_get(spec, "ids");
    if (!name || json_array_size(ids) != 1 || !json_is_integer(json_array_get(ids, 0)))
        return err_set(err, TF_EUNSUPPORTED, "%s: post_processor special token", path);
    json_int_t id = json_integer_value(json_array_get(ids, 0));
    if (id < 0 || id >= TOK_MAX_ID) return err_set(err, TF_EFORMAT, "%s: post_processor id", path);
    u->append_id = (int32_t)id;
    return 0;
}

int ug_load_json(tok_unigram *u, json_t *root, const char *path, tf_err *err) {
    u->unk_id = -1;
    u->append_id = -1;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab) || json_array_size(vocab) == 0)
        return err_set(err, TF_EFORMAT, "%s: model.vocab is not a non-empty array", path);
    json_t *unk = json_object_get(model, "unk_id");
    if (json_is_integer(unk)) u->unk_id = (int32_t)json_integer_value(unk);
    u->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    size_t i;
    json_t *e;
    json_array_foreach(vocab, i, e) {
        json_t *p = json_array_get(e, 0), *s = json_array_get(e, 1);
        if (!json_is_string(p) || !json_is_number(s) || json_string_length(p) == 0 || i >= TOK_MAX_ID)
            return err_set(err, TF_EFORMAT, "%s: model.vocab[%zu] is not [piece, score]", path, i);
        int rc = ug_add_piece(u, json_string_value(p), json_string_length(p), (int32_t)i,
                              (float)json_number_value(s), 1);
        if (rc < 0) return err_set(err, rc, "%s: model.vocab[%zu]", path, i);
    }
    if (u->unk_id < -1 || u->unk_id >= u->n_ids)
        return err_set(err, TF_EFORMAT, "%s: model.unk_id %d is outside the vocab", path, u->unk_id);
    if (u->unk_id >= 0) u->matchable[u->unk_id] = 0;
    int rc = load_normalizer(u, json_object_get(root, "normalizer"), path, err);
    if (rc == 0) rc = load_pretok(json_object_get(root, "pre_tokenizer"), path, err);
    if (rc == 0) rc = load_post(u, json_object_get(root, "post_processor"), path, err);
    json_t *dec = json_object_get(root, "decoder");
    if (rc == 0 && dec && !json_is_null(dec) && strcmp(type_name(dec), "Metaspace") != 0)
        rc = err_set(err, TF_EUNSUPPORTED, "%s: decoder \"%s\" with a Unigram model", path, type_name(dec));
    return rc;
}

int ug_load_spiece(tok_unigram *u, const char *dir, tf_err *err) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/spiece.model", dir);
    spm_model sm;
    int rc = spm_model_load(path, &sm, err);
    if (rc < 0) return rc;
    if (sm.model_type != SPM_MODEL_UNIGRAM) {
        rc = err_set(err, TF_EUNSUPPORTED, "%s: model_type %d is not Unigram", path, sm.model_type);
        goto done;
    }
    if (!sm.add_dummy_prefix || !sm.escape_whitespaces || !sm.remove_extra_whitespaces) {
        rc = err_set(err, TF_EUNSUPPORTED, "%s: normalizer without dummy prefix, whitespace "
                     "escaping or whitespace collapsing", path);
        goto done;
    }
    u->unk_id = sm.unk_id;
    u->byte_fallback = sm.byte_fallback;
    for (int i = 0; i < sm.n_pieces && rc == 0; i++) {
        const spm_piece *p = &sm.pieces[i];
        const int match = p->type == SPM_NORMAL || p->type == SPM_USER_DEFINED;
        rc = ug_add_piece(u, p->piece, p->len, i, p->score, match);
        if (rc == 0 && (p->type == SPM_CONTROL || p->type == SPM_UNKNOWN)) rc = add_spec(u, p->piece, i);
    }
    if (rc < 0) {
        rc = err_set(err, rc, "%s: pieces", path);
        goto done;
    }
    if ((rc = set_charsmap(u, sm.charsmap, sm.charsmap_len, path, err)) < 0) goto done;
    /* T5Tokenizer: eos appended; extra_ids sentinels <extra_id_N> take the ids counting
     * down from the top of the vocabulary. */
    u->append_id = sm.eos_id;
    int extra = 100;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_t *cfg = access(path, F_OK) == 0 ? json_load_file(path, 0, NULL) : NULL;
    json_t *x = json_object_get(cfg, "extra_ids");
    if (json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) <= 10000)
        extra = (int)json_integer_value(x);
    for (int k = 0; k < extra && rc == 0; k++) {
        char name[32];
        snprintf(name, sizeof name, "<extra_id_%d>", k);
        rc = add_spec(u, name, sm.n_pieces + extra - 1 - k);
    }
    json_decref(cfg);
    if (rc < 0) rc = err_set(err, rc, "%s: extra ids", path);
done:
    spm_model_close(&sm);
    return rc;
}
