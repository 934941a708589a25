/* tokenizer_impl.h: what the tokenizer's own files share (tokenizer.c: building steps,
 * tok_load, encode/decode; tokenizer_json.c: tokenizer.json; tokenizer_files.c: the slow
 * files vocab.json + merges.txt, vocab.txt, tokenizer_config.json). Not for other modules.
 *
 * Four models sit behind one tf_tokenizer: byte-level BPE (bpe holds vocab and merges),
 * SentencePiece BPE (spm holds them, bpe only the added tokens), WordPiece (wp holds
 * the normalizer switches, bpe the vocab as a string <-> id table) and SentencePiece
 * Unigram (ug holds pieces and added tokens). Whatever the model,
 * added tokens go through tok_add_special and the special ids around the text through
 * the one tok_template.
 */
#ifndef TF_MODELS_TOKENIZER_IMPL_H
#define TF_MODELS_TOKENIZER_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "models/tok_bpe.h"
#include "models/tok_spm_bpe.h"
#include "models/tok_unigram.h"
#include "models/tok_wordpiece.h"
#include "models/tokenizer.h"

typedef struct tok_added {
    char *content; /* owned, raw text */
    size_t len;
    int32_t id;
    int lstrip, rstrip; /* absorb whitespace on that side into the token */
} tok_added;

/* The special ids put around every encoding: [CLS] ... [SEP] (BERT), <s> ... (Llama).
 * Filled from tokenizer.json's post_processor, BertTokenizer's defaults (vocab.txt) or
 * add_bos_token / add_eos_token (tokenizer_config.json), in that file's order. */
#define TOK_TMPL_MAX 4
typedef struct tok_template {
    int32_t pre[TOK_TMPL_MAX], suf[TOK_TMPL_MAX];
    int n_pre, n_suf;
} tok_template;

struct tf_tokenizer {
    tok_bpe bpe;
    tok_added *added; /* owned, [n_added], longest content first */
    int n_added;
    uint8_t added_first[256]; /* 1 if some added token starts with this byte */
    int add_prefix_space;     /* ByteLevel: prepend " " to each segment between added tokens
                               * that does not start with one (the Rust pre-tokenizer's rule;
                               * the slow GPT2Tokenizer prefixes only the whole text) */
    int use_regex;            /* ByteLevel: pre-split with the GPT-2 regex */
    tok_spm *spm;             /* owned; SentencePiece BPE (Llama) when set */
    tok_wp *wp;               /* owned; WordPiece (BERT) when set */
    tok_unigram *ug;          /* owned; SentencePiece Unigram (T5) when set; bpe unused */
    tok_template tmpl;
};

/* Files larger than this are refused: no tokenizer file of a supported family comes near. */
#define TOK_MAX_FILE_BYTES ((long)256 << 20)

/* ---- building steps (tokenizer.c) ---- */

/* An added token; id < 0: the vocab's id for content, else a new one. */
int tok_add_special(tf_tokenizer *t, const char *content, int32_t id, int lstrip, int rstrip,
                    const char *what, tf_err *err);
int tok_add_vocab(tf_tokenizer *t, json_t *vocab, const char *what, tf_err *err);
/* One merge "left right"; the rank is its position in the list. buf/cap: caller's scratch. */
int tok_add_merge(tf_tokenizer *t, const char *left, size_t n_left, const char *right,
                  size_t n_right, size_t rank, char **buf, size_t *cap, const char *what,
                  tf_err *err);
int tok_add_merge_line(tf_tokenizer *t, const char *line, size_t len, size_t rank, char **buf,
                       size_t *cap, const char *what, tf_err *err);
/* Appends id on one side of the template (after = 0: before the text). */
int tok_template_push(tok_template *tp, int after, int32_t id, const char *what, tf_err *err);

int tok_json_file(const char *path, json_t **out, tf_err *err);
int tok_bool_field(json_t *obj, const char *key, int dflt);
const char *tok_type_of(json_t *obj); /* obj["type"], "?" if none */
/* A token named in a config: "text" or {"content": "text", ...}; NULL if neither. */
const char *tok_config_token(json_t *cfg, const char *key);

/* ---- tokenizer.json (tokenizer_json.c) ---- */
int tok_load_fast(tf_tokenizer *t, const char *path, tf_err *err);

/* ---- slow files (tokenizer_files.c) ---- */
int tok_load_slow(tf_tokenizer *t, const char *dir, tf_err *err);       /* vocab.json + merges.txt */
int tok_load_vocab_txt(tf_tokenizer *t, const char *dir, tf_err *err);  /* BertTokenizer */
/* add_bos_token / add_eos_token of tokenizer_config.json (SentencePiece models). */
int tok_load_spm_config(tf_tokenizer *t, const char *dir, tf_err *err);
int tok_load_spiece(tf_tokenizer *t, const char *dir, tf_err *err);     /* spiece.model (T5) */

#endif
