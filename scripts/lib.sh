# shellcheck shell=bash
# Helpers shared by scripts/start.sh, scripts/test.sh and .ci/run. Source it; it runs nothing.
#
#   ensure_packages [EXTRA_PKG...]     install the Debian packages attachd needs (apt, sudo if not root)
#   build_attachd BUILD_DIR [ARGS...]  cmake configure (RelWithDebInfo unless ARGS say otherwise) + build
#   pg_local_start DIR PORT [DBNAME]   start (initialise on first use) a private PostgreSQL under DIR,
#                                      create DBNAME (default attachd), export DATABASE_URL and PG_LOCAL_PORT
#   pg_local_stop DIR                  stop it (no-op when it is not running)
#   pg_local_destroy DIR               stop it and delete the cluster
#   attachd_psql [PSQL_ARGS...]        psql into $DATABASE_URL (stop on first error, no ~/.psqlrc)
#   wait_http URL TIMEOUT [PID]        poll URL until it answers 2xx; give up early if PID dies
#   port_is_free PORT / free_port START   pick a TCP port on 127.0.0.1 that nobody uses
#   attachd_token_create BIN ROLE NAME [POLYCLINIC_ID]   print a new token secret
#
# Layout of a private PostgreSQL directory DIR:
#   DIR/data  the cluster (PGDATA)       DIR/log  server log       DIR/run  Unix socket (if the path fits)
# When we are root the server runs as the `postgres` user (initdb refuses root), so DIR is given to
# that user. If `postgres` cannot reach DIR (for example a checkout under /root, mode 700), the
# cluster lives in /var/tmp/attachd-pg-<checksum of DIR> instead and DIR/elsewhere points at it.

ATTACHD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian 12 packages needed to build, unit-test, run and integration-test attachd.
ATTACHD_PACKAGES=(
    build-essential cmake pkg-config
    libmicrohttpd-dev libjansson-dev libpq-dev libssl-dev check
    postgresql postgresql-contrib
    python3 python3-jsonschema curl
)
# Debian 12 packages scripts/fuzz.sh needs on top: clang with libFuzzer and the sanitizer runtimes.
ATTACHD_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ensure_packages [EXTRA_PKG...]
# Installs whichever of ATTACHD_PACKAGES and EXTRA_PKG are missing; when all are present it does not
# touch apt at all. Missing packages are installed after an `apt-get update`, because a fresh machine
# has stale or empty package lists.
ensure_packages() {
    local want=("${ATTACHD_PACKAGES[@]}" "$@") missing=() pkg
    command -v dpkg-query >/dev/null 2>&1 ||
        die "not a Debian system (no dpkg-query); install by hand: ${want[*]}"
    for pkg in "${want[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing packages and neither root nor sudo: ${missing[*]}"
        sudo=(sudo)
    fi
    log "installing Debian packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" || die "apt-get install failed: ${missing[*]}"
}

# build_attachd BUILD_DIR [EXTRA_CMAKE_ARGS...]
# Later -D options win, so EXTRA_CMAKE_ARGS may override the build type.
build_attachd() {
    local dir=${1:?build_attachd BUILD_DIR [cmake args]}
    shift
    log "configuring $dir"
    cmake -S "$ATTACHD_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" || return 1
    log "building $dir"
    cmake --build "$dir" -j "${ATTACHD_BUILD_JOBS:-2}" || return 1
}

