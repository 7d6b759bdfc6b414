/* The audit trail (migrations/0003_audit.sql): rows written by triggers, read by admins. */
#ifndef ATTACHD_DB_AUDIT_H
#define ATTACHD_DB_AUDIT_H

#include "attachd/db.h"

struct audit_query {
    const char *entity;    /* NULL: any */
    const char *entity_id; /* NULL: any */
    long long after_id;    /* cursor */
    int limit;
};

/* {"items": [{"id", "at", "actor": {"role", "token_id", "name"}, "action", "entity",
 * "entity_id", "before", "after"}...], "next_cursor"}, oldest first. */
enum db_status audit_list(struct db_pool *pool, const struct audit_query *q, char **json)
    __attribute__((warn_unused_result));

#endif
