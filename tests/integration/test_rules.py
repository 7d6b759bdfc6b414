"""The rules of submission and approval that keep the register right (SPEC §3, §4, §11) and the
application side of §12: grounds that must be shown (GROUNDS_NOT_MET), approval re-checks, ages
on the effective date, what counts as a change, nothing leaking between polyclinics, the
registrar's refusal reasons, the century warning, problem codes, approve by district number with
`district_note`, the work queue's filters, `limit` on every list, and the dry run
POST /v1/eligibility.

Each class names the finding it reproduces; every test here failed against the service before
these rules (main at 73b4fda) unless its docstring says otherwise."""


import unittest

import client
from apphelpers import (OwnCampaignCase, NO_DB, ONE_DAY, AppTestCase, AutoApproveCase, Days,
                        application_body, applications_of, birth_date_for_age, db_available,
                        iso, make_clinic, new_person, psql, refusal_reasons,
                        seed_current_attachment, today, unique_iin)
from client import ADMIN, PORTAL, call, list_all


def attached_here(test, clinic, person, address=None):
    """person attached (upcoming) to clinic by a relocation its registrar approved, with that
    address on record; returns the approved application."""
    body = application_body(clinic.body, person=person)
    if address is not None:
        body["address"] = address
    app = test.submit_pending(body)
    return test.approved(app["id"], clinic.reg)


def iin_with_7th_digit(digit, birth_date="900101"):
    """A checksum-valid IIN whose 7th digit is `digit` (outside 1..6 it encodes no century)."""
    candidates = ("%s%s%04d" % (birth_date, digit, serial) for serial in range(10000))
    return client.complete_id(candidates, "IIN with 7th digit %s" % digit)


# ----------------------------------------------------------------------------------------------
# Finding 1: relocation bypassed every change limit
# ----------------------------------------------------------------------------------------------

