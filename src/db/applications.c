/* Applications in the database (see applications.h). The rules are the pure functions of
 * checks.c and district_choice.c; this file gathers their facts and writes their outcome.
 *
 * Locking, in this order, so that transactions never wait on each other in a cycle:
 *  1. pg_advisory_xact_lock on the person's IIN: one operation per person at a time, so the
 *     facts read about a person (pending application, attachments, changes used) stay true
 *     until commit;
 *  2. the application row (FOR UPDATE) when deciding;
 *  3. the district rows of the target polyclinic and of the person's current and upcoming
 *     districts, in id order, before their load is read (in a later statement, so that READ
 *     COMMITTED shows every commit made before the lock was granted). The attachments trigger
 *     re-checks capacity as a backstop.
 * An approval re-checks the polyclinic (accepting, fsms_contract) in that later statement too,
 * unlocked: an edit committed before it is seen, one committed after it is after the approval.
 * A dry run (POST /v1/eligibility) takes the same locks in the same order and rolls back. */
#include "attachd/applications.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/checks.h"
#include "attachd/db_text.h"
#include "attachd/district_choice.h"
#include "attachd/log.h"
#include "attachd/workdays.h"

#define MAX_DISTRICTS 512
#define MAX_HOLIDAYS  64
#define MAX_FAMILY    32

/* ---- statements ------------------------------------------------------------------------------ */

static struct db_stmt q_lock_person =
    DB_STMT("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");

/* A polyclinic's districts with their age bands and load, for the pure district rules. */
#define DISTRICTS_JSON(poly)                                                                       \
    "(SELECT json_agg(json_build_object('id', d.id, 'number', d.number, 'min_age', k.min_age,"     \
    " 'max_age', coalesce(k.max_age, -1), 'capacity', d.capacity, 'load', district_load(d),"       \
    " 'open', d.open) ORDER BY d.id) FROM districts d JOIN district_kinds k ON k.code = d.kind"    \
    " WHERE d.polyclinic_id = " poly ")::text"

/* Everything submission needs to know, read once the person is locked. $1 iin, $2 polyclinic,
 * $3 settlement, $4 requested district, $5 idempotency key, $6 request hash, $7 token id. */
static struct db_stmt q_submit_facts = DB_STMT(
    "SELECT to_char(current_date, 'YYYY-MM-DD'), c.year, to_char(c.effective_on, 'YYYY-MM-DD'),"
    " c.max_changes,"
    " p.id IS NOT NULL, coalesce(p.accepting AND p.fsms_contract, false),"
    " coalesce(p.auto_approve, false),"
    " coalesce(p.settlement = $3::bpchar OR EXISTS (SELECT 1 FROM polyclinic_also_serves s"
    " WHERE s.polyclinic_id = p.id AND s.kato = $3::bpchar), false),"
    " EXISTS (SELECT 1 FROM settlements WHERE kato = $3::bpchar),"
    " pa.id, pa.polyclinic_id,"
    /* already attached there: current (even if ending) or upcoming */
    " EXISTS (SELECT 1 FROM attachments WHERE iin = $1 AND polyclinic_id = $2 AND NOT cancelled"
    " AND (valid_to IS NULL OR valid_to > current_date)),"
    " cur.polyclinic_id IS NOT NULL, coalesce(cur.takes_part, false),"
    " rec.settlement, rec.address,"
    " (SELECT count(*) FROM transfers t WHERE t.iin = $1 AND t.counts_as_change"
    " AND t.campaign_year = coalesce(c.year, extract(year FROM current_date)::int)),"
    " $4::bigint IS NULL OR EXISTS (SELECT 1 FROM districts WHERE id = $4 AND polyclinic_id = $2),"
    " (SELECT string_agg(to_char(day, 'YYYY-MM-DD'), ',') FROM holidays"
    " WHERE day > current_date AND day <= current_date + 60),"
    " i.id, i.request_hash = $6::bytea, application_json(i)::text, " DISTRICTS_JSON(
        "$2") " FROM (SELECT 1) one"
              " LEFT JOIN campaigns c ON current_date BETWEEN c.opens_on AND c.closes_on"
              " LEFT JOIN polyclinics p ON p.id = $2"
              " LEFT JOIN applications pa ON pa.iin = $1 AND pa.status = 'pending'"
              " LEFT JOIN LATERAL (SELECT a.polyclinic_id, cp.accepting AND cp.fsms_contract"
              " AS takes_part FROM attachments a JOIN polyclinics cp ON cp.id = a.polyclinic_id"
              " WHERE a.iin = $1 AND NOT a.cancelled AND a.valid_from <= current_date"
              " AND (a.valid_to IS NULL OR a.valid_to > current_date) LIMIT 1) cur ON true"
              " LEFT JOIN LATERAL address_on_record($1) rec ON true"
              " LEFT JOIN applications i ON i.idempotency_key = $5"
              " AND coalesce(i.submitted_by, 0) = coalesce($7::bigint, 0)");
