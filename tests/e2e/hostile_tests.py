"""Hostile input against every route of the daemon serving the bundled models (GPT-2, T5,
DistilBERT): malformed JSON, a wrong type for every field, values just outside (and at)
every documented bound, odd strings, odd attention lists, wrong methods and paths, odd
framing (Content-Encoding, chunked, over the size limit, Expect: 100-continue, broken
Content-Length), clients that leave mid-request and mid-stream, many clients at once, and
seeded random mutations. Every refusal must be the documented status (openapi.yaml, read
for the fields and bounds) with the {"error": {"type", "message"}} body; afterwards the
daemon still answers, a greedy generation running alongside gets the same text as alone,
and no sequence is left behind.
Run by test_serve.py, which sets BIN; `make asan-test` runs it against the ASan/UBSan
build, where the daemon must also exit cleanly with no sanitizer report. Inputs come from
random.Random(SEED), so every run sends the same bytes."""
import json
import os
import random
import re
import socket
import threading
import time
import unittest

import harness
import openapi_check

BIN = None
SEED = 20261123
BUNDLED = os.path.join(harness.ROOT, "models", "bundled")
GPT2, T5, BERT = (os.path.join(BUNDLED, d) for d in ("gpt2-tinystories", "t5-multi30k-scitldr", "distilbert-sst2"))
MAX_BODY = 65536      # --max-body-bytes: small, so over-limit bodies are cheap to send
MAX_NEW = 32          # --max-new-tokens
MAX_TEXTS = 8         # --sentiment-max-texts

# Each POST route: its request schema and a small valid body (one new token where it applies).
POST_ROUTES = {
    "/v1/generate": ("GenerateRequest", {"prompt": "Once upon a time", "max_new_tokens": 1}),
    "/v1/completions": ("CompletionRequest", {"prompt": "Once upon a time", "max_tokens": 1}),
    "/v1/translate": ("TranslateRequest", {"text": "A dog runs.", "max_new_tokens": 1}),
    "/v1/summarize": ("SummarizeRequest", {"text": "We propose a method.", "max_new_tokens": 1}),
    "/v1/sentiment": ("SentimentRequest", {"text": "a fine film"}),
}
GET_ROUTES = ["/health", "/ready", "/metrics", "/v1/models", "/ui/attention"]
SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")

# One value of each JSON type; a field gets every one its schema does not allow.
TYPE_SAMPLES = {"integer": 7, "number": 1.5, "string": "x", "boolean": True, "array": [], "object": {}}


def accepted_types(spec, schema):
    """The JSON types a property schema allows, and its item schema if it allows arrays."""
    schema = openapi_check._resolve(spec, schema)
    types, items = set(), None
    for alt in schema.get("oneOf", [schema]):
        alt = openapi_check._resolve(spec, alt)
        t = alt.get("type")
        for x in (t if isinstance(t, list) else [t] if t else []):
            types.add(x)
            if x == "array":
                items = alt.get("items")
    if "number" in types:
        types.add("integer")
    return types, items


def wrong_values(spec, schema):
    types, items = accepted_types(spec, schema)
    out = [v for t, v in TYPE_SAMPLES.items() if t not in types]
    if items is not None:  # an array of the wrong element type
        itypes, _ = accepted_types(spec, items)
        out += [[v] for t, v in TYPE_SAMPLES.items() if t not in itypes and t != "array"]
    return out


