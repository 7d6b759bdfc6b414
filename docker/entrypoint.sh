#!/usr/bin/env bash
# Entrypoint of the attachd container; also runs outside Docker (scripts/test.sh checks it so).
#
#   entrypoint.sh [serve] [ARGS...]   wait for the database, `attachd migrate`, bootstrap an admin
#                                     token if asked, then exec `attachd serve ARGS...`
#   entrypoint.sh healthcheck         exit 0 if GET /healthz on 127.0.0.1:$ATTACHD_PORT answers 200
#                                     (the image's HEALTHCHECK; the image has no curl)
#   entrypoint.sh migrate|token|import|--help|--version ...
#                                     run that attachd command directly (one-off administration,
#                                     e.g. `docker compose run --rm attachd token create --role portal`)
#
# Environment (besides attachd's own DATABASE_URL, ATTACHD_PORT, ATTACHD_THREADS, ATTACHD_DB_POOL,
# ATTACHD_LOG_LEVEL):
#   ATTACHD_BIN                         the binary (default: attachd from PATH)
#   ATTACHD_DB_WAIT                     seconds to wait for the database (default 60)
#   ATTACHD_BOOTSTRAP_ADMIN_TOKEN_FILE  if set and the file does not exist, create an admin token
#                                       and write its secret there (mode 600)
set -euo pipefail

bin=${ATTACHD_BIN:-attachd}

say() { printf 'entrypoint: %s\n' "$*" >&2; }

healthcheck() {
    local status=
    exec 3<>"/dev/tcp/127.0.0.1/${ATTACHD_PORT:-8080}" || return 1
    printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    IFS=' ' read -r -t 5 _ status _ <&3 || return 1
    exec 3<&-
    [ "$status" = 200 ]
}

# Retry `attachd migrate` until it succeeds or ATTACHD_DB_WAIT seconds have passed: the database
# may still be starting (or, with compose, still running its init scripts). pg_isready is used
# first when it is installed, so that a broken migration is not retried for the whole wait.
migrate() {
    local wait=${ATTACHD_DB_WAIT:-60} deadline attempt=0 out
    deadline=$((SECONDS + wait))
    if command -v pg_isready >/dev/null 2>&1 && [ -n "${DATABASE_URL:-}" ]; then
        until pg_isready -q -d "$DATABASE_URL"; do
            [ "$SECONDS" -lt "$deadline" ] || {
                say "the database did not become ready within ${wait}s"
                return 1
            }
            sleep 1
        done
    fi
    until out=$("$bin" migrate 2>&1); do
        attempt=$((attempt + 1))
        if [ "$SECONDS" -ge "$deadline" ]; then
            printf '%s\n' "$out" >&2
            say "attachd migrate still failing after ${wait}s ($attempt attempts)"
            return 1
        fi
        say "waiting for the database (attempt $attempt): $(printf '%s\n' "$out" | head -n 1)"
        sleep 2
    done
    [ -z "$out" ] || printf '%s\n' "$out" >&2
    say "migrations applied"
}

bootstrap_admin_token() {
    local file=${ATTACHD_BOOTSTRAP_ADMIN_TOKEN_FILE:-} tmp secret
    [ -n "$file" ] || return 0
    if [ -e "$file" ]; then
        say "admin token file $file exists; not creating another"
        return 0
    fi
    tmp=$file.tmp.$$
    secret=$("$bin" token create --role admin --name "${ATTACHD_BOOTSTRAP_ADMIN_TOKEN_NAME:-bootstrap admin}" | tail -n 1)
    [ -n "$secret" ] || {
        say "attachd token create printed no token"
        return 1
    }
    (umask 077 && printf '%s\n' "$secret" >"$tmp") || return 1
    mv -f "$tmp" "$file"
    say "admin token written to $file"
}

case ${1:-} in
healthcheck)
    healthcheck
    exit
    ;;
migrate | token | import | --help | -h | --version | help)
    exec "$bin" "$@"
    ;;
serve)
    shift
    ;;
esac

migrate
bootstrap_admin_token
say "starting attachd serve on port ${ATTACHD_PORT:-8080}"
exec "$bin" serve "$@"
