/* Which district an approved person joins (SPEC §3): the requested one, else a family member's,
 * else the one with most free places (ties to the lowest number, compared as numbers). */
#include "attachd/district_choice.h"
#include "unit.h"

#define NONE_REQUESTED 0

/* An open district with `free` places left of its capacity. */
static struct district_option district(long long id, const char *number, int min_age, int max_age,
                                       int free)
{
    return (struct district_option){.id = id,
                                    .number = number,
                                    .min_age = min_age,
                                    .max_age = max_age,
                                    .capacity = 1700,
                                    .load = 1700 - free,
                                    .open = true};
}

static struct district_option gp(long long id, const char *number, int free)
{
    return district(id, number, 0, -1, free);
}

START_TEST(test_unfit_reason_says_closed_age_or_full)
{
    struct district_option d = district(1, "1", 0, 6, 7);
    ck_assert_ptr_null(district_unfit_reason(&d, 6));
    ck_assert_str_eq(district_unfit_reason(&d, 7), "age");
    d.load = d.capacity;
    ck_assert_str_eq(district_unfit_reason(&d, 3), "full");
    d.open = false;
    ck_assert_str_eq(district_unfit_reason(&d, 3), "closed");
}
END_TEST

START_TEST(test_open_district_with_room_fits)
{
    struct district_option d = gp(1, "1", 1);
    ck_assert(district_fits(&d, 40));
    d.load = 0;
    ck_assert(district_fits(&d, 40));
}
END_TEST

START_TEST(test_closed_district_does_not_fit)
{
    struct district_option d = gp(1, "1", 500);
    d.open = false;
    ck_assert(!district_fits(&d, 40));
}
END_TEST

START_TEST(test_full_district_does_not_fit)
{
    struct district_option d = gp(1, "1", 0);
    ck_assert(!district_fits(&d, 40));
    d.load = d.capacity + 1; /* over capacity (capacity lowered later) */
    ck_assert(!district_fits(&d, 40));
    d.capacity = 0;
    d.load = 0;
    ck_assert(!district_fits(&d, 40));
}
END_TEST

START_TEST(test_age_band_bounds_are_inclusive)
{
    struct district_option ped = district(1, "1", 0, 6, 100); /* pediatric_0_6 */
    ck_assert(district_fits(&ped, 0));
    ck_assert(district_fits(&ped, 6));
    ck_assert(!district_fits(&ped, 7));
    ck_assert(!district_fits(&ped, -1));

    struct district_option ped14 = district(2, "2", 0, 14, 100); /* pediatric_0_14 */
    ck_assert(district_fits(&ped14, 14));
    ck_assert(!district_fits(&ped14, 15));
}
END_TEST

START_TEST(test_negative_max_age_means_no_upper_bound)
{
    struct district_option therapist = district(1, "1", 15, -1, 100);
    ck_assert(!district_fits(&therapist, 14));
    ck_assert(district_fits(&therapist, 15));
    ck_assert(district_fits(&therapist, 99));
    ck_assert(district_fits(&therapist, 120));

    /* Zero is a bound, not "none": such a district serves babies under one only. */
    struct district_option babies = district(3, "3", 0, 0, 100);
    ck_assert(district_fits(&babies, 0));
    ck_assert(!district_fits(&babies, 1));

    struct district_option general = gp(2, "2", 100);
    ck_assert(district_fits(&general, 0));
    ck_assert(district_fits(&general, 120));
}
END_TEST

START_TEST(test_requested_district_that_fits_is_chosen)
{
    const struct district_option ds[] = {gp(10, "1", 900), gp(20, "2", 5), gp(30, "3", 300)};
    const long long family[] = {30};
    ck_assert_int_eq(choose_district(ds, 3, 40, 20, family, 1), 1);
    ck_assert_int_eq(choose_district(ds, 3, 40, 20, NULL, 0), 1);
}
END_TEST

START_TEST(test_full_requested_district_gives_way_to_a_family_members)
{
    const struct district_option ds[] = {gp(10, "1", 900), gp(20, "2", 0), gp(30, "3", 300)};
    const long long family[] = {30};
    ck_assert_int_eq(choose_district(ds, 3, 40, 20, family, 1), 2);
}
END_TEST

