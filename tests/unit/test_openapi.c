/* The OpenAPI document (SPEC §12 "The contract is the document"): built from openapi/ (JSON) and
 * the route table, every route has its operation and every operation its route; what the
 * dispatcher can answer is listed; every $ref resolves; and each request body schema agrees
 * with what the handler's field specs (src/http/jfields.c tables) accept, checked by sending
 * the documented example and mutations of it through server_dispatch with the database down. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "attachd/log.h"
#include "attachd/openapi.h"
#include "attachd/router.h"
#include "attachd/server.h"
#include "unit.h"

extern const char openapi_operations_json[];

/* paths[route pattern][lowercase method], or NULL. */
static json_t *operation_of(json_t *doc, const struct route *r)
{
    char method[16] = "";
    for (size_t k = 0; k < sizeof method - 1 && r->method[k]; k++)
        method[k] = (char)tolower((unsigned char)r->method[k]);
    return json_object_get(json_object_get(json_object_get(doc, "paths"), r->pattern), method);
}

/* The target of a local $ref ("#/components/schemas/X"), or v itself when it is not one. */
static json_t *deref(json_t *doc, json_t *v)
{
    for (int depth = 0; depth < 8; depth++) {
        const char *target = json_string_value(json_object_get(v, "$ref"));
        if (!target || strncmp(target, "#/", 2) != 0)
            return v;
        char buf[256];
        snprintf(buf, sizeof buf, "%s", target + 2);
        json_t *at = doc;
        for (char *seg = strtok(buf, "/"); seg && at; seg = strtok(NULL, "/"))
            at = json_object_get(at, seg);
        v = at;
    }
    return v;
}

START_TEST(test_document_is_openapi_3_1)
{
    json_t *doc = openapi_document();
    ck_assert_ptr_nonnull(doc);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(doc, "info"), "version")),
                     ATTACHD_VERSION);
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    ck_assert_ptr_nonnull(json_object_get(schemas, "Problem"));
    json_decref(doc);
}
END_TEST

START_TEST(test_every_route_has_its_operation_from_the_sources)
{
    json_t *doc = openapi_document();
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *op = operation_of(doc, r);
        ck_assert_msg(json_is_object(op), "%s %s is missing", r->method, r->pattern);
        ck_assert_str_eq(json_string_value(json_object_get(op, "summary")), r->summary);
        /* operationId and tags come only from openapi/operations.json */
        ck_assert_msg(json_is_string(json_object_get(op, "operationId")),
                      "%s %s has no operation in openapi/operations.json", r->method, r->pattern);
        ck_assert_msg(json_array_size(json_object_get(op, "tags")) > 0, "%s %s has no tag",
                      r->method, r->pattern);
        ck_assert_msg(json_is_string(json_object_get(op, "description")), "%s %s: no description",
                      r->method, r->pattern);
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

/* A source operation without a route must say it is planned (a route not landed yet); a typo in
 * a "METHOD /pattern" key would otherwise leave a route undocumented and an operation unserved. */
START_TEST(test_every_source_operation_has_a_route_or_is_planned)
{
    json_t *ops = json_loads(openapi_operations_json, 0, NULL);
    ck_assert_ptr_nonnull(ops);
    const char *key;
    json_t *op;
    json_object_foreach(ops, key, op)
    {
        bool routed = false;
        char buf[160];
        for (size_t i = 0; i < attachd_nroutes && !routed; i++) {
            snprintf(buf, sizeof buf, "%s %s", attachd_routes[i].method, attachd_routes[i].pattern);
            routed = strcmp(buf, key) == 0;
        }
        ck_assert_msg(routed || json_is_true(json_object_get(op, "x-planned")),
                      "openapi/operations.json \"%s\" has no route and is not x-planned", key);
        ck_assert_msg(routed || json_is_array(json_object_get(op, "x-roles")),
                      "planned \"%s\" needs x-roles", key);
    }
    json_decref(ops);
}
END_TEST

START_TEST(test_planned_document_is_a_superset)
{
    json_t *doc = openapi_document(), *planned = openapi_document_planned();
    ck_assert_ptr_nonnull(planned);
    const char *pattern;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item)
    {
        const char *m;
        json_t *op;
        json_object_foreach(item, m, op) ck_assert_ptr_nonnull(
            json_object_get(json_object_get(json_object_get(planned, "paths"), pattern), m));
    }
    char *text = json_dumps(doc, 0);
    ck_assert_ptr_null(strstr(text, "x-planned"));
    free(text);
    json_decref(doc);
    json_decref(planned);
}
END_TEST

