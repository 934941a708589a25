#!/usr/bin/python3
"""Trains the bundled translate + summarize model: own SentencePiece Unigram + a small T5,
multi-task with T5 prefixes (Multi30k en->de, en->fr; SciTLDR-A summarization).

    /usr/bin/python3 models/train/train_t5.py [--steps N] [--out DIR]

Needs Debian's python3-sentencepiece (apt-get install python3-sentencepiece). Writes DIR
(default models/bundled/t5-multi30k-scitldr): config.json (with task_specific_params
prefixes), generation_config.json, spiece.model + tokenizer_config.json (the slow T5
files), model.safetensors (F16, HF T5ForConditionalGeneration names), train_log.json.
"""
import argparse
import math
import os
import random
import shutil
import sys
import tempfile

import torch
import torch.nn.functional as F

import t5_data
from common import BUNDLED, REPO, Clock, log, read_safetensors, seed_all, set_threads, write_json, write_safetensors
from t5_model import T5

try:
    import sentencepiece as spm
except ImportError:
    sys.exit("needs SentencePiece: apt-get install python3-sentencepiece")


def train_spm(out_dir, vocab, seed):
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(t5_data.spm_corpus()) + "\n")
        # T5's ids: <pad> 0, </s> 1, <unk> 2, no <s>. nmt_nfkc like the original spiece.model.
        spm.SentencePieceTrainer.train(
            input=corpus, model_prefix=os.path.join(out_dir, "spiece"), vocab_size=vocab,
            model_type="unigram", character_coverage=1.0, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
            pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", num_threads=1,
            input_sentence_size=0, shuffle_input_sentence=False,
            max_sentence_length=16384, minloglevel=2)
    vocab_file = os.path.join(out_dir, "spiece.vocab")
    if os.path.exists(vocab_file):
        os.remove(vocab_file)
    return spm.SentencePieceProcessor(model_file=os.path.join(out_dir, "spiece.model"))


