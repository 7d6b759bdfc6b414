#!/usr/bin/env python3
"""Fault test: the connection dies between COMMIT and its acknowledgement (issue 11, item 0).

    ATTACHD_BIN=... DATABASE_URL='host=127.0.0.1 port=... ...' ATTACHD_ADMIN_TOKEN=... \
    ATTACHD_PORTAL_TOKEN=... python3 tests/faults/commit_lost.py

A failover can end a session after the server committed a submission but before attachd read
the answer: attachd says 503 (it cannot know), yet the application is stored. This test puts a
TCP proxy between its own `attachd serve` and PostgreSQL that, when armed, forwards the next
COMMIT, waits for the server's answer (so the commit is done) and then cuts both sides instead of
passing the answer on. A submission has no COMMIT statement (db_transaction_implicit): it commits
at the sync that ends the flight storing the application, and the proxy cuts after that sync
alike. Then it checks what docs/INTEGRATION.md ("Retries") promises integrators:

  * the submission is answered 503 problem+json with Retry-After, and is stored all the same;
  * a retry with the same Idempotency-Key and body answers 201 with the stored application
    (same id, same status), and so does a second retry; exactly one application carries the key;
  * a retry without a key meets the application it created: 409 naming the pending
    application (pending_application_id) for a polyclinic that does not auto-approve;
  * submissions without a key still work (201);
  * attachd stops with status 0 on SIGTERM.

Exit status 0 when every check passed, 1 otherwise.
"""

import re
import socket
import struct
import sys
import threading
import uuid

import faultlib
from faultlib import Checks, Connection, Exchange, Server, client

