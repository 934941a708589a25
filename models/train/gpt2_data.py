"""TinyStories text -> stories, split into train and held-out (the last 5%).

The file is stories separated by blank lines, but stories have blank lines inside,
so story starts are recognised by their opening ("Once upon a time", "Once there
was"...): a heuristic, good enough to place <|endoftext|> between most stories.
"""
import re

from common import need_shared

SRC = "datasets/tinystories/tinystories_val_head.txt"
START = re.compile(r"^(Once upon a time|Once there|Once,? in|Once,)")
HOLDOUT_FRAC = 0.05


def stories():
    with open(need_shared(SRC), encoding="utf-8") as f:
        paras = [p.strip() for p in f.read().split("\n\n") if p.strip()]
    out = []
    for p in paras:
        if not out or START.match(p):
            out.append([p])
        else:
            out[-1].append(p)
    return ["\n\n".join(s) for s in out]


def split():
    s = stories()
    n_hold = max(1, int(len(s) * HOLDOUT_FRAC))
    return s[:-n_hold], s[-n_hold:]
