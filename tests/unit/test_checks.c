/* The nine submission checks of SPEC §3 in their order, eligibility by residency (§4), the
 * IIN warnings that are never a refusal, and the catalogue codes of the refusals. */
#include <stdio.h>
#include <string.h>
#include "attachd/checks.h"
#include "attachd/kzid.h"
#include "unit.h"

static day_t D(int year, int month, int day)
{
    return days_from_civil(year, month, day);
}

/* Appends the SPEC §4 check digit to the 11 digits in iin; false when the prefix has none
 * (both weightings give 10: never issued). */
static bool complete_iin(char iin[13])
{
    static const int second[11] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2};
    int sum = 0;
    for (int i = 0; i < 11; i++)
        sum += (iin[i] - '0') * (i + 1);
    int k = sum % 11;
    if (k == 10) {
        sum = 0;
        for (int i = 0; i < 11; i++)
            sum += (iin[i] - '0') * second[i];
        k = sum % 11;
        if (k == 10)
            return false;
    }
    iin[11] = (char)('0' + k);
    iin[12] = '\0';
    return true;
}

/* A valid IIN encoding the given birth date and sex (the 7th digit from century and sex). */
static void make_iin(char iin[13], int year, int month, int day, bool male)
{
    int century_digit = 2 * ((year - 1800) / 100) + (male ? 1 : 2);
    for (int serial = 0; serial < 10000; serial++) {
        snprintf(iin, 13, "%02d%02d%02d%d%04d", year % 100, month, day, century_digit, serial);
        if (complete_iin(iin))
            break;
    }
    ck_assert_msg(iin_valid(iin), "helper made an invalid IIN %s", iin);
}

static const char ADULT_IIN[] = "900101300017";  /* 1990-01-01, male */
static const char MOTHER_IIN[] = "850715401236"; /* 1985-07-15, female */
static const char BAD_CHECK_DIGIT_IIN[] = "900101300018";

static char child_iin[13]; /* 2015-06-10, female: made in setup */

/* A district of every age with room, and one that is full. */
static const struct district_option ROOMY = {
    .id = 1, .number = "1", .min_age = 0, .max_age = -1, .capacity = 10, .load = 0, .open = true};
static const struct district_option FULL = {
    .id = 2, .number = "2", .min_age = 0, .max_age = -1, .capacity = 10, .load = 10, .open = true};

static void setup(void)
{
    make_iin(child_iin, 2015, 6, 10, false);
}

/* An adult citizen's campaign application to an accepting polyclinic of their settlement with
 * room: every check passes. Each test breaks what it is about. */
static struct application_facts adult_passing(void)
{
    return (struct application_facts){
        .iin = ADULT_IIN,
        .birth_date = D(1990, 1, 1),
        .male = true,
        .residency = "citizen",
        .has_insurance = false,
        .grounds = GROUNDS_CAMPAIGN,
        .settlement = "751110000",
        .address = "көш. Абай, 10, пәтер 5",
        .representative_iin = NULL,
        .representative_relation = NULL,
        .birth_certificate = NULL,
        .today = D(2026, 11, 23),
        .settlement_known = true,
        .in_campaign = true,
        .effective_on = D(2027, 1, 1),
        .clinic_accepting = true,
        .clinic_serves_settlement = true,
        .already_attached_there = false,
        .has_current_attachment = false,
        .changes_used = 0,
        .max_changes = 1,
        .districts = &ROOMY,
        .ndistricts = 1,
    };
}

/* A girl of 11 on her mother's application with all the documents: every check passes. */
static struct application_facts child_passing(void)
{
    struct application_facts f = adult_passing();
    f.iin = child_iin;
    f.birth_date = D(2015, 6, 10);
    f.male = false;
    f.representative_iin = MOTHER_IIN;
    f.representative_relation = "mother";
    f.birth_certificate = "IAL0123456";
    return f;
}

static enum refusal check(const struct application_facts *f)
{
    struct check_outcome out = {.refusal = (enum refusal) - 1, .warnings = 0xdead, .age = -99};
    run_checks(f, &out);
    return out.refusal;
}

#define ck_assert_refusal(f, want)                                                                 \
    do {                                                                                           \
        enum refusal got_ = check(f);                                                              \
        ck_assert_msg(got_ == (want), "refusal %s (%d), want %s (%d)",                             \
                      refusal_code(got_) ? refusal_code(got_) : "none", (int)got_,                 \
                      refusal_code(want) ? refusal_code(want) : "none", (int)(want));              \
    } while (0)

START_TEST(test_passing_adult_is_not_refused)
{
    struct application_facts f = adult_passing();
    struct check_outcome out = {.refusal = REFUSE_CAPACITY_EXCEEDED, .warnings = 0xdead};
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert_uint_eq(out.warnings, 0);
    ck_assert_int_eq(out.age, 36);
}
END_TEST

