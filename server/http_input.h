/* http_input.h: checks on the request line and headers before a route sees the request
 * (prefix hin_). Pure functions of the bytes MHD hands over, so they are tested without a
 * socket; http.c calls them.
 *
 *     MHD_OPTION_UNESCAPE_CALLBACK: hin_unescape(url)           // "%2F" decoded, "%00" kept
 *     if (!hin_identity_encoding(content_encoding)) -> 415
 *     if (hin_refuse_before_body(expect, te, cl, max)) -> 413 before "100 Continue"
 *
 * Thread-safety: pure.
 */
#ifndef TF_SERVER_HTTP_INPUT_H
#define TF_SERVER_HTTP_INPUT_H

#include <stddef.h>

/* Decodes %HH in place, except %00 (left as the three bytes); returns the new length. */
size_t hin_unescape(char *s);
/* 1 when a Content-Encoding value means "no coding": identity in any case, or empty. */
int hin_identity_encoding(const char *enc);
/* 1 when a body may be refused before it is read: the client waits for 100 Continue
 * (Expect), the length is announced (no Transfer-Encoding) and exceeds max_body_bytes.
 * Any argument may be NULL (header absent). */
int hin_refuse_before_body(const char *expect, const char *transfer_encoding, const char *content_length,
                           long long max_body_bytes);

#endif
