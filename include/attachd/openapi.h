/* The OpenAPI 3.1 document: the readable sources in openapi/ (components.json and one operation
 * per "METHOD /pattern" in operations.json, embedded at build time) joined with the route table,
 * which stays the one list of routes. The table gives each operation its summary, roles
 * (security, x-roles) and the problems every route can answer (401, 403, 422, 503, and 400, 413,
 * 415 with a body); the problem `code`s of each status come from the table of src/http/problem.c.
 * Strict queries (SPEC §11) are checked against the query parameters the document declares, so
 * the document and the code cannot disagree. */
#ifndef ATTACHD_OPENAPI_H
#define ATTACHD_OPENAPI_H

#include <stdbool.h>
#include <jansson.h>

struct route;

/* A new reference to the document served at /openapi.json (built once, then shared). Sources
 * marked "x-planned" (operations, parameters, schema members not implemented yet) are left out,
 * unless the operation's route exists. */
json_t *openapi_document(void);

/* A new document including what is marked "x-planned" (the markers removed): the contract
 * clients are written against while those routes land. The caller owns it. */
json_t *openapi_document_planned(void);

/* True when the operation of route r declares the query parameter `name`. */
bool openapi_query_declared(const struct route *r, const char *name);

/* The query parameters route r declares, comma-separated (for a problem's detail). */
const char *openapi_query_names(const struct route *r);

#endif
