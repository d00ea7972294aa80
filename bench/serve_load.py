#!/usr/bin/env python3
"""Load generator for an OpenAI-compatible /v1/completions server (stablelm serve, llama-server, vLLM),
measuring like vLLM's benchmark_serving.py: TTFT, TPOT, ITL (p50/p99), requests/s and output tok/s.

Each client sends streamed requests back to back (a random prompt of --prompt-tokens token ids,
--max-tokens new tokens, ignore nothing: the server's eos may end a request early; output tokens are
counted from the stream's chunks, one token per chunk, and from usage when the server sends it).

  python3 bench/serve_load.py --url http://127.0.0.1:8080 --concurrency 1,4,16,32 --requests 32
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time
import urllib.parse


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def one_request(url, body):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("HTTP %d: %s" % (r.status, r.read()[:200]))
    times, usage, buf = [], None, b""
    while True:
        line = r.readline()
        if not line:
            break
        line = line.strip()
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        chunk = json.loads(data)
        if chunk.get("usage"):
            usage = chunk["usage"]
        if chunk.get("choices") and chunk["choices"][0].get("text"):
            times.append(time.perf_counter())
    c.close()
    end = time.perf_counter()
    n_out = usage["completion_tokens"] if usage else len(times)
    return t0, times, end, n_out


def run_level(args, conc):
    rng = random.Random(args.seed)
    bodies = [{"prompt": [rng.randrange(1000, 50000) for _ in range(args.prompt_tokens)], "max_tokens": args.max_tokens,
               "temperature": 0, "stream": True, "stream_options": {"include_usage": True}}
              for _ in range(args.requests)]
    results, errors, lock, idx = [], [], threading.Lock(), [0]

    def worker():
        while True:
            with lock:
                if idx[0] >= len(bodies):
                    return
                b = bodies[idx[0]]
                idx[0] += 1
            try:
                results.append(one_request(args.url, b))
            except Exception as e:  # a failed request is counted and reported, never silently dropped
                with lock:
                    errors.append(str(e))

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    ttft = [r[1][0] - r[0] for r in results if r[1]]
    tpot = [(r[2] - r[1][0]) / (r[3] - 1) for r in results if r[1] and r[3] > 1]
    itl = [b - a for r in results for a, b in zip(r[1], r[1][1:])]
    out_tokens = sum(r[3] for r in results)
    return {"concurrency": conc, "requests": len(results), "errors": len(errors), "first_error": errors[0] if errors else None,
            "out_tokens": out_tokens, "wall_s": wall, "req_per_s": len(results) / wall,
            "out_tok_per_s": out_tokens / wall, "ttft_p50_ms": 1e3 * pct(ttft, 50), "ttft_p99_ms": 1e3 * pct(ttft, 99),
            "tpot_p50_ms": 1e3 * pct(tpot, 50), "tpot_p99_ms": 1e3 * pct(tpot, 99),
            "itl_p50_ms": 1e3 * pct(itl, 50), "itl_p99_ms": 1e3 * pct(itl, 99)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--concurrency", default="1,4,16,32")
    ap.add_argument("--requests", type=int, default=32, help="requests per level")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [run_level(args, int(c)) for c in args.concurrency.split(",")]
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    cols = ["concurrency", "requests", "errors", "req_per_s", "out_tok_per_s", "ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms",
            "itl_p50_ms", "itl_p99_ms"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(("%.2f" % r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
