/* `attachd import attachments FILE.csv` (SPEC §5, §10): loads the register of existing
 * attachments, all of the file or nothing, in one transaction.
 *
 * C reads the file line by line, splits each line (csv.h) and streams the rows, each with its
 * line number, through COPY into a temporary table of text columns. C checks the shape of a
 * line (the number of fields, the quoting, printable ASCII) and the IIN, with the one definition
 * of kzid.c that the API uses. Everything else about the values is checked by PostgreSQL, set-wise:
 * first each row on its own (IIN, polyclinic, district, dates), then the rows together (overlapping
 * periods of one person in the file and against the database, district capacity). Any problem
 * rejects the file: the transaction rolls back and the first IMPORT_SHOWN problems are printed,
 * each naming its line (the header is line 1) and field. Otherwise the rows are inserted with
 * attachd.bulk_load = 'on', which skips the per-row triggers keeping districts.nopen (and its
 * capacity backstop) and checking overlaps (migrations/0010); nopen is brought up to date for the
 * districts touched and the capacity checked again, before COMMIT. When the register holds at
 * most twice the file's rows, the secondary indexes are dropped before the insert and built
 * again after it, in the same transaction. Each step's duration is logged.
 *
 * Concurrency: before the set-wise checks, attachments is locked against every other writer until
 * COMMIT (SHARE ROW EXCLUSIVE; ACCESS EXCLUSIVE, which blocks readers too, when the indexes are
 * rebuilt), so no attachment the overlap check has not seen can be written: that is what lets the
 * bulk insert skip the per-row overlap trigger. The districts named in the file are locked FOR
 * UPDATE, in id order, before their load is read: the row lock the service takes to approve into
 * a district, so the capacity check stays true until COMMIT. */
#include "attachd/import.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "attachd/csv.h"
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

struct import_run {
    PGconn *pg;
    struct import_problem shown[IMPORT_SHOWN];
    unsigned nshown;
    long long nproblems;
    long long nrows;
    long long ndistricts;
    bool rebuild;     /* indexes and foreign keys dropped, built again after the load */
    char error[1024]; /* what failed, for IMPORT_FAILED and IMPORT_DB_UNAVAILABLE */
};

/* ---- SQL -------------------------------------------------------------------------------------
 * All static text: the file's values only ever travel as COPY data. */

/* Helpers live in pg_temp and the tables are dropped at COMMIT, so an import leaves nothing
 * behind. work_mem and temp_buffers: the sorts, hashes and staging tables of a large file stay
 * in memory. */
static const char sql_setup[] =
    "CREATE TEMP TABLE import_rows (line bigint NOT NULL, iin text NOT NULL,"
    " polyclinic_id text NOT NULL, district_number text NOT NULL, valid_from text NOT NULL,"
    " valid_to text NOT NULL) ON COMMIT DROP;"
    /* A date YYYY-MM-DD in 1900..2099 that exists, else NULL (PostgreSQL 15 has no cast that
     * answers NULL instead of failing). The pattern lets through day 29..31 of any month; the
     * sum tells whether that day is still in the month. */
    "CREATE FUNCTION pg_temp.import_date(t text) RETURNS date LANGUAGE sql STABLE AS $$"
    " SELECT CASE"
    " WHEN t !~ '^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$' THEN NULL"
    " WHEN substr(t, 9, 2) <= '28' THEN t::date"
    " WHEN (substr(t, 1, 8) || '01')::date + (substr(t, 9, 2)::int - 1)"
    "      < (substr(t, 1, 8) || '01')::date + interval '1 month' THEN t::date"
    " END $$;";

static const char sql_copy[] = "COPY import_rows FROM STDIN";

/* Each row on its own. `problem` is "field: message" for the first thing wrong with the row, in
 * column order, or NULL. The subquery parses each value once: OFFSET 0 keeps the planner from
 * copying the parsing into every use. The IIN was checked in C (split_line). A closed district
 * (`open` false) is accepted: it is closed to new attachments, and the register holds the people it
 * already had. */
