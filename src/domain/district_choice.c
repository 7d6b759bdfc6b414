#include "attachd/district_choice.h"

#include <string.h>

bool district_fits(const struct district_option *d, int age)
{
    return d->open && age >= d->min_age && (d->max_age < 0 || age <= d->max_age) &&
           d->load < d->capacity;
}

const char *district_unfit_reason(const struct district_option *d, int age)
{
    if (!d->open)
        return "closed";
    if (age < d->min_age || (d->max_age >= 0 && age > d->max_age))
        return "age";
    if (d->load >= d->capacity)
        return "full";
    return NULL;
}

static bool digits_only(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int district_number_cmp(const char *a, const char *b)
{
    if (digits_only(a) && digits_only(b)) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    return strcmp(a, b);
}

/* Which districts a pass of the choice considers. */
enum band { BAND_ANY, BAND_BOUNDED, BAND_UNBOUNDED };

static bool in_band(const struct district_option *d, enum band band)
{
    return band == BAND_ANY || (band == BAND_BOUNDED) == (d->max_age >= 0);
}

static long find_fitting(const struct district_option *ds, size_t n, int age, long long id,
                         enum band band)
{
    for (size_t i = 0; i < n; i++)
        if (ds[i].id == id)
            return district_fits(&ds[i], age) && in_band(&ds[i], band) ? (long)i : -1;
    return -1;
}

/* §3's order among the districts of one band: requested, family, most free places, lowest
 * number. */
static long choose_in_band(const struct district_option *ds, size_t n, int age,
                           long long requested_id, const long long *family_district_ids,
                           size_t nfamily, enum band band)
{
    long pick = requested_id ? find_fitting(ds, n, age, requested_id, band) : -1;
    for (size_t f = 0; pick < 0 && f < nfamily; f++)
        pick = find_fitting(ds, n, age, family_district_ids[f], band);
    if (pick >= 0)
        return pick;
    for (size_t i = 0; i < n; i++) {
        if (!district_fits(&ds[i], age) || !in_band(&ds[i], band))
            continue;
        if (pick < 0) {
            pick = (long)i;
            continue;
        }
        int free_i = ds[i].capacity - ds[i].load, free_p = ds[pick].capacity - ds[pick].load;
        if (free_i > free_p ||
            (free_i == free_p && district_number_cmp(ds[i].number, ds[pick].number) < 0))
            pick = (long)i;
    }
    return pick;
}

long choose_district(const struct district_option *ds, size_t n, int age, long long requested_id,
                     const long long *family_district_ids, size_t nfamily)
{
    return choose_in_band(ds, n, age, requested_id, family_district_ids, nfamily, BAND_ANY);
}

long choose_age_out_district(const struct district_option *ds, size_t n, int age,
                             const long long *family_district_ids, size_t nfamily)
{
    long pick = choose_in_band(ds, n, age, 0, family_district_ids, nfamily, BAND_BOUNDED);
    if (pick < 0)
        pick = choose_in_band(ds, n, age, 0, family_district_ids, nfamily, BAND_UNBOUNDED);
    return pick;
}
