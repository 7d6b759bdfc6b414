/* HTTP handlers, one file per resource under src/api/. Each reads the request, calls the
 * domain and database modules, and fills the response. */
#ifndef ATTACHD_API_H
#define ATTACHD_API_H

#include <string.h>
#include "attachd/http.h"

#define HANDLER(name) enum api_status name(struct request *req, struct response *res)

/* ops.c */
HANDLER(api_healthz);
HANDLER(api_readyz);
HANDLER(api_metrics);
HANDLER(api_openapi);
/* settlements.c, catalogues.c */
HANDLER(api_settlements_list);
HANDLER(api_settlements_get);
HANDLER(api_settlements_create);
HANDLER(api_district_kinds_list);
HANDLER(api_refusal_reasons_list);
/* polyclinics.c */
HANDLER(api_polyclinics_list);
HANDLER(api_polyclinics_get);
HANDLER(api_polyclinics_create);
HANDLER(api_polyclinics_update);
/* districts.c */
HANDLER(api_districts_list);
HANDLER(api_districts_get);
HANDLER(api_districts_create);
HANDLER(api_districts_update);
/* campaigns.c */
HANDLER(api_campaigns_list);
HANDLER(api_campaigns_current);
HANDLER(api_campaigns_get);
HANDLER(api_campaigns_put);
/* applications.c */
HANDLER(api_applications_submit);
HANDLER(api_applications_list);
HANDLER(api_applications_get);
HANDLER(api_applications_approve);
HANDLER(api_applications_refuse);
HANDLER(api_applications_withdraw);
HANDLER(api_eligibility);
/* persons.c */
HANDLER(api_person_attachment);
HANDLER(api_person_attachments);
HANDLER(api_polyclinic_transfers);
/* population.c */
HANDLER(api_polyclinic_attachments);
HANDLER(api_polyclinic_population);
/* reports.c */
HANDLER(api_campaign_stats);
HANDLER(api_attached_stats);
/* holidays.c */
HANDLER(api_holidays_list);
HANDLER(api_holidays_put);
HANDLER(api_holidays_delete);
/* audit.c */
HANDLER(api_audit_list);
/* events.c */
HANDLER(api_events_list);
/* maintenance.c */
HANDLER(api_maintenance_daily);
HANDLER(api_polyclinic_age_outs);
HANDLER(api_person_insurance_put);
/* tokens.c */
HANDLER(api_tokens_create);
HANDLER(api_tokens_revoke);

/* Ownership rule of SPEC §6: a registrar acts only on its own polyclinic. */
static inline bool may_act_on_polyclinic(const struct principal *who, long long polyclinic_id)
{
    return who->role != ROLE_REGISTRAR || who->polyclinic_id == polyclinic_id;
}

#endif
