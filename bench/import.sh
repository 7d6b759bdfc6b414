#!/usr/bin/env bash
# The register import bench (issue 10, deliverable 4): `bench/run.sh import` runs this.
#
# In a throwaway PostgreSQL (durable: fsync and synchronous_commit on) it creates a catalogue big
# enough to hold two registers (BENCH_IMPORT_POLYCLINICS polyclinics of 20 districts each: 13
# GP at 1 700, 5 therapist at 2 200, 2 pediatric 0-14 at 900; 41.9 M places at the default
# 1 200), writes two CSV files of BENCH_IMPORT_ROWS rows each with bench/gen_register (distinct
# valid IINs, no IIN in both files, districts filled in proportion to their capacity, one row
# in ten a closed period), then measures, one after the other in one run:
#   copy    psql \copy of file 1 into a plain table of the file's columns (the baseline)
#   first   attachd import attachments of file 1 into the empty register
#   second  attachd import attachments of file 2 into the register holding file 1
#           (BENCH_IMPORT_SECOND=0 skips it)
# and prints rows/s, wall and CPU seconds (PostgreSQL's, the client's) per million rows, and the
# ratios import/copy (bar >= 0.1) and second/first time per row (bar <= 2). The import's log,
# with the duration of each step, is kept in the output directory. The CSV files are deleted at
# the end.
#
# Environment (defaults in brackets):
#   BENCH_IMPORT_ROWS [20000000]  rows per file     BENCH_IMPORT_SECOND [1]
#   BENCH_IMPORT_POLYCLINICS [1200]                  BENCH_PGPORT [55480]
#   BENCH_LOCK []  a lock file: each measurement runs under flock on it (/work/bench.lock on a
#                  shared machine)
#   BENCH_BUILD_DIR [build-bench]  BENCH_KEEP [0]  1: leave PostgreSQL running at the end
set -euo pipefail
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

ROWS=${BENCH_IMPORT_ROWS:-20000000}
SECOND=${BENCH_IMPORT_SECOND:-1}
NPOLY=${BENCH_IMPORT_POLYCLINICS:-1200}
PGPORT_BENCH=${BENCH_PGPORT:-55480}
LOCK=${BENCH_LOCK:-}
BUILD=$ROOT/${BENCH_BUILD_DIR:-build-bench}
PGDIR=$BUILD/pg-import
OUT=$BUILD/bench-import
HZ=$(getconf CLK_TCK)

fail_setup() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

cleanup() {
    local rc=$?
    rm -f "$OUT/file1.csv" "$OUT/file2.csv"
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "BENCH_KEEP=1: PostgreSQL keeps running on :$PGPORT_BENCH (. scripts/lib.sh; pg_local_stop $PGDIR)"
    else
        pg_local_destroy "$PGDIR" >/dev/null 2>&1 || true
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# ---- setup ------------------------------------------------------------------------------------
log "building Release into $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DATTACHD_BENCH=ON >/dev/null ||
    fail_setup "cmake configure failed"
cmake --build "$BUILD" -j "${ATTACHD_BUILD_JOBS:-2}" --target attachd gen_register \
    >"$BUILD/bench-import-build.log" 2>&1 || {
    tail -n 30 "$BUILD/bench-import-build.log" >&2
    fail_setup "build failed (log: $BUILD/bench-import-build.log)"
}
BIN=$BUILD/attachd
GEN=$BUILD/bench/gen_register
# The code measured: as built now (the report is written minutes later).
BUILT_FROM="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src include migrations 2>/dev/null || echo ' + local changes')"
rm -rf "$OUT"
mkdir -p "$OUT"

# Two files of about 46 bytes a row, the staging tables, the table and its indexes twice over.
need_gb=$(((ROWS * 2 * 46 + ROWS * 2 * 400) / 1000000000 + 1))
avail_gb=$(df -P -BG "$BUILD" | awk 'NR == 2 {sub(/G/, "", $4); print $4}')
[ "$avail_gb" -gt "$need_gb" ] || fail_setup "about $need_gb GB needed on $(df -P "$BUILD" | awk 'NR == 2 {print $6}'), $avail_gb GB free"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
! listening "$PGPORT_BENCH" || fail_setup "port $PGPORT_BENCH is in use (BENCH_PGPORT chooses another)"
pg_local_destroy "$PGDIR" >/dev/null 2>&1 || true
pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd >/dev/null || fail_setup "PostgreSQL did not start"
PGDATA_DIR=$(_pg_base "$PGDIR")/data
# A bulk load writes GBs of WAL: checkpoints every 1 GB (the default max_wal_size) would write
# most pages twice (full-page images). What an operator sets for a load; durability is unchanged.
attachd_psql -c "ALTER SYSTEM SET max_wal_size = '16GB'" -c "ALTER SYSTEM SET shared_buffers = '1GB'" \
    -c "ALTER SYSTEM SET checkpoint_timeout = '30min'" >/dev/null
pg_local_stop "$PGDIR" >/dev/null && pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd >/dev/null ||
    fail_setup "PostgreSQL did not restart"
"$BIN" migrate >"$OUT/migrate.log" 2>&1 || fail_setup "attachd migrate failed; see $OUT/migrate.log"

log "catalogue: $NPOLY polyclinics, $((NPOLY * 20)) districts"
"$GEN" bins "$NPOLY" >"$OUT/bins.txt" || fail_setup "gen_register bins failed"
attachd_psql >/dev/null <<SQL || fail_setup "catalogue failed"
CREATE TEMP TABLE bins (n serial, bin text);
\copy bins (bin) FROM '$OUT/bins.txt'
INSERT INTO settlements (kato, name_kk, name_ru)
SELECT lpad((750000000 + s * 100)::text, 9, '0'), 'Елді мекен ' || s, 'Населённый пункт ' || s
FROM generate_series(1, 100) AS s;
INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, ownership, auto_approve)
SELECT b.bin, 'Емхана ' || b.n, 'Поликлиника ' || b.n,
       lpad((750000000 + (b.n % 100 + 1) * 100)::text, 9, '0'),
       CASE WHEN b.n % 10 IN (3, 6, 9) THEN 'private' ELSE 'public' END, b.n % 2 = 0
