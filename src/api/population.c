/* A polyclinic's attached population on a date (SPEC §11): the list of people, as JSON pages or
 * one streamed CSV download, and its counts by district, sex and age band. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/api.h"
#include "attachd/db_population.h"
#include "attachd/jfields.h"
#include "attachd/text_buf.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     500
/* Rows per query of the CSV download: big enough that round trips cost little, small enough
 * that the buffer of one page stays a few hundred kilobytes whatever the polyclinic's size. */
#define CSV_PAGE 2000

#define NOT_YOURS "No such polyclinic among yours"

static const char csv_header[] = "iin,last_name,first_name,middle_name,birth_date,sex,district_id,"
                                 "district_number,valid_from,valid_to\r\n";

/* The path id, the caller's right to it and `on`; false with the problem set. A registrar of
 * another polyclinic gets the 404 of one that does not exist (README, Decisions). */
static bool polyclinic_and_date(struct request *req, struct response *res, long long *id,
                                const char **on)
{
    if (!parse_ll(req->params[0], 1, INT64_MAX, id) || !may_act_on_polyclinic(&req->who, *id)) {
        res_problem(res, API_NOT_FOUND, NOT_YOURS);
        return false;
    }
    *on = req_query(req, "on");
    if (*on && !date_valid(*on))
        res_field_error(res, "on", "must be a date, YYYY-MM-DD");
    return true;
}

/* The cursor of this list is the keyset position "DISTRICT_ID.ID" of the last row of a page. */
static bool parse_cursor(const char *text, long long *district_id, long long *id)
{
    char buf[48];
    const char *dot = strchr(text, '.');
    if (!dot || strlen(text) >= sizeof buf)
        return false;
    memcpy(buf, text, (size_t)(dot - text));
    buf[dot - text] = '\0';
    return parse_ll(buf, 0, INT64_MAX, district_id) && parse_ll(dot + 1, 0, INT64_MAX, id);
}

/* Reads the query of the list into q (district_id, cursor, limit), adding field errors. */
static void read_list_query(const struct request *req, struct response *res,
                            struct population_query *q)
{
    const char *district = req_query(req, "district_id"), *cursor = req_query(req, "cursor"),
               *limit = req_query(req, "limit");
    long long n = PAGE_DEFAULT;
    if (district && !parse_ll(district, 1, INT64_MAX, &q->district_id))
        res_field_error(res, "district_id", "must be the id of a district of this polyclinic");
    if (cursor && !parse_cursor(cursor, &q->after_district, &q->after_id))
        res_field_error(res, "cursor", "must be the next_cursor of a previous page");
    if (limit && !parse_ll(limit, 1, PAGE_MAX, &n))
        res_field_error(res, "limit", "must be a whole number from 1 to %d", PAGE_MAX);
    q->limit = (int)n;
    /* One district: its keyset range starts at that district (the index is by district first). */
    if (!cursor && q->district_id)
        q->after_district = q->district_id;
}

/* ---- JSON pages ------------------------------------------------------------------------------ */

/* The page is written as JSON text straight from the rows, not as jansson objects dumped
 * afterwards: building and dumping one object per row cost about 5 us a row, most of attachd's
 * CPU per page (bench/README.md, "Reads on a 20 M register"). The text is what json_dumps
 * (JSON_COMPACT) wrote: the same keys in the same order, the same escapes (JSON_HEX_JANSSON). */
static void jt_string(struct text_buf *t, const char *s)
{
    text_json_string(t, s, JSON_HEX_JANSSON);
}

struct json_page {
    struct text_buf text; /* {"items":[ and the items so far */
    size_t wanted, n;     /* the page size (one row more is fetched); items written */
    long long cursor_district, cursor_id; /* keyset position of the last row of the page */
};

static bool add_json_item(void *ctx, const struct attached_row *row)
{
    struct json_page *page = ctx;
    if (page->n == page->wanted)
        return true; /* the extra row: there is a next page */
    struct text_buf *t = &page->text;
    if (page->n++)
        TEXT_LIT(t, ",");
    TEXT_LIT(t, "{\"iin\":");
    jt_string(t, row->iin);
    TEXT_LIT(t, ",\"last_name\":");
    jt_string(t, row->last_name);
    TEXT_LIT(t, ",\"first_name\":");
    jt_string(t, row->first_name);
    TEXT_LIT(t, ",\"middle_name\":");
    jt_string(t, row->middle_name);
    TEXT_LIT(t, ",\"birth_date\":");
    jt_string(t, row->birth_date);
    TEXT_LIT(t, ",\"sex\":");
    jt_string(t, row->sex);
    TEXT_LIT(t, ",\"district_id\":");
    text_json_id(t, row->district_id);
    TEXT_LIT(t, ",\"district_number\":");
    jt_string(t, row->district_number);
    TEXT_LIT(t, ",\"valid_from\":");
    jt_string(t, row->valid_from);
    TEXT_LIT(t, ",\"valid_to\":");
    jt_string(t, row->valid_to);
    TEXT_LIT(t, "}");
    page->cursor_district = row->district_id;
    page->cursor_id = row->id;
    return !t->failed;
}

/* The answer to a scope that is not SCOPE_OK: no such polyclinic (404), or a district_id that
 * is not one of its districts (422). */
static enum api_status scope_problem(struct response *res, enum population_scope scope,
                                     long long polyclinic_id)
{
    if (scope == SCOPE_NO_POLYCLINIC)
        return res_problem(res, API_NOT_FOUND, NOT_YOURS);
    res_field_error(res, "district_id", "is not a district of polyclinic %lld", polyclinic_id);
    return res_validation_result(res);
}

