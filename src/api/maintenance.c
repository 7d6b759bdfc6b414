/* The daily run over HTTP, the children it could not place, and renewed EAEU insurance
 * (SPEC §11). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "attachd/api.h"
#include "attachd/daily.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"
#include "attachd/metrics.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     500

/* POST /v1/maintenance/daily {"on"?: DATE, "polyclinic_id"?: ID}: the same run as `attachd
 * daily`. No body at all is the same as {}. */
HANDLER(api_maintenance_daily)
{
    json_t *body = NULL;
    if (req->body_len > 0 && req_json_object(req, res, &body) != API_OK)
        return res->problem;
    const char *on_text = NULL;
    long long polyclinic_id = 0;
    const struct jfield spec[] = {
        {"on", JF_DATE, JF_NULLABLE, &on_text, .present = NULL},
        {"polyclinic_id", JF_INT, JF_NULLABLE, &polyclinic_id, .min = 1, .max = INT64_MAX},
    };
    enum api_status rs;
    if (body && !jfields_parse(body, "", spec, 2, res)) {
        rs = res_validation_result(res);
        goto out;
    }
    day_t on = almaty_day(time(NULL));
    if (on_text && !date_parse(on_text, &on)) {
        rs = res_problem(res, API_INTERNAL, "date_valid and date_parse disagree");
        goto out;
    }
    enum db_status st = DB_OK;
    if (polyclinic_id) {
        bool exists = false;
        st = daily_polyclinic_exists(req->app->db, polyclinic_id, &exists);
        if (st == DB_OK && !exists) {
            res_field_error(res, "polyclinic_id", "no polyclinic %lld", polyclinic_id);
            rs = res_validation_result(res);
            goto out;
        }
    }
    struct daily_counts counts = {0};
    if (st == DB_OK)
        st = daily_run(req->app->db, on, polyclinic_id, &counts);
    metrics_daily_record(st == DB_OK, counts.aged_out, counts.unplaced, counts.lapsed,
                         counts.started, counts.ended);
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    rs = res_json_text(res, 200, daily_counts_json(on, &counts));
out:
    json_decref(body);
    return rs;
}

/* GET /v1/polyclinics/{id}/age-outs: children due to leave a pediatric district, not placed. */
HANDLER(api_polyclinic_age_outs)
{
    long long polyclinic_id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &polyclinic_id) ||
        !may_act_on_polyclinic(&req->who, polyclinic_id))
        return res_problem(res, API_NOT_FOUND, "No such polyclinic among yours");
    long long after_id = 0;
    int limit = PAGE_DEFAULT;
    req_page(req, res, PAGE_DEFAULT, PAGE_MAX, &after_id, &limit);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = age_outs_list(req->app->db, polyclinic_id, after_id, limit, &json);
    return res_db_json(res, st, json, "No polyclinic %lld", polyclinic_id);
}

/* PUT /v1/persons/{iin}/insurance {"number", "valid_until"}: a renewed EAEU contract. */
HANDLER(api_person_insurance_put)
{
    const char *iin = req->params[0];
    if (!iin_shaped(iin)) {
        res_field_error(res, "iin", "must be 12 digits");
        return res_validation_result(res);
    }
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    const char *number = NULL, *valid_until = NULL;
    const struct jfield spec[] = {
        {"number", JF_STRING, JF_REQUIRED, &number, .min = 1, .max = 64},
        {"valid_until", JF_DATE, JF_REQUIRED, &valid_until, .present = NULL},
    };
    enum api_status rs;
    if (!jfields_parse(body, "", spec, 2, res)) {
        rs = res_validation_result(res);
        goto out;
    }
    enum insurance_status outcome = INSURANCE_NO_PERSON;
    char *json = NULL;
    enum db_status st = insurance_put(req->app->db, iin, number, valid_until, &outcome, &json);
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    if (outcome == INSURANCE_NO_PERSON) {
        rs = res_problem(res, API_NOT_FOUND, "No attachment on record for this person");
        goto out;
    }
    rs = res_json_text(res, 200, json);
out:
    json_decref(body);
    return rs;
}
