/* Polyclinics and their districts in the database (one aggregate: a district belongs to one
 * polyclinic). Read views are rendered as JSON text by PostgreSQL, one query per request, so a
 * list never costs a round trip per polyclinic and numbers keep their shortest exact form.
 * Every `char **json` result is malloc'd text the caller frees; it is NULL when the outcome is
 * not OK. */
#ifndef ATTACHD_DB_POLYCLINICS_H
#define ATTACHD_DB_POLYCLINICS_H

#include <jansson.h>
#include <stdbool.h>
#include "attachd/db.h"

/* GET /v1/polyclinics filters; every filter is optional. */
struct polyclinic_query {
    const char *settlement; /* KATO served (own or also_serves), NULL for any */
    int accepting;          /* 1 or 0 to filter, -1 for any */
    bool near;              /* order by distance from (lat, lon) and add distance_m */
    double lat, lon;
    int room_for_age;   /* an open district for this age has a free place; -1 for any */
    long long after_id; /* cursor: ids above this (0 from the start); unused with near */
    int limit;          /* page size, 1..200 */
};

/* One page as the API answers it: {"items": [...], "next_cursor": "ID"|null}. */
enum db_status polyclinic_search(struct db_pool *pool, const struct polyclinic_query *q,
                                 char **json) __attribute__((warn_unused_result));

/* One polyclinic's read view; DB_OK with *json NULL when there is no such id. */
enum db_status polyclinic_get(struct db_pool *pool, long long id, char **json)
    __attribute__((warn_unused_result));

/* A polyclinic's writable fields. For an update, NULL strings and false has_* flags mean "not
 * given, keep"; for a create the caller fills every field but lat/lon. */
struct polyclinic_fields {
    const char *bin, *name_kk, *name_ru, *settlement, *address, *ownership;
    bool has_lat, has_lon;
    double lat, lon;
    bool has_fsms_contract, has_accepting, has_auto_approve;
    bool fsms_contract, accepting, auto_approve;
    json_t *also_serves; /* borrowed array of KATO strings (the whole set); NULL: keep */
};

enum polyclinic_outcome {
    POLYCLINIC_OK,
    POLYCLINIC_NOT_FOUND,           /* update: no such id */
    POLYCLINIC_DUPLICATE_BIN,       /* 409 */
    POLYCLINIC_UNKNOWN_SETTLEMENT,  /* 422 settlement: not in the catalogue */
    POLYCLINIC_UNKNOWN_ALSO_SERVES, /* 422 also_serves: a KATO not in the catalogue */
    POLYCLINIC_STRANDS_PEOPLE       /* 409 update: another settlement while people are attached */
};

/* Creates a polyclinic with its also_serves set; *id and *json describe it on OK. */
enum db_status polyclinic_create(struct db_pool *pool, const struct polyclinic_fields *f,
                                 enum polyclinic_outcome *outcome, long long *id, char **json)
    __attribute__((warn_unused_result));

/* Changes the given fields (also_serves replaces the set) in one transaction. A move to another
 * settlement is refused (POLYCLINIC_STRANDS_PEOPLE) while the polyclinic holds anyone: *affected
 * says how many (attached now, approved to join, approved to leave but not gone yet). */
enum db_status polyclinic_update(struct db_pool *pool, long long id,
                                 const struct polyclinic_fields *f,
                                 enum polyclinic_outcome *outcome, long long *affected, char **json)
    __attribute__((warn_unused_result));

/* {"items": [district...], "next_cursor": null} of one polyclinic; *json NULL when the polyclinic
 * does not exist. */
enum db_status district_list(struct db_pool *pool, long long polyclinic_id, char **json)
    __attribute__((warn_unused_result));

/* One district's view; DB_OK with *json NULL when there is no such id. */
enum db_status district_get(struct db_pool *pool, long long id, char **json)
    __attribute__((warn_unused_result));

/* A district's writable fields; NULL / false has_* mean "not given" (create: capacity defaults to
 * the kind's norm, open to true). */
struct district_fields {
    const char *number, *kind;
    bool has_capacity, has_open;
    long long capacity;
    bool open;
};

enum district_outcome {
    DISTRICT_OK,
    DISTRICT_NOT_FOUND,        /* create: no such polyclinic; update: no such district */
    DISTRICT_UNKNOWN_KIND,     /* 422 kind */
    DISTRICT_OVER_NORM,        /* 422 capacity; result.norm and result.kind say the limit */
    DISTRICT_BELOW_LOAD,       /* 422 capacity; result.load says how many it holds */
    DISTRICT_DUPLICATE_NUMBER, /* 409 */
    DISTRICT_STRANDS_PEOPLE,   /* 409 kind: people there would not fit; result.affected */
};

struct district_result {
    enum district_outcome outcome;
    long long id;       /* OK */
    long long norm;     /* OVER_NORM: the kind's norm (0 when only the database knew) */
    long long load;     /* BELOW_LOAD */
    long long affected; /* STRANDS_PEOPLE: people attached or joining whose age the kind misses */
    char kind[40];      /* OVER_NORM: the kind whose norm applies */
    char *json;         /* OK: the district's view (caller frees) */
};

enum db_status district_create(struct db_pool *pool, long long polyclinic_id,
                               const struct district_fields *f, struct district_result *out)
    __attribute__((warn_unused_result));

enum db_status district_update(struct db_pool *pool, long long id, const struct district_fields *f,
                               struct district_result *out) __attribute__((warn_unused_result));

#endif
