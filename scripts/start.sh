#!/usr/bin/env bash
# Start attachd on this machine (README command 1).
#
# Installs what is missing (Debian 12), builds into build/, starts a project-local PostgreSQL in
# .pgdata/ (kept between runs), migrates, loads the demo catalogue, creates demo tokens on the
# first run (saved in .attachd-tokens) and then runs `attachd serve` in the foreground.
#
#   scripts/start.sh          start (Ctrl-C stops attachd; PostgreSQL keeps running)
#   scripts/start.sh stop     stop the project-local PostgreSQL
#
# Environment: PGPORT (PostgreSQL port, default 54329), ATTACHD_PORT (HTTP port, default 8080),
# ATTACHD_THREADS, ATTACHD_DB_POOL, ATTACHD_LOG_LEVEL (passed to attachd).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

PGDIR=$ROOT/.pgdata
TOKENS=$ROOT/.attachd-tokens
BIN=$ROOT/build/attachd

case ${1:-} in
'') ;;
stop)
    pg_local_stop "$PGDIR"
    exit 0
    ;;
-h | --help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*) die "unknown argument '$1' (try --help)" ;;
esac

# shellcheck disable=SC2119 # ensure_packages takes extra package names, not our arguments
ensure_packages
build_attachd "$ROOT/build" || die "build failed"
[ -x "$BIN" ] || die "the build did not produce $BIN"

pg_local_start "$PGDIR" "${PGPORT:-54329}" attachd || die "could not start PostgreSQL in $PGDIR"

log "migrating"
"$BIN" migrate || die "attachd migrate failed"

if [ -f "$ROOT/scripts/demo-seed.sql" ]; then
    log "loading the demo catalogue (scripts/demo-seed.sql)"
    attachd_psql -f "$ROOT/scripts/demo-seed.sql" || die "scripts/demo-seed.sql failed"
else
    warn "scripts/demo-seed.sql not found: no demo catalogue loaded"
fi

# The tokens belong to one cluster: remember its system identifier, so that a recreated .pgdata
# (where the old tokens do not exist) gets new ones.
cluster_id=$(attachd_psql -At -c 'SELECT system_identifier FROM pg_control_system()')

token_value() { sed -n "s/^$1=//p" "$TOKENS" 2>/dev/null | tail -n 1; }

if [ -f "$TOKENS" ] && [ "$(sed -n 's/^# cluster //p' "$TOKENS")" = "$cluster_id" ] &&
    [ -n "$(token_value ATTACHD_ADMIN_TOKEN)" ]; then
    log "reusing the tokens in .attachd-tokens"
else
    [ -f "$TOKENS" ] && warn ".attachd-tokens belongs to another database; creating new tokens"
    log "creating demo tokens"
    admin=$(attachd_token_create "$BIN" admin "local admin") || die "could not create the admin token"
    portal=$(attachd_token_create "$BIN" portal "local portal") || die "could not create the portal token"
    poly=$(attachd_psql -At -c 'SELECT id FROM polyclinics ORDER BY id LIMIT 1') || poly=
    registrar=
    if [ -n "$poly" ]; then
        registrar=$(attachd_token_create "$BIN" registrar "local registrar" "$poly") ||
            die "could not create the registrar token"
    else
        warn "no polyclinic in the database: no registrar token"
    fi
    tmp=$(mktemp "$ROOT/.attachd-tokens.XXXXXX")
    {
        printf '# attachd demo tokens, made by scripts/start.sh on %s. Secret: do not commit.\n' "$(date -u +%FT%TZ)"
        printf '# Load them with:  set -a; . ./.attachd-tokens; set +a\n'
        printf '# cluster %s\n' "$cluster_id"
        printf 'ATTACHD_ADMIN_TOKEN=%s\n' "$admin"
        printf 'ATTACHD_PORTAL_TOKEN=%s\n' "$portal"
        if [ -n "$registrar" ]; then
            printf 'ATTACHD_REGISTRAR_TOKEN=%s\n' "$registrar"
            printf 'ATTACHD_REGISTRAR_POLYCLINIC_ID=%s\n' "$poly"
        fi
    } >"$tmp"
    chmod 600 "$tmp"
    mv -f "$tmp" "$TOKENS"
fi
chmod 600 "$TOKENS"

export ATTACHD_PORT=${ATTACHD_PORT:-8080}
port_is_free "$ATTACHD_PORT" ||
    die "port $ATTACHD_PORT is in use (is attachd already running?); choose another with ATTACHD_PORT=..."

url=http://127.0.0.1:$ATTACHD_PORT
cat <<EOF

attachd is starting on $url  (PostgreSQL: $DATABASE_URL)
Tokens (also in .attachd-tokens):
  admin      $(token_value ATTACHD_ADMIN_TOKEN)
  portal     $(token_value ATTACHD_PORTAL_TOKEN)
  registrar  $(token_value ATTACHD_REGISTRAR_TOKEN)  (polyclinic $(token_value ATTACHD_REGISTRAR_POLYCLINIC_ID))
Try, in another shell in $ROOT:
  set -a; . ./.attachd-tokens; set +a
  curl -H "Authorization: Bearer \$ATTACHD_ADMIN_TOKEN" $url/v1/district-kinds
Ctrl-C stops attachd; 'scripts/start.sh stop' stops PostgreSQL.

EOF
exec "$BIN" serve
