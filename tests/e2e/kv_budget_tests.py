"""End-to-end: the per-model KV cache budget (kv_budget_bytes) on the bundled T5
(a text's self-attention caches are decoder layers x beams x (max_new_tokens + 1) x
heads * d_kv elements for K and again for V; sizes read from its config.json).

The robustness audit's request (16 texts, 32 beams, 1024 new tokens: 4.8 GB of cache with
fp32 elements on the bundled T5, half that with fp16) is refused whole under the
default 1 GiB budget with 422
kv_budget_exceeded before anything is allocated, while ordinary requests go on; with a
budget for one long request, a second has a free batch slot but waits in the queue for
budget, then both complete; the budget is a gauge per model in /metrics.
Run by test_serve.py, which sets BIN."""
import json
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
ONE_LONG = {"text": TEXT, "num_beams": 4, "max_new_tokens": 1024, "min_new_tokens": 1024}


def cache_elements(texts, beams, positions):
    """K and V elements of the decoder self-attention caches (cross-attention excluded)."""
    with open(os.path.join(T5, "config.json")) as f:
        c = json.load(f)
    return texts * c["num_decoder_layers"] * beams * positions * c["num_heads"] * c["d_kv"] * 2


def kv_elem_bytes(d):
    """2 with an fp16 cache, else 4, as /v1/models reports it."""
    st, _, js = d.get("/v1/models")
    assert st == 200, js
    dtype = next(m for m in js["data"] if m["id"] == LABEL["model"]).get("kv_cache_dtype", "f32")
    return 2 if dtype == "f16" else 4


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
            # 4 bytes an element, or 2 with an fp16 cache; plus the cross-attention K/V of each text
            per_elem = cache_elements(16, 32, 1025)
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
        probe = harness.Daemon(BIN, "--model", "translate=" + T5)
        try:
            one = cache_elements(1, 4, 1025) * kv_elem_bytes(probe)
        finally:
            self.assertEqual(probe.stop(), 0, probe.log())
        # one long request fits (its cross-attention K/V is a few hundred KB), two do not
        budget = int(1.5 * one)
        d = harness.Daemon(BIN, "--model", "translate=" + T5, "--kv-budget-bytes", str(budget))
        try:
            self.assertEqual(d.metric("transformerd_kv_cache_budget_bytes", LABEL), budget)
            results = [None, None]

            def send(i):
                results[i] = d.post("/v1/translate", ONE_LONG, timeout=300)

            a = threading.Thread(target=send, args=(0,))
            a.start()
            deadline = time.time() + 30
            while time.time() < deadline and d.metric("transformerd_running_sequences") < 1:
                time.sleep(0.005)
            running_kv = d.metric("transformerd_kv_cache_bytes")
            self.assertGreaterEqual(running_kv, one)
            self.assertLessEqual(running_kv, budget)
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
            # the scheduler's gauges are per model too, present from start-up
            for gauge in ("transformerd_kv_cache_bytes", "transformerd_running_sequences",
                          "transformerd_queue_depth_requests"):
                self.assertIn('%s{model="t5-multi30k-scitldr"} 0\n' % gauge, text)
            self.post(d, {"text": TEXT, "num_beams": 2, "max_new_tokens": 4}, 200)
        finally:
            self.assertEqual(d.stop(), 0, d.log())
