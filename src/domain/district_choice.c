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

static long find_fitting(const struct district_option *ds, size_t n, int age, long long id)
{
    for (size_t i = 0; i < n; i++)
        if (ds[i].id == id)
            return district_fits(&ds[i], age) ? (long)i : -1;
    return -1;
}

long choose_district(const struct district_option *ds, size_t n, int age, long long requested_id,
                     const long long *family_district_ids, size_t nfamily)
{
    long pick = requested_id ? find_fitting(ds, n, age, requested_id) : -1;
    for (size_t f = 0; pick < 0 && f < nfamily; f++)
        pick = find_fitting(ds, n, age, family_district_ids[f]);
    if (pick >= 0)
        return pick;
    for (size_t i = 0; i < n; i++) {
        if (!district_fits(&ds[i], age))
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
