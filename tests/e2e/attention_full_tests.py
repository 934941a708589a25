"""End-to-end tests of `"return_attention": "full"` (issue #8 item 2): the weights of
/v1/generate (the GPT-2 test model: causal rows, row p with p + 1 weights) and of
/v1/sentiment (the tiny BERT fixture: one square matrix per text), the layer/head
selection, the size bound (attn_full_max_weights) and bad selections. Run by
test_serve.py, which sets BIN."""
import json
import os
import unittest

import harness
import openapi_check

BIN = None
GPT2 = harness.MODEL_DIR
BERT = os.path.join(harness.ROOT, "tests", "fixtures", "tiny-bert-3class")
BODY = {"prompt": "Hello there, my name is", "max_new_tokens": 6}
# Weights are rounded to 6 decimals: a row of n weights sums to 1 within n * 5e-7.
ROW_SUM_TOL = 1e-4


def shape(model_dir, layers_key, heads_key):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    return c[layers_key], c[heads_key]


class AttentionFull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "generate=" + GPT2, "--model", "sentiment=" + BERT)

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0, cls.d.log()

    def post(self, path, body, expect=200):
        st, h, js = self.d.post(path, body)
        self.assertEqual(st, expect, js)
        openapi_check.check_response(self.spec, "post", path, st, h.get("content-type", ""), js)
        return js

    def check_rows(self, full, n_rows, causal):
        for by_head in full["weights"]:
            self.assertEqual(len(by_head), len(full["heads"]))
            for rows in by_head:
                self.assertEqual(len(rows), n_rows)
                for q, row in enumerate(rows):
                    self.assertEqual(len(row), q + 1 if causal else n_rows)
                    self.assertTrue(all(0 <= w <= 1 for w in row), row)
                    self.assertAlmostEqual(sum(row), 1, delta=ROW_SUM_TOL)

    def test_generate_full_all_pairs(self):
        n_layer, n_head = shape(GPT2, "n_layer", "n_head")
        js = self.post("/v1/generate", dict(BODY, return_attention="full"))
        a = js["attention"]
        full = a["full"]
        self.assertEqual(full["layers"], list(range(n_layer)))
        self.assertEqual(full["heads"], list(range(n_head)))
        self.assertIs(full["causal"], True)
        # Every position fed: the prompt and the generated tokens but the last (never fed).
        n_rows = js["usage"]["prompt_tokens"] + js["usage"]["completion_tokens"] - 1
        self.assertEqual(len(full["tokens"]), n_rows)
        # The byte-level test tokenizer: the prompt's tokens spell the prompt.
        self.assertEqual("".join(full["tokens"][:js["usage"]["prompt_tokens"]]), BODY["prompt"])
        self.assertEqual(len(full["weights"]), n_layer)
        self.check_rows(full, n_rows, True)
        # The summary is computed from the same rows: its sink is the mean first weight.
        for l in range(n_layer):
            for h in range(n_head):
                rows = full["weights"][l][h]
                sink = sum(r[0] for r in rows) / len(rows)
                self.assertAlmostEqual(a["stats"][l][h]["sink"], sink, delta=1e-5)
        # Streaming: the final done event carries the same weights.
        events = list(self.d.stream("/v1/generate", dict(BODY, return_attention="full", stream=True)))
        self.assertEqual(events[-1][0], "done")
        done = json.loads(events[-1][1])
        openapi_check.check_schema(self.spec, "StreamDoneEvent", done)
        self.assertEqual(done["attention"]["full"], full)
        # A selection returns exactly those pairs, in the order asked, with the same values.
        js = self.post("/v1/generate", dict(BODY, return_attention="full", attention_layers=[1],
                                            attention_heads=[3, 0]))
        sel = js["attention"]["full"]
        self.assertEqual((sel["layers"], sel["heads"]), ([1], [3, 0]))
        self.assertEqual(sel["tokens"], full["tokens"])
        self.assertEqual(sel["weights"], [[full["weights"][1][3], full["weights"][1][0]]])
        # Summary mode carries no weights.
        js = self.post("/v1/generate", dict(BODY, return_attention="summary"))
        self.assertNotIn("full", js["attention"])

    def test_generate_bound(self):
        # The test model has 256 positions and 2 x 4 pairs: 255 rows of 1..255 keys is
        # 8 * 255 * 256 / 2 = 261,120 weights, over the default bound of 250,000.
        js = self.post("/v1/generate", {"prompt": "Hi", "max_new_tokens": 1000, "return_attention": "full"},
                       expect=422)
        self.assertEqual(js["error"]["type"], "out_of_range")
        msg = js["error"]["message"]
        self.assertIn("261120 weights", msg)
        self.assertIn("attn_full_max_weights (250000)", msg)
        self.assertIn("attention_layers", msg)
        self.assertIn("max_new_tokens", msg)
        # Following the advice gets under it.
        js = self.post("/v1/generate", {"prompt": "Hi", "max_new_tokens": 1000, "return_attention": "full",
                                        "attention_layers": [0], "attention_heads": [2], "stop": ["\n"]})
        self.check_rows(js["attention"]["full"],
                        js["usage"]["prompt_tokens"] + js["usage"]["completion_tokens"] - 1, True)
        # The bound is a setting.
        d = harness.Daemon(BIN, "--model", "generate=" + GPT2, "--attn-full-max-weights", "100")
        try:
            st, _, js = d.post("/v1/generate", dict(BODY, return_attention="full"))
            self.assertEqual(st, 422, js)
            self.assertIn("attn_full_max_weights (100)", js["error"]["message"])
            st, _, js = d.post("/v1/generate", dict(BODY, return_attention="summary"))
            self.assertEqual(st, 200, js)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_bad_selections(self):
        n_layer, n_head = shape(GPT2, "n_layer", "n_head")
        cases = [
            ({"attention_layers": [n_layer]}, 422,
             "attention_layers[0] = %d is out of range: the model has %d layers (0 to %d)"
             % (n_layer, n_layer, n_layer - 1)),
            ({"attention_heads": [0, n_head + 3]}, 422, "attention_heads[1] = %d is out of range" % (n_head + 3)),
            ({"attention_layers": [-1]}, 422, "attention_layers[0] must be between 0"),
            ({"attention_layers": []}, 422, "attention_layers must not be empty"),
            ({"attention_heads": [1, 1]}, 422, "attention_heads lists 1 twice"),
            ({"attention_layers": "0"}, 400, "attention_layers must be an array of integers"),
            ({"attention_layers": [0.5]}, 400, "attention_layers[0] must be an integer"),
        ]
        for extra, status, says in cases:
            js = self.post("/v1/generate", dict(BODY, return_attention="full", **extra), expect=status)
            self.assertIn(says, js["error"]["message"])
        bert_layers, _ = shape(BERT, "num_hidden_layers", "num_attention_heads")
        js = self.post("/v1/sentiment", {"text": "fine", "return_attention": "full", "attention_layers": [bert_layers]},
                       expect=422)
        self.assertIn("attention_layers[0] = %d is out of range" % bert_layers, js["error"]["message"])
        js = self.post("/v1/sentiment", {"text": "fine", "return_attention": "full", "attention_heads": "all"},
                       expect=400)
        self.assertIn("attention_heads must be an array of integers", js["error"]["message"])
        js = self.post("/v1/generate", dict(BODY, attention_layers=[0]), expect=422)
        self.assertIn('attention_layers needs "return_attention": "full"', js["error"]["message"])
        js = self.post("/v1/generate", dict(BODY, return_attention="Full"), expect=422)
        self.assertIn('"summary", "full", "none"', js["error"]["message"])

    def test_sentiment_full_and_summary(self):
        n_layer, n_head = shape(BERT, "num_hidden_layers", "num_attention_heads")
        texts = ["a gorgeous, witty, seductive movie", "bad", "the plot is thin and boring, I left early"]
        plain = self.post("/v1/sentiment", {"texts": texts})
        for r in plain["results"]:
            self.assertNotIn("attention", r)
            self.assertEqual(r["attention_flags"], [])
        js = self.post("/v1/sentiment", {"texts": texts, "return_attention": "full"})
        for r, p in zip(js["results"], plain["results"]):
            self.assertEqual(r["label"], p["label"])  # asking for attention changes nothing
            self.assertAlmostEqual(r["score"], p["score"], places=6)
            a = r["attention"]
            self.assertEqual((a["layers"], a["heads"]), (n_layer, n_head))
            full = a["full"]
            self.assertIs(full["causal"], False)
            n = len(full["tokens"])
            self.assertEqual(full["tokens"][0], "[CLS]")
            self.assertEqual(full["tokens"][-1], "[SEP]")
            self.check_rows(full, n, False)
            for l in range(n_layer):
                for h in range(n_head):
                    s = a["stats"][l][h]
                    self.assertEqual(set(s), {"entropy", "max_weight", "sink"})
                    rows = full["weights"][l][h]
                    self.assertAlmostEqual(s["sink"], sum(row[0] for row in rows) / n, delta=1e-5)
                    self.assertAlmostEqual(s["max_weight"], sum(max(row) for row in rows) / n, delta=1e-5)
        self.assertEqual(js["usage"]["prompt_tokens"], sum(len(r["attention"]["full"]["tokens"])
                                                           for r in js["results"]))
        sel = self.post("/v1/sentiment", {"text": texts[0], "return_attention": "full",
                                          "attention_layers": [n_layer - 1], "attention_heads": [0]})
        f = sel["results"][0]["attention"]["full"]
        self.assertEqual((f["layers"], f["heads"]), ([n_layer - 1], [0]))
        self.assertEqual(f["weights"], [[js["results"][0]["attention"]["full"]["weights"][n_layer - 1][0]]])
        summ = self.post("/v1/sentiment", {"text": texts[0], "return_attention": "summary"})
        self.assertNotIn("full", summ["results"][0]["attention"])
        self.assertEqual(summ["results"][0]["attention"]["stats"], js["results"][0]["attention"]["stats"])
        # Over the bound: the texts' squares summed, 16 texts cut to the model's 48 tokens
        # x 2 layers x 4 heads = 16 * 48 * 48 * 8 = 294,912 weights.
        js = self.post("/v1/sentiment", {"texts": ["word " * 200] * 16, "truncate": True, "return_attention": "full"},
                       expect=422)
        self.assertIn("294912 weights", js["error"]["message"])
        self.assertIn("attn_full_max_weights (250000)", js["error"]["message"])
        self.assertIn("fewer or shorter texts", js["error"]["message"])

    def test_sentiment_anomalies_are_flagged(self):
        name = os.path.basename(BERT)
        d = harness.Daemon(BIN, "--model", "sentiment=" + BERT, "--attn-sink-max", "0")
        try:
            st, _, js = d.post("/v1/sentiment", {"texts": ["a rather long and winding text", "a"]},
                               headers={"X-Request-Id": "sent-anomaly-1"})
            self.assertEqual(st, 200, js)
            self.assertEqual(js["results"][0]["attention_flags"], ["sink_dominated"])
            self.assertEqual(js["results"][1]["attention_flags"], [])  # 3 tokens: not judged
            self.assertEqual(d.metric("transformerd_attention_anomalies_total",
                                      {"model": name, "kind": "sink_dominated"}), 1)
            self.assertGreaterEqual(d.metric("transformerd_attention_entropy_count", {"model": name, "layer": "0"}), 1)
            self.assertTrue(d.wait_log(r"sent-anomaly-1: text 0: attention anomaly: sink_dominated"), d.log())
        finally:
            self.assertEqual(d.stop(), 0)