static const char sql_check_rows[] =
    "CREATE TEMP TABLE import_checked ON COMMIT DROP AS"
    " SELECT r.line, r.iin, r.iin_n, r.polyclinic_id, d.id AS district_id, r.valid_from,"
    " r.valid_to,"
    " CASE"
    " WHEN r.polyclinic_id IS NULL THEN 'polyclinic_id: must be a whole number'"
    " WHEN p.id IS NULL THEN 'polyclinic_id: no polyclinic ' || r.polyclinic_id"
    " WHEN d.id IS NULL THEN 'district_number: polyclinic ' || p.id || ' has no district \"'"
    "  || left(r.district_number, 40) || '\"'"
    " WHEN r.valid_from IS NULL THEN"
    "  'valid_from: must be a date YYYY-MM-DD between 1900-01-01 and 2099-12-31'"
    " WHEN r.valid_to IS NULL AND r.valid_to_text <> '' THEN"
    "  'valid_to: must be empty (open-ended) or a date YYYY-MM-DD between 1900-01-01 and"
    " 2099-12-31'"
    " WHEN r.valid_to <= r.valid_from THEN 'valid_to: must be later than valid_from'"
    " END AS problem"
    " FROM (SELECT line, iin, CASE WHEN iin ~ '^[0-9]{12}$' THEN iin::bigint END AS iin_n,"
    "  CASE WHEN polyclinic_id ~ '^[0-9]{1,18}$' THEN polyclinic_id::bigint END AS polyclinic_id,"
    "  district_number, pg_temp.import_date(valid_from) AS valid_from,"
    "  pg_temp.import_date(valid_to) AS valid_to, valid_to AS valid_to_text"
    "  FROM import_rows OFFSET 0) r"
    " LEFT JOIN polyclinics p ON p.id = r.polyclinic_id"
    " LEFT JOIN districts d ON d.polyclinic_id = p.id AND d.number = r.district_number";

/* The temporary tables have no statistics until analysed, and the set-wise checks join them. */
static const char sql_analyze[] = "ANALYZE import_checked";

/* The first problems in line order, with their total. Each `problem` is "field: message". */
#define SQL_SHOW_PROBLEMS(from)                                                                    \
    "SELECT line, split_part(problem, ': ', 1), substr(problem, strpos(problem, ': ') + 2),"       \
    " count(*) OVER () FROM " from " ORDER BY line LIMIT 20"

static const char sql_row_problems[] =
    SQL_SHOW_PROBLEMS("(SELECT line, problem FROM import_checked WHERE problem IS NOT NULL) p");

/* The districts of the file, locked before their load is read (see the top of the file). */
static const char sql_lock_districts[] =
    "SELECT id FROM districts WHERE id IN (SELECT district_id FROM import_checked)"
    " ORDER BY id FOR UPDATE";

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
static const char sql_choose_rebuild[] = "SELECT (SELECT count(*) FROM (SELECT 1 FROM attachments"
                                         " LIMIT (SELECT 2 * count(*) + 1 FROM import_checked)) x)"
                                         " <= 2 * (SELECT count(*) FROM import_checked)";

/* Other writers of attachments are kept out from before the set-wise checks until COMMIT, so
 * the checks stay true and the per-row overlap trigger may be skipped (migrations/0010). A
 * rebuild takes ACCESS EXCLUSIVE, as DROP INDEX would: readers wait too. */
static const char sql_lock_rebuild[] = "LOCK TABLE attachments IN ACCESS EXCLUSIVE MODE";
static const char sql_lock_maintain[] = "LOCK TABLE attachments IN SHARE ROW EXCLUSIVE MODE";

/* Secondary indexes and foreign keys dropped, to be built and checked again by sql_rebuild
 * (migrations/0010). Index builds sort in maintenance_work_mem, with two parallel workers. */
static const char sql_drop_indexes[] = "SET LOCAL maintenance_work_mem = '1GB';"
                                       "SET LOCAL max_parallel_maintenance_workers = 2;"
                                       "SELECT attachments_bulk_drop()";
static const char sql_rebuild[] = "SELECT attachments_bulk_rebuild()";

/* No transfers: the register is where people are, not moves. When the indexes are maintained,
 * rows go in sorted by IIN (iin_n sorts as iin does: 12 digits), so that consecutive inserts
 * touch the same pages of attachments_by_iin; when they are built afterwards the sort would be
 * wasted. */
#define SQL_INSERT(order)                                                                          \
    "SET LOCAL attachd.bulk_load = 'on';"                                                          \
    "INSERT INTO attachments (iin, polyclinic_id, district_id, valid_from, valid_to)"              \
    " SELECT iin, polyclinic_id, district_id, valid_from, valid_to FROM import_checked" order
