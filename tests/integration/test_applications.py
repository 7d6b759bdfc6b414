"""Applications over HTTP (SPEC §3, §4, §7, §8): the nine checks and their order, warnings,
malformed bodies, the life cycle and its decisions, district choice, capacity under concurrency,
idempotency, the work queue, and everything that needs today to be inside (or outside) a
campaign window (CampaignWindowTest, which owns the campaign calendar while it runs).

Everything else uses `relocation` grounds, accepted all year, so nothing depends on the date;
a relocation is never auto-approved (§11), so the tests of auto_approve (AutoApproveCase) open a
campaign of their own."""

import datetime
import json
import threading
import uuid

import client
from apphelpers import (OwnCampaignCase, application_body, birth_date_for_age, new_person, unique_iin,
                        ONE_DAY, AppTestCase, AutoApproveCase, Days, NO_DB, applications_of,
                        db_available, districts_of, expected_due, free_kato, iso, make_clinic,
                        psql, refusal_reasons, seed_current_attachment, today, unused_iin)
from client import ADMIN, PORTAL, call, list_all, new_settlement

NINE = ["INVALID_DATA", "NOT_ELIGIBLE", "OUTSIDE_CAMPAIGN", "CLINIC_NOT_ACCEPTING",
        "OTHER_SETTLEMENT", "CHILD_DOCUMENTS_MISSING", "ALREADY_ATTACHED", "REPEAT_CHANGE",
        "CAPACITY_EXCEEDED"]


def minor_body(clinic, age=8, **fields):
    return application_body(clinic.body, person=new_person(age=age), **fields)


def run_threads(n, target):
    """Runs target(i) on n threads started together; returns the results in order."""
    results = [None] * n
    errors = []
    barrier = threading.Barrier(n)

    def work(i):
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------------------------
# The checks, one by one (those that do not depend on the campaign window)
# ----------------------------------------------------------------------------------------------

class RefusalReasonsTest(AppTestCase):

    @classmethod
    def setUpClass(cls):
        cls.clinic = make_clinic()

    def body(self, **fields):
        return application_body(self.clinic.body, **fields)

    def test_refusal_is_201_stored_with_code_titles_and_null_comment(self):
        p = new_person(residency="temporary_foreigner")
        r = client.submit_application(self.body(person=p))
        app = self.assertJson(r, 201)
        self.assertRefused(app, "NOT_ELIGIBLE")
        self.assertTrue(r.headers.get("Location", "").endswith("/v1/applications/%d" % app["id"]),
                        "201 Location: %r" % r.headers.get("Location"))
        stored = self.get_app(app["id"])
        self.assertEqual(stored, app, "GET returns the stored refusal as it was answered")
        self.assertEqual(stored["person"]["iin"], p["iin"])
        self.assertEqual(stored["polyclinic_id"], self.clinic.id)

    def test_invalid_data_applicant_iin_with_wrong_check_digit(self):
        p = new_person()
        p["iin"] = client.break_checksum(p["iin"])
        self.assertFalse(client.checksum_ok(p["iin"]))
        self.submit_refused(self.body(person=p), "INVALID_DATA")

    def test_invalid_data_representative_iin_with_wrong_check_digit(self):
        body = minor_body(self.clinic)
        body["representative"]["iin"] = client.break_checksum(body["representative"]["iin"])
        self.submit_refused(body, "INVALID_DATA")

    def test_invalid_data_birth_date_in_the_future(self):
        born = today() + datetime.timedelta(days=40)
        p = new_person(birth_date=born)
        self.assertTrue(client.checksum_ok(p["iin"]))
        self.submit_refused(self.body(person=p), "INVALID_DATA")

    def test_invalid_data_unknown_settlement(self):
        self.submit_refused(self.body(settlement=free_kato()), "INVALID_DATA")

    def test_not_eligible_temporary_foreigner(self):
        self.submit_refused(self.body(person=new_person(residency="temporary_foreigner")),
                            "NOT_ELIGIBLE")

    def test_not_eligible_eaeu_migrant_without_insurance(self):
        for residency in ("eaeu_migrant", "eaeu_migrant_family"):
            with self.subTest(residency=residency):
                self.submit_refused(self.body(person=new_person(residency=residency)),
                                    "NOT_ELIGIBLE")

    def test_not_eligible_eaeu_migrant_insurance_ending_before_the_effective_date(self):
        # relocation takes effect the day after approval: insurance ending today is too short
        p = new_person(residency="eaeu_migrant",
                       insurance_contract={"number": "ДМС-" + client.unique(),
                                           "valid_until": iso(today() - ONE_DAY)})
        self.submit_refused(self.body(person=p), "NOT_ELIGIBLE")
        p = new_person(residency="eaeu_migrant",
                       insurance_contract={"number": "ДМС-" + client.unique(),
                                           "valid_until": iso(today())})
        self.submit_refused(self.body(person=p), "NOT_ELIGIBLE")

    def test_eaeu_migrants_with_valid_insurance_and_permanent_residents_pass(self):
        until = iso(today() + datetime.timedelta(days=400))
        for residency in ("eaeu_migrant", "eaeu_migrant_family"):
            with self.subTest(residency=residency):
                p = new_person(residency=residency,
                               insurance_contract={"number": "RU-" + client.unique(),
                                                   "valid_until": until})
                self.submit_pending(self.body(person=p))
        for residency in ("citizen", "resident_foreigner", "stateless"):
            with self.subTest(residency=residency):
                self.submit_pending(self.body(person=new_person(residency=residency)))

    def test_clinic_not_accepting(self):
        kato = new_settlement()
        for fields in ({"accepting": False}, {"fsms_contract": False}):
            with self.subTest(**fields):
                c = make_clinic(kato=kato, **fields)
                self.submit_refused(application_body(c.body), "CLINIC_NOT_ACCEPTING")

    def test_clinic_that_stops_accepting_refuses_from_then_on(self):
        c = make_clinic()
        self.submit_pending(application_body(c.body))
        self.assertJson(call("PATCH", "/v1/polyclinics/%d" % c.id, {"accepting": False}), 200)
        self.submit_refused(application_body(c.body), "CLINIC_NOT_ACCEPTING")

    def test_other_settlement(self):
        elsewhere = new_settlement()
        self.submit_refused(self.body(settlement=elsewhere), "OTHER_SETTLEMENT")

    def test_border_settlement_in_also_serves_passes(self):
        home, border, third = new_settlement(), new_settlement(), new_settlement()
        c = make_clinic(kato=home, also_serves=[border])
        self.submit_pending(application_body(c.body, settlement=border))
        self.submit_pending(application_body(c.body, settlement=home))
        self.submit_refused(application_body(c.body, settlement=third), "OTHER_SETTLEMENT")

    def test_child_documents_missing(self):
        cases = {
            "no representative": lambda b: b.pop("representative"),
            "no birth certificate": lambda b: b.pop("birth_certificate"),
            "empty birth certificate": lambda b: b.__setitem__("birth_certificate", ""),
            "representative without iin": lambda b: b["representative"].pop("iin"),
            "representative without relation": lambda b: b["representative"].pop("relation"),
        }
        for name, change in cases.items():
            with self.subTest(case=name):
                body = minor_body(self.clinic, age=12)
                change(body)
                self.submit_refused(body, "CHILD_DOCUMENTS_MISSING")

    def test_minor_with_documents_and_adult_without_pass(self):
        for relation in ("mother", "father", "guardian"):
            with self.subTest(relation=relation):
                body = minor_body(self.clinic, age=17)
                body["representative"]["relation"] = relation
                self.submit_pending(body)
        adult = self.body(person=new_person(age=18))
        self.assertNotIn("representative", adult)
        self.submit_pending(adult)

    def test_already_attached_there_even_before_it_begins(self):
        c = make_clinic()
        p = new_person()
        first = self.attach(c, person=p)
        self.assertGreater(first["effective_on"], iso(today()), "the attachment is upcoming")
        again = self.submit_refused(application_body(c.body, person=p), "ALREADY_ATTACHED")
        self.assertNotEqual(again["id"], first["id"])
        # another polyclinic of the same settlement is a move, not a refusal
        other = make_clinic(kato=c.kato)
        self.submit_pending(application_body(other.body, person=p))

    def test_capacity_exceeded_at_submission(self):
        kato = new_settlement()
        empty = make_clinic(kato=kato, districts=())
        self.submit_refused(application_body(empty.body), "CAPACITY_EXCEEDED")
        pediatric_only = make_clinic(kato=kato, districts=(("pediatric_0_14", 100),))
        self.submit_refused(application_body(pediatric_only.body, person=new_person(age=15)),
                            "CAPACITY_EXCEEDED")
        self.submit_pending(application_body(pediatric_only.body, person=new_person(age=14)))
        therapist_only = make_clinic(kato=kato, districts=(("therapist", 100),))
        self.submit_refused(application_body(therapist_only.body, person=new_person(age=14)),
                            "CAPACITY_EXCEEDED")
        full = make_clinic(kato=kato, districts=(("gp", 1),))
        self.attach(full)
        self.submit_refused(application_body(full.body), "CAPACITY_EXCEEDED")
        closed = make_clinic(kato=kato, districts=(("gp", 100),))
        self.assertJson(call("PATCH", "/v1/districts/%d" % closed.district()["id"],
                             {"open": False}), 200)
        self.submit_refused(application_body(closed.body), "CAPACITY_EXCEEDED")

    def test_every_refusal_reason_is_in_the_catalogue(self):
        reasons = refusal_reasons()
        for code in NINE:
            self.assertIn(code, reasons)


