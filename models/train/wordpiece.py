"""A WordPiece vocabulary trainer (BERT uncased style) and the files BERT loaders read.

Text is normalized and split like HF's BertNormalizer + BertPreTokenizer (lower-case,
accents stripped, control characters dropped, every punctuation character its own word).
The vocabulary is learned the way HF's WordPiece trainer does it: BPE merges over
characters, where a piece that does not start a word carries the "##" prefix; serving
then uses WordPiece's greedy longest match over that vocabulary.
"""
import collections
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def normalize(text):
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat.startswith("C"):
            continue
        else:
            out.append(ch)
    s = unicodedata.normalize("NFD", "".join(out).lower())
    return "".join(c for c in s if unicodedata.category(c) != "Mn")


def pre_split(text):
    words = []
    for w in normalize(text).split():
        cur = ""
        for ch in w:
            if _is_punct(ch):
                if cur:
                    words.append(cur)
                    cur = ""
                words.append(ch)
            else:
                cur += ch
        if cur:
            words.append(cur)
    return words


def train(texts, vocab_size, min_freq=2):
    counts = collections.Counter()
    for t in texts:
        counts.update(pre_split(t))
    words, freq = [], []
    alphabet = collections.Counter()
    for w, c in counts.items():
        sym = [w[0]] + ["##" + ch for ch in w[1:]]
        words.append(sym)
        freq.append(c)
        for s in sym:
            alphabet[s] += c
    vocab = list(SPECIALS) + sorted(alphabet)
    known = set(vocab)
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pairs[p] += freq[i]
            where[p].add(i)
    while len(vocab) < vocab_size and pairs:
        best, c = max(pairs.items(), key=lambda kv: (kv[1], _Rev(kv[0])))
        if c < min_freq:
            break
        a, b = best
        new = a + (b[2:] if b.startswith("##") else b)
        if new not in known:
            vocab.append(new)
            known.add(new)
        for i in list(where[best]):
            w, f = words[i], freq[i]
            for p in zip(w, w[1:]):
                pairs[p] -= f
                if pairs[p] <= 0:
                    del pairs[p]
                where[p].discard(i)
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pairs[p] += f
                where[p].add(i)
        where.pop(best, None)
    return {t: i for i, t in enumerate(vocab)}


class _Rev:
    """Smallest pair wins a count tie (max() looks for the largest key)."""
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k

    def __lt__(self, o):
        return self.k > o.k

    def __eq__(self, o):
        return self.k == o.k


class Encoder:
    """Greedy longest-match WordPiece, as the engine does it; for training data only."""

    def __init__(self, vocab, max_chars=100):
        self.vocab = vocab
        self.unk = vocab["[UNK]"]
        self.max_chars = max_chars

    def word(self, w):
        if len(w) > self.max_chars:
            return [self.unk]
        out, s = [], 0
        while s < len(w):
            e, cur = len(w), None
            while s < e:
                piece = w[s:e] if s == 0 else "##" + w[s:e]
                if piece in self.vocab:
                    cur = self.vocab[piece]
                    break
                e -= 1
            if cur is None:
                return [self.unk]
            out.append(cur)
            s = e
        return out

    def encode(self, text, max_len=None):
        ids = [self.vocab["[CLS]"]]
        for w in pre_split(text):
            ids.extend(self.word(w))
        if max_len:
            ids = ids[:max_len - 1]
        return ids + [self.vocab["[SEP]"]]


def write_files(out_dir, vocab, write_json):
    """vocab.txt + tokenizer_config.json (slow BertTokenizer) and tokenizer.json (fast)."""
    import os
    inv = sorted(vocab, key=vocab.get)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(inv) + "\n")
    write_json(os.path.join(out_dir, "tokenizer_config.json"), {
        "do_lower_case": True, "model_max_length": 512, "tokenizer_class": "DistilBertTokenizer",
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]"})
    write_json(os.path.join(out_dir, "special_tokens_map.json"), {
        "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": "[MASK]"})
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    write_json(os.path.join(out_dir, "tokenizer.json"), {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for s in SPECIALS],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}}, indent=None)