def pad(seqs, v=0):
    T = max(len(s) for s in seqs)
    return torch.tensor([s + [v] * (T - len(s)) for s in seqs])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(BUNDLED, "t5-multi30k-scitldr"))
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--ff", type=int, default=1536)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--drop", type=float, default=0.1)
    ap.add_argument("--max-src", type=int, default=128)
    ap.add_argument("--max-tgt", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=4800, help="source+target tokens per batch")
    ap.add_argument("--steps", type=int, default=4500)
    ap.add_argument("--lr", type=float, default=7e-4)
    ap.add_argument("--emb-lr-mult", type=float, default=10.0,
                    help="learning-rate multiplier for the shared embedding (see the optimizer set-up)")
    ap.add_argument("--amp", choices=("bf16", "none"), default="bf16",
                    help="bf16 autocast for the matmuls (fp32 weights and residual stream): ~5x faster "
                         "on a CPU with AVX512_BF16; 'none' trains in fp32")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--init", default=None,
                    help="continue from this checkpoint directory (its weights and spiece.model; "
                         "--d/--ff/--heads/--layers must match it)")
    ap.add_argument("--save-every", type=int, default=500,
                    help="also write the checkpoint every N steps, so a long run can be evaluated (or stopped) early")
    ap.add_argument("--state", default=None,
                    help="also write the optimizer, schedule and data-order state here at every save (fp32, "
                         "~3x the model: keep it outside the repo), so --resume can go on exactly")
    ap.add_argument("--resume", action="store_true",
                    help="go on from --state and the weights in --out, with the same arguments as the run "
                         "that wrote them: a multi-hour run can span sessions")
    ap.add_argument("--stop-at", type=int, default=None,
                    help="stop after this many steps of the --steps schedule (writing --state): one "
                         "session's share of a long run, which --resume continues")
    ap.add_argument("--oracle-summaries", action="store_true",
                    help="also train each SciTLDR abstract -> its oracle sentence (see t5_data.train_pairs)")
    a = ap.parse_args()
    if a.resume and not a.state:
        ap.error("--resume needs --state")
    threads = set_threads()
    seed_all(a.seed)
    clock = Clock()
    os.makedirs(a.out, exist_ok=True)
    if a.resume:
        a.init = a.out
    if a.init:
        if os.path.abspath(a.init) != os.path.abspath(a.out):
            shutil.copy(os.path.join(a.init, "spiece.model"), a.out)
        sp = spm.SentencePieceProcessor(model_file=os.path.join(a.out, "spiece.model"))
    else:
        sp = train_spm(a.out, a.vocab, a.seed)
    eos = 1
    pairs = t5_data.train_pairs(a.oracle_summaries)
    data = []
    for s, t, task in pairs:
        data.append((sp.encode(s)[:a.max_src - 1] + [eos], sp.encode(t)[:a.max_tgt - 1] + [eos], task))
    t_tok = clock.s()
    log(f"spm {sp.get_piece_size()} pieces; {len(data)} pairs encoded in {t_tok:.0f}s")

    model = T5(sp.get_piece_size(), a.d, 64, a.heads, a.ff, a.layers, a.layers, drop=a.drop)
    if a.init:
        model.load_hf(read_safetensors(os.path.join(a.init, "model.safetensors")))
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model {n_params/1e6:.2f}M params")
    # The tied embedding starts at std 1.0 (T5's init; the encoder reads it unscaled and the
    # head scales it by d^-0.5) while the other matrices start near d^-0.5: with one Adam
    # learning rate the embedding would move ~20x slower relative to its size (T5's own
    # Adafactor scales steps by each parameter's RMS; AdamW does not).
    emb = [model.shared.weight]
    rest = [p for p in model.parameters() if p is not model.shared.weight]
    opt = torch.optim.AdamW([{"params": rest, "lr": a.lr}, {"params": emb, "lr": a.lr * a.emb_lr_mult}],
                            betas=(0.9, 0.98), weight_decay=0.01)
    warm = max(1, a.steps // 25)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps)))))
    rng = random.Random(a.seed)

    def epoch_batches():
        """One epoch's batches, shuffled by rng: resume restores rng as it was when the
        epoch began and skips the batches already done, so the order is the same."""
        idx = list(range(len(data)))
        rng.shuffle(idx)
        out = []
        pool = 4000
        for i in range(0, len(idx), pool):
            chunk = sorted(idx[i:i + pool], key=lambda j: (len(data[j][0]), len(data[j][1])))
            b, ms, mt = [], 0, 0
            for j in chunk:
                ns, nt = max(ms, len(data[j][0])), max(mt, len(data[j][1]))
                if b and (len(b) + 1) * (ns + nt) > a.tokens:
                    out.append(b)
                    b, ns, nt = [], len(data[j][0]), len(data[j][1])
                b.append(j)
                ms, mt = ns, nt
            if b:
                out.append(b)
        rng.shuffle(out)
        return out

    step, t0, hist, epoch, recent, done_in_epoch = 0, clock.s(), [], 0, [], 0
    epoch_rng = rng.getstate()
    train_s_before = 0.0
    if a.resume:
        st = torch.load(a.state, weights_only=False)
        if st["args"]["steps"] != a.steps:
            sys.exit(f"--resume: the state was written by a run of {st['args']['steps']} steps, not {a.steps}")
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        step, epoch, hist, done_in_epoch = st["step"], st["epoch"] - 1, st["hist"], st["done_in_epoch"]
        epoch_rng, train_s_before = st["epoch_rng"], st["train_s"]
        torch.set_rng_state(st["torch_rng"])
        # the saved fp32 weights: model.safetensors holds them rounded to F16
        model.load_state_dict(st["model"])
        log(f"resumed at step {step} (epoch {epoch + 1}, batch {done_in_epoch})")

    def save(steps_done):
        write_safetensors(os.path.join(a.out, "model.safetensors"), model.hf_state(), "F16")
        write_json(os.path.join(a.out, "config.json"), model.hf_config(t5_data.PREFIX))
        write_json(os.path.join(a.out, "generation_config.json"),
                   {"decoder_start_token_id": 0, "eos_token_id": 1, "pad_token_id": 0})
        write_json(os.path.join(a.out, "tokenizer_config.json"), {
            "tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
            "extra_ids": 0, "additional_special_tokens": [], "model_max_length": 512, "legacy": True})
        write_json(os.path.join(a.out, "train_log.json"), {
            "args": vars(a) | {"out": os.path.relpath(a.out, REPO)}, "threads": threads, "params": n_params,
            "pairs": len(data), "steps_done": steps_done, "epochs_started": epoch, "tokenizer_s": round(t_tok, 1),
            "train_s": round(train_s_before + clock.s() - t0, 1), "total_s": round(clock.s(), 1), "curve": hist})
        if a.state:
            tmp = a.state + ".tmp"
            torch.save({"args": vars(a), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "model": model.state_dict(), "step": steps_done, "epoch": epoch,
                        "done_in_epoch": done_in_epoch, "epoch_rng": epoch_rng, "hist": hist,
                        "torch_rng": torch.get_rng_state(), "train_s": train_s_before + clock.s() - t0}, tmp)
            os.replace(tmp, a.state)
    rng.setstate(epoch_rng)
    end = min(a.steps, a.stop_at) if a.stop_at else a.steps
    while step < end:
        epoch += 1
        epoch_rng = rng.getstate()
        batches = epoch_batches()[done_in_epoch:]
        for b in batches:
            if step >= end:
                break
            src = pad([data[j][0] for j in b])
            tgt = pad([data[j][1] for j in b], -100)
            tin = torch.cat([torch.zeros(len(b), 1, dtype=torch.long), tgt[:, :-1].clamp(min=0)], 1)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
                logits = model(src, tin)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=-100,
                                   label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            recent.append(loss.item())
            if step % 100 == 0 or step == a.steps - 1:
                mean = sum(recent) / len(recent)  # one batch's loss swings with its task and lengths
                log(f"step {step}/{a.steps} epoch {epoch} loss {loss.item():.3f} mean100 {mean:.3f} "
                    f"{clock.s()-t0:.0f}s")
                hist.append([step, round(mean, 4)])
                recent.clear()
            step += 1
            done_in_epoch += 1
            if a.save_every and step % a.save_every == 0 and step < end:
                save(step)
        else:
            done_in_epoch = 0
    save(step)
    log(f"wrote {a.out} in {clock.s():.0f}s")


if __name__ == "__main__":
    main()
