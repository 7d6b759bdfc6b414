/* Declarative body parsing: every bad field is reported under its full path, values land in
 * the outs only when they pass. */
#include <string.h>
#include "attachd/jfields.h"
#include "attachd/kzid.h"
#include "unit.h"

#define NSPEC(spec) (sizeof(spec) / sizeof((spec)[0]))

static json_t *doc_of(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(doc != NULL, "bad test JSON %s: %s", text, jerr.text);
    return doc;
}

/* The message reported for field, or NULL when none was. */
static const char *message_for(const struct response *res, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(res->errors, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "field")), field) == 0)
            return json_string_value(json_object_get(e, "message"));
    }
    return NULL;
}

START_TEST(test_missing_required_field_is_reported_with_its_path)
{
    const char *iin = NULL;
    const struct jfield spec[] = {
        {.name = "iin", .type = JF_STRING, .flags = JF_REQUIRED, .out = &iin}};
    struct response res = {0};
    json_t *doc = doc_of("{}");
    ck_assert(!jfields_parse(doc, "person", spec, NSPEC(spec), &res));
    ck_assert_uint_eq(json_array_size(res.errors), 1);
    ck_assert_str_eq(message_for(&res, "person.iin"), "is required");
    ck_assert_ptr_null(iin);
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_path_without_prefix_is_the_bare_name)
{
    const char *iin = NULL;
    const struct jfield spec[] = {
        {.name = "iin", .type = JF_STRING, .flags = JF_REQUIRED, .out = &iin}};
    const char *prefixes[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        struct response res = {0};
        json_t *doc = doc_of("{}");
        ck_assert(!jfields_parse(doc, prefixes[i], spec, NSPEC(spec), &res));
        ck_assert_str_eq(message_for(&res, "iin"), "is required");
        json_decref(res.errors);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_wrong_type_is_reported_for_every_field)
{
    const char *s = NULL;
    long long n = 0;
    bool b = false;
    double x = 0;
    json_t *o = NULL, *list = NULL;
    const struct jfield spec[] = {
        {.name = "s", .type = JF_STRING, .out = &s},
        {.name = "n", .type = JF_INT, .out = &n},
        {.name = "b", .type = JF_BOOL, .out = &b},
        {.name = "x", .type = JF_NUMBER, .out = &x},
        {.name = "o", .type = JF_OBJECT, .out = &o},
        {.name = "l", .type = JF_STRINGS, .out = &list},
    };
    struct response res = {0};
    json_t *doc =
        doc_of("{\"s\": 5, \"n\": \"5\", \"b\": 1, \"x\": \"1.5\", \"o\": [], \"l\": \"a\"}");
    ck_assert(!jfields_parse(doc, "p", spec, NSPEC(spec), &res));
    ck_assert_uint_eq(json_array_size(res.errors), 6);
    ck_assert_str_eq(message_for(&res, "p.s"), "must be a string");
    ck_assert_str_eq(message_for(&res, "p.n"), "must be an integer");
    ck_assert_str_eq(message_for(&res, "p.b"), "must be true or false");
    ck_assert_str_eq(message_for(&res, "p.x"), "must be a number");
    ck_assert_str_eq(message_for(&res, "p.o"), "must be an object");
    ck_assert_str_eq(message_for(&res, "p.l"), "must be an array of strings");
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_well_typed_values_reach_their_outs)
{
    const char *s = NULL;
    long long n = 0;
    bool b = false, s_given = false;
    double x = 0;
    json_t *o = NULL;
    const struct jfield spec[] = {
        {.name = "s", .type = JF_STRING, .out = &s, .present = &s_given},
        {.name = "n", .type = JF_INT, .out = &n},
        {.name = "b", .type = JF_BOOL, .out = &b},
        {.name = "x", .type = JF_NUMBER, .out = &x},
        {.name = "o", .type = JF_OBJECT, .out = &o},
    };
    struct response res = {0};
    json_t *doc =
        doc_of("{\"s\": \"hi\", \"n\": 9007199254740993, \"b\": true, \"x\": 3, \"o\": {}}");
    ck_assert(jfields_parse(doc, "p", spec, NSPEC(spec), &res));
    ck_assert_ptr_null(res.errors);
    ck_assert_str_eq(s, "hi");
    ck_assert(s_given);
    ck_assert_int_eq(n, 9007199254740993LL);
    ck_assert(b);
    ck_assert_double_eq(x, 3.0);
    ck_assert_ptr_eq(o, json_object_get(doc, "o"));
    json_decref(doc);
}
END_TEST

START_TEST(test_string_length_outside_bounds_is_refused)
{
    const char *name = NULL;
    const struct jfield spec[] = {
        {.name = "name", .type = JF_STRING, .out = &name, .min = 2, .max = 4}};
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {{"{\"name\": \"a\"}", false},
                 {"{\"name\": \"ab\"}", true},
                 {"{\"name\": \"abcd\"}", true},
                 {"{\"name\": \"abcde\"}", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct response res = {0};
        json_t *doc = doc_of(cases[i].body);
        ck_assert_msg(jfields_parse(doc, "", spec, NSPEC(spec), &res) == cases[i].ok, "%s",
                      cases[i].body);
        if (!cases[i].ok)
            ck_assert_str_eq(message_for(&res, "name"), "must be 2 to 4 bytes long");
        json_decref(res.errors);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_value_outside_one_of_is_refused_listing_the_allowed)
{
    static const char *const kinds[] = {"adult", "child", NULL};
    const char *kind = NULL;
    const struct jfield spec[] = {
        {.name = "kind", .type = JF_STRING, .out = &kind, .one_of = kinds}};
    struct response res = {0};
    json_t *doc = doc_of("{\"kind\": \"elder\"}");
    ck_assert(!jfields_parse(doc, "district", spec, NSPEC(spec), &res));
    ck_assert_str_eq(message_for(&res, "district.kind"), "must be one of: adult, child");
    ck_assert_ptr_null(kind);
    json_decref(res.errors);
    json_decref(doc);

    struct response ok = {0};
    doc = doc_of("{\"kind\": \"child\"}");
    ck_assert(jfields_parse(doc, "district", spec, NSPEC(spec), &ok));
    ck_assert_str_eq(kind, "child");
    json_decref(doc);
}
END_TEST

START_TEST(test_failed_valid_check_reports_its_message)
{
    const char *iin = NULL;
    const struct jfield spec[] = {{.name = "iin",
                                   .type = JF_STRING,
                                   .out = &iin,
                                   .valid = iin_valid,
                                   .valid_msg = "is not a valid IIN"}};
    struct response res = {0};
    json_t *doc = doc_of("{\"iin\": \"900101300018\"}");
    ck_assert(!jfields_parse(doc, "person", spec, NSPEC(spec), &res));
    ck_assert_str_eq(message_for(&res, "person.iin"), "is not a valid IIN");
    json_decref(res.errors);
    json_decref(doc);

    const struct jfield bare[] = {
        {.name = "iin", .type = JF_STRING, .out = &iin, .valid = iin_valid}};
    struct response res2 = {0};
    doc = doc_of("{\"iin\": \"12\"}");
    ck_assert(!jfields_parse(doc, "person", bare, NSPEC(bare), &res2));
    ck_assert_str_eq(message_for(&res2, "person.iin"), "is not valid");
    json_decref(res2.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_unknown_member_is_reported)
{
    const char *iin = NULL;
    const struct jfield spec[] = {
        {.name = "iin", .type = JF_STRING, .flags = JF_REQUIRED, .out = &iin}};
    struct response res = {0};
    json_t *doc = doc_of("{\"iin\": \"900101300017\", \"nickname\": \"x\"}");
    ck_assert(!jfields_parse(doc, "person", spec, NSPEC(spec), &res));
    ck_assert_uint_eq(json_array_size(res.errors), 1);
    ck_assert_str_eq(message_for(&res, "person.nickname"), "is not a known field");
    ck_assert_str_eq(iin, "900101300017");
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_null_is_accepted_only_when_nullable)
{
    const char *middle = "untouched";
    bool given = true;
    const struct jfield nullable[] = {{.name = "middle",
                                       .type = JF_STRING,
                                       .flags = JF_NULLABLE,
                                       .out = &middle,
                                       .present = &given}};
    struct response res = {0};
    json_t *doc = doc_of("{\"middle\": null}");
    ck_assert(jfields_parse(doc, "person", nullable, NSPEC(nullable), &res));
    ck_assert_ptr_null(res.errors);
    ck_assert(!given);
    ck_assert_str_eq(middle, "untouched");

    const struct jfield strict[] = {{.name = "middle", .type = JF_STRING, .out = &middle}};
    ck_assert(!jfields_parse(doc, "person", strict, NSPEC(strict), &res));
    ck_assert_str_eq(message_for(&res, "person.middle"), "must be a string");
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_int_outside_range_is_refused)
{
    long long floor = -1;
    const struct jfield spec[] = {
        {.name = "floor", .type = JF_INT, .out = &floor, .min = 1, .max = 10}};
    static const struct {
        const char *body;
        long long want; /* -1: refused */
    } cases[] = {{"{\"floor\": 0}", -1},
                 {"{\"floor\": 1}", 1},
                 {"{\"floor\": 10}", 10},
                 {"{\"floor\": 11}", -1},
                 {"{\"floor\": -5}", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct response res = {0};
        floor = -1;
        json_t *doc = doc_of(cases[i].body);
        bool ok = jfields_parse(doc, "", spec, NSPEC(spec), &res);
        ck_assert_msg(ok == (cases[i].want != -1), "%s", cases[i].body);
        ck_assert_int_eq(floor, cases[i].want);
        if (!ok)
            ck_assert_str_eq(message_for(&res, "floor"), "must be from 1 to 10");
        json_decref(res.errors);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_strings_items_are_reported_by_index)
{
    json_t *iins = NULL;
    const struct jfield spec[] = {{.name = "family_iins",
                                   .type = JF_STRINGS,
                                   .out = &iins,
                                   .valid = iin_valid,
                                   .valid_msg = "is not a valid IIN"}};
    struct response res = {0};
    json_t *doc = doc_of("{\"family_iins\": [\"900101300017\", \"123\", 5]}");
    ck_assert(!jfields_parse(doc, "person", spec, NSPEC(spec), &res));
    ck_assert_uint_eq(json_array_size(res.errors), 2);
    ck_assert_ptr_null(message_for(&res, "person.family_iins[0]"));
    ck_assert_str_eq(message_for(&res, "person.family_iins[1]"), "is not a valid IIN");
    ck_assert_str_eq(message_for(&res, "person.family_iins[2]"), "must be a string");
    ck_assert_ptr_null(iins);
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

START_TEST(test_strings_over_max_items_is_refused)
{
    json_t *tags = NULL;
    const struct jfield spec[] = {{.name = "tags", .type = JF_STRINGS, .out = &tags, .max = 2}};
    struct response res = {0};
    json_t *doc = doc_of("{\"tags\": [\"a\", \"b\", \"c\"]}");
    ck_assert(!jfields_parse(doc, "", spec, NSPEC(spec), &res));
    ck_assert_str_eq(message_for(&res, "tags"), "must have at most 2 items");
    json_decref(res.errors);
    json_decref(doc);

    doc = doc_of("{\"tags\": [\"a\", \"b\"]}");
    struct response ok = {0};
    ck_assert(jfields_parse(doc, "", spec, NSPEC(spec), &ok));
    ck_assert_ptr_eq(tags, json_object_get(doc, "tags"));
    json_decref(doc);
}
END_TEST

START_TEST(test_date_field_must_name_a_real_date)
{
    const char *born = NULL;
    const struct jfield spec[] = {{.name = "born", .type = JF_DATE, .out = &born}};
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {{"{\"born\": \"2024-02-29\"}", true},
                 {"{\"born\": \"2023-02-29\"}", false},
                 {"{\"born\": \"2026-13-01\"}", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct response res = {0};
        json_t *doc = doc_of(cases[i].body);
        ck_assert_msg(jfields_parse(doc, "person", spec, NSPEC(spec), &res) == cases[i].ok, "%s",
                      cases[i].body);
        if (!cases[i].ok)
            ck_assert_str_eq(message_for(&res, "person.born"), "must be a date YYYY-MM-DD");
        json_decref(res.errors);
        json_decref(doc);
    }
}
END_TEST

START_TEST(test_date_valid_follows_the_gregorian_calendar)
{
    ck_assert(date_valid("2024-02-29"));
    ck_assert(date_valid("2000-02-29")); /* divisible by 400 */
    ck_assert(date_valid("2026-12-31"));
    ck_assert(!date_valid("2023-02-29"));
    ck_assert(!date_valid("1900-02-29")); /* divisible by 100, not 400 */
    ck_assert(!date_valid("2026-13-01"));
    ck_assert(!date_valid("2026-00-10"));
    ck_assert(!date_valid("2026-04-31"));
    ck_assert(!date_valid("2026-01-00"));
    ck_assert(!date_valid("2026-1-01"));
    ck_assert(!date_valid("2026/01/01"));
    ck_assert(!date_valid("2026-01-01T00"));
    ck_assert(!date_valid(""));
    ck_assert(!date_valid(NULL));
}
END_TEST

/* The server's json_loadb already refuses \u0000, so this guards other callers. */
START_TEST(test_string_with_nul_is_refused)
{
    const char *name = NULL;
    const struct jfield spec[] = {{.name = "name", .type = JF_STRING, .out = &name}};
    json_t *doc = json_pack("{s:s#}", "name", "a\0b", (int)3);
    struct response res = {0};
    ck_assert(!jfields_parse(doc, "", spec, NSPEC(spec), &res));
    ck_assert_str_eq(message_for(&res, "name"), "must not contain NUL characters");
    ck_assert_ptr_null(name);
    json_decref(res.errors);
    json_decref(doc);
}
END_TEST

static Suite *jfields_suite(void)
{
    Suite *s = suite_create("jfields");
    TCase *tc = tcase_create("jfields");
    tcase_add_test(tc, test_missing_required_field_is_reported_with_its_path);
    tcase_add_test(tc, test_path_without_prefix_is_the_bare_name);
    tcase_add_test(tc, test_wrong_type_is_reported_for_every_field);
    tcase_add_test(tc, test_well_typed_values_reach_their_outs);
    tcase_add_test(tc, test_string_length_outside_bounds_is_refused);
    tcase_add_test(tc, test_value_outside_one_of_is_refused_listing_the_allowed);
    tcase_add_test(tc, test_failed_valid_check_reports_its_message);
    tcase_add_test(tc, test_unknown_member_is_reported);
    tcase_add_test(tc, test_null_is_accepted_only_when_nullable);
    tcase_add_test(tc, test_int_outside_range_is_refused);
    tcase_add_test(tc, test_strings_items_are_reported_by_index);
    tcase_add_test(tc, test_strings_over_max_items_is_refused);
    tcase_add_test(tc, test_date_field_must_name_a_real_date);
    tcase_add_test(tc, test_date_valid_follows_the_gregorian_calendar);
    tcase_add_test(tc, test_string_with_nul_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(jfields_suite());
}
