#!/bin/sh
# HTTP load run for `make bench`: starts `transformerd serve` on a free loopback port
# with MODEL, drives it with tests/bench/load.py at 1, 4, 16 and 64 concurrent
# clients, prints a Markdown table, stops the daemon with SIGTERM.
#   tests/bench/load.sh BINARY MODEL_DIR [load.py flags...]
# Environment: LOAD_SECONDS (10 per level), LOAD_MAX_NEW (64), LOAD_MAX_BATCH (64), LOAD_DTYPE (int8).
set -eu
bin=${1:?usage: tests/bench/load.sh BINARY MODEL_DIR}
model=${2:?usage: tests/bench/load.sh BINARY MODEL_DIR}
shift 2
log=$(mktemp)
"$bin" serve --listen 127.0.0.1:0 --model "generate=$model" --dtype "${LOAD_DTYPE:-int8}" \
    --max-batch "${LOAD_MAX_BATCH:-64}" --access-log false 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
port=""
i=0
while [ -z "$port" ] && [ $i -lt 600 ]; do
    port=$(sed -n 's/.*listening on .* port \([0-9]*\).*/\1/p' "$log" | head -n1)
    kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
    [ -n "$port" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$port" ] || { echo "load: daemon did not start" >&2; cat "$log" >&2; exit 1; }
echo "## HTTP load: $(basename "$model"), ${LOAD_DTYPE:-int8}, max_batch ${LOAD_MAX_BATCH:-64}, ${LOAD_MAX_NEW:-64} new tokens, streaming"
echo
python3 "$(dirname "$0")/load.py" --port "$port" --seconds "${LOAD_SECONDS:-10}" \
    --max-new-tokens "${LOAD_MAX_NEW:-64}" "$@"
kill -TERM $pid
wait $pid
echo
