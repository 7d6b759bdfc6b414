#!/usr/bin/env bash
# Benchmark attachd against its baselines in one run and print the ratios (bench/README.md).
#
#   bench/run.sh              build Release into build-bench/, run every scenario (campaign-day and
#                             the register reads only when named), print the table
#   bench/run.sh SCENARIO...  run only these (names as in the table, e.g. district-get)
#   bench/run.sh import      the register import: psql \copy vs attachd import (bench/import.sh)
#   bench/run.sh --list       list the scenarios with their baseline and bar
#
# It builds attachd and bench/bare_mhd (cmake -DATTACHD_BENCH=ON) into build-bench/, starts a
# throwaway PostgreSQL in build-bench/pg, migrates, loads scripts/demo-seed.sql, creates tokens,
# starts attachd and the bare responder, checks that both keep connections alive, that each route
# answers, and that each pgbench baseline runs exactly the SQL attachd runs; then it measures each
# scenario BENCH_ROUNDS times per side, alternating which side goes first, and compares medians.
# wrk, pgbench, attachd, bare_mhd and PostgreSQL all share this machine's CPUs.
#
# Exit status: 0 every scenario met its bar; 1 some did not or could not be measured; 2 setup failed.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [10]  seconds per measurement     BENCH_ROUNDS [3]  measurements per side
#   BENCH_CONNS [64]  wrk connections                BENCH_WRK_THREADS [2]  wrk threads (at most 8)
#   BENCH_THREADS [2 x CPUs]  HTTP threads of attachd and of bare_mhd
#   BENCH_DB_POOL [= threads]  attachd's DB connections = pgbench clients (-c)
#   BENCH_PGBENCH_JOBS [2]  pgbench threads (-j)
#   BENCH_QUIET_PCT [15], BENCH_QUIET_WAIT [0]  before each measurement wait up to QUIET_WAIT s
#                        for the machine to be at most QUIET_PCT % busy (shared machines)
#   BENCH_PGPORT [55480]  BENCH_PORT [18480] (attachd)  BENCH_BARE_PORT [18481]
#   BENCH_PG_DURABLE [0]  1: keep fsync and synchronous_commit on in the throwaway PostgreSQL
#                        (always on when campaign-day is selected)
#   BENCH_CAMPAIGN_SECONDS [180]  length of the campaign-day run (a shorter one for trying)
#   BENCH_CAMPAIGN_THREADS [32]  attachd's HTTP threads during campaign-day (each thread waits
#                        for its transaction, so they bound the transactions in flight)
#   BENCH_CAMPAIGN_DB_POOL [6 x CPUs]  attachd's DB connections during campaign-day
#   BENCH_CAMPAIGN_WARMUP [10]  seconds of warm-up before it (then ANALYZE)
#   BENCH_PGSS_TRACK [top]  pg_stat_statements.track in campaign-day (all: inside triggers too)
#   BENCH_PGSS_PLANNING [off]  pg_stat_statements.track_planning in campaign-day (on: plans per call)
#   BENCH_CAMPAIGN_COMMIT_DELAY [0]  PostgreSQL's commit_delay (µs) during campaign-day
#   BENCH_CAMPAIGN_SHARED_BUFFERS [PostgreSQL's]  shared_buffers during campaign-day (e.g. 1GB)
#   BENCH_CAMPAIGN_MAX_WAL_SIZE [PostgreSQL's]  max_wal_size during campaign-day (e.g. 8GB)
#   BENCH_CAMPAIGN_MIN_SECONDS [30]  campaign-day's least-SQL baseline: auto-approvals alone, attachd
#                             vs bench/pgbench/campaign_day_min.sql, seconds per side (0: left out)
#   BENCH_KEEP [0]  1: leave attachd, bare_mhd and PostgreSQL running at the end (for perf)
#   BENCH_REGISTER_ROWS [20000000]  people in the register of the read scenarios
#                        (person-attachment-get, population-page; only run when named, and
#                        not with the others: they use their own cluster, kept in
#                        build-bench/pg-register-ROWS and loaded again only when its rows or
#                        bench/register.sql changed)
#   BENCH_REGISTER_SHARED_BUFFERS [2GB]  PostgreSQL's shared_buffers for that cluster
#   BENCH_PAGE [50]  population-page's page size (limit)
#   BENCH_BUILD_DIR [build-bench]
set -euo pipefail
# The braces make bash read the whole script before running it, so editing it during a run
# cannot derail that run.
{

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

DURATION=${BENCH_DURATION:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
WRK_THREADS=${BENCH_WRK_THREADS:-2}
NCPU=$(getconf _NPROCESSORS_ONLN)
THREADS=${BENCH_THREADS:-$((2 * NCPU))}
DB_POOL=${BENCH_DB_POOL:-$THREADS}
PGBENCH_JOBS=${BENCH_PGBENCH_JOBS:-2}
QUIET_PCT=${BENCH_QUIET_PCT:-15}
QUIET_WAIT=${BENCH_QUIET_WAIT:-0}
PGPORT_BENCH=${BENCH_PGPORT:-55480}
PORT=${BENCH_PORT:-18480}
BARE_PORT=${BENCH_BARE_PORT:-18481}
BUILD=$ROOT/${BENCH_BUILD_DIR:-build-bench}
PGDIR=$BUILD/pg
OUT=$BUILD/bench-results
BENCH=$ROOT/bench
# attachd's sessions run with these settings (ensure_connected in src/db/pool.c); pgbench's too.
PG_SESSION_OPTIONS='-c timezone=Asia/Almaty -c jit=off -c random_page_cost=1.1'

# ---- scenarios --------------------------------------------------------------------------------
# scenario NAME BAR BASELINE WRK_SCRIPT PATH [PGBENCH_SCRIPT]
#   BASELINE  bare: the same wrk run against bench/bare_mhd; pgbench: bench/pgbench/PGBENCH_SCRIPT
#             with -M prepared and as many clients as attachd has DB connections
#   PATH      for wrk; "{id}" is replaced per request by a random id in id_min..id_max
# A scenario's variables (scenario_vars) reach wrk as BENCH_<NAME> and pgbench as -D name=value.
# The POST baseline must see what attachd stores; run.sh empties applications before each run.
SCENARIO_NAMES=()
declare -A S_BAR S_BASE S_WRK S_PATH S_PGB S_VARS STATE
scenario() {
    SCENARIO_NAMES+=("$1")
    S_BAR[$1]=$2 S_BASE[$1]=$3 S_WRK[$1]=$4 S_PATH[$1]=$5 S_PGB[$1]=${6:-}
}
scenario catalog-district-kinds 0.5 bare get.lua /v1/district-kinds
scenario catalog-settlements 0.5 bare get.lua /v1/settlements
scenario district-get 0.8 pgbench get.lua '/v1/districts/{id}' district_get.sql
scenario polyclinic-get 0.8 pgbench get.lua '/v1/polyclinics/{id}' polyclinic_get.sql
scenario application-post 0.8 pgbench post_application.lua /v1/applications application_submit.sql
# Not a ratio: a campaign day as the portal sends it, measured alone and checked afterwards
# (campaign_day below). Only run when named; it forces a durable PostgreSQL.
scenario campaign-day 1700 none campaign_day.lua /v1/applications
# Reads on a register of BENCH_REGISTER_ROWS people (bench/register.sql): only run when named,
# on their own cluster (register_prepare below).
REGISTER_SCENARIOS=(person-attachment-get population-page)
scenario person-attachment-get 0.8 pgbench person_attachment.lua '/v1/persons/{iin}/attachment' \
    person_attachment_get.sql
scenario population-page 0.8 pgbench population_page.lua '/v1/polyclinics/{id}/attachments' \
    population_page.sql
is_register_scenario() {
    local r
    for r in "${REGISTER_SCENARIOS[@]}"; do [ "$r" = "$1" ] && return 0; done
    return 1
}

# ids TABLE: "id_min=.." and "id_max=.." of TABLE. The ids must be contiguous, so that pgbench's
# random(min, max) draws from exactly the set wrk draws from.
ids() {
    local lo hi n
    read -r lo hi n < <(attachd_psql -At -F ' ' -c "SELECT min(id), max(id), count(*) FROM $1")
    if [ "${n:-0}" -eq 0 ] || [ "$((hi - lo + 1))" -ne "$n" ]; then
        warn "$1 ids are not contiguous (min $lo, max $hi, count $n)"
        return 1
    fi
    printf 'id_min=%s\nid_max=%s\n' "$lo" "$hi"
}

# The sample application (also what pgbench inserts, with its own IINs): an adult citizen of the
# demo city moving house. IIN 850314300003 has a valid check digit and matches birth date and sex.
SAMPLE_PERSON='{"iin":"850314300003","last_name":"Бенчмарков","first_name":"Тест","middle_name":null,"birth_date":"1985-03-14","sex":"male","residency":"citizen"}'
SAMPLE_ADDRESS='ул. Абая, 10, кв. 5'

# scenario_vars NAME: the scenario's variables, one name=value a line.
scenario_vars() {
    case $1 in
    district-get) ids districts ;;
    person-attachment-get | population-page) register_vars "$1" ;;
    polyclinic-get) ids polyclinics ;;
    application-post)
        # A polyclinic of the demo city that takes applications and leaves them pending.
        local poly portal
        poly=$(attachd_psql -At -c "SELECT id FROM polyclinics WHERE settlement = '751110000'
            AND accepting AND fsms_contract AND NOT auto_approve ORDER BY id LIMIT 1")
        portal=$(attachd_psql -At -c "SELECT id FROM tokens WHERE name = 'bench-portal'")
        [ -n "$poly" ] && [ -n "$portal" ] || return 1
        # The values submit_tx passes for the sample (pgbench's -D; wrk's lua uses the first two);
        # request_hash stands for attachd's SHA-256 of each body: same type and size.
        printf '%s\n' "polyclinic_id=$poly" settlement=751110000 "person=$SAMPLE_PERSON" \
            birth_date=1985-03-14 "address=$SAMPLE_ADDRESS" channel=egov grounds=relocation \
            'family_iins={}' status=pending 'warnings={}' "decided_by=portal:bench-portal" \
            "submitted_by=$portal" k=0 \
            "request_hash=\\x$(printf '%s' "$SAMPLE_PERSON" | sha256sum | cut -d ' ' -f 1)"
        # and the members of its submitted event's data, as attachd renders them (trail_members)
        attachd_psql -At -c "SELECT 'campaign_year=' || extract(year FROM current_date)::int,
            'decision_due=' || (current_date + 1),
            'submitted_members=\"status\":\"pending\",\"channel\":\"egov\",\"grounds\":'
            || '\"relocation\",\"requested_district_id\":null,\"campaign_year\":'
            || extract(year FROM current_date)::int" | tr '|' '\n'
        ;;
    esac
}

