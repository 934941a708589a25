#!/bin/sh
# HTTP load on /v1/sentiment for `make bench`: serves MODEL for sentiment and drives it
# with tests/bench/load_sentiment.py (1 and 32 concurrent clients, 16- and 128-token texts).
#   tests/bench/load_sentiment.sh BINARY MODEL_DIR DTYPE
set -eu
bin=${1:?usage: load_sentiment.sh BINARY MODEL_DIR DTYPE}
model=${2:?usage: load_sentiment.sh BINARY MODEL_DIR DTYPE}
dtype=${3:-int8}
log=$(mktemp)
"$bin" serve --listen 127.0.0.1:0 --model "sentiment=$model" --dtype "$dtype" \
    --access-log false 2>"$log" &
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
[ -n "$port" ] || { echo "load_sentiment: daemon did not start" >&2; exit 1; }
echo "## HTTP load: /v1/sentiment, $(basename "$model"), $dtype (dynamic batching)"
echo
python3 "$(dirname "$0")/load_sentiment.py" --port "$port" --seconds "${LOAD_SECONDS:-8}"
kill -TERM $pid
wait $pid
echo