enum {
    F_TODAY,
    F_CAMPAIGN_YEAR,
    F_CAMPAIGN_EFFECTIVE_ON, /* NULL outside a campaign */
    F_MAX_CHANGES,
    F_POLY_EXISTS,
    F_ACCEPTING,
    F_AUTO_APPROVE,
    F_SERVES,
    F_SETTLEMENT_KNOWN,
    F_PENDING_ID,
    F_PENDING_POLYCLINIC,
    F_ATTACHED_THERE,
    F_HAS_CURRENT,
    F_CURRENT_TAKES_PART,
    F_RECORD_SETTLEMENT, /* NULL: nothing on record */
    F_RECORD_ADDRESS,
    F_CHANGES_USED,
    F_DISTRICT_OK,
    F_HOLIDAYS,
    F_IDEM_ID,
    F_IDEM_SAME,
    F_IDEM_JSON,
    F_DISTRICTS,
};

static struct db_stmt q_insert = DB_STMT(
    "INSERT INTO applications AS a (iin, person, birth_date, settlement, address, polyclinic_id,"
    " requested_district_id, channel, grounds, representative, birth_certificate, family_iins,"
    " status, refusal_code, warnings, campaign_year, decision_due_at, decided_at, decided_by,"
    " idempotency_key, request_hash, submitted_by)"
    " VALUES ($1, $2::jsonb, $3::date, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12::text[], $13,"
    " $14, $15::text[], $16, ($17::date + time '18:00') AT TIME ZONE 'Asia/Almaty',"
    " CASE WHEN $13 <> 'pending' THEN now() END, CASE WHEN $13 <> 'pending' THEN $18 END, $19,"
    " $20::bytea, $21) RETURNING a.id, application_json(a)::text");

/* The application to decide, locked. $2/$4: the district the approver prefers, by id or by
 * number (NULL both: the one the application asked for); $3 the refusal code. */
static struct db_stmt q_target =
    DB_STMT("SELECT iin, polyclinic_id FROM applications WHERE id = $1");
static struct db_stmt q_locked = DB_STMT(
    "SELECT a.status, to_char(a.birth_date, 'YYYY-MM-DD'), to_char(current_date, 'YYYY-MM-DD'),"
    " coalesce($2::bigint, (SELECT id FROM districts WHERE polyclinic_id = a.polyclinic_id"
    " AND number = $4), a.requested_district_id), a.family_iins::text,"
    " to_char(c.effective_on, 'YYYY-MM-DD'), a.grounds = 'campaign', application_json(a)::text,"
    " EXISTS (SELECT 1 FROM refusal_reasons r WHERE r.code = $3),"
    " ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM districts WHERE id = $2"
    " AND polyclinic_id = a.polyclinic_id)) AND ($4::text IS NULL OR EXISTS (SELECT 1"
    " FROM districts WHERE number = $4 AND polyclinic_id = a.polyclinic_id))"
    " FROM applications a LEFT JOIN campaigns c ON c.year = a.campaign_year"
    " WHERE a.id = $1 FOR UPDATE OF a");
enum {
    L_STATUS,
    L_BIRTH,
    L_TODAY,
    L_DISTRICT,
    L_FAMILY,
    L_CAMPAIGN_EFFECTIVE, /* the campaign's effective_on, NULL without a campaign */
    L_CAMPAIGN,
    L_JSON,
    L_REASON_OK,
    L_DISTRICT_OK
};

/* The person's live attachments: current (begun) and upcoming (approved, not begun). */
static struct db_stmt q_live =
    DB_STMT("SELECT id, polyclinic_id, district_id, valid_from > current_date FROM attachments"
            " WHERE iin = $1 AND NOT cancelled AND (valid_to IS NULL OR valid_to > current_date)"
            " ORDER BY valid_from");
static struct db_stmt q_lock_districts =
    DB_STMT("SELECT 1 FROM districts WHERE polyclinic_id = $1 OR id = ANY($2::bigint[])"
            " ORDER BY id FOR UPDATE");
/* After the lock: the districts' loads, where the family members are attached there, and
 * whether the polyclinic still takes part (§11: re-checked at the moment of approval). */
static struct db_stmt q_choice_facts = DB_STMT("SELECT " DISTRICTS_JSON(
    "$1") ", (SELECT coalesce(array_agg(a.district_id"
          " ORDER BY f.ord), '{}') FROM unnest($2::text[]) WITH ORDINALITY f(iin, ord)"
          " JOIN attachments a ON a.iin = f.iin AND a.polyclinic_id = $1 AND NOT a.cancelled"
          " AND (a.valid_to IS NULL OR a.valid_to > current_date))::text,"
          " (SELECT accepting AND fsms_contract FROM polyclinics WHERE id = $1)");
