"""End-to-end lifecycle tests of `transformerd serve`: drain on SIGTERM/SIGINT with work
in flight, the drain deadline, SIGHUP log reopening with config file + environment +
flags, start-up errors. Run through test_serve.py, which sets BIN."""
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import harness

BIN = None
MODEL = harness.MODEL_DIR


def read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class Lifecycle(unittest.TestCase):
    def test_sigterm_drains_in_flight_work(self):
        d = harness.Daemon(BIN, "--model", "generate=" + harness.slow_model(BIN), "--max-batch", "4",
                           "--drain-timeout-ms", "30000")
        results = []
        lock = threading.Lock()

        def client(i, stream):
            body = {"prompt": "drain %d" % i, "max_new_tokens": 120, "seed": i}
            try:
                if stream:
                    ev = list(d.stream("/v1/generate", dict(body, stream=True), timeout=60))
                    res = ("stream", ev[-1][0], json.loads(ev[-1][1]).get("usage", {}).get("completion_tokens"))
                else:
                    st, _, js = d.post("/v1/generate", body, timeout=60)
                    res = ("plain", st, js.get("usage", {}).get("completion_tokens") if st == 200 else js)
            except Exception as ex:  # noqa: BLE001
                res = ("error", repr(ex), None)
            with lock:
                results.append(res)

        threads = [threading.Thread(target=client, args=(i, i % 3 == 0)) for i in range(10)]
        for t in threads:
            t.start()
        # Wait until all ten are admitted (four running, six queued), then ask for shutdown.
        deadline = time.time() + 10
        while time.time() < deadline and (d.metric("transformerd_running_sequences") +
                                          d.metric("transformerd_queue_depth_requests")) < 10:
            time.sleep(0.01)
        self.assertEqual(d.metric("transformerd_running_sequences"), 4)
        self.assertEqual(d.metric("transformerd_queue_depth_requests"), 6)
        d.signal(signal.SIGTERM)
        time.sleep(0.05)
        try:
            st, h, js = d.get("/ready", timeout=5)
            self.assertEqual(st, 503)
            self.assertEqual(js["error"]["type"], "draining")
            st, h, js = d.post("/v1/generate", {"prompt": "late"}, timeout=5)
            self.assertEqual(st, 503)
            self.assertEqual(js["error"]["type"], "draining")
            self.assertEqual(d.get("/health", timeout=5)[0], 200)
        except (ConnectionError, OSError):
            pass  # the drain may already be over on a fast machine
        for t in threads:
            t.join()
        self.assertEqual(d.wait(30), 0)
        self.assertEqual(len(results), 10)
        for kind, status, n in results:
            self.assertIn(kind, ("plain", "stream"), results)
            self.assertIn(status, (200, "done"), results)
            self.assertGreater(n, 0)
        self.assertIn("drained; stopping", d.log())

    def test_drain_deadline_fails_leftovers_and_exits_0(self):
        d = harness.Daemon(BIN, "--model", "generate=" + harness.slow_model(BIN), "--max-batch", "1",
                           "--drain-timeout-ms", "100")
        out = []

        def client():
            out.append(d.post("/v1/generate", {"prompt": "x", "max_new_tokens": 255}, timeout=30)[0])
        ts = [threading.Thread(target=client) for _ in range(3)]
        for t in ts:
            t.start()
        deadline = time.time() + 10
        while time.time() < deadline and (d.metric("transformerd_running_sequences") +
                                          d.metric("transformerd_queue_depth_requests")) < 3:
            time.sleep(0.01)
        d.signal(signal.SIGINT)
        for t in ts:
            t.join()
        self.assertEqual(d.wait(30), 0)
        # max_batch 1: the running request may just make it, but the two queued ones need
        # 255 tokens each (>= 1 ms per token on this model), far more than the deadline.
        self.assertEqual(len(out), 3)
        self.assertTrue(all(s in (200, 503) for s in out), out)
        self.assertGreaterEqual(out.count(503), 2, d.log())

    def test_sighup_reopens_log_and_config_sources(self):
        tmp = tempfile.mkdtemp()
        log = os.path.join(tmp, "td.log")
        conf = os.path.join(tmp, "td.conf")
        with open(conf, "w") as f:
            f.write("model = generate=%s\nlog_file = %s\nmax_batch = 3\n" % (MODEL, log))
        # Config file + environment + flags together (the flag wins over the file's log_file).
        d = harness.Daemon(BIN, "--config", conf, "--log-file", "", env={"TRANSFORMERD_MAX_QUEUE": "5"})
        try:
            self.assertEqual(d.get("/health")[0], 200)
        finally:
            self.assertEqual(d.stop(), 0)
        # Now with the file: find the port from the file.
        p = subprocess.Popen([BIN, "serve", "--config", conf, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = None
            deadline = time.time() + 20
            while port is None and time.time() < deadline:
                time.sleep(0.05)
                if os.path.exists(log):
                    m = re.search(r"listening on \S+ port (\d+)", read(log))
                    port = int(m.group(1)) if m else None
            self.assertIsNotNone(port)
            os.rename(log, log + ".1")
            p.send_signal(signal.SIGHUP)
            deadline = time.time() + 5
            while not os.path.exists(log) and time.time() < deadline:
                time.sleep(0.02)
            import http.client
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/health")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
            time.sleep(0.1)
            self.assertIn("path=/health status=200", read(log))
            self.assertNotIn("path=/health", read(log + ".1"))
        finally:
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(30), 0)

    def test_startup_errors(self):
        for args, msg in ((["--model", "chat=" + MODEL], "unknown task"),
                          (["--model", "translate=" + MODEL], "cannot do task 'translate'"),
                          (["--model", "generate=/nonexistent/dir"], "/nonexistent/dir"),
                          (["--dtype", "fp16"], "dtype"),
                          (["--kv-cache-dtype", "bf16"], "kv_cache_dtype"),
                          (["--max-batch", "0"], "max_batch must be between")):
            r = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0"] + args, capture_output=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn(msg, r.stderr.decode(), args)
        r = subprocess.run([BIN, "serve", "--help"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"--max-batched-tokens", r.stdout)
