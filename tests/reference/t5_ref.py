"""Independent float64 PyTorch T5ForConditionalGeneration, written from modeling_t5.py's
equations (not a copy), for the golden outputs of the tiny fixtures.

No caches: every decoder step recomputes the whole decoder prefix, so nothing about the
engine's cache layout or beam cache reordering can leak into the reference. Decoding
(greedy, beam search) follows transformers 4.36-4.44 generate() semantics, see
models/beam.h.
"""
import json
import math
import os
import struct

import numpy as np
import torch

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        raw = data[b:e]
        if meta["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif meta["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif meta["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(meta["dtype"])
        out[name] = torch.tensor(a.astype(np.float64).reshape(meta["shape"]))
    return out


def bucket(rp, bidirectional, n_buckets, max_distance):
    """modeling_t5 _relative_position_bucket on a LongTensor of key - query."""
    b = torch.zeros_like(rp)
    if bidirectional:
        n_buckets //= 2
        b = b + (rp > 0).long() * n_buckets
        rp = rp.abs()
    else:
        rp = -torch.min(rp, torch.zeros_like(rp))
    max_exact = n_buckets // 2
    # float32, as the library computes it, so bucket edges agree
    large = max_exact + (torch.log(rp.float() / max_exact) / math.log(max_distance / max_exact)
                         * (n_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, n_buckets - 1))
    return b + torch.where(rp < max_exact, rp, large)


class T5Ref:
    def __init__(self, d):
        with open(os.path.join(d, "config.json")) as f:
            self.cfg = c = json.load(f)
        self.w = read_safetensors(os.path.join(d, "model.safetensors"))
        self.E, self.H, self.K = c["d_model"], c["num_heads"], c["d_kv"]
        self.eps = c.get("layer_norm_epsilon", 1e-6)
        ff = c.get("feed_forward_proj", "relu")
        self.gated = ff.startswith("gated-")
        self.tied = c.get("tie_word_embeddings", True)
        self.nb = c["relative_attention_num_buckets"]
        self.md = c["relative_attention_max_distance"]
        self.n_enc, self.n_dec = c["num_layers"], c.get("num_decoder_layers", c["num_layers"])
        self.vocab = c["vocab_size"]

    def rms(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w[name]

    def lin(self, x, name):
        return x @ self.w[name].T

    def pos_bias(self, stack, q_len, k_len, bidirectional):
        rp = torch.arange(k_len)[None, :] - torch.arange(q_len)[:, None]
        bk = bucket(rp, bidirectional, self.nb, self.md)
        table = self.w[f"{stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
        return table[bk].permute(2, 0, 1)  # (H, q, k)

    def attn(self, xq, xkv, p, bias, causal):
        H, K = self.H, self.K
        q = self.lin(xq, p + ".q.weight").view(-1, H, K).transpose(0, 1)
        k = self.lin(xkv, p + ".k.weight").view(-1, H, K).transpose(0, 1)
        v = self.lin(xkv, p + ".v.weight").view(-1, H, K).transpose(0, 1)
        s = q @ k.transpose(1, 2)  # T5: no 1/sqrt(d_kv)
        if bias is not None:
            s = s + bias
        if causal:
            n = s.shape[-1]
            s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
        o = torch.softmax(s, -1) @ v
        return self.lin(o.transpose(0, 1).reshape(-1, H * K), p + ".o.weight")

    def ff(self, x, p):
        if self.gated:
            g = self.lin(x, p + ".wi_0.weight")
            g = 0.5 * g * (1 + torch.tanh(math.sqrt(2 / math.pi) * (g + 0.044715 * g ** 3)))
            h = g * self.lin(x, p + ".wi_1.weight")
        else:
            h = torch.relu(self.lin(x, p + ".wi.weight"))
        return self.lin(h, p + ".wo.weight")

    def encode(self, ids):
        x = self.w["shared.weight"][torch.tensor(ids)]
        bias = self.pos_bias("encoder", len(ids), len(ids), True)
        for i in range(self.n_enc):
            p = f"encoder.block.{i}.layer."
            h = self.rms(x, p + "0.layer_norm.weight")
            x = x + self.attn(h, h, p + "0.SelfAttention", bias, False)
            x = x + self.ff(self.rms(x, p + "1.layer_norm.weight"), p + "1.DenseReluDense")
        return self.rms(x, "encoder.final_layer_norm.weight")

    def decode_logits(self, enc, dec_ids):
        """Logits of every decoder position, (len(dec_ids), vocab)."""
        x = self.w["shared.weight"][torch.tensor(dec_ids)]
        bias = self.pos_bias("decoder", len(dec_ids), len(dec_ids), False)
        for i in range(self.n_dec):
            p = f"decoder.block.{i}.layer."
            h = self.rms(x, p + "0.layer_norm.weight")
            x = x + self.attn(h, h, p + "0.SelfAttention", bias, True)
            h = self.rms(x, p + "1.layer_norm.weight")
            x = x + self.attn(h, enc, p + "1.EncDecAttention", None, False)
            x = x + self.ff(self.rms(x, p + "2.layer_norm.weight"), p + "2.DenseReluDense")
        x = self.rms(x, "decoder.final_layer_norm.weight")
        if self.tied:
            return (x * self.E ** -0.5) @ self.w["shared.weight"].T
        return x @ self.w["lm_head.weight"].T


def ban_ngrams(scores, hist, n):
    if n <= 0 or len(hist) + 1 < n:
        return
    prefix = hist[len(hist) - (n - 1):]
    for s in range(len(hist) - n + 1):
        if hist[s:s + n - 1] == prefix:
            scores[hist[s + n - 1]] = float("-inf")


def greedy(model, ids, max_new, min_new=0, no_repeat=0, eos=1, start=0):
    enc = model.encode(ids)
    dec = [start]
    all_logits = []
    for _ in range(max_new):
        logits = model.decode_logits(enc, dec)[-1].clone()
        all_logits.append(logits.clone())
        if len(dec) - 1 < min_new:
            logits[eos] = float("-inf")
        ban_ngrams(logits, dec, no_repeat)
        t = int(torch.argmax(logits))
        dec.append(t)
        if t == eos:
            break
    return dec[1:], all_logits


def beam_search(model, ids, num_beams, max_new, length_penalty=1.0, early_stopping=False,
                no_repeat=0, min_new=0, eos=1, start=0):
    enc = model.encode(ids)
    beams = [([start], 0.0)]
    hyps = []  # [score, tokens, ended_with_eos]

    def add(tokens, sum_lp, gen_len, ended):
        score = sum_lp / (gen_len ** length_penalty)
        worst = min(h[0] for h in hyps) if hyps else 1e9
        if len(hyps) < num_beams or score > worst:
            hyps.append([score, tokens, ended])
            if len(hyps) > num_beams:
                hyps.remove(min(hyps, key=lambda h: h[0]))

    done = False
    for _ in range(max_new):
        cand = []
        for bi, (toks, sc) in enumerate(beams):
            lp = torch.log_softmax(model.decode_logits(enc, toks)[-1], -1)
            if len(toks) - 1 < min_new:
                lp[eos] = float("-inf")
            ban_ngrams(lp, toks, no_repeat)
            for v in range(lp.shape[0]):
                cand.append((sc + float(lp[v]), bi, v))
        top = sorted(cand, key=lambda c: -c[0])[:2 * num_beams]
        new = []
        for rank, (s, bi, v) in enumerate(top):
            if len(new) == num_beams:
                break
            toks = beams[bi][0]
            if v == eos:
                if rank >= num_beams:
                    continue
                add(toks[1:], s, len(toks), True)
            else:
                new.append((toks + [v], s))
        cur = len(beams[0][0])  # generated tokens after this step
        beams = new
        if len(hyps) >= num_beams:
            worst = min(h[0] for h in hyps)
            if early_stopping or worst >= top[0][0] / (cur ** length_penalty):
                done = True
                break
    if not done:
        for toks, s in beams:
            add(toks[1:], s, len(toks) - 1, False)
    best = hyps[0]
    for h in hyps[1:]:
        if h[0] >= best[0]:
            best = h
    return best[1] + ([eos] if best[2] else []), best[0]
