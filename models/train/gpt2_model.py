"""GPT-2 in PyTorch, laid out so that its state maps 1:1 onto HF GPT2LMHeadModel
names (Conv1D weights stored [in, out] on export), plus the export itself."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, n_head, drop):
        super().__init__()
        self.n_head = n_head
        self.ln_1 = nn.LayerNorm(d, eps=1e-5)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d, eps=1e-5)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(drop)

    def forward(self, x, mask):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        h = self.n_head
        q = q.view(B, T, h, C // h).transpose(1, 2)
        k = k.view(B, T, h, C // h).transpose(1, 2)
        v = v.view(B, T, h, C // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // h)
        att = att.masked_fill(mask[:T, :T] == 0, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.drop(self.c_proj(y))
        x = x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))
        return x


class GPT2(nn.Module):
    def __init__(self, vocab, n_ctx, d, n_layer, n_head, drop=0.1):
        super().__init__()
        self.cfg = dict(vocab=vocab, n_ctx=n_ctx, d=d, n_layer=n_layer, n_head=n_head)
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(n_ctx, d)
        self.h = nn.ModuleList([Block(d, n_head, drop) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d, eps=1e-5)
        self.drop = nn.Dropout(drop)
        self.register_buffer("mask", torch.tril(torch.ones(n_ctx, n_ctx)), persistent=False)
        self.apply(self._init)
        for b in self.h:  # GPT-2's scaled init of the residual projections
            nn.init.normal_(b.c_proj.weight, std=0.02 / math.sqrt(2 * n_layer))
            nn.init.normal_(b.mlp_proj.weight, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx):
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T, device=idx.device)))
        for b in self.h:
            x = b(x, self.mask)
        return self.ln_f(x) @ self.wte.weight.t()  # tied head, as in GPT-2

    def hf_state(self):
        """HF names; nn.Linear [out, in] becomes Conv1D [in, out]."""
        s = {"wte.weight": self.wte.weight, "wpe.weight": self.wpe.weight}
        for i, b in enumerate(self.h):
            p = f"h.{i}."
            s[p + "ln_1.weight"], s[p + "ln_1.bias"] = b.ln_1.weight, b.ln_1.bias
            s[p + "attn.c_attn.weight"], s[p + "attn.c_attn.bias"] = b.c_attn.weight.t(), b.c_attn.bias
            s[p + "attn.c_proj.weight"], s[p + "attn.c_proj.bias"] = b.c_proj.weight.t(), b.c_proj.bias
            s[p + "ln_2.weight"], s[p + "ln_2.bias"] = b.ln_2.weight, b.ln_2.bias
            s[p + "mlp.c_fc.weight"], s[p + "mlp.c_fc.bias"] = b.c_fc.weight.t(), b.c_fc.bias
            s[p + "mlp.c_proj.weight"], s[p + "mlp.c_proj.bias"] = b.mlp_proj.weight.t(), b.mlp_proj.bias
        s["ln_f.weight"], s["ln_f.bias"] = self.ln_f.weight, self.ln_f.bias
        return s

    def hf_config(self, eos_id):
        c = self.cfg
        return {
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": c["vocab"], "n_positions": c["n_ctx"], "n_ctx": c["n_ctx"],
            "n_embd": c["d"], "n_layer": c["n_layer"], "n_head": c["n_head"], "n_inner": None,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "initializer_range": 0.02,
            "bos_token_id": eos_id, "eos_token_id": eos_id, "tie_word_embeddings": True,
            "torch_dtype": "float16", "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 200}},
        }


def load_hf(state, cfg):
    """Rebuilds the PyTorch model from an exported HF state (for evaluation)."""
    m = GPT2(cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"], cfg["n_head"], 0.0)
    own = {}
    for i in range(cfg["n_layer"]):
        p = f"h.{i}."
        for a, b, t in [("ln_1.weight", "ln_1.weight", 0), ("ln_1.bias", "ln_1.bias", 0),
                        ("attn.c_attn.weight", "c_attn.weight", 1), ("attn.c_attn.bias", "c_attn.bias", 0),
                        ("attn.c_proj.weight", "c_proj.weight", 1), ("attn.c_proj.bias", "c_proj.bias", 0),
                        ("ln_2.weight", "ln_2.weight", 0), ("ln_2.bias", "ln_2.bias", 0),
                        ("mlp.c_fc.weight", "c_fc.weight", 1), ("mlp.c_fc.bias", "c_fc.bias", 0),
                        ("mlp.c_proj.weight", "mlp_proj.weight", 1), ("mlp.c_proj.bias", "mlp_proj.bias", 0)]:
            v = state[p + a]
            own[p.replace("h.", "h.") + b] = v.t() if t else v
    for k in ["wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"]:
        own[k] = state[k]
    m.load_state_dict({k: v.float() for k, v in own.items()})
    return m.eval()
