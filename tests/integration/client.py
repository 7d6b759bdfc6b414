"""Shared helpers of the attachd HTTP integration tests (Python 3 standard library; the contract
check of every answer, contract.py, uses python3-jsonschema).

Configuration comes from the environment so that the same suite runs against a local instance
and a dockerized one:

    ATTACHD_URL           base URL, e.g. http://127.0.0.1:8080 (required)
    ATTACHD_ADMIN_TOKEN   an admin bearer token (required by almost every test)
    ATTACHD_PORTAL_TOKEN  a portal bearer token; when unset one is made through POST /v1/tokens
    ATTACHD_HTTP_TIMEOUT  seconds one request may take (default 30)

What is here:
    call(method, path, body=None, token=ADMIN, headers=None, raw=None, malformed=False)
        One HTTP exchange on this thread's keep-alive connection. Response is a named tuple
        (status, headers, body) that unpacks as a 3-tuple; body is parsed JSON when the answer
        is JSON (application/json, application/problem+json), else text. Every answer is
        checked against the service's OpenAPI document (check_contract); malformed=True marks
        a request broken on purpose, whose answer need only be a documented problem.
    check_contract(method, path, status, headers, body, malformed=False)
        Raises AssertionError unless the answer is one the document describes for that route
        and status: schema, media type, X-Request-Id, Location on 201 (contract.py).
    list_all(path, token=ADMIN, limit=None) -> list of items, following next_cursor.
    new_settlement(), new_polyclinic(kato, **fields), new_district(polyclinic_id, kind, ...),
    create_token(role, ...), registrar_token(polyclinic_id), portal_token()
        Fixtures made through the API, unique per run (RUN_ID), asserting success.
    valid_iin(birth_date, sex), valid_bin(), break_checksum(id12), birth_date_for_age(years),
    new_person(...), application_body(...), submit_application(...)
        Identity numbers and application bodies for SPEC §3/§4.
    ApiTestCase: unittest.TestCase with assertStatus / assertProblem / assertFieldError.

Every fixture is unique per run, so the suite can run repeatedly against the same database, and
nothing depends on the demo seed data nor on today's date.
"""

import datetime
import http.client
import json
import os
import random
import socket
import threading
import time
import unittest
import urllib.parse
import uuid
from collections import namedtuple

__unittest = True  # failure tracebacks stop at the test, not inside these helpers

# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

RUN_ID = uuid.uuid4().hex[:8]
TIMEOUT = float(os.environ.get("ATTACHD_HTTP_TIMEOUT", "30"))
_rng = random.Random(int.from_bytes(os.urandom(16), "big"))


class ConfigError(RuntimeError):
    """The environment does not say where attachd is or which tokens to use."""


def base_url():
    """The base URL of the instance under test (ATTACHD_URL), without a trailing slash."""
    url = os.environ.get("ATTACHD_URL", "").strip()
    if not url:
        raise ConfigError(
            "ATTACHD_URL is not set: export the base URL of a running attachd, "
            "e.g. ATTACHD_URL=http://127.0.0.1:8080")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("ATTACHD_URL must look like http://HOST:PORT, got %r" % url)
    return url.rstrip("/")


def _target():
    parts = urllib.parse.urlsplit(base_url())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def admin_token():
    tok = os.environ.get("ATTACHD_ADMIN_TOKEN", "").strip()
    if not tok:
        raise ConfigError("ATTACHD_ADMIN_TOKEN is not set: export an admin token of the instance")
    return tok


_portal_lock = threading.Lock()
_portal_cache = []


def portal_token():
    """ATTACHD_PORTAL_TOKEN, or (when unset) a portal token made once through POST /v1/tokens."""
    tok = os.environ.get("ATTACHD_PORTAL_TOKEN", "").strip()
    if tok:
        return tok
    with _portal_lock:
        if not _portal_cache:
            _portal_cache.append(create_token("portal", name="itest portal " + RUN_ID)["token"])
        return _portal_cache[0]


class _Role:
    """Sentinel for call(token=...): resolved lazily so importing needs no environment."""

    def __init__(self, name, resolve):
        self.name, self.resolve = name, resolve

    def __repr__(self):
        return "<%s token>" % self.name


