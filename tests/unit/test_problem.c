/* The API status table (HTTP status, stable code, title), the problem+json body, and the
 * response helpers around it (CSV negotiation, streamed bodies). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "attachd/http.h"
#include "attachd/problem.h"
#include "unit.h"

START_TEST(test_every_error_status_is_4xx_or_5xx)
{
    ck_assert_uint_eq(api_status_info(API_OK)->http_status, 200);
    for (int st = API_OK + 1; st < API_STATUS_COUNT; st++) {
        unsigned http = api_status_info((enum api_status)st)->http_status;
        ck_assert_msg(http >= 400 && http <= 599, "status %d maps to %u", st, http);
    }
}
END_TEST

START_TEST(test_every_status_has_code_and_title)
{
    for (int st = 0; st < API_STATUS_COUNT; st++) {
        const struct api_status_info *info = api_status_info((enum api_status)st);
        ck_assert_msg(info->code && *info->code, "status %d has no code", st);
        ck_assert_msg(info->title && *info->title, "status %d has no title", st);
        ck_assert_msg(strspn(info->code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(info->code),
                      "code %s is not UPPER_SNAKE", info->code);
    }
}
END_TEST

START_TEST(test_codes_are_unique)
{
    for (int a = 0; a < API_STATUS_COUNT; a++)
        for (int b = a + 1; b < API_STATUS_COUNT; b++)
            ck_assert_str_ne(api_status_info((enum api_status)a)->code,
                             api_status_info((enum api_status)b)->code);
}
END_TEST

START_TEST(test_required_statuses_map_as_specified)
{
    static const struct {
        enum api_status st;
        unsigned http;
        const char *code;
    } want[] = {
        {API_BAD_JSON, 400, "MALFORMED_JSON"},
        {API_UNAUTHORIZED, 401, NULL},
        {API_FORBIDDEN, 403, NULL},
        {API_NOT_FOUND, 404, NULL},
        {API_ROUTE_NOT_FOUND, 404, "ROUTE_NOT_FOUND"},
        {API_METHOD_NOT_ALLOWED, 405, NULL},
        {API_CONFLICT, 409, NULL},
        {API_PAYLOAD_TOO_LARGE, 413, NULL},
        {API_UNSUPPORTED_MEDIA, 415, NULL},
        {API_VALIDATION, 422, NULL},
        {API_INTERNAL, 500, NULL},
        {API_DB_UNAVAILABLE, 503, NULL},
        {API_PENDING_EXISTS, 409, "PENDING_EXISTS"},
        {API_NOT_PENDING, 409, "NOT_PENDING"},
        {API_IDEMPOTENCY_REUSE, 422, "IDEMPOTENCY_KEY_REUSED"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct api_status_info *info = api_status_info(want[i].st);
        ck_assert_uint_eq(info->http_status, want[i].http);
        if (want[i].code)
            ck_assert_str_eq(info->code, want[i].code);
    }
}
END_TEST

/* §12 "every code in the catalogue is one the service can answer": each status but API_OK is
 * named somewhere in src/ besides the table itself. A new status must be added here too (the
 * count is checked), and one no code uses any more must leave the table. */
static const struct {
    enum api_status st;
    const char *name;
} status_names[] = {
    {API_OK, "API_OK"},
    {API_BAD_JSON, "API_BAD_JSON"},
    {API_UNAUTHORIZED, "API_UNAUTHORIZED"},
    {API_FORBIDDEN, "API_FORBIDDEN"},
    {API_NOT_FOUND, "API_NOT_FOUND"},
    {API_ROUTE_NOT_FOUND, "API_ROUTE_NOT_FOUND"},
    {API_METHOD_NOT_ALLOWED, "API_METHOD_NOT_ALLOWED"},
    {API_CONFLICT, "API_CONFLICT"},
    {API_PENDING_EXISTS, "API_PENDING_EXISTS"},
    {API_NOT_PENDING, "API_NOT_PENDING"},
    {API_PAYLOAD_TOO_LARGE, "API_PAYLOAD_TOO_LARGE"},
    {API_UNSUPPORTED_MEDIA, "API_UNSUPPORTED_MEDIA"},
    {API_VALIDATION, "API_VALIDATION"},
    {API_IDEMPOTENCY_REUSE, "API_IDEMPOTENCY_REUSE"},
    {API_INTERNAL, "API_INTERNAL"},
    {API_DB_UNAVAILABLE, "API_DB_UNAVAILABLE"},
};

