#!/usr/bin/env bash
# bench/schema_cost.sh: what the schema costs PostgreSQL per auto-approved application, counted
# in CPU instructions, which do not move with the load of the machine (docs/PERFORMANCE.md,
# round 4).
#
# It makes a throwaway cluster (migrated, the demo catalogue, a campaign open today, half of the
# city's polyclinics auto-approving, as campaign-day has them), fills the register with the
# least SQL of bench/pgbench/campaign_day_min.sql, SCHEMA_COST_FILL applications (so that the
# tables and their statistics look like a campaign day's, not empty), stops it, and then runs
# that same least SQL in a single-user PostgreSQL backend under valgrind's callgrind: twice,
# from the same copy of the data, for SCHEMA_COST_WARM and SCHEMA_COST_N applications
# (bench/schema_cost.py writes the script: prepared statements, as pgbench and attachd run
# them). The difference divided by the difference in applications is the backend's
# instructions per application without start-up and plan-cache warm-up, without the network and
# without the WAL's fsync; callgrind's profile of the longer run is kept for callgrind_annotate.
# Two runs of the same tree give the same figure to a few hundred instructions.
#
# Environment: BENCH_BUILD_DIR [build-bench] (attachd is built there if missing),
#   SCHEMA_COST_PGPORT [55495], SCHEMA_COST_FILL [20000], SCHEMA_COST_WARM [40],
#   SCHEMA_COST_N [240], SCHEMA_COST_SETUP (an SQL file run on the copy before measuring: to try
#   a schema change without a migration).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ATTACHD_ROOT=$ROOT
. "$ROOT/scripts/lib.sh"
BUILD=$(_pg_abs "${BENCH_BUILD_DIR:-$ROOT/build-bench}")
PORT=${SCHEMA_COST_PGPORT:-55495}
WARM=${SCHEMA_COST_WARM:-40}
N=${SCHEMA_COST_N:-240}
DIR=$BUILD/schema-cost
OUT=$BUILD/bench-results
mkdir -p "$OUT"

ensure_packages valgrind postgresql-contrib
[ -x "$BUILD/attachd" ] || build_attachd "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
BIN=$BUILD/attachd
BINDIR=$(pg_bindir)

pg_local_destroy "$DIR"
PG_LOCAL_FAST=1 pg_local_start "$DIR" "$PORT" attachd
trap 'pg_local_destroy "$DIR"' EXIT
DATABASE_URL=$DATABASE_URL "$BIN" migrate >"$OUT/schema-cost.migrate.log" 2>&1
attachd_psql -f "$ROOT/scripts/demo-seed.sql" >/dev/null
attachd_psql -f "$ROOT/bench/campaign_window.sql" >/dev/null
# The person of every application, in the fill and in the measured runs alike.
PERSON='{"iin":"x","last_name":"Бенчмарков","first_name":"Тест","middle_name":null,"birth_date":"1985-03-14","sex":"male","residency":"citizen"}'
npolys=$(attachd_psql -At -c "SELECT count(*) FROM polyclinics WHERE auto_approve AND accepting AND fsms_contract")
FILL=${SCHEMA_COST_FILL:-20000}
log "filling the register with $FILL applications (pgbench, least SQL of an auto-approval)"
PGOPTIONS='-c timezone=Asia/Almaty -c jit=off -c random_page_cost=1.1' "$BINDIR/pgbench" -n -M prepared -c 4 -j 2 \
    -t $((FILL / 4)) -f "$ROOT/bench/pgbench/campaign_day_min.sql" \
    -D k=0 -D npolys="$npolys" -D person="$PERSON" \
    -h 127.0.0.1 -p "$PORT" -U postgres attachd >"$OUT/schema-cost.fill.log" 2>&1
attachd_psql -c 'VACUUM ANALYZE' >/dev/null
# The adult districts of the auto-approving polyclinics, as campaign_day_min.sql finds them (the
# polyclinic by OFFSET :pn in id order, its least-loaded adult district).
attachd_psql -At -F , >"$DIR/catalogue.csv" <<'SQL'
SELECT p.id, (SELECT d.id FROM districts d JOIN district_kinds k ON k.code = d.kind
              WHERE d.polyclinic_id = p.id AND d.open AND k.min_age <= 41
                AND coalesce(k.max_age, 200) >= 41 ORDER BY d.nopen, d.id LIMIT 1),
       c.year, c.effective_on
FROM polyclinics p CROSS JOIN campaigns c
WHERE p.auto_approve AND p.accepting AND p.fsms_contract
  AND current_date BETWEEN c.opens_on AND c.closes_on
ORDER BY p.id
SQL
stored=$(attachd_psql -At -c 'SELECT count(*) FROM applications')
attachd_psql -c 'CHECKPOINT' >/dev/null
pg_local_stop "$DIR"
BASE=$(_pg_base "$DIR")

# instructions COUNT: callgrind's total for COUNT applications from a fresh copy of the data.
instructions() {
    local run=$BASE/run-$1
    rm -rf "$run"
    cp -a "$BASE/data" "$run"
    rm -f "$run/postmaster.pid"
    if [ -n "${SCHEMA_COST_SETUP:-}" ]; then
        _pg_as_owner "$BINDIR/postgres" --single -j -D "$run" attachd \
            <"$SCHEMA_COST_SETUP" >"$OUT/schema-cost.setup.log" 2>&1
    fi
    python3 "$ROOT/bench/schema_cost.py" "$ROOT/bench/pgbench/campaign_day_min.sql" \
        "$DIR/catalogue.csv" "$1" 700000000000 "$PERSON" >"$BASE/run-$1.sql"
    # Checked afterwards: every application of the run was stored, approved.
    printf "SELECT 'approved=' || count(*) FROM applications WHERE iin >= '700000000000' AND status = 'approved';\n\n" \
        >>"$BASE/run-$1.sql"
    _pg_as_owner valgrind --tool=callgrind --callgrind-out-file="$BASE/callgrind.$1" \
        "$BINDIR/postgres" --single -j -D "$run" -c fsync=off attachd \
        <"$BASE/run-$1.sql" >"$BASE/run-$1.out" 2>"$BASE/run-$1.valgrind"
    if grep -q "ERROR" "$BASE/run-$1.out" "$OUT/schema-cost.setup.log" 2>/dev/null; then
        grep -m 3 "ERROR" "$BASE/run-$1.out" "$OUT/schema-cost.setup.log" >&2 || true
        die "the single-user run failed"
    fi
    grep -q "\"approved=$1\"" "$BASE/run-$1.out" ||
        die "the single-user run did not store $1 approved applications: $(grep -m 1 'approved=' "$BASE/run-$1.out")"
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$BASE/run-$1.valgrind"
}

log "callgrind: $WARM and $N applications in a single-user backend ($stored applications stored)"
a=$(instructions "$WARM")
b=$(instructions "$N")
cp "$BASE/callgrind.$N" "$OUT/schema-cost.callgrind"
per=$(((b - a) / (N - WARM)))
printf 'schema cost: %d instructions per auto-approved application (PostgreSQL backend, least SQL of campaign_day_min.sql; register of %d applications)\n' \
    "$per" "$stored" | tee "$OUT/schema-cost.txt"
printf 'profile: callgrind_annotate --inclusive=yes %s\n' "$OUT/schema-cost.callgrind"
