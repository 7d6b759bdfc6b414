/* Districts of a polyclinic: list, one district, and the admin's create and edit. Capacity never
 * exceeds the kind's norm (checked here for the message, enforced by the districts trigger) and
 * is never lowered under the people the district already holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/db_polyclinics.h"
#include "attachd/jfields.h"

/* A district number as the schema allows it (districts_number_check): 1 to 16 of 0-9 A-Z a-z / -.
 */
static bool number_valid(const char *s)
{
    size_t n = strspn(s, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz/-");
    return n >= 1 && n <= 16 && s[n] == '\0';
}

/* Reads a district body into f; creating makes number and kind required. */
static bool parse_fields(json_t *body, bool creating, struct district_fields *f,
                         struct response *res)
{
    const unsigned required = creating ? JF_REQUIRED : 0;
    *f = (struct district_fields){0};
    const struct jfield spec[] = {
        {"number", JF_STRING, required, &f->number, .valid = number_valid,
         .valid_msg = "must be 1 to 16 of the characters 0-9 A-Z a-z / -"},
        {"kind", JF_STRING, required, &f->kind, .min = 1, .max = 32},
        {"capacity", JF_INT, 0, &f->capacity, .present = &f->has_capacity, .min = 1,
         .max = INT32_MAX},
        {"open", JF_BOOL, 0, &f->open, .present = &f->has_open},
    };
    return jfields_parse(body, "", spec, sizeof spec / sizeof spec[0], res);
}

/* Turns the outcome of a create (201) or an edit (200) into the response, taking out->json. */
static enum api_status write_reply(struct response *res, enum db_status st,
                                   struct district_result *out, const struct district_fields *f,
                                   bool creating)
{
    if (st != DB_OK)
        return res_db_problem(res, st);
    switch (out->outcome) {
    case DISTRICT_OK:
        return res_json_text(res, creating ? 201 : 200, out->json);
    case DISTRICT_NOT_FOUND:
        return res_problem(res, API_NOT_FOUND, "No such %s", creating ? "polyclinic" : "district");
    case DISTRICT_DUPLICATE_NUMBER:
        return res_problem(res, API_CONFLICT, "The polyclinic already has a district number %s",
                           f->number);
    case DISTRICT_STRANDS_PEOPLE:
        res->extra = json_pack("{s:I}", "affected", (json_int_t)out->affected);
        return res_problem(res, API_CONFLICT,
                           "%lld people attached to the district or approved to join it would"
                           " not fit the ages of kind %s",
                           out->affected, f->kind);
    case DISTRICT_UNKNOWN_KIND:
        res_field_error(res, "kind", "must be a district kind (see /v1/district-kinds)");
        break;
    case DISTRICT_OVER_NORM:
        if (out->norm > 0)
            res_field_error(res, "capacity", "must not exceed %lld, the norm of kind %s", out->norm,
                            out->kind);
        else
            res_field_error(res, "capacity", "must not exceed the norm of its kind");
        break;
    case DISTRICT_BELOW_LOAD:
        res_field_error(res, "capacity",
                        "must not be lower than the district's load: it holds %lld people",
                        out->load);
        break;
    }
    return res_validation_result(res);
}

HANDLER(api_districts_list)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such polyclinic");
    char *json = NULL;
    enum db_status st = district_list(req->app->db, id, &json);
    return res_db_json(res, st, json, "No polyclinic %lld", id);
}

HANDLER(api_districts_get)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such district");
    char *json = NULL;
    enum db_status st = district_get(req->app->db, id, &json);
    return res_db_json(res, st, json, "No district %lld", id);
}

/* Shared by create and edit: the path id, the body, the write and the reply. */
static enum api_status write_district(struct request *req, struct response *res, bool creating)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such %s", creating ? "polyclinic" : "district");
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    struct district_fields f;
    enum api_status st = API_OK;
    if (!parse_fields(body, creating, &f, res)) {
        st = res_validation_result(res);
        goto out;
    }
    struct district_result result;
    enum db_status dst = creating ? district_create(req->app->db, id, &f, &result)
                                  : district_update(req->app->db, id, &f, &result);
    if (creating && dst == DB_OK && result.outcome == DISTRICT_OK)
        snprintf(res->location, sizeof res->location, "/v1/districts/%lld", result.id);
    st = write_reply(res, dst, &result, &f, creating);
out:
    json_decref(body);
    return st;
}

HANDLER(api_districts_create)
{
    return write_district(req, res, true);
}

HANDLER(api_districts_update)
{
    return write_district(req, res, false);
}
