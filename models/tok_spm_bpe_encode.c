/* tok_spm_bpe_encode.c: SentencePiece-BPE encoding over the loaded tables: per word, a
 * min-heap of candidate pairs ordered by (rank, left position) over a linked list of
 * symbols, as the HF Rust BPE model runs its merges (DESIGN in tok_spm_bpe.c). */
#include <stdlib.h>
#include <string.h>

#include "models/tok_spm_bpe_impl.h"
#include "models/unicode.h"


typedef struct sym { int32_t id, prev, next; } sym;
typedef struct cand { int32_t rank, pos, merged; } cand;

static int cand_less(const cand *a, const cand *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0 && cand_less(&c, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c])) c++;
        if (!cand_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static void push_pair(const tok_spm *t, const sym *s, int32_t pos, cand *h, size_t *n) {
    int32_t next = s[pos].next, merged;
    if (next < 0) return;
    int32_t rank = spm_pair_find(t, s[pos].id, s[next].id, &merged);
    if (rank >= 0) heap_push(h, n, (cand){rank, pos, merged});
}

/* One word: characters (or their byte tokens) merged by rank. */
static int encode_word(const tok_spm *t, const uint8_t *w, size_t n, tok_ids *out) {
    if (t->ignore_merges) {
        int32_t id = spm_bpe_find(t, (const char *)w, n);
        if (id >= 0) return ids_push(out, id);
    }
    /* At most one symbol per byte, and every merge pushes at most two candidates. */
    sym *s = malloc(sizeof(sym) * n);
    cand *h = malloc(sizeof(cand) * (3 * n + 1));
    if (!s || !h) {
        free(s), free(h);
        return TF_ENOMEM;
    }
    int32_t n_sym = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = uni_decode(w + i, n - i, &cp);
        int32_t id = spm_bpe_find(t, (const char *)w + i, k);
        int fell_back = 0;
        if (id < 0 && t->byte_fallback) {
            fell_back = 1;
            for (size_t j = 0; j < k; j++) fell_back &= t->byte_id[w[i + j]] >= 0;
            for (size_t j = 0; fell_back && j < k; j++)
                s[n_sym] = (sym){t->byte_id[w[i + j]], n_sym - 1, -1}, n_sym++;
        }
        if (!fell_back) {
            if (id < 0) id = t->unk_id;
            if (id < 0) { /* no unk either: the character is dropped, as HF does */
                i += k;
                continue;
            }
            if (!(t->fuse_unk && id == t->unk_id && n_sym > 0 && s[n_sym - 1].id == t->unk_id))
                s[n_sym] = (sym){id, n_sym - 1, -1}, n_sym++;
        }
        i += k;
    }
    for (int32_t i = 0; i + 1 < n_sym; i++) s[i].next = i + 1;
    size_t n_h = 0;
    for (int32_t i = 0; i + 1 < n_sym; i++) push_pair(t, s, i, h, &n_h);
    while (n_h > 0) {
        cand c = heap_pop(h, &n_h);
        sym *l = &s[c.pos];
        if (l->id < 0 || l->next < 0) continue;
        int32_t merged;
        if (spm_pair_find(t, l->id, s[l->next].id, &merged) < 0 || merged != c.merged) continue;
        int32_t r = l->next;
        l->id = merged;
        l->next = s[r].next;
        if (l->next >= 0) s[l->next].prev = c.pos;
        s[r].id = -1;
        if (l->prev >= 0) push_pair(t, s, l->prev, h, &n_h);
        push_pair(t, s, c.pos, h, &n_h);
    }
    int rc = 0;
    for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0 && rc == 0; i = s[i].next) rc = ids_push(out, s[i].id);
    free(s);
    free(h);
    return rc;
}

int spm_bpe_encode(const tok_spm *t, const uint8_t *s, size_t len, int at_start, tok_ids *out) {
    /* Normalize: the "▁" prefix, then every space as "▁" (3 bytes for 1). */
    uint8_t *buf = malloc(META_LEN + 3 * len);
    if (!buf) return TF_ENOMEM;
    size_t n = 0;
    int lead_meta = len >= 1 && (s[0] == ' ' || (len >= META_LEN && memcmp(s, META, META_LEN) == 0));
    if ((t->prepend == 1 || (t->prepend == 2 && at_start)) && (t->prepend_always_doubles || !lead_meta)) {
        memcpy(buf, META, META_LEN);
        n = META_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ' && t->escape) {
            memcpy(buf + n, META, META_LEN);
            n += META_LEN;
        } else {
            buf[n++] = s[i];
        }
    }
    int rc = 0;
    for (size_t pos = 0; pos < n && rc == 0;) {
        size_t end = n;
        /* Metaspace split: each "▁" begins a word (MergedWithNext). */
        if (t->split) {
            end = pos + (n - pos >= META_LEN && memcmp(buf + pos, META, META_LEN) == 0 ? META_LEN : 1);
            while (end < n && !(end + META_LEN <= n && memcmp(buf + end, META, META_LEN) == 0)) end++;
        }
        rc = encode_word(t, buf + pos, end - pos, out);
        pos = end;
    }
    free(buf);
    return rc;
}

int spm_bpe_token_bytes(const tok_spm *t, int32_t id, const char **bytes, size_t *len) {
    if (id < 0 || id >= t->n_ids || t->off[id] == UINT32_MAX) return TF_ERANGE;
    *bytes = t->arena + t->dec_off[id];
    *len = t->dec_len[id];
    return 0;
}

int spm_bpe_n_ids(const tok_spm *t) { return t->n_ids; }

int spm_bpe_strip_lead_space(const tok_spm *t) { return t->strip_lead; }
