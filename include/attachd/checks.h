/* The ten submission checks of SPEC §3, in their order, over facts gathered beforehand, and
 * the rules of approval (§3, §11). Pure: the caller reads the database, this decides. */
#ifndef ATTACHD_CHECKS_H
#define ATTACHD_CHECKS_H

#include <stdbool.h>
#include <stddef.h>
#include "attachd/dates.h"
#include "attachd/district_choice.h"

enum refusal {
    REFUSAL_NONE = 0,
    REFUSE_INVALID_DATA,
    REFUSE_NOT_ELIGIBLE,
    REFUSE_OUTSIDE_CAMPAIGN,
    REFUSE_CLINIC_NOT_ACCEPTING,
    REFUSE_OTHER_SETTLEMENT,
    REFUSE_CHILD_DOCUMENTS_MISSING,
    REFUSE_ALREADY_ATTACHED,
    REFUSE_GROUNDS_NOT_MET,
    REFUSE_REPEAT_CHANGE,
    REFUSE_CAPACITY_EXCEEDED,
};

/* The catalogue code (refusal_reasons.code); NULL for REFUSAL_NONE. */
const char *refusal_code(enum refusal r);

/* Whether a registrar may refuse with this catalogue code (§11): the four official reasons
 * and ALREADY_ATTACHED; the others are the service's own outcomes. */
bool registrar_may_refuse_with(const char *code);

#define WARN_IIN_BIRTH_DATE_MISMATCH 1u
#define WARN_IIN_SEX_MISMATCH        2u
#define WARN_IIN_CENTURY_UNKNOWN     4u /* 7th digit outside 1..6: no birth date or sex encoded */
#define WARN_ALL                     7u

/* The code of one WARN_* bit ("IIN_SEX_MISMATCH"); NULL for anything else. */
const char *warning_code(unsigned bit);

enum grounds { GROUNDS_CAMPAIGN, GROUNDS_RELOCATION, GROUNDS_CLINIC_CLOSED };
/* "campaign" | "relocation" | "clinic_closed"; false for anything else. */
bool grounds_parse(const char *s, enum grounds *out);

#define ADULT_AGE 18

struct application_facts {
    /* from the request */
    const char *iin;
    day_t birth_date;
    bool male;
    const char *residency;
    bool has_insurance;
    day_t insurance_valid_until;
    enum grounds grounds; /* campaign, or relocation/clinic_closed (accepted all year) */
    const char *settlement, *address; /* where the person lives now, as applied for */
    const char *representative_iin;   /* NULL when absent */
    const char *representative_relation;
    const char *birth_certificate;
    /* from the database, at submission */
    day_t today; /* local date (Asia/Almaty) */
    bool settlement_known;
    bool in_campaign;      /* a campaign window contains today */
    day_t effective_on;    /* when the attachment would begin */
    bool clinic_accepting; /* accepting AND fsms_contract */
    bool clinic_serves_settlement;
    bool auto_approve; /* the polyclinic approves at once when nothing needs a registrar */
    bool already_attached_there; /* a live attachment (current or upcoming) at that polyclinic */
    /* A current (begun) attachment: only then is another polyclinic a change (§11: a first
     * attachment never is, nor the replacement of an upcoming first attachment). */
    bool has_current_attachment;
    bool current_clinic_takes_part; /* the current polyclinic: accepting AND fsms_contract */
    /* The settlement and address of the application that made the latest live attachment;
     * NULL when the register has none (an imported attachment, or none at all). */
    const char *record_settlement, *record_address;
    int changes_used, max_changes;
    /* The polyclinic's districts with their loads, for the capacity check. */
    const struct district_option *districts;
    size_t ndistricts;
};

struct check_outcome {
    enum refusal refusal;
    unsigned warnings; /* WARN_* bits: shown to the registrar, never a refusal */
    int age;           /* whole years on `today`: whether a representative is needed */
    int placement_age; /* whole years on `effective_on`: which district kinds fit */
    bool approve_now;  /* passed, and the polyclinic may approve it without a registrar */
};

/* When an approval takes effect (§3): campaign grounds on the campaign's effective_on (NULL:
 * no campaign), but never before tomorrow; relocation and clinic_closed tomorrow. */
day_t effective_date(bool campaign_grounds, const day_t *campaign_effective_on, day_t today);

/* Runs the checks in SPEC order; the first failing one names the refusal. */
void run_checks(const struct application_facts *f, struct check_outcome *out);

/* Check 8 (§11): the grounds are shown. A relocation must change the settlement or the address
 * on record (nothing to compare: shown); clinic_closed needs a current polyclinic that no longer
 * takes part. Campaign grounds need nothing. */
bool grounds_shown(const struct application_facts *f);

/* Whether two addresses are the same place as written: equal once runs of white space, commas
 * and full stops are one separator and letters (Latin, Cyrillic with Kazakh) are of one case. */
bool same_address(const char *a, const char *b);

/* Warnings only: where the IIN's encoded birth date or sex disagrees with the application, or
 * the IIN encodes no century at all. */
unsigned iin_warnings(const char *iin, day_t birth_date, bool male);

/* §4 "who may attach": permanent residents always; EAEU migrants (and their families) only with
 * an insurance contract valid on the effective date (has_insurance, insured_until: its last day).
 */
bool may_attach(const char *residency, bool has_insurance, day_t insured_until, day_t effective_on);

/* The re-check of an approval, at that moment (§3, §4, §11): the person may still attach on the
 * effective date (may_attach: a relocation's effective date moves with the approval day, and an
 * EAEU migrant's insurance may end before it), the polyclinic still takes part, then a district
 * that is open, fits the age on the effective date and has room (choose_district). *pick is the
 * index in ds, -1 when refused. */
enum refusal approval_check(bool person_may_attach, bool clinic_takes_part,
                            const struct district_option *ds, size_t n, int placement_age,
                            long long preferred_id, const long long *family_district_ids,
                            size_t nfamily, long *pick);

#endif