/* {"items", "next_cursor"}: one row more than the page is fetched, to tell whether a next page
 * exists. */
static enum api_status answer_json_page(struct request *req, struct response *res,
                                        struct population_query *q)
{
    struct json_page page = {.wanted = (size_t)q->limit};
    TEXT_LIT(&page.text, "{\"items\":[");
    q->limit++;
    size_t n = 0;
    enum population_scope scope = SCOPE_OK;
    enum db_status st = page.text.failed ? DB_ERROR
                                         : population_scoped_page(req->app->db, q, &scope,
                                                                  add_json_item, &page, &n);
    if (st != DB_OK || scope != SCOPE_OK) {
        free(page.text.buf);
        if (st == DB_OK)
            return scope_problem(res, scope, q->polyclinic_id);
        return page.text.failed ? res_problem(res, API_INTERNAL, NULL) : res_db_problem(res, st);
    }
    if (n > page.wanted) {
        char cursor[64];
        snprintf(cursor, sizeof cursor, "%lld.%lld", page.cursor_district, page.cursor_id);
        TEXT_LIT(&page.text, "],\"next_cursor\":");
        jt_string(&page.text, cursor);
        TEXT_LIT(&page.text, "}");
    } else {
        TEXT_LIT(&page.text, "],\"next_cursor\":null}");
    }
    if (page.text.failed) {
        free(page.text.buf);
        return res_problem(res, API_INTERNAL, NULL);
    }
    return res_json_text(res, 200, page.text.buf);
}

/* ---- the CSV download --------------------------------------------------------------------------
 */

/* A download in progress: the query moves along the keyset page by page; buf holds the CSV of
 * the current page, sent from pos. Memory stays that of one page whatever the list's size. */
struct csv_download {
    struct db_pool *pool;
    struct population_query q;
    char on[11];
    struct text_buf text; /* the current page's CSV */
    size_t pos;           /* sent up to here */
    bool end;
};

static void csv_download_free(void *ctx)
{
    struct csv_download *d = ctx;
    free(d->text.buf);
    free(d);
}

static bool add_csv_line(void *ctx, const struct attached_row *row)
{
    struct csv_download *d = ctx;
    char district_id[24];
    snprintf(district_id, sizeof district_id, "%lld", row->district_id);
    const char *fields[] = {row->iin,        row->last_name, row->first_name, row->middle_name,
                            row->birth_date, row->sex,       district_id,     row->district_number,
                            row->valid_from, row->valid_to};
    text_csv_line(&d->text, fields, sizeof fields / sizeof fields[0]);
    if (d->text.failed)
        return false;
    d->q.after_district = row->district_id;
    d->q.after_id = row->id;
    return true;
}

/* Replaces the buffer with the CSV of the next page; false when the query fails. */
static bool csv_next_page(struct csv_download *d)
{
    d->text.len = d->pos = 0;
    size_t n = 0;
    if (population_page(d->pool, &d->q, add_csv_line, d, &n) != DB_OK)
        return false;
    d->end = n < (size_t)d->q.limit;
    return true;
}

static long csv_read(void *ctx, char *buf, size_t max)
{
    struct csv_download *d = ctx;
    while (d->pos == d->text.len) {
        if (d->end)
            return 0;
        if (!csv_next_page(d))
            return -1; /* the client sees the body end early: better than a silent short list */
    }
    size_t n = d->text.len - d->pos < max ? d->text.len - d->pos : max;
    memcpy(buf, d->text.buf + d->pos, n);
    d->pos += n;
    return (long)n;
}

/* The whole list as CSV (header line, the columns of the JSON items), streamed. The date is
 * fixed once (today, when `on` is absent) so that every page of one download is of one day; the
 * keyset moves on as each page is read, so a download never holds more than one page. */
static enum api_status answer_csv(struct request *req, struct response *res,
                                  const struct population_query *q, const char *today)
{
    struct csv_download *d = calloc(1, sizeof *d);
    if (d)
        TEXT_LIT(&d->text, csv_header);
    if (!d || d->text.failed) {
        if (d)
            csv_download_free(d);
        return res_problem(res, API_INTERNAL, NULL);
    }
    d->pool = req->app->db;
    d->q = *q;
    d->q.limit = CSV_PAGE;
    d->q.after_district = q->district_id; /* the whole list: cursor and limit do not apply */
    d->q.after_id = 0;
    snprintf(d->on, sizeof d->on, "%s", q->on ? q->on : today);
    d->q.on = d->on;
    return res_stream(res, "text/csv; charset=utf-8", csv_read, d, csv_download_free);
}

HANDLER(api_polyclinic_attachments)
{
    struct population_query q = {0};
    if (!polyclinic_and_date(req, res, &q.polyclinic_id, &q.on))
        return res->problem;
    bool csv = req_accepts_csv(req);
    read_list_query(req, res, &q);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    if (!csv) /* the scope goes in one round trip with the page */
        return answer_json_page(req, res, &q);
    enum population_scope scope;
    char today[11];
    enum db_status st =
        population_scope(req->app->db, q.polyclinic_id, q.district_id, &scope, today);
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (scope != SCOPE_OK)
        return scope_problem(res, scope, q.polyclinic_id);
    return answer_csv(req, res, &q, today);
}

HANDLER(api_polyclinic_population)
{
    long long id;
    const char *on;
    if (!polyclinic_and_date(req, res, &id, &on))
        return res->problem;
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = population_counts(req->app->db, id, on, &json);
    return res_db_json(res, st, json, NOT_YOURS);
}
