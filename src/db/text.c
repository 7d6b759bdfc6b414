/* One-document queries (see db_text.h), and what a named column read needs out of line (see
 * db_params.h). */
#include "attachd/db_text.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/db_params.h"
#include "attachd/log.h"

void db_no_such_column(const char *name)
{
    log_error("db: the result has no column \"%s\" (the code and its statement disagree)", name);
    abort();
}

void json_text_compact(char *text)
{
    char *to = text;
    bool in_string = false;
    for (const char *from = text; *from; from++) {
        if (in_string) {
            *to++ = *from;
            if (*from == '\\' && from[1])
                *to++ = *++from; /* an escaped character, a quote included */
            else if (*from == '"')
                in_string = false;
        } else if (*from != ' ' && *from != '\n' && *from != '\t' && *from != '\r') {
            in_string = *from == '"';
            *to++ = *from;
        }
    }
    *to = '\0';
}

char *db_json_copy(const PGresult *r, int row, const char *name)
{
    const char *text = db_text(r, row, name);
    char *copy = text ? strdup(text) : NULL;
    if (copy)
        json_text_compact(copy);
    return copy;
}

/* The first row's first column, compact, into *out (NULL: no row, or SQL NULL). */
static enum db_status first_json(const PGresult *r, char **out)
{
    *out = NULL;
    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
        *out = strdup(PQgetvalue(r, 0, 0));
        if (!*out)
            return DB_ERROR;
        json_text_compact(*out);
    }
    return DB_OK;
}

enum db_status db_query_json(struct db_conn *conn, struct db_stmt *stmt, int nparams,
                             const char *const *values, char **out)
{
    *out = NULL;
    PGresult *r = NULL;
    enum db_status st = db_query(conn, stmt, nparams, values, &r);
    if (st == DB_OK)
        st = first_json(r, out);
    PQclear(r);
    return st;
}

enum db_status db_run_json(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                           const char *const *values, char **out)
{
    *out = NULL;
    const PGresult *answer;
    enum db_status st;
    if (db_deferred(stmt, nparams, values, &answer, &st)) /* a request's read (db.h) */
        return st == DB_OK ? first_json(answer, out) : st;
    struct db_conn *conn;
    st = db_acquire(pool, &conn);
    if (st != DB_OK)
        return st;
    st = db_query_json(conn, stmt, nparams, values, out);
    db_release(pool, conn);
    return st;
}

enum db_status db_run_json_ll(struct db_pool *pool, struct db_stmt *stmt, long long value,
                              char **out)
{
    char text[24];
    snprintf(text, sizeof text, "%lld", value);
    const char *params[1] = {text};
    return db_run_json(pool, stmt, 1, params, out);
}

enum db_status db_run_upsert_json(struct db_pool *pool, struct db_stmt *stmt, int nparams,
                                  const char *const *values, bool *created, char **out)
{
    *out = NULL;
    PGresult *r = NULL;
    enum db_status st = db_run(pool, stmt, nparams, values, &r);
    if (st != DB_OK)
        return st;
    *created = db_bool(r, 0, "created");
    *out = db_json_copy(r, 0, "json");
    PQclear(r);
    return *out ? DB_OK : DB_ERROR;
}

/* jsonb's order of an object's keys (lengthCompareJsonbStringValue): shorter first, then by
 * their bytes. */
static int jsonb_key_order(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t lx = strlen(x), ly = strlen(y);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return memcmp(x, y, lx);
}

bool jsonb_text(const json_t *v, struct text_buf *t)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys)
            return false;
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)v, key, value) keys[i++] = key;
        qsort(keys, n, sizeof *keys, jsonb_key_order);
        bool ok = true;
        TEXT_LIT(t, "{");
        for (i = 0; i < n && ok; i++) {
            if (i)
                TEXT_LIT(t, ",");
            text_json_string(t, keys[i], JSON_HEX_POSTGRES);
            TEXT_LIT(t, ":");
            ok = jsonb_text(json_object_get(v, keys[i]), t);
        }
        TEXT_LIT(t, "}");
        free(keys);
        return ok && !t->failed;
    }
    case JSON_ARRAY: {
        bool ok = true;
        TEXT_LIT(t, "[");
        for (size_t i = 0; i < json_array_size(v) && ok; i++) {
            if (i)
                TEXT_LIT(t, ",");
            ok = jsonb_text(json_array_get(v, i), t);
        }
        TEXT_LIT(t, "]");
        return ok && !t->failed;
    }
    case JSON_STRING:
        text_json_string(t, json_string_value(v), JSON_HEX_POSTGRES);
        break;
    case JSON_INTEGER: {
        char num[24];
        int len = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        text_append(t, num, (size_t)len);
        break;
    }
    case JSON_TRUE:
        TEXT_LIT(t, "true");
        break;
    case JSON_FALSE:
        TEXT_LIT(t, "false");
        break;
    case JSON_NULL:
        TEXT_LIT(t, "null");
        break;
    default: /* JSON_REAL */
        return false;
    }
    return !t->failed;
}
