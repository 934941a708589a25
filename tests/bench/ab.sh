#!/bin/sh
# Two `serve` settings compared on /v1/generate throughput at AB_CLIENTS concurrent clients:
# every run a fresh daemon (tests/bench/load.sh), the two settings alternating with their
# order swapped every round so that drift in a shared machine's load falls on both. Prints
# every run, the medians and B's change against A.
#   tests/bench/ab.sh BINARY MODEL_DIR TITLE NAME_A "FLAGS_A" NAME_B "FLAGS_B"
# Environment: AB_ROUNDS (3), AB_CLIENTS (16), LOAD_SECONDS (20 here), LOAD_MAX_NEW,
# LOAD_MAX_BATCH, LOAD_DTYPE.
set -eu
[ $# -eq 7 ] || { echo "usage: tests/bench/ab.sh BINARY MODEL_DIR TITLE NAME_A FLAGS_A NAME_B FLAGS_B" >&2; exit 2; }
bin=$1 model=$2 title=$3 name_a=$4 flags_a=$5 name_b=$6 flags_b=$7
here=$(dirname "$0")
rounds=${AB_ROUNDS:-3}
clients=${AB_CLIENTS:-16}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
r=1
while [ $r -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="a b"; else order="b a"; fi
    for k in $order; do
        if [ $k = a ]; then flags=$flags_a; else flags=$flags_b; fi
        LOAD_SECONDS=${LOAD_SECONDS:-20} LOAD_SERVE_FLAGS="$flags" \
            "$here/load.sh" "$bin" "$model" --clients "$clients" --json "$out/$r-$k.json" >/dev/null
    done
    r=$((r + 1))
done
echo "## $title: $(basename "$model"), /v1/generate, $clients clients, ${LOAD_SECONDS:-20} s a run, $rounds rounds (load $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
echo
python3 - "$out" "$rounds" "$name_a" "$name_b" <<'PY'
import json, statistics, sys
d, rounds, names = sys.argv[1], int(sys.argv[2]), {"a": sys.argv[3], "b": sys.argv[4]}
print("| round | setting | gen tok/s | req/s | p50 latency s | errors |")
print("|---|---|---|---|---|---|")
tps = {"a": [], "b": []}
for r in range(1, rounds + 1):
    for k in ("a", "b") if r % 2 else ("b", "a"):
        x = json.load(open("%s/%d-%s.json" % (d, r, k)))[0]
        tps[k].append(x["tps"])
        print("| %d | %s | %.1f | %.2f | %.2f | %d |" % (r, names[k], x["tps"], x["rps"], x["p50"], x["errors"]))
a, b = statistics.median(tps["a"]), statistics.median(tps["b"])
print("\nmedian gen tok/s: %s %.1f, %s %.1f: %s is %+.1f%% against %s"
      % (names["a"], a, names["b"], b, names["b"], 100 * (b / a - 1), names["a"]))
print("per-round %%: %s" % ", ".join("%+.1f" % (100 * (y / x - 1)) for x, y in zip(tps["a"], tps["b"])))
PY