# ----------------------------------------------------------------------------------------------
# The order of the checks: a body failing two checks gets the earlier reason
# ----------------------------------------------------------------------------------------------

class CheckOrderTest(AppTestCase):

    def test_invalid_data_before_not_eligible(self):
        c = make_clinic()
        p = new_person(residency="temporary_foreigner")
        p["iin"] = client.break_checksum(p["iin"])
        self.submit_refused(application_body(c.body, person=p), "INVALID_DATA")

    def test_invalid_data_before_other_settlement_and_not_accepting(self):
        c = make_clinic(accepting=False)
        self.submit_refused(application_body(c.body, settlement=free_kato()), "INVALID_DATA")

    def test_not_eligible_before_clinic_not_accepting(self):
        c = make_clinic(accepting=False)
        p = new_person(residency="temporary_foreigner")
        self.submit_refused(application_body(c.body, person=p), "NOT_ELIGIBLE")

    def test_clinic_not_accepting_before_other_settlement(self):
        c = make_clinic(fsms_contract=False)
        self.submit_refused(application_body(c.body, settlement=new_settlement()),
                            "CLINIC_NOT_ACCEPTING")

    def test_other_settlement_before_child_documents(self):
        c = make_clinic()
        body = minor_body(c, settlement=new_settlement())
        del body["representative"]
        self.submit_refused(body, "OTHER_SETTLEMENT")

    def test_child_documents_before_capacity(self):
        c = make_clinic(districts=(("therapist", 10),))
        body = minor_body(c, age=5)
        del body["birth_certificate"]
        self.submit_refused(body, "CHILD_DOCUMENTS_MISSING")

    def test_already_attached_before_capacity(self):
        c = make_clinic(districts=(("gp", 1),))
        p = new_person()
        self.attach(c, person=p)  # takes the only place
        self.submit_refused(application_body(c.body, person=p), "ALREADY_ATTACHED")
        self.submit_refused(application_body(c.body), "CAPACITY_EXCEEDED")

    def test_all_failing_at_once_is_invalid_data(self):
        c = make_clinic(accepting=False, fsms_contract=False, districts=())
        p = new_person(age=7, residency="temporary_foreigner")
        p["iin"] = client.break_checksum(p["iin"])
        body = application_body(c.body, person=p, settlement=new_settlement())
        del body["representative"]
        self.submit_refused(body, "INVALID_DATA")


# ----------------------------------------------------------------------------------------------
# IIN disagreements are warnings, never refusals (SPEC §4)
# ----------------------------------------------------------------------------------------------

