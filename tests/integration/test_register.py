"""The register over HTTP (SPEC §5, §6, §8): a person's attachment on a date and history,
transfers between polyclinics as both of them see them, and campaign statistics.

Attachments made through the API begin tomorrow at the earliest, so a move away from an
attachment that has already begun needs one that began before today: those tests write it
straight into the database (as `attachd import` loads the existing register, SPEC §5) and are
skipped when DATABASE_URL is not given (scripts/test.sh gives it)."""

import datetime

import client
from apphelpers import (OwnCampaignCase, application_body, new_person,
                        ONE_DAY, AppTestCase, Days, NO_DB, db_available,
                        districts_of, iso, make_clinic, refusal_reasons,
                        seed_current_attachment, today, unused_iin)
from client import ADMIN, PORTAL, call, list_all, new_settlement


def attachment_path(iin, on=None):
    return "/v1/persons/%s/attachment" % iin + ("?on=%s" % on if on else "")


def transfers(clinic, query="", token=ADMIN):
    path = "/v1/polyclinics/%d/transfers" % clinic.id + ("?" + query if query else "")
    return list_all(path, token=token)


# ----------------------------------------------------------------------------------------------
# GET /v1/persons/{iin}/attachment and /attachments
# ----------------------------------------------------------------------------------------------

