/* Pipelined flights (db_query_flight, db_commit_with_next, the BEGIN that db_transaction sends
 * with the first statement) against a real PostgreSQL: a failure inside a flight is classified
 * as the same statement alone would be, the statements after it do not run, nothing of the
 * transaction commits, and the session stays usable; a lost session is DB_UNAVAILABLE.
 * Needs ATTACHD_TEST_DATABASE_URL (scripts/test.sh sets it once its PostgreSQL runs); under
 * ctest, before the database exists, each test passes without running. The same for the
 * implicit transactions of db_transaction_implicit (no BEGIN, no COMMIT statement). And a
 * reactor's deferred read answered while its thread waits for a connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db.h"
#include "unit.h"

static struct db_pool *pool;

static struct db_stmt q_one = DB_READ("SELECT 1 AS one");
static struct db_stmt q_fail = DB_READ("SELECT 1 / (2 - $1::int) AS boom");
static struct db_stmt q_insert = DB_WRITE("INSERT INTO flight_probe (id) VALUES ($1::int)");
static struct db_stmt q_count =
    DB_READ("SELECT count(*) FROM flight_probe WHERE id BETWEEN $1::int AND $1::int + 99");
static struct db_stmt q_die = DB_READ("SELECT pg_terminate_backend(pg_backend_pid())");
static struct db_stmt q_now = DB_READ("SELECT now()::text");
static struct db_stmt q_isolation = DB_READ("SELECT current_setting('transaction_isolation')");
/* A unique key checked at COMMIT: a duplicate fails the commit, not the statement. */
static struct db_stmt q_insert_deferred =
    DB_WRITE("INSERT INTO flight_deferred (id) VALUES ($1::int)");
static struct db_stmt q_count_deferred =
    DB_READ("SELECT count(*) FROM flight_deferred WHERE id = $1::int");
/* A table that outlives the session (a transaction given up costs its session). */
static struct db_stmt q_insert_kept =
    DB_WRITE("INSERT INTO flight_probe_kept (id) VALUES ($1::int)");
static struct db_stmt q_count_kept =
    DB_READ("SELECT count(*) FROM flight_probe_kept WHERE id = $1::int");

/* One connection, so every transaction runs on the session that holds the TEMP table. */
static bool setup_pool(void)
{
    const char *url = getenv("ATTACHD_TEST_DATABASE_URL");
    if (!url || !*url) {
        printf("test_db_flight: ATTACHD_TEST_DATABASE_URL not set, not run here\n");
        return false;
    }
    ck_assert_int_eq(db_pool_new(url, 1, 3000, &pool), DB_OK);
    struct db_conn *c;
    ck_assert_int_eq(db_acquire(pool, &c), DB_OK);
    ck_assert_int_eq(db_command(c, "CREATE TEMP TABLE IF NOT EXISTS flight_probe (id int PRIMARY "
                                   "KEY)"),
                     DB_OK);
    ck_assert_int_eq(db_command(c, "CREATE TEMP TABLE IF NOT EXISTS flight_deferred (id int UNIQUE "
                                   "DEFERRABLE INITIALLY DEFERRED)"),
                     DB_OK);
    ck_assert_int_eq(db_command(c, "CREATE TABLE IF NOT EXISTS flight_probe_kept (id int)"), DB_OK);
    db_release(pool, c);
    return true;
}

static void teardown_pool(void)
{
    db_pool_free(pool);
    pool = NULL;
}

