#!/usr/bin/env python3
"""End-to-end tests of `transformerd serve`: the real daemon on a loopback port.

    python3 tests/e2e/test_serve.py BINARY [unittest args]

Every route, every error status, streaming, cancellation, drain on SIGTERM,
64 concurrent clients, outputs equal to the CLI's, /metrics format, and every
response checked against openapi.yaml.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import attention_tests  # noqa: E402
import attention_full_tests  # noqa: E402
from attention_full_tests import AttentionFull  # noqa: E402,F401 - run by unittest.main
from attention_tests import Attention  # noqa: E402,F401 - run by unittest.main
import hostile_tests  # noqa: E402
from hostile_tests import Hostile  # noqa: E402,F401 - run by unittest.main
import kv_budget_tests  # noqa: E402
from kv_budget_tests import KVBudget  # noqa: E402,F401 - run by unittest.main
import lifecycle_tests  # noqa: E402
from lifecycle_tests import Lifecycle  # noqa: E402,F401 - run by unittest.main
import sentiment_tests  # noqa: E402
from sentiment_tests import Sentiment, SentimentQueueWait  # noqa: E402,F401 - run by unittest.main
import openapi_check  # noqa: E402
import promtext  # noqa: E402
import stories_tests  # noqa: E402
from stories_tests import Stories  # noqa: E402,F401 - run by unittest.main
import ui_tests  # noqa: E402
from ui_tests import UI  # noqa: E402,F401 - run by unittest.main

BIN = None
D = None          # the shared daemon
SPEC = None       # parsed openapi.yaml
MODEL = harness.MODEL_DIR


def setUpModule():
    global D, SPEC
    SPEC = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
    D = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--max-batch", "16", "--max-queue", "256")


def tearDownModule():
    if D:
        rc = D.stop()
        assert rc == 0, "daemon exit %s\n%s" % (rc, D.log())


def checked(method, path, status, hdrs, body, stream=False):
    """Validates one response against openapi.yaml; returns body."""
    openapi_check.check_response(SPEC, method, path, status, hdrs.get("content-type", ""), body)
    return body


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def gen(body, path="/v1/generate", daemon=None, expect=200):
    d = daemon or D
    st, h, js = d.post(path, body)
    assert st == expect, (st, js)
    assert "x-request-id" in h
    checked("post", path, st, h, js)
    return js


class Routes(unittest.TestCase):
    def test_health_ready_models(self):
        for path in ("/health", "/ready", "/v1/models"):
            st, h, js = D.get(path)
            self.assertEqual(st, 200, path)
            checked("get", path, st, h, js)
        st, h, js = D.get("/v1/models")
        m = js["data"][0]
        self.assertEqual(m["family"], "gpt2")
        self.assertEqual(m["task"], "generate")
        self.assertEqual(m["max_length"], 256)
        self.assertGreater(m["parameters"], 0)
        self.assertIn(m["dtype"], ("int8", "fp32"))
        # kv_cache_dtype auto: fp16 cache with int8 weights, fp32 with fp32
        self.assertEqual(m["kv_cache_dtype"], "f16" if m["dtype"] == "int8" else "f32")

    def test_request_id_is_echoed_or_made(self):
        st, h, _ = D.get("/health", headers={"X-Request-Id": "my-trace-42"})
        self.assertEqual(h["x-request-id"], "my-trace-42")
        st, h1, _ = D.get("/health")
        st, h2, _ = D.get("/health")
        self.assertNotEqual(h1["x-request-id"], h2["x-request-id"])
        self.assertTrue(D.wait_log("id=my-trace-42 method=GET path=/health status=200"))

    def test_generate_shape_and_determinism(self):
        body = {"prompt": "Hello, world", "max_new_tokens": 12, "seed": 7}
        a = gen(body)
        b = gen(body)
        self.assertEqual(a["generated_text"], b["generated_text"])
        self.assertEqual(a["usage"]["prompt_tokens"], len("Hello, world".encode()))  # byte vocabulary
        self.assertLessEqual(a["usage"]["completion_tokens"], 12)
        self.assertIn(a["finish_reason"], ("stop", "length"))
        for k in ("queue_ms", "prefill_ms", "decode_ms"):
            self.assertGreaterEqual(a["timings"][k], 0)
        # Sampling: same seed, same text; the seed matters.
        s = dict(body, temperature=1.0, top_k=50, top_p=0.95, repetition_penalty=1.1)
        texts = {gen(dict(s, seed=k))["generated_text"] for k in range(6)}
        self.assertEqual(gen(dict(s, seed=3))["generated_text"], gen(dict(s, seed=3))["generated_text"])
        self.assertGreater(len(texts), 1)

    def test_logprobs(self):
        js = gen({"prompt": "abc", "max_new_tokens": 5, "logprobs": True})
        self.assertEqual(len(js["tokens"]), js["usage"]["completion_tokens"])
        self.assertEqual(len(js["logprobs"]), len(js["tokens"]))
        self.assertTrue(all(lp <= 0 for lp in js["logprobs"]))

    def test_stop_strings(self):
        base = gen({"prompt": "The quick brown fox", "max_new_tokens": 24})["generated_text"]
        if len(base) < 6:
            self.skipTest("greedy text too short to pick a stop string: %r" % base)
        stop = base[3:5]
        cut = base.index(stop)
        js = gen({"prompt": "The quick brown fox", "max_new_tokens": 24, "stop": [stop, "\x01never"]})
        self.assertEqual(js["generated_text"], base[:cut])
        self.assertEqual(js["finish_reason"], "stop")

    def test_stream_matches_plain(self):
        body = {"prompt": "Streaming test", "max_new_tokens": 16, "seed": 11, "temperature": 0.8}
        plain = gen(body)
        events = list(D.stream("/v1/generate", dict(body, stream=True, logprobs=True)))
        tokens = [json.loads(d) for e, d in events if e == "token"]
        done = [json.loads(d) for e, d in events if e == "done"]
        self.assertEqual(len(done), 1)
        self.assertEqual(events[-1][0], "done")
        for t in tokens:
            openapi_check.check_schema(SPEC, "StreamTokenEvent", t)
        openapi_check.check_schema(SPEC, "StreamDoneEvent", done[0])
        self.assertEqual(len(tokens), plain["usage"]["completion_tokens"])  # one event per token
        self.assertEqual([t["index"] for t in tokens], list(range(len(tokens))))
        text = "".join(t["text"] for t in tokens) + done[0]["text"]
        self.assertEqual(text, plain["generated_text"])
        self.assertEqual(done[0]["finish_reason"], plain["finish_reason"])
        self.assertEqual(done[0]["usage"], plain["usage"])

    def test_completions_openai_subset(self):
        body = {"model": None, "prompt": "Once upon", "max_tokens": 10, "temperature": 0, "seed": 1,
                "n": 1, "user": "ignored-by-design"}
        st, h, js = D.get("/v1/models")
        body["model"] = js["data"][0]["id"]
        c = gen(body, path="/v1/completions")
        self.assertEqual(c["object"], "text_completion")
        g = gen({"prompt": "Once upon", "max_new_tokens": 10})
        self.assertEqual(c["choices"][0]["text"], g["generated_text"])
        self.assertEqual(c["usage"]["total_tokens"], c["usage"]["prompt_tokens"] + c["usage"]["completion_tokens"])
        chunks = [d for e, d in D.stream("/v1/completions", dict(body, stream=True))]
        self.assertEqual(chunks[-1], "[DONE]")
        parsed = [json.loads(d) for d in chunks[:-1]]
        for p in parsed:
            openapi_check.check_schema(SPEC, "CompletionResponse", p)
        self.assertEqual("".join(p["choices"][0]["text"] for p in parsed), g["generated_text"])
        self.assertIsNotNone(parsed[-1]["choices"][0]["finish_reason"])
        self.assertEqual(parsed[-1]["usage"]["completion_tokens"], c["usage"]["completion_tokens"])
        gen(dict(body, model="no-such-model"), path="/v1/completions", expect=404)

    def test_metrics_format_and_content(self):
        gen({"prompt": "metrics", "max_new_tokens": 3})
        text = D.metrics()
        problems = promtext.check(text, prefix="transformerd_")
        self.assertEqual(problems, [])
        for name in ("transformerd_http_requests_total", "transformerd_http_request_duration_seconds",
                     "transformerd_queue_wait_seconds", "transformerd_time_to_first_token_seconds",
                     "transformerd_inter_token_latency_seconds", "transformerd_prompt_tokens_total",
                     "transformerd_generated_tokens_total", "transformerd_batch_size_sequences",
                     "transformerd_queue_depth_requests", "transformerd_running_sequences",
                     "transformerd_kv_cache_bytes", "transformerd_model_info",
                     "transformerd_process_resident_memory_bytes"):
            self.assertIn("# TYPE " + name + " ", text)
        self.assertGreaterEqual(D.metric("transformerd_http_requests_total",
                                         {"route": "/v1/generate", "status": "200"}), 1)
        self.assertGreater(D.metric("transformerd_generated_tokens_total"), 0)
        self.assertGreater(D.metric("transformerd_process_resident_memory_bytes"), 1e6)
        promtool = subprocess.run(["sh", "-c", "command -v promtool"], capture_output=True).stdout.strip()
        if promtool:
            r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        else:
            print("  (promtool not installed: checked with tests/e2e/promtext.py only)", file=sys.stderr)


class ExpositionChecker(unittest.TestCase):
    """The fallback for promtool must itself catch what promtool catches."""

    def test_checker_rejects_broken_output(self):
        good = ("# HELP transformerd_x_total X.\n# TYPE transformerd_x_total counter\ntransformerd_x_total 1\n"
                "# HELP transformerd_h_seconds H.\n# TYPE transformerd_h_seconds histogram\n"
                'transformerd_h_seconds_bucket{le="1"} 1\ntransformerd_h_seconds_bucket{le="+Inf"} 2\n'
                "transformerd_h_seconds_sum 3\ntransformerd_h_seconds_count 2\n")
        self.assertEqual(promtext.check(good, "transformerd_"), [])
        bad = [good.replace("_x_total", "_x"),                                   # counter without _total
               good.replace('le="+Inf"} 2', 'le="+Inf"} 0'),                     # not cumulative
               good.replace("_count 2", "_count 5"),                             # count != +Inf
               good.replace("# HELP transformerd_x_total X.\n", ""),            # no HELP
               good + "transformerd_x_total 2\n",                               # duplicate, wrong place
               good.replace("transformerd_x_total 1", "transformerd_x_total one"),
               good.replace("transformerd_", "other_"),                          # prefix
               good.replace('{le="1"}', '{le="1",}x')]
        for b in bad:
            self.assertNotEqual(promtext.check(b, "transformerd_"), [], b)


class Errors(unittest.TestCase):
    def err(self, method, path, body, status, etype, field=None, headers=None, daemon=None):
        d = daemon or D
        st, h, js = d.request(method, path, body, headers=headers)
        self.assertEqual(st, status, js)
        checked(method.lower(), path, st, h, js)
        self.assertEqual(js["error"]["type"], etype, js)
        if field:
            self.assertIn(field, js["error"]["message"])
        return h

    def test_400_malformed_and_wrong_types(self):
        self.err("POST", "/v1/generate", "{not json", 400, "invalid_json")
        self.err("POST", "/v1/generate", "[1,2]", 400, "invalid_json")
        self.err("POST", "/v1/generate", "", 400, "invalid_json")
        for field, value in (("prompt", 5), ("max_new_tokens", "5"), ("temperature", "hot"),
                             ("top_k", 1.5), ("top_p", [1]), ("seed", "x"), ("repetition_penalty", {}),
                             ("stop", "x"), ("stream", 1), ("logprobs", "yes")):
            body = {"prompt": "x", field: value}
            self.err("POST", "/v1/generate", json.dumps(body), 400, "invalid_field", field)
        self.err("POST", "/v1/generate", json.dumps({"prompt": "x", "bogus": 1}), 400, "invalid_field", "bogus")
        self.err("POST", "/v1/generate", json.dumps({"max_new_tokens": 3}), 400, "invalid_field", "prompt")
        self.err("POST", "/v1/completions", json.dumps({"prompt": "x", "max_tokens": "3"}), 400,
                 "invalid_field", "max_tokens")
        self.err("POST", "/v1/generate", b'{"prompt": "\xff\xfe"}', 400, "invalid_json")

    def test_404_405_413(self):
        self.err("GET", "/nope", None, 404, "not_found")
        self.err("GET", "/v1/generate/extra", None, 404, "not_found")
        self.err("POST", "/v1/generate", json.dumps({"prompt": "x", "model": "gpt-9"}), 404, "model_not_found")
        for task in ("translate", "summarize", "sentiment"):  # this daemon serves generate only
            self.err("POST", "/v1/" + task, "{}", 404, "model_not_found", task)
        h = self.err("GET", "/v1/generate", None, 405, "method_not_allowed")
        self.assertEqual(h["allow"], "POST")
        self.err("DELETE", "/health", None, 405, "method_not_allowed")
        self.err("POST", "/v1/generate", json.dumps({"prompt": "a" * (2 << 20)}), 413, "body_too_large")
        st, _, _ = D.request("HEAD", "/health", raw=True)
        self.assertEqual(st, 200)

    def test_422_too_long_and_out_of_range(self):
        self.err("POST", "/v1/generate", json.dumps({"prompt": "a" * 256}), 422, "prompt_too_long")
        gen({"prompt": "a" * 255, "max_new_tokens": 5})  # exactly fits: n_ctx - 1 prompt tokens
        for field, value in (("max_new_tokens", 0), ("max_new_tokens", 10 ** 9), ("temperature", -1),
                             ("top_p", 0), ("top_p", 1.5), ("top_k", -1), ("seed", -1),
                             ("repetition_penalty", 0), ("stop", ["x"] * 17), ("stop", [""]),
                             ("prompt", "")):
            self.err("POST", "/v1/generate", json.dumps({"prompt": "x", field: value}), 422, "out_of_range", field)
        self.err("POST", "/v1/completions", json.dumps({"prompt": "x", "temperature": 3}), 422, "out_of_range",
                 "temperature")

    def test_garbage_never_hurts(self):
        """Raw junk on sockets, half requests, huge headers: the daemon keeps answering."""
        junk = [b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /v1/generate HTTP/1.1\r\n"
                b"Content-Length: 99999999999999999999\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{\"prompt\":"]
        for j in junk:
            s = socket.create_connection(("127.0.0.1", D.port))
            try:
                s.sendall(j)
                s.settimeout(0.5)
                try:
                    s.recv(4096)
                except OSError:
                    pass
            finally:
                s.close()
        st, _, _ = D.get("/health")
        self.assertEqual(st, 200)
        gen({"prompt": "still fine", "max_new_tokens": 2})


class Fuzz(unittest.TestCase):
    def test_mutated_bodies_get_documented_answers(self):
        """Deterministic byte and value mutations of valid requests: every answer is a
        documented status with a schema-valid body, and the daemon keeps serving."""
        import random
        rng = random.Random(1234)
        seeds = [json.dumps({"prompt": "fuzz me", "max_new_tokens": 4, "temperature": 0.5, "top_k": 3,
                             "top_p": 0.9, "seed": 1, "repetition_penalty": 1.1, "stop": ["zz"]}),
                 json.dumps({"prompt": "hi", "max_tokens": 3, "stop": "q", "model": None})]
        values = [None, True, -1, 0, 1e308, -1e308, 2 ** 63, "", "\u0000", [], {}, [[]], "x" * 300, 0.5]
        for i in range(150):
            path = "/v1/generate" if i % 2 == 0 else "/v1/completions"
            body = seeds[i % 2]
            if i % 3 == 0:
                b = bytearray(body.encode())
                for _ in range(rng.randint(1, 4)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                data = bytes(b)
            else:
                obj = json.loads(body)
                key = rng.choice(list(obj) + ["extra"])
                obj[key] = rng.choice(values)
                data = json.dumps(obj).encode()
            st, h, js = D.request("POST", path, data, timeout=30)
            self.assertIn(st, (200, 400, 404, 422), (data, st, js))
            checked("post", path, st, h, js)
        self.assertEqual(D.get("/health")[0], 200)


class Auth(unittest.TestCase):
    def test_api_keys(self):
        with tempfile.NamedTemporaryFile("w", suffix=".keys", delete=False) as f:
            f.write("# comment\nsecret-one\nsecret-two\n")
        try:
            d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--api-key-file", f.name,
                               "--open-routes", "/health,/metrics")
            try:
                e = Errors()
                e.err("POST", "/v1/generate", json.dumps({"prompt": "x"}), 401, "unauthorized", daemon=d)
                h = e.err("GET", "/v1/models", None, 401, "unauthorized", daemon=d,
                          headers={"Authorization": "Bearer secret-three"})
                self.assertEqual(h.get("www-authenticate"), "Bearer")
                e.err("GET", "/ready", None, 401, "unauthorized", daemon=d, headers={"Authorization": "secret-one"})
                self.assertEqual(d.get("/health")[0], 200)
                self.assertEqual(d.get("/metrics")[0], 200)
                self.assertEqual(d.get("/ready", headers={"Authorization": "Bearer secret-two"})[0], 200)
                st, _, js = d.post("/v1/generate", {"prompt": "x", "max_new_tokens": 2},
                                   headers={"Authorization": "Bearer secret-one"})
                self.assertEqual(st, 200, js)
                # --open-routes replaced the default, so the viewer page needs a key here
                self.assertEqual(d.get("/ui/attention")[0], 401)
            finally:
                self.assertEqual(d.stop(), 0)
            # with the default open routes the viewer page (no secrets) opens without a key
            d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--api-key-file", f.name)
            try:
                self.assertEqual(d.get("/ui/attention")[0], 200)
                self.assertEqual(d.get("/v1/models")[0], 401)
            finally:
                self.assertEqual(d.stop(), 0)
        finally:
            os.unlink(f.name)


class Concurrency(unittest.TestCase):
    def test_64_concurrent_clients_match_sequential(self):
        reqs = [{"prompt": "client %d says" % i, "max_new_tokens": 8 + i % 9, "seed": i,
                 "temperature": 0.0 if i % 2 else 0.9} for i in range(64)]
        want = [gen(r)["generated_text"] for r in reqs]
        got = [None] * 64
        errs = []

        def client(i):
            try:
                st, _, js = D.post("/v1/generate", reqs[i], timeout=120)
                got[i] = js.get("generated_text") if st == 200 else ("HTTP %d %s" % (st, js))
            except Exception as ex:  # noqa: BLE001 - reported below
                errs.append(repr(ex))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errs, [])
        mismatches = [(i, want[i], got[i]) for i in range(64) if want[i] != got[i]]
        self.assertEqual(mismatches, [])
        # The batcher really batched: some step advanced more than one sequence.
        text = D.metrics()
        le1 = D.metric("transformerd_batch_size_sequences_bucket", {"le": "1"})
        total = D.metric("transformerd_batch_size_sequences_count")
        self.assertGreater(total, le1, text)

    def test_queue_full_is_429(self):
        d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--max-batch", "1", "--max-queue", "1")
        try:
            results = []
            lock = threading.Lock()

            def client():
                st, h, js = d.post("/v1/generate", {"prompt": "q", "max_new_tokens": 200})
                with lock:
                    results.append((st, h, js))

            threads = [threading.Thread(target=client) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            codes = sorted(r[0] for r in results)
            self.assertIn(429, codes)
            self.assertIn(200, codes)
            for st, h, js in results:
                checked("post", "/v1/generate", st, h, js)
                if st == 429:
                    self.assertEqual(js["error"]["type"], "queue_full")
                    self.assertEqual(h.get("retry-after"), "1")
        finally:
            self.assertEqual(d.stop(), 0)


class Cancellation(unittest.TestCase):
    def wait_idle(self, d, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if d.metric("transformerd_running_sequences") == 0 and d.metric("transformerd_queue_depth_requests") == 0:
                return True
            time.sleep(0.05)
        return False

    def test_disconnect_cancels_stream_and_plain(self):
        # The slower model: 250 tokens take well over the 20 ms before the client hangs up.
        d = harness.Daemon(BIN, "--model", "generate=" + harness.slow_model(BIN))
        try:
            before = d.metric("transformerd_cancelled_requests_total", {"reason": "client_disconnect"})
            # Streaming: read two events, then hang up.
            c = d.conn()
            c.request("POST", "/v1/generate", body=json.dumps({"prompt": "s", "max_new_tokens": 250,
                                                               "stream": True}))
            r = c.getresponse()
            seen = 0
            while seen < 2:
                if r.readline().startswith(b"event: token"):
                    seen += 1
            c.sock.shutdown(socket.SHUT_RDWR)
            c.close()
            # Plain: send the request and hang up without reading.
            s = socket.create_connection(("127.0.0.1", d.port))
            body = json.dumps({"prompt": "p", "max_new_tokens": 250}).encode()
            s.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            time.sleep(0.02)
            s.close()
            deadline = time.time() + 10
            while time.time() < deadline:
                n = d.metric("transformerd_cancelled_requests_total", {"reason": "client_disconnect"})
                if n >= before + 2:
                    break
                time.sleep(0.05)
            self.assertEqual(n, before + 2)
            self.assertTrue(self.wait_idle(d))
            self.assertEqual(d.metric("transformerd_kv_cache_bytes"), 0)
            self.assertEqual(d.get("/health")[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)


class Deploy(unittest.TestCase):
    def test_systemd_unit_verifies(self):
        tool = subprocess.run(["sh", "-c", "command -v systemd-analyze"], capture_output=True).stdout.strip()
        if not tool:
            self.skipTest("systemd-analyze not installed")
        with open(os.path.join(harness.ROOT, "systemd", "transformerd.service")) as f:
            unit = f.read()
        self.assertIn("DynamicUser=yes", unit)
        for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "RestrictAddressFamilies=",
                    "SystemCallFilter=", "Restart=on-failure", "KillSignal=SIGTERM"):
            self.assertIn(key, unit)
        # verify checks that ExecStart exists: point it at the binary under test.
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "transformerd.service")
        with open(path, "w") as f:
            f.write(unit.replace("/usr/local/bin/transformerd", BIN))
        r = subprocess.run([tool, "verify", path], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), b"", r.stderr)


class MatchesCli(unittest.TestCase):
    def test_outputs_equal_cli_for_same_seed(self):
        cases = [("The meaning of life is", 20, 0.0, 0, []), ("Once upon a time", 16, 0.9, 42, []),
                 ("abc", 24, 1.2, 7, ["--top-k", "40", "--top-p", "0.9", "--repetition-penalty", "1.3"])]
        for prompt, n, temp, seed, extra in cases:
            r = subprocess.run([BIN, "generate", "--model", MODEL, "--prompt", prompt, "--max-new-tokens", str(n),
                                "--temperature", str(temp), "--seed", str(seed), "--json"] + extra,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            cli = json.loads(r.stdout)
            body = {"prompt": prompt, "max_new_tokens": n, "temperature": temp, "seed": seed, "logprobs": True}
            for flag, field, conv in (("--top-k", "top_k", int), ("--top-p", "top_p", float),
                                      ("--repetition-penalty", "repetition_penalty", float)):
                if flag in extra:
                    body[field] = conv(extra[extra.index(flag) + 1])
            js = gen(body)
            self.assertEqual(js["tokens"], cli["token_ids"], prompt)
            self.assertEqual(js["generated_text"], cli["text"], prompt)
            self.assertEqual(js["finish_reason"], cli["finish_reason"], prompt)


def main():
    global BIN
    if len(sys.argv) < 2:
        print("usage: test_serve.py BINARY [unittest args]", file=sys.stderr)
        return 2
    BIN = os.path.abspath(sys.argv[1])
    lifecycle_tests.BIN = BIN
    kv_budget_tests.BIN = BIN
    hostile_tests.BIN = BIN
    attention_tests.BIN = BIN
    attention_full_tests.BIN = BIN
    sentiment_tests.BIN = BIN
    stories_tests.BIN = BIN
    ui_tests.BIN = BIN
    prog = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
