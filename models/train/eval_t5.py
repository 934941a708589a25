#!/usr/bin/python3
"""Quality of the bundled T5: corpus BLEU (13a) on Multi30k val en->de and en->fr, ROUGE-1/2/L
on SciTLDR-A dev next to a lead-sentence baseline; through transformerd (int8 as served,
fp32) and through the PyTorch model rebuilt from the same model.safetensors (greedy).

    /usr/bin/python3 models/train/eval_t5.py [--model DIR] [--limit N]

Prints a JSON report and writes it to build/quality/t5.json (--report). The PyTorch run decodes
without a cache and takes long on the full sets; `--runs c_int8,c_fp32,c_int8_beam4` skips it.
"""
import argparse
import json
import os

import sentencepiece as spm
import torch

import engine
import metrics
import t5_data
from common import BUNDLED, REPO, read_safetensors, set_threads
from t5_model import T5


def torch_model(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    m = T5(cfg["vocab_size"], cfg["d_model"], cfg["d_kv"], cfg["num_heads"], cfg["d_ff"], cfg["num_layers"],
           cfg["num_decoder_layers"], cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"],
           0.0)
    m.load_hf(read_safetensors(os.path.join(model_dir, "model.safetensors"))).eval()
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "spiece.model"))
    return m, sp


def torch_generate(m, sp, sources, max_len, max_src=512, bs=32):
    out = [None] * len(sources)
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    for k in range(0, len(order), bs):
        idx = order[k:k + bs]
        ids = [sp.encode(sources[i])[:max_src - 1] + [1] for i in idx]
        T = max(len(x) for x in ids)
        src = torch.tensor([x + [0] * (T - len(x)) for x in ids])
        for i, hyp in zip(idx, m.greedy(src, max_len)):
            out[i] = sp.decode([t for t in hyp if t != 1])
    return out


def lead(abstract):
    """First sentence of the abstract (the source is already split into sentences)."""
    return abstract[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(BUNDLED, "t5-multi30k-scitldr"))
    ap.add_argument("--limit", type=int, default=0, help="first N examples of each set (0 = all)")
    ap.add_argument("--runs", default="torch_fp32,c_int8,c_fp32,c_int8_beam4",
                    help="which of torch_fp32, c_int8, c_fp32, c_int8_beam4 (PyTorch decodes without a "
                         "cache: slow on the full sets)")
    ap.add_argument("--report", default="t5.json", help="file name under build/quality/")
    a = ap.parse_args()
    set_threads()
    lim = (lambda x: x[:a.limit]) if a.limit else (lambda x: x)
    en = lim(t5_data.multi30k("val", "en"))
    refs = {lang: lim(t5_data.multi30k("val", lang)) for lang in ("de", "fr")}
    dev = lim(t5_data.scitldr("dev"))
    leads = lim([lead(sents) for sents in t5_data.scitldr_sentences("dev")])
    tasks = {"en-de": ("translation_en_to_de", en, refs["de"]), "en-fr": ("translation_en_to_fr", en, refs["fr"])}
    rep = {"n_val": len(en), "n_scitldr_dev": len(dev),
           "lead_baseline_rouge": metrics.rouge_multi(leads, [t for _, t in dev])}
    m, sp = torch_model(a.model)
    samples = {}
    # Greedy everywhere so PyTorch and the engine compare like for like; c_int8_beam4 is
    # what the routes serve (the config's task defaults: 4 beams).
    runs = {"torch_fp32": None, "c_int8": ("int8", 1), "c_fp32": ("fp32", 1), "c_int8_beam4": ("int8", 4)}

    def gen(engine_name, key, src, max_new):
        if engine_name == "torch_fp32":
            return torch_generate(m, sp, [t5_data.PREFIX[key] + s for s in src], max_new)
        dt, beams = runs[engine_name]
        return engine.text2text(a.model, key, src, dt, max_new, beams)

    for engine_name in a.runs.split(","):
        r = {}
        for name, (key, src, ref) in tasks.items():
            hyp = gen(engine_name, key, src, 64)
            r[f"bleu_{name}"] = None if hyp is None else metrics.corpus_bleu(hyp, ref)
            if hyp is not None:
                samples.setdefault(engine_name, {})[name] = list(zip(src[:3], hyp[:3]))
        abstracts = [s for s, _ in dev]
        hyp = gen(engine_name, "summarization", abstracts, 64)
        r["rouge_scitldr"] = None if hyp is None else metrics.rouge_multi(hyp, [t for _, t in dev])
        if hyp is not None:
            samples.setdefault(engine_name, {})["summarize"] = hyp[:2]
        rep[engine_name] = r
    rep["samples"] = samples
    os.makedirs(os.path.join(REPO, "build", "quality"), exist_ok=True)
    with open(os.path.join(REPO, "build", "quality", a.report), "w") as f:
        json.dump(rep, f, indent=2, ensure_ascii=False)
    print(json.dumps(rep, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
