"""The events feed and the operators' request trail (SPEC §12, README "Events" and "Logging").

    GET /v1/events?after=CURSOR&limit=&wait=SECONDS

Checked here: each event type is written by the action it reports (application.submitted,
.decided, .withdrawn, transfer.cancelled; the daily run's types are another module's); a
registrar sees the events naming its polyclinic on either side of a move and nothing else; a
reader walking the feed while many writers commit out of order (SQL sessions hold an event's
transaction open while later ones commit) sees every event exactly once, in strictly increasing
positions, none missing against the table; long polling answers early when an event arrives and
after about `wait` seconds when none does, without starving other requests; bad arguments are
422s. Then X-Request-Id (echoed, generated, replaced) and the JSON request log line (route
template, never the path; no full IIN), the latter only when ATTACHD_LOG names the server log.
"""

import datetime
import json
import os
import re
import subprocess
import threading
import time

import client
from apphelpers import (OwnCampaignCase, NO_DB, AppTestCase, _psql_binary, application_body,
                        db_available, make_clinic, new_person, psql, seed_current_attachment,
                        today)
from client import ADMIN, PORTAL, call

__unittest = True

ONE_DAY = datetime.timedelta(days=1)

GENERATED_ID = r"^[0-9a-f]{8}(-[0-9a-f]{8}){3}$"

# The admin's place at the end of the feed, so that each test walks only what is new.
_admin_end = {"cursor": None}


def feed(token=ADMIN, after=None, limit=None, wait=None, headers=None):
    query = []
    if after is not None:
        query.append("after=" + str(after))
    if limit is not None:
        query.append("limit=" + str(limit))
    if wait is not None:
        query.append("wait=" + str(wait))
    return call("GET", "/v1/events" + ("?" + "&".join(query) if query else ""), token=token,
                headers=headers)


class FeedCase(AppTestCase):

    def page(self, token=ADMIN, after=None, limit=None, wait=None):
        body = self.assertJson(feed(token, after, limit, wait), 200)
        self.assertIsInstance(body.get("items"), list, body)
        self.assertIsInstance(body.get("next_cursor"), str, body)
        return body

    def walk(self, token=ADMIN, after=None, limit=500):
        """Every event after `after`, page by page until a page comes back empty; returns
        (items, the cursor to go on from)."""
        items, cursor = [], after
        for _ in range(10000):
            body = self.page(token, cursor, limit)
            if not body["items"]:
                self.assertEqual(body["next_cursor"], cursor if cursor is not None else
                                 body["next_cursor"], "an empty page keeps the cursor")
                return items, body["next_cursor"]
            self.assertEqual(body["next_cursor"], body["items"][-1]["cursor"])
            items.extend(body["items"])
            cursor = body["next_cursor"]
        raise AssertionError("the feed never ends")

    def end(self, token=ADMIN):
        """The cursor after the last event there is now."""
        if token is not ADMIN:
            return self.walk(token)[1]
        _admin_end["cursor"] = self.walk(after=_admin_end["cursor"])[1]
        return _admin_end["cursor"]

    def assertIncreasing(self, items):
        cursors = [int(e["cursor"]) for e in items]
        self.assertEqual(cursors, sorted(set(cursors)), "positions strictly increase")
        ids = [e["id"] for e in items]
        self.assertEqual(len(ids), len(set(ids)), "every event exactly once")


def of_app(items, app_id):
    return [(e["type"], e) for e in items if e.get("application_id") == app_id]


