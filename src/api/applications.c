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
#include "attachd/checks.h"
#include "attachd/db_text.h"
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

/* The 409 for a second pending application names the open one only to a caller allowed to
 * read it (§11): a registrar of another polyclinic must not learn it exists. */
static enum api_status pending_exists(struct request *req, struct response *res,
                                      const struct submit_result *sr)
{
    if (!may_act_on_polyclinic(&req->who, sr->other_polyclinic_id))
        return res_problem(res, API_PENDING_EXISTS,
                           "The person already has a pending application at another polyclinic; "
                           "it must be withdrawn or decided first");
    res_problem(res, API_PENDING_EXISTS,
                "The person already has a pending application %lld; withdraw it or wait for the "
                "decision",
                sr->other_id);
    res->extra = json_pack("{sI}", "pending_application_id", (json_int_t)sr->other_id);
    return res->problem;
}

/* The answers every submission-like request shares: nothing stored, or stored by another. */
static enum api_status submit_problem(struct request *req, struct response *res,
                                      const struct submit_result *sr)
{
    switch (sr->outcome) {
    case SUBMIT_PENDING_EXISTS:
        return pending_exists(req, res, sr);
    case SUBMIT_IDEMPOTENCY_MISMATCH:
        res_field_error(res, "Idempotency-Key",
                        "was already used with another request body (application %lld)",
                        sr->other_id);
        return res_problem(res, API_IDEMPOTENCY_REUSE,
                           "This Idempotency-Key was already used by this token with another "
                           "request body");
    case SUBMIT_UNKNOWN_POLYCLINIC:
        res_field_error(res, "polyclinic_id", "no such polyclinic");
        return res_validation_result(res);
    case SUBMIT_UNKNOWN_DISTRICT:
        res_field_error(res, "district_id", "is not a district of that polyclinic");
        return res_validation_result(res);
    default:
        return res_problem(res, API_INTERNAL, NULL);
    }
}

static enum api_status submit_reply(struct request *req, struct response *res, enum db_status st,
                                    struct submit_result *sr)
{
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (sr->outcome != SUBMIT_CREATED && sr->outcome != SUBMIT_REPLAYED)
        return submit_problem(req, res, sr);
    /* application_json() renders the id first, compacted: {"id":N,... */
    if (sr->json && strncmp(sr->json, "{\"id\":", 6) == 0)
        snprintf(res->location, sizeof res->location, "/v1/applications/%lld",
                 strtoll(sr->json + 6, NULL, 10));
    res->idempotent_replayed = sr->outcome == SUBMIT_REPLAYED;
    char *json = sr->json;
    sr->json = NULL;
    return res_json_text(res, 201, json);
}

/* A submission body made into the input of the database layer; the texts are owned here. */
struct prepared {
    json_t *body;
    struct submission s;
    struct application_input in;
    char *person, *rep, *family, *canonical;
};

static void prepared_free(struct prepared *p)
{
    free(p->person);
    free(p->rep);
    free(p->family);
    free(p->canonical);
    json_decref(p->body);
}

/* An object of the body as PostgreSQL's jsonb prints it (its stored form, which the answer to
 * the submission embeds as it is); NULL when memory ran out. */
static char *jsonb_dump(const json_t *v)
{
    struct text_buf t = {0};
    if (jsonb_text(v, &t))
        return t.buf;
    free(t.buf);
    return NULL;
}

/* Reads and checks a submission body (the 422s, the registrar's limits); false when the
 * response is already a problem. */
static bool prepare_submission(struct request *req, struct response *res, const char *key,
                               struct prepared *p)
{
    *p = (struct prepared){0};
    if (req_json_object(req, res, &p->body) != API_OK)
        return false;
    struct submission *s = &p->s;
    if (key && (strlen(key) < 1 || strlen(key) > 200))
        res_field_error(res, "Idempotency-Key", "must be 1 to 200 characters");
    if (!parse_submission(p->body, s, res) || res_validation_result(res) != API_OK) {
        res_validation_result(res);
        return false;
    }
    if (!may_submit(&req->who, s, res))
        return false;
    p->person = jsonb_dump(s->person);
    p->rep = s->representative ? jsonb_dump(s->representative) : NULL;
    p->family = family_literal(s->family);
    p->canonical = json_dumps(p->body, JSON_COMPACT | JSON_SORT_KEYS);
    if (!p->person || !p->family || !p->canonical || (s->representative && !p->rep)) {
        res_problem(res, API_INTERNAL, NULL);
        return false;
    }
    p->in = (struct application_input){
        .iin = s->iin,
        .birth_date = s->birth_date,
        .male = strcmp(s->sex, "male") == 0,
        .residency = s->residency,
        .insurance_valid_until = s->insurance_valid_until,
        .settlement = s->settlement,
        .address = s->address,
        .polyclinic_id = s->polyclinic_id,
        .district_id = s->has_district ? s->district_id : 0,
        .channel = s->channel,
        .grounds = s->grounds,
        .rep_iin = s->rep_iin,
        .rep_relation = s->rep_relation,
        .birth_certificate = s->birth_certificate,
        .person_json = p->person,
        .representative_json = p->rep,
        .family_iins = p->family,
        .idempotency_key = key,
        .who = &req->who,
    };
    sha256_bytea_hex(p->canonical, strlen(p->canonical), p->in.request_hash);
    return true;
}

