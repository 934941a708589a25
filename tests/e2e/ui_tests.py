"""End-to-end tests of the attention viewer page, GET /ui/attention (issue #8 item 5).
Run by test_serve.py, which sets BIN. The headless-browser test needs Debian's
`chromium` (/usr/bin/chromium; deploy/install-deps.sh installs it for `make test`) and
skips with a message when it is absent. Its screenshots go to BUILD/test-output/."""
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
BERT = os.path.join(harness.ROOT, "tests", "fixtures", "tiny-bert-3class")
T5 = os.path.join(harness.ROOT, "tests", "fixtures", "tiny-t5-untied")
# T5-only thresholds no ordinary answer meets, so the page must show the two T5 kinds
# (GPT-2 and BERT are never judged on them): nothing is covered at 1000/n_src, and any
# repeated step is too many.
T5_CRAFT = ["--attn-coverage-weight", "1000", "--attn-repeat-max", "0"]
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
        cls.d = harness.Daemon(BIN, "--model", "generate=" + MODEL, "--model", "sentiment=" + BERT,
                               "--model", "translate=" + T5, "--model", "summarize=" + T5, *T5_CRAFT)

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
        self.assertIn("/v1/sentiment", text)
        self.assertIn("/v1/models", text)
        self.assertIn('"full"', text)
        self.assertIn("data-heatmaps", text)
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

    def browse(self, query, name):
        """Loads the page in headless Chromium with `query`, lets it submit and draw, and
        returns (the DOM after the scripts ran, the screenshot's path)."""
        out_dir = os.path.join(os.path.dirname(os.path.abspath(BIN)), "test-output")
        os.makedirs(out_dir, exist_ok=True)
        shot = os.path.join(out_dir, name)
        if os.path.exists(shot):
            os.remove(shot)
        tmp = tempfile.mkdtemp(prefix="tf-ui-")
        url = "http://127.0.0.1:%d/ui/attention?%s" % (self.d.port, query)
        # --virtual-time-budget lets the page's fetches and drawing finish before the DOM
        # is dumped and the screenshot taken (both from one page load).
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=" + os.path.join(tmp, "profile"), "--screenshot=" + shot,
               "--window-size=1000,1300", "--virtual-time-budget=15000", "--dump-dom", url]
        r = subprocess.run(cmd, capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
        self.assertTrue(os.path.exists(shot), "no screenshot; chromium rc %d:\n%s" % (r.returncode, r.stderr[-2000:]))
        print("\nui headless screenshot: %s (%d bytes)" % (shot, os.path.getsize(shot)))
        return r.stdout.decode("utf-8", "replace"), shot

    def check_rendered(self, dom, shot, n_tokens, causal, n_keys=None, n_maps=3):
        body = re.search(r"<body([^>]*)>", dom).group(1)
        self.assertIn('data-rendered="1"', body, dom[-3000:])
        # the query x key heatmap and the layer x head heatmaps (two; T5 four)
        self.assertIn('data-heatmaps="%d"' % n_maps, body)
        m = re.search(r'id="full"[^>]*data-cells="(\d+)"|data-cells="(\d+)"[^>]*id="full"', dom)
        self.assertIsNotNone(m, "the weights heatmap reports no cells")
        cells = int(m.group(1) or m.group(2))
        want = n_tokens * (n_tokens + 1) // 2 if causal else n_tokens * (n_keys or n_tokens)
        self.assertEqual(cells, want)
        self.assertGreater(os.path.getsize(shot), 5000)
        self.assertGreater(colorful_pixels(shot), 5000)

    def test_headless_render(self):
        if not os.access(CHROMIUM, os.X_OK):
            print("\nSKIP ui headless render: %s is not installed (apt-get install chromium)" % CHROMIUM)
            self.skipTest("chromium absent")
        # generate: the page asks for full weights; the same request here says how many
        # positions the heatmap has (greedy decoding gives the same tokens).
        before = self.d.metric("transformerd_http_requests_total", {"route": "/v1/generate", "status": "200"}) or 0
        dom, shot = self.browse("prompt=Hello&tokens=12&auto=1", "ui-attention-generate.png")
        after = self.d.metric("transformerd_http_requests_total", {"route": "/v1/generate", "status": "200"})
        self.assertEqual(after, before + 1)
        st, _, js = self.d.post("/v1/generate", {"prompt": "Hello", "max_new_tokens": 12, "return_attention": "full"})
        self.assertEqual(st, 200, js)
        self.check_rendered(dom, shot, len(js["attention"]["full"]["tokens"]), True)
        self.assertIn("Hello", dom)
        # sentiment: the same page on an encoder, one square matrix
        dom, shot = self.browse("prompt=a%20gorgeous%20witty%20movie&task=sentiment&auto=1",
                                "ui-attention-sentiment.png")
        st, _, js = self.d.post("/v1/sentiment", {"text": "a gorgeous witty movie", "return_attention": "summary"})
        self.assertEqual(st, 200, js)
        st, _, full = self.d.post("/v1/sentiment", {"text": "a gorgeous witty movie", "return_attention": "full",
                                                    "attention_layers": [0], "attention_heads": [0]})
        self.check_rendered(dom, shot, len(full["results"][0]["attention"]["full"]["tokens"]), False)
        self.assertIn(js["results"][0]["label"], dom)

    def test_headless_render_translate_summarize(self):
        if not os.access(CHROMIUM, os.X_OK):
            print("\nSKIP ui headless render: %s is not installed (apt-get install chromium)" % CHROMIUM)
            self.skipTest("chromium absent")
        for task, text in (("translate", "the cat sees the dog and runs"), ("summarize", "the cat sees the dog and runs")):
            dom, shot = self.browse("prompt=%s&task=%s&tokens=8&auto=1" % (text.replace(" ", "%20"), task),
                                    "ui-attention-%s.png" % task)
            # the page asks for full weights with the task's own decoding (summarize: 4 beams,
            # the answer's rows); the same request here gives the shape
            body = {"text": text, "max_new_tokens": 8, "return_attention": "full"}
            if task == "translate":
                body["target_lang"] = "de"
            st, _, js = self.d.post("/v1/" + task, body)
            self.assertEqual(st, 200, js)
            d = js["details"][0]
            full = d["attention"]["full"]
            # the default view is the cross-attention: target tokens down, source tokens across
            self.assertRegex(dom, r'<canvas id="full"[^>]*data-kind="cross"')
            self.check_rendered(dom, shot, len(full["target_tokens"]), False, len(full["source_tokens"]), n_maps=5)
            self.assertIn("Weights of layer 0, head 0 (cross: target down, source across)", dom)
            self.assertIn((js.get("translations") or js["summaries"])[0], dom)
            # the flags of the answer are shown; the summary (8 steps) has both T5 kinds
            if task == "summarize":
                self.assertEqual(sorted(d["attention_flags"]), ["low_source_coverage", "repeated_focus"], d)
            for f in d["attention_flags"]:
                self.assertIn('<span class="flag">%s</span>' % f, dom)
