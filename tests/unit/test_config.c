/* Configuration from the environment: defaults, and every bad value refused with a message
 * that names the variable. The environment is a static table read by a fake getenv. */
#include <string.h>
#include <unistd.h>
#include "attachd/config.h"
#include "unit.h"

#define MAX_VARS 4
static struct {
    const char *name, *value;
} fake_env[MAX_VARS];

static void env_clear(void)
{
    memset(fake_env, 0, sizeof fake_env);
}

static void env_set(const char *name, const char *value)
{
    for (size_t i = 0; i < MAX_VARS; i++) {
        if (!fake_env[i].name) {
            fake_env[i].name = name, fake_env[i].value = value;
            return;
        }
    }
    ck_abort_msg("fake environment full");
}

static const char *fake_getenv(const char *name)
{
    for (size_t i = 0; i < MAX_VARS && fake_env[i].name; i++)
        if (strcmp(fake_env[i].name, name) == 0)
            return fake_env[i].value;
    return NULL;
}

START_TEST(test_empty_environment_gives_defaults)
{
    env_clear();
    struct attachd_config cfg;
    char err[200] = "";
    ck_assert_int_eq(config_load(&cfg, fake_getenv, err, sizeof err), CONFIG_OK);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_str_eq(cfg.database_url, "");
    ck_assert_uint_eq(cfg.port, 8080);
    ck_assert_uint_eq(cfg.threads, (unsigned)(ncpu < 1 ? 1 : ncpu) * 2);
    ck_assert_uint_eq(cfg.db_pool, cfg.threads);
    ck_assert_uint_eq(cfg.body_limit, 1024 * 1024);
    ck_assert_int_eq(cfg.log_level, LOG_INFO);
}
END_TEST

START_TEST(test_set_variables_are_read)
{
    env_clear();
    env_set("DATABASE_URL", "postgresql:///attachd");
    env_set("ATTACHD_PORT", "65535");
    env_set("ATTACHD_THREADS", "3");
    env_set("ATTACHD_LOG_LEVEL", "warn");
    struct attachd_config cfg;
    char err[200] = "";
    ck_assert_int_eq(config_load(&cfg, fake_getenv, err, sizeof err), CONFIG_OK);
    ck_assert_str_eq(cfg.database_url, "postgresql:///attachd");
    ck_assert_uint_eq(cfg.port, 65535);
    ck_assert_uint_eq(cfg.threads, 3);
    ck_assert_uint_eq(cfg.db_pool, 3); /* follows the threads unless set */
    ck_assert_int_eq(cfg.log_level, LOG_WARN);
}
END_TEST

START_TEST(test_pool_set_apart_from_threads_is_kept)
{
    env_clear();
    env_set("ATTACHD_THREADS", "4");
    env_set("ATTACHD_DB_POOL", "10");
    struct attachd_config cfg;
    char err[200] = "";
    ck_assert_int_eq(config_load(&cfg, fake_getenv, err, sizeof err), CONFIG_OK);
    ck_assert_uint_eq(cfg.threads, 4);
    ck_assert_uint_eq(cfg.db_pool, 10);
}
END_TEST

static const struct {
    const char *name, *value;
} bad_values[] = {
    {"ATTACHD_PORT", "0"},
    {"ATTACHD_PORT", "70000"},
    {"ATTACHD_PORT", "abc"},
    {"ATTACHD_PORT", "-1"},
    {"ATTACHD_PORT", "8080x"},
    {"ATTACHD_PORT", "+80"},
    {"ATTACHD_PORT", " 80"},
    {"ATTACHD_PORT", " -18446744073709551615"},
    {"ATTACHD_PORT", "99999999999999999999999"},
    {"ATTACHD_THREADS", "0"},
    {"ATTACHD_THREADS", "257"},
    {"ATTACHD_DB_POOL", "0"},
    {"ATTACHD_BODY_LIMIT", "100"},
    {"ATTACHD_CONN_LIMIT", "1"},
    {"ATTACHD_CONN_TIMEOUT", "0"},
    {"ATTACHD_DB_WAIT_MS", "0"},
    {"ATTACHD_LOG_LEVEL", "verbose"},
    {"ATTACHD_LOG_LEVEL", "INFO"},
};

/* A loop test: _i indexes bad_values. */
START_TEST(test_bad_value_is_invalid_and_names_the_variable)
{
    env_clear();
    env_set(bad_values[_i].name, bad_values[_i].value);
    struct attachd_config cfg;
    char err[200] = "";
    ck_assert_msg(config_load(&cfg, fake_getenv, err, sizeof err) == CONFIG_INVALID,
                  "%s=\"%s\" must be refused", bad_values[_i].name, bad_values[_i].value);
    ck_assert_msg(strstr(err, bad_values[_i].name) != NULL, "\"%s\" does not name %s", err,
                  bad_values[_i].name);
}
END_TEST

START_TEST(test_empty_value_keeps_the_default)
{
    env_clear();
    env_set("ATTACHD_PORT", "");
    struct attachd_config cfg;
    char err[200] = "";
    ck_assert_int_eq(config_load(&cfg, fake_getenv, err, sizeof err), CONFIG_OK);
    ck_assert_uint_eq(cfg.port, 8080);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_empty_environment_gives_defaults);
    tcase_add_test(tc, test_set_variables_are_read);
    tcase_add_test(tc, test_pool_set_apart_from_threads_is_kept);
    tcase_add_loop_test(tc, test_bad_value_is_invalid_and_names_the_variable, 0,
                        (int)(sizeof bad_values / sizeof bad_values[0]));
    tcase_add_test(tc, test_empty_value_keeps_the_default);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(config_suite());
}