static const char sql_insert_sorted[] = SQL_INSERT(" ORDER BY iin_n, valid_from");
static const char sql_insert[] = SQL_INSERT("");

/* The table's statistics still describe it as it was before the insert (empty, on a first
 * load), which sends the capacity check below to the wrong plan. ANALYZE in the transaction
 * counts our own new rows (a sample: a second or two on 20 M rows). */
static const char sql_analyze_attachments[] = "ANALYZE attachments";

/* What the skipped trigger would have kept: nopen plus the file's open-ended rows, for every
 * district the file touches. The table lock kept every other writer out since the checks, so
 * nopen was exact before the insert and the file's rows are the only change. Then the capacity
 * once more, as the trigger's backstop would have. */
static const char sql_recount[] =
    "SET LOCAL attachd.bulk_load = 'off';"
    "UPDATE districts d SET nopen = d.nopen + f.n"
    " FROM (SELECT district_id, count(*) FILTER (WHERE valid_to IS NULL) AS n"
    "  FROM import_checked GROUP BY district_id) f"
    " WHERE d.id = f.district_id";

static const char sql_over_capacity[] =
    "SELECT d.id, d.capacity, district_load(d) FROM districts d"
    " WHERE d.id IN (SELECT district_id FROM import_checked) AND district_load(d) > d.capacity"
    " LIMIT 1";

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

/* Runs sql; on success *out (when given) is the result to PQclear. On failure records what
 * failed, with the server's message, in run->error. */
