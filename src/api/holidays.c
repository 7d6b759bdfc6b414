/* Holidays: read by anyone, kept by admins (movable feasts, the government's day-off transfers).
 * Working days, and so decision deadlines, follow them at once. */
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/db_holidays.h"
#include "attachd/jfields.h"

HANDLER(api_holidays_list)
{
    const char *year = req_query(req, "year");
    long long y = 0;
    if (year && !parse_ll(year, 2000, 9999, &y)) {
        res_field_error(res, "year", "must be a year, 2000 to 9999");
        return res_validation_result(res);
    }
    char *json = NULL;
    enum db_status st = holiday_list(req->app->db, y, &json);
    return res_db_json(res, st, json, NULL);
}

/* The path's date, or a 404 when it is not one. */
static bool path_day(struct request *req, struct response *res)
{
    if (date_valid(req->params[0]))
        return true;
    res_problem(res, API_NOT_FOUND, "No such day: use YYYY-MM-DD");
    return false;
}

HANDLER(api_holidays_put)
{
    if (!path_day(req, res))
        return res->problem;
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    const char *name = NULL, *day = NULL;
    const struct jfield spec[] = {
        {"name", JF_STRING, JF_REQUIRED, &name, .min = 1, .max = 200},
        {"day", JF_DATE, 0, &day, .present = NULL},
    };
    enum api_status rs;
    if (!jfields_parse(body, "", spec, 2, res) ||
        (day && strcmp(day, req->params[0]) != 0 &&
         (res_field_error(res, "day", "must be the day in the path, %s", req->params[0]), 1))) {
        rs = res_validation_result(res);
        goto out;
    }
    bool created = false;
    char *json = NULL;
    enum db_status st = holiday_put(req->app->db, req->params[0], name, &created, &json);
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    if (created)
        snprintf(res->location, sizeof res->location, "/v1/holidays/%s", req->params[0]);
    rs = res_json_text(res, created ? 201 : 200, json);
out:
    json_decref(body);
    return rs;
}

HANDLER(api_holidays_delete)
{
    if (!path_day(req, res))
        return res->problem;
    bool found = false;
    enum db_status st = holiday_delete(req->app->db, req->params[0], &found);
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (!found)
        return res_problem(res, API_NOT_FOUND, "%s is not a holiday", req->params[0]);
    res->status = 204;
    return API_OK;
}
