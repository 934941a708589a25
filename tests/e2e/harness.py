"""Shared helpers for the end-to-end tests: start the real daemon, talk HTTP.

Standard library only. The daemon is started on 127.0.0.1 port 0 and the port
is read from its "listening on ... port N" log line, so parallel runs never
collide on a port.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_DIR = os.path.join(ROOT, "tests", "fixtures", "e2e-gpt2")


def slow_model(binary):
    """A bigger random GPT-2 (6 layers, n_embd 512, byte vocabulary; about 1 s for 120
    tokens) so lifecycle tests have work genuinely in flight. Made by the build's
    tools/mkgpt2 next to the binary, into BUILD/e2e/, never committed."""
    build = os.path.dirname(os.path.abspath(binary))
    out = os.path.join(build, "e2e", "slow-gpt2")
    if not os.path.exists(os.path.join(out, "model.safetensors")):
        tool = os.path.join(build, "tools", "mkgpt2")
        os.makedirs(out, exist_ok=True)
        subprocess.run([tool, "--out", out, "--n-layer", "6", "--n-embd", "512", "--n-head", "8",
                        "--n-positions", "512", "--vocab", "257", "--tokenizer-from", MODEL_DIR],
                       check=True, stdout=subprocess.DEVNULL)
    return out


class Daemon:
    def __init__(self, binary, *args, env=None, start_timeout=30):
        self.binary = binary
        cmd = [binary, "serve", "--listen", "127.0.0.1:0"] + list(args)
        self.cmd = cmd
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
        self.lines = []
        self.port = None
        self._cv = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.time() + start_timeout
        with self._cv:
            while self.port is None:
                if self.proc.poll() is not None:
                    raise RuntimeError("daemon exited %s:\n%s" % (self.proc.returncode, "".join(self.lines)))
                left = deadline - time.time()
                if left <= 0:
                    self.kill()
                    raise RuntimeError("daemon did not start:\n" + "".join(self.lines))
                self._cv.wait(min(left, 0.2))

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            with self._cv:
                self.lines.append(line)
                m = re.search(r"listening on \S+ port (\d+)", line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                self._cv.notify_all()

    def log(self):
        with self._cv:
            return "".join(self.lines)

    def wait_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        with self._cv:
            while not re.search(pattern, "".join(self.lines)):
                left = deadline - time.time()
                if left <= 0:
                    return False
                self._cv.wait(min(left, 0.2))
        return True

    def conn(self, timeout=60):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=60, raw=False):
        """Returns (status, headers dict lower-cased, parsed JSON or text)."""
        c = self.conn(timeout)
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        if raw:
            return r.status, hdrs, data
        ctype = hdrs.get("content-type", "")
        if ctype.startswith("application/json"):
            return r.status, hdrs, json.loads(data)
        return r.status, hdrs, data.decode("utf-8", "replace")

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def stream(self, path, body, headers=None, timeout=60):
        """Posts and yields (event, data) pairs from a text/event-stream response."""
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request("POST", path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        assert r.status == 200, (r.status, r.read())
        assert r.getheader("Content-Type", "").startswith("text/event-stream")
        event, data = None, []
        while True:
            line = r.readline()
            if not line:
                break
            line = line.decode("utf-8").rstrip("\r\n")
            if line == "":
                if data:
                    yield event, "\n".join(data)
                event, data = None, []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        c.close()

    def metrics(self):
        st, _, text = self.get("/metrics")
        assert st == 200
        return text

    def metric(self, name, labels=None):
        """Value of one sample (labels: dict that must match exactly), 0 if absent. With no
        labels and no unlabelled sample, the sum over every series of the name (the
        per-model gauges: queue depth, running sequences, KV cache bytes)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            if (labels or {}) == got:
                return float(m.group(4))
            if labels is None:
                total += float(m.group(4))
        return total

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        rc = self.proc.wait(timeout)
        self._close()
        return rc

    def _close(self):
        self._reader.join(5)
        if self.proc.stderr and not self._reader.is_alive():
            self.proc.stderr.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            self._close()
            return rc
        self._close()
        return self.proc.returncode
