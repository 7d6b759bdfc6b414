/* Routing and the parsing of what arrives in the URL: router_match with a fuzzed method and path
 * (checked against a naive reference matcher, with caller buffers sized from the input so an
 * overflow shows under ASan), parse_ll (against strtoll), then the whole request through
 * server_dispatch with the query arguments the handlers read (limit, cursor, near, on, ...),
 * as an authenticated caller, with the database down.
 *
 * There is no query-string parser of ours to fuzz: libmicrohttpd splits and decodes the query;
 * what is ours is what the handlers make of each value, which the dispatch below covers.
 *
 * Input: byte 0 picks the method (the last choice takes it from the input, up to a space),
 * byte 1 the role, byte 2 the size of the parameter buffer, byte 3 the size of the Allow buffer;
 * then the path, up to '?'; then name=value&... query arguments, taken as they are. */
#include <errno.h>
#include <stdint.h>
#include "fuzz.h"

#define MAX_QUERY 8

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
#define NMETHODS (sizeof methods / sizeof methods[0])

/* Reference for parse_ll: 1 to 18 ASCII digits whose value lies in [min, max]. */
static bool parse_ll_reference(const char *s, long long min, long long max, long long *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
        return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static void check_parse_ll(const char *s)
{
    static const long long bounds[][2] = {{0, INT64_MAX}, {1, INT64_MAX}, {1, 200}, {2000, 9998}};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        long long got = -1, want = -1;
        bool ok = parse_ll(s, bounds[i][0], bounds[i][1], &got);
        bool want_ok = parse_ll_reference(s, bounds[i][0], bounds[i][1], &want);
        fuzz_check(ok == want_ok && (!ok || got == want), "parse_ll(\"%s\", %lld, %lld) = %d %lld",
                   s, bounds[i][0], bounds[i][1], ok, got);
    }
}

/* Reference matcher: the path has as many '/'-separated segments as the pattern, each equal to
 * the pattern's literal or, for a {param}, non-empty. Returns the bytes the parameters take
 * copied with their NULs, or -1 when the path does not match. */
static long matches_reference(const char *pattern, const char *path)
{
    if (path[0] != '/')
        return -1;
    const char *p = pattern + 1, *s = path + 1;
    long need = 0;
    for (;;) {
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        bool param = plen > 1 && p[0] == '{' && p[plen - 1] == '}';
        if (param ? slen == 0 : (plen != slen || memcmp(p, s, plen) != 0))
            return -1;
        need += param ? (long)slen + 1 : 0;
        p += plen, s += slen;
        if (!*p || !*s)
            return !*p && !*s ? need : -1;
        p++, s++;
    }
}

/* Segment i (0-based) of a path that starts with '/'. */
static const char *segment(const char *path, size_t i, size_t *len)
{
    const char *s = path + 1;
    while (i--)
        s = strchr(s, '/') + 1;
    *len = strcspn(s, "/");
    return s;
}

/* True when allow ("GET, POST") names method. */
static bool allow_lists(const char *allow, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = allow; *p; p += strspn(p, ", ")) {
        size_t n = strcspn(p, ",");
        if (n == mlen && memcmp(p, method, n) == 0)
            return true;
        p += n;
    }
    return false;
}

/* router_match against the reference. The router tries each route in table order with a
 * 256-byte scratch buffer; the first whose pattern and method match is the answer, found only
 * when its parameters also fit the caller's buffer. */
