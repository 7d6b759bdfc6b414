/* Bearer tokens: random secrets, stored only as SHA-256 hashes; roles and the registrar's
 * polyclinic. Lookups are cached per worker thread for a short time so a request does not
 * hit the database to authenticate. */
#ifndef ATTACHD_AUTH_H
#define ATTACHD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include "attachd/db.h"

enum role { ROLE_NONE = 0, ROLE_ADMIN = 1, ROLE_PORTAL = 2, ROLE_REGISTRAR = 4 };
#define ROLE_ANY (ROLE_ADMIN | ROLE_PORTAL | ROLE_REGISTRAR)

struct principal {
    enum role role;
    long long token_id;
    long long polyclinic_id; /* registrar only; 0 otherwise */
    char name[64];
};

const char *role_name(enum role role);
bool role_parse(const char *s, enum role *out);

#define TOKEN_SECRET_LEN 47 /* "atd_" + 43 base64url characters of 32 random bytes */

/* Makes a new random secret (NUL-terminated) and its SHA-256. */
bool token_generate(char secret[TOKEN_SECRET_LEN + 1], unsigned char hash[32]);
void token_hash(const char *secret, size_t len, unsigned char hash[32]);
/* A 32-byte hash as PostgreSQL bytea hex input ("\\x" + 64 hex digits). */
void bytea_hex32(const unsigned char hash[32], char out[67]);
/* SHA-256 of data as bytea hex input. */
void sha256_bytea_hex(const void *data, size_t len, char out[67]);

enum auth_status { AUTH_OK = 0, AUTH_MISSING, AUTH_INVALID, AUTH_DB_UNAVAILABLE };

/* Resolves an Authorization header value ("Bearer <secret>") to a principal. */
enum auth_status auth_check(struct db_pool *pool, const char *authorization, struct principal *out);

/* Forgets every cached token (all threads see it on their next lookup). */
void auth_cache_invalidate(void);

/* Stores a new token and writes its secret; polyclinic_id is 0 unless role is registrar. */
enum db_status token_create(struct db_conn *conn, enum role role, long long polyclinic_id,
                            const char *name, char secret[TOKEN_SECRET_LEN + 1], long long *id)
    __attribute__((warn_unused_result));
/* Marks a token revoked; *found tells whether an active token had that id. */
enum db_status token_revoke(struct db_conn *conn, long long id, bool *found)
    __attribute__((warn_unused_result));

#endif