static bool exec_ok(struct import_run *run, const char *sql, const char *what, PGresult **out)
{
    PGresult *r = PQexec(run->pg, sql);
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

/* Reads a result of SQL_SHOW_PROBLEMS into run's problems. */
static void problems_from_result(struct import_run *run, PGresult *r)
{
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        problem_add(run, strtoll(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1), "%s",
                    PQgetvalue(r, i, 2));
    if (n > 0) /* the rows shown were counted once each above; the total says how many exist */
        run->nproblems += strtoll(PQgetvalue(r, 0, 3), NULL, 10) - n;
}

/* ---- reading the file into COPY ---------------------------------------------------------- */

struct copy_buf {
    PGconn *pg;
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

/* Appends one row in COPY's text format: line number, then the fields tab-separated. The fields
 * are printable ASCII (checked by the caller), so only the backslash needs escaping. */
static bool copy_row(struct copy_buf *b, long long line, char *const *fields)
{
    size_t need = 24;
    for (int i = 0; i < IMPORT_NCOLUMNS; i++)
        need += 2 * strlen(fields[i]) + 1;
    if (b->len + need > sizeof b->data && !copy_flush(b))
        return false;
    b->len += (size_t)snprintf(b->data + b->len, 24, "%lld", line);
    for (int i = 0; i < IMPORT_NCOLUMNS; i++) {
        b->data[b->len++] = '\t';
        for (const char *s = fields[i]; *s; s++) {
            if (*s == '\\')
                b->data[b->len++] = '\\';
            b->data[b->len++] = *s;
        }
    }
    b->data[b->len++] = '\n';
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

/* Streams the file into import_rows. Lines are numbered from 1 (the header); empty lines are
 * skipped. Once a problem is found nothing more is sent, but the file is read to its end so that
 * the count of problems is complete. */
static enum import_status copy_file(struct import_run *run, FILE *in)
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
    b->len = 0;
    PGresult *start = PQexec(run->pg, sql_copy);
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
        if (!split_line(run, lineno, line, (size_t)len, fields) || run->nproblems > 0)
            continue;
        if (!copy_row(b, lineno, fields)) {
            snprintf(run->error, sizeof run->error, "COPY: %s", PQerrorMessage(run->pg));
            goto out;
        }
        run->nrows++;
    }
    if (ferror(in)) {
        snprintf(run->error, sizeof run->error, "reading the file: %s", strerror(errno));
        goto out;
    }
    if (lineno == 0)
        problem_add(run, 1, NULL, "must be the header " IMPORT_HEADER " (the file is empty)");
    result = run->nproblems > 0 ? IMPORT_REJECTED : IMPORT_OK;
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

/* ---- the transaction --------------------------------------------------------------------- */

/* Logs how long the step that began at *since took, and starts the next one. */
static void step_done(const char *what, double *since)
{
    double now = now_seconds();
    log_info("import: %s in %.1f s", what, now - *since);
    *since = now;
}

/* Each row on its own; the problems found go into run. */
static enum import_status check_rows(struct import_run *run)
{
    PGresult *r = NULL;
    double t = now_seconds();
    if (!exec_ok(run, sql_check_rows, "checking the rows", NULL))
        return IMPORT_FAILED;
    step_done("rows checked one by one", &t);
    if (!exec_ok(run, sql_analyze, "ANALYZE", NULL) ||
        !exec_ok(run, sql_row_problems, "listing the problems", &r))
        return IMPORT_FAILED;
    problems_from_result(run, r);
    PQclear(r);
    step_done("staging table analysed, problems listed", &t);
    return run->nproblems > 0 ? IMPORT_REJECTED : IMPORT_OK;
}

/* Chooses between building the indexes after the load and maintaining them, then locks the
 * table against other writers and the file's districts (see the top of the file). */
static enum import_status lock_for_load(struct import_run *run)
{
    PGresult *r = NULL;
    double t = now_seconds();
    if (!exec_ok(run, sql_choose_rebuild, "counting the register", &r))
        return IMPORT_FAILED;
    run->rebuild = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!exec_ok(run, run->rebuild ? sql_lock_rebuild : sql_lock_maintain, "locking attachments",
                 NULL) ||
        !exec_ok(run, sql_lock_districts, "locking the districts", NULL))
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

static enum import_status insert_rows(struct import_run *run)
{
    PGresult *r = NULL;
    double t = now_seconds();
    if (run->rebuild) {
        if (!exec_ok(run, sql_drop_indexes, "dropping the indexes and foreign keys", NULL))
            return IMPORT_FAILED;
        step_done("secondary indexes and foreign keys dropped", &t);
    }
    if (!exec_ok(run, run->rebuild ? sql_insert : sql_insert_sorted, "inserting the attachments",
                 &r))
        return IMPORT_FAILED;
    long long inserted = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (inserted != run->nrows) {
        snprintf(run->error, sizeof run->error, "inserted %lld rows of %lld", inserted, run->nrows);
        return IMPORT_FAILED;
    }
    step_done("rows inserted", &t);
    if (run->rebuild) {
        if (!exec_ok(run, sql_rebuild, "building the indexes and checking the foreign keys", NULL))
            return IMPORT_FAILED;
        step_done("indexes built, foreign keys added and checked", &t);
    }
    if (!exec_ok(run, sql_analyze_attachments, "ANALYZE attachments", NULL) ||
        !exec_ok(run, sql_recount, "recounting districts.nopen", &r))
        return IMPORT_FAILED;
    run->ndistricts = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    if (!exec_ok(run, sql_over_capacity, "checking capacity after the insert", &r))
        return IMPORT_FAILED;
    bool over = PQntuples(r) > 0;
    if (over)
        snprintf(run->error, sizeof run->error,
                 "district %s holds %s people after the import, above its capacity %s "
                 "(a bug: the checks before should have refused the file)",
                 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 1));
    PQclear(r);
    step_done("analysed, districts.nopen recounted, capacity checked again", &t);
    return over ? IMPORT_FAILED : IMPORT_OK;
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
    return PQconnectdbParams(keys, vals, 1);
}

/* Runs the whole import on run->pg; the caller has opened the file. Nothing is written unless
 * the result is IMPORT_OK. */
static enum import_status import_run(struct import_run *run, FILE *in)
{
    double t = now_seconds();
    if (!exec_ok(run, "BEGIN", "BEGIN", NULL))
        return IMPORT_FAILED;
    enum import_status st = IMPORT_FAILED;
    if (!exec_ok(run, sql_setup, "preparing the staging table", NULL))
        goto out;
    st = copy_file(run, in);
    if (st != IMPORT_OK)
        goto out;
    log_info("import: %lld rows read and copied into the staging table in %.1f s", run->nrows,
             now_seconds() - t);
    st = check_rows(run);
    if (st == IMPORT_OK)
        st = lock_for_load(run);
    if (st == IMPORT_OK)
        st = check_set(run);
    if (st == IMPORT_OK)
        st = insert_rows(run);
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
        st = import_run(run, in);
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
    free(run);
    return rc;
}
