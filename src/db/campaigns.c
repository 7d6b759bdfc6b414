/* Campaign queries (see db_campaigns.h). */
#include "attachd/db_campaigns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"

/* The one rendering of a campaign (SPEC §8); dates render as YYYY-MM-DD in JSON. */
#define CAMPAIGN_JSON                                                                              \
    "json_build_object('year', c.year, 'opens_on', c.opens_on, 'closes_on', c.closes_on,"          \
    " 'effective_on', c.effective_on, 'max_changes', c.max_changes)"

/* A window that contains today (the session's time zone is Asia/Almaty, so current_date is
 * local) comes before the campaign of the current calendar year. */
#define IN_WINDOW "current_date BETWEEN c.opens_on AND c.closes_on"

static struct db_stmt q_list = DB_STMT(
    "SELECT json_build_object('items', coalesce(json_agg(" CAMPAIGN_JSON " ORDER BY c.year),"
    " '[]'), 'next_cursor', NULL)::text FROM campaigns c");
static struct db_stmt q_get =
    DB_STMT("SELECT " CAMPAIGN_JSON "::text FROM campaigns c WHERE c.year = $1");
static struct db_stmt q_current =
    DB_STMT("SELECT " CAMPAIGN_JSON "::text FROM campaigns c WHERE " IN_WINDOW
            " OR c.year = extract(year FROM current_date) ORDER BY " IN_WINDOW " DESC LIMIT 1");
/* One statement, so no check-then-act race. xmax is 0 on a row this statement inserted and set
 * on one ON CONFLICT updated: that tells created (201) from replaced (200). */
static struct db_stmt q_put = DB_STMT(
    "INSERT INTO campaigns AS c (year, opens_on, closes_on, effective_on, max_changes)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (year) DO UPDATE SET opens_on = EXCLUDED.opens_on,"
    " closes_on = EXCLUDED.closes_on, effective_on = EXCLUDED.effective_on,"
    " max_changes = EXCLUDED.max_changes RETURNING c.xmax = 0 AS created, " CAMPAIGN_JSON
    "::text AS json");
static struct db_stmt q_overlap =
    DB_STMT("SELECT c.year, to_char(c.opens_on, 'YYYY-MM-DD') AS opens_on,"
            " to_char(c.closes_on, 'YYYY-MM-DD') AS closes_on"
            " FROM campaigns c WHERE c.year <> $1 AND daterange(c.opens_on, c.closes_on, '[]')"
            " && daterange($2::date, $3::date, '[]') ORDER BY c.year LIMIT 1");

enum db_status campaign_list(struct db_pool *pool, char **json)
{
    return db_run_json(pool, &q_list, 0, NULL, json);
}

enum db_status campaign_get(struct db_pool *pool, long long year, char **json)
{
    return db_run_json_ll(pool, &q_get, year, json);
}

enum db_status campaign_current(struct db_pool *pool, char **json)
{
    return db_run_json(pool, &q_current, 0, NULL, json);
}

/* Names the campaign whose window overlaps in's (after campaigns_no_overlap refused it). */
static enum db_status find_overlap(struct db_pool *pool, const char *const *params,
                                   struct campaign_overlap *overlap)
{
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_overlap, 3, params, &r);
    if (st != DB_OK)
        return st;
    overlap->known = PQntuples(r) == 1;
    if (overlap->known) {
        overlap->year = db_ll(r, 0, "year");
        snprintf(overlap->opens_on, sizeof overlap->opens_on, "%s", db_text(r, 0, "opens_on"));
        snprintf(overlap->closes_on, sizeof overlap->closes_on, "%s", db_text(r, 0, "closes_on"));
    }
    PQclear(r);
    return DB_OK;
}

enum db_status campaign_put(struct db_pool *pool, const struct campaign_input *in,
                            enum campaign_outcome *outcome, struct campaign_overlap *overlap,
                            char **json)
{
    *json = NULL;
    memset(overlap, 0, sizeof *overlap);
    char year[24], max_changes[24];
    snprintf(year, sizeof year, "%lld", in->year);
    snprintf(max_changes, sizeof max_changes, "%lld", in->max_changes);
    const char *params[5] = {year, in->opens_on, in->closes_on, in->effective_on, max_changes};
    bool created = false;
    enum db_status st = db_run_upsert_json(pool, &q_put, 5, params, &created, json);
    if (st == DB_EXCLUSION_VIOLATION) {
        *outcome = CAMPAIGN_OVERLAPS;
        return find_overlap(pool, params, overlap);
    }
    *outcome = created ? CAMPAIGN_CREATED : CAMPAIGN_REPLACED;
    return st;
}
