/* The daily run in the database (see daily.h). The rules are the pure functions of dates.c and
 * district_choice.c; this file finds who is due, gathers the facts and writes the outcome.
 *
 * Each change is its own short READ COMMITTED transaction, with the lock order of approvals
 * (src/db/applications.c):
 *  1. pg_advisory_xact_lock on the person's IIN: one operation per person at a time, so a run
 *     on another host, or an approval, cannot move or end the same attachment meanwhile; the
 *     facts are re-read after it, so a change already made by someone else is seen and skipped
 *     (this is what makes the run idempotent and safe on several hosts);
 *  2. the district rows of the polyclinic, FOR UPDATE in id order, before their load is read in
 *     a later statement (so every commit made before the lock was granted is counted). The
 *     capacity check is made under those locks; the attachments trigger re-checks it.
 * The events of a date are written by daily_attachment_events (0006), serialised on its own
 * advisory lock. */
#include "attachd/daily.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/db_text.h"
#include "attachd/district_choice.h"
#include "attachd/kzid.h"
#include "attachd/log.h"

#define BATCH         500
#define MAX_DISTRICTS 512
#define MAX_FAMILY    32

/* ---- statements ------------------------------------------------------------------------------ */

static struct db_stmt q_lock_person =
    DB_STMT("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");

/* Live attachments on $1 in a district with an upper age bound (pediatric), from id $3 on, with
 * the birth date of the application that made them (NULL for imported ones). Those whose
 * birth date (or, imported, the IIN's) plainly still fits are left out here already; C decides
 * for the rest. */
static struct db_stmt q_age_out_candidates =
    DB_STMT("SELECT a.id, a.iin, to_char(ap.birth_date, 'YYYY-MM-DD') AS birth_date"
            " FROM attachments a"
            " JOIN districts d ON d.id = a.district_id"
            " JOIN district_kinds k ON k.code = d.kind"
            " LEFT JOIN applications ap ON ap.id = a.application_id"
            " WHERE k.max_age IS NOT NULL AND NOT a.cancelled"
            " AND a.valid_from <= $1::date AND (a.valid_to IS NULL OR a.valid_to > $1::date)"
            " AND ($2::bigint IS NULL OR a.polyclinic_id = $2)"
            " AND CASE WHEN ap.id IS NOT NULL"
            " THEN ap.birth_date <= ($1::date - make_interval(years => k.max_age + 1))::date"
            " ELSE coalesce(iin_birth_date(a.iin)"
            " <= ($1::date - make_interval(years => k.max_age + 1))::date, true) END"
            " AND a.id > $3::bigint"
            " ORDER BY a.id LIMIT $4::int");

/* The attachment $1 if it is still live on $2 in a pediatric district: what the move needs. */
static struct db_stmt q_age_out_facts =
    DB_STMT("SELECT a.polyclinic_id, a.district_id, k.max_age,"
            " coalesce(ap.family_iins, '{}')::text AS family_iins"
            " FROM attachments a"
            " JOIN districts d ON d.id = a.district_id"
            " JOIN district_kinds k ON k.code = d.kind"
            " LEFT JOIN applications ap ON ap.id = a.application_id"
            " WHERE a.id = $1 AND NOT a.cancelled AND k.max_age IS NOT NULL"
            " AND a.valid_from <= $2::date AND (a.valid_to IS NULL OR a.valid_to > $2::date)");

static struct db_stmt q_lock_districts =
    DB_STMT("SELECT id FROM districts WHERE polyclinic_id = $1 ORDER BY id FOR UPDATE");

/* Read after q_lock_districts, in its own statement: the loads include every committed change. */
static struct db_stmt q_districts =
    DB_STMT("SELECT d.id, d.number, k.min_age, coalesce(k.max_age, -1) AS max_age, d.capacity,"
            " district_load(d) AS load, d.open"
            " FROM districts d JOIN district_kinds k ON k.code = d.kind"
            " WHERE d.polyclinic_id = $1 ORDER BY d.id");