/* True when `name` appears as a whole identifier in text. */
static bool names(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        bool starts = p == text || !(p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z') ||
                                     (p[-1] >= '0' && p[-1] <= '9'));
        char after = p[n];
        bool ends =
            !(after == '_' || (after >= 'A' && after <= 'Z') || (after >= '0' && after <= '9'));
        if (starts && ends)
            return true;
    }
    return false;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[len] = '\0';
    fclose(f);
    return buf;
}

/* Whether any .c file under src/<dir> (but the table, src/http/problem.c) names `name`. */
static bool used_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/src/%s", ATTACHD_SOURCE_DIR, dir);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot read %s", path);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0 ||
            (strcmp(dir, "http") == 0 && strcmp(e->d_name, "problem.c") == 0))
            continue;
        char file[800];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        char *text = read_all(file);
        found = text && names(text, name);
        free(text);
    }
    closedir(d);
    return found;
}

START_TEST(test_every_problem_code_is_answered_somewhere)
{
    ck_assert_int_eq(sizeof status_names / sizeof status_names[0], API_STATUS_COUNT);
    static const char *const dirs[] = {".", "http", "api", "db", "domain"};
    for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++) {
        ck_assert_int_eq(status_names[i].st, (int)i);
        if (status_names[i].st == API_OK)
            continue;
        bool used = false;
        for (size_t d = 0; d < sizeof dirs / sizeof dirs[0] && !used; d++)
            used = used_in(dirs[d], status_names[i].name);
        ck_assert_msg(used, "%s (%s) is in the problem table but the service never answers it",
                      status_names[i].name, api_status_info(status_names[i].st)->code);
    }
}
END_TEST

START_TEST(test_out_of_range_status_reads_as_internal_error)
{
    const struct api_status_info *info = api_status_info(API_STATUS_COUNT);
    ck_assert_ptr_nonnull(info);
    ck_assert_uint_eq(info->http_status, 500);
    ck_assert_ptr_eq(api_status_info((enum api_status) - 1), api_status_info(API_INTERNAL));
}
END_TEST

START_TEST(test_problem_body_has_all_members_and_errors)
{
    struct response res = {0};
    res_field_error(&res, "person.iin", "must be %d digits", 12);
    char *text =
        problem_body(API_VALIDATION, "person.iin: must be 12 digits", res.errors, NULL, "/v1/x");
    ck_assert_ptr_nonnull(text);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "not JSON: %s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "about:blank");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "title")), "The request is not valid");
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 422);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "code")), "VALIDATION_FAILED");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "detail")),
                     "person.iin: must be 12 digits");
    ck_assert_str_eq(json_string_value(json_object_get(doc, "instance")), "/v1/x");
    json_t *errors = json_object_get(doc, "errors");
    ck_assert(json_is_array(errors));
    ck_assert_uint_eq(json_array_size(errors), 1);
    json_t *e0 = json_array_get(errors, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e0, "field")), "person.iin");
    ck_assert_str_eq(json_string_value(json_object_get(e0, "message")), "must be 12 digits");
    json_decref(doc);
    free(text);
    /* problem_body borrows errors: the caller's reference is still the caller's to drop. */
    ck_assert_int_eq(res.errors->refcount, 1);
    json_decref(res.errors);
}
END_TEST

START_TEST(test_problem_body_omits_empty_detail_and_merges_extra)
{
    json_t *extra = json_pack("{s:s}", "ready", "no");
    char *text = problem_body(API_DB_UNAVAILABLE, "", NULL, extra, NULL);
    json_t *doc = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    ck_assert_ptr_null(json_object_get(doc, "detail"));
    ck_assert_ptr_null(json_object_get(doc, "errors"));
    ck_assert_ptr_null(json_object_get(doc, "instance"));
    ck_assert_int_eq(json_integer_value(json_object_get(doc, "status")), 503);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "ready")), "no");
    json_decref(doc);
    json_decref(extra);
    free(text);
}
END_TEST

