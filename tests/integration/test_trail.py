"""The trail of a submission written by the statement that stores it (issue 10, migrations/0020).

attachd's submission writes the application's events and the audit row of a decision taken at
once in the statement that stores the application, and stores the row with trail_inline = true
(migrations/0031); every other writer gets the triggers (applications_events_insert,
audit_decided_at_once), which fire WHEN NOT NEW.trail_inline. Checked here, for each
kind of submission the service stores (pending, refused at once, approved at once as a first
attachment and as a move, refused by the approval's re-check): what the service wrote is, field
by field and in the same order, what the triggers write for the same rows. The triggers' version
is made in a rolled-back transaction: the application (and its attachment and transfer) is
deleted with its trail and inserted again, unchanged, by psql (no flag: the triggers fire; the
deferred events trigger is fired by SET CONSTRAINTS ALL IMMEDIATE). While the service submits,
the two triggers are disabled, so that a trail the statement did not write is missing, not
written by the triggers in its place (run.py runs one test at a time).
"""

import contextlib
import json
import os
import subprocess

import client
from apphelpers import (NO_DB, AutoApproveCase, _psql_binary, application_body, db_available,
                        make_clinic, new_person, seed_current_attachment)

__unittest = True


def trail_sql(app_id):
    """The application's trail as one line of jsonb text: its events in id order and its audit
    rows, every column but id, at and pos (the sequence's and the clock's)."""
    return (
        "SELECT jsonb_build_object("
        " 'events', (SELECT jsonb_agg(jsonb_build_object('type', type, 'application_id',"
        " application_id, 'iin', iin, 'polyclinic_id', polyclinic_id, 'other_polyclinic_id',"
        " other_polyclinic_id, 'data', data) ORDER BY id) FROM events WHERE application_id = %d),"
        " 'audit', (SELECT jsonb_agg(jsonb_build_object('actor_role', actor_role, 'actor_token',"
        " actor_token, 'actor_name', actor_name, 'action', action, 'entity', entity,"
        " 'entity_id', entity_id, 'before', before, 'after', after) ORDER BY id) FROM audit"
        " WHERE entity = 'application' AND entity_id = '%d'));\n" % (app_id, app_id))


def triggers_version_sql(app_id):
    """The same rows stored again by the triggers, in a transaction rolled back."""
    x = int(app_id)
    return (
        "BEGIN;\n"
        # the service's sessions run in Asia/Almaty (pool.c): iso_ts() writes that offset
        "SET LOCAL TimeZone = 'Asia/Almaty';\n"
        "CREATE TEMP TABLE s_app ON COMMIT DROP AS SELECT * FROM applications WHERE id = %(x)d;\n"
        "CREATE TEMP TABLE s_att ON COMMIT DROP AS"
        " SELECT * FROM attachments WHERE application_id = %(x)d;\n"
        "CREATE TEMP TABLE s_tr ON COMMIT DROP AS"
        " SELECT * FROM transfers WHERE application_id = %(x)d;\n"
        # the actor the service's audit row names, as pool.c sets it (role, token, name)
        "SELECT set_config('attachd.actor', actor_role || E'\\t' || coalesce(actor_token::text,"
        " '') || E'\\t' || actor_name, true) IS NULL FROM audit WHERE entity = 'application'"
        " AND entity_id = '%(x)d';\n"
        "DELETE FROM events WHERE application_id = %(x)d;\n"
        "DELETE FROM audit WHERE entity = 'application' AND entity_id = '%(x)d';\n"
        "DELETE FROM transfers WHERE application_id = %(x)d;\n"
        "DELETE FROM attachments WHERE application_id = %(x)d;\n"
        "DELETE FROM applications WHERE id = %(x)d;\n"
        # as any other writer: the row does not say its trail was written with it
        "UPDATE s_app SET trail_inline = false;\n"
        "INSERT INTO applications OVERRIDING SYSTEM VALUE SELECT * FROM s_app;\n"
        "INSERT INTO attachments OVERRIDING SYSTEM VALUE SELECT * FROM s_att;\n"
        "INSERT INTO transfers OVERRIDING SYSTEM VALUE SELECT * FROM s_tr;\n"
        "SET CONSTRAINTS ALL IMMEDIATE;\n" % {"x": x}
        + trail_sql(x) + "ROLLBACK;\n")


