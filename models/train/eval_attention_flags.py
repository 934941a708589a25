#!/usr/bin/python3
"""How often attention monitoring flags ordinary traffic on the bundled models (its false-flag
rate): starts `transformerd serve` with no --model (the bundled models, monitoring on with its
defaults) and sends, one request at a time, the first 400 Multi30k val captions (translate,
alternating de and fr), 150 SciTLDR dev abstracts (summarize), 299 SST-2 dev sentences
(sentiment) and 200 TinyStories openings (generate, 24 new tokens). The baselines learn from
this traffic as they would in production, so the order is fixed.

    /usr/bin/python3 models/train/eval_attention_flags.py

Prints a JSON report (flagged requests and flags by kind per task) and writes it to
build/quality/attention_flags.json.
"""
import collections
import gzip
import json
import os
import re
import subprocess
import tempfile
import time
import urllib.request

import t5_data
from common import REPO, binary, need_shared


def start_daemon():
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen([binary("transformerd"), "serve", "--listen", "127.0.0.1:0", "--access-log", "false"],
                            stdout=subprocess.DEVNULL, stderr=log)
    for _ in range(600):
        m = re.search(r"listening on .* port (\d+)", open(log.name).read())
        if m:
            return proc, int(m.group(1)), log.name
        if proc.poll() is not None:
            raise RuntimeError("transformerd serve exited: " + open(log.name).read())
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("transformerd serve did not start")


def main():
    proc, port, log = start_daemon()

    def post(path, body):
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    kinds = collections.defaultdict(collections.Counter)
    flagged = collections.Counter()
    sent = collections.Counter()

    def count(task, flags):
        sent[task] += 1
        if flags:
            flagged[task] += 1
        for f in flags:
            kinds[task][f] += 1

    try:
        for i, s in enumerate(t5_data.multi30k("val", "en")[:400]):
            count("translate", post("/v1/translate", {"text": s, "target_lang": "de" if i % 2 else "fr"})
                  ["attention_flags"])
        for src, _ in t5_data.scitldr("dev")[:150]:
            count("summarize", post("/v1/summarize", {"text": src})["attention_flags"])
        with open(need_shared("datasets/sst2/dev.tsv"), encoding="utf-8") as f:
            sst = [line.split("\t")[0] for line in f][1:300]
        for t in sst:
            count("sentiment", post("/v1/sentiment", {"text": t})["results"][0]["attention_flags"])
        with open(need_shared("datasets/tinystories/tinystories_val_head.txt"), encoding="utf-8") as f:
            stories = [line for line in f if len(line) > 60][:200]
        for t in stories:
            count("generate", post("/v1/generate", {"prompt": t[:120], "max_new_tokens": 24})["attention_flags"])
    finally:
        proc.terminate()
        proc.wait()
        os.unlink(log)
    rep = {task: {"requests": sent[task], "flagged": flagged[task], "flags": dict(kinds[task])} for task in sent}
    os.makedirs(os.path.join(REPO, "build", "quality"), exist_ok=True)
    with open(os.path.join(REPO, "build", "quality", "attention_flags.json"), "w") as f:
        json.dump(rep, f, indent=2)
    print(json.dumps(rep, indent=2))


if __name__ == "__main__":
    main()