/* An upcoming attachment is replaced, never served: it and its transfer are cancelled. */
static struct db_stmt q_cancel_upcoming = DB_STMT(
    "WITH c AS (UPDATE attachments SET cancelled = true WHERE iin = $1 AND NOT cancelled"
    " AND valid_from > current_date RETURNING application_id)"
    " UPDATE transfers t SET cancelled = true FROM c WHERE t.application_id = c.application_id");
static struct db_stmt q_end_current =
    DB_STMT("UPDATE attachments SET valid_to = $2::date WHERE id = $1");
static struct db_stmt q_attach = DB_STMT(
    "WITH att AS (INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from,"
    " application_id) SELECT a.iin, a.polyclinic_id, $2, $3::date, a.id FROM applications a"
    " WHERE a.id = $1),"
    " tr AS (INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, to_polyclinic_id,"
    " to_district_id, effective_on, grounds, application_id, campaign_year, counts_as_change,"
    " from_ownership, to_ownership)"
    " SELECT a.iin, $4, $5, a.polyclinic_id, $2, $3::date, a.grounds, a.id, a.campaign_year,"
    " a.grounds = 'campaign' AND $6::boolean, f.ownership, p.ownership FROM applications a"
    " JOIN polyclinics p ON p.id = a.polyclinic_id LEFT JOIN polyclinics f ON f.id = $4"
    " WHERE a.id = $1),"
    " ap AS (UPDATE applications a SET status = 'approved', district_id = $2,"
    " effective_on = $3::date, decided_at = now(), decided_by = $7 WHERE a.id = $1 RETURNING a.*)"
    " SELECT application_json(ap::applications)::text FROM ap");
static struct db_stmt q_close = DB_STMT(
    "UPDATE applications a SET status = $2, refusal_code = $3, refusal_comment = $4,"
    " decided_at = now(), decided_by = $5 WHERE a.id = $1 RETURNING application_json(a)::text");

static struct db_stmt q_get = DB_STMT(
    "SELECT application_json(a)::text, a.polyclinic_id FROM applications a WHERE a.id = $1");
/* The work queue. Each item says whether it is overdue and, for a pending relocation, the
 * address on record beside the new one (§11: the registrar compares them). */
static struct db_stmt q_list = DB_STMT(PAGED_JSON(
    "SELECT a.id, a AS row FROM applications a WHERE ($1::bigint IS NULL OR"
    " a.polyclinic_id = $1) AND ($2::text IS NULL OR a.status = $2) AND (NOT $3::boolean"
    " OR (a.status = 'pending' AND a.decision_due_at < now())) AND a.id > $4::bigint"
    " AND ($6::text IS NULL OR a.iin = $6) AND ($7::text IS NULL OR a.channel = $7)"
    " AND ($8::text IS NULL OR a.grounds = $8)"
    " AND ($9::date IS NULL OR a.submitted_at >= $9::date)"
    " AND ($10::date IS NULL OR a.submitted_at < $10::date + 1)"
    " ORDER BY a.id LIMIT $5::int + 1",
    "(application_json(n.row)::jsonb || jsonb_build_object('overdue', (n.row).status = 'pending'"
    " AND (n.row).decision_due_at < now()) || CASE WHEN (n.row).status = 'pending' AND"
    " (n.row).grounds = 'relocation' THEN (SELECT jsonb_build_object('settlement_on_record',"
    " r.settlement, 'address_on_record', r.address) FROM address_on_record((n.row).iin) r)"
    " ELSE jsonb_build_object('settlement_on_record', NULL, 'address_on_record', NULL) END)",
    "$5"));

/* ---- helpers --------------------------------------------------------------------------------- */

static bool is_true(const PGresult *r, int col)
{
    return !PQgetisnull(r, 0, col) && PQgetvalue(r, 0, col)[0] == 't';
}

static long long as_ll(const PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? 0 : atoll(PQgetvalue(r, 0, col));
}

static char *dup_col(const PGresult *r, int col)
{
    if (PQgetisnull(r, 0, col))
        return NULL;
    char *s = strdup(PQgetvalue(r, 0, col));
    if (s)
        json_text_compact(s);
    return s;
}

/* Reads the DISTRICTS_JSON rendering into ds (numbers borrowed from *doc, which the caller
 * frees). */
static size_t parse_districts(const char *text, struct district_option *ds, size_t cap,
                              json_t **doc)
{
    *doc = text ? json_loads(text, 0, NULL) : NULL;
    size_t n = 0, i;
    json_t *d;
    json_array_foreach(*doc, i, d)
    {
        if (n == cap)
            break;
        ds[n++] = (struct district_option){
            .id = json_integer_value(json_object_get(d, "id")),
            .number = json_string_value(json_object_get(d, "number")),
            .min_age = (int)json_integer_value(json_object_get(d, "min_age")),
            .max_age = (int)json_integer_value(json_object_get(d, "max_age")),
            .capacity = (int)json_integer_value(json_object_get(d, "capacity")),
            .load = (int)json_integer_value(json_object_get(d, "load")),
            .open = json_is_true(json_object_get(d, "open")),
        };
        if (!ds[n - 1].number)
            ds[n - 1].number = "";
    }
    return n;
}

