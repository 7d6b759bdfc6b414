#!/usr/bin/env python3
"""One phase of scripts/failover-test.sh: load two attachd instances, break the primary, check.

    HA_LABEL=failover HA_FAULT='shell command' ATTACHD_URLS=http://..,http://.. \
    ATTACHD_URL=... ATTACHD_ADMIN_TOKEN=... ATTACHD_PORTAL_TOKEN=... DATABASE_URL=... \
        python3 tests/ha/failover_load.py

HA_CLIENTS threads (default 16), spread over the instances of ATTACHD_URLS, submit `campaign`
applications of new adults without pause: half to an auto-approving polyclinic, a quarter to one
that leaves them pending, a quarter to an auto-approving one whose two small districts fill up
during the run (the last places raced for). Each submission carries an Idempotency-Key; a 503 or
a network error is retried with the same key after Retry-After (at most 0.5 s here), as
docs/INTEGRATION.md ("Retries") tells integrators. After HA_WARMUP seconds it runs HA_FAULT (bash -c), keeps the
load on until 201s flow again and HA_TAIL seconds more, lets open retries finish, then checks on
the primary (DATABASE_URL, target_session_attrs=read-write):

  * every key answered 201 is stored with the id and status answered (lost: those missing);
  * no half-written decision (faultlib.half_written), no district above capacity
    (district_load), no person with two overlapping live attachments;
  * every answer was 201, or 503 problem+json with Retry-After, or a network error: no 500,
    no 409, nothing else; /readyz of each instance (polled every 0.2 s) was 200 or such a 503.

Prints the counts, then as its last line:
    LABEL: N accepted, N found, lost 0, over capacity 0, unavailable S s
where S is the longest stretch without any 201 around the fault. Exit status 0 when every check
passed.
"""

import datetime
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "faults"))
import faultlib  # noqa: E402  (puts tests/integration on the path)
import apphelpers  # noqa: E402
from faultlib import Checks, Connection, Exchange, client, now  # noqa: E402

LABEL = faultlib.need_env("HA_LABEL")
FAULT = faultlib.need_env("HA_FAULT")
URLS = faultlib.need_env("ATTACHD_URLS").split(",")
CLIENTS = int(os.environ.get("HA_CLIENTS", "16"))
WARMUP = float(os.environ.get("HA_WARMUP", "5"))
TAIL = float(os.environ.get("HA_TAIL", "4"))
RECOVERY_LIMIT = float(os.environ.get("HA_RECOVERY_LIMIT", "60"))
RETRY_CAP = 0.5      # seconds: Retry-After says 2; shorter here to measure the window finely
FINISH_LIMIT = 20.0  # seconds open retries may take once the load stops
SMALL_CAPACITY = 60
# Each phase takes people of other ages, so IINs of two phases never meet.
AGE_BASE = {"failover": 18, "switchover": 50}.get(LABEL, 30)


def port_of(url):
    return urllib.parse.urlsplit(url).port


def ensure_campaign():
    """A campaign of our own whose window holds today (the database is this test's own, so the
    calendar is moved as the integration tests move it, and not restored)."""
    windows = apphelpers.CampaignWindows()
    windows.acquire()
    year = windows.own()
    windows.open(year, client.today_almaty() + datetime.timedelta(days=30))


def polyclinic(kato, auto_approve, districts):
    poly = client.new_polyclinic(kato, accepting=True, auto_approve=auto_approve)
    for capacity in districts:
        client.new_district(poly["id"], "gp", capacity=capacity)
    return poly