class RelocationGroundsTest(AppTestCase):

    def test_relocation_to_the_address_on_record_is_grounds_not_met(self):
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        first = attached_here(self, a, p)
        again = application_body(b.body, person=p)
        again["address"] = first["address"]
        self.submit_refused(again, "GROUNDS_NOT_MET")
        # written with other spacing and case, it is still the same address
        again["address"] = "  " + first["address"].upper().replace(", ", " ,  ") + " "
        self.submit_refused(again, "GROUNDS_NOT_MET")

    @unittest.skipUnless(db_available(), NO_DB)
    def test_the_address_on_record_is_that_of_the_latest_live_attachment(self):
        """A current attachment (address X) and an upcoming one approved after it (address Y):
        Y is on record, so a relocation to Y shows nothing and one to X shows a move."""
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        c = make_clinic(kato=a.kato)
        p = new_person()
        first = attached_here(self, a, p, address="ул. Первая, 1")
        psql("UPDATE attachments SET valid_from = current_date - 10 WHERE application_id = %d"
             % first["id"])
        second = attached_here(self, b, p, address="ул. Вторая, 2")
        again = application_body(c.body, person=p)
        again["address"] = second["address"]
        self.submit_refused(again, "GROUNDS_NOT_MET")
        again["address"] = first["address"]
        self.submit_pending(again)

    def test_four_relocations_to_the_same_address_are_not_four_changes(self):
        # the finding: auto_approve clinics approved them all at once, one after the other
        kato = client.new_settlement()
        clinics = [make_clinic(kato=kato, auto_approve=True) for _ in range(4)]
        p = new_person()
        address = "көш. Абай, 10, пәтер 5"
        body = application_body(clinics[0].body, person=p)
        body["address"] = address
        first = self.submit_pending(body)  # a relocation is never auto-approved
        self.approved(first["id"], clinics[0].reg)
        for c in clinics[1:]:
            body = application_body(c.body, person=p)
            body["address"] = address
            self.submit_refused(body, "GROUNDS_NOT_MET")

    def test_relocation_to_a_new_address_waits_for_the_registrar_who_sees_the_old_one(self):
        a = make_clinic()
        b = make_clinic(kato=a.kato, auto_approve=True)
        p = new_person()
        old = attached_here(self, a, p, address="көш. Сейфуллин, 1")
        body = application_body(b.body, person=p)
        body["address"] = "көш. Сейфуллин, 2"
        app = self.submit_pending(body)
        items = list_all("/v1/applications?status=pending&iin=" + p["iin"], token=b.reg)
        self.assertEqual([i["id"] for i in items], [app["id"]])
        self.assertEqual(items[0]["address_on_record"], old["address"])
        self.assertEqual(items[0]["settlement_on_record"], old["settlement"])
        self.assertEqual(items[0]["address"], "көш. Сейфуллин, 2")
        self.approved(app["id"], b.reg)

    def test_relocation_with_nothing_on_record_compares_nothing(self):
        """(Passed before too: kept so that the rule stays this way.)"""
        if not db_available():
            self.skipTest(NO_DB)
        imported = make_clinic()
        b = make_clinic(kato=imported.kato)
        p = new_person()
        seed_current_attachment(p["iin"], imported.id, imported.district()["id"])
        self.submit_pending(application_body(b.body, person=p))

    def test_already_attached_comes_before_grounds_not_met(self):
        """(Passed before too: ALREADY_ATTACHED was already answered.)"""
        a = make_clinic()
        p = new_person()
        first = attached_here(self, a, p)
        again = application_body(a.body, person=p)
        again["address"] = first["address"]
        self.submit_refused(again, "ALREADY_ATTACHED")

    def test_clinic_closed_needs_a_current_polyclinic_that_no_longer_takes_part(self):
        if not db_available():
            self.skipTest(NO_DB)
        current = make_clinic()
        target = make_clinic(kato=current.kato)
        nobody = new_person()
        self.submit_refused(application_body(target.body, person=nobody, grounds="clinic_closed"),
                            "GROUNDS_NOT_MET")
        p = new_person()
        seed_current_attachment(p["iin"], current.id, current.district()["id"])
        body = application_body(target.body, person=p, grounds="clinic_closed")
        self.submit_refused(body, "GROUNDS_NOT_MET")
        for change in ({"accepting": False}, {"accepting": True, "fsms_contract": False}):
            with self.subTest(change=change):
                self.assertJson(call("PATCH", "/v1/polyclinics/%d" % current.id, change), 200)
                app = self.submit_pending(body)
                self.assertEqual(self.withdraw(app["id"]).status, 200)

    def test_grounds_not_met_is_in_the_catalogue_in_three_languages(self):
        reasons = {r["code"]: r for r in list_all("/v1/refusal-reasons")}
        self.assertIn("GROUNDS_NOT_MET", reasons)
        for lang in ("kk", "ru", "en"):
            self.assertTrue(reasons["GROUNDS_NOT_MET"]["title"][lang].strip())


# ----------------------------------------------------------------------------------------------
# Finding 2: approval re-checks at that moment
# ----------------------------------------------------------------------------------------------

class ApprovalRecheckTest(AppTestCase):

    def test_polyclinic_that_stopped_taking_part_refuses_at_approval(self):
        for change in ({"accepting": False}, {"fsms_contract": False}):
            with self.subTest(change=change):
                c = make_clinic()
                app = self.submit_pending(application_body(c.body))
                self.assertJson(call("PATCH", "/v1/polyclinics/%d" % c.id, change), 200)
                done = self.assertJson(self.approve(app["id"], c.reg), 200)
                self.assertRefused(done, "CLINIC_NOT_ACCEPTING")
                self.assertEqual(sum(d["load"] for d in
                                     list_all("/v1/polyclinics/%d/districts" % c.id)), 0)

    def test_closed_district_is_not_approved_into(self):
        """(Passed before too: the district choice always skipped closed districts.)"""
        c = make_clinic(districts=(("gp", 10),))
        app = self.submit_pending(application_body(c.body))
        self.assertJson(call("PATCH", "/v1/districts/%d" % c.district()["id"], {"open": False}),
                        200)
        self.assertRefused(self.assertJson(self.approve(app["id"], c.reg), 200),
                           "CAPACITY_EXCEEDED")


# ----------------------------------------------------------------------------------------------
# Finding 3: ages on the effective date; finding 6: what a change is
# ----------------------------------------------------------------------------------------------