FROM bins b ORDER BY b.n;
INSERT INTO districts (polyclinic_id, number, kind, capacity)
SELECT p.id, i::text, k.code, k.norm
FROM polyclinics p CROSS JOIN generate_series(1, 20) AS i
JOIN district_kinds k ON k.code = CASE WHEN i <= 13 THEN 'gp' WHEN i <= 18 THEN 'therapist'
                                       ELSE 'pediatric_0_14' END
ORDER BY p.id, i;
VACUUM ANALYZE;
SQL
attachd_psql -At -F, -c 'SELECT polyclinic_id, number, capacity FROM districts ORDER BY id' \
    >"$OUT/districts.csv"

log "generating 2 x $ROWS rows"
"$GEN" rows "$OUT/districts.csv" "$ROWS" 0 >"$OUT/file1.csv" || fail_setup "gen_register rows failed"
[ "$SECOND" = 0 ] || "$GEN" rows "$OUT/districts.csv" "$ROWS" 1 >"$OUT/file2.csv" ||
    fail_setup "gen_register rows failed"
log "file 1: $(du -h "$OUT/file1.csv" | cut -f1)"

# ---- measuring --------------------------------------------------------------------------------
# pg_ticks: CPU time of the cluster: its processes now plus the exited ones (the import's
# backend, parallel workers), which the postmaster's children times hold.
pg_ticks() {
    local pm t c
    pm=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for c in $(pgrep -P "$pm"); do t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}

# run NAME COMMAND...: runs COMMAND (under the lock when BENCH_LOCK is set), records "wall_s
# pg_cpu_s client_cpu_s" in $OUT/NAME.times, its output in $OUT/NAME.log.
run() {
    local name=$1 t0 p0 p1 t1 c
    shift
    if [ -n "$LOCK" ]; then # held for the measurement only, not the waiting
        exec 9>>"$LOCK"
        log "$name: waiting for $LOCK"
        flock 9
    fi
    log "$name: uptime before: $(uptime)"
    echo "$(uptime)" >"$OUT/$name.uptime"
    p0=$(pg_ticks)
    t0=$(date +%s.%N)
    TIMEFORMAT='%U %S'
    { time "$@" >"$OUT/$name.log" 2>&1; } 2>"$OUT/$name.client" || {
        cat "$OUT/$name.log" >&2
        fail_setup "$name failed (log: $OUT/$name.log)"
    }
    t1=$(date +%s.%N)
    sleep 1 # the client's backend has exited and been reaped: its CPU is the postmaster's now
    p1=$(pg_ticks)
    echo "$(uptime)" >>"$OUT/$name.uptime"
    log "$name: uptime after: $(uptime)"
    [ -z "$LOCK" ] || exec 9>&-
    c=$(awk '{print $1 + $2}' "$OUT/$name.client")
    awk -v a="$t0" -v b="$t1" -v p="$((p1 - p0))" -v hz="$HZ" -v c="$c" \
        'BEGIN{printf "%.2f %.2f %.2f\n", b - a, p / hz, c}' >"$OUT/$name.times"
}

