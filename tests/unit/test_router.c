/* Path matching: literal and {param} segments, 404 versus 405 with the Allow list, strict
 * slashes, and parameters that do not fit the caller's buffer. */
#include <string.h>
#include "attachd/api.h"
#include "attachd/router.h"
#include "unit.h"

/* The router never calls handlers, so the local table needs none. */
static const struct route local[] = {
    {"GET", "/healthz", NULL, 0, "h"},
    {"GET", "/v1/polyclinics", NULL, 0, "l"},
    {"POST", "/v1/polyclinics", NULL, 0, "c"},
    {"GET", "/v1/polyclinics/{id}/districts", NULL, 0, "d"},
    {"GET", "/v1/a/{x}/b/{y}", NULL, 0, "two"},
    {"GET", "/v1/c/current", NULL, 0, "literal before parameter"},
    {"GET", "/v1/c/{year}", NULL, 0, "y"},
    {"PUT", "/v1/c/{year}", NULL, 0, "p"},
};
#define NLOCAL (sizeof local / sizeof local[0])

struct match {
    enum route_result rr;
    const struct route *found;
    const char *params[ROUTE_MAX_PARAMS];
    char buf[256];
    char allow[64];
};

static void match_in(const struct route *routes, size_t n, const char *method, const char *path,
                     struct match *m)
{
    memset(m, 0, sizeof *m);
    m->rr = router_match(routes, n, method, path, &m->found, m->params, m->buf, sizeof m->buf,
                         m->allow, sizeof m->allow);
}

