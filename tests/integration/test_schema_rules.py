"""The one-column rules of the register, held by the database under every writer (migrations/0017
made them domains: iin_text, kato_text, application_status, event_type, ...), and a row's
district being one of the polyclinic it names (0019). Each test writes
a row straight into the database, as an operator's psql session would, first with every value
valid (it must be accepted, so a failure below is the rule's and nothing else's), then with one
value breaking one rule (it must be refused with SQLSTATE 23514, check_violation). Every write
is rolled back. Skipped without DATABASE_URL (scripts/test.sh gives it)."""

import os
import subprocess
import unittest

from apphelpers import NO_DB, _psql_binary, db_available, make_clinic, unused_iin
from client import ApiTestCase

CHECK_VIOLATION = "23514"
FK_VIOLATION = "23503"


def run_rolled_back(sql):
    """Runs sql in a transaction that is rolled back; returns (ok, output)."""
    r = subprocess.run([_psql_binary(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                        "-v", "VERBOSITY=verbose", "-d", os.environ["DATABASE_URL"]],
                       input="BEGIN;\n%s;\nROLLBACK;\n" % sql, capture_output=True, text=True,
                       timeout=30)
    return r.returncode == 0, r.stdout + r.stderr


@unittest.skipUnless(db_available(), NO_DB)
class SchemaRulesTest(ApiTestCase):
    @classmethod
    def setUpClass(cls):
        cls.clinic = make_clinic((("gp", 50),))
        cls.district = cls.clinic.district()["id"]

    def rows(self, **bad):
        """The INSERT statements of a valid application, attachment, transfer and event, with
        the values named in bad (column=SQL literal) put in place of the valid ones."""
        v = {"iin": "'%s'" % unused_iin(), "settlement": "'%s'" % self.clinic.body["settlement"],
             "channel": "'egov'", "grounds": "'relocation'", "status": "'pending'",
             "warnings": "'{IIN_SEX_MISMATCH}'", "transfer_grounds": "'import'",
             "to_ownership": "'public'", "from_ownership": "'private'", "type":
             "'application.submitted'", "pos": "NULL"}
        v.update(bad)
        p, d = self.clinic.id, self.district
        return ";\n".join([
            "INSERT INTO applications (iin, person, birth_date, settlement, polyclinic_id,"
            " channel, grounds, status, warnings, campaign_year) VALUES (%s, '{}', DATE"
            " '1990-01-01', %s, %d, %s, %s, %s, %s, 2026)"
            % (v["iin"], v["settlement"], p, v["channel"], v["grounds"], v["status"],
               v["warnings"]),
            "INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from) VALUES"
            " (%s, %d, %d, DATE '2020-01-01')" % (v["iin"], p, d),
            "INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, from_ownership,"
            " to_polyclinic_id, to_district_id, effective_on, grounds, campaign_year,"
            " counts_as_change, to_ownership) VALUES (%s, %d, %d, %s, %d, %d, DATE"
            " '2020-01-01', %s, 2020, false, %s)"
            % (v["iin"], p, d, v["from_ownership"], p, d, v["transfer_grounds"],
               v["to_ownership"]),
            "INSERT INTO events (type, iin, polyclinic_id, pos) VALUES (%s, %s, %d, %s)"
            % (v["type"], v["iin"], p, v["pos"]),
        ])

    def assertRefused(self, sql, rule):
        ok, out = run_rolled_back(sql)
        self.assertFalse(ok, "%s: accepted, must be refused" % rule)
        self.assertIn(CHECK_VIOLATION, out, "%s: %s" % (rule, out))
        self.assertIn(rule, out, out)

    def test_valid_rows_are_accepted(self):
        ok, out = run_rolled_back(self.rows())
        self.assertTrue(ok, out)
        ok, out = run_rolled_back("UPDATE districts SET nopen = 0, number = 'A-7/1', capacity = 5"
                                  " WHERE id = %d" % self.district)
        self.assertTrue(ok, out)

    def test_iin_is_twelve_digits_everywhere(self):
        for bad in ("'12345678901'", "'1234567890123'", "'12345678901x'", "' 12345678901'"):
            self.assertRefused(self.rows(iin=bad), "iin_text_check")

    def test_settlement_is_a_nine_digit_kato(self):
        self.assertRefused(self.rows(settlement="'75111000'"), "kato_text_check")

    def test_application_channel_grounds_status_and_warnings_are_the_known_ones(self):
        self.assertRefused(self.rows(channel="'fax'"), "application_channel_check")
        self.assertRefused(self.rows(grounds="'import'"), "application_grounds_check")
        self.assertRefused(self.rows(status="'lost'"), "application_status_check")
        self.assertRefused(self.rows(warnings="'{IIN_SEX_MISMATCH,MAYBE}'"),
                           "application_warnings_known")

    def test_transfer_grounds_and_ownership_are_the_known_ones(self):
        self.assertRefused(self.rows(transfer_grounds="'whim'"), "transfer_grounds_check")
        self.assertRefused(self.rows(to_ownership="'state'"), "ownership_kind_check")
        self.assertRefused(self.rows(from_ownership="'state'"), "ownership_kind_check")

    def test_event_type_is_known_and_its_position_positive(self):
        self.assertRefused(self.rows(type="'application.lost'"), "event_type_check")
        self.assertRefused(self.rows(pos="0"), "event_pos_positive")

    def test_an_attachment_or_transfer_names_a_district_of_its_polyclinic(self):
        """0019: one foreign key on (polyclinic, district), not one on each."""
        other = make_clinic((("gp", 50),), kato=self.clinic.body["settlement"])
        theirs = other.district()["id"]
        iin, p, d = unused_iin(), self.clinic.id, self.district
        cases = (
            ("attachments_district_of_polyclinic",
             "INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from) VALUES"
             " ('%s', %d, %d, DATE '2020-01-01')"),
            ("transfers_to_district_of_polyclinic",
             "INSERT INTO transfers (iin, to_polyclinic_id, to_district_id, effective_on, grounds,"
             " campaign_year, counts_as_change, to_ownership) VALUES ('%s', %d, %d,"
             " DATE '2020-01-01', 'import', 2020, false, 'public')"),
            ("transfers_from_district_of_polyclinic",
             "INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, from_ownership,"
             " to_polyclinic_id, to_district_id, effective_on, grounds, campaign_year,"
             " counts_as_change, to_ownership) VALUES ('%%s', %%d, %%d, 'public', %d, %d,"
             " DATE '2020-01-01', 'import', 2020, false, 'public')" % (other.id, theirs)),
        )
        for rule, sql in cases:
            ok, out = run_rolled_back(sql % (iin, p, d))
            self.assertTrue(ok, "%s: the polyclinic's own district: %s" % (rule, out))
            ok, out = run_rolled_back(sql % (iin, p, theirs))
            self.assertFalse(ok, "%s: another polyclinic's district was accepted" % rule)
            self.assertIn(FK_VIOLATION, out, out)
            self.assertIn(rule, out, out)

    def test_the_rules_across_an_applications_and_a_transfers_columns(self):
        """0022: checked by one function per table, each rule still named on its own. For each
        rule a row keeping it is accepted, then the same row breaking it is refused."""
        p, d = self.clinic.id, self.district
        app = ("INSERT INTO applications (iin, person, birth_date, settlement, polyclinic_id,"
               " channel, grounds, status, campaign_year, decided_at, decided_by, district_id,"
               " effective_on, refusal_code) VALUES ('%s', '{}', DATE '1990-01-01', '%s', %d,"
               " 'egov', %%s, %%s, 2026, %%s, %%s, %%s, %%s, %%s)"
               % (unused_iin(), self.clinic.body["settlement"], p))
        later = "now() + interval '1 hour'"
        cases = (  # rule, (grounds, status, decided_at, decided_by, district, effective, code)
            ("applications_approval_has_district",
             ("'campaign'", "'approved'", later, "'registrar:x'", d, "DATE '2027-01-01'", "NULL"),
             {5: "NULL"}),
            ("applications_decided_when",
             ("'campaign'", "'pending'", "NULL", "NULL", "NULL", "NULL", "NULL"), {2: later}),
            ("applications_refusal_has_reason",
             ("'campaign'", "'refused'", later, "'registrar:x'", "NULL", "NULL",
              "'INVALID_DATA'"), {6: "NULL"}),
            ("applications_registrar_refusal_reasons",
             ("'campaign'", "'refused'", later, "'registrar:x'", "NULL", "NULL",
              "'INVALID_DATA'"), {6: "'REPEAT_CHANGE'"}),
            ("applications_relocation_by_a_registrar",
             ("'relocation'", "'approved'", later, "'registrar:x'", d, "DATE '2027-01-01'",
              "NULL"), {3: "'attachd (auto_approve)'"}),
        )
        for rule, good, bad in cases:
            ok, out = run_rolled_back(app % good)
            self.assertTrue(ok, "%s: a row keeping it: %s" % (rule, out))
            self.assertRefused(app % tuple(bad.get(i, v) for i, v in enumerate(good)), rule)
        transfer = ("INSERT INTO transfers (iin, from_polyclinic_id, from_district_id,"
                    " from_ownership, to_polyclinic_id, to_district_id, effective_on, grounds,"
                    " campaign_year, counts_as_change, to_ownership) VALUES ('%s', %d, %%s, %%s,"
                    " %d, %d, DATE '2020-01-01', 'import', 2020, false, 'public')"
                    % (unused_iin(), p, p, d))
        ok, out = run_rolled_back(transfer % (d, "'public'"))
        self.assertTrue(ok, out)
        self.assertRefused(transfer % ("NULL", "'public'"), "transfers_check")
        self.assertRefused(transfer % (d, "NULL"), "transfers_from_ownership")

    def test_district_number_capacity_and_open_count(self):
        for sets, rule in (("number = 'A 7'", "district_number_check"),
                           ("capacity = 0", "district_capacity_check"),
                           ("nopen = -1", "district_count_check")):
            self.assertRefused("UPDATE districts SET %s WHERE id = %d" % (sets, self.district),
                               rule)

    def test_a_token_is_kept_for_the_applications_that_name_it(self):
        """applications.submitted_by names its token without a foreign key (migrations/0024):
        tokens are revoked, never deleted or renumbered, so the name always resolves."""
        token = ("INSERT INTO tokens (name, role, hash) VALUES ('kept', 'admin',"
                 " decode(md5(random()::text) || md5(random()::text), 'hex'))")
        ok, out = run_rolled_back(token + ";\nUPDATE tokens SET revoked_at = now()"
                                  " WHERE name = 'kept'")
        self.assertTrue(ok, out)
        for change in ("DELETE FROM tokens WHERE name = 'kept'", "TRUNCATE tokens CASCADE",
                       "UPDATE tokens SET id = DEFAULT WHERE name = 'kept'"):
            ok, out = run_rolled_back(token + ";\n" + change)
            self.assertFalse(ok, "%s: accepted, must be refused" % change)
            self.assertIn("23001", out, out)  # restrict_violation
            self.assertIn("never deleted", out, out)

    def test_an_application_names_districts_of_its_polyclinic(self):
        """0028: the district asked for and the one approved are keyed with the polyclinic."""
        other = make_clinic((("gp", 50),), kato=self.clinic.body["settlement"])
        theirs = other.district()["id"]
        app = ("INSERT INTO applications (iin, person, birth_date, settlement, polyclinic_id,"
               " channel, grounds, status, campaign_year, decided_at, decided_by,"
               " requested_district_id, district_id, effective_on) VALUES ('%s', '{}',"
               " DATE '1990-01-01', '%s', %d, 'egov', 'campaign', %%s, 2026, %%s, %%s, %%%%d,"
               " %%%%s, %%s)" % (unused_iin(), self.clinic.body["settlement"], self.clinic.id))
        pending = app % ("'pending'", "NULL", "NULL", "NULL")
        approved = app % ("'approved'", "now() + interval '1 hour'", "'registrar:x'",
                          "DATE '2027-01-01'")
        for rule, sql in (("applications_requested_district_of_polyclinic",
                           pending % (self.district, "NULL")),
                          ("applications_district_of_polyclinic",
                           approved % (self.district, self.district))):
            ok, out = run_rolled_back(sql)
            self.assertTrue(ok, "%s: the polyclinic's own district: %s" % (rule, out))
        for rule, sql in (("applications_requested_district_of_polyclinic",
                           pending % (theirs, "NULL")),
                          ("applications_district_of_polyclinic",
                           approved % (self.district, theirs))):
            ok, out = run_rolled_back(sql)
            self.assertFalse(ok, "%s: another polyclinic's district was accepted" % rule)
            self.assertIn(FK_VIOLATION, out, out)
            self.assertIn(rule, out, out)

    def test_a_polyclinic_is_kept_for_the_applications_that_name_it(self):
        """applications.polyclinic_id has no key of its own (migrations/0028): polyclinics are
        closed, never deleted or renumbered."""
        ok, out = run_rolled_back("UPDATE polyclinics SET accepting = false WHERE id = %d"
                                  % self.clinic.id)
        self.assertTrue(ok, out)
        for change in ("DELETE FROM polyclinics WHERE id = %d" % self.clinic.id,
                       "TRUNCATE polyclinics CASCADE",
                       "UPDATE polyclinics SET id = DEFAULT WHERE id = %d" % self.clinic.id):
            ok, out = run_rolled_back(change)
            self.assertFalse(ok, "%s: accepted, must be refused" % change)
            self.assertIn("23001", out, out)  # restrict_violation
            self.assertIn("never deleted", out, out)

    def test_a_district_kind_code_is_an_identifier(self):
        kind = ("INSERT INTO district_kinds (code, norm, min_age, max_age, sort)"
                " VALUES (%s, 100, 0, NULL, 99)")
        ok, out = run_rolled_back(kind % "'gp_2'")
        self.assertTrue(ok, out)
        for code in ("'GP'", "'gp 2'", "'2gp'", "'gp,2'", "''"):
            self.assertRefused(kind % code, "district_kinds_code_identifier")

    def test_district_leavers_count_cannot_go_below_zero(self):
        self.assertRefused("UPDATE districts SET nleaving = -1 WHERE id = %d" % self.district,
                           "district_count_check")


@unittest.skipUnless(db_available(), NO_DB)
class CatalogueVersionTest(ApiTestCase):
    """attachd keeps the district kinds, the holidays and the refusal reasons per worker thread
    and reads them again when catalogue_version changes (migrations/0029): every statement that
    changes one of them changes it, in its own transaction."""

    def test_every_change_of_kinds_or_holidays_changes_the_version(self):
        for change in ("UPDATE district_kinds SET norm = norm WHERE code = 'gp'",
                       "INSERT INTO holidays (day, name) VALUES (DATE '2199-01-01', 'x')",
                       "UPDATE holidays SET name = name WHERE day = DATE '2199-01-01'",
                       "DELETE FROM holidays WHERE day = DATE '2199-01-01'",
                       "TRUNCATE holidays",
                       "UPDATE refusal_reasons SET title_en = title_en WHERE code = 'NOT_ELIGIBLE'"):
            with self.subTest(change=change):
                ok, out = run_rolled_back("SELECT version FROM catalogue_version;\n%s;\n"
                                          "SELECT version FROM catalogue_version" % change)
                self.assertTrue(ok, out)
                before, after = [int(v) for v in out.split()]
                self.assertGreater(after, before)

    def test_the_version_row_is_kept(self):
        """Every submission's facts are read FROM its one row."""
        for change in ("DELETE FROM catalogue_version", "TRUNCATE catalogue_version",
                       "INSERT INTO catalogue_version (one, version) VALUES (false, 1)"):
            with self.subTest(change=change):
                ok, out = run_rolled_back(change)
                self.assertFalse(ok, "%s: accepted, must be refused" % change)
                if change.startswith("DELETE"):
                    self.assertIn("23001", out, out)  # restrict_violation

if __name__ == "__main__":
    unittest.main()
