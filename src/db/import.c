/* `attachd import attachments FILE.csv` (SPEC §5, §10): loads the register of existing
 * attachments, all of the file or nothing, in one transaction.
 *
 * C reads the file line by line, splits each line (csv.h), checks its shape (the number of
 * fields, the quoting, printable ASCII) and the IIN, with the one definition of kzid.c that the
 * API uses, then each row's values against the catalogue read at the start (polyclinic, district
 * by number, dates: check_values), and streams the rows, typed, with their line number and
 * district id, through COPY into a temporary table. The rows together are checked by PostgreSQL,
 * set-wise: overlapping periods of one person in the file and against the database, district
 * capacity. Any problem rejects the file: the transaction rolls back and the first IMPORT_SHOWN
 * problems of the first stage that has any (shape, values, set) are printed,
 * each naming its line (the header is line 1) and field. Otherwise the rows are inserted with
 * the per-row triggers keeping districts.nopen (and its capacity backstop) and checking overlaps
 * disabled for the insert (migrations/0026, in the transaction); nopen and the leavers are
 * brought up to date for the districts touched and the capacity checked again, before COMMIT.
 * When the register holds at most twice the file's rows, the indexes (the primary key included)
 * and the foreign keys of attachments and to it are dropped before the insert and built
 * (checked) again after it, in the same transaction (migrations/0016). Each step's duration is
 * logged, and each index and key of the rebuild.
 *
 * Concurrency: before the set-wise checks, attachments is locked against every other writer until
 * COMMIT (SHARE ROW EXCLUSIVE; ACCESS EXCLUSIVE, which blocks readers too, when the indexes are
 * rebuilt), so no attachment the overlap check has not seen can be written: that is what lets the
 * bulk insert go without the per-row overlap trigger. The districts named in the file are locked
 * FOR UPDATE, in id order, before their load is read: the row lock the service takes to approve
 * into a district, so the capacity check stays true until COMMIT. */
#include "attachd/import.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "attachd/csv.h"
#include "attachd/db_params.h"
#include "attachd/fnv.h"
#include "attachd/kzid.h"
#include "attachd/log.h"

#define IMPORT_NCOLUMNS 5
#define IMPORT_SHOWN    20        /* problems printed; the rest are counted */
#define IMPORT_LINE_MAX 4096      /* bytes; a real line is under 60 */
#define IMPORT_COPY_BUF (1 << 20) /* bytes per PQputCopyData: fewer calls, same speed above */

static const char *const columns[IMPORT_NCOLUMNS] = {"iin", "polyclinic_id", "district_number",
                                                     "valid_from", "valid_to"};
#define IMPORT_HEADER "iin,polyclinic_id,district_number,valid_from,valid_to"

enum import_status {
    IMPORT_OK = 0,
    IMPORT_REJECTED,      /* the file has problems; nothing written */
    IMPORT_FAILED,        /* reading the file or the database failed; nothing written */
    IMPORT_DB_UNAVAILABLE /* cannot connect */
};

struct import_problem {
    long long line;
    char field[24]; /* "" when the problem is the whole line */
    char message[320];
};

struct known_district {
    long long polyclinic_id, id;
    char number[17];        /* districts.number is at most 16 characters */
    long long nrows, nopen; /* the file's rows in it, and its open-ended ones (first pass) */
};

struct import_run {
    PGconn *pg;
    struct import_problem shown[IMPORT_SHOWN];
    unsigned nshown;
    long long nproblems;
    /* Problems of the values (check_values), reported only when no line has a problem of shape:
     * the stages of README "Importing existing attachments". */
    struct import_problem row_shown[IMPORT_SHOWN];
    unsigned nrow_shown;
    long long nrow_problems;
    long long *polyclinics; /* sorted */
    size_t npolyclinics;
    struct known_district *districts; /* sorted by polyclinic, then number as strcmp */
    size_t ndistricts_known;
    long long nrows;
    uint64_t hash; /* of the rows copied into the staging table (copy_row) */
    long long ndistricts;
    /* The districts the file names, as array literals for the SQL below ("{id,...}") with, in
     * the same order, the file's open-ended rows in each: built after the first pass. */
    char *district_ids, *district_nopen;
    bool rebuild;     /* indexes and foreign keys dropped, built again after the load */
    char error[1024]; /* what failed, for IMPORT_FAILED and IMPORT_DB_UNAVAILABLE */
};

/* ---- SQL -------------------------------------------------------------------------------------
 * All static text: the file's values only ever travel as COPY data. */

/* The staging table is dropped at COMMIT, so an import leaves nothing behind; it holds the rows
 * already checked one by one, typed and with their district resolved (iin_n: the IIN as a number,
 * which sorts as the text does). work_mem and temp_buffers: the sorts, hashes and staging table
 * of a large file stay in memory. */
static const char sql_setup[] =
    "CREATE TEMP TABLE import_checked (line bigint NOT NULL, iin text NOT NULL,"
    " iin_n bigint NOT NULL, polyclinic_id bigint NOT NULL, district_id bigint NOT NULL,"
    " valid_from date NOT NULL, valid_to date) ON COMMIT DROP";

static const char sql_copy[] = "COPY import_checked FROM STDIN";

/* The second pass of a rebuild (insert_rows): the file read again, its rows straight into the
 * register. COPY writes rows in batches (one WAL record per page, not per row): about three
 * times cheaper than INSERT ... SELECT from the staging table. */
static const char sql_copy_register[] =
    "COPY attachments (id, iin, polyclinic_id, district_id, valid_from, valid_to) FROM STDIN";

