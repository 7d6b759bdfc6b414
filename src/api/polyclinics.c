/* Polyclinics: search (by settlement, participation, distance and room for an age), one
 * polyclinic with its districts, and the admin's create and edit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/catalog.h"
#include "attachd/db_polyclinics.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"

#define PAGE_DEFAULT   50
#define PAGE_MAX       500
#define NAME_MAX_CHARS 500 /* polyclinics_name_*_check counts characters, not bytes */

/* "LAT,LON" in degrees: two finite decimal numbers within -90..90 and -180..180. */
static bool parse_near(const char *s, double *lat, double *lon)
{
    char *end;
    *lat = strtod(s, &end);
    if (end == s || *end != ',')
        return false;
    const char *second = end + 1;
    *lon = strtod(second, &end);
    if (end == second || *end != '\0')
        return false;
    return isfinite(*lat) && isfinite(*lon) && fabs(*lat) <= 90 && fabs(*lon) <= 180;
}

/* Reads "true" or "false" into 1 or 0. */
static bool parse_flag(const char *s, int *out)
{
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0) {
        *out = s[0] == 't';
        return true;
    }
    return false;
}

/* Reads the search arguments into q, adding a field error for each bad one. */
static void parse_query(const struct request *req, struct response *res, struct polyclinic_query *q)
{
    const char *settlement = req_query(req, "settlement"), *accepting = req_query(req, "accepting");
    const char *near = req_query(req, "near"), *age = req_query(req, "has_room_for_age");
    const char *cursor = req_query(req, "cursor"), *limit = req_query(req, "limit");
    long long n = 0;
    *q = (struct polyclinic_query){.accepting = -1, .room_for_age = -1, .limit = PAGE_DEFAULT};
    if (settlement && !kato_valid(settlement))
        res_field_error(res, "settlement", "must be a KATO code of 9 digits");
    q->settlement = settlement;
    if (accepting && !parse_flag(accepting, &q->accepting))
        res_field_error(res, "accepting", "must be true or false");
    q->near = near != NULL;
    if (near && !parse_near(near, &q->lat, &q->lon))
        res_field_error(res, "near", "must be LAT,LON in degrees (-90..90, -180..180)");
    if (age && !parse_ll(age, 0, 150, &n))
        res_field_error(res, "has_room_for_age", "must be a whole number of years, 0 to 150");
    q->room_for_age = age ? (int)n : -1;
    if (cursor && near)
        res_field_error(res, "cursor",
                        "cannot be combined with near: a search by distance has "
                        "one page, the nearest `limit` polyclinics");
    else if (cursor && !parse_ll(cursor, 0, INT64_MAX, &q->after_id))
        res_field_error(res, "cursor", "must be the next_cursor of a previous page");
    if (limit && !parse_ll(limit, 1, PAGE_MAX, &n))
        res_field_error(res, "limit", "must be a whole number from 1 to %d", PAGE_MAX);
    q->limit = limit ? (int)n : PAGE_DEFAULT;
}

HANDLER(api_polyclinics_list)
{
    struct polyclinic_query q;
    parse_query(req, res, &q);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = polyclinic_search(req->app->db, &q, &json);
    return res_db_json(res, st, json, NULL);
}

HANDLER(api_polyclinics_get)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such polyclinic");
    char *json = NULL;
    enum db_status st = polyclinic_get(req->app->db, id, &json);
    return res_db_json(res, st, json, "No polyclinic %lld", id);
}

/* A name of 1 to NAME_MAX_CHARS characters (UTF-8, as every JSON string here is). */
static bool name_valid(const char *s)
{
    size_t chars = 0;
    for (; *s; s++)
        chars += ((unsigned char)*s & 0xC0) != 0x80;
    return chars >= 1 && chars <= NAME_MAX_CHARS;
}

/* Reads a polyclinic body into f. Creating: the identity fields are required and the flags take
 * their defaults (fsms_contract and accepting true, auto_approve false); editing: every field is
 * optional and only the given ones are set. */
static void parse_fields(json_t *body, bool creating, struct polyclinic_fields *f,
                         struct response *res)
{
    static const char *const ownerships[] = {"public", "private", NULL};
    const unsigned identity = creating ? JF_REQUIRED : 0;
    *f = (struct polyclinic_fields){.fsms_contract = true, .accepting = true};
    if (creating)
        f->address = "";
    const struct jfield spec[] = {
        {"bin", JF_STRING, identity, &f->bin, .valid = bin_valid,
         .valid_msg = "must be a BIN: 12 digits, a valid check digit, the 5th digit 4, 5 or 6"},
        {"name_kk", JF_STRING, identity, &f->name_kk, .valid = name_valid,
         .valid_msg = "must be 1 to 500 characters"},
        {"name_ru", JF_STRING, identity, &f->name_ru, .valid = name_valid,
         .valid_msg = "must be 1 to 500 characters"},
        {"settlement", JF_STRING, identity, &f->settlement, .valid = kato_valid,
         .valid_msg = "must be a KATO code of 9 digits"},
        {"also_serves", JF_STRINGS, 0, &f->also_serves, .max = 100, .valid = kato_valid,
         .valid_msg = "must be a KATO code of 9 digits"},
        {"address", JF_STRING, 0, &f->address, .min = 0, .max = 1000},
        {"lat", JF_NUMBER, 0, &f->lat, .present = &f->has_lat},
        {"lon", JF_NUMBER, 0, &f->lon, .present = &f->has_lon},
        {"ownership", JF_STRING, identity, &f->ownership, .one_of = ownerships},
        {"fsms_contract", JF_BOOL, 0, &f->fsms_contract, .present = &f->has_fsms_contract},
        {"accepting", JF_BOOL, 0, &f->accepting, .present = &f->has_accepting},
        {"auto_approve", JF_BOOL, 0, &f->auto_approve, .present = &f->has_auto_approve},
    };
    jfields_parse(body, "", spec, sizeof spec / sizeof spec[0], res);
    if (f->has_lat && fabs(f->lat) > 90)
        res_field_error(res, "lat", "must be from -90 to 90");
    if (f->has_lon && fabs(f->lon) > 180)
        res_field_error(res, "lon", "must be from -180 to 180");
    if (creating && f->has_lat != f->has_lon)
        res_field_error(res, f->has_lat ? "lon" : "lat", "lat and lon are given together");
    if (creating)
        f->has_fsms_contract = f->has_accepting = f->has_auto_approve = true;
}

