"""The reports the ministry publishes (SPEC §12): campaign counts narrowed by settlement and
polyclinic, transfers by ownership as on the day of approval, people who used their right of
choice, the attached population per settlement and polyclinic, each as JSON or CSV.

A move away from an attachment that has begun needs one written straight into the database
(the imported register), so those tests need DATABASE_URL and are skipped without it."""

import csv
import datetime
import io
import unittest

import client
from apphelpers import (OwnCampaignCase, AppTestCase, NO_DB, application_body,
                        birth_date_for_age, db_available, iso, make_clinic, new_person, psql,
                        seed_current_attachment, today, unique_iin)
from client import PORTAL, call

DAY = datetime.timedelta(days=1)


def read_csv(test, r):
    test.assertEqual(r.status, 200, r.body)
    test.assertEqual(r.headers.get("Content-Type"), "text/csv; charset=utf-8")
    return list(csv.reader(io.StringIO(r.body, newline="")))


@unittest.skipUnless(db_available(), NO_DB)
class CampaignReportTest(OwnCampaignCase):
    """A campaign year of this class's own, open while it runs."""

    MAX_CHANGES = 3

    def stats(self, query=""):
        path = "/v1/stats/campaigns/%d" % self.year + ("?" + query if query else "")
        return self.assertJson(call("GET", path), 200)

    def move(self, src, dst, grounds="campaign"):
        """Someone attached to src (begun) moves to dst; returns the approved application."""
        p = new_person()
        seed_current_attachment(p["iin"], src.id, src.district()["id"])
        app = self.submit(application_body(dst.body, person=p, grounds=grounds))
        return self.approved(app["id"], dst.reg)

    def test_counts_are_narrowed_by_settlement_and_polyclinic(self):
        k1, k2 = client.new_settlement(), client.new_settlement()
        a1 = make_clinic(kato=k1, ownership="public")
        b1 = make_clinic(kato=k1, ownership="private")
        a2 = make_clinic(kato=k2, ownership="public")
        # k1: two campaign choices approved (one a move public -> private), one pending
        self.move(a1, b1)
        self.attach(a1, grounds="campaign")
        self.submit_pending(application_body(b1.body, grounds="campaign"))
        # k2: a relocation (not a choice in the campaign), a refusal
        self.attach(a2)
        self.submit_refused(application_body(a2.body, person=new_person(
            residency="temporary_foreigner")), "NOT_ELIGIBLE")

        s1 = self.stats("settlement=" + k1)
        self.assertEqual((s1["year"], s1["settlement"], s1["polyclinic_id"]), (self.year, k1, None))
        self.assertEqual(s1["applications"]["total"], 3)
        self.assertEqual(s1["applications"]["by_status"],
                         {"pending": 1, "approved": 2, "refused": 0, "withdrawn": 0})
        self.assertEqual(s1["applications"]["used_right_of_choice"], 2)
        self.assertEqual(s1["applications"]["by_grounds"]["campaign"], 3)
        self.assertEqual(s1["transfers"]["total"], 2)
        self.assertEqual(s1["transfers"]["by_ownership"]["public_to_private"], 1)
        self.assertEqual(s1["transfers"]["by_ownership"]["none_to_public"], 1)

        s2 = self.stats("settlement=" + k2)
        self.assertEqual(s2["applications"]["total"], 2)
        self.assertEqual(s2["applications"]["used_right_of_choice"], 0)
        self.assertEqual(s2["applications"]["by_refusal_reason"]["NOT_ELIGIBLE"], 1)
        self.assertEqual(s2["transfers"]["by_ownership"]["none_to_public"], 1)

        only_b1 = self.stats("polyclinic_id=%d" % b1.id)
        self.assertEqual(only_b1["polyclinic_id"], b1.id)
        self.assertEqual(only_b1["applications"]["total"], 2)
        self.assertEqual(only_b1["applications"]["used_right_of_choice"], 1)
        self.assertEqual(only_b1["transfers"]["total"], 1, "a move counts at both ends")
        only_a1 = self.stats("polyclinic_id=%d" % a1.id)
        self.assertEqual(only_a1["transfers"]["by_ownership"]["public_to_private"], 1)
        both = self.stats("settlement=%s&polyclinic_id=%d" % (k2, b1.id))
        self.assertEqual(both["applications"]["total"], 0, "b1 is not in k2")

        everything = self.stats()
        self.assertGreaterEqual(everything["applications"]["total"], 5)

    def test_ownership_edit_after_a_transfer_does_not_change_past_figures(self):
        k = client.new_settlement()
        pub = make_clinic(kato=k, ownership="public")
        priv = make_clinic(kato=k, ownership="private")
        self.move(pub, priv)
        before = self.stats("settlement=" + k)["transfers"]["by_ownership"]
        self.assertEqual(before["public_to_private"], 1, before)
        self.assertJson(call("PATCH", "/v1/polyclinics/%d" % pub.id, {"ownership": "private"}),
                        200)
        self.assertJson(call("PATCH", "/v1/polyclinics/%d" % priv.id, {"ownership": "public"}),
                        200)
        after = self.stats("settlement=" + k)["transfers"]["by_ownership"]
        self.assertEqual(after, before, "ownership as on the day of approval")

    def test_csv_has_a_line_per_figure(self):
        k = client.new_settlement()
        c = make_clinic(kato=k)
        self.attach(c, grounds="campaign")
        doc = self.stats("settlement=" + k)
        rows = read_csv(self, call("GET", "/v1/stats/campaigns/%d?settlement=%s" % (self.year, k),
                                   headers={"Accept": "text/csv"}))
        self.assertEqual(rows[0], ["metric", "value"])
        got = dict(rows[1:])
        self.assertEqual(len(got), len(rows) - 1, "each metric once")
        self.assertEqual(got["settlement"], k)
        self.assertEqual(got["applications.total"], "1")
        self.assertEqual(got["applications.used_right_of_choice"], "1")
        self.assertEqual(got["transfers.by_ownership.none_to_public"],
                         str(doc["transfers"]["by_ownership"]["none_to_public"]))
        self.assertEqual(got["campaign.effective_on"], doc["campaign"]["effective_on"])
        for key, n in doc["applications"]["by_status"].items():
            self.assertEqual(got["applications.by_status." + key], str(n))

    def test_bad_or_unknown_filters(self):
        path = "/v1/stats/campaigns/%d" % self.year
        self.assertFieldError(call("GET", path + "?settlement=12345"), "settlement")
        self.assertFieldError(call("GET", path + "?polyclinic_id=abc"), "polyclinic_id")
        self.assertProblem(call("GET", path + "?settlement=%s" % client.random_kato()), 404)
        self.assertProblem(call("GET", path + "?polyclinic_id=999999999"), 404)


