/* Log safety: a masked IIN never shows more than its first 4 and last 2 digits. */
#include <string.h>
#include "attachd/log.h"
#include "unit.h"

static size_t visible_digits(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s >= '0' && *s <= '9';
    return n;
}

START_TEST(test_masked_iin_shows_first_four_and_last_two)
{
    char buf[13];
    log_mask_iin("900101300017", buf);
    ck_assert_str_eq(buf, "9001******17");
}
END_TEST

START_TEST(test_mask_never_leaves_more_than_six_digits)
{
    static const char *const inputs[] = {"900101300017", "12345678901234567890", "1234567",     "",
                                         "12345678901",  "1234567890123",        "abcd5678efgh"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        char buf[13];
        memset(buf, '5', sizeof buf);
        log_mask_iin(inputs[i], buf);
        ck_assert_uint_eq(strlen(buf), 12);
        ck_assert_msg(visible_digits(buf) <= 6, "\"%s\" -> \"%s\"", inputs[i], buf);
    }
}
END_TEST

START_TEST(test_mask_of_null_is_all_stars)
{
    char buf[13];
    log_mask_iin(NULL, buf);
    ck_assert_str_eq(buf, "************");
}
END_TEST

START_TEST(test_json_text_masks_every_run_of_twelve_or_more_digits)
{
    char buf[128];
    log_json_text(buf, sizeof buf, "req-900101300017-x");
    ck_assert_str_eq(buf, "req-9001******17-x");
    log_json_text(buf, sizeof buf, "12345678901234567890");
    ck_assert_str_eq(buf, "1234**************90");
    log_json_text(buf, sizeof buf, "12345678901 and 123");
    ck_assert_str_eq(buf, "12345678901 and 123");
}
END_TEST

START_TEST(test_json_text_escapes_quotes_backslashes_and_controls)
{
    char buf[64];
    log_json_text(buf, sizeof buf, "a\"b\\c\n\x01");
    ck_assert_str_eq(buf, "a\\\"b\\\\c\\u000a\\u0001");
    log_json_text(buf, sizeof buf, NULL);
    ck_assert_str_eq(buf, "");
}
END_TEST

START_TEST(test_json_text_cut_short_never_shows_twelve_digits)
{
    char buf[10];
    log_json_text(buf, sizeof buf, "ab900101300017");
    ck_assert_str_eq(buf, "ab");
    log_json_text(buf, 4, "\"\"\"");
    ck_assert_str_eq(buf, "\\\"");
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_test(tc, test_masked_iin_shows_first_four_and_last_two);
    tcase_add_test(tc, test_mask_never_leaves_more_than_six_digits);
    tcase_add_test(tc, test_mask_of_null_is_all_stars);
    tcase_add_test(tc, test_json_text_masks_every_run_of_twelve_or_more_digits);
    tcase_add_test(tc, test_json_text_escapes_quotes_backslashes_and_controls);
    tcase_add_test(tc, test_json_text_cut_short_never_shows_twelve_digits);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(log_suite());
}
