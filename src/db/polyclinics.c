/* Queries of the polyclinic aggregate: polyclinics, their border areas (also_serves) and their
 * districts. PostgreSQL renders the read views, so the list is one statement however many
 * polyclinics and districts it shows, and lat/lon keep their shortest exact decimal form. */
#include "attachd/db_polyclinics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"

/* The people a district holds (SPEC §3): the one definition is the SQL function district_load()
 * of migrations/0002_applications.sql. */
#define DISTRICT_LOAD "district_load(d)"

/* FROM this and d.* and l.load are in scope, the load counted once per district: OFFSET 0 keeps
 * the planner from pulling the subquery up, which would copy the count into every use of l.load. */
#define DISTRICTS_WITH_LOAD                                                                        \
    "districts d CROSS JOIN LATERAL (SELECT " DISTRICT_LOAD " AS load OFFSET 0) l"

#define DISTRICT_FREE "greatest(d.capacity - l.load, 0)"

/* The one rendering of a district (SPEC §8). */
#define DISTRICT_JSON                                                                              \
    "json_build_object('id', d.id, 'polyclinic_id', d.polyclinic_id, 'number', d.number,"          \
    " 'kind', d.kind, 'capacity', d.capacity, 'load', l.load, 'free', " DISTRICT_FREE ","          \
    " 'open', d.open)"

/* For a polyclinic row `p`: ds.districts, its districts in id order, and ds.free_by_kind, the
 * free places of its open districts per kind (every kind listed, 0 when it has none). */
#define POLYCLINIC_DISTRICTS                                                                       \
    " CROSS JOIN LATERAL ("                                                                        \
    "WITH x AS (SELECT d.id, d.kind, d.open, " DISTRICT_FREE " AS free, " DISTRICT_JSON " AS doc"  \
    " FROM " DISTRICTS_WITH_LOAD " WHERE d.polyclinic_id = p.id)"                                  \
    " SELECT (SELECT coalesce(json_agg(doc ORDER BY id), '[]') FROM x) AS districts,"              \
    " (SELECT json_object_agg(k.code, (SELECT coalesce(sum(free), 0) FROM x"                       \
    " WHERE x.kind = k.code AND x.open) ORDER BY k.sort) FROM district_kinds k) AS free_by_kind"   \
    ") ds"

/* The members of a polyclinic's read view (SPEC §8), `p` and `ds` in scope. */
#define POLYCLINIC_FIELDS                                                                          \
    "'id', p.id, 'bin', p.bin, 'name_kk', p.name_kk, 'name_ru', p.name_ru,"                        \
    " 'settlement', p.settlement, 'also_serves', (SELECT coalesce(json_agg(s.kato ORDER BY"        \
    " s.kato), '[]') FROM polyclinic_also_serves s WHERE s.polyclinic_id = p.id),"                 \
    " 'address', p.address, 'lat', p.lat, 'lon', p.lon, 'ownership', p.ownership,"                 \
    " 'fsms_contract', p.fsms_contract, 'accepting', p.accepting,"                                 \
    " 'auto_approve', p.auto_approve, 'districts', ds.districts, 'free_by_kind', ds.free_by_kind"

/* Great-circle distance in metres from ($2, $3) to p (haversine, mean earth radius 6371008.8 m;
 * least() guards asin against rounding just above 1). least() ignores NULLs, so the caller must
 * test for missing coordinates itself. */
#define DISTANCE_M                                                                                 \
    "2 * 6371008.8 * asin(least(1, sqrt(power(sin(radians(p.lat - $2) / 2), 2)"                    \
    " + cos(radians($2)) * cos(radians(p.lat)) * power(sin(radians(p.lon - $3) / 2), 2))))"

/* The search, for a WHERE condition choosing the candidates. Parameters: $1 settlement, $2 $3
 * lat lon (NULL: not near), $4 accepting, $5 age with room, $6 cursor id, $7 rows to fetch, $8
 * page size. The page is chosen first and only its polyclinics get their districts rendered.
 * Without near the order is by id and one row more than the page is fetched to tell whether a
 * next page exists. With near the order is by distance, which moves when polyclinics are added
 * or moved, so there is no cursor: the caller fetches exactly the page (next_cursor null). */
