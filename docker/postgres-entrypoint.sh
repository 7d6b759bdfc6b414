#!/usr/bin/env bash
# Entrypoint of docker/postgres.Dockerfile (the stand-in for the official postgres:15 image): on
# first start, when PGDATA holds no cluster, create one the way the official image does from
# POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and POSTGRES_INITDB_ARGS; then run the server.
# Arguments that start with '-' are options of postgres (`... postgres -c fsync=off`).
set -euo pipefail

say() { printf 'postgres-entrypoint: %s\n' "$*" >&2; }

[ "${1:0:1}" != - ] || set -- postgres "$@"

init_cluster() {
    local user=${POSTGRES_USER:-postgres} db pwfile
    db=${POSTGRES_DB:-$user}
    [ -n "${POSTGRES_PASSWORD:-}" ] || {
        say "POSTGRES_PASSWORD is not set (the official image refuses to start without it too)"
        exit 1
    }
    say "initialising the cluster in $PGDATA"
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    # Word splitting of POSTGRES_INITDB_ARGS is wanted: it is a list of initdb options.
    # shellcheck disable=SC2086
    initdb -D "$PGDATA" --username="$user" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
    rm -f "$pwfile"
    printf '\n# container: any address, with a password\nhost all all all scram-sha-256\n' \
        >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    # Create the database over the Unix socket only, so that nobody connects before it exists.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
    if [ "$db" != postgres ]; then
        # From standard input, where psql quotes the name (:"db"); -c would not interpolate.
        printf 'CREATE DATABASE :"db";\n' | psql -X -q -v ON_ERROR_STOP=1 -U "$user" -d postgres -v db="$db"
    fi
    pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    say "cluster ready (superuser $user, database $db)"
}

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    init_cluster
fi
exec "$@"
