/* The single table of routes: method, pattern, handler, roles allowed (0 = public).
 * /openapi.json describes exactly these (checked by tests/unit/test_openapi). */
#include "attachd/api.h"
#include "attachd/router.h"

#define ANY   ROLE_ANY
#define ADMIN ROLE_ADMIN

const struct route attachd_routes[] = {
    {"GET", "/healthz", api_healthz, 0, "Liveness"},
    {"GET", "/readyz", api_readyz, 0, "Readiness: database reachable and schema current"},
    {"GET", "/metrics", api_metrics, 0, "Prometheus metrics"},
    {"GET", "/openapi.json", api_openapi, 0, "This OpenAPI document"},
    {"GET", "/v1/settlements", api_settlements_list, ANY, "List settlements"},
    {"POST", "/v1/settlements", api_settlements_create, ADMIN, "Create a settlement"},
    {"GET", "/v1/settlements/{kato}", api_settlements_get, ANY, "One settlement"},
    {"GET", "/v1/district-kinds", api_district_kinds_list, ANY, "District kinds and their norms"},
    {"GET", "/v1/refusal-reasons", api_refusal_reasons_list, ANY, "Refusal reasons"},
    {"GET", "/v1/polyclinics", api_polyclinics_list, ANY, "Search polyclinics"},
    {"POST", "/v1/polyclinics", api_polyclinics_create, ADMIN, "Create a polyclinic"},
    {"GET", "/v1/polyclinics/{id}", api_polyclinics_get, ANY, "One polyclinic with its districts"},
    {"PATCH", "/v1/polyclinics/{id}", api_polyclinics_update, ADMIN, "Edit a polyclinic"},
    {"GET", "/v1/polyclinics/{id}/districts", api_districts_list, ANY, "A polyclinic's districts"},
    {"POST", "/v1/polyclinics/{id}/districts", api_districts_create, ADMIN, "Create a district"},
    {"GET", "/v1/districts/{id}", api_districts_get, ANY, "One district with its load"},
    {"PATCH", "/v1/districts/{id}", api_districts_update, ADMIN, "Edit a district"},
    {"GET", "/v1/campaigns", api_campaigns_list, ANY, "List campaigns"},
    /* before /v1/campaigns/{year}: the first matching route wins */
    {"GET", "/v1/campaigns/current", api_campaigns_current, ANY,
     "The campaign open today, else the one of the current year"},
    {"GET", "/v1/campaigns/{year}", api_campaigns_get, ANY, "The campaign of a year"},
    {"PUT", "/v1/campaigns/{year}", api_campaigns_put, ADMIN,
     "Create or replace the campaign of a year"},
    {"POST", "/v1/tokens", api_tokens_create, ADMIN,
     "Create an access token (the secret is shown once)"},
    {"DELETE", "/v1/tokens/{id}", api_tokens_revoke, ADMIN, "Revoke an access token"},
};

const size_t attachd_nroutes = sizeof attachd_routes / sizeof attachd_routes[0];
