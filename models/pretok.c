/* pretok.c: the GPT-2 pre-tokenizer regex, matched by hand.
 *
 * DESIGN: every character falls in exactly one class -- letter, number, whitespace or
 * "other" ([^\s\p{L}\p{N}]) -- so at each position the alternation reduces to:
 *   1. an apostrophe followed by s|t|m|d|re|ve|ll (lowercase only) is a contraction;
 *   2. an optional single U+0020 followed by a run of one class (letter, number, other)
 *      takes the space and the whole run;
 *   3. a whitespace run: at the end of the text it is one piece ("\s+(?!\S)"); before a
 *      non-space it gives back its last character (the backtracking of "\s+(?!\S)"), so
 *      that character can lead the next word -- unless the run is one character long,
 *      in which case "\s+" takes it alone.
 * Only U+0020 is the optional prefix of rule 2 (the regex says " ?", not "\s?").
 */
#include "models/pretok.h"

#include "models/unicode.h"

enum { CLS_LETTER, CLS_NUMBER, CLS_SPACE, CLS_OTHER };

static int cls_of(uint32_t cp) {
    if (uni_is_letter(cp)) return CLS_LETTER;
    if (uni_is_number(cp)) return CLS_NUMBER;
    if (uni_is_space(cp)) return CLS_SPACE;
    return CLS_OTHER;
}

/* Class and byte length of the character at pos (valid UTF-8 by contract). */
static int cls_at(const uint8_t *s, size_t len, size_t pos, size_t *n_bytes) {
    uint32_t cp;
    *n_bytes = uni_decode(s + pos, len - pos, &cp);
    return cls_of(cp);
}

static size_t contraction_len(const uint8_t *s, size_t len, size_t pos) {
    size_t rest = len - pos;
    if (rest >= 2) {
        uint8_t c = s[pos + 1];
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return 2;
    }
    if (rest >= 3) {
        uint8_t c1 = s[pos + 1], c2 = s[pos + 2];
        if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
            return 3;
    }
    return 0;
}

size_t pretok_next(const uint8_t *s, size_t len, size_t pos) {
    if (s[pos] == '\'') {
        size_t n = contraction_len(s, len, pos);
        if (n) return pos + n;
    }
    size_t n0;
    int cls = cls_at(s, len, pos, &n0);
    size_t p = pos + n0;
    if (s[pos] == ' ' && p < len) {
        size_t n1;
        int next = cls_at(s, len, p, &n1);
        if (next != CLS_SPACE) {
            cls = next; /* " ?X+": the space leads the run that starts after it */
            p += n1;
        }
    }
    if (cls != CLS_SPACE) {
        while (p < len) {
            size_t n;
            if (cls_at(s, len, p, &n) != cls) break;
            p += n;
        }
        return p;
    }
    /* Whitespace run starting at pos; p is already past its first character. */
    size_t last = pos, n_chars = 1;
    while (p < len) {
        size_t n;
        if (cls_at(s, len, p, &n) != CLS_SPACE) break;
        last = p;
        p += n;
        n_chars++;
    }
    if (p == len || n_chars == 1) return p;
    return last;
}
