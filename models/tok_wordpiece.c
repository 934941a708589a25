/* tok_wordpiece.c: BERT normalizer + pre-tokenizer + WordPiece (see tok_wordpiece.h).
 *
 * DESIGN: a segment is decoded to code points once, normalized into a code point buffer
 * (the normalizer can grow text: CJK spacing, multi-character lower-case and NFD
 * mappings), then cut into words; each word is re-encoded to UTF-8 with per-character
 * byte offsets; for each start position "##" + the rest of the word is written once and
 * every candidate piece is a prefix of it, so the longest-match loop only shortens a length. */
#include "models/tok_wordpiece.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/unicode.h"

// --- character classes ----------------------------------------------------------------

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

static const wp_map_entry *map_find(const wp_map_entry *m, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < m[mid].cp) hi = mid;
        else if (cp > m[mid].cp) lo = mid + 1;
        else return &m[mid];
    }
    return NULL;
}

int wp_is_punct(uint32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return 1;
    return in_ranges(wp_punct_ranges, wp_punct_ranges_n, cp);
}

int wp_is_control(uint32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return 0;
    return in_ranges(wp_control_ranges, wp_control_ranges_n, cp);
}

static int is_space(uint32_t cp) { return uni_is_space(cp); }

/* The CJK Unified Ideograph blocks BERT spaces out (not Hiragana, Katakana or Hangul). */
static int is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// --- normalizer -----------------------------------------------------------------------

typedef struct cp_buf {
    uint32_t *v;
    size_t n, cap;
} cp_buf;

static int cp_push(cp_buf *b, uint32_t cp) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        uint32_t *v = realloc(b->v, cap * sizeof *v);
        if (!v) return TF_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = cp;
    return 0;
}

/* NFD of one character with Mn marks dropped. */
static int push_stripped(cp_buf *b, uint32_t cp) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: L V (T) jamo, none of them Mn */
        uint32_t s = cp - 0xAC00;
        int rc = cp_push(b, 0x1100 + s / 588);
        if (rc == 0) rc = cp_push(b, 0x1161 + (s % 588) / 28);
        if (rc == 0 && s % 28) rc = cp_push(b, 0x11A7 + s % 28);
        return rc;
    }
    const wp_map_entry *e = map_find(wp_nfd, wp_nfd_n, cp);
    const uint32_t *src = e ? wp_nfd_pool + e->off : &cp;
    const size_t n = e ? e->n : 1;
    for (size_t i = 0; i < n; i++)
        if (!in_ranges(wp_mark_ranges, wp_mark_ranges_n, src[i]) && cp_push(b, src[i]) < 0)
            return TF_ENOMEM;
    return 0;
}

static int push_cased(const tok_wp *wp, cp_buf *b, uint32_t cp) {
    const uint32_t *src = &cp;
    size_t n = 1;
    if (wp->lowercase) {
        const wp_map_entry *e = map_find(wp_lower, wp_lower_n, cp);
        if (e) src = wp_lower_pool + e->off, n = e->n;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = wp->strip_accents ? push_stripped(b, src[i]) : cp_push(b, src[i]);
        if (rc < 0) return rc;
    }
    return 0;
}

static int normalize(const tok_wp *wp, const uint8_t *s, size_t len, cp_buf *b) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += uni_decode(s + i, len - i, &cp);
        if (wp->clean_text) {
            if (cp == 0 || cp == UNI_REPLACEMENT || wp_is_control(cp)) continue;
            if (is_space(cp)) cp = ' ';
        }
        int rc;
        if (wp->chinese && is_cjk(cp)) {
            rc = cp_push(b, ' ');
            if (rc == 0) rc = push_cased(wp, b, cp);
            if (rc == 0) rc = cp_push(b, ' ');
        } else {
            rc = push_cased(wp, b, cp);
        }
        if (rc < 0) return rc;
    }
    return 0;
}

// --- WordPiece ------------------------------------------------------------------------

typedef struct word_buf {
    uint8_t *bytes;  /* the word's UTF-8 */
    uint8_t *key;    /* prefix + the rest of the word from the current start */
    size_t *off;     /* [n_chars + 1] byte offset of each character in the word */
    size_t cap_bytes, cap_chars;
} word_buf;

