/* Configuration from the environment, checked once at start. */
#ifndef ATTACHD_CONFIG_H
#define ATTACHD_CONFIG_H

#include <stddef.h>
#include "attachd/log.h"

struct attachd_config {
    const char *database_url; /* libpq connection string; "" means libpq defaults */
    unsigned port;            /* ATTACHD_PORT, 1..65535 */
    unsigned threads;         /* ATTACHD_THREADS, HTTP worker threads */
    unsigned db_pool;         /* ATTACHD_DB_POOL, database connections */
    enum log_level log_level; /* ATTACHD_LOG_LEVEL debug|info|warn|error */
    size_t body_limit;        /* ATTACHD_BODY_LIMIT bytes, default 1 MiB */
    unsigned conn_limit;      /* ATTACHD_CONN_LIMIT simultaneous connections */
    unsigned conn_timeout;    /* ATTACHD_CONN_TIMEOUT seconds idle before close */
    unsigned db_wait_ms;      /* ATTACHD_DB_WAIT_MS how long a request waits for a connection */
};

enum config_status { CONFIG_OK = 0, CONFIG_INVALID };

typedef const char *(*config_getenv_fn)(const char *name);

/* Fills cfg from getenv (or a test double). On CONFIG_INVALID, err holds one line naming the
 * variable and what is wrong with it. */
enum config_status config_load(struct attachd_config *cfg, config_getenv_fn getenv_fn, char *err,
                               size_t errlen) __attribute__((warn_unused_result));

#endif