START_TEST(test_literal_path_matches_its_route)
{
    struct match m;
    match_in(local, NLOCAL, "GET", "/healthz", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert_ptr_eq(m.found, &local[0]);
}
END_TEST

START_TEST(test_parameter_segment_is_captured)
{
    struct match m;
    match_in(local, NLOCAL, "GET", "/v1/polyclinics/42/districts", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert_ptr_eq(m.found, &local[3]);
    ck_assert_str_eq(m.params[0], "42");
}
END_TEST

START_TEST(test_two_parameters_are_captured_in_pattern_order)
{
    struct match m;
    match_in(local, NLOCAL, "GET", "/v1/a/first/b/second", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert_str_eq(m.params[0], "first");
    ck_assert_str_eq(m.params[1], "second");
}
END_TEST

START_TEST(test_unknown_path_is_not_found)
{
    static const char *const paths[] = {
        "/nope", "/v1",     "/v1/polyclinics/42", "/",
        "",      "healthz", "/healthzz",          "/v1/polyclinics/42/districts/7"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct match m;
        match_in(local, NLOCAL, "GET", paths[i], &m);
        ck_assert_msg(m.rr == ROUTE_NOT_FOUND, "\"%s\" must be 404", paths[i]);
        ck_assert_str_eq(m.allow, "");
    }
}
END_TEST

START_TEST(test_known_path_with_other_method_lists_allowed_methods)
{
    struct match m;
    match_in(local, NLOCAL, "DELETE", "/v1/polyclinics", &m);
    ck_assert_int_eq(m.rr, ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(m.allow, "GET, POST");
}
END_TEST

/* /v1/c/current matches both GET routes: Allow must still name GET once. */
START_TEST(test_allow_lists_each_method_once)
{
    struct match m;
    match_in(local, NLOCAL, "DELETE", "/v1/c/current", &m);
    ck_assert_int_eq(m.rr, ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(m.allow, "GET, PUT");
}
END_TEST

START_TEST(test_trailing_slash_is_a_different_path)
{
    struct match m;
    match_in(local, NLOCAL, "GET", "/healthz/", &m);
    ck_assert_int_eq(m.rr, ROUTE_NOT_FOUND);
    match_in(local, NLOCAL, "GET", "/v1/polyclinics/42/districts/", &m);
    ck_assert_int_eq(m.rr, ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(test_empty_segment_never_matches)
{
    static const char *const paths[] = {"/v1/polyclinics//districts", "//healthz",
                                        "/v1//polyclinics", "/v1/a//b/y"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct match m;
        match_in(local, NLOCAL, "GET", paths[i], &m);
        ck_assert_msg(m.rr == ROUTE_NOT_FOUND, "\"%s\" must be 404", paths[i]);
    }
}
END_TEST

/* buf is followed by a canary: a parameter longer than buf must be refused, not copied. */
START_TEST(test_overlong_parameter_is_rejected_without_overflow)
{
    struct {
        char buf[8];
        char canary[8];
    } mem;
    memset(&mem, 'Z', sizeof mem);
    const char *params[ROUTE_MAX_PARAMS] = {0};
    const struct route *found = NULL;
    char allow[64];
    enum route_result rr =
        router_match(local, NLOCAL, "GET", "/v1/polyclinics/123456789/districts", &found, params,
                     mem.buf, sizeof mem.buf, allow, sizeof allow);
    ck_assert_int_ne(rr, ROUTE_FOUND);
    for (size_t i = 0; i < sizeof mem.canary; i++)
        ck_assert_int_eq(mem.canary[i], 'Z');

    /* Seven characters and the NUL fill buf exactly: still accepted. */
    rr = router_match(local, NLOCAL, "GET", "/v1/polyclinics/1234567/districts", &found, params,
                      mem.buf, sizeof mem.buf, allow, sizeof allow);
    ck_assert_int_eq(rr, ROUTE_FOUND);
    ck_assert_str_eq(params[0], "1234567");
    ck_assert_int_eq(mem.canary[0], 'Z');
}
END_TEST

START_TEST(test_overlong_parameter_on_real_routes_is_not_found)
{
    char path[400] = "/v1/settlements/";
    memset(path + strlen(path), '7', 300);
    struct match m;
    match_in(attachd_routes, attachd_nroutes, "GET", path, &m);
    ck_assert_int_eq(m.rr, ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(test_small_allow_buffer_stays_terminated)
{
    struct {
        char allow[6];
        char canary[4];
    } mem;
    memset(&mem, 'Z', sizeof mem);
    const struct route *found = NULL;
    const char *params[ROUTE_MAX_PARAMS];
    char buf[64];
    enum route_result rr = router_match(local, NLOCAL, "DELETE", "/v1/polyclinics", &found, params,
                                        buf, sizeof buf, mem.allow, sizeof mem.allow);
    ck_assert_int_eq(rr, ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_ptr_nonnull(memchr(mem.allow, '\0', sizeof mem.allow));
    ck_assert_int_eq(mem.canary[0], 'Z');
}
END_TEST

START_TEST(test_real_routes_capture_polyclinic_id)
{
    struct match m;
    match_in(attachd_routes, attachd_nroutes, "GET", "/v1/polyclinics/42/districts", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert(m.found->handler == api_districts_list);
    ck_assert_str_eq(m.params[0], "42");

    match_in(attachd_routes, attachd_nroutes, "POST", "/v1/polyclinics/42/districts", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert(m.found->handler == api_districts_create);
}
END_TEST

START_TEST(test_real_literal_segment_wins_over_parameter)
{
    struct match m;
    match_in(attachd_routes, attachd_nroutes, "GET", "/v1/campaigns/current", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert(m.found->handler == api_campaigns_current);

    match_in(attachd_routes, attachd_nroutes, "PUT", "/v1/campaigns/2026", &m);
    ck_assert_int_eq(m.rr, ROUTE_FOUND);
    ck_assert(m.found->handler == api_campaigns_put);
    ck_assert_str_eq(m.params[0], "2026");
}
END_TEST

START_TEST(test_real_routes_answer_405_with_allow)
{
    struct match m;
    match_in(attachd_routes, attachd_nroutes, "DELETE", "/v1/polyclinics", &m);
    ck_assert_int_eq(m.rr, ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(m.allow, "GET, POST");

    match_in(attachd_routes, attachd_nroutes, "DELETE", "/v1/campaigns/current", &m);
    ck_assert_int_eq(m.rr, ROUTE_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(m.allow, "GET, PUT");

    match_in(attachd_routes, attachd_nroutes, "GET", "/v1/nope", &m);
    ck_assert_int_eq(m.rr, ROUTE_NOT_FOUND);
}
END_TEST

/* Every route is reachable: its pattern with each {param} replaced finds that very route,
 * so no earlier route shadows it. */
START_TEST(test_every_real_route_is_reachable)
{
    for (size_t i = 0; i < attachd_nroutes; i++) {
        char path[256] = "";
        size_t used = 0;
        for (const char *p = attachd_routes[i].pattern; *p && used < sizeof path - 2;) {
            if (*p == '{') {
                path[used++] = '7';
                p = strchr(p, '}') + 1;
            } else {
                path[used++] = *p++;
            }
        }
        path[used] = '\0';
        struct match m;
        match_in(attachd_routes, attachd_nroutes, attachd_routes[i].method, path, &m);
        ck_assert_msg(m.rr == ROUTE_FOUND && m.found == &attachd_routes[i], "%s %s not reached",
                      attachd_routes[i].method, attachd_routes[i].pattern);
    }
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, test_literal_path_matches_its_route);
    tcase_add_test(tc, test_parameter_segment_is_captured);
    tcase_add_test(tc, test_two_parameters_are_captured_in_pattern_order);
    tcase_add_test(tc, test_unknown_path_is_not_found);
    tcase_add_test(tc, test_known_path_with_other_method_lists_allowed_methods);
    tcase_add_test(tc, test_allow_lists_each_method_once);
    tcase_add_test(tc, test_trailing_slash_is_a_different_path);
    tcase_add_test(tc, test_empty_segment_never_matches);
    tcase_add_test(tc, test_overlong_parameter_is_rejected_without_overflow);
    tcase_add_test(tc, test_overlong_parameter_on_real_routes_is_not_found);
    tcase_add_test(tc, test_small_allow_buffer_stays_terminated);
    tcase_add_test(tc, test_real_routes_capture_polyclinic_id);
    tcase_add_test(tc, test_real_literal_segment_wins_over_parameter);
    tcase_add_test(tc, test_real_routes_answer_405_with_allow);
    tcase_add_test(tc, test_every_real_route_is_reachable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(router_suite());
}
