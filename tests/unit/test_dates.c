/* Calendar arithmetic: day numbers and back (leap years of the Gregorian calendar), strict
 * YYYY-MM-DD parsing and formatting, ISO weekdays, and whole years of age. */
#include <string.h>
#include "attachd/dates.h"
#include "unit.h"

/* An independent statement of the Gregorian rule, to check the arithmetic against. */
static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int days_in_month(int year, int month)
{
    static const int ndays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29 : ndays[month - 1];
}

static void assert_civil(day_t d, int year, int month, int day)
{
    int y = 0, m = 0, dd = 0;
    civil_from_days(d, &y, &m, &dd);
    ck_assert_msg(y == year && m == month && dd == day,
                  "day %ld: got %04d-%02d-%02d, want %04d-%02d-%02d", d, y, m, dd, year, month,
                  day);
}

START_TEST(test_epoch_is_day_zero)
{
    ck_assert_int_eq(days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(days_from_civil(1970, 1, 2), 1);
    ck_assert_int_eq(days_from_civil(1969, 12, 31), -1);
    assert_civil(0, 1970, 1, 1);
    assert_civil(-1, 1969, 12, 31);
}
END_TEST

/* Day numbers computed independently (Python's datetime). */
START_TEST(test_known_day_numbers)
{
    static const struct {
        int year, month, day;
        day_t days;
    } cases[] = {
        {1900, 1, 1, -25567}, {1900, 3, 1, -25508},  {2000, 2, 29, 11016}, {2100, 2, 28, 47540},
        {2100, 3, 1, 47541},  {2026, 11, 23, 20780}, {1, 1, 1, -719162},   {9999, 12, 31, 2932896},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(days_from_civil(cases[i].year, cases[i].month, cases[i].day),
                         cases[i].days);
        assert_civil(cases[i].days, cases[i].year, cases[i].month, cases[i].day);
    }
}
END_TEST

/* Walks every date from 1600 to 2400 with the independent month lengths: each date is one day
 * after the previous, and converts back to itself. (Plain comparisons in the loop: a Check
 * assertion per day makes the walk take seconds.) */
START_TEST(test_every_date_from_1600_to_2400_round_trips)
{
    day_t expected = days_from_civil(1600, 1, 1);
    for (int y = 1600; y <= 2400; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= days_in_month(y, m); d++) {
                day_t got = days_from_civil(y, m, d);
                int by = 0, bm = 0, bd = 0;
                civil_from_days(got, &by, &bm, &bd);
                if (got != expected || by != y || bm != m || bd != d)
                    ck_abort_msg("%04d-%02d-%02d is day %ld (want %ld), back %04d-%02d-%02d", y, m,
                                 d, got, expected, by, bm, bd);
                expected++;
            }
    ck_assert_int_eq(expected, days_from_civil(2401, 1, 1));
}
END_TEST

START_TEST(test_century_years_are_leap_only_when_divisible_by_400)
{
    /* 1900 and 2100: 28 February is followed by 1 March. */
    assert_civil(days_from_civil(1900, 2, 28) + 1, 1900, 3, 1);
    assert_civil(days_from_civil(2100, 2, 28) + 1, 2100, 3, 1);
    /* 2000: 29 February exists. */
    assert_civil(days_from_civil(2000, 2, 28) + 1, 2000, 2, 29);
    assert_civil(days_from_civil(2000, 2, 29) + 1, 2000, 3, 1);
    ck_assert_int_eq(days_from_civil(2001, 1, 1) - days_from_civil(2000, 1, 1), 366);
    ck_assert_int_eq(days_from_civil(2101, 1, 1) - days_from_civil(2100, 1, 1), 365);
    ck_assert_int_eq(days_from_civil(1901, 1, 1) - days_from_civil(1900, 1, 1), 365);
}
END_TEST

START_TEST(test_date_parse_reads_real_dates)
{
    static const struct {
        const char *text;
        int year, month, day;
    } cases[] = {
        {"1970-01-01", 1970, 1, 1}, {"2024-02-29", 2024, 2, 29},  {"2000-02-29", 2000, 2, 29},
        {"1900-03-01", 1900, 3, 1}, {"2026-12-31", 2026, 12, 31}, {"2024-04-30", 2024, 4, 30},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        day_t d = -999999;
        ck_assert_msg(date_parse(cases[i].text, &d), "%s must parse", cases[i].text);
        ck_assert_int_eq(d, days_from_civil(cases[i].year, cases[i].month, cases[i].day));
    }
}
END_TEST

START_TEST(test_date_parse_rejects_impossible_and_malformed_dates)
{
    static const char *const bad[] = {
        "2023-02-29",  /* common year */
        "2100-02-29",  /* century, not divisible by 400 */
        "1900-02-29",  /* ditto */
        "2024-02-30",  /* not even in a leap year */
        "2024-04-31",  /* April has 30 days */
        "2024-13-01",  /* month 13 */
        "2024-00-10",  /* month 0 */
        "2024-01-00",  /* day 0 */
        "2024-01-32",  /* day 32 */
        "2024-1-01",   /* unpadded month */
        "2024-01-1",   /* unpadded day */
        "24-01-01",    /* two-digit year */
        "2024-01-01x", /* trailing junk */
        "2024-01-01 ", /* trailing space */
        " 2024-01-01", /* leading space */
        "2024-01-01T00:00:00",
        "2024/01/01",
        "2024-01-0a",
        "+024-01-01",
        "-024-01-01",
        "2024--1-01",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        day_t d = 12345;
        ck_assert_msg(!date_parse(bad[i], &d), "\"%s\" must be refused", bad[i]);
        ck_assert_msg(d == 12345, "\"%s\": output written on failure", bad[i]);
    }
    day_t d = 12345;
    ck_assert(!date_parse(NULL, &d));
    ck_assert_int_eq(d, 12345);
}
END_TEST

START_TEST(test_date_format_writes_zero_padded_iso_dates)
{
    char buf[16];
    memset(buf, '#', sizeof buf);
    date_format(0, buf);
    ck_assert_str_eq(buf, "1970-01-01");
    ck_assert_int_eq(buf[11], '#'); /* nothing past buf[10] */

    date_format(days_from_civil(2026, 11, 23), buf);
    ck_assert_str_eq(buf, "2026-11-23");
    date_format(days_from_civil(2024, 2, 29), buf);
    ck_assert_str_eq(buf, "2024-02-29");
    date_format(days_from_civil(1900, 3, 1), buf);
    ck_assert_str_eq(buf, "1900-03-01");
    date_format(days_from_civil(999, 12, 31), buf);
    ck_assert_str_eq(buf, "0999-12-31");
    date_format(-1, buf);
    ck_assert_str_eq(buf, "1969-12-31");
}
END_TEST

START_TEST(test_date_format_and_parse_are_inverse)
{
    for (day_t d = days_from_civil(1899, 1, 1); d <= days_from_civil(2101, 12, 31); d++) {
        char buf[11];
        date_format(d, buf);
        day_t back = 0;
        if (!date_parse(buf, &back) || back != d)
            ck_abort_msg("day %ld formats as %s, which parses to %ld", d, buf, back);
    }
}
END_TEST

START_TEST(test_iso_weekday_of_known_dates)
{
    ck_assert_int_eq(iso_weekday(days_from_civil(2026, 11, 23)), 1); /* Monday */
    ck_assert_int_eq(iso_weekday(days_from_civil(1970, 1, 1)), 4);   /* Thursday */
    ck_assert_int_eq(iso_weekday(days_from_civil(2024, 2, 29)), 4);  /* Thursday */
    ck_assert_int_eq(iso_weekday(days_from_civil(2100, 2, 28)), 7);  /* Sunday */
    ck_assert_int_eq(iso_weekday(days_from_civil(1969, 12, 28)), 7); /* Sunday, before 1970 */
    ck_assert_int_eq(iso_weekday(days_from_civil(1900, 1, 1)), 1);   /* Monday */
    ck_assert_int_eq(iso_weekday(days_from_civil(2000, 2, 29)), 2);  /* Tuesday */
}
END_TEST

START_TEST(test_iso_weekday_counts_monday_to_sunday)
{
    day_t monday = days_from_civil(2026, 11, 23);
    for (int i = -21; i < 21; i++) {
        int want = ((i % 7) + 7) % 7 + 1;
        ck_assert_int_eq(iso_weekday(monday + i), want);
    }
}
END_TEST

START_TEST(test_age_goes_up_on_the_birthday)
{
    day_t birth = days_from_civil(2008, 5, 10);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 5, 9)), 17);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 5, 10)), 18);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 5, 11)), 18);
    ck_assert_int_eq(age_years(birth, days_from_civil(2027, 5, 9)), 18);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 4, 30)), 17);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 6, 1)), 18);
}
END_TEST

