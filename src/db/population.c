/* The attached population and the register's reports (see db_population.h). The statements call
 * the named SQL functions of migrations/0007_population.sql, so each can be run in psql. */
#include "attachd/db_population.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"

/* No parameter is ever sent as NULL: an absent `on` or district is a statement of its own or a
 * 0, never a NULL parameter. pgbench cannot send a NULL, and its copy with NULL written out
 * kept custom plans, planned again for every page (0.5 ms), where attachd's got a generic one:
 * the two ran the same SQL at different costs (bench/README.md, "Reads on a 20 M register"). */

/* [district given?]: $1 polyclinic, $2 district. */
static struct db_stmt q_scope[2] = {
    DB_STMT("SELECT EXISTS (SELECT 1 FROM polyclinics WHERE id = $1) AS polyclinic_exists,"
            " true AS district_there, to_char(current_date, 'YYYY-MM-DD') AS today"),
    DB_STMT("SELECT EXISTS (SELECT 1 FROM polyclinics WHERE id = $1) AS polyclinic_exists,"
            " EXISTS (SELECT 1 FROM districts WHERE id = $2 AND polyclinic_id = $1)"
            " AS district_there, to_char(current_date, 'YYYY-MM-DD') AS today"),
};

/* A page of polyclinic_attached(): $1 polyclinic, then the date (when `on` is given), the
 * district (0: every one), the keyset position and the limit. polyclinic_attached() is inlined
 * here, so this is planned as an index range scan on attachments_population; with the district
 * a parameter (nullif), not a written-out NULL, PostgreSQL keeps a generic plan after five
 * executions instead of planning every page (see bench/README.md). */
#define PAGE(on, rest)                                                                             \
    DB_STMT("SELECT x.id, x.district_id, x.iin, x.last_name, x.first_name, x.middle_name,"         \
            " to_char(x.birth_date, 'YYYY-MM-DD') AS birth_date, x.sex, x.district_number,"        \
            " to_char(x.valid_from, 'YYYY-MM-DD') AS valid_from,"                                  \
            " to_char(x.valid_to, 'YYYY-MM-DD') AS valid_to"                                       \
            " FROM polyclinic_attached($1, " on ", " rest ") x")

/* [on given?] */
static struct db_stmt q_page[2] = {
    PAGE("current_date", "nullif($2::bigint, 0), $3, $4, $5"),
    PAGE("$2::date", "nullif($3::bigint, 0), $4, $5, $6"),
};

static struct db_stmt q_counts =
    DB_STMT("SELECT polyclinic_population($1, coalesce($2::date, current_date))::text");

static struct db_stmt q_attached_stats =
    DB_STMT("SELECT attached_stats(coalesce($1::date, current_date), $2)::text");

static void ll_param(char buf[24], long long v)
{
    snprintf(buf, 24, "%lld", v);
}

/* The parameters of q_scope: $1 polyclinic, $2 district (when given). */
struct scope_params {
    char poly[24], district[24];
    const char *p[2];
    int n;
};

static struct db_stmt *scope_params(struct scope_params *sp, long long polyclinic_id,
                                    long long district_id)
{
    ll_param(sp->poly, polyclinic_id);
    ll_param(sp->district, district_id);
    sp->p[0] = sp->poly;
    sp->p[1] = sp->district;
    sp->n = district_id ? 2 : 1;
    return &q_scope[district_id != 0];
}

static void scope_of(const PGresult *r, enum population_scope *out, char today[11])
{
    if (!db_bool(r, 0, "polyclinic_exists"))
        *out = SCOPE_NO_POLYCLINIC;
    else if (!db_bool(r, 0, "district_there"))
        *out = SCOPE_DISTRICT_ELSEWHERE;
    else
        *out = SCOPE_OK;
    snprintf(today, 11, "%s", db_text_or_empty(r, 0, "today"));
}

enum db_status population_scope(struct db_pool *pool, long long polyclinic_id,
                                long long district_id, enum population_scope *out, char today[11])
{
    struct scope_params sp;
    struct db_stmt *stmt = scope_params(&sp, polyclinic_id, district_id);
    PGresult *r = NULL;
    enum db_status st = db_run(pool, stmt, sp.n, sp.p, &r);
    if (st != DB_OK)
        return st;
    scope_of(r, out, today);
    PQclear(r);
    return DB_OK;
}

/* A page's columns, looked up by name once a page rather than once a row (a page has up to
 * thousands of rows). */
struct page_cols {
    int id, district_id, iin, last_name, first_name, middle_name, birth_date, sex, district_number,
        valid_from, valid_to;
};

static struct page_cols page_cols(const PGresult *r)
{
    return (struct page_cols){
        .id = db_col(r, "id"),
        .district_id = db_col(r, "district_id"),
        .iin = db_col(r, "iin"),
        .last_name = db_col(r, "last_name"),
        .first_name = db_col(r, "first_name"),
        .middle_name = db_col(r, "middle_name"),
        .birth_date = db_col(r, "birth_date"),
        .sex = db_col(r, "sex"),
        .district_number = db_col(r, "district_number"),
        .valid_from = db_col(r, "valid_from"),
        .valid_to = db_col(r, "valid_to"),
    };
}

