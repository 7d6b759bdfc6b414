/* The route table and path matching. Patterns are literal segments and `{name}` segments. */
#ifndef ATTACHD_ROUTER_H
#define ATTACHD_ROUTER_H

#include <stddef.h>
#include "attachd/http.h"

typedef enum api_status (*handler_fn)(struct request *req, struct response *res);

struct route {
    const char *method;
    const char *pattern;
    handler_fn handler;
    unsigned roles;      /* ROLE_* mask allowed; 0 = public, no token needed */
    const char *summary; /* one line for the OpenAPI document */
};

extern const struct route attachd_routes[];
extern const size_t attachd_nroutes;

enum route_result { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_METHOD_NOT_ALLOWED };

/* Finds the route for method and path. On ROUTE_FOUND sets *found and copies the path
 * parameters into buf (params point into it). On ROUTE_METHOD_NOT_ALLOWED, allow gets the
 * comma-separated methods the path does accept. */
enum route_result router_match(const struct route *routes, size_t nroutes, const char *method,
                               const char *path, const struct route **found,
                               const char *params[ROUTE_MAX_PARAMS], char *buf, size_t buflen,
                               char *allow, size_t allowlen);

#endif