/* Parses "YYYY-MM-DD,YYYY-MM-DD,..." (NULL: none). */
static size_t parse_days(const char *list, day_t *out, size_t cap)
{
    size_t n = 0;
    char buf[11];
    while (list && *list && n < cap) {
        size_t len = strcspn(list, ",");
        if (len == 10) {
            memcpy(buf, list, 10);
            buf[10] = '\0';
            if (date_parse(buf, &out[n]))
                n++;
        }
        list += len + (list[len] == ',');
    }
    return n;
}

/* Parses a PostgreSQL bigint[] literal "{1,2,3}". */
static size_t parse_ids(const char *text, long long *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = text ? text : ""; *p && n < cap;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            out[n++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    return n;
}

static void who_text(const struct principal *who, char *buf, size_t len)
{
    if (!who)
        snprintf(buf, len, "attachd (auto_approve)");
    else
        snprintf(buf, len, "%s:%s", role_name(who->role), who->name);
}

static enum db_status lock_person(struct db_conn *conn, const char *iin)
{
    const char *p[1] = {iin};
    return db_query(conn, &q_lock_person, 1, p, NULL);
}

/* ---- approval -------------------------------------------------------------------------------- */

struct approval {
    long long app_id, polyclinic_id;
    const char *iin;
    const char *birth_date, *effective_on; /* YYYY-MM-DD */
    long long preferred_district;
    const char *family; /* text[] literal of the family members' IINs */
    const char *decided_by;
    struct district_note *note; /* out: why the preferred district was not taken (or NULL) */
};

/* The person's live attachments: the current one (ended when the new one begins) and whether
 * an upcoming one is to be replaced; lock_ids gets every district of theirs, for locking. */
struct live_attachments {
    long long current_id, current_poly, current_district;
    bool has_upcoming;
    char lock_ids[128];
};

static enum db_status read_live(struct db_conn *conn, const char *iin, struct live_attachments *l)
{
    PGresult *r = NULL;
    const char *p[1] = {iin};
    enum db_status st = db_query(conn, &q_live, 1, p, &r);
    if (st != DB_OK)
        return st;
    *l = (struct live_attachments){.lock_ids = "{"};
    size_t used = 1;
    for (int i = 0; i < PQntuples(r); i++) {
        long long district = atoll(PQgetvalue(r, i, 2));
        if (PQgetvalue(r, i, 3)[0] == 't') {
            l->has_upcoming = true;
        } else {
            l->current_id = atoll(PQgetvalue(r, i, 0));
            l->current_poly = atoll(PQgetvalue(r, i, 1));
            l->current_district = district;
        }
        if (used < sizeof l->lock_ids - 24)
            used += (size_t)snprintf(l->lock_ids + used, sizeof l->lock_ids - used, "%s%lld",
                                     used > 1 ? "," : "", district);
    }
    snprintf(l->lock_ids + used, sizeof l->lock_ids - used, "}");
    PQclear(r);
    return DB_OK;
}

/* Says why the preferred district was passed over, when it was. */
static void note_preference(const struct approval *a, const struct district_option *ds, size_t n,
                            int age, long pick)
{
    if (!a->note || !a->preferred_district || (pick >= 0 && ds[pick].id == a->preferred_district))
        return;
    for (size_t i = 0; i < n; i++)
        if (ds[i].id == a->preferred_district) {
            a->note->requested_id = ds[i].id;
            a->note->chosen_id = pick >= 0 ? ds[pick].id : 0;
            a->note->reason = district_unfit_reason(&ds[i], age);
        }
}

/* Approves a pending, locked application (person lock held): re-checks at this moment that the
 * polyclinic takes part and picks the district under the district locks (§11), moves the
 * person, records the transfer. An application that fails the re-check is refused with its
 * reason. *json is the application as decided. */
static enum db_status approve_locked(struct db_conn *conn, const struct approval *a, char **json)
{
    struct live_attachments live;
    enum db_status st = read_live(conn, a->iin, &live);
    if (st != DB_OK)
        return st;
    char poly[24], app[24];
    snprintf(poly, sizeof poly, "%lld", a->polyclinic_id);
    snprintf(app, sizeof app, "%lld", a->app_id);
    const char *p_lock[2] = {poly, live.lock_ids};
    if ((st = db_query(conn, &q_lock_districts, 2, p_lock, NULL)) != DB_OK)
        return st;
    PGresult *r = NULL;
    const char *p_facts[2] = {poly, a->family};
    if ((st = db_query(conn, &q_choice_facts, 2, p_facts, &r)) != DB_OK)
        return st;
    struct district_option ds[MAX_DISTRICTS];
    long long family[MAX_FAMILY];
    json_t *doc;
    size_t nds = parse_districts(PQgetvalue(r, 0, 0), ds, MAX_DISTRICTS, &doc);
    size_t nfamily = parse_ids(PQgetvalue(r, 0, 1), family, MAX_FAMILY);
    bool takes_part = is_true(r, 2);
    PQclear(r);
    day_t birth = 0, effective = 0;
    if (!date_parse(a->birth_date, &birth) || !date_parse(a->effective_on, &effective)) {
        json_decref(doc);
        return DB_ERROR;
    }
    /* §3: the district kind fits the age on the day the attachment begins. */
    int age = age_years(birth, effective);
    long pick;
    enum refusal refusal =
        approval_check(takes_part, ds, nds, age, a->preferred_district, family, nfamily, &pick);
    if (refusal == REFUSAL_NONE || refusal == REFUSE_CAPACITY_EXCEEDED)
        note_preference(a, ds, nds, age, pick);
    char district[24];
    if (pick >= 0)
        snprintf(district, sizeof district, "%lld", ds[pick].id);
    json_decref(doc);

    if (refusal != REFUSAL_NONE) {
        const char *p[5] = {app, "refused", refusal_code(refusal), NULL, a->decided_by};
        return db_query_json(conn, &q_close, 5, p, json);
    }
    const char *p_iin[1] = {a->iin};
    if (live.has_upcoming && (st = db_query(conn, &q_cancel_upcoming, 1, p_iin, NULL)) != DB_OK)
        return st;
    char cur[24], from_poly[24], from_district[24];
    snprintf(cur, sizeof cur, "%lld", live.current_id);
    snprintf(from_poly, sizeof from_poly, "%lld", live.current_poly);
    snprintf(from_district, sizeof from_district, "%lld", live.current_district);
    if (live.current_id) {
        const char *p[2] = {cur, a->effective_on};
        if ((st = db_query(conn, &q_end_current, 2, p, NULL)) != DB_OK)
            return st;
    }
    /* §11: only leaving a current polyclinic is a change; a first attachment never is, nor the
     * replacement of an upcoming first attachment. */
    const char *p[7] = {app,
                        district,
                        a->effective_on,
                        live.current_id ? from_poly : NULL,
                        live.current_id ? from_district : NULL,
                        live.current_id ? "true" : "false",
                        a->decided_by};
    return db_query_json(conn, &q_attach, 7, p, json);
}

/* ---- submission ------------------------------------------------------------------------------ */

struct submit_ctx {
    const struct application_input *in;
    bool dry_run; /* check only: roll back whatever was written */
    struct submit_result *res;
};

/* What a submission knows once the person is locked: the facts row (kept while its strings are
 * borrowed by `facts`) and what the pure rules need besides. */
struct gathered {
    PGresult *row;
    struct application_facts facts;
    struct district_option ds[MAX_DISTRICTS];
    json_t *districts_doc;
    day_t holidays[MAX_HOLIDAYS];
    size_t nholidays;
    char year[16];
};

static void gathered_free(struct gathered *g)
{
    PQclear(g->row);
    json_decref(g->districts_doc);
}

/* "{CODE,CODE}" of the WARN_* bits into buf (codes are identifiers: nothing to quote). */
static void warnings_literal(unsigned warnings, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "{");
    for (unsigned bit = 1; bit <= WARN_ALL && used < len; bit <<= 1)
        if ((warnings & bit) && warning_code(bit))
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used > 1 ? "," : "",
                                     warning_code(bit));
    if (used < len)
        snprintf(buf + used, len - used, "}");
}

