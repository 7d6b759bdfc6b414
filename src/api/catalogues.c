/* Read-only catalogues seeded by migrations: district kinds and refusal reasons. */
#include "attachd/api.h"
#include "attachd/catalog.h"

HANDLER(api_district_kinds_list)
{
    return catalog_list(&catalog_district_kinds, req, res);
}

HANDLER(api_refusal_reasons_list)
{
    return catalog_list(&catalog_refusal_reasons, req, res);
}
