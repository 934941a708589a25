"""Runs the built transformerd CLI on many inputs for the quality scripts: the same code
paths the daemon's routes use (classify, translate, summarize take a batch of --text).
Where the binary on this checkout lacks the subcommand, the call returns None and the
report says so instead of inventing a figure."""
import json
import subprocess

from common import binary

_CHUNK = 256  # texts per CLI call: bounded argv, still large batches


def _has(cmd):
    r = subprocess.run([binary("transformerd"), cmd, "--help"], capture_output=True, text=True)
    return r.returncode == 0


def _run(args, texts, key, pick):
    out = []
    for i in range(0, len(texts), _CHUNK):
        argv = [binary("transformerd")] + args + ["--json"]
        for t in texts[i:i + _CHUNK]:
            argv += ["--text", t]
        r = subprocess.run(argv, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        out += [pick(x) for x in json.loads(r.stdout)[key]]
    return out


def classify(model, texts, dtype):
    """Labels (model's id2label names) for texts, or None without `transformerd classify`."""
    if not _has("classify"):
        return None
    return _run(["classify", "--model", model, "--dtype", dtype, "--truncate"], texts, "results",
                lambda r: r["label"])


def text2text(model, task, texts, dtype, max_new, num_beams=1):
    """Outputs for texts (no prefix: the engine adds the model's), or None without the CLI."""
    if task == "summarization":
        cmd, extra, key = "summarize", [], "summaries"
    else:
        src, tgt = task[len("translation_"):].split("_to_")
        cmd, extra, key = "translate", ["--source-lang", src, "--target-lang", tgt], "translations"
    if not _has(cmd):
        return None
    return _run([cmd, "--model", model, "--dtype", dtype, "--truncate", "--max-new-tokens", str(max_new),
                 "--num-beams", str(num_beams)] + extra, texts, key, lambda s: s)