/* Step 1: reads the facts. Answers at once (returns true with *done) what needs no checks:
 * an idempotent replay or a reused key, a pending application, an unknown polyclinic or
 * district. */
static enum db_status gather_facts(struct db_conn *conn, const struct submit_ctx *ctx,
                                   struct gathered *g, bool *done)
{
    const struct application_input *in = ctx->in;
    struct submit_result *res = ctx->res;
    *done = true;
    char poly[24], district[24], token[24];
    snprintf(poly, sizeof poly, "%lld", in->polyclinic_id);
    snprintf(district, sizeof district, "%lld", in->district_id);
    snprintf(token, sizeof token, "%lld", in->who ? in->who->token_id : 0LL);
    const char *pf[7] = {in->iin,
                         poly,
                         in->settlement,
                         in->district_id ? district : NULL,
                         ctx->dry_run ? NULL : in->idempotency_key,
                         in->request_hash,
                         in->who && in->who->token_id ? token : NULL};
    enum db_status st = db_query(conn, &q_submit_facts, 7, pf, &g->row);
    if (st != DB_OK)
        return st;
    PGresult *r = g->row;
    if (!PQgetisnull(r, 0, F_IDEM_ID)) {
        res->other_id = as_ll(r, F_IDEM_ID);
        res->outcome = is_true(r, F_IDEM_SAME) ? SUBMIT_REPLAYED : SUBMIT_IDEMPOTENCY_MISMATCH;
        if (res->outcome == SUBMIT_REPLAYED && !(res->json = dup_col(r, F_IDEM_JSON)))
            return DB_ERROR;
        return DB_OK;
    }
    if (!PQgetisnull(r, 0, F_PENDING_ID)) {
        res->outcome = SUBMIT_PENDING_EXISTS;
        res->other_id = as_ll(r, F_PENDING_ID);
        res->other_polyclinic_id = as_ll(r, F_PENDING_POLYCLINIC);
        return DB_OK;
    }
    if (!is_true(r, F_POLY_EXISTS) || !is_true(r, F_DISTRICT_OK)) {
        res->outcome =
            is_true(r, F_POLY_EXISTS) ? SUBMIT_UNKNOWN_DISTRICT : SUBMIT_UNKNOWN_POLYCLINIC;
        return DB_OK;
    }
    *done = false;

