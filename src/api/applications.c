/* Applications: submission, the work queue, one application, and the decisions (SPEC §3, §8).
 *
 * A body that is not well formed (a missing or mistyped field, an unknown value of an
 * enumeration, a date that does not exist, an IIN that is not 12 digits) is a 422 and changes
 * nothing. A well-formed application is always stored, and the checks of §3 decide its status:
 * a wrong IIN check digit, a birth date in the future or an unknown settlement is a refusal with
 * INVALID_DATA, not an HTTP error, because refusals are data the campaign is reported by. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/applications.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"

#define PAGE_DEFAULT 50
#define PAGE_MAX     500

static const char *const residencies[] = {"citizen",
                                          "resident_foreigner",
                                          "stateless",
                                          "eaeu_migrant",
                                          "eaeu_migrant_family",
                                          "temporary_foreigner",
                                          NULL};
static const char *const sexes[] = {"male", "female", NULL};
static const char *const channels[] = {"egov", "in_person", NULL};
static const char *const grounds[] = {"campaign", "relocation", "clinic_closed", NULL};
static const char *const relations[] = {"mother", "father", "guardian", NULL};
static const char *const statuses[] = {"pending", "approved", "refused", "withdrawn", NULL};

/* Twelve digits (iin_shaped): the check digit is one of the §3 checks (INVALID_DATA), not a
 * format rule. */
static const char *const twelve_msg = "must be 12 digits";

/* The parsed body: strings borrowed from the JSON document. */
struct submission {
    json_t *person, *insurance, *representative, *family;
    const char *iin, *last_name, *first_name, *middle_name, *birth_date, *sex, *residency;
    const char *insurance_number, *insurance_valid_until;
    const char *settlement, *address, *channel, *grounds, *birth_certificate;
    const char *rep_iin, *rep_relation;
    long long polyclinic_id, district_id;
    bool has_district, has_rep_iin, has_rep_relation, has_certificate, has_insurance;
};

static bool parse_submission(json_t *body, struct submission *s, struct response *res)
{
    *s = (struct submission){0};
    const struct jfield top[] = {
        {"person", JF_OBJECT, JF_REQUIRED, &s->person, .present = NULL},
        {"settlement", JF_STRING, JF_REQUIRED, &s->settlement, .valid = kato_valid,
         .valid_msg = "must be a KATO code of 9 digits"},
        {"address", JF_STRING, JF_NULLABLE, &s->address, .max = 500},
        {"polyclinic_id", JF_INT, JF_REQUIRED, &s->polyclinic_id, .min = 1, .max = INT64_MAX},
        {"district_id", JF_INT, JF_NULLABLE, &s->district_id, .present = &s->has_district, .min = 0,
         .max = INT64_MAX},
        {"channel", JF_STRING, JF_REQUIRED, &s->channel, .one_of = channels},
        {"grounds", JF_STRING, JF_REQUIRED, &s->grounds, .one_of = grounds},
        {"representative", JF_OBJECT, JF_NULLABLE, &s->representative, .present = NULL},
        {"birth_certificate", JF_STRING, JF_NULLABLE, &s->birth_certificate,
         .present = &s->has_certificate, .max = 64},
        {"family_iins", JF_STRINGS, JF_NULLABLE, &s->family, .max = 20, .valid = iin_shaped,
         .valid_msg = twelve_msg},
    };
    bool ok = jfields_parse(body, "", top, sizeof top / sizeof top[0], res);
    if (s->person) {
        const struct jfield person[] = {
            {"iin", JF_STRING, JF_REQUIRED, &s->iin, .valid = iin_shaped, .valid_msg = twelve_msg},
            {"last_name", JF_STRING, JF_REQUIRED, &s->last_name, .min = 1, .max = 200},
            {"first_name", JF_STRING, JF_REQUIRED, &s->first_name, .min = 1, .max = 200},
            {"middle_name", JF_STRING, JF_NULLABLE, &s->middle_name, .max = 200},
            {"birth_date", JF_DATE, JF_REQUIRED, &s->birth_date, .present = NULL},
            {"sex", JF_STRING, JF_REQUIRED, &s->sex, .one_of = sexes},
            {"residency", JF_STRING, JF_REQUIRED, &s->residency, .one_of = residencies},
            {"insurance_contract", JF_OBJECT, JF_NULLABLE, &s->insurance,
             .present = &s->has_insurance},
        };
        ok =
            jfields_parse(s->person, "person", person, sizeof person / sizeof person[0], res) && ok;
    }
    if (s->insurance) {
        const struct jfield insurance[] = {
            {"number", JF_STRING, JF_REQUIRED, &s->insurance_number, .min = 1, .max = 64},
            {"valid_until", JF_DATE, JF_REQUIRED, &s->insurance_valid_until, .present = NULL},
        };
        ok = jfields_parse(s->insurance, "person.insurance_contract", insurance,
                           sizeof insurance / sizeof insurance[0], res) &&
             ok;
    }
    if (s->representative) {
        /* Missing parts are not an error here: they are the CHILD_DOCUMENTS_MISSING check. */
        const struct jfield rep[] = {
            {"iin", JF_STRING, JF_NULLABLE, &s->rep_iin, .present = &s->has_rep_iin,
             .valid = iin_shaped, .valid_msg = twelve_msg},
            {"relation", JF_STRING, JF_NULLABLE, &s->rep_relation, .present = &s->has_rep_relation,
             .one_of = relations},
        };
        ok = jfields_parse(s->representative, "representative", rep, sizeof rep / sizeof rep[0],
                           res) &&
             ok;
    }
    return ok;
}