START_TEST(test_roles_security_and_dispatcher_problems_are_listed)
{
    json_t *doc = openapi_document();
    size_t npublic = 0;
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *op = operation_of(doc, r);
        json_t *security = json_object_get(op, "security");
        json_t *responses = json_object_get(op, "responses");
        ck_assert_msg(json_is_array(security), "%s %s has no security", r->method, r->pattern);
        ck_assert_msg(json_is_array(json_object_get(op, "x-roles")), "%s %s: x-roles", r->method,
                      r->pattern);
        ck_assert_msg(json_object_get(responses, "422"), "%s %s: no 422 (strict queries)",
                      r->method, r->pattern);
        if (r->roles == 0) {
            npublic++;
            ck_assert_msg(json_array_size(security) == 0, "%s %s is public", r->method, r->pattern);
            continue;
        }
        ck_assert_msg(json_object_get(json_array_get(security, 0), "bearer") != NULL,
                      "%s %s needs a bearer token", r->method, r->pattern);
        ck_assert_uint_eq(json_array_size(json_object_get(op, "x-roles")),
                          (size_t)__builtin_popcount(r->roles));
        static const char *const auth_statuses[] = {"401", "403", "503"};
        for (size_t k = 0; k < 3; k++)
            ck_assert_msg(json_object_get(responses, auth_statuses[k]), "%s %s: no %s", r->method,
                          r->pattern, auth_statuses[k]);
        if (json_object_get(op, "requestBody")) {
            static const char *const body_statuses[] = {"400", "413", "415"};
            for (size_t k = 0; k < 3; k++)
                ck_assert_msg(json_object_get(responses, body_statuses[k]), "%s %s: no %s",
                              r->method, r->pattern, body_statuses[k]);
        }
        json_t *created = deref(doc, json_object_get(responses, "201"));
        if (created)
            ck_assert_msg(json_object_get(json_object_get(created, "headers"), "Location"),
                          "%s %s: 201 without Location", r->method, r->pattern);
    }
    ck_assert_uint_gt(npublic, 0);
    json_decref(doc);
}
END_TEST

START_TEST(test_path_parameters_match_the_pattern)
{
    json_t *doc = openapi_document();
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        size_t in_pattern = 0, declared = 0, k;
        json_t *p;
        for (const char *c = strchr(r->pattern, '{'); c; c = strchr(c + 1, '{'))
            in_pattern++;
        json_array_foreach(json_object_get(operation_of(doc, r), "parameters"), k, p)
        {
            p = deref(doc, p);
            if (strcmp(json_string_value(json_object_get(p, "in")), "path") != 0)
                continue;
            char braced[64];
            snprintf(braced, sizeof braced, "{%s}", json_string_value(json_object_get(p, "name")));
            ck_assert_msg(strstr(r->pattern, braced), "%s %s declares path parameter %s", r->method,
                          r->pattern, braced);
            ck_assert(json_is_true(json_object_get(p, "required")));
            declared++;
        }
        ck_assert_msg(declared == in_pattern, "%s %s: %zu path parameters declared, %zu in it",
                      r->method, r->pattern, declared, in_pattern);
    }
    json_decref(doc);
}
END_TEST

