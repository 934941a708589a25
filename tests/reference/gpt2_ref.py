#!/usr/bin/env python3
"""Independent float64 GPT-2 (GPT2LMHeadModel) forward pass: the numerical oracle.

Written from the contract in docs/hf-models.md (checked against the public
transformers modeling_gpt2.py), not from the C engine. Everything is computed in
float64 from the values actually stored in the checkpoint (F16/BF16 are widened
exactly), so the only error in a golden is the final rounding when it is written.

Deliberately simple: no KV cache, every step recomputes the whole sequence, so it
is obviously correct and the C engine's cached path is checked against it.

    m = GPT2Ref.load("tests/fixtures/tiny-gpt2-f32")
    m.logits([15496, 11])             # torch.float64 [T, vocab]
    m.greedy([15496, 11], 20)         # (new ids, top1-top2 margins)

Run as a script for the self-checks: `python3 tests/reference/gpt2_ref.py [ckpt_dir...]`.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch

# safetensors dtype -> (numpy little-endian dtype, bytes per element).
# BF16 has no numpy type; it is widened by hand below.
ST_DTYPES = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": (None, 2),
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),
}


def read_safetensors(path):
    """Returns ({name: np.float64 array}, metadata dict or None). Validates offsets."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    if 8 + hlen > len(blob):
        raise ValueError(f"{path}: header length {hlen} beyond file size")
    header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = info["dtype"], info["shape"]
        begin, end = info["data_offsets"]
        if dtype not in ST_DTYPES:
            raise ValueError(f"{path}: {name}: unsupported dtype {dtype}")
        npdt, size = ST_DTYPES[dtype]
        count = math.prod(shape)
        if not (0 <= begin <= end <= len(blob) - base) or end - begin != count * size:
            raise ValueError(f"{path}: {name}: bad data_offsets {begin},{end}")
        raw = blob[base + begin:base + end]
        if dtype == "BF16":
            # bf16 is the high half of an f32: shifting up is an exact widening.
            arr = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
        else:
            arr = np.frombuffer(raw, npdt)
        out[name] = arr.astype(np.float64).reshape(shape)
    return out, header.get("__metadata__")


