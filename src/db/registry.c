/* Register queries (see db_registry.h). */
#include "attachd/db_registry.h"

#include <stdio.h>
#include "attachd/db_text.h"

/* A person is on record when an attachment or an application names them; a registrar sees
 * them only when one of those is at its polyclinic. $1 iin, $3 registrar's polyclinic or NULL. */
#define PERSON_VISIBLE                                                                             \
    "(EXISTS (SELECT 1 FROM attachments v WHERE v.iin = $1 AND ($3::bigint IS NULL OR"             \
    " (v.polyclinic_id = $3 AND NOT v.cancelled))) OR EXISTS (SELECT 1 FROM applications w"        \
    " WHERE w.iin = $1 AND ($3::bigint IS NULL OR w.polyclinic_id = $3)))"

/* The current and the upcoming attachment on a day: one statement per case, so that no
 * parameter is ever sent as NULL. With "($3 IS NULL OR ...)" and "coalesce($2, current_date)"
 * the generic plan PostgreSQL keeps for a prepared statement could not drop what a NULL makes
 * moot: it read every candidate row's heap tuple to test the registrar's polyclinic even for an
 * admin (bench/README.md, "Reads on a 20 M register"). $1 iin; then the day (when `on` is given)
 * and the registrar's polyclinic (for a registrar), in that order. */
#define ATTACHMENT_ON(day, visible)                                                                \
    "SELECT json_build_object('iin', $1::text, 'on', to_char(d.day, 'YYYY-MM-DD'),"                \
    " 'attachment', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = $1"                \
    " AND NOT a.cancelled AND a.valid_from <= d.day"                                               \
    " AND (a.valid_to IS NULL OR a.valid_to > d.day) ORDER BY a.valid_from DESC LIMIT 1),"         \
    " 'upcoming', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = $1"                  \
    " AND NOT a.cancelled AND a.valid_from > d.day ORDER BY a.valid_from LIMIT 1))::text"          \
    " FROM (SELECT " day " AS day) d WHERE " visible
/* On record for anyone but a registrar: an attachment or an application names the person. */
#define VISIBLE_TO_ANY                                                                             \
    "(EXISTS (SELECT 1 FROM attachments v WHERE v.iin = $1)"                                       \
    " OR EXISTS (SELECT 1 FROM applications w WHERE w.iin = $1))"
/* For a registrar: one of those at its polyclinic (poly: the parameter holding it). */
#define VISIBLE_TO_REGISTRAR(poly)                                                                 \
    "(EXISTS (SELECT 1 FROM attachments v WHERE v.iin = $1 AND v.polyclinic_id = " poly            \
    " AND NOT v.cancelled) OR EXISTS (SELECT 1 FROM applications w WHERE w.iin = $1"               \
    " AND w.polyclinic_id = " poly "))"

/* [registrar?][on given?] */
static struct db_stmt q_attachment[2][2] = {
    {DB_STMT(ATTACHMENT_ON("current_date", VISIBLE_TO_ANY)),
     DB_STMT(ATTACHMENT_ON("$2::date", VISIBLE_TO_ANY))},
    {DB_STMT(ATTACHMENT_ON("current_date", VISIBLE_TO_REGISTRAR("$2::bigint"))),
     DB_STMT(ATTACHMENT_ON("$2::date", VISIBLE_TO_REGISTRAR("$3::bigint")))},
};

static struct db_stmt q_attachments = DB_STMT(
    "SELECT json_build_object('iin', $1::text, 'items', coalesce((SELECT json_agg("
    "attachment_json(a) ORDER BY a.valid_from, a.id) FROM attachments a WHERE a.iin = $1), '[]'),"
    " 'next_cursor', NULL)::text FROM (SELECT $2::date) unused WHERE " PERSON_VISIBLE);

/* One statement per direction, each planned on its own index (transfers_in, transfers_out).
 * $1 polyclinic, $2 $3 effective_on range, $4 cursor id, $5 page size. */
#define TRANSFERS(where)                                                                           \
    PAGED_JSON("SELECT t.id, t AS row FROM transfers t WHERE " where " AND NOT t.cancelled"        \
               " AND ($2::date IS NULL OR t.effective_on >= $2) AND ($3::date IS NULL OR"          \
               " t.effective_on <= $3) AND t.id > $4::bigint ORDER BY t.id LIMIT $5::int + 1",     \
               "transfer_json(n.row)", "$5")                                                       \
    " HAVING EXISTS (SELECT 1 FROM polyclinics WHERE id = $1)"

static struct db_stmt q_transfers[] = {
    [TRANSFERS_BOTH] = DB_STMT(TRANSFERS("(t.to_polyclinic_id = $1 OR t.from_polyclinic_id = $1)")),
    [TRANSFERS_IN] = DB_STMT(TRANSFERS("t.to_polyclinic_id = $1")),
    [TRANSFERS_OUT] = DB_STMT(TRANSFERS("t.from_polyclinic_id = $1")),
};

/* campaign_stats() in migrations/0007_population.sql: $1 year, $2 settlement, $3 polyclinic. */
static struct db_stmt q_stats = DB_STMT("SELECT campaign_stats($1, $2, $3)::text");

static void person_params(const struct person_query *q, char poly[24], const char *p[3])
{
    snprintf(poly, 24, "%lld", q->registrar_polyclinic_id);
    p[0] = q->iin;
    p[1] = q->on;
    p[2] = q->registrar_polyclinic_id ? poly : NULL;
}

enum db_status person_attachment(struct db_pool *pool, const struct person_query *q, char **json)
{
    char poly[24];
    snprintf(poly, sizeof poly, "%lld", q->registrar_polyclinic_id);
    bool registrar = q->registrar_polyclinic_id != 0, on = q->on != NULL;
    const char *p[3] = {q->iin};
    int n = 1;
    if (on)
        p[n++] = q->on;
    if (registrar)
        p[n++] = poly;
    return db_run_json(pool, &q_attachment[registrar][on], n, p, json);
}

enum db_status person_attachments(struct db_pool *pool, const struct person_query *q, char **json)
{
    char poly[24];
    const char *p[3];
    person_params(q, poly, p);
    return db_run_json(pool, &q_attachments, 3, p, json);
}

enum db_status transfer_list(struct db_pool *pool, const struct transfer_query *q, char **json)
{
    char poly[24], after[24], limit[16];
    snprintf(poly, sizeof poly, "%lld", q->polyclinic_id);
    snprintf(after, sizeof after, "%lld", q->after_id);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *p[5] = {poly, q->from, q->to, after, limit};
    return db_run_json(pool, &q_transfers[q->direction], 5, p, json);
}

enum db_status campaign_stats(struct db_pool *pool, const struct stats_query *q, char **json)
{
    char year[24], poly[24];
    snprintf(year, sizeof year, "%lld", q->year);
    snprintf(poly, sizeof poly, "%lld", q->polyclinic_id);
    const char *p[3] = {year, q->settlement, q->polyclinic_id ? poly : NULL};
    return db_run_json(pool, &q_stats, 3, p, json);
}
