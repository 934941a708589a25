"""Independent float64 references for the Llama family, written from transformers'
modeling_llama.py (LlamaRMSNorm, LlamaRotaryEmbedding + apply_rotary_pos_emb with
rotate_half, repeat_kv, LlamaMLP) and from llama2.c's run.c (forward, encode), in plain
torch / Python -- no code shared with the C engine.

    LlamaRef(dir).logits(ids)          -> (T, vocab) float64, every position
    Llama2cRef(bin_path).logits(ids)   -> the same from a llama2.c .bin, interleaved RoPE
    HfSpmBpe(tokenizer_json).encode(text)   -> ids as HF tokenizers would give them
    llama2c_encode(tok_bin, vocab_size, text) -> ids as llama2.c's encode() gives them (BOS on)
"""
import json
import struct

import torch

META = "\u2581"


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", name
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(t["shape"]).double()
    return out


# ---- the model -----------------------------------------------------------------------------

def rms_norm(x, w, eps):
    # LlamaRMSNorm: x * rsqrt(mean(x^2) + eps) * weight
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_rotate_half(x, pos, theta):
    """x: (T, H, hd). HF: inv_freq in float32, then cos/sin of position * inv_freq."""
    hd = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.double()[:, None] * inv_freq.double()[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    return x * cos + rotate_half(x) * sin


def rope_interleaved(x, pos, theta):
    """llama2.c run.c: pairs (2j, 2j+1) of each head rotated by pos * theta^(-2j/hd)."""
    hd = x.shape[-1]
    j = torch.arange(0, hd, 2, dtype=torch.float64)
    ang = pos.double()[:, None] * (1.0 / theta ** (j / hd))[None, :]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward(w, cfg, ids, rope):
    """w: dict of float64 tensors in HF names (without the 'model.' prefix)."""
    d, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim", d // nh)
    eps, theta = cfg["rms_norm_eps"], cfg.get("rope_theta", 10000.0)
    T = len(ids)
    pos = torch.arange(T)
    x = w["embed_tokens.weight"][torch.tensor(ids)]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"layers.{i}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, nh, hd)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, nkv, hd)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, nkv, hd)
        q, k = rope(q, pos, theta), rope(k, pos, theta)
        # repeat_kv: KV head j serves query heads j*g .. j*g+g-1
        g = nh // nkv
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / hd ** 0.5 + mask
        att = torch.softmax(att, dim=-1)
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    x = rms_norm(x, w["norm.weight"], eps)
    head = w.get("lm_head.weight", w["embed_tokens.weight"])
    return x @ head.T


class LlamaRef:
    def __init__(self, d):
        self.cfg = json.load(open(f"{d}/config.json"))
        raw = load_safetensors(f"{d}/model.safetensors")
        self.w = {k[len("model."):] if k.startswith("model.") else k: v for k, v in raw.items()}
        if self.cfg.get("tie_word_embeddings", False):
            self.w.pop("lm_head.weight", None)

    def logits(self, ids):
        return forward(self.w, self.cfg, ids, rope_rotate_half)


class Llama2cRef:
    """Reads the legacy llama2.c .bin in run.c's order; weights keep llama2.c's q/k rows."""

    def __init__(self, path):
        raw = open(path, "rb").read()
        dim, hidden, L, nh, nkv, vocab, seq = struct.unpack("<7i", raw[:28])
        shared = vocab > 0
        vocab = abs(vocab)
        f = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32).double()
        hd, kv = dim // nh, dim // nh * nkv
        off = 0

        def take(*shape):
            nonlocal off
            n = 1
            for s in shape:
                n *= s
            t = f[off:off + n].reshape(shape)
            off += n
            return t
        w = {"embed_tokens.weight": take(vocab, dim)}
        parts = [("input_layernorm.weight", (dim,)), ("self_attn.q_proj.weight", (dim, dim)),
                 ("self_attn.k_proj.weight", (kv, dim)), ("self_attn.v_proj.weight", (kv, dim)),
                 ("self_attn.o_proj.weight", (dim, dim)), ("post_attention_layernorm.weight", (dim,)),
                 ("mlp.gate_proj.weight", (hidden, dim)), ("mlp.down_proj.weight", (dim, hidden)),
                 ("mlp.up_proj.weight", (hidden, dim))]
        for name, shape in parts:
            t = take(L, *shape)
            for i in range(L):
                w[f"layers.{i}.{name}"] = t[i]
        w["norm.weight"] = take(dim)
        take(seq * hd)  # freq_cis_real/imag
        if not shared:
            w["lm_head.weight"] = take(vocab, dim)
        assert off == f.numel(), (off, f.numel())
        self.w = w
        self.vocab = vocab
        self.cfg = {"hidden_size": dim, "num_attention_heads": nh, "num_key_value_heads": nkv,
                    "num_hidden_layers": L, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}

    def logits(self, ids):
        return forward(self.w, self.cfg, ids, rope_interleaved)


