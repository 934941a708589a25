#!/usr/bin/env python3
"""End-to-end tests of POST /v1/translate and /v1/summarize on a tiny T5 fixture.

    python3 tests/e2e/test_t5.py BINARY [unittest args]

One daemon (int8: integer accumulation makes results independent of batch composition) serves tests/fixtures/tiny-t5-untied (random weights, a generated Unigram
tokenizer) for both tasks, so translate and summarize requests share one scheduler.
Outputs are compared with `transformerd translate|summarize --json` (the CLI drives the
same sequence API); every response is checked against openapi.yaml.
"""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import openapi_check  # noqa: E402

BIN = None
D = None
SPEC = None
MODEL = os.path.join(harness.ROOT, "tests", "fixtures", "tiny-t5-untied")
TEXTS = ["The house is wonderful.", "the cat sees the dog and runs", "we think they will come",
         "summarize this small red house", "a", "Das Haus ist klein"]


def setUpModule():
    global D, SPEC
    SPEC = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
    D = harness.Daemon(BIN, "--model", "translate=" + MODEL, "--model", "summarize=" + MODEL,
                       "--max-batch", "64", "--max-queue", "256")


def tearDownModule():
    if D:
        rc = D.stop()
        assert rc == 0, "daemon exit %s\n%s" % (rc, D.log())


def post(path, body, expect=200):
    st, h, js = D.post(path, body, timeout=120)
    assert st == expect, (st, js)
    openapi_check.check_response(SPEC, "post", path, st, h.get("content-type", ""), js)
    return js


def cli(cmd, texts, *extra):
    args = [BIN, cmd, "--model", MODEL, "--json"]
    for t in texts:
        args += ["--text", t]
    out = subprocess.run(args + list(extra), capture_output=True, text=True, check=True).stdout
    return json.loads(out)


class TextRoutes(unittest.TestCase):
    def test_translate_matches_cli(self):
        for beams in (1, 3):
            js = post("/v1/translate", {"texts": TEXTS, "source_lang": "en", "target_lang": "de",
                                        "num_beams": beams, "max_new_tokens": 12})
            want = cli("translate", TEXTS, "--num-beams", str(beams), "--max-new-tokens", "12")
            self.assertEqual(js["translations"], want["translations"])
            self.assertEqual(len(js["details"]), len(TEXTS))
            self.assertEqual(js["usage"]["prompt_tokens"], want["usage"]["prompt_tokens"])
        one = post("/v1/translate", {"text": TEXTS[0], "target_lang": "fr", "max_new_tokens": 8})
        self.assertEqual(one["translations"], cli("translate", TEXTS[:1], "--target-lang", "fr",
                                                  "--max-new-tokens", "8")["translations"])

    def test_summarize_matches_cli(self):
        body = {"texts": TEXTS[:3], "max_new_tokens": 10, "min_new_tokens": 4, "num_beams": 2,
                "length_penalty": 2.0, "no_repeat_ngram_size": 2, "early_stopping": True}
        js = post("/v1/summarize", body)
        want = cli("summarize", TEXTS[:3], "--max-new-tokens", "10", "--min-new-tokens", "4", "--num-beams", "2",
                   "--length-penalty", "2", "--no-repeat-ngram-size", "2", "--early-stopping")
        self.assertEqual(js["summaries"], want["summaries"])
        for d in js["details"]:
            self.assertGreaterEqual(d["output_tokens"], 4)

    def err(self, path, body, status, kind, words=None):
        st, h, js = D.post(path, body)
        self.assertEqual(st, status, js)
        openapi_check.check_response(SPEC, "post", path, st, h.get("content-type", ""), js)
        self.assertEqual(js["error"]["type"], kind)
        if words:
            self.assertIn(words, js["error"]["message"])
        return js

    def test_errors(self):
        self.err("/v1/translate", "{", 400, "invalid_json")
        self.err("/v1/translate", {"text": 3}, 400, "invalid_field", "text")
        self.err("/v1/translate", {"text": "a", "texts": ["b"]}, 400, "invalid_field", "not both")
        self.err("/v1/translate", {}, 400, "invalid_field", "required")
        self.err("/v1/translate", {"text": "a", "prompt": "b"}, 400, "invalid_field", "prompt")
        self.err("/v1/summarize", {"text": "a", "source_lang": "en"}, 400, "invalid_field", "source_lang")
        js = self.err("/v1/translate", {"text": "a", "target_lang": "ja"}, 422, "out_of_range", "en->de")
        self.assertIn("en->fr", js["error"]["message"])
        self.err("/v1/translate", {"text": "a", "num_beams": 0}, 422, "out_of_range", "num_beams")
        self.err("/v1/translate", {"texts": []}, 422, "out_of_range", "texts")
        self.err("/v1/summarize", {"text": "a", "min_new_tokens": 9, "max_new_tokens": 3}, 422, "out_of_range")
        self.err("/v1/summarize", {"text": "a", "model": "nope"}, 404, "model_not_found")
        long_text = "the house " * 60  # > 64 tokens, the fixture's n_positions
        self.err("/v1/summarize", {"text": long_text}, 422, "prompt_too_long", "64")
        self.err("/v1/translate", {"texts": ["ok", long_text]}, 422, "prompt_too_long")
        js = post("/v1/summarize", {"text": long_text, "truncate": True, "max_new_tokens": 4})
        self.assertTrue(js["details"][0]["truncated"])
        self.assertEqual(js["details"][0]["input_tokens"], 64)

    def test_32_concurrent_mixed_requests(self):
        reqs = []
        for i in range(32):
            t = "%s %d" % (TEXTS[i % len(TEXTS)], i)
            if i % 2:
                reqs.append(("/v1/translate", {"text": t, "target_lang": "de" if i % 4 == 1 else "fr",
                                               "num_beams": 1 + i % 3, "max_new_tokens": 6 + i % 7}))
            else:
                reqs.append(("/v1/summarize", {"texts": [t, t + " again"], "num_beams": 1 + i % 2,
                                               "max_new_tokens": 5 + i % 5}))
        key = {"/v1/translate": "translations", "/v1/summarize": "summaries"}
        want = [post(p, b)[key[p]] for p, b in reqs]
        got, errs = [None] * 32, []

        def client(i):
            try:
                st, _, js = D.post(reqs[i][0], reqs[i][1], timeout=120)
                got[i] = js.get(key[reqs[i][0]]) if st == 200 else ("HTTP %d %s" % (st, js))
            except Exception as ex:  # noqa: BLE001 - reported below
                errs.append(repr(ex))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errs, [])
        self.assertEqual([(i, want[i], got[i]) for i in range(32) if want[i] != got[i]], [])
        le1 = D.metric("transformerd_batch_size_sequences_bucket", {"le": "1"})
        total = D.metric("transformerd_batch_size_sequences_count")
        self.assertGreater(total, le1)
        text = D.metrics()
        self.assertIn('transformerd_task_texts_total{task="translate"}', text)
        self.assertIn('transformerd_task_texts_total{task="summarize"}', text)
        self.assertIn('transformerd_http_requests_total{route="/v1/translate",status="200"}', text)


def main():
    global BIN
    if len(sys.argv) < 2:
        print("usage: test_t5.py BINARY [unittest args]", file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    prog = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
