#!/usr/bin/env bash
# A real Prometheus for the tests of contrib/: Debian's `prometheus` package, which carries
# promtool. Only the binaries are used: the tests run their own Prometheus on a free
# loopback port with a temporary data directory. The package's own service plays no part:
# invoke-rc.d does not start it on a machine without an init system, and where systemd
# runs, `ensure` stops and disables it after installing.
#
#   scripts/prometheus.sh ensure   install the package unless both binaries are there
#                                  (idempotent, fast when they are)
#   scripts/prometheus.sh check    exit 0 iff prometheus and promtool run (quiet)
set -euo pipefail

LOG_DIR=${GITOPS_ENGINE_DIR:-/var/tmp/gitops-engine}

log() { echo "prometheus: $*"; }
die() { echo "prometheus: error: $*" >&2; exit 1; }
# shellcheck source=scripts/debian.sh
source "$(dirname "$0")/debian.sh"

binaries_ok() {
    command -v prometheus >/dev/null && command -v promtool >/dev/null \
        && timeout 15 promtool --version >/dev/null 2>&1 \
        && timeout 15 prometheus --version >/dev/null 2>&1
}

cmd_ensure() {
    if binaries_ok; then
        log "ready (reused)"
        return 0
    fi
    apt_install prometheus
    binaries_ok || die "prometheus was installed but its binaries do not run"
    # Where systemd runs, the package starts its own Prometheus on :9090; the tests need
    # only the binaries, so it is stopped and kept from starting at boot.
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
        log "stopping and disabling the package's prometheus.service"
        systemctl disable --now prometheus.service >>"$LOG_DIR/prometheus-apt.log" 2>&1 || true
    fi
    log "ready"
}

case ${1:-} in
ensure) cmd_ensure ;;
check) binaries_ok ;;
*)
    echo "usage: $0 ensure|check" >&2
    exit 2
    ;;
esac
