#!/usr/bin/env bash
# Fuzz attachd: build the libFuzzer targets of tests/fuzz/ with clang (ASan + UBSan, the whole
# core instrumented) into build-fuzz/, run each for FUZZ_SECONDS on a copy of its seed corpus,
# and print how many inputs each ran. Exits non-zero when a target crashed (an invariant broke,
# a sanitizer fired, a leak, a timeout) or could not be built; the crashing input is kept in
# build-fuzz/fuzz/<target>/artifacts/ with the command that replays it.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_TARGETS    space-separated targets (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FUZZ_ARGS       extra libFuzzer arguments, e.g. "-jobs=4 -workers=4"
#
# The repository corpus (tests/fuzz/corpus/) is only read. To keep an input the fuzzer found
# (a crash reproducer once fixed, or one that reaches new code) copy it there by hand.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
case $BUILD_DIR in
/*) ;;
*) BUILD_DIR=$ROOT/$BUILD_DIR ;;
esac
case $FUZZ_SECONDS in
'' | *[!0-9]*) die "FUZZ_SECONDS must be a whole number of seconds, got '$FUZZ_SECONDS'" ;;
esac
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a TARGETS <<<"$FUZZ_TARGETS"
else
    TARGETS=()
    for src in tests/fuzz/fuzz_*.c; do
        TARGETS+=("$(basename "$src" .c)")
    done
fi
read -r -a EXTRA <<<"${FUZZ_ARGS:-}"

ensure_packages "${ATTACHD_FUZZ_PACKAGES[@]}"

log "configuring $BUILD_DIR (clang, ATTACHD_FUZZ=ON)"
CC=clang cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTACHD_FUZZ=ON >/dev/null
log "building ${TARGETS[*]}"
cmake --build "$BUILD_DIR" -j "${ATTACHD_BUILD_JOBS:-2}" --target "${TARGETS[@]}"

# Leaks are bugs too (LeakSanitizer runs after each input); UBSan stops at the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for t in "${TARGETS[@]}"; do
    bin=$BUILD_DIR/tests/fuzz/$t
    work=$BUILD_DIR/fuzz/$t
    [ -x "$bin" ] || die "no fuzz target $bin"
    # A fresh copy of the seed corpus each run: the fuzzer adds to the directory it is given.
    rm -rf "$work/corpus"
    mkdir -p "$work/corpus" "$work/artifacts"
    cp -R "tests/fuzz/corpus/$t/." "$work/corpus/"
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log "fuzzing $t for ${FUZZ_SECONDS}s (log: $work/log)"
    rc=0
    "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "${dict[@]}" "${EXTRA[@]}" "$work/corpus" \
        >"$work/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$work/log" | tail -n 1)
    corpus_size=$(find "$work/corpus" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        summary+=("$(printf '%-12s %10s runs  %5s corpus inputs  ok' "$t" "${execs:-?}" "$corpus_size")")
    else
        failed+=("$t")
        summary+=("$(printf '%-12s %10s runs  %5s corpus inputs  CRASH (exit %s)' "$t" "${execs:-?}" "$corpus_size" "$rc")")
        warn "$t failed (exit $rc); the end of $work/log:"
        grep -v '^#[0-9]' "$work/log" | tail -n 40 >&2 || true
        for a in "$work"/artifacts/*; do
            [ -e "$a" ] || continue
            warn "reproduce with: $bin $a"
        done
    fi
done

printf '\n===== attachd fuzz summary (%ss per target) =====\n' "$FUZZ_SECONDS"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[*]}"
    exit 1
fi
printf 'no crashes\n'