/* Every "$ref" of the document points at something. */
static void check_refs(json_t *doc, json_t *v, const char *where)
{
    if (json_is_object(v)) {
        const char *target = json_string_value(json_object_get(v, "$ref"));
        if (target)
            ck_assert_msg(deref(doc, v) != NULL && deref(doc, v) != v, "%s: $ref %s dangles", where,
                          target);
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child) check_refs(doc, child, key);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) check_refs(doc, child, where);
    }
}

START_TEST(test_every_ref_resolves)
{
    json_t *doc = openapi_document(), *planned = openapi_document_planned();
    check_refs(doc, doc, "document");
    check_refs(planned, planned, "planned document");
    json_decref(doc);
    json_decref(planned);
}
END_TEST

START_TEST(test_every_problem_code_is_listed_under_its_status)
{
    json_t *doc = openapi_document();
    json_t *schemas = json_object_get(json_object_get(doc, "components"), "schemas");
    json_t *codes = json_object_get(
        json_object_get(json_object_get(json_object_get(schemas, "Problem"), "properties"), "code"),
        "enum");
    for (int st = API_OK + 1; st < API_STATUS_COUNT; st++) {
        const struct api_status_info *info = api_status_info((enum api_status)st);
        bool listed = false;
        size_t i;
        json_t *c;
        json_array_foreach(codes, i, c) listed =
            listed || strcmp(json_string_value(c), info->code) == 0;
        ck_assert_msg(listed, "problem code %s is not in the document", info->code);
    }
    json_t *p409 = json_object_get(schemas, "Problem409");
    ck_assert_ptr_nonnull(p409);
    json_decref(doc);
}
END_TEST

/* SPEC §12: "an example of each body", for every JSON answer too. */
START_TEST(test_every_json_body_has_an_example)
{
    json_t *doc = openapi_document_planned();
    const char *pattern, *m, *status;
    json_t *item, *op, *resp;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item)
        json_object_foreach(item, m, op)
    {
        json_object_foreach(json_object_get(op, "responses"), status, resp)
        {
            json_t *media =
                json_object_get(json_object_get(deref(doc, resp), "content"),
                                status[0] == '2' ? "application/json" : "application/problem+json");
            if (!media)
                continue;
            ck_assert_msg(
                json_object_get(media, "example") ||
                    json_object_get(deref(doc, json_object_get(media, "schema")), "example"),
                "%s %s %s: the body has no example", m, pattern, status);
        }
    }
    json_decref(doc);
}
END_TEST

START_TEST(test_operation_ids_are_unique)
{
    json_t *doc = openapi_document_planned(), *seen = json_object();
    const char *pattern, *m;
    json_t *item, *op;
    json_object_foreach(json_object_get(doc, "paths"), pattern, item)
        json_object_foreach(item, m, op)
    {
        const char *id = json_string_value(json_object_get(op, "operationId"));
        ck_assert_msg(id, "%s %s has no operationId", m, pattern);
        ck_assert_msg(!json_object_get(seen, id), "operationId %s twice", id);
        json_object_set_new(seen, id, json_true());
    }
    json_decref(seen);
    json_decref(doc);
}
END_TEST

/* ---- request bodies: the document against the handlers' field specs ------------------------ */

static struct app *down_app(void)
{
    static struct app app;
    if (!app.db) {
        log_set_level(LOG_ERROR);
        /* A socket directory that does not exist: every connect fails at once, so a handler that
         * gets past validation answers 503. */
        ck_assert_int_eq(
            db_pool_new("host=/nonexistent/attachd-unit port=1 dbname=none", 1, 10, &app.db),
            DB_OK);
        app.body_limit = 1 << 20;
    }
    return &app;
}

struct body_case {
    const struct route *route;
    char path[128];
    enum role role;
    json_t *doc, *schema, *example;
};

/* Answers body (a JSON value, borrowed) on the case's route; returns the response (caller frees
 * its members) after checking it is the 503 of a valid body or a 422. */
