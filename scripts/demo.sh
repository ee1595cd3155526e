#!/usr/bin/env bash
# The main job on an embedded default, end to end on the local Docker engine:
#
#   scripts/demo.sh demo    a throwaway origin made from examples/, the host's clone of it,
#                           one `python dist/gitops.pyz --once`, a pushed change, a second run
#   scripts/demo.sh clean   remove what the demo created, and nothing else
#
# `make demo` builds dist/gitops.pyz first; this script only runs it.
#
# GITOPS_DEMO_DIR (default /tmp/gitops-compose-demo) holds everything the demo makes on disk:
# the bare origin, the pusher's working clone, the host's clone (demo-host) and metrics.prom.
# GITOPS_DEMO_SUBDIR puts the examples in that directory of the repository instead of at its
# root, so every project name starts with it: how a second demo (the e2e test) runs next to
# a first one without touching it. PYTHON (default python3, >= 3.11) runs the zipapp,
# GITOPS_DEMO_PYZ (default dist/gitops.pyz) is the zipapp it runs (the e2e test's own build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO_DIR=$(realpath -m -- "${GITOPS_DEMO_DIR:-/tmp/gitops-compose-demo}")
SUBDIR=${GITOPS_DEMO_SUBDIR:-}
PYTHON=${PYTHON:-python3}
PYZ=${GITOPS_DEMO_PYZ:-$ROOT/dist/gitops.pyz}
REGISTRY=127.0.0.1:5000
IMAGE=$REGISTRY/gitops-demo/busybox
# Written into every demo dir: clean deletes a directory only when it carries this file.
MARKER=.gitops-compose-demo
# The demo's projects, one a line, recorded before the first deployment: a stack the tool
# stopped has no container left to find it by, but may still have a volume.
PROJECTS_FILE=$DEMO_DIR/projects
PROJECT_LABEL=com.docker.compose.project
WORKDIR_LABEL=com.docker.compose.project.working_dir

ORIGIN=$DEMO_DIR/origin.git
WORK=$DEMO_DIR/work
HOST=$DEMO_DIR/demo-host
METRICS=$DEMO_DIR/metrics.prom

heading() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
die() {
    echo "demo: error: $*" >&2
    exit 1
}

# A fixed identity and no gpg signing, whatever the user's git config says.
git_() {
    git -c user.name="gitops-compose demo" -c user.email=demo@gitops-compose.invalid \
        -c commit.gpgsign=false -c init.defaultBranch=main "$@"
}

gitops() { "$PYTHON" "$PYZ" --repo "$HOST" --no-metrics "$@"; }

# ---------------------------------------------------------------------------- clean

# Projects of this demo: those with a container made in the demo dir, and those recorded
# in $PROJECTS_FILE.
demo_projects() {
    {
        docker ps --all --format "{{.Label \"$PROJECT_LABEL\"}}"$'\t'"{{.Label \"$WORKDIR_LABEL\"}}" \
            | awk -F '\t' -v dir="$DEMO_DIR" \
                'index($2, dir "/") == 1 || $2 == dir { print $1 }'
        if [[ -f $DEMO_DIR/$MARKER && -f $PROJECTS_FILE ]]; then cat "$PROJECTS_FILE"; fi
    } | sort -u | grep -v '^$' || true
}

# True when a container of PROJECT was made outside the demo dir: then it is not ours.
foreign_project() { # project
    docker ps --all --filter "label=$PROJECT_LABEL=$1" \
        --format "{{.Label \"$WORKDIR_LABEL\"}}" \
        | awk -v dir="$DEMO_DIR" 'index($0, dir "/") != 1 && $0 != dir { found = 1 }
                                  END { exit !found }'
}

