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
 *
 * An auto-approval at submission is optimistic instead: it picks the district from the loads
 * the facts read (unlocked, like everything the facts read, as of the moment of approval) and
 * locks only the districts it changes, in id order, in the flight that writes: the chosen one,
 * and the person's current and upcoming ones when it moves them (none to lock for a first
 * attachment: the capacity backstop's UPDATE of the chosen district is its only district
 * lock). When another approval filled the chosen district meanwhile, the backstop refuses the
 * write, and the submission runs again from the start the pessimistic way (3. above). A
 * district closed or a polyclinic withdrawn after the facts were read is after the approval:
 * neither undoes attachments already made. Locking a polyclinic's 14 or so districts through
 * COMMIT serialised its auto-approvals on the WAL flush.
 * A dry run (POST /v1/eligibility) takes the same locks in the same order and rolls back. */
#include "attachd/applications.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/checks.h"
#include "attachd/db_params.h"
#include "attachd/db_text.h"
#include "attachd/district_choice.h"
#include "attachd/log.h"
#include "attachd/text_buf.h"
#include "attachd/workdays.h"

#define MAX_DISTRICTS 512
#define MAX_HOLIDAYS  64
#define MAX_FAMILY    32

/* ---- statements ------------------------------------------------------------------------------ */

static struct db_stmt q_lock_person =
    DB_READ("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");

/* The facts' statements hold no aggregate: PostgreSQL builds the executor state of every node
 * of a statement in every execution, and an aggregate's costs most (its functions looked up
 * and permission-checked, its transition compiled: about 20k instructions each). Rows are
 * gathered with ARRAY(subquery) instead (a sublink, no Agg node) and rendered for C as text:
 * callgrind on one backend, the facts of a new person at an auto-approving polyclinic,
 * 763k -> 556k instructions (docs/PERFORMANCE.md, round 9). */

/* The district kinds' age bands, for the pure district rules: "(code,min_age,max_age)" per
 * kind (max_age -1: no bound), joined by ';'; a code is an identifier (migrations/0025), so
 * record_out never quotes it. Read beside DISTRICTS_TEXT instead of a join per district, whose
 * hash table was built in every execution. */
#define DISTRICT_KINDS_TEXT                                                                        \
    "array_to_string(ARRAY(SELECT ROW(code, min_age, coalesce(max_age, -1))::text"                 \
    " FROM district_kinds), ';')"

/* A polyclinic's districts with their load: "(id,kind,capacity,load,open,number)" per district
 * (open 0 or 1; a number is [0-9A-Za-z/-], migrations/0001, so record_out never quotes it),
 * joined by ';' in no order (the district rules do not depend on it: ties go to the lowest
 * number; an ORDER BY was a Sort node built in every execution). The load is that of
 * district_load() (migrations/0023): open-ended attachments plus those leaving later, as the
 * attachments trigger keeps them (district_load_kept(), a SQL expression inlined into this
 * statement's plan) on the days when nobody counted has left, and district_load() itself
 * otherwise (after a leaver's last day, until the daily run's recount). As a PL/pgSQL call per
 * district every day it cost a function call and an executor start per district, and a
 * correlated count of the leavers a subplan (its executor state built in every execution, run
 * once per district). One ROW(...)::text per district (record_out keeps its column types'
 * output functions between rows) instead of a dozen concatenations and casts. */
#define DISTRICTS_TEXT(poly)                                                                       \
    "array_to_string(ARRAY(SELECT ROW(d.id, d.kind, d.capacity,"                                   \
    " coalesce(district_load_kept(d), district_load(d)), d.open::int, d.number)::text"             \
    " FROM districts d WHERE d.polyclinic_id = " poly "), ';')"

/* Dates are read as day numbers, (d - EPOCH), which is day_t (days since 1970-01-01) and which C
 * reads as an integer (day_number). to_char(date, ...) converts the date to timestamptz through
 * the session's time zone first: 28k instructions per application for its three dates (callgrind,
 * the campaign mix). */
#define EPOCH "DATE '1970-01-01'"

/* The person's live attachments (not cancelled, not ended by today), read in one scan of
 * attachments_by_iin, in no order, as a JSON array of rows [id, polyclinic_id, district_id,
 * begun, takes_part, valid_from (a day number), application_id, settlement, address]: begun:
 * valid_from is past (the current one; at most one, migrations/0010; else the upcoming one, at
 * most one: an approval cancels the one it replaces); takes_part: its polyclinic is accepting
 * with a Fund contract; the application that made it with its settlement and address (NULL:
 * none, e.g. an imported attachment). C reads from it whether the person is already attached at the
 * polyclinic, the current and the upcoming one, and the address on record: that of the latest one
 * made by an application, address_on_record() of migrations/0005 (live_from_json). $1 iin. */
#define LIVE_JSON                                                                                  \
    "array_to_json(ARRAY(SELECT json_build_array(l.id, l.polyclinic_id, l.district_id,"            \
    " l.valid_from <= current_date, lp.accepting AND lp.fsms_contract,"                            \
    " l.valid_from - " EPOCH ", la.id, la.settlement, la.address, lp.ownership)"                   \
    " FROM attachments l LEFT JOIN applications la ON la.id = l.application_id"                    \
    " LEFT JOIN polyclinics lp ON lp.id = l.polyclinic_id"                                         \
    " WHERE l.iin = $1 AND NOT l.cancelled"                                                        \
    " AND (l.valid_to IS NULL OR l.valid_to > current_date)))::text"
/* The columns of a LIVE_JSON row, in its order. */
enum live_column {
    LIVE_ID,
    LIVE_POLYCLINIC,
    LIVE_DISTRICT,
    LIVE_BEGUN,
    LIVE_TAKES_PART,
    LIVE_FROM,
    LIVE_APPLICATION,
    LIVE_SETTLEMENT,
    LIVE_ADDRESS,
    LIVE_OWNERSHIP,
    LIVE_COLUMNS
};

/* Everything submission needs to know, read once the person is locked, but the catalogues that
 * change a few times a year: their version, whose texts the thread keeps (catalogue_for). Whether
 * a requested district is one of the polyclinic's is read from its districts (has_district).
 * `now` is the transaction's time, the stored application's submitted_at (trail_members).
 * $1 iin, $2 polyclinic, $3 settlement; with an Idempotency-Key, what it names (`idem`: idem_id
 * and idem_same, `idem_join`). */
#define SUBMIT_FACTS(idem, idem_join)                                                              \
    "SELECT (current_date - " EPOCH ") AS today, now() AS now, c.year AS campaign_year,"           \
    " (c.effective_on - " EPOCH ") AS campaign_effective_on,"                                      \
    " c.max_changes AS max_changes,"                                                               \
    " p.id IS NOT NULL AS poly_exists,"                                                            \
    " coalesce(p.accepting AND p.fsms_contract, false) AS accepting,"                              \
    " coalesce(p.auto_approve, false) AS auto_approve, p.ownership AS ownership,"                  \
    " coalesce(p.settlement = $3::bpchar, false) AS in_own_settlement,"                            \
    " pa.id AS pending_id, pa.polyclinic_id AS pending_polyclinic_id, " LIVE_JSON                  \
    " AS live," /* the changes of polyclinic counted without an aggregate (above) */               \
    " cardinality(ARRAY(SELECT 1 FROM transfers t WHERE t.iin = $1 AND t.counts_as_change"         \
    " AND t.campaign_year = coalesce(c.year, extract(year FROM current_date)::int)))"              \
    " AS changes_used,"                                                                            \
    " v.version AS catalogue_version, " idem ", " DISTRICTS_TEXT(                                  \
        "$2") " AS districts"                                                                      \
              " FROM catalogue_version v"                                                          \
              " LEFT JOIN campaigns c ON current_date BETWEEN c.opens_on AND c.closes_on"          \
              " LEFT JOIN polyclinics p ON p.id = $2"                                              \
              " LEFT JOIN applications pa ON pa.iin = $1 AND pa.status = 'pending'" idem_join
/* With a key: $4 the key, $5 the request's hash, $6 the token's id. */
static struct db_stmt q_submit_facts =
    DB_READ(SUBMIT_FACTS("i.id AS idem_id, i.request_hash = $5::bytea AS idem_same",
                         " LEFT JOIN applications i ON i.idempotency_key = $4"
                         " AND coalesce(i.submitted_by, 0) = coalesce($6::bigint, 0)"));
/* Without one (and in a dry run) there is nothing to look up: the join costs a submission 51k
 * instructions of 1 464k (docs/PERFORMANCE.md, round 14), though it finds no row. */
static struct db_stmt q_submit_facts_keyless =
    DB_READ(SUBMIT_FACTS("NULL::bigint AS idem_id, NULL::boolean AS idem_same", ""));

/* For an application from outside the polyclinic's own settlement (the facts say whether it is
 * from there): whether the polyclinic also serves it, and whether it is in the catalogue. One in
 * the polyclinic's own settlement is in the catalogue by the key of polyclinics
 * (migrations/0001), so most submissions do not ask (these two sublinks in the facts cost every
 * submission about 33k instructions, docs/PERFORMANCE.md round 13). $1 KATO, $2 polyclinic. */
static struct db_stmt q_other_settlement =
    DB_READ("SELECT EXISTS (SELECT 1 FROM polyclinic_also_serves WHERE polyclinic_id = $2"
            " AND kato = $1::bpchar) AS serves,"
            " EXISTS (SELECT 1 FROM settlements WHERE kato = $1::bpchar) AS known");

/* The catalogues a submission reads that change a few times a year (migrations/0029), with
 * their version and the day they were read on: the district kinds' age bands and the holidays
 * of the next 60 days (enough for the next working day), as day numbers in order. */
#define HOLIDAYS_TEXT                                                                              \
    "array_to_string(ARRAY(SELECT day - " EPOCH " FROM holidays"                                   \
    " WHERE day > current_date AND day <= current_date + 60 ORDER BY day), ',')"
