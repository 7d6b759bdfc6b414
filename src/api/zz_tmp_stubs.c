#include "attachd/api.h"
#define STUB(n) HANDLER(n) { (void)req; return res_problem(res, API_INTERNAL, "not yet"); }
STUB(api_polyclinics_list) STUB(api_polyclinics_get) STUB(api_polyclinics_create) STUB(api_polyclinics_update)
STUB(api_districts_list) STUB(api_districts_create) STUB(api_districts_update)
STUB(api_campaigns_list) STUB(api_campaigns_current) STUB(api_campaigns_put)
