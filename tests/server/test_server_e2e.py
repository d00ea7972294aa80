#!/usr/bin/env python3
"""End-to-end tests of `stablelm serve` over real HTTP on the tiny fixture model.

Expectations come from the reference tools, never from the server itself: log-probabilities and
greedy flags from `stablelm score`, greedy tokens from `stablelm generate --print-ids`, chat
renderings from the Python jinja2 goldens of the chat-template fixtures.
Usage: test_server_e2e.py CLI FIXTURES_DIR
"""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverlib import Server, sse_events  # noqa: E402

CLI = FIXTURES = MODEL = None
SRV = None


def setUpModule():
    global SRV
    SRV = Server(CLI, MODEL, "--parallel", "4", "--max-n", "8")


def tearDownModule():
    assert SRV.stop() == 0


def score(ctx, cont):
    out = subprocess.run([CLI, "score", "--model", MODEL, "--threads", "1", "--ids", ",".join(map(str, ctx)),
                          "--continuation", ",".join(map(str, cont))], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def generate_ids(prompt_ids, n):
    out = subprocess.run([CLI, "generate", "--model", MODEL, "--threads", "1", "--ids", ",".join(map(str, prompt_ids)),
                          "--max-new-tokens", str(n), "--greedy", "--print-ids"], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)["ids"]


def tokenize(text):
    status, body = SRV.post("/tokenize", {"prompt": text, "add_special_tokens": False})
    assert status == 200, body
    return body["tokens"]


def detokenize(ids):
    status, body = SRV.post("/detokenize", {"tokens": ids})
    assert status == 200, body
    return body["prompt"]


EOS = 100257


class Basics(unittest.TestCase):
    def test_health_models(self):
        self.assertEqual(SRV.json("GET", "/health"), (200, {"status": "ok"}))
        status, body = SRV.json("GET", "/v1/models")
        self.assertEqual(status, 200)
        self.assertEqual(body["object"], "list")
        self.assertEqual(body["data"][0]["id"], "tiny-stablelm-2")
        self.assertEqual(body["data"][0]["max_model_len"], 512)

    def test_tokenizer_routes(self):
        ids = tokenize("Hello world")
        self.assertEqual(detokenize(ids), "Hello world")
        # The tokenizer's own CLI is the reference for the ids.
        out = subprocess.run([CLI, "tokenize", "--model", MODEL, "--text", "Hello world"], capture_output=True,
                             text=True, check=True)
        self.assertEqual(ids, json.loads(out.stdout)["ids"])
        status, info = SRV.json("GET", "/tokenizer_info")
        self.assertEqual(status, 200)
        self.assertEqual(info["eos_token"], "<|endoftext|>")
        status, body = SRV.post("/tokenize", {"prompt": "Hello world"})
        self.assertEqual(body["count"], len(body["tokens"]))
        self.assertEqual(body["max_model_len"], 512)


class LmEval(unittest.TestCase):
    """What lm-eval's local-completions sends, checked the way lm-eval reads it."""

    def test_loglikelihood_matches_score(self):
        ctx_a = tokenize("The capital of France is")
        ctx_b = tokenize("Question: what is two plus two?\nAnswer:")
        reqs = [(ctx_a, tokenize(" Paris")), (ctx_a, tokenize(" a city in Europe")), (ctx_b, tokenize(" four")),
                (ctx_b, [EOS])]
        # lm-eval batches: a list of token lists in one request.
        payload = {"model": "tiny-stablelm-2", "prompt": [c + k for c, k in reqs], "temperature": 0,
                   "max_tokens": 1, "logprobs": 1, "seed": 1234, "echo": True}
        status, out = SRV.post("/v1/completions", payload)
        self.assertEqual(status, 200, out)
        choices = sorted(out["choices"], key=lambda c: c["index"])
        self.assertEqual(len(choices), len(reqs))
        for (ctx, cont), choice in zip(reqs, choices):
            lp = choice["logprobs"]
            self.assertEqual(len(lp["token_logprobs"]), len(ctx) + len(cont) + 1)
            self.assertIsNone(lp["token_logprobs"][0])
            ctxlen = len(ctx)
            got = lp["token_logprobs"][ctxlen:-1]
            is_greedy = all(tok == max(top.values()) for tok, top in zip(got, lp["top_logprobs"][ctxlen:-1]))
            ref = score(ctx, cont)
            self.assertEqual(got, ref["token_logprobs"])  # bitwise, through JSON
            self.assertEqual(sum(got), ref["logprob"])
            self.assertEqual(is_greedy, ref["greedy"])
            # The whole prompt's logprobs: each equals score() of that one token.
            self.assertEqual(lp["token_logprobs"][1], score(ctx[:1], ctx[1:2])["token_logprobs"][0])

    def test_continuations_reuse_the_cached_context(self):
        # lm-eval sends one context with several continuations: the second request takes the
        # context's KV blocks and prompt logprobs from the caches, and answers bit for bit what a
        # server that never saw the context answers.
        ctx = tokenize("In the beginning of the long tale, the river ran past seven old mills and the"
                       " millers argued every morning about the price of grain, the weather and the king")
        self.assertGreaterEqual(len(ctx), 33)  # two whole blocks of context
        payload = lambda cont, k: {"prompt": ctx + tokenize(cont), "max_tokens": 1, "logprobs": k, "echo": True,
                                   "temperature": 0, "seed": 1234}
        cold = Server(CLI, MODEL, "--parallel", "1")
        try:
            want = [cold.post("/v1/completions", payload(" forever.", k)) for k in (2, 0)]
        finally:
            self.assertEqual(cold.stop(), 0)
        status, _ = SRV.post("/v1/completions", payload(" and the queen.", 5))
        self.assertEqual(status, 200)
        for (wstatus, wbody), k in zip(want, (2, 0)):
            hits0 = SRV.metrics()["stablelm_prefix_cache_hits_total"]
            status, body = SRV.post("/v1/completions", payload(" forever.", k))
            self.assertEqual((status, wstatus), (200, 200))
            self.assertGreaterEqual(SRV.metrics()["stablelm_prefix_cache_hits_total"] - hits0, 32)
            self.assertEqual(body["choices"], wbody["choices"])

    def test_generate_until(self):
        prompt = tokenize("Once upon a time")
        ref = generate_ids(prompt, 24)
        payload = {"model": "m", "prompt": [prompt], "max_tokens": 24, "temperature": 0, "seed": 1234}
        status, out = SRV.post("/v1/completions", payload)
        self.assertEqual(status, 200, out)
        ref_ids = ref[:-1] if ref and ref[-1] == EOS else ref
        ref_text = detokenize(ref_ids)
        self.assertEqual(out["choices"][0]["text"], ref_text)
        self.assertEqual(out["usage"]["completion_tokens"], len(ref))
        # With a stop string taken from the middle of the greedy text: the text ends before it.
        if len(ref_text) > 6:
            stop = ref_text[3:6]
            payload["stop"] = [stop, "never-occurs"]
            status, out = SRV.post("/v1/completions", payload)
            self.assertEqual(out["choices"][0]["text"], ref_text[:ref_text.find(stop)])
            self.assertEqual(out["choices"][0]["finish_reason"], "stop")

    def test_max_tokens_zero_echo(self):
        ids = tokenize("One two three")
        status, out = SRV.post("/v1/completions", {"prompt": ids, "max_tokens": 0, "echo": True, "logprobs": 0})
        self.assertEqual(status, 200, out)
        c = out["choices"][0]
        self.assertEqual(c["text"], "One two three")
        self.assertEqual(len(c["logprobs"]["tokens"]), len(ids))
        self.assertEqual(c["logprobs"]["token_logprobs"][1:], score(ids[:1], ids[1:])["token_logprobs"])
        self.assertEqual(out["usage"]["completion_tokens"], 0)


class Sampling(unittest.TestCase):
    def test_n_and_best_of(self):
        base = {"prompt": "Hello", "max_tokens": 8, "temperature": 1.0, "seed": 7}
        status, out = SRV.post("/v1/completions", dict(base, n=3))
        self.assertEqual(status, 200, out)
        self.assertEqual([c["index"] for c in out["choices"]], [0, 1, 2])
        status, again = SRV.post("/v1/completions", dict(base, n=3))
        self.assertEqual([c["text"] for c in out["choices"]], [c["text"] for c in again["choices"]])  # seeded
        status, out = SRV.post("/v1/completions", dict(base, n=2, best_of=4))
        self.assertEqual(status, 200, out)
        self.assertEqual(len(out["choices"]), 2)
        status, out = SRV.post("/v1/completions", {"prompt": ["a", "b"], "max_tokens": 2, "n": 2})
        self.assertEqual([c["index"] for c in out["choices"]], [0, 1, 2, 3])

    def test_logit_bias_and_penalties(self):
        x = tokenize(" x")[-1]
        status, out = SRV.post("/v1/completions", {"prompt": "Hello", "max_tokens": 4, "temperature": 0,
                                                   "logit_bias": {str(x): 100}})
        self.assertEqual(status, 200, out)
        self.assertEqual(out["choices"][0]["text"], detokenize([x] * 4))  # greedy, and the bias dominates
        status, out = SRV.post("/v1/completions", {"prompt": "Hello", "max_tokens": 4, "temperature": 0,
                                                   "presence_penalty": 2, "frequency_penalty": -2})
        self.assertEqual(status, 200, out)
        for body, param in [({"logit_bias": {"999999999": 1}}, "logit_bias"), ({"logit_bias": {"x": 1}}, "logit_bias"),
                            ({"logit_bias": {"5": 101}}, "logit_bias"), ({"logit_bias": [1]}, "logit_bias"),
                            ({"presence_penalty": 2.5}, "presence_penalty"), ({"frequency_penalty": "1"}, "frequency_penalty"),
                            ({"suffix": "end"}, "suffix")]:
            status, out = SRV.post("/v1/completions", dict(prompt="Hello", max_tokens=2, **body))
            self.assertEqual(status, 400, body)
            self.assertEqual(out["error"]["param"], param, body)

    def test_alone_vs_16_concurrent_bitwise(self):
        target = {"prompt": "The quick brown fox", "max_tokens": 40, "temperature": 0, "logprobs": 3}
        status, alone = SRV.post("/v1/completions", target)
        self.assertEqual(status, 200)
        others = [{"prompt": "Request number %d says" % i, "max_tokens": 10 + 3 * i, "temperature": 0.8, "seed": i}
                  for i in range(15)]
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            futs = [ex.submit(SRV.post, "/v1/completions", b) for b in others[:8]]
            mine = ex.submit(SRV.post, "/v1/completions", target)
            futs += [ex.submit(SRV.post, "/v1/completions", b) for b in others[8:]]
            status, crowd = mine.result()
            for f in futs:
                self.assertEqual(f.result()[0], 200)
        self.assertEqual(alone["choices"], crowd["choices"])


class PrefixCacheAndMetrics(unittest.TestCase):
    def test_second_turn_hits_the_prefix_cache(self):
        prompt = tokenize("A long shared context. " * 12)
        self.assertGreater(len(prompt), 40)
        before = SRV.metrics()
        s, first = SRV.post("/v1/completions", {"prompt": prompt, "max_tokens": 4, "temperature": 0})
        s, second = SRV.post("/v1/completions", {"prompt": prompt, "max_tokens": 4, "temperature": 0})
        after = SRV.metrics()
        self.assertEqual(first["choices"], second["choices"])  # the cached prefix gives the same bits
        hits = after["stablelm_prefix_cache_hits_total"] - before["stablelm_prefix_cache_hits_total"]
        self.assertGreaterEqual(hits, (len(prompt) - 1) // 16 * 16)
        self.assertGreater(after["stablelm_prefix_cache_hit_rate"], 0)
        self.assertGreater(after["stablelm_kv_blocks_total"], 0)
        self.assertGreater(after['stablelm_time_to_first_token_seconds_bucket{le="+Inf"}'],
                           before['stablelm_time_to_first_token_seconds_bucket{le="+Inf"}'])


class Streaming(unittest.TestCase):
    def test_curl_sse_framing_and_usage(self):
        body = {"prompt": "Hello world", "max_tokens": 12, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        out = subprocess.run(["curl", "-sN", "-H", "Content-Type: application/json", "-d", json.dumps(body),
                              "http://127.0.0.1:%d/v1/completions" % SRV.port], capture_output=True, text=True,
                             check=True).stdout
        self.assertTrue(out.endswith("data: [DONE]\n\n"), out[-200:])
        events = [e for e in out.split("\n\n") if e]
        self.assertTrue(all(e.startswith("data: ") for e in events))
        chunks = [json.loads(e[6:]) for e in events[:-1]]
        self.assertEqual(chunks[-1]["choices"], [])
        usage = chunks[-1]["usage"]
        text = "".join(c["choices"][0]["text"] for c in chunks[:-1])
        self.assertEqual(chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length"), True)
        status, whole = SRV.post("/v1/completions", dict(body, stream=False, stream_options=None))
        self.assertEqual(text, whole["choices"][0]["text"])
        self.assertEqual(usage, whole["usage"])


class Errors(unittest.TestCase):
    def check_error(self, status, body, want_status, param=None):
        self.assertEqual(status, want_status, body)
        self.assertEqual(set(body["error"].keys()), {"message", "type", "param", "code"})
        if param:
            self.assertEqual(body["error"]["param"], param)

    def test_bad_requests(self):
        s, _, t = SRV.request("POST", "/v1/completions", raw="{not json")
        self.check_error(s, json.loads(t), 400)
        s, _, t = SRV.request("POST", "/v1/completions", raw="[1,2]")
        self.check_error(s, json.loads(t), 400)
        for body, param in [({"prompt": 5}, "prompt"), ({"prompt": "x", "max_tokens": "3"}, "max_tokens"),
                            ({"prompt": "x", "n": 99}, "n"), ({"prompt": "x", "stop": 3}, "stop"),
                            ({"prompt": "x", "stop": [""]}, "stop"), ({"prompt": "x", "temperature": -1}, "temperature"),
                            ({"prompt": "x", "n": 2, "best_of": 1}, "best_of"), ({"prompt": [[1, -5]]}, "prompt"),
                            ({"prompt": [999999999]}, "prompt"), ({"prompt": "x", "logprobs": 100}, "logprobs"),
                            ({"prompt": "x", "echo": "yes"}, "echo"), ({"prompt": []}, "prompt"),
                            ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
                            ({"prompt": "x", "top_p": 0}, "top_p"),
                            ({"prompt": "x", "max_tokens": 1e30}, "max_tokens"),
                            ({"prompt": "x", "stream_options": {"include_usage": True}}, "stream_options")]:
            s, b = SRV.post("/v1/completions", body)
            self.check_error(s, b, 400, param)

    def test_context_length(self):
        s, b = SRV.post("/v1/completions", {"prompt": [1] * 600, "max_tokens": 1})
        self.check_error(s, b, 400)
        self.assertIn("512", b["error"]["message"])
        self.assertIn("600", b["error"]["message"])
        s, b = SRV.post("/v1/completions", {"prompt": [1] * 500, "max_tokens": 20})
        self.check_error(s, b, 400)
        self.assertIn("520", b["error"]["message"])

    def test_unknown_route(self):
        s, b = SRV.json("GET", "/v1/nothing")
        self.check_error(s, b, 404)
        s, b = SRV.post("/v1/engines", {})
        self.check_error(s, b, 404)

    def test_hostile_bodies(self):
        for raw in ["[" * 200000, '{"prompt": "' + "\\u00" * 1000 + '"}', '{"prompt": "\\udc00"}',
                    '{"prompt": [' + ",".join(["1"] * 100000) + '], "max_tokens": 1}', "\x00\xff", ""]:
            s, _, t = SRV.request("POST", "/v1/completions", raw=raw.encode("utf-8", "surrogatepass"))
            self.assertEqual(s, 400, t[:200])
            self.assertIn("error", json.loads(t))
        s, b = SRV.post("/v1/completions", {"prompt": "x", "max_tokens": 2, "n": 2, "best_of": 3, "stream": True})
        self.assertEqual(s, 400)
        self.assertEqual(SRV.json("GET", "/health")[0], 200)

    def test_deeply_nested_bodies(self):
        # Valid JSON nested 100000 deep: walking it recursively would overflow the stack (it crashed
        # the server before the depth limit). Every route answers 400 naming the limit.
        deep = "[" * 100000 + "]" * 100000
        for path, raw in [("/v1/completions", '{"prompt": "x", "stop": %s}' % deep),
                          ("/v1/chat/completions", '{"messages": [{"role": "user", "content": %s}]}' % deep),
                          ("/tokenize", '{"messages": [{"role": "user", "content": "x"}], "tools": %s}' % deep),
                          ("/apply-template", '{"messages": [{"role": "user", "content": %s}]}' % deep),
                          ("/detokenize", '{"tokens": %s}' % deep)]:
            s, _, t = SRV.request("POST", path, raw=raw.encode())
            self.assertEqual(s, 400, (path, t[:200]))
            self.assertIn("nested deeper than 128 levels", json.loads(t)["error"]["message"], path)
        self.assertEqual(SRV.json("GET", "/health")[0], 200)

    def test_server_survives(self):
        # Garbage on a raw socket, then a normal request still works.
        with socket.create_connection(("127.0.0.1", SRV.port)) as sock:
            sock.sendall(b"\x00\xffGARBAGE / HTTP/9.9\r\n\r\n")
            sock.recv(1024)
        self.assertEqual(SRV.json("GET", "/health")[0], 200)


class Disconnect(unittest.TestCase):
    def test_client_disconnect_frees_blocks(self):
        body = json.dumps({"prompt": "Tell me a long story", "max_tokens": 480, "temperature": 0, "stream": True})
        sock = socket.create_connection(("127.0.0.1", SRV.port))
        sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
        got = b""
        while b"data: " not in got:
            got += sock.recv(4096)
        self.assertTrue(SRV.wait_metric("stablelm_requests_running", lambda v: v == 1))
        sock.close()
        self.assertTrue(SRV.wait_metric("stablelm_requests_running", lambda v: v == 0))
        self.assertTrue(SRV.wait_metric("stablelm_kv_blocks_used", lambda v: v == 0))
        m = SRV.metrics()
        self.assertLess(m["stablelm_generation_tokens_total"], 10**6)


    def test_non_streamed_client_disconnect_cancels(self):
        # A JSON answer waits for the whole request; the server still notices the client leaving.
        failed0 = SRV.metrics().get("stablelm_requests_failed_total", 0)
        gen0 = SRV.metrics()["stablelm_generation_tokens_total"]
        body = json.dumps({"prompt": "Tell me a long story", "max_tokens": 480, "n": 8, "temperature": 1, "seed": 3})
        sock = socket.create_connection(("127.0.0.1", SRV.port))
        sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
        self.assertTrue(SRV.wait_metric("stablelm_generation_tokens_total", lambda v: v > gen0))
        sock.close()
        self.assertTrue(SRV.wait_metric("stablelm_requests_running", lambda v: v == 0))
        self.assertTrue(SRV.wait_metric("stablelm_kv_blocks_used", lambda v: v == 0))
        m = SRV.metrics()
        self.assertEqual(m["stablelm_requests_failed_total"], failed0 + 1)
        self.assertLess(m["stablelm_generation_tokens_total"] - gen0, 8 * 480)


class FailureAfterAdmission(unittest.TestCase):
    def test_non_streamed_failure_has_its_own_status(self):
        # Two requests that cannot both fit the KV pool: the younger one gives its blocks back and its
        # client gets a 503 in the error shape (not a 200 with an error body); the other completes.
        # (Long completions, so the first is still running when the second arrives.)
        srv = Server(CLI, MODEL, "--parallel", "2", "--ctx-size", "256", "--kv-tokens", "256")
        try:
            prompt = tokenize("The quick brown fox")
            body = {"prompt": prompt, "max_tokens": 256 - len(prompt), "temperature": 0}
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                futs = [ex.submit(srv.request, "POST", "/v1/completions", body) for _ in range(2)]
                results = sorted(f.result()[0:3:2] for f in futs)
            (s_ok, t_ok), (s_err, t_err) = results
            self.assertEqual(s_ok, 200, t_ok)
            self.assertEqual(json.loads(t_ok)["choices"][0]["finish_reason"], "length")
            self.assertEqual(s_err, 503, t_err)
            err = json.loads(t_err)["error"]
            self.assertIn("KV cache is full", err["message"])
            self.assertEqual(set(err), {"message", "type", "param", "code"})
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_sigterm_answers_waiting_json_request_with_503(self):
        srv = Server(CLI, MODEL, "--parallel", "1", "--shutdown-grace", "0")
        try:
            body = json.dumps({"prompt": "long", "max_tokens": 480, "n": 8, "temperature": 1, "seed": 1})
            sock = socket.create_connection(("127.0.0.1", srv.port))
            sock.sendall(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
            self.assertTrue(srv.wait_metric("stablelm_requests_running", lambda v: v == 1))
        finally:
            self.assertEqual(srv.stop(), 0)
        got = b""
        sock.settimeout(30)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
        sock.close()
        head, _, rest = got.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 503"), got[:200])
        self.assertIn("shutting down", json.loads(rest)["error"]["message"])


class Auth(unittest.TestCase):
    def test_api_key_and_limits(self):
        srv = Server(CLI, MODEL, "--api-key", "sekrit", "--max-body", "1000")
        try:
            self.assertEqual(srv.json("GET", "/health")[0], 200)
            s, b = srv.json("GET", "/v1/models")
            self.assertEqual(s, 401)
            self.assertEqual(b["error"]["code"], "invalid_api_key")
            s, b = srv.json("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
            self.assertEqual(s, 401)
            s, b = srv.json("GET", "/v1/models", headers={"Authorization": "Bearer sekrit"})
            self.assertEqual(s, 200)
            s, _, t = srv.request("POST", "/v1/completions", raw=json.dumps({"prompt": "x" * 5000}),
                                  headers={"Authorization": "Bearer sekrit"})
            self.assertEqual(s, 413)
            self.assertEqual(json.loads(t)["error"]["code"], "request_too_large")
        finally:
            self.assertEqual(srv.stop(), 0)


class QueueFull(unittest.TestCase):
    def test_503_with_retry_after_then_sigterm(self):
        srv = Server(CLI, MODEL, "--parallel", "1", "--max-queue", "1", "--shutdown-grace", "0")
        socks = []
        try:
            body = json.dumps({"prompt": "long", "max_tokens": 500, "temperature": 0, "stream": True})
            raw = ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode()
            s1 = socket.create_connection(("127.0.0.1", srv.port))
            s1.sendall(raw)
            socks.append(s1)
            self.assertTrue(srv.wait_metric("stablelm_requests_running", lambda v: v == 1))
            s2 = socket.create_connection(("127.0.0.1", srv.port))
            s2.sendall(raw)
            socks.append(s2)
            self.assertTrue(srv.wait_metric("stablelm_requests_waiting", lambda v: v == 1))
            status, headers, text = srv.request("POST", "/v1/completions", {"prompt": "x", "max_tokens": 2})
            self.assertEqual(status, 503)
            self.assertEqual(headers.get("Retry-After"), "1")
            self.assertEqual(json.loads(text)["error"]["code"], "server_busy")
        finally:
            # SIGTERM with requests running: they are cancelled (grace 0) and the process exits 0.
            self.assertEqual(srv.stop(), 0)
            for s in socks:
                s.close()


CHAT = None


def model_with_template(template_id):
    """A temporary copy of the fixture model (links) whose tokenizer_config.json carries the chat
    template of fixtures/chat-templates/TEMPLATE_ID; returns (directory, that template's cases)."""
    tdir = os.path.join(FIXTURES, "chat-templates", template_id)
    tmp = tempfile.mkdtemp()
    for f in os.listdir(MODEL):
        if f != "tokenizer_config.json":
            os.symlink(os.path.abspath(os.path.join(MODEL, f)), os.path.join(tmp, f))
    with open(os.path.join(MODEL, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(tdir, "tokenizer_config.json")) as f:
        cfg["chat_template"] = json.load(f)["chat_template"]
    with open(os.path.join(tmp, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(tdir, "cases.jsonl")) as f:
        return tmp, [json.loads(l) for l in f]


class Chat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global CHAT
        cls.tmp, cls.cases = model_with_template("stabilityai-stablelm-2-zephyr-1_6b")
        CHAT = Server(CLI, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        global CHAT
        assert CHAT.stop() == 0
        CHAT = None
        shutil.rmtree(cls.tmp)

    def test_apply_template_matches_jinja2(self):
        n = 0
        for case in self.cases:
            if "expected" not in case or case.get("tools") or case.get("documents") or case.get("extra_context"):
                continue
            s, b = CHAT.post("/apply-template", {"messages": case["messages"],
                                                 "add_generation_prompt": case["add_generation_prompt"]})
            self.assertEqual(s, 200, b)
            self.assertEqual(b["prompt"], case["expected"], case["case"])
            n += 1
        self.assertGreater(n, 5)

    def test_chat_completion(self):
        msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
        s, b = CHAT.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 10, "temperature": 0,
                                                   "logprobs": True, "top_logprobs": 2})
        self.assertEqual(s, 200, b)
        c = b["choices"][0]
        self.assertEqual(c["message"]["role"], "assistant")
        self.assertIn(c["finish_reason"], ("stop", "length"))
        # The prompt is the template's rendering, tokenized; the answer is stablelm generate's greedy.
        s, t = CHAT.post("/tokenize", {"messages": msgs})
        self.assertEqual(b["usage"]["prompt_tokens"], t["count"])
        ref = generate_ids(t["tokens"], 10)
        ref_ids = ref[:-1] if ref[-1] == EOS else ref
        self.assertEqual(c["message"]["content"], detokenize(ref_ids))
        content = c["logprobs"]["content"]
        self.assertEqual(len(content), len(ref))
        for e in content:
            self.assertEqual(e["logprob"], e["top_logprobs"][0]["logprob"])  # greedy: the top entry, bitwise
            if not e["token"].startswith("bytes:"):
                self.assertEqual(bytes(e["bytes"]).decode("utf-8"), e["token"])
        s, b = SRV.post("/v1/chat/completions", {"messages": msgs})  # the fixture model has no template
        self.assertEqual(s, 400)

    def test_chat_stream_role_first(self):
        c = CHAT.conn()
        c.request("POST", "/v1/chat/completions", body=json.dumps(
            {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "stream": True, "temperature": 0}),
                  headers={"Content-Type": "application/json"})
        events = sse_events(c.getresponse())
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(chunks[0]["object"], "chat.completion.chunk")
        self.assertIn(chunks[-1]["choices"][0]["finish_reason"], ("stop", "length"))
        text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
        status, whole = CHAT.post("/v1/chat/completions",
                                  {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 6, "temperature": 0})
        self.assertEqual(text, whole["choices"][0]["message"]["content"])

    def test_openai_npm_client(self):
        clients = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients")
        if not os.path.isdir(os.path.join(clients, "node_modules", "openai")) or not shutil.which("node"):
            self.skipTest("the openai npm client is not installed (scripts/install-test-clients.sh)")
        out = subprocess.run(["node", os.path.join(clients, "openai_client.mjs"), "http://127.0.0.1:%d" % SRV.port,
                              "http://127.0.0.1:%d" % CHAT.port], capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("openai client: ok", out.stdout)

    def test_web_page(self):
        s, h, t = CHAT.request("GET", "/")
        self.assertEqual(s, 200)
        self.assertIn("text/html", h["Content-Type"])
        self.assertIn("/v1/chat/completions", t)
        self.assertNotIn("<script src", t)  # self-contained

    def test_web_page_in_chromium(self):
        clients = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "clients")
        if not os.path.isdir(os.path.join(clients, "node_modules", "playwright-core")) or not os.path.exists(
                "/usr/bin/chromium"):
            self.skipTest("playwright-core or /usr/bin/chromium missing (scripts/install-test-clients.sh, install-deps.sh)")
        out_dir = os.environ.get("STABLELM_TEST_OUT", tempfile.mkdtemp(prefix="stablelm-web-"))
        os.makedirs(out_dir, exist_ok=True)
        out = subprocess.run(["node", os.path.join(clients, "web_page.mjs"), "http://127.0.0.1:%d" % CHAT.port, out_dir],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertTrue(os.path.exists(os.path.join(out_dir, "stopped.png")))


WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}}}


def closing_bias(server, bias=6.0):
    """logit_bias raising the tokens that close strings, objects and lists: a random-weight model held
    to JSON otherwise writes string text until its tokens run out, and nothing would be closed."""
    out = {}
    for ch in ('"', "}", "]"):
        s, b = server.post("/tokenize", {"prompt": ch, "add_special_tokens": False})
        assert s == 200 and len(b["tokens"]) == 1, b
        out[str(b["tokens"][0])] = bias
    return out


def streamed_chat_content(server, body):
    """The content of a chat completion asked for again with stream: true, its deltas joined."""
    conn = server.conn()
    conn.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)),
                 headers={"Content-Type": "application/json"})
    events = [json.loads(e) for e in sse_events(conn.getresponse())[:-1]]
    conn.close()
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


class ZephyrChatServer(unittest.TestCase):
    """A server of the tiny model with the zephyr chat template (self.chat), beside SRV."""

    @classmethod
    def setUpClass(cls):
        cls.tmp, _ = model_with_template("stabilityai-stablelm-2-zephyr-1_6b")
        cls.chat = Server(CLI, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        assert cls.chat.stop() == 0
        shutil.rmtree(cls.tmp)


class JsonMode(ZephyrChatServer):
    """response_format {"type": "json_object"}: the output is one JSON object once it closes."""

    def test_chat_json_object(self):
        msgs = [{"role": "user", "content": "Describe a cat as a JSON object."}]
        s, t = self.chat.post("/tokenize", {"messages": msgs})
        self.assertEqual(s, 200, t)
        closed = 0
        for seed in range(1, 9):
            body = {"messages": msgs, "max_tokens": 40, "temperature": 1.0, "seed": seed,
                    "response_format": {"type": "json_object"}, "logit_bias": closing_bias(self.chat)}
            s, b = self.chat.post("/v1/chat/completions", body)
            self.assertEqual(s, 200, b)
            c = b["choices"][0]
            if c["finish_reason"] == "stop":
                self.assertIsInstance(json.loads(c["message"]["content"]), dict)
                closed += 1
            else:
                self.assertEqual(c["finish_reason"], "length")
                self.assertEqual(b["usage"]["completion_tokens"], 40)
            # Streamed: the same text in pieces.
            self.assertEqual(streamed_chat_content(self.chat, body), c["message"]["content"])
        self.assertGreater(closed, 0, "no seed closed its object")
        # Greedy: the same tokens as stablelm generate in JSON mode on the rendered prompt.
        s, b = self.chat.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 12, "temperature": 0,
                                                   "response_format": {"type": "json_object"}})
        self.assertEqual(s, 200, b)
        out = subprocess.run([CLI, "generate", "--model", MODEL, "--threads", "1", "--ids",
                              ",".join(map(str, t["tokens"])), "--max-new-tokens", "12", "--greedy", "--print-ids",
                              "--response-format", "json_object"], capture_output=True, text=True, check=True)
        self.assertEqual(b["choices"][0]["message"]["content"], detokenize(json.loads(out.stdout)["ids"]))

    def test_completions_json_object(self):
        s, b = SRV.post("/v1/completions", {"prompt": "JSON:", "max_tokens": 30, "temperature": 1.0, "seed": 3,
                                            "n": 4, "response_format": {"type": "json_object"},
                                            "logit_bias": closing_bias(SRV)})
        self.assertEqual(s, 200, b)
        for c in b["choices"]:
            if c["finish_reason"] == "stop":
                self.assertIsInstance(json.loads(c["text"]), dict)
            else:
                self.assertEqual(c["finish_reason"], "length")
                self.assertEqual(c["text"].lstrip()[:1], "{")

    SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 6},
                                               "legs": {"type": "integer"},
                                               "tag": {"type": "string", "pattern": "^#[a-z]{1,4}$"},
                                               "kind": {"enum": ["cat", "dog", None]}},
              "required": ["name", "legs", "tag"], "additionalProperties": False}

    def test_chat_json_schema(self):
        msgs = [{"role": "user", "content": "Describe a pet as JSON."}]
        s, t = self.chat.post("/tokenize", {"messages": msgs})
        self.assertEqual(s, 200, t)
        rf = {"type": "json_schema", "json_schema": {"name": "pet", "schema": self.SCHEMA, "strict": True}}
        finished = 0
        for seed in range(1, 7):
            body = {"messages": msgs, "max_tokens": 40, "temperature": 0.8, "seed": seed, "response_format": rf,
                    "logit_bias": closing_bias(self.chat)}
            s, b = self.chat.post("/v1/chat/completions", body)
            self.assertEqual(s, 200, b)
            c = b["choices"][0]
            if c["finish_reason"] == "stop":
                v = json.loads(c["message"]["content"])
                self.assertLessEqual(set(v), {"name", "legs", "tag", "kind"})
                self.assertRegex(v["tag"], r"\A#[a-z]{1,4}\Z")
                self.assertIsInstance(v["name"], str)
                self.assertLessEqual(len(v["name"]), 6)
                self.assertIsInstance(v["legs"], int)
                self.assertIn(v.get("kind"), ["cat", "dog", None])
                finished += 1
            else:
                self.assertEqual(c["finish_reason"], "length")
            self.assertEqual(streamed_chat_content(self.chat, body), c["message"]["content"])
        self.assertGreater(finished, 0, "no seed finished its value")
        # Greedy: the same tokens as stablelm generate --json-schema on the rendered prompt.
        s, b = self.chat.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 12, "temperature": 0,
                                                       "response_format": rf})
        self.assertEqual(s, 200, b)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(self.SCHEMA, f)
        try:
            out = subprocess.run([CLI, "generate", "--model", MODEL, "--threads", "1", "--ids",
                                  ",".join(map(str, t["tokens"])), "--max-new-tokens", "12", "--greedy",
                                  "--print-ids", "--json-schema", f.name], capture_output=True, text=True, check=True)
        finally:
            os.unlink(f.name)
        self.assertEqual(b["choices"][0]["message"]["content"], detokenize(json.loads(out.stdout)["ids"]))

    def test_completions_json_schema_choice(self):
        # A root enum: a classification that always finishes, one of the listed strings.
        labels = ["positive", "negative", "neutral"]
        s, b = SRV.post("/v1/completions", {"prompt": "Sentiment:", "max_tokens": 20, "temperature": 1.0,
                                            "seed": 5, "n": 4,
                                            "response_format": {"type": "json_schema",
                                                                "json_schema": {"name": "label",
                                                                                "schema": {"enum": labels}}}})
        self.assertEqual(s, 200, b)
        for c in b["choices"]:
            self.assertEqual(c["finish_reason"], "stop", c)
            self.assertIn(json.loads(c["text"]), labels)

    def test_other_servers_names_for_a_schema(self):
        # vLLM's guided_json (an object or its JSON text) and llama.cpp's json_schema: the same output
        # as response_format json_schema.
        schema = {"enum": ["yes", "no", {"maybe": True}]}
        base = {"prompt": "Answer:", "max_tokens": 12, "temperature": 0.9, "seed": 4, "n": 2}
        s, want = SRV.post("/v1/completions", dict(base, response_format={
            "type": "json_schema", "json_schema": {"name": "a", "schema": schema}}))
        self.assertEqual(s, 200, want)
        for extra in ({"guided_json": schema}, {"guided_json": json.dumps(schema)}, {"json_schema": schema}):
            s, b = SRV.post("/v1/completions", dict(base, **extra))
            self.assertEqual(s, 200, b)
            self.assertEqual([c["text"] for c in b["choices"]], [c["text"] for c in want["choices"]], extra)
        for extra, param in [({"guided_json": schema, "json_schema": schema}, "json_schema"),
                             ({"guided_json": schema, "response_format": {"type": "json_object"}}, "guided_json"),
                             ({"guided_json": "{not json"}, "guided_json"),
                             ({"json_schema": {"type": "integer"}}, "json_schema")]:
            s, b = SRV.post("/v1/completions", dict(base, **extra))
            self.assertEqual(s, 400, b)
            self.assertEqual(b["error"]["param"], param, b)

    def test_json_schema_errors_name_the_keyword(self):
        for schema, words in [({"type": "object", "properties": {"a": {"type": "string", "pattern": "(?=x)"}}},
                               ["'pattern'", "lookaround", "#/properties/a/pattern"]),
                              ({"anyOf": [{"type": "object"}, {"type": "object", "required": ["a"]}]},
                               ["both allow an object"]),
                              ({"$ref": "#/$defs/nope"}, ["names nothing"]),
                              ({"type": "number"}, ["bare number"]),
                              ("object", ["must be an object or a boolean"])]:
            s, b = SRV.post("/v1/completions", {"prompt": "x", "max_tokens": 2, "response_format": {
                "type": "json_schema", "json_schema": {"name": "s", "schema": schema}}})
            self.assertEqual(s, 400, b)
            self.assertEqual(b["error"]["param"], "response_format")
            for w in words:
                self.assertIn(w, b["error"]["message"])