/* The ids of the second pass, reserved in one step: nextval per row costs about 1.3 µs of the
 * 5 µs a row takes. COPY writes the given values into an identity column. Nobody else draws from
 * the sequence meanwhile: it only numbers attachments, which the import has locked. $1 is the
 * number of rows; the answer is the first id. */
static const char sql_reserve_ids[] =
    "SELECT setval(s, nextval(s) + $1::bigint - 1) - $1::bigint + 1 AS first_id"
    " FROM pg_get_serial_sequence('attachments', 'id') AS s";

/* The catalogue the rows are checked against, in C (check_values): every polyclinic, and every
 * district by (polyclinic, number) in byte order, as strcmp compares (a few tens of thousands
 * of rows for a country). Reading it in the transaction, before the rows, means a district
 * created meanwhile is unknown to this import; the foreign keys check the rows again anyway. */
static const char sql_polyclinics[] = "SELECT id FROM polyclinics ORDER BY id";
static const char sql_districts[] =
    "SELECT polyclinic_id, number, id FROM districts ORDER BY polyclinic_id, number COLLATE \"C\"";

/* The temporary table has no statistics until analysed, and the set-wise checks join it. */
static const char sql_analyze[] = "ANALYZE import_checked";

/* The first problems in line order, with their total. Each `problem` is "field: message". */
#define SQL_SHOW_PROBLEMS(from)                                                                    \
    "SELECT line, split_part(problem, ': ', 1) AS field,"                                          \
    " substr(problem, strpos(problem, ': ') + 2) AS message, count(*) OVER () AS total"            \
    " FROM " from " ORDER BY line LIMIT 20"

/* The districts of the file, locked before their load is read (see the top of the file). C
 * knows them from the first pass ($1, run->district_ids): a semi-join of the staging table would
 * read every row of it again (9 s of a 20 M-row import). */
static const char sql_lock_districts[] =
    "SELECT id FROM districts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE";

/* The rows together; each CTE yields (line, problem).
 *  in_file: periods of one IIN in the file that overlap. Sorted by valid_from, the first period
 *    that overlaps any earlier one overlaps the one just before it, so comparing neighbours finds
 *    every file that has an overlap (though not every overlapping pair).
 *  in_db: periods overlapping a live (not cancelled) attachment already stored.
 *  over: districts the file would take above capacity, counting what district_load() counts
 *    (SPEC §3): open-ended rows and rows with valid_to after today; the line named is the first,
 *    in file order, that no longer fits. */
static const char sql_set_problems[] =
    "WITH in_file AS ("
    " SELECT line, 'valid_from: the period overlaps the one on line ' || prev_line"
    "  || ' for the same iin' AS problem"
    " FROM (SELECT line, valid_from, lag(line) OVER w AS prev_line, lag(valid_to) OVER w AS prev_to"
    "  FROM import_checked WINDOW w AS (PARTITION BY iin_n ORDER BY valid_from, line)) x"
    " WHERE prev_line IS NOT NULL AND (prev_to IS NULL OR prev_to > valid_from)),"
    " in_db AS ("
    " SELECT DISTINCT ON (c.line) c.line,"
    "  'valid_from: the period overlaps an attachment already in the database (polyclinic '"
    "  || a.polyclinic_id || ', from ' || a.valid_from"
    "  || coalesce(' to ' || a.valid_to, ', open-ended') || ')' AS problem"
    " FROM import_checked c JOIN attachments a ON a.iin = c.iin AND NOT a.cancelled"
    "  AND daterange(a.valid_from, a.valid_to) && daterange(c.valid_from, c.valid_to)"
    " ORDER BY c.line, a.valid_from),"
    " added AS (SELECT district_id, count(*) AS n FROM import_checked"
    "  WHERE valid_to IS NULL OR valid_to > current_date GROUP BY district_id),"
    " over AS (SELECT d.id, d.number, d.polyclinic_id, d.capacity, l.load, a.n"
    "  FROM added a JOIN districts d ON d.id = a.district_id"
    "  CROSS JOIN LATERAL (SELECT district_load(d) AS load OFFSET 0) l"
    "  WHERE l.load + a.n > d.capacity),"
    " over_lines AS ("
    " SELECT x.line, 'district_number: district ' || o.number || ' of polyclinic '"
    "  || o.polyclinic_id || ' would hold ' || (o.load + o.n) || ', above its capacity '"
    "  || o.capacity || ' (' || o.load || ' now, ' || o.n || ' from this file;"
    " this is the first row that does not fit)' AS problem"
    " FROM (SELECT c.line, c.district_id,"
    "  row_number() OVER (PARTITION BY c.district_id ORDER BY c.line) AS nth"
    "  FROM import_checked c WHERE c.district_id IN (SELECT id FROM over)"
    "  AND (c.valid_to IS NULL OR c.valid_to > current_date)) x"
    " JOIN over o ON o.id = x.district_id"
    " WHERE x.nth = greatest(o.capacity - o.load, 0) + 1)" SQL_SHOW_PROBLEMS(
        "(SELECT * FROM in_file UNION ALL SELECT * FROM in_db UNION ALL SELECT * FROM over_lines)"
        " p");

/* Build the indexes after the load, or maintain them row by row? Building costs about the
 * same per row for every row of the table, old and new; maintaining costs several times more per
 * new row and grows with the table (random pages of the indexes not led by iin). Rebuilding wins
 * while the table holds at most twice the file's rows: a first load, or a second of the same size
 * (README "Decisions"). Counting stops there, so a large register is not counted in full. */
