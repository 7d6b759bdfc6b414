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
        [REFUSE_GROUNDS_NOT_MET] = "GROUNDS_NOT_MET",
        [REFUSE_REPEAT_CHANGE] = "REPEAT_CHANGE",
        [REFUSE_CAPACITY_EXCEEDED] = "CAPACITY_EXCEEDED",
    };
    return (unsigned)r < sizeof codes / sizeof codes[0] ? codes[r] : NULL;
}

static bool is_one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

bool registrar_may_refuse_with(const char *code)
{
    static const char *const allowed[] = {"INVALID_DATA",      "OTHER_SETTLEMENT",
                                          "CAPACITY_EXCEEDED", "CHILD_DOCUMENTS_MISSING",
                                          "ALREADY_ATTACHED",  NULL};
    return is_one_of(code, allowed);
}

const char *warning_code(unsigned bit)
{
    switch (bit) {
    case WARN_IIN_BIRTH_DATE_MISMATCH:
        return "IIN_BIRTH_DATE_MISMATCH";
    case WARN_IIN_SEX_MISMATCH:
        return "IIN_SEX_MISMATCH";
    case WARN_IIN_CENTURY_UNKNOWN:
        return "IIN_CENTURY_UNKNOWN";
    default:
        return NULL;
    }
}

bool grounds_parse(const char *s, enum grounds *out)
{
    static const char *const names[] = {[GROUNDS_CAMPAIGN] = "campaign",
                                        [GROUNDS_RELOCATION] = "relocation",
                                        [GROUNDS_CLINIC_CLOSED] = "clinic_closed"};
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum grounds)i;
            return true;
        }
    return false;
}

unsigned iin_warnings(const char *iin, day_t birth_date, bool male)
{
    if (!iin_shaped(iin))
        return 0;
    struct iin_facts facts;
    if (!iin_facts(iin, &facts))
        return WARN_IIN_CENTURY_UNKNOWN; /* nothing encoded to disagree with */
    unsigned w = 0;
    int y, m, d;
    civil_from_days(birth_date, &y, &m, &d);
    if (facts.year != y || facts.month != m || facts.day != d)
        w |= WARN_IIN_BIRTH_DATE_MISMATCH;
    if (facts.male != male)
        w |= WARN_IIN_SEX_MISMATCH;
    return w;
}

/* A separator of address words: what people write differently for the same address. */
static bool address_separator(unsigned c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == '.';
}

/* The next code point of UTF-8 text (a byte that starts no valid sequence is itself). */
static unsigned next_code_point(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    if (p[0] >= 0xc0 && p[0] < 0xe0 && (p[1] & 0xc0) == 0x80) {
        *s += 2;
        return ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
    }
    *s += 1;
    return p[0];
}

/* Lower case of the letters addresses are written in: Latin, and the Cyrillic of Kazakh and
 * Russian (U+0400..U+04FF, where the extra letters come in upper/lower pairs). */
static unsigned fold_case(unsigned c)
{
    if (c >= 'A' && c <= 'Z')
        return c + 32;
    if (c >= 0x410 && c <= 0x42f) /* А..Я */
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40f) /* Ѐ..Џ, І */
        return c + 0x50;
    if ((c >= 0x460 && c <= 0x481) || (c >= 0x48a && c <= 0x4bf) || (c >= 0x4d0 && c <= 0x4ff))
        return c | 1u; /* Ғ Қ Ң Ү Ұ Һ Ә Ө ...: upper even, lower odd */
    if (c >= 0x4c1 && c <= 0x4ce)
        return (c & 1u) ? c + 1 : c;
    return c;
}

/* Skips separators; true when a word follows. */
static bool at_word(const char **s)
{
    while (**s && address_separator((unsigned char)**s))
        (*s)++;
    return **s != '\0';
}

bool same_address(const char *a, const char *b)
{
    a = a ? a : "";
    b = b ? b : "";
    for (;;) {
        bool wa = at_word(&a), wb = at_word(&b);
        if (wa != wb)
            return false;
        if (!wa)
            return true;
        /* one word each, letter by letter */
        while (*a && !address_separator((unsigned char)*a) && *b &&
               !address_separator((unsigned char)*b))
            if (fold_case(next_code_point(&a)) != fold_case(next_code_point(&b)))
                return false;
        bool enda = !*a || address_separator((unsigned char)*a);
        bool endb = !*b || address_separator((unsigned char)*b);
        if (enda != endb)
            return false;
    }
}