# scenario_reset NAME: run before every measurement, so each side starts from the same data.
scenario_reset() {
    case $1 in
    application-post) attachd_psql -c 'SET client_min_messages = warning' -c 'TRUNCATE applications CASCADE' >/dev/null ;;
    esac
}

# sample_request NAME: curl arguments for one request like those the scenario sends.
sample_request() {
    local path=${S_PATH[$1]} vars=${S_VARS[$1]}
    case $1 in
    application-post)
        local poly
        poly=$(sed -n 's/^polyclinic_id=//p' <<<"$vars")
        printf '%s\n' -X POST -H "Authorization: Bearer $PORTAL_TOKEN" \
            -H 'Content-Type: application/json' --data-binary \
            '{"person":'"$SAMPLE_PERSON"',"settlement":"751110000","address":"'"$SAMPLE_ADDRESS"'","polyclinic_id":'"$poly"',"channel":"egov","grounds":"relocation"}' \
            "http://127.0.0.1:$PORT$path"
        ;;
    person-attachment-get | population-page) register_sample "$1" ;;
    *)
        local id
        id=$(sed -n 's/^id_max=//p' <<<"$vars")
        printf '%s\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT${path//\{id\}/$id}"
        ;;
    esac
}

# expected_status NAME: what a sample request must answer.
expected_status() {
    case $1 in
    application-post) echo 201 ;;
    *) echo 200 ;;
    esac
}

usage() { sed -n '2,/^set -euo pipefail/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

# import: the register import bench, a setup of its own (bench/import.sh); never part of the
# default run (20 M rows take several minutes).
import_scenario() {
    [ $# -eq 1 ] || die "bench/run.sh import runs alone"
    exec "$ROOT/bench/import.sh"
}

SELECTED=()
for arg in "$@"; do
    case $arg in
    -h | --help) usage && exit 0 ;;
    --list)
        for name in "${SCENARIO_NAMES[@]}"; do
            printf '%-24s vs %-8s bar %s\n' "$name" "${S_BASE[$name]}" "${S_BAR[$name]}"
        done
        printf '%-24s vs %-8s bar %s\n' import 'copy' '0.1 (bench/import.sh)'
        exit 0
        ;;
    -*) die "unknown option $arg (try --help)" ;;
    import) import_scenario "$@" ;;
    *)
        [ -n "${S_BAR[$arg]:-}" ] || die "unknown scenario $arg (try --list)"
        SELECTED+=("$arg")
        ;;
    esac