def birthday_years_before(day, years):
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class CampaignRulesTest(OwnCampaignCase):
    """Owns the campaign calendar: its own year open around today, effective_on today+40."""

    MAX_CHANGES = 5
    REOPEN_EACH_TEST = True

    def test_child_turning_7_on_the_effective_date_is_not_placed_in_pediatric_0_6(self):
        born = birthday_years_before(self.effective, 7)
        self.assertEqual(self.effective, born.replace(year=born.year + 7))
        c = make_clinic(districts=(("pediatric_0_6", 100), ("gp", 10)))
        child = new_person(birth_date=iso(born), iin=unique_iin(born))
        app = self.submit_pending(self.campaign_body(c, person=child))
        done = self.approved(app["id"], c.reg)
        self.assertEqual(done["effective_on"], iso(self.effective))
        self.assertEqual(done["district_id"], c.district(1)["id"], "gp, not pediatric_0_6")
        # where only pediatric_0_6 has room there is no place for them
        only = make_clinic(kato=c.kato, districts=(("pediatric_0_6", 100),))
        other = new_person(birth_date=iso(born), iin=unique_iin(born))
        self.submit_refused(self.campaign_body(only, person=other), "CAPACITY_EXCEEDED")
        # a day younger, still 6 on the effective date: pediatric_0_6
        younger = born + ONE_DAY
        kid = new_person(birth_date=iso(younger), iin=unique_iin(younger))
        app = self.submit_pending(self.campaign_body(only, person=kid))
        self.assertEqual(self.approved(app["id"], only.reg)["district_id"], only.district()["id"])

    def test_representative_is_needed_by_the_age_on_the_day_of_submission(self):
        """(Passed before too.)"""
        born = birthday_years_before(self.effective - ONE_DAY, 18)  # 18 the day before E
        c = make_clinic()
        teen = new_person(birth_date=iso(born), iin=unique_iin(born))
        body = self.campaign_body(c, person=teen)
        body.pop("representative", None)
        body.pop("birth_certificate", None)
        self.submit_refused(body, "CHILD_DOCUMENTS_MISSING")

    def test_going_back_to_the_current_polyclinic_is_already_attached(self):
        if not db_available():
            self.skipTest(NO_DB)
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        seed_current_attachment(p["iin"], a.id, a.district()["id"])
        app = self.submit_pending(self.campaign_body(b, person=p))
        self.approved(app["id"], b.reg)
        # max_changes 5 would allow another change: going back is not one
        self.submit_refused(self.campaign_body(a, person=p), "ALREADY_ATTACHED")

    def test_approval_rechecks_eaeu_insurance_on_the_effective_date(self):
        """§4 at approval: insured until the effective date at submission, the effective date
        then moved past the insurance's end (the campaign's here; a relocation's moves with the
        approval day) → refused NOT_ELIGIBLE, nothing attached; covered → approved."""
        c = make_clinic()

        def migrant(until):
            return new_person(residency="eaeu_migrant",
                              insurance_contract={"number": "ОСМС-" + client.unique(),
                                                  "valid_until": iso(until)})
        short, longer = migrant(self.effective), migrant(self.effective + 30 * ONE_DAY)
        first = self.submit_pending(self.campaign_body(c, person=short))
        second = self.submit_pending(self.campaign_body(c, person=longer))
        self.windows.open(self.year, self.effective + 10 * ONE_DAY, max_changes=self.MAX_CHANGES)
        done = self.approve(first["id"], c.reg)
        self.assertRefused(self.assertJson(done, 200), "NOT_ELIGIBLE")
        self.assertEqual(list_all("/v1/persons/%s/attachments" % short["iin"]), [])
        ok = self.approved(second["id"], c.reg)
        self.assertEqual(ok["effective_on"], iso(self.effective + 10 * ONE_DAY))

    def test_transfers_record_ownership_and_count_changes_only_from_a_current_polyclinic(self):
        if not db_available():
            self.skipTest(NO_DB)
        public = make_clinic(ownership="public")
        private = make_clinic(kato=public.kato, ownership="private")
        p = new_person()
        app = self.submit_pending(self.campaign_body(private, person=p))
        self.approved(app["id"], private.reg)
        # replacing an upcoming first attachment is still a first attachment
        app = self.submit_pending(self.campaign_body(public, person=p))
        self.approved(app["id"], public.reg)
        q = new_person()
        seed_current_attachment(q["iin"], public.id, public.district()["id"])
        app = self.submit_pending(self.campaign_body(private, person=q))
        self.approved(app["id"], private.reg)
        rows = psql("SELECT iin || ':' || coalesce(from_ownership, '-') || ':' || to_ownership"
                    " || ':' || counts_as_change FROM transfers WHERE iin IN ('%s', '%s')"
                    " ORDER BY id" % (p["iin"], q["iin"])).splitlines()
        self.assertEqual(rows, ["%s:-:private:false" % p["iin"], "%s:-:public:false" % p["iin"],
                                "%s:public:private:true" % q["iin"]])


