/* routes_ui.c: GET /ui/attention, a self-contained page (server/ui/attention.html,
 * turned into a byte array at build time by the Makefile) that calls /v1/generate with
 * "return_attention": "summary" and draws the per-layer, per-head statistics. Embedded
 * rather than read from disk so the installed binary needs no data directory. */
#include <stdlib.h>
#include <string.h>

#include "server/routes.h"

/* Defines ui_attention_html[] (the file's bytes plus a terminating 0). */
#include "gen/ui_attention_html.inc"

void route_ui_attention(http_req *r) {
    size_t len = sizeof ui_attention_html - 1;
    char *body = malloc(len ? len : 1);
    if (!body) {
        tf_http_error e;
        herr_set(&e, HERR_INTERNAL, "out of memory");
        http_reply_error(r, &e);
        return;
    }
    memcpy(body, ui_attention_html, len);
    http_reply(r, 200, "text/html; charset=utf-8", body, len);
}