done
if [ ${#SELECTED[@]} -eq 0 ]; then
    for name in "${SCENARIO_NAMES[@]}"; do
        [ "$name" = campaign-day ] || is_register_scenario "$name" || SELECTED+=("$name")
    done
fi
REGISTER=0
for name in "${SELECTED[@]}"; do
    if is_register_scenario "$name"; then REGISTER=1; fi
done
if [ "$REGISTER" = 1 ]; then
    for name in "${SELECTED[@]}"; do
        is_register_scenario "$name" ||
            die "$name and the register scenarios (${REGISTER_SCENARIOS[*]}) run on different databases: run them apart"
    done
fi
REGISTER_ROWS=${BENCH_REGISTER_ROWS:-20000000}
PAGE=${BENCH_PAGE:-50}
[ "$REGISTER" = 0 ] || PGDIR=$BUILD/pg-register-$REGISTER_ROWS
CAMPAIGN_DAY=0
RATIO_SCENARIOS=()
for name in "${SELECTED[@]}"; do
    if [ "$name" = campaign-day ]; then CAMPAIGN_DAY=1; else RATIO_SCENARIOS+=("$name"); fi
done
SELECTED=(${RATIO_SCENARIOS[@]+"${RATIO_SCENARIOS[@]}"})
CAMPAIGN_SECONDS=${BENCH_CAMPAIGN_SECONDS:-180}
CAMPAIGN_THREADS=${BENCH_CAMPAIGN_THREADS:-32}
# Fewer database sessions than HTTP threads: the threads queue for a session (docs/PERFORMANCE.md
# "Round 7": 12 sessions on 2 cores cost PostgreSQL about 4 % less CPU per application than 32;
# 6 cost it about 6 % less than 12 but about 5 % of the rate, "Round 10").
CAMPAIGN_DB_POOL=${BENCH_CAMPAIGN_DB_POOL:-$((6 * NCPU))}
CAMPAIGN_WARMUP=${BENCH_CAMPAIGN_WARMUP:-10}
PGSS_TRACK=${BENCH_PGSS_TRACK:-top}
PGSS_PLANNING=${BENCH_PGSS_PLANNING:-off}
CAMPAIGN_COMMIT_DELAY=${BENCH_CAMPAIGN_COMMIT_DELAY:-0}
CAMPAIGN_SHARED_BUFFERS=${BENCH_CAMPAIGN_SHARED_BUFFERS:-}
CAMPAIGN_MAX_WAL_SIZE=${BENCH_CAMPAIGN_MAX_WAL_SIZE:-}
# The least-SQL baseline after the campaign day (campaign_min): seconds per side, 0 leaves it out.
CAMPAIGN_MIN_SECONDS=${BENCH_CAMPAIGN_MIN_SECONDS:-30}
[ "$PGSS_TRACK" = top ] || [ "$PGSS_TRACK" = all ] || die "BENCH_PGSS_TRACK is top or all"

# ---- helpers ----------------------------------------------------------------------------------
fail_setup() {
    printf 'error: %s\n' "$*" >&2
    exit 2
}

# share_pct MARK0 MARK1 DECIMALS: two marks "part total" of /proc/stat's CPU ticks; the part's
# growth between them as a percentage of the total's.
share_pct() {
    awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN{split(a,x," "); split(b,y," ");
        t=y[2]-x[2]; printf "%." d "f\n", (t > 0 ? 100*(y[1]-x[1])/t : 0)}'
}

# busy_mark: the machine's busy and total CPU ticks so far; cpu_busy SECONDS: percent of all CPUs
# busy over SECONDS (everything on the machine).
busy_mark() {
    awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}
cpu_busy() {
    local a
    a=$(busy_mark)
    sleep "$1"
    share_pct "$a" "$(busy_mark)" 0
}

# steal_mark: the machine's stolen and total CPU ticks so far (stolen: the time this VM's CPUs
# were ready to run but its host ran something else); share_pct of two marks, the percentage of
# the CPU time between them that was stolen.
steal_mark() {
    awk '/^cpu /{print $9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}

# wait_quiet: print how busy the machine is with work not ours, after waiting up to QUIET_WAIT
# seconds for it to drop to QUIET_PCT.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) b
    while :; do
        b=$(cpu_busy 1)
        if [ "$b" -le "$QUIET_PCT" ] || [ "$SECONDS" -ge "$deadline" ]; then
            echo "$b"
            return
        fi
    done
}

# median: of the numbers on standard input.
median() {
    sort -g | awk '{v[NR]=$1} END{if(NR==0){print "nan"} else if(NR%2){print v[(NR+1)/2]}
        else {print (v[NR/2]+v[NR/2+1])/2}}'
}

ATTACHD_PID='' BARE_PID=''
cleanup() {
    local rc=$?
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "BENCH_KEEP=1: attachd (pid ${ATTACHD_PID:-none}, :$PORT), bare_mhd (pid" \
            "${BARE_PID:-none}, :$BARE_PORT) and PostgreSQL (:$PGPORT_BENCH) keep running;" \
            "tokens in $OUT/tokens; stop with: kill ${ATTACHD_PID:-} ${BARE_PID:-};" \
            ". scripts/lib.sh; pg_local_stop $PGDIR"
        exit $rc
    fi
    [ -n "$ATTACHD_PID" ] && kill "$ATTACHD_PID" 2>/dev/null && wait "$ATTACHD_PID" 2>/dev/null
    [ -n "$BARE_PID" ] && kill "$BARE_PID" 2>/dev/null && wait "$BARE_PID" 2>/dev/null
    pg_local_stop "$PGDIR" >/dev/null 2>&1 || true
    exit $rc
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# alive: both servers still run (on a shared machine others have killed processes by name).
alive() {
    kill -0 "$ATTACHD_PID" 2>/dev/null || fail_setup "attachd (pid $ATTACHD_PID) is gone; see $OUT/attachd.log"
    kill -0 "$BARE_PID" 2>/dev/null || fail_setup "bare_mhd (pid $BARE_PID) is gone; see $OUT/bare_mhd.log"
}

# keepalive_ok URL [CURL_ARGS...]: two requests on one connection, the second reusing it.
keepalive_ok() {
    local url=$1
    shift
    curl --noproxy '*' -sS -v -o /dev/null -o /dev/null "$@" "$url" "$url" 2>&1 |
        grep -q 'Re-using existing connection'
}

# listening PORT: something listens on PORT. (A bind test would also refuse a port that only has
# TIME_WAIT leftovers of the previous run, which every server here reuses.)
listening() {
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$1")" ]
    else
        ! port_is_free "$1"
    fi
}

# run_wrk NAME PORT TAG SECONDS: one wrk run; prints "rps p50_us p99_us requests", or ERR when wrk
# saw errors (a non-2xx status counts as one, so a 401 or 404 cannot pass for speed). The CPU time
# wrk used goes to $f.times (bash's times).
run_wrk() {
    local name=$1 port=$2 tag=$3 seconds=$4 f line kv
    local env=(BENCH_PATH="${S_PATH[$name]}" BENCH_TOKEN="$TOKEN" BENCH_PORTAL_TOKEN="$PORTAL_TOKEN")
    while IFS= read -r kv; do
        [ -n "$kv" ] && env+=("BENCH_$(printf '%s' "${kv%%=*}" | tr '[:lower:]' '[:upper:]')=${kv#*=}")
    done <<<"${S_VARS[$name]}"
    f=$OUT/$name.$tag.wrk
    (env "${env[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${seconds}s" --latency \
        -s "$BENCH/wrk/${S_WRK[$name]}" "http://127.0.0.1:$port" >"$f" 2>&1 &&
        times >"$f.times") || fail_setup "wrk failed for $name ($tag); see $f"
    line=$(grep '^BENCH ' "$f") || fail_setup "wrk printed no result for $name ($tag); see $f"
    printf '%s\n' "$line" | awk -v what="$name ($tag), see $f" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        errors = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
        if (errors > 0 || v["requests"] == 0) {
            printf "warning: %s: %d wrk errors (%s)\n", what, errors, $0 > "/dev/stderr"
            print "ERR"
        } else
            printf "%.0f %d %d %d\n", v["requests"] * 1e6 / v["duration_us"], v["p50_us"],
                v["p99_us"], v["requests"]
    }'
}

# run_pgbench NAME TAG SECONDS: one pgbench run; prints "tps p50_us p99_us transactions" (or ERR
# as above); its CPU time goes to $f.times.
run_pgbench() {
    local name=$1 tag=$2 seconds=$3 f prefix tps n kv
    local defs=()
    while IFS= read -r kv; do
        [ -n "$kv" ] && defs+=(-D "$kv")
    done <<<"${S_VARS[$name]}"
    f=$OUT/$name.$tag.pgbench
    prefix=$OUT/$name.$tag.txlog
    rm -f "$prefix".*
    (cd "$OUT" && PGOPTIONS=$PG_SESSION_OPTIONS "$PGBENCH" -n -M prepared -c "$DB_POOL" \
        -j "$PGBENCH_JOBS" -T "$seconds" "${defs[@]}" -l --log-prefix="$prefix" \
        -f "$BENCH/pgbench/${S_PGB[$name]}" -h 127.0.0.1 -p "$PGPORT_BENCH" -U postgres attachd \
        >"$f" 2>&1 && times >"$f.times") || {
        warn "pgbench failed for $name ($tag); see $f"
        echo "ERR"
        return
    }
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$f")
    n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$f")
    if [ -z "$tps" ] || [ -z "$n" ] || grep -q '^number of failed transactions: [1-9]' "$f"; then
        warn "$name ($tag): pgbench reported no tps or failed transactions; see $f"
        echo "ERR"
        return
    fi
    # Per-transaction log lines: client, transaction, latency in us, script, epoch s, us.
    cat "$prefix".* | awk '{print $3}' | sort -n | awk -v t="$tps" -v n="$n" '{v[NR]=$1}
        END{i=int(NR*0.5); if(i<1)i=1; j=int(NR*0.99); if(j<1)j=1
            printf "%.0f %d %d %d\n", t, v[i], v[j], n}'
    rm -f "$prefix".*
}

# ticks PID: CPU time PID has used, in clock ticks (user + system).
ticks() {
    awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# pg_ticks: CPU time of the PostgreSQL cluster: its processes now, plus those that have exited
# (pgbench's backends), which the postmaster's children times hold.
pg_ticks() {
    local pm t c
    pm=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for c in $(pgrep -P "$pm"); do t=$((t + $(ticks "$c"))); done
    echo "$t"
}

# pg_clients_gone APPLICATION_NAME: waits (up to 5 s) until no session of that client is left,
# then a little for the postmaster to reap the backends (their CPU then is in its cutime).
pg_clients_gone() {
    local i
    for i in $(seq 50); do
        [ "$(attachd_psql -At -c "SELECT count(*) FROM pg_stat_activity
            WHERE application_name = '$1' AND pid <> pg_backend_pid()")" = 0 ] && break
        sleep 0.1
    done
    sleep 0.3
}

# client_ticks FILE: the children's CPU time in the output of bash's times, in ticks.
client_ticks() {
    sed -n 2p "$1" | awk -v hz="$HZ" '{t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/)
        t += p[1] * 60 + p[2] } printf "%.0f\n", t * hz}'
}

