#!/usr/bin/env bash
# bench/write_cost.sh: PostgreSQL's instructions per application of attachd's own write path, in
# the campaign day's mix (bench/wrk/campaign_day.lua: half the polyclinics auto-approve, a
# quarter of the applicants are minors, a few polyclinics do not take part), counted by
# valgrind's callgrind, which does not move with the load of the machine (docs/PERFORMANCE.md,
# round 8). bench/schema_cost.sh counts the least SQL of an auto-approval; this counts what
# attachd sends: its statements, their plans, triggers, foreign keys and the commit.
#
# It makes a throwaway cluster (migrated, the demo catalogue, a campaign open today), fills the
# register for WRITE_COST_FILL seconds through attachd (so that tables and statistics look like
# a campaign day's), ANALYZEs, then runs PostgreSQL under callgrind and attachd with one database
# session, twice: a short session (WRITE_COST_SHORT seconds of one connection) and a long one
# (WRITE_COST_LONG). Each session's backend writes its instructions when it ends; the difference
# divided by the difference in applications is the instructions per application without the
# session's start-up and plan-cache warm-up. Each session submits a fixed number of people
# (WRITE_COST_SHORT_N, WRITE_COST_LONG_N; the same people in the same order in every run), so
# two trees are counted on the same mix of outcomes: with sessions of fixed length the mix moved
# with the machine's speed (an approval costs more than a pending submission), and runs of one
# tree differed by 1-2 %. fsync is off (the kernel's work is not counted anyway); the long
# session's profile is kept for callgrind_annotate.
#
# Environment: BENCH_BUILD_DIR [build-bench] (attachd is built there if missing),
#   WRITE_COST_PGPORT [55496], WRITE_COST_PORT [18496], WRITE_COST_FILL [8],
#   WRITE_COST_SHORT [12], WRITE_COST_LONG [30]  seconds each session may take,
#   WRITE_COST_SHORT_N [150], WRITE_COST_LONG_N [550]  the applications each submits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ATTACHD_ROOT=$ROOT
. "$ROOT/scripts/lib.sh"
BUILD=$(_pg_abs "${BENCH_BUILD_DIR:-$ROOT/build-bench}")
PGPORT=${WRITE_COST_PGPORT:-55496}
PORT=${WRITE_COST_PORT:-18496}
DIR=$BUILD/write-cost
OUT=$BUILD/bench-results
mkdir -p "$OUT"

ensure_packages valgrind wrk postgresql-contrib
[ -x "$BUILD/attachd" ] || build_attachd "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
BIN=$BUILD/attachd
BINDIR=$(pg_bindir)

