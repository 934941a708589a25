/* tok_spm_bpe.h: SentencePiece-style BPE from a tokenizer.json (module prefix spm_bpe_),
 * internal to models/tokenizer.c.
 *
 * Serves the tokenizer.json form the Llama family ships: model "BPE" with
 * byte_fallback, spaces written as "▁" (U+2581), either by the legacy normalizer
 * Sequence[Prepend("▁"), Replace(" ", "▁")] (every segment between added tokens gets
 * the "▁" prefix) or by a Metaspace pre-tokenizer (prepend_scheme always/first/never,
 * split or not; the prefix is not doubled when the segment already starts with "▁").
 * A character missing from the vocab becomes its UTF-8 bytes as <0xNN> tokens
 * (byte_fallback), else unk (consecutive unks fused when fuse_unk). Merges apply by
 * rank, leftmost first on equal rank: the HF Rust BPE model's order.
 *
 * Decoding undoes "▁" (to " ") and <0xNN> (to the byte); spm_bpe_strip_lead_space says
 * whether the decoder (Strip / Metaspace) removes the one space the prefix added.
 * Added tokens, BOS/EOS templates and UTF-8 sanitizing stay in tokenizer.c.
 *
 *     if (spm_bpe_detect(root)) spm_bpe_load(root, "tokenizer.json", &spm, &err);
 *     tok_ids out = {0};
 *     spm_bpe_encode(spm, (const uint8_t *)"Hello world", 11, 1, &out);  // ▁Hello ▁world
 *     spm_bpe_free(spm);  free(out.v);
 *
 * Thread-safety: read-only after load; encode keeps its scratch per call.
 */
#ifndef TF_MODELS_TOK_SPM_BPE_H
#define TF_MODELS_TOK_SPM_BPE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "models/tok_bpe.h"

typedef struct tok_spm tok_spm;

/* 1 when root (a parsed tokenizer.json) is the SentencePiece-BPE form: a BPE model with
 * byte_fallback, a Metaspace pre-tokenizer, or a Prepend/Replace "▁" normalizer. */
int spm_bpe_detect(json_t *root);
/* Errors name path; unsupported normalizers/pre-tokenizers/decoders are TF_EUNSUPPORTED. */
int spm_bpe_load(json_t *root, const char *path, tok_spm **out, tf_err *err);
void spm_bpe_free(tok_spm *t); /* NULL is a no-op */

/* Appends the ids of s[0..len) (valid UTF-8, len >= 1), one segment between added tokens;
 * at_start: the segment begins the whole text (Metaspace prepend_scheme "first"). */
int spm_bpe_encode(const tok_spm *t, const uint8_t *s, size_t len, int at_start, tok_ids *out);
/* The bytes of a vocab token, "▁" and <0xNN> undone; TF_ERANGE for an id not in the vocab. */
int spm_bpe_token_bytes(const tok_spm *t, int32_t id, const char **bytes, size_t *len);
int32_t spm_bpe_find(const tok_spm *t, const char *piece, size_t len); /* -1 if absent */
int spm_bpe_n_ids(const tok_spm *t); /* 1 + the largest vocab id */
int spm_bpe_strip_lead_space(const tok_spm *t);

#endif
