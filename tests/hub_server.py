#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for the hub client's tests (python3 stdlib only).

Serves model directories under the hub's URL scheme and headers:
  GET  /api/models/{org}/{name}/revision/{rev}   {"id", "sha", "siblings": [{"rfilename"}]}
  HEAD|GET /{org}/{name}/resolve/{rev}/{file}    X-Repo-Commit, ETag (git blob sha1); LFS files
                                                 (*.safetensors) answer 302 to /lfs/{sha256} with
                                                 X-Linked-Etag (sha256) and X-Linked-Size
  HEAD|GET /lfs/{sha256}                         the LFS content (the "CDN")
Range requests get 206. Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound,
GatedRepo) like the hub.

Options:
  --repo org/name=DIR         the main branch of a repo (top-level files of DIR)
  --repo org/name@branch=DIR  another branch
  --token T                   every repo is gated: resolve/api need "Authorization: Bearer T"
  --rename old/name=org/name  requests for old/name get a relative 307 redirect (renamed repo)
  --fault KIND:FILE[:COUNT]   KIND: drop (close mid-body), corrupt (flip a byte), stall (half the
                              body, then silence), slow (throttled but complete), 404, 401, 403, 500,
                              norange (ignore Range), drip (one byte every --drip-seconds),
                              extra (no Content-Length, 1 MiB of garbage after the body),
                              nolength (no Content-Length on HEAD or GET). FILE is a repo file name or "api". COUNT:
                              times it fires (default: always).
  --log FILE                  one JSON line per request: method, path, range, status, auth
Prints the chosen port on stdout (bound to 127.0.0.1, port 0), then serves until killed; it also
exits when its parent dies or after --max-seconds, so a crashed test leaves nothing behind.
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Repo:
    def __init__(self, repo_id):
        self.repo_id = repo_id
        self.branches = {}  # branch -> commit
        self.commits = {}   # commit -> {filename: FileEntry}


class FileEntry:
    """A repo file, read and hashed on first use (keeps the server's start fast)."""

    def __init__(self, name, path, lfs):
        self.name = name
        self.path = path
        self.lfs = lfs
        self.size = os.path.getsize(path)
        self._data = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._data is None:
                with open(self.path, "rb") as f:
                    data = f.read()
                self._sha256 = hashlib.sha256(data).hexdigest()
                self._git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                self._data = data

    @property
    def data(self):
        self._load()
        return self._data

    @property
    def sha256(self):
        self._load()
        return self._sha256

    @property
    def git_sha1(self):
        self._load()
        return self._git_sha1


class State:
    def __init__(self):
        self.repos = {}
        self.lfs = {}       # sha256 -> FileEntry
        self.renames = {}
        self.token = None
        self.faults = []    # [kind, file, remaining]
        self.lock = threading.Lock()
        self.log_file = None

    def take_fault(self, file, kinds):
        with self.lock:
            for f in self.faults:
                if f[1] == file and f[0] in kinds and f[2] != 0:
                    if f[2] > 0:
                        f[2] -= 1
                    return f[0]
        return None

    def log(self, entry):
        if self.log_file is None:
            return
        with self.lock:
            with open(self.log_file, "a") as out:
                out.write(json.dumps(entry) + "\n")


STATE = State()


