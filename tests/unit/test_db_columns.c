/* Result columns read by name (db_params.h: db_col, db_is_null, db_text, db_text_or_empty,
 * db_ll, db_bool; db_text.h: db_json_copy), on results built in memory (no server): a column is
 * found by its name wherever it stands, SQL NULL reads as NULL / "" / 0 / false, a row past the
 * end reads as NULL, and a name the result lacks aborts the process with a log line naming it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"
#include "unit.h"

/* One row: the columns named in `names`, with `values` (NULL: SQL NULL), all text. */
static PGresult *one_row(int n, const char *const *names, const char *const *values)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    ck_assert_ptr_nonnull(r);
    PGresAttDesc attrs[8];
    ck_assert_int_le(n, 8);
    for (int i = 0; i < n; i++)
        attrs[i] =
            (PGresAttDesc){.name = (char *)names[i], .typid = 25, .typlen = -1, .atttypmod = -1};
    ck_assert_int_eq(PQsetResultAttrs(r, n, attrs), 1);
    for (int i = 0; i < n; i++) {
        char *v = (char *)values[i];
        ck_assert_int_eq(PQsetvalue(r, 0, i, v, v ? (int)strlen(v) : -1), 1);
    }
    return r;
}

static const char *const names[] = {"flag", "count", "doc", "missing_value"};
static const char *const values[] = {"t", "42", "{\"a\": [1, 2], \"b\": \"x y\"}", NULL};

START_TEST(column_found_by_name_wherever_it_stands)
{
    PGresult *r = one_row(4, names, values);
    static const char *const reordered_names[] = {"missing_value", "doc", "count", "flag"};
    static const char *const reordered_values[] = {NULL, "{}", "42", "t"};
    PGresult *s = one_row(4, reordered_names, reordered_values);
    ck_assert_int_eq(db_col(r, "count"), 1);
    ck_assert_int_eq(db_col(s, "count"), 2);
    ck_assert_int_eq(db_ll(r, 0, "count"), db_ll(s, 0, "count"));
    ck_assert(db_bool(r, 0, "flag") && db_bool(s, 0, "flag"));
    PQclear(r);
    PQclear(s);
}
END_TEST

START_TEST(values_read_as_their_types)
{
    PGresult *r = one_row(4, names, values);
    ck_assert(db_bool(r, 0, "flag"));
    ck_assert_int_eq(db_ll(r, 0, "count"), 42);
    ck_assert_str_eq(db_text(r, 0, "count"), "42");
    ck_assert_str_eq(db_text_or_empty(r, 0, "count"), "42");
    ck_assert(!db_is_null(r, 0, "count"));
    static const char *const f_names[] = {"flag"};
    static const char *const f_values[] = {"f"};
    PGresult *f = one_row(1, f_names, f_values);
    ck_assert(!db_bool(f, 0, "flag"));
    PQclear(f);
    PQclear(r);
}
END_TEST

START_TEST(sql_null_is_explicit)
{
    PGresult *r = one_row(4, names, values);
    ck_assert(db_is_null(r, 0, "missing_value"));
    ck_assert_ptr_null(db_text(r, 0, "missing_value"));
    ck_assert_str_eq(db_text_or_empty(r, 0, "missing_value"), "");
    ck_assert_int_eq(db_ll(r, 0, "missing_value"), 0);
    ck_assert(!db_bool(r, 0, "missing_value"));
    ck_assert_ptr_null(db_json_copy(r, 0, "missing_value"));
    PQclear(r);
}
END_TEST

START_TEST(row_past_the_end_reads_as_null)
{
    PGresult *r = one_row(4, names, values);
    ck_assert(db_is_null(r, 1, "count"));
    ck_assert_ptr_null(db_text(r, 1, "count"));
    ck_assert_int_eq(db_ll(r, 1, "count"), 0);
    ck_assert(!db_bool(r, 1, "flag"));
    PQclear(r);
}
END_TEST

START_TEST(json_copy_is_compact_and_owned)
{
    PGresult *r = one_row(4, names, values);
    char *doc = db_json_copy(r, 0, "doc");
    ck_assert_str_eq(doc, "{\"a\":[1,2],\"b\":\"x y\"}");
    PQclear(r); /* the copy outlives the result */
    ck_assert_str_eq(doc, "{\"a\":[1,2],\"b\":\"x y\"}");
    free(doc);
}
END_TEST

/* A name the result lacks aborts the process (in a child here), after a log line naming it. */
START_TEST(missing_column_aborts_loudly)
{
    int err[2];
    ck_assert_int_eq(pipe(err), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(err[1], STDERR_FILENO);
        close(err[0]);
        PGresult *r = one_row(4, names, values);
        long long v = db_ll(r, 0, "cuont"); /* a typo: no such column */
        printf("not reached: %lld\n", v);
        _exit(0);
    }
    close(err[1]);
    char said[512] = {0};
    size_t len = 0;
    ssize_t got;
    while (len < sizeof said - 1 && (got = read(err[0], said + len, sizeof said - 1 - len)) > 0)
        len += (size_t)got;
    close(err[0]);
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_int_eq(WTERMSIG(status), SIGABRT);
    ck_assert_ptr_nonnull(strstr(said, "\"cuont\""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_columns");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, column_found_by_name_wherever_it_stands);
    tcase_add_test(tc, values_read_as_their_types);
    tcase_add_test(tc, sql_null_is_explicit);
    tcase_add_test(tc, row_past_the_end_reads_as_null);
    tcase_add_test(tc, json_copy_is_compact_and_owned);
    tcase_add_test(tc, missing_column_aborts_loudly);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
