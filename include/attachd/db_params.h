/* Typed parameters and named result columns for prepared statements, instead of positional
 * arrays of strings. A statement's parameters are added in order ($1, $2, ...); the count is
 * the number added, NULL is said explicitly (db_param_null, or the _or_null forms), and numbers
 * are formatted into the struct itself, so nothing outlives it. Results are read by column
 * name (the statement's AS names), so reordering a SELECT list cannot shift a read. */
#ifndef ATTACHD_DB_PARAMS_H
#define ATTACHD_DB_PARAMS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/db.h"

#define DB_PARAMS_MAX 40

struct db_params {
    int n;
    bool overflow; /* more than DB_PARAMS_MAX added: the query is refused (DB_ERROR) */
    const char *values[DB_PARAMS_MAX];
    char numbers[DB_PARAMS_MAX][24];
};

/* Text (borrowed: it must live until the query has run); NULL is SQL NULL. */
static inline void db_param_text(struct db_params *p, const char *value)
{
    if (p->n >= DB_PARAMS_MAX) {
        p->overflow = true;
        return;
    }
    p->values[p->n++] = value;
}

static inline void db_param_null(struct db_params *p)
{
    db_param_text(p, NULL);
}

static inline void db_param_ll(struct db_params *p, long long value)
{
    if (p->n >= DB_PARAMS_MAX) {
        p->overflow = true;
        return;
    }
    snprintf(p->numbers[p->n], sizeof p->numbers[p->n], "%lld", value);
    p->values[p->n] = p->numbers[p->n];
    p->n++;
}

/* An id where 0 means none: 0 is SQL NULL. */
static inline void db_param_id_or_null(struct db_params *p, long long id)
{
    if (id)
        db_param_ll(p, id);
    else
        db_param_null(p);
}

static inline void db_param_bool(struct db_params *p, bool value)
{
    db_param_text(p, value ? "true" : "false");
}

/* Runs stmt with the parameters added so far (see db_query). */
static inline enum db_status db_query_params(struct db_conn *conn, struct db_stmt *stmt,
                                             const struct db_params *p, PGresult **out)
{
    if (out)
        *out = NULL;
    if (p->overflow)
        return DB_ERROR;
    return db_query(conn, stmt, p->n, p->values, out);
}

/* A column name the result lacks: the C and its statement disagree, a programming error that
 * is the same on every call of that code path. It is logged (with the name) and the process
 * aborts, in every build, so that the first test running the statement fails loudly; a silent
 * NULL/0/false could instead take another branch and pass. */
_Noreturn void db_no_such_column(const char *name);

/* Named columns of row `row` (a name the result lacks: db_no_such_column). A row past the
 * result's end reads as SQL NULL. */
static inline int db_col(const PGresult *r, const char *name)
{
    int c = PQfnumber(r, name);
    if (c < 0)
        db_no_such_column(name);
    return c;
}

static inline bool db_is_null(const PGresult *r, int row, const char *name)
{
    return PQgetisnull(r, row, db_col(r, name)) != 0;
}

/* NULL for SQL NULL. */
static inline const char *db_text(const PGresult *r, int row, const char *name)
{
    int c = db_col(r, name);
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

/* "" for SQL NULL, for text that is used as it is. */
static inline const char *db_text_or_empty(const PGresult *r, int row, const char *name)
{
    const char *s = db_text(r, row, name);
    return s ? s : "";
}

/* 0 for SQL NULL. */
static inline long long db_ll(const PGresult *r, int row, const char *name)
{
    const char *s = db_text(r, row, name);
    return s ? atoll(s) : 0;
}

/* false for SQL NULL. */
static inline bool db_bool(const PGresult *r, int row, const char *name)
{
    const char *s = db_text(r, row, name);
    return s && s[0] == 't';
}

#endif
