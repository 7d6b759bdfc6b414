"""Acceptance review of SPEC §2-§5, §7, §11 (and the parts of §12 on main): statements read
sentence by sentence that the other modules did not yet check, each test named after the rule.

Everything a test needs it makes (clinics, campaigns of its own years through CampaignWindows,
holidays it removes again); no test depends on today being inside a campaign."""

import datetime

import client
import test_daily
from apphelpers import (OwnCampaignCase, ONE_DAY, AppTestCase, AutoApproveCase, Days,
                        application_body, birth_date_for_age, iso, make_clinic,
                        db_available, new_person, next_working_day, seed_current_attachment,
                        today, unique_iin)
from client import ADMIN, PORTAL, call, list_all

APPLICATION_MEMBERS = ("id", "status", "refusal", "warnings", "decision_due_at", "district_id",
                       "effective_on")


def years_before(d, years):
    """The date `years` years before d (29 February falls back to 28 February)."""
    try:
        return d.replace(year=d.year - years)
    except ValueError:
        return d.replace(year=d.year - years, day=28)


def bin_with_5th_digit(digit):
    """A checksum-valid BIN whose 5th digit is `digit` (a random serial: no clash with others)."""
    return client.complete_id(("9901%d%06d" % (digit, client._rng.randrange(10 ** 6))
                               for _ in range(1000)), "BIN with 5th digit %d" % digit)


# ----------------------------------------------------------------------------------------------
# §2 catalogues
# ----------------------------------------------------------------------------------------------

class CatalogueSeedsTest(AppTestCase):

    def test_district_kinds_are_seeded_exactly_with_their_norms_and_ages(self):
        kinds = {k["code"]: k for k in list_all("/v1/district-kinds")}
        self.assertEqual(kinds, {
            "gp": {"code": "gp", "norm": 1700, "min_age": 0, "max_age": None},
            "therapist": {"code": "therapist", "norm": 2200, "min_age": 15, "max_age": None},
            "pediatric_0_6": {"code": "pediatric_0_6", "norm": 500, "min_age": 0, "max_age": 6},
            "pediatric_0_14": {"code": "pediatric_0_14", "norm": 900, "min_age": 0,
                               "max_age": 14},
        })

    def test_refusal_reasons_hold_the_ten_codes_with_three_titles(self):
        reasons = {r["code"]: r for r in list_all("/v1/refusal-reasons")}
        for code in ("INVALID_DATA", "OTHER_SETTLEMENT", "CAPACITY_EXCEEDED",
                     "CHILD_DOCUMENTS_MISSING", "NOT_ELIGIBLE", "OUTSIDE_CAMPAIGN",
                     "CLINIC_NOT_ACCEPTING", "ALREADY_ATTACHED", "REPEAT_CHANGE",
                     "GROUNDS_NOT_MET"):
            self.assertIn(code, reasons)
            self.assertEqual(set(reasons[code]["title"]), {"kk", "ru", "en"})

    def test_district_capacity_defaults_to_the_norm_and_is_never_above_it(self):
        c = make_clinic(districts=())
        norms = {k["code"]: k["norm"] for k in list_all("/v1/district-kinds")}
        for i, (kind, norm) in enumerate(sorted(norms.items())):
            with self.subTest(kind=kind):
                path = "/v1/polyclinics/%d/districts" % c.id
                d = self.assertJson(call("POST", path, {"number": str(10 + i), "kind": kind}),
                                    201)
                self.assertEqual((d["capacity"], d["load"], d["free"], d["open"]),
                                 (norm, 0, norm, True))
                self.assertFieldError(call("POST", path, {"number": str(50 + i), "kind": kind,
                                                          "capacity": norm + 1}), "capacity")
                self.assertFieldError(call("PATCH", "/v1/districts/%d" % d["id"],
                                           {"capacity": norm + 1}), "capacity")
                lower = self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"],
                                             {"capacity": norm - 1}), 200)
                self.assertEqual(lower["capacity"], norm - 1)
        numbers = sorted(d["number"] for d in list_all("/v1/polyclinics/%d/districts" % c.id))
        self.assertEqual(numbers, ["10", "11", "12", "13"], "the 422s created nothing")

    def test_bin_fifth_digit_is_4_5_or_6(self):
        kato = client.new_settlement()
        for digit in (0, 3, 7):
            with self.subTest(digit=digit):
                body = client.polyclinic_body(kato, bin=bin_with_5th_digit(digit))
                self.assertFieldError(call("POST", "/v1/polyclinics", body), "bin")

    def test_holiday_delete_is_204(self):
        day = "%d-06-15" % client.free_campaign_year()
        self.assertIn(call("PUT", "/v1/holidays/" + day, {"name": "Сынақ"}).status, (200, 201))
        r = call("DELETE", "/v1/holidays/" + day)
        self.assertStatus(r, 204)
        self.assertProblem(call("DELETE", "/v1/holidays/" + day), 404)


