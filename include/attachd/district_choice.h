/* Which district an approved person joins (SPEC §3). Pure. */
#ifndef ATTACHD_DISTRICT_CHOICE_H
#define ATTACHD_DISTRICT_CHOICE_H

#include <stdbool.h>
#include <stddef.h>

struct district_option {
    long long id;
    const char *number;
    int min_age, max_age; /* max_age < 0: no upper bound */
    int capacity, load;
    bool open;
};

/* True when the district is open, serves `age` and has a free place. */
bool district_fits(const struct district_option *d, int age);

/* The requested district if it fits; else the first family member's district that fits (in
 * the order given); else the fitting district with the most free places, ties to the lowest
 * number. Returns its index in ds, or -1 when none fits. */
long choose_district(const struct district_option *ds, size_t n, int age, long long requested_id,
                     const long long *family_district_ids, size_t nfamily);

/* Why the district cannot take a person of `age`: "closed", "age" (its kind does not serve
 * that age) or "full"; NULL when it can (district_fits). */
const char *district_unfit_reason(const struct district_option *d, int age);
/* Where a child who has passed the upper age of their pediatric district goes (SPEC §11): a
 * district with an upper age bound that still serves `age` (pediatric_0_14 for ages 7-14) if one
 * fits, else one without a bound (gp; therapist from 15); in each, §3's order without a
 * requested district (family first, then most free places, ties to the lowest number). -1 when
 * none fits. */
long choose_age_out_district(const struct district_option *ds, size_t n, int age,
                             const long long *family_district_ids, size_t nfamily);

/* Orders district numbers: numerically when both are digits only, else bytewise. */
int district_number_cmp(const char *a, const char *b);

#endif