class GuidedText(ZephyrChatServer):
    """vLLM's guided_regex and guided_choice (and structured_outputs): raw text a regex matches
    whole; an end of sequence token may come once it matches."""

    def test_guided_regex_matches_whole(self):
        pattern = r"\d{3}-[a-z]{2}(!|\?)?"
        base = {"prompt": "Code:", "max_tokens": 20, "temperature": 1.0, "seed": 7, "n": 4}
        s, b = SRV.post("/v1/completions", dict(base, guided_regex=pattern))
        self.assertEqual(s, 200, b)
        for c in b["choices"]:
            # Ends where nothing can follow, or at an end of sequence once it matches.
            self.assertEqual(c["finish_reason"], "stop", c)
            self.assertRegex(c["text"], r"\A(?:" + pattern + r")\Z")
        # vLLM's newer structured_outputs: the same texts.
        s, b2 = SRV.post("/v1/completions", dict(base, structured_outputs={"regex": pattern}))
        self.assertEqual(s, 200, b2)
        self.assertEqual([c["text"] for c in b2["choices"]], [c["text"] for c in b["choices"]])
        # Greedy: the same tokens as stablelm generate --regex.
        ids = tokenize("Code:")
        s, g = SRV.post("/v1/completions", {"prompt": ids, "max_tokens": 20, "temperature": 0,
                                            "guided_regex": pattern})
        self.assertEqual(s, 200, g)
        out = subprocess.run([CLI, "generate", "--model", MODEL, "--threads", "1", "--ids", ",".join(map(str, ids)),
                              "--max-new-tokens", "20", "--greedy", "--print-ids", "--regex", pattern],
                             capture_output=True, text=True, check=True)
        # (The CLI's ids end with the end of sequence token the server leaves out of the text.)
        self.assertEqual(g["choices"][0]["text"], detokenize(json.loads(out.stdout)["ids"]).replace("<|endoftext|>", ""))

    def test_open_ended_regex_may_end_at_eos_or_run_out(self):
        s, b = SRV.post("/v1/completions", {"prompt": "Words:", "max_tokens": 6, "temperature": 1.0, "seed": 2,
                                            "n": 4, "guided_regex": "[a-z ]+"})
        self.assertEqual(s, 200, b)
        for c in b["choices"]:
            self.assertIn(c["finish_reason"], ("stop", "length"))
            self.assertRegex(c["text"], r"\A[a-z ]+\Z")

    def test_guided_choice(self):
        labels = ["red", "green", "blue", "dark red", "ünïcode ☂", 'quo"te\\']
        s, b = SRV.post("/v1/completions", {"prompt": "Colour:", "max_tokens": 20, "temperature": 1.0, "seed": 3,
                                            "n": 6, "guided_choice": labels})
        self.assertEqual(s, 200, b)
        for c in b["choices"]:
            self.assertIn(c["text"], labels)
        s, b2 = SRV.post("/v1/completions", {"prompt": "Colour:", "max_tokens": 20, "temperature": 1.0, "seed": 3,
                                             "n": 6, "structured_outputs": {"choice": labels}})
        self.assertEqual(s, 200, b2)
        self.assertEqual([c["text"] for c in b2["choices"]], [c["text"] for c in b["choices"]])
        # In chat: the message's content is one of the choices, streamed or not.
        body = {"messages": [{"role": "user", "content": "Pick a colour."}], "max_tokens": 20, "temperature": 1.0,
                "seed": 5, "guided_choice": labels}
        s, b = self.chat.post("/v1/chat/completions", body)
        self.assertEqual(s, 200, b)
        self.assertIn(b["choices"][0]["message"]["content"], labels)
        self.assertEqual(b["choices"][0]["finish_reason"], "stop")
        self.assertEqual(streamed_chat_content(self.chat, body), b["choices"][0]["message"]["content"])

    def test_structured_outputs_json_is_guided_json(self):
        schema = {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]}
        base = {"prompt": "JSON:", "max_tokens": 12, "temperature": 0.9, "seed": 4, "n": 2}
        s, want = SRV.post("/v1/completions", dict(base, guided_json=schema))
        self.assertEqual(s, 200, want)
        s, b = SRV.post("/v1/completions", dict(base, structured_outputs={"json": schema}))
        self.assertEqual(s, 200, b)
        self.assertEqual([c["text"] for c in b["choices"]], [c["text"] for c in want["choices"]])

    def test_errors_name_the_field(self):
        base = {"prompt": "x", "max_tokens": 2}
        for extra, param, words in [
                ({"guided_regex": "(?=a)"}, "guided_regex", ["lookaround", "offset 0"]),
                ({"guided_regex": "a{2000}"}, "guided_regex", ["count above 1000"]),
                ({"guided_regex": 5}, "guided_regex", ["must be a string"]),
                ({"guided_choice": []}, "guided_choice", ["list of 1 to 4096"]),
                ({"guided_choice": ["a", 1]}, "guided_choice", ["list of strings"]),
                ({"guided_choice": "a"}, "guided_choice", ["list of 1 to 4096"]),
                ({"guided_regex": "a", "guided_choice": ["b"]}, "guided_choice", ["both constrain"]),
                ({"guided_json": {"type": "object"}, "guided_regex": "a"}, "guided_regex", ["both constrain"]),
                ({"response_format": {"type": "json_object"}, "guided_choice": ["a"]}, "guided_choice",
                 ["both constrain"]),
                ({"structured_outputs": {"grammar": "root ::= x"}}, "structured_outputs", ["not supported"]),
                ({"structured_outputs": {"regex": "a", "choice": ["b"]}}, "structured_outputs", ["both constrain"]),
                ({"structured_outputs": "a"}, "structured_outputs", ["must be an object"])]:
            s, b = SRV.post("/v1/completions", dict(base, **extra))
            self.assertEqual(s, 400, (extra, b))
            self.assertEqual(b["error"]["param"], param, (extra, b))
            for w in words:
                self.assertIn(w, b["error"]["message"], (extra, b))
        # A guided choice with forced tool calls: the answer is the calls.
        s, b = self.chat.post("/v1/chat/completions", {
            "messages": [{"role": "user", "content": "x"}], "max_tokens": 2, "guided_choice": ["a"],
            "tools": [WEATHER_TOOL], "tool_choice": "required"})
        self.assertEqual(s, 400, b)
        self.assertEqual(b["error"]["param"], "guided_choice", b)