# measure NAME SIDE TAG SECONDS: SIDE attachd or baseline. Prints "rps p50_us p99_us server_us
# postgres_us client_us": the last three are CPU time per request of the HTTP server (attachd or
# bare_mhd; none for pgbench), of PostgreSQL and of the load generator (wrk or pgbench).
measure() {
    local name=$1 side=$2 tag=$3 seconds=$4 server='' s0 p0 s1 p1 r f
    scenario_reset "$name"
    if [ "$side" = attachd ]; then
        server=$ATTACHD_PID f=$OUT/$name.$tag.wrk
    elif [ "${S_BASE[$name]}" = bare ]; then
        server=$BARE_PID f=$OUT/$name.$tag.wrk
    else
        f=$OUT/$name.$tag.pgbench
    fi
    s0=$([ -n "$server" ] && ticks "$server" || echo 0)
    p0=$(pg_ticks)
    if [ -n "$server" ]; then
        r=$(run_wrk "$name" "$([ "$side" = attachd ] && echo "$PORT" || echo "$BARE_PORT")" "$tag" "$seconds")
    else
        r=$(run_pgbench "$name" "$tag" "$seconds")
    fi
    sleep 0.3 # let the postmaster reap pgbench's backends
    s1=$([ -n "$server" ] && ticks "$server" || echo 0)
    p1=$(pg_ticks)
    if [ "$r" = ERR ]; then
        echo "ERR"
        return
    fi
    printf '%s\n' "$r" | awk -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v c="$(client_ticks "$f.times")" \
        -v hz="$HZ" '{us = 1e6 / hz / $4; printf "%s %s %s %.0f %.0f %.0f\n", $1, $2, $3, s * us,
        p * us, c * us}'
}

# check_sql NAME: true when bench/pgbench/SCRIPT runs the SQL attachd runs for a sample request
# (statement logging is on for that one request; bench/sql_check.py compares).
check_sql() {
    local name=$1 offset
    local -a req
    mapfile -t req < <(sample_request "$name")
    scenario_reset "$name"
    attachd_psql -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
    sleep 0.3
    offset=$(stat -c %s "$PGLOG")
    curl --noproxy '*' -sS -o /dev/null "${req[@]}"
    sleep 0.3
    attachd_psql -c 'ALTER SYSTEM RESET log_statement' -c 'SELECT pg_reload_conf()' >/dev/null
    python3 "$BENCH/sql_check.py" "$PGLOG" "$offset" "$BENCH/pgbench/${S_PGB[$name]}" \
        "$OUT/$name.live.sql" 2>"$OUT/$name.sqlcheck"
}

# ---- the register of the read scenarios -------------------------------------------------------
# register_prepare: the cluster in $PGDIR (build-bench/pg-register-ROWS) holds the register of
# bench/register.sql with REGISTER_ROWS people, loaded by this very script (its md5), or it is
# made afresh and loaded: minutes for 20 M rows, so a second run reuses it. shared_buffers is
# set to BENCH_REGISTER_SHARED_BUFFERS (a restart), as a server holding such a register would be.
register_prepare() {
    local md5 have buffers=${BENCH_REGISTER_SHARED_BUFFERS:-2GB} t0
    md5=$(md5sum "$BENCH/register.sql" | cut -d ' ' -f 1)
    have=$(attachd_psql -At -c "SELECT rows || ' ' || script_md5 FROM bench_register" 2>/dev/null || true)
    if [ "$have" != "$REGISTER_ROWS $md5" ]; then
        if [ -n "$have" ] || [ -n "$(attachd_psql -At -c 'SELECT 1 FROM attachments LIMIT 1')" ]; then
            log "$PGDIR holds another register ($have): making it afresh"
            pg_local_destroy "$PGDIR" >/dev/null 2>&1 || fail_setup "cannot delete $PGDIR"
            PG_LOCAL_FAST=1 pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd || fail_setup "PostgreSQL did not start"
            "$BIN" migrate >"$OUT/migrate.log" 2>&1 || fail_setup "attachd migrate failed; see $OUT/migrate.log"
        fi
        attachd_psql -c "ALTER SYSTEM SET max_wal_size = '8GB'" -c 'SELECT pg_reload_conf()' >/dev/null
        log "loading a register of $REGISTER_ROWS people (bench/register.sql; log: $OUT/register-load.log)"
        t0=$(date +%s)
        attachd_psql -v rows="$REGISTER_ROWS" -v script_md5="$md5" -f "$BENCH/register.sql" \
            >"$OUT/register-load.log" 2>&1 || {
            tail -n 20 "$OUT/register-load.log" >&2
            fail_setup "loading the register failed"
        }
        log "register loaded in $(($(date +%s) - t0)) s; $(attachd_psql -At -c \
            "SELECT pg_size_pretty(pg_database_size(current_database()))") on disk"
    else
        log "reusing the register of $REGISTER_ROWS people in $PGDIR"
    fi
    if [ "$(attachd_psql -At -c 'SHOW shared_buffers')" != "$buffers" ]; then
        attachd_psql -c "ALTER SYSTEM SET shared_buffers = '$buffers'" >/dev/null
        pg_local_stop "$PGDIR" >/dev/null
        PG_LOCAL_FAST=1 pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd || fail_setup "PostgreSQL did not restart"
    fi
    # Warm the caches with what both sides read (the same for both, and a warm-up round follows):
    # the indexes into shared buffers, the attachments' heap (a person's current attachment is
    # read from it) into the OS cache, where other work on this machine may have evicted it.
    attachd_psql -c 'CREATE EXTENSION IF NOT EXISTS pg_prewarm' \
        -c "SELECT pg_prewarm('attachments', 'read')" \
        -c "SELECT pg_prewarm(c) FROM unnest(ARRAY['attachments_by_iin', 'attachments_population',
            'applications_pkey', 'districts', 'polyclinics']::regclass[]) c" >/dev/null 2>&1 ||
        warn "pg_prewarm failed (caches start cold)"
}

# register_vars NAME: the read scenarios' variables (bench/wrk/*.lua and bench/pgbench/*.sql).
register_vars() {
    case $1 in
    person-attachment-get) printf 'rows=%s\n' "$REGISTER_ROWS" ;;
    population-page)
        attachd_psql -At -c "SELECT 'polyclinics=' || polyclinics FROM bench_register"
        attachd_psql -At -c "SELECT 'id_max=' || max(id) FROM attachments"
        printf '%s\n' districts_each=20 "page=$PAGE" "fetch=$((PAGE + 1))"
        ;;
    esac
}

# register_sample NAME: curl arguments of a sample request of a read scenario.
register_sample() {
    local url
    case $1 in
    person-attachment-get)
        url=/v1/persons/$(attachd_psql -At -c 'SELECT iin FROM attachments ORDER BY id DESC LIMIT 1')/attachment ;;
    population-page)
        url="/v1/polyclinics/1/attachments?limit=$PAGE&cursor=2.$(attachd_psql -At -c 'SELECT max(id) / 2 FROM attachments')" ;;
    esac
    printf '%s\n' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT$url"
}

# ---- setup ------------------------------------------------------------------------------------
ensure_packages wrk
PGBENCH=$(pg_bindir)/pgbench
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench) || fail_setup "no pgbench (package postgresql-contrib)"
command -v wrk >/dev/null || fail_setup "no wrk (package wrk)"
[ "$WRK_THREADS" -le 8 ] || fail_setup "BENCH_WRK_THREADS at most 8 (post_application.lua's IIN streams)"
for p in "$PGPORT_BENCH" "$PORT" "$BARE_PORT"; do
    ! listening "$p" || fail_setup "port $p is in use (BENCH_PGPORT, BENCH_PORT, BENCH_BARE_PORT choose others)"