class WarningsTest(AutoApproveCase):

    def test_matching_iin_has_no_warnings(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertEqual(app.get("warnings"), [])

    def test_birth_date_mismatch_is_a_warning(self):
        c = make_clinic()
        p = new_person(age=40)
        p["iin"] = unique_iin(birth_date_for_age(41), "male")
        app = self.submit_pending(application_body(c.body, person=p))
        self.assertEqual(app.get("warnings"), ["IIN_BIRTH_DATE_MISMATCH"])
        self.assertEqual(self.get_app(app["id"])["warnings"], ["IIN_BIRTH_DATE_MISMATCH"])

    def test_sex_mismatch_is_a_warning(self):
        c = make_clinic()
        p = new_person(age=33, sex="female")
        p["iin"] = unique_iin(p["birth_date"], "male")
        app = self.submit_pending(application_body(c.body, person=p))
        self.assertEqual(app.get("warnings"), ["IIN_SEX_MISMATCH"])

    def test_both_mismatches_are_both_warned(self):
        c = make_clinic()
        p = new_person(age=25, sex="male")
        p["iin"] = unique_iin(birth_date_for_age(52), "female")
        app = self.submit_pending(application_body(c.body, person=p))
        self.assertEqual(sorted(app.get("warnings")),
                         ["IIN_BIRTH_DATE_MISMATCH", "IIN_SEX_MISMATCH"])

    def test_warned_application_is_never_auto_approved(self):
        c = make_clinic(auto_approve=True)
        p = new_person(age=40)
        p["iin"] = unique_iin(birth_date_for_age(45), "male")
        app = self.submit_pending(self.auto_body(c, person=p))
        self.assertEqual(app["warnings"], ["IIN_BIRTH_DATE_MISMATCH"])
        # the same polyclinic approves a clean one at once
        clean = self.submit(self.auto_body(c))
        self.assertEqual(clean["status"], "approved", clean)
        # the registrar may still approve the warned one
        self.approved(app["id"], c.reg)

    def test_age_is_computed_from_birth_date_not_from_the_iin(self):
        # IIN says 40 years old, birth_date says 5: a child, so pediatric district and documents
        c = make_clinic(districts=(("pediatric_0_6", 10), ("therapist", 10)), auto_approve=True)
        p = new_person(age=5)
        p["iin"] = unique_iin(birth_date_for_age(40), "male")
        body = application_body(c.body, person=p)
        self.assertIn("representative", body)
        app = self.submit_pending(body)
        self.assertEqual(app["warnings"], ["IIN_BIRTH_DATE_MISMATCH"])
        done = self.approved(app["id"], c.reg)
        self.assertEqual(done["district_id"], c.district(0)["id"])
        del body["birth_certificate"]
        body["person"] = dict(p, iin=unique_iin(birth_date_for_age(40), "male"))
        self.submit_refused(body, "CHILD_DOCUMENTS_MISSING")


# ----------------------------------------------------------------------------------------------
# Malformed bodies: 422 with field paths, nothing stored
# ----------------------------------------------------------------------------------------------

class MalformedBodyTest(AppTestCase):

    @classmethod
    def setUpClass(cls):
        cls.clinic = make_clinic()
        cls.other = make_clinic(kato=cls.clinic.kato)

    def assertRejected(self, body, field):
        """422 naming field, and nothing stored for the person."""
        r = client.submit_application(body)
        self.assertFieldError(r, field)
        iin = (body.get("person") or {}).get("iin")
        if isinstance(iin, str) and len(iin) == 12 and iin.isascii() and iin.isdigit():
            self.assertProblem(call("GET", "/v1/persons/%s/attachment" % iin), 404)

    def test_missing_person_iin(self):
        body = application_body(self.clinic.body)
        del body["person"]["iin"]
        self.assertRejected(body, "person.iin")

    def test_iin_that_is_not_12_digits(self):
        for bad in ("12345", "1234567890123", "85041230012a", "８５０４１２３００１２３", ""):
            with self.subTest(iin=bad):
                body = application_body(self.clinic.body)
                body["person"]["iin"] = bad
                self.assertRejected(body, "person.iin")
        body = application_body(self.clinic.body)
        body["person"]["iin"] = int(body["person"]["iin"])
        self.assertRejected(body, "person.iin")

    def test_bad_enumerations(self):
        cases = [
            ("person.sex", lambda b: b["person"].__setitem__("sex", "m")),
            ("person.residency", lambda b: b["person"].__setitem__("residency", "tourist")),
            ("channel", lambda b: b.__setitem__("channel", "fax")),
            ("grounds", lambda b: b.__setitem__("grounds", "whim")),
            ("representative.relation",
             lambda b: b["representative"].__setitem__("relation", "aunt")),
        ]
        for field, change in cases:
            with self.subTest(field=field):
                body = minor_body(self.clinic)
                change(body)
                self.assertRejected(body, field)

    def test_impossible_dates(self):
        for bad in ("2001-02-30", "2001-13-01", "01.02.2001", "2001-2-3"):
            with self.subTest(birth_date=bad):
                body = application_body(self.clinic.body)
                body["person"]["birth_date"] = bad
                self.assertRejected(body, "person.birth_date")
        body = application_body(self.clinic.body, person=new_person(
            residency="eaeu_migrant", insurance_contract={"number": "X1",
                                                          "valid_until": "2030-02-31"}))
        self.assertRejected(body, "person.insurance_contract.valid_until")

    def test_bad_identity_numbers_elsewhere_in_the_body(self):
        body = minor_body(self.clinic)
        body["representative"]["iin"] = "12345"
        self.assertRejected(body, "representative.iin")
        body = application_body(self.clinic.body, family_iins=["123456789012", "12-45"])
        self.assertRejected(body, "family_iins[1]")

    def test_unknown_polyclinic(self):
        body = application_body(999999999, settlement=self.clinic.kato)
        self.assertRejected(body, "polyclinic_id")

    def test_district_of_another_polyclinic(self):
        body = application_body(self.clinic.body, district_id=self.other.district()["id"])
        self.assertRejected(body, "district_id")
        body = application_body(self.clinic.body, district_id=999999999)
        self.assertRejected(body, "district_id")

    def test_unknown_members(self):
        body = application_body(self.clinic.body, favourite_doctor="Айбек")
        self.assertRejected(body, "favourite_doctor")
        body = application_body(self.clinic.body)
        body["person"]["nickname"] = "Ерке"
        self.assertRejected(body, "person.nickname")

    def test_missing_required_members(self):
        for field in ("person", "settlement", "polyclinic_id", "channel", "grounds"):
            with self.subTest(field=field):
                body = application_body(self.clinic.body)
                del body[field]
                self.assertRejected(body, field)

    def test_rejected_body_stores_nothing(self):
        body = application_body(self.clinic.body)
        bad = dict(body, channel="fax")
        self.assertFieldError(client.submit_application(bad), "channel")
        bad = dict(body, district_id=self.other.district()["id"])
        self.assertFieldError(client.submit_application(bad), "district_id")
        iin = body["person"]["iin"]
        self.assertProblem(call("GET", "/v1/persons/%s/attachment" % iin), 404)
        mine = [a for a in applications_of(self.clinic.id) if a["person"]["iin"] == iin]
        self.assertEqual(mine, [], "no application stored for a 422")
        # and no pending application blocks the person's valid one
        self.submit_pending(body)


# ----------------------------------------------------------------------------------------------
# Life cycle and decisions
# ----------------------------------------------------------------------------------------------

class LifecycleTest(AppTestCase):

    def test_pending_is_due_at_18_local_of_the_next_working_day(self):
        c = make_clinic()
        days = Days()
        app = self.submit(application_body(c.body))
        days.close()
        self.assertPending(app, days)
        due = datetime.datetime.fromisoformat(app["decision_due_at"])
        self.assertEqual((due.hour, due.minute), (18, 0))
        self.assertNotIn(due.date().isoweekday(), (6, 7), "never due on a weekend")
        self.assertGreater(due.date(), days.first)
        self.assertEqual(self.get_app(app["id"])["decision_due_at"], app["decision_due_at"])

    def test_working_day_rule_of_the_test_itself(self):
        # the expectation used above: Friday -> Monday, holidays skipped
        self.assertEqual(expected_due(datetime.date(2026, 11, 27)).date(),
                         datetime.date(2026, 11, 30))
        self.assertEqual(expected_due(datetime.date(2026, 12, 15)).date(),
                         datetime.date(2026, 12, 17))
        self.assertEqual(expected_due(datetime.date(2027, 3, 19)).date(),
                         datetime.date(2027, 3, 24))

    def test_second_pending_application_is_409_naming_the_open_one(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        p = new_person()
        first = self.submit_pending(application_body(c.body, person=p))
        for target in (c, other):
            with self.subTest(polyclinic=target.id):
                r = client.submit_application(application_body(target.body, person=p))
                body = self.assertProblem(r, 409)
                self.assertEqual(body.get("pending_application_id"), first["id"], body)
        # a refused application does not block, and a new one after withdrawal is accepted
        self.assertEqual(self.withdraw(first["id"]).status, 200)
        self.submit_pending(application_body(other.body, person=p))

    def test_refused_application_does_not_count_as_pending(self):
        c = make_clinic(accepting=False)
        good = make_clinic(kato=c.kato)
        p = new_person()
        self.submit_refused(application_body(c.body, person=p), "CLINIC_NOT_ACCEPTING")
        self.submit_pending(application_body(good.body, person=p))

    def test_portal_withdraws_a_pending_application_once(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertProblem(self.withdraw(app["id"], token=c.reg), 403)
        body = self.assertJson(self.withdraw(app["id"]), 200)
        self.assertEqual((body["id"], body["status"]), (app["id"], "withdrawn"))
        self.assertEqual(self.get_app(app["id"])["status"], "withdrawn")
        self.assertProblem(self.withdraw(app["id"]), 409)
        self.assertProblem(self.approve(app["id"], c.reg), 409)
        self.assertEqual(self.get_app(app["id"])["status"], "withdrawn")
        self.assertProblem(self.withdraw(999999999), 404)

    def test_registrar_of_the_polyclinic_approves(self):
        c = make_clinic(districts=(("gp", 50),))
        app = self.submit_pending(application_body(c.body))
        days = Days()
        done = self.approved(app["id"], c.reg)
        days.close()
        self.assertEqual(done["id"], app["id"])
        self.assertEqual(done["district_id"], c.district()["id"])
        self.assertIn(done["effective_on"], days.tomorrow(),
                      "relocation takes effect the day after approval")
        self.assertIsNone(done.get("refusal"))
        self.assertEqual(self.get_app(app["id"]), done)
        d = districts_of(c.id)[c.district()["id"]]
        self.assertEqual((d["load"], d["free"]), (1, 49))

    def test_other_roles_cannot_decide(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        app = self.submit_pending(application_body(c.body))
        self.assertProblem(self.approve(app["id"], other.reg), 404)
        self.assertProblem(self.refuse(app["id"], other.reg, "OTHER_SETTLEMENT"), 404)
        self.assertProblem(self.approve(app["id"], PORTAL), 403)
        self.assertProblem(self.refuse(app["id"], PORTAL, "OTHER_SETTLEMENT"), 403)
        self.assertProblem(self.approve(app["id"], ADMIN), 403)
        self.assertProblem(self.approve(999999999, c.reg), 404)
        self.assertEqual(self.get_app(app["id"])["status"], "pending")

    def test_who_reads_an_application(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        app = self.submit_pending(application_body(c.body))
        for token in (PORTAL, c.reg, ADMIN):
            self.assertEqual(self.get_app(app["id"], token=token)["id"], app["id"])
        self.assertProblem(call("GET", "/v1/applications/%d" % app["id"], token=other.reg), 404)
        self.assertProblem(call("GET", "/v1/applications/999999999"), 404)

    def test_registrar_submits_in_person_to_its_own_polyclinic_only(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        app = self.submit_pending(application_body(c.body, channel="in_person"), token=c.reg)
        self.assertEqual(app["channel"], "in_person")
        self.assertProblem(client.submit_application(application_body(c.body), token=c.reg), 403)
        self.assertProblem(client.submit_application(
            application_body(other.body, channel="in_person"), token=c.reg), 403)
        self.assertProblem(client.submit_application(application_body(c.body), token=ADMIN), 403)

    def test_refuse_with_a_catalogue_reason_and_comment(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        comment = "Мекенжайы басқа ауданда — адрес в другом районе"
        body = self.assertJson(self.refuse(app["id"], c.reg, "OTHER_SETTLEMENT", comment), 200)
        self.assertRefused(body, "OTHER_SETTLEMENT", comment=comment)
        self.assertRefused(self.get_app(app["id"]), "OTHER_SETTLEMENT", comment=comment)

    def test_refuse_without_comment_has_null_comment(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        body = self.assertJson(self.refuse(app["id"], c.reg, "CAPACITY_EXCEEDED"), 200)
        self.assertRefused(body, "CAPACITY_EXCEEDED")

    def test_refuse_with_unknown_or_missing_reason_is_422(self):
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        self.assertFieldError(self.refuse(app["id"], c.reg, "TOO_TIRED"), "reason")
        self.assertFieldError(call("POST", "/v1/applications/%d/refuse" % app["id"],
                                   {"comment": "без причины"}, token=c.reg), "reason")
        self.assertEqual(self.get_app(app["id"])["status"], "pending", "a 422 changes nothing")

    def test_decided_applications_never_change(self):
        c = make_clinic()
        refused = self.submit_pending(application_body(c.body))
        self.assertJson(self.refuse(refused["id"], c.reg, "INVALID_DATA", "қате"), 200)
        approved = self.submit_pending(application_body(c.body))
        self.approved(approved["id"], c.reg)
        auto_refused = self.submit_refused(
            application_body(c.body, person=new_person(residency="temporary_foreigner")),
            "NOT_ELIGIBLE")
        for app in (refused, approved, auto_refused):
            before = self.get_app(app["id"])
            with self.subTest(status=before["status"]):
                self.assertProblem(self.approve(app["id"], c.reg), 409)
                self.assertProblem(self.refuse(app["id"], c.reg, "OTHER_SETTLEMENT"), 409)
                self.assertProblem(self.withdraw(app["id"]), 409)
                self.assertEqual(self.get_app(app["id"]), before)
        d = districts_of(c.id)[c.district()["id"]]
        self.assertEqual(d["load"], 1, "only the approved one holds a place")

    def test_approve_with_district_of_another_polyclinic_is_422(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        app = self.submit_pending(application_body(c.body))
        self.assertFieldError(self.approve(app["id"], c.reg, other.district()["id"]),
                              "district_id")
        self.assertFieldError(call("POST", "/v1/applications/%d/approve" % app["id"],
                                   {"district": c.district()["id"]}, token=c.reg), "district")
        self.assertEqual(self.get_app(app["id"])["status"], "pending")


# ----------------------------------------------------------------------------------------------
# District choice (SPEC §3 Approval)
# ----------------------------------------------------------------------------------------------

def number_key(n):
    return (0, int(n), n) if n.isdigit() else (1, 0, n)


class DistrictChoiceTest(AutoApproveCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.kinds = {k["code"]: k for k in list_all("/v1/district-kinds")}

    def fits(self, d, age):
        k = self.kinds[d["kind"]]
        return (d.get("open", True) and age >= k["min_age"]
                and (k["max_age"] is None or age <= k["max_age"]) and d["free"] > 0)

    def expected(self, clinic, age):
        """The most-free fitting district (ties: lowest number), from the current loads."""
        ds = [d for d in districts_of(clinic.id).values() if self.fits(d, age)]
        if not ds:
            return None
        return min(ds, key=lambda d: (-d["free"], number_key(d["number"])))["id"]

    def test_requested_district_wins_when_it_fits_and_has_room(self):
        c = make_clinic(districts=(("gp", 5), ("gp", 100)))
        small = c.district(0)["id"]
        app = self.submit_pending(application_body(c.body, district_id=small))
        self.assertEqual(app.get("requested_district_id"), small)
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], small)

    def test_approvers_district_wins_when_it_fits(self):
        c = make_clinic(districts=(("gp", 5), ("gp", 100)))
        small = c.district(0)["id"]
        app = self.submit_pending(application_body(c.body))
        self.assertEqual(self.approved(app["id"], c.reg, small)["district_id"], small)

    def test_requested_district_full_or_not_fitting_falls_back(self):
        c = make_clinic(districts=(("gp", 1), ("pediatric_0_6", 100), ("gp", 20), ("gp", 30)))
        one, ped, big = c.district(0)["id"], c.district(1)["id"], c.district(3)["id"]
        self.attach(c, district_id=one)
        app = self.submit_pending(application_body(c.body, district_id=one))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], big,
                         "the requested district is full")
        app = self.submit_pending(application_body(c.body, district_id=ped))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], big,
                         "a pediatric district does not fit an adult")

    def test_family_members_district(self):
        c = make_clinic(districts=(("gp", 10), ("gp", 200)))
        small, big = c.district(0)["id"], c.district(1)["id"]
        mother = new_person(age=35, sex="female")
        self.assertEqual(self.attach(c, person=mother, district_id=small)["district_id"], small)
        someone_else = new_person(age=70)
        child = new_person(age=4)
        body = application_body(c.body, person=child,
                                family_iins=[someone_else["iin"], mother["iin"]])
        app = self.submit_pending(body)
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], small)
        # without the family member: the most free district
        app = self.submit_pending(application_body(c.body))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], big)

    def test_requested_district_before_family(self):
        c = make_clinic(districts=(("gp", 10), ("gp", 200), ("gp", 50)))
        fam_d, requested = c.district(0)["id"], c.district(2)["id"]
        father = new_person(age=40)
        self.attach(c, person=father, district_id=fam_d)
        app = self.submit_pending(application_body(c.body, district_id=requested,
                                                   family_iins=[father["iin"]]))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], requested)

    def test_family_district_full_falls_back_to_most_free(self):
        c = make_clinic(districts=(("gp", 1), ("gp", 30), ("gp", 60)))
        full, big = c.district(0)["id"], c.district(2)["id"]
        wife = new_person(age=30, sex="female")
        self.attach(c, person=wife, district_id=full)
        app = self.submit_pending(application_body(c.body, family_iins=[wife["iin"]]))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], big)

    def test_family_member_attached_elsewhere_is_ignored(self):
        c = make_clinic(districts=(("gp", 10), ("gp", 200)))
        elsewhere = make_clinic(kato=c.kato)
        sister = new_person(age=29, sex="female")
        self.attach(elsewhere, person=sister)
        app = self.submit_pending(application_body(c.body, family_iins=[sister["iin"]]))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], c.district(1)["id"])

    def test_most_free_places_wins(self):
        c = make_clinic(districts=(("gp", 40), ("gp", 90), ("gp", 60)))
        for _ in range(3):
            app = self.submit_pending(application_body(c.body))
            want = self.expected(c, 30)
            self.assertEqual(want, c.district(1)["id"])
            self.assertEqual(self.approved(app["id"], c.reg)["district_id"], want)

    def test_tie_goes_to_the_lowest_number(self):
        # created in the order 7, 12, 3: the lowest id is not the lowest number
        c = make_clinic(districts=(("gp", 20, "7"), ("gp", 20, "12"), ("gp", 20, "3")))
        three, seven, twelve = c.district(2)["id"], c.district(0)["id"], c.district(1)["id"]
        picks = []
        for _ in range(4):
            app = self.submit_pending(application_body(c.body))
            picks.append(self.approved(app["id"], c.reg)["district_id"])
        # 20/20/20 -> 3; then 7 and 12 have 20 -> 7; then 12; then all 19 -> 3
        self.assertEqual(picks, [three, seven, twelve, three])

    def test_age_bands_follow_the_district_kinds(self):
        c = make_clinic(districts=(("therapist", 2000), ("pediatric_0_6", 500),
                                   ("pediatric_0_14", 100)), auto_approve=True)
        therapist, p6, p14 = (c.district(i)["id"] for i in range(3))
        for age, want in ((0, p6), (3, p6), (6, p6), (7, p14), (10, p14), (14, p14),
                          (15, therapist), (17, therapist), (18, therapist), (65, therapist)):
            with self.subTest(age=age):
                self.assertEqual(self.expected(c, age), want, "the test's own rule")
                app = self.submit(self.auto_body(c, person=new_person(age=age)))
                self.assertEqual(app["status"], "approved", app)
                self.assertEqual(app["district_id"], want)

    def test_gp_serves_every_age(self):
        c = make_clinic(districts=(("gp", 1700), ("pediatric_0_6", 500), ("therapist", 900)),
                        auto_approve=True)
        gp = c.district(0)["id"]
        for age in (2, 9, 16, 44):
            with self.subTest(age=age):
                app = self.submit(self.auto_body(c, person=new_person(age=age)))
                self.assertEqual(app.get("district_id"), gp, app)

    def test_closed_district_is_not_chosen(self):
        c = make_clinic(districts=(("gp", 10), ("gp", 200)))
        self.assertJson(call("PATCH", "/v1/districts/%d" % c.district(1)["id"], {"open": False}),
                        200)
        app = self.submit_pending(application_body(c.body, district_id=c.district(1)["id"]))
        self.assertEqual(self.approved(app["id"], c.reg)["district_id"], c.district(0)["id"])


