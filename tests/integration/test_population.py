"""A polyclinic's attached population on a date (SPEC §11): the list (JSON pages and the streamed
CSV download), its counts by district, sex and age band, and catalogue edits that would strand
the people it holds (409 naming how many).

Attachments made through the API begin tomorrow at the earliest; those that began before today
(the imported register, SPEC §5) are written straight into the database, so most tests here need
DATABASE_URL (scripts/test.sh gives it) and are skipped without it."""

import csv
import datetime
import io
import threading
import time
import unittest

import client
from apphelpers import (AppTestCase, NO_DB, application_body, birth_date_for_age, db_available,
                        iso, make_clinic, new_person, psql, today, unique_iin)
from client import ADMIN, PORTAL, call, list_all

COLUMNS = ["iin", "last_name", "first_name", "middle_name", "birth_date", "sex", "district_id",
           "district_number", "valid_from", "valid_to"]
BANDS = ["0", "1-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44",
         "45-49", "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85+", "unknown"]
DAY = datetime.timedelta(days=1)


def seed(iin, clinic, district_id, valid_from, valid_to=None):
    """An attachment without an application (as `attachd import` loads them); returns its id."""
    out = psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to)"
               " VALUES ('%s', %d, %d, DATE '%s', %s) RETURNING id"
               % (iin, clinic.id, district_id, iso(valid_from),
                  "DATE '%s'" % iso(valid_to) if valid_to else "NULL"))
    return int(out.splitlines()[0])


def seed_many(clinic, district_id, n, valid_from):
    """n imported attachments whose IINs encode no century (7th digit 9): unknown birth date and
    sex. Unique per polyclinic: the first 6 digits are its id."""
    psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from)"
         " SELECT lpad('%d', 6, '0') || '9' || lpad((%d * 10000 + i)::text, 5, '0'), %d, %d,"
         " DATE '%s' FROM generate_series(1, %d) i"
         % (clinic.id % 10 ** 6, district_id % 10, clinic.id, district_id, iso(valid_from), n))


def attachments_path(clinic, query=""):
    return "/v1/polyclinics/%d/attachments" % clinic.id + ("?" + query if query else "")


def download_csv(test, clinic, query="", token=ADMIN):
    r = call("GET", attachments_path(clinic, query), token=token, headers={"Accept": "text/csv"})
    test.assertEqual(r.status, 200, r.body)
    test.assertEqual(r.headers.get("Content-Type"), "text/csv; charset=utf-8")
    test.assertTrue(r.body.startswith(",".join(COLUMNS) + "\r\n"), r.body[:200])
    rows = list(csv.reader(io.StringIO(r.body, newline="")))
    test.assertEqual(rows[0], COLUMNS)
    return rows[1:]


def as_csv_row(item):
    """A JSON item as its CSV line reads back: null is an empty field, numbers are text."""
    return ["" if item[c] is None else str(item[c]) for c in COLUMNS]