done

log "building Release into $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DATTACHD_BENCH=ON >/dev/null ||
    fail_setup "cmake configure failed"
cmake --build "$BUILD" -j "${ATTACHD_BUILD_JOBS:-2}" --target attachd bare_mhd >"$BUILD/bench-build.log" 2>&1 || {
    tail -n 30 "$BUILD/bench-build.log" >&2
    fail_setup "build failed (log: $BUILD/bench-build.log)"
}
BIN=$BUILD/attachd
BARE=$BUILD/bench/bare_mhd
rm -rf "$OUT"
mkdir -p "$OUT"

[ "$REGISTER" = 1 ] || pg_local_destroy "$PGDIR" >/dev/null 2>&1 || true
if [ "${BENCH_PG_DURABLE:-0}" = 1 ] || [ "$CAMPAIGN_DAY" = 1 ]; then
    pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd || fail_setup "PostgreSQL did not start"
else
    PG_LOCAL_FAST=1 pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd || fail_setup "PostgreSQL did not start"
fi
PGLOG=$(_pg_base "$PGDIR")/log
PGDATA_DIR=$(_pg_base "$PGDIR")/data
HZ=$(getconf CLK_TCK)
"$BIN" migrate >"$OUT/migrate.log" 2>&1 || fail_setup "attachd migrate failed; see $OUT/migrate.log"
if [ "$REGISTER" = 1 ]; then
    register_prepare
else
    attachd_psql -f "$ROOT/scripts/demo-seed.sql" >/dev/null || fail_setup "scripts/demo-seed.sql failed"
    attachd_psql -c 'VACUUM ANALYZE' >/dev/null
fi
TOKEN=$(attachd_token_create "$BIN" admin bench) || fail_setup "cannot create the admin token"
PORTAL_TOKEN=$(attachd_token_create "$BIN" portal bench-portal) || fail_setup "cannot create the portal token"
(umask 077 && printf 'BENCH_TOKEN=%s\nBENCH_PORTAL_TOKEN=%s\n' "$TOKEN" "$PORTAL_TOKEN" >"$OUT/tokens")

log "starting attachd on :$PORT and bare_mhd on :$BARE_PORT ($THREADS threads each, DB pool $DB_POOL)"
ATTACHD_PORT=$PORT ATTACHD_THREADS=$THREADS ATTACHD_DB_POOL=$DB_POOL ATTACHD_LOG_LEVEL=info \
    "$BIN" serve >"$OUT/attachd.log" 2>&1 &
ATTACHD_PID=$!
"$BARE" "$BARE_PORT" "$THREADS" >"$OUT/bare_mhd.log" 2>&1 &
BARE_PID=$!
wait_http "http://127.0.0.1:$PORT/healthz" 30 "$ATTACHD_PID" || fail_setup "attachd did not answer"
wait_http "http://127.0.0.1:$BARE_PORT/" 30 "$BARE_PID" || fail_setup "bare_mhd did not answer"
keepalive_ok "http://127.0.0.1:$PORT/v1/district-kinds" -H "Authorization: Bearer $TOKEN" ||
    fail_setup "attachd closes connections after a request (no keep-alive)"
keepalive_ok "http://127.0.0.1:$BARE_PORT/" || fail_setup "bare_mhd closes connections (no keep-alive)"

# Per scenario: its variables, a sample request that must answer as expected, and for pgbench
# baselines the check that the script runs attachd's SQL.
attachd_psql -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] %a: '" -c 'SELECT pg_reload_conf()' >/dev/null
for name in "${SELECTED[@]}"; do
    if ! S_VARS[$name]=$(scenario_vars "$name"); then
        STATE[$name]="not run: no data for its variables in the demo seed"
        continue
    fi
    mapfile -t req < <(sample_request "$name")
    code=$(curl --noproxy '*' -sS -o "$OUT/$name.sample" -w '%{http_code}' "${req[@]}") || code=000
    want=$(expected_status "$name")
    if [ "$code" != "$want" ]; then
        STATE[$name]="not run: its sample request answered $code, not $want (see $OUT/$name.sample)"
        continue
    fi
    if [ "${S_BASE[$name]}" = pgbench ] && ! check_sql "$name"; then
        cat "$OUT/$name.sqlcheck" >&2
        STATE[$name]="SQL-DRIFT: bench/pgbench/${S_PGB[$name]} is not attachd's SQL (see $OUT/$name.sqlcheck)"
        continue
    fi
    STATE[$name]=ready
done
attachd_psql -c 'ALTER SYSTEM RESET log_line_prefix' -c 'SELECT pg_reload_conf()' >/dev/null

# ---- measurements -----------------------------------------------------------------------------
for name in "${SELECTED[@]}"; do
    [ "${STATE[$name]}" = ready ] || continue
    log "warming up $name (2s each side)"
    measure "$name" attachd warmup 2 >/dev/null
    measure "$name" baseline warmup 2 >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
    for name in "${SELECTED[@]}"; do
        [ "${STATE[$name]}" = ready ] || continue
        # Alternate which side goes first, so a drift in background load hits both alike.
        if [ $((round % 2)) = 1 ]; then order="attachd baseline"; else order="baseline attachd"; fi
        for side in $order; do
            busy=$(wait_quiet)
            log "round $round/$ROUNDS: $name, $side (${DURATION}s; machine ${busy}% busy before)"
            echo "$busy" >>"$OUT/background"
            result=$(measure "$name" "$side" "$side.r$round" "$DURATION")
            echo "$result $busy" >>"$OUT/$name.$side.results"
            alive
        done
    done
done

# ---- campaign day -----------------------------------------------------------------------------
# multixacts_made: MultiXacts made since the cluster was (row locks shared by several
# transactions, e.g. foreign-key checks of rows other transactions lock too: migrations/0024),
# as of a CHECKPOINT taken now (the counter is read from the control file).
multixacts_made() {
    attachd_psql -At -c 'CHECKPOINT' -c 'SELECT next_multixact_id FROM pg_control_checkpoint()' |
        tail -n 1
}

# campaign_prepare: the catalogue and window of a campaign day (bench/campaign_window.sql): the
# demo city's polyclinics that take part (accepting, with a Fund contract) are the catalogue,
# every other one of them auto_approve, the current year's campaign open around today. Prints the ids of all the city's polyclinics (73 in
# the demo seed), comma-separated: applications to the few that do not take part are refused
# CLINIC_NOT_ACCEPTING, as on a real day.
campaign_prepare() {
    attachd_psql >/dev/null <<'SQL'
SET client_min_messages = warning;
TRUNCATE applications, attachments, transfers, events CASCADE;
UPDATE districts SET nopen = 0 WHERE nopen <> 0;
SELECT districts_leaving_recount(ARRAY(SELECT id FROM districts));
SQL
    attachd_psql -f "$BENCH/campaign_window.sql" >/dev/null
    attachd_psql -c 'VACUUM ANALYZE' >/dev/null
    attachd_psql -At -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM polyclinics
        WHERE settlement = '751110000'"
}

