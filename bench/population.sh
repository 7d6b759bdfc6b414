#!/usr/bin/env bash
# The attached population on a 20 M register (bench/README.md, "The attached population").
#
#   bench/population.sh      build Release into build-bench/, load the register, measure, clean up
#
# Builds a throwaway PostgreSQL in build-bench/pgpop with a register of BENCH_ROWS attachments
# (bench/population.sql: INSERT ... SELECT generate_series, the indexes and constraints put back
# after the load), starts attachd on it and measures (bench/population_measure.py): the CSV
# download of polyclinic 1 (BENCH_ROWS / BENCH_POLYCLINICS people), rows/s and attachd's peak RSS
# (VmHWM), JSON pages and /population latency, the reports; then writes the EXPLAIN plans of the
# list and the counts. At the end it stops attachd and deletes the cluster (BENCH_KEEP=1 keeps
# both). Not part of scripts/test.sh. Results: build-bench/population-results/.
#
# Environment (defaults in brackets): BENCH_ROWS [20000000], BENCH_POLYCLINICS [200],
# BENCH_DISTRICTS [60] per polyclinic, BENCH_PGPORT [55490], BENCH_PORT [18490],
# BENCH_BUILD_DIR [build-bench], BENCH_KEEP [0]
set -euo pipefail
{
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

ROWS=${BENCH_ROWS:-20000000}
POLYCLINICS=${BENCH_POLYCLINICS:-200}
DISTRICTS=${BENCH_DISTRICTS:-60}
BUILD=$ROOT/${BENCH_BUILD_DIR:-build-bench}
PGDIR=$BUILD/pgpop
OUT=$BUILD/population-results
BIN=$BUILD/attachd
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "BENCH_KEEP=1: PostgreSQL in $PGDIR left running ($DATABASE_URL)"
    else
        log "dropping the bench database (deleting $PGDIR)"
        pg_local_destroy "$PGDIR" || warn "could not delete $PGDIR"
    fi
}

# About 450 bytes a row in the end (heap, five indexes, the exclusion constraint's GiST, WAL while
# loading), and as much again of room.
mkdir -p "$BUILD" "$OUT"
need_gb=$(((ROWS / 1000000) * 900 / 1000 + 2))
free_gb=$(df -BG --output=avail "$BUILD" | tail -n 1 | tr -dc 0-9)
log "free disk where the cluster goes: ${free_gb} GB, needed about ${need_gb} GB"
df -h "$BUILD" >&2
[ "$free_gb" -ge "$need_gb" ] || die "not enough free disk for $ROWS rows"

log "building Release into $BUILD"
build_attachd "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "build failed"

pg_local_destroy "$PGDIR"
port=$(free_port "${BENCH_PGPORT:-55490}")
PG_LOCAL_FAST=1 pg_local_start "$PGDIR" "$port" attachd_population || die "PostgreSQL did not start"
trap cleanup EXIT
attachd_psql -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c "SELECT pg_reload_conf()" >/dev/null
"$BIN" migrate

log "loading $ROWS attachments into $POLYCLINICS polyclinics x $DISTRICTS districts"
start=$(date +%s)
attachd_psql -v rows="$ROWS" -v polyclinics="$POLYCLINICS" -v districts="$DISTRICTS" \
    -f "$ROOT/bench/population.sql" >"$OUT/load.log" 2>&1 || {
    tail -n 20 "$OUT/load.log" >&2
    die "loading failed"
}
log "loaded in $(($(date +%s) - start)) s (statement times in $OUT/load.log)"
attachd_psql -At -c "SELECT pg_size_pretty(pg_total_relation_size('attachments')),
    pg_size_pretty(pg_database_size(current_database()))" | tee "$OUT/size.txt" >&2

ADMIN=$(attachd_token_create "$BIN" admin "bench admin")
REG=$(attachd_token_create "$BIN" registrar "bench registrar" 1)
hport=$(free_port "${BENCH_PORT:-18490}")
ATTACHD_PORT=$hport ATTACHD_LOG_LEVEL=warn "$BIN" serve >"$OUT/attachd.log" 2>&1 &
SERVER_PID=$!
wait_http "http://127.0.0.1:$hport/healthz" 30 "$SERVER_PID" || die "attachd did not start"

python3 "$ROOT/bench/population_measure.py" --url "http://127.0.0.1:$hport" --admin "$ADMIN" \
    --registrar "$REG" --pid "$SERVER_PID" --polyclinic 1 | tee "$OUT/results.md"

# The plans, with the parameters attachd sends: a page in the middle of polyclinic 1, one
# district's first page, the counts' people (the population function's only scan).
mid=$(attachd_psql -At -c "SELECT district_id || ' ' || id FROM attachments
    WHERE polyclinic_id = 1 AND NOT cancelled ORDER BY district_id, id
    OFFSET (SELECT count(*) / 2 FROM attachments WHERE polyclinic_id = 1) LIMIT 1")
set -- $mid
{
    echo "-- page of 50 in the middle of polyclinic 1 (cursor $1.$2)"
    attachd_psql -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM
        polyclinic_attached(1, current_date, NULL, $1, $2, 51)"
    echo "-- first page of one district"
    attachd_psql -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM
        polyclinic_attached(1, current_date, $1, $1, 0, 51)"
    echo "-- the people counted by polyclinic_population (all of polyclinic 1)"
    attachd_psql -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT count(*) FROM
        polyclinic_attached(1, current_date, NULL, 0, 0, NULL)"
    echo "-- what attached_stats counts per polyclinic (here polyclinic 1)"
    attachd_psql -At -c "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT count(*) FROM attachments t
        WHERE t.polyclinic_id = 1 AND NOT t.cancelled AND t.valid_from <= current_date
        AND (t.valid_to IS NULL OR t.valid_to > current_date)"
} >"$OUT/plans.txt" 2>&1
log "plans in $OUT/plans.txt"
}
