# Sourced by the scripts that install a Debian package for the tests (chromium.sh,
# prometheus.sh, sops.sh); they define log, die and LOG_DIR first.
#
#   apt_install PACKAGE   install it as root with apt-get, logging to
#                         $LOG_DIR/PACKAGE-apt.log; the package list is read only when it
#                         does not know the package yet

apt_install() {
    local package=$1
    local log_file=$LOG_DIR/$package-apt.log
    [[ $(id -u) == 0 ]] || die "$package missing and not root: cannot install it"
    command -v apt-get >/dev/null || die "$package missing and no apt-get"
    mkdir -p "$LOG_DIR"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-cache policy "$package" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        log "apt-get update"
        apt-get update -q >"$log_file" 2>&1 || die "apt-get update failed; see $log_file"
    fi
    log "installing Debian's $package"
    apt-get install -y -q --no-install-recommends "$package" >>"$log_file" 2>&1 \
        || die "apt-get install $package failed; see $log_file"
}
