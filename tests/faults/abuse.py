#!/usr/bin/env python3
"""Abuse of the wire (SPEC §7): malformed requests, slow-loris, thousands of idle connections.
Python 3 standard library only; raw sockets, so that nothing tidies the requests up.

    ATTACHD_URL=http://127.0.0.1:8080 ATTACHD_ADMIN_TOKEN=... ATTACHD_PORTAL_TOKEN=... \
    [ATTACHD_PID=...] [ATTACHD_BIN=... DATABASE_URL=...] python3 tests/faults/abuse.py [PART...]

PART is malformed, slowloris or idle (default: all three, in that order).

1. malformed: a few hundred requests that are wrong at every layer (request line, method,
   headers, framing, body, JSON, paths, query strings), sent concurrently on fresh connections to
   the instance at ATTACHD_URL. Every answer must be a 4xx, never a 5xx; an answer of attachd
   (JSON) must be application/problem+json with a `code` and a matching `status`; an answer of
   libmicrohttpd itself (no JSON) is counted and listed. The server may close the connection
   without an answer, and may wait for the rest of a request that is incomplete, but must not
   sit silent on a complete one. Afterwards /healthz answers 200 and /metrics counts no new 5xx.
2. slowloris: 200 connections that send a request head or body slowly (some go silent, some
   drip a byte or a header line at a time) against an attachd with a short
   ATTACHD_CONN_TIMEOUT. Every one must be closed by the server within the timeout (plus slack),
   while /healthz and an authenticated GET keep answering quickly. With ATTACHD_BIN and
   DATABASE_URL a second attachd is started for this (ATTACHD_CONN_TIMEOUT=3, port
   ATTACHD_FAULT_PORT or a free one, log ATTACHD_LOG); otherwise the instance at ATTACHD_URL is
   used with the timeout given in ATTACHD_CONN_TIMEOUT (default 30).
3. idle: 2000 idle connections (half of them after one keep-alive request) to ATTACHD_URL; the
   service must keep answering quickly; its resident memory (VmRSS of /proc/ATTACHD_PID/status,
   when ATTACHD_PID is set) must grow by less than ATTACHD_ABUSE_RSS_MIB (default 128) MiB.

Prints what it measured; exit status 0 when every check held, 1 otherwise, 2 on a usage error.
"""

import concurrent.futures
import json
import os
import random
import re
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ONE_MIB = 1024 * 1024
RNG = random.Random(20240917)  # the same malformed requests every run


# Shared with the other fault tests.
import faultlib  # noqa: E402
from faultlib import _die_with_parent, ms, need_env, now  # noqa: E402


class Target:
    """Where an attachd listens."""

    def __init__(self, url):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            print("error: %s must be http://HOST:PORT" % url, file=sys.stderr)
            sys.exit(2)
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.hostport = "%s:%d" % (self.host, self.port)


class Checks:
    """Failed checks, printed at the end."""

    def __init__(self):
        self.failures = []
        self.lock = threading.Lock()

    def fail(self, part, text):
        with self.lock:
            self.failures.append("%s: %s" % (part, text))

    def expect(self, part, cond, text):
        if not cond:
            self.fail(part, text)
        return cond


# ----------------------------------------------------------------------------------------------
# One raw exchange
# ----------------------------------------------------------------------------------------------

class Answer:
    """What came back: outcome is "answer" (a whole response: status, headers, body), "closed"
    (closed or reset without a byte), "truncated" (part of a response, then closed) or "silent"
    (nothing within the wait, connection still open)."""

    def __init__(self, outcome, status=None, headers=None, body=b"", elapsed=0.0, raw=b""):
        self.outcome, self.status, self.headers, self.body = outcome, status, headers or {}, body
        self.elapsed, self.raw = elapsed, raw

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    def media_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def __repr__(self):
        if self.outcome != "answer":
            return "<%s after %s>" % (self.outcome, ms(self.elapsed))
        return "<%d %s %r>" % (self.status, self.media_type() or "-", self.body[:160])


def parse_response(buf, head_only=False):
    """(status, headers, body) of the first final response in buf, or None while incomplete.
    Interim 1xx answers (100 Continue) are skipped."""
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = buf[:end].decode("latin-1")
        lines = head.split("\r\n")
        m = re.match(r"HTTP/\d\.\d (\d{3})", lines[0])
        if not m:
            return (-1, {}, buf)  # not HTTP at all: report it as is
        status = int(m.group(1))
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        rest = buf[end + 4:]
        if 100 <= status < 200:
            buf = rest
            continue
        if head_only or status in (204, 304):
            return status, headers, b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            if len(rest) < n:
                return None
            return status, headers, rest[:n]
        return None  # read to the end of the connection


def exchange(target, payload, wait=4.0, head_only=False):
    """Sends payload (bytes) on a new connection, reading while it writes (a server may answer
    early, e.g. 413, and stop reading). Waits up to `wait` seconds after the last byte sent."""
    started = now()
    try:
        sock = socket.create_connection((target.host, target.port), timeout=10)
    except OSError as e:
        return Answer("connect failed: %s" % e, elapsed=now() - started)
    sock.setblocking(False)
    buf, sent, can_write, eof = b"", 0, True, False
    last_progress = now()  # the wait counts from the last byte that moved either way
    try:
        while True:
            writing = can_write and sent < len(payload)
            remaining = last_progress + wait - now()
            if remaining <= 0:
                break
            poller = select.poll()
            poller.register(sock, select.POLLIN | (select.POLLOUT if writing else 0))
            events = poller.poll(remaining * 1000)
            ev = events[0][1] if events else 0
            readable = ev & (select.POLLIN | select.POLLHUP | select.POLLERR)
            writable = writing and ev & (select.POLLOUT | select.POLLERR)
            if readable:
                try:
                    data = sock.recv(65536)
                except (ConnectionResetError, ConnectionAbortedError):
                    eof = True
                    break
                except BlockingIOError:
                    data = None
                if data == b"":
                    eof = True
                    break
                if data:
                    buf += data
                    last_progress = now()
                    got = parse_response(buf, head_only)
                    if got:
                        return Answer("answer", got[0], got[1], got[2], now() - started, buf)
            if writable:
                try:
                    sent += sock.send(payload[sent:sent + 65536])
                    last_progress = now()
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    can_write = False
                    last_progress = now()
    finally:
        sock.close()
    elapsed = now() - started
    if buf:
        got = parse_response(buf, head_only)
        if got is None and eof:  # a response without Content-Length ends with the connection
            head = parse_response(buf, True)
            if head and "content-length" not in head[1]:
                got = (head[0], head[1], buf[buf.find(b"\r\n\r\n") + 4:])
        if got:
            return Answer("answer", got[0], got[1], got[2], elapsed, buf)
        return Answer("truncated" if eof else "silent", elapsed=elapsed, raw=buf)
    return Answer("closed" if eof else "silent", elapsed=elapsed)


def http_get(target, path, token=None, timeout=5.0):
    """A well-formed GET on a fresh connection: (status, seconds) or (None, seconds)."""
    head = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (path, target.hostport)
    if token:
        head += "Authorization: Bearer %s\r\n" % token
    started = now()
    ans = exchange(target, (head + "\r\n").encode(), wait=timeout)
    return (ans.status if ans.outcome == "answer" else None), now() - started, ans


# ----------------------------------------------------------------------------------------------
# Part 1: malformed requests
# ----------------------------------------------------------------------------------------------