def load_repo(spec):
    target, directory = spec.split("=", 1)
    repo_id, _, branch = target.partition("@")
    branch = branch or "main"
    repo = STATE.repos.setdefault(repo_id, Repo(repo_id))
    files = {}
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            files[name] = FileEntry(name, path, name.endswith(".safetensors"))
    # The commit id only has to be stable for the same content across server restarts.
    listing = "\n".join(f"{n} {e.size}" for n, e in files.items())
    commit = hashlib.sha1(f"{repo_id}\n{branch}\n{directory}\n{listing}".encode()).hexdigest()
    repo.branches[branch] = commit
    repo.commits[commit] = files


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    # ---- helpers -------------------------------------------------------------------------
    def finish_log(self, status):
        STATE.log({
            "method": self.command,
            "path": self.path,
            "range": self.headers.get("Range"),
            "status": status,
            "auth": self.headers.get("Authorization"),
        })

    def send_plain(self, status, headers=None, body=b"", head=False):
        self.finish_log(status)  # logged before answering: the client may look at the log right after
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_error_code(self, status, code, message, head):
        self.send_plain(status, {"X-Error-Code": code, "X-Error-Message": message,
                                 "Content-Type": "application/json"},
                        json.dumps({"error": message}).encode(), head)

    def authorized(self):
        return STATE.token is None or self.headers.get("Authorization") == f"Bearer {STATE.token}"

    def find_repo(self, repo_id, head):
        repo = STATE.repos.get(repo_id)
        if repo is None:
            self.send_error_code(404, "RepoNotFound", f"Repository Not Found for url: {self.path}.", head)
            return None
        if not self.authorized():
            self.send_error_code(401, "GatedRepo",
                                 f"Access to model {repo_id} is restricted. You must have access to it "
                                 "and be authenticated to access it.", head)
            return None
        return repo

    def find_commit(self, repo, rev, head):
        commit = repo.branches.get(rev) or (rev if rev in repo.commits else None)
        if commit is None:
            self.send_error_code(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
        return commit

    def redirect_renamed(self, head):
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        for old, new in STATE.renames.items():
            o_org, o_name = old.split("/")
            for i in range(len(parts) - 1):
                if parts[i] == o_org and parts[i + 1] == o_name:
                    n_org, n_name = new.split("/")
                    parts[i], parts[i + 1] = n_org, n_name
                    self.send_plain(307, {"Location": "/".join(parts)}, b"", head)
                    return True
        return False

    # ---- routes --------------------------------------------------------------------------
    def handle_request(self, head):
        path = urllib.parse.urlsplit(self.path).path
        if self.redirect_renamed(head):
            return
        parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
        if len(parts) >= 6 and parts[0] == "api" and parts[1] == "models" and parts[4] == "revision":
            return self.api_revision(f"{parts[2]}/{parts[3]}", "/".join(parts[5:]), head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), head)
        if len(parts) == 2 and parts[0] == "lfs" and parts[1] in STATE.lfs:
            return self.send_content(STATE.lfs[parts[1]], {"ETag": f'"{parts[1]}"'}, head)
        self.send_plain(404, {}, b"not found", head)

    def api_revision(self, repo_id, rev, head):
        fault = STATE.take_fault("api", {"404", "401", "403", "500"})
        if fault:
            return self.send_plain(int(fault), {}, b"injected", head)
        repo = self.find_repo(repo_id, head)
        if repo is None:
            return
        commit = self.find_commit(repo, rev, head)
        if commit is None:
            return
        body = json.dumps({"id": repo_id, "modelId": repo_id, "sha": commit,
                           "siblings": [{"rfilename": n} for n in repo.commits[commit]]}).encode()
        self.send_plain(200, {"Content-Type": "application/json"}, body, head)

    def resolve(self, repo_id, rev, filename, head):
        repo = self.find_repo(repo_id, head)
        if repo is None:
            return
        commit = self.find_commit(repo, rev, head)
        if commit is None:
            return
        entry = repo.commits[commit].get(filename)
        if entry is None:
            return self.send_error_code(404, "EntryNotFound", f"{filename} does not exist", head)
        fault = STATE.take_fault(filename, {"404", "401", "403", "500"})
        if fault == "404":
            return self.send_error_code(404, "EntryNotFound", f"{filename} does not exist", head)
        if fault:
            return self.send_plain(int(fault), {}, b"injected", head)
        headers = {"X-Repo-Commit": commit}
        if entry.lfs:
            with STATE.lock:
                STATE.lfs[entry.sha256] = entry  # the "CDN" serves what the hub pointed to
            host = self.headers.get("Host", "127.0.0.1")
            headers.update({
                "Location": f"http://{host}/lfs/{entry.sha256}",
                "X-Linked-Etag": f'"{entry.sha256}"',
                "X-Linked-Size": str(len(entry.data)),
                "ETag": f'"{entry.git_sha1}"',  # the pointer file's, as on the hub
            })
            return self.send_plain(302, headers, b"", head)
        headers["ETag"] = f'"{entry.git_sha1}"'
        self.send_content(entry, headers, head)

    def send_content(self, entry, headers, head):
        data = entry.data
        size = len(data)
        start, end = 0, size
        rng = self.headers.get("Range")
        use_range = rng is not None and not (not head and STATE.take_fault(entry.name, {"norange"}))
        status = 200
        if use_range:
            spec = rng.replace("bytes=", "", 1)
            a, _, b = spec.partition("-")
            start = int(a) if a else 0
            end = int(b) + 1 if b else size
            if start >= size:
                headers["Content-Range"] = f"bytes */{size}"
                return self.send_plain(416, headers, b"", head)
            end = min(end, size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        body = data[start:end]
        nolength = STATE.take_fault(entry.name, {"nolength"}) is not None
        fault = None if head else STATE.take_fault(entry.name, {"drop", "corrupt", "stall", "slow", "drip", "extra"})
        if fault == "corrupt":
            mid = size // 2
            if start <= mid < end:
                i = mid - start
                body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]
        self.finish_log(f"{status}-{fault}" if fault else status)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Accept-Ranges", "bytes")
        if fault == "extra" or nolength:
            self.close_connection = True  # the body ends when the connection does
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if fault in ("drop", "stall"):
            half = max(1, len(body) // 2)
            self.wfile.write(body[:half])
            self.wfile.flush()
            if fault == "stall":
                time.sleep(STALL_SECONDS)  # bounded silence; the client should give up first
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault == "extra":
            self.wfile.write(body + b"\x00garbage" * (1 << 17))
            return
        if fault == "drip":
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(DRIP_SECONDS)
            except OSError:
                pass  # the client gave up, as it should
            return
        if fault == "slow":
            chunks = 20
            step = max(1, len(body) // chunks)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                time.sleep(SLOW_SECONDS / chunks)
        else:
            self.wfile.write(body)


STALL_SECONDS = 5.0
SLOW_SECONDS = 1.0
DRIP_SECONDS = 0.5


def watchdog(parent, deadline):
    while True:
        time.sleep(0.2)
        if os.getppid() != parent or time.time() > deadline:
            os._exit(0)


def main():
    global STALL_SECONDS, SLOW_SECONDS, DRIP_SECONDS
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", action="append", default=[])
    ap.add_argument("--token")
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--fault", action="append", default=[])
    ap.add_argument("--log")
    ap.add_argument("--stall-seconds", type=float, default=5.0)
    ap.add_argument("--drip-seconds", type=float, default=0.5)
    ap.add_argument("--slow-seconds", type=float, default=1.0)
    ap.add_argument("--max-seconds", type=float, default=300.0)
    args = ap.parse_args()
    STALL_SECONDS, SLOW_SECONDS, DRIP_SECONDS = args.stall_seconds, args.slow_seconds, args.drip_seconds
    for spec in args.repo:
        load_repo(spec)
    for spec in args.rename:
        old, new = spec.split("=", 1)
        STATE.renames[old] = new
    for spec in args.fault:
        kind, _, rest = spec.partition(":")
        file, _, count = rest.partition(":")
        STATE.faults.append([kind, file, int(count) if count else -1])
    STATE.token = args.token
    STATE.log_file = args.log

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=watchdog, args=(os.getppid(), time.time() + args.max_seconds), daemon=True).start()
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
