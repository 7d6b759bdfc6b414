#include "attachd/openapi.h"

#include <pthread.h>
#include <string.h>
#include "attachd/router.h"

/* Schemas of the bodies (SPEC §8); paths come from attachd_routes. */
static const char components_json[] =
    "{\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\"}},"
    "\"schemas\":{"
    "\"Problem\":{\"type\":\"object\",\"required\":[\"type\",\"title\",\"status\",\"code\"],"
    "\"properties\":{\"type\":{\"type\":\"string\"},\"title\":{\"type\":\"string\"},"
    "\"status\":{\"type\":\"integer\"},\"code\":{\"type\":\"string\"},\"detail\":{\"type\":"
    "\"string\"},\"errors\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{"
    "\"field\":{\"type\":\"string\"},\"message\":{\"type\":\"string\"}}}}}},"
    "\"Settlement\":{\"type\":\"object\",\"required\":[\"kato\",\"name_kk\",\"name_ru\"],"
    "\"properties\":{\"kato\":{\"type\":\"string\",\"pattern\":\"^[0-9]{9}$\"},\"name_kk\":{"
    "\"type\":\"string\"},\"name_ru\":{\"type\":\"string\"}}},"
    "\"DistrictKind\":{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\"},"
    "\"norm\":{\"type\":\"integer\"},\"min_age\":{\"type\":\"integer\"},\"max_age\":{\"type\":["
    "\"integer\",\"null\"]}}},"
    "\"RefusalReason\":{\"type\":\"object\",\"properties\":{\"code\":{\"type\":\"string\"},"
    "\"title\":{\"type\":\"object\",\"properties\":{\"kk\":{\"type\":\"string\"},\"ru\":{\"type\""
    ":\"string\"},\"en\":{\"type\":\"string\"}}}}},"
    "\"District\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
    "\"polyclinic_id\":{\"type\":\"integer\"},\"number\":{\"type\":\"string\"},\"kind\":{\"type\""
    ":\"string\"},\"capacity\":{\"type\":\"integer\"},\"load\":{\"type\":\"integer\"},\"free\":{"
    "\"type\":\"integer\"},\"open\":{\"type\":\"boolean\"}}},"
    "\"Polyclinic\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},\"bin\":{"
    "\"type\":\"string\"},\"name_kk\":{\"type\":\"string\"},\"name_ru\":{\"type\":\"string\"},"
    "\"settlement\":{\"type\":\"string\"},\"also_serves\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"string\"}},\"address\":{\"type\":\"string\"},\"lat\":{\"type\":\"number\"},\"lon\":{\"type\""
    ":\"number\"},\"ownership\":{\"enum\":[\"public\",\"private\"]},\"fsms_contract\":{\"type\":"
    "\"boolean\"},\"accepting\":{\"type\":\"boolean\"},\"auto_approve\":{\"type\":\"boolean\"},"
    "\"districts\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/District\"}},"
    "\"distance_m\":{\"type\":\"number\"}}},"
    "\"Campaign\":{\"type\":\"object\",\"properties\":{\"year\":{\"type\":\"integer\"},"
    "\"opens_on\":{\"type\":\"string\",\"format\":\"date\"},\"closes_on\":{\"type\":\"string\","
    "\"format\":\"date\"},\"effective_on\":{\"type\":\"string\",\"format\":\"date\"},"
    "\"max_changes\":{\"type\":\"integer\"}}}"
    "}}";

static json_t *document;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static json_t *operation(const struct route *r)
{
    json_t *op = json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:{s:{s:{s:s}}}}}}", "summary", r->summary,
                           "responses", "200", "description", "Success", "default", "description",
                           "Problem (RFC 9457)", "content", "application/problem+json", "schema",
                           "$ref", "#/components/schemas/Problem");
    if (r->roles)
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
    else
        json_object_set_new(op, "security", json_array());
    json_t *params = json_array();
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
        const char *end = strchr(p, '}');
        json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1,
                                                (size_t)(end - p - 1), "in", "path", "required", 1,
                                                "schema", "type", "string"));
    }
    if (json_array_size(params))
        json_object_set_new(op, "parameters", params);
    else
        json_decref(params);
    if (strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0 ||
        strcmp(r->method, "PATCH") == 0)
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                      "application/json", "schema", "type", "object"));
    return op;
}

static void build(void)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        json_t *item = json_object_get(paths, r->pattern);
        if (!item) {
            item = json_object();
            json_object_set_new(paths, r->pattern, item);
        }
        char method[8] = {0};
        for (size_t k = 0; k < sizeof method - 1 && r->method[k]; k++)
            method[k] = (char)(r->method[k] | 0x20);
        json_object_set_new(item, method, operation(r));
    }
    document = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:o}", "openapi", "3.1.0", "info", "title",
                         "attachd", "version", ATTACHD_VERSION, "description",
                         "Polyclinic attachment campaign service", "paths", paths, "components",
                         json_loads(components_json, 0, NULL));
}

json_t *openapi_document(void)
{
    pthread_once(&once, build);
    return json_incref(document);
}