/* And the refusal reasons as a refused application's answer shows them (refusal_json, without a
 * comment: a refusal at submission has none), "CODE=json" per line (a code is [A-Z0-9_],
 * migrations/0001; escape_json writes no line feed). */
#define REFUSALS_TEXT                                                                              \
    "array_to_string(ARRAY(SELECT code || '=' || refusal_json(code, NULL)::text"                   \
    " FROM refusal_reasons), E'\\n')"
static struct db_stmt q_catalogue_texts =
    DB_READ("SELECT v.version, (current_date - " EPOCH ") AS today, " DISTRICT_KINDS_TEXT
            " AS kinds, " HOLIDAYS_TEXT " AS holidays, " REFUSALS_TEXT
            " AS refusals FROM catalogue_version v");

/* The stored application (write_submission lists the parameters). $17 the day its decision
 * is due (18:00 local), $18 who decided it when it is decided at once. The values of domain
 * columns (iin, settlement, channel; migrations/0017) are sent as text and checked by the
 * column's domain in the plan: a parameter typed with the domain itself is read by domain_in,
 * which builds its checks afresh for every value (callgrind, the campaign mix: 26.7k
 * instructions per application; the checks in the plan cost a third of that). */
#define APPLICATION_COLUMNS                                                                        \
    "iin, person, birth_date, settlement, address, polyclinic_id, requested_district_id,"          \
    " channel, grounds, representative, birth_certificate, family_iins, status, refusal_code,"     \
    " warnings, campaign_year, decision_due_at, decided_at, decided_by, idempotency_key,"          \
    " request_hash, submitted_by, trail_inline"
/* `trail`: whether the statement writes the application's trail (TRAIL_INLINE). */
#define APPLICATION_VALUES(trail)                                                                  \
    "$1::text, $2::jsonb, $3::date, $4::text, $5, $6, $7, $8::text, $9::text, $10::jsonb, $11,"    \
    " $12::text[],"                                                                                \
    " $13::text, $14, $15::text[], $16, ($17::date + time '18:00') AT TIME ZONE 'Asia/Almaty',"    \
    " CASE WHEN $13::text <> 'pending' THEN now() END,"                                            \
    " CASE WHEN $13::text <> 'pending' THEN $18 END, $19, $20::bytea, $21, " trail
/* The trail of a stored application, written by its storing statement when the row says so
 * (trail_inline, migrations/0031), else by the triggers of migrations/0020, which fire WHEN NOT
 * NEW.trail_inline: the conditions are each other's negation, so exactly one writes it. The audit
 * row of a decision taken at once (audit_row() of audit_decided_at_once: the columns left out are
 * the trigger's arguments) and the events (applications_events_insert: submitted, then decided, in
 * that order of ids). `ins` is the stored row.
 *
 * Their documents are rendered by attachd (trail_members), each parameter the members of a JSON
 * object without its braces, and completed here with what the statement makes: the application's
 * id, the transfer's id, the decision's due time. Built by PostgreSQL (to_jsonb of the row,
 * event_submitted_data, event_decided_data), they cost 164k instructions of 1 696k per
 * application (docs/PERFORMANCE.md, round 14). tests/integration/test_trail.py compares every
 * kind of submission's trail with the triggers'. */
#define TRAIL_INLINE "(ins.a).trail_inline"
/* A document from the text expression `members` (its members without braces), as jsonb. */
#define TRAIL_DOC(members) "('{' || " members " || '}')::jsonb"
/* The audit row of a decision taken at once ("approve" or "refuse"), its document's members
 * but the id in `members`, its actor's role, token and name in `actor` (three parameters: the
 * actor the session's attachd.actor names, split as actor_role(), actor_token() and
 * actor_name() split it). */
#define TRAIL_AUDIT(action, members, actor)                                                        \
    " au AS (INSERT INTO audit (actor_role, actor_token, actor_name, action, entity, entity_id,"   \
    " before, after) SELECT " actor ", '" action "', 'application', (ins.a).id::text, NULL,"       \
    " " TRAIL_DOC(                                                                                 \
        "'\"id\":' || (ins.a).id::text || ',' || " members) " FROM ins WHERE " TRAIL_INLINE "),"
/* The events of a decision taken at once: submitted and decided (their data: the members
 * `submitted` and `decided`), the decided one naming `other` (the polyclinic left). */
#define TRAIL_EVENTS(from, other, submitted, decided)                                              \
    " ev AS (INSERT INTO events (type, application_id, iin, polyclinic_id, other_polyclinic_id,"   \
    " data) SELECT e.type, (ins.a).id, (ins.a).iin, (ins.a).polyclinic_id, e.other, e.data"        \
    " FROM ins" from ", LATERAL (VALUES (1, 'application.submitted', NULL::bigint,"                \
    " " TRAIL_DOC(submitted) "), (2, 'application.decided', " other ", " TRAIL_DOC(                \
        decided) ")) e(ord, type, other, data) WHERE " TRAIL_INLINE " ORDER BY e.ord)"
/* The trail of a pending application: its submitted event alone (no audit row, no decided
 * event), the due time of its decision added to the members $22. */
#define TRAIL_PENDING_CTE                                                                               \
    " ev AS (INSERT INTO events (type, application_id, iin, polyclinic_id, data)"                       \
    " SELECT 'application.submitted', (ins.a).id, (ins.a).iin, "                                        \
    "(ins.a).polyclinic_id, " TRAIL_DOC(                                                                \
        "'\"decision_due_at\":\"' || iso_ts((ins.a).decision_due_at) || '\",' || $22") " FROM "         \
                                                                                       "ins "           \
                                                                                       "WHERE"          \
                                                                                       " " TRAIL_INLINE \
                                                                                       ")"
/* A stored application answers the values it was sent and what the INSERT made, its id and
 * times, rendered by attachd (submitted_json). */
static struct db_stmt q_insert_pending = DB_WRITE(
    "WITH ins AS (INSERT INTO applications AS a (" APPLICATION_COLUMNS
    ") VALUES (" APPLICATION_VALUES(
        "true") ") RETURNING a)," TRAIL_PENDING_CTE
                " SELECT (ins.a).id, (ins.a).submitted_at, (ins.a).decision_due_at FROM ins");
/* A refused application (decided at submission) with its trail: the audit row and both events.
 * $22 the submitted event's members, $23 the decided event's, $24 the audit document's, $25-$27
 * the audit's actor (trail_actor). */
static struct db_stmt q_insert = DB_WRITE(
    "WITH ins AS (INSERT INTO applications AS a (" APPLICATION_COLUMNS
    ") VALUES (" APPLICATION_VALUES("true") ") RETURNING a)," TRAIL_AUDIT("refuse", "$24",
                                                                          "$25, $26::bigint, $27")
        TRAIL_EVENTS("", "NULL::bigint", "$22", "$23") " SELECT (ins.a).id, (ins.a).submitted_at"
                                                       " FROM ins");
/* An application approved at once (auto_approve), its attachment and its transfer in one
 * statement: the id is drawn first so that all three rows carry it. $22 district, $23 the day
 * it takes effect, $24/$25 the polyclinic and district left (NULL: a first attachment), $26
 * whether leaving counts as a change. The foreign keys to the application are checked at the
 * end of the statement, when it is stored. Its trail as q_insert's ($27-$32), the decided event
 * naming the transfer written here. $33/$34 the ownership of the polyclinic left and of the
 * polyclinic joined, as the facts read them (two joins to polyclinics here cost an approval
 * about 40k instructions, docs/PERFORMANCE.md round 14). $35 whether it writes its trail: not
 * when it replaces an upcoming attachment (q_cancel_upcoming, move_and_write). */
static struct db_stmt q_insert_approved = DB_WRITE(
    "WITH n AS (SELECT nextval('applications_id_seq') AS id),"
    " att AS (INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from,"
    " application_id) SELECT $1::text, $6, $22, $23::date, n.id FROM n),"
    " tr AS (INSERT INTO transfers (iin, from_polyclinic_id, from_district_id, to_polyclinic_id,"
    " to_district_id, effective_on, grounds, application_id, campaign_year, counts_as_change,"
    " from_ownership, to_ownership) SELECT $1::text, $24, $25, $6, $22, $23::date, $9::text, n.id,"
    " $16, $9::text = 'campaign' AND $26::boolean, $33::text, $34::text FROM n"
    " RETURNING id, from_polyclinic_id),"
    " ins AS (INSERT INTO applications AS a (id, " APPLICATION_COLUMNS ", district_id,"
    " effective_on) OVERRIDING SYSTEM VALUE SELECT n.id, " APPLICATION_VALUES(
        "$35::boolean") ", $22, $23::date"
                        " FROM n RETURNING a)," TRAIL_AUDIT("approve", "$29",
                                                            "$30, $31::bigint, $32")
                            TRAIL_EVENTS(
                                ", tr t", "t.from_polyclinic_id", "$27",
                                "'\"transfer_id\":' || t.id::text || ',' || $28") " SELECT "
                                                                                  "(ins.a).id,"
                                                                                  " (ins.a)."
                                                                                  "submitted_at"
                                                                                  " FROM ins");

/* The application to decide, locked. $2/$4: the district the approver prefers, by id or by
 * number (NULL both: the one the application asked for); $3 the refusal code. */
static struct db_stmt q_target =
    DB_READ("SELECT iin, polyclinic_id FROM applications WHERE id = $1");