# ---- tokenizers ----------------------------------------------------------------------------

class HfSpmBpe:
    """The HF tokenizers pipeline for a SentencePiece-BPE tokenizer.json: split out added
    tokens, normalize/pre-tokenize each piece ("▁"), BPE by merge rank (lowest first,
    leftmost on ties), <0xNN> byte fallback, TemplateProcessing for BOS. Quadratic, plain."""

    def __init__(self, path):
        t = json.load(open(path, encoding="utf-8"))
        m = t["model"]
        self.vocab = m["vocab"]
        self.rank = {}
        for i, mg in enumerate(m["merges"]):
            a, b = mg if isinstance(mg, list) else mg.split(" ")
            self.rank.setdefault((a, b), i)
            self.rank[(a, b)] = i  # a later duplicate wins
        self.added = sorted((a["content"] for a in t.get("added_tokens", [])), key=len, reverse=True)
        self.added_id = {a["content"]: a["id"] for a in t.get("added_tokens", [])}
        norm, pre = t.get("normalizer"), t.get("pre_tokenizer")
        self.legacy = norm is not None  # Prepend + Replace
        self.scheme = pre.get("prepend_scheme", "always") if pre else None
        self.split = pre.get("split", True) if pre else False
        self.pre, self.post = [], []
        post = t.get("post_processor")
        if post:
            after = False
            for item in post["single"]:
                if "Sequence" in item:
                    after = True
                else:
                    ids = post["special_tokens"][item["SpecialToken"]["id"]]["ids"]
                    (self.post if after else self.pre).extend(ids)

    def bpe(self, word):
        syms = []
        for ch in word:
            if ch in self.vocab:
                syms.append(ch)
            else:
                syms.extend("<0x%02X>" % b for b in ch.encode("utf-8"))
        while True:
            best = None
            for i in range(len(syms) - 1):
                r = self.rank.get((syms[i], syms[i + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        return [self.vocab[s] for s in syms]

    def segment(self, s, at_start):
        if self.legacy:
            s = META + s.replace(" ", META)
        else:
            s = s.replace(" ", META)
            if (self.scheme == "always" or (self.scheme == "first" and at_start)) and not s.startswith(META):
                s = META + s
        words = [s]
        if self.split:
            words, cur = [], ""
            for ch in s:
                if ch == META and cur:
                    words.append(cur)
                    cur = ""
                cur += ch
            if cur:
                words.append(cur)
        out = []
        for w in words:
            out += self.bpe(w)
        return out

    def encode(self, text):
        ids, pos, seg = list(self.pre), 0, ""
        start = 0
        while pos < len(text):
            hit = next((a for a in self.added if text.startswith(a, pos)), None)
            if hit is None:
                seg += text[pos]
                pos += 1
                continue
            if seg:
                ids += self.segment(seg, start == 0)
            ids.append(self.added_id[hit])
            pos += len(hit)
            seg, start = "", pos
        if seg:
            ids += self.segment(seg, start == 0)
        return ids + self.post


def llama2c_encode(tok_path, vocab_size, text):
    """run.c encode(t, text, bos=1, eos=0): dummy " " prefix, code points looked up (bytes + 3
    when absent), then merge the best-scoring adjacent pair (leftmost on ties) until none."""
    raw = open(tok_path, "rb").read()
    off = 4
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack("<fi", raw[off:off + 8])
        off += 8
        pieces.append(raw[off:off + n])
        scores.append(score)
        off += n
    lookup = {p: i for i, p in enumerate(pieces)}
    syms = [lookup[b" "]] if text else []
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            syms.append(lookup[b])
        else:
            syms.extend(x + 3 for x in b)
    while True:
        best, best_i = -1e10, -1
        for i in range(len(syms) - 1):
            j = lookup.get(pieces[syms[i]] + pieces[syms[i + 1]])
            if j is not None and scores[j] > best:
                best, best_i = scores[j], i
        if best_i < 0:
            break
        syms[best_i:best_i + 2] = [lookup[pieces[syms[best_i]] + pieces[syms[best_i + 1]]]]
    return [1] + syms  # BOS takes part in run.c's pair scan too, but "\n<s>\n" + x is no piece