static int word_reserve(word_buf *w, size_t n_chars, size_t room) {
    if (n_chars + 1 > w->cap_chars) {
        size_t *off = realloc(w->off, (n_chars + 1) * sizeof *off);
        if (!off) return TF_ENOMEM;
        w->off = off;
        w->cap_chars = n_chars + 1;
    }
    if (room + 4 * n_chars > w->cap_bytes) {
        uint8_t *bytes = realloc(w->bytes, room + 4 * n_chars);
        uint8_t *key = realloc(w->key, room + 4 * n_chars);
        if (bytes) w->bytes = bytes;
        if (key) w->key = key;
        if (!bytes || !key) return TF_ENOMEM;
        w->cap_bytes = room + 4 * n_chars;
    }
    return 0;
}

static int encode_word(const tok_wp *wp, const tok_bpe *vocab, const uint32_t *cps, size_t n,
                       word_buf *w, tok_ids *out) {
    if ((int64_t)n > wp->max_chars) return ids_push(out, wp->unk_id);
    const size_t room = wp->prefix_len;
    if (word_reserve(w, n, room) < 0) return TF_ENOMEM;
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        w->off[i] = nb;
        nb += uni_encode(cps[i], w->bytes + nb);
    }
    w->off[n] = nb;
    const size_t mark = out->n;
    for (size_t start = 0; start < n;) {
        /* Every candidate piece [start, end) is a prefix of key = "##" + word[start..]. */
        const size_t extra = start > 0 ? room : 0;
        memcpy(w->key, wp->prefix, extra);
        memcpy(w->key + extra, w->bytes + w->off[start], nb - w->off[start]);
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            id = bpe_find(vocab, (const char *)w->key, extra + w->off[end] - w->off[start]);
            if (id >= 0) break;
        }
        if (id < 0) { /* one piece is missing: the whole word is unknown */
            out->n = mark;
            return ids_push(out, wp->unk_id);
        }
        int rc = ids_push(out, id);
        if (rc < 0) return rc;
        start = end;
    }
    return 0;
}

int wp_encode(const tok_wp *wp, const tok_bpe *vocab, const uint8_t *s, size_t len,
              tok_ids *out) {
    cp_buf b = {0};
    word_buf w = {0};
    int rc = normalize(wp, s, len, &b);
    for (size_t i = 0; i < b.n && rc == 0;) {
        if (is_space(b.v[i])) {
            i++;
        } else if (wp_is_punct(b.v[i])) {
            rc = encode_word(wp, vocab, b.v + i, 1, &w, out);
            i++;
        } else {
            size_t j = i + 1;
            while (j < b.n && !is_space(b.v[j]) && !wp_is_punct(b.v[j])) j++;
            rc = encode_word(wp, vocab, b.v + i, j - i, &w, out);
            i = j;
        }
    }
    free(b.v);
    free(w.bytes);
    free(w.key);
    free(w.off);
    return rc;
}

// --- loading --------------------------------------------------------------------------

void wp_init(tok_wp *wp) {
    *wp = (tok_wp){.clean_text = 1, .chinese = 1, .lowercase = 1, .strip_accents = 1,
                   .unk_id = -1, .max_chars = 100, .prefix = "##", .prefix_len = 2};
}

