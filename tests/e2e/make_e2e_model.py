#!/usr/bin/env python3
"""Writes tests/fixtures/e2e-gpt2/: the tiny GPT-2 the end-to-end tests serve.

Standard library only and deterministic (random.Random with a fixed seed, sorted
JSON), so rerunning reproduces every byte:

    python3 tests/e2e/make_e2e_model.py

Hugging Face GPT2LMHeadModel layout: config.json, model.safetensors (F32, Conv1D
weights stored [in, out], tied lm_head so no lm_head tensor) and a byte-level BPE
tokenizer.json whose vocabulary is the 256 byte symbols (ids in byte order) plus
<|endoftext|> = 256. No merges: every byte is one token, which keeps prompts
predictable (n bytes = n tokens) for the context-length tests.
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "e2e-gpt2")

N_EMBD, N_LAYER, N_HEAD, N_POSITIONS, VOCAB, EOS = 32, 2, 4, 256, 257, 256
SEED = 20261123


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tensors():
    rng = random.Random(SEED)
    E = N_EMBD

    def normal(n, std):
        return [rng.gauss(0.0, std) for _ in range(n)]

    def gain(n):
        return [rng.uniform(0.7, 1.3) for _ in range(n)]

    t = {}
    # The head is tied to wte, so a random model tends to repeat its input token
    # (the residual stream still looks like that token's embedding) or the few
    # rows with the largest norm. Equal-norm rows, small next to strong block
    # outputs (c_proj std 1.0 / 1.5) and a large ln_f gain give varied, mostly
    # printable greedy text with clear top-1 margins. Printable ASCII rows are
    # longer than the rest so most output is readable.
    wte = []
    for tok in range(VOCAB):
        scale = 0.3 if 32 <= tok < 127 else 0.1
        row = normal(E, 1.0)
        norm = sum(x * x for x in row) ** 0.5
        wte += [x / norm * scale * E ** 0.5 for x in row]
    t["wte.weight"] = ([VOCAB, E], wte)
    t["wpe.weight"] = ([N_POSITIONS, E], normal(N_POSITIONS * E, 0.2))
    for i in range(N_LAYER):
        p = "h.%d." % i
        t[p + "ln_1.weight"] = ([E], gain(E))
        t[p + "ln_1.bias"] = ([E], normal(E, 0.05))
        t[p + "attn.c_attn.weight"] = ([E, 3 * E], normal(E * 3 * E, 0.3))
        t[p + "attn.c_attn.bias"] = ([3 * E], normal(3 * E, 0.05))
        t[p + "attn.c_proj.weight"] = ([E, E], normal(E * E, 1.0))
        t[p + "attn.c_proj.bias"] = ([E], normal(E, 0.05))
        t[p + "ln_2.weight"] = ([E], gain(E))
        t[p + "ln_2.bias"] = ([E], normal(E, 0.05))
        t[p + "mlp.c_fc.weight"] = ([E, 4 * E], normal(E * 4 * E, 0.25))
        t[p + "mlp.c_fc.bias"] = ([4 * E], normal(4 * E, 0.05))
        t[p + "mlp.c_proj.weight"] = ([4 * E, E], normal(4 * E * E, 1.5))
        t[p + "mlp.c_proj.bias"] = ([E], normal(E, 0.05))
    t["ln_f.weight"] = ([E], [rng.uniform(3.0, 3.5) for _ in range(E)])
    t["ln_f.bias"] = ([E], normal(E, 0.05))
    return t


def write_safetensors(path, t):
    header, blobs, off = {}, [], 0
    for name in sorted(t):
        shape, vals = t[name]
        blob = struct.pack("<%df" % len(vals), *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def tokenizer_json():
    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    vocab["<|endoftext|>"] = EOS
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": EOS, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None, "pre_tokenizer": bl, "post_processor": bl, "decoder": bl,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": []},
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": N_EMBD, "n_layer": N_LAYER,
        "n_head": N_HEAD, "n_positions": N_POSITIONS, "n_ctx": N_POSITIONS, "vocab_size": VOCAB,
        "bos_token_id": EOS, "eos_token_id": EOS, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new", "tie_word_embeddings": True,
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(OUT, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(), f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    write_safetensors(os.path.join(OUT, "model.safetensors"), tensors())
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("Tiny random GPT-2 (n_embd 32, 2 layers, 4 heads, 256 positions, byte vocabulary + "
                "<|endoftext|>) for the end-to-end tests.\nMade by tests/e2e/make_e2e_model.py; "
                "rerun it to reproduce these files byte for byte.\n")


if __name__ == "__main__":
    main()
