/* Operational endpoints: liveness, readiness, metrics, the OpenAPI document. */
#include <stdlib.h>
#include <string.h>
#include "attachd/api.h"
#include "attachd/daily.h"
#include "attachd/metrics.h"
#include "attachd/migrate.h"
#include "attachd/openapi.h"

HANDLER(api_healthz)
{
    (void)req;
    return res_json(res, 200, json_pack("{s:s}", "status", "ok"));
}

/* Ready when a primary answers (not a standby left over from a failover) and holds every
 * migration this binary knows. A load balancer takes an instance out while this says 503. */
HANDLER(api_readyz)
{
    char have[64] = "";
    enum db_status st = db_primary_schema(req->app->db, have, sizeof have);
    if (st != DB_OK) {
        res_problem(res, API_DB_UNAVAILABLE, "no database primary reachable");
        res->extra = json_pack("{s:s}", "ready", "no");
        return API_DB_UNAVAILABLE;
    }
    bool current = strcmp(have, migrate_latest()) >= 0;
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", current ? "ready" : "not ready", "schema",
                             have, "expected_schema", migrate_latest());
    return res_json(res, current ? 200 : 503, body);
}

HANDLER(api_metrics)
{
    /* The unplaced age-outs gauge is the database's figure (runs from cron on other hosts
     * included); left out while the database cannot be reached. */
    long long unplaced = -1;
    if (age_outs_unplaced_count(req->app->db, &unplaced) != DB_OK)
        unplaced = -1;
    metrics_set_age_outs_unplaced(unplaced);
    size_t len = 0;
    res->raw = metrics_render(&len);
    if (!res->raw)
        return res_problem(res, API_INTERNAL, NULL);
    res->raw_len = len;
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    res->status = 200;
    return API_OK;
}

HANDLER(api_openapi)
{
    (void)req;
    return res_json(res, 200, openapi_document());
}
