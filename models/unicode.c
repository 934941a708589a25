/* unicode.c: UTF-8 decoding (maximal-subpart replacement) and class lookups.
 *
 * DESIGN: the decoder follows Unicode Table 3-7 (well-formed byte sequences) byte by
 * byte, so an ill-formed sequence stops at the first byte that cannot continue it and
 * exactly that prefix becomes one U+FFFD. Class lookups answer ASCII from a switch and
 * everything else by binary search over the generated range tables.
 */
#include "models/unicode.h"

/* Range of the second byte allowed after each lead byte (Table 3-7); the third and fourth
 * bytes are always 80..BF. */
static int second_byte_ok(uint8_t lead, uint8_t b) {
    switch (lead) {
    case 0xE0: return b >= 0xA0 && b <= 0xBF;
    case 0xED: return b >= 0x80 && b <= 0x9F;
    case 0xF0: return b >= 0x90 && b <= 0xBF;
    case 0xF4: return b >= 0x80 && b <= 0x8F;
    default: return b >= 0x80 && b <= 0xBF;
    }
}

size_t uni_decode(const uint8_t *s, size_t len, uint32_t *cp) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    size_t need;
    uint32_t v;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
        v = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        v = b0 & 0x0F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        v = b0 & 0x07;
    } else {
        *cp = UNI_REPLACEMENT; /* 80..C1, F5..FF never start a sequence */
        return 1;
    }
    size_t i = 1;
    for (; i < need; i++) {
        if (i >= len) break;
        uint8_t b = s[i];
        int ok = i == 1 ? second_byte_ok(b0, b) : (b >= 0x80 && b <= 0xBF);
        if (!ok) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (i < need) {
        *cp = UNI_REPLACEMENT;
        return i;
    }
    *cp = v;
    return need;
}

size_t uni_valid_prefix(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = uni_decode(s + i, len - i, &cp);
        /* A literal U+FFFD in the input (EF BF BD) is valid; only a short read is not. */
        if (cp == UNI_REPLACEMENT && !(n == 3 && s[i] == 0xEF)) return i;
        i += n;
    }
    return len;
}

size_t uni_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0])
            hi = mid;
        else if (cp > r[mid][1])
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

int uni_is_letter(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return in_ranges(uni_letter_ranges, uni_letter_ranges_n, cp);
}

int uni_is_number(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return in_ranges(uni_number_ranges, uni_number_ranges_n, cp);
}

int uni_is_space(uint32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    return in_ranges(uni_space_ranges, uni_space_ranges_n, cp);
}

const char *uni_version(void) { return uni_data_version; }