#define SEARCH(candidates)                                                                         \
    "WITH page AS (SELECT p.*, CASE WHEN $2::float8 IS NULL OR p.lat IS NULL OR p.lon IS NULL"     \
    " THEN NULL ELSE " DISTANCE_M " END AS dist FROM polyclinics p WHERE " candidates              \
    " AND ($4::boolean IS NULL OR p.accepting = $4)"                                               \
    " AND ($5::int IS NULL OR EXISTS (SELECT 1 FROM " DISTRICTS_WITH_LOAD                          \
    " JOIN district_kinds k ON k.code = d.kind WHERE d.polyclinic_id = p.id AND d.open"            \
    " AND k.min_age <= $5 AND (k.max_age IS NULL OR k.max_age >= $5) AND l.load < d.capacity))"    \
    " AND p.id > $6::bigint ORDER BY dist NULLS LAST, p.id LIMIT $7::int),"                        \
    " items AS (SELECT row_number() OVER (ORDER BY p.dist NULLS LAST, p.id) AS ord, p.id,"         \
    " CASE WHEN $2::float8 IS NULL THEN json_build_object(" POLYCLINIC_FIELDS ")"                  \
    " ELSE json_build_object(" POLYCLINIC_FIELDS ", 'distance_m', round(p.dist)) END AS doc"       \
    " FROM page p" POLYCLINIC_DISTRICTS ")"                                                        \
    " SELECT json_build_object('items',"                                                           \
    " coalesce(json_agg(doc ORDER BY ord) FILTER (WHERE ord <= $8::int), '[]'),"                   \
    " 'next_cursor', CASE WHEN count(*) > $8::int"                                                 \
    " THEN (max(id) FILTER (WHERE ord <= $8::int))::text END)::text FROM items"

/* Two statements so that a settlement search is planned with the settlement indexes (on
 * polyclinics.settlement and polyclinic_also_serves.kato), never as a scan with an OR. */
static struct db_stmt q_search_all = DB_STMT(SEARCH("$1::text IS NULL"));
static struct db_stmt q_search_settlement =
    DB_STMT(SEARCH("p.id IN (SELECT id FROM polyclinics WHERE settlement = $1::bpchar"
                   " UNION SELECT polyclinic_id FROM polyclinic_also_serves"
                   " WHERE kato = $1::bpchar)"));

static struct db_stmt q_polyclinic_get =
    DB_STMT("SELECT json_build_object(" POLYCLINIC_FIELDS
            ")::text FROM polyclinics p" POLYCLINIC_DISTRICTS " WHERE p.id = $1");

static struct db_stmt q_polyclinic_insert = DB_STMT(
    "INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, address, lat, lon, ownership,"
    " fsms_contract, accepting, auto_approve)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id");

/* Parameters as in q_polyclinic_insert, shifted by one: $1 is the id. NULL keeps a column. */
static struct db_stmt q_polyclinic_change =
    DB_STMT("UPDATE polyclinics SET bin = coalesce($2, bin), name_kk = coalesce($3, name_kk),"
            " name_ru = coalesce($4, name_ru), settlement = coalesce($5, settlement),"
            " address = coalesce($6, address), lat = coalesce($7::float8, lat),"
            " lon = coalesce($8::float8, lon), ownership = coalesce($9, ownership),"
            " fsms_contract = coalesce($10::boolean, fsms_contract),"
            " accepting = coalesce($11::boolean, accepting),"
            " auto_approve = coalesce($12::boolean, auto_approve) WHERE id = $1 RETURNING id");

/* A move to another settlement ($2) strands the people the polyclinic holds: with its district
 * rows locked (in id order, as approvals lock them), whether the settlement changes and how many
 * people it holds (polyclinic_live_attachments in migrations/0007). */
static struct db_stmt q_polyclinic_lock_districts =
    DB_STMT("SELECT 1 FROM districts WHERE polyclinic_id = $1 ORDER BY id FOR UPDATE");
static struct db_stmt q_polyclinic_stranded =
    DB_STMT("SELECT polyclinic_live_attachments(p.id) AS stranded FROM polyclinics p"
            " WHERE p.id = $1 AND p.settlement <> $2::bpchar");

static struct db_stmt q_also_serves_clear =
    DB_STMT("DELETE FROM polyclinic_also_serves WHERE polyclinic_id = $1");
