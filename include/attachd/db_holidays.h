/* The holidays catalogue (SPEC §2): days that are not working days besides weekends. */
#ifndef ATTACHD_DB_HOLIDAYS_H
#define ATTACHD_DB_HOLIDAYS_H

#include <stdbool.h>
#include "attachd/db.h"

/* {"items": [{"day", "name"}...], "next_cursor": null} of a year (0: from today on, a year). */
enum db_status holiday_list(struct db_pool *pool, long long year, char **json)
    __attribute__((warn_unused_result));

/* Creates or renames a holiday; *created tells which. *json is the holiday. */
enum db_status holiday_put(struct db_pool *pool, const char *day, const char *name, bool *created,
                           char **json) __attribute__((warn_unused_result));

/* Removes a holiday; *found false when the day was not one. */
enum db_status holiday_delete(struct db_pool *pool, const char *day, bool *found)
    __attribute__((warn_unused_result));

#endif