class People:
    """Adults nobody else uses: one birth date per person (the IIN serial is random)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.n = 0
        self.base = client.birth_date_for_age(AGE_BASE)

    def body(self, poly):
        with self.lock:
            self.n += 1
            n = self.n
        born = self.base - datetime.timedelta(days=n // 2)
        person = client.new_person(birth_date=born, sex="male" if n % 2 else "female")
        return client.application_body(poly, person=person, grounds="campaign")


class Load:
    def __init__(self, targets):
        self.targets = targets  # polyclinics, in the order clients take turns at them
        self.people = People()
        self.portal = faultlib.need_env("ATTACHD_PORTAL_TOKEN")
        self.stop = threading.Event()
        self.finish_by = None
        self.lock = threading.Lock()
        self.exchanges = []
        self.probes = []     # /readyz of each instance
        self.accepted = {}   # key -> (id, status, polyclinic id, replayed, refusal code)
        self.unresolved = []  # keys still failing when the run ended
        self.retried = 0     # keys that needed more than one attempt
        self.threads = []

    def client_loop(self, i):
        conn = Connection(port_of(URLS[i % len(URLS)]))
        turn = i
        try:
            while not self.stop.is_set():
                poly = self.targets[turn % len(self.targets)]
                turn += 1
                self.submit(conn, poly)
        finally:
            conn.close()

    def submit(self, conn, poly):
        key = "ha-%s-%s" % (LABEL, uuid.uuid4().hex)
        body = self.people.body(poly)
        attempts = 0
        while True:
            attempts += 1
            sent_at = time.time()
            ex = conn.send(Exchange("POST /v1/applications", key), "POST", "/v1/applications",
                           body, self.portal, {"Idempotency-Key": key})
            with self.lock:
                self.exchanges.append(ex)
            if ex.status == 201:
                # When the last attempt was sent (wall clock), for retried keys: see
                # committed_early().
                replayed = sent_at if attempts > 1 else None
                with self.lock:
                    self.accepted[key] = (ex.body.get("id"), ex.body.get("status"), poly["id"],
                                          replayed, (ex.body.get("refusal") or {}).get("code"))
                    self.retried += attempts > 1
                return
            if ex.status != 503 and not ex.error:
                return  # a wrong answer: recorded, checked later
            if self.finish_by is not None and now() > self.finish_by:
                with self.lock:
                    self.unresolved.append(key)
                return
            wait = RETRY_CAP
            if ex.headers is not None:
                try:
                    wait = min(float(ex.headers.get("Retry-After") or RETRY_CAP), RETRY_CAP)
                except ValueError:
                    pass
            time.sleep(wait)

    def monitor(self, url):
        """/readyz of one instance every 0.2 s: 200, or 503 while it has no primary."""
        conn = Connection(port_of(url))
        try:
            while not self.stop.is_set():
                ex = conn.send(Exchange("GET /readyz " + url), "GET", "/readyz")
                with self.lock:
                    self.probes.append(ex)
                time.sleep(0.2)
        finally:
            conn.close()

    def start(self):
        self.threads = [threading.Thread(target=self.client_loop, args=(i,), daemon=True)
                        for i in range(CLIENTS)]
        self.threads += [threading.Thread(target=self.monitor, args=(url,), daemon=True)
                         for url in URLS]
        for t in self.threads:
            t.start()

    def finish(self):
        self.finish_by = now() + FINISH_LIMIT
        self.stop.set()
        for t in self.threads:
            t.join(FINISH_LIMIT + faultlib.HTTP_TIMEOUT + 5)
        return not any(t.is_alive() for t in self.threads)

    def oks_since(self, t):
        with self.lock:
            return [ex for ex in self.exchanges if ex.status == 201 and ex.t_start >= t]


def committed_early(accepted):
    """Keys whose application was stored before their last attempt was sent: an earlier attempt
    committed although its client saw a 503 or a cut connection (the issue's 1-3 per run), and
    the retry with the same key got the stored application. submitted_at is the transaction's
    start, which a last attempt cannot precede."""
    retried = {k: v[3] for k, v in accepted.items() if v[3] is not None}
    if not retried:
        return []
    keys = ",".join("'%s'" % k for k in retried)  # our own hex keys: nothing to quote
    rows = faultlib.psql("SELECT idempotency_key, extract(epoch FROM submitted_at) "
                         "FROM applications WHERE idempotency_key IN (%s)" % keys)
    return [k for k, at in rows if float(at) < retried[k]]


def longest_gap(times, lo, hi):
    """Longest stretch between consecutive instants of `times` within [lo, hi]."""
    pts = sorted(t for t in times if lo <= t <= hi)
    return max((b - a for a, b in zip(pts, pts[1:])), default=hi - lo)


def main():
    faultlib.exit_on_sigterm()
    checks = Checks()
    ensure_campaign()
    kato = client.new_settlement()
    auto = polyclinic(kato, True, [None] * 4)
    pending = polyclinic(kato, False, [None] * 2)
    small = polyclinic(kato, True, [SMALL_CAPACITY, SMALL_CAPACITY])
    polys = [auto, pending, auto, small]
    print("%s: %d clients on %s; polyclinics %d (auto), %d (pending), %d (two districts of %d)"
          % (LABEL, CLIENTS, ", ".join(URLS), auto["id"], pending["id"], small["id"],
             SMALL_CAPACITY), flush=True)

    load = Load(polys)
    t_begin = now()
    load.start()
    time.sleep(WARMUP)
    before = len(load.oks_since(t_begin))
    t_fault = now()
    done = subprocess.run(["bash", "-c", FAULT], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=120)
    t_fault_done = now()
    print(done.stdout.decode("utf-8", "replace").rstrip(), flush=True)
    checks.check(done.returncode == 0, "the fault command failed (exit %d)" % done.returncode)
    # Load on until 201s flow again on both instances, then a little more.
    recovered = None
    while now() < t_fault_done + RECOVERY_LIMIT:
        oks = load.oks_since(t_fault_done)
        if len(oks) >= CLIENTS:
            recovered = min(ex.t_done for ex in oks)
            break
        time.sleep(0.1)
    time.sleep(TAIL)
    t_end = now()
    threads_done = load.finish()
    checks.check(threads_done, "a client hung (no answer within the HTTP timeout)")
    checks.check(recovered is not None, "no 201 within %.0f s of the fault" % RECOVERY_LIMIT)
    checks.check(before > 0, "no 201 before the fault")

    # ---- what the clients saw ------------------------------------------------------------
    exs = load.exchanges
    oks = [ex.t_done for ex in exs if ex.status == 201]
    unavailable = longest_gap(oks, t_fault - 1.0, t_end)
    n503 = sum(1 for ex in exs if ex.status == 503)
    bad503 = [ex.describe() for ex in exs if ex.status == 503 and not ex.is_503_problem()]
    neterr = [ex for ex in exs if ex.error]
    wrong = [ex.describe() for ex in exs if ex.status not in (201, 503) and not ex.error]
    replayed = len(committed_early(load.accepted))
    statuses = {}
    for _, status, _, _, code in load.accepted.values():
        what = "%s %s" % (status, code) if code else status
        statuses[what] = statuses.get(what, 0) + 1
    print("%s: fault took %.1f s; %d requests: %s" % (LABEL, t_fault_done - t_fault, len(exs),
                                                     faultlib.counts(exs)))
    print("%s: %d keys accepted (%s); %d needed a retry, %d of them had committed at an "
          "attempt answered 503 or cut (the retry got the stored application); %d unresolved "
          "when the run ended"
          % (LABEL, len(load.accepted), ", ".join("%s %d" % kv for kv in sorted(statuses.items())),
             load.retried, replayed, len(load.unresolved)))
    checks.check(not bad503, "503 without problem+json and Retry-After", bad503)
    print("%s: /readyz of both instances meanwhile: %s" % (LABEL, faultlib.counts(load.probes)))
    bad = [ex.describe() for ex in load.probes if ex.status != 200 and not ex.is_503_problem()]
    checks.check(not bad, "/readyz answered neither 200 nor 503 with Retry-After", bad)
    checks.check(not wrong, "answers other than 201, 503 or a network error", wrong)

    # ---- what the new primary holds ------------------------------------------------------
    ids = ",".join(str(p["id"]) for p in (auto, pending, small))
    stored = {}
    for key, app_id, status in faultlib.psql(
            "SELECT idempotency_key, id, status FROM applications WHERE polyclinic_id IN (%s) "
            "AND idempotency_key IS NOT NULL" % ids):
        stored[key] = (int(app_id), status)
    found, lost, differs = 0, [], []
    for key, (app_id, status, _, _, _) in load.accepted.items():
        got = stored.get(key)
        if got is None:
            lost.append("%s (id %s, %s)" % (key, app_id, status))
            continue
        found += 1
        if got != (app_id, status):
            differs.append("%s: answered id %s %s, stored id %d %s"
                           % (key, app_id, status, got[0], got[1]))
    unanswered = [k for k in stored if k not in load.accepted]
    over = faultlib.psql("SELECT d.id, district_load(d), d.capacity FROM districts d "
                         "WHERE district_load(d) > d.capacity")
    overlap = faultlib.psql(
        "SELECT a.iin, a.id, b.id FROM attachments a JOIN attachments b ON a.iin = b.iin "
        "AND a.id < b.id AND NOT a.cancelled AND NOT b.cancelled "
        "AND daterange(a.valid_from, a.valid_to) && daterange(b.valid_from, b.valid_to)")
    half = faultlib.half_written(auto["id"]) + faultlib.half_written(small["id"])
    small_full = faultlib.psql("SELECT count(*) FROM districts d WHERE d.polyclinic_id = %d "
                               "AND district_load(d) = d.capacity" % small["id"])[0][0]
    print("%s: primary holds %d of the %d accepted; %d stored keys never answered 201 "
          "(unresolved retries); small districts full: %s of 2"
          % (LABEL, found, len(load.accepted), len(unanswered), small_full))
    checks.check(not lost, "accepted applications missing on the new primary", lost)
    checks.check(not differs, "accepted applications stored otherwise than answered", differs)
    checks.check(not over, "districts above capacity", ["district %s: %s of %s" % r for r in over])
    checks.check(not overlap, "people with two overlapping attachments",
                 ["%s: attachments %s and %s" % r for r in overlap])
    checks.check(not half, "half-written decisions", half)
    checks.check(len(unanswered) <= len(load.unresolved),
                 "stored applications that no client was answered 201 for, beyond the "
                 "unresolved retries", unanswered)
    print("%s: %d answers 503 (all with Retry-After: %s), %d network errors, first 201 %.1f s "
          "after the fault, longest stretch without a 201 %.1f s"
          % (LABEL, n503, "yes" if not bad503 else "no", len(neterr),
             (recovered - t_fault) if recovered else -1, unavailable))
    status = checks.finish(LABEL + " checks")
    print("%s: %d accepted, %d found, lost %d, over capacity %d, unavailable %.1f s"
          % (LABEL, len(load.accepted), found, len(lost), len(over), unavailable))
    return status


if __name__ == "__main__":
    sys.exit(main())
