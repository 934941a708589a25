"""Corpus BLEU with sacreBLEU's default "13a" tokenization, and ROUGE-1/2/L F1, written
from their published definitions (no fetched packages)."""
import collections
import math
import re


def tok13a(line):
    """mteval-v13a: unescape a few entities, split off punctuation and symbols, keep
    periods/commas inside numbers together."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    line = " " + line + " "
    line = re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 ", line)
    line = re.sub(r"([^0-9])([\.,])", r"\1 \2 ", line)
    line = re.sub(r"([\.,])([^0-9])", r" \1 \2", line)
    line = re.sub(r"([0-9])(-)", r"\1 \2 ", line)
    return line.split()


def _ngrams(toks, n):
    return collections.Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def corpus_bleu(hyps, refs):
    """One reference per hypothesis; BLEU-4, uniform weights, brevity penalty, no smoothing."""
    match, total = [0] * 4, [0] * 4
    hl = rl = 0
    for h, r in zip(hyps, refs):
        h, r = tok13a(h), tok13a(r)
        hl += len(h)
        rl += len(r)
        for n in range(1, 5):
            hn, rn = _ngrams(h, n), _ngrams(r, n)
            match[n - 1] += sum(min(c, rn[g]) for g, c in hn.items())
            total[n - 1] += max(0, len(h) - n + 1)
    if min(match) == 0:
        return 0.0
    logp = sum(math.log(m / t) for m, t in zip(match, total)) / 4
    bp = 1.0 if hl > rl else math.exp(1 - rl / max(hl, 1))
    return 100 * bp * math.exp(logp)


def _rtok(s):
    return re.findall(r"[a-z0-9]+", s.lower())


def _f(p, r):
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge(hyp, ref):
    """ROUGE-1, -2, -L F1 (lower-cased alphanumeric tokens, no stemming)."""
    h, r = _rtok(hyp), _rtok(ref)
    out = {}
    for n in (1, 2):
        hn, rn = _ngrams(h, n), _ngrams(r, n)
        m = sum(min(c, rn[g]) for g, c in hn.items())
        out[f"rouge{n}"] = _f(m / max(1, sum(hn.values())), m / max(1, sum(rn.values())))
    l = _lcs(h, r)
    out["rougeL"] = _f(l / max(1, len(h)), l / max(1, len(r)))
    return out


def rouge_multi(hyps, refs_list):
    """Mean over documents of the best score against any of its references (per metric)."""
    acc = collections.defaultdict(float)
    for h, refs in zip(hyps, refs_list):
        scores = [rouge(h, r) for r in refs]
        for k in ("rouge1", "rouge2", "rougeL"):
            acc[k] += max(s[k] for s in scores)
    return {k: 100 * v / len(hyps) for k, v in acc.items()}
