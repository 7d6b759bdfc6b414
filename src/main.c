/* Command line dispatch only: each subcommand is a few lines calling into the modules. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <pthread.h>
#include "attachd/auth.h"
#include "attachd/config.h"
#include "attachd/daily.h"
#include "attachd/import.h"
#include "attachd/log.h"
#include "attachd/migrate.h"
#include "attachd/server.h"

static const char usage[] =
    "usage: attachd <command>\n"
    "\n"
    "commands:\n"
    "  serve                                   run the HTTP service\n"
    "  migrate                                 apply pending database migrations\n"
    "  token create --role admin|portal|registrar [--polyclinic ID] [--name TEXT]\n"
    "                                          create a token; the secret is the last line\n"
    "  token revoke ID                         revoke a token\n"
    "  import attachments FILE.csv             bulk-load existing attachments\n"
    "  daily [--on DATE] [--polyclinic ID]     the daily run (default today, Asia/Almaty):\n"
    "                                          age-outs, EAEU lapses, start/end events;\n"
    "                                          prints its counts as JSON\n"
    "  --help, --version\n"
    "\n"
    "environment: DATABASE_URL, ATTACHD_PORT (8080), ATTACHD_THREADS, ATTACHD_DB_POOL,\n"
    "  ATTACHD_LOG_LEVEL (debug|info|warn|error), ATTACHD_BODY_LIMIT, ATTACHD_CONN_LIMIT,\n"
    "  ATTACHD_CONN_TIMEOUT, ATTACHD_DB_WAIT_MS\n";

static const char *env_get(const char *name)
{
    return getenv(name);
}

static int load_config(struct attachd_config *cfg)
{
    char err[256];
    if (config_load(cfg, env_get, err, sizeof err) != CONFIG_OK) {
        fprintf(stderr, "attachd: %s\n", err);
        return 2;
    }
    log_set_level(cfg->log_level);
    return 0;
}

static int cmd_serve(const struct attachd_config *cfg)
{
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    /* Blocked before any thread starts, so only sigwait below ever sees them. */
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct db_pool *pool = NULL;
    if (db_pool_new(cfg->database_url, cfg->db_pool, cfg->db_wait_ms, &pool) != DB_OK) {
        fprintf(stderr, "attachd: cannot create the database pool\n");
        return 1;
    }
    struct app app = {.db = pool, .body_limit = cfg->body_limit};
    struct server *srv = server_start(cfg, &app);
    if (!srv) {
        db_pool_free(pool);
        return 1;
    }
    if (!db_ping(pool))
        log_warn("database not reachable yet; answering 503 until it is");
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log_info("received %s, finishing requests in flight", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server_stop(srv, 10);
    db_pool_free(pool);
    log_info("stopped");
    return 0;
}

static int cmd_migrate(const struct attachd_config *cfg)
{
    char err[1024];
    enum migrate_status st = migrate_run(cfg->database_url, err, sizeof err);
    if (st != MIGRATE_OK) {
        fprintf(stderr, "attachd migrate: %s\n", err);
        return st == MIGRATE_DB_UNAVAILABLE ? 3 : 1;
    }
    return 0;
}

