"""The access matrix (SPEC §6, README "Decisions"): every route of src/http/routes.c against every
kind of caller, table-driven.

Callers: no token, a bad token, a revoked token, admin, portal, the registrar of the polyclinic
whose data the request touches ("registrar own") and the registrar of another polyclinic
("registrar other"). Expected, for each row of MATRIX:
  - every /v1 route answers 401 problem+json with `WWW-Authenticate: Bearer` to the first three;
  - a role the route does not allow gets 403 FORBIDDEN;
  - a registrar touching another polyclinic's application, work queue, transfers or people gets
    404, the same answer as for something that does not exist (it must not learn it exists);
  - an allowed role on its own data succeeds: 2xx, or a 4xx that is not 401, 403 or 404.

MATRIX must have a row for every route: test_matrix_covers_every_route compares it with the
routes /openapi.json publishes and, when the source is at hand, with the table in
src/http/routes.c (whose role masks must agree with the 403s of the matrix). A new route without
a row fails the suite.

The matrix runs twice, with polyclinic A and then B as "own", so both registrars are checked in
both directions. Rows that change state (decisions, token revocation) get a fresh application or
token per cell, and a refused decision is checked to have changed nothing.
"""

import datetime
import itertools
import http.client
import json
import os
import random
import re
import subprocess
import time

import client
from client import PORTAL, ApiTestCase, call

__unittest = True

HERE = os.path.dirname(os.path.abspath(__file__))
ROUTES_C = os.path.normpath(os.path.join(HERE, "..", "..", "src", "http", "routes.c"))

NO_TOKEN, BAD_TOKEN, REVOKED = "no token", "bad token", "revoked token"
ADMIN_R, PORTAL_R, OWN, OTHER = "admin", "portal", "registrar own", "registrar other"
UNAUTHENTICATED = (NO_TOKEN, BAD_TOKEN, REVOKED)
AUTHENTICATED = (ADMIN_R, PORTAL_R, OWN, OTHER)

OK = "ok"  # 2xx, or a 4xx other than 401, 403, 404
FORBIDDEN = 403
HIDDEN = 404

# Tokens are cached per server thread for a second (README); revocation must bite within this.
REVOCATION_DEADLINE = 1.5


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------

class Clinic:
    """A polyclinic with a district, a registrar, and people in every state the matrix needs."""

    def __init__(self):
        self.kato = client.new_settlement()
        self.body = client.new_polyclinic(self.kato)
        self.id = self.body["id"]
        self.district = client.new_district(self.id, "gp")
        self.reg = client.registrar_token(self.id)
        # A pending application (its person is "applying here").
        self.application = submit_pending(self)
        self.applying_iin = self.application["person"]["iin"]
        # An approved one (its person is "attached here"; the approval makes a transfer in).
        approved = submit_pending(self)
        r = call("POST", "/v1/applications/%d/approve" % approved["id"], {}, token=self.reg)
        body = client.expect(r, 200, "approve a fixture application")
        if body.get("status") != "approved":
            raise AssertionError("fixture application was not approved: %r" % body)
        self.attached_iin = approved["person"]["iin"]


def new_adult():
    """A person of a random adult age: client.new_person() gives everyone of one age the same
    birth date, leaving ~9000 IINs, and a matrix run makes a hundred people (birthday paradox)."""
    days = random.randrange(20 * 365, 80 * 365)
    return client.new_person(birth_date=client.today_almaty() - datetime.timedelta(days=days))


def submit_pending(clinic, token=PORTAL, channel="egov"):
    """A new pending application of a new adult to the clinic."""
    body = client.application_body(clinic.body, person=new_adult(), channel=channel)
    r = client.submit_application(body, token=token)
    made = client.expect(r, 201, "POST /v1/applications (fixture)")
    if made.get("status") != "pending":
        raise AssertionError("fixture application is not pending: %r" % made)
    return made