static struct db_stmt q_locked = DB_WRITE(
    "SELECT a.status AS status, to_char(a.birth_date, 'YYYY-MM-DD') AS birth_date,"
    " (current_date - " EPOCH ") AS today,"
    " coalesce($2::bigint, (SELECT id FROM districts WHERE polyclinic_id = a.polyclinic_id"
    " AND number = $4), a.requested_district_id) AS district_id, a.family_iins::text AS family,"
    /* NULL without a campaign */
    " (c.effective_on - " EPOCH ") AS campaign_effective_on,"
    " a.grounds = 'campaign' AS campaign, application_json(a)::text AS json,"
    " EXISTS (SELECT 1 FROM refusal_reasons r WHERE r.code = $3) AS reason_ok,"
    " ($2::bigint IS NULL OR EXISTS (SELECT 1 FROM districts WHERE id = $2"
    " AND polyclinic_id = a.polyclinic_id)) AND ($4::text IS NULL OR EXISTS (SELECT 1"
    " FROM districts WHERE number = $4 AND polyclinic_id = a.polyclinic_id)) AS district_ok,"
    " a.person->>'residency' AS residency,"
    /* the last day the insurance covers (latest contract), NULL: none */
    " to_char(insurance_valid_until(a.iin, a.person), 'YYYY-MM-DD') AS insured_until"
    " FROM applications a LEFT JOIN campaigns c ON c.year = a.campaign_year"
    " WHERE a.id = $1 FOR UPDATE OF a");

/* The districts an approval may touch, locked in id order: the target polyclinic's and the
 * person's live ones; beside each, the person's live attachment there (current: begun;
 * upcoming: approved, not begun), read in the same round trip. $1 polyclinic, $2 iin. */
static struct db_stmt q_lock_districts = DB_WRITE(
    "WITH live AS (SELECT id, polyclinic_id, district_id, valid_from > current_date AS upcoming"
    " FROM attachments WHERE iin = $2 AND NOT cancelled"
    " AND (valid_to IS NULL OR valid_to > current_date))"
    " SELECT d.id AS district_id, l.id AS live_id, l.polyclinic_id AS live_polyclinic_id,"
    " l.upcoming FROM districts d LEFT JOIN live l ON l.district_id = d.id"
    " WHERE d.polyclinic_id = $1 OR d.id IN (SELECT district_id FROM live)"
    " ORDER BY d.id FOR UPDATE OF d");
/* The districts an optimistic auto-approval changes besides the chosen one (see the top of
 * this file), locked in id order before it moves the person. $1 the chosen district, $2/$3 the
 * person's current and upcoming districts (NULL: none). */
static struct db_stmt q_lock_moved =
    DB_WRITE("SELECT id FROM districts WHERE id IN ($1::bigint, $2::bigint, $3::bigint) ORDER BY id"
             " FOR UPDATE");
/* After the lock: the districts' loads and whether the polyclinic still takes part (§11:
 * re-checked at the moment of approval). $1 polyclinic. */
static struct db_stmt q_choice_facts =
    DB_READ("SELECT " DISTRICT_KINDS_TEXT " AS kinds, " DISTRICTS_TEXT(
        "$1") " AS districts,"
              " (SELECT accepting AND fsms_contract FROM polyclinics WHERE id = $1) AS takes_part");
/* Where the family members given in the application are attached at that polyclinic, in the
 * order given (§3: family first). Its own statement, run only when a family is given: with the
 * array in it, the statement above was planned afresh on every call (a custom plan looked
 * cheaper than the generic one), 0.5 ms each. $1 polyclinic, $2 text[] of IINs. */
static struct db_stmt q_family_districts = DB_READ(
    "SELECT coalesce(array_agg(a.district_id ORDER BY f.ord), '{}')::text AS family_districts"
    " FROM unnest($2::text[]) WITH ORDINALITY f(iin, ord)"
    " JOIN attachments a ON a.iin = f.iin AND a.polyclinic_id = $1 AND NOT a.cancelled"
    " AND (a.valid_to IS NULL OR a.valid_to > current_date)");
/* An upcoming attachment is replaced, never served: it and its transfer are cancelled. The
 * transfer.cancelled event is written at COMMIT by the deferred transfers_events_cancelled, and
 * must come before the events of the approval that replaced it: so an auto-approval that runs
 * this leaves its own trail to the triggers too, queued after it (trail_inline false,
 * write_submission; a registrar's approval stores no application). */
static struct db_stmt q_cancel_upcoming =
    DB_WRITE("WITH c AS (UPDATE attachments SET cancelled = true WHERE iin = $1 AND NOT cancelled"
             " AND valid_from > current_date RETURNING application_id),"
             " t AS (UPDATE transfers t SET cancelled = true FROM c WHERE t.application_id = "
             "c.application_id)"
             " SELECT 1 AS cancelled");
static struct db_stmt q_end_current =
    DB_WRITE("UPDATE attachments SET valid_to = $2::date WHERE id = $1");