/* Districts of this polyclinic where the family members named in the application are attached
 * on $3, in the order the application names them. */
static struct db_stmt q_family_districts =
    DB_STMT("SELECT a.district_id FROM unnest($1::text[]) WITH ORDINALITY f(iin, ord)"
            " JOIN attachments a ON a.iin = f.iin AND a.polyclinic_id = $2 AND NOT a.cancelled"
            " AND a.valid_from <= $3::date AND (a.valid_to IS NULL OR a.valid_to > $3::date)"
            " ORDER BY f.ord");

static struct db_stmt q_age_out_move = DB_STMT("SELECT age_out_move($1, $2, $3::date)");

/* A row only when this is the first run for this date (or a later date) to find the child
 * unplaced: that is what `unplaced` counts. */
static struct db_stmt q_unplaced_record = DB_STMT(
    "INSERT INTO age_outs_unplaced (attachment_id, iin, polyclinic_id, district_id, birth_date,"
    " overdue_since, last_tried_on) VALUES ($1, $2, $3, $4, $5::date, $6::date, $7::date)"
    " ON CONFLICT (attachment_id) DO UPDATE SET last_tried_on = EXCLUDED.last_tried_on"
    " WHERE age_outs_unplaced.last_tried_on < EXCLUDED.last_tried_on RETURNING 1");

/* An EAEU attachment (residency from the application that made it) whose known insurance ended
 * before $1 and that runs past the day after it, not ended for that reason yet. */
#define LAPSE_DUE                                                                                  \
    " ap.person->>'residency' IN ('eaeu_migrant', 'eaeu_migrant_family') AND NOT a.cancelled"      \
    " AND insurance_valid_until(a.iin, ap.person) < $1::date"                                      \
    " AND (a.valid_to IS NULL OR a.valid_to > insurance_valid_until(a.iin, ap.person) + 1)"        \
    " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.type = 'attachment.ended'"                    \
    " AND e.data->>'attachment_id' = a.id::text)"

static struct db_stmt q_lapse_candidates =
    DB_STMT("SELECT a.id, a.iin FROM applications ap JOIN attachments a ON a.application_id = ap.id"
            " WHERE" LAPSE_DUE " AND ($2::bigint IS NULL OR a.polyclinic_id = $2)"
            " AND a.id > $3::bigint ORDER BY a.id LIMIT $4::int");

/* The day the attachment $2 ends, if its lapse is still due on $1. */
static struct db_stmt q_lapse_recheck =
    DB_STMT("SELECT to_char(insurance_valid_until(a.iin, ap.person) + 1, 'YYYY-MM-DD') AS ends_on"
            " FROM applications ap JOIN attachments a ON a.application_id = ap.id"
            " WHERE a.id = $2 AND" LAPSE_DUE);

static struct db_stmt q_lapse = DB_STMT("SELECT eaeu_lapse($1, $2::date)");

static struct db_stmt q_events =
    DB_STMT("SELECT started, ended FROM daily_attachment_events($1::date, $2::bigint)");

/* The districts' leavers counted from scratch where a leaver counted there has left by today
 * (migrations/0023), which brings their load back to the read that counts nothing. */
static struct db_stmt q_leaving_recount = DB_WRITE("SELECT districts_leaving_recount()");

static struct db_stmt q_polyclinic_exists =
    DB_STMT("SELECT EXISTS (SELECT 1 FROM polyclinics WHERE id = $1) AS polyclinic_exists");

/* Waiting children: not moved, and their attachment still runs today. */
#define UNPLACED_LIVE                                                                              \
    " FROM age_outs_unplaced u JOIN attachments a ON a.id = u.attachment_id"                       \
    " WHERE NOT a.cancelled AND (a.valid_to IS NULL OR a.valid_to > current_date)"

