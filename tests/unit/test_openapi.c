/* The OpenAPI document is built from attachd_routes: every route is there, nothing else is,
 * and public routes say they need no token. */
#include <ctype.h>
#include <string.h>
#include "attachd/openapi.h"
#include "attachd/router.h"
#include "unit.h"

/* paths[route pattern][lowercase method], or NULL. */
static json_t *operation_of(json_t *doc, const struct route *r)
{
    char method[16] = "";
    for (size_t k = 0; k < sizeof method - 1 && r->method[k]; k++)
        method[k] = (char)tolower((unsigned char)r->method[k]);
    return json_object_get(json_object_get(json_object_get(doc, "paths"), r->pattern), method);
}

START_TEST(test_document_is_openapi_3_1)
{
    json_t *doc = openapi_document();
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(doc, "info"), "title"));
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    ck_assert_ptr_nonnull(json_object_get(schemas, "Problem"));
    json_decref(doc);
}
END_TEST

START_TEST(test_every_route_is_documented_under_its_pattern_and_method)
{
    json_t *doc = openapi_document();
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *op = operation_of(doc, r);
        ck_assert_msg(json_is_object(op), "%s %s is missing", r->method, r->pattern);
        ck_assert_str_eq(json_string_value(json_object_get(op, "summary")), r->summary);
    }
    json_decref(doc);
}
END_TEST

START_TEST(test_document_has_no_operation_without_a_route)
{
    json_t *doc = openapi_document();
    size_t noperations = 0;
    const char *pattern;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item) noperations +=
        json_object_size(item);
    ck_assert_uint_eq(noperations, attachd_nroutes);
    json_decref(doc);
}
END_TEST

START_TEST(test_public_routes_have_empty_security)
{
    json_t *doc = openapi_document();
    size_t npublic = 0;
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *security = json_object_get(operation_of(doc, r), "security");
        ck_assert_msg(json_is_array(security), "%s %s has no security", r->method, r->pattern);
        if (r->roles == 0) {
            npublic++;
            ck_assert_msg(json_array_size(security) == 0, "%s %s is public", r->method, r->pattern);
        } else {
            ck_assert_msg(json_object_get(json_array_get(security, 0), "bearer") != NULL,
                          "%s %s needs a bearer token", r->method, r->pattern);
        }
    }
    ck_assert_uint_gt(npublic, 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_path_parameters_are_declared)
{
    json_t *doc = openapi_document();
    const struct route *r = NULL;
    for (size_t i = 0; i < attachd_nroutes && !r; i++)
        if (strcmp(attachd_routes[i].pattern, "/v1/polyclinics/{id}/districts") == 0)
            r = &attachd_routes[i];
    ck_assert_ptr_nonnull(r);
    json_t *params = json_object_get(operation_of(doc, r), "parameters");
    ck_assert_uint_eq(json_array_size(params), 1);
    json_t *p0 = json_array_get(params, 0);
    ck_assert_str_eq(json_string_value(json_object_get(p0, "name")), "id");
    ck_assert_str_eq(json_string_value(json_object_get(p0, "in")), "path");
    ck_assert(json_is_true(json_object_get(p0, "required")));
    json_decref(doc);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("openapi");
    tcase_add_test(tc, test_document_is_openapi_3_1);
    tcase_add_test(tc, test_every_route_is_documented_under_its_pattern_and_method);
    tcase_add_test(tc, test_document_has_no_operation_without_a_route);
    tcase_add_test(tc, test_public_routes_have_empty_security);
    tcase_add_test(tc, test_path_parameters_are_declared);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(openapi_suite());
}
