#!/bin/sh
# `transformerd classify` and `tokenize` on the tiny BERT-family fixtures: exit codes,
# one-line errors, plain and --json output, truncation, and the same labels as one batch
# and one text at a time.
set -u
BIN=${1:-build/transformerd}
D=tests/fixtures/tiny-distilbert-sst2
B=tests/fixtures/tiny-bert-3class
T=$(mktemp -d /tmp/tf_cls_XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
n=0
ok() { n=$((n + 1)); }
fail() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
expect_rc() { # want_rc description command...
    want=$1; what=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else fail "$what: exit $rc, want $want ($(head -c 200 "$T/err"))"; fi
}
LONG=$(i=0; while [ $i -lt 70 ]; do printf 'good '; i=$((i + 1)); done)

expect_rc 0 "classify --help" "$BIN" classify --help
grep -q -- "--truncate" "$T/out" && ok || fail "classify --help lists --truncate"
expect_rc 2 "classify without --text" "$BIN" classify --model "$D"
expect_rc 2 "bad dtype" "$BIN" classify --model "$D" --text x --dtype int4
expect_rc 1 "missing model" "$BIN" classify --model "$T/none" --text x
expect_rc 1 "too long without --truncate" "$BIN" classify --model "$D" --text "$LONG"
[ "$(wc -l < "$T/err")" -eq 1 ] && grep -q "at most 64" "$T/err" && ok || fail "too long: one line naming the limit"
expect_rc 0 "too long with --truncate" "$BIN" classify --model "$D" --text "$LONG" --truncate
expect_rc 0 "plain output" "$BIN" classify --model "$B" --dtype fp32 --text "a great movie" --text "terrible plot"
[ "$(wc -l < "$T/out")" -eq 2 ] && ok || fail "one line per text"
grep -qvE '^(negative|neutral|positive)	0\.[0-9]{6}$' "$T/out" && fail "plain line format: $(cat "$T/out")" || ok
cp "$T/out" "$T/batch"
: > "$T/single"
for t in "a great movie" "terrible plot"; do
    "$BIN" classify --model "$B" --dtype fp32 --text "$t" >> "$T/single"
done
cut -f1 "$T/batch" > "$T/b1"; cut -f1 "$T/single" > "$T/s1"
cmp -s "$T/b1" "$T/s1" && ok || fail "batched labels equal one-at-a-time labels"
expect_rc 0 "json output" "$BIN" classify --model "$D" --json --text "I love this film" --text "boring"
python3 - "$T/out" <<'PY' && ok || fail "json shape"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["results"]) == 2 and d["usage"]["texts"] == 2 and d["usage"]["prompt_tokens"] > 4
for r in d["results"]:
    assert set(r["scores"]) == {"NEGATIVE", "POSITIVE"}
    assert abs(sum(r["scores"].values()) - 1) < 1e-5 and r["score"] == r["scores"][r["label"]]
assert d["timings"]["classify_s"] > 0
PY
expect_rc 0 "tokenize adds [CLS]/[SEP]" "$BIN" tokenize --model "$D" --text "a great movie"
[ "$(cat "$T/out")" = "[2,63,20,13,3]" ] && ok || fail "tokenize ids: $(cat "$T/out")"
if [ "$fails" -ne 0 ]; then
    echo "classify cli: $fails of $n checks failed"
    exit 1
fi
echo "classify cli: $n/$n checks passed"
