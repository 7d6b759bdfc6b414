/* Arbitrary bytes as the JSON body of every route that takes one (POST, PATCH, PUT in
 * attachd_routes), through server_dispatch, as an authenticated caller, with the database down.
 *
 * Input: byte 0 picks the route (byte % number of body routes, in table order) and a variant
 * (byte / number of body routes): which role calls (one the route allows, or one it does not,
 * which must be a 403), the Content-Type and whether an Idempotency-Key is sent. The remaining
 * bytes are the body. Bad input must give 400, 403, 413, 415 or 422; input that passes validation
 * reaches the database and gives 503. Anything else, a 500 above all, is a crash. */
#include "fuzz.h"

#define MAX_BODY_ROUTES 32

struct body_route {
    const struct route *route;
    char path[128]; /* the pattern with a valid value in each {param} */
    enum role allowed[3], refused;
    unsigned nallowed;
};

static struct body_route body_routes[MAX_BODY_ROUTES];
static unsigned nbody;

static const char *const content_types[] = {
    "application/json",
    "application/json; charset=utf-8",
    "application/merge-patch+json",
    "text/plain",
};

/* The pattern with {year} as 2026, {day} as a date and any other parameter as 1 (ids that
 * parse). */
static void fill_path(const char *pattern, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = pattern; *p && o + 12 < outlen;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            const char *value = strncmp(p, "{year}", 6) == 0  ? "2026"
                                : strncmp(p, "{day}", 5) == 0 ? "2026-12-31"
                                                              : "1";
            o += (size_t)snprintf(out + o, outlen - o, "%s", value);
            p = end ? end + 1 : p + strlen(p);
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    static const enum role roles[] = {ROLE_ADMIN, ROLE_PORTAL, ROLE_REGISTRAR};
    fuzz_app();
    for (size_t i = 0; i < attachd_nroutes; i++) {
        const struct route *r = &attachd_routes[i];
        if (strcmp(r->method, "POST") != 0 && strcmp(r->method, "PATCH") != 0 &&
            strcmp(r->method, "PUT") != 0)
            continue;
        if (nbody == MAX_BODY_ROUTES)
            fuzz_fail("more than %d body routes: raise MAX_BODY_ROUTES", MAX_BODY_ROUTES);
        struct body_route *b = &body_routes[nbody++];
        b->route = r;
        fill_path(r->pattern, b->path, sizeof b->path);
        b->refused = ROLE_NONE;
        for (size_t k = 0; k < 3; k++) {
            if (r->roles & (unsigned)roles[k])
                b->allowed[b->nallowed++] = roles[k];
            else if (b->refused == ROLE_NONE)
                b->refused = roles[k];
        }
        if (!b->nallowed)
            fuzz_fail("%s %s takes a body but is public", r->method, r->pattern);
    }
    if (!nbody)
        fuzz_fail("no route takes a body");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct body_route *b = &body_routes[data[0] % nbody];
    unsigned variant = data[0] / nbody;
    unsigned pick = variant % (b->nallowed + 1);
    bool wrong_role = pick == b->nallowed && b->refused != ROLE_NONE;
    enum role role = wrong_role ? b->refused : b->allowed[pick % b->nallowed];
    variant /= b->nallowed + 1;
    const char *headers[] = {
        "Content-Type",
        content_types[variant % 4],
        (variant / 4) % 2 ? "Idempotency-Key" : NULL,
        "fuzz-key-1",
        NULL,
    };

    struct request req;
    struct response res = {0};
    fuzz_request(&req, b->route->method, b->path, data + 1, size - 1, headers, NULL, role);
    server_dispatch(&req, &res);

    fuzz_check(req.route == b->route, "%s %s was routed to %s", b->route->method, b->path,
               req.route ? req.route->pattern : "nothing");
    static const unsigned any_body[] = {400, 403, 413, 415, 422, 503, 0};
    static const unsigned refused[] = {403, 413, 0};
    fuzz_check_response(&req, &res, wrong_role ? refused : any_body);
    if (req.body_too_large)
        fuzz_check(res.status == 413, "an oversized body got %u, not 413", res.status);
    fuzz_response_free(&res);
    fuzz_request_free(&req);
    return 0;
}
