#!/usr/bin/env python3
"""Regenerates tests/reference/gpt2_golden.json from the float64 reference (gpt2_ref.py).

    /usr/bin/python3 tests/reference/make_reference.py     (or: make reference)

Byte-for-byte reproducible. Needs ../shared (relative to the repository root) for the
GPT-2 vocabulary (to record each prompt's text) and for the sshleifer-tiny-gpt2
checkpoint; it refuses to run without it rather than write a different file.
Layout of the JSON: tests/fixtures/README.md.
"""
import json
import math
import os
import re
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from gpt2_ref import GPT2Ref, check_against_torch_modules, check_causal, load_tensors  # noqa: E402

SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared"))
VOCAB_JSON = os.path.join(SHARED, "data", "hf", "gpt2", "vocab.json")
MERGES_TXT = os.path.join(SHARED, "data", "hf", "gpt2", "merges.txt")
OUT = os.path.join(HERE, "gpt2_golden.json")

# name -> checkpoint dir relative to the repository root
MODELS = [
    ("tiny-gpt2-f32", "tests/fixtures/tiny-gpt2-f32"),
    ("tiny-gpt2-f16-prefixed", "tests/fixtures/tiny-gpt2-f16-prefixed"),
    ("tiny-gpt2-bf16-sharded", "tests/fixtures/tiny-gpt2-bf16-sharded"),
    ("sshleifer-tiny-gpt2", "../shared/data/models/sshleifer-tiny-gpt2"),
]

LONG_TEXT = ("The city council met on Tuesday evening to discuss the new budget. "
             "After three hours of debate, the members agreed to spend more money on "
             "public parks, bus routes and the old library near the river, while the "
             "mayor promised that taxes would not rise next year. Several residents said "
             "they were happy with the plan, but others worried about the cost.")

# (name, text or None, explicit ids or None)
PROMPTS = [
    ("hello", "Hello, my name is", None),
    ("fox", "The quick brown fox", None),
    ("eot", None, [50256]),
    ("code", "def main():\n    print(\"hi\")\n", None),
    ("long60", LONG_TEXT, None),
]
# All 50257 last-position logits are kept only here, to keep the file near 3 MB.
FULL_LOGITS = {"tiny-gpt2-f32": {"hello", "long60"}, "*": {"hello"}}
LONG_LEN = 60
# vocab ids whose logits are recorded at every prompt position
SELECTED_IDS = [0, 11, 13, 198, 262, 290, 318, 383, 1000, 12345, 30000, 50000, 50256]
N_NEW = 20
REP_PENALTY = 1.3
TOP_K = 10


def fmt(x):
    """7 significant digits, as a JSON number that parses back to that value."""
    return float(f"{x:.7g}")


# ---- GPT-2 byte-level BPE, ASCII-only: enough to turn the prompt texts into ids -----------

def bytes_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


# The GPT-2 pre-split pattern with \p{L} / \p{N} narrowed to ASCII (inputs are ASCII).
PRESPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")