/* Adds a field error at `field` when kato is not in the settlements catalogue. */
static enum db_status check_kato(struct request *req, struct response *res, const char *field,
                                 const char *kato)
{
    json_t *item = NULL;
    enum db_status st = catalog_lookup(&catalog_settlements, req->app->db, kato, &item);
    if (st == DB_OK && !item)
        res_field_error(res, field, "no settlement has KATO %s", kato);
    json_decref(item);
    return st;
}

/* The settlement and every also_serves KATO must be catalogued: checked here for a message per
 * field; the foreign keys are the guarantee. */
static enum db_status check_settlements(struct request *req, struct response *res,
                                        const struct polyclinic_fields *f)
{
    enum db_status st = f->settlement ? check_kato(req, res, "settlement", f->settlement) : DB_OK;
    size_t i;
    json_t *kato;
    json_array_foreach(f->also_serves, i, kato)
    {
        char field[48];
        snprintf(field, sizeof field, "also_serves[%zu]", i);
        if (st == DB_OK)
            st = check_kato(req, res, field, json_string_value(kato));
    }
    return st;
}

/* Parses and checks a body; API_OK when f may be written. */
static enum api_status read_fields(struct request *req, struct response *res, json_t *body,
                                   bool creating, struct polyclinic_fields *f)
{
    parse_fields(body, creating, f, res);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    enum db_status st = check_settlements(req, res, f);
    if (st != DB_OK)
        return res_db_problem(res, st);
    return res_validation_result(res);
}

/* Turns the outcome of a write into the response; `json` is taken. */
static enum api_status write_reply(struct response *res, enum db_status st,
                                   enum polyclinic_outcome outcome, long long affected,
                                   const struct polyclinic_fields *f, unsigned status, char *json)
{
    if (st != DB_OK)
        return res_db_problem(res, st);
    switch (outcome) {
    case POLYCLINIC_OK:
        return res_json_text(res, status, json);
    case POLYCLINIC_NOT_FOUND:
        return res_problem(res, API_NOT_FOUND, "No such polyclinic");
    case POLYCLINIC_DUPLICATE_BIN:
        return res_problem(res, API_CONFLICT, "A polyclinic with BIN %s already exists", f->bin);
    case POLYCLINIC_UNKNOWN_SETTLEMENT:
        res_field_error(res, "settlement", "no settlement has KATO %s", f->settlement);
        break;
    case POLYCLINIC_UNKNOWN_ALSO_SERVES:
        res_field_error(res, "also_serves", "names a settlement that is not catalogued");
        break;
    case POLYCLINIC_STRANDS_PEOPLE:
        res->extra = json_pack("{s:I}", "affected", (json_int_t)affected);
        return res_problem(res, API_CONFLICT,
                           "The polyclinic holds %lld people: it cannot move to settlement %s"
                           " while they are attached",
                           affected, f->settlement);
    }
    return res_validation_result(res);
}

HANDLER(api_polyclinics_create)
{
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    struct polyclinic_fields f;
    enum api_status st = read_fields(req, res, body, true, &f);
    if (st == API_OK) {
        enum polyclinic_outcome outcome;
        long long id = 0;
        char *json = NULL;
        enum db_status dst = polyclinic_create(req->app->db, &f, &outcome, &id, &json);
        if (dst == DB_OK && outcome == POLYCLINIC_OK)
            snprintf(res->location, sizeof res->location, "/v1/polyclinics/%lld", id);
        st = write_reply(res, dst, outcome, 0, &f, 201, json);
    }
    json_decref(body);
    return st;
}

HANDLER(api_polyclinics_update)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such polyclinic");
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    struct polyclinic_fields f;
    enum api_status st = read_fields(req, res, body, false, &f);
    if (st == API_OK) {
        enum polyclinic_outcome outcome;
        long long affected = 0;
        char *json = NULL;
        enum db_status dst = polyclinic_update(req->app->db, id, &f, &outcome, &affected, &json);
        st = write_reply(res, dst, outcome, affected, &f, 200, json);
    }
    json_decref(body);
    return st;
}