@unittest.skipUnless(db_available(), NO_DB)
class AttachedReportTest(AppTestCase):

    def seed(self, clinic, n, valid_from, valid_to=None):
        for _ in range(n):
            psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to)"
                 " VALUES ('%s', %d, %d, DATE '%s', %s)"
                 % (unique_iin(birth_date_for_age(30)), clinic.id, clinic.district()["id"],
                    iso(valid_from), "DATE '%s'" % iso(valid_to) if valid_to else "NULL"))

    def report(self, query):
        return self.assertJson(call("GET", "/v1/stats/attached?" + query), 200)

    def test_counts_per_settlement_and_polyclinic_on_a_date(self):
        k = client.new_settlement()
        a, b, empty = make_clinic(kato=k), make_clinic(kato=k), make_clinic(kato=k)
        t = today()
        self.seed(a, 3, t - 30 * DAY)
        self.seed(b, 2, t - 30 * DAY)
        self.seed(b, 1, t - 60 * DAY, t - 10 * DAY)  # left ten days ago
        self.attach(a)  # joins tomorrow
        got = self.report("settlement=" + k)
        self.assertEqual((got["on"], got["settlement"], got["total"]), (iso(t), k, 5))
        self.assertEqual(len(got["settlements"]), 1)
        s = got["settlements"][0]
        self.assertEqual((s["kato"], s["attached"]), (k, 5))
        self.assertEqual([(p["polyclinic_id"], p["attached"]) for p in s["polyclinics"]],
                         [(a.id, 3), (b.id, 2), (empty.id, 0)])
        self.assertEqual(self.report("settlement=%s&on=%s" % (k, iso(t - 20 * DAY)))["total"], 6)
        self.assertEqual(self.report("settlement=%s&on=%s" % (k, iso(t + DAY)))["total"], 6)

        rows = read_csv(self, call("GET", "/v1/stats/attached?settlement=" + k,
                                   headers={"Accept": "text/csv"}))
        self.assertEqual(rows[0], ["on", "settlement", "settlement_name_ru", "polyclinic_id",
                                   "name_ru", "name_kk", "ownership", "attached"])
        self.assertEqual([(r[1], int(r[3]), int(r[7])) for r in rows[1:]],
                         [(k, p["polyclinic_id"], p["attached"]) for p in s["polyclinics"]])
        self.assertEqual(rows[1][4], a.body["name_ru"])

    def test_without_settlement_every_settlement_is_counted(self):
        k = client.new_settlement()
        c = make_clinic(kato=k)
        self.seed(c, 2, today() - DAY)
        got = self.report("on=" + iso(today()))
        mine = [s for s in got["settlements"] if s["kato"] == k]
        self.assertEqual(mine[0]["attached"], 2)
        self.assertEqual(got["total"], sum(s["attached"] for s in got["settlements"]))

    def test_only_admin_and_bad_filters(self):
        c = make_clinic()
        for token in (PORTAL, c.reg):
            self.assertProblem(call("GET", "/v1/stats/attached", token=token), 403)
        self.assertFieldError(call("GET", "/v1/stats/attached?on=2025-02-29"), "on")
        self.assertFieldError(call("GET", "/v1/stats/attached?settlement=abc"), "settlement")
        self.assertProblem(call("GET", "/v1/stats/attached?settlement=" + client.random_kato()),
                           404)