static long long count_from(int base)
{
    char b[16];
    snprintf(b, sizeof b, "%d", base);
    const char *v[1] = {b};
    PGresult *r = NULL;
    ck_assert_int_eq(db_run(pool, &q_count, 1, v, &r), DB_OK);
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

struct flight_case {
    int base;
    enum db_status status;
    bool committed;
    bool second_result; /* the result of the statement after the failing one was returned */
};

/* BEGIN + insert + division by zero + insert, in one flight. */
static enum db_status tx_failing_middle(struct db_conn *c, void *arg)
{
    struct flight_case *fc = arg;
    char a[16], b[16];
    snprintf(a, sizeof a, "%d", fc->base);
    snprintf(b, sizeof b, "%d", fc->base + 1);
    const char *va[1] = {a}, *vb[1] = {b}, *two[1] = {"2"};
    PGresult *after = NULL;
    struct db_call calls[] = {
        {&q_insert, 1, va, NULL}, {&q_fail, 1, two, NULL}, {&q_insert, 1, vb, &after}};
    fc->status = db_query_flight(c, calls, 3);
    fc->second_result = after != NULL;
    ck_assert_str_eq(db_sqlstate(c), "22012");
    return fc->status;
}

/* A worker's loop: a GET's read is in flight on its reactor's session when a POST's handler on
 * the same thread waits for a pooled connection (db_acquire). The reactor answers the read first
 * (done is called: the GET is resumed inside libmicrohttpd's run, which has no signal of its own
 * for it), and its next run must say so, or the loop sleeps with the GET resumed and unanswered
 * (shutdown.py found it at SIGTERM, when no connection was left to wake the loop). */
static int reads_done;

static void read_done(void *arg)
{
    (void)arg;
    reads_done++;
}

START_TEST(test_a_read_answered_by_a_yield_is_reported_by_the_next_run)
{
    if (!setup_pool())
        return;
    struct db_reactor *rx;
    ck_assert_int_eq(db_reactor_new(pool, &rx), DB_OK);
    db_reactor_bind(rx);
    struct db_defer d;
    db_defer_init(&d, rx, read_done, NULL);
    const PGresult *out = NULL;
    enum db_status st = DB_OK;
    db_defer_pass(&d); /* the GET's pass */
    ck_assert(db_deferred(&q_one, 0, NULL, &out, &st));
    ck_assert_int_eq(st, DB_PENDING);
    db_defer_pass(NULL);
    db_defer_submit(&d);
    reads_done = 0;
    ck_assert(!db_reactor_run(rx)); /* sent on the reactor's session, not answered yet */
    struct db_conn *c;
    ck_assert_int_eq(db_acquire(pool, &c), DB_OK); /* the POST's handler */
    ck_assert_int_eq(reads_done, 1);               /* the yield answered the read */
    db_release(pool, c);
    ck_assert(db_reactor_run(rx));  /* the loop runs the resumed GET */
    ck_assert(!db_reactor_run(rx)); /* once */
    db_defer_pass(&d);              /* its next pass reads the answer */
    ck_assert(db_deferred(&q_one, 0, NULL, &out, &st));
    ck_assert_int_eq(st, DB_OK);
    ck_assert_str_eq(PQgetvalue(out, 0, 0), "1");
    db_defer_pass(NULL);
    db_defer_clear(&d);
    db_reactor_bind(NULL);
    db_reactor_stop(rx);
    db_reactor_free(rx);
    teardown_pool();
}
END_TEST

START_TEST(test_a_failure_in_a_flight_stops_it_and_rolls_back)
{
    if (!setup_pool())
        return;
    struct flight_case fc = {.base = 1000};
    enum db_status st = db_transaction(pool, "READ COMMITTED", tx_failing_middle, &fc);
    ck_assert_int_eq(fc.status, DB_ERROR);
    ck_assert_int_eq(st, DB_ERROR);
    ck_assert(!fc.second_result);
    ck_assert_int_eq(count_from(1000), 0); /* the insert before the failure rolled back */
    teardown_pool();
}
END_TEST

/* The transaction's last statement with COMMIT in its flight: a duplicate key. */
static enum db_status tx_commit_with(struct db_conn *c, void *arg)
{
    struct flight_case *fc = arg;
    char a[16];
    snprintf(a, sizeof a, "%d", fc->base);
    const char *va[1] = {a};
    enum db_status st = db_query(c, &q_insert, 1, va, NULL);
    if (st != DB_OK)
        return st;
    char b[16];
    snprintf(b, sizeof b, "%d", fc->second_result ? fc->base : fc->base + 1);
    const char *vb[1] = {b};
    db_commit_with_next(c);
    st = db_query(c, &q_insert, 1, vb, NULL);
    fc->committed = db_committed(c);
    return st;
}

/* tx_commit_with twice, in a transaction with BEGIN and COMMIT or an implicit one: a duplicate
 * key in the committing flight commits nothing (the first insert rolls back with it), two
 * distinct keys commit both. */
static void check_commit_with_next(bool implicit, int base)
{
    /* second_result here means: insert the same key twice */
    struct flight_case dup = {.base = base, .second_result = true};
    ck_assert_int_eq(implicit ? db_transaction_implicit(pool, tx_commit_with, &dup)
                              : db_transaction(pool, "READ COMMITTED", tx_commit_with, &dup),
                     DB_UNIQUE_VIOLATION);
    ck_assert(!dup.committed);
    ck_assert_int_eq(count_from(base), 0);

    struct flight_case ok = {.base = base + 100};
    ck_assert_int_eq(implicit ? db_transaction_implicit(pool, tx_commit_with, &ok)
                              : db_transaction(pool, "READ COMMITTED", tx_commit_with, &ok),
                     DB_OK);
    ck_assert(ok.committed);
    ck_assert_int_eq(count_from(base + 100), 2);
}

START_TEST(test_commit_goes_with_the_last_statement_and_not_after_its_failure)
{
    if (!setup_pool())
        return;
    check_commit_with_next(false, 2000);
    teardown_pool();
}
END_TEST

/* The BEGIN held back by db_transaction goes with the first statement: the statements of the
 * flight and the one after it run in one transaction (one now(), the transaction's start). */
static enum db_status tx_two_reads(struct db_conn *c, void *arg)
{
    bool *in_tx = arg;
    PGresult *r1 = NULL, *r2 = NULL, *r3 = NULL;
    struct db_call calls[] = {
        {&q_now, 0, NULL, &r1}, {&q_one, 0, NULL, NULL}, {&q_now, 0, NULL, &r2}};
    enum db_status st = db_query_flight(c, calls, 3);
    if (st != DB_OK)
        return st;
    st = db_query(c, &q_now, 0, NULL, &r3);
    *in_tx = st == DB_OK && strcmp(PQgetvalue(r1, 0, 0), PQgetvalue(r2, 0, 0)) == 0 &&
             strcmp(PQgetvalue(r1, 0, 0), PQgetvalue(r3, 0, 0)) == 0;
    PQclear(r1);
    PQclear(r2);
    PQclear(r3);
    return st;
}

START_TEST(test_begin_is_sent_with_the_first_statement)
{
    if (!setup_pool())
        return;
    bool in_tx = false;
    ck_assert_int_eq(db_transaction(pool, "READ COMMITTED", tx_two_reads, &in_tx), DB_OK);
    ck_assert(in_tx);
    teardown_pool();
}
END_TEST

static enum db_status tx_dies(struct db_conn *c, void *arg)
{
    (void)arg;
    PGresult *after = NULL;
    struct db_call calls[] = {
        {&q_one, 0, NULL, NULL}, {&q_die, 0, NULL, NULL}, {&q_one, 0, NULL, &after}};
    enum db_status st = db_query_flight(c, calls, 3);
    ck_assert(after == NULL);
    return st;
}

START_TEST(test_a_session_lost_in_a_flight_is_unavailable_and_replaced)
{
    if (!setup_pool())
        return;
    ck_assert_int_eq(db_transaction(pool, "READ COMMITTED", tx_dies, NULL), DB_UNAVAILABLE);
    /* The pool reconnects on the next use (a new session, the TEMP table gone with the old). */
    PGresult *r = NULL;
    ck_assert_int_eq(db_run(pool, &q_one, 0, NULL, &r), DB_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    teardown_pool();
}
END_TEST

/* ---- implicit transactions (db_transaction_implicit): no BEGIN, no COMMIT ---- */

static enum db_status command_run(struct db_pool *p, const char *sql)
{
    struct db_conn *c;
    enum db_status st = db_acquire(p, &c);
    if (st != DB_OK)
        return st;
    st = db_command(c, sql);
    db_release(p, c);
    return st;
}

static long long count_of(struct db_stmt *stmt, int id)
{
    char b[16];
    snprintf(b, sizeof b, "%d", id);
    const char *v[1] = {b};
    PGresult *r = NULL;
    ck_assert_int_eq(db_run(pool, stmt, 1, v, &r), DB_OK);
    long long n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

START_TEST(test_an_implicit_transaction_commits_at_the_sync_of_its_last_flight)
{
    if (!setup_pool())
        return;
    check_commit_with_next(true, 3000);
    teardown_pool();
}
END_TEST

static enum db_status tx_read_committed(struct db_conn *c, void *arg)
{
    bool *rc = arg;
    PGresult *r = NULL;
    enum db_status st = db_query(c, &q_isolation, 0, NULL, &r);
    *rc = st == DB_OK && strcmp(PQgetvalue(r, 0, 0), "read committed") == 0;
    PQclear(r);
    return st;
}

START_TEST(test_an_implicit_transaction_spans_its_flights_in_read_committed)
{
    if (!setup_pool())
        return;
    bool in_tx = false, rc = false;
    ck_assert_int_eq(db_transaction_implicit(pool, tx_two_reads, &in_tx), DB_OK);
    ck_assert(in_tx); /* one now() across two flights: the flush kept the transaction open */
    /* READ COMMITTED comes from the sessions' startup options, not the server's default: a
     * database whose default is SERIALIZABLE, and a pool on it. */
    ck_assert_int_eq(command_run(pool, "DROP DATABASE IF EXISTS flight_isolation"), DB_OK);
    ck_assert_int_eq(command_run(pool, "CREATE DATABASE flight_isolation"), DB_OK);
    ck_assert_int_eq(command_run(pool, "ALTER DATABASE flight_isolation SET "
                                       "default_transaction_isolation = 'serializable'"),
                     DB_OK);
    char url[512]; /* a key=value URL, as scripts/test.sh gives: a later dbname wins */
    snprintf(url, sizeof url, "%s dbname=flight_isolation", getenv("ATTACHD_TEST_DATABASE_URL"));
    struct db_pool *serializable;
    ck_assert_int_eq(db_pool_new(url, 1, 3000, &serializable), DB_OK);
    ck_assert_int_eq(db_transaction_implicit(serializable, tx_read_committed, &rc), DB_OK);
    db_pool_free(serializable);
    ck_assert(rc);
    ck_assert_int_eq(command_run(pool, "DROP DATABASE flight_isolation WITH (FORCE)"), DB_OK);
    teardown_pool();
}
END_TEST

/* The sessions plan for data in memory or on SSDs (pool.c): with PostgreSQL's 4.0 a small
 * catalogue is read whole at every lookup by id (docs/PERFORMANCE.md, round 14). */
static struct db_stmt q_page_cost = DB_READ("SELECT current_setting('random_page_cost')");

START_TEST(test_sessions_plan_for_data_in_memory)
{
    if (!setup_pool())
        return;
    PGresult *r = NULL;
    ck_assert_int_eq(db_run(pool, &q_page_cost, 0, NULL, &r), DB_OK);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "1.1");
    PQclear(r);
    teardown_pool();
}
END_TEST

START_TEST(test_a_failure_in_an_implicit_flight_rolls_back_and_keeps_the_session)
{
    if (!setup_pool())
        return;
    struct flight_case fc = {.base = 3200};
    ck_assert_int_eq(db_transaction_implicit(pool, tx_failing_middle, &fc), DB_ERROR);
    ck_assert(!fc.second_result);
    /* The same session (the TEMP table is there), and nothing of the transaction in it. */
    ck_assert_int_eq(count_from(3200), 0);
    teardown_pool();
}
END_TEST

/* One insert in a flight of its own, then fn returns *arg without committing. */
static enum db_status tx_insert_then(struct db_conn *c, void *arg)
{
    const char *v[1] = {"3300"};
    enum db_status st = db_query(c, &q_insert_kept, 1, v, NULL);
    return st == DB_OK ? *(enum db_status *)arg : st;
}

START_TEST(test_an_implicit_transaction_commits_when_fn_succeeds_and_not_when_it_gives_up)
{
    if (!setup_pool())
        return;
    ck_assert_int_eq(command_run(pool, "DELETE FROM flight_probe_kept WHERE id = 3300"), DB_OK);
    enum db_status abort = DB_ABORT, ok = DB_OK;
    ck_assert_int_eq(db_transaction_implicit(pool, tx_insert_then, &abort), DB_ABORT);
    ck_assert_int_eq(count_of(&q_count_kept, 3300), 0);
    ck_assert_int_eq(db_transaction_implicit(pool, tx_insert_then, &ok), DB_OK);
    ck_assert_int_eq(count_of(&q_count_kept, 3300), 1);
    ck_assert_int_eq(command_run(pool, "DELETE FROM flight_probe_kept WHERE id = 3300"), DB_OK);
    teardown_pool();
}
END_TEST

/* A duplicate of a key checked at COMMIT: the statements succeed, the commit fails. */
static enum db_status tx_deferred_duplicate(struct db_conn *c, void *arg)
{
    bool *committed = arg;
    const char *v[1] = {"3400"};
    enum db_status st = db_query(c, &q_insert_deferred, 1, v, NULL);
    if (st != DB_OK)
        return st;
    db_commit_with_next(c);
    st = db_query(c, &q_insert_deferred, 1, v, NULL);
    *committed = db_committed(c);
    return st;
}

START_TEST(test_a_failed_implicit_commit_is_the_transactions_failure)
{
    if (!setup_pool())
        return;
    bool committed = true;
    ck_assert_int_eq(db_transaction_implicit(pool, tx_deferred_duplicate, &committed),
                     DB_UNIQUE_VIOLATION);
    ck_assert(!committed);
    ck_assert_int_eq(count_of(&q_count_deferred, 3400), 0);
    teardown_pool();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_flight");
    TCase *tc = tcase_create("flight");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_a_failure_in_a_flight_stops_it_and_rolls_back);
    tcase_add_test(tc, test_commit_goes_with_the_last_statement_and_not_after_its_failure);
    tcase_add_test(tc, test_begin_is_sent_with_the_first_statement);
    tcase_add_test(tc, test_a_session_lost_in_a_flight_is_unavailable_and_replaced);
    tcase_add_test(tc, test_an_implicit_transaction_commits_at_the_sync_of_its_last_flight);
    tcase_add_test(tc, test_an_implicit_transaction_spans_its_flights_in_read_committed);
    tcase_add_test(tc, test_a_failure_in_an_implicit_flight_rolls_back_and_keeps_the_session);
    tcase_add_test(tc,
                   test_an_implicit_transaction_commits_when_fn_succeeds_and_not_when_it_gives_up);
    tcase_add_test(tc, test_a_failed_implicit_commit_is_the_transactions_failure);
    tcase_add_test(tc, test_a_read_answered_by_a_yield_is_reported_by_the_next_run);
    tcase_add_test(tc, test_sessions_plan_for_data_in_memory);
    suite_add_tcase(s, tc);
    return unit_run(s);
}