ADMIN = _Role("admin", admin_token)
PORTAL = _Role("portal", portal_token)

# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------

Response = namedtuple("Response", "status headers body")
Response.__doc__ = "One HTTP answer: status (int), headers (case-insensitive), body (JSON or text)."

_local = threading.local()


def new_connection(timeout=None):
    """A fresh http.client connection to the instance (not shared; the caller closes it)."""
    scheme, host, port, _ = _target()
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    return cls(host, port, timeout=timeout or TIMEOUT)


def full_path(path):
    """The request target for a path of the API (honours a path prefix in ATTACHD_URL)."""
    return _target()[3] + path


def _thread_connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = new_connection()
        _local.used = False
    return conn


def _drop_thread_connection():
    conn = getattr(_local, "conn", None)
    if conn is not None:
        conn.close()
    _local.conn = None


def parse_body(headers, data):
    """JSON when the answer says JSON (and parses), else the text."""
    ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    text = data.decode("utf-8", errors="replace")
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            return text
    return text


def check_contract(method, path, status, headers, body, malformed=False):
    """Raises AssertionError unless the answer agrees with the service's OpenAPI document
    (fetched once from /openapi.json). ATTACHD_CONTRACT_CHECK=0 turns the check off."""
    if os.environ.get("ATTACHD_CONTRACT_CHECK", "1") == "0":
        return
    import contract  # here: the module fetches the document through call()
    contract.check(method, path, status, headers, body, malformed=malformed)


def call(method, path, body=None, token=ADMIN, headers=None, raw=None, malformed=False,
         check=True):
    """Sends one request on this thread's keep-alive connection and returns a Response.

    body:    a JSON-serialisable value, sent as application/json (UTF-8, not ASCII-escaped).
    raw:     bytes or str sent as they are (Content-Type from headers, else application/json).
    token:   ADMIN (default), PORTAL, a secret string, or None for no Authorization header.
    headers: extra request headers (they win over the defaults).
    malformed: the request is broken on purpose; its answer need only be a documented problem.
    check:   False skips the contract check (only contract.py, fetching the document).
    A connection the server has closed while idle is reopened once and the request repeated.
    """
    hdrs = {"Accept": "application/json"}
    payload = None
    if raw is not None:
        payload = raw.encode("utf-8") if isinstance(raw, str) else raw
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    if isinstance(token, _Role):
        token = token.resolve()
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    for k, v in (headers or {}).items():
        for existing in [h for h in hdrs if h.lower() == k.lower()]:
            del hdrs[existing]
        if v is not None:
            hdrs[k] = v
    if payload is not None and method in ("POST", "PUT", "PATCH", "DELETE"):
        hdrs.setdefault("Content-Length", str(len(payload)))
    target = full_path(path)
    for attempt in (1, 2):
        conn = _thread_connection()
        reused = getattr(_local, "used", False)
        try:
            conn.request(method, target, body=payload, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                http.client.CannotSendRequest, http.client.ResponseNotReady,
                http.client.BadStatusLine):
            _drop_thread_connection()
            if attempt == 1 and reused:
                continue  # the server closed an idle keep-alive connection: try once more
            raise
        except (socket.timeout, OSError):
            _drop_thread_connection()
            raise
        _local.used = True
        if resp.will_close:
            _drop_thread_connection()
        answer = Response(resp.status, resp.headers, parse_body(resp.headers, data))
        if check:
            check_contract(method, path, answer.status, answer.headers,
                           answer.body if method != "HEAD" else None, malformed=malformed)
        return answer
    raise AssertionError("unreachable")


def list_all(path, token=ADMIN, limit=None, max_pages=10000):
    """Every item of a paged list, following next_cursor (asserts each page answers 200)."""
    items, cursor = [], None
    sep = "&" if "?" in path else "?"
    for _ in range(max_pages):
        query = []
        if limit:
            query.append("limit=%d" % limit)
        if cursor is not None:
            query.append("cursor=" + urllib.parse.quote(str(cursor), safe=""))
        url = path + (sep + "&".join(query) if query else "")
        r = call("GET", url, token=token)
        if r.status != 200 or not isinstance(r.body, dict) or "items" not in r.body:
            raise AssertionError("GET %s -> %s %r" % (url, r.status, r.body))
        items.extend(r.body["items"])
        cursor = r.body.get("next_cursor")
        if cursor is None:
            return items
    raise AssertionError("%s: more than %d pages" % (path, max_pages))


