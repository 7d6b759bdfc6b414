/* GET /v1/events: the events feed of SPEC §12, in commit order, with long polling. Portal and
 * admin read every event, a registrar those naming its polyclinic (either side of a move). */
#include <stdint.h>
#include "attachd/api.h"
#include "attachd/db_events.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX     500
#define WAIT_MAX     30

HANDLER(api_events_list)
{
    const char *after = req_query(req, "after"), *limit = req_query(req, "limit"),
               *wait = req_query(req, "wait");
    struct events_query q = {.limit = PAGE_DEFAULT};
    long long n = 0, wait_seconds = 0;
    /* A cursor is a position as text; whether this service gave it is asked of the database. */
    if (after && !parse_ll(after, 0, INT64_MAX, &q.after))
        res_field_error(res, "after", "must be a next_cursor this service gave");
    if (limit && !parse_ll(limit, 1, PAGE_MAX, &n))
        res_field_error(res, "limit", "must be a whole number from 1 to %d", PAGE_MAX);
    else if (limit)
        q.limit = (int)n;
    if (wait && !parse_ll(wait, 0, WAIT_MAX, &wait_seconds))
        res_field_error(res, "wait", "must be a whole number of seconds from 0 to %d", WAIT_MAX);
    if (res_validation_result(res) != API_OK)
        return res->problem;
    if (req->who.role == ROLE_REGISTRAR)
        q.polyclinic_id = req->who.polyclinic_id;

    struct events_page page;
    enum db_status st = events_page(req->app->db, &q, &page);
    if (st != DB_OK)
        return res_db_problem(res, st);
    if (!page.cursor_known) {
        res_field_error(res, "after", "must be a next_cursor this service gave");
        return res_validation_result(res);
    }
    if (page.nitems == 0 && wait_seconds > 0) {
        res->wait_seconds = (int)wait_seconds;
        res->wait_seen = page.latest;
    }
    return res_json_text(res, 200, page.json);
}
