/* Queries whose answer is one JSON document that PostgreSQL rendered (json_build_object,
 * json_agg). Passing its text through keeps numbers in PostgreSQL's shortest exact form, which
 * a round trip through jansson (17 significant digits) would not. */
#ifndef ATTACHD_DB_TEXT_H
#define ATTACHD_DB_TEXT_H

#include "attachd/db.h"

/* Runs stmt on conn; *out is a malloc'd, compact copy (no whitespace between tokens) of the
 * first row's first column (caller frees), or NULL when there is no row or it is SQL NULL. */
enum db_status db_query_json(struct db_conn *conn, struct db_stmt *stmt, int nparams,
                             const char *const *values, char **out)
    __attribute__((warn_unused_result));

/* The same on a pooled connection: acquire, query, release. */
enum db_status db_run_json(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                           const char *const *values, char **out)
    __attribute__((warn_unused_result));

/* Removes the whitespace between the tokens of JSON text, in place. */
void json_text_compact(char *text);

#endif
