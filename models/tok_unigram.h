/* tok_unigram.h: SentencePiece Unigram tokenization (T5), internal to the tokenizer.
 *
 * Pieces come from tokenizer.json (model.type "Unigram", or the old dialect without a
 * type) or from spiece.model (models/spm_model.h). Encoding a segment of text that
 * holds no added token follows the reference pipeline:
 *   1. normalize with the precompiled charsmap (longest match at each position, as
 *      sentencepiece does; the HF Rust normalizer first tries whole grapheme clusters,
 *      which differs only for multi-character clusters that the map knows as a whole);
 *   2. split on White_Space (HF WhitespaceSplit; sentencepiece's remove_extra_whitespaces
 *      after the map turned whitespace into spaces);
 *   3. Metaspace: each word gets a leading "▁" (add_prefix_space);
 *   4. Viterbi over piece scores; characters no piece covers become unk (score
 *      min_score - 10, consecutive unks fused), or their UTF-8 bytes <0xXX> when the model
 *      has byte_fallback.
 * Thread-safety: read-only after ug_finish; ug_encode keeps its scratch per call.
 */
#ifndef TF_MODELS_TOK_UNIGRAM_H
#define TF_MODELS_TOK_UNIGRAM_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "models/tok_bpe.h"

typedef struct ug_special {
    char *content; /* owned */
    int32_t id;
} ug_special;

typedef struct tok_unigram {
    int32_t n_ids;
    uint32_t *off;      /* owned, [n_ids]: piece ("▁" form) in arena */
    uint32_t *len;      /* owned, [n_ids] */
    uint32_t *raw_off;  /* owned, [n_ids]: decoded bytes ("▁" -> " "; control -> "") */
    uint32_t *raw_len;  /* owned, [n_ids] */
    float *score;       /* owned, [n_ids] */
    uint8_t *matchable; /* owned, [n_ids]: takes part in Viterbi */
    char *arena;        /* owned */
    size_t arena_len, arena_cap;
    int32_t *slots;     /* owned: open addressing, piece -> id (matchable only), -1 empty */
    uint32_t mask;
    uint32_t max_len;   /* longest matchable piece in bytes */
    float min_score;
    int32_t unk_id;     /* -1: none */
    int byte_fallback;
    int32_t byte_id[256];
    uint8_t *charsmap;  /* owned, precompiled charsmap (may be NULL) */
    size_t charsmap_len;
    const uint32_t *trie; /* view into charsmap */
    size_t n_trie;
    const char *norm;     /* view into charsmap: replacement strings */
    size_t n_norm;
    ug_special *specials; /* owned: tokens the tokenizer must split out before encoding */
    int n_specials;
    int32_t append_id;    /* appended to every encoding (</s>), -1: none */
} tok_unigram;

/* From tokenizer.json: root is the parsed file. Fills pieces, specials and settings;
 * refuses normalizers, pre-tokenizers and post-processors it does not implement. */
int ug_load_json(tok_unigram *u, json_t *root, const char *path, tf_err *err);
/* From a checkpoint directory's spiece.model (+ tokenizer_config.json extra_ids /
 * additional_special_tokens when present, else T5's 100 <extra_id_N>). */
int ug_load_spiece(tok_unigram *u, const char *dir, tf_err *err);
/* Registers an added/special token (never matched inside text; decodes to its content). */
int ug_add_special(tok_unigram *u, const char *content, int32_t id);
/* After every piece and special: builds the lookup tables. */
int ug_finish(tok_unigram *u, const char *what, tf_err *err);
void ug_close(tok_unigram *u);

/* Appends the ids of one segment of raw UTF-8 text (no added tokens in it). */
int ug_encode(const tok_unigram *u, const uint8_t *text, size_t len, tok_ids *out);
int32_t ug_find(const tok_unigram *u, const char *piece, size_t len);
int ug_token_bytes(const tok_unigram *u, int32_t id, const char **bytes, size_t *len);

/* Normalized form of text through the charsmap (exposed for tests). *out malloc'd. */
int ug_normalize(const tok_unigram *u, const uint8_t *text, size_t len, char **out,
                 size_t *out_len);

#endif