/* The register's size is the planner's estimate (pg_class.reltuples, kept by ANALYZE, which
 * every import runs at its end, and by autovacuum), counted only when the table was never
 * analysed: counting a 20 M-row register took 30 s of a second import. The choice is about
 * speed only; both ways load and check the same rows. $1: the file's rows. */
static const char sql_choose_rebuild[] =
    "SELECT CASE WHEN c.reltuples >= 0 THEN c.reltuples <= 2 * $1::float8"
    " ELSE (SELECT count(*) FROM (SELECT 1 FROM attachments LIMIT 2 * $1::bigint + 1) x)"
    " <= 2 * $1::bigint END AS rebuild FROM pg_class c WHERE c.oid = 'attachments'::regclass";

/* Other writers of attachments are kept out from before the set-wise checks until COMMIT, so
 * the checks stay true and the per-row overlap trigger may be disabled (migrations/0010, 0026). A
 * rebuild takes ACCESS EXCLUSIVE, as DROP INDEX would: readers wait too. */
static const char sql_lock_rebuild[] = "LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE";
static const char sql_lock_maintain[] = "LOCK TABLE attachments IN SHARE ROW EXCLUSIVE MODE";

/* Secondary indexes and foreign keys dropped, to be built and checked again by sql_rebuild
 * (migrations/0010). Index builds sort in maintenance_work_mem, with two parallel workers. */
static const char sql_drop_indexes[] = "SET LOCAL maintenance_work_mem = '1GB';"
                                       "SET LOCAL max_parallel_maintenance_workers = 2;"
                                       "SELECT attachments_bulk_drop()";
/* Each index and constraint rebuilt is reported in a NOTICE with its duration (migrations/0016),
 * which log_notice writes to the import's log. */
static const char sql_rebuild[] = "SET LOCAL client_min_messages = notice;"
                                  "SELECT attachments_bulk_rebuild();"
                                  "SET LOCAL client_min_messages = warning";

/* The per-row triggers whose work the import does set-wise (the nopen and leavers count, the
 * overlap check), disabled for the load alone (migrations/0026), under the table lock taken
 * before the checks. */
static const char sql_triggers_off[] = "SELECT attachments_bulk_triggers(false)";
static const char sql_triggers_on[] = "SELECT attachments_bulk_triggers(true)";

/* No transfers: the register is where people are, not moves. When the indexes are maintained,
 * rows go in sorted by IIN (iin_n sorts as iin does: 12 digits), so that consecutive inserts
 * touch the same pages of attachments_by_iin; when they are built afterwards the sort would be
 * wasted. */
#define SQL_INSERT(order)                                                                          \
    "INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to)"              \
    " SELECT iin, polyclinic_id, district_id, valid_from, valid_to FROM import_checked" order
static const char sql_insert_sorted[] = SQL_INSERT(" ORDER BY iin_n, valid_from");
static const char sql_insert[] = SQL_INSERT("");

/* The table's statistics still describe it as it was before the insert (empty, on a first
 * load), which sends the capacity check below to the wrong plan. ANALYZE in the transaction
 * counts our own new rows (a sample: a second or two on 20 M rows). */
static const char sql_analyze_attachments[] = "ANALYZE attachments";

/* What the disabled trigger would have kept: nopen plus the file's open-ended rows, for every
 * district the file touches. The table lock kept every other writer out since the checks, so
 * nopen was exact before the insert and the file's rows are the only change. Then the capacity
 * once more, as the trigger's backstop would have. The counts per district come from C's first
 * pass ($1 the districts, $2 their open-ended rows: run->district_ids and district_nopen), the
 * rows of the staging table, which the second pass's hash proved to be the rows loaded: no scan
 * of the staging table. */
static const char sql_recount[] = "UPDATE districts d SET nopen = d.nopen + f.n"
                                  " FROM unnest($1::bigint[], $2::bigint[]) AS f(id, n)"
                                  " WHERE d.id = f.id";

/* The leavers of those districts counted from scratch (migrations/0023): the file's rows with an
 * end date after today are leavers the disabled trigger did not count. Before the capacity. */
static const char sql_leaving_recount[] = "SELECT districts_leaving_recount($1::bigint[])";

static const char sql_over_capacity[] =
    "SELECT d.id, d.capacity, district_load(d) AS load FROM districts d"
    " WHERE d.id = ANY($1::bigint[]) AND district_load(d) > d.capacity LIMIT 1";

