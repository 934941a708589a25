#!/bin/sh
# HTTP load run for `make bench`: starts `transformerd serve` on a free loopback port
# with MODEL, drives it with tests/bench/load.py at 1, 4, 16 and 64 concurrent
# clients, prints a Markdown table, stops the daemon with SIGTERM.
#   tests/bench/load.sh BINARY MODEL_DIR [load.py flags...]
# Environment: LOAD_SECONDS (10 per level), LOAD_MAX_NEW (64), LOAD_MAX_BATCH (64), LOAD_DTYPE (int8),
# LOAD_SERVE_FLAGS (more `serve` flags, split on spaces, e.g. "--attn-monitor off").
set -eu
bin=${1:?usage: tests/bench/load.sh BINARY MODEL_DIR}
model=${2:?usage: tests/bench/load.sh BINARY MODEL_DIR}
shift 2
. "$(dirname "$0")/serve_lib.sh"
# shellcheck disable=SC2086
start_daemon "$bin" --model "generate=$model" --dtype "${LOAD_DTYPE:-int8}" \
    --max-batch "${LOAD_MAX_BATCH:-64}" ${LOAD_SERVE_FLAGS:-}
echo "## HTTP load: $(basename "$model"), ${LOAD_DTYPE:-int8}, max_batch ${LOAD_MAX_BATCH:-64}, ${LOAD_MAX_NEW:-64} new tokens, streaming${LOAD_SERVE_FLAGS:+, $LOAD_SERVE_FLAGS}"
echo
python3 "$(dirname "$0")/load.py" --port "$port" --seconds "${LOAD_SECONDS:-10}" \
    --max-new-tokens "${LOAD_MAX_NEW:-64}" "$@"
kill -TERM $pid
wait $pid
echo
