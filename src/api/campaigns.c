/* Campaigns: the list, the current one, one year's, and the admin's create-or-replace. */
#include <stdio.h>
#include "attachd/api.h"
#include "attachd/db_campaigns.h"
#include "attachd/jfields.h"

#define YEAR_MIN 2000 /* campaigns_year_check */
#define YEAR_MAX 9998

HANDLER(api_campaigns_list)
{
    char *json = NULL;
    enum db_status st = campaign_list(req->app->db, &json);
    return res_db_json(res, st, json, NULL);
}

HANDLER(api_campaigns_current)
{
    char *json = NULL;
    enum db_status st = campaign_current(req->app->db, &json);
    return res_db_json(res, st, json, "No campaign is open today nor planned for this year");
}

HANDLER(api_campaigns_get)
{
    long long year;
    if (!parse_ll(req->params[0], YEAR_MIN, YEAR_MAX, &year))
        return res_problem(res, API_NOT_FOUND, "No such campaign");
    char *json = NULL;
    enum db_status st = campaign_get(req->app->db, year, &json);
    return res_db_json(res, st, json, "No campaign for %lld", year);
}

/* Reads and checks a PUT body for the campaign of `year` into in (its dates borrowed from body;
 * effective_on written to default_effective when absent). Adds field errors to res. */
static void parse_campaign(json_t *body, long long year, struct campaign_input *in,
                           char default_effective[32], struct response *res)
{
    long long body_year = year;
    *in = (struct campaign_input){.year = year, .max_changes = 1};
    snprintf(default_effective, 32, "%04lld-01-01", year + 1);
    in->effective_on = default_effective;
    const struct jfield spec[] = {
        {"year", JF_INT, 0, &body_year, .present = NULL},
        {"opens_on", JF_DATE, JF_REQUIRED, &in->opens_on, .present = NULL},
        {"closes_on", JF_DATE, JF_REQUIRED, &in->closes_on, .present = NULL},
        {"effective_on", JF_DATE, 0, &in->effective_on, .present = NULL},
        {"max_changes", JF_INT, 0, &in->max_changes, .min = 0, .max = 366},
    };
    if (!jfields_parse(body, "", spec, sizeof spec / sizeof spec[0], res))
        return;
    if (body_year != year)
        res_field_error(res, "year", "must be the year in the path, %lld", year);
    /* YYYY-MM-DD strings compare as the dates they name. A window need not lie inside its year
     * (a campaign may open in the December before); windows only must not overlap. */
    if (strcmp(in->closes_on, in->opens_on) < 0)
        res_field_error(res, "closes_on", "must not be before opens_on");
    if (strcmp(in->effective_on, in->opens_on) < 0)
        res_field_error(res, "effective_on", "must not be before opens_on");
}

/* Turns the outcome of a PUT into the response; `json` is taken. */
static enum api_status put_reply(struct response *res, const struct campaign_input *in,
                                 enum campaign_outcome outcome,
                                 const struct campaign_overlap *overlap, char *json)
{
    if (outcome == CAMPAIGN_CREATED) {
        snprintf(res->location, sizeof res->location, "/v1/campaigns/%lld", in->year);
        return res_json_text(res, 201, json);
    }
    if (outcome == CAMPAIGN_REPLACED)
        return res_json_text(res, 200, json);
    if (!overlap->known)
        return res_problem(res, API_CONFLICT, "The window %s..%s overlaps another campaign",
                           in->opens_on, in->closes_on);
    res->extra = json_pack("{s:I}", "overlaps", (json_int_t)overlap->year);
    return res_problem(res, API_CONFLICT,
                       "The window %s..%s overlaps the campaign of %lld (%s..%s)", in->opens_on,
                       in->closes_on, overlap->year, overlap->opens_on, overlap->closes_on);
}

HANDLER(api_campaigns_put)
{
    long long year;
    if (!parse_ll(req->params[0], 0, 9999, &year))
        return res_problem(res, API_NOT_FOUND, "No such campaign");
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    struct campaign_input in = {0};
    char default_effective[32];
    if (year < YEAR_MIN || year > YEAR_MAX)
        res_field_error(res, "year", "must be from %d to %d", YEAR_MIN, YEAR_MAX);
    else
        parse_campaign(body, year, &in, default_effective, res);
    enum api_status st = res_validation_result(res);
    if (st == API_OK) {
        enum campaign_outcome outcome;
        struct campaign_overlap overlap;
        char *json = NULL;
        enum db_status dst = campaign_put(req->app->db, &in, &outcome, &overlap, &json);
        st = dst == DB_OK ? put_reply(res, &in, outcome, &overlap, json) : res_db_problem(res, dst);
    }
    json_decref(body);
    return st;
}
