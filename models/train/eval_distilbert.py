#!/usr/bin/python3
"""Quality of the bundled sentiment model: SST-2 dev accuracy through transformerd (int8 as
served, fp32) and through the PyTorch model rebuilt from the same model.safetensors.

    /usr/bin/python3 models/train/eval_distilbert.py [--model DIR]

Prints a JSON report and writes it to build/quality/distilbert.json.
"""
import argparse
import json
import os

import torch

import engine
import wordpiece
from common import BUNDLED, REPO, read_safetensors, set_threads
from train_distilbert import DistilBert, accuracy, read_sst2


def torch_accuracy(model_dir, dev):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    vocab = {}
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    enc = wordpiece.Encoder(vocab)
    m = DistilBert(cfg["vocab_size"], cfg["max_position_embeddings"], cfg["dim"], cfg["n_layers"],
                   cfg["n_heads"], cfg["hidden_dim"])
    st = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    own = m.hf_state()
    with torch.no_grad():
        for k, v in own.items():
            v.copy_(st[k])
    return accuracy(m.eval(), [(enc.encode(t, 128), y) for t, y in dev])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(BUNDLED, "distilbert-sst2"))
    a = ap.parse_args()
    set_threads()
    dev = read_sst2("dev")
    rep = {"dev_sentences": len(dev), "torch_fp32_accuracy": torch_accuracy(a.model, dev)}
    for dt in ("int8", "fp32"):
        labels = engine.classify(a.model, [t for t, _ in dev], dt)
        if labels is None:
            rep[f"c_{dt}_accuracy"] = None
            continue
        ok = sum((lab == "POSITIVE") == bool(y) for lab, (_, y) in zip(labels, dev))
        rep[f"c_{dt}_accuracy"] = ok / len(dev)
    os.makedirs(os.path.join(REPO, "build", "quality"), exist_ok=True)
    with open(os.path.join(REPO, "build", "quality", "distilbert.json"), "w") as f:
        json.dump(rep, f, indent=2)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
