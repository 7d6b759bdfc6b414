/* The tokens table (see db_tokens.h). Secrets never reach the database: only their SHA-256. */
#include "attachd/db_tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include "attachd/db_params.h"

static struct db_stmt q_token_lookup =
    DB_READ("SELECT id, role, coalesce(polyclinic_id, 0) AS polyclinic_id, name FROM tokens"
            " WHERE hash = $1::bytea AND revoked_at IS NULL");
static struct db_stmt q_token_insert =
    DB_WRITE("INSERT INTO tokens (role, polyclinic_id, name, hash)"
             " VALUES ($1, $2::bigint, $3, $4::bytea) RETURNING id");
static struct db_stmt q_token_revoke =
    DB_WRITE("UPDATE tokens SET revoked_at = now() WHERE id = $1::bigint AND revoked_at IS NULL");

enum db_status db_token_lookup(struct db_pool *pool, const char *hash_hex, bool *found,
                               long long *id, char *role, size_t role_len, long long *polyclinic_id,
                               char *name, size_t name_len)
{
    *found = false;
    const char *params[1] = {hash_hex};
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_token_lookup, 1, params, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) == 1) {
        *found = true;
        *id = db_ll(r, 0, "id");
        snprintf(role, role_len, "%s", db_text(r, 0, "role") ? db_text(r, 0, "role") : "");
        *polyclinic_id = db_ll(r, 0, "polyclinic_id");
        snprintf(name, name_len, "%s", db_text(r, 0, "name") ? db_text(r, 0, "name") : "");
    }
    PQclear(r);
    return DB_OK;
}

enum db_status db_token_insert(struct db_conn *conn, const char *role, long long polyclinic_id,
                               const char *name, const char *hash_hex, long long *id)
{
    struct db_params p = {0};
    db_param_text(&p, role);
    db_param_id_or_null(&p, polyclinic_id);
    db_param_text(&p, name ? name : "");
    db_param_text(&p, hash_hex);
    PGresult *r = NULL;
    enum db_status st = db_query_params(conn, &q_token_insert, &p, &r);
    if (st == DB_OK) {
        *id = db_ll(r, 0, "id");
        PQclear(r);
    }
    return st;
}

enum db_status db_token_revoke(struct db_conn *conn, long long id, bool *found)
{
    struct db_params p = {0};
    db_param_ll(&p, id);
    PGresult *r = NULL;
    enum db_status st = db_query_params(conn, &q_token_revoke, &p, &r);
    if (st == DB_OK) {
        *found = atoi(PQcmdTuples(r)) > 0;
        PQclear(r);
    }
    return st;
}
