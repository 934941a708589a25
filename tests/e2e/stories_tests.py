"""End-to-end: a real trained Llama (llama2.c's stories260K from ../shared, converted here
with `transformerd convert-llama2c`) served by the daemon; greedy /v1/generate text must
be the story the model is known to tell. Skipped with a message when ../shared is absent.
Run by test_serve.py, which sets BIN."""
import os
import shutil
import subprocess
import tempfile
import unittest

import harness

BIN = None
SRC = os.path.join(harness.ROOT, "..", "shared", "data", "models", "llama2c-stories260K")
# The fp32 greedy continuation tests/unit/test_llama.c also checks in-process.
STORY = ", there was a little girl named Lily"


@unittest.skipUnless(os.path.isfile(os.path.join(SRC, "stories260K.bin")),
                     "stories260K: %s is absent" % SRC)
class Stories(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tf_e2e_stories_")
        out = os.path.join(cls.dir, "stories260K")
        r = subprocess.run([BIN, "convert-llama2c", "--checkpoint", os.path.join(SRC, "stories260K.bin"),
                            "--tokenizer", os.path.join(SRC, "tok512.bin"), "--out", out],
                           capture_output=True, timeout=120)
        if r.returncode != 0:
            shutil.rmtree(cls.dir)
            raise RuntimeError("convert-llama2c failed: %s" % r.stderr.decode(errors="replace"))
        cls.d = harness.Daemon(BIN, "--model", "generate=" + out)

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        shutil.rmtree(cls.dir)
        assert rc == 0, cls.d.log()

    def test_greedy_story(self):
        st, _, js = self.d.post("/v1/generate", {"prompt": "Once upon a time", "max_new_tokens": 24,
                                                 "temperature": 0.0})
        self.assertEqual(st, 200, js)
        self.assertIn("stories260K", js["model"])
        self.assertTrue(js["generated_text"].startswith(STORY), js["generated_text"])
        self.assertGreater(js["usage"]["completion_tokens"], 8, js["usage"])

    def test_attention_summary_and_full(self):
        """Llama (grouped-query: 8 query heads over 4 KV heads) reports like every family:
        the summary per layer and head, and full rows that sum to 1, causal, whose first
        weights are the summary's sink share (the same query rows)."""
        body = {"prompt": "Once upon a time", "max_new_tokens": 6, "temperature": 0.0,
                "return_attention": "full", "attention_layers": [0, 4], "attention_heads": [1, 6]}
        st, _, js = self.d.post("/v1/generate", body)
        self.assertEqual(st, 200, js)
        a = js["attention"]
        self.assertEqual((a["layers"], a["heads"]), (5, 8))
        self.assertEqual(len(a["stats"]), 5)
        self.assertTrue(all(len(row) == 8 for row in a["stats"]))
        full = a["full"]
        self.assertEqual((full["layers"], full["heads"], full["causal"]), ([0, 4], [1, 6], True))
        n = len(full["tokens"])
        self.assertEqual(n, js["usage"]["prompt_tokens"] + js["usage"]["completion_tokens"] - 1)
        for li, layer in enumerate(full["weights"]):
            for hi, rows in enumerate(layer):
                self.assertEqual(len(rows), n)
                for q, row in enumerate(rows):
                    self.assertEqual(len(row), q + 1)
                    self.assertAlmostEqual(sum(row), 1.0, delta=1e-4)
                sink = sum(r[0] for r in rows) / n
                want = a["stats"][full["layers"][li]][full["heads"][hi]]["sink"]
                self.assertAlmostEqual(sink, want, delta=1e-4)
        self.assertIsInstance(js["attention_flags"], list)