    struct application_facts *f = &g->facts;
    *f = (struct application_facts){
        .iin = in->iin,
        .male = in->male,
        .residency = in->residency,
        .has_insurance = in->insurance_valid_until != NULL,
        .settlement = in->settlement,
        .address = in->address ? in->address : "",
        .representative_iin = in->rep_iin,
        .representative_relation = in->rep_relation,
        .birth_certificate = in->birth_certificate,
        .settlement_known = is_true(r, F_SETTLEMENT_KNOWN),
        .in_campaign = !PQgetisnull(r, 0, F_CAMPAIGN_YEAR),
        .clinic_accepting = is_true(r, F_ACCEPTING),
        .clinic_serves_settlement = is_true(r, F_SERVES),
        .auto_approve = is_true(r, F_AUTO_APPROVE),
        .already_attached_there = is_true(r, F_ATTACHED_THERE),
        .has_current_attachment = is_true(r, F_HAS_CURRENT),
        .current_clinic_takes_part = is_true(r, F_CURRENT_TAKES_PART),
        .record_settlement =
            PQgetisnull(r, 0, F_RECORD_SETTLEMENT) ? NULL : PQgetvalue(r, 0, F_RECORD_SETTLEMENT),
        .record_address = PQgetvalue(r, 0, F_RECORD_ADDRESS),
        .changes_used = (int)as_ll(r, F_CHANGES_USED),
        .max_changes = (int)as_ll(r, F_MAX_CHANGES),
    };
    day_t campaign_effective_on = 0;
    bool has_campaign = !PQgetisnull(r, 0, F_CAMPAIGN_EFFECTIVE_ON);
    if (!grounds_parse(in->grounds, &f->grounds) || !date_parse(in->birth_date, &f->birth_date) ||
        !date_parse(PQgetvalue(r, 0, F_TODAY), &f->today) ||
        (has_campaign &&
         !date_parse(PQgetvalue(r, 0, F_CAMPAIGN_EFFECTIVE_ON), &campaign_effective_on)) ||
        (in->insurance_valid_until &&
         !date_parse(in->insurance_valid_until, &f->insurance_valid_until)))
        return DB_ERROR;
    /* What insurance must cover, what the district kind is judged by, and what approval uses. */
    f->effective_on = effective_date(f->grounds == GROUNDS_CAMPAIGN,
                                     has_campaign ? &campaign_effective_on : NULL, f->today);
    f->districts = g->ds;
    f->ndistricts =
        parse_districts(PQgetvalue(r, 0, F_DISTRICTS), g->ds, MAX_DISTRICTS, &g->districts_doc);
    g->nholidays = parse_days(PQgetvalue(r, 0, F_HOLIDAYS), g->holidays, MAX_HOLIDAYS);
    snprintf(g->year, sizeof g->year, "%s",
             has_campaign ? PQgetvalue(r, 0, F_CAMPAIGN_YEAR) : PQgetvalue(r, 0, F_TODAY));
    g->year[strspn(g->year, "0123456789")] = '\0';
    return DB_OK;
}

/* Step 3: stores the application with the outcome of the checks, and approves it at once when
 * the checks allow (auto_approve). */
