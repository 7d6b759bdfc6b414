/* Settlements (KATO catalogue): read from the in-memory copy, created by admins. */
#include "attachd/api.h"
#include "attachd/catalog.h"
#include "attachd/db_catalogues.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"

HANDLER(api_settlements_list)
{
    return catalog_list(&catalog_settlements, req, res);
}

HANDLER(api_settlements_get)
{
    if (!kato_valid(req->params[0]))
        return res_problem(res, API_NOT_FOUND, "A KATO code is 9 digits");
    return catalog_get(&catalog_settlements, req->params[0], req, res);
}

HANDLER(api_settlements_create)
{
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    const char *kato = NULL, *name_kk = NULL, *name_ru = NULL;
    const struct jfield spec[] = {
        {"kato", JF_STRING, JF_REQUIRED, &kato, .valid = kato_valid,
         .valid_msg = "must be a KATO code of 9 digits"},
        {"name_kk", JF_STRING, JF_REQUIRED, &name_kk, .min = 1, .max = 200},
        {"name_ru", JF_STRING, JF_REQUIRED, &name_ru, .min = 1, .max = 200},
    };
    enum api_status st = API_OK;
    if (!jfields_parse(body, "", spec, sizeof spec / sizeof spec[0], res)) {
        st = res_validation_result(res);
        goto out;
    }
    enum db_status dst = db_settlement_insert(req->app->db, kato, name_kk, name_ru);
    if (dst == DB_UNIQUE_VIOLATION) {
        st = res_problem(res, API_CONFLICT, "Settlement %s already exists", kato);
        goto out;
    }
    if (dst != DB_OK) {
        st = res_db_problem(res, dst);
        goto out;
    }
    catalog_invalidate(&catalog_settlements);
    snprintf(res->location, sizeof res->location, "/v1/settlements/%s", kato);
    st = res_json(
        res, 201,
        json_pack("{s:s, s:s, s:s}", "kato", kato, "name_kk", name_kk, "name_ru", name_ru));
out:
    json_decref(body);
    return st;
}
