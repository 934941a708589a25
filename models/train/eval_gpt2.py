#!/usr/bin/python3
"""Quality of the bundled GPT-2: held-out TinyStories perplexity through transformerd
(build/tools/score, int8 as served and fp32) and through the PyTorch model rebuilt from
the same model.safetensors, plus five sample stories from `transformerd generate`.

    /usr/bin/python3 models/train/eval_gpt2.py [--model DIR]

Prints a JSON report and writes it to build/quality/gpt2.json.
"""
import argparse
import json
import math
import os
import subprocess

import torch

import gpt2_data
from common import BUNDLED, REPO, binary, read_safetensors, set_threads
from gpt2_model import load_hf

PROMPTS = ["Once upon a time", "One day, a little girl named Lily", "Tom had a big red ball.",
           "The cat and the dog", "Sara wanted to bake a cake"]


def c_score(model, path, dtype):
    out = subprocess.run([binary("tools/score"), "--model", model, "--input", path, "--dtype", dtype],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


@torch.no_grad()
def torch_score(model_dir, docs):
    """Same scoring as tools/score (eos + text + eos, via the C tokenizer's ids)."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = load_hf(read_safetensors(os.path.join(model_dir, "model.safetensors")), cfg)
    eos, nll, n = cfg["eos_token_id"], 0.0, 0
    tok = binary("transformerd")
    for d in docs:
        ids = json.loads(subprocess.run([tok, "tokenize", "--model", model_dir, "--text", d], check=True,
                                        capture_output=True, text=True).stdout)
        ids = ([eos] + ids + [eos])[:cfg["n_positions"]]
        x = torch.tensor(ids)
        logits = m(x[None, :-1])[0]
        nll += torch.nn.functional.cross_entropy(logits, x[1:], reduction="sum").item()
        n += len(ids) - 1
    return {"tokens": n, "nll_mean": nll / n, "ppl": math.exp(nll / n)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(BUNDLED, "gpt2-tinystories"))
    a = ap.parse_args()
    set_threads()
    _, hold = gpt2_data.split()
    qdir = os.path.join(REPO, "build", "quality")
    os.makedirs(qdir, exist_ok=True)
    path = os.path.join(qdir, "tinystories_heldout.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        for d in hold:
            f.write(json.dumps(d) + "\n")
    rep = {"heldout_stories": len(hold)}
    for dt in ("int8", "fp32"):
        rep[f"c_{dt}"] = c_score(a.model, path, dt)
    rep["torch_fp32"] = torch_score(a.model, hold)
    samples = []
    for i, p in enumerate(PROMPTS):
        out = subprocess.run([binary("transformerd"), "generate", "--model", a.model, "--prompt", p,
                              "--max-new-tokens", "160", "--temperature", "0.8", "--top-p", "0.9",
                              "--seed", str(i + 1), "--json"], check=True, capture_output=True, text=True).stdout
        samples.append({"prompt": p, "seed": i + 1, "text": json.loads(out)["text"]})
    rep["samples"] = samples
    with open(os.path.join(qdir, "gpt2.json"), "w") as f:
        json.dump(rep, f, indent=2)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
