#include "attachd/workdays.h"

bool is_working_day(day_t d, const day_t *holidays, size_t nholidays)
{
    if (iso_weekday(d) >= 6)
        return false;
    for (size_t i = 0; i < nholidays; i++)
        if (holidays[i] == d)
            return false;
    return true;
}

day_t next_working_day(day_t d, const day_t *holidays, size_t nholidays)
{
    /* A year holds far fewer than 366 days off in a row; the bound only guards bad data. */
    for (int i = 0; i < 366; i++) {
        d++;
        if (is_working_day(d, holidays, nholidays))
            return d;
    }
    return d;
}