class Case:
    """One malformed request. expect: statuses it must get (None: any 4xx); ok2xx: a 2xx is
    also right (a request that is odd but valid); complete: False when the request is
    unfinished, so that the server may wait for the rest; answer: the server must answer (not
    just close), for requests that are well-formed HTTP; mhd505: libmicrohttpd's own 505 (HTTP
    Version Not Supported, RFC 9110 15.6.6) is accepted, the one 5xx that is right; stall: why
    libmicrohttpd 0.9.75 leaves this complete request unanswered until the connection times
    out (part 2 checks that it is closed in time)."""

    def __init__(self, group, name, payload, expect=None, ok2xx=False, complete=True,
                 answer=False, head_only=False, mhd505=False, stall=None):
        self.group, self.name, self.payload = group, name, payload
        self.stall = stall
        self.expect, self.ok2xx, self.complete, self.mhd505 = expect, ok2xx, complete, mhd505
        self.answer, self.head_only = answer, head_only


class Requests:
    """Builds raw requests for the target, with the tokens of the instance."""

    def __init__(self, target, admin, portal):
        self.t, self.admin, self.portal = target, admin, portal

    def build(self, method, path, body=None, headers=None, token="admin", version="HTTP/1.1",
              content_type="application/json", host=True, length=True):
        """Bytes of a request. headers: list of (name, value) or raw header lines (bytes)."""
        lines = [("%s %s %s" % (method, path, version)).encode("latin-1")]
        if host:
            lines.append(b"Host: " + self.t.hostport.encode())
        secret = {"admin": self.admin, "portal": self.portal}.get(token, token)
        if secret:
            lines.append(b"Authorization: Bearer " + secret.encode("latin-1"))
        if body is not None:
            if isinstance(body, str):
                body = body.encode("utf-8")
            if content_type is not None:
                lines.append(b"Content-Type: " + content_type.encode("latin-1"))
            if length:
                lines.append(b"Content-Length: %d" % len(body))
        for h in headers or []:
            lines.append(h if isinstance(h, bytes) else ("%s: %s" % h).encode("latin-1"))
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def chunked(pieces, last=b"0\r\n\r\n"):
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + last