START_TEST(test_passing_child_with_documents_is_not_refused)
{
    struct application_facts f = child_passing();
    struct check_outcome out = {.refusal = REFUSE_CAPACITY_EXCEEDED, .warnings = 0xdead};
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert_uint_eq(out.warnings, 0);
    ck_assert_int_eq(out.age, 11);
}
END_TEST

/* Check 1: data. */

START_TEST(test_iin_with_wrong_check_digit_is_invalid_data)
{
    struct application_facts f = adult_passing();
    f.iin = BAD_CHECK_DIGIT_IIN;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
    f.iin = "90010130001"; /* 11 digits */
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
    f.iin = "150540000007"; /* a BIN, not an IIN */
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
    f.iin = NULL;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
}
END_TEST

START_TEST(test_representative_iin_with_wrong_check_digit_is_invalid_data)
{
    struct application_facts f = child_passing();
    f.representative_iin = BAD_CHECK_DIGIT_IIN;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
    /* A representative's IIN is checked even when the applicant is an adult. */
    f = adult_passing();
    f.representative_iin = BAD_CHECK_DIGIT_IIN;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
}
END_TEST

START_TEST(test_birth_date_in_the_future_is_invalid_data)
{
    struct application_facts f = child_passing();
    f.birth_date = f.today + 1;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
    /* Born today is a real date: a newborn. */
    f.birth_date = f.today;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_unknown_settlement_is_invalid_data)
{
    struct application_facts f = adult_passing();
    f.settlement_known = false;
    ck_assert_refusal(&f, REFUSE_INVALID_DATA);
}
END_TEST

/* Check 2: eligibility (§4). */

START_TEST(test_permanent_residents_are_eligible_without_insurance)
{
    static const char *const permanent[] = {"citizen", "resident_foreigner", "stateless"};
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        struct application_facts f = adult_passing();
        f.residency = permanent[i];
        f.has_insurance = false;
        ck_assert_msg(check(&f) == REFUSAL_NONE, "%s is eligible", permanent[i]);
    }
}
END_TEST

START_TEST(test_temporary_foreigner_is_not_eligible)
{
    struct application_facts f = adult_passing();
    f.residency = "temporary_foreigner";
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
    /* Insurance gives a temporary foreigner no right to attach. */
    f.has_insurance = true;
    f.insurance_valid_until = D(2030, 1, 1);
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
}
END_TEST

START_TEST(test_unknown_or_missing_residency_is_not_eligible)
{
    struct application_facts f = adult_passing();
    f.residency = "tourist";
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
    f.residency = "";
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
    f.residency = "Citizen";
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
    f.residency = NULL;
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
}
END_TEST

START_TEST(test_eaeu_migrants_need_insurance_valid_on_the_effective_date)
{
    static const char *const eaeu[] = {"eaeu_migrant", "eaeu_migrant_family"};
    for (size_t i = 0; i < sizeof eaeu / sizeof eaeu[0]; i++) {
        struct application_facts f = adult_passing();
        f.residency = eaeu[i];

        f.has_insurance = false;
        f.insurance_valid_until = D(2030, 1, 1); /* a date without a contract counts for nothing */
        ck_assert_msg(check(&f) == REFUSE_NOT_ELIGIBLE, "%s without insurance", eaeu[i]);

        f.has_insurance = true;
        f.insurance_valid_until = f.effective_on - 1; /* valid today, expired when it begins */
        ck_assert_msg(check(&f) == REFUSE_NOT_ELIGIBLE, "%s insured until the day before", eaeu[i]);

        f.insurance_valid_until = f.effective_on;
        ck_assert_msg(check(&f) == REFUSAL_NONE, "%s insured through the effective date", eaeu[i]);

        f.insurance_valid_until = D(2027, 12, 31);
        ck_assert_msg(check(&f) == REFUSAL_NONE, "%s insured for the year", eaeu[i]);
    }
}
END_TEST

/* Check 3: window. */

START_TEST(test_campaign_application_outside_the_window_is_refused)
{
    struct application_facts f = adult_passing();
    f.in_campaign = false;
    ck_assert_refusal(&f, REFUSE_OUTSIDE_CAMPAIGN);
}
END_TEST

START_TEST(test_relocation_and_clinic_closed_are_accepted_all_year)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_RELOCATION;
    f.in_campaign = false;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

/* Checks 4 to 9. */

START_TEST(test_clinic_not_accepting_is_refused)
{
    struct application_facts f = adult_passing();
    f.clinic_accepting = false;
    ck_assert_refusal(&f, REFUSE_CLINIC_NOT_ACCEPTING);
    f.grounds = GROUNDS_RELOCATION; /* all-year grounds too */
    ck_assert_refusal(&f, REFUSE_CLINIC_NOT_ACCEPTING);
}
END_TEST

