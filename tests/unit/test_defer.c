/* Deferred reads (db.h, "Deferred reads"), without a server: in a pass a read is recorded with
 * copies of its parameters and answers DB_PENDING; the next pass gets the answer where it asks
 * the same question again, and no stale answer where it asks another; writes, and reads outside
 * a pass, are never deferred. The reactor that sends the reads is exercised by the integration
 * suite (tests/integration/test_reads.py and every GET). */
#include <string.h>
#include "attachd/db.h"
#include "attachd/db_text.h"
#include "unit.h"

static struct db_stmt q_read = DB_READ("SELECT $1::text AS doc");
static struct db_stmt q_other = DB_READ("SELECT $1::text AS other");
static struct db_stmt q_write = DB_WRITE("UPDATE t SET x = $1");

static int done_calls;
static void done(void *arg)
{
    (void)arg;
    done_calls++;
}

/* A stand-in: db_deferred only needs to know that the request has a reactor. */
static struct db_reactor *some_reactor(void)
{
    static char stand_in;
    return (struct db_reactor *)(void *)&stand_in;
}

/* One row, one text column holding `text`. */
static PGresult *answer(const char *text)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attr = {.name = (char *)"doc", .typid = 25, .typlen = -1, .atttypmod = -1};
    ck_assert_int_eq(PQsetResultAttrs(r, 1, &attr), 1);
    ck_assert_int_eq(PQsetvalue(r, 0, 0, (char *)text, (int)strlen(text)), 1);
    return r;
}

/* What the reactor does when a recorded read's answer is in (the oldest unanswered first). */
static void answered(struct db_defer *d, enum db_status st, PGresult *r)
{
    int slot = d->nasked - d->outstanding;
    d->result[slot] = r;
    d->status[slot] = st;
    if (--d->outstanding == 0)
        d->ndone = d->nasked;
}

/* A request's first pass records a read of q_read with p, the reactor answers it (st, r), and
 * the next pass starts. */
static void asked_and_answered(struct db_defer *d, const char *const *p, enum db_status st,
                               PGresult *r)
{
    char *json = NULL;
    db_defer_init(d, some_reactor(), done, NULL);
    db_defer_pass(d);
    ck_assert_int_eq(db_run_json(NULL, &q_read, 1, p, &json), DB_PENDING);
    answered(d, st, r);
    db_defer_pass(d); /* the handler runs again from the start */
}

START_TEST(outside_a_pass_nothing_is_deferred)
{
    const PGresult *out;
    enum db_status st;
    const char *p[1] = {"1"};
    db_defer_pass(NULL);
    ck_assert(!db_deferred(&q_read, 1, p, &out, &st));
    struct db_defer d;
    db_defer_init(&d, NULL, done, NULL); /* a request without a reactor (not GET, or none) */
    db_defer_pass(&d);
    ck_assert(!db_deferred(&q_read, 1, p, &out, &st));
    db_defer_pass(NULL);
}
END_TEST

START_TEST(a_read_is_recorded_with_copies_of_its_parameters)
{
    struct db_defer d;
    db_defer_init(&d, some_reactor(), done, NULL);
    char given[] = "770101300123";
    const char *p[2] = {given, NULL};
    char *json = (char *)"untouched";
    db_defer_pass(&d);
    ck_assert_int_eq(db_run_json(NULL, &q_read, 2, p, &json), DB_PENDING);
    ck_assert_ptr_null(json);
    ck_assert(d.waiting);
    ck_assert_ptr_eq(d.ask[0].stmt, &q_read);
    ck_assert_int_eq(d.ask[0].nparams, 2);
    given[0] = 'X'; /* the caller's buffer goes away with the pass */
    ck_assert_str_eq(d.ask[0].values[0], "770101300123");
    ck_assert_ptr_null(d.ask[0].values[1]);
    const PGresult *out;
    enum db_status st;
    ck_assert(!db_deferred(&q_other, 1, p, &out, &st)); /* one read at a time per pass */
    db_defer_pass(NULL);
    db_defer_clear(&d);
}
END_TEST

START_TEST(the_next_pass_gets_its_answer_where_it_asks)
{
    struct db_defer d;
    const char *p[1] = {"42"};
    char *json = NULL;
    asked_and_answered(&d, p, DB_OK, answer("{\"id\": 42, \"name\": \"a b\"}"));
    ck_assert(!d.waiting);
    ck_assert_int_eq(db_run_json(NULL, &q_read, 1, p, &json), DB_OK);
    ck_assert_str_eq(json, "{\"id\":42,\"name\":\"a b\"}");
    free(json);
    /* its second read is the next one sent */
    ck_assert_int_eq(db_run_json(NULL, &q_other, 1, p, &json), DB_PENDING);
    ck_assert_ptr_eq(d.ask[1].stmt, &q_other);
    ck_assert_int_eq(d.first, 1);
    db_defer_pass(NULL);
    db_defer_clear(&d);
    ck_assert_int_eq(d.ndone, 0);
}
END_TEST

