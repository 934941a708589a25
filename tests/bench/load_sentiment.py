"""HTTP load on POST /v1/sentiment: C concurrent clients, each sending one text per
request back to back for S seconds. Prints a Markdown row per (clients, tokens) level:
texts/s, p50/p99 latency. Standard library only."""
import argparse
import http.client
import json
import threading
import time


def one(port, text):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("POST", "/v1/sentiment", body=json.dumps({"text": text}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 200 or "results" not in json.loads(body):
        return None
    return time.perf_counter() - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))] if xs else float("nan")


def level(port, clients, seconds, text):
    lats, errors, lock = [], [0], threading.Lock()
    stop = time.perf_counter() + seconds

    def client():
        while time.perf_counter() < stop:
            lat = one(port, text)
            with lock:
                if lat is None:
                    errors[0] += 1
                else:
                    lats.append(lat)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return len(lats) / wall, pct(lats, 50) * 1000, pct(lats, 99) * 1000, errors[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", default="1,32")
    ap.add_argument("--tokens", default="16,128")
    ap.add_argument("--seconds", type=float, default=8)
    a = ap.parse_args()
    print("| clients | tokens/text | texts/s | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for tokens in map(int, a.tokens.split(",")):
        text = " ".join(["the"] * (tokens - 2))  # + [CLS] and [SEP]
        for clients in map(int, a.clients.split(",")):
            tps, p50, p99, err = level(a.port, clients, a.seconds, text)
            print(f"| {clients} | {tokens} | {tps:.0f} | {p50:.1f} | {p99:.1f} | {err} |", flush=True)


if __name__ == "__main__":
    main()