START_TEST(test_clinic_of_another_settlement_is_refused)
{
    struct application_facts f = adult_passing();
    f.clinic_serves_settlement = false;
    ck_assert_refusal(&f, REFUSE_OTHER_SETTLEMENT);
}
END_TEST

START_TEST(test_child_without_representative_is_refused)
{
    struct application_facts f = child_passing();
    f.representative_iin = NULL;
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

START_TEST(test_child_without_representative_relation_is_refused)
{
    struct application_facts f = child_passing();
    f.representative_relation = NULL;
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
    f.representative_relation = "";
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

START_TEST(test_child_without_birth_certificate_is_refused)
{
    struct application_facts f = child_passing();
    f.birth_certificate = NULL;
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
    f.birth_certificate = "";
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

START_TEST(test_child_with_no_documents_at_all_is_refused)
{
    struct application_facts f = child_passing();
    f.representative_iin = NULL;
    f.representative_relation = NULL;
    f.birth_certificate = NULL;
    ck_assert_refusal(&f, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

/* Age counts on `today` from the application's birth date: 18 on the birthday itself. */
START_TEST(test_adult_from_the_eighteenth_birthday_needs_no_documents)
{
    char iin[13];
    make_iin(iin, 2008, 11, 23, true);
    struct application_facts f = adult_passing();
    f.iin = iin;
    f.birth_date = D(2008, 11, 23);
    struct check_outcome out = {0};
    run_checks(&f, &out);
    ck_assert_int_eq(out.age, 18);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);

    /* One day younger: still a minor. */
    f.birth_date = D(2008, 11, 24);
    run_checks(&f, &out);
    ck_assert_int_eq(out.age, 17);
    ck_assert_int_eq(out.refusal, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

START_TEST(test_person_already_attached_there_is_refused)
{
    struct application_facts f = adult_passing();
    f.already_attached_there = true;
    ck_assert_refusal(&f, REFUSE_ALREADY_ATTACHED);
    f.grounds = GROUNDS_RELOCATION;
    ck_assert_refusal(&f, REFUSE_ALREADY_ATTACHED);
}
END_TEST

START_TEST(test_change_beyond_max_changes_is_refused)
{
    struct application_facts f = adult_passing();
    f.has_current_attachment = true;
    f.max_changes = 1;
    f.changes_used = 0;
    ck_assert_refusal(&f, REFUSAL_NONE);
    f.changes_used = 1;
    ck_assert_refusal(&f, REFUSE_REPEAT_CHANGE);
    f.changes_used = 2;
    ck_assert_refusal(&f, REFUSE_REPEAT_CHANGE);

    /* "Twice a year". */
    f.max_changes = 2;
    f.changes_used = 1;
    ck_assert_refusal(&f, REFUSAL_NONE);
    f.changes_used = 2;
    ck_assert_refusal(&f, REFUSE_REPEAT_CHANGE);
}
END_TEST

START_TEST(test_first_attachment_never_counts_as_a_change)
{
    struct application_facts f = adult_passing();
    f.has_current_attachment = false;
    f.changes_used = 1;
    f.max_changes = 1;
    ck_assert_refusal(&f, REFUSAL_NONE);
    f.max_changes = 0;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_relocation_and_clinic_closed_do_not_count_as_changes)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_RELOCATION;
    f.has_current_attachment = true;
    f.changes_used = 5;
    f.max_changes = 1;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_no_room_is_capacity_exceeded)
{
    struct application_facts f = adult_passing();
    f.districts = &FULL;
    ck_assert_refusal(&f, REFUSE_CAPACITY_EXCEEDED);
    f = child_passing();
    f.districts = &FULL;
    ck_assert_refusal(&f, REFUSE_CAPACITY_EXCEEDED);
}
END_TEST

/* Order: makes the facts fail check `r` (they pass every other check they passed before). */
static void fail_check(struct application_facts *f, enum refusal r)
{
    switch (r) {
    case REFUSE_INVALID_DATA:
        f->iin = BAD_CHECK_DIGIT_IIN;
        break;
    case REFUSE_NOT_ELIGIBLE:
        f->residency = "temporary_foreigner";
        break;
    case REFUSE_OUTSIDE_CAMPAIGN:
        f->in_campaign = false;
        break;
    case REFUSE_CLINIC_NOT_ACCEPTING:
        f->clinic_accepting = false;
        break;
    case REFUSE_OTHER_SETTLEMENT:
        f->clinic_serves_settlement = false;
        break;
    case REFUSE_CHILD_DOCUMENTS_MISSING:
        f->birth_date = D(2015, 6, 10);
        f->representative_iin = NULL;
        f->representative_relation = NULL;
        f->birth_certificate = NULL;
        break;
    case REFUSE_ALREADY_ATTACHED:
        f->already_attached_there = true;
        break;
    case REFUSE_GROUNDS_NOT_MET:
        f->grounds = GROUNDS_RELOCATION; /* to the address on record */
        f->record_settlement = f->settlement;
        f->record_address = f->address;
        break;
    case REFUSE_REPEAT_CHANGE:
        f->has_current_attachment = true;
        f->changes_used = f->max_changes;
        break;
    case REFUSE_CAPACITY_EXCEEDED:
        f->districts = &FULL;
        break;
    case REFUSAL_NONE:
        break;
    }
}

START_TEST(test_each_check_fails_alone)
{
    for (int r = REFUSE_INVALID_DATA; r <= REFUSE_CAPACITY_EXCEEDED; r++) {
        struct application_facts f = adult_passing();
        fail_check(&f, (enum refusal)r);
        ck_assert_refusal(&f, (enum refusal)r);
    }
}
END_TEST

/* Failing check r and every later one, r still names the refusal. */
START_TEST(test_first_failing_check_names_the_refusal)
{
    for (int r = REFUSE_INVALID_DATA; r <= REFUSE_CAPACITY_EXCEEDED; r++) {
        struct application_facts f = adult_passing();
        for (int later = r; later <= REFUSE_CAPACITY_EXCEEDED; later++) {
            /* Only campaign grounds can be outside the window, and they need no showing: the
             * two cannot fail together. */
            if (r == REFUSE_OUTSIDE_CAMPAIGN && later == REFUSE_GROUNDS_NOT_MET)
                continue;
            fail_check(&f, (enum refusal)later);
        }
        ck_assert_refusal(&f, (enum refusal)r);
    }
}
END_TEST

/* Pairs in particular: a later failure never hides an earlier one. */
START_TEST(test_earlier_check_wins_over_any_later_one)
{
    for (int first = REFUSE_INVALID_DATA; first <= REFUSE_CAPACITY_EXCEEDED; first++)
        for (int second = first + 1; second <= REFUSE_CAPACITY_EXCEEDED; second++) {
            if (first == REFUSE_OUTSIDE_CAMPAIGN && second == REFUSE_GROUNDS_NOT_MET)
                continue; /* cannot fail together (see above) */
            struct application_facts f = adult_passing();
            fail_check(&f, (enum refusal)second);
            fail_check(&f, (enum refusal)first);
            ck_assert_msg(check(&f) == (enum refusal)first, "%s and %s: got %s",
                          refusal_code((enum refusal)first), refusal_code((enum refusal)second),
                          refusal_code(check(&f)) ? refusal_code(check(&f)) : "none");
        }
}
END_TEST

START_TEST(test_not_eligible_comes_before_other_settlement)
{
    struct application_facts f = adult_passing();
    f.residency = "temporary_foreigner";
    f.clinic_serves_settlement = false;
    ck_assert_refusal(&f, REFUSE_NOT_ELIGIBLE);
}
END_TEST

/* Warnings (§4): since 2013 an IIN need not encode its holder's birth date and sex. */

START_TEST(test_iin_warnings_flag_birth_date_and_sex_mismatches)
{
    ck_assert_uint_eq(iin_warnings(ADULT_IIN, D(1990, 1, 1), true), 0);
    ck_assert_uint_eq(iin_warnings(ADULT_IIN, D(1990, 1, 2), true), WARN_IIN_BIRTH_DATE_MISMATCH);
    ck_assert_uint_eq(iin_warnings(ADULT_IIN, D(1890, 1, 1), true), WARN_IIN_BIRTH_DATE_MISMATCH);
    ck_assert_uint_eq(iin_warnings(ADULT_IIN, D(1990, 1, 1), false), WARN_IIN_SEX_MISMATCH);
    ck_assert_uint_eq(iin_warnings(ADULT_IIN, D(1991, 1, 1), false),
                      WARN_IIN_BIRTH_DATE_MISMATCH | WARN_IIN_SEX_MISMATCH);
    ck_assert_uint_eq(iin_warnings(MOTHER_IIN, D(1985, 7, 15), false), 0);
    ck_assert_uint_eq(iin_warnings(MOTHER_IIN, D(1985, 7, 15), true), WARN_IIN_SEX_MISMATCH);
    ck_assert_uint_eq(iin_warnings(child_iin, D(2015, 6, 10), false), 0);
    ck_assert_uint_eq(iin_warnings(child_iin, D(1915, 6, 10), false), WARN_IIN_BIRTH_DATE_MISMATCH);
}
END_TEST

START_TEST(test_iin_mismatches_are_warnings_never_refusals)
{
    struct application_facts f = adult_passing();
    f.birth_date = D(1991, 3, 4);
    f.male = false;
    struct check_outcome out = {0};
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert_uint_eq(out.warnings, WARN_IIN_BIRTH_DATE_MISMATCH | WARN_IIN_SEX_MISMATCH);
    ck_assert_int_eq(out.age, 35); /* from birth_date, not from the IIN */

    f = adult_passing();
    f.male = false;
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert_uint_eq(out.warnings, WARN_IIN_SEX_MISMATCH);
}
END_TEST

/* An adult by the IIN (1990) but a child by the application: the application's date rules. */
START_TEST(test_age_comes_from_birth_date_not_from_the_iin)
{
    struct application_facts f = adult_passing();
    f.birth_date = D(2015, 6, 10);
    struct check_outcome out = {0};
    run_checks(&f, &out);
    ck_assert_int_eq(out.age, 11);
    ck_assert_int_eq(out.refusal, REFUSE_CHILD_DOCUMENTS_MISSING);
    ck_assert_uint_eq(out.warnings, WARN_IIN_BIRTH_DATE_MISMATCH);
}
END_TEST

START_TEST(test_refusal_codes_name_the_catalogue_entries)
{
    ck_assert_ptr_null(refusal_code(REFUSAL_NONE));
    ck_assert_str_eq(refusal_code(REFUSE_INVALID_DATA), "INVALID_DATA");
    ck_assert_str_eq(refusal_code(REFUSE_NOT_ELIGIBLE), "NOT_ELIGIBLE");
    ck_assert_str_eq(refusal_code(REFUSE_OUTSIDE_CAMPAIGN), "OUTSIDE_CAMPAIGN");
    ck_assert_str_eq(refusal_code(REFUSE_CLINIC_NOT_ACCEPTING), "CLINIC_NOT_ACCEPTING");
    ck_assert_str_eq(refusal_code(REFUSE_OTHER_SETTLEMENT), "OTHER_SETTLEMENT");
    ck_assert_str_eq(refusal_code(REFUSE_CHILD_DOCUMENTS_MISSING), "CHILD_DOCUMENTS_MISSING");
    ck_assert_str_eq(refusal_code(REFUSE_ALREADY_ATTACHED), "ALREADY_ATTACHED");
    ck_assert_str_eq(refusal_code(REFUSE_GROUNDS_NOT_MET), "GROUNDS_NOT_MET");
    ck_assert_str_eq(refusal_code(REFUSE_REPEAT_CHANGE), "REPEAT_CHANGE");
    ck_assert_str_eq(refusal_code(REFUSE_CAPACITY_EXCEEDED), "CAPACITY_EXCEEDED");
    ck_assert_ptr_null(refusal_code((enum refusal)(REFUSE_CAPACITY_EXCEEDED + 1)));
    ck_assert_ptr_null(refusal_code((enum refusal) - 1));
}
END_TEST

START_TEST(test_helper_makes_valid_iins_encoding_the_date)
{
    struct iin_facts facts = {0};
    ck_assert(iin_valid(child_iin));
    ck_assert(iin_facts(child_iin, &facts));
    ck_assert_int_eq(facts.year, 2015);
    ck_assert_int_eq(facts.month, 6);
    ck_assert_int_eq(facts.day, 10);
    ck_assert(!facts.male);
    /* The check digit agrees with the vectors of test_kzid.c. */
    char iin[13] = "90010130001";
    ck_assert(complete_iin(iin));
    ck_assert_str_eq(iin, ADULT_IIN);
    strcpy(iin, "90010130081");
    ck_assert(complete_iin(iin));
    ck_assert_str_eq(iin, "900101300811");
    strcpy(iin, "90010130080");
    ck_assert(!complete_iin(iin));
}
END_TEST

START_TEST(test_effective_date)
{
    day_t today = D(2026, 11, 23), campaign = D(2027, 1, 1), past = D(2026, 11, 1);
    /* campaign grounds: the campaign's day, never before tomorrow */
    ck_assert_int_eq(effective_date(true, &campaign, today), campaign);
    ck_assert_int_eq(effective_date(true, &past, today), today + 1);
    ck_assert_int_eq(effective_date(true, NULL, today), today + 1);
    /* relocation and clinic_closed: tomorrow, whatever the campaign says */
    ck_assert_int_eq(effective_date(false, &campaign, today), today + 1);
    ck_assert_int_eq(effective_date(false, NULL, today), today + 1);
}
END_TEST

/* Check 8 (§11): grounds outside the campaign must be shown. */

START_TEST(test_relocation_to_the_address_on_record_is_grounds_not_met)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_RELOCATION;
    f.has_current_attachment = true;
    f.record_settlement = "751110000";
    f.record_address = "көш. Абай, 10, пәтер 5";
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    /* written differently, the same place */
    f.record_address = "  КӨШ. Абай 10,  пәтер 5.";
    f.address = "көш. Абай, 10, пәтер 5";
    ck_assert(!same_address("көш. Абай, 10, пәтер 5", "көш. Абай, 10, пәтер 6"));
    ck_assert(same_address("КӨШ. ҚОНАЕВ ҰЛЫ ІЗ Ғ Ң Ү Һ Ә Ө", "көш қонаев ұлы із ғ ң ү һ ә ө"));
    ck_assert(same_address("Abay St., 10", "abay st 10"));
    ck_assert(!same_address("Абай 10", "Абай 101"));
    ck_assert(!same_address("Абай 10", "Абай 10 5"));
    ck_assert(!same_address("Абай", "Абай1"));
    ck_assert(same_address("", " ,. "));
    ck_assert(same_address(NULL, ""));
    f.record_address = "көш. Абай 10, пәтер 5";
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    /* another address in the same settlement, or another settlement: shown */
    f.address = "көш. Абай, 12, пәтер 5";
    ck_assert_refusal(&f, REFUSAL_NONE);
    f.address = f.record_address;
    f.settlement = "751110001";
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_relocation_without_an_address_is_grounds_not_met_when_one_is_on_record)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_RELOCATION;
    f.has_current_attachment = true;
    f.record_settlement = "751110000";
    f.record_address = "көш. Абай, 10, пәтер 5";
    f.address = NULL;
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    f.address = " , ";
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    f.settlement = "751110001"; /* another settlement named, still no address */
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    f.record_settlement = NULL; /* nothing on record: nothing compared */
    f.record_address = NULL;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_relocation_with_nothing_on_record_compares_nothing)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_RELOCATION;
    f.has_current_attachment = true; /* e.g. imported: no application on record */
    f.record_settlement = NULL;
    f.record_address = NULL;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_clinic_closed_only_when_the_current_polyclinic_no_longer_takes_part)
{
    struct application_facts f = adult_passing();
    f.grounds = GROUNDS_CLINIC_CLOSED;
    f.has_current_attachment = false;
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET); /* no current polyclinic */
    f.has_current_attachment = true;
    f.current_clinic_takes_part = true;
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
    f.current_clinic_takes_part = false;
    ck_assert_refusal(&f, REFUSAL_NONE);
}
END_TEST

START_TEST(test_grounds_not_met_comes_after_already_attached_and_before_repeat_change)
{
    struct application_facts f = adult_passing();
    fail_check(&f, REFUSE_GROUNDS_NOT_MET);
    f.already_attached_there = true;
    ck_assert_refusal(&f, REFUSE_ALREADY_ATTACHED);
    f.already_attached_there = false;
    f.changes_used = 9;
    f.has_current_attachment = true;
    ck_assert_refusal(&f, REFUSE_GROUNDS_NOT_MET);
}
END_TEST

/* auto_approve (§3, §4, §11). */

START_TEST(test_auto_approve_only_for_clean_applications_that_are_not_relocations)
{
    struct application_facts f = adult_passing();
    struct check_outcome out;
    f.auto_approve = true;
    run_checks(&f, &out);
    ck_assert(out.approve_now);
    f.grounds = GROUNDS_RELOCATION;
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert(!out.approve_now); /* a registrar compares the address on record */
    f.grounds = GROUNDS_CAMPAIGN;
    f.male = false; /* a warning */
    run_checks(&f, &out);
    ck_assert(!out.approve_now);
    f = adult_passing();
    f.auto_approve = false;
    run_checks(&f, &out);
    ck_assert(!out.approve_now);
    f.auto_approve = true;
    f.districts = &FULL;
    run_checks(&f, &out);
    ck_assert(!out.approve_now);
}
END_TEST

/* §4: a 7th digit outside 1..6 encodes no century: a warning, never a refusal. */
START_TEST(test_iin_century_unknown_is_a_warning_never_a_refusal)
{
    char iin[13];
    for (char c = '0'; c <= '9'; c++) {
        bool found = false;
        for (int serial = 0; serial < 10000 && !found; serial++) {
            snprintf(iin, sizeof iin, "900101%c%04d", c, serial);
            found = complete_iin(iin);
        }
        ck_assert(found);
        unsigned w = iin_warnings(iin, D(1990, 1, 1), true);
        if (c >= '1' && c <= '6')
            ck_assert_uint_ne(w & WARN_IIN_CENTURY_UNKNOWN, WARN_IIN_CENTURY_UNKNOWN);
        else
            ck_assert_uint_eq(w, WARN_IIN_CENTURY_UNKNOWN);
    }
    struct application_facts f = adult_passing();
    bool made = false;
    for (int serial = 0; serial < 10000 && !made; serial++) {
        snprintf(iin, sizeof iin, "9001017%04d", serial);
        made = complete_iin(iin);
    }
    ck_assert(made);
    f.iin = iin;
    f.auto_approve = true;
    struct check_outcome out;
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
    ck_assert_uint_eq(out.warnings, WARN_IIN_CENTURY_UNKNOWN);
    ck_assert(!out.approve_now);
    ck_assert_str_eq(warning_code(WARN_IIN_CENTURY_UNKNOWN), "IIN_CENTURY_UNKNOWN");
    ck_assert_ptr_null(warning_code(8));
}
END_TEST

/* §3: the district kind by the age on the effective date, a representative by the age on the
 * day of submission. */
START_TEST(test_district_kind_is_judged_by_the_age_on_the_effective_date)
{
    static const struct district_option pediatric_0_6 = {.id = 3,
                                                         .number = "3",
                                                         .min_age = 0,
                                                         .max_age = 6,
                                                         .capacity = 10,
                                                         .load = 0,
                                                         .open = true};
    struct application_facts f = child_passing();
    f.birth_date = D(2020, 1, 1); /* 6 on submission, 7 on the effective date 2027-01-01 */
    f.districts = &pediatric_0_6;
    struct check_outcome out;
    run_checks(&f, &out);
    ck_assert_int_eq(out.age, 6);
    ck_assert_int_eq(out.placement_age, 7);
    ck_assert_int_eq(out.refusal, REFUSE_CAPACITY_EXCEEDED);
    f.birth_date = D(2020, 1, 2); /* still 6 on 2027-01-01 */
    run_checks(&f, &out);
    ck_assert_int_eq(out.refusal, REFUSAL_NONE);
}
END_TEST

START_TEST(test_representative_is_judged_by_the_age_on_the_day_of_submission)
{
    struct application_facts f = adult_passing();
    f.birth_date = D(2009, 1, 1); /* 17 on 2026-11-23, 18 on the effective date */
    struct check_outcome out;
    run_checks(&f, &out);
    ck_assert_int_eq(out.placement_age, 18);
    ck_assert_int_eq(out.refusal, REFUSE_CHILD_DOCUMENTS_MISSING);
}
END_TEST

/* §11: approval re-checks the polyclinic, then the district. */
START_TEST(test_approval_rechecks_the_polyclinic_then_the_districts)
{
    struct district_option ds[2] = {FULL, ROOMY};
    long pick = 7;
    ck_assert_int_eq(approval_check(true, false, ds, 2, 30, 0, NULL, 0, &pick),
                     REFUSE_CLINIC_NOT_ACCEPTING);
    ck_assert_int_eq(pick, -1);
    ck_assert_int_eq(approval_check(true, true, ds, 2, 30, FULL.id, NULL, 0, &pick), REFUSAL_NONE);
    ck_assert_int_eq(pick, 1);
    ds[1].open = false;
    ck_assert_int_eq(approval_check(true, true, ds, 2, 30, 0, NULL, 0, &pick),
                     REFUSE_CAPACITY_EXCEEDED);
    ck_assert_int_eq(pick, -1);
}
END_TEST

/* §4 at approval: the person may attach on the effective date, judged before the polyclinic. */
START_TEST(test_approval_rechecks_that_the_person_may_attach_first)
{
    struct district_option ds[2] = {FULL, ROOMY};
    long pick = 7;
    ck_assert_int_eq(approval_check(false, false, ds, 2, 30, 0, NULL, 0, &pick),
                     REFUSE_NOT_ELIGIBLE);
    ck_assert_int_eq(pick, -1);
}
END_TEST

/* §4: EAEU migrants only with insurance valid on the effective date (its last day included). */
START_TEST(test_may_attach_eaeu_only_while_insured_on_the_effective_date)
{
    day_t on = D(2026, 11, 1);
    ck_assert(may_attach("citizen", false, 0, on));
    ck_assert(may_attach("stateless", false, 0, on));
    ck_assert(!may_attach("temporary_foreigner", true, D(2030, 1, 1), on));
    ck_assert(!may_attach("eaeu_migrant", false, 0, on));
    ck_assert(may_attach("eaeu_migrant", true, on, on));
    ck_assert(!may_attach("eaeu_migrant_family", true, on - 1, on));
    ck_assert(may_attach("eaeu_migrant_family", true, on + 30, on));
}
END_TEST

START_TEST(test_registrar_refuses_only_with_official_reasons_and_already_attached)
{
    const char *yes[] = {"INVALID_DATA", "OTHER_SETTLEMENT", "CAPACITY_EXCEEDED",
                         "CHILD_DOCUMENTS_MISSING", "ALREADY_ATTACHED"};
    const char *no[] = {"NOT_ELIGIBLE",    "OUTSIDE_CAMPAIGN", "CLINIC_NOT_ACCEPTING",
                        "GROUNDS_NOT_MET", "REPEAT_CHANGE",    "",
                        "invalid_data"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        ck_assert_msg(registrar_may_refuse_with(yes[i]), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        ck_assert_msg(!registrar_may_refuse_with(no[i]), "%s", no[i]);
    ck_assert(!registrar_may_refuse_with(NULL));
}
END_TEST

START_TEST(test_grounds_parse)
{
    enum grounds g;
    ck_assert(grounds_parse("campaign", &g) && g == GROUNDS_CAMPAIGN);
    ck_assert(grounds_parse("relocation", &g) && g == GROUNDS_RELOCATION);
    ck_assert(grounds_parse("clinic_closed", &g) && g == GROUNDS_CLINIC_CLOSED);
    ck_assert(!grounds_parse("age_out", &g));
    ck_assert(!grounds_parse(NULL, &g));
}
END_TEST

static Suite *checks_suite(void)
{
    Suite *s = suite_create("checks");
    TCase *tc = tcase_create("checks");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_helper_makes_valid_iins_encoding_the_date);
    tcase_add_test(tc, test_effective_date);
    tcase_add_test(tc, test_passing_adult_is_not_refused);
    tcase_add_test(tc, test_passing_child_with_documents_is_not_refused);
    tcase_add_test(tc, test_iin_with_wrong_check_digit_is_invalid_data);
    tcase_add_test(tc, test_representative_iin_with_wrong_check_digit_is_invalid_data);
    tcase_add_test(tc, test_birth_date_in_the_future_is_invalid_data);
    tcase_add_test(tc, test_unknown_settlement_is_invalid_data);
    tcase_add_test(tc, test_permanent_residents_are_eligible_without_insurance);
    tcase_add_test(tc, test_temporary_foreigner_is_not_eligible);
    tcase_add_test(tc, test_unknown_or_missing_residency_is_not_eligible);
    tcase_add_test(tc, test_eaeu_migrants_need_insurance_valid_on_the_effective_date);
    tcase_add_test(tc, test_campaign_application_outside_the_window_is_refused);
    tcase_add_test(tc, test_relocation_and_clinic_closed_are_accepted_all_year);
    tcase_add_test(tc, test_clinic_not_accepting_is_refused);
    tcase_add_test(tc, test_clinic_of_another_settlement_is_refused);
    tcase_add_test(tc, test_child_without_representative_is_refused);
    tcase_add_test(tc, test_child_without_representative_relation_is_refused);
    tcase_add_test(tc, test_child_without_birth_certificate_is_refused);
    tcase_add_test(tc, test_child_with_no_documents_at_all_is_refused);
    tcase_add_test(tc, test_adult_from_the_eighteenth_birthday_needs_no_documents);
    tcase_add_test(tc, test_person_already_attached_there_is_refused);
    tcase_add_test(tc, test_change_beyond_max_changes_is_refused);
    tcase_add_test(tc, test_first_attachment_never_counts_as_a_change);
    tcase_add_test(tc, test_relocation_and_clinic_closed_do_not_count_as_changes);
    tcase_add_test(tc, test_no_room_is_capacity_exceeded);
    tcase_add_test(tc, test_each_check_fails_alone);
    tcase_add_test(tc, test_first_failing_check_names_the_refusal);
    tcase_add_test(tc, test_earlier_check_wins_over_any_later_one);
    tcase_add_test(tc, test_not_eligible_comes_before_other_settlement);
    tcase_add_test(tc, test_iin_warnings_flag_birth_date_and_sex_mismatches);
    tcase_add_test(tc, test_iin_mismatches_are_warnings_never_refusals);
    tcase_add_test(tc, test_age_comes_from_birth_date_not_from_the_iin);
    tcase_add_test(tc, test_refusal_codes_name_the_catalogue_entries);
    tcase_add_test(tc, test_relocation_to_the_address_on_record_is_grounds_not_met);
    tcase_add_test(tc, test_relocation_without_an_address_is_grounds_not_met_when_one_is_on_record);
    tcase_add_test(tc, test_relocation_with_nothing_on_record_compares_nothing);
    tcase_add_test(tc, test_clinic_closed_only_when_the_current_polyclinic_no_longer_takes_part);
    tcase_add_test(tc, test_grounds_not_met_comes_after_already_attached_and_before_repeat_change);
    tcase_add_test(tc, test_auto_approve_only_for_clean_applications_that_are_not_relocations);
    tcase_add_test(tc, test_iin_century_unknown_is_a_warning_never_a_refusal);
    tcase_add_test(tc, test_district_kind_is_judged_by_the_age_on_the_effective_date);
    tcase_add_test(tc, test_representative_is_judged_by_the_age_on_the_day_of_submission);
    tcase_add_test(tc, test_approval_rechecks_the_polyclinic_then_the_districts);
    tcase_add_test(tc, test_approval_rechecks_that_the_person_may_attach_first);
    tcase_add_test(tc, test_may_attach_eaeu_only_while_insured_on_the_effective_date);
    tcase_add_test(tc, test_registrar_refuses_only_with_official_reasons_and_already_attached);
    tcase_add_test(tc, test_grounds_parse);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(checks_suite());
}