static void send_body(const struct body_case *bc, json_t *body, struct response *res)
{
    static const char *const headers[] = {"Content-Type", "application/json", NULL};
    struct request req = {0};
    memset(res, 0, sizeof *res);
    req.app = down_app();
    req.method = bc->route->method;
    req.path = bc->path;
    req.stub_headers = headers;
    req.stub_authenticated = true;
    req.who.role = bc->role;
    req.who.token_id = 1;
    req.who.polyclinic_id = 12;
    req.body = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    req.body_len = strlen(req.body);
    server_dispatch(&req, res);
    free(req.body);
}

static void response_free(struct response *res)
{
    json_decref(res->json);
    json_decref(res->errors);
    json_decref(res->extra);
    free(res->raw);
}

/* The message of the field error naming field, or NULL. */
static const char *error_for(const struct response *res, const char *field)
{
    size_t i;
    json_t *e;
    json_array_foreach(res->errors, i,
                       e) if (strcmp(json_string_value(json_object_get(e, "field")), field) ==
                              0) return json_string_value(json_object_get(e, "message"));
    return NULL;
}

static bool type_allows(json_t *schema, const char *type)
{
    json_t *t = json_object_get(schema, "type");
    if (json_is_string(t))
        return strcmp(json_string_value(t), type) == 0;
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) if (strcmp(json_string_value(x), type) == 0) return true;
    json_array_foreach(json_object_get(schema, "oneOf"), i, x)
    {
        const char *xt = json_string_value(json_object_get(x, "type"));
        if (xt && strcmp(xt, type) == 0)
            return true;
        if (strcmp(type, "null") != 0 && json_object_get(x, "$ref"))
            return true;
    }
    return false;
}

/* The member schema without a null alternative (oneOf [X, null] -> X), $refs resolved. */
static json_t *non_null(json_t *doc, json_t *schema)
{
    schema = deref(doc, schema);
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(schema, "oneOf"), i,
                       x) if (json_object_get(x, "$ref")) return deref(doc, x);
    return schema;
}

/* A value of the wrong JSON type for schema. */
static json_t *wrong_value(json_t *doc, json_t *schema)
{
    json_t *s = non_null(doc, schema);
    return type_allows(s, "string") ? json_integer(7) : json_string("not-this-type");
}

/* What to expect: a 422 naming path (expect_error) or no error naming path at all. */
static void expect_field(const struct body_case *bc, json_t *body, const char *path,
                         bool expect_error, const char *what)
{
    struct response res;
    send_body(bc, body, &res);
    const char *msg = error_for(&res, path);
    if (expect_error)
        ck_assert_msg(res.status == 422 && msg, "%s %s: %s should be a 422 naming %s (got %u %s)",
                      bc->route->method, bc->route->pattern, what, path, res.status, res.detail);
    else
        ck_assert_msg(!msg, "%s %s: %s: the handler says %s %s, the document allows it",
                      bc->route->method, bc->route->pattern, what, path, msg);
    response_free(&res);
}

