/* bundled.h: the models transformerd ships, used by `serve` when no --model is given. */
#ifndef TF_SERVER_BUNDLED_H
#define TF_SERVER_BUNDLED_H

#include <stddef.h>

#include "server/config.h"

/* Finds the bundled model directory (beside the binary: <bin>/../models/bundled in a
 * build tree, <prefix>/share/transformerd/models when installed) and appends a TASK=DIR
 * spec to c for every shipped model present there. Returns the number of specs added
 * (0: none found), or -1 with msg filled (out of memory). *root gets the directory used
 * (NUL-terminated, "" if none). */
int bundled_models(tf_config *c, char *root, size_t root_len, char *msg, size_t msg_len);

#endif