# campaign_check REQUESTS_201: the invariants after the run (and the warm-up), one "name value
# pass|FAIL" a line. Stored may exceed the 201s by what was in flight when wrk stopped, twice.
campaign_check() {
    attachd_psql -At -F ' ' -v n201="$1" -v conns="$((2 * CONNS))" <<'SQL'
WITH a AS (SELECT count(*) AS n, count(*) FILTER (WHERE status = 'approved') AS approved,
                  count(*) FILTER (WHERE status = 'refused') AS refused FROM applications)
SELECT 'stored_vs_201', a.n - :n201, CASE WHEN a.n >= :n201 AND a.n - :n201 <= :conns THEN 'pass' ELSE 'FAIL' END FROM a
UNION ALL
SELECT 'districts_over_capacity', count(*), CASE WHEN count(*) = 0 THEN 'pass' ELSE 'FAIL' END
FROM districts d WHERE district_load(d) > d.capacity
UNION ALL
SELECT 'districts_nopen_wrong', count(*), CASE WHEN count(*) = 0 THEN 'pass' ELSE 'FAIL' END
FROM districts d WHERE d.nopen <> (SELECT count(*) FROM attachments t WHERE t.district_id = d.id
                                    AND NOT t.cancelled AND t.valid_to IS NULL)
UNION ALL
SELECT 'districts_leavers_wrong', count(*), CASE WHEN count(*) = 0 THEN 'pass' ELSE 'FAIL' END
FROM districts d WHERE d.nleaving <> (SELECT count(*) FROM attachments t WHERE t.district_id = d.id
                                      AND NOT t.cancelled AND t.valid_to > d.leaving_floor)
UNION ALL
SELECT 'overlapping_attachments', count(*), CASE WHEN count(*) = 0 THEN 'pass' ELSE 'FAIL' END
FROM attachments x JOIN attachments y ON y.iin = x.iin AND y.id > x.id
WHERE NOT x.cancelled AND NOT y.cancelled
  AND daterange(x.valid_from, x.valid_to) && daterange(y.valid_from, y.valid_to)
UNION ALL
SELECT 'approved_without_attachment', count(*), CASE WHEN count(*) = 0 THEN 'pass' ELSE 'FAIL' END
FROM applications p WHERE p.status = 'approved' AND NOT EXISTS (
    SELECT 1 FROM attachments t JOIN transfers r ON r.application_id = t.application_id
    WHERE t.application_id = p.id AND t.district_id = p.district_id)
UNION ALL
SELECT 'events_missing', (SELECT n FROM a) + (SELECT approved + refused FROM a) - count(*),
       CASE WHEN count(*) = (SELECT n + approved + refused FROM a) THEN 'pass' ELSE 'FAIL' END
FROM events WHERE type IN ('application.submitted', 'application.decided')
UNION ALL
SELECT 'audit_missing', (SELECT approved + refused FROM a) - count(*),
       CASE WHEN count(*) = (SELECT approved + refused FROM a) THEN 'pass' ELSE 'FAIL' END
FROM audit WHERE entity = 'application' AND action IN ('approve', 'refuse');
SQL
}

# campaign_day: restarts attachd with the campaign's DB pool, runs wrk for CAMPAIGN_SECONDS,
# measures CPU of PostgreSQL and attachd around it, checks the invariants, appends the table.
campaign_day() {
    local polys f line s0 p0 s1 p1 n201 warm201 stored0 stored t0 t1 mix failed_here=0 busy wal0 wal1
    log "campaign-day: preparing the catalogue and the campaign window"
    kill "$ATTACHD_PID" 2>/dev/null && wait "$ATTACHD_PID" 2>/dev/null || true
    # Which statements the time goes to (BENCH_PGSS_TRACK=all: inside functions and triggers
    # too, a few per cent more overhead), for the table below the figures.
    attachd_psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null ||
        fail_setup "campaign-day: cannot load pg_stat_statements"
    # Group commit: a committing backend waits commit_delay µs for others to join its WAL flush
    # (when at least 5 others are in a transaction). Durability is unchanged.
    attachd_psql -c "ALTER SYSTEM SET commit_delay = $CAMPAIGN_COMMIT_DELAY" >/dev/null ||
        fail_setup "campaign-day: cannot set commit_delay"
    local setting
    for setting in "shared_buffers=$CAMPAIGN_SHARED_BUFFERS" "max_wal_size=$CAMPAIGN_MAX_WAL_SIZE"; do
        [ -n "${setting#*=}" ] || continue
        attachd_psql -c "ALTER SYSTEM SET ${setting%%=*} = '${setting#*=}'" >/dev/null ||
            fail_setup "campaign-day: cannot set $setting"
    done
    pg_local_stop "$PGDIR" >/dev/null 2>&1
    pg_local_start "$PGDIR" "$PGPORT_BENCH" attachd >/dev/null 2>&1 || fail_setup "PostgreSQL did not restart"
    # Its settings exist only once the library is loaded.
    attachd_psql -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' \
        -c "ALTER SYSTEM SET pg_stat_statements.track = '$PGSS_TRACK'" \
        -c "ALTER SYSTEM SET pg_stat_statements.track_planning = '$PGSS_PLANNING'" -c 'SELECT pg_reload_conf()' \
        >/dev/null || fail_setup "campaign-day: cannot set up pg_stat_statements"
    polys=$(campaign_prepare) || fail_setup "campaign-day: preparing the data failed"
    multixacts0=$(multixacts_made)
    ATTACHD_PORT=$PORT ATTACHD_THREADS=$CAMPAIGN_THREADS ATTACHD_DB_POOL=$CAMPAIGN_DB_POOL ATTACHD_LOG_LEVEL=warn \
        "$BIN" serve >"$OUT/attachd.campaign.log" 2>&1 &
    ATTACHD_PID=$!
    wait_http "http://127.0.0.1:$PORT/healthz" 30 "$ATTACHD_PID" || fail_setup "attachd did not answer"
    # A warm-up on the empty register, then ANALYZE: the statements' generic plans, cached by
    # each connection, were made for empty tables (sequential scans); ANALYZE invalidates them,
    # so the measured run uses plans for a register that holds people, as on a real day.
    log "campaign-day: warming up (${CAMPAIGN_WARMUP}s), then ANALYZE"
    (BENCH_PATH=/v1/applications BENCH_PORTAL_TOKEN="$PORTAL_TOKEN" BENCH_POLYCLINICS="$polys" \
        BENCH_SETTLEMENT=751110000 BENCH_IIN_STREAM=1 wrk -t"$WRK_THREADS" -c"$CONNS" \
        -d"${CAMPAIGN_WARMUP}s" --timeout 10s -s "$BENCH/wrk/campaign_day.lua" \
        "http://127.0.0.1:$PORT" >"$OUT/campaign-day.warmup.wrk" 2>&1) ||
        fail_setup "wrk failed for the campaign-day warm-up; see $OUT/campaign-day.warmup.wrk"
    sleep 1
    warm201=$(awk '/^BENCH /{for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["requests"] - v["err_status"]}' "$OUT/campaign-day.warmup.wrk")
    attachd_psql -c 'ANALYZE' -c 'SELECT pg_stat_statements_reset()' >/dev/null
    stored0=$(attachd_psql -At -c 'SELECT count(*) FROM applications')
    busy=$(wait_quiet)
    f=$OUT/campaign-day.wrk
    log "campaign-day: $CONNS connections for ${CAMPAIGN_SECONDS}s to $(tr ',' '\n' <<<"$polys" | wc -l) polyclinics ($CAMPAIGN_THREADS threads, DB pool $CAMPAIGN_DB_POOL; machine ${busy}% busy before)"
    wal0=$(attachd_psql -At -F ' ' -c 'SELECT wal_bytes, wal_sync, wal_fpi FROM pg_stat_wal')
    s0=$(ticks "$ATTACHD_PID")
    p0=$(pg_ticks)
    st0=$(steal_mark)
    t0=$(date +%s.%N)
    (BENCH_PATH=/v1/applications BENCH_PORTAL_TOKEN="$PORTAL_TOKEN" BENCH_POLYCLINICS="$polys" \
        BENCH_SETTLEMENT=751110000 wrk -t"$WRK_THREADS" -c"$CONNS" -d"${CAMPAIGN_SECONDS}s" \
        --timeout 10s --latency -s "$BENCH/wrk/campaign_day.lua" "http://127.0.0.1:$PORT" \
        >"$f" 2>&1 && times >"$f.times") || fail_setup "wrk failed for campaign-day; see $f"
    sleep 1 # the last requests in flight finish
    t1=$(date +%s.%N)
    s1=$(ticks "$ATTACHD_PID")
    p1=$(pg_ticks)
    steal=$(share_pct "$st0" "$(steal_mark)" 1)
    wal1=$(attachd_psql -At -F ' ' -c 'SELECT wal_bytes, wal_sync, wal_fpi FROM pg_stat_wal')
    line=$(grep '^BENCH ' "$f") || fail_setup "wrk printed no result for campaign-day; see $f"
    n201=$(awk '{for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        print v["requests"] - v["err_status"]}' <<<"$line")
    stored=$(($(attachd_psql -At -c 'SELECT count(*) FROM applications') - stored0))
    mix=$(attachd_psql -At -F ' ' -c "SELECT coalesce(string_agg(s || '=' || n, ' ' ORDER BY s), '')
        FROM (SELECT coalesce(refusal_code, status) AS s, count(*) AS n FROM applications GROUP BY 1) x")
    campaign_check "$((n201 + warm201))" >"$OUT/campaign-day.checks" || fail_setup "campaign-day: the checks failed to run"
    multixacts=$(($(multixacts_made) - multixacts0))
    stored_all=$(attachd_psql -At -c 'SELECT count(*) FROM applications')
    grep -q FAIL "$OUT/campaign-day.checks" && failed_here=1
    attachd_psql -At -F ' | ' -c "SELECT round(total_exec_time::numeric, 0), calls,
        round((total_exec_time / greatest(calls, 1))::numeric, 3), plans,
        round((total_plan_time / greatest(plans, 1))::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 110)
        FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15" >"$OUT/campaign-day.statements" 2>/dev/null || true
    {
        printf '\ncampaign-day: %s connections, %ss, attachd %s threads, DB pool %s, fsync on, commit_delay %s, shared_buffers %s, max_wal_size %s; machine %s%% busy before, %s%% of its CPU time stolen by the host during the run\n' \
            "$CONNS" "$CAMPAIGN_SECONDS" "$CAMPAIGN_THREADS" "$CAMPAIGN_DB_POOL" "$CAMPAIGN_COMMIT_DELAY" \
            "$(attachd_psql -At -c 'SHOW shared_buffers')" "$(attachd_psql -At -c 'SHOW max_wal_size')" "$busy" "$steal"
        awk -v line="$line" -v stored="$stored" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v hz="$HZ" \
            -v secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" -v bar="${S_BAR[campaign-day]}" \
            -v failed="$failed_here" 'BEGIN{
            n = split(line, f, " "); for (i = 2; i <= n; i++) { split(f[i], kv, "="); v[kv[1]] = kv[2] }
            ok = v["requests"] - v["err_status"]
            rate = ok * 1e6 / v["duration_us"]
            printf "  applications/s %.0f (bar %s: %s)   201 answers %d, stored %d, errors: status %d connect %d read %d timeout %d\n",
                rate, bar, (rate >= bar ? "pass" : "below"), ok, stored, v["err_status"], v["err_connect"],
                v["err_read"], v["err_timeout"]
            printf "  latency p50 %.2f ms, p99 %.2f ms\n", v["p50_us"] / 1000, v["p99_us"] / 1000
            printf "  CPU per application: PostgreSQL %.0f us, attachd %.0f us\n",
                p * 1e6 / hz / stored, s * 1e6 / hz / stored
            printf "  invariants: %s\n", (failed ? "FAIL" : "pass")
        }'
        awk -v a="$wal0" -v b="$wal1" -v n="$stored" 'BEGIN{split(a, x, " "); split(b, y, " ")
            printf "  WAL per application: %.0f bytes (%.2f full-page images); %.1f applications per WAL sync\n",
                (y[1] - x[1]) / n, (y[3] - x[3]) / n, (y[2] > x[2] ? n / (y[2] - x[2]) : 0)}'
        awk -v m="$multixacts" -v n="$stored_all" 'BEGIN{
            printf "  MultiXacts per application: %.2f (%d for the %d applications of the warm-up and the run)\n",
                m / n, m, n}'
        printf '  outcomes: %s\n' "$mix"
        sed 's/^/  check /' "$OUT/campaign-day.checks"
        printf '  statements by total time (ms | calls | ms per call | plans | ms per plan | statement):\n'
        sed 's/^/    /' "$OUT/campaign-day.statements"
    } >>"$OUT/results.txt"
    [ "$failed_here" = 0 ] && [ "$(grep -o 'err_[a-z]*=[1-9]' <<<"$line" | wc -l)" = 0 ]
}

