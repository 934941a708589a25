/* tok_bpe.h: byte-level BPE tables and the merge loop (internal to the tokenizer).
 *
 * Owns the id -> token tables (vocab string, raw bytes), the vocab string -> id hash, the
 * (left id, right id) -> (rank, merged id) hash and the GPT-2 byte <-> character map.
 * Built once by models/tokenizer.c, then read-only: bpe_encode_word takes its scratch
 * memory from the caller, so any number of threads may encode at once.
 *
 *     tok_bpe b;  bpe_init(&b);
 *     bpe_add_token(&b, "a", 1, 0, 0, &err);  ...  bpe_add_merge(&b, ia, ib, iab, rank);
 *     bpe_finish(&b, "vocab.json", &err);
 *     tok_scratch sc = {0};  tok_ids out = {0};
 *     bpe_encode_word(&b, &sc, bytes, n, &out);
 *     scratch_close(&sc);  free(out.v);  bpe_close(&b);
 */
#ifndef TF_MODELS_TOK_BPE_H
#define TF_MODELS_TOK_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Ids above this are refused at load: they would size the id tables (a hostile file). */
#define TOK_MAX_ID (1 << 22)

typedef struct tok_ids {
    int32_t *v; /* owned */
    size_t n, cap;
} tok_ids;

/* Per-call working memory of the merge loop; grows to the longest word seen. */
typedef struct tok_sym tok_sym;
typedef struct tok_cand tok_cand;
typedef struct tok_scratch {
    tok_sym *syms;   /* owned */
    tok_cand *heap;  /* owned */
    uint8_t *mapped; /* owned; byte-mapped form of a word, for ignore_merges lookups */
    size_t cap_syms, cap_heap, cap_mapped;
} tok_scratch;

typedef struct tok_bpe {
    int32_t n_ids;      /* 1 + the largest id registered */
    int32_t id_cap;     /* allocated length of the id tables */
    uint32_t *str_off;  /* owned, [n_ids]: token string in arena, UINT32_MAX for holes */
    uint32_t *str_len;  /* owned, [n_ids] */
    uint32_t *raw_off;  /* owned, [n_ids]: the token's bytes in arena */
    uint32_t *raw_len;  /* owned, [n_ids] */
    char *arena;        /* owned; every string NUL-terminated */
    size_t arena_len, arena_cap;
    int32_t *str_slots; /* owned, open addressing: token string -> id, -1 empty */
    uint32_t str_mask;
    uint32_t n_strs;
    uint64_t *pair_keys; /* owned, open addressing: (left << 32 | right), UINT64_MAX empty */
    int32_t *pair_rank;  /* owned */
    int32_t *pair_id;    /* owned */
    uint32_t pair_mask;
    uint32_t n_pairs;
    int32_t byte_id[256]; /* id of each single-byte token; set by bpe_finish */
    int ignore_merges;    /* a word that is itself in the vocab is not merged (newer BPE flag) */
} tok_bpe;

void bpe_init(tok_bpe *b);
void bpe_close(tok_bpe *b);

/* Registers id -> str. literal: str is raw text (an added token), not byte-mapped.
 * Replaces an earlier token at the same id (added tokens override the vocab).
 * TF_ERANGE for id outside [0, TOK_MAX_ID). */
int bpe_add_token(tok_bpe *b, const char *str, size_t len, int32_t id, int literal, tf_err *err);
int32_t bpe_find(const tok_bpe *b, const char *str, size_t len); /* -1 if absent */
/* A later merge of the same pair replaces the earlier one, as in HF and the slow tokenizer. */
int bpe_add_merge(tok_bpe *b, int32_t left, int32_t right, int32_t merged, int32_t rank);
/* Checks that every byte has its single-character token. what names the file for errors. */
int bpe_finish(tok_bpe *b, const char *what, tf_err *err);

/* Appends the ids of one pre-tokenized word (raw bytes, n >= 1). */
int bpe_encode_word(const tok_bpe *b, tok_scratch *sc, const uint8_t *word, size_t n,
                    tok_ids *out);
void scratch_close(tok_scratch *sc);
int ids_push(tok_ids *v, int32_t id);

/* The GPT-2 bytes_to_unicode map: byte -> code point (all < 0x200). */
uint32_t bpe_byte_to_cp(uint8_t byte);

#endif