/* Walks the object schema at prefix (obj is the example's object there, inside body). */
static void check_object(const struct body_case *bc, json_t *body, json_t *obj, json_t *schema,
                         const char *prefix)
{
    schema = non_null(bc->doc, schema);
    json_t *props = json_object_get(schema, "properties");
    json_t *required = json_object_get(schema, "required");
    char path[160];

    /* An unknown member is refused where the document says additionalProperties false. */
    json_object_set_new(obj, "zz_not_documented", json_true());
    snprintf(path, sizeof path, "%s%szz_not_documented", prefix, *prefix ? "." : "");
    expect_field(bc, body, path, json_is_false(json_object_get(schema, "additionalProperties")),
                 "an undocumented member");
    json_object_del(obj, "zz_not_documented");

    const char *name;
    json_t *prop;
    json_object_foreach(props, name, prop)
    {
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", name);
        json_t *keep = json_incref(json_object_get(obj, name));
        bool is_required = false;
        size_t i;
        json_t *r;
        json_array_foreach(required, i, r) is_required =
            is_required || strcmp(json_string_value(r), name) == 0;
        /* dependentRequired: another member of the example needs this one */
        const char *other;
        json_t *needs;
        json_object_foreach(json_object_get(schema, "dependentRequired"), other, needs)
        {
            json_array_foreach(needs, i, r) if (json_object_get(obj, other) &&
                                                strcmp(json_string_value(r), name) == 0)
                is_required = true;
        }

        /* Every documented member is one the handler knows, of the documented type. */
        json_object_set_new(obj, name, wrong_value(bc->doc, prop));
        expect_field(bc, body, path, true, "a value of the wrong type");

        /* null only where the document allows it */
        json_object_set_new(obj, name, json_null());
        expect_field(bc, body, path, !type_allows(deref(bc->doc, prop), "null"), "null");

        json_t *s = non_null(bc->doc, prop);
        json_t *enumeration = json_object_get(s, "enum");
        if (enumeration) {
            json_object_set_new(obj, name, json_string("zz-not-in-the-enum"));
            expect_field(bc, body, path, true, "a value outside the enum");
            json_array_foreach(enumeration, i, r)
            {
                json_object_set(obj, name, r);
                expect_field(bc, body, path, false, "a value of the enum");
            }
        }
        json_t *max = json_object_get(s, "maxLength");
        if (json_is_integer(max) && !json_object_get(s, "pattern") && !enumeration) {
            size_t n = (size_t)json_integer_value(max) + 1;
            char *text = malloc(n + 1);
            memset(text, 'a', n);
            text[n] = '\0';
            json_object_set_new(obj, name, json_string(text));
            expect_field(bc, body, path, true, "a string longer than maxLength");
            text[n - 1] = '\0';
            json_object_set_new(obj, name, json_string(text));
            expect_field(bc, body, path, false, "a string of maxLength");
            free(text);
        }

        /* Required exactly where the document says so (only members of the example: it is
         * valid as a whole, so leaving out one of them tests that one alone). */
        json_object_del(obj, name);
        if (keep)
            expect_field(bc, body, path, is_required, "leaving the member out");
        else
            ck_assert_msg(!is_required, "%s %s: the example lacks required %s", bc->route->method,
                          bc->route->pattern, path);

        if (keep) {
            json_object_set(obj, name, keep);
            if (json_is_object(keep) && json_object_get(non_null(bc->doc, prop), "properties"))
                check_object(bc, body, keep, prop, path);
        }
        json_decref(keep);
    }
}

/* The first role the route allows, in a fixed order. */
static enum role caller_of(const struct route *r)
{
    static const enum role order[] = {ROLE_ADMIN, ROLE_PORTAL, ROLE_REGISTRAR};
    for (size_t i = 0; i < 3; i++)
        if (r->roles & (unsigned)order[i])
            return order[i];
    return ROLE_NONE;
}

/* The route's path with each {param} replaced by its parameter's example. */
static void example_path(json_t *doc, json_t *op, const struct route *r, char *out, size_t len)
{
    size_t o = 0;
    for (const char *c = r->pattern; *c && o + 1 < len;) {
        if (*c != '{') {
            out[o++] = *c++;
            continue;
        }
        const char *end = strchr(c, '}');
        const char *value = "1";
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(op, "parameters"), k, p)
        {
            p = deref(doc, p);
            const char *name = json_string_value(json_object_get(p, "name"));
            if (name && strlen(name) == (size_t)(end - c - 1) &&
                !strncmp(name, c + 1, strlen(name)))
                value = json_string_value(json_object_get(p, "example"));
        }
        o += (size_t)snprintf(out + o, len - o, "%s", value ? value : "1");
        c = end + 1;
    }
    out[o < len ? o : len - 1] = '\0';
}