# ----------------------------------------------------------------------------------------------
# auto_approve and capacity at approval time
# ----------------------------------------------------------------------------------------------

class CapacityTest(AutoApproveCase):

    def test_auto_approve_approves_at_once(self):
        c = make_clinic(districts=(("gp", 10),), auto_approve=True)
        days = Days()
        app = self.submit(self.auto_body(c))
        days.close()
        self.assertEqual(app["status"], "approved", app)
        self.assertEqual(app["district_id"], c.district()["id"])
        self.assertIn(app["effective_on"], days.tomorrow())
        self.assertIsNone(app.get("refusal"))
        self.assertEqual(self.get_app(app["id"])["status"], "approved")
        self.assertEqual(districts_of(c.id)[c.district()["id"]]["load"], 1)

    def test_auto_approve_still_refuses_failing_checks(self):
        c = make_clinic(districts=(("gp", 10),), auto_approve=True)
        self.submit_refused(self.auto_body(c, settlement=new_settlement()), "OTHER_SETTLEMENT")

    def test_capacity_exceeded_at_approval_time(self):
        c = make_clinic(districts=(("gp", 1),))
        a = self.submit_pending(application_body(c.body))
        b = self.submit_pending(application_body(c.body))
        self.approved(a["id"], c.reg)
        body = self.assertJson(self.approve(b["id"], c.reg), 200)
        self.assertRefused(body, "CAPACITY_EXCEEDED")
        self.assertRefused(self.get_app(b["id"]), "CAPACITY_EXCEEDED")
        d = districts_of(c.id)[c.district()["id"]]
        self.assertEqual((d["load"], d["free"]), (1, 0))
        self.assertProblem(self.approve(b["id"], c.reg), 409)

    def test_capacity_lowered_under_a_pending_application(self):
        c = make_clinic(districts=(("gp", 5),))
        first = self.submit_pending(application_body(c.body))
        second = self.submit_pending(application_body(c.body))
        self.approved(first["id"], c.reg)
        self.assertJson(call("PATCH", "/v1/districts/%d" % c.district()["id"],
                             {"capacity": 1}), 200)
        self.assertRefused(self.assertJson(self.approve(second["id"], c.reg), 200),
                           "CAPACITY_EXCEEDED")

    def test_a_person_approved_to_leave_counts_until_the_day_they_leave(self):
        if not db_available():
            self.skipTest(NO_DB)
        old = make_clinic(districts=(("gp", 1),))
        new = make_clinic(kato=old.kato, districts=(("gp", 5),))
        p = new_person()
        seed_current_attachment(p["iin"], old.id, old.district()["id"])
        self.assertEqual(districts_of(old.id)[old.district()["id"]]["load"], 1)
        self.attach(new, person=p)
        d = districts_of(old.id)[old.district()["id"]]
        self.assertEqual((d["load"], d["free"]), (1, 0), "the leaver holds the place until "
                                                         "tomorrow")
        self.submit_refused(application_body(old.body), "CAPACITY_EXCEEDED")
        self.assertEqual(districts_of(new.id)[new.district()["id"]]["load"], 1)

    def leavers(self, district_id):
        """The district's kept count of leavers (migrations/0023): (nleaving, next_leave,
        leaving_floor), the dates ISO or ''."""
        n, nxt, floor = psql("SELECT nleaving, next_leave, leaving_floor FROM districts"
                             " WHERE id = %d" % district_id).split("|")
        return int(n), nxt, floor

    def seed_ended(self, c, valid_to, days_ago=60):
        """An attachment to c's district that ends (its last day the day before) valid_to."""
        start = today() - datetime.timedelta(days=days_ago)
        psql("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to)"
             " VALUES ('%s', %d, %d, DATE '%s', DATE '%s')"
             % (new_person()["iin"], c.id, c.district()["id"], iso(start), iso(valid_to)))

    def test_a_leaver_counted_by_the_trigger_stops_counting_after_their_last_day(self):
        """The kept count of leavers (migrations/0023) is read only while nobody it counts has
        left: a count made ten days ago that holds a leaver gone two days ago is not the load.
        The district's one place is free for the polyclinic's read, the submission's facts and
        the capacity backstop alike; the daily run's recount brings the count up to date."""
        if not db_available():
            self.skipTest(NO_DB)
        c = make_clinic(districts=(("gp", 1),), auto_approve=True)
        d = c.district()["id"]
        psql("UPDATE districts SET leaving_floor = current_date - 10 WHERE id = %d" % d)
        self.seed_ended(c, today() - datetime.timedelta(days=2))
        self.assertEqual(self.leavers(d), (1, iso(today() - datetime.timedelta(days=2)),
                                           iso(today() - datetime.timedelta(days=10))))
        self.assertEqual(districts_of(c.id)[d]["load"], 0, "gone two days ago")
        app = self.submit(self.auto_body(c))
        self.assertEqual((app["status"], app["district_id"]), ("approved", d), app)
        self.assertEqual(districts_of(c.id)[d]["load"], 1)
        self.assertJson(call("POST", "/v1/maintenance/daily", {"on": iso(today()),
                                                               "polyclinic_id": c.id}), 200)
        self.assertEqual(self.leavers(d), (0, "", iso(today())))
        self.assertEqual(districts_of(c.id)[d]["load"], 1)

    def test_a_leaver_counted_by_the_trigger_holds_the_place_until_their_last_day(self):
        if not db_available():
            self.skipTest(NO_DB)
        c = make_clinic(districts=(("gp", 1),), auto_approve=True)
        d = c.district()["id"]
        self.seed_ended(c, today() + datetime.timedelta(days=5))
        self.assertEqual(self.leavers(d), (1, iso(today() + datetime.timedelta(days=5)),
                                           iso(today())))
        self.assertEqual(districts_of(c.id)[d]["load"], 1)
        self.submit_refused(self.auto_body(c), "CAPACITY_EXCEEDED")
        # the backstop without the facts: the database refuses a second person in the place
        self.assertRaisesRegex(AssertionError, "districts_within_capacity|is full",
                               seed_current_attachment, new_person()["iin"], c.id, d)


