/* The events feed (SPEC §12, migrations/0008_events_feed.sql): events are written by triggers
 * in the transaction of each change; the feed stamps committed ones with a position in commit
 * order (events_stamp) and pages by that position. */
#ifndef ATTACHD_DB_EVENTS_H
#define ATTACHD_DB_EVENTS_H

#include <stdbool.h>
#include "attachd/db.h"

struct events_query {
    long long after;         /* the position of the last event the reader has (0: none) */
    int limit;               /* 1..500 */
    long long polyclinic_id; /* a registrar's polyclinic: only its events; 0: every event */
};

struct events_page {
    char *json;        /* {"items": [...], "next_cursor": "POS"}; malloc'd, caller frees */
    int nitems;        /* items on the page */
    bool cursor_known; /* false: `after` is beyond every position given out (json is NULL) */
    long long latest;  /* the highest position stamped when the page was read */
};

/* Stamps what has committed, then reads the page after q->after. */
enum db_status events_page(struct db_pool *pool, const struct events_query *q,
                           struct events_page *out) __attribute__((warn_unused_result));

/* Stamps what has committed and tells the highest position: what a long-polling reader waits
 * to see grow. */
enum db_status events_latest(struct db_pool *pool, long long *latest)
    __attribute__((warn_unused_result));

#endif