@unittest.skipUnless(db_available(), NO_DB)
class AttachedListTest(AppTestCase):

    def test_list_shows_who_is_attached_on_the_date_past_present_and_future(self):
        c = make_clinic(districts=(("gp", None), ("gp", None)))
        d1, d2 = c.district(0)["id"], c.district(1)["id"]
        t = today()
        current = unique_iin(birth_date_for_age(40), "female")
        ended = unique_iin(birth_date_for_age(50))
        seed(current, c, d1, t - 30 * DAY)
        seed(ended, c, d2, t - 100 * DAY, t - 10 * DAY)
        person = new_person(age=33, sex="female", last_name="O'Нұр, \"Кіші\"")
        app = self.attach(c, person=person, district_id=d2)  # begins tomorrow

        def iins(on=None):
            items = list_all(attachments_path(c, "on=" + iso(on) if on else ""))
            return sorted(i["iin"] for i in items)

        self.assertEqual(iins(), [current], "today (the default): the current one only")
        self.assertEqual(iins(t), [current])
        self.assertEqual(iins(t - 20 * DAY), sorted([current, ended]), "a past date")
        self.assertEqual(iins(t - 10 * DAY), [current], "valid_to is exclusive")
        self.assertEqual(iins(t + DAY), sorted([current, person["iin"]]), "a future date")
        self.assertEqual(iins(t - 200 * DAY), [], "before anyone")

        items = {i["iin"]: i for i in list_all(attachments_path(c, "on=" + iso(t + DAY)))}
        self.assertEqual(items[person["iin"]], {
            "iin": person["iin"], "last_name": person["last_name"],
            "first_name": person["first_name"], "middle_name": person["middle_name"],
            "birth_date": person["birth_date"], "sex": "female", "district_id": d2,
            "district_number": c.district(1)["number"], "valid_from": app["effective_on"],
            "valid_to": None}, "names, birth date and sex come from the application")

    def test_page_escapes_what_json_must_and_passes_other_characters(self):
        """The JSON page is text written in C (src/api/population.c, not jansson): a name with a
        quote, a backslash, control characters, a slash and non-ASCII letters reads back the
        same through a strict JSON parser."""
        c = make_clinic()
        app = self.submit(application_body(c.body))
        self.assertEqual(app["status"], "pending", app)
        # Stored as it stands (the API's own checks would not let some of these in).
        psql("UPDATE applications SET person = jsonb_set(person, '{last_name}', to_jsonb("
             "'Qu\"o' || chr(92) || 'b' || chr(9) || 't' || chr(10) || 'n' || chr(13) || chr(8)"
             " || chr(12) || chr(1) || chr(31) || '/Сәке ✓'::text)) WHERE id = %d" % app["id"])
        self.approved(app["id"], c.reg)
        r = call("GET", attachments_path(c, "on=" + iso(today() + DAY)))
        self.assertEqual(r.status, 200, r.body)
        # client.parse_body parses with json.loads, which (strict) refuses a raw control
        # character in a string: a dict here means each was escaped.
        self.assertIsInstance(r.body, dict, "the page parses as JSON")
        items = list_all(attachments_path(c, "on=" + iso(today() + DAY)))
        self.assertEqual([i["last_name"] for i in items],
                         ['Qu"o\\b\tt\nn\r\b\f\x01\x1f/Сәке ✓'])

    def test_imported_attachment_takes_birth_date_and_sex_from_the_iin_and_has_no_names(self):
        c = make_clinic()
        born = birth_date_for_age(61)
        iin = unique_iin(born, "female")
        seed(iin, c, c.district()["id"], today() - 5 * DAY)
        seed_many(c, c.district()["id"], 1, today() - 5 * DAY)  # an IIN with no century
        items = {i["iin"]: i for i in list_all(attachments_path(c))}
        self.assertEqual(len(items), 2)
        self.assertEqual(items[iin], {
            "iin": iin, "last_name": None, "first_name": None, "middle_name": None,
            "birth_date": iso(born), "sex": "female", "district_id": c.district()["id"],
            "district_number": c.district()["number"], "valid_from": iso(today() - 5 * DAY),
            "valid_to": None})
        unknown = [i for k, i in items.items() if k != iin][0]
        self.assertIsNone(unknown["birth_date"], "a 7th digit of 9 encodes no birth date")
        self.assertIsNone(unknown["sex"])

    def test_pages_follow_the_keyset_and_stay_stable_under_inserts(self):
        c = make_clinic(districts=(("gp", None), ("gp", None)))
        d1, d2 = c.district(0)["id"], c.district(1)["id"]
        seed_many(c, d1, 5, today() - 3 * DAY)
        seed_many(c, d2, 4, today() - 3 * DAY)
        first = self.assertJson(call("GET", attachments_path(c, "limit=6")), 200)
        self.assertEqual(len(first["items"]), 6, "the five of the first district and one more")
        self.assertIsInstance(first["next_cursor"], str)
        # Inserts after the first page: one in the district already passed, one ahead.
        passed = unique_iin(birth_date_for_age(30))
        ahead = unique_iin(birth_date_for_age(31))
        seed(passed, c, d1, today() - DAY)
        seed(ahead, c, d2, today() - DAY)
        seen = [i["iin"] for i in first["items"]]
        cursor = first["next_cursor"]
        while cursor:
            page = self.assertJson(call("GET", attachments_path(c, "limit=4&cursor=" + cursor)),
                                   200)
            seen += [i["iin"] for i in page["items"]]
            cursor = page["next_cursor"]
        self.assertEqual(len(seen), len(set(seen)), "no one twice: %r" % seen)
        self.assertEqual(len(seen), 10, "the nine, and the one inserted ahead of the cursor")
        self.assertIn(ahead, seen)
        self.assertNotIn(passed, seen, "a page boundary never moves back")
        # by district, then by when they were attached
        districts = [i["district_id"] for i in list_all(attachments_path(c))]
        self.assertEqual(districts, sorted(districts))

    def test_district_filter_keeps_one_district_and_refuses_another_polyclinics(self):
        c = make_clinic(districts=(("gp", None), ("gp", None), ("gp", None)))
        other = make_clinic()
        for i, n in ((0, 3), (1, 2), (2, 4)):
            seed_many(c, c.district(i)["id"], n, today() - 3 * DAY)
        d = c.district(1)["id"]
        items = list_all(attachments_path(c, "district_id=%d" % d), limit=1)
        self.assertEqual(len(items), 2)
        self.assertEqual({i["district_id"] for i in items}, {d})
        rows = download_csv(self, c, "district_id=%d" % d)
        self.assertEqual(rows, [as_csv_row(i) for i in items])
        self.assertFieldError(call("GET", attachments_path(
            c, "district_id=%d" % other.district()["id"])), "district_id")

    def test_page_of_another_polyclinics_district_shows_none_of_its_people(self):
        # The scope check and the page go to the database in one flight; the page read for a
        # district elsewhere must be dropped, not shown.
        c, other = make_clinic(), make_clinic()
        seed_many(other, other.district()["id"], 2, today() - DAY)
        for headers in ({}, {"Accept": "text/csv"}):
            self.assertFieldError(call("GET", attachments_path(
                c, "district_id=%d" % other.district()["id"]), headers=headers), "district_id")

    def test_bad_query_values_are_422(self):
        c = make_clinic()
        for query, field in (("limit=0", "limit"), ("limit=501", "limit"), ("limit=x", "limit"),
                             ("on=2026-02-30", "on"), ("on=tomorrow", "on"),
                             ("cursor=12", "cursor"), ("cursor=a.b", "cursor"),
                             ("district_id=0", "district_id")):
            self.assertFieldError(call("GET", attachments_path(c, query)), field)
            self.assertFieldError(call("GET", attachments_path(c, query),
                                       headers={"Accept": "text/csv"}), field)
        page = self.assertJson(call("GET", attachments_path(c, "limit=500")), 200)
        self.assertEqual(page, {"items": [], "next_cursor": None})

    def test_registrar_sees_only_its_own_polyclinic(self):
        c, other = make_clinic(), make_clinic()
        seed_many(c, c.district()["id"], 2, today() - DAY)
        self.assertEqual(len(list_all(attachments_path(c), token=c.reg)), 2)
        for path in (attachments_path(c), "/v1/polyclinics/%d/population" % c.id):
            self.assertProblem(call("GET", path, token=other.reg), 404)
            self.assertProblem(call("GET", path, token=other.reg,
                                    headers={"Accept": "text/csv"}), 404)
            self.assertProblem(call("GET", path, token=PORTAL), 403)
        self.assertProblem(call("GET", "/v1/polyclinics/999999999/attachments"), 404)
        self.assertProblem(call("GET", "/v1/polyclinics/999999999/population"), 404)

    def test_csv_is_the_whole_list_the_json_pages_show(self):
        c = make_clinic(districts=(("gp", None), ("gp", None)))
        # more than one page of the download (it reads the list 2000 rows at a time)
        seed_many(c, c.district(0)["id"], 1500, today() - 3 * DAY)
        seed_many(c, c.district(1)["id"], 1100, today() - 3 * DAY)
        p = new_person(last_name='Нұр, "Кіші"')
        self.attach(c, person=p)
        on = "on=" + iso(today() + DAY)
        items = list_all(attachments_path(c, on), limit=500)
        self.assertEqual(len(items), 2601)
        rows = download_csv(self, c, on, token=c.reg)
        self.assertEqual(rows, [as_csv_row(i) for i in items])
        quoted = [r for r in rows if r[0] == p["iin"]][0]
        self.assertEqual(quoted[1], 'Нұр, "Кіші"', "RFC 4180 quoting round-trips")
        self.assertEqual(len(download_csv(self, c)), 2600, "today: the one joining tomorrow "
                                                         "is not there yet")


