/* IIN/BIN check digits, the IIN/BIN split on the 5th digit, KATO shape, and what an IIN
 * encodes (birth date, century and sex from the 7th digit). */
#include <stdio.h>
#include "attachd/kzid.h"
#include "unit.h"

START_TEST(test_known_valid_iins_are_valid)
{
    static const char *const iins[] = {"900101300017", "850715401236", "050315600010",
                                       "200510500017", "801217200013"};
    for (size_t i = 0; i < sizeof iins / sizeof iins[0]; i++) {
        ck_assert_msg(kz_checksum_ok(iins[i]), "checksum of %s", iins[i]);
        ck_assert_msg(iin_valid(iins[i]), "%s is a valid IIN", iins[i]);
    }
}
END_TEST

START_TEST(test_iin_with_wrong_check_digit_is_invalid)
{
    ck_assert(!kz_checksum_ok("900101300018"));
    ck_assert(!iin_valid("900101300018"));
}
END_TEST

/* 9*1+0*2+0*3+1*4+0*5+1*6+3*7+0*8+0*9+8*10+1*11 = 131, 131 % 11 = 10: the second weights
 * (3..11, 1, 2) give 1. */
START_TEST(test_iin_needing_second_weights_is_valid)
{
    ck_assert(iin_valid("900101300811"));
    ck_assert(!iin_valid("900101300810"));
}
END_TEST

/* Both weightings give 10 for this prefix: such numbers are never issued. */
START_TEST(test_iin_prefix_with_two_remainders_of_ten_is_never_valid)
{
    char iin[13] = "90010130080?";
    for (char last = '0'; last <= '9'; last++) {
        iin[11] = last;
        ck_assert_msg(!kz_checksum_ok(iin), "%s must not pass", iin);
        ck_assert_msg(!iin_valid(iin), "%s must not be an IIN", iin);
    }
}
END_TEST

START_TEST(test_known_valid_bins_are_valid)
{
    static const char *const bins[] = {"150540000007", "150540000017", "150540000801"};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
        ck_assert_msg(bin_valid(bins[i]), "%s is a valid BIN", bins[i]);
}
END_TEST

START_TEST(test_bin_needing_second_weights_is_valid)
{
    ck_assert(bin_valid("150540000801"));
    ck_assert(!bin_valid("150540000800"));
}
END_TEST

START_TEST(test_bin_prefix_with_two_remainders_of_ten_is_never_valid)
{
    char bin[13] = "15054000160?";
    for (char last = '0'; last <= '9'; last++) {
        bin[11] = last;
        ck_assert_msg(!kz_checksum_ok(bin), "%s must not pass", bin);
        ck_assert_msg(!bin_valid(bin), "%s must not be a BIN", bin);
    }
}
END_TEST

/* The 5th digit is the day's tens (0..3) in an IIN and the entity type (4..6) in a BIN. */
START_TEST(test_iin_is_not_a_bin_and_bin_is_not_an_iin)
{
    ck_assert(!bin_valid("900101300017"));
    ck_assert(!bin_valid("900101300811"));
    ck_assert(!iin_valid("150540000007"));
    ck_assert(!iin_valid("150540000801"));
}
END_TEST

START_TEST(test_wrong_length_letters_null_and_empty_are_invalid)
{
    static const char *const bad[] = {"",
                                      "90010130001",
                                      "9001013000170",
                                      "90010130001a",
                                      "9001O1300017",
                                      " 900101300017",
                                      "900101300017 ",
                                      "+90101300017",
                                      "90010130001\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!kz_checksum_ok(bad[i]), "\"%s\" must not pass", bad[i]);
        ck_assert_msg(!iin_valid(bad[i]), "\"%s\" is no IIN", bad[i]);
        ck_assert_msg(!bin_valid(bad[i]), "\"%s\" is no BIN", bad[i]);
    }
    ck_assert(!kz_checksum_ok(NULL));
    ck_assert(!iin_valid(NULL));
    ck_assert(!bin_valid(NULL));
}
END_TEST

