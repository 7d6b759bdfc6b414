#include "attachd/dates.h"

#include <stdio.h>
#include <string.h>

/* Howard Hinnant's days_from_civil / civil_from_days algorithms. */
day_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void civil_from_days(day_t z, int *year, int *month, int *day)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp + (mp < 10 ? 3 : -9);
    *year = (int)(y + (m <= 2));
    *month = (int)m;
    *day = (int)d;
}

bool date_parse(const char *s, day_t *out)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    /* Digits checked above: read them directly (the importer parses two dates a row). */
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
    if (m < 1 || m > 12 || d < 1)
        return false;
    day_t v = days_from_civil(y, m, d);
    int yy, mm, dd;
    civil_from_days(v, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return false; /* 31 April, 29 February of a common year, ... */
    *out = v;
    return true;
}

void date_format(day_t d, char buf[11])
{
    int y, m, dd;
    civil_from_days(d, &y, &m, &dd);
    char tmp[40]; /* wide enough for any int, so the compiler sees no truncation */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", y % 10000, m % 100, dd % 100);
    memcpy(buf, tmp, 10);
    buf[10] = '\0';
}

int iso_weekday(day_t d)
{
    /* 1970-01-01 was a Thursday (4). */
    long w = (d + 3) % 7;
    if (w < 0)
        w += 7;
    return (int)w + 1;
}

int age_years(day_t birth, day_t on)
{
    int by, bm, bd, oy, om, od;
    civil_from_days(birth, &by, &bm, &bd);
    civil_from_days(on, &oy, &om, &od);
    int age = oy - by;
    if (om < bm || (om == bm && od < bd))
        age--;
    return age;
}

day_t birthday_at(day_t birth, int years)
{
    int by, bm, bd;
    civil_from_days(birth, &by, &bm, &bd);
    int y = by + years;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (bm == 2 && bd == 29 && !leap)
        return days_from_civil(y, 3, 1);
    return days_from_civil(y, bm, bd);
}

day_t almaty_day(time_t t)
{
    /* Kazakhstan keeps one zone, UTC+5, all year (SPEC §1). */
    long long s = (long long)t + 5 * 3600;
    return (day_t)(s >= 0 ? s / 86400 : (s - 86399) / 86400);
}
