#!/usr/bin/env bash
# A real browser for the tests of the status page: Debian's `chromium`, run headless by
# the tests themselves (tests/e2e/test_status_page.py).
#
#   scripts/chromium.sh ensure   install the package unless chromium runs (idempotent,
#                                fast when it does)
#   scripts/chromium.sh check    exit 0 iff chromium runs (quiet)
set -euo pipefail

LOG_DIR=${GITOPS_ENGINE_DIR:-/var/tmp/gitops-engine}

log() { echo "chromium: $*"; }
die() { echo "chromium: error: $*" >&2; exit 1; }

binary_ok() {
    command -v chromium >/dev/null && timeout 30 chromium --version >/dev/null 2>&1
}

cmd_ensure() {
    if binary_ok; then
        log "ready (reused)"
        return 0
    fi
    [[ $(id -u) == 0 ]] || die "chromium missing and not root: cannot install it"
    command -v apt-get >/dev/null || die "chromium missing and no apt-get"
    mkdir -p "$LOG_DIR"
    export DEBIAN_FRONTEND=noninteractive
    # The package list is read once, and only when it does not know the package yet.
    if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        log "apt-get update"
        apt-get update -q >"$LOG_DIR/chromium-apt.log" 2>&1 \
            || die "apt-get update failed; see $LOG_DIR/chromium-apt.log"
    fi
    log "installing Debian's chromium"
    apt-get install -y -q --no-install-recommends chromium \
        >>"$LOG_DIR/chromium-apt.log" 2>&1 \
        || die "apt-get install chromium failed; see $LOG_DIR/chromium-apt.log"
    binary_ok || die "chromium was installed but does not run"
    log "ready"
}

case ${1:-} in
ensure) cmd_ensure ;;
check) binary_ok ;;
*)
    echo "usage: $0 ensure|check" >&2
    exit 2
    ;;
esac
