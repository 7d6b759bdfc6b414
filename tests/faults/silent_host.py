#!/usr/bin/env python3
"""Fault test: the first host of a multi-host DATABASE_URL accepts TCP and never answers.

    ATTACHD_BIN=... DATABASE_URL='host=127.0.0.1 port=... ...' ATTACHD_ADMIN_TOKEN=... \
    ATTACHD_PORTAL_TOKEN=... python3 tests/faults/silent_host.py

A primary that lost power (or whose packets a firewall drops) sends no reset: libpq waits on
it, and tries the hosts of a multi-host URL in order. This test gives its own `attachd serve`
    host=127.0.0.1,<real host> port=<silent>,<real port> ...  ATTACHD_DB_WAIT_MS=800
where the silent port is a socket that listens and never accepts, and checks (issue 11):

  * the first requests answer 503 with Retry-After within the wait (plus 1 s), not a hang;
  * attachd then leaves the silent host out and reaches the real one by itself: /readyz 200
    and a submission 201 within a few seconds, without a restart;
  * attachd stops with status 0 on SIGTERM.
"""

import re
import socket
import sys
import time
import uuid

import faultlib
from faultlib import Checks, Connection, Exchange, Server, now

WAIT_MS = 800


def main():
    faultlib.exit_on_sigterm()
    url = faultlib.need_env("DATABASE_URL")
    host = re.search(r"(?:^|\s)host=(\S+)", url)
    port = re.search(r"(?:^|\s)port=(\d+)", url)
    if not host or not port or "," in host.group(1):
        print("error: DATABASE_URL must name one host and port (host=... port=...)")
        return 2
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # never accepted: the kernel completes handshakes, then nothing
    multi = "%s host=127.0.0.1,%s port=%d,%s sslmode=disable gssencmode=disable" % (
        url, host.group(1), silent.getsockname()[1], port.group(1))
    checks = Checks()
    server = Server(extra_env={"DATABASE_URL": multi, "ATTACHD_DB_WAIT_MS": str(WAIT_MS),
                               "ATTACHD_DB_POOL": "2", "ATTACHD_THREADS": "2"})
    seen = []
    try:
        server.start()
        conn = Connection(server.port)
        t0 = now()
        ready_at = None
        while now() < t0 + 10:
            ex = conn.send(Exchange("GET /readyz"), "GET", "/readyz")
            seen.append(ex)
            if ex.status == 200:
                ready_at = now()
                break
            time.sleep(0.1)
        sub = Exchange("POST /v1/applications (not sent: never ready)")
        if ready_at is not None:
            portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
            poly = faultlib.fixtures(ndistricts=1)
            key = "silent-host-" + uuid.uuid4().hex
            sub = conn.send(Exchange("POST /v1/applications", key), "POST", "/v1/applications",
                            faultlib.application_body(poly), portal, {"Idempotency-Key": key})
        conn.close()
    finally:
        rc, _ = server.stop(timeout=15)
        silent.close()
    print("readyz while the silent host is first: %s (%s)" % (faultlib.counts(seen), ", ".join(
        "%s in %.0f ms" % (ex.outcome(), (ex.t_done - ex.t_start) * 1e3) for ex in seen)))
    print("ready %s after start; a submission then: %s"
          % ("%.1f s" % (ready_at - t0) if ready_at else "never", sub.describe()[:120]))
    seen = [ex for ex in seen if ex.t_done is not None]
    # The deadline bounds the wait for a session; a 200 also ran its query (slow on a busy CI).
    slow = [ex.describe() for ex in seen
            if ex.status != 200 and ex.t_done - ex.t_start > WAIT_MS / 1e3 + 1.0]
    checks.check(not slow, "a request waited past ATTACHD_DB_WAIT_MS + 1 s for a 503", slow)
    bad = [ex.describe() for ex in seen if ex.status != 200 and not ex.is_503_problem()]
    checks.check(not bad, "answers other than 200 or 503 with Retry-After", bad)
    checks.check(ready_at is not None and ready_at - t0 < 5,
                 "/readyz did not reach the real host within 5 s")
    checks.check(sub.status == 201, "a submission after that was not answered 201",
                 [sub.describe()])
    checks.check(rc == 0, "attachd did not stop with status 0 on SIGTERM (status %s)" % rc,
                 server.log_tail().splitlines())
    return checks.finish("silent_host")


if __name__ == "__main__":
    sys.exit(main())