def load_tensors(ckpt_dir):
    """All tensors of a checkpoint dir (single file or sharded), names as stored."""
    index = os.path.join(ckpt_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            got, _ = read_safetensors(os.path.join(ckpt_dir, shard))
            for name, arr in got.items():
                if weight_map.get(name) != shard:
                    raise ValueError(f"{shard}: {name} not mapped to this shard")
                tensors[name] = arr
        missing = set(weight_map) - set(tensors)
        if missing:
            raise ValueError(f"index lists tensors not found in shards: {sorted(missing)[:3]}")
        return tensors
    return read_safetensors(os.path.join(ckpt_dir, "model.safetensors"))[0]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def layer_norm(x, w, b, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = (x - mean).pow(2).mean(dim=-1, keepdim=True)  # biased, as torch LayerNorm
    return (x - mean) / torch.sqrt(var + eps) * w + b


class GPT2Ref:
    def __init__(self, config, tensors):
        self.config = config
        self.n_embd = config["n_embd"]
        self.n_head = config["n_head"]
        self.n_layer = config["n_layer"]
        self.n_positions = config["n_positions"]
        self.eps = config.get("layer_norm_epsilon", 1e-5)
        self.scale_attn = config.get("scale_attn_weights", True)
        self.scale_by_layer = config.get("scale_attn_by_inverse_layer_idx", False)
        act = config.get("activation_function", "gelu_new")
        if act != "gelu_new":
            raise ValueError(f"activation {act} not covered by this reference")
        if self.n_embd % self.n_head:
            raise ValueError("n_embd not divisible by n_head")
        w = {}
        lm_head = None
        for name, arr in tensors.items():
            if name == "lm_head.weight":
                lm_head = arr
                continue
            if name.startswith("transformer."):
                name = name[len("transformer."):]
            # causal-mask buffers some old checkpoints carry; not weights
            if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
                continue
            w[name] = torch.from_numpy(arr)
        self.w = w
        self.wte = w["wte.weight"]
        self.vocab = self.wte.shape[0]
        # tied unless the file carries its own head
        self.head = torch.from_numpy(lm_head) if lm_head is not None else self.wte
        E = self.n_embd
        inner = config.get("n_inner") or 4 * E
        expect = {"wte.weight": (config["vocab_size"], E), "wpe.weight": (self.n_positions, E),
                  "ln_f.weight": (E,), "ln_f.bias": (E,)}
        for i in range(self.n_layer):
            p = f"h.{i}."
            expect.update({p + "ln_1.weight": (E,), p + "ln_1.bias": (E,),
                           p + "attn.c_attn.weight": (E, 3 * E), p + "attn.c_attn.bias": (3 * E,),
                           p + "attn.c_proj.weight": (E, E), p + "attn.c_proj.bias": (E,),
                           p + "ln_2.weight": (E,), p + "ln_2.bias": (E,),
                           p + "mlp.c_fc.weight": (E, inner), p + "mlp.c_fc.bias": (inner,),
                           p + "mlp.c_proj.weight": (inner, E), p + "mlp.c_proj.bias": (E,)})
        for name, shape in expect.items():
            if name not in w:
                raise ValueError(f"missing tensor {name}")
            if tuple(w[name].shape) != shape:
                raise ValueError(f"{name}: shape {tuple(w[name].shape)} != {shape}")
        extra = set(w) - set(expect)
        if extra:
            raise ValueError(f"unexpected tensors: {sorted(extra)[:5]}")

    @classmethod
    def load(cls, ckpt_dir):
        with open(os.path.join(ckpt_dir, "config.json")) as f:
            config = json.load(f)
        return cls(config, load_tensors(ckpt_dir))

    def _attention(self, x, i):
        T, E = x.shape
        H = self.n_head
        D = E // H
        p = f"h.{i}.attn."
        qkv = x @ self.w[p + "c_attn.weight"] + self.w[p + "c_attn.bias"]  # Conv1D: [in,out]
        q, k, v = qkv.split(E, dim=1)
        q = q.reshape(T, H, D).transpose(0, 1)  # [H,T,D]
        k = k.reshape(T, H, D).transpose(0, 1)
        v = v.reshape(T, H, D).transpose(0, 1)
        scores = q @ k.transpose(1, 2)
        if self.scale_attn:
            scores = scores / math.sqrt(D)
        if self.scale_by_layer:
            scores = scores / float(i + 1)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        probs = torch.softmax(scores, dim=-1)
        out = (probs @ v).transpose(0, 1).reshape(T, E)
        return out @ self.w[p + "c_proj.weight"] + self.w[p + "c_proj.bias"]

    def _mlp(self, x, i):
        p = f"h.{i}.mlp."
        hmid = gelu_new(x @ self.w[p + "c_fc.weight"] + self.w[p + "c_fc.bias"])
        return hmid @ self.w[p + "c_proj.weight"] + self.w[p + "c_proj.bias"]

    def hidden(self, ids):
        """Final hidden states after ln_f, float64 [T, n_embd]."""
        ids = list(ids)
        if not ids:
            raise ValueError("empty sequence")
        if len(ids) > self.n_positions:
            raise ValueError("sequence longer than n_positions")
        if min(ids) < 0 or max(ids) >= self.vocab:
            raise ValueError("token id out of range")
        idx = torch.tensor(ids, dtype=torch.long)
        h = self.wte[idx] + self.w["wpe.weight"][: len(ids)]
        for i in range(self.n_layer):
            p = f"h.{i}."
            h = h + self._attention(layer_norm(h, self.w[p + "ln_1.weight"], self.w[p + "ln_1.bias"], self.eps), i)
            h = h + self._mlp(layer_norm(h, self.w[p + "ln_2.weight"], self.w[p + "ln_2.bias"], self.eps), i)
        return layer_norm(h, self.w["ln_f.weight"], self.w["ln_f.bias"], self.eps)

    def logits(self, ids):
        """float64 [T, vocab]: logits at every position."""
        return self.hidden(ids) @ self.head.T

    def last_logits(self, ids):
        return self.hidden(ids)[-1] @ self.head.T

    def greedy(self, ids, n_new, repetition_penalty=1.0):
        """Greedy decoding of n_new tokens (no EOS stop). Returns (new_ids, margins),
        margins[k] = top1 - top2 of the (penalised) logits that chose new_ids[k].
        Repetition penalty follows transformers' RepetitionPenaltyLogitsProcessor:
        every id present in prompt+generated gets logit/p if logit > 0 else logit*p."""
        seq = list(ids)
        new, margins = [], []
        for _ in range(n_new):
            z = self.last_logits(seq).clone()
            if repetition_penalty != 1.0:
                seen = torch.tensor(sorted(set(seq)), dtype=torch.long)
                s = z[seen]
                z[seen] = torch.where(s > 0, s / repetition_penalty, s * repetition_penalty)
            top = torch.topk(z, 2)
            tok = int(top.indices[0])
            # topk breaks ties arbitrarily; HF argmax picks the lowest id. Refuse ties.
            if float(top.values[0] - top.values[1]) == 0.0:
                raise ValueError("exact tie in greedy step; golden would be ambiguous")
            new.append(tok)
            margins.append(float(top.values[0] - top.values[1]))
            seq.append(tok)
        return new, margins


# ---- self-checks ------------------------------------------------------------------------

def check_causal(model, ids):
    """Logits at position t must not depend on tokens after t, and full-sequence logits
    must equal those of the prefix alone (what a KV cache relies on)."""
    full = model.logits(ids)
    changed = list(ids)
    for t in range(1, len(ids)):
        changed[t] = (changed[t] * 7919 + 13) % model.vocab
    alt = model.logits(changed)
    # position 0 sees only token 0, which is unchanged
    d0 = float((full[0] - alt[0]).abs().max())
    if d0 > 1e-12:
        raise AssertionError(f"causal mask broken: pos 0 moved by {d0}")
    for t in (0, len(ids) // 2, len(ids) - 1):
        pre = model.last_logits(ids[: t + 1])
        d = float((full[t] - pre).abs().max())
        if d > 1e-10:
            raise AssertionError(f"prefix mismatch at t={t}: {d}")
    if len(ids) > 2 and float((full[-1] - alt[-1]).abs().max()) == 0.0:
        raise AssertionError("later position ignores its context")


def check_against_torch_modules(model, ids):
    """Second formulation with torch's own layers (F.layer_norm, tanh-GELU,
    nn.MultiheadAttention fed the Conv1D weights transposed); must agree to 1e-10."""
    import torch.nn.functional as F
    E, H = model.n_embd, model.n_head
    T = len(ids)
    idx = torch.tensor(ids)
    h = F.embedding(idx, model.wte) + F.embedding(torch.arange(T), model.w["wpe.weight"])
    mask = torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), diagonal=1)
    for i in range(model.n_layer):
        p = f"h.{i}."
        mha = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(model.w[p + "attn.c_attn.weight"].T)
            mha.in_proj_bias.copy_(model.w[p + "attn.c_attn.bias"])
            mha.out_proj.weight.copy_(model.w[p + "attn.c_proj.weight"].T)
            mha.out_proj.bias.copy_(model.w[p + "attn.c_proj.bias"])
        x = F.layer_norm(h, (E,), model.w[p + "ln_1.weight"], model.w[p + "ln_1.bias"], model.eps)
        a, _ = mha(x[None], x[None], x[None], attn_mask=mask, need_weights=False)
        h = h + a[0].detach()
        x = F.layer_norm(h, (E,), model.w[p + "ln_2.weight"], model.w[p + "ln_2.bias"], model.eps)
        x = F.gelu(F.linear(x, model.w[p + "mlp.c_fc.weight"].T, model.w[p + "mlp.c_fc.bias"]), approximate="tanh")
        h = h + F.linear(x, model.w[p + "mlp.c_proj.weight"].T, model.w[p + "mlp.c_proj.bias"])
    h = F.layer_norm(h, (E,), model.w["ln_f.weight"], model.w["ln_f.bias"], model.eps)
    want = F.linear(h, model.head)
    got = model.logits(ids)
    d = float((want - got).abs().max())
    scale = max(1.0, float(want.abs().max()))
    if model.scale_attn and not model.scale_by_layer and d > 1e-10 * scale:
        raise AssertionError(f"reference disagrees with torch modules: {d}")
    return d


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    dirs = argv or sorted(
        os.path.join(here, "..", "fixtures", d) for d in os.listdir(os.path.join(here, "..", "fixtures"))
        if os.path.isfile(os.path.join(here, "..", "fixtures", d, "config.json")))
    ids = [15496, 11, 616, 1438, 318, 464, 2068, 7586, 21831]
    for d in dirs:
        m = GPT2Ref.load(d)
        check_causal(m, ids)
        diff = check_against_torch_modules(m, ids)
        print(f"{os.path.basename(os.path.normpath(d))}: causal ok, torch-modules max diff {diff:.3g}")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main(sys.argv[1:])