static struct db_stmt q_also_serves_add =
    DB_STMT("INSERT INTO polyclinic_also_serves (polyclinic_id, kato)"
            " SELECT DISTINCT $1::bigint, k FROM json_array_elements_text($2::json) AS k");

static struct db_stmt q_district_get =
    DB_STMT("SELECT " DISTRICT_JSON "::text FROM " DISTRICTS_WITH_LOAD " WHERE d.id = $1");
static struct db_stmt q_district_list =
    DB_STMT("SELECT json_build_object('items', ds.districts, 'next_cursor', NULL)::text"
            " FROM polyclinics p" POLYCLINIC_DISTRICTS " WHERE p.id = $1");
static struct db_stmt q_district_precheck =
    DB_STMT("SELECT EXISTS (SELECT 1 FROM polyclinics WHERE id = $1) AS polyclinic_exists,"
            " (SELECT norm FROM district_kinds WHERE code = $2) AS norm");
static struct db_stmt q_district_insert =
    DB_STMT("INSERT INTO districts (polyclinic_id, number, kind, capacity, open)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id");
/* Takes the district's row lock; the kind that will apply ($2 or the current one) and its norm. */
static struct db_stmt q_district_lock =
    DB_STMT("SELECT d.capacity, coalesce($2, d.kind) AS kind, (SELECT k.norm FROM district_kinds k"
            " WHERE k.code = coalesce($2, d.kind)) AS norm FROM districts d WHERE d.id = $1"
            " FOR UPDATE");
static struct db_stmt q_district_load =
    DB_STMT("SELECT " DISTRICT_LOAD " AS load FROM districts d WHERE d.id = $1");
/* How many people of district $1 a change to kind $2 would strand (district_kind_misfits in
 * migrations/0007); 0 when the kind stays. Run with the district's row locked. */
static struct db_stmt q_district_misfits =
    DB_STMT("SELECT CASE WHEN d.kind = $2 THEN 0 ELSE district_kind_misfits(d.id, $2) END"
            " AS misfits FROM districts d WHERE d.id = $1");
static struct db_stmt q_district_change =
    DB_STMT("UPDATE districts SET number = coalesce($2, number), kind = coalesce($3, kind),"
            " capacity = coalesce($4::int, capacity), open = coalesce($5::boolean, open)"
            " WHERE id = $1");

/* ---- polyclinics ---------------------------------------------------------------------------- */

enum db_status polyclinic_search(struct db_pool *pool, const struct polyclinic_query *q,
                                 char **json)
{
    char lat[32], lon[32], accepting[8], age[16], after[24], fetch[16], limit[16];
    snprintf(lat, sizeof lat, "%.17g", q->lat);
    snprintf(lon, sizeof lon, "%.17g", q->lon);
    snprintf(accepting, sizeof accepting, "%s", q->accepting ? "true" : "false");
    snprintf(age, sizeof age, "%d", q->room_for_age);
    snprintf(after, sizeof after, "%lld", q->near ? 0 : q->after_id);
    snprintf(fetch, sizeof fetch, "%d", q->near ? q->limit : q->limit + 1);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *params[8] = {q->settlement,
                             q->near ? lat : NULL,
                             q->near ? lon : NULL,
                             q->accepting >= 0 ? accepting : NULL,
                             q->room_for_age >= 0 ? age : NULL,
                             after,
                             fetch,
                             limit};
    struct db_stmt *stmt = q->settlement ? &q_search_settlement : &q_search_all;
    return db_run_json(pool, stmt, 8, params, json);
}

enum db_status polyclinic_get(struct db_pool *pool, long long id, char **json)
{
    return db_run_json_ll(pool, &q_polyclinic_get, id, json);
}

/* The writable fields as text parameters, in q_polyclinic_insert's order; NULL when not given. */
struct polyclinic_params {
    char lat[32], lon[32];
    const char *v[11];
};

/* PostgreSQL's text form of a boolean, or NULL when the field was not given. */
static const char *bool_param(bool given, bool value)
{
    return given ? (value ? "true" : "false") : NULL;
}

