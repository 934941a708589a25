"""End-to-end tests of attention monitoring (issue #8): `return_attention`, the
`attention_flags` of every /v1/generate answer, the per-layer histograms and the
anomaly counter. Run by test_serve.py, which sets BIN."""
import json
import os
import subprocess
import unittest

import harness
import openapi_check

BIN = None
MODEL = harness.MODEL_DIR
BODY = {"prompt": "Hello there, my name is", "max_new_tokens": 8}


def model_shape():
    with open(os.path.join(MODEL, "config.json")) as f:
        c = json.load(f)
    return c["n_layer"], c["n_head"]


class Attention(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "generate=" + MODEL)

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0, cls.d.log()

    def post(self, body, daemon=None, expect=200, headers=None):
        st, h, js = (daemon or self.d).post("/v1/generate", body, headers=headers or {})
        self.assertEqual(st, expect, js)
        openapi_check.check_response(self.spec, "post", "/v1/generate", st, h.get("content-type", ""), js)
        return js

    def test_summary_shape_and_values(self):
        n_layer, n_head = model_shape()
        js = self.post(dict(BODY, return_attention="summary"))
        self.assertEqual(js["attention_flags"], [])
        a = js["attention"]
        self.assertEqual((a["layers"], a["heads"]), (n_layer, n_head))
        self.assertEqual(len(a["stats"]), n_layer)
        for layer in a["stats"]:
            self.assertEqual(len(layer), n_head)
            for h in layer:
                self.assertGreater(h["entropy"], 0)
                self.assertLessEqual(h["entropy"], 1 + 1e-6)
                self.assertGreaterEqual(h["max_weight"], h["sink"] - 1e-9)
                self.assertAlmostEqual(h["prompt_share"] + h["generated_share"], 1, places=6)
                # 12 rows fed (5 prompt + 7 generated): the 5 prompt rows see only prompt keys.
                self.assertGreater(h["prompt_share"], 5 / 12 - 1e-6)
        # Greedy: the same request gives the same statistics, streamed or not.
        again = self.post(dict(BODY, return_attention="summary"))
        self.assertEqual(again["attention"], a)
        events = list(self.d.stream("/v1/generate", dict(BODY, return_attention="summary", stream=True)))
        done = json.loads(events[-1][1])
        self.assertEqual(events[-1][0], "done")
        openapi_check.check_schema(self.spec, "StreamDoneEvent", done)
        self.assertEqual(done["attention"], a)
        self.assertEqual(done["attention_flags"], [])

    def test_only_asked_for_summary(self):
        for extra in ({}, {"return_attention": "none"}, {"return_attention": None}):
            js = self.post(dict(BODY, **extra))
            self.assertNotIn("attention", js)
            self.assertEqual(js["attention_flags"], [])
        events = list(self.d.stream("/v1/generate", dict(BODY, stream=True)))
        done = json.loads(events[-1][1])
        self.assertNotIn("attention", done)
        self.assertEqual(done["attention_flags"], [])

    def test_bad_values(self):
        js = self.post(dict(BODY, return_attention="Summary"), expect=422)
        self.assertEqual(js["error"]["type"], "out_of_range")
        self.assertIn('"summary", "full", "none"', js["error"]["message"])
        js = self.post(dict(BODY, return_attention=True), expect=400)
        self.assertIn("return_attention", js["error"]["message"])

    def test_metrics_always_on(self):
        n_layer, _ = model_shape()
        name = os.path.basename(MODEL)
        before = self.d.metric("transformerd_attention_entropy_count", {"model": name, "layer": "0"})
        self.post(BODY)  # no return_attention: monitored all the same
        st, _, _ = self.d.post("/v1/completions", {"prompt": BODY["prompt"], "max_tokens": 8})
        self.assertEqual(st, 200)
        for layer in range(n_layer):
            labels = {"model": name, "layer": str(layer)}
            self.assertEqual(self.d.metric("transformerd_attention_entropy_count", labels), before + 2)
            self.assertGreaterEqual(self.d.metric("transformerd_attention_sink_share_count", labels), 2)
        for kind in ("collapsed", "diffuse", "sink_dominated"):
            self.assertEqual(self.d.metric("transformerd_attention_anomalies_total", {"model": name, "kind": kind}), 0)
        text = self.d.metrics()
        self.assertNotIn("head=", text)
        r = subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True)
        if r.stdout.strip():
            p = subprocess.run([r.stdout.strip(), "check", "metrics"], input=text.encode(), capture_output=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_crafted_anomalies_are_flagged_counted_and_logged(self):
        # Thresholds no real distribution can meet: every judged request is diffuse
        # (mean entropy > 0) and sink-dominated (weight on position 0 > 0).
        d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--attn-entropy-ceiling", "0",
                           "--attn-sink-max", "0")
        try:
            name = os.path.basename(MODEL)
            js = self.post(dict(BODY, return_attention="summary"), daemon=d,
                           headers={"X-Request-Id": "attn-anomaly-1"})
            self.assertEqual(js["attention_flags"], ["diffuse", "sink_dominated"])
            self.assertIn("attention", js)
            for kind, n in (("collapsed", 0), ("diffuse", 1), ("sink_dominated", 1)):
                self.assertEqual(d.metric("transformerd_attention_anomalies_total", {"model": name, "kind": kind}), n)
            self.assertTrue(d.wait_log(r"attn-anomaly-1: attention anomaly: diffuse: .*sink_dominated"), d.log())
            events = list(d.stream("/v1/generate", dict(BODY, stream=True)))
            self.assertEqual(json.loads(events[-1][1])["attention_flags"], ["diffuse", "sink_dominated"])
            # Too short to judge (one row with more than one key): no flags, whatever the thresholds.
            js = self.post({"prompt": "Hi", "max_new_tokens": 2}, daemon=d)
            self.assertEqual(js["attention_flags"], [])
            self.assertEqual(d.metric("transformerd_attention_anomalies_total", {"model": name, "kind": "diffuse"}), 2)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_monitor_off(self):
        # The same crafted thresholds with attn_monitor off: nothing is judged (flags [],
        # counters and histograms stay at 0), and a client that asks still gets its summary
        # and its weights.
        d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--attn-entropy-ceiling", "0",
                           "--attn-sink-max", "0", "--attn-monitor", "off")
        try:
            name = os.path.basename(MODEL)
            js = self.post(BODY, daemon=d)
            self.assertEqual(js["attention_flags"], [])
            self.assertNotIn("attention", js)
            js = self.post(dict(BODY, return_attention="summary"), daemon=d)
            self.assertEqual(js["attention_flags"], [])
            self.assertGreater(js["attention"]["stats"][0][0]["max_weight"], 0)
            js = self.post(dict(BODY, return_attention="full", attention_layers=[0]), daemon=d)
            self.assertEqual(len(js["attention"]["full"]["weights"]), 1)
            events = list(d.stream("/v1/generate", dict(BODY, stream=True)))
            self.assertEqual(json.loads(events[-1][1])["attention_flags"], [])
            for kind in ("collapsed", "diffuse", "sink_dominated"):
                self.assertEqual(d.metric("transformerd_attention_anomalies_total", {"model": name, "kind": kind}), 0)
            self.assertEqual(d.metric("transformerd_attention_entropy_count", {"model": name, "layer": "0"}), 0)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_threshold_options_are_checked(self):
        r = subprocess.run([BIN, "serve", "--attn-sink-max", "1.5"], capture_output=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b"attn_sink_max", r.stderr)
        r = subprocess.run([BIN, "serve", "--help"], capture_output=True, timeout=30)
        for opt in (b"--attn-entropy-floor", b"--attn-entropy-ceiling", b"--attn-sink-max", b"--attn-z",
                    b"--attn-window", b"--attn-warmup"):
            self.assertIn(opt, r.stdout)