static struct db_stmt q_attach = DB_WRITE(
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
static struct db_stmt q_close = DB_WRITE(
    "UPDATE applications a SET status = $2::text, refusal_code = $3, refusal_comment = $4,"
    " decided_at = now(), decided_by = $5 WHERE a.id = $1 RETURNING application_json(a)::text");

static struct db_stmt q_get =
    DB_READ("SELECT application_json(a)::text AS json, a.polyclinic_id FROM applications a"
            " WHERE a.id = $1");
/* The answer the submission gave (§12: a replay answers as the first one did). A decision made
 * at submission (refused by a check, auto-approved) has decided_at = submitted_at (now() of the
 * same transaction) and is the answer as stored; one made later (a registrar, a withdrawal) is
 * taken off again, leaving the pending application the submission answered. */
static struct db_stmt q_first_answer = DB_READ(
    "SELECT application_json(CASE WHEN a.decided_at IS NOT NULL AND a.decided_at <> a.submitted_at"
    " THEN json_populate_record(a, '{\"status\": \"pending\", \"refusal_code\": null,"
    " \"refusal_comment\": null, \"district_id\": null, \"effective_on\": null,"
    " \"decided_at\": null, \"decided_by\": null}') ELSE a END)::text AS json"
    " FROM applications a WHERE a.id = $1");
/* The work queue. Each item says whether it is overdue and, for a pending relocation, the
 * address on record beside the new one (§11: the registrar compares them). */
static struct db_stmt q_list = DB_READ(PAGED_JSON(
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

#define MAX_KINDS 64 /* district kinds are a catalogue of migrations: four today */

/* A district kind's age band, read from DISTRICT_KINDS_TEXT. */
struct kind_band {
    char code[32];
    int min_age, max_age;
};

static size_t parse_kinds(const char *text, struct kind_band *ks, size_t cap)
{
    size_t n = 0;
    for (const char *p = text ? text : ""; *p && n < cap; p += *p == ';') {
        int used = 0;
        if (sscanf(p, "(%31[^,],%d,%d)%n", ks[n].code, &ks[n].min_age, &ks[n].max_age, &used) ==
                3 &&
            used > 0)
            n++;
        p += strcspn(p, ";");
    }
    return n;
}

/* Reads the DISTRICTS_TEXT rendering into ds, each with its kind's age band from the
 * DISTRICT_KINDS_TEXT rendering `kinds`. The numbers point into *doc, a copy of the text that
 * the caller frees (NULL: no districts). */
static size_t parse_districts(const char *kinds, const char *text, struct district_option *ds,
                              size_t cap, char **doc)
{
    struct kind_band ks[MAX_KINDS];
    size_t nks = parse_kinds(kinds, ks, MAX_KINDS);
    *doc = text ? strdup(text) : NULL;
    size_t n = 0;
    char *save = NULL;
    for (char *line = *doc ? strtok_r(*doc, ";", &save) : NULL; line && n < cap;
         line = strtok_r(NULL, ";", &save)) {
        long long id;
        char kind[32];
        int capacity, load, open, used = 0;
        size_t len = strlen(line);
        if (sscanf(line, "(%lld,%31[^,],%d,%d,%d,%n", &id, kind, &capacity, &load, &open, &used) !=
                5 ||
            used == 0 || len < (size_t)used + 2 || line[len - 1] != ')')
            continue;
        line[len - 1] = '\0'; /* the number ends the row */
        for (size_t k = 0; k < nks; k++)
            if (strcmp(ks[k].code, kind) == 0) {
                ds[n++] = (struct district_option){.id = id,
                                                   .number = line + used,
                                                   .min_age = ks[k].min_age,
                                                   .max_age = ks[k].max_age,
                                                   .capacity = capacity,
                                                   .load = load,
                                                   .open = open == 1};
                break;
            }
    }
    return n;
}

/* Whether the DISTRICTS_TEXT rendering has the district `id`: each of its rows starts "(id,". */
static bool has_district(const char *text, long long id)
{
    char key[32];
    size_t n = (size_t)snprintf(key, sizeof key, "(%lld,", id);
    for (const char *p = text ? text : ""; *p; p += *p == ';') {
        if (strncmp(p, key, n) == 0)
            return true;
        p += strcspn(p, ";");
    }
    return false;
}

/* Reads a day number's text (a date minus EPOCH); false when it is NULL or not a number. */
static bool day_number(const char *text, day_t *out)
{
    char *end;
    if (!text || !*text)
        return false;
    *out = strtol(text, &end, 10);
    return *end == '\0';
}

/* Parses a list of day numbers "20123,20130,..." (NULL: none). */
static size_t parse_days(const char *list, day_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = list ? list : ""; *p && n < cap; p += *p == ',') {
        char *end;
        day_t d = strtol(p, &end, 10);
        if (end > p && (*end == ',' || *end == '\0'))
            out[n++] = d;
        p += strcspn(p, ",");
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

/* decided_by of an application approved (or refused by the approval's re-checks) at once. */
#define AUTO_APPROVER "attachd (auto_approve)"

static void who_text(const struct principal *who, char *buf, size_t len)
{
    if (!who)
        snprintf(buf, len, AUTO_APPROVER);
    else
        snprintf(buf, len, "%s:%s", role_name(who->role), who->name);
}

/* ---- approval -------------------------------------------------------------------------------- */

struct approval {
    long long app_id, polyclinic_id;
    const char *iin;
    const char *birth_date, *effective_on; /* YYYY-MM-DD */
    long long preferred_district;
    const char *family; /* text[] literal of the family members' IINs */
    const char *decided_by;
    bool may_attach; /* §4 on the effective date (a submission's checks already ran it) */
    struct district_note *note; /* out: why the preferred district was not taken (or NULL) */
};

/* The person's live attachments, read with the district locks: the current one (ended when the
 * new one begins) and whether an upcoming one is to be replaced. */
struct live_attachments {
    long long current_id, current_poly, current_district;
    long long upcoming_district; /* 0: no upcoming attachment to replace */
};

/* Where an approval places the person, decided before anything is written: the district, or
 * the refusal of the re-checks (§11). `locked`: decided under the district locks (else an
 * optimistic auto-approval, see the top of this file). */
struct placement {
    enum refusal refusal;
    long long district_id;
    struct live_attachments live;
    bool locked;
};

/* The person's live attachments (stable: the person's lock is held), read by q_lock_districts
 * beside the district locks. */
static void read_live(const PGresult *r, struct live_attachments *live)
{
    *live = (struct live_attachments){0};
    for (int i = 0; i < PQntuples(r); i++) {
        if (db_is_null(r, i, "live_id"))
            continue;
        if (db_bool(r, i, "upcoming")) {
            live->upcoming_district = db_ll(r, i, "district_id");
        } else {
            live->current_id = db_ll(r, i, "live_id");
            live->current_poly = db_ll(r, i, "live_polyclinic_id");
            live->current_district = db_ll(r, i, "district_id");
        }
    }
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

/* The approval's pure check on its facts, read under the district locks: the district, or the
 * refusal of the re-checks, into pl (its live attachments already there). */
static enum db_status pick_placement(const struct approval *a, bool takes_part,
                                     const struct district_option *ds, size_t nds,
                                     const long long *family, size_t nfamily, struct placement *pl)
{
    day_t birth = 0, effective = 0;
    if (!date_parse(a->birth_date, &birth) || !date_parse(a->effective_on, &effective))
        return DB_ERROR;
    /* §3: the district kind fits the age on the day the attachment begins. */
    int age = age_years(birth, effective);
    long pick;
    pl->refusal = approval_check(a->may_attach, takes_part, ds, nds, age, a->preferred_district,
                                 family, nfamily, &pick);
    if (pl->refusal == REFUSAL_NONE || pl->refusal == REFUSE_CAPACITY_EXCEEDED)
        note_preference(a, ds, nds, age, pick);
    if (pick >= 0)
        pl->district_id = ds[pick].id;
    return DB_OK;
}

/* The approval's facts and its pure check (person lock held): locks the districts, then (in a
 * later statement, so that every commit made before the locks were granted is seen) reads the
 * loads, the family's districts and whether the polyclinic still takes part, and runs
 * approval_check. Writes nothing. */
static enum db_status choose_placement(struct db_conn *conn, const struct approval *a,
                                       struct placement *pl)
{
    *pl = (struct placement){.refusal = REFUSAL_NONE, .locked = true};
    /* One flight: the district locks, then (later statements, later snapshots) the family's
     * districts when a family is given, and the loads. */
    struct db_params pk = {0}, pf = {0}, p = {0};
    db_param_ll(&pk, a->polyclinic_id);
    db_param_text(&pk, a->iin);
    db_param_ll(&pf, a->polyclinic_id);
    db_param_text(&pf, a->family);
    db_param_ll(&p, a->polyclinic_id);
    PGresult *locked = NULL, *fam = NULL, *r = NULL;
    bool has_family = a->family && strcmp(a->family, "{}") != 0;
    struct db_call calls[3] = {{&q_lock_districts, pk.n, pk.values, &locked}};
    int ncalls = 1;
    if (has_family)
        calls[ncalls++] = (struct db_call){&q_family_districts, pf.n, pf.values, &fam};
    calls[ncalls++] = (struct db_call){&q_choice_facts, p.n, p.values, &r};
    enum db_status st = db_query_flight(conn, calls, ncalls);
    if (st != DB_OK)
        return st;
    read_live(locked, &pl->live);
    PQclear(locked);
    long long family[MAX_FAMILY];
    size_t nfamily = 0;
    if (fam) {
        nfamily = parse_ids(db_text(fam, 0, "family_districts"), family, MAX_FAMILY);
        PQclear(fam);
    }
    struct district_option ds[MAX_DISTRICTS];
    char *doc;
    size_t nds = parse_districts(db_text(r, 0, "kinds"), db_text(r, 0, "districts"), ds,
                                 MAX_DISTRICTS, &doc);
    bool takes_part = db_bool(r, 0, "takes_part");
    PQclear(r);
    st = pick_placement(a, takes_part, ds, nds, family, nfamily, pl);
    free(doc);
    return st;
}

/* Makes room in the register for the new attachment and writes it, in one flight: an upcoming
 * attachment is replaced (it and its transfer are cancelled), the current one ends the day the
 * new one begins, then `write` runs with `wp` (*out its result). An optimistic placement
 * (!pl->locked) first locks the districts the move changes, in id order (none for a first
 * attachment). COMMIT goes with the flight when db_commit_with_next was called. */
static enum db_status move_and_write(struct db_conn *conn, const struct approval *a,
                                     const struct placement *pl, struct db_stmt *write,
                                     const struct db_params *wp, PGresult **out)
{
    const struct live_attachments *live = &pl->live;
    struct db_params pk = {0}, pc = {0}, pe = {0};
    struct db_call calls[DB_FLIGHT_MAX];
    int n = 0;
    if (!pl->locked && (live->current_id || live->upcoming_district)) {
        db_param_ll(&pk, pl->district_id);
        db_param_id_or_null(&pk, live->current_id ? live->current_district : 0);
        db_param_id_or_null(&pk, live->upcoming_district);
        calls[n++] = (struct db_call){&q_lock_moved, pk.n, pk.values, NULL};
    }
    if (live->upcoming_district) {
        db_param_text(&pc, a->iin);
        calls[n++] = (struct db_call){&q_cancel_upcoming, pc.n, pc.values, NULL};
    }
    if (live->current_id) {
        db_param_ll(&pe, live->current_id);
        db_param_text(&pe, a->effective_on);
        calls[n++] = (struct db_call){&q_end_current, pe.n, pe.values, NULL};
    }
    if (wp->overflow)
        return DB_ERROR;
    calls[n++] = (struct db_call){write, wp->n, wp->values, out};
    return db_query_flight(conn, calls, n);
}

/* The transfer's "from" side and whether it counts as a change ($4..$6 of q_attach and the
 * placement parameters of q_insert_approved). §11: only leaving a current polyclinic is a
 * change; a first attachment never is, nor the replacement of an upcoming first attachment. */
static void param_from(struct db_params *p, const struct live_attachments *live)
{
    db_param_id_or_null(p, live->current_poly);
    db_param_id_or_null(p, live->current_id ? live->current_district : 0);
    db_param_bool(p, live->current_id != 0);
}

/* Approves a pending application (person lock and application row lock held), as a registrar
 * does: re-checks at this moment that the polyclinic takes part and picks the district under
 * the district locks (§11), moves the person, records the transfer. An application that fails
 * the re-check is refused with its reason. *json is the application as decided. */
static enum db_status approve_locked(struct db_conn *conn, const struct approval *a, char **json)
{
    struct placement pl;
    enum db_status st = choose_placement(conn, a, &pl);
    if (st != DB_OK)
        return st;
    struct db_params p = {0};
    db_param_ll(&p, a->app_id);
    if (pl.refusal != REFUSAL_NONE) {
        db_param_text(&p, "refused");
        db_param_text(&p, refusal_code(pl.refusal));
        db_param_null(&p);
        db_param_text(&p, a->decided_by);
        if (p.overflow)
            return DB_ERROR;
        db_commit_with_next(conn); /* the decision's last statement: COMMIT in its flight */
        return db_query_json(conn, &q_close, p.n, p.values, json);
    }
    db_param_ll(&p, pl.district_id);
    db_param_text(&p, a->effective_on);
    param_from(&p, &pl.live);
    db_param_text(&p, a->decided_by);
    db_commit_with_next(conn);
    PGresult *r = NULL;
    if ((st = move_and_write(conn, a, &pl, &q_attach, &p, &r)) != DB_OK)
        return st;
    /* q_attach's rendering is unaliased: PostgreSQL names it after the function. */
    *json = db_json_copy(r, 0, "application_json");
    PQclear(r);
    return *json ? DB_OK : DB_ERROR;
}

/* ---- submission ------------------------------------------------------------------------------ */

struct submit_ctx {
    const struct application_input *in;
    bool dry_run; /* check only: roll back whatever was written */
    struct submit_result *res;
    /* An optimistic auto-approval lost its district to another approval: the run after it
     * places the person under the district locks. */
    bool lost_race;
};

/* The Idempotency-Key the submission is stored under and looked up by: none in a dry run, which
 * stores nothing. */
static const char *submission_key(const struct submit_ctx *ctx)
{
    return ctx->dry_run ? NULL : ctx->in->idempotency_key;
}

/* The catalogue texts (q_catalogue_texts) as this worker thread last read them, the refusals
 * compact: a submission whose facts show the same version on the same day uses them instead of
 * reading them again. Per thread, so without a lock; a text too long for its buffer is not kept
 * (read every time). */
struct catalogue_texts {
    bool kept;
    long long version;
    day_t today;
    char kinds[512], holidays[1024], refusals[8192];
};
static _Thread_local struct catalogue_texts catalogue;

/* The texts one submission uses: the thread's, or those it read (held by `read`, the refusals
 * compacted into `refusals_copy`) when the thread could not keep them. */
struct catalogue_use {
    const char *kinds, *holidays, *refusals;
    PGresult *read;
    char *refusals_copy;
};

static void catalogue_release(struct catalogue_use *u)
{
    PQclear(u->read);
    free(u->refusals_copy);
    *u = (struct catalogue_use){0};
}

static bool keep_text(char *to, size_t cap, const char *text)
{
    size_t len = text ? strlen(text) : cap;
    if (len >= cap)
        return false;
    memcpy(to, text, len + 1);
    return true;
}

/* Compacts each line of text on its own, in place (json_text_compact would join them). */
static void compact_lines(char *text)
{
    char *out = text;
    for (char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        bool more = line[n] == '\n';
        line[n] = '\0';
        json_text_compact(line);
        size_t m = strlen(line);
        memmove(out, line, m);
        out += m;
        if (more)
            *out++ = '\n';
        line += n + more;
    }
    *out = '\0';
}

/* The catalogue texts for a submission whose facts show `version` on `today`: those this
 * thread kept, or read now in its transaction (and kept under the version they were read
 * with). */
static enum db_status catalogue_for(struct db_conn *conn, long long version, day_t today,
                                    struct catalogue_use *u)
{
    struct catalogue_texts *c = &catalogue;
    *u = (struct catalogue_use){0};
    if (!c->kept || c->version != version || c->today != today) {
        enum db_status st = db_query(conn, &q_catalogue_texts, 0, NULL, &u->read);
        if (st != DB_OK)
            return st;
        const char *refusals = db_text(u->read, 0, "refusals");
        c->kept = day_number(db_text(u->read, 0, "today"), &c->today) &&
                  keep_text(c->kinds, sizeof c->kinds, db_text(u->read, 0, "kinds")) &&
                  keep_text(c->holidays, sizeof c->holidays, db_text(u->read, 0, "holidays")) &&
                  keep_text(c->refusals, sizeof c->refusals, refusals);
        c->version = db_ll(u->read, 0, "version");
        if (c->kept) {
            compact_lines(c->refusals);
        } else {
            u->kinds = db_text(u->read, 0, "kinds");
            u->holidays = db_text(u->read, 0, "holidays");
            u->refusals = u->refusals_copy = strdup(refusals ? refusals : "");
            if (!u->refusals_copy)
                return DB_ERROR;
            compact_lines(u->refusals_copy);
            return DB_OK;
        }
    }
    u->kinds = c->kinds;
    u->holidays = c->holidays;
    u->refusals = c->refusals;
    return DB_OK;
}

/* A refusal as refusal_json(code, NULL) renders it, compact, from the refusals' text ("CODE=json"
 * per line); "null" when the catalogue has no such code, as refusal_json answers then. */
static void refusal_json_text(struct text_buf *t, const char *refusals, const char *code)
{
    size_t len = strlen(code);
    for (const char *line = refusals; *line; line += strcspn(line, "\n"), line += *line == '\n') {
        if (strncmp(line, code, len) == 0 && line[len] == '=') {
            text_append(t, line + len + 1, strcspn(line + len + 1, "\n"));
            return;
        }
    }
    TEXT_LIT(t, "null");
}

/* What a submission knows once the person is locked: the facts row (kept while its strings are
 * borrowed by `facts`) and what the pure rules need besides. */
struct gathered {
    PGresult *row;
    struct application_facts facts;
    struct district_option ds[MAX_DISTRICTS];
    char *districts_doc;
    json_t *live_doc; /* LIVE_JSON: the record address points into it */
    day_t holidays[MAX_HOLIDAYS];
    size_t nholidays;
    char year[16];
    /* The person's live attachments and the family's districts, read with the facts. */
    struct live_attachments live;
    const char *current_ownership; /* that of the current one's polyclinic (NULL: none) */
    long long family[MAX_FAMILY];
    size_t nfamily;
    struct catalogue_use catalogue; /* the kinds, holidays and refusals it read */
};

static void gathered_free(struct gathered *g)
{
    catalogue_release(&g->catalogue);
    PQclear(g->row);
    free(g->districts_doc);
    json_decref(g->live_doc);
}

/* What the submission's checks need of the person's live attachments. */
struct live_facts {
    bool there;      /* one of them is at the polyclinic applied to (even if ending) */
    bool takes_part; /* the current one's polyclinic is accepting with a Fund contract */
    const char *record_settlement, *record_address; /* NULL: nothing on record */
};

/* Whether LIVE_JSON row a began after row b (valid_from, then id). */
static bool live_later(const json_t *a, const json_t *b)
{
    json_int_t from_a = json_integer_value(json_array_get(a, LIVE_FROM));
    json_int_t from_b = json_integer_value(json_array_get(b, LIVE_FROM));
    return from_a > from_b ||
           (from_a == from_b && json_integer_value(json_array_get(a, LIVE_ID)) >
                                    json_integer_value(json_array_get(b, LIVE_ID)));
}

/* Reads the LIVE_JSON rendering into g->live and *lf, the record address (that of the latest
 * row, by valid_from then id, made by an application) pointing into g->live_doc. False: not
 * that rendering. */
static bool live_from_json(struct gathered *g, const char *text, long long polyclinic_id,
                           struct live_facts *lf)
{
    *lf = (struct live_facts){0};
    g->live = (struct live_attachments){0};
    g->current_ownership = NULL;
    g->live_doc = json_loads(text ? text : "", JSON_DECODE_ANY, NULL);
    if (!json_is_array(g->live_doc))
        return false;
    size_t i;
    json_t *row, *record = NULL;
    json_array_foreach(g->live_doc, i, row)
    {
        if (json_array_size(row) != LIVE_COLUMNS ||
            !json_is_integer(json_array_get(row, LIVE_FROM)))
            return false;
        long long poly = json_integer_value(json_array_get(row, LIVE_POLYCLINIC));
        long long district = json_integer_value(json_array_get(row, LIVE_DISTRICT));
        lf->there = lf->there || poly == polyclinic_id;
        if (json_is_true(json_array_get(row, LIVE_BEGUN))) {
            g->live.current_id = json_integer_value(json_array_get(row, LIVE_ID));
            g->live.current_poly = poly;
            g->live.current_district = district;
            g->current_ownership = json_string_value(json_array_get(row, LIVE_OWNERSHIP));
            lf->takes_part = json_is_true(json_array_get(row, LIVE_TAKES_PART));
        } else {
            g->live.upcoming_district = district;
        }
        if (!json_is_null(json_array_get(row, LIVE_APPLICATION)) &&
            (!record || live_later(row, record)))
            record = row;
    }
    if (record) {
        lf->record_settlement = json_string_value(json_array_get(record, LIVE_SETTLEMENT));
        lf->record_address = json_string_value(json_array_get(record, LIVE_ADDRESS));
    }
    return true;
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

/* The offset ("+05", "+05:30") of a timestamptz's text in DateStyle ISO ("2026-12-03
 * 21:02:57.123456+05"), NULL when the text is not of that form. */
static const char *ts_offset(const char *pg)
{
    if (!pg || strlen(pg) < 22 || strlen(pg) > 35 || pg[4] != '-' || pg[10] != ' ' || pg[13] != ':')
        return NULL;
    const char *z = pg + 19;
    if (*z == '.')
        while (*++z >= '0' && *z <= '9')
            ;
    if ((*z != '+' && *z != '-') || !isdigit((unsigned char)z[1]) || !isdigit((unsigned char)z[2]))
        return NULL;
    return z;
}

/* A timestamptz as iso_ts() renders it (migrations/0002: to_char(t,
 * 'YYYY-MM-DD"T"HH24:MI:SSTZH:TZM') in the session's time zone) from its text in DateStyle ISO,
 * which pool.c sets: "2026-12-03 21:02:57.123456+05" is "2026-12-03T21:02:57+05:00" (to_char's SS
 * drops the fraction too; TZM writes the offset's minutes, 00 when the text has none). False
 * when the text is not of that form. */
static bool iso_ts_text(const char *pg, char out[32])
{
    const char *z = ts_offset(pg);
    if (!z)
        return false;
    const char *minutes = z[3] == ':' && isdigit((unsigned char)z[4]) ? z + 4 : "00";
    snprintf(out, 32, "%.10sT%.8s%.3s:%.2s", pg, pg + 11, z, minutes);
    return true;
}

/* A PostgreSQL array literal of plain elements ("{a,b}", as family_literal and
 * warnings_literal write them) as array_to_json renders it: ["a","b"]. */
static void json_array_from_literal(struct text_buf *t, const char *literal)
{
    TEXT_LIT(t, "[");
    const char *p = literal + 1; /* past '{' */
    while (*p && *p != '}') {
        size_t n = strcspn(p, ",}");
        char item[64];
        snprintf(item, sizeof item, "%.*s", (int)n, p);
        if (p != literal + 1)
            TEXT_LIT(t, ",");
        text_json_string(t, item, JSON_HEX_POSTGRES);
        p += n + (p[n] == ',');
    }
    TEXT_LIT(t, "]");
}

static void json_id_or_null(struct text_buf *t, long long id)
{
    if (id)
        text_json_id(t, id);
    else
        TEXT_LIT(t, "null");
}

/* The answer to a submission (stored pending, approved at once: pl, or refused: `refusal`, its
 * rendering from the refusals' text), as application_json() (migrations/0009) renders it for GET
 * /v1/applications/{id}, compact: the values sent to the INSERT and what it made, its id and
 * times (r). PostgreSQL built it in every submission, 147k instructions of about 1 950k
 * (docs/PERFORMANCE.md, round 13). Keys in application_json's order; the person and the
 * representative as jsonb prints them (the API layer sends them so: jsonb_text); a decision
 * taken at once has its submitted_at as decided_at (both now() of the transaction).
 * tests/integration/test_applications.py compares it with GET byte for byte. NULL when r's
 * times are not readable or memory ran out. */
static char *submitted_json(const struct application_input *in, const PGresult *r,
                            const struct placement *pl, const char *refusal, const char *refusals,
                            const char *warnings, const char *year, const char *effective_on)
{
    bool pending = !pl && !refusal;
    char submitted[32], due[32];
    if (!iso_ts_text(db_text(r, 0, "submitted_at"), submitted) ||
        (pending && !iso_ts_text(db_text(r, 0, "decision_due_at"), due)))
        return NULL;
    const enum json_hex pg = JSON_HEX_POSTGRES;
    struct text_buf t = {0};
    TEXT_LIT(&t, "{\"id\":");
    text_json_id(&t, db_ll(r, 0, "id"));
    TEXT_LIT(&t, ",\"status\":");
    text_json_string(&t, pl ? "approved" : refusal ? "refused" : "pending", pg);
    TEXT_LIT(&t, ",\"person\":");
    text_append(&t, in->person_json, strlen(in->person_json));
    TEXT_LIT(&t, ",\"settlement\":");
    text_json_string(&t, in->settlement, pg);
    TEXT_LIT(&t, ",\"address\":");
    text_json_string(&t, in->address ? in->address : "", pg);
    TEXT_LIT(&t, ",\"polyclinic_id\":");
    text_json_id(&t, in->polyclinic_id);
    TEXT_LIT(&t, ",\"requested_district_id\":");
    json_id_or_null(&t, in->district_id);
    TEXT_LIT(&t, ",\"district_id\":");
    json_id_or_null(&t, pl ? pl->district_id : 0);
    TEXT_LIT(&t, ",\"channel\":");
    text_json_string(&t, in->channel, pg);
    TEXT_LIT(&t, ",\"grounds\":");
    text_json_string(&t, in->grounds, pg);
    TEXT_LIT(&t, ",\"representative\":");
    if (in->representative_json)
        text_append(&t, in->representative_json, strlen(in->representative_json));
    else
        TEXT_LIT(&t, "null");
    TEXT_LIT(&t, ",\"birth_certificate\":");
    text_json_string(&t, in->birth_certificate, pg);
    TEXT_LIT(&t, ",\"family_iins\":");
    json_array_from_literal(&t, in->family_iins);
    TEXT_LIT(&t, ",\"refusal\":");
    if (refusal)
        refusal_json_text(&t, refusals, refusal);
    else
        TEXT_LIT(&t, "null");
    TEXT_LIT(&t, ",\"warnings\":");
    json_array_from_literal(&t, warnings);
    TEXT_LIT(&t, ",\"campaign_year\":");
    text_append(&t, year, strlen(year));
    TEXT_LIT(&t, ",\"submitted_at\":");
    text_json_string(&t, submitted, pg);
    TEXT_LIT(&t, ",\"decision_due_at\":");
    text_json_string(&t, pending ? due : NULL, pg);
    TEXT_LIT(&t, ",\"decided_at\":");
    text_json_string(&t, pending ? NULL : submitted, pg);
    TEXT_LIT(&t, ",\"effective_on\":");
    text_json_string(&t, pl ? effective_on : NULL, pg);
    TEXT_LIT(&t, "}");
    if (t.failed) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}

/* A timestamptz as to_jsonb() renders it (JSON's date-time: "T", the offset with its minutes)
 * from its text in DateStyle ISO: "2026-12-03 21:02:57.123456+05" is
 * "2026-12-03T21:02:57.123456+05:00"; an offset with minutes or seconds is written as it is.
 * False when the text is not of that form. */
static bool json_ts_text(const char *pg, char out[40])
{
    const char *z = ts_offset(pg);
    if (!z)
        return false;
    snprintf(out, 40, "%.10sT%s%s", pg, pg + 11, z[3] ? "" : ":00");
    return true;
}

/* A submission's trail as the statement that stores it writes it (TRAIL_AUDIT, TRAIL_EVENTS,
 * TRAIL_PENDING_CTE): the members of each document, without braces and without what the
 * statement makes (the application's and the transfer's id, a pending application's due
 * time). They are what event_submitted_data, event_decided_data and audit_row (migrations/0020,
 * 0021) make of the stored row, which tests/integration/test_trail.py checks: jsonb orders the
 * keys itself. */
struct trail {
    struct text_buf submitted, decided, audit;
    /* the audit's actor: actor_role(), actor_token() (NULL: none) and actor_name() of the
     * actor the pool names in attachd.actor (db_actor) */
    char role[160], token[160], name[160];
};

/* "role<TAB>token<TAB>name" (db_set_actor) split as migrations/0020's actor_role(),
 * actor_token() and actor_name() split it: nobody ("") is the system. */
static void trail_actor(struct trail *tr)
{
    const char *actor = db_actor();
    size_t role = strcspn(actor, "\t");
    const char *rest = actor[role] ? actor + role + 1 : actor + role;
    size_t token = strcspn(rest, "\t");
    if (*actor)
        snprintf(tr->role, sizeof tr->role, "%.*s", (int)role, actor);
    else
        snprintf(tr->role, sizeof tr->role, "system");
    snprintf(tr->token, sizeof tr->token, "%.*s", (int)token, rest);
    snprintf(tr->name, sizeof tr->name, "%s", rest[token] ? rest + token + 1 : "");
}

static void trail_free(struct trail *tr)
{
    free(tr->submitted.buf);
    free(tr->decided.buf);
    free(tr->audit.buf);
}

/* A document's member "key": before its value, after a comma unless it is the first. */
static void member(struct text_buf *t, const char *key)
{
    if (t->len)
        TEXT_LIT(t, ",");
    TEXT_LIT(t, "\"");
    text_append(t, key, strlen(key));
    TEXT_LIT(t, "\":");
}

static void member_text(struct text_buf *t, const char *key, const char *text)
{
    member(t, key);
    text_json_string(t, text, JSON_HEX_POSTGRES);
}

static void member_id(struct text_buf *t, const char *key, long long id)
{
    member(t, key);
    json_id_or_null(t, id);
}

static void member_json(struct text_buf *t, const char *key, const char *json)
{
    member(t, key);
    text_append(t, json, strlen(json));
}

/* The trail of a submission stored with `status` (decided_by: who decided it at once, NULL for
 * a pending one), placed by pl (approved) or refused with refusal_code. False when the facts'
 * time is not readable or memory ran out. */
static bool trail_members(const struct application_input *in, const struct gathered *g,
                          const char *status, const char *decided_by, const struct placement *pl,
                          const char *refusal_code, const char *warnings, const char *effective_on,
                          struct trail *tr)
{
    *tr = (struct trail){0};
    struct text_buf *s = &tr->submitted, *d = &tr->decided, *a = &tr->audit;
    /* event_submitted_data: an auto-approver's decision was a pending application's */
    member_text(s, "status",
                decided_by && strcmp(decided_by, AUTO_APPROVER) == 0 ? "pending" : status);
    member_text(s, "channel", in->channel);
    member_text(s, "grounds", in->grounds);
    member_id(s, "requested_district_id", in->district_id);
    member_json(s, "campaign_year", g->year);
    if (!decided_by)
        return !s->failed; /* the due time is the statement's */
    member_json(s, "decision_due_at", "null");

    /* event_decided_data: an approval's transfer id is the statement's */
    member_text(d, "status", status);
    member_id(d, "district_id", pl ? pl->district_id : 0);
    member_text(d, "effective_on", pl ? effective_on : NULL);
    member_text(d, "grounds", in->grounds);
    if (pl)
        member_id(d, "from_polyclinic_id", pl->live.current_poly);
    member(d, "refusal");
    if (pl)
        TEXT_LIT(d, "null");
    else
        refusal_json_text(d, g->catalogue.refusals, refusal_code);

    trail_actor(tr);
    /* audit_row: the row but its personal data (the trigger's arguments); the id is the
     * statement's. submitted_at and decided_at are both now(), the facts' `now`. */
    char now[40], birth_date[11];
    if (!json_ts_text(db_text(g->row, 0, "now"), now))
        return false;
    date_format(g->facts.birth_date, birth_date);
    member_text(a, "iin", in->iin);
    member_text(a, "birth_date", birth_date);
    member_text(a, "settlement", in->settlement);
    member_id(a, "polyclinic_id", in->polyclinic_id);
    member_id(a, "requested_district_id", in->district_id);
    member_text(a, "channel", in->channel);
    member_text(a, "grounds", in->grounds);
    member_text(a, "status", status);
    member_text(a, "refusal_code", refusal_code);
    member_json(a, "refusal_comment", "null");
    member(a, "warnings");
    json_array_from_literal(a, warnings);
    member_json(a, "campaign_year", g->year);
    member_text(a, "submitted_at", now);
    member_json(a, "decision_due_at", "null");
    member_text(a, "decided_at", now);
    member_text(a, "decided_by", decided_by);
    member_id(a, "district_id", pl ? pl->district_id : 0);
    member_text(a, "effective_on", pl ? effective_on : NULL);
    member_id(a, "submitted_by", in->who ? in->who->token_id : 0);
    return !s->failed && !d->failed && !a->failed;
}

/* Step 1: locks the person and reads the facts. Answers at once (returns true with *done) what
 * needs no checks: an idempotent replay or a reused key, a pending application, an unknown
 * polyclinic or district. */
static enum db_status gather_facts(struct db_conn *conn, const struct submit_ctx *ctx,
                                   struct gathered *g, bool *done)
{
    const struct application_input *in = ctx->in;
    struct submit_result *res = ctx->res;
    *done = true;
    struct db_params pf = {0};
    db_param_text(&pf, in->iin);
    db_param_ll(&pf, in->polyclinic_id);
    db_param_text(&pf, in->settlement);
    bool keyed = submission_key(ctx) != NULL;
    if (keyed) {
        db_param_text(&pf, submission_key(ctx));
        db_param_text(&pf, in->request_hash);
        db_param_id_or_null(&pf, in->who ? in->who->token_id : 0);
    }
    if (pf.overflow)
        return DB_ERROR;
    /* The transaction's first flight (with its BEGIN in a dry run): the person's lock, then
     * (later statements, their snapshots taken once it is granted) the family's districts when
     * a family is given, and the facts. */
    const char *lock[1] = {in->iin};
    struct db_params pm = {0};
    db_param_ll(&pm, in->polyclinic_id);
    db_param_text(&pm, in->family_iins);
    PGresult *fam = NULL;
    bool has_family = in->family_iins && strcmp(in->family_iins, "{}") != 0;
    struct db_call calls[3] = {{&q_lock_person, 1, lock, NULL}};
    int ncalls = 1;
    if (has_family)
        calls[ncalls++] = (struct db_call){&q_family_districts, pm.n, pm.values, &fam};
    calls[ncalls++] = (struct db_call){keyed ? &q_submit_facts : &q_submit_facts_keyless, pf.n,
                                       pf.values, &g->row};
    enum db_status st = db_query_flight(conn, calls, ncalls);
    if (st != DB_OK)
        return st;
    if (fam) {
        g->nfamily = parse_ids(db_text(fam, 0, "family_districts"), g->family, MAX_FAMILY);
        PQclear(fam);
    }
    PGresult *r = g->row;
    if (!db_is_null(r, 0, "idem_id")) {
        res->other_id = db_ll(r, 0, "idem_id");
        res->outcome = db_bool(r, 0, "idem_same") ? SUBMIT_REPLAYED : SUBMIT_IDEMPOTENCY_MISMATCH;
        if (res->outcome != SUBMIT_REPLAYED)
            return DB_OK;
        /* The answer of the first submission, read only for a replay (rare): in the facts
         * statement its rendering was built, empty, for every submission. */
        struct db_params p = {0};
        db_param_ll(&p, res->other_id);
        PGresult *stored = NULL;
        if ((st = db_query_params(conn, &q_first_answer, &p, &stored)) != DB_OK)
            return st;
        res->json = PQntuples(stored) > 0 ? db_json_copy(stored, 0, "json") : NULL;
        PQclear(stored);
        return res->json ? DB_OK : DB_ERROR;
    }
    if (!db_is_null(r, 0, "pending_id")) {
        res->outcome = SUBMIT_PENDING_EXISTS;
        res->other_id = db_ll(r, 0, "pending_id");
        res->other_polyclinic_id = db_ll(r, 0, "pending_polyclinic_id");
        return DB_OK;
    }
    if (!db_bool(r, 0, "poly_exists") ||
        (in->district_id && !has_district(db_text(r, 0, "districts"), in->district_id))) {
        res->outcome =
            db_bool(r, 0, "poly_exists") ? SUBMIT_UNKNOWN_DISTRICT : SUBMIT_UNKNOWN_POLYCLINIC;
        return DB_OK;
    }
    *done = false;
    bool serves = db_bool(r, 0, "in_own_settlement"), settlement_known = serves;
    if (!serves) {
        PGresult *other = NULL;
        struct db_params po = {0};
        db_param_text(&po, in->settlement);
        db_param_ll(&po, in->polyclinic_id);
        if ((st = db_query_params(conn, &q_other_settlement, &po, &other)) != DB_OK)
            return st;
        serves = db_bool(other, 0, "serves");
        settlement_known = db_bool(other, 0, "known");
        PQclear(other);
    }
    struct live_facts live;
    if (!live_from_json(g, db_text(r, 0, "live"), in->polyclinic_id, &live))
        return DB_ERROR;

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
        .settlement_known = settlement_known,
        .in_campaign = !db_is_null(r, 0, "campaign_year"),
        .clinic_accepting = db_bool(r, 0, "accepting"),
        .clinic_serves_settlement = serves,
        .auto_approve = db_bool(r, 0, "auto_approve"),
        .already_attached_there = live.there,
        .has_current_attachment = g->live.current_id != 0,
        .current_clinic_takes_part = live.takes_part,
        .record_settlement = live.record_settlement,
        .record_address = live.record_address ? live.record_address : "",
        .changes_used = (int)db_ll(r, 0, "changes_used"),
        .max_changes = (int)db_ll(r, 0, "max_changes"),
    };
    day_t campaign_effective_on = 0;
    const char *campaign_effective_text = db_text(r, 0, "campaign_effective_on");
    bool has_campaign = campaign_effective_text != NULL;
    if (!grounds_parse(in->grounds, &f->grounds) || !date_parse(in->birth_date, &f->birth_date) ||
        !day_number(db_text(r, 0, "today"), &f->today) ||
        (has_campaign && !day_number(campaign_effective_text, &campaign_effective_on)) ||
        (in->insurance_valid_until &&
         !date_parse(in->insurance_valid_until, &f->insurance_valid_until)))
        return DB_ERROR;
    /* What insurance must cover, what the district kind is judged by, and what approval uses. */
    f->effective_on = effective_date(f->grounds == GROUNDS_CAMPAIGN,
                                     has_campaign ? &campaign_effective_on : NULL, f->today);
    st = catalogue_for(conn, db_ll(r, 0, "catalogue_version"), f->today, &g->catalogue);
    if (st != DB_OK)
        return st;
    f->districts = g->ds;
    f->ndistricts = parse_districts(g->catalogue.kinds, db_text(r, 0, "districts"), g->ds,
                                    MAX_DISTRICTS, &g->districts_doc);
    g->nholidays = parse_days(g->catalogue.holidays, g->holidays, MAX_HOLIDAYS);
    if (has_campaign) {
        snprintf(g->year, sizeof g->year, "%s", db_text(r, 0, "campaign_year"));
    } else { /* no campaign open: the application is of today's year */
        int year, month, day;
        civil_from_days(f->today, &year, &month, &day);
        snprintf(g->year, sizeof g->year, "%d", year);
    }
    return DB_OK;
}

/* Step 2b, for an application the checks let the polyclinic approve at once (auto_approve):
 * the approval's check on the facts read under the district locks, before anything is
 * written, so that the application is stored once, already decided. */
static enum db_status place_at_once(struct db_conn *conn, const struct submit_ctx *ctx,
                                    const struct gathered *g, char *effective_on,
                                    struct placement *pl)
{
    const struct application_input *in = ctx->in;
    date_format(g->facts.effective_on, effective_on);
    struct approval a = {
        .polyclinic_id = in->polyclinic_id,
        .iin = in->iin,
        .birth_date = in->birth_date,
        .effective_on = effective_on,
        .preferred_district = in->district_id,
        .family = in->family_iins,
        .decided_by = AUTO_APPROVER,
        .may_attach = true, /* run_checks judged it on this effective date */
    };
    /* Optimistic (the top of this file): the district chosen from the loads the facts read,
     * locked when it is written. After a lost race: lock and read them now. */
    if (ctx->lost_race)
        return choose_placement(conn, &a, pl);
    *pl = (struct placement){.refusal = REFUSAL_NONE, .live = g->live};
    return pick_placement(&a, g->facts.clinic_accepting, g->ds, g->facts.ndistricts, g->family,
                          g->nfamily, pl);
}

/* Step 3: stores the application with the outcome of the checks: refused, pending, or (pl not
 * NULL: auto_approve) as the placement decided, approved with its attachment and transfer in
 * the same statement, or refused by the approval's re-checks. */
static enum db_status write_submission(struct db_conn *conn, struct submit_ctx *ctx,
                                       const struct gathered *g, const struct check_outcome *out,
                                       const struct placement *pl, const char *effective_on)
{
    const struct application_input *in = ctx->in;
    struct submit_result *res = ctx->res;
    char due[11], who[96], warnings[96];
    date_format(next_working_day(g->facts.today, g->holidays, g->nholidays), due);
    who_text(in->who, who, sizeof who);
    warnings_literal(out->warnings, warnings, sizeof warnings);
    enum refusal refusal = out->refusal != REFUSAL_NONE ? out->refusal
                           : pl                         ? pl->refusal
                                                        : REFUSAL_NONE;
    bool approved = pl && refusal == REFUSAL_NONE;
    /* The polyclinic left is the facts' current one (its ownership, $33): the person's lock has
     * been held since they were read. */
    if (approved && pl->live.current_poly != g->live.current_poly)
        return DB_ERROR;
    const char *status = approved ? "approved" : refusal != REFUSAL_NONE ? "refused" : "pending";
    const char *decided_by = pl ? AUTO_APPROVER : refusal != REFUSAL_NONE ? who : NULL;
    struct trail tr;
    if (!trail_members(in, g, status, decided_by, approved ? pl : NULL, refusal_code(refusal),
                       warnings, effective_on, &tr)) {
        trail_free(&tr);
        return DB_ERROR;
    }
    struct db_params p = {0};
    db_param_text(&p, in->iin);                                     /* $1 */
    db_param_text(&p, in->person_json);                             /* $2 */
    db_param_text(&p, in->birth_date);                              /* $3 */
    db_param_text(&p, in->settlement);                              /* $4 */
    db_param_text(&p, in->address ? in->address : "");              /* $5 */
    db_param_ll(&p, in->polyclinic_id);                             /* $6 */
    db_param_id_or_null(&p, in->district_id);                       /* $7 */
    db_param_text(&p, in->channel);                                 /* $8 */
    db_param_text(&p, in->grounds);                                 /* $9 */
    db_param_text(&p, in->representative_json);                     /* $10 */
    db_param_text(&p, in->birth_certificate);                       /* $11 */
    db_param_text(&p, in->family_iins);                             /* $12 */
    db_param_text(&p, status);                                      /* $13 */
    db_param_text(&p, refusal_code(refusal));                       /* $14 */
    db_param_text(&p, warnings);                                    /* $15 */
    db_param_text(&p, g->year);                                     /* $16 */
    db_param_text(&p, refusal == REFUSAL_NONE && !pl ? due : NULL); /* $17 */
    db_param_text(&p, decided_by ? decided_by : who);               /* $18 */
    db_param_text(&p, submission_key(ctx));                         /* $19 */
    db_param_text(&p, in->request_hash);                            /* $20 */
    db_param_id_or_null(&p, in->who ? in->who->token_id : 0);       /* $21 */
    if (approved) {
        db_param_ll(&p, pl->district_id); /* $22 */
        db_param_text(&p, effective_on);  /* $23 */
        param_from(&p, &pl->live);        /* $24..$26 */
    }

    db_param_text(&p, tr.submitted.buf); /* $22 or $27 */
    if (decided_by) {
        db_param_text(&p, tr.decided.buf); /* $23 or $28 */
        db_param_text(&p, tr.audit.buf);   /* $24 or $29 */
        db_param_text(&p, tr.role);        /* $25 or $30 */
        db_param_text(&p, tr.token[0] ? tr.token : NULL);
        db_param_text(&p, tr.name);
    }
    if (approved) {
        db_param_text(&p, g->current_ownership);            /* $33 (NULL: a first attachment) */
        db_param_text(&p, db_text(g->row, 0, "ownership")); /* $34 */
        /* $35: the trail by the statement, unless an upcoming attachment is cancelled first
         * (q_cancel_upcoming: the approval's events must follow transfer.cancelled) */
        db_param_bool(&p, pl->live.upcoming_district == 0);
    }
    PGresult *r = NULL;
    /* The transaction's last flight: it commits at its sync (a dry run rolls back instead). */
    if (!ctx->dry_run)
        db_commit_with_next(conn);
    enum db_status st =
        approved
            ? move_and_write(conn, &(struct approval){.iin = in->iin, .effective_on = effective_on},
                             pl, &q_insert_approved, &p, &r)
            : db_query_params(conn, refusal == REFUSAL_NONE ? &q_insert_pending : &q_insert, &p,
                              &r);
    trail_free(&tr);
    if (st != DB_OK) {
        if (st == DB_CHECK_VIOLATION && approved && !pl->locked &&
            strcmp(db_constraint(conn), "districts_within_capacity") == 0) {
            /* Another approval took the district's last place after the facts were read: all
             * again, under the district locks. */
            ctx->lost_race = true;
            return DB_ABORT;
        }
        if (st == DB_UNIQUE_VIOLATION && in->idempotency_key &&
            strstr(db_constraint(conn), "idempotency")) {
            /* The key was taken meanwhile by a request of this token for another person (same
             * person: the lock made us wait and see it in gather_facts). */
            res->outcome = SUBMIT_IDEMPOTENCY_MISMATCH;
            return DB_ABORT;
        }
        return st;
    }
    res->json = submitted_json(in, r, approved ? pl : NULL, refusal_code(refusal),
                               g->catalogue.refusals, warnings, g->year, effective_on);
    PQclear(r);
    res->outcome = SUBMIT_CREATED;
    return res->json ? DB_OK : DB_ERROR;
}

/* One submission: gather the facts → run the checks (pure) → for an auto-approval, the
 * placement (its pure check on the facts; after a lost race, on facts read under the district
 * locks) → write. A dry run does
 * all of it and rolls back, so it answers exactly what a submission would have. */
static enum db_status submit_tx(struct db_conn *conn, void *arg)
{
    struct submit_ctx *ctx = arg;
    free(ctx->res->json);
    *ctx->res = (struct submit_result){0};
    enum db_status st;
    struct gathered *g = calloc(1, sizeof *g);
    if (!g)
        return DB_ERROR;
    bool done;
    if ((st = gather_facts(conn, ctx, g, &done)) == DB_OK && !done) {
        struct check_outcome out;
        run_checks(&g->facts, &out);
        struct placement pl;
        char effective_on[11] = "";
        if (out.approve_now)
            st = place_at_once(conn, ctx, g, effective_on, &pl);
        if (st == DB_OK)
            st = write_submission(conn, ctx, g, &out, out.approve_now ? &pl : NULL, effective_on);
    }
    gathered_free(g);
    free(g);
    return st == DB_OK && ctx->dry_run ? DB_ABORT : st;
}

/* A submission's transaction has no BEGIN and COMMIT statements (db_transaction_implicit: two
 * statements fewer per application); a dry run's has them, as it rolls back what it wrote. */
static enum db_status submission_transaction(struct db_pool *pool, struct submit_ctx *ctx)
{
    return ctx->dry_run ? db_transaction(pool, "READ COMMITTED", submit_tx, ctx)
                        : db_transaction_implicit(pool, submit_tx, ctx);
}

static enum db_status run_submission(struct db_pool *pool, const struct application_input *in,
                                     bool dry_run, struct submit_result *res)
{
    *res = (struct submit_result){0};
    struct submit_ctx ctx = {.in = in, .dry_run = dry_run, .res = res};
    enum db_status st = submission_transaction(pool, &ctx);
    if (st == DB_ABORT && ctx.lost_race)
        st = submission_transaction(pool, &ctx);
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
    snprintf(birth, sizeof birth, "%s", db_text_or_empty(r, 0, "birth_date"));
    day_t today = 0, campaign_day = 0;
    const char *campaign_text = db_text(r, 0, "campaign_effective_on");
    bool has_campaign = campaign_text != NULL;
    if (!day_number(db_text(r, 0, "today"), &today) ||
        (has_campaign && !day_number(campaign_text, &campaign_day)))
        return DB_ERROR;
    day_t effective =
        effective_date(db_bool(r, 0, "campaign"), has_campaign ? &campaign_day : NULL, today);
    date_format(effective, effective_on);
    const char *insured_text = db_text(r, 0, "insured_until");
    bool insured = insured_text != NULL;
    day_t insured_until = 0;
    if (insured && !date_parse(insured_text, &insured_until))
        return DB_ERROR;
    char *family = strdup(db_text_or_empty(r, 0, "family"));
    if (!family)
        return DB_ERROR;
    struct approval a = {
        .app_id = ctx->in->id,
        .polyclinic_id = polyclinic_id,
        .iin = iin,
        .birth_date = birth,
        .effective_on = effective_on,
        .preferred_district = db_ll(r, 0, "district_id"),
        .family = family,
        .decided_by = who,
        .may_attach =
            may_attach(db_text_or_empty(r, 0, "residency"), insured, insured_until, effective),
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
    struct db_params pt = {0};
    db_param_ll(&pt, in->id);
    PGresult *r = NULL;
    enum db_status st = db_query_params(conn, &q_target, &pt, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) == 0 || (in->who && in->who->role == ROLE_REGISTRAR &&
                              db_ll(r, 0, "polyclinic_id") != in->who->polyclinic_id)) {
        PQclear(r);
        res->outcome = DECIDE_NOT_FOUND;
        return DB_OK;
    }
    char iin[16];
    snprintf(iin, sizeof iin, "%s", db_text_or_empty(r, 0, "iin"));
    long long polyclinic_id = db_ll(r, 0, "polyclinic_id");
    PQclear(r);
    struct db_params pl = {0};
    db_param_ll(&pl, in->id);
    db_param_id_or_null(&pl, in->district_id);
    db_param_text(&pl, in->reason);
    db_param_text(&pl, in->district_number);
    /* The person's lock, then the application row read and locked (a later statement: it sees
     * what was committed before the person's lock was granted), in one flight. */
    const char *lock[1] = {iin};
    struct db_call calls[] = {{&q_lock_person, 1, lock, NULL}, {&q_locked, pl.n, pl.values, &r}};
    if ((st = db_query_flight(conn, calls, 2)) != DB_OK)
        return st;
    if (strcmp(db_text_or_empty(r, 0, "status"), "pending") != 0) {
        res->outcome = DECIDE_NOT_PENDING;
        res->json = db_json_copy(r, 0, "json");
        PQclear(r);
        return DB_OK;
    }
    if ((in->what == DECIDE_REFUSE && !db_bool(r, 0, "reason_ok")) ||
        (in->what == DECIDE_APPROVE && !db_bool(r, 0, "district_ok"))) {
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
    struct db_params pc = {0};
    db_param_ll(&pc, in->id);
    db_param_text(&pc, in->what == DECIDE_REFUSE ? "refused" : "withdrawn");
    db_param_text(&pc, in->what == DECIDE_REFUSE ? in->reason : NULL);
    db_param_text(&pc, in->what == DECIDE_REFUSE ? in->comment : NULL);
    db_param_text(&pc, who);
    db_commit_with_next(conn);
    st = db_query_json(conn, &q_close, pc.n, pc.values, &res->json);
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
    struct db_params p = {0};
    db_param_ll(&p, id);
    PGresult *r = NULL;
    enum db_status st = db_run(pool, &q_get, p.n, p.values, &r);
    if (st != DB_OK)
        return st;
    if (PQntuples(r) > 0) {
        *json = db_json_copy(r, 0, "json");
        *polyclinic_id = db_ll(r, 0, "polyclinic_id");
        if (!*json)
            st = DB_ERROR;
    }
    PQclear(r);
    return st;
}

enum db_status application_list(struct db_pool *pool, const struct application_query *q,
                                char **json)
{
    struct db_params p = {0};
    db_param_id_or_null(&p, q->polyclinic_id); /* $1 */
    db_param_text(&p, q->status);              /* $2 */
    db_param_bool(&p, q->overdue);             /* $3 */
    db_param_ll(&p, q->after_id);              /* $4 */
    db_param_ll(&p, q->limit);                 /* $5 */
    db_param_text(&p, q->iin);                 /* $6 */
    db_param_text(&p, q->channel);             /* $7 */
    db_param_text(&p, q->grounds);             /* $8 */
    db_param_text(&p, q->submitted_from);      /* $9 */
    db_param_text(&p, q->submitted_to);        /* $10 */
    return db_run_json(pool, &q_list, p.n, p.values, json);
}
