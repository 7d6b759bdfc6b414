#!/usr/bin/env bash
# Failover test (issue 11): a PostgreSQL primary lost under load loses no accepted application.
#
#   scripts/failover-test.sh            (as root, or a user with sudo; Debian 12)
#
# Installs what it needs (patroni, etcd-server, etcd-client, postgresql-15), builds attachd into
# $BUILD_DIR (default build) unless ATTACHD_BIN names a binary, then on loopback ports that are
# free: starts etcd, two Patroni-managed PostgreSQL 15 nodes (synchronous_mode: an acknowledged
# commit is on both nodes), migrates, starts two attachd instances on the multi-host URL
#   host=127.0.0.1,127.0.0.1 port=P1,P2 ... target_session_attrs=read-write
# and has HA_CLIENTS (default 16) clients submit applications to both (auto-approved, pending,
# and racing for the last places of small districts; each with an Idempotency-Key, a 503 or a
# network error retried with the same key, as docs/INTEGRATION.md ("Retries") tells integrators).
#   (a) failover:   SIGKILL of the primary's postmaster (Patroni promotes the synchronous standby)
#   (b) switchover: `patronictl switchover` once the old primary has rejoined as a standby
# After each, tests/ha/failover_load.py checks on the new primary that every application answered
# 201 is there as answered, none half-written, no district above capacity, nobody with two
# overlapping attachments, and measures the longest stretch without a 201 and the 503s. The last
# two lines:
#   failover: N accepted, N found, lost 0, over capacity 0, unavailable S s
#   switchover: N accepted, N found, lost 0, over capacity 0, unavailable S s
# Everything it started is stopped and its directory removed on exit (logs are kept in
# $BUILD_DIR/failover/). Exit status 0 when every check passed.
#
# Environment: BUILD_DIR, ATTACHD_BIN, HA_CLIENTS, HA_KEEP=1 (keep the cluster's directory),
# HA_PORT_BASE (first port tried, default 26200: below the ephemeral range, where an outgoing connection could take a port between the check and the listen), PG_BINDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
LOGS=$BUILD_DIR/failover
STARTED_AT=$SECONDS
WORK= ETCD_PID= PATRONI_PIDS=() ATTACHD_PIDS=() SUMMARY=()

is_root || die "run as root: Patroni runs PostgreSQL as the postgres user"

# ---- teardown: everything this script started, by pid ------------------------------------------

postmaster_pid() { [ -f "$1/postmaster.pid" ] && head -n 1 "$1/postmaster.pid" || true; }