class PersonAttachmentTest(AppTestCase):

    def assertAttachment(self, att, clinic, district_id, app_id, valid_from, valid_to=None,
                         cancelled=False):
        self.assertIsInstance(att, dict, "an attachment object")
        self.assertEqual(att["polyclinic_id"], clinic.id, att)
        self.assertEqual(att["district_id"], district_id, att)
        self.assertEqual(att["valid_from"], valid_from, att)
        self.assertEqual(att["valid_to"], valid_to, att)
        self.assertEqual(att["application_id"], app_id, att)
        self.assertIs(att.get("cancelled", False), cancelled, att)

    def test_relocation_approved_today_is_upcoming_today_and_current_tomorrow(self):
        c = make_clinic()
        p = new_person()
        app = self.attach(c, person=p)
        start = app["effective_on"]
        self.assertGreater(start, iso(today()))
        for on in (None, iso(today())):
            with self.subTest(on=on):
                body = self.assertJson(call("GET", attachment_path(p["iin"], on)), 200)
                self.assertEqual(body.get("iin"), p["iin"])
                self.assertIsNone(body["attachment"], "not attached yet today")
                self.assertAttachment(body["upcoming"], c, app["district_id"], app["id"], start)
        body = self.assertJson(call("GET", attachment_path(p["iin"], start)), 200)
        self.assertAttachment(body["attachment"], c, app["district_id"], app["id"], start)
        self.assertIsNone(body["upcoming"])
        later = iso(datetime.date.fromisoformat(start) + datetime.timedelta(days=400))
        body = self.assertJson(call("GET", attachment_path(p["iin"], later)), 200)
        self.assertEqual(body["attachment"]["application_id"], app["id"])
        body = self.assertJson(call("GET", attachment_path(p["iin"], "2001-01-01")), 200)
        self.assertIsNone(body["attachment"])
        self.assertEqual(body["upcoming"]["application_id"], app["id"])

    def test_portal_and_own_registrar_read_it(self):
        c = make_clinic()
        p = new_person()
        app = self.attach(c, person=p)
        for token in (PORTAL, c.reg, ADMIN):
            body = self.assertJson(call("GET", attachment_path(p["iin"]), token=token), 200)
            self.assertEqual(body["upcoming"]["application_id"], app["id"])

    def test_unknown_person_is_404_and_bad_iin_is_422(self):
        self.assertProblem(call("GET", attachment_path(unused_iin())), 404)
        self.assertProblem(call("GET", attachment_path(unused_iin()), token=PORTAL), 404)
        self.assertProblem(call("GET", "/v1/persons/%s/attachments" % unused_iin()), 404)
        for bad in ("123", "12345678901x", "1234567890123"):
            with self.subTest(iin=bad):
                self.assertFieldError(call("GET", attachment_path(bad)), "iin")
        self.assertFieldError(call("GET", attachment_path(unused_iin(), "2026-02-30")), "on")

    def test_applicant_without_attachment_is_on_record(self):
        c = make_clinic()
        p = new_person()
        self.submit_pending(application_body(c.body, person=p))
        body = self.assertJson(call("GET", attachment_path(p["iin"])), 200)
        self.assertIsNone(body["attachment"])
        self.assertIsNone(body["upcoming"])

    def test_registrar_sees_only_people_attached_or_applying_there(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        applying, attached, stranger = new_person(), new_person(), new_person()
        self.submit_pending(application_body(c.body, person=applying))
        self.attach(c, person=attached)
        self.attach(other, person=stranger)
        for p in (applying, attached):
            with self.subTest(person="mine"):
                self.assertJson(call("GET", attachment_path(p["iin"]), token=c.reg), 200)
                self.assertJson(call("GET", "/v1/persons/%s/attachments" % p["iin"],
                                     token=c.reg), 200)
                self.assertProblem(call("GET", attachment_path(p["iin"]), token=other.reg), 404)
                self.assertProblem(call("GET", "/v1/persons/%s/attachments" % p["iin"],
                                        token=other.reg), 404)
                # with `on`: the registrar's statement of its own (src/db/registry.c)
                on = iso(today())
                self.assertJson(call("GET", attachment_path(p["iin"], on), token=c.reg), 200)
                self.assertProblem(call("GET", attachment_path(p["iin"], on), token=other.reg),
                                   404)
        self.assertProblem(call("GET", attachment_path(stranger["iin"]), token=c.reg), 404)
        self.assertJson(call("GET", attachment_path(stranger["iin"]), token=other.reg), 200)

    def test_upcoming_attachment_replaced_by_a_later_approval_is_cancelled(self):
        kato = new_settlement()
        a, b = make_clinic(kato=kato), make_clinic(kato=kato)
        p = new_person()
        first = self.attach(a, person=p)
        self.assertEqual(districts_of(a.id)[a.district()["id"]]["load"], 1)
        second = self.attach(b, person=p)
        history = self.assertJson(call("GET", "/v1/persons/%s/attachments" % p["iin"]), 200)
        items = {it["application_id"]: it for it in history["items"]}
        self.assertEqual(set(items), {first["id"], second["id"]}, history)
        self.assertIs(items[first["id"]]["cancelled"], True, "the replaced one is cancelled")
        self.assertIs(items[second["id"]]["cancelled"], False)
        self.assertAttachment(items[second["id"]], b, second["district_id"], second["id"],
                              second["effective_on"])
        body = self.assertJson(call("GET", attachment_path(p["iin"], second["effective_on"])),
                               200)
        self.assertEqual(body["attachment"]["application_id"], second["id"])
        body = self.assertJson(call("GET", attachment_path(p["iin"])), 200)
        self.assertEqual(body["upcoming"]["application_id"], second["id"])
        self.assertEqual(districts_of(a.id)[a.district()["id"]]["load"], 0,
                         "a cancelled attachment holds no place")
        self.assertEqual(districts_of(b.id)[b.district()["id"]]["load"], 1)
        # and it is no longer attached there: applying there again is not ALREADY_ATTACHED
        self.submit_pending(application_body(a.body, person=p))

    def test_move_ends_the_current_attachment_on_the_new_ones_first_day(self):
        if not db_available():
            self.skipTest(NO_DB)
        kato = new_settlement()
        old, new = make_clinic(kato=kato), make_clinic(kato=kato)
        p = new_person()
        began = iso(today() - datetime.timedelta(days=30))
        seed_current_attachment(p["iin"], old.id, old.district()["id"], days_ago=30)
        body = self.assertJson(call("GET", attachment_path(p["iin"])), 200)
        self.assertAttachment(body["attachment"], old, old.district()["id"], None, began)
        self.assertIsNone(body["upcoming"])
        app = self.attach(new, person=p)
        start = app["effective_on"]
        history = self.assertJson(call("GET", "/v1/persons/%s/attachments" % p["iin"]), 200)
        self.assertEqual(len(history["items"]), 2, history)
        before, after = history["items"]
        self.assertAttachment(before, old, old.district()["id"], None, began, valid_to=start)
        self.assertAttachment(after, new, app["district_id"], app["id"], start)
        body = self.assertJson(call("GET", attachment_path(p["iin"])), 200)
        self.assertEqual(body["attachment"]["polyclinic_id"], old.id, "still served today")
        self.assertEqual(body["upcoming"]["polyclinic_id"], new.id)
        body = self.assertJson(call("GET", attachment_path(p["iin"], start)), 200)
        self.assertEqual(body["attachment"]["polyclinic_id"], new.id)
        self.assertIsNone(body["upcoming"])
        # the old polyclinic still sees the person (the record must be handed over)
        self.assertJson(call("GET", attachment_path(p["iin"]), token=old.reg), 200)


# ----------------------------------------------------------------------------------------------
# GET /v1/polyclinics/{id}/transfers
# ----------------------------------------------------------------------------------------------

class TransfersTest(AppTestCase):

    def test_first_attachment_is_an_incoming_transfer_from_nowhere(self):
        c = make_clinic()
        p = new_person()
        app = self.attach(c, person=p)
        got = transfers(c, "direction=in")
        self.assertEqual(len(got), 1, got)
        t = got[0]
        self.assertEqual(t["iin"], p["iin"])
        self.assertIsNone(t["from"])
        self.assertEqual(t["to"], {"polyclinic_id": c.id, "district_id": app["district_id"]})
        self.assertEqual(t["effective_on"], app["effective_on"])
        self.assertEqual(t["grounds"], "relocation")
        self.assertEqual(t["application_id"], app["id"])
        self.assertEqual(t["person"]["last_name"], p["last_name"])
        self.assertEqual(t["person"]["first_name"], p["first_name"])
        self.assertEqual(t["person"]["birth_date"], p["birth_date"])
        self.assertEqual(transfers(c, "direction=out"), [])
        self.assertEqual([x["id"] for x in transfers(c)], [t["id"]])
        self.assertEqual([x["id"] for x in transfers(c, token=c.reg)], [t["id"]])

    def test_move_is_seen_out_by_the_old_and_in_by_the_new_polyclinic(self):
        if not db_available():
            self.skipTest(NO_DB)
        kato = new_settlement()
        old = make_clinic(kato=kato, ownership="public")
        new = make_clinic(kato=kato, ownership="private", districts=(("gp", 10), ("gp", 20)))
        p = new_person()
        seed_current_attachment(p["iin"], old.id, old.district()["id"])
        app = self.attach(new, person=p)
        out = transfers(old, "direction=out", token=old.reg)
        self.assertEqual(len(out), 1, out)
        t = out[0]
        self.assertEqual(t["from"], {"polyclinic_id": old.id,
                                     "district_id": old.district()["id"]})
        self.assertEqual(t["to"], {"polyclinic_id": new.id, "district_id": app["district_id"]})
        self.assertEqual(app["district_id"], new.district(1)["id"])
        self.assertEqual((t["iin"], t["application_id"], t["effective_on"]),
                         (p["iin"], app["id"], app["effective_on"]))
        incoming = transfers(new, "direction=in", token=new.reg)
        self.assertEqual(incoming, out, "both polyclinics see the same transfer")
        self.assertEqual(transfers(old, "direction=in"), [])
        self.assertEqual(transfers(new, "direction=out"), [])
        self.assertEqual([x["id"] for x in transfers(old)], [t["id"]])

    def test_replaced_upcoming_transfer_disappears(self):
        kato = new_settlement()
        a, b = make_clinic(kato=kato), make_clinic(kato=kato)
        p = new_person()
        first = self.attach(a, person=p)
        self.assertEqual([t["application_id"] for t in transfers(a, "direction=in")],
                         [first["id"]])
        second = self.attach(b, person=p)
        self.assertEqual(transfers(a, "direction=in"), [], "the replaced move is not shown")
        self.assertEqual(transfers(a, "direction=out"), [],
                         "the person never was at a: nothing to hand over")
        got = transfers(b, "direction=in")
        self.assertEqual([t["application_id"] for t in got], [second["id"]])
        self.assertIsNone(got[0]["from"], "the cancelled attachment is not a 'from'")

    def test_replaced_upcoming_move_keeps_the_current_attachment_as_from(self):
        if not db_available():
            self.skipTest(NO_DB)
        kato = new_settlement()
        home, a, b = (make_clinic(kato=kato) for _ in range(3))
        p = new_person()
        seed_current_attachment(p["iin"], home.id, home.district()["id"])
        self.attach(a, person=p)
        second = self.attach(b, person=p)
        out = transfers(home, "direction=out")
        self.assertEqual([t["application_id"] for t in out], [second["id"]])
        self.assertEqual(out[0]["from"]["polyclinic_id"], home.id)
        self.assertEqual(transfers(a), [])
        history = self.assertJson(call("GET", "/v1/persons/%s/attachments" % p["iin"]), 200)
        live = [it for it in history["items"] if not it["cancelled"]]
        self.assertEqual([it["polyclinic_id"] for it in live], [home.id, b.id])
        self.assertEqual(live[0]["valid_to"], second["effective_on"])

    def test_date_filter_on_effective_on(self):
        c = make_clinic()
        days = Days()
        app = self.attach(c)
        days.close()
        start = datetime.date.fromisoformat(app["effective_on"])
        ids = lambda q: [t["application_id"] for t in transfers(c, q)]  # noqa: E731
        self.assertEqual(ids("from=%s&to=%s" % (start, start)), [app["id"]])
        self.assertEqual(ids("direction=in&from=%s" % start), [app["id"]])
        self.assertEqual(ids("to=%s" % start), [app["id"]])
        self.assertEqual(ids("from=%s" % (start + ONE_DAY)), [])
        self.assertEqual(ids("to=%s" % (start - ONE_DAY)), [])
        self.assertEqual(ids("from=%s&to=%s" % (start - ONE_DAY * 10, start + ONE_DAY * 10)),
                         [app["id"]])

    def test_paging_transfers(self):
        c = make_clinic()
        made = [self.attach(c)["id"] for _ in range(5)]
        self.assertEqual([t["application_id"] for t in
                          list_all("/v1/polyclinics/%d/transfers" % c.id, limit=2)], made)
        page = self.assertJson(call("GET", "/v1/polyclinics/%d/transfers?limit=2" % c.id), 200)
        self.assertEqual(len(page["items"]), 2)
        self.assertIsNotNone(page["next_cursor"])

    def test_transfers_access(self):
        c = make_clinic()
        other = make_clinic(kato=c.kato)
        self.attach(c)
        path = "/v1/polyclinics/%d/transfers" % c.id
        self.assertProblem(call("GET", path, token=other.reg), 404)
        self.assertProblem(call("GET", path, token=PORTAL), 403)
        self.assertJson(call("GET", path, token=c.reg), 200)
        self.assertProblem(call("GET", "/v1/polyclinics/999999999/transfers"), 404)

    def test_bad_transfer_parameters_are_422(self):
        c = make_clinic()
        path = "/v1/polyclinics/%d/transfers?" % c.id
        for query, field in (("direction=sideways", "direction"), ("from=2026-13-01", "from"),
                             ("to=yesterday", "to"), ("limit=0", "limit")):
            with self.subTest(query=query):
                self.assertFieldError(call("GET", path + query), field)


# ----------------------------------------------------------------------------------------------
# GET /v1/stats/campaigns/{year}
# ----------------------------------------------------------------------------------------------

STATUSES = ("pending", "approved", "refused", "withdrawn")
OWNERSHIP_KEYS = ("public_to_public", "public_to_private", "private_to_public",
                  "private_to_private", "none_to_public", "none_to_private")


class CampaignStatsTest(OwnCampaignCase):
    """Counts of a campaign year this class owns: while it runs, its campaign is the one open
    today, so every application submitted belongs to it."""

    EFFECTIVE_IN_DAYS = 50
    MAX_CHANGES = 3

    def stats(self, token=ADMIN):
        return self.assertJson(call("GET", "/v1/stats/campaigns/%d" % self.year, token=token),
                               200)

    def test_only_admin_reads_statistics(self):
        c = make_clinic()
        self.assertProblem(call("GET", "/v1/stats/campaigns/%d" % self.year, token=PORTAL), 403)
        self.assertProblem(call("GET", "/v1/stats/campaigns/%d" % self.year, token=c.reg), 403)

    def test_year_without_campaign_or_applications_is_404(self):
        y = client.free_campaign_year()
        self.assertProblem(call("GET", "/v1/stats/campaigns/%d" % y), 404)

    def test_counts_by_status_reason_channel_and_transfers_by_ownership(self):
        before = self.stats()
        self.assertEqual(before.get("year"), self.year)
        apps = before["applications"]
        self.assertEqual(apps["total"], 0, "a campaign year of this class's own: %r" % before)
        self.assertLessEqual(set(STATUSES), set(apps["by_status"]), apps)
        self.assertEqual(set(apps["by_channel"]), {"egov", "in_person"})
        self.assertIsInstance(apps["by_refusal_reason"], dict)
        self.assertEqual(set(before["transfers"]["by_ownership"]), set(OWNERSHIP_KEYS))

        kato = new_settlement()
        pub = make_clinic(kato=kato, ownership="public")
        priv = make_clinic(kato=kato, ownership="private")
        closed = make_clinic(kato=kato, accepting=False)
        want = {"status": dict.fromkeys(STATUSES, 0), "reason": {},
                "channel": {"egov": 0, "in_person": 0}, "own": dict.fromkeys(OWNERSHIP_KEYS, 0)}

        def count(app, channel="egov"):
            self.assertEqual(app["campaign_year"], self.year, app)
            want["channel"][channel] += 1
            return app

        def settle(app, status, reason=None):
            want["status"][status] += 1
            if reason:
                want["reason"][reason] = want["reason"].get(reason, 0) + 1

        # approved first attachment at a public polyclinic (none -> public)
        a = self.attach(pub)
        count(a)
        settle(a, "approved")
        want["own"]["none_to_public"] += 1
        # pending campaign application in person at the private one
        b = count(self.submit_pending(application_body(priv.body, grounds="campaign",
                                                       channel="in_person"), token=priv.reg),
                  "in_person")
        settle(b, "pending")
        # refusals at submission
        r1 = count(self.submit_refused(application_body(
            pub.body, person=new_person(residency="temporary_foreigner")), "NOT_ELIGIBLE"))
        settle(r1, "refused", "NOT_ELIGIBLE")
        r2 = count(self.submit_refused(application_body(closed.body), "CLINIC_NOT_ACCEPTING"))
        settle(r2, "refused", "CLINIC_NOT_ACCEPTING")
        # refused by the registrar
        r3 = count(self.submit_pending(application_body(pub.body)))
        self.assertEqual(self.refuse(r3["id"], pub.reg, "OTHER_SETTLEMENT").status, 200)
        settle(r3, "refused", "OTHER_SETTLEMENT")
        # withdrawn
        w = count(self.submit_pending(application_body(priv.body)))
        self.assertEqual(self.withdraw(w["id"]).status, 200)
        settle(w, "withdrawn")
        # campaign first attachment at the private one (none -> private), then replaced by a
        # move to the public one: the replaced transfer is not counted
        p = new_person()
        c1 = count(self.submit_pending(application_body(priv.body, person=p, grounds="campaign")))
        self.approved(c1["id"], priv.reg)
        settle(c1, "approved")
        c2 = count(self.submit_pending(application_body(pub.body, person=p, grounds="campaign")))
        self.approved(c2["id"], pub.reg)
        settle(c2, "approved")
        want["own"]["none_to_public"] += 1
        if db_available():
            # moves away from attachments that have begun
            for src, dst, key in ((pub, priv, "public_to_private"),
                                  (priv, pub, "private_to_public")):
                q = new_person()
                seed_current_attachment(q["iin"], src.id, src.district()["id"])
                m = count(self.attach(dst, person=q))
                settle(m, "approved")
                want["own"][key] += 1

        after = self.stats()
        delta = lambda section, key: (after["applications"][section][key]  # noqa: E731
                                      - before["applications"][section][key])
        total = sum(want["status"].values())
        self.assertEqual(after["applications"]["total"] - before["applications"]["total"], total)
        for s in STATUSES:
            self.assertEqual(delta("by_status", s), want["status"][s], "by_status.%s" % s)
        for ch in ("egov", "in_person"):
            self.assertEqual(delta("by_channel", ch), want["channel"][ch], "by_channel.%s" % ch)
        for code in client_reasons():
            got = (after["applications"]["by_refusal_reason"].get(code, 0)
                   - before["applications"]["by_refusal_reason"].get(code, 0))
            self.assertEqual(got, want["reason"].get(code, 0), "by_refusal_reason.%s" % code)
        for key in OWNERSHIP_KEYS:
            got = (after["transfers"]["by_ownership"][key]
                   - before["transfers"]["by_ownership"][key])
            self.assertEqual(got, want["own"][key], "transfers.by_ownership.%s" % key)
        self.assertEqual(after["transfers"]["total"] - before["transfers"]["total"],
                         sum(want["own"].values()))


def client_reasons():
    return sorted(refusal_reasons())
