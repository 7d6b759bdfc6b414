/* A polyclinic's attached population on a date (SPEC §11) and the reports over the register
 * (SPEC §12): the list of people, page by page on the keyset (district_id, id), its counts, and
 * the attached population per settlement and polyclinic. */
#ifndef ATTACHD_DB_POPULATION_H
#define ATTACHD_DB_POPULATION_H

#include <stdbool.h>
#include <stddef.h>
#include "attachd/db.h"

/* One page of GET /v1/polyclinics/{id}/attachments. */
struct population_query {
    long long polyclinic_id;
    const char *on;           /* YYYY-MM-DD, NULL: today (Asia/Almaty) */
    long long district_id;    /* 0: every district */
    long long after_district; /* keyset position: rows after (after_district, after_id) */
    long long after_id;
    int limit; /* rows wanted */
};

/* One person as the list shows them; strings are NULL for SQL NULL and valid only during the
 * callback. */
struct attached_row {
    long long id, district_id;
    const char *iin, *last_name, *first_name, *middle_name, *birth_date, *sex, *district_number,
        *valid_from, *valid_to;
};

/* Called for each row in order; false stops the page (a failure of the caller: DB_ERROR). */
typedef bool (*attached_row_fn)(void *ctx, const struct attached_row *row);

enum population_scope {
    SCOPE_OK,
    SCOPE_NO_POLYCLINIC,      /* 404 */
    SCOPE_DISTRICT_ELSEWHERE, /* 422 district_id: not a district of that polyclinic */
};

/* Whether the polyclinic exists and district_id (0: none) is one of its districts; today is the
 * database's current date (Asia/Almaty), YYYY-MM-DD. */
enum db_status population_scope(struct db_pool *pool, long long polyclinic_id,
                                long long district_id, enum population_scope *out, char today[11])
    __attribute__((warn_unused_result));

/* Runs one page of the list, calling fn for each of at most q->limit rows; *nrows says how many. */
enum db_status population_page(struct db_pool *pool, const struct population_query *q,
                               attached_row_fn fn, void *ctx, size_t *nrows)
    __attribute__((warn_unused_result));

/* population_scope and population_page in one round trip: fn is called only when *scope is
 * SCOPE_OK. */
enum db_status population_scoped_page(struct db_pool *pool, const struct population_query *q,
                                      enum population_scope *scope, attached_row_fn fn, void *ctx,
                                      size_t *nrows) __attribute__((warn_unused_result));

/* {"polyclinic_id", "on", "total", "by_district": [...], "by_sex": {...}, "by_age_band": {...}};
 * *json NULL when there is no such polyclinic. on NULL: today. */
enum db_status population_counts(struct db_pool *pool, long long polyclinic_id, const char *on,
                                 char **json) __attribute__((warn_unused_result));

/* {"on", "settlement", "total", "settlements": [{"kato", ..., "attached", "polyclinics": [...]}]};
 * *json NULL when settlement (NULL: every one) is not in the catalogue. on NULL: today. */
enum db_status attached_stats(struct db_pool *pool, const char *on, const char *settlement,
                              char **json) __attribute__((warn_unused_result));

#endif