def expect(resp, status, what):
    """Raises (with the answer) unless resp has the status: fixtures fail loudly, not later."""
    if resp.status != status:
        raise AssertionError("%s: expected HTTP %d, got %d: %r" % (what, status, resp.status,
                                                                   resp.body))
    return resp.body


# --------------------------------------------------------------------------------------------
# Kazakh identity numbers (SPEC §4)
# --------------------------------------------------------------------------------------------

_WEIGHTS2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def check_digit(first11):
    """The check digit of an 11-digit IIN/BIN prefix, or None when the number is never issued."""
    digits = [int(c) for c in first11]
    k = sum(d * (i + 1) for i, d in enumerate(digits)) % 11
    if k == 10:
        k = sum(d * w for d, w in zip(digits, _WEIGHTS2)) % 11
        if k == 10:
            return None
    return k


def complete_id(prefixes, what="number"):
    """The first of the 11-digit prefixes that has a check digit, completed with it (an IIN or
    BIN); prefixes may be endless (a generator of random ones)."""
    for prefix in prefixes:
        k = check_digit(prefix)
        if k is not None:
            return prefix + str(k)
    raise AssertionError("no %s among the candidates has a check digit" % what)


def checksum_ok(id12):
    return (len(id12) == 12 and id12.isdigit()
            and check_digit(id12[:11]) == int(id12[11]))


def break_checksum(id12):
    """The same number with a wrong check digit."""
    good = int(id12[11])
    return id12[:11] + str((good + 1) % 10)


def _as_date(d):
    if isinstance(d, datetime.date):
        return d
    return datetime.date.fromisoformat(d)


def valid_iin(birth_date, sex="male"):
    """A valid IIN for a birth date (date or YYYY-MM-DD) and sex ("male"/"female")."""
    d = _as_date(birth_date)
    century = {18: 1, 19: 3, 20: 5}[d.year // 100]
    male = str(sex).lower() in ("male", "m")
    c = century + (0 if male else 1)
    return complete_id("%02d%02d%02d%d%04d" % (d.year % 100, d.month, d.day, c,
                                               _rng.randrange(10000)) for _ in iter(int, 1))


def valid_bin():
    """A valid, random BIN: 12 digits, 5th digit 4/5/6, check digit as the IIN's."""
    return complete_id("%02d%02d%d%06d" % (_rng.randrange(100), _rng.randrange(1, 13),
                                           _rng.choice((4, 5, 6)), _rng.randrange(10 ** 6))
                       for _ in iter(int, 1))


def today_almaty():
    """Today in Asia/Almaty (UTC+5), the service's calendar."""
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=5)).date()


def birth_date_for_age(years, today=None, days_past_birthday=30):
    """A birth date giving `years` whole years today (Almaty), `days_past_birthday` after it."""
    t = today or today_almaty()
    bday = t - datetime.timedelta(days=days_past_birthday)
    try:
        return bday.replace(year=bday.year - years)
    except ValueError:  # 29 February
        return bday.replace(year=bday.year - years, day=28)


# --------------------------------------------------------------------------------------------
# Fixtures through the API
# --------------------------------------------------------------------------------------------

_counter_lock = threading.Lock()
_counter = [0]


def unique(prefix=""):
    """A short string unique in this run (and, with RUN_ID, across runs)."""
    with _counter_lock:
        _counter[0] += 1
        n = _counter[0]
    return "%s%s-%d" % (prefix, RUN_ID, n)


def random_kato():
    return "%09d" % _rng.randrange(100000000, 1000000000)


