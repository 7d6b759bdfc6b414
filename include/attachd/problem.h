/* API error codes: one table maps each to its HTTP status, problem `code` and title. Every code
 * is one the service answers (§12; tests/unit/test_problem.c checks each is used in src/). */
#ifndef ATTACHD_PROBLEM_H
#define ATTACHD_PROBLEM_H

enum api_status {
    API_OK = 0,
    API_BAD_JSON,           /* 400 body is not well-formed JSON */
    API_UNAUTHORIZED,       /* 401 no or bad token */
    API_FORBIDDEN,          /* 403 role may not do this */
    API_NOT_FOUND,          /* 404 unknown or not yours */
    API_ROUTE_NOT_FOUND,    /* 404 no such route */
    API_METHOD_NOT_ALLOWED, /* 405 */
    API_CONFLICT,           /* 409 generic conflict (duplicate key, overlap) */
    API_PENDING_EXISTS,     /* 409 the person has an open application */
    API_NOT_PENDING,        /* 409 the application is already decided */
    API_PAYLOAD_TOO_LARGE,  /* 413 */
    API_UNSUPPORTED_MEDIA,  /* 415 */
    API_VALIDATION,         /* 422 well-formed but invalid */
    API_IDEMPOTENCY_REUSE,  /* 422 same Idempotency-Key, other body */
    API_INTERNAL,           /* 500 */
    API_DB_UNAVAILABLE,     /* 503 with Retry-After */
    API_STATUS_COUNT
};

struct api_status_info {
    unsigned http_status;
    const char *code;  /* machine-readable, stable */
    const char *title; /* human-readable summary */
};

/* The row of the table for `st` (never NULL). */
const struct api_status_info *api_status_info(enum api_status st);

#endif
