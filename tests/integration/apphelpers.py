"""Helpers shared by test_applications.py and test_register.py (SPEC §3, §4, §5, §8).

    Clinic / make_clinic(...)      a settlement + polyclinic + districts + a registrar token
    AppTestCase                    ApiTestCase with submit / approve / refuse / assertRefused ...
    expected_due(day)              decision_due_at for a submission on `day` (§3: 18:00 +05:00 of
                                   the next working day; weekends and the seeded fixed holidays)
    CampaignWindows                owns the campaign calendar around today for one test class
                                   (PUT /v1/campaigns, everything restored afterwards, one class at
                                   a time under a process-wide lock)
    db_available() / psql(sql)     direct database access for the few facts the API cannot make
                                   (an attachment that has already begun, an overdue application);
                                   only when DATABASE_URL is set (scripts/test.sh sets it)
"""

import datetime
import os
import shutil
import subprocess
import threading
import urllib.parse

import client
from client import ADMIN, PORTAL, ApiTestCase, call, list_all, new_district, new_polyclinic

__unittest = True

ALMATY = datetime.timezone(datetime.timedelta(hours=5))
ONE_DAY = datetime.timedelta(days=1)

# migrations/0001_catalogues.sql seeds these fixed-date holidays for 2020..2040.
FIXED_HOLIDAYS = {(1, 1), (1, 2), (1, 7), (3, 8), (3, 21), (3, 22), (3, 23), (5, 1), (5, 7),
                  (5, 9), (7, 6), (8, 30), (10, 25), (12, 16)}


def is_working_day(d):
    if d.isoweekday() >= 6:
        return False
    return not (2020 <= d.year <= 2040 and (d.month, d.day) in FIXED_HOLIDAYS)


def next_working_day(d):
    d += ONE_DAY
    while not is_working_day(d):
        d += ONE_DAY
    return d


def expected_due(day):
    """18:00 Asia/Almaty of the first working day after `day`, as an aware datetime."""
    return datetime.datetime.combine(next_working_day(day), datetime.time(18, 0), ALMATY)


def iso(d):
    return d.isoformat()


def today():
    return client.today_almaty()


class Days:
    """The Almaty dates seen around an operation (two when it straddles midnight)."""

    def __init__(self):
        self.first = today()
        self.last = self.first

    def close(self):
        self.last = today()
        return self

    @property
    def all(self):
        return sorted({self.first, self.last})

    def tomorrow(self):
        return [iso(d + ONE_DAY) for d in self.all]


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------

class Clinic:
    """A polyclinic made for one test: .id .kato .body .districts (list of bodies) .reg (token)."""

    def __init__(self, body, districts):
        self.body = body
        self.id = body["id"]
        self.kato = body["settlement"]
        self.districts = districts
        self._reg = None

    @property
    def reg(self):
        if self._reg is None:
            self._reg = client.registrar_token(self.id)
        return self._reg

    def district(self, i=0):
        return self.districts[i]


def make_clinic(districts=(("gp", None),), kato=None, **fields):
    """A polyclinic in `kato` (default: a new settlement) with districts given as (kind, capacity)
    or (kind, capacity, number) tuples."""
    kato = kato or client.new_settlement()
    body = new_polyclinic(kato, **fields)
    made = []
    for spec in districts:
        kind, cap = spec[0], spec[1]
        number = spec[2] if len(spec) > 2 else None
        made.append(new_district(body["id"], kind, capacity=cap, number=number))
    return Clinic(body, made)


def districts_of(polyclinic_id):
    """{district id: district} from GET /v1/polyclinics/{id}/districts."""
    return {d["id"]: d for d in list_all("/v1/polyclinics/%d/districts" % polyclinic_id)}


def applications_of(polyclinic_id, status=None, token=ADMIN):
    q = "/v1/applications?polyclinic_id=%d" % polyclinic_id
    if status:
        q += "&status=" + status
    return list_all(q, token=token)


_reasons = {}
_reasons_lock = threading.Lock()


def refusal_reasons():
    with _reasons_lock:
        if not _reasons:
            for r in list_all("/v1/refusal-reasons"):
                _reasons[r["code"]] = r
        return dict(_reasons)