static struct db_stmt q_age_outs = DB_STMT(PAGED_JSON(
    "SELECT u.attachment_id AS id, u AS row" UNPLACED_LIVE " AND u.polyclinic_id = $1"
    " AND u.attachment_id > $2::bigint ORDER BY u.attachment_id LIMIT $3::int + 1",
    "age_out_json(n.row)", "$3") " HAVING EXISTS (SELECT 1 FROM polyclinics WHERE id = $1)");

static struct db_stmt q_unplaced_count = DB_STMT("SELECT count(*) AS unplaced" UNPLACED_LIVE);

/* Recorded only for a person with an attachment on record; no row otherwise. */
static struct db_stmt q_insurance_put = DB_STMT(
    "WITH c AS (INSERT INTO insurance_contracts (iin, number, valid_until)"
    " SELECT $1, $2, $3::date WHERE EXISTS (SELECT 1 FROM attachments WHERE iin = $1"
    " AND NOT cancelled) RETURNING *)"
    " SELECT json_build_object('iin', c.iin, 'insurance_contract', json_build_object("
    "'number', c.number, 'valid_until', c.valid_until, 'recorded_at', iso_ts(c.recorded_at)),"
    " 'attachment', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = $1"
    " AND NOT a.cancelled AND a.valid_from <= current_date"
    " AND (a.valid_to IS NULL OR a.valid_to > current_date) ORDER BY a.valid_from DESC LIMIT 1),"
    " 'upcoming', (SELECT attachment_json(a) FROM attachments a WHERE a.iin = $1"
    " AND NOT a.cancelled AND a.valid_from > current_date ORDER BY a.valid_from LIMIT 1))::text"
    " FROM c");

/* ---- helpers --------------------------------------------------------------------------------- */

static void ll_text(long long v, char buf[24])
{
    snprintf(buf, 24, "%lld", v);
}

/* The birth date of an age-out candidate: the application's, else (an imported attachment) the
 * one the IIN encodes. False when neither gives a real date. */
static bool candidate_birth(const PGresult *r, int row, day_t *birth)
{
    const char *application_birth = db_text(r, row, "birth_date");
    if (application_birth)
        return date_parse(application_birth, birth);
    struct iin_facts f;
    if (!iin_facts(db_text_or_empty(r, row, "iin"), &f))
        return false;
    char text[16];
    snprintf(text, sizeof text, "%04d-%02d-%02d", f.year, f.month, f.day);
    return date_parse(text, birth);
}

/* ---- age-outs -------------------------------------------------------------------------------- */

enum age_out_outcome { AGE_OUT_NOTHING, AGE_OUT_MOVED, AGE_OUT_UNPLACED, AGE_OUT_UNPLACED_AGAIN };

struct age_out_ctx {
    long long attachment_id;
    const char *iin;
    day_t birth, on;
    enum age_out_outcome outcome; /* out */
};

/* The polyclinic's districts as options for the pure choice; numbers borrowed from r. */
static size_t district_options(const PGresult *r, struct district_option *ds)
{
    size_t n = (size_t)PQntuples(r);
    if (n > MAX_DISTRICTS)
        n = MAX_DISTRICTS;
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        ds[i] = (struct district_option){
            .id = db_ll(r, row, "id"),
            .number = db_text_or_empty(r, row, "number"),
            .min_age = (int)db_ll(r, row, "min_age"),
            .max_age = (int)db_ll(r, row, "max_age"),
            .capacity = (int)db_ll(r, row, "capacity"),
            .load = (int)db_ll(r, row, "load"),
            .open = db_bool(r, row, "open"),
        };
    }
    return n;
}

