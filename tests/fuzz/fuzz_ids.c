/* The pure identity and calendar rules with fuzzed input, checked by their properties rather
 * than by examples:
 *   - the input as a string: iin_valid, bin_valid, kato_valid, kz_checksum_ok, iin_facts,
 *     date_parse, date_valid;
 *   - the input as numbers (first bytes, little-endian): day numbers for the calendar round
 *     trips, age_years, iso_weekday and next_working_day with a few holidays near the day. */
#include <limits.h>
#include "attachd/dates.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"
#include "attachd/workdays.h"
#include "fuzz.h"

/* Day numbers stay within ±20000 years of 1970: the range where int years cannot overflow
 * and far wider than any date the service stores. */
#define DAY_SPAN 7300000L

struct bytes {
    const uint8_t *p;
    size_t left;
};

static uint32_t take_u32(struct bytes *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4 && b->left; i++, b->left--)
        v |= (uint32_t)*b->p++ << (8 * i);
    return v;
}

static uint8_t take_u8(struct bytes *b)
{
    if (!b->left)
        return 0;
    b->left--;
    return *b->p++;
}

static day_t take_day(struct bytes *b)
{
    return (day_t)(take_u32(b) % (2 * DAY_SPAN + 1)) - DAY_SPAN;
}

static bool all_digits(const char *s, size_t n)
{
    return strlen(s) == n && strspn(s, "0123456789") == n;
}

static void check_identifiers(const char *s)
{
    bool iin = iin_valid(s), bin = bin_valid(s), sum = kz_checksum_ok(s);
    if (sum)
        fuzz_check(all_digits(s, 12), "checksum ok for \"%s\", not 12 digits", s);
    if (iin)
        fuzz_check(sum && s[4] >= '0' && s[4] <= '3', "iin_valid(\"%s\") without its rules", s);
    if (bin)
        fuzz_check(sum && s[4] >= '4' && s[4] <= '6', "bin_valid(\"%s\") without its rules", s);
    fuzz_check(!(iin && bin), "\"%s\" is both an IIN and a BIN", s);
    fuzz_check(kato_valid(s) == all_digits(s, 9), "kato_valid(\"%s\") is wrong", s);
    if (sum) {
        /* One check digit: any other last digit breaks the checksum. */
        char other[13];
        memcpy(other, s, 13);
        for (char d = '0'; d <= '9'; d++) {
            if (d == s[11])
                continue;
            other[11] = d;
            fuzz_check(!kz_checksum_ok(other), "\"%s\" and \"%s\" both pass the checksum", s,
                       other);
        }
    }
    struct iin_facts f;
    if (iin_facts(s, &f)) {
        fuzz_check(all_digits(s, 12) && s[6] >= '1' && s[6] <= '6', "iin_facts took \"%s\"", s);
        fuzz_check(f.year >= 1800 && f.year <= 2099, "iin_facts(\"%s\") year %d", s, f.year);
        fuzz_check(f.month == (s[2] - '0') * 10 + (s[3] - '0') &&
                       f.day == (s[4] - '0') * 10 + (s[5] - '0') &&
                       f.year % 100 == (s[0] - '0') * 10 + (s[1] - '0'),
                   "iin_facts(\"%s\") misread the date", s);
        fuzz_check(f.male == ((s[6] - '0') % 2 == 1), "iin_facts(\"%s\") misread the sex", s);
    } else {
        fuzz_check(!all_digits(s, 12) || s[6] < '1' || s[6] > '6', "iin_facts refused \"%s\"", s);
    }
}

static void check_date_text(const char *s)
{
    day_t d;
    bool parsed = date_parse(s, &d);
    bool valid = date_valid(s);
    if (parsed) {
        fuzz_check(strlen(s) == 10, "date_parse took \"%s\"", s);
        char back[11];
        date_format(d, back);
        fuzz_check(strcmp(back, s) == 0, "date_parse(\"%s\") formats back as \"%s\"", s, back);
    }
    /* date_valid is date_parse from 1800 on (jfields refuses earlier years). */
    bool from_1800 = parsed && strncmp(s, "1800", 4) >= 0;
    fuzz_check(valid == from_1800, "date_valid(\"%s\") = %d but date_parse = %d", s, valid, parsed);
}