/* ---- helpers -------------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void problem_add(struct import_run *run, long long line, const char *field, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

/* Records a problem of the file; only the first IMPORT_SHOWN are kept for printing. */
static void problem_add(struct import_run *run, long long line, const char *field, const char *fmt,
                        ...)
{
    run->nproblems++;
    if (run->nshown == IMPORT_SHOWN)
        return;
    struct import_problem *p = &run->shown[run->nshown++];
    p->line = line;
    snprintf(p->field, sizeof p->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
}

static void row_problem_add(struct import_run *run, long long line, const char *field,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Records a problem of a row's values (a later stage than the shape of the lines). */
static void row_problem_add(struct import_run *run, long long line, const char *field,
                            const char *fmt, ...)
{
    run->nrow_problems++;
    if (run->nrow_shown == IMPORT_SHOWN)
        return;
    struct import_problem *p = &run->row_shown[run->nrow_shown++];
    p->line = line;
    snprintf(p->field, sizeof p->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->message, sizeof p->message, fmt, ap);
    va_end(ap);
}

/* Checks the result r of a statement; on success *out (when given) is the result to PQclear.
 * On failure records what failed, with the server's message, in run->error. */
static bool result_ok(struct import_run *run, PGresult *r, const char *what, PGresult **out)
{
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(run->pg);
        if (state && strcmp(state, "23P01") == 0)
            snprintf(run->error, sizeof run->error,
                     "%s: an attachment written while the import ran overlaps a row of the "
                     "file; run the import again to see which (%s)",
                     what, msg);
        else if (state && strcmp(state, "40P01") == 0)
            snprintf(run->error, sizeof run->error,
                     "%s: deadlock with the running service; run the import again", what);
        else
            snprintf(run->error, sizeof run->error, "%s: %s", what, msg);
    }
    if (ok && out)
        *out = r;
    else
        PQclear(r);
    return ok;
}

/* Runs sql (static text, maybe several statements): see result_ok. */
static bool exec_ok(struct import_run *run, const char *sql, const char *what, PGresult **out)
{
    return result_ok(run, PQexec(run->pg, sql), what, out);
}

/* Runs one statement with n text parameters: see result_ok. */
static bool exec_params_ok(struct import_run *run, const char *sql, int n,
                           const char *const *params, const char *what, PGresult **out)
{
    return result_ok(run, PQexecParams(run->pg, sql, n, NULL, params, NULL, NULL, 0), what, out);
}

/* Reads a result of SQL_SHOW_PROBLEMS into run's problems. */
static void problems_from_result(struct import_run *run, PGresult *r)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        problem_add(run, db_ll(r, i, "line"), db_text_or_empty(r, i, "field"), "%s",
                    db_text_or_empty(r, i, "message"));
    if (n > 0) /* the rows shown were counted once each above; the total says how many exist */
        run->nproblems += db_ll(r, 0, "total") - n;
}

/* ---- reading the file into COPY ---------------------------------------------------------- */

struct copy_buf {
    PGconn *pg;
    bool to_register;  /* rows for attachments (the second pass), else for import_checked */
    uint64_t hash;     /* of every row sent, with its line number: both passes must agree */
    long long n;       /* rows sent */
    long long next_id; /* the id of the next row, in the second pass */
    size_t len;
    char data[IMPORT_COPY_BUF];
};

static bool copy_flush(struct copy_buf *b)
{
    if (b->len > 0 && PQputCopyData(b->pg, b->data, (int)b->len) != 1)
        return false;
    b->len = 0;
    return true;
}

/* Appends one checked row in COPY's text format (the columns of import_checked). Every value
 * is digits or a date, checked before, so nothing needs escaping. */
static bool copy_row(struct copy_buf *b, long long line, const char *iin, long long polyclinic_id,
                     long long district_id, const char *valid_from, const char *valid_to)
{
    if (b->len + 160 > sizeof b->data && !copy_flush(b))
        return false;
    char *row = b->data + b->len;
    int n = b->to_register
                ? snprintf(row, 160, "%lld\t%s\t%lld\t%lld\t%s\t%s\n", b->next_id++, iin,
                           polyclinic_id, district_id, valid_from, valid_to[0] ? valid_to : "\\N")
                : snprintf(row, 160, "%lld\t%s\t%s\t%lld\t%lld\t%s\t%s\n", line, iin, iin,
                           polyclinic_id, district_id, valid_from, valid_to[0] ? valid_to : "\\N");
    /* FNV-1a over the line number and the values as the second pass formats them */
    char key[160];
    int k = snprintf(key, sizeof key, "%lld\t%s\t%lld\t%lld\t%s\t%s", line, iin, polyclinic_id,
                     district_id, valid_from, valid_to);
    b->hash = fnv1a(b->hash, key, k < (int)sizeof key ? (size_t)k : sizeof key);
    b->len += (size_t)n;
    b->n++;
    return true;
}

/* ---- checking the values against the catalogue --------------------------------------------- */

/* Reads every polyclinic and district into run (sql_polyclinics, sql_districts). */
static bool load_catalogue(struct import_run *run)
{
    PGresult *r = NULL;
    if (!exec_ok(run, sql_polyclinics, "reading the polyclinics", &r))
        return false;
    int n = PQntuples(r);
    run->polyclinics = malloc(((size_t)n + 1) * sizeof *run->polyclinics);
    if (!run->polyclinics)
        goto oom;
    for (int i = 0; i < n; i++)
        run->polyclinics[i] = db_ll(r, i, "id");
    run->npolyclinics = (size_t)n;
    PQclear(r);
    r = NULL;
    if (!exec_ok(run, sql_districts, "reading the districts", &r))
        return false;
    n = PQntuples(r);
    run->districts = calloc((size_t)n + 1, sizeof *run->districts); /* counts start at 0 */
    if (!run->districts)
        goto oom;
    for (int i = 0; i < n; i++) {
        struct known_district *d = &run->districts[i];
        d->polyclinic_id = db_ll(r, i, "polyclinic_id");
        snprintf(d->number, sizeof d->number, "%s", db_text_or_empty(r, i, "number"));
        d->id = db_ll(r, i, "id");
    }
    run->ndistricts_known = (size_t)n;
    PQclear(r);
    return true;
oom:
    PQclear(r);
    snprintf(run->error, sizeof run->error, "out of memory reading the catalogue");
    return false;
}

