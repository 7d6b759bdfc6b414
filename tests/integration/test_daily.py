"""The daily run (SPEC §11 "Children ageing out", "The daily run", "EAEU insurance"; §12 events):
POST /v1/maintenance/daily and `attachd daily`, GET /v1/polyclinics/{id}/age-outs,
PUT /v1/persons/{iin}/insurance.

Every run here is for a date D in the future (tomorrow or later) with birth dates and contract
dates chosen relative to D, and limited to the test's own polyclinic (`polyclinic_id`), so the
tests depend neither on today's date nor on what other tests left in the database. People are
attached through the API (approved relocations, which begin tomorrow); the database is read
directly (psql) only for events, which have no read route on this branch."""

import datetime
import json
import os
import subprocess
import threading
import unittest

import client
from apphelpers import (ONE_DAY, AppTestCase, application_body, db_available, iso, make_clinic,
                        new_person, psql, today, unique_iin)
from client import ADMIN, PORTAL, call, list_all

ZERO = {"aged_out": 0, "unplaced": 0, "lapsed": 0, "started": 0, "ended": 0}


def day(n):
    """Today + n days, never a 29 February (birth dates are D minus whole years)."""
    d = today() + datetime.timedelta(days=n)
    return d + ONE_DAY if (d.month, d.day) == (2, 29) else d


def years_before(d, years):
    return d.replace(year=d.year - years)


def daily(on, clinic, token=ADMIN):
    return call("POST", "/v1/maintenance/daily", {"on": iso(on), "polyclinic_id": clinic.id},
                token=token)


