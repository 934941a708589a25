/* tok_wordpiece.h: the BERT normalizer, pre-tokenizer and WordPiece model (internal to the
 * tokenizer; module prefix wp_).
 *
 * The vocabulary lives in a tok_bpe used only as its string <-> id table (bpe_add_token /
 * bpe_find), so added tokens, decoding and tok_find work the same for both models. A
 * segment of text (between added tokens) is encoded in three steps, as the HF tokenizers
 * BertNormalizer / BertPreTokenizer / WordPiece do:
 *   normalize: drop NUL, U+FFFD and control characters (Cc Cf Co Cs, not tab/LF/CR), map
 *              whitespace to " ", put spaces around CJK ideographs, lower-case (full
 *              per-character mapping), then NFD and drop Mn marks when accents are stripped
 *   pre-split: on whitespace; every punctuation character (P* or ASCII symbol) is a word
 *   WordPiece: greedy longest match from the left, continuations looked up with the "##"
 *              prefix; a word with a piece not in the vocab, or longer than
 *              max_input_chars_per_word characters, is one [UNK]
 *
 * Known differences from other implementations, kept out of the golden texts: Python's
 * str.lower() and JavaScript's toLowerCase() turn a word-final capital sigma into "ς"; HF
 * tokenizers (Rust) and this code map characters one by one ("σ"). transformers.js does not
 * space out CJK ideographs above U+FFFF (it looks at UTF-16 units); Rust and this code do.
 * Combining marks are not canonically reordered after NFD (only Mn marks are ever removed,
 * so the ids differ only for text with several non-Mn combining marks on one base).
 *
 * Thread-safety: a tok_wp is read-only after loading; wp_encode keeps its scratch per call.
 */
#ifndef TF_MODELS_TOK_WORDPIECE_H
#define TF_MODELS_TOK_WORDPIECE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "models/tok_bpe.h"

typedef struct tok_wp {
    int clean_text, chinese, lowercase, strip_accents; /* BertNormalizer switches */
    int32_t unk_id;
    int max_chars;      /* max_input_chars_per_word */
    char prefix[16];    /* continuing_subword_prefix, "##" */
    size_t prefix_len;
} tok_wp;

/* The BertTokenizer defaults: everything on, "##", 100 characters, no [UNK] yet. */
void wp_init(tok_wp *wp);

/* tokenizer.json with "model": {"type": "WordPiece"}: the normalizer (BertNormalizer or
 * null), the pre-tokenizer (BertPreTokenizer or null) and the model, whose vocab goes into
 * `vocab`. Other normalizers and pre-tokenizers are TF_EUNSUPPORTED. */
int wp_load_json(tok_wp *wp, tok_bpe *vocab, json_t *root, const char *path, tf_err *err);

/* vocab.txt: one token per line, the id is the line number (a repeated token: its last). */
int wp_load_vocab_txt(tok_bpe *vocab, const char *path, tf_err *err);

/* tokenizer_config.json of a BertTokenizer: do_lower_case, strip_accents,
 * tokenize_chinese_chars. cfg may be NULL (the defaults stay). */
void wp_config_slow(tok_wp *wp, json_t *cfg);

/* Resolves the unknown token; TF_EFORMAT when it is not in the vocab. */
int wp_set_unk(tok_wp *wp, const tok_bpe *vocab, const char *unk, const char *what, tf_err *err);

/* Appends the ids of s[0..len) (valid UTF-8, no added tokens in it). */
int wp_encode(const tok_wp *wp, const tok_bpe *vocab, const uint8_t *s, size_t len,
              tok_ids *out);

/* Is the character a BERT punctuation / whitespace / control character (for tests). */
int wp_is_punct(uint32_t cp);
int wp_is_control(uint32_t cp);

/* Generated tables (models/wordpiece_data.c, models/gen_wordpiece_data.mjs). */
typedef struct wp_map_entry {
    uint32_t cp, off, n; /* cp maps to pool[off .. off + n) */
} wp_map_entry;
extern const char wp_data_version[];
extern const uint32_t wp_punct_ranges[][2];
extern const size_t wp_punct_ranges_n;
extern const uint32_t wp_control_ranges[][2];
extern const size_t wp_control_ranges_n;
extern const uint32_t wp_mark_ranges[][2];
extern const size_t wp_mark_ranges_n;
extern const uint32_t wp_lower_pool[];
extern const wp_map_entry wp_lower[];
extern const size_t wp_lower_n;
extern const uint32_t wp_nfd_pool[];
extern const wp_map_entry wp_nfd[];
extern const size_t wp_nfd_n;

#endif