class ToolCalling(unittest.TestCase):
    """`tools` with a template that reads them (Qwen 2.5: exact as jinja2, key order included) and
    with one that does not (zephyr: the tools go into the system message, docs/SERVER.md)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp, cls.cases = model_with_template("Qwen-Qwen2.5-7B-Instruct")
        cls.zephyr_tmp, _ = model_with_template("stabilityai-stablelm-2-zephyr-1_6b")
        cls.qwen = Server(CLI, cls.tmp)
        cls.zephyr = Server(CLI, cls.zephyr_tmp)

    @classmethod
    def tearDownClass(cls):
        assert cls.qwen.stop() == 0
        assert cls.zephyr.stop() == 0
        shutil.rmtree(cls.tmp)
        shutil.rmtree(cls.zephyr_tmp)

    def test_apply_template_with_tools_matches_jinja2(self):
        # The request's key order reaches the template (tojson of the tools and of the calls).
        n = 0
        for case in self.cases:
            if case.get("documents") or case.get("extra_context"):
                continue
            body = {"messages": case["messages"], "add_generation_prompt": case["add_generation_prompt"]}
            if case.get("tools"):
                body["tools"] = case["tools"]
                n += 1
            s, b = self.qwen.post("/apply-template", body)
            if "expected" in case:
                self.assertEqual(s, 200, b)
                self.assertEqual(b["prompt"], case["expected"], case["case"])
            else:  # jinja2 failed on it: a 400 naming the messages
                self.assertEqual(s, 400, (case["case"], b))
                self.assertEqual(b["error"]["param"], "messages")
        self.assertGreaterEqual(n, 2)

    def test_template_reading_tools_gets_them_in_the_chat_prompt(self):
        msgs = [{"role": "user", "content": "Weather in Tokyo?"}]
        s, t = self.qwen.post("/tokenize", {"messages": msgs, "tools": [WEATHER_TOOL]})
        self.assertEqual(s, 200, t)
        s, b = self.qwen.post("/v1/chat/completions", {"messages": msgs, "tools": [WEATHER_TOOL], "max_tokens": 4,
                                                         "temperature": 0})
        self.assertEqual(s, 200, b)
        self.assertEqual(b["usage"]["prompt_tokens"], t["count"])  # exactly the template's rendering
        s, b2 = self.qwen.post("/v1/chat/completions", {"messages": msgs, "tools": [WEATHER_TOOL], "max_tokens": 4,
                                                          "temperature": 0, "tool_choice": "none"})
        s, t2 = self.qwen.post("/tokenize", {"messages": msgs})
        self.assertEqual(b2["usage"]["prompt_tokens"], t2["count"])  # "none": the model is not shown the tools

    def test_template_without_tools_gets_them_in_the_system_message(self):
        msgs = [{"role": "user", "content": "Please, what is the weather in Tokyo?"}]
        s, b = self.zephyr.post("/v1/chat/completions", {"messages": msgs, "tools": [WEATHER_TOOL], "max_tokens": 6,
                                                   "temperature": 0})
        self.assertEqual(s, 200, b)
        # The prompt is the model card's: the tools as JSON in a system message before the user's.
        system = ("You are a helpful assistant with access to the following functions. You must use them if "
                  "required -\n" + json.dumps([WEATHER_TOOL], indent=2) + "\n")
        s, t = self.zephyr.post("/tokenize", {"messages": [{"role": "system", "content": system}] + msgs})
        self.assertEqual(b["usage"]["prompt_tokens"], t["count"])
        # Greedy: the answer is stablelm generate's on that prompt; random weights give text, not a call.
        ref = generate_ids(t["tokens"], 6)
        c = b["choices"][0]
        self.assertEqual(c["message"]["content"], detokenize(ref[:-1] if ref[-1] == EOS else ref))
        self.assertNotIn("tool_calls", c["message"])
        self.assertIn(c["finish_reason"], ("stop", "length"))
        # Streamed with tools: the same text (held back while it could still be a call).
        c2 = self.zephyr.conn()
        c2.request("POST", "/v1/chat/completions", body=json.dumps(
            {"messages": msgs, "tools": [WEATHER_TOOL], "max_tokens": 6, "temperature": 0, "stream": True}),
                   headers={"Content-Type": "application/json"})
        chunks = [json.loads(e) for e in sse_events(c2.getresponse())[:-1]]
        c2.close()
        self.assertEqual("".join(ch["choices"][0]["delta"].get("content") or "" for ch in chunks),
                         c["message"]["content"])

    def test_tool_call_history_is_rendered_for_a_template_without_tools(self):
        # The OpenAI client's second turn: the assistant's call (content null) and the tool's result.
        msgs = [{"role": "user", "content": "Weather in Tokyo?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function",
                     "function": {"name": "get_current_weather", "arguments": "{\"location\": \"Tokyo\"}"}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "22 C, sunny"}]
        s, b = self.zephyr.post("/v1/chat/completions", {"messages": msgs, "tools": [WEATHER_TOOL], "max_tokens": 3})
        self.assertEqual(s, 200, b)
        # Arguments that are JSON text nested past the limit stay text (they are not walked).
        deep = json.loads(json.dumps(msgs))
        deep[1]["tool_calls"][0]["function"]["arguments"] = "[" * 150 + "]" * 150
        s, b = self.zephyr.post("/v1/chat/completions", {"messages": deep, "tools": [WEATHER_TOOL], "max_tokens": 1})
        self.assertEqual(s, 200, b)
        # Without tools in use the template gets content null and fails like jinja2 would: a 400.
        s, b = self.zephyr.post("/v1/chat/completions", {"messages": msgs, "max_tokens": 3})
        self.assertEqual(s, 400, b)

    def test_forced_tool_choice(self):
        """tool_choice "required" or a named function: generation is constrained to the call list, so a
        choice that ends within its tokens is calls of the allowed functions with object arguments."""
        time_tool = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
        msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
        for server in (self.zephyr, self.qwen):
            for choice, allowed, max_calls in [("required", {"get_current_weather", "get_time"}, None),
                                               ({"type": "function", "function": {"name": "get_time"}}, {"get_time"}, 1)]:
                ended = 0
                for seed in range(1, 7):
                    body = {"messages": msgs, "tools": [WEATHER_TOOL, time_tool], "tool_choice": choice,
                            "max_tokens": 48, "temperature": 1.0, "seed": seed,
                            # Strong: get_current_weather's enforced parameters need a string closed.
                            "logit_bias": closing_bias(server, 9.0)}
                    s, b = server.post("/v1/chat/completions", body)
                    self.assertEqual(s, 200, b)
                    c = b["choices"][0]
                    if c["finish_reason"] == "length":
                        self.assertEqual(b["usage"]["completion_tokens"], 48)
                        continue
                    self.assertEqual(c["finish_reason"], "tool_calls", c)
                    calls = c["message"]["tool_calls"]
                    self.assertGreater(len(calls), 0)
                    if max_calls:
                        self.assertLessEqual(len(calls), max_calls)
                    for call in calls:
                        self.assertIn(call["function"]["name"], allowed)
                        args = json.loads(call["function"]["arguments"])
                        self.assertIsInstance(args, dict)
                        if call["function"]["name"] == "get_current_weather":
                            # Its parameters are enforced: the one declared property, a string.
                            self.assertEqual(list(args), ["location"], args)
                            self.assertIsInstance(args["location"], str)
                    ended += 1
                    # Streamed: the same calls.
                    conn = server.conn()
                    conn.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)),
                                 headers={"Content-Type": "application/json"})
                    events = [json.loads(e) for e in sse_events(conn.getresponse())[:-1]]
                    streamed = [tc for e in events for tc in e["choices"][0]["delta"].get("tool_calls") or []]
                    self.assertEqual([t["function"] for t in streamed], [t["function"] for t in calls])
                self.assertGreater(ended, 0, "no seed ended its calls within 48 tokens: %r" % (choice,))
        # Parameters with an assertion the compiler cannot enforce, not strict: the rest is enforced
        # (the one key, a string), the pattern with a lookahead is not.
        loose = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
            "z": {"type": "string", "pattern": "^(?=[0-9])"}}}}}
        ended = 0
        for seed in range(1, 7):
            s, b = self.zephyr.post("/v1/chat/completions", {"messages": msgs, "tools": [loose],
                                                              "tool_choice": "required", "max_tokens": 40,
                                                              "temperature": 1.0, "seed": seed,
                                                              "logit_bias": closing_bias(self.zephyr, 9.0)})
            self.assertEqual(s, 200, b)
            if b["choices"][0]["finish_reason"] == "tool_calls":
                for call in b["choices"][0]["message"]["tool_calls"]:
                    args = json.loads(call["function"]["arguments"])
                    self.assertLessEqual(set(args), {"z"}, args)
                    self.assertTrue(all(isinstance(v, str) for v in args.values()), args)
                ended += 1
        self.assertGreater(ended, 0)
        # parallel_tool_calls false: one call at most.
        s, b = self.zephyr.post("/v1/chat/completions", {"messages": msgs, "tools": [WEATHER_TOOL, time_tool],
                                                          "tool_choice": "required", "parallel_tool_calls": False,
                                                          "max_tokens": 48, "temperature": 1.0, "seed": 2,
                                                          "logit_bias": closing_bias(self.zephyr)})
        self.assertEqual(s, 200, b)
        if b["choices"][0]["finish_reason"] == "tool_calls":
            self.assertEqual(len(b["choices"][0]["message"]["tool_calls"]), 1)

    def test_tool_request_errors(self):
        msgs = [{"role": "user", "content": "x"}]
        named = {"type": "function", "function": {"name": "get_current_weather"}}
        for body, param in [({"tool_choice": "required"}, "tool_choice"),
                            ({"tool_choice": named}, "tool_choice"),
                            ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function",
                                                                       "function": {"name": "get_time"}}},
                             "tool_choice"),
                            ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function"}}, "tool_choice"),
                            ({"tools": [WEATHER_TOOL], "tool_choice": "required",
                              "response_format": {"type": "json_object"}}, "response_format"),
                            ({"tools": [WEATHER_TOOL], "tool_choice": "required",
                              "response_format": {"type": "json_schema",
                                                  "json_schema": {"name": "x", "schema": {"type": "object"}}}},
                             "response_format"),
                            ({"tools": [{"type": "function", "function": {"name": 'say"hi'}}],
                              "tool_choice": "required"}, "tools"),
                            ({"tools": [WEATHER_TOOL], "tool_choice": 3}, "tool_choice"),
                            ({"tools": [{"type": "function", "function": {
                                "name": "f", "strict": True, "parameters": {"type": "object", "properties": {
                                    "z": {"type": "string", "pattern": "(?<=a)b"}}}}}], "tool_choice": "required"},
                             "tools"),
                            ({"tools": [{"type": "function"}]}, "tools"),
                            ({"tools": [{"type": "retrieval", "function": {"name": "f"}}]}, "tools"),
                            ({"tools": ["f"]}, "tools"),
                            ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
                             "response_format"),
                            ({"response_format": {"type": "xml"}}, "response_format"),
                            ({"response_format": {}}, "response_format"),
                            ({"response_format": "json"}, "response_format")]:
            s, b = self.zephyr.post("/v1/chat/completions", dict(messages=msgs, max_tokens=2, **body))
            self.assertEqual(s, 400, body)
            self.assertEqual(b["error"]["param"], param, body)


if __name__ == "__main__":
    CLI, FIXTURES = sys.argv[1], sys.argv[2]
    MODEL = os.path.join(FIXTURES, "models", "tiny-stablelm-2")
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])
