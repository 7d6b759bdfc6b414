/* Calendar dates as day numbers (days since 1970-01-01), for rules that count days and years.
 * Pure functions; the proleptic Gregorian calendar. */
#ifndef ATTACHD_DATES_H
#define ATTACHD_DATES_H

#include <stdbool.h>
#include <time.h>

typedef long day_t;

day_t days_from_civil(int year, int month, int day);
void civil_from_days(day_t days, int *year, int *month, int *day);
/* Parses YYYY-MM-DD naming a real date. */
bool date_parse(const char *s, day_t *out);
/* Writes YYYY-MM-DD into buf[11]. */
void date_format(day_t d, char buf[11]);
/* 1 = Monday ... 7 = Sunday (ISO). */
int iso_weekday(day_t d);
/* Whole years from birth to on (on the birthday the age goes up; 29 Feb birthdays count
 * from 1 March in common years). Negative when birth is after on. */
int age_years(day_t birth, day_t on);
/* The day on which someone born on `birth` turns `years` (the first day age_years gives it):
 * 29 February birthdays fall on 1 March in common years. */
day_t birthday_at(day_t birth, int years);
/* The calendar day in Asia/Almaty (UTC+5) at the instant t. */
day_t almaty_day(time_t t);

#endif