def free_kato():
    for _ in range(50):
        k = client.random_kato()
        if call("GET", "/v1/settlements/" + k).status == 404:
            return k
    raise AssertionError("no free KATO found")


# client.valid_iin() draws 4 random serial digits for a birth date, and client.new_person()
# gives everyone of one age the same birth date: a few hundred people a run would share IINs.
# These spread birth dates over the year of the age and never repeat an IIN within the run.
_issued = set()
_issued_lock = threading.Lock()


def unique_iin(birth_date, sex="male"):
    """A valid IIN for birth_date and sex that this run has not used yet."""
    with _issued_lock:
        for _ in range(1000):
            iin = client.valid_iin(birth_date, sex)
            if iin not in _issued:
                _issued.add(iin)
                return iin
    raise AssertionError("no unused IIN left for %s" % birth_date)


def birth_date_for_age(years):
    """A birth date giving `years` whole years today, somewhere in that year of life."""
    return client.birth_date_for_age(years, days_past_birthday=client._rng.randrange(2, 350))


def new_person(age=None, sex="male", residency="citizen", birth_date=None, iin=None, **fields):
    """client.new_person() with a spread birth date (any adult age when none is given) and an
    IIN unique in the run."""
    if birth_date is None:
        birth_date = birth_date_for_age(client._rng.randrange(20, 70) if age is None else age)
    return client.new_person(sex=sex, residency=residency, birth_date=birth_date,
                             iin=iin or unique_iin(birth_date, sex), **fields)


def application_body(polyclinic, settlement=None, person=None, **fields):
    """client.application_body() with a person from new_person() above."""
    return client.application_body(polyclinic, settlement=settlement,
                                   person=person or new_person(), **fields)


def unused_iin(age=30, sex="male"):
    """A valid IIN nobody has used in this run."""
    return unique_iin(birth_date_for_age(age), sex)


# ----------------------------------------------------------------------------------------------
# Direct database access (only for facts the API cannot create)
# ----------------------------------------------------------------------------------------------

def _psql_binary():
    found = shutil.which("psql")
    if found:
        return found
    for v in ("17", "16", "15", "14", "13"):
        p = "/usr/lib/postgresql/%s/bin/psql" % v
        if os.path.exists(p):
            return p
    return None


def db_available():
    return bool(os.environ.get("DATABASE_URL", "").strip()) and _psql_binary() is not None


NO_DB = ("needs DATABASE_URL (and psql) of the instance under test to create an attachment "
         "that has already begun; scripts/test.sh sets it")


def psql(sql):
    """Runs SQL against DATABASE_URL; returns stdout (unaligned, tuples only)."""
    # in the service's time zone (pool.c), so that current_date is the day today() gives
    r = subprocess.run([_psql_binary(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                        "-d", os.environ["DATABASE_URL"], "-c", sql],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, PGTZ="Asia/Almaty"))
    if r.returncode != 0:
        raise AssertionError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def seed_current_attachment(iin, polyclinic_id, district_id, days_ago=30):
    """An attachment that began `days_ago` days ago (the register before attachd: SPEC §5 loads
    it by import). Returns its id."""
    assert iin.isdigit() and len(iin) == 12
    start = today() - datetime.timedelta(days=days_ago)
    out = psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from) "
               "VALUES ('%s', %d, %d, DATE '%s') RETURNING id"
               % (iin, int(polyclinic_id), int(district_id), iso(start)))
    return int(out.splitlines()[0])


# ----------------------------------------------------------------------------------------------
# Campaign calendar
# ----------------------------------------------------------------------------------------------

_windows_lock = threading.Lock()


