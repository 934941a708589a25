#!/usr/bin/python3
"""Trains the bundled sentiment model: own WordPiece + a small DistilBERT classifier on SST-2.

    /usr/bin/python3 models/train/train_distilbert.py [--epochs N] [--out DIR]

Writes DIR (default models/bundled/distilbert-sst2): config.json (DistilBertForSequence-
Classification, id2label NEGATIVE/POSITIVE), model.safetensors (F16, HF names),
vocab.txt + tokenizer_config.json + tokenizer.json, train_log.json.
No pre-training: the encoder learns from the 67k labelled SST-2 phrases alone.
"""
import argparse
import math
import os
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

import wordpiece
from common import BUNDLED, REPO, Clock, log, need_shared, seed_all, set_threads, write_json, write_safetensors


def read_sst2(split):
    rows = []
    with open(need_shared(f"datasets/sst2/{split}.tsv"), encoding="utf-8") as f:
        next(f)  # header "label\ttext_a" (label first, unlike GLUE)
        for line in f:
            lab, text = line.rstrip("\n").split("\t", 1)
            rows.append((text.strip(), int(lab)))
    return rows


class Layer(nn.Module):
    def __init__(self, d, h, ff, drop):
        super().__init__()
        self.h = h
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(d, d) for _ in range(4))
        self.sa_layer_norm = nn.LayerNorm(d, eps=1e-12)
        self.lin1, self.lin2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.output_layer_norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(drop)

    def forward(self, x, keep):
        B, T, C = x.shape
        sh = lambda t: t.view(B, T, self.h, C // self.h).transpose(1, 2)
        q, k, v = sh(self.q_lin(x)), sh(self.k_lin(x)), sh(self.v_lin(x))
        att = (q / math.sqrt(C // self.h)) @ k.transpose(-2, -1)
        att = att.masked_fill(~keep[:, None, None, :], float("-inf")).softmax(-1)
        y = self.out_lin(self.drop(att @ v).transpose(1, 2).reshape(B, T, C))
        x = self.sa_layer_norm(x + self.drop(y))
        return self.output_layer_norm(x + self.drop(self.lin2(F.gelu(self.lin1(x)))))


class DistilBert(nn.Module):
    def __init__(self, vocab, n_pos, d, n_layers, h, ff, drop=0.1, cls_drop=0.2):
        super().__init__()
        self.cfg = dict(vocab=vocab, n_pos=n_pos, d=d, n_layers=n_layers, h=h, ff=ff, drop=drop, cls_drop=cls_drop)
        self.word_embeddings = nn.Embedding(vocab, d, padding_idx=0)
        self.position_embeddings = nn.Embedding(n_pos, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.layer = nn.ModuleList([Layer(d, h, ff, drop) for _ in range(n_layers)])
        self.pre_classifier = nn.Linear(d, d)
        self.classifier = nn.Linear(d, 2)
        self.drop, self.cls_drop = nn.Dropout(drop), nn.Dropout(cls_drop)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids):
        keep = ids != 0
        x = self.word_embeddings(ids) + self.position_embeddings(torch.arange(ids.shape[1]))
        x = self.drop(self.LayerNorm(x))
        for l in self.layer:
            x = l(x, keep)
        h = self.cls_drop(F.relu(self.pre_classifier(x[:, 0])))
        return self.classifier(h)

    def hf_state(self):
        s = {"distilbert.embeddings.word_embeddings.weight": self.word_embeddings.weight,
             "distilbert.embeddings.position_embeddings.weight": self.position_embeddings.weight,
             "distilbert.embeddings.LayerNorm.weight": self.LayerNorm.weight,
             "distilbert.embeddings.LayerNorm.bias": self.LayerNorm.bias}
        for i, l in enumerate(self.layer):
            p = f"distilbert.transformer.layer.{i}."
            for n in ("q_lin", "k_lin", "v_lin", "out_lin"):
                s[p + f"attention.{n}.weight"] = getattr(l, n).weight
                s[p + f"attention.{n}.bias"] = getattr(l, n).bias
            for n in ("sa_layer_norm", "output_layer_norm"):
                s[p + f"{n}.weight"], s[p + f"{n}.bias"] = getattr(l, n).weight, getattr(l, n).bias
            for n in ("lin1", "lin2"):
                s[p + f"ffn.{n}.weight"], s[p + f"ffn.{n}.bias"] = getattr(l, n).weight, getattr(l, n).bias
        for n in ("pre_classifier", "classifier"):
            s[f"{n}.weight"], s[f"{n}.bias"] = getattr(self, n).weight, getattr(self, n).bias
        return s

    def hf_config(self):
        c = self.cfg
        return {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
                "vocab_size": c["vocab"], "max_position_embeddings": c["n_pos"], "dim": c["d"],
                "n_layers": c["n_layers"], "n_heads": c["h"], "hidden_dim": c["ff"], "activation": "gelu",
                "dropout": c["drop"], "attention_dropout": c["drop"], "seq_classif_dropout": c["cls_drop"],
                "sinusoidal_pos_embds": False, "tie_weights_": True, "initializer_range": 0.02,
                "pad_token_id": 0, "qa_dropout": 0.1, "finetuning_task": "sst-2",
                "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
                "torch_dtype": "float16"}


def pad(seqs):
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [0] * (T - len(s)) for s in seqs])


@torch.no_grad()
def accuracy(model, data):
    model.eval()
    ok = 0
    for i in range(0, len(data), 128):
        chunk = data[i:i + 128]
        pred = model(pad([s for s, _ in chunk])).argmax(-1)
        ok += sum(int(p) == y for p, (_, y) in zip(pred.tolist(), chunk))
    model.train()
    return ok / len(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(BUNDLED, "distilbert-sst2"))
    ap.add_argument("--vocab", type=int, default=6000)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ff", type=int, default=1024)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=float, default=1.25)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    threads = set_threads()
    seed_all(a.seed)
    clock = Clock()
    train, dev = read_sst2("train"), read_sst2("dev")
    vocab = wordpiece.train([t for t, _ in train], a.vocab)
    enc = wordpiece.Encoder(vocab)
    t_tok = clock.s()
    tr = [(enc.encode(t, a.max_len), y) for t, y in train]
    dv = [(enc.encode(t, a.max_len), y) for t, y in dev]
    log(f"vocab {len(vocab)} in {t_tok:.0f}s; train {len(tr)} ({sum(len(s) for s, _ in tr)} tokens), dev {len(dv)}")

    model = DistilBert(len(vocab), 512, a.d, a.layers, a.heads, a.ff)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {n_params/1e6:.2f}M params")
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = int(math.ceil(len(tr) / a.batch) * a.epochs)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / (steps - warm))))
    rng = random.Random(a.seed)
    # Length-bucketed batches: sort by length inside shuffled pools of 50 batches so
    # padding stays small without making batch order deterministic by length.
    step, t0, hist = 0, clock.s(), []
    while step < steps:
        idx = list(range(len(tr)))
        rng.shuffle(idx)
        pool = a.batch * 50
        batches = []
        for i in range(0, len(idx), pool):
            chunk = sorted(idx[i:i + pool], key=lambda j: len(tr[j][0]))
            batches += [chunk[k:k + a.batch] for k in range(0, len(chunk), a.batch)]
        rng.shuffle(batches)
        for b in batches:
            if step >= steps:
                break
            x = pad([tr[j][0] for j in b])
            y = torch.tensor([tr[j][1] for j in b])
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            if step % 200 == 0 or step == steps - 1:
                acc = accuracy(model, dv) if step % 1000 == 0 or step == steps - 1 else None
                log(f"step {step}/{steps} loss {loss.item():.3f} dev {acc} {clock.s()-t0:.0f}s")
                hist.append([step, round(loss.item(), 4), acc])
            step += 1
    train_s = clock.s() - t0
    acc = accuracy(model, dv)
    log(f"dev accuracy (torch fp32) {acc:.4f}")
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), model.hf_state(), "F16")
    write_json(os.path.join(a.out, "config.json"), model.hf_config())
    wordpiece.write_files(a.out, vocab, write_json)
    write_json(os.path.join(a.out, "train_log.json"), {
        "args": vars(a) | {"out": os.path.relpath(a.out, REPO)}, "threads": threads, "params": n_params,
        "steps": steps, "tokenizer_s": round(t_tok, 1), "train_s": round(train_s, 1),
        "total_s": round(clock.s(), 1), "torch_fp32_dev_accuracy": round(acc, 4), "curve": hist})


if __name__ == "__main__":
    main()
