#!/usr/bin/env python3
"""Fault test: PostgreSQL goes away under load and comes back (SPEC §7: 503 with Retry-After).

    ATTACHD_BIN=... DATABASE_URL=... ATTACHD_ADMIN_TOKEN=... ATTACHD_PORTAL_TOKEN=... \
    ATTACHD_DB_STOP='shell command' ATTACHD_DB_START='shell command' \
        python3 tests/faults/db_outage.py

Starts its own `attachd serve` (see faultlib.py for the environment), has ATTACHD_FAULT_CLIENTS
threads (default 6) submit `campaign` applications to an auto-approving polyclinic without
pause, each with its own Idempotency-Key, while a monitor polls /healthz, /readyz and a catalogue
read. After a few seconds it runs ATTACHD_DB_STOP (scripts/test.sh: pg_ctl stop -m fast), keeps
the load on for ATTACHD_FAULT_OUTAGE seconds (default 5), runs ATTACHD_DB_START, and keeps the
load on until the service has recovered by itself plus a little. Then it checks:

  * attachd never died, /healthz answered 200 throughout;
  * before the outage every submission got 201; during it every answer (submissions, /readyz,
    the catalogue read) was 503 application/problem+json with Retry-After; nothing else at any
    time (no 500, no 401, no hang);
  * after the restart submissions get 201 and /readyz 200 again within ATTACHD_FAULT_RECOVERY
    seconds (default 5), without restarting attachd, and every submission sent a second after
    recovery got 201;
  * the database agrees with the clients: every 201 is there with the status it announced; no
    application is there that got no 201, except for requests that failed on the network (their
    answer may have been lost: counted and shown); every approved application has exactly one
    attachment and one transfer, and district counts match;
  * attachd still stops with status 0 on SIGTERM.

Exit status 0 when every check passed, 1 otherwise. Prints the counts it measured.
"""

import os
import subprocess
import sys
import threading
import time
import uuid

import faultlib
from faultlib import Checks, Connection, Exchange, Server, client, ms, now

CLIENTS = int(os.environ.get("ATTACHD_FAULT_CLIENTS", "6"))
WARMUP = 3.0
OUTAGE = float(os.environ.get("ATTACHD_FAULT_OUTAGE", "5"))
RECOVERY_LIMIT = float(os.environ.get("ATTACHD_FAULT_RECOVERY", "5"))
SETTLED_AFTER = 1.0   # seconds after recovery from which every submission must succeed
TAIL = 2.5            # seconds of load kept on after recovery
IDLE_BURST = 8        # concurrent submissions around the restart while idle (> pool size)


def run_shell(what, command):
    """Runs a shell command (stop or start the database); returns the seconds it took."""
    started = now()
    print("%s: %s" % (what, command), flush=True)
    done = subprocess.run(["bash", "-c", command], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=90)
    took = now() - started
    if done.returncode != 0:
        print(done.stdout.decode("utf-8", errors="replace"), file=sys.stderr)
        raise RuntimeError("%s failed (exit %d)" % (what, done.returncode))
    return took


class Load:
    """Submitters and a monitor; everything they saw, with timestamps."""

    def __init__(self, port, poly):
        self.port, self.poly = port, poly
        self.portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
        self.admin = faultlib.need_env("ATTACHD_ADMIN_TOKEN")
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.submissions = []
        self.probes = []   # monitor: /healthz, /readyz, catalogue read
        self.threads = []

    def submitter(self):
        conn = Connection(self.port)
        try:
            while not self.stop.is_set():
                key = "fault-outage-" + uuid.uuid4().hex
                body = faultlib.application_body(self.poly)
                ex = conn.send(Exchange("POST /v1/applications", key), "POST",
                               "/v1/applications", body, self.portal, {"Idempotency-Key": key})
                with self.lock:
                    self.submissions.append(ex)
                if ex.error:
                    time.sleep(0.05)  # the server is gone or hangs: do not spin
        finally:
            conn.close()

    def monitor(self):
        conn = Connection(self.port)
        paths = [("/healthz", None), ("/readyz", None),
                 ("/v1/polyclinics/%d" % self.poly["id"], self.admin)]
        try:
            while not self.stop.is_set():
                for path, token in paths:
                    ex = conn.send(Exchange("GET " + path), "GET", path, token=token)
                    with self.lock:
                        self.probes.append(ex)
                time.sleep(0.05)
        finally:
            conn.close()

    def start(self):
        self.threads = [threading.Thread(target=self.submitter, daemon=True)
                        for _ in range(CLIENTS)]
        self.threads.append(threading.Thread(target=self.monitor, daemon=True))
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(faultlib.HTTP_TIMEOUT + 5)
        return not any(t.is_alive() for t in self.threads)

    def snapshot(self):
        with self.lock:
            return list(self.submissions), list(self.probes)


