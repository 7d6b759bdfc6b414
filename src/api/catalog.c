/* Cached catalogues. Readers take the read lock only to copy the page they answer with; a
 * reload builds the new copy outside the lock and swaps it in under the write lock. */
#include "attachd/catalog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "attachd/db_catalogues.h"
#include "attachd/db_params.h"

struct catalog_copy {
    size_t n;
    char **keys;
    char **items; /* JSON text of each item */
    size_t *lens;
};

struct catalog {
    struct db_stmt *stmt; /* rows: key text, item json text; ordered by key COLLATE "C" */
    double ttl;
    pthread_rwlock_t lock;
    struct catalog_copy copy;
    double loaded_at;
    atomic_bool stale;
};

/* The statements live in src/db/catalogues.c, with the service's other queries. */
#define CATALOG(statement, ttl_s)                                                                  \
    {                                                                                              \
        .stmt = &(statement), .ttl = (ttl_s), .lock = PTHREAD_RWLOCK_INITIALIZER, .stale = true    \
    }

struct catalog catalog_settlements = CATALOG(q_catalogue_settlements, 5.0);
struct catalog catalog_district_kinds = CATALOG(q_catalogue_district_kinds, 60.0);
struct catalog catalog_refusal_reasons = CATALOG(q_catalogue_refusal_reasons, 60.0);

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void copy_free(struct catalog_copy *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i]);
        free(c->items[i]);
    }
    free(c->keys);
    free(c->items);
    free(c->lens);
    memset(c, 0, sizeof *c);
}

static enum db_status reload(struct catalog *cat, struct db_pool *pool)
{
    PGresult *r = NULL;
    enum db_status st = db_run(pool, cat->stmt, 0, NULL, &r);
    if (st != DB_OK)
        return st;
    struct catalog_copy fresh = {0};
    size_t n = (size_t)PQntuples(r);
    fresh.keys = calloc(n + 1, sizeof *fresh.keys);
    fresh.items = calloc(n + 1, sizeof *fresh.items);
    fresh.lens = calloc(n + 1, sizeof *fresh.lens);
    if (!fresh.keys || !fresh.items || !fresh.lens) {
        copy_free(&fresh);
        PQclear(r);
        return DB_ERROR;
    }
    int key_col = db_col(r, "key"), item_col = db_col(r, "item");
    for (size_t i = 0; i < n; i++, fresh.n++) {
        fresh.keys[i] = strdup(PQgetvalue(r, (int)i, key_col));
        /* Re-serialised once here so answers are compact JSON in the columns' order. */
        json_t *item = json_loads(PQgetvalue(r, (int)i, item_col), 0, NULL);
        fresh.items[i] = item ? json_dumps(item, JSON_COMPACT) : NULL;
        json_decref(item);
        if (!fresh.keys[i] || !fresh.items[i]) {
            fresh.n++;
            copy_free(&fresh);
            PQclear(r);
            return DB_ERROR;
        }
        fresh.lens[i] = strlen(fresh.items[i]);
    }
    PQclear(r);
    pthread_rwlock_wrlock(&cat->lock);
    struct catalog_copy old = cat->copy;
    cat->copy = fresh;
    cat->loaded_at = now_monotonic();
    pthread_rwlock_unlock(&cat->lock);
    copy_free(&old);
    return DB_OK;
}

/* Makes sure the copy is fresh enough. A failed reload keeps serving the old copy when there
 * is one: a catalogue a few seconds old beats a 503. */
static enum db_status ensure_fresh(struct catalog *cat, struct db_pool *pool)
{
    pthread_rwlock_rdlock(&cat->lock);
    bool have = cat->loaded_at > 0;
    bool old = now_monotonic() - cat->loaded_at > cat->ttl;
    pthread_rwlock_unlock(&cat->lock);
    if (have && !old && !atomic_load(&cat->stale))
        return DB_OK;
    atomic_store(&cat->stale, false);
    enum db_status st = reload(cat, pool);
    if (st != DB_OK && have)
        return DB_OK;
    if (st != DB_OK)
        atomic_store(&cat->stale, true);
    return st;
}

void catalog_invalidate(struct catalog *cat)
{
    atomic_store(&cat->stale, true);
}

/* Index of the first key strictly greater than `after` (keys are sorted bytewise). */
static size_t first_after(const struct catalog_copy *c, const char *after)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(c->keys[mid], after) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum api_status catalog_list(struct catalog *cat, struct request *req, struct response *res)
{
    long long limit = 100;
    const char *ls = req_query(req, "limit");
    if (ls && !parse_ll(ls, 1, 500, &limit)) {
        res_field_error(res, "limit", "must be a whole number from 1 to 500");
        return res_validation_result(res);
    }
    const char *cursor = req_query(req, "cursor");
    enum db_status st = ensure_fresh(cat, req->app->db);
    if (st != DB_OK)
        return res_db_problem(res, st);

    pthread_rwlock_rdlock(&cat->lock);
    const struct catalog_copy *c = &cat->copy;
    size_t from = cursor ? first_after(c, cursor) : 0;
    size_t to = from + (size_t)limit < c->n ? from + (size_t)limit : c->n;
    const char *next = to < c->n && to > from ? c->keys[to - 1] : NULL;
    size_t len = 40 + (next ? strlen(next) : 0);
    for (size_t i = from; i < to; i++)
        len += c->lens[i] + 1;
    char *body = malloc(len);
    size_t o = 0;
    if (body) {
        memcpy(body, "{\"items\":[", 10), o = 10;
        for (size_t i = from; i < to; i++) {
            if (i > from)
                body[o++] = ',';
            memcpy(body + o, c->items[i], c->lens[i]), o += c->lens[i];
        }
        /* keys are digits only (KATO, padded sort numbers): no escaping needed */
        o += (size_t)snprintf(body + o, len - o, "],\"next_cursor\":%s%s%s}", next ? "\"" : "",
                              next ? next : "null", next ? "\"" : "");
    }
    pthread_rwlock_unlock(&cat->lock);
    if (!body)
        return res_problem(res, API_INTERNAL, NULL);
    res->raw = body;
    res->raw_len = o;
    res->status = 200;
    return API_OK;
}

/* Copies the JSON text of key's item (caller frees), NULL when absent. */
static char *find_item(struct catalog *cat, const char *key)
{
    char *text = NULL;
    pthread_rwlock_rdlock(&cat->lock);
    const struct catalog_copy *c = &cat->copy;
    size_t i = first_after(c, key);
    if (i > 0 && strcmp(c->keys[i - 1], key) == 0)
        text = strdup(c->items[i - 1]);
    pthread_rwlock_unlock(&cat->lock);
    return text;
}

enum api_status catalog_get(struct catalog *cat, const char *key, struct request *req,
                            struct response *res)
{
    enum db_status st = ensure_fresh(cat, req->app->db);
    if (st != DB_OK)
        return res_db_problem(res, st);
    char *text = find_item(cat, key);
    if (!text)
        return res_problem(res, API_NOT_FOUND, "No such item");
    res->raw = text;
    res->raw_len = strlen(text);
    res->status = 200;
    return API_OK;
}

enum db_status catalog_lookup(struct catalog *cat, struct db_pool *pool, const char *key,
                              json_t **out)
{
    *out = NULL;
    enum db_status st = ensure_fresh(cat, pool);
    if (st != DB_OK)
        return st;
    char *text = find_item(cat, key);
    if (text) {
        *out = json_loads(text, 0, NULL);
        free(text);
    }
    return DB_OK;
}