class CampaignWindows:
    """Makes "today is inside a campaign" (or outside every campaign) true for a while.

    acquire(): takes the process-wide lock, parks every campaign whose window comes near today
    (saving it). own() gives a far-future year of the caller's own; open(year, ...) gives it the
    window today-3 .. today+3; park(year) moves it away. release() parks the owned years and
    restores the saved campaigns exactly. Windows never overlap (SPEC §2), so while a class holds
    the lock no other campaign contains today."""

    MARGIN = datetime.timedelta(days=3)

    def acquire(self):
        _windows_lock.acquire()
        try:
            t = today()
            self.lo, self.hi = t - self.MARGIN, t + self.MARGIN
            self.saved, self.owned = [], []
            for c in list_all("/v1/campaigns"):
                if c["opens_on"] <= iso(self.hi) and c["closes_on"] >= iso(self.lo):
                    self.saved.append(dict(c))
                    self.park(c["year"], keep=c)
        except BaseException:
            self.restore_saved()
            _windows_lock.release()
            raise

    def _put(self, year, body):
        r = call("PUT", "/v1/campaigns/%d" % year, body)
        if r.status not in (200, 201):
            raise AssertionError("PUT /v1/campaigns/%d %r -> %d %r" % (year, body, r.status,
                                                                       r.body))
        return r.body

    def _park_window(self, year):
        for m, d in ((6, 1), (2, 1), (4, 1), (8, 1)):
            a = datetime.date(year, m, d)
            b = a + ONE_DAY
            if b < self.lo or a > self.hi:
                return a, b
        raise AssertionError("no parking window")

    def park(self, year, keep=None):
        a, b = self._park_window(year)
        body = {"opens_on": iso(a), "closes_on": iso(b)}
        if keep:
            body["effective_on"] = max(keep["effective_on"], iso(a))
            body["max_changes"] = keep["max_changes"]
        else:
            body["effective_on"] = "%04d-01-01" % (year + 1)
        self._put(year, body)

    def own(self):
        y = client.free_campaign_year()
        self.owned.append(y)
        return y

    def open(self, year, effective_on, max_changes=1):
        return self._put(year, {"opens_on": iso(self.lo), "closes_on": iso(self.hi),
                                "effective_on": iso(effective_on), "max_changes": max_changes})

    def restore_saved(self):
        problems = []
        for c in getattr(self, "saved", []):
            body = {k: c[k] for k in ("opens_on", "closes_on", "effective_on", "max_changes")}
            try:
                self._put(c["year"], body)
            except AssertionError as e:
                problems.append(str(e))
        return problems

    def release(self):
        problems = []
        try:
            for y in getattr(self, "owned", []):
                try:
                    self.park(y)
                except AssertionError as e:
                    problems.append(str(e))
            problems += self.restore_saved()
        finally:
            _windows_lock.release()
        if problems:
            raise AssertionError("could not restore the campaign calendar: %s" % problems)


# ----------------------------------------------------------------------------------------------
# Test case with application helpers
# ----------------------------------------------------------------------------------------------