# ----------------------------------------------------------------------------------------------
# Concurrency: a district never holds more than its capacity
# ----------------------------------------------------------------------------------------------

class ConcurrencyTest(AutoApproveCase):

    def test_parallel_submissions_at_an_auto_approve_polyclinic(self):
        c = make_clinic(districts=(("gp", 3), ("gp", 3)), auto_approve=True)
        bodies = [self.auto_body(c) for _ in range(50)]
        responses = run_threads(50, lambda i: client.submit_application(bodies[i]))
        apps = [self.assertJson(r, 201) for r in responses]
        approved = [a for a in apps if a["status"] == "approved"]
        refused = [a for a in apps if a["status"] != "approved"]
        self.assertEqual(len(approved), 6, [a["status"] for a in apps])
        for a in refused:
            self.assertRefused(a, "CAPACITY_EXCEEDED")
        by_district = {}
        for a in approved:
            by_district[a["district_id"]] = by_district.get(a["district_id"], 0) + 1
        self.assertEqual(by_district, {c.district(0)["id"]: 3, c.district(1)["id"]: 3})
        for d in districts_of(c.id).values():
            self.assertEqual((d["capacity"], d["load"], d["free"]), (3, 3, 0), d)
        stored = applications_of(c.id)
        self.assertEqual(len(stored), 50)
        self.assertEqual(sum(1 for a in stored if a["status"] == "approved"), 6)

    def test_parallel_approvals_by_registrars(self):
        c = make_clinic(districts=(("gp", 2), ("therapist", 2)))
        pending = [self.submit_pending(application_body(c.body)) for _ in range(24)]
        tokens = [client.registrar_token(c.id) for _ in range(3)]
        responses = run_threads(len(pending), lambda i: self.approve(pending[i]["id"],
                                                                     tokens[i % 3]))
        apps = [self.assertJson(r, 200) for r in responses]
        approved = [a for a in apps if a["status"] == "approved"]
        self.assertEqual(len(approved), 4, [a["status"] for a in apps])
        for a in apps:
            if a["status"] != "approved":
                self.assertRefused(a, "CAPACITY_EXCEEDED")
        for d in districts_of(c.id).values():
            self.assertEqual((d["load"], d["free"]), (2, 0), d)

    def test_parallel_submissions_for_one_person_leave_one_pending(self):
        c = make_clinic()
        others = [make_clinic(kato=c.kato) for _ in range(3)]
        p = new_person()
        bodies = [application_body(x.body, person=p) for x in [c] + others] * 3
        responses = run_threads(len(bodies), lambda i: client.submit_application(bodies[i]))
        statuses = sorted(r.status for r in responses)
        self.assertEqual(statuses, [201] + [409] * (len(bodies) - 1), statuses)
        winner = [r.body for r in responses if r.status == 201][0]
        for r in responses:
            if r.status == 409:
                self.assertEqual(self.assertProblem(r, 409).get("pending_application_id"),
                                 winner["id"])

    def test_parallel_moves_of_one_person_leave_one_live_attachment(self):
        kato = new_settlement()
        clinics = [make_clinic(kato=kato, auto_approve=True) for _ in range(6)]
        p = new_person()
        responses = run_threads(6, lambda i: client.submit_application(
            self.auto_body(clinics[i], person=p)))
        apps = [self.assertJson(r, 201) for r in responses]
        self.assertTrue(all(a["status"] == "approved" for a in apps),
                        [a["status"] for a in apps])
        history = self.assertJson(call("GET", "/v1/persons/%s/attachments" % p["iin"]), 200)
        live = [a for a in history["items"] if not a["cancelled"]]
        self.assertEqual(len(live), 1, history)
        loads = sum(d["load"] for x in clinics for d in districts_of(x.id).values())
        self.assertEqual(loads, 1, "one place held in all six polyclinics together")


