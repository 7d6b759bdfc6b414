#!/usr/bin/env bash
# Run every test of attachd (README command 2; CI runs the same script).
#
# Installs what is missing (Debian 12), builds, runs the unit tests (ctest), starts a throwaway
# PostgreSQL under $BUILD_DIR/pgtest, migrates it, starts `attachd serve`, runs the integration
# tests against it (every answer checked against /openapi.json), lints the OpenAPI document and
# compiles and runs a TypeScript client generated from it (tools/contract/check.sh), checks that
# SIGTERM stops it cleanly, runs docker/entrypoint.sh the way the
# container does, runs the fault tests of tests/faults/ (PostgreSQL stopped and restarted under
# load, SIGTERM under load, a session cut after COMMIT, a silent first database host; each with
# its own attachd), runs `attachd import attachments` on a
# generated CSV and on broken copies of it, and cleans everything up. Exits non-zero if any step
# failed.
#
# Environment:
#   BUILD_DIR            build directory (default build)
#   CMAKE_ARGS           extra cmake arguments, e.g. -DATTACHD_SANITIZE=ON (ASan+UBSan)
#   ATTACHD_TEST_PGPORT  first port tried for the throwaway PostgreSQL (default 55432)
#   ATTACHD_TEST_PORT    first port tried for attachd (default 18080)
#   ATTACHD_IT_TIMEOUT   seconds the integration tests may take (default 900)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in
/*) ;;
*) BUILD_DIR=$ROOT/$BUILD_DIR ;;
esac
BUILD_NAME=${BUILD_DIR#"$ROOT"/}
read -r -a CMAKE_EXTRA <<<"${CMAKE_ARGS:-}"

BIN=$BUILD_DIR/attachd
PGTEST=$BUILD_DIR/pgtest
SERVER_LOG=$BUILD_DIR/attachd-test.log
EP_LOG=$BUILD_DIR/entrypoint-test.log
EP_TOKEN_FILE=$BUILD_DIR/entrypoint-admin-token
FAULT_LOGS=()

# Everything we talk to is on this machine: never through a proxy (curl and Python's urllib
# both honour these).
export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
export NO_PROXY=$no_proxy
export PYTHONDONTWRITEBYTECODE=1

SANITIZE=0
SERVER_PID=
SERVER_URL=
EP_PID=
IT_PID=
INTERRUPTED=
STOP_RC=
RESULTS=()
FAILED_STEPS=()
STARTED_AT=$SECONDS

# record STATUS NAME STARTED_AT_SECONDS
record() {
    RESULTS+=("$(printf '%-4s  %-52s %5ss' "$1" "$2" $((SECONDS - $3)))")
    [ "$1" = PASS ] || FAILED_STEPS+=("$2")
}

# run_step NAME fatal|continue FUNCTION...: run one step and record it. A failed fatal step ends
# the run (the EXIT trap still cleans up and prints the summary).
run_step() {
    local name=$1 mode=$2 started=$SECONDS
    shift 2
    log "$name"
    if "$@"; then
        record PASS "$name" "$started"
        return 0
    fi
    record FAIL "$name" "$started"
    if [ "$mode" = fatal ]; then
        RESULTS+=("      (the remaining steps were not run)")
        exit 1
    fi
}

# stop_process PID TIMEOUT: SIGTERM, then wait up to TIMEOUT seconds. Returns 0 when the process
# ended in time, with its exit status in STOP_RC; otherwise kills it and returns 1.
stop_process() {
    local pid=$1 ticks=$(($2 * 10))
    STOP_RC=
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$ticks" -le 0 ]; then
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 1
        fi
        ticks=$((ticks - 1))
        sleep 0.1
    done
    STOP_RC=0
    wait "$pid" 2>/dev/null || STOP_RC=$?
    return 0
}

show_log_tail() {
    [ -f "$1" ] || return 0
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n "${2:-30}" "$1" >&2
    printf -- '--- end of %s ---\n' "$1" >&2
}

print_summary() {
    local line
    printf '\n===== attachd test summary: %s (%ss) =====\n' "$BUILD_NAME" $((SECONDS - STARTED_AT))
    for line in "${RESULTS[@]}"; do
        printf '%s\n' "$line"
    done
    if [ ${#FAILED_STEPS[@]} -eq 0 ] && [ ${#RESULTS[@]} -gt 0 ]; then
        printf 'RESULT: all steps passed\n'
    else
        local failed=
        [ ${#FAILED_STEPS[@]} -eq 0 ] || failed=$(printf '%s; ' "${FAILED_STEPS[@]}")
        [ -z "$INTERRUPTED" ] || failed="${failed}interrupted"
        printf 'RESULT: FAILED: %s\n' "${failed%; }"
        printf 'logs: %s, %s, %s\n' "$SERVER_LOG" "$EP_LOG" "$(_pg_base "$PGTEST")/log"
        [ ${#FAULT_LOGS[@]} -eq 0 ] || printf 'fault test logs: %s\n' "${FAULT_LOGS[*]}"
    fi
}

cleanup() {
    local rc=$?
    set +e
    [ -n "$IT_PID" ] && stop_process "$IT_PID" 15
    [ -n "$SERVER_PID" ] && stop_process "$SERVER_PID" 5
    [ -n "$EP_PID" ] && stop_process "$EP_PID" 5
    pg_local_stop "$PGTEST" >/dev/null 2>&1
    print_summary
    [ ${#FAILED_STEPS[@]} -eq 0 ] || [ "$rc" -ne 0 ] || rc=1
    exit "$rc"
}
trap cleanup EXIT
trap 'INTERRUPTED=1; exit 130' INT
trap 'INTERRUPTED=1; exit 143' TERM

# ---- steps -------------------------------------------------------------------------------------

step_build() {
    build_attachd "$BUILD_DIR" "${CMAKE_EXTRA[@]}" || return 1
    [ -x "$BIN" ] || {
        warn "the build did not produce $BIN"
        return 1
    }
    if grep -Eqi '^ATTACHD_SANITIZE:[A-Z]*=(ON|TRUE|YES|1)$' "$BUILD_DIR/CMakeCache.txt"; then
        SANITIZE=1
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        log "sanitizer build: ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
    fi
}

step_unit_tests() {
    ctest --test-dir "$BUILD_DIR" --output-on-failure --no-tests=error --timeout 300
}

step_postgres() {
    local port
    pg_local_destroy "$PGTEST" || return 1
    port=$(free_port "${ATTACHD_TEST_PGPORT:-55432}") || return 1
    PG_LOCAL_FAST=1 pg_local_start "$PGTEST" "$port" attachd || return 1
    log "test database: $DATABASE_URL"
}

step_migrate() {
    "$BIN" migrate || return 1
    log "second migrate must find nothing to do"
    "$BIN" migrate || return 1
}

# The pool's pipelined flights against the real server (tests/unit/test_db_flight.c): ctest ran
# it before the database existed, where it does nothing.
step_db_flight() {
    ATTACHD_TEST_DATABASE_URL=$DATABASE_URL "$BUILD_DIR/test_db_flight"
}

step_tokens() {
    ATTACHD_ADMIN_TOKEN=$(attachd_token_create "$BIN" admin "test admin") || return 1
    ATTACHD_PORTAL_TOKEN=$(attachd_token_create "$BIN" portal "test portal") || return 1
    export ATTACHD_ADMIN_TOKEN ATTACHD_PORTAL_TOKEN
}

step_start_server() {
    local port
    port=$(free_port "${ATTACHD_TEST_PORT:-18080}") || return 1
    SERVER_URL=http://127.0.0.1:$port
    # debug: every request is logged, so the IIN check below sees the most the log can hold
    local wrap=()
    if [ "${ATTACHD_VALGRIND:-0}" = 1 ]; then
        # Memcheck: any error or definite leak makes attachd exit 99, which the SIGTERM step
        # reports; the details go to valgrind.log.
        wrap=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
            --errors-for-leak-kinds=definite --log-file="$BUILD_DIR/valgrind.log")
        log "attachd runs under valgrind memcheck (log $BUILD_DIR/valgrind.log)"
    fi
    ATTACHD_PORT=$port ATTACHD_LOG_LEVEL=debug "${wrap[@]}" "$BIN" serve >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    log "attachd serve (pid $SERVER_PID) on $SERVER_URL, log $SERVER_LOG"
    if ! wait_http "$SERVER_URL/healthz" 60 "$SERVER_PID"; then
        show_log_tail "$SERVER_LOG"
        return 1
    fi
}

step_integration() {
    [ -f "$ROOT/tests/integration/run.py" ] || {
        warn "tests/integration/run.py is missing"
        return 1
    }
    local rc=0
    # In the background and waited for, so that a SIGTERM to this script is handled at once.
    ATTACHD_URL=$SERVER_URL ATTACHD_BIN=$BIN ATTACHD_LOG=$SERVER_LOG \
        timeout -k 10 "${ATTACHD_IT_TIMEOUT:-900}" python3 -u "$ROOT/tests/integration/run.py" &
    IT_PID=$!
    wait "$IT_PID" || rc=$?
    IT_PID=
    [ "$rc" -ne 124 ] || warn "the integration tests timed out after ${ATTACHD_IT_TIMEOUT:-900}s"
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        warn "attachd exited during the integration tests"
        show_log_tail "$SERVER_LOG"
        rc=1
    fi
    return "$rc"
}

step_graceful_stop() {
    local pid=$SERVER_PID
    SERVER_PID=
    local grace=10
    [ "${ATTACHD_VALGRIND:-0}" != 1 ] || grace=60 # the leak check takes its time
    if ! stop_process "$pid" "$grace"; then
        warn "attachd did not stop within $grace s of SIGTERM (killed)"
        show_log_tail "$SERVER_LOG"
        return 1
    fi
    if [ "$STOP_RC" -ne 0 ]; then
        warn "attachd exited with status $STOP_RC after SIGTERM (expected 0)"
        [ ! -s "$BUILD_DIR/valgrind.log" ] || show_log_tail "$BUILD_DIR/valgrind.log"
        show_log_tail "$SERVER_LOG"
        return 1
    fi
}

step_sanitizer_reports() {
    local f bad=0
    for f in "$SERVER_LOG" "$EP_LOG" "${FAULT_LOGS[@]}"; do
        [ -f "$f" ] || continue
        if grep -En 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" >&2; then
            warn "sanitizer reports in $f"
            bad=1
        fi
    done
    return "$bad"
}

# SPEC §6: no full IIN in a log line. The integration tests submit hundreds of IINs; none may
# appear in the server's log (any run of exactly 12 digits counts as one).
step_no_iin_in_log() {
    [ -s "$SERVER_LOG" ] || {
        warn "no server log at $SERVER_LOG"
        return 1
    }
    if grep -En '(^|[^0-9])[0-9]{12}([^0-9]|$)' "$SERVER_LOG" | head -5 >&2 &&
        grep -Eq '(^|[^0-9])[0-9]{12}([^0-9]|$)' "$SERVER_LOG"; then
        warn "12-digit numbers (IINs?) in $SERVER_LOG"
        return 1
    fi
    log "$(wc -l <"$SERVER_LOG") log lines, no 12-digit number among them"
}

# Runs docker/entrypoint.sh as the container would (wait for the database, migrate, bootstrap an
# admin token, exec serve), but with the local binary and the test database.
step_entrypoint() {
    local port url code mode
    port=$(free_port $((${SERVER_URL##*:} + 1))) || return 1
    url=http://127.0.0.1:$port
    rm -f "$EP_TOKEN_FILE"
    ATTACHD_BIN=$BIN ATTACHD_PORT=$port ATTACHD_DB_WAIT=30 \
        ATTACHD_BOOTSTRAP_ADMIN_TOKEN_FILE=$EP_TOKEN_FILE \
        "$ROOT/docker/entrypoint.sh" >"$EP_LOG" 2>&1 &
    EP_PID=$!
    log "docker/entrypoint.sh (pid $EP_PID) on $url, log $EP_LOG"
    if ! wait_http "$url/healthz" 60 "$EP_PID"; then
        show_log_tail "$EP_LOG"
        return 1
    fi
    ATTACHD_PORT=$port "$ROOT/docker/entrypoint.sh" healthcheck || {
        warn "'docker/entrypoint.sh healthcheck' failed against a healthy attachd"
        return 1
    }
    [ -s "$EP_TOKEN_FILE" ] || {
        warn "the entrypoint did not write $EP_TOKEN_FILE"
        return 1
    }
    mode=$(stat -c %a "$EP_TOKEN_FILE")
    [ "$mode" = 600 ] || {
        warn "$EP_TOKEN_FILE has mode $mode, expected 600"
        return 1
    }
    code=$(curl --noproxy '*' -s -o /dev/null -w '%{http_code}' --max-time 10 \
        -H "Authorization: Bearer $(cat "$EP_TOKEN_FILE")" "$url/v1/district-kinds")
    [ "$code" = 200 ] || {
        warn "GET /v1/district-kinds with the bootstrapped admin token answered $code, expected 200"
        return 1
    }
    local pid=$EP_PID
    EP_PID=
    if ! stop_process "$pid" 10; then
        warn "the entrypoint's attachd did not stop within 10 s of SIGTERM (killed)"
        show_log_tail "$EP_LOG"
        return 1
    fi
    [ "$STOP_RC" -eq 0 ] || {
        warn "the entrypoint's attachd exited with status $STOP_RC after SIGTERM (expected 0)"
        show_log_tail "$EP_LOG"
        return 1
    }
}

# run_fault SCRIPT LOG [NAME=VALUE...]: run tests/faults/SCRIPT, which starts its own attachd
# (on a free port, logging to $BUILD_DIR/LOG) against the test database and stops it again.
run_fault() {
    local script=$ROOT/tests/faults/$1 log=$BUILD_DIR/$2 port rc=0
    shift 2
    [ -f "$script" ] || {
        warn "$script is missing"
        return 1
    }
    port=$(free_port $((${SERVER_URL##*:} + 2))) || return 1
    FAULT_LOGS+=("$log")
    # In the background and waited for, like the integration tests; on SIGTERM the script stops
    # its attachd (which also dies with it).
    env "$@" ATTACHD_BIN="$BIN" ATTACHD_FAULT_PORT="$port" ATTACHD_LOG="$log" \
        ATTACHD_PSQL="$(pg_bindir)/psql" timeout -k 10 120 python3 -u "$script" &
    IT_PID=$!
    wait "$IT_PID" || rc=$?
    IT_PID=
    [ "$rc" -ne 124 ] || warn "$script timed out after 120 s"
    [ "$rc" -eq 0 ] || show_log_tail "$log"
    return "$rc"
}

# PostgreSQL stopped (pg_ctl stop -m fast) and started again under load: 503s meanwhile, recovery
# without a restart of attachd, and the database agreeing with every 201.
step_fault_db_outage() {
    local lib stop start rc=0
    printf -v lib '. %q' "$ROOT/scripts/lib.sh"
    printf -v stop '%s && pg_local_stop %q' "$lib" "$PGTEST"
    printf -v start '%s && PG_LOCAL_FAST=1 pg_local_start %q %q' "$lib" "$PGTEST" "$PG_LOCAL_PORT"
    run_fault db_outage.py attachd-fault-db-outage.log \
        ATTACHD_DB_STOP="$stop" ATTACHD_DB_START="$start" || rc=$?
    # The following steps need the database whatever happened above (no-op when it runs).
    PG_LOCAL_FAST=1 pg_local_start "$PGTEST" "$PG_LOCAL_PORT" >/dev/null 2>&1 || {
        warn "cannot start PostgreSQL again after the outage test"
        rc=1
    }
    return "$rc"
}

# Hundreds of malformed requests and 2000 idle connections against the attachd of the integration
# tests (its memory read through ATTACHD_PID), slow-loris against one of its own with a short
# ATTACHD_CONN_TIMEOUT: never a 5xx, slow connections closed in time, the service answering.
step_fault_abuse() {
    run_fault abuse.py attachd-fault-abuse.log ATTACHD_URL="$SERVER_URL" ATTACHD_PID="$SERVER_PID"
}

# A session cut right after the server committed a submission (a failover's worst moment): 503,
# then a retry with the same Idempotency-Key gets the stored application (docs/INTEGRATION.md ("Retries")).
step_fault_commit_lost() {
    run_fault commit_lost.py attachd-fault-commit-lost.log
}

# The first host of a multi-host DATABASE_URL accepts TCP and never answers (a powered-off
# primary): 503 within ATTACHD_DB_WAIT_MS, then attachd leaves it out and reaches the other.
step_fault_silent_host() {
    run_fault silent_host.py attachd-fault-silent-host.log
}

# SIGTERM under load: requests in flight finish, new connections are refused, exit status 0.
step_fault_shutdown() {
    run_fault shutdown.py attachd-fault-shutdown.log
}

# import_state: attachments in the database and the sum of districts.nopen, one line.
import_state() {
    attachd_psql -At -c "SELECT (SELECT count(*) FROM attachments) || ' ' ||
        (SELECT sum(nopen) FROM districts) || ' ' || (SELECT count(*) FROM transfers)"
}

# import_rejected FILE TEXT: `attachd import attachments FILE` must exit with 1, print TEXT
# (a line number and field) on standard error, and leave the database as it was.
import_rejected() {
    local file=$1 want=$2 rc=0 before after
    before=$(import_state) || return 1
    "$BIN" import attachments "$file" >"$file.out" 2>"$file.err" || rc=$?
    after=$(import_state) || return 1
    if [ "$rc" -ne 1 ]; then
        warn "attachd import attachments $file: exit status $rc, expected 1"
        cat "$file.err" >&2
        return 1
    fi
    grep -qF -- "$want" "$file.err" || {
        warn "attachd import attachments $file: expected '$want' on standard error"
        cat "$file.err" >&2
        return 1
    }
    [ "$before" = "$after" ] || {
        warn "attachd import attachments $file was rejected but wrote: ($before) -> ($after)"
        return 1
    }
}

# attachd import attachments (README "Importing existing attachments"), on a polyclinic of its
# own with three small districts and a file from scripts/gen-attachments.py. Copies of the file
# with one wrong check digit, and with one line short of a field, are rejected, naming the line,
# and write nothing. Then the file loads, with one row per line, districts.nopen and nleaving
# recounted (three rows end in a month), no district over capacity and no transfers. Loading it
# a second time is rejected (overlaps).
# attachments_shape: the definitions of attachments' indexes and foreign keys, one a line, so
# that a rebuild can be compared with what the migrations made.
attachments_shape() {
    attachd_psql -At -c "SELECT indexdef FROM pg_indexes WHERE tablename = 'attachments'
        UNION ALL SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'attachments'::regclass AND contype = 'f' ORDER BY 1"
}

step_import() {
    local dir=$BUILD_DIR/import-test poly rows nopen facts want shape
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    shape=$(attachments_shape) || return 1
    # A BIN of our own: the first candidate that no polyclinic has yet. The check digit comes
    # from the test client (the schema keeps only the shape; README "IIN").
    local bins
    bins=$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import client
print(",".join("990140%05d%d" % (s, client.check_digit("990140%05d" % s)) for s in range(1000)
               if client.check_digit("990140%05d" % s) is not None))' \
        "$ROOT/tests/integration") || return 1
    poly=$(attachd_psql -At -v bins="$bins" <<'SQL'
INSERT INTO settlements (kato, name_kk, name_ru)
VALUES ('759999901', 'Импорт сынағы', 'Тест импорта') ON CONFLICT DO NOTHING;
WITH bin AS (
    SELECT b FROM unnest(string_to_array(:'bins', ',')) AS x(b)
    WHERE NOT EXISTS (SELECT 1 FROM polyclinics p WHERE p.bin = x.b)
    ORDER BY b LIMIT 1),
p AS (INSERT INTO polyclinics (bin, name_kk, name_ru, settlement, ownership)
      SELECT b, 'Импорт сынағы', 'Тест импорта', '759999901', 'public' FROM bin RETURNING id),
d AS (INSERT INTO districts (polyclinic_id, number, kind, capacity)
      SELECT p.id, v.number, v.kind, v.capacity FROM p,
      (VALUES ('1', 'gp', 300), ('2', 'therapist', 300), ('3A', 'pediatric_0_14', 200))
      AS v(number, kind, capacity))
SELECT id FROM p;
SQL
    ) || return 1
    # Seeded by the polyclinic's id: another run on the same database makes other people; none
    # of them already attached (the integration tests' people are drawn at random too).
    python3 "$ROOT/scripts/gen-attachments.py" --rows 600 --database-url "$DATABASE_URL" \
        --avoid-registered --psql "$(pg_bindir)/psql" --polyclinics "$poly" --seed "$poly" -o "$dir/register.csv" \
        2>"$dir/gen.err" || {
        cat "$dir/gen.err" >&2
        return 1
    }
    # Three open-ended rows end in a month instead: leavers, which the import counts in
    # districts.nleaving (migrations/0023) as the trigger would have.
    awk -F, -v OFS=, -v end="$(date -d '+30 days' +%F)" \
        'NR > 1 && $5 == "" && left < 3 { $5 = end; left++ } 1' "$dir/register.csv" \
        >"$dir/register.tmp" && mv "$dir/register.tmp" "$dir/register.csv" || return 1
    rows=$(($(wc -l <"$dir/register.csv") - 1))
    nopen=$(grep -c ',$' "$dir/register.csv") # open-ended rows: an empty valid_to
    log "generated $rows rows ($nopen open-ended) for polyclinic $poly"

    awk -F, -v OFS=, 'NR == 7 { $1 = substr($1, 1, 11) ((substr($1, 12, 1) + 1) % 10) } 1' \
        "$dir/register.csv" >"$dir/bad-checksum.csv" || return 1
    import_rejected "$dir/bad-checksum.csv" \
        "$dir/bad-checksum.csv line 7, field iin: checksum is wrong" || return 1
    awk -F, -v OFS=, 'NR == 5 { NF = 4 } 1' "$dir/register.csv" >"$dir/bad-fields.csv" || return 1
    import_rejected "$dir/bad-fields.csv" "$dir/bad-fields.csv line 5: has 4 fields, expected 5" ||
        return 1

    # The values' stage (README): an unknown district and a date that does not exist, each named.
    awk -F, -v OFS=, 'NR == 4 { $3 = "ZZ" } NR == 6 { $4 = "2021-02-30" } 1' "$dir/register.csv" \
        >"$dir/bad-values.csv" || return 1
    import_rejected "$dir/bad-values.csv" \
        "$dir/bad-values.csv line 4, field district_number: polyclinic $poly has no district \"ZZ\"" ||
        return 1
    import_rejected "$dir/bad-values.csv" "$dir/bad-values.csv line 6, field valid_from: must be a date" ||
        return 1
    # Two periods of one person in the file that overlap (line 2 again at the end).
    { cat "$dir/register.csv"; sed -n 2p "$dir/register.csv"; } >"$dir/overlap.csv" || return 1
    import_rejected "$dir/overlap.csv" \
        "$dir/overlap.csv line $((rows + 2)), field valid_from: the period overlaps the one on line 2" ||
        return 1

    # Rebuilding the indexes, forced: the register of the tests before holds more than twice
    # these 600 rows, which would otherwise keep them (README "Importing existing attachments").
    ATTACHD_IMPORT_INDEXES=rebuild "$BIN" import attachments "$dir/register.csv" \
        >"$dir/register.out" 2>"$dir/register.err" || {
        warn "attachd import attachments $dir/register.csv failed"
        cat "$dir/register.err" >&2
        return 1
    }
    grep -q "^$dir/register.csv: $rows attachments loaded into" "$dir/register.out" || {
        warn "unexpected summary: $(cat "$dir/register.out")"
        return 1
    }
    # rows, open-ended rows, sum of nopen, districts whose nopen is wrong or that are over
    # capacity, transfers: all of the polyclinic.
    facts=$(attachd_psql -At -F ' ' -v p="$poly" <<'SQL'
SELECT (SELECT count(*) FROM attachments WHERE polyclinic_id = :p),
       (SELECT count(*) FROM attachments WHERE polyclinic_id = :p AND valid_to IS NULL),
       (SELECT sum(nopen) FROM districts WHERE polyclinic_id = :p),
       (SELECT count(*) FROM districts d WHERE polyclinic_id = :p
        AND (nopen <> (SELECT count(*) FROM attachments a WHERE a.district_id = d.id
                       AND a.valid_to IS NULL AND NOT a.cancelled)
             OR nleaving <> (SELECT count(*) FROM attachments a WHERE a.district_id = d.id
                             AND NOT a.cancelled AND a.valid_to > d.leaving_floor)
             OR district_load(d) > capacity)),
       (SELECT count(*) FROM transfers WHERE to_polyclinic_id = :p OR from_polyclinic_id = :p);
SQL
    ) || return 1
    want="$rows $nopen $nopen 0 0"
    [ "$facts" = "$want" ] || {
        warn "after the import: rows, open, sum(nopen), bad districts, transfers = $facts;" \
            "expected $want"
        return 1
    }
    import_rejected "$dir/register.csv" "$dir/register.csv line 2, field valid_from: the period" \
        || return 1
    # A small file into a register many times its size: indexes maintained, not rebuilt.
    python3 "$ROOT/scripts/gen-attachments.py" --rows 5 --database-url "$DATABASE_URL" \
        --avoid-registered --psql "$(pg_bindir)/psql" --polyclinics "$poly" --seed "$((poly + 7))" -o "$dir/small.csv" \
        2>"$dir/gen-small.err" || {
        cat "$dir/gen-small.err" >&2
        return 1
    }
    "$BIN" import attachments "$dir/small.csv" >"$dir/small.out" 2>"$dir/small.err" || {
        warn "attachd import attachments $dir/small.csv failed"
        cat "$dir/small.err" >&2
        return 1
    }
    grep -q "SHARE ROW EXCLUSIVE: indexes maintained" "$dir/small.err" || {
        warn "a 5-row file into $rows rows rebuilt the indexes: $(cat "$dir/small.err")"
        return 1
    }
    # The maintaining path disables the per-row count too (migrations/0026): counted by the
    # trigger and again by the import's recount, nopen would be too high.
    facts=$(attachd_psql -At -v p="$poly" <<'SQL'
SELECT count(*) FROM districts d WHERE polyclinic_id = :p
AND nopen <> (SELECT count(*) FROM attachments a WHERE a.district_id = d.id
              AND a.valid_to IS NULL AND NOT a.cancelled);
SQL
    ) || return 1
    [ "$facts" = 0 ] || {
        warn "after the 5-row import: $facts districts with a wrong nopen"
        return 1
    }
    grep -q "rebuilt after the load" "$dir/register.err" &&
        grep -q "file read again, rows copied into attachments" "$dir/register.err" || {
        warn "the first load did not rebuild the indexes: $(cat "$dir/register.err")"
        return 1
    }
    [ "$(attachments_shape)" = "$shape" ] || {
        warn "attachments' indexes or foreign keys differ after the rebuild:" \
            "$(diff <(printf '%s\n' "$shape") <(attachments_shape))"
        return 1
    }
    # migrations/0016: the primary key and the foreign keys that refer to attachments were
    # dropped and rebuilt too, and the triggers disabled for the load are enabled again.
    grep -q "rebuilt attachments_pkey in" "$dir/register.err" || {
        warn "the rebuild did not build the primary key: $(cat "$dir/register.err")"
        return 1
    }
    facts=$(attachd_psql -At -F ' ' <<'SQL'
SELECT (SELECT count(*) FROM pg_constraint WHERE conrelid = 'attachments'::regclass AND contype = 'p'),
       (SELECT count(*) FROM pg_constraint WHERE confrelid = 'attachments'::regclass AND contype = 'f'),
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'attachments'::regclass AND tgenabled = 'D');
SQL
    ) || return 1
    [ "$facts" = "1 1 0" ] || {
        warn "after the rebuild: primary keys, foreign keys to attachments, disabled triggers" \
            "= $facts; expected 1 1 0"
        return 1
    }
}

# The OpenAPI document against the linters and a generated TypeScript client (SPEC §12):
# tools/contract/check.sh (Redocly, Spectral: no error, no warning; tsc --strict).
step_contract_static() {
    "$ROOT/tools/contract/check.sh" static "$BUILD_DIR"
}

# The compiled TypeScript portal flow against the running attachd.
step_contract_flow() {
    ATTACHD_URL=$SERVER_URL "$ROOT/tools/contract/check.sh" flow
}

step_stop_postgres() {
    pg_local_stop "$PGTEST"
}

# ---- run ---------------------------------------------------------------------------------------

run_step "install missing packages" fatal ensure_packages
run_step "build ($BUILD_NAME${CMAKE_ARGS:+ $CMAKE_ARGS})" fatal step_build
run_step "unit tests (ctest)" continue step_unit_tests
run_step "OpenAPI: Redocly + Spectral lint, TypeScript client under tsc --strict" continue \
    step_contract_static
run_step "start throwaway PostgreSQL" fatal step_postgres
run_step "attachd migrate (twice)" fatal step_migrate
run_step "pipelined flights against PostgreSQL (test_db_flight)" continue step_db_flight
run_step "attachd token create (admin, portal)" fatal step_tokens
run_step "attachd serve answers /healthz" fatal step_start_server
run_step "integration tests (tests/integration/run.py)" continue step_integration
run_step "TypeScript portal flow (tools/contract, openapi-fetch)" continue step_contract_flow
if [ "${ATTACHD_VALGRIND:-0}" = 1 ]; then
    # The memcheck pass: the integration suite against attachd under valgrind, nothing else.
    run_step "attachd stops on SIGTERM with status 0 (memcheck: no errors, no definite leaks)" \
        continue step_graceful_stop
else
    run_step "fault: malformed, slow and idle connections (abuse.py)" continue step_fault_abuse
    run_step "attachd stops on SIGTERM with status 0" continue step_graceful_stop
    run_step "no full IIN in the server log" continue step_no_iin_in_log
    run_step "docker/entrypoint.sh outside Docker" continue step_entrypoint
    run_step "fault: database outage under load (db_outage.py)" continue step_fault_db_outage
    run_step "fault: SIGTERM under load (shutdown.py)" continue step_fault_shutdown
    run_step "fault: connection cut after COMMIT, retried by key (commit_lost.py)" continue \
        step_fault_commit_lost
    run_step "fault: first database host silent (silent_host.py)" continue step_fault_silent_host
    run_step "attachd import attachments (good and bad CSV files)" continue step_import
fi
if [ "$SANITIZE" = 1 ]; then
    run_step "no sanitizer reports in the logs" continue step_sanitizer_reports
fi
run_step "stop PostgreSQL" continue step_stop_postgres