/* "{IIN,IIN}" from the validated family_iins (digits only, so nothing to quote). */
static char *family_literal(json_t *family)
{
    size_t n = json_array_size(family);
    char *out = malloc(n * 13 + 3);
    if (!out)
        return NULL;
    size_t o = 0;
    out[o++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = ',';
        memcpy(out + o, json_string_value(json_array_get(family, i)), 12);
        o += 12;
    }
    out[o++] = '}';
    out[o] = '\0';
    return out;
}

/* The registrar's limits on submission (SPEC §6): in person, at its own polyclinic. */
static bool may_submit(const struct principal *who, const struct submission *s,
                       struct response *res)
{
    if (who->role != ROLE_REGISTRAR)
        return true;
    if (strcmp(s->channel, "in_person") != 0) {
        res_problem(res, API_FORBIDDEN, "A registrar submits only with channel in_person");
        return false;
    }
    if (s->polyclinic_id != who->polyclinic_id) {
        res_problem(res, API_FORBIDDEN, "A registrar submits only to its own polyclinic");
        return false;
    }
    return true;
}

static enum api_status submit_reply(struct response *res, enum db_status st,
                                    enum submit_outcome outcome, long long other, char *json)
{
    if (st != DB_OK)
        return res_db_problem(res, st);
    switch (outcome) {
    case SUBMIT_CREATED:
    case SUBMIT_REPLAYED: {
        /* application_json() renders the id first, compacted: {"id":N,... */
        if (json && strncmp(json, "{\"id\":", 6) == 0)
            snprintf(res->location, sizeof res->location, "/v1/applications/%lld",
                     strtoll(json + 6, NULL, 10));
        return res_json_text(res, 201, json);
    }
    case SUBMIT_PENDING_EXISTS:
        res_problem(res, API_CONFLICT,
                    "The person already has a pending application %lld; withdraw it or wait "
                    "for the decision",
                    other);
        res->extra = json_pack("{sI}", "pending_application_id", (json_int_t)other);
        return res->problem;
    case SUBMIT_IDEMPOTENCY_MISMATCH:
        res_field_error(res, "Idempotency-Key",
                        "was already used with another request body (application %lld)", other);
        return res_validation_result(res);
    case SUBMIT_UNKNOWN_POLYCLINIC:
        res_field_error(res, "polyclinic_id", "no such polyclinic");
        return res_validation_result(res);
    case SUBMIT_UNKNOWN_DISTRICT:
        res_field_error(res, "district_id", "is not a district of that polyclinic");
        return res_validation_result(res);
    }
    return res_problem(res, API_INTERNAL, NULL);
}

