#!/bin/sh
# Fails when an include points up or sideways: core <- models <- server.
# server/ may include only models/model.h (and core/err.h through it).
set -eu
bad=0
check() { # dir pattern message
    if grep -nE "$2" "$1"/*.[ch] 2>/dev/null; then echo "check-layers: $3" >&2; bad=1; fi
}
check core '#include "(models|server)/|#include <(jansson|uv|microhttpd)\.h>' "core/ must not include models/, server/, jansson, libuv or libmicrohttpd"
check models '#include "server/|#include <(uv|microhttpd)\.h>' "models/ must not include server/, libuv or libmicrohttpd"
if grep -nE '#include "(core/|models/)' server/*.[ch] 2>/dev/null | grep -vE '#include "models/model\.h"'; then
    echo "check-layers: server/ may include only models/model.h from the engine" >&2; bad=1
fi
exit $bad
