#!/usr/bin/env python3
"""Regenerates tests/reference/llama_golden.json from the float64 references (llama_ref.py).

    /usr/bin/python3 tests/reference/make_llama_reference.py

Byte-for-byte reproducible. Needs ../shared (relative to the repository root) for the
stories260K part (llama2.c checkpoint and tok512.bin); refuses to run without it rather
than write a different file. Layout:
  tiny:        the GQA fixture: prompts (text, ids), logits at every position, greedy ids
  tiny_tokenizer: [{text, ids}] from the HF pipeline over the fixture's tokenizer.json
  stories260K: ids of texts under llama2.c's encode, float64 logits of the prompt's
               last position from the .bin itself (interleaved RoPE), and greedy ids
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from llama_ref import HfSpmBpe, Llama2cRef, LlamaRef, llama2c_encode  # noqa: E402

OUT = os.path.join(HERE, "llama_golden.json")
TINY = "tests/fixtures/tiny-llama-gqa"
STORIES = "../shared/data/models/llama2c-stories260K"

TINY_PROMPTS = [
    ("once", "Once upon a time there was a little girl"),
    ("dog", "The dog ran to the lake."),
    ("bytes", "Lily saw a caf\u00e9 \u2014 \u65e5\u672c"),
]
TINY_TEXTS = [
    "", "a", " ", "  two spaces", "Once upon a time", "the park  and   the lake",
    "\u00e9t\u00e9 na\u00efve \u65e5\u672c\u8a9e \U0001F600", "tab\there\nnewline",
    "<s>after a bos", "before</s>after", "x<unk>y", "The END. 1234!",
]
STORY_TEXTS = [
    "", "a", "Once upon a time", "Lily and Ben went to the park. They saw a big, red ball!",
    "  two leading spaces", "tab\tand\nnewline", "h\u00e9llo w\u00f6rld \u2014 \u65e5\u672c\u8a9e \U0001F600",
    "\"Mom, can I have a cookie?\" asked Tim. She said no.", "The end. 123 4567 89",
    "aaaaaaaaaaaaaaaaaaaa abababababab", "Once upon a time, there was a little girl named Lily.",
]
N_GREEDY = 12
N_STORY_GREEDY = 40


def fmt(x):
    return float(f"{x:.7g}")


def greedy(ref, ids, n):
    ids, margins = list(ids), []
    for _ in range(n):
        last = ref.logits(ids)[-1]
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]))
        ids.append(int(last.argmax()))
    return ids[-n:], min(margins)


def main():
    shared = os.path.join(ROOT, STORIES)
    if not os.path.isdir(shared):
        sys.exit(f"make_llama_reference: {shared} is absent; refusing to write a partial golden")
    torch.set_grad_enabled(False)

    ref = LlamaRef(os.path.join(ROOT, TINY))
    tok = HfSpmBpe(os.path.join(ROOT, TINY, "tokenizer.json"))
    prompts = []
    for name, text in TINY_PROMPTS:
        ids = tok.encode(text)
        lg = ref.logits(ids)
        g, margin = greedy(ref, ids, N_GREEDY)
        prompts.append({"name": name, "text": text, "ids": ids,
                        "position_logits": [[fmt(v) for v in row.tolist()] for row in lg],
                        "greedy_ids": g, "min_greedy_margin": fmt(margin)})

    sref = Llama2cRef(os.path.join(shared, "stories260K.bin"))
    tok512 = os.path.join(shared, "tok512.bin")
    sids = llama2c_encode(tok512, sref.vocab, "Once upon a time")
    slog = sref.logits(sids)[-1]
    sg, smargin = greedy(sref, sids, N_STORY_GREEDY)

    golden = {
        "format": 1,
        "generated_by": "tests/reference/make_llama_reference.py (torch %s, float64)" % torch.__version__,
        "tiny": {"dir": TINY, "prompts": prompts},
        "tiny_tokenizer": [{"text": t, "ids": tok.encode(t)} for t in TINY_TEXTS],
        "stories260K": {
            "dir": STORIES, "requires_shared": True,
            "prompt": "Once upon a time", "ids": sids,
            "last_logits": [fmt(v) for v in slog.tolist()],
            "greedy_ids": sg, "min_greedy_margin": fmt(smargin),
            "encode": [{"text": t, "ids": llama2c_encode(tok512, sref.vocab, t)} for t in STORY_TEXTS],
        },
    }
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
