"""End-to-end tests of POST /v1/sentiment on the committed tiny DistilBERT fixture: shape
(checked against openapi.yaml), labels equal to `transformerd classify --json`, every
error status, requests split across batches, and 64 concurrent clients dynamically
batched. Run through test_serve.py, which sets BIN."""
import json
import os
import random
import subprocess
import threading
import unittest

import harness
import openapi_check
import promtext

BIN = None
SPEC = None
MODEL = os.path.join(harness.ROOT, "tests", "fixtures", "tiny-distilbert-sst2")
TEXTS = ["a gorgeous, witty, seductive movie", "the plot is thin and boring", "ok",
         "I loved every minute of it!", "worst film of the year", "Ünïcode çafé 東京 naïve",
         "neither good nor bad, just long", "a", "Not bad at all. Really not bad."]
MAX_TEXTS = 8
MAX_BATCH = 4


def cli(texts, truncate=False):
    cmd = [BIN, "classify", "--model", MODEL, "--json"] + (["--truncate"] if truncate else [])
    for t in texts:
        cmd += ["--text", t]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)["results"]


def batch_count(d):
    st, _, text = d.get("/metrics")
    assert st == 200
    promtext.check(text)
    for line in text.splitlines():
        if line.startswith("transformerd_classify_batch_size_texts_count"):
            return float(line.split()[-1])
    return 0.0


class Sentiment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global SPEC
        SPEC = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "sentiment=" + MODEL, "--sentiment-max-texts", str(MAX_TEXTS),
                               "--sentiment-max-batch", str(MAX_BATCH), "--sentiment-max-wait-ms", "20")
        cls.ref = dict(zip(TEXTS, cli(TEXTS)))

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop()
        assert rc == 0, "daemon exit %s\n%s" % (rc, cls.d.log())

    def post(self, body, expect):
        st, h, js = self.d.post("/v1/sentiment", body)
        self.assertEqual(st, expect, js)
        openapi_check.check_response(SPEC, "post", "/v1/sentiment", st, h.get("content-type", ""), js)
        return js

    def same(self, got, text):
        want = self.ref[text]
        self.assertEqual(got["label"], want["label"], text)
        self.assertEqual(set(got["scores"]), set(want["scores"]), text)
        for k, p in want["scores"].items():
            # Batches differ in composition from the CLI's one batch; packed texts attend
            # only to themselves, so only float summation order may differ.
            self.assertAlmostEqual(got["scores"][k], p, delta=1e-5, msg=text)
        self.assertAlmostEqual(got["score"], max(want["scores"].values()), delta=1e-5)

    def test_shape_and_labels_match_cli(self):
        js = self.post({"text": TEXTS[0]}, 200)
        self.assertEqual(len(js["results"]), 1)
        self.assertEqual(js["usage"]["texts"], 1)
        self.same(js["results"][0], TEXTS[0])
        js = self.post({"texts": TEXTS[:MAX_TEXTS]}, 200)
        self.assertEqual(js["usage"]["texts"], MAX_TEXTS)
        for got, text in zip(js["results"], TEXTS):
            self.same(got, text)
            self.assertAlmostEqual(sum(got["scores"].values()), 1.0, delta=1e-5)

    def test_request_larger_than_a_batch_is_split(self):
        before = batch_count(self.d)
        js = self.post({"texts": TEXTS[:7]}, 200)
        for got, text in zip(js["results"], TEXTS[:7]):
            self.same(got, text)
        self.assertGreaterEqual(batch_count(self.d) - before, 2)  # 7 texts, batches of at most 4

    def test_errors(self):
        def err(body, status, etype, word=None):
            st, h, js = self.d.post("/v1/sentiment", body)
            self.assertEqual(st, status, js)
            self.assertEqual(js["error"]["type"], etype, js)
            if word:
                self.assertIn(word, js["error"]["message"])
            openapi_check.check_response(SPEC, "post", "/v1/sentiment", st, h.get("content-type", ""), js)
        err('{"text": ', 400, "invalid_json")
        err("[]", 400, "invalid_json")
        err({"text": ""}, 422, "out_of_range", "empty")
        err({"texts": []}, 422, "out_of_range", "texts")
        err({"texts": ["ok", ""]}, 422, "out_of_range", "texts[1]")
        err({"texts": ["ok", 3]}, 400, "invalid_field", "texts[1]")
        err({"text": 5}, 400, "invalid_field", "text")
        err({}, 400, "invalid_field", "text")
        err({"text": "a", "texts": ["b"]}, 400, "invalid_field")
        err({"text": "a", "truncate": "yes"}, 400, "invalid_field", "truncate")
        err({"text": "a", "colour": 1}, 400, "invalid_field", "colour")
        err({"text": "a", "model": "nope"}, 404, "model_not_found")
        err({"texts": ["x"] * (MAX_TEXTS + 1)}, 413, "too_many_texts", str(MAX_TEXTS))
        long_text = "word " * 300  # the fixture takes 64 tokens
        err({"texts": ["fine", long_text]}, 422, "text_too_long", "text 1")
        js = self.post({"texts": ["fine", long_text], "truncate": True}, 200)
        want = cli([long_text], truncate=True)[0]
        self.assertEqual(js["results"][1]["label"], want["label"])
        self.assertEqual(js["usage"]["prompt_tokens"] - cli_tokens(["fine"]), 64)
        st, _, _ = self.d.post("/v1/generate", {"prompt": "x"})
        self.assertEqual(st, 404)  # no generation model in this daemon

    def test_64_concurrent_requests(self):
        before = batch_count(self.d)
        rng = random.Random(7)
        bodies = [[rng.choice(TEXTS) for _ in range(rng.choice([1, 1, 1, 2, 3]))] for _ in range(64)]
        out = [None] * 64
        start = threading.Barrier(64)

        def client(i):
            start.wait()
            out[i] = self.d.post("/v1/sentiment", {"texts": bodies[i]}, timeout=120)

        th = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        for texts, (st, _, js) in zip(bodies, out):
            self.assertEqual(st, 200, js)
            self.assertEqual(len(js["results"]), len(texts))
            for got, text in zip(js["results"], texts):
                self.same(got, text)
        n_texts = sum(len(b) for b in bodies)
        batches = batch_count(self.d) - before
        # Texts of different requests shared model calls: fewer calls than requests.
        self.assertLess(batches, 64, "%d batches for %d texts" % (batches, n_texts))
        st, _, text = self.d.get("/metrics")
        self.assertIn("transformerd_classified_texts_total", text)