class Sides:
    """One orientation of the matrix: whose data the requests touch and who is who."""

    def __init__(self, own, other, year, refusal_code, tokens):
        self.own, self.other, self.year, self.refusal_code = own, other, year, refusal_code
        self.tokens = dict(tokens)
        self.tokens[OWN] = own.reg
        self.tokens[OTHER] = other.reg


# ----------------------------------------------------------------------------------------------
# The matrix: one row per route (and a few routes twice, for different data)
# ----------------------------------------------------------------------------------------------

class Row:
    """method, pattern (as in routes.c); expect: {role: OK|403|404} for the four authenticated
    roles; request(sides, role) -> (path, body, headers); fresh: the request changes state, so
    it is built again for every cell; unchanged(sides, role, path): asserts a refused request
    changed nothing; absent_ok: 404 is also a success (a singleton that may not exist)."""

    def __init__(self, method, pattern, admin, portal, own, other, request, fresh=False,
                 unchanged=None, absent_ok=False, note=""):
        self.method, self.pattern = method, pattern
        self.expect = {ADMIN_R: admin, PORTAL_R: portal, OWN: own, OTHER: other}
        self.request, self.fresh, self.unchanged = request, fresh, unchanged
        self.absent_ok = absent_ok
        self.note = note

    @property
    def public(self):
        return not self.pattern.startswith("/v1/")

    def label(self):
        return "%s %s%s" % (self.method, self.pattern, " (%s)" % self.note if self.note else "")


def get(path_fn):
    return lambda s, role: (path_fn(s), None, None)


def _settlement_body(s, role):
    return ("/v1/settlements", {"kato": client.random_kato(), "name_kk": "Матрица " +
                                client.unique(), "name_ru": "Матрица " + client.unique()}, None)


def _polyclinic_body(s, role):
    return "/v1/polyclinics", client.polyclinic_body(s.own.kato), None


def _district_body(s, role):
    number = "M%d" % (int(time.monotonic() * 1e6) % 10 ** 9)
    return ("/v1/polyclinics/%d/districts" % s.own.id,
            {"number": number, "kind": "gp", "capacity": 5}, None)


def _campaign_body(s, role):
    y = client.free_campaign_year()
    return ("/v1/campaigns/%d" % y, {"opens_on": "%d-09-01" % y, "closes_on": "%d-11-01" % y},
            None)


def _submission(s, role):
    # A registrar submits in person; the other registrar tries the same at a clinic not its own.
    channel = "in_person" if role in (OWN, OTHER) else "egov"
    return ("/v1/applications",
            client.application_body(s.own.body, person=new_adult(), channel=channel), None)


def _eligibility(s, role):
    return ("/v1/eligibility",) + _submission(s, role)[1:]


def _decision(verb, body_fn):
    def build(s, role):
        app = submit_pending(s.own)
        return "/v1/applications/%d/%s" % (app["id"], verb), body_fn(s), None
    return build


def _still_pending(test, s, role, path):
    app_id = int(path.split("/")[3])
    got = test.assertJson(call("GET", "/v1/applications/%d" % app_id), 200)
    test.assertEqual(got["status"], "pending",
                     "a refused %s by %s changed the application" % (path, role))


def _new_token(s, role):
    made = client.create_token("portal", name="matrix " + client.unique())
    return "/v1/tokens/%d" % made["id"], None, {"X-Matrix-Secret": made["token"]}


_days = itertools.count(client._rng.randrange(0, 3000))


def _free_day():
    """A day far in the future that no other cell of this run uses as a holiday."""
    return (datetime.date(2090, 1, 1) + datetime.timedelta(days=next(_days))).isoformat()


def _holiday_body(s, role):
    return "/v1/holidays/" + _free_day(), {"name": "матрица " + client.unique()}, None


