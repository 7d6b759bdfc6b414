"""Shared helpers of the attachd fault tests (Python 3 standard library only).

A fault test starts its own `attachd serve`, loads it from several threads, injects a fault
(the database goes away, SIGTERM), then checks what the clients saw against what the database
holds. Environment (scripts/test.sh sets it):

    ATTACHD_BIN           the attachd binary (required)
    DATABASE_URL          libpq connection string of the test database (required)
    ATTACHD_ADMIN_TOKEN   an admin token of that database (required)
    ATTACHD_PORTAL_TOKEN  a portal token (required)
    ATTACHD_FAULT_PORT    port for the attachd under test (default: a free one)
    ATTACHD_LOG           where its log goes (default: a temporary file, printed)
    ATTACHD_PSQL          the psql binary (default psql)

What is here:
    Server         start/stop the attachd under test (killed if this script dies)
    psql(sql)      rows of a query against DATABASE_URL, as tuples of strings
    Exchange       one HTTP request on a caller-owned connection, with timestamps and the
                   network error (if any) classified instead of raised
    Checks         collects failed checks; prints them and sets the exit status
    fixtures(...)  a settlement, an auto-approving polyclinic and districts for the load, and
                   a campaign open today (a relocation is never auto-approved, SPEC §11: the
                   load submits `campaign` grounds); the calendar is restored at exit
"""

import ctypes
import datetime
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
sys.dont_write_bytecode = True
# A request that hangs is a finding, not something to wait 30 s for (read by client on import).
os.environ.setdefault("ATTACHD_HTTP_TIMEOUT", "10")

import client  # noqa: E402  (after the path is set)

HTTP_TIMEOUT = float(os.environ["ATTACHD_HTTP_TIMEOUT"])


def need_env(name):
    value = os.environ.get(name, "").strip()
    if not value:
        print("error: %s is not set (scripts/test.sh sets it)" % name, file=sys.stderr)
        sys.exit(2)
    return value


def now():
    return time.monotonic()


def ms(seconds):
    return "%.0f ms" % (seconds * 1000)


# --------------------------------------------------------------------------------------------
# The attachd under test
# --------------------------------------------------------------------------------------------

def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _die_with_parent():
    """In the child before exec: get SIGKILL when this script dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """One `attachd serve` started by this script, on its own port and log."""

    def __init__(self, extra_env=None):
        self.bin = need_env("ATTACHD_BIN")
        need_env("DATABASE_URL")
        self.port = int(os.environ.get("ATTACHD_FAULT_PORT") or _free_port())
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.environ.get("ATTACHD_LOG") or tempfile.mktemp(prefix="attachd-fault-",
                                                                         suffix=".log")
        self.extra_env = extra_env or {}
        self.proc = None

    def start(self, wait=30):
        env = dict(os.environ, ATTACHD_PORT=str(self.port), **self.extra_env)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.bin, "serve"], env=env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        log.close()
        os.environ["ATTACHD_URL"] = self.url  # for client.call and the fixtures
        print("attachd serve (pid %d) on %s, log %s" % (self.proc.pid, self.url, self.log_path),
              flush=True)
        deadline = now() + wait
        while now() < deadline:
            if not self.alive():
                raise RuntimeError("attachd exited at start (status %s); see %s"
                                   % (self.proc.returncode, self.log_path))
            try:
                status = plain_get(self.port, "/healthz", timeout=2)[0]
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("attachd did not answer /healthz within %ds" % wait)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM and wait; returns (exit status or None when it had to be killed, seconds)."""
        if not self.proc:
            return None, 0.0
        started = now()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        return rc, now() - started

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def exit_on_sigterm():
    """Turn SIGTERM (scripts/test.sh's timeout or cleanup) into SystemExit, so that `finally`
    blocks stop the attachd under test."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def plain_get(port, path, timeout=5):
    """GET on a fresh connection; (status, headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# The database, seen directly
# --------------------------------------------------------------------------------------------

def psql(sql):
    """Rows of one query against DATABASE_URL (tuples of strings; NULL is '')."""
    cmd = [os.environ.get("ATTACHD_PSQL") or "psql", "-X", "-q", "-At", "-F", "\t",
           "-v", "ON_ERROR_STOP=1", "-d", need_env("DATABASE_URL"), "-c", sql]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, timeout=60).stdout
    return [tuple(line.split("\t")) for line in out.decode("utf-8").splitlines() if line]