class EventTypesTest(FeedCase):
    """Each event type written by a real action, and who sees it."""

    @classmethod
    def setUpClass(cls):
        cls.a = make_clinic()
        cls.b = make_clinic(kato=cls.a.kato)
        cls.c = make_clinic(kato=cls.a.kato)

    def test_submission_refusal_withdrawal_write_their_events(self):
        start = self.end()
        pending = self.submit(application_body(self.a.body))
        refused = self.assertJson(self.refuse(pending["id"], self.a.reg, "INVALID_DATA", "опечатка"),
                                  200)
        bad = application_body(self.a.body)
        bad["person"]["iin"] = client.break_checksum(bad["person"]["iin"])
        at_once = self.submit(bad)
        self.assertRefused(at_once, "INVALID_DATA")
        gone = self.submit(application_body(self.a.body))
        self.assertStatus(self.withdraw(gone["id"]), 200)
        items, _ = self.walk(after=start)
        self.assertIncreasing(items)

        got = of_app(items, pending["id"])
        self.assertEqual([t for t, _ in got], ["application.submitted", "application.decided"])
        sub, dec = got[0][1], got[1][1]
        self.assertIsInstance(sub["id"], str)
        self.assertEqual((sub["polyclinic_id"], sub["iin"]), (self.a.id, pending["person"]["iin"]))
        self.assertEqual(sub["data"]["status"], "pending")
        self.assertEqual(dec["data"]["status"], "refused")
        self.assertEqual(dec["data"]["refusal"], refused["refusal"])
        self.assertEqual(dec["data"]["refusal"]["comment"], "опечатка")
        self.assertRegex(dec["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")

        got = of_app(items, at_once["id"])
        self.assertEqual([t for t, _ in got], ["application.submitted", "application.decided"],
                         "a refusal at once is submitted and decided")
        self.assertEqual(got[0][1]["data"]["status"], "refused")
        self.assertEqual(got[1][1]["data"]["refusal"]["code"], "INVALID_DATA")

        got = of_app(items, gone["id"])
        self.assertEqual([t for t, _ in got], ["application.submitted", "application.withdrawn"])

    def test_moves_write_decided_and_cancelled_and_both_sides_see_them(self):
        if not db_available():
            self.skipTest(NO_DB)
        start = self.end()
        person = new_person()
        seed_current_attachment(person["iin"], self.a.id, self.a.district()["id"])
        to_b = self.attach(self.b, person=person)            # leaves A for B (upcoming)
        to_c = self.attach(self.c, person=person)            # B's upcoming move is replaced
        items, _ = self.walk(after=start)
        self.assertIncreasing(items)

        dec_b = [e for t, e in of_app(items, to_b["id"]) if t == "application.decided"]
        self.assertEqual(len(dec_b), 1, items)
        self.assertEqual(dec_b[0]["polyclinic_id"], self.b.id)
        self.assertEqual(dec_b[0]["other_polyclinic_id"], self.a.id, "the polyclinic left")
        self.assertEqual(dec_b[0]["data"]["status"], "approved")
        self.assertEqual(dec_b[0]["data"]["district_id"], to_b["district_id"])
        self.assertEqual(dec_b[0]["data"]["effective_on"], to_b["effective_on"])
        self.assertIsNone(dec_b[0]["data"]["refusal"])
        self.assertEqual(dec_b[0]["data"]["from_polyclinic_id"], self.a.id)
        self.assertEqual(dec_b[0]["data"]["transfer_id"],
                         int(psql("SELECT id FROM transfers WHERE application_id = %d"
                                  % to_b["id"])), "the approval's transfer")

        cancelled = [e for t, e in of_app(items, to_b["id"]) if t == "transfer.cancelled"]
        self.assertEqual(len(cancelled), 1, items)
        self.assertEqual(cancelled[0]["polyclinic_id"], self.b.id, "the receiving polyclinic")
        self.assertEqual(cancelled[0]["other_polyclinic_id"], self.a.id, "where the person stays")
        self.assertEqual(cancelled[0]["iin"], person["iin"])
        dec_c = [e for t, e in of_app(items, to_c["id"]) if t == "application.decided"]
        self.assertEqual(dec_c[0]["other_polyclinic_id"], self.a.id)
        self.assertLess(int(cancelled[0]["cursor"]), int(dec_c[0]["cursor"]),
                        "the cancellation comes before the approval that caused it")

        # Registrar scoping: each sees the events naming its polyclinic, on either side.
        ids = lambda evs: {e["id"] for e in evs}  # noqa: E731
        seen_a = ids(self.walk(self.a.reg, after=start)[0])
        seen_b = ids(self.walk(self.b.reg, after=start)[0])
        seen_c = ids(self.walk(self.c.reg, after=start)[0])
        self.assertIn(dec_b[0]["id"], seen_a, "A sees the move out of A")
        self.assertIn(dec_b[0]["id"], seen_b)
        self.assertNotIn(dec_b[0]["id"], seen_c, "C has nothing to do with the move to B")
        self.assertIn(cancelled[0]["id"], seen_b, "B learns the person is not coming")
        self.assertNotIn(cancelled[0]["id"], seen_c)
        for e in items:
            for clinic, seen in ((self.a, seen_a), (self.b, seen_b), (self.c, seen_c)):
                mine = clinic.id in (e.get("polyclinic_id"), e.get("other_polyclinic_id"))
                self.assertEqual(e["id"] in seen, mine, "registrar of %d and %r" % (clinic.id, e))

    def test_registrar_never_sees_another_polyclinics_events(self):
        start = self.end()
        app = self.submit(application_body(self.a.body))
        self.assertStatus(self.withdraw(app["id"]), 200)
        theirs, _ = self.walk(self.b.reg, after=start)
        self.assertEqual([e for e in theirs if e.get("application_id") == app["id"]], [])
        for e in theirs:
            self.assertIn(self.b.id, (e.get("polyclinic_id"), e.get("other_polyclinic_id")), e)
        mine, _ = self.walk(self.a.reg, after=start)
        self.assertEqual([t for t, _ in of_app(mine, app["id"])],
                         ["application.submitted", "application.withdrawn"])


class AutoApprovalEventsTest(OwnCampaignCase, FeedCase):
    """An auto-approval is submitted (pending) and decided (approved) in one transaction."""

    def test_auto_approval_writes_submitted_and_decided(self):
        start = self.end()
        c = make_clinic(auto_approve=True)
        app = self.submit(application_body(c.body, grounds="campaign"))
        self.assertEqual(app["status"], "approved", app)
        items, _ = self.walk(after=start)
        got = of_app(items, app["id"])
        self.assertEqual([t for t, _ in got], ["application.submitted", "application.decided"])
        self.assertEqual(got[1][1]["data"]["status"], "approved")
        self.assertEqual(got[1][1]["data"]["district_id"], app["district_id"])
        self.assertEqual(got[1][1]["data"]["effective_on"], app["effective_on"])
        self.assertNotIn("other_polyclinic_id", got[1][1], "a first attachment leaves nobody")

    def test_auto_approval_is_submitted_pending_and_audited_once(self):
        """Stored once, already approved (issue 10): the submitted event still says what the
        portal sent (pending, nothing due), and the decision has exactly one audit row."""
        start = self.end()
        c = make_clinic(auto_approve=True)
        app = self.submit(application_body(c.body, grounds="campaign"))
        self.assertEqual(app["status"], "approved", app)
        items, _ = self.walk(after=start)
        got = of_app(items, app["id"])
        self.assertEqual(got[0][1]["data"]["status"], "pending")
        self.assertIsNone(got[0][1]["data"]["decision_due_at"])
        r = call("GET", "/v1/audit?entity=application&id=%d" % app["id"])
        self.assertEqual(r.status, 200, r.body)
        actions = [row["action"] for row in r.body["items"]]
        self.assertEqual(actions, ["approve"], r.body)


class ConcurrentFeedTest(FeedCase):
    """Out-of-order commits: ids are taken at insert, positions after commit."""

    WRITERS = 4
    PER_WRITER = 6
    HOLDERS = 3

    def test_reader_sees_every_event_once_under_out_of_order_commits(self):
        clinics = [make_clinic()]
        clinics.append(make_clinic(kato=clinics[0].kato))
        for c in clinics:
            c.reg  # noqa: B018  (the token is made before the threads start)
        start = self.end()
        done = threading.Event()
        seen, errors, apps = [], [], []
        lock = threading.Lock()

        def reader():
            cursor, quiet = start, 0
            try:
                while quiet < 2:
                    r = feed(after=cursor, limit=7, wait=1)
                    if r.status != 200:
                        errors.append("reader: %d %r" % (r.status, r.body))
                        return
                    seen.extend(r.body["items"])
                    if r.body["items"]:
                        cursor, quiet = r.body["next_cursor"], 0
                    elif done.is_set():
                        quiet += 1
            except Exception as e:  # noqa: BLE001  (reported by the test)
                errors.append("reader: %r" % e)

        def writer(n):
            try:
                for i in range(self.PER_WRITER):
                    c = clinics[(n + i) % len(clinics)]
                    r = client.submit_application(application_body(c.body))
                    if r.status != 201:
                        errors.append("submit: %d %r" % (r.status, r.body))
                        continue
                    app = r.body
                    with lock:
                        apps.append(app["id"])
                    verb = ("approve", "refuse", "withdraw")[(n + i) % 3]
                    if verb == "approve":
                        r = self.approve(app["id"], c.reg)
                    elif verb == "refuse":
                        r = self.refuse(app["id"], c.reg, "CHILD_DOCUMENTS_MISSING")
                    else:
                        r = self.withdraw(app["id"])
                    if r.status != 200:
                        errors.append("%s: %d %r" % (verb, r.status, r.body))
            except Exception as e:  # noqa: BLE001
                errors.append("writer: %r" % e)

        holders = []
        marker = "holder-" + client.unique()
        if db_available():
            # Each takes an event id now and commits seconds later, after writers' later ids.
            for k in range(self.HOLDERS):
                sql = ("BEGIN; SELECT emit_event('application.submitted', NULL, NULL, %d, NULL, "
                       "'{\"test\": \"%s\"}'); SELECT pg_sleep(%.1f); COMMIT;"
                       % (clinics[0].id, marker, 1.5 + k))
                holders.append(subprocess.Popen(
                    [_psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                     os.environ["DATABASE_URL"], "-c", sql],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            time.sleep(0.3)
        rt = threading.Thread(target=reader)
        rt.start()
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(self.WRITERS)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(120)
        for h in holders:
            _, err = h.communicate(timeout=60)
            self.assertEqual(h.returncode, 0, err)
        done.set()
        rt.join(120)
        self.assertFalse(rt.is_alive(), "the reader never went quiet")
        self.assertEqual(errors, [])

        self.assertIncreasing(seen)
        seen_ids = [int(e["id"]) for e in seen]
        for app_id in apps:
            types = [t for t, _ in of_app(seen, app_id)]
            self.assertEqual(len(types), 2, "application %d: %r" % (app_id, types))
            self.assertEqual(types[0], "application.submitted")
        if not holders:
            return
        # None missing against the table, nothing left unstamped.
        table = psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM events WHERE pos > %d"
                     % int(start))
        self.assertEqual(sorted(seen_ids), [int(x) for x in table.split(",")])
        self.assertEqual(psql("SELECT count(*) FROM events WHERE pos IS NULL"), "0")
        held = [i for i, e in enumerate(seen) if e["data"].get("test") == marker]
        self.assertEqual(len(held), self.HOLDERS)
        # The out-of-order case did happen: a held event came after a later id.
        self.assertTrue(any(max(seen_ids[:i] or [0]) > seen_ids[i] for i in held),
                        "no commit out of order was produced")


class LongPollTest(FeedCase):

    def test_wait_returns_early_when_an_event_arrives(self):
        c = make_clinic()
        start = self.end(c.reg)
        out = {}

        def waiter():
            t0 = time.monotonic()
            out["r"] = feed(c.reg, after=start, wait=15)
            out["s"] = time.monotonic() - t0

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(1.0)
        app = self.submit(application_body(c.body))
        t.join(30)
        body = self.assertJson(out["r"], 200)
        self.assertGreaterEqual(out["s"], 0.9, "it waited for the event")
        self.assertLess(out["s"], 5, "it answered soon after the event, not after 15 s")
        self.assertEqual([e["application_id"] for e in body["items"]], [app["id"]])

    def test_wait_answers_an_empty_page_after_about_wait_seconds(self):
        c = make_clinic()
        start = self.end(c.reg)
        t0 = time.monotonic()
        body = self.page(c.reg, after=start, wait=2)
        took = time.monotonic() - t0
        self.assertEqual(body, {"items": [], "next_cursor": start})
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 4.5)
        t0 = time.monotonic()
        self.page(c.reg, after=start, wait=0)
        self.assertLess(time.monotonic() - t0, 1.5, "wait=0 answers at once")

    def test_waiting_readers_do_not_starve_other_requests(self):
        c = make_clinic()
        start = self.end(c.reg)
        results = []

        def waiter():
            conn = client.new_connection(timeout=20)
            t0 = time.monotonic()
            try:
                conn.request("GET", client.full_path("/v1/events?wait=3&after=" + start),
                             headers={"Authorization": "Bearer " + c.reg})
                status = conn.getresponse().status
                results.append((status, time.monotonic() - t0 >= 2.5))
            finally:
                conn.close()

        threads = [threading.Thread(target=waiter) for _ in range(24)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        for _ in range(5):
            self.assertStatus(call("GET", "/v1/district-kinds"), 200)
        self.assertLess(time.monotonic() - t0, 1.5, "24 parked readers hold no worker thread")
        for t in threads:
            t.join(30)
        self.assertEqual(results, [(200, True)] * 24, "each waited its 3 s, then answered")


class FeedArgumentsTest(FeedCase):

    def test_limit_outside_1_to_500_is_422(self):
        for bad in ("0", "501", "x", "-1", ""):
            self.assertFieldError(feed(limit=bad), "limit")
        self.assertEqual(len(self.page(limit=1)["items"]) <= 1, True)

    def test_wait_outside_0_to_30_is_422(self):
        for bad in ("31", "-1", "1.5", "abc"):
            self.assertFieldError(feed(wait=bad), "wait")

    def test_after_must_be_a_cursor_the_service_gave(self):
        end = self.end()
        for bad in ("abc", "-1", "1e3", str(int(end) + 1000000), "99999999999999999999"):
            self.assertFieldError(feed(after=bad), "after")
        self.page(after=end)
        self.page(after="0")

    def test_items_have_the_documented_shape(self):
        c = make_clinic()
        start = self.end()
        app = self.submit(application_body(c.body))
        items, _ = self.walk(after=start)
        e = [e for e in items if e.get("application_id") == app["id"]][0]
        self.assertLessEqual({"id", "type", "at", "data", "cursor"}, set(e))
        self.assertIsInstance(e["id"], str)
        self.assertIsInstance(e["data"], dict)
        self.assertEqual(e["polyclinic_id"], c.id)


class RequestIdTest(client.ApiTestCase):

    def test_client_request_id_is_echoed_on_every_answer(self):
        rid = "req-" + client.unique()
        for method, path, token, status in (("GET", "/healthz", None, 200),
                                            ("GET", "/v1/district-kinds", ADMIN, 200),
                                            ("GET", "/v1/no-such-route", ADMIN, 404),
                                            ("GET", "/v1/events?limit=0", ADMIN, 422),
                                            ("GET", "/v1/events", None, 401),
                                            ("GET", "/v1/stats/campaigns/2026", PORTAL, 403)):
            r = call(method, path, token=token, headers={"X-Request-Id": rid})
            self.assertStatus(r, status)
            self.assertEqual(r.headers.get("X-Request-Id"), rid, path)

    def test_request_id_is_generated_when_absent_or_unfit(self):
        r = call("GET", "/healthz", token=None)
        self.assertRegex(r.headers.get("X-Request-Id") or "", GENERATED_ID)
        other = call("GET", "/healthz", token=None).headers.get("X-Request-Id")
        self.assertNotEqual(other, r.headers.get("X-Request-Id"))
        for unfit in ("x" * 201, "é"):
            r = call("GET", "/healthz", token=None,
                     headers={"X-Request-Id": unfit.encode("utf-8").decode("latin-1")})
            self.assertRegex(r.headers.get("X-Request-Id") or "", GENERATED_ID, unfit)
        r = call("GET", "/healthz", token=None, headers={"X-Request-Id": "y" * 200})
        self.assertEqual(r.headers.get("X-Request-Id"), "y" * 200)


class RequestLogTest(AppTestCase):
    """One JSON line per request in the server log (ATTACHD_LOG, set by scripts/test.sh)."""

    def setUp(self):
        self.path = os.environ.get("ATTACHD_LOG", "").strip()
        if not self.path or not os.path.exists(self.path):
            self.skipTest("needs ATTACHD_LOG, the server's log file (scripts/test.sh sets it)")

    def line_for(self, rid):
        for _ in range(40):
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for text in f:
                    if rid in text and text.startswith("{"):
                        return json.loads(text)
            time.sleep(0.05)
        raise AssertionError("no log line with request id %s in %s" % (rid, self.path))

    def test_request_line_names_the_route_template_never_the_path(self):
        c = make_clinic()
        app = self.submit(application_body(c.body))
        rid = "log-" + client.unique()
        r = call("GET", "/v1/applications/%d" % app["id"], headers={"X-Request-Id": rid})
        self.assertStatus(r, 200)
        line = self.line_for(rid)
        self.assertEqual(line["route"], "/v1/applications/{id}")
        self.assertEqual((line["method"], line["status"], line["msg"]), ("GET", 200, "request"))
        self.assertIsInstance(line["ms"], (int, float))
        self.assertEqual(line["role"], "admin")
        self.assertIsInstance(line["token"], str)
        self.assertRegex(line["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertNotIn("/v1/applications/%d" % app["id"], json.dumps(line))

    def test_no_full_iin_reaches_the_log_even_from_the_client(self):
        iin = new_person()["iin"]
        rid = "iin-" + iin
        r = call("GET", "/v1/persons/%s/attachment" % iin, headers={"X-Request-Id": rid})
        self.assertEqual(r.headers.get("X-Request-Id"), rid, "echoed as given")
        masked = "iin-" + iin[:4] + "******" + iin[-2:]
        line = self.line_for(masked)
        self.assertEqual(line["route"], "/v1/persons/{iin}/attachment")
        self.assertEqual(line["request_id"], masked)
        with open(self.path, encoding="utf-8", errors="replace") as f:
            self.assertNotIn(iin, f.read())

    def test_unknown_route_is_logged_without_a_route(self):
        rid = "nf-" + client.unique()
        self.assertStatus(call("GET", "/v1/persons/900101300017/nothing",
                               headers={"X-Request-Id": rid}), 404)
        line = self.line_for(rid)
        self.assertIsNone(line["route"])
        self.assertEqual(line["status"], 404)
        self.assertFalse(re.search(r"(^|\D)\d{12}(\D|$)", json.dumps(line)))