/* Fills p from f: numbers as exact decimal text, absent fields as NULL. */
static void polyclinic_params(const struct polyclinic_fields *f, struct polyclinic_params *p)
{
    snprintf(p->lat, sizeof p->lat, "%.17g", f->lat);
    snprintf(p->lon, sizeof p->lon, "%.17g", f->lon);
    const char *v[11] = {f->bin,
                         f->name_kk,
                         f->name_ru,
                         f->settlement,
                         f->address,
                         f->has_lat ? p->lat : NULL,
                         f->has_lon ? p->lon : NULL,
                         f->ownership,
                         bool_param(f->has_fsms_contract, f->fsms_contract),
                         bool_param(f->has_accepting, f->accepting),
                         bool_param(f->has_auto_approve, f->auto_approve)};
    memcpy(p->v, v, sizeof v);
}

struct polyclinic_tx {
    long long id; /* update: the target; create: set by the insert */
    const struct polyclinic_fields *f;
    enum polyclinic_outcome outcome;
    long long affected; /* STRANDS_PEOPLE */
    char *json;
};

/* Names the client's mistake behind a failed write (returning DB_ABORT with the outcome set), or
 * passes any other failure on. The C checks in the handler come first; these constraints are the
 * guarantee when a settlement is removed or a BIN taken meanwhile. */
static enum db_status polyclinic_violation(struct db_conn *c, enum db_status st,
                                           struct polyclinic_tx *tx)
{
    const char *constraint = db_constraint(c);
    if (st == DB_UNIQUE_VIOLATION && strcmp(constraint, "polyclinics_bin_key") == 0)
        tx->outcome = POLYCLINIC_DUPLICATE_BIN;
    else if (st == DB_FK_VIOLATION && strcmp(constraint, "polyclinics_settlement_fkey") == 0)
        tx->outcome = POLYCLINIC_UNKNOWN_SETTLEMENT;
    else if (st == DB_FK_VIOLATION && strcmp(constraint, "polyclinic_also_serves_kato_fkey") == 0)
        tx->outcome = POLYCLINIC_UNKNOWN_ALSO_SERVES;
    else
        return st;
    return DB_ABORT;
}

/* Replaces the also_serves set of tx->id when it was given. */
static enum db_status also_serves_replace(struct db_conn *c, struct polyclinic_tx *tx)
{
    if (!tx->f->also_serves)
        return DB_OK;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", tx->id);
    const char *clear[1] = {ids};
    enum db_status st = db_query(c, &q_also_serves_clear, 1, clear, NULL);
    if (st != DB_OK)
        return st;
    char *katos = json_dumps(tx->f->also_serves, JSON_COMPACT);
    if (!katos)
        return DB_ERROR;
    const char *add[2] = {ids, katos};
    st = db_query(c, &q_also_serves_add, 2, add, NULL);
    free(katos);
    return st == DB_OK ? DB_OK : polyclinic_violation(c, st, tx);
}

/* Ends a write transaction by reading back the polyclinic's view. */
static enum db_status polyclinic_read_back(struct db_conn *c, struct polyclinic_tx *tx)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", tx->id);
    const char *params[1] = {ids};
    return db_query_json(c, &q_polyclinic_get, 1, params, &tx->json);
}

/* Runs `write` (insert or update of the row), then the set and the read back. Idempotent, as
 * db_transaction may run it again after a deadlock. */
static enum db_status polyclinic_write(struct db_conn *c, struct polyclinic_tx *tx,
                                       struct db_stmt *write, int nparams, const char **params)
{
    free(tx->json);
    tx->json = NULL;
    tx->outcome = POLYCLINIC_OK;
    PGresult *r = NULL;
    enum db_status st = db_query(c, write, nparams, params, &r);
    if (st != DB_OK)
        return polyclinic_violation(c, st, tx);
    bool found = PQntuples(r) == 1;
    if (found)
        tx->id = db_ll(r, 0, "id");
    PQclear(r);
    if (!found) {
        tx->outcome = POLYCLINIC_NOT_FOUND;
        return DB_ABORT;
    }
    st = also_serves_replace(c, tx);
    return st == DB_OK ? polyclinic_read_back(c, tx) : st;
}

/* Inserts the polyclinic and its also_serves set, reads it back. */
static enum db_status create_tx(struct db_conn *c, void *ctx)
{
    struct polyclinic_tx *tx = ctx;
    struct polyclinic_params p;
    polyclinic_params(tx->f, &p);
    return polyclinic_write(c, tx, &q_polyclinic_insert, 11, p.v);
}

