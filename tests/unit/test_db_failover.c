/* What the pool does when its primary goes away: the SQLSTATE table that decides a server is
 * lost (issue 11), and a connect that never runs past ATTACHD_DB_WAIT_MS, even against a server
 * that accepts the TCP connection and then says nothing. No database is needed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "attachd/db.h"
#include "unit.h"

static enum db_status status_of(const char *state, bool *lost)
{
    return db_status_of_sqlstate(state, lost);
}

START_TEST(test_read_only_after_failover_means_server_lost)
{
    bool lost = false;
    ck_assert_int_eq(status_of("25006", &lost), DB_UNAVAILABLE);
    ck_assert(lost);
}
END_TEST

START_TEST(test_shutdown_and_connection_failures_mean_server_lost)
{
    const char *states[] = {"57P01", "57P02", "57P03", "08006", "08003", "08001", "", NULL};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        bool lost = false;
        ck_assert_int_eq(status_of(states[i], &lost), DB_UNAVAILABLE);
        ck_assert_msg(lost, "%s should mean the server is lost", states[i] ? states[i] : "NULL");
    }
}
END_TEST

START_TEST(test_constraint_and_retry_states_keep_the_server)
{
    const struct {
        const char *state;
        enum db_status status;
    } cases[] = {
        {"23505", DB_UNIQUE_VIOLATION},
        {"23P01", DB_EXCLUSION_VIOLATION},
        {"23514", DB_CHECK_VIOLATION},
        {"23502", DB_CHECK_VIOLATION},
        {"22P02", DB_CHECK_VIOLATION},
        {"23503", DB_FK_VIOLATION},
        {"40001", DB_RETRY},
        {"40P01", DB_RETRY},
        {"57014", DB_ERROR}, /* query_canceled: class 57 but the server is fine */
        {"25P02", DB_ERROR}, /* in_failed_sql_transaction: a bug of ours, not a failover */
        {"42P01", DB_ERROR},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool lost = true;
        ck_assert_int_eq(status_of(cases[i].state, &lost), cases[i].status);
        ck_assert_msg(!lost, "%s should not drop the server's sessions", cases[i].state);
    }
}
END_TEST

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A listening socket that never accepts: the kernel completes the handshake, then silence. */
static int silent_server(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

START_TEST(test_connect_to_a_silent_server_ends_at_the_wait_limit)
{
    unsigned port;
    int fd = silent_server(&port);
    char conninfo[256];
    /* libpq's own connect_timeout (10 s per host, two hosts) must not be what bounds it. */
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1,127.0.0.1 port=%u,%u dbname=x user=x connect_timeout=10 "
             "sslmode=disable gssencmode=disable",
             port, port);
    struct db_pool *pool;
    ck_assert_int_eq(db_pool_new(conninfo, 1, 300, &pool), DB_OK);
    struct db_conn *c = NULL;
    double t0 = seconds_now();
    ck_assert_int_eq(db_acquire(pool, &c), DB_UNAVAILABLE);
    double took = seconds_now() - t0;
    ck_assert_msg(took >= 0.25 && took < 1.0, "connect took %.3f s with a 300 ms wait", took);
    char schema[64];
    ck_assert_int_eq(db_primary_schema(pool, schema, sizeof schema), DB_UNAVAILABLE);
    db_pool_free(pool);
    close(fd);
}
END_TEST

START_TEST(test_no_host_listening_is_unavailable_at_once)
{
    unsigned port;
    int fd = silent_server(&port);
    close(fd); /* nobody listens there now: connection refused on both hosts */
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1,127.0.0.1 port=%u,%u dbname=x user=x sslmode=disable "
             "gssencmode=disable",
             port, port);
    struct db_pool *pool;
    ck_assert_int_eq(db_pool_new(conninfo, 1, 3000, &pool), DB_OK);
    struct db_conn *c = NULL;
    double t0 = seconds_now();
    ck_assert_int_eq(db_acquire(pool, &c), DB_UNAVAILABLE);
    ck_assert_msg(seconds_now() - t0 < 0.5, "refused hosts should fail at once");
    db_pool_free(pool);
}
END_TEST

START_TEST(test_a_silent_host_is_left_out_of_the_next_connects)
{
    unsigned silent, closed;
    int fd = silent_server(&silent);
    close(silent_server(&closed)); /* nobody listens there: refused at once */
    char conninfo[256];
    snprintf(conninfo, sizeof conninfo,
             "host=127.0.0.1,127.0.0.1 port=%u,%u dbname=x user=x sslmode=disable "
             "gssencmode=disable",
             silent, closed);
    struct db_pool *pool;
    ck_assert_int_eq(db_pool_new(conninfo, 1, 300, &pool), DB_OK);
    struct db_conn *c = NULL;
    ck_assert_int_eq(db_acquire(pool, &c), DB_UNAVAILABLE); /* held up by the silent host */
    usleep(600 * 1000);                                     /* past the reconnect spacing */
    double t0 = seconds_now();
    ck_assert_int_eq(db_acquire(pool, &c), DB_UNAVAILABLE);
    double took = seconds_now() - t0;
    /* Only the refusing host is tried now: with the silent one first it would take 300 ms. */
    ck_assert_msg(took < 0.15, "the second connect took %.3f s", took);
    db_pool_free(pool);
    close(fd);
}
END_TEST

static Suite *failover_suite(void)
{
    Suite *s = suite_create("db_failover");
    TCase *tc = tcase_create("db_failover");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_read_only_after_failover_means_server_lost);
    tcase_add_test(tc, test_shutdown_and_connection_failures_mean_server_lost);
    tcase_add_test(tc, test_constraint_and_retry_states_keep_the_server);
    tcase_add_test(tc, test_connect_to_a_silent_server_ends_at_the_wait_limit);
    tcase_add_test(tc, test_no_host_listening_is_unavailable_at_once);
    tcase_add_test(tc, test_a_silent_host_is_left_out_of_the_next_connects);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(failover_suite());
}