static int bool_or(json_t *obj, const char *key, int dflt) {
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* strip_accents: true, false, or null/absent = follow lowercase. */
static void set_case(tok_wp *wp, json_t *obj, const char *lower_key) {
    wp->lowercase = bool_or(obj, lower_key, wp->lowercase);
    json_t *sa = json_object_get(obj, "strip_accents");
    wp->strip_accents = json_is_boolean(sa) ? json_is_true(sa) : wp->lowercase;
}

void wp_config_slow(tok_wp *wp, json_t *cfg) {
    if (!cfg) return;
    set_case(wp, cfg, "do_lower_case");
    wp->chinese = bool_or(cfg, "tokenize_chinese_chars", wp->chinese);
}

int wp_set_unk(tok_wp *wp, const tok_bpe *vocab, const char *unk, const char *what, tf_err *err) {
    wp->unk_id = bpe_find(vocab, unk, strlen(unk));
    if (wp->unk_id < 0)
        return err_set(err, TF_EFORMAT, "%s: unknown token \"%.64s\" is not in the vocab", what, unk);
    return 0;
}

static const char *type_of(json_t *obj) {
    const char *type = json_string_value(json_object_get(obj, "type"));
    return type ? type : "?";
}

int wp_load_json(tok_wp *wp, tok_bpe *vocab, json_t *root, const char *path, tf_err *err) {
    json_t *norm = json_object_get(root, "normalizer");
    if (norm && !json_is_null(norm)) {
        if (strcmp(type_of(norm), "BertNormalizer") != 0)
            return err_set(err, TF_EUNSUPPORTED, "%s: normalizer \"%s\" (WordPiece: only "
                           "BertNormalizer)", path, type_of(norm));
        wp->clean_text = bool_or(norm, "clean_text", 1);
        wp->chinese = bool_or(norm, "handle_chinese_chars", 1);
        set_case(wp, norm, "lowercase");
    } else {
        wp->clean_text = wp->chinese = wp->lowercase = wp->strip_accents = 0;
    }
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(pre) || strcmp(type_of(pre), "BertPreTokenizer") != 0)
        return err_set(err, TF_EUNSUPPORTED, "%s: pre_tokenizer \"%s\" (WordPiece: only "
                       "BertPreTokenizer)", path, json_is_object(pre) ? type_of(pre) : "null");
    json_t *model = json_object_get(root, "model");
    const char *prefix = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    if (prefix) {
        size_t n = strlen(prefix);
        if (n >= sizeof wp->prefix)
            return err_set(err, TF_EUNSUPPORTED, "%s: continuing_subword_prefix longer than %zu "
                           "bytes", path, sizeof wp->prefix - 1);
        memcpy(wp->prefix, prefix, n + 1);
        wp->prefix_len = n;
    }
    json_t *mc = json_object_get(model, "max_input_chars_per_word");
    if (json_is_integer(mc)) {
        json_int_t v = json_integer_value(mc);
        if (v < 1 || v > 1 << 20)
            return err_set(err, TF_EFORMAT, "%s: max_input_chars_per_word %lld outside [1, %d]",
                           path, (long long)v, 1 << 20);
        wp->max_chars = (int)v;
    }
    json_t *v = json_object_get(model, "vocab");
    if (!json_is_object(v) || json_object_size(v) == 0)
        return err_set(err, TF_EFORMAT, "%s: model.vocab is missing or empty", path);
    const size_t n = json_object_size(v);
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
        if (id < 0 || id >= TOK_MAX_ID || (size_t)id >= 2 * n + 1024)
            return err_set(err, TF_EFORMAT, "%s: vocab entry \"%.64s\" has a bad id", path, key);
        if (id < vocab->n_ids && vocab->str_off[id] != UINT32_MAX)
            return err_set(err, TF_EFORMAT, "%s: vocab id %lld is used twice", path, (long long)id);
        tf_err inner = {0};
        int rc = bpe_add_token(vocab, key, strlen(key), (int32_t)id, 1, &inner);
        if (rc < 0) return err_set(err, rc, "%s: %s", path, inner.msg);
    }
    const char *unk = json_string_value(json_object_get(model, "unk_token"));
    return wp_set_unk(wp, vocab, unk ? unk : "[UNK]", path, err);
}

int wp_load_vocab_txt(tok_bpe *vocab, const char *path, tf_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set(err, TF_EIO, "%s: %s", path, strerror(errno));
    char **lines = NULL;
    size_t n_lines = 0, cap_lines = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        line[n] = 0;
        if (n_lines >= TOK_MAX_ID) {
            rc = err_set(err, TF_EFORMAT, "%s: more than %d lines", path, TOK_MAX_ID);
            break;
        }
        if (n_lines == cap_lines) {
            char **p = realloc(lines, (cap_lines = cap_lines ? 2 * cap_lines : 4096) * sizeof *p);
            if (!p) {
                rc = err_set(err, TF_ENOMEM, "%s: out of memory", path);
                break;
            }
            lines = p;
        }
        if (!(lines[n_lines++] = strdup(line))) {
            rc = err_set(err, TF_ENOMEM, "%s: out of memory", path);
            n_lines--;
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc == 0 && n_lines == 0) rc = err_set(err, TF_EFORMAT, "%s: empty vocabulary", path);
    /* Backwards, skipping strings already seen: a token listed twice keeps its last line's
     * id, as BertTokenizer's dict and the Rust WordPiece reader do. */
    for (size_t i = n_lines; i-- > 0 && rc == 0;) {
        size_t n = strlen(lines[i]);
        if (n == 0 || bpe_find(vocab, lines[i], n) >= 0) continue;
        tf_err inner = {0};
        if ((rc = bpe_add_token(vocab, lines[i], n, (int32_t)i, 1, &inner)) < 0)
            rc = err_set(err, rc, "%s:%zu: %s", path, i + 1, inner.msg);
    }
    for (size_t i = 0; i < n_lines; i++) free(lines[i]);
    free(lines);
    return rc;
}
