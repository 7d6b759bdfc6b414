/* Schema migrations, embedded at build time from migrations/NNNN_name.sql. */
#ifndef ATTACHD_MIGRATE_H
#define ATTACHD_MIGRATE_H

#include <stddef.h>

struct migration {
    const char *name; /* file name, e.g. "0001_catalogues.sql"; its order is its version */
    const char *sql;
};

extern const struct migration attachd_migrations[];
extern const size_t attachd_nmigrations;

enum migrate_status { MIGRATE_OK = 0, MIGRATE_DB_UNAVAILABLE, MIGRATE_FAILED };

/* Applies, in order, each embedded migration not yet recorded in schema_migrations, each in its
 * own transaction, holding a session advisory lock so concurrent migrators serialise. */
enum migrate_status migrate_run(const char *conninfo, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Name of the newest embedded migration ("" when none). */
const char *migrate_latest(void);

#endif
