"""Multi30k (en->de, en->fr) and SciTLDR-A pairs with T5's task prefixes."""
import gzip
import json

from common import need_shared

PREFIX = {"translation_en_to_de": "translate English to German: ",
          "translation_en_to_fr": "translate English to French: ",
          "summarization": "summarize: "}


def multi30k(split, lang):
    with gzip.open(need_shared(f"datasets/multi30k/{split}.{lang}.gz"), "rt", encoding="utf-8") as f:
        return [l.strip() for l in f]


def scitldr(split):
    """[(abstract, [tldr, ...])]"""
    out = []
    with open(need_shared(f"datasets/scitldr/{split}.jsonl"), encoding="utf-8") as f:
        for line in f:
            j = json.loads(line)
            out.append((" ".join(s.strip() for s in j["source"]), [t.strip() for t in j["target"]]))
    return out


def scitldr_oracle_sentences(split):
    """(abstract, its sentence that SciTLDR labels closest to the TLDR by ROUGE) per paper
    that has a labelled sentence: the dataset's own extractive oracle (`source_labels`)."""
    out = []
    with open(need_shared(f"datasets/scitldr/{split}.jsonl"), encoding="utf-8") as f:
        for line in f:
            j = json.loads(line)
            sents = [s.strip() for s in j["source"]]
            picked = [s for s, lab in zip(sents, j["source_labels"]) if lab == 1]
            if picked:
                out.append((" ".join(sents), picked[0]))
    return out


def train_pairs(oracle_summaries=False):
    """(source with prefix, target, task) for every training example. With oracle_summaries,
    each abstract is also paired with its oracle sentence: 1,992 abstracts are too few for a
    model trained from scratch to learn to read its input (it wrote one sentence for every
    abstract), and copying the salient sentence is the easier lesson that teaches it."""
    en = multi30k("train", "en")
    pairs = []
    for lang, key in (("de", "translation_en_to_de"), ("fr", "translation_en_to_fr")):
        pairs += [(PREFIX[key] + s, t, key) for s, t in zip(en, multi30k("train", lang))]
    for src, tgts in scitldr("train"):
        pairs += [(PREFIX["summarization"] + src, t, "summarization") for t in tgts]
    if oracle_summaries:
        pairs += [(PREFIX["summarization"] + src, s, "summarization") for src, s in scitldr_oracle_sentences("train")]
    return pairs


def spm_corpus():
    """Text the SentencePiece model is trained on: every training side, once."""
    lines = multi30k("train", "en") + multi30k("train", "de") + multi30k("train", "fr")
    for src, tgts in scitldr("train"):
        lines.append(src)
        lines += tgts
    return lines


def scitldr_sentences(split):
    """The abstracts as their lists of sentences (for the lead-sentence baseline)."""
    with open(need_shared(f"datasets/scitldr/{split}.jsonl"), encoding="utf-8") as f:
        return [[s.strip() for s in json.loads(line)["source"]] for line in f]