START_TEST(test_age_is_zero_from_birth_until_first_birthday)
{
    day_t birth = days_from_civil(2025, 12, 31);
    ck_assert_int_eq(age_years(birth, birth), 0);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 12, 30)), 0);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 12, 31)), 1);
}
END_TEST

START_TEST(test_leap_day_birthday_counts_from_first_of_march_in_common_years)
{
    day_t birth = days_from_civil(2008, 2, 29);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 2, 28)), 17);
    ck_assert_int_eq(age_years(birth, days_from_civil(2026, 3, 1)), 18);
    /* In a leap year the birthday itself exists. */
    ck_assert_int_eq(age_years(birth, days_from_civil(2028, 2, 28)), 19);
    ck_assert_int_eq(age_years(birth, days_from_civil(2028, 2, 29)), 20);
}
END_TEST

START_TEST(test_age_is_negative_when_birth_is_after_on)
{
    day_t on = days_from_civil(2026, 1, 1);
    ck_assert_int_lt(age_years(days_from_civil(2026, 1, 2), on), 0);
    ck_assert_int_lt(age_years(days_from_civil(2027, 1, 1), on), 0);
    ck_assert_int_lt(age_years(days_from_civil(2030, 6, 1), on), 0);
}
END_TEST

START_TEST(test_birthday_at_is_the_first_day_of_the_new_age)
{
    day_t birth = days_from_civil(2019, 5, 20);
    day_t seventh = birthday_at(birth, 7);
    ck_assert_int_eq(seventh, days_from_civil(2026, 5, 20));
    ck_assert_int_eq(age_years(birth, seventh), 7);
    ck_assert_int_eq(age_years(birth, seventh - 1), 6);
}
END_TEST