def burst(port, poly, n):
    """n submissions at once, each on a new connection; their Exchanges."""
    portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
    out = []

    def one():
        key = "fault-outage-idle-" + uuid.uuid4().hex
        conn = Connection(port)
        out.append(conn.send(Exchange("POST /v1/applications", key), "POST", "/v1/applications",
                             faultlib.application_body(poly), portal, {"Idempotency-Key": key}))
        conn.close()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def first_after(exchanges, since, ok):
    """The earliest t_done among exchanges started after `since` that satisfy ok."""
    times = [ex.t_done for ex in exchanges if ex.t_start >= since and ok(ex)]
    return min(times) if times else None


def main():
    faultlib.exit_on_sigterm()
    stop_cmd = faultlib.need_env("ATTACHD_DB_STOP")
    start_cmd = faultlib.need_env("ATTACHD_DB_START")
    checks = Checks()
    server = Server()
    db_down = False
    try:
        server.start()
        poly = faultlib.fixtures(ndistricts=4)
        print("polyclinic %d (auto_approve), %d clients, outage %.1f s"
              % (poly["id"], CLIENTS, OUTAGE), flush=True)
        load = Load(server.port, poly)
        t_begin = now()
        load.start()
        time.sleep(WARMUP)

        t_stop_begin = now()
        db_down = True
        stop_took = run_shell("stopping PostgreSQL", stop_cmd)
        t_stop_done = now()
        alive_checks = []
        while now() < t_stop_done + OUTAGE:
            alive_checks.append(server.alive())
            time.sleep(0.1)

        t_start_begin = now()
        start_took = run_shell("starting PostgreSQL", start_cmd)
        db_down = False
        t_start_done = now()

        # Keep the load on until both submissions and /readyz have recovered (or the limit).
        deadline = t_start_done + RECOVERY_LIMIT + 1
        while now() < deadline:
            subs, probes = load.snapshot()
            if (first_after(subs, t_start_done, lambda e: e.status == 201)
                    and first_after(probes, t_start_done,
                                    lambda e: e.what == "GET /readyz" and e.status == 200)):
                break
            time.sleep(0.05)
        time.sleep(SETTLED_AFTER + TAIL)
        t_end = now()
        threads_done = load.finish()
        subs, probes = load.snapshot()

        # A restart while nobody is asking: every pooled connection is then dead although the
        # database is back. The next requests must not pay for that with a 503.
        idle = burst(server.port, poly, IDLE_BURST)
        db_down = True
        run_shell("restarting PostgreSQL while idle", stop_cmd)
        run_shell("restarting PostgreSQL while idle", start_cmd)
        db_down = False
        idle_after = []
        for _ in range(3):
            idle_after += burst(server.port, poly, IDLE_BURST)
        alive = server.alive()
    finally:
        if db_down:
            try:
                run_shell("starting PostgreSQL again (cleanup)", start_cmd)
            except Exception as e:  # noqa: BLE001 (the test.sh step restarts it too)
                print("warning: %s" % e, file=sys.stderr)
        rc, stop_secs = server.stop(timeout=15)

    # ---- what the clients saw ----------------------------------------------------------------
    def window(ex):
        t0, t1 = ex.t_start, ex.t_done if ex.t_done is not None else t_end
        if t1 < t_stop_begin:
            return "before"
        if t0 > t_stop_done and t1 < t_start_begin:
            return "outage"
        if t0 > t_start_done:
            return "after"
        return "transition"

    by_window = {"before": [], "transition": [], "outage": [], "after": []}
    for ex in subs:
        by_window[window(ex)].append(ex)

    rec_submit = first_after(subs, t_start_done, lambda e: e.status == 201)
    rec_ready = first_after(probes, t_start_done,
                            lambda e: e.what == "GET /readyz" and e.status == 200)
    recovered_at = max(rec_submit, rec_ready) if rec_submit and rec_ready else None

    print()
    print("run %.1f s; PostgreSQL stop took %s, start %s; outage (stopped) %s"
          % (t_end - t_begin, ms(stop_took), ms(start_took), ms(t_start_begin - t_stop_done)))
    for name in ("before", "transition", "outage", "after"):
        print("submissions %-10s %5d  %s" % (name, len(by_window[name]),
                                             faultlib.counts(by_window[name])))
    print("monitor probes %d: %s" % (len(probes), faultlib.counts(probes)))
    print("recovery after PostgreSQL was up again: first 201 %s, /readyz 200 %s"
          % (ms(rec_submit - t_start_done) if rec_submit else "never",
             ms(rec_ready - t_start_done) if rec_ready else "never"))

    checks.check(threads_done, "a client thread hung (no answer within the HTTP timeout)")
    checks.check(all(alive_checks) and alive,
                 "attachd died during the outage (exit status %s)" % server.proc.returncode,
                 server.log_tail().splitlines())
    checks.check(len(by_window["before"]) > 0, "no submission completed before the outage")
    checks.check(len(by_window["outage"]) > 0, "no submission was answered during the outage")

    bad = [ex.describe() for ex in by_window["before"] if ex.status != 201]
    checks.check(not bad, "before the outage, submissions not answered 201", bad)
    bad = [ex.describe() for ex in by_window["outage"] if not ex.is_503_problem()]
    checks.check(not bad, "during the outage, submissions not answered 503 problem+json with "
                 "Retry-After", bad)
    bad = [ex.describe() for ex in by_window["transition"] + by_window["after"]
           if ex.status != 201 and not ex.is_503_problem()]
    checks.check(not bad, "around the outage, submissions answered neither 201 nor a proper 503",
                 bad)
    if recovered_at:
        bad = [ex.describe() for ex in subs
               if ex.t_start > recovered_at + SETTLED_AFTER and ex.status != 201]
        checks.check(not bad, "submissions sent %.0f s after recovery not answered 201"
                     % SETTLED_AFTER, bad)

    health = [ex for ex in probes if ex.what == "GET /healthz"]
    bad = [ex.describe() for ex in health if ex.status != 200]
    checks.check(health and not bad, "/healthz did not always answer 200", bad)
    outage_probes = [ex for ex in probes if window(ex) == "outage"]
    bad = [ex.describe() for ex in outage_probes
           if ex.what != "GET /healthz" and not ex.is_503_problem()]
    checks.check(not bad, "during the outage, /readyz or a catalogue read not answered 503 "
                 "problem+json with Retry-After", bad)
    checks.check(any(ex.what == "GET /readyz" for ex in outage_probes),
                 "/readyz was never asked during the outage")
    bad = [ex.describe() for ex in probes if window(ex) == "before" and ex.status != 200]
    checks.check(not bad, "before the outage, probes not answered 200", bad)
    print("restart while idle: before %s; right after %s"
          % (faultlib.counts(idle), faultlib.counts(idle_after)))
    bad = [ex.describe() for ex in idle + idle_after if ex.status != 201]
    checks.check(not bad, "around a restart of PostgreSQL while idle, submissions not answered "
                 "201 (a dead pooled connection must be replaced, not answered 503)", bad)
    checks.check(rec_submit is not None and rec_submit - t_start_done <= RECOVERY_LIMIT,
                 "submissions did not get 201 again within %.0f s of PostgreSQL being up"
                 % RECOVERY_LIMIT)
    checks.check(rec_ready is not None and rec_ready - t_start_done <= RECOVERY_LIMIT,
                 "/readyz did not answer 200 again within %.0f s of PostgreSQL being up"
                 % RECOVERY_LIMIT)

    # ---- what the database holds -------------------------------------------------------------
    in_db = faultlib.db_applications(poly["id"])
    subs = subs + idle + idle_after
    created = {ex.key: ex for ex in subs if ex.status == 201}
    neterr = {ex.key: ex for ex in subs if ex.error}
    answered = {ex.key: ex for ex in subs if ex.status is not None}
    statuses = {}
    missing, wrong = [], []
    for key, ex in created.items():
        app_id = ex.body.get("id") if isinstance(ex.body, dict) else None
        got = in_db.get(key)
        statuses[ex.body.get("status")] = statuses.get(ex.body.get("status"), 0) + 1
        if got is None:
            missing.append("%s (id %s) answered 201 but is not in the database" % (key, app_id))
        elif got != (app_id, ex.body.get("status")):
            wrong.append("%s: answered id %s %s, database has id %d %s"
                         % (key, app_id, ex.body.get("status"), got[0], got[1]))
    unacked_ok, phantom = [], []
    for key, (app_id, status) in in_db.items():
        if key in created:
            continue
        if key in neterr:
            unacked_ok.append("%s: application %d (%s) stored, the client saw %s"
                              % (key, app_id, status, neterr[key].error))
        else:
            ex = answered.get(key)
            phantom.append("application %d (%s) stored, but the client was answered %s"
                           % (app_id, status, ex.describe() if ex else "nothing (unknown key)"))
    half = faultlib.half_written(poly["id"])
    print("database: %d applications of the polyclinic; %d answered 201 (%s), %d network "
          "errors of which %d stored anyway; %d approved"
          % (len(in_db), len(created),
             ", ".join("%s %d" % kv for kv in sorted(statuses.items())), len(neterr),
             len(unacked_ok), faultlib.approved_count(poly["id"])))
    for line in unacked_ok:
        print("  stored without a 201 reaching the client (acceptable): %s" % line)
    checks.check(not missing, "a 201 is missing from the database", missing)
    checks.check(not wrong, "a 201 disagrees with the database", wrong)
    checks.check(not phantom, "an application is stored that the client was not answered 201 "
                 "for", phantom)
    checks.check(not half, "half-written decisions in the database", half)
    checks.check(statuses.get("approved", 0) > 0, "no submission was approved (the fixture "
                 "should approve every one)")

    print("attachd stopped on SIGTERM with status %s in %s" % (rc, ms(stop_secs)))
    checks.check(rc == 0, "attachd did not stop with status 0 on SIGTERM after the outage "
                 "(status %s)" % rc, server.log_tail().splitlines())
    return checks.finish("db_outage")


if __name__ == "__main__":
    sys.exit(main())