/* Records the child as waiting; sets the outcome by whether an earlier run for this date had. */
static enum db_status record_unplaced(struct db_conn *conn, struct age_out_ctx *c,
                                      long long polyclinic_id, long long district_id, int max_age)
{
    char id[24], poly[24], district[24], birth[11], since[11], on[11];
    ll_text(c->attachment_id, id);
    ll_text(polyclinic_id, poly);
    ll_text(district_id, district);
    date_format(c->birth, birth);
    date_format(birthday_at(c->birth, max_age + 1), since);
    date_format(c->on, on);
    const char *p[7] = {id, c->iin, poly, district, birth, since, on};
    PGresult *r = NULL;
    enum db_status st = db_query(conn, &q_unplaced_record, 7, p, &r);
    if (st == DB_OK)
        c->outcome = PQntuples(r) > 0 ? AGE_OUT_UNPLACED : AGE_OUT_UNPLACED_AGAIN;
    PQclear(r);
    return st;
}

/* One child, in its own transaction: re-check under the locks, choose, move or record. */
static enum db_status age_out_one(struct db_conn *conn, void *arg)
{
    struct age_out_ctx *c = arg;
    c->outcome = AGE_OUT_NOTHING;
    PGresult *facts = NULL, *districts = NULL, *family = NULL, *moved = NULL;
    char id[24], on[11], poly[24];
    ll_text(c->attachment_id, id);
    date_format(c->on, on);
    const char *lock_p[1] = {c->iin};
    enum db_status st = db_query(conn, &q_lock_person, 1, lock_p, NULL);
    if (st != DB_OK)
        goto out;
    const char *facts_p[2] = {id, on};
    st = db_query(conn, &q_age_out_facts, 2, facts_p, &facts);
    if (st != DB_OK || PQntuples(facts) == 0)
        goto out; /* moved or ended meanwhile: nothing left to do */
    long long polyclinic_id = db_ll(facts, 0, "polyclinic_id");
    long long district_id = db_ll(facts, 0, "district_id");
    int max_age = (int)db_ll(facts, 0, "max_age"), age = age_years(c->birth, c->on);
    if (age <= max_age)
        goto out;
    ll_text(polyclinic_id, poly);
    const char *poly_p[1] = {poly};
    st = db_query(conn, &q_lock_districts, 1, poly_p, NULL);
    if (st == DB_OK)
        st = db_query(conn, &q_districts, 1, poly_p, &districts);
    const char *family_p[3] = {db_text_or_empty(facts, 0, "family_iins"), poly, on};
    if (st == DB_OK)
        st = db_query(conn, &q_family_districts, 3, family_p, &family);
    if (st != DB_OK)
        goto out;
    struct district_option ds[MAX_DISTRICTS];
    size_t nds = district_options(districts, ds);
    long long family_ids[MAX_FAMILY];
    size_t nfamily = 0;
    for (int i = 0; i < PQntuples(family) && nfamily < MAX_FAMILY; i++)
        family_ids[nfamily++] = db_ll(family, i, "district_id");
    long pick = choose_age_out_district(ds, nds, age, family_ids, nfamily);
    if (pick < 0) {
        st = record_unplaced(conn, c, polyclinic_id, district_id, max_age);
        goto out;
    }
    char to[24];
    ll_text(ds[pick].id, to);
    const char *move_p[3] = {id, to, on};
    st = db_query(conn, &q_age_out_move, 3, move_p, &moved);
    if (st == DB_OK)
        c->outcome = AGE_OUT_MOVED;
out:
    PQclear(facts);
    PQclear(districts);
    PQclear(family);
    PQclear(moved);
    return st;
}