teardown() {
    local pid node
    for pid in "${ATTACHD_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Patroni stops its PostgreSQL on SIGTERM (fast shutdown); give it a few seconds.
    for pid in "${PATRONI_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
        local alive=0
        for pid in "${PATRONI_PIDS[@]}" "${ATTACHD_PIDS[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && break
        sleep 0.2
    done
    for pid in "${PATRONI_PIDS[@]}" "${ATTACHD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    if [ -n "$WORK" ]; then
        for node in node1 node2; do
            pid=$(postmaster_pid "$WORK/$node/data")
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                kill -QUIT "$pid" 2>/dev/null || true # immediate shutdown of a leftover postmaster
                sleep 1
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
    fi
    [ -z "$ETCD_PID" ] || { kill -TERM "$ETCD_PID" 2>/dev/null || true; wait "$ETCD_PID" 2>/dev/null || true; }
    for pid in "${PATRONI_PIDS[@]}" "${ATTACHD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        for node in node1 node2; do
            cp "$WORK/$node/patroni.log" "$LOGS/$node-patroni.log" 2>/dev/null || true
            cp "$WORK/$node/data/log/postgresql.log" "$LOGS/$node-postgresql.log" 2>/dev/null || true
        done
        [ "${HA_KEEP:-0}" = 1 ] || rm -rf "$WORK"
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    teardown
    printf '\nfailover test finished in %ss (logs in %s)\n' $((SECONDS - STARTED_AT)) "$LOGS"
    [ ${#SUMMARY[@]} -eq 0 ] || printf '%s\n' "${SUMMARY[@]}"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 143' INT TERM

# ---- packages, binary ----------------------------------------------------------------------------

ensure_packages patroni etcd-server etcd-client postgresql-15
PGBIN=$(pg_bindir)
if [ -z "${ATTACHD_BIN:-}" ]; then
    build_attachd "$BUILD_DIR" >"$BUILD_DIR.failover-build.log" 2>&1 ||
        { cat "$BUILD_DIR.failover-build.log" >&2; die "build failed"; }
    ATTACHD_BIN=$BUILD_DIR/attachd
fi
mkdir -p "$LOGS"
rm -f "$LOGS"/*.log

# ---- ports and directories ----------------------------------------------------------------------

# take_ports NAME...: a distinct free port into each variable (no subshell, so `next` advances).
next=${HA_PORT_BASE:-26200}
take_ports() {
    local name p
    for name in "$@"; do
        p=$(free_port "$next") || die "no free port from $next"
        printf -v "$name" '%s' "$p"
        next=$((p + 1))
    done
}
take_ports ETCD_CLIENT ETCD_PEER PG1 PG2 REST1 REST2 HTTP1 HTTP2
WORK=$(mktemp -d /tmp/attachd-ha.XXXXXX)
chmod 755 "$WORK"
mkdir -p "$WORK/etcd" "$WORK/node1" "$WORK/node2"
chown -R postgres:postgres "$WORK/node1" "$WORK/node2"
chmod 700 "$WORK/node1" "$WORK/node2"
log "cluster in $WORK: etcd :$ETCD_CLIENT, PostgreSQL :$PG1 :$PG2, Patroni REST :$REST1 :$REST2"

# ---- etcd ----------------------------------------------------------------------------------------

etcd --name ha --data-dir "$WORK/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster "ha=http://127.0.0.1:$ETCD_PEER" \
    --initial-cluster-state new >"$LOGS/etcd.log" 2>&1 &
ETCD_PID=$!
for i in $(seq 1 100); do
    ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$ETCD_CLIENT" endpoint health >/dev/null 2>&1 && break
    kill -0 "$ETCD_PID" 2>/dev/null || die "etcd exited; see $LOGS/etcd.log"
    [ "$i" -lt 100 ] || die "etcd not healthy within 20 s"
    sleep 0.2
done

# ---- Patroni -------------------------------------------------------------------------------------

# patroni_config NAME PGPORT RESTPORT: the node's YAML. Trade-offs (docs/OPERATIONS.md):
#   synchronous_mode: a commit is acknowledged once it is on the standby too;
#   synchronous_mode_strict: false, so the survivor takes writes alone after a failover;
#   primary_start_timeout: 0, so a crashed primary fails over instead of being recovered in place;
#   use_pg_rewind + wal_log_hints, so the old primary rejoins as a standby by itself;
#   ttl 10 / loop_wait 2 / retry_timeout 4: a lost leader is noticed within seconds.
patroni_config() {
    cat <<YAML
scope: attachd-ha
namespace: /attachd-ha-$$/
name: $1
restapi:
  listen: 127.0.0.1:$3
  connect_address: 127.0.0.1:$3
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    primary_start_timeout: 0
    synchronous_mode: true
    synchronous_mode_strict: false
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: 'on'
        wal_log_hints: 'on'
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        synchronous_commit: 'on'
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
postgresql:
  listen: 127.0.0.1:$2
  connect_address: 127.0.0.1:$2
  data_dir: $WORK/$1/data
  bin_dir: $PGBIN
  pgpass: $WORK/$1/pgpass
  authentication:
    superuser:
      username: postgres
      password: postgres
    replication:
      username: replicator
      password: replicator
    rewind:
      username: postgres
      password: postgres
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: '$WORK/$1'
    logging_collector: 'on'
    log_directory: log
    log_filename: postgresql.log
    log_min_messages: warning
YAML
}

start_patroni() { # NAME PGPORT RESTPORT
    patroni_config "$1" "$2" "$3" >"$WORK/$1/patroni.yml"
    chown postgres:postgres "$WORK/$1/patroni.yml"
    (cd / && exec runuser -u postgres -- patroni "$WORK/$1/patroni.yml") >"$WORK/$1/patroni.log" 2>&1 &
    PATRONI_PIDS+=($!)
}

rest() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1$2" || true; }

# leader_rest: the REST port of the node that is primary now (empty when none is).
leader_rest() {
    local p
    for p in "$REST1" "$REST2"; do
        [ "$(rest "$p" /primary)" = 200 ] && { printf '%s\n' "$p"; return 0; }
    done
    return 0
}
node_of_rest() { [ "$1" = "$REST1" ] && echo node1 || echo node2; }
other_rest() { [ "$1" = "$REST1" ] && echo "$REST2" || echo "$REST1"; }

# wait_cluster SECONDS: until one node is primary and the other a synchronous standby that
# streams (so a failover has a candidate and no acknowledged commit is only on one node).
wait_cluster() {
    local limit=$1 start=$SECONDS l
    while [ $((SECONDS - start)) -lt "$limit" ]; do
        l=$(leader_rest)
        if [ -n "$l" ] && [ "$(rest "$(other_rest "$l")" /sync)" = 200 ]; then
            return 0
        fi
        sleep 0.5
    done
    patronictl -c "$WORK/node1/patroni.yml" list >&2 || true
    return 1
}

start_patroni node1 "$PG1" "$REST1"
for i in $(seq 1 120); do
    [ "$(rest "$REST1" /primary)" = 200 ] && break
    [ "$i" -lt 120 ] || die "node1 did not become primary within 60 s; see $WORK/node1/patroni.log"
    sleep 0.5
done
start_patroni node2 "$PG2" "$REST2"
wait_cluster 90 || die "no synchronous standby within 90 s"
log "cluster up: node1 primary, node2 synchronous standby ($((SECONDS - STARTED_AT)) s)"

# ---- database, attachd ---------------------------------------------------------------------------

"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PG1" -U postgres -d postgres -c "CREATE DATABASE attachd"
export DATABASE_URL="host=127.0.0.1,127.0.0.1 port=$PG1,$PG2 dbname=attachd user=postgres target_session_attrs=read-write connect_timeout=2"
"$ATTACHD_BIN" migrate >"$LOGS/migrate.log" 2>&1 || { cat "$LOGS/migrate.log" >&2; die "migrate failed"; }
ATTACHD_ADMIN_TOKEN=$("$ATTACHD_BIN" token create --role admin --name failover-admin | tail -n 1)
ATTACHD_PORTAL_TOKEN=$("$ATTACHD_BIN" token create --role portal --name failover-portal | tail -n 1)
export ATTACHD_ADMIN_TOKEN ATTACHD_PORTAL_TOKEN

for port in "$HTTP1" "$HTTP2"; do
    ATTACHD_PORT=$port ATTACHD_THREADS=8 ATTACHD_DB_POOL=8 ATTACHD_LOG_LEVEL=info \
        "$ATTACHD_BIN" serve >"$LOGS/attachd-$port.log" 2>&1 &
    ATTACHD_PIDS+=($!)
    wait_http "http://127.0.0.1:$port/readyz" 30 "$!" || die "attachd on :$port not ready"
done
export ATTACHD_URLS="http://127.0.0.1:$HTTP1,http://127.0.0.1:$HTTP2"
export ATTACHD_URL="http://127.0.0.1:$HTTP1" ATTACHD_PSQL=$PGBIN/psql

# run_phase LABEL FAULT_COMMAND: load, fault, recovery, checks (tests/ha/failover_load.py).
run_phase() {
    local out=$LOGS/$1.out rc=0
    HA_LABEL=$1 HA_FAULT=$2 timeout -k 10 240 python3 -u "$ROOT/tests/ha/failover_load.py" \
        2>&1 | tee "$out" || rc=$?
    SUMMARY+=("$(grep "^$1: " "$out" | tail -n 1)")
    [ -n "${SUMMARY[-1]}" ] || SUMMARY[-1]="$1: no result (see $out)"
    return "$rc"
}

# (a) SIGKILL of the primary's postmaster; Patroni (primary_start_timeout 0) promotes node2.
kill_primary() {
    local l node pid
    l=$(leader_rest)
    [ -n "$l" ] || die "no primary to kill"
    node=$(node_of_rest "$l")
    pid=$(postmaster_pid "$WORK/$node/data")
    log "SIGKILL to the postmaster of $node (pid $pid)"
    kill -KILL "$pid"
}
export -f kill_primary leader_rest node_of_rest rest postmaster_pid log
export REST1 REST2 WORK

# (b) a planned switchover to the standby.
switchover() {
    local l
    l=$(leader_rest)
    [ -n "$l" ] || die "no primary to switch over from"
    log "patronictl switchover $(node_of_rest "$l") -> $(node_of_rest "$(other_rest "$l")")"
    patronictl -c "$WORK/node1/patroni.yml" switchover --leader "$(node_of_rest "$l")" \
        --candidate "$(node_of_rest "$(other_rest "$l")")" --force
}
export -f switchover other_rest die

rc=0
run_phase failover kill_primary || rc=1
log "waiting for the old primary to rejoin as a synchronous standby"
if wait_cluster 120; then
    log "cluster whole again ($((SECONDS - STARTED_AT)) s)"
    run_phase switchover switchover || rc=1
else
    warn "the old primary did not rejoin within 120 s: no switchover"
    SUMMARY+=("switchover: not run (the old primary did not rejoin)")
    rc=1
fi
exit "$rc"