def new_settlement(name_kk=None, name_ru=None, kato=None, token=ADMIN):
    """Creates a settlement with a random unused KATO (retrying on 409); returns the KATO."""
    for _ in range(50):
        k = kato or random_kato()
        body = {"kato": k,
                "name_kk": name_kk or "Ауыл " + unique("кк "),
                "name_ru": name_ru or "Посёлок " + unique("ру ")}
        r = call("POST", "/v1/settlements", body, token=token)
        if r.status == 201:
            return k
        if r.status == 409 and kato is None:
            continue
        expect(r, 201, "POST /v1/settlements %s" % k)
    raise AssertionError("could not find a free KATO code")


def polyclinic_body(settlement, **fields):
    """A valid polyclinic creation body (fresh BIN, unique names); fields override."""
    if isinstance(settlement, dict):
        settlement = settlement["kato"]
    tag = unique()
    body = {
        "bin": valid_bin(),
        "name_kk": "№ %s емхана" % tag,
        "name_ru": "Поликлиника № %s" % tag,
        "settlement": settlement,
        "also_serves": [],
        "address": "көш. Абай, %d" % _rng.randrange(1, 300),
        "lat": 43.238949,
        "lon": 76.889709,
        "ownership": "public",
        "fsms_contract": True,
        "accepting": True,
        "auto_approve": False,
    }
    body.update(fields)
    return body


def new_polyclinic(settlement, token=ADMIN, **fields):
    """Creates a polyclinic in `settlement` (a KATO) and returns its body (with `id`).

    Any polyclinic field may be given (also_serves, lat, lon, accepting, auto_approve, ...).
    A clash of the random BIN (409) is retried with another one.
    """
    for _ in range(10):
        body = polyclinic_body(settlement, **fields)
        r = call("POST", "/v1/polyclinics", body, token=token)
        if r.status == 409 and "bin" not in fields:
            continue
        return expect(r, 201, "POST /v1/polyclinics")
    raise AssertionError("could not find a free BIN")


_district_numbers = {}


def new_district(polyclinic_id, kind="gp", capacity=None, number=None, token=ADMIN, **fields):
    """Creates a district (number auto-assigned per polyclinic) and returns its body."""
    if number is None:
        with _counter_lock:
            n = _district_numbers.get(polyclinic_id, 0) + 1
            _district_numbers[polyclinic_id] = n
        number = str(n)
    body = {"number": number, "kind": kind}
    if capacity is not None:
        body["capacity"] = capacity
    body.update(fields)
    r = call("POST", "/v1/polyclinics/%s/districts" % polyclinic_id, body, token=token)
    return expect(r, 201, "POST /v1/polyclinics/%s/districts" % polyclinic_id)


def create_token(role, polyclinic_id=None, name=None):
    """POST /v1/tokens as admin; returns the answer ({"id", "token", ...})."""
    body = {"role": role, "name": name or "itest " + unique(role + " ")}
    if polyclinic_id is not None:
        body["polyclinic_id"] = polyclinic_id
    r = call("POST", "/v1/tokens", body, token=ADMIN)
    return expect(r, 201, "POST /v1/tokens (%s)" % role)


def registrar_token(polyclinic_id, name=None):
    """The secret of a new registrar token bound to the polyclinic."""
    return create_token("registrar", polyclinic_id, name)["token"]


_campaign_lock = threading.Lock()


def free_campaign_year(span=1, low=2100, high=9800):
    """A far-future year Y such that Y..Y+span-1 have no campaign yet (asserts the list works)."""
    with _campaign_lock:
        taken = {c.get("year") for c in list_all("/v1/campaigns")}
        for _ in range(1000):
            y = _rng.randrange(low, high)
            if all(y + i not in taken for i in range(span)):
                return y
    raise AssertionError("no free campaign year")


# --------------------------------------------------------------------------------------------
# Applications (SPEC §3, §8)
# --------------------------------------------------------------------------------------------

def new_person(age=30, sex="male", residency="citizen", birth_date=None, iin=None, **fields):
    """A person block for an application: a valid IIN matching birth date and sex."""
    # Birth dates spread over the year of that age: an IIN has 4 serial digits per birth date
    # and sex, so one date for everyone of an age would make collisions likely.
    bd = (_as_date(birth_date) if birth_date
          else birth_date_for_age(age, days_past_birthday=_rng.randrange(1, 360)))
    p = {
        "iin": iin or valid_iin(bd, sex),
        "last_name": "Сәрсенбаев" if sex == "male" else "Сәрсенбаева",
        "first_name": "Ерлан" if sex == "male" else "Әйгерім",
        "middle_name": "Қайратұлы" if sex == "male" else "Қайратқызы",
        "birth_date": bd.isoformat(),
        "sex": sex,
        "residency": residency,
    }
    p.update(fields)
    return p