class AppTestCase(ApiTestCase):

    def submit(self, body, token=PORTAL, key=None):
        """POST /v1/applications, asserting 201 and a JSON application; returns it."""
        r = client.submit_application(body, token=token, idempotency_key=key)
        app = self.assertJson(r, 201)
        self.assertIsInstance(app.get("id"), int, "application id: %r" % app)
        self.assertIn(app.get("status"), ("pending", "approved", "refused", "withdrawn"), app)
        return app

    def get_app(self, app_id, token=ADMIN):
        return self.assertJson(call("GET", "/v1/applications/%d" % app_id, token=token), 200)

    def approve(self, app_id, token, district_id=None):
        body = {} if district_id is None else {"district_id": district_id}
        return call("POST", "/v1/applications/%d/approve" % app_id, body, token=token)

    def approved(self, app_id, token, district_id=None):
        """Approves (200) and asserts the outcome is approved; returns the application."""
        app = self.assertJson(self.approve(app_id, token, district_id), 200)
        self.assertEqual(app["status"], "approved", app)
        self.assertIsInstance(app.get("district_id"), int, app)
        return app

    def refuse(self, app_id, token, reason, comment=None):
        body = {"reason": reason}
        if comment is not None:
            body["comment"] = comment
        return call("POST", "/v1/applications/%d/refuse" % app_id, body, token=token)

    def withdraw(self, app_id, token=PORTAL):
        return call("POST", "/v1/applications/%d/withdraw" % app_id, {}, token=token)

    def attach(self, clinic, person=None, district_id=None, **fields):
        """A person attached (upcoming from tomorrow) to clinic through a relocation application
        approved by its registrar; returns the approved application."""
        body = application_body(clinic.body, person=person, **fields)
        if district_id is not None:
            body["district_id"] = district_id
        app = self.submit(body)
        self.assertEqual(app["status"], "pending", app)
        return self.approved(app["id"], clinic.reg)

    def assertRefused(self, app, code, comment=None):
        """A stored refusal (SPEC §7): status refused, refusal {code, title{kk,ru,en}, comment}."""
        self.assertEqual(app.get("status"), "refused",
                         "expected a refusal %s, got %r" % (code, app))
        refusal = app.get("refusal")
        self.assertIsInstance(refusal, dict, "refusal object: %r" % app)
        self.assertEqual(refusal.get("code"), code, "refusal code: %r" % app)
        title = refusal.get("title")
        self.assertIsInstance(title, dict, "refusal title: %r" % refusal)
        catalogue = refusal_reasons()[code]["title"]
        for lang in ("kk", "ru", "en"):
            self.assertIsInstance(title.get(lang), str)
            self.assertTrue(title[lang].strip(), "title %s is empty" % lang)
            self.assertEqual(title[lang], catalogue[lang], "the catalogue's title (%s)" % lang)
        self.assertIn("comment", refusal)
        self.assertEqual(refusal["comment"], comment)
        self.assertIsNone(app.get("district_id"), "a refusal assigns no district")
        self.assertIsNone(app.get("effective_on"), "a refusal takes no effect")
        return app

    def assertPending(self, app, days=None):
        self.assertEqual(app.get("status"), "pending", app)
        self.assertIsNone(app.get("refusal"), app)
        self.assertIsNone(app.get("district_id"), app)
        due = app.get("decision_due_at")
        self.assertIsInstance(due, str, "a pending application has decision_due_at: %r" % app)
        if days is not None:
            got = datetime.datetime.fromisoformat(due)
            self.assertEqual(got.utcoffset(), datetime.timedelta(hours=5),
                             "decision_due_at is local time (+05:00): %s" % due)
            self.assertIn(got, [expected_due(d) for d in days.all],
                          "decision_due_at %s for a submission on %s" % (due, days.all))
        return app

    def submit_refused(self, body, code, token=PORTAL):
        """Submits, asserts a refusal with code, and that GET shows the same stored refusal."""
        app = self.assertRefused(self.submit(body, token=token), code)
        self.assertIsNone(app.get("decision_due_at"), "a refusal is not waiting for a decision")
        stored = self.get_app(app["id"])
        self.assertRefused(stored, code)
        return app

    def submit_pending(self, body, token=PORTAL):
        days = Days()
        app = self.submit(body, token=token)
        days.close()
        return self.assertPending(app, days)


class OwnCampaignCase(AppTestCase):
    """Owns the campaign calendar (CampaignWindows) while the class runs: a campaign year of its
    own (cls.year), open around today with effective_on = today + EFFECTIVE_IN_DAYS
    (cls.effective) and MAX_CHANGES. With REOPEN_EACH_TEST the window is opened again before each
    test (for classes whose tests park or edit it)."""

    EFFECTIVE_IN_DAYS = 40
    MAX_CHANGES = 1
    REOPEN_EACH_TEST = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.windows = CampaignWindows()
        cls.windows.acquire()
        try:
            cls.year = cls.windows.own()
            cls.effective = today() + datetime.timedelta(days=cls.EFFECTIVE_IN_DAYS)
            cls.windows.open(cls.year, cls.effective, max_changes=cls.MAX_CHANGES)
        except BaseException:
            cls.windows.release()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.windows.release()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if self.REOPEN_EACH_TEST:
            self.windows.open(self.year, self.effective, max_changes=self.MAX_CHANGES)

    def campaign_body(self, clinic, **fields):
        return application_body(clinic.body, grounds="campaign", **fields)


class AutoApproveCase(OwnCampaignCase):
    """For tests of auto_approve. A relocation is never auto-approved (SPEC §11), so these submit
    `campaign` grounds (auto_body) inside a campaign of their own: open around today with
    effective_on today, so that an approval takes effect tomorrow, as a relocation's would."""

    EFFECTIVE_IN_DAYS = 0
    MAX_CHANGES = 5

    @staticmethod
    def auto_body(clinic, **fields):
        """An application that an auto_approve polyclinic may approve at once."""
        return application_body(clinic.body, grounds="campaign", **fields)


def q(value):
    return urllib.parse.quote(str(value), safe="")