SSL_OR_GSS_REQUEST = (80877103, 80877104)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class CommitCutter:
    """A PostgreSQL wire proxy on 127.0.0.1 that can cut a session right after a COMMIT."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.armed = threading.Event()
        self.cuts = 0
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                down, _ = self.listener.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream)
            except OSError:
                down.close()
                continue
            session = {"cut": False}
            threading.Thread(target=self.to_server, args=(down, up, session), daemon=True).start()
            threading.Thread(target=self.to_client, args=(up, down, session), daemon=True).start()

    @staticmethod
    def close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def to_server(self, down, up, session):
        """Client to server, message by message, so a COMMIT can be recognised."""
        try:
            while True:  # startup: length-prefixed, no type byte; SSL/GSS requests come first
                head = recv_exact(down, 8)
                length, code = struct.unpack("!II", head)
                up.sendall(head + recv_exact(down, length - 8))
                if code not in SSL_OR_GSS_REQUEST:
                    break
            statements, storing = {}, False
            while True:
                kind = recv_exact(down, 1)
                length = struct.unpack("!I", recv_exact(down, 4))[0]
                payload = recv_exact(down, length - 4)
                if kind == b"P":  # Parse: statement name, NUL, query text
                    name, text = (payload.split(b"\0", 2) + [b""])[:2]
                    statements[name] = text
                elif kind == b"B":  # Bind: portal name, NUL, statement name
                    name = (payload.split(b"\0", 2) + [b""])[1]
                    storing = storing or b"INSERT INTO applications" in statements.get(name, b"")
                commits = is_commit(kind, payload) or (kind == b"S" and storing)
                if kind == b"S":
                    storing = False
                if commits and self.armed.is_set():
                    self.armed.clear()
                    session["cut"] = True  # the server's answer to this is not passed on
                up.sendall(kind + struct.pack("!I", length) + payload)
        except (OSError, ConnectionError):
            self.close(down, up)

    def to_client(self, up, down, session):
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                if session["cut"]:
                    # The server answered the COMMIT: it is durable now. Cut both sides.
                    with self.lock:
                        self.cuts += 1
                    break
                down.sendall(data)
        except OSError:
            pass
        self.close(down, up)


def is_commit(kind, payload):
    """A COMMIT sent as a simple query (Q) or, in a pipelined flight, as an extended-protocol
    Parse (P: statement name, NUL, query text)."""
    if kind == b"Q":
        return payload.upper().startswith(b"COMMIT")
    if kind == b"P":
        parts = payload.split(b"\0", 2)
        return len(parts) > 1 and parts[1].upper().startswith(b"COMMIT")
    return False


def upstream_of(url):
    host = re.search(r"(?:^|\s)host=(\S+)", url)
    port = re.search(r"(?:^|\s)port=(\d+)", url)
    if not host or host.group(1).startswith("/") or "," in host.group(1):
        return None
    return host.group(1), int(port.group(1)) if port else 5432


def post(port, body, key=None):
    portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
    conn = Connection(port)
    try:
        return conn.send(Exchange("POST /v1/applications", key), "POST", "/v1/applications",
                         body, portal, {"Idempotency-Key": key} if key else None)
    finally:
        conn.close()


def stored(where):
    return [(int(i), s) for i, s in faultlib.psql(
        "SELECT id, status FROM applications WHERE %s ORDER BY id" % where)]


def main():
    faultlib.exit_on_sigterm()
    url = faultlib.need_env("DATABASE_URL")
    upstream = upstream_of(url)
    if upstream is None:
        print("error: DATABASE_URL must name one TCP host and port (host=... port=...)")
        return 2
    proxy = CommitCutter(upstream)
    # Later keywords win in a libpq connection string: attachd talks to the proxy.
    proxied = "%s host=127.0.0.1 port=%d sslmode=disable gssencmode=disable" % (url, proxy.port)
    checks = Checks()
    server = Server(extra_env={"DATABASE_URL": proxied, "ATTACHD_DB_POOL": "2",
                               "ATTACHD_THREADS": "2"})
    try:
        server.start()
        auto = faultlib.fixtures(ndistricts=1)
        manual = client.new_polyclinic(auto["settlement"], accepting=True, auto_approve=False)
        client.new_district(manual["id"], "gp")

        # -- with an Idempotency-Key: the retry gets the stored application -----------------
        key = "commit-lost-" + uuid.uuid4().hex
        body = faultlib.application_body(auto)
        proxy.armed.set()
        first = post(server.port, body, key)
        print("cut after COMMIT, with a key: %s" % first.describe(), flush=True)
        checks.check(proxy.cuts == 1, "the proxy cut %d sessions after a COMMIT, expected 1"
                     % proxy.cuts)
        checks.check(first.is_503_problem(), "the cut submission was not answered 503 "
                     "problem+json with Retry-After", [first.describe()])
        rows = stored("idempotency_key = '%s'" % key)
        checks.check(len(rows) == 1, "the cut submission should be stored once (committed "
                     "before the cut), found %d" % len(rows))
        for attempt in ("first retry", "second retry"):
            again = post(server.port, body, key)
            print("%s with the same key: %s" % (attempt, again.describe()[:160]), flush=True)
            got = (again.body.get("id"), again.body.get("status")) \
                if isinstance(again.body, dict) else None
            checks.check(again.status == 201 and rows and got == rows[0],
                         "%s with the same key should answer 201 with the stored application "
                         "%s" % (attempt, rows[0] if rows else None), [again.describe()])
            replayed = again.headers.get("Idempotent-Replayed") if again.headers else None
            checks.check(replayed in (None, "true"), "Idempotent-Replayed: %r" % replayed)
        checks.check(len(stored("idempotency_key = '%s'" % key)) == 1,
                     "the retries stored another application")

        # -- without a key: the retry meets the application it created -----------------------
        body = faultlib.application_body(manual)
        iin = body["person"]["iin"]
        proxy.armed.set()
        first = post(server.port, body)
        print("cut after COMMIT, without a key: %s" % first.describe(), flush=True)
        checks.check(proxy.cuts == 2 and first.is_503_problem(),
                     "the cut submission without a key was not answered 503", [first.describe()])
        rows = stored("iin = '%s' AND polyclinic_id = %d" % (iin, manual["id"]))
        checks.check(len(rows) == 1 and rows[0][1] == "pending",
                     "the cut submission without a key should be stored, pending: %r" % rows)
        again = post(server.port, body)
        print("retry without a key: %s" % again.describe()[:200], flush=True)
        # Named by pending_application_id (SPEC §12) or, as on main today, in the detail.
        named = isinstance(again.body, dict) and rows and (
            again.body.get("pending_application_id") == rows[0][0]
            or re.search(r"\b%d\b" % rows[0][0], again.body.get("detail") or ""))
        checks.check(again.status == 409 and bool(named),
                     "a retry without a key should be 409 naming the pending application",
                     [again.describe()])

        # -- and without any fault, a submission without a key is as before -----------------
        plain = post(server.port, faultlib.application_body(auto))
        checks.check(plain.status == 201, "a submission without a key was not answered 201",
                     [plain.describe()])
    finally:
        rc, _ = server.stop(timeout=15)
        proxy.listener.close()
    checks.check(rc == 0, "attachd did not stop with status 0 on SIGTERM (status %s)" % rc,
                 server.log_tail().splitlines())
    return checks.finish("commit_lost")


if __name__ == "__main__":
    sys.exit(main())
