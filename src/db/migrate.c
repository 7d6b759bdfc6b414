#include "attachd/migrate.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "attachd/log.h"

/* Any fixed number works; it only has to be the same in every attachd. */
#define MIGRATE_LOCK_KEY "7412001"

const char *migrate_latest(void)
{
    return attachd_nmigrations ? attachd_migrations[attachd_nmigrations - 1].name : "";
}

static bool exec_ok(PGconn *pg, const char *sql, char *err, size_t errlen, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "%s: %s", what, r ? PQresultErrorMessage(r) : PQerrorMessage(pg));
    PQclear(r);
    return ok;
}

/* True (and *applied set) when the version is recorded. */
static bool is_applied(PGconn *pg, const char *name, bool *applied, char *err, size_t errlen)
{
    const char *params[1] = {name};
    PGresult *r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL,
                               params, NULL, NULL, 0);
    bool ok = r && PQresultStatus(r) == PGRES_TUPLES_OK;
    if (ok)
        *applied = PQntuples(r) > 0;
    else
        snprintf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(pg));
    PQclear(r);
    return ok;
}

/* One migration in its own transaction, recorded in the same transaction. */
static bool apply_one(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
    if (!exec_ok(pg, "BEGIN", err, errlen, m->name))
        return false;
    if (!exec_ok(pg, m->sql, err, errlen, m->name)) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    const char *params[1] = {m->name};
    PGresult *r = PQexecParams(pg, "INSERT INTO schema_migrations(version) VALUES ($1)", 1, NULL,
                               params, NULL, NULL, 0);
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok || !exec_ok(pg, "COMMIT", err, errlen, m->name)) {
        if (!ok)
            snprintf(err, errlen, "%s: recording it failed: %s", m->name, PQerrorMessage(pg));
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    return true;
}

enum migrate_status migrate_run(const char *conninfo, char *err, size_t errlen)
{
    const char *keys[] = {"connect_timeout", "application_name", "options", "dbname", NULL};
    const char *vals[] = {"5", "attachd-migrate", "-c client_min_messages=warning",
                          conninfo ? conninfo : "", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (!pg || PQstatus(pg) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect: %s", pg ? PQerrorMessage(pg) : "out of memory");
        PQfinish(pg);
        return MIGRATE_DB_UNAVAILABLE;
    }
    enum migrate_status result = MIGRATE_FAILED;
    /* The session lock serialises concurrent migrators; it is released when we disconnect. */
    if (!exec_ok(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen,
                 "advisory lock") ||
        !exec_ok(pg,
                 "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                 "applied_at timestamptz NOT NULL DEFAULT now())",
                 err, errlen, "schema_migrations"))
        goto out;
    unsigned napplied = 0;
    for (size_t i = 0; i < attachd_nmigrations; i++) {
        bool applied = false;
        if (!is_applied(pg, attachd_migrations[i].name, &applied, err, errlen))
            goto out;
        if (applied)
            continue;
        if (!apply_one(pg, &attachd_migrations[i], err, errlen))
            goto out;
        log_info("migration applied: %s", attachd_migrations[i].name);
        napplied++;
    }
    log_info("schema is current (%s); %u migration(s) applied now", migrate_latest(), napplied);
    result = MIGRATE_OK;
out:
    PQfinish(pg);
    return result;
}
