"""Helpers every training script shares: paths, seeds, safetensors writing, timing.

Runs on Debian's /usr/bin/python3 (python3-torch, numpy); nothing is fetched.
"""
import json
import os
import random
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
BUNDLED = os.path.join(REPO, "models", "bundled")


def need_shared(rel):
    path = os.path.join(SHARED, rel)
    if not os.path.exists(path):
        sys.exit(f"missing {path}: the training data lives in ../shared/data beside the repo")
    return path


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads():
    n = int(os.environ.get("TRAIN_THREADS", "2"))
    torch.set_num_threads(n)
    return n


def write_safetensors(path, tensors, dtype="F16"):
    """tensors: ordered dict name -> torch tensor. Stored row-major, little endian.
    F16 halves the bundle; the engine widens to fp32 (or quantizes to int8) at load."""
    np_dtype = {"F16": np.float16, "F32": np.float32}[dtype]
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().float().numpy().astype(np_dtype))
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


class Clock:
    def __init__(self):
        self.t0 = time.time()

    def s(self):
        return time.time() - self.t0


def log(*a):
    print(*a, flush=True)


def read_safetensors(path):
    """name -> float32 torch tensor (F16/F32 only: what write_safetensors makes)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        dt = {"F16": np.float16, "F32": np.float32}[h["dtype"]]
        s, e = h["data_offsets"]
        a = np.frombuffer(data[s:e], dtype=dt).reshape(h["shape"]).astype(np.float32)
        out[name] = torch.from_numpy(a.copy())
    return out


def binary(name):
    """A built engine binary (make all) as an absolute path, or exit with a hint."""
    path = os.path.join(REPO, "build", name)
    if not os.access(path, os.X_OK):
        sys.exit(f"{path} is missing: run `make all` first")
    return path