class SentimentQueueWait(unittest.TestCase):
    """Texts that wait for a batch longer than --max-queue-wait-ms fail with 503
    queue_timeout, as generation requests do; the others are answered, the daemon stays up."""

    def test_queue_wait_expires_waiting_jobs(self):
        d = harness.Daemon(BIN, "--model", "sentiment=" + MODEL, "--sentiment-max-batch", "1",
                           "--sentiment-max-wait-ms", "0", "--max-queue-wait-ms", "1")
        try:
            out = [None] * 48
            start = threading.Barrier(48)

            def client(i):
                start.wait()
                out[i] = d.post("/v1/sentiment", {"texts": [TEXTS[i % len(TEXTS)]] * 4}, timeout=60)

            th = [threading.Thread(target=client, args=(i,)) for i in range(48)]
            for t in th:
                t.start()
            for t in th:
                t.join()
            codes = [st for st, _, _ in out]
            self.assertTrue(set(codes) <= {200, 503}, codes)
            late = [js for st, _, js in out if st == 503]
            self.assertTrue(late, "48 requests of 4 texts one text per batch, none waited 1 ms: %s" % codes)
            for js in late:
                self.assertEqual(js["error"]["type"], "queue_timeout", js)
            st, _, js = d.post("/v1/sentiment", {"text": "fine"}, timeout=30)
            self.assertEqual(st, 200, js)
        finally:
            self.assertEqual(d.stop(), 0, d.log())


def cli_tokens(texts):
    cmd = [BIN, "classify", "--model", MODEL, "--json"]
    for t in texts:
        cmd += ["--text", t]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)["usage"]["prompt_tokens"]
