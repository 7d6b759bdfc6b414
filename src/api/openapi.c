#include "attachd/openapi.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/auth.h"
#include "attachd/log.h"
#include "attachd/problem.h"
#include "attachd/router.h"

/* openapi/components.json and openapi/operations.json (cmake/embed_openapi.cmake). */
extern const char openapi_components_json[];
extern const char openapi_operations_json[];

#define PLANNED "x-planned"

static json_t *served;         /* the document of /openapi.json */
static json_t **route_queries; /* per route: the array of query parameter names it declares */
static char **route_query_text;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static json_t *load(const char *text, const char *what)
{
    json_error_t err;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        log_error("openapi/%s.json: %s at line %d", what, err.text, err.line);
    return doc;
}

/* "GET" -> "get" (OpenAPI path item keys are lowercase). */
static void lower_method(const char *method, char out[8])
{
    size_t k = 0;
    for (; k < 7 && method[k]; k++)
        out[k] = (char)(method[k] | 0x20);
    out[k] = '\0';
}

/* True when "METHOD /pattern" is in the route table. */
static bool route_exists(const char *key)
{
    char buf[160];
    for (size_t i = 0; i < attachd_nroutes; i++) {
        snprintf(buf, sizeof buf, "%s %s", attachd_routes[i].method, attachd_routes[i].pattern);
        if (strcmp(buf, key) == 0)
            return true;
    }
    return false;
}

/* Not served yet: marked "x-planned": true, or "x-planned": "METHOD /pattern" of a route that
 * lands with it (a parameter of an existing route added by the same change) and is not here. */
static bool is_planned(json_t *v)
{
    json_t *mark = json_is_object(v) ? json_object_get(v, PLANNED) : NULL;
    if (json_is_string(mark))
        return !route_exists(json_string_value(mark));
    return json_is_true(mark);
}

/* Removes what is marked x-planned from v, recursively (keep_planned: only the markers). */
static void strip_planned(json_t *v, bool keep_planned)
{
    if (json_is_object(v)) {
        json_object_del(v, PLANNED);
        const char *key;
        json_t *child;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, child)
        {
            if (!keep_planned && is_planned(child))
                json_object_del(v, key);
            else
                strip_planned(child, keep_planned);
        }
        /* A `required` list must not name a member just removed. */
        json_t *required = json_object_get(v, "required"),
               *props = json_object_get(v, "properties");
        if (json_is_array(required) && json_is_object(props))
            for (size_t i = json_array_size(required); i-- > 0;)
                if (!json_object_get(props, json_string_value(json_array_get(required, i))))
                    json_array_remove(required, i);
    } else if (json_is_array(v)) {
        for (size_t i = json_array_size(v); i-- > 0;) {
            json_t *child = json_array_get(v, i);
            if (!keep_planned && is_planned(child))
                json_array_remove(v, i);
            else
                strip_planned(child, keep_planned);
        }
    }
}

/* Adds to `used` every "#/components/..." reference reachable from v, following them. */
static void collect_refs(json_t *doc, json_t *v, json_t *used)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) collect_refs(doc, child, used);
        return;
    }
    if (!json_is_object(v))
        return;
    const char *target = json_string_value(json_object_get(v, "$ref"));
    if (target && strncmp(target, "#/components/", 13) == 0 && !json_object_get(used, target)) {
        json_object_set_new(used, target, json_true());
        char kind[32];
        const char *name = strchr(target + 13, '/');
        if (name && (size_t)(name - target - 13) < sizeof kind) {
            snprintf(kind, sizeof kind, "%.*s", (int)(name - target - 13), target + 13);
            collect_refs(doc,
                         json_object_get(json_object_get(json_object_get(doc, "components"), kind),
                                         name + 1),
                         used);
        }
    }
    const char *key;
    json_t *child;
    json_object_foreach(v, key, child) collect_refs(doc, child, used);
}

/* Drops the components no operation uses (directly or through others): a schema only a planned
 * operation needs is not served until its route is. */
static void prune_components(json_t *doc)
{
    static const char *const kinds[] = {"schemas", "parameters", "responses", "headers"};
    json_t *used = json_object();
    collect_refs(doc, json_object_get(doc, "paths"), used);
    json_t *components = json_object_get(doc, "components");
    char target[160];
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        json_t *group = json_object_get(components, kinds[k]);
        const char *name;
        json_t *v;
        void *tmp;
        json_object_foreach_safe(group, tmp, name, v)
        {
            snprintf(target, sizeof target, "#/components/%s/%s", kinds[k], name);
            if (!json_object_get(used, target))
                json_object_del(group, name);
        }
    }
    json_decref(used);
}

static json_t *roles_array(unsigned roles)
{
    static const enum role all[] = {ROLE_ADMIN, ROLE_PORTAL, ROLE_REGISTRAR};
    json_t *arr = json_array();
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (roles & (unsigned)all[i])
            json_array_append_new(arr, json_string(role_name(all[i])));
    return arr;
}

static json_t *ref(const char *target)
{
    return json_pack("{s:s}", "$ref", target);
}