# campaign_min: auto-approvals alone, attachd against pgbench running the least SQL such an
# application needs (bench/pgbench/campaign_day_min.sql), CAMPAIGN_MIN_SECONDS each, same
# catalogue, same durable PostgreSQL, pgbench with as many clients as attachd's pool. Each side
# starts from an empty register, warms up 5 s and runs ANALYZE, as the campaign day does.
# attachd's rate counts only the applications approved in its window (wrk posts to the
# polyclinics that auto-approve only; one in four applicants is a minor, as on the day).
# Appends its lines to the results; the bar (0.5, the developers' guide) is reported, not failed.
campaign_min() {
    local auto nauto a0 a1 other t0 t1 s0 s1 p0 p1 f z secs rate tps n line pz0 pz1 zt0 zt1 zn
    campaign_prepare >/dev/null || return 1
    auto=$(attachd_psql -At -c "SELECT string_agg(id::text, ',' ORDER BY id) FROM polyclinics
        WHERE settlement = '751110000' AND auto_approve AND accepting AND fsms_contract")
    nauto=$(tr ',' '\n' <<<"$auto" | wc -l)
    log "campaign-day: auto-approvals only, ${CAMPAIGN_MIN_SECONDS}s, attachd then pgbench ($nauto polyclinics)"
    (BENCH_PATH=/v1/applications BENCH_PORTAL_TOKEN="$PORTAL_TOKEN" BENCH_POLYCLINICS="$auto" \
        BENCH_SETTLEMENT=751110000 BENCH_IIN_STREAM=1 wrk -t"$WRK_THREADS" -c"$CONNS" -d5s \
        --timeout 10s -s "$BENCH/wrk/campaign_day.lua" "http://127.0.0.1:$PORT" \
        >"$OUT/campaign-min.warmup.wrk" 2>&1) || return 1
    sleep 1
    attachd_psql -c 'ANALYZE' >/dev/null
    a0=$(attachd_psql -At -c "SELECT count(*) FILTER (WHERE status = 'approved'), count(*) FROM applications")
    f=$OUT/campaign-min.wrk
    s0=$(ticks "$ATTACHD_PID")
    p0=$(pg_ticks)
    t0=$(date +%s.%N)
    (BENCH_PATH=/v1/applications BENCH_PORTAL_TOKEN="$PORTAL_TOKEN" BENCH_POLYCLINICS="$auto" \
        BENCH_SETTLEMENT=751110000 wrk -t"$WRK_THREADS" -c"$CONNS" -d"${CAMPAIGN_MIN_SECONDS}s" \
        --timeout 10s --latency -s "$BENCH/wrk/campaign_day.lua" "http://127.0.0.1:$PORT" \
        >"$f" 2>&1) || return 1
    sleep 1
    t1=$(date +%s.%N)
    s1=$(ticks "$ATTACHD_PID")
    p1=$(pg_ticks)
    a1=$(attachd_psql -At -c "SELECT count(*) FILTER (WHERE status = 'approved'), count(*) FROM applications")
    line=$(grep '^BENCH ' "$f") || return 1
    secs=$(awk -v l="$line" 'BEGIN{n = split(l, f, " "); for (i = 2; i <= n; i++) { split(f[i], kv, "=")
        if (kv[1] == "duration_us") print kv[2] / 1e6 }}')
    n=$((${a1%%|*} - ${a0%%|*}))
    other=$((${a1##*|} - ${a0##*|} - n))
    rate=$(awk -v n="$n" -v s="$secs" 'BEGIN{printf "%.0f", n / s}')

    # pgbench: the register emptied again, the same warm-up and ANALYZE, then measured.
    campaign_prepare >/dev/null || return 1
    z=$OUT/campaign-min.pgbench
    local pgb=(pgbench -n -M prepared -c "$CAMPAIGN_DB_POOL" -j "$PGBENCH_JOBS" -f "$BENCH/pgbench/campaign_day_min.sql"
        -D npolys="$nauto" -D person="$SAMPLE_PERSON" -h 127.0.0.1 -p "$PGPORT_BENCH" -U postgres attachd)
    PGOPTIONS=$PG_SESSION_OPTIONS "${pgb[@]}" -T 5 -D k=0 >"$z.warmup" 2>&1 || return 1
    attachd_psql -c 'ANALYZE' >/dev/null
    pg_clients_gone pgbench
    zn=$(attachd_psql -At -c "SELECT count(*) FROM applications")
    pz0=$(pg_ticks)
    (PGOPTIONS=$PG_SESSION_OPTIONS "${pgb[@]}" -T "$CAMPAIGN_MIN_SECONDS" -D k=500000000 >"$z" 2>&1 &&
        times >"$z.times") || return 1
    # pgbench's 32 backends exit after it does: their CPU is counted once the postmaster has
    # reaped them (pg_ticks); read too early, most of it was missed (0.66 ms instead of 1.7).
    pg_clients_gone pgbench
    pz1=$(pg_ticks)
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$z")
    zt1=$(client_ticks "$z.times")
    zn=$(($(attachd_psql -At -c "SELECT count(*) FROM applications") - zn))
    {
        printf '\ncampaign-day, auto-approvals only: attachd vs pgbench running the least SQL (bench/pgbench/campaign_day_min.sql), %ss each, %s clients\n' \
            "$CAMPAIGN_MIN_SECONDS" "$CAMPAIGN_DB_POOL"
        awk -v n="$n" -v other="$other" -v rate="$rate" -v tps="$tps" -v zn="$zn" -v hz="$HZ" \
            -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v pz=$((pz1 - pz0)) -v zc="$zt1" 'BEGIN{
            printf "  attachd: %d approved at once (%.0f/s; %d others not counted), CPU per approval: PostgreSQL %.0f us, attachd %.0f us\n",
                n, rate, other, p * 1e6 / hz / (n + other), s * 1e6 / hz / (n + other)
            printf "  pgbench: %.0f tps (%d applications stored), CPU per transaction: PostgreSQL %.0f us, pgbench %.0f us\n",
                tps, zn, pz * 1e6 / hz / zn, zc * 1e6 / hz / zn
            r = (tps > 0 ? rate / tps : 0)
            printf "  ratio attachd / pgbench: %.2f (bar 0.5: %s)\n", r, (r >= 0.5 ? "pass" : "below")
        }'
    } >>"$OUT/results.txt"
}

# ---- report -----------------------------------------------------------------------------------
# Result lines: rps p50_us p99_us server_us postgres_us client_us busy_before.
table=$OUT/results.txt
failed=0
col() { awk -v c="$2" '{print $c}' "$1" | median; }
ms() { col "$1" "$2" | awk '{printf "%.2f", $1 / 1000}'; }
{
    printf 'attachd benchmark, %s, host %s, %s CPUs (%s), commit %s%s\n' "$(date -u +%FT%TZ)" \
        "$(uname -n)" "$NCPU" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
        "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
        "$(git -C "$ROOT" diff --quiet HEAD -- src include 2>/dev/null || echo ' + local changes')"
    printf 'wrk -t%s -c%s -d%ss, keep-alive; pgbench -M prepared -c %s -j %s -T %s; attachd and bare_mhd %s threads, attachd DB pool %s\n' \
        "$WRK_THREADS" "$CONNS" "$DURATION" "$DB_POOL" "$PGBENCH_JOBS" "$DURATION" "$THREADS" "$DB_POOL"
    printf '%s rounds per side; medians; ratio = attachd / baseline req/s (range: per round)\n\n' "$ROUNDS"
    printf '%-22s %9s %-8s %9s %5s %-9s %4s %-6s %15s %15s\n' scenario 'attachd/s' baseline \
        'base/s' ratio range bar result 'attachd p50/p99' 'base p50/p99'
    cpu_lines=()
    for name in "${SELECTED[@]}"; do
        if [ "${STATE[$name]}" != ready ]; then
            printf '%-22s %s\n' "$name" "${STATE[$name]}"
            failed=1
            continue
        fi
        a=$OUT/$name.attachd.results
        z=$OUT/$name.baseline.results
        if grep -q ERR "$a" "$z"; then
            printf '%-22s errors during the run: see %s/%s.*\n' "$name" "$OUT" "$name"
            failed=1
            continue
        fi
        ar=$(col "$a" 1)
        zr=$(col "$z" 1)
        ratio=$(awk -v a="$ar" -v b="$zr" 'BEGIN{printf "%.2f", a / b}')
        range=$(paste -d ' ' "$a" "$z" | awk '{r = $1 / $8; if (NR == 1 || r < lo) lo = r
            if (NR == 1 || r > hi) hi = r} END{printf "%.2f-%.2f", lo, hi}')
        result=$(awk -v r="$ratio" -v bar="${S_BAR[$name]}" 'BEGIN{print ((r >= bar) ? "pass" : "FAIL")}')
        [ "$result" = pass ] || failed=1
        printf '%-22s %9.0f %-8s %9.0f %5s %-9s %4s %-6s %15s %15s\n' "$name" "$ar" \
            "${S_BASE[$name]}" "$zr" "$ratio" "$range" "${S_BAR[$name]}" "$result" \
            "$(ms "$a" 2)/$(ms "$a" 3) ms" "$(ms "$z" 2)/$(ms "$z" 3) ms"
        at=$(awk '{print $4 + $5 + $6}' "$a" | median)
        zt=$(awk '{print $4 + $5 + $6}' "$z" | median)
        cpu_lines+=("$(printf '%-22s %7.0f %7.0f %7.0f %7.0f   %7.0f %7.0f %7.0f %7.0f   %5.2f' "$name" \
            "$(col "$a" 4)" "$(col "$a" 5)" "$(col "$a" 6)" "$at" \
            "$(col "$z" 4)" "$(col "$z" 5)" "$(col "$z" 6)" "$zt" \
            "$(awk -v a="$at" -v b="$zt" 'BEGIN{print (a > 0 ? b / a : 0)}')")")
    done
    if [ ${#cpu_lines[@]} -gt 0 ]; then
        printf '\nCPU time per request, microseconds (medians). server: attachd or bare_mhd; client: wrk or pgbench.\n'
        printf 'cpu ratio = baseline total / attachd total: the req/s ratio to expect when the CPUs are the limit.\n'
        printf '%-22s %7s %7s %7s %7s   %7s %7s %7s %7s   %5s\n' '' server postgres client total \
            server postgres client total 'cpu'
        printf '%-22s %31s   %31s   %5s\n' scenario '---------- attachd ----------' \
            '---------- baseline ---------' ratio
        printf '%s\n' "${cpu_lines[@]}"
    fi
    if [ -s "$OUT/background" ]; then
        printf '\nmachine busy with other work just before each measurement: median %s%%, max %s%%' \
            "$(median <"$OUT/background")" "$(sort -n "$OUT/background" | tail -n 1)"
        if [ "$(sort -n "$OUT/background" | tail -n 1)" -gt "$QUIET_PCT" ]; then
            printf ' -- above %s%%: req/s are noisy (BENCH_QUIET_WAIT=120 waits for quiet)' "$QUIET_PCT"
        fi
        printf '\n'
    fi
} >"$table" # not a pipe: failed must be set in this shell
[ ${#SELECTED[@]} -gt 0 ] || : >"$table"
if [ "$CAMPAIGN_DAY" = 1 ]; then
    campaign_day || failed=1
    if [ "$CAMPAIGN_MIN_SECONDS" -gt 0 ]; then
        campaign_min || { printf '\ncampaign-day least-SQL baseline: could not be measured (see %s/campaign-min.*)\n' "$OUT" >>"$OUT/results.txt"; failed=1; }
    fi
    alive
fi
cat "$table"
log "results: $table (raw wrk and pgbench output next to it)"
exit $failed
}
