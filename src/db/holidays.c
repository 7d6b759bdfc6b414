/* Holiday queries (see db_holidays.h). */
#include "attachd/db_holidays.h"

#include <string.h>
#include "attachd/db_text.h"

#define HOLIDAY_JSON "json_build_object('day', h.day, 'name', h.name)"

static struct db_stmt q_list = DB_STMT(
    "SELECT json_build_object('items', coalesce(json_agg(" HOLIDAY_JSON " ORDER BY h.day), '[]'),"
    " 'next_cursor', NULL)::text FROM holidays h WHERE CASE WHEN $1::int = 0"
    " THEN h.day BETWEEN current_date AND current_date + 365"
    " ELSE h.day BETWEEN make_date($1::int, 1, 1) AND make_date($1::int, 12, 31) END");
static struct db_stmt q_put =
    DB_STMT("INSERT INTO holidays AS h (day, name) VALUES ($1::date, $2) ON CONFLICT (day)"
            " DO UPDATE SET name = EXCLUDED.name RETURNING h.xmax = 0 AS created,"
            " " HOLIDAY_JSON "::text AS json");
static struct db_stmt q_delete = DB_STMT("DELETE FROM holidays WHERE day = $1::date");

enum db_status holiday_list(struct db_pool *pool, long long year, char **json)
{
    return db_run_json_ll(pool, &q_list, year, json);
}

enum db_status holiday_put(struct db_pool *pool, const char *day, const char *name, bool *created,
                           char **json)
{
    const char *p[2] = {day, name};
    return db_run_upsert_json(pool, &q_put, 2, p, created, json);
}

enum db_status holiday_delete(struct db_pool *pool, const char *day, bool *found)
{
    const char *p[1] = {day};
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_delete, 1, p, &r);
    if (st != DB_OK)
        return st;
    *found = strcmp(PQcmdTuples(r), "0") != 0;
    PQclear(r);
    return DB_OK;
}
