#!/usr/bin/env python3
"""Fault test: SIGTERM under load (SPEC §10: stop cleanly, finishing requests in flight).

    ATTACHD_BIN=... DATABASE_URL=... ATTACHD_ADMIN_TOKEN=... ATTACHD_PORTAL_TOKEN=... \
        python3 tests/faults/shutdown.py

Starts its own `attachd serve` (see faultlib.py for the environment) and loads it:
ATTACHD_FAULT_CLIENTS threads (default 4) submit `campaign` applications to an auto-approving
polyclinic, two more read the catalogue, all on keep-alive connections. Three "slow" requests
send their headers and half their body before the signal and the rest after it, so they are in
flight for certain. Then it sends SIGTERM while a prober keeps opening new connections, and
checks:

  * every request sent before the signal got a complete answer (no reset, no hang), and the
    slow ones, completed after the signal, got their 201;
  * new connections are refused soon after the signal (ATTACHD_FAULT_REFUSE seconds, default 1)
    while attachd is still finishing the slow requests, and none is accepted and left hanging;
  * attachd exits with status 0 within ATTACHD_FAULT_EXIT seconds (default 5) of the signal,
    although the clients keep trying;
  * no answer was a 5xx;
  * every 201 is in the database with the status it announced; nothing is stored that was
    answered otherwise; every approved application has one attachment and one transfer.

Requests sent after the signal may be answered, refused, or reset (counted and shown).
Exit status 0 when every check passed, 1 otherwise.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import faultlib
from faultlib import Checks, Connection, Exchange, Server, ms, now

CLIENTS = int(os.environ.get("ATTACHD_FAULT_CLIENTS", "4"))
READERS = 2
SLOW = 3
WARMUP = 2.0
SLOW_HOLD = 0.8       # seconds after SIGTERM before the slow requests send the rest of the body
REFUSE_LIMIT = float(os.environ.get("ATTACHD_FAULT_REFUSE", "1"))
EXIT_LIMIT = float(os.environ.get("ATTACHD_FAULT_EXIT", "5"))


class SlowRequest:
    """A POST /v1/applications whose body arrives in two halves, around the signal."""

    def __init__(self, port, poly, portal):
        self.key = "fault-shutdown-slow-" + uuid.uuid4().hex
        body = json.dumps(faultlib.application_body(poly),
                                   ensure_ascii=False).encode("utf-8")
        head = ("POST /v1/applications HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Idempotency-Key: %s\r\nContent-Length: %d\r\n\r\n"
                % (port, portal, self.key, len(body))).encode("latin-1")
        half = len(body) // 2
        self.first, self.rest = head + body[:half], body[half:]
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ex = Exchange("slow POST /v1/applications", self.key)

    def begin(self):
        self.sock.sendall(self.first)

    def complete(self):
        """Sends the rest and reads the answer into self.ex."""
        try:
            self.sock.sendall(self.rest)
            self.ex.t_sent = now()
            resp = http.client.HTTPResponse(self.sock, method="POST")
            resp.begin()
            data = resp.read()
            self.ex.status, self.ex.headers = resp.status, resp.headers
            self.ex.body = faultlib.client.parse_body(resp.headers, data)
        except (OSError, http.client.HTTPException) as e:
            self.ex.error = faultlib.classify_error(e)
        self.ex.t_done = now()
        self.sock.close()


class Load:
    def __init__(self, port, poly):
        self.port, self.poly = port, poly
        self.portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
        self.admin = faultlib.need_env("ATTACHD_ADMIN_TOKEN")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.exchanges = []
        self.threads = []

    def _record(self, ex):
        with self.lock:
            self.exchanges.append(ex)
        if ex.error:
            time.sleep(0.02)  # refused: the server is going or gone

    def submitter(self):
        conn = Connection(self.port)
        while not self.stop.is_set():
            key = "fault-shutdown-" + uuid.uuid4().hex
            ex = conn.send(Exchange("POST /v1/applications", key), "POST", "/v1/applications",
                           faultlib.application_body(self.poly), self.portal,
                           {"Idempotency-Key": key})
            self._record(ex)
        conn.close()

    def reader(self, n):
        conn = Connection(self.port)
        paths = ["/v1/polyclinics/%d" % self.poly["id"], "/v1/district-kinds",
                 "/v1/settlements/%s" % self.poly["settlement"],
                 "/v1/polyclinics?settlement=%s" % self.poly["settlement"]]
        i = n
        while not self.stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            self._record(conn.send(Exchange("GET " + path), "GET", path, token=self.admin))
        conn.close()

    def start(self):
        self.threads = [threading.Thread(target=self.submitter, daemon=True)
                        for _ in range(CLIENTS)]
        self.threads += [threading.Thread(target=self.reader, args=(n,), daemon=True)
                         for n in range(READERS)]
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(faultlib.HTTP_TIMEOUT + 5)
        return not any(t.is_alive() for t in self.threads)


def probe(port, until, results):
    """Opens new connections until `until` (an Event): (time, outcome) with outcome refused,
    answered (it got an HTTP answer), hung (accepted, no answer within 1 s) or reset."""
    while not until.is_set():
        t = now()
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
        except ConnectionRefusedError:
            results.append((t, "refused"))
            time.sleep(0.02)
            continue
        except OSError as e:
            results.append((t, faultlib.classify_error(e)))
            continue
        try:
            s.settimeout(1)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = s.recv(100)
            results.append((t, "answered" if data.startswith(b"HTTP/1.1 ") else "reset"))
        except socket.timeout:
            results.append((t, "hung"))
        except OSError:
            results.append((t, "reset"))
        finally:
            s.close()
        time.sleep(0.02)


def main():
    faultlib.exit_on_sigterm()
    checks = Checks()
    server = Server()
    slow = []
    try:
        server.start()
        poly = faultlib.fixtures(ndistricts=2)
        portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
        print("polyclinic %d (auto_approve), %d submitters, %d readers, %d slow requests"
              % (poly["id"], CLIENTS, READERS, SLOW), flush=True)
        load = Load(server.port, poly)
        t_begin = now()
        load.start()
        slow = [SlowRequest(server.port, poly, portal) for _ in range(SLOW)]
        for s in slow:
            s.begin()
        time.sleep(WARMUP)

        probes, probing = [], threading.Event()
        prober = threading.Thread(target=probe, args=(server.port, probing, probes), daemon=True)
        t_kill = now()
        server.proc.send_signal(signal.SIGTERM)
        prober.start()

        time.sleep(SLOW_HOLD)
        alive_while_slow = server.alive()
        finishers = [threading.Thread(target=s.complete) for s in slow]
        for f in finishers:
            f.start()
        for f in finishers:
            f.join(faultlib.HTTP_TIMEOUT + 5)
        t_slow_done = now()

        try:
            rc = server.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        t_exit = now()
        time.sleep(0.3)  # let the clients and the prober see the closed port
        probing.set()
        prober.join(5)
        threads_done = load.finish()
        exchanges = list(load.exchanges)
    finally:
        server.kill()
        for s in slow:
            s.sock.close()

    # ---- what the clients saw ----------------------------------------------------------------
    before = [ex for ex in exchanges if ex.t_sent is not None and ex.t_sent < t_kill]
    after = [ex for ex in exchanges if ex not in before]
    after_answered = [ex for ex in after if ex.status is not None]
    closing = [ex for ex in after_answered
               if (ex.headers.get("Connection") or "").lower() == "close"]
    refusals = [t for t, what in probes if what == "refused"]
    first_refused = min(refusals) if refusals else None
    print()
    print("run %.1f s; SIGTERM at %.1f s; exit %s after it (status %s); slow requests done "
          "%s after it" % (t_exit - t_begin, t_kill - t_begin,
                           ms(t_exit - t_kill) if rc is not None else "never", rc,
                           ms(t_slow_done - t_kill)))
    print("requests sent before SIGTERM %5d  %s" % (len(before), faultlib.counts(before)))
    print("requests after SIGTERM       %5d  %s" % (len(after), faultlib.counts(after)))
    print("  of which answered %d (%d with Connection: close), last answer %s after SIGTERM"
          % (len(after_answered), len(closing),
             ms(max(ex.t_done for ex in after_answered) - t_kill) if after_answered else "-"))
    print("slow requests: %s" % ", ".join(s.ex.outcome() for s in slow))
    tally = {}
    for _, what in probes:
        tally[what] = tally.get(what, 0) + 1
    print("new connections after SIGTERM: %s; first refused %s after SIGTERM"
          % (", ".join("%s %d" % kv for kv in sorted(tally.items())) or "none",
             ms(first_refused - t_kill) if first_refused else "never"))

    checks.check(threads_done, "a client thread hung (no answer within the HTTP timeout)")
    checks.check(len(before) > 0, "no request completed before SIGTERM")
    checks.check(alive_while_slow, "attachd exited before the requests in flight had finished",
                 server.log_tail().splitlines())
    bad = [ex.describe() for ex in before if ex.error]
    checks.check(not bad, "requests sent before SIGTERM without a complete answer", bad)
    bad = [s.ex.describe() for s in slow if s.ex.status != 201]
    checks.check(not bad, "requests in flight at SIGTERM not answered 201", bad)
    bad = [ex.describe() for ex in exchanges if ex.status is not None and ex.status >= 500]
    checks.check(not bad, "5xx answers", bad)
    bad = [ex.describe() for ex in exchanges if ex.status is not None
           and ex.status not in (200, 201)]
    checks.check(not bad, "answers other than 200/201", bad)
    checks.check(first_refused is not None and first_refused - t_kill <= REFUSE_LIMIT
                 and first_refused < t_slow_done,
                 "new connections were not refused within %.1f s of SIGTERM while requests "
                 "were still in flight" % REFUSE_LIMIT)
    hung = ["new connection at +%s: %s" % (ms(t - t_kill), what)
            for t, what in probes if what == "hung"]
    checks.check(not hung, "new connections accepted after SIGTERM and never answered", hung)
    late = ["new connection at +%s: %s" % (ms(t - t_kill), what)
            for t, what in probes if first_refused and t > first_refused and what != "refused"]
    checks.check(not late, "new connections served again after the first refusal", late)
    checks.check(rc == 0, "attachd exit status after SIGTERM: %s (expected 0)" % rc,
                 server.log_tail().splitlines())
    checks.check(rc is not None and t_exit - t_kill <= EXIT_LIMIT,
                 "attachd took %s to exit after SIGTERM (limit %.0f s)"
                 % (ms(t_exit - t_kill), EXIT_LIMIT))

    # ---- what the database holds -------------------------------------------------------------
    subs = [ex for ex in exchanges if ex.key] + [s.ex for s in slow]
    in_db = faultlib.db_applications(poly["id"])
    created = {ex.key: ex for ex in subs if ex.status == 201}
    neterr = {ex.key: ex for ex in subs if ex.error}
    missing, wrong, unacked, phantom = [], [], [], []
    for key, ex in created.items():
        got = in_db.get(key)
        want = (ex.body.get("id"), ex.body.get("status")) if isinstance(ex.body, dict) else None
        if got is None:
            missing.append("%s answered 201 (%r) but is not in the database" % (key, want))
        elif got != want:
            wrong.append("%s: answered %r, database has %r" % (key, want, got))
    for key, (app_id, status) in in_db.items():
        if key in created:
            continue
        if key in neterr:
            unacked.append((key, "application %d (%s): the client saw %s"
                                 % (app_id, status, neterr[key].error)))
        else:
            phantom.append("application %d (%s), key %s" % (app_id, status, key))
    half = faultlib.half_written(poly["id"])
    print("database: %d applications of the polyclinic; %d answered 201; %d submissions failed "
          "on the network, %d of them stored anyway; %d approved"
          % (len(in_db), len(created), len(neterr), len(unacked),
             faultlib.approved_count(poly["id"])))
    for _, line in unacked:
        print("  stored without a 201 reaching the client: %s" % line)
    checks.check(not missing, "a 201 is missing from the database", missing)
    checks.check(not wrong, "a 201 disagrees with the database", wrong)
    checks.check(not phantom, "stored applications the clients were answered otherwise",
                 phantom)
    checks.check(not half, "half-written decisions in the database", half)
    # Only a request whose answer was cut off may be stored without its 201: never one sent
    # before the signal (those must have been answered).
    sent_before = {ex.key for ex in before if ex.key}
    bad = [line for key, line in unacked if key in sent_before]
    checks.check(not bad, "stored applications whose answer was lost although sent before "
                 "SIGTERM", bad)
    return checks.finish("shutdown")


if __name__ == "__main__":
    sys.exit(main())