def run_psql(script):
    r = subprocess.run([_psql_binary(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                        "-d", os.environ["DATABASE_URL"], "-f", "-"],
                       input=script, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
    return [line for line in r.stdout.splitlines() if line.strip()]


@contextlib.contextmanager
def statement_only():
    """The submission's trail triggers disabled while the block runs."""
    toggle = ("ALTER TABLE applications %s TRIGGER applications_events_insert,"
              " %s TRIGGER audit_decided_at_once;\n")
    run_psql(toggle % ("DISABLE", "DISABLE"))
    try:
        yield
    finally:
        run_psql(toggle % ("ENABLE", "ENABLE"))


class SubmissionTrailTest(AutoApproveCase):
    """The service's trail of a submission is the triggers' trail of the same row."""

    def setUp(self):
        super().setUp()
        if not db_available():
            self.skipTest(NO_DB)

    def assertTrailAsTriggers(self, app, events, audited):
        """The service's events (types in order) and audit rows (0 or 1) for app, and the same
        as the triggers write them, byte for byte (jsonb text)."""
        x = app["id"]
        service = run_psql(trail_sql(x))[-1]
        triggers = run_psql(triggers_version_sql(x))[-1]
        doc = json.loads(service)
        self.assertEqual([e["type"] for e in doc["events"] or []], events, service)
        self.assertEqual(len(doc["audit"] or []), audited, service)
        self.assertEqual(service, triggers,
                         "the service's trail (first) differs from the triggers' (second)")
        # the audit's actor is the token that submitted, as attachd.actor names it: the
        # triggers' version above reads it from the service's own row, so it is checked here
        for row in doc["audit"] or []:
            self.assertEqual(run_psql(
                "SELECT count(*) FROM tokens WHERE id = %d AND role = '%s' AND name = '%s';\n"
                % (row["actor_token"], row["actor_role"], row["actor_name"].replace("'", "''"))
            )[-1], "1", row)
        # the rolled-back copy changed nothing
        self.assertEqual(run_psql(trail_sql(x))[-1], service)
        return doc

    def test_pending_submission_trail_is_the_triggers(self):
        c = make_clinic()
        with statement_only():
            app = self.submit(application_body(c.body))
        self.assertEqual(app["status"], "pending", app)
        self.assertTrailAsTriggers(app, ["application.submitted"], 0)

    def test_refused_at_once_trail_is_the_triggers(self):
        c = make_clinic(auto_approve=True)
        kato = client.new_settlement()
        with statement_only():
            app = self.submit(self.auto_body(c, settlement=kato))
        self.assertEqual(app["status"], "refused", app)
        doc = self.assertTrailAsTriggers(app, ["application.submitted", "application.decided"], 1)
        self.assertEqual(doc["audit"][0]["action"], "refuse")
        self.assertEqual(doc["audit"][0]["actor_role"], "portal")

    def test_approved_at_once_trail_is_the_triggers(self):
        c = make_clinic(districts=(("gp", 10),), auto_approve=True)
        with statement_only():
            app = self.submit(self.auto_body(c))
        self.assertEqual(app["status"], "approved", app)
        doc = self.assertTrailAsTriggers(app, ["application.submitted", "application.decided"], 1)
        self.assertEqual(doc["audit"][0]["action"], "approve")
        self.assertEqual(doc["events"][0]["data"]["status"], "pending")
        self.assertIsInstance(doc["events"][1]["data"]["transfer_id"], int)

    def test_approved_at_once_move_trail_is_the_triggers(self):
        old = make_clinic()
        new = make_clinic(kato=old.kato, districts=(("gp", 10),), auto_approve=True)
        p = new_person()
        seed_current_attachment(p["iin"], old.id, old.district()["id"])
        with statement_only():
            app = self.submit(self.auto_body(new, person=p))
        self.assertEqual(app["status"], "approved", app)
        doc = self.assertTrailAsTriggers(app, ["application.submitted", "application.decided"], 1)
        self.assertEqual(doc["events"][1]["other_polyclinic_id"], old.id)
        self.assertEqual(doc["events"][1]["data"]["from_polyclinic_id"], old.id)

    def test_refused_by_the_approvals_recheck_trail_is_the_triggers(self):
        c = make_clinic(districts=(("gp", 1),), auto_approve=True)
        first = self.submit(self.auto_body(c))
        self.assertEqual(first["status"], "approved", first)
        with statement_only():
            app = self.submit(self.auto_body(c))
        self.assertEqual(app["status"], "refused", app)
        self.assertEqual(app["refusal"]["code"], "CAPACITY_EXCEEDED", app)
        doc = self.assertTrailAsTriggers(app, ["application.submitted", "application.decided"], 1)
        self.assertEqual(doc["events"][1]["data"]["refusal"]["code"], "CAPACITY_EXCEEDED")

    def test_auto_approval_replacing_an_upcoming_attachment_leaves_the_trail_to_the_triggers(self):
        """The replaced attachment's transfer.cancelled is written at COMMIT by its deferred
        trigger: the approval's events come after it (the statement leaves them to their
        deferred trigger), and are still the triggers' events of the row."""
        old = make_clinic()
        new = make_clinic(kato=old.kato, districts=(("gp", 10),), auto_approve=True)
        p = new_person()
        first = self.attach(old, person=p)
        app = self.submit(self.auto_body(new, person=p))
        self.assertEqual(app["status"], "approved", app)
        order = run_psql(
            "SELECT string_agg(type || ':' || application_id, ',' ORDER BY id) FROM events"
            " WHERE application_id IN (%d, %d) AND id > (SELECT max(id) FROM events"
            " WHERE application_id = %d AND type = 'application.decided');\n"
            % (first["id"], app["id"], first["id"]))[-1]
        self.assertEqual(order.split(","), [
            "transfer.cancelled:%d" % first["id"], "application.submitted:%d" % app["id"],
            "application.decided:%d" % app["id"]])
        self.assertTrailAsTriggers(app, ["application.submitted", "application.decided"], 1)
