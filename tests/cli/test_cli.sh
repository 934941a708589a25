#!/bin/sh
# The command line as scripts use it: exit codes, one-line errors, --json fields,
# seeds, stop strings. Self-contained: the tiny fixture plus a byte-level tokenizer.
set -u
BIN=${1:-build/transformerd}
T=$(mktemp -d /tmp/tf_cli_XXXXXX)
trap 'rm -rf "$T"' EXIT
M=$T/model
mkdir -p "$M"
cp tests/fixtures/tiny-gpt2-f32/config.json tests/fixtures/tiny-gpt2-f32/model.safetensors "$M"/
python3 tests/cli/make_byte_tokenizer.py "$M/tokenizer.json"
fails=0
n=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
expect_rc() { # want_rc description command...
    want=$1; what=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else fail "$what: exit $rc, want $want ($(head -c 200 "$T/err"))"; fi
}

expect_rc 0 "--help" "$BIN" --help
grep -q generate "$T/out" && ok || fail "--help lists generate"
expect_rc 0 "generate --help" "$BIN" generate --help
grep -q -- "--top-p" "$T/out" && ok || fail "generate --help lists --top-p"
expect_rc 2 "no command" "$BIN"
expect_rc 2 "unknown command" "$BIN" frobnicate
expect_rc 2 "bad flag" "$BIN" generate --model "$M" --prompt x --bogus
[ "$(wc -l < "$T/err")" -eq 1 ] && ok || fail "bad flag gives one line on stderr"
expect_rc 2 "bad number" "$BIN" generate --model "$M" --prompt x --top-p 2
grep -q "top-p" "$T/err" && ok || fail "bad number names the flag"
expect_rc 2 "missing prompt" "$BIN" generate --model "$M"
expect_rc 2 "bad dtype" "$BIN" generate --model "$M" --prompt x --dtype int4
expect_rc 2 "bad kv cache dtype" "$BIN" generate --model "$M" --prompt x --kv-cache-dtype bf16
grep -q "kv-cache-dtype" "$T/err" && ok || fail "bad kv cache dtype names the flag"
expect_rc 1 "missing model" "$BIN" generate --model "$T/nope" --prompt x
[ "$(wc -l < "$T/err")" -eq 1 ] && ok || fail "missing model gives one line on stderr"

expect_rc 0 "tokenize" "$BIN" tokenize --model "$M" --text "Hi<|endoftext|>"
[ "$(cat "$T/out")" = "[72,105,50256]" ] && ok || fail "tokenize ids: $(cat "$T/out")"
# a directory holding only the tokenizer (no config.json, no weights) is enough
mkdir -p "$T/tok-only" && cp "$M/tokenizer.json" "$T/tok-only/"
expect_rc 0 "tokenize, tokenizer only" "$BIN" tokenize --model "$T/tok-only" --text "Hi<|endoftext|>"
[ "$(cat "$T/out")" = "[72,105,50256]" ] && ok || fail "tokenizer-only ids: $(cat "$T/out")"
expect_rc 1 "tokenize, no tokenizer" "$BIN" tokenize --model "$T/nope" --text x
[ "$(wc -l < "$T/err")" -eq 1 ] && ok || fail "no tokenizer gives one line on stderr"

for dtype in int8 fp32; do
    expect_rc 0 "generate $dtype" "$BIN" generate --model "$M" --prompt "Hello" --max-new-tokens 8 \
        --dtype $dtype --json --ignore-eos
    python3 - "$T/out" <<'PY' && ok || fail "generate --json fields ($dtype)"
import json, sys
d = json.load(open(sys.argv[1]))
for k in ("text", "token_ids", "logprobs", "finish_reason", "prompt_tokens", "timings"):
    assert k in d, k
assert d["prompt_tokens"] == 5 and len(d["token_ids"]) == 8 == len(d["logprobs"])
assert d["finish_reason"] == "length"
assert all(lp <= 0 for lp in d["logprobs"])
assert set(d["timings"]) >= {"prefill_s", "decode_s"}
PY
done
for kv in f16 f32 auto; do
    expect_rc 0 "generate --kv-cache-dtype $kv" "$BIN" generate --model "$M" --prompt "Hello" \
        --max-new-tokens 8 --kv-cache-dtype $kv --json --ignore-eos
done

# The fixture's logits are ~100 apart, so a high temperature is needed for real draws.
gen() { "$BIN" generate --model "$M" --prompt "Once" --max-new-tokens 12 --temperature 40 \
    --top-k 40 --top-p 0.9 --ignore-eos --json "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_ids"])'; }
a=$(gen --seed 5); b=$(gen --seed 5); c=$(gen --seed 6)
[ "$a" = "$b" ] && ok || fail "same seed, same tokens"
[ "$a" != "$c" ] && ok || fail "other seed, other tokens"

# a stop string taken from the greedy output itself: generation must end right before it
full=$("$BIN" generate --model "$M" --prompt "Hello" --max-new-tokens 12 --ignore-eos --json)
stop=$(printf '%s' "$full" | python3 -c '
import json,sys; t=json.load(sys.stdin)["text"]; print(t[len(t)//2:len(t)//2+2] if len(t)>=4 else "", end="")')
if [ -n "$stop" ]; then
    out=$("$BIN" generate --model "$M" --prompt "Hello" --max-new-tokens 12 --ignore-eos --json --stop "$stop")
    python3 - "$full" "$out" "$stop" <<'PY' && ok || fail "stop string"
import json, sys
full, out, stop = json.loads(sys.argv[1])["text"], json.loads(sys.argv[2]), sys.argv[3]
assert out["finish_reason"] == "stop", out
assert out["text"] == full[:full.index(stop)], (out["text"], full, stop)
PY
fi

echo "cli: $((n - fails))/$n checks passed"
[ "$fails" -eq 0 ]