static enum db_status write_submission(struct db_conn *conn, const struct submit_ctx *ctx,
                                       const struct gathered *g, const struct check_outcome *out)
{
    const struct application_input *in = ctx->in;
    struct submit_result *res = ctx->res;
    char poly[24], district[24], due[11], who[96], token[24], warnings[96];
    snprintf(poly, sizeof poly, "%lld", in->polyclinic_id);
    snprintf(district, sizeof district, "%lld", in->district_id);
    date_format(next_working_day(g->facts.today, g->holidays, g->nholidays), due);
    who_text(in->who, who, sizeof who);
    snprintf(token, sizeof token, "%lld", in->who ? in->who->token_id : 0LL);
    warnings_literal(out->warnings, warnings, sizeof warnings);
    const char *status = out->refusal != REFUSAL_NONE ? "refused" : "pending";
    const char *pi[21] = {in->iin,
                          in->person_json,
                          in->birth_date,
                          in->settlement,
                          in->address ? in->address : "",
                          poly,
                          in->district_id ? district : NULL,
                          in->channel,
                          in->grounds,
                          in->representative_json,
                          in->birth_certificate,
                          in->family_iins,
                          status,
                          refusal_code(out->refusal),
                          warnings,
                          g->year,
                          out->refusal == REFUSAL_NONE && !out->approve_now ? due : NULL,
                          who,
                          ctx->dry_run ? NULL : in->idempotency_key,
                          in->request_hash,
                          in->who && in->who->token_id ? token : NULL};
    PGresult *r = NULL;
    enum db_status st = db_query(conn, &q_insert, 21, pi, &r);
    if (st != DB_OK) {
        if (st == DB_UNIQUE_VIOLATION && in->idempotency_key &&
            strstr(db_constraint(conn), "idempotency")) {
            /* The key was taken meanwhile by a request of this token for another person (same
             * person: the lock made us wait and see it in gather_facts). */
            res->outcome = SUBMIT_IDEMPOTENCY_MISMATCH;
            return DB_ABORT;
        }
        return st;
    }
    long long id = as_ll(r, 0);
    res->json = dup_col(r, 1);
    PQclear(r);
    res->outcome = SUBMIT_CREATED;
    if (!out->approve_now)
        return res->json ? DB_OK : DB_ERROR;

    free(res->json);
    res->json = NULL;
    char effective_on[11];
    date_format(g->facts.effective_on, effective_on);
    struct approval a = {
        .app_id = id,
        .polyclinic_id = in->polyclinic_id,
        .iin = in->iin,
        .birth_date = in->birth_date,
        .effective_on = effective_on,
        .preferred_district = in->district_id,
        .family = in->family_iins,
        .decided_by = "attachd (auto_approve)",
    };
    st = approve_locked(conn, &a, &res->json);
    return st == DB_OK && !res->json ? DB_ERROR : st;
}

/* One submission: gather the facts → run the checks (pure) → write. A dry run does all of it
 * and rolls back, so it answers exactly what a submission would have. */
static enum db_status submit_tx(struct db_conn *conn, void *arg)
{
    struct submit_ctx *ctx = arg;
    free(ctx->res->json);
    *ctx->res = (struct submit_result){0};
    enum db_status st = lock_person(conn, ctx->in->iin);
    if (st != DB_OK)
        return st;
    struct gathered *g = calloc(1, sizeof *g);
    if (!g)
        return DB_ERROR;
    bool done;
    if ((st = gather_facts(conn, ctx, g, &done)) == DB_OK && !done) {
        struct check_outcome out;
        run_checks(&g->facts, &out);
        st = write_submission(conn, ctx, g, &out);
    }
    gathered_free(g);
    free(g);
    return st == DB_OK && ctx->dry_run ? DB_ABORT : st;
}

static enum db_status run_submission(struct db_pool *pool, const struct application_input *in,
                                     bool dry_run, struct submit_result *res)
{
    *res = (struct submit_result){0};
    struct submit_ctx ctx = {.in = in, .dry_run = dry_run, .res = res};
    enum db_status st = db_transaction(pool, "READ COMMITTED", submit_tx, &ctx);
    if (st == DB_ABORT)
        st = DB_OK; /* an outcome without a write (or a dry run) */
    if (st != DB_OK || (res->outcome != SUBMIT_CREATED && res->outcome != SUBMIT_REPLAYED)) {
        free(res->json);
        res->json = NULL;
    }
    return st;
}

enum db_status application_submit(struct db_pool *pool, const struct application_input *in,
                                  struct submit_result *res)
{
    return run_submission(pool, in, false, res);
}

enum db_status application_dry_run(struct db_pool *pool, const struct application_input *in,
                                   struct submit_result *res)
{
    return run_submission(pool, in, true, res);
}

/* ---- decisions ------------------------------------------------------------------------------- */

struct decide_ctx {
    const struct decision_input *in;
    struct decide_result *res;
};

/* Approves the locked application row r (status pending). */
static enum db_status approve_tx(struct db_conn *conn, struct decide_ctx *ctx, PGresult *r,
                                 const char *iin, long long polyclinic_id, const char *who)
{
    char birth[11], effective_on[11];
    snprintf(birth, sizeof birth, "%s", PQgetvalue(r, 0, L_BIRTH));
    day_t today = 0, campaign_day = 0;
    bool has_campaign = !PQgetisnull(r, 0, L_CAMPAIGN_EFFECTIVE);
    if (!date_parse(PQgetvalue(r, 0, L_TODAY), &today) ||
        (has_campaign && !date_parse(PQgetvalue(r, 0, L_CAMPAIGN_EFFECTIVE), &campaign_day)))
        return DB_ERROR;
    date_format(effective_date(is_true(r, L_CAMPAIGN), has_campaign ? &campaign_day : NULL, today),
                effective_on);
    char *family = strdup(PQgetvalue(r, 0, L_FAMILY));
    if (!family)
        return DB_ERROR;
    struct approval a = {
        .app_id = ctx->in->id,
        .polyclinic_id = polyclinic_id,
        .iin = iin,
        .birth_date = birth,
        .effective_on = effective_on,
        .preferred_district = as_ll(r, L_DISTRICT),
        .family = family,
        .decided_by = who,
        .note = &ctx->res->note,
    };
    enum db_status st = approve_locked(conn, &a, &ctx->res->json);
    free(family);
    return st == DB_OK && !ctx->res->json ? DB_ERROR : st;
}