static const char *column(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* The parameters of q_page: $1 polyclinic, the date when `on` is given, the district, the keyset
 * position and the limit. */
struct page_params {
    char poly[24], district[24], after_district[24], after_id[24], limit[16];
    const char *p[6];
    int n;
};

static struct db_stmt *page_params(struct page_params *pp, const struct population_query *q)
{
    ll_param(pp->poly, q->polyclinic_id);
    ll_param(pp->district, q->district_id);
    ll_param(pp->after_district, q->after_district);
    ll_param(pp->after_id, q->after_id);
    snprintf(pp->limit, sizeof pp->limit, "%d", q->limit);
    pp->n = 0;
    pp->p[pp->n++] = pp->poly;
    if (q->on)
        pp->p[pp->n++] = q->on;
    pp->p[pp->n++] = pp->district;
    pp->p[pp->n++] = pp->after_district;
    pp->p[pp->n++] = pp->after_id;
    pp->p[pp->n++] = pp->limit;
    return &q_page[q->on != NULL];
}

/* Calls fn for each row of a q_page result; DB_ERROR when fn stops. */
static enum db_status walk_page(const PGresult *r, attached_row_fn fn, void *ctx, size_t *nrows)
{
    int n = PQntuples(r);
    struct page_cols c = page_cols(r);
    for (int i = 0; i < n; i++) {
        struct attached_row row = {
            .id = atoll(PQgetvalue(r, i, c.id)),
            .district_id = atoll(PQgetvalue(r, i, c.district_id)),
            .iin = column(r, i, c.iin),
            .last_name = column(r, i, c.last_name),
            .first_name = column(r, i, c.first_name),
            .middle_name = column(r, i, c.middle_name),
            .birth_date = column(r, i, c.birth_date),
            .sex = column(r, i, c.sex),
            .district_number = column(r, i, c.district_number),
            .valid_from = column(r, i, c.valid_from),
            .valid_to = column(r, i, c.valid_to),
        };
        if (!fn(ctx, &row))
            return DB_ERROR;
        (*nrows)++;
    }
    return DB_OK;
}

enum db_status population_page(struct db_pool *pool, const struct population_query *q,
                               attached_row_fn fn, void *ctx, size_t *nrows)
{
    *nrows = 0;
    struct page_params pp;
    struct db_stmt *stmt = page_params(&pp, q);
    PGresult *r = NULL;
    enum db_status st = db_run(pool, stmt, pp.n, pp.p, &r);
    if (st != DB_OK)
        return st;
    st = walk_page(r, fn, ctx, nrows);
    PQclear(r);
    return st;
}

/* The page's rows, when the scope says it is ours to show. */
static enum db_status scoped_walk(const PGresult *rs, const PGresult *rp,
                                  enum population_scope *scope, attached_row_fn fn, void *ctx,
                                  size_t *nrows)
{
    char today[11];
    scope_of(rs, scope, today);
    return *scope == SCOPE_OK ? walk_page(rp, fn, ctx, nrows) : DB_OK;
}

/* The scope and the page in one flight: one round trip instead of two, so one wake-up of the
 * backend and of the HTTP thread less per page (docs/PERFORMANCE.md, "Reads on 20 M"). The page
 * of a polyclinic that does not exist, or of a district elsewhere, is empty or not ours: it is
 * read and dropped, never shown. Both statements run in the flight's one implicit transaction,
 * so the page is of the same snapshot as the scope. */
enum db_status population_scoped_page(struct db_pool *pool, const struct population_query *q,
                                      enum population_scope *scope, attached_row_fn fn, void *ctx,
                                      size_t *nrows)
{
    *nrows = 0;
    struct scope_params sp;
    struct page_params pp;
    PGresult *rs = NULL, *rp = NULL;
    struct db_stmt *scope_stmt = scope_params(&sp, q->polyclinic_id, q->district_id);
    struct db_stmt *page_stmt = page_params(&pp, q);
    struct db_call calls[2] = {
        {scope_stmt, sp.n, sp.p, &rs},
        {page_stmt, pp.n, pp.p, &rp},
    };
    const PGresult *answers[2];
    enum db_status st;
    if (db_deferred_flight(calls, 2, answers, &st)) /* a request's reads (db.h) */
        return st == DB_OK ? scoped_walk(answers[0], answers[1], scope, fn, ctx, nrows) : st;
    struct db_conn *c;
    st = db_acquire(pool, &c);
    if (st != DB_OK)
        return st;
    st = db_query_flight(c, calls, 2);
    db_release(pool, c);
    if (st == DB_OK)
        st = scoped_walk(rs, rp, scope, fn, ctx, nrows);
    PQclear(rs);
    PQclear(rp);
    return st;
}

enum db_status population_counts(struct db_pool *pool, long long polyclinic_id, const char *on,
                                 char **json)
{
    char poly[24];
    ll_param(poly, polyclinic_id);
    const char *p[2] = {poly, on};
    return db_run_json(pool, &q_counts, 2, p, json);
}

enum db_status attached_stats(struct db_pool *pool, const char *on, const char *settlement,
                              char **json)
{
    const char *p[2] = {on, settlement};
    return db_run_json(pool, &q_attached_stats, 2, p, json);
}
