/* Log safety: a masked IIN never shows more than its first 4 and last 2 digits; lines arrive
 * whole. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

#define LOG_THREADS 4
#define LOG_LINES   2000

static void *log_many(void *arg)
{
    (void)arg;
    struct request_log r = {.request_id = "0123abcd-0123abcd-0123abcd-0123abcd",
                            .method = "GET",
                            .route = "/v1/persons/{iin}/attachment",
                            .status = 200,
                            .ms = 0.4,
                            .role = "admin",
                            .token_id = 1,
                            .token_name = "bench"};
    for (int i = 0; i < LOG_LINES; i++) {
        log_request(&r);
        log_warn("a warning of %d bytes or so, with some words after it %s", i, "to make it long");
    }
    return NULL;
}

/* The log is written by every HTTP thread at once, without a lock of ours (one write(2) per
 * line): each line must still arrive whole, never cut by another thread's. */
START_TEST(test_lines_of_many_threads_arrive_whole)
{
    char path[] = "/tmp/attachd-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    log_set_level(LOG_INFO);
    pthread_t t[LOG_THREADS];
    for (int i = 0; i < LOG_THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_many, NULL), 0);
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_join(t[i], NULL);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fdopen(fd, "r");
    ck_assert_ptr_nonnull(f);
    rewind(f);
    char line[2048];
    int requests = 0, warnings = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        ck_assert_msg(len > 0 && line[len - 1] == '\n', "a line without its end: %s", line);
        if (strncmp(line, "{\"time\":", 8) == 0 && strstr(line, "\"token\":\"bench\"}\n"))
            requests++;
        else if (strstr(line, " warn a warning of ") && strstr(line, "to make it long\n"))
            warnings++;
        else
            ck_abort_msg("a line cut or mixed with another: %s", line);
    }
    fclose(f);
    unlink(path);
    ck_assert_int_eq(requests, LOG_THREADS * LOG_LINES);
    ck_assert_int_eq(warnings, LOG_THREADS * LOG_LINES);
}
END_TEST

/* A message longer than the line buffer is cut, and still ends its line. */
START_TEST(test_overlong_message_is_cut_and_ends_its_line)
{
    char path[] = "/tmp/attachd-test-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    char *big = malloc(5000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    log_error("%s", big);
    log_error("next");
    free(big);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *f = fdopen(fd, "r");
    ck_assert_ptr_nonnull(f);
    rewind(f);
    char line[8192];
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    size_t len = strlen(line);
    ck_assert_uint_le(len, 1023);
    ck_assert_int_eq(line[len - 1], '\n');
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, " error next\n"));
    fclose(f);
    unlink(path);
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
    tcase_add_test(tc, test_lines_of_many_threads_arrive_whole);
    tcase_add_test(tc, test_overlong_message_is_cut_and_ends_its_line);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(log_suite());
}