def db_applications(polyclinic_id):
    """{idempotency key: (id, status)} of the applications to a polyclinic (all carry a key)."""
    rows = psql("SELECT id, status, coalesce(idempotency_key, '') FROM applications "
                "WHERE polyclinic_id = %d" % int(polyclinic_id))
    return {key: (int(i), status) for i, status, key in rows}


def half_written(polyclinic_id):
    """Descriptions of partial decisions among a polyclinic's applications: an approved one
    without exactly one live attachment and one transfer, an attachment or transfer of one that
    is not approved, a district whose open count (nopen) disagrees with its attachments."""
    pid = int(polyclinic_id)
    problems = []
    for app_id, natt, ntr in psql(
            "SELECT a.id, (SELECT count(*) FROM attachments t WHERE t.application_id = a.id "
            "              AND NOT t.cancelled),"
            "       (SELECT count(*) FROM transfers t WHERE t.application_id = a.id) "
            "FROM applications a WHERE a.polyclinic_id = %d AND a.status = 'approved' "
            "AND ((SELECT count(*) FROM attachments t WHERE t.application_id = a.id "
            "      AND NOT t.cancelled) <> 1 "
            "  OR (SELECT count(*) FROM transfers t WHERE t.application_id = a.id) <> 1)" % pid):
        problems.append("approved application %s has %s attachments and %s transfers"
                        % (app_id, natt, ntr))
    for app_id, status, what in psql(
            "SELECT a.id, a.status, 'attachment' FROM attachments t JOIN applications a "
            "  ON a.id = t.application_id WHERE a.polyclinic_id = %d AND a.status <> 'approved' "
            "UNION ALL "
            "SELECT a.id, a.status, 'transfer' FROM transfers t JOIN applications a "
            "  ON a.id = t.application_id WHERE a.polyclinic_id = %d AND a.status <> 'approved'"
            % (pid, pid)):
        problems.append("%s application %s has a %s" % (status, app_id, what))
    for district, nopen, counted in psql(
            "SELECT d.id, d.nopen, (SELECT count(*) FROM attachments t WHERE t.district_id = d.id "
            "  AND NOT t.cancelled AND t.valid_to IS NULL) AS counted "
            "FROM districts d WHERE d.polyclinic_id = %d" % pid):
        if int(nopen) != int(counted):
            problems.append("district %s: nopen %s but %s open attachments"
                            % (district, nopen, counted))
    return problems


def approved_count(polyclinic_id):
    return int(psql("SELECT count(*) FROM applications WHERE polyclinic_id = %d "
                    "AND status = 'approved'" % int(polyclinic_id))[0][0])


# --------------------------------------------------------------------------------------------
# HTTP with timestamps
# --------------------------------------------------------------------------------------------

def classify_error(exc):
    """A short name for what went wrong on the network."""
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected,
                        http.client.IncompleteRead, http.client.BadStatusLine)):
        return "reset"
    if isinstance(exc, socket.timeout):
        return "timeout"
    return type(exc).__name__


class Exchange:
    """What happened to one request: timestamps (monotonic), the answer or the network error.

    t_start: before connecting/sending; t_sent: once the whole request was handed to the kernel
    (None when it never was); t_done: answer read or error seen; reused: sent on a keep-alive
    connection that had carried an earlier answer."""

    __slots__ = ("what", "key", "t_start", "t_sent", "t_done", "reused", "status", "headers",
                 "body", "error")

    def __init__(self, what, key=None):
        self.what, self.key = what, key
        self.t_start = now()
        self.t_sent = self.t_done = None
        self.reused = False
        self.status = self.headers = self.body = self.error = None

    def outcome(self):
        return str(self.status) if self.status is not None else self.error

    def is_503_problem(self):
        """A 503 the way SPEC §7 wants it: problem+json, code, Retry-After."""
        return (self.status == 503 and self.headers is not None
                and client.media_type(self.headers) == "application/problem+json"
                and bool(self.headers.get("Retry-After"))
                and isinstance(self.body, dict) and self.body.get("status") == 503
                and bool(self.body.get("code")))

    def describe(self):
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False)
        body = (body or "")[:200] if isinstance(body, str) else body
        return "%s -> %s%s" % (self.what, self.outcome(), " %s" % body if body else "")


