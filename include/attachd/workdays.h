/* Working days: Monday to Friday, except public holidays. Pure. */
#ifndef ATTACHD_WORKDAYS_H
#define ATTACHD_WORKDAYS_H

#include <stdbool.h>
#include <stddef.h>
#include "attachd/dates.h"

/* True when d is a weekday and not in holidays (any order). */
bool is_working_day(day_t d, const day_t *holidays, size_t nholidays);
/* The first working day strictly after d. */
day_t next_working_day(day_t d, const day_t *holidays, size_t nholidays);

#endif
