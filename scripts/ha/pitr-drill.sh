#!/usr/bin/env bash
# Point-in-time recovery drill (docs/OPERATIONS.md "Backups"), on a throwaway cluster of its own:
# WAL archiving on, a pg_basebackup (tar, gzip, WAL from the archive), rows written before and
# after a target instant, then a restore of the base backup with restore_command and
# recovery_target_time. Passes when the restored cluster holds exactly the rows committed before
# the target, pauses there, and is promoted by pg_wal_replay_resume(). Prints how long the
# restore took. Run as root (the cluster runs as postgres) or as a user that may run initdb.
#
#   scripts/ha/pitr-drill.sh        PITR_PORT (default 26300; it uses this port and the next)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
B=$(pg_bindir)
PORT=$(free_port "${PITR_PORT:-26300}")
PORT2=$(free_port $((PORT + 1)))
D=$(mktemp -d /tmp/attachd-pitr.XXXXXX)
as_pg() { if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
is_root && chown postgres "$D"
cleanup() {
    as_pg "$B/pg_ctl" -D "$D/restore" -m immediate -w stop >/dev/null 2>&1 || true
    as_pg "$B/pg_ctl" -D "$D/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT

as_pg mkdir -p "$D/wal"
as_pg "$B/initdb" -D "$D/data" -U postgres -A trust >/dev/null
as_pg tee -a "$D/data/postgresql.conf" >/dev/null <<C
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$D'
wal_level = replica
archive_mode = on
archive_command = 'test ! -f $D/wal/%f && cp %p $D/wal/%f'
C
as_pg "$B/pg_ctl" -D "$D/data" -l "$D/data.log" -w start >/dev/null
P=("$B/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -U postgres)
"${P[@]}" -p "$PORT" -c "CREATE TABLE t (batch int)" \
    -c "INSERT INTO t SELECT 1 FROM generate_series(1, 100)"
as_pg "$B/pg_basebackup" -h 127.0.0.1 -p "$PORT" -U postgres -D "$D/base" -Ft -z -X none -c fast
"${P[@]}" -p "$PORT" -c "INSERT INTO t SELECT 2 FROM generate_series(1, 100)"
sleep 1
TARGET=$("${P[@]}" -p "$PORT" -c "SELECT clock_timestamp()")
sleep 1
"${P[@]}" -p "$PORT" -c "INSERT INTO t SELECT 3 FROM generate_series(1, 100)" \
    -c "SELECT pg_switch_wal()" >/dev/null
as_pg "$B/pg_ctl" -D "$D/data" -m fast -w stop >/dev/null # archives the last segment

started=$(date +%s.%N)
as_pg mkdir -m 700 "$D/restore"
as_pg tar -xzf "$D/base/base.tar.gz" -C "$D/restore"
as_pg tee -a "$D/restore/postgresql.auto.conf" >/dev/null <<C
restore_command = 'cp $D/wal/%f %p'
recovery_target_time = '$TARGET'
recovery_target_action = 'pause'
port = $PORT2
C
as_pg touch "$D/restore/recovery.signal"
as_pg "$B/pg_ctl" -D "$D/restore" -l "$D/restore.log" -w start >/dev/null
for _ in $(seq 1 120); do
    [ "$("${P[@]}" -p "$PORT2" -c "SELECT pg_is_wal_replay_paused()" 2>/dev/null)" = t ] && break
    sleep 0.5
done
rows=$("${P[@]}" -p "$PORT2" -c "SELECT string_agg(batch || ':' || n, ' ' ORDER BY batch)
                                  FROM (SELECT batch, count(*) n FROM t GROUP BY batch) x")
"${P[@]}" -p "$PORT2" -c "SELECT pg_wal_replay_resume()" >/dev/null
for _ in $(seq 1 40); do
    [ "$("${P[@]}" -p "$PORT2" -c "SELECT pg_is_in_recovery()")" = f ] && break
    sleep 0.25
done
promoted=$("${P[@]}" -p "$PORT2" -c "SELECT NOT pg_is_in_recovery()")
took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "target $TARGET: rows by batch after recovery '$rows' (want '1:100 2:100'), promoted $promoted, restore took $took s"
[ "$rows" = "1:100 2:100" ] && [ "$promoted" = t ] || { echo "pitr drill: FAILED"; exit 1; }
echo "pitr drill: passed"