def application_body(polyclinic, settlement=None, person=None, channel="egov",
                     grounds="relocation", **fields):
    """A valid application body. polyclinic: its body (dict) or id; settlement defaults to the
    polyclinic's. grounds default to `relocation`, accepted all year (tests must not depend on
    the date being inside a campaign). A minor gets a representative and birth certificate."""
    if isinstance(polyclinic, dict):
        pid = polyclinic["id"]
        settlement = settlement or polyclinic.get("settlement")
    else:
        pid = polyclinic
    person = person or new_person()
    body = {
        "person": person,
        "settlement": settlement,
        "address": "көш. Төле би, %d, пәтер %d" % (_rng.randrange(1, 200), _rng.randrange(1, 99)),
        "polyclinic_id": pid,
        "channel": channel,
        "grounds": grounds,
    }
    bd = _as_date(person["birth_date"])
    t = today_almaty()
    age = t.year - bd.year - ((t.month, t.day) < (bd.month, bd.day))
    if age < 18:
        body["representative"] = {"iin": valid_iin(birth_date_for_age(35), "female"),
                                  "relation": "mother"}
        body["birth_certificate"] = "I-АЛ %07d" % _rng.randrange(10 ** 7)
    body.update(fields)
    return body


def submit_application(body, token=PORTAL, idempotency_key=None):
    """POST /v1/applications; returns the Response (not asserted)."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return call("POST", "/v1/applications", body, token=token, headers=headers)


# --------------------------------------------------------------------------------------------
# Assertions
# --------------------------------------------------------------------------------------------

def media_type(headers):
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


class ApiTestCase(unittest.TestCase):
    """TestCase with assertions about attachd answers; failure messages show the body."""

    maxDiff = 4000

    def assertStatus(self, resp, status, msg=None):
        """Asserts the HTTP status; returns the body."""
        if resp.status != status:
            self.fail("%sexpected HTTP %d, got %d: %r" % (msg + ": " if msg else "", status,
                                                         resp.status, resp.body))
        return resp.body

    def assertJson(self, resp, status):
        """Asserts the status and an application/json object body; returns the body."""
        body = self.assertStatus(resp, status)
        self.assertEqual(media_type(resp.headers), "application/json",
                         "Content-Type of a %d answer" % status)
        self.assertIsInstance(body, dict, "body of a %d answer" % status)
        return body

    def assertProblem(self, resp, status, code=None):
        """Asserts an RFC 9457 problem answer with this status (and code); returns the body."""
        body = self.assertStatus(resp, status)
        self.assertEqual(media_type(resp.headers), "application/problem+json",
                         "Content-Type of a %d answer: %r" % (status, body))
        self.assertIsInstance(body, dict, "problem body")
        for member in ("type", "title", "status", "code"):
            self.assertIn(member, body, "problem members: %r" % body)
        self.assertIsInstance(body["type"], str)
        self.assertTrue(body["title"], "problem title is empty: %r" % body)
        self.assertEqual(body["status"], status, "problem status member: %r" % body)
        self.assertIsInstance(body["code"], str)
        self.assertTrue(body["code"], "problem code is empty: %r" % body)
        if code is not None:
            self.assertEqual(body["code"], code, "problem code: %r" % body)
        return body

    def assertFieldError(self, resp, field, status=422):
        """Asserts a validation problem naming `field` (a string or a set of accepted names)."""
        body = self.assertProblem(resp, status)
        errors = body.get("errors")
        self.assertIsInstance(errors, list, "a validation problem lists errors[]: %r" % body)
        fields = [e.get("field") for e in errors if isinstance(e, dict)]
        wanted = {field} if isinstance(field, str) else set(field)
        self.assertTrue(wanted & set(fields),
                        "errors[].field should name %s, got %r" % (sorted(wanted), fields))
        return body