static void add_response(json_t *responses, const char *status, const char *component)
{
    char target[96];
    if (json_object_get(responses, status))
        return; /* the operation says more (its own description or schema) */
    snprintf(target, sizeof target, "#/components/responses/%s", component);
    json_object_set_new(responses, status, ref(target));
}

/* Every answer carries X-Request-Id: inline responses get the header; those that refer to
 * components/responses have it there. */
static void add_request_id_headers(json_t *responses)
{
    const char *status;
    json_t *resp;
    json_object_foreach(responses, status, resp)
    {
        if (json_object_get(resp, "$ref"))
            continue;
        json_t *headers = json_object_get(resp, "headers");
        if (!headers) {
            headers = json_object();
            json_object_set_new(resp, "headers", headers);
        }
        if (!json_object_get(headers, "X-Request-Id"))
            json_object_set_new(headers, "X-Request-Id", ref("#/components/headers/XRequestId"));
    }
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of obj with its members in key order (responses read 200, 201, 400, ... then). */
static json_t *sorted_by_key(json_t *obj)
{
    size_t n = json_object_size(obj), i = 0;
    const char **keys = calloc(n ? n : 1, sizeof *keys);
    json_t *out = json_object();
    const char *key;
    json_t *v;
    if (!keys)
        return json_incref(obj);
    json_object_foreach(obj, key, v) keys[i++] = key;
    qsort(keys, n, sizeof *keys, compare_keys);
    for (i = 0; i < n; i++)
        json_object_set(out, keys[i], json_object_get(obj, keys[i]));
    free(keys);
    return out;
}

/* The operation of a route: its source (a copy) completed from the route table. roles is the
 * table's mask, or for a planned operation without a route the source's x-roles. */
static json_t *operation(json_t *source, const char *summary, unsigned roles, json_t *xroles)
{
    json_t *op = source ? json_deep_copy(source) : json_object();
    json_object_del(op, PLANNED);
    json_object_del(op, "x-roles");
    if (summary)
        json_object_set_new(op, "summary", json_string(summary));
    json_t *role_list = xroles ? json_deep_copy(xroles) : roles_array(roles);
    bool public = json_array_size(role_list) == 0;
    const char *desc = json_string_value(json_object_get(op, "description"));
    char *names = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&names, &len);
    if (f) {
        fprintf(f, "%s\n\n", desc ? desc : "");
        if (public) {
            fputs("Public: no token needed.", f);
        } else {
            fputs("Roles: ", f);
            size_t i;
            json_t *r;
            json_array_foreach(role_list, i, r)
                fprintf(f, "%s%s", i ? ", " : "", json_string_value(r));
            fputc('.', f);
        }
        fclose(f);
        json_object_set_new(op, "description", json_string(names));
    }
    free(names);
    json_object_set_new(op, "x-roles", role_list);
    json_object_set_new(op, "security", public ? json_array() : json_pack("[{s:[]}]", "bearer"));

    json_t *params = json_object_get(op, "parameters");
    if (!params) {
        params = json_array();
        json_object_set_new(op, "parameters", params);
    }
    json_array_append_new(params, ref("#/components/parameters/XRequestId"));

    json_t *responses = json_object_get(op, "responses");
    if (!responses) {
        responses = json_object();
        json_object_set_new(op, "responses", responses);
    }
    /* What every route can answer, whatever its handler does: the dispatcher's problems. */
    if (json_object_get(op, "requestBody")) {
        add_response(responses, "400", "BadRequest");
        add_response(responses, "413", "PayloadTooLarge");
        add_response(responses, "415", "UnsupportedMediaType");
    }
    if (!public) {
        add_response(responses, "401", "Unauthorized");
        add_response(responses, "403", "Forbidden");
        add_response(responses, "503",
                     "ServiceUnavailable"); /* the token check needs the database */
    }
    add_response(responses, "422", "ValidationFailed"); /* strict queries, at least */
    add_request_id_headers(responses);
    json_object_set_new(op, "responses", sorted_by_key(responses));
    return op;
}

/* components.schemas.ProblemNNN for each status the responses refer to, and Problem.code listing
 * every code: both from the one table of API statuses, so a new code is documented at once. */
static void add_problem_schemas(json_t *schemas)
{
    json_t *all_codes = json_array();
    for (int st = API_OK + 1; st < API_STATUS_COUNT; st++)
        json_array_append_new(all_codes, json_string(api_status_info((enum api_status)st)->code));
    json_t *code =
        json_object_get(json_object_get(json_object_get(schemas, "Problem"), "properties"), "code");
    json_object_set_new(code, "enum", all_codes);

    static const unsigned statuses[] = {400, 401, 403, 404, 409, 413, 415, 422, 503};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        json_t *codes = json_array();
        for (int st = API_OK + 1; st < API_STATUS_COUNT; st++) {
            const struct api_status_info *info = api_status_info((enum api_status)st);
            if (info->http_status == statuses[i])
                json_array_append_new(codes, json_string(info->code));
        }
        char name[16], desc[64];
        snprintf(name, sizeof name, "Problem%u", statuses[i]);
        snprintf(desc, sizeof desc, "A problem answered with HTTP %u.", statuses[i]);
        json_object_set_new(schemas, name,
                            json_pack("{s:s, s:[{s:s}, {s:s, s:{s:{s:I}, s:{s:s, s:o}}}]}",
                                      "description", desc, "allOf", "$ref",
                                      "#/components/schemas/Problem", "type", "object",
                                      "properties", "status", "const", (json_int_t)statuses[i],
                                      "code", "type", "string", "enum", codes));
    }
}

