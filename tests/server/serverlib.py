"""Starts `stablelm serve` on a free port and talks to it over real HTTP (standard library only)."""
import http.client
import json
import os
import re
import signal
import subprocess
import time


class Server:
    def __init__(self, cli, model, *args):
        self.proc = subprocess.Popen([cli, "serve", "--model", model, "--port", "0", "--threads", "1", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited: " + self.proc.stderr.read())
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if "ready" in line:
                return
        raise RuntimeError("server not ready")

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, raw=None):
        c = self.conn()
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8")
        c.close()
        return r.status, dict(r.getheaders()), text

    def json(self, method, path, body=None, headers=None):
        status, hdrs, text = self.request(method, path, body, headers)
        return status, json.loads(text) if text else None

    def post(self, path, body, headers=None):
        return self.json("POST", path, body, headers)

    def metrics(self):
        _, _, text = self.request("GET", "/metrics")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    def wait_metric(self, name, pred, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred(self.metrics().get(name)):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def sse_events(resp):
    """The data payloads of a Server-Sent Events response, in order."""
    out = []
    buf = b""
    while True:
        chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
        if not chunk:
            break
        buf += chunk
    for block in buf.decode("utf-8").split("\n\n"):
        if block.strip():
            assert block.startswith("data: "), block
            out.append(block[len("data: "):])
    return out
