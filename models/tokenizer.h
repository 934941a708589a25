/* tokenizer.h: byte-level BPE (GPT-2), SentencePiece BPE (Llama), WordPiece (BERT) and
 * SentencePiece Unigram (T5) tokenizers (module prefix tok_).
 *
 * Unigram (models/tok_unigram.h) is chosen by a tokenizer.json whose model is Unigram, or
 * by spiece.model when no tokenizer.json exists; it appends the post-processor's special
 * (T5: </s>) to every encoding, as transformers' tokenizer(text) does.
 *
 * WordPiece: tokenizer.json with "model": {"type": "WordPiece"} (BertNormalizer,
 * BertPreTokenizer, TemplateProcessing/BertProcessing post-processor), or vocab.txt with
 * tokenizer_config.json (do_lower_case, strip_accents, tokenize_chinese_chars, *_token) and
 * special_tokens_map.json. Normalization and splitting: models/tok_wordpiece.h. Encoding
 * matches tokenizer(text)["input_ids"]: the post-processor's special tokens ([CLS] ... [SEP])
 * are included; decoding joins words with spaces and glues "##" pieces.
 *
 * Loads a Hugging Face checkpoint directory: tokenizer.json when present (both the old
 * dialect -- model without "type", merges as "a b" strings -- and the newer one --
 * "type": "BPE", merges as "a b" strings or ["a", "b"] pairs), else the slow files
 * vocab.json + merges.txt with special tokens from added_tokens.json,
 * tokenizer_config.json (added_tokens_decoder, *_token) and special_tokens_map.json.
 *
 * A tokenizer.json in SentencePiece-BPE form (byte_fallback, Metaspace or a "▁" Prepend
 * normalizer) is served by models/tok_spm_bpe.c instead; for it the ids of a
 * TemplateProcessing post-processor (BOS), or of add_bos_token / add_eos_token in
 * tokenizer_config.json, surround every encoding, and decoding drops the one leading
 * space the "▁" prefix produced, as the HF Strip/Metaspace decoders do.
 *
 * Encoding matches transformers' tokenizer(text)["input_ids"] for GPT-2: added/special
 * tokens written in the text (e.g. "<|endoftext|>") become their id (leftmost, longest
 * first), the rest is pre-split by the GPT-2 regex, mapped through bytes_to_unicode and
 * merged by rank. No BOS/EOS is added unless the post_processor is a template
 * (TemplateProcessing, BertProcessing, RobertaProcessing): for every model its special
 * ids surround the encoding (tok_specials_around). An added token's lstrip/rstrip flags absorb the
 * whitespace beside it; single_word is refused at load (TF_EUNSUPPORTED), as are
 * normalizers and pre-tokenizers other than ByteLevel.
 *
 * Input policy: any bytes. Ill-formed UTF-8 is first replaced by U+FFFD per maximal
 * subpart (models/unicode.h) -- the string Python's bytes.decode("utf-8", "replace") or
 * a JS TextDecoder would give -- so such text tokenizes as that decoded string does.
 * NUL and other control characters are ordinary characters. Decoding concatenates each
 * token's bytes, so decode(encode(s)) == s for every valid UTF-8 s.
 *
 *     tf_tokenizer *t;  tf_err err = {0};
 *     if (tok_load("models/bundled/gpt2", &t, &err) < 0) fprintf(stderr, "%s\n", err.msg);
 *     int32_t *ids;  int n;
 *     tok_encode(t, "Hello world", 11, &ids, &n, &err);   // 15496 995
 *     char *text;  size_t len;
 *     tok_decode(t, ids, n, &text, &len, &err);           // "Hello world"
 *     free(ids);  free(text);  tok_free(t);
 *
 * Thread-safety: a tf_tokenizer is read-only after tok_load; every function may be
 * called from any number of threads at once (encode keeps its scratch per call).
 */
#ifndef TF_MODELS_TOKENIZER_H
#define TF_MODELS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct tf_tokenizer tf_tokenizer;

/* dir: a HF checkpoint directory. Errors name the file and the offending field. */
int tok_load(const char *dir, tf_tokenizer **out, tf_err *err);
void tok_free(tf_tokenizer *t); /* NULL is a no-op */

/* text[0..len): any bytes (see the input policy above). *ids is malloc'd (also when
 * *n_ids == 0); free() it. TF_ETOOLONG when len >= INT32_MAX / 2. */
int tok_encode(const tf_tokenizer *t, const char *text, size_t len, int32_t **ids, int *n_ids,
               tf_err *err);

/* The exact bytes of one token (the byte map undone; an added token's own text), for
 * incremental detokenization. *bytes is a view into t, NUL-terminated. TF_ERANGE for an
 * id with no token. */
int tok_token_bytes(const tf_tokenizer *t, int32_t id, const char **bytes, size_t *len);

/* Concatenated token bytes; may end inside a UTF-8 character (a token boundary can split
 * one). *text is malloc'd and NUL-terminated; free() it. TF_ERANGE names a bad id. */
int tok_decode(const tf_tokenizer *t, const int32_t *ids, int n, char **text, size_t *len,
               tf_err *err);

/* How many special ids tok_encode puts before and after the text ([CLS] / [SEP]: 1 and 1;
 * GPT-2: 0 and 0), so a caller can truncate the text part and keep them. */
void tok_specials_around(const tf_tokenizer *t, int *n_pre, int *n_suf);

/* 1 + the largest token id (50257 for gpt2), added tokens included. */
int tok_vocab_size(const tf_tokenizer *t);

/* 1 when decoding drops one leading space (Metaspace's prefix "▁"; Unigram models):
 * tok_decode does it; incremental decoders must drop it from the first token. */
int tok_strips_leading_space(const tf_tokenizer *t);

/* Id of a token by its string: an added token's content, or a vocab entry in its
 * byte-mapped form ("Ġthe"). -1 if absent. */
int32_t tok_find(const tf_tokenizer *t, const char *token);

/* The Unicode version of the character tables (e.g. "15.1.0"). */
const char *tok_unicode_version(void);

#endif
