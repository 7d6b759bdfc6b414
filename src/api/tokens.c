/* Tokens over HTTP for admins (the CLI does the same): create and revoke. */
#include <stdint.h>
#include <stdio.h>
#include "attachd/api.h"
#include "attachd/jfields.h"

HANDLER(api_tokens_create)
{
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    static const char *const roles[] = {"admin", "portal", "registrar", NULL};
    const char *role_s = NULL, *name = "";
    long long polyclinic_id = 0;
    bool has_polyclinic = false;
    const struct jfield spec[] = {
        {"role", JF_STRING, JF_REQUIRED, &role_s, .one_of = roles},
        {"polyclinic_id", JF_INT, JF_NULLABLE, &polyclinic_id, .present = &has_polyclinic, .min = 1,
         .max = INT64_MAX},
        {"name", JF_STRING, 0, &name, .min = 0, .max = 60},
    };
    enum api_status st = API_OK;
    enum role role = ROLE_NONE;
    if (jfields_parse(body, "", spec, sizeof spec / sizeof spec[0], res))
        role_parse(role_s, &role);
    if (role != ROLE_NONE && (role == ROLE_REGISTRAR) != has_polyclinic)
        res_field_error(res, "polyclinic_id", "is required for (and only for) the registrar role");
    if ((st = res_validation_result(res)) != API_OK)
        goto out;

    struct db_conn *conn;
    enum db_status dst = db_acquire(req->app->db, &conn);
    if (dst != DB_OK) {
        st = res_db_problem(res, dst);
        goto out;
    }
    char secret[TOKEN_SECRET_LEN + 1];
    long long id = 0;
    dst = token_create(conn, role, polyclinic_id, name, secret, &id);
    db_release(req->app->db, conn);
    if (dst == DB_FK_VIOLATION) {
        res_field_error(res, "polyclinic_id", "no such polyclinic");
        st = res_validation_result(res);
    } else if (dst != DB_OK) {
        st = res_db_problem(res, dst);
    } else {
        snprintf(res->location, sizeof res->location, "/v1/tokens/%lld", id);
        json_t *out = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "role", role_s,
                                "name", name, "token", secret);
        if (role == ROLE_REGISTRAR)
            json_object_set_new(out, "polyclinic_id", json_integer(polyclinic_id));
        st = res_json(res, 201, out);
    }
out:
    json_decref(body);
    return st;
}

HANDLER(api_tokens_revoke)
{
    long long id;
    if (!parse_ll(req->params[0], 1, INT64_MAX, &id))
        return res_problem(res, API_NOT_FOUND, "No such token");
    struct db_conn *conn;
    enum db_status dst = db_acquire(req->app->db, &conn);
    if (dst != DB_OK)
        return res_db_problem(res, dst);
    bool found = false;
    dst = token_revoke(conn, id, &found);
    db_release(req->app->db, conn);
    if (dst != DB_OK)
        return res_db_problem(res, dst);
    if (!found)
        return res_problem(res, API_NOT_FOUND, "No active token %lld", id);
    res->status = 204;
    return API_OK;
}
