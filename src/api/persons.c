/* The register: a person's attachment and history, a polyclinic's transfers (SPEC §5, §8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/db_registry.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     500

/* The path IIN and the registrar's scope; false (with a 422) for an IIN that is not 12 digits. */
static bool person_query(struct request *req, struct response *res, struct person_query *q)
{
    const char *iin = req->params[0];
    *q = (struct person_query){.iin = iin, .on = req_query(req, "on")};
    if (!iin_shaped(iin))
        res_field_error(res, "iin", "must be 12 digits");
    if (q->on && !date_valid(q->on))
        res_field_error(res, "on", "must be a date, YYYY-MM-DD");
    if (req->who.role == ROLE_REGISTRAR)
        q->registrar_polyclinic_id = req->who.polyclinic_id;
    return res_validation_result(res) == API_OK;
}

#define NO_PERSON "No attachment or application on record for this person"

HANDLER(api_person_attachment)
{
    struct person_query q;
    if (!person_query(req, res, &q))
        return res->problem;
    char *json = NULL;
    enum db_status st = person_attachment(req->app->db, &q, &json);
    return res_db_json(res, st, json, NO_PERSON);
}

HANDLER(api_person_attachments)
{
    struct person_query q;
    if (!person_query(req, res, &q))
        return res->problem;
    char *json = NULL;
    enum db_status st = person_attachments(req->app->db, &q, &json);
    return res_db_json(res, st, json, NO_PERSON);
}

HANDLER(api_polyclinic_transfers)
{
    struct transfer_query q = {.limit = PAGE_DEFAULT};
    if (!parse_ll(req->params[0], 1, INT64_MAX, &q.polyclinic_id) ||
        !may_act_on_polyclinic(&req->who, q.polyclinic_id))
        return res_problem(res, API_NOT_FOUND, "No such polyclinic among yours");
    const char *direction = req_query(req, "direction");
    q.from = req_query(req, "from");
    q.to = req_query(req, "to");
    if (direction && strcmp(direction, "in") == 0)
        q.direction = TRANSFERS_IN;
    else if (direction && strcmp(direction, "out") == 0)
        q.direction = TRANSFERS_OUT;
    else if (direction)
        res_field_error(res, "direction", "must be in or out (absent: both)");
    if (q.from && !date_valid(q.from))
        res_field_error(res, "from", "must be a date, YYYY-MM-DD");
    if (q.to && !date_valid(q.to))
        res_field_error(res, "to", "must be a date, YYYY-MM-DD");
    req_page(req, res, PAGE_DEFAULT, PAGE_MAX, &q.after_id, &q.limit);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = transfer_list(req->app->db, &q, &json);
    return res_db_json(res, st, json, "No polyclinic %lld", q.polyclinic_id);
}