static void check_calendar(day_t a)
{
    int y, m, d;
    civil_from_days(a, &y, &m, &d);
    fuzz_check(m >= 1 && m <= 12 && d >= 1 && d <= 31, "day %ld is %d-%d-%d", a, y, m, d);
    fuzz_check(days_from_civil(y, m, d) == a, "day %ld does not round-trip", a);
    int ny, nm, nd;
    civil_from_days(a + 1, &ny, &nm, &nd);
    fuzz_check((ny == y && nm == m && nd == d + 1) || (ny == y && nm == m + 1 && nd == 1) ||
                   (ny == y + 1 && nm == 1 && nd == 1 && m == 12 && d == 31),
               "the day after %d-%d-%d is %d-%d-%d", y, m, d, ny, nm, nd);
    int w = iso_weekday(a);
    fuzz_check(w >= 1 && w <= 7, "weekday %d", w);
    fuzz_check(iso_weekday(a + 1) == w % 7 + 1, "weekdays do not follow each other at %ld", a);
    if (y >= 0 && y <= 9999) {
        char text[11];
        date_format(a, text);
        day_t back;
        fuzz_check(date_parse(text, &back) && back == a, "date_format(%ld) = \"%s\" reads back", a,
                   text);
    }
}

/* Whole years: 0 on the day of birth, up by one on each birthday (29 February: on 1 March in
 * common years), never down, and bounded by 365- and 366-day years. */
static void check_age(day_t birth, day_t on)
{
    int age = age_years(birth, on);
    fuzz_check((age >= 0) == (on >= birth), "age_years(%ld, %ld) = %d", birth, on, age);
    fuzz_check(age_years(birth, birth) == 0, "not 0 years old at birth");
    int next = age_years(birth, on + 1);
    fuzz_check(next == age || next == age + 1, "age went from %d to %d in a day", age, next);
    if (on >= birth)
        fuzz_check((long)age * 365 <= on - birth && on - birth < ((long)age + 1) * 366,
                   "%d years for %ld days", age, on - birth);
    int by, bm, bd, oy, om, od;
    civil_from_days(birth, &by, &bm, &bd);
    civil_from_days(on, &oy, &om, &od);
    bool leap = (oy % 4 == 0 && oy % 100 != 0) || oy % 400 == 0;
    int cm = bm, cd = bd; /* the birthday as celebrated in year oy */
    if (bm == 2 && bd == 29 && !leap)
        cm = 3, cd = 1;
    day_t birthday = days_from_civil(oy, cm, cd);
    fuzz_check(age_years(birth, birthday) == oy - by, "%d years on the birthday in %d, not %d",
               age_years(birth, birthday), oy, oy - by);
    fuzz_check(age_years(birth, birthday - 1) == oy - by - 1, "%d years the day before, not %d",
               age_years(birth, birthday - 1), oy - by - 1);
}

static void check_next_working_day(day_t d, const day_t *holidays, size_t n)
{
    day_t next = next_working_day(d, holidays, n);
    fuzz_check(next > d, "next working day %ld not after %ld", next, d);
    fuzz_check(is_working_day(next, holidays, n), "next working day %ld is a day off", next);
    fuzz_check(iso_weekday(next) <= 5, "next working day %ld is a weekend", next);
    for (size_t i = 0; i < n; i++)
        fuzz_check(holidays[i] != next, "next working day %ld is a holiday", next);
    for (day_t x = d + 1; x < next; x++)
        fuzz_check(!is_working_day(x, holidays, n), "%ld skipped the working day %ld", d, x);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[64];
    size_t len = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, len);
    text[len] = '\0'; /* stops at the first NUL byte, as a C string from JSON would */
    check_identifiers(text);
    check_date_text(text);
    /* Also every 12-, 10- and 9-byte window, so digits anywhere in the input are tried. */
    for (size_t w = 0; w + 12 <= len && w < 8; w++) {
        char id[13];
        memcpy(id, text + w, 12);
        id[12] = '\0';
        check_identifiers(id);
        id[10] = '\0';
        check_date_text(id);
    }

    struct bytes b = {data, size};
    day_t a = take_day(&b), on = take_day(&b);
    check_calendar(a);
    check_age(a, on);
    check_age(a, a + (day_t)(take_u32(&b) % 60000)); /* the ages people have */
    day_t holidays[16];
    size_t n = take_u8(&b) % 17;
    for (size_t i = 0; i < n; i++)
        holidays[i] = a + take_u8(&b) % 40;
    check_next_working_day(a, holidays, n);
    return 0;
}
