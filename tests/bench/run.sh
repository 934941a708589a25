#!/bin/sh
# make bench: GPT-2-small-shaped model (124M parameters, random weights, made here by
# build/tools/mkgpt2, never committed) and a Llama-shaped one of the same size
# (build/tools/mkllama): prefill tokens/s on a 128-token prompt and decode tokens/s at
# batch 1 for 128 new tokens, int8 and fp32, 1 and 2 threads, peak RSS; a DistilBERT-base
# sentiment classifier (build/tools/mkbert): batch-1 latency and batch-32 throughput.
# Then the kernel microbenchmark and the HTTP load run when they are built.
set -eu
BUILD=${1:-build}
BIN=$BUILD/transformerd
MODEL=$BUILD/bench/gpt2-small
REPS=${BENCH_REPS:-3}

if [ ! -f "$MODEL/model.safetensors" ]; then
    mkdir -p "$MODEL"
    if [ -f ../shared/data/hf/gpt2/vocab.json ]; then
        tok="--tokenizer-from ../shared/data/hf/gpt2"
    else
        echo "bench: ../shared absent; using the byte-level test tokenizer" >&2
        tok="--tokenizer-from tests/fixtures/e2e-gpt2"
    fi
    # shellcheck disable=SC2086
    "$BUILD/tools/mkgpt2" --out "$MODEL" $tok >/dev/null
fi

# One table: prefill and decode tokens/s for int8/fp32 at 1 and 2 threads, best of $REPS.
bench_model() { # MODEL PROMPT
    echo "| dtype | threads | prefill tok/s | decode tok/s | peak RSS MB |"
    echo "|---|---|---|---|---|"
    for dtype in int8 fp32; do
        for threads in 1 2; do
            best=""
            r=0
            while [ $r -lt "$REPS" ]; do
                "$BIN" generate --model "$1" --prompt "$2" --max-new-tokens 128 --ignore-eos \
                    --dtype $dtype --threads $threads --json > "$BUILD/bench/out.json"
                best=$(python3 - "$BUILD/bench/out.json" "$best" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); t = d["timings"]
pre = d["prompt_tokens"] / t["prefill_s"]
dec = (d["completion_tokens"] - 1) / t["decode_s"]
rss = d["peak_rss_kb"] / 1024
if sys.argv[2]:
    p, q, s = map(float, sys.argv[2].split())
    pre, dec, rss = max(pre, p), max(dec, q), max(rss, s)
print(f"{pre:.0f} {dec:.1f} {rss:.0f}")
PY
)
                r=$((r + 1))
            done
            # shellcheck disable=SC2086
            set -- "$1" "$2" $best
            echo "| $dtype | $threads | $3 | $4 | $5 |"
        done
    done
    echo
}

# " the" is one token in GPT-2's vocabulary: this prompt is 128 tokens.
PROMPT="the$(i=1; while [ $i -lt 128 ]; do printf ' the'; i=$((i + 1)); done)"

echo "## GPT-2-small (124M, random weights), prompt 128 tokens, 128 new tokens, best of $REPS"
echo
bench_model "$MODEL" "$PROMPT"

# Llama-shaped at GPT-2-small size (build/tools/mkllama defaults: 768 wide, 12 layers,
# 12 query heads over 4 KV heads, SwiGLU 2048, vocab 32000, untied head; 125M, random).
# Its tokenizer makes "▁the" one token and adds BOS: 127 words are 128 tokens.
LLAMA=$BUILD/bench/llama-small
if [ ! -f "$LLAMA/model.safetensors" ]; then
    "$BUILD/tools/mkllama" --out "$LLAMA" >/dev/null
fi
LPROMPT="the$(i=1; while [ $i -lt 127 ]; do printf ' the'; i=$((i + 1)); done)"
echo "## Llama-shaped, GPT-2-small size (125M, GQA 12/4, random weights), prompt 128 tokens, 128 new tokens, best of $REPS"
echo
bench_model "$LLAMA" "$LPROMPT"

