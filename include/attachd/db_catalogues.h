/* The catalogue statements (SPEC §2): what src/api/catalog.c caches in memory, and the settlement
 * insert of POST /v1/settlements. Each catalogue statement answers rows of `key` (text) and `item`
 * (JSON text), ordered by key as catalog.c's binary search expects (COLLATE "C"). */
#ifndef ATTACHD_DB_CATALOGUES_H
#define ATTACHD_DB_CATALOGUES_H

#include "attachd/db.h"

extern struct db_stmt q_catalogue_settlements;
extern struct db_stmt q_catalogue_district_kinds;
extern struct db_stmt q_catalogue_refusal_reasons;

/* A new settlement; DB_UNIQUE_VIOLATION when its KATO code exists. */
enum db_status db_settlement_insert(struct db_pool *pool, const char *kato, const char *name_kk,
                                    const char *name_ru) __attribute__((warn_unused_result));

#endif