def _new_holiday(s, role):
    day = _free_day()
    client.expect(call("PUT", "/v1/holidays/" + day, {"name": "матрица"}, token=client.ADMIN),
                  201, "PUT /v1/holidays")
    return "/v1/holidays/" + day, None, None


MATRIX = [
    # operational endpoints: public
    Row("GET", "/healthz", OK, OK, OK, OK, get(lambda s: "/healthz")),
    Row("GET", "/readyz", OK, OK, OK, OK, get(lambda s: "/readyz")),
    Row("GET", "/metrics", OK, OK, OK, OK, get(lambda s: "/metrics")),
    Row("GET", "/openapi.json", OK, OK, OK, OK, get(lambda s: "/openapi.json")),
    # catalogues: read by any role, written by admin
    Row("GET", "/v1/settlements", OK, OK, OK, OK, get(lambda s: "/v1/settlements")),
    Row("POST", "/v1/settlements", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _settlement_body),
    Row("GET", "/v1/settlements/{kato}", OK, OK, OK, OK,
        get(lambda s: "/v1/settlements/" + s.own.kato)),
    Row("GET", "/v1/district-kinds", OK, OK, OK, OK, get(lambda s: "/v1/district-kinds")),
    Row("GET", "/v1/refusal-reasons", OK, OK, OK, OK, get(lambda s: "/v1/refusal-reasons")),
    Row("GET", "/v1/polyclinics", OK, OK, OK, OK,
        get(lambda s: "/v1/polyclinics?settlement=" + s.own.kato)),
    Row("POST", "/v1/polyclinics", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _polyclinic_body),
    Row("GET", "/v1/polyclinics/{id}", OK, OK, OK, OK,
        get(lambda s: "/v1/polyclinics/%d" % s.own.id)),
    Row("PATCH", "/v1/polyclinics/{id}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        lambda s, role: ("/v1/polyclinics/%d" % s.own.id, {"accepting": True}, None)),
    Row("GET", "/v1/polyclinics/{id}/districts", OK, OK, OK, OK,
        get(lambda s: "/v1/polyclinics/%d/districts" % s.own.id)),
    Row("POST", "/v1/polyclinics/{id}/districts", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        _district_body),
    Row("GET", "/v1/districts/{id}", OK, OK, OK, OK,
        get(lambda s: "/v1/districts/%d" % s.own.district["id"])),
    Row("PATCH", "/v1/districts/{id}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        lambda s, role: ("/v1/districts/%d" % s.own.district["id"], {"open": True}, None)),
    Row("GET", "/v1/campaigns", OK, OK, OK, OK, get(lambda s: "/v1/campaigns")),
    Row("GET", "/v1/campaigns/current", OK, OK, OK, OK, get(lambda s: "/v1/campaigns/current"),
        absent_ok=True),
    Row("GET", "/v1/campaigns/{year}", OK, OK, OK, OK,
        get(lambda s: "/v1/campaigns/%d" % s.year)),
    Row("PUT", "/v1/campaigns/{year}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _campaign_body),
    Row("GET", "/v1/holidays", OK, OK, OK, OK, get(lambda s: "/v1/holidays?year=2030")),
    Row("PUT", "/v1/holidays/{day}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _holiday_body),
    Row("DELETE", "/v1/holidays/{day}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _new_holiday,
        fresh=True),
    # applications
    Row("POST", "/v1/applications", FORBIDDEN, OK, OK, FORBIDDEN, _submission,
        note="registrar other: in person at a clinic not its own"),
    Row("POST", "/v1/eligibility", OK, OK, OK, FORBIDDEN, _eligibility,
        note="registrar other: for a clinic not its own (stores nothing either way)"),
    Row("GET", "/v1/applications", OK, FORBIDDEN, OK, HIDDEN,
        get(lambda s: "/v1/applications?polyclinic_id=%d" % s.own.id)),
    Row("GET", "/v1/applications/{id}", OK, OK, OK, HIDDEN,
        get(lambda s: "/v1/applications/%d" % s.own.application["id"])),
    Row("POST", "/v1/applications/{id}/approve", FORBIDDEN, FORBIDDEN, OK, HIDDEN,
        _decision("approve", lambda s: {}), fresh=True, unchanged=_still_pending),
    Row("POST", "/v1/applications/{id}/refuse", FORBIDDEN, FORBIDDEN, OK, HIDDEN,
        _decision("refuse", lambda s: {"reason": s.refusal_code, "comment": "матрица"}),
        fresh=True, unchanged=_still_pending),
    Row("POST", "/v1/applications/{id}/withdraw", FORBIDDEN, OK, FORBIDDEN, FORBIDDEN,
        _decision("withdraw", lambda s: {}), fresh=True, unchanged=_still_pending),
    # the register
    Row("GET", "/v1/persons/{iin}/attachment", OK, OK, OK, HIDDEN,
        get(lambda s: "/v1/persons/%s/attachment" % s.own.applying_iin), note="applying"),
    Row("GET", "/v1/persons/{iin}/attachment", OK, OK, OK, HIDDEN,
        get(lambda s: "/v1/persons/%s/attachment" % s.own.attached_iin), note="attached"),
    Row("GET", "/v1/persons/{iin}/attachments", OK, OK, OK, HIDDEN,
        get(lambda s: "/v1/persons/%s/attachments" % s.own.applying_iin), note="applying"),
    Row("GET", "/v1/persons/{iin}/attachments", OK, OK, OK, HIDDEN,
        get(lambda s: "/v1/persons/%s/attachments" % s.own.attached_iin), note="attached"),
    Row("GET", "/v1/polyclinics/{id}/transfers", OK, FORBIDDEN, OK, HIDDEN,
        get(lambda s: "/v1/polyclinics/%d/transfers" % s.own.id)),
    Row("PUT", "/v1/persons/{iin}/insurance", OK, OK, FORBIDDEN, FORBIDDEN,
        lambda s, role: ("/v1/persons/%s/insurance" % s.own.attached_iin,
                         {"number": "матрица", "valid_until": "2099-01-01"}, None)),
    Row("GET", "/v1/polyclinics/{id}/age-outs", OK, FORBIDDEN, OK, HIDDEN,
        get(lambda s: "/v1/polyclinics/%d/age-outs" % s.own.id)),
    # the daily run, limited to the matrix's own polyclinic (adults only: nothing to change)
    Row("POST", "/v1/maintenance/daily", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        lambda s, role: ("/v1/maintenance/daily", {"on": "2099-01-01", "polyclinic_id": s.own.id},
                         None)),
    Row("GET", "/v1/polyclinics/{id}/attachments", OK, FORBIDDEN, OK, HIDDEN,
        get(lambda s: "/v1/polyclinics/%d/attachments" % s.own.id)),
    Row("GET", "/v1/polyclinics/{id}/population", OK, FORBIDDEN, OK, HIDDEN,
        get(lambda s: "/v1/polyclinics/%d/population" % s.own.id)),
    Row("GET", "/v1/stats/campaigns/{year}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        get(lambda s: "/v1/stats/campaigns/%d" % s.year)),
    Row("GET", "/v1/stats/attached", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        get(lambda s: "/v1/stats/attached?settlement=" + s.own.kato)),
    Row("GET", "/v1/audit", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, get(lambda s: "/v1/audit")),
    # events: every role reads the feed (a registrar only its polyclinic's)
    Row("GET", "/v1/events", OK, OK, OK, OK, get(lambda s: "/v1/events?limit=1")),
    # tokens
    Row("POST", "/v1/tokens", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN,
        lambda s, role: ("/v1/tokens", {"role": "portal", "name": "matrix " + client.unique()},
                         None)),
    Row("DELETE", "/v1/tokens/{id}", OK, FORBIDDEN, FORBIDDEN, FORBIDDEN, _new_token, fresh=True),
]


# The handler's own 403s for a role the route table allows: a registrar submits only in person
# and only to its own polyclinic (README).
HANDLER_FORBIDS = {("POST", "/v1/applications", OTHER), ("POST", "/v1/eligibility", OTHER)}


# ----------------------------------------------------------------------------------------------
# The route tables to compare the matrix with
# ----------------------------------------------------------------------------------------------

ROUTE_RE = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*\w+\s*,\s*([A-Z0-9_|\s]+?)\s*,',
                      re.S)


def routes_from_source():
    """{(method, pattern): set of role names or {"public"}} parsed from src/http/routes.c, or
    None when the source is not at hand (a suite run against a deployed image)."""
    try:
        with open(ROUTES_C, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    start = text.find("attachd_routes[]")
    routes = {}
    for method, pattern, roles in ROUTE_RE.findall(text[start:]):
        names = {r.strip() for r in roles.split("|")}
        if names == {"0"}:
            names = {"public"}
        routes[(method, pattern)] = names
    return routes


def routes_from_openapi():
    """{(method, pattern)} published by GET /openapi.json."""
    r = call("GET", "/openapi.json", token=None)
    if r.status != 200 or not isinstance(r.body, dict):
        raise AssertionError("GET /openapi.json -> %d" % r.status)
    out = set()
    for path, ops in r.body.get("paths", {}).items():
        for method in ops:
            if method.lower() in ("get", "put", "post", "delete", "patch", "head", "options"):
                out.add((method.upper(), path))
    return out


# ----------------------------------------------------------------------------------------------
# Running one cell
# ----------------------------------------------------------------------------------------------

def fresh_connection_call(method, path, token, body=None):
    """One request on a new connection (so, likely, on another server thread)."""
    conn = client.new_connection(timeout=10)
    try:
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, client.full_path(path), body=payload, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        answer = client.Response(resp.status, resp.headers, client.parse_body(resp.headers, data))
        client.check_contract(method, path, answer.status, answer.headers, answer.body)
        return answer
    finally:
        conn.close()


def make_revoked_token():
    """An admin token revoked through the API, seen as 401 on fresh connections. Returns the
    secret."""
    made = client.create_token("admin", name="matrix revoked " + client.unique())
    client.expect(call("GET", "/v1/district-kinds", token=made["token"]), 200,
                  "a new admin token works")
    client.expect(call("DELETE", "/v1/tokens/%d" % made["id"]), 204, "revoke the token")
    deadline = time.monotonic() + REVOCATION_DEADLINE
    while True:
        statuses = [fresh_connection_call("GET", "/v1/district-kinds", made["token"]).status
                    for _ in range(4)]
        if statuses == [401] * 4:
            return made["token"]
        if time.monotonic() > deadline:
            raise AssertionError("a revoked token still answers %r after %.1f s"
                                 % (statuses, REVOCATION_DEADLINE))
        time.sleep(0.1)


class AccessMatrixTest(ApiTestCase):
    """Every row of MATRIX × every caller, both orientations."""

    @classmethod
    def setUpClass(cls):
        cls.a, cls.b = Clinic(), Clinic()
        cls.year = client.free_campaign_year()
        client.expect(call("PUT", "/v1/campaigns/%d" % cls.year,
                           {"opens_on": "%d-09-01" % cls.year,
                            "closes_on": "%d-11-01" % cls.year}), 201, "PUT a campaign")
        reasons = client.list_all("/v1/refusal-reasons")
        if not reasons:
            raise AssertionError("no refusal reasons in the catalogue")
        cls.refusal_code = reasons[0]["code"]
        cls.tokens = {
            NO_TOKEN: None,
            BAD_TOKEN: "atd_" + client.unique("not-a-token-").replace("-", "_"),
            REVOKED: make_revoked_token(),
            ADMIN_R: client.admin_token(),
            PORTAL_R: client.portal_token(),
        }
        cls.sides = [Sides(cls.a, cls.b, cls.year, cls.refusal_code, cls.tokens),
                     Sides(cls.b, cls.a, cls.year, cls.refusal_code, cls.tokens)]

    # -- the coverage of the table -------------------------------------------------------------

    def test_matrix_covers_every_route(self):
        in_matrix = {(row.method, row.pattern) for row in MATRIX}
        published = routes_from_openapi()
        self.assertEqual(sorted(published - in_matrix), [],
                         "routes in /openapi.json without a row in MATRIX")
        self.assertEqual(sorted(in_matrix - published), [],
                         "rows in MATRIX for routes /openapi.json does not list")
        source = routes_from_source()
        if source is None:
            return
        self.assertGreater(len(source), 10, "parsed too few routes from %s" % ROUTES_C)
        self.assertEqual(sorted(set(source) - in_matrix), [],
                         "routes in src/http/routes.c without a row in MATRIX")
        self.assertEqual(sorted(in_matrix - set(source)), [],
                         "rows in MATRIX for routes src/http/routes.c does not have")

    def test_matrix_agrees_with_the_role_masks_of_routes_c(self):
        source = routes_from_source()
        if source is None:
            self.skipTest("%s is not readable" % ROUTES_C)
        mask_role = {ADMIN_R: "ADMIN", PORTAL_R: "PORTAL", OWN: "REGISTRAR", OTHER: "REGISTRAR"}
        for row in MATRIX:
            roles = source.get((row.method, row.pattern))
            if roles is None:
                continue  # reported by test_matrix_covers_every_route
            for role, want in row.expect.items():
                allowed = bool(roles & {"public", "ANY", mask_role[role]})
                with self.subTest(route=row.label(), role=role):
                    if not allowed:
                        self.assertEqual(want, FORBIDDEN, "routes.c does not allow %s" % role)
                    elif (row.method, row.pattern, role) not in HANDLER_FORBIDS:
                        self.assertNotEqual(want, FORBIDDEN, "routes.c allows %s" % role)

    # -- the cells ---------------------------------------------------------------------------

    def run_cell(self, row, sides, role):
        path, body, headers = row.request(sides, role)
        token = sides.tokens[role]
        secret = (headers or {}).pop("X-Matrix-Secret", None) if headers else None
        r = call(row.method, path, body, token=token, headers=headers or None)
        where = "%s as %s: %s %s" % (row.label(), role, row.method, path)
        if row.public:
            self.assertLess(r.status, 400, "%s -> %d %r" % (where, r.status, r.body))
            return
        if role in UNAUTHENTICATED:
            body = self.assertProblem(r, 401, "UNAUTHORIZED")
            self.assertTrue((r.headers.get("WWW-Authenticate") or "").lower()
                            .startswith("bearer"), "%s: 401 names the Bearer scheme" % where)
            self.assertNotIn("items", body)
        else:
            want = row.expect[role]
            if want == FORBIDDEN:
                self.assertProblem(r, 403, "FORBIDDEN")
            elif want == HIDDEN:
                self.assertProblem(r, 404, "NOT_FOUND")
            else:
                ok = (200 <= r.status < 300 or
                      (400 <= r.status < 500 and r.status not in (401, 403, 404)) or
                      (row.absent_ok and r.status == 404))
                self.assertTrue(ok, "%s -> %d %r" % (where, r.status, r.body))
                return
        if row.unchanged:
            row.unchanged(self, sides, role, path)
        if secret:
            self.assertEqual(call("GET", "/v1/district-kinds", token=secret).status, 200,
                             "%s: a refused revocation revoked the token" % where)

    def test_every_route_for_every_caller(self):
        for n, sides in enumerate(self.sides):
            for row in MATRIX:
                for role in UNAUTHENTICATED + AUTHENTICATED:
                    with self.subTest(orientation="AB"[n] + " own", route=row.label(), role=role):
                        self.run_cell(row, sides, role)

    def test_campaigns_current_is_the_same_for_every_role(self):
        # The one row that may answer 404 to an allowed role: all roles must see the same.
        seen = {role: call("GET", "/v1/campaigns/current", token=self.sides[0].tokens[role]).status
                for role in AUTHENTICATED}
        self.assertEqual(len(set(seen.values())), 1, "GET /v1/campaigns/current: %r" % seen)
        self.assertIn(seen[ADMIN_R], (200, 404))

    # -- a registrar learns nothing of another polyclinic --------------------------------------

    def test_other_polyclinic_looks_like_nothing_at_all(self):
        # 404 for B's things is the same problem as for things that do not exist.
        a, b = self.a, self.b
        pairs = [
            ("/v1/applications/%d" % b.application["id"], "/v1/applications/999999999999"),
            ("/v1/applications?polyclinic_id=%d" % b.id,
             "/v1/applications?polyclinic_id=999999999999"),
            ("/v1/polyclinics/%d/transfers" % b.id, "/v1/polyclinics/999999999999/transfers"),
            ("/v1/persons/%s/attachment" % b.attached_iin,
             "/v1/persons/%s/attachment" % client.valid_iin("1990-01-01")),
            ("/v1/persons/%s/attachments" % b.applying_iin,
             "/v1/persons/%s/attachments" % client.valid_iin("1990-01-01")),
        ]
        for theirs, nothing in pairs:
            with self.subTest(path=theirs):
                p1 = self.assertProblem(call("GET", theirs, token=a.reg), 404)
                p2 = self.assertProblem(call("GET", nothing, token=a.reg), 404)
                self.assertEqual((p1["code"], p1["title"]), (p2["code"], p2["title"]))

    def test_registrar_work_queue_without_polyclinic_is_its_own(self):
        for mine, theirs in ((self.a, self.b), (self.b, self.a)):
            items = client.list_all("/v1/applications", token=mine.reg)
            ids = {i["id"] for i in items}
            self.assertIn(mine.application["id"], ids)
            self.assertNotIn(theirs.application["id"], ids)
            self.assertEqual({i["polyclinic_id"] for i in items}, {mine.id})

    def test_registrar_transfers_are_its_own(self):
        body = self.assertJson(call("GET", "/v1/polyclinics/%d/transfers" % self.a.id,
                                    token=self.a.reg), 200)
        iins = {t.get("iin") or (t.get("person") or {}).get("iin") for t in body["items"]}
        self.assertTrue(body["items"], "the approval made a transfer into A")
        self.assertNotIn(self.b.attached_iin, iins)

    def test_denied_decisions_change_nothing(self):
        # B's registrar tries every decision on A's pending application: 404 each time, and the
        # application stays pending, undecided by anyone.
        app = self.a.application
        for verb, body in (("approve", {}), ("refuse", {"reason": self.refusal_code}),
                           ("withdraw", {})):
            with self.subTest(verb=verb):
                r = call("POST", "/v1/applications/%d/%s" % (app["id"], verb), body,
                         token=self.b.reg)
                self.assertIn(r.status, (403, 404), "B's registrar %s A's application" % verb)
        got = self.assertJson(call("GET", "/v1/applications/%d" % app["id"]), 200)
        self.assertEqual(got["status"], "pending")


# ----------------------------------------------------------------------------------------------
# Revocation
# ----------------------------------------------------------------------------------------------

class WarmConnections:
    """n keep-alive connections, opened together so that the server spreads them over its
    threads; each has used the token once, so every thread's cache holds it."""

    def __init__(self, n):
        self.conns = [client.new_connection(timeout=10) for _ in range(n)]

    def statuses(self, token):
        out = []
        for i, conn in enumerate(self.conns):
            try:
                conn.request("GET", client.full_path("/v1/district-kinds"),
                             headers={"Authorization": "Bearer " + token})
                resp = conn.getresponse()
                data = resp.read()
                client.check_contract("GET", "/v1/district-kinds", resp.status, resp.headers,
                                      client.parse_body(resp.headers, data))
                out.append(resp.status)
                if resp.will_close:
                    conn.close()
                    self.conns[i] = client.new_connection(timeout=10)
            except (http.client.HTTPException, OSError):
                conn.close()
                self.conns[i] = client.new_connection(timeout=10)
                out.append(None)
        return out

    def close(self):
        for conn in self.conns:
            conn.close()


class RevocationTest(ApiTestCase):

    def wait_for_401(self, secret, warm, revoked_at):
        """Seconds from revoked_at until every warm connection and 8 fresh ones answer 401."""
        while True:
            seen = warm.statuses(secret)
            seen += [fresh_connection_call("GET", "/v1/district-kinds", secret).status
                     for _ in range(8)]
            elapsed = time.monotonic() - revoked_at
            if all(s == 401 for s in seen):
                return elapsed
            if elapsed > REVOCATION_DEADLINE:
                self.fail("%.2f s after the revocation the token still answers %r"
                          % (elapsed, sorted(set(seen), key=str)))
            time.sleep(0.05)

    def test_revocation_over_http_bites_within_1_5_s_on_every_thread(self):
        made = client.create_token("registrar", self.polyclinic_id(), "matrix revoke http")
        warm = WarmConnections(16)
        try:
            self.assertEqual(set(warm.statuses(made["token"])), {200})
            revoked_at = time.monotonic()
            self.assertStatus(call("DELETE", "/v1/tokens/%d" % made["id"]), 204)
            elapsed = self.wait_for_401(made["token"], warm, revoked_at)
        finally:
            warm.close()
        print("       revocation over HTTP took effect after %.0f ms" % (elapsed * 1000))

    def test_attachd_token_revoke_cli_bites_within_1_5_s(self):
        binary = os.environ.get("ATTACHD_BIN", "").strip()
        if not binary or not os.environ.get("DATABASE_URL", "").strip():
            self.skipTest("needs ATTACHD_BIN and DATABASE_URL of the instance (scripts/test.sh)")
        made = client.create_token("portal", name="matrix revoke cli")
        warm = WarmConnections(16)
        try:
            self.assertEqual(set(warm.statuses(made["token"])), {200})
            revoked_at = time.monotonic()
            out = subprocess.run([binary, "token", "revoke", str(made["id"])],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, "attachd token revoke: %s" % out.stderr)
            self.assertIn("revoked", out.stdout)
            # Another process revoked it: the server's caches may keep it up to a second.
            elapsed = self.wait_for_401(made["token"], warm, revoked_at)
        finally:
            warm.close()
        print("       revocation by the CLI took effect after %.0f ms" % (elapsed * 1000))
        # Twice, or an unknown id: a failure exit and a message, and the API agrees.
        again = subprocess.run([binary, "token", "revoke", str(made["id"])],
                               capture_output=True, text=True, timeout=30)
        self.assertNotEqual(again.returncode, 0, "revoking a revoked token must fail")
        self.assertTrue(again.stderr.strip(), "revoking twice says why on stderr")
        for bad in ("999999999999", "abc", "-1", "0"):
            with self.subTest(id=bad):
                r = subprocess.run([binary, "token", "revoke", bad], capture_output=True,
                                   text=True, timeout=30)
                self.assertNotEqual(r.returncode, 0, "attachd token revoke %s" % bad)
        self.assertProblem(call("DELETE", "/v1/tokens/%d" % made["id"]), 404)

    def polyclinic_id(self):
        if not hasattr(RevocationTest, "_pid"):
            RevocationTest._pid = client.new_polyclinic(client.new_settlement())["id"]
        return RevocationTest._pid
