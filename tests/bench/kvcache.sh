#!/bin/sh
# fp16 against fp32 KV cache (kv_cache_dtype) with int8 weights: model_step decode at batch
# 1/4/16 (build/tools/bench_step, ~128 positions deep), then /v1/generate at 16 streaming
# clients (tests/bench/ab.sh). Both alternate f16/f32 with the order swapped every round, so
# that drift in a shared machine's load falls on both.
#   tests/bench/kvcache.sh BUILD_DIR MODEL_DIR
# Environment: KV_ROUNDS (3), KV_REPS (3 bench_step repetitions a run), LOAD_SECONDS (20).
set -eu
build=${1:?usage: tests/bench/kvcache.sh BUILD_DIR MODEL_DIR}
model=${2:?usage: tests/bench/kvcache.sh BUILD_DIR MODEL_DIR}
rounds=${KV_ROUNDS:-3}
echo "## KV cache f16 vs f32: bench_step decode (int8, 2 threads, best of ${KV_REPS:-3}), $rounds rounds"
echo
r=1
while [ $r -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="f16 f32"; else order="f32 f16"; fi
    for kv in $order; do
        for b in 1 4 16; do
            "$build/tools/bench_step" --model "$model" -t 2 -r "${KV_REPS:-3}" -b $b --kv $kv |
                sed -n "s/^decode batch/round $r $kv: decode batch/p"
        done
    done
    r=$((r + 1))
done
echo
AB_ROUNDS=$rounds "$(dirname "$0")/ab.sh" "$build/transformerd" "$model" "KV cache f16 vs f32" \
    f32 "--kv-cache-dtype f32" f16 "--kv-cache-dtype f16"
