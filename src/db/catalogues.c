/* The catalogue statements (see db_catalogues.h). */
#include "attachd/db_catalogues.h"

#include "attachd/db_params.h"

struct db_stmt q_catalogue_settlements =
    DB_READ("SELECT kato AS key, json_build_object('kato', kato, 'name_kk', name_kk, 'name_ru',"
            " name_ru)::text AS item FROM settlements ORDER BY kato COLLATE \"C\"");
struct db_stmt q_catalogue_district_kinds =
    DB_READ("SELECT lpad(sort::text, 6, '0') AS key, json_build_object('code', code, 'norm', norm,"
            " 'min_age', min_age, 'max_age', max_age)::text AS item FROM district_kinds"
            " ORDER BY sort");
struct db_stmt q_catalogue_refusal_reasons =
    DB_READ("SELECT lpad(sort::text, 6, '0') AS key, json_build_object('code', code,"
            " 'official', official, 'title', json_build_object('kk', title_kk, 'ru', title_ru,"
            " 'en', title_en))::text AS item FROM refusal_reasons ORDER BY sort");

static struct db_stmt q_settlement_insert =
    DB_WRITE("INSERT INTO settlements (kato, name_kk, name_ru) VALUES ($1, $2, $3)");

enum db_status db_settlement_insert(struct db_pool *pool, const char *kato, const char *name_kk,
                                    const char *name_ru)
{
    struct db_params p = {0};
    db_param_text(&p, kato);
    db_param_text(&p, name_kk);
    db_param_text(&p, name_ru);
    return p.overflow ? DB_ERROR : db_run(pool, &q_settlement_insert, p.n, p.values, NULL);
}
