#!/usr/bin/python3
"""transformerd next to PyTorch on the same weights and the same work (make bench).

Two shapes of the brief: T5-small (60M, random weights; translation of one 24-token input to
exactly 32 new tokens, greedy; and a batch of 8 such inputs) and DistilBERT-base (66M, the
random model tests/bench/run.sh made with build/tools/mkbert; one text of 16 and of 128
tokens, and 32 texts of 128 in one call). PyTorch runs the project's own torch modules
(models/train: the same architectures, loaded from the very safetensors the engine reads), in
eval mode under no_grad with 2 threads, fp32 and int8 (torch.quantization.quantize_dynamic on
every Linear, PyTorch's CPU int8 path), and T5 decodes with a KV cache (self-attention K/V
appended per step, cross-attention K/V computed once), as transformers' generate() does, so
neither side redoes work. Each figure is the best of --reps runs.

    /usr/bin/python3 tests/bench/torch_compare.py [--build build] [--reps 3]

Prints a markdown table; the ratio column is transformerd int8 over the faster PyTorch dtype.
Needs Debian's python3-torch (exits 0 with a message without it) and, for the T5 tokenizer,
../shared/data/hf/t5-small (that part is skipped without it).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "models", "train"))

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_compare: no PyTorch under this interpreter (apt-get install python3-torch); skipped")
    sys.exit(0)

from common import read_safetensors, write_json, write_safetensors  # noqa: E402
from t5_model import T5  # noqa: E402
from train_distilbert import DistilBert  # noqa: E402

T5_SMALL = dict(vocab=32128, d=512, dk=64, h=8, ff=2048, n_enc=6, n_dec=6)
NEW_TOKENS = 32
SENTENCE = "A man in a blue shirt is standing on a ladder and cleaning the windows of a tall building."


def best_of(reps, fn):
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def quantized(model):
    return torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


# ---- T5 ----------------------------------------------------------------------------------

def make_t5(dirname, tokdir):
    if os.path.exists(os.path.join(dirname, "model.safetensors")):
        return
    os.makedirs(dirname, exist_ok=True)
    torch.manual_seed(5)
    c = T5_SMALL
    m = T5(c["vocab"], c["d"], c["dk"], c["h"], c["ff"], c["n_enc"], c["n_dec"], drop=0.0)
    write_safetensors(os.path.join(dirname, "model.safetensors"), m.hf_state(), "F32")
    write_json(os.path.join(dirname, "config.json"),
               m.hf_config({"translation_en_to_de": "translate English to German: "}))
    for f in ("spiece.model", "tokenizer_config.json", "tokenizer.json"):
        shutil.copy(os.path.join(tokdir, f), dirname)


def load_t5(dirname):
    cfg = json.load(open(os.path.join(dirname, "config.json")))
    m = T5(cfg["vocab_size"], cfg["d_model"], cfg["d_kv"], cfg["num_heads"], cfg["d_ff"], cfg["num_layers"],
           cfg["num_decoder_layers"], drop=0.0)
    return m.load_hf(read_safetensors(os.path.join(dirname, "model.safetensors"))).eval()


@torch.no_grad()
def t5_greedy_cached(m, src, n_new):
    """Greedy decoding of exactly n_new tokens with cached self- and cross-attention K/V."""
    mem, keep = m.encode(src)
    B = src.shape[0]
    cross = []
    for c in m.dec_cross:
        k = c.k(mem).view(B, -1, c.h, c.dk).transpose(1, 2)
        v = c.v(mem).view(B, -1, c.h, c.dk).transpose(1, 2)
        cross.append((k, v))
    cache = [None] * len(m.dec_attn)
    tok = torch.zeros(B, 1, dtype=torch.long)
    full_bias = m.dec_attn[0].bias(n_new, n_new)  # [1, h, T, T]; row t is step t's bias
    out = []
    for t in range(n_new):
        x = m.shared(tok)
        for i, a in enumerate(m.dec_attn):
            h = m.dec_ln0[i](x)
            q = a.q(h).view(B, 1, a.h, a.dk).transpose(1, 2)
            k = a.k(h).view(B, 1, a.h, a.dk).transpose(1, 2)
            v = a.v(h).view(B, 1, a.h, a.dk).transpose(1, 2)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], 2)
                v = torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            s = q @ k.transpose(-2, -1) + full_bias[:, :, t:t + 1, :t + 1]
            x = x + a.o((s.softmax(-1) @ v).transpose(1, 2).reshape(B, 1, -1))
            c = m.dec_cross[i]
            hq = c.q(m.dec_ln1[i](x)).view(B, 1, c.h, c.dk).transpose(1, 2)
            s = (hq @ cross[i][0].transpose(-2, -1)).masked_fill(~keep, float("-inf"))
            x = x + c.o((s.softmax(-1) @ cross[i][1]).transpose(1, 2).reshape(B, 1, -1))
            x = x + m.dec_ff[i](m.dec_ln2[i](x))
        logits = (m.dec_final(x) * m.cfg["d"] ** -0.5) @ m.shared.weight.t()
        tok = logits[:, -1].argmax(-1, keepdim=True)
        out.append(tok)
    return torch.cat(out, 1)


def engine_translate(binary, model, texts, reps):
    args = [binary, "translate", "--model", model, "--max-new-tokens", str(NEW_TOKENS), "--min-new-tokens",
            str(NEW_TOKENS), "--num-beams", "1", "--dtype", "int8", "--threads", "2", "--json"]
    for t in texts:
        args += ["--text", t]
    best, n_in = float("inf"), 0
    for _ in range(reps):
        j = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
        assert j["usage"]["completion_tokens"] == NEW_TOKENS * len(texts), j["usage"]
        best, n_in = min(best, j["timings"]["total_s"]), j["usage"]["prompt_tokens"]
    return best, n_in


def bench_t5(binary, build, reps, rows):
    tokdir = os.path.join(REPO, "..", "shared", "data", "hf", "t5-small")
    if not os.path.exists(os.path.join(tokdir, "spiece.model")):
        print("torch_compare: ../shared/data/hf/t5-small absent; T5 skipped")
        return
    d = os.path.join(build, "bench", "t5-small")
    make_t5(d, tokdir)
    fp32 = load_t5(d)
    int8 = quantized(fp32)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "spiece.model"))
    for batch in (1, 8):
        texts = [SENTENCE] * batch
        e_s, n_in = engine_translate(binary, d, texts, reps)
        ids = sp.encode("translate English to German: " + SENTENCE) + [1]
        assert len(ids) * batch == n_in, (len(ids), n_in)  # the same input on both sides
        src = torch.tensor([ids] * batch)
        t = {name: best_of(reps, lambda mm=mm: t5_greedy_cached(mm, src, NEW_TOKENS)) for name, mm in
             (("fp32", fp32), ("int8", int8))}
        rows.append((f"T5-small translate, batch {batch}, {len(ids)} in / {NEW_TOKENS} out", "tokens/s",
                     batch * NEW_TOKENS / t["fp32"], batch * NEW_TOKENS / t["int8"], batch * NEW_TOKENS / e_s))


# ---- DistilBERT --------------------------------------------------------------------------

def load_distilbert(dirname):
    cfg = json.load(open(os.path.join(dirname, "config.json")))
    m = DistilBert(cfg["vocab_size"], cfg["max_position_embeddings"], cfg["dim"], cfg["n_layers"], cfg["n_heads"],
                   cfg["hidden_dim"], drop=0.0, cls_drop=0.0)
    st = read_safetensors(os.path.join(dirname, "model.safetensors"))
    with torch.no_grad():
        for k, v in m.hf_state().items():
            v.copy_(st[k])
    return m.eval()


def engine_classify(binary, model, n_tokens, n_texts, reps):
    text = " ".join(["the"] * (n_tokens - 2))  # + [CLS] and [SEP]
    args = [binary, "classify", "--model", model, "--dtype", "int8", "--threads", "2", "--json"]
    for _ in range(n_texts):
        args += ["--text", text]
    best = float("inf")
    for _ in range(reps):
        j = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
        assert j["usage"]["prompt_tokens"] == n_tokens * n_texts, j["usage"]
        best = min(best, j["timings"]["classify_s"])
    return best


def bench_distilbert(binary, build, reps, rows):
    d = os.path.join(build, "bench", "distilbert-base")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        print("torch_compare: build/bench/distilbert-base absent (tests/bench/run.sh makes it); skipped")
        return
    fp32 = load_distilbert(d)
    int8 = quantized(fp32)
    for n_tokens, n_texts in ((16, 1), (128, 1), (128, 32)):
        ids = torch.full((n_texts, n_tokens), 1996)  # "the" in the uncased vocabulary
        ids[:, 0], ids[:, -1] = 101, 102
        with torch.no_grad():
            t = {name: best_of(reps, lambda mm=mm: mm(ids)) for name, mm in (("fp32", fp32), ("int8", int8))}
        e_s = engine_classify(binary, d, n_tokens, n_texts, reps)
        rows.append((f"DistilBERT-base classify, {n_texts} text(s) of {n_tokens} tokens", "texts/s",
                     n_texts / t["fp32"], n_texts / t["int8"], n_texts / e_s))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(2)
    binary = os.path.join(a.build, "transformerd")
    rows = []
    bench_t5(binary, a.build, a.reps, rows)
    bench_distilbert(binary, a.build, a.reps, rows)
    print(f"PyTorch {torch.__version__}, 2 threads, best of {a.reps}; transformerd int8, 2 threads\n")
    print("| workload | unit | PyTorch fp32 | PyTorch int8 | transformerd int8 | x best PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, unit, pf, pi, e in rows:
        print(f"| {name} | {unit} | {pf:.1f} | {pi:.1f} | {e:.1f} | {e / max(pf, pi):.1f}x |")


if __name__ == "__main__":
    main()
