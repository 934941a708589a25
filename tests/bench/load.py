#!/usr/bin/env python3
"""HTTP load client for `transformerd serve` (standard library only).

    python3 tests/bench/load.py --port 8080 [--clients 1,4,16,64] [--seconds 10]
                                [--max-new-tokens 64] [--prompt TEXT]

For each concurrency level, that many closed-loop clients send streaming
POST /v1/generate requests for --seconds (requests in flight at the end are
finished and counted). Prints one Markdown row per level: requests/s, generated
tokens/s (from each final event's usage), p50/p99 request latency and p50/p99
time to first token as the client sees it (first `token` event).
"""
import argparse
import http.client
import json
import threading
import time


def one_request(port, body):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/generate", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        r.read()
        c.close()
        return None
    ttft, tokens = None, 0
    while True:
        line = r.readline()
        if not line:
            break
        if ttft is None and line.startswith(b"event: token"):
            ttft = time.perf_counter() - t0
        elif line.startswith(b"data: ") and b'"finish_reason"' in line:
            tokens = json.loads(line[6:])["usage"]["completion_tokens"]
    c.close()
    end = time.perf_counter()
    return end - t0, ttft if ttft is not None else end - t0, tokens


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def run_level(port, clients, seconds, max_new, prompt):
    results, errors = [], [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(i):
        n = 0
        while time.perf_counter() < stop_at:
            body = json.dumps({"prompt": prompt, "max_new_tokens": max_new, "temperature": 0.8,
                               "seed": i * 100003 + n, "stream": True})
            res = one_request(port, body)
            with lock:
                if res is None:
                    errors[0] += 1
                else:
                    results.append(res)
            n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = [r[0] for r in results]
    ttft = [r[1] for r in results]
    toks = sum(r[2] for r in results)
    return {"clients": clients, "requests": len(results), "errors": errors[0], "elapsed": elapsed,
            "rps": len(results) / elapsed, "tps": toks / elapsed, "p50": pct(lat, 50), "p99": pct(lat, 99),
            "ttft50": pct(ttft, 50), "ttft99": pct(ttft, 99)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", default="1,4,16,64")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--prompt", default="The quick brown fox jumps over the lazy dog and")
    ap.add_argument("--json", help="also write the rows to this file")
    a = ap.parse_args()
    rows = []
    print("| clients | requests | errors | req/s | gen tok/s | p50 latency s | p99 latency s | p50 TTFT ms | p99 TTFT ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for c in [int(x) for x in a.clients.split(",")]:
        r = run_level(a.port, c, a.seconds, a.max_new_tokens, a.prompt)
        rows.append(r)
        print("| %d | %d | %d | %.2f | %.1f | %.2f | %.2f | %.0f | %.0f |" % (
            r["clients"], r["requests"], r["errors"], r["rps"], r["tps"], r["p50"], r["p99"],
            r["ttft50"] * 1e3, r["ttft99"] * 1e3), flush=True)
    by = {r["clients"]: r for r in rows}
    if 1 in by and 16 in by and by[1]["tps"] > 0:
        print("\n16 clients vs 1: %.1fx generated tokens/s (aim: >= 4x)" % (by[16]["tps"] / by[1]["tps"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