HANDLER(api_applications_submit)
{
    json_t *body;
    if (req_json_object(req, res, &body) != API_OK)
        return res->problem;
    enum api_status rs;
    char *person = NULL, *rep = NULL, *family = NULL, *canonical = NULL;
    struct submission s;
    const char *key = req_header(req, "Idempotency-Key");
    if (key && (strlen(key) < 1 || strlen(key) > 200))
        res_field_error(res, "Idempotency-Key", "must be 1 to 200 characters");
    if (!parse_submission(body, &s, res) || res_validation_result(res) != API_OK) {
        rs = res_validation_result(res);
        goto out;
    }
    if (!may_submit(&req->who, &s, res)) {
        rs = res->problem;
        goto out;
    }
    person = json_dumps(s.person, JSON_COMPACT);
    rep = s.representative ? json_dumps(s.representative, JSON_COMPACT) : NULL;
    family = family_literal(s.family);
    canonical = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!person || !family || !canonical || (s.representative && !rep)) {
        rs = res_problem(res, API_INTERNAL, NULL);
        goto out;
    }
    struct application_input in = {
        .iin = s.iin,
        .birth_date = s.birth_date,
        .male = strcmp(s.sex, "male") == 0,
        .residency = s.residency,
        .insurance_valid_until = s.insurance_valid_until,
        .settlement = s.settlement,
        .address = s.address,
        .polyclinic_id = s.polyclinic_id,
        .district_id = s.has_district ? s.district_id : 0,
        .channel = s.channel,
        .grounds = s.grounds,
        .rep_iin = s.rep_iin,
        .rep_relation = s.rep_relation,
        .birth_certificate = s.birth_certificate,
        .person_json = person,
        .representative_json = rep,
        .family_iins = family,
        .idempotency_key = key,
        .who = &req->who,
    };
    sha256_bytea_hex(canonical, strlen(canonical), in.request_hash);
    enum submit_outcome outcome;
    long long other = 0;
    char *json = NULL;
    enum db_status st = application_submit(req->app->db, &in, &outcome, &other, &json);
    rs = submit_reply(res, st, outcome, other, json);
out:
    free(person);
    free(rep);
    free(family);
    free(canonical);
    json_decref(body);
    return rs;
}

/* The path id; false (and a 404) when it is not one. */
static bool path_id(struct request *req, struct response *res, long long *id)
{
    if (parse_ll(req->params[0], 1, INT64_MAX, id))
        return true;
    res_problem(res, API_NOT_FOUND, "No such application");
    return false;
}

HANDLER(api_applications_get)
{
    long long id, poly;
    if (!path_id(req, res, &id))
        return res->problem;
    char *json = NULL;
    enum db_status st = application_get(req->app->db, id, &json, &poly);
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (!json || !may_act_on_polyclinic(&req->who, poly)) {
        free(json);
        return res_problem(res, API_NOT_FOUND, "No application %lld", id);
    }
    return res_json_text(res, 200, json);
}