START_TEST(test_kato_is_exactly_nine_digits)
{
    ck_assert(kato_valid("751110000"));
    ck_assert(kato_valid("000000000"));
    ck_assert(!kato_valid("75111000"));
    ck_assert(!kato_valid("7511100000"));
    ck_assert(!kato_valid("75111000a"));
    ck_assert(!kato_valid("75111-000"));
    ck_assert(!kato_valid(""));
    ck_assert(!kato_valid(NULL));
}
END_TEST

START_TEST(test_iin_facts_read_century_and_sex_from_seventh_digit)
{
    static const struct {
        const char *iin;
        int year, month, day;
        bool male;
    } cases[] = {
        {"801217100017", 1880, 12, 17, true}, {"801217200013", 1880, 12, 17, false},
        {"900101300017", 1990, 1, 1, true},   {"850715401236", 1985, 7, 15, false},
        {"200510500017", 2020, 5, 10, true},  {"050315600010", 2005, 3, 15, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct iin_facts f = {0};
        ck_assert_msg(iin_valid(cases[i].iin), "%s is a valid IIN", cases[i].iin);
        ck_assert_msg(iin_facts(cases[i].iin, &f), "facts of %s", cases[i].iin);
        ck_assert_int_eq(f.year, cases[i].year);
        ck_assert_int_eq(f.month, cases[i].month);
        ck_assert_int_eq(f.day, cases[i].day);
        ck_assert_msg(f.male == cases[i].male, "sex of %s", cases[i].iin);
    }
}
END_TEST

START_TEST(test_iin_facts_reject_seventh_digit_0_7_8_9)
{
    char iin[13] = "900101?00017";
    for (const char *c = "0789"; *c; c++) {
        iin[6] = *c;
        struct iin_facts f = {0};
        ck_assert_msg(!iin_facts(iin, &f), "7th digit %c must be refused", *c);
    }
    struct iin_facts f = {0};
    ck_assert(!iin_facts(NULL, &f));
    ck_assert(!iin_facts("90010130001", &f));
}
END_TEST

START_TEST(test_iin_shape_is_twelve_digits_only)
{
    ck_assert(iin_shaped("900101300811"));
    ck_assert(iin_shaped("900101300810")); /* wrong check digit: still the shape */
    ck_assert(!iin_shaped("90010130081"));
    ck_assert(!iin_shaped("9001013008111"));
    ck_assert(!iin_shaped("90010130081a"));
    ck_assert(!iin_shaped(""));
    ck_assert(!iin_shaped(NULL));
}
END_TEST

static Suite *kzid_suite(void)
{
    Suite *s = suite_create("kzid");
    TCase *tc = tcase_create("kzid");
    tcase_add_test(tc, test_known_valid_iins_are_valid);
    tcase_add_test(tc, test_iin_shape_is_twelve_digits_only);
    tcase_add_test(tc, test_iin_with_wrong_check_digit_is_invalid);
    tcase_add_test(tc, test_iin_needing_second_weights_is_valid);
    tcase_add_test(tc, test_iin_prefix_with_two_remainders_of_ten_is_never_valid);
    tcase_add_test(tc, test_known_valid_bins_are_valid);
    tcase_add_test(tc, test_bin_needing_second_weights_is_valid);
    tcase_add_test(tc, test_bin_prefix_with_two_remainders_of_ten_is_never_valid);
    tcase_add_test(tc, test_iin_is_not_a_bin_and_bin_is_not_an_iin);
    tcase_add_test(tc, test_wrong_length_letters_null_and_empty_are_invalid);
    tcase_add_test(tc, test_kato_is_exactly_nine_digits);
    tcase_add_test(tc, test_iin_facts_read_century_and_sex_from_seventh_digit);
    tcase_add_test(tc, test_iin_facts_reject_seventh_digit_0_7_8_9);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(kzid_suite());
}
