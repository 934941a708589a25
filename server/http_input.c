/* http_input.c: request-line and header checks that come before routing.
 *
 * DESIGN: MHD decodes the URL before calling us and hands it on as a C string, so a
 * decoded %00 would cut "/health%00x" to "/health" and route it; kept escaped, such a
 * path matches no route (404). A body is refused before it is read only when the client
 * asked to be told (Expect: 100-continue): MHD closes a connection it answers early, and
 * a client already sending would get a reset instead of the 413; its body is read and
 * dropped instead (http.c counts chunked bodies as they come).
 */
#include "server/http_input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t hin_unescape(char *s) {
    char *out = s;
    for (const char *p = s; *p; p++) {
        int hi, lo;
        if (p[0] == '%' && (hi = hex_value(p[1])) >= 0 && (lo = hex_value(p[2])) >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *out++ = *p;
        }
    }
    *out = 0;
    return (size_t)(out - s);
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

int hin_identity_encoding(const char *enc) {
    while (is_space(*enc)) enc++;
    size_t n = strlen(enc);
    while (n > 0 && is_space(enc[n - 1])) n--;
    return n == 0 || (n == 8 && strncasecmp(enc, "identity", 8) == 0);
}

int hin_refuse_before_body(const char *expect, const char *transfer_encoding, const char *content_length,
                           long long max_body_bytes) {
    if (!expect || strcasecmp(expect, "100-continue") != 0 || transfer_encoding || !content_length) return 0;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(content_length, &end, 10);
    return end != content_length && (errno == ERANGE || n > (unsigned long long)max_body_bytes);
}