static json_t *build(bool planned)
{
    json_t *base = load(openapi_components_json, "components");
    json_t *ops = load(openapi_operations_json, "operations");
    if (!base || !ops) {
        json_decref(base);
        json_decref(ops);
        return NULL;
    }
    json_t *paths = json_object();
    char key[160], method[8];
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        snprintf(key, sizeof key, "%s %s", r->method, r->pattern);
        json_t *source = json_object_get(ops, key); /* its x-roles give way to the table's */
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        lower_method(r->method, method);
        json_object_set_new(item, method, operation(source, r->summary, r->roles, NULL));
        json_object_del(ops, key);
    }
    /* What is left has no route yet: planned operations, in the planned document only. */
    const char *okey;
    json_t *source;
    json_object_foreach(ops, okey, source)
    {
        if (!planned)
            break;
        const char *space = strchr(okey, ' ');
        if (!space || !is_planned(source))
            continue;
        json_t *item = json_object_get(paths, space + 1);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, space + 1, item);
        }
        snprintf(key, sizeof key, "%.*s", (int)(space - okey), okey);
        lower_method(key, method);
        json_object_set_new(item, method,
                            operation(source, NULL, 0, json_object_get(source, "x-roles")));
    }
    json_decref(ops);
    json_object_set_new(json_object_get(base, "info"), "version", json_string(ATTACHD_VERSION));
    json_t *doc = json_pack("{s:s}", "openapi", "3.1.0");
    json_object_update(doc, base);
    json_object_set_new(doc, "paths", paths);
    json_decref(base);
    add_problem_schemas(json_object_get(json_object_get(doc, "components"), "schemas"));
    strip_planned(doc, planned);
    prune_components(doc);
    return doc;
}

/* Which query parameters each route's operation declares (parameters in: query, resolved when
 * they refer to components/parameters). */
static void index_queries(void)
{
    route_queries = calloc(attachd_nroutes, sizeof *route_queries);
    route_query_text = calloc(attachd_nroutes, sizeof *route_query_text);
    if (!route_queries || !route_query_text)
        return;
    json_t *shared = json_object_get(json_object_get(served, "components"), "parameters");
    char method[8];
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        lower_method(r->method, method);
        json_t *op =
            json_object_get(json_object_get(json_object_get(served, "paths"), r->pattern), method);
        json_t *names = json_array();
        size_t k, len = 1;
        json_t *p;
        json_array_foreach(json_object_get(op, "parameters"), k, p)
        {
            const char *target = json_string_value(json_object_get(p, "$ref"));
            if (target && strncmp(target, "#/components/parameters/", 24) == 0)
                p = json_object_get(shared, target + 24);
            const char *in = json_string_value(json_object_get(p, "in"));
            const char *name = json_string_value(json_object_get(p, "name"));
            if (in && name && strcmp(in, "query") == 0) {
                json_array_append_new(names, json_string(name));
                len += strlen(name) + 2;
            }
        }
        route_queries[i] = names;
        route_query_text[i] = calloc(1, len);
        json_t *n;
        json_array_foreach(names, k, n)
        {
            if (!route_query_text[i])
                break;
            if (k)
                strcat(route_query_text[i], ", ");
            strcat(route_query_text[i], json_string_value(n));
        }
    }
}

static void build_served(void)
{
    served = build(false);
    if (!served) {
        log_error("the OpenAPI document cannot be built: /openapi.json answers an empty one");
        served = json_pack("{s:s, s:{s:s, s:s}, s:{}}", "openapi", "3.1.0", "info", "title",
                           "attachd", "version", ATTACHD_VERSION, "paths");
    }
    index_queries();
}

json_t *openapi_document(void)
{
    pthread_once(&once, build_served);
    return json_incref(served);
}

json_t *openapi_document_planned(void)
{
    return build(true);
}

bool openapi_query_declared(const struct route *r, const char *name)
{
    pthread_once(&once, build_served);
    size_t idx = (size_t)(r - attachd_routes);
    if (!route_queries || idx >= attachd_nroutes)
        return false;
    size_t i;
    json_t *n;
    json_array_foreach(route_queries[idx], i,
                       n) if (strcmp(json_string_value(n), name) == 0) return true;
    return false;
}

const char *openapi_query_names(const struct route *r)
{
    pthread_once(&once, build_served);
    size_t idx = (size_t)(r - attachd_routes);
    if (!route_query_text || idx >= attachd_nroutes || !route_query_text[idx])
        return "";
    return route_query_text[idx];
}
