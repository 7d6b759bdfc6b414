/* Campaigns in the database: one per year, windows never overlapping (the exclusion constraint
 * campaigns_no_overlap). Views are rendered as JSON text by PostgreSQL; every `char **json` is
 * malloc'd text the caller frees, NULL when there is nothing to show. */
#ifndef ATTACHD_DB_CAMPAIGNS_H
#define ATTACHD_DB_CAMPAIGNS_H

#include <stdbool.h>
#include "attachd/db.h"

/* {"items": [campaign...], "next_cursor": null}, by year. */
enum db_status campaign_list(struct db_pool *pool, char **json) __attribute__((warn_unused_result));

/* The campaign of a year; *json NULL when there is none. */
enum db_status campaign_get(struct db_pool *pool, long long year, char **json)
    __attribute__((warn_unused_result));

/* The campaign whose window contains today (local date of the session, Asia/Almaty), else the
 * campaign of the current year; *json NULL when there is neither. */
enum db_status campaign_current(struct db_pool *pool, char **json)
    __attribute__((warn_unused_result));

/* A whole campaign as PUT gives it; dates are YYYY-MM-DD. */
struct campaign_input {
    long long year;
    const char *opens_on, *closes_on, *effective_on;
    long long max_changes;
};

enum campaign_outcome { CAMPAIGN_CREATED, CAMPAIGN_REPLACED, CAMPAIGN_OVERLAPS };

/* The other campaign a window overlaps (known false when it could not be named any more). */
struct campaign_overlap {
    bool known;
    long long year;
    char opens_on[11], closes_on[11];
};

/* Creates or replaces the campaign of in->year. CREATED/REPLACED: *json is its view;
 * OVERLAPS: *overlap names the campaign in the way. */
enum db_status campaign_put(struct db_pool *pool, const struct campaign_input *in,
                            enum campaign_outcome *outcome, struct campaign_overlap *overlap,
                            char **json) __attribute__((warn_unused_result));

#endif
