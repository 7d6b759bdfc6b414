#!/usr/bin/env bash
# The contract checks of attachd's OpenAPI document (SPEC §12), run by scripts/test.sh:
#
#   tools/contract/check.sh static BUILD_DIR
#       writes the document as attachd serves it (BUILD_DIR/attachd-openapi) and with the
#       planned operations (--planned) into tools/contract/generated/, lints both with
#       Redocly (recommended rules) and Spectral (spectral:oas), failing on any error or
#       warning, generates the TypeScript client types (openapi-typescript) and compiles the
#       portal flow src/flow.ts with tsc --strict (openapi-fetch, no casts).
#   tools/contract/check.sh flow
#       runs the compiled flow against ATTACHD_URL with ATTACHD_ADMIN_TOKEN and
#       ATTACHD_PORTAL_TOKEN (steps whose route has not landed are skipped, saying so).
#
# Node.js and npm come from Debian's packages when missing (nodejs npm); the tools are pinned in
# package.json and package-lock.json and installed with `npm ci` (only npm's registry is needed),
# again only when the lockfile changed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_ARG=${2:-}
case $BUILD_ARG in /* | "") ;; *) BUILD_ARG=$PWD/$BUILD_ARG ;; esac
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
cd "$HERE"
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

ensure_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        ensure_packages nodejs npm
    fi
}

# npm ci, unless node_modules was installed from this very lockfile.
install_tools() {
    local want have=
    want=$(sha256sum package-lock.json | cut -d' ' -f1)
    [ -f node_modules/.attachd-lock ] && have=$(cat node_modules/.attachd-lock)
    if [ "$want" != "$have" ]; then
        log "npm ci (tools/contract)"
        npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
        echo "$want" >node_modules/.attachd-lock
    fi
}

static() {
    local build=${1:?check.sh static BUILD_DIR}
    ensure_node
    install_tools
    mkdir -p generated
    "$build/attachd-openapi" >generated/openapi.json
    "$build/attachd-openapi" --planned >generated/openapi-planned.json
    log "Redocly lint (recommended), both documents, failing on warnings"
    local out rc=0
    out=$(npx --no-install redocly lint --config redocly.yaml --format stylish \
        generated/openapi.json generated/openapi-planned.json 2>&1) || rc=$?
    printf '%s\n' "$out"
    # Redocly exits 0 with warnings: fail on them too.
    if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -Eqi '[0-9]+ warnings?\b'; then
        warn "Redocly reports errors or warnings"
        return 1
    fi
    log "Spectral lint (spectral:oas), both documents, failing on warnings"
    npx --no-install spectral lint --fail-severity=warn --ruleset .spectral.yaml \
        generated/openapi.json generated/openapi-planned.json
    log "TypeScript client types (openapi-typescript) and the portal flow under tsc --strict"
    npx --no-install openapi-typescript generated/openapi-planned.json \
        --default-non-nullable=false -o src/attachd.d.ts
    if grep -vE '^\s*//' src/flow.ts | grep -nE '\bas [A-Za-z{(]|@ts-(ignore|expect-error|nocheck)|!\.'; then
        warn "src/flow.ts casts or silences the compiler"
        return 1
    fi
    npx --no-install tsc -p tsconfig.json
}

flow() {
    ensure_node
    [ -f dist/flow.js ] || {
        warn "dist/flow.js is missing: run check.sh static first"
        return 1
    }
    node dist/flow.js
}

case ${1:-} in
static) static "$BUILD_ARG" ;;
flow) flow ;;
*) die "usage: tools/contract/check.sh static BUILD_DIR | flow" ;;
esac
