/* The OpenAPI 3.1 document, built from the route table so it cannot miss a route. */
#ifndef ATTACHD_OPENAPI_H
#define ATTACHD_OPENAPI_H

#include <jansson.h>

/* A new reference to the document (built once, then shared). */
json_t *openapi_document(void);

#endif