START_TEST(test_field_error_cut_inside_a_character_is_still_recorded)
{
    /* 100 two-byte letters: the 200-byte buffer (199 and a NUL) cuts the last one in half. */
    char field[256] = "";
    for (int i = 0; i < 100; i++)
        strcat(field, "\xd0\xb6");
    strcat(field, "x");
    struct response res = {0};
    res_field_error(&res, field, "is not a known field");
    ck_assert_uint_eq(json_array_size(res.errors), 1);
    const char *got = json_string_value(json_object_get(json_array_get(res.errors, 0), "field"));
    ck_assert_uint_eq(strlen(got), 198); /* the half character is dropped */
    ck_assert_int_eq(res_validation_result(&res), API_VALIDATION);
    ck_assert_uint_eq(res.status, 422);
    json_decref(res.errors);
}
END_TEST

START_TEST(test_detail_that_is_not_utf8_reaches_the_body)
{
    struct response res = {0};
    res_problem(&res, API_ROUTE_NOT_FOUND, "No route for %s", "/v1/\xff\xc3x");
    ck_assert_str_eq(res.detail, "No route for /v1/??x");
    char *text = problem_body(res.problem, res.detail, NULL, NULL, NULL);
    json_t *doc = json_loads(text, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "detail")), "No route for /v1/??x");
    json_decref(doc);
    free(text);
}
END_TEST

/* The CSV answers (population list, reports) are chosen by the Accept header. */
START_TEST(test_accept_text_csv_anywhere_in_the_header_asks_for_csv)
{
    struct request req = {0};
    const char *csv[] = {"accept", "application/json;q=0.5, TEXT/CSV", NULL};
    const char *json[] = {"Accept", "application/json", NULL};
    ck_assert(!req_accepts_csv(&req));
    req.stub_headers = csv;
    ck_assert(req_accepts_csv(&req));
    req.stub_headers = json;
    ck_assert(!req_accepts_csv(&req));
}
END_TEST

static int stream_frees;

static long empty_read(void *ctx, char *buf, size_t max)
{
    (void)ctx, (void)buf, (void)max;
    return 0;
}

static void count_free(void *ctx)
{
    free(ctx);
    stream_frees++;
}

/* A streamed body owns its context: it is freed once, also when the response is never sent. */
START_TEST(test_stream_context_is_freed_once_when_the_response_goes)
{
    struct response res = {0};
    stream_frees = 0;
    ck_assert_int_eq(res_stream(&res, "text/csv", empty_read, malloc(16), count_free), API_OK);
    ck_assert_uint_eq(res.status, 200);
    ck_assert_ptr_nonnull(res.stream);
    ck_assert_int_eq(res_stream(&res, "text/csv", empty_read, malloc(16), count_free), API_OK);
    ck_assert_int_eq(stream_frees, 1); /* the first, replaced */
    MHD_destroy_response(res.stream);
    ck_assert_int_eq(stream_frees, 2);
}
END_TEST

static Suite *problem_suite(void)
{
    Suite *s = suite_create("problem");
    TCase *tc = tcase_create("problem");
    tcase_add_test(tc, test_every_error_status_is_4xx_or_5xx);
    tcase_add_test(tc, test_every_status_has_code_and_title);
    tcase_add_test(tc, test_codes_are_unique);
    tcase_add_test(tc, test_required_statuses_map_as_specified);
    tcase_add_test(tc, test_out_of_range_status_reads_as_internal_error);
    tcase_add_test(tc, test_every_problem_code_is_answered_somewhere);
    tcase_add_test(tc, test_problem_body_has_all_members_and_errors);
    tcase_add_test(tc, test_problem_body_omits_empty_detail_and_merges_extra);
    tcase_add_test(tc, test_field_error_cut_inside_a_character_is_still_recorded);
    tcase_add_test(tc, test_detail_that_is_not_utf8_reaches_the_body);
    tcase_add_test(tc, test_accept_text_csv_anywhere_in_the_header_asks_for_csv);
    tcase_add_test(tc, test_stream_context_is_freed_once_when_the_response_goes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(problem_suite());
}