class Connection:
    """A keep-alive HTTP connection owned by one thread; never retries by itself."""

    def __init__(self, port, timeout=HTTP_TIMEOUT):
        self.port, self.timeout = port, timeout
        self.conn = None
        self.used = False

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def send(self, ex, method, path, body=None, token=None, headers=None):
        """Performs the request, filling ex; a network error closes the connection."""
        hdrs = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.used = False
        ex.reused = self.used
        try:
            self.conn.request(method, path, body=payload, headers=hdrs)
            ex.t_sent = now()
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            ex.t_done = now()
            ex.error = classify_error(e)
            self.close()
            return ex
        ex.t_done = now()
        ex.status, ex.headers = resp.status, resp.headers
        ex.body = client.parse_body(resp.headers, data)
        self.used = True
        if resp.will_close:
            self.close()
        return ex


# --------------------------------------------------------------------------------------------
# Fixtures and bookkeeping
# --------------------------------------------------------------------------------------------

_person_lock = threading.Lock()
_person_seq = [0]
# Where this run's birth dates start, up to ten years before its first person's: another run's
# people in the same database (the integration suite's, an earlier fault test's) seldom share a
# birth date with this run's, and so an IIN (its serial is random, 4 digits). Starting at the
# same date every run, shutdown.py once met a person of an earlier test with a pending
# application (409 PENDING_EXISTS).
_person_base = int.from_bytes(os.urandom(2), "big") % 3650


def application_body(poly):
    """A `campaign` application of an adult citizen to poly (approved at once there, inside the
    campaign fixtures() opened), for a person nobody else in this run uses (each gets its own
    birth date, so the random IIN serial cannot collide)."""
    with _person_lock:
        _person_seq[0] += 1
        n = _person_seq[0]
    born = client.birth_date_for_age(20) - datetime.timedelta(days=_person_base + n)
    return client.application_body(poly, person=client.new_person(birth_date=born),
                                   grounds="campaign")


_campaign = []


def _open_campaign():
    """Makes today part of a campaign: the one whose window contains today, else a campaign of a
    free far-future year open today only, with effective_on today (approvals take effect
    tomorrow), written with psql and removed at exit (applications keep their year: no foreign
    key)."""
    if _campaign:
        return
    today = "(now() AT TIME ZONE 'Asia/Almaty')::date"
    if psql("SELECT year FROM campaigns WHERE %s BETWEEN opens_on AND closes_on" % today):
        _campaign.append(None)
        return
    year = int(psql("SELECT min(y) FROM generate_series(9000, 9998) y WHERE NOT EXISTS "
                    "(SELECT 1 FROM campaigns WHERE year = y)")[0][0])
    psql("INSERT INTO campaigns (year, opens_on, closes_on, effective_on, max_changes) "
         "VALUES (%d, %s, %s, %s, 1)" % (year, today, today, today))
    _campaign.append(year)

    def remove():
        try:
            psql("DELETE FROM campaigns WHERE year = %d" % year)
        except (subprocess.SubprocessError, OSError) as e:
            print("could not remove the fault tests' campaign %d: %s" % (year, e))
    import atexit
    atexit.register(remove)


def fixtures(ndistricts):
    """A fresh settlement and an accepting, auto-approving polyclinic there with `ndistricts`
    gp districts at their norm, and a campaign open today: every application_body() to it is
    approved at once (an attachment and a transfer in the same transaction)."""
    _open_campaign()
    kato = client.new_settlement()
    poly = client.new_polyclinic(kato, accepting=True, auto_approve=True)
    for _ in range(ndistricts):
        client.new_district(poly["id"], "gp")
    return poly


class Checks:
    """Collects failed checks; `check` prints nothing for a passing one."""

    def __init__(self):
        self.failures = []
        self.lock = threading.Lock()

    def check(self, ok, message, details=()):
        if not ok:
            with self.lock:
                self.failures.append((message, list(details)))
        return ok

    def finish(self, title):
        if self.failures:
            print()
            for message, details in self.failures:
                print("FAIL: %s" % message)
                for d in details[:10]:
                    print("      %s" % d)
                if len(details) > 10:
                    print("      ... and %d more" % (len(details) - 10))
            print("%s: FAILED (%d checks)" % (title, len(self.failures)))
            return 1
        print("%s: all checks passed" % title)
        return 0


def counts(exchanges):
    """{outcome: n} in a stable order, as text."""
    tally = {}
    for ex in exchanges:
        tally[ex.outcome()] = tally.get(ex.outcome(), 0) + 1
    return ", ".join("%s: %d" % (k, tally[k]) for k in sorted(tally)) or "none"
