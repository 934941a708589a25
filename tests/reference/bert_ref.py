#!/usr/bin/env python3
"""Independent float64 BERT / DistilBERT sequence classifier: the numerical oracle.

Written from the transformers modeling_bert.py / modeling_distilbert.py contract (post-LN
encoder, GELU(erf), LayerNorm eps from the config or 1e-12, BERT tanh pooler, DistilBERT
pre_classifier + ReLU), not from the C engine. Weights are widened exactly to float64.
A padded batch uses HF's additive attention mask (finfo.min on padding keys), so the
golden for a padded batch checks that padding is masked out, independently of how the
engine avoids padding.

    m = EncoderRef.load("tests/fixtures/tiny-distilbert-sst2")
    m.logits([[2, 12, 3], [2, 12, 13, 14, 3]])   # float64 [n_texts, n_labels], padded batch

Run as a script for a self-check: `python3 tests/reference/bert_ref.py DIR...`.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

ST = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + hlen])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        a = np.frombuffer(blob[8 + hlen + b:8 + hlen + e], dtype=ST[info["dtype"]])
        out[name] = torch.from_numpy(a.astype(np.float64).reshape(info["shape"]))
    return out


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def linear(x, W, b):
    return x @ W.T + b


class EncoderRef:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.family = cfg["model_type"]
        if self.family == "distilbert":
            self.e, self.n_layer, self.n_head = cfg["dim"], cfg["n_layers"], cfg["n_heads"]
            self.eps = 1e-12
            self.P = lambda n: w["distilbert." + n]
        else:
            self.e, self.n_layer = cfg["hidden_size"], cfg["num_hidden_layers"]
            self.n_head, self.eps = cfg["num_attention_heads"], cfg.get("layer_norm_eps", 1e-12)
            self.P = lambda n: w["bert." + n]
        self.labels = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]

    @staticmethod
    def load(d):
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        return EncoderRef(cfg, read_safetensors(os.path.join(d, "model.safetensors")))

    def attention(self, x, mask, q, k, v, o):
        B, T, E = x.shape
        H, dh = self.n_head, E // self.n_head
        def split(t):
            return t.view(B, T, H, dh).transpose(1, 2)
        Q, K, V = split(linear(x, *q)), split(linear(x, *k)), split(linear(x, *v))
        s = (Q / math.sqrt(dh)) @ K.transpose(-1, -2)              # [B, H, T, T]
        s = s + (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float64).min
        p = torch.softmax(s, dim=-1)
        ctx = (p @ V).transpose(1, 2).reshape(B, T, E)
        return linear(ctx, *o)

    def logits(self, batch):
        """batch: list of id lists (any lengths); padded with 0 and masked."""
        T = max(len(ids) for ids in batch)
        ids = torch.zeros(len(batch), T, dtype=torch.long)
        mask = torch.zeros(len(batch), T, dtype=torch.float64)
        for i, s in enumerate(batch):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        P, w = self.P, self.w
        pos = torch.arange(T)
        x = P("embeddings.word_embeddings.weight")[ids] + P("embeddings.position_embeddings.weight")[pos]
        if self.family == "bert":
            x = x + P("embeddings.token_type_embeddings.weight")[0]
        x = layer_norm(x, P("embeddings.LayerNorm.weight"), P("embeddings.LayerNorm.bias"), self.eps)
        for i in range(self.n_layer):
            if self.family == "distilbert":
                L = lambda n: P(f"transformer.layer.{i}.{n}")
                lin = lambda n: (L(n + ".weight"), L(n + ".bias"))
                a = self.attention(x, mask, lin("attention.q_lin"), lin("attention.k_lin"),
                                   lin("attention.v_lin"), lin("attention.out_lin"))
                x = layer_norm(a + x, *lin("sa_layer_norm"), self.eps)
                f = linear(gelu(linear(x, *lin("ffn.lin1"))), *lin("ffn.lin2"))
                x = layer_norm(f + x, *lin("output_layer_norm"), self.eps)
            else:
                L = lambda n: P(f"encoder.layer.{i}.{n}")
                lin = lambda n: (L(n + ".weight"), L(n + ".bias"))
                a = self.attention(x, mask, lin("attention.self.query"), lin("attention.self.key"),
                                   lin("attention.self.value"), lin("attention.output.dense"))
                x = layer_norm(a + x, *lin("attention.output.LayerNorm"), self.eps)
                f = linear(gelu(linear(x, *lin("intermediate.dense"))), *lin("output.dense"))
                x = layer_norm(f + x, *lin("output.LayerNorm"), self.eps)
        cls = x[:, 0]
        if self.family == "distilbert":
            h = torch.relu(linear(cls, w["pre_classifier.weight"], w["pre_classifier.bias"]))
        else:
            h = torch.tanh(linear(cls, P("pooler.dense.weight"), P("pooler.dense.bias")))
        return linear(h, w["classifier.weight"], w["classifier.bias"])


if __name__ == "__main__":
    for d in sys.argv[1:]:
        m = EncoderRef.load(d)
        single = [m.logits([s])[0] for s in ([2, 12, 3], [2, 12, 13, 14, 15, 3])]
        both = m.logits([[2, 12, 3], [2, 12, 13, 14, 15, 3]])
        assert all(torch.allclose(single[i], both[i], atol=1e-12) for i in range(2)), "mask leak"
        print(d, "ok", both.tolist())
