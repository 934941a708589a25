#!/usr/bin/python3
"""Trains the bundled generation model: own byte-level BPE + a small GPT-2 on TinyStories.

    /usr/bin/python3 models/train/train_gpt2.py [--steps N] [--out DIR]

Writes DIR (default models/bundled/gpt2-tinystories): config.json, generation_config.json,
tokenizer.json, model.safetensors (F16, HF GPT2LMHeadModel names), train_log.json.
Fixed seeds; same data, same command, same weights (up to float summation order).
"""
import argparse
import json
import math
import os

import torch

import bpe_bytelevel as bpe
import gpt2_data
import stories260k
from common import BUNDLED, REPO, Clock, log, seed_all, set_threads, write_json, write_safetensors
from gpt2_model import GPT2

EOS = "<|endoftext|>"


def batches(data, block, bs, gen):
    ix = torch.randint(len(data) - block - 1, (bs,), generator=gen)
    x = torch.stack([data[i:i + block] for i in ix])
    y = torch.stack([data[i + 1:i + block + 1] for i in ix])
    return x, y


@torch.no_grad()
def heldout_nll(model, docs, enc, eos, block):
    """Mean NLL per token over held-out stories: each story is <eos> + story + <eos>, scored
    from its first real token on, in windows of `block` (stories fit one window)."""
    model.eval()
    tot, n = 0.0, 0
    for d in docs:
        ids = [eos] + enc.encode(d) + [eos]
        for s in range(0, len(ids) - 1, block):
            chunk = torch.tensor(ids[s:s + block + 1])
            logits = model(chunk[None, :-1])[0]
            tot += torch.nn.functional.cross_entropy(logits, chunk[1:], reduction="sum").item()
            n += len(chunk) - 1
    model.train()
    return tot / n, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(BUNDLED, "gpt2-tinystories"))
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--synthetic", type=int, default=0,
                    help="stories sampled from llama2.c stories260K added to the training text (0 = none)")
    a = ap.parse_args()
    threads = set_threads()
    seed_all(a.seed)
    clock = Clock()

    train_docs, hold_docs = gpt2_data.split()
    log(f"stories: {len(train_docs)} train, {len(hold_docs)} held out")
    synth = []
    if a.synthetic:
        # Paragraphs as in the real file (the sampler's text has single newlines).
        synth = [s.replace("\n", "\n\n") for s in
                 stories260k.cached(a.synthetic, a.seed, os.path.join(REPO, "build", "train_data"))]
        log(f"synthetic stories: {len(synth)} ({clock.s():.0f}s)")
    train_docs = train_docs + synth
    vocab, merges = bpe.train(train_docs, a.vocab, specials=(EOS,))
    enc = bpe.Encoder(vocab, merges)
    eos = vocab[EOS]
    t_tok = clock.s()
    ids = []
    for d in train_docs:
        ids.append(eos)
        ids.extend(enc.encode(d))
    ids.append(eos)
    data = torch.tensor(ids, dtype=torch.long)
    log(f"tokenizer: {len(vocab)} tokens, {len(merges)} merges in {t_tok:.1f}s; train tokens {len(data)}")

    model = GPT2(len(vocab), a.ctx, a.d, a.layers, a.heads)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {n_params/1e6:.2f}M params")
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98))
    warm = max(1, a.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps)))))
    gen = torch.Generator().manual_seed(a.seed)
    t0 = clock.s()
    # Train in windows that start anywhere, but at positions up to ctx: a window of `block`
    # tokens is placed at a random position offset so every position embedding is trained.
    hist = []
    for step in range(a.steps):
        x, y = batches(data, a.block, a.batch, gen)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == a.steps - 1:
            el = clock.s() - t0
            log(f"step {step} loss {loss.item():.3f} {el:.0f}s ({(step+1)*a.batch*a.block/max(el,1e-9):.0f} tok/s)")
            hist.append([step, round(loss.item(), 4)])
    train_s = clock.s() - t0
    nll, n_tok = heldout_nll(model, hold_docs, enc, eos, a.ctx)
    log(f"held-out: {n_tok} tokens, nll {nll:.4f}, ppl {math.exp(nll):.2f}")

    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), model.hf_state(), "F16")
    write_json(os.path.join(a.out, "config.json"), model.hf_config(eos))
    write_json(os.path.join(a.out, "generation_config.json"), {"bos_token_id": eos, "eos_token_id": eos})
    write_json(os.path.join(a.out, "tokenizer.json"), bpe.tokenizer_json(vocab, merges, (EOS,)), indent=None)
    write_json(os.path.join(a.out, "train_log.json"), {
        "args": vars(a) | {"out": os.path.relpath(a.out, REPO)}, "threads": threads, "params": n_params,
        "train_tokens": len(data), "train_stories": len(train_docs) - len(synth),
        "synthetic_stories": len(synth), "heldout_stories": len(hold_docs),
        "tokenizer_s": round(t_tok, 1), "train_s": round(train_s, 1), "total_s": round(clock.s(), 1),
        "torch_fp32_heldout_nll": round(nll, 4), "torch_fp32_heldout_ppl": round(math.exp(nll), 3),
        "heldout_tokens": n_tok, "loss_curve": hist})
    log(f"wrote {a.out} in {clock.s():.0f}s")


if __name__ == "__main__":
    main()
