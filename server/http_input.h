/* http_input.h: checks on the request line and headers before a route sees the request
 * (prefix hin_). Pure functions of the bytes MHD hands over, so they are tested without a
 * socket; http.c calls them.
 *
 *     MHD_OPTION_UNESCAPE_CALLBACK: hin_unescape(url)           // "%2F" decoded, "%00" kept
 *     if (!hin_identity_encoding(content_encoding)) -> 415
 *     if (hin_refuse_before_body(expect, te, cl, max)) -> 413 before "100 Continue"
 *     hin_framing f = {0};  hin_framing_add(&f, name, value) for every header
 *     if (hin_check_framing(&f, &e) < 0) -> e (400 or 501) before the body, then close
 *
 * Thread-safety: pure.
 */
#ifndef TF_SERVER_HTTP_INPUT_H
#define TF_SERVER_HTTP_INPUT_H

#include <stddef.h>

#include "server/errors.h"

/* Decodes %HH in place, except %00 (left as the three bytes); returns the new length. */
size_t hin_unescape(char *s);
/* 1 when a Content-Encoding value means "no coding": identity in any case, or empty. */
int hin_identity_encoding(const char *enc);
/* 1 when a body may be refused before it is read: the client waits for 100 Continue
 * (Expect), the length is announced (no Transfer-Encoding) and exceeds max_body_bytes.
 * Any argument may be NULL (header absent). */
int hin_refuse_before_body(const char *expect, const char *transfer_encoding, const char *content_length,
                           long long max_body_bytes);

/* The headers that frame a request's body, every copy of them: MHD keeps each copy but
 * reads only the first Content-Length, takes chunks over a Content-Length, and reads a body
 * with any other transfer coding until the client closes. Values are borrowed. */
#define HIN_MAX_COPIES 4
typedef struct hin_framing {
    const char *content_length[HIN_MAX_COPIES];
    int n_content_length; /* every copy, also those past HIN_MAX_COPIES */
    const char *transfer_encoding[HIN_MAX_COPIES];
    int n_transfer_encoding;
} hin_framing;

/* Notes one request header (name in any case); others than the two above are ignored. */
void hin_framing_add(hin_framing *f, const char *name, const char *value);
/* 0 when MHD will read the body the way the client framed it; else -1 with e set:
 * Content-Length copies that differ, or Content-Length beside Transfer-Encoding, are 400
 * invalid_framing (the length is ambiguous, RFC 9112 6.3); a transfer coding other than one
 * "chunked" (any case, as MHD compares) is 501 unsupported_transfer_encoding (RFC 9112 6.1). */
int hin_check_framing(const hin_framing *f, tf_http_error *e);

#endif