class AutoApprovalOwnershipTest(AutoApproveCase):
    """An approval at once records the ownership of the polyclinic left and of the one joined,
    as a registrar's approval does (the submission reads them with its facts)."""

    def test_transfers_record_ownership_at_once(self):
        if not db_available():
            self.skipTest(NO_DB)
        public = make_clinic(ownership="public")
        private = make_clinic(kato=public.kato, ownership="private", districts=(("gp", 10),),
                              auto_approve=True)
        q = new_person()
        seed_current_attachment(q["iin"], public.id, public.district()["id"])
        p = new_person()
        for person in (q, p):
            app = self.submit(self.auto_body(private, person=person))
            self.assertEqual(app["status"], "approved", app)
        rows = psql("SELECT iin || ':' || coalesce(from_ownership, '-') || ':' || to_ownership"
                    " || ':' || counts_as_change FROM transfers WHERE iin IN ('%s', '%s')"
                    " ORDER BY id" % (q["iin"], p["iin"])).splitlines()
        self.assertEqual(rows, ["%s:public:private:true" % q["iin"],
                                "%s:-:private:false" % p["iin"]])


# ----------------------------------------------------------------------------------------------
# Finding 7: nothing leaks between polyclinics
# ----------------------------------------------------------------------------------------------

class LeaksTest(AppTestCase):

    def test_pending_exists_names_the_application_only_to_who_may_read_it(self):
        a = make_clinic()
        b = make_clinic(kato=a.kato)
        p = new_person()
        pending = self.submit_pending(application_body(a.body, person=p))
        for token, shown in ((PORTAL, True), (a.reg, True), (b.reg, False)):
            clinic = a if token is a.reg else b
            body = application_body(clinic.body, person=p, channel="in_person")
            problem = self.assertProblem(client.submit_application(body, token=token), 409,
                                         "PENDING_EXISTS")
            if shown:
                self.assertEqual(problem.get("pending_application_id"), pending["id"])
            else:
                self.assertNotIn("pending_application_id", problem)
                self.assertNotIn(str(pending["id"]), problem.get("detail", ""))

    def test_idempotency_key_is_scoped_to_the_token(self):
        c = make_clinic()
        other_portal = client.create_token("portal")["token"]
        key = "rules-" + client.unique()
        mine = application_body(c.body)
        first = client.submit_application(mine, idempotency_key=key)
        self.assertJson(first, 201)
        self.assertIsNone(first.headers.get("Idempotent-Replayed"))
        theirs = application_body(c.body)
        second = self.assertJson(client.submit_application(theirs, token=other_portal,
                                                           idempotency_key=key), 201)
        self.assertNotEqual(second["id"], first.body["id"])
        replay = client.submit_application(mine, idempotency_key=key)
        self.assertEqual(self.assertJson(replay, 201)["id"], first.body["id"])
        self.assertEqual(replay.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(replay.headers.get("Location"), "/v1/applications/%d" % first.body["id"])


# ----------------------------------------------------------------------------------------------
# Finding 8: a registrar refuses only with the official reasons and ALREADY_ATTACHED
# ----------------------------------------------------------------------------------------------

class RegistrarRefusalTest(AppTestCase):

    def test_only_official_reasons_and_already_attached(self):
        c = make_clinic()
        official = sorted(code for code, r in refusal_reasons().items() if r.get("official"))
        self.assertEqual(official, ["CAPACITY_EXCEEDED", "CHILD_DOCUMENTS_MISSING",
                                    "INVALID_DATA", "OTHER_SETTLEMENT"])
        for code in ("NOT_ELIGIBLE", "OUTSIDE_CAMPAIGN", "CLINIC_NOT_ACCEPTING",
                     "REPEAT_CHANGE", "GROUNDS_NOT_MET"):
            with self.subTest(code=code):
                app = self.submit_pending(application_body(c.body))
                self.assertFieldError(self.refuse(app["id"], c.reg, code), "reason")
                self.assertEqual(self.get_app(app["id"])["status"], "pending")
                self.assertEqual(self.withdraw(app["id"]).status, 200)
        for code in official + ["ALREADY_ATTACHED"]:
            with self.subTest(code=code):
                app = self.submit_pending(application_body(c.body))
                self.assertRefused(self.assertJson(self.refuse(app["id"], c.reg, code), 200),
                                   code)


# ----------------------------------------------------------------------------------------------
# Finding 9: IINs whose 7th digit encodes no century
# ----------------------------------------------------------------------------------------------

class CenturyWarningTest(AutoApproveCase):

    def test_century_unknown_is_a_warning_and_never_auto_approved(self):
        c = make_clinic(auto_approve=True)
        for digit in "0789":
            with self.subTest(digit=digit):
                p = new_person(age=36, iin=iin_with_7th_digit(digit))
                app = self.submit_pending(self.auto_body(c, person=p))
                self.assertEqual(app["warnings"], ["IIN_CENTURY_UNKNOWN"])
                self.assertIsNone(app["refusal"])
                self.assertEqual(self.withdraw(app["id"]).status, 200)
        clean = self.submit(self.auto_body(c))
        self.assertEqual(clean["status"], "approved", clean)


# ----------------------------------------------------------------------------------------------
# §12: problem codes, approve by number with district_note, the queue, limits
# ----------------------------------------------------------------------------------------------

class ProblemCodesTest(AppTestCase):

    def test_not_pending_carries_the_application_as_it_stands(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertEqual(self.withdraw(app["id"]).status, 200)
        problem = self.assertProblem(self.approve(app["id"], c.reg), 409, "NOT_PENDING")
        self.assertEqual(problem["application"]["status"], "withdrawn")

    def test_idempotency_key_reused_with_another_body(self):
        c = make_clinic()
        key = "rules-" + client.unique()
        body = application_body(c.body)
        self.submit(body, key=key)
        problem = self.assertProblem(client.submit_application(
            dict(body, address="басқа"), idempotency_key=key), 422, "IDEMPOTENCY_KEY_REUSED")
        self.assertIn("Idempotency-Key", [e["field"] for e in problem["errors"]])

    def test_every_code_answered_is_a_distinct_one(self):
        c = make_clinic()
        p = new_person()
        self.submit_pending(application_body(c.body, person=p))
        self.assertProblem(client.submit_application(application_body(c.body, person=p)), 409,
                           "PENDING_EXISTS")


class ApproveByNumberTest(AppTestCase):

    def test_approve_by_district_number(self):
        c = make_clinic(districts=(("gp", 10, "7"), ("gp", 100, "12")))
        app = self.submit_pending(application_body(c.body))
        done = self.assertJson(call("POST", "/v1/applications/%d/approve" % app["id"],
                                    {"district_number": "7"}, token=c.reg), 200)
        self.assertEqual(done["district_id"], c.district(0)["id"])
        self.assertNotIn("district_note", done)

    def test_both_or_unknown_is_422(self):
        """(Passed before too: district_number was an unknown member, 422 as well.)"""
        c = make_clinic(districts=(("gp", 10, "7"),))
        other = make_clinic(districts=(("gp", 10, "8"),))
        app = self.submit_pending(application_body(c.body))
        path = "/v1/applications/%d/approve" % app["id"]
        for body, field in (({"district_id": c.district()["id"], "district_number": "7"},
                             "district_number"),
                            ({"district_number": "8"}, "district_number"),
                            ({"district_number": ""}, "district_number"),
                            ({"district_id": other.district()["id"]}, "district_id")):
            with self.subTest(body=body):
                self.assertFieldError(call("POST", path, body, token=c.reg), field)
        self.assertEqual(self.get_app(app["id"])["status"], "pending")

    def test_district_note_says_which_district_instead_and_why(self):
        c = make_clinic(districts=(("gp", 1, "1"), ("pediatric_0_6", 50, "2"), ("gp", 50, "3"),
                                   ("gp", 50, "4")))
        full, ped, big, closed = (c.district(i)["id"] for i in range(4))
        self.assertJson(call("PATCH", "/v1/districts/%d" % closed, {"open": False}), 200)
        attached_here(self, c, new_person())  # takes the one place of district 1 (most free: 3)
        self.assertJson(call("PATCH", "/v1/districts/%d" % big, {"capacity": 60}), 200)
        attached_here(self, c, new_person())
        loads = {d["id"]: d["load"] for d in list_all("/v1/polyclinics/%d/districts" % c.id)}
        if loads[full] == 0:  # make district 1 full whatever the choice above did
            a = self.submit_pending(application_body(c.body))
            self.approved(a["id"], c.reg, full)
        for number, reason in (("1", "full"), ("2", "age"), ("4", "closed")):
            with self.subTest(reason=reason):
                app = self.submit_pending(application_body(c.body))
                done = self.assertJson(call("POST", "/v1/applications/%d/approve" % app["id"],
                                            {"district_number": number}, token=c.reg), 200)
                self.assertEqual(done["status"], "approved")
                note = done.get("district_note")
                self.assertIsInstance(note, dict, done)
                self.assertEqual(note["reason"], reason)
                self.assertEqual(note["chosen_district_id"], done["district_id"])
                self.assertEqual(note["chosen_district_id"], big)
                self.assertIsInstance(note["text"], str)
                self.assertNotIn("district_note", self.get_app(app["id"]))


class WorkQueueFiltersTest(AppTestCase):

    @classmethod
    def setUpClass(cls):
        cls.c = make_clinic()
        cls.made = []
        for channel, grounds in (("egov", "relocation"), ("in_person", "relocation"),
                                 ("egov", "clinic_closed")):
            body = application_body(cls.c.body, channel=channel, grounds=grounds)
            token = cls.c.reg if channel == "in_person" else PORTAL
            cls.made.append(client.expect(client.submit_application(body, token=token), 201,
                                          "queue fixture"))

    def ids(self, query):
        return [a["id"] for a in list_all("/v1/applications?polyclinic_id=%d&%s"
                                          % (self.c.id, query), token=self.c.reg)]

    def test_filters(self):
        a, b, cc = (m["id"] for m in self.made)
        self.assertEqual(self.ids("channel=in_person"), [b])
        self.assertEqual(self.ids("grounds=clinic_closed"), [cc])
        self.assertEqual(self.ids("grounds=relocation&channel=egov"), [a])
        self.assertEqual(self.ids("iin=" + self.made[1]["person"]["iin"]), [b])
        days = [today() - ONE_DAY, today(), today() + ONE_DAY]
        self.assertEqual(self.ids("submitted_from=%s&submitted_to=%s"
                                  % (iso(days[0]), iso(days[2]))), [a, b, cc])
        self.assertEqual(self.ids("submitted_from=%s" % iso(days[2])), [])
        self.assertEqual(self.ids("submitted_to=%s" % iso(days[0])), [])

    def test_each_item_says_whether_it_is_overdue(self):
        items = list_all("/v1/applications?polyclinic_id=%d" % self.c.id, token=self.c.reg)
        self.assertTrue(items)
        for item in items:
            self.assertIs(item["overdue"], False, item)

    def test_bad_filters_are_422(self):
        for query, field in (("channel=fax", "channel"), ("grounds=age_out", "grounds"),
                             ("iin=123", "iin"), ("submitted_from=2026-02-30", "submitted_from"),
                             ("submitted_to=yesterday", "submitted_to")):
            with self.subTest(query=query):
                self.assertFieldError(call("GET", "/v1/applications?" + query), field)


class ListLimitTest(AppTestCase):

    def test_limit_1_to_500_on_every_list(self):
        c = make_clinic()
        lists = ["/v1/applications", "/v1/polyclinics", "/v1/settlements", "/v1/district-kinds",
                 "/v1/refusal-reasons", "/v1/audit",
                 "/v1/polyclinics/%d/transfers" % c.id]
        for path in lists:
            with self.subTest(path=path):
                sep = "&" if "?" in path else "?"
                for bad in ("0", "501"):
                    self.assertFieldError(call("GET", path + sep + "limit=" + bad), "limit")
                self.assertJson(call("GET", path + sep + "limit=500"), 200)


# ----------------------------------------------------------------------------------------------
# §11 dry run: POST /v1/eligibility
# ----------------------------------------------------------------------------------------------

class EligibilityTest(AutoApproveCase):

    def eligibility(self, body, token=PORTAL):
        return call("POST", "/v1/eligibility", body, token=token)

    def assertNothingStored(self, clinic, iin):
        self.assertEqual(applications_of(clinic.id), [])
        self.assertEqual(call("GET", "/v1/persons/%s/attachment" % iin).status, 404)

    def test_pending_and_refused_outcomes_store_nothing(self):
        c = make_clinic()
        body = application_body(c.body)
        got = self.assertJson(self.eligibility(body), 200)
        self.assertEqual(got, {"outcome": "pending", "refusal": None, "warnings": [],
                               "district_id": None, "effective_on": None})
        other = application_body(c.body, settlement=client.new_settlement())
        got = self.assertJson(self.eligibility(other), 200)
        self.assertEqual(got["outcome"], "refused")
        self.assertEqual(got["refusal"]["code"], "OTHER_SETTLEMENT")
        self.assertEqual(set(got["refusal"]["title"]), {"kk", "ru", "en"})
        self.assertIsNone(got["refusal"]["comment"])
        self.assertNothingStored(c, body["person"]["iin"])
        # and the person may still submit
        self.submit_pending(body)

    def test_approved_outcome_names_district_and_effective_date(self):
        c = make_clinic(auto_approve=True, districts=(("gp", 1),))
        body = self.auto_body(c)
        days = Days()
        got = self.assertJson(self.eligibility(body), 200)
        days.close()
        self.assertEqual(got["outcome"], "approved", got)
        self.assertEqual(got["district_id"], c.district()["id"])
        self.assertIn(got["effective_on"], days.tomorrow())
        self.assertNothingStored(c, body["person"]["iin"])
        self.assertEqual(list_all("/v1/polyclinics/%d/districts" % c.id)[0]["load"], 0)
        # the one place is still there for a real submission, twice asked
        self.assertEqual(self.assertJson(self.eligibility(body), 200)["outcome"], "approved")
        self.assertEqual(self.submit(body)["status"], "approved")

    def test_warnings_and_conflicts_as_a_submission(self):
        c = make_clinic()
        p = new_person(age=40)
        p["iin"] = unique_iin(birth_date_for_age(45), "male")
        got = self.assertJson(self.eligibility(application_body(c.body, person=p)), 200)
        self.assertEqual(got["warnings"], ["IIN_BIRTH_DATE_MISMATCH"])
        q = new_person()
        pending = self.submit_pending(application_body(c.body, person=q))
        problem = self.assertProblem(self.eligibility(application_body(c.body, person=q)), 409,
                                     "PENDING_EXISTS")
        self.assertEqual(problem["pending_application_id"], pending["id"])
        self.assertFieldError(self.eligibility({"person": {}}), "person.iin")

    def test_roles(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        body = application_body(c.body, channel="in_person")
        self.assertJson(self.eligibility(body, token=ADMIN), 200)
        self.assertJson(self.eligibility(body, token=c.reg), 200)
        self.assertProblem(self.eligibility(body, token=other.reg), 403)
        self.assertEqual(applications_of(c.id), [])