# pg_bindir: where initdb/pg_ctl/psql of the PostgreSQL server live (override with PG_BINDIR).
pg_bindir() {
    if [ -n "${PG_BINDIR:-}" ]; then
        printf '%s\n' "$PG_BINDIR"
    elif [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
        printf '%s\n' /usr/lib/postgresql/15/bin
    else
        local d
        d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
        [ -n "$d" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql (package postgresql)"
        printf '%s\n' "$d"
    fi
}

# _pg_as_owner CMD...: run a server-side command as the owner of the cluster. As root that is the
# postgres user; `cd /` first because initdb and pg_ctl fail when they cannot read the current
# directory (which may be under /root).
_pg_as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# _pg_abs DIR: DIR as an absolute path (DIR need not exist yet).
_pg_abs() {
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(pwd)" "$1" ;;
    esac
}

# _pg_base DIR: the directory that holds data/, log and run/ for DIR.
_pg_base() {
    if [ -L "$1/elsewhere" ]; then
        readlink -f "$1/elsewhere"
    else
        printf '%s\n' "$1"
    fi
}

# _pg_prepare_base DIR: create DIR (and, as root, hand it to postgres); print the base directory.
_pg_prepare_base() {
    local dir=$1 base
    mkdir -p "$dir" || return 1
    base=$(_pg_base "$dir")
    if is_root; then
        id -u postgres >/dev/null 2>&1 || die "no 'postgres' user (install the postgresql package)"
        if [ "$base" = "$dir" ]; then
            chown postgres:postgres "$dir" || return 1
            if ! runuser -u postgres -- test -x "$dir" -a -w "$dir" 2>/dev/null; then
                base=/var/tmp/attachd-pg-$(printf '%s' "$dir" | cksum | cut -d ' ' -f 1)
                warn "user postgres cannot reach $dir; keeping the cluster in $base"
                mkdir -p "$base" || return 1
                ln -sfn "$base" "$dir/elsewhere" || return 1
            fi
        fi
        chown -R postgres:postgres "$base" || return 1
        chmod 700 "$base" || return 1
    fi
    printf '%s\n' "$base"
}

# _pg_port_of DATADIR: the port a running cluster listens on (line 4 of postmaster.pid).
_pg_port_of() {
    sed -n 4p "$1/postmaster.pid" 2>/dev/null
}

# pg_local_start DIR PORT [DBNAME]
# Initialises DIR/data on first use (trust auth, superuser postgres, UTF-8, C.UTF-8 locale), starts
# the server on 127.0.0.1:PORT unless it already runs (then its own port is used), creates DBNAME
# and exports DATABASE_URL and PG_LOCAL_PORT. PG_LOCAL_FAST=1 turns off fsync (throwaway clusters).
pg_local_start() {
    local dir port=${2:?pg_local_start DIR PORT [DBNAME]} db=${3:-attachd} bindir base data sock opts
    dir=$(_pg_abs "${1:?pg_local_start DIR PORT [DBNAME]}")
    bindir=$(pg_bindir) || return 1
    base=$(_pg_prepare_base "$dir") || return 1
    data=$base/data

    if [ ! -s "$data/PG_VERSION" ]; then
        log "initialising PostgreSQL cluster in $data"
        _pg_as_owner "$bindir/initdb" -D "$data" --auth=trust -U postgres \
            --encoding=UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 || {
            cat "$base/initdb.log" >&2
            return 1
        }
    fi

    if _pg_as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        local running
        running=$(_pg_port_of "$data")
        if [ -n "$running" ] && [ "$running" != "$port" ]; then
            warn "PostgreSQL in $data already runs on port $running (not $port); using it"
        fi
        port=${running:-$port}
        log "PostgreSQL in $data already running on port $port"
    else
        # A Unix socket path must fit in 108 bytes; when DIR is deep we go without one (TCP only).
        sock=$base/run
        mkdir -p "$sock" && { ! is_root || chown postgres:postgres "$sock"; } || return 1
        if [ $((${#sock} + 20)) -ge 108 ]; then
            opts="-c unix_socket_directories=''"
        else
            opts="-k '$sock'"
        fi
        opts="$opts -p $port -c listen_addresses=127.0.0.1"
        if [ "${PG_LOCAL_FAST:-0}" = 1 ]; then
            opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        fi
        log "starting PostgreSQL on 127.0.0.1:$port (log: $base/log)"
        if ! _pg_as_owner "$bindir/pg_ctl" -D "$data" -l "$base/log" -w -t 60 -o "$opts" start >/dev/null; then
            warn "PostgreSQL did not start; last lines of $base/log:"
            tail -n 20 "$base/log" >&2 || true
            return 1
        fi
    fi

    local exists
    exists=$("$bindir/psql" -X -q -At -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = '$db'") || return 1
    if [ "$exists" != 1 ]; then
        log "creating database $db"
        "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres -E UTF8 "$db" || return 1
    fi

    PG_LOCAL_PORT=$port
    DATABASE_URL="host=127.0.0.1 port=$port dbname=$db user=postgres"
    export PG_LOCAL_PORT DATABASE_URL
}

# pg_local_stop DIR: fast shutdown of the cluster started from DIR, if it runs.
pg_local_stop() {
    local dir data bindir
    dir=$(_pg_abs "${1:?pg_local_stop DIR}")
    data=$(_pg_base "$dir")/data
    [ -f "$data/PG_VERSION" ] || return 0
    bindir=$(pg_bindir) || return 1
    if _pg_as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        log "stopping PostgreSQL in $data"
        _pg_as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

# pg_local_destroy DIR: stop the cluster started from DIR and delete it (and DIR).
pg_local_destroy() {
    local dir base
    dir=$(_pg_abs "${1:?pg_local_destroy DIR}")
    pg_local_stop "$dir" || return 1
    base=$(_pg_base "$dir")
    [ "$base" = "$dir" ] || rm -rf "$base"
    rm -rf "$dir"
}

# attachd_psql [PSQL_ARGS...]: psql (stop on error, no ~/.psqlrc) into the database named by
# DATABASE_URL, as pg_local_start exported it.
attachd_psql() {
    "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -d "${DATABASE_URL:?pg_local_start first}" "$@"
}

# port_is_free PORT: true when PORT on 127.0.0.1 can be bound right now.
port_is_free() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
' "$1"
    else
        ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
    fi
}

# free_port START: print the first free port in START..START+199.
free_port() {
    local p=${1:?free_port START}
    while [ "$p" -lt $(($1 + 200)) ]; do
        if port_is_free "$p"; then
            printf '%s\n' "$p"
            return 0
        fi
        p=$((p + 1))
    done
    warn "no free port in $1..$(($1 + 199))"
    return 1
}

# wait_http URL TIMEOUT_SECONDS [PID]: poll until URL answers 2xx. Fails after the timeout, or at
# once when PID (the server being waited for) has exited.
wait_http() {
    local url=${1:?wait_http URL TIMEOUT [PID]} timeout=${2:-30} pid=${3:-} deadline
    deadline=$((SECONDS + timeout))
    while :; do
        if curl --noproxy '*' -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            warn "process $pid exited while waiting for $url"
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            warn "no answer from $url within ${timeout}s"
            return 1
        fi
        sleep 0.2
    done
}

# attachd_token_create BIN ROLE NAME [POLYCLINIC_ID]: print the secret of a new token (the
# binary prints it alone on the last line of standard output).
attachd_token_create() {
    local bin=$1 role=$2 name=$3 poly=${4:-} out secret
    local args=(token create --role "$role" --name "$name")
    [ -n "$poly" ] && args+=(--polyclinic "$poly")
    out=$("$bin" "${args[@]}") || {
        warn "attachd ${args[*]} failed"
        return 1
    }
    secret=$(printf '%s\n' "$out" | tail -n 1)
    case $secret in
    '' | *[[:space:]]*)
        warn "attachd ${args[*]} printed no token on its last line"
        return 1
        ;;
    esac
    printf '%s\n' "$secret"
}