HANDLER(api_applications_submit)
{
    struct prepared p;
    if (!prepare_submission(req, res, req_header(req, "Idempotency-Key"), &p)) {
        prepared_free(&p);
        return res->problem;
    }
    struct submit_result sr;
    enum db_status st = application_submit(req->app->db, &p.in, &sr);
    enum api_status rs = submit_reply(req, res, st, &sr);
    free(sr.json);
    prepared_free(&p);
    return rs;
}

/* §11 "Dry run": the checks of a submission at this moment, nothing stored. */
HANDLER(api_eligibility)
{
    struct prepared p;
    if (!prepare_submission(req, res, NULL, &p)) {
        prepared_free(&p);
        return res->problem;
    }
    struct submit_result sr;
    enum db_status st = application_dry_run(req->app->db, &p.in, &sr);
    enum api_status rs;
    json_t *app = NULL;
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    if (sr.outcome != SUBMIT_CREATED) {
        rs = submit_problem(req, res, &sr);
        goto out;
    }
    app = sr.json ? json_loads(sr.json, 0, NULL) : NULL;
    if (!app) {
        rs = res_problem(res, API_INTERNAL, NULL);
        goto out;
    }
    rs = res_json(res, 200,
                  json_pack("{sO sO sO sO sO}", "outcome", json_object_get(app, "status"),
                            "refusal", json_object_get(app, "refusal"), "warnings",
                            json_object_get(app, "warnings"), "district_id",
                            json_object_get(app, "district_id"), "effective_on",
                            json_object_get(app, "effective_on")));
    if (!res->json)
        rs = res_problem(res, API_INTERNAL, NULL);
out:
    json_decref(app);
    free(sr.json);
    prepared_free(&p);
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

/* The value of `name` when it is one of `list` (a field error otherwise); NULL when absent. */
static const char *query_one_of(struct request *req, struct response *res, const char *name,
                                const char *const *list)
{
    const char *v = req_query(req, name);
    if (!v)
        return NULL;
    for (const char *const *s = list; *s; s++)
        if (strcmp(*s, v) == 0)
            return v;
    char allowed[160] = "";
    size_t used = 0;
    for (const char *const *s = list; *s && used < sizeof allowed; s++)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s",
                                 s == list ? "" : ", ", *s);
    res_field_error(res, name, "must be one of %s", allowed);
    return NULL;
}

static const char *query_date(struct request *req, struct response *res, const char *name)
{
    const char *v = req_query(req, name);
    if (v && !date_valid(v)) {
        res_field_error(res, name, "must be a date YYYY-MM-DD");
        return NULL;
    }
    return v;
}