def malformed_cases(r):
    """The list of Case: a few hundred, in groups."""
    cases = []
    hp = r.t.hostport.encode()

    def add(group, name, payload, **kw):
        cases.append(Case(group, name, payload, **kw))

    # --- request lines (no token: a request that parses ends in 401 at worst) ---------------
    host = b"\r\nHost: " + hp + b"\r\n\r\n"
    for name, line in [
        ("empty line", b""),
        ("garbage word", b"GARBAGE"),
        ("method only", b"GET"),
        ("HTTP/0.9 style", b"GET /v1/district-kinds"),
        ("extra token", b"GET /v1/district-kinds HTTP/1.1 extra"),
        ("double spaces", b"GET  /v1/district-kinds  HTTP/1.1"),
        ("tab separated", b"GET\t/v1/district-kinds\tHTTP/1.1"),
        ("HTTP/1.x", b"GET /v1/district-kinds HTTP/1.x"),
        ("HTTP/01.1", b"GET /v1/district-kinds HTTP/01.1"),
        ("lower-case http", b"GET /v1/district-kinds http/1.1"),
        ("FOO/1.1", b"GET /v1/district-kinds FOO/1.1"),
        ("no leading slash", b"GET v1/district-kinds HTTP/1.1"),
        ("asterisk target", b"GET * HTTP/1.1"),
        ("absolute form", b"GET http://" + hp + b"/v1/district-kinds HTTP/1.1"),
        ("authority form", b"CONNECT " + hp + b" HTTP/1.1"),
        ("NUL in target", b"GET /v1/dis\x00trict-kinds HTTP/1.1"),
        ("NUL in method", b"G\x00T /v1/district-kinds HTTP/1.1"),
        ("high bytes in target", b"GET /v1/\xff\xfe\xfd HTTP/1.1"),
        ("control bytes in target", b"GET /v1/\x01\x02\x1b[31m HTTP/1.1"),
        ("space in target", b"GET /v1/district kinds HTTP/1.1"),
        ("method of 8 KiB", b"A" * 8192 + b" /v1/district-kinds HTTP/1.1"),
        ("target of 8 KiB", b"GET /" + b"a" * 8192 + b" HTTP/1.1"),
        ("target of 100 KiB", b"GET /" + b"a" * 102400 + b" HTTP/1.1"),
        ("version of 8 KiB", b"GET /v1/district-kinds HTTP/" + b"1" * 8192),
        ("bare CR", b"GET /v1/district-kinds HTTP/1.1\rHost: x"),
    ]:
        add("request line", name, line + host)
    for version in (b"HTTP/9.9", b"HTTP/2.0", b"HTTP/3"):
        add("request line", version.decode(), b"GET /v1/district-kinds " + version + host,
            mhd505=True)
    add("request line", "leading CRLFs", b"\r\n\r\n\r\nGET /v1/district-kinds HTTP/1.1" + host,
        answer=True)
    add("request line", "LF line ends", b"GET /v1/district-kinds HTTP/1.1\nHost: " + hp +
        b"\n\n")
    add("request line", "HTTP/1.1 without Host", b"GET /v1/district-kinds HTTP/1.1\r\n\r\n")
    add("request line", "HTTP/1.0 without Host", b"GET /v1/district-kinds HTTP/1.0\r\n\r\n")
    add("request line", "only CRLFs (then waiting for a request line)", b"\r\n" * 2000,
        complete=False)
    for i in range(24):
        n = RNG.randrange(1, 4096)
        blob = bytes(RNG.randrange(256) for _ in range(n))
        add("request line", "random bytes #%d (%d B)" % (i, n), blob + b"\r\n\r\n")
    for i in range(16):
        words = [RNG.choice([b"GET", b"POST", b"/", b"HTTP/1.1", b"\x00", b"%", b"?", b"#",
                             b"\xc3\x28", b"::", b"..", b"\t", b"/v1/applications"])
                 for _ in range(RNG.randrange(1, 8))]
        add("request line", "word salad #%d" % i, b" ".join(words) + host)

    # --- methods (admin token: only the method is wrong) -----------------------------------
    for m in ["FOO", "PROPFIND", "TRACE", "OPTIONS", "CONNECT", "LINK", "BREW", "get", "Get",
              "gEt", "G-T", "M" * 300, "GET\x01", "POST", "PUT", "PATCH", "DELETE"]:
        add("method", m[:20], r.build(m, "/v1/district-kinds"))
    add("method", "DELETE on a list", r.build("DELETE", "/v1/settlements", body="{}"),
        expect={405})
    add("method", "PUT on a collection", r.build("PUT", "/v1/applications", body="{}"),
        expect={405})
    add("method", "HEAD without token", r.build("HEAD", "/v1/district-kinds", token=None),
        expect={401}, head_only=True, answer=True)
    add("method", "GET on tokens/{id}", r.build("GET", "/v1/tokens/1"), expect={405})

    # --- headers ------------------------------------------------------------------------------
    target = "/v1/district-kinds"
    add("headers", "70 KiB header value",
        r.build("GET", target, headers=[("X-Big", "v" * 70 * 1024)]))
    add("headers", "1 MiB header value",
        r.build("GET", target, headers=[("X-Big", "v" * ONE_MIB)]))
    add("headers", "5000 headers",
        r.build("GET", target, headers=[("X-H%d" % i, "v") for i in range(5000)]))
    # Without a token: whatever libmicrohttpd makes of these, attachd can only answer 401.
    for name, line in [("8 KiB header name", b"X" * 8192 + b": v"),
                       ("header without colon", b"NoColonHere"),
                       ("header with empty name", b": value"),
                       ("space before colon", b"X-A : b"),
                       ("NUL in header value", b"X-A: a\x00b"),
                       ("NUL in header name", b"X-\x00A: b"),
                       ("8-bit header value", b"X-A: \xff\xfe\xc3"),
                       ("control chars in value", b"X-A: \x01\x02\x7f"),
                       ("fold as first header", b" leading fold")]:
        add("headers", name, r.build("GET", target, token=None, headers=[line]))
    add("headers", "obsolete line folding",
        r.build("GET", target, token=None, headers=[b"X-A: a", b"  folded"]))
    for name, auth in [
        ("Authorization of 10 KiB", "Bearer " + "a" * 10240),
        ("Authorization scheme only", "Bearer"),
        ("Authorization Bearer and spaces", "Bearer      "),
        ("Authorization Basic", "Basic YWRtaW46YWRtaW4="),
        ("Authorization NUL-free garbage", "Bearer \x7f\x7f\x7f"),
        ("Authorization 8-bit", "Bearer \xff\xfe\xfd"),
        ("Authorization with the admin token twice", "Bearer %s %s" % (r.admin, r.admin)),
        ("Authorization with a trailing tab", "Bearer %s\t" % r.admin[:-2]),
    ]:
        add("headers", name, r.build("GET", target, token=None,
                                     headers=[b"Authorization: " + auth.encode("latin-1")]),
            expect={401}, answer=True)
    add("headers", "two Authorization headers, both bad",
        r.build("GET", target, token=None, headers=[("Authorization", "Bearer x"),
                                                    ("Authorization", "Bearer y")]),
        expect={401}, answer=True)
    add("headers", "Upgrade: h2c", r.build("GET", target, token=None,
                                           headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                                    ("Upgrade", "h2c"),
                                                    ("HTTP2-Settings", "AAMAAABkAAQAAP__")]))
    add("headers", "Upgrade: websocket", r.build("GET", target, token=None,
                                                 headers=[("Connection", "Upgrade"),
                                                          ("Upgrade", "websocket")]))
    add("headers", "Host of 8 KiB", r.build("GET", target, token=None, host=False,
                                            headers=[("Host", "h" * 8192)]))
    add("headers", "two Host headers", r.build("GET", target, token=None,
                                               headers=[("Host", "evil.example")]))
    add("headers", "Idempotency-Key of 10 KiB",
        r.build("POST", "/v1/applications", body="{}", token="portal",
                headers=[("Idempotency-Key", "k" * 10240)]), expect={422})
    add("headers", "Idempotency-Key empty",
        r.build("POST", "/v1/applications", body="{}", token="portal",
                headers=[("Idempotency-Key", "")]), expect={422})

    # --- framing: Content-Length, Transfer-Encoding, Expect ---------------------------------
    post = "/v1/settlements"
    body = b'{"kato": "x"}'
    for name, cl in [("letters", b"abc"), ("negative", b"-1"), ("plus sign", b"+13"),
                     ("hex", b"0xd"), ("overflowing", b"99999999999999999999999"),
                     ("2^64", b"18446744073709551616"), ("2^64-1", b"18446744073709551615"),
                     ("empty", b""), ("list", b"13, 13"), ("spaces inside", b"1 3"),
                     ("leading zeros", b"0000000013"), ("float", b"13.0")]:
        add("framing", "Content-Length " + name,
            r.build("POST", post, body=body, length=False,
                    headers=[b"Content-Length: " + cl]),
            complete=name in ("leading zeros",))
    add("framing", "two different Content-Length",
        r.build("POST", post, body=body, length=False,
                headers=[b"Content-Length: 13", b"Content-Length: 5"]))
    add("framing", "Content-Length larger than the body (then silence)",
        r.build("POST", post, body=body, length=False, headers=[b"Content-Length: 100"]),
        complete=False)
    add("framing", "Content-Length smaller than the body",
        r.build("POST", post, body=body, length=False, headers=[b"Content-Length: 5"]))
    add("framing", "body on a GET (ignored)", r.build("GET", target, body=b"x" * 1000),
        ok2xx=True)
    add("framing", "Content-Length 2 MiB announced, nothing sent",
        r.build("POST", post, body=b"", length=False,
                headers=[b"Content-Length: %d" % (2 * ONE_MIB)]),
        expect={413}, answer=True)
    add("framing", "Expect: 100-continue with 2 MiB announced",
        r.build("POST", post, body=b"", length=False,
                headers=[b"Content-Length: %d" % (2 * ONE_MIB), b"Expect: 100-continue"]),
        expect={413}, answer=True)
    add("framing", "Expect: 100-continue, body never sent",
        r.build("POST", post, body=b"", length=False,
                headers=[b"Content-Length: 13", b"Expect: 100-continue"]), complete=False)
    add("framing", "Expect: something else",
        r.build("POST", post, body=body, headers=[("Expect", "teapot")]))
    te = [b"Transfer-Encoding: chunked"]
    add("framing", "chunked body, JSON not an object",
        r.build("POST", post, body=chunked([b"[1,", b"2]"]), length=False, headers=te),
        expect={422}, answer=True)
    add("framing", "chunked body, with extensions",
        r.build("POST", post, body=b"5;ext=1\r\n[1,2]\r\n0\r\n\r\n", length=False, headers=te),
        expect={422})
    add("framing", "chunked body with trailers",
        r.build("POST", post, body=chunked([b"[]"], b"0\r\nX-T: 1\r\n\r\n"), length=False,
                headers=te), expect={422})
    add("framing", "chunked body over 1 MiB (64 KiB chunks)",
        r.build("POST", post, body=chunked([b" " * 65536] * 20 + [b"{}"]), length=False,
                headers=te), expect={413}, answer=True)
    add("framing", "chunked body over 1 MiB (one chunk)",
        r.build("POST", post, body=chunked([b" " * (ONE_MIB + 10)]), length=False, headers=te),
        expect={413}, answer=True)
    for name, raw in [("size not hex", b"zz\r\n[]\r\n0\r\n\r\n"),
                      ("size overflowing", b"ffffffffffffffffffff\r\n[]\r\n0\r\n\r\n"),
                      ("negative size", b"-5\r\n[]\r\n0\r\n\r\n"),
                      ("no CRLF after data", b"2\r\n[]0\r\n\r\n"),
                      ("size larger than data, then end", b"10\r\n[]\r\n0\r\n\r\n"),
                      ("empty size line", b"\r\n[]\r\n0\r\n\r\n")]:
        add("framing", "chunked: " + name,
            r.build("POST", post, body=raw, length=False, headers=te), complete=False)
    add("framing", "chunked: no last chunk", r.build("POST", post, body=b"2\r\n[]\r\n",
                                                     length=False, headers=te), complete=False)
    add("framing", "chunked: 2 GiB chunk announced",
        r.build("POST", post, body=b"7fffffff\r\n[]", length=False, headers=te), complete=False)
    # RFC 9112 6.3: a request whose last transfer coding is not chunked is a 400.
    add("framing", "Transfer-Encoding gzip", r.build("POST", post, body=body,
                                                     headers=[("Transfer-Encoding", "gzip")]),
        stall="it reads a body of unknown length to the end of the connection")
    add("framing", "Transfer-Encoding chunked, chunked",
        r.build("POST", post, body=chunked([b"[]"]), length=False,
                headers=[b"Transfer-Encoding: chunked, chunked"]),
        stall="it reads a body of unknown length to the end of the connection")
    add("framing", "chunked and Content-Length",
        r.build("POST", post, body=chunked([b"[]"]), length=False,
                headers=te + [b"Content-Length: 3"]))
    add("framing", "chunked on HTTP/1.0",
        r.build("POST", post, body=chunked([b"[]"]), length=False, headers=te,
                version="HTTP/1.0"))

    # --- bodies: limits, encoding, JSON ------------------------------------------------------
    def body_case(name, raw, expect, path=post, token="admin", method="POST",
                  content_type="application/json", answer=True, ok2xx=False):
        add("body", name, r.build(method, path, body=raw, token=token, content_type=content_type),
            expect=expect, answer=answer, ok2xx=ok2xx)

    body_case("1 MiB + 1 byte", b" " * ONE_MIB + b"{", {413})
    body_case("5 MiB", b"[" + b"1," * (5 * ONE_MIB // 2) + b"1]", {413})
    body_case("exactly 1 MiB (allowed)", b" " * (ONE_MIB - 2) + b"[]", {422})
    for name, bad in [("0xFF", b"\xff"), ("overlong slash", b"\xc0\xaf"),
                      ("UTF-16 surrogate", b"\xed\xa0\x80"),
                      ("above U+10FFFF", b"\xf4\x90\x80\x80"),
                      ("cut-off sequence", b"\xe2\x82"), ("lone continuation", b"\x80"),
                      ("Latin-1 text", "Алматы".encode("cp1251"))]:
        body_case("invalid UTF-8 in a value: " + name,
                  b'{"kato": "751110000", "name_kk": "' + bad + b'", "name_ru": "x"}', {400})
        body_case("invalid UTF-8 in a key: " + name, b'{"' + bad + b'": 1}', {400})
    body_case("raw NUL in a string", b'{"kato": "75111\x000000", "name_kk": "a", "name_ru": "b"}',
              {400})
    body_case("raw NUL between tokens", b'{"kato":\x00 "x"}', {400})
    body_case("escaped NUL in a value", b'{"kato": "751110000", "name_kk": "a\\u0000b", '
              b'"name_ru": "x"}', {400, 422})
    body_case("escaped NUL in a key", b'{"ka\\u0000to": "751110000"}', {400, 422})
    body_case("lone surrogate escape", b'{"name_kk": "\\ud800"}', {400})
    body_case("UTF-8 BOM", b"\xef\xbb\xbf{}", {400})
    body_case("UTF-16 body", '{"kato": "1"}'.encode("utf-16"), {400})
    for n in (100000, 5000, 2049):
        body_case("%d nested arrays" % n, b"[" * n + b"]" * n, {400, 422})
        body_case("%d nested objects" % n, b'{"a":' * n + b"1" + b"}" * n, {400, 422})
    body_case("100000 unclosed brackets", b"[" * 100000, {400})
    body_case("100 nested objects", b'{"a":' * 100 + b"1" + b"}" * 100, {422})
    for ct in [None, "text/plain", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/jsonx", "application/xml",
               "json", "", "application/", "application/+json", "*/*",
               "application/json" + "x" * 8192]:
        body_case("Content-Type %r" % (ct if ct is None or len(ct) < 40 else ct[:20] + "..."),
                  b'{"kato": "1"}', {415}, content_type=ct)
    for ct in ["APPLICATION/JSON", "application/json; charset=utf-8",
               "application/problem+json", "application/json;charset=latin1"]:
        body_case("Content-Type %r (accepted as JSON)" % ct, b"[]", {422}, content_type=ct)
    for name, raw in [("integer", b"1"), ("negative", b"-1"), ("string", b'"x"'),
                      ("null", b"null"), ("true", b"true"), ("false", b"false"),
                      ("empty array", b"[]"), ("array of objects", b"[{}]"),
                      ("float", b"1.5"), ("big array", b"[" + b"0," * 100000 + b"0]")]:
        body_case("JSON " + name, raw, {422})
    for name, raw in [("empty", b""), ("spaces", b"   "), ("truncated", b'{"kato": '),
                      ("two documents", b"{} {}"), ("trailing garbage", b"{} x"),
                      ("single quotes", b"{'a': 1}"), ("trailing comma", b'{"a": 1,}'),
                      ("comment", b'{"a": 1 /* c */}'), ("NaN", b'{"a": NaN}'),
                      ("Infinity", b'{"a": Infinity}'), ("hex number", b'{"a": 0x10}'),
                      ("leading zero", b'{"a": 01}'), ("bare word", b"kato"),
                      ("unterminated string", b'{"a": "b'), ("control char in string",
                                                            b'{"a": "b\x01c"}'),
                      ("bad escape", b'{"a": "\\q"}'), ("short unicode escape", b'{"a": "\\u12"}')]:
        body_case("malformed: " + name, raw, {400})
    body_case("duplicate keys", b'{"kato": "751110000", "kato": "751110001", "name_kk": "a", '
              b'"name_ru": "b"}', {400})
    body_case("duplicate keys, nested", b'{"person": {"iin": "1", "iin": "2"}}', {400},
              path="/v1/applications", token="portal")
    body_case("duplicate keys, differing case (distinct keys)", b'{"Kato": 1, "kato": 2}', {422})
    body_case("50000 unknown keys",
              b"{" + b",".join(b'"k%d": 1' % i for i in range(50000)) + b"}", {422})
    body_case("key of 200 KiB", b'{"' + b"k" * 204800 + b'": 1}', {422})
    body_case("value of 900 KiB", b'{"kato": "751110000", "name_kk": "' + b"a" * 921600 +
              b'", "name_ru": "b"}', {422})
    app = "/v1/applications"
    person = {"iin": "900101300128", "last_name": "A", "first_name": "B",
              "birth_date": "1990-01-01", "sex": "male", "residency": "citizen"}

    def app_body(**over):
        b = {"person": dict(person), "settlement": "751110000", "address": "x",
             "polyclinic_id": 999999999, "channel": "egov", "grounds": "relocation"}
        for k, v in over.items():
            if k.startswith("person."):
                b["person"][k[7:]] = v
            else:
                b[k] = v
        return json.dumps(b).encode()

    for name, raw in [
        ("polyclinic_id 1e400", app_body().replace(b"999999999", b"1e400")),
        ("polyclinic_id 2^64", app_body().replace(b"999999999", b"18446744073709551616")),
        ("polyclinic_id 2^63", app_body().replace(b"999999999", b"9223372036854775808")),
        ("polyclinic_id 10^30", app_body().replace(b"999999999", b"1" + b"0" * 30)),
    ]:
        body_case(name, raw, {400, 422}, path=app, token="portal")
    for name, over in [
        ("polyclinic_id 2^63-1", {"polyclinic_id": 2 ** 63 - 1}),
        ("polyclinic_id -2^63", {"polyclinic_id": -2 ** 63}),
        ("polyclinic_id 0", {"polyclinic_id": 0}),
        ("polyclinic_id 1.5", {"polyclinic_id": 1.5}),
        ("polyclinic_id 1e3", {"polyclinic_id": 1e3}),
        ("polyclinic_id string", {"polyclinic_id": "1"}),
        ("district_id 2^63-1", {"district_id": 2 ** 63 - 1}),
        ("district_id -1", {"district_id": -1}),
        ("birth_date 0000-00-00", {"person.birth_date": "0000-00-00"}),
        ("birth_date 9999-12-31", {"person.birth_date": "9999-12-31"}),
        ("birth_date 2024-02-30", {"person.birth_date": "2024-02-30"}),
        ("birth_date 1e3", {"person.birth_date": 1e3}),
        ("iin of letters", {"person.iin": "abcdefghijkl"}),
        ("iin of 1000 digits", {"person.iin": "1" * 1000}),
        ("iin Arabic-Indic digits", {"person.iin": "\u0661" * 12}),
        ("last_name of 100 KiB", {"person.last_name": "Ә" * 51200}),
        ("family_iins of 100000", {"family_iins": ["1"] * 100000}),
        ("family_iins nested", {"family_iins": [[["1"]]]}),
        ("representative a string", {"representative": "mother"}),
        ("person an array", {"person": [1, 2]}),
        ("channel unknown", {"channel": "carrier pigeon"}),
        ("settlement with NUL escape", {"settlement": "75111\u00000000"}),
    ]:
        body_case(name, app_body(**over), {400, 422}, path=app, token="portal")
    # Other bodies: tokens, campaigns, districts, polyclinics, decisions.
    for name, path, method, raw, token in [
        ("token role of 1 MiB - 10", "/v1/tokens", "POST",
         b'{"role": "' + b"r" * (ONE_MIB - 30) + b'"}', "admin"),
        ("token name 100 KiB", "/v1/tokens", "POST",
         b'{"role": "portal", "name": "' + b"n" * 102400 + b'"}', "admin"),
        ("token polyclinic_id -1", "/v1/tokens", "POST",
         b'{"role": "registrar", "polyclinic_id": -1}', "admin"),
        ("campaign year 2^63 in path", "/v1/campaigns/9223372036854775808", "PUT", b"{}", "admin"),
        ("campaign max_changes 2^63-1", "/v1/campaigns/9990", "PUT",
         b'{"opens_on": "9990-01-01", "closes_on": "9990-02-01", '
         b'"max_changes": 9223372036854775807}', "admin"),
        ("campaign dates reversed", "/v1/campaigns/9990", "PUT",
         b'{"opens_on": "9990-02-01", "closes_on": "9990-01-01"}', "admin"),
        ("campaign year in body differs", "/v1/campaigns/9990", "PUT",
         b'{"year": 1, "opens_on": "9990-01-01", "closes_on": "9990-02-01"}', "admin"),
        ("polyclinic lat 1e308", "/v1/polyclinics", "POST",
         b'{"bin": "1", "lat": 1e308, "lon": -1e308}', "admin"),
        ("polyclinic lat 1e400", "/v1/polyclinics", "POST", b'{"lat": 1e400}', "admin"),
        ("polyclinic lat -0.0e-400", "/v1/polyclinics", "POST", b'{"lat": -0.0e-400}', "admin"),
        ("polyclinic also_serves 100000", "/v1/polyclinics", "POST",
         b'{"also_serves": [' + b",".join([b'"1"'] * 100000) + b"]}", "admin"),
        ("polyclinic patch on id 2^63", "/v1/polyclinics/9223372036854775808", "PATCH",
         b'{"accepting": true}', "admin"),
        ("polyclinic patch unknown id", "/v1/polyclinics/999999999999", "PATCH",
         b'{"accepting": true}', "admin"),
        ("polyclinic patch lat 1e308", "/v1/polyclinics/999999999999", "PATCH",
         b'{"lat": 1e308}', "admin"),
        ("district capacity 2^31", "/v1/polyclinics/999999999999/districts", "POST",
         b'{"number": "1", "kind": "gp", "capacity": 2147483648}', "admin"),
        ("district capacity -1", "/v1/polyclinics/999999999999/districts", "POST",
         b'{"number": "1", "kind": "gp", "capacity": -1}', "admin"),
        ("district number with slash-dot-dot", "/v1/polyclinics/999999999999/districts", "POST",
         b'{"number": "../..", "kind": "gp"}', "admin"),
        ("district patch unknown", "/v1/districts/999999999999", "PATCH",
         b'{"capacity": 2147483647}', "admin"),
        ("withdraw with a scalar body", "/v1/applications/999999999999/withdraw", "POST",
         b"1", "portal"),
        ("withdraw with unknown fields", "/v1/applications/999999999999/withdraw", "POST",
         b'{"x": 1}', "portal"),
        ("withdraw with deep nesting", "/v1/applications/999999999999/withdraw", "POST",
         b"[" * 100000, "portal"),
        ("withdraw of id 2^63", "/v1/applications/9223372036854775808/withdraw", "POST",
         b"{}", "portal"),
        ("settlement kato of letters", post, "POST",
         b'{"kato": "abcdefghi", "name_kk": "a", "name_ru": "b"}', "admin"),
        ("settlement names empty", post, "POST",
         b'{"kato": "751110000", "name_kk": "", "name_ru": ""}', "admin"),
    ]:
        body_case(name, raw, None, path=path, token=token, method=method)

    # --- paths and query strings -------------------------------------------------------------
    def path_case(name, path, expect=None, ok2xx=False, token="admin"):
        add("path", name, r.build("GET", path, token=token), expect=expect, ok2xx=ok2xx)

    for name, path in [
        ("dot-dot", "/v1/../healthz"), ("dot", "/v1/./district-kinds"),
        ("encoded dot-dot", "/v1/settlements/..%2f..%2f..%2fetc%2fpasswd"),
        ("encoded dots", "/%2e%2e/%2e%2e/etc/passwd"), ("NUL escape", "/v1/settlements/%00"),
        ("lone percent", "/v1/settlements/%"), ("bad escape", "/v1/settlements/%zz"),
        ("8-bit escapes", "/v1/settlements/%ff%fe"), ("double slash", "//v1/district-kinds"),
        ("trailing slash", "/v1/district-kinds/"), ("matrix param", "/v1/district-kinds;x=1"),
        ("backslashes", "/v1\\district-kinds"),
        ("id -1", "/v1/applications/-1"), ("id 0", "/v1/applications/0"),
        ("id 10^23", "/v1/applications/99999999999999999999999"),
        ("id 1e3", "/v1/applications/1e3"), ("id 0x10", "/v1/applications/0x10"),
        ("id +1", "/v1/applications/+1"), ("id %20 1", "/v1/applications/%201"),
        ("id with NUL", "/v1/applications/1%00"),
        ("NUL before a sub-resource", "/v1/polyclinics/1%00/transfers"),
        ("id 2^63", "/v1/applications/9223372036854775808"),
        ("iin Cyrillic", "/v1/persons/%D0%B0%D0%B1%D0%B2/attachment"),
        ("iin with NUL", "/v1/persons/900101300128%00/attachment"),
        ("iin 1000 digits", "/v1/persons/" + "1" * 1000 + "/attachments"),
        ("iin dot-dot", "/v1/persons/../../v1/audit/attachment"),
        ("year 10^20", "/v1/campaigns/99999999999999999999"),
        ("year -1", "/v1/stats/campaigns/-1"), ("year 0", "/v1/campaigns/0"),
        ("kato 10^4 chars", "/v1/settlements/" + "7" * 10000),
        ("too deep", "/v1/polyclinics/1/districts/2/3/4"),
        ("8 KiB of segments", "/" + "a/" * 4096), ("unknown root", "/v2/district-kinds"),
        ("fragment", "/v1/district-kinds#x"), ("uppercase", "/V1/DISTRICT-KINDS"),
    ]:
        path_case(name, path)
    path_case("percent-encoded letters (same route)", "/v1/district-kind%73", ok2xx=True)
    path_case("encoded slash (same route)", "/v1%2fdistrict-kinds", ok2xx=True)
    path_case("60 KiB path", "/" + "p" * 61440)
    q = "/v1/polyclinics?"
    for name, query in [
        ("near letters", "near=abc"), ("near out of range", "near=91,181"),
        ("near NaN", "near=nan,nan"), ("near inf", "near=inf,-inf"),
        ("near 1e999", "near=1e999,1e999"), ("near empty parts", "near=,"),
        ("near three parts", "near=1,2,3"),
        ("near 10 KiB", "near=" + "1" * 10240 + ",1"),
        ("has_room_for_age -1", "has_room_for_age=-1"),
        ("has_room_for_age 10^20", "has_room_for_age=99999999999999999999"),
        ("has_room_for_age letters", "has_room_for_age=abc"),
        ("accepting maybe", "accepting=maybe"), ("settlement NUL", "settlement=%00"),
        ("settlement 10 KiB", "settlement=" + "7" * 10240),
        ("settlement bad escape", "settlement=%zz"),
    ]:
        path_case("query " + name, q + query)
    for n in (1000, 5000):
        add("path", "query %d parameters" % n,
            r.build("GET", q + "&".join("a%d=1" % i for i in range(n))),
            stall="some 900 arguments overflow the connection's 64 KiB memory pool; it "
                  "logs a 431 it never sends")
    for name, query in [
        ("near hex floats (strtod takes them)", "near=0x1p3,0x1p3"),
        ("500 parameters", "&".join("a%d=1" % i for i in range(500))),
        ("same parameter 5000 times", "&".join(["settlement=751110000"] * 5000)),
        ("empty names and values", "=&=&&&=="), ("bad escape in name", "%zz=1"),
        ("long query 30 KiB", "x=" + "y" * 30720),
    ]:
        path_case("query " + name, q + query, ok2xx=True)
    path_case("query 70 KiB", q + "x=" + "y" * 71680)
    path_case("query 1 MiB", q + "x=" + "y" * ONE_MIB)
    for name, path in [
        ("limit 0", "/v1/applications?limit=0"),
        ("limit 10^20", "/v1/applications?limit=99999999999999999999"),
        ("cursor -1", "/v1/applications?cursor=-1"),
        ("cursor letters", "/v1/applications?cursor=abc"),
        ("status NUL", "/v1/applications?status=%00"),
        ("overdue yes", "/v1/applications?overdue=yes"),
        ("polyclinic_id -5", "/v1/applications?polyclinic_id=-5"),
        ("on 2024-02-30", "/v1/persons/900101300128/attachment?on=2024-02-30"),
        ("on 10 KiB", "/v1/persons/900101300128/attachment?on=" + "2" * 10240),
        ("transfers bad everything", "/v1/polyclinics/1/transfers?from=abc&to=2024-13-01"
                                     "&direction=sideways&limit=-1&cursor=x"),
        ("audit entity 100 chars", "/v1/audit?entity=" + "e" * 100),
        ("audit id without entity", "/v1/audit?id=1"), ("audit limit 1001", "/v1/audit?limit=1001"),
    ]:
        path_case(name, path)
    for name, path in [("applications as portal", "/v1/applications?limit=0"),
                       ("stats as portal", "/v1/stats/campaigns/2026")]:
        path_case(name, path, expect={403}, token="portal")
    return cases


def check_answer(case, ans):
    """Problems with one answer (empty when all is well)."""
    problems = []
    if ans.outcome.startswith("connect failed"):
        return [ans.outcome]
    if ans.outcome == "silent":
        if case.complete and not case.stall:
            problems.append("no answer within the wait, connection left open (a hang?)")
        return problems
    if ans.outcome == "truncated":
        return ["the connection closed in the middle of a response: %r" % ans.raw[:200]]
    if ans.outcome == "closed":
        if case.answer:
            problems.append("closed without an answer; this request deserves one")
        return problems
    if ans.status is None or ans.status < 0:
        return ["not an HTTP response: %r" % ans.raw[:200]]
    if ans.status == 505 and case.mhd505 and not ans.media_type().endswith("json"):
        pass
    elif ans.status >= 500:
        problems.append("answered %d (a 5xx): %r" % (ans.status, ans.body[:300]))
    elif 200 <= ans.status < 300 and not case.ok2xx:
        problems.append("answered %d to a malformed request" % ans.status)
    elif ans.status < 200 or (300 <= ans.status < 400):
        problems.append("answered %d" % ans.status)
    if case.expect and ans.status not in case.expect and not (case.ok2xx and ans.status < 300):
        problems.append("answered %d, expected %s" % (ans.status, sorted(case.expect)))
    mt = ans.media_type()
    if ans.status >= 400 and (mt.endswith("json") or mt.endswith("+json")):
        # attachd answered: RFC 9457 with a code
        if mt != "application/problem+json":
            problems.append("a %d of attachd is %s, not application/problem+json"
                            % (ans.status, mt))
        doc = ans.json() if not case.head_only else {"code": "-", "status": ans.status}
        if not isinstance(doc, dict):
            problems.append("problem body is not a JSON object: %r" % ans.body[:200])
        else:
            if not (isinstance(doc.get("code"), str) and doc["code"]):
                problems.append("problem without a code: %r" % doc)
            if doc.get("status") != ans.status:
                problems.append("problem status %r != HTTP %d" % (doc.get("status"), ans.status))
    return problems


def metrics_5xx(target):
    """Sum of attachd_http_requests_total with a 5xx status, or None when unreadable."""
    status, _, ans = http_get(target, "/metrics")
    if status != 200:
        return None
    total = 0.0
    for line in ans.body.decode("utf-8", "replace").splitlines():
        m = re.match(r'^attachd_http_requests_total\{[^}]*status="5\d\d"[^}]*\}\s+(\S+)', line)
        if m:
            total += float(m.group(1))
    return total


def part_malformed(target, checks, admin, portal):
    part = "malformed"
    print("\n== 1. malformed requests against %s" % target.url, flush=True)
    before_5xx = metrics_5xx(target)
    cases = malformed_cases(Requests(target, admin, portal))
    started = now()
    results = []

    def run(case):
        return case, exchange(target, case.payload, wait=2.0 if not case.complete else 6.0,
                              head_only=case.head_only)

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        for case, ans in pool.map(run, cases):
            results.append((case, ans))
    elapsed = now() - started
    by_outcome, mhd_own, attachd_codes = {}, {}, {}
    groups = {}
    for case, ans in results:
        key = ans.outcome if ans.outcome != "answer" else str(ans.status)
        by_outcome[key] = by_outcome.get(key, 0) + 1
        groups.setdefault(case.group, 0)
        groups[case.group] += 1
        if ans.outcome == "answer":
            if ans.media_type().endswith("json"):
                doc = ans.json()
                code = doc.get("code") if isinstance(doc, dict) else "?"
                attachd_codes[(ans.status, code)] = attachd_codes.get((ans.status, code), 0) + 1
            else:
                mhd_own[ans.status] = mhd_own.get(ans.status, 0) + 1
        for p in check_answer(case, ans):
            checks.fail(part, "[%s] %s: %s" % (case.group, case.name, p))
    print("%d requests (%s) in %.1f s" % (len(cases), ", ".join(
        "%s %d" % kv for kv in sorted(groups.items())), elapsed))
    print("outcomes: %s" % ", ".join("%s ×%d" % kv for kv in sorted(by_outcome.items())))
    print("answered by attachd (problem code): %s" % ", ".join(
        "%d %s ×%d" % (k[0], k[1], v) for k, v in sorted(attachd_codes.items(), key=str)))
    print("answered by libmicrohttpd itself (no JSON): %s" % (", ".join(
        "%d ×%d" % kv for kv in sorted(mhd_own.items())) or "none"))
    slowest = max(results, key=lambda ca: ca[1].elapsed if ca[1].outcome == "answer" else 0)
    print("slowest answer: %s (%s)" % (ms(slowest[1].elapsed), slowest[0].name))
    stalls = [c for c in cases if c.stall]
    print("left unanswered by libmicrohttpd until the connection times out (part 2 checks they "
          "are closed in time): %s" % "; ".join("%s: %s" % (c.name, c.stall) for c in stalls))
    status, took, _ = http_get(target, "/healthz")
    checks.expect(part, status == 200, "GET /healthz afterwards answered %r" % status)
    print("GET /healthz afterwards: %s in %s" % (status, ms(took)))
    after_5xx = metrics_5xx(target)
    if before_5xx is not None and after_5xx is not None:
        checks.expect(part, after_5xx == before_5xx,
                      "/metrics counts %d new 5xx answers" % (after_5xx - before_5xx))
        print("5xx answers counted by /metrics during the run: %d" % (after_5xx - before_5xx))


# ----------------------------------------------------------------------------------------------
# Part 2: slow-loris
# ----------------------------------------------------------------------------------------------

class SecondInstance:
    """An attachd of our own (same database) with a short connection timeout."""

    def __init__(self, binary, conn_timeout):
        self.binary, self.conn_timeout = binary, conn_timeout
        self.port = int(os.environ.get("ATTACHD_FAULT_PORT") or faultlib._free_port())
        self.log_path = os.environ.get("ATTACHD_LOG") or tempfile.mktemp(
            prefix="attachd-abuse-", suffix=".log")
        self.proc = None
        self.target = Target("http://127.0.0.1:%d" % self.port)

    def start(self):
        env = dict(os.environ, ATTACHD_PORT=str(self.port),
                   ATTACHD_CONN_TIMEOUT=str(self.conn_timeout))
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([self.binary, "serve"], env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=_die_with_parent)
        print("attachd serve (pid %d) on %s with ATTACHD_CONN_TIMEOUT=%d, log %s"
              % (self.proc.pid, self.target.url, self.conn_timeout, self.log_path), flush=True)
        deadline = now() + 30
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("attachd exited at start (status %s); see %s"
                                   % (self.proc.returncode, self.log_path))
            if http_get(self.target, "/healthz", timeout=1)[0] == 200:
                # Still ours? Another process on this port would answer too while ours dies
                # with "cannot listen" (seen on a machine shared by several test runs).
                time.sleep(0.3)
                if self.proc.poll() is not None:
                    raise RuntimeError("attachd exited at start (status %s; port %d taken?); see %s"
                                       % (self.proc.returncode, self.port, self.log_path))
                return
            time.sleep(0.1)
        raise RuntimeError("attachd did not answer /healthz within 30 s")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else None


class Loris:
    """One slow connection: sends `first`, then `drip` every `interval` seconds (nothing when
    drip is empty); remembers when the server closed it."""

    def __init__(self, kind, target, first, drip, interval):
        self.kind, self.first, self.drip, self.interval = kind, first, drip, interval
        self.sock = socket.create_connection((target.host, target.port), timeout=10)
        self.opened = now()
        self.next_drip = self.opened + interval
        self.closed_at = None
        self.answer = b""
        self.sent = len(first)
        self.sock.sendall(first)
        self.sock.setblocking(False)

    def _send(self, data):
        try:
            self.sock.send(data)
            self.sent += len(data)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._closed()

    def _closed(self):
        if self.closed_at is None:
            self.closed_at = now()
            self.sock.close()

    def on_readable(self):
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            self.answer += data
        else:
            self._closed()

    def tick(self, t):
        if self.closed_at is None and self.drip and t >= self.next_drip:
            self._send(self.drip)
            self.next_drip = t + self.interval

    def lifetime(self):
        return (self.closed_at or now()) - self.opened


def probe_loop(target, token, stop, latencies, failures):
    """Well-formed requests on fresh connections every 100 ms until stop is set."""
    while not stop.is_set():
        for path, tok in (("/healthz", None), ("/v1/district-kinds", token)):
            status, took, ans = http_get(target, path, tok, timeout=5)
            latencies.append(took)
            if status != 200:
                failures.append("%s -> %r after %s" % (path, ans, ms(took)))
        stop.wait(0.1)


def pct(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def part_slowloris(main_target, checks, admin, portal):
    part = "slowloris"
    print("\n== 2. slow-loris", flush=True)
    binary = os.environ.get("ATTACHD_BIN", "").strip()
    instance = None
    if binary and os.environ.get("DATABASE_URL", "").strip():
        timeout = int(os.environ.get("ATTACHD_ABUSE_CONN_TIMEOUT", "3"))
        instance = SecondInstance(binary, timeout)
        instance.start()
        target = instance.target
    else:
        timeout = int(os.environ.get("ATTACHD_CONN_TIMEOUT", "30"))
        target = main_target
        print("(no ATTACHD_BIN/DATABASE_URL: against %s, assuming ATTACHD_CONN_TIMEOUT=%d)"
              % (target.url, timeout))
    try:
        stalls = [c for c in malformed_cases(Requests(target, admin, portal)) if c.stall]
        run_slowloris(target, timeout, checks, admin, part, stalls)
    finally:
        if instance:
            rc = instance.stop()
            checks.expect(part, rc == 0, "the slow-loris attachd exited with %r after SIGTERM"
                          % rc)


def run_slowloris(target, timeout, checks, admin, part, stalls):
    interval = max(0.3, min(1.0, timeout / 3.0))
    head = ("POST /v1/settlements HTTP/1.1\r\nHost: %s\r\n" % target.hostport).encode()
    full_head = head + ("Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: 100000\r\n\r\n" % admin).encode()
    kinds = [
        # (kind, count, first bytes, drip)
        ("silent head", 50, head, b""),
        ("head, a header line at a time", 50, head, b"X-Slow: 1\r\n"),
        ("head, a byte at a time", 25, b"GET /v1/dist", b"r"),
        ("silent body", 25, full_head + b'{"ka', b""),
        ("body, a byte at a time", 50, full_head + b'{"kato": "', b"7"),
    ]
    # Complete requests libmicrohttpd never answers: held like a slow request, closed like one.
    kinds += [("unanswered: " + c.name[:28], 4, c.payload, b"") for c in stalls]
    slack = max(2.0, timeout * 0.5)
    print("%d connections (200 slow-loris, the rest unanswered requests), dripping every %.1f s, "
          "the server's timeout %d s (+%.1f s slack)"
          % (sum(k[1] for k in kinds), interval, timeout, slack), flush=True)
    # Baseline latency, before the attack.
    base = [http_get(target, "/healthz")[1] for _ in range(20)]
    lorises = []
    for kind, count, first, drip in kinds:
        for _ in range(count):
            lorises.append(Loris(kind, target, first, drip, interval))
    stop = threading.Event()
    latencies, failures = [], []
    prober = threading.Thread(target=probe_loop, args=(target, admin, stop, latencies, failures))
    prober.start()
    deadline = now() + timeout + slack
    try:
        while now() < deadline:
            open_ = [l for l in lorises if l.closed_at is None]
            if not open_:
                break
            poller = select.poll()
            by_fd = {}
            for l in open_:
                poller.register(l.sock, select.POLLIN)
                by_fd[l.sock.fileno()] = l
            for fd, _ in poller.poll(50):
                by_fd[fd].on_readable()
            t = now()
            for l in open_:
                l.tick(t)
    finally:
        stop.set()
        prober.join()
    still_open = [l for l in lorises if l.closed_at is None]
    for l in still_open:
        l.sock.close()
    print("%-40s   n  closed   lifetime min / median / max   answered" % "kind")
    for kind, count, _, _ in kinds:
        mine = [l for l in lorises if l.kind == kind]
        closed = [l.lifetime() for l in mine if l.closed_at is not None]
        answered = sorted({l.answer.split(b"\r\n", 1)[0].decode("latin-1", "replace")
                           for l in mine if l.answer})
        print("%-40s %3d  %5d    %s" % (kind, count, len(closed),
              "%.1f / %.1f / %.1f s" % (min(closed), statistics.median(closed), max(closed))
              if closed else "-"), " ", ", ".join(answered) or "-")
        opened = [l for l in mine if l.closed_at is None]
        checks.expect(part, not opened,
                      "%d of %d '%s' connections still open %.1f s after they began (timeout "
                      "%d s): the connection timeout does not bound them"
                      % (len(opened), count, kind, timeout + slack, timeout))
        bad = [a for a in answered if re.match(r"HTTP/1\.[01] 5", a)]
        checks.expect(part, not bad, "'%s' answered %s" % (kind, bad))
        if kind.startswith("unanswered"):
            continue  # an answer and a close at once would be welcome
        early = [x for x in closed if x < timeout * 0.5]
        checks.expect(part, not early, "%d '%s' connections closed after less than half the "
                      "timeout (%.1f s)" % (len(early), kind, min(early) if early else 0))
    print("probes meanwhile: %d requests, latency p50 %s, p99 %s, max %s (before: p50 %s, max "
          "%s); %d failed" % (len(latencies), ms(pct(latencies, 50)), ms(pct(latencies, 99)),
                              ms(max(latencies or [0])), ms(pct(base, 50)), ms(max(base)),
                              len(failures)))
    checks.expect(part, not failures, "requests failed during the attack: %s" % failures[:5])
    checks.expect(part, latencies and max(latencies) < 1.0,
                  "a request took %s during the attack" % ms(max(latencies or [0])))
    status = http_get(target, "/healthz")[0]
    checks.expect(part, status == 200, "GET /healthz afterwards answered %r" % status)


# ----------------------------------------------------------------------------------------------
# Part 3: thousands of idle connections
# ----------------------------------------------------------------------------------------------

def proc_status(pid):
    """{field: value} of /proc/PID/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return None


def kib(status, field):
    return int(status[field].split()[0]) if status and field in status else None


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def part_idle(target, checks, admin, count=2000):
    part = "idle"
    print("\n== 3. %d idle connections against %s" % (count, target.url), flush=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 512
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < want:
        count = soft - 512
        print("the file descriptor limit allows only %d connections" % count)
    pid = int(os.environ.get("ATTACHD_PID") or 0)
    limit_mib = float(os.environ.get("ATTACHD_ABUSE_RSS_MIB", "128"))

    def snapshot():
        st = proc_status(pid) if pid else None
        return kib(st, "VmRSS"), kib(st, "VmHWM"), kib(st, "Threads"), nfds(pid) if pid else None

    rss0, hwm0, threads0, fds0 = snapshot()
    socks = []
    started = now()
    request = ("GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n" % target.hostport).encode()
    try:
        for i in range(count):
            try:
                s = socket.create_connection((target.host, target.port), timeout=10)
            except OSError as e:
                checks.fail(part, "connection %d of %d failed: %s" % (i + 1, count, e))
                break
            socks.append(s)
            if i % 2:
                s.sendall(request)  # one keep-alive request, then idle
        opened = now() - started
        # read the answers of the keep-alive half
        kept = 0
        for s in socks[1::2]:
            s.settimeout(5)
            try:
                if s.recv(4096).startswith(b"HTTP/1.1 200"):
                    kept += 1
            except OSError:
                pass
        time.sleep(1.0)
        rss1, hwm1, threads1, fds1 = snapshot()
        lat = []
        bad = []
        for _ in range(10):
            for path, tok in (("/healthz", None), ("/v1/district-kinds", admin),
                              ("/v1/applications?limit=1", admin)):
                status, took, ans = http_get(target, path, tok, timeout=5)
                lat.append(took)
                if status != 200:
                    bad.append("%s -> %r" % (path, ans))
        alive = 0
        for s in socks:
            try:
                s.setblocking(False)
                if s.recv(1, socket.MSG_PEEK) == b"":
                    continue  # closed by the server
            except BlockingIOError:
                pass
            except OSError:
                continue
            alive += 1
    finally:
        for s in socks:
            s.close()
    time.sleep(1.5)
    rss2, hwm2, threads2, fds2 = snapshot()
    print("opened %d connections in %.1f s (%d answered a keep-alive request first); %d still "
          "open when measured" % (len(socks), opened, kept, alive))
    print("requests meanwhile: %d, latency p50 %s, max %s; %d failed"
          % (len(lat), ms(pct(lat, 50)), ms(max(lat or [0])), len(bad)))
    checks.expect(part, not bad, "requests failed with %d idle connections open: %s"
                  % (len(socks), bad[:5]))
    checks.expect(part, lat and max(lat) < 1.0,
                  "a request took %s with the idle connections open" % ms(max(lat or [0])))
    checks.expect(part, alive >= len(socks) * 0.9,
                  "only %d of %d idle connections stayed open for the measurement" %
                  (alive, len(socks)))
    if pid and rss0 is not None:
        print("attachd pid %d: VmRSS %.1f MiB before, %.1f MiB with %d connections open "
              "(+%.1f MiB, %.1f KiB per connection), %.1f MiB after closing them; VmHWM %.1f MiB; "
              "threads %s; open fds %s -> %s -> %s"
              % (pid, rss0 / 1024, rss1 / 1024, len(socks), (rss1 - rss0) / 1024,
                 (rss1 - rss0) / max(1, len(socks)), rss2 / 1024, hwm2 / 1024, threads1,
                 fds0, fds1, fds2))
        checks.expect(part, (rss1 - rss0) / 1024 < limit_mib,
                      "RSS grew by %.1f MiB with %d idle connections (limit %g MiB)"
                      % ((rss1 - rss0) / 1024, len(socks), limit_mib))
        checks.expect(part, fds2 is None or fds0 is None or fds2 <= fds0 + 16,
                      "attachd holds %s fds after the connections closed (%s before)"
                      % (fds2, fds0))
    elif pid:
        checks.fail(part, "cannot read /proc/%d/status (is ATTACHD_PID the attachd?)" % pid)
    else:
        print("RSS not measured: ATTACHD_PID is not set")
    status = http_get(target, "/healthz")[0]
    checks.expect(part, status == 200, "GET /healthz afterwards answered %r" % status)


# ----------------------------------------------------------------------------------------------

PARTS = ("malformed", "slowloris", "idle")


def main(argv):
    parts = argv or list(PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print("usage: abuse.py [%s]..." % "|".join(PARTS), file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    target = Target(need_env("ATTACHD_URL"))
    admin = need_env("ATTACHD_ADMIN_TOKEN")
    portal = need_env("ATTACHD_PORTAL_TOKEN")
    if http_get(target, "/healthz")[0] != 200:
        print("error: %s/healthz does not answer 200" % target.url, file=sys.stderr)
        return 1
    checks = Checks()
    started = now()
    for p in parts:
        try:
            if p == "malformed":
                part_malformed(target, checks, admin, portal)
            elif p == "slowloris":
                part_slowloris(target, checks, admin, portal)
            else:
                part_idle(target, checks, admin)
        except Exception as e:  # a crash of one part is a failure, the others still run
            checks.fail(p, "%s: %s" % (type(e).__name__, e))
    pid = int(os.environ.get("ATTACHD_PID") or 0)
    if pid:
        checks.expect("process", os.path.exists("/proc/%d" % pid),
                      "attachd (pid %d) is gone" % pid)
    print()
    if checks.failures:
        print("%d FAILED checks:" % len(checks.failures))
        for f in checks.failures:
            print("  - " + f)
    print("abuse.py: %s (%s) in %.1f s" % ("FAILED" if checks.failures else "all checks held",
                                          ", ".join(parts), now() - started))
    return 1 if checks.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
