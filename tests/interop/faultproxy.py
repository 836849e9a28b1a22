"""An HTTP proxy on 127.0.0.1 in front of versitygw that injects S3 faults
into matching requests, and records every request it forwarded.

Actions (each rule fires `times` times after letting `skip` matches through):
  fail        answer 503 SlowDown without forwarding (nothing lands)
  drop        forward, then close the connection without answering
              (the write landed, the client never hears)
  hold_before block before forwarding until released (crash before commit)
  hold_after  forward, then block until released (crash after commit, before ack)
  gather      wait until `parties` matching requests are waiting, then forward
              them together (forces writers to race for the same version)
A held request is dropped when released. `rule.hit` is set when a rule fires.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


@dataclass
class Rule:
    method: str
    path: str  # regex searched in the request path
    action: str
    times: int = 1
    skip: int = 0
    hit: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    fired: int = 0
    parties: int = 0  # for gather
    _barrier: threading.Barrier | None = None

    def __post_init__(self):
        if self.parties:
            self._barrier = threading.Barrier(self.parties)  # cyclic: one round per `parties`

    def gather(self) -> None:
        try:
            self._barrier.wait(30)
        except threading.BrokenBarrierError:
            pass  # a party never came: forward anyway


class FaultProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.rules: list[Rule] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, upstream status)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                body = self._body()
                rule = proxy._match(self.command, self.path)
                if rule and rule.action == "fail":
                    msg = b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(msg)))
                    self.end_headers()
                    self.wfile.write(msg)
                    return
                if rule and rule.action == "hold_before":
                    rule.hit.set()
                    rule.release.wait(60)
                    self.close_connection = True
                    return
                if rule and rule.action == "gather":
                    rule.hit.set()
                    rule.gather()
                status, headers, data = proxy._forward(self.command, self.path, self.headers, body)
                with proxy._lock:
                    proxy.log.append((self.command, self.path, status))
                if rule and rule.action in ("drop", "hold_after"):
                    if rule.action == "hold_after":
                        rule.hit.set()
                        rule.release.wait(60)
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers:
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _match(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for r in self.rules:
                if r.method == method and re.search(r.path, path.split("?")[0]) and r.fired < r.times:
                    if r.skip > 0:
                        r.skip -= 1
                        return None
                    r.fired += 1
                    return r
        return None

    def _forward(self, method, path, headers, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
        try:
            fwd = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP | {"content-length"}}
            if body or method in ("PUT", "POST"):
                fwd["Content-Length"] = str(len(body))
            conn.request(method, path, body=body or None, headers=fwd)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def puts(self, path_regex: str) -> list[tuple[str, int]]:
        """(path, status) of forwarded PUTs whose path matches."""
        with self._lock:
            paths = [(p.split("?")[0], s) for m, p, s in self.log if m == "PUT"]
        return [(p, s) for p, s in paths if re.search(path_regex, p)]

    def stop(self) -> None:
        for r in self.rules:
            r.release.set()
        self.server.shutdown()
        self.server.server_close()