HANDLER(api_applications_list)
{
    const char *poly = req_query(req, "polyclinic_id"), *status = req_query(req, "status");
    const char *overdue = req_query(req, "overdue");
    struct application_query q = {.limit = PAGE_DEFAULT};
    if (poly && !parse_ll(poly, 1, INT64_MAX, &q.polyclinic_id))
        res_field_error(res, "polyclinic_id", "must be a polyclinic id");
    if (status) {
        bool known = false;
        for (const char *const *s = statuses; *s; s++)
            known = known || strcmp(*s, status) == 0;
        if (!known)
            res_field_error(res, "status", "must be pending, approved, refused or withdrawn");
        q.status = status;
    }
    if (overdue && strcmp(overdue, "true") != 0 && strcmp(overdue, "false") != 0)
        res_field_error(res, "overdue", "must be true or false");
    q.overdue = overdue && strcmp(overdue, "true") == 0;
    req_page(req, res, PAGE_DEFAULT, PAGE_MAX, &q.after_id, &q.limit);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    if (req->who.role == ROLE_REGISTRAR) {
        if (q.polyclinic_id && q.polyclinic_id != req->who.polyclinic_id)
            return res_problem(res, API_NOT_FOUND, "No polyclinic %lld among yours",
                               q.polyclinic_id);
        q.polyclinic_id = req->who.polyclinic_id;
    }
    char *json = NULL;
    enum db_status st = application_list(req->app->db, &q, &json);
    return res_db_json(res, st, json, NULL);
}

/* Reads an optional JSON body: none at all is an empty object. */
static enum api_status optional_body(struct request *req, struct response *res, json_t **body)
{
    if (req->body_len == 0) {
        *body = json_object();
        return *body ? API_OK : res_problem(res, API_INTERNAL, NULL);
    }
    return req_json_object(req, res, body);
}

static enum api_status decide(struct request *req, struct response *res, enum decision what)
{
    long long id;
    if (!path_id(req, res, &id))
        return res->problem;
    json_t *body;
    if (optional_body(req, res, &body) != API_OK)
        return res->problem;
    struct decision_input in = {.id = id, .what = what, .who = &req->who};
    bool has_district = false;
    bool ok = true;
    if (what == DECIDE_APPROVE) {
        const struct jfield spec[] = {
            {"district_id", JF_INT, JF_NULLABLE, &in.district_id, .present = &has_district,
             .min = 1, .max = INT64_MAX},
        };
        ok = jfields_parse(body, "", spec, 1, res);
    } else if (what == DECIDE_REFUSE) {
        const struct jfield spec[] = {
            {"reason", JF_STRING, JF_REQUIRED, &in.reason, .min = 1, .max = 64},
            {"comment", JF_STRING, JF_NULLABLE, &in.comment, .max = 2000},
        };
        ok = jfields_parse(body, "", spec, 2, res);
    } else {
        ok = jfields_parse(body, "", NULL, 0, res);
    }
    enum api_status rs;
    if (!ok) {
        rs = res_validation_result(res);
        goto out;
    }
    enum decide_outcome outcome;
    char *json = NULL;
    enum db_status st = application_decide(req->app->db, &in, &outcome, &json);
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    switch (outcome) {
    case DECIDED:
        rs = res_json_text(res, 200, json);
        json = NULL;
        break;
    case DECIDE_NOT_FOUND:
        rs = res_problem(res, API_NOT_FOUND, "No application %lld", id);
        break;
    case DECIDE_NOT_PENDING: {
        json_t *doc = json ? json_loads(json, 0, NULL) : NULL;
        const char *now = json_string_value(json_object_get(doc, "status"));
        rs = res_problem(res, API_CONFLICT,
                         "Application %lld is already %s; a decided application never changes", id,
                         now ? now : "decided");
        res->extra = json_pack("{sO}", "application", doc ? doc : json_null());
        json_decref(doc);
        break;
    }
    case DECIDE_BAD_REASON:
        res_field_error(res, "reason", "must be a refusal reason code (see /v1/refusal-reasons)");
        rs = res_validation_result(res);
        break;
    case DECIDE_BAD_DISTRICT:
        res_field_error(res, "district_id", "is not a district of the application's polyclinic");
        rs = res_validation_result(res);
        break;
    default:
        rs = res_problem(res, API_INTERNAL, NULL);
    }
    free(json);
out:
    json_decref(body);
    return rs;
}

HANDLER(api_applications_approve)
{
    return decide(req, res, DECIDE_APPROVE);
}

HANDLER(api_applications_refuse)
{
    return decide(req, res, DECIDE_REFUSE);
}

HANDLER(api_applications_withdraw)
{
    return decide(req, res, DECIDE_WITHDRAW);
}
