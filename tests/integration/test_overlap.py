"""One live attachment per person per date, held by the database (SPEC §3, §5): the constraint
trigger attachments_one_at_a_time of migrations/0010, which replaced the GiST exclusion. Each
test writes attachments straight into the database, as psql sessions, because the rule is the
database's backstop under every writer (the service, the daily run, the import, an operator).
Skipped without DATABASE_URL (scripts/test.sh gives it)."""

import os
import subprocess
import time
import unittest

from apphelpers import NO_DB, _psql_binary, db_available, make_clinic, psql, unused_iin
from client import ApiTestCase

EXCLUSION = "23P01"


class Session:
    """A psql process fed one statement at a time, so that two can race: each statement runs as
    soon as it is written. Errors do not stop it; VERBOSITY verbose prints each SQLSTATE."""

    def __init__(self, name):
        self.name = name
        self.p = subprocess.Popen(
            [_psql_binary(), "-X", "-q", "-t", "-A", "-v", "VERBOSITY=verbose",
             "-d", os.environ["DATABASE_URL"]],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, PGAPPNAME=name))

    def send(self, sql):
        self.p.stdin.write(sql.rstrip().rstrip(";") + ";\n")
        self.p.stdin.flush()

    def ready(self):
        """Waits until every statement sent so far has run; returns what they printed."""
        self.send("SELECT 'ready'")
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line or line.strip() == "ready":
                return "".join(lines)
            lines.append(line)

    def finish(self):
        """Ends the session; returns all it printed."""
        out, _ = self.p.communicate(timeout=30)
        return out


