/* http_input.c: request-line and header checks that come before routing.
 *
 * DESIGN: MHD decodes the URL before calling us and hands it on as a C string, so a
 * decoded %00 would cut "/health%00x" to "/health" and route it; kept escaped, such a
 * path matches no route (404). A body is refused before it is read only when the client
 * asked to be told (Expect: 100-continue): MHD closes a connection it answers early, and
 * a client already sending would get a reset instead of the 413; its body is read and
 * dropped instead (http.c counts chunked bodies as they come). A body whose framing MHD
 * would read other than the client meant is refused before it is read, on every path, and
 * the connection closed (its remaining bytes cannot be trusted to start a request): MHD
 * accepts such requests silently, and has no hook for the framing errors it finds itself.
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

/* ---- body framing ------------------------------------------------------------------------ */

void hin_framing_add(hin_framing *f, const char *name, const char *value) {
    if (strcasecmp(name, "Content-Length") == 0) {
        if (f->n_content_length < HIN_MAX_COPIES) f->content_length[f->n_content_length] = value;
        f->n_content_length++;
    } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
        if (f->n_transfer_encoding < HIN_MAX_COPIES) f->transfer_encoding[f->n_transfer_encoding] = value;
        f->n_transfer_encoding++;
    }
}

/* a and b equal once the spaces and tabs around them are dropped */
static int same_value(const char *a, const char *b) {
    while (is_space(*a)) a++;
    while (is_space(*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na > 0 && is_space(a[na - 1])) na--;
    while (nb > 0 && is_space(b[nb - 1])) nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

int hin_check_framing(const hin_framing *f, tf_http_error *e) {
    if (f->n_content_length > 0 && f->n_transfer_encoding > 0)
        return herr_set(e, HERR_INVALID_FRAMING, "Content-Length and Transfer-Encoding in one request: the body's "
                        "length is ambiguous; send one of them");
    if (f->n_content_length > HIN_MAX_COPIES)
        return herr_set(e, HERR_INVALID_FRAMING, "Content-Length given %d times: send it once", f->n_content_length);
    for (int i = 1; i < f->n_content_length; i++)
        if (!same_value(f->content_length[0], f->content_length[i]))
            return herr_set(e, HERR_INVALID_FRAMING, "Content-Length given %d times with different values ('%.24s', "
                            "'%.24s'): the body's length is ambiguous", f->n_content_length, f->content_length[0],
                            f->content_length[i]);
    if (f->n_transfer_encoding > 1)
        return herr_set(e, HERR_UNSUPPORTED_TRANSFER_ENCODING, "Transfer-Encoding given %d times: send the body with "
                        "Content-Length or one Transfer-Encoding: chunked", f->n_transfer_encoding);
    if (f->n_transfer_encoding == 1 && strcasecmp(f->transfer_encoding[0], "chunked") != 0)
        return herr_set(e, HERR_UNSUPPORTED_TRANSFER_ENCODING, "Transfer-Encoding '%.32s' is not supported: send the "
                        "body with Content-Length or Transfer-Encoding: chunked", f->transfer_encoding[0]);
    return 0;
}
