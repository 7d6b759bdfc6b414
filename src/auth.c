/* Tokens. The secret is 32 random bytes (OpenSSL's RAND_bytes) in base64url after "atd_";
 * only its SHA-256 is stored. A per-thread cache remembers resolved tokens for a second, so
 * the hot path does no database work; revocation takes effect within that second, at once
 * in this process (auth_cache_invalidate). */
#include "attachd/auth.h"

#include "attachd/db_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CACHE_SLOTS       64
#define CACHE_TTL_SECONDS 1.0

struct cache_entry {
    unsigned char hash[32];
    struct principal who;
    double expires;
    unsigned generation;
    bool used;
};

static _Thread_local struct cache_entry cache[CACHE_SLOTS];
static atomic_uint cache_generation = 1;

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *role_name(enum role role)
{
    switch (role) {
    case ROLE_ADMIN:
        return "admin";
    case ROLE_PORTAL:
        return "portal";
    case ROLE_REGISTRAR:
        return "registrar";
    default:
        return "none";
    }
}

bool role_parse(const char *s, enum role *out)
{
    static const enum role all[] = {ROLE_ADMIN, ROLE_PORTAL, ROLE_REGISTRAR};
    for (size_t i = 0; s && i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, role_name(all[i])) == 0) {
            *out = all[i];
            return true;
        }
    }
    return false;
}

/* SHA-256 fetched from the provider once: EVP_sha256() would make OpenSSL 3 look it up again on
 * every digest, on the path of every request. */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void token_hash(const char *secret, size_t len, unsigned char hash[32])
{
    unsigned int outlen = 32;
    pthread_once(&sha256_once, sha256_fetch);
    EVP_Digest(secret, len, hash, &outlen, sha256 ? sha256 : EVP_sha256(), NULL);
}

bool token_generate(char secret[TOKEN_SECRET_LEN + 1], unsigned char hash[32])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[33] = {0}; /* one pad byte so the last 6-bit group reads zeros */
    if (RAND_bytes(raw, 32) != 1)
        return false;
    memcpy(secret, "atd_", 4);
    size_t o = 4;
    for (size_t i = 0; i < 33 && o < TOKEN_SECRET_LEN; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)(i + 1 < 33 ? raw[i + 1] : 0) << 8 |
                     (unsigned)(i + 2 < 33 ? raw[i + 2] : 0);
        for (int k = 3; k >= 0 && o < TOKEN_SECRET_LEN; k--)
            secret[o++] = b64[(v >> (6 * k)) & 63];
    }
    secret[TOKEN_SECRET_LEN] = '\0';
    OPENSSL_cleanse(raw, sizeof raw);
    token_hash(secret, TOKEN_SECRET_LEN, hash);
    return true;
}

void bytea_hex32(const unsigned char hash[32], char out[67])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\', out[1] = 'x';
    for (int i = 0; i < 32; i++) {
        out[2 + 2 * i] = hex[hash[i] >> 4];
        out[3 + 2 * i] = hex[hash[i] & 15];
    }
    out[66] = '\0';
}

void sha256_bytea_hex(const void *data, size_t len, char out[67])
{
    unsigned char hash[32];
    token_hash(data, len, hash);
    bytea_hex32(hash, out);
}

void auth_cache_invalidate(void)
{
    atomic_fetch_add(&cache_generation, 1);
}

enum auth_status auth_check(struct db_pool *pool, const char *authorization, struct principal *out)
{
    if (!authorization)
        return AUTH_MISSING;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return AUTH_INVALID;
    const char *secret = authorization + 7;
    while (*secret == ' ')
        secret++;
    size_t len = strlen(secret);
    if (len == 0 || len > 256)
        return AUTH_INVALID;

    unsigned char hash[32];
    token_hash(secret, len, hash);
    double now = now_monotonic();
    unsigned gen = atomic_load(&cache_generation);
    struct cache_entry *e = &cache[hash[0] % CACHE_SLOTS];
    if (e->used && e->generation == gen && e->expires > now &&
        CRYPTO_memcmp(e->hash, hash, 32) == 0) {
        *out = e->who;
        return AUTH_OK;
    }

    char hex[67];
    bytea_hex32(hash, hex);
    struct principal who = {0};
    char role[16];
    bool found;
    enum db_status st = db_token_lookup(pool, hex, &found, &who.token_id, role, sizeof role,
                                        &who.polyclinic_id, who.name, sizeof who.name);
    if (st != DB_OK)
        return st == DB_UNAVAILABLE ? AUTH_DB_UNAVAILABLE : AUTH_INVALID;
    if (!found)
        return AUTH_INVALID;
    role_parse(role, &who.role);

    memcpy(e->hash, hash, 32);
    e->who = who;
    e->expires = now + CACHE_TTL_SECONDS;
    e->generation = gen;
    e->used = true;
    *out = who;
    return AUTH_OK;
}

enum db_status token_create(struct db_conn *conn, enum role role, long long polyclinic_id,
                            const char *name, char secret[TOKEN_SECRET_LEN + 1], long long *id)
{
    unsigned char hash[32];
    if (!token_generate(secret, hash))
        return DB_ERROR;
    char hex[67];
    bytea_hex32(hash, hex);
    return db_token_insert(conn, role_name(role), role == ROLE_REGISTRAR ? polyclinic_id : 0, name,
                           hex, id);
}

enum db_status token_revoke(struct db_conn *conn, long long id, bool *found)
{
    enum db_status st = db_token_revoke(conn, id, found);
    if (st == DB_OK)
        auth_cache_invalidate();
    return st;
}