bool grounds_shown(const struct application_facts *f)
{
    switch (f->grounds) {
    case GROUNDS_CAMPAIGN:
        return true;
    case GROUNDS_RELOCATION:
        /* Nothing on record (e.g. an imported attachment): nothing to compare. */
        if (!f->record_settlement)
            return true;
        /* A move shows where to: with an address on record, a relocation that gives none
         * (absent or blank) shows nothing, and the registrar cannot refuse with this code. */
        if (!same_address(f->record_address, NULL) && same_address(f->address, NULL))
            return false;
        return strcmp(f->record_settlement, f->settlement ? f->settlement : "") != 0 ||
               !same_address(f->record_address, f->address);
    case GROUNDS_CLINIC_CLOSED:
        return f->has_current_attachment && !f->current_clinic_takes_part;
    }
    return false;
}

bool may_attach(const char *residency, bool has_insurance, day_t insured_until, day_t effective_on)
{
    static const char *const permanent[] = {"citizen", "resident_foreigner", "stateless", NULL};
    static const char *const eaeu[] = {"eaeu_migrant", "eaeu_migrant_family", NULL};
    if (is_one_of(residency, permanent))
        return true;
    if (is_one_of(residency, eaeu))
        return has_insurance && insured_until >= effective_on;
    return false;
}

static bool eligible(const struct application_facts *f)
{
    return may_attach(f->residency, f->has_insurance, f->insurance_valid_until, f->effective_on);
}

static bool child_documents_present(const struct application_facts *f)
{
    return f->representative_iin && f->representative_relation && f->representative_relation[0] &&
           f->birth_certificate && f->birth_certificate[0];
}

static bool has_room(const struct application_facts *f, int placement_age)
{
    for (size_t i = 0; i < f->ndistricts; i++)
        if (district_fits(&f->districts[i], placement_age))
            return true;
    return false;
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
    /* §3: a representative by the age on the day of submission, the district kind by the age
     * on the day the attachment begins. */
    out->age = age_years(f->birth_date, f->today);
    out->placement_age = age_years(f->birth_date, f->effective_on);
    out->warnings = iin_warnings(f->iin, f->birth_date, f->male);
    enum refusal r = REFUSAL_NONE;
    bool minor = out->age < ADULT_AGE;
    bool campaign = f->grounds == GROUNDS_CAMPAIGN;
    if (!iin_valid(f->iin) || (f->representative_iin && !iin_valid(f->representative_iin)) ||
        f->birth_date > f->today || !f->settlement_known)
        r = REFUSE_INVALID_DATA;
    else if (!eligible(f))
        r = REFUSE_NOT_ELIGIBLE;
    else if (campaign && !f->in_campaign)
        r = REFUSE_OUTSIDE_CAMPAIGN;
    else if (!f->clinic_accepting)
        r = REFUSE_CLINIC_NOT_ACCEPTING;
    else if (!f->clinic_serves_settlement)
        r = REFUSE_OTHER_SETTLEMENT;
    else if (minor && !child_documents_present(f))
        r = REFUSE_CHILD_DOCUMENTS_MISSING;
    else if (f->already_attached_there)
        r = REFUSE_ALREADY_ATTACHED;
    else if (!grounds_shown(f))
        r = REFUSE_GROUNDS_NOT_MET;
    else if (campaign && f->has_current_attachment && f->changes_used >= f->max_changes)
        r = REFUSE_REPEAT_CHANGE;
    else if (!has_room(f, out->placement_age))
        r = REFUSE_CAPACITY_EXCEEDED;
    out->refusal = r;
    /* A warning or a relocation (whose address a registrar compares, §11) waits for a person. */
    out->approve_now = r == REFUSAL_NONE && f->auto_approve && out->warnings == 0 &&
                       f->grounds != GROUNDS_RELOCATION;
}

enum refusal approval_check(bool person_may_attach, bool clinic_takes_part,
                            const struct district_option *ds, size_t n, int placement_age,
                            long long preferred_id, const long long *family_district_ids,
                            size_t nfamily, long *pick)
{
    *pick = -1;
    if (!person_may_attach)
        return REFUSE_NOT_ELIGIBLE;
    if (!clinic_takes_part)
        return REFUSE_CLINIC_NOT_ACCEPTING;
    *pick = choose_district(ds, n, placement_age, preferred_id, family_district_ids, nfamily);
    return *pick < 0 ? REFUSE_CAPACITY_EXCEEDED : REFUSAL_NONE;
}
