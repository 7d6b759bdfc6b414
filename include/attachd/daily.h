/* The daily run (SPEC §11): what a date brings to the register. Children whose pediatric
 * district no longer fits their age move within their polyclinic, EAEU attachments whose
 * insurance lapsed end, and the events of attachments starting or ending that day are written.
 * Idempotent and safe to run on several hosts at once: every change is made in its own short
 * transaction under the person's advisory lock, after re-checking that it is still due. Shared
 * by `attachd daily` and POST /v1/maintenance/daily. */
#ifndef ATTACHD_DAILY_H
#define ATTACHD_DAILY_H

#include <stdbool.h>
#include "attachd/db.h"
#include "attachd/dates.h"

/* What one run did (a second run for the same date finds nothing left to do). */
struct daily_counts {
    long long aged_out; /* children moved */
    long long unplaced; /* children due to move with no fitting district with room, first
                         * found so by this run for this date */
    long long lapsed;   /* EAEU attachments ended (or cancelled) */
    long long started;  /* attachment.started events written */
    long long ended;    /* attachment.ended events written for attachments ending that day */
};

/* Runs the day `on`; polyclinic_id > 0 limits every step to that polyclinic (0: all). Stops at
 * the first database failure (what was done before stays done; running again finishes). */
enum db_status daily_run(struct db_pool *pool, day_t on, long long polyclinic_id,
                         struct daily_counts *out) __attribute__((warn_unused_result));

/* {"on", "aged_out", "unplaced", "lapsed", "started", "ended"} (caller frees). */
char *daily_counts_json(day_t on, const struct daily_counts *c);

/* True in *exists when the polyclinic exists. */
enum db_status daily_polyclinic_exists(struct db_pool *pool, long long polyclinic_id, bool *exists)
    __attribute__((warn_unused_result));

/* Children waiting to be moved (still attached in a district that no longer fits them), of one
 * polyclinic, paged by attachment id: {"items": [...], "next_cursor"}; *json NULL when the
 * polyclinic does not exist. */
enum db_status age_outs_list(struct db_pool *pool, long long polyclinic_id, long long after_id,
                             int limit, char **json) __attribute__((warn_unused_result));

/* How many children wait to be moved, over every polyclinic (the /metrics gauge). */
enum db_status age_outs_unplaced_count(struct db_pool *pool, long long *n)
    __attribute__((warn_unused_result));

enum insurance_status { INSURANCE_RECORDED, INSURANCE_NO_PERSON };

/* Records a renewed insurance contract of the person (SPEC §11 "EAEU insurance"): from now on
 * it is their known contract, so the open attachment runs on; nothing already ended is
 * changed. *json (caller frees): {"iin", "insurance_contract": {...}, "attachment": {...}|null,
 * "upcoming": {...}|null}. INSURANCE_NO_PERSON when the person has no attachment on record. */
enum db_status insurance_put(struct db_pool *pool, const char *iin, const char *number,
                             const char *valid_until, enum insurance_status *outcome, char **json)
    __attribute__((warn_unused_result));

#endif
