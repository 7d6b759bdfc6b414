/* Applications: submission with the SPEC §3 checks, decisions, district assignment,
 * attachments and transfers. Each operation is one database transaction, serialised per person
 * by an advisory lock on the IIN; district rows are locked before their load is read, so a
 * district never holds more people than its capacity. */
#ifndef ATTACHD_APPLICATIONS_H
#define ATTACHD_APPLICATIONS_H

#include <stdbool.h>
#include "attachd/auth.h"
#include "attachd/dates.h"
#include "attachd/db.h"

/* A parsed, well-formed submission. Strings are borrowed; the JSON texts are compact renderings
 * of the request's objects (NULL when absent). */
struct application_input {
    const char *iin;
    const char *birth_date; /* YYYY-MM-DD, a real date */
    bool male;
    const char *residency;
    const char *insurance_valid_until; /* NULL: no insurance contract */
    const char *settlement, *address;
    long long polyclinic_id, district_id; /* district_id 0: none requested */
    const char *channel, *grounds;
    const char *rep_iin, *rep_relation, *birth_certificate; /* NULL when absent */
    /* The person and the representative as jsonb prints them (jsonb_text): stored, and embedded
     * as they are in the answer to the submission. */
    const char *person_json, *representative_json;
    const char *family_iins;     /* PostgreSQL array literal of 12-digit IINs, "{}" when none */
    const char *idempotency_key; /* NULL when absent */
    char request_hash[67];       /* \x + hex SHA-256 of the canonical body */
    const struct principal *who;
};

enum submit_outcome {
    SUBMIT_CREATED,
    SUBMIT_REPLAYED,             /* same token, Idempotency-Key and body: the stored one */
    SUBMIT_PENDING_EXISTS,       /* 409; other_id names it, other_polyclinic_id its polyclinic */
    SUBMIT_IDEMPOTENCY_MISMATCH, /* 422: the key was used with another body */
    SUBMIT_UNKNOWN_POLYCLINIC,   /* 422 polyclinic_id */
    SUBMIT_UNKNOWN_DISTRICT,     /* 422 district_id: not a district of that polyclinic */
};

struct submit_result {
    enum submit_outcome outcome;
    long long other_id, other_polyclinic_id;
    char *json; /* CREATED/REPLAYED: the application's rendering (caller frees), else NULL */
};

/* Stores the application with its outcome (the §3 checks, then auto_approve). */
enum db_status application_submit(struct db_pool *pool, const struct application_input *in,
                                  struct submit_result *res) __attribute__((warn_unused_result));

/* The same as application_submit, in the same transaction code, rolled back: what a submission
 * would answer at this moment, storing nothing (§11 "Dry run"). The Idempotency-Key is not
 * looked at. res->json is the application as it would have been (its id is not kept). */
enum db_status application_dry_run(struct db_pool *pool, const struct application_input *in,
                                   struct submit_result *res) __attribute__((warn_unused_result));

enum decision { DECIDE_APPROVE, DECIDE_REFUSE, DECIDE_WITHDRAW };

struct decision_input {
    long long id;
    enum decision what;
    long long district_id;       /* approve: 0 or the district to prefer */
    const char *district_number; /* approve: NULL or the district to prefer, by its number */
    const char *reason;          /* refuse: catalogue code */
    const char *comment;         /* refuse: optional */
    const struct principal *who;
};

enum decide_outcome {
    DECIDED,
    DECIDE_NOT_FOUND,   /* unknown, or another polyclinic's */
    DECIDE_NOT_PENDING, /* already decided: *json is the application as it stands */
    DECIDE_BAD_REASON,  /* refusal code not in the catalogue */
    DECIDE_BAD_DISTRICT /* not a district of that polyclinic */
};

/* Why an approval did not take the district it preferred (§12 `district_note`). */
struct district_note {
    long long requested_id; /* 0: nothing to say */
    long long chosen_id;    /* 0: none (refused) */
    const char *reason;     /* "full", "age" or "closed" (static) */
};

struct decide_result {
    enum decide_outcome outcome;
    char *json; /* DECIDED, NOT_PENDING: the application (caller frees) */
    struct district_note note;
};

enum db_status application_decide(struct db_pool *pool, const struct decision_input *in,
                                  struct decide_result *res) __attribute__((warn_unused_result));

/* One application's rendering and polyclinic; *json NULL when there is no such id. */
enum db_status application_get(struct db_pool *pool, long long id, char **json,
                               long long *polyclinic_id) __attribute__((warn_unused_result));

struct application_query {
    long long polyclinic_id;                   /* 0: all */
    const char *status;                        /* NULL: any */
    bool overdue;                              /* pending past decision_due_at */
    const char *iin, *channel, *grounds;       /* NULL: any */
    const char *submitted_from, *submitted_to; /* YYYY-MM-DD, both days included; NULL: open */
    long long after_id;                        /* cursor */
    int limit;
};

/* A page of the work queue: {"items": [...], "next_cursor": "ID"|null}. */
enum db_status application_list(struct db_pool *pool, const struct application_query *q,
                                char **json) __attribute__((warn_unused_result));

#endif
