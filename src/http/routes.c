/* The single table of routes: method, pattern, handler, roles allowed (0 = public).
 * /openapi.json describes exactly these (checked by tests/unit/test_openapi). */
#include "attachd/api.h"
#include "attachd/router.h"

#define ANY       ROLE_ANY
#define ADMIN     ROLE_ADMIN
#define PORTAL    ROLE_PORTAL
#define REGISTRAR ROLE_REGISTRAR

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
    {"GET", "/v1/holidays", api_holidays_list, ANY,
     "Public holidays of a year (default: the coming 365 days)"},
    {"PUT", "/v1/holidays/{day}", api_holidays_put, ADMIN, "Create or rename a holiday"},
    {"DELETE", "/v1/holidays/{day}", api_holidays_delete, ADMIN, "Remove a holiday"},
    {"POST", "/v1/applications", api_applications_submit, PORTAL | REGISTRAR,
     "Submit an application (registrar: in person, to its own polyclinic)"},
    {"GET", "/v1/applications", api_applications_list, ADMIN | REGISTRAR,
     "The work queue: by polyclinic, status, overdue, iin, channel, grounds, submission dates"},
    {"GET", "/v1/applications/{id}", api_applications_get, ANY, "One application"},
    {"POST", "/v1/eligibility", api_eligibility, PORTAL | REGISTRAR | ADMIN,
     "Dry run of a submission: the outcome the checks would give now, nothing stored"},
    {"POST", "/v1/applications/{id}/approve", api_applications_approve, REGISTRAR,
     "Approve, optionally into a district by id or number (re-checked: may end as refused "
     "CLINIC_NOT_ACCEPTING or CAPACITY_EXCEEDED)"},
    {"POST", "/v1/applications/{id}/refuse", api_applications_refuse, REGISTRAR,
     "Refuse with an official reason or ALREADY_ATTACHED"},
    {"POST", "/v1/applications/{id}/withdraw", api_applications_withdraw, PORTAL,
     "Withdraw a pending application"},
    {"GET", "/v1/persons/{iin}/attachment", api_person_attachment, ANY,
     "The attachment valid on a date (default today) and the upcoming one"},
    {"GET", "/v1/persons/{iin}/attachments", api_person_attachments, ANY,
     "A person's attachment history"},
    {"GET", "/v1/polyclinics/{id}/transfers", api_polyclinic_transfers, ADMIN | REGISTRAR,
     "Transfers into and out of a polyclinic"},
    {"PUT", "/v1/persons/{iin}/insurance", api_person_insurance_put, ADMIN | PORTAL,
     "Record a renewed EAEU insurance contract (the open attachment runs on; a lapsed one is not "
     "revived)"},
    {"GET", "/v1/polyclinics/{id}/age-outs", api_polyclinic_age_outs, ADMIN | REGISTRAR,
     "Children past their pediatric district's age who could not be placed"},
    {"POST", "/v1/maintenance/daily", api_maintenance_daily, ADMIN,
     "Run the daily run for a date (default today): age-outs, EAEU lapses, start/end events"},
    {"GET", "/v1/polyclinics/{id}/attachments", api_polyclinic_attachments, ADMIN | REGISTRAR,
     "The people attached on a date (default today), by district; JSON pages or, with Accept:"
     " text/csv, the whole list as streamed CSV"},
    {"GET", "/v1/polyclinics/{id}/population", api_polyclinic_population, ADMIN | REGISTRAR,
     "Counts of the people attached on a date: by district, sex and age band"},
    {"GET", "/v1/stats/campaigns/{year}", api_campaign_stats, ADMIN,
     "Counts of a campaign, narrowed by settlement or polyclinic: by status, refusal reason,"
     " channel, grounds, people who used their right of choice, transfers by ownership (JSON or"
     " CSV)"},
    {"GET", "/v1/stats/attached", api_attached_stats, ADMIN,
     "The people attached on a date per settlement and polyclinic, and in total (JSON or CSV)"},
    {"GET", "/v1/audit", api_audit_list, ADMIN,
     "The audit trail of decisions and catalogue changes (entity, id)"},
    {"GET", "/v1/events", api_events_list, ADMIN | PORTAL | REGISTRAR,
     "Events in commit order after a cursor, with long polling (registrar: its polyclinic's)"},
    {"POST", "/v1/tokens", api_tokens_create, ADMIN,
     "Create an access token (the secret is shown once)"},
    {"DELETE", "/v1/tokens/{id}", api_tokens_revoke, ADMIN, "Revoke an access token"},
};

const size_t attachd_nroutes = sizeof attachd_routes / sizeof attachd_routes[0];
