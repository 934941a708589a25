"""End-to-end tests of the attention viewer page, GET /ui/attention (issue #8 item 5).
Run by test_serve.py, which sets BIN. The headless-browser test needs Debian's
`chromium` (/usr/bin/chromium) and skips with a message when it is absent."""
import os
import re
import shutil
import struct
import subprocess
import tempfile
import unittest
import zlib

import harness
import openapi_check

BIN = None
MODEL = harness.MODEL_DIR
PAGE = os.path.join(harness.ROOT, "server", "ui", "attention.html")
CHROMIUM = "/usr/bin/chromium"


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes): (w, h, rows of bytes, bpp)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, rows, bpp


def colorful_pixels(path):
    """Pixels far from grey: the page's text and form are grey/black, only the heatmaps
    and their legends are saturated."""
    w, h, rows, bpp = png_pixels(path)
    n = 0
    for row in rows:
        for x in range(w):
            r, g, b = row[x * bpp:x * bpp + 3]
            if max(r, g, b) - min(r, g, b) > 60:
                n += 1
    return n


class UI(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "generate=" + MODEL)

    @classmethod
    def tearDownClass(cls):
        assert cls.d.stop() == 0, cls.d.log()

    def test_page_served_self_contained(self):
        st, h, body = self.d.request("GET", "/ui/attention", raw=True)
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/html"), h["content-type"])
        openapi_check.check_response(self.spec, "get", "/ui/attention", st, h["content-type"], body)
        # The embedded bytes are the file's bytes, nothing more.
        with open(PAGE, "rb") as f:
            self.assertEqual(body, f.read())
        text = body.decode("utf-8")
        self.assertIn("<canvas", text)
        self.assertIn("<script", text)
        self.assertIn("/v1/generate", text)
        self.assertIn("/v1/models", text)
        self.assertIn('"summary"', text)
        self.assertIsNone(re.search(r"https?://", text, re.I), "the page must not reference external assets")
        self.assertIsNone(re.search(r"""(src|href)\s*=\s*["']?//""", text, re.I), "protocol-relative reference")

    def test_query_head_and_method(self):
        st, h, body = self.d.request("GET", "/ui/attention?prompt=Hello&auto=1", raw=True)
        self.assertEqual(st, 200)
        self.assertIn(b"<canvas", body)
        st, h, body = self.d.request("HEAD", "/ui/attention", raw=True)
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/html"))
        st, h, js = self.d.post("/ui/attention", {})
        self.assertEqual(st, 405)
        openapi_check.check_response(self.spec, "post", "/ui/attention", st, h.get("content-type", ""), js)

    def test_headless_render(self):
        if not os.access(CHROMIUM, os.X_OK):
            print("\nSKIP ui headless render: %s is not installed (apt-get install chromium)" % CHROMIUM)
            self.skipTest("chromium absent")
        before = self.d.metric("transformerd_http_requests_total", {"route": "/v1/generate", "status": "200"}) or 0
        tmp = tempfile.mkdtemp(prefix="tf-ui-")
        out = os.path.join(tmp, "attention.png")
        url = "http://127.0.0.1:%d/ui/attention?prompt=Hello&auto=1" % self.d.port
        # --virtual-time-budget lets the page's fetches finish before the screenshot.
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=" + os.path.join(tmp, "profile"), "--screenshot=" + out,
               "--window-size=1000,800", "--virtual-time-budget=15000", url]
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        shutil.rmtree(os.path.join(tmp, "profile"), ignore_errors=True)
        self.assertTrue(os.path.exists(out), "no screenshot; chromium rc %d:\n%s" % (r.returncode, r.stderr[-2000:]))
        size = os.path.getsize(out)
        print("\nui headless screenshot: %s (%d bytes)" % (out, size))
        self.assertGreater(size, 5000)
        # The page asked for a summary, and the heatmaps were drawn.
        after = self.d.metric("transformerd_http_requests_total", {"route": "/v1/generate", "status": "200"})
        self.assertEqual(after, before + 1)
        self.assertGreater(colorful_pixels(out), 5000)
