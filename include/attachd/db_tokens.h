/* The tokens table (SPEC §6): the statements auth.c runs, kept with the other queries in
 * src/db. Hashes travel as PostgreSQL bytea hex literals ("\\x" and 64 hex digits). */
#ifndef ATTACHD_DB_TOKENS_H
#define ATTACHD_DB_TOKENS_H

#include <stdbool.h>
#include "attachd/db.h"

/* A live (not revoked) token by the hash of its secret; *found false when there is none. */
enum db_status db_token_lookup(struct db_pool *pool, const char *hash_hex, bool *found,
                               long long *id, char *role, size_t role_len, long long *polyclinic_id,
                               char *name, size_t name_len) __attribute__((warn_unused_result));

/* Stores a new token (polyclinic_id 0: none); *id is its id. */
enum db_status db_token_insert(struct db_conn *conn, const char *role, long long polyclinic_id,
                               const char *name, const char *hash_hex, long long *id)
    __attribute__((warn_unused_result));

/* Revokes a live token; *found false when there was none to revoke. */
enum db_status db_token_revoke(struct db_conn *conn, long long id, bool *found)
    __attribute__((warn_unused_result));

#endif