cmd_clean() {
    docker info >/dev/null 2>&1 || die "no Docker engine answers (scripts/engine.sh ensure)"
    if [[ -e $DEMO_DIR && ! -f $DEMO_DIR/$MARKER ]]; then
        die "$DEMO_DIR exists but was not made by the demo (no $MARKER): not touching it"
    fi
    local project ids
    while IFS= read -r project; do
        [[ -n $project ]] || continue
        if foreign_project "$project"; then
            say "skipping project $project: it has containers from outside $DEMO_DIR"
            continue
        fi
        say "removing project $project (containers, networks, volumes)"
        # The demo may remove its own volumes; gitops-compose itself never does.
        docker compose --ansi never --project-name "$project" \
            down --volumes --remove-orphans >/dev/null 2>&1 || true
        # Without a compose file, down finds containers by label; networks and volumes too
        # are removed by label, in case down left any behind.
        ids=$(docker ps --all --quiet --filter "label=$PROJECT_LABEL=$project")
        if [[ -n $ids ]]; then xargs docker rm --force --volumes <<<"$ids" >/dev/null; fi
        ids=$(docker network ls --quiet --filter "label=$PROJECT_LABEL=$project")
        if [[ -n $ids ]]; then xargs docker network rm <<<"$ids" >/dev/null; fi
        ids=$(docker volume ls --quiet --filter "label=$PROJECT_LABEL=$project")
        if [[ -n $ids ]]; then xargs docker volume rm <<<"$ids" >/dev/null; fi
    done < <(demo_projects)
    if [[ -e $DEMO_DIR ]]; then
        say "removing $DEMO_DIR"
        rm -rf -- "$DEMO_DIR"
    fi
    local tag
    for tag in "$IMAGE:1" "$IMAGE:2"; do
        if docker image inspect "$tag" >/dev/null 2>&1; then
            say "removing the local image tag $tag"
            docker image rm "$tag" >/dev/null 2>&1 || say "(still in use, kept: $tag)"
        fi
    done
    say "the demo images stay in the local registry $REGISTRY (gitops-demo/busybox:1 and :2)"
}

# ---------------------------------------------------------------------------- demo

# The image the examples name, built as the tests' are (engine.sh): tag 2 differs from
# tag 1 in /VERSION only, a new digest for the pushed change.
build_images() {
    "$ROOT/scripts/engine.sh" images "$IMAGE" | sed 's/^/    /'
}

# A bare origin holding examples/ (under $SUBDIR, if set), pushed from a working clone, and
# the host's clone that gitops-compose keeps in step with it.
make_repositories() {
    local stacks=$WORK${SUBDIR:+/$SUBDIR}
    git_ init --quiet --bare "$ORIGIN"
    git_ clone --quiet "$ORIGIN" "$WORK" 2>/dev/null
    mkdir -p "$stacks"
    cp -R "$ROOT/examples/." "$stacks/"
    git_ -C "$WORK" add --all
    git_ -C "$WORK" commit --quiet -m "Deploy my_app, reverse_proxy and the tool's own stack"
    git_ -C "$WORK" push --quiet origin HEAD:main
    git_ clone --quiet "$ORIGIN" "$HOST"
    say "origin   $ORIGIN"
    say "clone    $HOST   (the host's clone: gitops.pyz --repo $HOST)"
    (cd "$WORK" && find . -path ./.git -prune -o -type f -print | sed 's|^\./|    |' | sort)
}

