/* Queries whose answer is one JSON document that PostgreSQL rendered (json_build_object,
 * json_agg). Passing its text through keeps numbers in PostgreSQL's shortest exact form, which
 * a round trip through jansson (17 significant digits) would not. */
#ifndef ATTACHD_DB_TEXT_H
#define ATTACHD_DB_TEXT_H

#include <stdbool.h>
#include <jansson.h>
#include "attachd/db.h"
#include "attachd/text_buf.h"

/* A page of a list as one JSON document, {"items": [...], "next_cursor": "ID"|null}, ordered by
 * id so that a page boundary never moves when rows are inserted. page_sql selects `id` and what
 * item_json uses (as n.<column>) for rows with id > the cursor, ORDER BY id LIMIT limit + 1: the
 * extra row only tells that a next page exists. `limit` is the parameter holding the page size,
 * e.g. "$5". */
#define PAGED_JSON(page_sql, item_json, limit)                                                     \
    "WITH page AS (" page_sql "), numbered AS (SELECT row_number() OVER (ORDER BY id) AS ord,"     \
    " p.* FROM page p) SELECT json_build_object('items', coalesce(json_agg(" item_json             \
    " ORDER BY n.ord) FILTER (WHERE n.ord <= " limit "::int), '[]'), 'next_cursor', CASE WHEN"     \
    " count(*) > " limit "::int THEN (max(n.id) FILTER (WHERE n.ord <= " limit "::int))::text"     \
    " END)::text FROM numbered n"

/* Runs stmt on conn; *out is a malloc'd, compact copy (no whitespace between tokens) of the
 * first row's first column (caller frees), or NULL when there is no row or it is SQL NULL. */
enum db_status db_query_json(struct db_conn *conn, struct db_stmt *stmt, int nparams,
                             const char *const *values, char **out)
    __attribute__((warn_unused_result));

/* The same on a pooled connection: acquire, query, release. */
enum db_status db_run_json(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                           const char *const *values, char **out)
    __attribute__((warn_unused_result));

/* db_run_json with one integer parameter (an id, a year). */
enum db_status db_run_json_ll(struct db_pool *pool, struct db_stmt *stmt, long long value,
                              char **out) __attribute__((warn_unused_result));

/* For an upsert answering `xmax = 0 AS created` (true: the row was inserted) and its JSON
 * rendering `AS json`: *created and *out (compact, caller frees) from the first row. Failures
 * pass through. */
enum db_status db_run_upsert_json(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                                  const char *const *values, bool *created, char **out)
    __attribute__((warn_unused_result));

/* A malloc'd, compact copy of column `name` of row `row` (caller frees); NULL when it is SQL
 * NULL or memory ran out. */
char *db_json_copy(const PGresult *r, int row, const char *name);

/* Removes the whitespace between the tokens of JSON text, in place. */
void json_text_compact(char *text);

/* v as PostgreSQL's jsonb prints it, compact (json_text_compact of its text): an object's keys
 * shorter first, then by their bytes; strings escaped as escape_json does (JSON_HEX_POSTGRES);
 * arrays in order. A text sent as a jsonb parameter in this form is stored and printed back as
 * it is. False for a real number (jsonb prints numerics in its own form; no document attachd
 * renders this way holds one) or when memory ran out. */
bool jsonb_text(const json_t *v, struct text_buf *t);

#endif
