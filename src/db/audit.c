/* Audit trail queries (see db_audit.h). */
#include "attachd/db_audit.h"

#include <stdio.h>
#include "attachd/db_text.h"

static struct db_stmt q_list = DB_STMT(
    PAGED_JSON("SELECT * FROM audit WHERE ($1::text IS NULL OR entity = $1)"
               " AND ($2::text IS NULL OR entity_id = $2) AND id > $3::bigint ORDER BY id"
               " LIMIT $4::int + 1",
               "json_build_object('id', n.id, 'at', iso_ts(n.at), 'actor', json_build_object("
               "'role', n.actor_role, 'token_id', n.actor_token, 'name', n.actor_name), 'action',"
               " n.action, 'entity', n.entity, 'entity_id', n.entity_id, 'before', n.before,"
               " 'after', n.after)",
               "$4"));

enum db_status audit_list(struct db_pool *pool, const struct audit_query *q, char **json)
{
    char after[24], limit[16];
    snprintf(after, sizeof after, "%lld", q->after_id);
    snprintf(limit, sizeof limit, "%d", q->limit);
    const char *p[4] = {q->entity, q->entity_id, after, limit};
    return db_run_json(pool, &q_list, 4, p, json);
}
