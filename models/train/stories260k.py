"""Samples stories from the genuinely trained llama2.c `stories260K` model (../shared/data/
models/llama2c-stories260K) to give the GPT-2 more TinyStories-like text than the ~1,000
real stories we have. A small llama2.c forward pass in PyTorch with a KV cache, batched.

llama2.c legacy file: 7 int32 (dim, hidden, layers, heads, kv_heads, vocab (positive =
shared classifier), seq_len), then fp32 tensors stored [out, in] in this order:
embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis (unused: the
rotation is recomputed). tok512.bin: int32 max_len, then per token float score, int32
length, bytes. Token 1 starts a story; the next 1 ends it.
"""
import math
import os
import struct

import numpy as np
import torch

from common import need_shared

DIR = "models/llama2c-stories260K"


def load():
    raw = open(need_shared(f"{DIR}/stories260K.bin"), "rb").read()
    dim, hidden, L, H, KV, vocab, seq = struct.unpack("<7i", raw[:28])
    w = np.frombuffer(raw[28:], dtype=np.float32)
    kv_dim = dim * KV // H
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        t = torch.from_numpy(w[off:off + n].copy()).view(*shape)
        off += n
        return t

    p = {"emb": take(abs(vocab), dim), "rms_att": take(L, dim), "wq": take(L, dim, dim),
         "wk": take(L, kv_dim, dim), "wv": take(L, kv_dim, dim), "wo": take(L, dim, dim),
         "rms_ffn": take(L, dim), "w1": take(L, hidden, dim), "w2": take(L, dim, hidden),
         "w3": take(L, hidden, dim), "rms_final": take(dim)}
    cfg = dict(dim=dim, hidden=hidden, L=L, H=H, KV=KV, vocab=abs(vocab), seq=seq)
    tok = open(need_shared(f"{DIR}/tok512.bin"), "rb").read()
    pieces, o = [], 4
    for _ in range(cfg["vocab"]):
        _score, n = struct.unpack("<fi", tok[o:o + 8])
        pieces.append(tok[o + 8:o + 8 + n])
        o += 8 + n
    return p, cfg, pieces


def rms(x, w):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)


def rope(x, pos, head):
    """Rotates consecutive pairs (2i, 2i+1) of every head by pos * 10000^(-2i/head)."""
    B, n, _ = x.shape[0], x.shape[-1] // head, None
    x = x.view(B, n, head // 2, 2)
    freq = 1.0 / (10000 ** (torch.arange(0, head, 2).float() / head))
    c, s = torch.cos(pos * freq), torch.sin(pos * freq)
    a, b = x[..., 0], x[..., 1]
    return torch.stack([a * c - b * s, a * s + b * c], -1).view(B, n * head)


@torch.no_grad()
def sample(n_stories, seed, temperature=0.9, top_p=0.95, batch=128, max_len=350):
    p, cfg, pieces = load()
    H, KV, dim, L = cfg["H"], cfg["KV"], cfg["dim"], cfg["L"]
    hs = dim // H
    gen = torch.Generator().manual_seed(seed)
    stories = []
    while len(stories) < n_stories:
        B = batch
        tok = torch.full((B,), 1, dtype=torch.long)
        kc = torch.zeros(L, B, max_len, KV, hs)
        vc = torch.zeros(L, B, max_len, KV, hs)
        out = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool)
        for pos in range(max_len):
            x = p["emb"][tok]
            for l in range(L):
                h = rms(x, p["rms_att"][l])
                q = rope(h @ p["wq"][l].t(), pos, hs).view(B, H, hs)
                k = rope(h @ p["wk"][l].t(), pos, hs).view(B, KV, hs)
                v = (h @ p["wv"][l].t()).view(B, KV, hs)
                kc[l, :, pos], vc[l, :, pos] = k, v
                K = kc[l, :, :pos + 1].repeat_interleave(H // KV, dim=2)  # [B, T, H, hs]
                V = vc[l, :, :pos + 1].repeat_interleave(H // KV, dim=2)
                att = torch.einsum("bhd,bthd->bht", q, K) / math.sqrt(hs)
                y = torch.einsum("bht,bthd->bhd", att.softmax(-1), V).reshape(B, dim)
                x = x + y @ p["wo"][l].t()
                h = rms(x, p["rms_ffn"][l])
                g = h @ p["w1"][l].t()
                x = x + ((g * torch.sigmoid(g)) * (h @ p["w3"][l].t())) @ p["w2"][l].t()
            logits = rms(x, p["rms_final"]) @ p["emb"].t()
            probs = (logits / temperature).softmax(-1)
            sp, si = probs.sort(-1, descending=True)
            cut = sp.cumsum(-1) - sp > top_p
            sp[cut] = 0
            nxt = si.gather(1, torch.multinomial(sp, 1, generator=gen)).squeeze(1)
            for b in range(B):
                if not done[b]:
                    if nxt[b].item() in (1, 2):
                        done[b] = True
                    else:
                        out[b].append(nxt[b].item())
            tok = nxt
            if done.all():
                break
        for b in range(B):
            if done[b]:  # only stories the model finished itself
                stories.append(decode(out[b], pieces))
    return stories[:n_stories]


def decode(ids, pieces):
    buf = bytearray()
    for i, t in enumerate(ids):
        piece = pieces[t]
        if i == 0 and piece.startswith(b" "):
            piece = piece[1:]
        if piece.startswith(b"<0x") and piece.endswith(b">") and len(piece) == 6:
            buf.append(int(piece[3:5], 16))
        else:
            buf += piece
    return buf.decode("utf-8", errors="replace").strip()


def cached(n_stories, seed, cache_dir):
    """Samples once per (n, seed) and keeps the text under build/ (never committed)."""
    path = os.path.join(cache_dir, f"stories260k_{n_stories}_{seed}.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read().split("\n\x1e\n")
    s = sample(n_stories, seed)
    os.makedirs(cache_dir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n\x1e\n".join(s))
    return s


if __name__ == "__main__":
    import time
    t = time.time()
    torch.set_num_threads(1)
    for s in sample(4, 1, batch=4):
        print(s, "\n----")
    print(f"{time.time()-t:.1f}s")
