/* The register in the database: a person's attachments, a polyclinic's transfers, campaign
 * statistics. Views are rendered as JSON text by PostgreSQL; every `char **json` is malloc'd
 * text the caller frees, NULL when there is nothing to show. */
#ifndef ATTACHD_DB_REGISTRY_H
#define ATTACHD_DB_REGISTRY_H

#include <stdbool.h>
#include "attachd/db.h"

/* Who asks about a person: a registrar sees only people attached to, or applying to, its
 * polyclinic (SPEC §6); 0 for the portal and admin. */
struct person_query {
    const char *iin;
    const char *on; /* YYYY-MM-DD, NULL: today (Asia/Almaty) */
    long long registrar_polyclinic_id;
};

/* {"iin", "on", "attachment": {...}|null, "upcoming": {...}|null}; *json NULL when the person
 * is not on record (or not visible to the registrar). */
enum db_status person_attachment(struct db_pool *pool, const struct person_query *q, char **json)
    __attribute__((warn_unused_result));

/* {"iin", "items": [every attachment, cancelled ones included, by valid_from], "next_cursor":
 * null}; *json NULL as above. */
enum db_status person_attachments(struct db_pool *pool, const struct person_query *q, char **json)
    __attribute__((warn_unused_result));

enum transfer_direction { TRANSFERS_BOTH, TRANSFERS_IN, TRANSFERS_OUT };

struct transfer_query {
    long long polyclinic_id;
    enum transfer_direction direction;
    const char *from, *to; /* effective_on range, inclusive; NULL: open */
    long long after_id;
    int limit;
};

/* {"items": [...], "next_cursor"}; *json NULL when there is no such polyclinic. */
enum db_status transfer_list(struct db_pool *pool, const struct transfer_query *q, char **json)
    __attribute__((warn_unused_result));

/* Which counts of a campaign year: narrowed to the polyclinics of a settlement and/or one
 * polyclinic (NULL / 0: no narrowing). */
struct stats_query {
    long long year;
    const char *settlement;
    long long polyclinic_id;
};

/* Counts of a campaign year (campaign_stats() in migrations/0007_population.sql); *json NULL
 * when the year has no campaign and no applications, or the settlement or polyclinic is not
 * known. */
enum db_status campaign_stats(struct db_pool *pool, const struct stats_query *q, char **json)
    __attribute__((warn_unused_result));

#endif
