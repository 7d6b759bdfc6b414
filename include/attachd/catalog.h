/* In-memory copies of small catalogues (settlements, district kinds, refusal reasons), so that
 * reading them costs no database round trip. Each item is kept as ready JSON text with its
 * sort key; a copy is reloaded when older than its TTL or after a local write invalidates it. */
#ifndef ATTACHD_CATALOG_H
#define ATTACHD_CATALOG_H

#include "attachd/http.h"

struct catalog;

extern struct catalog catalog_settlements;
extern struct catalog catalog_district_kinds;
extern struct catalog catalog_refusal_reasons;

/* Answers a list request from the copy: ?limit= (1..1000, default 100) and ?cursor= (the key of
 * the last item of the previous page); body {"items": [...], "next_cursor": key|null}. */
enum api_status catalog_list(struct catalog *cat, struct request *req, struct response *res);
/* Answers one item by key, 404 when absent. */
enum api_status catalog_get(struct catalog *cat, const char *key, struct request *req,
                            struct response *res);
/* Copies the item's JSON (caller frees) into *out; DB_OK and *out NULL when absent. */
enum db_status catalog_lookup(struct catalog *cat, struct db_pool *pool, const char *key,
                              json_t **out);
/* Marks the copy stale; the next read reloads it. */
void catalog_invalidate(struct catalog *cat);

#endif