START_TEST(test_request_bodies_agree_with_the_handlers)
{
    json_t *doc = openapi_document();
    size_t nbodies = 0;
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *op = operation_of(doc, r);
        json_t *media = json_object_get(
            json_object_get(json_object_get(op, "requestBody"), "content"), "application/json");
        if (!media)
            continue;
        struct body_case bc = {.route = r, .role = caller_of(r), .doc = doc};
        bc.schema = json_object_get(media, "schema");
        bc.example = json_deep_copy(json_object_get(media, "example"));
        ck_assert_msg(bc.example, "%s %s: the request body has no example", r->method, r->pattern);
        example_path(doc, op, r, bc.path, sizeof bc.path);

        /* The example passes validation: the handler goes on to the database (down: 503). */
        struct response res;
        send_body(&bc, bc.example, &res);
        ck_assert_msg(res.status == 503, "%s %s: the example is refused: %u %s", r->method,
                      r->pattern, res.status, res.detail);
        response_free(&res);

        check_object(&bc, bc.example, bc.example, bc.schema, "");
        json_decref(bc.example);
        nbodies++;
    }
    ck_assert_uint_ge(nbodies, 10);
    json_decref(doc);
}
END_TEST

/* Every query parameter the document types (integer, boolean, enum, date) is one the handler
 * reads and checks: a value of the wrong kind is a 422 naming it, not ignored. */
START_TEST(test_typed_query_parameters_are_checked_by_the_handlers)
{
    json_t *doc = openapi_document();
    size_t nchecked = 0;
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *op = operation_of(doc, r);
        if (strcmp(r->method, "GET") != 0 || !r->roles)
            continue;
        struct body_case bc = {.route = r, .role = caller_of(r), .doc = doc};
        example_path(doc, op, r, bc.path, sizeof bc.path);
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(op, "parameters"), k, p)
        {
            p = deref(doc, p);
            const char *in = json_string_value(json_object_get(p, "in"));
            const char *name = json_string_value(json_object_get(p, "name"));
            json_t *schema = non_null(doc, json_object_get(p, "schema"));
            const char *format = json_string_value(json_object_get(schema, "format"));
            if (strcmp(in, "query") != 0 ||
                !(type_allows(schema, "integer") || type_allows(schema, "boolean") ||
                  json_object_get(schema, "enum") || (format && strcmp(format, "date") == 0)))
                continue;
            const char *query[] = {name, "zz-bad", NULL};
            struct request req = {0};
            struct response res;
            memset(&res, 0, sizeof res);
            req.app = down_app();
            req.method = r->method;
            req.path = bc.path;
            req.stub_query = query;
            req.stub_authenticated = true;
            req.who.role = bc.role;
            req.who.token_id = 1;
            req.who.polyclinic_id = 12;
            server_dispatch(&req, &res);
            ck_assert_msg(res.status == 422 && error_for(&res, name),
                          "GET %s?%s=zz-bad: %u %s (the document types it; the handler must check "
                          "it)",
                          r->pattern, name, res.status, res.detail);
            response_free(&res);
            nchecked++;
        }
    }
    ck_assert_uint_ge(nchecked, 15);
    json_decref(doc);
}
END_TEST

static Suite *openapi_suite(void)
{
    Suite *s = suite_create("openapi");
    TCase *tc = tcase_create("openapi");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_document_is_openapi_3_1);
    tcase_add_test(tc, test_every_route_has_its_operation_from_the_sources);
    tcase_add_test(tc, test_document_has_no_operation_without_a_route);
    tcase_add_test(tc, test_every_source_operation_has_a_route_or_is_planned);
    tcase_add_test(tc, test_planned_document_is_a_superset);
    tcase_add_test(tc, test_roles_security_and_dispatcher_problems_are_listed);
    tcase_add_test(tc, test_path_parameters_match_the_pattern);
    tcase_add_test(tc, test_every_ref_resolves);
    tcase_add_test(tc, test_every_problem_code_is_listed_under_its_status);
    tcase_add_test(tc, test_operation_ids_are_unique);
    tcase_add_test(tc, test_every_json_body_has_an_example);
    tcase_add_test(tc, test_request_bodies_agree_with_the_handlers);
    tcase_add_test(tc, test_typed_query_parameters_are_checked_by_the_handlers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(openapi_suite());
}