static enum db_status decide_tx(struct db_conn *conn, void *arg)
{
    struct decide_ctx *ctx = arg;
    const struct decision_input *in = ctx->in;
    struct decide_result *res = ctx->res;
    free(res->json);
    *res = (struct decide_result){0};
    char id[24], district[24];
    snprintf(id, sizeof id, "%lld", in->id);
    snprintf(district, sizeof district, "%lld", in->district_id);
    const char *pt[1] = {id};
    PGresult *r = NULL;
    enum db_status st = db_query(conn, &q_target, 1, pt, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) == 0 ||
        (in->who && in->who->role == ROLE_REGISTRAR && as_ll(r, 1) != in->who->polyclinic_id)) {
        PQclear(r);
        res->outcome = DECIDE_NOT_FOUND;
        return DB_OK;
    }
    char iin[16];
    snprintf(iin, sizeof iin, "%s", PQgetvalue(r, 0, 0));
    long long polyclinic_id = as_ll(r, 1);
    PQclear(r);
    if ((st = lock_person(conn, iin)) != DB_OK)
        return st;
    const char *pl[4] = {id, in->district_id ? district : NULL, in->reason, in->district_number};
    if ((st = db_query(conn, &q_locked, 4, pl, &r)) != DB_OK)
        return st;
    if (strcmp(PQgetvalue(r, 0, L_STATUS), "pending") != 0) {
        res->outcome = DECIDE_NOT_PENDING;
        res->json = dup_col(r, L_JSON);
        PQclear(r);
        return DB_OK;
    }
    if ((in->what == DECIDE_REFUSE && !is_true(r, L_REASON_OK)) ||
        (in->what == DECIDE_APPROVE && !is_true(r, L_DISTRICT_OK))) {
        res->outcome = in->what == DECIDE_REFUSE ? DECIDE_BAD_REASON : DECIDE_BAD_DISTRICT;
        PQclear(r);
        return DB_OK;
    }
    char who[96];
    who_text(in->who, who, sizeof who);
    res->outcome = DECIDED;
    if (in->what == DECIDE_APPROVE) {
        st = approve_tx(conn, ctx, r, iin, polyclinic_id, who);
        PQclear(r);
        return st;
    }
    PQclear(r);
    const char *pc[5] = {id, in->what == DECIDE_REFUSE ? "refused" : "withdrawn",
                         in->what == DECIDE_REFUSE ? in->reason : NULL,
                         in->what == DECIDE_REFUSE ? in->comment : NULL, who};
    st = db_query_json(conn, &q_close, 5, pc, &res->json);
    return st == DB_OK && !res->json ? DB_ERROR : st;
}

enum db_status application_decide(struct db_pool *pool, const struct decision_input *in,
                                  struct decide_result *res)
{
    *res = (struct decide_result){0};
    struct decide_ctx ctx = {.in = in, .res = res};
    enum db_status st = db_transaction(pool, "READ COMMITTED", decide_tx, &ctx);
    if (st != DB_OK) {
        free(res->json);
        res->json = NULL;
    }
    return st;
}

/* ---- reads ----------------------------------------------------------------------------------- */

enum db_status application_get(struct db_pool *pool, long long id, char **json,
                               long long *polyclinic_id)
{
    *json = NULL;
    *polyclinic_id = 0;
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", id);
    const char *p[1] = {ids};
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_get, 1, p, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) > 0) {
        *json = dup_col(r, 0);
        *polyclinic_id = as_ll(r, 1);
        if (!*json)
            st = DB_ERROR;
    }
    PQclear(r);
    return st;
}

enum db_status application_list(struct db_pool *pool, const struct application_query *q,
                                char **json)
{
    char poly[24], after[24], limit[16];
    snprintf(poly, sizeof poly, "%lld", q->polyclinic_id);
    snprintf(after, sizeof after, "%lld", q->after_id);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *p[10] = {q->polyclinic_id ? poly : NULL,
                         q->status,
                         q->overdue ? "true" : "false",
                         after,
                         limit,
                         q->iin,
                         q->channel,
                         q->grounds,
                         q->submitted_from,
                         q->submitted_to};
    return db_run_json(pool, &q_list, 10, p, json);
}