attachd_psql -c 'CREATE TABLE copy_baseline (iin text, polyclinic_id bigint, district_number text,
    valid_from date, valid_to date)' >/dev/null
attachd_psql -c 'CHECKPOINT' >/dev/null
run copy "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" \
    -c "\\copy copy_baseline FROM '$OUT/file1.csv' WITH (FORMAT csv, HEADER true)"
attachd_psql -c 'DROP TABLE copy_baseline' -c 'CHECKPOINT' >/dev/null
run first "$BIN" import attachments "$OUT/file1.csv"
if [ "$SECOND" != 0 ]; then
    attachd_psql -c 'CHECKPOINT' >/dev/null
    run second "$BIN" import attachments "$OUT/file2.csv"
fi

# The register after: every row, nopen as counted afresh, no district over capacity, no overlap.
check=$(attachd_psql -At -F' ' <<'SQL'
SELECT (SELECT count(*) FROM attachments),
       (SELECT count(*) FROM districts d LEFT JOIN (SELECT district_id, count(*) AS n
            FROM attachments WHERE valid_to IS NULL AND NOT cancelled GROUP BY district_id) a
            ON a.district_id = d.id WHERE d.nopen <> coalesce(a.n, 0)),
       (SELECT count(*) FROM districts d WHERE district_load(d) > d.capacity),
       (SELECT count(*) FROM (SELECT iin FROM attachments WHERE NOT cancelled
            GROUP BY iin HAVING count(*) > 1) x),
       (SELECT count(*) FROM pg_indexes WHERE tablename = 'attachments')
SQL
)
read -r nrows bad_nopen over dup nindexes <<<"$check"

# ---- report -----------------------------------------------------------------------------------
{
    printf 'register import bench, %s, host %s, %s CPUs, built from commit %s\n' "$(date -u +%FT%TZ)" \
        "$(uname -n)" "$(getconf _NPROCESSORS_ONLN)" "$BUILT_FROM"
    printf '%s rows per file, %s districts; PostgreSQL durable (fsync on), max_wal_size 16GB, shared_buffers 1GB\n\n' \
        "$ROWS" "$((NPOLY * 20))"
    printf '%-8s %9s %10s %14s %14s   %s\n' step 'wall s' 'rows/s' 'pg cpu s/M' 'client s/M' 'uptime before / after'
    for name in copy first second; do
        [ -s "$OUT/$name.times" ] || continue
        read -r w p c <"$OUT/$name.times"
        printf '%-8s %9.1f %10.0f %14.2f %14.2f   %s / %s\n' "$name" "$w" "$(awk -v w="$w" -v r="$ROWS" 'BEGIN{print r / w}')" \
            "$(awk -v p="$p" -v r="$ROWS" 'BEGIN{print p * 1e6 / r}')" \
            "$(awk -v p="$c" -v r="$ROWS" 'BEGIN{print p * 1e6 / r}')" \
            "$(sed -n 1p "$OUT/$name.uptime" | sed 's/.*load average: //')" \
            "$(sed -n 2p "$OUT/$name.uptime" | sed 's/.*load average: //')"
    done
    read -r wc _ <"$OUT/copy.times"
    read -r w1 _ <"$OUT/first.times"
    printf '\nimport/copy (rows/s): %.3f  (bar >= 0.1)\n' "$(awk -v a="$wc" -v b="$w1" 'BEGIN{print a / b}')"
    if [ -s "$OUT/second.times" ]; then
        read -r w2 _ <"$OUT/second.times"
        printf 'second/first (time per row): %.2f  (bar <= 2)\n' "$(awk -v a="$w2" -v b="$w1" 'BEGIN{print a / b}')"
    fi
    printf 'after: %s attachments, %s indexes; districts with a wrong nopen: %s, over capacity: %s; people with two live attachments: %s\n' \
        "$nrows" "$nindexes" "$bad_nopen" "$over" "$dup"
    for name in first second; do
        [ -s "$OUT/$name.log" ] || continue
        printf '\n%s import, steps:\n' "$name"
        sed -n 's/.*import: /  /p' "$OUT/$name.log"
        tail -n 1 "$OUT/$name.log" | sed 's/^/  /'
    done
} >"$OUT/results.txt"
cat "$OUT/results.txt"
expect=$((ROWS * (SECOND == 0 ? 1 : 2)))
[ "$nrows" = "$expect" ] && [ "$bad_nopen" = 0 ] && [ "$over" = 0 ] && [ "$dup" = 0 ] || {
    warn "the register after the imports is wrong (expected $expect rows; see above)"
    exit 1
}
}
