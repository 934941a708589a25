/* pretok.h: the GPT-2 pre-tokenizer, a hand-written matcher for the regex
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * with leftmost-first alternation, as Oniguruma (HF tokenizers), the Python `regex`
 * module (slow GPT2Tokenizer) and JavaScript (transformers.js) run it. Classes come from
 * models/unicode.h.
 *
 *     for (size_t pos = 0; pos < len; ) {
 *         size_t end = pretok_next(s, len, pos);   // piece is s[pos..end)
 *         ...
 *         pos = end;
 *     }
 *
 * Thread-safety: pure function.
 */
#ifndef TF_MODELS_PRETOK_H
#define TF_MODELS_PRETOK_H

#include <stddef.h>
#include <stdint.h>

/* s[0..len) must be valid UTF-8 and pos < len a character boundary. Returns the end
 * (exclusive, > pos) of the piece that starts at pos. */
size_t pretok_next(const uint8_t *s, size_t len, size_t pos);

#endif