START_TEST(test_birthday_at_of_a_leap_day_birth_is_first_of_march_in_common_years)
{
    day_t birth = days_from_civil(2016, 2, 29);
    ck_assert_int_eq(birthday_at(birth, 7), days_from_civil(2023, 3, 1));
    ck_assert_int_eq(birthday_at(birth, 8), days_from_civil(2024, 2, 29));
    ck_assert_int_eq(age_years(birth, birthday_at(birth, 7)), 7);
    ck_assert_int_eq(age_years(birth, birthday_at(birth, 7) - 1), 6);
}
END_TEST

START_TEST(test_almaty_day_turns_at_19_utc)
{
    /* 2026-12-01T18:59:59Z is 23:59:59 in Almaty; a second later it is 2 December there */
    time_t t = (time_t)days_from_civil(2026, 12, 1) * 86400 + 18 * 3600 + 59 * 60 + 59;
    ck_assert_int_eq(almaty_day(t), days_from_civil(2026, 12, 1));
    ck_assert_int_eq(almaty_day(t + 1), days_from_civil(2026, 12, 2));
}
END_TEST

static Suite *dates_suite(void)
{
    Suite *s = suite_create("dates");
    TCase *tc = tcase_create("dates");
    tcase_add_test(tc, test_epoch_is_day_zero);
    tcase_add_test(tc, test_known_day_numbers);
    tcase_add_test(tc, test_every_date_from_1600_to_2400_round_trips);
    tcase_add_test(tc, test_century_years_are_leap_only_when_divisible_by_400);
    tcase_add_test(tc, test_date_parse_reads_real_dates);
    tcase_add_test(tc, test_date_parse_rejects_impossible_and_malformed_dates);
    tcase_add_test(tc, test_date_format_writes_zero_padded_iso_dates);
    tcase_add_test(tc, test_date_format_and_parse_are_inverse);
    tcase_add_test(tc, test_iso_weekday_of_known_dates);
    tcase_add_test(tc, test_iso_weekday_counts_monday_to_sunday);
    tcase_add_test(tc, test_age_goes_up_on_the_birthday);
    tcase_add_test(tc, test_age_is_zero_from_birth_until_first_birthday);
    tcase_add_test(tc, test_leap_day_birthday_counts_from_first_of_march_in_common_years);
    tcase_add_test(tc, test_age_is_negative_when_birth_is_after_on);
    tcase_add_test(tc, test_birthday_at_is_the_first_day_of_the_new_age);
    tcase_add_test(tc, test_birthday_at_of_a_leap_day_birth_is_first_of_march_in_common_years);
    tcase_add_test(tc, test_almaty_day_turns_at_19_utc);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(dates_suite());
}
