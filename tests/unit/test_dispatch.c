/* server_dispatch without libmicrohttpd or a database: routing outcomes, the body limit,
 * authentication failing closed before any database work (conn and db are NULL), and requests
 * with stubbed headers and principal reaching the body parser. */
#include <stdlib.h>
#include <string.h>
#include "attachd/router.h"
#include "attachd/server.h"
#include "unit.h"

static struct app app = {.db = NULL, .body_limit = 1024};

static void dispatch(const char *method, const char *path, bool body_too_large, struct request *req,
                     struct response *res)
{
    memset(req, 0, sizeof *req);
    memset(res, 0, sizeof *res);
    req->app = &app;
    req->conn = NULL;
    req->method = method;
    req->path = path;
    req->body_too_large = body_too_large;
    server_dispatch(req, res);
}

static void response_free(struct response *res)
{
    json_decref(res->json);
    json_decref(res->errors);
    json_decref(res->extra);
    free(res->raw);
}

START_TEST(test_unknown_route_is_404_route_not_found)
{
    struct request req;
    struct response res;
    dispatch("GET", "/v1/nope", false, &req, &res);
    ck_assert_uint_eq(res.status, 404);
    ck_assert_int_eq(res.problem, API_ROUTE_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(res.detail, "/v1/nope"));
    ck_assert_ptr_null(req.route);
    response_free(&res);
}
END_TEST

START_TEST(test_wrong_method_is_405_with_allow)
{
    struct request req;
    struct response res;
    dispatch("DELETE", "/v1/settlements", false, &req, &res);
    ck_assert_uint_eq(res.status, 405);
    ck_assert_int_eq(res.problem, API_METHOD_NOT_ALLOWED);
    ck_assert_str_eq(res.allow, "GET, POST");
    response_free(&res);
}
END_TEST

START_TEST(test_protected_route_without_authorization_is_401)
{
    struct request req;
    struct response res;
    dispatch("GET", "/v1/settlements", false, &req, &res);
    ck_assert_uint_eq(res.status, 401);
    ck_assert_int_eq(res.problem, API_UNAUTHORIZED);
    ck_assert_ptr_nonnull(req.route);
    ck_assert_str_eq(req.route->pattern, "/v1/settlements");
    ck_assert_int_eq(req.who.role, ROLE_NONE);
    response_free(&res);
}
END_TEST

START_TEST(test_oversized_body_on_known_route_is_413)
{
    struct request req;
    struct response res;
    dispatch("POST", "/v1/settlements", true, &req, &res);
    ck_assert_uint_eq(res.status, 413);
    ck_assert_int_eq(res.problem, API_PAYLOAD_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(res.detail, "1024"));
    response_free(&res);
}
END_TEST

START_TEST(test_public_route_runs_without_a_token)
{
    struct request req;
    struct response res;
    dispatch("GET", "/healthz", false, &req, &res);
    ck_assert_uint_eq(res.status, 200);
    ck_assert_int_eq(res.problem, API_OK);
    ck_assert_str_eq(json_string_value(json_object_get(res.json, "status")), "ok");
    response_free(&res);
}
END_TEST

START_TEST(test_path_parameter_reaches_the_request)
{
    struct request req;
    struct response res;
    dispatch("GET", "/v1/polyclinics/42/districts", false, &req, &res);
    ck_assert_uint_eq(res.status, 401); /* stopped at authentication, after routing */
    ck_assert_str_eq(req.params[0], "42");
    response_free(&res);
}
END_TEST

/* A stubbed request (no connection): the body parser behind authentication. */
static void dispatch_as(enum role role, const char *method, const char *path, const char *body,
                        const char *const *headers, struct request *req, struct response *res)
{
    memset(req, 0, sizeof *req);
    memset(res, 0, sizeof *res);
    req->app = &app;
    req->method = method;
    req->path = path;
    req->stub_headers = headers;
    req->stub_authenticated = true;
    req->who.role = role;
    req->body = (char *)body;
    req->body_len = strlen(body);
    server_dispatch(req, res);
}

static const char *const json_headers[] = {"content-type", "application/json", NULL};

START_TEST(test_stub_principal_of_another_role_is_403)
{
    struct request req;
    struct response res;
    dispatch_as(ROLE_PORTAL, "POST", "/v1/settlements", "{}", json_headers, &req, &res);
    ck_assert_uint_eq(res.status, 403);
    ck_assert_int_eq(res.problem, API_FORBIDDEN);
    response_free(&res);
}
END_TEST

/* SPEC §11 strict queries: an undeclared query parameter is a 422 naming it, answered before the
 * handler runs (with app.db NULL a handler reaching the database could not answer at all). */
START_TEST(test_unknown_query_parameter_is_422_before_the_handler)
{
    static const char *const query[] = {"dry_run", "true", "limit", "5", NULL};
    struct request req;
    struct response res;
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    req.app = &app;
    req.method = "GET";
    req.path = "/v1/settlements";
    req.stub_query = query;
    req.stub_authenticated = true;
    req.who.role = ROLE_ADMIN;
    server_dispatch(&req, &res);
    ck_assert_uint_eq(res.status, 422);
    ck_assert_int_eq(res.problem, API_VALIDATION);
    ck_assert_uint_eq(json_array_size(res.errors), 1); /* limit is declared: not named */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(res.errors, 0), "field")),
                     "dry_run");
    response_free(&res);
}
END_TEST

START_TEST(test_stub_headers_reach_the_body_parser)
{
    struct request req;
    struct response res;
    dispatch_as(ROLE_ADMIN, "POST", "/v1/settlements", "{\"kato\": 1}", json_headers, &req, &res);
    ck_assert_uint_eq(res.status, 422);
    ck_assert_uint_eq(json_array_size(res.errors), 3); /* kato's type, two names missing */
    response_free(&res);
    dispatch_as(ROLE_ADMIN, "POST", "/v1/settlements", "{\"kato\": 1}", NULL, &req, &res);
    ck_assert_uint_eq(res.status, 415); /* no Content-Type */
    response_free(&res);
}
END_TEST

START_TEST(test_long_unknown_unicode_key_is_422_not_a_silent_200)
{
    /* The field path holds 159 bytes: 120 two-byte letters are cut inside one. */
    char body[300] = "{\"";
    for (int i = 0; i < 120; i++)
        strcat(body, "\xd0\xb6");
    strcat(body, "\": 1}");
    struct request req;
    struct response res;
    dispatch_as(ROLE_ADMIN, "PATCH", "/v1/districts/1", body, json_headers, &req, &res);
    ck_assert_uint_eq(res.status, 422);
    ck_assert_int_eq(res.problem, API_VALIDATION);
    ck_assert_uint_eq(json_array_size(res.errors), 1);
    response_free(&res);
}
END_TEST

static Suite *dispatch_suite(void)
{
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("dispatch");
    tcase_add_test(tc, test_unknown_route_is_404_route_not_found);
    tcase_add_test(tc, test_wrong_method_is_405_with_allow);
    tcase_add_test(tc, test_protected_route_without_authorization_is_401);
    tcase_add_test(tc, test_oversized_body_on_known_route_is_413);
    tcase_add_test(tc, test_public_route_runs_without_a_token);
    tcase_add_test(tc, test_path_parameter_reaches_the_request);
    tcase_add_test(tc, test_stub_principal_of_another_role_is_403);
    tcase_add_test(tc, test_stub_headers_reach_the_body_parser);
    tcase_add_test(tc, test_unknown_query_parameter_is_422_before_the_handler);
    tcase_add_test(tc, test_long_unknown_unicode_key_is_422_not_a_silent_200);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(dispatch_suite());
}
