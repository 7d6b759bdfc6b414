/* The events feed (see db_events.h). Why positions and not ids: migrations/0008_events_feed.sql
 * above events_stamp(). */
#include "attachd/db_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"

/* Rows one stamping round numbers; a call runs a few rounds at most, so that a backlog (after
 * an outage of the feed's readers) is caught up over several calls, none of them long. */
#define STAMP_BATCH  1000
#define STAMP_ROUNDS 4

static struct db_stmt q_stamp = DB_STMT("SELECT events_stamp($1::int) AS stamped");

/* The page after $1 (a position), of at most $3 events, of polyclinic $2 (NULL: all). A
 * registrar's events are those naming its polyclinic on either side: two ordered index scans
 * (events_polyclinic_pos, events_other_polyclinic_pos) merged, never a walk over everyone's.
 * Also: whether $1 is a position given out, and the highest position. */
static struct db_stmt q_page = DB_STMT(
    "WITH latest AS (SELECT coalesce(max(pos), 0) AS pos FROM events),"
    " candidates AS ("
    "(SELECT * FROM events WHERE $2::bigint IS NULL AND pos > $1::bigint"
    " ORDER BY pos LIMIT $3::int)"
    " UNION ALL (SELECT * FROM events WHERE polyclinic_id = $2::bigint AND pos > $1::bigint"
    " ORDER BY pos LIMIT $3::int)"
    " UNION ALL (SELECT * FROM events WHERE other_polyclinic_id = $2::bigint"
    " AND polyclinic_id IS DISTINCT FROM $2::bigint AND pos > $1::bigint"
    " ORDER BY pos LIMIT $3::int)),"
    " page AS (SELECT * FROM candidates ORDER BY pos LIMIT $3::int)"
    " SELECT json_build_object('items', coalesce(json_agg(event_json(p::events) ORDER BY p.pos),"
    " '[]'), 'next_cursor', coalesce(max(p.pos), $1::bigint)::text)::text AS json,"
    " count(*) AS nitems, $1::bigint <= (SELECT pos FROM latest) AS cursor_known,"
    " (SELECT pos FROM latest) AS latest FROM page p");

static struct db_stmt q_latest = DB_STMT("SELECT coalesce(max(pos), 0) AS latest FROM events");

/* Runs stamping rounds until one finds less than a batch, another session is stamping (it
 * will do it), or STAMP_ROUNDS are done. Each round is its own transaction (autocommit), so
 * its positions are visible to everyone once it returns. */
static enum db_status stamp(struct db_conn *conn)
{
    char batch[16];
    snprintf(batch, sizeof batch, "%d", STAMP_BATCH);
    const char *p[1] = {batch};
    for (int round = 0; round < STAMP_ROUNDS; round++) {
        PGresult *r = NULL;
        enum db_status st = db_query(conn, &q_stamp, 1, p, &r);
        if (st != DB_OK)
            return st;
        long long stamped = db_ll(r, 0, "stamped");
        PQclear(r);
        if (stamped < STAMP_BATCH)
            break;
    }
    return DB_OK;
}

enum db_status events_page(struct db_pool *pool, const struct events_query *q,
                           struct events_page *out)
{
    memset(out, 0, sizeof *out);
    char after[24], poly[24], limit[16];
    snprintf(after, sizeof after, "%lld", q->after);
    snprintf(poly, sizeof poly, "%lld", q->polyclinic_id);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *p[3] = {after, q->polyclinic_id ? poly : NULL, limit};
    struct db_conn *conn = NULL;
    PGresult *r = NULL;
    enum db_status st = db_acquire(pool, &conn);
    if (st != DB_OK)
        return st;
    if ((st = stamp(conn)) != DB_OK || (st = db_query(conn, &q_page, 3, p, &r)) != DB_OK)
        goto out;
    out->cursor_known = db_bool(r, 0, "cursor_known");
    out->latest = db_ll(r, 0, "latest");
    out->nitems = (int)db_ll(r, 0, "nitems");
    if (out->cursor_known) {
        out->json = db_json_copy(r, 0, "json");
        if (!out->json)
            st = DB_ERROR;
    }
out:
    PQclear(r);
    db_release(pool, conn);
    return st;
}

enum db_status events_latest(struct db_pool *pool, long long *latest)
{
    *latest = 0;
    struct db_conn *conn = NULL;
    PGresult *r = NULL;
    enum db_status st = db_acquire(pool, &conn);
    if (st != DB_OK)
        return st;
    if ((st = stamp(conn)) != DB_OK || (st = db_query(conn, &q_latest, 0, NULL, &r)) != DB_OK)
        goto out;
    *latest = db_ll(r, 0, "latest");
out:
    PQclear(r);
    db_release(pool, conn);
    return st;
}