# ----------------------------------------------------------------------------------------------
# Idempotency-Key (SPEC §7)
# ----------------------------------------------------------------------------------------------

class AnswerTest(AutoApproveCase):
    """The answer to a submission is the application as GET /v1/applications/{id} renders it,
    byte for byte: attachd writes a pending or approved one itself (PostgreSQL renders GET's and
    a refused one), so every value that reaches the answer is tried here with what JSON must
    escape, jsonb's order of keys, nulls and arrays."""

    # What JSON escapes (a quote, a backslash, \b \f \n \r \t, other control characters, which
    # PostgreSQL writes \u00xx in lower case), a slash, and non-ASCII letters.
    TRICKY = 'O"Brien \\ / \t\n\r\b\f \u0001\u001f\u007f Әйгерім ✓'

    def raw(self, method, path, body=None, token=PORTAL):
        """The status and the body's bytes, as they came."""
        conn = client.new_connection()
        try:
            headers = {"Accept": "application/json",
                       "Authorization": "Bearer " + (token.resolve() if hasattr(token, "resolve")
                                                     else token)}
            payload = None
            if body is not None:
                payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
                headers["Content-Type"] = "application/json"
            conn.request(method, client.full_path(path), body=payload, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def assertAnswerIsGet(self, body, status):
        code, posted = self.raw("POST", "/v1/applications", body)
        self.assertEqual(code, 201, posted)
        app = json.loads(posted)
        self.assertEqual(app["status"], status, app)
        code, got = self.raw("GET", "/v1/applications/%d" % app["id"], token=ADMIN)
        self.assertEqual(code, 200, got)
        self.assertEqual(posted.decode("utf-8"), got.decode("utf-8"))
        return app

    def test_pending_answers_what_get_answers(self):
        c = make_clinic(districts=(("gp", 10), ("pediatric_0_14", 10)))
        person = new_person(age=9, sex="female", last_name=self.TRICKY, middle_name=None,
                            insurance_contract={"valid_until": "2099-12-31",
                                                "number": "Ins/1 \u0002"})
        family = [unused_iin(), unused_iin()]
        body = application_body(c.body, person=person, address=self.TRICKY,
                                family_iins=family, district_id=c.district(1)["id"],
                                birth_certificate="I-АБ\t№ 123\u001b")
        body["representative"] = {"relation": "mother", "iin": unused_iin()}
        app = self.assertAnswerIsGet(body, "pending")
        self.assertEqual((app["person"]["last_name"], app["address"]), (self.TRICKY, self.TRICKY))
        self.assertEqual(app["family_iins"], family)
        self.assertIsNone(app["person"]["middle_name"])
        self.assertIsNone(app["decided_at"])
        # a representative without one of its parts, and warnings (refused: rendered by PostgreSQL)
        p = new_person(age=12)
        p["iin"] = unique_iin(birth_date_for_age(13), "female")
        body = application_body(c.body, person=p, address=None)
        body["representative"] = {"relation": "father"}
        app = self.assertAnswerIsGet(body, "refused")
        self.assertEqual(sorted(app["warnings"]), ["IIN_BIRTH_DATE_MISMATCH", "IIN_SEX_MISMATCH"])
        # warnings on a pending one, no address
        p = new_person(age=40)
        p["iin"] = unique_iin(birth_date_for_age(41), "male")
        app = self.assertAnswerIsGet(application_body(c.body, person=p, address=None), "pending")
        self.assertEqual((app["warnings"], app["address"]), (["IIN_BIRTH_DATE_MISMATCH"], ""))

    def test_approved_at_once_answers_what_get_answers(self):
        c = make_clinic(districts=(("gp", 10),), auto_approve=True)
        person = new_person(age=45, first_name=self.TRICKY)
        app = self.assertAnswerIsGet(self.auto_body(c, person=person, family_iins=[unused_iin()]),
                                     "approved")
        self.assertEqual(app["decided_at"], app["submitted_at"])
        self.assertEqual(app["district_id"], c.district()["id"])
        self.assertIsNotNone(app["effective_on"])


class IdempotencyTest(AutoApproveCase):

    def key(self):
        return "itest-" + uuid.uuid4().hex

    def test_same_key_and_body_returns_the_same_application(self):
        c = make_clinic()
        body, key = application_body(c.body), self.key()
        first = self.submit(body, key=key)
        again = self.submit(body, key=key)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(again, first)
        self.assertEqual(len(applications_of(c.id)), 1)

    def test_replay_answers_as_the_first_submission_did(self):
        # §12: a replay answers as the first one did, even after a later decision
        c = make_clinic()
        body, key = application_body(c.body), self.key()
        first = self.submit(body, key=key)
        self.assertEqual(first["status"], "pending")
        self.assertEqual(self.withdraw(first["id"]).status, 200)
        again = self.submit(body, key=key)
        self.assertEqual(again, first)
        now = self.assertJson(call("GET", "/v1/applications/%d" % first["id"]), 200)
        self.assertEqual(now["status"], "withdrawn")

    def test_replay_of_a_decision_made_at_submission_answers_that_decision(self):
        c = make_clinic()
        body = application_body(c.body, settlement=free_kato(), person=new_person())
        key = self.key()
        first = self.submit(body, key=key)
        self.assertEqual(first["status"], "refused")
        self.assertEqual(self.submit(body, key=key), first)

    def test_same_key_with_another_body_is_422(self):
        c = make_clinic()
        body, key = application_body(c.body), self.key()
        first = self.submit(body, key=key)
        changed = dict(body, address=body["address"] + " (басқа)")
        self.assertFieldError(client.submit_application(changed, idempotency_key=key),
                              "Idempotency-Key")
        another_person = application_body(c.body)
        self.assertFieldError(client.submit_application(another_person, idempotency_key=key),
                              "Idempotency-Key")
        self.assertEqual([a["id"] for a in applications_of(c.id)], [first["id"]])

    def test_without_key_each_submission_is_a_new_application(self):
        c = make_clinic(accepting=False)
        body = application_body(c.body)
        a = self.submit_refused(body, "CLINIC_NOT_ACCEPTING")
        b = self.submit_refused(body, "CLINIC_NOT_ACCEPTING")
        self.assertNotEqual(a["id"], b["id"])
        self.assertEqual(len(applications_of(c.id)), 2)

    def test_racing_retries_with_one_key_store_one_application(self):
        c = make_clinic(auto_approve=True, districts=(("gp", 5),))
        body, key = self.auto_body(c), self.key()
        responses = run_threads(10, lambda i: client.submit_application(body,
                                                                        idempotency_key=key))
        apps = [self.assertJson(r, 201) for r in responses]
        self.assertEqual({a["id"] for a in apps}, {apps[0]["id"]})
        self.assertEqual(apps[0]["status"], "approved")
        self.assertEqual(len(applications_of(c.id)), 1)
        self.assertEqual(districts_of(c.id)[c.district()["id"]]["load"], 1)


# ----------------------------------------------------------------------------------------------
# The work queue: GET /v1/applications
# ----------------------------------------------------------------------------------------------

class WorkQueueTest(AppTestCase):

    @classmethod
    def setUpClass(cls):
        cls.clinic = make_clinic(districts=(("gp", 100),))
        cls.other = make_clinic(kato=cls.clinic.kato)
        cls.pending = [cls.post(application_body(cls.clinic.body)) for _ in range(7)]
        cls.refused = cls.post(application_body(
            cls.clinic.body, person=new_person(residency="temporary_foreigner")))
        cls.foreign = cls.post(application_body(cls.other.body))
        cls.withdrawn = []  # made by the paging test

    @staticmethod
    def post(body):
        return client.expect(client.submit_application(body), 201, "POST /v1/applications")["id"]

    def test_registrar_sees_its_own_queue_by_status(self):
        c = self.clinic
        mine = list_all("/v1/applications?status=pending", token=c.reg)
        self.assertEqual([a["id"] for a in mine], self.pending)
        self.assertTrue(all(a["polyclinic_id"] == c.id for a in mine))
        same = list_all("/v1/applications?polyclinic_id=%d&status=pending" % c.id, token=c.reg)
        self.assertEqual([a["id"] for a in same], self.pending)
        refused = list_all("/v1/applications?status=refused", token=c.reg)
        self.assertEqual([a["id"] for a in refused], [self.refused])
        everything = list_all("/v1/applications", token=c.reg)
        self.assertEqual(sorted(a["id"] for a in everything),
                         sorted(self.pending + [self.refused] + self.withdrawn))
        self.assertNotIn(self.foreign, [a["id"] for a in everything])

    def test_registrar_asking_for_another_polyclinic_is_404(self):
        r = call("GET", "/v1/applications?polyclinic_id=%d" % self.other.id, token=self.clinic.reg)
        self.assertProblem(r, 404)

    def test_portal_may_not_list(self):
        self.assertProblem(call("GET", "/v1/applications", token=PORTAL), 403)

    def test_admin_lists_any_polyclinic(self):
        got = applications_of(self.other.id)
        self.assertEqual([a["id"] for a in got], [self.foreign])

    def test_cursor_paging_walks_every_item_once_and_is_stable_under_inserts(self):
        c = self.clinic
        base = "/v1/applications?polyclinic_id=%d&status=pending&limit=3" % c.id
        page = self.assertJson(call("GET", base, token=c.reg), 200)
        self.assertEqual(len(page["items"]), 3)
        self.assertIsNotNone(page["next_cursor"])
        walked = [a["id"] for a in page["items"]]
        inserted = None
        cursor = page["next_cursor"]
        pages = 1
        while cursor is not None:
            if inserted is None:
                inserted = self.submit_pending(application_body(c.body))["id"]
            page = self.assertJson(call("GET", base + "&cursor=" + str(cursor), token=c.reg), 200)
            pages += 1
            self.assertLessEqual(len(page["items"]), 3)
            walked.extend(a["id"] for a in page["items"])
            cursor = page["next_cursor"]
            self.assertLess(pages, 10)
        self.assertEqual(walked[:7], self.pending, "no item lost or repeated across pages")
        self.assertEqual(walked, sorted(set(walked)))
        self.assertLessEqual(set(walked) - set(self.pending), {inserted})
        # the new one is still pending and listed; withdraw it so other tests see 7 pending
        self.assertEqual(self.withdraw(inserted).status, 200)
        self.withdrawn.append(inserted)

    def test_bad_queue_parameters_are_422(self):
        for query, field in (("status=lost", "status"), ("overdue=yes", "overdue"),
                             ("limit=0", "limit"), ("cursor=abc", "cursor"),
                             ("polyclinic_id=x", "polyclinic_id")):
            with self.subTest(query=query):
                self.assertFieldError(call("GET", "/v1/applications?" + query), field)

    def test_overdue_lists_only_pending_past_their_due_time(self):
        c = self.clinic
        path = "/v1/applications?polyclinic_id=%d&overdue=true" % c.id
        self.assertEqual(list_all(path, token=c.reg), [], "nothing is overdue yet")
        if not db_available():
            self.skipTest("making an application overdue needs DATABASE_URL; " + NO_DB)
        late = self.pending[2]
        psql("UPDATE applications SET decision_due_at = now() - interval '1 hour' "
             "WHERE id = %d" % late)
        self.assertEqual([a["id"] for a in list_all(path, token=c.reg)], [late])
        self.assertEqual([a["id"] for a in list_all(path + "&status=pending", token=c.reg)],
                         [late])


# ----------------------------------------------------------------------------------------------
# Everything that needs today to be inside (or outside) a campaign window
# ----------------------------------------------------------------------------------------------

class CampaignWindowTest(OwnCampaignCase):
    """Owns the campaign calendar: while it runs, the only campaign near today is its own year
    self.year, open from today-3 to today+3 with effective_on today+40 (setUp), unless a test
    parks it (then today is outside every campaign)."""

    REOPEN_EACH_TEST = True

    def test_campaign_application_inside_the_window_is_pending_in_that_campaign(self):
        c = make_clinic()
        app = self.submit_pending(self.campaign_body(c))
        self.assertEqual(app.get("campaign_year"), self.year)
        self.assertEqual(app["grounds"], "campaign")

    def test_campaign_approval_takes_effect_on_the_campaigns_effective_on(self):
        c = make_clinic()
        app = self.submit_pending(self.campaign_body(c))
        done = self.approved(app["id"], c.reg)
        self.assertEqual(done["effective_on"], iso(self.effective))
        auto = make_clinic(kato=c.kato, auto_approve=True)
        app = self.submit(self.campaign_body(auto))
        self.assertEqual((app["status"], app["effective_on"]), ("approved", iso(self.effective)))
        att = self.assertJson(call("GET", "/v1/persons/%s/attachment" % app["person"]["iin"]),
                              200)
        self.assertIsNone(att["attachment"])
        self.assertEqual(att["upcoming"]["valid_from"], iso(self.effective))

    def test_outside_campaign(self):
        c = make_clinic()
        self.windows.park(self.year)
        days = Days()
        app = self.submit_refused(self.campaign_body(c), "OUTSIDE_CAMPAIGN")
        days.close()
        self.assertIn(app.get("campaign_year"), [d.year for d in days.all],
                      "outside every campaign an application belongs to the calendar year")
        # accepted all year: never OUTSIDE_CAMPAIGN (clinic_closed without a current polyclinic
        # that stopped taking part is GROUNDS_NOT_MET, §11)
        self.submit_pending(application_body(c.body, grounds="relocation"))
        self.submit_refused(application_body(c.body, grounds="clinic_closed"), "GROUNDS_NOT_MET")

    def test_order_not_eligible_before_outside_campaign_before_clinic(self):
        c = make_clinic(accepting=False)
        self.windows.park(self.year)
        self.submit_refused(self.campaign_body(c), "OUTSIDE_CAMPAIGN")
        self.submit_refused(self.campaign_body(c, person=new_person(
            residency="temporary_foreigner")), "NOT_ELIGIBLE")

    def test_insurance_must_be_valid_on_the_campaigns_effective_on(self):
        c = make_clinic()
        short = new_person(residency="eaeu_migrant", insurance_contract={
            "number": "KG-" + client.unique(), "valid_until": iso(self.effective - ONE_DAY)})
        self.submit_refused(self.campaign_body(c, person=short), "NOT_ELIGIBLE")
        enough = new_person(residency="eaeu_migrant_family", insurance_contract={
            "number": "AM-" + client.unique(), "valid_until": iso(self.effective)})
        self.submit_pending(self.campaign_body(c, person=enough))

    def test_relocation_inside_a_campaign_still_takes_effect_the_next_day(self):
        # SPEC §3: relocation -> the day after approval, whatever the campaign
        c = make_clinic()
        app = self.submit_pending(application_body(c.body))
        days = Days()
        done = self.approved(app["id"], c.reg)
        days.close()
        self.assertIn(done["effective_on"], days.tomorrow())

    def test_relocation_inside_a_campaign_is_not_auto_approved(self):
        # §11: a registrar compares the address on record; the approval takes effect tomorrow
        c = make_clinic(auto_approve=True)
        app = self.submit_pending(application_body(c.body))
        days = Days()
        done = self.approved(app["id"], c.reg)
        days.close()
        self.assertIn(done["effective_on"], days.tomorrow(),
                      "relocation takes effect the day after approval, not on the campaign's "
                      "effective_on")

    def test_clinic_closed_inside_a_campaign_auto_approved_takes_effect_the_next_day(self):
        if not db_available():
            self.skipTest(NO_DB)
        closed = make_clinic(accepting=False)
        c = make_clinic(kato=closed.kato, auto_approve=True)
        p = new_person()
        seed_current_attachment(p["iin"], closed.id, closed.district()["id"])
        days = Days()
        app = self.submit(application_body(c.body, person=p, grounds="clinic_closed"))
        days.close()
        self.assertEqual(app["status"], "approved", app)
        self.assertIn(app["effective_on"], days.tomorrow())

    def test_relocation_inside_a_campaign_needs_insurance_only_until_tomorrow(self):
        # effective date of relocation is the day after approval (§3); insurance valid on it
        # (§4) is enough even though it ends before the campaign's effective_on
        c = make_clinic()
        p = new_person(residency="eaeu_migrant", insurance_contract={
            "number": "BY-" + client.unique(),
            "valid_until": iso(today() + datetime.timedelta(days=10))})
        self.assertLess(p["insurance_contract"]["valid_until"], iso(self.effective))
        self.submit_pending(application_body(c.body, person=p))

    def current(self, clinic, person):
        """person attached to clinic since a month ago (SPEC §11: only leaving a current
        polyclinic is a change)."""
        if not db_available():
            self.skipTest(NO_DB)
        seed_current_attachment(person["iin"], clinic.id, clinic.district()["id"])

    def test_repeat_change(self):
        kato = new_settlement()
        a, b, cc, d = (make_clinic(kato=kato) for _ in range(4))
        p = new_person()
        self.current(a, p)
        app = self.submit_pending(self.campaign_body(b, person=p))
        self.approved(app["id"], b.reg)                  # the one change allowed
        self.submit_refused(self.campaign_body(cc, person=p), "REPEAT_CHANGE")
        # relocation does not count against max_changes
        app = self.submit_pending(application_body(d.body, person=p))
        self.approved(app["id"], d.reg)

    def test_first_attachment_does_not_count_as_a_change(self):
        # §11: a first attachment is never a change, nor is replacing an upcoming first
        # attachment; leaving a current polyclinic is
        self.windows.open(self.year, self.effective, max_changes=0)
        kato = new_settlement()
        a, b, cc = make_clinic(kato=kato), make_clinic(kato=kato), make_clinic(kato=kato)
        p = new_person()
        app = self.submit_pending(self.campaign_body(a, person=p))
        self.approved(app["id"], a.reg)
        app = self.submit_pending(self.campaign_body(b, person=p))
        self.approved(app["id"], b.reg)
        moves = self.assertJson(call("GET", "/v1/polyclinics/%d/transfers" % b.id), 200)["items"]
        self.assertEqual([t["from"] for t in moves], [None], moves)
        if db_available():
            self.assertEqual(psql("SELECT string_agg(counts_as_change::text, ',') FROM transfers "
                                  "WHERE iin = '%s'" % p["iin"]), "false,false")
        q = new_person()
        self.current(cc, q)
        self.submit_refused(self.campaign_body(a, person=q), "REPEAT_CHANGE")

    def test_max_changes_two_allows_two_changes(self):
        self.windows.open(self.year, self.effective, max_changes=2)
        kato = new_settlement()
        clinics = [make_clinic(kato=kato) for _ in range(4)]
        p = new_person()
        self.current(clinics[0], p)
        for c in clinics[1:3]:
            app = self.submit_pending(self.campaign_body(c, person=p))
            self.approved(app["id"], c.reg)
        self.submit_refused(self.campaign_body(clinics[3], person=p), "REPEAT_CHANGE")

    def test_repeat_change_before_capacity(self):
        kato = new_settlement()
        a, b = make_clinic(kato=kato), make_clinic(kato=kato)
        full = make_clinic(kato=kato, districts=(("gp", 1),))
        self.attach(full)
        p = new_person()
        self.current(a, p)
        app = self.submit_pending(self.campaign_body(b, person=p))
        self.approved(app["id"], b.reg)
        self.submit_refused(self.campaign_body(full, person=p), "REPEAT_CHANGE")

    def test_already_attached_before_repeat_change(self):
        kato = new_settlement()
        a, b = make_clinic(kato=kato), make_clinic(kato=kato)
        p = new_person()
        self.attach(a, person=p)
        app = self.submit_pending(self.campaign_body(b, person=p))
        self.approved(app["id"], b.reg)
        self.submit_refused(self.campaign_body(b, person=p), "ALREADY_ATTACHED")
