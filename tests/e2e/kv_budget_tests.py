"""End-to-end: the per-model KV cache budget (kv_budget_bytes) on the bundled T5
(3 decoder layers, 256 wide: a text's self-attention caches are 3 x beams x
(max_new_tokens + 1) x 256 floats for K and again for V).

The robustness audit's request (16 texts, 32 beams, 1024 new tokens: 16 x 201 MB =
3.2 GB of cache with fp32 elements, half that with fp16) is refused whole under the
default 1 GiB budget with 422
kv_budget_exceeded before anything is allocated, while ordinary requests go on; with a
budget for one long request, a second has a free batch slot but waits in the queue for
budget, then both complete; the budget is a gauge per model in /metrics.
Run by test_serve.py, which sets BIN."""
import os
import threading
import time
import unittest

import harness
import openapi_check

BIN = None
T5 = os.path.join(harness.ROOT, "models", "bundled", "t5-multi30k-scitldr")
TEXT = "A man in a blue shirt is standing on a ladder."
DEFAULT_BUDGET = 1024 ** 3
# One text, 4 beams, 1024 new tokens: 3 x 4 x 1025 x 256 floats x 4 bytes x 2 (K, V)
# = 25.2 MB of self-attention cache plus a few hundred KB of cross-attention: one fits
# 40 MiB, two do not.
ONE_LONG = {"text": TEXT, "num_beams": 4, "max_new_tokens": 1024, "min_new_tokens": 1024}
SMALL_BUDGET = 40 * 1024 ** 2


LABEL = {"model": "t5-multi30k-scitldr"}  # the bundled directory's name


@unittest.skipUnless(os.path.isfile(os.path.join(T5, "model.safetensors")), "bundled T5: %s is absent" % T5)
class KVBudget(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))

    def post(self, d, body, expect):
        st, h, js = d.post("/v1/translate", body, timeout=120)
        self.assertEqual(st, expect, js)
        openapi_check.check_response(self.spec, "post", "/v1/translate", st, h.get("content-type", ""), js)
        return js

    def test_audit_request_refused_normal_request_served(self):
        d = harness.Daemon(BIN, "--model", "translate=" + T5)
        try:
            self.assertEqual(d.metric("transformerd_kv_cache_budget_bytes", LABEL), DEFAULT_BUDGET)
            body = {"texts": [TEXT] * 16, "num_beams": 32, "max_new_tokens": 1024, "min_new_tokens": 1024}
            t0 = time.time()
            js = self.post(d, body, 422)
            self.assertLess(time.time() - t0, 5)  # refused at the door, not after decoding
            self.assertEqual(js["error"]["type"], "kv_budget_exceeded")
            msg = js["error"]["message"]
            self.assertIn("kv_budget_bytes of %d" % DEFAULT_BUDGET, msg)
            need = int(msg.split("needs up to ")[1].split(" ")[0])
            # 16 x 3 layers x 32 beams x 1025 positions x 256 x (K, V): 4 bytes each, or 2
            # with an fp16 cache; plus the cross-attention K/V of each text
            per_elem = 16 * 3 * 32 * 1025 * 256 * 2
            self.assertTrue(4 * per_elem < need < 4.01 * per_elem or 2 * per_elem < need < 2.01 * per_elem, need)
            self.assertIn("16 sequences, num_beams 32, max_new_tokens 1024", msg)
            # nothing of it ran or stayed
            self.assertEqual(d.metric("transformerd_kv_cache_bytes"), 0)
            self.assertEqual(d.metric("transformerd_running_sequences"), 0)
            ok = self.post(d, {"text": TEXT, "max_new_tokens": 8}, 200)
            self.assertEqual(len(ok["translations"]), 1)
            # one such text alone fits the default budget: it is admitted (and runs)
            one = dict(body, texts=[TEXT], max_new_tokens=16, min_new_tokens=16)
            self.post(d, one, 200)
        finally:
            self.assertEqual(d.stop(), 0, d.log())

    def test_second_request_waits_for_budget_then_both_complete(self):
        d = harness.Daemon(BIN, "--model", "translate=" + T5, "--kv-budget-bytes", "40M")
        try:
            self.assertEqual(d.metric("transformerd_kv_cache_budget_bytes", LABEL), SMALL_BUDGET)
            results = [None, None]

            def send(i):
                results[i] = d.post("/v1/translate", ONE_LONG, timeout=300)

            a = threading.Thread(target=send, args=(0,))
            a.start()
            deadline = time.time() + 30
            while time.time() < deadline and d.metric("transformerd_running_sequences") < 1:
                time.sleep(0.005)
            running_kv = d.metric("transformerd_kv_cache_bytes")
            self.assertGreater(running_kv, 25e6)
            self.assertLessEqual(running_kv, SMALL_BUDGET)
            b = threading.Thread(target=send, args=(1,))
            b.start()
            # b has a batch slot (max_batch 16) but no budget: it waits in the queue
            deadline = time.time() + 30
            while time.time() < deadline and d.metric("transformerd_kv_budget_waits_total", LABEL) < 1:
                time.sleep(0.005)
            if results[0] is None:  # a still running: b must be queued, not running beside it
                self.assertEqual(d.metric("transformerd_kv_budget_waits_total", LABEL), 1)
                self.assertLessEqual(d.metric("transformerd_running_sequences"), 1)
            a.join(300)
            b.join(300)
            for st, h, js in results:
                self.assertEqual(st, 200, js)
                openapi_check.check_response(self.spec, "post", "/v1/translate", st, h.get("content-type", ""), js)
            self.assertEqual(results[0][2]["translations"], results[1][2]["translations"])
            self.assertEqual(d.metric("transformerd_kv_budget_waits_total", LABEL), 1)
            self.assertEqual(d.metric("transformerd_kv_cache_bytes"), 0)
            # two texts in one request: together over the budget, refused whole
            js = self.post(d, {"texts": [TEXT, TEXT], "num_beams": 4, "max_new_tokens": 1024}, 422)
            self.assertEqual(js["error"]["type"], "kv_budget_exceeded")
        finally:
            self.assertEqual(d.stop(), 0, d.log())

    def test_budget_gauge_and_unlimited(self):
        d = harness.Daemon(BIN, "--model", "translate=" + T5, "--kv-budget-bytes", "0")
        try:
            text = d.metrics()
            self.assertIn("# TYPE transformerd_kv_cache_budget_bytes gauge", text)
            self.assertIn('transformerd_kv_cache_budget_bytes{model="t5-multi30k-scitldr"} 0\n', text)
            self.assertIn("# TYPE transformerd_kv_budget_waits_total counter", text)
            self.assertIn('transformerd_kv_budget_waits_total{model="t5-multi30k-scitldr"} 0\n', text)
            self.post(d, {"text": TEXT, "num_beams": 2, "max_new_tokens": 4}, 200)
        finally:
            self.assertEqual(d.stop(), 0, d.log())
