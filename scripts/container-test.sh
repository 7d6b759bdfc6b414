#!/usr/bin/env bash
# The integration suite against the container (SPEC §12 "The container is tested"); CI runs it.
#
# Builds the image from docker/Dockerfile and starts docker/compose.yaml (PostgreSQL 15 + attachd)
# with podman and podman-compose, which work on a machine without Docker's engine, then runs
# tests/integration/run.py against the container and tears everything down again. As root, or
# with sudo for the installs (podman itself runs as root here: `sudo` is used for it when needed).
#
#  1. installs what is missing (Debian 12): podman, runc, podman-compose, netavark, debootstrap...
#  2. writes a containers.conf for this machine and points podman at it (CONTAINERS_CONF): runtime
#     runc (crun cannot handle some sandboxes' cgroups) and ulimits no higher than this shell's
#     hard limits (podman's defaults are higher, and a sandbox may refuse to raise them)
#  3. base images: debian:12-slim and postgres:15 are used when present and pulled when a registry
#     answers; otherwise they are built here: debian:12-slim from debootstrap (the root file system
#     is cached as a tarball in $WORK), postgres:15 from docker/postgres.Dockerfile
#  4. `podman-compose build` builds the attachd image (compiles and runs the unit tests)
#  5. `podman-compose up -d` with docker/compose.test.yaml on top (PostgreSQL published on the
#     loopback interface), on free ports (once more from nothing if a container did not start);
#     waits for /healthz and /readyz
#  6. checks the container: not root, the image's HEALTHCHECK passes, an admin token was
#     bootstrapped into a mode 600 file
#  7. runs tests/integration/run.py with the bootstrapped admin token, a portal token made with
#     `attachd token create` in the container, DATABASE_URL of the published PostgreSQL and
#     ATTACHD_BIN running `attachd` inside the container; prints its "N passed, N failed" line
#  8. checks that the container's log holds no 12-digit number (SPEC §6: no IIN in a log line),
#     that `podman-compose stop` stops attachd with status 0, then removes the containers,
#     volumes, network and pod of the run (also on failure or interrupt: trap on EXIT)
#
# Environment:
#   ATTACHD_CONTAINER_DIR  work directory: caches, logs, containers.conf (default build-container)
#   ATTACHD_CT_PORT        first port tried for attachd on the host (default 18580)
#   ATTACHD_CT_PGPORT      first port tried for PostgreSQL on the host (default 55632)
#   ATTACHD_IT_TIMEOUT     seconds the integration tests may take (default 900)
#   ATTACHD_CT_REBUILD_BASE=1  rebuild the local base images (and the debootstrap tarball)
#
# Logs: $WORK/logs/ (image builds, compose, the containers' output, the suite).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

