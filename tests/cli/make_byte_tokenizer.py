"""Writes a byte-level BPE tokenizer.json (ids 0..255 = bytes, 50256 = <|endoftext|>, no
merges) so tests can drive the tiny GPT-2 fixtures without the real GPT-2 files."""
import json
import sys


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


table = bytes_to_unicode()
tok = {
    "version": "1.0",
    "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "special": True}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
    "model": {"type": "BPE", "vocab": {table[b]: b for b in range(256)}, "merges": []},
    "decoder": {"type": "ByteLevel"},
}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False)