@unittest.skipUnless(db_available(), NO_DB)
class PopulationCountsTest(AppTestCase):

    def population(self, c, query="", token=ADMIN):
        path = "/v1/polyclinics/%d/population" % c.id + ("?" + query if query else "")
        return self.assertJson(call("GET", path, token=token), 200)

    def test_counts_by_district_sex_and_age_band_sum_to_the_list(self):
        c = make_clinic(districts=(("gp", None), ("pediatric_0_14", None), ("therapist", None)))
        gp, ped, ther = (c.district(i)["id"] for i in range(3))
        t = today()
        # ages on today, each a known band
        people = [(0, "male", ped, "0"), (3, "female", ped, "1-4"), (14, "male", ped, "10-14"),
                  (42, "female", gp, "40-44"), (85, "male", ther, "85+"), (99, "female", ther,
                                                                           "85+"),
                  (20, "male", ther, "20-24")]
        for age, sex, district, _ in people:
            seed(unique_iin(birth_date_for_age(age), sex), c, district, t - 2 * DAY)
        seed_many(c, gp, 2, t - 2 * DAY)  # unknown birth date and sex
        seed(unique_iin(birth_date_for_age(30)), c, gp, t - 50 * DAY, t - 5 * DAY)  # left
        joining = self.attach(c, person=new_person(age=50, sex="female"), district_id=gp)

        got = self.population(c)
        self.assertEqual(got["polyclinic_id"], c.id)
        self.assertEqual(got["on"], iso(t))
        self.assertEqual(got["total"], 9)
        self.assertEqual(got["total"], len(list_all(attachments_path(c))))
        self.assertEqual(list(got["by_age_band"]), BANDS, "every band, in order")
        want_bands = dict.fromkeys(BANDS, 0)
        for _, _, _, band in people:
            want_bands[band] += 1
        want_bands["unknown"] = 2
        self.assertEqual(got["by_age_band"], want_bands)
        self.assertEqual(got["by_sex"], {"male": 4, "female": 3, "unknown": 2})
        self.assertEqual([(d["district_id"], d["attached"]) for d in got["by_district"]],
                         [(gp, 3), (ped, 3), (ther, 3)])
        self.assertEqual(sum(d["attached"] for d in got["by_district"]), got["total"])
        self.assertEqual(sum(got["by_sex"].values()), got["total"])
        self.assertEqual(sum(got["by_age_band"].values()), got["total"])

        # tomorrow the one approved today has joined; a past date counts those who left since
        tomorrow = self.population(c, "on=" + iso(t + DAY), token=c.reg)
        self.assertEqual(tomorrow["total"], 10)
        self.assertEqual(tomorrow["by_age_band"]["50-54"], 1, joining)
        past = self.population(c, "on=" + iso(t - 10 * DAY))
        self.assertEqual(past["total"], 1)
        self.assertEqual(past["total"], len(list_all(attachments_path(c, "on=" + iso(
            t - 10 * DAY)))))

    def test_age_is_counted_on_the_date_asked(self):
        c = make_clinic()
        t = today()
        born = client.birth_date_for_age(5, days_past_birthday=-10)  # 4 today, 5 in ten days
        seed(unique_iin(born), c, c.district()["id"], t - DAY)
        self.assertEqual(self.population(c)["by_age_band"]["1-4"], 1)
        self.assertEqual(self.population(c, "on=" + iso(t + 10 * DAY))["by_age_band"]["5-9"], 1)

    def test_bad_date_is_422(self):
        c = make_clinic()
        self.assertFieldError(call("GET", "/v1/polyclinics/%d/population?on=2025-13-01" % c.id),
                              "on")


