#!/usr/bin/env python3
"""lm-eval's loglikelihood pattern against a running server: one 512-token context with four
8-token continuations, sent one after another as echo + logprobs requests (max_tokens 1), twice.
Prints each request's wall time: the first prefills the context, the others take it from the
prefix cache (docs/SERVER.md).   python3 bench/serve_lmeval_prefix.py PORT
"""
import json, random, sys, time, http.client
port = int(sys.argv[1])
rng = random.Random(7)
def post(body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse(); out = json.loads(r.read()); c.close()
    return r.status, out, time.perf_counter() - t0
for trial in range(2):
    ctx = [rng.randrange(1000, 50000) for _ in range(512)]
    times = []
    for i in range(4):
        cont = [rng.randrange(1000, 50000) for _ in range(8)]
        st, out, dt = post({"prompt": ctx + cont, "max_tokens": 1, "logprobs": 1, "echo": True, "temperature": 0, "seed": 1234})
        assert st == 200, out
        times.append(dt)
    print("context 512 + 8, four continuations one after another: %s s" % ", ".join("%.2f" % t for t in times))