/* Refuses a move to another settlement while the polyclinic holds people (SPEC §11: catalogue
 * edits never strand people). Concurrency: the district row locks are the ones an approval takes
 * before it attaches anyone there, so none can slip in between this count and the commit. */
static enum db_status check_settlement_move(struct db_conn *c, struct polyclinic_tx *tx,
                                            const char *ids)
{
    tx->affected = 0;
    if (!tx->f->settlement)
        return DB_OK;
    const char *lock[1] = {ids};
    enum db_status st = db_query(c, &q_polyclinic_lock_districts, 1, lock, NULL);
    if (st != DB_OK)
        return st;
    const char *params[2] = {ids, tx->f->settlement};
    PGresult *r = NULL;
    st = db_query(c, &q_polyclinic_stranded, 2, params, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) == 1)
        tx->affected = db_ll(r, 0, "stranded");
    PQclear(r);
    if (tx->affected == 0)
        return DB_OK;
    tx->outcome = POLYCLINIC_STRANDS_PEOPLE;
    return DB_ABORT;
}

/* The UPDATE comes first even when only also_serves is given: its row lock serialises two
 * concurrent replacements of the same set. A settlement move is checked before it. */
static enum db_status update_tx(struct db_conn *c, void *ctx)
{
    struct polyclinic_tx *tx = ctx;
    struct polyclinic_params p;
    polyclinic_params(tx->f, &p);
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", tx->id);
    tx->outcome = POLYCLINIC_OK;
    enum db_status st = check_settlement_move(c, tx, ids);
    if (st != DB_OK)
        return st;
    const char *params[12] = {ids};
    memcpy(params + 1, p.v, sizeof p.v);
    return polyclinic_write(c, tx, &q_polyclinic_change, 12, params);
}

/* Runs one write transaction and hands over its outcome and view. */
static enum db_status polyclinic_tx_run(struct db_pool *pool, db_tx_fn fn, struct polyclinic_tx *tx,
                                        enum polyclinic_outcome *outcome, char **json)
{
    enum db_status st = db_transaction(pool, "READ COMMITTED", fn, tx);
    *outcome = tx->outcome;
    *json = NULL;
    if (st == DB_OK && tx->json) {
        *json = tx->json;
        return DB_OK;
    }
    free(tx->json);
    if (st == DB_ABORT) /* the client's mistake, named by the outcome */
        return DB_OK;
    return st == DB_OK ? DB_ERROR : st;
}

enum db_status polyclinic_create(struct db_pool *pool, const struct polyclinic_fields *f,
                                 enum polyclinic_outcome *outcome, long long *id, char **json)
{
    struct polyclinic_tx tx = {.f = f};
    enum db_status st = polyclinic_tx_run(pool, create_tx, &tx, outcome, json);
    *id = tx.id;
    return st;
}

enum db_status polyclinic_update(struct db_pool *pool, long long id,
                                 const struct polyclinic_fields *f,
                                 enum polyclinic_outcome *outcome, long long *affected, char **json)
{
    struct polyclinic_tx tx = {.id = id, .f = f};
    enum db_status st = polyclinic_tx_run(pool, update_tx, &tx, outcome, json);
    *affected = tx.affected;
    return st;
}

/* ---- districts ------------------------------------------------------------------------------ */

enum db_status district_list(struct db_pool *pool, long long polyclinic_id, char **json)
{
    return db_run_json_ll(pool, &q_district_list, polyclinic_id, json);
}

enum db_status district_get(struct db_pool *pool, long long id, char **json)
{
    return db_run_json_ll(pool, &q_district_get, id, json);
}

struct district_tx {
    long long id; /* create: the polyclinic; update: the district */
    const struct district_fields *f;
    struct district_result *out;
};

/* Sets the outcome and asks db_transaction to roll back. */
static enum db_status district_refuse(struct district_tx *tx, enum district_outcome outcome)
{
    tx->out->outcome = outcome;
    return DB_ABORT;
}

/* Names the client's mistake behind a failed insert or update of a district, or passes any other
 * failure on. The trigger districts_capacity_within_norm is the guarantee behind the C check of
 * the norm. */