static void check_router(const char *method, const char *path, size_t buflen, size_t allowlen)
{
    const struct route *found = NULL;
    const char *params[ROUTE_MAX_PARAMS] = {0};
    char *buf = malloc(buflen ? buflen : 1), *allow = malloc(allowlen ? allowlen : 1);
    if (!buf || !allow)
        fuzz_fail("out of memory");
    enum route_result rr = router_match(attachd_routes, attachd_nroutes, method, path, &found,
                                        params, buf, buflen, allow, allowlen);
    const struct route *first = NULL;
    long first_need = 0;
    bool path_known = false;
    for (size_t i = 0; i < attachd_nroutes && !first; i++) {
        long need = matches_reference(attachd_routes[i].pattern, path);
        if (need < 0 || need > 256)
            continue;
        if (strcmp(attachd_routes[i].method, method) == 0)
            first = &attachd_routes[i], first_need = need;
        else
            path_known = true;
    }
    enum route_result want = first ? ((size_t)first_need <= buflen ? ROUTE_FOUND : ROUTE_NOT_FOUND)
                                   : (path_known ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND);
    fuzz_check(rr == want && (!first || found == first),
               "%s %s: router says %d (%s), reference %d (%s)", method, path, rr,
               found ? found->pattern : "-", want, first ? first->pattern : "-");
    if (allowlen)
        fuzz_check(memchr(allow, '\0', allowlen) != NULL, "Allow is not terminated");
    if (rr == ROUTE_METHOD_NOT_ALLOWED && allowlen >= 10)
        fuzz_check(allow[0] && !allow_lists(allow, method), "405 for %s %s lists Allow: %s", method,
                   path, allow);
    if (rr == ROUTE_FOUND) {
        /* Each {param} holds its whole path segment. */
        size_t n = 0, i = 0;
        for (const char *p = found->pattern + 1; *p; i++) {
            size_t plen = strcspn(p, "/"), slen;
            const char *seg = segment(path, i, &slen);
            if (p[0] == '{') {
                fuzz_check(n < ROUTE_MAX_PARAMS && params[n] && strlen(params[n]) == slen &&
                               memcmp(params[n], seg, slen) == 0,
                           "parameter %zu of %s is \"%s\"", n, path, params[n] ? params[n] : "-");
                n++;
            }
            p += plen;
            p += *p == '/';
        }
    }
    free(buf);
    free(allow);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum role roles[] = {ROLE_ADMIN, ROLE_PORTAL, ROLE_REGISTRAR, ROLE_NONE};
    if (size < 4)
        return 0;
    char *text = malloc(size - 4 + 1);
    if (!text)
        fuzz_fail("out of memory");
    memcpy(text, data + 4, size - 4);
    text[size - 4] = '\0'; /* paths and arguments are C strings: a NUL ends the input */

    char *rest = text;
    const char *method = methods[data[0] % (NMETHODS + 1) % NMETHODS];
    if (data[0] % (NMETHODS + 1) == NMETHODS) {
        method = rest;
        rest += strcspn(rest, " ");
        if (*rest)
            *rest++ = '\0';
    }
    enum role role = roles[data[1] % 4];
    size_t buflen = data[2] == 255 ? 256 : data[2];
    size_t allowlen = data[3] % 80;

    char *path = rest;
    char *query = strchr(rest, '?');
    const char *args[2 * MAX_QUERY + 1] = {0};
    if (query) {
        *query++ = '\0';
        size_t n = 0;
        char *save = NULL;
        for (char *arg = strtok_r(query, "&", &save); arg && n < 2 * MAX_QUERY;
             arg = strtok_r(NULL, "&", &save)) {
            char *eq = strchr(arg, '=');
            if (eq)
                *eq++ = '\0';
            args[n++] = arg;
            args[n++] = eq ? eq : "";
            check_parse_ll(args[n - 1]);
        }
    }
    check_parse_ll(path + (path[0] == '/'));
    check_router(method, path, buflen, allowlen);

    const char *headers[] = {"Content-Type", "application/json", NULL};
    struct request req;
    struct response res = {0};
    fuzz_request(&req, method, path, NULL, 0, headers, args, role);
    server_dispatch(&req, &res);
    /* 2xx only from public routes: every other one needs the database, which is down. */
    static const unsigned any[] = {200, 400, 401, 403, 404, 405, 413, 415, 422, 503, 0};
    fuzz_check_response(&req, &res, any);
    if (res.status < 300)
        fuzz_check(req.route && req.route->roles == 0, "%u from %s without a database", res.status,
                   req.route ? req.route->pattern : path);
    if (res.status == 401)
        fuzz_check(role == ROLE_NONE, "401 for an authenticated %s", role_name(role));
    fuzz_response_free(&res);
    fuzz_request_free(&req);
    free(text);
    return 0;
}