def cli_daily(on, clinic):
    """`attachd daily --on D --polyclinic ID`: (exit status, stdout)."""
    r = subprocess.run([os.environ["ATTACHD_BIN"], "daily", "--on", iso(on), "--polyclinic",
                        str(clinic.id)], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout


def has_cli():
    return bool(os.environ.get("ATTACHD_BIN")) and bool(os.environ.get("DATABASE_URL"))


def attachment_on(iin, on):
    r = call("GET", "/v1/persons/%s/attachment?on=%s" % (iin, iso(on)))
    if r.status != 200:
        raise AssertionError("GET attachment of a test person: %d %r" % (r.status, r.body))
    return r.body["attachment"]


def history(iin):
    return list_all("/v1/persons/%s/attachments" % iin)


def events_of(iin, type_):
    """The data of iin's events of that type, oldest first (empty when psql is not at hand)."""
    if not db_available():
        return None
    out = psql("SELECT coalesce(json_agg(data ORDER BY id), '[]') FROM events"
               " WHERE iin = '%s' AND type = '%s'" % (iin, type_))
    return json.loads(out)


class DailyTestCase(AppTestCase):

    def run_daily(self, on, clinic, expect=None):
        body = self.assertJson(daily(on, clinic), 200)
        self.assertEqual(body["on"], iso(on), body)
        for k in ZERO:
            self.assertIsInstance(body.get(k), int, body)
        if expect is not None:
            self.assertEqual({k: body[k] for k in ZERO}, dict(ZERO, **expect), body)
        return body

    def child(self, clinic, district, birthday_on, years, **fields):
        """A child attached (from tomorrow) to `district` who turns `years` on `birthday_on`."""
        bd = years_before(birthday_on, years)
        person = new_person(birth_date=bd, iin=unique_iin(bd))
        self.attach(clinic, person=person, district_id=district["id"], **fields)
        return person["iin"]


# ----------------------------------------------------------------------------------------------
# Children ageing out
# ----------------------------------------------------------------------------------------------

class AgeOutTest(DailyTestCase):

    def test_child_turning_7_moves_to_pediatric_0_14_with_room_and_second_run_changes_nothing(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("pediatric_0_14", 10, "2"),
                              ("gp", 100, "3")))
        p06, p14 = clinic.district(0), clinic.district(1)
        d = day(20)
        iin = self.child(clinic, p06, d, 7)
        self.assertEqual(attachment_on(iin, d - ONE_DAY)["district_id"], p06["id"])
        # the new attachment starts and the old one ends on D: one event of each
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        now = attachment_on(iin, d)
        self.assertEqual(now["district_id"], p14["id"], now)
        self.assertEqual(now["valid_from"], iso(d), now)
        old = [a for a in history(iin) if a["district_id"] == p06["id"]]
        self.assertEqual(len(old), 1, old)
        self.assertEqual(old[0]["valid_to"], iso(d), "the old attachment ends on D")
        moves = [t for t in list_all("/v1/polyclinics/%d/transfers" % clinic.id)
                 if t["iin"] == iin and t["grounds"] == "age_out"]
        self.assertEqual(len(moves), 1, moves)
        self.assertEqual(moves[0]["from"], {"polyclinic_id": clinic.id, "district_id": p06["id"]})
        self.assertEqual(moves[0]["to"], {"polyclinic_id": clinic.id, "district_id": p14["id"]})
        self.assertEqual(moves[0]["effective_on"], iso(d))
        ev = events_of(iin, "child.aged_out")
        if ev is not None:
            self.assertEqual(len(ev), 1, ev)
            self.assertEqual((ev[0]["from_district_id"], ev[0]["to_district_id"]),
                             (p06["id"], p14["id"]), ev)
        # idempotent: nothing left to do for D
        self.run_daily(d, clinic, ZERO)
        self.assertEqual(len(history(iin)), 2)
        if ev is not None:
            self.assertEqual(len(events_of(iin, "child.aged_out")), 1)

    def test_child_turning_7_goes_to_gp_when_pediatric_0_14_is_full(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("pediatric_0_14", 1, "2"),
                              ("gp", 100, "3")))
        p06, p14, gp = clinic.district(0), clinic.district(1), clinic.district(2)
        d = day(21)
        self.child(clinic, p14, d, 9)  # takes the only place of pediatric_0_14
        iin = self.child(clinic, p06, d, 7)
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        self.assertEqual(attachment_on(iin, d)["district_id"], gp["id"])

    def test_fifteen_year_old_moves_to_gp_or_therapist_with_most_room(self):
        clinic = make_clinic((("pediatric_0_14", 10, "1"), ("gp", 3, "2"),
                              ("therapist", 50, "3"), ("pediatric_0_14", 100, "4")))
        p14, therapist = clinic.district(0), clinic.district(2)
        d = day(22)
        iin = self.child(clinic, p14, d, 15)
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        self.assertEqual(attachment_on(iin, d)["district_id"], therapist["id"],
                         "from 15 never pediatric; the fitting district with most free places")

    def test_overdue_child_is_caught_up_effective_the_run_date(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("gp", 100, "2")))
        p06, gp = clinic.district(0), clinic.district(1)
        birthday = day(15)
        iin = self.child(clinic, p06, birthday, 7)
        d = birthday + datetime.timedelta(days=9)  # no run happened on the birthday
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        now = attachment_on(iin, d)
        self.assertEqual((now["district_id"], now["valid_from"]), (gp["id"], iso(d)))
        self.assertEqual(attachment_on(iin, d - ONE_DAY)["district_id"], p06["id"])

    def test_child_who_still_fits_stays(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("gp", 100, "2")))
        d = day(23)
        iin = self.child(clinic, clinic.district(0), d + ONE_DAY, 7)  # turns 7 the day after D
        self.run_daily(d, clinic, {"started": 0})
        self.assertEqual(attachment_on(iin, d)["district_id"], clinic.district(0)["id"])

    def test_family_members_district_is_preferred(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("gp", 100, "1g"),
                              ("gp", 100, "2g")))
        p06, gp1, gp2 = clinic.district(0), clinic.district(1), clinic.district(2)
        d = day(24)
        mother = new_person(age=33, sex="female")
        self.attach(clinic, person=mother, district_id=gp2["id"])
        # gp 1g has more room (2g holds the mother): only the family rule picks 2g
        iin = self.child(clinic, p06, d, 7, family_iins=[mother["iin"]])
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        self.assertEqual(attachment_on(iin, d)["district_id"], gp2["id"])

    def test_unplaced_child_stays_is_listed_counted_and_placed_once_there_is_room(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"),))
        other = make_clinic((("gp", 10, "1"),), kato=clinic.kato)
        p06 = clinic.district(0)
        d = day(25)
        iin = self.child(clinic, p06, d, 7)
        self.run_daily(d, clinic, {"unplaced": 1})
        self.assertEqual(attachment_on(iin, d)["district_id"], p06["id"], "stays where it is")
        items = list_all("/v1/polyclinics/%d/age-outs" % clinic.id, token=clinic.reg)
        self.assertEqual(len(items), 1, items)
        item = items[0]
        self.assertEqual(item["iin"], iin)
        self.assertEqual(item["district_id"], p06["id"])
        self.assertEqual(item["district_number"], "1")
        self.assertEqual(item["birth_date"], iso(years_before(d, 7)))
        self.assertEqual(item["overdue_since"], iso(d))
        self.assertIsInstance(item["last_name"], str)
        # registrars see only their own; admin sees any
        self.assertProblem(call("GET", "/v1/polyclinics/%d/age-outs" % clinic.id,
                                token=other.reg), 404)
        self.assertEqual(len(list_all("/v1/polyclinics/%d/age-outs" % clinic.id)), 1)
        self.assertEqual(list_all("/v1/polyclinics/%d/age-outs" % other.id, token=other.reg), [])
        metrics = call("GET", "/metrics", token=None).body
        line = [ln for ln in metrics.splitlines() if ln.startswith("attachd_age_outs_unplaced ")]
        self.assertEqual(len(line), 1, "the unplaced age-outs gauge")
        self.assertGreaterEqual(int(line[0].split()[1]), 1)
        # a second run for D finds the same child unplaced: nothing new, counts 0
        self.run_daily(d, clinic, ZERO)
        # room appears: the next run places the child, and the list empties
        gp = client.new_district(clinic.id, "gp", capacity=5, number="9")
        self.run_daily(d, clinic, {"aged_out": 1, "started": 1, "ended": 1})
        self.assertEqual(attachment_on(iin, d)["district_id"], gp["id"])
        self.assertEqual(list_all("/v1/polyclinics/%d/age-outs" % clinic.id), [])

    @unittest.skipUnless(db_available(), "needs DATABASE_URL to seed imported attachments")
    def test_imported_child_is_judged_by_the_birth_date_in_the_iin(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"),))
        p06 = clinic.district(0)
        d = day(26)
        bd = years_before(d, 8)
        iin = unique_iin(bd)
        psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from)"
             " VALUES ('%s', %d, %d, DATE '%s')" % (iin, clinic.id, p06["id"], iso(today())))
        self.run_daily(d, clinic, {"unplaced": 1})
        items = list_all("/v1/polyclinics/%d/age-outs" % clinic.id)
        self.assertEqual([(i["iin"], i["birth_date"], i["overdue_since"], i["last_name"])
                          for i in items],
                         [(iin, iso(bd), iso(years_before(d, 1)), None)])

    @unittest.skipUnless(db_available(), "needs DATABASE_URL to seed imported attachments")
    def test_imported_child_whose_iin_gives_no_birth_date_is_skipped(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("gp", 10, "2")))
        d = day(26)
        # 7th digit 0: no century, so no birth date
        iin = "1001010%05d" % client._rng.randrange(10 ** 5)
        psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from)"
             " VALUES ('%s', %d, %d, DATE '%s')"
             % (iin, clinic.id, clinic.district(0)["id"], iso(today())))
        self.run_daily(d, clinic, ZERO)
        self.assertEqual(list_all("/v1/polyclinics/%d/age-outs" % clinic.id), [])
        self.assertEqual(attachment_on(iin, d)["district_id"], clinic.district(0)["id"])

    def test_parallel_runs_move_each_child_once(self):
        clinic = make_clinic((("pediatric_0_6", 20, "1"), ("pediatric_0_14", 20, "2")))
        d = day(27)
        iins = [self.child(clinic, clinic.district(0), d, 7) for _ in range(6)]
        results, errors = [], []

        def http_run():
            try:
                r = daily(d, clinic)
                results.append(r.body if r.status == 200 else ("http", r.status, r.body))
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)

        def cli_run():
            rc, out = cli_daily(d, clinic)
            results.append(json.loads(out) if rc == 0 else ("cli", rc, out))

        runs = [http_run, http_run, http_run] + ([cli_run, cli_run] if has_cli() else [])
        threads = [threading.Thread(target=f) for f in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for r in results:
            self.assertIsInstance(r, dict, "every run succeeds: %r" % (r,))
        self.assertEqual(sum(r["aged_out"] for r in results), 6, results)
        self.assertEqual(sum(r["started"] for r in results), 6, results)
        self.assertEqual(sum(r["ended"] for r in results), 6, results)
        for iin in iins:
            self.assertEqual(len(history(iin)), 2, "moved exactly once")
            self.assertEqual(attachment_on(iin, d)["district_id"], clinic.district(1)["id"])

    def test_age_outs_racing_approvals_never_exceed_capacity(self):
        clinic = make_clinic((("pediatric_0_6", 30, "1"), ("gp", 5, "2")))
        gp = clinic.district(1)
        d = day(28)
        for _ in range(6):
            self.child(clinic, clinic.district(0), d, 7)
        pending = [self.submit(application_body(clinic.body))["id"] for _ in range(6)]
        outcomes = []

        def approve(app_id):
            outcomes.append(self.approve(app_id, clinic.reg).status)

        threads = [threading.Thread(target=approve, args=(a,)) for a in pending]
        threads.append(threading.Thread(target=lambda: outcomes.append(daily(d, clinic).status)))
        if has_cli():
            threads.append(threading.Thread(target=lambda: outcomes.append(
                200 if cli_daily(d, clinic)[0] == 0 else 500)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(set(outcomes), {200}, outcomes)
        load = self.assertJson(call("GET", "/v1/districts/%d" % gp["id"]), 200)
        self.assertLessEqual(load["load"], 5, load)
        self.assertEqual(load["load"], 5, "every place is taken by someone")
        if db_available():
            held = int(psql("SELECT count(*) FROM attachments WHERE district_id = %d AND NOT"
                            " cancelled AND valid_from <= DATE '%s' AND (valid_to IS NULL OR"
                            " valid_to > DATE '%s')" % (gp["id"], iso(d), iso(d))))
            self.assertLessEqual(held, 5)
        # the children left over are waiting, not lost
        waiting = list_all("/v1/polyclinics/%d/age-outs" % clinic.id)
        moved = sum(1 for t in list_all("/v1/polyclinics/%d/transfers" % clinic.id)
                    if t["grounds"] == "age_out")
        self.assertEqual(moved + len(waiting), 6)


# ----------------------------------------------------------------------------------------------
# EAEU insurance
# ----------------------------------------------------------------------------------------------

class EaeuLapseTest(DailyTestCase):

    def migrant(self, clinic, valid_until):
        person = new_person(residency="eaeu_migrant",
                            insurance_contract={"number": "ОСМС-" + client.unique(),
                                                "valid_until": iso(valid_until)})
        self.attach(clinic, person=person)
        return person["iin"]

    def put_insurance(self, iin, valid_until, token=PORTAL):
        return call("PUT", "/v1/persons/%s/insurance" % iin,
                    {"number": "ОСМС-" + client.unique(), "valid_until": iso(valid_until)},
                    token=token)

    def test_attachment_lapses_the_day_after_valid_until(self):
        clinic = make_clinic()
        until = day(10)
        iin = self.migrant(clinic, until)
        d = day(12)
        self.run_daily(d, clinic, {"lapsed": 1})
        att = history(iin)[0]
        self.assertEqual(att["valid_to"], iso(until + ONE_DAY), att)
        self.assertIsNotNone(attachment_on(iin, until))
        self.assertIsNone(attachment_on(iin, until + ONE_DAY))
        ev = events_of(iin, "attachment.ended")
        if ev is not None:
            self.assertEqual(len(ev), 1, ev)
            self.assertEqual(ev[0]["valid_to"], iso(until + ONE_DAY))
        self.run_daily(d, clinic, ZERO)
        # the run for the day it ended writes no second attachment.ended
        self.run_daily(until + ONE_DAY, clinic, ZERO)

    def test_contract_still_valid_on_the_run_date_keeps_the_attachment(self):
        clinic = make_clinic()
        iin = self.migrant(clinic, day(10))
        self.run_daily(day(10), clinic, {"lapsed": 0})
        self.assertIsNone(history(iin)[0]["valid_to"])

    def test_renewal_recorded_before_the_date_keeps_the_attachment(self):
        clinic = make_clinic()
        iin = self.migrant(clinic, day(10))
        body = self.assertJson(self.put_insurance(iin, day(400)), 200)
        self.assertEqual(body["iin"], iin)
        self.assertEqual(body["insurance_contract"]["valid_until"], iso(day(400)))
        self.assertIsInstance(body["insurance_contract"]["number"], str)
        self.assertEqual(body["upcoming"]["valid_to"], None, body)
        self.run_daily(day(12), clinic, {"lapsed": 0})
        self.assertIsNone(history(iin)[0]["valid_to"])
        self.assertIsNotNone(attachment_on(iin, day(300)))
        # ... until the renewed contract runs out too
        self.run_daily(day(402), clinic, {"lapsed": 1})
        self.assertEqual(history(iin)[0]["valid_to"], iso(day(401)))

    def test_lapsed_attachment_is_not_revived_by_a_later_renewal(self):
        clinic = make_clinic()
        iin = self.migrant(clinic, day(10))
        self.run_daily(day(12), clinic, {"lapsed": 1})
        self.assertJson(self.put_insurance(iin, day(400), token=ADMIN), 200)
        self.run_daily(day(13), clinic, {"lapsed": 0})
        self.assertEqual(history(iin)[0]["valid_to"], iso(day(11)))
        self.assertIsNone(attachment_on(iin, day(100)))

    def test_citizen_is_never_lapsed(self):
        clinic = make_clinic()
        person = new_person(insurance_contract={"number": "X", "valid_until": iso(day(5))})
        self.attach(clinic, person=person)
        self.run_daily(day(30), clinic, {"lapsed": 0})
        self.assertIsNone(history(person["iin"])[0]["valid_to"])

    def test_insurance_put_rejects_bad_bodies_and_unknown_people(self):
        clinic = make_clinic()
        iin = self.migrant(clinic, day(10))
        path = "/v1/persons/%s/insurance" % iin
        for body, field in (({"valid_until": iso(day(30))}, "number"),
                            ({"number": "N"}, "valid_until"),
                            ({"number": "", "valid_until": iso(day(30))}, "number"),
                            ({"number": "N" * 65, "valid_until": iso(day(30))}, "number"),
                            ({"number": "N", "valid_until": "2027-02-30"}, "valid_until"),
                            ({"number": "N", "valid_until": "tomorrow"}, "valid_until"),
                            ({"number": 5, "valid_until": iso(day(30))}, "number"),
                            ({"number": "N", "valid_until": iso(day(30)), "x": 1}, "x")):
            self.assertFieldError(call("PUT", path, body, token=PORTAL), field)
        self.assertProblem(call("PUT", path, raw="[1]", token=PORTAL), 422)
        self.assertProblem(call("PUT", path, raw="{", token=PORTAL), 400)
        self.assertFieldError(call("PUT", "/v1/persons/12345/insurance",
                                   {"number": "N", "valid_until": iso(day(30))}), "iin")
        self.assertProblem(self.put_insurance(unique_iin(years_before(today(), 30)), day(30)),
                           404)
        self.assertProblem(self.put_insurance(iin, day(30), token=clinic.reg), 403)
        # none of those recorded anything
        self.run_daily(day(12), clinic, {"lapsed": 1})


# ----------------------------------------------------------------------------------------------
# The run itself: requests, access, CLI, events
# ----------------------------------------------------------------------------------------------

class DailyRunTest(DailyTestCase):

    def test_bad_bodies_are_422(self):
        for body, field in (({"on": "2027-13-01"}, "on"), ({"on": 20270101}, "on"),
                            ({"on": "2027-1-1"}, "on"), ({"polyclinic_id": 0}, "polyclinic_id"),
                            ({"polyclinic_id": "1"}, "polyclinic_id"),
                            ({"polyclinic_id": 2 ** 62}, "polyclinic_id"),
                            ({"on": iso(day(3)), "when": "now"}, "when")):
            self.assertFieldError(call("POST", "/v1/maintenance/daily", body), field)
        self.assertProblem(call("POST", "/v1/maintenance/daily", raw="[]"), 422)
        self.assertProblem(call("POST", "/v1/maintenance/daily", raw="{"), 400)
        self.assertProblem(call("POST", "/v1/maintenance/daily", raw="{}",
                                headers={"Content-Type": "text/plain"}), 415)

    def test_only_admin_runs_it(self):
        clinic = make_clinic()
        self.assertProblem(daily(day(3), clinic, token=PORTAL), 403)
        self.assertProblem(daily(day(3), clinic, token=clinic.reg), 403)
        self.assertProblem(daily(day(3), clinic, token=None), 401)

    def test_started_events_are_written_once_for_the_first_day(self):
        clinic = make_clinic()
        self.attach(clinic)
        self.attach(clinic)
        first = today() + ONE_DAY
        self.run_daily(first, clinic, {"started": 2})
        self.run_daily(first, clinic, ZERO)

    def test_ended_event_of_an_attachment_moved_elsewhere(self):
        a, b = make_clinic(), make_clinic()
        person = new_person()
        self.attach(a, person=person)
        tomorrow = today() + ONE_DAY
        self.run_daily(tomorrow, a, {"started": 1})
        if not db_available():
            self.skipTest("needs DATABASE_URL to end an attachment on a chosen day")
        end = day(40)
        psql("UPDATE attachments SET valid_to = DATE '%s' WHERE iin = '%s'"
             % (iso(end), person["iin"]))
        self.run_daily(end, a, {"ended": 1})
        self.run_daily(end, a, ZERO)
        self.run_daily(end, b, ZERO)
        ev = events_of(person["iin"], "attachment.ended")
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["valid_to"], iso(end))

    @unittest.skipUnless(has_cli(), "needs ATTACHD_BIN and DATABASE_URL")
    def test_cli_prints_the_counts_and_exits_0(self):
        clinic = make_clinic((("pediatric_0_6", 10, "1"), ("gp", 10, "2")))
        d = day(31)
        self.child(clinic, clinic.district(0), d, 7)
        rc, out = cli_daily(d, clinic)
        self.assertEqual(rc, 0, out)
        self.assertEqual(json.loads(out), {"on": iso(d), "aged_out": 1, "unplaced": 0,
                                           "lapsed": 0, "started": 1, "ended": 1})
        self.assertEqual(cli_daily(d, clinic), (0, json.dumps(dict({"on": iso(d)}, **ZERO),
                                                              separators=(",", ":")) + "\n"))
        bad = subprocess.run([os.environ["ATTACHD_BIN"], "daily", "--on", "2027-02-30"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(bad.returncode, 2)
        env = dict(os.environ, DATABASE_URL="host=127.0.0.1 port=1 dbname=none connect_timeout=2")
        down = subprocess.run([os.environ["ATTACHD_BIN"], "daily"], capture_output=True,
                              text=True, timeout=60, env=env)
        self.assertEqual(down.returncode, 3, down.stderr)
        self.assertEqual(down.stdout, "")
