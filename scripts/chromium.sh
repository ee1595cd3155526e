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
# shellcheck source=scripts/debian.sh
source "$(dirname "$0")/debian.sh"

binary_ok() {
    command -v chromium >/dev/null && timeout 30 chromium --version >/dev/null 2>&1
}

cmd_ensure() {
    if binary_ok; then
        log "ready (reused)"
        return 0
    fi
    apt_install chromium
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