static enum db_status district_violation(struct db_conn *c, enum db_status st,
                                         struct district_tx *tx)
{
    const char *constraint = db_constraint(c);
    if (st == DB_UNIQUE_VIOLATION && strcmp(constraint, "districts_polyclinic_id_number_key") == 0)
        return district_refuse(tx, DISTRICT_DUPLICATE_NUMBER);
    if (st == DB_CHECK_VIOLATION && strcmp(constraint, "districts_capacity_within_norm") == 0)
        return district_refuse(tx, DISTRICT_OVER_NORM);
    if (st == DB_FK_VIOLATION && strcmp(constraint, "districts_kind_fkey") == 0)
        return district_refuse(tx, DISTRICT_UNKNOWN_KIND);
    if (st == DB_FK_VIOLATION && strcmp(constraint, "districts_polyclinic_id_fkey") == 0)
        return district_refuse(tx, DISTRICT_NOT_FOUND);
    return st;
}

/* Ends a write transaction by reading back the district's view. */
static enum db_status district_read_back(struct db_conn *c, struct district_tx *tx)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", tx->out->id);
    const char *params[1] = {ids};
    return db_query_json(c, &q_district_get, 1, params, &tx->out->json);
}

/* Resets the result for a (re)run of a transaction body. */
static void district_result_reset(struct district_result *out, long long id)
{
    free(out->json);
    memset(out, 0, sizeof *out);
    out->id = id;
}

/* Refuses a district for an unknown polyclinic, an unknown kind or a capacity over the kind's
 * norm, before the insert: the norm check gives a message naming the limit, the trigger
 * districts_capacity_within_norm is the guarantee. */
static enum db_status district_precheck(struct db_conn *c, struct district_tx *tx,
                                        const char *polyclinic_id)
{
    const struct district_fields *f = tx->f;
    snprintf(tx->out->kind, sizeof tx->out->kind, "%s", f->kind);
    const char *params[2] = {polyclinic_id, f->kind};
    PGresult *r = NULL;
    enum db_status st = db_query(c, &q_district_precheck, 2, params, &r);
    if (st != DB_OK)
        return st;
    bool polyclinic_exists = db_bool(r, 0, "polyclinic_exists");
    bool kind_known = !db_is_null(r, 0, "norm");
    tx->out->norm = db_ll(r, 0, "norm");
    PQclear(r);
    if (!polyclinic_exists)
        return district_refuse(tx, DISTRICT_NOT_FOUND);
    if (!kind_known)
        return district_refuse(tx, DISTRICT_UNKNOWN_KIND);
    if (f->has_capacity && f->capacity > tx->out->norm)
        return district_refuse(tx, DISTRICT_OVER_NORM);
    return DB_OK;
}

/* Checks, inserts (a missing capacity becomes the kind's norm in the trigger), reads back. */
static enum db_status district_create_tx(struct db_conn *c, void *ctx)
{
    struct district_tx *tx = ctx;
    const struct district_fields *f = tx->f;
    district_result_reset(tx->out, 0);
    char pid[24], capacity[24];
    snprintf(pid, sizeof pid, "%lld", tx->id);
    snprintf(capacity, sizeof capacity, "%lld", f->capacity);
    enum db_status st = district_precheck(c, tx, pid);
    if (st != DB_OK)
        return st;
    const char *row[5] = {pid, f->number, f->kind, f->has_capacity ? capacity : NULL,
                          bool_param(true, f->has_open ? f->open : true)};
    PGresult *r = NULL;
    st = db_query(c, &q_district_insert, 5, row, &r);
    if (st != DB_OK)
        return district_violation(c, st, tx);
    tx->out->id = db_ll(r, 0, "id");
    PQclear(r);
    return district_read_back(c, tx);
}

/* With the district's row locked: refuses a capacity over the applicable norm or, when it is
 * lowered, under the current load. */