START_TEST(test_closed_or_wrong_age_requested_district_gives_way_to_a_family_members)
{
    struct district_option ds[] = {gp(10, "1", 900), district(20, "2", 0, 6, 400),
                                   gp(30, "3", 300)};
    const long long family[] = {30};
    ck_assert_int_eq(choose_district(ds, 3, 40, 20, family, 1), 2); /* pediatric for an adult */
    ds[1] = gp(20, "2", 400);
    ds[1].open = false;
    ck_assert_int_eq(choose_district(ds, 3, 40, 20, family, 1), 2);
}
END_TEST

START_TEST(test_family_district_of_the_wrong_age_band_is_skipped)
{
    /* The child's mother is in a therapist district; her sibling in a pediatric one. */
    const struct district_option ds[] = {district(10, "1", 15, -1, 900), gp(20, "2", 1000),
                                         district(30, "3", 0, 6, 50), district(40, "4", 0, 14, 10)};
    const long long family[] = {10, 40, 30};
    ck_assert_int_eq(choose_district(ds, 4, 5, NONE_REQUESTED, family, 3), 3);
    /* For a child of 12, the first family district that fits is the same: 0-14. */
    ck_assert_int_eq(choose_district(ds, 4, 12, NONE_REQUESTED, family, 3), 3);
    /* At 16 the mother's therapist district fits and comes first. */
    ck_assert_int_eq(choose_district(ds, 4, 16, NONE_REQUESTED, family, 3), 0);
    /* With only the mother's district given, a child of 5 gets the most free places. */
    ck_assert_int_eq(choose_district(ds, 4, 5, NONE_REQUESTED, family, 1), 1);
}
END_TEST

START_TEST(test_family_members_are_tried_in_the_order_given)
{
    const struct district_option ds[] = {gp(10, "1", 900), gp(20, "2", 10), gp(30, "3", 20)};
    const long long family_a[] = {30, 20};
    const long long family_b[] = {20, 30};
    ck_assert_int_eq(choose_district(ds, 3, 40, NONE_REQUESTED, family_a, 2), 2);
    ck_assert_int_eq(choose_district(ds, 3, 40, NONE_REQUESTED, family_b, 2), 1);
}
END_TEST

START_TEST(test_unknown_ids_fall_through_to_most_free_places)
{
    const struct district_option ds[] = {gp(10, "1", 100), gp(20, "2", 900), gp(30, "3", 300)};
    const long long family[] = {99, 98};
    ck_assert_int_eq(choose_district(ds, 3, 40, 77, family, 2), 1);
}
END_TEST

START_TEST(test_without_request_or_family_most_free_places_wins)
{
    const struct district_option ds[] = {gp(10, "1", 100), gp(20, "2", 300), gp(30, "3", 900),
                                         gp(40, "4", 899)};
    ck_assert_int_eq(choose_district(ds, 4, 40, NONE_REQUESTED, NULL, 0), 2);
}
END_TEST

START_TEST(test_most_free_places_counts_only_fitting_districts)
{
    struct district_option ds[] = {gp(10, "1", 100), district(20, "2", 0, 14, 900),
                                   gp(30, "3", 1500), gp(40, "4", 200)};
    ds[2].open = false;
    ck_assert_int_eq(choose_district(ds, 4, 40, NONE_REQUESTED, NULL, 0), 3);
    /* A child fits the pediatric district, which has the most room among the open ones. */
    ck_assert_int_eq(choose_district(ds, 4, 10, NONE_REQUESTED, NULL, 0), 1);
}
END_TEST

/* Free places are capacity minus load, not capacity alone. */
START_TEST(test_free_places_depend_on_capacity_and_load)
{
    struct district_option ds[] = {gp(10, "1", 0), gp(20, "2", 0)};
    ds[0].capacity = 2200;
    ds[0].load = 2000; /* 200 free */
    ds[1].capacity = 500;
    ds[1].load = 200; /* 300 free */
    ck_assert_int_eq(choose_district(ds, 2, 40, NONE_REQUESTED, NULL, 0), 1);
}
END_TEST

