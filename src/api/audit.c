/* GET /v1/audit: the trail of decisions and catalogue changes, for admins. */
#include <stdint.h>
#include "attachd/api.h"
#include "attachd/db_audit.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     500

HANDLER(api_audit_list)
{
    struct audit_query q = {.entity = req_query(req, "entity"),
                            .entity_id = req_query(req, "id"),
                            .limit = PAGE_DEFAULT};
    if (q.entity && (strlen(q.entity) < 1 || strlen(q.entity) > 64))
        res_field_error(res, "entity", "must be an entity name such as application or district");
    if (q.entity_id && (strlen(q.entity_id) < 1 || strlen(q.entity_id) > 64))
        res_field_error(res, "id", "must be 1 to 64 characters");
    if (q.entity_id && !q.entity)
        res_field_error(res, "entity", "is required with id");
    req_page(req, res, PAGE_DEFAULT, PAGE_MAX, &q.after_id, &q.limit);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = audit_list(req->app->db, &q, &json);
    return res_db_json(res, st, json, NULL);
}