class CampaignCatalogueTest(AppTestCase):
    """§2: one campaign a year, windows never overlap, max_changes 0, 1, 2; a campaign from
    1 January to 31 December must work. Far-future years: no effect on today's submissions."""

    def test_campaign_defaults_and_a_whole_year_window(self):
        y = client.free_campaign_year(span=2)
        r = call("PUT", "/v1/campaigns/%d" % y, {"opens_on": "%d-01-01" % y,
                                                  "closes_on": "%d-12-31" % y})
        c = self.assertJson(r, 201)
        self.assertEqual(c, {"year": y, "opens_on": "%d-01-01" % y, "closes_on": "%d-12-31" % y,
                             "effective_on": "%d-01-01" % (y + 1), "max_changes": 1})
        # the next year's whole-year window touches, never overlaps
        r = call("PUT", "/v1/campaigns/%d" % (y + 1), {"opens_on": "%d-01-01" % (y + 1),
                                                        "closes_on": "%d-12-31" % (y + 1),
                                                        "max_changes": 0})
        self.assertEqual(self.assertJson(r, 201)["max_changes"], 0)
        # editing answers 200
        r = call("PUT", "/v1/campaigns/%d" % y, {"opens_on": "%d-01-01" % y,
                                                  "closes_on": "%d-12-31" % y, "max_changes": 2})
        self.assertEqual(self.assertJson(r, 200)["max_changes"], 2)
        self.assertEqual(self.assertJson(call("GET", "/v1/campaigns/%d" % y), 200)["max_changes"],
                         2)

    def test_campaign_windows_never_overlap(self):
        y = client.free_campaign_year(span=2)
        self.assertJson(call("PUT", "/v1/campaigns/%d" % y, {"opens_on": "%d-09-01" % y,
                                                             "closes_on": "%d-11-01" % y}), 201)
        r = call("PUT", "/v1/campaigns/%d" % (y + 1), {"opens_on": "%d-11-01" % y,
                                                        "closes_on": "%d-11-01" % (y + 1)})
        self.assertProblem(r, 409)
        self.assertProblem(call("GET", "/v1/campaigns/%d" % (y + 1)), 404)

    def test_campaign_writes_are_admin_only(self):
        y = client.free_campaign_year()
        body = {"opens_on": "%d-09-01" % y, "closes_on": "%d-11-01" % y}
        self.assertProblem(call("PUT", "/v1/campaigns/%d" % y, body, token=PORTAL), 403)
        self.assertProblem(call("GET", "/v1/campaigns/%d" % y), 404)


# ----------------------------------------------------------------------------------------------
# §3 submission: shape, order of the checks, due time, one pending, withdrawal
# ----------------------------------------------------------------------------------------------