START_TEST(test_tie_goes_to_the_lowest_number_compared_numerically)
{
    /* "10" comes first in the array and is bytewise less than "9": neither may win. */
    const struct district_option ds[] = {gp(10, "10", 300), gp(20, "9", 300), gp(30, "11", 300)};
    ck_assert_int_eq(choose_district(ds, 3, 40, NONE_REQUESTED, NULL, 0), 1);

    const struct district_option ds2[] = {gp(10, "12", 300), gp(20, "3", 300), gp(30, "2", 300),
                                          gp(40, "20", 300)};
    ck_assert_int_eq(choose_district(ds2, 4, 40, NONE_REQUESTED, NULL, 0), 2);
}
END_TEST

START_TEST(test_tie_among_the_best_ignores_lower_numbers_with_fewer_places)
{
    const struct district_option ds[] = {gp(10, "5", 400), gp(20, "1", 100), gp(30, "3", 400)};
    ck_assert_int_eq(choose_district(ds, 3, 40, NONE_REQUESTED, NULL, 0), 2);
}
END_TEST

START_TEST(test_none_fitting_gives_minus_one)
{
    struct district_option ds[] = {gp(10, "1", 0), district(20, "2", 0, 6, 100), gp(30, "3", 50)};
    ds[2].open = false;
    const long long family[] = {20, 30};
    ck_assert_int_eq(choose_district(ds, 3, 40, 30, family, 2), -1);
    ck_assert_int_eq(choose_district(ds, 0, 40, NONE_REQUESTED, NULL, 0), -1);
    ck_assert_int_eq(choose_district(NULL, 0, 40, 10, NULL, 0), -1);
}
END_TEST

START_TEST(test_district_numbers_compare_numerically_when_both_are_digits)
{
    ck_assert_int_lt(district_number_cmp("9", "10"), 0);
    ck_assert_int_gt(district_number_cmp("10", "9"), 0);
    ck_assert_int_lt(district_number_cmp("2", "3"), 0);
    ck_assert_int_lt(district_number_cmp("99", "100"), 0);
    ck_assert_int_eq(district_number_cmp("10", "10"), 0);
    ck_assert_int_eq(district_number_cmp("007", "7"), 0);
    ck_assert_int_lt(district_number_cmp("007", "8"), 0);
    ck_assert_int_gt(district_number_cmp("010", "9"), 0);
    ck_assert_int_lt(district_number_cmp("0", "1"), 0);
    ck_assert_int_eq(district_number_cmp("0", "000"), 0);
    /* Longer than any integer type. */
    ck_assert_int_gt(district_number_cmp("123456789012345678901234567890", "99"), 0);
    ck_assert_int_lt(
        district_number_cmp("123456789012345678901234567890", "123456789012345678901234567891"), 0);
}
END_TEST

START_TEST(test_district_numbers_with_letters_compare_bytewise)
{
    ck_assert_int_lt(district_number_cmp("10a", "9"), 0);
    ck_assert_int_gt(district_number_cmp("9", "10a"), 0);
    ck_assert_int_lt(district_number_cmp("A", "B"), 0);
    ck_assert_int_lt(district_number_cmp("1A", "1B"), 0);
    ck_assert_int_eq(district_number_cmp("1A", "1A"), 0);
    ck_assert_int_lt(district_number_cmp("", "1"), 0);
    ck_assert_int_eq(district_number_cmp("", ""), 0);
}
END_TEST

/* SPEC §11 ageing out: a bounded (pediatric) district that still serves the age comes first. */
static struct district_option ped14(long long id, const char *number, int free)
{
    return district(id, number, 0, 14, free);
}

START_TEST(test_age_out_at_seven_prefers_pediatric_0_14_with_room)
{
    struct district_option ds[] = {gp(1, "1", 900), district(2, "2", 0, 6, 400), ped14(3, "3", 5)};
    ck_assert_int_eq(choose_age_out_district(ds, 3, 7, NULL, 0), 2);
}
END_TEST

START_TEST(test_age_out_at_seven_goes_to_gp_when_pediatric_0_14_is_full)
{
    struct district_option ds[] = {gp(1, "1", 10), ped14(2, "2", 0), gp(3, "3", 20)};
    ck_assert_int_eq(choose_age_out_district(ds, 3, 7, NULL, 0), 2);
}
END_TEST

START_TEST(test_age_out_at_fifteen_goes_to_gp_or_therapist_never_pediatric)
{
    struct district_option ds[] = {ped14(1, "1", 900), gp(2, "2", 10),
                                   district(3, "3", 15, -1, 30)};
    ck_assert_int_eq(choose_age_out_district(ds, 3, 15, NULL, 0), 2);
    ds[2].open = false;
    ck_assert_int_eq(choose_age_out_district(ds, 3, 15, NULL, 0), 1);
}
END_TEST