static enum db_status district_check_capacity(struct db_conn *c, struct district_tx *tx,
                                              const char *ids)
{
    const struct district_fields *f = tx->f;
    const char *lock[2] = {ids, f->kind};
    PGresult *r = NULL;
    enum db_status st = db_query(c, &q_district_lock, 2, lock, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return district_refuse(tx, DISTRICT_NOT_FOUND);
    }
    long long capacity = db_ll(r, 0, "capacity");
    snprintf(tx->out->kind, sizeof tx->out->kind, "%s", db_text_or_empty(r, 0, "kind"));
    bool kind_known = !db_is_null(r, 0, "norm");
    tx->out->norm = db_ll(r, 0, "norm");
    PQclear(r);
    if (!kind_known)
        return district_refuse(tx, DISTRICT_UNKNOWN_KIND);
    long long wanted = f->has_capacity ? f->capacity : capacity;
    if (wanted > tx->out->norm)
        return district_refuse(tx, DISTRICT_OVER_NORM);
    if (wanted >= capacity)
        return DB_OK;
    /* A statement of its own, after the lock: it sees every attachment committed before. */
    const char *params[1] = {ids};
    st = db_query(c, &q_district_load, 1, params, &r);
    if (st != DB_OK)
        return st;
    tx->out->load = db_ll(r, 0, "load");
    PQclear(r);
    return wanted < tx->out->load ? district_refuse(tx, DISTRICT_BELOW_LOAD) : DB_OK;
}

/* With the district's row locked: refuses a change of kind whose ages would not fit someone
 * attached there or approved to join (SPEC §11: catalogue edits never strand people). */
static enum db_status district_check_kind(struct db_conn *c, struct district_tx *tx,
                                          const char *ids)
{
    if (!tx->f->kind)
        return DB_OK;
    const char *params[2] = {ids, tx->f->kind};
    PGresult *r = NULL;
    enum db_status st = db_query(c, &q_district_misfits, 2, params, &r);
    if (st != DB_OK)
        return st;
    tx->out->affected = PQntuples(r) == 1 ? db_ll(r, 0, "misfits") : 0;
    PQclear(r);
    return tx->out->affected > 0 ? district_refuse(tx, DISTRICT_STRANDS_PEOPLE) : DB_OK;
}

/* Concurrency: the district's row lock (FOR UPDATE in q_district_lock) is the lock an approval
 * takes when its attachment trigger updates districts.nopen (and before, to choose a district),
 * so no one joins the district between the load or age count and this commit; that trigger
 * re-checks the capacity as the backstop. */
static enum db_status district_update_tx(struct db_conn *c, void *ctx)
{
    struct district_tx *tx = ctx;
    const struct district_fields *f = tx->f;
    district_result_reset(tx->out, tx->id);
    char ids[24], capacity[24];
    snprintf(ids, sizeof ids, "%lld", tx->id);
    snprintf(capacity, sizeof capacity, "%lld", f->capacity);
    enum db_status st = district_check_capacity(c, tx, ids);
    if (st == DB_OK)
        st = district_check_kind(c, tx, ids);
    if (st != DB_OK)
        return st;
    const char *row[5] = {ids, f->number, f->kind, f->has_capacity ? capacity : NULL,
                          bool_param(f->has_open, f->open)};
    st = db_query(c, &q_district_change, 5, row, NULL);
    if (st != DB_OK)
        return district_violation(c, st, tx);
    return district_read_back(c, tx);
}

/* Runs a district transaction; DB_OK whenever the outcome is known (out->outcome says which). */
static enum db_status district_tx_run(struct db_pool *pool, db_tx_fn fn, struct district_tx *tx)
{
    enum db_status st = db_transaction(pool, "READ COMMITTED", fn, tx);
    if (st == DB_OK && tx->out->json)
        return DB_OK;
    free(tx->out->json);
    tx->out->json = NULL;
    if (st == DB_ABORT) /* the client's mistake, named by out->outcome */
        return DB_OK;
    return st == DB_OK ? DB_ERROR : st;
}

enum db_status district_create(struct db_pool *pool, long long polyclinic_id,
                               const struct district_fields *f, struct district_result *out)
{
    memset(out, 0, sizeof *out);
    struct district_tx tx = {.id = polyclinic_id, .f = f, .out = out};
    return district_tx_run(pool, district_create_tx, &tx);
}

enum db_status district_update(struct db_pool *pool, long long id, const struct district_fields *f,
                               struct district_result *out)
{
    memset(out, 0, sizeof *out);
    struct district_tx tx = {.id = id, .f = f, .out = out};
    return district_tx_run(pool, district_update_tx, &tx);
}
