#include "attachd/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads an unsigned number in [min, max] from variable `name`; absent or empty keeps *out. */
static enum config_status read_uint(config_getenv_fn get, const char *name, unsigned long min,
                                    unsigned long max, unsigned long *out, char *err, size_t errlen)
{
    const char *v = get(name);
    if (!v || !*v)
        return CONFIG_OK;
    /* strtoul would skip leading blanks and accept a sign (negating it in unsigned arithmetic,
     * so " -18446744073709551615" reads as 1): insist on a digit first. */
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || errno || *end || n < min || n > max) {
        snprintf(err, errlen, "%s: expected a whole number from %lu to %lu, got \"%.40s\"", name,
                 min, max, v);
        return CONFIG_INVALID;
    }
    *out = n;
    return CONFIG_OK;
}

static enum config_status read_level(config_getenv_fn get, enum log_level *out, char *err,
                                     size_t errlen)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    const char *v = get("ATTACHD_LOG_LEVEL");
    if (!v || !*v)
        return CONFIG_OK;
    for (int i = 0; i < 4; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = (enum log_level)i;
            return CONFIG_OK;
        }
    }
    snprintf(err, errlen, "ATTACHD_LOG_LEVEL: expected debug, info, warn or error, got \"%.40s\"",
             v);
    return CONFIG_INVALID;
}

enum config_status config_load(struct attachd_config *cfg, config_getenv_fn get, char *err,
                               size_t errlen)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    unsigned long port = 8080, threads = (unsigned long)ncpu * 2, pool = 0;
    unsigned long body = 1024 * 1024, conns = 4096, timeout = 30, wait_ms = 3000;
    enum log_level level = LOG_INFO;

    const char *url = get("DATABASE_URL");
    cfg->database_url = url ? url : "";
    if (read_uint(get, "ATTACHD_PORT", 1, 65535, &port, err, errlen) ||
        read_uint(get, "ATTACHD_THREADS", 1, 256, &threads, err, errlen) ||
        read_uint(get, "ATTACHD_DB_POOL", 1, 512, &pool, err, errlen) ||
        read_uint(get, "ATTACHD_BODY_LIMIT", 1024, 64ul * 1024 * 1024, &body, err, errlen) ||
        read_uint(get, "ATTACHD_CONN_LIMIT", 16, 1000000, &conns, err, errlen) ||
        read_uint(get, "ATTACHD_CONN_TIMEOUT", 1, 3600, &timeout, err, errlen) ||
        read_uint(get, "ATTACHD_DB_WAIT_MS", 1, 600000, &wait_ms, err, errlen) ||
        read_level(get, &level, err, errlen))
        return CONFIG_INVALID;

    cfg->port = (unsigned)port;
    cfg->threads = (unsigned)threads;
    /* One connection per worker thread by default: a worker never waits for another's. */
    cfg->db_pool = pool ? (unsigned)pool : (unsigned)threads;
    cfg->body_limit = body;
    cfg->conn_limit = (unsigned)conns;
    cfg->conn_timeout = (unsigned)timeout;
    cfg->db_wait_ms = (unsigned)wait_ms;
    cfg->log_level = level;
    return CONFIG_OK;
}