def outside_values(field, schema):
    """(value, status) pairs just outside a property's documented bounds, and values at the
    bounds. By the API's rule (openapi.yaml, info) a value of the right type that breaks a
    limit is 422, empty strings and lists included, except more texts than a route takes
    in one request: 413."""
    t = schema.get("type")
    types = set(t if isinstance(t, list) else [t])
    bad, edge = [], []
    if types & {"integer", "number"}:
        step = 1 if "number" not in types else 0.5
        if "minimum" in schema:
            bad.append((schema["minimum"] - step, 422))
            edge.append(schema["minimum"])
        if "maximum" in schema:
            bad.append((schema["maximum"] + step, 422))
            edge.append(schema["maximum"])
        if "exclusiveMinimum" in schema:
            bad += [(schema["exclusiveMinimum"], 422), (-1e308, 422)]
    if "array" in types:
        items = schema.get("items", {})
        if "minItems" in schema:
            bad.append(([], 422))
        if "maxItems" in schema:
            bad.append((["ab"] * (schema["maxItems"] + 1), 413 if field == "texts" else 422))
        if items.get("minLength"):
            bad.append(([""], 422))
        if "maxLength" in items:
            bad.append((["\u00e9" * (items["maxLength"] // 2 + 1)], 422))  # over the bound in bytes
            edge.append(["\u00e9" * (items["maxLength"] // 2)])
        if items.get("minimum") == 0:
            bad.append(([-1], 422))
            edge.append([0])
    if "string" in types and schema.get("minLength"):
        bad.append(("", 422))
    if "string" in types and "maxLength" in schema:
        bad.append(("d" * (schema["maxLength"] + 1), 422))
    return bad, edge


def raw_exchange(port, data, wait=3.0):
    """Sends bytes, returns what came back before the server closed (or wait passed)."""
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(data)
        s.settimeout(wait)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except OSError:
            pass
        return out
    finally:
        s.close()


def parse_raw(out):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else None
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def chunked(data, size):
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
                    for i in range(0, len(data), size)) + b"0\r\n\r\n"


@unittest.skipUnless(all(os.path.isfile(os.path.join(d, "config.json")) for d in (GPT2, T5, BERT)),
                     "bundled models: %s is incomplete" % BUNDLED)
class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = openapi_check.load(os.path.join(harness.ROOT, "openapi.yaml"))
        cls.d = harness.Daemon(BIN, "--model", "generate=" + GPT2, "--model", "translate=" + T5,
                               "--model", "summarize=" + T5, "--model", "sentiment=" + BERT,
                               "--max-body-bytes", str(MAX_BODY), "--max-new-tokens", str(MAX_NEW),
                               "--sentiment-max-texts", str(MAX_TEXTS))
        cls.port = cls.d.port
        cls.rng = random.Random(SEED)

    @classmethod
    def tearDownClass(cls):
        rc = cls.d.stop(timeout=60)
        log = cls.d.log()
        assert rc == 0, "daemon exit %s\n%s" % (rc, log[-4000:])
        assert not SANITIZER.search(log), log[-8000:]

    # ---- helpers ------------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None):
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        st, hdrs, data = self.d.request(method, path, body, headers=h, timeout=60, raw=True)
        return st, hdrs, data

    def expect(self, method, path, body, status, etype=None, field=None, headers=None):
        """The documented status with a schema-valid body; for errors the error shape."""
        st, hdrs, data = self.call(method, path, body, headers)
        what = "%s %s %r" % (method, path, body if not isinstance(body, (bytes, str)) or len(body) < 300
                             else body[:300])
        self.assertEqual(st, status, "%s -> %s %s" % (what, st, data[:300]))
        self.assertIn("x-request-id", hdrs, what)
        if method == "HEAD":
            return None
        ctype = hdrs.get("content-type", "")
        if status >= 400:
            self.assertTrue(ctype.startswith("application/json"), "%s: %s %r" % (what, ctype, data[:200]))
        js = json.loads(data) if ctype.startswith("application/json") else data.decode("utf-8")
        openapi_check.check_response(self.spec, method.lower(), path.split("?")[0], st, ctype, js)
        if status >= 400:
            self.assertEqual(set(js), {"error"}, what)
            self.assertTrue(js["error"]["message"], what)
            if etype:
                self.assertEqual(js["error"]["type"], etype, "%s: %s" % (what, js))
            if field:
                self.assertIn(field, js["error"]["message"], what)
        return js

    def assert_alive(self):
        """Every task still answers a normal request."""
        for path, (_, body) in POST_ROUTES.items():
            self.expect("POST", path, body, 200)
        self.expect("GET", "/health", None, 200)

    def wait_idle(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if (self.d.metric("transformerd_running_sequences") == 0
                    and self.d.metric("transformerd_queue_depth_requests") == 0
                    and self.d.metric("transformerd_kv_cache_bytes") == 0):
                return True
            time.sleep(0.05)
        return False

    # ---- bodies ---------------------------------------------------------------------------

    def test_malformed_json_is_400_on_every_route(self):
        bodies = ["", " ", "{", "}", "[1]", "null", '"text"', "1", "true", "{}x", "{'a': 1}", '{"a" 1}',
                  '{"text": "a",}', "NaN", '{"x": NaN}', '{"x": Infinity}', '{"x": -Infinity}', "\ufeff{}",
                  b"\xff", b'{"text": "\xff"}', b'{"prompt": "\xc3"}', b'{"text": "\xed\xa0\x80"}',
                  b'{"prompt": "\xf4\x90\x80\x80"}', b'{"text": "\xc0\xaf"}',
                  '{"text": "\\ud800"}', '{"prompt": "\\udc00x"}', '{"text": "a\\ud83d"}', '{"text": "\\uZZZZ"}',
                  b'{"text": "a\x00b"}', b'{"prompt": "a\x01"}', b'{"prompt"\x00: 1}',
                  '{"text": "a", "text": "b"}', '{"prompt": "a", "prompt": "a"}', '{"texts": [], "texts": []}',
                  "[" * 5000, '{"a":' * 3000 + "1" + "}" * 3000, '{"text": ' + "[" * 3000 + "]" * 3000 + "}"]
        for path in POST_ROUTES:
            for b in bodies:
                self.expect("POST", path, b, 400, "invalid_json")
        self.assert_alive()

    def test_numbers_beyond_64_bits_are_out_of_range(self):
        """Valid JSON whose number does not fit a double or a 64-bit integer is a value out
        of range (422), not malformed JSON."""
        fields = {"/v1/generate": "seed", "/v1/completions": "seed", "/v1/translate": "num_beams",
                  "/v1/summarize": "min_new_tokens", "/v1/sentiment": "truncate"}
        for path, (_, base) in POST_ROUTES.items():
            for num in ("1e999", "-1e999", "18446744073709551616", "-99999999999999999999999"):
                body = json.dumps(base)[:-1] + ', "%s": %s}' % (fields[path], num)
                self.expect("POST", path, body, 422, "out_of_range", "number out of range")
        self.assert_alive()

    def test_wrong_type_of_every_field_is_400_naming_it(self):
        for path, (schema_name, base) in POST_ROUTES.items():
            props = self.spec["components"]["schemas"][schema_name]["properties"]
            for field, schema in props.items():
                for v in wrong_values(self.spec, schema):
                    body = dict(base)
                    if field == "texts":
                        body.pop("text")
                    body[field] = v
                    self.expect("POST", path, body, 400, "invalid_field", field)
            # Unknown fields: refused by our schemas, ignored by the OpenAI dialect.
            unknown = dict(base, bogus_field=1)
            if path == "/v1/completions":
                self.expect("POST", path, unknown, 200)
            else:
                self.expect("POST", path, unknown, 400, "invalid_field", "bogus_field")
                # A long non-ASCII name is cut in the message, but the message stays readable.
                self.expect("POST", path, dict(base, **{"a" + "é" * 60: 1}), 400, "invalid_field", "unknown field 'aé")
        self.assert_alive()

    def test_values_outside_every_documented_bound_are_422(self):
        for path, (schema_name, base) in POST_ROUTES.items():
            props = self.spec["components"]["schemas"][schema_name]["properties"]
            for field, schema in props.items():
                schema = openapi_check._resolve(self.spec, schema)
                bad, edge = outside_values(field, schema)
                for v, status in bad:
                    body = dict(base, **{field: v})
                    if field == "texts":
                        body.pop("text")
                    self.expect("POST", path, body, status, {422: "out_of_range", 413: "too_many_texts"}[status], field)
                for v in edge:
                    body = dict(base, **{field: v})
                    if field == "texts":
                        body.pop("text")
                    if field.startswith("attention_"):
                        body["return_attention"] = "full"
                        if path in ("/v1/translate", "/v1/summarize"):
                            body["num_beams"] = 1
                    self.expect("POST", path, body, 200)
        # Bounds set by the server, not the schema.
        self.expect("POST", "/v1/generate", {"prompt": "a", "max_new_tokens": MAX_NEW + 1}, 422, "out_of_range",
                    "max_new_tokens")
        self.expect("POST", "/v1/generate", {"prompt": "a", "max_new_tokens": 0}, 422, "out_of_range", "max_new_tokens")
        self.expect("POST", "/v1/generate", {"prompt": "a", "max_new_tokens": -2 ** 63}, 422, "out_of_range")
        self.expect("POST", "/v1/generate", {"prompt": "a", "top_k": -1}, 422, "out_of_range", "top_k")
        self.expect("POST", "/v1/generate", {"prompt": "a", "top_k": 10 ** 7}, 422, "out_of_range", "top_k")
        self.expect("POST", "/v1/generate", {"prompt": "a", "top_p": 1e-300}, 422, "out_of_range", "top_p")
        self.expect("POST", "/v1/generate", {"prompt": "a", "repetition_penalty": 1e-300}, 422, "out_of_range",
                    "repetition_penalty")
        self.expect("POST", "/v1/generate", {"prompt": "a", "seed": 2 ** 53}, 422, "out_of_range", "seed")
        for path in ("/v1/translate", "/v1/summarize"):
            t = {"text": "A dog.", "max_new_tokens": 2}
            for f, v in (("num_beams", 0), ("num_beams", 33), ("length_penalty", 11), ("length_penalty", -1e308),
                         ("min_new_tokens", 3), ("max_new_tokens", 0), ("no_repeat_ngram_size", 65)):
                self.expect("POST", path, dict(t, **{f: v}), 422, "out_of_range", f)
            self.expect("POST", path, {"texts": ["a"] * 65}, 413, "too_many_texts", "at most 64")
        # max_new_tokens over the server's --max-new-tokens is refused the same way on every
        # route that generates, the message naming the limit (translate/summarize used to cut it)
        for path, field in (("/v1/generate", "max_new_tokens"), ("/v1/completions", "max_tokens"),
                            ("/v1/translate", "max_new_tokens"), ("/v1/summarize", "max_new_tokens")):
            base = dict(POST_ROUTES[path][1])
            for v in (MAX_NEW + 1, 10 ** 6, 2 ** 63 - 1):
                js = self.expect("POST", path, dict(base, **{field: v}), 422, "out_of_range", field)
                self.assertIn("between 1 and %d (the server's max_new_tokens limit), got %d" % (MAX_NEW, v),
                              js["error"]["message"])
        self.expect("POST", "/v1/translate", {"text": "a", "target_lang": "xx"}, 422, "out_of_range", "xx")
        self.expect("POST", "/v1/sentiment", {"texts": ["a"] * (MAX_TEXTS + 1)}, 413, "too_many_texts")
        self.assert_alive()

    def test_edge_values_that_are_allowed_answer_200(self):
        g = {"prompt": "The cat", "max_new_tokens": 2}
        for extra in ({"temperature": 0}, {"temperature": 100, "seed": 1}, {"temperature": -0.0},
                      {"temperature": 1, "top_k": 1}, {"temperature": 1, "top_k": 1000000, "seed": 2},
                      {"temperature": 1, "top_p": 1e-30}, {"temperature": 1, "top_p": 1},
                      {"repetition_penalty": 1e-30}, {"repetition_penalty": 100}, {"seed": 0},
                      {"seed": 2 ** 53 - 1}, {"max_new_tokens": MAX_NEW}, {"max_new_tokens": 1},
                      {"stop": []}, {"logprobs": False, "stream": False}, {"model": None, "seed": None}):
            self.expect("POST", "/v1/generate", dict(g, **extra), 200)
        for path in ("/v1/translate", "/v1/summarize"):
            t = {"text": "A dog runs in the park.", "max_new_tokens": 3}
            for extra in ({"num_beams": 32}, {"num_beams": 4, "no_repeat_ngram_size": 1, "early_stopping": True},
                          {"num_beams": 2, "length_penalty": -10}, {"num_beams": 2, "length_penalty": 10},
                          {"min_new_tokens": 3}, {"max_new_tokens": MAX_NEW}, {"texts": ["a"] * 64, "text": None},
                          {"no_repeat_ngram_size": 64}, {"truncate": True, "text": "word " * 2000}):
                self.expect("POST", path, dict(t, **extra), 200)
        self.expect("POST", "/v1/sentiment", {"texts": ["x"] * MAX_TEXTS, "truncate": True}, 200)
        # The bundled T5's task defaults (max_length 128 and 200: 127 and 199 new tokens) are
        # over this daemon's limit: a request that leaves max_new_tokens out is cut to it.
        for path in ("/v1/translate", "/v1/summarize"):
            js = self.expect("POST", path, {"text": "A dog runs in the park.", "min_new_tokens": MAX_NEW}, 200)
            self.assertEqual(js["details"][0]["output_tokens"], MAX_NEW)

    def test_empty_long_and_odd_strings(self):
        # Empty inputs on every route, by the API's one rule: an empty string or list of the
        # right type breaks a limit (422 out_of_range); a missing field, a wrong type (an
        # element's included) or fields that exclude each other are the schema's (400).
        for path, field in (("/v1/generate", "prompt"), ("/v1/completions", "prompt")):
            self.expect("POST", path, {field: ""}, 422, "out_of_range", "prompt")
            self.expect("POST", path, {}, 400, "invalid_field", "prompt")
            self.expect("POST", path, {field: 5}, 400, "invalid_field", "prompt")
        for prompt in ([""], [], ["a", "b"]):  # the OpenAI dialect: an array of exactly one string
            self.expect("POST", "/v1/completions", {"prompt": prompt}, 422, "out_of_range", "prompt")
        for prompt in ([1], ["a", None], [["a"]]):
            self.expect("POST", "/v1/completions", {"prompt": prompt}, 400, "invalid_field", "prompt")
        for path in ("/v1/translate", "/v1/summarize", "/v1/sentiment"):
            self.expect("POST", path, {"text": ""}, 422, "out_of_range", "text must not be empty")
            self.expect("POST", path, {"texts": []}, 422, "out_of_range", "texts must hold at least one string")
            self.expect("POST", path, {"texts": [""]}, 422, "out_of_range", "texts[0]")
            self.expect("POST", path, {"texts": ["a", ""]}, 422, "out_of_range", "texts[1]")
            self.expect("POST", path, {"texts": ["", 7]}, 400, "invalid_field", "texts[1]")  # the type first
            self.expect("POST", path, {}, 400, "invalid_field", "text")
            self.expect("POST", path, {"text": "a", "texts": ["b"]}, 400, "invalid_field", "text")
            self.expect("POST", path, {"text": 5}, 400, "invalid_field", "text")
            self.expect("POST", path, {"texts": "a"}, 400, "invalid_field", "texts")
        for path, (_, base) in POST_ROUTES.items():  # a list that must name something
            if path != "/v1/completions":
                self.expect("POST", path, dict(base, return_attention="full", attention_layers=[]), 422,
                            "out_of_range", "attention_layers")
        for field in ("source_lang", "target_lang"):
            for v in ("", "d" * 16, "e\u0000n"):
                self.expect("POST", "/v1/translate", {"text": "a", field: v}, 422, "out_of_range", field)
            self.expect("POST", "/v1/translate", {"text": "a", field: 5}, 400, "invalid_field", field)
        self.expect("POST", "/v1/translate", {"text": "a", "target_lang": "\u00e9" * 7}, 422, "out_of_range")
        self.expect("POST", "/v1/generate", {"prompt": "a", "stop": [""]}, 422, "out_of_range", "stop[0]")
        self.expect("POST", "/v1/generate", {"prompt": "a", "stop": []}, 200)  # no stop strings: nothing to break
        # Long inputs under the body limit: too many tokens.
        long_text = "word " * 12000
        self.expect("POST", "/v1/generate", {"prompt": long_text}, 422, "prompt_too_long")
        self.expect("POST", "/v1/completions", {"prompt": long_text}, 422, "prompt_too_long")
        self.expect("POST", "/v1/translate", {"text": long_text}, 422, "prompt_too_long")
        self.expect("POST", "/v1/summarize", {"texts": ["a", long_text]}, 422, "prompt_too_long")
        self.expect("POST", "/v1/sentiment", {"text": long_text}, 422, "text_too_long")
        # Unknown model names, long and non-ASCII ones included: 404 with a readable message.
        for name in ("", "gpt-9", "x" * 5000, "a" + "é" * 100, "\u0000", "../../etc/passwd"):
            for path, (_, base) in POST_ROUTES.items():
                self.expect("POST", path, dict(base, model=name), 404, "model_not_found", "is not loaded")
        # Odd but valid text: U+0000, controls, BOM, combining marks, RTL, emoji, noncharacters.
        odd = ["a\u0000b", "\u0000", "\u0001\u001f\u007f\u0085", "\ufeffhello", "e\u0301\u0301\u0301",
               "\u202eevil\u202c", "\U0001F600" * 50, "\uffff\ufffe", "\U0010FFFF", "\u00a0\u2028\u2029", " " * 100]
        for t in odd:
            self.expect("POST", "/v1/generate", {"prompt": t, "max_new_tokens": 2}, 200)
            self.expect("POST", "/v1/completions", {"prompt": [t], "max_tokens": 2, "stream": False}, 200)
            self.expect("POST", "/v1/translate", {"text": t, "max_new_tokens": 2}, 200)
            self.expect("POST", "/v1/summarize", {"texts": [t, t], "max_new_tokens": 2}, 200)
            self.expect("POST", "/v1/sentiment", {"texts": [t, "ok"]}, 200)
        self.assert_alive()

    def test_stop_sequences(self):
        g = {"prompt": "Once upon a time", "max_new_tokens": 8}
        self.expect("POST", "/v1/generate", dict(g, stop=[""]), 422, "out_of_range", "stop[0]")
        self.expect("POST", "/v1/generate", dict(g, stop=["a", ""]), 422, "out_of_range", "stop[1]")
        self.expect("POST", "/v1/generate", dict(g, stop=["x" * 257]), 422, "out_of_range", "stop[0]")
        self.expect("POST", "/v1/generate", dict(g, stop=["\u0000"]), 422, "out_of_range", "stop[0]")
        self.expect("POST", "/v1/generate", dict(g, stop=["x"] * 17), 422, "out_of_range", "stop")
        self.expect("POST", "/v1/generate", dict(g, stop="x"), 400, "invalid_field", "stop")
        self.expect("POST", "/v1/generate", dict(g, stop=[None]), 400, "invalid_field", "stop[0]")
        self.expect("POST", "/v1/completions", {"prompt": "a", "stop": ""}, 422, "out_of_range", "stop")
        # At the bounds, plain and streamed: 16 stop strings of 256 bytes (4-byte characters).
        huge = ["\U0001F600" * 63 + "ab%02d" % k for k in range(16)]
        self.assertEqual({len(x.encode()) for x in huge}, {256})
        self.expect("POST", "/v1/generate", dict(g, stop=huge), 200)
        evs = list(self.d.stream("/v1/generate", dict(g, stop=huge, stream=True)))
        self.assertEqual(evs[-1][0], "done")
        # Stop strings that match at once, inside a character, or across tokens.
        for stop in ([" "], ["e"], ["\u00e9"], [". ", ".", "!"], ["Once"], ["\ufffd"]):
            js = self.expect("POST", "/v1/generate", dict(g, stop=stop, temperature=1, seed=3), 200)
            for s in stop:
                self.assertNotIn(s, js["generated_text"], stop)
            text = "".join(json.loads(d).get("text", "") for e, d in
                           self.d.stream("/v1/generate", dict(g, stop=stop, temperature=1, seed=3, stream=True)))
            self.assertEqual(text, js["generated_text"], stop)
        self.assert_alive()

    def test_attention_lists(self):
        for path, (_, base) in POST_ROUTES.items():
            if path == "/v1/completions":
                continue
            b = dict(base, return_attention="full")
            if path in ("/v1/translate", "/v1/summarize"):
                b["num_beams"] = 1
            for v in ("FULL", "", "summary ", "all"):
                self.expect("POST", path, dict(base, return_attention=v), 422, "out_of_range", "return_attention")
            for v in (5, True, ["full"], {}):
                self.expect("POST", path, dict(base, return_attention=v), 400, "invalid_field", "return_attention")
            for field in ("attention_layers", "attention_heads"):
                for v in ([], [-1], [99], [0, 0], [2 ** 40], [-2 ** 63], list(range(1025))):
                    self.expect("POST", path, dict(b, **{field: v}), 422, "out_of_range", field)
                for v in ([1.5], ["0"], [None], [[0]], 0, "0", {"0": 0}):
                    self.expect("POST", path, dict(b, **{field: v}), 400, "invalid_field", field)
                self.expect("POST", path, dict(base, **{field: [0]}), 422, "out_of_range", field)  # without full
                self.expect("POST", path, dict(base, return_attention="summary", **{field: [0]}), 422, "out_of_range")
                js = self.expect("POST", path, dict(b, **{field: [1, 0]}), 200)
                self.assertIn("attention", json.dumps(js))
        # beams: the answer's rows, one per returned token; the bound counts every beam's
        js = self.expect("POST", "/v1/translate", {"text": "a", "return_attention": "full", "num_beams": 2}, 200)
        d = js["details"][0]
        self.assertEqual(len(d["attention"]["full"]["target_tokens"]), d["output_tokens"])
        self.expect("POST", "/v1/translate", {"text": "a", "return_attention": "full", "num_beams": 32,
                                              "max_new_tokens": MAX_NEW}, 422, "out_of_range", "num_beams")
        self.expect("POST", "/v1/generate", {"prompt": "a", "return_attention": "full", "max_new_tokens": MAX_NEW,
                                             "attention_layers": [0]}, 200)
        self.assert_alive()

    # ---- HTTP --------------------------------------------------------------------------------

    def test_methods_and_paths(self):
        methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"]
        for path in list(POST_ROUTES) + GET_ROUTES:
            allowed = ["POST"] if path in POST_ROUTES else ["GET", "HEAD"]
            for m in methods:
                if m in allowed:
                    continue
                st, hdrs, data = self.call(m, path, None)
                self.assertEqual(st, 405, (m, path, data))
                self.assertEqual(hdrs.get("allow"), ", ".join(allowed), (m, path))
                if m != "HEAD":
                    self.expect(m, path, None, 405, "method_not_allowed", m)
        for path in ("/", "/v1", "/v1/", "/v1/generate/", "/V1/GENERATE", "/health/x", "/ui", "/ui/", "/ui/x",
                     "/ui/attention/", "/ui/../health", "//health", "/" + "a" * 6000, "/%ff%fe",
                     "/%e9%e9%e9", "/v1/models?" + "x" * 3000):
            exp = 200 if path.startswith("/v1/models?") else 404
            self.expect("GET", path, None, exp, None if exp == 200 else "not_found")
            self.expect("POST", path, {"prompt": "x"}, 405 if exp == 200 else 404)
        # Methods and paths with control bytes: a 405/404 answer, and the access log line
        # shows them as '?' (no terminal escapes, no forged lines).
        for line in (b"X\x1b[31mRED /health", b"G\x01T /health", b"GET /he\x1b[31mllo"):
            st, _, body = parse_raw(raw_exchange(self.port, line + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
            self.assertIn(st, (404, 405), body)
        self.assertTrue(self.d.wait_log(r"method=X\?\[31mRED path=/health status=405"), self.d.log()[-2000:])
        self.assertTrue(self.d.wait_log(r"method=G\?T path=/health status=405"))
        self.assertTrue(self.d.wait_log(r"path=/he\?\[31mllo status=404"))
        self.assertNotIn("\x1b", self.d.log())
        # An escaped NUL must not cut the path to a route's name (C strings end at NUL).
        for path in ("/health%00x", "/health%00", "/v1/models%00/x"):
            self.expect("GET", path, None, 404, "not_found")
        self.expect("POST", "/v1/generate%00junk", {"prompt": "x"}, 404, "not_found")
        self.assertEqual(self.call("GET", "/h%65alth")[0], 200)  # other escapes still decode
        js = self.expect("GET", "/%e9x", None, 404, "not_found")
        self.assertIn("no route", js["error"]["message"])  # readable, even for bytes that are not UTF-8
        for path in GET_ROUTES:  # a body on a GET is ignored, up to the size limit
            self.expect("GET", path, b'{"junk', 200)
            self.expect("GET", path, b"x" * (MAX_BODY + 1), 413, "body_too_large")

    def test_content_type_and_encoding(self):
        body = json.dumps({"prompt": "Hello", "max_new_tokens": 1})
        # curl -d sends application/x-www-form-urlencoded: the body is JSON whatever the type says.
        for ct in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                   "application/json; charset=latin-1", "", "\u00e9/\u00e9".encode().decode("latin-1")):
            self.expect("POST", "/v1/generate", body, 200, headers={"Content-Type": ct})
        for enc in ("gzip", "deflate", "br", "compress, gzip"):
            self.expect("POST", "/v1/generate", body, 415, "unsupported_media_type", enc.split(",")[-1].strip(),
                        headers={"Content-Encoding": enc})
        self.expect("POST", "/v1/generate", body, 200, headers={"Content-Encoding": "identity"})

    def test_framing_chunked_and_size_limits(self):
        ok = json.dumps({"prompt": "Hello", "max_new_tokens": 1}).encode()
        head = b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        # Chunked: tiny chunks and one chunk answer like a plain body.
        for size in (1, 7, len(ok)):
            st, h, body = parse_raw(raw_exchange(self.port, head + b"Transfer-Encoding: chunked\r\n\r\n" +
                                                 chunked(ok, size)))
            self.assertEqual(st, 200, body[:200])
        big = json.dumps({"prompt": "a" * MAX_BODY}).encode()
        # Over the limit, chunked or with a length: 413 in JSON.
        for framing in (b"Transfer-Encoding: chunked\r\n\r\n" + chunked(big, 4096),
                        b"Content-Length: %d\r\n\r\n" % len(big) + big):
            st, h, body = parse_raw(raw_exchange(self.port, head + framing))
            self.assertEqual(st, 413, body[:200])
            self.assertEqual(json.loads(body)["error"]["type"], "body_too_large")
        # Announced over the limit with Expect: 100-continue: refused at once, no 100, no upload.
        st, h, body = parse_raw(raw_exchange(self.port, head + b"Content-Type: application/json\r\n"
                                             b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (10 * MAX_BODY)))
        self.assertEqual(st, 413, body[:200])
        self.assertEqual(json.loads(body)["error"]["type"], "body_too_large")
        # Within the limit, Expect: 100-continue gets its 100 and then the answer.
        s = socket.create_connection(("127.0.0.1", self.port))
        try:
            s.settimeout(10)
            s.sendall(head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(ok))
            self.assertTrue(s.recv(4096).startswith(b"HTTP/1.1 100"))
            s.sendall(ok)
            out = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
            self.assertEqual(parse_raw(out)[0], 200, out[:200])
        finally:
            s.close()
        # Without Expect the body is read and dropped, then 413: a client still sending is
        # not cut off before it can read the answer (an ordinary client, not raw bytes).
        self.expect("POST", "/v1/sentiment", {"text": "a" * (4 * MAX_BODY)}, 413, "body_too_large")
        # Broken or ambiguous framing: the two tests below.
        # A body shorter than its Content-Length, then silence: nothing answered yet, no harm.
        s = socket.create_connection(("127.0.0.1", self.port))
        s.sendall(head + b"Content-Length: 100\r\n\r\n{\"prompt\"")
        self.assert_alive()
        s.close()
        self.assert_alive()

    def test_ambiguous_framing_is_refused_in_json_before_the_body(self):
        """A body libmicrohttpd would read with a length the client did not mean (Content-Length
        twice with different values: it takes the first; beside Transfer-Encoding: it takes the
        chunks) or until the client hangs up (a transfer coding other than chunked) is refused
        by the server on every path, before the body is read: JSON, X-Request-Id, counted in
        /metrics, the connection closed."""
        ok = json.dumps({"prompt": "Hello", "max_new_tokens": 1}).encode()
        cases = [
            (b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n%s" % (len(ok), ok), 400, "invalid_framing",
             "Content-Length given 2 times with different values"),
            (b"Content-Length: 3\r\nContent-Length: %d\r\n\r\n%s" % (len(ok), ok), 400, "invalid_framing",
             "Content-Length given 2 times"),
            (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(ok, 8), 400, "invalid_framing",
             "Content-Length and Transfer-Encoding"),
            (b"Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + chunked(ok, 8), 400, "invalid_framing",
             "Content-Length and Transfer-Encoding"),
            (b"Transfer-Encoding: gzip\r\n\r\n" + ok, 501, "unsupported_transfer_encoding", "'gzip'"),
            (b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(ok, 8), 501, "unsupported_transfer_encoding",
             "'gzip, chunked'"),
            (b"Transfer-Encoding: chunked, chunked\r\n\r\n" + chunked(ok, 8), 501, "unsupported_transfer_encoding",
             "not supported"),
            (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(ok, 8), 501,
             "unsupported_transfer_encoding", "given 2 times"),
        ]
        before = self.d.metric("transformerd_http_requests_total", {"route": "other", "status": "501"})
        for method, path in (("POST", "/v1/generate"), ("GET", "/health"), ("POST", "/no/such/route")):
            head = b"%s %s HTTP/1.1\r\nHost: x\r\n" % (method.encode(), path.encode())
            for framing, status, etype, word in cases:
                t0 = time.time()
                st, hdrs, body = parse_raw(raw_exchange(self.port, head + framing, wait=10))
                what = "%s %s %r" % (method, path, framing[:80])
                self.assertLess(time.time() - t0, 5, what)  # answered, not left waiting for a body
                self.assertEqual(st, status, "%s: %r" % (what, body[:200]))
                self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), what)
                self.assertIn("x-request-id", hdrs, what)
                self.assertEqual(hdrs.get("connection", "").lower(), "close", what)
                js = json.loads(body)
                self.assertEqual(js["error"]["type"], etype, what)
                self.assertIn(word, js["error"]["message"], what)
                # answered before routing: the statuses any path may get (x-unrouted)
                openapi_check.check_response(self.spec, "post", "/no/such/route", st, hdrs["content-type"], js)
        self.assertEqual(self.d.metric("transformerd_http_requests_total", {"route": "other", "status": "501"}),
                         before + 4)
        # The same headers sent the ordinary way are served.
        head = b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        for framing in (b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n%s" % (len(ok), len(ok), ok),
                        b"Transfer-Encoding: Chunked\r\n\r\n" + chunked(ok, 8)):
            st, _, body = parse_raw(raw_exchange(self.port, head + framing))
            self.assertEqual(st, 200, (framing[:80], body[:200]))
        self.assert_alive()

    def test_broken_framing_the_library_answers_itself(self):
        """What libmicrohttpd 0.9.75 refuses while reading a request it answers itself, before
        the server sees it, and it has no option or callback to change that: exactly the cases
        and statuses openapi.yaml lists (ProtocolError), with the library's HTML body, no
        Content-Type, no X-Request-Id, the connection closed. A library update that changes
        any of them fails here, and openapi.yaml must follow."""
        post = b"POST /v1/generate HTTP/1.1\r\nHost: x\r\n"
        ok = json.dumps({"prompt": "Hello", "max_new_tokens": 1}).encode()
        html = [  # (bytes, status, head sent twice: a libmicrohttpd 0.9.75 bug)
            (b"GET /health\r\n\r\n", 400, False),
            (b"GET /health FOO/1.1\r\nHost: x\r\n\r\n", 400, False),
            (b"GET /health http/1.1\r\nHost: x\r\n\r\n", 400, False),
            (b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400, False),
            (b"GET /health HTTP/1.1\rHost: x\r\n\r\n", 400, False),
            (post + b"Content-Length: -5\r\n\r\n" + ok, 400, True),
            (post + b"Content-Length: 12abc\r\n\r\n" + ok, 400, True),
            (post + b"Content-Length: \r\n\r\n" + ok, 400, True),
            (post + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, False),
            (post + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n", 400, False),
            (post + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\nbad trailer\r\n\r\n" % (len(ok), ok), 400,
             False),
            (post + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 413, False),
            (post + b"Content-Length: 99999999999999999999999\r\n\r\n" + ok, 413, True),
            (b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, False),
            (post + b"X-Big: " + b"a" * 100000 + b"\r\n\r\n", 431, False),
            (post + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n", 431, False),
            (b"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505, False),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, False),
        ]
        for data, status, twice in html:
            out = raw_exchange(self.port, data)
            st, hdrs, body = parse_raw(out)
            what = repr(data[:60])
            self.assertEqual(st, status, "%s: %r" % (what, out[:300]))
            self.assertNotIn("content-type", hdrs, what)
            self.assertNotIn("x-request-id", hdrs, what)
            self.assertEqual(hdrs.get("connection", "").lower(), "close", what)
            self.assertIn(b"<html>", body, what)
            self.assertEqual(body.startswith(b"HTTP/1.1 %d " % status), twice, "%s: %r" % (what, out[:300]))
        # A request line the library cannot split into method, path and version: closed, no answer.
        for data in (b"GET\r\n\r\n", b"GET\t/health\tHTTP/1.1\r\nHost: x\r\n\r\n",
                     b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 60 + b"\r\n\r\n"):
            self.assertEqual(raw_exchange(self.port, data), b"", repr(data))
        self.assert_alive()

    # ---- clients that leave, and requests alongside ------------------------------------------

    def test_clients_that_leave_harm_nobody(self):
        """Hang-ups at every stage, on every route, while a greedy generation runs alongside:
        its text equals the one it gets alone, and nothing is left running."""
        probe = {"prompt": "Once upon a time, there was a", "max_new_tokens": MAX_NEW, "temperature": 0}
        alone = self.expect("POST", "/v1/generate", probe, 200)["generated_text"]
        got = {}

        def alongside():
            for i in range(3):
                st, _, js = self.d.post("/v1/generate", probe, timeout=120)
                got[i] = (st, js.get("generated_text") if isinstance(js, dict) else js)

        t = threading.Thread(target=alongside)
        t.start()
        long_gen = {"prompt": "Once", "max_new_tokens": MAX_NEW, "temperature": 1, "seed": 5}
        long_t5 = {"texts": ["A man rides a horse on a beach at sunset."] * 8, "max_new_tokens": MAX_NEW,
                   "num_beams": 4, "min_new_tokens": MAX_NEW}
        cases = [("/v1/generate", long_gen), ("/v1/completions", {"prompt": "Once", "max_tokens": MAX_NEW}),
                 ("/v1/translate", long_t5), ("/v1/summarize", long_t5),
                 ("/v1/sentiment", {"texts": ["a long and winding review " * 20] * MAX_TEXTS})]
        for path, body in cases:
            data = json.dumps(body).encode()
            req = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                path.encode(), len(data))
            # Before the body ends, right after it, and a little later (while queued or running).
            for cut, delay in ((len(req) + len(data) // 2, 0), (len(req) + len(data), 0),
                               (len(req) + len(data), 0.03)):
                s = socket.create_connection(("127.0.0.1", self.port))
                s.sendall((req + data)[:cut])
                time.sleep(delay)
                s.close()
            # Reset instead of FIN.
            s = socket.create_connection(("127.0.0.1", self.port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(req + data)
            time.sleep(0.01)
            s.close()
        # Streams: leave after the first event, and after reading the headers only.
        for path, body in (("/v1/generate", dict(long_gen, stream=True)),
                           ("/v1/completions", {"prompt": "Once", "max_tokens": MAX_NEW, "stream": True})):
            for events in (0, 1):
                c = self.d.conn()
                c.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                while events and not r.readline().startswith(b"data:"):
                    pass
                c.sock.shutdown(socket.SHUT_RDWR)
                c.close()
        t.join(120)
        self.assertFalse(t.is_alive())
        for i in range(3):
            self.assertEqual(got[i], (200, alone), i)
        self.assertTrue(self.wait_idle(), "sequences left running after their clients left")
        self.assert_alive()

    def test_parallel_hostile_burst(self):
        """Sixteen clients at once mixing refusals, hang-ups and streams with greedy probes on
        generate, translate and sentiment: the probes answer as they do alone."""
        probes = [("/v1/generate", {"prompt": "The little dog", "max_new_tokens": 16}),
                  ("/v1/translate", {"texts": ["A girl is reading a book.", "Two men play chess."],
                                     "max_new_tokens": 16, "num_beams": 1}),
                  ("/v1/sentiment", {"texts": ["what a wonderful day", "dull and slow"]})]
        strip = lambda js: {k: v for k, v in js.items() if k not in ("timings", "attention_flags")}  # noqa: E731
        alone = [strip(self.expect("POST", p, b, 200)) for p, b in probes]
        for a in alone:  # attention flags depend on the baselines learned so far, not on the batch
            for d in a.get("details", []):
                d.pop("attention_flags", None)
            for r in a.get("results", []):
                r.pop("attention_flags", None)
        allowed = {p: {int(x) for x in self.spec["paths"][p]["post"]["responses"]} for p in POST_ROUTES}
        errors = []
        rngs = [random.Random(SEED + i) for i in range(16)]

        def same(a, b):
            """Equal, but for probabilities, which batches may sum in another order (1e-5)."""
            if isinstance(a, float) and isinstance(b, float):
                return abs(a - b) <= 1e-5
            if isinstance(a, dict) and isinstance(b, dict):
                return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
            if isinstance(a, list) and isinstance(b, list):
                return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
            return a == b

        def client(i):
            rng = rngs[i]
            try:
                for k in range(6):
                    path, body = list(POST_ROUTES.items())[rng.randrange(len(POST_ROUTES))]
                    body = dict(body[1])
                    choice = (i + k) % 4
                    if choice == 0:  # a probe
                        j = rng.randrange(len(probes))
                        st, _, js = self.d.post(probes[j][0], probes[j][1], timeout=120)
                        got = strip(js)
                        for d in got.get("details", []):
                            d.pop("attention_flags", None)
                        for r in got.get("results", []):
                            r.pop("attention_flags", None)
                        if st != 200 or not same(got, alone[j]):
                            errors.append(("probe", probes[j][0], st, got, alone[j]))
                    elif choice == 1:  # a refusal
                        body[rng.choice(list(body))] = rng.choice([[], {}, -1, "", 1e308, None])
                        st, _, js = self.d.post(path, body, timeout=120)
                        if st not in allowed[path] or st >= 500:
                            errors.append(("refusal", path, body, st, js))
                    elif choice == 2:  # a hang-up after sending
                        body = dict(body, **({"max_new_tokens": MAX_NEW} if "max_new_tokens" in body else {}))
                        data = json.dumps(body).encode()
                        s = socket.create_connection(("127.0.0.1", self.port))
                        s.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (
                            path.encode(), len(data), data))
                        time.sleep(rng.random() * 0.05)
                        s.close()
                    else:  # a stream read to its end, or left after one event
                        c = self.d.conn(120)
                        c.request("POST", "/v1/generate", body=json.dumps(
                            {"prompt": "Once", "max_new_tokens": MAX_NEW, "stream": True, "temperature": 1,
                             "seed": i}), headers={"Content-Type": "application/json"})
                        r = c.getresponse()
                        if rng.random() < 0.5:
                            r.readline()
                            c.sock.shutdown(socket.SHUT_RDWR)
                        else:
                            text = r.read()
                            if r.status != 200 or b"event: done" not in text:
                                errors.append(("stream", r.status, text[-200:]))
                        c.close()
            except Exception as ex:  # noqa: BLE001 - reported below with the client's number
                errors.append(("client %d" % i, repr(ex)))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(180)
        self.assertEqual(errors, [], "\n".join(repr(e)[:600] for e in errors))
        self.assertTrue(self.wait_idle(), "sequences left running after their clients left")
        self.assert_alive()

    def test_seeded_mutations_get_documented_answers(self):
        """Random byte flips, truncations and field swaps of valid bodies on every route:
        a status documented for the route (never 5xx), a schema-valid body."""
        rng = self.rng
        values = [None, True, False, -1, 0, 1, 2, 33, 65, 2 ** 31, 2 ** 53, -2 ** 63, 1e308, -1e-308, 0.5, "", "\u0000",
                  "x" * 300, "\U0001F600", [], [0], [0, 0], ["a"], [""], {}, {"a": 1}, "full", "summary", "de", "fr"]
        fields = ["prompt", "text", "texts", "model", "max_new_tokens", "max_tokens", "min_new_tokens", "temperature",
                  "top_k", "top_p", "seed", "repetition_penalty", "stop", "stream", "logprobs", "return_attention",
                  "attention_layers", "attention_heads", "num_beams", "length_penalty", "early_stopping",
                  "no_repeat_ngram_size", "truncate", "source_lang", "target_lang", "extra"]
        allowed = {p: {int(s) for s in self.spec["paths"][p]["post"]["responses"]} for p in POST_ROUTES}
        for i in range(200):
            path = list(POST_ROUTES)[i % len(POST_ROUTES)]
            base = dict(POST_ROUTES[path][1])
            kind = rng.randrange(3)
            if kind == 0:
                for _ in range(rng.randint(1, 3)):
                    base[rng.choice(fields)] = rng.choice(values)
                data = json.dumps(base).encode()
            else:
                data = bytearray(json.dumps(base).encode())
                if kind == 1:
                    for _ in range(rng.randint(1, 4)):
                        data[rng.randrange(len(data))] = rng.randrange(256)
                else:
                    del data[rng.randrange(len(data)):]
                data = bytes(data)
            st, hdrs, raw = self.call("POST", path, data)
            self.assertIn(st, allowed[path], (path, data, st, raw[:200]))
            self.assertLess(st, 500, (path, data, raw[:200]))
            js = json.loads(raw)
            openapi_check.check_response(self.spec, "post", path, st, hdrs.get("content-type", ""), js)
        self.assertTrue(self.wait_idle())
        self.assert_alive()