static int token_create_cmd(const struct attachd_config *cfg, int argc, char **argv)
{
    enum role role = ROLE_NONE;
    long long polyclinic = 0;
    const char *name = "";
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--role") == 0 && has_value) {
            if (!role_parse(argv[++i], &role)) {
                fprintf(stderr, "attachd: --role must be admin, portal or registrar\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--polyclinic") == 0 && has_value) {
            char *end;
            polyclinic = strtoll(argv[++i], &end, 10);
            if (*end || polyclinic <= 0) {
                fprintf(stderr, "attachd: --polyclinic must be a polyclinic id\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--name") == 0 && has_value) {
            name = argv[++i];
        } else {
            fprintf(stderr, "attachd: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (role == ROLE_NONE || (role == ROLE_REGISTRAR) != (polyclinic > 0)) {
        fprintf(stderr, "attachd: give --role; --polyclinic is required for (and only for) "
                        "registrar\n");
        return 2;
    }
    struct db_pool *pool = NULL;
    struct db_conn *conn = NULL;
    if (db_pool_new(cfg->database_url, 1, cfg->db_wait_ms, &pool) != DB_OK ||
        db_acquire(pool, &conn) != DB_OK) {
        fprintf(stderr, "attachd: cannot connect to the database\n");
        db_pool_free(pool);
        return 3;
    }
    char secret[TOKEN_SECRET_LEN + 1];
    long long id = 0;
    enum db_status st = token_create(conn, role, polyclinic, name, secret, &id);
    if (st != DB_OK)
        fprintf(stderr, "attachd: cannot create the token: %s\n",
                st == DB_FK_VIOLATION ? "no such polyclinic" : db_error(conn));
    db_release(pool, conn);
    db_pool_free(pool);
    if (st != DB_OK)
        return 1;
    printf("token id %lld, role %s%s\n%s\n", id, role_name(role),
           role == ROLE_REGISTRAR ? " (bound to its polyclinic)" : "", secret);
    return 0;
}

static int token_revoke_cmd(const struct attachd_config *cfg, const char *arg)
{
    char *end;
    long long id = strtoll(arg, &end, 10);
    if (*end || id <= 0) {
        fprintf(stderr, "attachd: token revoke takes a token id\n");
        return 2;
    }
    struct db_pool *pool = NULL;
    struct db_conn *conn = NULL;
    if (db_pool_new(cfg->database_url, 1, cfg->db_wait_ms, &pool) != DB_OK ||
        db_acquire(pool, &conn) != DB_OK) {
        fprintf(stderr, "attachd: cannot connect to the database\n");
        db_pool_free(pool);
        return 3;
    }
    bool found = false;
    enum db_status st = token_revoke(conn, id, &found);
    db_release(pool, conn);
    db_pool_free(pool);
    if (st != DB_OK || !found) {
        fprintf(stderr, "attachd: %s\n",
                st != DB_OK ? "database error" : "no active token with that id");
        return 1;
    }
    printf("token %lld revoked\n", id);
    return 0;
}

/* Exit 0 with the counts alone on stdout; 1 on failure; 2 on bad usage; 3 when the database
 * cannot be reached (as `import`). */
static int daily_cmd(const struct attachd_config *cfg, int argc, char **argv)
{
    day_t on = almaty_day(time(NULL));
    long long polyclinic = 0;
    for (int i = 0; i < argc; i++) {
        bool has_value = i + 1 < argc;
        if (strcmp(argv[i], "--on") == 0 && has_value) {
            if (!date_parse(argv[++i], &on)) {
                fprintf(stderr, "attachd daily: --on must be a date, YYYY-MM-DD\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--polyclinic") == 0 && has_value) {
            char *end;
            polyclinic = strtoll(argv[++i], &end, 10);
            if (*end || polyclinic <= 0) {
                fprintf(stderr, "attachd daily: --polyclinic must be a polyclinic id\n");
                return 2;
            }
        } else {
            fprintf(stderr, "attachd daily: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    struct db_pool *pool = NULL;
    if (db_pool_new(cfg->database_url, 1, cfg->db_wait_ms, &pool) != DB_OK || !db_ping(pool)) {
        fprintf(stderr, "attachd daily: cannot connect to the database\n");
        db_pool_free(pool);
        return 3;
    }
    bool exists = true;
    if (polyclinic && daily_polyclinic_exists(pool, polyclinic, &exists) == DB_OK && !exists) {
        fprintf(stderr, "attachd daily: no polyclinic %lld\n", polyclinic);
        db_pool_free(pool);
        return 2;
    }
    struct daily_counts counts;
    enum db_status st = daily_run(pool, on, polyclinic, &counts);
    db_pool_free(pool);
    if (st != DB_OK) {
        fprintf(stderr, "attachd daily: %s (what was done stays done; run it again)\n",
                st == DB_UNAVAILABLE ? "the database became unreachable" : "database error");
        return st == DB_UNAVAILABLE ? 3 : 1;
    }
    char *json = daily_counts_json(on, &counts);
    if (!json)
        return 1;
    printf("%s\n", json);
    free(json);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("attachd %s\n", ATTACHD_VERSION);
        return 0;
    }
    struct attachd_config cfg;
    int rc = load_config(&cfg);
    if (rc)
        return rc;
    if (strcmp(argv[1], "serve") == 0 && argc == 2)
        return cmd_serve(&cfg);
    if (strcmp(argv[1], "migrate") == 0 && argc == 2)
        return cmd_migrate(&cfg);
    if (strcmp(argv[1], "token") == 0 && argc >= 3 && strcmp(argv[2], "create") == 0)
        return token_create_cmd(&cfg, argc - 3, argv + 3);
    if (strcmp(argv[1], "token") == 0 && argc == 4 && strcmp(argv[2], "revoke") == 0)
        return token_revoke_cmd(&cfg, argv[3]);
    if (strcmp(argv[1], "import") == 0 && argc == 4 && strcmp(argv[2], "attachments") == 0)
        return import_attachments_cmd(cfg.database_url, argv[3]);
    if (strcmp(argv[1], "daily") == 0)
        return daily_cmd(&cfg, argc - 2, argv + 2);
    fprintf(stderr, "attachd: unknown command\n%s", usage);
    return 2;
}
