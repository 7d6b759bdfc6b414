/* The nine submission checks of SPEC §3, in their order, over facts gathered beforehand.
 * Pure: the caller reads the database, this decides. */
#ifndef ATTACHD_CHECKS_H
#define ATTACHD_CHECKS_H

#include <stdbool.h>
#include "attachd/dates.h"

enum refusal {
    REFUSAL_NONE = 0,
    REFUSE_INVALID_DATA,
    REFUSE_NOT_ELIGIBLE,
    REFUSE_OUTSIDE_CAMPAIGN,
    REFUSE_CLINIC_NOT_ACCEPTING,
    REFUSE_OTHER_SETTLEMENT,
    REFUSE_CHILD_DOCUMENTS_MISSING,
    REFUSE_ALREADY_ATTACHED,
    REFUSE_REPEAT_CHANGE,
    REFUSE_CAPACITY_EXCEEDED,
};

/* The catalogue code (refusal_reasons.code); NULL for REFUSAL_NONE. */
const char *refusal_code(enum refusal r);

#define WARN_IIN_BIRTH_DATE_MISMATCH 1u
#define WARN_IIN_SEX_MISMATCH        2u

#define ADULT_AGE 18

struct application_facts {
    /* from the request */
    const char *iin;
    day_t birth_date;
    bool male;
    const char *residency;
    bool has_insurance;
    day_t insurance_valid_until;
    bool campaign_grounds; /* grounds == campaign (relocation/clinic_closed are all-year) */
    const char *representative_iin; /* NULL when absent */
    const char *representative_relation;
    const char *birth_certificate;
    /* from the database, at submission */
    day_t today; /* local date (Asia/Almaty) */
    bool settlement_known;
    bool in_campaign;      /* a campaign window contains today */
    day_t effective_on;    /* when the attachment would begin */
    bool clinic_accepting; /* accepting AND fsms_contract */
    bool clinic_serves_settlement;
    bool already_attached_there;
    bool has_attachment; /* a live attachment elsewhere: this would be a change */
    int changes_used, max_changes;
    bool has_room; /* an open district of a fitting kind has a free place */
};

struct check_outcome {
    enum refusal refusal;
    unsigned warnings; /* WARN_* bits: shown to the registrar, never a refusal */
    int age;           /* whole years on `today` */
};

/* When an approval takes effect (§3): campaign grounds on the campaign's effective_on (NULL:
 * no campaign), but never before tomorrow; relocation and clinic_closed tomorrow. */
day_t effective_date(bool campaign_grounds, const day_t *campaign_effective_on, day_t today);

/* Runs the checks in SPEC order; the first failing one names the refusal. */
void run_checks(const struct application_facts *f, struct check_outcome *out);

/* Warnings only: where the IIN's encoded birth date or sex disagrees with the application. */
unsigned iin_warnings(const char *iin, day_t birth_date, bool male);

#endif
