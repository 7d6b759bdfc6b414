/* Working days: Monday to Friday except public holidays, and the next working day after a
 * submission (SPEC §3: a Friday evening submission is due on Monday). */
#include "attachd/workdays.h"
#include "unit.h"

static day_t D(int year, int month, int day)
{
    return days_from_civil(year, month, day);
}

static void assert_next(day_t from, const day_t *holidays, size_t nholidays, day_t want)
{
    day_t got = next_working_day(from, holidays, nholidays);
    char from_s[11], got_s[11], want_s[11];
    date_format(from, from_s);
    date_format(got, got_s);
    date_format(want, want_s);
    ck_assert_msg(got == want, "after %s: got %s, want %s", from_s, got_s, want_s);
}

START_TEST(test_weekdays_work_and_weekends_do_not)
{
    day_t monday = D(2026, 11, 23);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(is_working_day(monday + i, NULL, 0), "weekday %d works", i + 1);
    ck_assert(!is_working_day(D(2026, 11, 28), NULL, 0)); /* Saturday */
    ck_assert(!is_working_day(D(2026, 11, 29), NULL, 0)); /* Sunday */
}
END_TEST

START_TEST(test_holiday_on_a_weekday_is_not_a_working_day)
{
    const day_t holidays[] = {D(2026, 12, 16), D(2026, 1, 1)};
    ck_assert(!is_working_day(D(2026, 12, 16), holidays, 2)); /* Wednesday, Independence Day */
    ck_assert(is_working_day(D(2026, 12, 15), holidays, 2));
    ck_assert(is_working_day(D(2026, 12, 17), holidays, 2));
    ck_assert(!is_working_day(D(2026, 1, 1), holidays, 2)); /* second in the list */
}
END_TEST

START_TEST(test_next_working_day_after_a_weekday_is_the_next_weekday)
{
    ck_assert_int_eq(next_working_day(D(2026, 11, 23), NULL, 0), D(2026, 11, 24));
    ck_assert_int_eq(next_working_day(D(2026, 11, 26), NULL, 0), D(2026, 11, 27));
}
END_TEST

START_TEST(test_friday_is_followed_by_monday)
{
    assert_next(D(2026, 11, 27), NULL, 0, D(2026, 11, 30)); /* Friday */
    assert_next(D(2026, 11, 28), NULL, 0, D(2026, 11, 30)); /* Saturday */
    assert_next(D(2026, 11, 29), NULL, 0, D(2026, 11, 30)); /* Sunday */
}
END_TEST

/* 9 May 2026 is a Saturday; the day off moves to Monday 11 May. */
START_TEST(test_friday_before_a_monday_holiday_is_followed_by_tuesday)
{
    const day_t holidays[] = {D(2026, 5, 11)};
    assert_next(D(2026, 5, 8), holidays, 1, D(2026, 5, 12));
}
END_TEST

START_TEST(test_holiday_list_need_not_be_ordered)
{
    const day_t holidays[] = {D(2026, 12, 31), D(2026, 5, 11), D(2026, 1, 1), D(2026, 5, 12),
                              D(2026, 3, 8)};
    assert_next(D(2026, 5, 8), holidays, 5, D(2026, 5, 13));
}
END_TEST

/* Nauryz: 21 March 2026 is a Saturday, 22 a Sunday, 23 a Monday. */
START_TEST(test_run_of_holidays_over_a_weekend_is_skipped_whole)
{
    const day_t nauryz[] = {D(2026, 3, 23), D(2026, 3, 21), D(2026, 3, 22)};
    assert_next(D(2026, 3, 20), nauryz, 3, D(2026, 3, 24));
    assert_next(D(2026, 3, 21), nauryz, 3, D(2026, 3, 24));
    assert_next(D(2026, 3, 23), nauryz, 3, D(2026, 3, 24));

    /* With the transferred days off (24 and 25 March) the next working day is Thursday. */
    const day_t with_transfers[] = {D(2026, 3, 25), D(2026, 3, 22), D(2026, 3, 24), D(2026, 3, 21),
                                    D(2026, 3, 23)};
    assert_next(D(2026, 3, 20), with_transfers, 5, D(2026, 3, 26));
}
END_TEST

START_TEST(test_holidays_running_into_the_next_year_are_skipped)
{
    /* Thursday 31 December 2026; 1 and 2 January 2027 are holidays, then a weekend. */
    const day_t holidays[] = {D(2027, 1, 2), D(2027, 1, 1)};
    assert_next(D(2026, 12, 31), holidays, 2, D(2027, 1, 4));
}
END_TEST

START_TEST(test_next_working_day_is_strictly_after_a_holiday)
{
    const day_t holidays[] = {D(2026, 12, 16)};
    assert_next(D(2026, 12, 15), holidays, 1, D(2026, 12, 17));
    assert_next(D(2026, 12, 16), holidays, 1, D(2026, 12, 17));
}
END_TEST

START_TEST(test_holiday_on_a_weekend_changes_nothing)
{
    const day_t holidays[] = {D(2026, 11, 28)};
    assert_next(D(2026, 11, 27), holidays, 1, D(2026, 11, 30));
}
END_TEST

START_TEST(test_next_working_day_is_always_a_working_day)
{
    const day_t holidays[] = {D(2026, 3, 8),  D(2026, 3, 9),  D(2026, 3, 21), D(2026, 3, 22),
                              D(2026, 3, 23), D(2026, 3, 24), D(2026, 3, 25)};
    size_t n = sizeof holidays / sizeof holidays[0];
    for (day_t d = D(2026, 3, 1); d <= D(2026, 3, 31); d++) {
        day_t next = next_working_day(d, holidays, n);
        ck_assert_int_gt(next, d);
        ck_assert(is_working_day(next, holidays, n));
        for (day_t between = d + 1; between < next; between++)
            ck_assert(!is_working_day(between, holidays, n));
    }
}
END_TEST

static Suite *workdays_suite(void)
{
    Suite *s = suite_create("workdays");
    TCase *tc = tcase_create("workdays");
    tcase_add_test(tc, test_weekdays_work_and_weekends_do_not);
    tcase_add_test(tc, test_holiday_on_a_weekday_is_not_a_working_day);
    tcase_add_test(tc, test_next_working_day_after_a_weekday_is_the_next_weekday);
    tcase_add_test(tc, test_friday_is_followed_by_monday);
    tcase_add_test(tc, test_friday_before_a_monday_holiday_is_followed_by_tuesday);
    tcase_add_test(tc, test_holiday_list_need_not_be_ordered);
    tcase_add_test(tc, test_run_of_holidays_over_a_weekend_is_skipped_whole);
    tcase_add_test(tc, test_holidays_running_into_the_next_year_are_skipped);
    tcase_add_test(tc, test_next_working_day_is_strictly_after_a_holiday);
    tcase_add_test(tc, test_holiday_on_a_weekend_changes_nothing);
    tcase_add_test(tc, test_next_working_day_is_always_a_working_day);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(workdays_suite());
}