HANDLER(api_applications_list)
{
    const char *poly = req_query(req, "polyclinic_id");
    const char *overdue = req_query(req, "overdue");
    struct application_query q = {
        .limit = PAGE_DEFAULT,
        .status = query_one_of(req, res, "status", statuses),
        .channel = query_one_of(req, res, "channel", channels),
        .grounds = query_one_of(req, res, "grounds", grounds),
        .iin = req_query(req, "iin"),
        .submitted_from = query_date(req, res, "submitted_from"),
        .submitted_to = query_date(req, res, "submitted_to"),
    };
    if (poly && !parse_ll(poly, 1, INT64_MAX, &q.polyclinic_id))
        res_field_error(res, "polyclinic_id", "must be a polyclinic id");
    if (q.iin && !iin_shaped(q.iin))
        res_field_error(res, "iin", "%s", twelve_msg);
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

/* Reads the decision's body into in; false when it is not valid (the response says why). */
static bool parse_decision(json_t *body, struct decision_input *in, struct response *res)
{
    if (in->what == DECIDE_APPROVE) {
        bool has_id = false, has_number = false;
        const struct jfield spec[] = {
            {"district_id", JF_INT, JF_NULLABLE, &in->district_id, .present = &has_id, .min = 1,
             .max = INT64_MAX},
            {"district_number", JF_STRING, JF_NULLABLE, &in->district_number,
             .present = &has_number, .min = 1, .max = 16},
        };
        if (!jfields_parse(body, "", spec, 2, res))
            return false;
        if (in->district_id && in->district_number) {
            res_field_error(res, "district_number",
                            "give district_id or district_number, not both");
            return false;
        }
        return true;
    }
    if (in->what == DECIDE_REFUSE) {
        const struct jfield spec[] = {
            {"reason", JF_STRING, JF_REQUIRED, &in->reason, .min = 1, .max = 64},
            {"comment", JF_STRING, JF_NULLABLE, &in->comment, .max = 2000},
        };
        if (!jfields_parse(body, "", spec, 2, res))
            return false;
        /* §11: the service's own outcomes are not a registrar's to give. */
        if (in->who->role == ROLE_REGISTRAR && !registrar_may_refuse_with(in->reason)) {
            res_field_error(res, "reason",
                            "a registrar refuses with INVALID_DATA, OTHER_SETTLEMENT, "
                            "CAPACITY_EXCEEDED, CHILD_DOCUMENTS_MISSING or ALREADY_ATTACHED");
            return false;
        }
        return true;
    }
    return jfields_parse(body, "", NULL, 0, res);
}

/* The approval's answer: the application, with `district_note` when the district it preferred
 * could not take the person. */
static enum api_status decided_reply(struct response *res, struct decide_result *dr)
{
    char *json = dr->json;
    dr->json = NULL;
    if (!dr->note.requested_id)
        return res_json_text(res, 200, json);
    json_t *app = json ? json_loads(json, 0, NULL) : NULL;
    free(json);
    if (!app)
        return res_problem(res, API_INTERNAL, NULL);
    static const char *const why[][2] = {{"full", "is full"},
                                         {"age", "does not serve the person's age on the "
                                                 "effective date"},
                                         {"closed", "is closed"}};
    const char *because = "cannot take the person";
    for (size_t i = 0; i < sizeof why / sizeof why[0]; i++)
        if (dr->note.reason && strcmp(dr->note.reason, why[i][0]) == 0)
            because = why[i][1];
    char text[200];
    if (dr->note.chosen_id)
        snprintf(text, sizeof text, "District %lld %s; district %lld was chosen instead",
                 dr->note.requested_id, because, dr->note.chosen_id);
    else
        snprintf(text, sizeof text, "District %lld %s, and no other district could take the person",
                 dr->note.requested_id, because);
    json_t *note = json_pack("{sI so ss? ss}", "requested_district_id",
                             (json_int_t)dr->note.requested_id, "chosen_district_id",
                             dr->note.chosen_id ? json_integer(dr->note.chosen_id) : json_null(),
                             "reason", dr->note.reason, "text", text);
    if (!note || json_object_set_new(app, "district_note", note) != 0) {
        json_decref(app);
        return res_problem(res, API_INTERNAL, NULL);
    }
    return res_json(res, 200, app);
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
    struct decide_result dr = {0};
    enum api_status rs;
    if (!parse_decision(body, &in, res)) {
        rs = res_validation_result(res);
        goto out;
    }
    enum db_status st = application_decide(req->app->db, &in, &dr);
    if (st != DB_OK) {
        rs = res_db_problem(res, st);
        goto out;
    }
    switch (dr.outcome) {
    case DECIDED:
        rs = decided_reply(res, &dr);
        break;
    case DECIDE_NOT_FOUND:
        rs = res_problem(res, API_NOT_FOUND, "No application %lld", id);
        break;
    case DECIDE_NOT_PENDING: {
        json_t *doc = dr.json ? json_loads(dr.json, 0, NULL) : NULL;
        const char *now = json_string_value(json_object_get(doc, "status"));
        rs = res_problem(res, API_NOT_PENDING,
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
        res_field_error(res, in.district_number ? "district_number" : "district_id",
                        "is not a district of the application's polyclinic");
        rs = res_validation_result(res);
        break;
    default:
        rs = res_problem(res, API_INTERNAL, NULL);
    }
out:
    free(dr.json);
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