static enum db_status age_out_pass(struct db_pool *pool, day_t on, const char *poly,
                                   struct daily_counts *out)
{
    char on_text[11], after[24] = "0", limit[16];
    date_format(on, on_text);
    snprintf(limit, sizeof limit, "%d", BATCH);
    long long skipped = 0;
    enum db_status st;
    for (;;) {
        PGresult *r = NULL;
        const char *p[4] = {on_text, poly, after, limit};
        st = db_run(pool, &q_age_out_candidates, 4, p, &r);
        if (st != DB_OK)
            break;
        int n = PQntuples(r);
        for (int i = 0; i < n && st == DB_OK; i++) {
            struct age_out_ctx c = {
                .attachment_id = db_ll(r, i, "id"), .iin = db_text_or_empty(r, i, "iin"), .on = on};
            if (!candidate_birth(r, i, &c.birth)) {
                skipped++;
                continue;
            }
            st = db_transaction(pool, "READ COMMITTED", age_out_one, &c);
            out->aged_out += c.outcome == AGE_OUT_MOVED;
            out->unplaced += c.outcome == AGE_OUT_UNPLACED;
        }
        if (n > 0)
            snprintf(after, sizeof after, "%s", db_text_or_empty(r, n - 1, "id"));
        PQclear(r);
        if (st != DB_OK || n < BATCH)
            break;
    }
    if (skipped)
        log_info("daily %s: %lld imported pediatric attachments skipped: the IIN gives no birth "
                 "date",
                 on_text, skipped);
    return st;
}

/* ---- EAEU lapses ----------------------------------------------------------------------------- */

struct lapse_ctx {
    long long attachment_id;
    const char *iin;
    const char *on;
    bool lapsed; /* out */
};

static enum db_status lapse_one(struct db_conn *conn, void *arg)
{
    struct lapse_ctx *c = arg;
    c->lapsed = false;
    PGresult *r = NULL;
    char id[24];
    ll_text(c->attachment_id, id);
    const char *lock_p[1] = {c->iin};
    enum db_status st = db_query(conn, &q_lock_person, 1, lock_p, NULL);
    const char *check_p[2] = {c->on, id};
    if (st == DB_OK)
        st = db_query(conn, &q_lapse_recheck, 2, check_p, &r);
    if (st != DB_OK || PQntuples(r) == 0)
        goto out; /* renewed, ended or lapsed meanwhile */
    const char *lapse_p[2] = {id, db_text(r, 0, "ends_on")};
    st = db_query(conn, &q_lapse, 2, lapse_p, NULL);
    c->lapsed = st == DB_OK;
out:
    PQclear(r);
    return st;
}

static enum db_status lapse_pass(struct db_pool *pool, day_t on, const char *poly,
                                 struct daily_counts *out)
{
    char on_text[11], after[24] = "0", limit[16];
    date_format(on, on_text);
    snprintf(limit, sizeof limit, "%d", BATCH);
    enum db_status st;
    for (;;) {
        PGresult *r = NULL;
        const char *p[4] = {on_text, poly, after, limit};
        st = db_run(pool, &q_lapse_candidates, 4, p, &r);
        if (st != DB_OK)
            break;
        int n = PQntuples(r);
        for (int i = 0; i < n && st == DB_OK; i++) {
            struct lapse_ctx c = {.attachment_id = db_ll(r, i, "id"),
                                  .iin = db_text_or_empty(r, i, "iin"),
                                  .on = on_text};
            st = db_transaction(pool, "READ COMMITTED", lapse_one, &c);
            out->lapsed += c.lapsed;
        }
        if (n > 0)
            snprintf(after, sizeof after, "%s", db_text_or_empty(r, n - 1, "id"));
        PQclear(r);
        if (st != DB_OK || n < BATCH)
            break;
    }
    return st;
}

/* ---- events ---------------------------------------------------------------------------------- */

struct events_ctx {
    const char *on, *poly;
    long long started, ended; /* out */
};

static enum db_status leaving_recount_one(struct db_conn *conn, void *arg)
{
    (void)arg;
    PGresult *r = NULL;
    enum db_status st = db_query(conn, &q_leaving_recount, 0, NULL, &r);
    PQclear(r);
    return st;
}

static enum db_status events_one(struct db_conn *conn, void *arg)
{
    struct events_ctx *c = arg;
    PGresult *r = NULL;
    const char *p[2] = {c->on, c->poly};
    enum db_status st = db_query(conn, &q_events, 2, p, &r);
    if (st == DB_OK) {
        c->started = db_ll(r, 0, "started");
        c->ended = db_ll(r, 0, "ended");
    }
    PQclear(r);
    return st;
}

