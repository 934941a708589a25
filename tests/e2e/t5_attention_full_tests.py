"""End-to-end tests of `"return_attention": "full"` on /v1/translate and /v1/summarize (the
tiny T5 fixture: 2 encoder layers, 3 decoder layers, 4 heads): per text, the encoder
(source x source), decoder (causal, target rows) and cross (target x source) weights with
the tokens on both axes, the selection, beam search (the returned hypothesis's rows; the
unit test test_t5_attn.c compares them with teacher forcing), the size bound and bad
selections. Run by test_t5.py, which sets BIN and MODEL."""
import os
import unittest

import harness
import openapi_check

BIN = None
MODEL = None
N_ENC, N_DEC, N_HEAD = 2, 3, 4
# Weights are rounded to 6 decimals: a row of n weights sums to 1 within n * 5e-7.
ROW_SUM_TOL = 1e-4
TEXTS = ["The house is wonderful.", "the cat sees the dog and runs"]


class T5AttentionFull(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "translate=" + MODEL, "--model", "summarize=" + MODEL)

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0, cls.d.log()

    def post(self, path, body, expect=200, d=None):
        st, h, js = (d or self.d).post(path, body, timeout=120)
        self.assertEqual(st, expect, js)
        openapi_check.check_response(self.spec, "post", path, st, h.get("content-type", ""), js)
        return js

    def check_kind(self, k, layers, heads, n_rows, n_keys, causal):
        self.assertEqual((k["layers"], k["heads"], k["causal"]), (layers, heads, causal))
        self.assertEqual(len(k["weights"]), len(layers))
        for by_head in k["weights"]:
            self.assertEqual(len(by_head), len(heads))
            for rows in by_head:
                self.assertEqual(len(rows), n_rows)
                for q, row in enumerate(rows):
                    self.assertEqual(len(row), q + 1 if causal else n_keys)
                    self.assertTrue(all(0 <= w <= 1 for w in row), row)
                    self.assertAlmostEqual(sum(row), 1, delta=ROW_SUM_TOL)

    def test_full_all_pairs_both_tasks(self):
        for path, key in (("/v1/translate", "translations"), ("/v1/summarize", "summaries")):
            body = {"texts": TEXTS, "max_new_tokens": 8, "num_beams": 1, "return_attention": "full"}
            js = self.post(path, body)
            plain = self.post(path, dict(body, return_attention="none"))
            self.assertEqual(js[key], plain[key])  # keeping the weights changes nothing else
            for d in js["details"]:
                a = d["attention"]
                self.assertIn("cross", a)  # the summary is there as well
                full = a["full"]
                n_src, n_tgt = d["input_tokens"], d["output_tokens"]  # start token + all but the last
                self.assertEqual(len(full["source_tokens"]), n_src)
                self.assertEqual(len(full["target_tokens"]), n_tgt)
                self.check_kind(full["encoder"], list(range(N_ENC)), list(range(N_HEAD)), n_src, n_src, False)
                self.check_kind(full["decoder"], list(range(N_DEC)), list(range(N_HEAD)), n_tgt, None, True)
                self.check_kind(full["cross"], list(range(N_DEC)), list(range(N_HEAD)), n_tgt, n_src, False)

    def test_selection(self):
        js = self.post("/v1/translate", {"text": TEXTS[1], "max_new_tokens": 6, "num_beams": 1,
                                         "return_attention": "full", "attention_layers": [1, 0],
                                         "attention_heads": [3]})
        d = js["details"][0]
        full = d["attention"]["full"]
        n_src, n_tgt = d["input_tokens"], d["output_tokens"]
        self.check_kind(full["encoder"], [1, 0], [3], n_src, n_src, False)
        self.check_kind(full["decoder"], [1, 0], [3], n_tgt, None, True)
        self.check_kind(full["cross"], [1, 0], [3], n_tgt, n_src, False)

    def test_beams_return_the_answers_rows(self):
        # summarize's task default is 4 beams; translate is asked for 3
        for path, key, extra in (("/v1/summarize", "summaries", {}), ("/v1/translate", "translations", {"num_beams": 3})):
            body = dict({"texts": TEXTS, "max_new_tokens": 10, "return_attention": "full"}, **extra)
            js = self.post(path, body)
            plain = self.post(path, dict(body, return_attention="none"))
            summary = self.post(path, dict(body, return_attention="summary"))
            self.assertEqual(js[key], plain[key])  # keeping the weights changes nothing else
            # monitoring judges the whole search whatever is asked for
            self.assertEqual([d["attention_flags"] for d in js["details"]],
                             [d["attention_flags"] for d in plain["details"]])
            for d, s in zip(js["details"], summary["details"]):
                a, full = d["attention"], d["attention"]["full"]
                n_src, n_tgt = d["input_tokens"], d["output_tokens"]
                # one row per returned token: the start token, then the answer's tokens but the last
                self.assertEqual(len(full["target_tokens"]), n_tgt)
                self.assertEqual(full["target_tokens"][0], "<pad>")
                self.assertEqual(a["cross"]["steps"], n_tgt)  # the summary is the answer's too
                self.assertEqual({k: v for k, v in a.items() if k != "full"}, s["attention"])
                self.check_kind(full["encoder"], list(range(N_ENC)), list(range(N_HEAD)), n_src, n_src, False)
                self.check_kind(full["decoder"], list(range(N_DEC)), list(range(N_HEAD)), n_tgt, None, True)
                self.check_kind(full["cross"], list(range(N_DEC)), list(range(N_HEAD)), n_tgt, n_src, False)
                # the cross rows of a layer and head add up to the summary's source coverage
                for l in range(N_DEC):
                    col = [sum(full["cross"]["weights"][l][h][r][j] for h in range(N_HEAD) for r in range(n_tgt))
                           / N_HEAD for j in range(n_src)]
                    for j in range(n_src):
                        self.assertAlmostEqual(col[j], a["cross"]["source_coverage"][l][j], delta=1e-3)
                # the target tokens are the answer's: its text starts with them (a token alone
                # is shown without its word-leading space)
                out = js[key][js["details"].index(d)].replace(" ", "")
                self.assertTrue(out.startswith("".join(full["target_tokens"][1:]).replace(" ", "")),
                                (out, full["target_tokens"]))

    def test_beams_bound_and_bad_selections(self):
        base = {"text": TEXTS[0], "max_new_tokens": 8, "return_attention": "full"}
        n_layers = min(N_ENC, N_DEC)
        cases = [
            ({"attention_layers": [n_layers]}, 422, "attention_layers[0] = %d is out of range: the model has %d layers"
             % (n_layers, n_layers)),
            ({"attention_heads": [N_HEAD]}, 422, "attention_heads[0] = %d is out of range" % N_HEAD),
            ({"attention_heads": [0, 0]}, 422, "attention_heads lists 0 twice"),
            ({"attention_layers": []}, 422, "attention_layers must not be empty"),
            ({"attention_layers": "0"}, 400, "attention_layers must be an array of integers"),
            ({"return_attention": "summary", "attention_heads": [0]}, 422,
             'attention_heads needs "return_attention": "full"'),
            ({"return_attention": "Full"}, 422, '"summary", "full", "none"'),
        ]
        for extra, status, says in cases:
            js = self.post("/v1/translate", dict(base, num_beams=1, **extra), expect=status)
            self.assertIn(says, js["error"]["message"])
        # the bound counts the three kinds of every text, from the most each can feed:
        # 2 texts of n source tokens, 64 target rows, 8 encoder pairs, 12 decoder pairs
        d = harness.Daemon(BIN, "--model", "translate=" + MODEL, "--attn-full-max-weights", "5000")
        try:
            body = {"texts": TEXTS, "max_new_tokens": 64, "num_beams": 1, "return_attention": "full"}
            one = self.post("/v1/translate", dict(body, return_attention="none"), d=d)
            n = [x["input_tokens"] for x in one["details"]]
            want = sum(8 * s * s + 12 * (64 * 65 // 2) + 12 * 64 * s for s in n)
            js = self.post("/v1/translate", body, expect=422, d=d)
            msg = js["error"]["message"]
            self.assertEqual(js["error"]["type"], "out_of_range")
            self.assertIn("%d weights" % want, msg)
            self.assertIn("attn_full_max_weights (5000)", msg)
            self.assertIn("2 texts, %d source tokens" % sum(n), msg)
            self.assertIn("encoder 2x4 pairs", msg)
            self.assertIn("decoder+cross 3x4 pairs x (64 causal rows + 64 x src)", msg)
            for knob in ("attention_layers", "max_new_tokens", "shorter texts"):
                self.assertIn(knob, msg)
            # beams hold every beam's decoder and cross rows until the answer is known
            js = self.post("/v1/translate", dict(body, num_beams=4), expect=422, d=d)
            msg = js["error"]["message"]
            want4 = sum(8 * s * s + 4 * (12 * (64 * 65 // 2) + 12 * 64 * s) for s in n)
            self.assertIn("%d weights" % want4, msg)
            self.assertIn("decoder+cross 3x4 pairs x 4 beams x (64 causal rows + 64 x src)", msg)
            self.assertIn("attn_full_max_weights (5000)", msg)
            for knob in ("num_beams", "max_new_tokens", "attention_layers"):
                self.assertIn(knob, msg)
            # following the advice gets under it
            js = self.post("/v1/translate", dict(body, texts=TEXTS[:1], max_new_tokens=4, attention_layers=[0],
                                                 attention_heads=[1]), d=d)
            self.assertEqual(len(js["details"][0]["attention"]["full"]["cross"]["weights"]), 1)
        finally:
            self.assertEqual(d.stop(), 0)