class SubmissionTest(AppTestCase):

    def test_submission_answers_201_with_the_stored_application(self):
        c = make_clinic()
        r = client.submit_application(application_body(c.body))
        app = self.assertJson(r, 201)
        for member in APPLICATION_MEMBERS:
            self.assertIn(member, app)
        self.assertEqual(r.headers.get("Location"), "/v1/applications/%d" % app["id"])
        self.assertEqual((app["status"], app["refusal"], app["warnings"], app["district_id"],
                          app["effective_on"]), ("pending", None, [], None, None))
        self.assertEqual(self.get_app(app["id"], token=PORTAL)["status"], "pending")

    def test_a_person_turning_18_today_needs_no_representative(self):
        c = make_clinic()
        bd = years_before(today(), 18)
        adult = application_body(c.body, person=new_person(birth_date=bd, iin=unique_iin(bd)))
        for k in ("representative", "birth_certificate"):
            adult.pop(k, None)
        self.submit_pending(adult)
        bd = years_before(today(), 18) + ONE_DAY
        minor = application_body(c.body, person=new_person(birth_date=bd, iin=unique_iin(bd)))
        for k in ("representative", "birth_certificate"):
            minor.pop(k, None)
        self.submit_refused(minor, "CHILD_DOCUMENTS_MISSING")

    def test_child_documents_missing_comes_before_already_attached(self):
        c = make_clinic(districts=(("pediatric_0_14", None),))
        child = new_person(age=9)
        self.attach(c, person=child)
        body = application_body(c.body, person=child)
        del body["birth_certificate"]
        self.submit_refused(body, "CHILD_DOCUMENTS_MISSING")

    def test_grounds_not_met_comes_before_capacity(self):
        a = make_clinic()
        full = make_clinic(kato=a.kato, districts=(("gp", 1),))
        self.attach(full)
        p = new_person()
        first = self.attach(a, person=p)
        again = application_body(full.body, person=p)
        again["address"] = first["address"]
        self.submit_refused(again, "GROUNDS_NOT_MET")

    def test_relocation_without_an_address_shows_no_grounds(self):
        # §11: a relocation must be shown; with an address on record, none given shows
        # nothing (and a registrar may not refuse GROUNDS_NOT_MET). Failed before the fix.
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        self.attach(a, person=p)
        for address in (None, "  ,. "):
            body = application_body(b.body, person=p)
            if address is None:
                del body["address"]
            else:
                body["address"] = address
            with self.subTest(address=address):
                self.submit_refused(body, "GROUNDS_NOT_MET")
        # nothing on record for a newcomer: nothing compared
        newcomer = application_body(b.body)
        del newcomer["address"]
        self.submit_pending(newcomer)

    def test_invalid_data_comes_before_every_other_check(self):
        closed = make_clinic(accepting=False, districts=(("gp", 1),))
        p = new_person(residency="temporary_foreigner")
        p["iin"] = client.break_checksum(p["iin"])
        body = application_body(closed.body, person=p, settlement=client.new_settlement(),
                                grounds="clinic_closed")
        self.submit_refused(body, "INVALID_DATA")

    def test_decision_is_due_at_18_local_after_an_admin_added_holiday(self):
        c = make_clinic()
        days = Days()
        skip = next_working_day(days.first)
        path = "/v1/holidays/" + iso(skip)
        existing = [h["day"] for h in list_all("/v1/holidays?year=%d" % skip.year)]
        # Submitted on this keep-alive connection (one worker thread) before and after the
        # holiday is added: the thread's kept catalogues must not hide it (migrations/0029).
        before = self.submit(application_body(c.body))
        added = call("PUT", path, {"name": "Сынақ күні"})
        self.assertIn(added.status, (200, 201), added.body)
        try:
            app = self.submit(application_body(c.body))
        finally:
            if iso(skip) not in existing:
                self.assertStatus(call("DELETE", path), 204)
        days.close()
        self.assertEqual(days.first, days.last, "the test straddled midnight")
        for got, day in ((before, skip), (app, next_working_day(skip))):
            due = datetime.datetime.fromisoformat(got["decision_due_at"])
            self.assertEqual(due, datetime.datetime.combine(day, datetime.time(18), due.tzinfo))
            self.assertEqual(due.utcoffset(), datetime.timedelta(hours=5))

    def test_second_application_while_one_is_pending_is_409_pending_exists(self):
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        first = self.submit_pending(application_body(a.body, person=p))
        r = client.submit_application(application_body(b.body, person=p))
        problem = self.assertProblem(r, 409, "PENDING_EXISTS")
        self.assertEqual(problem["pending_application_id"], first["id"])
        self.assertEqual(len([x for x in list_all("/v1/applications?polyclinic_id=%d" % b.id)]),
                         0, "the 409 stored nothing")

    def test_withdrawal_is_only_by_the_portal_and_only_while_pending(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertProblem(self.withdraw(app["id"], token=c.reg), 403)
        self.assertProblem(self.withdraw(app["id"], token=ADMIN), 403)
        done = self.assertJson(self.withdraw(app["id"]), 200)
        self.assertEqual(done["status"], "withdrawn")
        again = self.assertProblem(self.withdraw(app["id"]), 409, "NOT_PENDING")
        self.assertEqual(again["application"]["status"], "withdrawn")
        for decide in (lambda i: self.approve(i, c.reg),
                       lambda i: self.refuse(i, c.reg, "INVALID_DATA")):
            self.assertProblem(decide(app["id"]), 409, "NOT_PENDING")
        approved = self.attach(c)
        self.assertEqual(self.assertProblem(self.withdraw(approved["id"]), 409,
                                            "NOT_PENDING")["application"]["status"], "approved")
        refused = self.submit(application_body(c.body, settlement=client.new_settlement()))
        self.assertProblem(self.withdraw(refused["id"]), 409, "NOT_PENDING")

    def test_registrar_refusal_names_a_catalogue_reason_and_comment(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        got = self.assertJson(self.refuse(app["id"], c.reg, "OTHER_SETTLEMENT", "Мекенжай"), 200)
        self.assertRefused(got, "OTHER_SETTLEMENT", comment="Мекенжай")
        self.assertRefused(self.get_app(app["id"], token=PORTAL), "OTHER_SETTLEMENT",
                           comment="Мекенжай")

    def test_another_polyclinics_registrar_cannot_decide_or_read(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        app = self.submit_pending(application_body(c.body))
        self.assertProblem(self.approve(app["id"], other.reg), 404)
        self.assertProblem(self.refuse(app["id"], other.reg, "INVALID_DATA"), 404)
        self.assertProblem(call("GET", "/v1/applications/%d" % app["id"], token=other.reg), 404)
        self.assertEqual(self.get_app(app["id"])["status"], "pending")


# ----------------------------------------------------------------------------------------------
# §3 approval and §5 the register
# ----------------------------------------------------------------------------------------------

class ApprovalTest(AppTestCase):

    def test_relocation_takes_effect_the_day_after_approval(self):
        c = make_clinic()
        days = Days()
        app = self.attach(c)
        days.close()
        self.assertIn(app["effective_on"], days.tomorrow())
        self.assertIsNone(app["refusal"])
        att = self.assertJson(call("GET", "/v1/persons/%s/attachment"
                                   % app["person"]["iin"]), 200)
        self.assertIsNone(att["attachment"], "never on the day of approval")
        self.assertEqual(att["upcoming"]["valid_from"], app["effective_on"])

    def test_approval_with_no_room_anywhere_is_refused_capacity_exceeded(self):
        c = make_clinic(districts=(("gp", 1),))
        a = self.submit_pending(application_body(c.body))
        b = self.submit_pending(application_body(c.body))
        self.approved(a["id"], c.reg)
        got = self.assertJson(self.approve(b["id"], c.reg), 200)
        self.assertRefused(got, "CAPACITY_EXCEEDED")

    def test_move_writes_a_transfer_seen_out_by_the_old_and_in_by_the_new(self):
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        self.attach(a, person=p)
        moved = self.attach(b, person=p)
        out = list_all("/v1/polyclinics/%d/transfers?direction=out" % a.id, token=a.reg)
        inn = list_all("/v1/polyclinics/%d/transfers?direction=in" % b.id, token=b.reg)
        # the upcoming attachment at a was replaced: the move is from a's would-be first
        # attachment, cancelled; what b sees must name this application
        self.assertIn(moved["id"], [t.get("application_id") for t in inn])
        self.assertFalse([t for t in out if t.get("application_id") == moved["id"]
                          and t.get("to", {}) is None])

    def test_approval_rechecks_the_fund_contract(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertJson(call("PATCH", "/v1/polyclinics/%d" % c.id, {"fsms_contract": False}), 200)
        self.assertRefused(self.assertJson(self.approve(app["id"], c.reg), 200),
                           "CLINIC_NOT_ACCEPTING")

    def test_replaced_upcoming_attachment_frees_its_place(self):
        a = make_clinic(districts=(("gp", 1),))
        b = make_clinic(kato=a.kato)
        p = new_person()
        self.attach(a, person=p)
        self.assertEqual(self.assertJson(call("GET", "/v1/districts/%d" % a.district()["id"]),
                                         200)["free"], 0)
        self.attach(b, person=p)
        hist = list_all("/v1/persons/%s/attachments" % p["iin"])
        self.assertEqual([h["cancelled"] for h in hist if h["polyclinic_id"] == a.id], [True])
        self.assertEqual(self.assertJson(call("GET", "/v1/districts/%d" % a.district()["id"]),
                                         200)["free"], 1)
        self.attach(a)

    def test_requested_district_unfit_for_the_age_falls_back_with_a_note(self):
        c = make_clinic(districts=(("pediatric_0_6", None), ("gp", None)))
        body = application_body(c.body, district_id=c.district(0)["id"])
        app = self.submit_pending(body)
        got = self.approved(app["id"], c.reg, district_id=c.district(0)["id"])
        self.assertEqual(got["district_id"], c.district(1)["id"])
        note = got.get("district_note")
        self.assertIsInstance(note, dict, got)
        self.assertEqual((note["requested_district_id"], note["chosen_district_id"],
                          note["reason"]), (c.district(0)["id"], c.district(1)["id"], "age"))


class IdentityNumbersTest(AppTestCase):

    def test_iin_whose_check_digit_cannot_be_computed_is_invalid_data(self):
        for serial in range(10000):
            first11 = "900101%d%04d" % (3, serial)
            if client.check_digit(first11) is None:
                break
        p = new_person(birth_date="1990-01-01", iin=first11 + "0")
        self.submit_refused(application_body(make_clinic().body, person=p), "INVALID_DATA")

    def test_representative_iin_with_a_wrong_check_digit_is_invalid_data_even_for_an_adult(self):
        rep = {"iin": client.break_checksum(unique_iin(birth_date_for_age(50))),
               "relation": "mother"}
        body = application_body(make_clinic().body, person=new_person(age=30), representative=rep)
        self.submit_refused(body, "INVALID_DATA")


class AutoApprovalTest(AutoApproveCase):

    def test_auto_approved_application_has_no_due_time_and_takes_effect_tomorrow(self):
        c = make_clinic(auto_approve=True)
        days = Days()
        app = self.submit(self.auto_body(c))
        days.close()
        self.assertEqual(app["status"], "approved", app)
        self.assertIsNone(app["decision_due_at"])
        self.assertIn(app["effective_on"], days.tomorrow())
        self.assertEqual(app["district_id"], c.district()["id"])

    def test_relocation_is_never_auto_approved(self):
        c = make_clinic(auto_approve=True)
        self.submit_pending(application_body(c.body, grounds="relocation"))

    def test_eligibility_answers_exactly_the_five_members(self):
        c = make_clinic(auto_approve=True)
        got = self.assertJson(call("POST", "/v1/eligibility", self.auto_body(c), token=PORTAL),
                              200)
        self.assertEqual(set(got), {"outcome", "refusal", "warnings", "district_id",
                                    "effective_on"})
        self.assertEqual(got["outcome"], "approved")
        self.assertEqual(got["district_id"], c.district()["id"])

    def test_max_changes_zero_allows_first_attachments_only(self):
        self.windows.open(self.year, today(), max_changes=0)
        try:
            a = make_clinic(auto_approve=True)
            b = make_clinic(auto_approve=True, kato=a.kato)
            p = new_person()
            first = self.submit(self.auto_body(a, person=p))
            self.assertEqual(first["status"], "approved", first)
            if db_available():  # leaving a current (begun) polyclinic is a change: none allowed
                q = new_person()
                seed_current_attachment(q["iin"], b.id, b.district()["id"])
                self.submit_refused(self.auto_body(a, person=q), "REPEAT_CHANGE")
        finally:
            self.windows.open(self.year, today(), max_changes=self.MAX_CHANGES)


# ----------------------------------------------------------------------------------------------
# §7 the wire, §11 daily run counts
# ----------------------------------------------------------------------------------------------

class WireTest(AppTestCase):

    def test_status_codes_for_each_kind_of_bad_input(self):
        self.assertProblem(call("POST", "/v1/applications", raw="{", token=PORTAL), 400)
        self.assertProblem(call("GET", "/v1/settlements", token=None), 401)
        self.assertProblem(call("GET", "/v1/settlements", token="not-a-token"), 401)
        self.assertProblem(call("GET", "/v1/stats/campaigns/2026", token=PORTAL), 403)
        self.assertProblem(call("GET", "/v1/applications/999999999"), 404)
        r = call("POST", "/v1/applications", raw="{}", token=PORTAL,
                 headers={"Content-Type": "text/plain"})
        self.assertProblem(r, 415)
        self.assertProblem(call("POST", "/v1/applications", {"person": 1}, token=PORTAL), 422)

    def test_well_formed_number_out_of_range_is_422_not_400(self):
        r = call("POST", "/v1/applications", raw='{"polyclinic_id": 9223372036854775808}',
                 token=PORTAL)
        self.assertProblem(r, 422, "VALIDATION_FAILED")

    def test_daily_run_answers_exactly_the_documented_counts(self):
        # a day long past: nothing was attached then, so this run over the whole register
        # changes nothing another test made
        on = datetime.date(2001, 1, 3)
        got = self.assertJson(call("POST", "/v1/maintenance/daily", {"on": iso(on)}), 200)
        self.assertEqual(set(got), {"on", "aged_out", "unplaced", "lapsed", "started", "ended"})
        self.assertEqual(got["on"], iso(on))
        self.assertProblem(call("POST", "/v1/maintenance/daily", {"on": iso(on)}, token=PORTAL),
                           403)


class CampaignApprovalAfterTheWindowTest(OwnCampaignCase):
    """§3: a campaign application submitted on the window's last day is due the next working
    day, after the window closed: its approval still takes effect on the campaign's
    effective_on, not the day after approval."""

    def test_approval_after_the_window_closed_takes_effect_on_effective_on(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body, grounds="campaign"))
        self.assertEqual(app.get("campaign_year"), self.year, app)
        past = {"opens_on": iso(today() - datetime.timedelta(days=10)),
                "closes_on": iso(today() - ONE_DAY), "effective_on": iso(self.effective),
                "max_changes": 1}
        self.assertJson(call("PUT", "/v1/campaigns/%d" % self.year, past), 200)
        self.submit_refused(application_body(c.body, grounds="campaign"), "OUTSIDE_CAMPAIGN")
        got = self.approved(app["id"], c.reg)
        self.assertEqual(got["effective_on"], iso(self.effective))


class ClosedDistrictTest(AppTestCase):
    """§2/§11: a closed district takes no new attachments (approvals nor age-outs) and keeps the
    people it holds."""

    def test_closing_a_district_keeps_its_people(self):
        c = make_clinic(districts=(("gp", 5), ("gp", 5)))
        p = new_person()
        app = self.attach(c, person=p, district_id=c.district(0)["id"])
        r = call("PATCH", "/v1/districts/%d" % c.district(0)["id"], {"open": False})
        self.assertEqual(self.assertJson(r, 200)["open"], False)
        got = self.assertJson(call("GET", "/v1/persons/%s/attachment" % p["iin"]), 200)
        self.assertEqual(got["upcoming"]["district_id"], c.district(0)["id"])
        self.assertEqual(got["upcoming"]["application_id"], app["id"])
        d = self.assertJson(call("GET", "/v1/districts/%d" % c.district(0)["id"]), 200)
        self.assertEqual(d["load"], 1)
        other = self.attach(c, district_id=c.district(0)["id"])
        self.assertEqual(other["district_id"], c.district(1)["id"])

    def test_age_out_skips_a_closed_district(self):
        c = make_clinic((("pediatric_0_6", 10, "1"), ("pediatric_0_14", 50, "2"),
                         ("gp", 10, "3")))
        d = today() + datetime.timedelta(days=20)
        bd = years_before(d, 7)
        child = new_person(birth_date=bd, iin=unique_iin(bd))
        self.attach(c, person=child, district_id=c.district(0)["id"])
        self.assertJson(call("PATCH", "/v1/districts/%d" % c.district(1)["id"],
                             {"open": False}), 200)
        got = self.assertJson(test_daily.daily(d, c), 200)
        self.assertEqual((got["aged_out"], got["unplaced"]), (1, 0), got)
        self.assertEqual(test_daily.attachment_on(child["iin"], d)["district_id"],
                         c.district(2)["id"])