WORK=${ATTACHD_CONTAINER_DIR:-$ROOT/build-container}
case $WORK in
/*) ;;
*) WORK=$ROOT/$WORK ;;
esac
LOGS=$WORK/logs
COMPOSE_FILES=(-f "$ROOT/docker/compose.yaml" -f "$ROOT/docker/compose.test.yaml")
# One project per checkout: a rerun clears what a killed run left, other checkouts are not touched.
PROJECT=attachd-ct-$(printf '%s' "$ROOT" | cksum | cut -d ' ' -f 1)
DEBIAN_IMAGE=docker.io/library/debian:12-slim
POSTGRES_IMAGE=docker.io/library/postgres:15
DEBIAN_TARBALL=$WORK/debian-12-slim-rootfs.tar
# Packages of Debian 12 this script needs. crun is not among them: podman depends on crun | runc,
# and with runc installed apt is satisfied and podman runs runc.
CONTAINER_PACKAGES=(podman runc podman-compose netavark aardvark-dns iptables catatonit
    debootstrap python3 python3-jsonschema curl postgresql-client)

export no_proxy="127.0.0.1,localhost,::1${no_proxy:+,$no_proxy}"
export NO_PROXY=$no_proxy
export PYTHONDONTWRITEBYTECODE=1

SUDO=()
UP=
IT_PID=
STARTED_AT=$SECONDS
RESULTS=()
FAILED=
SUITE_LINE=

# ---- helpers -----------------------------------------------------------------------------------

podman() { "${SUDO[@]}" env CONTAINERS_CONF="$CONTAINERS_CONF" podman "$@"; }
# BUILDAH_FORMAT=docker: podman builds OCI images by default, and those have no HEALTHCHECK.
compose() {
    "${SUDO[@]}" env CONTAINERS_CONF="$CONTAINERS_CONF" BUILDAH_FORMAT=docker ATTACHD_HOST_PORT="$HTTP_PORT" \
        ATTACHD_CT_DB_PORT="$DB_PORT" ATTACHD_LOG_LEVEL=debug \
        podman-compose -p "$PROJECT" "${COMPOSE_FILES[@]}" "$@"
}

# step NAME FUNCTION...: run one step, record how long it took; a failure ends the run.
step() {
    local name=$1 started=$SECONDS rc=0
    shift
    log "$name"
    "$@" || rc=$?
    local status=PASS
    [ "$rc" -eq 0 ] || status=FAIL
    RESULTS+=("$(printf '%-4s  %-58s %5ss' "$status" "$name" $((SECONDS - started)))")
    if [ "$rc" -ne 0 ]; then
        FAILED=$name
        exit 1
    fi
}

show_tail() {
    [ -s "$1" ] || return 0
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n "${2:-30}" "$1" >&2
    printf -- '--- end of %s ---\n' "$1" >&2
}

# container_of SERVICE: the id of the project's running container of SERVICE.
container_of() {
    podman ps -q --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" | head -n 1
}

# ---- steps -------------------------------------------------------------------------------------

step_packages() {
    local missing=() pkg
    command -v dpkg-query >/dev/null 2>&1 || die "not a Debian system: install ${CONTAINER_PACKAGES[*]}"
    for pkg in "${CONTAINER_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    # Wait for the dpkg lock rather than fail: other jobs on this machine may be installing.
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 \
        update >"$LOGS/apt.log" 2>&1 ||
        ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >>"$LOGS/apt.log" 2>&1; then
        show_tail "$LOGS/apt.log"
        return 1
    fi
}

# The sandbox refuses rlimits above this shell's hard limits, and RLIMIT_NPROC above pid_max; podman
# sets nofile 1048576 and nproc 4194304 unless told otherwise.
step_containers_conf() {
    local nofile nproc pidmax
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    pidmax=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
    [ "$nofile" != unlimited ] && [ "$nofile" -le 1048576 ] || nofile=1048576
    [ "$nproc" != unlimited ] && [ "$nproc" -le "$pidmax" ] || nproc=$pidmax
    cat >"$CONTAINERS_CONF" <<EOF
# Written by scripts/container-test.sh for this machine; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
EOF
    log "containers.conf: runtime runc, nofile $nofile, nproc $nproc"
    podman info \
        --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}} cgroups {{.Host.CgroupsVersion}}' \
        >"$LOGS/podman-info.txt" 2>&1 || {
        show_tail "$LOGS/podman-info.txt"
        return 1
    }
    log "podman $(podman version --format '{{.Client.Version}}'): $(cat "$LOGS/podman-info.txt")"
}

# try_pull IMAGE: true when a registry gave us IMAGE (bounded: no registry may mean a slow timeout).
try_pull() {
    timeout 300 "${SUDO[@]}" env CONTAINERS_CONF="$CONTAINERS_CONF" podman pull -q "$1" \
        >>"$LOGS/pull.log" 2>&1
}

# debian:12-slim from Debian's mirror: a minbase debootstrap, trimmed like the official slim
# image (no documentation, no package lists), with the security and updates suites enabled.
build_debian_rootfs() {
    local rootfs=$WORK/debian-rootfs
    "${SUDO[@]}" rm -rf "$rootfs" || return 1
    log "debootstrap bookworm (minbase) into $rootfs (log $LOGS/debootstrap.log)"
    "${SUDO[@]}" debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$LOGS/debootstrap.log" 2>&1 || {
        show_tail "$LOGS/debootstrap.log"
        return 1
    }
    # shellcheck disable=SC2016 # the script's variables are its own arguments
    "${SUDO[@]}" sh -ec '
        r=$1
        printf "%s\n" "deb http://deb.debian.org/debian bookworm main" \
            "deb http://deb.debian.org/debian bookworm-updates main" \
            "deb http://deb.debian.org/debian-security bookworm-security main" >"$r/etc/apt/sources.list"
        printf "%s\n" "path-exclude /usr/share/doc/*" "path-include /usr/share/doc/*/copyright" \
            "path-exclude /usr/share/man/*" "path-exclude /usr/share/info/*" \
            "path-exclude /usr/share/locale/*" "path-include /usr/share/locale/locale.alias" \
            >"$r/etc/dpkg/dpkg.cfg.d/excludes"
        printf "%s\n" "APT::Install-Recommends \"false\";" >"$r/etc/apt/apt.conf.d/no-recommends"
        chroot "$r" apt-get clean
        rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/log/*.log \
            "$r"/var/log/apt/* "$r"/tmp/* "$r"/usr/share/man/* "$r"/usr/share/info/*
        find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
        : >"$r/etc/hostname"
        rm -f "$r/etc/resolv.conf"
        tar -C "$r" --numeric-owner -cf "$2.tmp" .
        mv -f "$2.tmp" "$2"
        rm -rf "$r"
    ' sh "$rootfs" "$DEBIAN_TARBALL" || return 1
}

ensure_debian_image() {
    if [ "${ATTACHD_CT_REBUILD_BASE:-0}" != 1 ]; then
        if podman image exists "$DEBIAN_IMAGE"; then
            log "$DEBIAN_IMAGE is present"
            return 0
        fi
        if try_pull "$DEBIAN_IMAGE"; then
            log "$DEBIAN_IMAGE pulled"
            return 0
        fi
        log "no registry answers for $DEBIAN_IMAGE: building it locally"
    else
        "${SUDO[@]}" rm -f "$DEBIAN_TARBALL"
    fi
    if [ -s "$DEBIAN_TARBALL" ]; then
        log "using the cached root file system $DEBIAN_TARBALL"
    else
        build_debian_rootfs || return 1
    fi
    podman import --change 'CMD ["bash"]' \
        --message "debootstrap bookworm minbase (scripts/container-test.sh)" \
        "$DEBIAN_TARBALL" "$DEBIAN_IMAGE" >"$LOGS/import.log" 2>&1 || {
        show_tail "$LOGS/import.log"
        return 1
    }
    log "$DEBIAN_IMAGE imported from $DEBIAN_TARBALL"
}

ensure_postgres_image() {
    if [ "${ATTACHD_CT_REBUILD_BASE:-0}" != 1 ]; then
        if podman image exists "$POSTGRES_IMAGE"; then
            log "$POSTGRES_IMAGE is present"
            return 0
        fi
        if try_pull "$POSTGRES_IMAGE"; then
            log "$POSTGRES_IMAGE pulled"
            return 0
        fi
        log "no registry answers for $POSTGRES_IMAGE: building it from docker/postgres.Dockerfile"
    fi
    podman build --format docker -f "$ROOT/docker/postgres.Dockerfile" -t "$POSTGRES_IMAGE" "$ROOT/docker" \
        >"$LOGS/postgres-build.log" 2>&1 || {
        show_tail "$LOGS/postgres-build.log"
        return 1
    }
}

step_base_images() {
    ensure_debian_image && ensure_postgres_image
}

# Whatever a previous run of this checkout left behind (it was killed before its trap ran).
remove_project() {
    local ids
    ids=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null) || true
    # Word splitting of the id lists is wanted below.
    # shellcheck disable=SC2086
    [ -z "$ids" ] || podman rm -f -t 5 $ids >/dev/null 2>&1 || true
    ids=$(podman pod ps -q --filter "name=^pod_$PROJECT\$" 2>/dev/null) || true
    # shellcheck disable=SC2086
    [ -z "$ids" ] || podman pod rm -f $ids >/dev/null 2>&1 || true
    ids=$(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null) || true
    # shellcheck disable=SC2086
    [ -z "$ids" ] || podman volume rm -f $ids >/dev/null 2>&1 || true
    ids=$(podman network ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null) || true
    # shellcheck disable=SC2086
    [ -z "$ids" ] || podman network rm -f $ids >/dev/null 2>&1 || true
}

# The ports compose publishes, and whatever a killed run of this checkout left.
step_prepare() {
    HTTP_PORT=$(free_port "${ATTACHD_CT_PORT:-18580}") || return 1
    DB_PORT=$(free_port "${ATTACHD_CT_PGPORT:-55632}") || return 1
    log "project $PROJECT: attachd on 127.0.0.1:$HTTP_PORT, PostgreSQL on 127.0.0.1:$DB_PORT"
    remove_project
}

step_build_image() {
    compose build attachd >"$LOGS/attachd-build.log" 2>&1 || {
        show_tail "$LOGS/attachd-build.log" 40
        return 1
    }
    grep -E '^[0-9]+% tests passed|tests passed, ' "$LOGS/attachd-build.log" | tail -n 1 >&2 || true
    podman image exists attachd:local || {
        warn "podman-compose build left no image attachd:local"
        return 1
    }
}

# compose_up: `podman-compose up -d`, true when both containers run. podman-compose 1.0 answers 0
# even when a container could not be created or started, so look for them.
compose_up() {
    local svc
    compose up -d >>"$LOGS/compose-up.log" 2>&1 || return 1
    for svc in db attachd; do
        [ -n "$(container_of "$svc")" ] && continue
        warn "the $svc container is not running after podman-compose up"
        podman ps -a --filter "label=io.podman.compose.project=$PROJECT" >&2
        show_tail "$LOGS/compose-up.log" 40
        dump_logs
        return 1
    done
}

step_up() {
    UP=1
    : >"$LOGS/compose-up.log"
    # Once in a series of runs podman 4.3 / netavark 1.4 failed to start a container of a fresh
    # project (no trace of why was kept): one more try from nothing, said loudly, before failing.
    if ! compose_up; then
        warn "podman-compose up failed; removing the project and trying once more"
        compose down -v -t 5 >>"$LOGS/compose.log" 2>&1 || true
        remove_project
        compose_up || return 1
    fi
    if ! wait_http "http://127.0.0.1:$HTTP_PORT/healthz" 180; then
        dump_logs
        return 1
    fi
    if ! wait_http "http://127.0.0.1:$HTTP_PORT/readyz" 60; then
        curl --noproxy '*' -sS --max-time 5 "http://127.0.0.1:$HTTP_PORT/readyz" >&2 || true
        dump_logs
        return 1
    fi
    log "attachd answers /healthz and /readyz on 127.0.0.1:$HTTP_PORT"
}

dump_logs() {
    local svc id
    for svc in db attachd; do
        id=$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" \
            --filter "label=com.docker.compose.service=$svc" | head -n 1)
        [ -n "$id" ] || continue
        podman logs "$id" >"$LOGS/$svc.log" 2>&1 || true
        show_tail "$LOGS/$svc.log"
    done
}

step_check_container() {
    local id uid health mode test
    id=$(container_of attachd)
    [ -n "$id" ] || {
        warn "no running attachd container"
        return 1
    }
    uid=$(podman exec "$id" id -u) || return 1
    [ "$uid" != 0 ] || {
        warn "attachd runs as root in the container"
        return 1
    }
    test=$(podman image inspect attachd:local \
        --format '{{if .Config.Healthcheck}}{{json .Config.Healthcheck.Test}}{{end}}')
    case $test in
    *attachd-entrypoint*healthcheck*) ;;
    *)
        warn "the image has no HEALTHCHECK running attachd-entrypoint healthcheck (it has '$test')"
        return 1
        ;;
    esac
    # Run the check by hand: without systemd nothing schedules podman's health checks.
    health=$(podman healthcheck run "$id" 2>&1) || {
        warn "the image's health check fails on a running attachd: $health"
        return 1
    }
    mode=$(podman exec "$id" stat -c %a /var/lib/attachd/admin-token) || return 1
    [ "$mode" = 600 ] || {
        warn "the bootstrapped admin token file has mode $mode, expected 600"
        return 1
    }
    log "attachd runs as uid $uid; the health check passes; admin token file mode $mode"
}

# The tokens as README "Docker" gets them, through compose exec. podman-compose 1.0 prints its
# podman command lines and "exit code: N" on standard output around the command's own output, and
# does not pass its exit status on: the token is the line that starts with "atd_" (grep reads
# to the end: podman-compose must not die of SIGPIPE under pipefail).
step_tokens() {
    ATTACHD_ADMIN_TOKEN=$(compose exec -T attachd cat /var/lib/attachd/admin-token 2>>"$LOGS/compose.log" |
        grep '^atd_') || {
        warn "no admin token in /var/lib/attachd/admin-token"
        return 1
    }
    ATTACHD_PORTAL_TOKEN=$(compose exec -T attachd attachd token create --role portal --name "container test" \
        2>>"$LOGS/compose.log" | grep '^atd_') || {
        warn "attachd token create --role portal in the container printed no token"
        return 1
    }
    export ATTACHD_ADMIN_TOKEN ATTACHD_PORTAL_TOKEN
}

step_integration() {
    local id rc=0 wrapper=$WORK/attachd-in-container
    id=$(container_of attachd)
    # `attachd` for the suite's command-line tests: the binary in the container, with its
    # DATABASE_URL (arguments are passed as they are; file arguments would not be visible). A
    # test that gives the command another DATABASE_URL than the suite's (an unreachable one, to
    # see exit status 3) gets it passed into the container.
    local suite_url="host=127.0.0.1 port=$DB_PORT dbname=attachd user=attachd password=${POSTGRES_PASSWORD:-attachd}"
    cat >"$wrapper" <<WRAPPER || return 1
#!/bin/sh
if [ -n "\${DATABASE_URL:-}" ] && [ "\$DATABASE_URL" != "$suite_url" ]; then
    exec ${SUDO[*]} env CONTAINERS_CONF=$CONTAINERS_CONF podman exec -e DATABASE_URL="\$DATABASE_URL" $id attachd "\$@"
fi
exec ${SUDO[*]} env CONTAINERS_CONF=$CONTAINERS_CONF podman exec $id attachd "\$@"
WRAPPER
    chmod +x "$wrapper" || return 1
    ATTACHD_URL=http://127.0.0.1:$HTTP_PORT ATTACHD_BIN=$wrapper \
        DATABASE_URL="$suite_url" \
        timeout -k 10 "${ATTACHD_IT_TIMEOUT:-900}" python3 -u "$ROOT/tests/integration/run.py" \
        >"$LOGS/integration.log" 2>&1 &
    IT_PID=$!
    # In the background and waited for, so that a SIGTERM to this script is handled at once;
    # tail shows the output as it comes and ends with the suite.
    tail -n +1 -f --pid="$IT_PID" "$LOGS/integration.log" &
    wait "$IT_PID" || rc=$?
    IT_PID=
    wait
    SUITE_LINE=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGS/integration.log" | tail -n 1) || true
    [ "$rc" -ne 124 ] || warn "the integration tests timed out after ${ATTACHD_IT_TIMEOUT:-900}s"
    [ -n "$(container_of attachd)" ] || {
        warn "the attachd container stopped during the integration tests"
        dump_logs
        rc=1
    }
    return "$rc"
}

# SPEC §6: no full IIN in a log line, here in the container's log (ATTACHD_LOG_LEVEL=debug logs
# every request).
step_no_iin_in_log() {
    local id
    id=$(container_of attachd)
    podman logs "$id" >"$LOGS/attachd.log" 2>&1 || return 1
    if grep -Eq '(^|[^0-9])[0-9]{12}([^0-9]|$)' "$LOGS/attachd.log"; then
        grep -En '(^|[^0-9])[0-9]{12}([^0-9]|$)' "$LOGS/attachd.log" | head -n 5 >&2
        warn "12-digit numbers (IINs?) in the container's log $LOGS/attachd.log"
        return 1
    fi
    log "$(wc -l <"$LOGS/attachd.log") log lines, no 12-digit number among them"
}

# `compose stop` sends the image's stop signal (SIGTERM) to attachd: it must finish cleanly.
step_stop() {
    local id status
    id=$(container_of attachd)
    compose stop -t 20 attachd >>"$LOGS/compose.log" 2>&1 || return 1
    status=$(podman inspect --format '{{.State.ExitCode}}' "$id") || return 1
    podman logs "$id" >"$LOGS/attachd.log" 2>&1 || true
    [ "$status" = 0 ] || {
        warn "attachd exited with status $status on SIGTERM (expected 0)"
        show_tail "$LOGS/attachd.log"
        return 1
    }
}

teardown() {
    [ -n "$UP" ] || return 0
    dump_logs >/dev/null 2>&1 || true
    compose down -v -t 10 >>"$LOGS/compose.log" 2>&1 || warn "podman-compose down failed (see $LOGS/compose.log)"
    # podman-compose 1.0 removes neither the network nor anything `run` left: remove by label.
    remove_project
    if [ -n "$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT")" ]; then
        warn "containers of $PROJECT are still there after the teardown"
        return 1
    fi
    UP=
}

print_summary() {
    local line
    printf '\n===== attachd container test (podman) (%ss) =====\n' $((SECONDS - STARTED_AT))
    for line in "${RESULTS[@]}"; do
        printf '%s\n' "$line"
    done
    # The suite's own closing line, alone on a line as CI reads it.
    [ -z "$SUITE_LINE" ] || printf 'container: %s\n' "$SUITE_LINE"
    if [ -z "$FAILED" ]; then
        printf 'RESULT: all steps passed\n'
    else
        printf 'RESULT: FAILED: %s (logs in %s)\n' "$FAILED" "$LOGS"
    fi
}

cleanup() {
    local rc=$?
    set +e
    if [ -n "$IT_PID" ]; then
        kill -TERM "$IT_PID" 2>/dev/null
        wait "$IT_PID" 2>/dev/null
    fi
    teardown || rc=1
    [ -z "$FAILED" ] || [ "$rc" -ne 0 ] || rc=1
    [ "$rc" -eq 0 ] || [ -n "$FAILED" ] || FAILED="interrupted or teardown (exit $rc)"
    print_summary
    exit "$rc"
}

# ---- main --------------------------------------------------------------------------------------

if ! is_root; then
    command -v sudo >/dev/null 2>&1 || die "podman runs as root here: run as root or with sudo"
    SUDO=(sudo)
fi
mkdir -p "$LOGS"
CONTAINERS_CONF=$WORK/containers.conf
HTTP_PORT=
DB_PORT=
trap cleanup EXIT
trap 'FAILED=interrupted; exit 130' INT
trap 'FAILED=interrupted; exit 143' TERM

step "packages (podman, podman-compose, runc, debootstrap)" step_packages
step "containers.conf (runc, ulimits)" step_containers_conf
step "base images (debian:12-slim, postgres:15)" step_base_images
step "prepare (free ports, leftovers of a killed run)" step_prepare
step "attachd image (podman-compose build: compile, unit tests)" step_build_image
step "podman-compose up, /healthz, /readyz" step_up
step "container: non-root, health check, admin token" step_check_container
step "tokens (bootstrapped admin; portal by attachd token create)" step_tokens
step "integration suite against the container" step_integration
step "no 12-digit number in the container's log" step_no_iin_in_log
step "podman-compose stop: attachd exits 0 on SIGTERM" step_stop
step "teardown (containers, volumes, network)" teardown