static bool polyclinic_known(const struct import_run *run, long long id)
{
    size_t lo = 0, hi = run->npolyclinics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (run->polyclinics[mid] == id)
            return true;
        if (run->polyclinics[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* polyclinic_id's district `number`, or NULL. */
static struct known_district *district_known(struct import_run *run, long long polyclinic_id,
                                             const char *number)
{
    size_t lo = 0, hi = run->ndistricts_known;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct known_district *d = &run->districts[mid];
        int c = d->polyclinic_id < polyclinic_id   ? -1
                : d->polyclinic_id > polyclinic_id ? 1
                                                   : strcmp(d->number, number);
        if (c == 0)
            return d;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A date YYYY-MM-DD between 1900-01-01 and 2099-12-31 that exists: date_parse's rule
 * (src/domain/dates.c) within the import's range, without its sscanf, as it runs twice a row. */
static bool valid_date(const char *t)
{
    if (strlen(t) != 10 || t[4] != '-' || t[7] != '-' || !digits(t, 4) || !digits(t + 5, 2) ||
        !digits(t + 8, 2))
        return false;
    int y = atoi(t), m = (t[5] - '0') * 10 + (t[6] - '0'), d = (t[8] - '0') * 10 + (t[9] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Each row on its own, against the catalogue: the first thing wrong with the row, in column
 * order (fields as split_line left them; the IIN is checked already). A closed district (`open`
 * false) is accepted: it is closed to new attachments, and the register holds the people it
 * already had. On success *polyclinic_id and *district_id are the row's. */
static bool check_values(struct import_run *run, long long line, char *const *f,
                         long long *polyclinic_id, struct known_district **district)
{
    size_t plen = strlen(f[1]);
    if (plen < 1 || plen > 18 || !digits(f[1], plen)) {
        row_problem_add(run, line, columns[1], "must be a whole number");
        return false;
    }
    *polyclinic_id = strtoll(f[1], NULL, 10);
    if (!polyclinic_known(run, *polyclinic_id)) {
        row_problem_add(run, line, columns[1], "no polyclinic %lld", *polyclinic_id);
        return false;
    }
    *district = strlen(f[2]) < sizeof run->districts[0].number
                    ? district_known(run, *polyclinic_id, f[2])
                    : NULL;
    if (!*district) {
        row_problem_add(run, line, columns[2], "polyclinic %lld has no district \"%.40s\"",
                        *polyclinic_id, f[2]);
        return false;
    }
    if (!valid_date(f[3])) {
        row_problem_add(run, line, columns[3],
                        "must be a date YYYY-MM-DD between 1900-01-01 and 2099-12-31");
        return false;
    }
    if (f[4][0] && !valid_date(f[4])) {
        row_problem_add(run, line, columns[4],
                        "must be empty (open-ended) or a date YYYY-MM-DD between 1900-01-01 and "
                        "2099-12-31");
        return false;
    }
    if (f[4][0] && strcmp(f[4], f[3]) <= 0) { /* YYYY-MM-DD sorts as the dates do */
        row_problem_add(run, line, columns[4], "must be later than valid_from");
        return false;
    }
    return true;
}

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            return false;
    return true;
}

/* Checks the shape of one data line (already without its terminator) and, when it is right,
 * points fields[] at its values. False when the line has a problem (recorded). */
static bool split_line(struct import_run *run, long long lineno, char *line, size_t len,
                       char **fields)
{
    if (len > IMPORT_LINE_MAX) {
        problem_add(run, lineno, NULL, "is longer than %d bytes", IMPORT_LINE_MAX);
        return false;
    }
    size_t n = 0;
    enum csv_status st = csv_split(line, fields, IMPORT_NCOLUMNS, &n);
    if (st != CSV_OK) {
        problem_add(run, lineno, n <= IMPORT_NCOLUMNS ? columns[n - 1] : NULL, "%s",
                    st == CSV_UNTERMINATED_QUOTE ? "opening quote never closed"
                                                 : "text after the closing quote");
        return false;
    }
    if (n != IMPORT_NCOLUMNS) {
        problem_add(run, lineno, NULL, "has %zu field%s, expected %d (" IMPORT_HEADER ")", n,
                    n == 1 ? "" : "s", IMPORT_NCOLUMNS);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < IMPORT_NCOLUMNS; i++) {
        if (!printable_ascii(fields[i])) {
            problem_add(run, lineno, columns[i], "contains a character other than printable ASCII");
            ok = false;
        }
    }
    /* The one definition of the IIN (kzid.c), as the API's checks use it. */
    if (ok && !iin_shaped(fields[0])) {
        problem_add(run, lineno, columns[0], "must be 12 digits");
        ok = false;
    } else if (ok && !kz_checksum_ok(fields[0])) {
        problem_add(run, lineno, columns[0], "checksum is wrong");
        ok = false;
    } else if (ok && !iin_valid(fields[0])) {
        problem_add(run, lineno, columns[0],
                    "5th digit is above 3, which makes it a BIN (an organisation), not an IIN");
        ok = false;
    }
    return ok;
}

/* The first line must be the header, exactly (a UTF-8 byte order mark before it is skipped). */
static void check_header(struct import_run *run, char *line)
{
    if (strncmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3;
    if (strcmp(line, IMPORT_HEADER) != 0)
        problem_add(run, 1, NULL, "must be the header " IMPORT_HEADER);
}

/* Streams the file into import_checked (the first pass) or, to_register, into attachments with
 * ids from first_id (the second pass of a rebuild, which must read the very rows of the first:
 * same count, same hash). Lines are numbered from 1 (the header); empty lines are skipped. Once
 * a problem is found nothing more is sent, but the file is read to its end so that the count of
 * problems is complete. */
static enum import_status copy_file(struct import_run *run, FILE *in, bool to_register,
                                    long long first_id)
{
    struct copy_buf *b = malloc(sizeof *b);
    char *line = NULL;
    size_t cap = 0;
    long long lineno = 0;
    enum import_status result = IMPORT_FAILED;
    if (!b) {
        snprintf(run->error, sizeof run->error, "out of memory");
        return IMPORT_FAILED;
    }
    b->pg = run->pg;
    b->to_register = to_register;
    b->hash = FNV1A_START;
    b->n = 0;
    b->next_id = first_id;
    b->len = 0;
    PGresult *start = PQexec(run->pg, to_register ? sql_copy_register : sql_copy);
    if (!start || PQresultStatus(start) != PGRES_COPY_IN) {
        snprintf(run->error, sizeof run->error, "COPY: %s",
                 start ? PQresultErrorMessage(start) : PQerrorMessage(run->pg));
        PQclear(start);
        free(b);
        return IMPORT_FAILED;
    }
    PQclear(start);
    ssize_t len;
    errno = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (lineno == 1) {
            check_header(run, line);
            continue;
        }
        if (len == 0)
            continue;
        char *fields[IMPORT_NCOLUMNS];
        long long polyclinic_id;
        struct known_district *district;
        if (!split_line(run, lineno, line, (size_t)len, fields) || run->nproblems > 0 ||
            !check_values(run, lineno, fields, &polyclinic_id, &district) || run->nrow_problems > 0)
            continue;
        if (!copy_row(b, lineno, fields[0], polyclinic_id, district->id, fields[3], fields[4])) {
            snprintf(run->error, sizeof run->error, "COPY: %s", PQerrorMessage(run->pg));
            goto out;
        }
        if (!to_register) {
            run->nrows++;
            district->nrows++;
            district->nopen += fields[4][0] == '\0';
        }
    }
    if (ferror(in)) {
        snprintf(run->error, sizeof run->error, "reading the file: %s", strerror(errno));
        goto out;
    }
    if (lineno == 0)
        problem_add(run, 1, NULL, "must be the header " IMPORT_HEADER " (the file is empty)");
    if (run->nproblems == 0 &&
        run->nrow_problems > 0) { /* the values' stage, as no line's shape is wrong */
        memcpy(run->shown, run->row_shown, sizeof run->shown);
        run->nshown = run->nrow_shown;
        run->nproblems = run->nrow_problems;
    }
    result = run->nproblems > 0 ? IMPORT_REJECTED : IMPORT_OK;
    if (to_register && (result != IMPORT_OK || b->n != run->nrows || b->hash != run->hash)) {
        snprintf(run->error, sizeof run->error,
                 "the file changed while it was imported (read twice: checked, then loaded)");
        result = IMPORT_FAILED;
    }
    if (!to_register)
        run->hash = b->hash;
    if (result == IMPORT_OK && !copy_flush(b)) {
        snprintf(run->error, sizeof run->error, "COPY: %s", PQerrorMessage(run->pg));
        result = IMPORT_FAILED;
    }
out:
    free(line);
    free(b);
    /* Ending the COPY with an error message makes the server abort it. */
    if (PQputCopyEnd(run->pg, result == IMPORT_OK ? NULL : "file rejected") != 1 &&
        result == IMPORT_OK) {
        snprintf(run->error, sizeof run->error, "COPY: %s", PQerrorMessage(run->pg));
        result = IMPORT_FAILED;
    }
    PGresult *r;
    while ((r = PQgetResult(run->pg)) != NULL) {
        ExecStatusType rs = PQresultStatus(r);
        if (result == IMPORT_OK && rs != PGRES_COMMAND_OK) {
            snprintf(run->error, sizeof run->error, "COPY: %s", PQresultErrorMessage(r));
            result = IMPORT_FAILED;
        }
        PQclear(r);
        if (rs == PGRES_COPY_IN) /* the end was not accepted: the connection is gone */
            break;
    }
    return result;
}

/* run->district_ids and district_nopen from the counts of the first pass. */
static bool district_arrays(struct import_run *run)
{
    size_t cap = 3 + run->ndistricts_known * 21; /* "{", up to 20 characters and "," each, "}" */
    char *ids = malloc(cap), *nopen = malloc(cap);
    if (!ids || !nopen) {
        free(ids);
        free(nopen);
        snprintf(run->error, sizeof run->error, "out of memory");
        return false;
    }
    size_t li = 0, ln = 0;
    ids[li++] = '{';
    nopen[ln++] = '{';
    for (size_t i = 0; i < run->ndistricts_known; i++) {
        const struct known_district *d = &run->districts[i];
        if (d->nrows == 0)
            continue;
        li += (size_t)snprintf(ids + li, cap - li, "%s%lld", li > 1 ? "," : "", d->id);
        ln += (size_t)snprintf(nopen + ln, cap - ln, "%s%lld", ln > 1 ? "," : "", d->nopen);
    }
    snprintf(ids + li, cap - li, "}");
    snprintf(nopen + ln, cap - ln, "}");
    run->district_ids = ids;
    run->district_nopen = nopen;
    return true;
}

/* ---- the transaction --------------------------------------------------------------------- */

/* Logs how long the step that began at *since took, and starts the next one. */
static void step_done(const char *what, double *since)
{
    double now = now_seconds();
    log_info("import: %s in %.1f s", what, now - *since);
    *since = now;
}

/* Statistics for the set-wise checks, which join the staging table. */
static enum import_status analyze_rows(struct import_run *run)
{
    double t = now_seconds();
    if (!exec_ok(run, sql_analyze, "ANALYZE", NULL))
        return IMPORT_FAILED;
    step_done("staging table analysed", &t);
    return IMPORT_OK;
}

/* Chooses between building the indexes after the load and maintaining them, then locks the
 * table against other writers and the file's districts (see the top of the file). */
static enum import_status lock_for_load(struct import_run *run)
{
    PGresult *r = NULL;
    double t = now_seconds();
    /* ATTACHD_IMPORT_INDEXES (README): rebuild or maintain, whatever the sizes; else chosen. */
    const char *choice = getenv("ATTACHD_IMPORT_INDEXES");
    if (choice && strcmp(choice, "rebuild") == 0) {
        run->rebuild = true;
    } else if (choice && strcmp(choice, "maintain") == 0) {
        run->rebuild = false;
    } else {
        char n[24];
        snprintf(n, sizeof n, "%lld", run->nrows);
        const char *params[1] = {n};
        if (!exec_params_ok(run, sql_choose_rebuild, 1, params, "counting the register", &r))
            return IMPORT_FAILED;
        run->rebuild = db_bool(r, 0, "rebuild");
        PQclear(r);
    }
    if (!exec_ok(run, run->rebuild ? sql_lock_rebuild : sql_lock_maintain, "locking attachments",
                 NULL) ||
        !exec_params_ok(run, sql_lock_districts, 1, (const char *const[]){run->district_ids},
                        "locking the districts", NULL))
        return IMPORT_FAILED;
    step_done(run->rebuild ? "attachments locked (ACCESS EXCLUSIVE: indexes rebuilt after the load)"
                           : "attachments locked (SHARE ROW EXCLUSIVE: indexes maintained)",
              &t);
    return IMPORT_OK;
}

/* The rows together, under the locks of lock_for_load. */
static enum import_status check_set(struct import_run *run)
{
    PGresult *r = NULL;
    double t = now_seconds();
    if (!exec_ok(run, sql_set_problems, "checking overlaps and capacity", &r))
        return IMPORT_FAILED;
    problems_from_result(run, r);
    PQclear(r);
    step_done("overlaps and capacity checked", &t);
    return run->nproblems > 0 ? IMPORT_REJECTED : IMPORT_OK;
}

/* Rows into the register: when the indexes are rebuilt and the file can be read again, a second
 * pass over it COPYs the rows straight into attachments (sql_copy_register); otherwise INSERT
 * ... SELECT from the staging table. */
static enum import_status insert_rows(struct import_run *run, FILE *in, bool seekable)
{
    PGresult *r = NULL;
    double t = now_seconds();
    if (!exec_ok(run, sql_triggers_off, "disabling the per-row triggers", NULL))
        return IMPORT_FAILED;
    if (run->rebuild) {
        if (!exec_ok(run, sql_drop_indexes, "dropping the indexes and foreign keys", NULL))
            return IMPORT_FAILED;
        step_done("secondary indexes and foreign keys dropped", &t);
    }
    if (run->rebuild && seekable) {
        if (fseek(in, 0, SEEK_SET) != 0) {
            snprintf(run->error, sizeof run->error, "reading the file again: %s", strerror(errno));
            return IMPORT_FAILED;
        }
        char n[24];
        snprintf(n, sizeof n, "%lld", run->nrows);
        const char *params[1] = {n};
        r = PQexecParams(run->pg, sql_reserve_ids, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
            snprintf(run->error, sizeof run->error, "reserving ids: %s", PQresultErrorMessage(r));
            PQclear(r);
            return IMPORT_FAILED;
        }
        long long first_id = db_ll(r, 0, "first_id");
        PQclear(r);
        if (copy_file(run, in, true, first_id) != IMPORT_OK)
            return IMPORT_FAILED;
        step_done("file read again, rows copied into attachments", &t);
    } else {
        if (!exec_ok(run, run->rebuild ? sql_insert : sql_insert_sorted,
                     "inserting the attachments", &r))
            return IMPORT_FAILED;
        long long inserted = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
        if (inserted != run->nrows) {
            snprintf(run->error, sizeof run->error, "inserted %lld rows of %lld", inserted,
                     run->nrows);
            return IMPORT_FAILED;
        }
        step_done("rows inserted from the staging table", &t);
    }
    if (!exec_ok(run, sql_triggers_on, "enabling the per-row triggers", NULL))
        return IMPORT_FAILED;
    if (run->rebuild) {
        if (!exec_ok(run, sql_rebuild, "building the indexes and checking the foreign keys", NULL))
            return IMPORT_FAILED;
        step_done("indexes built, foreign keys added and checked", &t);
    }
    const char *counts[2] = {run->district_ids, run->district_nopen};
    if (!exec_ok(run, sql_analyze_attachments, "ANALYZE attachments", NULL) ||
        !exec_params_ok(run, sql_recount, 2, counts, "recounting districts.nopen", &r))
        return IMPORT_FAILED;
    run->ndistricts = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (!exec_params_ok(run, sql_leaving_recount, 1, counts, "recounting the districts' leavers",
                        &r))
        return IMPORT_FAILED;
    PQclear(r);
    if (!exec_params_ok(run, sql_over_capacity, 1, counts, "checking capacity after the insert",
                        &r))
        return IMPORT_FAILED;
    bool over = PQntuples(r) > 0;
    if (over)
        snprintf(run->error, sizeof run->error,
                 "district %s holds %s people after the import, above its capacity %s "
                 "(a bug: the checks before should have refused the file)",
                 db_text_or_empty(r, 0, "id"), db_text_or_empty(r, 0, "load"),
                 db_text_or_empty(r, 0, "capacity"));
    PQclear(r);
    step_done("analysed, districts.nopen and leavers recounted, capacity checked again", &t);
    return over ? IMPORT_FAILED : IMPORT_OK;
}

/* PostgreSQL's notices (the rebuild's durations) into the import's log, on one line. */
static void log_notice(void *arg, const PGresult *r)
{
    (void)arg;
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    log_info("import: %s", m ? m : "(notice)");
}

static PGconn *connect_db(const char *conninfo)
{
    /* Our defaults come first so the operator's connection string overrides them. The time zone
     * is the service's: "today" (capacity counts leavers until they leave) is Almaty's. */
    const char *keys[] = {"connect_timeout", "application_name", "client_encoding",
                          "options",         "dbname",           NULL};
    const char *vals[] = {"5",
                          "attachd-import",
                          "UTF8",
                          "-c timezone=Asia/Almaty -c jit=off -c client_min_messages=warning"
                          " -c work_mem=256MB -c temp_buffers=256MB",
                          conninfo ? conninfo : "",
                          NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (pg)
        PQsetNoticeReceiver(pg, log_notice, NULL);
    return pg;
}

/* Runs the whole import on run->pg; the caller has opened the file. Nothing is written unless
 * the result is IMPORT_OK. */
static enum import_status import_run(struct import_run *run, FILE *in, bool seekable)
{
    double t = now_seconds();
    if (!exec_ok(run, "BEGIN", "BEGIN", NULL))
        return IMPORT_FAILED;
    enum import_status st = IMPORT_FAILED;
    if (!exec_ok(run, sql_setup, "preparing the staging table", NULL))
        goto out;
    if (!load_catalogue(run))
        goto out;
    st = copy_file(run, in, false, 0);
    if (st == IMPORT_OK && !district_arrays(run))
        st = IMPORT_FAILED;
    if (st != IMPORT_OK)
        goto out;
    log_info("import: %lld rows read, checked one by one and copied into the staging table in "
             "%.1f s",
             run->nrows, now_seconds() - t);
    st = analyze_rows(run);
    if (st == IMPORT_OK)
        st = lock_for_load(run);
    if (st == IMPORT_OK)
        st = check_set(run);
    if (st == IMPORT_OK)
        st = insert_rows(run, in, seekable);
    if (st != IMPORT_OK)
        goto out;
    t = now_seconds();
    if (!exec_ok(run, "COMMIT", "COMMIT", NULL))
        return IMPORT_FAILED;
    step_done("committed", &t);
    return st;
out:
    PQclear(PQexec(run->pg, "ROLLBACK"));
    return st;
}

int import_attachments_cmd(const char *conninfo, const char *path)
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "(standard input)" : path;
    FILE *in = from_stdin ? stdin : fopen(path, "r");
    if (!in) {
        fprintf(stderr, "attachd import attachments: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct import_run *run = calloc(1, sizeof *run);
    if (!run) {
        fprintf(stderr, "attachd import attachments: out of memory\n");
        if (!from_stdin)
            fclose(in);
        return 1;
    }
    double started = now_seconds();
    enum import_status st = IMPORT_DB_UNAVAILABLE;
    run->pg = connect_db(conninfo);
    if (!run->pg || PQstatus(run->pg) != CONNECTION_OK)
        snprintf(run->error, sizeof run->error, "cannot connect: %s",
                 run->pg ? PQerrorMessage(run->pg) : "out of memory");
    else
        st = import_run(run, in, !from_stdin && ftell(in) == 0);
    double seconds = now_seconds() - started;
    PQfinish(run->pg);
    if (!from_stdin)
        fclose(in);

    int rc = 0;
    switch (st) {
    case IMPORT_OK:
        printf("%s: %lld attachments loaded into %lld district%s in %.1f s (%.0f rows/s)\n", name,
               run->nrows, run->ndistricts, run->ndistricts == 1 ? "" : "s", seconds,
               seconds > 0 ? (double)run->nrows / seconds : 0.0);
        break;
    case IMPORT_REJECTED:
        for (unsigned i = 0; i < run->nshown; i++) {
            const struct import_problem *p = &run->shown[i];
            if (p->field[0])
                fprintf(stderr, "%s line %lld, field %s: %s\n", name, p->line, p->field,
                        p->message);
            else
                fprintf(stderr, "%s line %lld: %s\n", name, p->line, p->message);
        }
        if (run->nproblems > run->nshown)
            fprintf(stderr, "%s: %lld more problems not shown\n", name,
                    run->nproblems - run->nshown);
        fprintf(stderr, "%s: file rejected, nothing imported\n", name);
        rc = 1;
        break;
    case IMPORT_FAILED:
    case IMPORT_DB_UNAVAILABLE:
        /* libpq's messages end in a newline and may hold more lines: one line here. */
        for (char *c = run->error; *c; c++)
            if (*c == '\n' || *c == '\t')
                *c = ' ';
        for (size_t n = strlen(run->error); n > 0 && run->error[n - 1] == ' ';)
            run->error[--n] = '\0';
        fprintf(stderr, "attachd import attachments: %s: %s; nothing imported\n", name, run->error);
        rc = st == IMPORT_DB_UNAVAILABLE ? 3 : 1;
        break;
    }
    free(run->polyclinics);
    free(run->districts);
    free(run->district_ids);
    free(run->district_nopen);
    free(run);
    return rc;
}