class Bpe:
    def __init__(self):
        with open(VOCAB_JSON, encoding="utf-8") as f:
            self.vocab = json.load(f)
        self.inv = {v: k for k, v in self.vocab.items()}
        with open(MERGES_TXT, encoding="utf-8") as f:
            lines = [ln.rstrip("\n") for ln in f if ln.strip() and not ln.startswith("#version")]
        self.ranks = {tuple(ln.split(" ")): i for i, ln in enumerate(lines)}
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}

    def _word(self, word):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == math.inf:
                break
            a, b = parts[i], parts[i + 1]
            merged, j = [], 0
            while j < len(parts):  # merge every occurrence of the best pair, left to right
                if j + 1 < len(parts) and parts[j] == a and parts[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(parts[j])
                    j += 1
            parts = merged
        return [self.vocab[p] for p in parts]

    def encode(self, text):
        if not text.isascii():
            raise ValueError("this helper only handles ASCII text")
        ids = []
        for piece in PRESPLIT.findall(text):
            ids += self._word("".join(self.b2u[b] for b in piece.encode("utf-8")))
        return ids

    def decode(self, ids):
        raw = bytes(self.u2b[c] for i in ids for c in self.inv[i])
        return raw.decode("utf-8", errors="replace")


# ---- goldens --------------------------------------------------------------------------------

def prompt_record(model, name, ids, text, keep_full):
    logits = model.logits(ids)  # [T, V] float64
    last = logits[-1]
    top = torch.topk(last, TOP_K)
    sel = torch.tensor(SELECTED_IDS)
    rec = {
        "name": name,
        "text": text,
        "ids": ids,
        "last_top_ids": [int(i) for i in top.indices],
        "last_top_logits": [fmt(v) for v in top.values.tolist()],
        "last_logsumexp": fmt(float(torch.logsumexp(last, 0))),
        "position_logits": [[fmt(v) for v in row] for row in logits[:, sel].tolist()],
        "position_argmax": [int(i) for i in logits.argmax(dim=1)],
        "position_max": [fmt(v) for v in logits.max(dim=1).values.tolist()],
    }
    if keep_full:
        rec["last_logits"] = [fmt(v) for v in last.tolist()]
    g_ids, g_margins = model.greedy(ids, N_NEW)
    r_ids, r_margins = model.greedy(ids, N_NEW, REP_PENALTY)
    rec["greedy_ids"] = g_ids
    rec["greedy_margins"] = [fmt(v) for v in g_margins]
    rec["rep_greedy_ids"] = r_ids
    rec["rep_greedy_margins"] = [fmt(v) for v in r_margins]
    return rec


def check_fixture_dtypes():
    """The F16/BF16 fixtures must hold exactly torch's round-to-nearest of the F32 one
    (an independent check of make_fixtures.py's encoders and of the readers)."""
    def stripped(rel):
        t = load_tensors(os.path.join(ROOT, rel))
        return {k[len("transformer."):] if k.startswith("transformer.") else k: torch.from_numpy(v)
                for k, v in t.items()}
    f32 = stripped(MODELS[0][1])
    for rel, dt, extra in ((MODELS[1][1], torch.float16, {"lm_head.weight"}), (MODELS[2][1], torch.bfloat16, set())):
        got = stripped(rel)
        if set(got) != set(f32) | extra:
            raise AssertionError(f"{rel}: tensor names differ from the f32 fixture")
        for name, ref in f32.items():
            want = ref.float().to(dt).double()
            if not torch.equal(got[name], want):
                raise AssertionError(f"{rel}: {name} is not the rounded f32 tensor")
        if extra and not torch.equal(got["lm_head.weight"], got["wte.weight"]):
            raise AssertionError(f"{rel}: lm_head.weight differs from wte")


def main():
    torch.set_grad_enabled(False)
    check_fixture_dtypes()
    if not (os.path.isfile(VOCAB_JSON) and os.path.isdir(SHARED)):
        sys.exit(f"make_reference: {SHARED} is required (vocab + sshleifer-tiny-gpt2); not found")
    bpe = Bpe()
    prompts = []
    for name, text, ids in PROMPTS:
        if ids is None:
            ids = bpe.encode(text)
        if name == "long60":
            if len(ids) < LONG_LEN:
                raise SystemExit(f"long prompt has only {len(ids)} tokens")
            ids = ids[:LONG_LEN]
        prompts.append((name, ids, bpe.decode(ids)))
    # The two short texts have well-known GPT-2 ids; a mismatch means the BPE helper is wrong.
    assert prompts[0][1] == [15496, 11, 616, 1438, 318], prompts[0][1]
    assert prompts[1][1] == [464, 2068, 7586, 21831], prompts[1][1]

    golden = {
        "format": 1,
        "generated_by": "tests/reference/make_reference.py (float64 PyTorch reference tests/reference/gpt2_ref.py)",
        "selected_ids": SELECTED_IDS,
        "n_new": N_NEW,
        "repetition_penalty": REP_PENALTY,
        "models": [],
    }
    for mname, rel in MODELS:
        path = os.path.normpath(os.path.join(ROOT, rel))
        model = GPT2Ref.load(path)
        check_causal(model, prompts[4][1])
        check_against_torch_modules(model, prompts[0][1])
        full = FULL_LOGITS.get(mname, FULL_LOGITS["*"])
        recs = [prompt_record(model, n, ids, text, n in full) for n, ids, text in prompts]
        g_min = min(min(r["greedy_margins"]) for r in recs)
        r_min = min(min(r["rep_greedy_margins"]) for r in recs)
        eos = any(50256 in r["greedy_ids"] + r["rep_greedy_ids"] for r in recs)
        # The fixtures were tuned for clear margins and no EOS; fail loudly if a
        # change to make_fixtures.py loses that rather than commit fragile goldens.
        if not rel.startswith("../shared") and (min(g_min, r_min) < 0.1 or eos):
            raise SystemExit(f"{mname}: greedy margin {min(g_min, r_min):.3g} or EOS in output; retune fixtures")
        golden["models"].append({
            "name": mname,
            "dir": rel,
            "requires_shared": rel.startswith("../shared"),
            "torch_dtype": model.config.get("torch_dtype"),
            "n_embd": model.n_embd, "n_head": model.n_head, "n_layer": model.n_layer,
            "n_positions": model.n_positions, "vocab_size": model.vocab,
            "min_greedy_margin": g_min,
            "min_rep_greedy_margin": r_min,
            "prompts": recs,
        })
        distinct = [len(set(r["greedy_ids"])) for r in recs]
        print(f"{mname}: min greedy margin {g_min:.3g}, rep {r_min:.3g}, "
              f"distinct greedy tokens per prompt {distinct}, eos generated: {eos}")
    with open(OUT, "w") as f:
        f.write(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