# The projects the first check will deploy, from the tool's own plan; refuse when any of them
# already runs from elsewhere on this engine: the demo must not take over someone's stack.
record_projects() {
    local json projects project
    json=$(gitops plan --format json 2>/dev/null) || [[ $? == 1 ]] \
        || die "gitops.pyz plan failed: $(gitops plan 2>&1 | tail -n 3)"
    projects=$("$PYTHON" -c '
import json, sys
for entry in json.load(sys.stdin)["stacks"]:
    if entry["action"] not in ("skip",) and entry["project"]:
        print(entry["project"])
' <<<"$json")
    for project in $projects; do
        if foreign_project "$project"; then
            die "a Compose project named $project already runs on this engine from outside" \
                "$DEMO_DIR; the demo would take it over. Stop it, or set GITOPS_DEMO_SUBDIR."
        fi
    done
    printf '%s\n' "$projects" >"$PROJECTS_FILE"
}

show_containers() {
    docker ps --all --format "{{.Label \"$WORKDIR_LABEL\"}}"$'\t'"{{.Names}}"$'\t'"{{.Image}}"$'\t'"{{.Status}}" \
        | awk -F '\t' -v dir="$DEMO_DIR" '
            index($1, dir "/") == 1 { printf "    %-36s %-42s %s\n", $2, $3, $4 }' \
        | sort
}

show_metrics() {
    grep -E '^gitops_' "$METRICS" | grep -vE '_created ' | sed 's/^/    /' || true
}

# Runs gitops.pyz with its log (stderr) indented, and returns its exit status.
run() {
    local status=0
    gitops "$@" 2>&1 | sed 's/^/    /' || status=${PIPESTATUS[0]}
    return "$status"
}

# Everything the demo makes on disk and on the engine is removed by `clean`.
cmd_demo() {
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is older than 3.11; set PYTHON to a newer one"
    [[ -f $PYZ ]] || die "$PYZ is missing: build it with 'make pyz' (or run 'make demo')"

    heading "Docker engine and local registry"
    "$ROOT/scripts/engine.sh" ensure | sed 's/^/    /'

    if [[ -e $DEMO_DIR ]]; then
        heading "Removing the previous demo in $DEMO_DIR"
        cmd_clean
    fi
    mkdir -p "$DEMO_DIR"
    touch "$DEMO_DIR/$MARKER"

    heading "Demo image"
    build_images

    heading "A throwaway origin made from examples/, and the host's clone"
    make_repositories
    record_projects

    heading "gitops.pyz plan: what the first check will do"
    run plan || true

    heading "First check: python dist/gitops.pyz --once"
    run --once --metrics-file "$METRICS" || die "the first check failed (exit $?)"

    heading "gitops.pyz status"
    run status

    heading "A change is pushed to the origin"
    local stacks=$WORK${SUBDIR:+/$SUBDIR}
    sed -i 's/^GREETING=.*/GREETING=Hello again from production/' \
        "$stacks/my_app/production/.env"
    sed -i "s|$IMAGE:1|$IMAGE:2|" "$stacks/reverse_proxy/compose.yaml"
    git_ -C "$WORK" rm --quiet -r "${SUBDIR:+$SUBDIR/}my_app/staging"
    git_ -C "$WORK" commit --quiet --all \
        -m "New greeting in production, proxy on image 2, staging retired"
    git_ -C "$WORK" push --quiet origin HEAD:main
    git_ -C "$WORK" show --stat --format='%h %s' HEAD | sed '/^$/d; s/^ */    /'

    heading "gitops.pyz plan: what the next check will do (exit 1: changes pending)"
    local status=0
    run plan || status=$?
    say "(plan exited $status)"
    ((status == 1)) || die "plan should have found pending changes (exit 1), not exit $status"

    heading "Second check: python dist/gitops.pyz --once"
    run --once --metrics-file "$METRICS" || die "the second check failed (exit $?)"

    heading "gitops.pyz status"
    run status

    heading "The demo's containers (my_app-staging is gone; gitops and sandbox never started)"
    show_containers

    heading "What the new containers said"
    docker logs "$(docker ps --quiet --filter "label=$PROJECT_LABEL=${SUBDIR:+$SUBDIR-}my_app-production" \
        --filter "label=com.docker.compose.service=web")" 2>&1 | sed 's/^/    /'
    docker logs "$(docker ps --quiet --filter "label=$PROJECT_LABEL=${SUBDIR:+$SUBDIR-}reverse_proxy")" \
        2>&1 | sed 's/^/    /'

    heading "Metrics written by --metrics-file $METRICS (gitops_* lines)"
    show_metrics

    heading "Done"
    say "Everything is in $DEMO_DIR and on the engine; 'make demo-clean' removes it."
}

case ${1:-} in
demo) cmd_demo ;;
clean) cmd_clean ;;
*)
    echo "usage: $0 demo|clean" >&2
    exit 2
    ;;
esac