pg_local_destroy "$DIR"
PG_LOCAL_FAST=1 pg_local_start "$DIR" "$PGPORT" attachd
BASE=$(_pg_base "$DIR")
cleanup() {
    [ -n "${ATTACHD_PID:-}" ] && kill "$ATTACHD_PID" 2>/dev/null
    pkill -INT -f "callgrind.*$BASE/data" 2>/dev/null || true
    sleep 2
    pg_local_destroy "$DIR"
}
trap cleanup EXIT
"$BIN" migrate >"$OUT/write-cost.migrate.log" 2>&1
attachd_psql -f "$ROOT/scripts/demo-seed.sql" >/dev/null
attachd_psql -f "$ROOT/bench/campaign_window.sql" >/dev/null
PORTAL=$(attachd_token_create "$BIN" portal bench-portal)
POLYS=$(attachd_psql -At -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM polyclinics
    WHERE settlement = '751110000'")

# load SECONDS CONNECTIONS STREAM [MAX]: the campaign day's requests, people of IIN stream
# STREAM (at most MAX of them).
load() {
    BENCH_PATH=/v1/applications BENCH_PORTAL_TOKEN="$PORTAL" BENCH_POLYCLINICS="$POLYS" \
        BENCH_SETTLEMENT=751110000 BENCH_IIN_STREAM=$3 BENCH_MAX_REQUESTS=${4:-} \
        wrk -t1 -c"$2" -d"$1s" --timeout 60s \
        -s "$ROOT/bench/wrk/campaign_day.lua" "http://127.0.0.1:$PORT" >"$OUT/write-cost.wrk.$3" 2>&1
}
serve() { # POOL
    ATTACHD_PORT=$PORT ATTACHD_THREADS=$1 ATTACHD_DB_POOL=$1 ATTACHD_LOG_LEVEL=warn "$BIN" serve \
        >>"$OUT/write-cost.attachd.log" 2>&1 &
    ATTACHD_PID=$!
    wait_http "http://127.0.0.1:$PORT/healthz" 120 "$ATTACHD_PID" || die "attachd did not answer"
}
count() { attachd_psql -At -c 'SELECT count(*) FROM applications'; }

log "filling the register (${WRITE_COST_FILL:-8} s, 16 connections)"
serve 4
load "${WRITE_COST_FILL:-8}" 16 1
kill "$ATTACHD_PID" && wait "$ATTACHD_PID" 2>/dev/null || true
ATTACHD_PID=
attachd_psql -c 'VACUUM ANALYZE' >/dev/null
log "register: $(count) applications; PostgreSQL under callgrind"
pg_local_stop "$DIR"
_pg_as_owner valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$BASE/cg.%p" \
    "$BINDIR/postgres" -D "$BASE/data" -p "$PGPORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories= -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
    -c autovacuum=off >"$OUT/write-cost.postgres.log" 2>&1 &
for _ in $(seq 120); do attachd_psql -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done

# session SECONDS STREAM N: one attachd session submitting N people within SECONDS; prints
# "applications instructions".
session() {
    local n0 n1 pid f
    n0=$(count)
    serve 1
    pid=$(attachd_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'
        AND pid <> pg_backend_pid() AND datname = 'attachd' ORDER BY backend_start LIMIT 1")
    load "$1" 1 "$2" "$3"
    kill "$ATTACHD_PID" && wait "$ATTACHD_PID" 2>/dev/null || true
    ATTACHD_PID=
    f=$BASE/cg.$pid
    for _ in $(seq 60); do grep -q '^totals:' "$f" 2>/dev/null && break; sleep 1; done
    n1=$(count)
    # Past its N people the loader sends requests that answer 404: none means it never got there
    # (wrk draws one request it does not send, so a session stores N - 1).
    grep -q 'err_status=[1-9]' "$OUT/write-cost.wrk.$2" ||
        die "a session did not submit its $3 people in $1 s: raise WRITE_COST_SHORT/LONG"
    cp "$f" "$OUT/write-cost.callgrind.$2"
    echo "$((n1 - n0)) $(sed -n 's/^totals: //p' "$f")"
}
log "callgrind: a short and a long session of one connection"
read -r a1 i1 < <(session "${WRITE_COST_SHORT:-12}" 2 "${WRITE_COST_SHORT_N:-150}")
last=$(attachd_psql -At -c 'SELECT coalesce(max(id), 0) FROM applications')
read -r a2 i2 < <(session "${WRITE_COST_LONG:-30}" 3 "${WRITE_COST_LONG_N:-550}")
[ "$a2" -gt "$a1" ] || die "the long session stored no more applications than the short one"
mix=$(attachd_psql -At -c "SELECT string_agg(s || '=' || n, ' ' ORDER BY s) FROM (SELECT
    coalesce(refusal_code, status::text) AS s, count(*) AS n FROM applications
    WHERE id > $last GROUP BY 1) x")
cp "$OUT/write-cost.callgrind.3" "$OUT/write-cost.callgrind"
printf 'write cost: %d instructions per application (PostgreSQL backend, attachd'"'"'s statements, campaign mix of the long session: %s; sessions of %d and %d applications)\n' \
    "$(((i2 - i1) / (a2 - a1)))" "$mix" "$a1" "$a2" | tee "$OUT/write-cost.txt"
printf 'profile: callgrind_annotate --inclusive=yes %s\n' "$OUT/write-cost.callgrind"
