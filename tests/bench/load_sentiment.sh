#!/bin/sh
# HTTP load on /v1/sentiment for `make bench`: serves MODEL for sentiment and drives it
# with tests/bench/load_sentiment.py (1 and 32 concurrent clients, 16- and 128-token texts).
#   tests/bench/load_sentiment.sh BINARY MODEL_DIR DTYPE
set -eu
bin=${1:?usage: load_sentiment.sh BINARY MODEL_DIR DTYPE}
model=${2:?usage: load_sentiment.sh BINARY MODEL_DIR DTYPE}
dtype=${3:-int8}
. "$(dirname "$0")/serve_lib.sh"
start_daemon "$bin" --model "sentiment=$model" --dtype "$dtype"
echo "## HTTP load: /v1/sentiment, $(basename "$model"), $dtype (dynamic batching)"
echo
python3 "$(dirname "$0")/load_sentiment.py" --port "$port" --seconds "${LOAD_SECONDS:-8}"
kill -TERM $pid
wait $pid
echo
