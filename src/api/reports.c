/* The reports the ministry publishes (SPEC §12): the counts of a campaign year and the attached
 * population per settlement and polyclinic, each narrowed by query, as JSON or (Accept: text/csv)
 * CSV. The figures are computed by named SQL functions (migrations/0007_population.sql); CSV is
 * written here from their JSON. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "attachd/api.h"
#include "attachd/db_population.h"
#include "attachd/db_registry.h"
#include "attachd/jfields.h"
#include "attachd/kzid.h"
#include "attachd/text_buf.h"

#define CSV_TYPE "text/csv; charset=utf-8"

/* Answers the text as CSV, taking it. */
static enum api_status text_reply(struct response *res, struct text_buf *t)
{
    if (t->failed || !t->buf) {
        free(t->buf);
        return res_problem(res, API_INTERNAL, NULL);
    }
    res->content_type = CSV_TYPE;
    return res_json_text(res, 200, t->buf);
}

/* A JSON scalar as CSV text (null: empty); buf holds numbers. */
static const char *scalar_text(json_t *v, char buf[48])
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, 48, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, 48, "%.17g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

/* One line "metric,value" per scalar of the document, the metric named by its dotted path
 * (applications.by_status.approved), in the document's order. */
static void flatten(struct text_buf *t, json_t *doc, const char *prefix)
{
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        char path[256], num[48];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            flatten(t, v, path);
            continue;
        }
        const char *line[2] = {path, scalar_text(v, num)};
        text_csv_line(t, line, 2);
    }
}

/* Parses the JSON a report query rendered (taking it) and writes it as CSV with `write`. */
static enum api_status csv_from_json(struct response *res, char *json,
                                     void (*write)(struct text_buf *t, json_t *doc))
{
    json_error_t jerr;
    json_t *doc = json_loads(json, 0, &jerr);
    free(json);
    if (!doc)
        return res_problem(res, API_INTERNAL, NULL);
    struct text_buf t = {0};
    write(&t, doc);
    json_decref(doc);
    return text_reply(res, &t);
}

static void write_campaign_csv(struct text_buf *t, json_t *doc)
{
    const char *header[2] = {"metric", "value"};
    text_csv_line(t, header, 2);
    flatten(t, doc, "");
}

/* One line per polyclinic: settlement, its names, the polyclinic, its names, ownership, count.
 * The totals are the sums (the JSON carries them too). */
static void write_attached_csv(struct text_buf *t, json_t *doc)
{
    const char *header[] = {"on",      "settlement", "settlement_name_ru", "polyclinic_id",
                            "name_ru", "name_kk",    "ownership",          "attached"};
    text_csv_line(t, header, sizeof header / sizeof header[0]);
    const char *on = json_string_value(json_object_get(doc, "on"));
    size_t i, j;
    json_t *s, *p;
    json_array_foreach(json_object_get(doc, "settlements"), i, s)
    {
        json_array_foreach(json_object_get(s, "polyclinics"), j, p)
        {
            char id[48], attached[48];
            const char *line[] = {on,
                                  json_string_value(json_object_get(s, "kato")),
                                  json_string_value(json_object_get(s, "name_ru")),
                                  scalar_text(json_object_get(p, "polyclinic_id"), id),
                                  json_string_value(json_object_get(p, "name_ru")),
                                  json_string_value(json_object_get(p, "name_kk")),
                                  json_string_value(json_object_get(p, "ownership")),
                                  scalar_text(json_object_get(p, "attached"), attached)};
            text_csv_line(t, line, sizeof line / sizeof line[0]);
        }
    }
}

/* The `settlement` filter: a KATO code, else a field error. */
static const char *settlement_filter(const struct request *req, struct response *res)
{
    const char *kato = req_query(req, "settlement");
    if (kato && !kato_valid(kato))
        res_field_error(res, "settlement", "must be a KATO code, 9 digits");
    return kato;
}

HANDLER(api_campaign_stats)
{
    struct stats_query q = {0};
    if (!parse_ll(req->params[0], 2000, 9998, &q.year))
        return res_problem(res, API_NOT_FOUND, "No such campaign");
    q.settlement = settlement_filter(req, res);
    const char *poly = req_query(req, "polyclinic_id");
    if (poly && !parse_ll(poly, 1, INT64_MAX, &q.polyclinic_id))
        res_field_error(res, "polyclinic_id", "must be the id of a polyclinic");
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = campaign_stats(req->app->db, &q, &json);
    if (st == DB_OK && json && req_accepts_csv(req))
        return csv_from_json(res, json, write_campaign_csv);
    return res_db_json(res, st, json,
                       "No campaign and no applications in %lld, or no such settlement or "
                       "polyclinic",
                       q.year);
}

HANDLER(api_attached_stats)
{
    const char *on = req_query(req, "on");
    if (on && !date_valid(on))
        res_field_error(res, "on", "must be a date, YYYY-MM-DD");
    const char *settlement = settlement_filter(req, res);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    char *json = NULL;
    enum db_status st = attached_stats(req->app->db, on, settlement, &json);
    if (st == DB_OK && json && req_accepts_csv(req))
        return csv_from_json(res, json, write_attached_csv);
    return res_db_json(res, st, json, "No settlement %s", settlement ? settlement : "");
}