START_TEST(another_question_gets_no_stale_answer)
{
    struct db_defer d;
    const char *p[1] = {"42"}, *q[1] = {"43"};
    asked_and_answered(&d, p, DB_OK, answer("{\"id\":42}"));
    const PGresult *out;
    enum db_status st;
    ck_assert(!db_deferred(&q_read, 1, q, &out, &st));  /* other parameters */
    ck_assert(!db_deferred(&q_other, 1, p, &out, &st)); /* another statement */
    ck_assert(db_deferred(&q_read, 1, p, &out, &st));   /* the same question */
    ck_assert_int_eq(st, DB_OK);
    ck_assert_str_eq(PQgetvalue(out, 0, 0), "{\"id\":42}");
    db_defer_pass(NULL);
    db_defer_clear(&d);
}
END_TEST

START_TEST(a_failed_read_answers_its_status)
{
    struct db_defer d;
    const char *p[1] = {"42"};
    char *json = NULL;
    asked_and_answered(&d, p, DB_UNAVAILABLE, NULL);
    ck_assert_int_eq(db_run_json(NULL, &q_read, 1, p, &json), DB_UNAVAILABLE);
    ck_assert_ptr_null(json);
    db_defer_pass(NULL);
    db_defer_clear(&d);
}
END_TEST

START_TEST(a_flight_is_recorded_and_answered_together)
{
    struct db_defer d;
    db_defer_init(&d, some_reactor(), done, NULL);
    const char *p[1] = {"7"};
    struct db_call calls[2] = {{&q_read, 1, p, NULL}, {&q_other, 1, p, NULL}};
    const PGresult *outs[2];
    enum db_status st;
    db_defer_pass(&d);
    ck_assert(db_deferred_flight(calls, 2, outs, &st));
    ck_assert_int_eq(st, DB_PENDING);
    ck_assert_int_eq(d.outstanding, 2);
    answered(&d, DB_OK, answer("{\"scope\":1}"));
    ck_assert_int_eq(d.ndone, 0); /* not before the whole flight is in */
    answered(&d, DB_OK, answer("{\"page\":2}"));
    db_defer_pass(&d);
    ck_assert(db_deferred_flight(calls, 2, outs, &st));
    ck_assert_int_eq(st, DB_OK);
    ck_assert_str_eq(PQgetvalue(outs[0], 0, 0), "{\"scope\":1}");
    ck_assert_str_eq(PQgetvalue(outs[1], 0, 0), "{\"page\":2}");
    db_defer_pass(NULL);
    db_defer_clear(&d);
    /* a failing read fails its flight, with its status, and no result is handed out */
    db_defer_init(&d, some_reactor(), done, NULL);
    db_defer_pass(&d);
    ck_assert(db_deferred_flight(calls, 2, outs, &st));
    answered(&d, DB_OK, answer("{}"));
    answered(&d, DB_CHECK_VIOLATION, NULL);
    db_defer_pass(&d);
    ck_assert(db_deferred_flight(calls, 2, outs, &st));
    ck_assert_int_eq(st, DB_CHECK_VIOLATION);
    ck_assert_ptr_null(outs[0]);
    ck_assert_ptr_null(outs[1]);
    db_defer_pass(NULL);
    db_defer_clear(&d);
}
END_TEST

START_TEST(writes_are_never_deferred)
{
    struct db_defer d;
    db_defer_init(&d, some_reactor(), done, NULL);
    const char *p[1] = {"1"};
    const PGresult *out;
    enum db_status st;
    db_defer_pass(&d);
    ck_assert(!db_deferred(&q_write, 1, p, &out, &st));
    ck_assert(!d.waiting);
    db_defer_pass(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("defer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, outside_a_pass_nothing_is_deferred);
    tcase_add_test(tc, a_read_is_recorded_with_copies_of_its_parameters);
    tcase_add_test(tc, the_next_pass_gets_its_answer_where_it_asks);
    tcase_add_test(tc, another_question_gets_no_stale_answer);
    tcase_add_test(tc, a_failed_read_answers_its_status);
    tcase_add_test(tc, a_flight_is_recorded_and_answered_together);
    tcase_add_test(tc, writes_are_never_deferred);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
