#include "attachd/checks.h"

#include <string.h>
#include "attachd/kzid.h"

const char *refusal_code(enum refusal r)
{
    static const char *const codes[] = {
        [REFUSAL_NONE] = NULL,
        [REFUSE_INVALID_DATA] = "INVALID_DATA",
        [REFUSE_NOT_ELIGIBLE] = "NOT_ELIGIBLE",
        [REFUSE_OUTSIDE_CAMPAIGN] = "OUTSIDE_CAMPAIGN",
        [REFUSE_CLINIC_NOT_ACCEPTING] = "CLINIC_NOT_ACCEPTING",
        [REFUSE_OTHER_SETTLEMENT] = "OTHER_SETTLEMENT",
        [REFUSE_CHILD_DOCUMENTS_MISSING] = "CHILD_DOCUMENTS_MISSING",
        [REFUSE_ALREADY_ATTACHED] = "ALREADY_ATTACHED",
        [REFUSE_REPEAT_CHANGE] = "REPEAT_CHANGE",
        [REFUSE_CAPACITY_EXCEEDED] = "CAPACITY_EXCEEDED",
    };
    return (unsigned)r < sizeof codes / sizeof codes[0] ? codes[r] : NULL;
}

unsigned iin_warnings(const char *iin, day_t birth_date, bool male)
{
    struct iin_facts facts;
    if (!iin_facts(iin, &facts))
        return 0;
    unsigned w = 0;
    int y, m, d;
    civil_from_days(birth_date, &y, &m, &d);
    if (facts.year != y || facts.month != m || facts.day != d)
        w |= WARN_IIN_BIRTH_DATE_MISMATCH;
    if (facts.male != male)
        w |= WARN_IIN_SEX_MISMATCH;
    return w;
}

static bool is_one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* §4: permanent residents always; EAEU migrants with insurance valid when attachment begins. */
static bool eligible(const struct application_facts *f)
{
    static const char *const permanent[] = {"citizen", "resident_foreigner", "stateless", NULL};
    static const char *const eaeu[] = {"eaeu_migrant", "eaeu_migrant_family", NULL};
    if (is_one_of(f->residency, permanent))
        return true;
    if (is_one_of(f->residency, eaeu))
        return f->has_insurance && f->insurance_valid_until >= f->effective_on;
    return false;
}

static bool child_documents_present(const struct application_facts *f)
{
    return f->representative_iin && f->representative_relation && f->representative_relation[0] &&
           f->birth_certificate && f->birth_certificate[0];
}

day_t effective_date(bool campaign_grounds, const day_t *campaign_effective_on, day_t today)
{
    day_t tomorrow = today + 1;
    if (campaign_grounds && campaign_effective_on && *campaign_effective_on > tomorrow)
        return *campaign_effective_on;
    return tomorrow;
}

void run_checks(const struct application_facts *f, struct check_outcome *out)
{
    out->age = age_years(f->birth_date, f->today);
    out->warnings = iin_warnings(f->iin, f->birth_date, f->male);
    enum refusal r = REFUSAL_NONE;
    bool minor = out->age < ADULT_AGE;
    if (!iin_valid(f->iin) || (f->representative_iin && !iin_valid(f->representative_iin)) ||
        f->birth_date > f->today || !f->settlement_known)
        r = REFUSE_INVALID_DATA;
    else if (!eligible(f))
        r = REFUSE_NOT_ELIGIBLE;
    else if (f->campaign_grounds && !f->in_campaign)
        r = REFUSE_OUTSIDE_CAMPAIGN;
    else if (!f->clinic_accepting)
        r = REFUSE_CLINIC_NOT_ACCEPTING;
    else if (!f->clinic_serves_settlement)
        r = REFUSE_OTHER_SETTLEMENT;
    else if (minor && !child_documents_present(f))
        r = REFUSE_CHILD_DOCUMENTS_MISSING;
    else if (f->already_attached_there)
        r = REFUSE_ALREADY_ATTACHED;
    else if (f->campaign_grounds && f->has_attachment && f->changes_used >= f->max_changes)
        r = REFUSE_REPEAT_CHANGE;
    else if (!f->has_room)
        r = REFUSE_CAPACITY_EXCEEDED;
    out->refusal = r;
}
