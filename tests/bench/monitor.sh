#!/bin/sh
# The cost of attention monitoring (issue #8): /v1/generate throughput at 16 concurrent
# clients with attn_monitor on and off, each a fresh daemon (tests/bench/load.sh), the two
# modes alternating and their order swapped every round so that drift in a shared
# machine's load falls on both. Prints every run, then the medians and the cost.
#   tests/bench/monitor.sh BINARY MODEL_DIR
# Environment: MONITOR_ROUNDS (3), LOAD_SECONDS (20 here), LOAD_MAX_NEW, LOAD_MAX_BATCH, LOAD_DTYPE.
set -eu
bin=${1:?usage: tests/bench/monitor.sh BINARY MODEL_DIR}
model=${2:?usage: tests/bench/monitor.sh BINARY MODEL_DIR}
here=$(dirname "$0")
rounds=${MONITOR_ROUNDS:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
r=1
while [ $r -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="on off"; else order="off on"; fi
    for mode in $order; do
        LOAD_SECONDS=${LOAD_SECONDS:-20} LOAD_SERVE_FLAGS="--attn-monitor $mode" \
            "$here/load.sh" "$bin" "$model" --clients 16 --json "$out/$r-$mode.json" >/dev/null
    done
    r=$((r + 1))
done
echo "## Attention monitoring cost: $(basename "$model"), /v1/generate, 16 clients, ${LOAD_SECONDS:-20} s a run, $rounds rounds (load $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
echo
python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
print("| round | monitor | gen tok/s | req/s | p50 latency s | errors |")
print("|---|---|---|---|---|---|")
tps = {"on": [], "off": []}
for r in range(1, rounds + 1):
    for mode in ("on", "off") if r % 2 else ("off", "on"):
        x = json.load(open("%s/%d-%s.json" % (d, r, mode)))[0]
        tps[mode].append(x["tps"])
        print("| %d | %s | %.1f | %.2f | %.2f | %d |" % (r, mode, x["tps"], x["rps"], x["p50"], x["errors"]))
on, off = statistics.median(tps["on"]), statistics.median(tps["off"])
print("\nmedian gen tok/s: on %.1f, off %.1f: monitoring costs %.1f%% (aim: < 5%%)" % (on, off, 100 * (1 - on / off)))
pairs = [100 * (1 - a / b) for a, b in zip(tps["on"], tps["off"])]
print("per-round cost %%: %s" % ", ".join("%.1f" % p for p in pairs))
PY