def waiting_on_lock(app, seconds=10):
    """True once the session named app waits for a lock."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'"
                " AND wait_event_type = 'Lock'" % app) == "1":
            return True
        time.sleep(0.05)
    return False


def insert_sql(iin, clinic, valid_from, valid_to=None, cancelled=False):
    return ("INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to,"
            " cancelled) VALUES ('%s', %d, %d, DATE '%s', %s, %s)"
            % (iin, clinic.id, clinic.district()["id"], valid_from,
               "DATE '%s'" % valid_to if valid_to else "NULL", "true" if cancelled else "false"))


def live_count(iin):
    return int(psql("SELECT count(*) FROM attachments WHERE iin = '%s' AND NOT cancelled" % iin))


@unittest.skipUnless(db_available(), NO_DB)
class OverlapRuleTest(ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.clinic = make_clinic((("gp", 50),))

    def write(self, sql):
        """Runs sql in its own session; returns (ok, output)."""
        r = subprocess.run([_psql_binary(), "-X", "-q", "-t", "-A", "-v", "VERBOSITY=verbose",
                            "-v", "ON_ERROR_STOP=1", "-d", os.environ["DATABASE_URL"], "-c", sql],
                           capture_output=True, text=True, timeout=30)
        return r.returncode == 0, r.stdout + r.stderr

    def race(self, first_sql, second_sql):
        """first_sql commits while second_sql waits on the person's lock; returns what the
        second session printed."""
        a, b = Session("overlap-race-a"), Session("overlap-race-b")
        try:
            a.send("BEGIN")
            a.send(first_sql)
            printed = a.ready()
            self.assertNotIn("ERROR", printed, printed)
            b.send("BEGIN")
            b.send(second_sql)
            self.assertTrue(waiting_on_lock("overlap-race-b"),
                            "the second writer does not wait for the first one's person lock")
            a.send("COMMIT")
            b.send("COMMIT")
            out_a = a.finish()
            self.assertNotIn("ERROR", out_a, out_a)
            return b.finish()
        finally:
            for s in (a, b):
                if s.p.poll() is None:
                    s.p.kill()
                    s.p.wait()

    def test_concurrent_overlapping_inserts_one_fails_open_then_dated(self):
        """§3: two sessions racing to attach one person over overlapping dates: the second to
        take the person's lock sees the first's row and fails with 23P01 (exclusion_violation,
        constraint attachments_one_at_a_time), as the exclusion constraint did."""
        iin = unused_iin()
        out = self.race(insert_sql(iin, self.clinic, "2020-01-01"),
                        insert_sql(iin, self.clinic, "2021-01-01", "2022-01-01"))
        self.assertIn(EXCLUSION, out, out)
        self.assertIn("attachments_one_at_a_time", out, out)
        self.assertEqual(live_count(iin), 1)

    def test_concurrent_overlapping_inserts_one_fails_dated_then_open(self):
        """§3: the same race the other way round (the dated period first): still one fails."""
        iin = unused_iin()
        out = self.race(insert_sql(iin, self.clinic, "2021-01-01", "2022-01-01"),
                        insert_sql(iin, self.clinic, "2020-01-01"))
        self.assertIn(EXCLUSION, out, out)
        self.assertEqual(live_count(iin), 1)

    def test_concurrent_adjacent_periods_both_stored(self):
        """§3: valid_to is exclusive: a period ending on the day the other begins does not
        overlap, also when the two race."""
        iin = unused_iin()
        out = self.race(insert_sql(iin, self.clinic, "2020-01-01", "2021-01-01"),
                        insert_sql(iin, self.clinic, "2021-01-01"))
        self.assertNotIn("ERROR", out, out)
        self.assertEqual(live_count(iin), 2)

    def test_overlap_in_one_statement_is_refused(self):
        """§3: two overlapping rows of one person in one INSERT see each other."""
        iin = unused_iin()
        ok, out = self.write(insert_sql(iin, self.clinic, "2020-01-01") + ", ('%s', %d, %d,"
                             " DATE '2020-06-01', NULL, false)"
                             % (iin, self.clinic.id, self.clinic.district()["id"]))
        self.assertFalse(ok, out)
        self.assertIn(EXCLUSION, out, out)
        self.assertEqual(live_count(iin), 0)

    def test_cancelled_attachment_does_not_count(self):
        """§3: a cancelled attachment (an upcoming one replaced) is not live: a period over the
        same dates is accepted, and a cancelled one over a live one too."""
        iin = unused_iin()
        self.assertTrue(self.write(insert_sql(iin, self.clinic, "2020-01-01", cancelled=True))[0])
        ok, out = self.write(insert_sql(iin, self.clinic, "2020-01-01"))
        self.assertTrue(ok, out)
        ok, out = self.write(insert_sql(iin, self.clinic, "2019-01-01", cancelled=True))
        self.assertTrue(ok, out)
        self.assertEqual(live_count(iin), 1)

    def test_update_that_makes_two_overlap_is_refused(self):
        """§3: an UPDATE that widens a period into another one's dates, or un-cancels an
        overlapping one, is refused; shrinking a period is allowed."""
        iin = unused_iin()
        first = psql(insert_sql(iin, self.clinic, "2020-01-01", "2021-01-01") + " RETURNING id")
        psql(insert_sql(iin, self.clinic, "2021-01-01"))
        ok, out = self.write("UPDATE attachments SET valid_to = DATE '2021-02-01' WHERE id = %s"
                             % first)
        self.assertFalse(ok, out)
        self.assertIn(EXCLUSION, out, out)
        ok, out = self.write("UPDATE attachments SET valid_to = NULL WHERE id = %s" % first)
        self.assertFalse(ok, out)
        self.assertIn(EXCLUSION, out, out)
        ok, out = self.write("UPDATE attachments SET valid_to = DATE '2020-06-01' WHERE id = %s"
                             % first)
        self.assertTrue(ok, out)
        cancelled = psql(insert_sql(iin, self.clinic, "2022-01-01", cancelled=True)
                         + " RETURNING id")
        ok, out = self.write("UPDATE attachments SET cancelled = false WHERE id = %s" % cancelled)
        self.assertFalse(ok, out)
        self.assertIn(EXCLUSION, out, out)

    def test_repeatable_read_is_refused(self):
        """migrations/0010: in REPEATABLE READ the check would read a snapshot older than the
        person's lock, so an overlap could not be ruled out: the write is refused (55000)."""
        iin = unused_iin()
        ok, out = self.write("BEGIN ISOLATION LEVEL REPEATABLE READ; "
                             + insert_sql(iin, self.clinic, "2020-01-01") + "; COMMIT")
        self.assertFalse(ok, out)
        self.assertIn("55000", out, out)
        self.assertEqual(live_count(iin), 0)

    def test_bulk_load_setting_skips_no_check(self):
        """migrations/0026: the triggers no longer ask whether a write is a bulk load, so
        attachd.bulk_load (which once skipped them) skips nothing: the overlap is refused and
        the district's nopen counted."""
        iin = unused_iin()
        self.assertTrue(self.write(insert_sql(iin, self.clinic, "2020-01-01"))[0])
        ok, out = self.write("BEGIN; SET LOCAL attachd.bulk_load = 'on'; "
                             + insert_sql(iin, self.clinic, "2021-01-01") + "; COMMIT")
        self.assertFalse(ok, out)
        self.assertIn(EXCLUSION, out, out)
        district = self.clinic.district()["id"]
        ok, out = self.write(
            "BEGIN; SET LOCAL attachd.bulk_load = 'on';"
            " SELECT 'before ' || nopen FROM districts WHERE id = %d; %s;"
            " SELECT 'after ' || nopen FROM districts WHERE id = %d; ROLLBACK"
            % (district, insert_sql(unused_iin(), self.clinic, "2020-01-01"), district))
        self.assertTrue(ok, out)
        before = int(out.split("before ")[1].split()[0])
        self.assertIn("after %d" % (before + 1), out)

    def test_triggers_disabled_only_under_the_table_lock(self):
        """migrations/0026: a bulk load disables the count and overlap triggers in its own
        transaction, and only while it holds attachments against other writers; the other
        sessions never see them disabled."""
        iin = unused_iin()
        ok, out = self.write("SELECT attachments_bulk_triggers(false)")
        self.assertFalse(ok, out)
        self.assertIn("55000", out, out)
        ok, out = self.write("BEGIN; LOCK TABLE attachments IN ROW EXCLUSIVE MODE;"
                             " SELECT attachments_bulk_triggers(false); ROLLBACK")
        self.assertFalse(ok, out)
        self.assertIn("55000", out, out)
        s = Session("bulk-disabler")
        try:
            s.send("BEGIN")
            s.send("LOCK TABLE attachments IN SHARE ROW EXCLUSIVE MODE")
            s.send("SELECT 'disabled ' || attachments_bulk_triggers(false)")
            s.send(insert_sql(iin, self.clinic, "2020-01-01"))
            s.send(insert_sql(iin, self.clinic, "2021-01-01"))
            out = s.ready()
            self.assertIn("disabled 3", out)
            self.assertNotIn("ERROR", out)
            self.assertEqual(psql("SELECT count(*) FROM pg_trigger WHERE tgrelid ="
                                  " 'attachments'::regclass AND tgenabled = 'D'"), "0")
            s.send("ROLLBACK")
        finally:
            s.finish()
        self.assertEqual(live_count(iin), 0)


if __name__ == "__main__":
    unittest.main()