@unittest.skipUnless(db_available(), NO_DB)
class CatalogueEditsTest(AppTestCase):
    """Catalogue edits never strand people (SPEC §11): 409 with `affected`, nothing changed."""

    def assertStrands(self, r, affected):
        problem = self.assertProblem(r, 409)
        self.assertEqual(problem.get("affected"), affected, problem)

    def test_district_kind_change_that_would_strand_people_is_409_naming_how_many(self):
        c = make_clinic()
        d = c.district()
        t = today()
        for age in (30, 45):
            seed(unique_iin(birth_date_for_age(age)), c, d["id"], t - 10 * DAY)
        seed(unique_iin(birth_date_for_age(10)), c, d["id"], t - 10 * DAY)
        # one who left: not counted
        seed(unique_iin(birth_date_for_age(50)), c, d["id"], t - 100 * DAY, t - DAY)
        path = "/v1/districts/%d" % d["id"]
        self.assertStrands(call("PATCH", path, {"kind": "pediatric_0_14", "capacity": 900}), 2)
        self.assertStrands(call("PATCH", path, {"kind": "therapist"}), 1)
        self.assertEqual(self.assertJson(call("GET", path), 200)["kind"], "gp", "nothing changed")
        self.assertJson(call("PATCH", path, {"kind": "gp", "number": d["number"]}), 200)

    def test_upcoming_attachment_is_judged_by_age_on_its_first_day(self):
        c = make_clinic()
        d = c.district()
        t = today()
        turns_seven = client.birth_date_for_age(7, days_past_birthday=-10)  # 7 in ten days
        turns_seven_later = client.birth_date_for_age(7, days_past_birthday=-100)
        seed(unique_iin(turns_seven), c, d["id"], t + 20 * DAY)  # joins at 7
        seed(unique_iin(turns_seven_later), c, d["id"], t - 20 * DAY)  # 6 now: fits today
        path = "/v1/districts/%d" % d["id"]
        self.assertStrands(call("PATCH", path, {"kind": "pediatric_0_6", "capacity": 500}), 1)
        self.assertEqual(self.assertJson(call("GET", path), 200)["kind"], "gp")

    def test_district_kind_change_that_fits_everyone_is_allowed(self):
        c = make_clinic()
        d = c.district()
        seed(unique_iin(birth_date_for_age(40)), c, d["id"], today() - DAY)
        got = self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"], {"kind": "therapist"}),
                              200)
        self.assertEqual(got["kind"], "therapist")

    def test_polyclinic_move_to_another_settlement_while_people_are_attached_is_409(self):
        c = make_clinic()
        elsewhere = client.new_settlement()
        t = today()
        seed(unique_iin(birth_date_for_age(30)), c, c.district()["id"], t - DAY)
        self.attach(c)  # approved to join tomorrow: counted too
        path = "/v1/polyclinics/%d" % c.id
        self.assertStrands(call("PATCH", path, {"settlement": elsewhere}), 2)
        self.assertEqual(self.assertJson(call("GET", path), 200)["settlement"], c.kato)
        # staying where it is, or editing anything else, is fine
        self.assertJson(call("PATCH", path, {"settlement": c.kato, "address": "жаңа мекенжай"}),
                        200)

    def test_polyclinic_without_live_attachments_may_move(self):
        c = make_clinic()
        elsewhere = client.new_settlement()
        seed(unique_iin(birth_date_for_age(30)), c, c.district()["id"], today() - 90 * DAY,
             today() - 30 * DAY)  # left a month ago
        got = self.assertJson(call("PATCH", "/v1/polyclinics/%d" % c.id,
                                   {"settlement": elsewhere}), 200)
        self.assertEqual(got["settlement"], elsewhere)

    def racing_attachment(self, clinic, district_id, age):
        """In another session: locks the district row as an approval does, waits a moment, then
        attaches someone of `age` there and commits. Returns the thread (join it)."""
        iin = unique_iin(birth_date_for_age(age))
        sql = ("BEGIN; SELECT 1 FROM districts WHERE id = %d FOR UPDATE; SELECT pg_sleep(0.8);"
               " INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from)"
               " VALUES ('%s', %d, %d, DATE '%s'); COMMIT;"
               % (district_id, iin, clinic.id, district_id, iso(today() - DAY)))
        th = threading.Thread(target=psql, args=(sql,))
        th.start()
        time.sleep(0.3)  # the lock is taken
        return th

    def test_kind_change_waits_for_a_racing_approval_and_counts_it(self):
        c = make_clinic()
        d = c.district()
        th = self.racing_attachment(c, d["id"], 40)
        r = call("PATCH", "/v1/districts/%d" % d["id"], {"kind": "pediatric_0_14",
                                                         "capacity": 900})
        th.join()
        self.assertStrands(r, 1)
        self.assertEqual(self.assertJson(call("GET", "/v1/districts/%d" % d["id"]), 200)["kind"],
                         "gp")

    def test_settlement_move_waits_for_a_racing_approval_and_counts_it(self):
        c = make_clinic(districts=(("gp", None), ("gp", None)))
        th = self.racing_attachment(c, c.district(1)["id"], 40)
        r = call("PATCH", "/v1/polyclinics/%d" % c.id, {"settlement": client.new_settlement()})
        th.join()
        self.assertStrands(r, 1)

    def test_closing_a_district_stops_new_attachments_only(self):
        c = make_clinic(districts=(("gp", None), ("gp", None)))
        closed, other = c.district(0)["id"], c.district(1)["id"]
        here = unique_iin(birth_date_for_age(30))
        seed(here, c, closed, today() - DAY)
        self.assertJson(call("PATCH", "/v1/districts/%d" % closed, {"open": False}), 200)
        self.assertIn(here, [i["iin"] for i in list_all(attachments_path(c))],
                      "the people there stay attached")
        app = self.attach(c, district_id=closed)
        self.assertEqual(app["district_id"], other, "a closed district takes no one new")
        self.assertEqual(len(list_all(attachments_path(c, "district_id=%d&on=%s" % (
            closed, iso(today() + DAY))))), 1)