# ---- DistilBERT sentiment (classify) ----------------------------------------------------
# distilbert-base shape (66M parameters, random weights, made here by build/tools/mkbert,
# never committed). Latency: one text per model_classify call. Throughput: 32 texts in one
# call (the engine's number); the HTTP load run on /v1/sentiment with 32 concurrent
# clients follows below (tests/bench/load_sentiment.sh).
BERT=$BUILD/bench/distilbert-base
if [ ! -f "$BERT/model.safetensors" ]; then
    vocab=""
    [ -f ../shared/data/hf/bert-base-uncased/vocab.txt ] && vocab="--vocab-from ../shared/data/hf/bert-base-uncased/vocab.txt"
    # shellcheck disable=SC2086
    "$BUILD/tools/mkbert" --out "$BERT" $vocab
fi
words() { i=0; out=""; while [ $i -lt "$1" ]; do out="$out the"; i=$((i + 1)); done; printf '%s' "$out"; }
echo "## DistilBERT-base sentiment (66M, random weights), 2 threads, best of $REPS"
echo
echo "| dtype | tokens/text | batch-1 latency ms | batch-32 texts/s |"
echo "|---|---|---|---|"
for dtype in int8 fp32; do
    for tokens in 16 128; do
        text=$(words $((tokens - 2)))  # + [CLS] and [SEP]
        set --
        i=0
        while [ $i -lt 32 ]; do set -- "$@" --text "$text"; i=$((i + 1)); done
        lat="" thr=""
        r=0
        while [ $r -lt "$REPS" ]; do
            "$BIN" classify --model "$BERT" --dtype $dtype --threads 2 --json --text "$text" > "$BUILD/bench/one.json"
            "$BIN" classify --model "$BERT" --dtype $dtype --threads 2 --json "$@" > "$BUILD/bench/many.json"
            res=$(python3 - "$BUILD/bench/one.json" "$BUILD/bench/many.json" "$tokens" "$lat" "$thr" <<'PY'
import json, sys
one, many = (json.load(open(p)) for p in sys.argv[1:3])
assert one["usage"]["prompt_tokens"] == int(sys.argv[3]), one["usage"]
lat = one["timings"]["classify_s"] * 1000
thr = many["usage"]["texts"] / many["timings"]["classify_s"]
if sys.argv[4]:
    lat, thr = min(lat, float(sys.argv[4])), max(thr, float(sys.argv[5]))
print(f"{lat:.1f} {thr:.0f}")
PY
)
            lat=${res% *} thr=${res#* }
            r=$((r + 1))
        done
        echo "| $dtype | $tokens | $lat | $thr |"
    done
done
echo
# The same T5-small and DistilBERT-base work in PyTorch (Debian's python3-torch under
# /usr/bin/python3; skipped with a message where it is not installed).
if [ -x /usr/bin/python3 ]; then
    echo "## transformerd next to PyTorch (tests/bench/torch_compare.py)"
    echo
    /usr/bin/python3 tests/bench/torch_compare.py --build "$BUILD" --reps "$REPS"
    echo
fi
if [ -x "$BUILD/tools/bench_step" ]; then
    echo "## GPT-2-small model_step: prefill 128 and decode at batch 1/4/16 (int8, 2 threads)"
    echo
    "$BUILD/tools/bench_step" --model "$MODEL" -t 2 -r 3
    echo
fi
if [ -x "$BUILD/tools/bench_gemm" ]; then
    echo "## int8 / fp32 matrix kernels"
    "$BUILD/tools/bench_gemm"
    echo
fi
for dtype in int8 fp32; do
    tests/bench/load_sentiment.sh "$BIN" "$BERT" $dtype
done
if [ -x tests/bench/load.sh ]; then
    tests/bench/load.sh "$BIN" "$MODEL"
fi
# attn_monitor on vs off at 16 clients (issue #8: aim for a cost under 5%)
tests/bench/monitor.sh "$BIN" "$MODEL"
# fp16 vs fp32 KV cache: bench_step decode and /v1/generate at 16 clients, alternating
tests/bench/kvcache.sh "$BUILD" "$MODEL"