/* ---- the run --------------------------------------------------------------------------------- */

enum db_status daily_run(struct db_pool *pool, day_t on, long long polyclinic_id,
                         struct daily_counts *out)
{
    *out = (struct daily_counts){0};
    char poly_text[24], on_text[11];
    ll_text(polyclinic_id, poly_text);
    date_format(on, on_text);
    const char *poly = polyclinic_id > 0 ? poly_text : NULL;
    /* Lapses first: an attachment that ends for want of insurance is not moved on that day. */
    enum db_status st = lapse_pass(pool, on, poly, out);
    if (st == DB_OK)
        st = age_out_pass(pool, on, poly, out);
    if (st == DB_OK) {
        /* Last, so the attachments the moves above ended and started are among them. */
        struct events_ctx e = {.on = on_text, .poly = poly};
        st = db_transaction(pool, "READ COMMITTED", events_one, &e);
        out->started = e.started;
        out->ended = e.ended;
    }
    if (st == DB_OK) /* today's leavers, whatever day the run is for */
        st = db_transaction(pool, "READ COMMITTED", leaving_recount_one, NULL);
    return st;
}

char *daily_counts_json(day_t on, const struct daily_counts *c)
{
    char on_text[11];
    date_format(on, on_text);
    size_t len = 200;
    char *text = malloc(len);
    if (text)
        snprintf(text, len,
                 "{\"on\":\"%s\",\"aged_out\":%lld,\"unplaced\":%lld,\"lapsed\":%lld,"
                 "\"started\":%lld,\"ended\":%lld}",
                 on_text, c->aged_out, c->unplaced, c->lapsed, c->started, c->ended);
    return text;
}

enum db_status daily_polyclinic_exists(struct db_pool *pool, long long polyclinic_id, bool *exists)
{
    char id[24];
    ll_text(polyclinic_id, id);
    const char *p[1] = {id};
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_polyclinic_exists, 1, p, &r);
    *exists = st == DB_OK && db_bool(r, 0, "polyclinic_exists");
    PQclear(r);
    return st;
}

enum db_status age_outs_list(struct db_pool *pool, long long polyclinic_id, long long after_id,
                             int limit, char **json)
{
    char poly[24], after[24], lim[16];
    ll_text(polyclinic_id, poly);
    ll_text(after_id, after);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *p[3] = {poly, after, lim};
    return db_run_json(pool, &q_age_outs, 3, p, json);
}

enum db_status age_outs_unplaced_count(struct db_pool *pool, long long *n)
{
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_unplaced_count, 0, NULL, &r);
    *n = st == DB_OK ? db_ll(r, 0, "unplaced") : 0;
    PQclear(r);
    return st;
}

struct insurance_ctx {
    const char *iin, *number, *valid_until;
    char *json; /* out */
};

static enum db_status insurance_one(struct db_conn *conn, void *arg)
{
    struct insurance_ctx *c = arg;
    free(c->json);
    c->json = NULL;
    /* Under the person's lock: a lapse running now either sees this contract or has finished. */
    const char *lock_p[1] = {c->iin};
    enum db_status st = db_query(conn, &q_lock_person, 1, lock_p, NULL);
    const char *p[3] = {c->iin, c->number, c->valid_until};
    if (st == DB_OK)
        st = db_query_json(conn, &q_insurance_put, 3, p, &c->json);
    return st;
}

enum db_status insurance_put(struct db_pool *pool, const char *iin, const char *number,
                             const char *valid_until, enum insurance_status *outcome, char **json)
{
    struct insurance_ctx c = {.iin = iin, .number = number, .valid_until = valid_until};
    enum db_status st = db_transaction(pool, "READ COMMITTED", insurance_one, &c);
    if (st != DB_OK) {
        free(c.json);
        c.json = NULL;
    }
    *json = c.json;
    *outcome = c.json ? INSURANCE_RECORDED : INSURANCE_NO_PERSON;
    return st;
}
