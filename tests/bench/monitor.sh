#!/bin/sh
# The cost of attention monitoring (issue #8): /v1/generate throughput at 16 concurrent
# clients with attn_monitor on and off (tests/bench/ab.sh: fresh daemons, alternating, order
# swapped every round). Aim: off is less than 5% faster than on.
#   tests/bench/monitor.sh BINARY MODEL_DIR
# Environment: MONITOR_ROUNDS (3), LOAD_SECONDS (20 here), LOAD_MAX_NEW, LOAD_MAX_BATCH, LOAD_DTYPE.
set -eu
AB_ROUNDS=${MONITOR_ROUNDS:-3} exec "$(dirname "$0")/ab.sh" "${1:?usage: tests/bench/monitor.sh BINARY MODEL_DIR}" \
    "${2:?usage: tests/bench/monitor.sh BINARY MODEL_DIR}" "Attention monitoring cost" \
    on "--attn-monitor on" off "--attn-monitor off"
