"""A byte-level BPE trainer (GPT-2 style) and a tokenizer.json writer.

Words come from an approximation of GPT-2's pre-tokenizer regex written with the
standard `re` module (no `regex` on Debian's python3): training only needs word
counts, the engine does the exact pre-tokenization when it serves.
Merges are learned greedily by pair frequency with incremental pair counts, so a
4k vocabulary over the TinyStories text takes seconds, not minutes.
"""
import collections
import re

# Same classes as GPT-2's pattern: contractions, letters, digits, other symbols,
# trailing whitespace. [^\W\d_] is "a letter" in `re`.
PRETOK = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


def byte_symbols():
    """GPT-2's reversible byte -> printable character map: printable Latin-1 bytes
    map to themselves, the rest to U+0100 upwards in byte order."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def train(texts, vocab_size, specials=("<|endoftext|>",)):
    """texts: iterable of str. Returns (vocab dict token->id, merges list of (a, b))."""
    bs = byte_symbols()
    counts = collections.Counter()
    for t in texts:
        counts.update(PRETOK.findall(t))
    # Symbols are ints during training; 0..255 are the bytes.
    sym_str = [bs[b] for b in range(256)]
    words = [[b for b in w.encode("utf-8")] for w in counts]
    freq = list(counts.values())

    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)

    merges = []
    n_merges = vocab_size - 256 - len(specials)
    while len(merges) < n_merges and pairs:
        # Highest count; ties go to the lexicographically smallest string pair so the
        # result does not depend on hash or insertion order.
        best = max(pairs.items(), key=lambda kv: (kv[1], _neg(sym_str[kv[0][0]], sym_str[kv[0][1]])))[0]
        if pairs[best] < 2:
            break
        a, b = best
        new = len(sym_str)
        sym_str.append(sym_str[a] + sym_str[b])
        merges.append((sym_str[a], sym_str[b]))
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
    vocab = {s: i for i, s in enumerate(sym_str)}
    for s in specials:
        vocab[s] = len(vocab)
    return vocab, merges


class _neg:
    """Reverses string order inside max() so the smallest pair wins a tie."""
    __slots__ = ("k",)

    def __init__(self, a, b):
        self.k = (a, b)

    def __lt__(self, o):
        return self.k > o.k

    def __eq__(self, o):
        return self.k == o.k


def tokenizer_json(vocab, merges, specials=("<|endoftext|>",)):
    """The fast-tokenizer file in the current `tokenizers` dialect (model.type BPE,
    merges as "a b" strings), ByteLevel pre-tokenizer/decoder like GPT-2's."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": True}
            for s in specials
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }


class Encoder:
    """Python encoder for the trained merges, used only to prepare training data
    (the C tokenizer is checked against it in eval_gpt2.py)."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.rank = {m: i for i, m in enumerate(merges)}
        self.bs = byte_symbols()
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        parts = [self.bs[b] for b in w.encode("utf-8")]
        while len(parts) > 1:
            best, bi = None, -1
            for i in range(len(parts) - 1):
                r = self.rank.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best, bi = r, i
            if best is None:
                break
            parts[bi:bi + 2] = [parts[bi] + parts[bi + 1]]
        ids = [self.vocab[p] for p in parts]
        self.cache[w] = ids
        return ids

    def encode(self, text):
        out = []
        for w in PRETOK.findall(text):
            out.extend(self.word(w))
        return out
