/* Splitting one CSV line (the import of attachments): plain and quoted fields, empty fields,
 * counting fields beyond the caller's array, and the two ways a quoted field can be broken. */
#include <string.h>
#include <stdlib.h>
#include <string.h>

#include "attachd/csv.h"
#include "attachd/text_buf.h"
#include "unit.h"

START_TEST(test_plain_fields_are_split_at_commas)
{
    char line[] = "900101300017,3,12,2020-01-01,2024-01-01";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(f[0], "900101300017");
    ck_assert_str_eq(f[1], "3");
    ck_assert_str_eq(f[2], "12");
    ck_assert_str_eq(f[3], "2020-01-01");
    ck_assert_str_eq(f[4], "2024-01-01");
}
END_TEST

START_TEST(test_trailing_comma_gives_an_empty_last_field)
{
    char line[] = "900101300017,3,12,2020-01-01,";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(f[4], "");
}
END_TEST

START_TEST(test_empty_line_is_one_empty_field)
{
    char line[] = "";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(f[0], "");
}
END_TEST

START_TEST(test_quoted_fields_lose_quotes_and_keep_commas)
{
    char line[] = "\"900101300017\",\"3\",\"12/1,a\",\"say \"\"hi\"\"\",\"\"";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(f[0], "900101300017");
    ck_assert_str_eq(f[2], "12/1,a");
    ck_assert_str_eq(f[3], "say \"hi\"");
    ck_assert_str_eq(f[4], "");
}
END_TEST

START_TEST(test_spaces_are_kept)
{
    char line[] = " 1 ,2";
    char *f[2];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 2, &n), CSV_OK);
    ck_assert_str_eq(f[0], " 1 ");
}
END_TEST

START_TEST(test_fields_beyond_max_are_counted_not_stored)
{
    char line[] = "a,b,c,d,e,f,g";
    char *f[5] = {0};
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 7);
    ck_assert_str_eq(f[4], "e");
}
END_TEST

START_TEST(test_too_few_fields_are_counted)
{
    char line[] = "a,b,c";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_OK);
    ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(test_unterminated_quote_is_an_error_naming_its_field)
{
    char line[] = "a,\"b,c";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_UNTERMINATED_QUOTE);
    ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(test_text_after_closing_quote_is_an_error)
{
    char line[] = "\"a\"b,c";
    char *f[5];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 5, &n), CSV_TEXT_AFTER_QUOTE);
    ck_assert_uint_eq(n, 1);
}
END_TEST

START_TEST(test_quote_inside_unquoted_field_is_kept)
{
    char line[] = "a\"b,c";
    char *f[2];
    size_t n = 0;
    ck_assert_int_eq(csv_split(line, f, 2, &n), CSV_OK);
    ck_assert_str_eq(f[0], "a\"b");
}
END_TEST

/* Writing: a field is quoted only when it must be, and reads back as it was. */
static void put_and_split(const char *value, const char *want)
{
    char out[64];
    char *end = csv_put_field(out, value);
    ck_assert_uint_le((size_t)(end - out), csv_field_size(value));
    *end = '\0';
    ck_assert_str_eq(out, want);
    char *f[2];
    size_t n = 0;
    ck_assert_int_eq(csv_split(out, f, 2, &n), CSV_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(f[0], value ? value : "");
}

START_TEST(test_written_field_is_quoted_only_when_it_holds_a_comma_or_quote)
{
    put_and_split("Әлия", "Әлия");
    put_and_split("a,b", "\"a,b\"");
    put_and_split("say \"hi\"", "\"say \"\"hi\"\"\"");
    put_and_split(NULL, "");
    put_and_split("", "");
}
END_TEST

/* A CSV answer's lines: fields joined by commas, quoted as csv_put_field quotes, CRLF, NULL
 * empty; the buffer grows past its first allocation and stays NUL-terminated. */
START_TEST(test_text_csv_lines_join_quote_and_grow)
{
    struct text_buf t = {0};
    const char *line[] = {"a", NULL, "b,c", "say \"hi\""};
    text_csv_line(&t, line, 4);
    ck_assert_str_eq(t.buf, "a,,\"b,c\",\"say \"\"hi\"\"\"\r\n");
    char big[40000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *one[] = {big};
    text_csv_line(&t, one, 1);
    ck_assert(!t.failed);
    ck_assert_uint_eq(t.len, strlen(t.buf));
    ck_assert_uint_eq(t.len, 23 + sizeof big - 1 + 2); /* the first line is 23 bytes */
    TEXT_LIT(&t, "end");
    ck_assert_str_eq(t.buf + t.len - 3, "end");
    free(t.buf);
}
END_TEST

START_TEST(test_written_field_with_a_line_break_is_quoted)
{
    char out[16];
    char *end = csv_put_field(out, "a\r\nb");
    *end = '\0';
    ck_assert_str_eq(out, "\"a\r\nb\"");
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("split");
    tcase_add_test(tc, test_plain_fields_are_split_at_commas);
    tcase_add_test(tc, test_trailing_comma_gives_an_empty_last_field);
    tcase_add_test(tc, test_empty_line_is_one_empty_field);
    tcase_add_test(tc, test_quoted_fields_lose_quotes_and_keep_commas);
    tcase_add_test(tc, test_spaces_are_kept);
    tcase_add_test(tc, test_fields_beyond_max_are_counted_not_stored);
    tcase_add_test(tc, test_too_few_fields_are_counted);
    tcase_add_test(tc, test_unterminated_quote_is_an_error_naming_its_field);
    tcase_add_test(tc, test_text_after_closing_quote_is_an_error);
    tcase_add_test(tc, test_quote_inside_unquoted_field_is_kept);
    tcase_add_test(tc, test_written_field_is_quoted_only_when_it_holds_a_comma_or_quote);
    tcase_add_test(tc, test_written_field_with_a_line_break_is_quoted);
    tcase_add_test(tc, test_text_csv_lines_join_quote_and_grow);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(csv_suite());
}
