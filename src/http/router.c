#include "attachd/router.h"

#include <string.h>

/* Compares one pattern against a path segment by segment. Captured parameters are copied,
 * NUL-terminated, into buf. */
static bool pattern_matches(const char *pattern, const char *path,
                            const char *params[ROUTE_MAX_PARAMS], char *buf, size_t buflen)
{
    size_t nparams = 0, used = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++, s++;
        size_t plen = strcspn(p, "/"), slen = strcspn(s, "/");
        if (plen > 1 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || nparams == ROUTE_MAX_PARAMS || used + slen + 1 > buflen)
                return false;
            memcpy(buf + used, s, slen);
            buf[used + slen] = '\0';
            params[nparams++] = buf + used;
            used += slen + 1;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen, s += slen;
    }
    return *p == '\0' && *s == '\0';
}

/* True when allow, a ", "-separated list, already names method. */
static bool allow_lists(const char *allow, const char *method)
{
    size_t mlen = strlen(method);
    for (const char *p = allow; *p;) {
        size_t n = strcspn(p, ",");
        if (n == mlen && memcmp(p, method, n) == 0)
            return true;
        p += n;
        p += strspn(p, ", ");
    }
    return false;
}

enum route_result router_match(const struct route *routes, size_t nroutes, const char *method,
                               const char *path, const struct route **found,
                               const char *params[ROUTE_MAX_PARAMS], char *buf, size_t buflen,
                               char *allow, size_t allowlen)
{
    bool path_known = false;
    size_t allow_used = 0;
    const char *scratch[ROUTE_MAX_PARAMS];
    char scratch_buf[256];
    if (allowlen)
        allow[0] = '\0';
    for (size_t i = 0; i < nroutes; i++) {
        if (!pattern_matches(routes[i].pattern, path, scratch, scratch_buf, sizeof scratch_buf))
            continue;
        if (strcmp(routes[i].method, method) == 0) {
            *found = &routes[i];
            return pattern_matches(routes[i].pattern, path, params, buf, buflen) ? ROUTE_FOUND
                                                                                 : ROUTE_NOT_FOUND;
        }
        path_known = true;
        size_t mlen = strlen(routes[i].method);
        /* A literal and a {param} route may both match with one method (GET
         * /v1/campaigns/current and GET /v1/campaigns/{year}): list it once. */
        if (allow_used + mlen + 3 < allowlen && !allow_lists(allow, routes[i].method)) {
            if (allow_used)
                memcpy(allow + allow_used, ", ", 2), allow_used += 2;
            memcpy(allow + allow_used, routes[i].method, mlen + 1);
            allow_used += mlen;
        }
    }
    return path_known ? ROUTE_METHOD_NOT_ALLOWED : ROUTE_NOT_FOUND;
}