START_TEST(test_age_out_at_seven_never_goes_to_a_therapist)
{
    struct district_option ds[] = {district(1, "1", 15, -1, 900), ped14(2, "2", 0)};
    ck_assert_int_eq(choose_age_out_district(ds, 2, 7, NULL, 0), -1);
}
END_TEST

START_TEST(test_age_out_prefers_a_family_members_district_within_the_band)
{
    struct district_option ds[] = {ped14(1, "1", 50), ped14(2, "2", 3), gp(3, "3", 900)};
    long long family[] = {3, 2};
    /* the family's gp district loses to their pediatric one: the band comes first */
    ck_assert_int_eq(choose_age_out_district(ds, 3, 8, family, 2), 1);
    ds[1].load = ds[1].capacity;
    ck_assert_int_eq(choose_age_out_district(ds, 3, 8, family, 2), 0);
}
END_TEST

START_TEST(test_age_out_family_gp_district_wins_over_freer_gp)
{
    struct district_option ds[] = {gp(1, "1", 900), gp(2, "2", 3)};
    long long family[] = {2};
    ck_assert_int_eq(choose_age_out_district(ds, 2, 16, family, 1), 1);
}
END_TEST

START_TEST(test_age_out_with_no_room_anywhere_gives_minus_one)
{
    struct district_option ds[] = {gp(1, "1", 0), ped14(2, "2", 0), district(3, "3", 0, 6, 90)};
    ck_assert_int_eq(choose_age_out_district(ds, 3, 7, NULL, 0), -1);
}
END_TEST

static Suite *district_choice_suite(void)
{
    Suite *s = suite_create("district_choice");
    TCase *tc = tcase_create("district_choice");
    tcase_add_test(tc, test_unfit_reason_says_closed_age_or_full);
    tcase_add_test(tc, test_open_district_with_room_fits);
    tcase_add_test(tc, test_closed_district_does_not_fit);
    tcase_add_test(tc, test_full_district_does_not_fit);
    tcase_add_test(tc, test_age_band_bounds_are_inclusive);
    tcase_add_test(tc, test_negative_max_age_means_no_upper_bound);
    tcase_add_test(tc, test_requested_district_that_fits_is_chosen);
    tcase_add_test(tc, test_full_requested_district_gives_way_to_a_family_members);
    tcase_add_test(tc, test_closed_or_wrong_age_requested_district_gives_way_to_a_family_members);
    tcase_add_test(tc, test_family_district_of_the_wrong_age_band_is_skipped);
    tcase_add_test(tc, test_family_members_are_tried_in_the_order_given);
    tcase_add_test(tc, test_unknown_ids_fall_through_to_most_free_places);
    tcase_add_test(tc, test_without_request_or_family_most_free_places_wins);
    tcase_add_test(tc, test_most_free_places_counts_only_fitting_districts);
    tcase_add_test(tc, test_free_places_depend_on_capacity_and_load);
    tcase_add_test(tc, test_tie_goes_to_the_lowest_number_compared_numerically);
    tcase_add_test(tc, test_tie_among_the_best_ignores_lower_numbers_with_fewer_places);
    tcase_add_test(tc, test_none_fitting_gives_minus_one);
    tcase_add_test(tc, test_district_numbers_compare_numerically_when_both_are_digits);
    tcase_add_test(tc, test_district_numbers_with_letters_compare_bytewise);
    tcase_add_test(tc, test_age_out_at_seven_prefers_pediatric_0_14_with_room);
    tcase_add_test(tc, test_age_out_at_seven_goes_to_gp_when_pediatric_0_14_is_full);
    tcase_add_test(tc, test_age_out_at_fifteen_goes_to_gp_or_therapist_never_pediatric);
    tcase_add_test(tc, test_age_out_at_seven_never_goes_to_a_therapist);
    tcase_add_test(tc, test_age_out_prefers_a_family_members_district_within_the_band);
    tcase_add_test(tc, test_age_out_family_gp_district_wins_over_freer_gp);
    tcase_add_test(tc, test_age_out_with_no_room_anywhere_gives_minus_one);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(district_choice_suite());
}
